//! How incidents end: what the reconciler does with an incident that is due, quiet periods,
//! and resolving an incident by hand (`argus incidents resolve`, the functions' operation).

use crate::correlation::CorrelationId;
use crate::incident::{
    AuditEntry, AuditKind, Incident, IncidentStatus, IncidentWriteError, seconds, update_incident,
};
use crate::ports::{Clock, IncidentStore, Workflow};
use crate::signal::SignalSource;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

/// What a due incident needs, mirroring [`Incident::next_check_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueWork {
    /// Written before incidents carried their timing: record it.
    RecordTiming,
    /// Stopped before its decision or workflow start: pick it up again.
    Resume,
    /// Its workflow outlived its worst case: escalate.
    Overdue,
    /// Suppressed by a maintenance window: decide again once the window is over.
    Recheck,
    /// Its quiet period may have passed: end it.
    Quiet,
}

pub fn due_work(incident: &Incident) -> DueWork {
    if incident.timing.is_none() {
        DueWork::RecordTiming
    } else if incident.needs_work() {
        DueWork::Resume
    } else if incident.status == IncidentStatus::Suppressed {
        DueWork::Recheck
    } else if matches!(
        incident.status,
        IncidentStatus::AwaitingApproval | IncidentStatus::Recovering
    ) && incident.execution.is_some()
    {
        DueWork::Overdue
    } else {
        DueWork::Quiet
    }
}

/// Whether a source reports the end of what it raised (an alarm's OK, an alert's `resolved`);
/// CloudTrail calls, log anomalies, Spot notices and Parameter Store changes never do, so only
/// their quiet period ends them.
pub fn source_clears(source: SignalSource) -> bool {
    !matches!(
        source,
        SignalSource::CloudTrail
            | SignalSource::LogAnomaly
            | SignalSource::Ec2Spot
            | SignalSource::ParameterStore
    )
}

pub fn quiet_period(incident: &Incident) -> Duration {
    seconds(
        incident
            .timing
            .as_ref()
            .map_or(0, |timing| timing.quiet_seconds),
    )
}

pub fn recheck_after(incident: &Incident) -> Duration {
    seconds(
        incident
            .timing
            .as_ref()
            .map_or(900, |timing| timing.recheck_seconds),
    )
}

/// When the incident's quiet period ends: its last signal (or its last step) plus the quiet
/// period of its source.
pub fn quiet_until(incident: &Incident) -> Option<DateTime<Utc>> {
    incident.timing.as_ref()?;
    Some(incident.last_signal_at.max(incident.last_progress()) + quiet_period(incident))
}

/// Ends the wait of an approval still pending on an incident that has closed, so its workflow
/// stops at once instead of at the approval's timeout (which stays the backstop when this
/// fails: the failure is logged, never raised).
pub async fn end_approval_wait(
    store: &dyn IncidentStore,
    workflow: &dyn Workflow,
    incident: &Incident,
) {
    if incident.status.is_open() {
        return;
    }
    let Some(approval) = incident
        .approval
        .as_ref()
        .filter(|approval| approval.decision.is_none())
    else {
        return;
    };
    // The token is kept apart from the incident's document (store::approval_token).
    let token = match crate::store::approval_token::token_for(store, incident, approval).await {
        Ok(Some(token)) => token,
        Ok(None) => {
            tracing::warn!(correlation_id = %incident.id, "no task token is kept for the pending approval; its timeout will end the wait");
            return;
        }
        Err(error) => {
            tracing::warn!(correlation_id = %incident.id, %error, "could not read the pending approval's task token; its timeout will end the wait");
            return;
        }
    };
    let cause = format!(
        "incident {} is {}: nothing will run",
        incident.id,
        incident.status.as_str()
    );
    match workflow
        .fail_waiting_task(&token, crate::recovery::INCIDENT_RESOLVED, &cause)
        .await
    {
        Ok(()) => {
            tracing::info!(correlation_id = %incident.id, "the pending approval's wait was ended")
        }
        Err(error) => {
            tracing::warn!(correlation_id = %incident.id, error_type = error.error_type(), %error, "could not end the pending approval's wait; its timeout will")
        }
    }
}

/// Ends an open incident nobody cleared after its quiet period. `false` when it was closed
/// meanwhile or a new signal moved its quiet period on.
pub async fn auto_resolve(
    store: &dyn IncidentStore,
    clock: &dyn Clock,
    workflow: &dyn Workflow,
    id: &CorrelationId,
    actor: &str,
) -> Result<bool, IncidentWriteError> {
    let now = clock.now();
    let mut resolved = false;
    let written = update_incident(store, clock, id, None, |incident| {
        resolved = false;
        let quiet = quiet_until(incident).is_some_and(|until| until <= now);
        if !incident.status.is_open() || !quiet {
            return Vec::new();
        }
        let period = quiet_period(incident);
        if incident.transition(IncidentStatus::Resolved, now).is_err() {
            return Vec::new();
        }
        resolved = true;
        incident.look_again_at = None;
        incident.resolution = Some(format!(
            "auto-resolved: no signal for {} seconds",
            period.num_seconds()
        ));
        vec![AuditEntry::new(
            actor,
            AuditKind::StatusChanged,
            format!(
                "auto-resolved: quiet since {} ({} seconds without a signal)",
                incident.last_signal_at.to_rfc3339(),
                period.num_seconds()
            ),
            json!({"status": "resolved", "auto": true, "quiet_seconds": period.num_seconds()}),
        )]
    })
    .await?;
    if let Some(incident) = written.as_ref().filter(|_| resolved) {
        end_approval_wait(store, workflow, incident).await;
    }
    Ok(resolved)
}

/// What resolving by hand did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ResolveOutcome {
    Resolved,
    /// It had ended already; nothing was written.
    AlreadyClosed {
        status: IncidentStatus,
    },
    NotFound,
}

/// The longest reason kept: it is written by a person and shown in the audit trail and the
/// post-mortem.
pub const MAX_REASON_CHARS: usize = 500;

/// Resolves an open incident on a person's word; the reason and who gave it go on the audit
/// trail. A reason is required: an incident is never ended without one.
pub async fn resolve_incident(
    store: &dyn IncidentStore,
    clock: &dyn Clock,
    workflow: &dyn Workflow,
    id: &CorrelationId,
    actor: &str,
    reason: &str,
) -> Result<ResolveOutcome, ResolveError> {
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_CHARS)
        .collect();
    let reason = reason.trim().to_string();
    if reason.is_empty() {
        return Err(ResolveError::NoReason);
    }
    let actor: String = actor
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let now = clock.now();
    let mut outcome = ResolveOutcome::NotFound;
    let written = update_incident(store, clock, id, None, |incident| {
        if !incident.status.is_open() {
            outcome = ResolveOutcome::AlreadyClosed {
                status: incident.status,
            };
            return Vec::new();
        }
        if incident.transition(IncidentStatus::Resolved, now).is_err() {
            return Vec::new();
        }
        outcome = ResolveOutcome::Resolved;
        incident.look_again_at = None;
        incident.resolution = Some(format!("resolved by {actor}: {reason}"));
        vec![AuditEntry::new(
            &actor,
            AuditKind::StatusChanged,
            format!("resolved by {actor}: {reason}"),
            json!({"status": "resolved", "by": actor, "reason": reason}),
        )]
    })
    .await?;
    let Some(incident) = written else {
        return Ok(ResolveOutcome::NotFound);
    };
    if outcome == ResolveOutcome::Resolved {
        end_approval_wait(store, workflow, &incident).await;
    }
    Ok(outcome)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("a reason is required to resolve an incident")]
    NoReason,
    #[error(transparent)]
    Write(#[from] IncidentWriteError),
}

impl ResolveError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NoReason => "InvalidRequest",
            Self::Write(error) => error.error_type(),
        }
    }
}
