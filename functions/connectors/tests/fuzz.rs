//! Fuzz targets for what the connectors read from outside: the vendor alert webhooks
//! (Alertmanager, Grafana, Datadog, PagerDuty v3), Slack interactions and signed approval
//! links. Seeds come from events/webhooks/; see the README's "Fuzzing" section for long runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::resource::ResourceRef;
use argus::signal::{Normalised, SignalSource, normalise};
use argus::testing::epoch;
use argus::testing::fuzz::{self, awkward_string, mutated, mutated_bytes};
use chrono::{DateTime, Utc};
use connectors::inbound::alerts::{self, Vendor};
use connectors::inbound::http::HttpRequest;
use connectors::inbound::slack::{
    APPROVE_ACTION_ID, REJECT_ACTION_ID, SIGNATURE_HEADER, TIMESTAMP_HEADER, read_answer,
};
use connectors::signing::{LinkClaims, SigningKey, sign_link, slack_signature, verify_link};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::path::Path;

const SLACK_SECRET: &str = "slack-signing-secret-for-fuzzing";
const LINK_KEY: &str = "link-key-for-fuzzing";

fn webhook_seeds() -> Vec<Value> {
    fuzz::seeds_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/webhooks"))
}

/// The published event as EventBridge delivers it to the orchestrator.
fn delivered(event: &argus::loganalysis::ports::BusEvent) -> Value {
    json!({
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000001",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": event.time,
        "region": "us-east-1",
        "resources": event.resources,
        "detail": event.detail,
    })
}

/// A body either gives typed alerts that the orchestrator accepts as they are, or a
/// `PayloadError` naming the vendor; it never panics.
fn check_webhook(vendor: Vendor, body: &[u8]) -> Result<(), TestCaseError> {
    match alerts::normalise(vendor, body) {
        Ok(details) => {
            for detail in &details {
                prop_assert_eq!(detail.vendor.as_str(), vendor.as_str());
                prop_assert!(
                    matches!(detail.status.as_str(), "firing" | "resolved"),
                    "status {}",
                    detail.status
                );
                if let Some(resource) = &detail.resource {
                    prop_assert!(ResourceRef::parse(resource).is_ok(), "resource {resource}");
                }
                let event = alerts::bus_event(detail, epoch());
                match normalise(&delivered(&event), &argus::config::SignalConfig::default()) {
                    Ok(Normalised::Signals(signals)) => {
                        prop_assert_eq!(signals.len(), 1);
                        prop_assert_eq!(signals[0].source, SignalSource::ExternalAlert);
                    }
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "the orchestrator refused a published alert: {other:?}"
                        )));
                    }
                }
            }
        }
        Err(error) => {
            prop_assert_eq!(error.vendor, vendor.as_str());
            prop_assert!(!error.reason.is_empty());
            // The reason goes back to the sender and into the logs; it must stay short.
            prop_assert!(
                error.reason.len() <= 1_024,
                "a {}-byte reason",
                error.reason.len()
            );
        }
    }
    Ok(())
}

fn fuzz_vendor(vendor: Vendor) {
    // Every vendor's samples seed every parser: a Datadog body posted to the Alertmanager
    // endpoint must be refused as cleanly as a broken Alertmanager body.
    let mut seeds: Vec<Value> = fuzz::seeds_in(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../events/webhooks/{}", vendor.as_str())),
    );
    let own = seeds.len();
    assert!(own > 0, "no samples for {}", vendor.as_str());
    seeds.extend(webhook_seeds());
    fuzz::run(vendor.as_str(), mutated_bytes(seeds), |body| {
        check_webhook(vendor, &body)
    });
}

#[test]
fn fuzz_alertmanager_webhook() {
    fuzz_vendor(Vendor::Alertmanager);
}

#[test]
fn fuzz_grafana_webhook() {
    fuzz_vendor(Vendor::Grafana);
}

#[test]
fn fuzz_datadog_webhook() {
    fuzz_vendor(Vendor::Datadog);
}

#[test]
fn fuzz_pagerduty_webhook() {
    fuzz_vendor(Vendor::PagerDuty);
}

/// A Slack `block_actions` click on an Argus button, as Slack posts it.
fn interaction_seeds() -> Vec<Value> {
    [APPROVE_ACTION_ID, REJECT_ACTION_ID]
        .into_iter()
        .map(|action_id| {
            json!({
                "type": "block_actions",
                "user": {"id": "U0001", "username": "someone", "team_id": "T0001"},
                "team": {"id": "T0001", "domain": "example"},
                "response_url": "https://hooks.slack.com/actions/T0001/1/abc",
                "actions": [{
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "argus-approval",
                    "value": "",
                    "action_ts": "1764486000.000100"
                }]
            })
        })
        .collect()
}

fn button_value_seeds() -> Vec<Value> {
    vec![
        json!({"incident": "inc-1", "approval": "appr-1", "approve": true}),
        json!({"incident": "inc-1", "approval": "appr-1"}),
    ]
}

/// How the request's headers are made: signed as Slack would, or tampered with.
#[derive(Clone, Debug)]
enum Signing {
    Valid,
    /// A fuzzed timestamp, signed consistently, so that only the window can refuse it.
    Timestamp(String),
    /// A fuzzed signature header.
    Signature(String),
    Missing,
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        6 => Just(Signing::Valid),
        1 => prop_oneof![
            awkward_string(),
            any::<i64>().prop_map(|seconds| seconds.to_string()),
            Just(i64::MIN.to_string()),
            Just(i64::MAX.to_string()),
        ]
        .prop_map(Signing::Timestamp),
        1 => awkward_string().prop_map(Signing::Signature),
        1 => Just(Signing::Missing),
    ]
}

/// The body: a form with a (mutated) interaction whose button carries a (mutated) value, or
/// raw bytes.
fn slack_body() -> impl Strategy<Value = Vec<u8>> {
    let form = (
        mutated(interaction_seeds()),
        mutated(button_value_seeds()),
        any::<bool>(),
    )
        .prop_map(|(mut payload, value, embed)| {
            if embed && let Some(Value::Object(action)) = payload.pointer_mut("/actions/0") {
                action.insert("value".to_string(), Value::String(value.to_string()));
            }
            form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish()
                .into_bytes()
        });
    prop_oneof![
        4 => form,
        1 => mutated_bytes(interaction_seeds()),
    ]
}

fn slack_request(body: Vec<u8>, signing: &Signing, now: DateTime<Utc>) -> HttpRequest {
    let key = SigningKey::new(SLACK_SECRET);
    let timestamp = match signing {
        Signing::Timestamp(timestamp) => timestamp.clone(),
        _ => now.timestamp().to_string(),
    };
    let signature = match signing {
        Signing::Signature(signature) => signature.clone(),
        _ => slack_signature(&key, timestamp.trim(), &body),
    };
    let request = HttpRequest::new("POST", "/slack/interactions").with_body(body);
    match signing {
        Signing::Missing => request,
        _ => request
            .with_header(TIMESTAMP_HEADER, &timestamp)
            .with_header(SIGNATURE_HEADER, &signature),
    }
}

#[test]
fn fuzz_slack_interaction() {
    let now = epoch();
    fuzz::run("slack", (slack_body(), signing()), |(body, signing)| {
        let request = slack_request(body, &signing, now);
        if let Ok(answer) = read_answer(&request, Some(SLACK_SECRET), now) {
            prop_assert!(
                !matches!(signing, Signing::Signature(_) | Signing::Missing),
                "an unsigned request was answered: {signing:?}"
            );
            prop_assert!(answer.identity.starts_with("slack:"));
            prop_assert_eq!(answer.channel, "slack");
        }
        Ok(())
    });
}

/// A token to try: well-signed claims (possibly mutated), or anything at all.
#[derive(Clone, Debug)]
enum Token {
    /// `payload` is signed with the real key, so the claims parser and the expiry are reached.
    Signed(Vec<u8>),
    Raw(String),
}

fn token() -> impl Strategy<Value = Token> {
    let claims = json!({
        "approval": "appr-1",
        "incident": "inc-1",
        "approver": "email:alice@example.com",
        "approve": true,
        "expires": epoch().timestamp() + 3_600,
    });
    let valid = sign_link(
        &SigningKey::new(LINK_KEY),
        &serde_json::from_value::<LinkClaims>(claims.clone()).unwrap(),
    );
    prop_oneof![
        4 => mutated_bytes(vec![claims]).prop_map(Token::Signed),
        2 => awkward_string().prop_map(Token::Raw),
        1 => (any::<proptest::sample::Index>(), awkward_string()).prop_map(move |(at, text)| {
            // The valid token with a fuzzed piece spliced in at a character boundary.
            let mut token = valid.clone();
            let boundary = at.index(token.len() + 1);
            token.insert_str(boundary, &text);
            Token::Raw(token)
        }),
    ]
}

fn signed(payload: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::Mac;
    let encoded = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(LINK_KEY.as_bytes()).unwrap();
    mac.update(encoded.as_bytes());
    format!(
        "{encoded}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn fuzz_signed_link() {
    let key = SigningKey::new(LINK_KEY);
    let now = epoch();
    fuzz::run("link", token(), |token| {
        let text = match &token {
            Token::Signed(payload) => signed(payload),
            Token::Raw(text) => text.clone(),
        };
        if let Ok(claims) = verify_link(&key, &text, now) {
            prop_assert!(claims.expires > now.timestamp());
        }
        Ok(())
    });
}

/// A Slack timestamp of `i64::MIN` overflowed the replay-window arithmetic; it is stale.
#[test]
fn regression_slack_timestamp_at_i64_min_is_refused() {
    let now = epoch();
    let body = b"payload=%7B%7D".to_vec();
    let request = slack_request(body, &Signing::Timestamp(i64::MIN.to_string()), now);
    assert!(read_answer(&request, Some(SLACK_SECRET), now).is_err());
}

/// Found by `fuzz_grafana_webhook` and `fuzz_pagerduty_webhook`: serde's message quoted a
/// payload string of any length into the error reason.
#[test]
fn regression_webhook_error_reason_is_capped() {
    let body = serde_json::to_vec(&json!({"alerts": "x".repeat(100_000)})).unwrap();
    for vendor in [Vendor::Alertmanager, Vendor::Grafana] {
        let error = alerts::normalise(vendor, &body).unwrap_err();
        assert!(
            error.reason.len() <= 1_024,
            "{}: {}",
            vendor.as_str(),
            error.reason.len()
        );
    }
    let body = serde_json::to_vec(&json!({"event": "x".repeat(100_000)})).unwrap();
    let error = alerts::normalise(Vendor::PagerDuty, &body).unwrap_err();
    assert!(
        error.reason.len() <= 1_024,
        "pagerduty: {}",
        error.reason.len()
    );
}

/// Found by `fuzz_alertmanager_webhook`: a fingerprint with a control character was published,
/// and the orchestrator refused the alert (its `external:` resource cannot hold one).
#[test]
fn regression_alert_id_with_control_character_is_accepted_downstream() {
    let body = serde_json::to_vec(&json!({
        "version": "4", "status": "firing", "receiver": "argus", "groupKey": "g",
        "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "annotations": {},
                    "startsAt": "2026-11-22T04:51:45Z", "fingerprint": "ab\u{0}cd"}]
    }))
    .unwrap();
    check_webhook(Vendor::Alertmanager, &body).unwrap();
    assert_eq!(
        alerts::normalise(Vendor::Alertmanager, &body)
            .unwrap()
            .len(),
        1
    );
}
