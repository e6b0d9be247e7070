//! The recovery paths of the actions for ECS, RDS and Spot events, executed by the local engine
//! after the real intake path on the sample events: an ECS service rolled back to the task
//! definition its own deployments name, an ECS service redeployed, an RDS instance rebooted
//! after approval, a Spot instance replaced through its Auto Scaling group; and what happens
//! when the action cannot help (nothing to roll back to, the database stays failed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{Assessment, Classification, Hypothesis, Proposal};
use argus::catalogue::{ActionId, RiskClass};
use argus::config::Config;
use argus::decision::Mode;
use argus::incident::IncidentStatus;
use argus::ports::IncidentStore;
use argus::recovery::engine::{ExecutionRecord, execute};
use argus::recovery::recovery_machine;
use argus::recovery::world::{Approval, Behaviour, LocalRunner, WorldSettings};
use argus::testing::epoch;
use serde_json::{Value, json};
use support::{Harness, sample};

struct Run {
    record: ExecutionRecord,
    status: IncidentStatus,
    decision: argus::decision::Decision,
    input: Value,
}

async fn run(event: &Value, behaviour: Behaviour, approval: Approval) -> Run {
    let harness = Harness::new(Config::default());
    run_on(&harness, event, behaviour, approval).await
}

async fn run_on(harness: &Harness, event: &Value, behaviour: Behaviour, approval: Approval) -> Run {
    let report = harness.deliver(event).await.unwrap();
    let signal = &report.signals[0];
    let id = signal
        .correlation_id
        .clone()
        .expect("an incident was opened");
    let input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .expect("a workflow was started");
    let settings = WorldSettings {
        behaviour,
        approval,
        ..WorldSettings::default()
    };
    let runner = LocalRunner::new(settings, &harness.store, &harness.store, epoch());
    let record = execute(
        &recovery_machine().unwrap(),
        id.as_str(),
        input.clone(),
        &runner,
    )
    .await
    .unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    Run {
        record,
        status: incident.status,
        decision: incident.decision.expect("decided"),
        input,
    }
}

fn assert_path_contains(record: &ExecutionRecord, expected: &[&str]) {
    let path = record.path();
    let mut position = 0;
    for state in expected {
        match path[position..].iter().position(|visited| visited == state) {
            Some(found) => position += found + 1,
            None => panic!("`{state}` not found in order in {path:?}"),
        }
    }
}

#[tokio::test]
async fn a_failed_ecs_deployment_is_rolled_back_to_the_task_definition_the_service_ran_before() {
    let run = run(
        &sample("ecs/deployment-failed.json"),
        Behaviour::Recovers,
        Approval::Approve,
    )
    .await;
    let action = run.decision.action.as_ref().unwrap();
    assert_eq!(action.action, ActionId::EcsRollbackTaskDefinition);
    assert_eq!(action.risk, RiskClass::Medium);
    assert_eq!(run.decision.mode, Mode::Approval);
    assert_path_contains(
        &run.record,
        &[
            "Request approval",
            "Read ECS deployments",
            "Which deployment ran before?",
            "Previous is the second deployment",
            "Roll back ECS task definition",
            "Read ECS service after rollback",
            "Expect the previous task definition",
            "Verify recovery",
            "Record recovery",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn a_rollback_that_changes_nothing_escalates_without_an_inverse() {
    let run = run(
        &sample("ecs/deployment-failed.json"),
        Behaviour::StaysBroken,
        Approval::Approve,
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Roll back ECS task definition",
            "Has an inverse?",
            "Record escalation",
            "Escalate to on-call",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Escalated);
}

#[tokio::test]
async fn the_task_definition_rolled_back_to_is_never_the_proposals() {
    // GIVEN a model that proposes the rollback with a task definition of its choosing
    // WHEN it is validated THEN the catalogue refuses the unknown parameter: the workflow
    // alone chooses, from the service's deployments.
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Ok(Assessment {
        analyst: "test".to_string(),
        classification: Classification::DeploymentRegression,
        severity: 7,
        confidence: 0.9,
        summary: "roll back".to_string(),
        hypotheses: vec![Hypothesis {
            statement: "the deployment failed".to_string(),
            likelihood: 0.9,
            evidence: vec!["ecs.deployment".to_string()],
        }],
        proposal: Some(Proposal {
            action_id: "ecs.rollback_task_definition".to_string(),
            params: json!({"cluster": "default", "service": "servicetest", "task_definition": "arn:aws:ecs:us-west-2:111122223333:task-definition/attacker:1"}),
            rationale: "go back".to_string(),
        }),
        usage: None,
    }));
    let report = harness
        .deliver(&sample("ecs/deployment-failed.json"))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .unwrap();
    let params = input.pointer("/decision/action/params").cloned();
    assert!(
        !input.to_string().contains("attacker"),
        "the proposal's task definition reached the workflow: {params:?}"
    );
}

#[tokio::test]
async fn a_service_without_a_previous_deployment_is_not_rolled_back() {
    // The world answers a service whose rollback already happened: one deployment only.
    let harness = Harness::new(Config::default());
    let report = harness
        .deliver(&sample("ecs/deployment-failed.json"))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let mut input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .unwrap();
    // The machine is run from its own definition; only the world's first answer changes.
    let machine = recovery_machine().unwrap();
    let runner = OneDeploymentWorld {
        inner: LocalRunner::new(
            WorldSettings {
                approval: Approval::Approve,
                ..WorldSettings::default()
            },
            &harness.store,
            &harness.store,
            epoch(),
        ),
    };
    input["recovery"]["max_checks"] = json!(1);
    let record = execute(&machine, id.as_str(), input, &runner)
        .await
        .unwrap();
    assert_path_contains(
        &record,
        &[
            "Read ECS deployments",
            "Has a previous deployment?",
            "No previous task definition",
            "Record escalation",
        ],
    );
    assert!(!record.path().contains(&"Roll back ECS task definition"));
}

/// The simulated world, except that the service has one deployment only.
struct OneDeploymentWorld<'a> {
    inner: LocalRunner<'a>,
}

#[async_trait::async_trait]
impl argus::recovery::engine::TaskRunner for OneDeploymentWorld<'_> {
    fn execution_started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.execution_started_at()
    }

    async fn run(
        &self,
        call: argus::recovery::engine::TaskCall<'_>,
    ) -> Result<argus::recovery::engine::TaskOutput, argus::recovery::engine::TaskFailure> {
        if call.resource.ends_with(":ecs:describeServices") {
            return Ok(argus::recovery::engine::TaskOutput {
                output: json!({"Services": [{"RunningCount": 3, "DesiredCount": 3, "Deployments": [
                    {"Status": "PRIMARY", "TaskDefinition": "arn:aws:ecs:us-west-2:111122223333:task-definition/servicetest:7"}
                ]}]}),
                seconds: 0.5,
            });
        }
        self.inner.run(call).await
    }
}

#[tokio::test]
async fn an_unhealthy_ecs_task_in_the_registry_gets_a_new_deployment() {
    let run = run(
        &sample("ecs/service-discovery-instance-unhealthy.json"),
        Behaviour::Recovers,
        Approval::Approve,
    )
    .await;
    assert_eq!(
        run.decision.action.as_ref().unwrap().action,
        ActionId::EcsForceNewDeployment
    );
    assert_path_contains(
        &run.record,
        &[
            "Force new ECS deployment",
            "Read ECS service",
            "Record recovery",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn a_failed_rds_instance_is_rebooted_only_after_approval() {
    let approved = run(
        &sample("rds/instance-failure.json"),
        Behaviour::Recovers,
        Approval::Approve,
    )
    .await;
    let action = approved.decision.action.as_ref().unwrap();
    assert_eq!(action.action, ActionId::RdsReboot);
    assert_eq!(approved.decision.mode, Mode::Approval);
    assert_eq!(
        approved.input.pointer("/decision/action/params"),
        Some(&json!({"db_instance_identifier": "orders-db", "force_failover": false}))
    );
    assert_path_contains(
        &approved.record,
        &[
            "Request approval",
            "Reboot RDS DB instance",
            "Read RDS DB instance",
            "Record recovery",
        ],
    );
    assert_eq!(approved.status, IncidentStatus::Resolved);

    let rejected = run(
        &sample("rds/instance-failure.json"),
        Behaviour::Recovers,
        Approval::Reject,
    )
    .await;
    assert!(!rejected.record.path().contains(&"Reboot RDS DB instance"));
    assert_eq!(rejected.status, IncidentStatus::Escalated);
}

#[tokio::test]
async fn a_database_that_stays_failed_after_its_reboot_escalates() {
    let run = run(
        &sample("rds/instance-failure.json"),
        Behaviour::StaysBroken,
        Approval::Approve,
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Reboot RDS DB instance",
            "Read RDS DB instance",
            "Has an inverse?",
            "Escalate to on-call",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Escalated);
}

#[tokio::test]
async fn a_spot_instance_about_to_be_interrupted_is_replaced_through_its_group() {
    let run = run(
        &sample("ec2-spot/spot-interruption-warning.json"),
        Behaviour::Recovers,
        Approval::Approve,
    )
    .await;
    let action = run.decision.action.as_ref().unwrap();
    assert_eq!(action.action, ActionId::AsgReplaceInstance);
    assert_eq!(
        run.input.pointer("/decision/action/params"),
        Some(&json!({"instance_id": "i-0b662ef9931388ba0", "respect_grace_period": false}))
    );
    assert_path_contains(
        &run.record,
        &[
            "Replace instance through its Auto Scaling group",
            "Read Auto Scaling instance",
            "Record recovery",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn incidents_with_no_catalogue_action_are_advisory() {
    for file in [
        "ecs/task-stopped-out-of-memory.json",
        "ecs/service-task-placement-failure.json",
        "rds/instance-storage-full.json",
        "autoscaling/launch-unsuccessful.json",
        "ssm/parameter-update.json",
    ] {
        let harness = Harness::new(Config::default());
        let report = harness.deliver(&sample(file)).await.unwrap();
        let decision = report.signals[0]
            .decision
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: no decision"));
        assert_eq!(decision.mode, Mode::Advisory, "{file}");
        assert!(decision.action.is_none(), "{file}: {:?}", decision.action);
    }
}

#[test]
fn every_remediation_in_the_catalogue_has_a_path_and_a_health_read_in_the_state_machine() {
    let machine: Value = serde_json::from_str(argus::recovery::RECOVERY_ASL).unwrap();
    let branches = |state: &str| -> Vec<String> {
        machine["States"][state]["Choices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|choice| {
                let mut found = vec![choice.clone()];
                if let Some(any) = choice["Or"].as_array() {
                    found.extend(any.iter().cloned());
                }
                found
            })
            .filter_map(|choice| choice["StringEquals"].as_str().map(str::to_string))
            .collect()
    };
    let actions = branches("Choose action");
    let health_reads = branches("Read resource health?");
    for action in ActionId::ALL.into_iter().filter(|a| a.is_remediation()) {
        assert!(
            actions.contains(&action.as_str().to_string()),
            "{action} has no branch in \"Choose action\""
        );
    }
    for action in [
        ActionId::EcsRollbackTaskDefinition,
        ActionId::RdsReboot,
        ActionId::AsgReplaceInstance,
    ] {
        assert!(
            health_reads.contains(&action.as_str().to_string()),
            "{action} has no health read for the verifier"
        );
    }
}
