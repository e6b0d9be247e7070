//! The investigation stage: asks the sources in parallel under one deadline, records what did
//! not answer in time as missing (never waits for it), and localises the root cause on what
//! came back. Read-only: no source is asked to change anything.

use super::findings::{Findings, MissingSource};
use super::localise::{Evidence, LocaliseConfig, localise};
use super::model::{Change, MetricTable, Target};
use super::ports::{ChangeSource, MetricsSource, SourceError, TimeRange, TopologySource};
use std::time::Duration;

/// Bounds of one investigation.
#[derive(Clone, Debug, PartialEq)]
pub struct InvestigationLimits {
    /// Everything must answer within this; what does not is recorded as missing.
    pub deadline: Duration,
    /// How far before the alarm the window and the changes look.
    pub look_back_seconds: i64,
    /// How far after the alarm the window looks (buckets still being filled count).
    pub look_ahead_seconds: i64,
    /// Changes are looked up on the target and at most this many top candidates.
    pub change_candidates: usize,
}

impl Default for InvestigationLimits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            look_back_seconds: 3_600,
            look_ahead_seconds: 900,
            change_candidates: 3,
        }
    }
}

pub(crate) fn missing(source: &str, reason: impl Into<String>) -> MissingSource {
    MissingSource {
        source: source.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) async fn bounded<T>(
    deadline: tokio::time::Instant,
    call: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, String> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{} ({})", error, error.error_type())),
        Err(_) => Err("no answer before the deadline".to_owned()),
    }
}

/// Runs the stage for `target`.
pub async fn investigate(
    topology: &dyn TopologySource,
    metrics: &dyn MetricsSource,
    changes: &dyn ChangeSource,
    target: &Target,
    limits: &InvestigationLimits,
    config: &LocaliseConfig,
) -> Findings {
    let deadline = tokio::time::Instant::now() + limits.deadline;
    let range = window_of(target, limits);

    let graph = bounded(deadline, topology.call_graph(&target.node, range)).await;
    investigate_on(graph, metrics, changes, target, limits, config, deadline).await
}

/// The look-back and look-ahead window of an investigation of `target`.
pub fn window_of(target: &Target, limits: &InvestigationLimits) -> TimeRange {
    TimeRange {
        from: target.alert_time - limits.look_back_seconds,
        to: target.alert_time + limits.look_ahead_seconds,
    }
}

/// The stage once the topology answered (or did not, `Err` saying why): for a caller that
/// needed the graph first, to find which node the alarming resource is.
pub async fn investigate_on(
    graph: Result<super::graph::CallGraph, String>,
    metrics: &dyn MetricsSource,
    changes: &dyn ChangeSource,
    target: &Target,
    limits: &InvestigationLimits,
    config: &LocaliseConfig,
    deadline: tokio::time::Instant,
) -> Findings {
    let range = window_of(target, limits);
    let mut findings = Findings::empty(target);
    let graph = match graph {
        Ok(graph) => graph,
        Err(reason) => {
            let mut findings = changes_on_target(changes, target, limits, deadline).await;
            findings.missing.insert(0, missing("topology", reason));
            return findings;
        }
    };
    findings.graph_size = Some((graph.node_count(), graph.edge_count()));
    let mut nodes: Vec<String> = graph.dependencies(&target.node).into_iter().collect();
    nodes.push(target.node.clone());

    // Metrics and normal behaviour of every node around, at once.
    let (window, normal) = tokio::join!(
        bounded(deadline, metrics.window(&nodes, range)),
        bounded(deadline, metrics.normal(&nodes, range)),
    );
    match (window, normal) {
        (Ok(window), Ok(Some(normal))) => {
            localise_into(&mut findings, &graph, target, &window, &normal, config)
        }
        (Ok(_), Ok(None)) => findings.missing.push(missing(
            "normal",
            "the source has no normal behaviour for these nodes",
        )),
        (Err(reason), _) => findings.missing.push(missing("metrics", reason)),
        (_, Err(reason)) => findings.missing.push(missing("normal", reason)),
    }
    // Changes only where they can matter, the alarming node first: change sources are slow
    // and rate-limited (CloudTrail answers two lookups a second).
    let relevant: Vec<String> = std::iter::once(target.node.clone())
        .chain(
            findings
                .candidates
                .iter()
                .take(limits.change_candidates)
                .map(|candidate| candidate.node.clone())
                .filter(|node| *node != target.node),
        )
        .collect();
    match bounded(deadline, changes.changes(&relevant, range)).await {
        Ok(found) => {
            findings.changes = newest_first(
                found
                    .into_iter()
                    .filter(|change| relevant.contains(&change.node))
                    .collect(),
            )
        }
        Err(reason) => findings.missing.push(missing("changes", reason)),
    }
    // A recent change on a candidate is evidence behind that candidate.
    let change_evidence: Vec<(String, Evidence)> = findings
        .change_evidence()
        .into_iter()
        .map(|(node, item)| {
            (
                node,
                Evidence {
                    id: item.id,
                    text: item.text,
                },
            )
        })
        .collect();
    for candidate in &mut findings.candidates {
        candidate.evidence.extend(
            change_evidence
                .iter()
                .filter(|(node, _)| *node == candidate.node)
                .map(|(_, evidence)| evidence.clone()),
        );
    }
    findings
}

/// Findings without a graph to walk: the changes on the alarming node alone (for an alarm
/// whose metric localisation does not read, or when the topology did not answer).
pub async fn changes_on_target(
    changes: &dyn ChangeSource,
    target: &Target,
    limits: &InvestigationLimits,
    deadline: tokio::time::Instant,
) -> Findings {
    let mut findings = Findings::empty(target);
    let nodes = vec![target.node.clone()];
    match bounded(deadline, changes.changes(&nodes, window_of(target, limits))).await {
        Ok(found) => findings.changes = newest_first(found),
        Err(reason) => findings.missing.push(missing("changes", reason)),
    }
    findings
}

fn localise_into(
    findings: &mut Findings,
    graph: &super::graph::CallGraph,
    target: &Target,
    window: &MetricTable,
    normal: &MetricTable,
    config: &LocaliseConfig,
) {
    match localise(graph, target, window, normal, config) {
        Ok(localisation) => {
            findings.candidates = localisation.candidates;
            findings.verdict = Some(localisation.verdict);
        }
        Err(error) => findings
            .missing
            .push(missing("localisation", error.to_string())),
    }
}

fn newest_first(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by_key(|change| std::cmp::Reverse(change.time));
    changes
}
