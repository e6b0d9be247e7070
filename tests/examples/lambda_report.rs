//! Measurements behind the Lambda section of BENCHMARKS.md, printed as one JSON document:
//! the orchestrator's handler time per signal (embedded store, rules analyst), the DynamoDB
//! requests and analyst calls of each intake path (against DynamoDB Local, counted on the wire),
//! the Step Functions state transitions of each recovery path (the ASL run by the local
//! engine), and an investigation's AWS calls and time to decision (the "slow dependency, just
//! redeployed" world served on the wire, each call answered after a set latency).
//! `bash benches/report.sh` runs it and turns the JSON into the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::clock::ManualClock;
use argus::config::{Config, MaintenanceWindow, Schedule};
use argus::intake::{Intake, Outcome};
use argus::ports::{Clock, IncidentStore};
use argus::recovery::asl::StateMachine;
use argus::recovery::engine::execute;
use argus::recovery::world::{Approval, Behaviour, LocalRunner, WorldSettings};
use argus::store::dynamodb::{DynamoStore, create_tables};
use argus::store::embedded::EmbeddedStore;
use argus::testing::epoch;
use argus_integration_tests::paths::{CountingAnalyst, RequestLog, deliver, event};
use argus_integration_tests::workflow::RecordingWorkflow;
use argus_integration_tests::{DYNAMODB_ENDPOINT_ENV, sdk_config, unique_name};
use serde_json::{Value, json};
use std::time::Instant;

const ALARM: &str = "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json";
const ALARM_AGAIN: &str = "cloudwatch-alarm/eventbridge-metric-alarm-ALARM-again.json";

/// The sample alarm, moved onto its own instance and alarm so that it opens its own incident.
fn distinct_alarm(index: usize) -> Value {
    let text = serde_json::to_string(&event(ALARM, None)).unwrap();
    let text = text
        .replace("i-12345678901234567", &format!("i-{index:017x}"))
        .replace("ServerCpuTooHigh", &format!("ServerCpuTooHigh{index}"))
        .replace(
            "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
            &format!("c4c1c1c9-6542-e61b-6ef0-{index:012x}"),
        );
    serde_json::from_str(&text).unwrap()
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[rank]
}

fn summary(mut micros: Vec<f64>) -> Value {
    micros.sort_by(f64::total_cmp);
    json!({
        "signals": micros.len(),
        "median_us": percentile(&micros, 0.5),
        "p99_us": percentile(&micros, 0.99),
    })
}

/// Handler time per signal, in process: new incidents and duplicate deliveries.
async fn handler_time(signals: usize) -> Value {
    let dir = std::env::temp_dir().join(unique_name("argus-report"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = EmbeddedStore::open(&dir.join("argus.redb")).unwrap();
    let workflow = store.local_workflow();
    let clock = ManualClock::new(epoch());
    let config = Config::default();
    let analyst = argus::analysis::RulesAnalyst;
    let intake = Intake {
        store: &store,
        patterns: &store,
        analyst: &analyst,
        workflow: &workflow,
        clock: &clock,
        config: &config,
        investigator: None,
    };
    let events: Vec<Value> = (0..signals).map(distinct_alarm).collect();
    let mut opened = Vec::with_capacity(signals);
    for event in &events {
        let started = Instant::now();
        let report = intake.process_event(event).await.unwrap();
        opened.push(started.elapsed().as_secs_f64() * 1e6);
        assert_eq!(report.signals[0].outcome, Outcome::Opened);
        clock.advance(chrono::Duration::seconds(1));
    }
    let mut duplicates = Vec::with_capacity(signals);
    for event in &events {
        let started = Instant::now();
        let report = intake.process_event(event).await.unwrap();
        duplicates.push(started.elapsed().as_secs_f64() * 1e6);
        assert_eq!(report.signals[0].outcome, Outcome::Duplicate);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    json!({"new_incident": summary(opened), "duplicate": summary(duplicates)})
}

/// DynamoDB requests and analyst calls per intake path, against DynamoDB Local.
async fn intake_paths(endpoint: &str) -> Value {
    let sdk = sdk_config(endpoint).await;
    let log = RequestLog::default();
    let client = log.client(&sdk);
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&client, &incidents, &patterns).await.unwrap();
    let store = DynamoStore::new(client, incidents, patterns);
    let clock = ManualClock::new(epoch());
    let mut rows = Vec::new();

    let mut run = async |label: &str, config: &Config, steps: Vec<(Value, Outcome)>| {
        let analyst = CountingAnalyst::default();
        let workflow = RecordingWorkflow::default();
        let intake = Intake {
            store: &store,
            patterns: &store,
            analyst: &analyst,
            workflow: &workflow,
            clock: &clock,
            config,
            investigator: None,
        };
        log.take();
        let mut last = Vec::new();
        let mut outcome = None;
        for (event, expected) in steps {
            let (report, requests) = deliver(&intake, &log, &clock, event, expected).await;
            outcome = Some(report.signals[0].clone());
            last = requests;
        }
        let signal = outcome.unwrap();
        rows.push(json!({
            "path": label,
            "dynamodb_requests": last.len(),
            "requests": last,
            "analyst_calls_in_path": analyst.calls(),
            "context_tokens": analyst.context_tokens.lock().unwrap().clone(),
            "workflow_started": signal.workflow.is_some(),
            "incident_status": signal.incident_status,
            "decision_mode": signal.decision.as_ref().map(|d| d.mode),
        }));
    };

    // Each path's requests are those of its last delivery; earlier deliveries set it up.
    let defaults = Config::default();
    run(
        "new incident",
        &defaults,
        vec![(event(ALARM, None), Outcome::Opened)],
    )
    .await;
    run(
        "duplicate delivery",
        &defaults,
        vec![(event(ALARM, None), Outcome::Duplicate)],
    )
    .await;
    run(
        "attached to the open incident",
        &defaults,
        vec![(event(ALARM_AGAIN, None), Outcome::Attached)],
    )
    .await;
    run(
        "cleared (OK resolves it)",
        &defaults,
        vec![(
            event("cloudwatch-alarm/eventbridge-metric-alarm-OK.json", None),
            Outcome::Resolved,
        )],
    )
    .await;
    let mut maintenance = Config::default();
    maintenance.maintenance_windows.push(MaintenanceWindow {
        name: "report".to_string(),
        resources: Vec::new(),
        signatures: Vec::new(),
        schedule: Schedule::Once {
            starts_at: epoch() - chrono::Duration::days(1),
            ends_at: epoch() + chrono::Duration::days(30),
        },
    });
    run(
        "suppressed by a maintenance window",
        &maintenance,
        vec![(distinct_alarm(1), Outcome::Opened)],
    )
    .await;
    let spent: Config = Config::from_json(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/scenarios/no-remediation-budget.policy.json"),
        )
        .unwrap(),
    )
    .unwrap();
    run(
        "budget spent",
        &spent,
        vec![(distinct_alarm(2), Outcome::Opened)],
    )
    .await;
    Value::Array(rows)
}

/// State transitions, Lambda invocations and DynamoDB requests of each recovery path: the ASL
/// run by the local engine, its records written to DynamoDB Local.
async fn recovery_paths(endpoint: &str) -> Value {
    let machine = StateMachine::parse(argus::recovery::RECOVERY_ASL).unwrap();
    let asl: Value = serde_json::from_str(argus::recovery::RECOVERY_ASL).unwrap();
    let is_lambda = |state: &str| {
        asl["States"][state]["Resource"]
            .as_str()
            .is_some_and(|resource| resource.contains(":lambda:invoke"))
    };
    let sdk = sdk_config(endpoint).await;
    let log = RequestLog::default();
    let client = log.client(&sdk);
    let incidents = unique_name("incidents");
    let patterns = unique_name("patterns");
    create_tables(&client, &incidents, &patterns).await.unwrap();
    let store = DynamoStore::new(client, incidents, patterns);
    let mut rows = Vec::new();
    let cases = [
        (
            "approval, approved, recovered",
            Approval::Approve,
            Behaviour::Recovers,
        ),
        (
            "approval, rejected, escalated",
            Approval::Reject,
            Behaviour::Recovers,
        ),
        (
            "approval, approved, stays broken, rolled back, escalated",
            Approval::Approve,
            Behaviour::StaysBroken,
        ),
    ];
    for (index, (label, approval, behaviour)) in cases.into_iter().enumerate() {
        let clock = ManualClock::new(epoch());
        let config = Config::default();
        let analyst = argus::analysis::RulesAnalyst;
        let workflow = RecordingWorkflow::default();
        let intake = Intake {
            store: &store,
            patterns: &store,
            analyst: &analyst,
            workflow: &workflow,
            clock: &clock,
            config: &config,
            investigator: None,
        };
        let report = intake
            .process_event(&distinct_alarm(100 + index))
            .await
            .unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        let input = workflow.last_input().unwrap().1;
        let settings = WorldSettings {
            behaviour,
            approval,
            ..WorldSettings::default()
        };
        let runner = LocalRunner::new(settings, &store, &store, clock.now());
        log.take();
        let record = execute(&machine, id.as_str(), input, &runner)
            .await
            .unwrap();
        let requests = log.take();
        let status = store.incident(&id).await.unwrap().map(|i| i.status);
        rows.push(json!({
            "path": label,
            "state_transitions": record.visits.len(),
            "lambda_invocations": record.path().into_iter().filter(|state| is_lambda(state)).count(),
            "dynamodb_requests": requests.len(),
            "requests": requests,
            "final_status": status,
            "states": record.path(),
        }));
    }
    Value::Array(rows)
}

/// Per-call latencies the investigation world answers with, in milliseconds: none (the
/// investigation's own work), then latencies an in-region AWS read might take (an assumption,
/// not a recording: the time to decision is reported for each).
const INVESTIGATION_LATENCIES_MS: [u64; 3] = [0, 50, 200];
const INVESTIGATION_RUNS: usize = 5;

/// An investigated alarm on the intake path: its AWS calls (counted on the wire) and the time
/// from the event to the decision, per call latency, median of a few runs (embedded store,
/// rules analyst).
async fn investigation() -> Value {
    use argus::analysis::RulesAnalyst;
    use argus::investigation::log_anomalies::StoredLogAnomalies;
    use argus_integration_tests::investigation_world::{InvestigationWorld, scenario};
    const SCENARIO: &str = "slow-dependency-redeployed";
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/scenarios")
                .join(SCENARIO)
                .join("alarm.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let alarm_time = chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut rows = Vec::new();
    let mut calls = Value::Null;
    let mut metrics_requested = 0;
    for latency_ms in INVESTIGATION_LATENCIES_MS {
        let mut millis = Vec::new();
        for _ in 0..INVESTIGATION_RUNS {
            let world = InvestigationWorld::serve(
                scenario(SCENARIO),
                std::time::Duration::from_millis(latency_ms),
            );
            let adapters = world.adapters().await;
            let store = EmbeddedStore::in_memory().unwrap();
            let logs = StoredLogAnomalies { store: &store };
            let investigator = adapters.investigator(&logs);
            let clock = ManualClock::new(alarm_time + chrono::Duration::seconds(30));
            let workflow = RecordingWorkflow::default();
            let config = Config::default();
            let intake = Intake {
                store: &store,
                patterns: &store,
                analyst: &RulesAnalyst,
                workflow: &workflow,
                clock: &clock,
                config: &config,
                investigator: Some(&investigator),
            };
            let started = Instant::now();
            let report = intake.process_event(&event).await.unwrap();
            millis.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(report.signals[0].decision.is_some());
            calls = json!(world.calls());
            metrics_requested = world.metrics_requested();
        }
        millis.sort_by(f64::total_cmp);
        rows.push(json!({
            "call_latency_ms": latency_ms,
            "time_to_decision_ms_median": millis[millis.len() / 2],
            "runs": millis.len(),
        }));
    }
    json!({
        "scenario": SCENARIO,
        "calls": calls,
        "metrics_requested": metrics_requested,
        "time_to_decision": rows,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let signals: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(2000);
    let endpoint = std::env::var(DYNAMODB_ENDPOINT_ENV).ok();
    eprintln!("lambda_report: handler time over {signals} signals (embedded store, rules analyst)");
    let handler = handler_time(signals).await;
    let paths = match &endpoint {
        Some(endpoint) => {
            eprintln!("lambda_report: intake paths against DynamoDB Local at {endpoint}");
            intake_paths(endpoint).await
        }
        None => {
            eprintln!(
                "lambda_report: {DYNAMODB_ENDPOINT_ENV} unset, so no request counts (run under tests/peers.sh)"
            );
            Value::Null
        }
    };
    let recovery = match &endpoint {
        Some(endpoint) => {
            eprintln!(
                "lambda_report: recovery paths on the local engine, records in DynamoDB Local"
            );
            recovery_paths(endpoint).await
        }
        None => Value::Null,
    };
    eprintln!("lambda_report: an investigation on the wire (loopback peer, set latencies)");
    let investigation = investigation().await;
    let report = json!({
        "handler_time": handler,
        "intake_paths": paths,
        "recovery_paths": recovery,
        "investigation": investigation,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
