//! Support for the wire-protocol tests: SDK clients pointed at the local peers that
//! `tests/peers.sh` starts (DynamoDB Local, moto), and the rule for when a peer is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_config::{BehaviorVersion, SdkConfig};

pub mod http_peer;
pub mod paths;

pub use argus::testing::{DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer};

/// SDK configuration with dummy credentials and the endpoint overridden, so nothing can leave
/// loopback; its HTTP client is the one the functions deploy with.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(argus::sdk::amazon_https_client().unwrap())
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
