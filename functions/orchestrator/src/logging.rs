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
            investigator: None,
            resource_tags: None,
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

    #[tokio::test]
    async fn signal_lines_carry_the_request_id_and_record_lines_their_correlation_id() {
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
            investigator: None,
            resource_tags: None,
        };
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"
        ))
        .unwrap();
        // GIVEN the span the runtime opens for an invocation
        let mut context = lambda_runtime::Context::default();
        context.request_id = "req-signal-1".into();
        let invocation = lambda_runtime::layers::trace::request_span(&context);
        // WHEN a signal is taken in and a record operation fails inside it
        use tracing::Instrument;
        intake
            .process_event(&event)
            .instrument(invocation.clone())
            .await
            .unwrap();
        let payload = serde_json::json!({"operation": "record_start", "correlation_id": "20191002T170440Z-missing-000000000000", "execution_id": "x"});
        let failed = crate::handler::record(&payload, &store, &store, &clock, &config)
            .instrument(invocation)
            .await;
        assert!(failed.is_err());
        // THEN every line carries the request id, and the record operation's its correlation id
        let text = buffer.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(lines.len() >= 3, "{text}");
        for line in &lines {
            assert!(line["spans"].to_string().contains("req-signal-1"), "{line}");
        }
        let record_lines: Vec<_> = lines
            .iter()
            .filter(|line| line["span"]["name"] == "record")
            .collect();
        assert!(!record_lines.is_empty(), "{text}");
        for line in record_lines {
            assert_eq!(
                line["span"]["correlation_id"], "20191002T170440Z-missing-000000000000",
                "{line}"
            );
        }
    }
}
