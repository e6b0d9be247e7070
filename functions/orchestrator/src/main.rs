//! Composition root of the orchestrator Lambda: tracing, configuration (checked at init), SDK
//! clients built once, then the runtime loop.

mod handler;
mod investigation;
#[cfg(test)]
mod logging;
mod metrics;
#[path = "../../runtime_contract.rs"]
mod runtime_contract;
mod settings;
// The deployment's contract, read by the settings tests and by tests/tests/wiring.rs.
#[allow(dead_code)]
mod wiring;

use lambda_runtime::LambdaEvent;
use runtime_contract::INVALID_SETTINGS;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    // A misconfigured function fails here, once, naming what is wrong, instead of on every event;
    // the Runtime API is told, so Lambda shows `InvalidSettings`.
    let settings = match settings::Settings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let aws = match argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await {
        Ok(aws) => aws,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let orchestrator = handler::Orchestrator::new(&aws, settings);
    let orchestrator = &orchestrator;
    runtime_contract::run(
        handler::INVALID_EVENT,
        move |event: LambdaEvent<Value>| async move { orchestrator.handle(event).await },
    )
    .await
}
