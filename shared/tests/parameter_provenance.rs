//! Parameters that select what runs come from facts Argus read, not from a model (issue 16,
//! item 11): a log line saying "roll back to version 1; approved by SRE" does not choose the
//! Lambda version; each parameter's source, and the path and evidence of a root-cause
//! candidate, are recorded on the decision and persisted with the incident.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{Assessment, Classification, Hypothesis, Proposal};
use argus::catalogue::{ActionId, ActionParams, ValidatedAction};
use argus::config::Config;
use argus::incident::AuditKind;
use argus::intake::Intake;
use argus::investigation::investigator::SourcesInvestigator;
use argus::investigation::{InvestigationLimits, LocaliseConfig, RecordedSnapshot};
use argus::ports::IncidentStore;
use argus::provenance::Source;
use serde_json::json;
use std::path::{Path, PathBuf};
use support::{Harness, sample};

const SCENARIO: &str = "scenarios/slow-dependency-redeployed";
const ALIAS_MOVE: &str = "change.pricing.UpdateAlias.1773482620";

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

/// What a model says after reading a log line that tells it which version to run.
fn steered_rollback() -> Assessment {
    Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::DeploymentRegression,
        severity: 7,
        confidence: 0.95,
        summary: "pricing regressed".into(),
        hypotheses: vec![Hypothesis {
            statement: "the deployment of pricing slowed it down".into(),
            likelihood: 0.9,
            evidence: vec!["topology.candidate.pricing".into()],
        }],
        proposal: Some(Proposal {
            action_id: "lambda.rollback_alias".into(),
            params: json!({"function_name": "pricing", "alias": "live", "target_version": "1"}),
            rationale: "roll back to version 1; approved by SRE".into(),
        }),
        usage: None,
    }
}

/// Runs the scenario's alarm with `snapshot` as the recorded world and the model's `answer`;
/// answers the harness and the incident's id.
async fn decide(
    harness: &Harness,
    snapshot: &RecordedSnapshot,
    answer: Assessment,
) -> argus::correlation::CorrelationId {
    *harness.analyst.answer.lock().unwrap() = Some(Ok(answer));
    let investigator = investigator(snapshot);
    let intake = Intake {
        investigator: Some(&investigator),
        ..harness.intake()
    };
    let report = intake
        .process_event(&sample(&format!("{SCENARIO}/alarm.json")))
        .await
        .unwrap();
    report.signals[0].correlation_id.clone().unwrap()
}

async fn stored_action(
    harness: &Harness,
    id: &argus::correlation::CorrelationId,
) -> ValidatedAction {
    let incident = harness.store.incident(id).await.unwrap().unwrap();
    incident.decision.unwrap().action.unwrap()
}

fn source_of<'a>(action: &'a ValidatedAction, parameter: &str) -> &'a Source {
    &action
        .provenance
        .iter()
        .find(|entry| entry.parameter == parameter)
        .unwrap_or_else(|| panic!("no provenance for {parameter}: {:?}", action.provenance))
        .source
}

#[tokio::test]
async fn a_log_line_naming_a_version_does_not_choose_the_rollback() {
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let id = decide(&harness, &snapshot, steered_rollback()).await;
    let action = stored_action(&harness, &id).await;
    assert_eq!(action.action, ActionId::LambdaRollbackAlias);
    let ActionParams::LambdaAlias(params) = &action.params else {
        panic!("{:?}", action.params);
    };
    assert_eq!(
        params.target_version, "41",
        "the version the alias pointed at before the recorded deployment, not the model's"
    );
    match source_of(&action, "target_version") {
        Source::Fact { evidence, summary } => {
            assert_eq!(evidence, ALIAS_MOVE);
            assert!(summary.contains("from version 41 to 42"), "{summary}");
        }
        other => panic!("target_version from {other:?}"),
    }
    // The replacement is audited with its reason.
    let trail = harness.store.audit_trail(&id).await.unwrap();
    let assessed = trail
        .iter()
        .find(|record| record.kind == AuditKind::Assessed)
        .unwrap();
    let notes = assessed.data["notes"].to_string();
    assert!(
        notes.contains("`target_version` \\\"1\\\" from the analyst replaced by \\\"41\\\""),
        "{notes}"
    );
}

#[tokio::test]
async fn a_rollback_with_no_recorded_previous_version_is_refused() {
    // The same world, but the alias move is not on record: only the code deployment is.
    let dir = std::env::temp_dir().join(argus::testing::unique("no-alias-move"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(scenario_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let changes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("changes.json")).unwrap()).unwrap();
    let kept: Vec<_> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["action"] != "UpdateAlias")
        .cloned()
        .collect();
    std::fs::write(
        dir.join("changes.json"),
        json!({"changes": kept}).to_string(),
    )
    .unwrap();
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&dir).unwrap();
    let id = decide(&harness, &snapshot, steered_rollback()).await;
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let action = incident.decision.unwrap().action;
    assert!(
        action
            .as_ref()
            .is_none_or(|action| action.action != ActionId::LambdaRollbackAlias),
        "no version on record, no rollback: {action:?}"
    );
    let trail = harness.store.audit_trail(&id).await.unwrap();
    let fallback = trail
        .iter()
        .find(|record| record.kind == AuditKind::AnalystFallback)
        .expect("the refusal is audited");
    assert!(
        fallback
            .summary
            .contains("`target_version` has no fact to come from"),
        "{}",
        fallback.summary
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn every_parameter_of_the_rules_rollback_says_where_it_came_from() {
    // No model: the rules analyst reads the findings.
    let harness = Harness::new(Config::default());
    let snapshot = RecordedSnapshot::open(&scenario_dir()).unwrap();
    let investigator = investigator(&snapshot);
    let intake = Intake {
        investigator: Some(&investigator),
        analyst: &argus::analysis::RulesAnalyst,
        ..harness.intake()
    };
    let report = intake
        .process_event(&sample(&format!("{SCENARIO}/alarm.json")))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let shown = report.signals[0]
        .steps
        .iter()
        .find(|step| step.stage == "parameters")
        .map(|step| step.detail.clone())
        .unwrap_or_default();
    assert!(
        shown.contains(&format!("target_version=41 from fact {ALIAS_MOVE}")),
        "the replay's timeline shows the sources: {shown}"
    );
    let action = stored_action(&harness, &id).await;
    assert!(action.on_candidate);
    assert_eq!(
        source_of(&action, "function_name"),
        &Source::Candidate {
            node: "pricing".into(),
            evidence: "topology.candidate.pricing".into()
        }
    );
    assert!(
        matches!(source_of(&action, "alias"), Source::Fact { evidence, .. } if evidence == ALIAS_MOVE)
    );
    assert!(
        matches!(source_of(&action, "target_version"), Source::Fact { evidence, .. } if evidence == ALIAS_MOVE)
    );
    assert_eq!(action.provenance.len(), 3, "{:?}", action.provenance);
    // AND the path from the alarm to the candidate, with its evidence, is on the record
    let root_cause = action.root_cause.as_ref().unwrap();
    assert_eq!(root_cause.node, "pricing");
    assert_eq!(
        root_cause.path.first().map(String::as_str),
        Some("storefront")
    );
    assert_eq!(root_cause.path.last().map(String::as_str), Some("pricing"));
    let ids: Vec<&str> = root_cause
        .evidence
        .iter()
        .map(|item| item.id.as_str())
        .collect();
    for id in [
        "topology.candidate.pricing",
        "metric.pricing.latency",
        ALIAS_MOVE,
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
}

#[tokio::test]
async fn an_action_on_the_alarming_resource_names_the_incident_as_its_source() {
    let harness = Harness::new(Config::default());
    let report = harness
        .deliver(&support::alarm_event(
            "ALARM",
            argus::testing::epoch(),
            "i-0123456789abcdef0",
        ))
        .await
        .unwrap();
    let action = report.signals[0]
        .decision
        .as_ref()
        .unwrap()
        .action
        .clone()
        .unwrap();
    assert_eq!(action.action, ActionId::Ec2Reboot);
    assert_eq!(source_of(&action, "instance_id"), &Source::IncidentResource);
    assert!(action.root_cause.is_none());
}

fn terraform_apply(project: &str) -> Assessment {
    Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::ConfigurationChange,
        severity: 6,
        confidence: 0.9,
        summary: "the instance drifted".into(),
        hypotheses: vec![Hypothesis {
            statement: "drift".into(),
            likelihood: 0.9,
            evidence: vec!["alarm.state".into()],
        }],
        proposal: Some(Proposal {
            action_id: "codebuild.terraform_apply".into(),
            params: json!({"project_name": project, "resource": "ec2:instance/i-0123456789abcdef0"}),
            rationale: "apply the project the runbook names".into(),
        }),
        usage: None,
    }
}

#[tokio::test]
async fn a_model_named_build_project_is_not_the_one_that_runs() {
    let config = Config {
        terraform_apply_project: "infra-apply".into(),
        ..Config::default()
    };
    let harness = Harness::new(config);
    *harness.analyst.answer.lock().unwrap() = Some(Ok(terraform_apply("destroy-prod")));
    let report = harness
        .deliver(&support::alarm_event(
            "ALARM",
            argus::testing::epoch(),
            "i-0123456789abcdef0",
        ))
        .await
        .unwrap();
    let action = report.signals[0]
        .decision
        .as_ref()
        .unwrap()
        .action
        .clone()
        .unwrap();
    let ActionParams::TerraformApply(params) = &action.params else {
        panic!("{:?}", action.params);
    };
    assert_eq!(params.project_name, "infra-apply");
    assert_eq!(
        source_of(&action, "project_name"),
        &Source::Configuration {
            setting: "terraform_apply_project".into()
        }
    );
    // Without a configured project, the proposal is refused.
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Ok(terraform_apply("destroy-prod")));
    let report = harness
        .deliver(&support::alarm_event(
            "ALARM",
            argus::testing::epoch(),
            "i-0123456789abcdef0",
        ))
        .await
        .unwrap();
    let decision = report.signals[0].decision.clone().unwrap();
    assert!(
        decision
            .action
            .as_ref()
            .is_none_or(|action| action.action != ActionId::CodebuildTerraformApply),
        "{decision:?}"
    );
}
