//! The ports: narrow traits for every external system, with the value types they exchange.
//! Real adapters (DynamoDB, Step Functions) and embedded ones implement the same traits.

use crate::analysis::{AnalysisContext, Assessment, PastIncident, TokenUsage};
use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::incident::{AuditRecord, Incident, IncidentStatus};
use crate::resource::ResourceRef;
use crate::signal::Signal;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::clock::Clock;

/// The idempotency key of one delivered event, written in the same atomic step as its effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupClaim {
    pub source_event_id: String,
    /// The incident the event belongs to; `None` when it opened or joined nothing.
    pub correlation_id: Option<CorrelationId>,
    pub claimed_at: DateTime<Utc>,
    /// After this the event id is forgotten (DynamoDB TTL); an expired claim counts as absent.
    pub expires_at: DateTime<Utc>,
}

/// A signal as recorded against an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalRecord {
    pub incident_id: CorrelationId,
    pub received_at: DateTime<Utc>,
    /// What the signal did: opened, attached, cleared, self-caused.
    pub outcome: String,
    pub signal: Signal,
}

/// Writes a new incident: claim, open guard, incident, first signal and audit, all or nothing;
/// nothing when the opening signal's origin cleared at or after the signal's own time.
#[derive(Clone, Copy, Debug)]
pub struct NewIncident<'a> {
    pub incident: &'a Incident,
    pub claim: &'a DedupClaim,
    pub signal: &'a SignalRecord,
    pub audit: &'a [AuditRecord],
}

/// Writes an incident conditionally on its revision, with optional claim and signal, all or
/// nothing.
#[derive(Clone, Copy, Debug)]
pub struct IncidentWrite<'a> {
    pub incident: &'a Incident,
    pub expected_revision: u64,
    /// This write moves the incident from open to closed: the store releases its open guard in
    /// the same step. Only that write does; every later write to the closed incident leaves the
    /// guard alone, since a newer incident may hold it by then.
    pub closes: bool,
    pub claim: Option<&'a DedupClaim>,
    pub signal: Option<&'a SignalRecord>,
    pub audit: &'a [AuditRecord],
    /// The signal cleared its origin: remembered beside the incident, so an older problem
    /// signal of that origin delivered later does not open a new incident.
    pub origin_clear: Option<&'a OriginClear>,
}

/// How long a closed incident and every item of it are kept, unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// One item the store keeps for an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IncidentItem {
    /// The incident document itself.
    Incident,
    /// The n-th signal recorded on it.
    Signal(u64),
    /// The audit record with this sequence number.
    Audit(u64),
    /// A pending approval's task token, kept apart from the document.
    ApprovalToken,
}

/// When the store lets one item of an incident expire (DynamoDB TTL): never while the incident
/// is open, and for a closed incident at one instant shared by all its items, so no part of an
/// audit chain goes before the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemExpiry {
    pub item: IncidentItem,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The newest clear seen from one origin (an alarm, an alert), by the source's own time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginClear {
    pub origin: String,
    pub cleared_at: DateTime<Utc>,
    /// Forgotten after this (DynamoDB TTL); an expired clear counts as absent.
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClearOutcome {
    /// No incident is open for the signal's resource and signature: the clear is remembered
    /// (unless a newer one is) and the event claimed.
    Recorded,
    Duplicate {
        correlation_id: Option<CorrelationId>,
    },
    /// An incident is open for the signal's resource and signature: attach to it instead.
    IncidentOpen { correlation_id: CorrelationId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenOutcome {
    Opened,
    /// The opening signal's origin has cleared at or after the signal's own time: a late or
    /// reordered delivery of a problem that is already over. Nothing was written.
    Stale {
        cleared_at: DateTime<Utc>,
    },
    /// The event was seen before; it belongs to this incident (if any).
    Duplicate {
        correlation_id: Option<CorrelationId>,
    },
    /// Another incident is open for the same resource and signature.
    AlreadyOpen {
        correlation_id: CorrelationId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    Duplicate {
        correlation_id: Option<CorrelationId>,
    },
    /// The incident changed since it was read: read it again and re-apply.
    Conflict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    Duplicate {
        correlation_id: Option<CorrelationId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IncidentQuery {
    /// `None` lists every status.
    pub statuses: Option<Vec<IncidentStatus>>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub resource: ResourceRef,
    pub action: ActionId,
}

/// At most `max_attempts` in any `window` (a sliding window ending at each decision), and at
/// least `cooldown` between two attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLimits {
    pub max_attempts: u32,
    pub window: Duration,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BudgetOutcome {
    Granted {
        used: u32,
    },
    Spent {
        used: u32,
    },
    CoolingDown {
        used: u32,
        last_attempt_at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUsage {
    pub action: ActionId,
    pub used: u32,
    pub last_attempt_at: DateTime<Utc>,
    /// The incidents that were granted an attempt in the window (at most `max_attempts`).
    #[serde(default)]
    pub consumers: Vec<CorrelationId>,
    /// The oldest attempt still in the window: when it leaves, an attempt frees up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_in_window: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the incident store is throttling requests: {0}")]
    Throttled(String),
    #[error("the incident store is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "StoreThrottled",
            Self::Unavailable(_) => "StoreUnavailable",
            Self::Corrupt(_) => "StoreCorrupt",
        }
    }
}

/// Incidents, their signals and audit trails, and the guards (dedup, open, budget).
#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn open_incident(&self, new: NewIncident<'_>) -> Result<OpenOutcome, StoreError>;
    async fn write_incident(&self, write: IncidentWrite<'_>) -> Result<WriteOutcome, StoreError>;
    /// Records an event that belongs to no incident, so a re-delivery is still recognised.
    async fn claim_event(&self, claim: &DedupClaim) -> Result<ClaimOutcome, StoreError>;
    /// Records a clearing event that found no open incident: claims it and remembers the clear
    /// of its origin (the newest clear wins), all or nothing, and only while no incident is open
    /// for `resource` + `signature` (then nothing is written and `IncidentOpen` names it). An
    /// opening signal of that origin observed at or before the clear then does not open.
    async fn record_clear(
        &self,
        claim: &DedupClaim,
        clear: &OriginClear,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<ClearOutcome, StoreError>;
    /// When `origin` last cleared with no incident open (what `record_clear` remembered), if
    /// that is not expired at `now`.
    async fn origin_cleared_at(
        &self,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn incident(&self, id: &CorrelationId) -> Result<Option<Incident>, StoreError>;
    async fn open_incident_for(
        &self,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<Option<CorrelationId>, StoreError>;
    /// Incidents on a resource, newest first.
    async fn incidents_on(
        &self,
        resource: &ResourceRef,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError>;
    /// Incidents, most recently updated first.
    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, StoreError>;
    /// Open incidents whose [`Incident::next_check_at`] is at or before `due_by`, soonest due
    /// first, at most `limit`: exactly the incidents the reconciler has work on. Closed
    /// incidents are never listed (the DynamoDB adapter keeps a sparse index of open ones).
    async fn incidents_due(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError>;
    async fn signals(&self, id: &CorrelationId) -> Result<Vec<SignalRecord>, StoreError>;
    async fn audit_trail(&self, id: &CorrelationId) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every item kept for the incident and when it expires, in [`IncidentItem`] order (empty
    /// for an unknown incident).
    async fn item_expiries(&self, id: &CorrelationId) -> Result<Vec<ItemExpiry>, StoreError>;
    /// The task token of the incident's approval `approval_id`, kept apart from the incident's
    /// document (which carries a placeholder, `store::approval_token::WITHHELD`): read only
    /// where an answer is sent to Step Functions.
    async fn approval_token(
        &self,
        id: &CorrelationId,
        approval_id: &str,
    ) -> Result<Option<crate::incident::TaskToken>, StoreError>;
    /// What each action's budget on `resource` holds in the window of length `window` ending
    /// `now` (actions with nothing left that matters are left out).
    async fn budget_usage(
        &self,
        resource: &ResourceRef,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Vec<BudgetUsage>, StoreError>;
    /// Takes one attempt from the budget for `consumer` if the sliding window ending `now` has
    /// room and the cooldown has passed ([`crate::budget::BudgetLedger::consume`], run inside a
    /// conditional write). Idempotent per consumer: an incident that already holds an attempt
    /// in the window (its decision was not written, and it is being decided again) is granted
    /// again with the count as it stands, and nothing more is counted or cooled down.
    async fn consume_budget(
        &self,
        key: &BudgetKey,
        limits: &BudgetLimits,
        consumer: &CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<BudgetOutcome, StoreError>;
}

/// Per signature and action: how often it ran and how often it was verified.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActionStats {
    pub attempts: u64,
    pub verified_successes: u64,
    pub failures: u64,
    pub total_recovery_seconds: u64,
    /// Verified successes since the last failed verification: the autonomy ladder's rung.
    #[serde(default)]
    pub consecutive_verified_successes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<DateTime<Utc>>,
}

impl ActionStats {
    pub fn mean_time_to_recover_seconds(&self) -> Option<u64> {
        (self.verified_successes > 0).then(|| self.total_recovery_seconds / self.verified_successes)
    }
}

/// Everything learned about one signature, read in one go for an analysis: the stats of each
/// action tried on it and the newest summaries of its resolved incidents.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct SignatureHistory {
    pub actions: Vec<(ActionId, ActionStats)>,
    /// Newest first.
    pub incidents: Vec<PastIncident>,
}

impl SignatureHistory {
    pub fn stats(&self, action: ActionId) -> ActionStats {
        self.actions
            .iter()
            .find(|(id, _)| *id == action)
            .map(|(_, stats)| stats.clone())
            .unwrap_or_default()
    }
}

/// The outcome of a closed incident, as the patterns table learns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub signature: String,
    pub action: ActionId,
    pub verified: bool,
    pub time_to_recover_seconds: Option<u64>,
    pub summary: PastIncident,
}

/// What Argus has learned per signature: action outcomes and summaries of past incidents.
#[async_trait]
pub trait PatternStore: Send + Sync {
    async fn action_stats(
        &self,
        signature: &str,
        action: ActionId,
    ) -> Result<ActionStats, StoreError>;
    /// Counts the outcome once per incident (a retried call changes nothing) and keeps at most
    /// `keep_summaries` summaries for the signature, newest first.
    async fn record_outcome(
        &self,
        outcome: &OutcomeRecord,
        keep_summaries: usize,
    ) -> Result<(), StoreError>;
    /// Newest first.
    async fn recent_incidents(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<Vec<PastIncident>, StoreError>;
    /// The stats of every action tried on `signature` and its `limit` newest summaries. The
    /// default asks once per action; adapters answer it with one read.
    async fn signature_history(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<SignatureHistory, StoreError> {
        let mut actions = Vec::new();
        for action in ActionId::ALL {
            let stats = self.action_stats(signature, action).await?;
            if stats != ActionStats::default() {
                actions.push((action, stats));
            }
        }
        Ok(SignatureHistory {
            actions,
            incidents: self.recent_incidents(signature, limit).await?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStart {
    pub execution_id: String,
    /// An execution of that name existed already (a retried start): nothing new was started.
    pub already_started: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("the workflow service is throttling: {0}")]
    Throttled(String),
    #[error("the workflow service is unavailable: {0}")]
    Unavailable(String),
    #[error("the workflow service refused the execution: {0}")]
    Rejected(String),
}

impl WorkflowError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "WorkflowThrottled",
            Self::Unavailable(_) => "WorkflowUnavailable",
            Self::Rejected(_) => "WorkflowRejected",
        }
    }
}

/// Starts recovery executions; the execution name is the correlation id, so starting twice is safe.
#[async_trait]
pub trait Workflow: Send + Sync {
    async fn start(
        &self,
        name: &CorrelationId,
        input: &Value,
    ) -> Result<WorkflowStart, WorkflowError>;

    /// Ends a wait on a task token with `error` (Step Functions' SendTaskFailure), so an
    /// execution waiting for an approval of an incident that resolved meanwhile learns it at
    /// once. A task that is gone already (answered, timed out) is not an error. Workflows that
    /// never wait on a token (the local engine answers approvals in process) keep the default.
    async fn fail_waiting_task(
        &self,
        _token: &crate::incident::TaskToken,
        _error: &str,
        _cause: &str,
    ) -> Result<(), WorkflowError> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalystError {
    #[error("the analyst is throttled: {0}")]
    Throttled(String),
    #[error("the analyst timed out after {0} ms")]
    Timeout(u64),
    #[error("the analyst is unavailable: {0}")]
    Unavailable(String),
    /// The answer was not the structured assessment asked for; the tokens were still spent.
    #[error("the analyst answered out of schema: {reason}")]
    OutOfSchema {
        reason: String,
        usage: Option<TokenUsage>,
    },
}

impl AnalystError {
    /// Tokens spent on a failed call, for cost accounting.
    pub fn usage(&self) -> Option<&TokenUsage> {
        match self {
            Self::OutOfSchema { usage, .. } => usage.as_ref(),
            _ => None,
        }
    }
}

/// Produces an assessment from a bounded context. The rules analyst never fails.
#[async_trait]
pub trait Analyst: Send + Sync {
    fn name(&self) -> &str;
    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError>;
}

#[async_trait]
impl Analyst for crate::analysis::RulesAnalyst {
    fn name(&self) -> &str {
        "rules"
    }

    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError> {
        Ok(crate::analysis::RulesAnalyst::assess(self, context))
    }
}
