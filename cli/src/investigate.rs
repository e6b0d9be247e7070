//! `argus investigate SNAPSHOT`: the investigation stage on a recorded snapshot (Argus' own
//! format or the PetShop layout), printing the ranked root-cause candidates with their
//! evidence; `--json` prints exactly `{"candidates": [{"node", "score", "evidence"}]}`.

use crate::commands::{CliError, EXIT_INVALID_EVENT, EXIT_OK, EXIT_USAGE};
use argus::investigation::localise::Verdict;
use argus::investigation::{
    Candidate, Findings, InvestigationLimits, LocaliseConfig, RecordedSnapshot, SnapshotError,
    SnapshotLayout, baseline::baseline, investigate,
};
use serde_json::json;
use std::path::Path;

/// Which method ranks the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Argus' localisation (the default).
    Argus,
    /// The PetShop dataset's median/MAD anomaly traversal, for comparison.
    Baseline,
}

fn snapshot_error(error: &SnapshotError) -> CliError {
    let code = match error {
        SnapshotError::NotASnapshot { .. } => EXIT_USAGE,
        SnapshotError::Read { .. } | SnapshotError::Malformed { .. } => EXIT_INVALID_EVENT,
    };
    CliError::new(code, error.to_string())
}

/// Opens a snapshot folder, with the exit code its errors call for.
pub fn open_snapshot(dir: &Path) -> Result<RecordedSnapshot, CliError> {
    RecordedSnapshot::open(dir).map_err(|e| snapshot_error(&e))
}

/// Runs the command; the exit code is 0 whether or not something is blamed.
pub async fn run(dir: &Path, method: Method, json: bool) -> Result<u8, CliError> {
    let snapshot = open_snapshot(dir)?;
    let Some(target) = snapshot.target.clone() else {
        return Err(CliError::new(
            EXIT_INVALID_EVENT,
            format!(
                "{}: no target.json: the snapshot does not say which alarm to investigate",
                dir.display()
            ),
        ));
    };
    let Some(normal) = snapshot.normal.as_ref() else {
        return Err(CliError::new(
            EXIT_INVALID_EVENT,
            format!(
                "{}: no normal.csv: without normal behaviour nothing can be called anomalous",
                dir.display()
            ),
        ));
    };
    let findings = match method {
        Method::Argus => {
            investigate(
                &snapshot,
                &snapshot,
                &snapshot,
                &target,
                &InvestigationLimits::default(),
                &LocaliseConfig::default(),
            )
            .await
        }
        Method::Baseline => Findings {
            graph_size: Some((snapshot.graph.node_count(), snapshot.graph.edge_count())),
            candidates: baseline(&snapshot.graph, &target, &snapshot.window, normal),
            ..Findings::empty(&target)
        },
    };
    if let Some(problem) = findings.missing.iter().find(|m| m.source == "localisation") {
        return Err(CliError::new(EXIT_INVALID_EVENT, problem.reason.clone()));
    }
    if json {
        outln!("{}", candidates_json(&findings.candidates));
    } else {
        print_text(&snapshot, &findings, method);
    }
    Ok(EXIT_OK)
}

/// The `--json` document: candidates best first, each with node, score and evidence.
pub fn candidates_json(candidates: &[Candidate]) -> serde_json::Value {
    json!({
        "candidates": candidates
            .iter()
            .map(|c| json!({"node": c.node, "score": c.score, "evidence": c.evidence}))
            .collect::<Vec<_>>()
    })
}

fn print_text(snapshot: &RecordedSnapshot, findings: &Findings, method: Method) {
    let target = &findings.target;
    let when = chrono::DateTime::from_timestamp(target.alert_time, 0)
        .map_or_else(|| target.alert_time.to_string(), |t| t.to_rfc3339());
    let layout = match snapshot.layout {
        SnapshotLayout::Argus => "Argus snapshot",
        SnapshotLayout::PetShop => "PetShop layout",
    };
    outln!(
        "Alarm: {} {} ({}) at {when}",
        target.node,
        target.metric,
        target.statistic
    );
    outln!(
        "World: {layout}, {} nodes, {} calls, {} depend{} on {}; window of {} buckets, normal of {}",
        snapshot.graph.node_count(),
        snapshot.graph.edge_count(),
        snapshot.graph.dependencies(&target.node).len(),
        if snapshot.graph.dependencies(&target.node).len() == 1 {
            "s"
        } else {
            ""
        },
        target.node,
        snapshot.window.len(),
        snapshot.normal.as_ref().map_or(0, |n| n.len()),
    );
    if method == Method::Baseline {
        outln!(
            "Method: the PetShop baseline (median/MAD score above 5, traversal from the target)"
        );
    }
    outln!();
    if findings.candidates.is_empty() {
        let why = match &findings.verdict {
            Some(Verdict::TargetLooksNormal { largest_z }) => format!(
                "{}'s own {} looks normal in the alarm window (largest robust z {})",
                target.node,
                target.metric,
                largest_z.map_or_else(|| "unknown".to_owned(), |z| format!("{z:.1}"))
            ),
            Some(Verdict::NothingDownstream) => format!(
                "{} is worse than usual, but nothing it depends on is anomalous enough to explain it: look at {} itself",
                target.node, target.node
            ),
            _ => "nothing is anomalous enough to blame".to_owned(),
        };
        outln!("No root-cause candidate: {why}.");
    } else {
        outln!("Root-cause candidates, best first:");
        for (rank, candidate) in findings.candidates.iter().enumerate() {
            outln!(
                "  {}. {}  (score {:.3})",
                rank + 1,
                candidate.node,
                candidate.score
            );
            for evidence in &candidate.evidence {
                outln!("       [{}] {}", evidence.id, evidence.text);
            }
        }
    }
    if !findings.changes.is_empty() {
        outln!();
        outln!("Changes on the alarming node and the top candidates, newest first:");
        for (_, item) in findings.change_evidence() {
            outln!("  [{}] {}", item.id, item.text);
        }
    }
    for missing in &findings.missing {
        outln!("Not looked up: {} ({})", missing.source, missing.reason);
    }
}
