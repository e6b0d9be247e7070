//! The Step Functions adapter against moto's server: executions are named by the correlation id,
//! so a retried start never creates a second execution; and the whole intake path over both peers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::sfn::StepFunctionsWorkflow;
use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::intake::{Intake, Outcome};
use argus::ports::{IncidentStore, Workflow};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus_integration_tests::{
    DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer, sdk_config, unique_name,
};
use serde_json::{Value, json};

const PASS_DEFINITION: &str =
    r#"{"Comment":"test","StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#;

async fn state_machine(client: &aws_sdk_sfn::Client) -> String {
    client
        .create_state_machine()
        .name(unique_name("argus-recovery"))
        .definition(PASS_DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/argus-recovery")
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

async fn executions(client: &aws_sdk_sfn::Client, arn: &str) -> Vec<String> {
    let listed = client
        .list_executions()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap();
    listed
        .executions
        .iter()
        .map(|execution| execution.name.clone())
        .collect()
}

#[tokio::test]
async fn a_retried_start_never_creates_a_second_execution() {
    let Some(endpoint) = peer(
        MOTO_ENDPOINT_ENV,
        "a_retried_start_never_creates_a_second_execution",
    ) else {
        return;
    };
    let client = aws_sdk_sfn::Client::new(&sdk_config(&endpoint).await);
    let arn = state_machine(&client).await;
    let workflow = StepFunctionsWorkflow::new(client.clone(), &arn);
    let name = CorrelationId::derive(
        "alarm:AWS/EC2/CPUUtilization",
        "ec2:instance/i-1",
        &unique_name("event"),
        epoch(),
    );
    let input = json!({"correlation_id": name, "decision": {"mode": "approval"}});

    let first = workflow.start(&name, &input).await.unwrap();
    assert!(!first.already_started);
    assert_eq!(
        first.execution_id,
        workflow.execution_arn(name.as_str()),
        "the execution ARN is derivable from the name"
    );
    let described = client
        .describe_execution()
        .execution_arn(&first.execution_id)
        .send()
        .await
        .unwrap();
    let sent: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        sent, input,
        "the execution got the incident and decision as input"
    );

    let changed = json!({"correlation_id": name, "decision": {"mode": "auto"}});
    let retried = workflow.start(&name, &changed).await.unwrap();
    assert_eq!(retried.execution_id, first.execution_id);
    assert_eq!(
        executions(&client, &arn).await,
        vec![name.to_string()],
        "still one execution"
    );
}

#[tokio::test]
async fn a_missing_state_machine_is_a_rejected_start() {
    let Some(endpoint) = peer(
        MOTO_ENDPOINT_ENV,
        "a_missing_state_machine_is_a_rejected_start",
    ) else {
        return;
    };
    let client = aws_sdk_sfn::Client::new(&sdk_config(&endpoint).await);
    let workflow = StepFunctionsWorkflow::new(
        client,
        "arn:aws:states:us-east-1:123456789012:stateMachine:does-not-exist",
    );
    let name = CorrelationId::derive("s", "ec2:instance/i-1", "e", epoch());
    let error = workflow.start(&name, &json!({})).await.unwrap_err();
    assert_eq!(error.error_type(), "WorkflowRejected", "{error}");
}

#[tokio::test]
async fn an_alarm_becomes_an_incident_and_an_execution_over_both_peers() {
    let Some(dynamodb) = peer(
        DYNAMODB_ENDPOINT_ENV,
        "an_alarm_becomes_an_incident_and_an_execution",
    ) else {
        return;
    };
    let Some(moto) = peer(
        MOTO_ENDPOINT_ENV,
        "an_alarm_becomes_an_incident_and_an_execution",
    ) else {
        return;
    };
    let dynamodb_client = aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb).await);
    let (incidents, patterns) = (unique_name("incidents"), unique_name("patterns"));
    create_tables(&dynamodb_client, &incidents, &patterns)
        .await
        .unwrap();
    let store = DynamoStore::new(dynamodb_client, incidents, patterns);
    let sfn = aws_sdk_sfn::Client::new(&sdk_config(&moto).await);
    let arn = state_machine(&sfn).await;
    let workflow = StepFunctionsWorkflow::new(sfn.clone(), &arn);
    let clock = ManualClock::new(epoch());
    let config = Config::default();
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: &RulesAnalyst,
        workflow: &workflow,
        clock: &clock,
        config: &config,
        investigator: None,
    };

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let report = intake.process_event(&event).await.unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened);
    let id = signal.correlation_id.clone().unwrap();
    let execution = signal.workflow.clone().unwrap().execution_id;
    assert!(
        execution.ends_with(id.as_str()),
        "the execution is named by the correlation id: {execution}"
    );
    let stored = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(stored.execution.map(|e| e.id), Some(execution.clone()));

    let again = intake.process_event(&event).await.unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Duplicate);
    assert_eq!(
        executions(&sfn, &arn).await,
        vec![id.to_string()],
        "one execution for the incident"
    );
}
