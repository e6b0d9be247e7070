//! What each `argus` subcommand does, and how its failures map to exit codes.

use crate::analyst::SelectedAnalyst;
use crate::render;
use crate::{
    AnalystChoice, Cli, Command, ConfigCommand, IncidentsCommand, LogsCommand, PayloadSource,
};
use argus::clock::{Clock, ManualClock, SystemClock};
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::{IncidentStatus, verify_chain};
use argus::intake::{EventReport, Intake, IntakeError};
use argus::investigation::investigator::{Investigator, SourcesInvestigator};
use argus::investigation::log_anomalies::StoredLogAnomalies;
use argus::investigation::{InvestigationLimits, LocaliseConfig, ResourceMetricsSource};
use argus::ports::{IncidentQuery, IncidentStore, PatternStore};
use argus::postmortem::Postmortem;
use argus::recovery::engine::execute;
use argus::recovery::recovery_machine;
use argus::recovery::world::{Approval, Behaviour, LocalRunner, WorldSettings};
use argus::store::embedded::EmbeddedStore;
use argus::webhooks::{self, Vendor};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::io::IsTerminal;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INVALID_EVENT: u8 = 3;
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_CHAIN_BROKEN: u8 = 5;

const STORE_FILE: &str = "argus.redb";

/// A failure that ends the command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<argus::ports::StoreError> for CliError {
    fn from(error: argus::ports::StoreError) -> Self {
        Self::new(EXIT_FAILURE, error.to_string())
    }
}

pub async fn run(cli: Cli) -> u8 {
    let json = cli.global.json;
    render::set_json_output(json);
    let result = match cli.command {
        Command::Replay(args) => {
            replay(
                &cli.global,
                &args.events,
                args.at.as_deref(),
                args.analyst,
                args.snapshot.as_deref(),
                args.source,
                &args.recovery,
            )
            .await
        }
        Command::Explain(args) => {
            explain(
                &cli.global,
                &args.event,
                args.at.as_deref(),
                args.analyst,
                args.source,
            )
            .await
        }
        Command::Incidents(IncidentsCommand::List {
            statuses,
            open,
            limit,
        }) => list(&cli.global, &statuses, open, limit).await,
        Command::Incidents(IncidentsCommand::Show { id }) => show(&cli.global, &id).await,
        Command::Incidents(IncidentsCommand::Resolve { id, reason, by }) => {
            resolve(&cli.global, &id, &reason, by).await
        }
        Command::Postmortem { id } => postmortem(&cli.global, &id).await,
        Command::Catalogue => {
            render::catalogue(json);
            Ok(EXIT_OK)
        }
        Command::Config(ConfigCommand::Defaults) => {
            render::json_pretty(&Config::default()).map(|()| EXIT_OK)
        }
        Command::Config(ConfigCommand::Show) => load_config(cli.global.config.as_deref())
            .and_then(|config| render::json_pretty(&config))
            .map(|()| EXIT_OK),
        Command::Logs(LogsCommand::Mine {
            input,
            per_line,
            top,
        }) => crate::logs::mine(&input, per_line, top, json),
        Command::Logs(LogsCommand::Bench { input, repeats }) => {
            crate::logs::bench(&input, repeats, json)
        }
        Command::Investigate { snapshot, method } => {
            crate::investigate::run(&snapshot, method, json).await
        }
        Command::InvestigateBench { dataset, runs } => {
            crate::investigate_bench::run(&dataset, runs, json).await
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"error": error.message, "exit_code": error.code})
                );
            }
            errln!("argus: {}", error.message);
            error.code
        }
    }
}

fn load_config(path: Option<&Path>) -> Result<Config, CliError> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path).map_err(|error| {
        CliError::new(
            EXIT_USAGE,
            format!("cannot read configuration {}: {error}", path.display()),
        )
    })?;
    Config::from_json(&text)
        .map_err(|error| CliError::new(EXIT_USAGE, format!("{}: {error}", path.display())))
}

fn open_store(home: &Path) -> Result<EmbeddedStore, CliError> {
    Ok(EmbeddedStore::open(&home.join(STORE_FILE))?)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| {
            CliError::new(
                EXIT_USAGE,
                format!("--at `{text}` is not an RFC 3339 time: {error}"),
            )
        })
}

/// Files and folders expanded into event files, in order; `-` stands for standard input.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
        } else if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|error| {
                    CliError::new(
                        EXIT_USAGE,
                        format!("cannot read folder {}: {error}", path.display()),
                    )
                })?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|entry| entry.extension().is_some_and(|ext| ext == "json"))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(CliError::new(
                    EXIT_USAGE,
                    format!("folder {} holds no .json files", path.display()),
                ));
            }
            files.extend(inside);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(CliError::new(
                EXIT_USAGE,
                format!("no such event file: {}", path.display()),
            ));
        }
    }
    Ok(files)
}

fn read_event(path: &Path) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| {
                CliError::new(EXIT_USAGE, format!("cannot read standard input: {error}"))
            })?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|error| {
        CliError::new(
            EXIT_USAGE,
            format!("cannot read {}: {error}", path.display()),
        )
    })
}

enum AnyClock {
    System(SystemClock),
    Manual(ManualClock),
}

impl AnyClock {
    fn new(at: Option<&str>) -> Result<Self, CliError> {
        Ok(match at {
            Some(text) => Self::Manual(ManualClock::new(parse_time(text)?)),
            None => Self::System(SystemClock),
        })
    }

    fn as_clock(&self) -> &dyn Clock {
        match self {
            Self::System(clock) => clock,
            Self::Manual(clock) => clock,
        }
    }

    fn tick(&self) {
        if let Self::Manual(clock) = self {
            clock.advance(Duration::seconds(1));
        }
    }
}

/// Reads one event file and runs it through `intake`. The outer error is a usage problem
/// (unreadable file); the inner result is the path's own outcome.
async fn run_file(
    intake: &Intake<'_>,
    path: &Path,
    source: PayloadSource,
    json: bool,
) -> Result<Result<EventReport, IntakeError>, CliError> {
    let text = read_event(path)?;
    let malformed = |message: String| {
        Err(IntakeError::Invalid(
            argus::signal::NormaliseError::Malformed(message),
        ))
    };
    let event = match serde_json::from_str::<Value>(&text) {
        Ok(event) => event,
        Err(error) => return Ok(malformed(error.to_string())),
    };
    let vendor = match source {
        PayloadSource::Auto => webhooks::detect(&event),
        PayloadSource::Aws => None,
        PayloadSource::Alertmanager => Some(Vendor::Alertmanager),
        PayloadSource::Grafana => Some(Vendor::Grafana),
        PayloadSource::Datadog => Some(Vendor::Datadog),
        PayloadSource::Pagerduty => Some(Vendor::PagerDuty),
    };
    let Some(vendor) = vendor else {
        return Ok(intake.process_event(&event).await);
    };
    // The deployed endpoint turns the body into one bus event per alert; so does the replay.
    let events = match webhooks::delivered_events(vendor, text.as_bytes(), intake.clock.now()) {
        Ok(events) => events,
        Err(error) => return Ok(malformed(error.to_string())),
    };
    if !json {
        errln!(
            "{}: {} webhook, {} alert(s) as \"Argus External Alert\" events",
            path.display(),
            vendor.as_str(),
            events.len()
        );
    }
    if events.is_empty() {
        return Ok(Ok(EventReport {
            ignored: Some(format!(
                "the {} webhook carries no alert Argus acts on (an acknowledgement, a note, a ping)",
                vendor.as_str()
            )),
            signals: Vec::new(),
        }));
    }
    let mut merged = EventReport {
        ignored: None,
        signals: Vec::new(),
    };
    for event in &events {
        match intake.process_event(event).await {
            Ok(report) => merged.signals.extend(report.signals),
            Err(error) => return Ok(Err(error)),
        }
    }
    Ok(Ok(merged))
}

fn exit_code_of(error: &IntakeError) -> u8 {
    match error {
        IntakeError::Invalid(_) => EXIT_INVALID_EVENT,
        _ => EXIT_FAILURE,
    }
}

/// The world and approvals for local recovery runs, from the command line.
fn world_settings(args: &crate::RecoveryArgs) -> WorldSettings {
    let approval = if args.approve {
        Approval::Approve
    } else if args.reject {
        Approval::Reject
    } else {
        Approval::NoAnswer
    };
    WorldSettings {
        behaviour: Behaviour::parse(&args.world).unwrap_or(Behaviour::Recovers),
        approval,
        throttle_action: args.throttle_action,
        action_fails: args.action_fails,
        approver: std::env::var("USER").unwrap_or_else(|_| "local-operator".to_string()),
        ..WorldSettings::default()
    }
}

/// Asks on the terminal whether to approve, when nothing was said on the command line.
fn ask_approval(report: &argus::intake::SignalReport) -> Approval {
    let Some(decision) = &report.decision else {
        return Approval::NoAnswer;
    };
    let action = decision
        .action
        .as_ref()
        .map_or("the action".to_string(), |a| a.action.to_string());
    // The resource is quoted from the event: escaped like every line the terminal shows.
    eprint!(
        "{}",
        render::escaped_text(&format!(
            "approve {action} on {}? [y/N] ",
            report.signal.resource
        ))
    );
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return Approval::NoAnswer;
    }
    match answer.trim() {
        "y" | "Y" | "yes" => Approval::Approve,
        _ => Approval::Reject,
    }
}

/// What the local recovery runs of one replay share.
struct Recoveries<'a> {
    config: &'a Config,
    store: &'a EmbeddedStore,
    workflow: &'a argus::store::embedded::LocalWorkflow,
    clock: &'a dyn Clock,
    args: &'a crate::RecoveryArgs,
}

impl Recoveries<'_> {
    /// Executes the recovery workflow locally for every execution this event started.
    async fn run(&self, report: &EventReport) -> Result<Vec<render::RecoveryRun>, CliError> {
        let (config, store, workflow, clock, args) = (
            self.config,
            self.store,
            self.workflow,
            self.clock,
            self.args,
        );
        let mut runs = Vec::new();
        if args.no_recovery {
            return Ok(runs);
        }
        let machine =
            recovery_machine().map_err(|error| CliError::new(EXIT_FAILURE, error.to_string()))?;
        for signal in &report.signals {
            let (Some(id), Some(started)) = (&signal.correlation_id, &signal.workflow) else {
                continue;
            };
            if started.already_started {
                continue;
            }
            let Some(input) = workflow.execution_input(id.as_str())? else {
                continue;
            };
            let mut settings = world_settings(args);
            let needs_approval = signal
                .decision
                .as_ref()
                .is_some_and(|decision| decision.mode == argus::decision::Mode::Approval);
            if needs_approval && !args.approve && !args.reject && std::io::stdin().is_terminal() {
                settings.approval = ask_approval(signal);
            }
            let world = args.world.clone();
            let runner =
                LocalRunner::new(settings, store, store, clock.now()).with_config(config.clone());
            let record = execute(&machine, id.as_str(), input, &runner)
                .await
                .map_err(|error| CliError::new(EXIT_FAILURE, error.to_string()))?;
            let final_status = store.incident(id).await?.map(|incident| incident.status);
            runs.push(render::RecoveryRun {
                correlation_id: id.clone(),
                world,
                record,
                messages: runner.messages(),
                final_status,
            });
        }
        Ok(runs)
    }
}

async fn replay(
    global: &crate::GlobalOptions,
    events: &[PathBuf],
    at: Option<&str>,
    analyst: AnalystChoice,
    snapshot: Option<&Path>,
    source: PayloadSource,
    recovery: &crate::RecoveryArgs,
) -> Result<u8, CliError> {
    let config = load_config(global.config.as_deref())?;
    let files = expand(events)?;
    let world = snapshot
        .map(crate::investigate::open_snapshot)
        .transpose()?;
    let store = open_store(&global.home)?;
    let log_anomalies = StoredLogAnomalies { store: &store };
    let investigator = world.as_ref().map(|snapshot| SourcesInvestigator {
        topology: snapshot,
        metrics: snapshot,
        changes: snapshot,
        resource_metrics: snapshot
            .resource_metrics
            .is_some()
            .then_some(snapshot as &dyn ResourceMetricsSource),
        log_anomalies: Some(&log_anomalies),
        limits: InvestigationLimits::default(),
        localise: LocaliseConfig::default(),
        nodes: Default::default(),
    });
    let clock = AnyClock::new(at)?;
    let analyst = SelectedAnalyst::select(analyst, &config).await?;
    let workflow = store.local_workflow();
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: analyst.as_port(),
        workflow: &workflow,
        clock: clock.as_clock(),
        config: &config,
        investigator: investigator
            .as_ref()
            .map(|investigator| investigator as &dyn Investigator),
    };
    let recoveries = Recoveries {
        config: &config,
        store: &store,
        workflow: &workflow,
        clock: clock.as_clock(),
        args: recovery,
    };
    let mut worst = EXIT_OK;
    let mut deferred = Vec::new();
    // Every incident the replay touched, in order, for the post-mortem commands at the end.
    let mut touched: Vec<CorrelationId> = Vec::new();
    for (index, path) in files.iter().enumerate() {
        if !global.json && files.len() > 1 {
            errln!("[{}/{}] {}", index + 1, files.len(), path.display());
        }
        let label = path.display().to_string();
        let result = run_file(&intake, path, source, global.json).await?;
        if let Ok(report) = &result {
            touched.extend(
                report
                    .signals
                    .iter()
                    .filter_map(|signal| signal.correlation_id.clone()),
            );
        }
        match result {
            Ok(report) if recovery.defer_recovery => {
                render::event_report(&label, "replay", &report, &[], global.json);
                deferred.push((label, report));
            }
            Ok(report) => {
                let runs = recoveries.run(&report).await?;
                render::event_report(&label, "replay", &report, &runs, global.json);
            }
            Err(error) => {
                render::event_error(&label, &error, global.json);
                worst = worse(worst, exit_code_of(&error));
            }
        }
        clock.tick();
    }
    // The workflows start late, after every event was taken in: what a slow start looks like.
    for (label, report) in deferred {
        let runs = recoveries.run(&report).await?;
        if !runs.is_empty() {
            render::event_report(&label, "deferred recovery", &report, &runs, global.json);
        }
        touched.extend(
            report
                .signals
                .iter()
                .filter_map(|signal| signal.correlation_id.clone()),
        );
    }
    if !global.json {
        let mut settled = Vec::new();
        for id in touched {
            if settled.iter().any(|(known, _)| known == &id) {
                continue;
            }
            if let Some(incident) = store.incident(&id).await?
                && has_postmortem(incident.status)
            {
                settled.push((id, incident.status));
            }
        }
        render::postmortem_commands(&settled, &global.home);
    }
    Ok(worst)
}

/// Incidents whose path has ended (the workflow published a post-mortem on AWS at this point).
fn has_postmortem(status: IncidentStatus) -> bool {
    matches!(
        status,
        IncidentStatus::Resolved
            | IncidentStatus::Closed
            | IncidentStatus::Escalated
            | IncidentStatus::Advisory
    )
}

/// Store failures outrank invalid events, which outrank success.
fn worse(current: u8, next: u8) -> u8 {
    let rank = |code| match code {
        EXIT_FAILURE => 2,
        EXIT_OK => 0,
        _ => 1,
    };
    if rank(next) > rank(current) {
        next
    } else {
        current
    }
}

async fn explain(
    global: &crate::GlobalOptions,
    event: &Path,
    at: Option<&str>,
    analyst: AnalystChoice,
    source: PayloadSource,
) -> Result<u8, CliError> {
    let config = load_config(global.config.as_deref())?;
    let clock = AnyClock::new(at)?;
    let analyst = SelectedAnalyst::select(analyst, &config).await?;
    // The path runs against a scratch copy of the store, so it sees the current incidents and
    // budgets but nothing it does is kept.
    let live = global.home.join(STORE_FILE);
    let scratch = std::env::temp_dir().join(format!("argus-explain-{}.redb", std::process::id()));
    let store = if live.is_file() {
        std::fs::copy(&live, &scratch).map_err(|error| {
            CliError::new(
                EXIT_FAILURE,
                format!("cannot copy the store for explain: {error}"),
            )
        })?;
        EmbeddedStore::open(&scratch)?
    } else {
        EmbeddedStore::in_memory()?
    };
    let workflow = store.local_workflow();
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: analyst.as_port(),
        workflow: &workflow,
        clock: clock.as_clock(),
        config: &config,
        investigator: None,
    };
    let label = event.display().to_string();
    let result = match run_file(&intake, event, source, global.json).await {
        Ok(Ok(report)) => {
            render::event_report(
                &label,
                "explain (nothing is written)",
                &report,
                &[],
                global.json,
            );
            render::analysis(&label, &report, &config, global.json);
            Ok(EXIT_OK)
        }
        Ok(Err(error)) => {
            render::event_error(&label, &error, global.json);
            Ok(exit_code_of(&error))
        }
        Err(error) => Err(error),
    };
    drop(store);
    let _ = std::fs::remove_file(&scratch);
    result
}

async fn list(
    global: &crate::GlobalOptions,
    statuses: &[String],
    open: bool,
    limit: usize,
) -> Result<u8, CliError> {
    let statuses = if open {
        Some(
            IncidentStatus::ALL
                .into_iter()
                .filter(|status| status.is_open())
                .collect(),
        )
    } else if statuses.is_empty() {
        None
    } else {
        let parsed = statuses
            .iter()
            .map(|text| {
                IncidentStatus::parse(text).ok_or_else(|| {
                    CliError::new(
                        EXIT_USAGE,
                        format!("unknown status `{text}`; see `argus incidents list --help`"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Some(parsed)
    };
    let store = open_store(&global.home)?;
    let incidents = store
        .list_incidents(&IncidentQuery { statuses, limit })
        .await?;
    let incidents: Vec<_> = incidents
        .iter()
        .map(|incident| incident.redacted())
        .collect();
    render::incident_list(&incidents, global.json);
    Ok(EXIT_OK)
}

/// How many of the signature's resolved incidents the post-mortem reads for recurrence.
const POSTMORTEM_HISTORY_LIMIT: usize = 10;

/// An incident with its signals and audit trail, read from the embedded store.
struct IncidentRecord {
    store: EmbeddedStore,
    incident: argus::incident::Incident,
    signals: Vec<argus::ports::SignalRecord>,
    audit: Vec<argus::incident::AuditRecord>,
}

async fn read_incident(
    global: &crate::GlobalOptions,
    id: &str,
) -> Result<IncidentRecord, CliError> {
    let id =
        CorrelationId::parse(id).map_err(|error| CliError::new(EXIT_USAGE, error.to_string()))?;
    let store = open_store(&global.home)?;
    let incident = store.incident(&id).await?.ok_or_else(|| {
        CliError::new(
            EXIT_NOT_FOUND,
            format!("no incident {id} in {}", global.home.display()),
        )
    })?;
    let signals = store.signals(&id).await?;
    let audit = store.audit_trail(&id).await?;
    Ok(IncidentRecord {
        store,
        incident,
        signals,
        audit,
    })
}

async fn resolve(
    global: &crate::GlobalOptions,
    id: &str,
    reason: &str,
    by: Option<String>,
) -> Result<u8, CliError> {
    use argus::lifecycle::{ResolveError, ResolveOutcome, resolve_incident};
    let id =
        CorrelationId::parse(id).map_err(|error| CliError::new(EXIT_USAGE, error.to_string()))?;
    let store = open_store(&global.home)?;
    let workflow = store.local_workflow();
    let actor = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "local-operator".to_string());
    let outcome = resolve_incident(&store, &SystemClock, &workflow, &id, &actor, reason)
        .await
        .map_err(|error| match error {
            ResolveError::NoReason => CliError::new(EXIT_USAGE, error.to_string()),
            ResolveError::Write(error) => CliError::new(EXIT_FAILURE, error.to_string()),
        })?;
    if global.json {
        render::json_line(&serde_json::json!(outcome));
    }
    match outcome {
        ResolveOutcome::Resolved => {
            if !global.json {
                outln!("resolved incident {id}");
            }
            Ok(EXIT_OK)
        }
        ResolveOutcome::AlreadyClosed { status } => {
            if !global.json {
                outln!(
                    "incident {id} had ended already ({}); nothing changed",
                    status.as_str()
                );
            }
            Ok(EXIT_OK)
        }
        ResolveOutcome::NotFound => Err(CliError::new(
            EXIT_NOT_FOUND,
            format!("no incident {id} in {}", global.home.display()),
        )),
    }
}

async fn postmortem(global: &crate::GlobalOptions, id: &str) -> Result<u8, CliError> {
    let IncidentRecord {
        store,
        incident,
        signals,
        audit,
    } = read_incident(global, id).await?;
    let history = store
        .signature_history(&incident.signature, POSTMORTEM_HISTORY_LIMIT)
        .await?;
    let postmortem = Postmortem::build(&incident, &audit, &signals, Some(&history));
    render::postmortem(&postmortem, global.json);
    Ok(if postmortem.audit.verdict.is_intact() {
        EXIT_OK
    } else {
        EXIT_CHAIN_BROKEN
    })
}

async fn show(global: &crate::GlobalOptions, id: &str) -> Result<u8, CliError> {
    let IncidentRecord {
        incident,
        signals,
        audit,
        ..
    } = read_incident(global, id).await?;
    let verdict = verify_chain(&incident, &audit);
    render::incident_detail(
        &incident.redacted(),
        &signals,
        &audit,
        &verdict,
        global.json,
    );
    Ok(if verdict.is_intact() {
        EXIT_OK
    } else {
        EXIT_CHAIN_BROKEN
    })
}
