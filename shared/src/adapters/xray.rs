//! X-Ray as investigation's topology and metrics: the service graph of the incident's window
//! (GetServiceGraph) and each node's requests, latency and availability per period
//! (GetTimeSeriesServiceStatistics), both read through the SDK's paginators.

use crate::investigation::graph::{CallGraph, NodeKind};
use crate::investigation::model::{MetricTable, SeriesKey, metric, statistic};
use crate::investigation::ports::{MetricsSource, SourceError, TimeRange, TopologySource};
use async_trait::async_trait;
use aws_sdk_xray::Client;
use aws_sdk_xray::primitives::DateTime;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The IAM actions this adapter calls (checked against its source by a test).
pub const API_CALLS: &[&str] = &[
    "xray:GetServiceGraph",
    "xray:GetTimeSeriesServiceStatistics",
];

const SOURCE: &str = "X-Ray";

/// Pages read per call at most: a graph or a series longer than this is cut, never waited on.
const MAX_PAGES: usize = 10;

/// Nodes whose statistics are read at once.
const CONCURRENCY: usize = 4;

/// One period of one node: its requests, mean response time and share answered OK (both
/// unknown without requests).
#[derive(Clone, Copy, Debug)]
struct Point {
    at: i64,
    requests: f64,
    latency: Option<f64>,
    availability: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct XRayInvestigation {
    client: Client,
    /// The aggregation period of the statistics (X-Ray takes 60 or a multiple of 300).
    period_seconds: i32,
    /// How far back normal behaviour is read: the same window this long before (a day, so
    /// the time of day matches).
    normal_offset_seconds: i64,
    /// The client's region, which the service graph's ARNs are in (X-Ray is regional).
    region: Option<String>,
}

impl XRayInvestigation {
    pub fn new(client: Client) -> Self {
        Self {
            region: client.config().region().map(ToString::to_string),
            client,
            period_seconds: 60,
            normal_offset_seconds: 86_400,
        }
    }

    pub fn with_period_seconds(mut self, period_seconds: i32) -> Self {
        self.period_seconds = period_seconds;
        self
    }

    pub fn with_normal_offset_seconds(mut self, offset: i64) -> Self {
        self.normal_offset_seconds = offset;
        self
    }

    /// One node's series over `range`.
    async fn node_statistics(
        &self,
        node: &str,
        range: TimeRange,
    ) -> Result<Vec<Point>, SourceError> {
        let mut pages = self
            .client
            .get_time_series_service_statistics()
            .start_time(DateTime::from_secs(range.from))
            .end_time(DateTime::from_secs(range.to))
            .entity_selector_expression(service_selector(node))
            .period(self.period_seconds)
            .into_paginator()
            .send();
        let mut points = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(unavailable)?;
            for point in page.time_series_service_statistics() {
                let (Some(at), Some(summary)) =
                    (point.timestamp(), point.service_summary_statistics())
                else {
                    continue;
                };
                let total = summary.total_count().unwrap_or(0);
                if total <= 0 {
                    points.push(Point {
                        at: at.secs(),
                        requests: 0.0,
                        latency: None,
                        availability: None,
                    });
                    continue;
                }
                let total_f = total as f64;
                let latency = summary
                    .total_response_time()
                    .map(|seconds| seconds / total_f);
                let availability = summary.ok_count().map(|ok| ok as f64 / total_f * 100.0);
                points.push(Point {
                    at: at.secs(),
                    requests: total_f,
                    latency,
                    availability,
                });
            }
        }
        Ok(points)
    }

    async fn statistics(
        &self,
        nodes: &[String],
        range: TimeRange,
    ) -> Result<MetricTable, SourceError> {
        let per_node: Vec<(String, Vec<Point>)> = futures_util::stream::iter(nodes.iter().cloned())
            .map(|node| async move {
                let points = self.node_statistics(&node, range).await?;
                Ok::<_, SourceError>((node, points))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        let timestamps: BTreeSet<i64> = per_node
            .iter()
            .flat_map(|(_, points)| points.iter().map(|point| point.at))
            .collect();
        let timestamps: Vec<i64> = timestamps.into_iter().collect();
        let row: HashMap<i64, usize> = timestamps
            .iter()
            .enumerate()
            .map(|(index, at)| (*at, index))
            .collect();
        let mut series: BTreeMap<SeriesKey, Vec<Option<f64>>> = BTreeMap::new();
        for (node, points) in per_node {
            let mut requests = vec![None; timestamps.len()];
            let mut latency = vec![None; timestamps.len()];
            let mut availability = vec![None; timestamps.len()];
            for point in points {
                let index = row[&point.at];
                requests[index] = Some(point.requests);
                latency[index] = point.latency;
                availability[index] = point.availability;
            }
            series.insert(
                SeriesKey::new(&node, metric::REQUESTS, statistic::SUM),
                requests,
            );
            series.insert(
                SeriesKey::new(&node, metric::LATENCY, statistic::AVERAGE),
                latency,
            );
            series.insert(
                SeriesKey::new(&node, metric::AVAILABILITY, statistic::AVERAGE),
                availability,
            );
        }
        Ok(MetricTable::new(timestamps, series))
    }
}

/// X-Ray's selector of one service by name, its quotes and backslashes escaped.
fn service_selector(node: &str) -> String {
    format!(
        "service(\"{}\")",
        node.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// The ARN of a service whose X-Ray name is its resource's own name — a Lambda function or a
/// DynamoDB table — so an action can target it. The service graph carries no ARN: the account
/// is the service's, the region the client's (X-Ray is regional), the partition the region's.
fn resource_arn(service: &aws_sdk_xray::types::Service, region: Option<&str>) -> Option<String> {
    let (account, name, region) = (service.account_id()?, service.name()?, region?);
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    match service.r#type()? {
        "AWS::Lambda::Function" | "AWS::Lambda" => Some(format!(
            "arn:{partition}:lambda:{region}:{account}:function:{name}"
        )),
        "AWS::DynamoDB::Table" => Some(format!(
            "arn:{partition}:dynamodb:{region}:{account}:table/{name}"
        )),
        _ => None,
    }
}

fn unavailable<E: std::error::Error + 'static>(
    error: aws_sdk_xray::error::SdkError<E>,
) -> SourceError {
    SourceError::Unavailable {
        source_name: SOURCE,
        message: aws_sdk_xray::error::DisplayErrorContext(&error).to_string(),
    }
}

#[async_trait]
impl TopologySource for XRayInvestigation {
    async fn call_graph(&self, _node: &str, range: TimeRange) -> Result<CallGraph, SourceError> {
        let mut pages = self
            .client
            .get_service_graph()
            .start_time(DateTime::from_secs(range.from))
            .end_time(DateTime::from_secs(range.to))
            .into_paginator()
            .send();
        let mut services = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some(page) = pages.next().await else {
                break;
            };
            services.extend(page.map_err(unavailable)?.services().iter().cloned());
        }
        // Edges name their callee by reference id, which may be on another page.
        let names: HashMap<i32, &str> = services
            .iter()
            .filter_map(|service| Some((service.reference_id()?, service.name()?)))
            .collect();
        let mut graph = CallGraph::new();
        for service in &services {
            let Some(name) = service.name() else {
                continue;
            };
            graph.add_node(name);
            graph.set_kind(name, NodeKind::from_name(name));
            if let Some(arn) = resource_arn(service, self.region.as_deref()) {
                graph.set_resource(name, &arn);
            }
            for edge in service.edges() {
                if let Some(callee) = edge.reference_id().and_then(|id| names.get(&id)) {
                    graph.add_call(name, callee);
                }
            }
        }
        Ok(graph)
    }
}

#[async_trait]
impl MetricsSource for XRayInvestigation {
    async fn window(&self, nodes: &[String], range: TimeRange) -> Result<MetricTable, SourceError> {
        self.statistics(nodes, range).await
    }

    async fn normal(
        &self,
        nodes: &[String],
        range: TimeRange,
    ) -> Result<Option<MetricTable>, SourceError> {
        let earlier = TimeRange {
            from: range.from - self.normal_offset_seconds,
            to: range.to - self.normal_offset_seconds,
        };
        let table = self.statistics(nodes, earlier).await?;
        Ok((!table.is_empty()).then_some(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let source = include_str!("xray.rs");
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (call, action) in [
            (".get_service_graph()", "xray:GetServiceGraph"),
            (
                ".get_time_series_service_statistics()",
                "xray:GetTimeSeriesServiceStatistics",
            ),
        ] {
            assert!(source.contains(call), "{call}");
            assert!(API_CALLS.contains(&action), "{action}");
        }
        assert_eq!(
            source
                .matches("self\n            .client\n            .")
                .count(),
            API_CALLS.len()
        );
    }

    #[test]
    fn a_service_name_cannot_break_out_of_its_selector() {
        assert_eq!(service_selector("pet\"s\\"), "service(\"pet\\\"s\\\\\")");
    }
}
