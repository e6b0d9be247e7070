//! What an allow-listed SSM Automation document may be given: the parameter that carries its
//! target (filled by Argus from the incident's resource, never chosen by the analyst) and the
//! declared schema of every other parameter. A parameter the document does not declare is
//! refused, so no free-text value can aim the document at another resource or another role.

use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The parameter that names what the document acts on, and how its value is read from the
/// incident's resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTarget {
    pub parameter: String,
    #[serde(rename = "type")]
    pub kind: TargetType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// The incident's instance id (`ec2:instance/<id>`).
    Ec2InstanceId,
    /// The cluster of the incident's service (`ecs:service/<cluster>/<service>`).
    EcsClusterName,
}

impl TargetType {
    /// The value the target parameter must carry for `resource`, or why there is none.
    pub fn value_for(self, resource: &ResourceRef) -> Result<String, String> {
        let (kind, value) = match self {
            Self::Ec2InstanceId => ("ec2:instance", resource.id().to_string()),
            Self::EcsClusterName => (
                "ecs:service",
                resource.id().split('/').next().unwrap_or("").to_string(),
            ),
        };
        if resource.kind() != kind || value.is_empty() {
            return Err(format!(
                "the document acts on a {kind}, and the incident's resource is {resource}"
            ));
        }
        Ok(value)
    }
}

fn default_max_length() -> usize {
    128
}

/// The declared type of one parameter. Every parameter takes exactly one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParameterSchema {
    /// Text of letters, digits and ` _.:/=,-`, at most `max_length` characters; when `allowed`
    /// is not empty, one of those values exactly.
    String {
        #[serde(default)]
        allowed: Vec<String>,
        #[serde(default = "default_max_length")]
        max_length: usize,
    },
    Integer {
        min: i64,
        max: i64,
    },
    /// `true` or `false`.
    Boolean,
    /// An ECS task id: 32 hexadecimal digits.
    EcsTaskId,
}

impl ParameterSchema {
    fn check(&self, value: &str) -> Result<(), String> {
        match self {
            Self::String {
                allowed,
                max_length,
            } => {
                if !allowed.is_empty() {
                    return allowed
                        .iter()
                        .any(|one| one == value)
                        .then_some(())
                        .ok_or_else(|| format!("must be one of {allowed:?}"));
                }
                let safe = value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _.:/=,-".contains(c));
                (safe && value.len() <= *max_length)
                    .then_some(())
                    .ok_or_else(|| {
                        format!("must be at most {max_length} letters, digits and ` _.:/=,-`")
                    })
            }
            Self::Integer { min, max } => value
                .parse::<i64>()
                .ok()
                .filter(|number| (*min..=*max).contains(number))
                .map(|_| ())
                .ok_or_else(|| format!("must be an integer from {min} to {max}")),
            Self::Boolean => matches!(value, "true" | "false")
                .then_some(())
                .ok_or_else(|| "must be true or false".to_string()),
            Self::EcsTaskId => (value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit()))
                .then_some(())
                .ok_or_else(|| "must be an ECS task id (32 hexadecimal digits)".to_string()),
        }
    }
}

/// Why a document's parameters were refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterProblem {
    /// The target parameter names something other than the incident's resource.
    WrongTarget { parameter: String, value: String },
    /// Anything else: undeclared, mistyped, several values, no target on this resource.
    Invalid(String),
}

/// Checks `parameters` against `target` and `schema` for `resource`, and fills the target
/// parameter from the resource (the analyst may omit it; it may not change it).
pub fn check_parameters(
    target: &DocumentTarget,
    schema: &BTreeMap<String, ParameterSchema>,
    parameters: &mut BTreeMap<String, Vec<String>>,
    resource: &ResourceRef,
) -> Result<(), ParameterProblem> {
    let value = target
        .kind
        .value_for(resource)
        .map_err(ParameterProblem::Invalid)?;
    for (name, values) in parameters.iter() {
        if *name == target.parameter {
            if values.len() != 1 || values[0] != value {
                return Err(ParameterProblem::WrongTarget {
                    parameter: name.clone(),
                    value: values.join(",").chars().take(120).collect(),
                });
            }
            continue;
        }
        let declared = schema.get(name).ok_or_else(|| {
            ParameterProblem::Invalid(format!(
                "the document does not declare a parameter `{}`",
                name.chars().take(80).collect::<String>()
            ))
        })?;
        let [one] = values.as_slice() else {
            return Err(ParameterProblem::Invalid(format!(
                "`{name}` takes exactly one value"
            )));
        };
        declared
            .check(one)
            .map_err(|reason| ParameterProblem::Invalid(format!("`{name}` {reason}")))?;
    }
    parameters.insert(target.parameter.clone(), vec![value]);
    Ok(())
}
