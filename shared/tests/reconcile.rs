//! The reconciler's logic over the embedded store and fakes: missed alarms are taken in once,
//! a second run changes nothing, the real event and the reconciler agree on one incident,
//! stalled incidents are re-driven once, and overdue ones are escalated without re-running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::incident::{AuditKind, IncidentStatus, verify_chain};
use argus::intake::Outcome;
use argus::ports::{Clock, IncidentQuery, IncidentStore};
use argus::reconcile::{
    AlarmSnapshot, ExecutionStatus, MetricQuery, ReconcileLimits, ReconcileReport, Reconciler,
    workflow_deadline,
};
use argus::signal::{Normalised, Signal, normalise};
use argus::testing::epoch;
use argus::testing::reconcile::{
    FakeAlarms, FakeExecutions, cpu_alarm, cpu_alarm_event, due_listing_conformance,
};
use chrono::Duration;
use serde_json::Value;
use std::sync::atomic::Ordering;
use support::{Harness, alarm_event, sample};

fn reconciler<'a>(
    harness: &'a Harness,
    alarms: &'a FakeAlarms,
    executions: &'a FakeExecutions,
) -> Reconciler<'a> {
    Reconciler {
        intake: harness.intake(),
        alarms,
        executions,
        limits: ReconcileLimits::default(),
    }
}

async fn incidents(harness: &Harness) -> Vec<argus::incident::Incident> {
    harness
        .store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: 100,
        })
        .await
        .unwrap()
}

fn only_signal(event: &Value) -> Signal {
    match normalise(event, &Config::default().signals).unwrap() {
        Normalised::Signals(mut signals) => signals.remove(0),
        Normalised::Ignored { reason } => panic!("ignored: {reason}"),
    }
}

fn quiet(report: &ReconcileReport) -> bool {
    report.incidents_opened.is_empty()
        && report.redriven.is_empty()
        && report.escalated.is_empty()
        && report.failures.is_empty()
}

#[test]
fn an_alarm_read_back_is_the_same_signal_as_its_eventbridge_event() {
    // GIVEN each alarm sample and the snapshot DescribeAlarms gives of the same alarm
    let cpu = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let at = "2019-10-02T17:04:40.989Z".parse().unwrap();
    let mut snapshot = AlarmSnapshot {
        name: "ServerCpuTooHigh".into(),
        arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh".into(),
        ..cpu_alarm("i-12345678901234567", at)
    };
    let math = sample("cloudwatch-alarm/eventbridge-metric-math-alarm-ALARM.json");
    let composite = sample("cloudwatch-alarm/eventbridge-composite-alarm-ALARM.json");
    let mut cases = vec![(cpu.clone(), snapshot.clone())];
    for event in [&math, &composite] {
        let detail = &event["detail"];
        snapshot = AlarmSnapshot {
            name: detail["alarmName"].as_str().unwrap().to_string(),
            arn: event["resources"][0].as_str().unwrap().to_string(),
            state: "ALARM".into(),
            state_reason: detail["state"]["reason"].as_str().unwrap().to_string(),
            state_changed_at: chrono::DateTime::parse_from_str(
                detail["state"]["timestamp"].as_str().unwrap(),
                "%Y-%m-%dT%H:%M:%S%.f%z",
            )
            .unwrap()
            .into(),
            alarm_rule: detail["configuration"]["alarmRule"]
                .as_str()
                .map(str::to_string),
            metrics: detail["configuration"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|query| {
                    let metric = &query["metricStat"]["metric"];
                    MetricQuery {
                        id: query["id"].as_str().unwrap_or_default().to_string(),
                        expression: query["expression"].as_str().map(str::to_string),
                        namespace: metric["namespace"].as_str().map(str::to_string),
                        metric_name: metric["name"].as_str().map(str::to_string),
                        dimensions: metric["dimensions"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect(),
                    }
                })
                .collect(),
            ..AlarmSnapshot::default()
        };
        cases.push(((*event).clone(), snapshot.clone()));
    }
    for (event, snapshot) in cases {
        // WHEN both are normalised
        let delivered = only_signal(&event);
        let read_back = only_signal(&snapshot.to_event());
        // THEN they name the same source event, resource and signature: the guards see one
        assert_eq!(read_back.source_event_id, delivered.source_event_id);
        assert_eq!(read_back.resource, delivered.resource);
        assert_eq!(read_back.signature, delivered.signature);
        assert_eq!(read_back.alarm_kind, delivered.alarm_kind);
        assert_eq!(read_back.effect, delivered.effect);
    }
}

#[tokio::test]
async fn an_alarm_naming_an_invalid_resource_is_refused_without_failing_every_run() {
    // GIVEN an alarm whose instance dimension is no instance id, beside a real one
    let harness = Harness::new(Config::default());
    let alarms = FakeAlarms::with(vec![
        cpu_alarm("i-../../etc", epoch()),
        cpu_alarm("i-0033776bb8a75b77f", epoch()),
    ]);
    let executions = FakeExecutions::default();
    harness.advance(60);
    // WHEN the reconciler runs
    let report = reconciler(&harness, &alarms, &executions).run(None).await;
    // THEN the invalid one is refused, as its EventBridge event would be, and counted; the run
    // does not fail on it, and the real one is taken in
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.alarms_refused, 1, "{report:?}");
    assert_eq!(report.incidents_opened.len(), 1, "{report:?}");
}

#[tokio::test]
async fn a_missed_alarm_is_taken_in_once_and_a_second_run_does_nothing() {
    let harness = Harness::new(Config::default());
    let alarms = FakeAlarms::with(vec![cpu_alarm("i-0033776bb8a75b77e", epoch())]);
    let executions = FakeExecutions::default();
    harness.advance(60);

    let first = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(first.alarms_in_alarm, 1);
    assert_eq!(first.incidents_opened.len(), 1, "{first:?}");
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(harness.starts(), 1, "the new incident's workflow starts");
    assert_eq!(harness.analyses(), 1);

    harness.advance(300);
    let second = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(second.alarms_covered, 1, "{second:?}");
    assert!(quiet(&second), "{second:?}");
    assert_eq!(harness.starts(), 1);
    assert_eq!(harness.analyses(), 1);
    assert_eq!(incidents(&harness).await.len(), 1);
}

#[tokio::test]
async fn the_real_event_and_the_reconciler_agree_on_one_incident_in_either_order() {
    // Reconciler first, then the late EventBridge delivery.
    let harness = Harness::new(Config::default());
    let alarms = FakeAlarms::with(vec![cpu_alarm("i-07fd92c14711bc9b7", epoch())]);
    let executions = FakeExecutions::default();
    let report = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(report.incidents_opened.len(), 1);
    let late = harness
        .deliver(&cpu_alarm_event("i-07fd92c14711bc9b7", epoch()))
        .await
        .unwrap();
    assert_eq!(late.signals[0].outcome, Outcome::Duplicate);
    assert_eq!(
        late.signals[0].correlation_id.as_ref(),
        report.incidents_opened.first()
    );

    // The EventBridge delivery first, then the reconciler.
    let delivered = harness
        .deliver(&cpu_alarm_event("i-0c65d404f1789a63f", epoch()))
        .await
        .unwrap();
    assert_eq!(delivered.signals[0].outcome, Outcome::Opened);
    *alarms.alarms.lock().unwrap() = vec![cpu_alarm("i-0c65d404f1789a63f", epoch())];
    let after = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(after.alarms_covered, 1, "{after:?}");
    assert!(quiet(&after), "{after:?}");
    assert_eq!(incidents(&harness).await.len(), 2);
    assert_eq!(harness.starts(), 2);
}

#[tokio::test]
async fn an_alarm_whose_incident_was_closed_is_not_reopened_for_the_same_transition() {
    let harness = Harness::new(Config::default());
    let delivered = harness
        .deliver(&cpu_alarm_event("i-055e60101118db20f", epoch()))
        .await
        .unwrap();
    let id = delivered.signals[0].correlation_id.clone().unwrap();
    // The alarm clears and the incident resolves; a stale DescribeAlarms answer still says ALARM.
    harness.advance(30);
    let mut cleared = cpu_alarm("i-055e60101118db20f", epoch() + Duration::seconds(30));
    cleared.state = "OK".to_string();
    harness.deliver(&cleared.to_event()).await.unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    let alarms = FakeAlarms::with(vec![cpu_alarm("i-055e60101118db20f", epoch())]);
    let executions = FakeExecutions::default();
    let report = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(report.alarms_already_seen, 1, "{report:?}");
    assert!(quiet(&report), "{report:?}");
    assert_eq!(incidents(&harness).await.len(), 1);
}

#[tokio::test]
async fn a_run_takes_in_at_most_its_limit_and_the_next_run_the_rest() {
    let harness = Harness::new(Config::default());
    let alarms = FakeAlarms::with(
        (0..5)
            .map(|n| cpu_alarm(&format!("i-0bac{n:013}"), epoch()))
            .collect(),
    );
    let executions = FakeExecutions::default();
    let limited = Reconciler {
        limits: ReconcileLimits {
            max_new_signals: 3,
            ..ReconcileLimits::default()
        },
        ..reconciler(&harness, &alarms, &executions)
    };
    let first = limited.run(None).await;
    assert_eq!(first.incidents_opened.len(), 3);
    assert_eq!(first.alarms_deferred, 2);
    let second = limited.run(None).await;
    assert_eq!(second.incidents_opened.len(), 2);
    assert_eq!(second.alarms_covered, 3);
    assert_eq!(incidents(&harness).await.len(), 5);
}

#[tokio::test]
async fn a_stalled_incident_is_redriven_once_after_the_grace_period() {
    // GIVEN an incident whose StartExecution failed
    let harness = Harness::new(Config::default());
    harness.workflow.failing.store(true, Ordering::SeqCst);
    let error = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-026767733889201ae"))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "WorkflowUnavailable");
    harness.workflow.failing.store(false, Ordering::SeqCst);
    let alarms = FakeAlarms::default();
    let executions = FakeExecutions::default();

    // WHEN the reconciler runs within the grace period THEN it leaves it to the retry
    harness.advance(60);
    let early = reconciler(&harness, &alarms, &executions).run(None).await;
    assert!(early.redriven.is_empty(), "{early:?}");
    assert_eq!(harness.starts(), 0);

    // WHEN it runs after the grace period THEN the workflow starts, once
    harness.advance(harness.config.resume_after_seconds as i64);
    let late = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(late.redriven.len(), 1, "{late:?}");
    assert_eq!(harness.starts(), 1);
    assert_eq!(
        harness.analyses(),
        1,
        "the decision made before the outage stands"
    );
    harness.advance(harness.config.resume_after_seconds as i64 + 1);
    let again = reconciler(&harness, &alarms, &executions).run(None).await;
    assert!(quiet(&again), "{again:?}");
    assert_eq!(harness.starts(), 1);

    let id = &late.redriven[0];
    let incident = harness.store.incident(id).await.unwrap().unwrap();
    assert!(incident.execution.is_some());
    let trail = harness.store.audit_trail(id).await.unwrap();
    assert!(verify_chain(&incident, &trail).is_intact());
    let resumed: Vec<_> = trail
        .iter()
        .filter(|record| record.kind == AuditKind::Resumed)
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].actor, argus::reconcile::ACTOR);
}

#[tokio::test]
async fn an_incident_that_stalled_before_its_decision_is_decided_and_started() {
    // The analysis never ran: the store refused the decision write, say. The incident has only
    // its opening; the reconciler runs the rest of the path on the opening signal.
    let harness = Harness::new(Config::default());
    let signal = only_signal(&alarm_event("ALARM", epoch(), "i-0a948b7086d5a4528"));
    let id = argus::correlation::CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        signal.observed_at,
    );
    let mut incident = argus::incident::Incident::open(id.clone(), &signal, epoch());
    let audit = [incident.audit(
        argus::incident::AuditEntry::new(
            "test",
            AuditKind::IncidentOpened,
            "opened",
            serde_json::json!({}),
        ),
        epoch(),
    )];
    let claim = argus::ports::DedupClaim {
        source_event_id: signal.source_event_id.clone(),
        correlation_id: Some(id.clone()),
        claimed_at: epoch(),
        expires_at: epoch() + Duration::days(7),
    };
    let record = argus::ports::SignalRecord {
        incident_id: id.clone(),
        received_at: epoch(),
        outcome: "opened".into(),
        signal: signal.clone(),
    };
    harness
        .store
        .open_incident(argus::ports::NewIncident {
            incident: &incident,
            claim: &claim,
            signal: &record,
            audit: &audit,
        })
        .await
        .unwrap();
    harness.advance(harness.config.resume_after_seconds as i64 + 1);
    let alarms = FakeAlarms::default();
    let executions = FakeExecutions::default();
    let report = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(report.redriven, vec![id.clone()], "{report:?}");
    assert_eq!(harness.analyses(), 1);
    assert_eq!(harness.starts(), 1);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(incident.decision.is_some());
    assert_ne!(incident.status, IncidentStatus::Open);
}

#[tokio::test]
async fn an_overdue_workflow_is_escalated_with_its_status_and_never_rerun() {
    for status in [
        ExecutionStatus::Running,
        ExecutionStatus::Failed,
        ExecutionStatus::NotFound,
    ] {
        // GIVEN an incident whose workflow started
        let harness = Harness::new(Config::default());
        let report = harness
            .deliver(&alarm_event("ALARM", epoch(), "i-010407ec2fc4883a9"))
            .await
            .unwrap();
        let signal = &report.signals[0];
        let id = signal.correlation_id.clone().unwrap();
        let started = harness.store.incident(&id).await.unwrap().unwrap();
        assert!(
            matches!(
                started.status,
                IncidentStatus::Recovering | IncidentStatus::AwaitingApproval
            ),
            "{:?}",
            started.status
        );
        let execution = started.execution.clone().unwrap();
        let executions = FakeExecutions::default();
        if status != ExecutionStatus::NotFound {
            executions.set(&execution.id, status);
        }
        let alarms = FakeAlarms::default();

        // WHEN the reconciler runs before the deadline THEN it leaves the workflow alone
        let deadline = workflow_deadline(&harness.config.recovery);
        harness.clock.advance(deadline);
        let before = reconciler(&harness, &alarms, &executions).run(None).await;
        assert!(quiet(&before), "{before:?}");
        assert_eq!(executions.lookups.load(Ordering::SeqCst), 0);

        // WHEN it runs past the deadline THEN the incident is escalated, once, and nothing re-runs
        harness.advance(1);
        let past = reconciler(&harness, &alarms, &executions).run(None).await;
        assert_eq!(past.escalated, vec![id.clone()], "{status:?}: {past:?}");
        let again = reconciler(&harness, &alarms, &executions).run(None).await;
        assert!(quiet(&again), "{again:?}");
        assert_eq!(harness.starts(), 1, "{status:?}: nothing is started again");
        let incident = harness.store.incident(&id).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Escalated);
        let trail = harness.store.audit_trail(&id).await.unwrap();
        assert!(verify_chain(&incident, &trail).is_intact());
        let last = trail.last().unwrap();
        assert_eq!(last.kind, AuditKind::StatusChanged);
        assert_eq!(last.actor, argus::reconcile::ACTOR);
        assert_eq!(last.data["execution_status"], status.as_str(), "{last:?}");
    }
}

#[tokio::test]
async fn an_outcome_recorded_meanwhile_wins_over_the_escalation() {
    let harness = Harness::new(Config::default());
    let report = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-0fa1e81233fbf8045"))
        .await
        .unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    harness
        .clock
        .advance(workflow_deadline(&harness.config.recovery));
    // The alarm clears: the incident resolves before the reconciler looks.
    harness
        .deliver(&alarm_event(
            "OK",
            harness.clock.now(),
            "i-0fa1e81233fbf8045",
        ))
        .await
        .unwrap();
    harness.advance(1);
    let alarms = FakeAlarms::default();
    let executions = FakeExecutions::default();
    let run = reconciler(&harness, &alarms, &executions).run(None).await;
    assert!(run.escalated.is_empty(), "{run:?}");
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn a_failing_alarm_source_is_reported_and_the_rest_of_the_run_goes_on() {
    let harness = Harness::new(Config::default());
    harness.workflow.failing.store(true, Ordering::SeqCst);
    harness
        .deliver(&alarm_event("ALARM", epoch(), "i-0bcc940594c434da4"))
        .await
        .unwrap_err();
    harness.workflow.failing.store(false, Ordering::SeqCst);
    harness.advance(harness.config.resume_after_seconds as i64 + 1);
    let alarms = FakeAlarms::default();
    alarms.failing.store(true, Ordering::SeqCst);
    let executions = FakeExecutions::default();
    let report = reconciler(&harness, &alarms, &executions).run(None).await;
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert_eq!(report.failures[0].error_type, "AlarmSourceUnavailable");
    assert_eq!(
        report.redriven.len(),
        1,
        "stalled incidents are still re-driven"
    );
}

#[tokio::test]
async fn no_analysis_starts_within_the_time_reserve_of_the_deadline() {
    let harness = Harness::new(Config::default());
    let alarms = FakeAlarms::with(
        (0..3)
            .map(|n| cpu_alarm(&format!("i-0a7e{n:013}"), epoch()))
            .collect(),
    );
    let executions = FakeExecutions::default();
    let reserve = ReconcileLimits::default().time_reserve_seconds;
    let tight = harness.clock.now() + Duration::seconds(reserve - 1);
    let short = reconciler(&harness, &alarms, &executions)
        .run(Some(tight))
        .await;
    assert_eq!(short.alarms_deferred, 3, "{short:?}");
    assert_eq!(harness.analyses(), 0);
    let roomy = harness.clock.now() + Duration::seconds(reserve + 60);
    let long = reconciler(&harness, &alarms, &executions)
        .run(Some(roomy))
        .await;
    assert_eq!(long.incidents_opened.len(), 3, "{long:?}");
}

#[tokio::test]
async fn the_embedded_store_lists_stale_incidents_as_the_sweep_needs() {
    let harness = Harness::new(Config::default());
    due_listing_conformance(&harness.store, "embedded").await;
}
