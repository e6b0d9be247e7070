//! What the verifier needs from its deployment: nothing from its environment and no AWS call
//! (the workflow reads the evidence and passes it in), and the one `errorType` it reports.
//! tests/tests/wiring.rs compiles this file and holds Terraform and the state machine to it.

/// `errorType` for a payload that is not a verification request; the state machine escalates.
pub const INVALID_REQUEST: &str = "InvalidRequest";

/// Environment variables read at init.
pub const ENVIRONMENT: &[&str] = &[];

/// IAM actions of every AWS call the verifier makes.
pub fn api_calls() -> Vec<&'static str> {
    Vec::new()
}

/// Every `errorType` the handler can report.
pub fn error_types() -> Vec<&'static str> {
    vec![INVALID_REQUEST]
}
