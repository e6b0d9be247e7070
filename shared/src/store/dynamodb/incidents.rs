//! The incidents table: incidents, their signals and audit trails, and the guard items
//! (dedup claims, open guards, budgets).

use super::*;

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
            // A late problem signal of an origin that has cleared since does not open; an
            // expired clear (TTL deletes lazily) counts as absent.
            self.condition_check(
                key(origin_pk(&new.signal.signal.origin_key()), "-"),
                &format!("attribute_not_exists({PARTITION_KEY}) OR {CLEARED_AT} < :observed OR {TTL_ATTRIBUTE} < :now"),
                vec![
                    (":observed", n(new.signal.signal.observed_at.timestamp_millis())),
                    (":now", n(new.claim.claimed_at.timestamp())),
                ],
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
            Some(Cancelled::Condition { index: 3, item }) => {
                let cleared_at = item
                    .as_ref()
                    .and_then(|item| number_of(item, CLEARED_AT))
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(new.signal.signal.observed_at);
                Ok(OpenOutcome::Stale { cleared_at })
            }
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
        items.extend(self.approval_token_put(incident)?);
        items.extend(self.record_items(incident, write.signal, write.audit)?);
        if let Some(clear) = write.origin_clear {
            // Unconditional: while the incident is open its writes are the origin's only
            // writers, and they apply its signals in the source's order.
            items.push(self.put(&self.incidents_table, self.origin_clear_item(clear), None)?);
        }
        let release_at = items.len();
        if write.closes {
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
        let outcome = match self.transact(items.clone()).await? {
            // A guard that names another incident is that incident's to release: the close is
            // written without touching it, as the embedded store does.
            Some(Cancelled::Condition { index, .. }) if write.closes && index == release_at => {
                tracing::warn!(correlation_id = %incident.id, "the open guard names another incident; closing without releasing it");
                items.truncate(release_at);
                self.transact(items).await?
            }
            outcome => outcome,
        };
        match outcome {
            None => {
                if write.closes {
                    // The close is committed whatever happens here: an item the stamp misses
                    // keeps no expiry, so it outlives the incident rather than cutting its chain.
                    if let Err(error) = self.stamp_expiry(incident).await {
                        tracing::warn!(correlation_id = %incident.id, error = %error, "could not set the closed incident's expiry on all its items");
                    }
                }
                Ok(WriteOutcome::Written)
            }
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

    async fn record_clear(
        &self,
        claim: &DedupClaim,
        clear: &OriginClear,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<ClearOutcome, StoreError> {
        let guard = key(open_pk(resource, signature), "-");
        let mut items = vec![
            self.dedup_put(claim)?,
            self.condition_check(
                guard.clone(),
                &format!("attribute_not_exists({PARTITION_KEY})"),
                vec![],
            )?,
        ];
        items.push(self.put(
            &self.incidents_table,
            self.origin_clear_item(clear),
            Some((
                &format!("attribute_not_exists({PARTITION_KEY}) OR {CLEARED_AT} < :cleared OR {TTL_ATTRIBUTE} < :now"),
                vec![
                    (":cleared", n(clear.cleared_at.timestamp_millis())),
                    (":now", n(claim.claimed_at.timestamp())),
                ],
            )),
        )?);
        let mut outcome = self.transact(items.clone()).await?;
        if let Some(Cancelled::Condition { index: 2, .. }) = outcome {
            // A newer clear of the origin is remembered already: it stands, the event is claimed.
            items.truncate(2);
            outcome = self.transact(items).await?;
        }
        match outcome {
            None => Ok(ClearOutcome::Recorded),
            Some(Cancelled::Condition { index: 0, item }) => {
                let item = match item {
                    Some(item) => Some(item),
                    None => {
                        self.get(
                            &self.incidents_table,
                            key(dedup_pk(&claim.source_event_id), "-"),
                        )
                        .await?
                    }
                };
                Ok(ClearOutcome::Duplicate {
                    correlation_id: correlation_of(item.as_ref()),
                })
            }
            Some(Cancelled::Condition { index: 1, item }) => {
                let item = match item {
                    Some(item) => Some(item),
                    None => self.get(&self.incidents_table, guard).await?,
                };
                match correlation_of(item.as_ref()) {
                    Some(correlation_id) => Ok(ClearOutcome::IncidentOpen { correlation_id }),
                    None => Err(StoreError::Unavailable(
                        "the open-incident guard changed during the write".to_string(),
                    )),
                }
            }
            Some(Cancelled::Condition { index, .. }) => Err(StoreError::Corrupt(format!(
                "unexpected condition failure {index} recording a clear"
            ))),
            Some(Cancelled::Transient(reason)) => Err(StoreError::Unavailable(reason)),
        }
    }

    async fn approval_token(
        &self,
        id: &CorrelationId,
        approval_id: &str,
    ) -> Result<Option<crate::incident::TaskToken>, StoreError> {
        self.read_approval_token(id, approval_id).await
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

    /// One range query of the sparse due index: only open incidents carry its key, sorted by
    /// their RFC 3339 due time, so the key order is the time order.
    async fn incidents_due(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        // `~` sorts after every correlation id character, so every key due at `due_by` is in.
        let bound = format!("{}#~", due_key_time(due_by));
        let mut pages = self
            .client
            .query()
            .table_name(&self.incidents_table)
            .index_name(BY_DUE_INDEX)
            .key_condition_expression("#pk = :pk AND #sk <= :bound")
            .expression_attribute_names("#pk", BY_DUE_PK)
            .expression_attribute_names("#sk", BY_DUE_SK)
            .expression_attribute_values(":pk", s(DUE_PARTITION))
            .expression_attribute_values(":bound", s(bound))
            .scan_index_forward(true)
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while found.len() < limit {
            let Some(item) = pages.next().await else {
                break;
            };
            let item = item.map_err(|error| sdk_error(&error))?;
            let incident: Incident = from_document(&item, "incident")?;
            // The index is eventually consistent: an incident closed a moment ago may linger.
            if incident.status.is_open() {
                found.push(incident);
            }
        }
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

    async fn origin_cleared_at(
        &self,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(item) = self
            .get(&self.incidents_table, key(origin_pk(origin), "-"))
            .await?
        else {
            return Ok(None);
        };
        // TTL deletes lazily: an expired clear still in the table counts as absent.
        if number_of(&item, TTL_ATTRIBUTE).is_some_and(|expires| expires < now.timestamp()) {
            return Ok(None);
        }
        number_of(&item, CLEARED_AT)
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("the clear of {origin} has no time")))
    }

    async fn item_expiries(&self, id: &CorrelationId) -> Result<Vec<ItemExpiry>, StoreError> {
        self.read_item_expiries(id).await
    }

    async fn budget_usage(
        &self,
        resource: &ResourceRef,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Vec<BudgetUsage>, StoreError> {
        let items = self
            .query_prefix(
                &self.incidents_table,
                budget_pk(resource),
                BUDGET_ACTION_PREFIX,
                false,
                None,
            )
            .await?;
        let mut usage = Vec::new();
        for item in &items {
            let Some(action) = text_of(item, SORT_KEY)
                .and_then(|sort_key| sort_key.strip_prefix(BUDGET_ACTION_PREFIX))
                .and_then(ActionId::parse)
            else {
                continue;
            };
            let ledger: BudgetLedger = from_document(item, "budget")?;
            usage.extend(ledger.usage(action, now, window));
        }
        Ok(usage)
    }

    /// Judge with the shared ledger logic and write back conditionally on the revision judged.
    /// The first try assumes no ledger (the common case, a quiet resource: one PutItem); a
    /// failed condition returns the item as it is, which the next try judges.
    async fn consume_budget(
        &self,
        budget: &BudgetKey,
        limits: &BudgetLimits,
        consumer: &CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<BudgetOutcome, StoreError> {
        let item_key = key(
            budget_pk(&budget.resource),
            format!("{BUDGET_ACTION_PREFIX}{}", budget.action.as_str()),
        );
        let mut current: Option<Item> = None;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let revision = current
                .as_ref()
                .and_then(|item| number_of(item, REVISION))
                .unwrap_or(0);
            let mut ledger: BudgetLedger = match &current {
                Some(item) => from_document(item, "budget")?,
                None => BudgetLedger::default(),
            };
            let before = ledger.clone();
            let outcome = ledger.consume(limits, consumer, now);
            // Unchanged: granted again to its holder, or refused; with no ledger read, only a
            // zero budget refuses, and that needs no ledger.
            if ledger == before {
                return Ok(outcome);
            }
            let mut item = item_key.clone();
            item.insert(DOCUMENT.to_string(), document(&ledger)?);
            item.insert(REVISION.to_string(), n(revision + 1));
            if let Some(expires) = ledger.expires_at(limits) {
                item.insert(TTL_ATTRIBUTE.to_string(), n(expires.timestamp()));
            }
            let mut put = self
                .client
                .put_item()
                .table_name(&self.incidents_table)
                .set_item(Some(item))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            put = if current.is_some() {
                put.condition_expression(format!("{REVISION} = :revision"))
                    .expression_attribute_values(":revision", n(revision))
            } else {
                put.condition_expression(format!("attribute_not_exists({PARTITION_KEY})"))
            };
            match put.send().await {
                Ok(_) => return Ok(outcome),
                Err(error) => match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                        current = match failed.item() {
                            Some(item) => Some(item.clone()),
                            None => self.get(&self.incidents_table, item_key.clone()).await?,
                        };
                        // A first miss only means a ledger exists; later ones are races.
                        if attempt > 1 {
                            tokio::time::sleep(self.transaction_backoff.wait(attempt)).await;
                        }
                    }
                    _ => return Err(sdk_error(&error)),
                },
            }
        }
        Err(StoreError::Unavailable(
            "the budget kept changing under concurrent decisions".to_string(),
        ))
    }
}
