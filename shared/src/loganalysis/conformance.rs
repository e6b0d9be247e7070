//! The `BaselineStore` conformance suite, which the embedded store and the DynamoDB adapter must
//! both pass: round trips, revision conditions, tombstones, records-only saves and isolation
//! between log groups. Compiled only with feature `testing`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::baseline::BaselineStats;
use super::ports::{
    BaselineStore, Checkpoint, LogGroupWrite, PartialWindow, SaveOutcome, TemplateRecord,
};
use crate::logmine::{TemplateId, TemplateMiner};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// A record for `line`'s template, as the analyzer would store it.
fn record(line: &str, revision: u64) -> TemplateRecord {
    let mut miner = TemplateMiner::default();
    miner.add_line(line);
    let saved = miner.save_state().templates.remove(0);
    TemplateRecord {
        template_id: saved.id,
        revision,
        text: saved.text,
        tokens: saved.tokens,
        level: Some("error".to_string()),
        sample: line.to_string(),
        first_seen: at(0),
        last_seen: at(1),
        stats: BaselineStats::new(60).with_window(29_000_000, 7, 60, 0.1),
        prior: Some(BaselineStats::new(60)),
        renamed_to: None,
        evicted_at: None,
    }
}

fn checkpoint(log_group: &str, revision: u64, partial: bool) -> Checkpoint {
    Checkpoint {
        log_group: log_group.to_string(),
        revision,
        window_seconds: 60,
        window_start: at(revision as i64),
        partial: partial.then(|| PartialWindow {
            next_token: "token/with+odd=chars".to_string(),
            counts: BTreeMap::from([(TemplateId(42), 1_000)]),
            samples: BTreeMap::from([(TemplateId(42), vec!["a sample".to_string()])]),
            events: 1_000,
            bytes: 64_000,
        }),
        windows_closed: revision,
        updated_at: at(revision as i64),
    }
}

fn write<'a>(
    log_group: &'a str,
    templates: &'a [TemplateRecord],
    checkpoint: Option<&'a Checkpoint>,
) -> LogGroupWrite<'a> {
    LogGroupWrite {
        log_group,
        templates,
        checkpoint,
        tombstone_expires_at: at(60 * 24 * 30),
    }
}

/// Runs every case against `store`. `group_prefix` keeps suites sharing a table apart.
pub async fn baseline_store_conformance(store: &dyn BaselineStore, group_prefix: &str) {
    let group = format!("/aws/lambda/{group_prefix}-checkout#blue");
    let other = format!("{group}/other");

    // GIVEN nothing stored, a log group has no checkpoint and no templates.
    let empty = store.load_log_group(&group).await.unwrap();
    assert!(empty.checkpoint.is_none() && empty.templates.is_empty());

    // A first save (revision 1 everywhere) round-trips every field.
    let first = vec![
        record("ERROR payment timeout for order 17", 1),
        record("INFO request handled in 12ms", 1),
    ];
    let saved_checkpoint = checkpoint(&group, 1, true);
    assert_eq!(
        store
            .save_log_group(write(&group, &first, Some(&saved_checkpoint)))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    let loaded = store.load_log_group(&group).await.unwrap();
    assert_eq!(loaded.checkpoint.as_ref(), Some(&saved_checkpoint));
    let mut templates = loaded.templates.clone();
    templates.sort_by_key(|record| record.template_id);
    let mut expected = first.clone();
    expected.sort_by_key(|record| record.template_id);
    assert_eq!(templates, expected);

    // Another log group, even one whose name extends this one's, sees none of it.
    let isolated = store.load_log_group(&other).await.unwrap();
    assert!(isolated.checkpoint.is_none() && isolated.templates.is_empty());

    // A write based on a stale revision is a conflict, and its checkpoint is not written.
    let stale = vec![record("ERROR payment timeout for order 17", 1)];
    assert_eq!(
        store
            .save_log_group(write(&group, &stale, Some(&checkpoint(&group, 2, false))))
            .await
            .unwrap(),
        SaveOutcome::Conflict
    );
    let stale_checkpoint = checkpoint(&group, 1, false);
    assert_eq!(
        store
            .save_log_group(write(&group, &[], Some(&stale_checkpoint)))
            .await
            .unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(
        store.load_log_group(&group).await.unwrap().checkpoint,
        Some(saved_checkpoint.clone())
    );

    // Records alone can be saved (the checkpoint stays), then a tombstone naming a successor.
    let mut generalised = first[0].clone();
    generalised.revision = 2;
    generalised.renamed_to = Some(first[1].template_id);
    let mut successor = first[1].clone();
    successor.revision = 2;
    successor.stats = successor.stats.with_window(29_000_001, 3, 60, 0.1);
    assert_eq!(
        store
            .save_log_group(write(
                &group,
                &[generalised.clone(), successor.clone()],
                None
            ))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    let loaded = store.load_log_group(&group).await.unwrap();
    assert_eq!(loaded.checkpoint, Some(saved_checkpoint));
    let tombstone = loaded
        .templates
        .iter()
        .find(|record| record.template_id == generalised.template_id)
        .unwrap();
    assert_eq!(tombstone.renamed_to, Some(successor.template_id));
    let live = loaded
        .templates
        .iter()
        .find(|record| record.template_id == successor.template_id)
        .unwrap();
    assert_eq!(live, &successor);

    // A template evicted at the cap is a tombstone that keeps its id and baseline.
    let mut evicted = successor.clone();
    evicted.revision = 3;
    evicted.evicted_at = Some(at(5));
    assert_eq!(
        store
            .save_log_group(write(&group, std::slice::from_ref(&evicted), None))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    let loaded = store.load_log_group(&group).await.unwrap();
    let stored = loaded
        .templates
        .iter()
        .find(|record| record.template_id == evicted.template_id)
        .unwrap();
    assert_eq!(
        stored, &evicted,
        "an evicted tombstone reads back as written"
    );
    assert!(stored.is_tombstone());

    // The checkpoint moves on with the next revision.
    let moved = checkpoint(&group, 2, false);
    assert_eq!(
        store
            .save_log_group(write(&group, &[], Some(&moved)))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(
        store.load_log_group(&group).await.unwrap().checkpoint,
        Some(moved)
    );
}
