//! Executes a parsed state machine locally: tasks go to a `TaskRunner` (in-process handlers and
//! a simulated AWS world), time is virtual (Waits and retries add simulated seconds, nothing
//! sleeps), and the path of states is recorded the way the Step Functions console shows it.

use super::asl::{
    AslError, State, StateMachine, evaluate, parse_condition, read_path, render, write_path,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// Transitions after which an execution is stopped as runaway.
const MAX_TRANSITIONS: usize = 1_000;
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// One task as the runner sees it: the resource and the rendered Parameters.
#[derive(Debug, Clone)]
pub struct TaskCall<'a> {
    pub state: &'a str,
    pub resource: &'a str,
    pub parameters: Value,
    pub task_token: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// Simulated seconds since the execution started, for handlers that need "now".
    pub elapsed_seconds: f64,
}

#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// For `lambda:invoke`, the function's answer (the engine wraps it as `Payload`).
    pub output: Value,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
    pub seconds: f64,
}

#[async_trait]
pub trait TaskRunner: Send + Sync {
    async fn run(&self, call: TaskCall<'_>) -> Result<TaskOutput, TaskFailure>;

    /// When the execution started, in the world the runner simulates: `$$.State.EnteredTime`
    /// is this plus the simulated seconds. Runners that ignore time keep the epoch.
    fn execution_started_at(&self) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    pub state: String,
    pub kind: &'static str,
    pub started_at_seconds: f64,
    pub seconds: f64,
    /// What happened: the branch taken, the retry, the error caught.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Succeeded,
    Failed { error: String, cause: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionRecord {
    pub name: String,
    pub status: ExecutionStatus,
    pub output: Value,
    pub visits: Vec<Visit>,
    pub elapsed_seconds: f64,
}

impl ExecutionRecord {
    /// The names of the states entered, in order: what the tests compare across engines.
    pub fn path(&self) -> Vec<&str> {
        self.visits
            .iter()
            .map(|visit| visit.state.as_str())
            .collect()
    }
}

fn task_visit(state: &str, started: f64, elapsed: f64, notes: &[String]) -> Visit {
    Visit {
        state: state.to_string(),
        kind: "Task",
        started_at_seconds: started,
        seconds: elapsed - started,
        note: notes.join("; "),
    }
}

fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|name| {
        name == error
            || name == "States.ALL"
            || (name == "States.TaskFailed"
                && error != "States.Timeout"
                && error != "States.HeartbeatTimeout")
    })
}

/// Runs `machine` on `input` to completion. `Err` only when the definition itself is unusable;
/// failures of the execution are an `ExecutionStatus::Failed` with the path that led there.
pub async fn execute(
    machine: &StateMachine,
    name: &str,
    input: Value,
    runner: &dyn TaskRunner,
) -> Result<ExecutionRecord, AslError> {
    let execution_id = format!("arn:aws:states:local:000000000000:execution:argus-recovery:{name}");
    let mut data = input.clone();
    let mut visits = Vec::new();
    let mut elapsed = 0.0f64;
    let mut current = machine.start_at.clone();
    let finish = |status, output, visits, elapsed| {
        Ok(ExecutionRecord {
            name: name.to_string(),
            status,
            output,
            visits,
            elapsed_seconds: elapsed,
        })
    };
    for _ in 0..MAX_TRANSITIONS {
        let state = machine
            .states
            .get(&current)
            .ok_or_else(|| AslError::Definition(format!("no state `{current}`")))?;
        let started = elapsed;
        let entered = runner.execution_started_at()
            + Duration::milliseconds((elapsed * 1000.0).round() as i64);
        let entered = entered.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let context = json!({"Execution": {"Id": execution_id, "Name": name, "Input": input}, "State": {"Name": current, "EnteredTime": entered}});
        // A runtime error (a path missing from the input) fails the execution; States.ALL does
        // not catch it, as in Step Functions. The failing state is recorded with the error.
        let state_name = current.clone();
        let runtime_failure = move |error: AslError, mut visits: Vec<Visit>, elapsed: f64| {
            visits.push(Visit {
                state: state_name,
                kind: "Error",
                started_at_seconds: elapsed,
                seconds: 0.0,
                note: error.to_string(),
            });
            finish(
                ExecutionStatus::Failed {
                    error: "States.Runtime".to_string(),
                    cause: error.to_string(),
                },
                Value::Null,
                visits,
                elapsed,
            )
        };
        match state {
            State::Succeed(_) => {
                visits.push(Visit {
                    state: current.clone(),
                    kind: "Succeed",
                    started_at_seconds: started,
                    seconds: 0.0,
                    note: String::new(),
                });
                return finish(ExecutionStatus::Succeeded, data, visits, elapsed);
            }
            State::Fail(fail) => {
                visits.push(Visit {
                    state: current.clone(),
                    kind: "Fail",
                    started_at_seconds: started,
                    seconds: 0.0,
                    note: String::new(),
                });
                let status = ExecutionStatus::Failed {
                    error: fail.error.clone().unwrap_or_default(),
                    cause: fail.cause.clone().unwrap_or_default(),
                };
                return finish(status, Value::Null, visits, elapsed);
            }
            State::Pass(pass) => {
                let result = match (&pass.parameters, &pass.result) {
                    (Some(template), _) => match render(template, &data, &context) {
                        Ok(result) => result,
                        Err(error) => return runtime_failure(error, visits, elapsed),
                    },
                    (None, Some(result)) => result.clone(),
                    (None, None) => data.clone(),
                };
                match &pass.result_path {
                    Some(path) => write_path(&mut data, path, result)?,
                    None => data = result,
                }
                visits.push(Visit {
                    state: current.clone(),
                    kind: "Pass",
                    started_at_seconds: started,
                    seconds: 0.0,
                    note: String::new(),
                });
                match &pass.next {
                    Some(next) => current = next.clone(),
                    None => return finish(ExecutionStatus::Succeeded, data, visits, elapsed),
                }
            }
            State::Wait(wait) => {
                let seconds = match (&wait.seconds, &wait.seconds_path) {
                    (Some(seconds), _) => *seconds as f64,
                    (None, Some(path)) => {
                        match read_path(&data, &context, path).and_then(Value::as_f64) {
                            Some(seconds) => seconds,
                            None => {
                                return runtime_failure(
                                    AslError::MissingPath { path: path.clone() },
                                    visits,
                                    elapsed,
                                );
                            }
                        }
                    }
                    (None, None) => 0.0,
                };
                elapsed += seconds;
                visits.push(Visit {
                    state: current.clone(),
                    kind: "Wait",
                    started_at_seconds: started,
                    seconds,
                    note: format!("waited {seconds:.0}s"),
                });
                match &wait.next {
                    Some(next) => current = next.clone(),
                    None => return finish(ExecutionStatus::Succeeded, data, visits, elapsed),
                }
            }
            State::Choice(choice) => {
                let mut chosen = None;
                for rule in &choice.choices {
                    let condition = parse_condition(rule, true)?;
                    match evaluate(&condition, &data) {
                        Ok(true) => {
                            chosen = rule.get("Next").and_then(Value::as_str).map(str::to_string);
                            break;
                        }
                        Ok(false) => {}
                        Err(error) => return runtime_failure(error, visits, elapsed),
                    }
                }
                let Some(next) = chosen.or_else(|| choice.default.clone()) else {
                    let status = ExecutionStatus::Failed {
                        error: "States.NoChoiceMatched".to_string(),
                        cause: format!("no choice of `{current}` matched"),
                    };
                    visits.push(Visit {
                        state: current.clone(),
                        kind: "Choice",
                        started_at_seconds: started,
                        seconds: 0.0,
                        note: "no rule matched".to_string(),
                    });
                    return finish(status, Value::Null, visits, elapsed);
                };
                visits.push(Visit {
                    state: current.clone(),
                    kind: "Choice",
                    started_at_seconds: started,
                    seconds: 0.0,
                    note: format!("→ {next}"),
                });
                current = next;
            }
            State::Task(task) => {
                let waits_for_token = task.resource.ends_with(".waitForTaskToken");
                let task_token =
                    waits_for_token.then(|| format!("token:{name}:{current}:{}", visits.len()));
                let context = json!({"Execution": context["Execution"], "State": context["State"], "Task": {"Token": task_token}});
                let parameters = match &task.parameters {
                    Some(template) => match render(template, &data, &context) {
                        Ok(parameters) => parameters,
                        Err(error) => return runtime_failure(error, visits, elapsed),
                    },
                    None => data.clone(),
                };
                let timeout_seconds = task.timeout_seconds.or_else(|| {
                    task.timeout_seconds_path
                        .as_ref()
                        .and_then(|path| read_path(&data, &context, path))
                        .and_then(Value::as_u64)
                });
                let mut attempts_by_retrier = vec![0u32; task.retry.len()];
                let mut notes = Vec::new();
                let outcome = loop {
                    let call = TaskCall {
                        state: &current,
                        resource: &task.resource,
                        parameters: parameters.clone(),
                        task_token: task_token.clone(),
                        timeout_seconds,
                        elapsed_seconds: elapsed,
                    };
                    match runner.run(call).await {
                        Ok(output) => {
                            elapsed += output.seconds;
                            let result = if task.resource == LAMBDA_INVOKE {
                                json!({"Payload": output.output, "StatusCode": 200})
                            } else {
                                output.output
                            };
                            break Ok(result);
                        }
                        Err(failure) => {
                            elapsed += failure.seconds;
                            let retrier = task
                                .retry
                                .iter()
                                .position(|retrier| matches(&retrier.error_equals, &failure.error));
                            if let Some(index) = retrier {
                                let retrier = &task.retry[index];
                                let max_attempts = retrier.max_attempts.unwrap_or(3);
                                if attempts_by_retrier[index] < max_attempts {
                                    let interval = retrier.interval_seconds.unwrap_or(1) as f64
                                        * retrier
                                            .backoff_rate
                                            .unwrap_or(2.0)
                                            .powi(attempts_by_retrier[index] as i32);
                                    attempts_by_retrier[index] += 1;
                                    elapsed += interval;
                                    notes.push(format!(
                                        "{} — retry {} after {interval:.0}s",
                                        failure.error, attempts_by_retrier[index]
                                    ));
                                    continue;
                                }
                            }
                            break Err(failure);
                        }
                    }
                };
                match outcome {
                    Ok(result) => {
                        let result = match &task.result_selector {
                            Some(selector) => match render(selector, &result, &context) {
                                Ok(selected) => selected,
                                Err(error) => return runtime_failure(error, visits, elapsed),
                            },
                            None => result,
                        };
                        write_path(&mut data, &task.result_path, result)?;
                        visits.push(task_visit(&current, started, elapsed, &notes));
                        match &task.next {
                            Some(next) => current = next.clone(),
                            None => {
                                return finish(ExecutionStatus::Succeeded, data, visits, elapsed);
                            }
                        }
                    }
                    Err(failure) => {
                        let catcher = task
                            .catch
                            .iter()
                            .find(|catcher| matches(&catcher.error_equals, &failure.error));
                        notes.push(format!("{}: {}", failure.error, failure.cause));
                        match catcher {
                            Some(catcher) => {
                                let error = json!({"Error": failure.error, "Cause": failure.cause});
                                match &catcher.result_path {
                                    Some(path) => write_path(&mut data, path, error)?,
                                    // As in Step Functions: a Catch's ResultPath defaults to
                                    // `$`, so the error output replaces the whole input.
                                    None => data = error,
                                }
                                notes.push(format!("caught → {}", catcher.next));
                                visits.push(task_visit(&current, started, elapsed, &notes));
                                current = catcher.next.clone();
                            }
                            None => {
                                visits.push(task_visit(&current, started, elapsed, &notes));
                                return finish(
                                    ExecutionStatus::Failed {
                                        error: failure.error,
                                        cause: failure.cause,
                                    },
                                    Value::Null,
                                    visits,
                                    elapsed,
                                );
                            }
                        }
                    }
                }
            }
        }
        if let Some(limit) = machine.timeout_seconds
            && elapsed > limit as f64
        {
            return finish(
                ExecutionStatus::Failed {
                    error: "States.Timeout".to_string(),
                    cause: "the execution ran past its TimeoutSeconds".to_string(),
                },
                Value::Null,
                visits,
                elapsed,
            );
        }
    }
    finish(
        ExecutionStatus::Failed {
            error: "Argus.RunawayExecution".to_string(),
            cause: format!("more than {MAX_TRANSITIONS} transitions"),
        },
        Value::Null,
        visits,
        elapsed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every task with one error, or answers it with one output.
    struct Fixed(Result<Value, &'static str>);

    #[async_trait]
    impl TaskRunner for Fixed {
        async fn run(&self, _call: TaskCall<'_>) -> Result<TaskOutput, TaskFailure> {
            match &self.0 {
                Ok(output) => Ok(TaskOutput {
                    output: output.clone(),
                    seconds: 0.0,
                }),
                Err(error) => Err(TaskFailure {
                    error: (*error).to_string(),
                    cause: "scripted".to_string(),
                    seconds: 0.0,
                }),
            }
        }
    }

    fn machine(catch: Value, result_selector: Option<Value>) -> StateMachine {
        let mut task = json!({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ec2:describeInstances", "ResultPath": "$.answer", "Catch": [catch], "Next": "Done"});
        if let Some(selector) = result_selector {
            task["ResultSelector"] = selector;
        }
        let definition = json!({"StartAt": "Call", "States": {"Call": task, "Caught": {"Type": "Succeed"}, "Done": {"Type": "Succeed"}}});
        StateMachine::parse(&definition.to_string()).unwrap_or_else(|error| panic!("{error}"))
    }

    #[tokio::test]
    async fn a_catch_without_result_path_replaces_the_input_with_the_error_output() {
        let input = json!({"correlation_id": "x", "progress": {"action_ran": false}});
        let without = machine(
            json!({"ErrorEquals": ["States.ALL"], "Next": "Caught"}),
            None,
        );
        let record = execute(&without, "t", input.clone(), &Fixed(Err("Ec2.Boom")))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            record.output,
            json!({"Error": "Ec2.Boom", "Cause": "scripted"})
        );
        let with = machine(
            json!({"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}),
            None,
        );
        let record = execute(&with, "t", input.clone(), &Fixed(Err("Ec2.Boom")))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(record.output["correlation_id"], "x");
        assert_eq!(record.output["error"]["Error"], "Ec2.Boom");
    }

    #[tokio::test]
    async fn a_wildcard_projects_and_matches_nothing_as_an_empty_list() {
        let selector = json!({"names.$": "$.Alarms[*].Name", "dims.$": "$.Alarms[*].Dims", "none.$": "$.Missing[*].Name"});
        let catch =
            json!({"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"});
        let answer = json!({"Alarms": [{"Name": "a", "Dims": [1]}, {"Dims": [2]}, {"Name": "c", "Dims": []}]});
        let record = execute(
            &machine(catch, Some(selector)),
            "t",
            json!({}),
            &Fixed(Ok(answer)),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            record.output["answer"],
            json!({"names": ["a", "c"], "dims": [[1], [2], []], "none": []})
        );
    }

    #[test]
    fn paths_outside_the_subset_are_refused() {
        for path in [
            "$.a[*].b[*]",
            "$..b",
            "$.a[?(@.b)]",
            "$.a[0:2]",
            "$.a['b','c']",
        ] {
            let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": path}, "End": true}}});
            assert!(
                StateMachine::parse(&definition.to_string()).is_err(),
                "{path} should be refused"
            );
        }
    }
}
