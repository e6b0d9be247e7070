//! The rules analyst: deterministic, free and always available. It is the embedded default and
//! the fallback whenever a model is throttled, slow, or answers out of schema.

use super::assessment::{Assessment, Classification, Hypothesis, Proposal};
use super::context::AnalysisContext;
use crate::catalogue::ActionId;
use crate::signal::{AlarmKind, SignalSource};
use serde_json::{Value, json};

pub const RULES_ANALYST: &str = "rules/v1";

impl RulesAnalyst {
    pub const NAME: &str = RULES_ANALYST;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RulesAnalyst;

/// One rule's verdict before the shared adjustments (history, severity hint).
struct Verdict {
    classification: Classification,
    severity: u8,
    confidence: f64,
    statement: String,
    evidence: &'static [&'static str],
    action: ActionId,
    params: Value,
    rationale: &'static str,
}

impl Verdict {
    fn notify(
        classification: Classification,
        severity: u8,
        confidence: f64,
        statement: String,
        evidence: &'static [&'static str],
    ) -> Self {
        Self {
            classification,
            severity,
            confidence,
            statement,
            evidence,
            action: ActionId::NotifyOnly,
            params: json!({}),
            rationale: "no catalogue action is known to fix this safely; people are told",
        }
    }
}

const ALARM_EVIDENCE: &[&str] = &[
    "alarm.state",
    "alarm.metric",
    "alarm.datapoints",
    "alarm.reason",
];

impl RulesAnalyst {
    pub fn assess(&self, context: &AnalysisContext) -> Assessment {
        if let Some(assessment) = super::root_cause::candidate_assessment(context) {
            return assessment;
        }
        let signal = &context.signal;
        let verdict = match signal.source {
            SignalSource::AlarmEventBridge
            | SignalSource::AlarmLambdaAction
            | SignalSource::AlarmSns => alarm_verdict(context),
            SignalSource::CloudTrail => cloudtrail_verdict(context),
            SignalSource::Ec2StateChange => ec2_state_verdict(context),
            SignalSource::AwsHealth => Verdict::notify(
                Classification::InfrastructureEvent,
                6,
                0.8,
                format!(
                    "AWS reports an event affecting {}: {}",
                    context.resource, signal.title
                ),
                &["health.event", "health.description"],
            ),
            SignalSource::LogAnomaly => Verdict::notify(
                Classification::ErrorRate,
                6,
                0.6,
                format!(
                    "a log pattern changed in {} ({})",
                    context.resource, signal.state
                ),
                &["log.anomaly", "log.template", "log.sample.1"],
            ),
            SignalSource::ExternalAlert => Verdict::notify(
                Classification::Unknown,
                5,
                0.5,
                format!("an external monitor reports {}", signal.title),
                &["alert.summary", "alert.description", "alert.labels"],
            ),
            SignalSource::Ecs => ecs_verdict(context),
            SignalSource::Rds => rds_verdict(context),
            SignalSource::Ec2Spot => spot_verdict(context),
            SignalSource::AutoScaling => Verdict::notify(
                Classification::InfrastructureEvent,
                6,
                0.7,
                format!(
                    "{} cannot launch instances (capacity, a quota, or its launch template); replacing instances would fail the same way",
                    context.resource
                ),
                &[
                    "autoscaling.activity",
                    "autoscaling.status",
                    "autoscaling.cause",
                ],
            ),
            SignalSource::ParameterStore => Verdict::notify(
                Classification::ConfigurationChange,
                4,
                0.6,
                format!(
                    "{} ({}); whatever reads it may change behaviour",
                    signal.title, context.resource
                ),
                &["ssm.change", "ssm.description"],
            ),
        };
        let mut confidence = verdict.confidence;
        let mut hypotheses = vec![Hypothesis {
            statement: verdict.statement,
            likelihood: verdict.confidence,
            evidence: verdict
                .evidence
                .iter()
                .filter(|id| context.has_evidence(id))
                .map(|id| id.to_string())
                .collect(),
        }];
        // What happened the last times this signature was handled moves the confidence: a
        // verified success with the same action raises it, a failed verification lowers it.
        for (index, past) in context.history.iter().enumerate() {
            if past.action.as_deref() != Some(verdict.action.as_str())
                || !verdict.action.is_remediation()
            {
                continue;
            }
            let evidence_id = format!("history.{}", index + 1);
            match past.verified {
                Some(true) => {
                    confidence = (confidence + 0.1).min(0.95);
                    hypotheses.push(Hypothesis {
                        statement: format!(
                            "{} recovered this signature before ({})",
                            verdict.action, past.correlation_id
                        ),
                        likelihood: 0.6,
                        evidence: vec![evidence_id],
                    });
                }
                Some(false) => {
                    confidence = (confidence - 0.2).max(0.1);
                    hypotheses.push(Hypothesis {
                        statement: format!(
                            "{} did not recover this signature last time ({})",
                            verdict.action, past.correlation_id
                        ),
                        likelihood: 0.4,
                        evidence: vec![evidence_id],
                    });
                }
                None => {}
            }
        }
        let severity = context
            .signal
            .severity_hint
            .unwrap_or(verdict.severity)
            .clamp(1, 10);
        Assessment {
            analyst: RULES_ANALYST.to_string(),
            classification: verdict.classification,
            severity,
            confidence: (confidence * 100.0).round() / 100.0,
            summary: format!("{} on {}", context.signal.title, context.resource),
            hypotheses,
            proposal: Some(Proposal {
                action_id: verdict.action.as_str().to_string(),
                params: verdict.params,
                rationale: verdict.rationale.to_string(),
            }),
            usage: None,
        }
    }
}

fn alarm_verdict(context: &AnalysisContext) -> Verdict {
    let signal = &context.signal;
    let resource = &context.resource;
    let metric = signal.metric.as_deref().unwrap_or("");
    let kind = signal.alarm_kind.unwrap_or(AlarmKind::Metric);
    // An anomaly band is a statistical guess; a composite alarm is a summary of other alarms.
    let discount = if kind == AlarmKind::AnomalyDetection {
        0.1
    } else {
        0.0
    };
    if kind == AlarmKind::Composite {
        return Verdict::notify(
            Classification::Availability,
            6,
            0.5,
            format!("composite alarm on {resource}: several conditions hold at once"),
            &["alarm.state", "alarm.rule", "alarm.reason"],
        );
    }
    let classification = metric_classification(metric);
    match resource.kind() {
        "ec2:instance" if metric.contains("StatusCheckFailed") => Verdict {
            classification: Classification::Availability,
            severity: 7,
            confidence: 0.85 - discount,
            statement: format!(
                "{} fails its status checks; the guest is hung or impaired",
                resource.id()
            ),
            evidence: ALARM_EVIDENCE,
            action: ActionId::Ec2Reboot,
            params: json!({"instance_id": resource.id()}),
            rationale: "a reboot restores most hung guests and keeps the instance and its volumes",
        },
        "ec2:instance" if metric.contains("CPUUtilization") => Verdict {
            classification,
            severity: 5,
            confidence: 0.6 - discount,
            statement: format!(
                "{} is CPU-saturated: a runaway process or more load than it can take",
                resource.id()
            ),
            evidence: ALARM_EVIDENCE,
            action: ActionId::Ec2Reboot,
            params: json!({"instance_id": resource.id()}),
            rationale: "a reboot clears a runaway process; it does not help if the load is real",
        },
        "ecs:service" => {
            let (cluster, service) = resource.id().split_once('/').unwrap_or((resource.id(), ""));
            Verdict {
                classification,
                severity: 6,
                confidence: 0.65 - discount,
                statement: format!(
                    "tasks of ECS service {} are unhealthy or saturated",
                    resource.id()
                ),
                evidence: ALARM_EVIDENCE,
                action: ActionId::EcsForceNewDeployment,
                params: json!({"cluster": cluster, "service": service}),
                rationale: "fresh tasks clear leaked memory, stuck connections and bad hosts",
            }
        }
        "autoscaling:group" => Verdict {
            classification,
            severity: 5,
            confidence: 0.6 - discount,
            statement: format!(
                "instances of Auto Scaling group {} are degraded",
                resource.id()
            ),
            evidence: ALARM_EVIDENCE,
            action: ActionId::AsgInstanceRefresh,
            params: json!({"auto_scaling_group_name": resource.id()}),
            rationale: "an instance refresh replaces degraded instances while keeping capacity",
        },
        _ => Verdict::notify(
            classification,
            5,
            0.5 - discount,
            format!(
                "{} crossed its threshold on {resource}",
                if metric.is_empty() {
                    "the alarm's expression"
                } else {
                    metric
                }
            ),
            ALARM_EVIDENCE,
        ),
    }
}

fn metric_classification(metric: &str) -> Classification {
    let lower = metric.to_ascii_lowercase();
    if ["error", "5xx", "fault", "fail"]
        .iter()
        .any(|word| lower.contains(word))
    {
        Classification::ErrorRate
    } else if ["latency", "duration", "responsetime"]
        .iter()
        .any(|word| lower.contains(word))
    {
        Classification::Latency
    } else if lower.is_empty() {
        Classification::Unknown
    } else {
        Classification::ResourceSaturation
    }
}

fn cloudtrail_verdict(context: &AnalysisContext) -> Verdict {
    let signal = &context.signal;
    let call = signal.state.as_str();
    let evidence: &'static [&'static str] = &["cloudtrail.call", "cloudtrail.request"];
    match call {
        "StopInstances" if context.resource.kind() == "ec2:instance" => Verdict {
            classification: Classification::ConfigurationChange,
            severity: 6,
            confidence: 0.55,
            statement: format!(
                "{} was stopped by someone other than Argus",
                context.resource.id()
            ),
            evidence,
            action: ActionId::Ec2Start,
            params: json!({"instance_id": context.resource.id()}),
            rationale: "starting it again undoes the stop; a human confirms the stop was unwanted",
        },
        call if call.starts_with("Delete") || call.starts_with("Terminate") => Verdict::notify(
            Classification::SecurityTamper,
            8,
            0.7,
            format!(
                "{call} destroyed {}; this cannot be undone by an action",
                context.resource
            ),
            evidence,
        ),
        _ => Verdict::notify(
            Classification::ConfigurationChange,
            5,
            0.6,
            format!(
                "{call} changed {} outside the usual pipeline",
                context.resource
            ),
            evidence,
        ),
    }
}

fn ec2_state_verdict(context: &AnalysisContext) -> Verdict {
    let state = context.signal.state.as_str();
    if matches!(state, "stopped" | "stopping") {
        Verdict {
            classification: Classification::Availability,
            severity: 5,
            confidence: 0.6,
            statement: format!("{} stopped unexpectedly", context.resource.id()),
            evidence: &["ec2.state"],
            action: ActionId::Ec2Start,
            params: json!({"instance_id": context.resource.id()}),
            rationale: "starting the instance restores it when the stop was not intended",
        }
    } else {
        Verdict::notify(
            Classification::InfrastructureEvent,
            7,
            0.7,
            format!(
                "{} is {state}; it cannot be started again",
                context.resource.id()
            ),
            &["ec2.state"],
        )
    }
}

/// The cluster and service of an `ecs:service/<cluster>/<service>` resource.
fn ecs_service_params(context: &AnalysisContext) -> Value {
    let (cluster, service) = context
        .resource
        .id()
        .split_once('/')
        .unwrap_or((context.resource.id(), ""));
    json!({"cluster": cluster, "service": service})
}

fn ecs_verdict(context: &AnalysisContext) -> Verdict {
    let signal = &context.signal;
    let resource = &context.resource;
    let on_service = resource.kind() == "ecs:service";
    match (signal.signature.as_str(), signal.state.as_str()) {
        // ECS's circuit breaker gave up and did not roll back: the service still has the
        // deployment before it, which the workflow reads and goes back to.
        (crate::signal::ECS_DEPLOYMENT_SIGNATURE, "SERVICE_DEPLOYMENT_FAILED") if on_service => {
            Verdict {
                classification: Classification::DeploymentRegression,
                severity: 7,
                confidence: 0.7,
                statement: format!(
                    "the latest deployment of ECS service {} failed: its new task definition does not start or stay healthy",
                    resource.id()
                ),
                evidence: &["ecs.deployment", "ecs.reason"],
                action: ActionId::EcsRollbackTaskDefinition,
                params: ecs_service_params(context),
                rationale: "going back to the task definition the service ran before the failed deployment (read from the service's own deployments) restores what worked",
            }
        }
        (crate::signal::ECS_DEPLOYMENT_SIGNATURE, _) => Verdict::notify(
            Classification::DeploymentRegression,
            6,
            0.7,
            format!(
                "ECS's deployment circuit breaker is rolling {} back by itself; people check why the deployment failed",
                resource.id()
            ),
            &["ecs.deployment", "ecs.reason"],
        ),
        (_, "SERVICE_DISCOVERY_INSTANCE_UNHEALTHY") if on_service => Verdict {
            classification: Classification::Availability,
            severity: 6,
            confidence: 0.6,
            statement: format!(
                "a task of ECS service {} is unhealthy in its service registry",
                resource.id()
            ),
            evidence: &["ecs.service_action", "ecs.reason"],
            action: ActionId::EcsForceNewDeployment,
            params: ecs_service_params(context),
            rationale: "fresh tasks replace the unhealthy one on the same task definition",
        },
        (_, "SERVICE_TASK_PLACEMENT_FAILURE" | "SERVICE_TASK_CONFIGURATION_FAILURE") => {
            Verdict::notify(
                Classification::ResourceSaturation,
                7,
                0.75,
                format!(
                    "ECS cannot place tasks of {}: the cluster lacks capacity or the service's configuration is refused; a redeployment would fail the same way",
                    resource.id()
                ),
                &["ecs.service_action", "ecs.reason", "ecs.capacity_providers"],
            )
        }
        (signature, _) if signature.starts_with("ecs:task-stopped:oom") => Verdict::notify(
            Classification::ResourceSaturation,
            6,
            0.8,
            format!(
                "a task of {} was killed for using more memory than its limit; ECS restarts it, but the limit or a leak needs a person",
                resource.id()
            ),
            &["ecs.task", "ecs.containers", "ecs.task_definition"],
        ),
        (signature, _) if signature.starts_with("ecs:task-stopped:health-check") => {
            Verdict::notify(
                Classification::Availability,
                6,
                0.65,
                format!(
                    "a task of {} failed its health checks and was replaced by ECS",
                    resource.id()
                ),
                &["ecs.task", "ecs.containers", "ecs.task_definition"],
            )
        }
        (signature, _) if signature.starts_with("ecs:task-stopped:") => Verdict::notify(
            Classification::Availability,
            5,
            0.6,
            format!(
                "a task of {} stopped ({}); ECS starts another, people look at why",
                resource.id(),
                signal.state
            ),
            &["ecs.task", "ecs.containers", "ecs.task_definition"],
        ),
        _ => Verdict::notify(
            Classification::Availability,
            6,
            0.6,
            format!(
                "ECS service {} cannot keep its tasks running",
                resource.id()
            ),
            &["ecs.service_action", "ecs.reason"],
        ),
    }
}

fn rds_verdict(context: &AnalysisContext) -> Verdict {
    let signal = &context.signal;
    let resource = &context.resource;
    let evidence: &'static [&'static str] = &["rds.event", "rds.message"];
    let instance = resource.kind() == "rds:db";
    // An instance in a failed state, or one that could not restart: a reboot (approved by a
    // person, always) is the step before a restore.
    let failing = signal.signature == "rds:failure" || signal.state == "RDS-EVENT-0022";
    if instance && failing {
        return Verdict {
            classification: Classification::Availability,
            severity: 8,
            confidence: 0.55,
            statement: format!(
                "RDS DB instance {} is failing: {}",
                resource.id(),
                signal.title
            ),
            evidence,
            action: ActionId::RdsReboot,
            params: json!({"db_instance_identifier": resource.id(), "force_failover": false}),
            rationale: "a reboot restarts the database engine; a person approves it, since connections drop while it restarts",
        };
    }
    match signal.signature.as_str() {
        "rds:storage" => Verdict::notify(
            Classification::ResourceSaturation,
            8,
            0.85,
            format!(
                "{} is running out of storage; more storage (or storage autoscaling) is needed",
                resource
            ),
            evidence,
        ),
        "rds:failover" => Verdict::notify(
            Classification::InfrastructureEvent,
            6,
            0.75,
            format!("{} is failing over: {}", resource, signal.title),
            evidence,
        ),
        "rds:recovery" => Verdict::notify(
            Classification::InfrastructureEvent,
            6,
            0.75,
            format!(
                "RDS is recovering {}; nothing to do but wait and watch",
                resource
            ),
            evidence,
        ),
        _ => Verdict::notify(
            Classification::Availability,
            5,
            0.6,
            format!("{} is unavailable: {}", resource, signal.title),
            evidence,
        ),
    }
}

fn spot_verdict(context: &AnalysisContext) -> Verdict {
    let signal = &context.signal;
    let resource = &context.resource;
    let interruption = signal.signature == crate::signal::SPOT_INTERRUPTION_SIGNATURE;
    Verdict {
        classification: Classification::InfrastructureEvent,
        severity: if interruption { 6 } else { 4 },
        confidence: if interruption { 0.85 } else { 0.55 },
        statement: if interruption {
            format!(
                "EC2 reclaims Spot instance {} in two minutes ({})",
                resource.id(),
                signal.state
            )
        } else {
            format!(
                "Spot instance {} is at elevated risk of interruption",
                resource.id()
            )
        },
        evidence: &["ec2.spot"],
        action: ActionId::AsgReplaceInstance,
        params: json!({"instance_id": resource.id(), "respect_grace_period": false}),
        rationale: "marked Unhealthy, the instance is replaced by its Auto Scaling group now, while EC2's notice still leaves time to drain it",
    }
}
