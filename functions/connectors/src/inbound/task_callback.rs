//! The `TaskCallback` port: resuming the recovery workflow's approval task with
//! SendTaskSuccess or SendTaskFailure. The Step Functions adapter and a recording fake sit side
//! by side. Errors name the failure and never carry the task token.

use argus::incident::TaskToken;
use async_trait::async_trait;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use serde_json::Value;
use std::sync::Mutex;

/// The IAM actions the Step Functions adapter's calls need.
pub const API_CALLS: &[&str] = &["states:SendTaskSuccess", "states:SendTaskFailure"];

/// The error a rejection fails the approval task with; the state machine's Catch names it.
pub const APPROVAL_REJECTED_ERROR: &str = argus::recovery::APPROVAL_REJECTED;

/// The error an answer to a resolved incident's approval fails the task with; the state
/// machine's Catch names it apart from rejection and ends without acting or paging.
pub const INCIDENT_RESOLVED_ERROR: &str = argus::recovery::INCIDENT_RESOLVED;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskCallbackError {
    /// The task no longer waits: it timed out, its execution ended, or the token is unknown.
    #[error("the approval task is no longer waiting ({0})")]
    TaskGone(String),
    #[error("Step Functions is throttling: {0}")]
    Throttled(String),
    #[error("Step Functions is unavailable: {0}")]
    Unavailable(String),
}

impl TaskCallbackError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::TaskGone(_) => "ApprovalTaskGone",
            Self::Throttled(_) => "TaskCallbackThrottled",
            Self::Unavailable(_) => "TaskCallbackUnavailable",
        }
    }
}

/// Resumes a task that waits for a token.
#[async_trait]
pub trait TaskCallback: Send + Sync {
    async fn succeed(&self, token: &TaskToken, output: &Value) -> Result<(), TaskCallbackError>;
    async fn fail(
        &self,
        token: &TaskToken,
        error: &str,
        cause: &str,
    ) -> Result<(), TaskCallbackError>;
}

/// Step Functions' SendTaskSuccess / SendTaskFailure.
#[derive(Debug, Clone)]
pub struct SfnTaskCallback {
    client: aws_sdk_sfn::Client,
}

impl SfnTaskCallback {
    pub fn new(client: aws_sdk_sfn::Client) -> Self {
        Self { client }
    }
}

/// Maps a call's error by its code only: the service's message may quote the token.
fn callback_error(code: Option<&str>) -> TaskCallbackError {
    let code = code.unwrap_or("no error code").to_string();
    match code.as_str() {
        "TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken" => TaskCallbackError::TaskGone(code),
        "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => {
            TaskCallbackError::Throttled(code)
        }
        _ => TaskCallbackError::Unavailable(code),
    }
}

#[async_trait]
impl TaskCallback for SfnTaskCallback {
    async fn succeed(&self, token: &TaskToken, output: &Value) -> Result<(), TaskCallbackError> {
        self.client
            .send_task_success()
            .task_token(token.expose())
            .output(output.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|error| callback_error(error.code()))
    }

    async fn fail(
        &self,
        token: &TaskToken,
        error: &str,
        cause: &str,
    ) -> Result<(), TaskCallbackError> {
        self.client
            .send_task_failure()
            .task_token(token.expose())
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| callback_error(error.code()))
    }
}

/// One call a `RecordingTaskCallback` received.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedCallback {
    Success {
        token: String,
        output: Value,
    },
    Failure {
        token: String,
        error: String,
        cause: String,
    },
}

/// Keeps every call instead of making it; can be told to fail them all. For tests and local
/// runs of the endpoint.
#[derive(Debug, Default)]
pub struct RecordingTaskCallback {
    calls: Mutex<Vec<RecordedCallback>>,
    failure: Mutex<Option<TaskCallbackError>>,
}

impl RecordingTaskCallback {
    pub fn calls(&self) -> Vec<RecordedCallback> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every later call fails with `error` (and is still recorded).
    pub fn fail_with(&self, error: TaskCallbackError) {
        *self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    fn record(&self, call: RecordedCallback) -> Result<(), TaskCallbackError> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call);
        match self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl TaskCallback for RecordingTaskCallback {
    async fn succeed(&self, token: &TaskToken, output: &Value) -> Result<(), TaskCallbackError> {
        self.record(RecordedCallback::Success {
            token: token.expose().to_string(),
            output: output.clone(),
        })
    }

    async fn fail(
        &self,
        token: &TaskToken,
        error: &str,
        cause: &str,
    ) -> Result<(), TaskCallbackError> {
        self.record(RecordedCallback::Failure {
            token: token.expose().to_string(),
            error: error.to_string(),
            cause: cause.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_code_alone() {
        assert_eq!(
            callback_error(Some("TaskTimedOut")).error_type(),
            "ApprovalTaskGone"
        );
        assert_eq!(
            callback_error(Some("InvalidToken")).error_type(),
            "ApprovalTaskGone"
        );
        assert_eq!(
            callback_error(Some("ThrottlingException")).error_type(),
            "TaskCallbackThrottled"
        );
        assert_eq!(callback_error(None).error_type(), "TaskCallbackUnavailable");
    }
}
