//! Argus' own detail-types: "Argus Log Anomaly" (log analyzer) and "Argus External Alert"
//! (connectors' webhooks). Their schemas are documented in events/README.md.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const LOG_ANOMALY_DETAIL_TYPE: &str = "Argus Log Anomaly";
pub const EXTERNAL_ALERT_DETAIL_TYPE: &str = "Argus External Alert";
pub const LOG_ANOMALY_SOURCE: &str = "argus.log-analyzer";
pub const EXTERNAL_ALERT_SOURCE: &str = "argus.connectors";
const SCHEMA_VERSION: u32 = 1;
const ANOMALY_EVENT: &str = "Argus Log Anomaly event";
const ALERT_EVENT: &str = "Argus External Alert event";
const MAX_SAMPLES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub mean: f64,
    pub stddev: f64,
    /// How many windows the baseline was learned over.
    pub windows: u64,
}

/// Detail of "Argus Log Anomaly".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogAnomalyDetail {
    pub schema_version: u32,
    pub log_group: String,
    /// The resource the log group belongs to; defaults to `logs:log-group/<log_group>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `new_error_template`, `rate_spike` or `heartbeat_missing`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub window: TimeWindow,
    pub template_id: String,
    pub template: String,
    pub count: u64,
    #[serde(default)]
    pub baseline: Baseline,
    pub score: f64,
    #[serde(default)]
    pub samples: Vec<String>,
}

/// Detail of "Argus External Alert".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalAlertDetail {
    pub schema_version: u32,
    /// `alertmanager`, `datadog`, `pagerduty` or `grafana`.
    pub vendor: String,
    /// The vendor's stable id of the alert (fingerprint, monitor id, incident id).
    pub alert_id: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn check_version(version: u32, event: &'static str) -> Result<(), NormaliseError> {
    if version == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(invalid(
            event,
            "detail.schema_version",
            &format!("{version} is not supported (expected {SCHEMA_VERSION})"),
        ))
    }
}

pub(super) fn log_anomaly(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, ANOMALY_EVENT)?;
    let detail: LogAnomalyDetail = decode(&envelope.detail, ANOMALY_EVENT, "detail")?;
    check_version(detail.schema_version, ANOMALY_EVENT)?;
    if !matches!(
        detail.kind.as_str(),
        "new_error_template" | "rate_spike" | "heartbeat_missing"
    ) {
        return Err(invalid(
            ANOMALY_EVENT,
            "detail.kind",
            "expected new_error_template, rate_spike or heartbeat_missing",
        ));
    }
    let resource = match &detail.resource {
        Some(resource) => ResourceRef::parse_checked(resource)
            .map_err(|error| invalid(ANOMALY_EVENT, "detail.resource", error.reason))?,
        None => ResourceRef::checked("logs", "log-group", &detail.log_group)
            .map_err(|error| invalid(ANOMALY_EVENT, "detail.log_group", error.reason))?,
    };
    let mut evidence = vec![
        Evidence::new(
            "log.anomaly",
            "log anomaly",
            format!(
                "{} in {}: template {} seen {} times between {} and {} (baseline mean {:.2}, stddev {:.2} over {} windows; score {:.2})",
                detail.kind,
                detail.log_group,
                detail.template_id,
                detail.count,
                detail.window.start.to_rfc3339(),
                detail.window.end.to_rfc3339(),
                detail.baseline.mean,
                detail.baseline.stddev,
                detail.baseline.windows,
                detail.score
            ),
        ),
        Evidence::new("log.template", "log template", &detail.template),
    ];
    for (index, sample) in detail.samples.iter().take(MAX_SAMPLES).enumerate() {
        evidence.push(Evidence::new(
            format!("log.sample.{}", index + 1),
            "log sample",
            sample,
        ));
    }
    let severity_hint = match detail.level.as_deref() {
        Some("fatal" | "critical") => Some(8),
        Some("error") => Some(6),
        _ => Some(4),
    };
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!("eventbridge:{}", envelope.id),
        source: SignalSource::LogAnomaly,
        effect: SignalEffect::Opens,
        signature: format!("log:{}:{}", detail.log_group, detail.template_id),
        resource,
        account: envelope.account,
        region: envelope.region,
        observed_at: detail.window.end,
        title: format!("log anomaly ({}) in {}", detail.kind, detail.log_group),
        state: detail.kind.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence,
    }]))
}

pub(super) fn external_alert(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, ALERT_EVENT)?;
    let detail: ExternalAlertDetail = decode(&envelope.detail, ALERT_EVENT, "detail")?;
    check_version(detail.schema_version, ALERT_EVENT)?;
    let effect = match detail.status.as_str() {
        "firing" => SignalEffect::Opens,
        "resolved" => SignalEffect::Clears,
        _ => {
            return Err(invalid(
                ALERT_EVENT,
                "detail.status",
                "expected firing or resolved",
            ));
        }
    };
    let resource = match &detail.resource {
        Some(resource) => ResourceRef::parse_checked(resource)
            .map_err(|error| invalid(ALERT_EVENT, "detail.resource", error.reason))?,
        None => ResourceRef::checked("external", &detail.vendor, &detail.alert_id)
            .map_err(|error| invalid(ALERT_EVENT, "detail.alert_id", error.reason))?,
    };
    let severity_hint = match detail
        .severity
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("critical" | "p1" | "sev1") => Some(8),
        Some("error" | "high" | "p2") => Some(6),
        Some("warning" | "medium" | "p3") => Some(4),
        Some(_) => Some(3),
        None => None,
    };
    let labels: Vec<String> = detail
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut evidence = vec![
        Evidence::new(
            "alert.summary",
            "alert summary",
            format!(
                "{} ({}) from {}: {}",
                detail.name, detail.status, detail.vendor, detail.summary
            ),
        ),
        Evidence::new("alert.labels", "alert labels", labels.join(", ")),
    ];
    if let Some(description) = &detail.description {
        evidence.push(Evidence::new(
            "alert.description",
            "alert description",
            description,
        ));
    }
    let observed_at = match (effect, detail.ends_at) {
        (SignalEffect::Clears, Some(ends_at)) => ends_at,
        _ => detail.starts_at,
    };
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!(
            "external:{}:{}:{}:{}",
            detail.vendor,
            detail.alert_id,
            detail.status,
            observed_at.to_rfc3339()
        ),
        source: SignalSource::ExternalAlert,
        effect,
        signature: format!("external:{}:{}", detail.vendor, detail.name),
        resource,
        account: envelope.account,
        region: envelope.region,
        observed_at,
        title: format!(
            "{} alert {} is {}",
            detail.vendor, detail.name, detail.status
        ),
        state: detail.status.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint,
        principal: None,
        correlation_hint: None,
        origin: Some(format!("external:{}:{}", detail.vendor, detail.alert_id)),
        evidence,
    }]))
}
