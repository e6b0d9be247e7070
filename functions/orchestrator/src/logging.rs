//! What this function's JSON logs carry (set up by `argus::telemetry`): one object per line, with the signal span's fields (source event

#[cfg(test)]
mod tests {
    use argus::analysis::RulesAnalyst;
    use argus::clock::ManualClock;
    use argus::config::Config;
    use argus::intake::Intake;
    use argus::store::embedded::EmbeddedStore;
    use argus::telemetry::{LogCapture, subscriber};

    #[tokio::test]
    async fn every_line_of_a_signal_carries_its_correlation_id() {
        let buffer = LogCapture::default();
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
        let text = buffer.text();
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
