//! Support for the wire-protocol tests: SDK clients pointed at the local peers that
//! `tests/peers.sh` starts (DynamoDB Local, moto), and the rule for when a peer is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_config::{BehaviorVersion, SdkConfig};

pub mod http_peer;
pub mod paths;

pub const DYNAMODB_ENDPOINT_ENV: &str = "ARGUS_TEST_DYNAMODB_ENDPOINT";
pub const MOTO_ENDPOINT_ENV: &str = "ARGUS_TEST_MOTO_ENDPOINT";

/// The endpoint of a local peer. Outside CI a missing peer skips the test and says so; in CI
/// (`CI=true`) it fails, so a broken peer start can never pass as a green run.
pub fn peer(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.is_empty() => {
            assert!(
                endpoint.starts_with("http://127.0.0.1:")
                    || endpoint.starts_with("http://localhost:"),
                "{variable} must be a loopback address, got {endpoint}"
            );
            Some(endpoint)
        }
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{test}: {variable} is not set; run the tests through `bash tests/peers.sh`")
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: {variable} is not set (run through `bash tests/peers.sh` to start the local peer)"
            );
            None
        }
    }
}

/// SDK configuration with dummy credentials and the endpoint overridden, so nothing can leave loopback.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "argus-tests",
        ))
        .load()
        .await
}

/// A name no other test uses in the shared peer.
pub fn unique_name(prefix: &str) -> String {
    argus::testing::unique(prefix).replace(['-', ':'], "_")
}
