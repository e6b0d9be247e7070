//! Argus acts only on resources that are its own to act on: before an action is proposed, the
//! tags of the resource it would run on are read. A resource without Argus' managed tag, or one
//! carrying a quarantine tag, gets no action (advisory); tags that cannot be read leave the
//! action to a person (approval). The recovery role's IAM conditions on the same tags stay the
//! backstop.

use super::*;
use crate::decision::Ceiling;
use crate::tags::{TagLookup, TagVerdict};

impl Intake<'_> {
    /// The ceiling the target's tags put on `decision`; `None` when no tags are read: no tag
    /// source, or nothing would run (no remediation, or advisory already), so a quiet decision
    /// costs no call.
    pub(super) async fn tag_ceiling(
        &self,
        incident: &Incident,
        decision: &Decision,
        report: &mut SignalReport,
        audit: &mut Vec<AuditEntry>,
    ) -> Option<Ceiling> {
        let source = self.resource_tags?;
        let action = decision
            .action
            .as_ref()
            .filter(|action| action.action.is_remediation())?;
        if decision.mode == Mode::Advisory {
            return None;
        }
        let target = action
            .target
            .clone()
            .unwrap_or_else(|| incident.resource.clone());
        let policy = &self.config.tags;
        let lookup = match (incident.account.as_deref(), incident.region.as_deref()) {
            (Some(account), Some(region)) => TagLookup::of(&target, account, region),
            _ => None,
        };
        let read = match &lookup {
            None => Err(format!(
                "no ARN can be built for {target} (its kind, account or region is not known)"
            )),
            Some(lookup) => source
                .tags(std::slice::from_ref(lookup))
                .await
                .map(|mut found| found.remove(&target))
                .map_err(|error| error.to_string()),
        };
        let managed = format!("{}={}", policy.managed_key, policy.managed_value);
        let (summary, data, ceiling) = match read {
            Err(reason) => (
                format!("tags of {target} could not be read: {reason}; a person decides"),
                json!({"resource": target, "verdict": "unreadable", "reason": reason}),
                Some(Ceiling {
                    mode: Mode::Approval,
                    reason: format!(
                        "the tags of {target} could not be read ({reason}); whether Argus may act on it is not known, so a person approves"
                    ),
                }),
            ),
            Ok(tags) => match policy.judge(tags.as_ref()) {
                TagVerdict::Managed => (
                    format!("{target} carries {managed} and no quarantine tag"),
                    json!({"resource": target, "verdict": "managed"}),
                    None,
                ),
                TagVerdict::Unmanaged { found } => (
                    format!("{target} does not carry {managed}; no action is proposed"),
                    json!({"resource": target, "verdict": "unmanaged", "found": found}),
                    Some(Ceiling {
                        mode: Mode::Advisory,
                        reason: format!(
                            "{target} does not carry Argus' managed tag {managed}; Argus proposes no action on a resource that is not its own"
                        ),
                    }),
                ),
                TagVerdict::Quarantined { key } => (
                    format!("{target} carries the quarantine tag {key}; no action is proposed"),
                    json!({"resource": target, "verdict": "quarantined", "key": key}),
                    Some(Ceiling {
                        mode: Mode::Advisory,
                        reason: format!(
                            "{target} carries the quarantine tag `{key}`; Argus never starts, reboots or otherwise acts on a quarantined resource"
                        ),
                    }),
                ),
            },
        };
        report.step("tags", summary.clone());
        audit.push(AuditEntry::new(ACTOR, AuditKind::TagsRead, summary, data));
        ceiling
    }
}
