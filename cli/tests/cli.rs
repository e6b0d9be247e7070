//! `argus` end to end on the sample events: the timeline, duplicates, attachment, the budget
//! under flapping, explain writing nothing, incident inspection, and clear errors on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn events(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative)
}

fn home() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("argus-cli-test-{}-{nanos}", std::process::id()))
}

/// `argus --home HOME ARGS…` with no configuration from the environment.
fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ARGUS_CONFIG");
    command
}

fn argus(home: &Path, args: &[&str]) -> Run {
    let output = command(home, args).output().unwrap();
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

fn path(relative: &str) -> String {
    events(relative).to_string_lossy().into_owned()
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

fn correlation_id(line: &Value) -> String {
    line["report"]["signals"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn replaying_an_alarm_prints_the_incident_and_the_workflow_start() {
    let home = home();
    let run = argus(
        &home,
        &[
            "replay",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "signal",
        "new incident",
        "assessment",
        "decision",
        "started execution",
        "=> opened incident",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing `{expected}` in:\n{}",
            run.stdout
        );
    }
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn the_same_alarm_again_is_a_duplicate_and_a_new_alarm_event_attaches() {
    let home = home();
    let alarm = path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let first = json_lines(&argus(&home, &["--json", "replay", &alarm]).stdout);
    let id = correlation_id(&first[0]);
    let again = argus(&home, &["--json", "replay", &alarm]);
    assert_eq!(again.code, 0);
    let again = json_lines(&again.stdout);
    assert_eq!(again[0]["report"]["signals"][0]["outcome"], "duplicate");
    assert_eq!(
        correlation_id(&again[0]),
        id,
        "the duplicate names the same incident"
    );
    let other = json_lines(
        &argus(
            &home,
            &[
                "--json",
                "replay",
                &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM-again.json"),
            ],
        )
        .stdout,
    );
    assert_eq!(other[0]["report"]["signals"][0]["outcome"], "attached");
    assert_eq!(correlation_id(&other[0]), id);
    // The text form says the same.
    let text = argus(&home, &["replay", &alarm]);
    assert!(
        text.stdout.contains(&format!("=> duplicate incident {id}")),
        "{}",
        text.stdout
    );
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn a_flapping_alarm_spends_the_budget_then_only_escalates() {
    let home = home();
    let folder = home.join("flaps");
    std::fs::create_dir_all(&folder).unwrap();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(events(
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
        ))
        .unwrap(),
    )
    .unwrap();
    for flap in 0..20 {
        for (offset, state) in [(0, "ALARM"), (30, "OK")] {
            let mut event = template.clone();
            let at = format!("2026-11-22T06:{:02}:{:02}.000Z", flap, offset);
            event["id"] = Value::String(format!("flap-{flap}-{state}"));
            event["detail"]["state"]["value"] = Value::String(state.into());
            event["detail"]["state"]["timestamp"] = Value::String(at);
            let file = folder.join(format!("{flap:02}-{offset:02}-{state}.json"));
            std::fs::write(file, serde_json::to_string(&event).unwrap()).unwrap();
        }
    }
    let run = argus(
        &home,
        &[
            "--json",
            "replay",
            "--at",
            "2026-11-22T06:00:00Z",
            folder.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 40);
    let decisions: Vec<&Value> = lines
        .iter()
        .map(|line| &line["report"]["signals"][0])
        .filter(|signal| signal["outcome"] == "opened")
        .map(|signal| &signal["decision"])
        .collect();
    assert_eq!(
        decisions.len(),
        20,
        "every ALARM after an OK opens an incident"
    );
    let remediations = decisions
        .iter()
        .filter(|decision| !decision["action"].is_null())
        .count();
    assert_eq!(
        remediations, 3,
        "the default budget is 3 attempts per window"
    );
    for decision in decisions.iter().skip(3) {
        assert!(
            decision["action"].is_null() && decision["escalate"] == true,
            "after the budget only escalation: {decision}"
        );
    }
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn bad_input_gives_a_clear_error_and_a_non_zero_exit() {
    let home = home();
    for (file, mentions) in [
        ("invalid/malformed.json", "not valid JSON"),
        ("invalid/unknown-detail-type.json", "unsupported event"),
        (
            "invalid/alarm-missing-state.json",
            "missing field `detail.state`",
        ),
        (
            "invalid/cloudtrail-missing-event-name.json",
            "missing field `detail.eventName`",
        ),
    ] {
        let run = argus(&home, &["replay", &path(file)]);
        assert_eq!(run.code, 3, "{file}: {}", run.stderr);
        assert!(run.stderr.contains(mentions), "{file}: {}", run.stderr);
    }
    let missing = argus(&home, &["replay", "no-such-file.json"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no such event file"),
        "{}",
        missing.stderr
    );
    // One bad file among good ones: the good ones are still processed.
    let mixed = argus(
        &home,
        &[
            "--json",
            "replay",
            &path("invalid/malformed.json"),
            &path("ec2-state-change/stopped.json"),
        ],
    );
    assert_eq!(mixed.code, 3);
    assert!(
        mixed.stdout.contains("\"outcome\":\"opened\""),
        "{}",
        mixed.stdout
    );
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn explain_shows_the_path_and_writes_nothing() {
    let home = home();
    let run = argus(
        &home,
        &[
            "explain",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("explain (nothing is written)"));
    assert!(run.stdout.contains("new incident"));
    let listed = argus(&home, &["incidents", "list"]);
    assert_eq!(listed.stdout.trim(), "no incidents");
    // Against an existing store, explain sees the open incident but leaves it untouched.
    argus(
        &home,
        &[
            "replay",
            "--no-recovery",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
        ],
    );
    let explained = argus(
        &home,
        &[
            "explain",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-OK.json"),
        ],
    );
    assert!(
        explained.stdout.contains("=> resolved"),
        "{}",
        explained.stdout
    );
    let open = argus(&home, &["incidents", "list", "--open"]);
    assert!(open.stdout.contains("awaiting_approval"), "{}", open.stdout);
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn incidents_can_be_listed_and_shown_with_a_verified_audit_trail() {
    let home = home();
    let first = json_lines(
        &argus(
            &home,
            &[
                "--json",
                "replay",
                &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
            ],
        )
        .stdout,
    );
    let id = correlation_id(&first[0]);
    argus(
        &home,
        &[
            "replay",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-OK.json"),
        ],
    );
    let list = argus(&home, &["incidents", "list", "--status", "resolved"]);
    assert!(list.stdout.contains(&id), "{}", list.stdout);
    let show = argus(&home, &["incidents", "show", &id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    for expected in ["status     resolved", "audit trail", "chain      verified"] {
        assert!(
            show.stdout.contains(expected),
            "missing `{expected}`:\n{}",
            show.stdout
        );
    }
    let shown = json_lines(&argus(&home, &["--json", "incidents", "show", &id]).stdout);
    assert_eq!(shown[0]["chain"]["verdict"], "intact");
    let unknown = argus(
        &home,
        &["incidents", "show", "20261122T000000Z-nothing-000000000000"],
    );
    assert_eq!(unknown.code, 4);
    let malformed = argus(&home, &["incidents", "show", "not-an-id"]);
    assert_eq!(malformed.code, 2);
    let bad_status = argus(&home, &["incidents", "list", "--status", "sleeping"]);
    assert_eq!(bad_status.code, 2);
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn a_person_resolves_an_incident_that_nothing_clears() {
    let home = home();
    let opened = json_lines(
        &argus(
            &home,
            &[
                "--json",
                "replay",
                "--no-recovery",
                &path("cloudtrail/ec2-TerminateInstances.json"),
            ],
        )
        .stdout,
    );
    let id = correlation_id(&opened[0]);
    let no_reason = argus(&home, &["incidents", "resolve", &id, "--reason", " "]);
    assert_eq!(no_reason.code, 2, "{}", no_reason.stderr);
    let resolved = argus(
        &home,
        &[
            "incidents",
            "resolve",
            &id,
            "--reason",
            "terminated on purpose",
            "--by",
            "alice",
        ],
    );
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    assert!(
        resolved.stdout.contains("resolved incident"),
        "{}",
        resolved.stdout
    );
    let show = argus(&home, &["incidents", "show", &id]);
    for expected in [
        "status     resolved",
        "resolved by alice: terminated on purpose",
        "chain      verified",
    ] {
        assert!(
            show.stdout.contains(expected),
            "missing `{expected}`:\n{}",
            show.stdout
        );
    }
    let again = argus(
        &home,
        &["--json", "incidents", "resolve", &id, "--reason", "again"],
    );
    assert_eq!(again.code, 0);
    assert_eq!(json_lines(&again.stdout)[0]["outcome"], "already_closed");
    let unknown = argus(
        &home,
        &[
            "incidents",
            "resolve",
            "20261122T000000Z-nothing-000000000000",
            "--reason",
            "x",
        ],
    );
    assert_eq!(unknown.code, 4);
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn help_explains_every_command() {
    let home = home();
    for command in [
        vec!["--help"],
        vec!["replay", "--help"],
        vec!["explain", "--help"],
        vec!["incidents", "list", "--help"],
        vec!["incidents", "show", "--help"],
        vec!["incidents", "resolve", "--help"],
        vec!["catalogue", "--help"],
        vec!["config", "defaults", "--help"],
    ] {
        let run = argus(&home, &command);
        assert_eq!(run.code, 0, "{command:?}");
        assert!(run.stdout.contains("Usage:"), "{command:?}: {}", run.stdout);
    }
    let top = argus(&home, &["--help"]);
    assert!(top.stdout.contains("Exit codes"), "{}", top.stdout);
}

#[test]
fn configuration_defaults_round_trip_and_bad_configuration_is_refused() {
    let home = home();
    std::fs::create_dir_all(&home).unwrap();
    let defaults = argus(&home, &["config", "defaults"]);
    let parsed: Value = serde_json::from_str(&defaults.stdout).unwrap();
    assert_eq!(parsed["budget"]["max_attempts"], 3);
    let file = home.join("policy.json");
    std::fs::write(&file, &defaults.stdout).unwrap();
    assert_eq!(
        argus(
            &home,
            &["--config", file.to_str().unwrap(), "config", "show"]
        )
        .code,
        0
    );
    std::fs::write(&file, r#"{"budget": {"max_attempt": 2}}"#).unwrap();
    let bad = argus(
        &home,
        &[
            "--config",
            file.to_str().unwrap(),
            "replay",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("max_attempt"), "{}", bad.stderr);
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn replay_runs_the_recovery_workflow_in_the_chosen_world() {
    let home = home();
    let alarm = path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let approved = argus(&home, &["replay", "--approve", &alarm]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    for expected in [
        "local execution of statemachines/recovery.asl.json",
        "Request approval",
        "Reboot EC2 instance",
        "Verify recovery",
        "Record recovery",
        "=> recovered and verified at",
    ] {
        assert!(
            approved.stdout.contains(expected),
            "missing `{expected}`:\n{}",
            approved.stdout
        );
    }
    std::fs::remove_dir_all(&home).ok();

    // A stopped instance that stays broken: the start is rolled back and people are paged.
    let broken = json_lines(
        &argus(
            &home,
            &[
                "--json",
                "replay",
                "--approve",
                "--world",
                "stays-broken",
                &path("ec2-state-change/stopped.json"),
            ],
        )
        .stdout,
    );
    let visited: Vec<&str> = broken[0]["recovery"][0]["record"]["visits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|visit| visit["state"].as_str().unwrap())
        .collect();
    for state in [
        "Start EC2 instance",
        "Roll back: stop EC2 instance",
        "Escalate to on-call",
        "Record escalation",
    ] {
        assert!(visited.contains(&state), "missing {state} in {visited:?}");
    }
    assert_eq!(broken[0]["recovery"][0]["final_status"], "escalated");
    std::fs::remove_dir_all(&home).ok();

    // Without an answer (no terminal here) the approval times out and fails closed.
    let unanswered = argus(&home, &["replay", &alarm]);
    assert!(
        unanswered.stdout.contains("nobody answered"),
        "{}",
        unanswered.stdout
    );
    assert!(
        unanswered.stdout.contains("Escalate to on-call"),
        "{}",
        unanswered.stdout
    );
    assert!(
        !unanswered.stdout.contains("Reboot EC2 instance"),
        "{}",
        unanswered.stdout
    );
    std::fs::remove_dir_all(&home).ok();

    let rejected = argus(&home, &["replay", "--reject", &alarm]);
    assert!(
        rejected.stdout.contains("rejected by"),
        "{}",
        rejected.stdout
    );
    assert!(
        !rejected.stdout.contains("Reboot EC2 instance"),
        "{}",
        rejected.stdout
    );
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn replay_shows_the_auto_budget_and_already_closed_paths() {
    let home = home();
    let status_check = path("cloudwatch-alarm/eventbridge-status-check-failed-ALARM.json");
    let trusting = path("scenarios/trust-confident-actions.policy.json");
    let auto = argus(&home, &["--config", &trusting, "replay", &status_check]);
    assert!(auto.stdout.contains("decision   auto"), "{}", auto.stdout);
    assert!(!auto.stdout.contains("Request approval"), "{}", auto.stdout);
    assert!(
        auto.stdout.contains("=> recovered and verified"),
        "{}",
        auto.stdout
    );
    std::fs::remove_dir_all(&home).ok();

    let spent = argus(
        &home,
        &[
            "--config",
            &path("scenarios/no-remediation-budget.policy.json"),
            "replay",
            &status_check,
        ],
    );
    assert!(
        spent.stdout.contains("Escalate to on-call"),
        "{}",
        spent.stdout
    );
    assert!(
        !spent.stdout.contains("Reboot EC2 instance"),
        "{}",
        spent.stdout
    );
    std::fs::remove_dir_all(&home).ok();

    let late = argus(
        &home,
        &[
            "replay",
            "--defer-recovery",
            &status_check,
            &path("cloudwatch-alarm/eventbridge-status-check-failed-OK.json"),
        ],
    );
    assert!(
        late.stdout.contains("Incident already closed"),
        "{}",
        late.stdout
    );
    assert!(
        late.stdout.contains("=> nothing was run"),
        "{}",
        late.stdout
    );
    std::fs::remove_dir_all(home).ok();
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let home = home();
    let replayed = argus(
        &home,
        &[
            "replay",
            &path("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json"),
        ],
    );
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    // The pipe's reading end is closed before argus starts, so its first write fails as it
    // does under `argus incidents list | head -1` once `head` has exited.
    for args in [
        &["incidents", "list"][..],
        &["--json", "incidents", "list"][..],
        &["catalogue"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = command(&home, args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn an_event_without_an_id_replays_with_its_derived_id_shown_and_de_duplicates() {
    // GIVEN one CloudTrail record without eventID, then the same record in a log file
    let home = home();
    let run = argus(
        &home,
        &[
            "replay",
            "--no-recovery",
            &path("tolerant/cloudtrail-single-record-without-event-id.json"),
            &path("tolerant/cloudtrail-records-without-event-id.json"),
        ],
    );
    // THEN both are accepted, the id is shown as derived, and the second is the same event
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("event cloudtrail:derived-sha256-"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("its id was derived from its content"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("=> duplicate incident"),
        "{}",
        run.stdout
    );
}

#[test]
fn every_new_aws_sample_replays_without_being_refused() {
    // ECS, RDS, Spot, Auto Scaling and Parameter Store samples: problems open incidents,
    // healthy events clear or are ignored with a reason, and nothing exits non-zero.
    let home = home();
    let run = argus(
        &home,
        &[
            "replay",
            "--no-recovery",
            // The page's three deployment samples share one time; the failure goes first, as
            // it would arrive, before the folder replays the completion.
            &path("ecs/deployment-failed.json"),
            &path("ecs"),
            &path("rds"),
            &path("ec2-spot"),
            &path("autoscaling"),
            &path("ssm"),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("UnsupportedEvent"), "{}", run.stderr);
    for expected in [
        "proposes ecs.rollback_task_definition",
        "proposes rds.reboot",
        "proposes asg.replace_instance",
        "ignored    ECS task is RUNNING",
    ] {
        assert!(
            run.stdout.contains(expected),
            "`{expected}` missing:\n{}",
            run.stdout
        );
    }
}
