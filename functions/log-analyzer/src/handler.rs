//! Translates a scheduled invocation into one run of the library's log analyzer, and a failed
//! log group into a stable `errorType`.

use crate::settings::Settings;
use argus::adapters::cloudwatchlogs::CloudWatchLogSource;
use argus::adapters::eventbridge::EventBridgeBus;
use argus::clock::SystemClock;
use argus::loganalysis::{AnalyzerConfig, LogAnalyzer};
use argus::store::dynamodb::DynamoStore;
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

/// `errorType` of an invocation whose payload is not JSON (the schedule's event is not read).
pub const INVALID_EVENT: &str = "InvalidEvent";

#[derive(Debug)]
pub struct Analyzer {
    source: CloudWatchLogSource,
    store: DynamoStore,
    bus: EventBridgeBus,
    config: AnalyzerConfig,
}

/// A run in which at least one log group failed; the others were still analysed.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} log groups failed; first: {message}")]
pub struct HandlerError {
    error_type: String,
    message: String,
    failed: usize,
    total: usize,
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type.clone(),
            error_message: error.to_string(),
        }
    }
}

impl Analyzer {
    pub fn new(aws: &aws_config::SdkConfig, settings: Settings) -> Self {
        // The incidents table is not used by the analyzer; the store only writes the patterns
        // table's LOG# items.
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws),
            String::new(),
            settings.patterns_table,
        );
        Self {
            source: CloudWatchLogSource::new(aws_sdk_cloudwatchlogs::Client::new(aws)),
            store,
            bus: EventBridgeBus::new(aws_sdk_eventbridge::Client::new(aws), settings.event_bus),
            config: settings.analyzer,
        }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
        // The runtime gives the invocation's deadline in epoch milliseconds.
        let deadline: Option<DateTime<Utc>> = i64::try_from(event.context.deadline)
            .ok()
            .and_then(DateTime::from_timestamp_millis);
        let analyzer = LogAnalyzer {
            source: &self.source,
            store: &self.store,
            bus: &self.bus,
            clock: &SystemClock,
            config: &self.config,
        };
        let report = analyzer.run(deadline).await;
        for group in &report.groups {
            // EMF records are standalone lines on stdout, outside the tracing JSON format.
            println!("{}", crate::metrics::record(group));
        }
        let failed = report
            .groups
            .iter()
            .filter(|group| group.error.is_some())
            .count();
        if let Some((error_type, message)) = report.first_error() {
            return Err(HandlerError {
                error_type: error_type.to_string(),
                message: message.to_string(),
                failed,
                total: report.groups.len(),
            });
        }
        Ok(serde_json::to_value(&report).unwrap_or_default())
    }
}

#[cfg(test)]
mod contract_tests {
    #[test]
    fn the_undecodable_payload_error_is_in_the_wiring() {
        assert!(crate::wiring::error_types().contains(&super::INVALID_EVENT));
    }
}
