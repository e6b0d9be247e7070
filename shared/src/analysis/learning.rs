//! Learning from outcomes: when a recovery's verification settles, the patterns table learns it
//! per signature and action (attempts, verified successes, failures, time to recover, verified
//! successes in a row) and keeps a compact summary of the incident for later prompts. The
//! autonomy ladder in the decision policy reads exactly these numbers.
//!
//! The recovery workflow calls `learn_from_outcome` once per incident, after the verifier's
//! final verdict (RECOVERED or FAILED). Calling it again for the same incident changes nothing,
//! so a retried workflow step is safe.

use super::context::PastIncident;
use super::sanitise::clean_text;
use crate::catalogue::ActionId;
use crate::config::Config;
use crate::incident::Incident;
use crate::ports::{OutcomeRecord, PatternStore, StoreError};
use crate::resource::ResourceRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest incident summary kept in the patterns table (bytes): it goes back into prompts.
pub const MAX_LEARNED_SUMMARY_BYTES: usize = 300;

/// How a recovery ended, as the verifier decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryOutcome {
    /// The catalogue action that ran.
    pub action: ActionId,
    /// `true` when the verifier found the resource recovered, `false` when it found it failed.
    pub verified: bool,
    /// When the action started running.
    pub action_started_at: DateTime<Utc>,
    /// When the verifier reached its verdict.
    pub settled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LearningError {
    #[error("{0} changes nothing, so there is no outcome to learn")]
    NotARemediation(ActionId),
    #[error("the outcome settled at {settled_at} before its action started at {started_at}")]
    SettledBeforeStart {
        started_at: DateTime<Utc>,
        settled_at: DateTime<Utc>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The record `learn_from_outcome` writes, built without writing it (for tests and previews).
pub fn outcome_record(
    incident: &Incident,
    outcome: &RecoveryOutcome,
) -> Result<OutcomeRecord, LearningError> {
    if !outcome.action.is_remediation() {
        return Err(LearningError::NotARemediation(outcome.action));
    }
    if outcome.settled_at < outcome.action_started_at {
        return Err(LearningError::SettledBeforeStart {
            started_at: outcome.action_started_at,
            settled_at: outcome.settled_at,
        });
    }
    // Time to recover runs from the action to the verified recovery: what the ladder and the
    // prompt compare across incidents. A failure has none.
    let time_to_recover_seconds = outcome.verified.then(|| {
        u64::try_from((outcome.settled_at - outcome.action_started_at).num_seconds()).unwrap_or(0)
    });
    let assessment = incident.assessment.as_ref();
    let summary = match assessment {
        Some(assessment) => format!(
            "{} severity {}: {}",
            assessment.classification.as_str(),
            assessment.severity,
            assessment.summary
        ),
        None => incident.title.clone(),
    };
    Ok(OutcomeRecord {
        signature: incident.signature.clone(),
        action: outcome.action,
        verified: outcome.verified,
        time_to_recover_seconds,
        summary: PastIncident {
            correlation_id: incident.id.clone(),
            resource: incident.resource.clone(),
            action: Some(outcome.action.as_str().to_string()),
            verified: Some(outcome.verified),
            time_to_recover_seconds,
            summary: clean_text(&summary, MAX_LEARNED_SUMMARY_BYTES),
            closed_at: incident.closed_at.unwrap_or(outcome.settled_at),
        },
    })
}

/// The patterns-table key under which the autonomy ladder counts `action` on `resource` for
/// `signature`: a ladder climbed on one resource says nothing about another. Resource
/// references hold no space, so the key is unambiguous and never a signature of its own.
pub fn ladder_key(resource: &ResourceRef, signature: &str) -> String {
    format!("LADDER {resource} {signature}")
}

/// Whether the signal that opened `incident` was seen clear: the verifier reads the incident's
/// alarm and finds RECOVERED only when it has been OK for its evaluation periods, and any other
/// source counts only when its own signals said it stopped firing. A verified success that only
/// read the resource's health (an external alert, a log anomaly) does not climb the ladder.
pub fn opening_signal_observed_clear(incident: &Incident) -> bool {
    incident.alarm_name.is_some()
        || (!incident.origins.is_empty() && incident.origins.values().all(|origin| !origin.firing))
}

/// Records a settled recovery in the patterns table: per signature and action it counts the
/// attempt, the verified success or the failure, the time to recover and the run of verified
/// successes (reset by a failure), and keeps a bounded summary of the incident
/// (`analysis.summaries_per_signature`, expiring with the store's retention). Counted once per
/// incident.
pub async fn learn_from_outcome(
    patterns: &dyn PatternStore,
    incident: &Incident,
    outcome: &RecoveryOutcome,
    config: &Config,
) -> Result<OutcomeRecord, LearningError> {
    let record = outcome_record(incident, outcome)?;
    patterns
        .record_outcome(&record, config.analysis.summaries_per_signature)
        .await?;
    // The ladder's own count, per resource: a failure always counts (it sends the action back
    // down); a success only when the opening signal was seen clear.
    if !record.verified || opening_signal_observed_clear(incident) {
        let rung = OutcomeRecord {
            signature: ladder_key(&incident.resource, &incident.signature),
            ..record.clone()
        };
        patterns.record_outcome(&rung, 1).await?;
    }
    tracing::info!(
        signature = %record.signature,
        action = %record.action,
        verified = record.verified,
        time_to_recover_seconds = record.time_to_recover_seconds,
        "outcome learned"
    );
    Ok(record)
}
