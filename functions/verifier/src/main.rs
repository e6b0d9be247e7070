//! Composition root of the verifier Lambda: JSON logs, then the runtime loop.

mod handler;
// The verifier reads no settings, so nothing can fail at its init: only `run` is used.
#[allow(dead_code)]
#[path = "../../runtime_contract.rs"]
mod runtime_contract;
// The deployment's contract; only tests read its lists, the handler its error name.
#[allow(dead_code)]
mod wiring;

use lambda_runtime::LambdaEvent;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    runtime_contract::run(
        wiring::INVALID_REQUEST,
        |event: LambdaEvent<Value>| async move {
            handler::handle(&event.payload, &argus::clock::SystemClock)
        },
    )
    .await
}
