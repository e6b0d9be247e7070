//! Routing a signal to its incident: opening, attaching, clearing, self-caused changes,
//! unattached and re-delivered events.

use super::*;

impl Intake<'_> {
    pub(super) async fn open_or_attach(
        &self,
        signal: &Signal,
    ) -> Result<SignalReport, IntakeError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            conflict_backoff(attempt).await;
            let now = self.clock.now();
            let id = CorrelationId::derive(
                &signal.signature,
                signal.resource.as_str(),
                &signal.source_event_id,
                signal.observed_at,
            );
            note_correlation(&id);
            let mut incident = Incident::open(id.clone(), signal, now);
            incident.timing = Some(IncidentTiming::from_config(self.config, signal.source));
            let audit = [incident.audit(
                AuditEntry::new(ACTOR, AuditKind::IncidentOpened, format!("opened by {}: {}", signal.source.label(), signal.title), json!({"source_event_id": signal.source_event_id, "signature": signal.signature, "resource": signal.resource})),
                now,
            )];
            let record = SignalRecord {
                incident_id: id.clone(),
                received_at: now,
                outcome: Outcome::Opened.as_str().to_string(),
                signal: signal.clone(),
            };
            let claim = self.claim(signal, Some(&id), now);
            let outcome = self
                .store
                .open_incident(NewIncident {
                    incident: &incident,
                    claim: &claim,
                    signal: &record,
                    audit: &audit,
                })
                .await?;
            match outcome {
                OpenOutcome::Opened => {
                    let mut report = SignalReport::new(signal, Outcome::Opened);
                    report.step(
                        "incident",
                        format!(
                            "new incident {id} for {} / {}",
                            signal.resource, signal.signature
                        ),
                    );
                    return self.advance(incident, signal, report).await;
                }
                OpenOutcome::Duplicate { correlation_id } => {
                    return self.duplicate(signal, correlation_id).await;
                }
                OpenOutcome::Stale { cleared_at } => {
                    let mut report = self
                        .unattached(
                            signal,
                            &format!(
                                "not opened: its source cleared at {}, after this signal ({}); a late delivery of a problem already over",
                                cleared_at.to_rfc3339(),
                                signal.observed_at.to_rfc3339()
                            ),
                        )
                        .await?;
                    if report.outcome == Outcome::Unattached {
                        report.outcome = Outcome::Stale;
                    }
                    return Ok(report);
                }
                OpenOutcome::AlreadyOpen { correlation_id } => {
                    if let Some(report) = self
                        .attach(&correlation_id, signal, Outcome::Attached)
                        .await?
                    {
                        return Ok(report);
                    }
                    // The open incident closed between the two writes: try to open again.
                }
            }
        }
        Err(IntakeError::Contended(signal.source_event_id.clone()))
    }

    /// Records `signal` against an open incident. `None` when the incident is no longer open.
    pub(super) async fn attach(
        &self,
        id: &CorrelationId,
        signal: &Signal,
        outcome: Outcome,
    ) -> Result<Option<SignalReport>, IntakeError> {
        note_correlation(id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            conflict_backoff(attempt).await;
            let Some(mut incident) = self.store.incident(id).await? else {
                return Ok(None);
            };
            if !incident.status.is_open() {
                return Ok(None);
            }
            let now = self.clock.now();
            // While the incident is open only its own writes change what the store remembers of
            // an origin, so this read cannot go stale before the conditional write below.
            if outcome == Outcome::Attached && incident.needs_origin_history(signal) {
                let origin = signal.origin_key();
                if let Some(cleared_at) = self.store.origin_cleared_at(&origin, now).await? {
                    incident.remember_clear(origin, cleared_at);
                }
            }
            let expected_revision = incident.revision;
            incident.revision += 1;
            incident.signal_count += 1;
            incident.last_signal_at = incident.last_signal_at.max(signal.observed_at);
            incident.updated_at = now;
            // Self-caused changes are Argus' own record; every other signal speaks for its origin.
            let verdict = (outcome == Outcome::Attached).then(|| incident.observe(signal));
            let outcome = match &verdict {
                Some(SignalVerdict::Cleared) => Outcome::Resolved,
                Some(SignalVerdict::Stale { .. }) => Outcome::Stale,
                _ => outcome,
            };
            let origin_clear = match &verdict {
                Some(SignalVerdict::Cleared | SignalVerdict::PartlyCleared { .. }) => {
                    Some(self.origin_clear(signal, now))
                }
                _ => None,
            };
            let (kind, summary) = match (&verdict, outcome) {
                (_, Outcome::Resolved) => (
                    AuditKind::Cleared,
                    format!("cleared by {}: {}", signal.source.label(), signal.title),
                ),
                (_, Outcome::SelfCaused) => (
                    AuditKind::SelfCausedAttached,
                    format!("Argus' own change recorded: {}", signal.title),
                ),
                (Some(SignalVerdict::Stale { known_as_of }), _) => (
                    AuditKind::SignalAttached,
                    format!(
                        "stale signal recorded and ignored: {} ({}) is older than what its source said at {}",
                        signal.title,
                        signal.observed_at.to_rfc3339(),
                        known_as_of.to_rfc3339()
                    ),
                ),
                (Some(SignalVerdict::PartlyCleared { still_firing }), _) => (
                    AuditKind::SignalAttached,
                    format!(
                        "{} cleared; the incident stays open while {} still fire{}",
                        signal.title,
                        still_firing.join(", "),
                        if still_firing.len() == 1 { "s" } else { "" }
                    ),
                ),
                _ => (
                    AuditKind::SignalAttached,
                    format!("signal attached: {}", signal.title),
                ),
            };
            // Repeats of one origin's state are counted rather than recorded one by one
            // (`Incident::record`; the group is the origin, state, outcome and principal), and
            // their signal is recorded only when their audit record is.
            let attached = incident.record(
                AuditEntry::new(
                    ACTOR,
                    kind,
                    summary,
                    json!({
                        "source_event_id": signal.source_event_id,
                        "state": signal.state,
                        "origin": signal.origin_key(),
                        "outcome": outcome.as_str(),
                        "principal": signal.principal,
                    }),
                ),
                now,
            );
            let counted_only = attached.is_none();
            let mut audit: Vec<_> = attached.into_iter().collect();
            if outcome == Outcome::Resolved {
                incident.transition(IncidentStatus::Resolved, now)?;
                incident.resolution = Some(format!(
                    "{} reported {}",
                    signal.source.label(),
                    signal.state
                ));
                audit.push(incident.audit(
                    AuditEntry::new(
                        ACTOR,
                        AuditKind::StatusChanged,
                        "resolved: the source reports the problem gone",
                        json!({"status": "resolved"}),
                    ),
                    now,
                ));
            }
            let record = SignalRecord {
                incident_id: id.clone(),
                received_at: now,
                outcome: outcome.as_str().to_string(),
                signal: signal.clone(),
            };
            let claim = self.claim(signal, Some(id), now);
            let write = IncidentWrite {
                incident: &incident,
                expected_revision,
                closes: outcome == Outcome::Resolved,
                claim: Some(&claim),
                signal: (!counted_only).then_some(&record),
                audit: &audit,
                origin_clear: origin_clear.as_ref(),
            };
            match self.store.write_incident(write).await? {
                WriteOutcome::Written => {
                    if outcome == Outcome::Resolved {
                        crate::lifecycle::end_approval_wait(self.store, self.workflow, &incident)
                            .await;
                    }
                    let mut report = SignalReport::new(signal, outcome).with_incident(&incident);
                    report.step(
                        "incident",
                        match outcome {
                            Outcome::Resolved => format!(
                                "resolved incident {id}: {} is {}",
                                signal.resource, signal.state
                            ),
                            Outcome::SelfCaused => {
                                format!("Argus' own change, recorded on incident {id}")
                            }
                            Outcome::Stale => format!(
                                "recorded on incident {id} and ignored: older than what its source said since"
                            ),
                            _ if counted_only => format!(
                                "attached to open incident {id} ({} signals, {} of them counted rather than recorded one by one)",
                                incident.signal_count,
                                counted_signals(&incident)
                            ),
                            _ => format!(
                                "attached to open incident {id} ({} signals)",
                                incident.signal_count
                            ),
                        },
                    );
                    if outcome == Outcome::Attached && self.is_stalled(&incident) {
                        // The reconciler's sweep finds stalled incidents by `updated_at`, which
                        // every attached signal moves: while an alarm keeps signalling, the
                        // signal that finds its incident stalled is what resumes it.
                        let Some(opening) = self.store.signals(id).await?.into_iter().next() else {
                            return Ok(Some(report));
                        };
                        return self
                            .resume_if_stalled(&incident, &opening.signal, report)
                            .await
                            .map(Some);
                    }
                    return Ok(Some(report));
                }
                WriteOutcome::Duplicate { correlation_id } => {
                    return self.duplicate(signal, correlation_id).await.map(Some);
                }
                WriteOutcome::Conflict => continue,
            }
        }
        Err(IntakeError::Contended(id.to_string()))
    }

    pub(super) async fn attach_to_open(
        &self,
        signal: &Signal,
    ) -> Result<SignalReport, IntakeError> {
        let mut open = self
            .store
            .open_incident_for(&signal.resource, &signal.signature)
            .await?;
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            conflict_backoff(attempt).await;
            if let Some(id) = open.take()
                && let Some(report) = self.attach(&id, signal, Outcome::Attached).await?
            {
                return Ok(report);
            }
            if signal.effect != SignalEffect::Clears {
                return self
                    .unattached(
                        signal,
                        "no open incident for this resource and signature; recorded only",
                    )
                    .await;
            }
            // A clear that finds nothing open is remembered, atomically with the open guard, so
            // that its alarm's older ALARM, delivered late, does not open an incident that
            // nothing would clear.
            let now = self.clock.now();
            let claim = self.claim(signal, None, now);
            let clear = self.origin_clear(signal, now);
            match self
                .store
                .record_clear(&claim, &clear, &signal.resource, &signal.signature)
                .await?
            {
                ClearOutcome::Recorded => {
                    let mut report = SignalReport::new(signal, Outcome::Unattached);
                    report.step(
                        "incident",
                        "no open incident for this resource and signature; the clear is remembered",
                    );
                    return Ok(report);
                }
                ClearOutcome::Duplicate { correlation_id } => {
                    return self.duplicate(signal, correlation_id).await;
                }
                ClearOutcome::IncidentOpen { correlation_id } => open = Some(correlation_id),
            }
        }
        Err(IntakeError::Contended(signal.source_event_id.clone()))
    }

    /// What the store remembers of a clearing signal's origin, for as long as a delivery of the
    /// same alarm can still arrive (the de-duplication window).
    pub(super) fn origin_clear(&self, signal: &Signal, now: DateTime<Utc>) -> OriginClear {
        OriginClear {
            origin: signal.origin_key(),
            cleared_at: signal.observed_at,
            expires_at: now + Duration::seconds(self.config.dedup_ttl_seconds as i64),
        }
    }

    /// An instance stopping while Argus' own workflow started it is the workflow's rollback
    /// (the inverse of `ec2.start`), not a new problem: it would open an incident whose playbook
    /// starts the instance again, and so on. The instance's own incidents say whether such a
    /// workflow can still be running: its `ec2.start` decision and its execution's start within
    /// the workflow's worst case before the stop.
    pub(super) async fn own_rollback(
        &self,
        signal: &Signal,
    ) -> Result<Option<CorrelationId>, IntakeError> {
        let stopping = matches!(signal.state.as_str(), "stopping" | "stopped");
        // The rollback's own StopInstances, as CloudTrail records it: made by Argus' own role
        // (exact ARN), on an instance whose ec2.start workflow Argus is running.
        let own_stop_call = signal.source == SignalSource::CloudTrail
            && signal.state == "StopInstances"
            && signal
                .principal
                .as_deref()
                .is_some_and(|principal| self.config.is_own_role(principal));
        if !(signal.source == SignalSource::Ec2StateChange && stopping || own_stop_call) {
            return Ok(None);
        }
        let worst_case = crate::reconcile::workflow_deadline(&self.config.recovery);
        let recent = self.store.incidents_on(&signal.resource, 5).await?;
        Ok(recent
            .into_iter()
            .find(|incident| {
                let started_it = incident
                    .decision
                    .as_ref()
                    .and_then(|decision| decision.action.as_ref())
                    .is_some_and(|action| action.action == ActionId::Ec2Start);
                let running = incident.execution.as_ref().is_some_and(|execution| {
                    execution.started_at <= signal.observed_at
                        && signal.observed_at <= execution.started_at + worst_case
                });
                started_it && running
            })
            .map(|incident| incident.id))
    }

    pub(super) async fn attach_self_caused(
        &self,
        signal: &Signal,
        known: Option<CorrelationId>,
    ) -> Result<SignalReport, IntakeError> {
        // `known` is the incident Argus' own record ties the change to; a hint in the request
        // is never trusted on its own.
        let mut candidates: Vec<CorrelationId> = known.into_iter().collect();
        let on_resource = self.store.incidents_on(&signal.resource, 20).await?;
        candidates.extend(
            on_resource
                .into_iter()
                .filter(|incident| incident.status.is_open())
                .map(|incident| incident.id),
        );
        for id in candidates {
            if let Some(report) = self.attach(&id, signal, Outcome::SelfCaused).await? {
                return Ok(report);
            }
        }
        let mut report = self
            .unattached(
                signal,
                "a change Argus made itself; no open incident to attach it to",
            )
            .await?;
        if report.outcome == Outcome::Unattached {
            report.outcome = Outcome::SelfCaused;
        }
        Ok(report)
    }

    pub(super) async fn unattached(
        &self,
        signal: &Signal,
        why: &str,
    ) -> Result<SignalReport, IntakeError> {
        let claim = self.claim(signal, None, self.clock.now());
        match self.store.claim_event(&claim).await? {
            ClaimOutcome::Claimed => {
                let mut report = SignalReport::new(signal, Outcome::Unattached);
                report.step("incident", why);
                Ok(report)
            }
            ClaimOutcome::Duplicate { correlation_id } => {
                self.duplicate(signal, correlation_id).await
            }
        }
    }

    /// A re-delivered event. If its incident stalled before a decision or a workflow start for
    /// longer than `resume_after_seconds`, the path is picked up where it stopped.
    pub(super) async fn duplicate(
        &self,
        signal: &Signal,
        id: Option<CorrelationId>,
    ) -> Result<SignalReport, IntakeError> {
        let mut report = SignalReport::new(signal, Outcome::Duplicate);
        let Some(id) = id else {
            report.step("dedup", "already delivered; it belonged to no incident");
            return Ok(report);
        };
        note_correlation(&id);
        report.correlation_id = Some(id.clone());
        report.step(
            "dedup",
            format!("already delivered; it belongs to incident {id}"),
        );
        let Some(incident) = self.store.incident(&id).await? else {
            return Ok(report);
        };
        report.incident_status = Some(incident.status);
        self.resume_if_stalled(&incident, signal, report).await
    }
}

/// Attached signals the incident only counted (`Incident::record`).
fn counted_signals(incident: &Incident) -> u64 {
    incident
        .audit_tallies
        .values()
        .filter(|tally| {
            matches!(
                tally.kind,
                AuditKind::SignalAttached | AuditKind::SelfCausedAttached
            )
        })
        .map(|tally| tally.counted)
        .sum()
}
