//! "EC2 Instance State-change Notification": unexpected stops open incidents, starts clear them.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;

pub const DETAIL_TYPE: &str = "EC2 Instance State-change Notification";
const EVENT: &str = "EC2 state-change event";
/// All state changes of one instance share a signature, so `stopping` and `stopped` are one
/// incident and `running` clears it.
pub const SIGNATURE: &str = "ec2:instance-state";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Detail {
    instance_id: String,
    state: String,
}

pub(super) fn from_eventbridge(event: &serde_json::Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let resource = ResourceRef::checked("ec2", "instance", &detail.instance_id)
        .map_err(|error| invalid(EVENT, "detail.instance-id", error.reason))?;
    let effect = match detail.state.as_str() {
        "stopping" | "stopped" | "shutting-down" | "terminated" => SignalEffect::Opens,
        "running" => SignalEffect::Clears,
        "pending" => SignalEffect::Informs,
        other => {
            return Err(invalid(
                EVENT,
                "detail.state",
                &format!("unknown state `{other}`"),
            ));
        }
    };
    let severity_hint = match detail.state.as_str() {
        "terminated" | "shutting-down" => Some(7),
        "stopped" | "stopping" => Some(5),
        _ => None,
    };
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!("eventbridge:{}", envelope.id),
        source: SignalSource::Ec2StateChange,
        effect,
        signature: SIGNATURE.to_string(),
        resource,
        account: envelope.account,
        region: envelope.region,
        observed_at: envelope.time,
        title: format!("instance {} is {}", detail.instance_id, detail.state),
        state: detail.state.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![Evidence::new(
            "ec2.state",
            "instance state",
            format!(
                "instance {} entered `{}` at {}",
                detail.instance_id,
                detail.state,
                envelope.time.to_rfc3339()
            ),
        )],
    }]))
}
