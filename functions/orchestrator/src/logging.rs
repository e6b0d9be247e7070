//! JSON logs for CloudWatch: one object per line, with the signal span's fields (source event
//! id, correlation id) on every line logged while the signal is processed.

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
    use argus::analysis::RulesAnalyst;
    use argus::clock::ManualClock;
    use argus::config::Config;
    use argus::intake::Intake;
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
    async fn every_line_of_a_signal_carries_its_correlation_id() {
        let buffer = Buffer::default();
        let _default = tracing::subscriber::set_default(subscriber(
            buffer.clone(),
            tracing_subscriber::EnvFilter::new("info"),
        ));
        let store = EmbeddedStore::in_memory().unwrap();
        let workflow = store.local_workflow();
        let clock = ManualClock::new(argus::testing::epoch());
        let config = Config::default();
        let intake = Intake {
            store: &store,
            patterns: &store,
            analyst: &RulesAnalyst,
            workflow: &workflow,
            clock: &clock,
            config: &config,
        };
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"
        ))
        .unwrap();
        let report = intake.process_event(&event).await.unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(
            lines.len() >= 2,
            "expected the workflow start and the summary lines: {text}"
        );
        for line in lines {
            assert_eq!(line["span"]["correlation_id"], id.as_str(), "{line}");
        }
    }
}
