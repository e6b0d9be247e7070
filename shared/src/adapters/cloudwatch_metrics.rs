//! CloudWatch as investigation's source of the alarming resource's own metrics: one
//! GetMetricData request for every metric read (its pages through the SDK's paginator).

use crate::investigation::ports::{ResourceMetricsSource, SourceError, TimeRange};
use crate::investigation::resource_metrics::{MetricSeries, MetricSpec};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use std::collections::BTreeMap;

/// The IAM actions this adapter calls (checked against its source by a test).
pub const API_CALLS: &[&str] = &["cloudwatch:GetMetricData"];

const SOURCE: &str = "CloudWatch";

/// A look-back of an hour and a quarter at one minute is 75 points a metric; a handful of
/// metrics fits one page, and a peer that keeps handing out tokens is cut short here.
const MAX_PAGES: usize = 5;

/// One GetMetricData request takes at most 500 queries.
const MAX_QUERIES: usize = 500;

#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn query(spec: &MetricSpec) -> MetricDataQuery {
    let metric = spec
        .dimensions
        .iter()
        .fold(
            Metric::builder()
                .namespace(&spec.namespace)
                .metric_name(&spec.metric_name),
            |metric, (name, value)| {
                metric.dimensions(Dimension::builder().name(name).value(value).build())
            },
        )
        .build();
    MetricDataQuery::builder()
        .id(&spec.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(spec.period_seconds)
                .stat(&spec.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

fn unavailable(message: String) -> SourceError {
    SourceError::Unavailable {
        source_name: SOURCE,
        message,
    }
}

#[async_trait]
impl ResourceMetricsSource for CloudWatchMetrics {
    async fn series(
        &self,
        specs: &[MetricSpec],
        range: TimeRange,
    ) -> Result<Vec<MetricSeries>, SourceError> {
        let specs = &specs[..specs.len().min(MAX_QUERIES)];
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let mut points: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
        let mut partial: BTreeMap<&str, bool> = BTreeMap::new();
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(specs.iter().map(query).collect()))
            .start_time(DateTime::from_secs(range.from))
            .end_time(DateTime::from_secs(range.to))
            .scan_by(ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        let mut pages_read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| {
                unavailable(aws_sdk_cloudwatch::error::DisplayErrorContext(&error).to_string())
            })?;
            for result in page.metric_data_results() {
                let Some(spec) = specs
                    .iter()
                    .find(|spec| Some(spec.id.as_str()) == result.id())
                else {
                    continue;
                };
                // The documentation pairs Timestamps[x] with Values[x]; a reply where the two
                // differ in length is cut to the pairs it has.
                points.entry(spec.id.as_str()).or_default().extend(
                    result
                        .timestamps()
                        .iter()
                        .zip(result.values())
                        .map(|(time, value)| (time.secs(), *value)),
                );
                // PartialData on a page that another follows is the paginator's business: the
                // last page's word for the metric counts.
                let complete = matches!(result.status_code(), Some(StatusCode::Complete) | None)
                    && result.timestamps().len() == result.values().len();
                partial.insert(spec.id.as_str(), !complete);
                if matches!(result.status_code(), Some(StatusCode::Forbidden)) {
                    return Err(unavailable(format!(
                        "GetMetricData refused {} {}: Forbidden",
                        spec.namespace, spec.metric_name
                    )));
                }
            }
            pages_read += 1;
            if pages_read == MAX_PAGES {
                break;
            }
        }
        let cut_short = pages_read == MAX_PAGES;
        Ok(specs
            .iter()
            .map(|spec| {
                let mut series = points.remove(spec.id.as_str()).unwrap_or_default();
                series.sort_by_key(|(time, _)| *time);
                MetricSeries {
                    spec: spec.clone(),
                    points: series,
                    complete: !cut_short
                        && !partial.get(spec.id.as_str()).copied().unwrap_or(false),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let source = include_str!("cloudwatch_metrics.rs");
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        assert!(source.contains(".get_metric_data()"));
        assert_eq!(
            source.matches(".client\n            .").count(),
            API_CALLS.len()
        );
    }
}
