//! Signed approval links from the approval e-mail. `GET /approvals?t=…` only shows what the
//! link would do (mail scanners and previews fetch links, so a GET must change nothing);
//! `POST /approvals` with the form field `t` gives the answer. The approver is the identity the
//! link was signed for.

use super::InboundError;
use super::approvals::{AnswerOutcome, ApprovalAnswer, Approvals, Refusal};
use super::http::{HttpRequest, HttpResponse, escape_html};
use crate::signing::{LinkClaims, LinkError, SigningKey, verify_link};
use argus::correlation::CorrelationId;
use argus::ports::IncidentStore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

pub const TOKEN_FIELD: &str = "t";

/// A link that failed verification, as a page with its status.
fn link_failure(error: &LinkError) -> HttpResponse {
    match error {
        LinkError::Malformed | LinkError::BadSignature => page(
            401,
            "Link not valid",
            "This approval link is not valid. Use the link from the approval message as sent.",
        ),
        LinkError::Expired(_) => page(410, "Link expired", Refusal::Expired.explanation()),
    }
}

fn answer_of(claims: &LinkClaims) -> ApprovalAnswer {
    ApprovalAnswer {
        incident: claims.incident.clone(),
        approval: claims.approval.clone(),
        approve: claims.approve,
        identity: crate::identity::normalise(&claims.approver),
        channel: "link",
        reply_to: None,
        message: None,
    }
}

/// The claims of a link whose signature verified but which expired. `verify_link` checks the
/// signature before the expiry, so these claims are authentic.
fn expired_claims(token: &str) -> Option<LinkClaims> {
    let (payload, _) = token.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

/// `GET /approvals?t=…`: reads, never writes.
pub async fn confirmation_page(
    request: &HttpRequest,
    key: Option<&str>,
    store: &dyn IncidentStore,
    now: DateTime<Utc>,
) -> Result<HttpResponse, InboundError> {
    let Some(key) = key else {
        return Ok(not_configured());
    };
    let token = request.query_param(TOKEN_FIELD).unwrap_or_default();
    let claims = match verify_link(&SigningKey::new(key), &token, now) {
        Ok(claims) => claims,
        Err(error) => return Ok(link_failure(&error)),
    };
    let incident = match CorrelationId::parse(&claims.incident) {
        Ok(id) => store.incident(&id).await?,
        Err(_) => None,
    };
    let Some((incident, approval)) = incident.and_then(|incident| {
        let approval = incident
            .approval
            .clone()
            .filter(|approval| approval.id == claims.approval)?;
        Some((incident, approval))
    }) else {
        return Ok(page(
            404,
            "Approval not found",
            Refusal::UnknownApproval.explanation(),
        ));
    };
    if approval.decision.is_some() {
        return Ok(page(
            409,
            "Already answered",
            Refusal::AlreadyDecided.explanation(),
        ));
    }
    if now >= approval.expires_at {
        return Ok(page(
            410,
            "Approval expired",
            Refusal::Expired.explanation(),
        ));
    }
    // Shown before anyone clicks: an answer for a resolved incident would only be refused.
    if !incident.status.is_open() {
        return Ok(page(
            Refusal::IncidentResolved.status(),
            "Incident already resolved",
            Refusal::IncidentResolved.explanation(),
        ));
    }
    let verb = if claims.approve { "Approve" } else { "Reject" };
    let risk = serde_json::to_value(approval.risk)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    let body = format!(
        "<p>{verb} <strong>{action}</strong> (risk: {risk}) on <code>{resource}</code> for incident \
         <code>{incident}</code> ({title}), as <strong>{approver}</strong>?</p>\
         <p>This approval expires at {expires} UTC.</p>\
         <form method=\"post\" action=\"/approvals\">\
         <input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"{token}\">\
         <button type=\"submit\">{verb}</button></form>",
        action = escape_html(approval.action.as_str()),
        risk = escape_html(&risk),
        resource = escape_html(incident.resource.as_str()),
        incident = escape_html(incident.id.as_str()),
        title = escape_html(&incident.title),
        approver = escape_html(&claims.approver),
        expires = approval.expires_at.format("%Y-%m-%d %H:%M"),
        token = escape_html(&token),
    );
    Ok(HttpResponse::html(
        200,
        document(&format!("{verb} this action?"), &body),
    ))
}

/// `POST /approvals` with `t=<token>`: gives the answer the link was signed for.
pub async fn submit(
    request: &HttpRequest,
    key: Option<&str>,
    approvals: &Approvals<'_>,
) -> Result<HttpResponse, InboundError> {
    let Some(key) = key else {
        return Ok(not_configured());
    };
    let token = request.form_field(TOKEN_FIELD).unwrap_or_default();
    let claims = match verify_link(&SigningKey::new(key), &token, approvals.clock.now()) {
        Ok(claims) => claims,
        Err(LinkError::Expired(_)) => {
            let refusal = match expired_claims(&token) {
                Some(claims) => approvals.refuse_expired_link(&answer_of(&claims)).await?,
                None => Refusal::Expired,
            };
            return Ok(refusal_page(refusal));
        }
        Err(error) => return Ok(link_failure(&error)),
    };
    let outcome = approvals.answer(&answer_of(&claims)).await?;
    Ok(match outcome {
        AnswerOutcome::Decided { approved, incident } => {
            let verb = if approved { "Approved" } else { "Rejected" };
            page(
                200,
                verb,
                &format!(
                    "{verb}. Incident {} on {} is resuming accordingly.",
                    incident.id, incident.resource
                ),
            )
        }
        AnswerOutcome::NotDelivered { error, .. } => {
            let status = if error.error_type() == "ApprovalTaskGone" {
                410
            } else {
                503
            };
            page(
                status,
                "Recorded, not delivered",
                &format!(
                    "Your answer was recorded, but the workflow could not be resumed ({}). It will escalate when the approval times out.",
                    error.error_type()
                ),
            )
        }
        AnswerOutcome::Refused(refusal) => refusal_page(refusal),
    })
}

fn refusal_page(refusal: Refusal) -> HttpResponse {
    let title = match refusal {
        Refusal::UnknownApproval => "Approval not found",
        Refusal::Expired => "Approval expired",
        Refusal::AlreadyDecided => "Already answered",
        Refusal::NotAllowed
        | Refusal::SelfApproval
        | Refusal::ForeignMessage
        | Refusal::NotARecipient => "Not allowed",
        Refusal::IncidentResolved => "Incident already resolved",
    };
    page(refusal.status(), title, refusal.explanation())
}

fn not_configured() -> HttpResponse {
    page(
        401,
        "Links not configured",
        "Approval links are not configured on this endpoint.",
    )
}

fn page(status: u16, title: &str, message: &str) -> HttpResponse {
    HttpResponse::html(
        status,
        document(title, &format!("<p>{}</p>", escape_html(message))),
    )
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"robots\" content=\"noindex\"><title>Argus: {title}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape_html(title),
    )
}
