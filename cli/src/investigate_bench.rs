//! `argus investigate-bench DIR`: root-cause localisation measured on the PetShop dataset, Argus'
//! method and the dataset's baseline side by side, from one command.
//!
//! - **Recall** on the training issues: top-1 / top-3 = share of issues whose injected root
//!   cause is ranked first / in the first three (an empty list is a miss). The answer
//!   (`root_cause.node`) is read here, by the scorer, and never handed to a method.
//! - **Specificity** on quiet windows cut from normal operation (`noissue/metrics.csv`): the
//!   share where nothing is blamed. The rows a window is cut from are held out: the method's
//!   normal is only the rows before the window. Two cuts: windows shaped like the issues (five
//!   buckets, the alarm in the second, one every half hour over the second half of the file),
//!   and the dataset authors' own protocol (six splits from the middle, the window being the
//!   rest of the file, the alarm at its third row). The temporal scenarios have no normal file
//!   here, so their specificity cannot be measured, and their issues are localised against
//!   the pooled normal of the two other scenarios (the same application recorded at other
//!   times), for both methods.
//! - **Robustness**: every configuration of a grid around the defaults, and a
//!   leave-one-scenario-out choice (pick the configuration best on three scenarios, report it
//!   on the fourth), to show the result does not hinge on values fitted to these answers.
//! - **Time**: the stage (reading the files, then localisation through the ports) on one
//!   issue, median of `--runs` runs, in this process.

use crate::commands::{CliError, EXIT_INVALID_EVENT, EXIT_OK};
use argus::investigation::baseline::baseline;
use argus::investigation::snapshot::{read_adjacency_csv, read_petshop_target, read_wide_metrics};
use argus::investigation::{
    CallGraph, Candidate, InvestigationLimits, LocaliseConfig, MetricTable, RecordedSnapshot,
    SnapshotLayout, Target, investigate, localise,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SCENARIOS: [&str; 4] = [
    "low_traffic",
    "high_traffic",
    "temporal_traffic1",
    "temporal_traffic2",
];
const METRICS: [&str; 2] = ["latency", "availability"];
/// Quiet windows shaped like the issues: five buckets, one every six buckets (half an hour).
const QUIET_WINDOW_ROWS: usize = 5;
const QUIET_WINDOW_STEP: usize = 6;

struct Issue {
    name: String,
    target: Target,
    window: MetricTable,
    /// The injected root cause: for scoring only.
    answer: String,
}

struct Scenario {
    name: &'static str,
    graph: CallGraph,
    /// The scenario's own normal file, when the folder has one.
    normal: Option<MetricTable>,
    issues: Vec<Issue>,
}

fn load_error(error: impl std::fmt::Display) -> CliError {
    CliError::new(EXIT_INVALID_EVENT, error.to_string())
}

/// The answer, read by the scorer from the same file whose `target` the method gets.
fn read_answer(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| load_error(format!("{}: {e}", path.display())))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| load_error(format!("{}: {e}", path.display())))?;
    value
        .pointer("/root_cause/node")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            load_error(format!(
                "{}: no root_cause.node to score against",
                path.display()
            ))
        })
}

fn load(dataset: &Path) -> Result<Vec<Scenario>, CliError> {
    let mut scenarios = Vec::new();
    for name in SCENARIOS {
        let folder = dataset.join(name);
        let graph = read_adjacency_csv(&folder.join("graph.csv")).map_err(load_error)?;
        let normal_path = folder.join("noissue").join("metrics.csv");
        let normal = if normal_path.is_file() {
            Some(read_wide_metrics(&normal_path).map_err(load_error)?)
        } else {
            None
        };
        let train = folder.join("train");
        let mut issue_dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(&train)
            .map_err(|e| load_error(format!("{}: {e}", train.display())))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let file_name = entry.file_name();
                let number = file_name.to_str()?.strip_prefix("issue_")?.parse().ok()?;
                Some((number, entry.path()))
            })
            .collect();
        issue_dirs.sort();
        let mut issues = Vec::new();
        for (number, dir) in issue_dirs {
            issues.push(Issue {
                name: format!("issue_{number}"),
                target: read_petshop_target(&dir.join("target.json")).map_err(load_error)?,
                window: read_wide_metrics(&dir.join("metrics.csv")).map_err(load_error)?,
                answer: read_answer(&dir.join("target.json"))?,
            });
        }
        scenarios.push(Scenario {
            name,
            graph,
            normal,
            issues,
        });
    }
    Ok(scenarios)
}

/// Ranked node names by one method.
type Method<'a> = dyn Fn(&CallGraph, &Target, &MetricTable, &MetricTable) -> Vec<Candidate> + 'a;

fn argus_method(
    config: &LocaliseConfig,
) -> impl Fn(&CallGraph, &Target, &MetricTable, &MetricTable) -> Vec<Candidate> + '_ {
    move |graph, target, window, normal| {
        localise(graph, target, window, normal, config)
            .map(|l| l.candidates)
            .unwrap_or_default()
    }
}

fn baseline_method(
    graph: &CallGraph,
    target: &Target,
    window: &MetricTable,
    normal: &MetricTable,
) -> Vec<Candidate> {
    baseline(graph, target, window, normal)
}

#[derive(Clone, Debug, Default, Serialize)]
struct Recall {
    issues: usize,
    top1: usize,
    top3: usize,
    empty: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Specificity {
    windows: usize,
    quiet: usize,
}

impl Specificity {
    fn share(&self) -> Option<f64> {
        (self.windows > 0).then(|| self.quiet as f64 / self.windows as f64)
    }
}

#[derive(Clone, Debug, Serialize)]
struct Cell {
    scenario: &'static str,
    metric: &'static str,
    argus: Recall,
    baseline: Recall,
    /// `None` when the scenario has no normal file.
    argus_quiet: Option<Specificity>,
    baseline_quiet: Option<Specificity>,
    argus_quiet_authors: Option<Specificity>,
    baseline_quiet_authors: Option<Specificity>,
    argus_misses: Vec<String>,
}

fn pooled_normal(scenarios: &[Scenario]) -> Option<MetricTable> {
    let own: Vec<&MetricTable> = scenarios.iter().filter_map(|s| s.normal.as_ref()).collect();
    let (first, rest) = own.split_first()?;
    Some(
        rest.iter()
            .fold((*first).clone(), |pooled, next| pooled.concat(next)),
    )
}

fn recall(
    scenario: &Scenario,
    metric: &str,
    normal: &MetricTable,
    method: &Method<'_>,
    misses: &mut Vec<String>,
) -> Recall {
    let mut result = Recall::default();
    for issue in scenario.issues.iter().filter(|i| i.target.metric == metric) {
        let ranked = method(&scenario.graph, &issue.target, &issue.window, normal);
        result.issues += 1;
        if ranked.is_empty() {
            result.empty += 1;
        }
        let position = ranked.iter().position(|c| c.node == issue.answer);
        if position == Some(0) {
            result.top1 += 1;
        } else {
            misses.push(format!(
                "{}: ranked {}",
                issue.name,
                ranked.first().map_or("nothing", |c| c.node.as_str())
            ));
        }
        if position.is_some_and(|p| p < 3) {
            result.top3 += 1;
        }
    }
    result
}

/// The targets a scenario's issues alarm on, for this metric (node, statistic).
fn targets(scenario: &Scenario, metric: &str) -> BTreeSet<(String, String)> {
    scenario
        .issues
        .iter()
        .filter(|i| i.target.metric == metric)
        .map(|i| (i.target.node.clone(), i.target.statistic.clone()))
        .collect()
}

fn quiet_issue_shaped(
    scenario: &Scenario,
    metric: &str,
    method: &Method<'_>,
) -> Option<Specificity> {
    let normal = scenario.normal.as_ref()?;
    let rows = normal.len();
    let mut result = Specificity::default();
    for (node, statistic) in targets(scenario, metric) {
        let mut start = rows / 2;
        while start + QUIET_WINDOW_ROWS <= rows {
            let window = normal.rows(start..start + QUIET_WINDOW_ROWS);
            let held_normal = normal.rows(0..start);
            let target = Target {
                node: node.clone(),
                metric: metric.to_owned(),
                statistic: statistic.clone(),
                // Half way through the second bucket, as in the issues.
                alert_time: window.timestamps()[1] + window.period_seconds().unwrap_or(300) / 2,
            };
            result.windows += 1;
            if method(&scenario.graph, &target, &window, &held_normal).is_empty() {
                result.quiet += 1;
            }
            start += QUIET_WINDOW_STEP;
        }
    }
    Some(result)
}

fn quiet_authors(scenario: &Scenario, metric: &str, method: &Method<'_>) -> Option<Specificity> {
    let normal = scenario.normal.as_ref()?;
    let rows = normal.len();
    let step = (rows / 10).max(1);
    let mut result = Specificity::default();
    for (node, statistic) in targets(scenario, metric) {
        let mut split = rows / 2;
        while split < rows.saturating_sub(3) {
            let window = normal.rows(split..rows);
            let target = Target {
                node: node.clone(),
                metric: metric.to_owned(),
                statistic: statistic.clone(),
                alert_time: window.timestamps()[2],
            };
            result.windows += 1;
            if method(&scenario.graph, &target, &window, &normal.rows(0..split)).is_empty() {
                result.quiet += 1;
            }
            split += step;
        }
    }
    Some(result)
}

fn evaluate(
    scenarios: &[Scenario],
    pooled: Option<&MetricTable>,
    config: &LocaliseConfig,
    with_baseline: bool,
) -> Vec<Cell> {
    let argus = argus_method(config);
    let mut cells = Vec::new();
    for scenario in scenarios {
        let Some(normal) = scenario.normal.as_ref().or(pooled) else {
            continue;
        };
        for metric in METRICS {
            let mut argus_misses = Vec::new();
            let mut ignored = Vec::new();
            let (baseline_recall, baseline_quiet, baseline_quiet_authors) = if with_baseline {
                (
                    recall(scenario, metric, normal, &baseline_method, &mut ignored),
                    quiet_issue_shaped(scenario, metric, &baseline_method),
                    quiet_authors(scenario, metric, &baseline_method),
                )
            } else {
                (Recall::default(), None, None)
            };
            cells.push(Cell {
                scenario: scenario.name,
                metric,
                argus: recall(scenario, metric, normal, &argus, &mut argus_misses),
                baseline: baseline_recall,
                argus_quiet: quiet_issue_shaped(scenario, metric, &argus),
                baseline_quiet,
                argus_quiet_authors: if with_baseline {
                    quiet_authors(scenario, metric, &argus)
                } else {
                    None
                },
                baseline_quiet_authors,
                argus_misses,
            });
        }
    }
    cells
}

#[derive(Clone, Debug, Serialize)]
struct GridRow {
    target_z: f64,
    candidate_z: f64,
    horizon_buckets: usize,
    caller_view_weight: f64,
    /// The lowest top-1 over the eight cells, and the lowest issue-shaped specificity.
    worst_top1: f64,
    worst_specificity: f64,
    /// Per scenario: (top-1 over its issues, specificity over its quiet windows).
    per_scenario: Vec<(String, f64, Option<f64>)>,
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn grid(scenarios: &[Scenario], pooled: Option<&MetricTable>) -> Vec<GridRow> {
    let mut rows = Vec::new();
    for target_z in [1.5, 2.0, 3.0] {
        for candidate_z in [4.0, 5.0, 6.0] {
            for horizon_buckets in [2, 3, 4] {
                for caller_view_weight in [0.5, 1.0] {
                    let config = LocaliseConfig {
                        target_z,
                        candidate_z,
                        horizon_buckets,
                        caller_view_weight,
                    };
                    let cells = evaluate(scenarios, pooled, &config, false);
                    let worst_top1 = cells
                        .iter()
                        .map(|c| ratio(c.argus.top1, c.argus.issues))
                        .fold(1.0, f64::min);
                    let worst_specificity = cells
                        .iter()
                        .filter_map(|c| c.argus_quiet.as_ref().and_then(Specificity::share))
                        .fold(1.0, f64::min);
                    let per_scenario = SCENARIOS
                        .iter()
                        .map(|name| {
                            let mine: Vec<&Cell> =
                                cells.iter().filter(|c| c.scenario == *name).collect();
                            let (hits, issues) = mine
                                .iter()
                                .fold((0, 0), |(h, n), c| (h + c.argus.top1, n + c.argus.issues));
                            let (quiet, windows) = mine
                                .iter()
                                .filter_map(|c| c.argus_quiet.as_ref())
                                .fold((0, 0), |(q, w), s| (q + s.quiet, w + s.windows));
                            (
                                (*name).to_owned(),
                                ratio(hits, issues),
                                (windows > 0).then(|| ratio(quiet, windows)),
                            )
                        })
                        .collect();
                    rows.push(GridRow {
                        target_z,
                        candidate_z,
                        horizon_buckets,
                        caller_view_weight,
                        worst_top1,
                        worst_specificity,
                        per_scenario,
                    });
                }
            }
        }
    }
    rows
}

#[derive(Clone, Debug, Serialize)]
struct HeldOut {
    scenario: String,
    chosen: String,
    top1: f64,
    specificity: Option<f64>,
}

/// For each scenario: the grid configuration with the best mean of top-1 and specificity over
/// the *other* scenarios (ties: the one listed first, i.e. nearest the start of the grid),
/// reported on the held-out one.
fn leave_one_scenario_out(grid: &[GridRow]) -> Vec<HeldOut> {
    SCENARIOS
        .iter()
        .enumerate()
        .filter_map(|(held, name)| {
            let objective = |row: &GridRow| -> f64 {
                let others: Vec<f64> = row
                    .per_scenario
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != held)
                    .flat_map(|(_, (_, top1, spec))| [Some(*top1), *spec].into_iter().flatten())
                    .collect();
                others.iter().sum::<f64>() / others.len().max(1) as f64
            };
            let best = grid.iter().fold(None::<&GridRow>, |best, row| match best {
                Some(b) if objective(b) >= objective(row) => Some(b),
                _ => Some(row),
            })?;
            let (_, top1, specificity) = best.per_scenario.get(held)?.clone();
            Some(HeldOut {
                scenario: (*name).to_owned(),
                chosen: describe(best),
                top1,
                specificity,
            })
        })
        .collect()
}

fn describe(row: &GridRow) -> String {
    format!(
        "target_z {}, candidate_z {}, horizon {}, caller-view weight {}",
        row.target_z, row.candidate_z, row.horizon_buckets, row.caller_view_weight
    )
}

#[derive(Clone, Debug, Serialize)]
struct Timing {
    issue: String,
    runs: usize,
    read_median_ms: f64,
    stage_median_ms: f64,
    localise_median_ms: f64,
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn time_stage(dataset: &Path, runs: usize) -> Result<Timing, CliError> {
    let scenario = dataset.join("low_traffic");
    let issue = scenario.join("train").join("issue_0");
    let (mut reads, mut stages, mut localisations) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let graph = read_adjacency_csv(&scenario.join("graph.csv")).map_err(load_error)?;
        let window = read_wide_metrics(&issue.join("metrics.csv")).map_err(load_error)?;
        let normal =
            read_wide_metrics(&scenario.join("noissue").join("metrics.csv")).map_err(load_error)?;
        let target = read_petshop_target(&issue.join("target.json")).map_err(load_error)?;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
        let snapshot = RecordedSnapshot {
            layout: SnapshotLayout::PetShop,
            graph,
            window,
            normal: Some(normal),
            target: Some(target.clone()),
            changes: Vec::new(),
            resource_metrics: None,
        };
        let started = Instant::now();
        let findings = investigate(
            &snapshot,
            &snapshot,
            &snapshot,
            &target,
            &InvestigationLimits::default(),
            &LocaliseConfig::default(),
        )
        .await;
        stages.push(started.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(findings);
        if let Some(normal) = snapshot.normal.as_ref() {
            let started = Instant::now();
            let result = localise(
                &snapshot.graph,
                &target,
                &snapshot.window,
                normal,
                &LocaliseConfig::default(),
            );
            localisations.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(result.ok());
        }
    }
    Ok(Timing {
        issue: "low_traffic/train/issue_0".to_owned(),
        runs: runs.max(1),
        read_median_ms: median_ms(reads),
        stage_median_ms: median_ms(stages),
        localise_median_ms: median_ms(localisations),
    })
}

fn fraction(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.2} ({part}/{whole})", part as f64 / whole as f64)
    }
}

fn quiet_text(quiet: Option<&Specificity>) -> String {
    quiet.map_or_else(
        || "no normal file".to_owned(),
        |s| fraction(s.quiet, s.windows),
    )
}

/// Runs the benchmark and prints the report.
pub async fn run(dataset: &Path, runs: usize, json: bool) -> Result<u8, CliError> {
    let scenarios = load(dataset)?;
    let pooled = pooled_normal(&scenarios);
    let cells = evaluate(
        &scenarios,
        pooled.as_ref(),
        &LocaliseConfig::default(),
        true,
    );
    let grid = grid(&scenarios, pooled.as_ref());
    let held_out = leave_one_scenario_out(&grid);
    let timing = time_stage(dataset, runs).await?;
    if json {
        outln!(
            "{}",
            serde_json::json!({"cells": cells, "grid": grid, "leave_one_scenario_out": held_out, "timing": timing})
        );
        return Ok(EXIT_OK);
    }
    outln!("Recall on the training issues (top-1 / top-3; an empty list is a miss):");
    outln!();
    outln!(
        "| scenario | metric | issues | Argus top-1 | Argus top-3 | baseline top-1 | baseline top-3 |"
    );
    outln!("|---|---|---|---|---|---|---|");
    for cell in &cells {
        outln!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell.scenario,
            cell.metric,
            cell.argus.issues,
            fraction(cell.argus.top1, cell.argus.issues),
            fraction(cell.argus.top3, cell.argus.issues),
            fraction(cell.baseline.top1, cell.baseline.issues),
            fraction(cell.baseline.top3, cell.baseline.issues),
        );
    }
    outln!();
    outln!(
        "Specificity (share of quiet windows cut from normal operation where nothing is blamed; the window's rows are held out of the normal the method sees):"
    );
    outln!();
    outln!(
        "| scenario | metric | Argus, issue-shaped windows | baseline, issue-shaped windows | Argus, authors' protocol | baseline, authors' protocol |"
    );
    outln!("|---|---|---|---|---|---|");
    for cell in &cells {
        outln!(
            "| {} | {} | {} | {} | {} | {} |",
            cell.scenario,
            cell.metric,
            quiet_text(cell.argus_quiet.as_ref()),
            quiet_text(cell.baseline_quiet.as_ref()),
            quiet_text(cell.argus_quiet_authors.as_ref()),
            quiet_text(cell.baseline_quiet_authors.as_ref()),
        );
    }
    let misses: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.argus_misses
                .iter()
                .map(move |m| format!("{}/{}", c.scenario, m))
        })
        .collect();
    outln!();
    outln!(
        "Argus top-1 misses: {}",
        if misses.is_empty() {
            "none".to_owned()
        } else {
            misses.join("; ")
        }
    );
    outln!();
    let defaults = LocaliseConfig::default();
    let at_least = |threshold: f64| {
        grid.iter()
            .filter(|r| r.worst_top1 >= threshold && r.worst_specificity >= threshold)
            .count()
    };
    outln!(
        "Robustness: of {} configurations around the default (target_z 1.5/2/3, candidate_z 4/5/6, horizon 2/3/4 buckets, caller-view weight 0.5/1), {} keep top-1 and specificity ≥ 0.9 in every cell, {} ≥ 0.8. Worst cell per configuration:",
        grid.len(),
        at_least(0.9),
        at_least(0.8)
    );
    outln!();
    outln!(
        "| target_z | candidate_z | horizon | caller-view weight | worst top-1 | worst specificity |"
    );
    outln!("|---|---|---|---|---|---|");
    for row in &grid {
        let is_default = row.target_z == defaults.target_z
            && row.candidate_z == defaults.candidate_z
            && row.horizon_buckets == defaults.horizon_buckets
            && row.caller_view_weight == defaults.caller_view_weight;
        outln!(
            "| {} | {} | {} | {} | {:.2} | {:.2} |{}",
            row.target_z,
            row.candidate_z,
            row.horizon_buckets,
            row.caller_view_weight,
            row.worst_top1,
            row.worst_specificity,
            if is_default { " ← default" } else { "" }
        );
    }
    outln!();
    outln!(
        "Leave one scenario out (the configuration best on the other three, reported on the held-out one):"
    );
    outln!();
    outln!("| held out | configuration chosen | top-1 | specificity |");
    outln!("|---|---|---|---|");
    for row in &held_out {
        outln!(
            "| {} | {} | {:.2} | {} |",
            row.scenario,
            row.chosen,
            row.top1,
            row.specificity
                .map_or_else(|| "no normal file".to_owned(), |s| format!("{s:.2}"))
        );
    }
    outln!();
    outln!(
        "Stage time on {} ({} runs, medians): reading the four files {:.2} ms; the stage through the ports (graph, window, normal, changes, localisation) {:.2} ms, of which localisation {:.2} ms.",
        timing.issue,
        timing.runs,
        timing.read_median_ms,
        timing.stage_median_ms,
        timing.localise_median_ms
    );
    Ok(EXIT_OK)
}
