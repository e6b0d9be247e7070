//! What this function's JSON logs carry (set up by `argus::telemetry`): one object per line, each naming the log group it is about.

#[cfg(test)]
mod tests {
    use argus::clock::ManualClock;
    use argus::loganalysis::memory::{MemoryEventBus, MemoryLogSource};
    use argus::loganalysis::{AnalyzerConfig, LogAnalyzer, LogEvent};
    use argus::store::embedded::EmbeddedStore;
    use argus::telemetry::{LogCapture, subscriber};

    #[tokio::test]
    async fn every_line_is_json_naming_its_log_group() {
        let buffer = LogCapture::default();
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
        let text = buffer.text();
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
