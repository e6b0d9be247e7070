//! The recovery workflow's records: "recovery started" (only while the incident is open) and
//! the outcome (status, audit record, and what the patterns table learns). The orchestrator
//! Lambda runs these for the state machine; `argus replay` runs them in-process.

use crate::analysis::{RecoveryOutcome, learn_from_outcome};
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::incident::{AuditEntry, AuditKind, IncidentStatus};
use crate::incident::{IncidentWriteError, update_incident};
use crate::ports::{Clock, IncidentStore, PatternStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ACTOR: &str = "argus/recovery";

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
}

impl RecordError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "IncidentNotFound",
            Self::Invalid(_) => "InvalidRequest",
            Self::Store(error) => error.error_type(),
            Self::Write(error) => error.error_type(),
        }
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
fn outcome_data(outcome: Outcome, progress: &Progress) -> Value {
    let mut data = json!({"outcome": outcome, "action_ran": progress.action_ran, "verification": progress.verification});
    let optional = [
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
    let verdict = verdict_of(&progress);
    let now = clock.now();
    let updated = update_incident(store, clock, id, None, |incident| {
        if !incident.status.is_open() {
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
            outcome_data(outcome, &progress),
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
        let learned = learn_from_outcome(patterns, &updated, &settled, config)
            .await
            .map_err(|error| RecordError::Invalid(error.to_string()))?;
        time_to_recover_seconds = learned.time_to_recover_seconds;
    }
    Ok(
        json!({"status": updated.status, "outcome": outcome, "time_to_recover_seconds": time_to_recover_seconds}),
    )
}
