//! "AWS Health Event": issues and scheduled changes that affect Argus-watched resources.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const DETAIL_TYPE: &str = "AWS Health Event";
const EVENT: &str = "AWS Health event";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    #[serde(default)]
    event_arn: Option<String>,
    service: String,
    event_type_code: String,
    #[serde(default)]
    event_type_category: Option<String>,
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    event_description: Vec<Description>,
    #[serde(default)]
    affected_entities: Vec<Entity>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Description {
    #[serde(default)]
    latest_description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    entity_value: String,
}

pub(super) fn from_eventbridge(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let category = detail
        .event_type_category
        .clone()
        .unwrap_or_else(|| "issue".to_string());
    if category == "accountNotification" {
        return Ok(Normalised::Ignored {
            reason: format!(
                "{} is an account notification, not an incident",
                detail.event_type_code
            ),
        });
    }
    let effect = match detail.status_code.as_deref() {
        Some("closed") => SignalEffect::Clears,
        _ => SignalEffect::Opens,
    };
    let service = detail.service.to_lowercase();
    let entities = detail
        .affected_entities
        .iter()
        .enumerate()
        .map(|(index, entity)| {
            (
                format!("detail.affectedEntities[{index}].entityValue"),
                entity.entity_value.as_str(),
            )
        });
    let listed = envelope
        .resources
        .iter()
        .enumerate()
        .map(|(index, value)| (format!("resources[{index}]"), value.as_str()));
    let mut resources: Vec<ResourceRef> = Vec::new();
    for (field, value) in entities.chain(listed) {
        resources.extend(entity_resource(&service, value, &field)?);
    }
    resources.sort();
    resources.dedup();
    if resources.is_empty() {
        let account = envelope
            .account
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        resources.extend(super::cloudtrail::account_resource(&account));
    }
    let description = detail
        .event_description
        .first()
        .map(|description| description.latest_description.as_str())
        .unwrap_or("");
    let severity_hint = Some(if category == "issue" { 6 } else { 4 });
    let event_key = detail
        .event_arn
        .clone()
        .unwrap_or_else(|| envelope.id.clone());
    let status = detail
        .status_code
        .clone()
        .unwrap_or_else(|| "open".to_string());
    let signals = resources
        .into_iter()
        .map(|resource| Signal {
            source_event_id: format!("health:{event_key}:{status}:{resource}"),
            source: SignalSource::AwsHealth,
            effect,
            signature: format!("health:{}:{}", service, detail.event_type_code),
            account: envelope.account.clone(),
            region: envelope.region.clone(),
            observed_at: envelope.time,
            title: format!("AWS Health {category}: {}", detail.event_type_code),
            state: status.clone(),
            alarm_kind: None,
            alarm_name: None,
            metric: None,
            severity_hint,
            principal: None,
            correlation_hint: None,
            origin: Some(format!("health:{event_key}:{resource}")),
            evidence: vec![
                Evidence::new(
                    "health.event",
                    "AWS Health event",
                    format!(
                        "{} {} ({category}, {status}) affecting {resource}",
                        detail.service, detail.event_type_code
                    ),
                ),
                Evidence::new("health.description", "AWS Health description", description),
            ],
            resource,
        })
        .collect();
    Ok(Normalised::Signals(signals))
}

/// The resource an AWS Health entity names. An entity that reads as an instance must be a valid
/// instance id (`i-0aaa/../../x` is refused, naming the field); any other entity outside its
/// kind's grammar names nothing Argus can use and is skipped, as free-form entities always were.
fn entity_resource(
    service: &str,
    value: &str,
    field: &str,
) -> Result<Option<ResourceRef>, NormaliseError> {
    if value.starts_with("arn:") {
        return Ok(super::cloudtrail::resource_from_arn(value));
    }
    if value.starts_with("i-") {
        return ResourceRef::checked("ec2", "instance", value)
            .map(Some)
            .map_err(|error| invalid(EVENT, field, error.reason));
    }
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Ok(None);
    }
    Ok(ResourceRef::checked(service, "resource", value).ok())
}
