//! CloudTrail as investigation's change source: the write calls on each node's resource in the
//! window (LookupEvents, one lookup attribute per request, through the SDK's paginator).

use crate::investigation::model::{AliasMove, Change};
use crate::investigation::ports::{ChangeSource, SourceError, TimeRange};
use async_trait::async_trait;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

/// The IAM actions this adapter calls (checked against its source by a test).
pub const API_CALLS: &[&str] = &["cloudtrail:LookupEvents"];

const SOURCE: &str = "CloudTrail";

/// LookupEvents answers two requests a second per account and region, so an investigation
/// looks up the alarming node and the top candidates only, one after another, and reads at
/// most this many pages for each.
const MAX_PAGES_PER_NODE: usize = 2;

/// Nodes looked up at most per investigation (the first ones given: the target, then the
/// candidates best first).
const MAX_NODES: usize = 4;

#[derive(Clone, Debug)]
pub struct CloudTrailChanges {
    client: Client,
}

impl CloudTrailChanges {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn node_changes(&self, node: &str, range: TimeRange) -> Result<Vec<Change>, SourceError> {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(node)
            .build()
            .map_err(|error| SourceError::Unavailable {
                source_name: SOURCE,
                message: error.to_string(),
            })?;
        let mut pages = self
            .client
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(DateTime::from_secs(range.from))
            .end_time(DateTime::from_secs(range.to))
            .max_results(50)
            .into_paginator()
            .send();
        let mut changes = Vec::new();
        for _ in 0..MAX_PAGES_PER_NODE {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|error| SourceError::Unavailable {
                source_name: SOURCE,
                message: aws_sdk_cloudtrail::error::DisplayErrorContext(&error).to_string(),
            })?;
            for event in page.events() {
                // Reads change nothing; an event that does not say is kept.
                if event.read_only() == Some("true") {
                    continue;
                }
                let (Some(action), Some(at)) = (event.event_name(), event.event_time()) else {
                    continue;
                };
                let resources: Vec<&str> = event
                    .resources()
                    .iter()
                    .filter_map(|resource| resource.resource_name())
                    .collect();
                let summary = match (event.event_source(), resources.is_empty()) {
                    (Some(service), false) => {
                        Some(format!("{service} on {}", resources.join(", ")))
                    }
                    (Some(service), true) => Some(service.to_string()),
                    (None, false) => Some(resources.join(", ")),
                    (None, true) => None,
                };
                changes.push(Change {
                    node: node.to_string(),
                    time: at.secs(),
                    action: action.to_string(),
                    actor: event.username().map(str::to_string),
                    summary,
                    alias: alias_move(action, event.cloud_trail_event()),
                });
            }
        }
        Ok(changes)
    }
}

/// The alias an `UpdateAlias` call moved and the version it now points at, from the event's
/// request parameters (the version it pointed at before is not in the event).
fn alias_move(action: &str, event: Option<&str>) -> Option<AliasMove> {
    if !action.starts_with("UpdateAlias") {
        return None;
    }
    let event: serde_json::Value = serde_json::from_str(event?).ok()?;
    let request = event.get("requestParameters")?;
    Some(AliasMove {
        name: request.get("name")?.as_str()?.to_string(),
        from_version: None,
        to_version: request.get("functionVersion")?.as_str()?.to_string(),
    })
}

#[async_trait]
impl ChangeSource for CloudTrailChanges {
    async fn changes(
        &self,
        nodes: &[String],
        range: TimeRange,
    ) -> Result<Vec<Change>, SourceError> {
        let mut changes = Vec::new();
        for node in nodes.iter().take(MAX_NODES) {
            changes.extend(self.node_changes(node, range).await?);
        }
        changes.sort_by_key(|change| change.time);
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let source = include_str!("cloudtrail.rs");
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        assert!(source.contains(".lookup_events()"));
        assert_eq!(
            source.matches(".client\n            .").count(),
            API_CALLS.len()
        );
    }
}
