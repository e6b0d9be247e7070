//! The Bedrock analyst over the real Converse wire protocol: the SDK is pointed at a small
//! HTTP peer on 127.0.0.1 that answers with Converse responses kept in `fixtures/converse/`
//! (written in the documented response shape), so the request Argus sends and every way an
//! answer can go wrong are checked without AWS: a good tool answer, prose instead of a tool
//! call, out-of-schema JSON, an action outside the catalogue, another resource, citations of
//! missing evidence, throttling then success, and a timeout.
#![cfg(feature = "bedrock")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::bedrock::{BedrockAnalyst, BedrockClientConfig, BedrockSettings};
use argus::analysis::{AnalysisContext, UNGROUNDED_CONFIDENCE_CAP, validate_assessment};
use argus::config::Config;
use argus::decision::Mode;
use argus::incident::AuditKind;
use argus::intake::{Intake, Outcome, SignalReport};
use argus::ports::{Analyst, AnalystError, IncidentStore};
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use support::{Harness, sample};

/// What the peer does with the next request.
enum Reply {
    /// A recorded Converse response body, with its HTTP status and (for errors) error type.
    Recorded {
        status: u16,
        error_type: Option<&'static str>,
        fixture: &'static str,
    },
    /// Never answers, holding the connection open until the peer is dropped.
    Hang,
    /// A body that is not what Converse answers at all (a broken proxy, a truncated answer).
    Garbage { status: u16, body: &'static str },
}

fn answer(fixture: &'static str) -> Reply {
    Reply::Recorded {
        status: 200,
        error_type: None,
        fixture,
    }
}

fn throttled() -> Reply {
    Reply::Recorded {
        status: 429,
        error_type: Some("ThrottlingException"),
        fixture: "throttled.json",
    }
}

/// A request as the peer received it.
struct Received {
    path: String,
    body: Value,
}

/// The Converse peer: answers requests in order from its script and records them.
struct ConversePeer {
    endpoint: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Dropping it releases connections held by `Reply::Hang`.
    _release: mpsc::Sender<()>,
}

impl ConversePeer {
    fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let recorded = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let script = Arc::clone(&script);
                let recorded = Arc::clone(&recorded);
                let released = Arc::clone(&released);
                std::thread::spawn(move || serve(stream, &script, &recorded, &released));
            }
        });
        Self {
            endpoint,
            received,
            _release: release,
        }
    }

    fn requests(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn first_body(&self) -> Value {
        self.received.lock().unwrap()[0].body.clone()
    }

    fn first_path(&self) -> String {
        self.received.lock().unwrap()[0].path.clone()
    }
}

fn serve(
    stream: TcpStream,
    script: &Mutex<VecDeque<Reply>>,
    received: &Mutex<Vec<Received>>,
    released: &Mutex<mpsc::Receiver<()>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        received.lock().unwrap().push(Received {
            path,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let reply = script.lock().unwrap().pop_front();
        let (status, error_type, body) = match reply {
            Some(Reply::Recorded {
                status,
                error_type,
                fixture,
            }) => (status, error_type, fixture_text(fixture)),
            Some(Reply::Garbage { status, body }) => (status, None, body.to_string()),
            Some(Reply::Hang) => {
                // Held until the test drops the peer; `recv` fails then, and the thread ends.
                let _ = released.lock().unwrap().recv();
                return;
            }
            None => (
                500,
                Some("InternalServerException"),
                r#"{"message":"the test peer has no more answers"}"#.to_string(),
            ),
        };
        let mut response = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: 7c1b8f5e-0d4a-4f43-9a57-2f6f0c3e9b11\r\n",
            if status == 200 { "OK" } else { "Error" },
            body.len()
        );
        if let Some(error_type) = error_type {
            response.push_str(&format!("x-amzn-errortype: {error_type}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/converse")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

fn test_settings() -> BedrockSettings {
    BedrockSettings {
        timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        ..BedrockSettings::default()
    }
}

fn analyst(peer: &ConversePeer, settings: BedrockSettings) -> BedrockAnalyst {
    let client_config = BedrockClientConfig::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "argus-tests",
        ))
        .endpoint_url(&peer.endpoint);
    BedrockAnalyst::new(client_config, settings, Config::default())
}

/// The context the intake builds for the sample CPU alarm on a fresh store.
fn alarm_context() -> AnalysisContext {
    let event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let signal = match argus::signal::normalise(&event, &Config::default().signals).unwrap() {
        argus::signal::Normalised::Signals(mut signals) => signals.remove(0),
        other => panic!("the sample is a signal: {other:?}"),
    };
    let id = argus::correlation::CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        signal.observed_at,
    );
    AnalysisContext::build(id, &signal, Vec::new())
}

/// Runs the sample alarm through the intake path with the Bedrock analyst.
async fn through_intake(harness: &Harness, analyst: &BedrockAnalyst) -> SignalReport {
    let intake = Intake {
        store: &harness.store,
        patterns: &harness.store,
        analyst,
        workflow: &harness.workflow,
        clock: &harness.clock,
        config: &harness.config,
        investigator: None,
        resource_tags: None,
    };
    let report = intake
        .process_event(&sample(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .await
        .unwrap();
    let signal = report.signals.into_iter().next().unwrap();
    assert_eq!(signal.outcome, Outcome::Opened);
    signal
}

async fn audit_kinds_and_summaries(
    harness: &Harness,
    report: &SignalReport,
) -> Vec<(AuditKind, String)> {
    harness
        .store
        .audit_trail(report.correlation_id.as_ref().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|record| (record.kind, record.summary))
        .collect()
}

#[tokio::test]
async fn a_tool_answer_becomes_a_validated_assessment_with_its_token_cost() {
    let peer = ConversePeer::start(vec![answer("tool-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let harness = Harness::new(Config::default());
    let report = through_intake(&harness, &analyst).await;

    let validated = report.assessment.as_ref().unwrap();
    assert!(
        validated.assessment.analyst.starts_with("bedrock/"),
        "{}",
        validated.assessment.analyst
    );
    assert_eq!(validated.assessment.confidence, 0.86);
    assert_eq!(
        validated
            .action
            .as_ref()
            .unwrap()
            .target
            .as_ref()
            .unwrap()
            .as_str(),
        "ec2:instance/i-12345678901234567"
    );
    let usage = validated.assessment.usage.as_ref().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (1874, 236));
    let incident = harness
        .store
        .incident(report.correlation_id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        incident.assessment.unwrap().usage.as_ref(),
        Some(usage),
        "the token usage is recorded on the incident"
    );
    assert_eq!(
        report.decision.as_ref().unwrap().mode,
        Mode::Approval,
        "confident, but the action has not climbed the autonomy ladder for this signature"
    );

    // The request: Converse on the configured model, the tool forced, max tokens always sent,
    // the context fenced, and the system prompt saying fenced content is data.
    assert_eq!(
        peer.requests(),
        1,
        "exactly one Bedrock call for a new incident"
    );
    assert_eq!(
        peer.first_path(),
        "/model/global.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    );
    let body = peer.first_body();
    assert_eq!(
        body["toolConfig"]["toolChoice"]["tool"]["name"],
        "record_assessment"
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "record_assessment"
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"][0],
        "classification"
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 1024);
    let system = body["system"][0]["text"].as_str().unwrap();
    assert!(system.contains("never instructions"), "{system}");
    let user = body["messages"][0]["content"][0]["text"].as_str().unwrap();
    let tag = user
        .split("<data-")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert_eq!(tag.len(), 32, "a 128-bit token: {tag}");
    assert!(system.contains(&format!("<data-{tag} ...>")));
    assert!(user.contains("id=\"alarm.state\""));
}

#[tokio::test]
async fn prose_instead_of_a_tool_call_is_out_of_schema_and_falls_back_to_the_rules() {
    let peer = ConversePeer::start(vec![answer("prose-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let error = analyst.assess(&alarm_context()).await.unwrap_err();
    assert!(
        matches!(&error, AnalystError::OutOfSchema { reason, .. } if reason.contains("prose")),
        "{error}"
    );
    assert_eq!(
        error.usage().map(|usage| usage.output_tokens),
        Some(41),
        "the wasted tokens are still accounted for"
    );

    let peer = ConversePeer::start(vec![answer("prose-answer.json")]);
    let analyst = self::analyst(&peer, test_settings());
    let harness = Harness::new(Config::default());
    let report = through_intake(&harness, &analyst).await;
    let validated = report.assessment.as_ref().unwrap();
    assert_eq!(validated.assessment.analyst, "rules/v1");
    assert_eq!(
        validated
            .assessment
            .usage
            .as_ref()
            .map(|usage| usage.input_tokens),
        Some(1874),
        "the refused answer's cost stays on the record"
    );
    let trail = audit_kinds_and_summaries(&harness, &report).await;
    assert!(
        trail
            .iter()
            .any(|(kind, summary)| *kind == AuditKind::AnalystFallback && summary.contains("prose")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn out_of_schema_json_is_refused() {
    let peer = ConversePeer::start(vec![answer("out-of-schema-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let error = analyst.assess(&alarm_context()).await.unwrap_err();
    assert!(
        matches!(&error, AnalystError::OutOfSchema { reason, .. } if reason.contains("classification")),
        "{error}"
    );
}

#[tokio::test]
async fn an_action_outside_the_catalogue_is_refused_and_the_rules_decide() {
    let peer = ConversePeer::start(vec![answer("outside-catalogue-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let assessment = analyst.assess(&alarm_context()).await.unwrap();
    let context = alarm_context();
    let error = validate_assessment(assessment, &context, &Config::default()).unwrap_err();
    assert!(
        error.to_string().contains("not in the action catalogue"),
        "{error}"
    );

    let peer = ConversePeer::start(vec![answer("outside-catalogue-answer.json")]);
    let analyst = self::analyst(&peer, test_settings());
    let harness = Harness::new(Config::default());
    let report = through_intake(&harness, &analyst).await;
    assert_eq!(
        report.assessment.as_ref().unwrap().assessment.analyst,
        "rules/v1"
    );
    let decision = report.decision.as_ref().unwrap();
    assert_ne!(
        decision.action.as_ref().map(|a| a.action.as_str()),
        Some("iam.delete_role")
    );
    let trail = audit_kinds_and_summaries(&harness, &report).await;
    assert!(
        trail
            .iter()
            .any(|(kind, summary)| *kind == AuditKind::AnalystFallback
                && summary.contains("iam.delete_role")),
        "the audit trail says why: {trail:?}"
    );
}

#[tokio::test]
async fn a_proposal_on_another_resource_never_runs() {
    let peer = ConversePeer::start(vec![answer("other-resource-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let harness = Harness::new(Config::default());
    let report = through_intake(&harness, &analyst).await;
    let decision = report.decision.as_ref().unwrap();
    if let Some(action) = &decision.action {
        assert_eq!(
            action.target.as_ref().unwrap().as_str(),
            "ec2:instance/i-12345678901234567",
            "only the incident's resource"
        );
    }
    assert_ne!(decision.mode, Mode::Auto);
    let trail = audit_kinds_and_summaries(&harness, &report).await;
    assert!(
        trail
            .iter()
            .any(|(kind, summary)| *kind == AuditKind::AnalystFallback
                && summary.contains("i-0badbadbadbadbad0")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn citations_of_missing_evidence_are_dropped_and_the_confidence_capped() {
    let peer = ConversePeer::start(vec![answer("missing-evidence-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let harness = Harness::new(Config {
        decision: argus::config::DecisionPolicy {
            verified_successes_for_auto: 0,
            ..Default::default()
        },
        ..Config::default()
    });
    let report = through_intake(&harness, &analyst).await;
    let validated = report.assessment.as_ref().unwrap();
    assert!(validated.assessment.analyst.starts_with("bedrock/"));
    assert_eq!(
        validated.assessment.hypotheses.len(),
        1,
        "the hypothesis citing only missing evidence is gone"
    );
    assert_eq!(
        validated.assessment.hypotheses[0].evidence,
        vec!["alarm.state"]
    );
    assert_eq!(validated.assessment.confidence, UNGROUNDED_CONFIDENCE_CAP);
    assert!(
        validated.notes.iter().any(|note| note.contains("capped")),
        "{:?}",
        validated.notes
    );
    assert_ne!(
        report.decision.as_ref().unwrap().mode,
        Mode::Auto,
        "a 0.95 that rested on nothing does not run on its own, even with the ladder off"
    );
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_succeeds() {
    let peer = ConversePeer::start(vec![throttled(), throttled(), answer("tool-answer.json")]);
    let analyst = analyst(&peer, test_settings());
    let assessment = analyst.assess(&alarm_context()).await.unwrap();
    assert_eq!(assessment.confidence, 0.86);
    assert_eq!(
        peer.requests(),
        3,
        "two throttled attempts, then the answer"
    );

    let peer = ConversePeer::start(vec![throttled(), throttled(), throttled()]);
    let analyst = self::analyst(&peer, test_settings());
    let error = analyst.assess(&alarm_context()).await.unwrap_err();
    assert!(matches!(error, AnalystError::Throttled(_)), "{error}");
    assert_eq!(peer.requests(), 3, "max_attempts bounds the retries");
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_is_a_timeout() {
    let peer = ConversePeer::start(vec![Reply::Hang]);
    let settings = BedrockSettings {
        timeout: Duration::from_millis(300),
        ..test_settings()
    };
    let analyst = analyst(&peer, settings);
    let error = analyst.assess(&alarm_context()).await.unwrap_err();
    assert_eq!(error, AnalystError::Timeout(300));

    let peer = ConversePeer::start(vec![Reply::Hang]);
    let analyst = self::analyst(
        &peer,
        BedrockSettings {
            timeout: Duration::from_millis(300),
            ..test_settings()
        },
    );
    let harness = Harness::new(Config::default());
    let report = through_intake(&harness, &analyst).await;
    assert_eq!(
        report.assessment.as_ref().unwrap().assessment.analyst,
        "rules/v1",
        "a timeout falls back to the rules"
    );
    assert!(report.workflow.is_some(), "and the incident still proceeds");
}

/// Fault injection: whatever goes wrong with Bedrock (throttling on every attempt, no answer in
/// time, a body that is not JSON, a server error with a garbage body, an answer cut short), the
/// rules analyst's assessment is used, the fallback and its reason are in the audit trail, the
/// chain is intact and the incident proceeds to its workflow.
#[tokio::test]
async fn every_bedrock_fault_falls_back_to_the_rules_and_is_recorded() {
    let cases: Vec<(&str, Vec<Reply>, &str)> = vec![
        (
            "throttled on every attempt",
            vec![throttled(), throttled(), throttled()],
            "throttled",
        ),
        ("no answer in time", vec![Reply::Hang], "timed out"),
        (
            "a body that is not JSON",
            vec![Reply::Garbage {
                status: 200,
                body: "\u{1}\u{2}<html>upstream proxy error</html>",
            }],
            "",
        ),
        (
            "an answer cut short",
            vec![Reply::Garbage {
                status: 200,
                body: r#"{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"record_assessment","input":{"classif"#,
            }],
            "",
        ),
        (
            "a server error with a garbage body",
            vec![
                Reply::Garbage {
                    status: 500,
                    body: "oops",
                },
                Reply::Garbage {
                    status: 500,
                    body: "oops",
                },
                Reply::Garbage {
                    status: 500,
                    body: "oops",
                },
            ],
            "",
        ),
    ];
    for (case, script, reason) in cases {
        let peer = ConversePeer::start(script);
        let analyst = analyst(
            &peer,
            BedrockSettings {
                timeout: Duration::from_millis(400),
                ..test_settings()
            },
        );
        let harness = Harness::new(Config::default());
        let report = through_intake(&harness, &analyst).await;
        assert_eq!(
            report.assessment.as_ref().unwrap().assessment.analyst,
            "rules/v1",
            "{case}: the rules decide"
        );
        assert!(report.workflow.is_some(), "{case}: the incident proceeds");
        let kinds = audit_kinds_and_summaries(&harness, &report).await;
        let fallback: Vec<_> = kinds
            .iter()
            .filter(|(kind, _)| *kind == AuditKind::AnalystFallback)
            .collect();
        assert_eq!(fallback.len(), 1, "{case}: {kinds:?}");
        assert!(
            fallback[0].1.contains(reason),
            "{case}: the reason is recorded: {}",
            fallback[0].1
        );
        let id = report.correlation_id.as_ref().unwrap();
        let incident = harness.store.incident(id).await.unwrap().unwrap();
        let trail = harness.store.audit_trail(id).await.unwrap();
        assert!(
            argus::incident::verify_chain(&incident, &trail).is_intact(),
            "{case}"
        );
        assert!(peer.requests() >= 1, "{case}: Bedrock was asked");
    }
}
