//! Composition root of the log analyzer Lambda: tracing, configuration (checked at init), SDK
//! clients built once, then the runtime loop. Invoked by an EventBridge schedule; the event's
//! content is not used.

mod handler;
#[cfg(test)]
mod logging;
mod metrics;
#[path = "../../runtime_contract.rs"]
mod runtime_contract;
mod settings;
// The deployment's contract, read by the settings tests and by tests/tests/wiring.rs.
#[cfg(test)]
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
    // A misconfigured function fails here, once, naming what is wrong, instead of on every run;
    // the Runtime API is told, so Lambda shows `InvalidSettings`.
    let settings = match settings::Settings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let aws = match argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await {
        Ok(aws) => aws,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let analyzer = handler::Analyzer::new(&aws, settings);
    let analyzer = &analyzer;
    // The schedule's event is not read, so any JSON will do; bytes that are not JSON are refused.
    runtime_contract::run(
        handler::INVALID_EVENT,
        move |event: LambdaEvent<Value>| async move { analyzer.handle(event).await },
    )
    .await
}
