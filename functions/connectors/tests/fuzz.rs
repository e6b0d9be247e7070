//! Fuzz targets for what the connectors read from outside: the vendor alert webhooks
//! (Alertmanager, Grafana, Datadog, PagerDuty v3), Slack interactions, signed approval links,
//! the recovery state machine's outbound operation payloads, and the vendor messages rendered
//! from incident text that hostile alarms and webhooks wrote. Seeds come from events/webhooks/
//! and from the outbound tests' fixture; see the README's "Fuzzing" section for long runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::decision::Mode;
use argus::incident::{AuditRecord, Incident, IncidentStatus};
use argus::ports::SignalRecord;
use argus::resource::ResourceRef;
use argus::signal::{Normalised, SignalSource, normalise};
use argus::testing::fuzz::{self, awkward_string, mutated, mutated_bytes};
use argus::testing::{delivered, epoch};
use chrono::{DateTime, Utc};
use connectors::inbound::alerts::{self, Vendor};
use connectors::inbound::http::HttpRequest;
use connectors::inbound::slack::{
    APPROVE_ACTION_ID, REJECT_ACTION_ID, SIGNATURE_HEADER, TIMESTAMP_HEADER, read_answer,
};
use connectors::outbound::aws::email_subject;
use connectors::outbound::brief::Brief;
use connectors::outbound::channels::{self, ApprovalLinks, Channels};
use connectors::outbound::{Outbound, chat, page_reason, paging, tickets};
use connectors::secrets::names;
use connectors::signing::{LinkClaims, SigningKey, sign_link, slack_signature, verify_link};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::path::Path;
use support::{Fixture, fixture, operation_payload, secrets};

const SLACK_SECRET: &str = "slack-signing-secret-for-fuzzing";
const LINK_KEY: &str = "link-key-for-fuzzing";

fn webhook_seeds() -> Vec<Value> {
    fuzz::seeds_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/webhooks"))
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
                match normalise(
                    &delivered(&event, "00000000-0000-0000-0000-000000000001"),
                    &argus::config::SignalConfig::default(),
                ) {
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

// ------------------------------------------------------------ outbound operations

const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAcanaryTaskTokenForFuzzing+/=";
const APPROVAL_LINK_KEY: &str = "approval-link-key-for-fuzzing";

/// The channels the operations can reach without a network: email approvals go out through
/// the in-memory topic, so only `approval_links` is on; every HTTP vendor is off.
fn in_memory_channels() -> Channels {
    Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com/".to_string(),
            key: SigningKey::new(APPROVAL_LINK_KEY.as_bytes().to_vec()),
        }),
        ..Channels::default()
    }
}

/// One email approver for the fixture's low-risk reboot, so that `request_approval` has
/// somewhere to deliver without Slack.
fn email_approval_config() -> Config {
    let mut config = Config::default();
    config.approvals.low = vec!["email:alice@example.com".into()];
    config
}

fn operation_seeds(id: &str) -> Vec<Value> {
    vec![
        operation_payload("notify", id, json!({"kind": "advisory"})),
        operation_payload("notify", id, json!({"kind": "outcome"})),
        operation_payload("request_approval", id, json!({"task_token": TASK_TOKEN})),
        operation_payload("page", id, json!({})),
        operation_payload("open_ticket", id, json!({})),
        operation_payload("publish_postmortem", id, json!({})),
    ]
}

/// The in-memory channel a well-formed operation on the fixture's incident must reach. An
/// `open_ticket` reaches nothing: no ticket vendor is configured, and the operation answers
/// an empty report rather than an error, so that the workflow goes on (documented in
/// outbound/mod.rs: a failing or absent channel never fails the operation).
fn expected_channel(operation: &str) -> Option<&'static str> {
    match operation {
        "notify" | "page" => Some(channels::SNS),
        "request_approval" => Some(channels::EMAIL),
        "publish_postmortem" => Some(channels::S3),
        _ => None,
    }
}

/// The fixture and the service built on it. Cases share them: each case only appends audit
/// records, records an approval (the incident stays open and keeps its proposed action, so
/// a later `request_approval` is still answerable) and publishes to the in-memory topic and
/// archive, so no case can change what another case's property expects. They are rebuilt
/// now and then only to keep the audit trail, read by every case, short.
struct OperationTarget {
    fixture: Fixture,
    outbound: Outbound,
    cases: u32,
}

impl OperationTarget {
    const CASES_PER_FIXTURE: u32 = 256;

    async fn new() -> Self {
        let fixture = fixture(Mode::Approval).await;
        let outbound = fixture.outbound(
            in_memory_channels(),
            email_approval_config(),
            secrets(&[(names::APPROVAL_LINK_KEY, APPROVAL_LINK_KEY)]),
        );
        Self {
            fixture,
            outbound,
            cases: 0,
        }
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn fuzz_operation() {
    let runtime = current_thread_runtime();
    let target = std::cell::RefCell::new(runtime.block_on(OperationTarget::new()));
    // The fixture's correlation id is derived from a unique event id, so seeds are built from
    // the first fixture's id; later fixtures get the payloads with their own id put back.
    let seed_id = target.borrow().fixture.id().to_string();
    let seeds = operation_seeds(&seed_id);
    // The same operations on a well-formed id of an incident that does not exist.
    let absent = argus::correlation::CorrelationId::derive(
        "alarm:AWS/EC2/CPUUtilization",
        support::RESOURCE,
        "evt-of-no-incident",
        epoch(),
    );
    let mut all_seeds = seeds.clone();
    all_seeds.extend(operation_seeds(absent.as_str()));
    let known_errors = connectors::wiring::error_types();
    fuzz::run("operation", mutated(all_seeds), |payload| {
        let mut state = target.borrow_mut();
        state.cases += 1;
        if state.cases > OperationTarget::CASES_PER_FIXTURE {
            *state = runtime.block_on(OperationTarget::new());
        }
        let id = state.fixture.id().to_string();
        let payload = with_id(payload, &seed_id, &id);
        let unchanged = seeds
            .iter()
            .any(|seed| with_id(seed.clone(), &seed_id, &id) == payload);
        let result = runtime.block_on(state.outbound.handle(&payload));
        match result {
            Err(error) => {
                prop_assert!(
                    known_errors.contains(&error.error_type()),
                    "error type {} is not one the state machine knows: {error}",
                    error.error_type()
                );
                prop_assert!(
                    !error.to_string().contains(TASK_TOKEN),
                    "the error quotes the task token"
                );
                prop_assert!(!unchanged, "a payload the ASL sends failed: {error}");
            }
            Ok(report) => {
                // Only the fixture's incident exists, so anything answered was about it.
                prop_assert_eq!(
                    payload.get("correlation_id").and_then(Value::as_str),
                    Some(id.as_str())
                );
                let operation = payload
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                prop_assert!(
                    report.failed.is_empty(),
                    "an in-memory channel failed: {:?}",
                    report.failed
                );
                match expected_channel(operation) {
                    Some(channel) => prop_assert!(
                        report
                            .delivered
                            .iter()
                            .any(|delivered| delivered.channel == channel),
                        "{operation} did not deliver to {channel}: {report:?}"
                    ),
                    None => {
                        prop_assert_eq!(operation, "open_ticket");
                        prop_assert!(report.delivered.is_empty());
                    }
                }
                let answer = format!("{report:?}");
                prop_assert!(
                    !answer.contains(TASK_TOKEN),
                    "the answer carries the task token"
                );
            }
        }
        check_sent_and_audited(&runtime, &state.fixture)
    });
}

/// What the case sent (taken, so each case checks only its own) and the audit trail: the task
/// token, a bearer credential, is in none of them, and each SNS message fits SNS.
fn check_sent_and_audited(
    runtime: &tokio::runtime::Runtime,
    fixture: &Fixture,
) -> Result<(), TestCaseError> {
    let published = std::mem::take(&mut *fixture.topic.published.lock().unwrap());
    for message in &published {
        let sent = format!("{message:?}");
        prop_assert!(
            !sent.contains(TASK_TOKEN),
            "a message carries the task token"
        );
        prop_assert!(
            message.body.len() <= SNS_MESSAGE_BYTES,
            "a {}-byte SNS message",
            message.body.len()
        );
    }
    let archived = std::mem::take(&mut *fixture.archive.objects.lock().unwrap());
    for (key, body) in &archived {
        prop_assert!(!body.contains(TASK_TOKEN), "{key} carries the task token");
    }
    let audit = serde_json::to_string(&runtime.block_on(fixture.audit())).unwrap();
    prop_assert!(
        !audit.contains(TASK_TOKEN),
        "the audit trail carries the task token"
    );
    Ok(())
}

/// `payload` with the seed fixture's correlation id, wherever it is a whole string, replaced
/// by the current fixture's.
fn with_id(payload: Value, seed_id: &str, id: &str) -> Value {
    if seed_id == id {
        return payload;
    }
    match payload {
        Value::String(text) if text == seed_id => Value::String(id.to_string()),
        Value::String(text) => Value::String(text.replace(seed_id, id)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| with_id(item, seed_id, id))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, with_id(value, seed_id, id)))
                .collect(),
        ),
        other => other,
    }
}

// ------------------------------------------------------------ rendered vendor messages

// Vendor limits each rendering must stay inside. A message over one is refused (HTTP 400/413
// or 422) or cut where the vendor chooses, so hostile incident text must never push one over.
//
// Slack Block Kit reference (docs.slack.dev/reference/block-kit): at most 50 blocks per
// message; header text at most 150 characters; section text at most 3000, at most 10 fields
// of at most 2000 each; context at most 10 elements; actions at most 25 elements; button text
// at most 75, action_id at most 255, value at most 2000, url at most 3000; confirmation dialog
// title at most 100, text at most 300, confirm and deny at most 30; block_id at most 255.
const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_TEXT_CHARS: usize = 3000;
const SLACK_FIELDS: usize = 10;
const SLACK_FIELD_CHARS: usize = 2000;
const SLACK_CONTEXT_ELEMENTS: usize = 10;
const SLACK_ACTION_ELEMENTS: usize = 25;
const SLACK_BUTTON_TEXT_CHARS: usize = 75;
const SLACK_ID_CHARS: usize = 255;
const SLACK_BUTTON_VALUE_CHARS: usize = 2000;
const SLACK_URL_CHARS: usize = 3000;
const SLACK_CONFIRM_TITLE_CHARS: usize = 100;
const SLACK_CONFIRM_TEXT_CHARS: usize = 300;
const SLACK_CONFIRM_BUTTON_CHARS: usize = 30;
/// chat.postMessage: a `text` longer than 40,000 characters is truncated (or refused with
/// `msg_too_long`); Argus's fallback text must stay well inside.
const SLACK_MESSAGE_TEXT_CHARS: usize = 40_000;
/// PagerDuty Events API v2, "Send an Alert Event": `payload.summary` at most 1024 characters,
/// `dedup_key` at most 255; "Events API v2 Overview", size limits: a payload of at most 512 KB.
const PAGERDUTY_SUMMARY_CHARS: usize = 1024;
const PAGERDUTY_DEDUP_KEY_CHARS: usize = 255;
const PAGERDUTY_EVENT_BYTES: usize = 512 * 1024;
/// Microsoft Teams incoming webhooks refuse (HTTP 413) a message over about 28 KB; the
/// service is reported to measure the body as UTF-16 when no charset is given, so the card is
/// measured that way here.
const TEAMS_MESSAGE_UTF16_BYTES: usize = 28 * 1000;
/// Amazon SNS Publish: a message of at most 256 KB (262,144 bytes); the subject at most 100
/// characters (the adapter's `email_subject` makes it so).
const SNS_MESSAGE_BYTES: usize = 262_144;
/// GitHub Issues: "body is too long (maximum is 65536 characters)" (422 Validation Failed).
const GITHUB_BODY_CHARS: usize = 65_536;
/// Jira Cloud: a text field (the description is one) holds at most 32,767 characters.
const JIRA_TEXT_CHARS: usize = 32_767;

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// A Slack text object's text, at most `max` characters and not empty.
fn slack_text(object: &Value, max: usize, place: &str) -> Result<(), TestCaseError> {
    let text = object.get("text").and_then(Value::as_str).unwrap_or("");
    prop_assert!(!text.is_empty(), "{place}: empty text");
    prop_assert!(
        chars(text) <= max,
        "{place}: {} characters (at most {max})",
        chars(text)
    );
    Ok(())
}

fn slack_string(object: &Value, key: &str, max: usize, place: &str) -> Result<(), TestCaseError> {
    if let Some(text) = object.get(key).and_then(Value::as_str) {
        prop_assert!(
            chars(text) <= max,
            "{place}.{key}: {} characters (at most {max})",
            chars(text)
        );
    }
    Ok(())
}

fn check_slack_blocks(blocks: &[Value]) -> Result<(), TestCaseError> {
    prop_assert!(blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
    for block in blocks {
        slack_string(block, "block_id", SLACK_ID_CHARS, "block")?;
        match block.get("type").and_then(Value::as_str) {
            Some("header") => slack_text(&block["text"], SLACK_HEADER_CHARS, "header")?,
            Some("section") => {
                if let Some(text) = block.get("text") {
                    slack_text(text, SLACK_TEXT_CHARS, "section")?;
                }
                if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                    prop_assert!(fields.len() <= SLACK_FIELDS, "{} fields", fields.len());
                    for field in fields {
                        slack_text(field, SLACK_FIELD_CHARS, "section field")?;
                    }
                }
            }
            Some("context") => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                prop_assert!(elements.len() <= SLACK_CONTEXT_ELEMENTS);
                for element in &elements {
                    slack_text(element, SLACK_TEXT_CHARS, "context element")?;
                }
            }
            Some("actions") => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                prop_assert!(elements.len() <= SLACK_ACTION_ELEMENTS);
                for button in &elements {
                    slack_text(&button["text"], SLACK_BUTTON_TEXT_CHARS, "button")?;
                    slack_string(button, "action_id", SLACK_ID_CHARS, "button")?;
                    slack_string(button, "value", SLACK_BUTTON_VALUE_CHARS, "button")?;
                    slack_string(button, "url", SLACK_URL_CHARS, "button")?;
                    if let Some(confirm) = button.get("confirm") {
                        slack_text(
                            &confirm["title"],
                            SLACK_CONFIRM_TITLE_CHARS,
                            "confirm title",
                        )?;
                        slack_text(&confirm["text"], SLACK_CONFIRM_TEXT_CHARS, "confirm text")?;
                        slack_text(
                            &confirm["confirm"],
                            SLACK_CONFIRM_BUTTON_CHARS,
                            "confirm button",
                        )?;
                        slack_text(&confirm["deny"], SLACK_CONFIRM_BUTTON_CHARS, "deny button")?;
                    }
                }
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "unexpected block type {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn check_pagerduty_event(event: &Value) -> Result<(), TestCaseError> {
    let summary = event
        .pointer("/payload/summary")
        .and_then(Value::as_str)
        .unwrap_or("");
    prop_assert!(!summary.is_empty(), "an empty summary");
    prop_assert!(
        chars(summary) <= PAGERDUTY_SUMMARY_CHARS,
        "a {}-character summary",
        chars(summary)
    );
    let dedup_key = event.get("dedup_key").and_then(Value::as_str).unwrap_or("");
    prop_assert!(!dedup_key.is_empty() && chars(dedup_key) <= PAGERDUTY_DEDUP_KEY_CHARS);
    let source = event
        .pointer("/payload/source")
        .and_then(Value::as_str)
        .unwrap_or("");
    prop_assert!(!source.is_empty(), "an empty source");
    let size = serde_json::to_vec(event).unwrap().len();
    prop_assert!(size <= PAGERDUTY_EVENT_BYTES, "a {size}-byte event");
    Ok(())
}

/// The incident, its signals and audit trail as the store holds them, in four states: proposed
/// for approval, run automatically and resolved (so there is an outcome), advisory and
/// escalated, and with no assessment or decision at all.
async fn rendering_seeds() -> Vec<Value> {
    let execution =
        |id: &str| format!("arn:aws:states:us-east-1:123456789012:execution:argus-recovery:{id}");
    let mut seeds = Vec::new();
    for (mode, settle) in [
        (Mode::Approval, None),
        (
            Mode::Auto,
            Some((IncidentStatus::Resolved, "recovery verified", "RECOVERED")),
        ),
        (
            Mode::Advisory,
            Some((
                IncidentStatus::Escalated,
                "escalated to on-call",
                "NOT_RECOVERED",
            )),
        ),
    ] {
        let fixture = fixture(mode).await;
        if let Some((status, summary, verdict)) = settle {
            fixture.settle(status, summary, verdict).await;
        }
        let incident = fixture.current().await;
        let signals = fixture.store.signals(fixture.id()).await.unwrap();
        let audit = fixture.audit().await;
        let mut bare = incident.clone();
        bare.assessment = None;
        bare.decision = None;
        bare.execution = None;
        for incident in [incident, bare] {
            seeds.push(json!({
                "incident": incident,
                "signals": signals,
                "audit": audit,
                "execution_id": execution(fixture.id().as_str()),
            }));
        }
    }
    seeds
}

/// Every rendering vendors receive of one (possibly hostile) incident, each checked against
/// its vendor's limits.
fn check_renderings(
    incident: &Incident,
    signals: &[SignalRecord],
    audit: &[AuditRecord],
    execution_id: Option<&str>,
) -> Result<(), TestCaseError> {
    let brief = Brief::new(incident, signals, audit, execution_id);
    let why = page_reason(incident, epoch());
    let intros = [
        format!(
            "Argus opened an incident and is not changing anything. {}",
            brief.plan_text()
        ),
        format!("ESCALATION: on-call attention needed ({why})."),
    ];
    for intro in &intros {
        let blocks = chat::incident_blocks(&brief, intro);
        check_slack_blocks(&blocks)?;
        let text = format!("{} — {intro}", brief.headline());
        prop_assert!(
            chars(&text) <= SLACK_MESSAGE_TEXT_CHARS,
            "a {}-character Slack text",
            chars(&text)
        );

        let card = serde_json::to_string(&chat::teams_card(&brief, intro)).unwrap();
        let utf16_bytes = card.encode_utf16().count() * 2;
        prop_assert!(
            utf16_bytes <= TEAMS_MESSAGE_UTF16_BYTES,
            "a Teams card of {utf16_bytes} UTF-16 bytes"
        );

        let body = format!("{intro}\n\n{}", brief.plain_text());
        prop_assert!(
            body.len() <= SNS_MESSAGE_BYTES,
            "a {}-byte SNS message",
            body.len()
        );
        let subject = email_subject(&brief.headline());
        prop_assert!(chars(&subject) <= 100 && !subject.chars().any(char::is_control));
    }
    let approval = chat::approval_blocks(
        &brief,
        &"0123456789abcdef".repeat(2),
        "2026-11-22 06:00 UTC",
    );
    check_slack_blocks(&approval)?;
    check_pagerduty_event(&paging::trigger_event(&brief, &why))?;

    let plain = brief.plain_text();
    prop_assert!(
        chars(&plain) <= JIRA_TEXT_CHARS,
        "a {}-character ticket description",
        chars(&plain)
    );
    let document = tickets::adf(&plain);
    prop_assert!(document["content"].as_array().is_some());
    let markdown = brief.markdown();
    prop_assert!(
        chars(&markdown) <= GITHUB_BODY_CHARS,
        "a {}-character issue body",
        chars(&markdown)
    );
    prop_assert!(chars(&tickets::ticket_label(&brief.id)) <= 50);
    Ok(())
}

#[test]
fn fuzz_rendering() {
    let runtime = current_thread_runtime();
    let seeds = runtime.block_on(rendering_seeds());
    fuzz::run("rendering", mutated(seeds), |document| {
        // Only what the store could hold reaches a rendering: the rest is not an incident.
        let Ok(incident) = serde_json::from_value::<Incident>(document["incident"].clone()) else {
            return Ok(());
        };
        let signals: Vec<SignalRecord> =
            serde_json::from_value(document["signals"].clone()).unwrap_or_default();
        let audit: Vec<AuditRecord> =
            serde_json::from_value(document["audit"].clone()).unwrap_or_default();
        check_renderings(
            &incident,
            &signals,
            &audit,
            document["execution_id"].as_str(),
        )
    });
}

/// An incident every untrusted text of which is `text`, with every list as long as it can be:
/// the largest messages the renderings can be made to carry.
async fn incident_made_of(text: &str) -> (Incident, Vec<SignalRecord>, Vec<AuditRecord>) {
    let fixture = fixture(Mode::Auto).await;
    fixture
        .settle(IncidentStatus::Resolved, "recovery verified", "RECOVERED")
        .await;
    let mut incident = fixture.current().await;
    let mut signals = fixture.store.signals(fixture.id()).await.unwrap();
    let mut audit = fixture.audit().await;
    incident.title = text.to_string();
    incident.account = Some(text.to_string());
    incident.region = Some(text.to_string());
    incident.resolution = Some(text.to_string());
    let evidence: Vec<argus::signal::Evidence> = (0..5)
        .map(|index| argus::signal::Evidence::new(format!("e{index}"), text, text))
        .collect();
    signals[0].signal.evidence = evidence.clone();
    let assessment = incident.assessment.as_mut().unwrap();
    assessment.summary = text.to_string();
    assessment.analyst = text.to_string();
    let mut hypothesis = assessment.hypotheses[0].clone();
    hypothesis.statement = text.to_string();
    hypothesis.evidence = evidence.iter().map(|item| item.id.clone()).collect();
    assessment.hypotheses = vec![hypothesis; 10];
    let decision = incident.decision.as_mut().unwrap();
    decision.escalate = true;
    decision.reasons = vec![text.to_string(); 50];
    // Where the values came from, and a root-cause candidate's path and evidence, as long as
    // they can be.
    let action = decision.action.as_mut().unwrap();
    action.provenance = vec![
        argus::provenance::ParameterSource {
            parameter: text.to_string(),
            value: text.to_string(),
            source: argus::provenance::Source::Fact {
                evidence: text.to_string(),
                summary: text.to_string(),
            },
        };
        20
    ];
    action.root_cause = Some(argus::provenance::RootCausePath {
        node: text.to_string(),
        path: vec![text.to_string(); 20],
        score: 1.0,
        evidence: vec![
            argus::provenance::EvidenceRef {
                id: text.to_string(),
                text: text.to_string(),
            };
            20
        ],
    });
    for record in &mut audit {
        record.summary = text.to_string();
        if record.kind == argus::incident::AuditKind::RecoveryOutcome {
            record.data["verification"]["result"]["verdict"] = json!(text);
        }
    }
    (incident, signals, audit)
}

/// Found by `fuzz_rendering`: an unbounded summary made a 32,768-character ticket description,
/// a long region a 3000-character Slack field (Slack takes 2000), and long hypotheses a Teams
/// card over 28 KB. Quotes are the worst case for the card: each is escaped in JSON and
/// measured as UTF-16.
#[test]
fn regression_huge_incident_texts_stay_inside_every_vendor_limit() {
    let runtime = current_thread_runtime();
    for text in [
        "\"".repeat(100_000),
        "a".repeat(100_000),
        "🦀".repeat(50_000),
        "\u{0}".repeat(100_000),
    ] {
        let (incident, signals, audit) = runtime.block_on(incident_made_of(&text));
        let execution = format!(
            "arn:aws:states:us-east-1:123456789012:execution:argus-recovery:{}",
            incident.id
        );
        check_renderings(&incident, &signals, &audit, Some(&execution)).unwrap();
    }
}

/// Found by `fuzz_rendering`: the resource is quoted in the approval button's confirmation
/// dialog, whose text Slack caps at 300 characters.
#[test]
fn regression_long_resource_fits_the_approval_confirmation() {
    let runtime = current_thread_runtime();
    let (mut incident, signals, audit) = runtime.block_on(incident_made_of("x"));
    incident.resource = ResourceRef::parse(&format!("ec2:instance/i-{}", "0".repeat(900))).unwrap();
    check_renderings(&incident, &signals, &audit, None).unwrap();
}

/// Issue 20's markup payloads: a Slack channel-wide mention and a disguised link, a Markdown
/// link that looks like Argus' own button, a tracking image, a Teams mention and raw HTML.
const MARKUP_PAYLOADS: &str = "<!channel> <https://evil.example|Re-approve> [Re-approve](https://evil.example/approve) ![pixel](https://evil.example/t.png) <at>on-call</at> <img src=x>";

/// Every `mrkdwn` text of a Slack message, and its notification `text` (also mrkdwn).
fn slack_mrkdwn_texts(value: &Value, texts: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && let Some(text) = map.get("text").and_then(Value::as_str)
            {
                texts.push(text.to_string());
            }
            map.values()
                .for_each(|inner| slack_mrkdwn_texts(inner, texts));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|inner| slack_mrkdwn_texts(inner, texts)),
        _ => {}
    }
}

/// Every string of a Teams card (`TextBlock` texts and `Fact` values are Markdown).
fn all_strings(value: &Value, texts: &mut Vec<String>) {
    match value {
        Value::String(text) => texts.push(text.clone()),
        Value::Object(map) => map.values().for_each(|inner| all_strings(inner, texts)),
        Value::Array(items) => items.iter().for_each(|inner| all_strings(inner, texts)),
        _ => {}
    }
}

/// Markdown that renders to a link, an image or HTML.
fn markup_in(markdown: &str) -> Option<String> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    Parser::new_ext(markdown, Options::all()).find_map(|event| match event {
        Event::Start(tag @ (Tag::Link { .. } | Tag::Image { .. })) => Some(format!("{tag:?}")),
        Event::Html(html) | Event::InlineHtml(html) => Some(html.to_string()),
        _ => None,
    })
}

#[tokio::test]
async fn markup_in_untrusted_text_mentions_nobody_and_links_nowhere_in_slack_and_teams() {
    // GIVEN an incident every untrusted text of which carries the payloads
    let (incident, signals, audit) = incident_made_of(MARKUP_PAYLOADS).await;
    let brief = Brief::new(&incident, &signals, &audit, None);
    // WHEN Slack is sent the notification (fallback text and blocks) and Teams the card
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let delivery = fixture(Mode::Auto)
        .await
        .delivery(connectors::delivery::BreakerPolicy::default());
    let slack = channels::Slack::Webhook {
        url: connectors::secrets::SecretValue::new(format!("{}/hook", server.uri())),
    };
    let intro = format!("Advisory: {MARKUP_PAYLOADS}");
    chat::post_slack(
        &delivery,
        &slack,
        &format!("{} — {intro}", brief.headline()),
        chat::incident_blocks(&brief, &intro),
    )
    .await
    .unwrap();
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    // THEN no Slack mrkdwn text holds a mention or a link Slack would act on
    let mut texts = vec![sent["text"].as_str().unwrap_or_default().to_string()];
    slack_mrkdwn_texts(&sent["blocks"], &mut texts);
    for text in &texts {
        for raw in ["<!channel", "<https://evil", "<at>", "<img"] {
            assert!(!text.contains(raw), "Slack mrkdwn kept {raw}: {text}");
        }
    }
    // AND no Teams text renders to a link, an image or HTML
    let mut strings = Vec::new();
    all_strings(
        &chat::teams_card(&brief, &intro)["attachments"][0]["content"]["body"],
        &mut strings,
    );
    for text in &strings {
        if let Some(markup) = markup_in(text) {
            panic!("the Teams card makes {markup} of {text}");
        }
    }
}
