//! Incidents: lifecycle states, the record kept per incident, and its hash-chained audit trail.

mod tally;
mod write;

pub use tally::{
    AuditTally, FULL_RECORDS_PER_KEY, MAX_FULL_REPEATED_RECORDS, MAX_TALLIES, counted_total,
};
pub use write::{IncidentWriteError, update_incident};
pub(crate) use write::{MAX_WRITE_ATTEMPTS, conflict_backoff};

use crate::analysis::Assessment;
use crate::catalogue::{ActionId, RiskClass};
use crate::correlation::CorrelationId;
use crate::decision::Decision;
use crate::resource::ResourceRef;
use crate::signal::{Signal, SignalEffect, SignalSource};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Accepted; guards passed; not yet decided.
    Open,
    /// A maintenance window suppresses actions; recorded and kept open.
    Suppressed,
    /// People were told; nothing will be run.
    Advisory,
    /// Waiting for a human to approve the action.
    AwaitingApproval,
    /// The recovery workflow is running the action or verifying it.
    Recovering,
    /// A human was paged; Argus will not act on it again.
    Escalated,
    /// The problem went away (verified, or the source cleared it).
    Resolved,
    /// Closed by a person or superseded.
    Closed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 8] = [
        Self::Open,
        Self::Suppressed,
        Self::Advisory,
        Self::AwaitingApproval,
        Self::Recovering,
        Self::Escalated,
        Self::Resolved,
        Self::Closed,
    ];

    /// Open incidents hold the "one open incident per resource + signature" guard.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Closed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Suppressed => "suppressed",
            Self::Advisory => "advisory",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Recovering => "recovering",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Closed states are final and nothing returns to `open`.
    pub fn can_become(self, next: Self) -> bool {
        self.is_open() && next != Self::Open
    }
}

/// The execution the orchestrator started for this incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRef {
    pub name: String,
    pub id: String,
    pub started_at: DateTime<Utc>,
}

/// The tip of the audit chain, kept on the incident so appends are checked against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number the next record takes.
    pub next_seq: u64,
    pub hash: String,
    /// The seal of the incident's tallies ([`Incident::audit_tallies`]) to this head, while it
    /// has any: a hash of `hash` and every tally, so an edited count breaks verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tallies: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: CorrelationId,
    /// Bumped on every write; writes are conditional on it.
    pub revision: u64,
    pub status: IncidentStatus,
    pub resource: ResourceRef,
    pub signature: String,
    pub title: String,
    pub source: SignalSource,
    /// The alarm that opened it, if an alarm did: what verification reads back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the incident last moved along its path: opened, decided, its workflow started, or
    /// resumed. Signals attaching to it move `updated_at` but not this, so an incident whose
    /// alarm keeps sending signals can still be seen to have stalled. Records written before
    /// the field existed have none; [`Incident::last_progress`] reads `updated_at` for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    pub first_signal_id: String,
    pub signal_count: u32,
    pub last_signal_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// The approval the recovery workflow is waiting for, or the last one decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<PendingApproval>,
    pub audit_head: AuditHead,
    /// Repeated entries (refused answers, attached signals) counted instead of recorded one by
    /// one, per group (`incident::tally`), so the trail stays bounded whatever arrives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_tallies: BTreeMap<String, AuditTally>,
    /// Each alarm or alert that opened, joined or cleared part of the incident (by
    /// [`Signal::origin_key`]), with its state as of the source's own time. The incident
    /// resolves only when none of them is firing, and a signal older than the state already
    /// known for its origin changes nothing. Records written before the field existed have
    /// none; a clearing signal then resolves them as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub origins: BTreeMap<String, OriginState>,
    /// The lifecycle timing in force when the incident opened, so that when it next needs a
    /// look ([`Incident::next_check_at`]) is a property of the record, indexed alike by every
    /// store. Records written before the field existed have none: they are due at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<IncidentTiming>,
    /// Not before this: the reconciler looked and could not settle the incident yet (its
    /// maintenance window is still on, its alarm still in ALARM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_again_at: Option<DateTime<Utc>>,
}

/// Seconds, copied from the configuration when the incident opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentTiming {
    /// An incident stopped before its decision or workflow start this long is picked up again.
    pub resume_after_seconds: u64,
    /// With no new signal for this long (per kind of source), the incident auto-resolves.
    pub quiet_seconds: u64,
    /// A recovery workflow still running this long after its start has lost its outcome.
    pub workflow_deadline_seconds: u64,
    /// How soon to look again at an incident that could not be settled.
    pub recheck_seconds: u64,
}

impl IncidentTiming {
    pub fn from_config(config: &crate::config::Config, source: SignalSource) -> Self {
        Self {
            resume_after_seconds: config.resume_after_seconds,
            quiet_seconds: config.lifecycle.quiet_seconds(source),
            workflow_deadline_seconds: u64::try_from(
                crate::reconcile::workflow_deadline(&config.recovery).num_seconds(),
            )
            .unwrap_or(u64::MAX),
            recheck_seconds: config.lifecycle.recheck_seconds,
        }
    }
}

/// Configured seconds as a duration, saturating instead of overflowing.
pub(crate) fn seconds(value: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1000))
}

/// What one origin last said, by its own clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginState {
    pub firing: bool,
    pub as_of: DateTime<Utc>,
}

/// What a signal attached to an open incident does to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalVerdict {
    /// A problem signal newer than what its origin said before: the origin is firing.
    Firing,
    /// Context only (INSUFFICIENT_DATA, pending): no state changes.
    Informs,
    /// Older than the state already known for its origin (a late or retried delivery): recorded
    /// and ignored.
    Stale { known_as_of: DateTime<Utc> },
    /// Its origin cleared; these origins are still firing, so the incident stays open.
    PartlyCleared { still_firing: Vec<String> },
    /// Its origin cleared and no origin of the incident is firing: the incident resolves.
    Cleared,
}

/// A Step Functions task token: the bearer credential that resumes one waiting task. It is
/// kept with the pending approval so that buttons and links carry only the approval's id, and
/// its `Debug` form never shows it, so it cannot leak into logs or errors.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl TaskToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the one call that needs it (SendTaskSuccess / SendTaskFailure).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskToken(<redacted>)")
    }
}

/// An approval the recovery workflow asked people for (`request_approval`), answered at most once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// Random id that Slack buttons and signed links refer to instead of the task token.
    pub id: String,
    pub execution_id: String,
    pub action: ActionId,
    pub risk: RiskClass,
    /// Who asked for the action: the principal behind the incident's first signal, or `argus`.
    /// That identity may not approve it.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// Links and buttons stop working after this.
    pub expires_at: DateTime<Utc>,
    pub task_token: TaskToken,
    /// Set by the first accepted answer; any later answer is refused as a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ApprovalDecision>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approved: bool,
    /// The approver's identity as the channel proved it, e.g. `slack:U024BE7LH` or
    /// `email:alice@example.com`.
    pub approver: String,
    /// `slack` or `link`.
    pub channel: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("incident {id} cannot go from {from} to {to}")]
pub struct TransitionError {
    pub id: String,
    pub from: &'static str,
    pub to: &'static str,
}

impl Incident {
    /// A new incident opened by `signal`, with an empty audit chain anchored to its id.
    pub fn open(id: CorrelationId, signal: &Signal, now: DateTime<Utc>) -> Self {
        let genesis = genesis_hash(&id);
        Self {
            id,
            revision: 1,
            status: IncidentStatus::Open,
            resource: signal.resource.clone(),
            signature: signal.signature.clone(),
            title: signal.title.clone(),
            source: signal.source,
            alarm_name: signal.alarm_name.clone(),
            account: signal.account.clone(),
            region: signal.region.clone(),
            opened_at: now,
            updated_at: now,
            progressed_at: Some(now),
            closed_at: None,
            first_signal_id: signal.source_event_id.clone(),
            signal_count: 1,
            last_signal_at: signal.observed_at,
            assessment: None,
            decision: None,
            execution: None,
            resolution: None,
            approval: None,
            audit_head: AuditHead {
                next_seq: 0,
                hash: genesis,
                tallies: None,
            },
            audit_tallies: BTreeMap::new(),
            timing: None,
            look_again_at: None,
            origins: BTreeMap::from([(
                signal.origin_key(),
                OriginState {
                    firing: true,
                    as_of: signal.observed_at,
                },
            )]),
        }
    }

    /// Applies an attached signal to the state of its origin, by the source's own time, and says
    /// what that means for the incident. Changes `origins` only.
    /// Whether a signal's origin is new to this incident: what the store remembers of that
    /// origin from before the incident opened must then be read first
    /// ([`Self::remember_clear`]). Once an origin is known, the incident's own writes are the
    /// only ones that change what the store remembers of it.
    pub fn needs_origin_history(&self, signal: &Signal) -> bool {
        signal.effect != SignalEffect::Informs && !self.origins.contains_key(&signal.origin_key())
    }

    /// Takes in a clear of `origin` seen before this incident opened (while nothing was open),
    /// so a signal of that origin older than the clear is judged stale, as it would have been
    /// with no incident open.
    pub fn remember_clear(&mut self, origin: String, cleared_at: DateTime<Utc>) {
        self.origins.entry(origin).or_insert(OriginState {
            firing: false,
            as_of: cleared_at,
        });
    }

    pub fn observe(&mut self, signal: &Signal) -> SignalVerdict {
        let origin = signal.origin_key();
        // A signal is stale when it would turn its origin's state back: a problem older than a
        // clear already seen (at the same instant the clear wins: not knowing which came last,
        // Argus does not act), or a clear older than what the origin said since.
        let known = self.origins.get(&origin).cloned();
        if let Some(known) = &known {
            let stale = match signal.effect {
                SignalEffect::Opens => !known.firing && signal.observed_at <= known.as_of,
                SignalEffect::Clears => signal.observed_at < known.as_of,
                SignalEffect::Informs => false,
            };
            if stale {
                return SignalVerdict::Stale {
                    known_as_of: known.as_of,
                };
            }
        }
        match signal.effect {
            SignalEffect::Informs => SignalVerdict::Informs,
            SignalEffect::Opens => {
                let as_of = known.map_or(signal.observed_at, |known| {
                    known.as_of.max(signal.observed_at)
                });
                self.origins.insert(
                    origin,
                    OriginState {
                        firing: true,
                        as_of,
                    },
                );
                SignalVerdict::Firing
            }
            SignalEffect::Clears => {
                self.origins.insert(
                    origin,
                    OriginState {
                        firing: false,
                        as_of: signal.observed_at,
                    },
                );
                let still_firing: Vec<String> = self
                    .origins
                    .iter()
                    .filter(|(_, state)| state.firing)
                    .map(|(origin, _)| origin.clone())
                    .collect();
                // A record from before origins were kept has only this one: it clears as before.
                if still_firing.is_empty() {
                    SignalVerdict::Cleared
                } else {
                    SignalVerdict::PartlyCleared { still_firing }
                }
            }
        }
    }

    /// Whether the incident has path left to run before its workflow: no decision yet, or a
    /// decision that should start a workflow and none was started.
    pub fn needs_work(&self) -> bool {
        match &self.decision {
            None => true,
            Some(decision) => !decision.suppressed && self.execution.is_none(),
        }
    }

    /// When the incident next needs the reconciler: to resume it if it stalled, to settle a
    /// workflow that outlived its worst case, to look again at a suppressed one, or to end it
    /// after a quiet period. `None` once it is closed: only open incidents are ever due.
    pub fn next_check_at(&self) -> Option<DateTime<Utc>> {
        if !self.status.is_open() {
            return None;
        }
        let Some(timing) = &self.timing else {
            return Some(self.opened_at);
        };
        let due = if self.needs_work() {
            self.last_progress() + seconds(timing.resume_after_seconds)
        } else if self.status == IncidentStatus::Suppressed {
            self.look_again_at
                .unwrap_or(self.last_progress() + seconds(timing.recheck_seconds))
        } else if let (
            IncidentStatus::AwaitingApproval | IncidentStatus::Recovering,
            Some(execution),
        ) = (self.status, &self.execution)
        {
            execution.started_at + seconds(timing.workflow_deadline_seconds)
        } else {
            let quiet_from = self.last_signal_at.max(self.last_progress());
            let quiet_until = quiet_from + seconds(timing.quiet_seconds);
            self.look_again_at
                .map_or(quiet_until, |not_before| not_before.max(quiet_until))
        };
        Some(due)
    }

    /// When the incident last moved along its path (see `progressed_at`).
    pub fn last_progress(&self) -> DateTime<Utc> {
        self.progressed_at.unwrap_or(self.updated_at)
    }

    pub fn transition(
        &mut self,
        next: IncidentStatus,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        if self.status == next {
            return Ok(());
        }
        if !self.status.can_become(next) {
            return Err(TransitionError {
                id: self.id.to_string(),
                from: self.status.as_str(),
                to: next.as_str(),
            });
        }
        self.status = next;
        self.updated_at = now;
        if !next.is_open() {
            self.closed_at = Some(now);
        }
        Ok(())
    }

    /// The incident as it may be shown or sent anywhere outside the incidents table: the
    /// pending approval's task token replaced, since whoever holds it can resume the workflow.
    pub fn redacted(&self) -> Incident {
        let mut shown = self.clone();
        if let Some(approval) = shown.approval.as_mut() {
            approval.task_token = TaskToken::new("<redacted>");
        }
        shown
    }

    /// Records `entry`, or only counts it when it repeats what the incident holds enough
    /// records of (`incident::tally`): `None` then, and the tally (sealed to the chain's head)
    /// carries it. Every writer of outsider-driven entries goes through this.
    pub fn record(&mut self, entry: AuditEntry, at: DateTime<Utc>) -> Option<AuditRecord> {
        match tally::place(&mut self.audit_tallies, &entry, at) {
            tally::Placement::Record => Some(self.audit(entry, at)),
            tally::Placement::Counted => {
                self.audit_head.tallies = tally::seal(&self.audit_head.hash, &self.audit_tallies);
                None
            }
        }
    }

    /// Appends a record to the chain, always: its hash covers the previous hash and its own
    /// content.
    pub fn audit(&mut self, entry: AuditEntry, at: DateTime<Utc>) -> AuditRecord {
        let seq = self.audit_head.next_seq;
        let prev_hash = self.audit_head.hash.clone();
        let hash = record_hash(&prev_hash, seq, at, &entry);
        self.audit_head = AuditHead {
            next_seq: seq + 1,
            tallies: tally::seal(&hash, &self.audit_tallies),
            hash: hash.clone(),
        };
        AuditRecord {
            seq,
            at,
            actor: entry.actor,
            kind: entry.kind,
            summary: entry.summary,
            data: entry.data,
            prev_hash,
            hash,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    IncidentOpened,
    SignalAttached,
    SelfCausedAttached,
    Cleared,
    Suppressed,
    BudgetSpent,
    /// What the investigation around the resource found (or why none ran).
    Investigated,
    Assessed,
    AnalystFallback,
    Decided,
    BudgetConsumed,
    WorkflowStarted,
    StatusChanged,
    RecoveryStarted,
    RecoveryOutcome,
    /// The connectors asked people to approve an action.
    ApprovalRequested,
    /// An approver approved or rejected; the workflow was resumed accordingly.
    ApprovalDecided,
    /// An answer to an approval was refused (unknown or self approver, expired, reused).
    ApprovalRefused,
    /// A connector delivered to one channel (notification, page, ticket).
    ConnectorDelivered,
    /// A connector could not deliver to one channel; the incident went on without it.
    ConnectorFailed,
    PostmortemPublished,
    /// A stalled incident was picked up again (by a re-delivery or the reconciler).
    Resumed,
    /// What the tags of the resource an action would run on said (or why they could not be
    /// read), before the action was proposed.
    TagsRead,
}

/// What an audit record says, before it is sealed into the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub actor: String,
    pub kind: AuditKind,
    pub summary: String,
    pub data: Value,
}

impl AuditEntry {
    pub fn new(actor: &str, kind: AuditKind, summary: impl Into<String>, data: Value) -> Self {
        Self {
            actor: actor.to_string(),
            kind,
            summary: summary.into(),
            data,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: AuditKind,
    pub summary: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

fn genesis_hash(id: &CorrelationId) -> String {
    hex(&Sha256::digest(
        format!("argus-audit-genesis:{id}").as_bytes(),
    ))
}

fn record_hash(prev_hash: &str, seq: u64, at: DateTime<Utc>, entry: &AuditEntry) -> String {
    #[derive(Serialize)]
    struct Sealed<'a> {
        prev_hash: &'a str,
        seq: u64,
        at: String,
        actor: &'a str,
        kind: AuditKind,
        summary: &'a str,
        data: &'a Value,
    }
    let sealed = Sealed {
        prev_hash,
        seq,
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        actor: &entry.actor,
        kind: entry.kind,
        summary: &entry.summary,
        data: &entry.data,
    };
    // Serialising a struct of plain fields and a `Value` (whose maps are sorted) is canonical.
    let bytes = serde_json::to_vec(&sealed).unwrap_or_default();
    hex(&Sha256::digest(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The result of checking an incident's audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ChainVerdict {
    Intact { records: u64 },
    Broken { seq: u64, reason: String },
}

impl ChainVerdict {
    pub fn is_intact(&self) -> bool {
        matches!(self, Self::Intact { .. })
    }
}

/// Recomputes every hash from the genesis of `incident` and checks the chain ends at its head,
/// so an edited, removed, reordered or appended-behind-our-back record is detected.
pub fn verify_chain(incident: &Incident, records: &[AuditRecord]) -> ChainVerdict {
    let mut expected_prev = genesis_hash(&incident.id);
    for (position, record) in records.iter().enumerate() {
        let broken = |reason: &str| ChainVerdict::Broken {
            seq: record.seq,
            reason: reason.to_string(),
        };
        if record.seq != position as u64 {
            return broken("sequence numbers are not contiguous from 0");
        }
        if record.prev_hash != expected_prev {
            return broken("does not link to the previous record");
        }
        let entry = AuditEntry {
            actor: record.actor.clone(),
            kind: record.kind,
            summary: record.summary.clone(),
            data: record.data.clone(),
        };
        if record_hash(&record.prev_hash, record.seq, record.at, &entry) != record.hash {
            return broken("its content does not match its hash");
        }
        expected_prev = record.hash.clone();
    }
    let count = records.len() as u64;
    if incident.audit_head.next_seq != count || incident.audit_head.hash != expected_prev {
        return ChainVerdict::Broken { seq: count, reason: "the chain does not end at the incident's recorded head (records missing at the end)".to_string() };
    }
    if incident.audit_head.tallies != tally::seal(&expected_prev, &incident.audit_tallies) {
        return ChainVerdict::Broken {
            seq: count,
            reason: "the counted entries do not match the seal at the chain's head".to_string(),
        };
    }
    ChainVerdict::Intact { records: count }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{SignalEffect, SignalSource};
    use chrono::TimeZone;
    use serde_json::json;

    fn incident() -> Incident {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
        let signal = Signal {
            source_event_id: "e1".into(),
            source: SignalSource::AlarmEventBridge,
            effect: SignalEffect::Opens,
            signature: "alarm:AWS/EC2/CPUUtilization".into(),
            resource: ResourceRef::parse("ec2:instance/i-1").unwrap(),
            account: None,
            region: None,
            observed_at: now,
            title: "t".into(),
            state: "ALARM".into(),
            alarm_kind: None,
            alarm_name: None,
            metric: None,
            severity_hint: None,
            principal: None,
            correlation_hint: None,
            origin: None,
            evidence: vec![],
        };
        let id = CorrelationId::derive(&signal.signature, signal.resource.as_str(), "e1", now);
        Incident::open(id, &signal, now)
    }

    fn trail(incident: &mut Incident) -> Vec<AuditRecord> {
        let at = incident.opened_at;
        (0..3)
            .map(|n| {
                incident.audit(
                    AuditEntry::new(
                        "test",
                        AuditKind::Decided,
                        format!("step {n}"),
                        json!({"n": n}),
                    ),
                    at,
                )
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let mut incident = incident();
        let records = trail(&mut incident);
        assert_eq!(
            verify_chain(&incident, &records),
            ChainVerdict::Intact { records: 3 }
        );
    }

    #[test]
    fn edits_removals_and_reorders_are_detected() {
        let mut incident = incident();
        let records = trail(&mut incident);
        let mut edited = records.clone();
        edited[1].summary = "something else".into();
        assert!(!verify_chain(&incident, &edited).is_intact());
        let mut truncated = records.clone();
        truncated.pop();
        assert!(!verify_chain(&incident, &truncated).is_intact());
        let mut reordered = records.clone();
        reordered.swap(0, 1);
        assert!(!verify_chain(&incident, &reordered).is_intact());
        let mut data_changed = records;
        data_changed[2].data = json!({"n": 99});
        assert!(!verify_chain(&incident, &data_changed).is_intact());
    }

    #[test]
    fn a_redacted_incident_carries_no_task_token() {
        let mut incident = incident();
        let now = incident.opened_at;
        incident.approval = Some(PendingApproval {
            id: "a1".into(),
            execution_id: "exec".into(),
            action: ActionId::Ec2Reboot,
            risk: RiskClass::Low,
            requested_by: "argus".into(),
            requested_at: now,
            expires_at: now,
            task_token: TaskToken::new("AQCEAAAAKgAAAAMAAAAAAAAAAbearer"),
            decision: None,
        });
        let shown = serde_json::to_string(&incident.redacted()).unwrap();
        assert!(!shown.contains("bearer"), "{shown}");
        assert!(format!("{incident:?}").contains("TaskToken(<redacted>)"));
        assert!(!format!("{incident:?}").contains("bearer"));
        assert_eq!(
            incident.approval.as_ref().unwrap().task_token.expose(),
            "AQCEAAAAKgAAAAMAAAAAAAAAAbearer"
        );
    }

    #[test]
    fn closed_incidents_stay_closed() {
        let mut incident = incident();
        let now = incident.opened_at;
        incident.transition(IncidentStatus::Resolved, now).unwrap();
        assert!(incident.closed_at.is_some());
        assert!(
            incident
                .transition(IncidentStatus::Recovering, now)
                .is_err()
        );
        assert!(!IncidentStatus::Advisory.can_become(IncidentStatus::Open));
    }
}
