//! Both connectors binaries under a Runtime API on loopback (issue 20, item 8): a bad setting is
//! reported to `/runtime/init/error` as `InvalidSettings` and logged once, as JSON. (An
//! undecodable payload is answered by the same `runtime_contract::run` the other functions'
//! tests cover; reaching an invocation here would need the secrets from AWS.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../runtime_api_peer.rs"]
mod runtime_api_peer;

use runtime_api_peer::{RuntimeApiPeer, assert_logged_once_as_json, exited};
use std::time::Duration;

fn assert_init_error(binary: &str, environment: &[(&str, &str)]) {
    let peer = RuntimeApiPeer::start(Vec::new());
    let child = peer.run(binary, environment);
    let report = peer.recorded(Duration::from_secs(30)).expect("no report");
    let (stdout, stderr) = exited(child, Duration::from_secs(30));
    assert_eq!(report.path, "/2018-06-01/runtime/init/error", "{report:?}");
    assert_eq!(
        report.header("Lambda-Runtime-Function-Error-Type"),
        Some("InvalidSettings")
    );
    assert_eq!(report.json()["errorType"], "InvalidSettings", "{report:?}");
    assert_logged_once_as_json(&stdout, &stderr, "InvalidSettings");
}

#[test]
fn the_outbound_function_reports_a_bad_setting_as_invalid_settings() {
    assert_init_error(
        env!("CARGO_BIN_EXE_connectors"),
        &[
            ("ARGUS_INCIDENTS_TABLE", "argus-incidents"),
            ("ARGUS_PATTERNS_TABLE", "argus-patterns"),
            ("ARGUS_CONNECTORS_SECRET_ID", "argus/connectors"),
            ("ARGUS_CONNECTORS_SSM_PATH", "/argus/connectors"),
        ],
    );
}

#[test]
fn the_inbound_endpoint_reports_a_missing_setting_as_invalid_settings() {
    assert_init_error(env!("CARGO_BIN_EXE_connectors-http"), &[]);
}
