//! `request_approval`: records the pending approval on the incident (the task token stays in
//! the incidents table), then asks people on Slack (Approve / Reject buttons) and by email
//! (a pair of signed links per approver allowed for the action's risk). Buttons and links carry
//! only the approval's id; the inbound callback finds the token by it.

use super::aws::TopicMessage;
use super::brief::{Brief, risk_word};
use super::channels::{self, ApprovalLinks};
use super::{
    ACTOR, ChannelFuture, ChannelResult, ConnectorError, OperationReport, OperationRequest,
    Outbound, Sent,
};
use crate::delivery::DeliveryError;
use crate::signing::{LinkClaims, sign_link};
use argus::incident::update_incident;
use argus::incident::{AuditEntry, AuditKind, IncidentStatus, PendingApproval, TaskToken};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The approval's id: a digest of the task token, so a retried call (same token) finds the
/// approval it recorded, and a new execution or attempt (new token) gets a new one. The
/// digest cannot be turned back into the token.
pub fn approval_id(token: &TaskToken) -> String {
    Sha256::digest(token.expose().as_bytes())
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub use crate::wiring::APPROVER_ATTRIBUTE;

/// The URL a signed link opens: `<base>/approvals?t=<token>`. The link token is URL-safe.
pub fn approval_url(links: &ApprovalLinks, claims: &LinkClaims) -> String {
    format!(
        "{}/approvals?t={}",
        links.base_url.trim_end_matches('/'),
        sign_link(&links.key, claims)
    )
}

impl Outbound {
    pub(super) async fn request_approval(
        &self,
        request: &OperationRequest,
    ) -> Result<OperationReport, ConnectorError> {
        let token = request.task_token.as_ref().ok_or_else(|| {
            ConnectorError::Invalid("request_approval needs `task_token`".to_string())
        })?;
        let id = &request.correlation_id;
        let approval_id = approval_id(token);
        let signals = self.store.signals(id).await?;
        let requested_by = signals
            .first()
            .and_then(|record| record.signal.principal.clone())
            .filter(|principal| !principal.trim().is_empty())
            .unwrap_or_else(|| "argus".to_string());
        let now = self.clock.now();
        let ttl_seconds = self
            .config
            .approvals
            .link_ttl_seconds
            .min(self.config.recovery.approval_timeout_seconds);
        let ttl = i64::try_from(ttl_seconds)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or_else(|| chrono::Duration::days(1));
        let expires_at = now + ttl;
        let execution_id = request.execution_id.clone().unwrap_or_default();
        let mut refusal: Option<String> = None;
        let updated = update_incident(&*self.store, &*self.clock, id, None, |incident| {
            refusal = None;
            if incident
                .approval
                .as_ref()
                .is_some_and(|approval| approval.id == approval_id)
            {
                // A retried call: the approval is recorded; only the messages are sent again.
                return Vec::new();
            }
            if !incident.status.is_open() {
                refusal = Some(format!(
                    "incident {} is {}; there is nothing to approve",
                    incident.id,
                    incident.status.as_str()
                ));
                return Vec::new();
            }
            let Some(action) = incident
                .decision
                .as_ref()
                .and_then(|decision| decision.action.as_ref())
            else {
                refusal = Some(format!("incident {} has no proposed action", incident.id));
                return Vec::new();
            };
            let (action, risk) = (action.action, action.risk);
            incident.approval = Some(PendingApproval {
                id: approval_id.clone(),
                execution_id: execution_id.clone(),
                action,
                risk,
                requested_by: requested_by.clone(),
                requested_at: now,
                expires_at,
                task_token: token.clone(),
                decision: None,
            });
            // The intake usually set this already; a closed incident was refused above.
            let _ = incident.transition(IncidentStatus::AwaitingApproval, now);
            let approvers: Vec<&str> = self.config.approvals.approvers_for(risk);
            vec![AuditEntry::new(
                ACTOR,
                AuditKind::ApprovalRequested,
                format!("asked for approval of {action} (risk {})", risk_word(risk)),
                json!({
                    "approval": approval_id,
                    "execution": execution_id,
                    "action": action,
                    "risk": risk,
                    "requested_by": requested_by,
                    "expires_at": expires_at,
                    "approvers": approvers,
                }),
            )]
        })
        .await?
        .ok_or_else(|| ConnectorError::NotFound(id.to_string()))?;
        if let Some(refusal) = refusal {
            return Err(ConnectorError::Invalid(refusal));
        }
        let approval = updated.approval.clone().ok_or_else(|| {
            ConnectorError::Invalid(format!("incident {id} has no pending approval"))
        })?;
        let audit = self.store.audit_trail(id).await?;
        let brief = Brief::new(&updated, &signals, &audit, Some(&approval.execution_id));
        let expires = approval.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let done = super::delivered_before(
            &audit,
            "request_approval",
            None,
            request.execution_id.as_deref(),
        );
        let mut sends: Vec<ChannelFuture<'_>> = Vec::new();
        if let Some(previous) = done.get(channels::SLACK) {
            sends.push(super::already(channels::SLACK, None, previous.clone()));
        } else if let Some(slack) = &self.channels.slack {
            let blocks = super::chat::approval_blocks(&brief, &approval.id, &expires);
            let text = format!("Approval needed: {}", brief.headline());
            // Where the message lands is recorded with the delivery: the approval endpoint takes
            // button clicks only from that channel and message.
            sends.push(Box::pin(async move {
                let posted =
                    super::chat::post_slack_message(&self.delivery, slack, &text, blocks).await;
                let message_channel = posted
                    .as_ref()
                    .ok()
                    .and_then(|found| found.as_ref().map(|(channel, _)| channel.clone()));
                ChannelResult {
                    channel: channels::SLACK,
                    recipient: None,
                    outcome: posted.map(|found| Sent::Delivered(found.map(|(_, ts)| ts))),
                    message_channel,
                }
            }));
        }
        // Whoever requested the action or caused the incident (any principal its signals name)
        // cannot approve it: no links are sent to them. Identities compare normalised, and each
        // link goes to its approver's normalised address.
        let principals: Vec<&str> = std::iter::once(approval.requested_by.as_str())
            .chain(
                signals
                    .iter()
                    .filter_map(|record| record.signal.principal.as_deref()),
            )
            .collect();
        let mut email_approvers: Vec<String> = self
            .config
            .approvals
            .approvers_for(approval.risk)
            .into_iter()
            .filter(|approver| crate::identity::email_address(approver).is_some())
            .map(crate::identity::normalise)
            .filter(|approver| {
                !crate::identity::is_self(
                    &self.config.approvals,
                    principals.iter().copied(),
                    approver,
                )
            })
            .collect();
        email_approvers.sort_unstable();
        email_approvers.dedup();
        for approver in &email_approvers {
            let approver = approver.as_str();
            match done.get(&format!("{}:{approver}", channels::EMAIL)) {
                Some(previous) => sends.push(super::already(
                    channels::EMAIL,
                    Some(approver.to_string()),
                    previous.clone(),
                )),
                None => sends.push(self.approval_email(&brief, &approval, approver, &expires)),
            }
        }
        let results = futures_util::future::join_all(sends).await;
        let report = self
            .finish(
                &request.correlation_id,
                request.execution_id.as_deref(),
                "request_approval",
                None,
                results,
            )
            .await?;
        if report.delivered.is_empty() {
            let reasons = if report.failed.is_empty() {
                "no Slack channel and no email approver for this risk class are configured"
                    .to_string()
            } else {
                report
                    .failed
                    .iter()
                    .map(|failed| format!("{}: {}", failed.channel, failed.error_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(ConnectorError::ApprovalNotDelivered {
                incident: id.to_string(),
                reasons,
            });
        }
        Ok(report)
    }

    /// One email per approver, with links only that approver's identity can answer with. The
    /// message carries an `approver` attribute, so each subscription can filter to its own.
    fn approval_email<'a>(
        &'a self,
        brief: &Brief,
        approval: &PendingApproval,
        approver: &str,
        expires: &str,
    ) -> ChannelFuture<'a> {
        let recipient = approver.to_string();
        let prepared = match (&self.channels.approval_links, &self.topic) {
            (None, _) => Err(DeliveryError::NotConfigured {
                channel: channels::EMAIL.to_string(),
                missing: "ARGUS_APPROVAL_BASE_URL and the approval_link_key secret".to_string(),
            }),
            (_, None) => Err(DeliveryError::NotConfigured {
                channel: channels::EMAIL.to_string(),
                missing: "ARGUS_SNS_TOPIC_ARN".to_string(),
            }),
            (Some(links), Some(topic)) => {
                let claims = |approve: bool| LinkClaims {
                    approval: approval.id.clone(),
                    incident: brief.id.clone(),
                    approver: approver.to_string(),
                    approve,
                    expires: approval.expires_at.timestamp(),
                };
                let action = brief.action.as_ref().map_or_else(
                    || approval.action.to_string(),
                    |action| format!("{} ({})", action.id, action.title),
                );
                let body = format!(
                    "Argus asks for approval to run {action} on {resource} (risk {risk}).\n\n\
                     Approve: {approve}\n\
                     Reject:  {reject}\n\n\
                     These links are for {approver} only, answer once, and stop working at {expires}. \
                     If nobody answers by then, Argus does nothing and pages on-call.\n\n{story}",
                    resource = brief.resource,
                    risk = risk_word(approval.risk),
                    approve = approval_url(links, &claims(true)),
                    reject = approval_url(links, &claims(false)),
                    story = brief.plain_text(),
                );
                Ok((
                    topic.clone(),
                    TopicMessage {
                        subject: format!("Approval needed: {}", brief.headline()),
                        body,
                        attributes: vec![
                            ("kind".to_string(), "approval".to_string()),
                            // Normalised as Terraform writes each approver's subscription
                            // filter policy, so only that approver's subscription matches.
                            (
                                APPROVER_ATTRIBUTE.to_string(),
                                crate::identity::email_address(approver).unwrap_or_default(),
                            ),
                        ],
                    },
                ))
            }
        };
        Box::pin(async move {
            let outcome = match prepared {
                Ok((topic, message)) => topic
                    .publish(&message)
                    .await
                    .map(|id| Sent::Delivered(Some(id))),
                Err(error) => Err(error),
            };
            ChannelResult {
                channel: channels::EMAIL,
                recipient: Some(recipient),
                outcome,
                message_channel: None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_id_is_stable_per_token_and_does_not_contain_it() {
        let token = TaskToken::new("AAAAKgAAAAIAAAAAAAAAAcanary-token");
        let id = approval_id(&token);
        assert_eq!(id, approval_id(&token.clone()));
        assert_eq!(id.len(), 32);
        assert!(!id.contains("canary"));
        assert_ne!(id, approval_id(&TaskToken::new("another")));
    }
}
