//! Argus acts only on what is its own (issue 16, items 9 and 12): before an action is proposed
//! the tags of the resource it would run on are read; a resource without the managed tag or
//! with a quarantine tag gets no action, and tags that cannot be read leave it to a person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::catalogue::ActionId;
use argus::config::Config;
use argus::decision::{Decision, Mode};
use argus::incident::AuditKind;
use argus::intake::{Intake, Outcome};
use argus::ports::IncidentStore;
use argus::resource::ResourceRef;
use argus::tags::{StaticTags, TagsError};
use serde_json::json;
use support::{Harness, alarm_event, sample};

const INSTANCE: &str = "i-0123456789abcdef0";

/// A policy under which a confident low-risk action runs on its own at once, so only the tags
/// stand between a signal and an action.
fn eager_config() -> Config {
    Config::from_json(
        &json!({
            "decision": { "auto_confidence": 0.5, "approval_confidence": 0.5, "verified_successes_for_auto": 0 }
        })
        .to_string(),
    )
    .unwrap()
}

fn instance() -> ResourceRef {
    ResourceRef::checked("ec2", "instance", INSTANCE).unwrap()
}

fn managed() -> StaticTags {
    StaticTags::default().with(&instance(), &[("argus:managed", "true"), ("team", "web")])
}

fn tagged<'a>(harness: &'a Harness, tags: &'a StaticTags) -> Intake<'a> {
    Intake {
        resource_tags: Some(tags),
        ..harness.intake()
    }
}

/// Delivers a CPU alarm on the instance (the rules propose `ec2.reboot`, low risk) and answers
/// the decision, after checking it spent no budget when it proposes nothing.
async fn decide_on_alarm(harness: &Harness, tags: &StaticTags) -> Decision {
    let report = tagged(harness, tags)
        .process_event(&alarm_event(
            "ALARM",
            argus::clock::Clock::now(&harness.clock),
            INSTANCE,
        ))
        .await
        .unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened);
    signal.decision.clone().unwrap()
}

async fn audit_of(harness: &Harness, kind: AuditKind) -> Vec<argus::incident::AuditRecord> {
    let id = harness
        .store
        .incidents_on(&instance(), 5)
        .await
        .unwrap()
        .first()
        .unwrap()
        .id
        .clone();
    harness
        .store
        .audit_trail(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|record| record.kind == kind)
        .collect()
}

async fn budget_used(harness: &Harness) -> u32 {
    harness
        .store
        .budget_usage(
            &instance(),
            argus::clock::Clock::now(&harness.clock),
            harness.config.budget.window(),
        )
        .await
        .unwrap()
        .iter()
        .map(|usage| usage.used)
        .sum()
}

#[tokio::test]
async fn a_managed_instance_is_rebooted_on_its_own_after_one_tag_read() {
    let harness = Harness::new(eager_config());
    let tags = managed();
    let decision = decide_on_alarm(&harness, &tags).await;
    assert_eq!(decision.mode, Mode::Auto, "{decision:?}");
    assert_eq!(
        decision.action.as_ref().map(|action| action.action),
        Some(ActionId::Ec2Reboot)
    );
    assert_eq!(tags.calls(), 1, "one read of the target's tags");
    let read = audit_of(&harness, AuditKind::TagsRead).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].data["verdict"], "managed");
}

#[tokio::test]
async fn an_alarm_naming_an_untagged_instance_proposes_nothing() {
    let harness = Harness::new(eager_config());
    // The instance carries tags, but not Argus' managed tag.
    let tags = StaticTags::default().with(&instance(), &[("team", "web")]);
    let decision = decide_on_alarm(&harness, &tags).await;
    assert_eq!(decision.mode, Mode::Advisory, "{decision:?}");
    assert!(decision.action.is_none(), "{decision:?}");
    let why = decision.reasons.join("; ");
    assert!(why.contains("argus:managed=true"), "{why}");
    assert_eq!(
        budget_used(&harness).await,
        0,
        "nothing proposed, nothing spent"
    );
    let read = audit_of(&harness, AuditKind::TagsRead).await;
    assert_eq!(read[0].data["verdict"], "unmanaged", "{:?}", read[0].data);
    let decided = audit_of(&harness, AuditKind::Decided).await;
    assert!(
        decided[0].data.to_string().contains("managed tag"),
        "{:?}",
        decided[0].data
    );
}

#[tokio::test]
async fn an_instance_tagged_managed_with_another_value_proposes_nothing() {
    let harness = Harness::new(eager_config());
    let tags = StaticTags::default().with(&instance(), &[("argus:managed", "false")]);
    let decision = decide_on_alarm(&harness, &tags).await;
    assert_eq!(decision.mode, Mode::Advisory, "{decision:?}");
    assert!(decision.action.is_none());
}

#[tokio::test]
async fn an_alert_naming_an_untagged_instance_proposes_nothing() {
    // An external source allowed to name instances names one Argus does not manage, and the
    // analyst proposes a reboot there.
    let mut config = eager_config();
    config
        .signals
        .external_resources
        .insert("alertmanager".into(), vec!["ec2:instance/*".into()]);
    let harness = Harness::new(config);
    let mut alert = sample("argus/external-alert-firing.json");
    alert["detail"]["resource"] = json!(format!("ec2:instance/{INSTANCE}"));
    *harness.analyst.answer.lock().unwrap() = Some(Ok(argus::analysis::Assessment {
        analyst: "test-analyst".into(),
        classification: argus::analysis::Classification::Availability,
        severity: 7,
        confidence: 0.9,
        summary: "the instance is hung".into(),
        hypotheses: vec![argus::analysis::Hypothesis {
            statement: "hung guest".into(),
            likelihood: 0.9,
            evidence: vec!["alert.labels".into()],
        }],
        proposal: Some(argus::analysis::Proposal {
            action_id: "ec2.reboot".into(),
            params: json!({"instance_id": INSTANCE}),
            rationale: "reboot it".into(),
        }),
        usage: None,
    }));
    let tags = StaticTags::default();
    let report = tagged(&harness, &tags).process_event(&alert).await.unwrap();
    let signal = &report.signals[0];
    assert_eq!(signal.outcome, Outcome::Opened, "{:?}", signal.steps);
    assert_eq!(
        signal.signal.resource,
        instance(),
        "the alert names the instance"
    );
    let decision = signal.decision.clone().unwrap();
    assert_eq!(decision.mode, Mode::Advisory, "{decision:?}");
    assert!(decision.action.is_none(), "{decision:?}");
    assert_eq!(tags.calls(), 1);
}

#[tokio::test]
async fn a_quarantined_instance_is_never_started() {
    let harness = Harness::new(eager_config());
    let tags = managed().with(&instance(), &[("argus:quarantine", "incident-4711")]);
    let mut event = sample("ec2-state-change/stopped.json");
    event["detail"]["instance-id"] = json!(INSTANCE);
    event["resources"] = json!([format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/{INSTANCE}"
    )]);
    let report = tagged(&harness, &tags).process_event(&event).await.unwrap();
    let decision = report.signals[0].decision.clone().unwrap();
    assert!(
        decision.action.is_none(),
        "a quarantined instance is never started: {decision:?}"
    );
    assert_eq!(decision.mode, Mode::Advisory);
    let why = decision.reasons.join("; ");
    assert!(why.contains("quarantine tag `argus:quarantine`"), "{why}");
    let read = audit_of(&harness, AuditKind::TagsRead).await;
    assert_eq!(read[0].data["verdict"], "quarantined");
    assert_eq!(read[0].data["key"], "argus:quarantine");
}

#[tokio::test]
async fn a_quarantined_instance_is_never_rebooted() {
    let harness = Harness::new(eager_config());
    let tags = managed().with(&instance(), &[("Quarantine", "")]);
    let decision = decide_on_alarm(&harness, &tags).await;
    assert!(decision.action.is_none(), "{decision:?}");
    assert_eq!(budget_used(&harness).await, 0);
}

#[tokio::test]
async fn unreadable_tags_leave_the_action_to_a_person() {
    let harness = Harness::new(eager_config());
    let tags = StaticTags::failing(TagsError::Throttled("Rate exceeded".into()));
    let decision = decide_on_alarm(&harness, &tags).await;
    assert_eq!(decision.mode, Mode::Approval, "{decision:?}");
    assert_eq!(
        decision.action.as_ref().map(|action| action.action),
        Some(ActionId::Ec2Reboot),
        "the action is kept for a person to approve"
    );
    let why = decision.reasons.join("; ");
    assert!(why.contains("could not be read"), "{why}");
    let read = audit_of(&harness, AuditKind::TagsRead).await;
    assert_eq!(read[0].data["verdict"], "unreadable");
}

#[tokio::test]
async fn tags_are_read_only_when_an_action_would_run() {
    // A deleted table: the rules tell people and propose nothing that runs.
    let harness = Harness::new(eager_config());
    let tags = StaticTags::default();
    let report = tagged(&harness, &tags)
        .process_event(&sample("cloudtrail/dynamodb-DeleteTable.json"))
        .await
        .unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
    assert_eq!(tags.calls(), 0, "nothing would run, so nothing is read");
}

#[tokio::test]
async fn a_policy_with_other_tags_is_the_one_judged() {
    let config = Config::from_json(
        &json!({
            "decision": { "auto_confidence": 0.5, "approval_confidence": 0.5, "verified_successes_for_auto": 0 },
            "tags": { "managed_key": "ops:auto-heal", "managed_value": "yes", "quarantine_keys": ["SecurityHold"] }
        })
        .to_string(),
    )
    .unwrap();
    let harness = Harness::new(config);
    let default_tag = managed();
    assert!(
        decide_on_alarm(&harness, &default_tag)
            .await
            .action
            .is_none(),
        "argus:managed is not the configured key"
    );
    let harness = Harness::new(harness.config.clone());
    let own_tag = StaticTags::default().with(&instance(), &[("ops:auto-heal", "yes")]);
    assert_eq!(decide_on_alarm(&harness, &own_tag).await.mode, Mode::Auto);
}
