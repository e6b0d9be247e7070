//! Untrusted text is bounded where it enters: an alarm name longer than AWS allows is refused,
//! display text is cut with a marker, and identities that become store keys are hashed past a
//! length, so no key part can exceed DynamoDB's key limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::config::SignalConfig;
use argus::signal::{NormaliseError, Normalised, Signal, normalise};
use serde_json::{Value, json};
use std::path::PathBuf;

fn sample(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn signal(event: &Value) -> Signal {
    match normalise(event, &SignalConfig::default()).unwrap() {
        Normalised::Signals(mut signals) => signals.remove(0),
        other => panic!("expected a signal, got {other:?}"),
    }
}

#[test]
fn attack_a_20_mb_alarm_name_is_refused_without_being_echoed() {
    let mut event = sample("cloudwatch-alarm/eventbridge-status-check-failed-ALARM.json");
    event["detail"]["alarmName"] = json!("A".repeat(20 * 1024 * 1024));
    match normalise(&event, &SignalConfig::default()) {
        Err(error @ NormaliseError::InvalidField { .. }) => {
            assert!(error.to_string().contains("alarmName"), "{error}");
            assert!(error.to_string().len() < 1_000);
        }
        other => panic!("expected InvalidEvent, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn attack_a_3_kb_alert_name_gives_a_signature_short_enough_for_every_key() {
    let mut event = sample("argus/external-alert-firing.json");
    event["detail"]["name"] = json!(format!("{}-a", "N".repeat(3_000)));
    let first = signal(&event);
    event["detail"]["name"] = json!(format!("{}-b", "N".repeat(3_000)));
    let second = signal(&event);
    assert!(first.signature.len() <= 512, "{}", first.signature.len());
    assert_ne!(
        first.signature, second.signature,
        "distinct names stay distinct"
    );
    assert!(first.title.len() <= 512, "{}", first.title.len());
    assert!(first.title.contains("truncated"), "{}", first.title);
}

#[test]
fn attack_a_huge_principal_is_cut_with_a_marker_in_the_title() {
    let mut event = sample("cloudtrail/ec2-StopInstances.json");
    event["detail"]["userIdentity"]["arn"] = json!(format!(
        "arn:aws:sts::123456789012:assumed-role/{}",
        "r".repeat(100_000)
    ));
    let signal = signal(&event);
    assert!(signal.title.len() <= 512, "{}", signal.title.len());
    assert!(signal.title.contains("truncated"), "{}", signal.title);
}
