//! What the inbound endpoint (`connectors-http`) needs from its deployment: the environment it
//! reads at init, the AWS calls it makes, and the `error_type` names it reports (in 503 bodies
//! and log lines; the Function URL itself always answers HTTP).

use super::InboundError;
use super::settings::SECRET_ID_ENV;
use super::task_callback::{self, TaskCallbackError};
use argus::config::POLICY_ENV;
use argus::intake::IntakeError;
use argus::loganalysis::config::EVENT_BUS_ENV;
use argus::loganalysis::ports::EventBusError;
use argus::ports::StoreError;
use argus::store::dynamodb::schema::INCIDENTS_TABLE_ENV;

/// Environment variables read once at init.
pub const ENVIRONMENT: &[&str] = &[
    INCIDENTS_TABLE_ENV,
    EVENT_BUS_ENV,
    SECRET_ID_ENV,
    POLICY_ENV,
];

/// IAM actions of every AWS call the endpoint makes: the incidents table (the DynamoDB
/// adapter's list), PutEvents, the task callbacks, and reading its secret at init.
pub fn api_calls() -> Vec<&'static str> {
    [
        argus::store::dynamodb::API_CALLS,
        argus::store::eventbridge::API_CALLS,
        task_callback::API_CALLS,
        &["secretsmanager:GetSecretValue"],
    ]
    .concat()
}

/// Every `error_type` the endpoint can report.
pub fn error_types() -> Vec<&'static str> {
    let text = String::new;
    let mut errors: Vec<InboundError> = [
        StoreError::Throttled(text()),
        StoreError::Unavailable(text()),
        StoreError::Corrupt(text()),
    ]
    .into_iter()
    .map(InboundError::from)
    .collect();
    errors.push(IntakeError::Contended(text()).into());
    errors.extend(
        [
            EventBusError::Throttled(text()),
            EventBusError::Unavailable(text()),
            EventBusError::Rejected {
                failed: 1,
                total: 1,
                reason: text(),
            },
        ]
        .into_iter()
        .map(InboundError::from),
    );
    let mut names: Vec<&'static str> = errors.iter().map(InboundError::error_type).collect();
    names.extend(
        [
            TaskCallbackError::TaskGone(text()),
            TaskCallbackError::Throttled(text()),
            TaskCallbackError::Unavailable(text()),
        ]
        .iter()
        .map(TaskCallbackError::error_type),
    );
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_types_are_the_documented_names() {
        assert_eq!(
            error_types(),
            vec![
                "ApprovalTaskGone",
                "ConcurrentUpdate",
                "EventBusRejected",
                "EventBusThrottled",
                "EventBusUnavailable",
                "StoreCorrupt",
                "StoreThrottled",
                "StoreUnavailable",
                "TaskCallbackThrottled",
                "TaskCallbackUnavailable",
            ]
        );
        assert!(api_calls().contains(&"states:SendTaskSuccess"));
        assert!(api_calls().contains(&"events:PutEvents"));
    }
}
