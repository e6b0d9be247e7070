//! EC2 Spot notices: "EC2 Spot Instance Interruption Warning" (two minutes before EC2 stops,
//! hibernates or terminates the instance) and "EC2 Instance Rebalance Recommendation" (the
//! instance is at elevated risk of interruption). Both open an incident on the instance: the
//! lead time is the time to drain it and have its Auto Scaling group replace it.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const INTERRUPTION_DETAIL_TYPE: &str = "EC2 Spot Instance Interruption Warning";
pub const REBALANCE_DETAIL_TYPE: &str = "EC2 Instance Rebalance Recommendation";
pub const INTERRUPTION_SIGNATURE: &str = "ec2:spot-interruption";
pub const REBALANCE_SIGNATURE: &str = "ec2:spot-rebalance";
const EVENT: &str = "EC2 Spot notice";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Detail {
    instance_id: String,
    #[serde(default)]
    instance_action: Option<String>,
}

pub(super) fn from_eventbridge(
    event: &Value,
    interruption: bool,
) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let resource = ResourceRef::checked("ec2", "instance", &detail.instance_id)
        .map_err(|error| invalid(EVENT, "detail.instance-id", error.reason))?;
    let (signature, title, state, severity, evidence) = if interruption {
        let action = detail.instance_action.as_deref().unwrap_or("terminate");
        (
            INTERRUPTION_SIGNATURE,
            format!(
                "Spot instance {} will be interrupted ({action})",
                detail.instance_id
            ),
            action.to_string(),
            7,
            format!(
                "EC2 will {action} Spot instance {} two minutes after {} (hibernation starts at once)",
                detail.instance_id,
                envelope.time.to_rfc3339()
            ),
        )
    } else {
        (
            REBALANCE_SIGNATURE,
            format!(
                "Spot instance {} is at elevated risk of interruption",
                detail.instance_id
            ),
            "rebalance".to_string(),
            4,
            format!(
                "EC2 recommends rebalancing Spot instance {} at {}: it is at elevated risk of interruption",
                detail.instance_id,
                envelope.time.to_rfc3339()
            ),
        )
    };
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!("eventbridge:{}", envelope.id),
        source: SignalSource::Ec2Spot,
        effect: SignalEffect::Opens,
        signature: signature.to_string(),
        resource,
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        observed_at: envelope.time,
        title,
        state,
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint: Some(severity),
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![Evidence::new("ec2.spot", "Spot notice", evidence)],
    }]))
}
