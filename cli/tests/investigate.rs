//! `argus investigate`: the `--json` shape (exactly `{"candidates": [{"node", "score",
//! "evidence"}]}`, best first, empty when nothing is to blame), the readable output on both
//! snapshot layouts, `--help`, and clear errors on bad snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn argus(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(args)
        .env_remove("ARGUS_HOME")
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "argus panicked: {}",
        run.stderr
    );
    run
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample() -> PathBuf {
    root().join("events/scenarios/slow-dependency-redeployed")
}

fn scratch(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "argus-cli-investigate-{label}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_sample(label: &str) -> PathBuf {
    let dir = scratch(label);
    for file in [
        "graph.json",
        "metrics.csv",
        "normal.csv",
        "target.json",
        "changes.json",
    ] {
        std::fs::copy(sample().join(file), dir.join(file)).unwrap();
    }
    dir
}

fn investigate_json(dir: &Path) -> Value {
    let run = argus(&["investigate", dir.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(run.stdout.trim()).unwrap()
}

fn assert_shape(document: &Value) -> &Vec<Value> {
    let object = document.as_object().unwrap();
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["candidates"],
        "{document}"
    );
    let candidates = object["candidates"].as_array().unwrap();
    let mut previous = f64::INFINITY;
    for candidate in candidates {
        let fields = candidate.as_object().unwrap();
        let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["evidence", "node", "score"], "{candidate}");
        assert!(fields["node"].is_string());
        let score = fields["score"].as_f64().unwrap();
        assert!(score <= previous, "best first: {document}");
        previous = score;
        for item in fields["evidence"].as_array().unwrap() {
            assert!(item["id"].is_string() && item["text"].is_string(), "{item}");
        }
    }
    candidates
}

#[test]
fn json_lists_the_redeployed_dependency_first_with_its_evidence() {
    let document = investigate_json(&sample());
    let candidates = assert_shape(&document);
    assert_eq!(candidates[0]["node"], "pricing", "{document}");
    let ids: Vec<&str> = candidates[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"metric.pricing.latency"), "{ids:?}");
    assert!(ids.contains(&"topology.path.pricing"), "{ids:?}");
    assert!(
        ids.iter()
            .any(|id| id.starts_with("change.pricing.UpdateFunctionCode")),
        "{ids:?}"
    );
}

#[test]
fn json_is_an_empty_list_when_nothing_is_to_blame() {
    // GIVEN a window cut from the snapshot's own normal behaviour: a quiet hour.
    let dir = copy_sample("quiet");
    let normal = std::fs::read_to_string(dir.join("normal.csv")).unwrap();
    let mut times: Vec<i64> = normal
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    times.sort_unstable();
    times.dedup();
    let window: Vec<i64> = times[times.len() - 5..].to_vec();
    let mut metrics = String::from("node,metric,statistic,timestamp,value\n");
    for line in normal.lines().skip(1) {
        let time: i64 = line.split(',').nth(3).unwrap().parse().unwrap();
        if window.contains(&time) {
            metrics.push_str(line);
            metrics.push('\n');
        }
    }
    std::fs::write(dir.join("metrics.csv"), metrics).unwrap();
    std::fs::write(
        dir.join("target.json"),
        format!(r#"{{"node": "storefront", "metric": "latency", "statistic": "Average", "alert_time": {}}}"#, window[1] + 150),
    )
    .unwrap();
    let document = investigate_json(&dir);
    assert_eq!(document, serde_json::json!({"candidates": []}));
    let run = argus(&["investigate", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("No root-cause candidate"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_text_output_shows_the_path_evidence_and_changes() {
    let run = argus(&["investigate", sample().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "Alarm: storefront latency",
        "1. pricing",
        "storefront → orders-api → pricing",
        "UpdateAlias on pricing",
        "min before the alarm",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing from:\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_petshop_layout_folder_is_read_directly_by_both_methods() {
    let dir = scratch("petshop");
    let scenario = root().join("benches/petshop/low_traffic");
    std::fs::copy(scenario.join("graph.csv"), dir.join("graph.csv")).unwrap();
    std::fs::copy(scenario.join("noissue/metrics.csv"), dir.join("normal.csv")).unwrap();
    for file in ["metrics.csv", "target.json"] {
        std::fs::copy(scenario.join("train/issue_4").join(file), dir.join(file)).unwrap();
    }
    let run = argus(&["investigate", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("PetShop layout"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Root-cause candidates"),
        "{}",
        run.stdout
    );
    let run = argus(&[
        "investigate",
        dir.to_str().unwrap(),
        "--method",
        "baseline",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(document["candidates"].is_array());
    // Without normal.csv nothing can be called anomalous: said, not guessed.
    std::fs::remove_file(dir.join("normal.csv")).unwrap();
    let run = argus(&["investigate", dir.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stderr.contains("normal.csv"), "{}", run.stderr);
}

#[test]
fn bad_snapshots_give_a_clear_error_naming_the_file_and_line() {
    let dir = copy_sample("broken");
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let broken: Vec<String> = metrics
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 1 {
                line.replace(",latency,", ",latency,Average,")
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(dir.join("metrics.csv"), broken.join("\n")).unwrap();
    let run = argus(&["investigate", dir.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stderr.contains("metrics.csv:2:"), "{}", run.stderr);
    let run = argus(&[
        "investigate",
        dir.join("nowhere").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 2);
    let document: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(
        document["error"]
            .as_str()
            .unwrap()
            .contains("not a snapshot folder"),
        "{document}"
    );
}

#[test]
fn help_describes_investigate_and_its_benchmark() {
    let run = argus(&["investigate", "--help"]);
    assert_eq!(run.code, 0);
    for expected in [
        "SNAPSHOT",
        "graph.json",
        "PetShop",
        "--json",
        "--method",
        "candidates",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing from:\n{}",
            run.stdout
        );
    }
    let run = argus(&["investigate-bench", "--help"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("specificity") && run.stdout.contains("--runs"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_cpu_alarm_explained_in_its_recorded_world_shows_the_metric_that_moved_and_the_change() {
    let world = root().join("events/scenarios/instance-cpu-saturated");
    let home = std::env::temp_dir().join(format!(
        "argus-cpu-world-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let run = argus(&[
        "--home",
        home.to_str().unwrap(),
        "--json",
        "explain",
        "--snapshot",
        world.to_str().unwrap(),
        world.join("alarm.json").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let findings = lines[0]["report"]["signals"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["stage"] == "findings")
        .unwrap()
        .clone();
    assert!(
        findings["detail"]
            .as_str()
            .unwrap()
            .contains("1 change(s); 1 of 2 resource metric(s) away from normal"),
        "{findings}"
    );
    let items = lines
        .iter()
        .find_map(|line| line["analysis"]["context"]["items"].as_array())
        .unwrap();
    let text_of = |prefix: &str| {
        items
            .iter()
            .find(|item| item["id"].as_str().unwrap().starts_with(prefix))
            .map(|item| item["text"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {prefix} item in {items:?}"))
    };
    let cpu = text_of("metric.resource.CPUUtilization");
    assert!(cpu.contains("normal 14.70, now 99.10"), "{cpu}");
    assert!(
        cpu.contains("away from normal since 2019-10-02T16:49:00"),
        "{cpu}"
    );
    assert!(text_of("change.").contains("ModifyInstanceAttribute"));
}

/// Replays the scenario's alarm in the copied world `dir` (its own store), without running the
/// workflow, and answers the decision of its one signal.
fn replay_decision(dir: &Path) -> Value {
    let home = scratch("replay-home");
    let alarm = sample().join("alarm.json");
    let run = argus(&[
        "--home",
        &home.to_string_lossy(),
        "--json",
        "replay",
        "--no-recovery",
        "--at",
        "2026-03-14T10:07:40Z",
        "--snapshot",
        &dir.to_string_lossy(),
        &alarm.to_string_lossy(),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    report["report"]["signals"][0]["decision"].clone()
}

#[test]
fn a_replay_reads_the_recorded_tags_before_proposing() {
    // GIVEN the recorded world says pricing carries Argus' managed tag
    let dir = copy_sample("tags-managed");
    std::fs::write(
        dir.join("tags.json"),
        r#"{"lambda:function/pricing": {"argus:managed": "true"}}"#,
    )
    .unwrap();
    let decision = replay_decision(&dir);
    assert_eq!(
        decision["action"]["action"], "lambda.rollback_alias",
        "{decision}"
    );
    assert_eq!(decision["mode"], "approval");
    // WHEN it says pricing is not Argus' to act on, the rollback is withdrawn with the reason
    let dir = copy_sample("tags-unmanaged");
    std::fs::write(
        dir.join("tags.json"),
        r#"{"lambda:function/pricing": {"team": "pricing"}}"#,
    )
    .unwrap();
    let decision = replay_decision(&dir);
    assert!(decision["action"].is_null(), "{decision}");
    assert!(
        decision["reasons"].to_string().contains("managed tag"),
        "{decision}"
    );
    // AND a tags file naming an id outside its kind's grammar is a clear error
    let dir = copy_sample("tags-invalid");
    std::fs::write(
        dir.join("tags.json"),
        r#"{"ec2:instance/not-an-instance": {"argus:managed": "true"}}"#,
    )
    .unwrap();
    let run = argus(&[
        "--home",
        &scratch("replay-home").to_string_lossy(),
        "replay",
        "--no-recovery",
        "--snapshot",
        &dir.to_string_lossy(),
        &sample().join("alarm.json").to_string_lossy(),
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("tags.json"), "{}", run.stderr);
}
