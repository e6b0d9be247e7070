//! Who can climb the autonomy ladder (issue 16, item 8): verified successes count per resource,
//! signature and action; a success counts only when the signal that opened the incident was
//! observed clear; a signal from an external source never makes an action run on its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{
    Assessment, Classification, Hypothesis, Proposal, RecoveryOutcome, learn_from_outcome,
};
use argus::catalogue::ActionId;
use argus::config::Config;
use argus::decision::Mode;
use argus::ports::{Clock, IncidentStore};
use argus::testing::epoch;
use chrono::Duration;
use serde_json::{Value, json};
use support::{Harness, alarm_event, sample};

/// A confident, grounded reboot of `instance`, citing `evidence` (an id the source gives).
fn confident_reboot(instance: &str, evidence: &str) -> Assessment {
    Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::ResourceSaturation,
        severity: 5,
        confidence: 0.9,
        summary: "a runaway process".into(),
        hypotheses: vec![Hypothesis {
            statement: "a runaway process".into(),
            likelihood: 0.9,
            evidence: vec![evidence.into()],
        }],
        proposal: Some(Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": instance}),
            rationale: "a reboot clears it".into(),
        }),
        usage: None,
    }
}

/// Delivers `event` at step `step`, expects a reboot, records its outcome as the workflow
/// would (verified), and returns the decided mode.
async fn recover(harness: &Harness, step: i64, event: &Value) -> Mode {
    harness.clock.set(epoch() + Duration::hours(2 * step));
    let report = harness.deliver(event).await.unwrap();
    let signal = &report.signals[0];
    let decision = signal
        .decision
        .clone()
        .unwrap_or_else(|| panic!("step {step}: {:?} {:?}", signal.outcome, signal.steps));
    assert_eq!(
        decision.action.as_ref().map(|action| action.action),
        Some(ActionId::Ec2Reboot),
        "step {step}: {decision:?}"
    );
    let id = signal.correlation_id.clone().unwrap();
    let started = harness.clock.now() + Duration::seconds(30);
    harness.advance(300);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let outcome = RecoveryOutcome {
        action: ActionId::Ec2Reboot,
        verified: true,
        action_started_at: started,
        settled_at: started + Duration::seconds(90),
    };
    learn_from_outcome(&harness.store, &incident, &outcome, &harness.config)
        .await
        .unwrap();
    // The incident ends (a person resolves what no signal clears), so the next signal opens a
    // new one on the same resource.
    if harness
        .store
        .incident(&id)
        .await
        .unwrap()
        .unwrap()
        .status
        .is_open()
    {
        argus::lifecycle::resolve_incident(
            &harness.store,
            &harness.clock,
            &harness.workflow,
            &id,
            "ops@example.com",
            "recovered",
        )
        .await
        .unwrap();
    }
    decision.mode
}

fn external_alert(step: i64, instance: &str) -> Value {
    let mut event = sample("argus/external-alert-firing.json");
    let at = (epoch() + Duration::hours(2 * step)).to_rfc3339();
    event["id"] = json!(format!("external-{step}"));
    event["time"] = json!(at);
    event["detail"]["alert_id"] = json!(format!("alert-{step}"));
    event["detail"]["starts_at"] = json!(at);
    event["detail"]["resource"] = json!(format!("ec2:instance/{instance}"));
    event
}

fn log_anomaly(step: i64, instance: &str) -> Value {
    let mut event = sample("argus/log-anomaly.json");
    let start = epoch() + Duration::hours(2 * step) - Duration::minutes(5);
    event["id"] = json!(format!("anomaly-{step}"));
    event["time"] = json!((start + Duration::minutes(5)).to_rfc3339());
    event["detail"]["resource"] = json!(format!("ec2:instance/{instance}"));
    event["detail"]["window"]["start"] = json!(start.to_rfc3339());
    event["detail"]["window"]["end"] = json!((start + Duration::minutes(5)).to_rfc3339());
    event
}

#[tokio::test]
async fn attack_ladder_climbed_on_one_instance_reboots_another_without_approval() {
    let harness = Harness::new(Config::default());
    // GIVEN the reboot verified three times on an instance the attacker can alarm on
    let climbed = "i-0bad00000000beef2";
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot(climbed, "alarm.state")));
    for step in 0..3 {
        recover(
            &harness,
            step,
            &alarm_event("ALARM", epoch() + Duration::hours(2 * step), climbed),
        )
        .await;
        harness
            .deliver(&alarm_event(
                "OK",
                epoch() + Duration::hours(2 * step) + Duration::minutes(10),
                climbed,
            ))
            .await
            .unwrap();
    }
    // WHEN the same signature fires on another instance
    let victim = "i-0dead0000000beef1";
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot(victim, "alarm.state")));
    let mode = recover(
        &harness,
        3,
        &alarm_event("ALARM", epoch() + Duration::hours(6), victim),
    )
    .await;
    // THEN that instance's reboot is asked of a person: its own ladder is empty
    assert_eq!(mode, Mode::Approval);
}

#[tokio::test]
async fn attack_success_without_the_opening_signal_clearing_climbs_the_ladder() {
    let harness = Harness::new(Config::default());
    let instance = "i-0a0a00000000beef3";
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot(instance, "log.template")));
    // GIVEN three "verified" reboots whose opening anomaly nobody saw clear (only the instance's
    // health was read)
    for step in 0..3 {
        recover(&harness, step, &log_anomaly(step, instance)).await;
    }
    // THEN the fourth is still asked of a person
    let mode = recover(&harness, 3, &log_anomaly(3, instance)).await;
    assert_eq!(mode, Mode::Approval);
}

#[tokio::test]
async fn attack_external_alert_climbs_the_ladder_to_auto() {
    let instance = "i-0e0e00000000beef4";
    // The vendor may name the instance, so only the ladder's rules stand in the way.
    let harness = Harness::new(
        Config::from_json(
            &json!({"signals": {"external_resources": {"alertmanager": [format!("ec2:instance/{instance}")]}}})
                .to_string(),
        )
        .unwrap(),
    );
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot(instance, "alert.labels")));
    for step in 0..3 {
        recover(&harness, step, &external_alert(step, instance)).await;
    }
    let mode = recover(&harness, 3, &external_alert(3, instance)).await;
    assert_eq!(mode, Mode::Approval, "an external alert never drives auto");
}
