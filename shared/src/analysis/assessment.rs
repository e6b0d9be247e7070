//! The `Assessment` every analyst returns, and the validation that stands between it and action.

use super::context::AnalysisContext;
use crate::catalogue::{self, ActionError, ValidatedAction};
use crate::config::Config;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Confidence is capped here when the leading hypothesis cites nothing that exists.
pub const UNGROUNDED_CONFIDENCE_CAP: f64 = 0.4;

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
/// Hypotheses that cite nothing in the context are dropped; when the leading one goes, the
/// confidence is capped, because the analyst's certainty rested on nothing we can show.
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
    let action = match &assessment.proposal {
        Some(proposal) => Some(catalogue::validate(
            &proposal.action_id,
            &proposal.params,
            &context.resource,
            config,
        )?),
        None => None,
    };
    Ok(ValidatedAssessment {
        assessment,
        action,
        notes,
    })
}
