//! The one conditional writer of incidents: apply a change, write it on the revision it was
//! read at, re-read and re-apply on conflict.

use super::{AuditEntry, Incident};
use crate::backoff::Backoff;
use crate::correlation::CorrelationId;
use crate::ports::{Clock, IncidentStore, IncidentWrite, StoreError, WriteOutcome};

/// Why a conditional incident write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentWriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incident {0} kept changing under concurrent writes; the event will be retried")]
    Contended(String),
}

impl IncidentWriteError {
    /// Stable names for a Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Store(error) => error.error_type(),
            Self::Contended(_) => "ConcurrentUpdate",
        }
    }
}

/// Optimistic writes give up after this many conflicts in a row; the event is then retried whole.
pub(crate) const MAX_WRITE_ATTEMPTS: usize = 16;

/// Waits before retrying a conflicting write: up to 15 ms, doubling to 480 ms, jittered, so
/// writers racing for one incident stop colliding in lockstep.
const CONFLICT_BACKOFF: Backoff = Backoff::new(
    std::time::Duration::from_millis(15),
    std::time::Duration::from_millis(480),
);

pub(crate) async fn conflict_backoff(attempt: usize) {
    if attempt == 0 {
        return;
    }
    let retry = u32::try_from(attempt).unwrap_or(u32::MAX);
    tokio::time::sleep(CONFLICT_BACKOFF.wait(retry)).await;
}

/// Applies `change` to the incident and writes it conditionally on its revision, reading it
/// again and re-applying on conflict. `None` when the incident does not exist; a change that
/// returns no audit entries writes nothing. Every writer of incidents goes through this; entries
/// that repeat what the incident holds enough records of are counted, not recorded
/// (`Incident::record`).
pub async fn update_incident<F>(
    store: &dyn IncidentStore,
    clock: &dyn Clock,
    id: &CorrelationId,
    known: Option<Incident>,
    mut change: F,
) -> Result<Option<Incident>, IncidentWriteError>
where
    F: FnMut(&mut Incident) -> Vec<AuditEntry> + Send,
{
    let mut current = known;
    for attempt in 0..MAX_WRITE_ATTEMPTS {
        conflict_backoff(attempt).await;
        let mut incident = match current.take() {
            Some(incident) => incident,
            None => match store.incident(id).await? {
                Some(incident) => incident,
                None => return Ok(None),
            },
        };
        let expected_revision = incident.revision;
        let was_open = incident.status.is_open();
        let entries = change(&mut incident);
        if entries.is_empty() {
            return Ok(Some(incident));
        }
        let now = clock.now();
        incident.revision += 1;
        incident.updated_at = now;
        // Repeated entries may only be counted (`Incident::record`): the write still happens,
        // since the count on the incident changed.
        let audit: Vec<_> = entries
            .into_iter()
            .filter_map(|entry| incident.record(entry, now))
            .collect();
        let write = IncidentWrite {
            incident: &incident,
            expected_revision,
            closes: was_open && !incident.status.is_open(),
            claim: None,
            signal: None,
            audit: &audit,
            origin_clear: None,
        };
        match store.write_incident(write).await? {
            WriteOutcome::Written => return Ok(Some(incident)),
            WriteOutcome::Conflict | WriteOutcome::Duplicate { .. } => continue,
        }
    }
    Err(IncidentWriteError::Contended(id.to_string()))
}
