//! The load test: a seeded mix of signals (distinct alarms, re-deliveries, flapping alarms and
//! CloudTrail bursts) through `Intake::process_event` with the DynamoDB adapter against
//! DynamoDB Local at concurrency 32, then checked from the store and the workflow record:
//! nothing lost, no duplicate incidents or executions, the budget never exceeded. It prints
//! the throughput and the per-signal latency (`--nocapture` shows them). The signal count is
//! `ARGUS_LOAD_SIGNALS` (default 10,000, the full load; fewer for a quick local check).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::clock::ManualClock;
use argus::config::Config;
use argus::incident::Incident;
use argus::intake::{EventReport, Intake, Outcome};
use argus::ports::{Clock, IncidentQuery, IncidentStore};
use argus::resource::ResourceRef;
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::testing::epoch;
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, peer, sdk_config, unique_name};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SIGNALS_ENV: &str = "ARGUS_LOAD_SIGNALS";
/// The full load runs in the test command: about 3.5 minutes in a debug build on a busy 2-core
/// machine (see BENCHMARKS.md); `ARGUS_LOAD_SIGNALS=2000` is a quicker local check.
const DEFAULT_SIGNALS: usize = 10_000;
const CONCURRENCY: usize = 32;
/// The mix is the same on every run, so a failure can be reproduced.
const SEED: u64 = 0x00a7_9005;
/// How often one event is delivered again after a retryable error, as the Lambda's retry
/// (and then the queue's redrive) would.
const MAX_DELIVERIES: usize = 5;
/// How far the shared clock moves per delivery: 10,000 signals span under 17 minutes of
/// simulated time, inside one budget window, while dedup and resume rules still see time pass.
const CLOCK_STEP_MILLIS: i64 = 100;

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

/// What one group of events is, and so what its outcomes must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    /// One alarm transition on its own instance, delivered one or more times.
    Distinct,
    /// ALARM/OK/ALARM… on one alarm, delivered in order.
    Flapping,
    /// Many distinct sensitive calls on one resource.
    Burst,
}

#[derive(Debug)]
struct Group {
    kind: GroupKind,
    resource: ResourceRef,
    /// How many events the group delivers.
    events: usize,
}

/// Events one task delivers in order; tasks run concurrently with each other.
struct Job {
    group: usize,
    events: Vec<(usize, Value)>,
}

/// One delivered event as the test saw it.
struct Delivered {
    group: usize,
    position: usize,
    report: EventReport,
    latency: std::time::Duration,
}

fn sample(relative: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn alarm_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// One state transition of alarm `name` on `instance`.
fn alarm_event(
    template: &Value,
    name: &str,
    instance: &str,
    state: &str,
    at: DateTime<Utc>,
) -> Value {
    let mut event = template.clone();
    event["id"] = Value::String(format!("{name}-{state}-{}", at.timestamp_millis()));
    event["resources"][0] = Value::String(format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    ));
    event["detail"]["alarmName"] = Value::String(name.to_string());
    event["detail"]["state"]["value"] = Value::String(state.to_string());
    event["detail"]["state"]["timestamp"] = Value::String(alarm_time(at));
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        Value::String(instance.to_string());
    event
}

/// One sensitive call (`call` on `instance`) with its own CloudTrail event id.
fn cloudtrail_event(
    template: &Value,
    call: &str,
    instance: &str,
    serial: usize,
    at: DateTime<Utc>,
) -> Value {
    let mut event = template.clone();
    event["id"] = Value::String(format!("load-ct-{instance}-{serial}"));
    event["detail"]["eventID"] = Value::String(format!("load-ct-event-{instance}-{serial}"));
    event["detail"]["eventName"] = Value::String(call.to_string());
    event["detail"]["eventTime"] = Value::String(at.to_rfc3339());
    event["detail"]["requestParameters"]["instancesSet"]["items"][0]["instanceId"] =
        Value::String(instance.to_string());
    event
}

fn instance(label: &str, index: usize) -> String {
    // A valid instance id (`i-` and 17 hex characters): the label hashed, then the index.
    let label = &argus_integration_tests::instance_id(label)[13..19];
    format!("i-{label}{index:011x}")
}

fn ec2(instance: &str) -> ResourceRef {
    ResourceRef::new("ec2", "instance", instance).unwrap()
}

/// The seeded mix: about 25% of signals in CloudTrail bursts, 20% from flapping alarms, 15%
/// re-deliveries of distinct alarms and the rest distinct alarms, `total` in all.
fn generate(total: usize, rng: &mut StdRng) -> (Vec<Group>, Vec<Job>) {
    let alarm = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let call = sample("cloudtrail/ec2-StopInstances.json");
    let burst_signals = total / 4;
    let flapping_signals = total / 5;
    let redeliveries = total * 15 / 100;
    let distinct = total - burst_signals - flapping_signals - redeliveries;
    assert!(distinct > 0, "{total} signals leave no distinct alarms");
    let mut groups = Vec::new();
    let mut jobs = Vec::new();

    let mut left = burst_signals;
    while left > 0 {
        let size = rng.random_range(25..=75).min(left);
        left -= size;
        let group = groups.len();
        let target = instance("b", group);
        let call_name = ["StopInstances", "TerminateInstances"][rng.random_range(0..2)];
        for serial in 0..size {
            let at = epoch() - Duration::minutes(30) + Duration::seconds(serial as i64);
            jobs.push(Job {
                group,
                events: vec![(
                    serial,
                    cloudtrail_event(&call, call_name, &target, serial, at),
                )],
            });
        }
        groups.push(Group {
            kind: GroupKind::Burst,
            resource: ec2(&target),
            events: size,
        });
    }

    let mut left = flapping_signals;
    while left > 0 {
        let cycles = rng.random_range(2..=5);
        let size = (2 * cycles + 1).min(left);
        left -= size;
        let group = groups.len();
        let target = instance("f", group);
        let name = format!("load-flapping-{group}");
        let start = epoch() - Duration::minutes(20);
        let events = (0..size)
            .map(|position| {
                let state = if position % 2 == 0 { "ALARM" } else { "OK" };
                let at = start + Duration::seconds(60 * position as i64);
                (position, alarm_event(&alarm, &name, &target, state, at))
            })
            .collect();
        jobs.push(Job { group, events });
        groups.push(Group {
            kind: GroupKind::Flapping,
            resource: ec2(&target),
            events: size,
        });
    }

    let first_distinct = groups.len();
    let mut distinct_events = Vec::with_capacity(distinct);
    for index in 0..distinct {
        let target = instance("d", index);
        let at = epoch() - Duration::minutes(10) + Duration::milliseconds(index as i64);
        let event = alarm_event(
            &alarm,
            &format!("load-distinct-{index}"),
            &target,
            "ALARM",
            at,
        );
        distinct_events.push(event);
        groups.push(Group {
            kind: GroupKind::Distinct,
            resource: ec2(&target),
            events: 0,
        });
    }
    let mut deliveries = vec![1usize; distinct];
    for _ in 0..redeliveries {
        deliveries[rng.random_range(0..distinct)] += 1;
    }
    for (index, (event, count)) in distinct_events.into_iter().zip(deliveries).enumerate() {
        let group = first_distinct + index;
        groups[group].events = count;
        for position in 0..count {
            jobs.push(Job {
                group,
                events: vec![(position, event.clone())],
            });
        }
    }
    jobs.shuffle(rng);
    (groups, jobs)
}

fn percentile(sorted: &[std::time::Duration], fraction: f64) -> std::time::Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_mix_at_concurrency_32_loses_nothing_and_duplicates_nothing() {
    let Some(endpoint) = peer(DYNAMODB_ENDPOINT_ENV, "load") else {
        return;
    };
    let total: usize = std::env::var(SIGNALS_ENV)
        .ok()
        .filter(|value| !value.is_empty())
        .map(|value| value.parse().expect("ARGUS_LOAD_SIGNALS is a number"))
        .unwrap_or(DEFAULT_SIGNALS);
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint).await);
    let incidents_table = unique_name("load_incidents");
    let patterns_table = unique_name("load_patterns");
    create_tables(&client, &incidents_table, &patterns_table)
        .await
        .unwrap();
    let deps = Arc::new(Deps {
        store: DynamoStore::new(client, incidents_table, patterns_table),
        workflow: RecordingWorkflow::default(),
        clock: ManualClock::new(epoch()),
        config: Config::default(),
    });

    let mut rng = StdRng::seed_from_u64(SEED);
    let (groups, jobs) = generate(total, &mut rng);
    assert_eq!(
        groups.iter().map(|group| group.events).sum::<usize>(),
        total
    );

    // Every delivery takes a permit, so at most CONCURRENCY events are in flight; a flapping
    // alarm's transitions go in order, as CloudWatch sends them, each with its own permit.
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let retried: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let started = Instant::now();
    let first_now = deps.clock.now();
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let deps = Arc::clone(&deps);
        let permits = Arc::clone(&permits);
        let retried = Arc::clone(&retried);
        tasks.spawn(async move {
            let mut delivered = Vec::with_capacity(job.events.len());
            for (position, event) in job.events {
                let _permit = permits.acquire().await.unwrap();
                deps.clock
                    .advance(Duration::milliseconds(CLOCK_STEP_MILLIS));
                let began = Instant::now();
                let mut deliveries = 0;
                let report = loop {
                    deliveries += 1;
                    match deps.intake().process_event(&event).await {
                        Ok(report) => break report,
                        Err(error) if error.is_retryable() && deliveries < MAX_DELIVERIES => {
                            *retried.lock().unwrap().entry(error.error_type()).or_insert(0) += 1;
                        }
                        Err(error) => panic!(
                            "group {} event {position} failed after {deliveries} deliveries: {} ({error})",
                            job.group,
                            error.error_type()
                        ),
                    }
                };
                delivered.push(Delivered {
                    group: job.group,
                    position,
                    report,
                    latency: began.elapsed(),
                });
            }
            delivered
        });
    }
    let mut delivered = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        delivered.extend(done.unwrap());
    }
    let elapsed = started.elapsed();
    let last_now = deps.clock.now();

    // Every signal is accounted for: one report with one signal per delivered event.
    assert_eq!(delivered.len(), total, "every event was delivered once");
    let mut by_group: Vec<Vec<&Delivered>> = vec![Vec::new(); groups.len()];
    for item in &delivered {
        assert!(
            item.report.ignored.is_none() && item.report.signals.len() == 1,
            "group {} event {}: {:?}",
            item.group,
            item.position,
            item.report
        );
        by_group[item.group].push(item);
    }

    // Per group, the outcomes the path promises.
    let mut expected_incidents: HashMap<(ResourceRef, String), usize> = HashMap::new();
    let mut opened_ids = HashSet::new();
    let mut budget_grants: HashMap<ResourceRef, usize> = HashMap::new();
    let mut outcome_counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (index, (group, items)) in groups.iter().zip(by_group.iter_mut()).enumerate() {
        assert_eq!(items.len(), group.events, "group {index}");
        items.sort_by_key(|item| item.position);
        let signature = items[0].report.signals[0].signal.signature.clone();
        let outcomes: Vec<Outcome> = items
            .iter()
            .map(|item| item.report.signals[0].outcome)
            .collect();
        for item in items.iter() {
            let signal = &item.report.signals[0];
            *outcome_counts.entry(signal.outcome.as_str()).or_insert(0) += 1;
            assert_eq!(signal.signal.resource, group.resource, "group {index}");
            if signal.outcome == Outcome::Opened {
                assert!(
                    opened_ids.insert(signal.correlation_id.clone().unwrap()),
                    "group {index}: an incident id opened twice"
                );
            }
            if signal
                .steps
                .iter()
                .any(|step| step.stage == "budget" && step.detail.starts_with("attempt "))
            {
                *budget_grants.entry(group.resource.clone()).or_insert(0) += 1;
            }
        }
        let opened = outcomes.iter().filter(|o| **o == Outcome::Opened).count();
        let ids: HashSet<_> = items
            .iter()
            .filter_map(|item| item.report.signals[0].correlation_id.clone())
            .collect();
        match group.kind {
            GroupKind::Distinct => {
                assert_eq!(opened, 1, "group {index}: {outcomes:?}");
                assert!(
                    outcomes
                        .iter()
                        .all(|o| matches!(o, Outcome::Opened | Outcome::Duplicate)),
                    "group {index}: {outcomes:?}"
                );
                assert_eq!(ids.len(), 1, "re-deliveries name the one incident");
            }
            GroupKind::Burst => {
                assert_eq!(opened, 1, "group {index}: {outcomes:?}");
                assert!(
                    outcomes
                        .iter()
                        .all(|o| matches!(o, Outcome::Opened | Outcome::Attached)),
                    "group {index}: {outcomes:?}"
                );
                assert_eq!(ids.len(), 1, "the burst joins one incident");
            }
            GroupKind::Flapping => {
                let expected: Vec<Outcome> = (0..group.events)
                    .map(|position| {
                        if position % 2 == 0 {
                            Outcome::Opened
                        } else {
                            Outcome::Resolved
                        }
                    })
                    .collect();
                assert_eq!(outcomes, expected, "group {index}");
                assert_eq!(
                    ids.len(),
                    opened,
                    "each ALARM after an OK is a new incident"
                );
            }
        }
        *expected_incidents
            .entry((group.resource.clone(), signature))
            .or_insert(0) += opened;
    }

    // The store holds exactly those incidents, at most one open per resource and signature.
    let stored = deps
        .store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: usize::MAX,
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), opened_ids.len(), "one incident per opening");
    let mut stored_per_key: HashMap<(ResourceRef, String), Vec<&Incident>> = HashMap::new();
    for incident in &stored {
        assert!(
            opened_ids.contains(&incident.id),
            "{} was never reported",
            incident.id
        );
        stored_per_key
            .entry((incident.resource.clone(), incident.signature.clone()))
            .or_default()
            .push(incident);
    }
    assert_eq!(stored_per_key.len(), expected_incidents.len());
    for (key, expected) in &expected_incidents {
        let found = &stored_per_key[key];
        assert_eq!(found.len(), *expected, "{key:?}");
        let open = found
            .iter()
            .filter(|incident| incident.status.is_open())
            .count();
        assert!(open <= 1, "{key:?} has {open} open incidents");
    }
    // No signal was lost on its way into an incident.
    for (index, (group, items)) in groups.iter().zip(&by_group).enumerate() {
        let id = items[0].report.signals[0].correlation_id.clone().unwrap();
        let incident = stored.iter().find(|incident| incident.id == id).unwrap();
        let expected_signals = match group.kind {
            GroupKind::Distinct => 1,
            GroupKind::Burst => group.events as u32,
            GroupKind::Flapping => 1 + u32::from(group.events > 1),
        };
        assert_eq!(incident.signal_count, expected_signals, "group {index}");
    }

    // One execution per incident that decided to act, and no incident left undecided.
    let starts = deps.workflow.starts_by_name();
    let mut acting = 0;
    for incident in &stored {
        let decision = incident
            .decision
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no decision", incident.id));
        if decision.suppressed {
            assert!(incident.execution.is_none());
            continue;
        }
        // A flapping alarm's OK can resolve its incident between the decision and the start.
        if let Some(execution) = &incident.execution {
            acting += 1;
            assert_eq!(execution.name, incident.id.to_string());
            assert!(starts.contains_key(&execution.name), "{}", incident.id);
        } else {
            assert!(!incident.status.is_open(), "{} never started", incident.id);
        }
    }
    assert_eq!(starts.len(), acting, "one execution per acting incident");
    let attempts = deps.workflow.attempts();

    // The budget per resource and action never went over, and matches the grants. The run is
    // shorter than one budget window, so the window ending at its last instant holds every
    // attempt it took.
    let policy = &deps.config.budget;
    assert!(
        last_now - first_now < policy.window(),
        "the run fits one budget window"
    );
    let resources: HashSet<ResourceRef> =
        groups.iter().map(|group| group.resource.clone()).collect();
    let mut capped = 0;
    let mut checks = tokio::task::JoinSet::new();
    for resource in resources {
        let deps = Arc::clone(&deps);
        let permits = Arc::clone(&permits);
        let window = policy.window();
        checks.spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            let used = deps
                .store
                .budget_usage(&resource, last_now, window)
                .await
                .unwrap();
            (resource, used)
        });
    }
    while let Some(done) = checks.join_next().await {
        let (resource, usage) = done.unwrap();
        let mut total_used = 0;
        for entry in &usage {
            assert!(
                entry.used <= policy.max_attempts,
                "{resource} {}: {} attempts",
                entry.action,
                entry.used
            );
            total_used += entry.used as usize;
            capped += usize::from(entry.used == policy.max_attempts);
        }
        assert_eq!(
            total_used,
            budget_grants.get(&resource).copied().unwrap_or(0),
            "{resource}: the store's budget use matches the grants reported"
        );
    }
    let flapping_over_cap = groups
        .iter()
        .filter(|group| {
            group.kind == GroupKind::Flapping
                && group.events.div_ceil(2) > policy.max_attempts as usize
        })
        .count();
    assert!(
        capped >= flapping_over_cap,
        "flapping alarms with more episodes than attempts reach the cap: {capped} < {flapping_over_cap}"
    );

    let mut latencies: Vec<_> = delivered.iter().map(|item| item.latency).collect();
    latencies.sort();
    let kinds = |kind: GroupKind| groups.iter().filter(|group| group.kind == kind).count();
    let retried = retried.lock().unwrap().clone();
    let summary = format!(
        "load: {total} signals at concurrency {CONCURRENCY} in {:.1} s: {:.0} signals/s, \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
         load: groups: {} distinct alarms, {} flapping alarms, {} CloudTrail bursts; outcomes {:?}\n\
         load: {} incidents, {} executions ({} start requests), {} budgets at the cap of {}, \
         retried deliveries {:?}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        millis(percentile(&latencies, 0.5)),
        millis(percentile(&latencies, 0.99)),
        millis(*latencies.last().unwrap()),
        kinds(GroupKind::Distinct),
        kinds(GroupKind::Flapping),
        kinds(GroupKind::Burst),
        outcome_counts,
        stored.len(),
        starts.len(),
        attempts,
        capped,
        policy.max_attempts,
        retried,
    );
    println!("{summary}");
}
