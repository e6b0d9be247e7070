//! The `Assessment` every analyst returns, and the validation that stands between it and action.

use super::context::AnalysisContext;
use super::sanitise::clean_text;
use crate::catalogue::{self, ActionError, ActionParams, ValidatedAction};
use crate::config::Config;
use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Confidence is capped here when the leading hypothesis cites nothing that exists.
pub const UNGROUNDED_CONFIDENCE_CAP: f64 = 0.4;
/// Hypotheses kept from one answer; the rest are dropped (most likely first).
pub const MAX_HYPOTHESES: usize = 5;
/// Longest summary, statement and rationale kept (bytes): an analyst's prose goes into the
/// audit trail, approval requests and later prompts, so it is cleaned and bounded like input.
pub const MAX_SUMMARY_BYTES: usize = 500;
pub const MAX_STATEMENT_BYTES: usize = 300;
pub const MAX_RATIONALE_BYTES: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    ResourceSaturation,
    Availability,
    ErrorRate,
    Latency,
    ConfigurationChange,
    SecurityTamper,
    DeploymentRegression,
    InfrastructureEvent,
    Unknown,
}

impl Classification {
    pub const ALL: [Classification; 9] = [
        Self::ResourceSaturation,
        Self::Availability,
        Self::ErrorRate,
        Self::Latency,
        Self::ConfigurationChange,
        Self::SecurityTamper,
        Self::DeploymentRegression,
        Self::InfrastructureEvent,
        Self::Unknown,
    ];

    /// The name used in stored records and in the answer schema, e.g. `error_rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResourceSaturation => "resource_saturation",
            Self::Availability => "availability",
            Self::ErrorRate => "error_rate",
            Self::Latency => "latency",
            Self::ConfigurationChange => "configuration_change",
            Self::SecurityTamper => "security_tamper",
            Self::DeploymentRegression => "deployment_regression",
            Self::InfrastructureEvent => "infrastructure_event",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub statement: String,
    /// 0–1, how likely the analyst thinks this explanation is.
    pub likelihood: f64,
    /// Evidence ids from the context that support it.
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub action_id: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub rationale: String,
}

/// Tokens one analysis spent, for cost accounting: input and output tokens are priced apart.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// The model or inference profile that was called.
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What an analyst thinks: the shape the rules analyst and the Bedrock analyst both return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub analyst: String,
    pub classification: Classification,
    /// 1 (cosmetic) to 10 (business down).
    pub severity: u8,
    /// 0–1.
    pub confidence: f64,
    pub summary: String,
    /// Most likely first.
    pub hypotheses: Vec<Hypothesis>,
    pub proposal: Option<Proposal>,
    /// Tokens a model spent on this analysis (also those of a refused answer the rules
    /// replaced); `None` for the rules analyst. Older records have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssessmentError {
    #[error("severity {0} is outside 1-10")]
    Severity(u8),
    #[error("confidence {0} is outside 0-1")]
    Confidence(f64),
    #[error("hypothesis likelihood {0} is outside 0-1")]
    Likelihood(f64),
    #[error("the proposal was refused: {0}")]
    Proposal(#[from] ActionError),
    #[error("the proposal's parameters name another resource ({0}) than the incident's")]
    ForeignResource(String),
    /// A parameter that selects what runs has no fact Argus read to come from.
    #[error("the proposal's `{parameter}` has no fact to come from: {reason}")]
    Unfounded { parameter: String, reason: String },
}

/// An assessment that passed validation, with what validation changed and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidatedAssessment {
    pub assessment: Assessment,
    pub action: Option<ValidatedAction>,
    /// What validation dropped or capped, for the audit trail.
    pub notes: Vec<String>,
}

/// Checks ranges, evidence and the proposal against the catalogue and the incident's resource.
/// Hypotheses that cite nothing in the context are dropped; when the leading one goes, or none
/// is left (or none was given), the confidence is capped, because the analyst's certainty
/// rested on nothing we can show.
pub fn validate_assessment(
    mut assessment: Assessment,
    context: &AnalysisContext,
    config: &Config,
) -> Result<ValidatedAssessment, AssessmentError> {
    if !(1..=10).contains(&assessment.severity) {
        return Err(AssessmentError::Severity(assessment.severity));
    }
    if !assessment.confidence.is_finite() || !(0.0..=1.0).contains(&assessment.confidence) {
        return Err(AssessmentError::Confidence(assessment.confidence));
    }
    if let Some(bad) = assessment
        .hypotheses
        .iter()
        .map(|hypothesis| hypothesis.likelihood)
        .find(|likelihood| !likelihood.is_finite() || !(0.0..=1.0).contains(likelihood))
    {
        return Err(AssessmentError::Likelihood(bad));
    }
    let mut notes = Vec::new();
    clean_prose(&mut assessment, &mut notes);
    let mut kept = Vec::with_capacity(assessment.hypotheses.len());
    for (index, mut hypothesis) in assessment.hypotheses.into_iter().enumerate() {
        let cited = hypothesis.evidence.len();
        hypothesis.evidence.retain(|id| context.has_evidence(id));
        if hypothesis.evidence.is_empty() {
            notes.push(format!(
                "dropped hypothesis {} ({} citations, none in the context): {}",
                index + 1,
                cited,
                crate::signal::cap_text(&hypothesis.statement, 120)
            ));
            if index == 0 && assessment.confidence > UNGROUNDED_CONFIDENCE_CAP {
                notes.push(format!(
                    "confidence capped from {:.2} to {UNGROUNDED_CONFIDENCE_CAP:.2}: the leading hypothesis had no valid evidence",
                    assessment.confidence
                ));
                assessment.confidence = UNGROUNDED_CONFIDENCE_CAP;
            }
        } else {
            if hypothesis.evidence.len() < cited {
                notes.push(format!(
                    "hypothesis {}: dropped citations of missing evidence",
                    index + 1
                ));
            }
            kept.push(hypothesis);
        }
    }
    assessment.hypotheses = kept;
    // Certainty that rests on no hypothesis at all is worth no more than an ungrounded one.
    if assessment.hypotheses.is_empty() && assessment.confidence > UNGROUNDED_CONFIDENCE_CAP {
        notes.push(format!(
            "confidence capped from {:.2} to {UNGROUNDED_CONFIDENCE_CAP:.2}: no hypothesis cites evidence in the context",
            assessment.confidence
        ));
        assessment.confidence = UNGROUNDED_CONFIDENCE_CAP;
    }
    let mut action = match &assessment.proposal {
        Some(proposal) => Some(catalogue::validate_for(
            &proposal.action_id,
            &proposal.params,
            &context.resource,
            &context.candidate_resources(),
            config,
        )?),
        None => None,
    };
    if let Some(action) = &mut action {
        super::provenance::settle(action, context, config, &mut notes)?;
    }
    if let Some(ValidatedAction {
        params: ActionParams::SsmAutomation(automation),
        ..
    }) = &action
    {
        // The document's own parameters could aim it elsewhere (`InstanceId: i-other`) while
        // `resource` names the incident's: the pin must hold for them too.
        if let Some(foreign) = automation
            .parameters
            .values()
            .flatten()
            .find_map(|value| foreign_resource(value, &context.resource))
        {
            return Err(AssessmentError::ForeignResource(foreign));
        }
    }
    Ok(ValidatedAssessment {
        assessment,
        action,
        notes,
    })
}

/// Cleans and bounds the analyst's prose, and keeps at most `MAX_HYPOTHESES` hypotheses.
fn clean_prose(assessment: &mut Assessment, notes: &mut Vec<String>) {
    assessment.summary = clean_text(&assessment.summary, MAX_SUMMARY_BYTES);
    if assessment.hypotheses.len() > MAX_HYPOTHESES {
        notes.push(format!(
            "kept the first {MAX_HYPOTHESES} of {} hypotheses",
            assessment.hypotheses.len()
        ));
        assessment.hypotheses.truncate(MAX_HYPOTHESES);
    }
    for hypothesis in &mut assessment.hypotheses {
        hypothesis.statement = clean_text(&hypothesis.statement, MAX_STATEMENT_BYTES);
    }
    if let Some(proposal) = &mut assessment.proposal {
        proposal.rationale = clean_text(&proposal.rationale, MAX_RATIONALE_BYTES);
    }
}

/// The first identifier in `value` that names an AWS resource other than `resource`: an ARN
/// that does not end in the resource's id, or an id shaped like `i-0abc…`, `vol-…`, `sg-…`.
fn foreign_resource(value: &str, resource: &ResourceRef) -> Option<String> {
    let own = resource.id();
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_:/.".contains(c)))
        .filter(|token| !token.is_empty() && *token != own)
        .find(|token| {
            if token.starts_with("arn:") {
                !(token.ends_with(&format!("/{own}")) || token.ends_with(&format!(":{own}")))
            } else {
                looks_like_resource_id(token)
            }
        })
        .map(|token| crate::signal::cap_text(token, 120))
}

/// `<prefix>-<8 to 17 hex digits>`: the shape of EC2, EBS, VPC and similar resource ids.
fn looks_like_resource_id(token: &str) -> bool {
    let Some((prefix, digits)) = token.split_once('-') else {
        return false;
    };
    (1..=10).contains(&prefix.len())
        && prefix.chars().all(|c| c.is_ascii_lowercase())
        && (8..=17).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_of_other_resources_are_recognised() {
        let resource = ResourceRef::parse("ec2:instance/i-0123456789abcdef0").unwrap();
        assert_eq!(foreign_resource("i-0123456789abcdef0", &resource), None);
        assert_eq!(
            foreign_resource(
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
                &resource
            ),
            None
        );
        assert_eq!(foreign_resource("reboot gently", &resource), None);
        assert_eq!(
            foreign_resource("i-0fedcba9876543210", &resource).as_deref(),
            Some("i-0fedcba9876543210")
        );
        assert!(
            foreign_resource("arn:aws:iam::123456789012:role/admin", &resource).is_some(),
            "a role ARN is not the incident's resource"
        );
        assert!(foreign_resource("targets: vol-0abc12345678, now", &resource).is_some());
    }
}
