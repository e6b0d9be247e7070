//! CloudWatch metrics as Embedded Metric Format log lines: free to emit, no API call on the hot path.

use serde_json::json;

pub const NAMESPACE: &str = "Argus";

/// Writes one EMF record: `metric` = `value` (Count) with the given dimensions.
pub fn count(metric: &str, value: u64, dimensions: &[(&str, &str)]) {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut record = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [names], "Metrics": [{"Name": metric, "Unit": "Count"}]}]
        },
        metric: value,
        "function": "orchestrator",
    });
    for (name, value) in dimensions {
        record[*name] = json!(value);
    }
    // EMF records must be standalone lines on stdout, outside the tracing JSON format.
    println!("{record}");
}
