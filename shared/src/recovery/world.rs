//! A simulated AWS world for running the recovery workflow locally: resources that recover
//! after the action, stay broken, or break again; approvals answered from the command line;
//! actions that are throttled or fail; and an interlude where the rest of the world (a signal
//! that resolves the incident) happens while the workflow runs. Lambda tasks go to the
//! in-process handlers.

use super::engine::{TaskCall, TaskFailure, TaskOutput, TaskRunner};
use super::record;
use super::verifier::{VerifyRequest, verify};
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::incident::update_incident;
use crate::incident::{ApprovalDecision, AuditEntry, AuditKind, PendingApproval, TaskToken};
use crate::ports::{Clock, IncidentStore, PatternStore};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// The resource recovers shortly after the action and stays healthy.
    Recovers,
    /// The action changes nothing.
    StaysBroken,
    /// The resource recovers, then breaks again before it counts as recovered.
    Relapses,
}

impl Behaviour {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "recovers" => Some(Self::Recovers),
            "stays-broken" => Some(Self::StaysBroken),
            "relapses" => Some(Self::Relapses),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    Approve,
    Reject,
    /// Nobody answers: the approval times out and fails closed.
    NoAnswer,
}

#[derive(Clone, Debug)]
pub struct WorldSettings {
    pub behaviour: Behaviour,
    pub approval: Approval,
    /// The action is throttled this many times before it goes through.
    pub throttle_action: u32,
    /// The action fails for good (permission denied).
    pub action_fails: bool,
    pub approver: String,
    /// Whether resolving an incident fails its pending approval's task with
    /// `Argus.IncidentResolved`, as the intake does with SendTaskFailure. Off, the approval
    /// waits out its timeout (the SendTaskFailure was lost).
    pub resolution_fails_approval: bool,
}

/// What happens in the rest of the world while the workflow runs: called before each task with
/// the state's name and the simulated time, and for "Request approval" after the approval was
/// asked and before anyone answers it. Tests deliver signals through the intake here.
#[async_trait]
pub trait Interlude: Send + Sync {
    async fn at(&self, state: &str, now: DateTime<Utc>);
}

impl Default for WorldSettings {
    fn default() -> Self {
        Self {
            behaviour: Behaviour::Recovers,
            approval: Approval::NoAnswer,
            throttle_action: 0,
            action_fails: false,
            approver: "local-operator".to_string(),
            resolution_fails_approval: true,
        }
    }
}

#[derive(Debug, Default)]
struct WorldState {
    acted_at: Option<f64>,
    throttled: u32,
    alarm_reads: u32,
    messages: Vec<String>,
}

/// Runs the workflow's tasks against the simulated world and the in-process handlers.
pub struct LocalRunner<'a> {
    pub settings: WorldSettings,
    pub store: &'a dyn IncidentStore,
    pub patterns: &'a dyn PatternStore,
    /// The execution's start; simulated seconds are added to it for "now".
    pub started_at: DateTime<Utc>,
    /// The policy the workflow's records run under (outcome learning reads it).
    pub config: Config,
    interlude: Option<&'a dyn Interlude>,
    state: Mutex<WorldState>,
}

impl std::fmt::Debug for LocalRunner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRunner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A clock frozen at one simulated instant, for the handlers a task calls.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Who the audit trail says asked for approval: the connectors function, as on AWS.
const CONNECTORS_ACTOR: &str = "argus/connectors";
const LAMBDA_SECONDS: f64 = 0.2;
const SDK_SECONDS: f64 = 0.5;
const HUMAN_SECONDS: f64 = 90.0;
const BUILD_SECONDS: f64 = 240.0;

/// The revisions of the simulated world's ECS service: the one a failed deployment brought, and
/// the one it ran before, which a rollback goes back to.
const FAILED_REVISION: u32 = 8;
const PREVIOUS_REVISION: u32 = 7;

fn simulated_task_definition(service: &str, revision: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{service}:{revision}")
}

fn failure(error: &str, cause: impl Into<String>, seconds: f64) -> TaskFailure {
    TaskFailure {
        error: error.to_string(),
        cause: cause.into(),
        seconds,
    }
}

impl<'a> LocalRunner<'a> {
    pub fn new(
        settings: WorldSettings,
        store: &'a dyn IncidentStore,
        patterns: &'a dyn PatternStore,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            settings,
            store,
            patterns,
            started_at,
            config: Config::default(),
            interlude: None,
            state: Mutex::new(WorldState::default()),
        }
    }

    /// Lets `interlude` act on the world while the workflow runs.
    pub fn with_interlude(mut self, interlude: &'a dyn Interlude) -> Self {
        self.interlude = Some(interlude);
        self
    }

    /// Runs the workflow's records under this policy instead of the defaults.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// What the connectors would have sent (notifications, pages, tickets), in order.
    pub fn messages(&self) -> Vec<String> {
        self.lock().messages.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WorldState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn at(&self, elapsed: f64) -> DateTime<Utc> {
        self.started_at + Duration::milliseconds((elapsed * 1000.0) as i64)
    }

    async fn lambda(&self, call: &TaskCall<'_>) -> Result<TaskOutput, TaskFailure> {
        let function = call
            .parameters
            .get("FunctionName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let payload = call
            .parameters
            .get("Payload")
            .cloned()
            .unwrap_or(Value::Null);
        let now = self.at(call.elapsed_seconds);
        if function.contains("orchestrator") {
            let clock = FixedClock(now);
            return record::handle(&payload, self.store, self.patterns, &clock, &self.config)
                .await
                .map(|output| TaskOutput {
                    output,
                    seconds: LAMBDA_SECONDS,
                })
                .map_err(|error| failure(error.error_type(), error.to_string(), LAMBDA_SECONDS));
        }
        if function.contains("verifier") {
            let request: VerifyRequest = serde_json::from_value(payload)
                .map_err(|error| failure("InvalidRequest", error.to_string(), LAMBDA_SECONDS))?;
            let response = verify(&request, now);
            return Ok(TaskOutput {
                output: json!(response),
                seconds: LAMBDA_SECONDS,
            });
        }
        if function.contains("connectors") {
            let operation = payload
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            if operation == "request_approval" {
                return self.approval(call, &payload).await;
            }
            let kind = payload
                .get("kind")
                .and_then(Value::as_str)
                .map(|kind| format!(" ({kind})"))
                .unwrap_or_default();
            self.lock()
                .messages
                .push(format!("connectors: {operation}{kind}"));
            return Ok(TaskOutput {
                output: json!({"delivered": true, "channel": "local"}),
                seconds: LAMBDA_SECONDS,
            });
        }
        Err(failure(
            "Lambda.ResourceNotFoundException",
            format!("no local handler for {function}"),
            LAMBDA_SECONDS,
        ))
    }

    /// Answers an approval the way the connectors do: the request and the answer land in the
    /// incident's audit trail (`ApprovalRequested`, then `ApprovalDecided` with approver and
    /// channel), with the pending approval kept on the incident.
    async fn approval(
        &self,
        call: &TaskCall<'_>,
        payload: &Value,
    ) -> Result<TaskOutput, TaskFailure> {
        let requested_at = self.at(call.elapsed_seconds);
        let answered_at = self.at(call.elapsed_seconds + HUMAN_SECONDS);
        let id = payload
            .get("correlation_id")
            .cloned()
            .and_then(|id| serde_json::from_value::<CorrelationId>(id).ok());
        if let Some(id) = &id {
            let timeout = call.timeout_seconds.unwrap_or(3600) as i64;
            let execution = payload
                .get("execution_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let token = call.task_token.clone().unwrap_or_default();
            update_incident(self.store, &FixedClock(requested_at), id, None, |incident| {
                let Some(action) = incident.decision.as_ref().and_then(|decision| decision.action.clone()) else {
                    return Vec::new();
                };
                // The same fields the connectors record, so a post-mortem reads both alike.
                let approvers = self.config.approvals.approvers_for(action.risk);
                let approval = PendingApproval {
                    id: format!("local-{}", incident.audit_head.next_seq),
                    execution_id: execution.clone(),
                    action: action.action,
                    risk: action.risk,
                    requested_by: "argus".to_string(),
                    requested_at,
                    expires_at: requested_at + Duration::seconds(timeout),
                    task_token: TaskToken::new(token.clone()),
                    decision: None,
                };
                let entry = AuditEntry::new(
                    CONNECTORS_ACTOR,
                    AuditKind::ApprovalRequested,
                    format!("approval of {} asked for on the local terminal", action.action),
                    json!({"approval": approval.id, "execution": execution, "action": action.action, "risk": action.risk, "requested_by": approval.requested_by, "expires_at": approval.expires_at, "approvers": approvers, "channel": "local"}),
                );
                incident.approval = Some(approval);
                vec![entry]
            })
            .await
            .map_err(|error| failure(error.error_type(), error.to_string(), LAMBDA_SECONDS))?;
            // The rest of the world acts while the approval waits, before anyone answers.
            if let Some(interlude) = self.interlude {
                interlude
                    .at(
                        call.state,
                        self.at(call.elapsed_seconds + HUMAN_SECONDS / 2.0),
                    )
                    .await;
                let resolved = self
                    .store
                    .incident(id)
                    .await
                    .map_err(|error| failure(error.error_type(), error.to_string(), HUMAN_SECONDS))?
                    .is_some_and(|incident| !incident.status.is_open());
                if resolved {
                    return self.resolved_during_approval(id, call, answered_at).await;
                }
            }
            let answer = match self.settings.approval {
                Approval::Approve => Some(true),
                Approval::Reject => Some(false),
                Approval::NoAnswer => None,
            };
            if let Some(approved) = answer {
                let approver = self.settings.approver.clone();
                update_incident(self.store, &FixedClock(answered_at), id, None, |incident| {
                    let Some(approval) = incident.approval.as_mut().filter(|approval| approval.decision.is_none()) else {
                        return Vec::new();
                    };
                    approval.decision = Some(ApprovalDecision {
                        approved,
                        approver: approver.clone(),
                        channel: "local".to_string(),
                        decided_at: answered_at,
                    });
                    let verb = if approved { "approved" } else { "rejected" };
                    vec![AuditEntry::new(
                        &approver,
                        AuditKind::ApprovalDecided,
                        format!("{approver} {verb} {} through local", approval.action),
                        json!({"approval": approval.id, "action": approval.action, "risk": approval.risk, "approved": approved, "approver": approver, "channel": "local"}),
                    )]
                })
                .await
                .map_err(|error| failure(error.error_type(), error.to_string(), HUMAN_SECONDS))?;
            }
        }
        let mut state = self.lock();
        match self.settings.approval {
            Approval::Approve => {
                state.messages.push(format!(
                    "connectors: approval requested; approved by {}",
                    self.settings.approver
                ));
                Ok(TaskOutput {
                    output: json!({"approved": true, "approver": self.settings.approver}),
                    seconds: HUMAN_SECONDS,
                })
            }
            Approval::Reject => {
                state.messages.push(format!(
                    "connectors: approval requested; rejected by {}",
                    self.settings.approver
                ));
                Err(failure(
                    super::APPROVAL_REJECTED,
                    format!("rejected by {}", self.settings.approver),
                    HUMAN_SECONDS,
                ))
            }
            Approval::NoAnswer => {
                state
                    .messages
                    .push("connectors: approval requested; nobody answered".to_string());
                let waited = call.timeout_seconds.unwrap_or(3600) as f64;
                Err(failure(
                    "States.Timeout",
                    "the approval was not answered in time",
                    waited,
                ))
            }
        }
    }

    /// The incident resolved while its approval waited: the intake fails the task with
    /// `Argus.IncidentResolved`, and an answer given anyway is refused as the connectors refuse
    /// it (an `ApprovalRefused` record, the task failed with the same error). Only when the
    /// intake's call is lost does the approval wait out its timeout.
    async fn resolved_during_approval(
        &self,
        id: &CorrelationId,
        call: &TaskCall<'_>,
        answered_at: DateTime<Utc>,
    ) -> Result<TaskOutput, TaskFailure> {
        let answered = self.settings.approval != Approval::NoAnswer;
        if answered {
            let approver = self.settings.approver.clone();
            let approve = self.settings.approval == Approval::Approve;
            update_incident(self.store, &FixedClock(answered_at), id, None, |incident| {
                let Some(approval) = incident.approval.as_ref() else {
                    return Vec::new();
                };
                vec![AuditEntry::new(
                    CONNECTORS_ACTOR,
                    AuditKind::ApprovalRefused,
                    format!(
                        "refused an answer from {approver} through local: the incident is {}",
                        incident.status.as_str()
                    ),
                    json!({"approval": approval.id, "reason": "incident_resolved", "identity": approver, "channel": "local", "approve": approve}),
                )]
            })
            .await
            .map_err(|error| failure(error.error_type(), error.to_string(), HUMAN_SECONDS))?;
        }
        let mut state = self.lock();
        if answered {
            state.messages.push(format!(
                "connectors: approval requested; {}'s answer refused: the incident was resolved",
                self.settings.approver
            ));
        } else if self.settings.resolution_fails_approval {
            state.messages.push(
                "connectors: approval requested; the incident resolved meanwhile".to_string(),
            );
        } else {
            state.messages.push(
                "connectors: approval requested; nobody answered (the incident resolved meanwhile)"
                    .to_string(),
            );
            return Err(failure(
                "States.Timeout",
                "the approval was not answered in time",
                call.timeout_seconds.unwrap_or(3600) as f64,
            ));
        }
        Err(failure(
            super::INCIDENT_RESOLVED,
            "the incident was resolved while the approval waited",
            HUMAN_SECONDS,
        ))
    }

    fn act(
        &self,
        call: &TaskCall<'_>,
        service: &str,
        throttling_error: &str,
    ) -> Result<TaskOutput, TaskFailure> {
        let mut state = self.lock();
        let seconds = if call.resource.ends_with(".sync") {
            BUILD_SECONDS
        } else {
            SDK_SECONDS
        };
        if self.settings.action_fails {
            return Err(failure(
                &format!("{service}.AccessDeniedException"),
                "the recovery role may not do this here",
                seconds,
            ));
        }
        if state.throttled < self.settings.throttle_action {
            state.throttled += 1;
            return Err(failure(throttling_error, "rate exceeded", seconds));
        }
        state.acted_at = Some(call.elapsed_seconds);
        Ok(TaskOutput {
            output: json!({}),
            seconds,
        })
    }

    fn healthy_now(&self, elapsed: f64) -> bool {
        let state = self.lock();
        match (self.settings.behaviour, state.acted_at) {
            (_, None) | (Behaviour::StaysBroken, _) => false,
            (Behaviour::Recovers, Some(_)) => true,
            // Healthy for the first check after the action, broken again from the second on.
            (Behaviour::Relapses, Some(_)) => state.alarm_reads <= 1 && elapsed >= 0.0,
        }
    }

    fn describe_alarms(&self, call: &TaskCall<'_>) -> TaskOutput {
        let name = call
            .parameters
            .get("AlarmNames")
            .and_then(|names| names.get(0))
            .and_then(Value::as_str)
            .unwrap_or("alarm")
            .to_string();
        let acted_at = {
            let mut state = self.lock();
            state.alarm_reads += 1;
            state.acted_at
        };
        let healthy = self.healthy_now(call.elapsed_seconds);
        // A recovered alarm went OK half a minute after the action; a broken one never left ALARM.
        let (state, since) = match (healthy, acted_at) {
            (true, Some(acted)) => ("OK", self.at(acted + 30.0)),
            (false, Some(acted)) if self.settings.behaviour == Behaviour::Relapses => {
                ("ALARM", self.at(acted + 90.0))
            }
            _ => ("ALARM", self.started_at),
        };
        let alarm = json!({"AlarmName": name, "StateValue": state, "StateUpdatedTimestamp": since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
        TaskOutput {
            output: json!({"MetricAlarms": [alarm], "CompositeAlarms": []}),
            seconds: SDK_SECONDS,
        }
    }

    fn resource_health(&self, call: &TaskCall<'_>, api: &str) -> TaskOutput {
        let healthy =
            self.lock().acted_at.is_some() && self.settings.behaviour != Behaviour::StaysBroken;
        let output = match api {
            "describeInstanceStatus" => {
                let (state, status) = if healthy {
                    ("running", "ok")
                } else if self.settings.behaviour == Behaviour::StaysBroken {
                    ("running", "impaired")
                } else {
                    ("running", "ok")
                };
                json!({"InstanceStatuses": [{"InstanceState": {"Name": state}, "InstanceStatus": {"Status": status}, "SystemStatus": {"Status": "ok"}}]})
            }
            "describeServices" => {
                let service = call
                    .parameters
                    .pointer("/Services/0")
                    .and_then(Value::as_str)
                    .unwrap_or("service");
                let previous = simulated_task_definition(service, PREVIOUS_REVISION);
                let failed = simulated_task_definition(service, FAILED_REVISION);
                if healthy {
                    // After a rollback the service runs the previous revision; after a forced
                    // deployment, whatever it ran (the previous one too, in this world).
                    json!({"Services": [{"RunningCount": 3, "DesiredCount": 3, "Deployments": [
                        {"Status": "PRIMARY", "TaskDefinition": previous, "RolloutState": "COMPLETED"}
                    ]}]})
                } else {
                    // Before the action (or when it changed nothing): the failed deployment is
                    // PRIMARY and the one before it still ACTIVE beside it.
                    json!({"Services": [{"RunningCount": 1, "DesiredCount": 3, "Deployments": [
                        {"Status": "PRIMARY", "TaskDefinition": failed, "RolloutState": "FAILED"},
                        {"Status": "ACTIVE", "TaskDefinition": previous, "RolloutState": "COMPLETED"}
                    ]}]})
                }
            }
            // The SDK's own shapes; the state machine's ResultSelector keeps what the verifier reads.
            "describeDBInstances" => {
                let status = if healthy { "available" } else { "failed" };
                json!({"DbInstances": [{"DbInstanceIdentifier": call.parameters.get("DbInstanceIdentifier"), "DbInstanceStatus": status}]})
            }
            "describeAutoScalingInstances" => {
                let (state, health) = if healthy {
                    ("Terminating", "UNHEALTHY")
                } else {
                    ("InService", "HEALTHY")
                };
                json!({"AutoScalingInstances": [{"InstanceId": call.parameters.pointer("/InstanceIds/0"), "LifecycleState": state, "HealthStatus": health}]})
            }
            _ => {
                // getAlias: the version before the action, or the target after a successful one.
                let target = call.parameters.get("FunctionVersion").cloned();
                let version = if healthy {
                    target.unwrap_or(json!("target"))
                } else {
                    json!("previous")
                };
                json!({"FunctionVersion": version})
            }
        };
        TaskOutput {
            output,
            seconds: SDK_SECONDS,
        }
    }
}

#[async_trait]
impl TaskRunner for LocalRunner<'_> {
    fn execution_started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    async fn run(&self, call: TaskCall<'_>) -> Result<TaskOutput, TaskFailure> {
        let resource = call.resource;
        // The approval's interlude runs while it waits (see `approval`), every other one first.
        if let Some(interlude) = self.interlude
            && call.task_token.is_none()
        {
            interlude
                .at(call.state, self.at(call.elapsed_seconds))
                .await;
        }
        if resource.starts_with("arn:aws:states:::lambda:invoke") {
            return self.lambda(&call).await;
        }
        let api = resource
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".sync");
        match api {
            // Reading every alarm in ALARM: the simulated world has no other alarms.
            "describeAlarms" if call.parameters.get("StateValue").is_some() => Ok(TaskOutput {
                output: json!({"MetricAlarms": [], "CompositeAlarms": []}),
                seconds: SDK_SECONDS,
            }),
            "describeAlarms" => Ok(self.describe_alarms(&call)),
            "describeInstanceStatus"
            | "describeServices"
            | "describeDBInstances"
            | "describeAutoScalingInstances" => Ok(self.resource_health(&call, api)),
            "getAlias" => {
                if self.lock().acted_at.is_none() {
                    Ok(TaskOutput {
                        output: json!({"FunctionVersion": "previous"}),
                        seconds: SDK_SECONDS,
                    })
                } else {
                    Ok(self.resource_health(&call, api))
                }
            }
            "stopInstances" | "rollbackInstanceRefresh" => {
                self.lock().messages.push(format!("rollback: {api}"));
                Ok(TaskOutput {
                    output: json!({}),
                    seconds: SDK_SECONDS,
                })
            }
            "updateAlias" if self.lock().acted_at.is_some() => {
                self.lock()
                    .messages
                    .push("rollback: updateAlias".to_string());
                Ok(TaskOutput {
                    output: json!({}),
                    seconds: SDK_SECONDS,
                })
            }
            "rebootInstances" | "startInstances" => {
                self.act(&call, "Ec2", "Ec2.RequestLimitExceededException")
            }
            "updateService" => self.act(&call, "Ecs", "Ecs.ThrottlingException"),
            "updateAlias" => self.act(&call, "Lambda", "Lambda.TooManyRequestsException"),
            "startInstanceRefresh" => {
                self.act(&call, "AutoScaling", "AutoScaling.ThrottlingException")
            }
            "startAutomationExecution" => self.act(&call, "Ssm", "Ssm.ThrottlingException"),
            "startBuild" => self.act(&call, "CodeBuild", "CodeBuild.ThrottlingException"),
            "rebootDBInstance" => self.act(&call, "Rds", "Rds.SdkClientException"),
            "setInstanceHealth" => {
                self.act(&call, "AutoScaling", "AutoScaling.ThrottlingException")
            }
            other => Err(failure(
                "States.TaskFailed",
                format!("the simulated world does not answer {other}"),
                SDK_SECONDS,
            )),
        }
    }
}
