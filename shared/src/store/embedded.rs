//! The embedded store: incidents, guards, patterns and local workflow executions in one redb
//! file (or in memory), with the same conditional semantics as the DynamoDB adapter.

use crate::analysis::PastIncident;
use crate::budget::BudgetLedger;
use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::incident::{AuditRecord, Incident};
use crate::ports::{
    ActionStats, BudgetKey, BudgetLimits, BudgetOutcome, BudgetUsage, ClaimOutcome, ClearOutcome,
    DEFAULT_RETENTION_DAYS, DedupClaim, IncidentItem, IncidentQuery, IncidentStore, IncidentWrite,
    ItemExpiry, NewIncident, OpenOutcome, OriginClear, OutcomeRecord, PatternStore, SignalRecord,
    SignatureHistory, StoreError, Workflow, WorkflowError, WorkflowStart, WriteOutcome,
};
use crate::resource::ResourceRef;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;
const INCIDENTS: Table = TableDefinition::new("incidents");
const OPEN_GUARDS: Table = TableDefinition::new("open_guards");
const DEDUP: Table = TableDefinition::new("dedup");
const SIGNALS: Table = TableDefinition::new("signals");
const AUDIT: Table = TableDefinition::new("audit");
const BUDGET: Table = TableDefinition::new("budget_ledgers");
const EXECUTIONS: Table = TableDefinition::new("executions");
const PATTERN_STATS: Table = TableDefinition::new("pattern_stats");
const PATTERN_INCIDENTS: Table = TableDefinition::new("pattern_incidents");
const PATTERN_SEEN: Table = TableDefinition::new("pattern_seen");
const ORIGIN_CLEARS: Table = TableDefinition::new("origin_clears");
/// Approval task tokens, by incident and approval id, apart from the incidents' documents.
const APPROVAL_TOKENS: Table = TableDefinition::new("approval_tokens");
const ALL_TABLES: [Table; 12] = [
    INCIDENTS,
    OPEN_GUARDS,
    DEDUP,
    SIGNALS,
    AUDIT,
    BUDGET,
    EXECUTIONS,
    PATTERN_STATS,
    PATTERN_INCIDENTS,
    PATTERN_SEEN,
    ORIGIN_CLEARS,
    APPROVAL_TOKENS,
];

/// Separates key parts; it cannot occur in resources (no control characters) or ids.
const SEP: char = '\u{1f}';
/// The character after `SEP`, so `prefix SEP .. prefix END` spans every key under a prefix.
const END: char = '\u{20}';

#[derive(Clone)]
pub struct EmbeddedStore {
    pub(super) db: Arc<Database>,
    /// How long a closed incident's items are kept; reported, as DynamoDB's TTL would act on it.
    retention: chrono::Duration,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

pub(super) fn store_error(error: impl Into<redb::Error>) -> StoreError {
    let error: redb::Error = error.into();
    match error {
        redb::Error::DatabaseAlreadyOpen => StoreError::Unavailable(
            "the store file is open in another argus process; wait for it to finish".to_string(),
        ),
        other => StoreError::Unavailable(other.to_string()),
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

pub(super) fn key(parts: &[&str]) -> String {
    parts.join(&SEP.to_string())
}

pub(super) fn prefix_range(prefix: &str) -> (String, String) {
    (format!("{prefix}{SEP}"), format!("{prefix}{END}"))
}

#[derive(Serialize, Deserialize)]
struct ExecutionItem {
    execution_id: String,
    input: Value,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file, creating its folder.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let db = Database::create(path).map_err(store_error)?;
        Self::initialise(db)
    }

    /// A store that lives in memory only, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(store_error)?;
        Self::initialise(db)
    }

    fn initialise(db: Database) -> Result<Self, StoreError> {
        let txn = db.begin_write().map_err(store_error)?;
        for table in ALL_TABLES {
            txn.open_table(table).map_err(store_error)?;
        }
        txn.commit().map_err(store_error)?;
        Ok(Self {
            db: Arc::new(db),
            retention: chrono::Duration::days(DEFAULT_RETENTION_DAYS),
        })
    }

    /// Keeps a closed incident's items for `retention` after it closed.
    pub fn with_retention(mut self, retention: chrono::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// A workflow port that records executions in this store, as `argus replay` runs them.
    pub fn local_workflow(&self) -> LocalWorkflow {
        LocalWorkflow {
            db: Arc::clone(&self.db),
            region: "local".to_string(),
        }
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        read(&txn)
    }

    /// Runs `write` in one write transaction; it commits only when `write` says so, which is
    /// what makes every guard below all-or-nothing.
    fn write<T>(
        &self,
        write: impl FnOnce(&redb::WriteTransaction) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write().map_err(store_error)?;
        let (result, commit) = write(&txn)?;
        if commit {
            txn.commit().map_err(store_error)?;
        } else {
            txn.abort().map_err(store_error)?;
        }
        Ok(result)
    }
}

fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(store_error)? {
        Some(guard) => decode(guard.value(), what).map(Some),
        None => Ok(None),
    }
}

fn scan<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let (start, end) = prefix_range(prefix);
    let mut found = Vec::new();
    for entry in table
        .range(start.as_str()..end.as_str())
        .map_err(store_error)?
    {
        let (_, value) = entry.map_err(store_error)?;
        found.push(decode(value.value(), what)?);
    }
    Ok(found)
}

/// The sequence numbers under `prefix` (the last key part of each key).
fn sequence_numbers(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
) -> Result<Vec<u64>, StoreError> {
    let (start, end) = prefix_range(prefix);
    let mut found = Vec::new();
    for entry in table
        .range(start.as_str()..end.as_str())
        .map_err(store_error)?
    {
        let (entry_key, _) = entry.map_err(store_error)?;
        let seq = entry_key.value().rsplit(SEP).next().unwrap_or_default();
        found.push(seq.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "key {:?} has no sequence number",
                entry_key.value()
            ))
        })?);
    }
    Ok(found)
}

fn all<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    for entry in table.iter().map_err(store_error)? {
        let (_, value) = entry.map_err(store_error)?;
        found.push(decode(value.value(), what)?);
    }
    Ok(found)
}

fn guard_key(resource: &ResourceRef, signature: &str) -> String {
    key(&[resource.as_str(), signature])
}

/// A live (unexpired) claim for this event, if any.
fn existing_claim(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    claim: &DedupClaim,
    now: DateTime<Utc>,
) -> Result<Option<DedupClaim>, StoreError> {
    let found: Option<DedupClaim> = get(table, &claim.source_event_id, "dedup claim")?;
    Ok(found.filter(|existing| unexpired(existing.expires_at, now)))
}

/// DynamoDB's reading of a TTL in a condition (`expires_at < :now` is expired), in the same
/// whole seconds, so both stores forget an item at the same instant.
fn unexpired(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at.timestamp() >= now.timestamp()
}

/// The origin's remembered clear at `now`, if it has not expired.
fn origin_clear(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<Option<OriginClear>, StoreError> {
    let found: Option<OriginClear> = get(table, origin, "origin clear")?;
    Ok(found.filter(|clear| unexpired(clear.expires_at, now)))
}

fn put_origin_clear(txn: &redb::WriteTransaction, clear: &OriginClear) -> Result<(), StoreError> {
    let mut table = txn.open_table(ORIGIN_CLEARS).map_err(store_error)?;
    table
        .insert(clear.origin.as_str(), encode(clear)?.as_slice())
        .map_err(store_error)?;
    Ok(())
}

fn open_guard(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    guard: &str,
) -> Result<Option<CorrelationId>, StoreError> {
    let Some(held) = table.get(guard).map_err(store_error)? else {
        return Ok(None);
    };
    let id = std::str::from_utf8(held.value())
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    CorrelationId::parse(id)
        .map(Some)
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn put_records(
    txn: &redb::WriteTransaction,
    incident: &Incident,
    signal: Option<&SignalRecord>,
    audit: &[AuditRecord],
) -> Result<(), StoreError> {
    let id = incident.id.as_str();
    let (document, token) = crate::store::approval_token::withhold(incident);
    let mut incidents = txn.open_table(INCIDENTS).map_err(store_error)?;
    incidents
        .insert(id, encode(&document)?.as_slice())
        .map_err(store_error)?;
    if let Some((approval_id, token)) = token {
        let mut tokens = txn.open_table(APPROVAL_TOKENS).map_err(store_error)?;
        tokens
            .insert(key(&[id, &approval_id]).as_str(), token.expose().as_bytes())
            .map_err(store_error)?;
    }
    if let Some(signal) = signal {
        let mut signals = txn.open_table(SIGNALS).map_err(store_error)?;
        let seq = format!("{:010}", incident.signal_count);
        signals
            .insert(key(&[id, &seq]).as_str(), encode(signal)?.as_slice())
            .map_err(store_error)?;
    }
    let mut trail = txn.open_table(AUDIT).map_err(store_error)?;
    for record in audit {
        let seq = format!("{:020}", record.seq);
        let record_key = key(&[id, &seq]);
        if trail
            .get(record_key.as_str())
            .map_err(store_error)?
            .is_some()
        {
            return Err(StoreError::Corrupt(format!(
                "audit record {} of {id} exists already",
                record.seq
            )));
        }
        trail
            .insert(record_key.as_str(), encode(record)?.as_slice())
            .map_err(store_error)?;
    }
    Ok(())
}

#[async_trait]
impl IncidentStore for EmbeddedStore {
    async fn open_incident(&self, new: NewIncident<'_>) -> Result<OpenOutcome, StoreError> {
        let now = new.claim.claimed_at;
        self.write(|txn| {
            let mut dedup = txn.open_table(DEDUP).map_err(store_error)?;
            if let Some(existing) = existing_claim(&dedup, new.claim, now)? {
                return Ok((
                    OpenOutcome::Duplicate {
                        correlation_id: existing.correlation_id,
                    },
                    false,
                ));
            }
            let mut guards = txn.open_table(OPEN_GUARDS).map_err(store_error)?;
            let guard = guard_key(&new.incident.resource, &new.incident.signature);
            if let Some(correlation_id) = open_guard(&guards, &guard)? {
                return Ok((OpenOutcome::AlreadyOpen { correlation_id }, false));
            }
            let opening = &new.signal.signal;
            let clears = txn.open_table(ORIGIN_CLEARS).map_err(store_error)?;
            if let Some(clear) = origin_clear(&clears, &opening.origin_key(), now)?
                && clear.cleared_at >= opening.observed_at
            {
                return Ok((
                    OpenOutcome::Stale {
                        cleared_at: clear.cleared_at,
                    },
                    false,
                ));
            }
            drop(clears);
            {
                let incidents = txn.open_table(INCIDENTS).map_err(store_error)?;
                if incidents
                    .get(new.incident.id.as_str())
                    .map_err(store_error)?
                    .is_some()
                {
                    // The same id means the same first event, which the claim above would have caught
                    // unless it expired; the incident exists, so this delivery is a duplicate.
                    return Ok((
                        OpenOutcome::Duplicate {
                            correlation_id: Some(new.incident.id.clone()),
                        },
                        false,
                    ));
                }
            }
            dedup
                .insert(
                    new.claim.source_event_id.as_str(),
                    encode(new.claim)?.as_slice(),
                )
                .map_err(store_error)?;
            guards
                .insert(guard.as_str(), new.incident.id.as_str().as_bytes())
                .map_err(store_error)?;
            drop((dedup, guards));
            put_records(txn, new.incident, Some(new.signal), new.audit)?;
            Ok((OpenOutcome::Opened, true))
        })
    }

    async fn write_incident(&self, write: IncidentWrite<'_>) -> Result<WriteOutcome, StoreError> {
        self.write(|txn| {
            if let Some(claim) = write.claim {
                let dedup = txn.open_table(DEDUP).map_err(store_error)?;
                if let Some(existing) = existing_claim(&dedup, claim, claim.claimed_at)? {
                    return Ok((
                        WriteOutcome::Duplicate {
                            correlation_id: existing.correlation_id,
                        },
                        false,
                    ));
                }
            }
            {
                let incidents = txn.open_table(INCIDENTS).map_err(store_error)?;
                let current: Option<Incident> =
                    get(&incidents, write.incident.id.as_str(), "incident")?;
                if current.map(|incident| incident.revision) != Some(write.expected_revision) {
                    return Ok((WriteOutcome::Conflict, false));
                }
            }
            if let Some(claim) = write.claim {
                let mut dedup = txn.open_table(DEDUP).map_err(store_error)?;
                dedup
                    .insert(claim.source_event_id.as_str(), encode(claim)?.as_slice())
                    .map_err(store_error)?;
            }
            if write.closes {
                let mut guards = txn.open_table(OPEN_GUARDS).map_err(store_error)?;
                let guard = guard_key(&write.incident.resource, &write.incident.signature);
                let held_by_this = guards
                    .get(guard.as_str())
                    .map_err(store_error)?
                    .is_some_and(|held| held.value() == write.incident.id.as_str().as_bytes());
                if held_by_this {
                    guards.remove(guard.as_str()).map_err(store_error)?;
                }
            }
            if let Some(clear) = write.origin_clear {
                put_origin_clear(txn, clear)?;
            }
            put_records(txn, write.incident, write.signal, write.audit)?;
            Ok((WriteOutcome::Written, true))
        })
    }

    async fn claim_event(&self, claim: &DedupClaim) -> Result<ClaimOutcome, StoreError> {
        self.write(|txn| {
            let mut dedup = txn.open_table(DEDUP).map_err(store_error)?;
            if let Some(existing) = existing_claim(&dedup, claim, claim.claimed_at)? {
                return Ok((
                    ClaimOutcome::Duplicate {
                        correlation_id: existing.correlation_id,
                    },
                    false,
                ));
            }
            dedup
                .insert(claim.source_event_id.as_str(), encode(claim)?.as_slice())
                .map_err(store_error)?;
            Ok((ClaimOutcome::Claimed, true))
        })
    }

    async fn record_clear(
        &self,
        claim: &DedupClaim,
        clear: &OriginClear,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<ClearOutcome, StoreError> {
        self.write(|txn| {
            let mut dedup = txn.open_table(DEDUP).map_err(store_error)?;
            if let Some(existing) = existing_claim(&dedup, claim, claim.claimed_at)? {
                return Ok((
                    ClearOutcome::Duplicate {
                        correlation_id: existing.correlation_id,
                    },
                    false,
                ));
            }
            let guards = txn.open_table(OPEN_GUARDS).map_err(store_error)?;
            if let Some(correlation_id) = open_guard(&guards, &guard_key(resource, signature))? {
                return Ok((ClearOutcome::IncidentOpen { correlation_id }, false));
            }
            dedup
                .insert(claim.source_event_id.as_str(), encode(claim)?.as_slice())
                .map_err(store_error)?;
            let newer_known = {
                let clears = txn.open_table(ORIGIN_CLEARS).map_err(store_error)?;
                origin_clear(&clears, &clear.origin, claim.claimed_at)?
                    .is_some_and(|known| known.cleared_at >= clear.cleared_at)
            };
            drop((dedup, guards));
            if !newer_known {
                put_origin_clear(txn, clear)?;
            }
            Ok((ClearOutcome::Recorded, true))
        })
    }

    async fn approval_token(
        &self,
        id: &CorrelationId,
        approval_id: &str,
    ) -> Result<Option<crate::incident::TaskToken>, StoreError> {
        self.read(|txn| {
            let tokens = txn.open_table(APPROVAL_TOKENS).map_err(store_error)?;
            let found = tokens
                .get(key(&[id.as_str(), approval_id]).as_str())
                .map_err(store_error)?;
            found
                .map(|value| {
                    String::from_utf8(value.value().to_vec())
                        .map(crate::incident::TaskToken::new)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))
                })
                .transpose()
        })
    }

    async fn incident(&self, id: &CorrelationId) -> Result<Option<Incident>, StoreError> {
        self.read(|txn| {
            get(
                &txn.open_table(INCIDENTS).map_err(store_error)?,
                id.as_str(),
                "incident",
            )
        })
    }

    async fn open_incident_for(
        &self,
        resource: &ResourceRef,
        signature: &str,
    ) -> Result<Option<CorrelationId>, StoreError> {
        self.read(|txn| {
            open_guard(
                &txn.open_table(OPEN_GUARDS).map_err(store_error)?,
                &guard_key(resource, signature),
            )
        })
    }

    async fn incidents_on(
        &self,
        resource: &ResourceRef,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let mut found: Vec<Incident> =
            self.read(|txn| all(&txn.open_table(INCIDENTS).map_err(store_error)?, "incident"))?;
        found.retain(|incident| &incident.resource == resource);
        found.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then_with(|| b.id.cmp(&a.id)));
        found.truncate(limit);
        Ok(found)
    }

    async fn incidents_due(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let incidents: Vec<Incident> =
            self.read(|txn| all(&txn.open_table(INCIDENTS).map_err(store_error)?, "incident"))?;
        let mut due: Vec<(DateTime<Utc>, Incident)> = incidents
            .into_iter()
            .filter_map(|incident| Some((incident.next_check_at()?, incident)))
            .filter(|(at, _)| *at <= due_by)
            .collect();
        due.sort_by(|(a, first), (b, second)| a.cmp(b).then_with(|| first.id.cmp(&second.id)));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, incident)| incident)
            .collect())
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
        let mut found: Vec<Incident> =
            self.read(|txn| all(&txn.open_table(INCIDENTS).map_err(store_error)?, "incident"))?;
        if let Some(statuses) = &query.statuses {
            found.retain(|incident| statuses.contains(&incident.status));
        }
        found.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        found.truncate(query.limit);
        Ok(found)
    }

    async fn signals(&self, id: &CorrelationId) -> Result<Vec<SignalRecord>, StoreError> {
        self.read(|txn| {
            scan(
                &txn.open_table(SIGNALS).map_err(store_error)?,
                id.as_str(),
                "signal",
            )
        })
    }

    async fn audit_trail(&self, id: &CorrelationId) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(|txn| {
            scan(
                &txn.open_table(AUDIT).map_err(store_error)?,
                id.as_str(),
                "audit record",
            )
        })
    }

    async fn origin_cleared_at(
        &self,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|txn| {
            let clears = txn.open_table(ORIGIN_CLEARS).map_err(store_error)?;
            Ok(origin_clear(&clears, origin, now)?.map(|clear| clear.cleared_at))
        })
    }

    async fn item_expiries(&self, id: &CorrelationId) -> Result<Vec<ItemExpiry>, StoreError> {
        self.read(|txn| {
            let incidents = txn.open_table(INCIDENTS).map_err(store_error)?;
            let Some(incident) = get::<Incident>(&incidents, id.as_str(), "incident")? else {
                return Ok(Vec::new());
            };
            let expires_at = incident.closed_at.map(|closed| closed + self.retention);
            let mut items = vec![IncidentItem::Incident];
            let signals = txn.open_table(SIGNALS).map_err(store_error)?;
            items.extend(
                sequence_numbers(&signals, id.as_str())?
                    .into_iter()
                    .map(IncidentItem::Signal),
            );
            let trail = txn.open_table(AUDIT).map_err(store_error)?;
            items.extend(
                sequence_numbers(&trail, id.as_str())?
                    .into_iter()
                    .map(IncidentItem::Audit),
            );
            let tokens = txn.open_table(APPROVAL_TOKENS).map_err(store_error)?;
            let (start, end) = prefix_range(id.as_str());
            for entry in tokens
                .range(start.as_str()..end.as_str())
                .map_err(store_error)?
            {
                entry.map_err(store_error)?;
                items.push(IncidentItem::ApprovalToken);
            }
            Ok(items
                .into_iter()
                .map(|item| ItemExpiry { item, expires_at })
                .collect())
        })
    }

    async fn budget_usage(
        &self,
        resource: &ResourceRef,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<Vec<BudgetUsage>, StoreError> {
        let prefix = resource.as_str().to_string();
        self.read(|txn| {
            let table = txn.open_table(BUDGET).map_err(store_error)?;
            let (start, end) = prefix_range(&prefix);
            let mut usage = Vec::new();
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(store_error)?
            {
                let (entry_key, value) = entry.map_err(store_error)?;
                let ledger: BudgetLedger = decode(value.value(), "budget")?;
                let action_name = entry_key.value().rsplit(SEP).next().unwrap_or_default();
                if let Some(action) = ActionId::parse(action_name)
                    && let Some(found) = ledger.usage(action, now, window)
                {
                    usage.push(found);
                }
            }
            Ok(usage)
        })
    }

    async fn consume_budget(
        &self,
        budget: &BudgetKey,
        limits: &BudgetLimits,
        consumer: &CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<BudgetOutcome, StoreError> {
        let item_key = key(&[budget.resource.as_str(), budget.action.as_str()]);
        self.write(|txn| {
            let mut table = txn.open_table(BUDGET).map_err(store_error)?;
            let mut ledger: BudgetLedger = get(&table, &item_key, "budget")?.unwrap_or_default();
            let before = ledger.clone();
            let outcome = ledger.consume(limits, consumer, now);
            if ledger == before {
                return Ok((outcome, false));
            }
            table
                .insert(item_key.as_str(), encode(&ledger)?.as_slice())
                .map_err(store_error)?;
            Ok((outcome, true))
        })
    }
}

#[async_trait]
impl PatternStore for EmbeddedStore {
    async fn action_stats(
        &self,
        signature: &str,
        action: ActionId,
    ) -> Result<ActionStats, StoreError> {
        let stats_key = key(&[signature, action.as_str()]);
        let found: Option<ActionStats> = self.read(|txn| {
            get(
                &txn.open_table(PATTERN_STATS).map_err(store_error)?,
                &stats_key,
                "action stats",
            )
        })?;
        Ok(found.unwrap_or_default())
    }

    async fn record_outcome(
        &self,
        outcome: &OutcomeRecord,
        keep_summaries: usize,
    ) -> Result<(), StoreError> {
        let signature = outcome.signature.as_str();
        let incident_id = outcome.summary.correlation_id.as_str();
        self.write(|txn| {
            let mut seen = txn.open_table(PATTERN_SEEN).map_err(store_error)?;
            let seen_key = key(&[signature, incident_id]);
            if seen.get(seen_key.as_str()).map_err(store_error)?.is_some() {
                return Ok(((), false));
            }
            seen.insert(seen_key.as_str(), b"1".as_slice())
                .map_err(store_error)?;
            let mut stats_table = txn.open_table(PATTERN_STATS).map_err(store_error)?;
            let stats_key = key(&[signature, outcome.action.as_str()]);
            let mut stats: ActionStats =
                get(&stats_table, &stats_key, "action stats")?.unwrap_or_default();
            stats.attempts += 1;
            if outcome.verified {
                stats.verified_successes += 1;
                stats.consecutive_verified_successes += 1;
                stats.total_recovery_seconds += outcome.time_to_recover_seconds.unwrap_or(0);
            } else {
                stats.failures += 1;
                // A failed verification sends the action back to the bottom of the ladder.
                stats.consecutive_verified_successes = 0;
                stats.last_failure_at = Some(outcome.summary.closed_at);
            }
            stats_table
                .insert(stats_key.as_str(), encode(&stats)?.as_slice())
                .map_err(store_error)?;
            let mut summaries = txn.open_table(PATTERN_INCIDENTS).map_err(store_error)?;
            let closed = outcome
                .summary
                .closed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            summaries
                .insert(
                    key(&[signature, &closed, incident_id]).as_str(),
                    encode(&outcome.summary)?.as_slice(),
                )
                .map_err(store_error)?;
            let (start, end) = prefix_range(signature);
            let keys: Vec<String> = summaries
                .range(start.as_str()..end.as_str())
                .map_err(store_error)?
                .map(|entry| {
                    entry
                        .map(|(k, _)| k.value().to_string())
                        .map_err(store_error)
                })
                .collect::<Result<_, _>>()?;
            // Keys sort oldest first; drop the oldest beyond the bound.
            for old in keys.iter().take(keys.len().saturating_sub(keep_summaries)) {
                summaries.remove(old.as_str()).map_err(store_error)?;
            }
            Ok(((), true))
        })
    }

    async fn recent_incidents(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<Vec<PastIncident>, StoreError> {
        let mut found: Vec<PastIncident> = self.read(|txn| {
            scan(
                &txn.open_table(PATTERN_INCIDENTS).map_err(store_error)?,
                signature,
                "past incident",
            )
        })?;
        found.reverse();
        found.truncate(limit);
        Ok(found)
    }

    async fn signature_history(
        &self,
        signature: &str,
        limit: usize,
    ) -> Result<SignatureHistory, StoreError> {
        self.read(|txn| {
            let stats_table = txn.open_table(PATTERN_STATS).map_err(store_error)?;
            let (start, end) = prefix_range(signature);
            let mut actions = Vec::new();
            for entry in stats_table
                .range(start.as_str()..end.as_str())
                .map_err(store_error)?
            {
                let (stored_key, value) = entry.map_err(store_error)?;
                let name = stored_key.value().rsplit(SEP).next().unwrap_or_default();
                if let Some(action) = ActionId::parse(name) {
                    actions.push((action, decode(value.value(), "action stats")?));
                }
            }
            let mut incidents: Vec<PastIncident> = scan(
                &txn.open_table(PATTERN_INCIDENTS).map_err(store_error)?,
                signature,
                "past incident",
            )?;
            incidents.reverse();
            incidents.truncate(limit);
            Ok(SignatureHistory { actions, incidents })
        })
    }
}

/// The Workflow port for local runs: records each execution once by name, like Step Functions.
#[derive(Clone)]
pub struct LocalWorkflow {
    db: Arc<Database>,
    region: String,
}

impl std::fmt::Debug for LocalWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWorkflow").finish_non_exhaustive()
    }
}

impl LocalWorkflow {
    /// The input an execution was started with, as the local state machine will read it.
    pub fn execution_input(&self, name: &str) -> Result<Option<Value>, StoreError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        let found: Option<ExecutionItem> = get(
            &txn.open_table(EXECUTIONS).map_err(store_error)?,
            name,
            "execution",
        )?;
        Ok(found.map(|item| item.input))
    }
}

#[async_trait]
impl Workflow for LocalWorkflow {
    async fn start(
        &self,
        name: &CorrelationId,
        input: &Value,
    ) -> Result<WorkflowStart, WorkflowError> {
        let unavailable = |error: StoreError| WorkflowError::Unavailable(error.to_string());
        let execution_id = format!(
            "arn:aws:states:{}:000000000000:execution:argus-recovery:{name}",
            self.region
        );
        let txn = self
            .db
            .begin_write()
            .map_err(|e| unavailable(store_error(e)))?;
        let already_started = {
            let mut table = txn
                .open_table(EXECUTIONS)
                .map_err(|e| unavailable(store_error(e)))?;
            let exists = table
                .get(name.as_str())
                .map_err(|e| unavailable(store_error(e)))?
                .is_some();
            if !exists {
                let item = ExecutionItem {
                    execution_id: execution_id.clone(),
                    input: input.clone(),
                };
                let bytes = encode(&item).map_err(unavailable)?;
                table
                    .insert(name.as_str(), bytes.as_slice())
                    .map_err(|e| unavailable(store_error(e)))?;
            }
            exists
        };
        txn.commit().map_err(|e| unavailable(store_error(e)))?;
        Ok(WorkflowStart {
            execution_id,
            already_started,
        })
    }
}
