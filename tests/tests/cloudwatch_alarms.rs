//! The CloudWatch adapter of the reconciler's `AlarmSource` against a local DescribeAlarms peer
//! speaking the protocol this SDK version uses for CloudWatch: Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms`, CBOR bodies, the
//! `smithy-protocol: rpc-v2-cbor` header). moto does not serve that protocol, hence the peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::cloudwatch::CloudWatchAlarms;
use argus::reconcile::{AlarmSource, AlarmSourceError};
use argus_integration_tests::http_peer::{Action, HttpMessage, HttpPeer};
use argus_integration_tests::sdk_config;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use minicbor::data::{IanaTag, Tag, Token};
use std::time::Duration;

const OPERATION_PATH: &str = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";
const CPU_ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh";
const MATH_ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ErrorRateTooHigh";
const COMPOSITE_ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:CheckoutDegraded";

/// The request's top-level fields that matter here, read token by token.
#[derive(Debug, Default)]
struct DescribeAlarmsRequest {
    state_value: Option<String>,
    next_token: Option<String>,
    alarm_types: Vec<String>,
    max_records: Option<i64>,
}

fn read_request(body: &[u8]) -> DescribeAlarmsRequest {
    let tokens: Vec<Token> = minicbor::decode::Tokenizer::new(body)
        .collect::<Result<_, _>>()
        .unwrap();
    let mut request = DescribeAlarmsRequest::default();
    let text = |index: usize| match tokens.get(index) {
        Some(Token::String(text)) => Some(text.to_string()),
        _ => None,
    };
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::String("StateValue") => request.state_value = text(index + 1),
            Token::String("NextToken") => request.next_token = text(index + 1),
            Token::String("MaxRecords") => {
                request.max_records = match tokens.get(index + 1) {
                    Some(Token::U8(n)) => Some(i64::from(*n)),
                    Some(Token::U16(n)) => Some(i64::from(*n)),
                    Some(Token::U32(n)) => Some(i64::from(*n)),
                    _ => None,
                }
            }
            Token::String("AlarmTypes") => {
                let length = match tokens.get(index + 1) {
                    Some(Token::Array(length)) => *length as usize,
                    _ => usize::MAX,
                };
                request.alarm_types = tokens[index + 2..]
                    .iter()
                    .take(length)
                    .map_while(|token| match token {
                        Token::String(text) => Some(text.to_string()),
                        _ => None,
                    })
                    .collect();
            }
            _ => {}
        }
    }
    request
}

type Encoder = minicbor::Encoder<Vec<u8>>;

fn timestamp(encoder: &mut Encoder, seconds: f64) {
    encoder
        .tag(Tag::from(IanaTag::Timestamp))
        .unwrap()
        .f64(seconds)
        .unwrap();
}

fn dimensions(encoder: &mut Encoder, pairs: &[(&str, &str)]) {
    encoder.array(pairs.len() as u64).unwrap();
    for (name, value) in pairs {
        encoder
            .map(2)
            .unwrap()
            .str("Name")
            .unwrap()
            .str(name)
            .unwrap()
            .str("Value")
            .unwrap()
            .str(value)
            .unwrap();
    }
}

/// Page one: the CPU alarm (a metric alarm on one metric), and a token for page two.
fn first_page() -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.begin_map().unwrap();
    e.str("MetricAlarms").unwrap().array(1).unwrap();
    e.begin_map().unwrap();
    e.str("AlarmName").unwrap().str("ServerCpuTooHigh").unwrap();
    e.str("AlarmArn").unwrap().str(CPU_ARN).unwrap();
    e.str("AlarmDescription")
        .unwrap()
        .str("CPU too high")
        .unwrap();
    e.str("StateValue").unwrap().str("ALARM").unwrap();
    e.str("StateReason")
        .unwrap()
        .str("Threshold Crossed")
        .unwrap();
    e.str("StateReasonData")
        .unwrap()
        .str(r#"{"recentDatapoints":[99.5],"threshold":50.0}"#)
        .unwrap();
    // Updated after the transition (an evaluation-state change): the transition time is the one.
    e.str("StateUpdatedTimestamp").unwrap();
    timestamp(&mut e, 1_764_000_500.0);
    e.str("StateTransitionedTimestamp").unwrap();
    timestamp(&mut e, 1_764_000_000.25);
    e.str("MetricName").unwrap().str("CPUUtilization").unwrap();
    e.str("Namespace").unwrap().str("AWS/EC2").unwrap();
    e.str("Dimensions").unwrap();
    dimensions(&mut e, &[("InstanceId", "i-0abc1234def567890")]);
    e.str("Period").unwrap().i32(300).unwrap();
    e.str("Threshold").unwrap().f64(50.0).unwrap();
    e.end().unwrap();
    e.str("CompositeAlarms").unwrap().array(0).unwrap();
    e.str("NextToken").unwrap().str("page-2").unwrap();
    e.end().unwrap();
    e.into_writer()
}

/// Page two: a metric-math alarm and a composite alarm, and no token.
fn second_page() -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.begin_map().unwrap();
    e.str("MetricAlarms").unwrap().array(1).unwrap();
    e.begin_map().unwrap();
    e.str("AlarmName").unwrap().str("ErrorRateTooHigh").unwrap();
    e.str("AlarmArn").unwrap().str(MATH_ARN).unwrap();
    e.str("StateValue").unwrap().str("ALARM").unwrap();
    e.str("StateReason")
        .unwrap()
        .str("Threshold Crossed")
        .unwrap();
    e.str("StateUpdatedTimestamp").unwrap();
    timestamp(&mut e, 1_764_000_100.0);
    e.str("Metrics").unwrap().array(2).unwrap();
    e.begin_map().unwrap();
    e.str("Id").unwrap().str("errors").unwrap();
    e.str("MetricStat").unwrap().begin_map().unwrap();
    e.str("Metric").unwrap().begin_map().unwrap();
    e.str("Namespace").unwrap().str("AWS/Lambda").unwrap();
    e.str("MetricName").unwrap().str("Errors").unwrap();
    e.str("Dimensions").unwrap();
    dimensions(&mut e, &[("FunctionName", "checkout")]);
    e.end().unwrap();
    e.str("Period").unwrap().i32(60).unwrap();
    e.str("Stat").unwrap().str("Sum").unwrap();
    e.end().unwrap();
    e.str("ReturnData").unwrap().bool(false).unwrap();
    e.end().unwrap();
    e.begin_map().unwrap();
    e.str("Id").unwrap().str("rate").unwrap();
    e.str("Expression").unwrap().str("errors / 60").unwrap();
    e.str("ReturnData").unwrap().bool(true).unwrap();
    e.end().unwrap();
    e.end().unwrap();
    e.str("CompositeAlarms").unwrap().array(1).unwrap();
    e.begin_map().unwrap();
    e.str("AlarmName").unwrap().str("CheckoutDegraded").unwrap();
    e.str("AlarmArn").unwrap().str(COMPOSITE_ARN).unwrap();
    e.str("AlarmRule")
        .unwrap()
        .str("ALARM(ServerCpuTooHigh) OR ALARM(ErrorRateTooHigh)")
        .unwrap();
    e.str("StateValue").unwrap().str("ALARM").unwrap();
    e.str("StateReason").unwrap().str("arn ALARM").unwrap();
    e.str("StateUpdatedTimestamp").unwrap();
    timestamp(&mut e, 1_764_000_200.0);
    e.str("StateTransitionedTimestamp").unwrap();
    timestamp(&mut e, 1_764_000_200.0);
    e.end().unwrap();
    e.end().unwrap();
    e.into_writer()
}

fn cbor(status: u16, body: Vec<u8>) -> HttpMessage {
    HttpMessage::response(status, "application/cbor", body)
        .with_header("smithy-protocol", "rpc-v2-cbor")
}

async fn adapter(peer: &HttpPeer) -> CloudWatchAlarms {
    let sdk = sdk_config(&peer.endpoint).await;
    let config = aws_sdk_cloudwatch::config::Builder::from(&sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::from_conf(config))
}

#[tokio::test]
async fn describe_alarms_reads_every_page_of_alarms_in_alarm() {
    let peer = HttpPeer::start(None, |_, request| {
        assert_eq!(request.path(), OPERATION_PATH);
        assert_eq!(request.header("smithy-protocol"), Some("rpc-v2-cbor"));
        let parsed = read_request(&request.body);
        assert_eq!(parsed.state_value.as_deref(), Some("ALARM"), "{parsed:?}");
        Action::Respond(match parsed.next_token.as_deref() {
            None => cbor(200, first_page()),
            Some("page-2") => cbor(200, second_page()),
            Some(other) => panic!("unexpected token {other}"),
        })
    });
    let alarms = adapter(&peer).await.alarms_in_alarm().await.unwrap();

    let requests: Vec<DescribeAlarmsRequest> = peer
        .requests()
        .iter()
        .map(|r| read_request(&r.body))
        .collect();
    assert_eq!(requests.len(), 2, "two pages, two requests");
    assert_eq!(requests[1].next_token.as_deref(), Some("page-2"));
    assert_eq!(requests[0].alarm_types, ["MetricAlarm", "CompositeAlarm"]);
    assert_eq!(requests[0].max_records, Some(100));

    let names: Vec<&str> = alarms.iter().map(|alarm| alarm.name.as_str()).collect();
    assert_eq!(
        names,
        ["ServerCpuTooHigh", "ErrorRateTooHigh", "CheckoutDegraded"]
    );
    let cpu = &alarms[0];
    assert_eq!(cpu.arn, CPU_ARN);
    assert_eq!(cpu.state, "ALARM");
    assert_eq!(
        cpu.state_changed_at.timestamp_millis(),
        1_764_000_000_250,
        "the transition time, not the later update time"
    );
    assert_eq!(cpu.namespace.as_deref(), Some("AWS/EC2"));
    assert_eq!(cpu.metric_name.as_deref(), Some("CPUUtilization"));
    assert_eq!(
        cpu.dimensions.get("InstanceId").map(String::as_str),
        Some("i-0abc1234def567890")
    );
    assert_eq!(cpu.description.as_deref(), Some("CPU too high"));
    assert!(cpu.state_reason_data.as_deref().unwrap().contains("99.5"));

    let math = &alarms[1];
    assert_eq!(
        math.state_changed_at.timestamp(),
        1_764_000_100,
        "falls back to the update time"
    );
    assert_eq!(math.metrics.len(), 2);
    assert_eq!(math.metrics[0].metric_name.as_deref(), Some("Errors"));
    assert_eq!(
        math.metrics[0]
            .dimensions
            .get("FunctionName")
            .map(String::as_str),
        Some("checkout")
    );
    assert_eq!(math.metrics[1].expression.as_deref(), Some("errors / 60"));

    let composite = &alarms[2];
    assert_eq!(
        composite.alarm_rule.as_deref(),
        Some("ALARM(ServerCpuTooHigh) OR ALARM(ErrorRateTooHigh)")
    );

    // Each one becomes the signal its EventBridge event would give.
    for alarm in &alarms {
        let normalised = argus::signal::normalise(&alarm.to_event(), &Default::default()).unwrap();
        let argus::signal::Normalised::Signals(signals) = normalised else {
            panic!("{} was ignored", alarm.name)
        };
        assert!(
            signals[0]
                .source_event_id
                .starts_with(&format!("alarm:{}:ALARM:", alarm.arn))
        );
    }
    assert_eq!(
        argus::signal::normalise(&alarms[0].to_event(), &Default::default())
            .map(|n| match n {
                argus::signal::Normalised::Signals(s) => s[0].resource.to_string(),
                _ => String::new(),
            })
            .unwrap(),
        "ec2:instance/i-0abc1234def567890"
    );
}

#[tokio::test]
async fn throttling_is_retried_then_reported_as_throttled() {
    let peer = HttpPeer::start(None, |_, _| {
        let mut e = Encoder::new(Vec::new());
        e.map(2)
            .unwrap()
            .str("__type")
            .unwrap()
            .str("com.amazonaws.cloudwatch#Throttling")
            .unwrap()
            .str("message")
            .unwrap()
            .str("Rate exceeded")
            .unwrap();
        Action::Respond(
            cbor(400, e.into_writer()).with_header("x-amzn-query-error", "Throttling;Sender"),
        )
    });
    let error = adapter(&peer).await.alarms_in_alarm().await.unwrap_err();
    assert!(matches!(error, AlarmSourceError::Throttled(_)), "{error}");
    assert_eq!(error.error_type(), "AlarmSourceThrottled");
    assert_eq!(
        peer.requests().len(),
        2,
        "the SDK retried once (max_attempts = 2)"
    );
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let peer = HttpPeer::start(None, |_, _| {
        Action::Respond(cbor(500, {
            let mut e = Encoder::new(Vec::new());
            e.map(1)
                .unwrap()
                .str("__type")
                .unwrap()
                .str("com.amazonaws.cloudwatch#InternalServiceFault")
                .unwrap();
            e.into_writer()
        }))
    });
    let error = adapter(&peer).await.alarms_in_alarm().await.unwrap_err();
    assert_eq!(error.error_type(), "AlarmSourceUnavailable", "{error}");
}
