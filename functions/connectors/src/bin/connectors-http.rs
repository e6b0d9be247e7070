//! Composition root of the inbound endpoint (Lambda Function URL): tracing, configuration and
//! secrets read once at init, SDK clients built once, then the runtime loop. Each invocation is
//! one HTTP request, answered by `connectors::inbound::Inbound`.

use argus::adapters::eventbridge::EventBridgeBus;
use argus::clock::SystemClock;
use argus::store::dynamodb::DynamoStore;
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use connectors::inbound::Inbound;
use connectors::inbound::http::{HttpRequest, HttpResponse};
use connectors::inbound::settings::InboundSettings;
use connectors::inbound::slack::{HttpSlackResponder, RESPONSE_URL_PREFIX};
use connectors::inbound::task_callback::SfnTaskCallback;
use connectors::runtime_contract::{self, INVALID_SETTINGS};
use connectors::secrets::load_from_secrets_manager;
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::subscriber::set_global_default(argus::telemetry::subscriber(
        std::io::stdout,
        argus::telemetry::filter_from_env(),
    ))?;
    // A misconfigured function fails here, once, naming what is wrong, instead of per request;
    // the Runtime API is told, so Lambda shows `InvalidSettings` (or the secrets' error type).
    let settings = match InboundSettings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let aws = match argus::sdk::load(settings.tls_roots, |name| std::env::var(name).ok()).await {
        Ok(aws) => aws,
        Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
    };
    let secrets = match load_from_secrets_manager(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &settings.secret_id,
    )
    .await
    {
        Ok(secrets) => secrets,
        Err(error) => {
            return Err(runtime_contract::init_failed(error.error_type(), error).await);
        }
    };
    // Only what authenticates senders stays in memory, whatever else the secret holds.
    let secrets = connectors::inbound::endpoint_secrets(&secrets);
    tracing::info!(configured = ?secrets, "inbound endpoint secrets loaded");
    let inbound = Inbound {
        // The endpoint reads and writes incidents only; the patterns table is never touched.
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            settings.incidents_table,
            String::new(),
        )),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&aws),
            settings.event_bus,
        )),
        callback: Arc::new(SfnTaskCallback::new(aws_sdk_sfn::Client::new(&aws))),
        clock: Arc::new(SystemClock),
        config: settings.config,
        secrets,
        slack_responder: Arc::new(match HttpSlackResponder::new(RESPONSE_URL_PREFIX) {
            Ok(responder) => responder,
            Err(error) => return Err(runtime_contract::init_failed(INVALID_SETTINGS, error).await),
        }),
        rate_limit: Default::default(),
    };
    let inbound = &inbound;
    // A body that is not a Function URL event is answered `InvalidRequest` (Lambda then answers
    // the caller 502), never the runtime's own decoding error.
    runtime_contract::run(
        connectors::handler::INVALID_REQUEST,
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            Ok::<LambdaFunctionUrlResponse, lambda_runtime::Diagnostic>(
                match HttpRequest::from_function_url(event.payload) {
                    Ok(request) => inbound.handle(&request).await,
                    Err(error) => HttpResponse::error(400, "bad_request", &error.to_string()),
                }
                .into_function_url(),
            )
        },
    )
    .await
}
