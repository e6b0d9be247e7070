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
use argus::investigation::log_anomalies::StoredLogAnomalies;
use argus::investigation::ports::{ResourceMetricsSource, SourceError, TimeRange};
use argus::investigation::resource_metrics::{MetricSeries, MetricSpec};
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
        log_anomalies: None,
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

/// The resource's own metrics as a recorded source: CPU at 10 % until eight minutes before the
/// alarm, then 97 %; status checks passing throughout.
struct RecordedCpu {
    alert: i64,
}

#[async_trait::async_trait]
impl ResourceMetricsSource for RecordedCpu {
    async fn series(
        &self,
        specs: &[MetricSpec],
        range: TimeRange,
    ) -> Result<Vec<MetricSeries>, SourceError> {
        Ok(specs
            .iter()
            .map(|spec| MetricSeries {
                spec: spec.clone(),
                points: (range.from..self.alert)
                    .step_by(60)
                    .map(|time| {
                        let cpu = if time >= self.alert - 480 { 97.0 } else { 10.0 };
                        (
                            time,
                            if spec.metric_name == "CPUUtilization" {
                                cpu
                            } else {
                                0.0
                            },
                        )
                    })
                    .collect(),
                complete: true,
            })
            .collect())
    }
}

#[tokio::test]
async fn a_cpu_alarm_is_investigated_through_its_own_metrics_and_the_log_anomalies_on_it() {
    let harness = Harness::new(Config::default());
    let now = argus::ports::Clock::now(&harness.clock);
    let instance = "i-0123456789abcdef0";
    // GIVEN the log analyzer reported an anomaly on the instance five minutes ago
    let mut anomaly = sample("argus/log-anomaly.json");
    anomaly["id"] = json!("anomaly-on-the-instance");
    anomaly["detail"]["resource"] = json!(format!("ec2:instance/{instance}"));
    anomaly["detail"]["log_group"] = json!("/app/worker");
    anomaly["detail"]["window"]["start"] =
        json!((now - chrono::Duration::minutes(10)).to_rfc3339());
    anomaly["detail"]["window"]["end"] = json!((now - chrono::Duration::minutes(5)).to_rfc3339());
    harness.deliver(&anomaly).await.unwrap();
    // WHEN its CPU alarm fires and the investigation reads the instance's metrics
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let metrics = RecordedCpu {
        alert: now.timestamp(),
    };
    let logs = StoredLogAnomalies {
        store: &harness.store,
    };
    let investigator = SourcesInvestigator {
        resource_metrics: Some(&metrics),
        log_anomalies: Some(&logs),
        ..investigator(&snapshot)
    };
    let report = investigating(&harness, &investigator)
        .process_event(&support::alarm_event("ALARM", now, instance))
        .await
        .unwrap();
    let signal = &report.signals[0];
    // THEN the report says the CPU moved and the status checks did not
    let findings = signal
        .steps
        .iter()
        .find(|step| step.stage == "findings")
        .unwrap();
    assert!(
        findings
            .detail
            .contains("not localised; 0 change(s); 1 of 2 resource metric(s) away from normal"),
        "{}",
        findings.detail
    );
    // AND the context holds the shift, dated, and the log anomaly, as evidence items
    let context = signal.context.as_ref().unwrap();
    let item = |id: &str| context.items.iter().find(|item| item.id == id);
    let cpu = item("metric.resource.CPUUtilization")
        .or_else(|| item("metric.resource.cpuutilization"))
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                context.items.iter().map(|i| &i.id).collect::<Vec<_>>()
            )
        });
    assert!(cpu.text.contains("normal 10, now 97"), "{}", cpu.text);
    assert!(cpu.text.contains("8 min before the alarm"), "{}", cpu.text);
    let log = context
        .items
        .iter()
        .find(|item| item.id.starts_with("logs."))
        .unwrap();
    assert!(log.text.contains("/app/worker"), "{}", log.text);
    // AND the audit trail names the metric that moved
    let id = signal.correlation_id.clone().unwrap();
    let trail = harness.store.audit_trail(&id).await.unwrap();
    let investigated = trail
        .iter()
        .find(|record| record.kind == AuditKind::Investigated)
        .unwrap();
    assert_eq!(
        investigated.data["resource_metrics_away"],
        json!(["CPUUtilization"])
    );
}
