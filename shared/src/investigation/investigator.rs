//! The investigation as the intake path runs it: which graph node the alarming resource is,
//! what its alarm measures, and the stage on the configured sources, all inside one deadline.

use super::findings::Findings;
use super::graph::CallGraph;
use super::localise::LocaliseConfig;
use super::model::{Target, metric, statistic};
use super::ports::{ChangeSource, MetricsSource, TopologySource};
use super::stage::{InvestigationLimits, bounded, investigate_on, window_of};
use crate::resource::ResourceRef;
use crate::signal::Signal;
use crate::signal::resource_from_arn;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Why a signal was not investigated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotInvestigated {
    /// The alarm measures something localisation does not read (CPU, disk, a status check).
    #[error("the alarm's metric ({0}) is not latency or errors, which localisation reads")]
    MetricNotLocalisable(String),
    /// Only alarms are investigated: other signals name no metric to explain.
    #[error("only metric alarms are investigated")]
    NotAnAlarm,
    /// The service graph does not hold the alarming resource.
    #[error("the service graph has no node for {0}")]
    NotInGraph(String),
}

/// Looks around a signal before it is analysed.
#[async_trait]
pub trait Investigator: Send + Sync {
    async fn investigate(&self, signal: &Signal) -> Result<Findings, NotInvestigated>;
}

/// The investigation over a topology, metrics and change source (X-Ray and CloudTrail on AWS,
/// a recorded snapshot locally).
pub struct SourcesInvestigator<'a> {
    pub topology: &'a dyn TopologySource,
    pub metrics: &'a dyn MetricsSource,
    pub changes: &'a dyn ChangeSource,
    pub limits: InvestigationLimits,
    pub localise: LocaliseConfig,
    /// Graph node names by resource (`ecs:service/prod/storefront` → `storefront`), for
    /// resources the graph does not name itself.
    pub nodes: BTreeMap<String, String>,
}

impl std::fmt::Debug for SourcesInvestigator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourcesInvestigator")
            .field("limits", &self.limits)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// What an alarm's metric measures, in localisation's terms.
pub fn measured(metric_name: &str) -> Option<(&'static str, &'static str)> {
    let name = metric_name
        .rsplit('/')
        .next()
        .unwrap_or(metric_name)
        .to_ascii_lowercase();
    let latency = ["latency", "duration", "responsetime", "response_time"];
    let errors = ["error", "5xx", "fault", "availability", "failed"];
    if latency.iter().any(|word| name.contains(word)) {
        Some((metric::LATENCY, statistic::AVERAGE))
    } else if errors.iter().any(|word| name.contains(word)) {
        Some((metric::AVAILABILITY, statistic::AVERAGE))
    } else {
        None
    }
}

/// The node of `resource` in `graph`: one whose recorded resource reads as it (an alias or
/// version qualifier on a function ARN aside), else the configured name, else a node named
/// as the resource's id (its last path segment).
pub fn node_of(
    graph: &CallGraph,
    resource: &ResourceRef,
    configured: &BTreeMap<String, String>,
) -> Option<String> {
    let same = |arn: &str| {
        resource_from_arn(arn).is_some_and(|found| {
            found == *resource
                || (found.kind() == resource.kind()
                    && found.service() == resource.service()
                    && found.id().split(':').next() == Some(resource.id()))
        })
    };
    if let Some(node) = graph
        .nodes()
        .find(|node| graph.resource(node).is_some_and(same))
    {
        return Some(node.to_string());
    }
    if let Some(node) = configured.get(resource.as_str()) {
        return graph.contains(node).then(|| node.clone());
    }
    let last = resource.id().rsplit('/').next().unwrap_or(resource.id());
    graph.contains(last).then(|| last.to_string())
}

#[async_trait]
impl Investigator for SourcesInvestigator<'_> {
    async fn investigate(&self, signal: &Signal) -> Result<Findings, NotInvestigated> {
        if signal.alarm_name.is_none() {
            return Err(NotInvestigated::NotAnAlarm);
        }
        let metric_name = signal.metric.clone().unwrap_or_default();
        let (metric_kind, statistic_kind) = measured(&metric_name)
            .ok_or_else(|| NotInvestigated::MetricNotLocalisable(metric_name.clone()))?;
        let deadline = tokio::time::Instant::now() + self.limits.deadline;
        let guess = Target {
            node: signal.resource.id().to_string(),
            metric: metric_kind.to_string(),
            statistic: statistic_kind.to_string(),
            alert_time: signal.observed_at.timestamp(),
        };
        let graph = bounded(
            deadline,
            self.topology
                .call_graph(&guess.node, window_of(&guess, &self.limits)),
        )
        .await;
        let target = match &graph {
            Ok(graph) => Target {
                node: node_of(graph, &signal.resource, &self.nodes)
                    .ok_or_else(|| NotInvestigated::NotInGraph(signal.resource.to_string()))?,
                ..guess
            },
            Err(_) => guess,
        };
        Ok(investigate_on(
            graph,
            self.metrics,
            self.changes,
            &target,
            &self.limits,
            &self.localise,
            deadline,
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_metrics_read_as_latency_or_errors_or_nothing() {
        assert_eq!(
            measured("AWS/ApplicationELB/TargetResponseTime").map(|m| m.0),
            Some("latency")
        );
        assert_eq!(measured("Duration").map(|m| m.0), Some("latency"));
        assert_eq!(
            measured("HTTPCode_Target_5XX_Count").map(|m| m.0),
            Some("availability")
        );
        assert_eq!(measured("AWS/EC2/CPUUtilization"), None);
    }

    #[test]
    fn a_function_node_is_found_by_its_arn_with_an_alias() {
        let mut graph = CallGraph::new();
        graph.add_node("pricing");
        graph.set_resource(
            "pricing",
            "arn:aws:lambda:eu-west-1:123456789012:function:pricing:live",
        );
        graph.add_node("other");
        let resource = ResourceRef::parse("lambda:function/pricing").unwrap();
        assert_eq!(
            node_of(&graph, &resource, &BTreeMap::new()).as_deref(),
            Some("pricing")
        );
        let unknown = ResourceRef::parse("lambda:function/nowhere").unwrap();
        assert_eq!(node_of(&graph, &unknown, &BTreeMap::new()), None);
    }
}
