//! What the outbound connectors function needs from its deployment: the environment it reads at
//! init, the AWS calls it makes, and the `errorType` names it can report. tests/tests/wiring.rs
//! compiles this file (it cannot depend on a function crate, so names defined in this crate
//! are spelled out here); the crate's own tests hold these lists to the code.

use argus::incident::IncidentWriteError;
use argus::ports::StoreError;
use argus::store::dynamodb::schema::{INCIDENTS_TABLE_ENV, PATTERNS_TABLE_ENV};

/// The SNS message attribute naming the one approver an approval e-mail is for (the normalised
/// address). terraform/notifications.tf subscribes each `email:` approver with the filter policy
/// `{"approver": ["<address>"]}` and the incidents address with `{"approver": [{"exists":
/// false}]}`, so each approver gets only their own links and nobody else gets any.
pub const APPROVER_ATTRIBUTE: &str = "approver";

/// Environment variables read once at init (every optional one included: Terraform sets them,
/// empty meaning that channel or setting is off or at its default).
pub const ENVIRONMENT: &[&str] = &[
    INCIDENTS_TABLE_ENV,
    PATTERNS_TABLE_ENV,
    argus::config::POLICY_ENV,
    "ARGUS_CONNECTORS_SECRET_ID",
    "ARGUS_CONNECTORS_SSM_PATH",
    "ARGUS_SNS_TOPIC_ARN",
    "ARGUS_SLACK_CHANNEL",
    "ARGUS_SERVICENOW_URL",
    "ARGUS_JIRA_URL",
    "ARGUS_JIRA_PROJECT",
    "ARGUS_GITHUB_REPOSITORY",
    "ARGUS_POSTMORTEM_BUCKET",
    "ARGUS_CONFLUENCE_URL",
    "ARGUS_CONFLUENCE_SPACE",
    "ARGUS_APPROVAL_BASE_URL",
    argus::sdk::TLS_ROOTS_ENV,
];

/// IAM actions of every AWS call the function makes: the incidents table through the DynamoDB
/// adapter, SNS and S3 for notifications and post-mortems, and the secrets loader (one of the
/// two, depending on which source is configured).
pub fn api_calls() -> Vec<&'static str> {
    let mut calls = [
        argus::store::dynamodb::API_CALLS,
        &["s3:PutObject", "sns:Publish"],
        &["secretsmanager:GetSecretValue", "ssm:GetParametersByPath"],
    ]
    .concat();
    calls.sort_unstable();
    calls
}

/// Every `errorType` the handler can report. (`ApprovalRejected`, which the "Request approval"
/// state also catches, comes from the approval endpoint through SendTaskFailure: see
/// inbound/wiring.rs.)
pub fn error_types() -> Vec<&'static str> {
    let text = String::new;
    let store = [
        StoreError::Throttled(text()),
        StoreError::Unavailable(text()),
        StoreError::Corrupt(text()),
    ];
    let mut names: Vec<&'static str> = store.iter().map(StoreError::error_type).collect();
    names.push(IncidentWriteError::Contended(text()).error_type());
    names.extend(["InvalidRequest", "IncidentNotFound", "ApprovalNotDelivered"]);
    names.sort_unstable();
    names.dedup();
    names
}
