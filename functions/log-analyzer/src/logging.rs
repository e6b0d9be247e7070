//! JSON logs for CloudWatch: one object per line, each naming the log group it is about.

use tracing_subscriber::fmt::MakeWriter;

/// Builds the subscriber the function installs; tests give it a buffer instead of stdout.
pub fn subscriber<W>(
    writer: W,
    filter: tracing_subscriber::EnvFilter,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        // Lambda stamps every line with its own time.
        .without_time()
        .with_writer(writer)
        .finish()
}

pub fn filter_from_env() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus::clock::ManualClock;
    use argus::loganalysis::memory::{MemoryEventBus, MemoryLogSource};
    use argus::loganalysis::{AnalyzerConfig, LogAnalyzer, LogEvent};
    use argus::store::embedded::EmbeddedStore;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[tokio::test]
    async fn every_line_is_json_naming_its_log_group() {
        let buffer = Buffer::default();
        let _default = tracing::subscriber::set_default(subscriber(
            buffer.clone(),
            tracing_subscriber::EnvFilter::new("info"),
        ));
        let source = MemoryLogSource::new();
        source.put(
            "/aws/lambda/checkout",
            [LogEvent {
                timestamp_ms: argus::testing::epoch().timestamp_millis(),
                message: "INFO started".to_string(),
            }],
        );
        let store = EmbeddedStore::in_memory().unwrap();
        let bus = MemoryEventBus::new();
        let clock = ManualClock::new(argus::testing::epoch() + chrono::Duration::minutes(10));
        let config =
            AnalyzerConfig::parse("/aws/lambda/checkout,/aws/lambda/missing", None).unwrap();
        let report = LogAnalyzer {
            source: &source,
            store: &store,
            bus: &bus,
            clock: &clock,
            config: &config,
        }
        .run(None)
        .await;
        assert_eq!(
            report.first_error().map(|(kind, _)| kind),
            Some("LogGroupNotFound")
        );
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(lines.len() >= 2, "{text}");
        for line in lines {
            assert!(
                line["fields"]["log_group"].as_str().is_some(),
                "a line without its log group: {line}"
            );
        }
    }
}
