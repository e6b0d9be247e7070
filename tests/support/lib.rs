//! Support for the wire-protocol tests: SDK clients pointed at the local peers that
//! `tests/peers.sh` starts (DynamoDB Local, moto), and the rule for when a peer is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http_peer;
pub mod paths;
pub mod workflow;

pub use argus::testing::{
    DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer, peer_sdk_config as sdk_config,
};

/// A name no other test uses in the shared peer.
pub fn unique_name(prefix: &str) -> String {
    argus::testing::unique(prefix).replace(['-', ':'], "_")
}
