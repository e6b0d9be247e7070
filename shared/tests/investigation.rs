//! Investigation: the snapshot reader on the PetShop training issues and on malformed files
//! (typed errors naming the file and line), localisation on small synthetic graphs, the
//! baseline, and the stage's deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::investigation::baseline::baseline;
use argus::investigation::localise::Verdict;
use argus::investigation::ports::TimeRange;
use argus::investigation::{
    CallGraph, Change, ChangeSource, InvestigationLimits, LocaliseConfig, MetricTable,
    MetricsSource, RecordedSnapshot, SeriesKey, SnapshotError, SnapshotLayout, SourceError, Target,
    TopologySource, investigate, localise,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn petshop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/petshop")
}

fn scratch(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "argus-investigation-{label}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PetShop-layout snapshot folder for one training issue: the scenario's graph and normal
/// metrics beside the issue's window and target.
fn petshop_snapshot(scenario: &str, issue: &str) -> PathBuf {
    let dir = scratch(&format!("{scenario}-{issue}"));
    let source = petshop().join(scenario);
    std::fs::copy(source.join("graph.csv"), dir.join("graph.csv")).unwrap();
    let normal = source.join("noissue/metrics.csv");
    if normal.is_file() {
        std::fs::copy(normal, dir.join("normal.csv")).unwrap();
    }
    let issue_dir = source.join("train").join(issue);
    std::fs::copy(issue_dir.join("metrics.csv"), dir.join("metrics.csv")).unwrap();
    std::fs::copy(issue_dir.join("target.json"), dir.join("target.json")).unwrap();
    dir
}

#[test]
fn the_reader_opens_every_petshop_training_issue() {
    let mut opened = 0;
    for scenario in [
        "low_traffic",
        "high_traffic",
        "temporal_traffic1",
        "temporal_traffic2",
    ] {
        let train = petshop().join(scenario).join("train");
        let mut issues: Vec<String> = std::fs::read_dir(&train)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        issues.sort();
        for issue in issues {
            let dir = petshop_snapshot(scenario, &issue);
            let snapshot =
                RecordedSnapshot::open(&dir).unwrap_or_else(|e| panic!("{scenario}/{issue}: {e}"));
            assert_eq!(snapshot.layout, SnapshotLayout::PetShop);
            let target = snapshot.target.as_ref().unwrap();
            assert_eq!(target.node, "PetSite");
            assert!(["latency", "availability"].contains(&target.metric.as_str()));
            assert_eq!(target.statistic, "Average");
            assert_eq!(snapshot.window.len(), 5, "{scenario}/{issue}: five buckets");
            assert_eq!(snapshot.window.period_seconds(), Some(300));
            // The alarm falls in the second bucket, as the dataset describes (row 2 is the
            // first bucket starting at or after it).
            let times = snapshot.window.timestamps();
            assert!(times[1] <= target.alert_time && target.alert_time < times[2]);
            assert!((41..=44).contains(&snapshot.graph.node_count()));
            assert!(
                snapshot
                    .graph
                    .dependencies("PetSite")
                    .contains("PetSearch_AWS::ECS::Fargate")
            );
            assert!(
                snapshot
                    .window
                    .series("PetSite", "latency", "p99")
                    .is_some()
            );
            assert!(
                snapshot
                    .window
                    .series("PetSite", "requests", "Sum")
                    .is_some()
            );
            match scenario {
                "low_traffic" | "high_traffic" => {
                    assert_eq!(snapshot.normal.as_ref().unwrap().len(), 589)
                }
                _ => assert!(
                    snapshot.normal.is_none(),
                    "the temporal scenarios have no normal file"
                ),
            }
            assert!(snapshot.changes.is_empty());
            std::fs::remove_dir_all(dir).ok();
            opened += 1;
        }
    }
    assert_eq!(opened, 20);
}

#[test]
fn the_petshop_target_never_carries_the_answer() {
    // GIVEN a target.json whose answer fields are present but broken THEN only `target` is
    // read: the answer is neither parsed into anything nor able to fail the read.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    std::fs::write(
        dir.join("target.json"),
        r#"{"target": {"node": "PetSite", "metric": "latency", "agg": "Average", "timestamp": 1681855803},
            "root_cause": {"node": ["not", "a", "string"]}, "metadata": 42}"#,
    )
    .unwrap();
    let snapshot = RecordedSnapshot::open(&dir).unwrap();
    let expected = Target {
        node: "PetSite".into(),
        metric: "latency".into(),
        statistic: "Average".into(),
        alert_time: 1_681_855_803,
    };
    assert_eq!(snapshot.target, Some(expected));
}

fn expect_malformed(dir: &Path, file: &str, line: Option<usize>, fragment: &str) {
    match RecordedSnapshot::open(dir) {
        Err(SnapshotError::Malformed {
            path,
            line: found,
            message,
        }) => {
            assert!(path.ends_with(file), "{} is not {file}", path.display());
            assert_eq!(found, line, "{message}");
            assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
            let shown = SnapshotError::Malformed {
                path,
                line: found,
                message,
            }
            .to_string();
            assert!(shown.contains(file), "{shown}");
            if let Some(line) = line {
                assert!(shown.contains(&format!(":{line}:")), "{shown}");
            }
        }
        other => panic!("expected a malformed {file}, got {other:?}"),
    }
}

fn rewrite(dir: &Path, file: &str, edit: impl Fn(&str) -> String) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
}

#[test]
fn malformed_petshop_files_name_the_file_and_line() {
    // A cell that is not a number, on the first bucket row (line 5).
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "metrics.csv", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        lines[4] = lines[4].replacen(",0.", ",fast", 1);
        lines.join("\n")
    });
    expect_malformed(&dir, "metrics.csv", Some(5), "not a number");

    // A row with a field missing.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "metrics.csv", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        let cut = lines[6].rfind(',').unwrap();
        lines[6].truncate(cut);
        lines.join("\n")
    });
    expect_malformed(&dir, "metrics.csv", Some(7), "expected");

    // Buckets out of order.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "metrics.csv", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        lines.swap(5, 6);
        lines.join("\n")
    });
    expect_malformed(&dir, "metrics.csv", Some(7), "increase");

    // A graph that is not square.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "graph.csv", |t| {
        t.lines().take(10).collect::<Vec<_>>().join("\n")
    });
    expect_malformed(&dir, "graph.csv", None, "square");

    // A graph cell that is not a number.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "graph.csv", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        lines[3] = lines[3].replacen(",0", ",x", 1);
        lines.join("\n")
    });
    expect_malformed(&dir, "graph.csv", Some(4), "not a number");

    // A broken target.json: the JSON error's line.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    std::fs::write(
        dir.join("target.json"),
        "{\n  \"target\": {\"node\": \"PetSite\",\n  \"metric\": }\n}",
    )
    .unwrap();
    expect_malformed(&dir, "target.json", Some(3), "");

    // A target.json without the target.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    std::fs::write(dir.join("target.json"), "{\"root_cause\": {}}").unwrap();
    expect_malformed(&dir, "target.json", Some(1), "target");

    // The normal file cut in its header.
    let dir = petshop_snapshot("low_traffic", "issue_0");
    rewrite(&dir, "normal.csv", |t| {
        t.lines().take(2).collect::<Vec<_>>().join("\n")
    });
    expect_malformed(&dir, "normal.csv", None, "statistic header");
}

#[test]
fn not_a_snapshot_and_unreadable_files_are_typed_errors() {
    let missing = std::env::temp_dir().join("argus-investigation-no-such-folder");
    assert!(matches!(
        RecordedSnapshot::open(&missing),
        Err(SnapshotError::NotASnapshot { .. })
    ));
    let empty = scratch("empty");
    let error = RecordedSnapshot::open(&empty).unwrap_err();
    assert_eq!(error.error_type(), "NotASnapshot");
    assert!(error.to_string().contains("graph.json"), "{error}");
    // graph.csv present, metrics.csv missing.
    std::fs::write(empty.join("graph.csv"), ",a\na,0\n").unwrap();
    let error = RecordedSnapshot::open(&empty).unwrap_err();
    assert_eq!(error.error_type(), "SnapshotUnreadable");
    assert!(error.to_string().contains("metrics.csv"), "{error}");
}

fn argus_snapshot(label: &str) -> PathBuf {
    let dir = scratch(label);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/scenarios/slow-dependency-redeployed");
    for file in [
        "graph.json",
        "metrics.csv",
        "normal.csv",
        "target.json",
        "changes.json",
    ] {
        std::fs::copy(sample.join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn malformed_argus_snapshot_files_name_the_file_and_line() {
    let dir = argus_snapshot("bad-header");
    rewrite(&dir, "metrics.csv", |t| {
        t.replacen("node,metric", "node,metrics", 1)
    });
    expect_malformed(&dir, "metrics.csv", Some(1), "header");

    let dir = argus_snapshot("bad-value");
    rewrite(&dir, "normal.csv", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        lines[9] = format!("{},slow", lines[9].rsplit_once(',').unwrap().0);
        lines.join("\n")
    });
    expect_malformed(&dir, "normal.csv", Some(10), "not a number");

    let dir = argus_snapshot("duplicate");
    rewrite(&dir, "metrics.csv", |t| {
        let second = t.lines().nth(1).unwrap().to_owned();
        format!("{t}{second}\n")
    });
    expect_malformed(&dir, "metrics.csv", Some(107), "second value");

    let dir = argus_snapshot("unknown-node");
    rewrite(&dir, "graph.json", |t| {
        t.replacen("\"callee\": \"pricing\"", "\"callee\": \"pricng\"", 1)
    });
    expect_malformed(&dir, "graph.json", None, "pricng");

    let dir = argus_snapshot("change-elsewhere");
    rewrite(&dir, "changes.json", |t| {
        t.replacen("\"node\": \"pricing\"", "\"node\": \"billing\"", 1)
    });
    expect_malformed(&dir, "changes.json", None, "billing");

    let dir = argus_snapshot("bad-time");
    std::fs::write(dir.join("target.json"), r#"{"node": "storefront", "metric": "latency", "statistic": "Average", "alert_time": "yesterday"}"#).unwrap();
    expect_malformed(&dir, "target.json", None, "alert_time");

    let dir = argus_snapshot("unknown-field");
    std::fs::write(dir.join("target.json"), "{\"node\": \"storefront\",\n\"metric\": \"latency\", \"statistic\": \"Average\",\n\"alert_time\": 1, \"root_cause\": \"x\"}").unwrap();
    expect_malformed(&dir, "target.json", Some(3), "root_cause");
}

#[tokio::test]
async fn the_sample_snapshot_blames_the_redeployed_dependency_with_its_changes() {
    let dir = argus_snapshot("sample");
    let snapshot = RecordedSnapshot::open(&dir).unwrap();
    assert_eq!(snapshot.layout, SnapshotLayout::Argus);
    let target = snapshot.target.clone().unwrap();
    let findings = investigate(
        &snapshot,
        &snapshot,
        &snapshot,
        &target,
        &InvestigationLimits::default(),
        &LocaliseConfig::default(),
    )
    .await;
    assert!(findings.missing.is_empty(), "{:?}", findings.missing);
    assert_eq!(
        findings.candidates[0].node, "pricing",
        "{:?}",
        findings.candidates
    );
    let ids: Vec<&str> = findings.candidates[0]
        .evidence
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert!(ids.contains(&"metric.pricing.latency"), "{ids:?}");
    assert!(ids.contains(&"topology.path.pricing"), "{ids:?}");
    assert!(
        ids.iter()
            .any(|id| id.starts_with("change.pricing.UpdateAlias")),
        "{ids:?}"
    );
    // The catalogue change an hour earlier is on a node nobody blames: not evidence.
    assert!(
        findings.changes.iter().all(|c| c.node == "pricing"),
        "{:?}",
        findings.changes
    );
    let evidence = findings.evidence();
    for prefix in ["topology.", "metric.", "change."] {
        assert!(
            evidence.iter().any(|e| e.id.starts_with(prefix)),
            "no {prefix} item"
        );
    }
    let unique: std::collections::BTreeSet<&str> = evidence.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unique.len(), evidence.len(), "evidence ids are unique");
}

// ---------------------------------------------------------------------------------------------
// Synthetic graphs.

/// Series for `nodes` over `rows` buckets of five minutes: latency Average, requests Sum,
/// availability Average; `latency(node, row)` gives the latency.
fn table(
    nodes: &[&str],
    rows: usize,
    start: i64,
    latency: impl Fn(&str, usize) -> f64,
) -> MetricTable {
    let timestamps: Vec<i64> = (0..rows).map(|r| start + 300 * r as i64).collect();
    let mut series = BTreeMap::new();
    for node in nodes {
        series.insert(
            SeriesKey::new(node, "latency", "Average"),
            (0..rows).map(|r| Some(latency(node, r))).collect(),
        );
        series.insert(
            SeriesKey::new(node, "requests", "Sum"),
            vec![Some(100.0); rows],
        );
        series.insert(
            SeriesKey::new(node, "availability", "Average"),
            vec![Some(100.0); rows],
        );
    }
    MetricTable::new(timestamps, series)
}

/// A deterministic wobble of ±3 % around `base`, different per row.
fn wobble(base: f64, row: usize) -> f64 {
    base * (1.0 + 0.03 * (((row * 7919) % 13) as f64 / 6.0 - 1.0))
}

const NODES: [&str; 5] = ["front", "api", "db", "cache", "auth"];

fn chain_graph() -> CallGraph {
    // front → api → db (the leaf two hops down); front → auth; api → cache.
    let mut graph = CallGraph::new();
    graph.add_call("front", "api");
    graph.add_call("api", "db");
    graph.add_call("api", "cache");
    graph.add_call("front", "auth");
    graph
}

fn base_latency(node: &str) -> f64 {
    match node {
        "front" => 0.200,
        "api" => 0.120,
        "db" => 0.010,
        "cache" => 0.002,
        _ => 0.030,
    }
}

fn normal() -> MetricTable {
    table(&NODES, 200, 1_000_000, |node, row| {
        wobble(base_latency(node), row)
    })
}

fn target(window: &MetricTable) -> Target {
    Target {
        node: "front".into(),
        metric: "latency".into(),
        statistic: "Average".into(),
        alert_time: window.timestamps()[1] + 150,
    }
}

#[test]
fn a_slow_leaf_two_hops_down_is_ranked_first() {
    // GIVEN db slows by 0.5 s from the alarm's bucket, and api and front slow with it.
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        let slow = (1..=3).contains(&row);
        let extra = match node {
            "db" | "api" | "front" if slow => 0.5,
            _ => 0.0,
        };
        wobble(base_latency(node), row + 3) + extra
    });
    let result = localise(
        &chain_graph(),
        &target(&window),
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap();
    assert_eq!(result.verdict, Verdict::Blamed);
    // THEN db comes first, and api (slow only because db is) scores next to nothing.
    assert_eq!(result.candidates[0].node, "db", "{:?}", result.candidates);
    let db = result.candidates[0].score;
    assert!(
        result
            .candidates
            .iter()
            .filter(|c| c.node == "api")
            .all(|c| c.score < db / 10.0),
        "{:?}",
        result.candidates
    );
    let path = &result.candidates[0]
        .evidence
        .iter()
        .find(|e| e.id == "topology.path.db")
        .unwrap()
        .text;
    assert!(path.contains("front → api → db"), "{path}");
    // The baseline agrees on this easy case.
    assert_eq!(
        baseline(&chain_graph(), &target(&window), &window, &normal())[0].node,
        "db"
    );
}

#[test]
fn nothing_anomalous_gives_an_empty_list() {
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        wobble(base_latency(node), row + 5)
    });
    let result = localise(
        &chain_graph(),
        &target(&window),
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap();
    assert!(result.candidates.is_empty(), "{:?}", result.candidates);
    assert!(matches!(result.verdict, Verdict::TargetLooksNormal { .. }));
}

#[test]
fn an_alarm_nothing_downstream_explains_blames_nobody_downstream() {
    // GIVEN only the front end is slow (its own fault) and a dependency barely moves.
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        wobble(base_latency(node), row)
            + if node == "front" && row >= 1 {
                0.8
            } else {
                0.0
            }
    });
    let result = localise(
        &chain_graph(),
        &target(&window),
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap();
    assert!(result.candidates.is_empty(), "{:?}", result.candidates);
    assert_eq!(result.verdict, Verdict::NothingDownstream);
}

#[test]
fn a_condition_older_than_the_alarm_does_not_explain_it() {
    // GIVEN auth was already slow before the alarm (while front was fine) and stays so, and db
    // slows with the alarm.
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        let extra = match node {
            "auth" => 0.9,
            "db" | "api" | "front" if row >= 1 => 0.4,
            _ => 0.0,
        };
        wobble(base_latency(node), row) + extra
    });
    let result = localise(
        &chain_graph(),
        &target(&window),
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap();
    assert_eq!(result.candidates[0].node, "db", "{:?}", result.candidates);
}

#[test]
fn a_cycle_in_the_graph_does_not_loop() {
    // GIVEN api and db call each other, db calls itself, and db calls back to front.
    let mut graph = chain_graph();
    graph.add_call("db", "api");
    graph.add_call("db", "db");
    graph.add_call("db", "front");
    let dependencies = graph.dependencies("front");
    assert!(!dependencies.contains("front"));
    assert_eq!(dependencies.len(), 4);
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        wobble(base_latency(node), row)
            + if ["db", "api", "front"].contains(&node) && row >= 1 {
                0.5
            } else {
                0.0
            }
    });
    let started = Instant::now();
    let result = localise(
        &graph,
        &target(&window),
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap();
    let ranked = baseline(&graph, &target(&window), &window, &normal());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Both ends of the api ⇄ db cycle explain each other, so neither hands the blame on for
    // good; what matters here is that both methods finish and rank within the graph.
    assert!(!result.candidates.is_empty());
    assert!(
        result
            .candidates
            .iter()
            .all(|c| dependencies.contains(&c.node))
    );
    assert!(ranked.iter().all(|c| dependencies.contains(&c.node)));
}

#[test]
fn unsupported_metrics_and_missing_normal_are_typed_errors() {
    let window = table(&NODES, 5, 2_000_000, |node, row| {
        wobble(base_latency(node), row)
    });
    let mut cpu = target(&window);
    cpu.metric = "cpu".into();
    let error = localise(
        &chain_graph(),
        &cpu,
        &window,
        &normal(),
        &LocaliseConfig::default(),
    )
    .unwrap_err();
    assert_eq!(error.error_type(), "UnsupportedMetric");
    let error = localise(
        &chain_graph(),
        &target(&window),
        &window,
        &MetricTable::default(),
        &LocaliseConfig::default(),
    )
    .unwrap_err();
    assert_eq!(error.error_type(), "NoNormalBehaviour");
}

// ---------------------------------------------------------------------------------------------
// The stage's deadline.

struct Silent;

#[async_trait]
impl TopologySource for Silent {
    async fn call_graph(&self, _: &str, _: TimeRange) -> Result<CallGraph, SourceError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(CallGraph::new())
    }
}

#[async_trait]
impl MetricsSource for Silent {
    async fn window(&self, _: &[String], _: TimeRange) -> Result<MetricTable, SourceError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(MetricTable::default())
    }
    async fn normal(&self, _: &[String], _: TimeRange) -> Result<Option<MetricTable>, SourceError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(None)
    }
}

#[async_trait]
impl ChangeSource for Silent {
    async fn changes(&self, _: &[String], _: TimeRange) -> Result<Vec<Change>, SourceError> {
        Err(SourceError::Unavailable {
            source_name: "CloudTrail",
            message: "throttled".into(),
        })
    }
}

#[tokio::test]
async fn sources_that_do_not_answer_in_time_are_recorded_as_missing() {
    let dir = argus_snapshot("deadline");
    let snapshot = RecordedSnapshot::open(&dir).unwrap();
    let target = snapshot.target.clone().unwrap();
    let limits = InvestigationLimits {
        deadline: Duration::from_millis(200),
        ..InvestigationLimits::default()
    };
    let started = Instant::now();
    // GIVEN the graph answers but metrics never do and changes fail.
    let findings = investigate(
        &snapshot,
        &Silent,
        &Silent,
        &target,
        &limits,
        &LocaliseConfig::default(),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let missing: Vec<&str> = findings.missing.iter().map(|m| m.source.as_str()).collect();
    assert!(
        missing.contains(&"metrics") && missing.contains(&"changes"),
        "{missing:?}"
    );
    assert!(findings.candidates.is_empty());
    assert!(
        findings
            .evidence()
            .iter()
            .any(|e| e.id == "investigation.missing.metrics")
    );
    // GIVEN the graph never answers.
    let findings = investigate(
        &Silent,
        &snapshot,
        &snapshot,
        &target,
        &limits,
        &LocaliseConfig::default(),
    )
    .await;
    assert_eq!(findings.missing[0].source, "topology");
    assert!(
        findings.missing[0].reason.contains("deadline"),
        "{:?}",
        findings.missing
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
