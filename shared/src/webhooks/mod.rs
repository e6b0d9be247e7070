//! Vendor alert webhooks as Argus takes them in: each vendor's payload normalised into "Argus
//! External Alert" details ([`alerts`], what the public endpoint publishes), and, for local
//! replays, which vendor a payload is ([`detect`]) and the events the endpoint's PutEvents would
//! have delivered for it ([`delivered_events`]), so a replay runs the same code as the functions.

pub mod alerts;

pub use alerts::{PayloadError, Vendor};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Which vendor's webhook `payload` is, by its shape; `None` for anything else (an AWS event,
/// or Argus' own):
/// - Alertmanager (version 4) and Grafana: a grouped notification, `alerts` and `groupKey` or
///   `receiver`; Grafana's carries `orgId`;
/// - PagerDuty (v3): `event.event_type` of an `incident.*` or `pagey.*` event;
/// - Datadog: its default payload's `event_type` and `last_updated`, or the documented payload's
///   `transition` / `alert_transition`.
pub fn detect(payload: &Value) -> Option<Vendor> {
    let object = payload.as_object()?;
    if object.contains_key("detail-type") {
        return None;
    }
    if object.get("alerts").is_some_and(Value::is_array)
        && (object.contains_key("groupKey") || object.contains_key("receiver"))
    {
        return Some(if object.contains_key("orgId") {
            Vendor::Grafana
        } else {
            Vendor::Alertmanager
        });
    }
    let pagerduty_type = object
        .get("event")
        .and_then(|event| event.get("event_type"))
        .and_then(Value::as_str);
    if pagerduty_type
        .is_some_and(|kind| kind.starts_with("incident.") || kind.starts_with("pagey."))
    {
        return Some(Vendor::PagerDuty);
    }
    if object.contains_key("transition")
        || object.contains_key("alert_transition")
        || (object.contains_key("event_type") && object.contains_key("last_updated"))
    {
        return Some(Vendor::Datadog);
    }
    None
}

/// The EventBridge events the public endpoint would put on the Argus bus for a webhook `body`
/// received at `now`, one per alert, as EventBridge delivers them. EventBridge gives each event a
/// new id; a replay derives it from the event's content instead (`webhook-` and a SHA-256 of the
/// vendor and the detail), so replaying the same file twice is the same delivery.
pub fn delivered_events(
    vendor: Vendor,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Value>, PayloadError> {
    Ok(alerts::normalise(vendor, body)?
        .iter()
        .map(|detail| {
            let event = alerts::bus_event(detail, now);
            let digest =
                Sha256::digest(format!("{}\n{}", vendor.as_str(), event.detail).as_bytes());
            let id: String = digest
                .iter()
                .take(16)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            json!({
                "version": "0",
                "id": format!("webhook-{id}"),
                "detail-type": event.detail_type,
                "source": event.source,
                "time": event.time,
                "resources": event.resources,
                "detail": event.detail,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn samples(folder: &str) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(folder);
        let mut files = Vec::new();
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|ext| ext == "json") {
                    files.push(path);
                }
            }
        }
        files
    }

    fn read(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or(Value::Null)
    }

    #[test]
    fn every_webhook_sample_is_its_vendors_and_no_aws_or_argus_event_is_a_webhook() {
        for path in samples("webhooks") {
            let vendor = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|name| name.to_str())
                .unwrap()
                .to_string();
            assert_eq!(
                detect(&read(&path)).map(Vendor::as_str),
                Some(vendor.as_str()),
                "{}",
                path.display()
            );
        }
        for folder in [
            "cloudwatch-alarm",
            "cloudtrail",
            "ec2-state-change",
            "aws-health",
            "argus",
            "invalid",
            "scheduled",
        ] {
            for path in samples(folder) {
                assert_eq!(detect(&read(&path)), None, "{}", path.display());
            }
        }
    }

    #[test]
    fn each_alert_of_a_group_is_one_event_with_an_id_from_its_content() {
        let body = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/webhooks/alertmanager/alertmanager-v4-firing-2-alerts.json"),
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2020-02-06T00:18:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let events = delivered_events(Vendor::Alertmanager, &body, now).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["source"], "argus.connectors");
        assert_eq!(events[0]["detail-type"], "Argus External Alert");
        assert_ne!(events[0]["id"], events[1]["id"]);
        let again = delivered_events(Vendor::Alertmanager, &body, now).unwrap();
        assert_eq!(
            events[0]["id"], again[0]["id"],
            "the same body, the same delivery"
        );
        let mut different: Value = serde_json::from_slice(&body).unwrap();
        different["alerts"][0]["labels"]["instance"] = json!("elsewhere:9100");
        let changed =
            delivered_events(Vendor::Alertmanager, different.to_string().as_bytes(), now).unwrap();
        assert_ne!(events[0]["id"], changed[0]["id"]);
    }
}
