//! The inbound endpoint end to end over the embedded store, an in-memory bus, a recording task
//! callback and a settable clock: every vendor sample is authenticated, normalised, published
//! and accepted by the orchestrator's normaliser; approval answers through Slack and signed
//! links are decided once, refused with the right status otherwise, and audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::catalogue::{ActionId, RiskClass};
use argus::clock::{Clock, ManualClock};
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::update_incident;
use argus::incident::{
    AuditEntry, AuditKind, Incident, IncidentStatus, PendingApproval, TaskToken, verify_chain,
};
use argus::loganalysis::memory::MemoryEventBus;
use argus::loganalysis::ports::BusEvent;
use argus::ports::{DedupClaim, IncidentStore, NewIncident, SignalRecord};
use argus::signal::{Normalised, SignalEffect, SignalSource, normalise};
use argus::store::embedded::EmbeddedStore;
use argus::testing::delivered;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use connectors::inbound::Inbound;
use connectors::inbound::auth::{
    DATADOG_SECRET_HEADER, GRAFANA_SIGNATURE_HEADER, GRAFANA_TIMESTAMP_HEADER,
    PAGERDUTY_SIGNATURE_HEADER,
};
use connectors::inbound::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};
use connectors::inbound::slack::{
    APPROVE_ACTION_ID, HttpSlackResponder, REJECT_ACTION_ID, SIGNATURE_HEADER, SlackResponder,
    TIMESTAMP_HEADER,
};
use connectors::inbound::task_callback::{
    RecordedCallback, RecordingTaskCallback, TaskCallbackError,
};
use connectors::secrets::{Secrets, names};
use connectors::signing::{LinkClaims, SigningKey, hmac_sha256_hex, sign_link, slack_signature};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

const SLACK_SECRET: &str = "slack-signing-secret-for-tests";
const LINK_KEY: &str = "approval-link-key-for-tests";
const ALERTMANAGER_TOKEN: &str = "alertmanager-token-for-tests";
const DATADOG_SECRET: &str = "datadog-secret-for-tests";
const PAGERDUTY_SECRET: &str = "pagerduty-secret-for-tests";
const GRAFANA_SECRET: &str = "grafana-hmac-secret-for-tests";
const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAfake-task-token-never-shown";
const APPROVAL_ID: &str = "approval-7f3a";
const REQUESTER: &str = "slack:UREQUESTER";
const REQUESTER_EMAIL: &str = "email:requester@example.com";
const APPROVER: &str = "slack:UAPPROVER";
const EMAIL_APPROVER: &str = "email:alice@example.com";
/// On the approver list, but Argus sent this approval's links to Alice only.
const OTHER_EMAIL_APPROVER: &str = "email:bob@example.com";
const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:argus-recovery:x";
/// Where Argus posted the approval request in Slack (chat.postMessage's `channel` and `ts`).
const SLACK_CHANNEL: &str = "C0123OPS";
const SLACK_TS: &str = "1764486000.000100";
/// Records written before a test's request: the opening, the approval request, and its
/// deliveries to Slack and to Alice's e-mail.
const SETUP_RECORDS: usize = 4;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap()
}

struct World {
    store: Arc<EmbeddedStore>,
    bus: Arc<MemoryEventBus>,
    callback: Arc<RecordingTaskCallback>,
    clock: Arc<ManualClock>,
    responder: Arc<RecordingResponder>,
    inbound: Inbound,
}

/// The messages posted to Slack's `response_url`s, in order.
#[derive(Default)]
struct RecordingResponder(std::sync::Mutex<Vec<(String, Value)>>);

impl RecordingResponder {
    fn posts(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl SlackResponder for RecordingResponder {
    async fn respond(&self, response_url: &str, message: &Value) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .push((response_url.to_string(), message.clone()));
        Ok(())
    }
}

fn secrets() -> Secrets {
    Secrets::from_map(BTreeMap::from(
        [
            (names::SLACK_SIGNING_SECRET, SLACK_SECRET),
            (names::APPROVAL_LINK_KEY, LINK_KEY),
            (names::ALERTMANAGER_TOKEN, ALERTMANAGER_TOKEN),
            (names::DATADOG_WEBHOOK_SECRET, DATADOG_SECRET),
            (names::PAGERDUTY_WEBHOOK_SECRET, PAGERDUTY_SECRET),
            (names::GRAFANA_HMAC_SECRET, GRAFANA_SECRET),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string())),
    ))
}

fn world() -> World {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let bus = Arc::new(MemoryEventBus::new());
    let callback = Arc::new(RecordingTaskCallback::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let mut config = Config::default();
    // The requester is an approver too, so that self-approval is refused for being
    // self-approval and not for being off the list.
    config.approvals.low = vec![
        APPROVER.to_string(),
        EMAIL_APPROVER.to_string(),
        REQUESTER.to_string(),
        REQUESTER_EMAIL.to_string(),
        OTHER_EMAIL_APPROVER.to_string(),
    ];
    // The requester's e-mail identity is theirs too: approving by link is still self-approval.
    config
        .approvals
        .identities
        .insert(REQUESTER.to_string(), vec![REQUESTER_EMAIL.to_string()]);
    let responder = Arc::new(RecordingResponder::default());
    let inbound = Inbound {
        store: store.clone(),
        bus: bus.clone(),
        callback: callback.clone(),
        clock: clock.clone(),
        config,
        secrets: secrets(),
        slack_responder: responder.clone(),
        rate_limit: Default::default(),
    };
    World {
        responder,
        store,
        bus,
        callback,
        clock,
        inbound,
    }
}

// ---------------------------------------------------------------- webhooks

fn sample(path: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/webhooks")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

/// The request each vendor sends, authenticated the way that vendor is configured to.
fn vendor_request(vendor: &str, body: Vec<u8>, now: DateTime<Utc>) -> HttpRequest {
    let request = HttpRequest::new("POST", &format!("/webhooks/{vendor}"))
        .with_header("content-type", "application/json");
    match vendor {
        "alertmanager" => request
            .with_header("authorization", &format!("Bearer {ALERTMANAGER_TOKEN}"))
            .with_body(body),
        "datadog" => request
            .with_header(DATADOG_SECRET_HEADER, DATADOG_SECRET)
            .with_body(body),
        "pagerduty" => {
            let signature = hmac_sha256_hex(&SigningKey::new(PAGERDUTY_SECRET), &body);
            let rotated = hmac_sha256_hex(&SigningKey::new("the-previous-secret"), &body);
            request
                .with_header(
                    PAGERDUTY_SIGNATURE_HEADER,
                    &format!("v1={rotated},v1={signature}"),
                )
                .with_body(body)
        }
        "grafana" => {
            let timestamp = now.timestamp().to_string();
            let mut signed = format!("{timestamp}:").into_bytes();
            signed.extend_from_slice(&body);
            let signature = hmac_sha256_hex(&SigningKey::new(GRAFANA_SECRET), &signed);
            request
                .with_header(GRAFANA_SIGNATURE_HEADER, &signature)
                .with_header(GRAFANA_TIMESTAMP_HEADER, &timestamp)
                .with_body(body)
        }
        other => panic!("no vendor {other}"),
    }
}

fn body_json(response: &HttpResponse) -> Value {
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

/// Posts a sample, checks the 202 and its count, and returns each published event with the
/// signal the orchestrator's normaliser makes of it.
async fn publish(world: &World, vendor: &str, file: &str) -> Vec<(Value, argus::signal::Signal)> {
    let before = world.bus.events().len();
    let request = vendor_request(vendor, sample(file), world.clock.now());
    let response = world.inbound.handle(&request).await;
    assert_eq!(response.status, 202, "{file}: {}", response.body);
    let events: Vec<BusEvent> = world.bus.events().split_off(before);
    assert_eq!(
        body_json(&response)["accepted"],
        json!(events.len()),
        "{file}"
    );
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            assert_eq!(event.source, "argus.connectors");
            assert_eq!(event.detail_type, "Argus External Alert");
            let normalised = normalise(
                &delivered(event, &format!("00000000-0000-0000-0000-{index:012}")),
                &argus::config::SignalConfig::default(),
            )
            .unwrap_or_else(|error| panic!("{file}: the orchestrator refused it: {error}"));
            let Normalised::Signals(mut signals) = normalised else {
                panic!("{file}: the orchestrator ignored it")
            };
            assert_eq!(signals.len(), 1);
            let signal = signals.remove(0);
            assert_eq!(signal.source, SignalSource::ExternalAlert);
            (event.detail.clone(), signal)
        })
        .collect()
}

#[tokio::test]
async fn alertmanager_groups_split_into_one_alert_each_and_resolved_matches_firing() {
    let world = world();
    let firing = publish(
        &world,
        "alertmanager",
        "alertmanager/alertmanager-v4-firing-2-alerts.json",
    )
    .await;
    assert_eq!(firing.len(), 2);
    let (detail, signal) = &firing[0];
    assert_eq!(detail["schema_version"], 1);
    assert_eq!(detail["vendor"], "alertmanager");
    assert_eq!(detail["alert_id"], "a1bc48475b20e73d");
    assert_eq!(firing[1].0["alert_id"], "c2ea85182f28cbd9");
    assert_eq!(detail["status"], "firing");
    assert_eq!(detail["name"], "High CPU Temperature");
    assert_eq!(detail["severity"], "critical");
    assert_eq!(detail["summary"], "High CPU core temperature");
    assert_eq!(detail["description"], "CPU core temperature is 34.75C");
    assert_eq!(detail["labels"]["host"], "andromeda");
    assert_eq!(detail["starts_at"], "2020-02-06T00:17:58.432911368Z");
    assert!(detail.get("ends_at").is_none());
    assert!(
        detail["url"]
            .as_str()
            .unwrap()
            .starts_with("http://cobalt:9090/graph")
    );
    assert_eq!(signal.effect, SignalEffect::Opens);
    assert_eq!(
        signal.resource.as_str(),
        "external:alertmanager/a1bc48475b20e73d"
    );
    assert_eq!(signal.severity_hint, Some(8));

    let resolved = publish(
        &world,
        "alertmanager",
        "alertmanager/alertmanager-v4-resolved-1-alert.json",
    )
    .await;
    assert_eq!(resolved.len(), 1);
    let (detail, cleared) = &resolved[0];
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["ends_at"], "2020-02-06T00:27:58.432911368Z");
    assert_eq!(cleared.effect, SignalEffect::Clears);
    assert_eq!(cleared.resource, signal.resource);
    assert_eq!(cleared.signature, signal.signature);
}

#[tokio::test]
async fn grafana_alerting_normalises() {
    let world = world();
    let alerts = publish(&world, "grafana", "grafana/grafana-alerting-firing.json").await;
    assert_eq!(alerts.len(), 1);
    let (detail, signal) = &alerts[0];
    assert_eq!(detail["vendor"], "grafana");
    assert_eq!(detail["alert_id"], "d8a21484c9c25a60");
    assert_eq!(detail["name"], "Test alert");
    assert_eq!(
        detail["summary"],
        "This is a summary field, failure on some_host"
    );
    assert_eq!(detail["description"], "This is a description");
    assert_eq!(
        detail["url"],
        "https://grafana.example.com/alerting/grafana/zTjxv_C7k/view"
    );
    assert_eq!(detail["labels"]["test"], "true");
    assert_eq!(signal.effect, SignalEffect::Opens);
    assert_eq!(signal.signature, "external:grafana:Test alert");
}

#[tokio::test]
async fn datadog_default_and_argus_payloads_normalise() {
    let world = world();
    let default = publish(
        &world,
        "datadog",
        "datadog/datadog-webhook-default-payload.json",
    )
    .await;
    assert_eq!(default.len(), 1);
    let (detail, signal) = &default[0];
    assert_eq!(detail["vendor"], "datadog");
    // The monitor id comes from the message's "Monitor Status" link, so the recovery of the
    // same monitor has the same id.
    assert_eq!(detail["alert_id"], "18692904");
    assert_eq!(detail["status"], "firing");
    assert_eq!(detail["name"], "[TEST] Host Cluster Alert");
    assert_eq!(detail["starts_at"], "2020-06-03T20:43:05Z");
    assert_eq!(signal.effect, SignalEffect::Opens);

    let triggered = publish(
        &world,
        "datadog",
        "datadog/datadog-argus-payload-triggered.json",
    )
    .await;
    let recovered = publish(
        &world,
        "datadog",
        "datadog/datadog-argus-payload-recovered.json",
    )
    .await;
    let (detail, opened) = &triggered[0];
    assert_eq!(detail["alert_id"], "18692904:host:web-1");
    assert_eq!(detail["name"], "Host Cluster Alert");
    assert_eq!(detail["severity"], "P2");
    assert_eq!(detail["resource"], "ec2:instance/i-0abc1234");
    assert_eq!(detail["labels"]["team"], "checkout");
    assert_eq!(detail["url"], "https://app.datadoghq.com/monitors/18692904");
    assert_eq!(opened.resource.as_str(), "ec2:instance/i-0abc1234");
    let (detail, cleared) = &recovered[0];
    assert_eq!(detail["alert_id"], "18692904:host:web-1");
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["ends_at"], "2020-06-03T20:58:05Z");
    assert_eq!(cleared.effect, SignalEffect::Clears);
    assert_eq!(cleared.signature, opened.signature);
}

#[tokio::test]
async fn pagerduty_v3_incidents_normalise() {
    let world = world();
    let triggered = publish(
        &world,
        "pagerduty",
        "pagerduty/pagerduty-v3-incident-triggered.json",
    )
    .await;
    let resolved = publish(
        &world,
        "pagerduty",
        "pagerduty/pagerduty-v3-incident-resolved.json",
    )
    .await;
    let (detail, opened) = &triggered[0];
    assert_eq!(detail["vendor"], "pagerduty");
    assert_eq!(detail["alert_id"], "PFQZPSY");
    assert_eq!(detail["name"], "Test Incident 3");
    assert_eq!(detail["severity"], "high");
    assert_eq!(detail["labels"]["service"], "pig208");
    assert_eq!(detail["labels"]["incident_number"], "9");
    assert_eq!(detail["starts_at"], "2021-06-04T13:35:29.781Z");
    assert_eq!(
        detail["url"],
        "https://pig208.pagerduty.com/incidents/PFQZPSY"
    );
    assert_eq!(opened.effect, SignalEffect::Opens);
    assert_eq!(opened.severity_hint, Some(6));
    let (detail, cleared) = &resolved[0];
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["ends_at"], "2021-06-04T13:45:02.107Z");
    assert_eq!(cleared.effect, SignalEffect::Clears);
    assert_eq!(cleared.resource, opened.resource);
}

#[tokio::test]
async fn missing_or_forged_webhook_credentials_are_401_and_nothing_is_published() {
    let world = world();
    let now = world.clock.now();
    let cases: Vec<(&str, HttpRequest)> = vec![
        (
            "alertmanager without a token",
            HttpRequest::new("POST", "/webhooks/alertmanager")
                .with_body(sample("alertmanager/alertmanager-v4-firing-2-alerts.json")),
        ),
        (
            "alertmanager with a wrong token",
            HttpRequest::new("POST", "/webhooks/alertmanager")
                .with_header("authorization", "Bearer guessed")
                .with_body(sample("alertmanager/alertmanager-v4-firing-2-alerts.json")),
        ),
        (
            "datadog with a wrong secret",
            HttpRequest::new("POST", "/webhooks/datadog")
                .with_header(DATADOG_SECRET_HEADER, "guessed")
                .with_body(sample("datadog/datadog-webhook-default-payload.json")),
        ),
        ("pagerduty with a signature of another body", {
            let mut request = vendor_request(
                "pagerduty",
                sample("pagerduty/pagerduty-v3-incident-triggered.json"),
                now,
            );
            request.body = sample("pagerduty/pagerduty-v3-incident-resolved.json");
            request
        }),
        ("grafana with an edited body", {
            let mut request = vendor_request(
                "grafana",
                sample("grafana/grafana-alerting-firing.json"),
                now,
            );
            request.body.extend_from_slice(b" ");
            request
        }),
        ("grafana replayed after the window", {
            vendor_request(
                "grafana",
                sample("grafana/grafana-alerting-firing.json"),
                now - Duration::minutes(6),
            )
        }),
    ];
    for (case, request) in cases {
        let response = world.inbound.handle(&request).await;
        assert_eq!(response.status, 401, "{case}");
        assert_eq!(body_json(&response)["error"], "unauthorized", "{case}");
        for secret in [
            ALERTMANAGER_TOKEN,
            DATADOG_SECRET,
            PAGERDUTY_SECRET,
            GRAFANA_SECRET,
        ] {
            assert!(!response.body.contains(secret), "{case}");
        }
    }
    assert!(world.bus.events().is_empty());
}

#[tokio::test]
async fn routing_answers_404_405_413_and_400() {
    let world = world();
    let unknown = world
        .inbound
        .handle(&HttpRequest::new("POST", "/webhooks/nagios"))
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_method = world
        .inbound
        .handle(&HttpRequest::new("GET", "/webhooks/alertmanager"))
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    let put = world
        .inbound
        .handle(&HttpRequest::new("PUT", "/approvals"))
        .await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, POST"));
    let large = world
        .inbound
        .handle(
            &vendor_request("alertmanager", vec![b' '; MAX_BODY_BYTES + 1], t0())
                .with_header("authorization", &format!("Bearer {ALERTMANAGER_TOKEN}")),
        )
        .await;
    assert_eq!(large.status, 413);
    let not_json = world
        .inbound
        .handle(&vendor_request("alertmanager", b"<xml/>".to_vec(), t0()))
        .await;
    assert_eq!(not_json.status, 400);
    assert!(world.bus.events().is_empty());
}

#[tokio::test]
async fn a_bus_that_fails_is_a_503_naming_the_error_so_the_vendor_retries() {
    let world = world();
    world.bus.refuse_puts(true);
    let response = world
        .inbound
        .handle(&vendor_request(
            "pagerduty",
            sample("pagerduty/pagerduty-v3-incident-triggered.json"),
            t0(),
        ))
        .await;
    assert_eq!(response.status, 503);
    assert_eq!(body_json(&response)["error"], "EventBusUnavailable");
}

// ---------------------------------------------------------------- approvals

/// An incident waiting for approval of a low-risk reboot that `REQUESTER` asked for.
async fn awaiting_approval(world: &World) -> CorrelationId {
    awaiting_approval_caused_by(world, None).await
}

/// The same, opened by a signal whose principal (a CloudTrail caller) is `caused_by`; that
/// principal is then the requester.
async fn awaiting_approval_caused_by(world: &World, caused_by: Option<&str>) -> CorrelationId {
    let mut signal = argus::testing::alarm_signal(
        "ec2:instance/i-0abc1234",
        "alarm:AWS/EC2/StatusCheckFailed",
        "event-1",
        t0(),
        SignalEffect::Opens,
    );
    signal.principal = caused_by.map(str::to_string);
    let requested_by = caused_by.unwrap_or(REQUESTER).to_string();
    let id = CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        t0(),
    );
    let mut incident = Incident::open(id.clone(), &signal, t0());
    let audit = [incident.audit(
        AuditEntry::new("test", AuditKind::IncidentOpened, "opened", json!({})),
        t0(),
    )];
    world
        .store
        .open_incident(NewIncident {
            incident: &incident,
            claim: &DedupClaim {
                source_event_id: signal.source_event_id.clone(),
                correlation_id: Some(id.clone()),
                claimed_at: t0(),
                expires_at: t0() + Duration::days(1),
            },
            signal: &SignalRecord {
                incident_id: id.clone(),
                received_at: t0(),
                outcome: "opened".into(),
                signal: signal.clone(),
            },
            audit: &audit,
        })
        .await
        .unwrap();
    update_incident(
        world.store.as_ref(),
        world.clock.as_ref(),
        &id,
        None,
        |incident| {
            incident.status = IncidentStatus::AwaitingApproval;
            incident.approval = Some(PendingApproval {
                id: APPROVAL_ID.to_string(),
                execution_id: EXECUTION.to_string(),
                action: ActionId::Ec2Reboot,
                risk: RiskClass::Low,
                requested_by: requested_by.clone(),
                requested_at: t0(),
                expires_at: t0() + Duration::hours(1),
                task_token: TaskToken::new(TASK_TOKEN),
                decision: None,
            });
            // What request_approval records: the request, then one delivery per channel.
            vec![
                AuditEntry::new(
                    "argus/connectors",
                    AuditKind::ApprovalRequested,
                    "approval requested",
                    json!({"approval": APPROVAL_ID}),
                ),
                AuditEntry::new(
                    "argus/connectors",
                    AuditKind::ConnectorDelivered,
                    "request_approval: delivered to slack",
                    json!({"operation": "request_approval", "channel": "slack",
                           "execution": EXECUTION, "external_id": SLACK_TS,
                           "message_channel": SLACK_CHANNEL}),
                ),
                AuditEntry::new(
                    "argus/connectors",
                    AuditKind::ConnectorDelivered,
                    "request_approval: delivered to email",
                    json!({"operation": "request_approval", "channel": "email",
                           "execution": EXECUTION, "recipient": EMAIL_APPROVER,
                           "external_id": "sns-message-1"}),
                ),
            ]
        },
    )
    .await
    .unwrap();
    id
}

fn slack_click(
    id: &CorrelationId,
    user: &str,
    approve: bool,
    approval: &str,
    signed_at: DateTime<Utc>,
) -> HttpRequest {
    // The buttons Argus posts carry the approval, and the button itself says which answer.
    let value = json!({"incident": id.as_str(), "approval": approval});
    let action_id = if approve {
        APPROVE_ACTION_ID
    } else {
        REJECT_ACTION_ID
    };
    signed_interaction(
        &interaction(user, action_id, &value, approval, SLACK_CHANNEL, SLACK_TS),
        signed_at,
    )
}

/// A `block_actions` payload as Slack sends it for a click on a message in `channel` at `ts`.
fn interaction(
    user: &str,
    action_id: &str,
    value: &Value,
    approval: &str,
    channel: &str,
    ts: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": channel, "name": "ops"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
        "message": {"type": "message", "ts": ts},
        "response_url": "https://hooks.slack.com/actions/T0001/1/abc",
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": format!("argus_approval_{approval}"),
            "value": value.to_string(),
            "action_ts": "1764486000.000100"
        }]
    })
}

/// A payload signed with the app's signing secret, as Slack signs it.
fn signed_interaction(payload: &Value, signed_at: DateTime<Utc>) -> HttpRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = signed_at.timestamp().to_string();
    let signature = slack_signature(&SigningKey::new(SLACK_SECRET), &timestamp, body.as_bytes());
    HttpRequest::new("POST", "/slack/interactions")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header(TIMESTAMP_HEADER, &timestamp)
        .with_header(SIGNATURE_HEADER, &signature)
        .with_body(body.into_bytes())
}

fn link(id: &CorrelationId, approver: &str, approve: bool, expires: DateTime<Utc>) -> String {
    sign_link(
        &SigningKey::new(LINK_KEY),
        &LinkClaims {
            approval: APPROVAL_ID.to_string(),
            incident: id.to_string(),
            approver: approver.to_string(),
            approve,
            expires: expires.timestamp(),
        },
    )
}

fn link_post(token: &str) -> HttpRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("t", token)
        .finish();
    HttpRequest::new("POST", "/approvals")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(body.into_bytes())
}

fn link_get(token: &str) -> HttpRequest {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("t", token)
        .finish();
    HttpRequest::new("GET", "/approvals").with_query(&query)
}

/// The audit trail verifies, holds no task token, and its records after the request are these.
async fn audit_after_setup(world: &World, id: &CorrelationId) -> Vec<(AuditKind, Value)> {
    let incident = world.store.incident(id).await.unwrap().unwrap();
    let trail = world.store.audit_trail(id).await.unwrap();
    assert!(verify_chain(&incident, &trail).is_intact());
    let text = serde_json::to_string(&trail).unwrap();
    assert!(!text.contains(TASK_TOKEN), "the task token is in the audit");
    // The first records are the opening, the approval request and its deliveries.
    trail
        .into_iter()
        .skip(SETUP_RECORDS)
        .map(|record| (record.kind, record.data))
        .collect()
}

#[tokio::test]
async fn a_slack_approval_is_recorded_audited_and_sent_exactly_once() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let response = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let reply = body_json(&response);
    assert_eq!(reply["replace_original"], true);
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved by <@UAPPROVER>")
    );
    assert!(!response.body.contains(TASK_TOKEN));
    // Slack ignores the HTTP answer's body for block actions: the message is updated through
    // the interaction's response_url.
    let posts = world.responder.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, "https://hooks.slack.com/actions/T0001/1/abc");
    assert_eq!(posts[0].1["replace_original"], true);
    assert_eq!(posts[0].1["text"], reply["text"]);
    assert_eq!(
        world.callback.calls(),
        vec![RecordedCallback::Success {
            token: TASK_TOKEN.to_string(),
            output: json!({"approved": true, "approver": APPROVER, "channel": "slack"}),
        }]
    );
    let incident = world.store.incident(&id).await.unwrap().unwrap();
    let decision = incident.approval.unwrap().decision.unwrap();
    assert!(decision.approved);
    assert_eq!(decision.approver, APPROVER);
    assert_eq!(decision.channel, "slack");
    assert_eq!(decision.decided_at, t0());
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, AuditKind::ApprovalDecided);
    assert_eq!(audit[0].1["approver"], APPROVER);
    assert_eq!(audit[0].1["approved"], true);
    assert_eq!(audit[0].1["action"], "ec2.reboot");
}

#[tokio::test]
async fn a_slack_rejection_fails_the_task_with_approval_rejected() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let response = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", false, APPROVAL_ID, t0()))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        world.callback.calls(),
        vec![RecordedCallback::Failure {
            token: TASK_TOKEN.to_string(),
            error: "ApprovalRejected".to_string(),
            cause: format!("rejected by {APPROVER} through slack"),
        }]
    );
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit[0].0, AuditKind::ApprovalDecided);
    assert_eq!(audit[0].1["approved"], false);
}

#[tokio::test]
async fn forged_and_stale_slack_requests_are_401_and_change_nothing() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let mut forged = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0());
    forged.headers.insert(
        SIGNATURE_HEADER.to_string(),
        format!("v0={}", "0".repeat(64)),
    );
    let response = world.inbound.handle(&forged).await;
    assert_eq!(response.status, 401);

    let mut unsigned = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0());
    unsigned.headers.remove(SIGNATURE_HEADER);
    assert_eq!(world.inbound.handle(&unsigned).await.status, 401);

    // A request signed six minutes ago is outside Slack's five-minute window.
    let stale = slack_click(
        &id,
        "UAPPROVER",
        true,
        APPROVAL_ID,
        t0() - Duration::minutes(6),
    );
    assert_eq!(world.inbound.handle(&stale).await.status, 401);

    assert!(world.callback.calls().is_empty());
    assert!(audit_after_setup(&world, &id).await.is_empty());
    let incident = world.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.approval.unwrap().decision, None);
}

#[tokio::test]
async fn a_replayed_slack_request_is_409_and_the_workflow_hears_once() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let click = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0());
    assert_eq!(world.inbound.handle(&click).await.status, 200);
    world.clock.advance(Duration::seconds(30));
    let replay = world.inbound.handle(&click).await;
    assert_eq!(replay.status, 409);
    assert_eq!(body_json(&replay)["argus"]["error"], "already_decided");
    assert_eq!(world.callback.calls().len(), 1);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(
        audit.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
        vec![AuditKind::ApprovalDecided, AuditKind::ApprovalRefused]
    );
    assert_eq!(audit[1].1["reason"], "already_decided");
}

#[tokio::test]
async fn unknown_approvers_and_self_approval_are_403_and_audited() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let stranger = world
        .inbound
        .handle(&slack_click(&id, "USTRANGER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(stranger.status, 403);
    assert_eq!(body_json(&stranger)["replace_original"], false);
    let own = world
        .inbound
        .handle(&slack_click(&id, "UREQUESTER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(own.status, 403);
    let mallory = world
        .inbound
        .handle(&link_post(&link(
            &id,
            "email:mallory@example.com",
            true,
            t0() + Duration::minutes(30),
        )))
        .await;
    assert_eq!(mallory.status, 403);
    let own_by_mail = world
        .inbound
        .handle(&link_post(&link(
            &id,
            REQUESTER_EMAIL,
            true,
            t0() + Duration::minutes(30),
        )))
        .await;
    assert_eq!(own_by_mail.status, 403);
    assert!(world.callback.calls().is_empty());
    let audit = audit_after_setup(&world, &id).await;
    let reasons: Vec<(&str, &str)> = audit
        .iter()
        .map(|(kind, data)| {
            assert_eq!(*kind, AuditKind::ApprovalRefused);
            (
                data["reason"].as_str().unwrap(),
                data["identity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("not_an_approver", "slack:USTRANGER"),
            ("self_approval", REQUESTER),
            ("not_an_approver", "email:mallory@example.com"),
            ("self_approval", REQUESTER_EMAIL),
        ]
    );
    // The approval is still open for a legitimate approver.
    let response = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(world.callback.calls().len(), 1);
}

#[tokio::test]
async fn an_expired_approval_is_410_and_unknown_approvals_are_404() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let unknown_approval = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, "approval-other", t0()))
        .await;
    assert_eq!(unknown_approval.status, 404);
    let other_incident = CorrelationId::derive("alarm:x", "ec2:instance/i-9", "e9", t0());
    let unknown_incident = world
        .inbound
        .handle(&slack_click(
            &other_incident,
            "UAPPROVER",
            true,
            APPROVAL_ID,
            t0(),
        ))
        .await;
    assert_eq!(unknown_incident.status, 404);
    assert!(audit_after_setup(&world, &id).await.is_empty());

    let later = t0() + Duration::hours(1);
    world.clock.set(later);
    let expired = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, later))
        .await;
    assert_eq!(expired.status, 410);
    assert!(world.callback.calls().is_empty());
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1["reason"], "expired");
}

/// The incident was resolved (its alarm cleared) while the approval waited.
async fn resolve(world: &World, id: &CorrelationId) {
    let now = world.clock.now();
    update_incident(
        world.store.as_ref(),
        world.clock.as_ref(),
        id,
        None,
        |incident| {
            incident.transition(IncidentStatus::Resolved, now).unwrap();
            vec![AuditEntry::new(
                "argus/intake",
                AuditKind::Cleared,
                "the alarm cleared",
                json!({}),
            )]
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_approval_clicked_after_the_incident_resolved_is_refused_and_ends_the_workflow() {
    for channel in ["slack", "link"] {
        // GIVEN an approval pending for an incident that resolved meanwhile
        let world = world();
        let id = awaiting_approval(&world).await;
        resolve(&world, &id).await;
        let token = link(&id, EMAIL_APPROVER, true, t0() + Duration::minutes(30));
        if channel == "link" {
            // The link's page says so before anyone clicks, and changes nothing.
            let page = world.inbound.handle(&link_get(&token)).await;
            assert_eq!(page.status, 410, "{}", page.body);
            assert!(page.body.contains("resolved"), "{}", page.body);
            assert!(world.callback.calls().is_empty());
        }
        // WHEN an approver approves it
        let response = match channel {
            "slack" => {
                world
                    .inbound
                    .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0()))
                    .await
            }
            _ => world.inbound.handle(&link_post(&token)).await,
        };
        // THEN the answer is refused with a clear message, nothing is decided
        assert_eq!(response.status, 410, "{channel}: {}", response.body);
        assert!(
            response.body.contains("resolved before this answer"),
            "{channel}: {}",
            response.body
        );
        let incident = world.store.incident(&id).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert!(incident.approval.unwrap().decision.is_none(), "{channel}");
        // AND the refusal is audited after the clearing
        let audit = audit_after_setup(&world, &id).await;
        assert_eq!(
            audit.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
            vec![AuditKind::Cleared, AuditKind::ApprovalRefused],
            "{channel}"
        );
        assert_eq!(audit[1].1["reason"], "incident_resolved");
        // AND the waiting task is failed with the error the state machine ends quietly on
        assert_eq!(
            world.callback.calls(),
            vec![RecordedCallback::Failure {
                token: TASK_TOKEN.to_string(),
                error: argus::recovery::INCIDENT_RESOLVED.to_string(),
                cause: format!(
                    "an answer from {} through {channel} came after the incident was resolved",
                    if channel == "slack" {
                        APPROVER
                    } else {
                        EMAIL_APPROVER
                    }
                ),
            }],
            "{channel}"
        );
    }
}

#[tokio::test]
async fn a_signed_link_shows_a_page_on_get_and_decides_on_post_once() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let token = link(&id, EMAIL_APPROVER, true, t0() + Duration::minutes(30));

    // A mail scanner fetching the link changes nothing.
    let page = world.inbound.handle(&link_get(&token)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ec2.reboot"));
    assert!(page.body.contains("method=\"post\""));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(!page.body.contains(TASK_TOKEN));
    assert!(world.callback.calls().is_empty());
    assert!(audit_after_setup(&world, &id).await.is_empty());

    let decided = world.inbound.handle(&link_post(&token)).await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    assert_eq!(
        world.callback.calls(),
        vec![RecordedCallback::Success {
            token: TASK_TOKEN.to_string(),
            output: json!({"approved": true, "approver": EMAIL_APPROVER, "channel": "link"}),
        }]
    );

    // The link is single use: the answer is on the incident.
    let reused = world.inbound.handle(&link_post(&token)).await;
    assert_eq!(reused.status, 409);
    assert_eq!(world.inbound.handle(&link_get(&token)).await.status, 409);
    assert_eq!(world.callback.calls().len(), 1);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(
        audit.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
        vec![AuditKind::ApprovalDecided, AuditKind::ApprovalRefused]
    );
    assert_eq!(audit[0].1["channel"], "link");
}

#[tokio::test]
async fn expired_and_forged_links_are_refused_and_nothing_is_sent() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let expired = link(&id, EMAIL_APPROVER, true, t0() - Duration::seconds(1));
    assert_eq!(world.inbound.handle(&link_get(&expired)).await.status, 410);
    assert!(audit_after_setup(&world, &id).await.is_empty());
    assert_eq!(world.inbound.handle(&link_post(&expired)).await.status, 410);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, AuditKind::ApprovalRefused);
    assert_eq!(audit[0].1["reason"], "expired");

    // Changing the claims (here: who approves) breaks the signature.
    let good = link(&id, EMAIL_APPROVER, true, t0() + Duration::minutes(30));
    let (_, signature) = good.split_once('.').unwrap();
    let forged_claims = json!({"approval": APPROVAL_ID, "incident": id.as_str(),
        "approver": "email:mallory@example.com", "approve": true,
        "expires": (t0() + Duration::minutes(30)).timestamp()});
    let forged = format!(
        "{}.{signature}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&forged_claims).unwrap())
    );
    assert_eq!(world.inbound.handle(&link_post(&forged)).await.status, 401);
    assert_eq!(world.inbound.handle(&link_get(&forged)).await.status, 401);
    assert_eq!(
        world.inbound.handle(&link_post("garbage")).await.status,
        401
    );
    assert!(world.callback.calls().is_empty());
    assert_eq!(audit_after_setup(&world, &id).await.len(), 1);
}

#[tokio::test]
async fn two_concurrent_answers_resume_the_workflow_once() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let slack = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0());
    let email = link_post(&link(
        &id,
        EMAIL_APPROVER,
        false,
        t0() + Duration::minutes(30),
    ));
    let (first, second) = tokio::join!(world.inbound.handle(&slack), world.inbound.handle(&email));
    let mut statuses = vec![first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409]);
    assert_eq!(world.callback.calls().len(), 1);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(
        audit
            .iter()
            .filter(|(kind, _)| *kind == AuditKind::ApprovalDecided)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_task_that_stopped_waiting_is_410_with_the_decision_kept_and_the_failure_audited() {
    let world = world();
    let id = awaiting_approval(&world).await;
    world
        .callback
        .fail_with(TaskCallbackError::TaskGone("TaskTimedOut".into()));
    let response = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(response.status, 410);
    assert_eq!(body_json(&response)["argus"]["error"], "ApprovalTaskGone");
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(
        audit.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
        vec![AuditKind::ApprovalDecided, AuditKind::ConnectorFailed]
    );
    assert_eq!(audit[1].1["error_type"], "ApprovalTaskGone");
}

#[tokio::test]
async fn a_function_url_event_with_a_base64_form_body_reaches_the_slack_handler() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let click = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0());
    let event = json!({
        "version": "2.0",
        "rawPath": "/slack/interactions",
        "rawQueryString": "",
        "headers": click.headers,
        "requestContext": {
            "http": {"method": "POST", "path": "/slack/interactions"},
            "timeEpoch": t0().timestamp_millis()
        },
        "body": base64::engine::general_purpose::STANDARD.encode(&click.body),
        "isBase64Encoded": true
    });
    let request = HttpRequest::from_function_url(serde_json::from_value(event).unwrap()).unwrap();
    let response = world.inbound.handle(&request).await.into_function_url();
    assert_eq!(response.status_code, 200);
    assert_eq!(world.callback.calls().len(), 1);
}

#[tokio::test]
async fn the_slack_responder_posts_only_under_its_allowed_prefix() {
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/actions/T0001/1/abc"))
        .and(body_json(
            json!({"replace_original": true, "text": "Approved"}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&slack)
        .await;
    let responder = HttpSlackResponder::new(format!("{}/actions/", slack.uri())).unwrap();
    let message = json!({"replace_original": true, "text": "Approved"});
    responder
        .respond(&format!("{}/actions/T0001/1/abc", slack.uri()), &message)
        .await
        .unwrap();
    let elsewhere = responder
        .respond(&format!("{}/other", slack.uri()), &message)
        .await;
    assert!(elsewhere.is_err(), "a URL outside the prefix is refused");
    let production = HttpSlackResponder::new(connectors::inbound::slack::RESPONSE_URL_PREFIX)
        .unwrap()
        .respond("http://169.254.169.254/latest/meta-data/", &message)
        .await;
    assert!(production.is_err(), "only Slack's hooks host is posted to");
}

// ---------------------------------------------------------------- trust boundaries (issue 16)

/// The refusal code of a response (a Slack reply nests it under `argus`, a page has none).
fn refusal_code(response: &HttpResponse) -> Option<String> {
    serde_json::from_str::<Value>(&response.body)
        .ok()
        .and_then(|body| body["argus"]["error"].as_str().map(str::to_string))
}

#[tokio::test]
async fn attack_signed_click_on_another_message_is_refused() {
    // GIVEN a payload with a valid signature (anyone who can make the app send an interaction)
    // WHEN it answers the approval from a message Argus did not post THEN nothing is decided.
    let world = world();
    let id = awaiting_approval(&world).await;
    let value = json!({"incident": id.as_str(), "approval": APPROVAL_ID});
    for (channel, ts) in [
        ("CATTACKER", SLACK_TS),
        (SLACK_CHANNEL, "1764486999.000900"),
        ("CATTACKER", "1764486999.000900"),
    ] {
        let payload = interaction(
            "UAPPROVER",
            APPROVE_ACTION_ID,
            &value,
            APPROVAL_ID,
            channel,
            ts,
        );
        let response = world
            .inbound
            .handle(&signed_interaction(&payload, t0()))
            .await;
        assert_eq!(response.status, 403, "{channel}/{ts}: {}", response.body);
        assert_eq!(
            refusal_code(&response).as_deref(),
            Some("not_argus_message")
        );
    }
    // A button of another approval's block on Argus' own message is not this approval's.
    let payload = interaction(
        "UAPPROVER",
        APPROVE_ACTION_ID,
        &value,
        "approval-other",
        SLACK_CHANNEL,
        SLACK_TS,
    );
    let response = world
        .inbound
        .handle(&signed_interaction(&payload, t0()))
        .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(world.callback.calls().is_empty());
    let incident = world.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.approval.unwrap().decision, None);
}

#[tokio::test]
async fn attack_button_value_says_approve_on_the_reject_button() {
    // GIVEN the reject button of Argus' own message, its free-text value edited to approve
    // WHEN it is clicked THEN it never approves: the button's meaning is Argus' own.
    let world = world();
    let id = awaiting_approval(&world).await;
    let value = json!({"incident": id.as_str(), "approval": APPROVAL_ID, "approve": true});
    let payload = interaction(
        "UAPPROVER",
        REJECT_ACTION_ID,
        &value,
        APPROVAL_ID,
        SLACK_CHANNEL,
        SLACK_TS,
    );
    let response = world
        .inbound
        .handle(&signed_interaction(&payload, t0()))
        .await;
    assert_eq!(response.status, 400, "{}", response.body);
    // An action id Argus never posted is no answer either.
    let payload = interaction(
        "UAPPROVER",
        "argus_approve_all",
        &json!({"incident": id.as_str(), "approval": APPROVAL_ID}),
        APPROVAL_ID,
        SLACK_CHANNEL,
        SLACK_TS,
    );
    let response = world
        .inbound
        .handle(&signed_interaction(&payload, t0()))
        .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(
        !world
            .callback
            .calls()
            .iter()
            .any(|call| matches!(call, RecordedCallback::Success { .. })),
        "the workflow was told to run the action"
    );
    let incident = world.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.approval.unwrap().decision, None);
}

#[tokio::test]
async fn attack_link_for_alice_used_as_bob_is_refused() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let expires = t0() + Duration::minutes(30);
    // Alice's link with its approver edited to Bob: the signature no longer matches.
    let alice = link(&id, EMAIL_APPROVER, true, expires);
    let (_, signature) = alice.split_once('.').unwrap();
    let as_bob = LinkClaims {
        approval: APPROVAL_ID.to_string(),
        incident: id.to_string(),
        approver: OTHER_EMAIL_APPROVER.to_string(),
        approve: true,
        expires: expires.timestamp(),
    };
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&as_bob).unwrap());
    let response = world
        .inbound
        .handle(&link_post(&format!("{payload}.{signature}")))
        .await;
    assert_eq!(response.status, 401, "{}", response.body);
    // A signed link for Bob, an approver, but not one Argus sent this approval's links to.
    let response = world
        .inbound
        .handle(&link_post(&link(&id, OTHER_EMAIL_APPROVER, true, expires)))
        .await;
    assert_eq!(response.status, 403, "{}", response.body);
    assert!(world.callback.calls().is_empty());
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1["reason"], "not_a_recipient");
    // Alice's own link still answers, as Alice.
    let response = world.inbound.handle(&link_post(&alice)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let decision = world
        .store
        .incident(&id)
        .await
        .unwrap()
        .unwrap()
        .approval
        .unwrap()
        .decision
        .unwrap();
    assert_eq!(decision.approver, EMAIL_APPROVER);
}

#[tokio::test]
async fn attack_self_approval_in_another_case_is_refused() {
    // The requester's e-mail identity, written with other capitals and spaces.
    let world = world();
    let id = awaiting_approval(&world).await;
    let response = world
        .inbound
        .handle(&link_post(&link(
            &id,
            " Email:REQUESTER@Example.com ",
            true,
            t0() + Duration::minutes(30),
        )))
        .await;
    assert_eq!(response.status, 403, "{}", response.body);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit[0].1["reason"], "self_approval");
    assert!(world.callback.calls().is_empty());
}

#[tokio::test]
async fn attack_approver_who_caused_the_incident_approves_it() {
    // GIVEN an incident opened by Alice's own CloudTrail call (her SSO session is named by her
    // address) WHEN Alice, an approver, answers with her link THEN it is self-approval.
    let world = world();
    let id = awaiting_approval_caused_by(
        &world,
        Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/Alice@Example.com"),
    )
    .await;
    let response = world
        .inbound
        .handle(&link_post(&link(
            &id,
            EMAIL_APPROVER,
            true,
            t0() + Duration::minutes(30),
        )))
        .await;
    assert_eq!(response.status, 403, "{}", response.body);
    let audit = audit_after_setup(&world, &id).await;
    assert_eq!(audit[0].1["reason"], "self_approval");
    assert!(world.callback.calls().is_empty());
}

#[tokio::test]
async fn an_approver_listed_in_other_capitals_may_approve() {
    let mut world = world();
    world.inbound.config.approvals.low = vec!["slack:uapprover".to_string()];
    let id = awaiting_approval(&world).await;
    let response = world
        .inbound
        .handle(&slack_click(&id, "UAPPROVER", true, APPROVAL_ID, t0()))
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
}

/// The size EventBridge counts for a PutEvents entry (its documented calculation: Time is 14
/// bytes, then Source, DetailType, Detail and each Resource in UTF-8).
fn entry_size(event: &BusEvent) -> usize {
    14 + event.source.len()
        + event.detail_type.len()
        + event.detail.to_string().len()
        + event.resources.iter().map(String::len).sum::<usize>()
}

#[tokio::test]
async fn attack_an_oversized_label_is_truncated_so_every_alert_of_the_group_is_published() {
    // GIVEN an Alertmanager group whose alerts carry a ~100 KB label each (the whole body
    // stays under the endpoint's limit, but two such entries overflow one PutEvents request)
    let world = world();
    let mut body: Value =
        serde_json::from_slice(&sample("alertmanager/alertmanager-v4-firing-2-alerts.json"))
            .unwrap();
    for alert in body["alerts"].as_array_mut().unwrap() {
        alert["labels"]["dump"] = json!("x".repeat(100_000));
    }
    let request = vendor_request(
        "alertmanager",
        body.to_string().into_bytes(),
        world.clock.now(),
    );
    // WHEN it is posted
    let response = world.inbound.handle(&request).await;
    // THEN both alerts are published, each label cut with a marker saying so, and the two
    // entries fit one PutEvents request together
    assert_eq!(response.status, 202, "{}", response.body);
    let events = world.bus.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        let dump = event.detail["labels"]["dump"].as_str().unwrap();
        assert!(dump.len() <= 1024, "{} bytes", dump.len());
        assert!(dump.contains("truncated"), "{dump}");
    }
    let total: usize = events.iter().map(entry_size).sum();
    assert!(total < 256 * 1024, "{total} bytes");
}

#[tokio::test]
async fn attack_junk_from_one_source_is_throttled_while_other_senders_are_served() {
    // GIVEN a source sending a flood of unauthenticated webhooks
    let world = world();
    let junk = HttpRequest::new("POST", "/webhooks/alertmanager")
        .with_source_ip("203.0.113.9")
        .with_body(b"{}".to_vec());
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(world.inbound.handle(&junk).await.status);
    }
    // THEN it is answered 429 (with when to come back) once past its budget
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let throttled = world.inbound.handle(&junk).await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.header("retry-after").is_some());
    // AND another source's real webhook is served
    let real = vendor_request(
        "alertmanager",
        sample("alertmanager/alertmanager-v4-firing-2-alerts.json"),
        world.clock.now(),
    )
    .with_source_ip("198.51.100.7");
    assert_eq!(world.inbound.handle(&real).await.status, 202);
    // AND the flooding source's budget refills with time (on the clock, no sleeping)
    world.clock.advance(Duration::seconds(120));
    assert_eq!(world.inbound.handle(&junk).await.status, 401);
}

#[tokio::test]
async fn attack_5000_clicks_on_a_decided_approval_are_counted_not_recorded_one_by_one() {
    let world = world();
    let id = awaiting_approval(&world).await;
    let click = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, world.clock.now());
    assert_eq!(world.inbound.handle(&click).await.status, 200);
    // One approver clicks the decided approval 5,000 more times, a second apart (within the
    // endpoint's per-source budget, so every click reaches the approval check).
    for _ in 0..5_000 {
        world.clock.advance(Duration::seconds(1));
        let again = slack_click(&id, "UAPPROVER", true, APPROVAL_ID, world.clock.now());
        let response = world.inbound.handle(&again).await;
        assert!(
            matches!(response.status, 409 | 410),
            "{} {:?}",
            response.status,
            body_json(&response)
        );
    }
    assert_eq!(world.callback.calls().len(), 1, "the workflow heard once");
    let incident = world.store.incident(&id).await.unwrap().unwrap();
    let trail = world.store.audit_trail(&id).await.unwrap();
    assert!(verify_chain(&incident, &trail).is_intact());
    let recorded = trail
        .iter()
        .filter(|record| record.kind == AuditKind::ApprovalRefused)
        .count() as u64;
    assert!(recorded <= 10, "{recorded} refusal records");
    let signals = world.store.signals(&id).await.unwrap();
    let postmortem = argus::postmortem::Postmortem::build(&incident, &trail, &signals, None);
    let counted: u64 = postmortem
        .audit
        .repeated
        .iter()
        .filter(|repeated| repeated.kind == AuditKind::ApprovalRefused)
        .map(|repeated| repeated.counted)
        .sum();
    assert_eq!(
        recorded + counted,
        5_000,
        "every refused click is recorded or counted"
    );
    assert!(postmortem.to_markdown().contains("- approval_refused: "));
}
