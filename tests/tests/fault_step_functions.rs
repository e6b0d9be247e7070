//! Fault injection: StartExecution failing, through a proxy on 127.0.0.1 in front of moto's Step
//! Functions. The incident stays open with its decision and is not lost; a re-delivery within
//! the grace period leaves it to the retry; the reconciler re-drives it exactly once, and moto
//! ends with one execution named by the incident. DescribeExecution (the reconciler's lookup)
//! runs against moto too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::sfn::StepFunctionsWorkflow;
use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::incident::IncidentStatus;
use argus::intake::{Intake, Outcome};
use argus::ports::{IncidentQuery, IncidentStore};
use argus::reconcile::{ExecutionLookup, ExecutionStatus, ReconcileLimits, Reconciler};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus::testing::reconcile::FakeAlarms;
use argus_integration_tests::http_peer::{Action, HttpPeer, aws_json_error};
use argus_integration_tests::{
    DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer, sdk_config, unique_instance_id, unique_name,
};
use aws_sdk_sfn::config::retry::RetryConfig;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const PASS_DEFINITION: &str =
    r#"{"Comment":"test","StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#;

fn alarm_event() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        Value::String(unique_instance_id("i-sfn"));
    event
}

#[tokio::test]
async fn a_failed_start_leaves_the_incident_open_and_the_reconciler_starts_it_once() {
    let test = "a_failed_start_leaves_the_incident_open";
    let (Some(dynamodb), Some(moto)) = (
        peer(DYNAMODB_ENDPOINT_ENV, test),
        peer(MOTO_ENDPOINT_ENV, test),
    ) else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb).await);
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&dynamodb, &incidents, &patterns)
        .await
        .unwrap();
    let store = DynamoStore::new(dynamodb, incidents, patterns);

    let direct = aws_sdk_sfn::Client::new(&sdk_config(&moto).await);
    let arn = direct
        .create_state_machine()
        .name(unique_name("argus-recovery"))
        .definition(PASS_DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/argus-recovery")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    // The first two StartExecution calls are throttled: with two attempts, the SDK gives up.
    let refused = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::clone(&refused);
    let proxy = HttpPeer::start(Some(&moto), move |_, request| {
        if request.operation() == "StartExecution" && refusing.fetch_add(1, Ordering::SeqCst) < 2 {
            aws_json_error(
                400,
                "application/x-amz-json-1.0",
                "ThrottlingException",
                "Rate exceeded",
            )
        } else {
            Action::Forward
        }
    });
    let through_proxy = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&sdk_config(&proxy.endpoint).await)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build(),
    );
    let workflow = StepFunctionsWorkflow::new(through_proxy, &arn);
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
    let executions = || async {
        direct
            .list_executions()
            .state_machine_arn(&arn)
            .send()
            .await
            .unwrap()
            .executions
            .into_iter()
            .map(|execution| execution.name)
            .collect::<Vec<_>>()
    };

    // GIVEN StartExecution is throttled beyond the SDK's retries
    let event = alarm_event();
    let error = intake.process_event(&event).await.unwrap_err();
    assert_eq!(error.error_type(), "WorkflowThrottled", "{error}");
    assert!(error.is_retryable());
    // THEN the incident is kept, decided, without an execution
    let listed = store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let stalled = &listed[0];
    assert!(stalled.status.is_open() && stalled.decision.is_some());
    assert!(stalled.execution.is_none());
    assert!(executions().await.is_empty());

    // WHEN the event is re-delivered within the grace period THEN nothing is started yet
    let soon = intake.process_event(&event).await.unwrap();
    assert_eq!(soon.signals[0].outcome, Outcome::Duplicate);
    assert!(soon.signals[0].workflow.is_none());
    assert!(executions().await.is_empty());

    // WHEN the reconciler runs after it THEN it starts the execution, once
    clock.advance(chrono::Duration::seconds(
        config.resume_after_seconds as i64 + 1,
    ));
    let alarms = FakeAlarms::default();
    let reconciler = Reconciler {
        intake,
        alarms: &alarms,
        executions: &workflow,
        limits: ReconcileLimits::default(),
    };
    let run = reconciler.run(None).await;
    assert_eq!(run.redriven, vec![stalled.id.clone()], "{run:?}");
    assert_eq!(executions().await, vec![stalled.id.to_string()]);

    // AND neither another run nor a late re-delivery starts anything more
    clock.advance(chrono::Duration::seconds(
        config.resume_after_seconds as i64 + 1,
    ));
    assert!(reconciler.run(None).await.redriven.is_empty());
    let late = intake.process_event(&event).await.unwrap();
    assert_eq!(late.signals[0].outcome, Outcome::Duplicate);
    assert_eq!(executions().await.len(), 1);
    assert_eq!(
        refused.load(Ordering::SeqCst),
        3,
        "two refused starts, then the one that went through"
    );

    let incident = store.incident(&stalled.id).await.unwrap().unwrap();
    let execution = incident.execution.clone().unwrap();
    assert_ne!(incident.status, IncidentStatus::Open);
    // The reconciler's lookup reads the execution back from moto; an unknown one is gone.
    let status = workflow.execution_status(&execution.id).await.unwrap();
    assert!(
        matches!(
            status,
            ExecutionStatus::Running | ExecutionStatus::Succeeded
        ),
        "{status:?}"
    );
    let gone = workflow
        .execution_status(&workflow.execution_arn("never-started"))
        .await
        .unwrap();
    assert_eq!(gone, ExecutionStatus::NotFound);
}
