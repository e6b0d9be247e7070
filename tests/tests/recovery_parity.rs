//! The recovery state machine on two engines: every scenario runs on Argus' local engine and on
//! moto's Step Functions engine (an independent implementation), with the same answers from the
//! Lambda tasks, real Lambda SDK integrations on moto's side, and real task-token approvals.
//! Both must take the same path of states. One test, run in order, because moto's queue of
//! Lambda answers is shared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::recovery::engine::{TaskCall, TaskFailure, TaskOutput, TaskRunner, execute};
use argus::recovery::{RECOVERY_ASL, recovery_machine};
use argus_integration_tests::{MOTO_ENDPOINT_ENV, peer, sdk_config, unique_name};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Approval {
    Approve,
    Reject,
    Timeout,
    /// The incident resolved while the approval waited: the task fails with
    /// `Argus.IncidentResolved`, as the intake and the connectors fail it.
    Resolved,
}

struct Scenario {
    name: &'static str,
    mode: &'static str,
    escalate: bool,
    function: &'static str,
    answers: Vec<Value>,
    approval: Option<Approval>,
    expected: &'static [&'static str],
}

fn start(proceed: bool) -> Value {
    json!({"proceed": proceed, "status": if proceed { "recovering" } else { "resolved" }})
}
fn verdict(verdict: &str) -> Value {
    json!({"verdict": verdict, "reasons": [format!("scripted {verdict}")]})
}
fn sent() -> Value {
    json!({"delivered": true})
}
fn recorded(status: &str) -> Value {
    // The record answers whether to page: only for an incident still open.
    json!({"status": status, "page": !matches!(status, "resolved" | "closed")})
}
/// "Check incident still open", right before the action.
fn still_open(open: bool) -> Value {
    json!({"proceed": open, "status": if open { "recovering" } else { "resolved" }})
}

fn scenarios() -> Vec<Scenario> {
    let escalation = || vec![recorded("escalated"), sent(), sent(), sent(), sent()];
    // Recorded as resolved before the action: nobody paged, then post-mortem and notify.
    let resolved_meanwhile = || vec![recorded("resolved"), sent(), sent()];
    vec![
        Scenario {
            name: "auto-recovered",
            mode: "auto",
            escalate: false,
            function: "checkout",
            answers: vec![
                start(true),
                still_open(true),
                verdict("RECOVERED"),
                recorded("resolved"),
                sent(),
                sent(),
            ],
            approval: None,
            expected: &[
                "Check incident still open",
                "Roll back Lambda alias",
                "Record recovery",
                "Recovery finished",
            ],
        },
        Scenario {
            name: "pending-then-recovered",
            mode: "auto",
            escalate: false,
            function: "checkout",
            answers: vec![
                start(true),
                still_open(true),
                verdict("PENDING"),
                verdict("RECOVERED"),
                recorded("resolved"),
                sent(),
                sent(),
            ],
            approval: None,
            expected: &["Wait before next check", "Count check", "Record recovery"],
        },
        Scenario {
            name: "failed-rolled-back",
            mode: "auto",
            escalate: false,
            function: "checkout",
            answers: [
                vec![start(true), still_open(true), verdict("FAILED")],
                escalation(),
            ]
            .concat(),
            approval: None,
            expected: &[
                "Has an inverse?",
                "Roll back: restore Lambda alias",
                "Record escalation",
                "Page on-call?",
                "Escalate to on-call",
            ],
        },
        Scenario {
            name: "approved",
            mode: "approval",
            escalate: false,
            function: "checkout",
            answers: vec![
                start(true),
                sent(),
                still_open(true),
                verdict("RECOVERED"),
                recorded("resolved"),
                sent(),
                sent(),
            ],
            approval: Some(Approval::Approve),
            expected: &[
                "Request approval",
                "Check incident still open",
                "Choose action",
                "Record recovery",
            ],
        },
        Scenario {
            name: "rejected",
            mode: "approval",
            escalate: false,
            function: "checkout",
            answers: [vec![start(true), sent()], escalation()].concat(),
            approval: Some(Approval::Reject),
            expected: &["Request approval", "Escalate to on-call"],
        },
        Scenario {
            name: "approval-timed-out",
            mode: "approval",
            escalate: false,
            function: "checkout",
            answers: [vec![start(true), sent()], escalation()].concat(),
            approval: Some(Approval::Timeout),
            expected: &["Request approval", "Escalate to on-call"],
        },
        Scenario {
            name: "action-fails",
            mode: "auto",
            escalate: false,
            function: "no-such-function",
            answers: [vec![start(true), still_open(true)], escalation()].concat(),
            approval: None,
            expected: &["Remember Lambda alias version", "Escalate to on-call"],
        },
        Scenario {
            name: "budget-spent",
            mode: "advisory",
            escalate: true,
            function: "checkout",
            answers: [vec![start(true)], escalation()].concat(),
            approval: None,
            expected: &["Choose recovery mode", "Escalate to on-call"],
        },
        Scenario {
            name: "already-closed",
            mode: "auto",
            escalate: false,
            function: "checkout",
            answers: vec![start(false)],
            approval: None,
            expected: &["Incident already closed"],
        },
        Scenario {
            name: "resolved-before-action",
            mode: "auto",
            escalate: false,
            function: "checkout",
            answers: [vec![start(true), still_open(false)], resolved_meanwhile()].concat(),
            approval: None,
            expected: &[
                "Incident still open?",
                "Record resolved before action",
                "Page on-call?",
                "Publish post-mortem",
            ],
        },
        Scenario {
            name: "resolved-during-approval",
            mode: "approval",
            escalate: false,
            function: "checkout",
            answers: [vec![start(true), sent()], resolved_meanwhile()].concat(),
            approval: Some(Approval::Resolved),
            expected: &[
                "Request approval",
                "Record resolved before action",
                "Page on-call?",
                "Publish post-mortem",
            ],
        },
        Scenario {
            name: "timed-out-after-resolve",
            mode: "approval",
            escalate: false,
            function: "checkout",
            answers: [vec![start(true), sent()], resolved_meanwhile()].concat(),
            approval: Some(Approval::Timeout),
            expected: &[
                "Request approval",
                "Record escalation",
                "Page on-call?",
                "Publish post-mortem",
            ],
        },
        Scenario {
            name: "advisory",
            mode: "advisory",
            escalate: false,
            function: "checkout",
            answers: vec![start(true), sent(), recorded("advisory"), sent(), sent()],
            approval: None,
            expected: &["Notify people (advisory)", "Record advice given"],
        },
    ]
}

fn input(scenario: &Scenario) -> Value {
    let action = (scenario.mode != "advisory").then(|| json!({"action": "lambda.rollback_alias", "params": {"function_name": scenario.function, "alias": "live", "target_version": "1"}}));
    // Only the timeout scenario waits for the approval to expire; the others answer it, and on a
    // loaded machine an answer can take longer than a short timeout to reach moto's engine.
    let approval_seconds = if scenario.approval == Some(Approval::Timeout) {
        2
    } else {
        60
    };
    json!({
        "correlation_id": format!("20261122T060000Z-parity-{}-0123456789ab", scenario.name),
        "incident": {"id": "parity", "resource": format!("lambda:function/{}", scenario.function), "alarm_name": null},
        "decision": {"mode": scenario.mode, "escalate": scenario.escalate, "action": action},
        "recovery": {"settle_seconds": 0, "check_interval_seconds": 0, "max_checks": 3, "stable_seconds": 0, "approval_timeout_seconds": approval_seconds, "approval_heartbeat_seconds": approval_seconds}
    })
}

/// Answers Lambda tasks from the scenario's script and Lambda SDK calls as moto does.
struct ScriptedRunner {
    answers: Mutex<VecDeque<Value>>,
    approval: Option<Approval>,
}

#[async_trait]
impl TaskRunner for ScriptedRunner {
    async fn run(&self, call: TaskCall<'_>) -> Result<TaskOutput, TaskFailure> {
        let fail = |error: &str| {
            Err(TaskFailure {
                error: error.to_string(),
                cause: String::new(),
                seconds: 0.0,
            })
        };
        if call.resource.starts_with("arn:aws:states:::lambda:invoke") {
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| panic!("no scripted answer left for {}", call.state));
            if call.task_token.is_some() {
                return match self.approval {
                    Some(Approval::Approve) => Ok(TaskOutput {
                        output: json!({"approved": true}),
                        seconds: 0.0,
                    }),
                    Some(Approval::Reject) => fail("ApprovalRejected"),
                    Some(Approval::Resolved) => fail(argus::recovery::INCIDENT_RESOLVED),
                    _ => fail("States.Timeout"),
                };
            }
            return Ok(TaskOutput {
                output: answer,
                seconds: 0.0,
            });
        }
        if call.parameters["FunctionName"] == "no-such-function" {
            return fail("Lambda.ResourceNotFoundException");
        }
        Ok(TaskOutput {
            output: json!({"FunctionVersion": "2", "Name": "live"}),
            seconds: 0.0,
        })
    }
}

async fn local_path(scenario: &Scenario) -> Vec<String> {
    let runner = ScriptedRunner {
        answers: Mutex::new(scenario.answers.clone().into()),
        approval: scenario.approval,
    };
    let record = execute(
        &recovery_machine().unwrap(),
        scenario.name,
        input(scenario),
        &runner,
    )
    .await
    .unwrap();
    assert!(
        runner.answers.lock().unwrap().is_empty(),
        "{}: the local engine left scripted answers unused",
        scenario.name
    );
    record.path().into_iter().map(str::to_string).collect()
}

/// Queues answers for moto's Lambda invocations (its `lambda-simple` backend answers in order).
async fn queue_answers(endpoint: &str, answers: &[Value]) {
    let address = endpoint.trim_start_matches("http://");
    let results: Vec<String> = answers.iter().map(Value::to_string).collect();
    let body = json!({"results": results, "region": "us-east-1"}).to_string();
    let request = format!(
        "POST /moto-api/static/lambda-simple/response HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 20"),
        "moto refused the queued answers: {response}"
    );
}

struct Moto {
    endpoint: String,
    sfn: aws_sdk_sfn::Client,
    state_machine: String,
}

async fn deploy(endpoint: &str) -> Moto {
    let config = sdk_config(endpoint).await;
    let iam = aws_sdk_iam::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let sfn = aws_sdk_sfn::Client::new(&config);
    let role = iam
        .create_role()
        .role_name(unique_name("argus-recovery"))
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let mut archive = Vec::new();
    {
        // A zip with one stored entry, so moto accepts the function without running it.
        let name = b"bootstrap";
        let data = b"#!/bin/sh\n";
        let crc = crc32(data);
        let mut local = Vec::new();
        local.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&[0, 0]);
        local.extend_from_slice(name);
        local.extend_from_slice(data);
        let mut central = vec![0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(name);
        let mut end = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0];
        end.extend_from_slice(&(central.len() as u32).to_le_bytes());
        end.extend_from_slice(&(local.len() as u32).to_le_bytes());
        end.extend_from_slice(&[0, 0]);
        archive.extend(local);
        archive.extend(central);
        archive.extend(end);
    }
    let mut arns = std::collections::HashMap::new();
    for function in ["orchestrator", "connectors", "verifier", "checkout"] {
        let name = if function == "checkout" {
            "checkout".to_string()
        } else {
            unique_name(&format!("argus-{function}"))
        };
        let created = lambda
            .create_function()
            .function_name(&name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role(&role)
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(archive.clone()))
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(output) => {
                arns.insert(function, output.function_arn.unwrap());
            }
            // The action's target is shared by every run against the same server.
            Err(_) if function == "checkout" => {}
            Err(error) => panic!("create {function}: {error:?}"),
        }
    }
    if lambda
        .get_alias()
        .function_name("checkout")
        .name("live")
        .send()
        .await
        .is_err()
    {
        let first = lambda
            .publish_version()
            .function_name("checkout")
            .send()
            .await
            .unwrap()
            .version
            .unwrap();
        lambda
            .publish_version()
            .function_name("checkout")
            .send()
            .await
            .ok();
        lambda
            .create_alias()
            .function_name("checkout")
            .name("live")
            .function_version(first)
            .send()
            .await
            .unwrap();
    }
    let definition = RECOVERY_ASL
        .replace("${orchestrator_function_arn}", &arns["orchestrator"])
        .replace("${connectors_function_arn}", &arns["connectors"])
        .replace("${verifier_function_arn}", &arns["verifier"]);
    let state_machine = sfn
        .create_state_machine()
        .name(unique_name("argus-recovery"))
        .definition(definition)
        .role_arn(&role)
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    Moto {
        endpoint: endpoint.to_string(),
        sfn,
        state_machine,
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn moto_path(moto: &Moto, scenario: &Scenario) -> Vec<String> {
    queue_answers(&moto.endpoint, &scenario.answers).await;
    let execution = moto
        .sfn
        .start_execution()
        .state_machine_arn(&moto.state_machine)
        .name(unique_name(scenario.name))
        .input(input(scenario).to_string())
        .send()
        .await
        .unwrap()
        .execution_arn;
    let mut answered = false;
    // Polls moto's engine, which runs on its own threads; bounded, so a stuck run fails.
    for _ in 0..400 {
        let described = moto
            .sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        if described.status != aws_sdk_sfn::types::ExecutionStatus::Running {
            break;
        }
        if let (Some(approval), false) = (scenario.approval, answered) {
            let history = moto
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
                    parameters
                        .pointer("/Payload/task_token")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            if let Some(token) = token {
                match approval {
                    Approval::Approve => {
                        moto.sfn
                            .send_task_success()
                            .task_token(&token)
                            .output(json!({"approved": true}).to_string())
                            .send()
                            .await
                            .unwrap();
                    }
                    Approval::Reject => {
                        moto.sfn
                            .send_task_failure()
                            .task_token(&token)
                            .error("ApprovalRejected")
                            .cause("rejected in the test")
                            .send()
                            .await
                            .unwrap();
                    }
                    Approval::Resolved => {
                        moto.sfn
                            .send_task_failure()
                            .task_token(&token)
                            .error(argus::recovery::INCIDENT_RESOLVED)
                            .cause("the incident resolved in the test")
                            .send()
                            .await
                            .unwrap();
                    }
                    Approval::Timeout => {}
                }
                answered = true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let history = moto
        .sfn
        .get_execution_history()
        .execution_arn(&execution)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    history
        .events
        .iter()
        .filter_map(|event| event.state_entered_event_details.as_ref())
        .map(|details| details.name.clone())
        .collect()
}

#[tokio::test]
async fn both_engines_take_the_same_path_in_every_scenario() {
    let Some(endpoint) = peer(
        MOTO_ENDPOINT_ENV,
        "both_engines_take_the_same_path_in_every_scenario",
    ) else {
        return;
    };
    let moto = deploy(&endpoint).await;
    for scenario in scenarios() {
        let local = local_path(&scenario).await;
        for expected in scenario.expected {
            assert!(
                local.iter().any(|state| state == expected),
                "{}: `{expected}` not on the local path {local:?}",
                scenario.name
            );
        }
        // A resolved incident is never acted on and nobody is paged for it.
        if scenario.name.contains("resolve") {
            for never in [
                "Roll back Lambda alias",
                "Escalate to on-call",
                "Open ticket",
            ] {
                assert!(
                    !local.iter().any(|state| state == never),
                    "{}: `{never}` on the local path {local:?}",
                    scenario.name
                );
            }
        }
        let remote = moto_path(&moto, &scenario).await;
        assert_eq!(
            local, remote,
            "{}: the local engine and moto took different paths",
            scenario.name
        );
    }
}
