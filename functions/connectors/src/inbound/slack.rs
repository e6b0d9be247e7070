//! Slack interactivity: the Approve / Reject buttons of an approval request. The request is
//! verified (v0 signature over the raw body, five-minute window) before its payload is read,
//! the approver is the Slack user who clicked, and the answer replaces the buttons.
//!
//! Slack ignores the body of the HTTP answer to a `block_actions` request, so the outcome is
//! also posted to the interaction's `response_url`, which is what updates the message.

use super::approvals::{AnswerOutcome, ApprovalAnswer, PostedMessage, Refusal, outcome_json};
use super::http::{HttpRequest, HttpResponse};
use crate::signing::{SigningKey, SlackSignatureError, verify_slack};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// `action_id`s of the buttons. The answer is what Argus made the button mean (this pair), never
/// the free text of its `value`.
pub const APPROVE_ACTION_ID: &str = "argus_approve";
pub const REJECT_ACTION_ID: &str = "argus_reject";

/// The `block_id` of the approval's buttons: a click counts only inside its approval's block.
pub fn approval_block_id(approval: &str) -> String {
    format!("argus_approval_{approval}")
}

/// What a button's `value` holds: the approval it answers, never the task token. Buttons that
/// older versions posted also carried `approve`; it is only checked against the button.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ButtonValue {
    pub incident: String,
    pub approval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct InteractionPayload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<SlackAction>,
    #[serde(default)]
    response_url: Option<String>,
    /// The message the clicked button is on.
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    channel: Option<SlackChannel>,
    #[serde(default)]
    message: Option<SlackMessage>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    message_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SlackChannel {
    id: String,
}

#[derive(Debug, Deserialize)]
struct SlackMessage {
    ts: String,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Debug, Deserialize)]
struct SlackAction {
    #[serde(default)]
    action_id: String,
    #[serde(default)]
    block_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// Why a Slack request was not an answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRejection {
    /// 401: unsigned, badly signed, or outside the replay window.
    Unauthenticated(&'static str),
    /// 400: signed, but not an Argus approval button.
    NotAnApproval(&'static str),
}

/// Verifies the request and reads the answer it carries.
pub fn read_answer(
    request: &HttpRequest,
    signing_secret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ApprovalAnswer, SlackRejection> {
    let secret = signing_secret.ok_or(SlackRejection::Unauthenticated(
        "Slack interactivity is not configured",
    ))?;
    let timestamp = request.header(TIMESTAMP_HEADER).unwrap_or_default();
    let signature = request.header(SIGNATURE_HEADER).unwrap_or_default();
    verify_slack(
        &SigningKey::new(secret),
        timestamp,
        signature,
        &request.body,
        now,
    )
    .map_err(|error| {
        SlackRejection::Unauthenticated(match error {
            SlackSignatureError::Malformed => "missing or malformed Slack signature headers",
            SlackSignatureError::Stale => "the request timestamp is outside the replay window",
            SlackSignatureError::BadSignature => "the Slack signature does not match",
        })
    })?;
    let payload = request
        .form_field("payload")
        .ok_or(SlackRejection::NotAnApproval("no `payload` field"))?;
    let payload: InteractionPayload = serde_json::from_str(&payload)
        .map_err(|_| SlackRejection::NotAnApproval("the payload is not an interaction"))?;
    if payload.kind != "block_actions" {
        return Err(SlackRejection::NotAnApproval(
            "only block_actions are answered",
        ));
    }
    let action = payload
        .actions
        .into_iter()
        .find(|action| {
            action.action_id == APPROVE_ACTION_ID || action.action_id == REJECT_ACTION_ID
        })
        .ok_or(SlackRejection::NotAnApproval("no Argus approval button"))?;
    let value: ButtonValue = action
        .value
        .as_deref()
        .and_then(|value| serde_json::from_str(value).ok())
        .ok_or(SlackRejection::NotAnApproval(
            "the button value is not an approval",
        ))?;
    // The decision is what Argus made the clicked button mean; a value saying otherwise was
    // edited, and is no answer at all.
    let approve = action.action_id == APPROVE_ACTION_ID;
    if value.approve.is_some_and(|says| says != approve) {
        return Err(SlackRejection::NotAnApproval(
            "the button's value contradicts the button",
        ));
    }
    if action.block_id != approval_block_id(&value.approval) {
        return Err(SlackRejection::NotAnApproval(
            "the button is not in its approval's block",
        ));
    }
    // Where the button is: checked against where Argus posted the request.
    let message = {
        let container = payload.container.as_ref();
        let channel = container
            .and_then(|c| c.channel_id.clone())
            .or_else(|| payload.channel.as_ref().map(|c| c.id.clone()));
        let ts = container
            .and_then(|c| c.message_ts.clone())
            .or_else(|| payload.message.as_ref().map(|m| m.ts.clone()));
        channel
            .zip(ts)
            .map(|(channel, ts)| PostedMessage { channel, ts })
    };
    Ok(ApprovalAnswer {
        incident: value.incident,
        approval: value.approval,
        approve,
        identity: crate::identity::normalise(&format!("slack:{}", payload.user.id)),
        channel: "slack",
        reply_to: payload.response_url,
        message,
    })
}

/// Only Slack's own hosts are ever posted to, whatever a (signed) payload names.
pub const RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

/// Posts a message to an interaction's `response_url`.
#[async_trait]
pub trait SlackResponder: Send + Sync {
    async fn respond(&self, response_url: &str, message: &Value) -> Result<(), String>;
}

/// The real responder: one short attempt; a failure only leaves the buttons in place (the
/// decision itself is already recorded and the workflow resumed).
#[derive(Debug, Clone)]
pub struct HttpSlackResponder {
    client: reqwest::Client,
    allowed_prefix: String,
}

impl HttpSlackResponder {
    pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

    /// `allowed_prefix` is [`RESPONSE_URL_PREFIX`] in production; tests pass a loopback URL.
    pub fn new(allowed_prefix: impl Into<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            client,
            allowed_prefix: allowed_prefix.into(),
        })
    }
}

#[async_trait]
impl SlackResponder for HttpSlackResponder {
    async fn respond(&self, response_url: &str, message: &Value) -> Result<(), String> {
        if !response_url.starts_with(&self.allowed_prefix) {
            return Err(format!(
                "the response_url is not under {}",
                self.allowed_prefix
            ));
        }
        let response = self
            .client
            .post(response_url)
            .json(message)
            .send()
            .await
            // The URL is a short-lived credential for the message: keep it out of the error.
            .map_err(|error| format!("Slack did not answer: {}", error.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("Slack answered {}", response.status().as_u16()))
        }
    }
}

/// The reply to a verified answer: a decision replaces the original message's buttons with the
/// outcome; a refusal is shown only to whoever clicked and leaves the buttons for the others.
pub fn reply(answer: &ApprovalAnswer, outcome: &AnswerOutcome) -> HttpResponse {
    let (status, message) = message(answer, outcome);
    let mut body = message;
    if let (Some(object), Value::Object(extra)) = (body.as_object_mut(), outcome_json(outcome)) {
        object.insert("argus".to_string(), Value::Object(extra));
    }
    HttpResponse::json(status, &body)
}

/// The HTTP status of the answer and the Slack message that shows its outcome.
pub fn message(answer: &ApprovalAnswer, outcome: &AnswerOutcome) -> (u16, Value) {
    let user = answer.identity.trim_start_matches("slack:");
    let (status, message) = match outcome {
        AnswerOutcome::Decided { approved, incident } => {
            let verb = if *approved { "Approved" } else { "Rejected" };
            let action = incident
                .approval
                .as_ref()
                .map(|approval| approval.action.to_string())
                .unwrap_or_default();
            let text = format!(
                "{verb} by <@{user}>: `{action}` on `{}` (incident {}).",
                incident.resource, incident.id
            );
            (200, replacement(&text))
        }
        AnswerOutcome::NotDelivered { approved, error } => {
            let verb = if *approved { "Approved" } else { "Rejected" };
            let status = if error.error_type() == "ApprovalTaskGone" {
                410
            } else {
                503
            };
            let text = format!(
                "{verb} by <@{user}>, but the workflow could not be resumed ({}); it will escalate when the approval times out.",
                error.error_type()
            );
            (status, replacement(&text))
        }
        // Nobody needs the buttons any more: the message says so for everyone.
        AnswerOutcome::Refused(refusal @ Refusal::IncidentResolved) => {
            (refusal.status(), replacement(refusal.explanation()))
        }
        AnswerOutcome::Refused(refusal) => (refusal.status(), ephemeral(refusal)),
    };
    (status, message)
}

fn replacement(text: &str) -> Value {
    json!({
        "replace_original": true,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

fn ephemeral(refusal: &Refusal) -> Value {
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": refusal.explanation(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::slack_signature;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
    }

    fn signed(body: &str, secret: &str, at: DateTime<Utc>) -> HttpRequest {
        let timestamp = at.timestamp().to_string();
        let signature = slack_signature(&SigningKey::new(secret), &timestamp, body.as_bytes());
        HttpRequest::new("POST", "/slack/interactions")
            .with_header(TIMESTAMP_HEADER, &timestamp)
            .with_header(SIGNATURE_HEADER, &signature)
            .with_body(body.as_bytes().to_vec())
    }

    fn form(payload: &Value) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
    }

    #[test]
    fn a_signed_button_click_is_an_answer_by_the_clicking_user() {
        let value = json!({"incident": "inc", "approval": "a1", "approve": false}).to_string();
        let payload = json!({"type": "block_actions", "user": {"id": "U024BE7LH"},
            "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"},
            "actions": [{"action_id": REJECT_ACTION_ID, "block_id": "argus_approval_a1", "value": value}]});
        let answer = read_answer(&signed(&form(&payload), "s", now()), Some("s"), now()).unwrap();
        assert_eq!(
            answer,
            ApprovalAnswer {
                incident: "inc".into(),
                approval: "a1".into(),
                approve: false,
                identity: "slack:U024BE7LH".into(),
                channel: "slack",
                reply_to: None,
                message: Some(PostedMessage {
                    channel: "C1".into(),
                    ts: "1.2".into()
                }),
            }
        );
    }

    #[test]
    fn unsigned_or_foreign_requests_are_not_answers() {
        let payload = json!({"type": "block_actions", "user": {"id": "U1"}, "actions": []});
        let body = form(&payload);
        assert!(matches!(
            read_answer(&signed(&body, "other", now()), Some("s"), now()),
            Err(SlackRejection::Unauthenticated(_))
        ));
        assert!(matches!(
            read_answer(&signed(&body, "s", now()), None, now()),
            Err(SlackRejection::Unauthenticated(_))
        ));
        assert_eq!(
            read_answer(&signed(&body, "s", now()), Some("s"), now()),
            Err(SlackRejection::NotAnApproval("no Argus approval button"))
        );
    }
}
