//! Argus never undoes a deliberate stop (issue 16, item 12): a stop a person made (the
//! CloudTrail StopInstances caller is not Argus' own role) is never started again, and a stop
//! whose maker Argus cannot know yet is never started without a person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::catalogue::ActionId;
use argus::config::Config;
use argus::decision::Mode;
use argus::incident::AuditKind;
use argus::intake::Outcome;
use argus::ports::IncidentStore;
use serde_json::json;
use support::{Harness, sample};

const INSTANCE: &str = "i-1234567890abcdef0";

/// A policy under which a confident low-risk action runs on its own at once (no ladder), so
/// only the deliberate-stop guard stands between a stop and a start.
fn eager_config() -> Config {
    Config::from_json(
        &json!({
            "signals": { "self_role_arns": ["arn:aws:iam::123456789012:role/argus-recovery"] },
            "decision": { "auto_confidence": 0.5, "approval_confidence": 0.5, "verified_successes_for_auto": 0 }
        })
        .to_string(),
    )
    .unwrap()
}

fn state_change(state: &str, id: &str) -> serde_json::Value {
    let mut event = sample("ec2-state-change/stopped.json");
    event["id"] = json!(id);
    event["detail"]["state"] = json!(state);
    event["detail"]["instance-id"] = json!(INSTANCE);
    event["resources"] = json!([format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/{INSTANCE}"
    )]);
    event
}

#[tokio::test]
async fn attack_persons_stop_is_undone_by_argus() {
    let harness = Harness::new(eager_config());
    // GIVEN a person (a security engineer, say) stops the instance
    let report = harness
        .deliver(&sample("cloudtrail/ec2-StopInstances.json"))
        .await
        .unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened);
    // THEN Argus proposes no start, and says why in the decision and its audit record
    let decision = signal.decision.clone().unwrap();
    assert!(
        decision.action.is_none(),
        "a person's stop is never undone: {decision:?}"
    );
    assert_eq!(
        decision.mode,
        Mode::Advisory,
        "people are told, nothing runs"
    );
    let why = decision.reasons.join("; ");
    assert!(why.contains("stopped by"), "{why}");
    let id = signal.correlation_id.clone().unwrap();
    let trail = harness.store.audit_trail(&id).await.unwrap();
    let decided = trail
        .iter()
        .find(|record| record.kind == AuditKind::Decided)
        .unwrap();
    assert!(
        decided.data.to_string().contains("stopped by"),
        "{:?}",
        decided.data
    );
}

#[tokio::test]
async fn attack_state_change_after_a_persons_stop_is_undone_by_argus() {
    let harness = Harness::new(eager_config());
    // GIVEN a person's StopInstances is known
    harness
        .deliver(&sample("cloudtrail/ec2-StopInstances.json"))
        .await
        .unwrap();
    // WHEN the instance's state change arrives
    let report = harness
        .deliver(&state_change("stopped", "after-person"))
        .await
        .unwrap();
    let decision = report.signals[0].decision.clone().unwrap();
    // THEN it is not started either
    assert!(decision.action.is_none(), "{decision:?}");
    assert!(
        decision.reasons.join("; ").contains("stopped by"),
        "{decision:?}"
    );
}

#[tokio::test]
async fn attack_unattributed_stop_is_started_without_a_person() {
    let harness = Harness::new(eager_config());
    // GIVEN a stop whose maker Argus cannot know yet (CloudTrail arrives minutes later)
    let report = harness
        .deliver(&state_change("stopped", "unattributed"))
        .await
        .unwrap();
    let decision = report.signals[0].decision.clone().unwrap();
    // THEN starting it is only proposed to a person, never run on its own
    assert_eq!(
        decision.action.as_ref().map(|action| action.action),
        Some(ActionId::Ec2Start)
    );
    assert_eq!(decision.mode, Mode::Approval, "{decision:?}");
}
