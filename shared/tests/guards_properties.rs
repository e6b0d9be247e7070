//! Property tests of the guards: for any interleaving of deliveries, re-deliveries and time
//! steps, at most one incident is open per resource + signature, the remediation budget is
//! never exceeded, a re-delivery is always a duplicate of its first delivery, and no incident
//! starts two workflows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::{BudgetPolicy, Config};
use argus::decision::Mode;
use argus::incident::Incident;
use argus::intake::Outcome;
use argus::ports::{IncidentQuery, IncidentStore};
use argus::testing::epoch;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use support::{Harness, alarm_event};

#[derive(Debug, Clone)]
enum Step {
    /// A new state transition of alarm `alarm` (0..3): ALARM when `alarm_state`, else OK.
    Deliver { alarm: usize, alarm_state: bool },
    /// The n-th earlier delivery again (modulo how many there were).
    Redeliver(usize),
    /// Time passes.
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, any::<bool>()).prop_map(|(alarm, alarm_state)| Step::Deliver { alarm, alarm_state }),
        2 => any::<usize>().prop_map(Step::Redeliver),
        2 => (1i64..900).prop_map(Step::Advance),
    ]
}

fn config() -> Config {
    Config {
        budget: BudgetPolicy {
            window_seconds: 1800,
            max_attempts: 2,
            cooldown_seconds: 0,
        },
        ..Config::default()
    }
}

async fn all_incidents(harness: &Harness) -> Vec<Incident> {
    harness
        .store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: usize::MAX,
        })
        .await
        .unwrap()
}

fn check_invariants(incidents: &[Incident], policy: &BudgetPolicy) -> Result<(), TestCaseError> {
    let mut open: HashMap<(String, String), usize> = HashMap::new();
    let mut attempts: BTreeMap<(String, String), Vec<DateTime<Utc>>> = BTreeMap::new();
    for incident in incidents {
        if incident.status.is_open() {
            *open
                .entry((incident.resource.to_string(), incident.signature.clone()))
                .or_default() += 1;
        }
        if let Some(decision) = &incident.decision
            && let (Some(action), Mode::Auto | Mode::Approval) = (&decision.action, decision.mode)
        {
            attempts
                .entry((incident.resource.to_string(), action.action.to_string()))
                .or_default()
                .push(decision.decided_at);
        }
    }
    for (key, count) in open {
        prop_assert!(count <= 1, "{count} open incidents for {key:?}");
    }
    // Sliding: no window of the budget's length, wherever it starts, holds more attempts.
    for (key, mut times) in attempts {
        times.sort();
        for (index, end) in times.iter().enumerate() {
            let in_window = times[..=index]
                .iter()
                .filter(|at| **at > *end - policy.window())
                .count();
            prop_assert!(
                in_window <= policy.max_attempts as usize,
                "{in_window} remediation attempts for {key:?} in the window ending {end}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn guards_hold_for_any_interleaving(steps in proptest::collection::vec(step(), 1..48)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let harness = Harness::new(config());
            let mut delivered: Vec<(Value, Option<String>)> = Vec::new();
            let mut sequence = 0i64;
            for step in steps {
                match step {
                    Step::Advance(seconds) => harness.advance(seconds),
                    Step::Deliver { alarm, alarm_state } => {
                        sequence += 1;
                        let at: DateTime<Utc> = epoch() + Duration::seconds(sequence);
                        let event = alarm_event(if alarm_state { "ALARM" } else { "OK" }, at, &format!("i-{alarm:017}"));
                        let report = harness.deliver(&event).await.unwrap();
                        let id = report.signals[0].correlation_id.as_ref().map(ToString::to_string);
                        delivered.push((event, id));
                    }
                    Step::Redeliver(index) => {
                        if delivered.is_empty() {
                            continue;
                        }
                        let (event, first_id) = delivered[index % delivered.len()].clone();
                        let report = harness.deliver(&event).await.unwrap();
                        let signal = &report.signals[0];
                        prop_assert_eq!(signal.outcome, Outcome::Duplicate);
                        prop_assert_eq!(signal.correlation_id.as_ref().map(ToString::to_string), first_id);
                    }
                }
                check_invariants(&all_incidents(&harness).await, &harness.config.budget)?;
            }
            let incidents = all_incidents(&harness).await;
            let with_execution = incidents.iter().filter(|incident| incident.execution.is_some()).count();
            prop_assert_eq!(harness.starts(), with_execution, "one workflow start per incident that has one");
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_event_open_one_incident() {
    let harness = std::sync::Arc::new(Harness::new(config()));
    let event = alarm_event("ALARM", epoch(), "i-0f6e377b9fb2f11f6");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let harness = std::sync::Arc::clone(&harness);
        let event = event.clone();
        tasks.spawn(async move { harness.deliver(&event).await.unwrap() });
    }
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    while let Some(report) = tasks.join_next().await {
        let report = report.unwrap();
        *outcomes
            .entry(report.signals[0].outcome.as_str())
            .or_default() += 1;
        ids.insert(report.signals[0].correlation_id.clone());
    }
    assert_eq!(outcomes.get("opened"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("duplicate"), Some(&49), "{outcomes:?}");
    assert_eq!(ids.len(), 1, "every delivery names the same incident");
    assert_eq!(harness.starts(), 1);
    assert_eq!(harness.analyses(), 1);
}
