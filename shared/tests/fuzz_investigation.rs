//! Fuzz target `snapshot`: the recorded-snapshot reader (both layouts) on its sample files with
//! bytes flipped, cut or inserted and lines replaced by awkward text, then localisation and the
//! baseline on whatever it accepts. The property: no panic, every error typed (a stable
//! `error_type()`) and naming the file it is about. `ARGUS_FUZZ_SECONDS` gives a long run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::investigation::baseline::baseline;
use argus::investigation::{LocaliseConfig, RecordedSnapshot, localise};
use argus::testing::fuzz::{self, awkward_string};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of one snapshot folder, as (name, bytes).
type Files = Vec<(&'static str, Vec<u8>)>;

fn argus_seed() -> Files {
    let dir = root().join("events/scenarios/slow-dependency-redeployed");
    [
        "graph.json",
        "metrics.csv",
        "normal.csv",
        "target.json",
        "changes.json",
    ]
    .into_iter()
    .map(|name| (name, std::fs::read(dir.join(name)).unwrap()))
    .collect()
}

fn petshop_seed() -> Files {
    let scenario = root().join("benches/petshop/low_traffic");
    let normal = std::fs::read_to_string(scenario.join("noissue/metrics.csv")).unwrap();
    // Forty buckets of normal behaviour keep each case quick and still enough for a model.
    let normal: String = normal.lines().take(44).map(|l| format!("{l}\n")).collect();
    vec![
        (
            "graph.csv",
            std::fs::read(scenario.join("graph.csv")).unwrap(),
        ),
        (
            "metrics.csv",
            std::fs::read(scenario.join("train/issue_0/metrics.csv")).unwrap(),
        ),
        (
            "target.json",
            std::fs::read(scenario.join("train/issue_0/target.json")).unwrap(),
        ),
        ("normal.csv", normal.into_bytes()),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, length: usize },
    Truncate { at: usize },
    ReplaceLine { line: usize, text: String },
    Delete,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Flip { at, byte }),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, length)| Edit::Remove { at, length }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
        3 => (any::<usize>(), awkward_string()).prop_map(|(line, text)| Edit::ReplaceLine { line, text }),
        1 => Just(Edit::Delete),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) -> bool {
    let position = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
    match edit {
        Edit::Flip { at, byte } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= byte | 1;
            }
        }
        Edit::Insert {
            at,
            bytes: inserted,
        } => {
            let i = position(*at, bytes.len());
            bytes.splice(i..i, inserted.iter().copied());
        }
        Edit::Remove { at, length } => {
            let start = position(*at, bytes.len());
            let end = (start + length).min(bytes.len());
            bytes.drain(start..end);
        }
        Edit::Truncate { at } => {
            let i = position(*at, bytes.len());
            bytes.truncate(i);
        }
        Edit::ReplaceLine { line, text } => {
            let text_lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            let target = line % text_lines.len().max(1);
            let mut out = Vec::with_capacity(bytes.len());
            for (index, current) in text_lines.iter().enumerate() {
                if index > 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(if index == target {
                    text.as_bytes()
                } else {
                    current
                });
            }
            *bytes = out;
        }
        Edit::Delete => return false,
    }
    true
}

fn check(dir: &Path, seed: &Files, file: usize, edits: &[Edit]) -> Result<(), TestCaseError> {
    let mut touched = None;
    for (index, (name, bytes)) in seed.iter().enumerate() {
        let path = dir.join(name);
        let mut bytes = bytes.clone();
        let mut keep = true;
        if index == file % seed.len() {
            touched = Some(*name);
            for edit in edits {
                keep &= apply(&mut bytes, edit);
            }
        }
        if keep {
            std::fs::write(&path, &bytes).unwrap();
        } else {
            std::fs::remove_file(&path).ok();
        }
    }
    match RecordedSnapshot::open(dir) {
        Ok(snapshot) => {
            if let (Some(target), Some(normal)) =
                (snapshot.target.as_ref(), snapshot.normal.as_ref())
            {
                let config = LocaliseConfig::default();
                if let Ok(result) =
                    localise(&snapshot.graph, target, &snapshot.window, normal, &config)
                {
                    prop_assert!(
                        result
                            .candidates
                            .iter()
                            .all(|c| c.score.is_finite() && c.score > 0.0)
                    );
                }
                baseline(&snapshot.graph, target, &snapshot.window, normal);
            }
        }
        Err(error) => {
            prop_assert!(
                matches!(
                    error.error_type(),
                    "NotASnapshot" | "SnapshotUnreadable" | "SnapshotMalformed"
                ),
                "unexpected error type {}",
                error.error_type()
            );
            let shown = error.to_string();
            let names_a_file = seed.iter().any(|(name, _)| shown.contains(name))
                || error.error_type() == "NotASnapshot";
            prop_assert!(names_a_file, "{shown} names no file (touched {touched:?})");
        }
    }
    Ok(())
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "argus-fuzz-snapshot-{label}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fuzz_snapshot() {
    let argus_dir = scratch("argus");
    let petshop_dir = scratch("petshop");
    let (argus, petshop) = (argus_seed(), petshop_seed());
    let strategy = (
        any::<bool>(),
        any::<usize>(),
        proptest::collection::vec(edit(), 1..4),
    );
    fuzz::run("snapshot", strategy, |(use_petshop, file, edits)| {
        if use_petshop {
            check(&petshop_dir, &petshop, file, &edits)
        } else {
            check(&argus_dir, &argus, file, &edits)
        }
    });
    std::fs::remove_dir_all(argus_dir).ok();
    std::fs::remove_dir_all(petshop_dir).ok();
}
