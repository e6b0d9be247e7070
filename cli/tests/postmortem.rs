//! `argus postmortem` end to end: a sample alarm replayed with a pinned clock and an approval
//! gives exactly the post-mortem kept in `snapshots/` (set ARGUS_UPDATE_SNAPSHOTS=1 to rewrite
//! it after a deliberate change), the structured form with `--json`, and exit 4 for an unknown
//! incident.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const ALARM: &str = "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json";
const ALARM_ID: &str = "20191002T170440Z-alarm-aws-ec2-cpuutilization-103962c29b21";
/// Twenty seconds after the sample alarm fired, so time to detect reads like a real one.
const PINNED: &str = "2019-10-02T17:05:00Z";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn home() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("argus-pm-test-{}-{nanos}", std::process::id()))
}

fn event(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn argus(home: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ARGUS_CONFIG")
        .env_remove("ARGUS_ANALYST")
        // The local approver is the user running the replay.
        .env("USER", "sre-oncall")
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

/// A home where the sample alarm was replayed with the clock pinned and `extra` flags.
fn replayed(extra: &[&str]) -> (PathBuf, Run) {
    let home = home();
    let mut args = vec!["replay", "--at", PINNED];
    args.extend_from_slice(extra);
    let path = event(ALARM);
    args.push(&path);
    let run = argus(&home, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (home, run)
}

#[test]
fn an_approved_replay_gives_the_post_mortem_in_the_snapshot() {
    // GIVEN the sample alarm replayed with --approve in a world where the reboot works
    let (home, replay) = replayed(&["--approve"]);
    // THEN the replay ends by naming the command that prints its post-mortem
    assert!(
        replay
            .stdout
            .contains(&format!("postmortem {ALARM_ID}    # resolved")),
        "{}",
        replay.stdout
    );
    // WHEN its post-mortem is printed
    let run = argus(&home, &["postmortem", ALARM_ID]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // THEN it is exactly the reviewed snapshot, byte for byte
    let snapshot =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/postmortem-approved.md");
    if std::env::var_os("ARGUS_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &run.stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap();
    assert_eq!(
        run.stdout,
        expected,
        "the post-mortem differs from {}",
        snapshot.display()
    );
    // AND printing it again gives the same bytes
    assert_eq!(argus(&home, &["postmortem", ALARM_ID]).stdout, expected);
}

#[test]
fn json_gives_the_structured_post_mortem_on_one_line() {
    let (home, _) = replayed(&["--approve"]);
    let run = argus(&home, &["postmortem", ALARM_ID, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let postmortem: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(postmortem["correlation_id"], ALARM_ID);
    assert_eq!(postmortem["status"], "resolved");
    let steps: Vec<(&str, Option<&str>)> = postmortem["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["step"].as_str().unwrap(), entry["at"].as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("first_signal", Some("2019-10-02T17:04:40.989Z")),
            ("detected", Some("2019-10-02T17:05:00Z")),
            ("analysed", Some("2019-10-02T17:05:00Z")),
            ("decided", Some("2019-10-02T17:05:00Z")),
            ("approval_requested", Some("2019-10-02T17:05:00.200Z")),
            ("approved", Some("2019-10-02T17:06:30.200Z")),
            ("acted", Some("2019-10-02T17:06:30.900Z")),
            ("verified", Some("2019-10-02T17:10:37.699Z")),
            ("resolved", Some("2019-10-02T17:10:37.699Z")),
        ]
    );
    assert_eq!(postmortem["response"]["approval"]["approver"], "sre-oncall");
    assert_eq!(postmortem["metrics"]["time_to_detect_seconds"], 19);
    assert_eq!(postmortem["metrics"]["time_to_recover_seconds"], 338);
    assert_eq!(postmortem["audit"]["verdict"]["verdict"], "intact");
    // The pending approval's task token is a bearer credential: it never reaches a post-mortem.
    assert!(!run.stdout.contains("token:"), "{}", run.stdout);
}

#[test]
fn a_rejected_approval_shows_who_rejected_it_and_nothing_that_did_not_happen() {
    let (home, replay) = replayed(&["--reject"]);
    assert!(replay.stdout.contains("# escalated"), "{}", replay.stdout);
    let run = argus(&home, &["postmortem", ALARM_ID]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "| 2019-10-02 17:06:30 | rejected | rejected by sre-oncall via local |",
        "| — | acted | ec2.reboot on ec2:instance/i-12345678901234567 was not run |",
        "| — | verified | not reached |",
        "| — | resolved | not resolved: the incident is escalated |",
        "- [ ] sre-oncall rejected the proposed action",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing `{expected}` in\n{}",
            run.stdout
        );
    }
}

#[test]
fn an_incident_the_source_cleared_is_resolved_without_an_action() {
    let home = home();
    let (alarm, ok) = (
        event(ALARM),
        event("cloudwatch-alarm/eventbridge-metric-alarm-OK.json"),
    );
    let run = argus(
        &home,
        &["replay", "--at", PINNED, "--no-recovery", &alarm, &ok],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("postmortem {ALARM_ID}    # resolved")),
        "{}",
        run.stdout
    );
    let run = argus(&home, &["postmortem", ALARM_ID, "--json"]);
    let postmortem: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let timeline = postmortem["timeline"].as_array().unwrap();
    let step = |name: &str| timeline.iter().find(|entry| entry["step"] == name).unwrap();
    assert!(step("acted")["at"].is_null());
    assert_eq!(step("resolved")["at"], "2019-10-02T17:05:01Z");
    assert_eq!(postmortem["impact"]["signals"], 2);
    assert_eq!(postmortem["metrics"]["time_to_recover_seconds"], 1);
}

#[test]
fn an_unknown_incident_exits_4_and_a_malformed_id_exits_2() {
    let home = home();
    let unknown = "20191002T170440Z-alarm-aws-ec2-cpuutilization-000000000000";
    let run = argus(&home, &["postmortem", unknown]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("no incident {unknown}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = argus(&home, &["postmortem", unknown, "--json"]);
    assert_eq!(run.code, 4);
    let error: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(error["exit_code"], 4);
    let run = argus(&home, &["postmortem", "not an id"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
