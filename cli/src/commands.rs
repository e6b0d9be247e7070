//! What each `argus` subcommand does, and how its failures map to exit codes.

use crate::render;
use crate::{Cli, Command, ConfigCommand, IncidentsCommand, LogsCommand};
use argus::analysis::RulesAnalyst;
use argus::clock::{Clock, ManualClock, SystemClock};
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::{IncidentStatus, verify_chain};
use argus::intake::{Intake, IntakeError};
use argus::ports::{IncidentQuery, IncidentStore};
use argus::store::embedded::EmbeddedStore;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
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
    pub fn new(code: u8, message: impl Into<String>) -> Self {
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
    let result = match cli.command {
        Command::Replay(args) => replay(&cli.global, &args.events, args.at.as_deref()).await,
        Command::Explain(args) => explain(&cli.global, &args.event, args.at.as_deref()).await,
        Command::Incidents(IncidentsCommand::List {
            statuses,
            open,
            limit,
        }) => list(&cli.global, &statuses, open, limit).await,
        Command::Incidents(IncidentsCommand::Show { id }) => show(&cli.global, &id).await,
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
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": error.message, "exit_code": error.code})
                );
            }
            eprintln!("argus: {}", error.message);
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

/// Runs one event file through `intake`, printing its timeline; returns the file's exit code.
async fn run_file(
    intake: &Intake<'_>,
    path: &Path,
    json: bool,
    heading: &str,
) -> Result<u8, CliError> {
    let label = path.display().to_string();
    let text = read_event(path)?;
    let outcome = match serde_json::from_str::<Value>(&text) {
        Ok(event) => intake.process_event(&event).await,
        Err(error) => Err(IntakeError::Invalid(
            argus::signal::NormaliseError::Malformed(error.to_string()),
        )),
    };
    match outcome {
        Ok(report) => {
            render::event_report(&label, heading, &report, json);
            Ok(EXIT_OK)
        }
        Err(error) => {
            render::event_error(&label, &error, json);
            Ok(match error {
                IntakeError::Invalid(_) => EXIT_INVALID_EVENT,
                _ => EXIT_FAILURE,
            })
        }
    }
}

async fn replay(
    global: &crate::GlobalOptions,
    events: &[PathBuf],
    at: Option<&str>,
) -> Result<u8, CliError> {
    let config = load_config(global.config.as_deref())?;
    let files = expand(events)?;
    let clock = AnyClock::new(at)?;
    let store = open_store(&global.home)?;
    let workflow = store.local_workflow();
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: &RulesAnalyst,
        workflow: &workflow,
        clock: clock.as_clock(),
        config: &config,
    };
    let mut worst = EXIT_OK;
    for (index, path) in files.iter().enumerate() {
        if !global.json && files.len() > 1 {
            eprintln!("[{}/{}] {}", index + 1, files.len(), path.display());
        }
        let code = run_file(&intake, path, global.json, "replay").await?;
        worst = worse(worst, code);
        clock.tick();
    }
    Ok(worst)
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
) -> Result<u8, CliError> {
    let config = load_config(global.config.as_deref())?;
    let clock = AnyClock::new(at)?;
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
        analyst: &RulesAnalyst,
        workflow: &workflow,
        clock: clock.as_clock(),
        config: &config,
    };
    let result = run_file(&intake, event, global.json, "explain (nothing is written)").await;
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
    render::incident_list(&incidents, global.json);
    Ok(EXIT_OK)
}

async fn show(global: &crate::GlobalOptions, id: &str) -> Result<u8, CliError> {
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
    let verdict = verify_chain(&incident, &audit);
    render::incident_detail(&incident, &signals, &audit, &verdict, global.json);
    Ok(if verdict.is_intact() {
        EXIT_OK
    } else {
        EXIT_CHAIN_BROKEN
    })
}
