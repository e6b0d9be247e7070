//! Vendor alert webhooks normalised to "Argus External Alert": Prometheus Alertmanager
//! (webhook version 4), Grafana alerting (the same grouped shape), Datadog (its default payload,
//! or the payload Argus documents) and PagerDuty (v3 webhooks). A grouped notification becomes
//! one alert per member, each with a stable id so that its `resolved` matches its `firing`.

use crate::loganalysis::ports::BusEvent;
use crate::resource::ResourceRef;
use crate::signal::{EXTERNAL_ALERT_DETAIL_TYPE, EXTERNAL_ALERT_SOURCE, ExternalAlertDetail};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Version of the "Argus External Alert" detail this module writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Labels (or Datadog tags) that name the affected resource in Argus' `<service>:<type>/<id>`
/// form; the first that parses wins.
pub const RESOURCE_LABELS: [&str; 2] = ["argus_resource", "resource"];
/// Longest description kept; vendor texts can be long and the orchestrator caps them again.
const MAX_DESCRIPTION_CHARS: usize = 4_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Alertmanager,
    Datadog,
    PagerDuty,
    Grafana,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [
        Self::Alertmanager,
        Self::Datadog,
        Self::PagerDuty,
        Self::Grafana,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alertmanager => "alertmanager",
            Self::Datadog => "datadog",
            Self::PagerDuty => "pagerduty",
            Self::Grafana => "grafana",
        }
    }

    /// The endpoint's path for this vendor's webhook.
    pub fn path(self) -> &'static str {
        match self {
            Self::Alertmanager => "/webhooks/alertmanager",
            Self::Datadog => "/webhooks/datadog",
            Self::PagerDuty => "/webhooks/pagerduty",
            Self::Grafana => "/webhooks/grafana",
        }
    }

    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|vendor| vendor.path() == path)
    }
}

/// Why a webhook body could not be read; the text quotes no payload content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {vendor} payload is not valid: {reason}")]
pub struct PayloadError {
    pub vendor: &'static str,
    pub reason: String,
}

fn payload_error(vendor: Vendor, reason: impl Into<String>) -> PayloadError {
    PayloadError {
        vendor: vendor.as_str(),
        // Reasons may quote the payload: keep them short whatever a sender put in it.
        reason: crate::signal::cap_text(&reason.into(), 300),
    }
}

/// The alerts a webhook body carries, in order. An event Argus has nothing to do with (a
/// PagerDuty acknowledgement or ping, a Datadog notification of no known transition) gives none.
pub fn normalise(vendor: Vendor, body: &[u8]) -> Result<Vec<ExternalAlertDetail>, PayloadError> {
    let alerts = match vendor {
        Vendor::Alertmanager | Vendor::Grafana => grouped(vendor, body),
        Vendor::Datadog => datadog(body),
        Vendor::PagerDuty => pagerduty(body),
    }?;
    Ok(alerts.into_iter().map(bounded).collect())
}

/// Limits on what one published alert carries, so that its PutEvents entry stays far below the
/// 256 KB a request may hold (about 80 KB at most) and one oversized label cannot make a group's
/// request fail, and be retried, for ever: each text over its limit is cut with a marker.
const MAX_NAME_BYTES: usize = 512;
const MAX_SUMMARY_BYTES: usize = 1024;
const MAX_SEVERITY_BYTES: usize = 64;
const MAX_URL_BYTES: usize = 2048;
const MAX_LABELS: usize = 64;
const MAX_LABEL_KEY_BYTES: usize = 128;
const MAX_LABEL_VALUE_BYTES: usize = 1024;

fn bounded(mut alert: ExternalAlertDetail) -> ExternalAlertDetail {
    use crate::bounds::truncate_with_marker as cut;
    alert.name = cut(&alert.name, MAX_NAME_BYTES).into_owned();
    alert.summary = cut(&alert.summary, MAX_SUMMARY_BYTES).into_owned();
    alert.severity = alert
        .severity
        .map(|severity| cut(&severity, MAX_SEVERITY_BYTES).into_owned());
    alert.url = alert.url.map(|url| cut(&url, MAX_URL_BYTES).into_owned());
    let dropped = alert.labels.len().saturating_sub(MAX_LABELS);
    let mut labels: BTreeMap<String, String> = std::mem::take(&mut alert.labels)
        .into_iter()
        .take(MAX_LABELS)
        .map(|(key, value)| {
            (
                cut(&key, MAX_LABEL_KEY_BYTES).into_owned(),
                cut(&value, MAX_LABEL_VALUE_BYTES).into_owned(),
            )
        })
        .collect();
    if dropped > 0 {
        labels.insert(
            "argus_labels_dropped".to_string(),
            format!("{dropped} more labels were not kept"),
        );
    }
    alert.labels = labels;
    alert
}

/// The bus event for one alert, as the orchestrator's rule matches it.
pub fn bus_event(detail: &ExternalAlertDetail, now: DateTime<Utc>) -> BusEvent {
    BusEvent {
        source: EXTERNAL_ALERT_SOURCE.to_string(),
        detail_type: EXTERNAL_ALERT_DETAIL_TYPE.to_string(),
        detail: serde_json::to_value(detail).unwrap_or(Value::Null),
        resources: Vec::new(),
        time: now,
    }
}

fn parse_json<'a, T: Deserialize<'a>>(vendor: Vendor, body: &'a [u8]) -> Result<T, PayloadError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let what = match error.inner().classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "the body is not JSON".to_string()
            }
            // serde quotes the offending value (and the path its keys), which a sender can make
            // as long as the body; the reason goes back in the answer and into the logs.
            _ => crate::signal::cap_text(&format!("field `{path}`: {}", error.inner()), 300),
        };
        payload_error(vendor, what)
    })
}

/// The resource named by a label, when it is in Argus' form and fits its kind's grammar; anything
/// else (`ec2:instance/i-0aaa/../../x`) stays a label only, and the alert opens on its own
/// `external:<vendor>/<alert_id>` resource instead of being lost.
fn resource_from(labels: &BTreeMap<String, String>) -> Option<String> {
    RESOURCE_LABELS.iter().find_map(|name| {
        labels
            .get(*name)
            .and_then(|value| ResourceRef::parse_checked(value.trim()).ok())
            .map(|resource| resource.as_str().to_string())
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The orchestrator names an alert without a resource `external:<vendor>/<alert_id>`, whose id
/// must fit the grammar of ids without one of their own (`resource_grammar::other_id`: printable
/// ASCII without spaces or shell metacharacters, at most 512 characters); an id outside that is
/// replaced by its hash, which is as stable (the same id, firing or resolved).
/// The alert's id as published: never blank (an alert without an id cannot be told apart from
/// any other), and resource-safe.
fn published_alert_id(vendor: Vendor, id: String) -> Result<String, PayloadError> {
    if id.trim().is_empty() {
        return Err(payload_error(vendor, "the alert's id is empty"));
    }
    Ok(resource_safe_id(id))
}

fn resource_safe_id(id: String) -> String {
    if crate::resource_grammar::other_id(&id).is_ok() {
        return id;
    }
    let digest = Sha256::digest(id.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn non_empty(text: Option<&String>) -> Option<String> {
    text.map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

// ---------------------------------------------------------------- Alertmanager and Grafana

/// Alertmanager's webhook (version 4) and Grafana's, which extends it with `orgId`, `title`,
/// `state`, `message` and per-alert URLs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupedPayload {
    #[serde(default)]
    version: Option<String>,
    alerts: Vec<GroupedAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupedAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: DateTime<Utc>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(rename = "panelURL", default)]
    panel_url: Option<String>,
    #[serde(rename = "dashboardURL", default)]
    dashboard_url: Option<String>,
}

fn grouped(vendor: Vendor, body: &[u8]) -> Result<Vec<ExternalAlertDetail>, PayloadError> {
    let payload: GroupedPayload = parse_json(vendor, body)?;
    let expected_version = if vendor == Vendor::Alertmanager {
        "4"
    } else {
        "1"
    };
    if let Some(version) = &payload.version
        && version != expected_version
    {
        return Err(payload_error(
            vendor,
            format!("webhook version {version} is not supported (expected {expected_version})"),
        ));
    }
    payload
        .alerts
        .into_iter()
        .enumerate()
        .map(|(index, alert)| grouped_alert(vendor, index, alert))
        .collect()
}

fn grouped_alert(
    vendor: Vendor,
    index: usize,
    alert: GroupedAlert,
) -> Result<ExternalAlertDetail, PayloadError> {
    let status = match alert.status.as_str() {
        "firing" => "firing",
        "resolved" => "resolved",
        other => {
            return Err(payload_error(
                vendor,
                format!("alerts[{index}].status `{other}` is neither firing nor resolved"),
            ));
        }
    };
    // Alertmanager's fingerprint is a hash of the label set; without one, hashing the sorted
    // labels gives the same stability (the same alert, the same id, firing or resolved).
    let alert_id =
        non_empty(alert.fingerprint.as_ref()).unwrap_or_else(|| label_fingerprint(&alert.labels));
    let name = alert
        .labels
        .get("alertname")
        .cloned()
        .unwrap_or_else(|| "unnamed alert".to_string());
    // Alertmanager writes the zero time (year 1) for "not ended"; that is no end at all.
    let ends_at = alert
        .ends_at
        .filter(|ends_at| ends_at.year() > 1 && status == "resolved");
    let url = [&alert.generator_url, &alert.panel_url, &alert.dashboard_url]
        .into_iter()
        .find_map(|url| non_empty(url.as_ref()));
    Ok(ExternalAlertDetail {
        schema_version: SCHEMA_VERSION,
        vendor: vendor.as_str().to_string(),
        alert_id: published_alert_id(vendor, alert_id)?,
        status: status.to_string(),
        resource: resource_from(&alert.labels),
        severity: non_empty(alert.labels.get("severity")),
        summary: non_empty(alert.annotations.get("summary"))
            .or_else(|| non_empty(alert.annotations.get("message")))
            .unwrap_or_default(),
        description: non_empty(alert.annotations.get("description"))
            .map(|text| truncate(&text, MAX_DESCRIPTION_CHARS)),
        name,
        labels: alert.labels,
        starts_at: alert.starts_at,
        ends_at,
        url,
    })
}

fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in labels {
        hasher.update(key.as_bytes());
        hasher.update([0xff]);
        hasher.update(value.as_bytes());
        hasher.update([0xff]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

// ---------------------------------------------------------------- Datadog

/// Both Datadog shapes in one: the default payload (`id`, `title`, `body`, `date`,
/// `last_updated`, `event_type`, `org`) and the fields Argus asks to add with a custom payload
/// (`alert_id`, `transition`, `scope`, `priority`, `tags`, `link`, `alert_title`, `status`).
/// Datadog sends every value as a string.
#[derive(Debug, Deserialize)]
struct DatadogPayload {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    alert_id: Option<String>,
    #[serde(default)]
    transition: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    alert_title: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

fn datadog(body: &[u8]) -> Result<Vec<ExternalAlertDetail>, PayloadError> {
    let vendor = Vendor::Datadog;
    let payload: DatadogPayload = parse_json(vendor, body)?;
    let title = non_empty(payload.title.as_ref()).unwrap_or_default();
    // `$EVENT_TITLE` starts with the transition in brackets, e.g. `[Triggered on {host:a}]`.
    let (title_transition, title_scope, title_rest) = split_datadog_title(&title);
    let transition = non_empty(payload.transition.as_ref())
        .or(title_transition)
        .unwrap_or_default();
    let status = match transition.to_ascii_lowercase().as_str() {
        "recovered" => "resolved",
        "triggered" | "re-triggered" | "warn" | "re-warn" | "no data" | "re-no data"
        | "renotify" => "firing",
        _ => return Ok(Vec::new()),
    };
    let monitor = non_empty(payload.alert_id.as_ref())
        .or_else(|| payload.body.as_deref().and_then(monitor_id_in))
        .or_else(|| non_empty(payload.id.as_ref()))
        .ok_or_else(|| payload_error(vendor, "neither `alert_id` nor `id` is present"))?;
    let scope = non_empty(payload.scope.as_ref()).or(title_scope);
    // One monitor alerts once per scope (host, service…); the pair is the alert.
    let alert_id = match &scope {
        Some(scope) => format!("{monitor}:{scope}"),
        None => monitor,
    };
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for tag in payload
        .tags
        .iter()
        .chain(scope.iter())
        .flat_map(|text| text.split(','))
    {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
        labels.insert(key.to_string(), value.to_string());
    }
    let name = non_empty(payload.alert_title.as_ref())
        .map(|title| split_datadog_title(&title).2)
        .unwrap_or(title_rest);
    let happened_at = [&payload.date, &payload.last_updated]
        .into_iter()
        .find_map(|value| value.as_deref().and_then(epoch_millis))
        .ok_or_else(|| payload_error(vendor, "`date` is not epoch milliseconds"))?;
    let severity = non_empty(payload.priority.as_ref()).or_else(|| {
        transition
            .to_ascii_lowercase()
            .contains("warn")
            .then(|| "warning".to_string())
    });
    Ok(vec![ExternalAlertDetail {
        schema_version: SCHEMA_VERSION,
        vendor: vendor.as_str().to_string(),
        alert_id: published_alert_id(vendor, alert_id)?,
        status: status.to_string(),
        resource: resource_from(&labels),
        severity,
        summary: non_empty(payload.status.as_ref()).unwrap_or_else(|| name.clone()),
        description: non_empty(payload.body.as_ref())
            .map(|text| truncate(&text, MAX_DESCRIPTION_CHARS)),
        name,
        labels,
        starts_at: happened_at,
        ends_at: (status == "resolved").then_some(happened_at),
        url: non_empty(payload.link.as_ref()),
    }])
}

/// `[Triggered on {host:a,env:b}] Rest` → (`Triggered`, `host:a,env:b`, `Rest`).
fn split_datadog_title(title: &str) -> (Option<String>, Option<String>, String) {
    let Some(inner_end) = title
        .strip_prefix('[')
        .and_then(|rest| rest.find(']').map(|end| (rest, end)))
    else {
        return (None, None, title.trim().to_string());
    };
    let (rest, end) = inner_end;
    let bracket = &rest[..end];
    let after = rest[end + 1..].trim().to_string();
    let (transition, scope) = match bracket.split_once(" on ") {
        Some((transition, scope)) => (
            transition.trim(),
            Some(
                scope
                    .trim()
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .to_string(),
            ),
        ),
        None => (bracket.trim(), None),
    };
    (Some(transition.to_string()), scope, after)
}

/// The monitor id in a Datadog message's "Monitor Status" link (`…/monitors#18692904?`).
fn monitor_id_in(body: &str) -> Option<String> {
    let start = body.find("/monitors#")? + "/monitors#".len();
    let digits: String = body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

fn epoch_millis(text: &str) -> Option<DateTime<Utc>> {
    let millis: i64 = text.trim().parse().ok()?;
    Utc.timestamp_millis_opt(millis).single()
}

// ---------------------------------------------------------------- PagerDuty

#[derive(Debug, Deserialize)]
struct PagerDutyWebhook {
    event: PagerDutyEvent,
}

#[derive(Debug, Deserialize)]
struct PagerDutyEvent {
    event_type: String,
    #[serde(default)]
    resource_type: Option<String>,
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    data: Option<PagerDutyIncident>,
}

#[derive(Debug, Deserialize)]
struct PagerDutyIncident {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    priority: Option<PagerDutyReference>,
    #[serde(default)]
    service: Option<PagerDutyReference>,
}

#[derive(Debug, Deserialize)]
struct PagerDutyReference {
    #[serde(default)]
    summary: Option<String>,
}

fn pagerduty(body: &[u8]) -> Result<Vec<ExternalAlertDetail>, PayloadError> {
    let vendor = Vendor::PagerDuty;
    let webhook: PagerDutyWebhook = parse_json(vendor, body)?;
    let event = webhook.event;
    let status = match event.event_type.as_str() {
        "incident.triggered" | "incident.reopened" => "firing",
        "incident.resolved" => "resolved",
        // Acknowledgements, notes, escalations and `pagey.ping` change nothing for Argus.
        _ => return Ok(Vec::new()),
    };
    if event.resource_type.as_deref().unwrap_or("incident") != "incident" {
        return Ok(Vec::new());
    }
    let incident = event
        .data
        .ok_or_else(|| payload_error(vendor, "`event.data` is missing"))?;
    let service = incident
        .service
        .as_ref()
        .and_then(|service| non_empty(service.summary.as_ref()));
    let mut labels = BTreeMap::new();
    if let Some(service) = &service {
        labels.insert("service".to_string(), service.clone());
    }
    if let Some(urgency) = non_empty(incident.urgency.as_ref()) {
        labels.insert("urgency".to_string(), urgency);
    }
    if let Some(number) = incident.number {
        labels.insert("incident_number".to_string(), number.to_string());
    }
    let name = non_empty(incident.title.as_ref()).unwrap_or_else(|| incident.id.clone());
    let summary = match &service {
        Some(service) => format!("{name} (PagerDuty service {service})"),
        None => name.clone(),
    };
    Ok(vec![ExternalAlertDetail {
        schema_version: SCHEMA_VERSION,
        vendor: vendor.as_str().to_string(),
        alert_id: published_alert_id(vendor, incident.id.clone())?,
        status: status.to_string(),
        resource: resource_from(&labels),
        severity: incident
            .priority
            .as_ref()
            .and_then(|priority| non_empty(priority.summary.as_ref()))
            .or_else(|| non_empty(incident.urgency.as_ref())),
        summary,
        description: None,
        name,
        labels,
        starts_at: incident.created_at.unwrap_or(event.occurred_at),
        ends_at: (status == "resolved").then_some(event.occurred_at),
        url: non_empty(incident.html_url.as_ref()),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_grouped_alert_without_fingerprint_gets_a_stable_id_from_its_labels() {
        let firing = json!({"version": "4", "status": "firing", "alerts": [{
            "status": "firing", "labels": {"alertname": "Down", "job": "api"},
            "startsAt": "2026-11-30T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]});
        let resolved = json!({"version": "4", "status": "resolved", "alerts": [{
            "status": "resolved", "labels": {"job": "api", "alertname": "Down"},
            "startsAt": "2026-11-30T08:00:00Z", "endsAt": "2026-11-30T08:05:00Z"}]});
        let firing = normalise(Vendor::Alertmanager, firing.to_string().as_bytes()).unwrap();
        let resolved = normalise(Vendor::Alertmanager, resolved.to_string().as_bytes()).unwrap();
        assert_eq!(firing[0].alert_id, resolved[0].alert_id);
        assert_eq!(firing[0].ends_at, None);
        assert_eq!(
            resolved[0].ends_at.unwrap().to_rfc3339(),
            "2026-11-30T08:05:00+00:00"
        );
    }

    #[test]
    fn a_resource_label_in_argus_form_names_the_resource_and_others_stay_labels() {
        let payload = json!({"version": "4", "alerts": [
            {"status": "firing", "labels": {"alertname": "A", "argus_resource": "ecs:service/prod/checkout"}, "startsAt": "2026-11-30T08:00:00Z"},
            {"status": "firing", "labels": {"alertname": "B", "resource": "not a reference"}, "startsAt": "2026-11-30T08:00:00Z"}]});
        let alerts = normalise(Vendor::Alertmanager, payload.to_string().as_bytes()).unwrap();
        assert_eq!(
            alerts[0].resource.as_deref(),
            Some("ecs:service/prod/checkout")
        );
        assert_eq!(alerts[1].resource, None);
        assert_eq!(alerts[1].labels["resource"], "not a reference");
    }

    #[test]
    fn unsupported_versions_and_bodies_that_are_not_json_are_refused() {
        let v3 = json!({"version": "3", "alerts": []});
        assert!(
            normalise(Vendor::Alertmanager, v3.to_string().as_bytes())
                .unwrap_err()
                .reason
                .contains("version 3")
        );
        assert_eq!(
            normalise(Vendor::PagerDuty, b"<html>").unwrap_err().reason,
            "the body is not JSON"
        );
    }

    #[test]
    fn datadog_custom_payload_fields_win_and_recovery_matches_the_trigger() {
        let trigger = json!({"alert_id": "1234", "transition": "Triggered", "scope": "host:web-1",
            "priority": "P2", "tags": "env:prod,argus_resource:ec2:instance/i-0abc1234def567890", "link": "https://app.datadoghq.com/monitors/1234",
            "alert_title": "[Triggered on {host:web-1}] CPU high", "date": "1764489600000", "status": "cpu > 90", "title": "[Triggered on {host:web-1}] CPU high"});
        let mut recover = trigger.clone();
        recover["transition"] = json!("Recovered");
        let trigger = normalise(Vendor::Datadog, trigger.to_string().as_bytes()).unwrap();
        let recover = normalise(Vendor::Datadog, recover.to_string().as_bytes()).unwrap();
        assert_eq!(trigger[0].alert_id, "1234:host:web-1");
        assert_eq!(trigger[0].alert_id, recover[0].alert_id);
        assert_eq!(trigger[0].status, "firing");
        assert_eq!(recover[0].status, "resolved");
        assert_eq!(trigger[0].name, "CPU high");
        assert_eq!(trigger[0].severity.as_deref(), Some("P2"));
        assert_eq!(
            trigger[0].resource.as_deref(),
            Some("ec2:instance/i-0abc1234def567890")
        );
        assert_eq!(trigger[0].labels["host"], "web-1");
    }

    #[test]
    fn attack_a_resource_label_outside_its_grammar_stays_a_label() {
        let trigger = json!({"alert_id": "1234", "transition": "Triggered", "scope": "host:web-1",
            "tags": "argus_resource:ec2:instance/i-0aaa/../../x", "title": "[Triggered] CPU high",
            "date": "1764489600000"});
        let alerts = normalise(Vendor::Datadog, trigger.to_string().as_bytes()).unwrap();
        assert_eq!(alerts[0].resource, None);
        assert_eq!(
            alerts[0].labels["argus_resource"],
            "ec2:instance/i-0aaa/../../x"
        );
    }

    #[test]
    fn an_alert_id_outside_the_grammar_is_published_as_its_hash() {
        let trigger = json!({"alert_id": "1234", "transition": "Triggered", "scope": "host:web 1;reboot",
            "title": "[Triggered] CPU high", "date": "1764489600000"});
        let alerts = normalise(Vendor::Datadog, trigger.to_string().as_bytes()).unwrap();
        assert_eq!(alerts[0].alert_id.len(), 64, "{}", alerts[0].alert_id);
        assert!(crate::resource_grammar::other_id(&alerts[0].alert_id).is_ok());
    }

    #[test]
    fn a_datadog_notification_of_unknown_transition_is_no_alert() {
        let payload = json!({"id": "1", "title": "[Muted] something", "date": "1764489600000"});
        assert_eq!(
            normalise(Vendor::Datadog, payload.to_string().as_bytes()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn pagerduty_acknowledgements_and_pings_are_no_alert() {
        for event_type in ["incident.acknowledged", "pagey.ping"] {
            let payload = json!({"event": {"id": "e", "event_type": event_type, "resource_type": "incident",
                "occurred_at": "2026-11-30T08:00:00Z", "data": {"id": "P1"}}});
            assert_eq!(
                normalise(Vendor::PagerDuty, payload.to_string().as_bytes()).unwrap(),
                vec![]
            );
        }
    }

    #[test]
    fn paths_name_vendors() {
        for vendor in Vendor::ALL {
            assert_eq!(Vendor::from_path(vendor.path()), Some(vendor));
        }
        assert_eq!(Vendor::from_path("/webhooks/nagios"), None);
    }
}
