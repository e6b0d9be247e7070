//! Every path of statemachines/recovery.asl.json, executed by the local engine after the real
//! intake path: auto success, pending then recovered, failed → rollback → escalate, approval
//! approved / rejected / timed out, throttled action, permanent failure, spent budget, an
//! incident already closed when the execution starts, an incident resolved while the workflow
//! runs (before the action, during the approval, answered after, timed out after), an alarm
//! flapping while its workflow runs, a late OK from an earlier flap arriving mid-recovery, and
//! a patterns table that throttles the outcome record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::PastIncident;
use argus::catalogue::ActionId;
use argus::config::{BudgetPolicy, Config};
use argus::incident::{AuditKind, AuditRecord, IncidentStatus};
use argus::ports::{ActionStats, IncidentStore, OutcomeRecord, PatternStore, StoreError};
use argus::postmortem::{FollowUpKind, Postmortem, Step};
use argus::recovery::engine::{ExecutionRecord, ExecutionStatus, execute};
use argus::recovery::recovery_machine;
use argus::recovery::world::{Approval, Behaviour, Interlude, LocalRunner, WorldSettings};
use argus::testing::epoch;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use support::{Harness, alarm_event, sample};

/// The sample alarm on StatusCheckFailed: the rules analyst's confident, low-risk reboot (auto).
fn status_check_alarm(instance: &str) -> Value {
    let mut event = alarm_event("ALARM", epoch(), instance);
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] =
        Value::String("StatusCheckFailed".into());
    event
}

struct Run {
    id: argus::correlation::CorrelationId,
    record: ExecutionRecord,
    messages: Vec<String>,
    status: IncidentStatus,
}

async fn run(harness: &Harness, event: &Value, settings: WorldSettings) -> Run {
    run_with(harness, event, settings, None, None).await
}

/// A run with the rest of the world acting meanwhile (`interlude`) and, optionally, another
/// patterns table than the harness's store.
async fn run_with(
    harness: &Harness,
    event: &Value,
    settings: WorldSettings,
    interlude: Option<&dyn Interlude>,
    patterns: Option<&dyn PatternStore>,
) -> Run {
    let report = harness.deliver(event).await.unwrap();
    let signal = &report.signals[0];
    let id = signal.correlation_id.clone().unwrap();
    let input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .expect("a workflow was started");
    let mut runner = LocalRunner::new(
        settings,
        &harness.store,
        patterns.unwrap_or(&harness.store),
        epoch(),
    );
    if let Some(interlude) = interlude {
        runner = runner.with_interlude(interlude);
    }
    let record = execute(&recovery_machine().unwrap(), id.as_str(), input, &runner)
        .await
        .unwrap();
    let status = harness.store.incident(&id).await.unwrap().unwrap().status;
    Run {
        id,
        record,
        messages: runner.messages(),
        status,
    }
}

/// The autonomy ladder off, so a confident low-risk action runs without approval on its first
/// incident; the ladder itself is tested with the decision policy.
fn trusting() -> Config {
    let mut config = Config::default();
    config.decision.verified_successes_for_auto = 0;
    config
}

fn world(behaviour: Behaviour, approval: Approval) -> WorldSettings {
    WorldSettings {
        behaviour,
        approval,
        ..WorldSettings::default()
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

fn assert_never_visits(record: &ExecutionRecord, states: &[&str]) {
    for state in states {
        assert!(
            !record.path().contains(state),
            "`{state}` should not run: {:?}",
            record.path()
        );
    }
}

const ACTIONS: [&str; 7] = [
    "Reboot EC2 instance",
    "Start EC2 instance",
    "Force new ECS deployment",
    "Roll back Lambda alias",
    "Start ASG instance refresh",
    "Run SSM automation",
    "Re-apply Terraform",
];

#[tokio::test]
async fn auto_recovery_is_verified_after_pending_checks_and_resolves_the_incident() {
    let harness = Harness::new(trusting());
    let run = run(
        &harness,
        &status_check_alarm("i-0c466662d1be073d0"),
        world(Behaviour::Recovers, Approval::NoAnswer),
    )
    .await;
    assert_eq!(run.record.status, ExecutionStatus::Succeeded);
    assert_path_contains(
        &run.record,
        &[
            "Record recovery start",
            "Choose recovery mode",
            "Check incident still open",
            "Incident still open?",
            "Choose action",
            "Reboot EC2 instance",
            "Action sent",
            "Wait for recovery to settle",
            "Read alarm state",
            "Read instance status",
            "Verify recovery",
            "Recovered?",
            "Wait before next check",
            "Verify recovery",
            "Record recovery",
            "Publish post-mortem",
            "Notify outcome",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &["Request approval", "Escalate to on-call"]);
    assert_eq!(run.status, IncidentStatus::Resolved);
    let stats = PatternStore::action_stats(
        &harness.store,
        "alarm:AWS/EC2/StatusCheckFailed",
        ActionId::Ec2Reboot,
    )
    .await
    .unwrap();
    assert_eq!(
        (stats.attempts, stats.verified_successes),
        (1, 1),
        "the verified outcome is learned"
    );
}

#[tokio::test]
async fn a_resource_that_stays_broken_is_rolled_back_and_escalated() {
    let harness = Harness::new(Config::default());
    let run = run(
        &harness,
        &sample("ec2-state-change/stopped.json"),
        world(Behaviour::StaysBroken, Approval::Approve),
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Request approval",
            "Start EC2 instance",
            "Verify recovery",
            "Has an inverse?",
            "Roll back: stop EC2 instance",
            "Record escalation",
            "Page on-call?",
            "Escalate to on-call",
            "Open ticket",
            "Recovery finished",
        ],
    );
    assert_eq!(run.status, IncidentStatus::Escalated);
    assert!(
        run.messages
            .iter()
            .any(|message| message.contains("rollback: stopInstances")),
        "{:?}",
        run.messages
    );
    let checks = run
        .record
        .path()
        .iter()
        .filter(|state| **state == "Verify recovery")
        .count();
    assert_eq!(
        checks,
        Config::default().recovery.max_checks as usize,
        "verification is bounded"
    );
}

#[tokio::test]
async fn a_resource_that_breaks_again_is_not_counted_as_recovered() {
    let harness = Harness::new(trusting());
    let run = run(
        &harness,
        &status_check_alarm("i-04795780ab643b9d7"),
        world(Behaviour::Relapses, Approval::NoAnswer),
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Reboot EC2 instance",
            "Verify recovery",
            "Has an inverse?",
            "Record escalation",
            "Escalate to on-call",
        ],
    );
    assert_never_visits(&run.record, &["Record recovery"]);
    assert_eq!(run.status, IncidentStatus::Escalated);
    let stats = PatternStore::action_stats(
        &harness.store,
        "alarm:AWS/EC2/StatusCheckFailed",
        ActionId::Ec2Reboot,
    )
    .await
    .unwrap();
    assert_eq!(
        (stats.attempts, stats.failures),
        (1, 1),
        "the failed verification is learned"
    );
}

#[tokio::test]
async fn an_approved_action_runs_and_a_rejected_or_unanswered_one_fails_closed() {
    let cpu = || alarm_event("ALARM", epoch(), "i-0498a99aa22111970");
    let approved = run(
        &Harness::new(Config::default()),
        &cpu(),
        world(Behaviour::Recovers, Approval::Approve),
    )
    .await;
    assert_path_contains(
        &approved.record,
        &[
            "Request approval",
            "Choose action",
            "Reboot EC2 instance",
            "Record recovery",
        ],
    );
    for answer in [Approval::Reject, Approval::NoAnswer] {
        let refused = run(
            &Harness::new(Config::default()),
            &cpu(),
            world(Behaviour::Recovers, answer),
        )
        .await;
        assert_path_contains(
            &refused.record,
            &[
                "Request approval",
                "Record escalation",
                "Escalate to on-call",
            ],
        );
        assert_never_visits(&refused.record, &ACTIONS);
        assert_eq!(refused.status, IncidentStatus::Escalated, "{answer:?}");
    }
}

/// The post-mortem of a run, from what the store holds after it.
async fn postmortem_of(harness: &Harness, run: &Run) -> (Postmortem, Vec<AuditRecord>) {
    let store = &harness.store;
    let incident = store.incident(&run.id).await.unwrap().unwrap();
    let audit = store.audit_trail(&run.id).await.unwrap();
    let signals = store.signals(&run.id).await.unwrap();
    (Postmortem::build(&incident, &audit, &signals, None), audit)
}

fn timed(postmortem: &Postmortem, step: Step) -> Option<DateTime<Utc>> {
    postmortem
        .timeline
        .iter()
        .find(|entry| entry.step == step)
        .unwrap_or_else(|| panic!("no {step:?} in {:?}", postmortem.timeline))
        .at
}

#[tokio::test]
async fn the_audit_trail_carries_the_approval_and_when_the_action_was_sent() {
    let cpu = || alarm_event("ALARM", epoch(), "i-0ef59905ed921e095");
    // GIVEN an approved action in a world where it works
    let harness = Harness::new(Config::default());
    let approved = run(
        &harness,
        &cpu(),
        world(Behaviour::Recovers, Approval::Approve),
    )
    .await;
    let (postmortem, audit) = postmortem_of(&harness, &approved).await;
    // THEN the connectors' records are there, in order: asked, then answered by whom and where
    let kinds: Vec<AuditKind> = audit.iter().map(|record| record.kind).collect();
    let asked = kinds
        .iter()
        .position(|kind| *kind == AuditKind::ApprovalRequested)
        .unwrap();
    let answered = kinds
        .iter()
        .position(|kind| *kind == AuditKind::ApprovalDecided)
        .unwrap();
    assert!(asked < answered, "{kinds:?}");
    assert_eq!(audit[answered].data["approved"], true);
    assert_eq!(audit[answered].data["approver"], "local-operator");
    assert_eq!(audit[answered].data["channel"], "local");
    // AND the post-mortem's timeline has every step, the action sent after the approval
    let approved_at = timed(&postmortem, Step::Approved).unwrap();
    let acted_at = timed(&postmortem, Step::Acted).unwrap();
    assert!(timed(&postmortem, Step::ApprovalRequested).unwrap() < approved_at);
    assert!(approved_at < acted_at, "{approved_at} {acted_at}");
    assert!(acted_at < timed(&postmortem, Step::Verified).unwrap());
    assert!(timed(&postmortem, Step::Resolved).is_some());
    assert!(postmortem.audit.verdict.is_intact());

    // GIVEN a rejection: who rejected is recorded, and nothing after it is invented
    let harness = Harness::new(Config::default());
    let rejected = run(
        &harness,
        &cpu(),
        world(Behaviour::Recovers, Approval::Reject),
    )
    .await;
    let (postmortem, _) = postmortem_of(&harness, &rejected).await;
    assert!(timed(&postmortem, Step::Rejected).is_some());
    for step in [Step::Acted, Step::Verified, Step::Resolved] {
        assert_eq!(timed(&postmortem, step), None, "{step:?}");
    }

    // GIVEN nobody answers: the timeout reaches the outcome record
    let harness = Harness::new(Config::default());
    let unanswered = run(
        &harness,
        &cpu(),
        world(Behaviour::Recovers, Approval::NoAnswer),
    )
    .await;
    let (postmortem, _) = postmortem_of(&harness, &unanswered).await;
    assert_eq!(timed(&postmortem, Step::Approved), None);
    assert_eq!(
        postmortem
            .response
            .approval_error
            .as_ref()
            .map(|error| error.error.as_str()),
        Some("States.Timeout")
    );
    assert_eq!(
        postmortem.follow_ups[0].kind,
        FollowUpKind::ApprovalUnanswered
    );
}

#[tokio::test]
async fn a_throttled_action_is_retried_and_a_permanent_failure_escalates() {
    let harness = Harness::new(trusting());
    let throttled = run(
        &harness,
        &status_check_alarm("i-078610d5d0d44feb5"),
        WorldSettings {
            throttle_action: 2,
            ..WorldSettings::default()
        },
    )
    .await;
    let reboot = throttled
        .record
        .visits
        .iter()
        .find(|visit| visit.state == "Reboot EC2 instance")
        .unwrap();
    assert!(reboot.note.contains("retry 2"), "{}", reboot.note);
    assert_path_contains(
        &throttled.record,
        &["Reboot EC2 instance", "Action sent", "Record recovery"],
    );

    let failing = run(
        &Harness::new(trusting()),
        &status_check_alarm("i-0681aa23e7cb302f8"),
        WorldSettings {
            action_fails: true,
            ..WorldSettings::default()
        },
    )
    .await;
    assert_path_contains(
        &failing.record,
        &[
            "Reboot EC2 instance",
            "Record escalation",
            "Escalate to on-call",
        ],
    );
    assert_never_visits(&failing.record, &["Action sent", "Verify recovery"]);
    assert_eq!(failing.status, IncidentStatus::Escalated);
    // The failure reaches the outcome record, so the post-mortem can say what went wrong.
    let failing_harness = Harness::new(trusting());
    let failing = run(
        &failing_harness,
        &status_check_alarm("i-02386ad0df7814fed"),
        WorldSettings {
            action_fails: true,
            ..WorldSettings::default()
        },
    )
    .await;
    let (postmortem, _) = postmortem_of(&failing_harness, &failing).await;
    assert_eq!(
        postmortem
            .response
            .action_error
            .as_ref()
            .map(|error| error.error.as_str()),
        Some("Ec2.AccessDeniedException")
    );
    assert_eq!(postmortem.follow_ups[0].kind, FollowUpKind::ActionFailed);
}

#[tokio::test]
async fn a_spent_budget_only_escalates() {
    let config = Config {
        budget: BudgetPolicy {
            max_attempts: 0,
            ..BudgetPolicy::default()
        },
        ..Config::default()
    };
    let run = run(
        &Harness::new(config),
        &status_check_alarm("i-0bc95e732e264debd"),
        WorldSettings::default(),
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Record recovery start",
            "Choose recovery mode",
            "Record escalation",
            "Escalate to on-call",
        ],
    );
    assert_never_visits(&run.record, &ACTIONS);
}

#[tokio::test]
async fn an_incident_closed_before_the_execution_starts_runs_nothing() {
    let harness = Harness::new(trusting());
    let report = harness
        .deliver(&status_check_alarm("i-055e60101118db20f"))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let mut ok = alarm_event(
        "OK",
        epoch() + chrono::Duration::seconds(30),
        "i-055e60101118db20f",
    );
    ok["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] =
        Value::String("StatusCheckFailed".into());
    harness.deliver(&ok).await.unwrap();
    let input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .unwrap();
    let runner = LocalRunner::new(
        WorldSettings::default(),
        &harness.store,
        &harness.store,
        epoch(),
    );
    let record = execute(&recovery_machine().unwrap(), id.as_str(), input, &runner)
        .await
        .unwrap();
    assert_eq!(
        record.path(),
        vec![
            "Prepare recovery",
            "Record recovery start",
            "Is the incident still open?",
            "Incident already closed"
        ]
    );
}

#[tokio::test]
async fn advisory_incidents_notify_and_record_without_acting() {
    let harness = Harness::new(Config::default());
    let run = run(
        &harness,
        &sample("cloudtrail/s3-PutBucketPolicy.json"),
        WorldSettings::default(),
    )
    .await;
    assert_path_contains(
        &run.record,
        &[
            "Choose recovery mode",
            "Notify people (advisory)",
            "Record advice given",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &ACTIONS);
    assert_eq!(run.status, IncidentStatus::Advisory);
}

#[test]
fn every_task_keeps_its_input_and_the_engine_refuses_what_it_cannot_run() {
    let machine = recovery_machine().unwrap();
    assert!(machine.states.len() > 30);
    let mut definition: Value = serde_json::from_str(argus::recovery::RECOVERY_ASL).unwrap();
    for (name, state) in definition["States"].as_object().unwrap() {
        if state["Type"] == "Task" {
            let path = state["ResultPath"]
                .as_str()
                .unwrap_or_else(|| panic!("task `{name}` has no ResultPath"));
            assert!(
                path.starts_with("$.") && path != "$",
                "task `{name}` overwrites its input with ResultPath {path}"
            );
        }
    }
    let refuse = |definition: &Value, why: &str| {
        let error = argus::recovery::asl::StateMachine::parse(&definition.to_string()).err();
        assert!(error.is_some(), "the engine should refuse {why}");
    };
    let original = definition.clone();
    definition["States"]["Recovery finished"] =
        serde_json::json!({"Type": "Parallel", "Branches": [], "End": true});
    refuse(&definition, "a Parallel state");
    let mut overwriting = original.clone();
    overwriting["States"]["Record recovery start"]["ResultPath"] = Value::String("$".into());
    refuse(&overwriting, "a task that overwrites its input");
    let mut unknown_field = original.clone();
    unknown_field["States"]["Verify recovery"]["OutputPath"] = Value::String("$.x".into());
    refuse(&unknown_field, "a field it does not implement");
    let mut unknown_comparison = original.clone();
    unknown_comparison["States"]["Recovered?"]["Choices"][0] =
        serde_json::json!({"Variable": "$.x", "StringMatches": "a*", "Next": "Record recovery"});
    refuse(&unknown_comparison, "a comparison it does not implement");
    let mut dangling = original;
    dangling["States"]["Action sent"]["Next"] = Value::String("Nowhere".into());
    refuse(&dangling, "a transition to a missing state");
}

#[tokio::test]
async fn a_start_that_cannot_be_recorded_still_escalates_to_the_end() {
    // GIVEN an execution whose incident the store does not know, so "Record recovery start"
    // fails with an error no retry helps (IncidentNotFound)
    let harness = Harness::new(Config::default());
    let report = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-070bb22de248e278b"))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let mut input = harness
        .workflow
        .inner
        .execution_input(id.as_str())
        .unwrap()
        .unwrap();
    input["correlation_id"] =
        Value::String("20191002T170440Z-alarm-aws-ec2-cpuutilization-000000000000".into());
    let runner = LocalRunner::new(
        WorldSettings::default(),
        &harness.store,
        &harness.store,
        epoch(),
    );
    // WHEN the workflow runs
    let record = execute(&recovery_machine().unwrap(), "unknown", input, &runner)
        .await
        .unwrap();
    // THEN it escalates and reaches its end: the outcome records find the defaults they read
    assert_eq!(
        record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        record.path()
    );
    assert_path_contains(
        &record,
        &[
            "Prepare recovery",
            "Record recovery start",
            "Record escalation",
            "Page on-call?",
            "Escalate to on-call",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
}

// ------------------------------------------------- an incident resolved while the workflow runs

/// Delivers `event` through the intake path when the workflow reaches `state`, once: the
/// alarm clearing while the workflow runs.
struct DeliverAt<'a> {
    harness: &'a Harness,
    state: &'static str,
    event: Value,
    delivered: AtomicBool,
}

impl<'a> DeliverAt<'a> {
    fn new(harness: &'a Harness, state: &'static str, event: Value) -> Self {
        Self {
            harness,
            state,
            event,
            delivered: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Interlude for DeliverAt<'_> {
    async fn at(&self, state: &str, _now: DateTime<Utc>) {
        if state == self.state && !self.delivered.swap(true, Ordering::SeqCst) {
            let report = self.harness.deliver(&self.event).await.unwrap();
            assert_eq!(
                report.signals[0].incident_status,
                Some(IncidentStatus::Resolved),
                "the OK should resolve the incident: {report:?}"
            );
        }
    }
}

/// The same alarm going OK a minute later.
fn cleared(event: &Value) -> Value {
    let mut ok = event.clone();
    let stamp = (epoch() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    ok["id"] = Value::String(format!("{}-OK", event["id"].as_str().unwrap_or("event")));
    ok["time"] = Value::String(stamp.clone());
    ok["detail"]["state"]["value"] = Value::String("OK".into());
    ok["detail"]["state"]["timestamp"] = Value::String(stamp);
    ok
}

fn paged(run: &Run) -> bool {
    run.messages
        .iter()
        .any(|message| message.starts_with("connectors: page") || message.contains("open_ticket"))
}

/// The workflow's last outcome record.
async fn outcome_record(harness: &Harness, run: &Run) -> Value {
    let audit = harness.store.audit_trail(&run.id).await.unwrap();
    audit
        .iter()
        .rev()
        .find(|record| record.kind == AuditKind::RecoveryOutcome)
        .map(|record| record.data.clone())
        .unwrap_or_else(|| panic!("no outcome record in {audit:?}"))
}

const NEVER_ON_A_RESOLVED_INCIDENT: [&str; 9] = [
    "Reboot EC2 instance",
    "Start EC2 instance",
    "Force new ECS deployment",
    "Roll back Lambda alias",
    "Start ASG instance refresh",
    "Run SSM automation",
    "Re-apply Terraform",
    "Escalate to on-call",
    "Open ticket",
];

#[tokio::test]
async fn an_incident_resolved_before_an_automatic_action_is_not_acted_on() {
    // GIVEN an automatic reboot, and the alarm clearing right before the action would run
    let harness = Harness::new(trusting());
    let alarm = status_check_alarm("i-03ab698b5baafc6f5");
    let interlude = DeliverAt::new(&harness, "Check incident still open", cleared(&alarm));
    // WHEN the workflow runs
    let run = run_with(
        &harness,
        &alarm,
        world(Behaviour::Recovers, Approval::NoAnswer),
        Some(&interlude),
        None,
    )
    .await;
    // THEN nothing is run and nobody is paged; the record says why
    assert_eq!(run.record.status, ExecutionStatus::Succeeded);
    assert_path_contains(
        &run.record,
        &[
            "Choose recovery mode",
            "Check incident still open",
            "Incident still open?",
            "Record resolved before action",
            "Page on-call?",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &NEVER_ON_A_RESOLVED_INCIDENT);
    assert!(!paged(&run), "{:?}", run.messages);
    assert_eq!(run.status, IncidentStatus::Resolved);
    let outcome = outcome_record(&harness, &run).await;
    assert_eq!(outcome["outcome"], "resolved_before_action");
    assert_eq!(outcome["paged"], false);
}

#[tokio::test]
async fn an_incident_resolved_while_its_approval_waits_ends_without_action_or_page() {
    // GIVEN an approval nobody has answered yet, and the alarm clearing meanwhile: the intake
    // fails the waiting task with Argus.IncidentResolved
    let harness = Harness::new(Config::default());
    let alarm = alarm_event("ALARM", epoch(), "i-0e251d065fecc9479");
    let interlude = DeliverAt::new(&harness, "Request approval", cleared(&alarm));
    let run = run_with(
        &harness,
        &alarm,
        world(Behaviour::Recovers, Approval::NoAnswer),
        Some(&interlude),
        None,
    )
    .await;
    // THEN the workflow ends at once, without acting or paging
    assert_path_contains(
        &run.record,
        &[
            "Request approval",
            "Record resolved before action",
            "Page on-call?",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &NEVER_ON_A_RESOLVED_INCIDENT);
    assert!(!paged(&run), "{:?}", run.messages);
    assert_eq!(run.status, IncidentStatus::Resolved);
    let outcome = outcome_record(&harness, &run).await;
    assert_eq!(outcome["outcome"], "resolved_before_action");
    assert_eq!(
        outcome["approval_error"]["Error"],
        argus::recovery::INCIDENT_RESOLVED
    );
}

#[tokio::test]
async fn an_approval_clicked_after_the_incident_resolved_is_refused_and_nothing_runs() {
    let harness = Harness::new(Config::default());
    let alarm = alarm_event("ALARM", epoch(), "i-060f758fe1c872197");
    let interlude = DeliverAt::new(&harness, "Request approval", cleared(&alarm));
    // WHEN someone approves after the alarm cleared
    let run = run_with(
        &harness,
        &alarm,
        world(Behaviour::Recovers, Approval::Approve),
        Some(&interlude),
        None,
    )
    .await;
    // THEN the answer is refused and audited, and nothing runs
    assert_path_contains(
        &run.record,
        &["Request approval", "Record resolved before action"],
    );
    assert_never_visits(&run.record, &NEVER_ON_A_RESOLVED_INCIDENT);
    assert!(!paged(&run), "{:?}", run.messages);
    let audit = harness.store.audit_trail(&run.id).await.unwrap();
    let kinds: Vec<AuditKind> = audit.iter().map(|record| record.kind).collect();
    assert!(!kinds.contains(&AuditKind::ApprovalDecided), "{kinds:?}");
    let refused = audit
        .iter()
        .find(|record| record.kind == AuditKind::ApprovalRefused)
        .unwrap_or_else(|| panic!("no refusal in {kinds:?}"));
    assert_eq!(refused.data["reason"], "incident_resolved");
}

#[tokio::test]
async fn an_approval_that_times_out_for_a_resolved_incident_pages_nobody() {
    // GIVEN the intake's SendTaskFailure was lost, so the approval waits out its timeout
    let harness = Harness::new(Config::default());
    let alarm = alarm_event("ALARM", epoch(), "i-07839d8dc24da734e");
    let interlude = DeliverAt::new(&harness, "Request approval", cleared(&alarm));
    let settings = WorldSettings {
        resolution_fails_approval: false,
        ..world(Behaviour::Recovers, Approval::NoAnswer)
    };
    let run = run_with(&harness, &alarm, settings, Some(&interlude), None).await;
    // THEN the escalation path's record finds the incident resolved and skips the page
    assert_path_contains(
        &run.record,
        &[
            "Request approval",
            "Record escalation",
            "Page on-call?",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &NEVER_ON_A_RESOLVED_INCIDENT);
    assert!(!paged(&run), "{:?}", run.messages);
    assert_eq!(run.status, IncidentStatus::Resolved);
    let outcome = outcome_record(&harness, &run).await;
    assert_eq!(outcome["outcome"], "resolved_before_action");
    assert_eq!(outcome["approval_error"]["Error"], "States.Timeout");
}

/// A patterns table that throttles `record_outcome` a number of times, then answers.
struct ThrottledPatterns<'a> {
    inner: &'a dyn PatternStore,
    throttles_left: AtomicU32,
}

#[async_trait]
impl PatternStore for ThrottledPatterns<'_> {
    async fn action_stats(
        &self,
        signature: &str,
        action: ActionId,
    ) -> Result<ActionStats, StoreError> {
        self.inner.action_stats(signature, action).await
    }

    async fn record_outcome(
        &self,
        outcome: &OutcomeRecord,
        keep_summaries: usize,
    ) -> Result<(), StoreError> {
        let left = self.throttles_left.load(Ordering::SeqCst);
        if left > 0 {
            self.throttles_left.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Throttled(
                "ProvisionedThroughputExceeded".into(),
            ));
        }
        self.inner.record_outcome(outcome, keep_summaries).await
    }

    async fn recent_incidents(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<Vec<PastIncident>, StoreError> {
        self.inner.recent_incidents(signature, limit).await
    }
}

#[tokio::test]
async fn a_throttled_patterns_table_is_retried_and_never_escalates_a_verified_recovery() {
    for throttles in [2, u32::MAX] {
        let harness = Harness::new(trusting());
        let patterns = ThrottledPatterns {
            inner: &harness.store,
            throttles_left: AtomicU32::new(throttles),
        };
        let run = run_with(
            &harness,
            &status_check_alarm("i-019de80a47a666a63"),
            world(Behaviour::Recovers, Approval::NoAnswer),
            None,
            Some(&patterns),
        )
        .await;
        assert_path_contains(
            &run.record,
            &[
                "Record recovery",
                "Publish post-mortem",
                "Recovery finished",
            ],
        );
        assert_never_visits(
            &run.record,
            &["Record escalation", "Escalate to on-call", "Open ticket"],
        );
        assert_eq!(run.status, IncidentStatus::Resolved, "{throttles}");
        let record = run
            .record
            .visits
            .iter()
            .find(|visit| visit.state == "Record recovery")
            .unwrap();
        assert!(
            record.note.contains("PatternStoreThrottled — retry 1"),
            "{}",
            record.note
        );
        let stats = harness
            .store
            .action_stats("alarm:AWS/EC2/StatusCheckFailed", ActionId::Ec2Reboot)
            .await
            .unwrap();
        let learned = if throttles == 2 { (1, 1) } else { (0, 0) };
        assert_eq!(
            (stats.attempts, stats.verified_successes),
            learned,
            "retried until learned, or given up without escalating"
        );
    }
}

/// At one state of the workflow, the alarm's later (or late) transitions are delivered in order,
/// each expected to have the given outcome; the reports are kept.
struct DeliverSeries<'a> {
    harness: &'a Harness,
    state: &'static str,
    events: Vec<(Value, argus::intake::Outcome)>,
    reports: std::sync::Mutex<Vec<argus::intake::SignalReport>>,
}

#[async_trait]
impl Interlude for DeliverSeries<'_> {
    async fn at(&self, state: &str, _now: DateTime<Utc>) {
        if state != self.state || !self.reports.lock().unwrap().is_empty() {
            return;
        }
        for (event, expected) in &self.events {
            let report = self.harness.deliver(event).await.unwrap();
            let signal = report.signals[0].clone();
            assert_eq!(signal.outcome, *expected, "{}: {signal:?}", event["id"]);
            self.reports.lock().unwrap().push(signal);
        }
    }
}

/// The StatusCheckFailed alarm of `instance` changing to `state` at `at`.
fn status_check_transition(instance: &str, state: &str, at: DateTime<Utc>) -> Value {
    let mut event = alarm_event(state, at, instance);
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] =
        Value::String("StatusCheckFailed".into());
    event
}

#[tokio::test]
async fn an_alarm_that_flaps_while_its_workflow_runs_leaves_the_old_incident_closed_and_the_new_one_open()
 {
    use argus::intake::Outcome;
    // GIVEN an automatic reboot, and the alarm going OK and into ALARM again before it runs
    let harness = Harness::new(trusting());
    let instance = "i-0f1a0000000000003";
    let alarm = status_check_transition(instance, "ALARM", epoch());
    let interlude = DeliverSeries {
        harness: &harness,
        state: "Check incident still open",
        events: vec![
            (
                status_check_transition(instance, "OK", epoch() + chrono::Duration::seconds(60)),
                Outcome::Resolved,
            ),
            (
                status_check_transition(
                    instance,
                    "ALARM",
                    epoch() + chrono::Duration::seconds(120),
                ),
                Outcome::Opened,
            ),
        ],
        reports: std::sync::Mutex::new(Vec::new()),
    };
    // WHEN the first workflow runs on
    let run = run_with(
        &harness,
        &alarm,
        world(Behaviour::Recovers, Approval::NoAnswer),
        Some(&interlude),
        None,
    )
    .await;
    // THEN it acts on nothing, and every record it writes lands on its closed incident while
    // the new incident holds the open guard
    assert_eq!(run.record.status, ExecutionStatus::Succeeded);
    assert_path_contains(
        &run.record,
        &[
            "Check incident still open",
            "Record resolved before action",
            "Publish post-mortem",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &NEVER_ON_A_RESOLVED_INCIDENT);
    assert_eq!(run.status, IncidentStatus::Resolved);
    assert_eq!(
        outcome_record(&harness, &run).await["outcome"],
        "resolved_before_action"
    );
    let first = harness.store.incident(&run.id).await.unwrap().unwrap();
    let trail = harness.store.audit_trail(&run.id).await.unwrap();
    assert!(argus::incident::verify_chain(&first, &trail).is_intact());
    let newer = interlude.reports.lock().unwrap()[1]
        .correlation_id
        .clone()
        .unwrap();
    assert_ne!(newer, run.id, "the new ALARM opened a new incident");
    assert_eq!(
        harness
            .store
            .open_incident_for(&first.resource, &first.signature)
            .await
            .unwrap(),
        Some(newer.clone()),
        "the new incident keeps the open guard"
    );
    let newer = harness.store.incident(&newer).await.unwrap().unwrap();
    assert!(newer.status.is_open(), "{:?}", newer.status);
    assert!(
        newer.execution.is_some(),
        "the new incident has its own workflow"
    );
    assert_eq!(harness.starts(), 2);
}

#[tokio::test]
async fn a_late_ok_from_an_earlier_flap_does_not_stop_a_running_recovery() {
    use argus::intake::Outcome;
    // GIVEN an automatic reboot, and an OK the alarm sent before this ALARM arriving late
    let harness = Harness::new(trusting());
    let instance = "i-01a70000000000004";
    let alarm = status_check_transition(instance, "ALARM", epoch());
    let interlude = DeliverSeries {
        harness: &harness,
        state: "Check incident still open",
        events: vec![(
            status_check_transition(instance, "OK", epoch() - chrono::Duration::minutes(5)),
            Outcome::Stale,
        )],
        reports: std::sync::Mutex::new(Vec::new()),
    };
    // WHEN the workflow runs on
    let run = run_with(
        &harness,
        &alarm,
        world(Behaviour::Recovers, Approval::NoAnswer),
        Some(&interlude),
        None,
    )
    .await;
    // THEN the stale OK is recorded and ignored: the recovery runs and is verified
    assert_path_contains(
        &run.record,
        &[
            "Check incident still open",
            "Reboot EC2 instance",
            "Verify recovery",
            "Record recovery",
            "Recovery finished",
        ],
    );
    assert_never_visits(&run.record, &["Record resolved before action"]);
    assert_eq!(run.status, IncidentStatus::Resolved);
    let trail = harness.store.audit_trail(&run.id).await.unwrap();
    assert!(
        trail.iter().any(|record| record
            .summary
            .starts_with("stale signal recorded and ignored")),
        "{trail:?}"
    );
}
