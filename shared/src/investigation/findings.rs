//! What an investigation found, as evidence items a hypothesis can cite: `topology.*` (the
//! graph and the path to each candidate), `metric.*` (how anomalous each candidate is and how
//! much of the alarm it explains), `change.*` (write calls on the alarming node and the
//! candidates) and `logs.*` (log anomalies of the candidates, filled once a log source is
//! wired in), plus what could not be looked up in time.

use super::localise::{Candidate, Evidence, Verdict, id_segment};
use super::model::{Change, Target};
use super::resource_metrics::{MetricShift, describe};
use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};

/// A log anomaly on a candidate's log group (from the log analyzer's patterns).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogFinding {
    pub node: String,
    pub log_group: String,
    pub summary: String,
}

/// A source that did not answer, or answered with an error, within the deadline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingSource {
    /// `topology`, `metrics`, `normal`, `changes` or `logs`.
    pub source: String,
    pub reason: String,
}

/// One evidence item as the analysis context takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub id: String,
    pub text: String,
}

/// Everything one investigation produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub target: Target,
    /// Nodes and edges of the graph seen, when the topology answered.
    pub graph_size: Option<(usize, usize)>,
    /// Best first; empty when nothing downstream is to blame.
    pub candidates: Vec<Candidate>,
    pub verdict: Option<Verdict>,
    /// Changes on the target and the candidates, newest first.
    pub changes: Vec<Change>,
    /// The alarming resource's own metrics (the alarm's first), when read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_metrics: Vec<MetricShift>,
    /// The alarming resource, which `resource_metrics` describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    pub logs: Vec<LogFinding>,
    pub missing: Vec<MissingSource>,
}

impl Findings {
    /// Nothing found yet about `target`.
    pub fn empty(target: &Target) -> Self {
        Self {
            target: target.clone(),
            graph_size: None,
            candidates: Vec::new(),
            verdict: None,
            changes: Vec::new(),
            resource_metrics: Vec::new(),
            resource: None,
            logs: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// The findings as evidence items, most relevant first (the context drops from the end
    /// under its token budget): the alarming resource's metrics that moved, candidates in rank
    /// order with their changes, then the rest (metrics that did not move among it).
    pub fn evidence(&self) -> Vec<EvidenceItem> {
        let mut items = Vec::new();
        let metric_item = |shift: &MetricShift| EvidenceItem {
            id: format!("metric.resource.{}", id_segment(&shift.metric_name)),
            text: describe(
                shift,
                self.resource
                    .as_ref()
                    .map_or(self.target.node.as_str(), ResourceRef::as_str),
                self.target.alert_time,
            ),
        };
        items.extend(
            self.resource_metrics
                .iter()
                .filter(|shift| shift.shifted())
                .map(metric_item),
        );
        if let Some((nodes, edges)) = self.graph_size {
            items.push(EvidenceItem {
                id: "topology.graph".to_owned(),
                text: format!(
                    "call graph around {}: {nodes} nodes, {edges} calls",
                    self.target.node
                ),
            });
        }
        for (rank, candidate) in self.candidates.iter().enumerate() {
            items.push(EvidenceItem {
                id: format!("topology.candidate.{}", id_segment(&candidate.node)),
                text: format!(
                    "root-cause candidate #{} {} (score {:.2})",
                    rank + 1,
                    candidate.node,
                    candidate.score
                ),
            });
            items.extend(
                candidate
                    .evidence
                    .iter()
                    .map(|Evidence { id, text }| EvidenceItem {
                        id: id.clone(),
                        text: text.clone(),
                    }),
            );
            // The candidate's evidence already holds the changes on it (see `stage`).
        }
        items.extend(
            self.change_evidence()
                .into_iter()
                .filter(|(node, _)| *node == self.target.node)
                .map(|(_, item)| item),
        );
        items.extend(
            self.resource_metrics
                .iter()
                .filter(|shift| !shift.shifted())
                .map(metric_item),
        );
        for log in &self.logs {
            items.push(EvidenceItem {
                id: format!(
                    "logs.{}.{}",
                    id_segment(&log.node),
                    id_segment(&log.log_group)
                ),
                text: log.summary.clone(),
            });
        }
        for missing in &self.missing {
            items.push(EvidenceItem {
                id: format!("investigation.missing.{}", missing.source),
                text: format!("{} not looked up: {}", missing.source, missing.reason),
            });
        }
        items
    }

    /// Each change as an evidence item, with the node it is on, newest first.
    pub fn change_evidence(&self) -> Vec<(String, EvidenceItem)> {
        self.changes
            .iter()
            .map(|change| {
                let when = chrono::DateTime::from_timestamp(change.time, 0)
                    .map_or_else(|| change.time.to_string(), |t| t.to_rfc3339());
                let minutes_before = (self.target.alert_time - change.time) / 60;
                let item = EvidenceItem {
                    id: format!(
                        "change.{}.{}.{}",
                        id_segment(&change.node),
                        id_segment(&change.action),
                        change.time
                    ),
                    text: format!(
                        "{} on {} at {when} ({minutes_before} min before the alarm){}{}",
                        change.action,
                        change.node,
                        change
                            .actor
                            .as_deref()
                            .map(|actor| format!(" by {actor}"))
                            .unwrap_or_default(),
                        change
                            .summary
                            .as_deref()
                            .map(|summary| format!(": {summary}"))
                            .unwrap_or_default(),
                    ),
                };
                (change.node.clone(), item)
            })
            .collect()
    }
}
