//! Investigation's log source: the log analyzer's anomalies as Argus recorded them, read back
//! from the incident store (an anomaly opens or joins an incident on the resource its log group
//! belongs to), so no log is read again and no new permission is needed.

use super::findings::LogFinding;
use super::ports::{LogAnomalySource, SourceError, TimeRange};
use crate::ports::IncidentStore;
use crate::resource::ResourceRef;
use crate::signal::SignalSource;
use async_trait::async_trait;

/// Incidents read per resource: the newest, which is where a recent anomaly is.
const INCIDENTS_PER_RESOURCE: usize = 20;

/// Findings kept per resource, newest first.
const FINDINGS_PER_RESOURCE: usize = 5;

/// The log anomalies in an incident store.
pub struct StoredLogAnomalies<'a> {
    pub store: &'a dyn IncidentStore,
}

impl std::fmt::Debug for StoredLogAnomalies<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogAnomalies").finish_non_exhaustive()
    }
}

/// The log group of a log anomaly's signature (`log:<log group>:<template id>`).
fn log_group_of(signature: &str) -> Option<&str> {
    signature
        .strip_prefix("log:")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(group, _)| group)
}

#[async_trait]
impl LogAnomalySource for StoredLogAnomalies<'_> {
    async fn log_anomalies(
        &self,
        resources: &[(String, ResourceRef)],
        range: TimeRange,
    ) -> Result<Vec<LogFinding>, SourceError> {
        let mut findings = Vec::new();
        for (node, resource) in resources {
            let incidents = self
                .store
                .incidents_on(resource, INCIDENTS_PER_RESOURCE)
                .await
                .map_err(|error| SourceError::Unavailable {
                    source_name: "incident store",
                    message: error.to_string(),
                })?;
            findings.extend(
                incidents
                    .iter()
                    .filter(|incident| incident.source == SignalSource::LogAnomaly)
                    // Seen during the range: opened before its end, last heard after its start.
                    .filter(|incident| {
                        incident.opened_at.timestamp() < range.to
                            && incident.last_signal_at.timestamp() >= range.from
                    })
                    .take(FINDINGS_PER_RESOURCE)
                    .map(|incident| LogFinding {
                        node: node.clone(),
                        log_group: log_group_of(&incident.signature)
                            .unwrap_or_default()
                            .to_owned(),
                        summary: format!(
                            "{} on {resource}: {} signal(s) from {} to {} (incident {}, {})",
                            incident.title,
                            incident.signal_count,
                            incident.opened_at.to_rfc3339(),
                            incident.last_signal_at.to_rfc3339(),
                            incident.id,
                            incident.status.as_str(),
                        ),
                    }),
            );
        }
        Ok(findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_group_is_read_from_the_signature() {
        assert_eq!(
            log_group_of("log:/aws/lambda/checkout:t-9f2c41d07a3e5b18"),
            Some("/aws/lambda/checkout")
        );
        assert_eq!(log_group_of("alarm:AWS/EC2/CPUUtilization"), None);
    }
}
