//! The Step Functions adapter for the Workflow port (StartExecution named by the correlation id)
//! and the reconciler's `ExecutionLookup` (DescribeExecution).

use crate::correlation::CorrelationId;
use crate::ports::{Workflow, WorkflowError, WorkflowStart};
use crate::reconcile::{ExecutionLookup, ExecutionStatus};
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use serde_json::Value;

/// Environment variable the orchestrator reads the state machine ARN from.
pub const STATE_MACHINE_ARN_ENV: &str = "ARGUS_STATE_MACHINE_ARN";

/// The IAM actions this adapter's calls need; Terraform grants exactly these to the functions
/// that link it (checked by tests/tests/wiring.rs).
pub const API_CALLS: &[&str] = &[
    "states:StartExecution",
    "states:SendTaskFailure",
    "states:DescribeExecution",
];

#[derive(Debug, Clone)]
pub struct StepFunctionsWorkflow {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsWorkflow {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The ARN an execution of this state machine gets for `name`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start(
        &self,
        name: &CorrelationId,
        input: &Value,
    ) -> Result<WorkflowStart, WorkflowError> {
        let input = serde_json::to_string(input)
            .map_err(|error| WorkflowError::Rejected(error.to_string()))?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name.as_str())
            .input(input)
            .send()
            .await;
        match result {
            Ok(output) => Ok(WorkflowStart {
                execution_id: output.execution_arn,
                already_started: false,
            }),
            Err(error) => {
                let message = aws_sdk_sfn::error::DisplayErrorContext(&error).to_string();
                match error.as_service_error() {
                    // The name is the correlation id: an execution of that name is this incident's.
                    Some(StartExecutionError::ExecutionAlreadyExists(_)) => Ok(WorkflowStart {
                        execution_id: self.execution_arn(name.as_str()),
                        already_started: true,
                    }),
                    Some(
                        StartExecutionError::InvalidName(_)
                        | StartExecutionError::InvalidExecutionInput(_)
                        | StartExecutionError::InvalidArn(_)
                        | StartExecutionError::StateMachineDoesNotExist(_)
                        | StartExecutionError::StateMachineDeleting(_)
                        | StartExecutionError::ValidationException(_),
                    ) => Err(WorkflowError::Rejected(message)),
                    _ if matches!(
                        error.code(),
                        Some("ThrottlingException" | "ExecutionLimitExceeded")
                    ) =>
                    {
                        Err(WorkflowError::Throttled(message))
                    }
                    _ => Err(WorkflowError::Unavailable(message)),
                }
            }
        }
    }

    async fn fail_waiting_task(
        &self,
        token: &crate::incident::TaskToken,
        error: &str,
        cause: &str,
    ) -> Result<(), WorkflowError> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token.expose())
            .error(error)
            .cause(cause)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(failure) => {
                match failure.as_service_error() {
                    // Answered, timed out or gone with its execution: nothing waits on it.
                    Some(
                        SendTaskFailureError::TaskDoesNotExist(_)
                        | SendTaskFailureError::TaskTimedOut(_)
                        | SendTaskFailureError::InvalidToken(_),
                    ) => Ok(()),
                    // The message would carry the token itself: never put it in an error.
                    _ if failure.code() == Some("ThrottlingException") => Err(
                        WorkflowError::Throttled("SendTaskFailure was throttled".to_string()),
                    ),
                    _ => Err(WorkflowError::Unavailable(format!(
                        "SendTaskFailure failed: {}",
                        failure.code().unwrap_or("no error code")
                    ))),
                }
            }
        }
    }
}

#[async_trait]
impl ExecutionLookup for StepFunctionsWorkflow {
    async fn execution_status(&self, execution_id: &str) -> Result<ExecutionStatus, WorkflowError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(execution_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(match output.status() {
                SfnStatus::Running => ExecutionStatus::Running,
                SfnStatus::Succeeded => ExecutionStatus::Succeeded,
                SfnStatus::TimedOut => ExecutionStatus::TimedOut,
                SfnStatus::Aborted => ExecutionStatus::Aborted,
                SfnStatus::PendingRedrive => ExecutionStatus::PendingRedrive,
                // FAILED, and any status added later: the execution is not running.
                _ => ExecutionStatus::Failed,
            }),
            Err(error) => {
                let message = aws_sdk_sfn::error::DisplayErrorContext(&error).to_string();
                match error.as_service_error() {
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_)) => {
                        Ok(ExecutionStatus::NotFound)
                    }
                    Some(DescribeExecutionError::InvalidArn(_)) => {
                        Err(WorkflowError::Rejected(message))
                    }
                    _ if error.code() == Some("ThrottlingException") => {
                        Err(WorkflowError::Throttled(message))
                    }
                    _ => Err(WorkflowError::Unavailable(message)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        // Every `.client.<operation>()` in this file, as an IAM action.
        let source = include_str!("sfn.rs");
        let calls: Vec<String> = source
            .split("client")
            .skip(1)
            .filter_map(|after| after.trim_start().strip_prefix('.'))
            .filter_map(|rest| {
                let operation: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                rest[operation.len()..]
                    .starts_with("()")
                    .then(|| operation.split('_').map(capitalise).collect::<String>())
            })
            .map(|operation| format!("states:{operation}"))
            .collect();
        assert_eq!(
            calls, API_CALLS,
            "adapters/sfn.rs calls differ from its API_CALLS"
        );
    }

    fn capitalise(word: &str) -> String {
        let mut chars = word.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}
