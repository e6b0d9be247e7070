//! Investigation's AWS adapters on the wire: X-Ray's GetServiceGraph and
//! GetTimeSeriesServiceStatistics (REST-JSON) and CloudTrail's LookupEvents (AWS JSON 1.1),
//! each against a loopback peer answering the documented response shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::cloudtrail::CloudTrailChanges;
use argus::adapters::xray::XRayInvestigation;
use argus::investigation::model::{metric, statistic};
use argus::investigation::ports::{ChangeSource, MetricsSource, TimeRange, TopologySource};
use argus_integration_tests::http_peer::{Action, HttpMessage, HttpPeer, aws_json_error};
use argus_integration_tests::sdk_config;
use aws_config::retry::RetryConfig;
use serde_json::{Value, json};
use std::time::Duration;

const ALERT: i64 = 1_764_000_000;

fn range() -> TimeRange {
    TimeRange {
        from: ALERT - 3_600,
        to: ALERT + 900,
    }
}

fn respond(body: Value, content_type: &str) -> Action {
    Action::Respond(HttpMessage::response(
        200,
        content_type,
        body.to_string().into_bytes(),
    ))
}

async fn xray(peer: &HttpPeer) -> XRayInvestigation {
    let sdk = sdk_config(&peer.endpoint).await;
    let config = aws_sdk_xray::config::Builder::from(&sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    XRayInvestigation::new(aws_sdk_xray::Client::from_conf(config))
}

async fn cloudtrail(peer: &HttpPeer) -> CloudTrailChanges {
    let sdk = sdk_config(&peer.endpoint).await;
    CloudTrailChanges::new(aws_sdk_cloudtrail::Client::new(&sdk))
}

/// A service of GetServiceGraph's answer, calling the services with the given reference ids.
fn service(reference: i64, name: &str, kind: &str, calls: &[i64]) -> Value {
    json!({
        "ReferenceId": reference,
        "Name": name,
        "Names": [name],
        "Root": reference == 1,
        "Type": kind,
        "State": "active",
        "StartTime": ALERT - 3_600,
        "EndTime": ALERT + 900,
        "Edges": calls.iter().map(|callee| json!({
            "ReferenceId": callee,
            "StartTime": ALERT - 3_600,
            "EndTime": ALERT + 900,
            "SummaryStatistics": {"OkCount": 10, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0}, "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 10, "TotalResponseTime": 1.5},
            "ResponseTimeHistogram": [{"Value": 0.15, "Count": 10}],
            "Aliases": []
        })).collect::<Vec<_>>(),
        "SummaryStatistics": {"OkCount": 10, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0}, "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 10, "TotalResponseTime": 1.5},
        "DurationHistogram": [],
        "ResponseTimeHistogram": []
    })
}

#[tokio::test]
async fn the_service_graph_is_read_over_every_page_and_edges_resolve_across_pages() {
    let peer = HttpPeer::start(None, |_, request| {
        assert_eq!(request.path(), "/ServiceGraph");
        let body = request.json();
        assert_eq!(body["StartTime"].as_f64(), Some((ALERT - 3_600) as f64));
        assert_eq!(body["EndTime"].as_f64(), Some((ALERT + 900) as f64));
        match body["NextToken"].as_str() {
            // The front end calls the search service, which is only on the second page.
            None => respond(
                json!({
                    "StartTime": ALERT - 3_600, "EndTime": ALERT + 900,
                    "Services": [service(1, "petsite", "AWS::EKS::Container", &[2])],
                    "ContainsOldGroupVersions": false,
                    "NextToken": "page-2"
                }),
                "application/json",
            ),
            Some("page-2") => respond(
                json!({
                    "StartTime": ALERT - 3_600, "EndTime": ALERT + 900,
                    "Services": [
                        service(2, "petsearch", "AWS::Lambda::Function", &[3]),
                        service(3, "PetAdoptions", "AWS::DynamoDB::Table", &[])
                    ],
                    "ContainsOldGroupVersions": false
                }),
                "application/json",
            ),
            Some(other) => panic!("unexpected token {other}"),
        }
    });
    let graph = xray(&peer)
        .await
        .call_graph("petsite", range())
        .await
        .unwrap();
    assert_eq!(peer.requests().len(), 2, "two pages, two requests");
    assert_eq!((graph.node_count(), graph.edge_count()), (3, 2));
    let dependencies: Vec<String> = graph.dependencies("petsite").into_iter().collect();
    assert_eq!(dependencies, ["PetAdoptions", "petsearch"]);
}

#[tokio::test]
async fn service_statistics_become_requests_latency_and_availability_per_period() {
    let peer = HttpPeer::start(None, |_, request| {
        assert_eq!(request.path(), "/TimeSeriesServiceStatistics");
        let body = request.json();
        assert_eq!(body["EntitySelectorExpression"], "service(\"petsearch\")");
        assert_eq!(body["Period"], 60);
        let start = body["StartTime"].as_f64().unwrap() as i64;
        respond(
            json!({
                "TimeSeriesServiceStatistics": [
                    {"Timestamp": start, "ServiceSummaryStatistics": {"OkCount": 95, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 3, "TotalCount": 3}, "FaultStatistics": {"OtherCount": 2, "TotalCount": 2}, "TotalCount": 100, "TotalResponseTime": 25.0}, "ResponseTimeHistogram": []},
                    {"Timestamp": start + 60, "ServiceSummaryStatistics": {"OkCount": 0, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0}, "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 0, "TotalResponseTime": 0.0}, "ResponseTimeHistogram": []}
                ],
                "ContainsOldGroupVersions": false
            }),
            "application/json",
        )
    });
    let source = xray(&peer).await;
    let nodes = vec!["petsearch".to_string()];
    let window = source.window(&nodes, range()).await.unwrap();
    assert_eq!(window.timestamps(), [range().from, range().from + 60]);
    assert_eq!(
        window.series("petsearch", metric::REQUESTS, statistic::SUM),
        Some(&[Some(100.0), Some(0.0)][..])
    );
    assert_eq!(
        window.series("petsearch", metric::LATENCY, statistic::AVERAGE),
        Some(&[Some(0.25), None][..]),
        "mean response time in seconds; none in a bucket without requests"
    );
    assert_eq!(
        window.series("petsearch", metric::AVAILABILITY, statistic::AVERAGE),
        Some(&[Some(95.0), None][..])
    );
    // Normal behaviour is the same window a day earlier.
    let normal = source.normal(&nodes, range()).await.unwrap().unwrap();
    assert_eq!(normal.timestamps()[0], range().from - 86_400);
}

#[tokio::test]
async fn a_throttled_x_ray_is_reported_as_unavailable_not_waited_on() {
    let peer = HttpPeer::start(None, |_, _| {
        aws_json_error(
            429,
            "application/json",
            "ThrottledException",
            "Rate exceeded",
        )
    });
    let error = xray(&peer)
        .await
        .call_graph("petsite", range())
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "SourceUnavailable");
    assert!(error.to_string().contains("Throttled"), "{error}");
}

fn trail_event(id: &str, name: &str, read_only: bool, at: i64, who: &str) -> Value {
    json!({
        "EventId": id,
        "EventName": name,
        "ReadOnly": if read_only { "true" } else { "false" },
        "AccessKeyId": "ASIAEXAMPLEKEY",
        "EventTime": at,
        "EventSource": "lambda.amazonaws.com",
        "Username": who,
        "Resources": [{"ResourceType": "AWS::Lambda::Function", "ResourceName": "petsearch"}],
        "CloudTrailEvent": "{}"
    })
}

#[tokio::test]
async fn write_calls_on_each_node_are_looked_up_and_reads_are_left_out() {
    let peer = HttpPeer::start(None, |_, request| {
        // awsJson1_1: the service shape's name, then the operation.
        assert_eq!(
            request.header("x-amz-target"),
            Some("CloudTrail_20131101.LookupEvents")
        );
        let body = request.json();
        let attributes = body["LookupAttributes"].as_array().unwrap();
        assert_eq!(attributes.len(), 1, "LookupEvents takes one attribute");
        assert_eq!(attributes[0]["AttributeKey"], "ResourceName");
        let node = attributes[0]["AttributeValue"].as_str().unwrap();
        let events = match (node, body["NextToken"].as_str()) {
            ("petsearch", None) => json!({
                "Events": [trail_event("e1", "GetFunction", true, ALERT - 200, "reader")],
                "NextToken": "more"
            }),
            ("petsearch", Some("more")) => json!({
                "Events": [trail_event("e2", "UpdateFunctionCode20150331v2", false, ALERT - 240, "deployer")]
            }),
            _ => json!({"Events": []}),
        };
        respond(events, "application/x-amz-json-1.1")
    });
    let nodes: Vec<String> = ["petsite", "petsearch", "a", "b", "c"]
        .iter()
        .map(|node| node.to_string())
        .collect();
    let changes = cloudtrail(&peer)
        .await
        .changes(&nodes, range())
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(
        (change.node.as_str(), change.action.as_str(), change.time),
        ("petsearch", "UpdateFunctionCode20150331v2", ALERT - 240)
    );
    assert_eq!(change.actor.as_deref(), Some("deployer"));
    let looked_up: Vec<String> = peer
        .requests()
        .iter()
        .map(|request| {
            request.json()["LookupAttributes"][0]["AttributeValue"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        looked_up,
        ["petsite", "petsearch", "petsearch", "a", "b"],
        "the first four nodes only, one of them over two pages"
    );
}

/// An `UpdateAlias` (or `CreateAlias`) of `pricing`'s `live` alias to `version`, as CloudTrail's
/// event history returns it: the request parameters inside the `CloudTrailEvent` string.
fn alias_event(id: &str, name: &str, at: i64, version: &str) -> Value {
    let detail = json!({
        "eventName": name,
        "requestParameters": {"functionName": "pricing", "name": "live", "functionVersion": version},
        "responseElements": {"name": "live", "functionVersion": version}
    });
    json!({
        "EventId": id,
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": at,
        "EventSource": "lambda.amazonaws.com",
        "Username": "deployer",
        "Resources": [{"ResourceType": "AWS::Lambda::Function", "ResourceName": "pricing"}],
        "CloudTrailEvent": detail.to_string()
    })
}

#[tokio::test]
async fn the_version_an_alias_pointed_at_before_comes_from_its_previous_move() {
    const MOVED: i64 = ALERT - 240;
    let peer = HttpPeer::start(None, |_, request| {
        let body = request.json();
        let from = body["StartTime"].as_f64().unwrap() as i64;
        let events = if from == ALERT - 3_600 {
            // The window: the deployment and the alias move, newest first.
            json!({"Events": [
                alias_event("move-42", "UpdateAlias20150331", MOVED, "42"),
                trail_event("code", "UpdateFunctionCode20150331v2", false, MOVED - 10, "deployer"),
            ]})
        } else {
            // The history before the move, newest first: the move that set 41 is the one.
            assert_eq!(body["EndTime"].as_f64(), Some(MOVED as f64));
            assert_eq!(from, MOVED - 90 * 86_400, "CloudTrail keeps 90 days");
            json!({"Events": [
                alias_event("move-41", "UpdateAlias20150331", ALERT - 3 * 86_400, "41"),
                alias_event("create-40", "CreateAlias20150331", ALERT - 30 * 86_400, "40"),
            ]})
        };
        respond(events, "application/x-amz-json-1.1")
    });
    let changes = cloudtrail(&peer)
        .await
        .changes(&["pricing".to_string()], range())
        .await
        .unwrap();
    let moved = changes
        .iter()
        .find_map(|change| change.alias.as_ref())
        .unwrap();
    assert_eq!(
        (
            moved.name.as_str(),
            moved.from_version.as_deref(),
            moved.to_version.as_str()
        ),
        ("live", Some("41"), "42")
    );
    assert_eq!(peer.requests().len(), 2, "the window, then the history");
}

#[tokio::test]
async fn an_earlier_move_in_the_window_needs_no_history_and_none_anywhere_leaves_it_unknown() {
    let in_window = HttpPeer::start(None, |_, _| {
        respond(
            json!({"Events": [
                alias_event("move-42", "UpdateAlias20150331", ALERT - 240, "42"),
                alias_event("move-41", "UpdateAlias20150331", ALERT - 1_200, "41"),
            ]}),
            "application/x-amz-json-1.1",
        )
    });
    let changes = cloudtrail(&in_window)
        .await
        .changes(&["pricing".to_string()], range())
        .await
        .unwrap();
    let newest = changes.iter().max_by_key(|change| change.time).unwrap();
    assert_eq!(
        newest.alias.as_ref().unwrap().from_version.as_deref(),
        Some("41")
    );
    assert_eq!(in_window.requests().len(), 1);

    let nowhere = HttpPeer::start(None, |index, _| {
        respond(
            if index == 0 {
                json!({"Events": [alias_event("move-42", "UpdateAlias20150331", ALERT - 240, "42")]})
            } else {
                json!({"Events": []})
            },
            "application/x-amz-json-1.1",
        )
    });
    let changes = cloudtrail(&nowhere)
        .await
        .changes(&["pricing".to_string()], range())
        .await
        .unwrap();
    assert_eq!(changes[0].alias.as_ref().unwrap().from_version, None);
}

#[tokio::test]
async fn a_function_or_table_node_carries_its_arn_so_an_action_can_target_it() {
    let peer = HttpPeer::start(None, |_, _| {
        let with_account = |mut service: Value| {
            service["AccountId"] = json!("123456789012");
            service
        };
        respond(
            json!({
                "StartTime": ALERT - 3_600, "EndTime": ALERT + 900,
                "Services": [
                    with_account(service(1, "petsite", "AWS::EKS::Container", &[2])),
                    with_account(service(2, "petsearch", "AWS::Lambda::Function", &[3])),
                    with_account(service(3, "PetAdoptions", "AWS::DynamoDB::Table", &[])),
                    // No account on record: no ARN is made up.
                    service(4, "statusupdater", "AWS::Lambda::Function", &[]),
                ],
                "ContainsOldGroupVersions": false
            }),
            "application/json",
        )
    });
    let graph = xray(&peer)
        .await
        .call_graph("petsite", range())
        .await
        .unwrap();
    // The peers' SDK configuration is in us-east-1 (argus::testing::peer_sdk_config).
    let region = "us-east-1";
    assert_eq!(
        graph.resource("petsearch"),
        Some(format!("arn:aws:lambda:{region}:123456789012:function:petsearch").as_str())
    );
    assert_eq!(
        graph.resource("PetAdoptions"),
        Some(format!("arn:aws:dynamodb:{region}:123456789012:table/PetAdoptions").as_str())
    );
    assert_eq!(graph.resource("petsite"), None);
    assert_eq!(graph.resource("statusupdater"), None);
}
