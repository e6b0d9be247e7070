//! `argus logs mine` and `argus logs bench` end to end: counts, ordering, per-line ids that agree
//! within a group, CRLF, invalid UTF-8, empty input, standard input and JSON output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn argus(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(args)
        .env_remove("ARGUS_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut input = child.stdin.take().unwrap();
        // A child that fails early (a usage error) stops reading: its exit code and output say
        // what happened, so a closed pipe here is not the test's failure.
        if let Err(error) = input.write_all(bytes) {
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
        }
    }
    let output = child.wait_with_output().unwrap();
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

fn file_with(name: &str, bytes: &[u8]) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "argus-logs-test-{}-{nanos}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Three connection lines (one template), two disk lines, one unique line; CRLF line ends, a
/// line with invalid UTF-8, and no line end after the last line.
const SAMPLE: &[u8] = b"Connection closed by 10.0.0.7 port 5122\r\n\
disk /dev/sda1 is 91% full\r\n\
Connection closed by 10.0.0.8 port 22\r\n\
worker \xff\xfe started\r\n\
Connection closed by 10.0.0.9 port 40022\r\n\
disk /dev/sdb2 is 97% full";

#[test]
fn mine_prints_templates_most_frequent_first_with_counts() {
    let path = file_with("sample.log", SAMPLE);
    let run = argus(&["logs", "mine", path.to_str().unwrap()], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].trim_start().starts_with("3 t-"), "{}", run.stdout);
    assert!(
        lines[0].contains("Connection closed by <IP> port <NUM>"),
        "{}",
        run.stdout
    );
    assert!(lines[1].trim_start().starts_with("2 t-"), "{}", run.stdout);
    assert!(lines[2].contains("worker \u{fffd}"), "{}", run.stdout);
    assert!(
        !run.stdout.contains('\r'),
        "CR is not part of any template: {:?}",
        run.stdout
    );
    std::fs::remove_file(path).ok();
}

#[test]
fn per_line_prints_one_final_id_per_input_line() {
    // The last line, the fourth user name, shows that the name varies: the templates the first
    // lines got fold into one, so their ids change after they were printed in a streaming design;
    // per-line output must resolve them.
    let input = b"session opened for user alice by uid 0\n\
session opened for user bob by uid 0\n\
session closed for user alice\n\
\n\
session opened for user carol by uid 0\n\
session opened for user dave by uid 0\n";
    let run = argus(&["logs", "mine", "--per-line", "-"], Some(input));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(ids.len(), 6, "one id per input line: {}", run.stdout);
    assert!(ids.iter().all(|id| id.starts_with("t-") && id.len() == 18));
    assert_eq!(ids[0], ids[1], "lines of one group print the same id");
    assert_eq!(ids[0], ids[4]);
    assert_eq!(ids[0], ids[5]);
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[3], ids[2], "the empty line has a template of its own");
    // The ids printed per line are the ids of the template list.
    let listed = argus(&["--json", "logs", "mine", "-"], Some(input));
    let templates: HashMap<String, u64> = listed
        .stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (
                value["template_id"].as_str().unwrap().to_string(),
                value["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(templates.get(ids[0]), Some(&4), "{}", listed.stdout);
}

#[test]
fn per_line_and_json_agree_and_ids_are_stable_across_runs() {
    let path = file_with("stable.log", SAMPLE);
    let first = argus(
        &["logs", "mine", "--per-line", path.to_str().unwrap()],
        None,
    );
    let second = argus(
        &[
            "--json",
            "logs",
            "mine",
            "--per-line",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(first.code, 0);
    let from_json: Vec<String> = second
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["template_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let plain: Vec<String> = first.stdout.lines().map(str::to_string).collect();
    assert_eq!(plain.len(), 6);
    assert_eq!(
        plain, from_json,
        "the same input gives the same ids in every run"
    );
    std::fs::remove_file(path).ok();
}

#[test]
fn empty_input_has_no_templates_and_succeeds() {
    for args in [
        vec!["logs", "mine", "-"],
        vec!["logs", "mine", "--per-line", "-"],
    ] {
        let run = argus(&args, Some(b""));
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn top_limits_the_list_and_a_missing_file_is_a_usage_error() {
    let path = file_with("top.log", SAMPLE);
    let run = argus(
        &["logs", "mine", "--top", "1", path.to_str().unwrap()],
        None,
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let missing = argus(&["logs", "mine", "/no/such/file.log"], None);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
    let folder = argus(
        &["logs", "mine", std::env::temp_dir().to_str().unwrap()],
        None,
    );
    assert_eq!(folder.code, 2, "{}", folder.stderr);
    std::fs::remove_file(path).ok();
}

#[test]
fn bench_reports_mining_and_the_floor_from_one_run() {
    let mut text = Vec::new();
    for index in 0..2000 {
        writeln!(
            text,
            "request {index} from 10.0.{}.{} took {}ms",
            index % 7,
            index % 250,
            index % 900
        )
        .unwrap();
    }
    let path = file_with("bench.log", &text);
    let run = argus(
        &[
            "--json",
            "logs",
            "bench",
            "--repeats",
            "3",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["lines"], 2000);
    assert_eq!(report["templates"], 1);
    assert!(report["floor_lines_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["mining_lines_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["mining_cost_over_floor"].as_f64().unwrap() > 0.0);
    let text_run = argus(
        &["logs", "bench", "--repeats", "1", path.to_str().unwrap()],
        None,
    );
    assert!(text_run.stdout.contains("lines/s"), "{}", text_run.stdout);
    assert!(text_run.stdout.contains("floor"), "{}", text_run.stdout);
    let from_stdin = argus(&["logs", "bench", "-"], Some(b"x\n"));
    assert_eq!(from_stdin.code, 2, "bench reads a file several times");
    std::fs::remove_file(path).ok();
}
