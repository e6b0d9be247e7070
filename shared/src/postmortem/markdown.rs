//! The post-mortem as Markdown: deterministic bytes, every piece of untrusted text escaped for
//! Markdown (the CLI prints it, the connectors publish it to S3 and Confluence).

use super::model::*;
use crate::escape;
use crate::incident::ChainVerdict;
use std::fmt::Write as _;

/// An audit kind as its snake_case name (`approval_refused`).
fn kind_label(kind: crate::incident::AuditKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Postmortem {
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
        let _ = writeln!(out, "| Resource | `{}` |", code_cell(&impact.resource));
        let _ = writeln!(out, "| Signature | `{}` |", code_cell(&impact.signature));
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
        if !self.audit.repeated.is_empty() {
            let _ = writeln!(
                out,
                "\nRepeated entries, counted rather than recorded one by one (the counts are sealed to the chain's head):\n"
            );
            for repeated in &self.audit.repeated {
                let between = match (repeated.first_counted_at, repeated.last_counted_at) {
                    (Some(first), Some(last)) => {
                        format!(" between {} and {}", utc(first), utc(last))
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "- {}: {} in all ({} recorded, {} counted{between}); the last: {}",
                    kind_label(repeated.kind),
                    u64::from(repeated.recorded) + repeated.counted,
                    repeated.recorded,
                    repeated.counted,
                    inline(&repeated.summary)
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

/// Text for a table cell or a Markdown line: see `escape::markdown_inline`.
fn cell(text: &str) -> String {
    escape::markdown_inline(text)
}

/// Text for a Markdown line (a list item, the summary paragraph).
fn inline(text: &str) -> String {
    escape::markdown_inline(text)
}

/// Text inside backticks in a list: backticks cannot close the span early.
fn code(text: &str) -> String {
    escape::markdown_code(text, false)
}

/// Text inside backticks in a table cell, where `|` would also end the cell.
fn code_cell(text: &str) -> String {
    escape::markdown_code(text, true)
}
