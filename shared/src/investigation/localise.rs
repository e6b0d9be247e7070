//! Root-cause localisation: which of the nodes the alarming node depends on is most likely the
//! cause, with the evidence behind each candidate — or nobody, when nothing downstream is
//! anomalous enough to blame.
//!
//! The method, chosen on principle rather than fitted to any labelled answer:
//!
//! 1. **The alarm window.** The buckets examined are the one holding the alarm time and the
//!    next [`LocaliseConfig::horizon_buckets`]; the buckets before it are the pre-alarm
//!    reference.
//! 2. **The target must look worse than usual** in an examined bucket (robust z of at least
//!    [`LocaliseConfig::target_z`] against its own normal). An alarm whose node looks normal
//!    has nothing for a dependency to explain, so nobody is blamed.
//! 3. **Candidates are strongly anomalous dependencies** (z of at least
//!    [`LocaliseConfig::candidate_z`] in the same bucket), reached from the target along calls
//!    through nodes that look worse than usual too (or have no data): an anomaly behind a
//!    healthy caller did not reach the alarm.
//! 4. **It must explain the alarm**: the candidate's excess (request-seconds or failed requests
//!    over normal, see [`super::anomaly`]) as a share of the target's, capped at one. A level a
//!    node already had before the alarm, while the target was fine, is not excess: a chronic
//!    condition does not explain a new alarm.
//! 5. **Deepest explanation wins**: the share of the candidate's own excess that its anomalous
//!    callees account for is subtracted, so a service that is slow only because its database
//!    is slow hands the blame down to the database.
//! 6. Score = share × (1 − explained by its callees) × z/(z + candidate_z) (confidence from how
//!    far out of normal it is) × a weight of one half for X-Ray's caller-side views of an
//!    endpoint (`…_remote`, `…_client`), which mirror the service they call rather than being
//!    a resource to act on. Best first; zero scores are dropped.

use super::anomaly::{NodeModel, Reading};
use super::graph::{CallGraph, NodeKind};
use super::model::{MetricTable, Target, metric};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The knobs of the method. The defaults are the one configuration Argus runs and the
/// benchmark reports; they are conventional values, not fitted.
#[derive(Clone, Debug, PartialEq)]
pub struct LocaliseConfig {
    /// The target counts as worse than usual at this robust z (two standard deviations: the
    /// alarm already fired, this only confirms the data agrees).
    pub target_z: f64,
    /// A dependency counts as anomalous at this robust z (five standard deviations: with
    /// ~40 nodes and a few buckets, noise alone almost never reaches it).
    pub candidate_z: f64,
    /// Buckets examined after the one holding the alarm time.
    pub horizon_buckets: usize,
    /// Weight of a caller-side view (`…_remote`, `…_client`) against a service.
    pub caller_view_weight: f64,
}

impl Default for LocaliseConfig {
    fn default() -> Self {
        Self {
            target_z: 2.0,
            candidate_z: 5.0,
            horizon_buckets: 3,
            caller_view_weight: 0.5,
        }
    }
}

/// One piece of evidence behind a candidate, citable by its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub text: String,
}

/// A ranked root-cause candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub node: String,
    /// The node's resource as the graph records it (an ARN), when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Higher is more likely; scores are comparable within one run only.
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// Why the list is what it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Candidates were found.
    Blamed,
    /// The target's own data shows nothing unusual in the alarm window.
    TargetLooksNormal { largest_z: Option<f64> },
    /// The target is worse than usual, but no dependency is anomalous enough to explain it.
    NothingDownstream,
}

/// The result of one localisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Localisation {
    pub candidates: Vec<Candidate>,
    pub verdict: Verdict,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LocaliseError {
    #[error("localisation understands latency and availability alarms, not {0:?}")]
    UnsupportedMetric(String),
    #[error("no normal behaviour to compare with: the snapshot has no normal metrics")]
    NoNormalBehaviour,
    #[error("the alarm window has no rows")]
    EmptyWindow,
}

impl LocaliseError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::UnsupportedMetric(_) => "UnsupportedMetric",
            Self::NoNormalBehaviour => "NoNormalBehaviour",
            Self::EmptyWindow => "EmptyWindow",
        }
    }
}

/// An evidence id segment from a node name: letters, digits, `-` and `_` kept, anything else
/// becomes `_`, so ids stay plain whatever X-Ray calls a node.
pub fn id_segment(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The rows examined: the bucket holding the alarm time, then `horizon` more.
pub fn examined_rows(
    window: &MetricTable,
    alert_time: i64,
    horizon: usize,
) -> std::ops::Range<usize> {
    let start = window
        .timestamps()
        .iter()
        .rposition(|t| *t <= alert_time)
        .unwrap_or(0);
    start..(start + horizon + 1).min(window.len())
}

struct Best {
    score: f64,
    row: usize,
    reading: Reading,
    share: f64,
    explained_below: f64,
    path: Vec<String>,
}

/// Ranks the nodes `target.node` depends on. See the module comment for the method.
pub fn localise(
    graph: &CallGraph,
    target: &Target,
    window: &MetricTable,
    normal: &MetricTable,
    config: &LocaliseConfig,
) -> Result<Localisation, LocaliseError> {
    let (metric_name, stat) = (target.metric.as_str(), target.statistic.as_str());
    if metric_name != metric::LATENCY && metric_name != metric::AVAILABILITY {
        return Err(LocaliseError::UnsupportedMetric(target.metric.clone()));
    }
    if normal.is_empty() {
        return Err(LocaliseError::NoNormalBehaviour);
    }
    if window.is_empty() {
        return Err(LocaliseError::EmptyWindow);
    }
    let dependencies = graph.dependencies(&target.node);
    let mut models: BTreeMap<&str, NodeModel> = BTreeMap::new();
    for node in dependencies
        .iter()
        .map(String::as_str)
        .chain([target.node.as_str()])
    {
        if let Some(model) = NodeModel::fit(normal, node, metric_name, stat) {
            models.insert(node, model);
        }
    }
    let read = |node: &str, row: usize, already_bad: f64| -> Option<Reading> {
        models
            .get(node)?
            .read(window, node, metric_name, stat, row, already_bad)
    };
    let rows = examined_rows(window, target.alert_time, config.horizon_buckets);

    // The pre-alarm reference: earlier buckets in which the target itself looked normal.
    let quiet_before: Vec<usize> = (0..rows.start)
        .filter(|row| read(&target.node, *row, 0.0).is_some_and(|r| r.z < config.target_z))
        .collect();
    let already_bad: BTreeMap<&str, f64> = dependencies
        .iter()
        .filter_map(|node| {
            let model = models.get(node.as_str())?;
            let series = window.series(node, metric_name, stat)?;
            let mut levels: Vec<f64> = quiet_before
                .iter()
                .filter_map(|row| series.get(*row).copied().flatten())
                .map(|value| model.badness(value))
                .collect();
            let level = super::anomaly::median(&mut levels)?;
            Some((node.as_str(), level.max(0.0)))
        })
        .collect();

    let mut largest_target_z: Option<f64> = None;
    let mut target_was_worse = false;
    let mut best: BTreeMap<&str, Best> = BTreeMap::new();
    for row in rows.clone() {
        let Some(alarm) = read(&target.node, row, 0.0) else {
            continue;
        };
        largest_target_z = Some(largest_target_z.map_or(alarm.z, |z: f64| z.max(alarm.z)));
        if alarm.z < config.target_z || alarm.excess <= 0.0 {
            continue;
        }
        target_was_worse = true;
        let against_normal: BTreeMap<&str, Option<Reading>> = dependencies
            .iter()
            .map(|node| (node.as_str(), read(node, row, 0.0)))
            .collect();
        let new_excess = |node: &str| -> f64 {
            read(node, row, already_bad.get(node).copied().unwrap_or(0.0)).map_or(0.0, |r| r.excess)
        };
        let anomalous: BTreeSet<&str> = against_normal
            .iter()
            .filter(|(_, r)| r.is_some_and(|r| r.z >= config.candidate_z && r.excess > 0.0))
            .map(|(node, _)| *node)
            .collect();
        let passable = |node: &str| -> bool {
            anomalous.contains(node)
                || against_normal
                    .get(node)
                    .is_none_or(|r| r.is_none_or(|r| r.z >= config.target_z))
        };
        for candidate in &anomalous {
            let Some(path) = graph.path(&target.node, candidate, passable) else {
                continue;
            };
            let Some(reading) = against_normal.get(candidate).copied().flatten() else {
                continue;
            };
            let excess = new_excess(candidate);
            if excess <= 0.0 {
                continue;
            }
            let share = (excess / alarm.excess).min(1.0);
            let explained_below = graph
                .callees(candidate)
                .filter(|callee| callee != candidate && anomalous.contains(callee))
                .map(|callee| (new_excess(callee) / excess).min(1.0))
                .fold(0.0, f64::max);
            let confidence = reading.z / (reading.z + config.candidate_z);
            let weight = match graph.kind(candidate) {
                NodeKind::Service => 1.0,
                NodeKind::CallerView => config.caller_view_weight,
            };
            let score = share * (1.0 - explained_below) * confidence * weight;
            if score > best.get(candidate).map_or(0.0, |b| b.score) {
                best.insert(
                    candidate,
                    Best {
                        score,
                        row,
                        reading,
                        share,
                        explained_below,
                        path,
                    },
                );
            }
        }
    }

    let mut candidates: Vec<Candidate> = best
        .into_iter()
        .map(|(node, found)| Candidate {
            node: node.to_owned(),
            resource: graph.resource(node).map(str::to_owned),
            score: found.score,
            evidence: evidence(target, window, node, &found),
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.node.cmp(&b.node))
    });
    let verdict = if !candidates.is_empty() {
        Verdict::Blamed
    } else if target_was_worse {
        Verdict::NothingDownstream
    } else {
        Verdict::TargetLooksNormal {
            largest_z: largest_target_z,
        }
    };
    Ok(Localisation {
        candidates,
        verdict,
    })
}

fn evidence(target: &Target, window: &MetricTable, node: &str, found: &Best) -> Vec<Evidence> {
    let segment = id_segment(node);
    let when = window
        .timestamps()
        .get(found.row)
        .and_then(|t| chrono::DateTime::from_timestamp(*t, 0))
        .map_or_else(
            || format!("row {}", found.row),
            |t| t.format("%Y-%m-%dT%H:%MZ").to_string(),
        );
    let (value, normal) = match target.metric.as_str() {
        metric::LATENCY => (
            format!("{:.3} s", found.reading.value),
            format!("{:.3} s", found.reading.normal),
        ),
        _ => (
            format!("{:.2} %", found.reading.value),
            format!("{:.2} %", found.reading.normal),
        ),
    };
    let unit = if target.metric == metric::LATENCY {
        "request-seconds over normal"
    } else {
        "failed requests over normal"
    };
    vec![
        Evidence {
            id: format!("metric.{segment}.{}", target.metric),
            text: format!(
                "{node} {} {} was {value} in the bucket starting {when}, normally {normal} (robust z {:.1})",
                target.metric, target.statistic, found.reading.z
            ),
        },
        Evidence {
            id: format!("metric.{segment}.explains"),
            text: format!(
                "its {unit} account for {:.0} % of {}'s; its own anomalous dependencies account for {:.0} % of it",
                found.share * 100.0,
                target.node,
                found.explained_below * 100.0
            ),
        },
        Evidence {
            id: format!("topology.path.{segment}"),
            text: format!("call path: {}", found.path.join(" → ")),
        },
    ]
}
