//! The post-mortem as data: every section a value, serialised as is for `--json` and read by
//! the Markdown writer and the connectors.

use crate::correlation::CorrelationId;
use crate::decision::Mode;
use crate::incident::{AuditKind, ChainVerdict, IncidentStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// How each signal was taken in (opened, attached, resolved, self-caused), by count: the
    /// recorded ones and those only counted.
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

/// Entries of one group that repeated past what an incident records one by one: how many were
/// recorded, how many only counted, and when the counted ones came.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepeatedEntries {
    pub kind: AuditKind,
    /// The last counted entry's summary (untrusted text inside: escaped where shown).
    pub summary: String,
    pub recorded: u32,
    pub counted: u64,
    pub first_counted_at: Option<DateTime<Utc>>,
    pub last_counted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditIntegrity {
    pub verdict: ChainVerdict,
    pub records: usize,
    /// Entries counted and not recorded one by one (sealed to the chain's head), per group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated: Vec<RepeatedEntries>,
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

pub(super) fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
