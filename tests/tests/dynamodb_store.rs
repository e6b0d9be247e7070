//! The DynamoDB adapter against DynamoDB Local: the conformance suites, and the races that
//! exactly-once intake depends on, over the real wire protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::catalogue::ActionId;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::intake::{Intake, Outcome};
use argus::ports::{BudgetKey, BudgetLimits, BudgetOutcome, IncidentQuery, IncidentStore};
use argus::resource::ResourceRef;
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::{epoch, incident_store_conformance, pattern_store_conformance};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, instance_id, peer, sdk_config, unique_name};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

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
}

impl Deps {
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

fn alarm(instance: &str, state: &str, seconds: i64) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let at = (epoch() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    event["id"] = Value::String(format!("{instance}-{state}-{seconds}"));
    event["detail"]["state"]["value"] = Value::String(state.into());
    event["detail"]["state"]["timestamp"] = Value::String(at);
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        Value::String(instance.into());
    event
}

#[tokio::test]
async fn dynamodb_store_conforms() {
    let Some(store) = store("dynamodb_store_conforms").await else {
        return;
    };
    incident_store_conformance(&store, "dynamodb").await;
    pattern_store_conformance(&store, "dynamodb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_deliveries_of_one_event_give_one_incident_and_one_start() {
    let Some(store) = store("a_hundred_concurrent_deliveries").await else {
        return;
    };
    let deps = Arc::new(Deps {
        store,
        workflow: RecordingWorkflow::default(),
        clock: ManualClock::new(epoch()),
        config: Config::default(),
    });
    let event = alarm(&instance_id("i-hundred"), "ALARM", 0);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let deps = Arc::clone(&deps);
        let event = event.clone();
        tasks.spawn(async move { deps.intake().process_event(&event).await.unwrap() });
    }
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    while let Some(report) = tasks.join_next().await {
        let report = report.unwrap();
        *outcomes
            .entry(report.signals[0].outcome.as_str())
            .or_default() += 1;
        ids.insert(report.signals[0].correlation_id.clone().unwrap());
    }
    assert_eq!(outcomes.get("opened"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("duplicate"), Some(&99), "{outcomes:?}");
    assert_eq!(ids.len(), 1);
    assert_eq!(deps.workflow.starts(), 1, "one workflow start");
    let all = deps
        .store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "one incident in the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distinct_events_racing_for_one_alarm_join_one_incident() {
    let Some(store) = store("distinct_events_racing").await else {
        return;
    };
    let deps = Arc::new(Deps {
        store,
        workflow: RecordingWorkflow::default(),
        clock: ManualClock::new(epoch()),
        config: Config::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let deps = Arc::clone(&deps);
        tasks.spawn(async move {
            deps.intake()
                .process_event(&alarm(&instance_id("i-contended"), "ALARM", n))
                .await
                .unwrap()
        });
    }
    let mut opened = 0;
    let mut ids = std::collections::HashSet::new();
    while let Some(report) = tasks.join_next().await {
        let signal = report.unwrap().signals.remove(0);
        opened += usize::from(signal.outcome == Outcome::Opened);
        ids.insert(signal.correlation_id.unwrap());
    }
    assert_eq!(opened, 1, "exactly one delivery opens the incident");
    assert_eq!(ids.len(), 1, "all join the same incident");
    let id = ids.into_iter().next().unwrap();
    let incident = deps.store.incident(&id).await.unwrap().unwrap();
    // Repeats of one alarm state past the records kept per group are counted, not recorded.
    let counted = argus::incident::counted_total(&incident.audit_tallies);
    assert_eq!(
        deps.store.signals(&id).await.unwrap().len() as u64 + counted,
        20,
        "every signal is recorded or counted once"
    );
    assert!(counted > 0, "repeats past the records kept are counted");
    assert_eq!(incident.signal_count, 20);
    let trail = deps.store.audit_trail(&id).await.unwrap();
    assert!(
        argus::incident::verify_chain(&incident, &trail).is_intact(),
        "the audit chain survives the race"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_attempts_never_exceed_the_budget() {
    let Some(store) = store("racing_attempts").await else {
        return;
    };
    let store = Arc::new(store);
    let key = BudgetKey {
        resource: ResourceRef::parse("ec2:instance/i-budget").unwrap(),
        action: ActionId::Ec2Reboot,
    };
    let limits = BudgetLimits {
        max_attempts: 3,
        window: chrono::Duration::hours(1),
        cooldown: chrono::Duration::zero(),
    };
    // 25 incidents race for the window's three attempts, and each of them asks twice, as a
    // decision retried after a lost write does.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50 {
        let (store, key, limits) = (Arc::clone(&store), key.clone(), limits.clone());
        let consumer = CorrelationId::derive(
            "budget",
            key.resource.as_str(),
            &format!("racer-{}", n % 25),
            epoch(),
        );
        tasks.spawn(async move {
            let outcome = store
                .consume_budget(&key, &limits, &consumer, epoch())
                .await
                .unwrap();
            (consumer, outcome)
        });
    }
    let mut granted = std::collections::BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        if let (consumer, BudgetOutcome::Granted { used }) = joined.unwrap() {
            assert!((1..=3).contains(&used), "{used}");
            granted.insert(consumer);
        }
    }
    assert_eq!(granted.len(), 3, "three incidents hold the three attempts");
    let usage = store
        .budget_usage(&key.resource, epoch(), limits.window)
        .await
        .unwrap();
    assert_eq!(usage[0].used, 3);
    let holders: std::collections::BTreeSet<_> = usage[0].consumers.iter().cloned().collect();
    assert_eq!(holders, granted);
}

#[tokio::test]
async fn twenty_flaps_through_dynamodb_stay_within_the_budget() {
    let Some(store) = store("twenty_flaps").await else {
        return;
    };
    let deps = Deps {
        store,
        workflow: RecordingWorkflow::default(),
        clock: ManualClock::new(epoch()),
        config: Config::default(),
    };
    let mut remediations = 0;
    for flap in 0..20 {
        let report = deps
            .intake()
            .process_event(&alarm(&instance_id("i-flap"), "ALARM", flap * 60))
            .await
            .unwrap();
        let decision = report.signals[0].decision.clone().unwrap();
        if decision.action.is_some() {
            remediations += 1;
        } else {
            assert!(
                decision.escalate,
                "flap {flap}: only escalation once the budget is spent"
            );
        }
        deps.clock.advance(chrono::Duration::seconds(30));
        let ok = deps
            .intake()
            .process_event(&alarm(&instance_id("i-flap"), "OK", flap * 60 + 30))
            .await
            .unwrap();
        assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
        deps.clock.advance(chrono::Duration::seconds(30));
    }
    assert_eq!(remediations, deps.config.budget.max_attempts);
}

#[tokio::test]
async fn attack_task_token_read_from_the_incident_indexes() {
    // GIVEN the conformance suite's incidents, one with a pending approval and its task token
    let Some(endpoint) = peer(
        DYNAMODB_ENDPOINT_ENV,
        "attack_task_token_read_from_the_indexes",
    ) else {
        return;
    };
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&client, &incidents, &patterns).await.unwrap();
    let store = DynamoStore::new(client.clone(), incidents.clone(), patterns);
    incident_store_conformance(&store, "token-indexes").await;
    // WHEN someone who may read the indexes (and not the base table) reads all of them
    use argus::store::dynamodb::schema::{BY_DUE_INDEX, BY_RESOURCE_INDEX, BY_STATUS_INDEX};
    let canary = argus::testing::APPROVAL_TOKEN_CANARY;
    let mut projected = 0;
    for index in [BY_RESOURCE_INDEX, BY_STATUS_INDEX, BY_DUE_INDEX] {
        let pages: Vec<_> = client
            .scan()
            .table_name(&incidents)
            .index_name(index)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        for item in pages {
            let item = item.unwrap();
            projected += 1;
            // THEN no attribute of any projected item holds the token
            assert!(
                !format!("{item:?}").contains(canary),
                "{index} projects the task token: {item:?}"
            );
        }
    }
    assert!(projected > 0, "the indexes were read");
    // AND the base table keeps it, on an item of the incident's partition no index projects
    let scan = client.scan().table_name(&incidents).send().await.unwrap();
    let holders: Vec<_> = scan
        .items()
        .iter()
        .filter(|item| format!("{item:?}").contains(canary))
        .collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(
        holders[0]
            .get("sk")
            .and_then(|sk| sk.as_s().ok())
            .is_some_and(|sk| sk.starts_with("APPROVAL#")),
        "{holders:?}"
    );
}
