//! "AWS API Call via CloudTrail": sensitive calls become change or tamper signals.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::config::SignalConfig;
use crate::correlation::CorrelationId;
use crate::resource::ResourceRef;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
const EVENT: &str = "CloudTrail API call event";
/// More resources than this in one call (a mass termination) are summarised in one signal each
/// for the first ones; the rest are named in the evidence, not dropped silently.
const MAX_RESOURCES_PER_CALL: usize = 20;
/// The tag key Argus puts on what it creates or changes, where the API takes tags.
pub const CORRELATION_TAG: &str = "argus:correlation-id";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    /// AWS always sets it on delivered records; records copied from documentation, CloudTrail
    /// Lake or S3 exports can lack it, and then the id is derived from the record's content.
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
    event_name: String,
    event_source: String,
    event_time: DateTime<Utc>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    user_identity: Value,
    #[serde(default)]
    source_i_p_address: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    request_parameters: Value,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    resources: Vec<RecordResource>,
}

#[derive(Debug, Deserialize)]
struct RecordResource {
    #[serde(rename = "ARN", default)]
    arn: Option<String>,
}

pub(super) fn from_eventbridge(
    event: &Value,
    config: &SignalConfig,
) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let record: Record = decode(&envelope.detail, EVENT, "detail")?;
    let event_id = record_event_id(&record, &envelope.detail);
    let account = envelope
        .account
        .clone()
        .or(record.recipient_account_id.clone());
    from_record(record, event_id, account, config)
}

/// The record's `eventID`, or one derived from its content when it has none.
fn record_event_id(record: &Record, value: &Value) -> String {
    record
        .event_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| super::derived_id::derived_event_id(value))
}

/// Whether a lone object reads as one CloudTrail record (the shape documentation and CloudTrail
/// Lake give), rather than a log file or an EventBridge event.
pub(super) fn is_record(object: &serde_json::Map<String, Value>) -> bool {
    ["eventName", "eventSource", "eventTime"]
        .iter()
        .all(|key| object.contains_key(*key))
}

/// A CloudTrail log file (`{"Records": [...]}`) as `argus replay` may be given one, or a
/// single record.
pub(super) fn from_log_records(
    records: &[Value],
    config: &SignalConfig,
) -> Result<Normalised, NormaliseError> {
    let mut signals = Vec::new();
    for (index, value) in records.iter().enumerate() {
        let record: Record = decode(value, EVENT, &format!("Records[{index}]"))?;
        let event_id = record_event_id(&record, value);
        let account = record.recipient_account_id.clone();
        // Records that are not sensitive calls are skipped; the count below says how many.
        if let Normalised::Signals(found) = from_record(record, event_id, account, config)? {
            signals.extend(found);
        }
    }
    if signals.is_empty() {
        return Ok(Normalised::Ignored {
            reason: format!("no sensitive call among {} records", records.len()),
        });
    }
    Ok(Normalised::Signals(signals))
}

/// `DeleteFunction20150331` and `UpdateFunctionConfiguration20150331v2` are how CloudTrail
/// names Lambda calls; the version suffix is not part of the call's identity.
pub fn call_name(event_name: &str) -> &str {
    let bytes = event_name.as_bytes();
    let mut end = bytes.len();
    // An optional `v<digits>` after the date.
    let mut cursor = end;
    while cursor > 0 && bytes[cursor - 1].is_ascii_digit() {
        cursor -= 1;
    }
    if cursor < end && cursor > 0 && bytes[cursor - 1] == b'v' {
        end = cursor - 1;
    }
    let mut digits_start = end;
    while digits_start > 0 && bytes[digits_start - 1].is_ascii_digit() {
        digits_start -= 1;
    }
    if end - digits_start == 8 && digits_start > 0 {
        &event_name[..digits_start]
    } else {
        event_name
    }
}

fn from_record(
    record: Record,
    event_id: String,
    account: Option<String>,
    config: &SignalConfig,
) -> Result<Normalised, NormaliseError> {
    let call = call_name(&record.event_name).to_string();
    if !config.sensitive_calls.contains(&call) {
        return Ok(Normalised::Ignored {
            reason: format!("{call} is not in the list of sensitive calls"),
        });
    }
    if let Some(error_code) = &record.error_code {
        return Ok(Normalised::Ignored {
            reason: format!("{call} failed with {error_code}, so nothing changed"),
        });
    }
    let service = record
        .event_source
        .split('.')
        .next()
        .unwrap_or(&record.event_source)
        .to_string();
    let principal = record
        .user_identity
        .get("arn")
        .and_then(Value::as_str)
        .map(str::to_string);
    let correlation_hint = find_correlation_id(&record.request_parameters);
    let mut resources = resources_of(&call, &record)?;
    if resources.is_empty() {
        let account_id = account.clone().unwrap_or_else(|| "unknown".to_string());
        resources.extend(account_resource(&account_id));
    }
    let total = resources.len();
    let severity_hint = Some(
        if call.starts_with("Delete") || call.starts_with("Terminate") {
            8
        } else if call.starts_with("Stop") {
            6
        } else {
            5
        },
    );
    let request = serde_json::to_string(&record.request_parameters).unwrap_or_default();
    let who = principal
        .clone()
        .unwrap_or_else(|| "an unknown principal".to_string());
    let call_text = format!(
        "{who} called {service}:{call} at {} from {} ({})",
        record.event_time.to_rfc3339(),
        record
            .source_i_p_address
            .as_deref()
            .unwrap_or("an unknown address"),
        record.user_agent.as_deref().unwrap_or("unknown agent"),
    );
    let signals = resources
        .into_iter()
        .take(MAX_RESOURCES_PER_CALL)
        .map(|resource| {
            let mut evidence = vec![
                Evidence::new("cloudtrail.call", "API call", &call_text),
                Evidence::new("cloudtrail.request", "request parameters", &request),
            ];
            if total > MAX_RESOURCES_PER_CALL {
                evidence.push(Evidence::new(
                    "cloudtrail.scope",
                    "scope",
                    format!("the call touched {total} resources; signals cover the first {MAX_RESOURCES_PER_CALL}"),
                ));
            }
            Signal {
                source_event_id: format!("cloudtrail:{event_id}:{resource}"),
                source: SignalSource::CloudTrail,
                effect: SignalEffect::Opens,
                signature: format!("cloudtrail:{service}:{call}"),
                resource,
                account: account.clone(),
                region: record.aws_region.clone(),
                observed_at: record.event_time,
                title: format!("{call} by {who}"),
                state: call.clone(),
                alarm_kind: None,
                alarm_name: None,
                metric: None,
                severity_hint,
                principal: principal.clone(),
                correlation_hint: correlation_hint.clone(),
                origin: None,
                evidence,
            }
        })
        .collect();
    Ok(Normalised::Signals(signals))
}

/// The resources a call names. Request parameters are written by the caller, so each id is
/// checked against its kind's grammar and a bad one refuses the event, naming the parameter;
/// ARNs in `resources` come from CloudTrail and are read best-effort.
fn resources_of(call: &str, record: &Record) -> Result<Vec<ResourceRef>, NormaliseError> {
    let parameters = &record.request_parameters;
    let text = |key: &str| parameters.get(key).and_then(Value::as_str);
    let one = |service: &str, kind: &str, key: &str, id: Option<&str>| match id {
        Some(id) => ResourceRef::checked(service, kind, id)
            .map(|resource| vec![resource])
            .map_err(|error| {
                invalid(
                    EVENT,
                    &format!("detail.requestParameters.{key}"),
                    error.reason,
                )
            }),
        None => Ok(Vec::new()),
    };
    let found = match call {
        "TerminateInstances" | "StopInstances" | "StartInstances" | "RebootInstances" => parameters
            .pointer("/instancesSet/items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| {
                        item.get("instanceId")
                            .and_then(Value::as_str)
                            .map(|id| (index, id))
                    })
                    .map(|(index, id)| {
                        ResourceRef::checked("ec2", "instance", id).map_err(|error| {
                            invalid(
                                EVENT,
                                &format!(
                                    "detail.requestParameters.instancesSet.items[{index}].instanceId"
                                ),
                                error.reason,
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        "DeleteTable" | "UpdateTable" => one("dynamodb", "table", "tableName", text("tableName"))?,
        "PutParameter" | "DeleteParameter" => one("ssm", "parameter", "name", text("name"))?,
        "DeleteFunction" | "UpdateFunctionConfiguration" | "UpdateFunctionCode" => {
            let name = text("functionName").map(|name| {
                // A function can be named by ARN; the resource is keyed by its plain name.
                name.rsplit(":function:")
                    .next()
                    .unwrap_or(name)
                    .split(':')
                    .next()
                    .unwrap_or(name)
            });
            one("lambda", "function", "functionName", name)?
        }
        "PutBucketPolicy" | "DeleteBucket" | "DeleteBucketPolicy" => {
            one("s3", "bucket", "bucketName", text("bucketName"))?
        }
        "DeleteDBInstance" | "StopDBInstance" => one(
            "rds",
            "db",
            "dBInstanceIdentifier",
            text("dBInstanceIdentifier"),
        )?,
        _ => Vec::new(),
    };
    if !found.is_empty() {
        return Ok(found);
    }
    Ok(record
        .resources
        .iter()
        .filter_map(|resource| resource.arn.as_deref())
        .filter_map(resource_from_arn)
        .collect())
}

/// The account a call or notice concerns, when it names no resource of its own; an account id
/// outside the grammar (a direct invoke can write anything there) is `unknown`.
pub(super) fn account_resource(account: &str) -> Option<ResourceRef> {
    ResourceRef::checked("aws", "account", account)
        .or_else(|_| ResourceRef::checked("aws", "account", "unknown"))
        .ok()
}

/// A best-effort reading of an ARN into a resource reference: `arn:aws:<svc>:…:<type>/<id>`.
pub fn resource_from_arn(arn: &str) -> Option<ResourceRef> {
    let mut parts = arn.splitn(6, ':');
    let (_arn, _partition, service, _region, _account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let rest = parts.next()?;
    let (kind, id) = rest.split_once('/').or_else(|| rest.split_once(':'))?;
    // An id outside its kind's grammar names no resource Argus can use.
    ResourceRef::checked(service, kind, id).ok()
}

/// Finds a correlation id Argus put on a request: the `argus:correlation-id` tag, or a client
/// token Argus set to the correlation id.
fn find_correlation_id(value: &Value) -> Option<CorrelationId> {
    match value {
        Value::Object(map) => {
            let key = map
                .get("key")
                .or_else(|| map.get("Key"))
                .and_then(Value::as_str);
            if key == Some(CORRELATION_TAG) {
                let tagged = map
                    .get("value")
                    .or_else(|| map.get("Value"))
                    .and_then(Value::as_str);
                if let Some(id) = tagged.and_then(|v| CorrelationId::parse(v).ok()) {
                    return Some(id);
                }
            }
            for (name, field) in map {
                let is_token = name.eq_ignore_ascii_case("clientToken")
                    || name.eq_ignore_ascii_case("clientRequestToken");
                if is_token
                    && let Some(id) = field.as_str().and_then(|v| CorrelationId::parse(v).ok())
                {
                    return Some(id);
                }
                if let Some(id) = find_correlation_id(field) {
                    return Some(id);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(find_correlation_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_call_names_lose_their_api_version() {
        assert_eq!(call_name("DeleteFunction20150331"), "DeleteFunction");
        assert_eq!(
            call_name("UpdateFunctionConfiguration20150331v2"),
            "UpdateFunctionConfiguration"
        );
        assert_eq!(call_name("TerminateInstances"), "TerminateInstances");
        assert_eq!(call_name("Put2"), "Put2");
    }

    #[test]
    fn a_correlation_tag_is_found_anywhere_in_the_request() {
        let request = serde_json::json!({
            "tagSpecificationSet": {"items": [{"tags": [
                {"key": "team", "value": "payments"},
                {"key": "argus:correlation-id", "value": "20261122T050412Z-ec2-cpu-5f0c2a9d1b7e"}
            ]}]}
        });
        let id = find_correlation_id(&request).unwrap();
        assert_eq!(id.as_str(), "20261122T050412Z-ec2-cpu-5f0c2a9d1b7e");
        assert_eq!(
            find_correlation_id(&serde_json::json!({"clientToken": "abc"})),
            None
        );
    }

    #[test]
    fn arns_become_resource_references() {
        let resource =
            resource_from_arn("arn:aws:dynamodb:us-east-1:123456789012:table/orders").unwrap();
        assert_eq!(resource.as_str(), "dynamodb:table/orders");
        assert!(resource_from_arn("not an arn").is_none());
    }
}
