//! The reconciler against DynamoDB Local: a missed alarm is taken in once, reconciler runs racing
//! the real delivery of the same alarm end in one incident and one workflow start, and a stalled
//! incident found through the status index is re-driven once by racing runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::incident::{AuditKind, verify_chain};
use argus::intake::{Intake, Outcome};
use argus::ports::{IncidentQuery, IncidentStore};
use argus::reconcile::{ReconcileLimits, ReconcileReport, Reconciler};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus::testing::reconcile::{
    FakeAlarms, FakeExecutions, cpu_alarm, cpu_alarm_event, due_listing_conformance,
};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, instance_id, peer, sdk_config, unique_name};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;

async fn store(test: &str) -> Option<DynamoStore> {
    let endpoint = peer(DYNAMODB_ENDPOINT_ENV, test)?;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&client, &incidents, &patterns).await.unwrap();
    Some(DynamoStore::new(client, incidents, patterns))
}

struct Deps {
    store: DynamoStore,
    workflow: RecordingWorkflow,
    clock: ManualClock,
    config: Config,
    alarms: FakeAlarms,
    executions: FakeExecutions,
}

impl Deps {
    fn new(store: DynamoStore) -> Self {
        Self {
            store,
            workflow: RecordingWorkflow::default(),
            clock: ManualClock::new(epoch()),
            config: Config::default(),
            alarms: FakeAlarms::default(),
            executions: FakeExecutions::default(),
        }
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

    async fn reconcile(&self) -> ReconcileReport {
        Reconciler {
            intake: self.intake(),
            alarms: &self.alarms,
            executions: &self.executions,
            limits: ReconcileLimits::default(),
        }
        .run(None)
        .await
    }

    async fn incident_count(&self) -> usize {
        self.store
            .list_incidents(&IncidentQuery {
                statuses: None,
                limit: 100,
            })
            .await
            .unwrap()
            .len()
    }

    fn starts(&self) -> usize {
        self.workflow.starts()
    }
}

/// The real EventBridge event of the CPU alarm's transition on `instance` at `epoch()`.
fn real_event(instance: &str) -> Value {
    cpu_alarm_event(instance, epoch())
}

#[tokio::test]
async fn the_status_index_lists_stale_incidents_as_the_sweep_needs() {
    let Some(store) = store("the_status_index_lists_stale_incidents").await else {
        return;
    };
    due_listing_conformance(&store, "dynamodb").await;
}

#[tokio::test]
async fn a_missed_alarm_is_taken_in_once_on_dynamodb() {
    let Some(store) = store("a_missed_alarm_is_taken_in_once_on_dynamodb").await else {
        return;
    };
    let deps = Deps::new(store);
    *deps.alarms.alarms.lock().unwrap() = vec![cpu_alarm(&instance_id("i-ddb-missed"), epoch())];
    deps.clock.advance(chrono::Duration::seconds(60));
    let first = deps.reconcile().await;
    assert_eq!(first.incidents_opened.len(), 1, "{first:?}");
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    deps.clock.advance(chrono::Duration::seconds(300));
    let second = deps.reconcile().await;
    assert_eq!(second.alarms_covered, 1, "{second:?}");
    assert!(second.incidents_opened.is_empty() && second.redriven.is_empty());
    assert_eq!(deps.incident_count().await, 1);
    assert_eq!(deps.starts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciling_while_the_real_event_arrives_gives_one_incident_and_one_start() {
    let Some(store) = store("reconciling_while_the_real_event_arrives").await else {
        return;
    };
    let deps = Arc::new(Deps::new(store));
    *deps.alarms.alarms.lock().unwrap() = vec![cpu_alarm(&instance_id("i-ddb-race"), epoch())];
    let event = real_event(&instance_id("i-ddb-race"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let reconciling = Arc::clone(&deps);
        tasks.spawn(async move {
            let report = reconciling.reconcile().await;
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            report.incidents_opened.len()
        });
        let delivering = Arc::clone(&deps);
        let event = event.clone();
        tasks.spawn(async move {
            let report = delivering.intake().process_event(&event).await.unwrap();
            usize::from(report.signals[0].outcome == Outcome::Opened)
        });
    }
    let mut opened = 0;
    while let Some(result) = tasks.join_next().await {
        opened += result.unwrap();
    }
    assert_eq!(opened, 1, "exactly one of the racers opened the incident");
    assert_eq!(deps.incident_count().await, 1);
    assert_eq!(deps.starts(), 1, "one workflow start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_incident_is_redriven_once_by_racing_reconcilers() {
    let Some(store) = store("a_stalled_incident_is_redriven_once").await else {
        return;
    };
    let deps = Arc::new(Deps::new(store));
    deps.workflow.failing.store(true, Ordering::SeqCst);
    let error = deps
        .intake()
        .process_event(&real_event(&instance_id("i-ddb-stalled")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "WorkflowThrottled");
    deps.workflow.failing.store(false, Ordering::SeqCst);
    deps.clock.advance(chrono::Duration::seconds(
        deps.config.resume_after_seconds as i64 + 1,
    ));

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let deps = Arc::clone(&deps);
        tasks.spawn(async move { deps.reconcile().await });
    }
    let mut redriven = Vec::new();
    while let Some(report) = tasks.join_next().await {
        let report = report.unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        redriven.extend(report.redriven);
    }
    assert_eq!(
        redriven.len(),
        1,
        "exactly one run re-drove it: {redriven:?}"
    );
    assert_eq!(deps.starts(), 1);
    let id = &redriven[0];
    let incident = deps.store.incident(id).await.unwrap().unwrap();
    assert!(incident.execution.is_some());
    let trail = deps.store.audit_trail(id).await.unwrap();
    assert!(verify_chain(&incident, &trail).is_intact());
    assert_eq!(
        trail
            .iter()
            .filter(|record| record.kind == AuditKind::Resumed)
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_lived_incidents_do_not_hide_a_newer_stalled_one_on_dynamodb() {
    let Some(store) = store("long_lived_incidents_do_not_hide_a_newer_stalled_one").await else {
        return;
    };
    let deps = Arc::new(Deps::new(store));
    // GIVEN more long-lived open incidents than one run reads, all waiting on their workflows
    let limits = ReconcileLimits::default();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..(limits.scan_limit + 10) {
        let deps = Arc::clone(&deps);
        tasks.spawn(async move {
            let report = deps
                .intake()
                .process_event(&real_event(&format!("i-0{:016x}", 0x01d0_0000 + n)))
                .await
                .unwrap();
            assert_eq!(report.signals[0].outcome, Outcome::Opened);
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    // AND a newer incident whose workflow start failed
    deps.clock.advance(chrono::Duration::seconds(600));
    deps.workflow.failing.store(true, Ordering::SeqCst);
    let error = deps
        .intake()
        .process_event(&real_event("i-0b0000000000000ff"))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "WorkflowThrottled");
    deps.workflow.failing.store(false, Ordering::SeqCst);
    // WHEN the reconciler runs after the grace period THEN the sparse due index finds it
    deps.clock.advance(chrono::Duration::seconds(
        deps.config.resume_after_seconds as i64 + 1,
    ));
    let report = deps.reconcile().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.redriven.len(), 1, "{report:?}");
}
