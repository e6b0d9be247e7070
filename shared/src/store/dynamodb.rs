//! The DynamoDB adapter for the incidents and patterns tables. It is the only code that knows
//! attribute names and key layout; every guard is a conditional write or a transaction.

use crate::analysis::PastIncident;
use crate::backoff::Backoff;
use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::incident::{AuditRecord, Incident, IncidentStatus};
use crate::ports::{
    ActionStats, BudgetKey, BudgetLimits, BudgetOutcome, BudgetUsage, ClaimOutcome, DedupClaim,
    IncidentQuery, IncidentStore, IncidentWrite, NewIncident, OpenOutcome, OutcomeRecord,
    PatternStore, SignalRecord, SignatureHistory, StoreError, WriteOutcome,
};
use crate::resource::ResourceRef;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

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
    /// The JSON document of an incident, signal, audit record or summary.
    pub const DOCUMENT: &str = "doc";
    pub const REVISION: &str = "revision";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const ATTEMPTS: &str = "attempts";
    pub const LAST_ATTEMPT_AT: &str = "last_attempt_at";
    /// A budget item's string set of the incidents granted an attempt.
    pub const CONSUMERS: &str = "consumers";
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
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

pub(super) type Item = HashMap<String, AttributeValue>;

/// How long signals, audit records and closed incidents are kept before TTL removes them.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;
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

fn dedup_pk(source_event_id: &str) -> String {
    format!("DEDUP#{source_event_id}")
}

fn budget_pk(resource: &ResourceRef) -> String {
    format!("BUDGET#{}", part(resource.as_str()))
}

fn budget_window(window_start: DateTime<Utc>) -> String {
    format!("{:020}", window_start.timestamp())
}

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

/// The correlation ids in a budget item's `consumers` set; an id that does not parse is left out.
fn consumers_of(item: &Item) -> Vec<CorrelationId> {
    item.get(CONSUMERS)
        .and_then(|value| value.as_ss().ok())
        .map(|ids| {
            ids.iter()
                .filter_map(|id| CorrelationId::parse(id).ok())
                .collect()
        })
        .unwrap_or_default()
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

    fn meta_item(&self, incident: &Incident) -> Result<Item, StoreError> {
        let mut item = key(incident_pk(&incident.id), "META");
        item.insert(DOCUMENT.to_string(), document(incident)?);
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
        if let Some(closed) = incident.closed_at {
            item.insert(
                TTL_ATTRIBUTE.to_string(),
                n((closed + self.retention).timestamp()),
            );
        }
        Ok(item)
    }

    fn child_item<T: Serialize>(
        &self,
        id: &CorrelationId,
        sort_key: String,
        value: &T,
        at: DateTime<Utc>,
    ) -> Result<Item, StoreError> {
        let mut item = key(incident_pk(id), sort_key);
        item.insert(DOCUMENT.to_string(), document(value)?);
        item.insert(
            TTL_ATTRIBUTE.to_string(),
            n((at + self.retention).timestamp()),
        );
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
                &incident.id,
                format!("SIG#{:010}", incident.signal_count),
                signal,
                signal.received_at,
            )?;
            items.push(self.put(&self.incidents_table, item, None)?);
        }
        for record in audit {
            let item = self.child_item(
                &incident.id,
                format!("AUDIT#{:020}", record.seq),
                record,
                record.at,
            )?;
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
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                request = request.limit(
                    i32::try_from(limit.saturating_sub(items.len()).max(1)).unwrap_or(i32::MAX),
                );
            }
            let output = request.send().await.map_err(|error| sdk_error(&error))?;
            items.extend(output.items.unwrap_or_default());
            if limit.is_some_and(|limit| items.len() >= limit) {
                items.truncate(limit.unwrap_or(usize::MAX));
                return Ok(items);
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    async fn query_index(
        &self,
        index: &str,
        pk_name: &str,
        pk: String,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        while items.len() < limit {
            let output = self
                .client
                .query()
                .table_name(&self.incidents_table)
                .index_name(index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_values(":pk", s(pk.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| sdk_error(&error))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        Ok(items)
    }
}

#[async_trait]
impl IncidentStore for DynamoStore {
    async fn open_incident(&self, new: NewIncident<'_>) -> Result<OpenOutcome, StoreError> {
        let incident = new.incident;
        let mut guard = key(open_pk(&incident.resource, &incident.signature), "-");
        guard.insert(CORRELATION_ID.to_string(), s(incident.id.as_str()));
        let mut items = vec![
            self.dedup_put(new.claim)?,
            self.put(
                &self.incidents_table,
                guard,
                Some((&format!("attribute_not_exists({PARTITION_KEY})"), vec![])),
            )?,
            self.put(
                &self.incidents_table,
                self.meta_item(incident)?,
                Some((&format!("attribute_not_exists({PARTITION_KEY})"), vec![])),
            )?,
        ];
        items.extend(self.record_items(incident, Some(new.signal), new.audit)?);
        match self.transact(items).await? {
            None => Ok(OpenOutcome::Opened),
            Some(Cancelled::Condition { index: 0, item }) => {
                let item = match item {
                    Some(item) => Some(item),
                    None => {
                        self.get(
                            &self.incidents_table,
                            key(dedup_pk(&new.claim.source_event_id), "-"),
                        )
                        .await?
                    }
                };
                Ok(OpenOutcome::Duplicate {
                    correlation_id: correlation_of(item.as_ref()),
                })
            }
            Some(Cancelled::Condition { index: 1, item }) => {
                let item = match item {
                    Some(item) => Some(item),
                    None => {
                        self.get(
                            &self.incidents_table,
                            key(open_pk(&incident.resource, &incident.signature), "-"),
                        )
                        .await?
                    }
                };
                match correlation_of(item.as_ref()) {
                    Some(correlation_id) => Ok(OpenOutcome::AlreadyOpen { correlation_id }),
                    // The guard vanished between the write and the read: let the caller retry.
                    None => Err(StoreError::Unavailable(
                        "the open-incident guard changed during the write".to_string(),
                    )),
                }
            }
            Some(Cancelled::Condition { index: 2, .. }) => Ok(OpenOutcome::Duplicate {
                correlation_id: Some(incident.id.clone()),
            }),
            Some(Cancelled::Condition { index, .. }) => Err(StoreError::Corrupt(format!(
                "audit record {index} of a new incident exists already"
            ))),
            Some(Cancelled::Transient(reason)) => Err(StoreError::Unavailable(reason)),
        }
    }

    async fn write_incident(&self, write: IncidentWrite<'_>) -> Result<WriteOutcome, StoreError> {
        let incident = write.incident;
        let mut items = Vec::new();
        if let Some(claim) = write.claim {
            items.push(self.dedup_put(claim)?);
        }
        items.push(self.put(
            &self.incidents_table,
            self.meta_item(incident)?,
            Some((
                &format!("{REVISION} = :expected"),
                vec![(":expected", n(write.expected_revision))],
            )),
        )?);
        items.extend(self.record_items(incident, write.signal, write.audit)?);
        if !incident.status.is_open() {
            // The guard belongs to the one open incident, which only this write closes; the
            // condition keeps a guard that already points elsewhere (or is gone) untouched.
            let delete = Delete::builder()
                .table_name(&self.incidents_table)
                .set_key(Some(key(
                    open_pk(&incident.resource, &incident.signature),
                    "-",
                )))
                .condition_expression(format!(
                    "attribute_not_exists({PARTITION_KEY}) OR {CORRELATION_ID} = :id"
                ))
                .expression_attribute_values(":id", s(incident.id.as_str()))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await? {
            None => Ok(WriteOutcome::Written),
            Some(Cancelled::Condition { index, item }) if write.claim.is_some() && index == 0 => {
                let item = match item {
                    Some(item) => Some(item),
                    None => match write.claim {
                        Some(claim) => {
                            self.get(
                                &self.incidents_table,
                                key(dedup_pk(&claim.source_event_id), "-"),
                            )
                            .await?
                        }
                        None => None,
                    },
                };
                Ok(WriteOutcome::Duplicate {
                    correlation_id: correlation_of(item.as_ref()),
                })
            }
            // The revision on the incident or an audit record written meanwhile: re-read and re-apply.
            Some(Cancelled::Condition { .. }) => Ok(WriteOutcome::Conflict),
            Some(Cancelled::Transient(reason)) => Err(StoreError::Unavailable(reason)),
        }
    }

    async fn claim_event(&self, claim: &DedupClaim) -> Result<ClaimOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.incidents_table)
            .set_item(Some(self.dedup_item(claim)))
            .condition_expression(format!(
                "attribute_not_exists({PARTITION_KEY}) OR {TTL_ATTRIBUTE} < :now"
            ))
            .expression_attribute_values(":now", n(claim.claimed_at.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(ClaimOutcome::Duplicate {
                        correlation_id: correlation_of(failed.item()),
                    })
                }
                _ => Err(sdk_error(&error)),
            },
        }
    }

    async fn incident(&self, id: &CorrelationId) -> Result<Option<Incident>, StoreError> {
        match self
            .get(&self.incidents_table, key(incident_pk(id), "META"))
            .await?
        {
            Some(item) => from_document(&item, "incident").map(Some),
            None => Ok(None),
        }
    }

    async fn open_incident_for(
        &self,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<Option<CorrelationId>, StoreError> {
        let item = self
            .get(
                &self.incidents_table,
                key(open_pk(resource, signature), "-"),
            )
            .await?;
        Ok(correlation_of(item.as_ref()))
    }

    async fn incidents_on(
        &self,
        resource: &ResourceRef,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let items = self
            .query_index(
                BY_RESOURCE_INDEX,
                BY_RESOURCE_PK,
                format!("RES#{resource}"),
                limit,
            )
            .await?;
        items
            .iter()
            .map(|item| from_document(item, "incident"))
            .collect()
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
        let statuses = query
            .statuses
            .clone()
            .unwrap_or_else(|| IncidentStatus::ALL.to_vec());
        let mut found = Vec::new();
        for status in statuses {
            let items = self
                .query_index(
                    BY_STATUS_INDEX,
                    BY_STATUS_PK,
                    format!("STATUS#{}", status.as_str()),
                    query.limit,
                )
                .await?;
            for item in &items {
                found.push(from_document::<Incident>(item, "incident")?);
            }
        }
        found.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        found.truncate(query.limit);
        Ok(found)
    }

    /// One range query of the status index per status (`gsi2sk` starts with the RFC 3339
    /// `updated_at`, so the key order is the time order), oldest first.
    async fn incidents_updated_before(
        &self,
        statuses: &[IncidentStatus],
        updated_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let before = updated_before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut found = Vec::new();
        for status in statuses {
            let mut start: Option<Item> = None;
            let mut items: Vec<Item> = Vec::new();
            while items.len() < limit {
                let output = self
                    .client
                    .query()
                    .table_name(&self.incidents_table)
                    .index_name(BY_STATUS_INDEX)
                    .key_condition_expression("#pk = :pk AND #sk < :before")
                    .expression_attribute_names("#pk", BY_STATUS_PK)
                    .expression_attribute_names("#sk", BY_STATUS_SK)
                    .expression_attribute_values(":pk", s(format!("STATUS#{}", status.as_str())))
                    .expression_attribute_values(":before", s(before.clone()))
                    .scan_index_forward(true)
                    .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|error| sdk_error(&error))?;
                items.extend(output.items.unwrap_or_default());
                match output.last_evaluated_key {
                    Some(last) if !last.is_empty() => start = Some(last),
                    _ => break,
                }
            }
            for item in &items {
                found.push(from_document::<Incident>(item, "incident")?);
            }
        }
        found.sort_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(found)
    }

    async fn signals(&self, id: &CorrelationId) -> Result<Vec<SignalRecord>, StoreError> {
        let items = self
            .query_prefix(&self.incidents_table, incident_pk(id), "SIG#", false, None)
            .await?;
        items
            .iter()
            .map(|item| from_document(item, "signal"))
            .collect()
    }

    async fn audit_trail(&self, id: &CorrelationId) -> Result<Vec<AuditRecord>, StoreError> {
        let items = self
            .query_prefix(
                &self.incidents_table,
                incident_pk(id),
                "AUDIT#",
                false,
                None,
            )
            .await?;
        items
            .iter()
            .map(|item| from_document(item, "audit record"))
            .collect()
    }

    async fn budget_usage(
        &self,
        resource: &ResourceRef,
        window_start: DateTime<Utc>,
    ) -> Result<Vec<BudgetUsage>, StoreError> {
        let prefix = format!("{}#", budget_window(window_start));
        let items = self
            .query_prefix(
                &self.incidents_table,
                budget_pk(resource),
                &prefix,
                false,
                None,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let action = ActionId::parse(text_of(item, SORT_KEY)?.strip_prefix(&prefix)?)?;
                let used = u32::try_from(number_of(item, ATTEMPTS)?).ok()?;
                let last_attempt_at =
                    DateTime::from_timestamp_millis(number_of(item, LAST_ATTEMPT_AT)?)?;
                Some(BudgetUsage {
                    action,
                    used,
                    last_attempt_at,
                    consumers: consumers_of(item),
                })
            })
            .collect())
    }

    async fn consume_budget(
        &self,
        budget: &BudgetKey,
        limits: &BudgetLimits,
        consumer: &CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<BudgetOutcome, StoreError> {
        if limits.max_attempts == 0 {
            return Ok(BudgetOutcome::Spent { used: 0 });
        }
        let sort_key = format!(
            "{}#{}",
            budget_window(budget.window_start),
            budget.action.as_str()
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.incidents_table)
            .set_key(Some(key(budget_pk(&budget.resource), sort_key)))
            .update_expression(format!("SET {ATTEMPTS} = if_not_exists({ATTEMPTS}, :zero) + :one, {LAST_ATTEMPT_AT} = :now, {TTL_ATTRIBUTE} = :ttl ADD {CONSUMERS} :consumers"))
            // A consumer already in the set fails the condition, and is answered from the item
            // as it stands below: granted again, counted once.
            .condition_expression(format!("(attribute_not_exists({ATTEMPTS}) OR ({ATTEMPTS} < :max AND {LAST_ATTEMPT_AT} <= :cutoff)) AND NOT contains({CONSUMERS}, :consumer)"))
            .expression_attribute_values(":consumers", AttributeValue::Ss(vec![consumer.to_string()]))
            .expression_attribute_values(":consumer", s(consumer.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":ttl", n(limits.expires_at.timestamp()))
            .expression_attribute_values(":max", n(limits.max_attempts))
            .expression_attribute_values(":cutoff", n((now - limits.cooldown).timestamp_millis()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let used = output
                    .attributes
                    .as_ref()
                    .and_then(|item| number_of(item, ATTEMPTS))
                    .unwrap_or(1);
                Ok(BudgetOutcome::Granted {
                    used: u32::try_from(used).unwrap_or(u32::MAX),
                })
            }
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let item = failed.item();
                    let held = item.is_some_and(|item| consumers_of(item).contains(consumer));
                    let used = item
                        .and_then(|item| number_of(item, ATTEMPTS))
                        .map_or(limits.max_attempts, |used| {
                            u32::try_from(used).unwrap_or(u32::MAX)
                        });
                    let last = item
                        .and_then(|item| number_of(item, LAST_ATTEMPT_AT))
                        .and_then(DateTime::from_timestamp_millis);
                    match last {
                        _ if held => Ok(BudgetOutcome::Granted { used }),
                        Some(last_attempt_at) if used < limits.max_attempts => {
                            Ok(BudgetOutcome::CoolingDown {
                                used,
                                last_attempt_at,
                            })
                        }
                        _ => Ok(BudgetOutcome::Spent { used }),
                    }
                }
                _ => Err(sdk_error(&error)),
            },
        }
    }
}

/// Sort-key prefixes of the patterns table's signature partition. They sort
/// `ACTION#` < `INC#` < `SEEN#`, so one range query reads the stats and the summaries.
const ACTION_PREFIX: &str = "ACTION#";
const SUMMARY_PREFIX: &str = "INC#";
/// Sorts after every summary key (`INC#<RFC 3339 time>#<id>`) and before `SEEN#`.
const SUMMARY_RANGE_END: &str = "INC#~";

fn action_stats_of(item: Option<&Item>) -> ActionStats {
    let number = |name| {
        item.and_then(|item| number_of(item, name))
            .map_or(0, |value| u64::try_from(value).unwrap_or(0))
    };
    ActionStats {
        attempts: number("attempts"),
        verified_successes: number("verified_successes"),
        failures: number("failures"),
        total_recovery_seconds: number("total_recovery_seconds"),
        consecutive_verified_successes: number("consecutive_verified_successes"),
        last_failure_at: item
            .and_then(|item| number_of(item, "last_failure_at"))
            .and_then(DateTime::from_timestamp_millis),
    }
}

impl DynamoStore {
    /// Every item of one partition with `from <= sort key <= to`, following pages.
    async fn query_range(
        &self,
        table: &str,
        pk: String,
        from: &str,
        to: &str,
        newest_first: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| sdk_error(&error))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl PatternStore for DynamoStore {
    async fn action_stats(
        &self,
        signature: &str,
        action: ActionId,
    ) -> Result<ActionStats, StoreError> {
        let item = self
            .get(
                &self.patterns_table,
                key(
                    signature_pk(signature),
                    format!("{ACTION_PREFIX}{}", action.as_str()),
                ),
            )
            .await?;
        Ok(action_stats_of(item.as_ref()))
    }

    /// One query: the partition's `ACTION#` and `INC#` items together (summaries are bounded
    /// per signature, so this is one page), newest summaries first.
    async fn signature_history(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<SignatureHistory, StoreError> {
        let items = self
            .query_range(
                &self.patterns_table,
                signature_pk(signature),
                ACTION_PREFIX,
                SUMMARY_RANGE_END,
                true,
            )
            .await?;
        let mut history = SignatureHistory::default();
        for item in &items {
            let sort_key = text_of(item, SORT_KEY).unwrap_or_default();
            if let Some(name) = sort_key.strip_prefix(ACTION_PREFIX) {
                if let Some(action) = ActionId::parse(name) {
                    history.actions.push((action, action_stats_of(Some(item))));
                }
            } else if sort_key.starts_with(SUMMARY_PREFIX) && history.incidents.len() < limit {
                history
                    .incidents
                    .push(from_document(item, "past incident")?);
            }
        }
        Ok(history)
    }

    async fn record_outcome(
        &self,
        outcome: &OutcomeRecord,
        keep_summaries: usize,
    ) -> Result<(), StoreError> {
        let pk = signature_pk(&outcome.signature);
        let id = &outcome.summary.correlation_id;
        let expires = n((outcome.summary.closed_at + self.retention).timestamp());
        let mut seen = key(pk.clone(), format!("SEEN#{id}"));
        seen.insert(TTL_ATTRIBUTE.to_string(), expires.clone());
        let mut summary = key(
            pk.clone(),
            format!(
                "INC#{}#{id}",
                outcome
                    .summary
                    .closed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        );
        summary.insert(DOCUMENT.to_string(), document(&outcome.summary)?);
        summary.insert(TTL_ATTRIBUTE.to_string(), expires);
        let (successes, failures, seconds) = if outcome.verified {
            (1, 0, outcome.time_to_recover_seconds.unwrap_or(0))
        } else {
            (0, 1, 0)
        };
        // The ladder's rung: one more verified success in a row, or back to zero on a failure.
        let ladder = if outcome.verified {
            "consecutive_verified_successes = if_not_exists(consecutive_verified_successes, :zero) + :one"
        } else {
            "consecutive_verified_successes = :zero, last_failure_at = :closed"
        };
        let mut update = Update::builder()
            .table_name(&self.patterns_table)
            .set_key(Some(key(pk.clone(), format!("{ACTION_PREFIX}{}", outcome.action.as_str()))))
            .update_expression(format!("ADD attempts :one, verified_successes :successes, failures :failures, total_recovery_seconds :seconds SET {ladder}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":successes", n(successes))
            .expression_attribute_values(":failures", n(failures))
            .expression_attribute_values(":seconds", n(seconds));
        if !outcome.verified {
            update = update.expression_attribute_values(
                ":closed",
                n(outcome.summary.closed_at.timestamp_millis()),
            );
        }
        let update = update.build().map_err(build_error)?;
        let items = vec![
            self.put(
                &self.patterns_table,
                seen,
                Some((&format!("attribute_not_exists({PARTITION_KEY})"), vec![])),
            )?,
            TransactWriteItem::builder().update(update).build(),
            self.put(&self.patterns_table, summary, None)?,
        ];
        match self.transact(items).await? {
            // Recorded before: counting it again would skew the autonomy ladder.
            None | Some(Cancelled::Condition { index: 0, .. }) => {}
            Some(Cancelled::Condition { .. }) => {
                return Err(StoreError::Corrupt(
                    "unexpected condition failure recording an outcome".to_string(),
                ));
            }
            Some(Cancelled::Transient(reason)) => return Err(StoreError::Unavailable(reason)),
        }
        let summaries = self
            .query_prefix(&self.patterns_table, pk, "INC#", true, None)
            .await?;
        for old in summaries.iter().skip(keep_summaries) {
            let old_key = key(
                text_of(old, PARTITION_KEY).unwrap_or_default().to_string(),
                text_of(old, SORT_KEY).unwrap_or_default(),
            );
            self.client
                .delete_item()
                .table_name(&self.patterns_table)
                .set_key(Some(old_key))
                .send()
                .await
                .map_err(|error| sdk_error(&error))?;
        }
        Ok(())
    }

    async fn recent_incidents(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<Vec<PastIncident>, StoreError> {
        let items = self
            .query_prefix(
                &self.patterns_table,
                signature_pk(signature),
                "INC#",
                true,
                Some(limit),
            )
            .await?;
        items
            .iter()
            .map(|item| from_document(item, "past incident"))
            .collect()
    }
}

/// Creates both tables as Terraform does (keys, GSIs), for local emulators and tests.
pub async fn create_tables(
    client: &Client,
    incidents_table: &str,
    patterns_table: &str,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key_element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let index = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key_element(pk, KeyType::Hash)?)
            .key_schema(key_element(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)
    };
    client
        .create_table()
        .table_name(incidents_table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![
            attribute(PARTITION_KEY)?,
            attribute(SORT_KEY)?,
            attribute(BY_RESOURCE_PK)?,
            attribute(BY_RESOURCE_SK)?,
            attribute(BY_STATUS_PK)?,
            attribute(BY_STATUS_SK)?,
        ]))
        .key_schema(key_element(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key_element(SORT_KEY, KeyType::Range)?)
        .global_secondary_indexes(index(BY_RESOURCE_INDEX, BY_RESOURCE_PK, BY_RESOURCE_SK)?)
        .global_secondary_indexes(index(BY_STATUS_INDEX, BY_STATUS_PK, BY_STATUS_SK)?)
        .send()
        .await
        .map_err(|error| sdk_error(&error))?;
    client
        .create_table()
        .table_name(patterns_table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![attribute(PARTITION_KEY)?, attribute(SORT_KEY)?]))
        .key_schema(key_element(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key_element(SORT_KEY, KeyType::Range)?)
        .send()
        .await
        .map_err(|error| sdk_error(&error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IAM actions the adapter's own source calls, read from the source itself, so a new
    /// call cannot be added without `API_CALLS` (and so the role) following.
    fn calls_in_source() -> std::collections::BTreeSet<String> {
        let source = include_str!("dynamodb.rs");
        let source = source
            .split("pub async fn create_tables")
            .next()
            .unwrap_or_default();
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
            "store/dynamodb.rs calls differ from its API_CALLS"
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
