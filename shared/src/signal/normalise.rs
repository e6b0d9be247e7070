//! Entry point of normalisation: recognises the event's shape and hands it to its normaliser.

use super::{
    Signal, alarm, argus_events, autoscaling, cloudtrail, ec2, ecs, health, rds, spot, ssm,
};
use crate::config::SignalConfig;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What an event turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalised {
    /// One or more signals (an SNS batch or a CloudTrail call on several resources gives several).
    Signals(Vec<Signal>),
    /// A recognised event that Argus deliberately does nothing with, and why.
    Ignored { reason: String },
}

/// Why an event could not be normalised. The message names what is wrong; the raw event is
/// kept by the caller (the Lambda's failure destination, or the CLI's error output).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("the event is not valid JSON: {0}")]
    Malformed(String),
    #[error("the event must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error(
        "unsupported event: detail-type `{detail_type}` from source `{source_name}`; Argus accepts \
         CloudWatch Alarm State Change, AWS API Call via CloudTrail, EC2 Instance State-change \
         Notification, AWS Health Event, ECS Deployment State Change, ECS Service Action, ECS \
         Task State Change, RDS DB Instance Event, RDS DB Cluster Event, EC2 Spot Instance \
         Interruption Warning, EC2 Instance Rebalance Recommendation, EC2 Instance Launch \
         Unsuccessful (and Successful), Parameter Store Change, Argus Log Anomaly and Argus \
         External Alert"
    )]
    UnknownDetailType {
        detail_type: String,
        source_name: String,
    },
    #[error(
        "unrecognised event: expected an EventBridge event (with `detail-type`), the payload of \
         an alarm's Lambda action (with `alarmData`), an SNS notification or a CloudTrail log file \
         (with `Records`), or one CloudTrail record (with `eventName`, `eventSource`, `eventTime`); \
         {hint}"
    )]
    UnknownShape { hint: String },
    /// A detail-type Argus trusts only from one sender arrived from another: anyone with
    /// `events:PutEvents` can choose a detail-type, but only AWS can send an `aws.*` source
    /// and only Argus' own roles may put on the Argus bus.
    #[error(
        "untrusted event: detail-type `{detail_type}` came from source `{source_name}`, but Argus \
         accepts it only from {expected}"
    )]
    UntrustedSource {
        detail_type: String,
        source_name: String,
        expected: String,
    },
    #[error("{event}: missing field `{field}`")]
    MissingField { event: &'static str, field: String },
    #[error("{event}: field `{field}` is invalid: {reason}")]
    InvalidField {
        event: &'static str,
        field: String,
        reason: String,
    },
}

impl NormaliseError {
    /// The stable name the Lambda reports as `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::UnknownDetailType { .. } | Self::UnknownShape { .. } => "UnsupportedEvent",
            Self::UntrustedSource { .. } => "UntrustedSource",
            _ => "InvalidEvent",
        }
    }
}

/// Normalises an event given as JSON text.
pub fn normalise_str(text: &str, config: &SignalConfig) -> Result<Normalised, NormaliseError> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| NormaliseError::Malformed(error.to_string()))?;
    normalise(&value, config)
}

/// Normalises one delivered event into signals, each bounded (`signal::bounds`): an over-long
/// alarm name is refused, display text cut with a marker, over-long identities hashed.
pub fn normalise(event: &Value, config: &SignalConfig) -> Result<Normalised, NormaliseError> {
    super::bounds::bound(normalise_unbounded(event, config)?)
}

fn normalise_unbounded(event: &Value, config: &SignalConfig) -> Result<Normalised, NormaliseError> {
    let object = event.as_object().ok_or(NormaliseError::NotAnObject {
        found: json_kind(event),
    })?;
    if let Some(detail_type) = object.get("detail-type") {
        let detail_type = detail_type
            .as_str()
            .ok_or_else(|| invalid("EventBridge event", "detail-type", "not a string"))?;
        let source = object.get("source").and_then(Value::as_str).unwrap_or("");
        check_source(detail_type, source)?;
        return match detail_type {
            alarm::STATE_CHANGE_DETAIL_TYPE => alarm::from_eventbridge(event),
            "CloudWatch Alarm Configuration Change" => Ok(Normalised::Ignored {
                reason: "alarm configuration changes are not incidents".to_string(),
            }),
            cloudtrail::DETAIL_TYPE => cloudtrail::from_eventbridge(event, config),
            ec2::DETAIL_TYPE => ec2::from_eventbridge(event),
            health::DETAIL_TYPE => health::from_eventbridge(event),
            argus_events::LOG_ANOMALY_DETAIL_TYPE => argus_events::log_anomaly(event),
            argus_events::EXTERNAL_ALERT_DETAIL_TYPE => argus_events::external_alert(event),
            ecs::DEPLOYMENT_DETAIL_TYPE => ecs::deployment(event),
            ecs::SERVICE_ACTION_DETAIL_TYPE => ecs::service_action(event),
            ecs::TASK_DETAIL_TYPE => ecs::task(event),
            rds::INSTANCE_DETAIL_TYPE => rds::from_eventbridge(event, false),
            rds::CLUSTER_DETAIL_TYPE => rds::from_eventbridge(event, true),
            spot::INTERRUPTION_DETAIL_TYPE => spot::from_eventbridge(event, true),
            spot::REBALANCE_DETAIL_TYPE => spot::from_eventbridge(event, false),
            autoscaling::LAUNCH_UNSUCCESSFUL_DETAIL_TYPE => autoscaling::launch(event, false),
            autoscaling::LAUNCH_SUCCESSFUL_DETAIL_TYPE => autoscaling::launch(event, true),
            ssm::PARAMETER_DETAIL_TYPE => ssm::parameter_change(event),
            other => Err(NormaliseError::UnknownDetailType {
                detail_type: other.to_string(),
                source_name: source.to_string(),
            }),
        };
    }
    if object.contains_key("alarmData") {
        return alarm::from_lambda_action(event);
    }
    if let Some(records) = object.get("Records").and_then(Value::as_array) {
        let first = records.first().and_then(Value::as_object);
        let is_sns = first.is_some_and(|record| {
            record.get("EventSource").and_then(Value::as_str) == Some("aws:sns")
                || record.contains_key("Sns")
        });
        if is_sns {
            return alarm::from_sns(event);
        }
        let is_cloudtrail_log = first.is_some_and(|record| record.contains_key("eventName"));
        if is_cloudtrail_log {
            return cloudtrail::from_log_records(records, config);
        }
        return Err(NormaliseError::UnknownShape {
            hint: "`Records` holds neither SNS records nor CloudTrail records".to_string(),
        });
    }
    if cloudtrail::is_record(object) {
        return cloudtrail::from_log_records(std::slice::from_ref(event), config);
    }
    let mut keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
    keys.sort_unstable();
    Err(NormaliseError::UnknownShape {
        hint: format!("its top-level fields are [{}]", keys.join(", ")),
    })
}

/// Who may send a detail-type: one exact source, or any source under a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedSource {
    Exactly(&'static str),
    /// CloudTrail's events come from `aws.<service>` of the service called.
    AnyUnder(&'static str),
}

impl TrustedSource {
    fn admits(self, source: &str) -> bool {
        match self {
            Self::Exactly(expected) => source == expected,
            Self::AnyUnder(prefix) => source.len() > prefix.len() && source.starts_with(prefix),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Exactly(expected) => format!("source `{expected}`"),
            Self::AnyUnder(prefix) => format!("a source `{prefix}<service>` (AWS itself)"),
        }
    }
}

/// The only source each accepted detail-type may come from. `aws.*` sources cannot be put by
/// anyone but AWS (EventBridge refuses them from `PutEvents`); Argus' own sources travel on the
/// Argus bus, whose resource policy admits only Argus' own roles, and those roles' IAM pins
/// `events:source` to exactly these names. terraform/events.tf matches each rule on the same
/// source (checked by tests/tests/wiring.rs).
pub fn trusted_source(detail_type: &str) -> Option<TrustedSource> {
    match detail_type {
        alarm::STATE_CHANGE_DETAIL_TYPE | "CloudWatch Alarm Configuration Change" => {
            Some(TrustedSource::Exactly("aws.cloudwatch"))
        }
        cloudtrail::DETAIL_TYPE => Some(TrustedSource::AnyUnder("aws.")),
        ec2::DETAIL_TYPE | spot::INTERRUPTION_DETAIL_TYPE | spot::REBALANCE_DETAIL_TYPE => {
            Some(TrustedSource::Exactly("aws.ec2"))
        }
        ecs::DEPLOYMENT_DETAIL_TYPE | ecs::SERVICE_ACTION_DETAIL_TYPE | ecs::TASK_DETAIL_TYPE => {
            Some(TrustedSource::Exactly(ecs::SOURCE))
        }
        rds::INSTANCE_DETAIL_TYPE | rds::CLUSTER_DETAIL_TYPE => {
            Some(TrustedSource::Exactly(rds::SOURCE))
        }
        autoscaling::LAUNCH_UNSUCCESSFUL_DETAIL_TYPE
        | autoscaling::LAUNCH_SUCCESSFUL_DETAIL_TYPE => {
            Some(TrustedSource::Exactly(autoscaling::SOURCE))
        }
        ssm::PARAMETER_DETAIL_TYPE => Some(TrustedSource::Exactly(ssm::SOURCE)),
        health::DETAIL_TYPE => Some(TrustedSource::Exactly("aws.health")),
        argus_events::LOG_ANOMALY_DETAIL_TYPE => {
            Some(TrustedSource::Exactly(argus_events::LOG_ANOMALY_SOURCE))
        }
        argus_events::EXTERNAL_ALERT_DETAIL_TYPE => {
            Some(TrustedSource::Exactly(argus_events::EXTERNAL_ALERT_SOURCE))
        }
        _ => None,
    }
}

/// Refuses a known detail-type from any source but its own; an unknown detail-type is left to
/// the dispatch, which names it as unsupported.
fn check_source(detail_type: &str, source: &str) -> Result<(), NormaliseError> {
    match trusted_source(detail_type) {
        Some(trusted) if !trusted.admits(source) => Err(NormaliseError::UntrustedSource {
            detail_type: detail_type.to_string(),
            source_name: source.to_string(),
            expected: trusted.describe(),
        }),
        _ => Ok(()),
    }
}

/// Deserialises `value` into `T`, turning serde's complaint into an error that names the field
/// by its path (`detail.state.value`) and the kind of event it was read from.
pub(super) fn decode<T: DeserializeOwned>(
    value: &Value,
    event: &'static str,
    path_prefix: &str,
) -> Result<T, NormaliseError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let inner = error.inner().to_string();
        let mut field = error.path().to_string();
        if field == "." {
            field.clear();
        }
        if let Some(missing) = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            let field = join_path(path_prefix, &join_path(&field, missing));
            NormaliseError::MissingField { event, field }
        } else {
            NormaliseError::InvalidField {
                event,
                field: join_path(path_prefix, &field),
                reason: inner,
            }
        }
    })
}

fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

pub(super) fn invalid(event: &'static str, field: &str, reason: &str) -> NormaliseError {
    NormaliseError::InvalidField {
        event,
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

pub(super) fn missing(event: &'static str, field: &str) -> NormaliseError {
    NormaliseError::MissingField {
        event,
        field: field.to_string(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The EventBridge envelope fields every detail-type shares. `id` is the event's own, or, for
/// a hand-written event without one, derived from its content (`derived_id`).
#[derive(Debug)]
pub(super) struct Envelope {
    pub id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: chrono::DateTime<chrono::Utc>,
    pub resources: Vec<String>,
    pub detail: Value,
}

#[derive(Debug, serde::Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    time: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    resources: Vec<String>,
    detail: Value,
}

pub(super) fn envelope(event: &Value, name: &'static str) -> Result<Envelope, NormaliseError> {
    let raw: RawEnvelope = decode(event, name, "")?;
    let id = raw
        .id
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| super::derived_id::derived_event_id(event));
    Ok(Envelope {
        id,
        account: raw.account,
        region: raw.region,
        time: raw.time,
        resources: raw.resources,
        detail: raw.detail,
    })
}
