//! The investigation as the orchestrator runs it on AWS, on the wire: the "slow dependency,
//! just redeployed" world served by a loopback peer in X-Ray's, CloudTrail's and CloudWatch's
//! documented shapes, read by the library's own adapters, through the whole intake path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::RulesAnalyst;
use argus::catalogue::{ActionId, ActionParams};
use argus::clock::ManualClock;
use argus::config::Config;
use argus::decision::Mode;
use argus::intake::Intake;
use argus::investigation::log_anomalies::StoredLogAnomalies;
use argus::store::embedded::EmbeddedStore;
use argus_integration_tests::investigation_world::{InvestigationWorld, scenario};
use argus_integration_tests::workflow::RecordingWorkflow;
use serde_json::Value;
use std::time::Duration;

const SCENARIO: &str = "slow-dependency-redeployed";

fn alarm() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/scenarios")
        .join(SCENARIO)
        .join("alarm.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_wire_the_front_end_alarm_becomes_the_rollback_of_the_redeployed_dependency() {
    let world = InvestigationWorld::serve(scenario(SCENARIO), Duration::ZERO);
    let adapters = world.adapters().await;
    let store = EmbeddedStore::in_memory().unwrap();
    let logs = StoredLogAnomalies { store: &store };
    let investigator = adapters.investigator(&logs);
    let event = alarm();
    let alarm_time = chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
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
    let report = intake.process_event(&event).await.unwrap();
    let signal = &report.signals[0];
    let decision = signal.decision.as_ref().unwrap();
    // THEN, as with the recorded world, the rollback of `pricing`'s alias to the version it
    // pointed at before — which on AWS comes from the alias's previous move in CloudTrail — is
    // proposed for a person to approve
    assert_eq!(decision.mode, Mode::Approval, "{decision:?}");
    let action = decision.action.as_ref().unwrap();
    assert_eq!(action.action, ActionId::LambdaRollbackAlias, "{decision:?}");
    assert_eq!(
        action.target.as_ref().map(|target| target.as_str()),
        Some("lambda:function/pricing")
    );
    let ActionParams::LambdaAlias(params) = &action.params else {
        panic!("{:?}", action.params);
    };
    assert_eq!(
        (params.alias.as_str(), params.target_version.as_str()),
        ("live", "41")
    );
    // AND the calls are what the README says an investigation costs: one service graph, the
    // statistics of each node around (window and normal), one metrics request, and CloudTrail
    // for the alarming node and the candidates, plus the alias's history
    let calls = world.calls();
    let nodes = scenario(SCENARIO).graph.node_count();
    assert_eq!(calls.get("GetServiceGraph"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("GetTimeSeriesServiceStatistics"),
        Some(&(2 * nodes)),
        "{calls:?}"
    );
    assert_eq!(calls.get("GetMetricData"), Some(&1), "{calls:?}");
    let lookups = calls.get("LookupEvents").copied().unwrap_or_default();
    assert!((2..=5).contains(&lookups), "{calls:?}");
    assert_eq!(
        world.metrics_requested(),
        2,
        "the ECS service's CPU and memory"
    );
}
