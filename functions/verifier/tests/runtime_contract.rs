//! The verifier's binary under a Runtime API on loopback (issue 20, item 8): a payload that is not
//! JSON is answered `InvalidRequest`, the error the state machine names, and logged once as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../runtime_api_peer.rs"]
mod runtime_api_peer;

use runtime_api_peer::{RuntimeApiPeer, assert_logged_once_as_json, stop};
use std::time::Duration;

#[test]
fn a_payload_that_is_not_json_is_answered_invalid_request() {
    let peer = RuntimeApiPeer::start(vec![("req-v-1".into(), b"<xml/>".to_vec())]);
    let child = peer.run(env!("CARGO_BIN_EXE_verifier"), &[]);
    let answer = peer.recorded(Duration::from_secs(30)).expect("no answer");
    let (stdout, stderr) = stop(child);
    assert_eq!(
        answer.path, "/2018-06-01/runtime/invocation/req-v-1/error",
        "{answer:?}"
    );
    assert_eq!(answer.json()["errorType"], "InvalidRequest", "{answer:?}");
    assert_logged_once_as_json(&stdout, &stderr, "InvalidRequest");
}
