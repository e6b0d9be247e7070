//! The orchestrator's path end to end on the embedded store: dedup, correlation, clearing,
//! budgets, maintenance windows, self-caused changes, analyst fallback and resumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{Assessment, Classification, Hypothesis, Proposal};
use argus::config::{Config, MaintenanceWindow, Schedule};
use argus::decision::Mode;
use argus::incident::{AuditKind, IncidentStatus, verify_chain};
use argus::intake::{IntakeError, Outcome};
use argus::ports::Clock as _;
use argus::ports::{AnalystError, IncidentQuery, IncidentStore};
use argus::testing::epoch;
use chrono::Duration;
use serde_json::json;
use std::sync::atomic::Ordering;
use support::{Harness, alarm_event, sample};

#[tokio::test]
async fn a_redelivered_alarm_is_a_duplicate_of_the_same_incident() {
    let harness = Harness::new(Config::default());
    let event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let first = harness.deliver(&event).await.unwrap();
    let opened = &first.signals[0];
    assert_eq!(opened.outcome, Outcome::Opened);
    assert!(
        opened.workflow.is_some(),
        "a new incident starts the workflow"
    );
    harness.advance(5);
    let again = harness.deliver(&event).await.unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Duplicate);
    assert_eq!(
        again.signals[0].correlation_id, opened.correlation_id,
        "the duplicate names the same incident"
    );
    assert_eq!(harness.starts(), 1, "one workflow start");
    assert_eq!(harness.analyses(), 1, "one analysis");
}

#[tokio::test]
async fn a_different_alarm_event_joins_the_open_incident_and_ok_resolves_it() {
    let harness = Harness::new(Config::default());
    let first = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .await
        .unwrap();
    let id = first.signals[0].correlation_id.clone().unwrap();
    let again = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM-again.json",
        ))
        .await
        .unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Attached);
    assert_eq!(again.signals[0].correlation_id.as_ref(), Some(&id));
    let insufficient = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-INSUFFICIENT_DATA.json",
        ))
        .await
        .unwrap();
    assert_eq!(
        insufficient.signals[0].outcome,
        Outcome::Attached,
        "INSUFFICIENT_DATA is recorded against the open incident"
    );
    let ok = harness
        .deliver(&sample("cloudwatch-alarm/eventbridge-metric-alarm-OK.json"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.signal_count, 4);
    assert_eq!(
        harness.analyses(),
        1,
        "attached and clearing signals are not analysed"
    );
    let trail = harness.store.audit_trail(&id).await.unwrap();
    assert!(verify_chain(&incident, &trail).is_intact());
    // OK with nothing open opens nothing.
    harness.advance(60);
    let lone_ok = harness
        .deliver(&alarm_event(
            "OK",
            epoch() + Duration::hours(1),
            "i-0060c2b8471aade69",
        ))
        .await
        .unwrap();
    assert_eq!(lone_ok.signals[0].outcome, Outcome::Unattached);
    assert_eq!(lone_ok.signals[0].correlation_id, None);
}

#[tokio::test]
async fn twenty_flaps_never_exceed_the_budget_then_only_escalate() {
    let harness = Harness::new(Config::default());
    let max = harness.config.budget.max_attempts as usize;
    let mut remediations = 0;
    let mut escalations = 0;
    for flap in 0..20 {
        let at = epoch() + Duration::seconds(60 * flap);
        let alarm = harness
            .deliver(&alarm_event("ALARM", at, "i-054571b98c0efb8fb"))
            .await
            .unwrap();
        let report = &alarm.signals[0];
        assert_eq!(
            report.outcome,
            Outcome::Opened,
            "flap {flap}: each ALARM after an OK opens an incident"
        );
        let decision = report.decision.as_ref().unwrap();
        if decision.action.is_some() {
            assert!(matches!(decision.mode, Mode::Auto | Mode::Approval));
            assert_eq!(
                escalations, 0,
                "flap {flap}: no remediation after escalation started"
            );
            remediations += 1;
        } else {
            assert!(
                decision.escalate,
                "flap {flap}: a spent budget escalates: {decision:?}"
            );
            assert_eq!(report.incident_status, Some(IncidentStatus::Escalated));
            escalations += 1;
        }
        harness.advance(30);
        let ok = harness
            .deliver(&alarm_event(
                "OK",
                at + Duration::seconds(30),
                "i-054571b98c0efb8fb",
            ))
            .await
            .unwrap();
        assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
        harness.advance(30);
    }
    assert_eq!(remediations, max, "exactly the budget's attempts");
    assert_eq!(escalations, 20 - max);
    assert_eq!(harness.analyses(), max, "a spent budget is not analysed");
    let usage = harness
        .store
        .budget_usage(
            &argus::resource::ResourceRef::parse("ec2:instance/i-054571b98c0efb8fb").unwrap(),
            harness.clock.now(),
            harness.config.budget.window(),
        )
        .await
        .unwrap();
    assert_eq!(usage.iter().map(|u| u.used as usize).sum::<usize>(), max);
}

#[tokio::test]
async fn a_maintenance_window_suppresses_actions_but_keeps_the_record() {
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
    let report = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-0407cd8adc87b2f7e"))
        .await
        .unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened);
    assert_eq!(signal.incident_status, Some(IncidentStatus::Suppressed));
    assert!(signal.workflow.is_none(), "no workflow while suppressed");
    assert_eq!(
        harness.analyses(),
        0,
        "nothing is paid for while suppressed"
    );
    let id = signal.correlation_id.clone().unwrap();
    let trail = harness.store.audit_trail(&id).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|record| record.kind == AuditKind::Suppressed)
    );
}

#[tokio::test]
async fn argus_own_change_attaches_to_the_open_incident() {
    let mut config = Config::default();
    config.signals.self_role_arns = vec!["arn:aws:iam::123456789012:role/argus-recovery".into()];
    let harness = Harness::new(config);
    let opened = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .await
        .unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    // Argus' own role, carrying the id of the incident it acts for.
    let mut own_call = sample("cloudtrail/ec2-StopInstances-by-argus.json");
    own_call["detail"]["requestParameters"]["clientToken"] = json!(id.as_str());
    let own = harness.deliver(&own_call).await.unwrap();
    assert_eq!(own.signals[0].outcome, Outcome::SelfCaused);
    assert_eq!(
        own.signals[0].correlation_id,
        Some(id),
        "attached to the incident on the same instance"
    );
    let all = harness
        .store
        .list_incidents(&IncidentQuery {
            statuses: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "no new incident for Argus' own change");
    // A human's StopInstances is a new incident.
    let human = harness
        .deliver(&sample("cloudtrail/ec2-StopInstances.json"))
        .await
        .unwrap();
    assert_eq!(human.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn a_failing_analyst_falls_back_to_the_rules_and_says_why() {
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Err(AnalystError::Timeout(3000)));
    let report = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .await
        .unwrap();
    let signal = &report.signals[0];
    assert_eq!(
        signal.assessment.as_ref().unwrap().assessment.analyst,
        "rules/v1"
    );
    let trail = harness
        .store
        .audit_trail(signal.correlation_id.as_ref().unwrap())
        .await
        .unwrap();
    let fallback = trail
        .iter()
        .find(|record| record.kind == AuditKind::AnalystFallback)
        .expect("fallback audited");
    assert!(
        fallback.summary.contains("timed out"),
        "{}",
        fallback.summary
    );
    // AND what replay and explain print says so and why, not only the audit trail
    let said = signal
        .steps
        .iter()
        .find(|step| step.stage == "fallback")
        .unwrap_or_else(|| panic!("no fallback step in {:?}", signal.steps));
    assert!(said.detail.contains("timed out"), "{}", said.detail);
    assert!(said.detail.contains("rules analyst"), "{}", said.detail);
}

#[tokio::test]
async fn a_confident_proposal_on_another_resource_never_runs() {
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Ok(Assessment {
        analyst: "adversarial".into(),
        classification: Classification::Availability,
        severity: 9,
        confidence: 0.99,
        summary: "reboot the database host".into(),
        hypotheses: vec![Hypothesis {
            statement: "trust me".into(),
            likelihood: 0.99,
            evidence: vec!["alarm.state".into()],
        }],
        proposal: Some(Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": "i-04875e98e4ba80e1e"}),
            rationale: String::new(),
        }),
        usage: None,
    }));
    let report = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-070b1bd70d9e3cfb3"))
        .await
        .unwrap();
    let signal = &report.signals[0];
    let decision = signal.decision.as_ref().unwrap();
    if let Some(action) = &decision.action {
        assert_eq!(
            action.target.as_ref().map(|t| t.as_str()),
            Some("ec2:instance/i-070b1bd70d9e3cfb3"),
            "only the incident's resource"
        );
    }
    assert_eq!(
        signal.assessment.as_ref().unwrap().assessment.analyst,
        "rules/v1",
        "the refused answer falls back to the rules"
    );
    assert_ne!(
        decision.mode,
        Mode::Auto,
        "the rules' confidence for CPU does not reach auto"
    );
}

#[tokio::test]
async fn a_confident_answer_with_no_hypothesis_at_all_is_capped_and_never_runs_alone() {
    let mut config = Config::default();
    config.decision.verified_successes_for_auto = 0;
    let harness = Harness::new(config);
    *harness.analyst.answer.lock().unwrap() = Some(Ok(Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::ResourceSaturation,
        severity: 5,
        confidence: 0.95,
        summary: "reboot it".into(),
        hypotheses: Vec::new(),
        proposal: Some(Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": "i-0e0b2963f30e8b60c"}),
            rationale: "it helps".into(),
        }),
        usage: None,
    }));
    let report = harness
        .deliver(&alarm_event("ALARM", epoch(), "i-0e0b2963f30e8b60c"))
        .await
        .unwrap();
    let signal = &report.signals[0];
    let validated = signal.assessment.as_ref().unwrap();
    assert_eq!(validated.assessment.analyst, "test-analyst");
    assert!(
        validated.assessment.confidence <= argus::analysis::UNGROUNDED_CONFIDENCE_CAP,
        "{}",
        validated.assessment.confidence
    );
    assert!(
        validated.notes.iter().any(|note| note.contains("capped")),
        "{:?}",
        validated.notes
    );
    assert_ne!(signal.decision.as_ref().unwrap().mode, Mode::Auto);
}

#[tokio::test]
async fn a_stalled_incident_is_resumed_by_a_redelivery_after_the_grace_period() {
    let harness = Harness::new(Config::default());
    let event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    harness.workflow.failing.store(true, Ordering::SeqCst);
    let error = harness.deliver(&event).await.unwrap_err();
    assert!(matches!(error, IntakeError::Workflow(_)), "{error}");
    assert!(error.is_retryable());
    assert_eq!(error.error_type(), "WorkflowUnavailable");
    harness.workflow.failing.store(false, Ordering::SeqCst);
    let soon = harness.deliver(&event).await.unwrap();
    assert_eq!(soon.signals[0].outcome, Outcome::Duplicate);
    assert!(
        soon.signals[0].workflow.is_none(),
        "another invocation may still be working on it"
    );
    harness.advance(harness.config.resume_after_seconds as i64 + 1);
    let later = harness.deliver(&event).await.unwrap();
    assert_eq!(later.signals[0].outcome, Outcome::Duplicate);
    assert!(
        later.signals[0].workflow.is_some(),
        "the stalled incident's workflow is started"
    );
    assert_eq!(
        harness.analyses(),
        1,
        "the decision made before the outage is kept"
    );
    assert_eq!(harness.starts(), 1);
    let id = later.signals[0].correlation_id.clone().unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(incident.execution.is_some());
    assert!(verify_chain(&incident, &harness.store.audit_trail(&id).await.unwrap()).is_intact());
}

#[tokio::test]
async fn a_stalled_incident_whose_alarm_keeps_signalling_is_resumed_by_a_later_signal() {
    let harness = Harness::new(Config::default());
    let opened_at = epoch();
    harness.workflow.failing.store(true, Ordering::SeqCst);
    let error = harness
        .deliver(&alarm_event("ALARM", opened_at, "i-01a29676a9a734c28"))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "WorkflowUnavailable");
    harness.workflow.failing.store(false, Ordering::SeqCst);
    let grace = harness.config.resume_after_seconds as i64;
    // A signal a minute, alternating as a flapping alarm does without reaching OK: every one
    // of them moves the incident's `updated_at`, so the reconciler's sweep never sees it.
    let mut started_by = None;
    let mut id = None;
    for minute in 1..=8_i64 {
        harness.advance(60);
        let state = if minute % 2 == 1 {
            "INSUFFICIENT_DATA"
        } else {
            "ALARM"
        };
        let report = harness
            .deliver(&alarm_event(
                state,
                opened_at + Duration::minutes(minute),
                "i-01a29676a9a734c28",
            ))
            .await
            .unwrap();
        let signal = &report.signals[0];
        assert_eq!(signal.outcome, Outcome::Attached, "minute {minute}");
        id = signal.correlation_id.clone();
        if signal.workflow.is_some() {
            assert!(started_by.is_none(), "a second start at minute {minute}");
            started_by = Some(minute);
        }
    }
    assert_eq!(
        started_by,
        Some(grace / 60 + 1),
        "the first signal after the grace period resumes the incident"
    );
    assert_eq!(harness.starts(), 1);
    assert_eq!(
        harness.analyses(),
        1,
        "the decision made before the outage is kept"
    );
    let incident = harness.store.incident(&id.unwrap()).await.unwrap().unwrap();
    assert_eq!(
        incident.signal_count, 9,
        "one incident holds all nine signals"
    );
    assert!(incident.execution.is_some());
    let id = incident.id.clone();
    let trail = harness.store.audit_trail(&id).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .filter(|entry| entry.kind == AuditKind::Resumed)
            .count(),
        1
    );
    assert!(verify_chain(&incident, &trail).is_intact());
}

#[tokio::test]
async fn invalid_events_are_typed_errors_and_change_nothing() {
    let harness = Harness::new(Config::default());
    for (file, error_type) in [
        ("invalid/unknown-detail-type.json", "UnsupportedEvent"),
        ("invalid/alarm-missing-state.json", "InvalidEvent"),
        ("invalid/not-an-object.json", "InvalidEvent"),
        (
            "invalid/forged-cloudtrail-from-my-app.json",
            "UntrustedSource",
        ),
    ] {
        let error = harness.deliver(&sample(file)).await.unwrap_err();
        assert_eq!(error.error_type(), error_type, "{file}: {error}");
        assert!(!error.is_retryable(), "{file}: retrying cannot fix it");
    }
    assert!(
        harness
            .store
            .list_incidents(&IncidentQuery {
                statuses: None,
                limit: 10
            })
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn attack_forged_resolved_from_a_foreign_source_cannot_close_a_real_incident() {
    // GIVEN an incident opened by a real external alert
    let harness = Harness::new(Config::default());
    let opened = harness
        .deliver(&sample("argus/external-alert-firing.json"))
        .await
        .unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    // WHEN its `resolved` is forged by an application on a bus (source my.app)
    let error = harness
        .deliver(&sample("invalid/forged-external-alert-resolved.json"))
        .await
        .unwrap_err();
    // THEN it is refused as untrusted, and the incident stays open
    assert_eq!(error.error_type(), "UntrustedSource", "{error}");
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(incident.status.is_open(), "{:?}", incident.status);
    // while the real resolved, from the connectors, still closes it.
    harness
        .deliver(&sample("argus/external-alert-resolved.json"))
        .await
        .unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(!incident.status.is_open(), "{:?}", incident.status);
}

#[tokio::test]
async fn severe_tamper_without_a_safe_action_escalates() {
    let harness = Harness::new(Config::default());
    let report = harness
        .deliver(&sample("cloudtrail/dynamodb-DeleteTable.json"))
        .await
        .unwrap();
    let signal = &report.signals[0];
    let decision = signal.decision.as_ref().unwrap();
    assert_eq!(decision.mode, Mode::Advisory);
    assert!(decision.escalate);
    assert_eq!(signal.incident_status, Some(IncidentStatus::Escalated));
    assert!(signal.workflow.is_some(), "the workflow pages a human");
}
