//! The autonomy ladder across a sequence of verified and failed recoveries: a confident,
//! low-risk action waits for a human until it has been verified K times in a row for its
//! signature, then runs on its own, and goes back to asking after a failed verification. The
//! outcomes are learned through `learn_from_outcome`, as the recovery workflow records them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{
    Assessment, Classification, Hypothesis, LearningError, Proposal, RecoveryOutcome,
    learn_from_outcome,
};
use argus::catalogue::ActionId;
use argus::config::Config;
use argus::decision::Mode;
use argus::ports::{Clock, IncidentStore, PatternStore};
use argus::testing::epoch;
use chrono::Duration;
use serde_json::{Value, json};
use support::{Harness, alarm_event};

const INSTANCE: &str = "i-03052f1e395e8a14c";

/// A confident, well-grounded proposal to reboot the incident's instance, so that only the
/// ladder decides between `auto` and `approval`.
fn confident_reboot() -> Assessment {
    Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::ResourceSaturation,
        severity: 5,
        confidence: 0.9,
        summary: "CPU saturated by a runaway process".into(),
        hypotheses: vec![Hypothesis {
            statement: "a runaway process".into(),
            likelihood: 0.9,
            evidence: vec!["alarm.state".into()],
        }],
        proposal: Some(Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": INSTANCE}),
            rationale: "a reboot clears it".into(),
        }),
        usage: None,
    }
}

fn alarm(step: i64, state: &str) -> Value {
    alarm_event(state, epoch() + Duration::hours(2 * step), INSTANCE)
}

#[tokio::test]
async fn an_action_earns_auto_after_k_verified_successes_and_loses_it_on_a_failure() {
    let harness = Harness::new(Config::default());
    let needed = harness.config.decision.verified_successes_for_auto;
    assert_eq!(needed, 3, "the default ladder has three rungs");
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot()));

    // (whether this recovery is verified, the mode expected for the incident before it)
    let sequence = [
        (true, Mode::Approval),
        (true, Mode::Approval),
        (true, Mode::Approval),
        (false, Mode::Auto),
        (true, Mode::Approval),
        (true, Mode::Approval),
        (true, Mode::Approval),
        (true, Mode::Auto),
        (true, Mode::Auto),
    ];
    for (step, (verified, expected)) in sequence.into_iter().enumerate() {
        let step = step as i64;
        harness.clock.set(epoch() + Duration::hours(2 * step));
        let report = harness.deliver(&alarm(step, "ALARM")).await.unwrap();
        let signal = &report.signals[0];
        let decision = signal.decision.as_ref().unwrap();
        assert_eq!(
            decision.mode,
            expected,
            "incident {}: {:?}",
            step + 1,
            decision.reasons
        );
        assert_eq!(
            decision.action.as_ref().map(|action| action.action),
            Some(ActionId::Ec2Reboot)
        );
        assert!(
            decision
                .reasons
                .iter()
                .any(|r| r.contains("autonomy ladder")),
            "the ladder explains itself: {:?}",
            decision.reasons
        );
        if step == 4 {
            assert!(
                decision
                    .reasons
                    .iter()
                    .any(|r| r.contains("failed verification")),
                "the drop names the failure: {:?}",
                decision.reasons
            );
        }

        // The recovery runs, the verifier settles, the workflow learns the outcome; the source
        // then clears the alarm, which closes the incident.
        let id = signal.correlation_id.clone().unwrap();
        let started = harness.clock.now() + Duration::seconds(30);
        harness.advance(300);
        let incident = harness.store.incident(&id).await.unwrap().unwrap();
        let outcome = RecoveryOutcome {
            action: ActionId::Ec2Reboot,
            verified,
            action_started_at: started,
            settled_at: started + Duration::seconds(90 + 10 * step),
        };
        let record = learn_from_outcome(&harness.store, &incident, &outcome, &harness.config)
            .await
            .unwrap();
        assert_eq!(
            record.time_to_recover_seconds,
            verified.then_some(90 + 10 * step as u64)
        );
        // A retried workflow step records nothing twice.
        learn_from_outcome(&harness.store, &incident, &outcome, &harness.config)
            .await
            .unwrap();
        harness.deliver(&alarm(step, "OK")).await.unwrap();
    }

    let stats = harness
        .store
        .action_stats(&alarm_signature(&harness).await, ActionId::Ec2Reboot)
        .await
        .unwrap();
    assert_eq!(
        (
            stats.attempts,
            stats.verified_successes,
            stats.failures,
            stats.consecutive_verified_successes
        ),
        (9, 8, 1, 5)
    );
    assert!(stats.last_failure_at.is_some());
    assert_eq!(
        stats.mean_time_to_recover_seconds(),
        Some((90 + 100 + 110 + 130 + 140 + 150 + 160 + 170) / 8),
        "mean over the verified recoveries only"
    );
}

async fn alarm_signature(harness: &Harness) -> String {
    let all = harness
        .store
        .list_incidents(&argus::ports::IncidentQuery {
            statuses: None,
            limit: 1,
        })
        .await
        .unwrap();
    all[0].signature.clone()
}

#[tokio::test]
async fn what_was_learned_reaches_the_next_context() {
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Ok(confident_reboot()));
    let first = harness.deliver(&alarm(0, "ALARM")).await.unwrap();
    let id = first.signals[0].correlation_id.clone().unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let now = harness.clock.now();
    learn_from_outcome(
        &harness.store,
        &incident,
        &RecoveryOutcome {
            action: ActionId::Ec2Reboot,
            verified: true,
            action_started_at: now,
            settled_at: now + Duration::seconds(75),
        },
        &harness.config,
    )
    .await
    .unwrap();
    harness.deliver(&alarm(0, "OK")).await.unwrap();

    harness.clock.set(epoch() + Duration::hours(2));
    let second = harness.deliver(&alarm(1, "ALARM")).await.unwrap();
    let context = second.signals[0].context.as_ref().unwrap();
    let pattern = context
        .items
        .iter()
        .find(|item| item.id == "pattern.ec2.reboot")
        .expect("the learned stats are evidence");
    assert!(
        pattern.text.contains("1 verified") && pattern.text.contains("75 s"),
        "{}",
        pattern.text
    );
    let history = context
        .items
        .iter()
        .find(|item| item.id == "history.1")
        .expect("the past incident is evidence");
    assert!(
        history.text.contains("verified recovered") && history.text.contains(id.as_str()),
        "{}",
        history.text
    );
    let change = context
        .items
        .iter()
        .find(|item| item.id == "change.1")
        .expect("the earlier incident on the same instance");
    assert!(change.text.contains("earlier incident"), "{}", change.text);
    assert_eq!(context.stats(ActionId::Ec2Reboot).verified_successes, 1);
}

#[tokio::test]
async fn only_remediations_settled_after_they_started_are_learned() {
    let harness = Harness::new(Config::default());
    let report = harness.deliver(&alarm(0, "ALARM")).await.unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let now = harness.clock.now();
    let notify = RecoveryOutcome {
        action: ActionId::NotifyOnly,
        verified: true,
        action_started_at: now,
        settled_at: now,
    };
    assert!(matches!(
        learn_from_outcome(&harness.store, &incident, &notify, &harness.config).await,
        Err(LearningError::NotARemediation(ActionId::NotifyOnly))
    ));
    let backwards = RecoveryOutcome {
        action: ActionId::Ec2Reboot,
        verified: true,
        action_started_at: now,
        settled_at: now - Duration::seconds(1),
    };
    assert!(matches!(
        learn_from_outcome(&harness.store, &incident, &backwards, &harness.config).await,
        Err(LearningError::SettledBeforeStart { .. })
    ));
    assert_eq!(
        harness
            .store
            .action_stats(&incident.signature, ActionId::Ec2Reboot)
            .await
            .unwrap(),
        Default::default(),
        "nothing was recorded"
    );
}
