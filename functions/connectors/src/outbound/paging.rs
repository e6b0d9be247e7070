//! PagerDuty Events API v2: trigger a page for an incident and resolve it, with the
//! correlation id as `dedup_key`, so a retried trigger joins the same PagerDuty incident.

use super::brief::Brief;
use super::channels::{PAGERDUTY, PagerDuty};
use crate::delivery::{Delivery, DeliveryError, HttpRequest, Method};
use serde_json::{Value, json};

/// PagerDuty cuts summaries longer than this.
const SUMMARY_LIMIT: usize = 1024;

/// PagerDuty's severities from the assessment's 1-10.
pub fn pagerduty_severity(brief: &Brief) -> &'static str {
    match brief.severity {
        Some(8..) => "critical",
        Some(6..=7) => "error",
        Some(4..=5) => "warning",
        Some(_) => "info",
        // Argus pages only when it could not fix something; unassessed is not "info".
        None => "error",
    }
}

/// The trigger event's body, without the routing key (added when sending).
pub fn trigger_event(brief: &Brief, why: &str) -> Value {
    let hypotheses: Vec<Value> = brief
        .hypotheses
        .iter()
        .map(|hypothesis| json!({"statement": hypothesis.statement, "likelihood": hypothesis.likelihood, "evidence": hypothesis.evidence}))
        .collect();
    let mut links = Vec::new();
    if let Some(link) = &brief.execution_link {
        links.push(json!({"href": link, "text": "Argus recovery workflow"}));
    }
    json!({
        "event_action": "trigger",
        "dedup_key": brief.id,
        "payload": {
            "summary": argus::signal::cap_text(&format!("{} ({why})", brief.headline()), SUMMARY_LIMIT),
            "source": brief.resource,
            "severity": pagerduty_severity(brief),
            "timestamp": brief.opened_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "component": brief.resource.split('/').next().unwrap_or(&brief.resource),
            "group": brief.account.clone().unwrap_or_default(),
            "class": brief.classification.unwrap_or("unknown"),
            "custom_details": {
                "correlation_id": brief.id,
                "why_paged": why,
                "what": brief.summary,
                "where": brief.location(),
                "status": brief.status.as_str(),
                "severity": brief.severity,
                "confidence": brief.confidence,
                "hypotheses": hypotheses,
                "plan": brief.plan_text(),
                "rollback": brief.action.as_ref().map(|action| action.rollback.clone()),
                "budget": brief.budget_text(),
                "reasons": brief.reasons,
            }
        },
        "links": links,
        "client": "Argus",
        "client_url": brief.execution_link,
    })
}

/// Sends one event (trigger or resolve); returns the dedup key PagerDuty acknowledged.
async fn send_event(
    delivery: &Delivery,
    pagerduty: &PagerDuty,
    mut event: Value,
) -> Result<Option<String>, DeliveryError> {
    event["routing_key"] = Value::String(pagerduty.routing_key.expose().to_string());
    let request = HttpRequest::new(Method::POST, &pagerduty.events_url).json(event);
    let response = delivery.send(PAGERDUTY, &request).await?;
    if response.body.get("status").and_then(Value::as_str) != Some("success") {
        return Err(DeliveryError::UnexpectedAnswer {
            channel: PAGERDUTY.to_string(),
            detail: "the Events API did not answer status success".to_string(),
        });
    }
    Ok(response
        .body
        .get("dedup_key")
        .and_then(Value::as_str)
        .map(str::to_string))
}

pub async fn trigger(
    delivery: &Delivery,
    pagerduty: &PagerDuty,
    brief: &Brief,
    why: &str,
) -> Result<Option<String>, DeliveryError> {
    send_event(delivery, pagerduty, trigger_event(brief, why)).await
}

pub async fn resolve(
    delivery: &Delivery,
    pagerduty: &PagerDuty,
    brief: &Brief,
) -> Result<Option<String>, DeliveryError> {
    send_event(
        delivery,
        pagerduty,
        json!({"event_action": "resolve", "dedup_key": brief.id}),
    )
    .await
}
