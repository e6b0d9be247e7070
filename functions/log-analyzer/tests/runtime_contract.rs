//! The log analyzer's binary under a Runtime API on loopback (issue 20, item 8): a bad setting is
//! reported to `/runtime/init/error` as `InvalidSettings`; a payload that is not JSON is answered
//! `InvalidEvent`; each is logged once, as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../runtime_api_peer.rs"]
mod runtime_api_peer;

use runtime_api_peer::{RuntimeApiPeer, assert_logged_once_as_json, exited, stop};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_missing_setting_is_reported_to_init_error_as_invalid_settings() {
    let peer = RuntimeApiPeer::start(Vec::new());
    let child = peer.run(env!("CARGO_BIN_EXE_log-analyzer"), &[]);
    let report = peer.recorded(WAIT).expect("no report");
    let (stdout, stderr) = exited(child, Duration::from_secs(30));
    assert_eq!(report.path, "/2018-06-01/runtime/init/error", "{report:?}");
    assert_eq!(report.json()["errorType"], "InvalidSettings", "{report:?}");
    assert_logged_once_as_json(&stdout, &stderr, "InvalidSettings");
}

#[test]
fn a_payload_that_is_not_json_is_answered_invalid_event() {
    let peer = RuntimeApiPeer::start(vec![("req-l-1".into(), b"\xff\xfe".to_vec())]);
    let child = peer.run(
        env!("CARGO_BIN_EXE_log-analyzer"),
        &[
            ("ARGUS_PATTERNS_TABLE", "argus-patterns"),
            ("ARGUS_EVENT_BUS", "default"),
            ("ARGUS_LOG_GROUPS", "/aws/lambda/checkout"),
        ],
    );
    let answer = peer.recorded(WAIT).expect("no answer");
    let (stdout, stderr) = stop(child);
    assert_eq!(
        answer.path, "/2018-06-01/runtime/invocation/req-l-1/error",
        "{answer:?}\n{stdout}"
    );
    assert_eq!(answer.json()["errorType"], "InvalidEvent", "{answer:?}");
    assert_logged_once_as_json(&stdout, &stderr, "InvalidEvent");
}
