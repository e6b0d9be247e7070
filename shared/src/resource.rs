//! Canonical resource references (`<service>:<type>/<id>`), the key incidents are grouped by.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A resource Argus watches or acts on, in one canonical spelling so that an alarm dimension,
/// a CloudTrail request and an action's parameters name the same thing the same way.
///
/// Examples: `ec2:instance/i-0abc`, `ecs:service/prod/checkout`, `lambda:function/checkout`,
/// `autoscaling:group/web`, `dynamodb:table/orders`, `logs:log-group//aws/lambda/checkout`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceRef(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a resource reference of the form <service>:<type>/<id>: {reason}")]
pub struct ResourceError {
    pub value: String,
    pub reason: &'static str,
}

impl ResourceRef {
    /// Builds a reference from its parts; the id may itself contain `/` (ECS services,
    /// log groups) but not control characters.
    pub fn new(service: &str, kind: &str, id: &str) -> Result<Self, ResourceError> {
        Self::parse(&format!("{service}:{kind}/{id}"))
    }

    pub fn parse(value: &str) -> Result<Self, ResourceError> {
        let error = |reason| ResourceError {
            value: value.to_string(),
            reason,
        };
        if value.len() > 1024 {
            return Err(error("longer than 1024 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(error("contains control characters"));
        }
        let (service, rest) = value.split_once(':').ok_or_else(|| error("missing `:`"))?;
        let (kind, id) = rest.split_once('/').ok_or_else(|| error("missing `/`"))?;
        let is_word = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !is_word(service) {
            return Err(error("the service must be letters, digits, `-` or `_`"));
        }
        if !is_word(kind) {
            return Err(error("the type must be letters, digits, `-` or `_`"));
        }
        if id.trim().is_empty() {
            return Err(error("the id is empty"));
        }
        Ok(Self(value.to_string()))
    }

    /// Builds a reference from its parts and checks the id against its kind's grammar
    /// (`resource_grammar`): the constructor for ids that come from outside Argus.
    pub fn checked(service: &str, kind: &str, id: &str) -> Result<Self, ResourceError> {
        let resource = Self::new(service, kind, id)?;
        resource.check_grammar()?;
        Ok(resource)
    }

    /// Parses a full reference written outside Argus and checks it against its kind's grammar.
    pub fn parse_checked(value: &str) -> Result<Self, ResourceError> {
        let resource = Self::parse(value)?;
        resource.check_grammar()?;
        Ok(resource)
    }

    /// Whether the id fits its kind's grammar; `parse` alone checks only the shape, so that
    /// records written before a grammar existed can still be read.
    pub fn check_grammar(&self) -> Result<(), ResourceError> {
        let kind = self.kind();
        let kind = kind.split_once(':').map_or("", |(_, kind)| kind);
        crate::resource_grammar::check(self.service(), kind, self.id()).map_err(|reason| {
            ResourceError {
                value: self.0.clone(),
                reason,
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn service(&self) -> &str {
        self.0.split_once(':').map_or("", |(service, _)| service)
    }

    /// `<service>:<type>`, the part action targets are matched on.
    pub fn kind(&self) -> &str {
        self.0.split_once('/').map_or("", |(kind, _)| kind)
    }

    pub fn id(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, id)| id)
    }
}

impl TryFrom<String> for ResourceRef {
    type Error = ResourceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ResourceRef> for String {
    fn from(value: ResourceRef) -> Self {
        value.0
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_nested_id_are_read_back() {
        let resource = ResourceRef::new("ecs", "service", "prod/checkout").unwrap();
        assert_eq!(resource.as_str(), "ecs:service/prod/checkout");
        assert_eq!(resource.service(), "ecs");
        assert_eq!(resource.kind(), "ecs:service");
        assert_eq!(resource.id(), "prod/checkout");
    }

    #[test]
    fn malformed_references_are_refused_with_a_reason() {
        for bad in [
            "",
            "ec2",
            "ec2:instance",
            "ec2:/i-1",
            ":instance/i-1",
            "ec2:instance/ ",
            "e c2:instance/i",
        ] {
            let error = ResourceRef::parse(bad).unwrap_err();
            assert!(!error.reason.is_empty(), "{bad}");
        }
    }
}
