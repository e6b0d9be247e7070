//! Grouping accuracy of the template miner on the eight LogHub 2k samples in `benches/loghub-2k/`,
//! with the one default configuration: a floor per dataset and on the mean, raw lines within 0.03
//! of the message column, and a leave-one-out check that settings chosen without a dataset score it
//! as well as the default does. `benches/run.sh` prints the same tables for BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::logmine::{MinerConfig, TemplateMiner};
use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;

const DATASETS: [&str; 8] = [
    "HDFS",
    "Apache",
    "BGL",
    "HealthApp",
    "Linux",
    "OpenSSH",
    "Proxifier",
    "Spark",
];

/// Floors on the mean over the eight datasets: content against the original labels, content
/// against the corrected labels, and raw lines (headers included) against the original labels.
/// They sit 0.01 under the measured means (0.9844, 0.9842, 0.9844; see BENCHMARKS.md).
const MEAN_FLOOR: [f64; 3] = [0.974, 0.974, 0.974];
/// Floor on the leave-one-out mean, 0.01 under the measured 0.9843 (BENCHMARKS.md).
const LEAVE_ONE_OUT_FLOOR: f64 = 0.974;
/// How far whole raw lines may score below the message column on any dataset: their headers are
/// set aside, so they should group alike.
const RAW_LINE_SLACK: f64 = 0.03;
/// How far one dataset may fall below its measured figure before the build fails.
const DATASET_SLACK: f64 = 0.02;
/// Measured GA per dataset: original, corrected, raw (BENCHMARKS.md).
const MEASURED: [(&str, [f64; 3]); 8] = [
    ("HDFS", [1.0000, 1.0000, 1.0000]),
    ("Apache", [1.0000, 1.0000, 1.0000]),
    ("BGL", [0.9950, 0.9950, 0.9950]),
    ("HealthApp", [1.0000, 1.0000, 1.0000]),
    ("Linux", [0.8800, 0.8800, 0.8800]),
    ("OpenSSH", [1.0000, 0.9985, 1.0000]),
    ("Proxifier", [1.0000, 1.0000, 1.0000]),
    ("Spark", [1.0000, 1.0000, 1.0000]),
];

fn data_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/loghub-2k")
}

/// Parses CSV text (quoted fields, doubled quotes, commas and line ends inside quotes) into rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut started = false;
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if in_quotes {
            match character {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = false,
                other => field.push(other),
            }
            continue;
        }
        match character {
            '"' => {
                in_quotes = true;
                started = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                started = true;
            }
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                started = false;
            }
            other => {
                field.push(other);
                started = true;
            }
        }
    }
    if started || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn columns(relative: &str, names: &[&str]) -> Vec<Vec<String>> {
    let path = data_root().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let rows = parse_csv(&text);
    let indices: Vec<usize> = names
        .iter()
        .map(|name| {
            rows[0]
                .iter()
                .position(|column| column == name)
                .unwrap_or_else(|| panic!("{relative}: no column {name}"))
        })
        .collect();
    rows[1..]
        .iter()
        .map(|row| indices.iter().map(|&index| row[index].clone()).collect())
        .collect()
}

struct Labelled {
    contents: Vec<String>,
    original: Vec<String>,
    corrected: Vec<String>,
    raw_lines: Vec<String>,
}

fn load(name: &str) -> Labelled {
    let structured = columns(
        &format!("{name}/{name}_2k.log_structured.csv"),
        &["Content", "EventId"],
    );
    let corrected = columns(
        &format!("{name}/corrected/{name}_2k.log_structured_corrected.csv"),
        &["EventTemplate"],
    );
    let raw = std::fs::read(data_root().join(format!("{name}/{name}_2k.log"))).unwrap();
    let raw_lines: Vec<String> = String::from_utf8_lossy(&raw)
        .lines()
        .map(|line| line.trim_end_matches('\r').to_string())
        .collect();
    assert_eq!(structured.len(), 2000, "{name}");
    assert_eq!(corrected.len(), 2000, "{name}");
    assert_eq!(raw_lines.len(), 2000, "{name}");
    Labelled {
        contents: structured.iter().map(|row| row[0].clone()).collect(),
        original: structured.iter().map(|row| row[1].clone()).collect(),
        corrected: corrected.into_iter().map(|mut row| row.remove(0)).collect(),
        raw_lines,
    }
}

/// Each line's final template id, as `argus logs mine --per-line` prints it.
fn predicted(lines: &[String]) -> Vec<String> {
    predicted_with(MinerConfig::default(), lines)
}

/// Each line's final template id under `config`.
fn predicted_with(config: MinerConfig, lines: &[String]) -> Vec<String> {
    let mut miner = TemplateMiner::new(config);
    let ids: Vec<_> = lines
        .iter()
        .map(|line| miner.add_line(line).template_id)
        .collect();
    ids.into_iter()
        .map(|id| miner.resolve_id(id).unwrap_or(id).to_string())
        .collect()
}

/// Grouping accuracy: the share of lines whose predicted group has exactly the members of their
/// true group.
fn grouping_accuracy<P: Eq + Hash, T: Eq + Hash>(predicted: &[P], truth: &[T]) -> f64 {
    assert_eq!(predicted.len(), truth.len());
    let mut predicted_groups: HashMap<&P, Vec<usize>> = HashMap::new();
    for (index, label) in predicted.iter().enumerate() {
        predicted_groups.entry(label).or_default().push(index);
    }
    let mut truth_groups: HashMap<&T, Vec<usize>> = HashMap::new();
    for (index, label) in truth.iter().enumerate() {
        truth_groups.entry(label).or_default().push(index);
    }
    let correct: usize = predicted_groups
        .values()
        .filter(|members| truth_groups[&truth[members[0]]] == **members)
        .map(Vec::len)
        .sum();
    correct as f64 / predicted.len() as f64
}

#[test]
fn grouping_accuracy_stays_above_its_floor_on_every_dataset_and_on_the_mean() {
    let mut sums = [0.0; 3];
    let mut failures = Vec::new();
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "dataset", "original", "corrected", "raw", "templates", "truth"
    );
    for (name, measured) in MEASURED {
        let data = load(name);
        let content = predicted(&data.contents);
        let raw = predicted(&data.raw_lines);
        let scores = [
            grouping_accuracy(&content, &data.original),
            grouping_accuracy(&content, &data.corrected),
            grouping_accuracy(&raw, &data.original),
        ];
        let templates = content
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let truth = data
            .original
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        println!(
            "{name:<10} {:>9.4} {:>9.4} {:>9.4} {templates:>9} {truth:>6}",
            scores[0], scores[1], scores[2]
        );
        for (column, (score, expected)) in ["original", "corrected", "raw"]
            .iter()
            .zip(scores.iter().zip(measured))
        {
            if *score < expected - DATASET_SLACK {
                failures.push(format!(
                    "{name} {column}: {score:.4} < {expected:.4} - {DATASET_SLACK}"
                ));
            }
        }
        if scores[2] < scores[0] - RAW_LINE_SLACK {
            failures.push(format!(
                "{name} raw lines: {:.4} more than {RAW_LINE_SLACK} under the message column ({:.4})",
                scores[2], scores[0]
            ));
        }
        for (sum, score) in sums.iter_mut().zip(scores) {
            *sum += score;
        }
    }
    let means = sums.map(|sum| sum / DATASETS.len() as f64);
    println!(
        "{:<10} {:>9.4} {:>9.4} {:>9.4}",
        "mean", means[0], means[1], means[2]
    );
    for ((column, mean), floor) in ["original", "corrected", "raw"]
        .iter()
        .zip(means)
        .zip(MEAN_FLOOR)
    {
        if mean < floor {
            failures.push(format!("mean {column}: {mean:.4} < floor {floor}"));
        }
    }
    assert!(
        failures.is_empty(),
        "grouping accuracy regressed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn re_mining_every_sample_adds_no_templates_and_a_reload_matches_the_same_ids() {
    for name in DATASETS {
        let data = load(name);
        for lines in [&data.contents, &data.raw_lines] {
            let mut miner = TemplateMiner::default();
            for line in lines {
                miner.add_line(line);
            }
            let templates = miner.template_count();
            for line in lines {
                assert!(!miner.add_line(line).is_new, "{name}: {line}");
            }
            assert_eq!(miner.template_count(), templates, "{name}");
            // A restarted process that loads the saved state assigns every line the same id.
            let reloaded = TemplateMiner::from_json(&miner.to_json().unwrap()).unwrap();
            for line in lines {
                let id = miner.match_line(line);
                assert!(id.is_some(), "{name}: {line}");
                assert_eq!(reloaded.match_line(line), id, "{name}: {line}");
            }
        }
    }
}

/// The settings the leave-one-out check may choose from: the miner's three grouping settings over
/// their plausible ranges. The default is one of them.
fn candidate_configs() -> Vec<MinerConfig> {
    let mut configs = Vec::new();
    for similarity_threshold in [0.6, 0.7, 0.75, 0.8, 0.9] {
        for route_depth in [1, 2, 3] {
            for words_for_variable in [2, 3, 4, 5] {
                configs.push(MinerConfig {
                    similarity_threshold,
                    route_depth,
                    words_for_variable,
                    ..MinerConfig::default()
                });
            }
        }
    }
    configs
}

fn describe(config: &MinerConfig) -> String {
    format!(
        "threshold {:.2}, route depth {}, words {}",
        config.similarity_threshold, config.route_depth, config.words_for_variable
    )
}

/// Leave-one-out: for each dataset, the settings are chosen on the other seven only (the best mean
/// GA over them, from `candidate_configs`) and the held-out dataset is scored with that choice. A
/// default that generalises scores about the same held out as it does in the normal table; a
/// default fitted to the samples would not.
#[test]
fn leave_one_out_grouping_accuracy_stays_close_to_the_default() {
    let configs = candidate_configs();
    let data: Vec<Labelled> = DATASETS.iter().map(|name| load(name)).collect();
    // scores[config][dataset], Content column against the original labels.
    let scores: Vec<Vec<f64>> = configs
        .iter()
        .map(|config| {
            data.iter()
                .map(|dataset| {
                    grouping_accuracy(
                        &predicted_with(config.clone(), &dataset.contents),
                        &dataset.original,
                    )
                })
                .collect()
        })
        .collect();
    let default_index = configs
        .iter()
        .position(|config| *config == MinerConfig::default())
        .expect("the default is among the candidates");
    println!(
        "{:<10} {:>9} {:>13}  chosen on the other seven",
        "dataset", "default", "leave-one-out"
    );
    let (mut default_sum, mut held_out_sum) = (0.0, 0.0);
    let mut held_out_scores = Vec::new();
    for (held_out, name) in DATASETS.iter().enumerate() {
        let others_mean = |row: &Vec<f64>| {
            row.iter()
                .enumerate()
                .filter(|(index, _)| *index != held_out)
                .map(|(_, score)| score)
                .sum::<f64>()
                / (DATASETS.len() - 1) as f64
        };
        // Ties go to the earlier candidate, so nothing about the held-out set breaks them.
        let mut chosen = 0;
        for index in 1..configs.len() {
            if others_mean(&scores[index]) > others_mean(&scores[chosen]) + 1e-12 {
                chosen = index;
            }
        }
        let default_score = scores[default_index][held_out];
        let held_out_score = scores[chosen][held_out];
        println!(
            "{name:<10} {default_score:>9.4} {held_out_score:>13.4}  {}",
            describe(&configs[chosen])
        );
        default_sum += default_score;
        held_out_sum += held_out_score;
        held_out_scores.push(held_out_score);
    }
    let count = DATASETS.len() as f64;
    let (default_mean, held_out_mean) = (default_sum / count, held_out_sum / count);
    println!("{:<10} {default_mean:>9.4} {held_out_mean:>13.4}", "mean");
    // THEN settings chosen without the scored dataset do as well as the default, to within 0.02.
    assert!(
        held_out_mean >= LEAVE_ONE_OUT_FLOOR,
        "leave-one-out mean {held_out_mean:.4} < {LEAVE_ONE_OUT_FLOOR}"
    );
    assert!(
        (default_mean - held_out_mean).abs() <= 0.02,
        "default {default_mean:.4} and leave-one-out {held_out_mean:.4} differ by more than 0.02"
    );
}
