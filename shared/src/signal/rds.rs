//! Amazon RDS events ("RDS DB Instance Event", "RDS DB Cluster Event"), mapped to the database:
//! failovers, stops and shutdowns, storage running out, recovery and failure open incidents;
//! the matching completion (failover done, started, recovered) clears them. Events of other
//! categories (backups, configuration changes, maintenance notices) are ignored with a reason.

use super::normalise::{NormaliseError, Normalised, decode, envelope, invalid, missing};
use super::{Evidence, Signal, SignalEffect, SignalSource};
use crate::resource::ResourceRef;
use serde::Deserialize;
use serde_json::Value;

pub const INSTANCE_DETAIL_TYPE: &str = "RDS DB Instance Event";
pub const CLUSTER_DETAIL_TYPE: &str = "RDS DB Cluster Event";
pub const SOURCE: &str = "aws.rds";
const EVENT: &str = "RDS event";

pub const FAILOVER_SIGNATURE: &str = "rds:failover";
pub const AVAILABILITY_SIGNATURE: &str = "rds:availability";
pub const STORAGE_SIGNATURE: &str = "rds:storage";
pub const RECOVERY_SIGNATURE: &str = "rds:recovery";
pub const FAILURE_SIGNATURE: &str = "rds:failure";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Detail {
    #[serde(default)]
    event_categories: Vec<String>,
    #[serde(default)]
    source_type: Option<String>,
    #[serde(default)]
    source_arn: Option<String>,
    #[serde(default)]
    source_identifier: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "EventID")]
    event_id: String,
    #[serde(default)]
    date: Option<String>,
}

/// What one RDS event means: its signature, effect and severity, or why it is ignored.
fn meaning(
    event_id: &str,
    categories: &[String],
) -> Result<(&'static str, SignalEffect, u8), String> {
    use SignalEffect::{Clears, Informs, Opens};
    let known = match event_id {
        // Instance failover: started, completed (two wordings); cluster failover: failed,
        // started in the same or another AZ, completed, and the old primary promoted back.
        "RDS-EVENT-0013" => Some((FAILOVER_SIGNATURE, Opens, 6)),
        "RDS-EVENT-0015" | "RDS-EVENT-0049" => Some((FAILOVER_SIGNATURE, Clears, 0)),
        "RDS-EVENT-0069" => Some((FAILOVER_SIGNATURE, Opens, 8)),
        "RDS-EVENT-0072" | "RDS-EVENT-0073" => Some((FAILOVER_SIGNATURE, Opens, 6)),
        "RDS-EVENT-0071" => Some((FAILOVER_SIGNATURE, Clears, 0)),
        "RDS-EVENT-0070" => Some((FAILOVER_SIGNATURE, Informs, 0)),
        // Shut down, restarted, an error restarting; stopped, started, started again after
        // the longest a stop may last.
        "RDS-EVENT-0004" => Some((AVAILABILITY_SIGNATURE, Opens, 6)),
        "RDS-EVENT-0022" => Some((AVAILABILITY_SIGNATURE, Opens, 7)),
        "RDS-EVENT-0006" => Some((AVAILABILITY_SIGNATURE, Clears, 0)),
        "RDS-EVENT-0087" => Some((AVAILABILITY_SIGNATURE, Opens, 5)),
        "RDS-EVENT-0088" | "RDS-EVENT-0154" => Some((AVAILABILITY_SIGNATURE, Clears, 0)),
        // Allocated storage exhausted; storage nearly full.
        "RDS-EVENT-0007" => Some((STORAGE_SIGNATURE, Opens, 8)),
        "RDS-EVENT-0089" => Some((STORAGE_SIGNATURE, Opens, 6)),
        // Recovery started and complete.
        "RDS-EVENT-0020" => Some((RECOVERY_SIGNATURE, Opens, 6)),
        "RDS-EVENT-0021" => Some((RECOVERY_SIGNATURE, Clears, 0)),
        _ => None,
    };
    if let Some(found) = known {
        return Ok(found);
    }
    let has = |name: &str| categories.iter().any(|category| category == name);
    if has("failure") {
        Ok((FAILURE_SIGNATURE, Opens, 8))
    } else if has("low storage") {
        Ok((STORAGE_SIGNATURE, Opens, 6))
    } else if has("failover") {
        Ok((FAILOVER_SIGNATURE, Informs, 0))
    } else if has("recovery") {
        Ok((RECOVERY_SIGNATURE, Informs, 0))
    } else if has("availability") {
        Ok((AVAILABILITY_SIGNATURE, Informs, 0))
    } else {
        Err(format!(
            "RDS event {event_id} ({}) reports no problem with the database",
            if categories.is_empty() {
                "no category".to_string()
            } else {
                categories.join(", ")
            }
        ))
    }
}

pub(super) fn from_eventbridge(event: &Value, cluster: bool) -> Result<Normalised, NormaliseError> {
    let envelope = envelope(event, EVENT)?;
    let detail: Detail = decode(&envelope.detail, EVENT, "detail")?;
    let (signature, effect, severity) = match meaning(&detail.event_id, &detail.event_categories) {
        Ok(found) => found,
        Err(reason) => return Ok(Normalised::Ignored { reason }),
    };
    let kind = if cluster { "cluster" } else { "db" };
    // `SourceArn` (`arn:…:db:<id>`, `arn:…:cluster:<id>`) names the database; the identifier
    // is read only without it (samples write it bare or as `rds:<id>`).
    let (field, identifier) = match detail.source_arn.as_deref() {
        Some(arn) => (
            "detail.SourceArn",
            arn.split_once(&format!(":{kind}:"))
                .map(|(_, id)| id)
                .ok_or_else(|| {
                    invalid(
                        EVENT,
                        "detail.SourceArn",
                        "not the ARN of an RDS DB instance or cluster",
                    )
                })?,
        ),
        None => (
            "detail.SourceIdentifier",
            detail
                .source_identifier
                .as_deref()
                .map(|id| id.strip_prefix("rds:").unwrap_or(id))
                .ok_or_else(|| missing(EVENT, "detail.SourceArn"))?,
        ),
    };
    let resource = ResourceRef::checked("rds", kind, identifier)
        .map_err(|error| invalid(EVENT, field, error.reason))?;
    let message = detail.message.clone().unwrap_or_default();
    let what = if cluster { "DB cluster" } else { "DB instance" };
    Ok(Normalised::Signals(vec![Signal {
        source_event_id: format!("eventbridge:{}", envelope.id),
        source: SignalSource::Rds,
        effect,
        signature: signature.to_string(),
        account: envelope.account.clone(),
        region: envelope.region.clone(),
        observed_at: envelope.time,
        title: format!("RDS {what} {identifier}: {message}"),
        state: detail.event_id.clone(),
        alarm_kind: None,
        alarm_name: None,
        metric: None,
        severity_hint: (severity > 0).then_some(severity),
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![
            Evidence::new(
                "rds.event",
                "RDS event",
                format!(
                    "{} ({}) on {} {identifier} at {}",
                    detail.event_id,
                    detail.event_categories.join(", "),
                    detail.source_type.as_deref().unwrap_or(what),
                    detail.date.as_deref().unwrap_or("an unknown time")
                ),
            ),
            Evidence::new("rds.message", "RDS message", &message),
        ],
        resource,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_fall_back_on_their_category() {
        let categories = |names: &[&str]| {
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            meaning("RDS-EVENT-9999", &categories(&["failure"])).map(|m| m.0),
            Ok(FAILURE_SIGNATURE)
        );
        assert!(meaning("RDS-EVENT-0001", &categories(&["backup"])).is_err());
        assert_eq!(
            meaning("RDS-EVENT-0049", &categories(&["failover"])).map(|m| m.1),
            Ok(SignalEffect::Clears)
        );
    }
}
