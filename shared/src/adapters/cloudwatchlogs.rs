//! The CloudWatch Logs adapter for the log analyzer's `LogSource` port: FilterLogEvents over a
//! time range, one page per call, resumable by its page token.

use crate::loganalysis::ports::{LogEvent, LogPage, LogPageRequest, LogSource, LogSourceError};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;

/// The IAM actions this adapter's calls need (checked by tests/tests/wiring.rs).
pub const API_CALLS: &[&str] = &["logs:FilterLogEvents"];

/// FilterLogEvents returns at most this many events per page.
const MAX_PAGE_EVENTS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct CloudWatchLogSource {
    client: Client,
}

impl CloudWatchLogSource {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl LogSource for CloudWatchLogSource {
    async fn page(&self, request: &LogPageRequest<'_>) -> Result<LogPage, LogSourceError> {
        let limit = request.limit.clamp(1, MAX_PAGE_EVENTS);
        let result = self
            .client
            .filter_log_events()
            .log_group_name(request.log_group)
            .start_time(request.start_ms)
            // FilterLogEvents includes events stamped exactly at `endTime`; the port's end is
            // exclusive, so the next window's first millisecond is not read twice.
            .end_time(request.end_ms - 1)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_next_token(request.next_token.map(str::to_string))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let message =
                    aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&error).to_string();
                return Err(match error.code() {
                    Some("ResourceNotFoundException") => {
                        LogSourceError::NotFound(request.log_group.to_string())
                    }
                    Some("ThrottlingException" | "LimitExceededException") => {
                        LogSourceError::Throttled(message)
                    }
                    Some("InvalidParameterException") if request.next_token.is_some() => {
                        LogSourceError::TokenRejected(message)
                    }
                    _ => LogSourceError::Unavailable(message),
                });
            }
        };
        let events = output
            .events()
            .iter()
            .filter_map(|event| {
                Some(LogEvent {
                    timestamp_ms: event.timestamp()?,
                    message: event.message()?.to_string(),
                })
            })
            // The range is the contract: an event outside it belongs to another window.
            .filter(|event| {
                event.timestamp_ms >= request.start_ms && event.timestamp_ms < request.end_ms
            })
            .collect();
        Ok(LogPage {
            events,
            next_token: output.next_token.filter(|token| !token.is_empty()),
        })
    }
}
