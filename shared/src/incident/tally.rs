//! Repeated audit entries counted instead of recorded one by one: refused approval answers and
//! attached signals come from outside Argus as often as their senders like, and every record
//! of an incident is read by the approval check and the post-mortem in one function call, so
//! an incident holds a bounded number of them whatever arrives.
//!
//! The rule: entries of a repeatable kind are grouped by what makes them "the same" (a refusal:
//! its reason, approver and channel; an attachment: its origin, state, outcome and principal).
//! The first [`FULL_RECORDS_PER_KEY`] of a group are chained records, as long as the incident
//! holds fewer than [`MAX_FULL_REPEATED_RECORDS`] such records; after that the group's tally
//! counts them (count, first and last time, the last entry). At most [`MAX_TALLIES`] groups are
//! kept; entries of further groups are counted in one overflow tally per kind. The tallies live
//! in the incident's document and are sealed to the audit chain's head
//! ([`super::AuditHead::tallies`]), so `verify_chain` detects an edited count as it detects an
//! edited record.

use super::{AuditEntry, AuditKind};
use crate::bounds::truncate_with_marker;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Entries of one group recorded in full before the group is only counted.
pub const FULL_RECORDS_PER_KEY: u32 = 5;
/// Records of repeatable kinds an incident holds in full, over all groups.
pub const MAX_FULL_REPEATED_RECORDS: u32 = 100;
/// Groups with a tally of their own; entries of any further group go to their kind's overflow.
pub const MAX_TALLIES: usize = 32;
/// A tally keeps the last counted entry's summary cut to this many bytes.
pub const MAX_TALLY_SUMMARY_BYTES: usize = 256;
/// A tally keeps the last counted entry's data only when it serialises to at most this.
pub const MAX_TALLY_DATA_BYTES: usize = 1024;

/// The group key of the overflow tally of a kind.
const OVERFLOW: &str = "other";

/// How often entries of one group arrived, beyond those recorded in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTally {
    pub kind: AuditKind,
    /// Entries of the group written to the chain as records.
    pub recorded: u32,
    /// Entries of the group only counted here.
    #[serde(default)]
    pub counted: u64,
    /// When the first and the last counted entry arrived (`None` while none was counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<DateTime<Utc>>,
    /// The last counted entry's actor, summary (cut) and data (dropped when large).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// Whether an entry becomes a chained record or is only counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Record,
    Counted,
}

/// The group an entry belongs to, for the kinds that repeat at an outsider's will; `None` for
/// every other kind (always recorded). Writers of these kinds put the fields named here in the
/// entry's data.
pub fn group_of(entry: &AuditEntry) -> Option<String> {
    let field = |name: &str| {
        entry
            .data
            .get(name)
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let parts = match entry.kind {
        AuditKind::ApprovalRefused => [
            field("reason"),
            field("identity"),
            field("channel"),
            String::new(),
        ],
        AuditKind::SignalAttached | AuditKind::SelfCausedAttached => [
            field("origin"),
            field("state"),
            field("outcome"),
            field("principal"),
        ],
        _ => return None,
    };
    let mut digest = Sha256::new();
    for part in &parts {
        // Length-prefixed, so no two different tuples hash alike.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let hash = digest.finalize();
    let short: String = hash[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    Some(format!("{}:{short}", kind_name(entry.kind)))
}

fn kind_name(kind: AuditKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Decides where `entry` goes and updates the tallies accordingly.
pub fn place(
    tallies: &mut BTreeMap<String, AuditTally>,
    entry: &AuditEntry,
    at: DateTime<Utc>,
) -> Placement {
    let Some(group) = group_of(entry) else {
        return Placement::Record;
    };
    let names_principal = entry
        .data
        .get("principal")
        .is_some_and(|principal| !principal.is_null());
    let new_group = !tallies.contains_key(&group);
    if new_group {
        // A signal naming a principal is what tells the approval check who caused the
        // incident: its group's first entry is always recorded. Principals come only from
        // CloudTrail, so their number is bounded by the account's identities.
        if names_principal {
            tallies.insert(group, new_tally(entry.kind, 1));
            return Placement::Record;
        }
        let own_groups = tallies
            .keys()
            .filter(|key| !key.ends_with(&format!(":{OVERFLOW}")))
            .count();
        if own_groups >= MAX_TALLIES {
            let overflow = format!("{}:{OVERFLOW}", kind_name(entry.kind));
            let tally = tallies
                .entry(overflow)
                .or_insert_with(|| new_tally(entry.kind, 0));
            count(tally, entry, at);
            return Placement::Counted;
        }
    }
    let recorded_in_full: u32 = tallies.values().map(|tally| tally.recorded).sum();
    let tally = tallies
        .entry(group)
        .or_insert_with(|| new_tally(entry.kind, 0));
    if tally.recorded < FULL_RECORDS_PER_KEY && recorded_in_full < MAX_FULL_REPEATED_RECORDS {
        tally.recorded += 1;
        Placement::Record
    } else {
        count(tally, entry, at);
        Placement::Counted
    }
}

fn new_tally(kind: AuditKind, recorded: u32) -> AuditTally {
    AuditTally {
        kind,
        recorded,
        counted: 0,
        first_at: None,
        last_at: None,
        actor: String::new(),
        summary: String::new(),
        data: Value::Null,
    }
}

fn count(tally: &mut AuditTally, entry: &AuditEntry, at: DateTime<Utc>) {
    tally.counted += 1;
    tally.first_at = Some(tally.first_at.map_or(at, |first| first.min(at)));
    tally.last_at = Some(tally.last_at.map_or(at, |last| last.max(at)));
    tally.actor = truncate_with_marker(&entry.actor, MAX_TALLY_SUMMARY_BYTES).into_owned();
    tally.summary = truncate_with_marker(&entry.summary, MAX_TALLY_SUMMARY_BYTES).into_owned();
    let small = serde_json::to_vec(&entry.data)
        .map(|bytes| bytes.len() <= MAX_TALLY_DATA_BYTES)
        .unwrap_or(false);
    tally.data = if small {
        entry.data.clone()
    } else {
        Value::Null
    };
}

/// The seal that binds the tallies to the chain's head: a hash of the head and every tally.
pub fn seal(head_hash: &str, tallies: &BTreeMap<String, AuditTally>) -> Option<String> {
    if tallies.is_empty() {
        return None;
    }
    #[derive(Serialize)]
    struct Sealed<'a> {
        head: &'a str,
        tallies: &'a BTreeMap<String, AuditTally>,
    }
    // A map with sorted keys of plain fields and `Value`s (whose maps are sorted) is canonical.
    let bytes = serde_json::to_vec(&Sealed {
        head: head_hash,
        tallies,
    })
    .unwrap_or_default();
    let digest = Sha256::digest([b"argus-audit-tallies:".as_slice(), &bytes].concat());
    Some(digest.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Entries only counted, over every tally.
pub fn counted_total(tallies: &BTreeMap<String, AuditTally>) -> u64 {
    tallies.values().map(|tally| tally.counted).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn attached(origin: &str, principal: Option<&str>) -> AuditEntry {
        AuditEntry::new(
            "argus/orchestrator",
            AuditKind::SignalAttached,
            "signal attached",
            json!({"origin": origin, "state": "ALARM", "outcome": "attached", "principal": principal}),
        )
    }

    #[test]
    fn past_the_groups_kept_entries_are_counted_in_the_kinds_overflow() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
        let mut tallies = BTreeMap::new();
        for n in 0..MAX_TALLIES {
            assert_eq!(
                place(&mut tallies, &attached(&format!("o{n}"), None), at),
                Placement::Record
            );
        }
        assert_eq!(
            place(&mut tallies, &attached("one-too-many", None), at),
            Placement::Counted
        );
        assert_eq!(tallies["signal_attached:other"].counted, 1);
        // A signal naming a principal new to the incident is recorded all the same: the
        // approval check reads who caused the incident from the recorded signals.
        assert_eq!(
            place(
                &mut tallies,
                &attached("o0", Some("arn:aws:iam::123456789012:user/alice")),
                at
            ),
            Placement::Record
        );
    }

    #[test]
    fn a_kind_that_does_not_repeat_at_an_outsiders_will_is_always_recorded() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
        let mut tallies = BTreeMap::new();
        let decided = AuditEntry::new("argus", AuditKind::Decided, "decided", json!({}));
        for _ in 0..(FULL_RECORDS_PER_KEY * 3) {
            assert_eq!(place(&mut tallies, &decided, at), Placement::Record);
        }
        assert!(tallies.is_empty());
    }
}
