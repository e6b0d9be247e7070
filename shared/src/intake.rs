//! The orchestrator's path from a delivered event to a started recovery workflow:
//! normalise → dedup → correlate → suppress → budget → context → analyse → validate → decide →
//! start. The Lambda handler and `argus replay` both run exactly this code.

use crate::analysis::{
    AnalysisContext, ContextInputs, RulesAnalyst, ValidatedAssessment, validate_assessment,
};
use crate::backoff::Backoff;
use crate::catalogue::ActionId;
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::decision::{BudgetState, Decision, DecisionInput, Mode, decide};
use crate::incident::{AuditEntry, AuditKind, Incident, IncidentStatus, TransitionError};
use crate::ports::{
    Analyst, BudgetKey, BudgetLimits, BudgetOutcome, BudgetUsage, ClaimOutcome, Clock, DedupClaim,
    IncidentStore, IncidentWrite, NewIncident, OpenOutcome, PatternStore, SignalRecord, StoreError,
    Workflow, WorkflowError, WorkflowStart, WriteOutcome,
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
/// Optimistic writes give up after this many conflicts in a row; the event is then retried whole.
const MAX_WRITE_ATTEMPTS: usize = 16;

/// Waits before retrying a conflicting write: up to 15 ms, doubling to 480 ms, jittered, so
/// writers racing for one incident stop colliding in lockstep.
const CONFLICT_BACKOFF: Backoff = Backoff::new(
    std::time::Duration::from_millis(15),
    std::time::Duration::from_millis(480),
);

async fn conflict_backoff(attempt: usize) {
    if attempt == 0 {
        return;
    }
    let retry = u32::try_from(attempt).unwrap_or(u32::MAX);
    tokio::time::sleep(CONFLICT_BACKOFF.wait(retry)).await;
}

/// Everything the path needs, each behind the narrowest port.
#[derive(Clone, Copy)]
pub struct Intake<'a> {
    pub store: &'a dyn IncidentStore,
    pub patterns: &'a dyn PatternStore,
    pub analyst: &'a dyn Analyst,
    pub workflow: &'a dyn Workflow,
    pub clock: &'a dyn Clock,
    pub config: &'a Config,
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
        match normalise(event, &self.config.signals)? {
            Normalised::Ignored { reason } => {
                tracing::info!(reason = %reason, "event ignored");
                Ok(EventReport {
                    ignored: Some(reason),
                    signals: Vec::new(),
                })
            }
            Normalised::Signals(signals) => {
                let mut reports = Vec::with_capacity(signals.len());
                for signal in &signals {
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
        let report = if self.is_self_caused(signal) {
            self.attach_self_caused(signal).await?
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

    fn is_self_caused(&self, signal: &Signal) -> bool {
        signal.source == SignalSource::CloudTrail
            && (signal.correlation_hint.is_some()
                || signal
                    .principal
                    .as_deref()
                    .is_some_and(|principal| self.config.is_self_principal(principal)))
    }

    fn claim(&self, signal: &Signal, id: Option<&CorrelationId>, now: DateTime<Utc>) -> DedupClaim {
        DedupClaim {
            source_event_id: signal.source_event_id.clone(),
            correlation_id: id.cloned(),
            claimed_at: now,
            expires_at: now + Duration::seconds(self.config.dedup_ttl_seconds as i64),
        }
    }

    async fn open_or_attach(&self, signal: &Signal) -> Result<SignalReport, IntakeError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            conflict_backoff(attempt).await;
            let now = self.clock.now();
            let id = CorrelationId::derive(
                &signal.signature,
                signal.resource.as_str(),
                &signal.source_event_id,
                signal.observed_at,
            );
            note_correlation(&id);
            let mut incident = Incident::open(id.clone(), signal, now);
            let audit = [incident.audit(
                AuditEntry::new(ACTOR, AuditKind::IncidentOpened, format!("opened by {}: {}", signal.source.label(), signal.title), json!({"source_event_id": signal.source_event_id, "signature": signal.signature, "resource": signal.resource})),
                now,
            )];
            let record = SignalRecord {
                incident_id: id.clone(),
                received_at: now,
                outcome: Outcome::Opened.as_str().to_string(),
                signal: signal.clone(),
            };
            let claim = self.claim(signal, Some(&id), now);
            let outcome = self
                .store
                .open_incident(NewIncident {
                    incident: &incident,
                    claim: &claim,
                    signal: &record,
                    audit: &audit,
                })
                .await?;
            match outcome {
                OpenOutcome::Opened => {
                    let mut report = SignalReport::new(signal, Outcome::Opened);
                    report.step(
                        "incident",
                        format!(
                            "new incident {id} for {} / {}",
                            signal.resource, signal.signature
                        ),
                    );
                    return self.advance(incident, signal, report).await;
                }
                OpenOutcome::Duplicate { correlation_id } => {
                    return self.duplicate(signal, correlation_id).await;
                }
                OpenOutcome::AlreadyOpen { correlation_id } => {
                    if let Some(report) = self
                        .attach(&correlation_id, signal, Outcome::Attached)
                        .await?
                    {
                        return Ok(report);
                    }
                    // The open incident closed between the two writes: try to open again.
                }
            }
        }
        Err(IntakeError::Contended(signal.source_event_id.clone()))
    }

    /// Records `signal` against an open incident. `None` when the incident is no longer open.
    async fn attach(
        &self,
        id: &CorrelationId,
        signal: &Signal,
        outcome: Outcome,
    ) -> Result<Option<SignalReport>, IntakeError> {
        note_correlation(id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            conflict_backoff(attempt).await;
            let Some(mut incident) = self.store.incident(id).await? else {
                return Ok(None);
            };
            if !incident.status.is_open() {
                return Ok(None);
            }
            let now = self.clock.now();
            let expected_revision = incident.revision;
            incident.revision += 1;
            incident.signal_count += 1;
            incident.last_signal_at = incident.last_signal_at.max(signal.observed_at);
            incident.updated_at = now;
            let outcome = if outcome == Outcome::Attached && signal.effect == SignalEffect::Clears {
                Outcome::Resolved
            } else {
                outcome
            };
            let (kind, summary) = match outcome {
                Outcome::Resolved => (
                    AuditKind::Cleared,
                    format!("cleared by {}: {}", signal.source.label(), signal.title),
                ),
                Outcome::SelfCaused => (
                    AuditKind::SelfCausedAttached,
                    format!("Argus' own change recorded: {}", signal.title),
                ),
                _ => (
                    AuditKind::SignalAttached,
                    format!("signal attached: {}", signal.title),
                ),
            };
            let mut audit = vec![incident.audit(
                AuditEntry::new(
                    ACTOR,
                    kind,
                    summary,
                    json!({"source_event_id": signal.source_event_id, "state": signal.state}),
                ),
                now,
            )];
            if outcome == Outcome::Resolved {
                incident.transition(IncidentStatus::Resolved, now)?;
                incident.resolution = Some(format!(
                    "{} reported {}",
                    signal.source.label(),
                    signal.state
                ));
                audit.push(incident.audit(
                    AuditEntry::new(
                        ACTOR,
                        AuditKind::StatusChanged,
                        "resolved: the source reports the problem gone",
                        json!({"status": "resolved"}),
                    ),
                    now,
                ));
            }
            let record = SignalRecord {
                incident_id: id.clone(),
                received_at: now,
                outcome: outcome.as_str().to_string(),
                signal: signal.clone(),
            };
            let claim = self.claim(signal, Some(id), now);
            let write = IncidentWrite {
                incident: &incident,
                expected_revision,
                claim: Some(&claim),
                signal: Some(&record),
                audit: &audit,
            };
            match self.store.write_incident(write).await? {
                WriteOutcome::Written => {
                    let mut report = SignalReport::new(signal, outcome).with_incident(&incident);
                    report.step(
                        "incident",
                        match outcome {
                            Outcome::Resolved => format!(
                                "resolved incident {id}: {} is {}",
                                signal.resource, signal.state
                            ),
                            Outcome::SelfCaused => {
                                format!("Argus' own change, recorded on incident {id}")
                            }
                            _ => format!(
                                "attached to open incident {id} ({} signals)",
                                incident.signal_count
                            ),
                        },
                    );
                    if outcome == Outcome::Attached && self.is_stalled(&incident) {
                        // The reconciler's sweep finds stalled incidents by `updated_at`, which
                        // every attached signal moves: while an alarm keeps signalling, the
                        // signal that finds its incident stalled is what resumes it.
                        let Some(opening) = self.store.signals(id).await?.into_iter().next() else {
                            return Ok(Some(report));
                        };
                        return self
                            .resume_if_stalled(&incident, &opening.signal, report)
                            .await
                            .map(Some);
                    }
                    return Ok(Some(report));
                }
                WriteOutcome::Duplicate { correlation_id } => {
                    return self.duplicate(signal, correlation_id).await.map(Some);
                }
                WriteOutcome::Conflict => continue,
            }
        }
        Err(IntakeError::Contended(id.to_string()))
    }

    async fn attach_to_open(&self, signal: &Signal) -> Result<SignalReport, IntakeError> {
        let open = self
            .store
            .open_incident_for(&signal.resource, &signal.signature)
            .await?;
        if let Some(id) = open
            && let Some(report) = self.attach(&id, signal, Outcome::Attached).await?
        {
            return Ok(report);
        }
        self.unattached(
            signal,
            "no open incident for this resource and signature; recorded only",
        )
        .await
    }

    async fn attach_self_caused(&self, signal: &Signal) -> Result<SignalReport, IntakeError> {
        let mut candidates = Vec::new();
        if let Some(hint) = &signal.correlation_hint {
            candidates.push(hint.clone());
        }
        let on_resource = self.store.incidents_on(&signal.resource, 20).await?;
        candidates.extend(
            on_resource
                .into_iter()
                .filter(|incident| incident.status.is_open())
                .map(|incident| incident.id),
        );
        for id in candidates {
            if let Some(report) = self.attach(&id, signal, Outcome::SelfCaused).await? {
                return Ok(report);
            }
        }
        let mut report = self
            .unattached(
                signal,
                "a change Argus made itself; no open incident to attach it to",
            )
            .await?;
        if report.outcome == Outcome::Unattached {
            report.outcome = Outcome::SelfCaused;
        }
        Ok(report)
    }

    async fn unattached(&self, signal: &Signal, why: &str) -> Result<SignalReport, IntakeError> {
        let claim = self.claim(signal, None, self.clock.now());
        match self.store.claim_event(&claim).await? {
            ClaimOutcome::Claimed => {
                let mut report = SignalReport::new(signal, Outcome::Unattached);
                report.step("incident", why);
                Ok(report)
            }
            ClaimOutcome::Duplicate { correlation_id } => {
                self.duplicate(signal, correlation_id).await
            }
        }
    }

    /// A re-delivered event. If its incident stalled before a decision or a workflow start for
    /// longer than `resume_after_seconds`, the path is picked up where it stopped.
    async fn duplicate(
        &self,
        signal: &Signal,
        id: Option<CorrelationId>,
    ) -> Result<SignalReport, IntakeError> {
        let mut report = SignalReport::new(signal, Outcome::Duplicate);
        let Some(id) = id else {
            report.step("dedup", "already delivered; it belonged to no incident");
            return Ok(report);
        };
        note_correlation(&id);
        report.correlation_id = Some(id.clone());
        report.step(
            "dedup",
            format!("already delivered; it belongs to incident {id}"),
        );
        let Some(incident) = self.store.incident(&id).await? else {
            return Ok(report);
        };
        report.incident_status = Some(incident.status);
        self.resume_if_stalled(&incident, signal, report).await
    }

    /// Picks `incident` up where it stopped when it has stalled, analysing `signal` if no
    /// decision was written; otherwise hands `report` back as it is. Of several invocations that
    /// find it stalled at once, the lease lets exactly one go on.
    async fn resume_if_stalled(
        &self,
        incident: &Incident,
        signal: &Signal,
        mut report: SignalReport,
    ) -> Result<SignalReport, IntakeError> {
        if !self.is_stalled(incident) {
            return Ok(report);
        }
        let id = &incident.id;
        report.step(
            "resume",
            format!(
                "incident {id} stalled since {}; resuming",
                incident.last_progress().to_rfc3339()
            ),
        );
        let Some(leased) = self.lease_stalled(id, ACTOR).await? else {
            report.step("resume", "another invocation picked it up first");
            return Ok(report);
        };
        let outcome = report.outcome;
        let resumed = self.advance(leased, signal, report).await?;
        Ok(SignalReport { outcome, ..resumed })
    }

    /// Whether an incident stopped before its decision or workflow start longer ago than
    /// `resume_after_seconds`; a shorter gap means another invocation may still be on it.
    /// Attached signals do not count as progress: they move `updated_at`, not `progressed_at`.
    fn is_stalled(&self, incident: &Incident) -> bool {
        let stalled = self.clock.now() - incident.last_progress()
            > Duration::seconds(self.config.resume_after_seconds as i64);
        incident.status.is_open() && stalled && needs_work(incident)
    }

    /// Claims a stalled incident for resuming: a write, conditional on the revision, that only
    /// happens while the incident still looks stalled and that makes it look fresh. Of several
    /// resumers (re-deliveries, reconciler runs) exactly one gets `Some` and goes on.
    async fn lease_stalled(
        &self,
        id: &CorrelationId,
        actor: &str,
    ) -> Result<Option<Incident>, IntakeError> {
        let mut leased = false;
        let incident = self
            .update(id, None, |incident| {
                leased = self.is_stalled(incident);
                if !leased {
                    return Vec::new();
                }
                let stalled_since = incident.last_progress();
                incident.progressed_at = Some(self.clock.now());
                vec![AuditEntry::new(
                    actor,
                    AuditKind::Resumed,
                    format!(
                        "resumed: stalled since {} before its {}",
                        stalled_since.to_rfc3339(),
                        if incident.decision.is_none() {
                            "decision"
                        } else {
                            "workflow start"
                        }
                    ),
                    json!({"stalled_since": stalled_since, "decided": incident.decision.is_some()}),
                )]
            })
            .await?;
        Ok(incident.filter(|_| leased))
    }

    /// Picks a stalled incident up where it stopped (decision or workflow start), for the
    /// reconciler. `None` when it is not stalled (any more) or another resumer got it first.
    /// The workflow start is named by the incident's id, so a start that did happen before the
    /// stall is found, not repeated.
    pub async fn resume_stalled(
        &self,
        id: &CorrelationId,
        actor: &str,
    ) -> Result<Option<SignalReport>, IntakeError> {
        note_correlation(id);
        // The opening signal is what the analysis is about, as it was for the first attempt.
        let Some(first) = self.store.signals(id).await?.into_iter().next() else {
            return Ok(None);
        };
        let Some(incident) = self.lease_stalled(id, actor).await? else {
            return Ok(None);
        };
        let mut report = SignalReport::new(&first.signal, Outcome::Duplicate);
        report.correlation_id = Some(id.clone());
        report.step(
            "resume",
            format!("incident {id} stalled; resumed by {actor}"),
        );
        self.advance(incident, &first.signal, report)
            .await
            .map(Some)
    }

    /// Takes a new (or stalled) incident through guards, analysis, decision and workflow start.
    async fn advance(
        &self,
        incident: Incident,
        signal: &Signal,
        mut report: SignalReport,
    ) -> Result<SignalReport, IntakeError> {
        let id = incident.id.clone();
        let mut incident = incident;
        if incident.decision.is_none() {
            let (decision, assessment, mut audit) = self
                .assess_and_decide(&incident, signal, &mut report)
                .await?;
            let status = status_for(&decision);
            let decided_at = decision.decided_at;
            audit.push(AuditEntry::new(ACTOR, AuditKind::Decided, decision_summary(&decision), json!({"mode": decision.mode, "escalate": decision.escalate, "suppressed": decision.suppressed, "reasons": decision.reasons, "action": decision.action.as_ref().map(|a| a.action)})));
            let written = self
                .update(&id, Some(incident), |incident| {
                    // A concurrent resumer decided first: its decision stands, and the workflow
                    // start below is named by the incident, so both arrive at one execution.
                    if !incident.status.is_open() || incident.decision.is_some() {
                        return Vec::new();
                    }
                    incident.assessment = assessment
                        .as_ref()
                        .map(|validated| validated.assessment.clone());
                    incident.decision = Some(decision.clone());
                    incident.progressed_at = Some(decided_at);
                    // The status write cannot fail: the incident is open and `status_for` never says `open`.
                    let _ = incident.transition(status, decided_at);
                    audit.clone()
                })
                .await?;
            report.assessment = assessment;
            report.decision = Some(decision);
            match written {
                Some(updated) => {
                    // The decision that stands, which is another resumer's if it wrote first.
                    if updated.decision.is_some() {
                        report.decision = updated.decision.clone();
                    }
                    incident = updated;
                }
                None => return Ok(report),
            }
        } else {
            report.decision = incident.decision.clone();
        }
        report = report.with_incident(&incident);
        let Some(decision) = incident.decision.clone() else {
            return Ok(report);
        };
        if decision.suppressed {
            report.step("workflow", "not started: actions are suppressed");
            return Ok(report);
        }
        if !incident.status.is_open() {
            report.step("workflow", "not started: the incident closed meanwhile");
            return Ok(report);
        }
        if incident.execution.is_none() {
            let input = json!({"correlation_id": id, "incident": incident, "decision": decision, "recovery": self.config.recovery});
            let started = self.workflow.start(&id, &input).await?;
            let now = self.clock.now();
            let execution = crate::incident::ExecutionRef {
                name: id.to_string(),
                id: started.execution_id.clone(),
                started_at: now,
            };
            let entry = AuditEntry::new(
                ACTOR,
                AuditKind::WorkflowStarted,
                if started.already_started {
                    "recovery workflow was already running"
                } else {
                    "recovery workflow started"
                },
                json!({"execution": started.execution_id, "mode": decision.mode}),
            );
            if let Some(updated) = self
                .update(&id, Some(incident), |incident| {
                    incident.execution = Some(execution.clone());
                    incident.progressed_at = Some(execution.started_at);
                    vec![entry.clone()]
                })
                .await?
            {
                report = report.with_incident(&updated);
            }
            report.step(
                "workflow",
                format!(
                    "{} execution {} ({} mode)",
                    if started.already_started {
                        "found running"
                    } else {
                        "started"
                    },
                    started.execution_id,
                    decision.mode.as_str()
                ),
            );
            tracing::info!(execution = %started.execution_id, mode = decision.mode.as_str(), "recovery workflow started");
            report.workflow = Some(started);
        }
        Ok(report)
    }

    async fn assess_and_decide(
        &self,
        incident: &Incident,
        signal: &Signal,
        report: &mut SignalReport,
    ) -> Result<(Decision, Option<ValidatedAssessment>, Vec<AuditEntry>), IntakeError> {
        let now = self.clock.now();
        let mut audit = Vec::new();
        let resource = &incident.resource;
        let signature = &incident.signature;
        let overrides: Vec<_> = self
            .config
            .overrides
            .iter()
            .filter(|o| o.applies_to(resource.as_str(), signature))
            .collect();

        // Suppression comes first: a maintenance window keeps the record but spends nothing.
        if let Some(window) = self
            .config
            .active_maintenance(resource.as_str(), signature, now)
        {
            report.step(
                "guards",
                format!("suppressed by maintenance window `{}`", window.name),
            );
            audit.push(AuditEntry::new(
                ACTOR,
                AuditKind::Suppressed,
                format!("maintenance window `{}` is active", window.name),
                json!({"window": window.name}),
            ));
            let decision = Decision {
                mode: Mode::Advisory,
                action: None,
                escalate: false,
                suppressed: true,
                reasons: vec![format!(
                    "maintenance window `{}` suppresses actions",
                    window.name
                )],
                budget: None,
                decided_at: now,
            };
            return Ok((decision, None, audit));
        }

        // What was learned about the signature (one patterns-table query for the action stats
        // and the past incidents) and what happened on the resource (one query), read together.
        let scan_limit = RESOURCE_SCAN_LIMIT.max(self.config.analysis.recent_changes_limit + 1);
        let (learned, on_resource) = tokio::try_join!(
            self.patterns
                .signature_history(signature, self.config.analysis.history_limit),
            self.store.incidents_on(resource, scan_limit),
        )?;
        let window_start = self.config.budget.window_start(now);
        let budget_possibly_used =
            budget_possibly_used(&on_resource, &incident.id, window_start, scan_limit);
        let context = AnalysisContext::assemble(ContextInputs {
            incident_id: incident.id.clone(),
            signal,
            learned,
            resource_incidents: on_resource,
            now,
            config: self.config,
        });
        report.context_tokens = Some(context.estimated_tokens());
        // The budget of the action this signal's playbook calls for is checked before any
        // analysis is paid for: a spent budget can only escalate.
        let usage = if budget_possibly_used {
            self.store.budget_usage(resource, window_start).await?
        } else {
            Vec::new()
        };
        let playbook =
            validate_assessment(RulesAnalyst.assess(&context), &context, self.config).ok();
        if let Some(action) = playbook
            .as_ref()
            .and_then(|validated| validated.action.as_ref())
            .filter(|a| a.action.is_remediation())
        {
            let budget = self.budget_state(&usage, action.action, &incident.id, now);
            if budget.is_spent() {
                report.step(
                    "guards",
                    format!(
                        "remediation budget for {} spent ({}/{}); no analysis",
                        action.action, budget.used, budget.max
                    ),
                );
                audit.push(AuditEntry::new(
                    ACTOR,
                    AuditKind::BudgetSpent,
                    format!(
                        "budget for {} spent: {}/{} in the window",
                        action.action, budget.used, budget.max
                    ),
                    json!({"action": action.action, "used": budget.used, "max": budget.max}),
                ));
                let validated = playbook
                    .clone()
                    .unwrap_or_else(|| unreachable_validated(&context));
                let decision = decide(DecisionInput {
                    validated: &validated,
                    budget: Some(budget),
                    maintenance: None,
                    overrides,
                    policy: &self.config.decision,
                    track_record: Some(context.stats(action.action)),
                    now,
                });
                return Ok((decision, None, audit));
            }
        }
        report.step(
            "guards",
            "passed: not a duplicate, no maintenance window, budget available",
        );
        report.step(
            "context",
            format!(
                "{} evidence items, {} past incidents, {} recent changes, ~{} tokens (budget {})",
                context.items.len(),
                context.history.len(),
                context.changes.len(),
                context.estimated_tokens(),
                context.budget_tokens
            ),
        );
        if let Some(note) = context.budget_note() {
            report.step("context", note);
        }

        let validated = self.analyse(&context, &mut audit).await;
        report.step(
            "assessment",
            format!(
                "{} says {:?}, severity {}, confidence {:.2}; proposes {}",
                validated.assessment.analyst,
                validated.assessment.classification,
                validated.assessment.severity,
                validated.assessment.confidence,
                validated
                    .action
                    .as_ref()
                    .map_or("nothing".to_string(), |a| a.action.to_string())
            ),
        );

        let proposed = validated
            .action
            .as_ref()
            .filter(|a| a.action.is_remediation())
            .map(|a| a.action);
        let budget = proposed.map(|action| self.budget_state(&usage, action, &incident.id, now));
        let track_record = proposed.map(|action| context.stats(action));
        let mut decision = decide(DecisionInput {
            validated: &validated,
            budget: budget.clone(),
            maintenance: None,
            overrides: overrides.clone(),
            policy: &self.config.decision,
            track_record: track_record.clone(),
            now,
        });
        if let (Some(action), Mode::Auto | Mode::Approval) =
            (decision.action.as_ref().map(|a| a.action), decision.mode)
        {
            let key = BudgetKey {
                resource: resource.clone(),
                action,
                window_start,
            };
            let limits = BudgetLimits {
                max_attempts: self.config.budget.max_attempts,
                cooldown: Duration::seconds(self.config.budget.cooldown_seconds as i64),
                expires_at: self.config.budget.window_end(now) + Duration::days(1),
            };
            let mut budget_now = budget
                .clone()
                .unwrap_or_else(|| self.budget_state(&[], action, &incident.id, now));
            match self
                .store
                .consume_budget(&key, &limits, &incident.id, now)
                .await?
            {
                BudgetOutcome::Granted { used } => {
                    budget_now.used = used;
                    decision.budget = Some(budget_now);
                    report.step(
                        "budget",
                        format!(
                            "attempt {used} of {} for {action} in this window",
                            self.config.budget.max_attempts
                        ),
                    );
                    audit.push(AuditEntry::new(
                        ACTOR,
                        AuditKind::BudgetConsumed,
                        format!(
                            "attempt {used} of {} for {action}",
                            self.config.budget.max_attempts
                        ),
                        json!({"action": action, "used": used}),
                    ));
                }
                BudgetOutcome::Spent { used } => {
                    budget_now.used = used;
                    decision = decide(DecisionInput {
                        validated: &validated,
                        budget: Some(budget_now),
                        maintenance: None,
                        overrides,
                        policy: &self.config.decision,
                        track_record: track_record.clone(),
                        now,
                    });
                    report.step(
                        "budget",
                        format!(
                            "spent by a concurrent attempt ({used}/{}); escalating",
                            self.config.budget.max_attempts
                        ),
                    );
                }
                BudgetOutcome::CoolingDown {
                    used,
                    last_attempt_at,
                } => {
                    budget_now.used = used;
                    budget_now.cooling_down_until = Some(last_attempt_at + limits.cooldown);
                    decision = decide(DecisionInput {
                        validated: &validated,
                        budget: Some(budget_now),
                        maintenance: None,
                        overrides,
                        policy: &self.config.decision,
                        track_record: track_record.clone(),
                        now,
                    });
                    report.step("budget", "cooling down after a recent attempt; escalating");
                }
            }
        }
        report.step("decision", decision_summary(&decision));
        report.context = Some(context);
        Ok((decision, Some(validated), audit))
    }

    /// Asks the configured analyst, and falls back to the rules when it fails or its answer
    /// does not validate; the audit trail says why.
    async fn analyse(
        &self,
        context: &AnalysisContext,
        audit: &mut Vec<AuditEntry>,
    ) -> ValidatedAssessment {
        let (failure, spent) = match self.analyst.assess(context).await {
            Ok(assessment) => {
                let usage = assessment.usage.clone();
                match validate_assessment(assessment, context, self.config) {
                    Ok(validated) => {
                        audit.push(assessed_entry(&validated, context));
                        return validated;
                    }
                    Err(error) => (format!("the answer failed validation: {error}"), usage),
                }
            }
            Err(error) => (error.to_string(), error.usage().cloned()),
        };
        tracing::warn!(analyst = self.analyst.name(), reason = %failure, "falling back to the rules analyst");
        audit.push(AuditEntry::new(
            ACTOR,
            AuditKind::AnalystFallback,
            format!(
                "{} failed; the rules analyst decided: {failure}",
                self.analyst.name()
            ),
            json!({"analyst": self.analyst.name(), "reason": failure}),
        ));
        let mut validated = validate_assessment(RulesAnalyst.assess(context), context, self.config)
            .unwrap_or_else(|_| unreachable_validated(context));
        // The refused answer's tokens were paid for: they stay on the incident's record.
        validated.assessment.usage = spent;
        audit.push(assessed_entry(&validated, context));
        validated
    }

    /// The budget of `action` as `incident` sees it. An incident decided again (its first
    /// decision was never written) may already hold one attempt of the window: that attempt
    /// was checked when it was granted, so it is neither counted against the incident again
    /// nor cools it down; `consume_budget` grants it again without counting.
    fn budget_state(
        &self,
        usage: &[BudgetUsage],
        action: ActionId,
        incident: &CorrelationId,
        now: DateTime<Utc>,
    ) -> BudgetState {
        let policy = &self.config.budget;
        let found = usage.iter().find(|entry| entry.action == action);
        let held = found.is_some_and(|entry| entry.consumers.contains(incident));
        let cooldown = Duration::seconds(policy.cooldown_seconds as i64);
        let cooling_down_until = found
            .map(|entry| entry.last_attempt_at + cooldown)
            .filter(|until| !held && policy.cooldown_seconds > 0 && *until > now);
        BudgetState {
            used: found.map_or(0, |entry| entry.used.saturating_sub(u32::from(held))),
            max: policy.max_attempts,
            window_start: policy.window_start(now),
            window_end: policy.window_end(now),
            cooling_down_until,
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
        update_incident(self.store, self.clock, id, known, change).await
    }
}

/// The audit record of an assessment: who assessed, what it cost, and what the context held
/// (its size against the budget, and the items dropped to stay within it).
fn assessed_entry(validated: &ValidatedAssessment, context: &AnalysisContext) -> AuditEntry {
    let assessment = &validated.assessment;
    let mut summary = format!("assessed by {}", assessment.analyst);
    if let Some(usage) = &assessment.usage {
        summary.push_str(&format!(
            " ({} input and {} output tokens of {})",
            usage.input_tokens, usage.output_tokens, usage.model
        ));
    }
    if let Some(note) = context.budget_note() {
        summary.push_str(&format!("; {note}"));
    }
    let items: Vec<&str> = context.items.iter().map(|item| item.id.as_str()).collect();
    AuditEntry::new(
        ACTOR,
        AuditKind::Assessed,
        summary,
        json!({
            "assessment": assessment,
            "notes": validated.notes,
            "context": {
                "estimated_tokens": context.estimated_tokens(),
                "budget_tokens": context.budget_tokens,
                "items": items,
                "dropped": context.dropped,
            },
        }),
    )
}

/// Whether any of the resource's remediation budget can have been used in the window that
/// starts at `window_start`. Budget is only ever spent by a decision on an incident of this
/// resource, which then writes that incident; so when the listing is complete and no other
/// incident on the resource is open or was written since the window started, nothing was used
/// and the budget read is skipped. Being wrong (a listing that lags a concurrent writer) can
/// only cost one analysis: the conditional consume that follows stays the guard.
fn budget_possibly_used(
    on_resource: &[Incident],
    this: &CorrelationId,
    window_start: DateTime<Utc>,
    scan_limit: usize,
) -> bool {
    on_resource.len() >= scan_limit
        || on_resource.iter().any(|incident| {
            &incident.id != this
                && (incident.status.is_open() || incident.updated_at >= window_start)
        })
}

/// Whether a stalled incident still has path left to run.
pub(crate) fn needs_work(incident: &Incident) -> bool {
    match &incident.decision {
        None => true,
        Some(decision) => !decision.suppressed && incident.execution.is_none(),
    }
}

fn status_for(decision: &Decision) -> IncidentStatus {
    if decision.suppressed {
        IncidentStatus::Suppressed
    } else if decision.escalate && decision.mode == Mode::Advisory {
        IncidentStatus::Escalated
    } else {
        match decision.mode {
            Mode::Auto => IncidentStatus::Recovering,
            Mode::Approval => IncidentStatus::AwaitingApproval,
            Mode::Advisory => IncidentStatus::Advisory,
        }
    }
}

pub fn decision_summary(decision: &Decision) -> String {
    let action = decision
        .action
        .as_ref()
        .map_or("no action".to_string(), |a| a.action.to_string());
    let mut summary = format!("{} — {action}", decision.mode.as_str());
    if decision.escalate {
        summary.push_str(", escalate");
    }
    if decision.suppressed {
        summary.push_str(", suppressed");
    }
    if !decision.reasons.is_empty() {
        summary.push_str(&format!(" ({})", decision.reasons.join("; ")));
    }
    summary
}

/// The rules analyst's answers always validate; should one ever not, this advisory stand-in
/// keeps the path safe (it proposes nothing, so nothing can run).
fn unreachable_validated(context: &AnalysisContext) -> ValidatedAssessment {
    ValidatedAssessment {
        assessment: crate::analysis::Assessment {
            analyst: RulesAnalyst::NAME.to_string(),
            classification: crate::analysis::Classification::Unknown,
            severity: 5,
            confidence: 0.0,
            summary: format!("{} on {}", context.signal.title, context.resource),
            hypotheses: Vec::new(),
            proposal: None,
            usage: None,
        },
        action: None,
        notes: vec!["the rules analyst's proposal did not validate; advising only".to_string()],
    }
}

/// Applies `change` to the incident and writes it conditionally on its revision, reading it
/// again and re-applying on conflict. `None` when the incident does not exist; a change that
/// returns no audit entries writes nothing. Every writer of incidents goes through this.
pub async fn update_incident<F>(
    store: &dyn IncidentStore,
    clock: &dyn Clock,
    id: &CorrelationId,
    known: Option<Incident>,
    mut change: F,
) -> Result<Option<Incident>, IntakeError>
where
    F: FnMut(&mut Incident) -> Vec<AuditEntry> + Send,
{
    let mut current = known;
    for attempt in 0..MAX_WRITE_ATTEMPTS {
        conflict_backoff(attempt).await;
        let mut incident = match current.take() {
            Some(incident) => incident,
            None => match store.incident(id).await? {
                Some(incident) => incident,
                None => return Ok(None),
            },
        };
        let expected_revision = incident.revision;
        let entries = change(&mut incident);
        if entries.is_empty() {
            return Ok(Some(incident));
        }
        let now = clock.now();
        incident.revision += 1;
        incident.updated_at = now;
        let audit: Vec<_> = entries
            .into_iter()
            .map(|entry| incident.audit(entry, now))
            .collect();
        let write = IncidentWrite {
            incident: &incident,
            expected_revision,
            claim: None,
            signal: None,
            audit: &audit,
        };
        match store.write_incident(write).await? {
            WriteOutcome::Written => return Ok(Some(incident)),
            WriteOutcome::Conflict | WriteOutcome::Duplicate { .. } => continue,
        }
    }
    Err(IntakeError::Contended(id.to_string()))
}
