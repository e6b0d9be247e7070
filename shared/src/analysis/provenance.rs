//! Parameters that select what runs (a Lambda alias and the version it goes back to, an SSM
//! document) come from facts Argus read or from its configuration, never from an analyst's
//! word: a model's value that differs is replaced by the fact (noted for the audit trail), and
//! a proposal with no fact to take it from is refused. Every parameter's source is recorded on
//! the validated action, with the path and evidence of a root-cause candidate it targets.

use super::assessment::AssessmentError;
use super::context::{AnalysisContext, candidate_resource};
use crate::catalogue::{ActionParams, ValidatedAction};
use crate::config::Config;
use crate::investigation::localise::id_segment;
use crate::investigation::model::{AliasMove, Change};
use crate::provenance::{
    EvidenceRef, PATH_NODES_KEPT, ParameterSource, ROOT_CAUSE_EVIDENCE_KEPT, RootCausePath, Source,
    bounded,
};
use crate::resource::ResourceRef;

/// Fills in `action`'s provenance (and root-cause path), replacing any parameter that selects
/// what runs with the fact it must come from; what was replaced is said in `notes`.
pub fn settle(
    action: &mut ValidatedAction,
    context: &AnalysisContext,
    config: &Config,
    notes: &mut Vec<String>,
) -> Result<(), AssessmentError> {
    let target = action.target.clone();
    let target_source = match (&target, action.on_candidate) {
        (Some(target), true) => {
            let (source, path) = candidate_source(context, target);
            action.root_cause = path;
            source
        }
        _ => Source::IncidentResource,
    };
    let mut sources = Vec::new();
    let mut record = |parameter: &str, value: &str, source: Source| {
        sources.push(ParameterSource {
            parameter: parameter.to_string(),
            value: bounded(value),
            source,
        });
    };
    match &mut action.params {
        ActionParams::Instance(params) => {
            record("instance_id", &params.instance_id, target_source);
        }
        ActionParams::EcsService(params) => {
            record("cluster", &params.cluster, target_source.clone());
            record("service", &params.service, target_source);
        }
        ActionParams::LambdaAlias(params) => {
            record("function_name", &params.function_name, target_source);
            let function = target.ok_or_else(|| unfounded("function_name", "no function"))?;
            let moves = alias_moves(context, &function);
            // The analyst may point at one of the recorded moves by its alias; the versions
            // are the record's.
            let Some((change, alias, from)) = moves
                .iter()
                .find(|(_, alias, _)| alias.name == params.alias)
                .or_else(|| moves.first())
                .copied()
            else {
                return Err(unfounded(
                    "target_version",
                    &format!(
                        "no recorded alias move of {function} names the version before it; Argus rolls back only to a version a change record shows"
                    ),
                ));
            };
            let evidence = change_evidence_id(change);
            let summary = bounded(&format!(
                "{} on {} at {}: alias {} moved from version {from} to {}",
                change.action,
                change.node,
                chrono::DateTime::from_timestamp(change.time, 0)
                    .map_or_else(|| change.time.to_string(), |time| time.to_rfc3339()),
                alias.name,
                alias.to_version
            ));
            if params.alias != alias.name {
                notes.push(format!(
                    "`alias` {:?} from the analyst replaced by {:?}, the alias the change record {evidence} shows moving",
                    bounded(&params.alias),
                    alias.name
                ));
                params.alias = alias.name.clone();
            }
            if params.target_version != *from {
                notes.push(format!(
                    "`target_version` {:?} from the analyst replaced by {from:?}, the version alias {} pointed at before {} ({evidence}); a version to run is never taken from an analyst",
                    bounded(&params.target_version),
                    alias.name,
                    change.action
                ));
                params.target_version = from.clone();
            }
            let fact = Source::Fact { evidence, summary };
            record("alias", &params.alias, fact.clone());
            record("target_version", &params.target_version, fact);
        }
        ActionParams::AutoScalingGroup(params) => {
            record(
                "auto_scaling_group_name",
                &params.auto_scaling_group_name,
                target_source,
            );
            match params.min_healthy_percentage {
                Some(percentage) => {
                    record(
                        "min_healthy_percentage",
                        &percentage.to_string(),
                        Source::Analyst,
                    );
                }
                None => record("min_healthy_percentage", "90", Source::CatalogueDefault),
            }
        }
        ActionParams::RdsInstance(params) => {
            record(
                "db_instance_identifier",
                &params.db_instance_identifier,
                target_source,
            );
            // Whether the reboot fails over tunes how it runs, not what it runs on.
            record(
                "force_failover",
                &params.force_failover.to_string(),
                Source::Analyst,
            );
        }
        ActionParams::AutoScalingInstance(params) => {
            record("instance_id", &params.instance_id, target_source);
            record(
                "respect_grace_period",
                &params.respect_grace_period.to_string(),
                Source::Analyst,
            );
        }
        ActionParams::SsmAutomation(params) => {
            // Which document runs is the deployment's allow-list: an analyst only picks one of
            // the documents the deployer allowed (the catalogue checked it).
            record(
                "document_name",
                &params.document_name,
                Source::Configuration {
                    setting: "ssm_documents".to_string(),
                },
            );
            record("resource", params.resource.as_str(), target_source.clone());
            let declared_target = config
                .ssm_documents
                .iter()
                .find(|document| document.name == params.document_name)
                .map(|document| document.target.parameter.clone());
            for (name, values) in &params.parameters {
                let source = if declared_target.as_deref() == Some(name.as_str()) {
                    target_source.clone()
                } else {
                    Source::Analyst
                };
                record(name, &values.join(","), source);
            }
        }
        ActionParams::TerraformApply(params) => {
            // Which build runs is the deployment's: the one project the recovery role may start.
            let project = &config.terraform_apply_project;
            if project.is_empty() {
                return Err(unfounded(
                    "project_name",
                    "no CodeBuild project is configured (`terraform_apply_project`)",
                ));
            }
            if params.project_name != *project {
                notes.push(format!(
                    "`project_name` {:?} from the analyst replaced by {project:?}, the configured `terraform_apply_project`",
                    bounded(&params.project_name)
                ));
                params.project_name = project.clone();
            }
            record(
                "project_name",
                &params.project_name,
                Source::Configuration {
                    setting: "terraform_apply_project".to_string(),
                },
            );
            record("resource", params.resource.as_str(), target_source);
        }
        ActionParams::None(_) => {}
    }
    action.provenance = sources;
    Ok(())
}

fn unfounded(parameter: &str, reason: &str) -> AssessmentError {
    AssessmentError::Unfounded {
        parameter: parameter.to_string(),
        reason: reason.to_string(),
    }
}

/// The id the findings give a change as evidence (`Findings::change_evidence`).
fn change_evidence_id(change: &Change) -> String {
    format!(
        "change.{}.{}.{}",
        id_segment(&change.node),
        id_segment(&change.action),
        change.time
    )
}

/// The graph nodes that are `resource`: the alarming node when it is the incident's resource,
/// and every candidate whose recorded resource it is.
fn nodes_of<'a>(context: &'a AnalysisContext, resource: &ResourceRef) -> Vec<&'a str> {
    let Some(findings) = context.findings.as_ref() else {
        return Vec::new();
    };
    let mut nodes = Vec::new();
    if &context.resource == resource {
        nodes.push(findings.target.node.as_str());
    }
    nodes.extend(
        findings
            .candidates
            .iter()
            .filter(|candidate| {
                candidate
                    .resource
                    .as_deref()
                    .and_then(candidate_resource)
                    .as_ref()
                    == Some(resource)
            })
            .map(|candidate| candidate.node.as_str()),
    );
    nodes
}

/// The recorded alias moves of `function` whose previous version is known, newest first.
fn alias_moves<'a>(
    context: &'a AnalysisContext,
    function: &ResourceRef,
) -> Vec<(&'a Change, &'a AliasMove, &'a String)> {
    let nodes = nodes_of(context, function);
    let mut moves: Vec<_> = context
        .findings
        .iter()
        .flat_map(|findings| &findings.changes)
        .filter(|change| nodes.contains(&change.node.as_str()))
        .filter_map(|change| {
            let alias = change.alias.as_ref()?;
            let from = alias.from_version.as_ref()?;
            Some((change, alias, from))
        })
        .collect();
    moves.sort_by_key(|(change, _, _)| std::cmp::Reverse(change.time));
    moves
}

/// The source of a candidate target, and the path and evidence that made it one.
fn candidate_source(
    context: &AnalysisContext,
    target: &ResourceRef,
) -> (Source, Option<RootCausePath>) {
    let found = context.findings.as_ref().and_then(|findings| {
        findings
            .candidates
            .iter()
            .enumerate()
            .find(|(_, candidate)| {
                candidate
                    .resource
                    .as_deref()
                    .and_then(candidate_resource)
                    .as_ref()
                    == Some(target)
            })
    });
    let Some((rank, candidate)) = found else {
        // `validate_for` admits a candidate target only from these findings; should that
        // change, the record still says what the target is.
        return (
            Source::Candidate {
                node: bounded(target.as_str()),
                evidence: String::new(),
            },
            None,
        );
    };
    let candidate_id = format!("topology.candidate.{}", id_segment(&candidate.node));
    let mut evidence = vec![EvidenceRef {
        id: candidate_id.clone(),
        text: bounded(&format!(
            "root-cause candidate #{} {} (score {:.2})",
            rank + 1,
            candidate.node,
            candidate.score
        )),
    }];
    evidence.extend(candidate.evidence.iter().map(|item| EvidenceRef {
        id: bounded(&item.id),
        text: bounded(&item.text),
    }));
    evidence.truncate(ROOT_CAUSE_EVIDENCE_KEPT);
    let path: Vec<String> = candidate
        .evidence
        .iter()
        .find(|item| item.id.starts_with("topology.path."))
        .and_then(|item| item.text.strip_prefix("call path: "))
        .map(|path| {
            path.split(" → ")
                .take(PATH_NODES_KEPT)
                .map(bounded)
                .collect()
        })
        .unwrap_or_default();
    (
        Source::Candidate {
            node: bounded(&candidate.node),
            evidence: candidate_id,
        },
        Some(RootCausePath {
            node: bounded(&candidate.node),
            path,
            score: candidate.score,
            evidence,
        }),
    )
}
