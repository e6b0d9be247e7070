//! Where the DynamoDB adapter keeps a pending approval's task token: its own item in the
//! incident's partition (`INC#<id>` / `APPROVAL#<approval id>`), written in the incident's
//! transaction. It carries no index key, so no index projects it; the incident's document
//! (`META`, projected by every index) carries a placeholder.

use super::*;
use crate::incident::TaskToken;
use crate::store::approval_token::withhold;

/// The attribute holding the token on its own item.
const TASK_TOKEN: &str = "task_token";

fn token_sort_key(approval_id: &str) -> String {
    format!("APPROVAL#{approval_id}")
}

impl DynamoStore {
    /// The put of `incident`'s task token, when it carries a real one (not the placeholder an
    /// incident read back carries). Like every item of the incident it expires only with the
    /// closed incident (`expiry.rs`).
    pub(super) fn approval_token_put(
        &self,
        incident: &Incident,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let (_, apart) = withhold(incident);
        let Some((approval_id, token)) = apart else {
            return Ok(None);
        };
        let mut item = key(incident_pk(&incident.id), token_sort_key(&approval_id));
        item.insert(TASK_TOKEN.to_string(), s(token.expose()));
        if let Some(expires) = self.expiry_of(incident) {
            item.insert(TTL_ATTRIBUTE.to_string(), n(expires.timestamp()));
        }
        self.put(&self.incidents_table, item, None).map(Some)
    }

    pub(super) async fn read_approval_token(
        &self,
        id: &CorrelationId,
        approval_id: &str,
    ) -> Result<Option<TaskToken>, StoreError> {
        let item = self
            .get(
                &self.incidents_table,
                key(incident_pk(id), token_sort_key(approval_id)),
            )
            .await?;
        Ok(item
            .as_ref()
            .and_then(|item| text_of(item, TASK_TOKEN))
            .map(TaskToken::new))
    }
}
