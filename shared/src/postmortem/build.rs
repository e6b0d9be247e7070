//! `Postmortem::build`: the post-mortem derived from the incident, its audit trail, its signals
//! and its signature's history, with no clock and no randomness.

use super::model::*;
use crate::decision::Mode;
use crate::incident::{AuditKind, AuditRecord, Incident, IncidentStatus, verify_chain};
use crate::ports::{SignalRecord, SignatureHistory};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest piece of untrusted text (alarm reasons, log samples, alert text) quoted in a post-mortem.
const MAX_QUOTED_BYTES: usize = 240;

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
        for tally in incident.audit_tallies.values().filter(|tally| {
            matches!(
                tally.kind,
                AuditKind::SignalAttached | AuditKind::SelfCausedAttached
            )
        }) {
            let outcome = tally
                .data
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("attached");
            let counted = u32::try_from(tally.counted).unwrap_or(u32::MAX);
            let total = outcomes.entry(clean(outcome)).or_default();
            *total = total.saturating_add(counted);
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

        let mut repeated: Vec<RepeatedEntries> = incident
            .audit_tallies
            .values()
            .filter(|tally| tally.counted > 0)
            .map(|tally| RepeatedEntries {
                kind: tally.kind,
                summary: clean(&tally.summary),
                recorded: tally.recorded,
                counted: tally.counted,
                first_counted_at: tally.first_at,
                last_counted_at: tally.last_at,
            })
            .collect();
        // Stable: most counted first, then by what they say.
        repeated.sort_by(|a, b| {
            b.counted
                .cmp(&a.counted)
                .then_with(|| a.summary.cmp(&b.summary))
        });
        let audit_integrity = AuditIntegrity {
            verdict,
            records: audit.len(),
            repeated,
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
