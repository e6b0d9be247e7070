//! A recorded investigation world on the wire: one loopback peer answers X-Ray
//! (`GetServiceGraph`, `GetTimeSeriesServiceStatistics`), CloudTrail (`LookupEvents`) and
//! CloudWatch (`GetMetricData`, RPC v2 CBOR) from a snapshot folder in Argus' format, in the
//! shapes the API references document, each answer after a set latency (the service's own
//! time, spent on the peer's thread). The library's AWS adapters read it, so an investigation
//! runs exactly as on AWS and its calls can be counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::http_peer::{Action, HttpMessage, HttpPeer};
use argus::adapters::cloudtrail::CloudTrailChanges;
use argus::adapters::cloudwatch_metrics::CloudWatchMetrics;
use argus::adapters::xray::XRayInvestigation;
use argus::investigation::investigator::SourcesInvestigator;
use argus::investigation::model::{MetricTable, metric, statistic};
use argus::investigation::ports::LogAnomalySource;
use argus::investigation::{InvestigationLimits, LocaliseConfig, RecordedSnapshot};
use minicbor::data::{IanaTag, Tag, Token};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where the world's snapshot's move of an alias is preceded by the move that set the version
/// it left: a day before (CloudTrail's `UpdateAlias` names only the new version, so the old one
/// is on record only as an earlier event).
const PREVIOUS_ALIAS_MOVE_SECONDS: i64 = 86_400;

#[derive(Debug)]
pub struct InvestigationWorld {
    peer: HttpPeer,
}

impl InvestigationWorld {
    /// Serves `snapshot`; every answer takes `latency`.
    pub fn serve(snapshot: RecordedSnapshot, latency: Duration) -> Self {
        let snapshot = Arc::new(snapshot);
        let peer = HttpPeer::start(None, move |_, request| {
            std::thread::sleep(latency);
            answer(&snapshot, request)
        });
        Self { peer }
    }

    pub fn endpoint(&self) -> &str {
        &self.peer.endpoint
    }

    /// Requests received per operation (`GetServiceGraph`, `TimeSeriesServiceStatistics`,
    /// `LookupEvents`, `GetMetricData`).
    pub fn calls(&self) -> BTreeMap<String, usize> {
        let mut calls = BTreeMap::new();
        for request in self.peer.requests() {
            let operation = match request.path() {
                "/ServiceGraph" => "GetServiceGraph".to_string(),
                "/TimeSeriesServiceStatistics" => "GetTimeSeriesServiceStatistics".to_string(),
                _ => request.operation(),
            };
            *calls.entry(operation).or_insert(0) += 1;
        }
        calls
    }

    /// The metrics GetMetricData was asked for, over every request (CloudWatch bills per
    /// metric requested).
    pub fn metrics_requested(&self) -> usize {
        self.peer
            .requests()
            .iter()
            .filter(|request| request.path().ends_with("/GetMetricData"))
            .map(|request| metric_queries(&request.body).len())
            .sum()
    }
}

/// The library's AWS adapters, pointed at the world.
#[derive(Debug)]
pub struct WorldAdapters {
    pub xray: XRayInvestigation,
    pub cloudtrail: CloudTrailChanges,
    pub metrics: CloudWatchMetrics,
}

impl InvestigationWorld {
    pub async fn adapters(&self) -> WorldAdapters {
        let sdk = crate::sdk_config(self.endpoint()).await;
        WorldAdapters {
            xray: XRayInvestigation::new(aws_sdk_xray::Client::new(&sdk)),
            cloudtrail: CloudTrailChanges::new(aws_sdk_cloudtrail::Client::new(&sdk)),
            metrics: CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        }
    }
}

impl WorldAdapters {
    /// The investigator the orchestrator builds, on these adapters and `logs`.
    pub fn investigator<'a>(&'a self, logs: &'a dyn LogAnomalySource) -> SourcesInvestigator<'a> {
        SourcesInvestigator {
            topology: &self.xray,
            metrics: &self.xray,
            changes: &self.cloudtrail,
            resource_metrics: Some(&self.metrics),
            log_anomalies: Some(logs),
            limits: InvestigationLimits::default(),
            localise: LocaliseConfig::default(),
            nodes: Default::default(),
        }
    }
}

/// A recorded scenario of `events/scenarios/`.
pub fn scenario(name: &str) -> RecordedSnapshot {
    RecordedSnapshot::open(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/scenarios")
            .join(name),
    )
    .unwrap()
}

fn answer(snapshot: &RecordedSnapshot, request: &HttpMessage) -> Action {
    let json_reply = |body: Value, content_type: &str| {
        Action::Respond(HttpMessage::response(
            200,
            content_type,
            body.to_string().into_bytes(),
        ))
    };
    match request.path() {
        "/ServiceGraph" => json_reply(service_graph(snapshot), "application/json"),
        "/TimeSeriesServiceStatistics" => {
            json_reply(statistics(snapshot, &request.json()), "application/json")
        }
        path if path.ends_with("/operation/GetMetricData") => Action::Respond(
            HttpMessage::response(
                200,
                "application/cbor",
                metric_data(snapshot, &request.body),
            )
            .with_header("smithy-protocol", "rpc-v2-cbor"),
        ),
        _ if request.header("x-amz-target") == Some("CloudTrail_20131101.LookupEvents") => {
            json_reply(
                lookup_events(snapshot, &request.json()),
                "application/x-amz-json-1.1",
            )
        }
        other => panic!("the investigation world does not serve {other}"),
    }
}

/// The X-Ray service type and account of a node, from the resource its snapshot records.
fn type_and_account(snapshot: &RecordedSnapshot, node: &str) -> (&'static str, Option<String>) {
    let Some(arn) = snapshot.graph.resource(node) else {
        return ("remote", None);
    };
    let fields: Vec<&str> = arn.split(':').collect();
    let kind = match fields.get(2).copied() {
        Some("lambda") => "AWS::Lambda::Function",
        Some("dynamodb") => "AWS::DynamoDB::Table",
        Some("ecs") => "AWS::ECS::Container",
        Some("ec2") => "AWS::EC2::Instance",
        _ => "remote",
    };
    (kind, fields.get(4).map(|account| account.to_string()))
}

fn service_graph(snapshot: &RecordedSnapshot) -> Value {
    let nodes: Vec<&str> = snapshot.graph.nodes().collect();
    let reference = |node: &str| nodes.iter().position(|n| *n == node).unwrap() as i64;
    let services: Vec<Value> = nodes
        .iter()
        .map(|node| {
            let (kind, account) = type_and_account(snapshot, node);
            let mut service = json!({
                "ReferenceId": reference(node),
                "Name": node,
                "Names": [node],
                "Type": kind,
                "State": "active",
                "Edges": snapshot.graph.callees(node).map(|callee| json!({
                    "ReferenceId": reference(callee),
                    "Aliases": []
                })).collect::<Vec<_>>(),
            });
            if let Some(account) = account {
                service["AccountId"] = json!(account);
            }
            service
        })
        .collect();
    json!({"Services": services, "ContainsOldGroupVersions": false})
}

/// The node an `EntitySelectorExpression` of the form `service("name")` selects.
fn selected_node(expression: &str) -> String {
    expression
        .strip_prefix("service(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .unwrap_or(expression)
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

/// A node's statistics: the recorded window when the range reaches it, else its normal
/// behaviour (the adapter asks for the same window a day earlier).
fn statistics(snapshot: &RecordedSnapshot, body: &Value) -> Value {
    let node = selected_node(
        body["EntitySelectorExpression"]
            .as_str()
            .unwrap_or_default(),
    );
    let end = body["EndTime"].as_f64().unwrap_or_default() as i64;
    let window_start = snapshot
        .window
        .timestamps()
        .first()
        .copied()
        .unwrap_or(i64::MAX);
    let table: &MetricTable = if end > window_start {
        &snapshot.window
    } else {
        snapshot.normal.as_ref().unwrap_or(&snapshot.window)
    };
    let series = |name: &str, stat: &str| table.series(&node, name, stat);
    let (latency, requests, availability) = (
        series(metric::LATENCY, statistic::AVERAGE),
        series(metric::REQUESTS, statistic::SUM),
        series(metric::AVAILABILITY, statistic::AVERAGE),
    );
    let points: Vec<Value> = table
        .timestamps()
        .iter()
        .enumerate()
        .map(|(row, timestamp)| {
            let value = |column: Option<&[Option<f64>]>| column.and_then(|c| c[row]);
            let total = value(requests).unwrap_or(0.0).round();
            let ok = (total * value(availability).unwrap_or(100.0) / 100.0).round();
            json!({
                "Timestamp": timestamp,
                "ServiceSummaryStatistics": {
                    "OkCount": ok as i64,
                    "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0},
                    "FaultStatistics": {"OtherCount": (total - ok) as i64, "TotalCount": (total - ok) as i64},
                    "TotalCount": total as i64,
                    "TotalResponseTime": value(latency).unwrap_or(0.0) * total
                },
                "ResponseTimeHistogram": []
            })
        })
        .collect();
    json!({"TimeSeriesServiceStatistics": points, "ContainsOldGroupVersions": false})
}

/// One CloudTrail event of the event history, its record in `CloudTrailEvent` as a string.
fn trail_event(node: &str, name: &str, at: i64, who: Option<&str>, request: Value) -> Value {
    json!({
        "EventId": format!("{node}-{name}-{at}"),
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": at,
        "EventSource": "lambda.amazonaws.com",
        "Username": who,
        "Resources": [{"ResourceName": node}],
        "CloudTrailEvent": json!({"eventName": name, "requestParameters": request}).to_string()
    })
}

/// The recorded changes on the looked-up node in the range, newest first, plus the earlier move
/// of each moved alias that set the version it left.
fn lookup_events(snapshot: &RecordedSnapshot, body: &Value) -> Value {
    let node = body["LookupAttributes"][0]["AttributeValue"]
        .as_str()
        .unwrap_or_default();
    let from = body["StartTime"].as_f64().unwrap_or(f64::MIN) as i64;
    let to = body["EndTime"].as_f64().unwrap_or(f64::MAX) as i64;
    let mut events: Vec<(i64, Value)> = Vec::new();
    for change in snapshot.changes.iter().filter(|change| change.node == node) {
        let request = match &change.alias {
            Some(alias) => {
                if let Some(previous) = &alias.from_version {
                    events.push((
                        change.time - PREVIOUS_ALIAS_MOVE_SECONDS,
                        trail_event(
                            node,
                            "UpdateAlias20150331",
                            change.time - PREVIOUS_ALIAS_MOVE_SECONDS,
                            change.actor.as_deref(),
                            json!({"functionName": node, "name": alias.name, "functionVersion": previous}),
                        ),
                    ));
                }
                json!({"functionName": node, "name": alias.name, "functionVersion": alias.to_version})
            }
            None => json!({"functionName": node}),
        };
        let name = if change.alias.is_some() {
            "UpdateAlias20150331".to_string()
        } else {
            change.action.clone()
        };
        events.push((
            change.time,
            trail_event(node, &name, change.time, change.actor.as_deref(), request),
        ));
    }
    events.retain(|(at, _)| *at >= from && *at <= to);
    events.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    json!({"Events": events.into_iter().map(|(_, event)| event).collect::<Vec<_>>()})
}

/// Each query of a GetMetricData request: its id, metric name and statistic, in order.
pub fn metric_queries(body: &[u8]) -> Vec<(String, String, String)> {
    let tokens: Vec<Token> = minicbor::decode::Tokenizer::new(body)
        .collect::<Result<_, _>>()
        .unwrap();
    let text = |index: usize| match tokens.get(index) {
        Some(Token::String(text)) => text.to_string(),
        _ => String::new(),
    };
    let mut queries: Vec<(String, String, String)> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::String("Id") => queries.push((text(index + 1), String::new(), String::new())),
            Token::String("MetricName") => {
                if let Some(query) = queries.last_mut() {
                    query.1 = text(index + 1);
                }
            }
            Token::String("Stat") => {
                if let Some(query) = queries.last_mut() {
                    query.2 = text(index + 1);
                }
            }
            _ => {}
        }
    }
    queries
}

/// GetMetricData's answer: each query's recorded points (the snapshot's
/// `resource-metrics.json`), or none, all `Complete`.
fn metric_data(snapshot: &RecordedSnapshot, body: &[u8]) -> Vec<u8> {
    let recorded = snapshot.resource_metrics.as_deref().unwrap_or_default();
    let queries = metric_queries(body);
    let mut e = minicbor::Encoder::new(Vec::new());
    e.begin_map().unwrap();
    e.str("MetricDataResults")
        .unwrap()
        .array(queries.len() as u64)
        .unwrap();
    for (id, name, stat) in &queries {
        let points: Vec<(i64, f64)> = recorded
            .iter()
            .find(|metric| metric.metric_name == *name && metric.stat == *stat)
            .map(|metric| metric.points.clone())
            .unwrap_or_default();
        e.begin_map().unwrap();
        e.str("Id").unwrap().str(id).unwrap();
        e.str("StatusCode").unwrap().str("Complete").unwrap();
        e.str("Timestamps")
            .unwrap()
            .array(points.len() as u64)
            .unwrap();
        for (time, _) in &points {
            e.tag(Tag::from(IanaTag::Timestamp))
                .unwrap()
                .f64(*time as f64)
                .unwrap();
        }
        e.str("Values").unwrap().array(points.len() as u64).unwrap();
        for (_, value) in &points {
            e.f64(*value).unwrap();
        }
        e.end().unwrap();
    }
    e.str("Messages").unwrap().array(0).unwrap();
    e.end().unwrap();
    e.into_writer()
}
