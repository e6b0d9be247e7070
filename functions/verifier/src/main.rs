//! Composition root of the verifier Lambda: JSON logs, then the runtime loop.

mod handler;
// The deployment's contract; only tests read its lists, the handler its error name.
#[allow(dead_code)]
mod wiring;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        handler::handle(&event.payload, &argus::clock::SystemClock)
    }))
    .await
}
