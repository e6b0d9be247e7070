//! What the inbound endpoint (`connectors-http`) needs from its deployment: the environment it
//! reads at init, the AWS calls it makes, and the `error_type` names it reports (in 503 bodies
//! and log lines; the Function URL itself always answers HTTP). The file imports only the
//! library, so tests/tests/wiring.rs can compile it by path as it does the other functions';
//! the tests in `inbound/mod.rs` hold its lists to the endpoint's own types (a test module here
//! would be compiled by the wiring checks too, where the endpoint's types do not exist).

use argus::config::POLICY_ENV;
use argus::incident::IncidentWriteError;
use argus::loganalysis::config::EVENT_BUS_ENV;
use argus::loganalysis::ports::EventBusError;
use argus::ports::StoreError;
use argus::store::dynamodb::schema::INCIDENTS_TABLE_ENV;

/// The Secrets Manager secret (a JSON object keyed by `secrets::names`) holding the signing
/// secrets and webhook tokens.
pub const SECRET_ID_ENV: &str = "ARGUS_CONNECTORS_SECRET_ID";

/// Environment variables read once at init.
pub const ENVIRONMENT: &[&str] = &[
    INCIDENTS_TABLE_ENV,
    EVENT_BUS_ENV,
    SECRET_ID_ENV,
    POLICY_ENV,
    argus::sdk::TLS_ROOTS_ENV,
];

/// The calls of the Step Functions adapter of `TaskCallback`.
pub const TASK_CALLBACK_API_CALLS: &[&str] = &["states:SendTaskSuccess", "states:SendTaskFailure"];

/// The `error_type` names of `TaskCallbackError`.
pub const TASK_CALLBACK_ERROR_TYPES: &[&str] = &[
    "ApprovalTaskGone",
    "TaskCallbackThrottled",
    "TaskCallbackUnavailable",
];

/// IAM actions of every AWS call the endpoint makes: the incidents table (the DynamoDB
/// adapter's list), PutEvents, the task callbacks, and reading its secret at init.
pub fn api_calls() -> Vec<&'static str> {
    [
        argus::store::dynamodb::API_CALLS,
        argus::adapters::eventbridge::API_CALLS,
        TASK_CALLBACK_API_CALLS,
        &["secretsmanager:GetSecretValue"],
    ]
    .concat()
}

/// Every `error_type` the endpoint can report: the store's, a contended incident write, the
/// event bus's, the task callback's, and the errors a rejection or an answer to a resolved
/// incident fails the approval task with (SendTaskFailure), which the state machine's Catch
/// names.
pub fn error_types() -> Vec<&'static str> {
    let text = String::new;
    let mut names: Vec<&'static str> = [
        StoreError::Throttled(text()),
        StoreError::Unavailable(text()),
        StoreError::Corrupt(text()),
    ]
    .into_iter()
    .map(IncidentWriteError::Store)
    .chain([IncidentWriteError::Contended(text())])
    .map(|error| error.error_type())
    .collect();
    names.extend(
        [
            EventBusError::Throttled(text()),
            EventBusError::Unavailable(text()),
            EventBusError::Rejected {
                failed: 1,
                total: 1,
                reason: text(),
            },
        ]
        .iter()
        .map(EventBusError::error_type),
    );
    names.extend_from_slice(TASK_CALLBACK_ERROR_TYPES);
    names.push(argus::recovery::APPROVAL_REJECTED);
    names.push(argus::recovery::INCIDENT_RESOLVED);
    names.sort_unstable();
    names.dedup();
    names
}
