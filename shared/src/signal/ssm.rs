//! "Parameter Store Change" from Systems Manager: an update or deletion of a parameter is a
//! configuration change, an incident of its own on the parameter (people should know who
//! changed what the applications read); creating a parameter or labelling a version changes
//! nothing that runs and is only recorded.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const PARAMETER_DETAIL_TYPE: &str = "Parameter Store Change";
pub const SOURCE: &str = "aws.ssm";
pub const PARAMETER_SIGNATURE: &str = "ssm:parameter-change";
const EVENT: &str = "Parameter Store change";

#[derive(Debug, Deserialize)]
struct Detail {
    operation: String,
    name: String,
    #[serde(default, rename = "type")]
    parameter_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

pub(super) fn parameter_change(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let resource = ResourceRef::checked("ssm", "parameter", &detail.name)
        .map_err(|error| invalid(EVENT, "detail.name", error.reason))?;
    let (effect, severity_hint) = match detail.operation.as_str() {
        "Update" => (SignalEffect::Opens, Some(4)),
        "Delete" => (SignalEffect::Opens, Some(6)),
        "Create" | "LabelParameterVersion" => (SignalEffect::Informs, None),
        other => {
            return Err(invalid(
                EVENT,
                "detail.operation",
                &format!("unknown operation `{}`", crate::signal::cap_text(other, 40)),
            ));
        }
    };
    let kind = detail.parameter_type.as_deref().unwrap_or("parameter");
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!("eventbridge:{}", envelope.id),
        source: SignalSource::ParameterStore,
        effect,
        signature: PARAMETER_SIGNATURE.to_string(),
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        observed_at: envelope.time,
        title: format!("{} of {kind} {}", detail.operation, detail.name),
        state: detail.operation.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![
            Evidence::new(
                "ssm.change",
                "parameter change",
                format!(
                    "{} of {kind} {} at {} (the value is not in the event)",
                    detail.operation,
                    resource.id(),
                    envelope.time.to_rfc3339()
                ),
            ),
            Evidence::new(
                "ssm.description",
                "parameter description",
                detail.description.as_deref().unwrap_or(""),
            ),
        ],
        resource,
    }]))
}
