//! The incident lifecycle through the intake path: which alarm clears what, and signals
//! delivered late, retried or out of the order the source raised them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::incident::IncidentStatus;
use argus::intake::Outcome;
use argus::ports::{Clock as _, IncidentStore};
use argus::testing::epoch;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::{Harness, alarm_event};

/// The sample CPU alarm under another name (and so another ARN), as a second alarm on the same
/// instance and metric would be: a warning beside a critical one.
fn named_alarm(name: &str, state: &str, at: DateTime<Utc>, instance: &str) -> Value {
    let mut event = alarm_event(state, at, instance);
    event["id"] = Value::String(format!("{name}-{}", event["id"].as_str().unwrap()));
    event["detail"]["alarmName"] = Value::String(name.to_string());
    event["resources"] = serde_json::json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    )]);
    event
}

fn at(minutes: i64) -> DateTime<Utc> {
    epoch() + Duration::minutes(minutes)
}

#[tokio::test]
async fn a_warning_alarms_ok_does_not_resolve_what_the_critical_alarm_still_reports() {
    let harness = Harness::new(Config::default());
    // GIVEN a warning and a critical alarm on the same instance and metric, both in ALARM.
    let warning = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "ALARM",
            at(0),
            "i-0d9ff03671efa4c9d",
        ))
        .await
        .unwrap();
    assert_eq!(warning.signals[0].outcome, Outcome::Opened);
    let id = warning.signals[0].correlation_id.clone().unwrap();
    let critical = harness
        .deliver(&named_alarm(
            "cpu-critical",
            "ALARM",
            at(1),
            "i-0d9ff03671efa4c9d",
        ))
        .await
        .unwrap();
    assert_eq!(critical.signals[0].outcome, Outcome::Attached);
    assert_eq!(critical.signals[0].correlation_id.as_ref(), Some(&id));
    // WHEN the warning returns to OK THEN the incident stays open for the critical alarm.
    let warning_ok = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "OK",
            at(2),
            "i-0d9ff03671efa4c9d",
        ))
        .await
        .unwrap();
    assert_eq!(
        warning_ok.signals[0].outcome,
        Outcome::Attached,
        "one alarm's OK does not resolve another alarm's problem"
    );
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(incident.status.is_open(), "{:?}", incident.status);
    // AND when the critical alarm is OK too THEN it resolves.
    let critical_ok = harness
        .deliver(&named_alarm(
            "cpu-critical",
            "OK",
            at(3),
            "i-0d9ff03671efa4c9d",
        ))
        .await
        .unwrap();
    assert_eq!(critical_ok.signals[0].outcome, Outcome::Resolved);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn an_alarm_whose_ok_came_before_another_alarm_opened_does_not_keep_the_incident_open() {
    // Found by the DynamoDB property test (`tests/tests/lifecycle_properties.rs`).
    let harness = Harness::new(Config::default());
    // GIVEN the warning alarm's OK arrives first, with nothing open
    let warning_ok = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "OK",
            at(31),
            "i-0a1e0000000000001",
        ))
        .await
        .unwrap();
    assert_eq!(warning_ok.signals[0].outcome, Outcome::Unattached);
    // AND the critical alarm opens an incident
    let critical = harness
        .deliver(&named_alarm(
            "cpu-critical",
            "ALARM",
            at(25),
            "i-0a1e0000000000001",
        ))
        .await
        .unwrap();
    assert_eq!(critical.signals[0].outcome, Outcome::Opened);
    let id = critical.signals[0].correlation_id.clone().unwrap();
    // WHEN the warning's ALARM, raised before its OK, is delivered late
    let late = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "ALARM",
            at(3),
            "i-0a1e0000000000001",
        ))
        .await
        .unwrap();
    // THEN it is stale: the warning is not counted as firing
    assert_eq!(late.signals[0].outcome, Outcome::Stale);
    // AND the critical alarm's OK resolves the incident
    let critical_ok = harness
        .deliver(&named_alarm(
            "cpu-critical",
            "OK",
            at(49),
            "i-0a1e0000000000001",
        ))
        .await
        .unwrap();
    assert_eq!(critical_ok.signals[0].outcome, Outcome::Resolved);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn an_old_ok_attached_after_a_newer_remembered_one_does_not_let_an_older_alarm_fire() {
    // Found by the DynamoDB property test (`tests/tests/lifecycle_properties.rs`).
    let harness = Harness::new(Config::default());
    // GIVEN the critical alarm's last OK (11:38) arrives first, with nothing open
    let last_ok = harness
        .deliver(&named_alarm(
            "cpu-critical",
            "OK",
            at(338),
            "i-0e0e0000000000002",
        ))
        .await
        .unwrap();
    assert_eq!(last_ok.signals[0].outcome, Outcome::Unattached);
    // AND the warning alarm opens an incident
    let warning = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "ALARM",
            at(15),
            "i-0e0e0000000000002",
        ))
        .await
        .unwrap();
    assert_eq!(warning.signals[0].outcome, Outcome::Opened);
    let id = warning.signals[0].correlation_id.clone().unwrap();
    // WHEN an older OK and an older ALARM of the critical alarm arrive late
    for minutes_in in [47, 283] {
        let state = if minutes_in == 47 { "OK" } else { "ALARM" };
        let late = harness
            .deliver(&named_alarm(
                "cpu-critical",
                state,
                at(minutes_in),
                "i-0e0e0000000000002",
            ))
            .await
            .unwrap();
        // THEN both are stale: the OK remembered from before the incident is newer
        assert_eq!(late.signals[0].outcome, Outcome::Stale, "{state}");
    }
    // AND the warning's OK resolves the incident
    let warning_ok = harness
        .deliver(&named_alarm(
            "cpu-warning",
            "OK",
            at(54),
            "i-0e0e0000000000002",
        ))
        .await
        .unwrap();
    assert_eq!(warning_ok.signals[0].outcome, Outcome::Resolved);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn a_late_ok_from_an_earlier_flap_does_not_close_the_new_incident() {
    let harness = Harness::new(Config::default());
    let first = harness
        .deliver(&named_alarm("cpu", "ALARM", at(0), "i-0c2d47413d720604a"))
        .await
        .unwrap();
    let first_id = first.signals[0].correlation_id.clone().unwrap();
    harness
        .deliver(&named_alarm("cpu", "OK", at(5), "i-0c2d47413d720604a"))
        .await
        .unwrap();
    harness.advance(600);
    let second = harness
        .deliver(&named_alarm("cpu", "ALARM", at(10), "i-0c2d47413d720604a"))
        .await
        .unwrap();
    assert_eq!(second.signals[0].outcome, Outcome::Opened);
    let second_id = second.signals[0].correlation_id.clone().unwrap();
    assert_ne!(first_id, second_id);
    // WHEN an OK of the first flap, observed before the second ALARM, arrives late
    let late_ok = harness
        .deliver(&named_alarm("cpu", "OK", at(7), "i-0c2d47413d720604a"))
        .await
        .unwrap();
    // THEN it is recorded against the new incident and ignored.
    assert_eq!(late_ok.signals[0].outcome, Outcome::Stale);
    let incident = harness.store.incident(&second_id).await.unwrap().unwrap();
    assert!(incident.status.is_open(), "{:?}", incident.status);
    let trail = harness.store.audit_trail(&second_id).await.unwrap();
    assert!(
        trail.iter().any(|record| record.summary.contains("stale")),
        "the audit trail says the signal was stale"
    );
    // AND the OK the alarm really sent after the second ALARM resolves it.
    let ok = harness
        .deliver(&named_alarm("cpu", "OK", at(12), "i-0c2d47413d720604a"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
}

#[tokio::test]
async fn an_ok_processed_before_its_alarm_leaves_nothing_open() {
    let harness = Harness::new(Config::default());
    // GIVEN the OK of a flap is processed first
    let ok = harness
        .deliver(&named_alarm("cpu", "OK", at(3), "i-09faed56dd6c93752"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Unattached);
    // WHEN its ALARM, observed earlier, arrives after it
    let alarm = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-09faed56dd6c93752"))
        .await
        .unwrap();
    // THEN no incident opens that nothing would ever clear.
    assert_eq!(alarm.signals[0].outcome, Outcome::Stale);
    assert_eq!(alarm.signals[0].correlation_id, None);
    assert_eq!(harness.analyses(), 0, "nothing was analysed");
    // AND a re-delivery of that ALARM is recognised as a duplicate.
    let again = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-09faed56dd6c93752"))
        .await
        .unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Duplicate);
    // AND a later ALARM of the same alarm opens as usual.
    let later = harness
        .deliver(&named_alarm("cpu", "ALARM", at(4), "i-09faed56dd6c93752"))
        .await
        .unwrap();
    assert_eq!(later.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn a_retried_alarm_older_than_the_state_known_changes_nothing() {
    let harness = Harness::new(Config::default());
    let opened = harness
        .deliver(&named_alarm("cpu", "ALARM", at(2), "i-09dedbf6bae791b6d"))
        .await
        .unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    harness
        .deliver(&named_alarm(
            "cpu-other",
            "ALARM",
            at(3),
            "i-09dedbf6bae791b6d",
        ))
        .await
        .unwrap();
    harness
        .deliver(&named_alarm("cpu", "OK", at(4), "i-09dedbf6bae791b6d"))
        .await
        .unwrap();
    // An ALARM of `cpu` observed before its OK, delivered after it, must not set it firing again.
    let late = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-09dedbf6bae791b6d"))
        .await
        .unwrap();
    assert_eq!(late.signals[0].outcome, Outcome::Stale);
    let resolved = harness
        .deliver(&named_alarm(
            "cpu-other",
            "OK",
            at(5),
            "i-09dedbf6bae791b6d",
        ))
        .await
        .unwrap();
    assert_eq!(
        resolved.signals[0].outcome,
        Outcome::Resolved,
        "only the other alarm was still firing"
    );
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

// ---------------------------------------------------------------- every incident ends

mod ending {
    use super::*;
    use argus::config::{MaintenanceWindow, Schedule};
    use argus::lifecycle::{ResolveError, ResolveOutcome, resolve_incident};
    use argus::reconcile::{AlarmSnapshot, ReconcileLimits, ReconcileReport, Reconciler};
    use argus::testing::reconcile::{FakeAlarms, FakeExecutions, cpu_alarm};
    use support::sample;

    fn run<'a>(
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

    async fn sweep(harness: &Harness, alarms: Vec<AlarmSnapshot>) -> ReconcileReport {
        let alarms = FakeAlarms::with(alarms);
        let executions = FakeExecutions::default();
        run(harness, &alarms, &executions).run(None).await
    }

    #[tokio::test]
    async fn a_cloudtrail_incident_that_nothing_clears_ends_after_its_quiet_period() {
        let harness = Harness::new(Config::default());
        let report = harness
            .deliver(&sample("cloudtrail/ec2-TerminateInstances.json"))
            .await
            .unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        let quiet = harness.config.lifecycle.cloudtrail_quiet_seconds as i64;
        // Before the quiet period has passed, nothing ends it.
        harness.advance(quiet - 60);
        let early = sweep(&harness, Vec::new()).await;
        assert!(early.auto_resolved.is_empty(), "{early:?}");
        assert!(
            harness
                .store
                .incident(&id)
                .await
                .unwrap()
                .unwrap()
                .status
                .is_open()
        );
        // After it, the incident resolves, says why, and releases its guard.
        harness.advance(120);
        let late = sweep(&harness, Vec::new()).await;
        assert_eq!(late.auto_resolved, vec![id.clone()], "{late:?}");
        let incident = harness.store.incident(&id).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert!(incident.resolution.unwrap().contains("auto-resolved"));
        let again = harness
            .deliver(&sample("cloudtrail/ec2-TerminateInstances.json"))
            .await
            .unwrap();
        assert_eq!(
            again.signals[0].outcome,
            Outcome::Duplicate,
            "the same call is still a duplicate"
        );
        let trail = harness.store.audit_trail(&id).await.unwrap();
        assert!(
            trail
                .iter()
                .any(|record| record.summary.starts_with("auto-resolved"))
        );
    }

    #[tokio::test]
    async fn an_alarm_incident_is_not_ended_while_its_alarm_is_still_in_alarm() {
        let harness = Harness::new(Config::default());
        let alarm = cpu_alarm("i-069d739aef281123d", at(0));
        let report = harness.deliver(&alarm.to_event()).await.unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        // Nobody answers the approval: past the workflow's worst case it is escalated.
        let deadline = argus::reconcile::workflow_deadline(&harness.config.recovery);
        harness.clock.advance(deadline + Duration::seconds(1));
        let overdue = sweep(&harness, vec![alarm.clone()]).await;
        assert_eq!(overdue.escalated, vec![id.clone()], "{overdue:?}");
        harness.advance(harness.config.lifecycle.alarm_quiet_seconds as i64 + 60);
        // GIVEN DescribeAlarms still says ALARM THEN the incident is looked at again later.
        let still = sweep(&harness, vec![alarm.clone()]).await;
        assert!(still.auto_resolved.is_empty(), "{still:?}");
        assert_eq!(still.deferred, 1, "{still:?}");
        assert!(
            harness
                .store
                .incident(&id)
                .await
                .unwrap()
                .unwrap()
                .status
                .is_open()
        );
        // GIVEN its OK was missed (the alarm is no longer in ALARM) THEN it ends at the next look.
        harness.advance(harness.config.lifecycle.alarm_quiet_seconds as i64 + 60);
        let gone = sweep(&harness, Vec::new()).await;
        assert_eq!(gone.auto_resolved, vec![id.clone()], "{gone:?}");
    }

    #[tokio::test]
    async fn a_suppressed_incident_is_decided_again_when_its_window_ends_while_the_alarm_fires() {
        let config = Config {
            maintenance_windows: vec![MaintenanceWindow {
                name: "patching".into(),
                resources: vec!["ec2:instance/*".into()],
                signatures: vec![],
                schedule: Schedule::Once {
                    starts_at: epoch() - Duration::hours(1),
                    ends_at: epoch() + Duration::hours(1),
                },
            }],
            ..Config::default()
        };
        let harness = Harness::new(config);
        let alarm = cpu_alarm("i-0d0a0747feab7366c", at(0));
        let report = harness.deliver(&alarm.to_event()).await.unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        assert_eq!(
            report.signals[0].incident_status,
            Some(IncidentStatus::Suppressed)
        );
        assert_eq!(harness.starts(), 0);
        // While the window is on, the reconciler only looks again later.
        harness.advance(1800);
        let during = sweep(&harness, vec![alarm.clone()]).await;
        assert!(during.redecided.is_empty(), "{during:?}");
        assert_eq!(harness.starts(), 0);
        // After it, with the alarm still in ALARM, the incident is decided and its workflow starts.
        harness.advance(3600);
        let after = sweep(&harness, vec![alarm.clone()]).await;
        assert_eq!(after.redecided, vec![id.clone()], "{after:?}");
        assert_eq!(
            harness.starts(),
            1,
            "the workflow starts once the window is over"
        );
        let incident = harness.store.incident(&id).await.unwrap().unwrap();
        assert!(!incident.decision.unwrap().suppressed);
        let again = sweep(&harness, vec![alarm]).await;
        assert!(again.redecided.is_empty(), "decided once: {again:?}");
        assert_eq!(harness.starts(), 1);
    }

    #[tokio::test]
    async fn a_person_resolves_an_incident_with_a_reason_and_the_next_problem_opens_anew() {
        let harness = Harness::new(Config::default());
        let report = harness
            .deliver(&sample("cloudtrail/ec2-TerminateInstances.json"))
            .await
            .unwrap();
        let id = report.signals[0].correlation_id.clone().unwrap();
        let intake = harness.intake();
        assert_eq!(
            resolve_incident(
                intake.store,
                intake.clock,
                intake.workflow,
                &id,
                "alice",
                "  \u{1b}\u{7} "
            )
            .await,
            Err(ResolveError::NoReason),
            "a reason is required, and control characters are no reason"
        );
        assert_eq!(
            resolve_incident(
                intake.store,
                intake.clock,
                intake.workflow,
                &id,
                "alice",
                "terminated on purpose"
            )
            .await
            .unwrap(),
            ResolveOutcome::Resolved
        );
        let incident = harness.store.incident(&id).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(
            incident.resolution.as_deref(),
            Some("resolved by alice: terminated on purpose")
        );
        assert_eq!(
            resolve_incident(
                intake.store,
                intake.clock,
                intake.workflow,
                &id,
                "bob",
                "again"
            )
            .await
            .unwrap(),
            ResolveOutcome::AlreadyClosed {
                status: IncidentStatus::Resolved
            }
        );
        assert!(
            harness
                .store
                .open_incident_for(&incident.resource, &incident.signature)
                .await
                .unwrap()
                .is_none(),
            "the open guard is released"
        );
    }

    #[tokio::test]
    async fn long_lived_incidents_do_not_hide_a_newer_stalled_one() {
        let harness = Harness::new(Config::default());
        // GIVEN more long-lived open incidents than one run reads, all waiting on approval
        let limits = ReconcileLimits::default();
        for n in 0..(limits.scan_limit + 10) {
            harness
                .deliver(&alarm_event(
                    "ALARM",
                    at(0),
                    &format!("i-0000000000000{n:04}"),
                ))
                .await
                .unwrap();
        }
        // AND a newer incident whose workflow start failed
        harness.advance(600);
        harness
            .workflow
            .failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let stalled = harness
            .deliver(&alarm_event("ALARM", at(10), "i-0017cd02897e3fef1"))
            .await;
        assert!(stalled.is_err(), "the start failed");
        harness
            .workflow
            .failing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        // WHEN the reconciler runs after the grace period THEN it finds and re-drives it.
        harness.advance(harness.config.resume_after_seconds as i64 + 1);
        let report = sweep(&harness, Vec::new()).await;
        assert_eq!(report.redriven.len(), 1, "{report:?}");
    }
}

#[tokio::test]
async fn an_incident_that_resolves_while_its_approval_waits_ends_that_wait() {
    use argus::incident::{PendingApproval, TaskToken, update_incident};
    let harness = Harness::new(Config::default());
    let opened = harness
        .deliver(&named_alarm("cpu", "ALARM", at(0), "i-084ff72f834b7c42c"))
        .await
        .unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    // GIVEN the workflow asked for an approval and waits on its task token
    let intake = harness.intake();
    update_incident(intake.store, intake.clock, &id, None, |incident| {
        let decision = incident.decision.clone().unwrap();
        let action = decision.action.unwrap();
        incident.approval = Some(PendingApproval {
            id: "approval-1".into(),
            execution_id: incident.execution.clone().unwrap().id,
            action: action.action,
            risk: argus::catalogue::RiskClass::Low,
            requested_by: "argus".into(),
            requested_at: at(1),
            expires_at: at(61),
            task_token: TaskToken::new("secret-token-1"),
            decision: None,
        });
        vec![argus::incident::AuditEntry::new(
            "test",
            argus::incident::AuditKind::ApprovalRequested,
            "asked",
            serde_json::json!({}),
        )]
    })
    .await
    .unwrap();
    // WHEN the alarm clears
    let ok = harness
        .deliver(&named_alarm("cpu", "OK", at(2), "i-084ff72f834b7c42c"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
    // THEN the wait is ended with the error the state machine catches, once
    let failed = harness.workflow.failed_tasks.lock().unwrap().clone();
    assert_eq!(
        failed,
        vec![(
            "secret-token-1".to_string(),
            argus::recovery::INCIDENT_RESOLVED.to_string()
        )]
    );
}

#[tokio::test]
async fn argus_own_rollback_stop_does_not_open_an_incident_that_would_start_it_again() {
    let harness = Harness::new(Config::default());
    let state = |state: &str, minutes: i64| {
        let mut event = support::sample("ec2-state-change/stopped.json");
        let stamp = at(minutes).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        event["id"] = Value::String(format!("ec2-{state}-{minutes}"));
        event["time"] = Value::String(stamp);
        event["detail"]["state"] = Value::String(state.to_string());
        event
    };
    harness.clock.set(at(0));
    // GIVEN a stopped instance whose incident's workflow starts it again
    let stopped = harness.deliver(&state("stopped", 0)).await.unwrap();
    let id = stopped.signals[0].correlation_id.clone().unwrap();
    let decision = stopped.signals[0].decision.clone().unwrap();
    assert_eq!(
        decision.action.map(|action| action.action),
        Some(argus::catalogue::ActionId::Ec2Start)
    );
    assert_eq!(harness.starts(), 1);
    // AND the instance runs (which clears the incident) but fails verification
    harness.clock.set(at(5));
    harness.deliver(&state("running", 5)).await.unwrap();
    // WHEN the workflow rolls the start back (it stops the instance)
    harness.clock.set(at(10));
    let rollback = harness.deliver(&state("stopped", 10)).await.unwrap();
    // THEN that stop is Argus' own, and no new incident (and no new start) follows
    assert_eq!(
        rollback.signals[0].outcome,
        Outcome::SelfCaused,
        "{:?}",
        rollback.signals[0].steps
    );
    assert_eq!(harness.starts(), 1, "nothing starts the instance again");
    let incidents = harness
        .store
        .incidents_on(&stopped.signals[0].signal.resource, 10)
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1, "only the first incident: {incidents:?}");
    assert_eq!(incidents[0].id, id);
    // AND a stop long after the workflow's worst case is a new problem again
    let later =
        10 + argus::reconcile::workflow_deadline(&harness.config.recovery).num_minutes() + 5;
    harness.clock.set(at(later));
    let fresh = harness.deliver(&state("stopped", later)).await.unwrap();
    assert_eq!(fresh.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn a_call_on_many_resources_stops_before_the_deadline_and_a_retry_takes_in_the_rest() {
    let harness = Harness::new(Config::default());
    let mut event = support::sample("cloudtrail/ec2-TerminateInstances.json");
    let items: Vec<Value> = (0..3)
        .map(|n| serde_json::json!({"instanceId": format!("i-0aaaa{n:012}")}))
        .collect();
    event["detail"]["requestParameters"]["instancesSet"]["items"] = Value::Array(items);
    let expected = match argus::signal::normalise(&event, &harness.config.signals).unwrap() {
        argus::signal::Normalised::Signals(signals) => signals.len(),
        argus::signal::Normalised::Ignored { reason } => panic!("ignored: {reason}"),
    };
    assert!(
        expected >= 2,
        "the sample names several resources: {expected}"
    );
    // GIVEN the invocation's time is up once the first signal is in
    let stop_at = Some(harness.clock.now());
    let first = harness.intake().process_event_until(&event, stop_at).await;
    match first {
        Err(error @ argus::intake::IntakeError::OutOfTime { taken: 1, .. }) => {
            assert!(error.is_retryable());
            assert_eq!(error.error_type(), "OutOfTime");
        }
        other => panic!("expected OutOfTime after one signal, got {other:?}"),
    }
    // WHEN the event is delivered again THEN the first is a duplicate and the rest are taken in
    let retry = harness.deliver(&event).await.unwrap();
    assert_eq!(retry.signals.len(), expected);
    assert_eq!(retry.signals[0].outcome, Outcome::Duplicate);
    assert!(
        retry.signals[1..]
            .iter()
            .all(|signal| signal.outcome != Outcome::Duplicate)
    );
}
