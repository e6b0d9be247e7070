//! The outbound operations the recovery state machine invokes (`notify`, `request_approval`,
//! `page`, `open_ticket`, `publish_postmortem`): each reads the incident, sends to every channel
//! that is on concurrently, records one audit record per channel, and answers what was delivered
//! and what failed. A failing channel never fails the operation; only an approval request that
//! reached nobody does, so the workflow escalates instead of waiting for an answer that cannot come.

pub mod approval;
pub mod aws;
pub mod brief;
pub mod channels;
pub mod chat;
pub mod metrics;
pub mod paging;
pub mod publishing;
pub mod tickets;

use crate::delivery::{Delivery, DeliveryError};
use crate::secrets::Secrets;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::{AuditEntry, AuditKind, AuditRecord, Incident, IncidentStatus, TaskToken};
use argus::incident::{IncidentWriteError, update_incident};
use argus::ports::{Clock, IncidentStore, PatternStore, SignalRecord, StoreError};
use aws::{Archive, Topic, TopicMessage};
use brief::Brief;
use channels::Channels;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tickets::TicketAction;

/// Who the connectors' audit records name.
pub const ACTOR: &str = "argus/connectors";

/// What the state machine sends (see statemachines/recovery.asl.json). `incident` and
/// `decision` may come along too; they are ignored, because the store's copy is the current one.
#[derive(Debug, Clone, Deserialize)]
pub struct OperationRequest {
    pub operation: String,
    pub correlation_id: CorrelationId,
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub kind: Option<NotifyKind>,
    #[serde(default)]
    pub task_token: Option<TaskToken>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// People are told what Argus sees and would do; nothing runs.
    Advisory,
    /// The workflow finished: what came of it.
    Outcome,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Advisory => "advisory",
            Self::Outcome => "outcome",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    pub channel: String,
    pub error_type: String,
    pub message: String,
}

/// The operation's answer to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OperationReport {
    pub delivered: Vec<Delivered>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("incident {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Incident(#[from] IncidentWriteError),
    #[error("the approval request for incident {incident} reached no channel ({reasons})")]
    ApprovalNotDelivered { incident: String, reasons: String },
}

impl ConnectorError {
    /// Stable names for the Lambda's `errorType`, which the state machine's Retry and Catch use.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "InvalidRequest",
            Self::NotFound(_) => "IncidentNotFound",
            Self::Store(error) => error.error_type(),
            Self::Incident(error) => error.error_type(),
            Self::ApprovalNotDelivered { .. } => APPROVAL_NOT_DELIVERED,
        }
    }
}

/// `errorType` of an approval request no channel delivered; the workflow escalates on it.
pub const APPROVAL_NOT_DELIVERED: &str = "ApprovalNotDelivered";

/// What one channel did.
#[derive(Debug)]
pub(crate) struct ChannelResult {
    channel: &'static str,
    /// Who it went to, when a channel has several recipients (email approvers).
    recipient: Option<String>,
    outcome: Result<Sent, DeliveryError>,
    /// The Slack channel id a message was posted in (with its `ts` as the external id): the
    /// approval endpoint accepts button clicks only from the message Argus recorded here.
    message_channel: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Sent {
    Delivered(Option<String>),
    /// Nothing to do on this channel (no ticket to update, nothing paged to resolve).
    Skipped,
    /// An earlier attempt of the same call delivered here (its external id): a retry by the
    /// state machine does not send the same message twice.
    AlreadyDelivered(Option<String>),
}

/// The answer of a channel an earlier attempt of the same call delivered to.
pub(crate) fn already<'a>(
    channel: &'static str,
    recipient: Option<String>,
    external_id: Option<String>,
) -> ChannelFuture<'a> {
    Box::pin(async move {
        ChannelResult {
            channel,
            recipient,
            outcome: Ok(Sent::AlreadyDelivered(external_id)),
            message_channel: None,
        }
    })
}

/// What earlier attempts of this call (same operation, kind and execution) delivered, by
/// `channel` or `channel:recipient`, with the external id each got. Without an execution id
/// attempts cannot be told apart, and nothing counts as delivered before.
pub(crate) fn delivered_before(
    audit: &[AuditRecord],
    operation: &str,
    kind: Option<NotifyKind>,
    execution: Option<&str>,
) -> std::collections::BTreeMap<String, Option<String>> {
    let Some(execution) = execution.filter(|execution| !execution.is_empty()) else {
        return Default::default();
    };
    audit
        .iter()
        .filter(|record| record.kind == AuditKind::ConnectorDelivered)
        .filter(|record| {
            record.data.get("operation").and_then(Value::as_str) == Some(operation)
                && record.data.get("kind").and_then(Value::as_str) == kind.map(NotifyKind::as_str)
                && record.data.get("execution").and_then(Value::as_str) == Some(execution)
        })
        .filter_map(|record| {
            let channel = record.data.get("channel").and_then(Value::as_str)?;
            let key = match record.data.get("recipient").and_then(Value::as_str) {
                Some(recipient) => format!("{channel}:{recipient}"),
                None => channel.to_string(),
            };
            let external_id = record
                .data
                .get("external_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((key, external_id))
        })
        .collect()
}

pub(crate) type DeliveredBefore = std::collections::BTreeMap<String, Option<String>>;

pub(crate) type ChannelFuture<'a> = Pin<Box<dyn Future<Output = ChannelResult> + Send + 'a>>;

pub(crate) fn channel<'a>(
    channel: &'static str,
    send: impl Future<Output = Result<Option<String>, DeliveryError>> + Send + 'a,
) -> ChannelFuture<'a> {
    Box::pin(async move {
        ChannelResult {
            channel,
            recipient: None,
            outcome: send.await.map(Sent::Delivered),
            message_channel: None,
        }
    })
}

/// A ticket channel: `None` from the vendor means there was no ticket to update.
fn ticket_channel<'a>(
    channel: &'static str,
    send: impl Future<Output = Result<Option<String>, DeliveryError>> + Send + 'a,
) -> ChannelFuture<'a> {
    Box::pin(async move {
        ChannelResult {
            channel,
            recipient: None,
            outcome: send.await.map(|found| match found {
                Some(id) => Sent::Delivered(Some(id)),
                None => Sent::Skipped,
            }),
            message_channel: None,
        }
    })
}

/// The outbound side of the connectors function, built once per execution environment.
pub struct Outbound {
    pub store: Arc<dyn IncidentStore>,
    /// What was learned per signature, for the post-mortem's recurrence section.
    pub patterns: Arc<dyn PatternStore>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub channels: Channels,
    pub delivery: Delivery,
    pub topic: Option<Arc<dyn Topic>>,
    pub archive: Option<Arc<dyn Archive>>,
    /// Kept to redact vendor answers and errors before they are logged or audited.
    pub secrets: Secrets,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("channels", &self.channels.enabled())
            .field("topic", &self.topic.is_some())
            .field("archive", &self.archive.is_some())
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Runs one operation from the state machine's payload.
    pub async fn handle(&self, payload: &Value) -> Result<OperationReport, ConnectorError> {
        let request: OperationRequest = serde_json::from_value(payload.clone())
            .map_err(|error| ConnectorError::Invalid(error.to_string()))?;
        match request.operation.as_str() {
            "notify" => {
                let kind = request.kind.ok_or_else(|| {
                    ConnectorError::Invalid("notify needs `kind`: advisory or outcome".to_string())
                })?;
                self.notify(&request, kind).await
            }
            "request_approval" => self.request_approval(&request).await,
            "page" => self.page(&request).await,
            "open_ticket" => self.open_ticket(&request).await,
            "publish_postmortem" => self.publish_postmortem(&request).await,
            other => Err(ConnectorError::Invalid(format!(
                "unknown operation `{}`",
                argus::signal::cap_text(other, 40)
            ))),
        }
    }

    async fn load(
        &self,
        id: &CorrelationId,
    ) -> Result<(Incident, Vec<SignalRecord>, Vec<AuditRecord>), ConnectorError> {
        let incident = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(id.to_string()))?;
        let signals = self.store.signals(id).await?;
        let audit = self.store.audit_trail(id).await?;
        Ok((incident, signals, audit))
    }

    async fn notify(
        &self,
        request: &OperationRequest,
        kind: NotifyKind,
    ) -> Result<OperationReport, ConnectorError> {
        let (incident, signals, audit) = self.load(&request.correlation_id).await?;
        let brief = Brief::new(&incident, &signals, &audit, request.execution_id.as_deref());
        let intro = match kind {
            NotifyKind::Advisory => format!(
                "Argus opened an incident and is not changing anything. {}",
                brief.plan_text()
            ),
            NotifyKind::Outcome => match incident.status {
                IncidentStatus::Resolved => "Resolved: Argus verified the recovery.".to_string(),
                IncidentStatus::Escalated => {
                    "Escalated: Argus could not fix this and handed it to on-call.".to_string()
                }
                status => format!(
                    "The recovery workflow finished; the incident is {}.",
                    status.as_str()
                ),
            },
        };
        let done = delivered_before(
            &audit,
            "notify",
            Some(kind),
            request.execution_id.as_deref(),
        );
        let mut sends = self.broadcast(&brief, &intro, kind.as_str(), &done);
        if kind == NotifyKind::Outcome {
            let action = if incident.status == IncidentStatus::Resolved {
                TicketAction::Resolve
            } else {
                TicketAction::Update
            };
            sends.extend(self.ticket_sends(&brief, action));
            if incident.status == IncidentStatus::Resolved
                && let Some(pagerduty) = &self.channels.pagerduty
            {
                let paged = was_delivered(&audit, channels::PAGERDUTY);
                let brief = &brief;
                sends.push(Box::pin(async move {
                    ChannelResult {
                        channel: channels::PAGERDUTY,
                        recipient: None,
                        outcome: if paged {
                            paging::resolve(&self.delivery, pagerduty, brief)
                                .await
                                .map(Sent::Delivered)
                        } else {
                            Ok(Sent::Skipped)
                        },
                        message_channel: None,
                    }
                }));
            }
        }
        let results = futures_util::future::join_all(sends).await;
        self.finish(
            &request.correlation_id,
            request.execution_id.as_deref(),
            "notify",
            Some(kind),
            results,
        )
        .await
    }

    /// The topic, Slack and Teams, with the same story.
    fn broadcast<'a>(
        &'a self,
        brief: &'a Brief,
        intro: &str,
        kind: &str,
        done: &DeliveredBefore,
    ) -> Vec<ChannelFuture<'a>> {
        // Futures do nothing until polled, so those of channels delivered before are dropped unsent.
        let mut sends: Vec<(&'static str, ChannelFuture<'a>)> = Vec::new();
        if let Some(topic) = &self.topic {
            let message = TopicMessage {
                subject: brief.headline(),
                body: format!("{intro}\n\n{}", brief.plain_text()),
                attributes: vec![("kind".to_string(), kind.to_string())],
            };
            sends.push((
                channels::SNS,
                channel(channels::SNS, async move {
                    topic.publish(&message).await.map(Some)
                }),
            ));
        }
        if let Some(slack) = &self.channels.slack {
            let blocks = chat::incident_blocks(brief, intro);
            let text = format!("{} — {intro}", brief.headline());
            sends.push((
                channels::SLACK,
                channel(channels::SLACK, async move {
                    chat::post_slack(&self.delivery, slack, &text, blocks).await
                }),
            ));
        }
        if let Some(teams) = &self.channels.teams {
            let card = chat::teams_card(brief, intro);
            sends.push((
                channels::TEAMS,
                channel(channels::TEAMS, async move {
                    chat::post_teams(&self.delivery, teams, card).await
                }),
            ));
        }
        sends
            .into_iter()
            .map(|(name, send)| match done.get(name) {
                Some(previous) => already(name, None, previous.clone()),
                None => send,
            })
            .collect()
    }

    fn ticket_sends<'a>(
        &'a self,
        brief: &'a Brief,
        action: TicketAction,
    ) -> Vec<ChannelFuture<'a>> {
        let mut sends: Vec<ChannelFuture<'a>> = Vec::new();
        if let Some(servicenow) = &self.channels.servicenow {
            sends.push(ticket_channel(
                channels::SERVICENOW,
                tickets::servicenow(&self.delivery, servicenow, brief, action),
            ));
        }
        if let Some(jira) = &self.channels.jira {
            sends.push(ticket_channel(
                channels::JIRA,
                tickets::jira(&self.delivery, jira, brief, action),
            ));
        }
        if let Some(github) = &self.channels.github {
            sends.push(ticket_channel(
                channels::GITHUB,
                tickets::github(&self.delivery, github, brief, action),
            ));
        }
        sends
    }

    async fn page(&self, request: &OperationRequest) -> Result<OperationReport, ConnectorError> {
        let (incident, signals, audit) = self.load(&request.correlation_id).await?;
        let brief = Brief::new(&incident, &signals, &audit, request.execution_id.as_deref());
        let why = page_reason(&incident, self.clock.now());
        let done = delivered_before(&audit, "page", None, request.execution_id.as_deref());
        let sends = match &self.channels.pagerduty {
            Some(pagerduty) => vec![channel(
                channels::PAGERDUTY,
                paging::trigger(&self.delivery, pagerduty, &brief, &why),
            )],
            // Without PagerDuty an escalation must still reach people: it goes out as a
            // notification, marked as one.
            None => self.broadcast(
                &brief,
                &format!("ESCALATION: on-call attention needed ({why})."),
                "escalation",
                &done,
            ),
        };
        let results = futures_util::future::join_all(sends).await;
        self.finish(
            &request.correlation_id,
            request.execution_id.as_deref(),
            "page",
            None,
            results,
        )
        .await
    }

    async fn open_ticket(
        &self,
        request: &OperationRequest,
    ) -> Result<OperationReport, ConnectorError> {
        let (incident, signals, audit) = self.load(&request.correlation_id).await?;
        let brief = Brief::new(&incident, &signals, &audit, request.execution_id.as_deref());
        let results =
            futures_util::future::join_all(self.ticket_sends(&brief, TicketAction::Open)).await;
        self.finish(
            &request.correlation_id,
            request.execution_id.as_deref(),
            "open_ticket",
            None,
            results,
        )
        .await
    }

    /// Records one audit record per channel that did something, counts each in a metric, and
    /// builds the answer. Vendor words in failures are redacted of every secret value first.
    pub(crate) async fn finish(
        &self,
        id: &CorrelationId,
        execution: Option<&str>,
        operation: &str,
        kind: Option<NotifyKind>,
        results: Vec<ChannelResult>,
    ) -> Result<OperationReport, ConnectorError> {
        let mut report = OperationReport::default();
        let mut entries = Vec::new();
        let timestamp = self.clock.now().timestamp_millis();
        for result in results {
            let mut data =
                json!({"operation": operation, "channel": result.channel, "execution": execution});
            if let Some(kind) = kind {
                data["kind"] = json!(kind.as_str());
            }
            if let Some(recipient) = &result.recipient {
                data["recipient"] = json!(recipient);
            }
            if let Some(message_channel) = &result.message_channel {
                data["message_channel"] = json!(message_channel);
            }
            match result.outcome {
                Ok(Sent::Skipped) => {}
                Ok(Sent::AlreadyDelivered(external_id)) => report.delivered.push(Delivered {
                    channel: result.channel.to_string(),
                    external_id,
                }),
                Ok(Sent::Delivered(external_id)) => {
                    data["external_id"] = json!(external_id);
                    metrics::count("ConnectorDeliveries", result.channel, 1, timestamp);
                    entries.push(AuditEntry::new(
                        ACTOR,
                        AuditKind::ConnectorDelivered,
                        format!("{operation}: delivered to {}", result.channel),
                        data,
                    ));
                    report.delivered.push(Delivered {
                        channel: result.channel.to_string(),
                        external_id,
                    });
                }
                Err(error) => {
                    let message = self.secrets.redact(&error.to_string());
                    tracing::warn!(channel = result.channel, operation, error_type = error.error_type(), %message, "channel failed");
                    data["error_type"] = json!(error.error_type());
                    data["message"] = json!(message);
                    metrics::count("ConnectorFailures", result.channel, 1, timestamp);
                    entries.push(AuditEntry::new(
                        ACTOR,
                        AuditKind::ConnectorFailed,
                        format!(
                            "{operation}: {} failed ({})",
                            result.channel,
                            error.error_type()
                        ),
                        data,
                    ));
                    report.failed.push(Failed {
                        channel: result.channel.to_string(),
                        error_type: error.error_type().to_string(),
                        message,
                    });
                }
            }
        }
        if !entries.is_empty() {
            update_incident(&*self.store, &*self.clock, id, None, |_| entries.clone())
                .await?
                .ok_or_else(|| ConnectorError::NotFound(id.to_string()))?;
        }
        Ok(report)
    }
}

/// Whether the audit trail shows a delivery to `channel` (e.g. a page to resolve later).
fn was_delivered(audit: &[AuditRecord], channel: &str) -> bool {
    audit.iter().any(|record| {
        record.kind == AuditKind::ConnectorDelivered
            && record.data.get("channel").and_then(Value::as_str) == Some(channel)
    })
}

/// The longest piece of incident text (an approver, a decision reason) a page's reason quotes.
const PAGE_REASON_LIMIT: usize = 300;

/// Why on-call is being paged, in words for the page's summary and the escalation message.
pub fn page_reason(incident: &Incident, now: chrono::DateTime<chrono::Utc>) -> String {
    if let Some(approval) = &incident.approval {
        match &approval.decision {
            Some(decision) if !decision.approved => {
                return format!(
                    "{} rejected {}",
                    brief::clean(&decision.approver, PAGE_REASON_LIMIT),
                    approval.action
                );
            }
            None if approval.expires_at <= now => {
                return format!("nobody approved {} in time", approval.action);
            }
            None => return format!("the approval of {} could not be completed", approval.action),
            Some(_) => {}
        }
    }
    match &incident.decision {
        Some(decision) if decision.escalate => decision.reasons.first().map_or_else(
            || "Argus decided to escalate".to_string(),
            |reason| {
                format!(
                    "Argus decided to escalate: {}",
                    brief::clean(reason, PAGE_REASON_LIMIT)
                )
            },
        ),
        _ => "the recovery did not verify".to_string(),
    }
}
