//! The Resource Groups Tagging API as the `ResourceTags` port: one GetResources with the
//! lookups' ARNs answers the tags of every kind Argus acts on, in one call.

use crate::resource::ResourceRef;
use crate::tags::{ResourceTags, TagLookup, Tags, TagsError};
use async_trait::async_trait;
use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::error::ProvideErrorMetadata;
use std::collections::BTreeMap;

/// The IAM actions this adapter calls (checked against its source by a test).
pub const API_CALLS: &[&str] = &["tag:GetResources"];

/// GetResources takes at most 100 ARNs in `ResourceARNList`.
const MAX_ARNS: usize = 100;

/// Pages read at most: a list of ARNs answers one page in practice, and a decision never waits
/// on an unbounded loop.
const MAX_PAGES: usize = 3;

#[derive(Clone, Debug)]
pub struct TaggingApiTags {
    client: Client,
}

impl TaggingApiTags {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("Throttling" | "ThrottlingException" | "ThrottledException" | "RequestLimitExceeded")
    )
}

#[async_trait]
impl ResourceTags for TaggingApiTags {
    async fn tags(&self, lookups: &[TagLookup]) -> Result<BTreeMap<ResourceRef, Tags>, TagsError> {
        if lookups.is_empty() {
            return Ok(BTreeMap::new());
        }
        if lookups.len() > MAX_ARNS {
            return Err(TagsError::Unavailable(format!(
                "{} resources asked at once; GetResources takes at most {MAX_ARNS}",
                lookups.len()
            )));
        }
        let arns: Vec<String> = lookups.iter().map(|lookup| lookup.arn.clone()).collect();
        let mut found = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .get_resources()
                .set_resource_arn_list(Some(arns.clone()))
                .set_pagination_token(token.take())
                .send()
                .await
                .map_err(|error| {
                    let message = aws_sdk_resourcegroupstagging::error::DisplayErrorContext(&error)
                        .to_string();
                    if is_throttling(error.code()) {
                        TagsError::Throttled(message)
                    } else {
                        TagsError::Unavailable(message)
                    }
                })?;
            for mapping in page.resource_tag_mapping_list() {
                // Only what was asked for is answered: an ARN Argus did not look up is ignored.
                let Some(lookup) = lookups
                    .iter()
                    .find(|lookup| Some(lookup.arn.as_str()) == mapping.resource_arn())
                else {
                    continue;
                };
                let tags: Tags = mapping
                    .tags()
                    .iter()
                    .map(|tag| (tag.key().to_string(), tag.value().to_string()))
                    .collect();
                found.insert(lookup.resource.clone(), tags);
            }
            token = page
                .pagination_token()
                .filter(|token| !token.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
        Err(TagsError::Unavailable(format!(
            "GetResources kept paging after {MAX_PAGES} pages"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let source = include_str!("tagging.rs");
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        assert!(source.contains(".get_resources()"));
        assert_eq!(
            source.matches(".client\n                .").count(),
            API_CALLS.len()
        );
    }
}
