//! The recovery workflow's records: "recovery started" (only while the incident is open), the
//! check right before the action that the incident is still open, and the outcome (status,
//! audit record, whether to page, and what the patterns table learns). The orchestrator Lambda
//! runs these for the state machine; `argus replay` runs them in-process.

use crate::analysis::{LearningError, RecoveryOutcome, learn_from_outcome};
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::incident::{
    AuditEntry, AuditKind, Incident, IncidentStatus, IncidentWriteError, update_incident,
};
use crate::ports::{Clock, IncidentStore, PatternStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ACTOR: &str = "argus/recovery";

/// The operation of the "Check incident still open" state, right before the action runs.
pub const CHECK_STILL_OPEN: &str = "check_still_open";

/// What the state machine sends to the orchestrator's record operations.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordRequest {
    pub operation: String,
    pub correlation_id: CorrelationId,
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub progress: Option<Progress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Recovered,
    Escalated,
    Advisory,
    /// The incident was resolved or closed before the action ran (the check before the action
    /// found it so, or the approval task failed with `Argus.IncidentResolved`): nothing ran.
    ResolvedBeforeAction,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Recovered => "recovered",
            Self::Escalated => "escalated",
            Self::Advisory => "advisory",
            Self::ResolvedBeforeAction => "resolved_before_action",
        }
    }
}

/// What the workflow did, as it accumulated under `$.progress`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub action_ran: bool,
    #[serde(default)]
    pub verification: Option<Value>,
    /// When the action was sent (`$$.State.EnteredTime` of "Action sent"), as Step Functions
    /// wrote it; the post-mortem's "acted" time.
    #[serde(default)]
    pub action_sent_at: Option<String>,
    /// `{Error, Cause}` of an action the workflow could not run.
    #[serde(default)]
    pub action_error: Option<Value>,
    /// `{Error, Cause}` of an approval that was rejected, timed out or could not be asked.
    #[serde(default)]
    pub approval_error: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("incident {0} does not exist")]
    NotFound(String),
    #[error("invalid record request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] IncidentWriteError),
    /// The patterns table could not learn a settled outcome. The incident's own record is
    /// already written by then, so this has names of its own: the state machine retries the
    /// throttled and unavailable ones with backoff, and never escalates a verified recovery
    /// because of them.
    #[error("the patterns table could not learn the outcome: {0}")]
    Patterns(StoreError),
}

impl RecordError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "IncidentNotFound",
            Self::Invalid(_) => "InvalidRequest",
            Self::Store(error) => error.error_type(),
            Self::Write(error) => error.error_type(),
            Self::Patterns(StoreError::Throttled(_)) => "PatternStoreThrottled",
            Self::Patterns(StoreError::Unavailable(_)) => "PatternStoreUnavailable",
            Self::Patterns(StoreError::Corrupt(_)) => "PatternStoreCorrupt",
        }
    }

    /// Whether the state machine retries it (its `Retry` blocks name exactly these).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.error_type(),
            "StoreThrottled"
                | "StoreUnavailable"
                | "ConcurrentUpdate"
                | "PatternStoreThrottled"
                | "PatternStoreUnavailable"
        )
    }
}

/// Runs one record operation from the state machine's payload.
pub async fn handle(
    request: &Value,
    store: &dyn IncidentStore,
    patterns: &dyn PatternStore,
    clock: &dyn Clock,
    config: &Config,
) -> Result<Value, RecordError> {
    let request: RecordRequest = serde_json::from_value(request.clone())
        .map_err(|error| RecordError::Invalid(error.to_string()))?;
    match request.operation.as_str() {
        "record_start" => record_start(&request, store, clock).await,
        CHECK_STILL_OPEN => check_still_open(&request, store).await,
        "record_outcome" => record_outcome(&request, store, patterns, clock, config).await,
        other => Err(RecordError::Invalid(format!("unknown operation `{other}`"))),
    }
}

async fn record_start(
    request: &RecordRequest,
    store: &dyn IncidentStore,
    clock: &dyn Clock,
) -> Result<Value, RecordError> {
    let id = &request.correlation_id;
    let execution = request.execution_id.clone().unwrap_or_default();
    let updated = update_incident(store, clock, id, None, |incident| {
        if !incident.status.is_open() {
            return Vec::new();
        }
        vec![AuditEntry::new(
            ACTOR,
            AuditKind::RecoveryStarted,
            "recovery workflow began",
            json!({"execution": execution}),
        )]
    })
    .await?
    .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
    Ok(json!({"proceed": updated.status.is_open(), "status": updated.status}))
}

/// Right before the action: is the incident still open? Reads only, so the check costs one
/// read and a retry is harmless; `proceed: false` makes the workflow skip the action and record
/// the outcome as resolved before the action, without paging anyone.
async fn check_still_open(
    request: &RecordRequest,
    store: &dyn IncidentStore,
) -> Result<Value, RecordError> {
    let id = &request.correlation_id;
    let incident = store
        .incident(id)
        .await?
        .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
    Ok(json!({"proceed": incident.status.is_open(), "status": incident.status}))
}

fn verdict_of(progress: &Progress) -> String {
    progress
        .verification
        .as_ref()
        .and_then(|verification| verification.pointer("/result/verdict"))
        .and_then(Value::as_str)
        .unwrap_or("NOT_CHECKED")
        .to_string()
}

/// The outcome record's data: what the workflow did, with the optional parts only when present,
/// so older executions' records keep their shape.
fn outcome_data(outcome: Outcome, progress: &Progress, execution: Option<&str>) -> Value {
    let mut data = json!({"outcome": outcome, "action_ran": progress.action_ran, "verification": progress.verification});
    let optional = [
        (
            "execution",
            execution.map(|execution| Value::String(execution.to_string())),
        ),
        (
            "action_sent_at",
            progress.action_sent_at.clone().map(Value::String),
        ),
        ("action_error", progress.action_error.clone()),
        ("approval_error", progress.approval_error.clone()),
    ];
    if let Some(map) = data.as_object_mut() {
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        }
    }
    data
}

/// Whether this execution already wrote its outcome record on the incident: a closed incident
/// takes the record without a status change, so the revision cannot tell a retried Lambda
/// from a first attempt and the trail is read instead.
async fn outcome_recorded(
    store: &dyn IncidentStore,
    id: &CorrelationId,
    execution: Option<&str>,
) -> Result<bool, RecordError> {
    let trail = store.audit_trail(id).await?;
    Ok(trail.iter().any(|record| {
        record.kind == AuditKind::RecoveryOutcome
            && record.data.get("execution").and_then(Value::as_str) == execution
    }))
}

/// The outcome record of an escalation, or of an action skipped, for an incident that was
/// resolved or closed meanwhile: nobody is paged for it, and the record says why.
fn resolved_meanwhile_entry(
    incident: &Incident,
    outcome: Outcome,
    progress: &Progress,
    execution: Option<&str>,
) -> AuditEntry {
    let status = incident.status.as_str();
    let (recorded, summary) = if progress.action_ran {
        (
            outcome,
            format!("the incident was {status} while the workflow ran; nobody was paged"),
        )
    } else {
        (
            Outcome::ResolvedBeforeAction,
            format!(
                "the incident was {status} before the action; nothing ran and nobody was paged"
            ),
        )
    };
    let mut data = outcome_data(recorded, progress, execution);
    if let Some(map) = data.as_object_mut() {
        map.insert("paged".to_string(), Value::Bool(false));
        if recorded != outcome {
            map.insert("requested_outcome".to_string(), json!(outcome.as_str()));
        }
    }
    AuditEntry::new(ACTOR, AuditKind::RecoveryOutcome, summary, data)
}

async fn record_outcome(
    request: &RecordRequest,
    store: &dyn IncidentStore,
    patterns: &dyn PatternStore,
    clock: &dyn Clock,
    config: &Config,
) -> Result<Value, RecordError> {
    let id = &request.correlation_id;
    let outcome = request
        .outcome
        .ok_or_else(|| RecordError::Invalid("record_outcome needs `outcome`".to_string()))?;
    let progress = request.progress.clone().unwrap_or_default();
    let execution = request.execution_id.as_deref();
    let verdict = verdict_of(&progress);
    let now = clock.now();
    let known = store
        .incident(id)
        .await?
        .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
    // Escalating (or skipping the action) for an incident that is no longer open pages nobody,
    // and the record says so, once per execution.
    let explains_skipped_page =
        matches!(outcome, Outcome::Escalated | Outcome::ResolvedBeforeAction);
    // A retried Lambda must not append the same record again: where the status cannot tell
    // (a closed incident, or one already escalated), this execution's record is looked for.
    let already_recorded = ((explains_skipped_page && !known.status.is_open())
        || known.status == IncidentStatus::Escalated)
        && outcome_recorded(store, id, execution).await?;
    let updated = update_incident(store, clock, id, Some(known), |incident| {
        if already_recorded {
            return Vec::new();
        }
        if !incident.status.is_open() {
            if explains_skipped_page {
                return vec![resolved_meanwhile_entry(
                    incident, outcome, &progress, execution,
                )];
            }
            return Vec::new();
        }
        let (status, summary) = match outcome {
            Outcome::Recovered => (IncidentStatus::Resolved, "recovery verified".to_string()),
            Outcome::Escalated => (
                IncidentStatus::Escalated,
                format!("escalated to on-call (verification: {verdict})"),
            ),
            Outcome::Advisory => (
                IncidentStatus::Advisory,
                "people were told; no action was run".to_string(),
            ),
            // Told the incident resolved, yet it is open here: someone must look, so it fails
            // closed to an escalation rather than ending quietly.
            Outcome::ResolvedBeforeAction => (
                IncidentStatus::Escalated,
                "the workflow was told the incident resolved, but it is still open: escalated to on-call"
                    .to_string(),
            ),
        };
        if incident.transition(status, now).is_err() {
            return Vec::new();
        }
        if outcome == Outcome::Recovered {
            incident.resolution = Some("verified recovered by the recovery workflow".to_string());
        }
        vec![AuditEntry::new(
            ACTOR,
            AuditKind::RecoveryOutcome,
            summary,
            outcome_data(outcome, &progress, execution),
        )]
    })
    .await?
    .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
    // Only an action that actually ran teaches anything about that action.
    let action = updated
        .decision
        .as_ref()
        .and_then(|decision| decision.action.as_ref())
        .map(|validated| validated.action);
    let mut time_to_recover_seconds = None;
    if let (true, Some(action)) = (progress.action_ran, action) {
        let settled = RecoveryOutcome {
            action,
            verified: verdict == "RECOVERED" && outcome == Outcome::Recovered,
            action_started_at: updated
                .execution
                .as_ref()
                .map_or(updated.opened_at, |execution| execution.started_at)
                .min(now),
            settled_at: now,
        };
        match learn_from_outcome(patterns, &updated, &settled, config).await {
            Ok(learned) => time_to_recover_seconds = learned.time_to_recover_seconds,
            // Retryable by the state machine; learning is idempotent per incident, and the
            // incident's own record above is not written twice.
            Err(LearningError::Store(error)) => return Err(RecordError::Patterns(error)),
            // Deterministic: no retry can change it, and the outcome itself stands.
            Err(error) => tracing::warn!(%error, correlation_id = %id, "outcome not learned"),
        }
    }
    // Paging is for an incident someone still has to look at.
    let page = updated.status.is_open();
    Ok(
        json!({"status": updated.status, "outcome": outcome, "page": page, "time_to_recover_seconds": time_to_recover_seconds}),
    )
}
