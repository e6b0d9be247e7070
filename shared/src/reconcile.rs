//! The reconciler: a scheduled sweep that takes in CloudWatch alarms in ALARM that no open
//! incident covers, re-drives incidents that stalled before their workflow started, and
//! escalates incidents whose workflow outlived its worst case. Everything it does goes through
//! the same guards as a delivered event, so running it twice, or beside the real delivery of
//! the same alarm, changes nothing the first run did not.

use crate::config::RecoveryPolicy;
use crate::correlation::CorrelationId;
use crate::incident::update_incident;
use crate::incident::{AuditEntry, AuditKind, Incident, IncidentStatus, IncidentTiming};
use crate::intake::{Intake, IntakeError, Outcome};
use crate::lifecycle::{self, DueWork};
use crate::ports::WorkflowError;
use crate::signal::{Normalised, normalise};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Who the audit trail says acted when the reconciler changed an incident.
pub const ACTOR: &str = "argus/reconciler";

/// The detail-type of the EventBridge schedule that runs the reconciler in the orchestrator.
pub const SCHEDULED_EVENT_DETAIL_TYPE: &str = "Scheduled Event";

/// Slack added to a workflow's worst-case duration before it counts as overdue: task retries
/// with backoff, Lambda cold starts and the schedule's own period all fit in it.
pub const WORKFLOW_DEADLINE_SLACK_SECONDS: i64 = 900;

/// One CloudWatch alarm as DescribeAlarms reports it, reduced to what a signal needs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AlarmSnapshot {
    pub name: String,
    pub arn: String,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub state_reason: String,
    /// The alarm's `StateReasonData`, itself JSON text.
    pub state_reason_data: Option<String>,
    /// When the alarm entered its state: the same instant the EventBridge event of that
    /// transition carries, so both name the same source event.
    pub state_changed_at: DateTime<Utc>,
    pub description: Option<String>,
    /// A metric alarm on a single metric.
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    /// A metric-math or anomaly-detection alarm's queries.
    pub metrics: Vec<MetricQuery>,
    /// A composite alarm's rule.
    pub alarm_rule: Option<String>,
}

/// One query of a metric-math alarm: an expression, or a metric with its dimensions.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MetricQuery {
    pub id: String,
    pub expression: Option<String>,
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: BTreeMap<String, String>,
}

impl AlarmSnapshot {
    /// The EventBridge "CloudWatch Alarm State Change" event of the alarm's current state, so
    /// the alarm is normalised by the very code that reads the real event. The alarm's ARN and
    /// state time make the signal's source event id, which is what the real event of the same
    /// transition gives too: whichever arrives second is a duplicate.
    pub fn to_event(&self) -> Value {
        let stamp = self
            .state_changed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (region, account) = arn_region_and_account(&self.arn);
        let mut configuration = Map::new();
        if let Some(description) = &self.description {
            configuration.insert("description".into(), json!(description));
        }
        if let Some(rule) = &self.alarm_rule {
            configuration.insert("alarmRule".into(), json!(rule));
        } else if !self.metrics.is_empty() {
            let metrics: Vec<Value> = self.metrics.iter().map(MetricQuery::to_event).collect();
            configuration.insert("metrics".into(), Value::Array(metrics));
        } else {
            let single = MetricQuery {
                id: "m1".to_string(),
                expression: None,
                namespace: self.namespace.clone(),
                metric_name: self.metric_name.clone(),
                dimensions: self.dimensions.clone(),
            };
            configuration.insert("metrics".into(), json!([single.to_event()]));
        }
        let mut state =
            json!({"value": self.state, "reason": self.state_reason, "timestamp": stamp});
        if let Some(data) = &self.state_reason_data {
            state["reasonData"] = json!(data);
        }
        json!({
            "version": "0",
            "id": format!("argus-reconciler:{}:{}:{stamp}", self.arn, self.state),
            "detail-type": crate::signal::ALARM_STATE_CHANGE_DETAIL_TYPE,
            "source": "aws.cloudwatch",
            "account": account,
            "time": stamp,
            "region": region,
            "resources": [self.arn],
            "detail": {
                "alarmName": self.name,
                "state": state,
                "configuration": configuration,
            },
        })
    }
}

impl MetricQuery {
    fn to_event(&self) -> Value {
        let mut query = json!({"id": self.id});
        if let Some(expression) = &self.expression {
            query["expression"] = json!(expression);
        }
        if self.namespace.is_some() || self.metric_name.is_some() {
            let mut metric = json!({"dimensions": self.dimensions});
            if let Some(namespace) = &self.namespace {
                metric["namespace"] = json!(namespace);
            }
            if let Some(name) = &self.metric_name {
                metric["name"] = json!(name);
            }
            query["metricStat"] = json!({"metric": metric});
        }
        query
    }
}

/// `arn:aws:cloudwatch:<region>:<account>:alarm:<name>` → (region, account).
fn arn_region_and_account(arn: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = arn.splitn(6, ':').skip(3);
    let region = parts.next().filter(|part| !part.is_empty());
    let account = parts.next().filter(|part| !part.is_empty());
    (region, account)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmSourceError {
    #[error("the alarm source is throttling: {0}")]
    Throttled(String),
    #[error("the alarm source is unavailable: {0}")]
    Unavailable(String),
}

impl AlarmSourceError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "AlarmSourceThrottled",
            Self::Unavailable(_) => "AlarmSourceUnavailable",
        }
    }
}

/// The alarms currently in ALARM (CloudWatch DescribeAlarms in AWS).
#[async_trait]
pub trait AlarmSource: Send + Sync {
    /// Every metric and composite alarm whose state is ALARM, all pages read.
    async fn alarms_in_alarm(&self) -> Result<Vec<AlarmSnapshot>, AlarmSourceError>;
}

/// Where a recovery execution stands (Step Functions DescribeExecution in AWS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    /// Failed, and waiting for someone to redrive it.
    PendingRedrive,
    /// No execution of that id exists (never started, or past Step Functions' retention).
    NotFound,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Aborted => "aborted",
            Self::PendingRedrive => "pending_redrive",
            Self::NotFound => "not_found",
        }
    }
}

/// Reads the status of recovery executions.
#[async_trait]
pub trait ExecutionLookup: Send + Sync {
    async fn execution_status(&self, execution_id: &str) -> Result<ExecutionStatus, WorkflowError>;
}

/// The longest a recovery execution can legitimately run: the approval wait, the settle time,
/// every verification check and the stable period, plus slack for retries. An incident still
/// awaiting approval or recovering after this long has lost its workflow's outcome.
pub fn workflow_deadline(policy: &RecoveryPolicy) -> Duration {
    let checks = i64::from(policy.max_checks).saturating_mul(policy.check_interval_seconds as i64);
    Duration::seconds(
        (policy.approval_timeout_seconds as i64)
            .saturating_add(policy.settle_seconds as i64)
            .saturating_add(checks)
            .saturating_add(policy.stable_seconds as i64)
            .saturating_add(WORKFLOW_DEADLINE_SLACK_SECONDS),
    )
}

/// How much one run may do, so a backlog (a first deployment beside hundreds of alarms, an
/// outage's worth of stalled incidents) is worked off over several runs within the Lambda's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileLimits {
    /// Alarms taken in as new signals per run; the others wait for the next run.
    pub max_new_signals: usize,
    /// Stalled incidents re-driven per run.
    pub max_redrives: usize,
    /// Overdue incidents escalated per run.
    pub max_escalations: usize,
    /// Due incidents read per run (from the sparse index of open incidents, soonest due first).
    pub scan_limit: usize,
    /// No new signal or re-drive (each may wait on the analyst) starts closer than this to the
    /// invocation's deadline: the Bedrock timeout and a margin.
    pub time_reserve_seconds: i64,
}

impl Default for ReconcileLimits {
    fn default() -> Self {
        Self {
            max_new_signals: 25,
            max_redrives: 25,
            max_escalations: 50,
            scan_limit: 200,
            time_reserve_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Alarms(#[from] AlarmSourceError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Executions(#[from] WorkflowError),
}

impl ReconcileError {
    /// The stable `errorType` the orchestrator reports when a run had failures.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Alarms(error) => error.error_type(),
            Self::Intake(error) => error.error_type(),
            Self::Executions(error) => error.error_type(),
        }
    }
}

impl From<crate::incident::IncidentWriteError> for ReconcileError {
    fn from(error: crate::incident::IncidentWriteError) -> Self {
        Self::Intake(IntakeError::from(error))
    }
}

impl From<crate::ports::StoreError> for ReconcileError {
    fn from(error: crate::ports::StoreError) -> Self {
        Self::Intake(IntakeError::Store(error))
    }
}

/// One thing a run could not do; the rest of the run went on without it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileFailure {
    /// The alarm ARN or incident id concerned, or `alarms` when listing them failed.
    pub subject: String,
    pub error_type: &'static str,
    pub message: String,
}

/// What one run found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// Alarms in ALARM.
    pub alarms_in_alarm: usize,
    /// Of those, alarms an open incident already covers.
    pub alarms_covered: usize,
    /// Alarms that opened an incident: their event was missed.
    pub incidents_opened: Vec<CorrelationId>,
    /// Alarms whose signal joined an open incident that appeared meanwhile.
    pub alarms_attached: usize,
    /// Alarms whose transition was taken in before (its incident may be closed).
    pub alarms_already_seen: usize,
    /// Alarms left for the next run because this one reached `max_new_signals` or its deadline.
    pub alarms_deferred: usize,
    /// Alarms whose read-back the normaliser refuses (a dimension that names no valid
    /// resource), as it would refuse their real event: logged and counted, never a failure.
    pub alarms_refused: usize,
    /// Stalled incidents picked up again.
    pub redriven: Vec<CorrelationId>,
    /// Overdue incidents handed to people.
    pub escalated: Vec<CorrelationId>,
    /// Incidents that ended after their quiet period.
    pub auto_resolved: Vec<CorrelationId>,
    /// Suppressed incidents decided again: their maintenance window ended while the problem
    /// went on.
    pub redecided: Vec<CorrelationId>,
    /// Due incidents that could not be settled yet and were given a later look (a window still
    /// on, an alarm still in ALARM).
    pub deferred: usize,
    pub failures: Vec<ReconcileFailure>,
}

impl ReconcileReport {
    fn failed(&mut self, subject: impl Into<String>, error: &ReconcileError) {
        let subject = subject.into();
        tracing::warn!(%subject, error_type = error.error_type(), %error, "reconciliation step failed");
        self.failures.push(ReconcileFailure {
            subject,
            error_type: error.error_type(),
            message: error.to_string(),
        });
    }
}

/// Everything the reconciler needs: the intake path (for its store, analyst, workflow, clock and
/// policy), the alarms, and the executions.
#[derive(Clone, Copy)]
pub struct Reconciler<'a> {
    pub intake: Intake<'a>,
    pub alarms: &'a dyn AlarmSource,
    pub executions: &'a dyn ExecutionLookup,
    pub limits: ReconcileLimits,
}

impl std::fmt::Debug for Reconciler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What became of one alarm in ALARM.
enum AlarmOutcome {
    Covered,
    Deferred,
    Taken(Outcome, Option<CorrelationId>),
    Ignored,
    Refused(String),
}

impl Reconciler<'_> {
    /// One sweep, which starts no analysis within `time_reserve_seconds` of `deadline` (the
    /// invocation's; `None` for no limit). A failing step is recorded in the report and the sweep
    /// goes on; the caller decides whether a report with failures fails the invocation.
    pub async fn run(&self, deadline: Option<DateTime<Utc>>) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let stop_at = deadline.map(|at| at - Duration::seconds(self.limits.time_reserve_seconds));
        let alarms = match self.alarms.alarms_in_alarm().await {
            Ok(alarms) => Some(alarms),
            Err(error) => {
                report.failed("alarms", &error.into());
                None
            }
        };
        if let Some(alarms) = &alarms {
            self.missed_alarms(alarms, &mut report, stop_at).await;
        }
        // The alarms in ALARM right now, as the origins incidents know them by; unknown when
        // the listing failed, and then no alarm incident is taken for quiet.
        let firing: Option<BTreeSet<String>> = alarms.map(|alarms| {
            alarms
                .iter()
                .filter(|alarm| alarm.state == "ALARM")
                .map(|alarm| format!("alarm:{}", alarm.arn))
                .collect()
        });
        self.due_incidents(&mut report, stop_at, firing.as_ref())
            .await;
        tracing::info!(
            alarms_in_alarm = report.alarms_in_alarm,
            alarms_covered = report.alarms_covered,
            incidents_opened = report.incidents_opened.len(),
            redriven = report.redriven.len(),
            escalated = report.escalated.len(),
            auto_resolved = report.auto_resolved.len(),
            redecided = report.redecided.len(),
            failures = report.failures.len(),
            "reconciliation finished"
        );
        report
    }

    /// Whether there is time left to start something that may wait on the analyst.
    fn has_time(&self, stop_at: Option<DateTime<Utc>>) -> bool {
        stop_at.is_none_or(|stop_at| self.intake.clock.now() < stop_at)
    }

    async fn missed_alarms(
        &self,
        alarms: &[AlarmSnapshot],
        report: &mut ReconcileReport,
        stop_at: Option<DateTime<Utc>>,
    ) {
        let mut taken = 0;
        for alarm in alarms.iter().filter(|alarm| alarm.state == "ALARM") {
            report.alarms_in_alarm += 1;
            let room = taken < self.limits.max_new_signals && self.has_time(stop_at);
            match self.missed_alarm(alarm, room).await {
                Ok(AlarmOutcome::Covered) => report.alarms_covered += 1,
                Ok(AlarmOutcome::Deferred) => report.alarms_deferred += 1,
                Ok(AlarmOutcome::Ignored) => {}
                Ok(AlarmOutcome::Refused(reason)) => {
                    tracing::warn!(alarm = %alarm.arn, %reason, "alarm refused: it names no valid resource");
                    report.alarms_refused += 1;
                }
                Ok(AlarmOutcome::Taken(outcome, id)) => {
                    taken += 1;
                    match (outcome, id) {
                        (Outcome::Opened, Some(id)) => {
                            tracing::info!(correlation_id = %id, alarm = %alarm.arn, "missed alarm opened an incident");
                            report.incidents_opened.push(id);
                        }
                        (Outcome::Attached, _) => report.alarms_attached += 1,
                        _ => report.alarms_already_seen += 1,
                    }
                }
                Err(error) => report.failed(alarm.arn.clone(), &error),
            }
        }
    }

    /// `room`: whether this run may still take in a new signal.
    async fn missed_alarm(
        &self,
        alarm: &AlarmSnapshot,
        room: bool,
    ) -> Result<AlarmOutcome, ReconcileError> {
        let intake = &self.intake;
        let signals = match normalise(&alarm.to_event(), &intake.config.signals) {
            Ok(Normalised::Signals(signals)) => signals,
            Ok(Normalised::Ignored { .. }) => return Ok(AlarmOutcome::Ignored),
            // No later run reads it differently: a failure here would fail every run.
            Err(refused) => return Ok(AlarmOutcome::Refused(refused.to_string())),
        };
        let Some(signal) = signals.first() else {
            return Ok(AlarmOutcome::Ignored);
        };
        // The common case: the alarm's incident is open and knows this alarm is firing. An
        // incident that another alarm keeps open while this one's ALARM was missed is not.
        if let Some(open) = intake
            .store
            .open_incident_for(&signal.resource, &signal.signature)
            .await?
            && let Some(incident) = intake.store.incident(&open).await?
            && incident.status.is_open()
            && incident
                .origins
                .get(&signal.origin_key())
                .is_some_and(|known| known.firing && known.as_of >= signal.observed_at)
        {
            return Ok(AlarmOutcome::Covered);
        }
        if !room {
            return Ok(AlarmOutcome::Deferred);
        }
        // The normal path decides: the dedup claim and the open guard make a run racing the
        // real event, another run, or a re-delivery end in one incident.
        let taken_in = intake.process_signal(signal).await?;
        Ok(AlarmOutcome::Taken(
            taken_in.outcome,
            taken_in.correlation_id,
        ))
    }

    /// Every open incident whose next check has come (the store's sparse index of open
    /// incidents, soonest due first): stalled ones are resumed, overdue workflows escalated,
    /// suppressed ones looked at again, quiet ones ended.
    async fn due_incidents(
        &self,
        report: &mut ReconcileReport,
        stop_at: Option<DateTime<Utc>>,
        firing: Option<&BTreeSet<String>>,
    ) {
        let intake = &self.intake;
        let now = intake.clock.now();
        let due = match intake
            .store
            .incidents_due(now, self.limits.scan_limit)
            .await
        {
            Ok(due) => due,
            Err(error) => return report.failed("incidents", &error.into()),
        };
        for incident in &due {
            // A record from before incidents carried their timing gets today's first, then is
            // judged by it in the same run.
            let timed;
            let incident = if lifecycle::due_work(incident) == DueWork::RecordTiming {
                match self.record_timing(incident).await {
                    Ok(Some(updated)) if updated.next_check_at().is_some_and(|at| at <= now) => {
                        timed = updated;
                        &timed
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        report.failed(incident.id.to_string(), &error);
                        continue;
                    }
                }
            } else {
                incident
            };
            let result = match lifecycle::due_work(incident) {
                DueWork::RecordTiming => Ok(()),
                DueWork::Resume => {
                    if report.redriven.len() >= self.limits.max_redrives || !self.has_time(stop_at)
                    {
                        continue;
                    }
                    match intake.resume_stalled(&incident.id, ACTOR).await {
                        Ok(Some(_)) => {
                            tracing::info!(correlation_id = %incident.id, "stalled incident re-driven");
                            report.redriven.push(incident.id.clone());
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(error) => Err(error.into()),
                    }
                }
                DueWork::Overdue => {
                    let deadline = workflow_deadline(&intake.config.recovery);
                    let overdue = incident
                        .execution
                        .as_ref()
                        .is_some_and(|execution| now > execution.started_at + deadline);
                    if !overdue || report.escalated.len() >= self.limits.max_escalations {
                        continue;
                    }
                    match self.escalate_overdue(incident, deadline).await {
                        Ok(true) => {
                            report.escalated.push(incident.id.clone());
                            Ok(())
                        }
                        Ok(false) => Ok(()),
                        Err(error) => Err(error),
                    }
                }
                DueWork::Recheck => {
                    if !self.has_time(stop_at) {
                        continue;
                    }
                    self.recheck_suppressed(incident, firing, report).await
                }
                DueWork::Quiet => self.end_if_quiet(incident, firing, report).await,
            };
            if let Err(error) = result {
                report.failed(incident.id.to_string(), &error);
            }
        }
    }

    /// A record from before incidents carried their timing: it gets today's, and is due again
    /// by it.
    async fn record_timing(&self, incident: &Incident) -> Result<Option<Incident>, ReconcileError> {
        let intake = &self.intake;
        let timing = IncidentTiming::from_config(intake.config, incident.source);
        let written = update_incident(intake.store, intake.clock, &incident.id, None, |current| {
            if current.timing.is_some() || !current.status.is_open() {
                return Vec::new();
            }
            current.timing = Some(timing.clone());
            vec![AuditEntry::new(
                ACTOR,
                AuditKind::StatusChanged,
                "lifecycle timing recorded from the configuration",
                json!({"timing": timing}),
            )]
        })
        .await?;
        Ok(written)
    }

    /// Whether an origin of the incident is still firing: for an alarm, what DescribeAlarms says
    /// now when it could be read; otherwise the incident's own record of it.
    fn still_firing(incident: &Incident, firing: Option<&BTreeSet<String>>) -> Vec<String> {
        incident
            .origins
            .iter()
            .filter(
                |(origin, state)| match (origin.starts_with("alarm:"), firing) {
                    (true, Some(firing)) => firing.contains(origin.as_str()),
                    _ => state.firing,
                },
            )
            .map(|(origin, _)| origin.clone())
            .collect()
    }

    /// A suppressed incident whose maintenance window has ended while its problem goes on is
    /// decided again; while the window is on, it is looked at again later.
    async fn recheck_suppressed(
        &self,
        incident: &Incident,
        firing: Option<&BTreeSet<String>>,
        report: &mut ReconcileReport,
    ) -> Result<(), ReconcileError> {
        let intake = &self.intake;
        let now = intake.clock.now();
        if let Some(window) =
            intake
                .config
                .active_maintenance(incident.resource.as_str(), &incident.signature, now)
        {
            let summary = format!("maintenance window `{}` is still on", window.name);
            let at = now + lifecycle::recheck_after(incident);
            return self.look_again(incident, summary, at, report).await;
        }
        let clears_itself = lifecycle::source_clears(incident.source);
        let still = Self::still_firing(incident, firing);
        if clears_itself && !still.is_empty() {
            if intake.redecide(&incident.id, ACTOR).await?.is_some() {
                tracing::info!(correlation_id = %incident.id, "maintenance over; incident decided again");
                report.redecided.push(incident.id.clone());
            }
            return Ok(());
        }
        // Nothing is firing any more, or the source never clears: the quiet period decides.
        self.end_if_quiet(incident, firing, report).await
    }

    /// Ends an incident whose quiet period has passed, unless one of its alarms is still in
    /// ALARM (or cannot be read): then it is looked at again after another quiet period.
    async fn end_if_quiet(
        &self,
        incident: &Incident,
        firing: Option<&BTreeSet<String>>,
        report: &mut ReconcileReport,
    ) -> Result<(), ReconcileError> {
        let intake = &self.intake;
        let now = intake.clock.now();
        if lifecycle::quiet_until(incident).is_some_and(|until| until > now) {
            return Ok(());
        }
        let alarms_unknown = firing.is_none()
            && incident
                .origins
                .iter()
                .any(|(origin, state)| origin.starts_with("alarm:") && state.firing);
        let still: Vec<String> = Self::still_firing(incident, firing)
            .into_iter()
            .filter(|origin| origin.starts_with("alarm:"))
            .collect();
        if alarms_unknown || !still.is_empty() {
            let (summary, at) = if alarms_unknown {
                (
                    "quiet, but its alarms could not be read".to_string(),
                    now + lifecycle::recheck_after(incident),
                )
            } else {
                (
                    format!("quiet, but {} still in ALARM", still.join(", ")),
                    now + lifecycle::quiet_period(incident),
                )
            };
            return self.look_again(incident, summary, at, report).await;
        }
        if lifecycle::auto_resolve(
            intake.store,
            intake.clock,
            intake.workflow,
            &incident.id,
            ACTOR,
        )
        .await?
        {
            tracing::info!(correlation_id = %incident.id, "quiet incident auto-resolved");
            report.auto_resolved.push(incident.id.clone());
        }
        Ok(())
    }

    async fn look_again(
        &self,
        incident: &Incident,
        why: String,
        at: DateTime<Utc>,
        report: &mut ReconcileReport,
    ) -> Result<(), ReconcileError> {
        let intake = &self.intake;
        let watched = incident.revision;
        let written = update_incident(intake.store, intake.clock, &incident.id, None, |current| {
            // Only the state this was judged on: anything written meanwhile is judged next run.
            if current.revision != watched || !current.status.is_open() {
                return Vec::new();
            }
            current.look_again_at = Some(at);
            vec![AuditEntry::new(
                ACTOR,
                AuditKind::StatusChanged,
                format!("looked at: {why}; looking again at {}", at.to_rfc3339()),
                json!({"look_again_at": at}),
            )]
        })
        .await?;
        if written.is_some() {
            report.deferred += 1;
        }
        Ok(())
    }

    async fn escalate_overdue(
        &self,
        incident: &Incident,
        deadline: Duration,
    ) -> Result<bool, ReconcileError> {
        let intake = &self.intake;
        let Some(execution) = incident.execution.clone() else {
            return Ok(false);
        };
        let status = self.executions.execution_status(&execution.id).await?;
        let why = match status {
            ExecutionStatus::Running => {
                "its recovery workflow is still running past its worst case"
            }
            ExecutionStatus::NotFound => "its recovery workflow is gone",
            _ => "its recovery workflow ended without recording an outcome",
        };
        let now = intake.clock.now();
        let watched = incident.status;
        let mut escalated = false;
        update_incident(intake.store, intake.clock, &incident.id, None, |current| {
            escalated = false;
            // Only the state this decision was made on: an outcome recorded meanwhile wins.
            let same_execution = current.execution.as_ref().map(|e| &e.id) == Some(&execution.id);
            if current.status != watched || !same_execution {
                return Vec::new();
            }
            if current.transition(IncidentStatus::Escalated, now).is_err() {
                return Vec::new();
            }
            escalated = true;
            vec![AuditEntry::new(
                ACTOR,
                AuditKind::StatusChanged,
                format!(
                    "escalated: {why} (execution {}, {}); nothing was re-run, a person must check the resource",
                    status.as_str(),
                    execution.id
                ),
                json!({
                    "status": "escalated",
                    "previous_status": watched.as_str(),
                    "execution": execution.id,
                    "execution_status": status,
                    "execution_started_at": execution.started_at,
                    "deadline_seconds": deadline.num_seconds(),
                }),
            )]
        })
        .await?;
        if escalated {
            tracing::warn!(correlation_id = %incident.id, execution_status = status.as_str(), "overdue incident escalated");
        }
        Ok(escalated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_account_come_from_the_alarm_arn() {
        assert_eq!(
            arn_region_and_account("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu:high"),
            (Some("eu-west-1"), Some("123456789012"))
        );
        assert_eq!(arn_region_and_account("not-an-arn"), (None, None));
    }

    #[test]
    fn the_deadline_covers_approval_checks_and_slack() {
        let policy = RecoveryPolicy::default();
        let expected = 3600 + 60 + 5 * 60 + 180 + WORKFLOW_DEADLINE_SLACK_SECONDS;
        assert_eq!(workflow_deadline(&policy).num_seconds(), expected);
    }
}
