//! Amazon ECS events: a failed or rolled-back deployment, a service that cannot place or keep
//! its tasks, and a task that stopped for a reason worth knowing (out of memory, an essential
//! container exiting, failed health checks). Healthy events (a completed deployment, a service
//! at steady state) clear what the problem events opened; a task that did not stop, or stopped
//! as a deployment or scale-in meant it to, is ignored with its reason.

use super::normalise::{Envelope, NormaliseError, Normalised, decode, envelope, invalid, missing};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const DEPLOYMENT_DETAIL_TYPE: &str = "ECS Deployment State Change";
pub const SERVICE_ACTION_DETAIL_TYPE: &str = "ECS Service Action";
pub const TASK_DETAIL_TYPE: &str = "ECS Task State Change";
/// Every ECS detail-type comes from this source only.
pub const SOURCE: &str = "aws.ecs";

const DEPLOYMENT_EVENT: &str = "ECS deployment state change";
const SERVICE_EVENT: &str = "ECS service action";
const TASK_EVENT: &str = "ECS task state change";

/// A deployment's failure and its end share a signature, so the completion clears it.
pub const DEPLOYMENT_SIGNATURE: &str = "ecs:deployment";
/// Placement, start and health problems of a service; its steady state clears them.
pub const SERVICE_SIGNATURE: &str = "ecs:service-health";
/// Stopped tasks, one signature per kind of stop (`ecs:task-stopped:oom`, …).
pub const TASK_SIGNATURE_PREFIX: &str = "ecs:task-stopped:";

/// The evidence id under which a deployment signal carries the deployment's id, which the
/// rollback action is pinned to.
pub const DEPLOYMENT_EVIDENCE: &str = "ecs.deployment";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentDetail {
    event_type: String,
    event_name: String,
    deployment_id: String,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceDetail {
    event_type: String,
    event_name: String,
    #[serde(default)]
    cluster_arn: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    capacity_provider_arns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskDetail {
    cluster_arn: String,
    last_status: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    stop_code: Option<String>,
    #[serde(default)]
    stopped_reason: Option<String>,
    #[serde(default)]
    task_arn: Option<String>,
    #[serde(default)]
    task_definition_arn: Option<String>,
    #[serde(default)]
    started_by: Option<String>,
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
}

/// The last segment of an ARN's resource part: `arn:…:cluster/default` → `default`.
fn arn_name(arn: &str) -> Option<&str> {
    arn.rsplit_once(':')
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.rsplit('/').next())
        .filter(|name| !name.is_empty())
}

/// The service an event's `resources[0]` names: `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`,
/// or the older `service/<service>` with the cluster from `clusterArn`.
fn service_resource(
    envelope: &Envelope,
    cluster_arn: Option<&str>,
    event: &'static str,
) -> Result<ResourceRef, NormaliseError> {
    let arn = envelope
        .resources
        .first()
        .ok_or_else(|| missing(event, "resources[0]"))?;
    let path = arn
        .split_once(":service/")
        .map(|(_, path)| path)
        .ok_or_else(|| invalid(event, "resources[0]", "not an ECS service ARN"))?;
    let (cluster, service) = match path.split_once('/') {
        Some((cluster, service)) => (cluster.to_string(), service),
        None => {
            let cluster = cluster_arn.and_then(arn_name).ok_or_else(|| {
                invalid(
                    event,
                    "resources[0]",
                    "an ECS service ARN without its cluster needs `detail.clusterArn`",
                )
            })?;
            (cluster.to_string(), path)
        }
    };
    ResourceRef::checked("ecs", "service", &format!("{cluster}/{service}"))
        .map_err(|error| invalid(event, "resources[0]", error.reason))
}

struct Draft {
    source_event_id: String,
    effect: SignalEffect,
    signature: String,
    resource: ResourceRef,
    title: String,
    state: String,
    severity_hint: Option<u8>,
    evidence: Vec<Evidence>,
}

fn signal(envelope: &Envelope, draft: Draft) -> Signal {
    Signal {
        source_event_id: draft.source_event_id,
        source: SignalSource::Ecs,
        effect: draft.effect,
        signature: draft.signature,
        resource: draft.resource,
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        observed_at: envelope.time,
        title: draft.title,
        state: draft.state,
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint: draft.severity_hint,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: draft.evidence,
    }
}

pub(super) fn deployment(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, DEPLOYMENT_EVENT)?;
    let detail: DeploymentDetail = decode(&envelope.detail, DEPLOYMENT_EVENT, "detail")?;
    let resource = service_resource(&envelope, None, DEPLOYMENT_EVENT)?;
    let reason = detail.reason.clone().unwrap_or_default();
    // The circuit breaker names a rollback in the reason of the deployment it starts.
    let rolling_back = reason.to_ascii_lowercase().contains("rolling back");
    let (effect, state, severity_hint) = match detail.event_name.as_str() {
        "SERVICE_DEPLOYMENT_FAILED" => (SignalEffect::Opens, "failed", Some(7)),
        "SERVICE_DEPLOYMENT_IN_PROGRESS" if rolling_back => {
            (SignalEffect::Opens, "rolling back", Some(6))
        }
        "SERVICE_DEPLOYMENT_IN_PROGRESS" => (SignalEffect::Informs, "in progress", None),
        "SERVICE_DEPLOYMENT_COMPLETED" => (SignalEffect::Clears, "completed", None),
        other => {
            return Ok(Normalised::Ignored {
                reason: format!("ECS deployment event {other} reports no problem"),
            });
        }
    };
    let service = resource.id().to_string();
    // One transition of one deployment: a re-delivery has the same three.
    let source_event_id = format!(
        "ecs-deployment:{}:{}:{}",
        detail.deployment_id,
        detail.event_name,
        detail.updated_at.as_deref().unwrap_or(&envelope.id)
    );
    Ok(Normalised::Signals(vec![signal(
        &envelope,
        Draft {
            source_event_id,
            effect,
            signature: DEPLOYMENT_SIGNATURE.to_string(),
            title: format!(
                "ECS deployment {} of {service} {state}",
                detail.deployment_id
            ),
            state: detail.event_name.clone(),
            severity_hint,
            evidence: vec![
                Evidence::new(
                    DEPLOYMENT_EVIDENCE,
                    "ECS deployment",
                    format!(
                        "deployment {} of service {service}: {} ({})",
                        detail.deployment_id, detail.event_name, detail.event_type
                    ),
                ),
                Evidence::new("ecs.reason", "ECS's reason", &reason),
            ],
            resource,
        },
    )]))
}

pub(super) fn service_action(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, SERVICE_EVENT)?;
    let detail: ServiceDetail = decode(&envelope.detail, SERVICE_EVENT, "detail")?;
    let (effect, severity_hint) = match detail.event_name.as_str() {
        "SERVICE_STEADY_STATE" | "TASKSET_STEADY_STATE" => (SignalEffect::Clears, None),
        "SERVICE_TASK_PLACEMENT_FAILURE" | "SERVICE_TASK_CONFIGURATION_FAILURE" => {
            (SignalEffect::Opens, Some(7))
        }
        "SERVICE_TASK_START_IMPAIRED"
        | "SERVICE_DISCOVERY_INSTANCE_UNHEALTHY"
        | "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED" => (SignalEffect::Opens, Some(6)),
        "ECS_OPERATION_THROTTLED" | "SERVICE_DISCOVERY_OPERATION_THROTTLED" => {
            (SignalEffect::Informs, None)
        }
        other => {
            return Ok(Normalised::Ignored {
                reason: format!(
                    "ECS service action {other} ({}) reports no problem",
                    detail.event_type
                ),
            });
        }
    };
    let resource = service_resource(&envelope, detail.cluster_arn.as_deref(), SERVICE_EVENT)?;
    let mut evidence = vec![Evidence::new(
        "ecs.service_action",
        "ECS service action",
        format!(
            "service {}: {} ({})",
            resource.id(),
            detail.event_name,
            detail.event_type
        ),
    )];
    if let Some(reason) = &detail.reason {
        evidence.push(Evidence::new("ecs.reason", "ECS's reason", reason));
    }
    if !detail.capacity_provider_arns.is_empty() {
        evidence.push(Evidence::new(
            "ecs.capacity_providers",
            "capacity providers",
            detail.capacity_provider_arns.join(", "),
        ));
    }
    Ok(Normalised::Signals(vec![signal(
        &envelope,
        Draft {
            source_event_id: format!("eventbridge:{}", envelope.id),
            effect,
            signature: SERVICE_SIGNATURE.to_string(),
            title: format!("ECS service {}: {}", resource.id(), detail.event_name),
            state: detail.event_name.clone(),
            severity_hint,
            evidence,
            resource,
        },
    )]))
}

/// Why a task stopped, in the words the playbooks and signatures use; `None` for stops that
/// were meant (a deployment replacing it, a scale-in, a person).
fn stop_kind(detail: &TaskDetail) -> Option<&'static str> {
    let reason = detail.stopped_reason.as_deref().unwrap_or("");
    let container_reasons = detail
        .containers
        .iter()
        .filter_map(|container| container.reason.as_deref());
    let out_of_memory = container_reasons
        .clone()
        .chain(std::iter::once(reason))
        .any(|text| text.contains("OutOfMemory"));
    if out_of_memory {
        return Some("oom");
    }
    if reason.contains("health check") {
        return Some("health-check");
    }
    if container_reasons
        .clone()
        .any(|text| text.contains("CannotPullContainer"))
        || reason.contains("CannotPullContainer")
    {
        return Some("image-pull");
    }
    match detail.stop_code.as_deref() {
        Some("EssentialContainerExited") => Some("essential-container-exited"),
        Some("TaskFailedToStart") => Some("failed-to-start"),
        Some("SpotInterruption") | Some("TerminationNotice") => Some("interrupted"),
        _ => None,
    }
}

pub(super) fn task(event: &Value) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, TASK_EVENT)?;
    let detail: TaskDetail = decode(&envelope.detail, TASK_EVENT, "detail")?;
    if detail.last_status != "STOPPED" {
        return Ok(Normalised::Ignored {
            reason: format!(
                "ECS task is {}; only stopped tasks can be incidents",
                detail.last_status
            ),
        });
    }
    let Some(kind) = stop_kind(&detail) else {
        return Ok(Normalised::Ignored {
            reason: format!(
                "ECS task stopped as intended ({}: {})",
                detail.stop_code.as_deref().unwrap_or("no stop code"),
                detail.stopped_reason.as_deref().unwrap_or("no reason")
            ),
        });
    };
    let cluster = arn_name(&detail.cluster_arn)
        .ok_or_else(|| invalid(TASK_EVENT, "detail.clusterArn", "not an ECS cluster ARN"))?;
    // A service's task is about the service; a standalone task about its task family.
    let group = detail.group.as_deref().unwrap_or("");
    let resource = match group.split_once(':') {
        Some(("service", service)) => {
            ResourceRef::checked("ecs", "service", &format!("{cluster}/{service}"))
                .map_err(|error| invalid(TASK_EVENT, "detail.group", error.reason))?
        }
        Some(("family", family)) => {
            ResourceRef::checked("ecs", "task-family", &format!("{cluster}/{family}"))
                .map_err(|error| invalid(TASK_EVENT, "detail.group", error.reason))?
        }
        _ => {
            return Err(invalid(
                TASK_EVENT,
                "detail.group",
                "expected `service:<name>` or `family:<name>`",
            ));
        }
    };
    let task_id = detail
        .task_arn
        .as_deref()
        .and_then(arn_name)
        .unwrap_or("unknown");
    let containers: Vec<String> = detail
        .containers
        .iter()
        .map(|container| {
            format!(
                "{} exit {} {}",
                container.name.as_deref().unwrap_or("container"),
                container
                    .exit_code
                    .map_or("-".to_string(), |code| code.to_string()),
                container.reason.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string()
        })
        .collect();
    let severity_hint = Some(match kind {
        "oom" | "failed-to-start" | "image-pull" => 6,
        _ => 5,
    });
    let mut evidence = vec![
        Evidence::new(
            "ecs.task",
            "stopped task",
            format!(
                "task {task_id} of {} stopped ({}): {}",
                resource.id(),
                detail.stop_code.as_deref().unwrap_or("no stop code"),
                detail.stopped_reason.as_deref().unwrap_or("no reason")
            ),
        ),
        Evidence::new("ecs.containers", "containers", containers.join("; ")),
    ];
    if let Some(definition) = &detail.task_definition_arn {
        let started_by = detail.started_by.as_deref().unwrap_or("unknown");
        evidence.push(Evidence::new(
            "ecs.task_definition",
            "task definition",
            format!("{definition}, started by {started_by}"),
        ));
    }
    Ok(Normalised::Signals(vec![signal(
        &envelope,
        Draft {
            source_event_id: format!("eventbridge:{}", envelope.id),
            effect: SignalEffect::Opens,
            signature: format!("{TASK_SIGNATURE_PREFIX}{kind}"),
            title: format!("ECS task of {} stopped: {kind}", resource.id()),
            state: detail
                .stop_code
                .clone()
                .unwrap_or_else(|| "STOPPED".to_string()),
            severity_hint,
            evidence,
            resource,
        },
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_names_are_their_last_segment() {
        assert_eq!(
            arn_name("arn:aws:ecs:us-west-2:111122223333:cluster/default"),
            Some("default")
        );
        assert_eq!(
            arn_name("arn:aws:ecs:us-west-2:111122223333:task/default/0d9a1f5e"),
            Some("0d9a1f5e")
        );
        assert_eq!(arn_name("no-arn"), None);
    }
}
