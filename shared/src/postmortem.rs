//! The post-mortem of an incident, built deterministically from the incident, its audit trail,
//! its signals and what the patterns table learned about its signature: every section as data
//! (for JSON and for the connectors that publish it) and as Markdown an SRE can publish as is.

use crate::correlation::CorrelationId;
use crate::decision::Mode;
use crate::incident::{
    AuditKind, AuditRecord, ChainVerdict, Incident, IncidentStatus, verify_chain,
};
use crate::ports::{SignalRecord, SignatureHistory};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest piece of untrusted text (alarm reasons, log samples, alert text) quoted in a post-mortem.
const MAX_QUOTED_BYTES: usize = 240;
/// What a step that was never reached shows in place of its time.
pub const NOT_REACHED: &str = "—";

/// One milestone of the incident's life, in the order the timeline lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The source observed the problem (the first signal's own time).
    FirstSignal,
    /// Argus opened the incident.
    Detected,
    Analysed,
    Decided,
    ApprovalRequested,
    Approved,
    /// A human answered the approval with no.
    Rejected,
    /// The recovery action was sent.
    Acted,
    Verified,
    Escalated,
    Resolved,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Self::FirstSignal => "first signal",
            Self::Detected => "detected",
            Self::Analysed => "analysed",
            Self::Decided => "decided",
            Self::ApprovalRequested => "approval requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Acted => "acted",
            Self::Verified => "verified",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
        }
    }
}

/// One row of the timeline. `at` is `None` when the step was not reached (or its time was not
/// recorded, which `detail` then says); nothing is ever filled in by guessing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub step: Step,
    pub at: Option<DateTime<Utc>>,
    pub detail: String,
    /// The audit record the step was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub resource: String,
    pub signature: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Opened to closed; `None` while the incident is still open.
    pub duration_seconds: Option<i64>,
    pub signals: u32,
    /// How each recorded signal was taken in (opened, attached, resolved, self-caused), by count.
    pub signals_by_outcome: BTreeMap<String, u32>,
    pub severity: Option<u8>,
    pub classification: Option<String>,
}

/// A piece of evidence a hypothesis cites, with what it said when it came from the signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub id: String,
    pub label: Option<String>,
    /// Untrusted text from the source, cleaned and capped.
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HypothesisSection {
    pub rank: usize,
    pub statement: String,
    pub likelihood: f64,
    pub evidence: Vec<EvidenceItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub action: String,
    pub risk: String,
    pub target: Option<String>,
    /// Why the analyst proposed it.
    pub rationale: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalSummary {
    pub approved: bool,
    pub approver: String,
    pub channel: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// RECOVERED, PENDING, FAILED or NOT_CHECKED, as the verifier said.
    pub verdict: String,
    pub reasons: Vec<String>,
}

/// An error the workflow caught, as Step Functions reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    pub error: String,
    pub cause: String,
}

/// What Argus did and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub analyst: Option<String>,
    pub confidence: Option<f64>,
    /// The analyst Argus fell back from, and why, when it did.
    pub analyst_fallback: Option<String>,
    pub mode: Option<Mode>,
    pub escalate: bool,
    pub suppressed: bool,
    pub reasons: Vec<String>,
    pub action: Option<ActionTaken>,
    /// Remediation attempts used and allowed in the budget window when Argus decided.
    pub budget_used: Option<u32>,
    pub budget_max: Option<u32>,
    pub approval: Option<ApprovalSummary>,
    /// Why an approval was not answered (timeout) or failed, from the workflow.
    pub approval_error: Option<CaughtError>,
    pub action_ran: bool,
    /// When the action was sent, when the workflow recorded it.
    pub action_sent_at: Option<DateTime<Utc>>,
    pub action_error: Option<CaughtError>,
    pub verification: Option<Verification>,
    /// The workflow's outcome: recovered, escalated or advisory; `None` before it ends.
    pub outcome: Option<String>,
    pub resolution: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// First signal observed → incident opened.
    pub time_to_detect_seconds: Option<i64>,
    /// Incident opened → action sent.
    pub time_to_act_seconds: Option<i64>,
    /// Incident opened → resolved.
    pub time_to_recover_seconds: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpKind {
    /// No catalogue action fitted the incident: a runbook (or a catalogue action) is missing.
    RunbookGap,
    /// The action ran and verification did not confirm recovery.
    VerificationFailed,
    /// The action itself failed (permissions, limits, a missing resource).
    ActionFailed,
    ApprovalUnanswered,
    ApprovalRejected,
    /// The remediation budget was spent: the same fix keeps being needed.
    BudgetSpent,
    RecurringSignature,
    AnalystFallback,
    DeliveryFailed,
    AuditChainBroken,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub kind: FollowUpKind,
    pub text: String,
}

/// What the patterns table knew about the signature when the post-mortem was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recurrence {
    /// Other resolved incidents of the signature on record (this one excluded), newest first.
    pub earlier_incidents: Vec<CorrelationId>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// For the action taken: attempts and verified successes learned so far.
    pub action_attempts: Option<u64>,
    pub action_verified_successes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditIntegrity {
    pub verdict: ChainVerdict,
    pub records: usize,
    /// The chain's head as the incident records it.
    pub head: String,
}

/// A post-mortem: every section as data. Built only from its inputs (no clock, no randomness),
/// so the same inputs give the same value and the same Markdown bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Postmortem {
    pub correlation_id: CorrelationId,
    pub incident_title: String,
    pub status: IncidentStatus,
    pub summary: String,
    pub impact: Impact,
    pub timeline: Vec<TimelineEntry>,
    pub hypotheses: Vec<HypothesisSection>,
    pub response: Response,
    pub metrics: Metrics,
    pub recurrence: Option<Recurrence>,
    pub follow_ups: Vec<FollowUp>,
    pub audit: AuditIntegrity,
}

fn first_of(audit: &[AuditRecord], kind: AuditKind) -> Option<&AuditRecord> {
    audit.iter().find(|record| record.kind == kind)
}

fn last_of(audit: &[AuditRecord], kind: AuditKind) -> Option<&AuditRecord> {
    audit.iter().rev().find(|record| record.kind == kind)
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn caught(value: Option<&Value>) -> Option<CaughtError> {
    let value = value.filter(|value| value.is_object())?;
    Some(CaughtError {
        error: text_at(value, "/Error").unwrap_or("unknown").to_string(),
        cause: clean(text_at(value, "/Cause").unwrap_or_default()),
    })
}

/// Untrusted text on one line, without control characters, capped.
fn clean(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::signal::cap_text(
        flat.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
        MAX_QUOTED_BYTES,
    )
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).round() as i64
}

/// A duration as people read it: `45s`, `5m 37s`, `2h 05m`, `3d 04h`.
pub fn human_duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    let text = if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else if seconds < 86_400 {
        format!("{}h {:02}m", seconds / 3600, (seconds % 3600) / 60)
    } else {
        format!("{}d {:02}h", seconds / 86_400, (seconds % 86_400) / 3600)
    };
    format!("{sign}{text}")
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What the workflow's outcome record says (`record_outcome` writes it).
struct OutcomeView<'a> {
    record: &'a AuditRecord,
    outcome: Option<&'a str>,
    action_ran: bool,
    action_sent_at: Option<DateTime<Utc>>,
    action_error: Option<CaughtError>,
    approval_error: Option<CaughtError>,
    verification: Option<Verification>,
}

fn outcome_view(audit: &[AuditRecord]) -> Option<OutcomeView<'_>> {
    let record = last_of(audit, AuditKind::RecoveryOutcome)?;
    let data = &record.data;
    let verification = data
        .pointer("/verification/result")
        .filter(|result| result.is_object())
        .map(|result| Verification {
            verdict: text_at(result, "/verdict")
                .unwrap_or("NOT_CHECKED")
                .to_string(),
            reasons: result
                .get("reasons")
                .and_then(Value::as_array)
                .map(|reasons| {
                    reasons
                        .iter()
                        .filter_map(Value::as_str)
                        .map(clean)
                        .collect()
                })
                .unwrap_or_default(),
        });
    Some(OutcomeView {
        record,
        outcome: text_at(data, "/outcome"),
        action_ran: data
            .get("action_ran")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        action_sent_at: text_at(data, "/action_sent_at")
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|at| at.with_timezone(&Utc)),
        action_error: caught(data.get("action_error")),
        approval_error: caught(data.get("approval_error")),
        verification,
    })
}

/// The approval's answer, from the audit trail, else from the incident's own record of it.
fn approval_answer(
    incident: &Incident,
    audit: &[AuditRecord],
) -> Option<(ApprovalSummary, Option<u64>)> {
    if let Some(record) = last_of(audit, AuditKind::ApprovalDecided) {
        let data = &record.data;
        return Some((
            ApprovalSummary {
                approved: data
                    .get("approved")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                approver: text_at(data, "/approver")
                    .unwrap_or(&record.actor)
                    .to_string(),
                channel: text_at(data, "/channel").unwrap_or("unknown").to_string(),
                decided_at: record.at,
            },
            Some(record.seq),
        ));
    }
    let decision = incident.approval.as_ref()?.decision.as_ref()?;
    Some((
        ApprovalSummary {
            approved: decision.approved,
            approver: decision.approver.clone(),
            channel: decision.channel.clone(),
            decided_at: decision.decided_at,
        },
        None,
    ))
}

fn entry(step: Step, record: Option<&AuditRecord>, detail: impl Into<String>) -> TimelineEntry {
    TimelineEntry {
        step,
        at: record.map(|record| record.at),
        detail: detail.into(),
        audit_seq: record.map(|record| record.seq),
    }
}

fn not_reached(step: Step, why: impl Into<String>) -> TimelineEntry {
    TimelineEntry {
        step,
        at: None,
        detail: why.into(),
        audit_seq: None,
    }
}

impl Postmortem {
    /// Builds the post-mortem of `incident` from its audit trail (in sequence order), its
    /// signals, and, when given, what the patterns table holds for its signature.
    pub fn build(
        incident: &Incident,
        audit: &[AuditRecord],
        signals: &[SignalRecord],
        history: Option<&SignatureHistory>,
    ) -> Postmortem {
        let mut audit: Vec<AuditRecord> = audit.to_vec();
        audit.sort_by_key(|record| record.seq);
        let audit = audit.as_slice();
        let verdict = verify_chain(incident, audit);
        let outcome = outcome_view(audit);
        let approval = approval_answer(incident, audit);
        let first_signal = signals
            .iter()
            .find(|record| record.signal.source_event_id == incident.first_signal_id)
            .or_else(|| {
                signals
                    .iter()
                    .min_by_key(|record| record.signal.observed_at)
            });
        let decision = incident.decision.as_ref();
        let assessment = incident.assessment.as_ref();
        let action_id = decision
            .and_then(|decision| decision.action.as_ref())
            .map(|action| action.action);

        let resolved_at = (incident.status == IncidentStatus::Resolved)
            .then_some(incident.closed_at)
            .flatten();
        let acted_at = outcome
            .as_ref()
            .filter(|outcome| outcome.action_ran)
            .and_then(|outcome| outcome.action_sent_at);

        let response = Response {
            analyst: assessment.map(|assessment| assessment.analyst.clone()),
            confidence: assessment.map(|assessment| assessment.confidence),
            analyst_fallback: first_of(audit, AuditKind::AnalystFallback)
                .map(|record| clean(&record.summary)),
            mode: decision.map(|decision| decision.mode),
            escalate: decision.is_some_and(|decision| decision.escalate),
            suppressed: decision.is_some_and(|decision| decision.suppressed),
            reasons: decision
                .map(|decision| {
                    decision
                        .reasons
                        .iter()
                        .map(|reason| clean(reason))
                        .collect()
                })
                .unwrap_or_default(),
            action: decision
                .and_then(|decision| decision.action.as_ref())
                .map(|action| ActionTaken {
                    action: action.action.to_string(),
                    risk: format!("{:?}", action.risk).to_lowercase(),
                    target: action.target.as_ref().map(ToString::to_string),
                    rationale: assessment
                        .and_then(|assessment| assessment.proposal.as_ref())
                        .map(|proposal| clean(&proposal.rationale))
                        .filter(|rationale| !rationale.is_empty()),
                }),
            budget_used: decision
                .and_then(|decision| decision.budget.as_ref())
                .map(|budget| budget.used),
            budget_max: decision
                .and_then(|decision| decision.budget.as_ref())
                .map(|budget| budget.max),
            approval: approval.as_ref().map(|(summary, _)| summary.clone()),
            approval_error: outcome
                .as_ref()
                .and_then(|outcome| outcome.approval_error.clone()),
            action_ran: outcome.as_ref().is_some_and(|outcome| outcome.action_ran),
            action_sent_at: acted_at,
            action_error: outcome
                .as_ref()
                .and_then(|outcome| outcome.action_error.clone()),
            verification: outcome
                .as_ref()
                .and_then(|outcome| outcome.verification.clone()),
            outcome: outcome
                .as_ref()
                .and_then(|outcome| outcome.outcome.map(str::to_string)),
            resolution: incident.resolution.as_ref().map(|text| clean(text)),
        };

        let timeline = timeline(
            incident,
            audit,
            first_signal,
            &response,
            outcome.as_ref(),
            approval.as_ref(),
        );

        let evidence_of = |id: &str| -> EvidenceItem {
            let from_signal = first_signal.and_then(|record| {
                if id == "signal" {
                    return Some(EvidenceItem {
                        id: id.to_string(),
                        label: Some("the signal".to_string()),
                        text: Some(clean(&record.signal.title)),
                    });
                }
                record
                    .signal
                    .evidence
                    .iter()
                    .find(|evidence| evidence.id == id)
                    .map(|evidence| EvidenceItem {
                        id: id.to_string(),
                        label: Some(clean(&evidence.label)),
                        text: Some(clean(&evidence.text)),
                    })
            });
            from_signal.unwrap_or_else(|| EvidenceItem {
                id: id.to_string(),
                label: None,
                text: None,
            })
        };
        let hypotheses = assessment
            .map(|assessment| {
                assessment
                    .hypotheses
                    .iter()
                    .enumerate()
                    .map(|(index, hypothesis)| HypothesisSection {
                        rank: index + 1,
                        statement: clean(&hypothesis.statement),
                        likelihood: hypothesis.likelihood,
                        evidence: hypothesis
                            .evidence
                            .iter()
                            .map(|id| evidence_of(id))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();

        let first_observed = first_signal.map(|record| record.signal.observed_at);
        let metrics = Metrics {
            time_to_detect_seconds: first_observed
                // Negative when the source's clock runs ahead of Argus' (or a replay's pinned clock
                // is earlier than the event): shown as it is rather than hidden.
                .map(|observed| seconds_between(observed, incident.opened_at)),
            time_to_act_seconds: acted_at.map(|at| seconds_between(incident.opened_at, at)),
            time_to_recover_seconds: resolved_at.map(|at| seconds_between(incident.opened_at, at)),
        };

        let recurrence = history.map(|history| {
            let earlier: Vec<_> = history
                .incidents
                .iter()
                .filter(|past| past.correlation_id != incident.id)
                .collect();
            let stats = action_id.map(|action| history.stats(action));
            Recurrence {
                earlier_incidents: earlier
                    .iter()
                    .map(|past| past.correlation_id.clone())
                    .collect(),
                last_seen_at: earlier.iter().map(|past| past.closed_at).max(),
                action_attempts: stats.as_ref().map(|stats| stats.attempts),
                action_verified_successes: stats.as_ref().map(|stats| stats.verified_successes),
            }
        });

        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        for record in signals {
            *outcomes.entry(record.outcome.clone()).or_default() += 1;
        }
        let impact = Impact {
            resource: incident.resource.to_string(),
            signature: incident.signature.clone(),
            account: incident.account.clone(),
            region: incident.region.clone(),
            opened_at: incident.opened_at,
            closed_at: incident.closed_at,
            duration_seconds: incident
                .closed_at
                .map(|closed| seconds_between(incident.opened_at, closed)),
            signals: incident.signal_count,
            signals_by_outcome: outcomes,
            severity: assessment.map(|assessment| assessment.severity),
            classification: assessment
                .map(|assessment| assessment.classification.as_str().to_string()),
        };

        let audit_integrity = AuditIntegrity {
            verdict,
            records: audit.len(),
            head: incident.audit_head.hash.clone(),
        };
        let follow_ups = follow_ups(
            incident,
            audit,
            &response,
            recurrence.as_ref(),
            &audit_integrity,
        );
        let summary = summary(incident, &response, &metrics);
        Postmortem {
            correlation_id: incident.id.clone(),
            incident_title: clean(&incident.title),
            status: incident.status,
            summary,
            impact,
            timeline,
            hypotheses,
            response,
            metrics,
            recurrence,
            follow_ups,
            audit: audit_integrity,
        }
    }

    /// `Post-mortem: <incident title> (<correlation id>)`.
    pub fn title(&self) -> String {
        format!(
            "Post-mortem: {} ({})",
            self.incident_title, self.correlation_id
        )
    }

    /// The post-mortem as Markdown. Deterministic: the same post-mortem gives the same bytes.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) {
        let impact = &self.impact;
        let _ = writeln!(out, "# {}\n", inline(&self.title()));
        let mut status = format!("**Status:** {}", self.status.as_str());
        if let Some(resolution) = &self.response.resolution {
            let _ = write!(status, " ({})", inline(resolution));
        }
        if let Some(severity) = impact.severity {
            let _ = write!(status, " · **Severity:** {severity}/10");
        }
        if let Some(duration) = impact.duration_seconds {
            let _ = write!(status, " · **Duration:** {}", human_duration(duration));
        }
        let _ = writeln!(out, "{status}\n");

        let _ = writeln!(out, "## Summary\n\n{}\n", inline(&self.summary));

        let _ = writeln!(out, "## Impact\n");
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| Resource | `{}` |", code(&impact.resource));
        let _ = writeln!(out, "| Signature | `{}` |", code(&impact.signature));
        let _ = writeln!(
            out,
            "| Account / region | {} / {} |",
            cell(impact.account.as_deref().unwrap_or("unknown")),
            cell(impact.region.as_deref().unwrap_or("unknown"))
        );
        if let Some(classification) = &impact.classification {
            let _ = writeln!(out, "| Classification | {} |", cell(classification));
        }
        let _ = writeln!(out, "| Opened | {} |", utc(impact.opened_at));
        let _ = writeln!(
            out,
            "| Closed | {} |",
            impact
                .closed_at
                .map_or_else(|| format!("{NOT_REACHED} (still open)"), utc)
        );
        let _ = writeln!(
            out,
            "| Duration | {} |",
            impact
                .duration_seconds
                .map_or_else(|| format!("{NOT_REACHED} (still open)"), human_duration)
        );
        let breakdown: Vec<String> = impact
            .signals_by_outcome
            .iter()
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect();
        let _ = writeln!(
            out,
            "| Signals | {}{} |\n",
            impact.signals,
            if breakdown.is_empty() {
                String::new()
            } else {
                format!(" ({})", cell(&breakdown.join(", ")))
            }
        );

        let _ = writeln!(out, "## Timeline (UTC)\n");
        let _ = writeln!(out, "| Time | Step | Detail |\n|---|---|---|");
        for entry in &self.timeline {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                entry.at.map_or_else(
                    || NOT_REACHED.to_string(),
                    |at| at.format("%Y-%m-%d %H:%M:%S").to_string()
                ),
                entry.step.label(),
                cell(&entry.detail)
            );
        }
        out.push('\n');

        let _ = writeln!(out, "## Root-cause hypotheses\n");
        if self.hypotheses.is_empty() {
            let _ = writeln!(out, "No hypothesis was recorded with evidence.\n");
        }
        for hypothesis in &self.hypotheses {
            let _ = writeln!(
                out,
                "{}. {} (likelihood {:.2})",
                hypothesis.rank,
                inline(&hypothesis.statement),
                hypothesis.likelihood
            );
            for evidence in &hypothesis.evidence {
                let described = match (&evidence.label, &evidence.text) {
                    (Some(label), Some(text)) => format!(": {} — {}", inline(label), inline(text)),
                    (Some(label), None) => format!(": {}", inline(label)),
                    _ => " (from the analysis context; not kept with the incident)".to_string(),
                };
                let _ = writeln!(out, "   - `{}`{described}", code(&evidence.id));
            }
        }
        if !self.hypotheses.is_empty() {
            out.push('\n');
        }

        self.write_response(out);

        let metrics = &self.metrics;
        let show =
            |value: Option<i64>| value.map_or_else(|| NOT_REACHED.to_string(), human_duration);
        let _ = writeln!(out, "## Metrics\n");
        let _ = writeln!(out, "| Metric | Value |\n|---|---|");
        let _ = writeln!(
            out,
            "| Time to detect (first signal → incident opened) | {} |",
            show(metrics.time_to_detect_seconds)
        );
        let _ = writeln!(
            out,
            "| Time to act (incident opened → action sent) | {} |",
            show(metrics.time_to_act_seconds)
        );
        let _ = writeln!(
            out,
            "| Time to recover (incident opened → resolved) | {} |\n",
            show(metrics.time_to_recover_seconds)
        );

        let _ = writeln!(out, "## Follow-ups\n");
        if self.follow_ups.is_empty() {
            let _ = writeln!(
                out,
                "None found in the audit trail or in the signature's history.\n"
            );
        }
        for follow_up in &self.follow_ups {
            let _ = writeln!(out, "- [ ] {}", inline(&follow_up.text));
        }
        if !self.follow_ups.is_empty() {
            out.push('\n');
        }

        let _ = writeln!(out, "## Audit trail\n");
        let head: String = self.audit.head.chars().take(16).collect();
        match &self.audit.verdict {
            ChainVerdict::Intact { records } => {
                let _ = writeln!(
                    out,
                    "Integrity: verified — {records} records, each hash chained to the one before, ending at the incident's head `{head}…`. The full trail: `argus incidents show {}`.",
                    self.correlation_id
                );
            }
            ChainVerdict::Broken { seq, reason } => {
                let _ = writeln!(
                    out,
                    "Integrity: **BROKEN** at record {seq}: {}. This post-mortem was built from a trail that failed verification.",
                    inline(reason)
                );
            }
        }
    }

    fn write_response(&self, out: &mut String) {
        let response = &self.response;
        let _ = writeln!(out, "## What Argus did and why\n");
        if let Some(analyst) = &response.analyst {
            let _ = writeln!(
                out,
                "- **Analysis:** {} (confidence {:.2})",
                inline(analyst),
                response.confidence.unwrap_or_default()
            );
        }
        if let Some(fallback) = &response.analyst_fallback {
            let _ = writeln!(out, "- **Analyst fallback:** {}", inline(fallback));
        }
        match response.mode {
            Some(mode) => {
                let mut flags = Vec::new();
                if response.escalate {
                    flags.push("escalate");
                }
                if response.suppressed {
                    flags.push("suppressed");
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                };
                let _ = writeln!(out, "- **Decision:** {}{flags}", mode.as_str());
            }
            None => {
                let _ = writeln!(
                    out,
                    "- **Decision:** {NOT_REACHED} (no decision was recorded)"
                );
            }
        }
        for reason in &response.reasons {
            let _ = writeln!(out, "  - because {}", inline(reason));
        }
        match &response.action {
            Some(action) => {
                let target = action
                    .target
                    .as_ref()
                    .map(|target| format!(" on `{}`", code(target)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- **Action:** `{}` ({} risk){target}",
                    code(&action.action),
                    action.risk
                );
                if let Some(rationale) = &action.rationale {
                    let _ = writeln!(out, "  - rationale: {}", inline(rationale));
                }
            }
            None => {
                let _ = writeln!(out, "- **Action:** none");
            }
        }
        if let (Some(used), Some(max)) = (response.budget_used, response.budget_max) {
            let _ = writeln!(
                out,
                "- **Budget:** {used} of {max} remediation attempts used in the window"
            );
        }
        if let Some(approval) = &response.approval {
            let _ = writeln!(
                out,
                "- **Approval:** {} by {} via {} at {}",
                if approval.approved {
                    "approved"
                } else {
                    "rejected"
                },
                inline(&approval.approver),
                inline(&approval.channel),
                utc(approval.decided_at)
            );
        } else if let Some(error) = &response.approval_error {
            let _ = writeln!(
                out,
                "- **Approval:** not given ({}: {})",
                inline(&error.error),
                inline(&error.cause)
            );
        }
        if response.action.is_some() {
            let ran = if response.action_ran {
                response
                    .action_sent_at
                    .map_or_else(|| "ran".to_string(), |at| format!("ran (sent {})", utc(at)))
            } else if let Some(error) = &response.action_error {
                format!(
                    "failed ({}: {})",
                    inline(&error.error),
                    inline(&error.cause)
                )
            } else {
                "did not run".to_string()
            };
            let _ = writeln!(out, "- **Execution:** {ran}");
        }
        match &response.verification {
            Some(verification) if verification.verdict != "NOT_CHECKED" => {
                let _ = writeln!(out, "- **Verification:** {}", inline(&verification.verdict));
                for reason in &verification.reasons {
                    let _ = writeln!(out, "  - {}", inline(reason));
                }
            }
            _ => {
                let _ = writeln!(out, "- **Verification:** {NOT_REACHED} (not checked)");
            }
        }
        let _ = writeln!(
            out,
            "- **Outcome:** {}\n",
            response.outcome.as_deref().map_or_else(
                || format!("{NOT_REACHED} (the recovery workflow has not recorded one)"),
                inline
            )
        );
        if let Some(recurrence) = &self.recurrence {
            let _ = writeln!(
                out,
                "**History of this signature:** {} earlier resolved incident(s){}.",
                recurrence.earlier_incidents.len(),
                match (
                    recurrence.action_attempts,
                    recurrence.action_verified_successes
                ) {
                    (Some(attempts), Some(verified)) if attempts > 0 => format!(
                        "; the action has run {attempts} time(s) on it, {verified} verified"
                    ),
                    _ => String::new(),
                }
            );
            out.push('\n');
        }
    }
}

fn timeline(
    incident: &Incident,
    audit: &[AuditRecord],
    first_signal: Option<&SignalRecord>,
    response: &Response,
    outcome: Option<&OutcomeView<'_>>,
    approval: Option<&(ApprovalSummary, Option<u64>)>,
) -> Vec<TimelineEntry> {
    let mut steps = Vec::new();
    steps.push(match first_signal {
        Some(record) => TimelineEntry {
            step: Step::FirstSignal,
            at: Some(record.signal.observed_at),
            detail: format!(
                "{}: {}",
                record.signal.source.label(),
                clean(&record.signal.title)
            ),
            audit_seq: None,
        },
        None => not_reached(Step::FirstSignal, "no signal is recorded with the incident"),
    });
    let opened = first_of(audit, AuditKind::IncidentOpened);
    steps.push(TimelineEntry {
        step: Step::Detected,
        at: Some(incident.opened_at),
        detail: format!(
            "incident opened on {} ({})",
            incident.resource, incident.signature
        ),
        audit_seq: opened.map(|record| record.seq),
    });
    steps.push(match first_of(audit, AuditKind::Assessed) {
        Some(record) => {
            let detail = match &incident.assessment {
                Some(assessment) => format!(
                    "{} classified it {} (severity {}, confidence {:.2})",
                    clean(&assessment.analyst),
                    assessment.classification.as_str(),
                    assessment.severity,
                    assessment.confidence
                ),
                None => clean(&record.summary),
            };
            entry(Step::Analysed, Some(record), detail)
        }
        None => not_reached(
            Step::Analysed,
            match first_of(audit, AuditKind::Suppressed)
                .or_else(|| first_of(audit, AuditKind::BudgetSpent))
            {
                Some(record) => format!("not analysed: {}", clean(&record.summary)),
                None => "not reached".to_string(),
            },
        ),
    });
    steps.push(match first_of(audit, AuditKind::Decided) {
        Some(record) => entry(Step::Decided, Some(record), clean(&record.summary)),
        None => not_reached(Step::Decided, "not reached"),
    });
    let mode = response.mode;
    let requested = first_of(audit, AuditKind::ApprovalRequested);
    if mode == Some(Mode::Approval) || requested.is_some() {
        steps.push(match requested {
            Some(record) => entry(
                Step::ApprovalRequested,
                Some(record),
                clean(&record.summary),
            ),
            None => not_reached(Step::ApprovalRequested, "no request was recorded"),
        });
    }
    steps.push(match approval {
        Some((summary, seq)) => TimelineEntry {
            step: if summary.approved {
                Step::Approved
            } else {
                Step::Rejected
            },
            at: Some(summary.decided_at),
            detail: format!(
                "{} by {} via {}",
                if summary.approved {
                    "approved"
                } else {
                    "rejected"
                },
                clean(&summary.approver),
                clean(&summary.channel)
            ),
            audit_seq: *seq,
        },
        None => not_reached(
            Step::Approved,
            match (mode, &response.approval_error) {
                (_, Some(error)) => format!("no answer: {} ({})", error.error, error.cause),
                (Some(Mode::Auto), _) => "not needed: auto mode".to_string(),
                (Some(Mode::Advisory), _) => "not needed: advisory only".to_string(),
                _ => "not reached".to_string(),
            },
        ),
    });
    let action = response.action.as_ref().map(|action| match &action.target {
        Some(target) => format!("{} on {target}", action.action),
        None => action.action.clone(),
    });
    steps.push(match (outcome, &action) {
        (Some(view), Some(action)) if view.action_ran => TimelineEntry {
            step: Step::Acted,
            at: view.action_sent_at,
            detail: if view.action_sent_at.is_some() {
                format!("{action} sent")
            } else {
                format!("{action} ran (its time was not recorded)")
            },
            audit_seq: Some(view.record.seq),
        },
        (Some(view), Some(action)) if view.action_error.is_some() => {
            let error = view
                .action_error
                .as_ref()
                .map(|error| format!("{}: {}", error.error, error.cause))
                .unwrap_or_default();
            not_reached(Step::Acted, format!("{action} failed: {error}"))
        }
        (_, None) if response.suppressed => not_reached(
            Step::Acted,
            "no action: a maintenance window suppressed actions",
        ),
        (_, None) if first_of(audit, AuditKind::BudgetSpent).is_some() => {
            not_reached(Step::Acted, "no action: the remediation budget was spent")
        }
        (_, None) => not_reached(
            Step::Acted,
            "no action: nothing in the catalogue was chosen",
        ),
        (_, Some(action)) if mode == Some(Mode::Advisory) => {
            not_reached(Step::Acted, format!("{action} not run: advisory only"))
        }
        (_, Some(action)) => not_reached(Step::Acted, format!("{action} was not run")),
    });
    steps.push(match (outcome, &response.verification) {
        (Some(view), Some(verification)) if verification.verdict == "RECOVERED" => TimelineEntry {
            step: Step::Verified,
            at: Some(view.record.at),
            detail: format!("recovered: {}", verification.reasons.join("; ")),
            audit_seq: Some(view.record.seq),
        },
        (Some(_), Some(verification)) if verification.verdict != "NOT_CHECKED" => not_reached(
            Step::Verified,
            format!(
                "verification said {}: {}",
                verification.verdict,
                verification.reasons.join("; ")
            ),
        ),
        _ => not_reached(Step::Verified, "not reached"),
    });
    let escalated = outcome
        .filter(|view| view.outcome == Some("escalated"))
        .map(|view| {
            entry(
                Step::Escalated,
                Some(view.record),
                clean(&view.record.summary),
            )
        })
        .or_else(|| {
            (response.escalate && incident.status == IncidentStatus::Escalated)
                .then(|| first_of(audit, AuditKind::Decided))
                .flatten()
                .map(|record| {
                    entry(
                        Step::Escalated,
                        Some(record),
                        "escalated to on-call by the decision",
                    )
                })
        });
    steps.extend(escalated);
    let resolved = match incident.status {
        IncidentStatus::Resolved | IncidentStatus::Closed => {
            let record = last_of(audit, AuditKind::Cleared)
                .or_else(|| {
                    outcome.map(|view| view.record).filter(|record| {
                        record.data.get("outcome").and_then(Value::as_str) == Some("recovered")
                    })
                })
                .or_else(|| last_of(audit, AuditKind::StatusChanged));
            TimelineEntry {
                step: Step::Resolved,
                at: incident.closed_at,
                detail: incident
                    .resolution
                    .as_deref()
                    .map(clean)
                    .unwrap_or_else(|| incident.status.as_str().to_string()),
                audit_seq: record.map(|record| record.seq),
            }
        }
        status => not_reached(
            Step::Resolved,
            format!("not resolved: the incident is {}", status.as_str()),
        ),
    };
    steps.push(resolved);
    steps
}

fn follow_ups(
    incident: &Incident,
    audit: &[AuditRecord],
    response: &Response,
    recurrence: Option<&Recurrence>,
    integrity: &AuditIntegrity,
) -> Vec<FollowUp> {
    let mut items = Vec::new();
    let mut add = |kind, text: String| items.push(FollowUp { kind, text });
    let signature = &incident.signature;
    if !integrity.verdict.is_intact() {
        add(
            FollowUpKind::AuditChainBroken,
            "Find out why the audit trail fails verification before trusting this record."
                .to_string(),
        );
    }
    let budget_spent = first_of(audit, AuditKind::BudgetSpent);
    if response.action.is_none()
        && !response.suppressed
        && budget_spent.is_none()
        && response.mode.is_some()
    {
        add(
            FollowUpKind::RunbookGap,
            format!(
                "Runbook gap: no catalogue action fitted `{signature}` on {}; write the runbook, or add a catalogue action for it.",
                incident.resource
            ),
        );
    }
    if let Some(record) = budget_spent {
        add(
            FollowUpKind::BudgetSpent,
            format!(
                "The remediation budget was spent ({}): the same fix keeps being needed; find the underlying cause.",
                clean(&record.summary)
            ),
        );
    }
    if let (Some(action), Some(error)) = (&response.action, &response.action_error) {
        add(
            FollowUpKind::ActionFailed,
            format!(
                "`{}` failed with {}: check the recovery role's permissions and the resource's `argus:managed` tag.",
                action.action, error.error
            ),
        );
    }
    if let (Some(action), true) = (&response.action, response.action_ran) {
        let verdict = response
            .verification
            .as_ref()
            .map_or("NOT_CHECKED", |verification| verification.verdict.as_str());
        if verdict != "RECOVERED" {
            add(
                FollowUpKind::VerificationFailed,
                format!(
                    "`{}` ran but verification said {verdict}: review the runbook for `{signature}`; this action does not fix it.",
                    action.action
                ),
            );
        }
    }
    match (&response.approval, &response.approval_error) {
        (Some(approval), _) if !approval.approved => add(
            FollowUpKind::ApprovalRejected,
            format!(
                "{} rejected the proposed action: record why, and lower the autonomy for `{signature}` with an override if it should not be proposed again.",
                clean(&approval.approver)
            ),
        ),
        (None, Some(error)) => add(
            FollowUpKind::ApprovalUnanswered,
            format!(
                "The approval was not answered ({}): check that the approval channel reaches the on-call approvers.",
                error.error
            ),
        ),
        _ => {}
    }
    if let Some(recurrence) = recurrence
        && !recurrence.earlier_incidents.is_empty()
    {
        let last = recurrence
            .last_seen_at
            .map(|at| format!(", the last closed {}", utc(at)))
            .unwrap_or_default();
        add(
            FollowUpKind::RecurringSignature,
            format!(
                "Recurring signature: `{signature}` has {} earlier resolved incident(s){last}; fix the cause rather than the symptom.",
                recurrence.earlier_incidents.len()
            ),
        );
    }
    if response.analyst_fallback.is_some() {
        add(
            FollowUpKind::AnalystFallback,
            "The configured analyst failed and the rules analyst decided: check the analyst's health and cost metrics.".to_string(),
        );
    }
    for record in audit
        .iter()
        .filter(|record| record.kind == AuditKind::ConnectorFailed)
    {
        add(
            FollowUpKind::DeliveryFailed,
            format!("A connector did not deliver: {}.", clean(&record.summary)),
        );
    }
    items
}

fn summary(incident: &Incident, response: &Response, metrics: &Metrics) -> String {
    let mut text = format!(
        "{} on {} ({}).",
        clean(&incident.title),
        incident.resource,
        incident.signature
    );
    if let Some(assessment) = &incident.assessment {
        let _ = write!(
            text,
            " {} classified it {} with severity {} and confidence {:.2}.",
            clean(&assessment.analyst),
            assessment.classification.as_str(),
            assessment.severity,
            assessment.confidence
        );
    }
    let action = response
        .action
        .as_ref()
        .map(|action| format!("`{}`", action.action));
    match (response.mode, &action) {
        (None, _) => text.push_str(" No decision was recorded."),
        (Some(_), _) if response.suppressed => text
            .push_str(" A maintenance window suppressed actions; the incident was only recorded."),
        (Some(Mode::Auto), Some(action)) => {
            let _ = write!(text, " Argus ran {action} on its own.");
        }
        (Some(Mode::Approval), Some(action)) => {
            let _ = write!(text, " Argus asked a human to approve {action}");
            match (&response.approval, &response.approval_error) {
                (Some(approval), _) => {
                    let _ = write!(
                        text,
                        "; {} {} it.",
                        clean(&approval.approver),
                        if approval.approved {
                            "approved"
                        } else {
                            "rejected"
                        }
                    );
                }
                (None, Some(error)) => {
                    let _ = write!(text, "; nobody answered ({}).", error.error);
                }
                (None, None) => text.push('.'),
            }
        }
        (Some(_), _) => text.push_str(" Argus ran nothing and told people."),
    }
    if let Some(error) = &response.action_error {
        let _ = write!(text, " The action failed ({}).", error.error);
    } else if response.action_ran {
        match response
            .verification
            .as_ref()
            .map(|verification| verification.verdict.as_str())
        {
            Some("RECOVERED") => text.push_str(" Verification confirmed recovery."),
            Some(verdict) => {
                let _ = write!(text, " Verification did not confirm recovery ({verdict}).");
            }
            None => text.push_str(" Recovery was not verified."),
        }
    }
    if response.escalate || response.outcome.as_deref() == Some("escalated") {
        text.push_str(" On-call was paged.");
    }
    match (incident.status, metrics.time_to_recover_seconds) {
        (IncidentStatus::Resolved, Some(seconds)) => {
            let _ = write!(
                text,
                " Resolved {} after the incident opened.",
                human_duration(seconds)
            );
        }
        (status, _) => {
            let _ = write!(text, " The incident is {}.", status.as_str());
        }
    }
    text
}

/// Text for a table cell: one line, pipes escaped, HTML neutralised.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// Text for a Markdown line: one line, `<` neutralised so untrusted text cannot open an HTML tag.
fn inline(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('<', "&lt;")
}

/// Text inside backticks: backticks removed so it cannot close the span early.
fn code(text: &str) -> String {
    inline(text).replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Assessment, Classification, Hypothesis, PastIncident, Proposal};
    use crate::catalogue::{self, ActionId};
    use crate::config::Config;
    use crate::decision::{BudgetState, Decision};
    use crate::incident::AuditEntry;
    use crate::ports::ActionStats;
    use crate::resource::ResourceRef;
    use crate::signal::{Evidence, Signal, SignalEffect, SignalSource};
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        t0() + Duration::seconds(seconds)
    }

    fn signal() -> Signal {
        Signal {
            source_event_id: "event-1".into(),
            source: SignalSource::AlarmEventBridge,
            effect: SignalEffect::Opens,
            signature: "alarm:AWS/EC2/CPUUtilization".into(),
            resource: ResourceRef::parse("ec2:instance/i-0abc").unwrap(),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            observed_at: at(-20),
            title: "ServerCpuTooHigh is ALARM".into(),
            state: "ALARM".into(),
            alarm_kind: None,
            alarm_name: Some("ServerCpuTooHigh".into()),
            metric: None,
            severity_hint: None,
            principal: None,
            correlation_hint: None,
            origin: None,
            evidence: vec![Evidence::new(
                "alarm.reason",
                "Alarm reason",
                "Threshold Crossed: 1 datapoint [99.5] was greater than 80.0",
            )],
        }
    }

    /// An incident as the orchestrator leaves it: opened, assessed, decided, workflow started.
    struct Scenario {
        incident: Incident,
        audit: Vec<AuditRecord>,
        signals: Vec<SignalRecord>,
    }

    impl Scenario {
        fn new(mode: Mode, proposes: bool) -> Self {
            let signal = signal();
            let id = CorrelationId::derive(
                &signal.signature,
                signal.resource.as_str(),
                &signal.source_event_id,
                signal.observed_at,
            );
            let mut incident = Incident::open(id.clone(), &signal, t0());
            let mut scenario = Scenario {
                audit: Vec::new(),
                signals: vec![SignalRecord {
                    incident_id: id,
                    received_at: t0(),
                    outcome: "opened".into(),
                    signal: signal.clone(),
                }],
                incident: incident.clone(),
            };
            let action = proposes.then(|| {
                catalogue::validate(
                    "ec2.reboot",
                    &json!({"instance_id": "i-0abc"}),
                    &signal.resource,
                    &Config::default(),
                )
                .unwrap()
            });
            incident.assessment = Some(Assessment {
                analyst: "rules/v1".into(),
                classification: Classification::ResourceSaturation,
                severity: 5,
                confidence: 0.6,
                summary: "cpu".into(),
                hypotheses: vec![Hypothesis {
                    statement: "the instance is CPU-saturated".into(),
                    likelihood: 0.6,
                    evidence: vec!["alarm.reason".into(), "history.1".into()],
                }],
                proposal: proposes.then(|| Proposal {
                    action_id: "ec2.reboot".into(),
                    params: json!({"instance_id": "i-0abc"}),
                    rationale: "a reboot clears a runaway process".into(),
                }),
                usage: None,
            });
            incident.decision = Some(Decision {
                mode,
                action,
                escalate: false,
                suppressed: false,
                reasons: vec!["confidence 0.60 is below the auto threshold 0.80".into()],
                budget: proposes.then(|| BudgetState {
                    used: 1,
                    max: 3,
                    window_start: t0(),
                    window_end: at(3600),
                    cooling_down_until: None,
                }),
                decided_at: at(1),
            });
            scenario.incident = incident;
            scenario.record(0, AuditKind::IncidentOpened, "opened", json!({}));
            scenario.record(1, AuditKind::Assessed, "assessed by rules/v1", json!({}));
            scenario.record(1, AuditKind::Decided, "approval — ec2.reboot", json!({}));
            scenario.record(
                2,
                AuditKind::WorkflowStarted,
                "recovery workflow started",
                json!({}),
            );
            scenario
        }

        fn record(&mut self, seconds: i64, kind: AuditKind, summary: &str, data: Value) {
            let record = self
                .incident
                .audit(AuditEntry::new("test", kind, summary, data), at(seconds));
            self.audit.push(record);
        }

        fn approve(&mut self, approved: bool) {
            self.record(
                3,
                AuditKind::ApprovalRequested,
                "approval of ec2.reboot requested",
                json!({"action": "ec2.reboot"}),
            );
            self.record(
                93,
                AuditKind::ApprovalDecided,
                "alice approved ec2.reboot through slack",
                json!({"approved": approved, "approver": "slack:alice", "channel": "slack"}),
            );
        }

        fn outcome(&mut self, seconds: i64, outcome: &str, progress: Value) {
            let mut data = json!({"outcome": outcome});
            if let (Some(data), Some(progress)) = (data.as_object_mut(), progress.as_object()) {
                data.extend(progress.clone());
            }
            let status = match outcome {
                "recovered" => IncidentStatus::Resolved,
                "escalated" => IncidentStatus::Escalated,
                _ => IncidentStatus::Advisory,
            };
            self.incident.transition(status, at(seconds)).unwrap();
            if status == IncidentStatus::Resolved {
                self.incident.resolution =
                    Some("verified recovered by the recovery workflow".into());
            }
            self.record(seconds, AuditKind::RecoveryOutcome, outcome, data);
        }

        fn recovered(&mut self) {
            self.outcome(
                340,
                "recovered",
                json!({"action_ran": true, "action_sent_at": at(94).to_rfc3339(), "verification": {"result": {"verdict": "RECOVERED", "reasons": ["alarm is OK"]}}}),
            );
        }

        fn build(&self, history: Option<&SignatureHistory>) -> Postmortem {
            Postmortem::build(&self.incident, &self.audit, &self.signals, history)
        }
    }

    fn step(postmortem: &Postmortem, step: Step) -> &TimelineEntry {
        postmortem
            .timeline
            .iter()
            .find(|entry| entry.step == step)
            .unwrap_or_else(|| panic!("no {step:?} in {:#?}", postmortem.timeline))
    }

    fn kinds(postmortem: &Postmortem) -> Vec<FollowUpKind> {
        postmortem.follow_ups.iter().map(|item| item.kind).collect()
    }

    #[test]
    fn an_approved_and_verified_recovery_has_every_step_timed() {
        let mut scenario = Scenario::new(Mode::Approval, true);
        scenario.approve(true);
        scenario.recovered();
        let postmortem = scenario.build(None);
        let steps: Vec<Step> = postmortem.timeline.iter().map(|entry| entry.step).collect();
        assert_eq!(
            steps,
            [
                Step::FirstSignal,
                Step::Detected,
                Step::Analysed,
                Step::Decided,
                Step::ApprovalRequested,
                Step::Approved,
                Step::Acted,
                Step::Verified,
                Step::Resolved
            ]
        );
        assert_eq!(step(&postmortem, Step::FirstSignal).at, Some(at(-20)));
        assert_eq!(step(&postmortem, Step::Detected).at, Some(t0()));
        assert_eq!(step(&postmortem, Step::Analysed).at, Some(at(1)));
        assert_eq!(step(&postmortem, Step::Decided).at, Some(at(1)));
        assert_eq!(step(&postmortem, Step::ApprovalRequested).at, Some(at(3)));
        let approved = step(&postmortem, Step::Approved);
        assert_eq!(approved.at, Some(at(93)));
        assert_eq!(approved.detail, "approved by slack:alice via slack");
        assert_eq!(step(&postmortem, Step::Acted).at, Some(at(94)));
        assert_eq!(step(&postmortem, Step::Verified).at, Some(at(340)));
        assert_eq!(step(&postmortem, Step::Resolved).at, Some(at(340)));
        assert_eq!(
            postmortem.metrics,
            Metrics {
                time_to_detect_seconds: Some(20),
                time_to_act_seconds: Some(94),
                time_to_recover_seconds: Some(340),
            }
        );
        assert!(
            postmortem.follow_ups.is_empty(),
            "{:?}",
            postmortem.follow_ups
        );
        assert!(postmortem.audit.verdict.is_intact());
        let evidence = &postmortem.hypotheses[0].evidence;
        assert_eq!(evidence[0].label.as_deref(), Some("Alarm reason"));
        assert_eq!(
            evidence[1].text, None,
            "history items are not kept with the incident"
        );
        let markdown = postmortem.to_markdown();
        assert!(markdown.starts_with(&format!(
            "# Post-mortem: ServerCpuTooHigh is ALARM ({})\n",
            scenario.incident.id
        )));
        assert!(
            markdown
                .contains("| 2026-11-30 07:01:33 | approved | approved by slack:alice via slack |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| Time to recover (incident opened → resolved) | 5m 40s |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("Integrity: verified — 7 records"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| Account / region | 123456789012 / us-east-1 |"),
            "{markdown}"
        );
    }

    #[test]
    fn steps_not_reached_show_a_dash_and_are_not_invented() {
        let scenario = Scenario::new(Mode::Auto, true);
        let postmortem = scenario.build(None);
        for missing in [Step::Approved, Step::Acted, Step::Verified, Step::Resolved] {
            assert_eq!(step(&postmortem, missing).at, None, "{missing:?}");
        }
        assert_eq!(
            step(&postmortem, Step::Approved).detail,
            "not needed: auto mode"
        );
        assert!(
            !postmortem
                .timeline
                .iter()
                .any(|entry| entry.step == Step::ApprovalRequested)
        );
        assert_eq!(postmortem.metrics.time_to_recover_seconds, None);
        assert_eq!(postmortem.metrics.time_to_act_seconds, None);
        let markdown = postmortem.to_markdown();
        assert!(
            markdown.contains("| — | acted | ec2.reboot on ec2:instance/i-0abc was not run |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| Time to recover (incident opened → resolved) | — |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| Closed | — (still open) |"),
            "{markdown}"
        );
    }

    #[test]
    fn an_action_that_ran_without_a_recorded_time_says_so() {
        let mut scenario = Scenario::new(Mode::Auto, true);
        scenario.outcome(
            300,
            "recovered",
            json!({"action_ran": true, "verification": {"result": {"verdict": "RECOVERED", "reasons": []}}}),
        );
        let postmortem = scenario.build(None);
        let acted = step(&postmortem, Step::Acted);
        assert_eq!(acted.at, None);
        assert!(acted.detail.contains("its time was not recorded"));
    }

    #[test]
    fn a_failed_action_is_a_follow_up() {
        let mut scenario = Scenario::new(Mode::Auto, true);
        scenario.outcome(
            30,
            "escalated",
            json!({"action_ran": false, "action_error": {"Error": "Ec2.AccessDeniedException", "Cause": "not allowed"}, "verification": {"result": {"verdict": "NOT_CHECKED", "reasons": []}}}),
        );
        let postmortem = scenario.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::ActionFailed]);
        let acted = step(&postmortem, Step::Acted);
        assert_eq!(acted.at, None);
        assert!(
            acted
                .detail
                .contains("failed: Ec2.AccessDeniedException: not allowed")
        );
        assert_eq!(step(&postmortem, Step::Escalated).at, Some(at(30)));
        assert_eq!(step(&postmortem, Step::Verified).at, None);
    }

    #[test]
    fn a_failed_verification_is_a_follow_up() {
        let mut scenario = Scenario::new(Mode::Auto, true);
        scenario.outcome(
            600,
            "escalated",
            json!({"action_ran": true, "action_sent_at": at(5).to_rfc3339(), "verification": {"result": {"verdict": "FAILED", "reasons": ["alarm is still ALARM"]}}}),
        );
        let postmortem = scenario.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::VerificationFailed]);
        let verified = step(&postmortem, Step::Verified);
        assert_eq!(verified.at, None);
        assert!(verified.detail.contains("FAILED: alarm is still ALARM"));
        assert!(
            postmortem
                .summary
                .contains("did not confirm recovery (FAILED)")
        );
        assert!(postmortem.summary.contains("On-call was paged."));
    }

    #[test]
    fn no_catalogue_action_is_a_runbook_gap() {
        let mut scenario = Scenario::new(Mode::Advisory, false);
        scenario.outcome(3, "advisory", json!({"action_ran": false}));
        let postmortem = scenario.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::RunbookGap]);
        assert_eq!(
            step(&postmortem, Step::Approved).detail,
            "not needed: advisory only"
        );
        assert!(
            step(&postmortem, Step::Acted)
                .detail
                .starts_with("no action")
        );
    }

    #[test]
    fn a_spent_budget_is_a_follow_up_not_a_runbook_gap() {
        let mut scenario = Scenario::new(Mode::Advisory, false);
        scenario.record(
            1,
            AuditKind::BudgetSpent,
            "budget for ec2.reboot spent: 3/3 in the window",
            json!({}),
        );
        scenario.outcome(2, "escalated", json!({"action_ran": false}));
        let postmortem = scenario.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::BudgetSpent]);
        assert_eq!(
            step(&postmortem, Step::Acted).detail,
            "no action: the remediation budget was spent"
        );
        assert_eq!(step(&postmortem, Step::Escalated).at, Some(at(2)));
    }

    #[test]
    fn rejected_and_unanswered_approvals_are_follow_ups() {
        let mut rejected = Scenario::new(Mode::Approval, true);
        rejected.approve(false);
        rejected.outcome(100, "escalated", json!({"action_ran": false}));
        let postmortem = rejected.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::ApprovalRejected]);
        assert_eq!(step(&postmortem, Step::Rejected).at, Some(at(93)));
        assert!(
            !postmortem
                .timeline
                .iter()
                .any(|entry| entry.step == Step::Approved)
        );

        let mut unanswered = Scenario::new(Mode::Approval, true);
        unanswered.record(
            3,
            AuditKind::ApprovalRequested,
            "approval requested",
            json!({}),
        );
        unanswered.outcome(
            3700,
            "escalated",
            json!({"action_ran": false, "approval_error": {"Error": "States.Timeout", "Cause": "no answer"}}),
        );
        let postmortem = unanswered.build(None);
        assert_eq!(kinds(&postmortem), [FollowUpKind::ApprovalUnanswered]);
        let approved = step(&postmortem, Step::Approved);
        assert_eq!(approved.at, None);
        assert!(approved.detail.contains("States.Timeout"));
    }

    #[test]
    fn earlier_incidents_of_the_signature_are_a_recurring_follow_up() {
        let mut scenario = Scenario::new(Mode::Approval, true);
        scenario.approve(true);
        scenario.recovered();
        let past = |id: &CorrelationId, closed: i64| PastIncident {
            correlation_id: id.clone(),
            resource: scenario.incident.resource.clone(),
            action: Some("ec2.reboot".into()),
            verified: Some(true),
            time_to_recover_seconds: Some(300),
            summary: "cpu".into(),
            closed_at: at(closed),
        };
        let earlier =
            CorrelationId::parse("20261129T070000Z-alarm-aws-ec2-cpuutilization-000000000000")
                .unwrap();
        // The patterns table already learned this incident too: it does not count as earlier.
        let history = SignatureHistory {
            actions: vec![(
                ActionId::Ec2Reboot,
                ActionStats {
                    attempts: 2,
                    verified_successes: 2,
                    ..ActionStats::default()
                },
            )],
            incidents: vec![past(&scenario.incident.id, 340), past(&earlier, -86_400)],
        };
        let postmortem = scenario.build(Some(&history));
        assert_eq!(kinds(&postmortem), [FollowUpKind::RecurringSignature]);
        let recurrence = postmortem.recurrence.as_ref().unwrap();
        assert_eq!(recurrence.earlier_incidents, [earlier]);
        assert_eq!(recurrence.action_attempts, Some(2));
        assert!(postmortem.to_markdown().contains(
            "1 earlier resolved incident(s); the action has run 2 time(s) on it, 2 verified"
        ));

        let alone = SignatureHistory {
            actions: Vec::new(),
            incidents: vec![past(&scenario.incident.id, 340)],
        };
        assert!(scenario.build(Some(&alone)).follow_ups.is_empty());
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes_whatever_the_audit_order() {
        let mut scenario = Scenario::new(Mode::Approval, true);
        scenario.approve(true);
        scenario.recovered();
        let first = scenario.build(None);
        let mut shuffled = scenario.audit.clone();
        shuffled.reverse();
        let second = Postmortem::build(&scenario.incident, &shuffled, &scenario.signals, None);
        assert_eq!(first, second);
        assert_eq!(first.to_markdown(), second.to_markdown());
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
    }

    #[test]
    fn a_tampered_trail_is_reported_and_becomes_a_follow_up() {
        let mut scenario = Scenario::new(Mode::Approval, true);
        scenario.approve(true);
        scenario.recovered();
        scenario.audit[1].summary = "edited".into();
        let postmortem = scenario.build(None);
        assert!(!postmortem.audit.verdict.is_intact());
        assert_eq!(kinds(&postmortem), [FollowUpKind::AuditChainBroken]);
        assert!(
            postmortem
                .to_markdown()
                .contains("Integrity: **BROKEN** at record 1")
        );
    }

    #[test]
    fn untrusted_text_cannot_break_the_markdown() {
        let mut scenario = Scenario::new(Mode::Auto, true);
        scenario.incident.title = "bad | title <script>alert(1)</script>\n# injected".into();
        scenario.signals[0].signal.title = scenario.incident.title.clone();
        let markdown = scenario.build(None).to_markdown();
        assert!(!markdown.contains("<script>"), "{markdown}");
        assert!(!markdown.contains("\n# injected"), "{markdown}");
        assert!(markdown.contains("bad \\| title &lt;script>"), "{markdown}");
    }

    #[test]
    fn a_source_clock_ahead_of_argus_shows_as_a_negative_time_to_detect() {
        let mut scenario = Scenario::new(Mode::Auto, true);
        scenario.signals[0].signal.observed_at = at(30);
        let postmortem = scenario.build(None);
        assert_eq!(postmortem.metrics.time_to_detect_seconds, Some(-30));
        assert!(
            postmortem
                .to_markdown()
                .contains("| Time to detect (first signal → incident opened) | -30s |")
        );
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(337), "5m 37s");
        assert_eq!(human_duration(7500), "2h 05m");
        assert_eq!(human_duration(273_600), "3d 04h");
    }
}
