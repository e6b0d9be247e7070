//! Who may mark a sensitive call as Argus' own (issue 16, item 2): only one of Argus' own role
//! ARNs in this account, carrying a correlation id Argus issued. A tag, a client token or a
//! role name that merely looks like Argus' never hides a call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::intake::Outcome;
use serde_json::{Value, json};
use support::{Harness, sample};

const OWN_ROLE: &str = "arn:aws:iam::123456789012:role/argus-recovery";

/// A policy naming the recovery role as Argus' own, as Terraform writes it.
fn own_role_config() -> Config {
    Config::from_json(&json!({ "signals": { "self_role_arns": [OWN_ROLE] } }).to_string()).unwrap()
}

/// Opens an incident on the sample instance and returns its id.
async fn open_incident(harness: &Harness) -> CorrelationId {
    let opened = harness
        .deliver(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .await
        .unwrap();
    assert_eq!(opened.signals[0].outcome, Outcome::Opened);
    opened.signals[0].correlation_id.clone().unwrap()
}

/// A person's StopInstances on the sample instance.
fn persons_stop() -> Value {
    sample("cloudtrail/ec2-StopInstances.json")
}

/// StopInstances on the sample instance made by `role` (an assumed-role session).
fn stop_by_role(account: &str, role: &str, event_id: &str) -> Value {
    let mut event = sample("cloudtrail/ec2-StopInstances-by-argus.json");
    event["id"] = json!(event_id);
    event["detail"]["eventID"] = json!(event_id);
    let identity = &mut event["detail"]["userIdentity"];
    identity["arn"] = json!(format!(
        "arn:aws:sts::{account}:assumed-role/{role}/session-1"
    ));
    identity["accountId"] = json!(account);
    identity["sessionContext"]["sessionIssuer"]["arn"] =
        json!(format!("arn:aws:iam::{account}:role/{role}"));
    identity["sessionContext"]["sessionIssuer"]["accountId"] = json!(account);
    event
}

#[tokio::test]
async fn attack_correlation_tag_on_a_persons_call_hides_it() {
    let harness = Harness::new(own_role_config());
    let id = open_incident(&harness).await;
    // GIVEN a person who copies the open incident's id into a tag of their own call
    let mut event = persons_stop();
    event["detail"]["requestParameters"]["tagSpecificationSet"] = json!({
        "items": [{ "resourceType": "instance", "tags": [
            { "key": "argus:correlation-id", "value": id.as_str() }
        ]}]
    });
    // WHEN the call arrives
    let report = harness.deliver(&event).await.unwrap();
    // THEN it is the person's call: a new incident, not Argus' own change
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
    assert_ne!(report.signals[0].correlation_id.as_ref(), Some(&id));
}

#[tokio::test]
async fn attack_client_token_shaped_like_a_correlation_id_hides_the_call() {
    let harness = Harness::new(own_role_config());
    let id = open_incident(&harness).await;
    let mut event = persons_stop();
    event["detail"]["requestParameters"]["clientToken"] = json!(id.as_str());
    let report = harness.deliver(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn attack_role_named_argus_in_another_account_counts_as_argus() {
    // Out of the box no role is Argus' own: only the ARNs Terraform writes are.
    let harness = Harness::new(Config::default());
    let id = open_incident(&harness).await;
    let mut event = stop_by_role("999988887777", "argus-recovery", "other-account-stop");
    event["detail"]["requestParameters"]["clientToken"] = json!(id.as_str());
    let report = harness.deliver(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn attack_similarly_named_role_in_this_account_counts_as_argus() {
    let harness = Harness::new(own_role_config());
    let id = open_incident(&harness).await;
    let mut event = stop_by_role("123456789012", "argus-recovery-dev", "lookalike-stop");
    event["detail"]["requestParameters"]["clientToken"] = json!(id.as_str());
    let report = harness.deliver(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn attack_argus_role_with_an_id_argus_never_issued() {
    let harness = Harness::new(own_role_config());
    // A well-formed id that names no incident in the store.
    let made_up =
        CorrelationId::derive("made-up", "ec2:instance:i-0", "x", argus::testing::epoch());
    let mut event = stop_by_role("123456789012", "argus-recovery", "unissued-stop");
    event["detail"]["requestParameters"]["clientToken"] = json!(made_up.as_str());
    let report = harness.deliver(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn attack_argus_role_without_any_id_counts_as_argus() {
    let harness = Harness::new(own_role_config());
    let report = harness
        .deliver(&stop_by_role("123456789012", "argus-recovery", "bare-stop"))
        .await
        .unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn argus_own_role_with_an_id_it_issued_attaches_to_that_incident() {
    let harness = Harness::new(own_role_config());
    let id = open_incident(&harness).await;
    let mut event = stop_by_role("123456789012", "argus-recovery", "own-stop");
    event["detail"]["requestParameters"]["tagSpecificationSet"] = json!({
        "items": [{ "resourceType": "instance", "tags": [
            { "key": "argus:correlation-id", "value": id.as_str() }
        ]}]
    });
    let report = harness.deliver(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::SelfCaused);
    assert_eq!(report.signals[0].correlation_id.as_ref(), Some(&id));
}

#[test]
fn a_self_role_must_be_an_exact_iam_role_arn() {
    for bad in [
        "arn:aws:iam::*:role/argus-*",
        "arn:aws:iam::123456789012:role/argus-*",
        "arn:aws:sts::123456789012:assumed-role/argus-recovery/x",
        "argus-recovery",
    ] {
        let policy = json!({ "signals": { "self_role_arns": [bad] } }).to_string();
        assert!(Config::from_json(&policy).is_err(), "{bad} was accepted");
    }
}

#[tokio::test]
async fn argus_own_rollback_stop_call_is_its_own_without_an_id() {
    let harness = Harness::new(own_role_config());
    let minutes = |n: i64| {
        (argus::testing::epoch() + chrono::Duration::minutes(n))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    // GIVEN a stopped instance whose incident's workflow starts it
    let mut stopped = sample("ec2-state-change/stopped.json");
    stopped["time"] = json!(minutes(0));
    let opened = harness.deliver(&stopped).await.unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    assert_eq!(harness.starts(), 1);
    // WHEN the workflow rolls the start back with its own role (StopInstances carries no id)
    let instance = opened.signals[0].signal.resource.id().to_string();
    let mut rollback = stop_by_role("123456789012", "argus-recovery", "rollback-stop");
    rollback["time"] = json!(minutes(10));
    rollback["detail"]["eventTime"] = json!(minutes(10));
    rollback["detail"]["requestParameters"]["instancesSet"]["items"][0]["instanceId"] =
        json!(instance);
    harness.advance(600);
    let report = harness.deliver(&rollback).await.unwrap();
    // THEN it is Argus' own, found from Argus' record, and nothing starts the instance again
    assert_eq!(report.signals[0].outcome, Outcome::SelfCaused);
    assert_eq!(report.signals[0].correlation_id.as_ref(), Some(&id));
    assert_eq!(harness.starts(), 1);
    // AND the same call by a person is a new incident
    let mut person = persons_stop();
    person["time"] = json!(minutes(11));
    person["detail"]["eventTime"] = json!(minutes(11));
    person["detail"]["requestParameters"]["instancesSet"]["items"][0]["instanceId"] =
        json!(instance);
    let report = harness.deliver(&person).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}
