//! The EventBridge adapter for the `EventBus` port: PutEvents in batches of at most ten entries
//! and less than 256 KB, an entry too large for any request refused alone (never holding back the
//! others), retrying (with backoff) only the entries EventBridge reports as failed for a
//! transient reason, and counting what was accepted, retried and given up on.

use crate::backoff::Backoff;
use crate::loganalysis::ports::{BusEvent, EventBus, EventBusError, MAX_PUT_EVENTS_BYTES};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The IAM actions this adapter's calls need (checked by tests/tests/wiring.rs).
pub const API_CALLS: &[&str] = &["events:PutEvents"];

/// PutEvents accepts at most ten entries per call.
const MAX_ENTRIES_PER_CALL: usize = 10;
/// Calls per batch when some entries keep failing transiently.
const ATTEMPTS: u32 = 4;
/// The wait before the first retry of failed entries; it doubles on each further retry.
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// What the bus did with entries since it was built, for the caller's metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutCounts {
    /// Entries EventBridge accepted (each exactly once: an accepted entry is never sent again).
    pub accepted: u64,
    /// Entry sends that were retries of an entry EventBridge reported as failed.
    pub retried: u64,
    /// Entries given up on: a permanent error, or still failing after every attempt.
    pub rejected: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    retried: AtomicU64,
    rejected: AtomicU64,
}

/// `first` doubling for each of the retries `ATTEMPTS` allows.
fn retry_backoff(first: Duration) -> Backoff {
    Backoff::new(first, first.saturating_mul(2u32.pow(ATTEMPTS - 2)))
}

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    event_bus: String,
    retry: Backoff,
    counters: Arc<Counters>,
}

impl EventBridgeBus {
    /// `event_bus` is a bus name or ARN (`default` for the account's default bus).
    pub fn new(client: Client, event_bus: impl Into<String>) -> Self {
        Self {
            client,
            event_bus: event_bus.into(),
            retry: retry_backoff(DEFAULT_RETRY_BACKOFF),
            counters: Arc::default(),
        }
    }

    /// The longest wait before retrying failed entries (doubling per retry, jittered); tests
    /// set zero.
    pub fn with_retry_backoff(mut self, first: Duration) -> Self {
        self.retry = retry_backoff(first);
        self
    }

    pub fn counts(&self) -> PutCounts {
        PutCounts {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            retried: self.counters.retried.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
        }
    }

    fn entry(&self, event: &BusEvent) -> Result<PutEventsRequestEntry, EventBusError> {
        let detail =
            serde_json::to_string(&event.detail).map_err(|error| EventBusError::Rejected {
                failed: 1,
                total: 1,
                reason: format!("the detail is not serialisable: {error}"),
            })?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.event_bus)
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(detail)
            .set_resources(Some(event.resources.clone()).filter(|r| !r.is_empty()))
            .time(DateTime::from_millis(event.time.timestamp_millis()))
            .build())
    }

    /// Sends one batch: entries EventBridge accepts are done; entries failed for a transient
    /// reason are sent again (alone, never with accepted ones) after a backoff; entries failed
    /// for a permanent reason are not. `Err` names how many of the batch were not delivered.
    async fn put_batch(&self, batch: &[BusEvent]) -> Result<(), EventBusError> {
        let mut pending = batch
            .iter()
            .map(|event| self.entry(event))
            .collect::<Result<Vec<_>, _>>()?;
        let total = pending.len();
        let mut rejected = 0;
        // Why entries were given up on: a permanent refusal is named before a transient one.
        let mut refusal = String::new();
        let mut reason = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                self.counters
                    .retried
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                tokio::time::sleep(self.retry.wait(attempt - 1)).await;
            }
            let output = self
                .client
                .put_events()
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|error| {
                    let message =
                        aws_sdk_eventbridge::error::DisplayErrorContext(&error).to_string();
                    if is_transient(error.code()) {
                        EventBusError::Throttled(message)
                    } else {
                        EventBusError::Unavailable(message)
                    }
                })?;
            // Results are in entry order; an entry with an error code failed, any other was
            // accepted. A response that lists fewer results than entries leaves the rest failed.
            let results = output.entries();
            let mut retry = Vec::new();
            for (index, entry) in pending.into_iter().enumerate() {
                let result = results.get(index);
                match result.map(|result| result.error_code()) {
                    Some(None) => {
                        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Some(code)) if !is_transient(Some(code)) => {
                        rejected += 1;
                        refusal = format!(
                            "{code}: {}",
                            result
                                .and_then(|result| result.error_message())
                                .unwrap_or("no message")
                        );
                    }
                    failed => {
                        reason = format!(
                            "{}: {}",
                            failed.flatten().unwrap_or("no result for the entry"),
                            result
                                .and_then(|result| result.error_message())
                                .unwrap_or("no message")
                        );
                        retry.push(entry);
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                break;
            }
            tracing::warn!(
                failed = pending.len(),
                total,
                attempt,
                %reason,
                "EventBridge failed some entries; retrying them"
            );
        }
        let failed = rejected + pending.len();
        if !refusal.is_empty() {
            reason = refusal;
        }
        self.counters
            .rejected
            .fetch_add(failed as u64, Ordering::Relaxed);
        if failed > 0 {
            return Err(EventBusError::Rejected {
                failed,
                total,
                reason,
            });
        }
        Ok(())
    }
}

fn is_transient(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ThrottlingException" | "InternalException" | "InternalFailure")
    )
}

/// A request's worth of events, or one event no request can carry.
enum Batch<'a> {
    Send(&'a [BusEvent]),
    TooLarge(&'a BusEvent),
}

/// Splits `events`, in order, into requests of at most ten entries whose sizes total less than
/// `MAX_PUT_EVENTS_BYTES`; an entry that large on its own is set apart, so it fails alone.
fn batches(events: &[BusEvent]) -> Vec<Batch<'_>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, event) in events.iter().enumerate() {
        let size = event.entry_size();
        let full = index - start == MAX_ENTRIES_PER_CALL || bytes + size >= MAX_PUT_EVENTS_BYTES;
        if (full || size >= MAX_PUT_EVENTS_BYTES) && index > start {
            batches.push(Batch::Send(&events[start..index]));
            start = index;
            bytes = 0;
        }
        if size >= MAX_PUT_EVENTS_BYTES {
            batches.push(Batch::TooLarge(event));
            start = index + 1;
            continue;
        }
        bytes += size;
    }
    if start < events.len() {
        batches.push(Batch::Send(&events[start..]));
    }
    batches
}

#[async_trait]
impl EventBus for EventBridgeBus {
    /// Every batch is tried, even after one failed, so one refused event does not hold back the
    /// others; the first failure is returned.
    async fn put(&self, events: &[BusEvent]) -> Result<(), EventBusError> {
        let mut first_error = None;
        for batch in batches(events) {
            let result = match batch {
                Batch::Send(batch) => self.put_batch(batch).await,
                Batch::TooLarge(event) => {
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    Err(EventBusError::Rejected {
                        failed: 1,
                        total: 1,
                        reason: format!(
                            "the entry is {} bytes; PutEvents takes less than {MAX_PUT_EVENTS_BYTES} per request",
                            event.entry_size()
                        ),
                    })
                }
            };
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
