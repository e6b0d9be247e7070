//! Composition root of the outbound connectors Lambda: logging, settings and secrets (both read
//! once, at init), the SDK clients and the HTTP client built once, then the runtime loop.

use connectors::runtime_contract::{self, INVALID_SETTINGS};
use connectors::{handler, secrets, settings};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    // A misconfigured function fails here, once, naming what is wrong, instead of on every call;
    // the Runtime API is told, so Lambda shows `InvalidSettings` (or the secrets' error type).
    let settings = match settings::Settings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let aws = match argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await {
        Ok(aws) => aws,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let secrets = match secrets::load(&settings.secret_source, &aws).await {
        Ok(secrets) => secrets,
        Err(error) => {
            return Err(runtime_contract::init_failed(error.error_type(), error).await);
        }
    };
    let outbound = match handler::build(&aws, &settings, secrets) {
        Ok(outbound) => outbound,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    tracing::info!(channels = ?outbound.channels.enabled(), topic = settings.sns_topic_arn.is_some(), bucket = settings.postmortem_bucket.is_some(), "connectors ready");
    let outbound = &outbound;
    runtime_contract::run(
        handler::INVALID_REQUEST,
        move |event: LambdaEvent<Value>| async move { handler::handle(outbound, event.payload).await },
    )
    .await
}
