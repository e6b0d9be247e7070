//! The Lambda runtime contract every Argus function keeps, one file compiled into each function
//! crate (`#[path]`): no function crate may depend on another, and `shared` may not depend on
//! `lambda_runtime`.
//!
//! - An init failure (a bad setting, unreadable secrets) is reported to the Runtime API's
//!   `/runtime/init/error` with a stable `errorType` (`InvalidSettings`) and logged once as JSON,
//!   so Lambda shows that error instead of a bare `Runtime.ExitError`. lambda_runtime 1.x reports
//!   to `/init/error` only for SnapStart hooks, so the report is made here with its own Runtime
//!   API client.
//! - A payload that cannot be decoded into the function's type is answered with the function's
//!   stable `errorType` (`InvalidEvent`, `InvalidRequest`), not lambda_runtime's
//!   `&lambda_runtime::deserializer::DeserializeError`: the handler's payload type is
//!   [`Payload`], whose decoding never fails.
//! - Each handler logs its own errors, once, as JSON; `argus::telemetry` drops the runtime's
//!   second, plain-text copy.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Deserializer};
use std::future::Future;

/// The `errorType` of an init failure: the function's settings or secrets are not usable.
pub const INVALID_SETTINGS: &str = "InvalidSettings";

/// The Runtime API's path for init failures.
const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// An invocation's payload: the function's own type, or why the bytes Lambda delivered are not
/// one. Decoding it never fails, so the handler, not the runtime, answers a bad payload.
#[derive(Debug)]
pub enum Payload<T> {
    Decoded(T),
    Undecodable(String),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Payload<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The runtime decodes with serde_json from the invocation's bytes: a syntax error or a
        // document of the wrong shape both end up here as the inner error.
        Ok(match T::deserialize(deserializer) {
            Ok(payload) => Payload::Decoded(payload),
            Err(error) => Payload::Undecodable(error.to_string()),
        })
    }
}

/// Runs `handler` on a decoded payload; an undecodable one is answered with `undecodable_type`
/// (and logged once) without calling it.
pub async fn answer<T, R, E, F, Fut>(
    event: LambdaEvent<Payload<T>>,
    undecodable_type: &'static str,
    handler: F,
) -> Result<R, Diagnostic>
where
    F: FnOnce(LambdaEvent<T>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    let LambdaEvent { payload, context } = event;
    match payload {
        Payload::Decoded(payload) => handler(LambdaEvent::new(payload, context))
            .await
            .map_err(Into::into),
        Payload::Undecodable(reason) => {
            let diagnostic = Diagnostic {
                error_type: undecodable_type.to_string(),
                error_message: format!("the payload could not be decoded: {reason}"),
            };
            tracing::error!(error_type = undecodable_type, error = %diagnostic.error_message, "payload not decoded");
            Err(diagnostic)
        }
    }
}

/// Runs the runtime loop: `handler` gets decoded payloads, undecodable ones are answered with
/// `undecodable_type`. `handler` is a closure over references, hence `Copy`.
pub async fn run<T, R, E, F, Fut>(
    undecodable_type: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    T: for<'de> Deserialize<'de>,
    R: serde::Serialize,
    F: Fn(LambdaEvent<T>) -> Fut + Copy,
    Fut: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    argus::telemetry::log_panics();
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Payload<T>>| async move {
            answer(event, undecodable_type, handler).await
        },
    ))
    .await
}

/// Reports an init failure to the Runtime API (when there is one: `AWS_LAMBDA_RUNTIME_API`),
/// logs it once as JSON, and ends the process with status 1, as the Runtime API expects after an
/// init error. It exits itself rather than give `main` an error to return, because Rust prints
/// a returned error again, as plain text (`Error: …`), after the JSON line.
pub async fn init_failed<E>(error_type: &'static str, error: E) -> lambda_runtime::Error
where
    E: std::fmt::Display + Into<lambda_runtime::Error>,
{
    let message = error.to_string();
    tracing::error!(error_type, error = %message, "init failed");
    if let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|api| !api.is_empty())
        && let Err(report) = report_init_error(&api, error_type, &message).await
    {
        tracing::error!(error = %report, "the init failure could not be reported to the Runtime API");
    }
    std::process::exit(1)
}

/// POSTs the diagnostic to `/runtime/init/error` of the Runtime API at `api` (`host:port`).
pub async fn report_init_error(
    api: &str,
    error_type: &str,
    message: &str,
) -> Result<(), lambda_runtime::Error> {
    let client = lambda_runtime_api_client::Client::builder()
        .with_endpoint(format!("http://{api}").parse()?)
        .build()?;
    let diagnostic = Diagnostic {
        error_type: error_type.to_string(),
        error_message: message.to_string(),
    };
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .header("Content-Type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(
            serde_json::to_vec(&diagnostic)?,
        ))?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("the Runtime API answered {}", response.status()).into());
    }
    Ok(())
}
