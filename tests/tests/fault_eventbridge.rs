//! Fault injection: EventBridge PutEvents partial failures from a local PutEvents peer
//! (awsJson1_1). Entries EventBridge reports as failed for a transient reason are retried, alone;
//! an accepted entry is never sent again; permanent failures are not retried; all are counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::adapters::eventbridge::{EventBridgeBus, PutCounts};
use argus::loganalysis::ports::{BusEvent, EventBus, EventBusError};
use argus::testing::epoch;
use argus_integration_tests::http_peer::{Action, HttpMessage, HttpPeer};
use argus_integration_tests::sdk_config;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

fn events(count: usize) -> Vec<BusEvent> {
    (0..count)
        .map(|n| BusEvent {
            source: "argus.log-analyzer".into(),
            detail_type: "Argus Log Anomaly".into(),
            detail: json!({"n": n}),
            resources: Vec::new(),
            time: epoch(),
        })
        .collect()
}

/// Which event a sent entry carries (its detail's `n`).
fn entry_number(entry: &Value) -> u64 {
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    detail["n"].as_u64().unwrap()
}

/// A PutEvents peer that fails the entries a script names, per event and per send of it, with
/// the given error code, and accepts everything else. It records what it accepted.
struct PutEventsPeer {
    peer: HttpPeer,
    accepted: std::sync::Arc<Mutex<Vec<u64>>>,
}

impl PutEventsPeer {
    /// `failures[(n, k)]`: the error code for the k-th send (0-based) of event n.
    fn start(failures: HashMap<(u64, usize), &'static str>) -> Self {
        let accepted = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sends: Mutex<HashMap<u64, usize>> = Mutex::new(HashMap::new());
        let recorded = std::sync::Arc::clone(&accepted);
        let peer = HttpPeer::start(None, move |_, request| {
            assert_eq!(request.header("x-amz-target"), Some("AWSEvents.PutEvents"));
            let body = request.json();
            let mut results = Vec::new();
            let mut failed = 0;
            for entry in body["Entries"].as_array().unwrap() {
                let n = entry_number(entry);
                let send = {
                    let mut sends = sends.lock().unwrap();
                    let count = sends.entry(n).or_insert(0);
                    *count += 1;
                    *count - 1
                };
                match failures.get(&(n, send)) {
                    Some(code) => {
                        failed += 1;
                        results.push(
                            json!({"ErrorCode": code, "ErrorMessage": format!("simulated {code}")}),
                        );
                    }
                    None => {
                        recorded.lock().unwrap().push(n);
                        results.push(json!({"EventId": format!("event-{n}")}));
                    }
                }
            }
            Action::Respond(HttpMessage::response(
                200,
                "application/x-amz-json-1.1",
                json!({"FailedEntryCount": failed, "Entries": results})
                    .to_string()
                    .into_bytes(),
            ))
        });
        Self { peer, accepted }
    }

    fn sent_per_request(&self) -> Vec<Vec<u64>> {
        self.peer
            .requests()
            .iter()
            .map(|request| {
                request.json()["Entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(entry_number)
                    .collect()
            })
            .collect()
    }

    fn accepted(&self) -> Vec<u64> {
        let mut accepted = self.accepted.lock().unwrap().clone();
        accepted.sort_unstable();
        accepted
    }
}

async fn bus(peer: &PutEventsPeer) -> EventBridgeBus {
    let client = aws_sdk_eventbridge::Client::new(&sdk_config(&peer.peer.endpoint).await);
    EventBridgeBus::new(client, "argus-test").with_retry_backoff(Duration::ZERO)
}

#[tokio::test]
async fn transiently_failed_entries_are_retried_alone_until_accepted() {
    // GIVEN a batch of ten where three entries fail the first time and one of them again
    let peer = PutEventsPeer::start(HashMap::from([
        ((2, 0), "ThrottlingException"),
        ((5, 0), "InternalFailure"),
        ((7, 0), "ThrottlingException"),
        ((5, 1), "ThrottlingException"),
    ]));
    let bus = bus(&peer).await;
    // WHEN they are put
    bus.put(&events(10)).await.unwrap();
    // THEN the retries carry only the failed entries, and each event is accepted exactly once
    assert_eq!(
        peer.sent_per_request(),
        vec![(0..10).collect::<Vec<_>>(), vec![2, 5, 7], vec![5]]
    );
    assert_eq!(peer.accepted(), (0..10).collect::<Vec<_>>());
    assert_eq!(
        bus.counts(),
        PutCounts {
            accepted: 10,
            retried: 4,
            rejected: 0
        }
    );
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried_and_the_transient_ones_still_are() {
    let peer = PutEventsPeer::start(HashMap::from([
        ((1, 0), "AccessDeniedException"),
        ((3, 0), "ThrottlingException"),
    ]));
    let bus = bus(&peer).await;
    let error = bus.put(&events(4)).await.unwrap_err();
    match &error {
        EventBusError::Rejected {
            failed,
            total,
            reason,
        } => {
            assert_eq!((*failed, *total), (1, 4));
            assert!(reason.contains("AccessDeniedException"), "{reason}");
        }
        other => panic!("expected Rejected, got {other}"),
    }
    assert_eq!(error.error_type(), "EventBusRejected");
    assert_eq!(peer.sent_per_request(), vec![vec![0, 1, 2, 3], vec![3]]);
    assert_eq!(peer.accepted(), vec![0, 2, 3]);
    assert_eq!(
        bus.counts(),
        PutCounts {
            accepted: 3,
            retried: 1,
            rejected: 1
        }
    );
}

#[tokio::test]
async fn an_entry_failing_on_every_attempt_is_given_up_and_the_other_batches_still_go() {
    // Event 0 fails on all four sends; events 10..15 are a second batch.
    let peer = PutEventsPeer::start((0..4).map(|send| ((0, send), "InternalFailure")).collect());
    let bus = bus(&peer).await;
    let error = bus.put(&events(15)).await.unwrap_err();
    assert!(
        matches!(
            error,
            EventBusError::Rejected {
                failed: 1,
                total: 10,
                ..
            }
        ),
        "{error}"
    );
    let sent = peer.sent_per_request();
    assert_eq!(
        sent.len(),
        5,
        "4 sends of the first batch, 1 of the second: {sent:?}"
    );
    assert_eq!(sent[4], (10..15).collect::<Vec<_>>());
    assert_eq!(peer.accepted(), (1..15).collect::<Vec<_>>());
    assert_eq!(
        bus.counts(),
        PutCounts {
            accepted: 14,
            retried: 3,
            rejected: 1
        }
    );
}

/// EventBridge's documented entry size: Time 14 bytes, Source, DetailType, Detail and each
/// Resource in UTF-8; a request whose entries total 256 KB or more is refused whole.
fn entry_size(entry: &Value) -> usize {
    let text = |key: &str| entry[key].as_str().map_or(0, str::len);
    let time = if entry.get("Time").is_some() { 14 } else { 0 };
    let resources: usize = entry["Resources"].as_array().map_or(0, |resources| {
        resources
            .iter()
            .filter_map(Value::as_str)
            .map(str::len)
            .sum()
    });
    time + text("Source") + text("DetailType") + text("Detail") + resources
}

const REQUEST_LIMIT: usize = 256 * 1024;

fn sized_events(sizes: &[usize]) -> Vec<BusEvent> {
    sizes
        .iter()
        .enumerate()
        .map(|(n, size)| BusEvent {
            source: "argus.connectors".into(),
            detail_type: "Argus External Alert".into(),
            detail: json!({"n": n, "pad": "x".repeat(*size)}),
            resources: Vec::new(),
            time: epoch(),
        })
        .collect()
}

#[tokio::test]
async fn attack_requests_are_batched_by_bytes_and_an_oversized_entry_is_refused_alone() {
    // GIVEN a peer that refuses, whole, any request of 256 KB or more, as EventBridge does
    let accepted = std::sync::Arc::new(Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&accepted);
    let peer = HttpPeer::start(None, move |_, request| {
        let body = request.json();
        let entries = body["Entries"].as_array().unwrap();
        let total: usize = entries.iter().map(entry_size).sum();
        if total >= REQUEST_LIMIT {
            return Action::Respond(HttpMessage::response(
                400,
                "application/x-amz-json-1.1",
                json!({"__type": "ValidationException", "message": "Total size of the entries in the request is over the limit."})
                    .to_string()
                    .into_bytes(),
            ));
        }
        let mut results = Vec::new();
        for entry in entries {
            recorded.lock().unwrap().push(entry_number(entry));
            results.push(json!({"EventId": "e"}));
        }
        Action::Respond(HttpMessage::response(
            200,
            "application/x-amz-json-1.1",
            json!({"FailedEntryCount": 0, "Entries": results})
                .to_string()
                .into_bytes(),
        ))
    });
    let client = aws_sdk_eventbridge::Client::new(&sdk_config(&peer.endpoint).await);
    let bus = EventBridgeBus::new(client, "argus-test").with_retry_backoff(Duration::ZERO);
    // WHEN two 130 KB events, one of 300 KB and a small one are put
    let result = bus
        .put(&sized_events(&[130_000, 130_000, 300_000, 10]))
        .await;
    // THEN the oversized one is refused alone, and every other one is delivered
    match result {
        Err(EventBusError::Rejected { failed, .. }) => assert_eq!(failed, 1),
        other => panic!("expected the oversized entry refused, got {other:?}"),
    }
    let mut delivered = accepted.lock().unwrap().clone();
    delivered.sort_unstable();
    assert_eq!(delivered, vec![0, 1, 3]);
    assert_eq!(bus.counts().rejected, 1);
}
