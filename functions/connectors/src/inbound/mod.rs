//! The inbound endpoint behind a Lambda Function URL: vendor alert webhooks become "Argus
//! External Alert" events on the bus, and approval answers (Slack buttons, signed links) resume
//! the recovery workflow. `Inbound::handle` routes one request; every response is built here
//! and none echoes a secret.

pub use argus::webhooks::alerts;
pub mod approvals;
pub mod auth;
pub mod http;
pub mod links;
pub mod rate_limit;
pub mod settings;
pub mod slack;
pub mod task_callback;
pub mod wiring;

use crate::secrets::{Secrets, names};
use alerts::Vendor;
use approvals::Approvals;
use argus::config::Config;
use argus::incident::IncidentWriteError;
use argus::loganalysis::ports::{EventBus, EventBusError};
use argus::ports::{Clock, IncidentStore, StoreError};
use http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};
use serde_json::json;
use std::sync::Arc;
use task_callback::TaskCallback;

/// What the public endpoint may hold: the secrets that authenticate its senders. Vendor tokens
/// (Slack bot, PagerDuty routing key, ServiceNow, Jira, GitHub, Confluence) belong to the
/// outbound function only, so a compromised endpoint cannot speak to people or open tickets.
pub const ENDPOINT_SECRETS: &[&str] = &[
    names::ALERTMANAGER_TOKEN,
    names::APPROVAL_LINK_KEY,
    names::DATADOG_WEBHOOK_SECRET,
    names::GRAFANA_HMAC_SECRET,
    names::GRAFANA_TOKEN,
    names::PAGERDUTY_WEBHOOK_SECRET,
    names::SLACK_SIGNING_SECRET,
];

/// The endpoint's secrets out of whatever the secret holds (Terraform gives the endpoint its own
/// secret; a deployment that shares one still keeps only these in memory).
pub fn endpoint_secrets(loaded: &Secrets) -> Secrets {
    loaded.only(ENDPOINT_SECRETS)
}

pub const SLACK_INTERACTIONS_PATH: &str = "/slack/interactions";
pub const APPROVALS_PATH: &str = "/approvals";

/// A failure of a system the endpoint depends on. The caller gets 503 (vendors and Slack retry
/// on 5xx) naming the `error_type`, and the log line carries the same name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Incident(#[from] IncidentWriteError),
    #[error(transparent)]
    EventBus(#[from] EventBusError),
}

impl From<StoreError> for InboundError {
    fn from(error: StoreError) -> Self {
        Self::Incident(IncidentWriteError::Store(error))
    }
}

impl InboundError {
    /// Stable names: `StoreThrottled`, `StoreUnavailable`, `StoreCorrupt`, `ConcurrentUpdate`,
    /// `EventBusThrottled`, `EventBusUnavailable`, `EventBusRejected`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Incident(error) => error.error_type(),
            Self::EventBus(error) => error.error_type(),
        }
    }
}

pub(crate) fn error_response(error: &InboundError) -> HttpResponse {
    tracing::error!(error_type = error.error_type(), %error, "inbound request failed");
    HttpResponse::error(503, error.error_type(), "a dependency failed; retry later")
        .with_header("retry-after", "30")
}

/// Everything the endpoint needs, each behind the narrowest port.
pub struct Inbound {
    pub store: Arc<dyn IncidentStore>,
    pub bus: Arc<dyn EventBus>,
    pub callback: Arc<dyn TaskCallback>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub secrets: Secrets,
    /// Replaces the buttons of a Slack approval request with the outcome.
    pub slack_responder: Arc<dyn slack::SlackResponder>,
    /// The per-source budget every request spends before anything else is read.
    pub rate_limit: rate_limit::RateLimiter,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Routes one request and answers it; failures of dependencies become 503.
    pub async fn handle(&self, request: &HttpRequest) -> HttpResponse {
        let response = match self.route(request).await {
            Ok(response) => response,
            Err(error) => error_response(&error),
        };
        tracing::info!(
            method = %request.method,
            path = %request.path,
            status = response.status,
            "inbound request answered"
        );
        response
    }

    async fn route(&self, request: &HttpRequest) -> Result<HttpResponse, InboundError> {
        // First and cheapest: a source past its budget learns nothing and costs no parsing,
        // signature check or store read.
        if let Err(seconds) = self
            .rate_limit
            .admit(request.source_ip.as_deref(), self.clock.now())
        {
            tracing::warn!(source = ?request.source_ip, "request refused: over the source's rate limit");
            return Ok(HttpResponse::error(429, "too_many_requests", "slow down")
                .with_header("retry-after", &seconds.to_string()));
        }
        let path = request.path.trim_end_matches('/');
        let allowed: &str = if Vendor::from_path(path).is_some() || path == SLACK_INTERACTIONS_PATH
        {
            "POST"
        } else if path == APPROVALS_PATH {
            "GET, POST"
        } else {
            return Ok(HttpResponse::error(404, "not_found", "no such endpoint"));
        };
        if !allowed.split(", ").any(|method| method == request.method) {
            return Ok(
                HttpResponse::error(405, "method_not_allowed", "method not allowed")
                    .with_header("allow", allowed),
            );
        }
        if request.body.len() > MAX_BODY_BYTES {
            return Ok(HttpResponse::error(
                413,
                "payload_too_large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        if let Some(vendor) = Vendor::from_path(path) {
            return self.webhook(vendor, request).await;
        }
        let approvals = Approvals {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            config: &self.config,
            callback: self.callback.as_ref(),
        };
        let link_key = self.secrets.get(names::APPROVAL_LINK_KEY);
        match (path, request.method.as_str()) {
            (SLACK_INTERACTIONS_PATH, _) => self.slack(request, &approvals).await,
            (_, "GET") => {
                links::confirmation_page(request, link_key, self.store.as_ref(), self.clock.now())
                    .await
            }
            _ => links::submit(request, link_key, &approvals).await,
        }
    }

    async fn webhook(
        &self,
        vendor: Vendor,
        request: &HttpRequest,
    ) -> Result<HttpResponse, InboundError> {
        let now = self.clock.now();
        if let Err(failure) = auth::authenticate(vendor, request, &self.secrets, now) {
            tracing::warn!(
                vendor = vendor.as_str(),
                reason = failure.as_str(),
                "webhook refused"
            );
            return Ok(HttpResponse::error(401, "unauthorized", failure.as_str()));
        }
        let alerts = match alerts::normalise(vendor, &request.body) {
            Ok(alerts) => alerts,
            Err(error) => {
                tracing::warn!(vendor = vendor.as_str(), %error, "webhook payload refused");
                return Ok(HttpResponse::error(400, "bad_payload", &error.to_string()));
            }
        };
        let events: Vec<_> = alerts
            .iter()
            .map(|alert| alerts::bus_event(alert, now))
            .collect();
        if !events.is_empty() {
            self.bus.put(&events).await?;
        }
        tracing::info!(
            vendor = vendor.as_str(),
            alerts = events.len(),
            "webhook alerts published"
        );
        Ok(HttpResponse::json(
            202,
            &json!({"accepted": events.len(), "vendor": vendor.as_str()}),
        ))
    }

    async fn slack(
        &self,
        request: &HttpRequest,
        approvals: &Approvals<'_>,
    ) -> Result<HttpResponse, InboundError> {
        let secret = self.secrets.get(names::SLACK_SIGNING_SECRET);
        let answer = match slack::read_answer(request, secret, self.clock.now()) {
            Ok(answer) => answer,
            Err(slack::SlackRejection::Unauthenticated(reason)) => {
                tracing::warn!(reason, "Slack request refused");
                return Ok(HttpResponse::error(401, "unauthorized", reason));
            }
            Err(slack::SlackRejection::NotAnApproval(reason)) => {
                return Ok(HttpResponse::error(400, "not_an_approval", reason));
            }
        };
        let outcome = approvals.answer(&answer).await?;
        if let Some(response_url) = &answer.reply_to {
            let (_, message) = slack::message(&answer, &outcome);
            if let Err(reason) = self.slack_responder.respond(response_url, &message).await {
                tracing::warn!(%reason, "the Slack message could not be updated");
            }
        }
        Ok(slack::reply(&answer, &outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::task_callback::{self, TaskCallbackError};
    use super::wiring::{TASK_CALLBACK_API_CALLS, api_calls, error_types};
    use super::*;
    use argus::incident::IncidentWriteError;

    #[test]
    fn attack_public_endpoint_holds_no_vendor_token() {
        // GIVEN one secret holding every connector value WHEN the public endpoint loads it
        // THEN it keeps only what authenticates its senders.
        let every: std::collections::BTreeMap<String, String> = [
            names::SLACK_BOT_TOKEN,
            names::SLACK_WEBHOOK_URL,
            names::PAGERDUTY_ROUTING_KEY,
            names::SERVICENOW_PASSWORD,
            names::JIRA_API_TOKEN,
            names::GITHUB_TOKEN,
            names::CONFLUENCE_API_TOKEN,
            names::TEAMS_WEBHOOK_URL,
            names::SLACK_SIGNING_SECRET,
            names::APPROVAL_LINK_KEY,
            names::ALERTMANAGER_TOKEN,
        ]
        .iter()
        .map(|name| (name.to_string(), format!("value-of-{name}")))
        .collect();
        let kept = endpoint_secrets(&Secrets::from_map(every));
        let kept: Vec<&str> = kept.names().collect();
        assert_eq!(
            kept,
            vec![
                names::ALERTMANAGER_TOKEN,
                names::APPROVAL_LINK_KEY,
                names::SLACK_SIGNING_SECRET
            ]
        );
    }

    #[test]
    fn the_lists_are_the_endpoint_s_own_names() {
        let text = String::new;
        let mut own: Vec<&'static str> = [
            InboundError::from(StoreError::Throttled(text())),
            InboundError::from(StoreError::Unavailable(text())),
            InboundError::from(StoreError::Corrupt(text())),
            InboundError::from(IncidentWriteError::Contended(text())),
            InboundError::from(EventBusError::Throttled(text())),
            InboundError::from(EventBusError::Unavailable(text())),
            InboundError::from(EventBusError::Rejected {
                failed: 1,
                total: 1,
                reason: text(),
            }),
        ]
        .iter()
        .map(InboundError::error_type)
        .collect();
        own.extend(
            [
                TaskCallbackError::TaskGone(text()),
                TaskCallbackError::Throttled(text()),
                TaskCallbackError::Unavailable(text()),
            ]
            .iter()
            .map(TaskCallbackError::error_type),
        );
        own.push(task_callback::APPROVAL_REJECTED_ERROR);
        own.push(task_callback::INCIDENT_RESOLVED_ERROR);
        own.sort_unstable();
        own.dedup();
        assert_eq!(error_types(), own);
        assert_eq!(
            error_types(),
            vec![
                "ApprovalRejected",
                "ApprovalTaskGone",
                "Argus.IncidentResolved",
                "ConcurrentUpdate",
                "EventBusRejected",
                "EventBusThrottled",
                "EventBusUnavailable",
                "StoreCorrupt",
                "StoreThrottled",
                "StoreUnavailable",
                "TaskCallbackThrottled",
                "TaskCallbackUnavailable",
            ]
        );
        assert_eq!(task_callback::API_CALLS, TASK_CALLBACK_API_CALLS);
        assert!(api_calls().contains(&"events:PutEvents"));
    }
}
