//! Fault injection: a proxy on 127.0.0.1 in front of DynamoDB Local answers chosen requests with
//! `ProvisionedThroughputExceededException` or a 500 (the SDK's own retry path runs), lets a
//! transaction commit and loses its answer, or throttles for longer than every retry. The intake
//! path still ends in exactly one incident with an intact audit chain, and an incident stranded
//! by the outage is re-driven once by the reconciler.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::incident::{IncidentStatus, verify_chain};
use argus::intake::{Intake, Outcome};
use argus::ports::{IncidentQuery, IncidentStore};
use argus::reconcile::{ReconcileLimits, Reconciler};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus::testing::reconcile::{FakeAlarms, FakeExecutions};
use argus_integration_tests::http_peer::{Action, HttpMessage, HttpPeer, aws_json_error};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, instance_id, peer, sdk_config, unique_name};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const JSON_1_0: &str = "application/x-amz-json-1.0";

fn throttled() -> Action {
    aws_json_error(
        400,
        JSON_1_0,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )
}

fn server_error() -> HttpMessage {
    HttpMessage::response(
        500,
        JSON_1_0,
        br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#.to_vec(),
    )
}

struct Faulty {
    proxy: HttpPeer,
    store: DynamoStore,
    workflow: RecordingWorkflow,
    clock: ManualClock,
    config: Config,
}

impl Faulty {
    /// Tables created straight on DynamoDB Local; the store under test talks through the proxy,
    /// with the SDK's standard retry (4 attempts, a 1 ms base so the test stays quick).
    async fn start(
        test: &str,
        faults: impl Fn(usize, &HttpMessage) -> Action + Send + Sync + 'static,
    ) -> Option<Self> {
        let endpoint = peer(DYNAMODB_ENDPOINT_ENV, test)?;
        let direct = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
        let incidents = unique_name("incidents");
        let patterns = unique_name("patterns");
        create_tables(&direct, &incidents, &patterns).await.unwrap();
        let proxy = HttpPeer::start(Some(&endpoint), faults);
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config(&proxy.endpoint).await)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        Some(Self {
            proxy,
            store: DynamoStore::new(client, incidents, patterns)
                .with_transaction_backoff(Duration::from_millis(1)),
            workflow: RecordingWorkflow::default(),
            clock: ManualClock::new(epoch()),
            config: Config::default(),
        })
    }

    fn intake(&self) -> Intake<'_> {
        Intake {
            store: &self.store,
            patterns: &self.store,
            analyst: &RulesAnalyst,
            workflow: &self.workflow,
            clock: &self.clock,
            config: &self.config,
            investigator: None,
            resource_tags: None,
        }
    }

    async fn incidents(&self) -> Vec<argus::incident::Incident> {
        self.store
            .list_incidents(&IncidentQuery {
                statuses: None,
                limit: 100,
            })
            .await
            .unwrap()
    }

    async fn assert_one_intact_incident(&self) -> argus::incident::Incident {
        let incidents = self.incidents().await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        let incident = incidents.into_iter().next().unwrap();
        let trail = self.store.audit_trail(&incident.id).await.unwrap();
        assert!(
            verify_chain(&incident, &trail).is_intact(),
            "{:?}",
            verify_chain(&incident, &trail)
        );
        incident
    }

    fn faulted(&self) -> usize {
        self.proxy
            .requests()
            .iter()
            .enumerate()
            .filter(|(n, _)| is_faulted(*n))
            .count()
    }
}

/// Requests 0–2 fail (throttled, 500, throttled), then every third one up to the 30th: never more
/// than three in a row, so each call succeeds within the SDK's four attempts.
fn is_faulted(n: usize) -> bool {
    n < 3 || (n < 30 && n % 3 == 2)
}

fn alarm_event(instance: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        Value::String(instance.into());
    event
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_give_one_incident() {
    let Some(faulty) = Faulty::start("throttling_and_server_errors", |n, _| {
        if !is_faulted(n) {
            Action::Forward
        } else if n % 2 == 1 {
            Action::Respond(server_error())
        } else {
            throttled()
        }
    })
    .await
    else {
        return;
    };
    let event = alarm_event(&instance_id("i-throttled"));
    let first = faulty.intake().process_event(&event).await.unwrap();
    assert_eq!(first.signals[0].outcome, Outcome::Opened);
    assert!(first.signals[0].workflow.is_some());
    let again = faulty.intake().process_event(&event).await.unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Duplicate);
    assert!(
        faulty.faulted() >= 6,
        "the faults were served: {}",
        faulty.faulted()
    );
    let operations = faulty.proxy.operations();
    assert_eq!(
        &operations[..4],
        ["TransactWriteItems"; 4],
        "the SDK retried the opening transaction through three faults: {operations:?}"
    );
    faulty.assert_one_intact_incident().await;
    assert_eq!(faulty.workflow.starts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_under_throttling_give_one_incident_and_one_start() {
    // Every other request is throttled for the first 80: a call can exhaust its attempts, and
    // the event source then delivers the event again, as EventBridge would.
    let Some(faulty) = Faulty::start("concurrent_deliveries_under_throttling", |n, _| {
        if n < 80 && n % 2 == 0 {
            throttled()
        } else {
            Action::Forward
        }
    })
    .await
    else {
        return;
    };
    let faulty = Arc::new(faulty);
    let event = alarm_event(&instance_id("i-racing"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let faulty = Arc::clone(&faulty);
        let event = event.clone();
        tasks.spawn(async move {
            for _delivery in 0..20 {
                match faulty.intake().process_event(&event).await {
                    Ok(report) => return report.signals[0].outcome,
                    Err(error) => assert!(error.is_retryable(), "{error}"),
                }
            }
            panic!("the event was never taken in");
        });
    }
    let mut opened = 0;
    while let Some(outcome) = tasks.join_next().await {
        opened += usize::from(outcome.unwrap() == Outcome::Opened);
    }
    // The delivery that opened the incident may itself have failed later on (its decision
    // write throttled past every retry); its re-delivery then finds a duplicate within the grace
    // period. Either way there is one incident, and at most one start so far.
    assert!(opened <= 1, "{opened} deliveries opened an incident");
    let incident = faulty.assert_one_intact_incident().await;
    assert!(faulty.workflow.starts() <= 1);
    // The reconciler finishes whatever the throttling left undone, without a second start.
    faulty.clock.advance(chrono::Duration::seconds(
        faulty.config.resume_after_seconds as i64 + 1,
    ));
    let alarms = FakeAlarms::default();
    let executions = FakeExecutions::default();
    let run = Reconciler {
        intake: faulty.intake(),
        alarms: &alarms,
        executions: &executions,
        limits: ReconcileLimits::default(),
    }
    .run(None)
    .await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(
        run.redriven.len(),
        usize::from(incident.execution.is_none()),
        "{run:?}"
    );
    let finished = faulty.assert_one_intact_incident().await;
    assert!(finished.execution.is_some());
    assert_eq!(faulty.workflow.starts(), 1);
}

#[tokio::test]
async fn a_lost_answer_to_a_committed_transaction_is_absorbed_by_its_idempotency_token() {
    // The opening transaction commits, but its answer is lost (a 500 instead). The SDK retries
    // with the same ClientRequestToken, and DynamoDB answers the retry as the original: the
    // event opens its incident once, and the path goes on.
    let lost = Arc::new(AtomicUsize::new(0));
    let losing = Arc::clone(&lost);
    let Some(faulty) = Faulty::start("a_lost_answer", move |_, request| {
        if request.operation() == "TransactWriteItems" && losing.fetch_add(1, Ordering::SeqCst) == 0
        {
            Action::ForwardThenRespond(server_error())
        } else {
            Action::Forward
        }
    })
    .await
    else {
        return;
    };
    let report = faulty
        .intake()
        .process_event(&alarm_event(&instance_id("i-lost")))
        .await
        .unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
    let requests = faulty.proxy.requests();
    let tokens: Vec<String> = requests
        .iter()
        .filter(|request| request.operation() == "TransactWriteItems")
        .take(2)
        .map(|request| {
            request.json()["ClientRequestToken"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(
        !tokens[0].is_empty() && tokens[0] == tokens[1],
        "{tokens:?}"
    );
    faulty.assert_one_intact_incident().await;
    assert_eq!(faulty.workflow.starts(), 1);
}

#[tokio::test]
async fn an_incident_stranded_by_a_store_outage_is_redriven_once_by_the_reconciler() {
    // GIVEN the opening transaction goes through, then every further transaction is throttled
    // past the SDK's and the adapter's retries (the decision cannot be written, though its
    // budget attempt, a single UpdateItem, was taken), with an hour's cooldown between attempts
    let outage = Arc::new(AtomicBool::new(true));
    let transactions = Arc::new(AtomicUsize::new(0));
    let (down, seen) = (Arc::clone(&outage), Arc::clone(&transactions));
    let Some(mut faulty) = Faulty::start(
        "an_incident_stranded_by_a_store_outage",
        move |_, request| {
            let transaction = request.operation() == "TransactWriteItems";
            if transaction && seen.fetch_add(1, Ordering::SeqCst) > 0 && down.load(Ordering::SeqCst)
            {
                throttled()
            } else {
                Action::Forward
            }
        },
    )
    .await
    else {
        return;
    };
    faulty.config.budget.cooldown_seconds = 3600;
    let error = faulty
        .intake()
        .process_event(&alarm_event(&instance_id("i-stranded")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StoreThrottled", "{error}");
    assert!(error.is_retryable());
    let stranded = faulty.assert_one_intact_incident().await;
    assert_eq!(stranded.status, IncidentStatus::Open, "kept, not lost");
    assert!(stranded.decision.is_none());
    assert_eq!(faulty.workflow.starts(), 0);

    // WHEN the store recovers and the reconciler runs after the grace period, twice
    outage.store(false, Ordering::SeqCst);
    let alarms = FakeAlarms::default();
    let executions = FakeExecutions::default();
    faulty.clock.advance(chrono::Duration::seconds(
        faulty.config.resume_after_seconds as i64 + 1,
    ));
    let reconciler = Reconciler {
        intake: faulty.intake(),
        alarms: &alarms,
        executions: &executions,
        limits: ReconcileLimits::default(),
    };
    let run = reconciler.run(None).await;
    let again = reconciler.run(None).await;
    // THEN it was decided and started exactly once
    assert_eq!(run.redriven, vec![stranded.id.clone()], "{run:?}");
    assert!(again.redriven.is_empty(), "{again:?}");
    assert_eq!(faulty.workflow.starts(), 1);
    let incident = faulty.assert_one_intact_incident().await;
    assert!(incident.execution.is_some());
    // AND the attempt taken before the outage is the one the decision holds: counted once, and
    // not mistaken for an earlier attempt that the cooldown must wait out
    let decision = incident.decision.unwrap();
    let budget = decision
        .budget
        .clone()
        .expect("the decision proposes an action");
    assert_eq!(
        (budget.used, budget.cooling_down_until),
        (1, None),
        "{decision:?}"
    );
    assert!(!decision.escalate, "{decision:?}");
    let usage = faulty
        .store
        .budget_usage(
            &incident.resource,
            decision.decided_at,
            faulty.config.budget.window(),
        )
        .await
        .unwrap();
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(
        (usage[0].used, &usage[0].consumers),
        (1, &vec![incident.id.clone()])
    );
}
