//! The log analyzer's `BaselineStore` on the DynamoDB patterns table. Part of the DynamoDB
//! adapter (it shares its key helpers and schema); kept in its own file for readability.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `LOG#<log group>` | `TPL#<template id>` | the template record as JSON in `doc`, its `revision`; tombstones also `expires_at` |
//! | `LOG#<log group>` | `CHECKPOINT` | the checkpoint as JSON in `doc`, its `revision` |
//!
//! A save writes the records in transactions of at most 100 items, a renamed template's
//! tombstone in the same transaction as its successor, and the checkpoint in the last one, so an
//! interruption can leave the checkpoint behind the records but never ahead of them. Every item
//! is conditional on the revision read; a failed condition means another run wrote the group.

use super::dynamodb::schema::{DOCUMENT, PARTITION_KEY, REVISION, TTL_ATTRIBUTE};
use super::dynamodb::{Cancelled, DynamoStore, Item, document, from_document, key, n, part};
use crate::loganalysis::ports::{
    BaselineStore, Checkpoint, LogGroupState, LogGroupWrite, SaveOutcome, TemplateRecord,
};
use crate::logmine::TemplateId;
use crate::ports::StoreError;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use std::collections::BTreeMap;

/// The IAM actions the baseline store's calls need: reads, and puts (alone or as the items of
/// TransactWriteItems, which IAM authorises per item action). Checked by tests/tests/wiring.rs.
pub const API_CALLS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"];

const LOG_PREFIX: &str = "LOG#";
const TEMPLATE_PREFIX: &str = "TPL#";
const CHECKPOINT_SORT_KEY: &str = "CHECKPOINT";
/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

fn log_pk(log_group: &str) -> String {
    format!("{LOG_PREFIX}{}", part(log_group))
}

fn template_sk(id: TemplateId) -> String {
    format!("{TEMPLATE_PREFIX}{id}")
}

impl DynamoStore {
    fn revisioned_put(
        &self,
        mut item: Item,
        revision: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        item.insert(REVISION.to_string(), n(revision));
        let condition = if revision <= 1 {
            (format!("attribute_not_exists({PARTITION_KEY})"), vec![])
        } else {
            (
                format!("{REVISION} = :expected"),
                vec![(":expected", n(revision - 1))],
            )
        };
        self.put(
            &self.patterns_table,
            item,
            Some((condition.0.as_str(), condition.1)),
        )
    }

    fn template_item(
        &self,
        log_group: &str,
        record: &TemplateRecord,
        tombstone_expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(log_pk(log_group), template_sk(record.template_id));
        item.insert(DOCUMENT.to_string(), document(record)?);
        if record.is_tombstone() {
            item.insert(
                TTL_ATTRIBUTE.to_string(),
                n(tombstone_expires_at.timestamp()),
            );
        }
        self.revisioned_put(item, record.revision)
    }
}

/// The records in transaction-sized batches, each tombstone with its successor.
fn batches(records: &[TemplateRecord]) -> Vec<Vec<&TemplateRecord>> {
    let mut groups: BTreeMap<TemplateId, Vec<&TemplateRecord>> = BTreeMap::new();
    for record in records {
        let anchor = record.renamed_to.unwrap_or(record.template_id);
        groups.entry(anchor).or_default().push(record);
    }
    let mut batches: Vec<Vec<&TemplateRecord>> = Vec::new();
    for group in groups.into_values() {
        for chunk in group.chunks(MAX_TRANSACTION_ITEMS - 1) {
            match batches.last_mut() {
                Some(last) if last.len() + chunk.len() < MAX_TRANSACTION_ITEMS => {
                    last.extend_from_slice(chunk);
                }
                _ => batches.push(chunk.to_vec()),
            }
        }
    }
    batches
}

#[async_trait]
impl BaselineStore for DynamoStore {
    async fn load_log_group(&self, log_group: &str) -> Result<LogGroupState, StoreError> {
        let checkpoint = self
            .get(
                &self.patterns_table,
                key(log_pk(log_group), CHECKPOINT_SORT_KEY),
            )
            .await?
            .map(|item| from_document::<Checkpoint>(&item, "log checkpoint"))
            .transpose()?;
        let items = self
            .query_prefix(
                &self.patterns_table,
                log_pk(log_group),
                TEMPLATE_PREFIX,
                false,
                None,
            )
            .await?;
        let templates = items
            .iter()
            .map(|item| from_document(item, "log template record"))
            .collect::<Result<Vec<TemplateRecord>, _>>()?;
        Ok(LogGroupState {
            checkpoint,
            templates,
        })
    }

    async fn save_log_group(&self, write: LogGroupWrite<'_>) -> Result<SaveOutcome, StoreError> {
        let mut transactions: Vec<Vec<TransactWriteItem>> = Vec::new();
        for batch in batches(write.templates) {
            transactions.push(
                batch
                    .into_iter()
                    .map(|record| {
                        self.template_item(write.log_group, record, write.tombstone_expires_at)
                    })
                    .collect::<Result<_, _>>()?,
            );
        }
        if let Some(checkpoint) = write.checkpoint {
            let mut item = key(log_pk(write.log_group), CHECKPOINT_SORT_KEY);
            item.insert(DOCUMENT.to_string(), document(checkpoint)?);
            let put = self.revisioned_put(item, checkpoint.revision)?;
            match transactions.last_mut() {
                Some(last) if last.len() < MAX_TRANSACTION_ITEMS => last.push(put),
                _ => transactions.push(vec![put]),
            }
        }
        for items in transactions {
            match self.transact(items).await? {
                None => {}
                Some(Cancelled::Condition { .. }) => return Ok(SaveOutcome::Conflict),
                Some(Cancelled::Transient(reason)) => {
                    return Err(StoreError::Unavailable(reason));
                }
            }
        }
        Ok(SaveOutcome::Saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loganalysis::BaselineStats;
    use chrono::Utc;

    fn record(id: u64, renamed_to: Option<u64>) -> TemplateRecord {
        TemplateRecord {
            template_id: TemplateId(id),
            revision: 1,
            text: String::new(),
            tokens: Vec::new(),
            level: None,
            sample: String::new(),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            stats: BaselineStats::new(60),
            prior: None,
            renamed_to: renamed_to.map(TemplateId),
            evicted_at: None,
        }
    }

    #[test]
    fn batches_fit_a_transaction_and_keep_tombstones_with_their_successor() {
        let mut records: Vec<TemplateRecord> = (0..250).map(|id| record(id, None)).collect();
        records.push(record(1000, Some(7)));
        records.push(record(1001, Some(7)));
        let batches = batches(&records);
        assert!(
            batches
                .iter()
                .all(|batch| batch.len() < MAX_TRANSACTION_ITEMS)
        );
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 252);
        let with_seven = batches
            .iter()
            .find(|batch| batch.iter().any(|r| r.template_id == TemplateId(7)))
            .unwrap();
        assert_eq!(
            with_seven
                .iter()
                .filter(|r| r.renamed_to == Some(TemplateId(7)))
                .count(),
            2
        );
    }

    #[test]
    fn log_group_names_with_hashes_stay_unambiguous() {
        assert_eq!(log_pk("/a#b"), "LOG#/a%23b");
    }
}
