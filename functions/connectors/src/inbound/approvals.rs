//! Deciding an approval, whichever channel the answer came through (a Slack button or a signed
//! link): the checks, the single-use record on the incident, the audit trail, and only then the
//! call that resumes the workflow.

use super::InboundError;
use super::task_callback::{
    APPROVAL_REJECTED_ERROR, INCIDENT_RESOLVED_ERROR, TaskCallback, TaskCallbackError,
};
use argus::approval::{Answer, AnswerChannel, AskedFor, Verdict, judge};
pub use argus::approval::{PostedMessage, Refusal};
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::update_incident;
use argus::incident::{ApprovalDecision, AuditEntry, AuditKind, Incident, TaskToken};
use argus::ports::{Clock, IncidentStore, StoreError};
use serde_json::{Value, json};

/// The audit trail's actor for what the endpoint records on its own behalf.
pub const ACTOR: &str = "argus/connectors";

/// An authenticated answer: the channel has proven who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalAnswer {
    pub incident: String,
    pub approval: String,
    pub approve: bool,
    /// `slack:<user id>` or `email:<address>`.
    pub identity: String,
    /// `slack` or `link`.
    pub channel: &'static str,
    /// Where Slack takes the message that replaces the buttons (its `response_url`).
    pub reply_to: Option<String>,
    /// The Slack message the clicked button is on; `None` for links.
    pub message: Option<PostedMessage>,
}

impl ApprovalAnswer {
    /// The answer as the library judges it; the channel comes from the route that took it.
    fn judged(&self) -> Answer<'_> {
        Answer {
            approval: &self.approval,
            identity: &self.identity,
            channel: match self.channel {
                "slack" => AnswerChannel::Slack(self.message.clone()),
                _ => AnswerChannel::Link,
            },
        }
    }
}

/// What became of an answer that passed authentication.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerOutcome {
    /// Recorded and the workflow resumed.
    Decided {
        approved: bool,
        incident: Box<Incident>,
    },
    /// Recorded, but the workflow could not be told: its task is gone (410) or Step Functions
    /// failed (503). The approval then times out and fails closed.
    NotDelivered {
        approved: bool,
        error: TaskCallbackError,
    },
    Refused(Refusal),
}

/// The ports an answer needs.
#[derive(Clone, Copy)]
pub struct Approvals<'a> {
    pub store: &'a dyn IncidentStore,
    pub clock: &'a dyn Clock,
    pub config: &'a Config,
    pub callback: &'a dyn TaskCallback,
}

impl std::fmt::Debug for Approvals<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals").finish_non_exhaustive()
    }
}

impl Approvals<'_> {
    /// Records a refusal of an answer whose link expired before it reached us; the link's claims
    /// were signed, so they really name this approval.
    pub async fn refuse_expired_link(
        &self,
        answer: &ApprovalAnswer,
    ) -> Result<Refusal, InboundError> {
        let Ok(id) = CorrelationId::parse(&answer.incident) else {
            return Ok(Refusal::UnknownApproval);
        };
        let mut names_a_pending_approval = false;
        let updated = update_incident(self.store, self.clock, &id, None, |incident| {
            names_a_pending_approval = incident
                .approval
                .as_ref()
                .is_some_and(|approval| approval.id == answer.approval);
            if names_a_pending_approval {
                vec![refusal_entry(answer, Refusal::Expired, "the link expired")]
            } else {
                Vec::new()
            }
        })
        .await?;
        Ok(match updated {
            Some(_) if names_a_pending_approval => Refusal::Expired,
            _ => Refusal::UnknownApproval,
        })
    }

    /// Checks an answer and, when it stands, records it on the incident (conditional on the
    /// incident's revision, so of two concurrent answers one wins and the other is refused as
    /// already decided) before resuming the workflow. A refused answer that names a real pending
    /// approval is audited; nothing is sent to Step Functions unless the decision was recorded.
    pub async fn answer(&self, answer: &ApprovalAnswer) -> Result<AnswerOutcome, InboundError> {
        let Ok(id) = CorrelationId::parse(&answer.incident) else {
            return Ok(AnswerOutcome::Refused(Refusal::UnknownApproval));
        };
        let now = self.clock.now();
        // Read before the conditional write: what Argus asked and of whom, and who caused the
        // incident. Both only grow, so reading them first cannot admit a stale answer.
        let asked = AskedFor::from_record(
            &self.store.audit_trail(&id).await?,
            &self.store.signals(&id).await?,
        );
        let mut verdict = Verdict::Refuse(Refusal::UnknownApproval);
        let updated = update_incident(self.store, self.clock, &id, None, |incident| {
            verdict = judge(
                &self.config.approvals,
                incident,
                &answer.judged(),
                now,
                &asked,
            );
            match &verdict {
                Verdict::Refuse(Refusal::UnknownApproval) => Vec::new(),
                Verdict::Refuse(refusal) => {
                    vec![refusal_entry(answer, *refusal, refusal.explanation())]
                }
                Verdict::Resolved => vec![refusal_entry(
                    answer,
                    Refusal::IncidentResolved,
                    &format!("the incident is {}", incident.status.as_str()),
                )],
                Verdict::Accept => {
                    let Some(approval) = incident.approval.as_mut() else {
                        return Vec::new();
                    };
                    approval.decision = Some(ApprovalDecision {
                        approved: answer.approve,
                        approver: answer.identity.clone(),
                        channel: answer.channel.to_string(),
                        decided_at: now,
                    });
                    let verb = if answer.approve {
                        "approved"
                    } else {
                        "rejected"
                    };
                    vec![AuditEntry::new(
                        &answer.identity,
                        AuditKind::ApprovalDecided,
                        format!(
                            "{} {verb} {} through {}",
                            answer.identity, approval.action, answer.channel
                        ),
                        json!({
                            "approval": approval.id,
                            "action": approval.action,
                            "risk": approval.risk,
                            "approved": answer.approve,
                            "approver": answer.identity,
                            "channel": answer.channel,
                        }),
                    )]
                }
            }
        })
        .await?;
        // The verdict's token is the document's placeholder: the real one is kept apart and
        // read only now, to send the answer (argus::store::approval_token).
        let (incident, token) = match (updated, verdict) {
            (Some(incident), Verdict::Accept) => {
                let token = self.kept_token(&incident, &answer.approval).await?;
                (incident, token)
            }
            (_, Verdict::Refuse(refusal)) => return Ok(AnswerOutcome::Refused(refusal)),
            (Some(incident), Verdict::Resolved) => {
                let token = self.kept_token(&incident, &answer.approval).await?;
                self.end_for_resolved(&id, &token, answer).await?;
                return Ok(AnswerOutcome::Refused(Refusal::IncidentResolved));
            }
            (None, Verdict::Accept | Verdict::Resolved) => {
                return Ok(AnswerOutcome::Refused(Refusal::UnknownApproval));
            }
        };
        match self.resume(&token, answer).await {
            Ok(()) => Ok(AnswerOutcome::Decided {
                approved: answer.approve,
                incident: Box::new(incident),
            }),
            Err(error) => {
                self.record_undelivered(&id, answer, &error).await?;
                Ok(AnswerOutcome::NotDelivered {
                    approved: answer.approve,
                    error,
                })
            }
        }
    }

    /// The task token of `incident`'s approval `approval_id`, from where the store keeps it.
    async fn kept_token(
        &self,
        incident: &Incident,
        approval_id: &str,
    ) -> Result<TaskToken, InboundError> {
        let approval = incident
            .approval
            .as_ref()
            .filter(|approval| approval.id == approval_id);
        let token = match approval {
            Some(approval) => {
                argus::store::approval_token::token_for(self.store, incident, approval).await?
            }
            None => None,
        };
        token.ok_or_else(|| {
            InboundError::from(StoreError::Corrupt(format!(
                "incident {} keeps no task token for approval {approval_id}",
                incident.id
            )))
        })
    }

    async fn resume(
        &self,
        token: &TaskToken,
        answer: &ApprovalAnswer,
    ) -> Result<(), TaskCallbackError> {
        if answer.approve {
            let output = json!({
                "approved": true,
                "approver": answer.identity,
                "channel": answer.channel,
            });
            self.callback.succeed(token, &output).await
        } else {
            let cause = format!("rejected by {} through {}", answer.identity, answer.channel);
            self.callback
                .fail(token, APPROVAL_REJECTED_ERROR, &cause)
                .await
        }
    }

    /// Fails the waiting task with `Argus.IncidentResolved`. The task may already be gone (the
    /// intake failed it when the incident resolved, or it timed out): that is the end wanted,
    /// so only a Step Functions failure is recorded, and the answer stays refused either way.
    async fn end_for_resolved(
        &self,
        id: &CorrelationId,
        token: &TaskToken,
        answer: &ApprovalAnswer,
    ) -> Result<(), InboundError> {
        let cause = format!(
            "an answer from {} through {} came after the incident was resolved",
            answer.identity, answer.channel
        );
        match self
            .callback
            .fail(token, INCIDENT_RESOLVED_ERROR, &cause)
            .await
        {
            Ok(()) | Err(TaskCallbackError::TaskGone(_)) => Ok(()),
            Err(error) => self.record_undelivered(id, answer, &error).await,
        }
    }

    /// The decision stands but the workflow did not hear it; the audit trail says so, so
    /// whoever reads the incident knows why it escalated on timeout.
    async fn record_undelivered(
        &self,
        id: &CorrelationId,
        answer: &ApprovalAnswer,
        error: &TaskCallbackError,
    ) -> Result<(), InboundError> {
        update_incident(self.store, self.clock, id, None, |_| {
            vec![AuditEntry::new(
                ACTOR,
                AuditKind::ConnectorFailed,
                format!(
                    "the approval decision could not be delivered to the workflow: {}",
                    error.error_type()
                ),
                json!({
                    "channel": "stepfunctions",
                    "approval": answer.approval,
                    "error_type": error.error_type(),
                }),
            )]
        })
        .await?;
        Ok(())
    }
}

fn refusal_entry(answer: &ApprovalAnswer, refusal: Refusal, reason: &str) -> AuditEntry {
    AuditEntry::new(
        ACTOR,
        AuditKind::ApprovalRefused,
        format!(
            "refused an answer from {} through {}: {reason}",
            answer.identity, answer.channel
        ),
        json!({
            "approval": answer.approval,
            "reason": refusal.code(),
            "identity": answer.identity,
            "channel": answer.channel,
            "approve": answer.approve,
        }),
    )
}

/// The JSON a decision is summarised as in responses.
pub fn outcome_json(outcome: &AnswerOutcome) -> Value {
    match outcome {
        AnswerOutcome::Decided { approved, .. } => json!({"decided": true, "approved": approved}),
        AnswerOutcome::NotDelivered { approved, error } => json!({
            "decided": true,
            "approved": approved,
            "delivered": false,
            "error": error.error_type(),
        }),
        AnswerOutcome::Refused(refusal) => json!({"error": refusal.code()}),
    }
}
