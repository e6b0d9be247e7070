//! Translates a Lambda invocation from the recovery state machine into one outbound operation,
//! and its errors into stable `errorType` names; builds the operation's dependencies once.

use crate::delivery::{BreakerPolicy, Delivery, DeliveryError, RetryPolicy, TokioPause};
use crate::outbound::aws::{Archive, S3Archive, SnsTopic, Topic};
use crate::outbound::channels::Channels;
use crate::outbound::{ConnectorError, Outbound};
use crate::secrets::Secrets;
use crate::settings::Settings;
use argus::clock::SystemClock;
use argus::store::dynamodb::DynamoStore;
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// The error the Lambda reports: a stable `errorType` and a message that names no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    pub error_type: &'static str,
    pub message: String,
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(error: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type.to_string(),
            error_message: error.message,
        }
    }
}

/// Builds the outbound service from settings and the secrets read at init: the store, the SNS
/// topic and S3 bucket when configured, and the one HTTP client.
/// `errorType` of a payload that is not an operation request (the state machine escalates).
pub const INVALID_REQUEST: &str = "InvalidRequest";

pub fn build(
    aws: &aws_config::SdkConfig,
    settings: &Settings,
    secrets: Secrets,
) -> Result<Outbound, DeliveryError> {
    let clock = Arc::new(SystemClock);
    let topic: Option<Arc<dyn Topic>> = settings.sns_topic_arn.as_ref().map(|arn| {
        Arc::new(SnsTopic::new(aws_sdk_sns::Client::new(aws), arn.clone())) as Arc<dyn Topic>
    });
    let archive: Option<Arc<dyn Archive>> = settings.postmortem_bucket.as_ref().map(|bucket| {
        Arc::new(S3Archive::new(aws_sdk_s3::Client::new(aws), bucket.clone())) as Arc<dyn Archive>
    });
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        settings.incidents_table.clone(),
        settings.patterns_table.clone(),
    ));
    Ok(Outbound {
        store: store.clone(),
        patterns: store,
        clock: clock.clone(),
        config: settings.config.clone(),
        channels: Channels::from_settings(settings, &secrets),
        delivery: Delivery::new(
            RetryPolicy::default(),
            BreakerPolicy::default(),
            clock,
            Arc::new(TokioPause),
        )?,
        topic,
        archive,
        secrets,
    })
}

/// Runs one invocation: the answer is `{"delivered": [...], "failed": [...]}`.
pub async fn handle(outbound: &Outbound, payload: Value) -> Result<Value, HandlerError> {
    let operation = payload
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let correlation_id = payload
        .get("correlation_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let span = tracing::info_span!("operation", %operation, %correlation_id);
    async move {
        match outbound.handle(&payload).await {
            Ok(report) => {
                tracing::info!(
                    delivered = report.delivered.len(),
                    failed = report.failed.len(),
                    "operation done"
                );
                serde_json::to_value(&report).map_err(|error| HandlerError {
                    error_type: INVALID_REQUEST,
                    message: error.to_string(),
                })
            }
            Err(error) => {
                let message = outbound.secrets.redact(&error.to_string());
                tracing::error!(error_type = error.error_type(), %message, "operation failed");
                Err(handler_error(&error, message))
            }
        }
    }
    .instrument(span)
    .await
}

fn handler_error(error: &ConnectorError, message: String) -> HandlerError {
    HandlerError {
        error_type: error.error_type(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::delivery::DeliveryError;
    use crate::outbound::ConnectorError;
    use argus::incident::IncidentWriteError;
    use argus::ports::StoreError;

    #[test]
    fn the_wiring_lists_every_call_the_adapters_make() {
        let listed = crate::wiring::api_calls();
        for call in argus::store::dynamodb::API_CALLS
            .iter()
            .chain(crate::outbound::aws::API_CALLS)
            .chain(crate::secrets::API_CALLS)
        {
            assert!(listed.contains(call), "wiring::api_calls lacks {call}");
        }
        assert_eq!(
            listed.len(),
            argus::store::dynamodb::API_CALLS.len()
                + crate::outbound::aws::API_CALLS.len()
                + crate::secrets::API_CALLS.len()
        );
    }

    #[test]
    fn the_wiring_lists_every_error_type_the_handler_reports() {
        let text = String::new;
        let errors = [
            ConnectorError::Invalid(text()),
            ConnectorError::NotFound(text()),
            ConnectorError::Store(StoreError::Throttled(text())),
            ConnectorError::Store(StoreError::Unavailable(text())),
            ConnectorError::Store(StoreError::Corrupt(text())),
            ConnectorError::Incident(IncidentWriteError::Contended(text())),
            ConnectorError::Incident(IncidentWriteError::Store(StoreError::Throttled(text()))),
            ConnectorError::ApprovalNotDelivered {
                incident: text(),
                reasons: text(),
            },
        ];
        let listed = crate::wiring::error_types();
        for error in &errors {
            assert!(
                listed.contains(&error.error_type()),
                "wiring::error_types lacks {}",
                error.error_type()
            );
        }
        // Channel failures are reported in the answer, never as the Lambda's errorType.
        let channel = DeliveryError::Timeout {
            channel: text(),
            attempts: 1,
        };
        assert!(!listed.contains(&channel.error_type()));
    }
}
