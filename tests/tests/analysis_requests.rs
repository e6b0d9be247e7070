//! What analysis costs in DynamoDB requests, counted on the wire against DynamoDB Local: a new
//! incident reads what was learned about its signature (stats and past incidents in one
//! patterns-table query) and the incidents on its resource (one query) and stays within six
//! requests on a quiet resource; duplicates, attached and clearing signals are never analysed.
//! The patterns-table conformance (the ladder's counters included) runs in dynamodb_store.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::{AnalysisContext, Assessment, RecoveryOutcome, RulesAnalyst};
use argus::catalogue::ActionId;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::intake::{Intake, Outcome};
use argus::ports::{
    Analyst, AnalystError, IncidentStore, PatternStore, Workflow, WorkflowError, WorkflowStart,
};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, peer, sdk_config, unique_name};
use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Records the operation of every HTTP request the DynamoDB client sends (retries included).
#[derive(Debug, Default, Clone)]
struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown")
            .rsplit('.')
            .next()
            .unwrap_or("unknown")
            .to_string();
        self.0.lock().unwrap().push(target);
        Ok(())
    }
}

/// The rules analyst, counted.
#[derive(Default)]
struct CountingAnalyst {
    calls: AtomicUsize,
}

#[async_trait]
impl Analyst for CountingAnalyst {
    fn name(&self) -> &str {
        "counting-rules"
    }

    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(RulesAnalyst.assess(context))
    }
}

struct NamedWorkflow;

#[async_trait]
impl Workflow for NamedWorkflow {
    async fn start(
        &self,
        name: &CorrelationId,
        _input: &Value,
    ) -> Result<WorkflowStart, WorkflowError> {
        Ok(WorkflowStart {
            execution_id: format!("exec:{name}"),
            already_started: false,
        })
    }
}

/// A sample event; an alarm's state time can be moved to make it a new transition.
fn event(relative: &str, alarm_state_time: Option<&str>) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(time) = alarm_state_time {
        event["detail"]["state"]["timestamp"] = Value::String(time.to_string());
    }
    event
}

#[tokio::test]
async fn a_new_incident_stays_within_six_dynamodb_requests_and_one_analysis() {
    let Some(endpoint) = peer(DYNAMODB_ENDPOINT_ENV, "analysis_requests") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let log = RequestLog::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(log.clone())
            .build(),
    );
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&counted, &incidents, &patterns)
        .await
        .unwrap();
    let store = DynamoStore::new(counted, incidents, patterns);
    let analyst = CountingAnalyst::default();
    let clock = ManualClock::new(epoch());
    let config = Config::default();
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: &analyst,
        workflow: &NamedWorkflow,
        clock: &clock,
        config: &config,
    };
    log.take();

    let mut table: Vec<(&str, usize)> = Vec::new();
    let alarm = "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json";
    let again = "cloudwatch-alarm/eventbridge-metric-alarm-ALARM-again.json";

    let (opened, requests) =
        deliver(&intake, &log, &clock, event(alarm, None), Outcome::Opened).await;
    table.push(("new incident, approval, quiet resource", requests.len()));
    assert!(opened.signals[0].workflow.is_some());
    assert!(requests.len() <= 6, "{requests:?}");
    assert!(
        !requests.iter().any(|operation| operation == "GetItem"),
        "no separate read of action stats: {requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|operation| *operation == "Query")
            .count(),
        2,
        "one patterns query, one query of the resource's incidents: {requests:?}"
    );
    assert_eq!(analyst.calls.load(Ordering::SeqCst), 1);

    let (_, requests) = deliver(
        &intake,
        &log,
        &clock,
        event(alarm, None),
        Outcome::Duplicate,
    )
    .await;
    table.push(("duplicate delivery", requests.len()));
    let (_, requests) = deliver(&intake, &log, &clock, event(again, None), Outcome::Attached).await;
    table.push(("another ALARM, attached", requests.len()));
    let (_, requests) = deliver(
        &intake,
        &log,
        &clock,
        event("cloudwatch-alarm/eventbridge-metric-alarm-OK.json", None),
        Outcome::Resolved,
    )
    .await;
    table.push(("OK, resolved", requests.len()));
    assert_eq!(
        analyst.calls.load(Ordering::SeqCst),
        1,
        "duplicates, attached and clearing signals are not analysed"
    );

    let (_, requests) = deliver(
        &intake,
        &log,
        &clock,
        event("argus/log-anomaly.json", None),
        Outcome::Opened,
    )
    .await;
    table.push(("new incident, advisory, quiet resource", requests.len()));
    assert!(requests.len() <= 5, "{requests:?}");
    let (_, requests) = deliver(
        &intake,
        &log,
        &clock,
        event(again, Some("2019-10-02T17:59:40.989+0000")),
        Outcome::Opened,
    )
    .await;
    table.push((
        "new incident, approval, resource active in the budget window",
        requests.len(),
    ));
    assert!(
        requests.len() <= 7,
        "the budget read comes back when budget may have been used: {requests:?}"
    );
    assert_eq!(analyst.calls.load(Ordering::SeqCst), 3);
    for (path, requests) in &table {
        eprintln!("{path:<62} {requests} DynamoDB requests");
    }

    // The learned history is read with the same single query once outcomes exist.
    let first = opened.signals[0].correlation_id.clone().unwrap();
    let incident = store.incident(&first).await.unwrap().unwrap();
    let now = argus::ports::Clock::now(&clock);
    argus::analysis::learn_from_outcome(
        &store,
        &incident,
        &RecoveryOutcome {
            action: ActionId::Ec2Reboot,
            verified: true,
            action_started_at: now,
            settled_at: now + chrono::Duration::seconds(60),
        },
        &config,
    )
    .await
    .unwrap();
    log.take();
    let history = store
        .signature_history(&incident.signature, config.analysis.history_limit)
        .await
        .unwrap();
    assert_eq!(history.incidents.len(), 1);
    assert_eq!(history.stats(ActionId::Ec2Reboot).verified_successes, 1);
    assert_eq!(
        log.take(),
        vec!["Query"],
        "stats and summaries in one query"
    );
}

/// Delivers `event`, checks its outcome, and returns the report with the requests it cost.
async fn deliver(
    intake: &Intake<'_>,
    log: &RequestLog,
    clock: &ManualClock,
    event: Value,
    expected: Outcome,
) -> (argus::intake::EventReport, Vec<String>) {
    let report = intake.process_event(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, expected);
    clock.advance(chrono::Duration::seconds(30));
    (report, log.take())
}
