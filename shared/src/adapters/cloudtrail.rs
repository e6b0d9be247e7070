//! CloudTrail as investigation's change source: the write calls on each node's resource in the
//! window (LookupEvents, one lookup attribute per request, through the SDK's paginator).

use crate::investigation::model::{AliasMove, Change};
use crate::investigation::ports::{ChangeSource, SourceError, TimeRange};
use async_trait::async_trait;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{Event, LookupAttribute, LookupAttributeKey};

/// The IAM actions this adapter calls (checked against its source by a test).
pub const API_CALLS: &[&str] = &["cloudtrail:LookupEvents"];

const SOURCE: &str = "CloudTrail";

/// LookupEvents answers two requests a second per account and region, so an investigation
/// looks up the alarming node and the top candidates only, one after another, and reads at
/// most this many pages for each.
const MAX_PAGES_PER_NODE: usize = 2;

/// How far back the previous move of an alias is looked for: CloudTrail's event history keeps
/// 90 days.
const ALIAS_HISTORY_SECONDS: i64 = 90 * 86_400;

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

    /// The events on `node` during `range`, newest first, at most `max_pages` pages.
    async fn node_events(
        &self,
        node: &str,
        range: TimeRange,
        max_pages: usize,
    ) -> Result<Vec<Event>, SourceError> {
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
        let mut events = Vec::new();
        for _ in 0..max_pages {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|error| SourceError::Unavailable {
                source_name: SOURCE,
                message: aws_sdk_cloudtrail::error::DisplayErrorContext(&error).to_string(),
            })?;
            events.extend(page.events().iter().cloned());
        }
        Ok(events)
    }

    async fn node_changes(&self, node: &str, range: TimeRange) -> Result<Vec<Change>, SourceError> {
        let mut changes = Vec::new();
        for event in self.node_events(node, range, MAX_PAGES_PER_NODE).await? {
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
                (Some(service), false) => Some(format!("{service} on {}", resources.join(", "))),
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
        self.previous_alias_versions(node, &mut changes).await?;
        Ok(changes)
    }

    /// CloudTrail's UpdateAlias names only the version the alias points at now; the version it
    /// pointed at before is what the previous move of the same alias set. Only each alias's
    /// newest move is completed (it is the one a rollback undoes); the previous move is looked up
    /// in the changes already read, then in the event history before the move (two pages, newest
    /// first). When neither has it, it stays unknown and nothing is rolled back on a guess.
    async fn previous_alias_versions(
        &self,
        node: &str,
        changes: &mut [Change],
    ) -> Result<(), SourceError> {
        for index in 0..changes.len() {
            let Some(current) = changes[index].alias.clone() else {
                continue;
            };
            if current.from_version.is_some() {
                continue;
            }
            let moved_at = changes[index].time;
            // Only the newest move of an alias can be rolled back: an older one is left as read.
            let superseded = changes.iter().any(|change| {
                change.time > moved_at
                    && change
                        .alias
                        .as_ref()
                        .is_some_and(|alias| alias.name == current.name)
            });
            if superseded {
                continue;
            }
            let earlier_in_window = changes
                .iter()
                .filter(|change| change.time < moved_at)
                .filter_map(|change| Some((change.time, change.alias.as_ref()?)))
                .filter(|(_, alias)| alias.name == current.name)
                .max_by_key(|(time, _)| *time)
                .map(|(_, alias)| alias.to_version.clone());
            let previous = match earlier_in_window {
                Some(version) => Some(version),
                None => {
                    let history = TimeRange {
                        from: moved_at - ALIAS_HISTORY_SECONDS,
                        to: moved_at,
                    };
                    self.node_events(node, history, MAX_PAGES_PER_NODE)
                        .await?
                        .iter()
                        .filter(|event| event.event_time().is_some_and(|at| at.secs() < moved_at))
                        .filter_map(|event| {
                            alias_move(event.event_name()?, event.cloud_trail_event())
                        })
                        .find(|alias| alias.name == current.name)
                        .map(|alias| alias.to_version)
                }
            };
            if let Some(alias) = changes[index].alias.as_mut() {
                alias.from_version = previous;
            }
        }
        Ok(())
    }
}

/// The alias an `UpdateAlias` or `CreateAlias` call set and the version it now points at, from
/// the event's request parameters (the version it pointed at before is not in the event).
fn alias_move(action: &str, event: Option<&str>) -> Option<AliasMove> {
    if !action.starts_with("UpdateAlias") && !action.starts_with("CreateAlias") {
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
