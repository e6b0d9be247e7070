//! Untrusted text on the operator's terminal (issue 20, item 1) and secrets in `argus logs mine`
//! (item 4): an alarm named with terminal control sequences is replayed, explained, listed,
//! shown and written up, and no command prints a raw control character, while `--json` still
//! says exactly what the alarm was named; a log full of secrets is mined and none is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An OSC that retitles the window (ended by BEL), a CSI that clears the screen, a C1 CSI, a
/// right-to-left override and an invisible tag character.
const HOSTILE_NAME: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2JCpuHigh\u{9b}31m\u{202e}gnp.exe\u{e0041}";

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "argus-untrusted-{}-{nanos}-{name}",
        std::process::id()
    ))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn argus(home: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ARGUS_CONFIG")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
    }
}

/// The characters a terminal acts on; tab and line ends between lines are fine.
fn raw_controls(text: &str) -> Vec<String> {
    text.chars()
        .filter(|&c| c != '\n' && c != '\t' && argus::escape::is_hidden_or_control(c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect()
}

fn assert_no_raw_controls(what: &str, run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let found = raw_controls(text);
        assert!(
            found.is_empty(),
            "{what} wrote {found:?} raw to {stream}: {text:?}"
        );
    }
}

/// The sample ALARM event with its alarm named `name`, written to a file.
fn hostile_event(name: &str) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    event["detail"]["alarmName"] = Value::from(name);
    event["detail"]["configuration"]["description"] = Value::from(name);
    event["detail"]["state"]["reason"] = Value::from(format!("reason {name}"));
    let path = scratch("event.json");
    std::fs::write(&path, serde_json::to_vec(&event).unwrap()).unwrap();
    path
}

#[test]
fn control_sequences_in_an_alarm_name_never_reach_the_terminal_raw() {
    // GIVEN an alarm whose name rewrites a terminal's title and clears its screen
    let home = scratch("home");
    let event = hostile_event(HOSTILE_NAME);
    let event = event.to_str().unwrap();
    let at = ["--at", "2019-10-02T17:05:00Z"];

    // WHEN it is explained and replayed (approved, so the post-mortem is complete)
    let explain = argus(&home, &["explain", event, at[0], at[1]]);
    assert_no_raw_controls("explain", &explain);
    let replay = argus(&home, &["replay", event, at[0], at[1], "--approve"]);
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    // THEN the text output shows the sequences escaped, visibly
    assert_no_raw_controls("replay", &replay);
    assert!(
        replay.stdout.contains("\\x1b]0;pwned\\x07\\x1b[2JCpuHigh"),
        "{}",
        replay.stdout
    );

    // AND so do the commands that read the incident back
    let listed = argus(&home, &["--json", "incidents", "list"]);
    let incident: Value = serde_json::from_str(listed.stdout.lines().next().unwrap()).unwrap();
    let id = incident["id"].as_str().unwrap().to_string();
    for args in [
        vec!["incidents", "list"],
        vec!["incidents", "show", &id],
        vec!["postmortem", &id],
    ] {
        let run = argus(&home, &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_no_raw_controls(&args.join(" "), &run);
    }

    // AND --json stays exact JSON: no raw control character, the same name once parsed
    // (The post-mortem quotes untrusted text flattened to one clean line by design, so only
    // its JSON validity is checked.)
    let postmortem = argus(&home, &["--json", "postmortem", &id]);
    assert_no_raw_controls("--json postmortem", &postmortem);
    let _: Value = serde_json::from_str(postmortem.stdout.trim()).unwrap();
    for args in [
        vec!["--json", "replay", event, at[0], at[1]],
        vec!["--json", "incidents", "show", &id],
    ] {
        let run = argus(&home, &args);
        assert_no_raw_controls(&args.join(" "), &run);
        let parsed: Vec<Value> = run
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        assert!(
            parsed.iter().any(|value| value.to_string().contains(
                &serde_json::to_string(HOSTILE_NAME)
                    .unwrap()
                    .trim_matches('"')
                    .to_string()
            )),
            "{args:?} lost the exact name: {}",
            run.stdout
        );
    }
}

#[test]
fn logs_mine_prints_no_secret_and_no_control_sequence() {
    let log = scratch("secrets.log");
    let mut text = String::new();
    // The same secrets on every line, so the miner keeps them in its template text.
    for _ in 0..3 {
        text.push_str("db login failed password: hunter2 user=app\n");
        text.push_str("connect postgres://app:pw0rd@db:5432/x refused\n");
        text.push_str("token bucket refilled\n");
        text.push_str("request X-Api-Key: abc123xyz accepted\n");
        text.push_str("\u{1b}]0;pwned\u{7} worker started\n");
    }
    std::fs::write(&log, text).unwrap();
    let home = scratch("logs-home");
    for json in [false, true] {
        let mut args = vec!["logs", "mine", log.to_str().unwrap()];
        if json {
            args.insert(0, "--json");
        }
        let run = argus(&home, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_no_raw_controls("logs mine", &run);
        for secret in ["hunter2", "pw0rd", "abc123xyz"] {
            assert!(
                !run.stdout.contains(secret),
                "{secret} printed: {}",
                run.stdout
            );
        }
        assert!(
            run.stdout.contains("token bucket refilled"),
            "{}",
            run.stdout
        );
    }
}
