//! The orchestrator's path from a delivered event to a started recovery workflow:
//! normalise → dedup → correlate → suppress → budget → context → analyse → validate → decide →
//! start. The Lambda handler and `argus replay` both run exactly this code.

mod attach;
mod decide;
mod deliberate_stop;
mod external_scope;
mod replay;
mod resume;
mod tag_guard;

pub use decide::decision_summary;

use crate::analysis::{
    AnalysisContext, ContextInputs, RulesAnalyst, ValidatedAssessment, validate_assessment,
};
use crate::catalogue::ActionId;
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::decision::{BudgetState, Decision, DecisionInput, Mode, decide};
use crate::incident::{
    AuditEntry, AuditKind, Incident, IncidentStatus, IncidentTiming, IncidentWriteError,
    SignalVerdict, TransitionError, update_incident,
};
pub(crate) use crate::incident::{MAX_WRITE_ATTEMPTS, conflict_backoff};
use crate::ports::{
    Analyst, BudgetKey, BudgetOutcome, BudgetUsage, ClaimOutcome, ClearOutcome, Clock, DedupClaim,
    IncidentStore, IncidentWrite, NewIncident, OpenOutcome, OriginClear, PatternStore,
    SignalRecord, StoreError, Workflow, WorkflowError, WorkflowStart, WriteOutcome,
};
use crate::signal::{NormaliseError, Normalised, Signal, SignalEffect, SignalSource, normalise};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

/// Puts the incident's id on the signal's span, so every later log line of it carries the id.
fn note_correlation(id: &CorrelationId) {
    tracing::Span::current().record("correlation_id", id.as_str());
}

/// Who the audit trail says acted.
pub const ACTOR: &str = "argus/orchestrator";
/// How many incidents on the resource are read for its recent changes and budget activity.
pub const RESOURCE_SCAN_LIMIT: usize = 10;

/// Everything the path needs, each behind the narrowest port.
#[derive(Clone, Copy)]
pub struct Intake<'a> {
    pub store: &'a dyn IncidentStore,
    pub patterns: &'a dyn PatternStore,
    pub analyst: &'a dyn Analyst,
    pub workflow: &'a dyn Workflow,
    pub clock: &'a dyn Clock,
    pub config: &'a Config,
    /// Looks around the alarming resource before analysis (`None`: the analysis sees the
    /// signal and the store only).
    pub investigator: Option<&'a dyn crate::investigation::investigator::Investigator>,
    /// Reads the tags of the resource an action would run on, before it is proposed (`None`:
    /// no tags are read, and only the recovery role's IAM conditions hold; the orchestrator
    /// always has one).
    pub resource_tags: Option<&'a dyn crate::tags::ResourceTags>,
}

impl std::fmt::Debug for Intake<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("analyst", &self.analyst.name())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Invalid(#[from] NormaliseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error("incident {0} kept changing under concurrent writes; the event will be retried")]
    Contended(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The event's signals did not all fit before the invocation's deadline; those taken in are
    /// recorded, and a retry finds them duplicates and goes on with the rest.
    #[error(
        "took in {taken} of {total} signals before the invocation's deadline; the event will be retried"
    )]
    OutOfTime { taken: usize, total: usize },
}

impl From<IncidentWriteError> for IntakeError {
    fn from(error: IncidentWriteError) -> Self {
        match error {
            IncidentWriteError::Store(error) => Self::Store(error),
            IncidentWriteError::Contended(id) => Self::Contended(id),
        }
    }
}

impl IntakeError {
    /// Stable names for the Lambda's `errorType`, named by the state machine and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Invalid(error) => error.error_type(),
            Self::Store(error) => error.error_type(),
            Self::Workflow(error) => error.error_type(),
            Self::Contended(_) => "ConcurrentUpdate",
            Self::Transition(_) => "InvalidTransition",
            Self::OutOfTime { .. } => "OutOfTime",
        }
    }

    /// Whether delivering the same event again can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Invalid(_) | Self::Transition(_))
    }
}

/// What happened to one delivered event.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub signals: Vec<SignalReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new incident was opened.
    Opened,
    /// The signal joined the open incident for its resource and signature.
    Attached,
    /// The signal cleared the open incident, which is now resolved.
    Resolved,
    /// A change Argus made itself, recorded against its incident.
    SelfCaused,
    /// The event was delivered before; nothing new happened.
    Duplicate,
    /// A clearing or informational signal with no open incident to join.
    Unattached,
    /// Older than what its source said since (a late, retried or reordered delivery): recorded
    /// and ignored.
    Stale,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Attached => "attached",
            Self::Resolved => "resolved",
            Self::SelfCaused => "self-caused",
            Self::Duplicate => "duplicate",
            Self::Unattached => "unattached",
            Self::Stale => "stale",
        }
    }
}

/// One line of the timeline `argus replay` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub stage: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignalReport {
    pub signal: Signal,
    pub outcome: Outcome,
    pub correlation_id: Option<CorrelationId>,
    pub incident_status: Option<IncidentStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<ValidatedAssessment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowStart>,
    pub steps: Vec<Step>,
    /// The context the analyst was given, for `argus explain`; not part of the report's JSON.
    #[serde(skip)]
    pub context: Option<AnalysisContext>,
}

impl SignalReport {
    fn new(signal: &Signal, outcome: Outcome) -> Self {
        Self {
            signal: signal.clone(),
            outcome,
            correlation_id: None,
            incident_status: None,
            context_tokens: None,
            assessment: None,
            decision: None,
            workflow: None,
            steps: Vec::new(),
            context: None,
        }
    }

    fn step(&mut self, stage: &'static str, detail: impl Into<String>) {
        self.steps.push(Step {
            stage,
            detail: detail.into(),
        });
    }

    fn with_incident(mut self, incident: &Incident) -> Self {
        self.correlation_id = Some(incident.id.clone());
        self.incident_status = Some(incident.status);
        self
    }
}

impl<'a> Intake<'a> {
    /// Runs one delivered event through the whole path.
    pub async fn process_event(&self, event: &Value) -> Result<EventReport, IntakeError> {
        self.process_event_until(event, None).await
    }

    /// [`Intake::process_event`], starting no further signal of the event at or after
    /// `stop_at` (the invocation's deadline less what one signal may take): a CloudTrail call
    /// on many resources gives many signals, each of which may wait on the analyst. The first
    /// signal always runs, so every retry makes progress.
    pub async fn process_event_until(
        &self,
        event: &Value,
        stop_at: Option<DateTime<Utc>>,
    ) -> Result<EventReport, IntakeError> {
        match normalise(event, &self.config.signals)? {
            Normalised::Ignored { reason } => {
                tracing::info!(reason = %reason, "event ignored");
                Ok(EventReport {
                    ignored: Some(reason),
                    signals: Vec::new(),
                })
            }
            Normalised::Signals(signals) => {
                let signals: Vec<Signal> = signals
                    .into_iter()
                    .map(|signal| external_scope::confine(signal, self.config))
                    .collect();
                let mut reports = Vec::with_capacity(signals.len());
                for signal in &signals {
                    let late = stop_at.is_some_and(|stop_at| self.clock.now() >= stop_at);
                    if late && !reports.is_empty() {
                        tracing::warn!(
                            taken = reports.len(),
                            total = signals.len(),
                            "out of time before the event's last signals"
                        );
                        return Err(IntakeError::OutOfTime {
                            taken: reports.len(),
                            total: signals.len(),
                        });
                    }
                    reports.push(self.process_signal(signal).await?);
                }
                Ok(EventReport {
                    ignored: None,
                    signals: reports,
                })
            }
        }
    }

    pub async fn process_signal(&self, signal: &Signal) -> Result<SignalReport, IntakeError> {
        let span = tracing::info_span!("signal", source_event_id = %signal.source_event_id, correlation_id = tracing::field::Empty);
        self.route(signal).instrument(span).await
    }

    async fn route(&self, signal: &Signal) -> Result<SignalReport, IntakeError> {
        let replayed = replay::older_than_dedup_window(
            signal,
            self.clock.now(),
            self.config.dedup_ttl_seconds,
        );
        let report = if let Some(report) = replayed {
            report
        } else if let Some(issued) = self.issued_by_argus(signal).await? {
            self.attach_self_caused(signal, Some(issued)).await?
        } else if let Some(rolled_back) = self.own_rollback(signal).await? {
            self.attach_self_caused(signal, Some(rolled_back)).await?
        } else {
            match signal.effect {
                SignalEffect::Opens => self.open_or_attach(signal).await?,
                SignalEffect::Clears | SignalEffect::Informs => self.attach_to_open(signal).await?,
            }
        };
        tracing::info!(
            outcome = report.outcome.as_str(),
            status = report.incident_status.map(IncidentStatus::as_str),
            "signal processed"
        );
        Ok(report)
    }

    /// The incident a CloudTrail call is Argus' own change for: the call was made by one of
    /// Argus' own roles (exact ARNs) and names, in a tag or a client token, a correlation id
    /// Argus issued (an incident in the store). A tag or a token alone, or a role that only
    /// looks like Argus', never makes a call Argus' own: anyone can write those.
    async fn issued_by_argus(&self, signal: &Signal) -> Result<Option<CorrelationId>, IntakeError> {
        let own_role = signal
            .principal
            .as_deref()
            .is_some_and(|principal| self.config.is_own_role(principal));
        let Some(hint) = signal.correlation_hint.as_ref() else {
            return Ok(None);
        };
        if signal.source != SignalSource::CloudTrail || !own_role {
            return Ok(None);
        }
        Ok(self.store.incident(hint).await?.map(|incident| incident.id))
    }

    fn claim(&self, signal: &Signal, id: Option<&CorrelationId>, now: DateTime<Utc>) -> DedupClaim {
        DedupClaim {
            source_event_id: signal.source_event_id.clone(),
            correlation_id: id.cloned(),
            claimed_at: now,
            expires_at: now + Duration::seconds(self.config.dedup_ttl_seconds as i64),
        }
    }

    /// Applies `change` to the incident and writes it conditionally on its revision, reading it
    /// again and re-applying on conflict. `None` when the incident does not exist.
    async fn update<F>(
        &self,
        id: &CorrelationId,
        known: Option<Incident>,
        change: F,
    ) -> Result<Option<Incident>, IntakeError>
    where
        F: FnMut(&mut Incident) -> Vec<AuditEntry> + Send,
    {
        Ok(update_incident(self.store, self.clock, id, known, change).await?)
    }
}
