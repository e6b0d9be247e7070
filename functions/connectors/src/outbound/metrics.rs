//! Delivery counts as CloudWatch Embedded Metric Format lines: free to emit, no API call while
//! an incident is being handled. The format follows functions/orchestrator/src/metrics.rs.

use serde_json::{Value, json};

pub const NAMESPACE: &str = "Argus";

/// One EMF record: `metric` = `value` (Count), with a `channel` dimension.
pub fn record(metric: &str, channel: &str, value: u64, timestamp_millis: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_millis,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["channel"]], "Metrics": [{"Name": metric, "Unit": "Count"}]}]
        },
        metric: value,
        "channel": channel,
        "function": "connectors",
    })
}

/// Writes a record as its own line on stdout, where the Lambda service picks EMF up (outside
/// the tracing JSON format, which CloudWatch would not parse as a metric).
pub fn count(metric: &str, channel: &str, value: u64, timestamp_millis: i64) {
    println!("{}", record(metric, channel, value, timestamp_millis));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_declares_its_metric_and_dimension() {
        let line = record("ConnectorFailures", "slack", 1, 0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "ConnectorFailures"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "channel"
        );
        assert_eq!(line["channel"], "slack");
        assert_eq!(line["ConnectorFailures"], 1);
    }
}
