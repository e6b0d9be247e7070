//! The Step Functions adapter of `TaskCallback` against moto's Step Functions engine: a task
//! waiting for its token (an SQS `sendMessage.waitForTaskToken`) is resumed by SendTaskSuccess
//! with the approval's output, or failed with `ApprovalRejected`, which the state machine
//! catches by that name (moto drops the cause, so only the name is checked); an unknown token
//! is `ApprovalTaskGone`. Run through
//! `bash tests/peers.sh cargo test -p connectors --all-features`; without the peer it skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::testing::peer_sdk_config as sdk_config;

use argus::incident::TaskToken;
use aws_sdk_sfn::types::ExecutionStatus;
use connectors::inbound::task_callback::{
    APPROVAL_REJECTED_ERROR, SfnTaskCallback, TaskCallback, TaskCallbackError,
};
use serde_json::{Value, json};

use argus::testing::MOTO_ENDPOINT_ENV;

fn peer(test: &str) -> Option<String> {
    argus::testing::peer(MOTO_ENDPOINT_ENV, test)
}

fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

struct Peer {
    sfn: aws_sdk_sfn::Client,
    state_machine: String,
}

/// A state machine whose only task waits for its token; a rejection is caught by name.
async fn peer_with_waiting_task(endpoint: &str) -> Peer {
    let config = sdk_config(endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name(unique("argus-approvals"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let definition = json!({
        "StartAt": "WaitForApproval",
        "States": {
            "WaitForApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"task_token.$": "$$.Task.Token"}},
                "Catch": [{"ErrorEquals": [APPROVAL_REJECTED_ERROR], "ResultPath": "$.rejection", "Next": "Rejected"}],
                "End": true
            },
            "Rejected": {"Type": "Pass", "End": true}
        }
    });
    let sfn = aws_sdk_sfn::Client::new(&config);
    let state_machine = sfn
        .create_state_machine()
        .name(unique("argus-approval-callback"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/argus-recovery")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    Peer { sfn, state_machine }
}

/// Starts an execution and returns it with the token its task waits on, read from the
/// execution history (polled: moto's engine runs on its own threads; bounded).
async fn start_and_read_token(peer: &Peer) -> (String, String) {
    let execution = peer
        .sfn
        .start_execution()
        .state_machine_arn(&peer.state_machine)
        .input("{}")
        .send()
        .await
        .unwrap()
        .execution_arn;
    for _ in 0..200 {
        let history = peer
            .sfn
            .get_execution_history()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        let token = history
            .events
            .iter()
            .filter_map(|event| event.task_scheduled_event_details.as_ref())
            .filter_map(|details| serde_json::from_str::<Value>(&details.parameters).ok())
            .find_map(|parameters| {
                let body = parameters.get("MessageBody")?;
                let body = match body {
                    Value::String(text) => serde_json::from_str::<Value>(text).ok()?,
                    other => other.clone(),
                };
                body.get("task_token")?.as_str().map(str::to_string)
            });
        if let Some(token) = token {
            return (execution, token);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the execution never scheduled its waiting task");
}

async fn finished(
    peer: &Peer,
    execution: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..200 {
        let described = peer
            .sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .unwrap();
        if described.status != ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the execution did not finish");
}

#[tokio::test]
async fn send_task_success_resumes_the_waiting_task_with_the_decision() {
    let Some(endpoint) = peer("send_task_success_resumes_the_waiting_task_with_the_decision")
    else {
        return;
    };
    let peer = peer_with_waiting_task(&endpoint).await;
    let callback = SfnTaskCallback::new(peer.sfn.clone());
    let (execution, token) = start_and_read_token(&peer).await;
    let output = json!({"approved": true, "approver": "slack:U024BE7LH", "channel": "slack"});
    callback
        .succeed(&TaskToken::new(token), &output)
        .await
        .unwrap();
    let described = finished(&peer, &execution).await;
    assert_eq!(described.status, ExecutionStatus::Succeeded);
    let result: Value = serde_json::from_str(described.output.as_deref().unwrap()).unwrap();
    assert_eq!(result, output);
}

#[tokio::test]
async fn send_task_failure_is_caught_as_approval_rejected() {
    let Some(endpoint) = peer("send_task_failure_is_caught_as_approval_rejected") else {
        return;
    };
    let peer = peer_with_waiting_task(&endpoint).await;
    let callback = SfnTaskCallback::new(peer.sfn.clone());
    let (execution, token) = start_and_read_token(&peer).await;
    callback
        .fail(
            &TaskToken::new(token),
            APPROVAL_REJECTED_ERROR,
            "rejected by slack:U024BE7LH through slack",
        )
        .await
        .unwrap();
    let described = finished(&peer, &execution).await;
    assert_eq!(described.status, ExecutionStatus::Succeeded);
    let result: Value = serde_json::from_str(described.output.as_deref().unwrap()).unwrap();
    assert_eq!(result["rejection"]["Error"], APPROVAL_REJECTED_ERROR);
    // moto's SendTaskFailure handler reads only `taskToken` and `error` and drops `cause`
    // (moto 5.2 stepfunctions/responses.py), so the cause cannot be checked against this peer;
    // the error name, which is what the state machine's Catch matches, is.
}

#[tokio::test]
async fn an_unknown_token_is_a_task_that_stopped_waiting() {
    let Some(endpoint) = peer("an_unknown_token_is_a_task_that_stopped_waiting") else {
        return;
    };
    let config = sdk_config(&endpoint).await;
    let callback = SfnTaskCallback::new(aws_sdk_sfn::Client::new(&config));
    let error = callback
        .succeed(
            &TaskToken::new("not-a-token-anyone-issued"),
            &json!({"approved": true}),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, TaskCallbackError::TaskGone(_)), "{error:?}");
    assert!(!error.to_string().contains("not-a-token-anyone-issued"));
}
