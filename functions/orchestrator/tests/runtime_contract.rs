//! The orchestrator's binary under a Runtime API on loopback (issue 20, item 8): a bad setting is
//! reported to `/runtime/init/error` as `InvalidSettings`; a payload that is not JSON is answered
//! `InvalidEvent` on `/runtime/invocation/{id}/error`, and logged once, as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../runtime_api_peer.rs"]
mod runtime_api_peer;

use runtime_api_peer::{RuntimeApiPeer, assert_logged_once_as_json, exited, stop};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

const SETTINGS: &[(&str, &str)] = &[
    ("ARGUS_INCIDENTS_TABLE", "argus-incidents"),
    ("ARGUS_PATTERNS_TABLE", "argus-patterns"),
    (
        "ARGUS_STATE_MACHINE_ARN",
        "arn:aws:states:us-east-1:123456789012:stateMachine:argus-recovery",
    ),
];

#[test]
fn a_bad_setting_is_reported_to_init_error_as_invalid_settings() {
    let peer = RuntimeApiPeer::start(Vec::new());
    let mut environment = SETTINGS.to_vec();
    environment.push(("ARGUS_POLICY", "{not json"));
    let child = peer.run(env!("CARGO_BIN_EXE_orchestrator"), &environment);
    let report = peer
        .recorded(WAIT)
        .expect("no report reached the Runtime API");
    let (stdout, stderr) = exited(child, Duration::from_secs(30));
    assert_eq!(report.method, "POST");
    assert_eq!(report.path, "/2018-06-01/runtime/init/error", "{report:?}");
    assert_eq!(
        report.header("Lambda-Runtime-Function-Error-Type"),
        Some("InvalidSettings")
    );
    assert_eq!(report.json()["errorType"], "InvalidSettings", "{report:?}");
    assert!(
        report.json()["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("ARGUS_POLICY"),
        "{report:?}"
    );
    assert_logged_once_as_json(&stdout, &stderr, "InvalidSettings");
}

#[test]
fn a_payload_that_is_not_json_is_answered_invalid_event() {
    let peer = RuntimeApiPeer::start(vec![("req-garbage-1".into(), b"\x00not json{".to_vec())]);
    let child = peer.run(env!("CARGO_BIN_EXE_orchestrator"), SETTINGS);
    let answer = peer
        .recorded(WAIT)
        .expect("no answer reached the Runtime API");
    let (stdout, stderr) = stop(child);
    assert_eq!(
        answer.path, "/2018-06-01/runtime/invocation/req-garbage-1/error",
        "{answer:?}\n{stdout}\n{stderr}"
    );
    assert_eq!(answer.json()["errorType"], "InvalidEvent", "{answer:?}");
    assert_logged_once_as_json(&stdout, &stderr, "InvalidEvent");
    // The failure's line carries the invocation's request id.
    let line = stdout
        .lines()
        .find(|line| line.contains("InvalidEvent"))
        .unwrap();
    assert!(line.contains("req-garbage-1"), "{line}");
}
