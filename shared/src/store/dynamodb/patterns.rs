//! The patterns table: per-signature action stats and summaries of resolved incidents.

use super::*;

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
        let query = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .scan_index_forward(!newest_first)
            .consistent_read(true);
        collect_pages(query, None).await
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
