//! What an external source may name (issue 16, item 9): an Alertmanager label or a Datadog tag
//! chooses the incident's resource, to which actions are pinned, so each vendor may name only
//! the resources its configuration allows (`signals.external_resources`); any other name is
//! kept as evidence and the incident stays on the alert itself, where no action can land.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{Assessment, Classification, Hypothesis, Proposal};
use argus::config::Config;
use argus::intake::Outcome;
use serde_json::json;
use support::{Harness, sample};

const VICTIM: &str = "i-0dead0000000beef1";

fn labelled_alert() -> serde_json::Value {
    let mut event = sample("argus/external-alert-firing.json");
    event["detail"]["resource"] = json!(format!("ec2:instance/{VICTIM}"));
    event
}

fn reboot_the_victim() -> Assessment {
    Assessment {
        analyst: "test-analyst".into(),
        classification: Classification::ResourceSaturation,
        severity: 5,
        confidence: 0.9,
        summary: "reboot it".into(),
        hypotheses: vec![Hypothesis {
            statement: "stuck".into(),
            likelihood: 0.9,
            evidence: vec!["alert.labels".into()],
        }],
        proposal: Some(Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": VICTIM}),
            rationale: "a reboot clears it".into(),
        }),
        usage: None,
    }
}

#[tokio::test]
async fn attack_alert_label_names_an_instance_argus_then_reboots() {
    // GIVEN a vendor allowed to name only the prod ECS services
    let config = Config::from_json(
        &json!({ "signals": { "external_resources": { "alertmanager": ["ecs:service/prod/*"] } } })
            .to_string(),
    )
    .unwrap();
    let harness = Harness::new(config);
    *harness.analyst.answer.lock().unwrap() = Some(Ok(reboot_the_victim()));
    // WHEN an alert's label names an EC2 instance
    let report = harness.deliver(&labelled_alert()).await.unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened);
    // THEN the incident is not on that instance, and nothing is proposed for it
    assert_ne!(signal.signal.resource.id(), VICTIM);
    let decision = signal.decision.clone().unwrap();
    assert!(decision.action.is_none(), "{decision:?}");
    assert!(
        signal
            .signal
            .evidence
            .iter()
            .any(|item| item.text.contains(VICTIM) && item.text.contains("not allowed")),
        "the name it gave is kept as evidence, with why it was not used"
    );
}

#[tokio::test]
async fn attack_unconfigured_vendor_names_any_resource() {
    let harness = Harness::new(Config::default());
    *harness.analyst.answer.lock().unwrap() = Some(Ok(reboot_the_victim()));
    let report = harness.deliver(&labelled_alert()).await.unwrap();
    assert_ne!(report.signals[0].signal.resource.id(), VICTIM);
    assert!(report.signals[0].decision.clone().unwrap().action.is_none());
}

#[tokio::test]
async fn an_allowed_resource_is_the_incidents() {
    let config = Config::from_json(
        &json!({ "signals": { "external_resources": { "alertmanager": ["ecs:service/prod/*"] } } })
            .to_string(),
    )
    .unwrap();
    let harness = Harness::new(config);
    let report = harness
        .deliver(&sample("argus/external-alert-firing.json"))
        .await
        .unwrap();
    assert_eq!(
        report.signals[0].signal.resource.as_str(),
        "ecs:service/prod/checkout"
    );
}
