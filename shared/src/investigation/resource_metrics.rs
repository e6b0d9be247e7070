//! The alarming resource's own metrics: which to read for its kind (the alarm's own metric
//! first, then the kind's key metrics), and each series summarised as its normal level against
//! now and when it changed — the `metric.resource.*` evidence of an investigation.

use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};

/// How long before the alarm counts as "now": the alarm's own evaluation periods are usually
/// within this, and a change that started earlier still shows as a run up to the alarm.
pub const RECENT_SECONDS: i64 = 15 * 60;

/// Fewer normal points than this and no normal level is claimed.
const MIN_NORMAL_POINTS: usize = 5;

/// One metric to read, in CloudWatch's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// A GetMetricData query id: lowercase, starts with a letter, unique within one read.
    pub id: String,
    pub namespace: String,
    pub metric_name: String,
    /// Exactly the dimensions CloudWatch publishes the metric with (a metric is found only by
    /// its full dimension set).
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub period_seconds: i32,
    /// Whether the alarm watches this metric itself.
    pub alarm_metric: bool,
}

/// The points read for one spec, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub spec: MetricSpec,
    pub points: Vec<(i64, f64)>,
    /// False when the source said it returned only part of the range.
    pub complete: bool,
}

/// A series summarised: its normal level before the alarm, its level now, and since when it
/// has been away from normal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricShift {
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    pub alarm_metric: bool,
    /// Median of the points before the recent window; `None` with too few of them.
    pub normal: Option<f64>,
    /// Median of the points in the recent window; `None` when nothing was recorded there.
    pub now: Option<f64>,
    /// Start of the run of points, up to the alarm, that are all away from normal.
    pub changed_at: Option<i64>,
    pub points: usize,
    pub complete: bool,
}

impl MetricShift {
    /// Whether now is away from normal by more than the normal spread allows.
    pub fn shifted(&self) -> bool {
        self.changed_at.is_some()
    }
}

/// The dimensions CloudWatch publishes `resource`'s metrics with, and the namespace.
fn dimensions_of(resource: &ResourceRef) -> Option<(&'static str, Vec<(String, String)>)> {
    let one = |name: &str| vec![(name.to_owned(), resource.id().to_owned())];
    Some(match resource.kind() {
        "ec2:instance" => ("AWS/EC2", one("InstanceId")),
        "lambda:function" => ("AWS/Lambda", one("FunctionName")),
        "ecs:service" => {
            let (cluster, service) = resource.id().split_once('/')?;
            (
                "AWS/ECS",
                vec![
                    ("ClusterName".to_owned(), cluster.to_owned()),
                    ("ServiceName".to_owned(), service.to_owned()),
                ],
            )
        }
        "rds:db" => ("AWS/RDS", one("DBInstanceIdentifier")),
        "dynamodb:table" => ("AWS/DynamoDB", one("TableName")),
        "sqs:queue" => ("AWS/SQS", one("QueueName")),
        "autoscaling:group" => ("AWS/EC2", one("AutoScalingGroupName")),
        _ => return None,
    })
}

/// The key metrics of a resource kind, with the statistic that shows trouble.
fn key_metrics_of(namespace: &str, kind: &str) -> &'static [(&'static str, &'static str)] {
    match (namespace, kind) {
        ("AWS/EC2", "ec2:instance") => &[
            ("CPUUtilization", "Average"),
            ("StatusCheckFailed", "Maximum"),
        ],
        ("AWS/EC2", _) => &[("CPUUtilization", "Average")],
        ("AWS/Lambda", _) => &[
            ("Errors", "Sum"),
            ("Throttles", "Sum"),
            ("Duration", "Average"),
            ("Invocations", "Sum"),
        ],
        ("AWS/ECS", _) => &[
            ("CPUUtilization", "Average"),
            ("MemoryUtilization", "Average"),
        ],
        ("AWS/RDS", _) => &[
            ("CPUUtilization", "Average"),
            ("FreeStorageSpace", "Minimum"),
            ("DatabaseConnections", "Average"),
        ],
        ("AWS/DynamoDB", _) => &[
            ("ReadThrottleEvents", "Sum"),
            ("WriteThrottleEvents", "Sum"),
        ],
        ("AWS/SQS", _) => &[
            ("ApproximateAgeOfOldestMessage", "Maximum"),
            ("ApproximateNumberOfMessagesVisible", "Average"),
        ],
        _ => &[],
    }
}

/// What to read for `resource` whose alarm watches `alarm_metric` (`<namespace>/<metric>`, as
/// a signal carries it): the alarm's metric first when it is published with the resource's
/// own dimensions (its namespace is the kind's), then the kind's key metrics. A kind Argus
/// knows no metrics of reads nothing.
pub fn metrics_to_read(
    resource: &ResourceRef,
    alarm_metric: Option<&str>,
    period_seconds: i32,
) -> Vec<MetricSpec> {
    let Some((namespace, dimensions)) = dimensions_of(resource) else {
        return Vec::new();
    };
    let spec = |metric_name: &str, stat: &str, alarm_metric: bool, index: usize| MetricSpec {
        id: format!("m{index}"),
        namespace: namespace.to_owned(),
        metric_name: metric_name.to_owned(),
        dimensions: dimensions.clone(),
        stat: stat.to_owned(),
        period_seconds,
        alarm_metric,
    };
    let keys = key_metrics_of(namespace, resource.kind());
    let alarm = alarm_metric
        .and_then(|metric| metric.rsplit_once('/'))
        .filter(|(alarm_namespace, _)| *alarm_namespace == namespace)
        .map(|(_, name)| name);
    let mut specs = Vec::new();
    if let Some(name) = alarm {
        let stat = keys
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("Average", |(_, stat)| stat);
        specs.push(spec(name, stat, true, 0));
    }
    for (name, stat) in keys {
        if Some(*name) != alarm {
            specs.push(spec(name, stat, false, specs.len()));
        }
    }
    specs
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

/// Summarises `series` around an alarm at `alert_time`: normal is the median of the points
/// before the recent window, its spread their median absolute deviation; a point is away from
/// normal when it differs by more than three robust deviations and by more than a tenth of
/// the normal level (so a flat series does not make noise of a tiny change); the change
/// started where the run of such points that reaches the last point at or before the alarm
/// (or the recent window's first point after it) starts.
pub fn summarise(series: &MetricSeries, alert_time: i64) -> MetricShift {
    let recent_from = alert_time - RECENT_SECONDS;
    let mut finite: Vec<(i64, f64)> = series
        .points
        .iter()
        .copied()
        .filter(|(_, value)| value.is_finite())
        .collect();
    finite.sort_by_key(|(time, _)| *time);
    let mut before: Vec<f64> = finite
        .iter()
        .filter(|(time, _)| *time < recent_from)
        .map(|(_, value)| *value)
        .collect();
    let mut recent: Vec<f64> = finite
        .iter()
        .filter(|(time, _)| *time >= recent_from)
        .map(|(_, value)| *value)
        .collect();
    let normal = (before.len() >= MIN_NORMAL_POINTS)
        .then(|| median(&mut before))
        .flatten();
    let now = median(&mut recent);
    let changed_at = normal.and_then(|normal| {
        let mut deviations: Vec<f64> = before.iter().map(|value| (value - normal).abs()).collect();
        let spread = median(&mut deviations).unwrap_or(0.0) * 1.4826;
        let threshold = (3.0 * spread).max(normal.abs() / 10.0).max(f64::EPSILON);
        let away = |value: f64| (value - normal).abs() > threshold;
        // The run is judged up to the alarm; with no point yet at the alarm, up to the first
        // point after it.
        let last = finite
            .iter()
            .rposition(|(time, _)| *time <= alert_time)
            .or_else(|| finite.iter().position(|(time, _)| *time > alert_time))?;
        if !away(finite[last].1) {
            return None;
        }
        let start = finite[..=last]
            .iter()
            .rposition(|(_, value)| !away(*value))
            .map_or(0, |index| index + 1);
        Some(finite[start].0)
    });
    MetricShift {
        namespace: series.spec.namespace.clone(),
        metric_name: series.spec.metric_name.clone(),
        stat: series.spec.stat.clone(),
        alarm_metric: series.spec.alarm_metric,
        normal,
        now,
        changed_at,
        points: finite.len(),
        complete: series.complete,
    }
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The shift as one line of evidence about `resource`.
pub fn describe(shift: &MetricShift, resource: &str, alert_time: i64) -> String {
    let name = format!(
        "{} {} ({}){}",
        shift.namespace,
        shift.metric_name,
        shift.stat,
        if shift.alarm_metric {
            ", the alarm's metric"
        } else {
            ""
        }
    );
    let partial = if shift.complete {
        ""
    } else {
        " (partial data)"
    };
    let text = match (shift.normal, shift.now, shift.changed_at) {
        (_, None, _) => format!("{name} on {resource}: no data points in the last 15 minutes"),
        (None, Some(now), _) => format!(
            "{name} on {resource}: now {}; too little history for a normal level",
            number(now)
        ),
        (Some(normal), Some(now), Some(changed_at)) => {
            let when = chrono::DateTime::from_timestamp(changed_at, 0)
                .map_or_else(|| changed_at.to_string(), |time| time.to_rfc3339());
            format!(
                "{name} on {resource}: normal {}, now {}; away from normal since {when} ({} min before the alarm)",
                number(normal),
                number(now),
                (alert_time - changed_at) / 60
            )
        }
        (Some(normal), Some(now), None) => format!(
            "{name} on {resource}: now {}, within its normal range (normal {})",
            number(now),
            number(normal)
        ),
    };
    format!("{text}{partial}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> ResourceRef {
        ResourceRef::checked("ec2", "instance", "i-0123456789abcdef0").unwrap()
    }

    fn series(points: Vec<(i64, f64)>) -> MetricSeries {
        MetricSeries {
            spec: metrics_to_read(&instance(), Some("AWS/EC2/CPUUtilization"), 60).remove(0),
            points,
            complete: true,
        }
    }

    #[test]
    fn the_alarms_own_metric_comes_first_with_the_kinds_statistic_and_is_not_read_twice() {
        let specs = metrics_to_read(&instance(), Some("AWS/EC2/StatusCheckFailed"), 60);
        let names: Vec<(&str, &str, bool)> = specs
            .iter()
            .map(|spec| {
                (
                    spec.metric_name.as_str(),
                    spec.stat.as_str(),
                    spec.alarm_metric,
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("StatusCheckFailed", "Maximum", true),
                ("CPUUtilization", "Average", false)
            ]
        );
        assert_eq!(
            specs[0].dimensions,
            vec![("InstanceId".to_owned(), "i-0123456789abcdef0".to_owned())]
        );
        let ids: std::collections::BTreeSet<&str> =
            specs.iter().map(|spec| spec.id.as_str()).collect();
        assert_eq!(ids.len(), specs.len(), "query ids are unique");
    }

    #[test]
    fn an_alarm_on_another_namespace_is_not_read_with_the_resources_dimensions() {
        let specs = metrics_to_read(&instance(), Some("MyApp/Checkout/Latency"), 60);
        assert!(specs.iter().all(|spec| !spec.alarm_metric));
        assert!(specs.iter().all(|spec| spec.namespace == "AWS/EC2"));
    }

    #[test]
    fn an_ecs_service_is_read_with_both_of_its_dimensions_and_an_unknown_kind_reads_nothing() {
        let service = ResourceRef::checked("ecs", "service", "prod/storefront").unwrap();
        let specs = metrics_to_read(&service, None, 60);
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].dimensions,
            vec![
                ("ClusterName".to_owned(), "prod".to_owned()),
                ("ServiceName".to_owned(), "storefront".to_owned())
            ]
        );
        let bucket = ResourceRef::checked("s3", "bucket", "my-bucket").unwrap();
        assert!(metrics_to_read(&bucket, Some("AWS/S3/4xxErrors"), 60).is_empty());
    }

    #[test]
    fn a_step_up_is_dated_at_the_first_point_of_the_run_that_reaches_the_alarm() {
        let alert = 10_000;
        // Normal around 10 with a little noise, one early spike (not part of the run), then
        // 90 from eight minutes before the alarm on.
        let mut points: Vec<(i64, f64)> = (0..40)
            .map(|i| (alert - 3_600 + i * 60, 10.0 + (i % 3) as f64))
            .collect();
        points[5].1 = 95.0;
        points.extend((0..9).map(|i| (alert - 480 + i * 60, 90.0)));
        let shift = summarise(&series(points), alert);
        assert_eq!(shift.normal, Some(11.0));
        assert_eq!(shift.now, Some(90.0));
        assert_eq!(shift.changed_at, Some(alert - 480));
        let text = describe(&shift, instance().as_str(), alert);
        assert!(text.contains("normal 11, now 90"), "{text}");
        assert!(text.contains("8 min before the alarm"), "{text}");
        assert!(text.contains("the alarm's metric"), "{text}");
    }

    #[test]
    fn noise_within_the_normal_spread_is_not_a_change() {
        let alert = 10_000;
        let points: Vec<(i64, f64)> = (0..60)
            .map(|i| (alert - 3_540 + i * 60, if i % 2 == 0 { 40.0 } else { 48.0 }))
            .collect();
        let shift = summarise(&series(points), alert);
        assert!(!shift.shifted(), "{shift:?}");
        assert!(describe(&shift, instance().as_str(), alert).contains("within its normal range"));
    }

    #[test]
    fn too_little_history_or_no_recent_points_claims_no_change() {
        let alert = 10_000;
        let few = summarise(
            &series(vec![(alert - 3_000, 1.0), (alert - 60, 99.0)]),
            alert,
        );
        assert_eq!(few.normal, None);
        assert!(!few.shifted());
        let old: Vec<(i64, f64)> = (0..20).map(|i| (alert - 3_600 + i * 60, 5.0)).collect();
        let stale = summarise(&series(old), alert);
        assert_eq!(stale.now, None);
        assert!(describe(&stale, instance().as_str(), alert).contains("no data points"));
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let alert = 10_000;
        let mut points: Vec<(i64, f64)> = (0..20).map(|i| (alert - 3_600 + i * 60, 5.0)).collect();
        points.push((alert - 60, f64::NAN));
        points.push((alert, f64::INFINITY));
        let shift = summarise(&series(points), alert);
        assert_eq!(shift.points, 20);
        assert_eq!(shift.now, None);
    }
}
