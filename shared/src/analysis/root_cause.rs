//! The rules analyst's reading of an investigation that blames a dependency: roll back the
//! alias it just moved (the version from the change record, never from a model), or name what
//! changed there, or point at it; every claim cites the findings' evidence.

use super::assessment::{Assessment, Classification, Hypothesis, Proposal};
use super::context::{AnalysisContext, candidate_resource};
use super::rules::RULES_ANALYST;
use crate::catalogue::ActionId;
use crate::investigation::localise::id_segment;
use crate::investigation::model::metric;
use serde_json::json;

/// Deployments and configuration moves that can make a service slow or failing.
fn is_deployment(action: &str) -> bool {
    [
        "UpdateFunctionCode",
        "UpdateAlias",
        "PublishVersion",
        "UpdateService",
        "CreateDeployment",
        "UpdateFunctionConfiguration",
        "PutParameter",
    ]
    .iter()
    .any(|name| action.starts_with(name))
}

/// An assessment of the incident when the investigation blames a dependency of the alarming
/// node; `None` when it blames nothing (or the alarming node itself), so the alarming
/// resource's own playbook stands.
pub fn candidate_assessment(context: &AnalysisContext) -> Option<Assessment> {
    let findings = context.findings.as_ref()?;
    let top = findings.candidates.first()?;
    if top.node == findings.target.node {
        return None;
    }
    let classification = if findings.target.metric == metric::LATENCY {
        Classification::Latency
    } else {
        Classification::ErrorRate
    };
    let mut evidence: Vec<String> = vec![format!("topology.candidate.{}", id_segment(&top.node))];
    evidence.extend(top.evidence.iter().map(|item| item.id.clone()));
    evidence.retain(|id| context.has_evidence(id));
    let changes: Vec<_> = findings
        .changes
        .iter()
        .filter(|change| change.node == top.node && is_deployment(&change.action))
        .collect();
    let minutes_before = |time: i64| (findings.target.alert_time - time) / 60;
    let resource = top.resource.as_deref().and_then(candidate_resource);
    // The newest alias move on a function whose previous version is on record.
    let rollback = changes.iter().find_map(|change| {
        let alias = change.alias.as_ref()?;
        let from = alias.from_version.as_ref()?;
        let resource = resource.as_ref()?;
        (resource.kind() == "lambda:function").then_some((change, alias, from, resource))
    });
    let (statement, confidence, proposal) = match (rollback, changes.first()) {
        (Some((change, alias, from, resource)), _) => (
            format!(
                "{} slowed down after its alias {} moved from version {from} to {} {} min before the alarm; {} depends on it",
                top.node,
                alias.name,
                alias.to_version,
                minutes_before(change.time),
                findings.target.node
            ),
            0.75,
            Proposal {
                action_id: ActionId::LambdaRollbackAlias.as_str().to_string(),
                params: json!({
                    "function_name": resource.id(),
                    "alias": alias.name,
                    "target_version": from,
                }),
                rationale: format!(
                    "point {} back at version {from}, the version before the deployment (from the recorded {} call)",
                    alias.name, change.action
                ),
            },
        ),
        (None, Some(change)) => (
            format!(
                "{} changed ({}) {} min before the alarm and is the most likely cause; no recorded previous version to roll back to",
                top.node,
                change.action,
                minutes_before(change.time)
            ),
            0.6,
            notify_only(&top.node),
        ),
        (None, None) => (
            format!(
                "the fault is most likely downstream in {}, which {} depends on; no recent change is recorded there",
                top.node, findings.target.node
            ),
            0.5,
            notify_only(&top.node),
        ),
    };
    let mut citations = evidence;
    citations.extend(
        findings
            .change_evidence()
            .into_iter()
            .filter(|(node, item)| {
                *node == top.node
                    && context.has_evidence(&item.id)
                    && changes
                        .iter()
                        .any(|change| item.id.ends_with(&format!(".{}", change.time)))
            })
            .map(|(_, item)| item.id),
    );
    let mut seen = std::collections::BTreeSet::new();
    citations.retain(|id| seen.insert(id.clone()));
    Some(Assessment {
        analyst: RULES_ANALYST.to_string(),
        classification,
        severity: context.signal.severity_hint.unwrap_or(6).clamp(1, 10),
        confidence,
        summary: format!(
            "{} on {}: root cause likely in {}",
            context.signal.title, context.resource, top.node
        ),
        hypotheses: vec![Hypothesis {
            statement,
            likelihood: confidence,
            evidence: citations,
        }],
        proposal: Some(proposal),
        usage: None,
    })
}

fn notify_only(node: &str) -> Proposal {
    Proposal {
        action_id: ActionId::NotifyOnly.as_str().to_string(),
        params: json!({}),
        rationale: format!(
            "people look at {node}: no catalogue action is known to fix it safely from what was recorded"
        ),
    }
}
