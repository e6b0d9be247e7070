//! Resuming incidents that stalled before their decision or workflow start, under a lease.

use super::*;

impl Intake<'_> {
    /// Picks `incident` up where it stopped when it has stalled, analysing `signal` if no
    /// decision was written; otherwise hands `report` back as it is. Of several invocations that
    /// find it stalled at once, the lease lets exactly one go on.
    pub(super) async fn resume_if_stalled(
        &self,
        incident: &Incident,
        signal: &Signal,
        mut report: SignalReport,
    ) -> Result<SignalReport, IntakeError> {
        if !self.is_stalled(incident) {
            return Ok(report);
        }
        let id = &incident.id;
        report.step(
            "resume",
            format!(
                "incident {id} stalled since {}; resuming",
                incident.last_progress().to_rfc3339()
            ),
        );
        let Some(leased) = self.lease_stalled(id, ACTOR).await? else {
            report.step("resume", "another invocation picked it up first");
            return Ok(report);
        };
        let outcome = report.outcome;
        let resumed = self.advance(leased, signal, report).await?;
        Ok(SignalReport { outcome, ..resumed })
    }

    /// Whether an incident stopped before its decision or workflow start longer ago than
    /// `resume_after_seconds`; a shorter gap means another invocation may still be on it.
    /// Attached signals do not count as progress: they move `updated_at`, not `progressed_at`.
    pub(super) fn is_stalled(&self, incident: &Incident) -> bool {
        let stalled = self.clock.now() - incident.last_progress()
            > Duration::seconds(self.config.resume_after_seconds as i64);
        incident.status.is_open() && stalled && incident.needs_work()
    }

    /// Claims a stalled incident for resuming: a write, conditional on the revision, that only
    /// happens while the incident still looks stalled and that makes it look fresh. Of several
    /// resumers (re-deliveries, reconciler runs) exactly one gets `Some` and goes on.
    pub(super) async fn lease_stalled(
        &self,
        id: &CorrelationId,
        actor: &str,
    ) -> Result<Option<Incident>, IntakeError> {
        let mut leased = false;
        let incident = self
            .update(id, None, |incident| {
                leased = self.is_stalled(incident);
                if !leased {
                    return Vec::new();
                }
                let stalled_since = incident.last_progress();
                incident.progressed_at = Some(self.clock.now());
                vec![AuditEntry::new(
                    actor,
                    AuditKind::Resumed,
                    format!(
                        "resumed: stalled since {} before its {}",
                        stalled_since.to_rfc3339(),
                        if incident.decision.is_none() {
                            "decision"
                        } else {
                            "workflow start"
                        }
                    ),
                    json!({"stalled_since": stalled_since, "decided": incident.decision.is_some()}),
                )]
            })
            .await?;
        Ok(incident.filter(|_| leased))
    }

    /// Picks a stalled incident up where it stopped (decision or workflow start), for the
    /// reconciler. `None` when it is not stalled (any more) or another resumer got it first.
    /// The workflow start is named by the incident's id, so a start that did happen before the
    /// stall is found, not repeated.
    pub async fn resume_stalled(
        &self,
        id: &CorrelationId,
        actor: &str,
    ) -> Result<Option<SignalReport>, IntakeError> {
        note_correlation(id);
        // The opening signal is what the analysis is about, as it was for the first attempt.
        let Some(first) = self.store.signals(id).await?.into_iter().next() else {
            return Ok(None);
        };
        let Some(incident) = self.lease_stalled(id, actor).await? else {
            return Ok(None);
        };
        let mut report = SignalReport::new(&first.signal, Outcome::Duplicate);
        report.correlation_id = Some(id.clone());
        report.step(
            "resume",
            format!("incident {id} stalled; resumed by {actor}"),
        );
        self.advance(incident, &first.signal, report)
            .await
            .map(Some)
    }

    /// Decides a suppressed incident again, for the reconciler once its maintenance window is
    /// over and the problem goes on: the suppressed decision is set aside (it stays on the audit
    /// trail) and the path runs from the guards on. `None` when the incident is no longer
    /// suppressed (another run decided it, or it closed).
    pub async fn redecide(
        &self,
        id: &CorrelationId,
        actor: &str,
    ) -> Result<Option<SignalReport>, IntakeError> {
        note_correlation(id);
        let Some(first) = self.store.signals(id).await?.into_iter().next() else {
            return Ok(None);
        };
        let mut cleared = false;
        let Some(incident) = self
            .update(id, None, |incident| {
                cleared = incident.status == IncidentStatus::Suppressed
                    && incident.decision.as_ref().is_some_and(|d| d.suppressed);
                if !cleared {
                    return Vec::new();
                }
                incident.decision = None;
                incident.look_again_at = None;
                incident.progressed_at = Some(self.clock.now());
                vec![AuditEntry::new(
                    actor,
                    AuditKind::Resumed,
                    "the maintenance window is over and the problem goes on: deciding again",
                    json!({"redecided": true}),
                )]
            })
            .await?
        else {
            return Ok(None);
        };
        if !cleared {
            return Ok(None);
        }
        let mut report = SignalReport::new(&first.signal, Outcome::Duplicate);
        report.correlation_id = Some(id.clone());
        report.step("resume", format!("incident {id} decided again by {actor}"));
        self.advance(incident, &first.signal, report)
            .await
            .map(Some)
    }
}
