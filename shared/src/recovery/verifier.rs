//! The verifier's judgement: given what the state machine read (the alarm, the resource's
//! health), is the incident RECOVERED, still PENDING, or FAILED? Pure logic, no AWS calls: the
//! state machine gathers the evidence with SDK integrations, which keeps the verifier small.

use crate::config::RecoveryPolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Recovered,
    Pending,
    Failed,
}

/// What the "Verify recovery" state sends.
#[derive(Clone, Debug, Deserialize)]
pub struct VerifyRequest {
    pub incident: Value,
    pub decision: Value,
    /// `cloudwatch:describeAlarms` output, or `{Error, Cause}` when it could not be read.
    #[serde(default)]
    pub alarm: Value,
    /// The resource-health read for the action (`describeInstanceStatus`, `describeServices`,
    /// `getAlias`), `{}` when there is none, or `{Error, Cause}`.
    #[serde(default)]
    pub resource: Value,
    /// `cloudwatch:describeAlarms` for every alarm in ALARM: another one on the same resource
    /// means the problem moved rather than went away.
    #[serde(default)]
    pub other_alarms: Value,
    /// 1 for the first check.
    pub check: u32,
    pub policy: RecoveryPolicy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// One line of evidence and what it says about recovery.
#[derive(Debug, PartialEq)]
enum Reading {
    Healthy(String),
    Settling(String),
    Unhealthy(String),
    Unknown(String),
    NotApplicable,
}

fn field<'a>(value: &'a Value, pascal: &str) -> Option<&'a Value> {
    // SDK integrations answer in PascalCase; accept camelCase for recorded responses too.
    let camel = format!("{}{}", pascal[..1].to_lowercase(), &pascal[1..]);
    value.get(pascal).or_else(|| value.get(&camel))
}

/// A timestamp as an SDK integration may give it: RFC 3339 text, or epoch seconds or millis.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.with_timezone(&Utc)),
        Value::Number(number) => {
            let number = number.as_f64()?;
            // Anything past the year 2286 in seconds is certainly milliseconds.
            let millis = if number > 1e10 {
                number
            } else {
                number * 1000.0
            };
            DateTime::from_timestamp_millis(millis as i64)
        }
        _ => None,
    }
}

fn read_alarm(request: &VerifyRequest, now: DateTime<Utc>) -> Reading {
    let alarm_name = request.incident.get("alarm_name").and_then(Value::as_str);
    let Some(alarm_name) = alarm_name else {
        return Reading::NotApplicable;
    };
    if let Some(error) = request.alarm.get("Error") {
        return Reading::Unknown(format!("alarm `{alarm_name}` could not be read: {error}"));
    }
    let alarms = ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .filter_map(|key| field(&request.alarm, key))
        .filter_map(Value::as_array)
        .flatten();
    let Some(alarm) = alarms.into_iter().next() else {
        return Reading::Unknown(format!("alarm `{alarm_name}` was not found"));
    };
    let state = field(alarm, "StateValue")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN");
    let since = field(alarm, "StateUpdatedTimestamp").and_then(timestamp);
    match state {
        "OK" => {
            let stable_for = since.map(|since| (now - since).num_seconds()).unwrap_or(0);
            // OK must hold for as many periods as the alarm itself evaluates, and at least the
            // policy's floor: one good datapoint is not a recovery.
            let period = field(alarm, "Period").and_then(Value::as_i64).unwrap_or(0);
            let periods = field(alarm, "EvaluationPeriods")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            // Saturating: a corrupt or hostile Period × EvaluationPeriods must not wrap to a
            // negative requirement that any OK would meet.
            let required =
                (request.policy.stable_seconds as i64).max(period.saturating_mul(periods));
            if stable_for >= required {
                Reading::Healthy(format!(
                    "alarm `{alarm_name}` is OK and has stayed OK for {stable_for}s (≥ {required}s)"
                ))
            } else {
                Reading::Settling(format!(
                    "alarm `{alarm_name}` is OK for {stable_for}s of the {required}s it must hold"
                ))
            }
        }
        "ALARM" => Reading::Unhealthy(format!("alarm `{alarm_name}` is still in ALARM")),
        other => Reading::Unknown(format!("alarm `{alarm_name}` is {other}")),
    }
}

fn read_resource(request: &VerifyRequest) -> Reading {
    let resource = &request.resource;
    if let Some(error) = resource.get("Error") {
        return Reading::Unknown(format!("resource health could not be read: {error}"));
    }
    if let Some(statuses) = field(resource, "InstanceStatuses").and_then(Value::as_array) {
        let Some(status) = statuses.first() else {
            return Reading::Unhealthy("the instance was not found".to_string());
        };
        let state = field(status, "InstanceState")
            .and_then(|s| field(s, "Name"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let instance = field(status, "InstanceStatus")
            .and_then(|s| field(s, "Status"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let system = field(status, "SystemStatus")
            .and_then(|s| field(s, "Status"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        return match (state, instance, system) {
            ("running", "ok", "ok") => {
                Reading::Healthy("the instance is running and passes its status checks".to_string())
            }
            ("running" | "pending", "initializing" | "not-applicable" | "unknown", _)
            | ("pending", _, _) => Reading::Settling(format!(
                "the instance is {state}, status checks {instance}/{system}"
            )),
            _ => Reading::Unhealthy(format!(
                "the instance is {state}, status checks {instance}/{system}"
            )),
        };
    }
    if let Some(services) = field(resource, "Services").and_then(Value::as_array) {
        let Some(service) = services.first() else {
            return Reading::Unhealthy("the ECS service was not found".to_string());
        };
        let running = field(service, "RunningCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let desired = field(service, "DesiredCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let deployments = field(service, "Deployments")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        return if running >= desired && deployments <= 1 {
            Reading::Healthy(format!(
                "the service runs {running} of {desired} tasks, one deployment"
            ))
        } else {
            Reading::Settling(format!(
                "the service runs {running} of {desired} tasks across {deployments} deployments"
            ))
        };
    }
    if let Some(version) = field(resource, "FunctionVersion").and_then(Value::as_str) {
        let target = request
            .decision
            .pointer("/action/params/target_version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return if version == target {
            Reading::Healthy(format!("the alias points at version {version}"))
        } else {
            Reading::Unhealthy(format!(
                "the alias points at version {version}, not {target}"
            ))
        };
    }
    Reading::NotApplicable
}

/// Another alarm in ALARM whose dimensions name the incident's resource id.
fn read_other_alarms(request: &VerifyRequest) -> Reading {
    let Some(alarms) = field(&request.other_alarms, "MetricAlarms").and_then(Value::as_array)
    else {
        return Reading::NotApplicable;
    };
    let own = request.incident.get("alarm_name").and_then(Value::as_str);
    let resource_id = request
        .incident
        .get("resource")
        .and_then(Value::as_str)
        .and_then(|resource| resource.split_once('/'))
        .map(|(_, id)| id.to_string());
    let Some(resource_id) = resource_id else {
        return Reading::NotApplicable;
    };
    let correlated = alarms.iter().find(|alarm| {
        let name = field(alarm, "AlarmName").and_then(Value::as_str);
        let names_resource = field(alarm, "Dimensions")
            .and_then(Value::as_array)
            .is_some_and(|dimensions| {
                dimensions.iter().any(|dimension| {
                    field(dimension, "Value")
                        .and_then(Value::as_str)
                        .is_some_and(|value| {
                            resource_id == value || resource_id.ends_with(&format!("/{value}"))
                        })
                })
            });
        name != own && names_resource
    });
    match correlated {
        Some(alarm) => Reading::Unhealthy(format!(
            "another alarm fires on the resource: {}",
            field(alarm, "AlarmName")
                .and_then(Value::as_str)
                .unwrap_or("unnamed")
        )),
        None => Reading::NotApplicable,
    }
}

/// Combines the readings: any unhealthy or unconfirmed reading keeps the verdict PENDING until
/// the last check, when it becomes FAILED; RECOVERED needs at least one healthy reading and no
/// other kind. Nothing to read at all is FAILED: recovery that cannot be shown is not assumed.
pub fn verify(request: &VerifyRequest, now: DateTime<Utc>) -> VerifyResponse {
    let readings = [
        read_alarm(request, now),
        read_resource(request),
        read_other_alarms(request),
    ];
    let last_check = request.check >= request.policy.max_checks;
    let mut reasons = Vec::new();
    let (mut healthy, mut doubtful) = (0, 0);
    for reading in readings {
        match reading {
            Reading::Healthy(reason) => {
                healthy += 1;
                reasons.push(reason);
            }
            Reading::Settling(reason) | Reading::Unhealthy(reason) | Reading::Unknown(reason) => {
                doubtful += 1;
                reasons.push(reason);
            }
            Reading::NotApplicable => {}
        }
    }
    let verdict = if healthy == 0 && doubtful == 0 {
        reasons.push("there is no alarm or resource health to verify against".to_string());
        Verdict::Failed
    } else if doubtful == 0 {
        Verdict::Recovered
    } else if last_check {
        reasons.push(format!("not recovered after {} checks", request.check));
        Verdict::Failed
    } else {
        Verdict::Pending
    };
    VerifyResponse { verdict, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 6, 10, 0).unwrap()
    }

    fn request(alarm: Value, resource: Value, check: u32) -> VerifyRequest {
        VerifyRequest {
            incident: json!({"alarm_name": "ServerCpuTooHigh"}),
            decision: json!({"action": {"action": "ec2.reboot", "params": {"instance_id": "i-1"}}}),
            alarm,
            resource,
            other_alarms: json!({"MetricAlarms": []}),
            check,
            policy: RecoveryPolicy::default(),
        }
    }

    fn alarm(state: &str, since: &str) -> Value {
        json!({"MetricAlarms": [{"AlarmName": "ServerCpuTooHigh", "StateValue": state, "StateUpdatedTimestamp": since}], "CompositeAlarms": []})
    }

    fn instance(state: &str, status: &str) -> Value {
        json!({"InstanceStatuses": [{"InstanceId": "i-1", "InstanceState": {"Name": state}, "InstanceStatus": {"Status": status}, "SystemStatus": {"Status": "ok"}}]})
    }

    #[test]
    fn ok_long_enough_with_a_healthy_instance_is_recovered() {
        let verdict = verify(
            &request(
                alarm("OK", "2026-11-22T06:00:00Z"),
                instance("running", "ok"),
                2,
            ),
            now(),
        );
        assert_eq!(verdict.verdict, Verdict::Recovered, "{verdict:?}");
    }

    #[test]
    fn ok_too_recently_is_pending_then_failed_at_the_last_check() {
        let fresh = alarm("OK", "2026-11-22T06:09:00Z");
        assert_eq!(
            verify(&request(fresh.clone(), instance("running", "ok"), 1), now()).verdict,
            Verdict::Pending
        );
        let last = RecoveryPolicy::default().max_checks;
        assert_eq!(
            verify(&request(fresh, instance("running", "ok"), last), now()).verdict,
            Verdict::Failed
        );
    }

    #[test]
    fn an_alarm_still_firing_or_an_impaired_instance_is_not_recovered() {
        assert_eq!(
            verify(
                &request(
                    alarm("ALARM", "2026-11-22T05:00:00Z"),
                    instance("running", "ok"),
                    1
                ),
                now()
            )
            .verdict,
            Verdict::Pending
        );
        assert_eq!(
            verify(
                &request(
                    alarm("OK", "2026-11-22T05:00:00Z"),
                    instance("running", "impaired"),
                    1
                ),
                now()
            )
            .verdict,
            Verdict::Pending
        );
        let last = RecoveryPolicy::default().max_checks;
        assert_eq!(
            verify(
                &request(
                    alarm("OK", "2026-11-22T05:00:00Z"),
                    instance("stopped", "not-applicable"),
                    last
                ),
                now()
            )
            .verdict,
            Verdict::Failed
        );
    }

    #[test]
    fn unreadable_evidence_never_counts_as_recovery() {
        let error = json!({"Error": "CloudWatch.ThrottlingException", "Cause": "slow down"});
        assert_eq!(
            verify(&request(error, json!({}), 1), now()).verdict,
            Verdict::Pending
        );
        let mut nothing = request(json!({}), json!({}), 1);
        nothing.incident = json!({});
        assert_eq!(verify(&nothing, now()).verdict, Verdict::Failed);
    }

    #[test]
    fn a_new_alarm_on_the_same_resource_is_not_recovery() {
        let mut moved = request(
            alarm("OK", "2026-11-22T06:00:00Z"),
            instance("running", "ok"),
            1,
        );
        moved.incident = json!({"alarm_name": "ServerCpuTooHigh", "resource": "ec2:instance/i-1"});
        moved.other_alarms = json!({"MetricAlarms": [{"AlarmName": "DiskFull", "StateValue": "ALARM", "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}]}]});
        let verdict = verify(&moved, now());
        assert_eq!(verdict.verdict, Verdict::Pending, "{verdict:?}");
        assert!(
            verdict
                .reasons
                .iter()
                .any(|reason| reason.contains("DiskFull"))
        );
        moved.other_alarms = json!({"MetricAlarms": [{"AlarmName": "Elsewhere", "Dimensions": [{"Name": "InstanceId", "Value": "i-2"}]}]});
        assert_eq!(verify(&moved, now()).verdict, Verdict::Recovered);
    }

    #[test]
    fn ok_must_hold_for_the_alarms_own_evaluation_periods() {
        // Ten five-minute periods: 10 minutes of OK is not enough, an hour is.
        let slow = |since: &str| json!({"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": since, "Period": 300, "EvaluationPeriods": 10}]});
        assert_eq!(
            verify(
                &request(slow("2026-11-22T06:00:00Z"), instance("running", "ok"), 1),
                now()
            )
            .verdict,
            Verdict::Pending
        );
        assert_eq!(
            verify(
                &request(slow("2026-11-22T05:10:00Z"), instance("running", "ok"), 1),
                now()
            )
            .verdict,
            Verdict::Recovered
        );
    }

    #[test]
    fn epoch_timestamps_are_read_too() {
        let seconds =
            json!({"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": 1_795_327_200}]});
        let millis = json!({"MetricAlarms": [{"StateValue": "OK", "StateUpdatedTimestamp": 1_795_327_200_000i64}]});
        for alarm in [seconds, millis] {
            assert_eq!(
                verify(&request(alarm, instance("running", "ok"), 1), now()).verdict,
                Verdict::Recovered
            );
        }
    }

    #[test]
    fn ecs_and_lambda_health_are_read_from_their_sdk_answers() {
        let mut ecs = request(
            json!({}),
            json!({"Services": [{"RunningCount": 3, "DesiredCount": 3, "Deployments": [{}]}]}),
            1,
        );
        ecs.incident = json!({});
        assert_eq!(verify(&ecs, now()).verdict, Verdict::Recovered);
        ecs.resource =
            json!({"Services": [{"RunningCount": 1, "DesiredCount": 3, "Deployments": [{}, {}]}]});
        assert_eq!(verify(&ecs, now()).verdict, Verdict::Pending);
        let mut lambda = request(json!({}), json!({"FunctionVersion": "7"}), 1);
        lambda.incident = json!({});
        lambda.decision = json!({"action": {"action": "lambda.rollback_alias", "params": {"target_version": "7"}}});
        assert_eq!(verify(&lambda, now()).verdict, Verdict::Recovered);
    }
}
