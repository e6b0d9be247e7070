//! EC2 Auto Scaling launch results: "EC2 Instance Launch Unsuccessful" opens an incident on the
//! group (capacity, quotas, a broken launch template); the next "EC2 Instance Launch
//! Successful" of the same group clears it.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const LAUNCH_UNSUCCESSFUL_DETAIL_TYPE: &str = "EC2 Instance Launch Unsuccessful";
pub const LAUNCH_SUCCESSFUL_DETAIL_TYPE: &str = "EC2 Instance Launch Successful";
pub const SOURCE: &str = "aws.autoscaling";
pub const LAUNCH_SIGNATURE: &str = "autoscaling:launch";
const EVENT: &str = "EC2 Auto Scaling launch event";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Detail {
    auto_scaling_group_name: String,
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    activity_id: Option<String>,
    #[serde(default, rename = "EC2InstanceId")]
    ec2_instance_id: Option<String>,
    #[serde(default)]
    details: Value,
}

pub(super) fn launch(event: &Value, succeeded: bool) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let resource = ResourceRef::checked("autoscaling", "group", &detail.auto_scaling_group_name)
        .map_err(|error| invalid(EVENT, "detail.AutoScalingGroupName", error.reason))?;
    let group = resource.id().to_string();
    let status = detail
        .status_code
        .clone()
        .unwrap_or_else(|| if succeeded { "Successful" } else { "Failed" }.to_string());
    let (effect, title, severity_hint) = if succeeded {
        (
            SignalEffect::Clears,
            format!("Auto Scaling group {group} launched an instance"),
            None,
        )
    } else {
        (
            SignalEffect::Opens,
            format!("Auto Scaling group {group} failed to launch an instance"),
            Some(6),
        )
    };
    let zone = detail
        .details
        .get("Availability Zone")
        .and_then(Value::as_str)
        .unwrap_or("an unknown zone");
    Ok(Normalised::Signals(vec![Signal {
        // One scaling activity ends once: a re-delivery has the same activity and status.
        source_event_id: match detail.activity_id.as_deref() {
            Some(activity) => format!("autoscaling-activity:{activity}:{status}"),
            None => format!("eventbridge:{}", envelope.id),
        },
        source: SignalSource::AutoScaling,
        effect,
        signature: LAUNCH_SIGNATURE.to_string(),
        resource,
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        observed_at: envelope.time,
        title,
        state: status.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![
            Evidence::new(
                "autoscaling.activity",
                "scaling activity",
                format!(
                    "activity {} of group {group} in {zone}: {status}; instance {}",
                    detail.activity_id.as_deref().unwrap_or("unknown"),
                    detail.ec2_instance_id.as_deref().unwrap_or("none")
                ),
            ),
            Evidence::new(
                "autoscaling.status",
                "status message",
                detail.status_message.as_deref().unwrap_or(""),
            ),
            Evidence::new(
                "autoscaling.cause",
                "cause",
                detail.cause.as_deref().unwrap_or(""),
            ),
        ],
    }]))
}
