//! The investigation sources as narrow ports: the call graph around a node (X-Ray's service
//! graph, or a configured graph), metric series (CloudWatch / X-Ray statistics) for the
//! incident's window and for a normal reference period, and recent changes (CloudTrail write
//! calls), and the alarming resource's own metrics (CloudWatch GetMetricData).
//! [`super::snapshot::RecordedSnapshot`] implements them all from a recorded folder.

use super::findings::LogFinding;
use super::graph::CallGraph;
use super::model::{Change, MetricTable};
use super::resource_metrics::{MetricSeries, MetricSpec};
use super::snapshot::SnapshotError;
use crate::resource::ResourceRef;
use async_trait::async_trait;

/// A time range in unix seconds, `from` included, `to` excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The source answered with an error or not at all (throttled, denied, unreachable).
    #[error("{source_name} failed: {message}")]
    Unavailable {
        source_name: &'static str,
        message: String,
    },
}

impl SourceError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Snapshot(error) => error.error_type(),
            Self::Unavailable { .. } => "SourceUnavailable",
        }
    }
}

/// The dependency graph around a node.
#[async_trait]
pub trait TopologySource: Send + Sync {
    /// The call graph that includes `node` and what it calls, as seen during `range`.
    async fn call_graph(&self, node: &str, range: TimeRange) -> Result<CallGraph, SourceError>;
}

/// Metric series per node: latency (statistics), requests (Sum), availability (Average).
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// The series of `nodes` over the incident's window `range` (all nodes when empty).
    async fn window(&self, nodes: &[String], range: TimeRange) -> Result<MetricTable, SourceError>;
    /// The series of `nodes` over a normal reference period that ends before `range.to`, or
    /// `None` when the source has none.
    async fn normal(
        &self,
        nodes: &[String],
        range: TimeRange,
    ) -> Result<Option<MetricTable>, SourceError>;
}

/// Write calls on resources (deployments, alias moves, parameter and configuration changes).
#[async_trait]
pub trait ChangeSource: Send + Sync {
    /// Changes on `nodes` during `range`, oldest first.
    async fn changes(&self, nodes: &[String], range: TimeRange)
    -> Result<Vec<Change>, SourceError>;
}

/// The alarming resource's own metrics (CloudWatch's namespaces and dimensions).
#[async_trait]
pub trait ResourceMetricsSource: Send + Sync {
    /// The points of each of `specs` during `range`, oldest first; a spec with no data is an
    /// empty series, not an error.
    async fn series(
        &self,
        specs: &[MetricSpec],
        range: TimeRange,
    ) -> Result<Vec<MetricSeries>, SourceError>;
}

/// What the log analyzer found on resources: the log anomalies Argus recorded.
#[async_trait]
pub trait LogAnomalySource: Send + Sync {
    /// The log anomalies on each `(node, resource)` that were seen during `range`.
    async fn log_anomalies(
        &self,
        resources: &[(String, ResourceRef)],
        range: TimeRange,
    ) -> Result<Vec<LogFinding>, SourceError>;
}
