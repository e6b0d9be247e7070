//! One expiry for all of a closed incident's items: items written while it is open carry no
//! TTL, and the write that closes it stamps its expiry on each of them.

use super::*;
use futures_util::{StreamExt, TryStreamExt};

/// How many expiry updates of one incident run at once.
const STAMP_CONCURRENCY: usize = 8;

impl DynamoStore {
    /// Sets the closed incident's expiry on every item of it written before it closed. The
    /// incident document and items written from now on carry it already. An item already
    /// removed is not written back.
    pub(super) async fn stamp_expiry(&self, incident: &Incident) -> Result<(), StoreError> {
        let Some(expires) = self.expiry_of(incident) else {
            return Ok(());
        };
        let expires = expires.timestamp();
        let stale: Vec<Item> = self
            .item_keys_with_expiry(&incident.id)
            .await?
            .into_iter()
            .filter(|item| number_of(item, TTL_ATTRIBUTE) != Some(expires))
            .map(|mut item| {
                item.remove(TTL_ATTRIBUTE);
                item
            })
            .collect();
        futures_util::stream::iter(stale)
            .map(|item_key| async move {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.incidents_table)
                    .set_key(Some(item_key))
                    .update_expression("SET #ttl = :expires")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                    .expression_attribute_names("#pk", PARTITION_KEY)
                    .expression_attribute_values(":expires", n(expires))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(error)
                        if error.as_service_error().is_some_and(|service| {
                            service.is_conditional_check_failed_exception()
                        }) =>
                    {
                        Ok(())
                    }
                    Err(error) => Err(sdk_error(&error)),
                }
            })
            .buffer_unordered(STAMP_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The key and TTL of every item under the incident's partition key.
    async fn item_keys_with_expiry(&self, id: &CorrelationId) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.incidents_table)
            .key_condition_expression("#pk = :pk")
            .projection_expression("#pk, #sk, #ttl")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":pk", s(incident_pk(id)))
            .consistent_read(true);
        collect_pages(query, None).await
    }

    pub(super) async fn read_item_expiries(
        &self,
        id: &CorrelationId,
    ) -> Result<Vec<ItemExpiry>, StoreError> {
        let mut expiries = Vec::new();
        for item in self.item_keys_with_expiry(id).await? {
            let sort_key = item
                .get(SORT_KEY)
                .and_then(|value| value.as_s().ok())
                .map(String::as_str)
                .unwrap_or_default();
            let sequence = |prefix: &str| {
                sort_key
                    .strip_prefix(prefix)
                    .and_then(|seq| seq.parse::<u64>().ok())
            };
            let kind = if sort_key == "META" {
                IncidentItem::Incident
            } else if let Some(seq) = sequence("SIG#") {
                IncidentItem::Signal(seq)
            } else if let Some(seq) = sequence("AUDIT#") {
                IncidentItem::Audit(seq)
            } else if sort_key.starts_with("APPROVAL#") {
                IncidentItem::ApprovalToken
            } else {
                return Err(StoreError::Corrupt(format!(
                    "incident {id} holds an item {sort_key:?} of no known kind"
                )));
            };
            expiries.push(ItemExpiry {
                item: kind,
                expires_at: number_of(&item, TTL_ATTRIBUTE)
                    .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
            });
        }
        if !expiries
            .iter()
            .any(|expiry| expiry.item == IncidentItem::Incident)
        {
            return Ok(Vec::new());
        }
        expiries.sort_by_key(|expiry| expiry.item);
        Ok(expiries)
    }
}
