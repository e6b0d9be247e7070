//! The investigation as the intake path runs it: the alarming resource's own metrics, which
//! graph node it is, what its alarm measures, and the stage on the configured sources, all
//! inside one deadline.

use super::findings::{Findings, MissingSource};
use super::graph::CallGraph;
use super::localise::LocaliseConfig;
use super::model::{Target, metric, statistic};
use super::ports::{
    ChangeSource, LogAnomalySource, MetricsSource, ResourceMetricsSource, TimeRange, TopologySource,
};
use super::resource_metrics::{MetricShift, metrics_to_read, summarise};
use super::stage::{
    InvestigationLimits, bounded, changes_on_target, investigate_on, missing, window_of,
};
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

/// Whether a function investigates before it analyses: `on` (the default) or `off`.
pub const INVESTIGATION_ENV: &str = "ARGUS_INVESTIGATION";
/// The investigation's deadline in milliseconds (default 5000, 100 to 20000).
pub const INVESTIGATION_DEADLINE_MS_ENV: &str = "ARGUS_INVESTIGATION_DEADLINE_MS";

/// How a function investigates, from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvestigationSetting {
    Off,
    On { deadline: std::time::Duration },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvestigationSettingError {
    #[error("environment variable {INVESTIGATION_ENV} is `{0}`; expected `on` or `off`")]
    Switch(String),
    #[error(
        "environment variable {INVESTIGATION_DEADLINE_MS_ENV} is `{0}`; expected milliseconds from 100 to 20000"
    )]
    Deadline(String),
}

impl InvestigationSetting {
    pub fn from_env(
        read: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, InvestigationSettingError> {
        let set = |name: &str| {
            read(name)
                .map(|value| value.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match set(INVESTIGATION_ENV)
            .map(|value| value.to_ascii_lowercase())
            .as_deref()
        {
            Some("off") => return Ok(Self::Off),
            None | Some("on") => {}
            Some(other) => return Err(InvestigationSettingError::Switch(other.to_owned())),
        }
        let deadline = match set(INVESTIGATION_DEADLINE_MS_ENV) {
            None => InvestigationLimits::default().deadline,
            Some(text) => match text.parse::<u64>() {
                Ok(ms) if (100..=20_000).contains(&ms) => std::time::Duration::from_millis(ms),
                _ => return Err(InvestigationSettingError::Deadline(text)),
            },
        };
        Ok(Self::On { deadline })
    }
}

/// The period of the resource metrics read: one minute, the finest every AWS namespace
/// publishes at (detailed monitoring); a basic-monitoring EC2 metric answers every fifth.
const RESOURCE_METRIC_PERIOD_SECONDS: i32 = 60;

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
    /// The alarming resource's own metrics (CloudWatch); without it only latency and error
    /// alarms are investigated, by localisation.
    pub resource_metrics: Option<&'a dyn ResourceMetricsSource>,
    /// The log analyzer's anomalies on the alarming resource and the top candidates.
    pub log_anomalies: Option<&'a dyn LogAnomalySource>,
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

impl SourcesInvestigator<'_> {
    /// The alarming resource's own metrics, summarised; what could not be read says why.
    async fn resource_metrics(
        &self,
        signal: &Signal,
        deadline: tokio::time::Instant,
    ) -> (Vec<MetricShift>, Option<MissingSource>) {
        let Some(source) = self.resource_metrics else {
            return (Vec::new(), None);
        };
        let specs = metrics_to_read(
            &signal.resource,
            signal.metric.as_deref(),
            RESOURCE_METRIC_PERIOD_SECONDS,
        );
        if specs.is_empty() {
            return (Vec::new(), None);
        }
        let alert_time = signal.observed_at.timestamp();
        let range = TimeRange {
            from: alert_time - self.limits.look_back_seconds,
            to: alert_time + self.limits.look_ahead_seconds,
        };
        match bounded(deadline, source.series(&specs, range)).await {
            Ok(series) => (
                series
                    .iter()
                    .map(|series| summarise(series, alert_time))
                    .collect(),
                None,
            ),
            Err(reason) => (Vec::new(), Some(missing("resource_metrics", reason))),
        }
    }

    /// The log anomalies on the alarming resource and on the top candidates whose resource the
    /// graph records, within the same deadline.
    async fn add_log_anomalies(
        &self,
        findings: &mut Findings,
        signal: &Signal,
        deadline: tokio::time::Instant,
    ) {
        let Some(source) = self.log_anomalies else {
            return;
        };
        let mut resources = vec![(findings.target.node.clone(), signal.resource.clone())];
        resources.extend(
            findings
                .candidates
                .iter()
                .take(self.limits.change_candidates)
                .filter_map(|candidate| {
                    let resource = resource_from_arn(candidate.resource.as_deref()?)?;
                    Some((candidate.node.clone(), resource))
                })
                .filter(|(_, resource)| *resource != signal.resource),
        );
        match bounded(
            deadline,
            source.log_anomalies(&resources, window_of(&findings.target, &self.limits)),
        )
        .await
        {
            Ok(logs) => findings.logs = logs,
            Err(reason) => findings.missing.push(missing("logs", reason)),
        }
    }

    /// Localisation around the alarming node: the graph, then the stage on it.
    async fn localised(
        &self,
        signal: &Signal,
        guess: Target,
        deadline: tokio::time::Instant,
    ) -> Result<Findings, NotInvestigated> {
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

#[async_trait]
impl Investigator for SourcesInvestigator<'_> {
    /// Every alarm's resource has its own metrics read (when a source for them is configured);
    /// an alarm on latency or errors is also localised on the dependency graph. Without either
    /// there is nothing to investigate.
    async fn investigate(&self, signal: &Signal) -> Result<Findings, NotInvestigated> {
        if signal.alarm_name.is_none() {
            return Err(NotInvestigated::NotAnAlarm);
        }
        let metric_name = signal.metric.clone().unwrap_or_default();
        let measured = measured(&metric_name);
        if measured.is_none() && self.resource_metrics.is_none() {
            return Err(NotInvestigated::MetricNotLocalisable(metric_name));
        }
        let deadline = tokio::time::Instant::now() + self.limits.deadline;
        let (metric_kind, statistic_kind) =
            measured.unwrap_or((metric_name.as_str(), statistic::AVERAGE));
        let guess = Target {
            node: signal.resource.id().to_string(),
            metric: metric_kind.to_string(),
            statistic: statistic_kind.to_string(),
            alert_time: signal.observed_at.timestamp(),
        };
        let localised = async {
            match measured {
                Some(_) => Some(self.localised(signal, guess.clone(), deadline).await),
                None => None,
            }
        };
        let ((shifts, metrics_missing), localised) =
            tokio::join!(self.resource_metrics(signal, deadline), localised);
        let not_localised = |reason: NotInvestigated| async move {
            let mut findings =
                changes_on_target(self.changes, &guess, &self.limits, deadline).await;
            findings
                .missing
                .insert(0, missing("localisation", reason.to_string()));
            findings
        };
        let mut findings = match localised {
            Some(Ok(findings)) => findings,
            // Without the resource's own metrics, a graph that does not hold the resource
            // leaves nothing to report.
            Some(Err(reason)) if self.resource_metrics.is_none() => return Err(reason),
            Some(Err(reason)) => not_localised(reason).await,
            None => not_localised(NotInvestigated::MetricNotLocalisable(metric_name.clone())).await,
        };
        findings.resource_metrics = shifts;
        findings.resource = Some(signal.resource.clone());
        findings.missing.extend(metrics_missing);
        self.add_log_anomalies(&mut findings, signal, deadline)
            .await;
        Ok(findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_on_by_default_and_refuses_what_it_cannot_read() {
        let env = |pairs: &[(&'static str, &str)]| {
            let pairs: Vec<(&'static str, String)> = pairs
                .iter()
                .map(|(key, value)| (*key, (*value).to_owned()))
                .collect();
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.clone())
            }
        };
        assert_eq!(
            InvestigationSetting::from_env(env(&[])),
            Ok(InvestigationSetting::On {
                deadline: std::time::Duration::from_secs(5)
            })
        );
        assert_eq!(
            InvestigationSetting::from_env(env(&[(INVESTIGATION_ENV, " OFF ")])),
            Ok(InvestigationSetting::Off)
        );
        assert_eq!(
            InvestigationSetting::from_env(env(&[(INVESTIGATION_DEADLINE_MS_ENV, "1500")])),
            Ok(InvestigationSetting::On {
                deadline: std::time::Duration::from_millis(1500)
            })
        );
        assert!(matches!(
            InvestigationSetting::from_env(env(&[(INVESTIGATION_ENV, "yes")])),
            Err(InvestigationSettingError::Switch(_))
        ));
        for bad in ["0", "99", "20001", "5s", "-1"] {
            assert!(
                matches!(
                    InvestigationSetting::from_env(env(&[(INVESTIGATION_DEADLINE_MS_ENV, bad)])),
                    Err(InvestigationSettingError::Deadline(_))
                ),
                "{bad}"
            );
        }
    }

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
