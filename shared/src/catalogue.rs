//! The action catalogue: every recovery Argus may run, with its parameter schema, risk class,
//! inverse, and the resource it targets. Nothing outside this list can ever be executed.

use crate::config::Config;
use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActionId {
    #[serde(rename = "ec2.reboot")]
    Ec2Reboot,
    #[serde(rename = "ec2.start")]
    Ec2Start,
    #[serde(rename = "ecs.force_new_deployment")]
    EcsForceNewDeployment,
    #[serde(rename = "lambda.rollback_alias")]
    LambdaRollbackAlias,
    #[serde(rename = "asg.instance_refresh")]
    AsgInstanceRefresh,
    #[serde(rename = "ssm.automation")]
    SsmAutomation,
    #[serde(rename = "codebuild.terraform_apply")]
    CodebuildTerraformApply,
    #[serde(rename = "notify.only")]
    NotifyOnly,
    #[serde(rename = "ecs.rollback_task_definition")]
    EcsRollbackTaskDefinition,
    #[serde(rename = "rds.reboot")]
    RdsReboot,
    #[serde(rename = "asg.replace_instance")]
    AsgReplaceInstance,
}

impl ActionId {
    pub const ALL: [ActionId; 11] = [
        Self::Ec2Reboot,
        Self::Ec2Start,
        Self::EcsForceNewDeployment,
        Self::LambdaRollbackAlias,
        Self::AsgInstanceRefresh,
        Self::SsmAutomation,
        Self::CodebuildTerraformApply,
        Self::NotifyOnly,
        Self::EcsRollbackTaskDefinition,
        Self::RdsReboot,
        Self::AsgReplaceInstance,
    ];

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.as_str() == name)
    }

    pub fn spec(self) -> &'static ActionSpec {
        match self {
            Self::Ec2Reboot => &EC2_REBOOT,
            Self::Ec2Start => &EC2_START,
            Self::EcsForceNewDeployment => &ECS_FORCE_NEW_DEPLOYMENT,
            Self::LambdaRollbackAlias => &LAMBDA_ROLLBACK_ALIAS,
            Self::AsgInstanceRefresh => &ASG_INSTANCE_REFRESH,
            Self::SsmAutomation => &SSM_AUTOMATION,
            Self::CodebuildTerraformApply => &CODEBUILD_TERRAFORM_APPLY,
            Self::NotifyOnly => &NOTIFY_ONLY,
            Self::EcsRollbackTaskDefinition => &ECS_ROLLBACK_TASK_DEFINITION,
            Self::RdsReboot => &RDS_REBOOT,
            Self::AsgReplaceInstance => &ASG_REPLACE_INSTANCE,
        }
    }

    /// Whether running it changes anything (everything but `notify.only`).
    pub fn is_remediation(self) -> bool {
        self != Self::NotifyOnly
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much harm a wrong run could do; it bounds how autonomous the decision may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    /// Changes nothing.
    None,
    /// Restarts or starts something; may run without a human when confidence is high.
    Low,
    /// Replaces running capacity or code; always needs a human.
    Medium,
    /// Changes infrastructure; always needs a human, with a higher confidence bar.
    High,
}

#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub risk: RiskClass,
    /// The `<service>:<type>` of the resource it acts on; `None` for actions on anything.
    pub target_kind: Option<&'static str>,
    /// How it is undone, or `None` when it has no inverse.
    pub inverse: Option<&'static str>,
    /// Parameter names and what they mean, for prompts, `--help` and the approval message.
    pub parameters: &'static [(&'static str, &'static str)],
}

static EC2_REBOOT: ActionSpec = ActionSpec {
    name: "ec2.reboot",
    title: "Reboot the EC2 instance",
    risk: RiskClass::Low,
    target_kind: Some("ec2:instance"),
    inverse: None,
    parameters: &[("instance_id", "the instance to reboot, i-…")],
};
static EC2_START: ActionSpec = ActionSpec {
    name: "ec2.start",
    title: "Start the stopped EC2 instance",
    risk: RiskClass::Low,
    target_kind: Some("ec2:instance"),
    inverse: Some("ec2 StopInstances on the same instance"),
    parameters: &[("instance_id", "the instance to start, i-…")],
};
static ECS_FORCE_NEW_DEPLOYMENT: ActionSpec = ActionSpec {
    name: "ecs.force_new_deployment",
    title: "Replace the ECS service's tasks (force new deployment)",
    risk: RiskClass::Medium,
    target_kind: Some("ecs:service"),
    inverse: None,
    parameters: &[
        ("cluster", "the cluster name"),
        ("service", "the service name"),
    ],
};
static LAMBDA_ROLLBACK_ALIAS: ActionSpec = ActionSpec {
    name: "lambda.rollback_alias",
    title: "Point the Lambda alias back at a previous version",
    risk: RiskClass::Medium,
    target_kind: Some("lambda:function"),
    inverse: Some("lambda UpdateAlias back to the version it pointed at before"),
    parameters: &[
        ("function_name", "the function"),
        ("alias", "the alias to move"),
        ("target_version", "the published version to point it at"),
    ],
};
static ASG_INSTANCE_REFRESH: ActionSpec = ActionSpec {
    name: "asg.instance_refresh",
    title: "Start an instance refresh of the Auto Scaling group",
    risk: RiskClass::Medium,
    target_kind: Some("autoscaling:group"),
    inverse: Some("autoscaling RollbackInstanceRefresh"),
    parameters: &[
        ("auto_scaling_group_name", "the group"),
        ("min_healthy_percentage", "optional, 0-100, default 90"),
    ],
};
static SSM_AUTOMATION: ActionSpec = ActionSpec {
    name: "ssm.automation",
    title: "Run an allow-listed SSM Automation document",
    risk: RiskClass::Medium,
    target_kind: None,
    inverse: None,
    parameters: &[
        (
            "document_name",
            "an allow-listed document (configuration `ssm_documents`)",
        ),
        ("resource", "the incident's resource the document acts on"),
        (
            "parameters",
            "optional document parameters, a map of string lists",
        ),
    ],
};
static CODEBUILD_TERRAFORM_APPLY: ActionSpec = ActionSpec {
    name: "codebuild.terraform_apply",
    title: "Re-apply the Terraform that owns the resource (CodeBuild)",
    risk: RiskClass::High,
    target_kind: None,
    inverse: None,
    parameters: &[
        (
            "project_name",
            "the CodeBuild project that runs terraform apply",
        ),
        ("resource", "the incident's resource the apply restores"),
    ],
};
static NOTIFY_ONLY: ActionSpec = ActionSpec {
    name: "notify.only",
    title: "Tell people; change nothing",
    risk: RiskClass::None,
    target_kind: None,
    inverse: None,
    parameters: &[],
};

static ECS_ROLLBACK_TASK_DEFINITION: ActionSpec = ActionSpec {
    name: "ecs.rollback_task_definition",
    title: "Roll the ECS service back to the task definition it ran before the deployment",
    risk: RiskClass::Medium,
    target_kind: Some("ecs:service"),
    // Undoing it would redeploy the task definition that just failed.
    inverse: None,
    // The task definition to go back to is no parameter: the workflow reads it from the
    // service's own deployments (the one still ACTIVE beside the failed PRIMARY), so neither
    // a model nor an event's text can choose it.
    parameters: &[
        ("cluster", "the cluster name"),
        ("service", "the service name"),
    ],
};
static RDS_REBOOT: ActionSpec = ActionSpec {
    name: "rds.reboot",
    title: "Reboot the RDS DB instance (optionally failing over to its standby)",
    // Connections drop while it reboots; a person always approves it.
    risk: RiskClass::Medium,
    target_kind: Some("rds:db"),
    inverse: None,
    parameters: &[
        ("db_instance_identifier", "the DB instance"),
        (
            "force_failover",
            "true to reboot with failover to the Multi-AZ standby, false for a plain reboot",
        ),
    ],
};
static ASG_REPLACE_INSTANCE: ActionSpec = ActionSpec {
    name: "asg.replace_instance",
    title: "Mark the instance Unhealthy so its Auto Scaling group replaces it",
    risk: RiskClass::Low,
    target_kind: Some("ec2:instance"),
    inverse: None,
    parameters: &[
        ("instance_id", "the instance to replace, i-…"),
        (
            "respect_grace_period",
            "whether the group's health check grace period still applies (false replaces now)",
        ),
    ],
};

/// Parameters of an action, parsed and checked: each variant is one action's schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionParams {
    Instance(InstanceParams),
    EcsService(EcsServiceParams),
    LambdaAlias(LambdaAliasParams),
    AutoScalingGroup(AutoScalingGroupParams),
    SsmAutomation(SsmAutomationParams),
    TerraformApply(TerraformApplyParams),
    RdsInstance(RdsRebootParams),
    AutoScalingInstance(ReplaceInstanceParams),
    None(NoParams),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsRebootParams {
    pub db_instance_identifier: String,
    pub force_failover: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceInstanceParams {
    pub instance_id: String,
    pub respect_grace_period: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParams {
    pub instance_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsServiceParams {
    pub cluster: String,
    pub service: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaAliasParams {
    pub function_name: String,
    pub alias: String,
    pub target_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingGroupParams {
    pub auto_scaling_group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_percentage: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmAutomationParams {
    pub document_name: String,
    pub resource: ResourceRef,
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerraformApplyParams {
    pub project_name: String,
    pub resource: ResourceRef,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Why a proposed action was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    #[error("`{0}` is not in the action catalogue")]
    UnknownAction(String),
    #[error("parameters for {action} do not match its schema: {reason}")]
    BadParameters { action: ActionId, reason: String },
    #[error("{action} would act on {target}, not on the incident's resource {incident}")]
    WrongResource {
        action: ActionId,
        target: String,
        incident: String,
    },
    #[error("SSM document `{0}` is not allow-listed")]
    DocumentNotAllowed(String),
}

/// A proposal that passed the catalogue: known action, valid parameters, right resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidatedAction {
    pub action: ActionId,
    pub params: ActionParams,
    pub risk: RiskClass,
    pub target: Option<ResourceRef>,
    /// The target is a root-cause candidate the investigation found downstream, not the
    /// resource that alarmed: a person always approves such an action.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_candidate: bool,
}

fn parse_params<T: serde::de::DeserializeOwned>(
    action: ActionId,
    params: &Value,
) -> Result<T, ActionError> {
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(params).map_err(|error| ActionError::BadParameters {
        action,
        reason: error.to_string(),
    })
}

/// A name parameter: no spaces, shell metacharacters or `.`/`..` path segments. The kind's
/// grammar was checked where the incident's resource entered (the signal), and the target must
/// equal that resource.
fn non_empty(action: ActionId, field: &str, value: &str) -> Result<(), ActionError> {
    let valid = !value.trim().is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
        && !value
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if valid {
        Ok(())
    } else {
        Err(ActionError::BadParameters {
            action,
            reason: format!(
                "`{field}` must be 1-256 characters of letters, digits and -_./:, without `.` or `..` segments"
            ),
        })
    }
}

/// A parameter that names a resource must fit its kind's grammar (`resource_grammar`).
fn grammar<T>(
    action: ActionId,
    field: &str,
    checked: Result<T, crate::resource::ResourceError>,
) -> Result<T, ActionError> {
    checked.map_err(|error| ActionError::BadParameters {
        action,
        reason: format!("`{field}`: {}", error.reason),
    })
}

/// Checks a proposal `{action_id, params}` against the catalogue and pins it to `incident_resource`.
pub fn validate(
    action_name: &str,
    params: &Value,
    incident_resource: &ResourceRef,
    config: &Config,
) -> Result<ValidatedAction, ActionError> {
    validate_for(action_name, params, incident_resource, &[], config)
}

/// [`validate`], where a remediation may also target one of `candidates`: resources the
/// investigation found on the alarming resource's dependency graph (marked `on_candidate`).
pub fn validate_for(
    action_name: &str,
    params: &Value,
    incident_resource: &ResourceRef,
    candidates: &[ResourceRef],
    config: &Config,
) -> Result<ValidatedAction, ActionError> {
    let action = ActionId::parse(action_name)
        .ok_or_else(|| ActionError::UnknownAction(action_name.chars().take(80).collect()))?;
    let spec = action.spec();
    let mut risk = spec.risk;
    let (params, target) = match action {
        ActionId::Ec2Reboot | ActionId::Ec2Start => {
            let parsed: InstanceParams = parse_params(action, params)?;
            non_empty(action, "instance_id", &parsed.instance_id)?;
            let target = ResourceRef::new("ec2", "instance", &parsed.instance_id).ok();
            (ActionParams::Instance(parsed), target)
        }
        ActionId::EcsForceNewDeployment | ActionId::EcsRollbackTaskDefinition => {
            let parsed: EcsServiceParams = parse_params(action, params)?;
            non_empty(action, "cluster", &parsed.cluster)?;
            non_empty(action, "service", &parsed.service)?;
            let target = ResourceRef::new(
                "ecs",
                "service",
                &format!("{}/{}", parsed.cluster, parsed.service),
            )
            .ok();
            (ActionParams::EcsService(parsed), target)
        }
        ActionId::LambdaRollbackAlias => {
            let parsed: LambdaAliasParams = parse_params(action, params)?;
            non_empty(action, "function_name", &parsed.function_name)?;
            non_empty(action, "alias", &parsed.alias)?;
            let version_ok = !parsed.target_version.is_empty()
                && parsed.target_version.chars().all(|c| c.is_ascii_digit());
            if !version_ok {
                return Err(ActionError::BadParameters {
                    action,
                    reason: "`target_version` must be a published version number".to_string(),
                });
            }
            let target = ResourceRef::new("lambda", "function", &parsed.function_name).ok();
            (ActionParams::LambdaAlias(parsed), target)
        }
        ActionId::AsgInstanceRefresh => {
            let parsed: AutoScalingGroupParams = parse_params(action, params)?;
            non_empty(
                action,
                "auto_scaling_group_name",
                &parsed.auto_scaling_group_name,
            )?;
            if parsed.min_healthy_percentage.is_some_and(|p| p > 100) {
                return Err(ActionError::BadParameters {
                    action,
                    reason: "`min_healthy_percentage` must be 0-100".to_string(),
                });
            }
            let target =
                ResourceRef::new("autoscaling", "group", &parsed.auto_scaling_group_name).ok();
            (ActionParams::AutoScalingGroup(parsed), target)
        }
        ActionId::SsmAutomation => {
            let mut parsed: SsmAutomationParams = parse_params(action, params)?;
            let allowed = config
                .ssm_documents
                .iter()
                .find(|document| document.name == parsed.document_name)
                .ok_or_else(|| {
                    ActionError::DocumentNotAllowed(
                        parsed.document_name.chars().take(120).collect(),
                    )
                })?;
            risk = allowed.risk.max(RiskClass::Low);
            crate::ssm_schema::check_parameters(
                &allowed.target,
                &allowed.parameters,
                &mut parsed.parameters,
                incident_resource,
            )
            .map_err(|problem| match problem {
                crate::ssm_schema::ParameterProblem::WrongTarget { parameter, value } => {
                    ActionError::WrongResource {
                        action,
                        target: format!("{parameter}={value}"),
                        incident: incident_resource.to_string(),
                    }
                }
                crate::ssm_schema::ParameterProblem::Invalid(reason) => {
                    ActionError::BadParameters { action, reason }
                }
            })?;
            let target = Some(parsed.resource.clone());
            (ActionParams::SsmAutomation(parsed), target)
        }
        ActionId::CodebuildTerraformApply => {
            let parsed: TerraformApplyParams = parse_params(action, params)?;
            non_empty(action, "project_name", &parsed.project_name)?;
            // The resource reaches the build's environment: only an id inside its kind's
            // grammar (no spaces, shell metacharacters or `..`) may.
            grammar(action, "resource", parsed.resource.check_grammar())?;
            let target = Some(parsed.resource.clone());
            (ActionParams::TerraformApply(parsed), target)
        }
        ActionId::RdsReboot => {
            let parsed: RdsRebootParams = parse_params(action, params)?;
            let target = grammar(
                action,
                "db_instance_identifier",
                ResourceRef::checked("rds", "db", &parsed.db_instance_identifier),
            )?;
            (ActionParams::RdsInstance(parsed), Some(target))
        }
        ActionId::AsgReplaceInstance => {
            let parsed: ReplaceInstanceParams = parse_params(action, params)?;
            let target = grammar(
                action,
                "instance_id",
                ResourceRef::checked("ec2", "instance", &parsed.instance_id),
            )?;
            (ActionParams::AutoScalingInstance(parsed), Some(target))
        }
        ActionId::NotifyOnly => {
            let parsed: NoParams = parse_params(action, params)?;
            (ActionParams::None(parsed), None)
        }
    };
    if action.is_remediation() {
        let target = target.clone().ok_or_else(|| ActionError::BadParameters {
            action,
            reason: "the parameters do not name a valid resource".to_string(),
        })?;
        if &target != incident_resource && !candidates.contains(&target) {
            return Err(ActionError::WrongResource {
                action,
                target: target.to_string(),
                incident: incident_resource.to_string(),
            });
        }
    }
    let on_candidate = action.is_remediation() && target.as_ref() != Some(incident_resource);
    Ok(ValidatedAction {
        action,
        params,
        risk,
        target,
        on_candidate,
    })
}

/// The actions that could remediate something on a resource of this kind, for the budget
/// check made before any analysis is paid for.
pub fn remediations_for(resource: &ResourceRef) -> Vec<ActionId> {
    ActionId::ALL
        .into_iter()
        .filter(|action| action.is_remediation())
        .filter(|action| {
            action
                .spec()
                .target_kind
                .is_none_or(|kind| kind == resource.kind())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instance() -> ResourceRef {
        ResourceRef::parse("ec2:instance/i-0abc").unwrap()
    }

    #[test]
    fn a_valid_reboot_is_pinned_to_the_incident_resource() {
        let validated = validate(
            "ec2.reboot",
            &json!({"instance_id": "i-0abc"}),
            &instance(),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(validated.action, ActionId::Ec2Reboot);
        assert_eq!(validated.risk, RiskClass::Low);
        assert_eq!(validated.target, Some(instance()));
    }

    #[test]
    fn proposals_outside_the_catalogue_or_the_resource_are_refused() {
        let config = Config::default();
        let cases = [
            ("iam.delete_role", json!({})),
            ("ec2.reboot", json!({"instance_id": "i-other"})),
            ("ec2.reboot", json!({"instance_id": "i-0abc", "extra": 1})),
            ("ec2.reboot", json!({"instance_id": "i-0abc; rm -rf /"})),
            (
                "ssm.automation",
                json!({"document_name": "AWS-RunShellScript", "resource": "ec2:instance/i-0abc"}),
            ),
            (
                "codebuild.terraform_apply",
                json!({"project_name": "tf", "resource": "s3:bucket/other"}),
            ),
            (
                "lambda.rollback_alias",
                json!({"function_name": "f", "alias": "live", "target_version": "$LATEST"}),
            ),
        ];
        for (action, params) in cases {
            assert!(
                validate(action, &params, &instance(), &config).is_err(),
                "{action} {params}"
            );
        }
    }

    #[test]
    fn allow_listed_documents_take_their_configured_risk() {
        let validated = validate(
            "ssm.automation",
            &json!({"document_name": "AWS-RestartEC2Instance", "resource": "ec2:instance/i-0abc"}),
            &instance(),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(validated.risk, RiskClass::Low);
    }

    #[test]
    fn every_catalogue_name_round_trips() {
        for action in ActionId::ALL {
            assert_eq!(ActionId::parse(action.as_str()), Some(action));
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, json!(action.as_str()));
        }
    }

    #[test]
    fn remediations_match_the_resource_kind() {
        let actions = remediations_for(&instance());
        assert!(actions.contains(&ActionId::Ec2Reboot));
        assert!(!actions.contains(&ActionId::EcsForceNewDeployment));
        assert!(!actions.contains(&ActionId::NotifyOnly));
    }
}
