//! A local replay's approvals meet the deployed endpoint's checks (`argus::approval::judge`):
//! with approvers configured, only they may answer; with none configured for the class, the
//! local operator answers and the replay says deployed nobody could.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "argus-local-approvals-{}-{nanos}-{name}",
        std::process::id()
    ))
}

fn alarm() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json")
        .to_string_lossy()
        .into_owned()
}

/// `argus replay --approve --approver IDENTITY` with a policy whose low-risk approver is Alice;
/// what it printed.
fn replay_approved_by(identity: Option<&str>, policy: Option<&str>) -> String {
    let home = scratch("home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_argus"));
    command.arg("--home").arg(&home).env_remove("ARGUS_CONFIG");
    if let Some(policy) = policy {
        let path = scratch("policy.json");
        std::fs::write(&path, policy).unwrap();
        command.arg("--config").arg(path);
    }
    command.args(["replay", "--approve"]);
    if let Some(identity) = identity {
        command.args(["--approver", identity]);
    }
    let output = command.arg(alarm()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const ALICE_APPROVES_LOW_RISK: &str = r#"{"approvals": {"low": ["email:alice@example.com"]}}"#;

#[test]
fn an_answer_from_someone_off_the_approver_list_is_refused_and_the_workflow_escalates() {
    let out = replay_approved_by(Some("email:bob@example.com"), Some(ALICE_APPROVES_LOW_RISK));
    assert!(
        out.contains("email:bob@example.com's answer refused (not_an_approver)"),
        "{out}"
    );
    assert!(out.contains("incident escalated"), "{out}");
    assert!(!out.contains("Reboot instance"), "nothing ran: {out}");
}

#[test]
fn an_approver_on_the_list_is_heard_whatever_the_case_of_the_address() {
    let out = replay_approved_by(
        Some("email:Alice@Example.com"),
        Some(ALICE_APPROVES_LOW_RISK),
    );
    assert!(out.contains("recovered and verified"), "{out}");
    assert!(!out.contains("answers as if listed"), "{out}");
}

#[test]
fn without_approvers_configured_the_local_operator_answers_and_is_told_so() {
    let out = replay_approved_by(Some("email:carol@example.com"), None);
    assert!(out.contains("recovered and verified"), "{out}");
    assert!(
        out.contains(
            "no approver is configured for low risk; email:carol@example.com answers as if listed"
        ),
        "{out}"
    );
}
