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
            let expected_revision = incident.revision;
            incident.revision += 1;
            incident.signal_count += 1;
            incident.last_signal_at = incident.last_signal_at.max(signal.observed_at);
            incident.updated_at = now;
            let outcome = if outcome == Outcome::Attached && signal.effect == SignalEffect::Clears {
                Outcome::Resolved
            } else {
                outcome
            };
            let (kind, summary) = match outcome {
                Outcome::Resolved => (
                    AuditKind::Cleared,
                    format!("cleared by {}: {}", signal.source.label(), signal.title),
                ),
                Outcome::SelfCaused => (
                    AuditKind::SelfCausedAttached,
                    format!("Argus' own change recorded: {}", signal.title),
                ),
                _ => (
                    AuditKind::SignalAttached,
                    format!("signal attached: {}", signal.title),
                ),
            };
            let mut audit = vec![incident.audit(
                AuditEntry::new(
                    ACTOR,
                    kind,
                    summary,
                    json!({"source_event_id": signal.source_event_id, "state": signal.state}),
                ),
                now,
            )];
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
                signal: Some(&record),
                audit: &audit,
            };
            match self.store.write_incident(write).await? {
                WriteOutcome::Written => {
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
        let open = self
            .store
            .open_incident_for(&signal.resource, &signal.signature)
            .await?;
        if let Some(id) = open
            && let Some(report) = self.attach(&id, signal, Outcome::Attached).await?
        {
            return Ok(report);
        }
        self.unattached(
            signal,
            "no open incident for this resource and signature; recorded only",
        )
        .await
    }

    pub(super) async fn attach_self_caused(
        &self,
        signal: &Signal,
    ) -> Result<SignalReport, IntakeError> {
        let mut candidates = Vec::new();
        if let Some(hint) = &signal.correlation_hint {
            candidates.push(hint.clone());
        }
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
