//! The `argus` command: runs the orchestrator's path locally on sample events and inspects the
//! incidents it recorded, with no AWS account.

/// `println!` for command output: a reader that has gone away (`argus incidents list | head`)
/// ends the command quietly instead of panicking (see `render::write_line`).
macro_rules! outln {
    () => {
        $crate::render::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::render::write_line(format_args!($($arg)*))
    };
}

/// `eprintln!` for messages that quote untrusted text (file names, what an event said): escaped
/// for the terminal like every line of output.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::render::write_error_line(format_args!($($arg)*))
    };
}

mod analyst;
mod commands;
mod investigate;
mod investigate_bench;
mod logs;
mod render;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Argus: self-healing incident response for AWS, run locally.
///
/// `argus replay` takes CloudWatch alarm, CloudTrail, EC2, AWS Health, ECS, RDS, Spot, Auto
/// Scaling, Parameter Store and Argus events (JSON files as AWS delivers them) through the same
/// path the orchestrator Lambda runs: de-duplicate, correlate into incidents, apply maintenance
/// windows and remediation budgets, assess with the rules analyst (or Bedrock, `--analyst
/// bedrock`), decide auto / approval / advisory, and start the recovery workflow. State is kept
/// in an embedded store (default `.argus/`), so replaying an event twice shows the duplicate.
///
/// `argus logs mine` groups log lines into templates with the same miner the log analyzer runs.
///
/// `argus investigate` ranks the root-cause candidates of an alarm from a recorded snapshot
/// (the dependency graph, metrics against normal, recent changes); `argus investigate-bench`
/// measures that on the PetShop dataset.
///
/// Exit codes: 0 success; 1 store or internal failure; 2 usage error; 3 an event or snapshot was
/// invalid or unsupported; 4 not found; 5 an audit trail failed verification.
#[derive(Debug, Parser)]
#[command(
    name = "argus",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalOptions {
    /// Folder of the embedded store (created when missing).
    #[arg(
        long,
        global = true,
        env = "ARGUS_HOME",
        default_value = ".argus",
        value_name = "DIR"
    )]
    home: PathBuf,
    /// Policy configuration (JSON); without it the embedded defaults apply (`argus config defaults`).
    #[arg(long, global = true, env = "ARGUS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run events through the incident path and record the results in the store.
    Replay(ReplayArgs),
    /// Show what `replay` would do with an event, without writing anything: the path, the
    /// context an analyst is given (with its token estimate) and the validated assessment.
    Explain(ExplainArgs),
    /// List and inspect recorded incidents.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Print the post-mortem of an incident: summary, impact, timeline, hypotheses and their
    /// evidence, what Argus did and why, time to detect and recover, follow-ups, and whether the
    /// audit trail verifies. Markdown, or the structured form with `--json`.
    Postmortem {
        /// The correlation id.
        id: String,
    },
    /// List the action catalogue: what Argus may ever run, with risk and inverse.
    Catalogue,
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Mine log lines into templates, as the log analyzer does.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Find where the fault is: rank the nodes the alarming node depends on by how anomalous
    /// they are against their own normal behaviour and how much of the alarm they explain,
    /// from a recorded snapshot.
    ///
    /// SNAPSHOT is a folder in Argus' format (graph.json, metrics.csv, normal.csv, target.json,
    /// optionally changes.json) or in the PetShop dataset's layout (graph.csv, metrics.csv,
    /// target.json, normal.csv); README, "Snapshot format". Prints the candidates best first
    /// with the evidence behind each, and says so when nothing is anomalous enough to blame.
    /// With --json: exactly {"candidates": [{"node", "score", "evidence": [{"id", "text"}]}]},
    /// best first, empty when nothing is to blame.
    Investigate {
        /// The snapshot folder.
        #[arg(value_name = "SNAPSHOT")]
        snapshot: PathBuf,
        /// The ranking method: Argus' localisation, or the PetShop baseline for comparison.
        #[arg(long, value_enum, default_value = "argus")]
        method: investigate::Method,
    },
    /// Measure root-cause localisation on the PetShop dataset: top-1/top-3 recall on its
    /// training issues and specificity on quiet windows cut from normal operation, for Argus'
    /// method and the dataset's baseline side by side, a robustness check, and the stage's
    /// time on one issue. Prints Markdown (the BENCHMARKS.md section), or JSON with --json.
    InvestigateBench {
        /// The dataset folder holding low_traffic/, high_traffic/, temporal_traffic1/ and
        /// temporal_traffic2/ (e.g. ../shared/bench-data/petshop).
        #[arg(value_name = "DIR")]
        dataset: PathBuf,
        /// Timed runs of the stage on one issue; the median is reported.
        #[arg(long, default_value_t = 21, value_name = "N")]
        runs: usize,
    },
}

/// Which analyst assesses new incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AnalystChoice {
    /// The deterministic rules analyst: free, offline, always available.
    Rules,
    /// Amazon Bedrock (Converse API) with the rules as fallback; needs AWS credentials and a
    /// region, and reads ARGUS_BEDROCK_MODEL_ID, ARGUS_BEDROCK_INFERENCE_PROFILE,
    /// ARGUS_BEDROCK_MAX_TOKENS, ARGUS_BEDROCK_TIMEOUT_MS and ARGUS_BEDROCK_MAX_ATTEMPTS.
    Bedrock,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// Event files (JSON), folders of them (read in name order), or `-` for standard input.
    #[arg(required = true, value_name = "EVENT")]
    events: Vec<PathBuf>,
    /// The analyst for new incidents.
    #[arg(long, value_enum, default_value = "rules", env = "ARGUS_ANALYST")]
    analyst: AnalystChoice,
    /// Pin the clock: the first event is processed at this time (RFC 3339) and each next one a
    /// second later, so runs are reproducible. Default: the system clock.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Investigate each alarm in this recorded world (a snapshot folder, as for `argus
    /// investigate`): its service graph, metrics and changes stand in for X-Ray and CloudTrail.
    #[arg(long, value_name = "DIR")]
    snapshot: Option<PathBuf>,
    /// What the files are: detected from their shape by default; an AWS event, or an alerting
    /// vendor's webhook body (Alertmanager, Grafana, Datadog, PagerDuty), which becomes the
    /// "Argus External Alert" events the deployed endpoint would publish.
    #[arg(long, value_enum, default_value = "auto", value_name = "SOURCE")]
    source: PayloadSource,
    #[command(flatten)]
    recovery: RecoveryArgs,
}

/// What a replayed or explained file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadSource {
    /// Detected from the file's shape.
    Auto,
    /// An AWS event (EventBridge, SNS, an alarm action) or Argus' own.
    Aws,
    /// A Prometheus Alertmanager webhook (version 4).
    Alertmanager,
    /// A Grafana alerting webhook.
    Grafana,
    /// A Datadog webhook (its default payload or the one Argus documents).
    Datadog,
    /// A PagerDuty v3 webhook.
    Pagerduty,
}

/// How the recovery workflow runs locally after each started execution.
#[derive(Debug, Args)]
struct RecoveryArgs {
    /// How the simulated AWS world answers the action: the resource recovers, stays broken, or
    /// recovers and breaks again.
    #[arg(long, default_value = "recovers", value_parser = ["recovers", "stays-broken", "relapses"], value_name = "WORLD")]
    world: String,
    /// Approve actions that need approval. Without --approve or --reject, a terminal is asked;
    /// otherwise nobody answers and the approval times out, which escalates.
    #[arg(long, conflicts_with = "reject")]
    approve: bool,
    /// Reject actions that need approval (the workflow escalates).
    #[arg(long)]
    reject: bool,
    /// The action is throttled this many times before it goes through.
    #[arg(long, default_value_t = 0, value_name = "N")]
    throttle_action: u32,
    /// The action fails for good (as when the recovery role may not run it).
    #[arg(long)]
    action_fails: bool,
    /// Only run the orchestrator's path; do not execute the recovery workflow.
    #[arg(long, conflicts_with = "defer_recovery")]
    no_recovery: bool,
    /// Run the workflows only after every event was taken in, as if they started late: an
    /// ALARM replayed with its OK shows the workflow finding the incident already closed.
    #[arg(long)]
    defer_recovery: bool,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// The event file (JSON), or `-` for standard input.
    #[arg(value_name = "EVENT")]
    event: PathBuf,
    /// The analyst for a new incident; with `bedrock` the model is really called.
    #[arg(long, value_enum, default_value = "rules", env = "ARGUS_ANALYST")]
    analyst: AnalystChoice,
    /// Evaluate as if at this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// What the file is (as for `replay`): detected from its shape by default.
    #[arg(long, value_enum, default_value = "auto", value_name = "SOURCE")]
    source: PayloadSource,
}

#[derive(Debug, Subcommand)]
enum IncidentsCommand {
    /// List incidents, most recently updated first.
    List {
        /// Only these statuses (repeatable): open, suppressed, advisory, awaiting_approval,
        /// recovering, escalated, resolved, closed.
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
        /// Only open incidents.
        #[arg(long, conflicts_with = "statuses")]
        open: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one incident: its decision, signals and audit trail, and whether the chain verifies.
    Show {
        /// The correlation id.
        id: String,
    },
    /// Resolve an open incident by hand, with the reason on its audit trail. Its open guard is
    /// released, so the next problem on the resource opens a new incident; a pending approval's
    /// wait is ended so nothing runs.
    Resolve {
        /// The correlation id.
        id: String,
        /// Why it is over (required; at most 500 characters are kept).
        #[arg(long)]
        reason: String,
        /// Who resolves it, for the audit trail (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the embedded default configuration, a starting point for `--config`.
    Defaults,
    /// Print the configuration in effect (defaults merged with `--config`), after validation.
    Show,
}

#[derive(Debug, Subcommand)]
enum LogsCommand {
    /// Mine a log into templates and print them with their counts, most frequent first.
    ///
    /// Lines are split at `\n` (a trailing `\r` is dropped) and invalid UTF-8 is replaced, so any
    /// file works. A raw line's header (timestamp, level, process and thread ids, host, logger) is
    /// set aside, so whole lines group like their messages. Numbers, hex, IPs, UUIDs, times, paths,
    /// URLs, durations and sizes are masked; ids are `t-` plus 16 hex digits derived from the
    /// template text, the same in every run.
    Mine {
        /// The log file, or `-` for standard input.
        #[arg(value_name = "FILE")]
        input: PathBuf,
        /// Print exactly one line per input line, in input order: that line's final template id
        /// (lines of one group always print the same id), for scoring against labels.
        #[arg(long)]
        per_line: bool,
        /// Print only the most frequent N templates.
        #[arg(long, value_name = "N", conflicts_with = "per_line")]
        top: Option<usize>,
    },
    /// Measure mining throughput on a file, beside the floor (reading and splitting it into
    /// tokens without mining), both measured in this run.
    Bench {
        /// The log file (read several times).
        #[arg(value_name = "FILE")]
        input: PathBuf,
        /// How many times to time each of floor and mining; medians are reported.
        #[arg(long, default_value_t = 5, value_name = "N")]
        repeats: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("argus: cannot start the runtime: {error}");
            return ExitCode::from(commands::EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}
