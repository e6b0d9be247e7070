//! The CloudWatch adapter for the reconciler's `AlarmSource` port: DescribeAlarms for the metric
//! and composite alarms in ALARM, every page read.

use crate::reconcile::{AlarmSnapshot, AlarmSource, AlarmSourceError, MetricQuery};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, Dimension, MetricAlarm, StateValue};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The IAM actions this adapter's calls need (checked by tests/tests/wiring.rs).
pub const API_CALLS: &[&str] = &["cloudwatch:DescribeAlarms"];

/// DescribeAlarms' largest page.
const PAGE_SIZE: i32 = 100;
/// A guard against a peer that keeps handing out page tokens: 100 pages are 10,000 alarms in ALARM.
const MAX_PAGES: usize = 100;

#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn time_of(time: Option<&aws_sdk_cloudwatch::primitives::DateTime>) -> Option<DateTime<Utc>> {
    let time = time?;
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn dimensions_of(dimensions: &[Dimension]) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .filter_map(|dimension| {
            Some((
                dimension.name()?.to_string(),
                dimension.value()?.to_string(),
            ))
        })
        .collect()
}

/// The instant the alarm entered its state. `StateTransitionedTimestamp` is exactly that;
/// `StateUpdatedTimestamp` also moves when only the evaluation state changes, so it is the
/// fallback for responses that lack the first.
fn state_changed_at(
    transitioned: Option<&aws_sdk_cloudwatch::primitives::DateTime>,
    updated: Option<&aws_sdk_cloudwatch::primitives::DateTime>,
) -> Option<DateTime<Utc>> {
    time_of(transitioned).or_else(|| time_of(updated))
}

fn metric_snapshot(alarm: &MetricAlarm) -> Option<AlarmSnapshot> {
    Some(AlarmSnapshot {
        name: alarm.alarm_name()?.to_string(),
        arn: alarm.alarm_arn()?.to_string(),
        state: alarm.state_value()?.as_str().to_string(),
        state_reason: alarm.state_reason().unwrap_or_default().to_string(),
        state_reason_data: alarm.state_reason_data().map(str::to_string),
        state_changed_at: state_changed_at(
            alarm.state_transitioned_timestamp(),
            alarm.state_updated_timestamp(),
        )?,
        description: alarm
            .alarm_description()
            .filter(|text| !text.is_empty())
            .map(str::to_string),
        namespace: alarm.namespace().map(str::to_string),
        metric_name: alarm.metric_name().map(str::to_string),
        dimensions: dimensions_of(alarm.dimensions()),
        metrics: alarm
            .metrics()
            .iter()
            .map(|query| {
                let metric = query.metric_stat().and_then(|stat| stat.metric());
                MetricQuery {
                    id: query.id().unwrap_or_default().to_string(),
                    expression: query.expression().map(str::to_string),
                    namespace: metric.and_then(|m| m.namespace()).map(str::to_string),
                    metric_name: metric.and_then(|m| m.metric_name()).map(str::to_string),
                    dimensions: metric
                        .map(|m| dimensions_of(m.dimensions()))
                        .unwrap_or_default(),
                }
            })
            .collect(),
        alarm_rule: None,
    })
}

fn composite_snapshot(alarm: &CompositeAlarm) -> Option<AlarmSnapshot> {
    Some(AlarmSnapshot {
        name: alarm.alarm_name()?.to_string(),
        arn: alarm.alarm_arn()?.to_string(),
        state: alarm.state_value()?.as_str().to_string(),
        state_reason: alarm.state_reason().unwrap_or_default().to_string(),
        state_reason_data: alarm.state_reason_data().map(str::to_string),
        state_changed_at: state_changed_at(
            alarm.state_transitioned_timestamp(),
            alarm.state_updated_timestamp(),
        )?,
        description: alarm
            .alarm_description()
            .filter(|text| !text.is_empty())
            .map(str::to_string),
        alarm_rule: Some(alarm.alarm_rule().unwrap_or_default().to_string()),
        ..AlarmSnapshot::default()
    })
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded")
    )
}

#[async_trait]
impl AlarmSource for CloudWatchAlarms {
    async fn alarms_in_alarm(&self) -> Result<Vec<AlarmSnapshot>, AlarmSourceError> {
        let mut alarms = Vec::new();
        let mut pages = self
            .client
            .describe_alarms()
            .state_value(StateValue::Alarm)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(PAGE_SIZE)
            .into_paginator()
            .send();
        for _ in 0..MAX_PAGES {
            let Some(page) = pages.next().await else {
                return Ok(alarms);
            };
            let page = page.map_err(|error| {
                let message = aws_sdk_cloudwatch::error::DisplayErrorContext(&error).to_string();
                if is_throttling(error.code()) {
                    AlarmSourceError::Throttled(message)
                } else {
                    AlarmSourceError::Unavailable(message)
                }
            })?;
            let before = alarms.len();
            alarms.extend(page.metric_alarms().iter().filter_map(metric_snapshot));
            alarms.extend(
                page.composite_alarms()
                    .iter()
                    .filter_map(composite_snapshot),
            );
            let described = page.metric_alarms().len() + page.composite_alarms().len();
            if alarms.len() - before < described {
                tracing::warn!(
                    skipped = described - (alarms.len() - before),
                    "alarms without a name, ARN, state or state time were skipped"
                );
            }
        }
        if pages.next().await.is_none() {
            return Ok(alarms);
        }
        Err(AlarmSourceError::Unavailable(format!(
            "DescribeAlarms still had pages after {MAX_PAGES}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let source = include_str!("cloudwatch.rs");
        let calls: Vec<String> = source
            .split("client")
            .skip(1)
            .filter_map(|after| after.trim_start().strip_prefix('.'))
            .filter_map(|rest| {
                let operation: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                rest[operation.len()..].starts_with("()").then(|| {
                    operation
                        .split('_')
                        .map(|word| {
                            let mut chars = word.chars();
                            chars
                                .next()
                                .map(|first| {
                                    first.to_ascii_uppercase().to_string() + chars.as_str()
                                })
                                .unwrap_or_default()
                        })
                        .collect::<String>()
                })
            })
            .map(|operation| format!("cloudwatch:{operation}"))
            .collect();
        assert_eq!(
            calls, API_CALLS,
            "adapters/cloudwatch.rs calls differ from its API_CALLS"
        );
    }

    #[test]
    fn the_transition_time_wins_over_the_update_time() {
        let transitioned = aws_sdk_cloudwatch::primitives::DateTime::from_secs(100);
        let updated = aws_sdk_cloudwatch::primitives::DateTime::from_secs(200);
        assert_eq!(
            state_changed_at(Some(&transitioned), Some(&updated)).map(|t| t.timestamp()),
            Some(100)
        );
        assert_eq!(
            state_changed_at(None, Some(&updated)).map(|t| t.timestamp()),
            Some(200)
        );
    }
}
