//! Composition root of the log analyzer Lambda: tracing, configuration (checked at init), SDK
//! clients built once, then the runtime loop. Invoked by an EventBridge schedule; the event's
//! content is not used.

mod handler;
#[cfg(test)]
mod logging;
mod settings;
// The deployment's contract, read by the settings tests and by tests/tests/wiring.rs.
#[cfg(test)]
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
    // A misconfigured function fails here, once, naming what is wrong, instead of on every run.
    let settings =
        settings::Settings::from_env(|name| std::env::var(name).ok()).map_err(|error| {
            tracing::error!(%error, "log analyzer configuration is invalid");
            error
        })?;
    let aws = argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await?;
    let analyzer = handler::Analyzer::new(&aws, settings);
    let analyzer = &analyzer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        analyzer.handle(event).await
    }))
    .await
}
