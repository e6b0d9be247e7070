//! The PetShop dataset's own simple method ("anomaly traversal"), implemented from its
//! description so Argus' localisation can be measured beside it in the same run.
//!
//! Per node, a detector fitted on the normal metrics of the alarm's metric and statistic:
//! the score is |x − median| / MAD (unscaled MAD), anomalous above 5; with fewer than ten
//! normal points a node has no detector; a node whose normal values never vary is scored by
//! |x − mean| and anomalous above 0. The bucket analysed is row 2 of the window, or the first
//! later row where the target is anomalous; if the target is not anomalous there, nothing is
//! blamed. Root causes are the anomalous nodes none of whose callees is anomalous, that the
//! target reaches through a call path of anomalous nodes; each is scored by the largest sum
//! of anomaly scores along such a path (the target excluded as a candidate).

use super::graph::CallGraph;
use super::localise::{Candidate, Evidence, id_segment};
use super::model::{MetricTable, Target};
use std::collections::{BTreeMap, BTreeSet};

/// The dataset's threshold on the MAD score.
pub const THRESHOLD: f64 = 5.0;
/// The row the dataset's windows put at the alarm.
pub const ANALYSED_ROW: usize = 2;
/// A bound on the call paths enumerated per candidate (the graphs are small; this only guards
/// against a pathological one).
const PATH_LIMIT: usize = 100_000;

enum Detector {
    Mad { median: f64, mad: f64 },
    Constant { mean: f64 },
}

impl Detector {
    fn fit(values: &[f64]) -> Option<Self> {
        if values.len() < 10 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        if variance == 0.0 {
            return Some(Self::Constant { mean });
        }
        let mut sorted = values.to_vec();
        let median = super::anomaly::median(&mut sorted)?;
        let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        let mad = super::anomaly::median(&mut deviations)?;
        Some(Self::Mad { median, mad })
    }

    /// (anomalous, score)
    fn score(&self, value: f64) -> (bool, f64) {
        match self {
            Self::Constant { mean } => {
                let score = (value - mean).abs();
                (score > 0.0, score)
            }
            Self::Mad { median, mad } => {
                let deviation = (value - median).abs();
                let score = if *mad > 0.0 {
                    deviation / mad
                } else if deviation > 0.0 {
                    // As in the dataset's code: a zero MAD gives an infinite score, and every
                    // path through such a node ties at infinity.
                    f64::INFINITY
                } else {
                    // 0/0: the dataset's code turns the NaN into a score of 0.
                    0.0
                };
                (score > THRESHOLD, score)
            }
        }
    }
}

/// Runs the baseline; the list is best first and empty when the target is not anomalous at
/// the analysed row. Ties (frequent: every path through a zero-MAD node scores infinity) are
/// broken by node name; the dataset's code leaves them in hash-set order, which varies from
/// run to run.
pub fn baseline(
    graph: &CallGraph,
    target: &Target,
    window: &MetricTable,
    normal: &MetricTable,
) -> Vec<Candidate> {
    let (metric_name, stat) = (target.metric.as_str(), target.statistic.as_str());
    let mut detectors: BTreeMap<String, Detector> = BTreeMap::new();
    for key in normal.keys() {
        if key.metric != metric_name || key.statistic != stat {
            continue;
        }
        let values: Vec<f64> = normal
            .series(&key.node, metric_name, stat)
            .unwrap_or_default()
            .iter()
            .flatten()
            .copied()
            .collect();
        if let Some(detector) = Detector::fit(&values) {
            detectors.insert(key.node.clone(), detector);
        }
    }
    let score_at = |node: &str, row: usize| -> Option<f64> {
        let detector = detectors.get(node)?;
        let value = (*window.series(node, metric_name, stat)?.get(row)?)?;
        let (anomalous, score) = detector.score(value);
        anomalous.then_some(score)
    };
    let Some(row) = (ANALYSED_ROW..window.len()).find(|row| score_at(&target.node, *row).is_some())
    else {
        return Vec::new();
    };
    let anomalous: BTreeMap<&str, f64> = window
        .nodes()
        .into_iter()
        .filter_map(|node| score_at(node, row).map(|score| (node, score)))
        .collect();
    let mut candidates = Vec::new();
    for node in anomalous.keys() {
        if *node == target.node || graph.callees(node).any(|c| anomalous.contains_key(c)) {
            continue;
        }
        if let Some(best) = best_path_score(graph, &target.node, node, &anomalous) {
            candidates.push(Candidate {
                node: (*node).to_owned(),
                resource: graph.resource(node).map(str::to_owned),
                score: best,
                evidence: vec![Evidence {
                    id: format!("metric.{}.{}", id_segment(node), target.metric),
                    text: format!(
                        "MAD score {:.1} at row {row} (threshold {THRESHOLD})",
                        anomalous.get(node).copied().unwrap_or_default()
                    ),
                }],
            });
        }
    }
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.node.cmp(&b.node))
    });
    candidates
}

/// The largest sum of scores over simple call paths target → … → `root` whose nodes are all
/// anomalous, by depth-first search over anomalous nodes only.
fn best_path_score(
    graph: &CallGraph,
    target: &str,
    root: &str,
    anomalous: &BTreeMap<&str, f64>,
) -> Option<f64> {
    let target_score = *anomalous.get(target)?;
    let mut best: Option<f64> = None;
    let mut explored = 0usize;
    let mut on_path: BTreeSet<&str> = BTreeSet::from([target]);
    // Each frame: the node, its remaining callees, the score so far.
    let mut stack: Vec<(&str, Vec<&str>, f64)> =
        vec![(target, graph.callees(target).collect(), target_score)];
    while let Some((node, mut callees, sum)) = stack.pop() {
        let Some(next) = callees.pop() else {
            on_path.remove(node);
            continue;
        };
        stack.push((node, callees, sum));
        explored += 1;
        if explored > PATH_LIMIT {
            break;
        }
        let Some(score) = anomalous.get(next) else {
            continue;
        };
        if on_path.contains(next) {
            continue;
        }
        let total = sum + score;
        if next == root {
            best = Some(best.map_or(total, |b: f64| b.max(total)));
            continue;
        }
        on_path.insert(next);
        stack.push((next, graph.callees(next).collect(), total));
    }
    best
}
