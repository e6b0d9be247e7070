//! Composition root of the outbound connectors Lambda: logging, settings and secrets (both read
//! once, at init), the SDK clients and the HTTP client built once, then the runtime loop.

use connectors::{handler, secrets, settings};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    // A misconfigured function fails here, once, naming what is wrong, instead of on every call.
    let settings =
        settings::Settings::from_env(|name| std::env::var(name).ok()).map_err(|error| {
            tracing::error!(%error, "connectors configuration is invalid");
            error
        })?;
    let aws = argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await?;
    let secrets = secrets::load(&settings.secret_source, &aws)
        .await
        .map_err(|error| {
            tracing::error!(error_type = error.error_type(), %error, "connectors secrets could not be read");
            error
        })?;
    let outbound = handler::build(&aws, &settings, secrets)?;
    tracing::info!(channels = ?outbound.channels.enabled(), topic = settings.sns_topic_arn.is_some(), bucket = settings.postmortem_bucket.is_some(), "connectors ready");
    let outbound = &outbound;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::handle(outbound, event.payload).await
    }))
    .await
}
