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
