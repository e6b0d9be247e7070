//! Every sample event in events/ normalises to the signal (or the error) it should, and every
//! sample has an expectation here, so a new sample cannot go untested.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::config::SignalConfig;
use argus::signal::{NormaliseError, Normalised, SignalEffect, SignalSource, normalise_str};
use std::path::{Path, PathBuf};

enum Expect {
    Signal {
        source: SignalSource,
        effect: SignalEffect,
        signature: &'static str,
        resource: &'static str,
    },
    Ignored,
    Error {
        error_type: &'static str,
        mentions: &'static str,
    },
}

use Expect::*;
use SignalEffect::{Clears, Informs, Opens};
use SignalSource::*;

fn expectations() -> Vec<(&'static str, Expect)> {
    vec![
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm:AWS/EC2/CPUUtilization",
                resource: "ec2:instance/i-12345678901234567",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM-again.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm:AWS/EC2/CPUUtilization",
                resource: "ec2:instance/i-12345678901234567",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-OK.json",
            Signal {
                source: AlarmEventBridge,
                effect: Clears,
                signature: "alarm:AWS/EC2/CPUUtilization",
                resource: "ec2:instance/i-12345678901234567",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-INSUFFICIENT_DATA.json",
            Signal {
                source: AlarmEventBridge,
                effect: Informs,
                signature: "alarm:AWS/EC2/CPUUtilization",
                resource: "ec2:instance/i-12345678901234567",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-status-check-failed-ALARM.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm:AWS/EC2/StatusCheckFailed",
                resource: "ec2:instance/i-0abc1234def567890",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-status-check-failed-OK.json",
            Signal {
                source: AlarmEventBridge,
                effect: Clears,
                signature: "alarm:AWS/EC2/StatusCheckFailed",
                resource: "ec2:instance/i-0abc1234def567890",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-metric-math-alarm-ALARM.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm-math:checkout-error-rate",
                resource: "lambda:function/checkout",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-anomaly-detection-alarm-ALARM.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm:AWS/ECS/CPUUtilization",
                resource: "ecs:service/prod/checkout",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-composite-alarm-ALARM.json",
            Signal {
                source: AlarmEventBridge,
                effect: Opens,
                signature: "alarm-composite:checkout-degraded",
                resource: "cloudwatch:alarm/checkout-degraded",
            },
        ),
        (
            "cloudwatch-alarm/eventbridge-alarm-configuration-change.json",
            Ignored,
        ),
        (
            "cloudwatch-alarm/lambda-action-metric-alarm-ALARM.json",
            Signal {
                source: AlarmLambdaAction,
                effect: Opens,
                signature: "alarm:AWS/Logs/CallCount",
                resource: "ec2:instance/i-12345678",
            },
        ),
        (
            "cloudwatch-alarm/sns-metric-alarm-ALARM.json",
            Signal {
                source: AlarmSns,
                effect: Opens,
                signature: "alarm:AWS/EC2/NetworkOut",
                resource: "ec2:instance/i-0abc1234def567890",
            },
        ),
        (
            // The verbatim copy names `TestInstance`, which no EC2 instance can be named.
            "invalid/sns-alarm-instance-id-not-an-instance.json",
            Error {
                error_type: "InvalidEvent",
                mentions: "dimensions.InstanceId",
            },
        ),
        (
            "cloudtrail/ec2-TerminateInstances.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ec2:TerminateInstances",
                resource: "ec2:instance/i-1a2b3c4d",
            },
        ),
        (
            "cloudtrail/ec2-StopInstances.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ec2:StopInstances",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "cloudtrail/ec2-StopInstances-by-argus.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ec2:StopInstances",
                resource: "ec2:instance/i-12345678901234567",
            },
        ),
        (
            "cloudtrail/dynamodb-DeleteTable.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:dynamodb:DeleteTable",
                resource: "dynamodb:table/Music",
            },
        ),
        (
            "cloudtrail/ssm-PutParameter.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ssm:PutParameter",
                resource: "ssm:parameter//checkout/prod/payment-timeout-ms",
            },
        ),
        (
            "cloudtrail/ssm-DeleteParameter.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ssm:DeleteParameter",
                resource: "ssm:parameter//checkout/prod/feature-flags",
            },
        ),
        (
            "cloudtrail/lambda-DeleteFunction.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:lambda:DeleteFunction",
                resource: "lambda:function/checkout-reports",
            },
        ),
        (
            "cloudtrail/lambda-UpdateFunctionConfiguration.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:lambda:UpdateFunctionConfiguration",
                resource: "lambda:function/checkout",
            },
        ),
        (
            "cloudtrail/s3-PutBucketPolicy.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:s3:PutBucketPolicy",
                resource: "s3:bucket/checkout-receipts-123456789012",
            },
        ),
        (
            "cloudtrail/s3-DeleteBucket.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:s3:DeleteBucket",
                resource: "s3:bucket/checkout-tmp-exports-123456789012",
            },
        ),
        (
            "cloudtrail/rds-DeleteDBInstance.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:rds:DeleteDBInstance",
                resource: "rds:db/orders-db",
            },
        ),
        ("cloudtrail/s3-CreateBucket.json", Ignored),
        (
            "ec2-state-change/pending.json",
            Signal {
                source: Ec2StateChange,
                effect: Informs,
                signature: "ec2:instance-state",
                resource: "ec2:instance/i-abcd1111",
            },
        ),
        (
            "ec2-state-change/stopped.json",
            Signal {
                source: Ec2StateChange,
                effect: Opens,
                signature: "ec2:instance-state",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "ec2-state-change/running.json",
            Signal {
                source: Ec2StateChange,
                effect: Clears,
                signature: "ec2:instance-state",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "ec2-state-change/terminated.json",
            Signal {
                source: Ec2StateChange,
                effect: Opens,
                signature: "ec2:instance-state",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "aws-health/ec2-instance-retirement-scheduled.json",
            Signal {
                source: AwsHealth,
                effect: Opens,
                signature: "health:ec2:AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED",
                resource: "ec2:instance/i-00ddbf07ce6372082",
            },
        ),
        (
            "aws-health/ec2-operational-issue.json",
            Signal {
                source: AwsHealth,
                effect: Opens,
                signature: "health:ec2:AWS_EC2_OPERATIONAL_ISSUE",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "argus/log-anomaly.json",
            Signal {
                source: LogAnomaly,
                effect: Opens,
                signature: "log:/aws/lambda/checkout:t-9f2c41d07a3e5b18",
                resource: "lambda:function/checkout",
            },
        ),
        (
            "argus/log-anomaly-rate-spike.json",
            Signal {
                source: LogAnomaly,
                effect: Opens,
                signature: "log:/ecs/prod/checkout:t-2b7e90c4d13f6a85",
                resource: "logs:log-group//ecs/prod/checkout",
            },
        ),
        (
            "argus/external-alert-firing.json",
            Signal {
                source: ExternalAlert,
                effect: Opens,
                signature: "external:alertmanager:HighErrorRate",
                resource: "ecs:service/prod/checkout",
            },
        ),
        (
            "argus/external-alert-resolved.json",
            Signal {
                source: ExternalAlert,
                effect: Clears,
                signature: "external:alertmanager:HighErrorRate",
                resource: "ecs:service/prod/checkout",
            },
        ),
        (
            "invalid/malformed.json",
            Error {
                error_type: "InvalidEvent",
                mentions: "not valid JSON",
            },
        ),
        (
            "invalid/not-an-object.json",
            Error {
                error_type: "InvalidEvent",
                mentions: "must be a JSON object",
            },
        ),
        (
            "invalid/unknown-detail-type.json",
            Error {
                error_type: "UnsupportedEvent",
                mentions: "Some Other Thing",
            },
        ),
        (
            "invalid/alarm-missing-state.json",
            Error {
                error_type: "InvalidEvent",
                mentions: "detail.state",
            },
        ),
        (
            "invalid/cloudtrail-missing-event-name.json",
            Error {
                error_type: "InvalidEvent",
                mentions: "detail.eventName",
            },
        ),
        (
            "invalid/forged-cloudtrail-from-my-app.json",
            Error {
                error_type: "UntrustedSource",
                mentions: "`my.app`",
            },
        ),
        (
            "invalid/forged-external-alert-resolved.json",
            Error {
                error_type: "UntrustedSource",
                mentions: "argus.connectors",
            },
        ),
        (
            "tolerant/cloudtrail-single-record-without-event-id.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ec2:StopInstances",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "tolerant/cloudtrail-records-without-event-id.json",
            Signal {
                source: CloudTrail,
                effect: Opens,
                signature: "cloudtrail:ec2:StopInstances",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "tolerant/ec2-stopped-without-id.json",
            Signal {
                source: Ec2StateChange,
                effect: Opens,
                signature: "ec2:instance-state",
                resource: "ec2:instance/i-1234567890abcdef0",
            },
        ),
        (
            "ecs/deployment-failed.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:deployment",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/deployment-rolling-back.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:deployment",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/deployment-completed.json",
            Signal {
                source: Ecs,
                effect: Clears,
                signature: "ecs:deployment",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/service-steady-state.json",
            Signal {
                source: Ecs,
                effect: Clears,
                signature: "ecs:service-health",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/service-task-start-impaired.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:service-health",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/service-task-placement-failure.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:service-health",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/service-discovery-instance-unhealthy.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:service-health",
                resource: "ecs:service/default/servicetest",
            },
        ),
        ("ecs/task-running.json", Ignored),
        ("ecs/task-stopped-by-deployment.json", Ignored),
        (
            "ecs/task-stopped-out-of-memory.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:task-stopped:oom",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/task-stopped-essential-container-exited.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:task-stopped:essential-container-exited",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "ecs/task-stopped-failed-health-checks.json",
            Signal {
                source: Ecs,
                effect: Opens,
                signature: "ecs:task-stopped:health-check",
                resource: "ecs:service/default/servicetest",
            },
        ),
        (
            "rds/instance-failover-started.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:failover",
                resource: "rds:db/orders-db",
            },
        ),
        (
            "rds/instance-failover-completed.json",
            Signal {
                source: Rds,
                effect: Clears,
                signature: "rds:failover",
                resource: "rds:db/my-db-instance",
            },
        ),
        (
            "rds/instance-stopped.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:availability",
                resource: "rds:db/testdb",
            },
        ),
        (
            "rds/instance-storage-full.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:storage",
                resource: "rds:db/orders-db",
            },
        ),
        (
            "rds/instance-failure.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:failure",
                resource: "rds:db/orders-db",
            },
        ),
        (
            "rds/instance-recovery-started.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:recovery",
                resource: "rds:db/orders-db",
            },
        ),
        (
            "rds/cluster-failover-started.json",
            Signal {
                source: Rds,
                effect: Opens,
                signature: "rds:failover",
                resource: "rds:cluster/orders-aurora",
            },
        ),
        (
            "ec2-spot/spot-interruption-warning.json",
            Signal {
                source: Ec2Spot,
                effect: Opens,
                signature: "ec2:spot-interruption",
                resource: "ec2:instance/i-0b662ef9931388ba0",
            },
        ),
        (
            "ec2-spot/rebalance-recommendation.json",
            Signal {
                source: Ec2Spot,
                effect: Opens,
                signature: "ec2:spot-rebalance",
                resource: "ec2:instance/i-0b662ef9931388ba0",
            },
        ),
        (
            "autoscaling/launch-unsuccessful.json",
            Signal {
                source: AutoScaling,
                effect: Opens,
                signature: "autoscaling:launch",
                resource: "autoscaling:group/my-auto-scaling-group",
            },
        ),
        (
            "ssm/parameter-create.json",
            Signal {
                source: ParameterStore,
                effect: Informs,
                signature: "ssm:parameter-change",
                resource: "ssm:parameter/MyExampleParameter",
            },
        ),
        (
            "ssm/parameter-update.json",
            Signal {
                source: ParameterStore,
                effect: Opens,
                signature: "ssm:parameter-change",
                resource: "ssm:parameter/MyExampleParameter",
            },
        ),
        (
            "ssm/parameter-delete.json",
            Signal {
                source: ParameterStore,
                effect: Opens,
                signature: "ssm:parameter-change",
                resource: "ssm:parameter/MyExampleParameter",
            },
        ),
        (
            "invalid/forged-ecs-deployment-failed-from-my-app.json",
            Error {
                error_type: "UntrustedSource",
                mentions: "aws.ecs",
            },
        ),
        (
            "scheduled/scheduled-event.json",
            Error {
                error_type: "UnsupportedEvent",
                mentions: "Scheduled Event",
            },
        ),
    ]
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn sample_files() -> Vec<String> {
    let mut files = Vec::new();
    for folder in std::fs::read_dir(events_dir()).unwrap() {
        let folder = folder.unwrap().path();
        // These folders hold policies and verifier requests, not delivered events.
        let not_events = folder
            .file_name()
            .is_some_and(|name| name == "scenarios" || name == "verifier");
        if !folder.is_dir() || not_events {
            continue;
        }
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "json") {
                files.push(
                    file.strip_prefix(events_dir())
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_sample_event_has_an_expectation() {
    let expected: Vec<&str> = expectations().iter().map(|(file, _)| *file).collect();
    for file in sample_files() {
        assert!(
            expected.contains(&file.as_str()),
            "events/{file} has no expectation in normalise_events.rs"
        );
    }
}

#[test]
fn every_sample_event_normalises_as_expected() {
    let config = SignalConfig::default();
    for (file, expect) in expectations() {
        let text = std::fs::read_to_string(events_dir().join(file))
            .unwrap_or_else(|error| panic!("events/{file}: {error}"));
        let result = normalise_str(&text, &config);
        match (expect, result) {
            (
                Signal {
                    source,
                    effect,
                    signature,
                    resource,
                },
                Ok(Normalised::Signals(signals)),
            ) => {
                let signal = signals
                    .first()
                    .unwrap_or_else(|| panic!("{file}: no signal"));
                assert_eq!(signal.source, source, "{file}: source");
                assert_eq!(signal.effect, effect, "{file}: effect");
                assert_eq!(signal.signature, signature, "{file}: signature");
                assert_eq!(signal.resource.as_str(), resource, "{file}: resource");
                assert!(
                    !signal.source_event_id.is_empty(),
                    "{file}: source event id"
                );
                assert!(!signal.evidence.is_empty(), "{file}: evidence");
            }
            (Ignored, Ok(Normalised::Ignored { reason })) => {
                assert!(!reason.is_empty(), "{file}: ignored without a reason")
            }
            (
                Error {
                    error_type,
                    mentions,
                },
                Err(error),
            ) => {
                assert_eq!(error.error_type(), error_type, "{file}: {error}");
                assert!(
                    error.to_string().contains(mentions),
                    "{file}: `{error}` should mention `{mentions}`"
                );
            }
            (_, other) => panic!("{file}: unexpected result {other:?}"),
        }
    }
}

#[test]
fn the_three_deliveries_of_one_alarm_transition_share_a_source_event_id() {
    // The EventBridge event and the Lambda action of one transition are the same source event.
    let config = SignalConfig::default();
    let eventbridge = std::fs::read_to_string(
        events_dir().join("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
    )
    .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&eventbridge).unwrap();
    let Normalised::Signals(first) = argus::signal::normalise(&event, &config).unwrap() else {
        panic!("no signal")
    };
    event["id"] = serde_json::json!("a-different-delivery-id");
    let Normalised::Signals(second) = argus::signal::normalise(&event, &config).unwrap() else {
        panic!("no signal")
    };
    assert_eq!(first[0].source_event_id, second[0].source_event_id);
}

#[test]
fn non_sensitive_and_failed_calls_are_ignored_with_a_reason() {
    let text =
        std::fs::read_to_string(events_dir().join("cloudtrail/ec2-StopInstances.json")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    event["detail"]["errorCode"] = serde_json::json!("Client.UnauthorizedOperation");
    match argus::signal::normalise(&event, &SignalConfig::default()).unwrap() {
        Normalised::Ignored { reason } => assert!(reason.contains("failed"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let narrow = SignalConfig {
        sensitive_calls: vec!["DeleteTable".into()],
        ..SignalConfig::default()
    };
    assert!(matches!(
        normalise_str(&text, &narrow).unwrap(),
        Normalised::Ignored { .. }
    ));
}

#[test]
fn garbage_never_panics() {
    let config = SignalConfig::default();
    for text in [
        "",
        "null",
        "1",
        "\"x\"",
        "[]",
        "{}",
        "{\"detail-type\": 5}",
        "{\"detail-type\": \"CloudWatch Alarm State Change\"}",
        "{\"Records\": [{}]}",
        "{\"Records\": [{\"EventSource\": \"aws:sns\", \"Sns\": {\"Message\": \"{}\"}}]}",
        "{\"alarmData\": {}}",
    ] {
        let result: Result<Normalised, NormaliseError> = normalise_str(text, &config);
        assert!(
            result.is_err(),
            "`{text}` should be rejected, got {result:?}"
        );
    }
}

// ---------------------------------------------------------------- forged sources (issue 16, item 1)

/// A sample event with its `source` replaced, as anyone with `events:PutEvents` can send it.
fn forged(file: &str, source: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(events_dir().join(file)).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    event["source"] = serde_json::json!(source);
    event
}

/// The refusal every forged event must get: the stable `UntrustedSource`, naming the
/// detail-type, the source it came from and the source it must come from.
fn assert_refused_as_forged(file: &str, source: &str, expected_source: &str) {
    let event = forged(file, source);
    let error = match argus::signal::normalise(&event, &SignalConfig::default()) {
        Err(error) => error,
        Ok(result) => panic!("{file} from source `{source}` was accepted: {result:?}"),
    };
    assert_eq!(error.error_type(), "UntrustedSource", "{file}: {error}");
    let message = error.to_string();
    let detail_type = event["detail-type"].as_str().unwrap();
    for part in [detail_type, source, expected_source] {
        assert!(
            message.contains(part),
            "{file}: `{message}` should name `{part}`"
        );
    }
}

#[test]
fn attack_forged_cloudtrail_event_from_my_app_is_refused() {
    // GIVEN a sensitive CloudTrail call with any userIdentity, put on a bus by an application
    // WHEN the orchestrator normalises it THEN it is refused: CloudTrail speaks only as aws.*.
    assert_refused_as_forged("cloudtrail/ec2-TerminateInstances.json", "my.app", "aws.");
    assert_refused_as_forged("cloudtrail/ec2-StopInstances-by-argus.json", "", "aws.");
}

#[test]
fn attack_forged_alarm_ec2_and_health_events_from_foreign_sources_are_refused() {
    for (file, expected) in [
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
            "aws.cloudwatch",
        ),
        (
            "cloudwatch-alarm/eventbridge-metric-alarm-OK.json",
            "aws.cloudwatch",
        ),
        ("ec2-state-change/stopped.json", "aws.ec2"),
        ("aws-health/ec2-operational-issue.json", "aws.health"),
    ] {
        assert_refused_as_forged(file, "my.app", expected);
        // An AWS source, but not the service that sends this detail-type.
        assert_refused_as_forged(file, "aws.s3", expected);
    }
}

#[test]
fn attack_forged_external_alert_from_a_foreign_source_is_refused() {
    assert_refused_as_forged(
        "argus/external-alert-firing.json",
        "my.app",
        "argus.connectors",
    );
    // Another Argus source is not the connectors either.
    assert_refused_as_forged(
        "argus/external-alert-firing.json",
        "argus.log-analyzer",
        "argus.connectors",
    );
}

#[test]
fn attack_forged_external_alert_resolved_from_a_foreign_source_is_refused() {
    // A `resolved` would close a real incident: it must come from the connectors too.
    assert_refused_as_forged(
        "argus/external-alert-resolved.json",
        "my.app",
        "argus.connectors",
    );
}

#[test]
fn attack_forged_log_anomaly_from_a_foreign_source_is_refused() {
    assert_refused_as_forged("argus/log-anomaly.json", "my.app", "argus.log-analyzer");
    assert_refused_as_forged(
        "argus/log-anomaly.json",
        "argus.connectors",
        "argus.log-analyzer",
    );
}

#[test]
fn attack_forged_ecs_rds_spot_autoscaling_and_parameter_events_are_refused() {
    // GIVEN an event of each new AWS source, put by an application or another AWS service
    // WHEN normalised THEN it is refused: each is trusted from its own service only.
    for (file, expected) in [
        ("ecs/deployment-failed.json", "aws.ecs"),
        ("ecs/service-steady-state.json", "aws.ecs"),
        ("ecs/task-stopped-out-of-memory.json", "aws.ecs"),
        ("rds/instance-failure.json", "aws.rds"),
        ("rds/cluster-failover-started.json", "aws.rds"),
        ("ec2-spot/spot-interruption-warning.json", "aws.ec2"),
        ("ec2-spot/rebalance-recommendation.json", "aws.ec2"),
        ("autoscaling/launch-unsuccessful.json", "aws.autoscaling"),
        ("ssm/parameter-update.json", "aws.ssm"),
    ] {
        assert_refused_as_forged(file, "my.app", expected);
        assert_refused_as_forged(file, "aws.s3", expected);
    }
}

#[test]
fn every_detail_type_has_exactly_one_trusted_source() {
    for detail_type in argus::signal::DETAIL_TYPES {
        assert!(
            argus::signal::trusted_source(detail_type).is_some(),
            "{detail_type} has no trusted source"
        );
    }
}

#[test]
fn healthy_ecs_and_rds_events_are_never_refused() {
    // A task that runs, a task a deployment replaced, a completed deployment, a steady state:
    // ignored with a reason or clearing, never an error.
    let config = SignalConfig::default();
    for file in [
        "ecs/task-running.json",
        "ecs/task-stopped-by-deployment.json",
        "ecs/deployment-completed.json",
        "ecs/service-steady-state.json",
        "rds/instance-failover-completed.json",
    ] {
        let text = std::fs::read_to_string(events_dir().join(file)).unwrap();
        match normalise_str(&text, &config) {
            Ok(Normalised::Ignored { reason }) => assert!(!reason.is_empty(), "{file}"),
            Ok(Normalised::Signals(signals)) => {
                assert!(
                    signals.iter().all(|signal| signal.effect == Clears),
                    "{file}: {signals:?}"
                )
            }
            Err(error) => panic!("{file} refused: {error}"),
        }
    }
}
