//! Properties of the incident lifecycle on DynamoDB Local under any order of delivery: two
//! alarms on one instance flap at random times across budget windows, and their transitions are
//! delivered shuffled, duplicated and in concurrent batches on a multi-threaded runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::incident::{AuditKind, verify_chain};
use argus::intake::{Intake, Outcome};
use argus::ports::IncidentStore;
use argus::resource::ResourceRef;
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus::testing::reconcile::cpu_alarm_event;
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, peer, sdk_config, unique_name};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const WINDOW_SECONDS: u64 = 3600;
const MAX_ATTEMPTS: u32 = 2;
const COOLDOWN_SECONDS: u64 = 600;

/// One alarm transition as CloudWatch raised it.
#[derive(Clone, Debug)]
struct Transition {
    alarm: &'static str,
    firing: bool,
    at: DateTime<Utc>,
}

/// A generated run: each alarm's flaps (minutes to the next ALARM, minutes it stays in ALARM),
/// always ending in OK; then the order and grouping of the deliveries.
#[derive(Clone, Debug)]
struct Case {
    transitions: Vec<Transition>,
    /// Indices into `transitions`, in delivery order; an index may appear twice (a retry).
    deliveries: Vec<usize>,
    /// How many consecutive deliveries go at once.
    batch_sizes: Vec<usize>,
}

fn flaps(alarm: &'static str, flaps: Vec<(i64, i64)>) -> Vec<Transition> {
    let mut at = epoch();
    let mut transitions = Vec::new();
    for (gap, lasting) in flaps {
        at += Duration::minutes(gap);
        transitions.push(Transition {
            alarm,
            firing: true,
            at,
        });
        at += Duration::minutes(lasting);
        transitions.push(Transition {
            alarm,
            firing: false,
            at,
        });
    }
    transitions
}

fn cases() -> impl Strategy<Value = Case> {
    let flap = (1i64..90, 1i64..90);
    (
        prop::collection::vec(flap.clone(), 1..4),
        prop::collection::vec(flap, 1..4),
        prop::collection::vec(any::<bool>(), 16),
        prop::collection::vec(1usize..4, 16),
    )
        .prop_flat_map(|(warning, critical, retried, batch_sizes)| {
            let mut transitions = flaps("cpu-warning", warning);
            transitions.extend(flaps("cpu-critical", critical));
            let mut deliveries: Vec<usize> = (0..transitions.len()).collect();
            deliveries.extend(
                (0..transitions.len()).filter(|index| retried.get(*index).copied() == Some(true)),
            );
            (
                Just(transitions),
                Just(deliveries).prop_shuffle(),
                Just(batch_sizes),
            )
        })
        .prop_map(|(transitions, deliveries, batch_sizes)| Case {
            transitions,
            deliveries,
            batch_sizes,
        })
}

/// The real EventBridge event of `transition` on `instance`: the sample CPU alarm under the
/// transition's alarm name (and so its own ARN), with its own event id.
fn event(instance: &str, transition: &Transition) -> Value {
    let mut event = cpu_alarm_event(instance, transition.at);
    let name = format!("{}-{instance}", transition.alarm);
    let (state, previous) = if transition.firing {
        ("ALARM", "OK")
    } else {
        ("OK", "ALARM")
    };
    event["id"] = Value::String(format!(
        "{name}-{state}-{}",
        transition.at.timestamp_millis()
    ));
    event["resources"] = serde_json::json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    )]);
    event["detail"]["alarmName"] = Value::String(name);
    event["detail"]["state"]["value"] = Value::String(state.to_string());
    event["detail"]["previousState"]["value"] = Value::String(previous.to_string());
    event
}

struct Run {
    store: DynamoStore,
    workflow: RecordingWorkflow,
    clock: ManualClock,
    config: Config,
}

impl Run {
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
}

fn config() -> Config {
    let mut config = Config::default();
    config.budget.window_seconds = WINDOW_SECONDS;
    config.budget.max_attempts = MAX_ATTEMPTS;
    config.budget.cooldown_seconds = COOLDOWN_SECONDS;
    config
}

/// Delivers the case and checks every property; returns how many budget attempts it granted.
async fn check(store: &DynamoStore, instance: &str, case: &Case) -> usize {
    let run = Arc::new(Run {
        store: store.clone(),
        workflow: RecordingWorkflow::default(),
        clock: ManualClock::new(epoch()),
        config: config(),
    });
    let resource = ResourceRef::parse(&format!("ec2:instance/{instance}")).unwrap();
    let events: Vec<Value> = case
        .transitions
        .iter()
        .map(|transition| event(instance, transition))
        .collect();
    let mut pending = case.deliveries.as_slice();
    let mut sizes = case.batch_sizes.iter().cycle();
    let mut recorded: Vec<(String, argus::correlation::CorrelationId)> = Vec::new();
    while !pending.is_empty() {
        let size = (*sizes.next().unwrap()).min(pending.len());
        let (batch, rest) = pending.split_at(size);
        pending = rest;
        // Each batch arrives a minute after the newest transition in it: deliveries are late,
        // never from the future.
        let newest = batch
            .iter()
            .map(|index| case.transitions[*index].at)
            .max()
            .unwrap();
        let now = argus::clock::Clock::now(&run.clock).max(newest + Duration::minutes(1));
        run.clock.set(now);
        let mut tasks = tokio::task::JoinSet::new();
        for index in batch {
            let run = Arc::clone(&run);
            let event = events[*index].clone();
            tasks.spawn(async move {
                let report = run.intake().process_event(&event).await.unwrap();
                let signal = &report.signals[0];
                (
                    signal.signal.source_event_id.clone(),
                    signal.outcome,
                    signal.correlation_id.clone(),
                )
            });
        }
        while let Some(result) = tasks.join_next().await {
            let (event_id, outcome, correlation_id) = result.unwrap();
            match (outcome, correlation_id) {
                (Outcome::Opened | Outcome::Attached | Outcome::Resolved, None) => {
                    panic!("{event_id}: {outcome:?} names no incident")
                }
                // A stale signal is recorded on the incident it names, if it names one.
                (
                    Outcome::Opened | Outcome::Attached | Outcome::Resolved | Outcome::Stale,
                    Some(id),
                ) => recorded.push((event_id, id)),
                _ => {}
            }
        }
        let open = open_incidents(&run.store, &resource).await;
        assert!(
            open.len() <= 1,
            "at most one open incident for the two alarms' resource and signature: {open:?}"
        );
    }

    // Every alarm ended in OK, and every transition was delivered: nothing is left open.
    let incidents = run.store.incidents_on(&resource, 100).await.unwrap();
    let still_open: Vec<_> = incidents
        .iter()
        .filter(|incident| incident.status.is_open())
        .map(|incident| (&incident.id, &incident.origins))
        .collect();
    assert!(
        still_open.is_empty(),
        "every incident resolves once all its alarms are OK: {still_open:?}"
    );

    // No write lost: every signal an outcome named is on its incident, and every chain verifies.
    let mut granted = Vec::new();
    for incident in &incidents {
        let signals = run.store.signals(&incident.id).await.unwrap();
        assert_eq!(
            signals.len(),
            incident.signal_count as usize,
            "{}: the signal count matches the signals stored",
            incident.id
        );
        let stored: BTreeSet<&str> = signals
            .iter()
            .map(|record| record.signal.source_event_id.as_str())
            .collect();
        for (event_id, id) in &recorded {
            if id == &incident.id {
                assert!(
                    stored.contains(event_id.as_str()),
                    "{event_id} was reported recorded on {id} but is not there"
                );
            }
        }
        let trail = run.store.audit_trail(&incident.id).await.unwrap();
        assert!(
            verify_chain(incident, &trail).is_intact(),
            "{}: {:?}",
            incident.id,
            verify_chain(incident, &trail)
        );
        granted.extend(
            trail
                .iter()
                .filter(|record| record.kind == AuditKind::BudgetConsumed)
                .map(|record| record.at),
        );
    }
    // Every event is claimed: delivered again, each one is a duplicate.
    for event in &events {
        let report = run.intake().process_event(event).await.unwrap();
        assert_eq!(
            report.signals[0].outcome,
            Outcome::Duplicate,
            "{}",
            event["id"]
        );
    }

    // The budget held over every sliding window, and the cooldown between attempts.
    granted.sort();
    for (index, first) in granted.iter().enumerate() {
        let in_window = granted[index..]
            .iter()
            .take_while(|at| **at - *first < Duration::seconds(WINDOW_SECONDS as i64))
            .count();
        assert!(
            in_window <= MAX_ATTEMPTS as usize,
            "{in_window} attempts within one window from {first}: {granted:?}"
        );
    }
    for pair in granted.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::seconds(COOLDOWN_SECONDS as i64),
            "attempts closer than the cooldown: {granted:?}"
        );
    }
    granted.len()
}

async fn open_incidents(
    store: &DynamoStore,
    resource: &ResourceRef,
) -> Vec<argus::correlation::CorrelationId> {
    store
        .incidents_on(resource, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|incident| incident.status.is_open())
        .map(|incident| incident.id)
        .collect()
}

#[test]
fn two_flapping_alarms_delivered_in_any_order_keep_the_lifecycle_right_on_dynamodb() {
    let Some(endpoint) = peer(
        DYNAMODB_ENDPOINT_ENV,
        "two_flapping_alarms_delivered_in_any_order",
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
        let incidents = unique_name("incidents");
        let patterns = unique_name("patterns");
        create_tables(&client, &incidents, &patterns).await.unwrap();
        DynamoStore::new(client, incidents, patterns)
    });
    let cases_run = AtomicUsize::new(0);
    let attempts_granted = AtomicUsize::new(0);
    let case_count = std::env::var("ARGUS_LIFECYCLE_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(20);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: case_count,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&cases(), |case| {
            // Each case (and each shrink step) has an instance of its own in the shared tables.
            let n = cases_run.fetch_add(1, Ordering::SeqCst);
            let instance = format!("i-0{n:016x}");
            let granted = runtime.block_on(check(&store, &instance, &case));
            attempts_granted.fetch_add(granted, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    assert!(
        attempts_granted.load(Ordering::SeqCst) > 0,
        "no case reached a budgeted decision, so the budget property was never exercised"
    );
}
