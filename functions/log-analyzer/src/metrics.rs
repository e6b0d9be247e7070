//! The analyzer's CloudWatch metrics as Embedded Metric Format log lines (no API call).

use argus::loganalysis::GroupReport;
use serde_json::json;

pub const NAMESPACE: &str = "Argus";
/// Lines a log group could not give a template because it held `max_templates_per_group`.
pub const LINES_OVER_TEMPLATE_CAP: &str = "LogLinesOverTemplateCap";
/// Templates evicted at `max_templates_per_group` to make room for new ones.
pub const TEMPLATES_EVICTED: &str = "LogTemplatesEvicted";

/// One EMF record per group: the lines left out at the template cap and the templates evicted
/// there (0 when none), so an alarm can watch a group that has stopped learning or churns.
pub fn record(group: &GroupReport) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["LogGroup"]],
                "Metrics": [
                    {"Name": LINES_OVER_TEMPLATE_CAP, "Unit": "Count"},
                    {"Name": TEMPLATES_EVICTED, "Unit": "Count"}
                ]
            }]
        },
        LINES_OVER_TEMPLATE_CAP: group.lines_over_template_cap,
        TEMPLATES_EVICTED: group.templates_evicted,
        "LogGroup": group.log_group,
        "function": "log-analyzer",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_names_its_metric_and_log_group() {
        let group = GroupReport {
            log_group: "/aws/lambda/checkout".into(),
            lines_over_template_cap: 7,
            templates_evicted: 3,
            ..GroupReport::default()
        };
        let record = record(&group);
        assert_eq!(record[LINES_OVER_TEMPLATE_CAP], 7);
        assert_eq!(record[TEMPLATES_EVICTED], 3);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            TEMPLATES_EVICTED
        );
        assert_eq!(record["LogGroup"], "/aws/lambda/checkout");
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            LINES_OVER_TEMPLATE_CAP
        );
    }
}
