//! What every outbound message says about an incident, gathered once from the incident, its
//! signals and its audit trail: what, where, how bad, why Argus thinks so, what it did or
//! proposes and how to undo it, and what came of it. Each channel renders it in its own format.

use argus::catalogue::RiskClass;
use argus::decision::Mode;
use argus::incident::{AuditKind, AuditRecord, Incident, IncidentStatus};
use argus::ports::SignalRecord;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

/// Hypotheses shown in a message; the rest are in the audit trail.
const HYPOTHESES_SHOWN: usize = 3;
/// Evidence lines shown per hypothesis.
const EVIDENCE_SHOWN: usize = 3;
/// Decision reasons shown; the rest are in the audit trail.
const REASONS_SHOWN: usize = 5;
/// Parameter sources shown; the rest are on the incident's record.
const SOURCES_SHOWN: usize = 8;
/// Evidence lines shown behind a root-cause candidate.
const ROOT_CAUSE_EVIDENCE_SHOWN: usize = 5;

// The longest text (in bytes, so also in characters) a message keeps of each field. Titles,
// summaries, hypotheses and evidence come from alarms, webhooks and the model, so any of them
// can be huge; these caps keep every rendering inside its vendor's limits (a Teams card of
// about 28 KB, a Slack field of 2000 characters, a Jira description of 32,767) whatever the
// incident says. The fuzz target `fuzz_rendering` checks each limit.
const TITLE_LIMIT: usize = 200;
const SUMMARY_LIMIT: usize = 600;
const RESOURCE_LIMIT: usize = 256;
/// Accounts, regions, analyst names, verdicts and approver identities.
const NAME_LIMIT: usize = 64;
const STATEMENT_LIMIT: usize = 300;
const EVIDENCE_LIMIT: usize = 160;
const REASON_LIMIT: usize = 300;
const OUTCOME_LIMIT: usize = 300;
const PARAMETERS_LIMIT: usize = 300;
/// One parameter's value and where it came from.
const SOURCE_LIMIT: usize = 300;
/// The path from the alarming resource to a root-cause candidate.
const PATH_LIMIT: usize = 300;
/// Step Functions execution ARNs are far shorter; a longer execution id gets no console link.
const EXECUTION_ID_LIMIT: usize = 512;

/// Untrusted text as a message shows it: control characters, line breaks included (they would
/// break a header, a Markdown table cell or an email subject), become spaces, and the text is
/// capped on a character boundary.
pub fn clean(text: &str, limit: usize) -> String {
    let single_line: String = text
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect();
    argus::signal::cap_text(&single_line, limit)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Brief {
    pub id: String,
    pub title: String,
    pub status: IncidentStatus,
    pub resource: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub source: &'static str,
    pub opened_at: DateTime<Utc>,
    pub signal_count: u32,
    /// 1-10, from the assessment.
    pub severity: Option<u8>,
    pub classification: Option<&'static str>,
    pub summary: String,
    pub confidence: Option<f64>,
    pub analyst: Option<String>,
    pub hypotheses: Vec<HypothesisLine>,
    pub mode: Option<Mode>,
    pub action: Option<ActionLine>,
    pub reasons: Vec<String>,
    pub escalate: bool,
    pub budget: Option<BudgetLine>,
    pub execution_link: Option<String>,
    pub outcome: Option<OutcomeLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HypothesisLine {
    pub statement: String,
    pub likelihood: f64,
    /// `label: text` of each cited evidence item, or its id when it came from elsewhere.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionLine {
    pub id: &'static str,
    pub title: &'static str,
    pub risk: RiskClass,
    /// `name=value` pairs of its parameters.
    pub parameters: String,
    /// How to undo it, from the catalogue.
    pub rollback: String,
    /// `name=value: where it came from`, one per parameter.
    pub sources: Vec<String>,
    /// For an action on a root-cause candidate: how the alarm led to it, and why.
    pub root_cause: Option<RootCauseLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RootCauseLine {
    /// The candidate node.
    pub node: String,
    /// `alarming → … → candidate`.
    pub path: String,
    /// `id: text` of the evidence behind the candidate.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLine {
    pub remaining: u32,
    pub max: u32,
    pub window_end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeLine {
    pub summary: String,
    pub action_ran: bool,
    pub verdict: Option<String>,
    pub resolution: Option<String>,
    pub time_to_recover: Option<chrono::Duration>,
}

impl Brief {
    pub fn new(
        incident: &Incident,
        signals: &[SignalRecord],
        audit: &[AuditRecord],
        execution_id: Option<&str>,
    ) -> Self {
        let evidence: HashMap<&str, String> = signals
            .iter()
            .flat_map(|record| record.signal.evidence.iter())
            .map(|item| {
                (
                    item.id.as_str(),
                    clean(&format!("{}: {}", item.label, item.text), EVIDENCE_LIMIT),
                )
            })
            .collect();
        let assessment = incident.assessment.as_ref();
        let hypotheses = assessment
            .map(|assessment| {
                assessment
                    .hypotheses
                    .iter()
                    .take(HYPOTHESES_SHOWN)
                    .map(|hypothesis| HypothesisLine {
                        statement: clean(&hypothesis.statement, STATEMENT_LIMIT),
                        likelihood: hypothesis.likelihood,
                        evidence: hypothesis
                            .evidence
                            .iter()
                            .take(EVIDENCE_SHOWN)
                            .map(|id| {
                                evidence.get(id.as_str()).cloned().unwrap_or_else(|| {
                                    clean(&format!("evidence {id}"), EVIDENCE_LIMIT)
                                })
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let decision = incident.decision.as_ref();
        let action = decision
            .and_then(|decision| decision.action.as_ref())
            .map(|validated| {
                let spec = validated.action.spec();
                ActionLine {
                    id: spec.name,
                    title: spec.title,
                    risk: validated.risk,
                    parameters: clean(
                        &parameters_text(
                            &serde_json::to_value(&validated.params).unwrap_or_default(),
                        ),
                        PARAMETERS_LIMIT,
                    ),
                    rollback: spec.inverse.map_or_else(
                        || {
                            "no automatic inverse: if it makes things worse, page the owner \
                             and restore by hand"
                                .to_string()
                        },
                        str::to_string,
                    ),
                    sources: validated
                        .provenance
                        .iter()
                        .take(SOURCES_SHOWN)
                        .map(|entry| {
                            clean(
                                &format!(
                                    "{}={}: {}",
                                    entry.parameter,
                                    entry.value,
                                    entry.source.describe()
                                ),
                                SOURCE_LIMIT,
                            )
                        })
                        .collect(),
                    root_cause: validated.root_cause.as_ref().map(|found| RootCauseLine {
                        node: clean(&found.node, NAME_LIMIT),
                        path: clean(
                            &if found.path.is_empty() {
                                format!("{} → {}", incident.resource, found.node)
                            } else {
                                found.path.join(" → ")
                            },
                            PATH_LIMIT,
                        ),
                        evidence: found
                            .evidence
                            .iter()
                            .take(ROOT_CAUSE_EVIDENCE_SHOWN)
                            .map(|item| {
                                clean(&format!("{}: {}", item.id, item.text), EVIDENCE_LIMIT)
                            })
                            .collect(),
                    }),
                }
            });
        let execution = execution_id
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .filter(|id| id.len() <= EXECUTION_ID_LIMIT)
            .or_else(|| {
                incident
                    .execution
                    .as_ref()
                    .map(|execution| execution.id.clone())
            });
        Self {
            id: incident.id.to_string(),
            title: clean(&incident.title, TITLE_LIMIT),
            status: incident.status,
            resource: clean(incident.resource.as_str(), RESOURCE_LIMIT),
            account: incident
                .account
                .as_deref()
                .map(|account| clean(account, NAME_LIMIT)),
            region: incident
                .region
                .as_deref()
                .map(|region| clean(region, NAME_LIMIT)),
            source: incident.source.label(),
            opened_at: incident.opened_at,
            signal_count: incident.signal_count,
            severity: assessment.map(|assessment| assessment.severity),
            classification: assessment.map(|assessment| assessment.classification.as_str()),
            summary: clean(
                assessment
                    .map(|assessment| assessment.summary.as_str())
                    .filter(|summary| !summary.trim().is_empty())
                    .unwrap_or(&incident.title),
                SUMMARY_LIMIT,
            ),
            confidence: assessment.map(|assessment| assessment.confidence),
            analyst: assessment.map(|assessment| clean(&assessment.analyst, NAME_LIMIT)),
            hypotheses,
            mode: decision.map(|decision| decision.mode),
            action,
            reasons: decision
                .map(|decision| {
                    decision
                        .reasons
                        .iter()
                        .take(REASONS_SHOWN)
                        .map(|reason| clean(reason, REASON_LIMIT))
                        .collect()
                })
                .unwrap_or_default(),
            escalate: decision.is_some_and(|decision| decision.escalate),
            budget: decision
                .and_then(|decision| decision.budget.as_ref())
                .map(|budget| BudgetLine {
                    remaining: budget.remaining(),
                    max: budget.max,
                    window_end: budget.window_end,
                }),
            execution_link: execution.as_deref().and_then(execution_console_link),
            outcome: outcome_of(incident, audit),
        }
    }

    /// `critical`, `high`, `medium`, `low`: the words on-call people sort by.
    pub fn severity_word(&self) -> &'static str {
        match self.severity {
            Some(8..) => "critical",
            Some(6..=7) => "high",
            Some(4..=5) => "medium",
            Some(_) => "low",
            None => "unassessed",
        }
    }

    /// One line for subjects, page summaries and ticket titles.
    pub fn headline(&self) -> String {
        let severity = self
            .severity
            .map_or_else(|| "SEV?".to_string(), |severity| format!("SEV{severity}"));
        // Alarm and event titles often name the resource already.
        if self.title.contains(&self.resource) {
            format!("[Argus {severity}] {}", self.title)
        } else {
            format!("[Argus {severity}] {} on {}", self.title, self.resource)
        }
    }

    pub fn location(&self) -> String {
        match (&self.account, &self.region) {
            (Some(account), Some(region)) => format!("account {account}, {region}"),
            (Some(account), None) => format!("account {account}"),
            (None, Some(region)) => region.clone(),
            (None, None) => "account and region unknown".to_string(),
        }
    }

    pub fn confidence_text(&self) -> String {
        self.confidence.map_or_else(
            || "not assessed".to_string(),
            |confidence| format!("{:.0}%", confidence * 100.0),
        )
    }

    pub fn budget_text(&self) -> String {
        self.budget.as_ref().map_or_else(
            || "not consumed".to_string(),
            |budget| {
                format!(
                    "{} of {} attempts left in the window ending {}",
                    budget.remaining,
                    budget.max,
                    budget.window_end.format("%H:%M UTC")
                )
            },
        )
    }

    /// What Argus did or proposes, in one sentence.
    pub fn plan_text(&self) -> String {
        let action = self.action.as_ref();
        match (self.mode, action) {
            (Some(Mode::Auto), Some(action)) => format!(
                "Argus ran {} ({}) on its own: risk {}, within budget.",
                action.id,
                action.title,
                risk_word(action.risk)
            ),
            (Some(Mode::Approval), Some(action)) => format!(
                "Argus proposes {} ({}), risk {}, and waits for a human to approve it.",
                action.id,
                action.title,
                risk_word(action.risk)
            ),
            (Some(Mode::Advisory), Some(action)) => format!(
                "Argus changes nothing. It would suggest {} ({}), risk {}.",
                action.id,
                action.title,
                risk_word(action.risk)
            ),
            _ => "Argus changes nothing; this is for people to look at.".to_string(),
        }
    }

    /// The whole story as plain text: email bodies, ServiceNow descriptions.
    pub fn plain_text(&self) -> String {
        let mut text = String::new();
        let mut line = |content: String| {
            text.push_str(&content);
            text.push('\n');
        };
        line(self.headline());
        line(String::new());
        line(format!("What:       {}", self.summary));
        line(format!(
            "Where:      {} ({})",
            self.resource,
            self.location()
        ));
        line(format!(
            "Severity:   {} ({}){}",
            self.severity
                .map_or_else(|| "?".to_string(), |severity| format!("{severity}/10")),
            self.severity_word(),
            self.classification
                .map(|classification| format!(", {classification}"))
                .unwrap_or_default()
        ));
        line(format!(
            "Detected:   {} by {} ({} signal{})",
            self.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.source,
            self.signal_count,
            if self.signal_count == 1 { "" } else { "s" }
        ));
        line(format!("Status:     {}", self.status.as_str()));
        line(format!(
            "Confidence: {}{}",
            self.confidence_text(),
            self.analyst
                .as_ref()
                .map(|analyst| format!(" (analyst: {analyst})"))
                .unwrap_or_default()
        ));
        line(format!("Budget:     {}", self.budget_text()));
        line(String::new());
        if !self.hypotheses.is_empty() {
            line("Why Argus thinks so:".to_string());
            for (index, hypothesis) in self.hypotheses.iter().enumerate() {
                line(format!(
                    "  {}. {} ({:.0}% likely)",
                    index + 1,
                    hypothesis.statement,
                    hypothesis.likelihood * 100.0
                ));
                for evidence in &hypothesis.evidence {
                    line(format!("     - {evidence}"));
                }
            }
            line(String::new());
        }
        line(format!("Plan: {}", self.plan_text()));
        if let Some(action) = &self.action {
            if !action.parameters.is_empty() {
                line(format!("      Parameters: {}", action.parameters));
            }
            if !action.sources.is_empty() {
                line("      Where the values come from:".to_string());
                for source in &action.sources {
                    line(format!("        - {source}"));
                }
            }
            if let Some(root_cause) = &action.root_cause {
                line(format!(
                    "      Root cause: {} (path {})",
                    root_cause.node, root_cause.path
                ));
                for evidence in &root_cause.evidence {
                    line(format!("        - {evidence}"));
                }
            }
            line(format!("      Roll back: {}", action.rollback));
        }
        for reason in &self.reasons {
            line(format!("      - {reason}"));
        }
        if let Some(outcome) = &self.outcome {
            line(String::new());
            line(format!("Outcome: {}", outcome_text(outcome)));
        }
        line(String::new());
        line(format!("Correlation id: {}", self.id));
        if let Some(link) = &self.execution_link {
            line(format!("Recovery workflow: {link}"));
        }
        text
    }

    /// The same story in Markdown: GitHub issues, post-mortem references.
    pub fn markdown(&self) -> String {
        let mut text = format!(
            "**{}**\n\n| | |\n|---|---|\n| What | {} |\n| Where | `{}` ({}) |\n| Severity | {} ({}) |\n| Detected | {} by {} |\n| Status | {} |\n| Confidence | {} |\n| Budget | {} |\n\n",
            escape_markdown(&self.headline()),
            escape_markdown(&self.summary),
            argus::escape::markdown_code(&self.resource, true),
            escape_markdown(&self.location()),
            self.severity
                .map_or_else(|| "?".to_string(), |severity| format!("{severity}/10")),
            self.severity_word(),
            self.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.source,
            self.status.as_str(),
            self.confidence_text(),
            self.budget_text(),
        );
        if !self.hypotheses.is_empty() {
            text.push_str("### Hypotheses\n\n");
            for (index, hypothesis) in self.hypotheses.iter().enumerate() {
                text.push_str(&format!(
                    "{}. {} ({:.0}% likely)\n",
                    index + 1,
                    escape_markdown(&hypothesis.statement),
                    hypothesis.likelihood * 100.0
                ));
                for evidence in &hypothesis.evidence {
                    text.push_str(&format!("   - {}\n", escape_markdown(evidence)));
                }
            }
            text.push('\n');
        }
        text.push_str(&format!("### Plan\n\n{}\n", self.plan_text()));
        if let Some(action) = &self.action {
            text.push_str(&format!(
                "\n- Parameters: `{}`\n",
                argus::escape::markdown_code(&action.parameters, false)
            ));
            for source in &action.sources {
                text.push_str(&format!("  - {}\n", escape_markdown(source)));
            }
            if let Some(root_cause) = &action.root_cause {
                text.push_str(&format!(
                    "- Root cause: {} (path {})\n",
                    escape_markdown(&root_cause.node),
                    escape_markdown(&root_cause.path)
                ));
                for evidence in &root_cause.evidence {
                    text.push_str(&format!("  - {}\n", escape_markdown(evidence)));
                }
            }
            text.push_str(&format!("- Roll back: {}\n", action.rollback));
        }
        for reason in &self.reasons {
            text.push_str(&format!("- {}\n", escape_markdown(reason)));
        }
        if let Some(outcome) = &self.outcome {
            text.push_str(&format!("\n### Outcome\n\n{}\n", outcome_text(outcome)));
        }
        text.push_str(&format!("\n---\nCorrelation id: `{}`", self.id));
        if let Some(link) = &self.execution_link {
            text.push_str(&format!(" · [recovery workflow]({link})"));
        }
        text.push('\n');
        text
    }
}

pub fn risk_word(risk: RiskClass) -> &'static str {
    match risk {
        RiskClass::None => "none",
        RiskClass::Low => "low",
        RiskClass::Medium => "medium",
        RiskClass::High => "high",
    }
}

pub fn outcome_text(outcome: &OutcomeLine) -> String {
    let mut text = outcome.summary.clone();
    if let Some(verdict) = &outcome.verdict {
        text.push_str(&format!(" (verification: {verdict})"));
    }
    if !outcome.action_ran {
        text.push_str("; no action was run");
    }
    if let Some(duration) = outcome.time_to_recover {
        text.push_str(&format!(
            "; recovered {} after detection",
            human_duration(duration)
        ));
    }
    if let Some(resolution) = &outcome.resolution {
        text.push_str(&format!(". {resolution}"));
    }
    text
}

pub fn human_duration(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        _ => format!("{}h {}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// Markdown special characters in untrusted text (alarm names, analyst prose) are escaped so
/// they cannot add links, images, HTML or blocks (`argus::escape::markdown_inline`).
fn escape_markdown(text: &str) -> String {
    argus::escape::markdown_inline(text)
}

fn parameters_text(params: &Value) -> String {
    match params {
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => format!("{name}={text}"),
                other => format!("{name}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// The last recovery outcome the workflow recorded, with the time from detection to closing.
fn outcome_of(incident: &Incident, audit: &[AuditRecord]) -> Option<OutcomeLine> {
    let record = audit
        .iter()
        .rev()
        .find(|record| record.kind == AuditKind::RecoveryOutcome)?;
    let verdict = record
        .data
        .pointer("/verification/result/verdict")
        .and_then(Value::as_str)
        .map(|verdict| clean(verdict, NAME_LIMIT));
    Some(OutcomeLine {
        summary: clean(&record.summary, OUTCOME_LIMIT),
        action_ran: record
            .data
            .get("action_ran")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        verdict,
        resolution: incident
            .resolution
            .as_deref()
            .map(|resolution| clean(resolution, OUTCOME_LIMIT)),
        time_to_recover: (incident.status == IncidentStatus::Resolved)
            .then_some(incident.closed_at)
            .flatten()
            .map(|closed| closed - incident.opened_at),
    })
}

/// The Step Functions console page of an execution, from its ARN.
pub fn execution_console_link(execution_arn: &str) -> Option<String> {
    let mut parts = execution_arn.split(':');
    let (Some("arn"), Some(_partition), Some("states"), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_come_from_execution_arns() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:argus-recovery:inc-1";
        assert_eq!(
            execution_console_link(arn).unwrap(),
            format!(
                "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"
            )
        );
        assert_eq!(execution_console_link("local:inc-1"), None);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(chrono::Duration::seconds(42)), "42s");
        assert_eq!(human_duration(chrono::Duration::seconds(312)), "5m 12s");
        assert_eq!(human_duration(chrono::Duration::seconds(7260)), "2h 1m");
    }

    #[test]
    fn markdown_in_untrusted_text_is_escaped() {
        assert_eq!(escape_markdown("[click](x)"), "[click\\](x)");
    }
}
