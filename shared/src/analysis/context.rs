//! The bounded context an analyst is given: the signal's evidence and the incident's history.

use crate::correlation::CorrelationId;
use crate::resource::ResourceRef;
use crate::signal::Signal;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextItem {
    /// What hypotheses cite.
    pub id: String,
    pub label: String,
    /// Untrusted text: fenced as data in any prompt.
    pub text: String,
}

/// A resolved incident of the same signature, from the patterns table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PastIncident {
    pub correlation_id: CorrelationId,
    pub resource: ResourceRef,
    pub action: Option<String>,
    pub verified: Option<bool>,
    pub time_to_recover_seconds: Option<u64>,
    pub summary: String,
    pub closed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisContext {
    pub incident_id: CorrelationId,
    pub resource: ResourceRef,
    pub signature: String,
    pub signal: Signal,
    pub items: Vec<ContextItem>,
    pub history: Vec<PastIncident>,
}

impl AnalysisContext {
    pub fn build(incident_id: CorrelationId, signal: &Signal, history: Vec<PastIncident>) -> Self {
        let mut items: Vec<ContextItem> = signal
            .evidence
            .iter()
            .map(|evidence| ContextItem {
                id: evidence.id.clone(),
                label: evidence.label.clone(),
                text: evidence.text.clone(),
            })
            .collect();
        for (index, past) in history.iter().enumerate() {
            let outcome = match past.verified {
                Some(true) => "verified recovered",
                Some(false) => "failed verification",
                None => "outcome unknown",
            };
            items.push(ContextItem {
                id: format!("history.{}", index + 1),
                label: "past incident".to_string(),
                text: format!(
                    "{} on {}: action {} ({outcome}{}); {}",
                    past.correlation_id,
                    past.resource,
                    past.action.as_deref().unwrap_or("none"),
                    past.time_to_recover_seconds
                        .map(|seconds| format!(", recovered in {seconds}s"))
                        .unwrap_or_default(),
                    past.summary
                ),
            });
        }
        Self {
            incident_id,
            resource: signal.resource.clone(),
            signature: signal.signature.clone(),
            signal: signal.clone(),
            items,
            history,
        }
    }

    pub fn has_evidence(&self, id: &str) -> bool {
        self.items.iter().any(|item| item.id == id)
    }

    /// A rough token count (four bytes a token), for budgets and for `argus explain`.
    pub fn estimated_tokens(&self) -> usize {
        let bytes: usize = self
            .items
            .iter()
            .map(|item| item.id.len() + item.label.len() + item.text.len() + 8)
            .sum();
        bytes.div_ceil(4)
    }
}
