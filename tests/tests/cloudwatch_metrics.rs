//! Investigation's CloudWatch metrics adapter against a local GetMetricData peer speaking the
//! protocol this SDK version uses for CloudWatch (Smithy RPC v2 CBOR: `POST
//! /service/GraniteServiceVersion20100801/operation/GetMetricData`). The replies follow the
//! API reference's `GetMetricData` and `MetricDataResult` shapes: results by query `Id`,
//! `Timestamps[x]` paired with `Values[x]`, `StatusCode` `Complete | InternalError |
//! PartialData | Forbidden`, and `NextToken` while more data points remain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::cloudwatch_metrics::CloudWatchMetrics;
use argus::investigation::ports::{ResourceMetricsSource, TimeRange};
use argus::investigation::resource_metrics::{metrics_to_read, summarise};
use argus::resource::ResourceRef;
use argus_integration_tests::http_peer::{Action, HttpMessage, HttpPeer};
use argus_integration_tests::sdk_config;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use minicbor::data::{IanaTag, Tag, Token};
use std::time::Duration;

const OPERATION_PATH: &str = "/service/GraniteServiceVersion20100801/operation/GetMetricData";
const INSTANCE: &str = "i-0abc1234def567890";
const ALERT: i64 = 1_764_003_600;

/// What a GetMetricData request asked, read token by token in document order.
#[derive(Debug, Default)]
struct Request {
    ids: Vec<String>,
    namespaces: Vec<String>,
    metric_names: Vec<String>,
    stats: Vec<String>,
    periods: Vec<i64>,
    dimension_names: Vec<String>,
    dimension_values: Vec<String>,
    start: Option<f64>,
    end: Option<f64>,
    scan_by: Option<String>,
    next_token: Option<String>,
}

fn number(token: Option<&Token>) -> Option<f64> {
    match token? {
        Token::U8(n) => Some(f64::from(*n)),
        Token::U16(n) => Some(f64::from(*n)),
        Token::U32(n) => Some(f64::from(*n)),
        Token::U64(n) => Some(*n as f64),
        Token::F64(n) => Some(*n),
        Token::F32(n) => Some(f64::from(*n)),
        _ => None,
    }
}

fn read_request(body: &[u8]) -> Request {
    let tokens: Vec<Token> = minicbor::decode::Tokenizer::new(body)
        .collect::<Result<_, _>>()
        .unwrap();
    let text = |index: usize| match tokens.get(index) {
        Some(Token::String(text)) => Some(text.to_string()),
        _ => None,
    };
    // A timestamp is a tag (1, epoch seconds) followed by its number.
    let time = |index: usize| match tokens.get(index) {
        Some(Token::Tag(tag)) if *tag == Tag::from(IanaTag::Timestamp) => {
            number(tokens.get(index + 1))
        }
        _ => None,
    };
    let mut request = Request::default();
    for (index, token) in tokens.iter().enumerate() {
        let Token::String(key) = token else { continue };
        match *key {
            "Id" => request.ids.extend(text(index + 1)),
            "Namespace" => request.namespaces.extend(text(index + 1)),
            "MetricName" => request.metric_names.extend(text(index + 1)),
            "Stat" => request.stats.extend(text(index + 1)),
            "Period" => request
                .periods
                .extend(number(tokens.get(index + 1)).map(|n| n as i64)),
            "Name" => request.dimension_names.extend(text(index + 1)),
            "Value" => request.dimension_values.extend(text(index + 1)),
            "StartTime" => request.start = time(index + 1),
            "EndTime" => request.end = time(index + 1),
            "ScanBy" => request.scan_by = text(index + 1),
            "NextToken" => request.next_token = text(index + 1),
            _ => {}
        }
    }
    request
}

type Encoder = minicbor::Encoder<Vec<u8>>;

/// One `MetricDataResult`.
fn result(e: &mut Encoder, id: &str, status: &str, points: &[(i64, f64)]) {
    e.begin_map().unwrap();
    e.str("Id").unwrap().str(id).unwrap();
    e.str("Label").unwrap().str(id).unwrap();
    e.str("StatusCode").unwrap().str(status).unwrap();
    e.str("Timestamps")
        .unwrap()
        .array(points.len() as u64)
        .unwrap();
    for (time, _) in points {
        e.tag(Tag::from(IanaTag::Timestamp))
            .unwrap()
            .f64(*time as f64)
            .unwrap();
    }
    e.str("Values").unwrap().array(points.len() as u64).unwrap();
    for (_, value) in points {
        e.f64(*value).unwrap();
    }
    e.end().unwrap();
}

/// A metric's result on a page: its query id, status code and points.
type PageResult<'a> = (&'a str, &'a str, Vec<(i64, f64)>);

fn page(results: &[PageResult<'_>], next_token: Option<&str>) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.begin_map().unwrap();
    e.str("MetricDataResults")
        .unwrap()
        .array(results.len() as u64)
        .unwrap();
    for (id, status, points) in results {
        result(&mut e, id, status, points);
    }
    if let Some(token) = next_token {
        e.str("NextToken").unwrap().str(token).unwrap();
    }
    e.str("Messages").unwrap().array(0).unwrap();
    e.end().unwrap();
    e.into_writer()
}

fn cbor(status: u16, body: Vec<u8>) -> HttpMessage {
    HttpMessage::response(status, "application/cbor", body)
        .with_header("smithy-protocol", "rpc-v2-cbor")
}

async fn adapter(peer: &HttpPeer) -> CloudWatchMetrics {
    let sdk = sdk_config(&peer.endpoint).await;
    let config = aws_sdk_cloudwatch::config::Builder::from(&sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::from_conf(config))
}

fn range() -> TimeRange {
    TimeRange {
        from: ALERT - 3_600,
        to: ALERT + 900,
    }
}

/// CPU at 10 % for an hour, then 95 % from ten minutes before the alarm.
fn cpu(from: i64, to: i64) -> Vec<(i64, f64)> {
    (from..to)
        .step_by(60)
        .map(|time| (time, if time >= ALERT - 600 { 95.0 } else { 10.0 }))
        .collect()
}

#[tokio::test]
async fn the_resources_metrics_are_read_in_one_request_and_every_page_is_joined() {
    let peer = HttpPeer::start(None, |_, request| {
        assert_eq!(request.path(), OPERATION_PATH);
        assert_eq!(request.header("smithy-protocol"), Some("rpc-v2-cbor"));
        let parsed = read_request(&request.body);
        Action::Respond(match parsed.next_token.as_deref() {
            // The first page: half of the CPU series (PartialData, more to come), all of the
            // status checks (Complete).
            None => cbor(
                200,
                page(
                    &[
                        ("m0", "PartialData", cpu(ALERT - 3_600, ALERT - 1_800)),
                        (
                            "m1",
                            "Complete",
                            (0..60).map(|i| (ALERT - 3_600 + i * 60, 0.0)).collect(),
                        ),
                    ],
                    Some("page-2"),
                ),
            ),
            Some("page-2") => cbor(
                200,
                page(&[("m0", "Complete", cpu(ALERT - 1_800, ALERT + 60))], None),
            ),
            Some(other) => panic!("unexpected token {other}"),
        })
    });
    let instance = ResourceRef::checked("ec2", "instance", INSTANCE).unwrap();
    let specs = metrics_to_read(&instance, Some("AWS/EC2/CPUUtilization"), 60);
    let series = adapter(&peer).await.series(&specs, range()).await.unwrap();

    let requests: Vec<Request> = peer
        .requests()
        .iter()
        .map(|request| read_request(&request.body))
        .collect();
    assert_eq!(requests.len(), 2, "one request, two pages");
    let first = &requests[0];
    assert_eq!(first.ids, ["m0", "m1"]);
    assert_eq!(first.namespaces, ["AWS/EC2", "AWS/EC2"]);
    assert_eq!(first.metric_names, ["CPUUtilization", "StatusCheckFailed"]);
    assert_eq!(first.stats, ["Average", "Maximum"]);
    assert_eq!(first.periods, [60, 60]);
    assert_eq!(first.dimension_names, ["InstanceId", "InstanceId"]);
    assert_eq!(first.dimension_values, [INSTANCE, INSTANCE]);
    assert_eq!(first.start, Some((ALERT - 3_600) as f64));
    assert_eq!(first.end, Some((ALERT + 900) as f64));
    assert_eq!(first.scan_by.as_deref(), Some("TimestampAscending"));
    assert_eq!(requests[1].next_token.as_deref(), Some("page-2"));

    assert_eq!(series.len(), 2);
    let cpu_series = &series[0];
    assert_eq!(cpu_series.spec.metric_name, "CPUUtilization");
    assert_eq!(cpu_series.points.len(), 30 + 31, "both pages, joined");
    assert!(
        cpu_series
            .points
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
    );
    assert!(cpu_series.complete, "the last page said Complete");

    // Summarised, the CPU moved ten minutes before the alarm; the status checks did not.
    let shift = summarise(cpu_series, ALERT);
    assert_eq!(shift.normal, Some(10.0));
    assert_eq!(shift.now, Some(95.0));
    assert_eq!(shift.changed_at, Some(ALERT - 600));
    assert!(!summarise(&series[1], ALERT).shifted());
}

#[tokio::test]
async fn partial_data_on_the_last_page_and_mismatched_pairs_are_marked_incomplete() {
    let peer = HttpPeer::start(None, |_, _| {
        let mut e = Encoder::new(Vec::new());
        e.begin_map().unwrap();
        e.str("MetricDataResults").unwrap().array(2).unwrap();
        result(&mut e, "m0", "PartialData", &cpu(ALERT - 600, ALERT));
        // Three timestamps, two values: only the two pairs are kept.
        e.begin_map().unwrap();
        e.str("Id").unwrap().str("m1").unwrap();
        e.str("StatusCode").unwrap().str("Complete").unwrap();
        e.str("Timestamps").unwrap().array(3).unwrap();
        for time in [ALERT - 120, ALERT - 60, ALERT] {
            e.tag(Tag::from(IanaTag::Timestamp))
                .unwrap()
                .f64(time as f64)
                .unwrap();
        }
        e.str("Values").unwrap().array(2).unwrap();
        e.f64(1.0).unwrap().f64(0.0).unwrap();
        e.end().unwrap();
        e.end().unwrap();
        Action::Respond(cbor(200, e.into_writer()))
    });
    let instance = ResourceRef::checked("ec2", "instance", INSTANCE).unwrap();
    let specs = metrics_to_read(&instance, None, 60);
    let series = adapter(&peer).await.series(&specs, range()).await.unwrap();
    assert!(!series[0].complete);
    assert_eq!(series[1].points.len(), 2);
    assert!(!series[1].complete);
}

#[tokio::test]
async fn a_forbidden_metric_or_a_throttled_request_is_unavailable_not_an_empty_series() {
    let forbidden = HttpPeer::start(None, |_, _| {
        Action::Respond(cbor(200, page(&[("m0", "Forbidden", Vec::new())], None)))
    });
    let instance = ResourceRef::checked("ec2", "instance", INSTANCE).unwrap();
    let specs = metrics_to_read(&instance, None, 60);
    let error = adapter(&forbidden)
        .await
        .series(&specs, range())
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "SourceUnavailable");
    assert!(error.to_string().contains("Forbidden"), "{error}");

    let throttled = HttpPeer::start(None, |_, _| {
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
    let error = adapter(&throttled)
        .await
        .series(&specs, range())
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "SourceUnavailable");
    assert_eq!(throttled.requests().len(), 2, "retried once by the SDK");
}
