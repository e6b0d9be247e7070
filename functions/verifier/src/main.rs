//! Composition root of the verifier Lambda: JSON logs, then the runtime loop.

mod handler;
// The deployment's contract; only tests read its lists, the handler its error name.
#[allow(dead_code)]
mod wiring;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        .init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        handler::handle(&event.payload, &argus::clock::SystemClock)
    }))
    .await
}
