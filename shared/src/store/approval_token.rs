//! A pending approval's Step Functions task token lives apart from the incident's document, in
//! both stores: whoever holds the token can answer the approval directly, and the document is
//! what every index projects (by resource, by status, by due time) and what every listing
//! returns. The document carries a placeholder; only `IncidentStore::approval_token` reads the
//! token, where an answer is sent.

use crate::incident::{Incident, TaskToken};

/// What the incident's document says in place of the token.
pub const WITHHELD: &str = "<redacted>";

/// `incident` as its document is stored (token withheld), and the token to keep apart, keyed
/// by its approval's id, when the incident carries a real one. An incident read back carries
/// the placeholder, and writing it again keeps the token already stored.
pub fn withhold(incident: &Incident) -> (Incident, Option<(String, TaskToken)>) {
    let mut stored = incident.clone();
    let apart = stored.approval.as_mut().and_then(|approval| {
        let token = std::mem::replace(&mut approval.task_token, TaskToken::new(WITHHELD));
        (token.expose() != WITHHELD && !token.expose().is_empty())
            .then(|| (approval.id.clone(), token))
    });
    (stored, apart)
}

/// The task token of `incident`'s approval `approval`, read where an answer is sent: from the
/// store, or from the document of an incident written before tokens were kept apart (its next
/// write moves it out).
pub async fn token_for(
    store: &dyn crate::ports::IncidentStore,
    incident: &Incident,
    approval: &crate::incident::PendingApproval,
) -> Result<Option<TaskToken>, crate::ports::StoreError> {
    if let Some(token) = store.approval_token(&incident.id, &approval.id).await? {
        return Ok(Some(token));
    }
    let in_document = approval.task_token.expose();
    Ok((in_document != WITHHELD && !in_document.is_empty()).then(|| approval.task_token.clone()))
}
