//! The EventBridge adapter for the `EventBus` port: PutEvents in batches of ten, retrying the
//! entries EventBridge reports as failed for a transient reason.

use crate::loganalysis::ports::{BusEvent, EventBus, EventBusError};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The IAM actions this adapter's calls need (checked by tests/tests/wiring.rs).
pub const API_CALLS: &[&str] = &["events:PutEvents"];

/// PutEvents accepts at most ten entries per call.
const MAX_ENTRIES_PER_CALL: usize = 10;
/// Calls per batch when some entries keep failing transiently.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    event_bus: String,
}

impl EventBridgeBus {
    /// `event_bus` is a bus name or ARN (`default` for the account's default bus).
    pub fn new(client: Client, event_bus: impl Into<String>) -> Self {
        Self {
            client,
            event_bus: event_bus.into(),
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
}

fn is_transient(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ThrottlingException" | "InternalException" | "InternalFailure")
    )
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put(&self, events: &[BusEvent]) -> Result<(), EventBusError> {
        for batch in events.chunks(MAX_ENTRIES_PER_CALL) {
            let mut pending = batch
                .iter()
                .map(|event| self.entry(event))
                .collect::<Result<Vec<_>, _>>()?;
            let total = pending.len();
            for attempt in 1..=ATTEMPTS {
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
                if output.failed_entry_count() == 0 {
                    pending.clear();
                    break;
                }
                // Results are in entry order; an entry with an error code failed.
                let mut retry = Vec::new();
                let mut reason = String::new();
                for (entry, result) in pending.iter().zip(output.entries()) {
                    if let Some(code) = result.error_code() {
                        if !is_transient(Some(code)) || attempt == ATTEMPTS {
                            reason = format!(
                                "{code}: {}",
                                result.error_message().unwrap_or("no message")
                            );
                        }
                        retry.push(entry.clone());
                    }
                }
                let permanent = !reason.is_empty();
                pending = retry;
                if permanent {
                    return Err(EventBusError::Rejected {
                        failed: pending.len(),
                        total,
                        reason,
                    });
                }
            }
            if !pending.is_empty() {
                return Err(EventBusError::Rejected {
                    failed: pending.len(),
                    total,
                    reason: "entries kept failing".to_string(),
                });
            }
        }
        Ok(())
    }
}
