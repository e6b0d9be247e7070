//! Deciding an incident: guards, context, analysis, validation, budget and the workflow start.

use super::*;
use crate::catalogue::RiskClass;
use crate::ports::ActionStats;

impl Intake<'_> {
    /// Takes a new (or stalled) incident through guards, analysis, decision and workflow start.
    pub(super) async fn advance(
        &self,
        incident: Incident,
        signal: &Signal,
        mut report: SignalReport,
    ) -> Result<SignalReport, IntakeError> {
        let id = incident.id.clone();
        let mut incident = incident;
        if incident.decision.is_none() {
            let (decision, assessment, mut audit) = self
                .assess_and_decide(&incident, signal, &mut report)
                .await?;
            let status = status_for(&decision);
            let decided_at = decision.decided_at;
            audit.push(AuditEntry::new(ACTOR, AuditKind::Decided, decision_summary(&decision), json!({"mode": decision.mode, "escalate": decision.escalate, "suppressed": decision.suppressed, "reasons": decision.reasons, "action": decision.action.as_ref().map(|a| a.action)})));
            let written = self
                .update(&id, Some(incident), |incident| {
                    // A concurrent resumer decided first: its decision stands, and the workflow
                    // start below is named by the incident, so both arrive at one execution.
                    if !incident.status.is_open() || incident.decision.is_some() {
                        return Vec::new();
                    }
                    incident.assessment = assessment
                        .as_ref()
                        .map(|validated| validated.assessment.clone());
                    incident.decision = Some(decision.clone());
                    incident.progressed_at = Some(decided_at);
                    // The status write cannot fail: the incident is open and `status_for` never says `open`.
                    let _ = incident.transition(status, decided_at);
                    audit.clone()
                })
                .await?;
            report.assessment = assessment;
            report.decision = Some(decision);
            match written {
                Some(updated) => {
                    // The decision that stands, which is another resumer's if it wrote first.
                    if updated.decision.is_some() {
                        report.decision = updated.decision.clone();
                    }
                    incident = updated;
                }
                None => return Ok(report),
            }
        } else {
            report.decision = incident.decision.clone();
        }
        report = report.with_incident(&incident);
        let Some(decision) = incident.decision.clone() else {
            return Ok(report);
        };
        if decision.suppressed {
            report.step("workflow", "not started: actions are suppressed");
            return Ok(report);
        }
        if !incident.status.is_open() {
            report.step("workflow", "not started: the incident closed meanwhile");
            return Ok(report);
        }
        if incident.execution.is_none() {
            let input = json!({"correlation_id": id, "incident": incident, "decision": decision, "recovery": self.config.recovery});
            let started = self.workflow.start(&id, &input).await?;
            let now = self.clock.now();
            let execution = crate::incident::ExecutionRef {
                name: id.to_string(),
                id: started.execution_id.clone(),
                started_at: now,
            };
            let entry = AuditEntry::new(
                ACTOR,
                AuditKind::WorkflowStarted,
                if started.already_started {
                    "recovery workflow was already running"
                } else {
                    "recovery workflow started"
                },
                json!({"execution": started.execution_id, "mode": decision.mode}),
            );
            if let Some(updated) = self
                .update(&id, Some(incident), |incident| {
                    incident.execution = Some(execution.clone());
                    incident.progressed_at = Some(execution.started_at);
                    vec![entry.clone()]
                })
                .await?
            {
                report = report.with_incident(&updated);
            }
            report.step(
                "workflow",
                format!(
                    "{} execution {} ({} mode)",
                    if started.already_started {
                        "found running"
                    } else {
                        "started"
                    },
                    started.execution_id,
                    decision.mode.as_str()
                ),
            );
            tracing::info!(execution = %started.execution_id, mode = decision.mode.as_str(), "recovery workflow started");
            report.workflow = Some(started);
        }
        Ok(report)
    }

    pub(super) async fn assess_and_decide(
        &self,
        incident: &Incident,
        signal: &Signal,
        report: &mut SignalReport,
    ) -> Result<(Decision, Option<ValidatedAssessment>, Vec<AuditEntry>), IntakeError> {
        let now = self.clock.now();
        let mut audit = Vec::new();
        let resource = &incident.resource;
        let signature = &incident.signature;
        let overrides: Vec<_> = self
            .config
            .overrides
            .iter()
            .filter(|o| o.applies_to(resource.as_str(), signature))
            .collect();

        // Suppression comes first: a maintenance window keeps the record but spends nothing.
        if let Some(window) = self
            .config
            .active_maintenance(resource.as_str(), signature, now)
        {
            report.step(
                "guards",
                format!("suppressed by maintenance window `{}`", window.name),
            );
            audit.push(AuditEntry::new(
                ACTOR,
                AuditKind::Suppressed,
                format!("maintenance window `{}` is active", window.name),
                json!({"window": window.name}),
            ));
            let decision = Decision {
                mode: Mode::Advisory,
                action: None,
                escalate: false,
                suppressed: true,
                reasons: vec![format!(
                    "maintenance window `{}` suppresses actions",
                    window.name
                )],
                budget: None,
                decided_at: now,
            };
            return Ok((decision, None, audit));
        }

        // What was learned about the signature (one patterns-table query for the action stats
        // and the past incidents) and what happened on the resource (one query), read together.
        let scan_limit = RESOURCE_SCAN_LIMIT.max(self.config.analysis.recent_changes_limit + 1);
        let (learned, on_resource) = tokio::try_join!(
            self.patterns
                .signature_history(signature, self.config.analysis.history_limit),
            self.store.incidents_on(resource, scan_limit),
        )?;
        let look_back_from = now - self.config.budget.look_back();
        let budget_possibly_used =
            budget_possibly_used(&on_resource, &incident.id, look_back_from, scan_limit);
        let mut context = AnalysisContext::assemble(ContextInputs {
            incident_id: incident.id.clone(),
            signal,
            learned,
            resource_incidents: on_resource,
            now,
            config: self.config,
        });
        report.context_tokens = Some(context.estimated_tokens());
        // The budget of the action this signal's playbook calls for is checked before any
        // analysis is paid for: a spent budget can only escalate.
        let usage = if budget_possibly_used {
            self.store
                .budget_usage(resource, now, self.config.budget.window())
                .await?
        } else {
            Vec::new()
        };
        let playbook =
            validate_assessment(RulesAnalyst.assess(&context), &context, self.config).ok();
        if let Some(action) = playbook
            .as_ref()
            .and_then(|validated| validated.action.as_ref())
            .filter(|a| a.action.is_remediation())
        {
            let budget = self.budget_state(&usage, action.action, &incident.id, now);
            if budget.is_spent() {
                report.step(
                    "guards",
                    format!(
                        "remediation budget for {} spent ({}/{}); no analysis",
                        action.action, budget.used, budget.max
                    ),
                );
                audit.push(AuditEntry::new(
                    ACTOR,
                    AuditKind::BudgetSpent,
                    format!(
                        "budget for {} spent: {}/{} in the window",
                        action.action, budget.used, budget.max
                    ),
                    json!({"action": action.action, "used": budget.used, "max": budget.max}),
                ));
                let validated = playbook
                    .clone()
                    .unwrap_or_else(|| unreachable_validated(&context));
                let decision = decide(DecisionInput {
                    validated: &validated,
                    budget: Some(budget),
                    maintenance: None,
                    overrides,
                    policy: &self.config.decision,
                    track_record: Some(context.stats(action.action)),
                    now,
                });
                return Ok((decision, None, audit));
            }
        }
        report.step(
            "guards",
            "passed: not a duplicate, no maintenance window, budget available",
        );
        report.step(
            "context",
            format!(
                "{} evidence items, {} past incidents, {} recent changes, ~{} tokens (budget {})",
                context.items.len(),
                context.history.len(),
                context.changes.len(),
                context.estimated_tokens(),
                context.budget_tokens
            ),
        );
        if let Some(note) = context.budget_note() {
            report.step("context", note);
        }

        self.investigate(signal, &mut context, report, &mut audit)
            .await;
        let validated = self.analyse(&context, &mut audit).await;
        // A refused answer or a failed call is said where people read the path, not only in
        // the audit trail.
        if let Some(fallback) = audit
            .iter()
            .rev()
            .find(|entry| entry.kind == AuditKind::AnalystFallback)
        {
            report.step("fallback", fallback.summary.clone());
        }
        report.step(
            "assessment",
            format!(
                "{} says {:?}, severity {}, confidence {:.2}; proposes {}",
                validated.assessment.analyst,
                validated.assessment.classification,
                validated.assessment.severity,
                validated.assessment.confidence,
                validated
                    .action
                    .as_ref()
                    .map_or("nothing".to_string(), |a| a.action.to_string())
            ),
        );

        let proposed = validated
            .action
            .as_ref()
            .filter(|a| a.action.is_remediation())
            .map(|a| a.action);
        let budget = proposed.map(|action| self.budget_state(&usage, action, &incident.id, now));
        let track_record = self.ladder_record(incident, &validated).await?;
        let mut decision = decide(DecisionInput {
            validated: &validated,
            budget: budget.clone(),
            maintenance: None,
            overrides: overrides.clone(),
            policy: &self.config.decision,
            track_record: track_record.clone(),
            now,
        });
        // What Argus read about the incident limits what the analyst's proposal may become,
        // before any budget is spent on it.
        let ceilings = [
            self.deliberate_stop(signal, proposed).await?,
            external_never_auto(incident),
        ];
        for ceiling in ceilings.iter().flatten() {
            crate::decision::apply_ceiling(&mut decision, ceiling);
        }
        // Read only when an action would still run: the tags of the resource it runs on.
        if let Some(ceiling) = self
            .tag_ceiling(incident, &decision, report, &mut audit)
            .await
        {
            crate::decision::apply_ceiling(&mut decision, &ceiling);
        }
        if let Some(action) = decision
            .action
            .as_ref()
            .filter(|a| !a.provenance.is_empty())
        {
            let sources: Vec<String> = action
                .provenance
                .iter()
                .map(|entry| {
                    crate::signal::cap_text(
                        &format!(
                            "{}={} from {}",
                            entry.parameter,
                            entry.value,
                            entry.source.describe()
                        ),
                        160,
                    )
                })
                .collect();
            report.step("parameters", sources.join("; "));
        }
        if let (Some(action), Mode::Auto | Mode::Approval) =
            (decision.action.as_ref().map(|a| a.action), decision.mode)
        {
            // An action on a root-cause candidate spends that resource's budget.
            let budgeted = decision
                .action
                .as_ref()
                .filter(|validated| validated.on_candidate)
                .and_then(|validated| validated.target.clone())
                .unwrap_or_else(|| resource.clone());
            let key = BudgetKey {
                resource: budgeted,
                action,
            };
            let limits = self.config.budget.limits();
            let mut budget_now = budget
                .clone()
                .unwrap_or_else(|| self.budget_state(&[], action, &incident.id, now));
            match self
                .store
                .consume_budget(&key, &limits, &incident.id, now)
                .await?
            {
                BudgetOutcome::Granted { used } => {
                    budget_now.used = used;
                    decision.budget = Some(budget_now);
                    report.step(
                        "budget",
                        format!(
                            "attempt {used} of {} for {action} in this window",
                            self.config.budget.max_attempts
                        ),
                    );
                    audit.push(AuditEntry::new(
                        ACTOR,
                        AuditKind::BudgetConsumed,
                        format!(
                            "attempt {used} of {} for {action}",
                            self.config.budget.max_attempts
                        ),
                        json!({"action": action, "used": used}),
                    ));
                }
                BudgetOutcome::Spent { used } => {
                    // Spent is spent, whatever count came with it: never act on it.
                    budget_now.used = used.max(budget_now.max);
                    decision = decide(DecisionInput {
                        validated: &validated,
                        budget: Some(budget_now),
                        maintenance: None,
                        overrides,
                        policy: &self.config.decision,
                        track_record: track_record.clone(),
                        now,
                    });
                    report.step(
                        "budget",
                        format!(
                            "spent by a concurrent attempt ({used}/{}); escalating",
                            self.config.budget.max_attempts
                        ),
                    );
                }
                BudgetOutcome::CoolingDown {
                    used,
                    last_attempt_at,
                } => {
                    budget_now.used = used;
                    budget_now.cooling_down_until = Some(last_attempt_at + limits.cooldown);
                    decision = decide(DecisionInput {
                        validated: &validated,
                        budget: Some(budget_now),
                        maintenance: None,
                        overrides,
                        policy: &self.config.decision,
                        track_record: track_record.clone(),
                        now,
                    });
                    report.step("budget", "cooling down after a recent attempt; escalating");
                }
            }
        }
        report.step("decision", decision_summary(&decision));
        report.context = Some(context);
        Ok((decision, Some(validated), audit))
    }

    /// What the autonomy ladder knows of the proposed action on this resource for this
    /// signature, read only when it can decide anything: a confident, low-risk proposal, on an
    /// incident no external source opened, under a ladder that is on.
    async fn ladder_record(
        &self,
        incident: &Incident,
        validated: &ValidatedAssessment,
    ) -> Result<Option<ActionStats>, IntakeError> {
        let Some(action) = validated
            .action
            .as_ref()
            .filter(|action| action.action.is_remediation())
        else {
            return Ok(None);
        };
        let policy = &self.config.decision;
        let can_climb = action.risk == RiskClass::Low
            && validated.assessment.confidence >= policy.auto_confidence
            && policy.verified_successes_for_auto > 0
            && external_never_auto(incident).is_none();
        if !can_climb {
            return Ok(Some(ActionStats::default()));
        }
        let key = crate::analysis::ladder_key(&incident.resource, &incident.signature);
        Ok(Some(self.patterns.action_stats(&key, action.action).await?))
    }

    /// Asks the configured analyst, and falls back to the rules when it fails or its answer
    /// does not validate; the audit trail says why.
    /// Runs the investigation, when one is configured, and takes its findings into the
    /// context; the report and the audit trail say what it found, what it could not look up,
    /// or why it did not run.
    async fn investigate(
        &self,
        signal: &Signal,
        context: &mut AnalysisContext,
        report: &mut SignalReport,
        audit: &mut Vec<AuditEntry>,
    ) {
        let Some(investigator) = self.investigator else {
            return;
        };
        match investigator.investigate(signal).await {
            Ok(findings) => {
                let candidates: Vec<String> = findings
                    .candidates
                    .iter()
                    .map(|candidate| format!("{} ({:.2})", candidate.node, candidate.score))
                    .collect();
                let localisation = match (findings.candidates.first(), findings.graph_size) {
                    (Some(top), _) => {
                        format!("{} candidate(s), {} first", candidates.len(), top.node)
                    }
                    (None, Some(_)) => "nothing downstream to blame".to_owned(),
                    (None, None) => "not localised".to_owned(),
                };
                let mut summary = format!(
                    "around {}: {localisation}; {} change(s)",
                    findings.target.node,
                    findings.changes.len()
                );
                if !findings.resource_metrics.is_empty() {
                    let shifted = findings
                        .resource_metrics
                        .iter()
                        .filter(|shift| shift.shifted())
                        .count();
                    summary.push_str(&format!(
                        "; {shifted} of {} resource metric(s) away from normal",
                        findings.resource_metrics.len()
                    ));
                }
                let missing: Vec<String> = findings
                    .missing
                    .iter()
                    .map(|missing| format!("{}: {}", missing.source, missing.reason))
                    .collect();
                report.step(
                    "findings",
                    if missing.is_empty() {
                        summary.clone()
                    } else {
                        format!("{summary}; not looked up: {}", missing.join("; "))
                    },
                );
                audit.push(AuditEntry::new(
                    ACTOR,
                    AuditKind::Investigated,
                    summary,
                    json!({"node": findings.target.node, "candidates": candidates, "changes": findings.changes.len(), "resource_metrics_away": findings.resource_metrics.iter().filter(|shift| shift.shifted()).map(|shift| shift.metric_name.clone()).collect::<Vec<_>>(), "missing": missing}),
                ));
                context.add_findings(findings, self.config);
            }
            Err(reason) => {
                report.step("findings", format!("no investigation: {reason}"));
                audit.push(AuditEntry::new(
                    ACTOR,
                    AuditKind::Investigated,
                    format!("not investigated: {reason}"),
                    json!({"reason": reason.to_string()}),
                ));
            }
        }
    }

    pub(super) async fn analyse(
        &self,
        context: &AnalysisContext,
        audit: &mut Vec<AuditEntry>,
    ) -> ValidatedAssessment {
        let (failure, spent) = match self.analyst.assess(context).await {
            Ok(assessment) => {
                let usage = assessment.usage.clone();
                match validate_assessment(assessment, context, self.config) {
                    Ok(validated) => {
                        audit.push(assessed_entry(&validated, context));
                        return validated;
                    }
                    Err(error) => (format!("the answer failed validation: {error}"), usage),
                }
            }
            Err(error) => (error.to_string(), error.usage().cloned()),
        };
        tracing::warn!(analyst = self.analyst.name(), reason = %failure, "falling back to the rules analyst");
        audit.push(AuditEntry::new(
            ACTOR,
            AuditKind::AnalystFallback,
            format!(
                "{} failed; the rules analyst decided: {failure}",
                self.analyst.name()
            ),
            json!({"analyst": self.analyst.name(), "reason": failure}),
        ));
        let mut validated = validate_assessment(RulesAnalyst.assess(context), context, self.config)
            .unwrap_or_else(|_| unreachable_validated(context));
        // The refused answer's tokens were paid for: they stay on the incident's record.
        validated.assessment.usage = spent;
        audit.push(assessed_entry(&validated, context));
        validated
    }

    /// The budget of `action` as `incident` sees it. An incident decided again (its first
    /// decision was never written) may already hold one attempt of the window: that attempt
    /// was checked when it was granted, so it is neither counted against the incident again
    /// nor cools it down; `consume_budget` grants it again without counting.
    pub(super) fn budget_state(
        &self,
        usage: &[BudgetUsage],
        action: ActionId,
        incident: &CorrelationId,
        now: DateTime<Utc>,
    ) -> BudgetState {
        let policy = &self.config.budget;
        let found = usage.iter().find(|entry| entry.action == action);
        let held = found.is_some_and(|entry| entry.consumers.contains(incident));
        let cooldown = policy.cooldown();
        let cooling_down_until = found
            .map(|entry| entry.last_attempt_at + cooldown)
            .filter(|until| !held && policy.cooldown_seconds > 0 && *until > now);
        // Sliding: the window ends now, and an attempt frees up when the oldest one leaves it.
        let frees_up_at = found
            .and_then(|entry| entry.oldest_in_window)
            .map_or(now, |oldest| oldest + policy.window());
        BudgetState {
            used: found.map_or(0, |entry| entry.used.saturating_sub(u32::from(held))),
            max: policy.max_attempts,
            window_start: now - policy.window(),
            window_end: frees_up_at,
            cooling_down_until,
        }
    }
}

/// The audit record of an assessment: who assessed, what it cost, and what the context held
/// (its size against the budget, and the items dropped to stay within it).
pub(super) fn assessed_entry(
    validated: &ValidatedAssessment,
    context: &AnalysisContext,
) -> AuditEntry {
    let assessment = &validated.assessment;
    let mut summary = format!("assessed by {}", assessment.analyst);
    if let Some(usage) = &assessment.usage {
        summary.push_str(&format!(
            " ({} input and {} output tokens of {})",
            usage.input_tokens, usage.output_tokens, usage.model
        ));
    }
    if let Some(note) = context.budget_note() {
        summary.push_str(&format!("; {note}"));
    }
    let items: Vec<&str> = context.items.iter().map(|item| item.id.as_str()).collect();
    AuditEntry::new(
        ACTOR,
        AuditKind::Assessed,
        summary,
        json!({
            "assessment": assessment,
            "notes": validated.notes,
            "context": {
                "estimated_tokens": context.estimated_tokens(),
                "budget_tokens": context.budget_tokens,
                "items": items,
                "dropped": context.dropped,
            },
        }),
    )
}

/// Whether any of the resource's remediation budget can have been used in the window that
/// starts at `window_start`. Budget is only ever spent by a decision on an incident of this
/// resource, which then writes that incident; so when the listing is complete and no other
/// incident on the resource is open or was written since the window started, nothing was used
/// and the budget read is skipped. Being wrong (a listing that lags a concurrent writer) can
/// only cost one analysis: the conditional consume that follows stays the guard.
pub(super) fn budget_possibly_used(
    on_resource: &[Incident],
    this: &CorrelationId,
    window_start: DateTime<Utc>,
    scan_limit: usize,
) -> bool {
    on_resource.len() >= scan_limit
        || on_resource.iter().any(|incident| {
            &incident.id != this
                && (incident.status.is_open() || incident.updated_at >= window_start)
        })
}

pub(super) fn status_for(decision: &Decision) -> IncidentStatus {
    if decision.suppressed {
        IncidentStatus::Suppressed
    } else if decision.escalate && decision.mode == Mode::Advisory {
        IncidentStatus::Escalated
    } else {
        match decision.mode {
            Mode::Auto => IncidentStatus::Recovering,
            Mode::Approval => IncidentStatus::AwaitingApproval,
            Mode::Advisory => IncidentStatus::Advisory,
        }
    }
}

pub fn decision_summary(decision: &Decision) -> String {
    let action = decision
        .action
        .as_ref()
        .map_or("no action".to_string(), |a| a.action.to_string());
    let mut summary = format!("{} — {action}", decision.mode.as_str());
    if decision.escalate {
        summary.push_str(", escalate");
    }
    if decision.suppressed {
        summary.push_str(", suppressed");
    }
    if !decision.reasons.is_empty() {
        summary.push_str(&format!(" ({})", decision.reasons.join("; ")));
    }
    summary
}

/// The rules analyst's answers always validate; should one ever not, this advisory stand-in
/// keeps the path safe (it proposes nothing, so nothing can run).
pub(super) fn unreachable_validated(context: &AnalysisContext) -> ValidatedAssessment {
    ValidatedAssessment {
        assessment: crate::analysis::Assessment {
            analyst: RulesAnalyst::NAME.to_string(),
            classification: crate::analysis::Classification::Unknown,
            severity: 5,
            confidence: 0.0,
            summary: format!("{} on {}", context.signal.title, context.resource),
            hypotheses: Vec::new(),
            proposal: None,
            usage: None,
        },
        action: None,
        notes: vec!["the rules analyst's proposal did not validate; advising only".to_string()],
    }
}

/// An incident an external source opened (a vendor webhook) is never acted on without a
/// person: what it says about the resource is the sender's word, not something Argus read.
fn external_never_auto(incident: &Incident) -> Option<crate::decision::Ceiling> {
    (incident.source == SignalSource::ExternalAlert).then(|| crate::decision::Ceiling {
        mode: Mode::Approval,
        reason:
            "an external source's alert never makes an action run on its own; a person approves it"
                .to_string(),
    })
}
