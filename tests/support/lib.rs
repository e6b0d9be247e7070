//! Support for the wire-protocol tests: SDK clients pointed at the local peers that
//! `tests/peers.sh` starts (DynamoDB Local, moto), and the rule for when a peer is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http_peer;
pub mod investigation_world;
pub mod paths;
pub mod workflow;

pub use argus::testing::{
    DYNAMODB_ENDPOINT_ENV, MOTO_ENDPOINT_ENV, peer, peer_sdk_config as sdk_config,
};

/// A name no other test uses in the shared peer.
pub fn unique_name(prefix: &str) -> String {
    argus::testing::unique(prefix).replace(['-', ':'], "_")
}

/// An EC2 instance id (`i-` and 17 lowercase hex characters, the grammar signals are checked
/// against) derived from a readable label, so a test names its instance by what it is for.
pub fn instance_id(label: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let hash = label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("i-0{hash:016x}")
}

/// An instance id no other test uses in the shared peer.
pub fn unique_instance_id(label: &str) -> String {
    instance_id(&argus::testing::unique(label))
}
