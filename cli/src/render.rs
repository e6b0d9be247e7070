//! How the CLI prints: a readable timeline for people, JSON lines for scripts.
//!
//! Every line goes out through `write_styled`, which escapes what a terminal would act on
//! (`argus::escape::terminal`): alarm names, alert text, log lines and model prose are written by
//! outsiders, and `ESC ] 0;…BEL` or `ESC [2J` in an alarm name must not rewrite an operator's
//! terminal. Text output shows such characters as `\x1b` or `\u{202e}`; JSON output keeps them as
//! JSON escapes, so it stays exactly the same JSON.

use argus::catalogue::ActionId;
use argus::correlation::CorrelationId;
use argus::escape::TerminalStyle;
use argus::incident::{AuditRecord, ChainVerdict, Incident, IncidentStatus};
use argus::intake::{EventReport, IntakeError, SignalReport};
use argus::ports::SignalRecord;
use argus::recovery::engine::{ExecutionRecord, ExecutionStatus};
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

const LABEL_WIDTH: usize = 11;

/// Whether `--json` was given: lines printed with `outln!` are then JSON documents.
static JSON_OUTPUT: AtomicBool = AtomicBool::new(false);

/// Says, once at start, whether command output is JSON (`--json`) or text.
pub fn set_json_output(json: bool) {
    JSON_OUTPUT.store(json, Ordering::Relaxed);
}

fn current_style() -> TerminalStyle {
    if JSON_OUTPUT.load(Ordering::Relaxed) {
        TerminalStyle::Json
    } else {
        TerminalStyle::Text
    }
}

/// A line of output made safe for a terminal in the current output style. `logs mine`, which
/// writes through its own buffer, calls it too.
pub fn escaped(line: &str) -> Cow<'_, str> {
    argus::escape::terminal(line, current_style())
}

/// Writes one line of command output. When standard output is a pipe whose reader has exited,
/// the command ends there with success, as `head` and `grep -q` expect of a Unix tool; any
/// other write failure ends it with exit code 1 and says why on standard error.
pub fn write_line(text: std::fmt::Arguments<'_>) {
    write_styled(text, current_style());
}

/// Writes one line, escaped for the terminal in `style`.
fn write_styled(text: std::fmt::Arguments<'_>, style: TerminalStyle) {
    use std::io::Write;
    let line = text.to_string();
    let line = argus::escape::terminal(&line, style);
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("argus: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// Text for a terminal prompt or message, escaped as text whatever the output style.
pub fn escaped_text(text: &str) -> Cow<'_, str> {
    argus::escape::terminal(text, TerminalStyle::Text)
}

/// Writes one line to standard error, escaped as text: error messages quote file names and
/// what the event said.
pub fn write_error_line(text: std::fmt::Arguments<'_>) {
    let line = text.to_string();
    eprintln!("{}", escaped_text(&line));
}

fn line(label: &str, text: &str) {
    outln!("  {label:<LABEL_WIDTH$}{text}");
}

pub fn json_pretty<T: Serialize>(value: &T) -> Result<(), crate::commands::CliError> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            write_styled(format_args!("{text}"), TerminalStyle::Json);
            Ok(())
        }
        Err(error) => {
            eprintln!("argus: cannot print JSON: {error}");
            Ok(())
        }
    }
}

pub fn json_line(value: &serde_json::Value) {
    write_styled(format_args!("{value}"), TerminalStyle::Json);
}

/// One local execution of the recovery workflow, for printing.
#[derive(Debug, Serialize)]
pub struct RecoveryRun {
    pub correlation_id: CorrelationId,
    pub world: String,
    pub record: ExecutionRecord,
    pub messages: Vec<String>,
    pub final_status: Option<IncidentStatus>,
}

pub fn event_report(
    file: &str,
    heading: &str,
    report: &EventReport,
    recoveries: &[RecoveryRun],
    as_json: bool,
) {
    if as_json {
        json_line(
            &json!({"file": file, "mode": heading, "report": report, "recovery": recoveries}),
        );
        return;
    }
    outln!("{heading}: {file}");
    if let Some(reason) = &report.ignored {
        line("ignored", reason);
        outln!();
        return;
    }
    for signal in &report.signals {
        signal_timeline(signal);
        for run in recoveries
            .iter()
            .filter(|run| Some(&run.correlation_id) == signal.correlation_id.as_ref())
        {
            recovery_timeline(run);
        }
    }
}

fn clock_label(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    if whole >= 3600 {
        format!("+{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    } else if whole >= 60 {
        format!("+{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("+{whole}s")
    }
}

/// The path of states, like the console's graph, with simulated times.
fn recovery_timeline(run: &RecoveryRun) {
    line(
        "recovery",
        &format!(
            "local execution of statemachines/recovery.asl.json (simulated world: {})",
            run.world
        ),
    );
    for visit in &run.record.visits {
        let note = if visit.note.is_empty() {
            String::new()
        } else {
            format!("  ({})", visit.note)
        };
        outln!(
            "  {:<LABEL_WIDTH$}  {:<9}{}{note}",
            "",
            clock_label(visit.started_at_seconds),
            visit.state
        );
    }
    for message in &run.messages {
        line("sent", message);
    }
    let status = run.final_status.map_or("-", IncidentStatus::as_str);
    let elapsed = clock_label(run.record.elapsed_seconds);
    match &run.record.status {
        ExecutionStatus::Succeeded if run.record.path().contains(&"Incident already closed") => {
            outln!(
                "  => nothing was run: the incident was already {status} when the workflow started"
            );
        }
        ExecutionStatus::Succeeded if run.record.path().contains(&"Record recovery") => {
            outln!("  => recovered and verified at {elapsed} (simulated); incident {status}");
        }
        ExecutionStatus::Succeeded => {
            outln!("  => workflow finished at {elapsed} (simulated); incident {status}")
        }
        ExecutionStatus::Failed { error, cause } => {
            outln!("  => workflow FAILED at {elapsed}: {error}: {cause}; incident {status}")
        }
    }
    outln!();
}

fn signal_timeline(report: &SignalReport) {
    let signal = &report.signal;
    line(
        "signal",
        &format!("{}: {}", signal.source.label(), signal.title),
    );
    line(
        "",
        &format!(
            "{} · {} · {} · event {}",
            signal.resource,
            signal.signature,
            signal.effect.as_str(),
            signal.source_event_id
        ),
    );
    if argus::signal::is_derived(&signal.source_event_id) {
        line(
            "",
            "the event carries no id: its id was derived from its content (SHA-256 of its canonical JSON)",
        );
    }
    for step in &report.steps {
        line(step.stage, &step.detail);
    }
    let status = report.incident_status.map_or("-", |status| status.as_str());
    match &report.correlation_id {
        Some(id) => outln!("  => {} incident {id} ({status})", report.outcome.as_str()),
        None => outln!("  => {}", report.outcome.as_str()),
    }
    outln!();
}

pub fn event_error(file: &str, error: &IntakeError, as_json: bool) {
    if as_json {
        json_line(
            &json!({"file": file, "error": {"type": error.error_type(), "message": error.to_string()}}),
        );
    }
    errln!("argus: {file}: {} ({})", error, error.error_type());
}

pub fn incident_list(incidents: &[Incident], as_json: bool) {
    if as_json {
        for incident in incidents {
            json_line(&json!(incident));
        }
        return;
    }
    if incidents.is_empty() {
        outln!("no incidents");
        return;
    }
    outln!(
        "{:<62} {:<18} {:>3}  {:<20} RESOURCE / SIGNATURE",
        "CORRELATION ID",
        "STATUS",
        "SIG",
        "UPDATED"
    );
    for incident in incidents {
        outln!(
            "{:<62} {:<18} {:>3}  {:<20} {} / {}",
            incident.id.as_str(),
            incident.status.as_str(),
            incident.signal_count,
            incident.updated_at.format("%Y-%m-%d %H:%M:%S"),
            incident.resource,
            incident.signature
        );
    }
}

pub fn incident_detail(
    incident: &Incident,
    signals: &[SignalRecord],
    audit: &[AuditRecord],
    verdict: &ChainVerdict,
    as_json: bool,
) {
    if as_json {
        json_line(
            &json!({"incident": incident, "signals": signals, "audit": audit, "chain": verdict}),
        );
        return;
    }
    outln!("incident {}", incident.id);
    line("status", incident.status.as_str());
    line("title", &incident.title);
    line("resource", incident.resource.as_str());
    line("signature", &incident.signature);
    line("opened", &incident.opened_at.to_rfc3339());
    line("updated", &incident.updated_at.to_rfc3339());
    if let Some(closed) = incident.closed_at {
        line("closed", &closed.to_rfc3339());
    }
    if let Some(resolution) = &incident.resolution {
        line("resolution", resolution);
    }
    if let Some(assessment) = &incident.assessment {
        line(
            "assessment",
            &format!(
                "{:?}, severity {}, confidence {:.2} ({})",
                assessment.classification,
                assessment.severity,
                assessment.confidence,
                assessment.analyst
            ),
        );
        for (index, hypothesis) in assessment.hypotheses.iter().enumerate() {
            line(
                "",
                &format!(
                    "{}. {} [{}]",
                    index + 1,
                    hypothesis.statement,
                    hypothesis.evidence.join(", ")
                ),
            );
        }
    }
    if let Some(decision) = &incident.decision {
        line("decision", &argus::intake::decision_summary(decision));
    }
    if let Some(execution) = &incident.execution {
        line("execution", &execution.id);
    }
    outln!("  signals ({})", signals.len());
    for record in signals {
        line(
            "",
            &format!(
                "{} {:<10} {}",
                record.received_at.format("%H:%M:%S"),
                record.outcome,
                record.signal.title
            ),
        );
    }
    outln!("  audit trail ({} records)", audit.len());
    for record in audit {
        line(
            "",
            &format!(
                "#{:<3} {} {:<20} {}",
                record.seq,
                record.at.format("%H:%M:%S"),
                format!("{:?}", record.kind),
                record.summary
            ),
        );
    }
    let counted: Vec<_> = incident
        .audit_tallies
        .values()
        .filter(|tally| tally.counted > 0)
        .collect();
    if !counted.is_empty() {
        outln!(
            "  counted, not recorded one by one ({} entries)",
            argus::incident::counted_total(&incident.audit_tallies)
        );
        for tally in counted {
            let kind = format!("{:?}", tally.kind);
            let between = match (tally.first_at, tally.last_at) {
                (Some(first), Some(last)) => {
                    format!("{}..{}", first.format("%H:%M:%S"), last.format("%H:%M:%S"))
                }
                _ => String::new(),
            };
            line(
                "",
                &format!(
                    "{kind:<20} {} counted after {} recorded, {between}; the last: {}",
                    tally.counted, tally.recorded, tally.summary
                ),
            );
        }
    }
    match verdict {
        ChainVerdict::Intact { records } => line(
            "chain",
            &format!("verified: {records} records, each hash links to the one before"),
        ),
        ChainVerdict::Broken { seq, reason } => {
            line("chain", &format!("BROKEN at record {seq}: {reason}"))
        }
    }
}

/// A post-mortem: the Markdown, or the structured form as one JSON line.
pub fn postmortem(postmortem: &argus::postmortem::Postmortem, as_json: bool) {
    if as_json {
        json_line(&json!(postmortem));
        return;
    }
    // Written in one go, and a reader that stops early (`| head`) is not an error. The Markdown
    // writer already flattened untrusted text to one line; each line is escaped for the terminal.
    use std::io::Write;
    let markdown = postmortem.to_markdown();
    let mut safe = String::with_capacity(markdown.len());
    for line in markdown.split_inclusive('\n') {
        let (text, end) = line
            .strip_suffix('\n')
            .map_or((line, ""), |text| (text, "\n"));
        safe.push_str(&argus::escape::terminal(text, TerminalStyle::Text));
        safe.push_str(end);
    }
    let _ = std::io::stdout().lock().write_all(safe.as_bytes());
}

/// The commands that print the post-mortems of the incidents a replay settled.
pub fn postmortem_commands(settled: &[(CorrelationId, IncidentStatus)], home: &std::path::Path) {
    if settled.is_empty() {
        return;
    }
    let home = if home == std::path::Path::new(".argus") {
        String::new()
    } else {
        format!(" --home {}", home.display())
    };
    outln!("post-mortems (Markdown; add --json for the structured form):");
    for (id, status) in settled {
        outln!("  argus{home} postmortem {id}    # {}", status.as_str());
    }
}

pub fn catalogue(as_json: bool) {
    for action in ActionId::ALL {
        let spec = action.spec();
        if as_json {
            let parameters: Vec<_> = spec
                .parameters
                .iter()
                .map(|(name, meaning)| json!({"name": name, "meaning": meaning}))
                .collect();
            json_line(
                &json!({"id": spec.name, "title": spec.title, "risk": spec.risk, "target": spec.target_kind, "inverse": spec.inverse, "parameters": parameters}),
            );
            continue;
        }
        outln!("{}  ({:?} risk) {}", spec.name, spec.risk, spec.title);
        line(
            "target",
            spec.target_kind
                .unwrap_or("the incident's resource, named in the parameters"),
        );
        line("inverse", spec.inverse.unwrap_or("none"));
        for (name, meaning) in spec.parameters {
            line("param", &format!("{name}: {meaning}"));
        }
    }
}

/// What `argus explain` adds to the timeline: the context an analyst was given (every item with
/// its evidence id, the token estimate against the budget, what was dropped), the size of the
/// request a model would be sent, and the validated assessment.
pub fn analysis(file: &str, report: &EventReport, config: &argus::config::Config, as_json: bool) {
    use argus::analysis::prompt;
    use argus::analysis::sanitise::Fence;
    for signal in &report.signals {
        let Some(context) = &signal.context else {
            if !as_json {
                line(
                    "analysis",
                    "none: this signal did not need one (duplicate, attached, suppressed or budget spent)",
                );
                outln!();
            }
            continue;
        };
        // A fresh fence, as every real request draws one.
        let request = prompt::render(context, config, &Fence::random());
        if as_json {
            json_line(&json!({
                "file": file,
                "analysis": {
                    "correlation_id": signal.correlation_id,
                    "context": context,
                    "estimated_tokens": context.estimated_tokens(),
                    "budget_tokens": context.budget_tokens,
                    "request": {"system": request.system, "user": request.user, "tool": request.tool_name, "tool_schema": request.tool_schema},
                    "assessment": signal.assessment,
                },
            }));
            continue;
        }
        line(
            "context",
            &format!(
                "what the analyst is given: {} items, ~{} tokens of a {}-token budget",
                context.items.len(),
                context.estimated_tokens(),
                context.budget_tokens
            ),
        );
        for item in &context.items {
            line(
                "",
                &format!(
                    "[{}] {}: {}",
                    item.id,
                    item.label,
                    one_line(&item.text, 140)
                ),
            );
        }
        if !context.dropped.is_empty() {
            let dropped: Vec<String> = context
                .dropped
                .iter()
                .map(|item| format!("{} ({})", item.id, item.label))
                .collect();
            line(
                "",
                &format!("dropped to fit the budget: {}", dropped.join(", ")),
            );
        }
        line(
            "request",
            &format!(
                "instructions {} bytes, fenced data {} bytes, answer schema {} bytes; every item is fenced as data with a token drawn per request",
                request.system.len(),
                request.user.len(),
                request.tool_schema.to_string().len()
            ),
        );
        if let Some(validated) = &signal.assessment {
            let assessment = &validated.assessment;
            line(
                "validated",
                &format!(
                    "{}: {:?}, severity {}, confidence {:.2}",
                    assessment.analyst,
                    assessment.classification,
                    assessment.severity,
                    assessment.confidence
                ),
            );
            for (index, hypothesis) in assessment.hypotheses.iter().enumerate() {
                line(
                    "",
                    &format!(
                        "{}. {} [{}]",
                        index + 1,
                        one_line(&hypothesis.statement, 120),
                        hypothesis.evidence.join(", ")
                    ),
                );
            }
            match &validated.action {
                Some(action) => match &action.target {
                    Some(target) => line(
                        "",
                        &format!(
                            "proposal {} on {target} ({:?} risk)",
                            action.action, action.risk
                        ),
                    ),
                    None => line("", &format!("proposal {} (changes nothing)", action.action)),
                },
                None => line("", "proposal: none"),
            }
            for note in &validated.notes {
                line("", &format!("validation: {}", one_line(note, 140)));
            }
            if let Some(usage) = &assessment.usage {
                line(
                    "",
                    &format!(
                        "tokens: {} in, {} out ({})",
                        usage.input_tokens, usage.output_tokens, usage.model
                    ),
                );
            }
        }
        outln!();
    }
}

/// Text on one line, cut at `max` bytes: item texts can hold newlines and be long.
fn one_line(text: &str, max: usize) -> String {
    argus::signal::cap_text(&text.replace(['\n', '\t'], " "), max)
}
