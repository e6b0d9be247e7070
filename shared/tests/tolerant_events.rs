//! Events accepted where AWS itself is tolerant: CloudTrail records without `eventID` (as
//! documentation, CloudTrail Lake and S3 exports may give them), a single record instead of
//! `{"Records": [...]}`, and hand-written EventBridge events without `id`. Each gets a source
//! event id derived from its content, stable across re-deliveries and distinct across contents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::config::SignalConfig;
use argus::signal::{Normalised, Signal, normalise};
use serde_json::Value;
use std::path::Path;

const PREFIX: &str = "derived-sha256-";

fn sample(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn signals(event: &Value) -> Vec<Signal> {
    match normalise(event, &SignalConfig::default()) {
        Ok(Normalised::Signals(signals)) => signals,
        other => panic!("expected signals, got {other:?}"),
    }
}

#[test]
fn a_single_cloudtrail_record_without_event_id_is_a_signal_with_a_derived_id() {
    let event = sample("tolerant/cloudtrail-single-record-without-event-id.json");
    let found = signals(&event);
    assert_eq!(found.len(), 1);
    let signal = &found[0];
    assert_eq!(signal.resource.as_str(), "ec2:instance/i-1234567890abcdef0");
    assert_eq!(signal.signature, "cloudtrail:ec2:StopInstances");
    assert!(
        signal
            .source_event_id
            .starts_with(&format!("cloudtrail:{PREFIX}")),
        "{}",
        signal.source_event_id
    );
    // The same record delivered again (re-indented, keys reordered) is the same event.
    let again: Value = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
    assert_eq!(signals(&again)[0].source_event_id, signal.source_event_id);
}

#[test]
fn a_records_file_without_event_ids_gets_the_same_ids_as_its_records_alone() {
    let wrapped = signals(&sample("tolerant/cloudtrail-records-without-event-id.json"));
    let single = signals(&sample(
        "tolerant/cloudtrail-single-record-without-event-id.json",
    ));
    assert_eq!(wrapped[0].source_event_id, single[0].source_event_id);
}

#[test]
fn another_call_gets_another_derived_id() {
    let mut event = sample("tolerant/cloudtrail-single-record-without-event-id.json");
    event["eventTime"] = Value::String("2026-11-22T04:41:12Z".into());
    let first = signals(&sample(
        "tolerant/cloudtrail-single-record-without-event-id.json",
    ));
    assert_ne!(signals(&event)[0].source_event_id, first[0].source_event_id);
}

#[test]
fn an_eventbridge_event_without_id_gets_a_derived_id() {
    let event = sample("tolerant/ec2-stopped-without-id.json");
    let signal = &signals(&event)[0];
    assert_eq!(signal.resource.as_str(), "ec2:instance/i-1234567890abcdef0");
    assert!(
        signal
            .source_event_id
            .starts_with(&format!("eventbridge:{PREFIX}")),
        "{}",
        signal.source_event_id
    );
    let mut other = event.clone();
    other["time"] = Value::String("2026-11-22T05:32:05Z".into());
    assert_ne!(signals(&other)[0].source_event_id, signal.source_event_id);
}

#[test]
fn a_given_id_is_kept() {
    let signal = &signals(&sample("ec2-state-change/stopped.json"))[0];
    assert_eq!(
        signal.source_event_id,
        "eventbridge:f90e335c-da3b-4731-bc6c-2eb09ce07595"
    );
}

#[test]
fn a_lone_object_that_is_not_a_cloudtrail_record_is_still_refused() {
    let event: Value = serde_json::json!({"eventName": "StopInstances"});
    let error = normalise(&event, &SignalConfig::default()).unwrap_err();
    assert_eq!(error.error_type(), "UnsupportedEvent", "{error}");
}
