//! Where each parameter of a proposed action came from, and, for an action on a root-cause
//! candidate, the path from the alarming resource to it and the evidence behind it. Recorded on
//! the validated action, so it is persisted with the decision and shown to approvers.

use serde::{Deserialize, Serialize};

/// Longest text kept of a fact's summary, an evidence text or a path (bytes): node names and
/// change summaries come from the investigated world, so they are bounded like any input.
pub const SOURCE_TEXT_LIMIT: usize = 240;
/// Evidence items kept behind a root-cause candidate.
pub const ROOT_CAUSE_EVIDENCE_KEPT: usize = 8;
/// Nodes kept of a path.
pub const PATH_NODES_KEPT: usize = 12;

/// One parameter's value and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterSource {
    pub parameter: String,
    pub value: String,
    pub source: Source,
}

/// Where a parameter's value came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// A fact Argus read (a change record, a deployment event): its evidence id and what it says.
    Fact { evidence: String, summary: String },
    /// The incident's resource, from the signal that opened it.
    IncidentResource,
    /// A root-cause candidate the incident's investigation found (its evidence id).
    Candidate { node: String, evidence: String },
    /// The deployment's configuration (e.g. the allow-listed SSM documents).
    Configuration { setting: String },
    /// The catalogue's default for a parameter left out.
    CatalogueDefault,
    /// The analyst's choice: only for parameters that tune how an action runs, never for one
    /// that selects what runs; checked against the action's schema.
    Analyst,
}

impl Source {
    /// One line for people: `change.pricing.UpdateAlias.1773482620 (UpdateAlias on …)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Fact { evidence, summary } => format!("fact {evidence}: {summary}"),
            Self::IncidentResource => "the incident's resource".to_string(),
            Self::Candidate { node, evidence } => {
                format!("root-cause candidate {node} ({evidence})")
            }
            Self::Configuration { setting } => format!("configuration `{setting}`"),
            Self::CatalogueDefault => "the catalogue's default".to_string(),
            Self::Analyst => "the analyst's choice, within the action's schema".to_string(),
        }
    }
}

/// An evidence item as a proposal cites it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRef {
    pub id: String,
    pub text: String,
}

/// How the investigation got from the alarming resource to the candidate an action targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootCausePath {
    /// The candidate's node.
    pub node: String,
    /// From the alarming node to the candidate, as the call graph has it.
    pub path: Vec<String>,
    /// The candidate's score in its investigation.
    pub score: f64,
    /// The evidence behind the candidate, most relevant first.
    pub evidence: Vec<EvidenceRef>,
}

/// `text` bounded for a record that approvers read.
pub fn bounded(text: &str) -> String {
    crate::signal::cap_text(text, SOURCE_TEXT_LIMIT)
}
