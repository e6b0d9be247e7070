//! What an SSM document may be given (issue 16, item 10): each allow-listed document declares
//! which parameter carries the target and its type, Argus fills that parameter from the
//! incident's resource, every other parameter is checked against the document's declared
//! schema, and a parameter the document does not declare is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::catalogue::{ActionParams, validate};
use argus::config::Config;
use argus::resource::ResourceRef;
use serde_json::json;

fn instance() -> ResourceRef {
    ResourceRef::parse("ec2:instance/i-0123456789abcdef0").unwrap()
}

fn service() -> ResourceRef {
    ResourceRef::parse("ecs:service/prod/checkout").unwrap()
}

#[test]
fn attack_ssm_cluster_named_by_name_escapes_the_pin() {
    // A name is no ARN and no `prefix-<hex>` id, so no heuristic sees it as another resource.
    let proposal = json!({
        "document_name": "AWSSupport-TroubleshootECSTaskFailedToStart",
        "resource": "ecs:service/prod/checkout",
        "parameters": { "ClusterName": ["payments-prod"] }
    });
    let result = validate("ssm.automation", &proposal, &service(), &Config::default());
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn attack_ssm_undeclared_parameter_chooses_the_role_it_runs_as() {
    let proposal = json!({
        "document_name": "AWS-RestartEC2Instance",
        "resource": "ec2:instance/i-0123456789abcdef0",
        "parameters": {
            "InstanceId": ["i-0123456789abcdef0"],
            "AutomationAssumeRole": ["admin"]
        }
    });
    let result = validate("ssm.automation", &proposal, &instance(), &Config::default());
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn attack_ssm_task_id_that_is_not_a_task_id() {
    let proposal = json!({
        "document_name": "AWSSupport-TroubleshootECSTaskFailedToStart",
        "resource": "ecs:service/prod/checkout",
        "parameters": { "TaskId": ["../../other-cluster/task"] }
    });
    let result = validate("ssm.automation", &proposal, &service(), &Config::default());
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn the_target_parameter_is_filled_from_the_incident() {
    let proposal = json!({
        "document_name": "AWS-RestartEC2Instance",
        "resource": "ec2:instance/i-0123456789abcdef0"
    });
    let validated = validate("ssm.automation", &proposal, &instance(), &Config::default()).unwrap();
    let ActionParams::SsmAutomation(params) = validated.params else {
        panic!("not an SSM action");
    };
    assert_eq!(
        params.parameters.get("InstanceId"),
        Some(&vec!["i-0123456789abcdef0".to_string()])
    );
    let cluster = json!({
        "document_name": "AWSSupport-TroubleshootECSTaskFailedToStart",
        "resource": "ecs:service/prod/checkout",
        "parameters": { "TaskId": ["0123456789abcdef0123456789abcdef"] }
    });
    let validated = validate("ssm.automation", &cluster, &service(), &Config::default()).unwrap();
    let ActionParams::SsmAutomation(params) = validated.params else {
        panic!("not an SSM action");
    };
    assert_eq!(
        params.parameters.get("ClusterName"),
        Some(&vec!["prod".to_string()])
    );
}

#[test]
fn declared_parameters_are_checked_against_their_type() {
    let config = Config::from_json(
        &json!({ "ssm_documents": [{
            "name": "Team-DrainNode",
            "risk": "medium",
            "target": { "parameter": "InstanceId", "type": "ec2_instance_id" },
            "parameters": {
                "GraceSeconds": { "type": "integer", "min": 0, "max": 600 },
                "Mode": { "type": "string", "allowed": ["soft", "hard"] },
                "DryRun": { "type": "boolean" }
            }
        }]})
        .to_string(),
    )
    .unwrap();
    let with = |parameters: serde_json::Value| {
        validate(
            "ssm.automation",
            &json!({"document_name": "Team-DrainNode", "resource": "ec2:instance/i-0123456789abcdef0", "parameters": parameters}),
            &instance(),
            &config,
        )
    };
    assert!(with(json!({"GraceSeconds": ["30"], "Mode": ["soft"], "DryRun": ["true"]})).is_ok());
    assert!(
        with(json!({"GraceSeconds": ["3000"]})).is_err(),
        "out of range"
    );
    assert!(
        with(json!({"GraceSeconds": ["30s"]})).is_err(),
        "not an integer"
    );
    assert!(
        with(json!({"Mode": ["rm -rf"]})).is_err(),
        "not an allowed value"
    );
    assert!(with(json!({"DryRun": ["maybe"]})).is_err(), "not a boolean");
    assert!(
        with(json!({"Mode": ["soft", "hard"]})).is_err(),
        "one value per parameter"
    );
}

#[test]
fn a_document_without_a_declared_target_is_refused_when_the_policy_loads() {
    let policy = json!({ "ssm_documents": [{ "name": "Team-Anything", "risk": "low" }] });
    assert!(Config::from_json(&policy.to_string()).is_err());
}
