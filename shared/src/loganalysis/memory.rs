//! In-memory `LogSource` and `EventBus`, beside the CloudWatch Logs and EventBridge adapters:
//! for tests and local runs. The log source pages like FilterLogEvents (time order, a limit, an
//! opaque token); the bus records what was put.

use super::ports::{
    BusEvent, EventBus, EventBusError, LogEvent, LogPage, LogPageRequest, LogSource, LogSourceError,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a test thread panicked mid-call; the data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Log groups held in memory.
#[derive(Debug, Default)]
pub struct MemoryLogSource {
    groups: Mutex<BTreeMap<String, Vec<LogEvent>>>,
    pages_served: Mutex<usize>,
}

impl MemoryLogSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds events to a log group (creating it).
    pub fn put(&self, log_group: &str, events: impl IntoIterator<Item = LogEvent>) {
        let mut groups = lock(&self.groups);
        let group = groups.entry(log_group.to_string()).or_default();
        group.extend(events);
        group.sort_by_key(|event| event.timestamp_ms);
    }

    /// How many pages were asked for so far.
    pub fn pages_served(&self) -> usize {
        *lock(&self.pages_served)
    }
}

#[async_trait]
impl LogSource for MemoryLogSource {
    async fn page(&self, request: &LogPageRequest<'_>) -> Result<LogPage, LogSourceError> {
        *lock(&self.pages_served) += 1;
        let groups = lock(&self.groups);
        let events = groups
            .get(request.log_group)
            .ok_or_else(|| LogSourceError::NotFound(request.log_group.to_string()))?;
        let skip = match request.next_token {
            Some(token) => token
                .strip_prefix("offset:")
                .and_then(|offset| offset.parse::<usize>().ok())
                .ok_or_else(|| LogSourceError::TokenRejected(token.to_string()))?,
            None => 0,
        };
        let in_range: Vec<&LogEvent> = events
            .iter()
            .filter(|event| {
                event.timestamp_ms >= request.start_ms && event.timestamp_ms < request.end_ms
            })
            .collect();
        let end = (skip + request.limit.max(1)).min(in_range.len());
        let page: Vec<LogEvent> = in_range
            .get(skip..end)
            .unwrap_or_default()
            .iter()
            .map(|event| (*event).clone())
            .collect();
        Ok(LogPage {
            events: page,
            next_token: (end < in_range.len()).then(|| format!("offset:{end}")),
        })
    }
}

/// An event bus that keeps what was put; it can be told to refuse puts.
#[derive(Debug, Default)]
pub struct MemoryEventBus {
    events: Mutex<Vec<BusEvent>>,
    refuse: Mutex<bool>,
}

impl MemoryEventBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<BusEvent> {
        lock(&self.events).clone()
    }

    /// While set, every put fails as an unavailable bus would.
    pub fn refuse_puts(&self, refuse: bool) {
        *lock(&self.refuse) = refuse;
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn put(&self, events: &[BusEvent]) -> Result<(), EventBusError> {
        if *lock(&self.refuse) {
            return Err(EventBusError::Unavailable(
                "refusing puts (test)".to_string(),
            ));
        }
        // As EventBridge: an entry too large for any request is refused, alone.
        let (fits, too_large): (Vec<&BusEvent>, Vec<&BusEvent>) = events
            .iter()
            .partition(|event| event.entry_size() < super::ports::MAX_PUT_EVENTS_BYTES);
        lock(&self.events).extend(fits.into_iter().cloned());
        match too_large.first() {
            None => Ok(()),
            Some(event) => Err(EventBusError::Rejected {
                failed: too_large.len(),
                total: events.len(),
                reason: format!("an entry is {} bytes", event.entry_size()),
            }),
        }
    }
}
