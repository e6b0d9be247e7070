//! CloudWatch alarms in their three deliveries: EventBridge, the alarm's Lambda action, and SNS.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid, missing};
use super::{AlarmKind, Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use aws_lambda_events::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmState, CloudWatchAlarmStateValue,
};
use aws_lambda_events::sns::{CloudWatchAlarmPayload, SnsEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

pub const STATE_CHANGE_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
const EVENTBRIDGE: &str = "CloudWatch Alarm State Change event";
const LAMBDA_ACTION: &str = "CloudWatch alarm Lambda action payload";
const SNS: &str = "SNS alarm notification";

/// What every alarm delivery tells, once its envelope is taken off.
struct AlarmFacts {
    alarm_name: String,
    alarm_arn: Option<String>,
    state: String,
    previous_state: Option<String>,
    reason: String,
    reason_data: Option<String>,
    changed_at: DateTime<Utc>,
    description: Option<String>,
    kind: AlarmKind,
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: BTreeMap<String, String>,
    alarm_rule: Option<String>,
    account: Option<String>,
    region: Option<String>,
    source: SignalSource,
}

pub(super) fn from_eventbridge(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENTBRIDGE)?;
    let data: CloudWatchAlarmData<Value, Value> = decode(&envelope.detail, EVENTBRIDGE, "detail")?;
    let state = data
        .state
        .ok_or_else(|| missing(EVENTBRIDGE, "detail.state"))?;
    let shape = ConfigurationShape::read(&data.configuration);
    let facts = AlarmFacts {
        alarm_name: data.alarm_name,
        alarm_arn: envelope.resources.first().cloned(),
        state: state_name(&state.value).to_string(),
        previous_state: data
            .previous_state
            .as_ref()
            .map(|s| state_name(&s.value).to_string()),
        reason: state.reason.clone(),
        reason_data: reason_data_text(&state),
        changed_at: state.timestamp,
        description: shape.description.clone(),
        kind: shape.kind,
        namespace: shape.namespace,
        metric_name: shape.metric_name,
        dimensions: shape.dimensions,
        alarm_rule: shape.alarm_rule,
        account: envelope.account,
        region: envelope.region,
        source: SignalSource::AlarmEventBridge,
    };
    Ok(Normalised::Signals(vec![facts.into_signal()?]))
}

pub(super) fn from_lambda_action(event: &Value) -> Result<Normalised, NormaliseError> {
    let alarm: CloudWatchAlarm<Value, Value> = decode(event, LAMBDA_ACTION, "")?;
    let data = alarm.alarm_data;
    let state = data
        .state
        .ok_or_else(|| missing(LAMBDA_ACTION, "alarmData.state"))?;
    let shape = ConfigurationShape::read(&data.configuration);
    let facts = AlarmFacts {
        alarm_name: data.alarm_name,
        alarm_arn: alarm.alarm_arn,
        state: state_name(&state.value).to_string(),
        previous_state: data
            .previous_state
            .as_ref()
            .map(|s| state_name(&s.value).to_string()),
        reason: state.reason.clone(),
        reason_data: reason_data_text(&state),
        changed_at: state.timestamp,
        description: shape.description.clone(),
        kind: shape.kind,
        namespace: shape.namespace,
        metric_name: shape.metric_name,
        dimensions: shape.dimensions,
        alarm_rule: shape.alarm_rule,
        account: alarm.account_id,
        region: alarm.region,
        source: SignalSource::AlarmLambdaAction,
    };
    Ok(Normalised::Signals(vec![facts.into_signal()?]))
}

pub(super) fn from_sns(event: &Value) -> Result<Normalised, NormaliseError> {
    let sns: SnsEvent = decode(event, SNS, "")?;
    let mut signals = Vec::with_capacity(sns.records.len());
    for (index, record) in sns.records.iter().enumerate() {
        let field = format!("Records[{index}].Sns.Message");
        let message: Value = serde_json::from_str(&record.sns.message).map_err(|error| {
            NormaliseError::InvalidField {
                event: SNS,
                field: field.clone(),
                reason: format!("not an alarm notification in JSON: {error}"),
            }
        })?;
        let payload: CloudWatchAlarmPayload = decode(&message, SNS, &field)?;
        let changed_at = parse_alarm_time(&payload.state_change_time)
            .ok_or_else(|| invalid(SNS, &format!("{field}.StateChangeTime"), "not a timestamp"))?;
        let trigger = &payload.trigger;
        let dimensions = trigger
            .dimensions
            .iter()
            .map(|dimension| (dimension.name.clone(), dimension.value.clone()))
            .collect();
        let kind = if trigger.metrics.is_empty() {
            AlarmKind::Metric
        } else {
            AlarmKind::MetricMath
        };
        let facts = AlarmFacts {
            alarm_name: payload.alarm_name.clone(),
            alarm_arn: Some(payload.alarm_arn.clone()),
            state: payload.new_state_value.clone(),
            previous_state: Some(payload.old_state_value.clone()),
            reason: payload.new_state_reason.clone(),
            reason_data: None,
            changed_at,
            description: Some(payload.alarm_description.clone()).filter(|d| !d.is_empty()),
            kind,
            namespace: trigger.namespace.clone(),
            metric_name: trigger.metric_name.clone(),
            dimensions,
            alarm_rule: None,
            account: Some(payload.aws_account_id.clone()),
            region: Some(payload.region.clone()),
            source: SignalSource::AlarmSns,
        };
        signals.push(facts.into_signal()?);
    }
    if signals.is_empty() {
        return Err(missing(SNS, "Records[0]"));
    }
    Ok(Normalised::Signals(signals))
}

fn state_name(value: &CloudWatchAlarmStateValue) -> &'static str {
    match value {
        CloudWatchAlarmStateValue::Ok => "OK",
        CloudWatchAlarmStateValue::Alarm => "ALARM",
        CloudWatchAlarmStateValue::InsufficientData => "INSUFFICIENT_DATA",
        // The enum is non-exhaustive; a state AWS adds later is recorded, never acted on.
        _ => "UNKNOWN",
    }
}

fn reason_data_text(state: &CloudWatchAlarmState<Value>) -> Option<String> {
    match state.reason_data.as_ref()? {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// CloudWatch writes `+0000` offsets without a colon; RFC 3339 parsers refuse them.
fn parse_alarm_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// What an alarm's `configuration` says about its kind and the metric behind it.
struct ConfigurationShape {
    kind: AlarmKind,
    description: Option<String>,
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: BTreeMap<String, String>,
    alarm_rule: Option<String>,
}

impl ConfigurationShape {
    fn read(configuration: &Value) -> Self {
        let description = configuration
            .get("description")
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_string);
        let alarm_rule = configuration
            .get("alarmRule")
            .and_then(Value::as_str)
            .map(str::to_string);
        let metrics = configuration
            .get("metrics")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let expressions: Vec<&str> = metrics
            .iter()
            .filter_map(|metric| metric.get("expression").and_then(Value::as_str))
            .collect();
        let kind = if alarm_rule.is_some() {
            AlarmKind::Composite
        } else if expressions
            .iter()
            .any(|expression| expression.contains("ANOMALY_DETECTION_BAND"))
        {
            AlarmKind::AnomalyDetection
        } else if expressions.is_empty() {
            AlarmKind::Metric
        } else {
            AlarmKind::MetricMath
        };
        // The metric that names the resource: the first one that carries dimensions.
        let metric = metrics
            .iter()
            .filter_map(|metric| metric.pointer("/metricStat/metric"))
            .find(|metric| {
                metric
                    .get("dimensions")
                    .and_then(Value::as_object)
                    .is_some_and(|dimensions| !dimensions.is_empty())
            })
            .or_else(|| {
                metrics
                    .iter()
                    .find_map(|metric| metric.pointer("/metricStat/metric"))
            });
        let text = |key: &str| {
            metric
                .and_then(|metric| metric.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let dimensions = metric
            .and_then(|metric| metric.get("dimensions"))
            .and_then(Value::as_object)
            .map(|dimensions| {
                dimensions
                    .iter()
                    .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            kind,
            description,
            namespace: text("namespace"),
            metric_name: text("name"),
            dimensions,
            alarm_rule,
        }
    }
}

impl AlarmFacts {
    fn into_signal(self) -> Result<Signal, NormaliseError> {
        let event = match self.source {
            SignalSource::AlarmLambdaAction => LAMBDA_ACTION,
            SignalSource::AlarmSns => SNS,
            _ => EVENTBRIDGE,
        };
        if self.alarm_name.trim().is_empty() {
            return Err(invalid(event, "alarmName", "empty"));
        }
        let resource = match resource_from_dimensions(&self.dimensions)
            .map_err(|(field, reason)| invalid(event, &field, reason))?
        {
            Some(resource) => resource,
            None => ResourceRef::checked("cloudwatch", "alarm", &self.alarm_name)
                .map_err(|error| invalid(event, "alarmName", error.reason))?,
        };
        let metric = match (&self.namespace, &self.metric_name) {
            (Some(namespace), Some(name)) => Some(format!("{namespace}/{name}")),
            (None, Some(name)) => Some(name.clone()),
            _ => None,
        };
        let signature = match (self.kind, &metric) {
            (AlarmKind::Metric | AlarmKind::AnomalyDetection, Some(metric)) => {
                format!("alarm:{metric}")
            }
            (AlarmKind::Composite, _) => format!("alarm-composite:{}", self.alarm_name),
            _ => format!("alarm-math:{}", self.alarm_name),
        };
        let effect = match self.state.as_str() {
            "ALARM" => SignalEffect::Opens,
            "OK" => SignalEffect::Clears,
            _ => SignalEffect::Informs,
        };
        // One state transition of one alarm is one source event, whichever way it arrived: the
        // EventBridge event, the Lambda action and the SNS message of the same transition dedupe.
        let alarm_key = self
            .alarm_arn
            .clone()
            .unwrap_or_else(|| self.alarm_name.clone());
        let source_event_id = format!(
            "alarm:{alarm_key}:{}:{}",
            self.state,
            self.changed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        let mut evidence = vec![Evidence::new(
            "alarm.state",
            "alarm state",
            format!(
                "alarm `{}` is {} since {}{}",
                self.alarm_name,
                self.state,
                self.changed_at.to_rfc3339(),
                self.previous_state
                    .as_ref()
                    .map(|previous| format!(" (was {previous})"))
                    .unwrap_or_default()
            ),
        )];
        evidence.push(Evidence::new("alarm.reason", "alarm reason", &self.reason));
        if let Some(metric) = &metric {
            let dimensions: Vec<String> = self
                .dimensions
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            evidence.push(Evidence::new(
                "alarm.metric",
                "metric",
                format!(
                    "{metric} [{}] ({:?} alarm)",
                    dimensions.join(", "),
                    self.kind
                ),
            ));
        }
        if let Some(rule) = &self.alarm_rule {
            evidence.push(Evidence::new("alarm.rule", "composite alarm rule", rule));
        }
        if let Some(data) = self.reason_data.as_deref().and_then(datapoints_summary) {
            evidence.push(Evidence::new("alarm.datapoints", "datapoints", data));
        }
        if let Some(description) = &self.description {
            evidence.push(Evidence::new(
                "alarm.description",
                "alarm description",
                description,
            ));
        }
        Ok(Signal {
            source_event_id,
            source: self.source,
            effect,
            signature,
            resource,
            account: self.account,
            region: self.region,
            observed_at: self.changed_at,
            title: format!("{} is {}", self.alarm_name, self.state),
            state: self.state,
            alarm_kind: Some(self.kind),
            alarm_name: Some(self.alarm_name.clone()),
            metric,
            severity_hint: None,
            principal: None,
            correlation_hint: None,
            origin: Some(format!("alarm:{alarm_key}")),
            evidence,
        })
    }
}

/// The threshold and recent datapoints from an alarm's `reasonData`, which is itself JSON text.
fn datapoints_summary(reason_data: &str) -> Option<String> {
    let data: Value = serde_json::from_str(reason_data).ok()?;
    let threshold = data.get("threshold").and_then(Value::as_f64);
    let recent: Vec<String> = data
        .get("recentDatapoints")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_f64)
        .map(|value| format!("{value}"))
        .collect();
    if recent.is_empty() && threshold.is_none() {
        return None;
    }
    Some(format!(
        "recent datapoints [{}], threshold {}",
        recent.join(", "),
        threshold.map_or("unknown".to_string(), |t| t.to_string())
    ))
}

/// Maps well-known CloudWatch dimensions to the resource an action would target. Dimension
/// values are written by whoever publishes the metric, so the first well-known one is checked
/// against its kind's grammar, and one outside it is an error naming the dimension (never a
/// silent fall-back to another resource).
pub(crate) fn resource_from_dimensions(
    dimensions: &BTreeMap<String, String>,
) -> Result<Option<ResourceRef>, (String, &'static str)> {
    let get = |name: &str| dimensions.get(name).map(String::as_str);
    let candidates = [
        get("InstanceId").map(|id| ("InstanceId", "ec2", "instance", id.to_string())),
        match (get("ClusterName"), get("ServiceName")) {
            (Some(cluster), Some(service)) => Some((
                "ClusterName/ServiceName",
                "ecs",
                "service",
                format!("{cluster}/{service}"),
            )),
            _ => None,
        },
        get("FunctionName").map(|name| ("FunctionName", "lambda", "function", name.to_string())),
        get("AutoScalingGroupName").map(|name| {
            (
                "AutoScalingGroupName",
                "autoscaling",
                "group",
                name.to_string(),
            )
        }),
        get("TableName").map(|name| ("TableName", "dynamodb", "table", name.to_string())),
        get("DBInstanceIdentifier").map(|id| ("DBInstanceIdentifier", "rds", "db", id.to_string())),
        get("LoadBalancer").map(|name| {
            (
                "LoadBalancer",
                "elasticloadbalancing",
                "loadbalancer",
                name.to_string(),
            )
        }),
        get("QueueName").map(|name| ("QueueName", "sqs", "queue", name.to_string())),
    ];
    match candidates.into_iter().flatten().next() {
        Some((dimension, service, kind, id)) => ResourceRef::checked(service, kind, &id)
            .map(Some)
            .map_err(|error| (format!("dimensions.{dimension}"), error.reason)),
        None => Ok(None),
    }
}
