//! A resource's tags as Argus reads them before it proposes an action: the `ResourceTags` port
//! (read-only), the tag policy (Argus' managed tag, the quarantine tags), the ARN a tag lookup
//! names, and `StaticTags`, the in-memory adapter for replay and tests.

use crate::resource::ResourceRef;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A resource's tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// Which tags make a resource Argus' to act on, and which put it out of reach. Terraform writes
/// it into the orchestrator's policy from the same variables the recovery role's IAM conditions
/// use (`managed_tag_key`, `managed_tag_value`, `quarantine_tag_keys`), so both agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagPolicy {
    /// A resource is Argus' to act on only when it carries this key ...
    pub managed_key: String,
    /// ... with this value.
    pub managed_value: String,
    /// A resource carrying any of these keys (any value) is quarantined: Argus proposes no
    /// action on it.
    pub quarantine_keys: Vec<String>,
}

impl Default for TagPolicy {
    fn default() -> Self {
        Self {
            managed_key: "argus:managed".to_string(),
            managed_value: "true".to_string(),
            quarantine_keys: vec!["argus:quarantine".to_string(), "Quarantine".to_string()],
        }
    }
}

impl TagPolicy {
    /// What the tags say about acting on the resource.
    pub fn judge(&self, tags: Option<&Tags>) -> TagVerdict {
        let Some(tags) = tags else {
            return TagVerdict::Unmanaged { found: None };
        };
        if let Some(key) = self
            .quarantine_keys
            .iter()
            .find(|key| tags.contains_key(key.as_str()))
        {
            return TagVerdict::Quarantined { key: key.clone() };
        }
        match tags.get(&self.managed_key) {
            Some(value) if *value == self.managed_value => TagVerdict::Managed,
            found => TagVerdict::Unmanaged {
                found: found.cloned(),
            },
        }
    }

    /// The problem with the policy, if any (checked with the rest of the configuration).
    pub fn problem(&self) -> Option<String> {
        let bad_key = |key: &str| key.is_empty() || key.len() > 128 || key.starts_with("aws:");
        if bad_key(&self.managed_key) {
            return Some("`managed_key` must be 1-128 characters, not starting with aws:".into());
        }
        if self.managed_value.is_empty() || self.managed_value.len() > 256 {
            return Some("`managed_value` must be 1-256 characters".into());
        }
        if self.quarantine_keys.iter().any(|key| bad_key(key)) {
            return Some(
                "each of `quarantine_keys` must be 1-128 characters, not starting with aws:".into(),
            );
        }
        None
    }
}

/// What a resource's tags allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// It carries the managed tag and no quarantine tag.
    Managed,
    /// It carries no managed tag (`found`: the value it carries under the key instead).
    Unmanaged { found: Option<String> },
    /// It carries the quarantine tag `key`.
    Quarantined { key: String },
}

/// One resource whose tags are wanted: Argus' reference and the ARN AWS knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLookup {
    pub resource: ResourceRef,
    pub arn: String,
}

impl TagLookup {
    /// The lookup of `resource` in `account` and `region`; `None` for a kind whose ARN cannot
    /// be built from its reference (an Auto Scaling group's ARN holds a UUID Argus never sees).
    pub fn of(resource: &ResourceRef, account: &str, region: &str) -> Option<Self> {
        let valid_account = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        let valid_region = !region.is_empty()
            && region.len() <= 32
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_account || !valid_region {
            return None;
        }
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        let id = resource.id();
        let rest = match resource.kind() {
            "ec2:instance" => format!("ec2:{region}:{account}:instance/{id}"),
            "lambda:function" => format!("lambda:{region}:{account}:function:{id}"),
            "ecs:service" => format!("ecs:{region}:{account}:service/{id}"),
            "ecs:cluster" => format!("ecs:{region}:{account}:cluster/{id}"),
            "dynamodb:table" => format!("dynamodb:{region}:{account}:table/{id}"),
            "rds:db" => format!("rds:{region}:{account}:db:{id}"),
            "sqs:queue" => format!("sqs:{region}:{account}:{id}"),
            _ => return None,
        };
        Some(Self {
            resource: resource.clone(),
            arn: format!("arn:{partition}:{rest}"),
        })
    }
}

/// Why tags could not be read. Either way Argus does not know what they say, and fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    #[error("the tagging service is throttling: {0}")]
    Throttled(String),
    #[error("the tags could not be read: {0}")]
    Unavailable(String),
}

/// Reads resources' tags. Read-only: no write call belongs here.
#[async_trait]
pub trait ResourceTags: Send + Sync {
    /// The tags of each resource looked up that has any; a resource absent from the answer has
    /// none Argus can see (or does not exist).
    async fn tags(&self, lookups: &[TagLookup]) -> Result<BTreeMap<ResourceRef, Tags>, TagsError>;
}

/// Tags from a configured map (a replay's recorded world, tests), keyed by resource reference;
/// it can be told to fail, as the tagging service can.
#[derive(Debug, Clone, Default)]
pub struct StaticTags {
    by_resource: BTreeMap<ResourceRef, Tags>,
    failure: Option<TagsError>,
    lookups: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StaticTags {
    pub fn new(by_resource: BTreeMap<ResourceRef, Tags>) -> Self {
        Self {
            by_resource,
            ..Self::default()
        }
    }

    /// `resource` carries `tags` (added to what it carries).
    pub fn with(mut self, resource: &ResourceRef, tags: &[(&str, &str)]) -> Self {
        self.by_resource
            .entry(resource.clone())
            .or_default()
            .extend(
                tags.iter()
                    .map(|(key, value)| (key.to_string(), value.to_string())),
            );
        self
    }

    /// Every lookup fails with `error`.
    pub fn failing(error: TagsError) -> Self {
        Self {
            failure: Some(error),
            ..Self::default()
        }
    }

    /// Tags from JSON: `{"ec2:instance/i-0123456789abcdef0": {"argus:managed": "true"}}`, each
    /// resource reference checked against its kind's grammar.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, Tags> =
            serde_json::from_str(text).map_err(|error| error.to_string())?;
        let mut by_resource = BTreeMap::new();
        for (resource, tags) in raw {
            let resource = ResourceRef::parse_checked(&resource)
                .map_err(|error| format!("`{resource}`: {}", error.reason))?;
            by_resource.insert(resource, tags);
        }
        Ok(Self::new(by_resource))
    }

    /// How many lookups were asked of it (each call counts once).
    pub fn calls(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl ResourceTags for StaticTags {
    async fn tags(&self, lookups: &[TagLookup]) -> Result<BTreeMap<ResourceRef, Tags>, TagsError> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(error) = &self.failure {
            return Err(error.clone());
        }
        Ok(lookups
            .iter()
            .filter_map(|lookup| {
                self.by_resource
                    .get(&lookup.resource)
                    .filter(|tags| !tags.is_empty())
                    .map(|tags| (lookup.resource.clone(), tags.clone()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> ResourceRef {
        ResourceRef::parse("ec2:instance/i-0123456789abcdef0").unwrap()
    }

    #[test]
    fn lookups_name_the_arn_aws_knows_the_resource_by() {
        let lookup = TagLookup::of(&instance(), "123456789012", "eu-west-1").unwrap();
        assert_eq!(
            lookup.arn,
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"
        );
        let function = ResourceRef::parse("lambda:function/checkout").unwrap();
        assert_eq!(
            TagLookup::of(&function, "123456789012", "cn-north-1")
                .unwrap()
                .arn,
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:checkout"
        );
        let service = ResourceRef::parse("ecs:service/prod/web").unwrap();
        assert_eq!(
            TagLookup::of(&service, "123456789012", "us-gov-west-1")
                .unwrap()
                .arn,
            "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service/prod/web"
        );
        let group = ResourceRef::parse("autoscaling:group/web").unwrap();
        assert_eq!(TagLookup::of(&group, "123456789012", "us-east-1"), None);
        assert_eq!(
            TagLookup::of(&instance(), "not-an-account", "us-east-1"),
            None
        );
        assert_eq!(
            TagLookup::of(&instance(), "123456789012", "us-east-1:x"),
            None
        );
    }

    #[test]
    fn the_policy_reads_managed_unmanaged_and_quarantined() {
        let policy = TagPolicy::default();
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            policy.judge(Some(&tags(&[("argus:managed", "true")]))),
            TagVerdict::Managed
        );
        assert_eq!(
            policy.judge(Some(&tags(&[("argus:managed", "false")]))),
            TagVerdict::Unmanaged {
                found: Some("false".into())
            }
        );
        assert_eq!(policy.judge(None), TagVerdict::Unmanaged { found: None });
        assert_eq!(
            policy.judge(Some(&tags(&[
                ("argus:managed", "true"),
                ("Quarantine", "")
            ]))),
            TagVerdict::Quarantined {
                key: "Quarantine".into()
            }
        );
        assert!(policy.problem().is_none());
        let bad = TagPolicy {
            managed_key: "aws:cloudformation:stack-name".into(),
            ..TagPolicy::default()
        };
        assert!(bad.problem().is_some());
    }
}
