//! The approval judgement: whether an answer to a pending approval counts, whichever way it came
//! (a Slack button, a signed link, or the operator of a local replay). The public endpoint and
//! `argus replay` run this same code, so a local replay's approvals meet the same checks as the
//! deployed ones: the approval exists and is undecided, the incident is still open, the answer
//! is in time, it is not the requester's or the incident's causer's, it comes from the allow-list
//! of the action's risk class, and it answers what Argus asked (the message it posted, a link it
//! issued to that approver).

pub mod identity;

use crate::config::ApprovalPolicy;
use crate::incident::{AuditKind, AuditRecord, Incident};
use crate::ports::SignalRecord;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A Slack message by channel id and `ts`, as `chat.postMessage` answers and as an interaction
/// names the message its button is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// How an answer reached Argus. Only code sets it (the endpoint's routes, the replay's prompt),
/// never a sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerChannel {
    /// A Slack button, on this message (when the interaction named one).
    Slack(Option<PostedMessage>),
    /// A signed link.
    Link,
    /// The operator of a local replay, at its prompt or by its flag: nothing was posted or
    /// issued, so there is nothing to tie the answer to.
    Local,
}

/// An authenticated answer: its channel has proven who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    pub approval: &'a str,
    pub identity: &'a str,
    pub channel: AnswerChannel,
}

/// What Argus recorded when it asked: the Slack messages it posted and the addresses it sent
/// signed links to, per workflow execution (from the audit trail's `connector_delivered`
/// records of `request_approval`), and every principal the incident's signals name.
#[derive(Debug, Default)]
pub struct AskedFor {
    /// `(execution, message)`.
    pub slack_messages: Vec<(String, PostedMessage)>,
    /// `(execution, normalised identity)`.
    pub link_recipients: Vec<(String, String)>,
    pub principals: Vec<String>,
}

impl AskedFor {
    pub fn from_record(audit: &[AuditRecord], signals: &[SignalRecord]) -> Self {
        let mut asked = Self::default();
        for record in audit
            .iter()
            .filter(|record| record.kind == AuditKind::ConnectorDelivered)
            .filter(|record| {
                record.data.get("operation").and_then(Value::as_str) == Some("request_approval")
            })
        {
            let field = |name: &str| {
                record
                    .data
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let execution = field("execution").unwrap_or_default();
            match field("channel").as_deref() {
                Some("slack") => {
                    if let (Some(channel), Some(ts)) =
                        (field("message_channel"), field("external_id"))
                    {
                        asked
                            .slack_messages
                            .push((execution, PostedMessage { channel, ts }));
                    }
                }
                Some("email") => {
                    if let Some(recipient) = field("recipient") {
                        asked
                            .link_recipients
                            .push((execution, identity::normalise(&recipient)));
                    }
                }
                _ => {}
            }
        }
        asked.principals = signals
            .iter()
            .filter_map(|record| record.signal.principal.clone())
            .collect();
        asked
    }
}

/// Why an answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such incident, or it has no pending approval with that id.
    UnknownApproval,
    /// The approval (or the link) expired; the workflow fails closed.
    Expired,
    /// Someone already answered; an answer counts once.
    AlreadyDecided,
    /// The identity is not on the allow-list for the action's risk class.
    NotAllowed,
    /// Whoever asked for the action cannot approve it.
    SelfApproval,
    /// The incident was resolved or closed before the answer came: nothing is run, and the
    /// waiting task is failed with `Argus.IncidentResolved` so the workflow ends.
    IncidentResolved,
    /// The Slack button is not on a message Argus posted for this approval.
    ForeignMessage,
    /// The link's approver is not one Argus sent this approval's links to.
    NotARecipient,
}

impl Refusal {
    /// The endpoint's HTTP status for it.
    pub fn status(self) -> u16 {
        match self {
            Self::UnknownApproval => 404,
            Self::Expired | Self::IncidentResolved => 410,
            Self::AlreadyDecided => 409,
            Self::NotAllowed | Self::SelfApproval | Self::ForeignMessage | Self::NotARecipient => {
                403
            }
        }
    }

    /// A stable name, in responses and in the audit record's `reason`.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownApproval => "unknown_approval",
            Self::Expired => "expired",
            Self::AlreadyDecided => "already_decided",
            Self::NotAllowed => "not_an_approver",
            Self::SelfApproval => "self_approval",
            Self::IncidentResolved => "incident_resolved",
            Self::ForeignMessage => "not_argus_message",
            Self::NotARecipient => "not_a_recipient",
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            Self::UnknownApproval => "There is no pending approval with this id.",
            Self::Expired => {
                "This approval has expired; the workflow did not run the action and escalated."
            }
            Self::AlreadyDecided => "This approval was already answered; an answer counts once.",
            Self::NotAllowed => "You are not on the approver list for this action's risk class.",
            Self::SelfApproval => {
                "Whoever asked for an action, or caused the incident, cannot approve it."
            }
            Self::IncidentResolved => {
                "The incident was resolved before this answer; nothing will run and nobody needs to act."
            }
            Self::ForeignMessage => {
                "This button is not on the approval request Argus posted; answer on that message."
            }
            Self::NotARecipient => "This link was not issued to you for this approval.",
        }
    }
}

/// What the judgement made of an answer, on the incident as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Refuse(Refusal),
    /// Refused because the incident is no longer open; the kept token ends the waiting task.
    Resolved,
}

/// Judges `answer` on `incident` at `now`, against what Argus asked and `policy`'s allow-lists.
pub fn judge(
    policy: &ApprovalPolicy,
    incident: &Incident,
    answer: &Answer<'_>,
    now: DateTime<Utc>,
    asked: &AskedFor,
) -> Verdict {
    let Some(approval) = incident
        .approval
        .as_ref()
        .filter(|approval| approval.id == answer.approval)
    else {
        return Verdict::Refuse(Refusal::UnknownApproval);
    };
    if approval.decision.is_some() {
        return Verdict::Refuse(Refusal::AlreadyDecided);
    }
    // A resolved or closed incident is never acted on, whoever answers and whenever: the
    // workflow is told to end, which is also what the intake tells it when the incident
    // resolves, so telling it twice is harmless.
    if !incident.status.is_open() {
        return Verdict::Resolved;
    }
    if now >= approval.expires_at {
        return Verdict::Refuse(Refusal::Expired);
    }
    // Whoever requested the action, or whose change a signal of the incident records, is
    // self; identities compare normalised (case, spaces, sign-in names).
    let principals = std::iter::once(approval.requested_by.as_str())
        .chain(asked.principals.iter().map(String::as_str));
    if identity::is_self(policy, principals, answer.identity) {
        return Verdict::Refuse(Refusal::SelfApproval);
    }
    if !identity::may_approve(policy, approval.risk, answer.identity) {
        return Verdict::Refuse(Refusal::NotAllowed);
    }
    let of_this_request = |execution: &String| *execution == approval.execution_id;
    match &answer.channel {
        AnswerChannel::Slack(message) => {
            let posted = message.as_ref().is_some_and(|message| {
                asked
                    .slack_messages
                    .iter()
                    .any(|(execution, posted)| of_this_request(execution) && posted == message)
            });
            if !posted {
                return Verdict::Refuse(Refusal::ForeignMessage);
            }
        }
        AnswerChannel::Link => {
            let identity = identity::normalise(answer.identity);
            let issued = asked
                .link_recipients
                .iter()
                .any(|(execution, recipient)| of_this_request(execution) && *recipient == identity);
            if !issued {
                return Verdict::Refuse(Refusal::NotARecipient);
            }
        }
        AnswerChannel::Local => {}
    }
    Verdict::Accept
}
