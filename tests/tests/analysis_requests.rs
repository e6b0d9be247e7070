//! What analysis costs in DynamoDB requests, counted on the wire against DynamoDB Local: a new
//! incident reads what was learned about its signature (stats and past incidents in one
//! patterns-table query) and the incidents on its resource (one query) and stays within six
//! requests on a quiet resource; duplicates, attached and clearing signals are never analysed.
//! The patterns-table conformance (the ladder's counters included) runs in dynamodb_store.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RecoveryOutcome;
use argus::catalogue::ActionId;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::intake::{Intake, Outcome};
use argus::ports::{IncidentStore, PatternStore};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus_integration_tests::paths::{CountingAnalyst, Request, RequestLog, deliver, event};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, peer, sdk_config, unique_name};

fn operations(requests: &[Request]) -> Vec<&str> {
    requests.iter().map(|r| r.operation.as_str()).collect()
}

#[tokio::test]
async fn a_new_incident_stays_within_six_dynamodb_requests_and_one_analysis() {
    let Some(endpoint) = peer(DYNAMODB_ENDPOINT_ENV, "analysis_requests") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let log = RequestLog::default();
    let counted = log.client(&sdk);
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
        workflow: &RecordingWorkflow::default(),
        clock: &clock,
        config: &config,
        investigator: None,
        resource_tags: None,
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
        !operations(&requests).contains(&"GetItem"),
        "no separate read of action stats: {requests:?}"
    );
    assert_eq!(
        operations(&requests)
            .iter()
            .filter(|operation| **operation == "Query")
            .count(),
        2,
        "one patterns query, one query of the resource's incidents: {requests:?}"
    );
    assert_eq!(analyst.calls(), 1);

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
        analyst.calls(),
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
    // The budget's ledger exists now: its first conditional put fails and returns it, and the
    // second writes the judged ledger (a sliding window needs its attempts, not a counter).
    assert!(
        requests.len() <= 8,
        "the budget read comes back when budget may have been used: {requests:?}"
    );
    assert_eq!(analyst.calls(), 3);
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
        log.take_operations(),
        vec!["Query"],
        "stats and summaries in one query"
    );
}
