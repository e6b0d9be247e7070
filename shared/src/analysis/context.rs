//! The bounded context an analyst is given: the signal and its evidence, the resource's recent
//! changes and incidents, what was learned about the signature, and its past incidents. Every
//! item carries an evidence id; when the estimated prompt exceeds the token budget the least
//! relevant items are dropped first, and the context says which.

use super::prompt;
use super::sanitise::clean_text;
use crate::catalogue::ActionId;
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::decision::Mode;
use crate::incident::{Incident, IncidentStatus};
use crate::investigation::findings::Findings;
use crate::ports::{ActionStats, SignatureHistory};
use crate::resource::ResourceRef;
use crate::signal::{Signal, SignalSource};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How much an item matters to the analysis, most relevant first; items are dropped from the
/// end of this order (and, within one kind, newest kept) when the budget is exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relevance {
    /// The signal itself: never dropped.
    Essential,
    /// The signal's own evidence and what was learned about the signature.
    Evidence,
    /// Changes and earlier incidents on the same resource.
    Change,
    /// Resolved incidents of the same signature.
    History,
    /// More of the same: further log samples, the scope of a mass call.
    Supporting,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextItem {
    /// What hypotheses cite.
    pub id: String,
    pub label: String,
    /// Cleaned and capped, but still untrusted: fenced as data in any prompt.
    pub text: String,
    #[serde(default = "default_relevance")]
    pub relevance: Relevance,
}

fn default_relevance() -> Relevance {
    Relevance::Evidence
}

/// A resolved incident of the same signature, from the patterns table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PastIncident {
    pub correlation_id: CorrelationId,
    pub resource: ResourceRef,
    pub action: Option<String>,
    pub verified: Option<bool>,
    pub time_to_recover_seconds: Option<u64>,
    pub summary: String,
    pub closed_at: DateTime<Utc>,
}

/// Another incident on the same resource: a sensitive API call (CloudTrail) someone made, or an
/// earlier problem and what Argus did about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentChange {
    pub incident_id: CorrelationId,
    pub at: DateTime<Utc>,
    pub source: SignalSource,
    pub signature: String,
    pub title: String,
    pub status: IncidentStatus,
    /// The action Argus ran or asked about for it, and in which mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl RecentChange {
    pub fn from_incident(incident: &Incident) -> Self {
        let decision = incident.decision.as_ref();
        Self {
            incident_id: incident.id.clone(),
            at: incident.opened_at,
            source: incident.source,
            signature: incident.signature.clone(),
            title: incident.title.clone(),
            status: incident.status,
            action: decision.and_then(|d| d.action.as_ref().map(|a| a.action)),
            mode: decision.filter(|d| d.action.is_some()).map(|d| d.mode),
            resolution: incident.resolution.clone(),
        }
    }

    fn is_api_call(&self) -> bool {
        self.source == SignalSource::CloudTrail
    }

    fn describe(&self) -> String {
        let mut text = if self.is_api_call() {
            format!(
                "{}: API call {} ({})",
                self.at.to_rfc3339(),
                self.title,
                self.signature
            )
        } else {
            format!(
                "{}: earlier incident {}: {}",
                self.at.to_rfc3339(),
                self.signature,
                self.title
            )
        };
        text.push_str(&format!(
            "; incident {} is {}",
            self.incident_id,
            self.status.as_str()
        ));
        if let (Some(action), Some(mode)) = (self.action, self.mode) {
            text.push_str(&format!("; Argus decided {} for {action}", mode.as_str()));
        }
        if let Some(resolution) = &self.resolution {
            text.push_str(&format!("; {resolution}"));
        }
        text
    }
}

/// A candidate's recorded resource (an ARN) as a resource reference; a function's alias or
/// version qualifier is not part of the function.
pub fn candidate_resource(arn: &str) -> Option<ResourceRef> {
    if let Some((_, function)) = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":lambda:"))
        .and_then(|(_, rest)| rest.split_once(":function:"))
    {
        let name = function.split(':').next().unwrap_or(function);
        return ResourceRef::new("lambda", "function", name).ok();
    }
    crate::signal::resource_from_arn(arn)
}

/// An item left out to keep the prompt within its budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroppedItem {
    pub id: String,
    pub label: String,
    pub relevance: Relevance,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisContext {
    pub incident_id: CorrelationId,
    pub resource: ResourceRef,
    pub signature: String,
    pub signal: Signal,
    pub items: Vec<ContextItem>,
    /// The past incidents shown (`history.1` is the first), newest first.
    pub history: Vec<PastIncident>,
    /// The changes and incidents on the resource shown (`change.1` is the first), newest first.
    #[serde(default)]
    pub changes: Vec<RecentChange>,
    /// Outcome stats of every action tried on this signature; the autonomy ladder reads them
    /// even when their items were dropped from the prompt.
    #[serde(default)]
    pub learned: Vec<(ActionId, ActionStats)>,
    /// What was left out to stay within the budget, least relevant first.
    #[serde(default)]
    pub dropped: Vec<DroppedItem>,
    /// The prompt's estimated input tokens (instructions, answer schema and these items).
    #[serde(default)]
    pub estimated_tokens: usize,
    #[serde(default)]
    pub budget_tokens: usize,
    /// What the investigation found around the resource, when one ran; its items are in
    /// `items` (`topology.*`, `metric.*`, `change.<node>.*`, `logs.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Findings>,
}

/// What a context is assembled from; the intake path reads it with one patterns-table query
/// and one query of the incidents on the resource.
#[derive(Debug)]
pub struct ContextInputs<'a> {
    pub incident_id: CorrelationId,
    pub signal: &'a Signal,
    pub learned: SignatureHistory,
    /// Incidents on the same resource, newest first (this one included or not).
    pub resource_incidents: Vec<Incident>,
    pub now: DateTime<Utc>,
    pub config: &'a Config,
}

impl AnalysisContext {
    /// A context with the default policy and no changes or learned stats, for tests and tools.
    pub fn build(incident_id: CorrelationId, signal: &Signal, history: Vec<PastIncident>) -> Self {
        let config = Config::default();
        Self::assemble(ContextInputs {
            incident_id,
            signal,
            learned: SignatureHistory {
                actions: Vec::new(),
                incidents: history,
            },
            resource_incidents: Vec::new(),
            now: signal.observed_at,
            config: &config,
        })
    }

    pub fn assemble(inputs: ContextInputs<'_>) -> Self {
        let policy = &inputs.config.analysis;
        let signal = inputs.signal;
        let cap = policy.untrusted_item_bytes;
        let mut items = vec![ContextItem {
            id: "signal".to_string(),
            label: "the signal".to_string(),
            text: clean_text(&signal_summary(signal), cap),
            relevance: Relevance::Essential,
        }];
        items.extend(signal.evidence.iter().map(|evidence| ContextItem {
            id: evidence.id.clone(),
            label: evidence.label.clone(),
            text: clean_text(&evidence.text, cap),
            relevance: evidence_relevance(&evidence.id),
        }));
        let mut learned = inputs.learned.actions;
        learned.sort_by_key(|(action, _)| *action);
        for (action, stats) in &learned {
            items.push(ContextItem {
                id: format!("pattern.{action}"),
                label: "what Argus learned about this action for this signature".to_string(),
                text: describe_stats(*action, stats),
                relevance: Relevance::Evidence,
            });
        }
        let oldest = inputs.now - Duration::seconds(policy.recent_changes_lookback_seconds as i64);
        let changes: Vec<RecentChange> = inputs
            .resource_incidents
            .iter()
            .filter(|incident| incident.id != inputs.incident_id && incident.opened_at >= oldest)
            .take(policy.recent_changes_limit)
            .map(RecentChange::from_incident)
            .collect();
        for (index, change) in changes.iter().enumerate() {
            items.push(ContextItem {
                id: format!("change.{}", index + 1),
                label: if change.is_api_call() {
                    "recent change to this resource".to_string()
                } else {
                    "earlier incident on this resource".to_string()
                },
                text: clean_text(&change.describe(), cap),
                relevance: Relevance::Change,
            });
        }
        let mut history = inputs.learned.incidents;
        history.truncate(policy.history_limit);
        for (index, past) in history.iter().enumerate() {
            items.push(ContextItem {
                id: format!("history.{}", index + 1),
                label: "past incident".to_string(),
                text: clean_text(&describe_past(past), cap),
                relevance: Relevance::History,
            });
        }
        let mut context = Self {
            incident_id: inputs.incident_id,
            resource: signal.resource.clone(),
            signature: signal.signature.clone(),
            signal: signal.clone(),
            items,
            history,
            changes,
            learned,
            dropped: Vec::new(),
            estimated_tokens: 0,
            budget_tokens: policy.context_token_budget,
            findings: None,
        };
        context.fit_budget(inputs.config);
        context
    }

    /// Drops the least relevant items (and within one kind the last, which are the oldest)
    /// until the estimated prompt fits the budget; the signal itself always stays.
    fn fit_budget(&mut self, config: &Config) {
        self.estimated_tokens = prompt::estimate_tokens(self, config);
        while self.estimated_tokens > self.budget_tokens {
            let Some(index) = self
                .items
                .iter()
                .enumerate()
                .filter(|(_, item)| item.relevance != Relevance::Essential)
                .max_by_key(|(index, item)| (item.relevance, *index))
                .map(|(index, _)| index)
            else {
                break;
            };
            let item = self.items.remove(index);
            // History and changes are dropped oldest first, so what is kept stays a prefix and
            // `history.N` keeps naming `history[N-1]`.
            if let Some(position) = numbered(&item.id, "history.") {
                self.history.truncate(position - 1);
            }
            if let Some(position) = numbered(&item.id, "change.") {
                self.changes.truncate(position - 1);
            }
            self.dropped.push(DroppedItem {
                id: item.id,
                label: item.label,
                relevance: item.relevance,
            });
            self.estimated_tokens = prompt::estimate_tokens(self, config);
        }
    }

    /// Takes in an investigation's findings: each becomes an item (cleaned and capped like any
    /// text read from outside; candidates and their evidence as evidence, the changes on the
    /// alarming node as changes, what could not be looked up last), then the budget is
    /// applied again.
    pub fn add_findings(&mut self, findings: Findings, config: &Config) {
        let cap = config.analysis.untrusted_item_bytes;
        for item in findings.evidence() {
            if self.has_evidence(&item.id) {
                continue;
            }
            let relevance = if item.id.starts_with("investigation.missing.") {
                Relevance::Supporting
            } else if item.id.starts_with("change.") {
                Relevance::Change
            } else {
                Relevance::Evidence
            };
            self.items.push(ContextItem {
                label: "what the investigation found".to_string(),
                text: clean_text(&item.text, cap),
                id: item.id,
                relevance,
            });
        }
        self.findings = Some(findings);
        self.fit_budget(config);
    }

    /// The resources of the root-cause candidates the investigation found, which a proposal
    /// may target besides the incident's own resource.
    pub fn candidate_resources(&self) -> Vec<ResourceRef> {
        self.findings
            .iter()
            .flat_map(|findings| &findings.candidates)
            .filter_map(|candidate| candidate.resource.as_deref())
            .filter_map(candidate_resource)
            .collect()
    }

    pub fn has_evidence(&self, id: &str) -> bool {
        self.items.iter().any(|item| item.id == id)
    }

    /// The prompt's estimated input tokens, for budgets, metrics and `argus explain`.
    pub fn estimated_tokens(&self) -> usize {
        self.estimated_tokens
    }

    /// What was learned about `action` for this signature (all zero when nothing was).
    pub fn stats(&self, action: ActionId) -> ActionStats {
        self.learned
            .iter()
            .find(|(id, _)| *id == action)
            .map(|(_, stats)| stats.clone())
            .unwrap_or_default()
    }

    /// One line for timelines and the audit trail: size, budget and what was dropped.
    pub fn budget_note(&self) -> Option<String> {
        if self.dropped.is_empty() {
            return None;
        }
        let ids: Vec<&str> = self.dropped.iter().map(|item| item.id.as_str()).collect();
        Some(format!(
            "context over its budget of ~{} tokens: dropped {} least relevant item(s): {}",
            self.budget_tokens,
            ids.len(),
            ids.join(", ")
        ))
    }
}

fn numbered(id: &str, prefix: &str) -> Option<usize> {
    id.strip_prefix(prefix)?
        .parse()
        .ok()
        .filter(|position| *position >= 1)
}

/// Further log samples and the scope note of a mass call add little to the first sample.
fn evidence_relevance(id: &str) -> Relevance {
    match numbered(id, "log.sample.") {
        Some(position) if position > 1 => Relevance::Supporting,
        _ if id == "cloudtrail.scope" => Relevance::Supporting,
        _ => Relevance::Evidence,
    }
}

fn signal_summary(signal: &Signal) -> String {
    let mut text = format!(
        "{} on {} ({}): {}; state {}; observed {}",
        signal.source.label(),
        signal.resource,
        signal.signature,
        signal.title,
        signal.state,
        signal.observed_at.to_rfc3339()
    );
    if let Some(metric) = &signal.metric {
        text.push_str(&format!("; metric {metric}"));
    }
    if let Some(principal) = &signal.principal {
        text.push_str(&format!("; principal {principal}"));
    }
    if let (Some(account), Some(region)) = (&signal.account, &signal.region) {
        text.push_str(&format!("; account {account}, region {region}"));
    }
    text
}

fn describe_stats(action: ActionId, stats: &ActionStats) -> String {
    let mut text = format!(
        "{action} on this signature: {} attempts, {} verified, {} failed verification; {} verified in a row since the last failure",
        stats.attempts,
        stats.verified_successes,
        stats.failures,
        stats.consecutive_verified_successes
    );
    if let Some(mean) = stats.mean_time_to_recover_seconds() {
        text.push_str(&format!("; mean time to recover {mean} s"));
    }
    if let Some(at) = stats.last_failure_at {
        text.push_str(&format!("; last failure {}", at.to_rfc3339()));
    }
    text
}

fn describe_past(past: &PastIncident) -> String {
    let outcome = match past.verified {
        Some(true) => "verified recovered",
        Some(false) => "failed verification",
        None => "outcome unknown",
    };
    format!(
        "{} on {} closed {}: action {} ({outcome}{}); {}",
        past.correlation_id,
        past.resource,
        past.closed_at.to_rfc3339(),
        past.action.as_deref().unwrap_or("none"),
        past.time_to_recover_seconds
            .map(|seconds| format!(", recovered in {seconds}s"))
            .unwrap_or_default(),
        past.summary
    )
}
