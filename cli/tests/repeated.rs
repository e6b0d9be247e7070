//! An alarm that fires 5,000 more times leaves a bounded trail: `argus incidents show` lists a
//! bounded number of records and the counted rest, `argus postmortem` reports every signal, and
//! `argus explain` of one more says it would be counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPEATS: i64 = 5_000;
const RECORD_BOUND: usize = 200;

fn home() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("argus-repeat-test-{}-{nanos}", std::process::id()))
}

fn argus(home: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ARGUS_CONFIG")
        .env_remove("ARGUS_ANALYST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "argus panicked: {stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into(),
    )
}

/// The sample CPU alarm, `n` seconds after its own time, as its own state transition.
fn alarm(n: i64) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let base = chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap()).unwrap();
    let at = (base + chrono::Duration::seconds(n))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    event["id"] = Value::String(format!("repeat-{n}"));
    event["time"] = Value::String(at.clone());
    event["detail"]["state"]["timestamp"] = Value::String(at);
    event
}

fn count_in(text: &str, prefix: &str) -> usize {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"));
    let digits: String = line
        .trim_start()
        .trim_start_matches(prefix)
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn attack_5000_repeats_of_an_alarm_are_counted_and_reported_everywhere() {
    let home = home();
    let events = home.join("events");
    std::fs::create_dir_all(&events).unwrap();
    for n in 0..=REPEATS {
        std::fs::write(
            events.join(format!("{n:06}.json")),
            serde_json::to_vec(&alarm(n)).unwrap(),
        )
        .unwrap();
    }
    let (code, replayed) = argus(
        &home,
        &[
            "--json",
            "replay",
            "--no-recovery",
            events.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0);
    let first: Value = serde_json::from_str(replayed.lines().next().unwrap()).unwrap();
    let id = first["report"]["signals"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, shown) = argus(&home, &["incidents", "show", &id]);
    assert_eq!(code, 0, "{shown}");
    let records = count_in(&shown, "audit trail (");
    assert!(records <= RECORD_BOUND, "{records} audit records");
    assert!(count_in(&shown, "signals (") <= RECORD_BOUND);
    assert_eq!(
        count_in(&shown, "counted, not recorded one by one ("),
        4_995,
        "{shown}"
    );
    assert!(shown.contains("chain      verified"), "{shown}");

    let (code, postmortem) = argus(&home, &["postmortem", &id]);
    assert_eq!(code, 0, "{postmortem}");
    assert!(postmortem.contains("| Signals | 5001"), "{postmortem}");
    assert!(
        postmortem.contains("- signal_attached: 5000 in all (5 recorded, 4995 counted between"),
        "{postmortem}"
    );
    assert!(postmortem.contains("Integrity: verified"), "{postmortem}");

    let one_more = home.join("one-more.json");
    std::fs::write(&one_more, serde_json::to_vec(&alarm(REPEATS + 1)).unwrap()).unwrap();
    let (code, explained) = argus(&home, &["explain", one_more.to_str().unwrap()]);
    assert_eq!(code, 0, "{explained}");
    assert!(
        explained.contains("(5002 signals, 4996 of them counted rather than recorded one by one)"),
        "{explained}"
    );
    std::fs::remove_dir_all(home).ok();
}
