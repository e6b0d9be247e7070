//! `argus` and analysis: a replay of every sample event prints its context size and makes exactly
//! one analysis per new incident; `explain` shows the context an analyst is given (with its
//! token estimate) and the validated assessment; `--analyst bedrock` refuses clearly without
//! AWS credentials or a region, and works when they are there (against a local Converse peer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn events_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn home(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "argus-cli-analysis-{label}-{}-{nanos}",
        std::process::id()
    ))
}

/// Runs `argus` with no AWS configuration from the caller: no credentials, no profile, no
/// instance metadata, so nothing can reach AWS; `env` adds what a test needs.
fn argus(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command.arg("--home").arg(home).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("ARGUS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
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

/// Every sample event except the deliberately invalid ones, in name order.
fn sample_events() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in std::fs::read_dir(events_folder()).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() || folder.ends_with("invalid") {
            continue;
        }
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "json") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_replay_of_each_sample_prints_its_context_size_and_analyses_each_new_incident_once() {
    let samples = sample_events();
    assert!(samples.len() >= 30, "{} samples", samples.len());
    let mut analysed = 0;
    for sample in &samples {
        let home = home("sample");
        let file = sample.to_string_lossy();
        let run = argus(
            &home,
            &["replay", "--at", "2026-11-22T06:00:00Z", &file],
            &[],
        );
        std::fs::remove_dir_all(&home).ok();
        // The one sample Argus does not take (a scheduled event) is refused as unsupported.
        if run.code == 3 {
            assert!(
                run.stderr.contains("UnsupportedEvent"),
                "{file}: {}",
                run.stderr
            );
            continue;
        }
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let opened = run.stdout.matches("=> opened").count();
        let assessments = run
            .stdout
            .lines()
            .filter(|line| line.trim_start().starts_with("assessment "))
            .count();
        let contexts: Vec<&str> = run
            .stdout
            .lines()
            .filter(|line| line.trim_start().starts_with("context "))
            .collect();
        assert_eq!(
            assessments, opened,
            "{file}: exactly one analysis per new incident\n{}",
            run.stdout
        );
        assert_eq!(contexts.len(), opened, "{file}: {}", run.stdout);
        for context in contexts {
            let tokens: usize = context
                .split('~')
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("{file}: no token estimate in `{context}`"));
            assert!(
                (500..=4_000).contains(&tokens),
                "{file}: ~{tokens} tokens is outside the default budget"
            );
        }
        analysed += opened;
    }
    assert!(analysed >= 20, "{analysed} sample incidents analysed");
}

#[test]
fn explain_shows_the_context_with_its_token_estimate_and_the_validated_assessment() {
    let home = home("explain");
    let alarm = events_folder().join("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let alarm = alarm.to_string_lossy();
    let run = argus(&home, &["explain", &alarm], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "what the analyst is given",
        "tokens of a 4000-token budget",
        "[signal] the signal",
        "[alarm.state] alarm state",
        "fenced as data",
        "validated  rules/v1",
        "proposal ec2.reboot on ec2:instance/i-12345678901234567",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing `{expected}`:\n{}",
            run.stdout
        );
    }
    let json = argus(&home, &["--json", "explain", &alarm], &[]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let analysis: Value = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|line| line.get("analysis").is_some())
        .expect("an analysis line");
    let analysis = &analysis["analysis"];
    assert!(analysis["estimated_tokens"].as_u64().unwrap() > 0);
    let user = analysis["request"]["user"].as_str().unwrap();
    assert!(user.contains("<data-") && user.contains("id=\"alarm.state\""));
    assert_eq!(analysis["assessment"]["assessment"]["analyst"], "rules/v1");
    let listed = argus(&home, &["incidents", "list"], &[]);
    assert_eq!(
        listed.stdout.trim(),
        "no incidents",
        "explain wrote nothing"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_bedrock_analyst_without_credentials_or_region_is_a_clear_usage_error() {
    let home = home("no-credentials");
    let alarm = events_folder().join("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let alarm = alarm.to_string_lossy();
    let run = argus(
        &home,
        &["replay", "--analyst", "bedrock", &alarm],
        &[("AWS_REGION", "us-east-1")],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs AWS credentials"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--analyst rules"), "{}", run.stderr);
    let run = argus(
        &home,
        &["explain", "--analyst", "bedrock", &alarm],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("needs an AWS region"), "{}", run.stderr);
    let listed = argus(&home, &["incidents", "list"], &[]);
    assert_eq!(
        listed.stdout.trim(),
        "no incidents",
        "nothing ran before the refusal"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_default_analyst_stays_the_rules() {
    let home = home("default");
    let alarm = events_folder().join("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let run = argus(&home, &["replay", &alarm.to_string_lossy()], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("assessment rules/v1"), "{}", run.stdout);
    std::fs::remove_dir_all(&home).ok();
}

/// A Converse peer on 127.0.0.1 that answers every request with one recorded tool answer.
#[cfg(feature = "bedrock")]
fn converse_peer(fixture: &str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let body = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/tests/fixtures/converse")
            .join(fixture),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (paths, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            loop {
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim_end().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut request = vec![0; length];
                reader.read_exact(&mut request).unwrap();
                let _ = paths.send(
                    request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string(),
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if writer.write_all(response.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (endpoint, received)
}

#[cfg(feature = "bedrock")]
#[test]
fn replay_with_the_bedrock_analyst_works_when_credentials_are_present() {
    let (endpoint, received) = converse_peer("tool-answer.json");
    let home = home("bedrock");
    let alarm = events_folder().join("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let run = argus(
        &home,
        &["replay", "--analyst", "bedrock", &alarm.to_string_lossy()],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("assessment bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0 says"),
        "{}",
        run.stdout
    );
    let path = received.try_recv().expect("one Converse request");
    assert!(path.ends_with("/converse"), "{path}");
    assert!(received.try_recv().is_err(), "exactly one Bedrock call");
    let shown = argus(&home, &["--json", "incidents", "list"], &[]);
    let incident: Value = serde_json::from_str(shown.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        incident["assessment"]["usage"]["input_tokens"], 1874,
        "the token usage is on the incident"
    );
    std::fs::remove_dir_all(&home).ok();
}
