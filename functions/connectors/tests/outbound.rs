//! The outbound operations against local HTTP peers (wiremock) standing in for each vendor:
//! the exact requests each vendor documents, retries, a vendor down for good while the others
//! deliver, the circuit breaker on the test clock, and approval requests that never leak the
//! task token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::decision::Mode;
use argus::incident::{AuditKind, IncidentStatus, TaskToken};
use connectors::delivery::{BreakerPolicy, BreakerPosition, DeliveryError, HttpRequest, Method};
use connectors::outbound::approval::approval_id;
use connectors::outbound::channels::{
    ApprovalLinks, Channels, Confluence, GitHub, Jira, PagerDuty, ServiceNow, Slack, Teams,
};
use connectors::outbound::tickets::ticket_label;
use connectors::outbound::{ConnectorError, OperationReport};
use connectors::secrets::{SecretValue, names};
use connectors::signing::{SigningKey, verify_link};
use serde_json::{Value, json};
use support::{PRINCIPAL, RESOURCE, fixture, operation_payload, records_of, secrets};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SLACK_WEBHOOK_PATH: &str = "/services/T000/B000/XXXX";
const TEAMS_WEBHOOK_PATH: &str = "/webhookb2/argus/IncomingWebhook/abc";
const ROUTING_KEY: &str = "R0UT1NGKEY0000000000000000000000";

fn webhook_channels(server: &MockServer) -> Channels {
    Channels {
        slack: Some(Slack::Webhook {
            url: SecretValue::new(format!("{}{SLACK_WEBHOOK_PATH}", server.uri())),
        }),
        teams: Some(Teams {
            webhook_url: SecretValue::new(format!("{}{TEAMS_WEBHOOK_PATH}", server.uri())),
        }),
        ..Channels::default()
    }
}

async fn requests_to(server: &MockServer, request_path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path() == request_path)
        .collect()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

// ---------------------------------------------------------------- notify

#[tokio::test]
async fn an_advisory_goes_to_the_topic_slack_and_teams_and_each_delivery_is_audited() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TEAMS_WEBHOOK_PATH))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(1)
        .mount(&server)
        .await;
    let outbound = fixture.outbound(webhook_channels(&server), Config::default(), secrets(&[]));
    let id = fixture.id().to_string();

    let report = outbound
        .handle(&operation_payload(
            "notify",
            &id,
            json!({"kind": "advisory"}),
        ))
        .await
        .unwrap();

    let mut channels: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["slack", "sns", "teams"]);
    assert!(report.failed.is_empty());
    // Slack: text fallback and Block Kit with the facts an on-call person needs.
    let slack: Value = requests_to(&server, SLACK_WEBHOOK_PATH).await[0]
        .body_json()
        .unwrap();
    assert!(slack["text"].as_str().unwrap().contains("[Argus SEV7]"));
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let all_text = slack.to_string();
    for expected in [
        RESOURCE,
        "Severity*\\n7/10 (high)",
        "82%",
        "2 of 3 attempts left",
        "The guest OS is hung",
        "StatusCheckFailed_Instance: 1 for 3 of the last 3 one-minute periods",
        "ec2.reboot",
        "Roll back",
        "recovery workflow",
    ] {
        assert!(
            all_text.contains(expected),
            "Slack message lacks {expected}: {all_text}"
        );
    }
    // Teams: an Adaptive Card in the message envelope incoming webhooks accept.
    let teams: Value = requests_to(&server, TEAMS_WEBHOOK_PATH).await[0]
        .body_json()
        .unwrap();
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert!(attachment["content"]["body"].to_string().contains(RESOURCE));
    assert_eq!(
        attachment["content"]["actions"][0]["type"],
        "Action.OpenUrl"
    );
    // SNS: an email-friendly subject and a plain-text story.
    let published = fixture.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].subject.starts_with("[Argus SEV7] "));
    assert!(published[0].subject.len() <= 100);
    for expected in [
        "What:",
        "Where:",
        "Severity:   7/10 (high)",
        "Plan:",
        "Roll back:",
        "Correlation id:",
    ] {
        assert!(
            published[0].body.contains(expected),
            "email lacks {expected}"
        );
    }
    // One audit record per channel, naming the operation and the channel.
    let delivered = records_of(&fixture.audit().await, AuditKind::ConnectorDelivered);
    assert_eq!(delivered.len(), 3);
    assert!(
        delivered
            .iter()
            .all(|data| data["operation"] == "notify" && data["kind"] == "advisory")
    );
}

#[tokio::test]
async fn the_slack_bot_posts_block_kit_with_its_token_and_reports_the_message_ts() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(
            json!({"channel": "C0123OPS", "unfurl_links": false}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C0123OPS", "ts": "1700000000.000100"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channels = Channels {
        slack: Some(Slack::Bot {
            api_url: format!("{}/api", server.uri()),
            token: SecretValue::new("xoxb-test-token"),
            channel: "C0123OPS".into(),
        }),
        ..Channels::default()
    };
    let mut outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    outbound.topic = None;
    let report = outbound
        .handle(&operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "advisory"}),
        ))
        .await
        .unwrap();
    assert_eq!(report.delivered[0].channel, "slack");
    assert_eq!(
        report.delivered[0].external_id.as_deref(),
        Some("1700000000.000100")
    );
    let body: Value = requests_to(&server, "/api/chat.postMessage").await[0]
        .body_json()
        .unwrap();
    assert!(body["blocks"].as_array().unwrap().len() >= 4);
    assert!(body["text"].as_str().unwrap().contains(RESOURCE));
}

#[tokio::test]
async fn a_slack_web_api_error_answered_with_200_is_a_failure() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&server)
        .await;
    let channels = Channels {
        slack: Some(Slack::Bot {
            api_url: format!("{}/api", server.uri()),
            token: SecretValue::new("xoxb-test-token"),
            channel: "C404".into(),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    let report = outbound
        .handle(&operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "advisory"}),
        ))
        .await
        .unwrap();
    assert_eq!(report.delivered.len(), 1, "the topic still delivered");
    assert_eq!(report.failed[0].channel, "slack");
    assert_eq!(report.failed[0].error_type, "ChannelRefused");
    assert!(report.failed[0].message.contains("channel_not_found"));
}

// ---------------------------------------------------------------- retries and outages

#[tokio::test]
async fn a_throttling_vendor_is_retried_after_its_retry_after_while_a_dead_one_fails_alone() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    // Slack: 429 with Retry-After once, then 200.
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    // Teams: down for good.
    Mock::given(method("POST"))
        .and(path(TEAMS_WEBHOOK_PATH))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"message": "Service Unavailable"})),
        )
        .mount(&server)
        .await;
    // PagerDuty resolve: refused connections (nothing listens on the port).
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut channels = webhook_channels(&server);
    channels.pagerduty = Some(PagerDuty {
        events_url: format!("http://127.0.0.1:{closed_port}/v2/enqueue"),
        routing_key: SecretValue::new(ROUTING_KEY),
    });
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    // The incident was paged before, so the outcome resolves the page.
    argus::incident::update_incident(&*fixture.store, &*fixture.clock, fixture.id(), None, |_| {
        vec![argus::incident::AuditEntry::new(
            "argus/connectors",
            AuditKind::ConnectorDelivered,
            "page: delivered to pagerduty",
            json!({"operation": "page", "channel": "pagerduty", "external_id": fixture.id().to_string()}),
        )]
    })
    .await
    .unwrap();
    fixture
        .settle(IncidentStatus::Resolved, "recovery verified", "RECOVERED")
        .await;

    let report = outbound
        .handle(&operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "outcome"}),
        ))
        .await
        .unwrap();

    let mut delivered: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, ["slack", "sns"]);
    let mut failed: Vec<(&str, &str)> = report
        .failed
        .iter()
        .map(|f| (f.channel.as_str(), f.error_type.as_str()))
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        [
            ("pagerduty", "ChannelUnreachable"),
            ("teams", "ChannelServerError")
        ]
    );
    assert_eq!(requests_to(&server, SLACK_WEBHOOK_PATH).await.len(), 2);
    assert_eq!(
        requests_to(&server, TEAMS_WEBHOOK_PATH).await.len(),
        3,
        "three attempts in all"
    );
    let waits = fixture.pause.waits.lock().unwrap().clone();
    assert!(
        waits.contains(&std::time::Duration::from_secs(2)),
        "Retry-After honoured: {waits:?}"
    );
    // Teams' two 5xx retries and PagerDuty's two transport retries wait a jittered backoff:
    // between half and all of 100 ms, then of 200 ms.
    let backoffs: Vec<_> = waits
        .iter()
        .filter(|wait| **wait != std::time::Duration::from_secs(2))
        .collect();
    assert_eq!(backoffs.len(), 4, "{waits:?}");
    assert!(
        backoffs.iter().all(|wait| {
            (std::time::Duration::from_millis(50)..=std::time::Duration::from_millis(200))
                .contains(*wait)
        }),
        "{waits:?}"
    );
    // The failures are in the audit trail, with the vendor's words and no secret.
    let failures = records_of(&fixture.audit().await, AuditKind::ConnectorFailed);
    assert_eq!(failures.len(), 2);
    let teams = failures
        .iter()
        .find(|data| data["channel"] == "teams")
        .unwrap();
    assert_eq!(teams["error_type"], "ChannelServerError");
    assert!(teams["message"].as_str().unwrap().contains("HTTP 503"));
    let trail = serde_json::to_string(&fixture.audit().await).unwrap();
    assert!(!trail.contains(ROUTING_KEY));
    assert!(!trail.contains(SLACK_WEBHOOK_PATH) && !trail.contains(TEAMS_WEBHOOK_PATH));
    // And the outcome notification says what happened.
    let published = fixture.published();
    assert!(
        published[0]
            .body
            .contains("Resolved: Argus verified the recovery.")
    );
    assert!(published[0].body.contains("verification: RECOVERED"));
}

#[tokio::test]
async fn a_slow_vendor_times_out_without_holding_up_the_others() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TEAMS_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut outbound = fixture.outbound(webhook_channels(&server), Config::default(), secrets(&[]));
    outbound.delivery = connectors::delivery::Delivery::new(
        connectors::delivery::RetryPolicy {
            timeout: std::time::Duration::from_millis(300),
            max_attempts: 2,
            ..support::test_retry()
        },
        BreakerPolicy::default(),
        fixture.clock.clone(),
        fixture.pause.clone(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let report = outbound
        .handle(&operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "advisory"}),
        ))
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the slow vendor held the operation for {:?}",
        started.elapsed()
    );
    let mut delivered: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, ["slack", "sns"]);
    assert_eq!(report.failed[0].channel, "teams");
    assert_eq!(report.failed[0].error_type, "ChannelTimeout");
}

#[tokio::test]
async fn an_http_date_retry_after_is_measured_against_the_clock_and_capped() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    let at = argus::ports::Clock::now(&*fixture.clock) + chrono::Duration::seconds(5);
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", httpdate::fmt_http_date(at.into())),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let delivery = fixture.delivery(BreakerPolicy::default());
    let request = HttpRequest::new(Method::POST, format!("{}/hook", server.uri())).json(json!({}));
    let response = delivery.send("test", &request).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        fixture.pause.waits.lock().unwrap().clone(),
        [
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(10)
        ],
        "an HTTP date becomes a wait; an hour is capped at max_retry_after"
    );
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_outages_and_half_opens_after_the_cool_down() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let delivery = fixture.delivery(BreakerPolicy {
        failure_threshold: 2,
        cool_down: chrono::Duration::seconds(60),
    });
    let request = HttpRequest::new(Method::POST, format!("{}/down", server.uri())).json(json!({}));
    for _ in 0..2 {
        let error = delivery.send("teams", &request).await.unwrap_err();
        assert_eq!(error.error_type(), "ChannelServerError");
    }
    assert_eq!(delivery.breaker_position("teams"), BreakerPosition::Open);
    let calls_before = server.received_requests().await.unwrap().len();
    let error = delivery.send("teams", &request).await.unwrap_err();
    assert!(
        matches!(error, DeliveryError::CircuitOpen { .. }),
        "{error:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        calls_before,
        "an open breaker calls nobody"
    );
    // Other channels are not affected.
    assert_eq!(delivery.breaker_position("slack"), BreakerPosition::Closed);

    // After the cool-down one trial goes through; it fails, so the breaker opens again.
    fixture.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        delivery.breaker_position("teams"),
        BreakerPosition::HalfOpen
    );
    assert_eq!(
        delivery
            .send("teams", &request)
            .await
            .unwrap_err()
            .error_type(),
        "ChannelServerError"
    );
    assert_eq!(delivery.breaker_position("teams"), BreakerPosition::Open);

    // The vendor recovers: the next trial succeeds and closes the breaker.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    fixture.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(delivery.send("teams", &request).await.unwrap().status, 200);
    assert_eq!(delivery.breaker_position("teams"), BreakerPosition::Closed);
}

#[tokio::test]
async fn a_refused_request_does_not_open_the_breaker() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bad"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"message": "Problems parsing JSON"})),
        )
        .expect(3)
        .mount(&server)
        .await;
    let delivery = fixture.delivery(BreakerPolicy {
        failure_threshold: 1,
        cool_down: chrono::Duration::seconds(60),
    });
    let request = HttpRequest::new(Method::POST, format!("{}/bad", server.uri())).json(json!({}));
    for _ in 0..3 {
        let error = delivery.send("github", &request).await.unwrap_err();
        assert_eq!(error.error_type(), "ChannelRefused", "a 4xx is not retried");
        assert!(error.to_string().contains("Problems parsing JSON"));
    }
    assert_eq!(delivery.breaker_position("github"), BreakerPosition::Closed);
}

// ---------------------------------------------------------------- page

#[tokio::test]
async fn a_page_is_a_pagerduty_v2_trigger_keyed_by_the_correlation_id() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    let id = fixture.id().to_string();
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": id,
            "payload": {"source": RESOURCE, "severity": "error", "class": "availability", "group": "123456789012", "component": "ec2:instance"},
            "client": "Argus",
        })))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"status": "success", "message": "Event processed", "dedup_key": id})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channels = Channels {
        pagerduty: Some(PagerDuty {
            events_url: format!("{}/v2/enqueue", server.uri()),
            routing_key: SecretValue::new(ROUTING_KEY),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    let report = outbound
        .handle(&operation_payload("page", &id, json!({})))
        .await
        .unwrap();
    assert_eq!(report.delivered[0].channel, "pagerduty");
    assert_eq!(
        report.delivered[0].external_id.as_deref(),
        Some(id.as_str())
    );
    let body: Value = requests_to(&server, "/v2/enqueue").await[0]
        .body_json()
        .unwrap();
    let summary = body["payload"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("[Argus SEV7]") && summary.contains(RESOURCE),
        "{summary}"
    );
    assert!(
        body["payload"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(body["payload"]["custom_details"]["correlation_id"], id);
    assert_eq!(
        body["payload"]["custom_details"]["hypotheses"][0]["likelihood"],
        0.7
    );
    assert!(
        body["links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("console.aws.amazon.com/states")
    );
    assert!(
        fixture.published().is_empty(),
        "with PagerDuty on, nothing else is sent"
    );
}

#[tokio::test]
async fn without_pagerduty_an_escalation_still_reaches_people() {
    let fixture = fixture(Mode::Approval).await;
    let outbound = fixture.outbound(Channels::default(), Config::default(), secrets(&[]));
    let report = outbound
        .handle(&operation_payload(
            "page",
            &fixture.id().to_string(),
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(report.delivered[0].channel, "sns");
    assert!(
        fixture.published()[0]
            .body
            .starts_with("ESCALATION: on-call attention needed")
    );
}

// ---------------------------------------------------------------- tickets

fn ticket_channels(server: &MockServer) -> Channels {
    Channels {
        servicenow: Some(ServiceNow {
            base_url: server.uri(),
            username: SecretValue::new("argus.integration"),
            password: SecretValue::new("sn-password-1"),
        }),
        jira: Some(Jira {
            base_url: server.uri(),
            project: "OPS".into(),
            issue_type: "Task".into(),
            email: SecretValue::new("argus@example.com"),
            api_token: SecretValue::new("jira-token-1"),
        }),
        github: Some(GitHub {
            api_url: server.uri(),
            repository: "example/ops".into(),
            token: SecretValue::new("ghp_testtoken1"),
        }),
        ..Channels::default()
    }
}

#[tokio::test]
async fn open_ticket_searches_then_creates_in_servicenow_jira_and_github() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    let id = fixture.id().to_string();
    let label = ticket_label(&id);
    // ServiceNow: nothing with this correlation id yet, then the created incident.
    Mock::given(method("GET"))
        .and(path("/api/now/table/incident"))
        .and(query_param(
            "sysparm_query",
            format!("correlation_id={id}^ORDERBYDESCsys_created_on"),
        ))
        .and(query_param("sysparm_limit", "1"))
        .and(header(
            "authorization",
            basic("argus.integration", "sn-password-1").as_str(),
        ))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/now/table/incident"))
        .and(header("authorization", basic("argus.integration", "sn-password-1").as_str()))
        .and(body_partial_json(json!({"correlation_id": id, "correlation_display": "Argus", "urgency": "2", "impact": "2"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"result": {"sys_id": "a1b2c3", "number": "INC0010001"}})))
        .expect(1)
        .mount(&server)
        .await;
    // Jira: JQL search by label, then the issue.
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(header("authorization", basic("argus@example.com", "jira-token-1").as_str()))
        .and(body_partial_json(json!({"jql": format!("project = \"OPS\" AND labels = \"{label}\" ORDER BY created DESC"), "maxResults": 1})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(header("authorization", basic("argus@example.com", "jira-token-1").as_str()))
        .and(body_partial_json(json!({"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "labels": ["argus", label], "description": {"type": "doc", "version": 1}}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "10001", "key": "OPS-17", "self": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    // GitHub: list by label, then the issue.
    Mock::given(method("GET"))
        .and(path("/repos/example/ops/issues"))
        .and(query_param("labels", label.as_str()))
        .and(query_param("state", "all"))
        .and(header("authorization", "Bearer ghp_testtoken1"))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/example/ops/issues"))
        .and(header("authorization", "Bearer ghp_testtoken1"))
        .and(body_partial_json(json!({"labels": ["argus", label]})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"number": 42, "html_url": "x"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let outbound = fixture.outbound(ticket_channels(&server), Config::default(), secrets(&[]));

    let report = outbound
        .handle(&operation_payload("open_ticket", &id, json!({})))
        .await
        .unwrap();

    let mut delivered: Vec<(String, Option<String>)> = report
        .delivered
        .iter()
        .map(|d| (d.channel.clone(), d.external_id.clone()))
        .collect();
    delivered.sort();
    assert_eq!(
        delivered,
        [
            ("github".to_string(), Some("example/ops#42".to_string())),
            ("jira".to_string(), Some("OPS-17".to_string())),
            ("servicenow".to_string(), Some("INC0010001".to_string())),
        ]
    );
    let sn: Value = requests_to(&server, "/api/now/table/incident")
        .await
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap()
        .body_json()
        .unwrap();
    assert!(
        sn["short_description"]
            .as_str()
            .unwrap()
            .starts_with("[Argus SEV7]")
    );
    assert!(
        sn["description"]
            .as_str()
            .unwrap()
            .contains("Why Argus thinks so")
    );
    let github: Value = requests_to(&server, "/repos/example/ops/issues")
        .await
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap()
        .body_json()
        .unwrap();
    assert!(github["body"].as_str().unwrap().contains("### Hypotheses"));
    // External ids are in the audit trail.
    let delivered = records_of(&fixture.audit().await, AuditKind::ConnectorDelivered);
    let ids: Vec<&str> = delivered
        .iter()
        .filter_map(|d| d["external_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"INC0010001") && ids.contains(&"OPS-17") && ids.contains(&"example/ops#42")
    );
}

#[tokio::test]
async fn a_retried_open_ticket_updates_the_existing_tickets_instead_of_duplicating() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    let id = fixture.id().to_string();
    Mock::given(method("GET"))
        .and(path("/api/now/table/incident"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"result": [{"sys_id": "a1b2c3", "number": "INC0010001", "state": "1"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/now/table/incident/a1b2c3"))
        .and(header(
            "authorization",
            basic("argus.integration", "sn-password-1").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"result": {"sys_id": "a1b2c3"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"issues": [{"id": "10001", "key": "OPS-17"}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/OPS-17/comment"))
        .and(body_partial_json(
            json!({"body": {"type": "doc", "version": 1}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/example/ops/issues"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"number": 42, "state": "open"}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/example/ops/issues/42/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    // Nothing may be created.
    for create in ["/rest/api/3/issue", "/repos/example/ops/issues"] {
        Mock::given(method("POST"))
            .and(path(create))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
    }
    let outbound = fixture.outbound(ticket_channels(&server), Config::default(), secrets(&[]));
    let report = outbound
        .handle(&operation_payload("open_ticket", &id, json!({})))
        .await
        .unwrap();
    assert_eq!(report.delivered.len(), 3, "{report:?}");
    let patch: Value = requests_to(&server, "/api/now/table/incident/a1b2c3").await[0]
        .body_json()
        .unwrap();
    assert!(
        patch["work_notes"]
            .as_str()
            .unwrap()
            .contains("Argus saw this incident again")
    );
    assert!(
        patch.get("state").is_none(),
        "opening again does not resolve"
    );
}

#[tokio::test]
async fn a_resolved_outcome_resolves_tickets_and_the_page() {
    let fixture = fixture(Mode::Auto).await;
    let server = MockServer::start().await;
    let id = fixture.id().to_string();
    Mock::given(method("GET"))
        .and(path("/api/now/table/incident"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": [{"sys_id": "a1b2c3", "number": "INC0010001"}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/now/table/incident/a1b2c3"))
        .and(body_partial_json(
            json!({"state": "6", "close_code": "Solved (Permanently)"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": {}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"issues": [{"key": "OPS-17"}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/OPS-17/comment"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/OPS-17/transitions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"transitions": [
            {"id": "11", "name": "In Progress", "to": {"statusCategory": {"key": "indeterminate"}}},
            {"id": "31", "name": "Done", "to": {"statusCategory": {"key": "done"}}},
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/OPS-17/transitions"))
        .and(body_partial_json(json!({"transition": {"id": "31"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/example/ops/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"number": 42}])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/example/ops/issues/42/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/example/ops/issues/42"))
        .and(body_partial_json(
            json!({"state": "closed", "state_reason": "completed"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"number": 42})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(
            json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": id}),
        ))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"status": "success", "dedup_key": id})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(
            json!({"event_action": "trigger", "dedup_key": id}),
        ))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"status": "success", "dedup_key": id})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut channels = ticket_channels(&server);
    channels.pagerduty = Some(PagerDuty {
        events_url: format!("{}/v2/enqueue", server.uri()),
        routing_key: SecretValue::new(ROUTING_KEY),
    });
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    let paged = outbound
        .handle(&operation_payload("page", &id, json!({})))
        .await
        .unwrap();
    assert_eq!(paged.delivered[0].channel, "pagerduty");
    fixture
        .settle(IncidentStatus::Resolved, "recovery verified", "RECOVERED")
        .await;

    let report = outbound
        .handle(&operation_payload(
            "notify",
            &id,
            json!({"kind": "outcome"}),
        ))
        .await
        .unwrap();
    let mut delivered: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        ["github", "jira", "pagerduty", "servicenow", "sns"],
        "{report:?}"
    );
    let comment: Value = requests_to(&server, "/repos/example/ops/issues/42/comments").await[0]
        .body_json()
        .unwrap();
    assert!(
        comment["body"]
            .as_str()
            .unwrap()
            .contains("recovered 7m 0s after detection"),
        "{comment}"
    );
}

#[tokio::test]
async fn an_escalated_outcome_comments_without_resolving_and_leaves_the_page_open() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/example/ops/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"number": 42}])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/example/ops/issues/42/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/example/ops/issues/42"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let channels = Channels {
        github: ticket_channels(&server).github,
        pagerduty: Some(PagerDuty {
            events_url: format!("{}/v2/enqueue", server.uri()),
            routing_key: SecretValue::new(ROUTING_KEY),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    fixture
        .settle(
            IncidentStatus::Escalated,
            "escalated to on-call (verification: STILL_FAILING)",
            "STILL_FAILING",
        )
        .await;
    let report = outbound
        .handle(&operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "outcome"}),
        ))
        .await
        .unwrap();
    let delivered: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    assert!(
        delivered.contains(&"github") && !delivered.contains(&"pagerduty"),
        "{report:?}"
    );
    assert!(requests_to(&server, "/v2/enqueue").await.is_empty());
}

// ---------------------------------------------------------------- request_approval

const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAcanaryTaskToken+/=9f8e7d6c5b4a";
const LINK_KEY: &str = "approval-link-key-for-tests";

fn approval_config() -> Config {
    let mut config = Config::default();
    config.approvals.low = vec!["email:alice@example.com".into(), "slack:U024BE7LH".into()];
    config.approvals.high = vec!["email:bob@example.com".into()];
    config.approvals.link_ttl_seconds = 1800;
    config
}

#[tokio::test]
async fn an_approval_request_records_the_approval_and_asks_on_slack_and_by_email_without_the_token()
{
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let mut channels = webhook_channels(&server);
    channels.teams = None;
    channels.approval_links = Some(ApprovalLinks {
        base_url: "https://argus.example.com/".into(),
        key: SigningKey::new(LINK_KEY.as_bytes().to_vec()),
    });
    let outbound = fixture.outbound(
        channels,
        approval_config(),
        secrets(&[(names::APPROVAL_LINK_KEY, LINK_KEY)]),
    );
    let id = fixture.id().to_string();
    let request = operation_payload("request_approval", &id, json!({"task_token": TASK_TOKEN}));

    let report = outbound.handle(&request).await.unwrap();

    // Slack plus one email per email approver allowed for a low-risk action (alice, and bob
    // from the high list).
    let mut delivered: Vec<&str> = report
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, ["email", "email", "slack"]);
    let incident = fixture.current().await;
    let approval = incident.approval.clone().unwrap();
    assert_eq!(approval.id, approval_id(&TaskToken::new(TASK_TOKEN)));
    // The incident's document (what every index projects) withholds the token; it is kept
    // apart, for where an answer is sent.
    assert_eq!(
        approval.task_token.expose(),
        argus::store::approval_token::WITHHELD
    );
    let kept = fixture
        .store
        .approval_token(fixture.id(), &approval.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.expose(), TASK_TOKEN);
    assert_eq!(approval.requested_by, PRINCIPAL);
    assert_eq!(
        approval.expires_at - approval.requested_at,
        chrono::Duration::seconds(1800)
    );
    assert_eq!(incident.status, IncidentStatus::AwaitingApproval);

    // Buttons carry the approval id, nothing else: the answer is the button's action id.
    let slack: Value = requests_to(&server, SLACK_WEBHOOK_PATH).await[0]
        .body_json()
        .unwrap();
    let actions = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "actions")
        .unwrap();
    let values: Vec<Value> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|button| serde_json::from_str(button["value"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(values[0], json!({"incident": id, "approval": approval.id}));
    assert_eq!(values[1], json!({"incident": id, "approval": approval.id}));
    assert_eq!(actions["elements"][0]["action_id"], "argus_approve");
    assert_eq!(actions["elements"][1]["action_id"], "argus_reject");
    let slack_text = slack.to_string();
    for expected in [
        "ec2.reboot",
        "Risk:* low",
        "Roll back",
        "82%",
        "2 of 3 attempts left",
        "The guest OS is hung",
    ] {
        assert!(
            slack_text.contains(expected),
            "approval message lacks {expected}"
        );
    }

    // Emails: one per approver, each with links only that approver can answer with.
    let key = SigningKey::new(LINK_KEY.as_bytes().to_vec());
    let now = argus::ports::Clock::now(&*fixture.clock);
    let emails = fixture.published();
    assert_eq!(emails.len(), 2);
    for email in &emails {
        let approver = email
            .attributes
            .iter()
            .find(|(name, _)| name == "approver")
            .map(|(_, value)| format!("email:{value}"))
            .unwrap();
        let links: Vec<&str> = email
            .body
            .split_whitespace()
            .filter(|word| word.starts_with("https://argus.example.com/approvals?t="))
            .collect();
        assert_eq!(links.len(), 2, "{}", email.body);
        for (link, approve) in links.iter().zip([true, false]) {
            let token = link.trim_start_matches("https://argus.example.com/approvals?t=");
            let claims = verify_link(&key, token, now).unwrap();
            assert_eq!(claims.approver, approver);
            assert_eq!(claims.approval, approval.id);
            assert_eq!(claims.incident, id);
            assert_eq!(claims.approve, approve);
            assert_eq!(claims.expires, approval.expires_at.timestamp());
        }
    }

    // The token is nowhere but in the incident's pending approval.
    let canary = "canaryTaskToken";
    for request in server.received_requests().await.unwrap() {
        assert!(!request.url.as_str().contains(canary));
        assert!(!String::from_utf8_lossy(&request.body).contains(canary));
    }
    for email in &emails {
        assert!(!email.body.contains(canary) && !email.subject.contains(canary));
    }
    let trail = serde_json::to_string(&fixture.audit().await).unwrap();
    assert!(
        !trail.contains(canary),
        "the audit trail holds the task token"
    );
    let requested = records_of(&fixture.audit().await, AuditKind::ApprovalRequested);
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["requested_by"], PRINCIPAL);
    assert_eq!(requested[0]["action"], "ec2.reboot");

    // A retried call reuses the approval and records no second request.
    outbound.handle(&request).await.unwrap();
    let again = fixture.current().await.approval.unwrap();
    assert_eq!(again.id, approval.id);
    assert_eq!(again.expires_at, approval.expires_at);
    assert_eq!(
        records_of(&fixture.audit().await, AuditKind::ApprovalRequested).len(),
        1
    );
    // ... and does not ask the same people twice.
    assert_eq!(fixture.published().len(), 2, "the emails went out once");
}

#[tokio::test]
async fn a_retried_notification_does_not_send_the_same_message_twice() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TEAMS_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let outbound = fixture.outbound(webhook_channels(&server), Config::default(), secrets(&[]));
    let request = operation_payload(
        "notify",
        &fixture.id().to_string(),
        json!({"kind": "advisory"}),
    );
    let first = outbound.handle(&request).await.unwrap();
    assert_eq!(first.delivered.len(), 2);
    let second = outbound.handle(&request).await.unwrap();
    let mut delivered: Vec<&str> = second
        .delivered
        .iter()
        .map(|d| d.channel.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        ["slack", "sns"],
        "reported as delivered, not sent again"
    );
    assert_eq!(
        second.failed[0].channel, "teams",
        "the failed channel is tried again"
    );
    assert_eq!(fixture.published().len(), 1);
    assert_eq!(requests_to(&server, SLACK_WEBHOOK_PATH).await.len(), 1);
    assert_eq!(requests_to(&server, TEAMS_WEBHOOK_PATH).await.len(), 6);
    // Another kind of notification for the same execution is a new message.
    let outcome = operation_payload(
        "notify",
        &fixture.id().to_string(),
        json!({"kind": "outcome"}),
    );
    outbound.handle(&outcome).await.unwrap();
    assert_eq!(fixture.published().len(), 2);
    assert_eq!(requests_to(&server, SLACK_WEBHOOK_PATH).await.len(), 2);
}

#[tokio::test]
async fn an_approval_request_that_reaches_nobody_fails_closed() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut channels = webhook_channels(&server);
    channels.teams = None;
    // Email approvers exist, but links cannot be signed (no key): email fails too.
    let outbound = fixture.outbound(channels, approval_config(), secrets(&[]));
    let error = outbound
        .handle(&operation_payload(
            "request_approval",
            &fixture.id().to_string(),
            json!({"task_token": TASK_TOKEN}),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "ApprovalNotDelivered");
    assert!(matches!(error, ConnectorError::ApprovalNotDelivered { .. }));
    let failures = records_of(&fixture.audit().await, AuditKind::ConnectorFailed);
    let mut failed: Vec<&str> = failures
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(failed, ["email", "email", "slack"]);
    assert!(!error.to_string().contains("canaryTaskToken"));
}

#[tokio::test]
async fn an_approval_with_no_channel_at_all_fails_closed() {
    let fixture = fixture(Mode::Approval).await;
    let mut outbound = fixture.outbound(Channels::default(), Config::default(), secrets(&[]));
    outbound.topic = None;
    let error = outbound
        .handle(&operation_payload(
            "request_approval",
            &fixture.id().to_string(),
            json!({"task_token": TASK_TOKEN}),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "ApprovalNotDelivered");
}

// ---------------------------------------------------------------- requests and errors

#[tokio::test]
async fn bad_requests_and_unknown_incidents_have_stable_error_types() {
    let fixture = fixture(Mode::Advisory).await;
    let outbound = fixture.outbound(Channels::default(), Config::default(), secrets(&[]));
    let id = fixture.id().to_string();
    let cases = [
        (
            json!({"operation": "dance", "correlation_id": id}),
            "InvalidRequest",
        ),
        (
            json!({"operation": "notify", "correlation_id": id}),
            "InvalidRequest",
        ),
        (
            json!({"operation": "notify", "correlation_id": id, "kind": "gossip"}),
            "InvalidRequest",
        ),
        (
            json!({"operation": "request_approval", "correlation_id": id}),
            "InvalidRequest",
        ),
        (json!({"correlation_id": id}), "InvalidRequest"),
        (
            json!({"operation": "page", "correlation_id": "not an id"}),
            "InvalidRequest",
        ),
        (
            json!({"operation": "page", "correlation_id": "20261122T060000Z-x-0123456789ab"}),
            "IncidentNotFound",
        ),
    ];
    for (request, expected) in cases {
        let error = outbound.handle(&request).await.unwrap_err();
        assert_eq!(error.error_type(), expected, "{request}");
    }
    let handled = connectors::handler::handle(
        &outbound,
        json!({"operation": "dance", "correlation_id": id}),
    )
    .await
    .unwrap_err();
    assert_eq!(handled.error_type, "InvalidRequest");
}

#[tokio::test]
async fn the_answer_lists_what_was_delivered_and_what_failed() {
    let fixture = fixture(Mode::Advisory).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TEAMS_WEBHOOK_PATH))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_string("webhook https://hooks.example/secret-path not found"),
        )
        .mount(&server)
        .await;
    let mut channels = webhook_channels(&server);
    channels.slack = None;
    let teams_url = format!("{}{TEAMS_WEBHOOK_PATH}", server.uri());
    channels.teams = Some(Teams {
        webhook_url: SecretValue::new(teams_url.clone()),
    });
    let outbound = fixture.outbound(
        channels,
        Config::default(),
        secrets(&[(
            names::TEAMS_WEBHOOK_URL,
            "https://hooks.example/secret-path",
        )]),
    );
    let answer = connectors::handler::handle(
        &outbound,
        operation_payload(
            "notify",
            &fixture.id().to_string(),
            json!({"kind": "advisory"}),
        ),
    )
    .await
    .unwrap();
    let report: OperationReport = serde_json::from_value(answer.clone()).unwrap();
    assert_eq!(report.delivered.len(), 1);
    assert_eq!(answer["failed"][0]["channel"], "teams");
    assert_eq!(answer["failed"][0]["error_type"], "ChannelRefused");
    let message = answer["failed"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("<redacted:teams_webhook_url>"),
        "{message}"
    );
    assert!(
        !serde_json::to_string(&fixture.audit().await)
            .unwrap()
            .contains("secret-path")
    );
}

// ---------------------------------------------------------------- post-mortems

#[tokio::test]
async fn a_postmortem_goes_to_s3_by_date_and_to_a_confluence_page_created_then_updated() {
    let fixture = fixture(Mode::Auto).await;
    let server = MockServer::start().await;
    let incident = fixture.current().await;
    let title = format!("Post-mortem: {} ({})", incident.title, incident.id);
    let auth = basic("argus@example.com", "confluence-token-1");
    Mock::given(method("GET"))
        .and(path("/wiki/rest/api/content"))
        .and(query_param("spaceKey", "OPS"))
        .and(query_param("title", title.as_str()))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [], "size": 0})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wiki/rest/api/content"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"results": [{"id": "98765", "title": title, "version": {"number": 3}}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/wiki/rest/api/content"))
        .and(header("authorization", auth.as_str()))
        .and(body_partial_json(json!({"type": "page", "title": title, "space": {"key": "OPS"}, "body": {"storage": {"representation": "storage"}}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "98765"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/wiki/rest/api/content/98765"))
        .and(body_partial_json(
            json!({"id": "98765", "type": "page", "version": {"number": 4}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "98765"})))
        .expect(1)
        .mount(&server)
        .await;
    let channels = Channels {
        confluence: Some(Confluence {
            base_url: format!("{}/wiki", server.uri()),
            space: "OPS".into(),
            email: SecretValue::new("argus@example.com"),
            api_token: SecretValue::new("confluence-token-1"),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(channels, Config::default(), secrets(&[]));
    let markdown = "# Post-mortem\n\n## Timeline\n\n- 06:00 detected\n";

    let report = outbound
        .publish_markdown(&incident, &title, markdown)
        .await
        .unwrap();
    let key = format!("postmortems/2026/11/22/{}.md", incident.id);
    assert!(report.delivered.iter().any(|d| d.channel == "s3"
        && d.external_id.as_deref() == Some(format!("s3://memory/{key}").as_str())));
    assert!(
        report
            .delivered
            .iter()
            .any(|d| d.channel == "confluence" && d.external_id.as_deref() == Some("98765"))
    );
    assert_eq!(
        fixture.archive.objects.lock().unwrap().clone(),
        [(key.clone(), markdown.to_string())]
    );
    let created: Value = requests_to(&server, "/wiki/rest/api/content")
        .await
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap()
        .body_json()
        .unwrap();
    assert!(
        created["body"]["storage"]["value"]
            .as_str()
            .unwrap()
            .contains("<h2>Timeline</h2>")
    );
    let published = records_of(&fixture.audit().await, AuditKind::PostmortemPublished);
    assert_eq!(published[0]["key"], key);

    // Publishing again updates the page (next version) and overwrites the object.
    outbound
        .publish_markdown(&incident, &title, markdown)
        .await
        .unwrap();
    assert_eq!(fixture.archive.objects.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn publish_postmortem_stores_the_generated_postmortem_under_its_date_and_id() {
    let fixture = fixture(Mode::Auto).await;
    fixture
        .settle(IncidentStatus::Resolved, "recovery verified", "RECOVERED")
        .await;
    let incident = fixture.current().await;
    let signals = fixture.store.signals(fixture.id()).await.unwrap();
    let history = fixture
        .patterns
        .signature_history(
            &incident.signature,
            Config::default().analysis.history_limit,
        )
        .await
        .unwrap();
    let expected = argus::postmortem::Postmortem::build(
        &incident,
        &fixture.audit().await,
        &signals,
        Some(&history),
    );
    let outbound = fixture.outbound(Channels::default(), Config::default(), secrets(&[]));

    let report = outbound
        .handle(&operation_payload(
            "publish_postmortem",
            &fixture.id().to_string(),
            json!({}),
        ))
        .await
        .unwrap();

    let key = format!("postmortems/2026/11/22/{}.md", fixture.id());
    assert_eq!(report.delivered[0].channel, "s3");
    let objects = fixture.archive.objects.lock().unwrap().clone();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].0, key);
    assert_eq!(objects[0].1, expected.to_markdown());
    assert!(objects[0].1.contains(&fixture.id().to_string()));
    let published = records_of(&fixture.audit().await, AuditKind::PostmortemPublished);
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["title"], expected.title());
}

#[tokio::test]
async fn no_approval_links_go_to_whoever_requested_the_action() {
    let fixture = fixture(Mode::Approval).await;
    let mut config = approval_config();
    config.approvals.identities.insert(
        PRINCIPAL.to_string(),
        vec!["email:alice@example.com".into()],
    );
    let channels = Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com".into(),
            key: SigningKey::new(LINK_KEY.as_bytes().to_vec()),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(channels, config, secrets(&[]));
    let report = outbound
        .handle(&operation_payload(
            "request_approval",
            &fixture.id().to_string(),
            json!({"task_token": TASK_TOKEN}),
        ))
        .await
        .unwrap();
    assert_eq!(report.delivered.len(), 1);
    let emails = fixture.published();
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]
            .attributes
            .contains(&("approver".to_string(), "bob@example.com".to_string()))
    );
}

// ---------------------------------------------------------------- per-approver delivery (issue 16)

/// How SNS applies the filter policies Terraform gives the incidents topic's subscriptions
/// (terraform/notifications.tf): an approver's subscription matches its own address in the
/// `approver` attribute; the general subscription matches only messages without one.
fn subscription_receives(subscriber: Option<&str>, attributes: &[(String, String)]) -> bool {
    let approver = attributes
        .iter()
        .find(|(name, _)| name == connectors::outbound::approval::APPROVER_ATTRIBUTE)
        .map(|(_, value)| value.as_str());
    match subscriber {
        Some(address) => approver == Some(address),
        None => approver.is_none(),
    }
}

#[tokio::test]
async fn two_approvers_each_get_only_their_own_links() {
    let fixture = fixture(Mode::Approval).await;
    let channels = Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com".into(),
            key: SigningKey::new(LINK_KEY.as_bytes().to_vec()),
        }),
        ..Channels::default()
    };
    let mut config = Config::default();
    // Listed as people write them: the attribute and Terraform's filters use one form.
    config.approvals.low = vec![
        " Email:Alice@Example.com".into(),
        "email:bob@example.com".into(),
    ];
    let outbound = fixture.outbound(
        channels,
        config,
        secrets(&[(names::APPROVAL_LINK_KEY, LINK_KEY)]),
    );
    let id = fixture.id().to_string();
    outbound
        .handle(&operation_payload(
            "request_approval",
            &id,
            json!({"task_token": TASK_TOKEN}),
        ))
        .await
        .unwrap();
    let key = SigningKey::new(LINK_KEY.as_bytes().to_vec());
    let now = argus::ports::Clock::now(&*fixture.clock);
    let emails = fixture.published();
    assert_eq!(emails.len(), 2);
    for (subscriber, identity) in [
        ("alice@example.com", "email:alice@example.com"),
        ("bob@example.com", "email:bob@example.com"),
    ] {
        let received: Vec<_> = emails
            .iter()
            .filter(|email| subscription_receives(Some(subscriber), &email.attributes))
            .collect();
        assert_eq!(
            received.len(),
            1,
            "{subscriber} receives {}",
            received.len()
        );
        for word in received[0].body.split_whitespace() {
            if let Some(token) = word.strip_prefix("https://argus.example.com/approvals?t=") {
                assert_eq!(verify_link(&key, token, now).unwrap().approver, identity);
            }
        }
    }
    // The incidents address (no filter on an approver) gets no approval links at all.
    assert!(
        !emails
            .iter()
            .any(|email| subscription_receives(None, &email.attributes))
    );
    // The deliveries name their recipients, which the endpoint checks links against.
    let recipients: Vec<String> = records_of(&fixture.audit().await, AuditKind::ConnectorDelivered)
        .iter()
        .filter_map(|data| data["recipient"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        recipients,
        ["email:alice@example.com", "email:bob@example.com"]
    );
}

#[tokio::test]
async fn an_approval_posted_by_the_slack_bot_records_its_channel_and_ts() {
    let fixture = fixture(Mode::Approval).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C0123OPS", "ts": "1700000000.000100"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channels = Channels {
        slack: Some(Slack::Bot {
            api_url: format!("{}/api", server.uri()),
            token: SecretValue::new("xoxb-test-token"),
            // Given by name; the answer's id is what the endpoint compares with.
            channel: "#ops".into(),
        }),
        ..Channels::default()
    };
    let mut outbound = fixture.outbound(channels, approval_config(), secrets(&[]));
    outbound.topic = None;
    let id = fixture.id().to_string();
    outbound
        .handle(&operation_payload(
            "request_approval",
            &id,
            json!({"task_token": TASK_TOKEN}),
        ))
        .await
        .unwrap();
    let delivered = records_of(&fixture.audit().await, AuditKind::ConnectorDelivered);
    let slack = delivered
        .iter()
        .find(|data| data["channel"] == "slack")
        .unwrap();
    assert_eq!(slack["operation"], "request_approval");
    assert_eq!(slack["message_channel"], "C0123OPS");
    assert_eq!(slack["external_id"], "1700000000.000100");
}
