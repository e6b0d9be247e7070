//! The DynamoDB adapter for the incidents and patterns tables. It is the only code that knows
//! attribute names and key layout; every guard is a conditional write or a transaction.

use crate::analysis::PastIncident;
use crate::backoff::Backoff;
use crate::budget::BudgetLedger;
use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::incident::{AuditRecord, Incident, IncidentStatus};
use crate::ports::{
    ActionStats, BudgetKey, BudgetLimits, BudgetOutcome, BudgetUsage, ClaimOutcome, ClearOutcome,
    DedupClaim, IncidentItem, IncidentQuery, IncidentStore, IncidentWrite, ItemExpiry, NewIncident,
    OpenOutcome, OriginClear, OutcomeRecord, PatternStore, SignalRecord, SignatureHistory,
    StoreError, WriteOutcome,
};
use crate::resource::ResourceRef;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

mod approval_tokens;
mod expiry;
mod incidents;
mod patterns;
mod tables;

pub use tables::create_tables;

/// Attribute names, key prefixes and index names: the table contract Terraform provisions.
pub mod schema {
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    /// TTL attribute (epoch seconds) on both tables.
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    pub const BY_RESOURCE_INDEX: &str = "by-resource";
    pub const BY_RESOURCE_PK: &str = "gsi1pk";
    pub const BY_RESOURCE_SK: &str = "gsi1sk";
    pub const BY_STATUS_INDEX: &str = "by-status";
    pub const BY_STATUS_PK: &str = "gsi2pk";
    pub const BY_STATUS_SK: &str = "gsi2sk";
    /// Sparse: only open incidents carry its keys, sorted by when each next needs a look.
    pub const BY_DUE_INDEX: &str = "by-due";
    pub const BY_DUE_PK: &str = "gsi3pk";
    pub const BY_DUE_SK: &str = "gsi3sk";
    pub const DUE_PARTITION: &str = "DUE";
    /// The JSON document of an incident, signal, audit record or summary.
    pub const DOCUMENT: &str = "doc";
    pub const REVISION: &str = "revision";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const ATTEMPTS: &str = "attempts";
    pub const LAST_ATTEMPT_AT: &str = "last_attempt_at";
    /// A budget item's string set of the incidents granted an attempt.
    pub const CONSUMERS: &str = "consumers";
    /// An origin item's newest clear (epoch milliseconds, the source's own time).
    pub const CLEARED_AT: &str = "cleared_at";
    /// Environment variables the functions read the table names from.
    pub const INCIDENTS_TABLE_ENV: &str = "ARGUS_INCIDENTS_TABLE";
    pub const PATTERNS_TABLE_ENV: &str = "ARGUS_PATTERNS_TABLE";
}

use schema::*;

/// The IAM actions this adapter's calls need: Terraform grants the functions that link it exactly
/// these (checked by tests/tests/wiring.rs). TransactWriteItems has no IAM action of its own:
/// IAM authorises each item of a transaction by its kind (PutItem, UpdateItem, DeleteItem).
/// `create_tables` is left out: only local emulators and tests create tables; Terraform does on AWS.
pub const API_CALLS: &[&str] = &[
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

pub(super) type Item = HashMap<String, AttributeValue>;

pub use crate::ports::DEFAULT_RETENTION_DAYS;
/// Transactions cancelled by a conflicting transaction are retried this many times.
const TRANSACTION_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    incidents_table: String,
    pub(super) patterns_table: String,
    retention: Duration,
    transaction_backoff: Backoff,
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `#` separates key parts; a `#` inside a resource or signature is escaped so keys stay unambiguous.
pub(super) fn part(text: &str) -> String {
    text.replace('%', "%25").replace('#', "%23")
}

fn incident_pk(id: &CorrelationId) -> String {
    format!("INC#{id}")
}

fn open_pk(resource: &ResourceRef, signature: &str) -> String {
    format!("OPEN#{}#{}", part(resource.as_str()), part(signature))
}

fn due_key_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn origin_pk(origin: &str) -> String {
    format!("ORIGIN#{}", part(origin))
}

fn dedup_pk(source_event_id: &str) -> String {
    format!("DEDUP#{source_event_id}")
}

fn budget_pk(resource: &ResourceRef) -> String {
    format!("BUDGET#{}", part(resource.as_str()))
}

/// A budget partition's sort-key prefix: one ledger item per action.
const BUDGET_ACTION_PREFIX: &str = "ACTION#";

fn signature_pk(signature: &str) -> String {
    format!("SIG#{}", part(signature))
}

pub(super) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_string(), s(pk)),
        (SORT_KEY.to_string(), s(sk)),
    ])
}

pub(super) fn text_of<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .map(String::as_str)
}

fn number_of(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
}

pub(super) fn document<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(s)
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

pub(super) fn from_document<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, StoreError> {
    let text = text_of(item, DOCUMENT)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} item has no `{DOCUMENT}`")))?;
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

fn correlation_of(item: Option<&Item>) -> Option<CorrelationId> {
    item.and_then(|item| text_of(item, CORRELATION_ID))
        .and_then(|id| CorrelationId::parse(id).ok())
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "ThrottlingError"
        )
    )
}

pub(super) fn sdk_error<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
>(
    error: &SdkError<E, R>,
) -> StoreError {
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string();
    if is_throttling(error.code()) {
        StoreError::Throttled(message)
    } else {
        StoreError::Unavailable(message)
    }
}

pub(super) fn build_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("cannot build the request: {error}"))
}

/// The first backoff of a cancelled transaction's retries.
const DEFAULT_TRANSACTION_BACKOFF: std::time::Duration = std::time::Duration::from_millis(15);

/// The backoff of a cancelled transaction's retries from its first wait `first`: between 2
/// and 4 × `first` before the first retry, doubling to 64 and 128 × `first`, jittered so that
/// racing writers spread out.
fn transaction_backoff(first: std::time::Duration) -> Backoff {
    Backoff::new(first.saturating_mul(4), first.saturating_mul(128))
}

/// How a cancelled transaction ended, read from its cancellation reasons.
pub(super) enum Cancelled {
    /// The condition on item `index` failed; the item as it was, when DynamoDB returned it.
    Condition { index: usize, item: Option<Item> },
    /// Another transaction or throttling got in the way: worth retrying.
    Transient(String),
}

fn cancellation(reasons: &[CancellationReason]) -> Cancelled {
    for (index, reason) in reasons.iter().enumerate() {
        match reason.code() {
            Some("ConditionalCheckFailed") => {
                return Cancelled::Condition {
                    index,
                    item: reason.item().cloned(),
                };
            }
            Some("None") | None => {}
            Some(other) => return Cancelled::Transient(other.to_string()),
        }
    }
    Cancelled::Transient("cancelled without a reason".to_string())
}

impl DynamoStore {
    pub fn new(
        client: Client,
        incidents_table: impl Into<String>,
        patterns_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            incidents_table: incidents_table.into(),
            patterns_table: patterns_table.into(),
            retention: Duration::days(DEFAULT_RETENTION_DAYS),
            transaction_backoff: transaction_backoff(DEFAULT_TRANSACTION_BACKOFF),
        }
    }

    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The first wait before retrying a transaction cancelled by a conflict or throttling
    /// (doubling, with jitter); fault tests shorten it.
    pub fn with_transaction_backoff(mut self, first: std::time::Duration) -> Self {
        self.transaction_backoff = transaction_backoff(first);
        self
    }

    /// Runs a transaction, retrying conflicts and throttling; `Ok(None)` means it committed.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Cancelled>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(None),
                Err(error) => error,
            };
            let outcome = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancellation(cancelled.cancellation_reasons())
                }
                _ if error.code() == Some("TransactionConflictException") => {
                    Cancelled::Transient("TransactionConflict".to_string())
                }
                _ if is_throttling(error.code()) => Cancelled::Transient("Throttling".to_string()),
                _ => return Err(sdk_error(&error)),
            };
            match outcome {
                Cancelled::Transient(reason) if attempt < TRANSACTION_ATTEMPTS => {
                    tracing::debug!(%reason, attempt, "transaction cancelled; retrying");
                    tokio::time::sleep(self.transaction_backoff.wait(attempt)).await;
                }
                Cancelled::Transient(reason) if reason.contains("Throttl") => {
                    return Err(StoreError::Throttled(reason));
                }
                Cancelled::Transient(reason) => {
                    return Err(StoreError::Unavailable(format!(
                        "transaction kept failing: {reason}"
                    )));
                }
                condition => return Ok(Some(condition)),
            }
        }
    }

    pub(super) fn put(
        &self,
        table: &str,
        item: Item,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if let Some((expression, values)) = condition {
            put = put
                .condition_expression(expression)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (name, value) in values {
                put = put.expression_attribute_values(name, value);
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    fn dedup_item(&self, claim: &DedupClaim) -> Item {
        let mut item = key(dedup_pk(&claim.source_event_id), "-");
        item.insert("claimed_at".to_string(), s(claim.claimed_at.to_rfc3339()));
        item.insert(TTL_ATTRIBUTE.to_string(), n(claim.expires_at.timestamp()));
        if let Some(id) = &claim.correlation_id {
            item.insert(CORRELATION_ID.to_string(), s(id.as_str()));
        }
        item
    }

    fn dedup_put(&self, claim: &DedupClaim) -> Result<TransactWriteItem, StoreError> {
        // An expired claim still in the table (TTL deletes lazily) counts as absent.
        self.put(
            &self.incidents_table,
            self.dedup_item(claim),
            Some((
                &format!("attribute_not_exists({PARTITION_KEY}) OR {TTL_ATTRIBUTE} < :now"),
                vec![(":now", n(claim.claimed_at.timestamp()))],
            )),
        )
    }

    fn origin_clear_item(&self, clear: &OriginClear) -> Item {
        let mut item = key(origin_pk(&clear.origin), "-");
        item.insert(
            CLEARED_AT.to_string(),
            n(clear.cleared_at.timestamp_millis()),
        );
        item.insert(TTL_ATTRIBUTE.to_string(), n(clear.expires_at.timestamp()));
        item
    }

    /// A transaction item that holds only while `condition` does on the item at `item_key`.
    fn condition_check(
        &self,
        item_key: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut check = ConditionCheck::builder()
            .table_name(&self.incidents_table)
            .set_key(Some(item_key))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            check = check.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(build_error)?)
            .build())
    }

    fn meta_item(&self, incident: &Incident) -> Result<Item, StoreError> {
        let mut item = key(incident_pk(&incident.id), "META");
        // Never the task token: this item is what every index projects (approval_tokens.rs).
        let (withheld, _) = crate::store::approval_token::withhold(incident);
        item.insert(DOCUMENT.to_string(), document(&withheld)?);
        item.insert(REVISION.to_string(), n(incident.revision));
        item.insert("status".to_string(), s(incident.status.as_str()));
        item.insert("resource".to_string(), s(incident.resource.as_str()));
        item.insert("signature".to_string(), s(&incident.signature));
        item.insert(
            BY_RESOURCE_PK.to_string(),
            s(format!("RES#{}", incident.resource)),
        );
        item.insert(
            BY_RESOURCE_SK.to_string(),
            s(format!(
                "{}#{}",
                incident
                    .opened_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                incident.id
            )),
        );
        item.insert(
            BY_STATUS_PK.to_string(),
            s(format!("STATUS#{}", incident.status.as_str())),
        );
        item.insert(
            BY_STATUS_SK.to_string(),
            s(format!(
                "{}#{}",
                incident
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                incident.id
            )),
        );
        if let Some(due) = incident.next_check_at() {
            item.insert(BY_DUE_PK.to_string(), s(DUE_PARTITION));
            item.insert(
                BY_DUE_SK.to_string(),
                s(format!("{}#{}", due_key_time(due), incident.id)),
            );
        }
        if let Some(expires) = self.expiry_of(incident) {
            item.insert(TTL_ATTRIBUTE.to_string(), n(expires.timestamp()));
        }
        Ok(item)
    }

    /// When a closed incident's items expire: all at once, and never while it is open.
    pub(super) fn expiry_of(&self, incident: &Incident) -> Option<DateTime<Utc>> {
        incident.closed_at.map(|closed| closed + self.retention)
    }

    fn child_item<T: Serialize>(
        &self,
        incident: &Incident,
        sort_key: String,
        value: &T,
    ) -> Result<Item, StoreError> {
        let mut item = key(incident_pk(&incident.id), sort_key);
        item.insert(DOCUMENT.to_string(), document(value)?);
        if let Some(expires) = self.expiry_of(incident) {
            item.insert(TTL_ATTRIBUTE.to_string(), n(expires.timestamp()));
        }
        Ok(item)
    }

    fn record_items(
        &self,
        incident: &Incident,
        signal: Option<&SignalRecord>,
        audit: &[AuditRecord],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        if let Some(signal) = signal {
            let item = self.child_item(
                incident,
                format!("SIG#{:010}", incident.signal_count),
                signal,
            )?;
            items.push(self.put(&self.incidents_table, item, None)?);
        }
        for record in audit {
            let item = self.child_item(incident, format!("AUDIT#{:020}", record.seq), record)?;
            items.push(self.put(
                &self.incidents_table,
                item,
                Some((&format!("attribute_not_exists({PARTITION_KEY})"), vec![])),
            )?);
        }
        Ok(items)
    }

    pub(super) async fn get(
        &self,
        table: &str,
        item_key: Item,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(item_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(&error))?;
        Ok(output.item)
    }

    /// All items of one partition whose sort key starts with `prefix`, following pages.
    pub(super) async fn query_prefix(
        &self,
        table: &str,
        pk: String,
        prefix: &str,
        newest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(!newest_first)
            .consistent_read(true);
        collect_pages(query, limit).await
    }

    /// The newest `limit` items of one partition of a global secondary index.
    async fn query_index(
        &self,
        index: &str,
        pk_name: &str,
        pk: String,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.incidents_table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false);
        collect_pages(query, Some(limit)).await
    }
}

/// Runs `query` through the SDK's paginator and keeps at most `limit` items; a limit also
/// sizes the pages, so a small listing reads no more than it returns.
pub(super) async fn collect_pages(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: Option<usize>,
) -> Result<Vec<Item>, StoreError> {
    let query = match limit {
        Some(limit) => query.limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX)),
        None => query,
    };
    let mut pages = query.into_paginator().items().send();
    let mut items = Vec::new();
    while limit.is_none_or(|limit| items.len() < limit) {
        match pages.next().await {
            Some(item) => items.push(item.map_err(|error| sdk_error(&error))?),
            None => break,
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IAM actions the adapter's own source calls, read from the source itself, so a new
    /// call cannot be added without `API_CALLS` (and so the role) following.
    fn calls_in_source() -> std::collections::BTreeSet<String> {
        // Every file of the adapter but the table creation, which only tests and emulators call.
        let module = include_str!("mod.rs");
        let source = [
            module.split("#[cfg(test)]").next().unwrap_or_default(),
            include_str!("incidents.rs"),
            include_str!("patterns.rs"),
            include_str!("expiry.rs"),
        ]
        .concat();
        let mut calls = std::collections::BTreeSet::new();
        for after in source.split("client").skip(1) {
            let after = after.trim_start();
            let Some(rest) = after.strip_prefix('.') else {
                continue;
            };
            let operation: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if operation.is_empty() || !rest[operation.len()..].starts_with("()") {
                continue;
            }
            if operation == "transact_write_items" {
                for (builder, action) in [
                    ("Put::builder", "PutItem"),
                    ("Update::builder", "UpdateItem"),
                    ("Delete::builder", "DeleteItem"),
                    ("ConditionCheck::builder", "ConditionCheckItem"),
                ] {
                    if source.contains(builder) {
                        calls.insert(format!("dynamodb:{action}"));
                    }
                }
                continue;
            }
            let pascal: String = operation
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars
                        .next()
                        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                        .unwrap_or_default()
                })
                .collect();
            calls.insert(format!("dynamodb:{pascal}"));
        }
        calls
    }

    #[test]
    fn api_calls_list_every_call_the_adapter_makes() {
        let listed: std::collections::BTreeSet<String> =
            API_CALLS.iter().map(|call| call.to_string()).collect();
        assert_eq!(
            calls_in_source(),
            listed,
            "the DynamoDB adapter's calls differ from its API_CALLS"
        );
    }

    #[test]
    fn hashes_inside_key_parts_are_escaped() {
        let resource = ResourceRef::parse("cloudwatch:alarm/a#b").unwrap();
        assert_eq!(
            open_pk(&resource, "sig#x"),
            "OPEN#cloudwatch:alarm/a%23b#sig%23x"
        );
        assert_ne!(
            open_pk(&resource, "x"),
            open_pk(&ResourceRef::parse("cloudwatch:alarm/a").unwrap(), "b#x")
        );
    }
}
