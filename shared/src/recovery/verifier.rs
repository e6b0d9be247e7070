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
    /// "Read other alarms": every alarm in ALARM (one bounded page, both alarm types), as its
    /// ResultSelector keeps it: `metric_alarm_names`, `metric_alarm_states`,
    /// `metric_alarm_dimensions`, `composite_alarm_names`, `composite_alarm_states` (parallel
    /// lists), or `{Error, Cause}`. Another alarm on the same resource means the problem moved
    /// rather than went away. Executions started before the ResultSelector send the SDK's
    /// `MetricAlarms` records, which are read too.
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
    // An answer about another alarm says nothing about this one.
    let own = alarms.into_iter().find(|alarm| {
        field(alarm, "AlarmName").is_none_or(|name| name.as_str() == Some(alarm_name))
    });
    let Some(alarm) = own else {
        return Reading::Unknown(format!("alarm `{alarm_name}` was not found"));
    };
    let state = field(alarm, "StateValue")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN");
    let since = field(alarm, "StateUpdatedTimestamp").and_then(timestamp);
    match state {
        "OK" => {
            // Without the time it went OK, nobody can say how long it has held.
            let Some(since) = since else {
                return Reading::Unknown(format!(
                    "alarm `{alarm_name}` is OK, but the answer does not say since when"
                ));
            };
            let stable_for = (now - since).num_seconds();
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

/// The resource-health read the action's evidence comes from, by the decision's action; the
/// answer must have that read's shape, or it is unknown, never healthy.
fn read_resource(request: &VerifyRequest) -> Reading {
    let resource = &request.resource;
    if let Some(error) = resource.get("Error") {
        return Reading::Unknown(format!("resource health could not be read: {error}"));
    }
    let action = request
        .decision
        .pointer("/action/action")
        .and_then(Value::as_str);
    let expected = match action {
        Some("ec2.reboot" | "ec2.start") => "InstanceStatuses",
        Some("ecs.force_new_deployment" | "ecs.rollback_task_definition") => "Services",
        Some("lambda.rollback_alias") => "FunctionVersion",
        Some("rds.reboot") => "DbInstanceStatuses",
        Some("asg.replace_instance") => "LifecycleStates",
        // The state machine reads no resource health for other actions ("No resource health to
        // read" passes `{}`), so there is nothing to judge.
        _ => return Reading::NotApplicable,
    };
    let Some(answer) = field(resource, expected) else {
        return Reading::Unknown(format!(
            "the resource health answer has no {expected}, so it says nothing"
        ));
    };
    match expected {
        "InstanceStatuses" => read_instance(answer),
        "Services" if action == Some("ecs.rollback_task_definition") => {
            match resource
                .get("expected_task_definition")
                .and_then(Value::as_str)
                .filter(|expected| !expected.is_empty())
            {
                Some(expected) => read_rolled_back_service(answer, expected),
                None => Reading::Unknown(
                    "the task definition the rollback chose is missing, so what the service runs says nothing"
                        .to_string(),
                ),
            }
        }
        "Services" => read_service(answer),
        "DbInstanceStatuses" => read_database(answer),
        "LifecycleStates" => read_replaced_instance(answer, field(resource, "HealthStatuses")),
        _ => read_alias(answer, request),
    }
}

/// A rolled-back service is healthy when it is healthy as any service is (all tasks running,
/// one deployment) and that one deployment runs the task definition the rollback chose.
fn read_rolled_back_service(services: &Value, expected: &str) -> Reading {
    let reading = read_service(services);
    let Reading::Healthy(reason) = reading else {
        return reading;
    };
    let running = services
        .get(0)
        .and_then(|service| field(service, "Deployments"))
        .and_then(|deployments| deployments.get(0))
        .and_then(|deployment| field(deployment, "TaskDefinition"))
        .and_then(Value::as_str);
    match running {
        Some(running) if running == expected => {
            Reading::Healthy(format!("{reason}, on task definition {running}"))
        }
        Some(running) => Reading::Unhealthy(format!(
            "the service runs task definition {running}, not {expected}"
        )),
        None => Reading::Unknown(
            "the ECS answer does not say which task definition the service runs".to_string(),
        ),
    }
}

/// An RDS DB instance after a reboot: `available` is healthy, the states a reboot passes
/// through are settling, anything else (failed, storage-full, stopped) is unhealthy.
fn read_database(statuses: &Value) -> Reading {
    let Some(statuses) = statuses.as_array() else {
        return Reading::Unknown("the RDS answer's statuses are not a list".to_string());
    };
    let Some(status) = statuses.first() else {
        return Reading::Unhealthy("the DB instance was not found".to_string());
    };
    let Some(status) = status.as_str() else {
        return Reading::Unknown("the DB instance status is not text".to_string());
    };
    match status {
        "available" => Reading::Healthy("the DB instance is available".to_string()),
        "rebooting"
        | "starting"
        | "modifying"
        | "backing-up"
        | "maintenance"
        | "configuring-enhanced-monitoring" => {
            Reading::Settling(format!("the DB instance is {status}"))
        }
        other => Reading::Unhealthy(format!("the DB instance is {other}")),
    }
}

/// An instance marked Unhealthy for its group to replace: gone from the group, or on its way
/// out (`Terminating…`, `Terminated`), is replaced; still in service is not.
fn read_replaced_instance(states: &Value, health: Option<&Value>) -> Reading {
    let Some(states) = states.as_array() else {
        return Reading::Unknown("the Auto Scaling answer's states are not a list".to_string());
    };
    let Some(state) = states.first() else {
        return Reading::Healthy(
            "the instance has left its Auto Scaling group: it was replaced".to_string(),
        );
    };
    let Some(state) = state.as_str() else {
        return Reading::Unknown("the instance's lifecycle state is not text".to_string());
    };
    let health = health
        .and_then(|health| health.get(0))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if state.starts_with("Terminat") {
        Reading::Healthy(format!(
            "the instance is {state}: its Auto Scaling group is replacing it"
        ))
    } else if health.eq_ignore_ascii_case("unhealthy") {
        Reading::Settling(format!(
            "the instance is {state} and marked {health}; the group has not replaced it yet"
        ))
    } else {
        Reading::Unhealthy(format!("the instance is still {state} and {health}"))
    }
}

fn read_instance(statuses: &Value) -> Reading {
    let Some(statuses) = statuses.as_array() else {
        return Reading::Unknown("the instance status answer is not a list".to_string());
    };
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
    match (state, instance, system) {
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
    }
}

/// A count as ECS gives it: a non-negative integer, or nothing.
fn count(service: &Value, pascal: &str) -> Option<u64> {
    field(service, pascal).and_then(Value::as_u64)
}

/// Healthy only when the answer says so in full: running and desired counts that are
/// non-negative integers, at least one task desired and all of them running, and exactly one
/// deployment. A missing or malformed count is unknown, never "0 of 0, healthy".
fn read_service(services: &Value) -> Reading {
    let Some(services) = services.as_array() else {
        return Reading::Unknown("the ECS answer's Services is not a list".to_string());
    };
    let Some(service) = services.first() else {
        return Reading::Unhealthy("the ECS service was not found".to_string());
    };
    // Each deployment is a record; a list with anything else in it is not ECS's answer.
    let deployments = field(service, "Deployments")
        .and_then(Value::as_array)
        .filter(|deployments| deployments.iter().all(Value::is_object))
        .map(Vec::len);
    let (Some(running), Some(desired), Some(deployments)) = (
        count(service, "RunningCount"),
        count(service, "DesiredCount"),
        deployments,
    ) else {
        return Reading::Unknown(
            "the ECS answer lacks a readable running count, desired count or deployments list"
                .to_string(),
        );
    };
    if desired == 0 {
        return Reading::Unknown(
            "the ECS service desires no tasks, so running says nothing".into(),
        );
    }
    if running >= desired && deployments == 1 {
        Reading::Healthy(format!(
            "the service runs {running} of {desired} tasks, one deployment"
        ))
    } else {
        Reading::Settling(format!(
            "the service runs {running} of {desired} tasks across {deployments} deployments"
        ))
    }
}

fn read_alias(version: &Value, request: &VerifyRequest) -> Reading {
    let target = request
        .decision
        .pointer("/action/params/target_version")
        .and_then(Value::as_str)
        .filter(|target| !target.is_empty());
    let (Some(version), Some(target)) = (version.as_str(), target) else {
        return Reading::Unknown(
            "the alias's version or the version it should point at is missing".to_string(),
        );
    };
    if version == target {
        Reading::Healthy(format!("the alias points at version {version}"))
    } else {
        Reading::Unhealthy(format!(
            "the alias points at version {version}, not {target}"
        ))
    }
}

/// One alarm in ALARM, as "Read other alarms" kept it.
struct FiringAlarm<'a> {
    name: Option<&'a str>,
    /// The dimension values of a metric alarm; `None` when they cannot be paired with it.
    dimensions: Option<Vec<&'a str>>,
}

fn strings(value: Option<&Value>) -> Option<Vec<&str>> {
    value?.as_array()?.iter().map(Value::as_str).collect()
}

fn dimension_values(dimensions: &Value) -> Vec<&str> {
    dimensions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|dimension| field(dimension, "Value").and_then(Value::as_str))
        .collect()
}

/// The firing alarms in either shape, or `None` when the answer cannot be read as one.
fn firing_alarms(other: &Value) -> Option<Vec<FiringAlarm<'_>>> {
    if let Some(records) = field(other, "MetricAlarms") {
        // The SDK's full records, from an execution started before the ResultSelector.
        return records.as_array().map(|records| {
            records
                .iter()
                .map(|record| FiringAlarm {
                    name: field(record, "AlarmName").and_then(Value::as_str),
                    dimensions: Some(
                        field(record, "Dimensions").map_or_else(Vec::new, dimension_values),
                    ),
                })
                .collect()
        });
    }
    let names = strings(other.get("metric_alarm_names"))?;
    let states = strings(other.get("metric_alarm_states"))?;
    let dimensions = other.get("metric_alarm_dimensions")?.as_array()?;
    let composite_names = strings(other.get("composite_alarm_names"))?;
    let composite_states = strings(other.get("composite_alarm_states"))?;
    // Only alarms in ALARM were asked for; a state that says otherwise is not counted.
    let firing = |states: &[&str], index: usize| states.get(index).is_none_or(|s| *s == "ALARM");
    // JsonPath skips an alarm without the field, so the lists pair up only at equal length;
    // otherwise every dimension list is kept without a name, still counted against recovery.
    let paired = dimensions.len() == names.len();
    let mut alarms: Vec<FiringAlarm<'_>> = if paired {
        names
            .iter()
            .zip(dimensions)
            .enumerate()
            .filter(|(index, _)| firing(&states, *index))
            .map(|(_, (name, dimensions))| FiringAlarm {
                name: Some(name),
                dimensions: Some(dimension_values(dimensions)),
            })
            .collect()
    } else {
        dimensions
            .iter()
            .map(|dimensions| FiringAlarm {
                name: None,
                dimensions: Some(dimension_values(dimensions)),
            })
            .collect()
    };
    alarms.extend(
        composite_names
            .iter()
            .enumerate()
            .filter(|(index, _)| firing(&composite_states, *index))
            .map(|(_, name)| FiringAlarm {
                name: Some(name),
                dimensions: None,
            }),
    );
    Some(alarms)
}

/// Another alarm in ALARM on the incident's resource: a metric alarm whose dimensions name the
/// resource id, or a composite alarm whose name does (a composite alarm has no dimensions).
fn read_other_alarms(request: &VerifyRequest) -> Reading {
    let other = &request.other_alarms;
    // The state machine always reads them (a failed read leaves `{Error, Cause}`), so an
    // absent answer is a malformed request, and proves nothing either way.
    if other.is_null() {
        return Reading::Unknown("the other alarms were not read".to_string());
    }
    if let Some(error) = other.get("Error") {
        return Reading::Unknown(format!("the other alarms could not be read: {error}"));
    }
    let Some(alarms) = firing_alarms(other) else {
        return Reading::Unknown("the other alarms' answer could not be read".to_string());
    };
    let own = request.incident.get("alarm_name").and_then(Value::as_str);
    let resource_id = request
        .incident
        .get("resource")
        .and_then(Value::as_str)
        .and_then(|resource| resource.split_once('/'))
        .map(|(_, id)| id.to_string());
    let Some(resource_id) = resource_id.filter(|id| !id.is_empty()) else {
        return Reading::NotApplicable;
    };
    let names_resource = |value: &str| {
        !value.is_empty() && (resource_id == value || resource_id.ends_with(&format!("/{value}")))
    };
    let correlated = alarms.iter().find(|alarm| {
        let on_resource = match &alarm.dimensions {
            Some(values) => values.iter().any(|value| names_resource(value)),
            None => alarm
                .name
                .is_some_and(|name| name.contains(resource_id.as_str())),
        };
        on_resource && (alarm.name.is_none() || alarm.name != own)
    });
    match correlated {
        Some(alarm) => Reading::Unhealthy(format!(
            "another alarm fires on the resource: {}",
            alarm.name.unwrap_or("(unnamed)")
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
        nothing.decision = json!({});
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
        ecs.decision = json!({"action": {"action": "ecs.force_new_deployment", "params": {"cluster": "c", "service": "s"}}});
        assert_eq!(verify(&ecs, now()).verdict, Verdict::Recovered);
        ecs.resource =
            json!({"Services": [{"RunningCount": 1, "DesiredCount": 3, "Deployments": [{}, {}]}]});
        assert_eq!(verify(&ecs, now()).verdict, Verdict::Pending);
        let mut lambda = request(json!({}), json!({"FunctionVersion": "7"}), 1);
        lambda.incident = json!({});
        lambda.decision = json!({"action": {"action": "lambda.rollback_alias", "params": {"target_version": "7"}}});
        assert_eq!(verify(&lambda, now()).verdict, Verdict::Recovered);
    }

    #[test]
    fn an_ecs_answer_without_counts_is_never_healthy() {
        let mut ecs = request(json!({}), json!({}), 1);
        ecs.incident = json!({});
        ecs.decision = json!({"action": {"action": "ecs.force_new_deployment", "params": {"cluster": "c", "service": "s"}}});
        for answer in [
            json!({"Services": [{}]}),
            json!({"Services": [{"Deployments": [{}]}]}),
            json!({"Services": [{"RunningCount": 3, "Deployments": [{}]}]}),
            json!({"Services": [{"RunningCount": 3, "DesiredCount": 3}]}),
            json!({"Services": [{"RunningCount": "3", "DesiredCount": "3", "Deployments": [{}]}]}),
            json!({"Services": [{"RunningCount": -1, "DesiredCount": -1, "Deployments": [{}]}]}),
            json!({"Services": [{"RunningCount": 0, "DesiredCount": 0, "Deployments": [{}]}]}),
            json!({"Services": [{"RunningCount": 3, "DesiredCount": 3, "Deployments": []}]}),
            json!({"Services": {"RunningCount": 3}}),
            json!({"InstanceStatuses": []}),
        ] {
            ecs.resource = answer.clone();
            let verdict = verify(&ecs, now());
            assert_ne!(verdict.verdict, Verdict::Recovered, "{answer}: {verdict:?}");
        }
    }

    #[test]
    fn other_alarms_are_read_in_the_result_selectors_shape_for_both_alarm_types() {
        let mut moved = request(
            alarm("OK", "2026-11-22T06:00:00Z"),
            instance("running", "ok"),
            1,
        );
        moved.incident = json!({"alarm_name": "ServerCpuTooHigh", "resource": "ec2:instance/i-1"});
        let shape = |names: Value, dimensions: Value, composites: Value| {
            let states = |list: &Value| json!(vec!["ALARM"; list.as_array().map_or(0, Vec::len)]);
            json!({"metric_alarm_names": names, "metric_alarm_states": states(&names), "metric_alarm_dimensions": dimensions, "composite_alarm_names": composites, "composite_alarm_states": states(&composites)})
        };
        moved.other_alarms = shape(json!([]), json!([]), json!([]));
        assert_eq!(verify(&moved, now()).verdict, Verdict::Recovered);
        moved.other_alarms = shape(
            json!(["Elsewhere", "DiskFull"]),
            json!([[{"Name": "InstanceId", "Value": "i-2"}], [{"Name": "InstanceId", "Value": "i-1"}]]),
            json!([]),
        );
        let verdict = verify(&moved, now());
        assert_eq!(verdict.verdict, Verdict::Pending, "{verdict:?}");
        assert!(
            verdict
                .reasons
                .iter()
                .any(|reason| reason.contains("DiskFull"))
        );
        moved.other_alarms = shape(json!([]), json!([]), json!(["i-1-health"]));
        assert_eq!(verify(&moved, now()).verdict, Verdict::Pending);
        moved.other_alarms = shape(json!([]), json!([]), json!(["unrelated"]));
        assert_eq!(verify(&moved, now()).verdict, Verdict::Recovered);
        // A name JsonPath skipped: the lists no longer pair, the resource's dimension still counts.
        moved.other_alarms = shape(
            json!(["Elsewhere"]),
            json!([[{"Name": "InstanceId", "Value": "i-2"}], [{"Name": "InstanceId", "Value": "i-1"}]]),
            json!([]),
        );
        assert_eq!(verify(&moved, now()).verdict, Verdict::Pending);
        for unreadable in [
            json!({"Error": "CloudWatch.ThrottlingException", "Cause": "slow down"}),
            json!({"metric_alarm_names": "DiskFull"}),
            json!("nothing"),
        ] {
            moved.other_alarms = unreadable.clone();
            assert_ne!(
                verify(&moved, now()).verdict,
                Verdict::Recovered,
                "{unreadable}"
            );
        }
    }

    #[test]
    fn an_ok_alarm_without_its_time_or_under_another_name_is_not_recovery() {
        let policy = RecoveryPolicy {
            stable_seconds: 0,
            ..RecoveryPolicy::default()
        };
        let mut undated = request(
            json!({"MetricAlarms": [{"AlarmName": "ServerCpuTooHigh", "StateValue": "OK"}]}),
            instance("running", "ok"),
            1,
        );
        undated.policy = policy.clone();
        assert_ne!(verify(&undated, now()).verdict, Verdict::Recovered);
        let mut other = request(
            json!({"MetricAlarms": [{"AlarmName": "SomethingElse", "StateValue": "OK", "StateUpdatedTimestamp": "2026-11-22T05:00:00Z"}]}),
            instance("running", "ok"),
            1,
        );
        other.policy = policy;
        assert_ne!(verify(&other, now()).verdict, Verdict::Recovered);
    }

    fn resource_request(action: &str, resource: Value) -> VerifyRequest {
        VerifyRequest {
            incident: json!({"resource": "ecs:service/default/servicetest"}),
            decision: json!({"action": {"action": action, "params": {}}}),
            alarm: Value::Null,
            resource,
            other_alarms: json!({"MetricAlarms": []}),
            check: 1,
            policy: RecoveryPolicy::default(),
        }
    }

    fn service_on(definition: &str) -> Value {
        json!([{"RunningCount": 3, "DesiredCount": 3, "Deployments": [{"Status": "PRIMARY", "TaskDefinition": definition}]}])
    }

    #[test]
    fn a_rollback_counts_only_on_the_task_definition_it_chose() {
        let on = |running: &str, expected: Value| {
            verify(
                &resource_request(
                    "ecs.rollback_task_definition",
                    json!({"Services": service_on(running), "expected_task_definition": expected}),
                ),
                now(),
            )
            .verdict
        };
        assert_eq!(on("td:7", json!("td:7")), Verdict::Recovered);
        assert_ne!(on("td:8", json!("td:7")), Verdict::Recovered);
        // Without the choice on record, nothing says the rollback happened.
        assert_ne!(on("td:7", Value::Null), Verdict::Recovered);
    }

    #[test]
    fn a_rebooted_database_counts_only_when_available() {
        let status = |statuses: Value| {
            verify(
                &resource_request("rds.reboot", json!({"DbInstanceStatuses": statuses})),
                now(),
            )
            .verdict
        };
        assert_eq!(status(json!(["available"])), Verdict::Recovered);
        for other in [
            json!(["rebooting"]),
            json!(["failed"]),
            json!([]),
            json!("available"),
        ] {
            assert_ne!(status(other.clone()), Verdict::Recovered, "{other}");
        }
    }

    #[test]
    fn a_replaced_instance_counts_once_its_group_lets_it_go() {
        let read = |states: Value, health: Value| {
            verify(
                &resource_request(
                    "asg.replace_instance",
                    json!({"LifecycleStates": states, "HealthStatuses": health}),
                ),
                now(),
            )
            .verdict
        };
        assert_eq!(
            read(json!(["Terminating"]), json!(["UNHEALTHY"])),
            Verdict::Recovered
        );
        assert_eq!(read(json!([]), json!([])), Verdict::Recovered);
        assert_ne!(
            read(json!(["InService"]), json!(["HEALTHY"])),
            Verdict::Recovered
        );
        assert_ne!(
            read(json!(["InService"]), json!(["UNHEALTHY"])),
            Verdict::Recovered
        );
    }
}
