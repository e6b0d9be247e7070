//! What the orchestrator needs from its deployment: the environment it reads at init, the AWS
//! calls its adapters make, and the `errorType` names it can report. tests/tests/wiring.rs
//! compiles this file (it cannot depend on a function crate) and holds Terraform and the state
//! machine to it; the settings tests hold it to what `Settings::from_env` really reads.

use argus::adapters::sfn::STATE_MACHINE_ARN_ENV;
use argus::analysis::bedrock;
use argus::config::POLICY_ENV;
use argus::incident::TransitionError;
use argus::intake::IntakeError;
use argus::investigation::investigator;
use argus::ports::{StoreError, WorkflowError};
use argus::reconcile::{AlarmSourceError, ReconcileError};
use argus::recovery::record::RecordError;
use argus::signal::NormaliseError;
use argus::store::dynamodb::schema::{INCIDENTS_TABLE_ENV, PATTERNS_TABLE_ENV};

/// The alias of the orchestrator that the recovery state machine invokes for its record
/// operations (terraform/iam.tf `aws_lambda_alias.orchestrator_records`); its resource policy
/// names only the state machine's role, and the handler takes record operations only through it.
pub const RECORDS_ALIAS: &str = "recovery";

/// `errorType` of a record operation sent through the public path, or an event sent through
/// the records alias.
pub const RECORD_OPERATION_REFUSED: &str = "RecordOperationRefused";

/// Environment variables read once at init (the optional ones included: Terraform sets them,
/// empty meaning the default).
pub const ENVIRONMENT: &[&str] = &[
    INCIDENTS_TABLE_ENV,
    PATTERNS_TABLE_ENV,
    STATE_MACHINE_ARN_ENV,
    POLICY_ENV,
    bedrock::ANALYST_ENV,
    bedrock::MODEL_ID_ENV,
    bedrock::INFERENCE_PROFILE_ENV,
    bedrock::MAX_TOKENS_ENV,
    bedrock::TIMEOUT_MS_ENV,
    bedrock::MAX_ATTEMPTS_ENV,
    investigator::INVESTIGATION_ENV,
    investigator::INVESTIGATION_DEADLINE_MS_ENV,
    argus::sdk::TLS_ROOTS_ENV,
];

/// IAM actions of every AWS call the orchestrator's adapters make.
pub fn api_calls() -> Vec<&'static str> {
    [
        argus::store::dynamodb::API_CALLS,
        argus::adapters::sfn::API_CALLS,
        argus::adapters::cloudwatch::API_CALLS,
        bedrock::API_CALLS,
        argus::adapters::cloudwatch_metrics::API_CALLS,
        argus::adapters::xray::API_CALLS,
        argus::adapters::cloudtrail::API_CALLS,
    ]
    .concat()
}

/// Every `errorType` the handler can report: one error of each kind the intake path and the
/// workflow's record operations return, named by the library's own `error_type()`.
pub fn error_types() -> Vec<&'static str> {
    let text = String::new;
    let store = [
        StoreError::Throttled(text()),
        StoreError::Unavailable(text()),
        StoreError::Corrupt(text()),
    ];
    let workflow = [
        WorkflowError::Throttled(text()),
        WorkflowError::Unavailable(text()),
        WorkflowError::Rejected(text()),
    ];
    let invalid = [
        NormaliseError::Malformed(text()),
        NormaliseError::UnknownShape { hint: text() },
        NormaliseError::UntrustedSource {
            detail_type: text(),
            source_name: text(),
            expected: text(),
        },
    ];
    let mut intake: Vec<IntakeError> = invalid.into_iter().map(IntakeError::Invalid).collect();
    intake.extend(store.iter().cloned().map(IntakeError::Store));
    intake.extend(workflow.into_iter().map(IntakeError::Workflow));
    intake.push(IntakeError::Contended(text()));
    intake.push(IntakeError::OutOfTime { taken: 1, total: 2 });
    intake.push(IntakeError::Transition(TransitionError {
        id: text(),
        from: "open",
        to: "open",
    }));
    let mut record = vec![RecordError::NotFound(text()), RecordError::Invalid(text())];
    record.extend(store.iter().cloned().map(RecordError::Store));
    record.extend(store.into_iter().map(RecordError::Patterns));
    let reconcile = [
        ReconcileError::Alarms(AlarmSourceError::Throttled(text())),
        ReconcileError::Alarms(AlarmSourceError::Unavailable(text())),
    ];
    let mut names: Vec<&'static str> = intake.iter().map(IntakeError::error_type).collect();
    names.extend(record.iter().map(RecordError::error_type));
    names.extend(reconcile.iter().map(ReconcileError::error_type));
    names.push(RECORD_OPERATION_REFUSED);
    names.sort_unstable();
    names.dedup();
    names
}
