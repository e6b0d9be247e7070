//! The log analyzer's `BaselineStore` on the embedded store: template records and checkpoints
//! in two redb tables, every save one transaction, each item conditional on its revision.

use super::embedded::{EmbeddedStore, decode, encode, key, prefix_range, store_error};
use crate::loganalysis::ports::{
    BaselineStore, Checkpoint, LogGroupState, LogGroupWrite, SaveOutcome, TemplateRecord,
};
use crate::ports::StoreError;
use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};

type Table = TableDefinition<'static, &'static str, &'static [u8]>;
/// `<log group> SEP <template id>` → template record.
const LOG_TEMPLATES: Table = TableDefinition::new("log_templates");
/// `<log group>` → checkpoint.
const LOG_CHECKPOINTS: Table = TableDefinition::new("log_checkpoints");

fn revision_allows(stored: Option<u64>, writing: u64) -> bool {
    stored.unwrap_or(0) + 1 == writing
}

#[async_trait]
impl BaselineStore for EmbeddedStore {
    async fn load_log_group(&self, log_group: &str) -> Result<LogGroupState, StoreError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        let mut state = LogGroupState::default();
        // The tables are created by the first save; before it a log group has nothing stored.
        match txn.open_table(LOG_CHECKPOINTS) {
            Ok(table) => {
                if let Some(value) = table.get(log_group).map_err(store_error)? {
                    state.checkpoint = Some(decode(value.value(), "log checkpoint")?);
                }
            }
            Err(TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(store_error(error)),
        }
        match txn.open_table(LOG_TEMPLATES) {
            Ok(table) => {
                let (start, end) = prefix_range(log_group);
                for entry in table
                    .range(start.as_str()..end.as_str())
                    .map_err(store_error)?
                {
                    let (_, value) = entry.map_err(store_error)?;
                    state
                        .templates
                        .push(decode(value.value(), "log template record")?);
                }
            }
            Err(TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(store_error(error)),
        }
        Ok(state)
    }

    async fn save_log_group(&self, write: LogGroupWrite<'_>) -> Result<SaveOutcome, StoreError> {
        let txn = self.db.begin_write().map_err(store_error)?;
        let outcome = {
            let mut templates = txn.open_table(LOG_TEMPLATES).map_err(store_error)?;
            let mut checkpoints = txn.open_table(LOG_CHECKPOINTS).map_err(store_error)?;
            let mut conflict = false;
            for record in write.templates {
                let item_key = key(&[write.log_group, &record.template_id.to_string()]);
                let stored: Option<TemplateRecord> =
                    match templates.get(item_key.as_str()).map_err(store_error)? {
                        Some(value) => Some(decode(value.value(), "log template record")?),
                        None => None,
                    };
                if !revision_allows(stored.map(|stored| stored.revision), record.revision) {
                    conflict = true;
                    break;
                }
                templates
                    .insert(item_key.as_str(), encode(record)?.as_slice())
                    .map_err(store_error)?;
            }
            if let (false, Some(checkpoint)) = (conflict, write.checkpoint) {
                let stored: Option<Checkpoint> =
                    match checkpoints.get(write.log_group).map_err(store_error)? {
                        Some(value) => Some(decode(value.value(), "log checkpoint")?),
                        None => None,
                    };
                if revision_allows(stored.map(|stored| stored.revision), checkpoint.revision) {
                    checkpoints
                        .insert(write.log_group, encode(checkpoint)?.as_slice())
                        .map_err(store_error)?;
                } else {
                    conflict = true;
                }
            }
            if conflict {
                SaveOutcome::Conflict
            } else {
                SaveOutcome::Saved
            }
        };
        if outcome == SaveOutcome::Saved {
            txn.commit().map_err(store_error)?;
        } else {
            txn.abort().map_err(store_error)?;
        }
        Ok(outcome)
    }
}
