//! Alerting integrations tried locally: `argus replay` takes Alertmanager, Grafana, Datadog and
//! PagerDuty webhook bodies (detected from their shape, or named with `--source`) and runs the
//! "Argus External Alert" events the deployed endpoint would publish through the same intake.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn events(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "argus-webhooks-{}-{nanos}-{name}",
        std::process::id()
    ))
}

fn argus(home: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ARGUS_CONFIG")
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn reports(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn outcomes(report: &Value) -> Vec<String> {
    report["report"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|signal| signal["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_alertmanager_group_opens_one_incident_per_alert_and_its_resolved_clears_them() {
    let home = scratch("alertmanager");
    // At the time the alerts started, as the endpoint would have received them.
    let firing = argus(
        &home,
        &[
            "--json",
            "replay",
            "--reject",
            "--at",
            "2020-02-06T00:18:30Z",
            &events("webhooks/alertmanager/alertmanager-v4-firing-2-alerts.json"),
        ],
    );
    assert_eq!(firing.code, 0, "{}", firing.stderr);
    let report = &reports(&firing.stdout)[0];
    assert_eq!(outcomes(report), ["opened", "opened"], "{report}");
    let sources: Vec<&str> = report["report"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|signal| signal["signal"]["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["external_alert", "external_alert"]);
    // The group's resolved notification names one of the two alerts: it clears that one only.
    let resolved = argus(
        &home,
        &[
            "--json",
            "replay",
            "--at",
            "2020-02-06T00:28:30Z",
            &events("webhooks/alertmanager/alertmanager-v4-resolved-1-alert.json"),
        ],
    );
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    assert_eq!(outcomes(&reports(&resolved.stdout)[0]), ["resolved"]);
}

#[test]
fn every_vendor_sample_is_detected_and_replays() {
    let home = scratch("vendors");
    for (file, vendor) in [
        ("webhooks/grafana/grafana-alerting-firing.json", "grafana"),
        (
            "webhooks/datadog/datadog-webhook-default-payload.json",
            "datadog",
        ),
        (
            "webhooks/datadog/datadog-argus-payload-triggered.json",
            "datadog",
        ),
        (
            "webhooks/pagerduty/pagerduty-v3-incident-triggered.json",
            "pagerduty",
        ),
    ] {
        let run = argus(&home, &["replay", "--reject", &events(file)]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{vendor} webhook, 1 alert(s)")),
            "{file}: {}",
            run.stderr
        );
        assert!(
            run.stdout.contains(&format!("external:{vendor}")),
            "{file}: {}",
            run.stdout
        );
    }
}

#[test]
fn a_replayed_webhook_is_the_same_delivery_and_an_acknowledgement_is_ignored() {
    let home = scratch("same");
    let file = events("webhooks/pagerduty/pagerduty-v3-incident-triggered.json");
    let at = ["--at", "2021-06-04T13:36:00Z"];
    let first = argus(
        &home,
        &[&["--json", "replay", "--reject"], &at[..], &[&file]].concat(),
    );
    let second = argus(
        &home,
        &[&["--json", "replay", "--reject"], &at[..], &[&file]].concat(),
    );
    assert_eq!(outcomes(&reports(&first.stdout)[0]), ["opened"]);
    assert_eq!(outcomes(&reports(&second.stdout)[0]), ["duplicate"]);

    let mut acknowledged: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    acknowledged["event"]["event_type"] = json!("incident.acknowledged");
    let path = scratch("acknowledged.json");
    std::fs::write(&path, acknowledged.to_string()).unwrap();
    let run = argus(&home, &["--json", "replay", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = &reports(&run.stdout)[0];
    assert!(
        report["report"]["ignored"]
            .as_str()
            .unwrap()
            .contains("no alert Argus acts on"),
        "{report}"
    );
}

#[test]
fn a_named_source_that_does_not_fit_the_body_is_a_clear_invalid_event() {
    let home = scratch("mismatch");
    let alertmanager = events("webhooks/alertmanager/alertmanager-v4-firing-2-alerts.json");
    let run = argus(&home, &["replay", "--source", "pagerduty", &alertmanager]);
    assert_eq!(run.code, 3, "{} {}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("pagerduty payload is not valid"), "{said}");
    // Named as an AWS event, a webhook body is no event Argus knows.
    let run = argus(&home, &["replay", "--source", "aws", &alertmanager]);
    assert_eq!(run.code, 3, "{} {}", run.stdout, run.stderr);
    let run = argus(&home, &["replay", "--source", "smtp", &alertmanager]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
