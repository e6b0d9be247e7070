//! Investigation on the intake path: the recorded "slow dependency, just redeployed" world
//! stands in for X-Ray and CloudTrail, and the alarm on the front end becomes a proposal to
//! roll back the dependency that was just redeployed, approved by a person, run by the recovery
//! workflow on the local engine. What a model may and may not do with the findings is here too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{
    Assessment, Classification, Hypothesis, Proposal, RulesAnalyst, validate_assessment,
};
use argus::catalogue::{ActionId, ActionParams};
use argus::config::Config;
use argus::decision::Mode;
use argus::incident::AuditKind;
use argus::intake::Intake;
use argus::investigation::investigator::SourcesInvestigator;
use argus::investigation::{InvestigationLimits, LocaliseConfig, RecordedSnapshot};
use argus::ports::IncidentStore;
use argus::recovery::engine::{ExecutionStatus, execute};
use argus::recovery::recovery_machine;
use argus::recovery::world::{Approval, Behaviour, LocalRunner, WorldSettings};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::{Harness, sample};

const SCENARIO: &str = "scenarios/slow-dependency-redeployed";

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(SCENARIO)
}

fn investigator(snapshot: &RecordedSnapshot) -> SourcesInvestigator<'_> {
    SourcesInvestigator {
        topology: snapshot,
        metrics: snapshot,
        changes: snapshot,
        resource_metrics: None,
        limits: InvestigationLimits::default(),
        localise: LocaliseConfig::default(),
        nodes: Default::default(),
    }
}

fn alarm() -> Value {
    sample(&format!("{SCENARIO}/alarm.json"))
}

fn investigating<'a>(
    harness: &'a Harness,
    investigator: &'a SourcesInvestigator<'a>,
) -> Intake<'a> {
    Intake {
        investigator: Some(investigator),
        ..harness.intake()
    }
}

#[tokio::test]
async fn an_alarm_on_the_front_end_proposes_rolling_back_the_dependency_just_redeployed() {
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let investigator = investigator(&snapshot);
    let report = investigating(&harness, &investigator)
        .process_event(&alarm())
        .await
        .unwrap();
    let signal = &report.signals[0];
    let decision = signal.decision.as_ref().unwrap();
    // THEN the proposal is on `pricing`, two calls below the alarming service, at the version
    // its alias pointed at before the deployment, and a person approves it
    assert_eq!(decision.mode, Mode::Approval, "{decision:?}");
    let action = decision.action.as_ref().unwrap();
    assert_eq!(action.action, ActionId::LambdaRollbackAlias);
    assert!(action.on_candidate);
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
    // AND the assessment cites the findings, which the context holds
    let assessment = &signal.assessment.as_ref().unwrap().assessment;
    let cited = &assessment.hypotheses[0].evidence;
    for id in [
        "topology.candidate.pricing",
        "metric.pricing.latency",
        "change.pricing.UpdateAlias.1773482620",
    ] {
        assert!(cited.iter().any(|c| c == id), "{id} not in {cited:?}");
    }
    // AND the audit trail records what the investigation found
    let id = signal.correlation_id.clone().unwrap();
    let trail = harness.store.audit_trail(&id).await.unwrap();
    let investigated = trail
        .iter()
        .find(|record| record.kind == AuditKind::Investigated)
        .unwrap();
    assert_eq!(investigated.data["node"], "storefront");
    assert!(
        investigated.summary.contains("pricing first"),
        "{}",
        investigated.summary
    );
    // AND the budget spent is the candidate's, not the front end's
    let on_pricing = harness
        .store
        .budget_usage(
            &argus::resource::ResourceRef::parse("lambda:function/pricing").unwrap(),
            argus::ports::Clock::now(&harness.clock),
            chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(on_pricing.len(), 1, "{on_pricing:?}");
}

#[tokio::test]
async fn without_an_investigation_the_alarming_resource_is_all_there_is() {
    let harness = Harness::new(Config::default());
    let report = harness.deliver(&alarm()).await.unwrap();
    let decision = report.signals[0].decision.as_ref().unwrap();
    assert!(
        decision
            .action
            .as_ref()
            .is_none_or(|action| action.action != ActionId::LambdaRollbackAlias),
        "{decision:?}"
    );
}

#[tokio::test]
async fn the_approved_rollback_runs_on_the_dependency_through_the_recovery_workflow() {
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let investigator = investigator(&snapshot);
    let report = investigating(&harness, &investigator)
        .process_event(&alarm())
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .unwrap();
    let runner = LocalRunner::new(
        WorldSettings {
            behaviour: Behaviour::Recovers,
            approval: Approval::Approve,
            ..WorldSettings::default()
        },
        &harness.store,
        &harness.store,
        argus::ports::Clock::now(&harness.clock),
    );
    let record = execute(&recovery_machine().unwrap(), id.as_str(), input, &runner)
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let path = record.path();
    let approval = path.iter().position(|state| *state == "Request approval");
    let rollback = path
        .iter()
        .position(|state| *state == "Roll back Lambda alias");
    assert!(
        approval.is_some() && rollback > approval,
        "approved, then rolled back: {path:?}"
    );
}

#[tokio::test]
async fn an_alarm_that_measures_no_latency_or_errors_is_not_investigated_and_says_why() {
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let investigator = investigator(&snapshot);
    let cpu = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let report = investigating(&harness, &investigator)
        .process_event(&cpu)
        .await
        .unwrap();
    let steps: Vec<String> = report.signals[0]
        .steps
        .iter()
        .map(|step| format!("{} {}", step.stage, step.detail))
        .collect();
    assert!(
        steps
            .iter()
            .any(|step| step.starts_with("findings no investigation")
                && step.contains("CPUUtilization")),
        "{steps:?}"
    );
}

/// A context for the scenario's alarm with the investigation's findings in it.
async fn scenario_context() -> argus::analysis::AnalysisContext {
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let investigator = investigator(&snapshot);
    let report = investigating(&harness, &investigator)
        .process_event(&alarm())
        .await
        .unwrap();
    report.signals[0]
        .context
        .clone()
        .expect("the report keeps the context")
}

fn proposing(action: &str, params: Value) -> Assessment {
    Assessment {
        analyst: "model".into(),
        classification: Classification::Latency,
        severity: 6,
        confidence: 0.9,
        summary: "s".into(),
        hypotheses: vec![Hypothesis {
            statement: "pricing regressed".into(),
            likelihood: 0.9,
            evidence: vec!["topology.candidate.pricing".into()],
        }],
        proposal: Some(Proposal {
            action_id: action.into(),
            params,
            rationale: "r".into(),
        }),
        usage: None,
    }
}

#[tokio::test]
async fn a_proposal_may_name_a_candidate_the_investigation_found_and_nothing_else() {
    let context = scenario_context().await;
    let config = Config::default();
    let on_candidate = validate_assessment(
        proposing(
            "lambda.rollback_alias",
            json!({"function_name": "pricing", "alias": "live", "target_version": "41"}),
        ),
        &context,
        &config,
    )
    .unwrap();
    assert!(on_candidate.action.unwrap().on_candidate);
    // A function on the graph that the investigation did not blame is refused.
    let elsewhere = validate_assessment(
        proposing(
            "lambda.rollback_alias",
            json!({"function_name": "catalog-api", "alias": "live", "target_version": "3"}),
        ),
        &context,
        &config,
    );
    assert!(elsewhere.is_err(), "{elsewhere:?}");
}

#[tokio::test]
async fn an_action_on_a_candidate_is_never_automatic() {
    let context = scenario_context().await;
    let mut config = Config::default();
    config.decision.verified_successes_for_auto = 0;
    let rules = RulesAnalyst.assess(&context);
    let mut validated = validate_assessment(rules, &context, &config).unwrap();
    // Even as a low-risk action with full confidence, the candidate's action is asked for.
    validated.assessment.confidence = 1.0;
    if let Some(action) = validated.action.as_mut() {
        action.risk = argus::catalogue::RiskClass::Low;
    }
    let decision = argus::decision::decide(argus::decision::DecisionInput {
        validated: &validated,
        budget: None,
        maintenance: None,
        overrides: Vec::new(),
        policy: &config.decision,
        track_record: None,
        now: argus::testing::epoch(),
    });
    assert_eq!(decision.mode, Mode::Approval, "{decision:?}");
    assert!(
        decision
            .reasons
            .iter()
            .any(|reason| reason.contains("root-cause candidate")),
        "{:?}",
        decision.reasons
    );
}
