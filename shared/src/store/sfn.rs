//! The Step Functions adapter for the Workflow port: StartExecution named by the correlation id.

use crate::correlation::CorrelationId;
use crate::ports::{Workflow, WorkflowError, WorkflowStart};
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use serde_json::Value;

/// Environment variable the orchestrator reads the state machine ARN from.
pub const STATE_MACHINE_ARN_ENV: &str = "ARGUS_STATE_MACHINE_ARN";

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
}
