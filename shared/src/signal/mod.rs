//! The one `Signal` type every source is normalised into, and the normalisers themselves.

mod alarm;
mod argus_events;
mod autoscaling;
mod bounds;
mod cloudtrail;
pub(crate) use cloudtrail::resource_from_arn;
mod derived_id;
pub use derived_id::{DERIVED_ID_PREFIX, derived_event_id, is_derived};
mod ec2;
mod ecs;
mod health;
mod normalise;
mod rds;
mod spot;
mod ssm;

pub use alarm::STATE_CHANGE_DETAIL_TYPE as ALARM_STATE_CHANGE_DETAIL_TYPE;
pub use argus_events::{
    Baseline, EXTERNAL_ALERT_DETAIL_TYPE, EXTERNAL_ALERT_SOURCE, ExternalAlertDetail,
    LOG_ANOMALY_DETAIL_TYPE, LOG_ANOMALY_SOURCE, LogAnomalyDetail, TimeWindow,
};
pub use ecs::DEPLOYMENT_SIGNATURE as ECS_DEPLOYMENT_SIGNATURE;
pub use normalise::{
    NormaliseError, Normalised, TrustedSource, normalise, normalise_str, trusted_source,
};
pub use spot::INTERRUPTION_SIGNATURE as SPOT_INTERRUPTION_SIGNATURE;

/// Every EventBridge detail-type the normalisers accept; terraform/events.tf routes exactly
/// these to the orchestrator (checked by tests/tests/wiring.rs).
pub const DETAIL_TYPES: &[&str] = &[
    alarm::STATE_CHANGE_DETAIL_TYPE,
    cloudtrail::DETAIL_TYPE,
    ec2::DETAIL_TYPE,
    health::DETAIL_TYPE,
    LOG_ANOMALY_DETAIL_TYPE,
    EXTERNAL_ALERT_DETAIL_TYPE,
    ecs::DEPLOYMENT_DETAIL_TYPE,
    ecs::SERVICE_ACTION_DETAIL_TYPE,
    ecs::TASK_DETAIL_TYPE,
    rds::INSTANCE_DETAIL_TYPE,
    rds::CLUSTER_DETAIL_TYPE,
    spot::INTERRUPTION_DETAIL_TYPE,
    spot::REBALANCE_DETAIL_TYPE,
    autoscaling::LAUNCH_UNSUCCESSFUL_DETAIL_TYPE,
    autoscaling::LAUNCH_SUCCESSFUL_DETAIL_TYPE,
    ssm::PARAMETER_DETAIL_TYPE,
];

use crate::correlation::CorrelationId;
use crate::resource::ResourceRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest text kept from any untrusted field (alarm reasons, descriptions, log samples).
pub const MAX_EVIDENCE_TEXT: usize = 2_000;

/// Where a signal came from, and how it was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// "CloudWatch Alarm State Change" on EventBridge.
    AlarmEventBridge,
    /// The payload an alarm's own Lambda action sends.
    AlarmLambdaAction,
    /// The classic SNS notification of an alarm.
    AlarmSns,
    /// "AWS API Call via CloudTrail" for a sensitive call.
    CloudTrail,
    /// "EC2 Instance State-change Notification".
    Ec2StateChange,
    /// "AWS Health Event".
    AwsHealth,
    /// "Argus Log Anomaly", from the log analyzer.
    LogAnomaly,
    /// "Argus External Alert", from the connectors' webhooks.
    ExternalAlert,
    /// "ECS Deployment State Change", "ECS Service Action", "ECS Task State Change".
    Ecs,
    /// "RDS DB Instance Event", "RDS DB Cluster Event".
    Rds,
    /// "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation".
    Ec2Spot,
    /// "EC2 Instance Launch Unsuccessful" / "Successful" from EC2 Auto Scaling.
    AutoScaling,
    /// "Parameter Store Change" from Systems Manager.
    ParameterStore,
}

impl SignalSource {
    pub fn label(self) -> &'static str {
        match self {
            Self::AlarmEventBridge => "CloudWatch alarm (EventBridge)",
            Self::AlarmLambdaAction => "CloudWatch alarm (Lambda action)",
            Self::AlarmSns => "CloudWatch alarm (SNS)",
            Self::CloudTrail => "CloudTrail API call",
            Self::Ec2StateChange => "EC2 state change",
            Self::AwsHealth => "AWS Health",
            Self::LogAnomaly => "Argus log anomaly",
            Self::ExternalAlert => "Argus external alert",
            Self::Ecs => "ECS event",
            Self::Rds => "RDS event",
            Self::Ec2Spot => "EC2 Spot notice",
            Self::AutoScaling => "EC2 Auto Scaling event",
            Self::ParameterStore => "Parameter Store change",
        }
    }
}

/// What a signal means for incidents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalEffect {
    /// A problem: opens an incident, or joins the open one for the same resource and signature.
    Opens,
    /// The problem went away (alarm OK, instance running, alert resolved): recorded against the
    /// open incident, which it resolves; never opens one.
    Clears,
    /// Context only (INSUFFICIENT_DATA, pending): recorded against the open incident if any.
    Informs,
}

impl SignalEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opens => "opens",
            Self::Clears => "clears",
            Self::Informs => "informs",
        }
    }
}

/// The kind of alarm, which changes what the rules analyst can infer from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Metric,
    MetricMath,
    AnomalyDetection,
    Composite,
}

/// One piece of evidence carried by a signal. `id` is what hypotheses cite; `text` may come
/// from outside Argus and is treated as untrusted data wherever it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub label: String,
    pub text: String,
}

impl Evidence {
    pub fn new(id: impl Into<String>, label: impl Into<String>, text: impl AsRef<str>) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            text: cap_text(text.as_ref(), MAX_EVIDENCE_TEXT),
        }
    }
}

/// A normalised signal: one problem (or the end of one) on one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// The id of the delivery's source event: the idempotency key.
    pub source_event_id: String,
    pub source: SignalSource,
    pub effect: SignalEffect,
    /// What kind of problem this is, independent of which resource has it; incidents are
    /// "one open per resource + signature", and learning is per signature.
    pub signature: String,
    pub resource: ResourceRef,
    pub account: Option<String>,
    pub region: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub title: String,
    /// The source's own word for the state: ALARM, OK, TerminateInstances, stopped, firing.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_kind: Option<AlarmKind>,
    /// The alarm's name, which the recovery workflow reads back to verify recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_hint: Option<u8>,
    /// Who made the call (CloudTrail), for recognising changes Argus made itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// A correlation id found on the request (a tag or client token Argus set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_hint: Option<CorrelationId>,
    /// What raised the signal and will clear it, when that is narrower than resource +
    /// signature: the alarm (its ARN), the vendor's alert, the AWS Health event. Two alarms on
    /// one resource share an incident, but each clears only its own part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub evidence: Vec<Evidence>,
}

impl Signal {
    /// The identity whose state this signal reports: `origin`, or resource + signature for
    /// sources whose every signal on a resource speaks of the same thing.
    pub fn origin_key(&self) -> String {
        self.origin
            .clone()
            .unwrap_or_else(|| format!("{}@{}", self.signature, self.resource))
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn cap_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_text_stays_on_a_character_boundary() {
        let text = "é".repeat(10);
        let capped = cap_text(&text, 8);
        assert!(capped.len() <= 8, "{capped}");
        assert!(capped.ends_with("..."));
        assert_eq!(cap_text("short", 8), "short");
    }
}
