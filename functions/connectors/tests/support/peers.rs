//! SDK configuration for the connectors' tests against the local peers: dummy credentials and
//! the endpoint overridden, so nothing can leave loopback, and the HTTP client the functions
//! deploy with.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(argus::sdk::amazon_https_client().unwrap())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "argus-tests",
        ))
        .load()
        .await
}
