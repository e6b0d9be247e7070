//! Policy configuration: what counts as sensitive, budgets, thresholds, windows and overrides.
//!
//! Every field has a safe default, so an empty document (`{}`) is a complete configuration.
//! The orchestrator reads it from `ARGUS_POLICY` (JSON) at init; the CLI from `--config FILE`.

use crate::decision::Mode;

/// Environment variable holding the policy configuration (JSON) for the functions.
pub const POLICY_ENV: &str = "ARGUS_POLICY";
use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// The longest quiet period: an incident nobody clears ends within a month.
pub const MAX_QUIET_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub signals: SignalConfig,
    pub budget: BudgetPolicy,
    pub decision: DecisionPolicy,
    pub recovery: RecoveryPolicy,
    pub analysis: AnalysisPolicy,
    pub maintenance_windows: Vec<MaintenanceWindow>,
    pub overrides: Vec<SignatureOverride>,
    /// SSM Automation documents the `ssm.automation` action may run, with their risk.
    pub ssm_documents: Vec<AllowedDocument>,
    /// How long a delivered event's id is remembered for de-duplication.
    pub dedup_ttl_seconds: u64,
    /// A re-delivered event whose incident stalled (no decision or no workflow) for longer than
    /// this is picked up again; shorter gaps mean another invocation is still working on it.
    pub resume_after_seconds: u64,
    /// Who may answer approval requests, and how long signed links live.
    pub approvals: ApprovalPolicy,
    /// When an incident nobody cleared ends by itself.
    pub lifecycle: LifecyclePolicy,
}

/// How long an open incident may go without a new signal before it auto-resolves, per kind of
/// source (every incident ends: sources such as CloudTrail and log anomalies never clear), and
/// how often the reconciler looks again at an incident it cannot settle yet (a suppressed one
/// during its window, one whose alarm is still in ALARM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// CloudWatch alarms: only once the alarm is no longer in ALARM (an OK that was missed).
    pub alarm_quiet_seconds: u64,
    pub cloudtrail_quiet_seconds: u64,
    pub log_anomaly_quiet_seconds: u64,
    pub external_alert_quiet_seconds: u64,
    pub aws_health_quiet_seconds: u64,
    pub ec2_state_quiet_seconds: u64,
    /// ECS, RDS, EC2 Spot and Auto Scaling events.
    pub service_event_quiet_seconds: u64,
    /// Parameter Store changes: a change, like a CloudTrail call, never clears itself.
    pub parameter_change_quiet_seconds: u64,
    pub recheck_seconds: u64,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            alarm_quiet_seconds: 6 * 3600,
            cloudtrail_quiet_seconds: 24 * 3600,
            log_anomaly_quiet_seconds: 6 * 3600,
            external_alert_quiet_seconds: 24 * 3600,
            aws_health_quiet_seconds: 7 * 24 * 3600,
            ec2_state_quiet_seconds: 24 * 3600,
            service_event_quiet_seconds: 6 * 3600,
            parameter_change_quiet_seconds: 24 * 3600,
            recheck_seconds: 900,
        }
    }
}

impl LifecyclePolicy {
    pub fn quiet_seconds(&self, source: crate::signal::SignalSource) -> u64 {
        use crate::signal::SignalSource as Source;
        match source {
            Source::AlarmEventBridge | Source::AlarmLambdaAction | Source::AlarmSns => {
                self.alarm_quiet_seconds
            }
            Source::CloudTrail => self.cloudtrail_quiet_seconds,
            Source::LogAnomaly => self.log_anomaly_quiet_seconds,
            Source::ExternalAlert => self.external_alert_quiet_seconds,
            Source::AwsHealth => self.aws_health_quiet_seconds,
            Source::Ec2StateChange => self.ec2_state_quiet_seconds,
            Source::Ecs | Source::Rds | Source::Ec2Spot | Source::AutoScaling => {
                self.service_event_quiet_seconds
            }
            Source::ParameterStore => self.parameter_change_quiet_seconds,
        }
    }
}

/// Approvers per risk class. An identity is `slack:<Slack user id>` or `email:<address>`, as
/// the approval callback proves it. A class with nobody listed cannot be approved at all: its
/// approvals time out and escalate, which is the safe default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub low: Vec<String>,
    pub medium: Vec<String>,
    pub high: Vec<String>,
    /// A signed approval link stops working after this (and never outlives the approval timeout).
    pub link_ttl_seconds: u64,
    /// The approver identities of each AWS principal (IAM ARN or user name, as CloudTrail names
    /// it), so that whoever caused or requested an action cannot approve it from Slack or e-mail.
    pub identities: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            low: Vec::new(),
            medium: Vec::new(),
            high: Vec::new(),
            link_ttl_seconds: 3600,
            identities: std::collections::BTreeMap::new(),
        }
    }
}

impl ApprovalPolicy {
    /// Who may approve an action of this risk class; a class allows its own list and the lists
    /// of every higher class (someone trusted with high-risk actions may approve low-risk ones).
    pub fn approvers_for(&self, risk: crate::catalogue::RiskClass) -> Vec<&str> {
        use crate::catalogue::RiskClass;
        let lists: &[&Vec<String>] = match risk {
            RiskClass::None | RiskClass::Low => &[&self.low, &self.medium, &self.high],
            RiskClass::Medium => &[&self.medium, &self.high],
            RiskClass::High => &[&self.high],
        };
        lists
            .iter()
            .flat_map(|list| list.iter().map(String::as_str))
            .collect()
    }

    // Who may approve, and who counts as self, compare identities normalised; that judgement
    // is the connectors' alone (functions/connectors/src/identity.rs), so the policy offers no
    // exact-compare shortcut that a caller could mistake for it.
}

impl Default for Config {
    fn default() -> Self {
        Self {
            signals: SignalConfig::default(),
            budget: BudgetPolicy::default(),
            decision: DecisionPolicy::default(),
            recovery: RecoveryPolicy::default(),
            analysis: AnalysisPolicy::default(),
            maintenance_windows: Vec::new(),
            overrides: Vec::new(),
            ssm_documents: vec![
                AllowedDocument {
                    name: "AWS-RestartEC2Instance".to_string(),
                    risk: crate::catalogue::RiskClass::Low,
                    target: crate::ssm_schema::DocumentTarget {
                        parameter: "InstanceId".to_string(),
                        kind: crate::ssm_schema::TargetType::Ec2InstanceId,
                    },
                    parameters: std::collections::BTreeMap::new(),
                },
                AllowedDocument {
                    name: "AWSSupport-TroubleshootECSTaskFailedToStart".to_string(),
                    risk: crate::catalogue::RiskClass::Low,
                    target: crate::ssm_schema::DocumentTarget {
                        parameter: "ClusterName".to_string(),
                        kind: crate::ssm_schema::TargetType::EcsClusterName,
                    },
                    parameters: [(
                        "TaskId".to_string(),
                        crate::ssm_schema::ParameterSchema::EcsTaskId,
                    )]
                    .into(),
                },
            ],
            dedup_ttl_seconds: 7 * 24 * 3600,
            resume_after_seconds: 180,
            approvals: ApprovalPolicy::default(),
            lifecycle: LifecyclePolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// CloudTrail calls (event names without Lambda's version suffix) that become signals.
    pub sensitive_calls: Vec<String>,
    /// Argus' own roles, as exact IAM role ARNs (no patterns): Terraform writes the recovery
    /// state machine's role here. A call is Argus' own only when one of these made it and it
    /// carries a correlation id Argus issued (an incident in the store).
    pub self_role_arns: Vec<String>,
    /// What each external source (by vendor: `alertmanager`, `grafana`, `datadog`,
    /// `pagerduty`) may name as an incident's resource: patterns on the resource reference
    /// (`ecs:service/prod/*`, `ec2:instance/*`; `*` matches any run of characters). A vendor not
    /// listed may name nothing: its alerts stay on the alert itself (`external:<vendor>/<id>`),
    /// where no action can land.
    pub external_resources: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            sensitive_calls: [
                "TerminateInstances",
                "StopInstances",
                "DeleteTable",
                "PutParameter",
                "DeleteParameter",
                "DeleteFunction",
                "UpdateFunctionConfiguration",
                "PutBucketPolicy",
                "DeleteBucket",
                "DeleteDBInstance",
            ]
            .map(str::to_string)
            .to_vec(),
            // No role is Argus' own until the deployment names it.
            self_role_arns: Vec::new(),
            // No vendor chooses a resource until the deployment says which.
            external_resources: std::collections::BTreeMap::new(),
        }
    }
}

/// The remediation budget per resource and action: at most `max_attempts` in any window of
/// `window_seconds` (sliding: it ends at each decision, so no boundary lets a burst through),
/// and at least `cooldown_seconds` between two attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetPolicy {
    pub window_seconds: u64,
    pub max_attempts: u32,
    pub cooldown_seconds: u64,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self {
            window_seconds: 3600,
            max_attempts: 3,
            cooldown_seconds: 0,
        }
    }
}

impl BudgetPolicy {
    pub fn window(&self) -> Duration {
        Duration::seconds(self.window_seconds.clamp(1, MAX_BUDGET_SECONDS) as i64)
    }

    pub fn cooldown(&self) -> Duration {
        Duration::seconds(self.cooldown_seconds.min(MAX_BUDGET_SECONDS) as i64)
    }

    /// How far back an attempt can still matter: the window or the cooldown, the longer.
    pub fn look_back(&self) -> Duration {
        self.window().max(self.cooldown())
    }

    pub fn limits(&self) -> crate::ports::BudgetLimits {
        crate::ports::BudgetLimits {
            max_attempts: self.max_attempts,
            window: self.window(),
            cooldown: self.cooldown(),
        }
    }
}

/// The longest budget window or cooldown (30 days): each is kept by the stores for that long.
pub const MAX_BUDGET_SECONDS: u64 = 30 * 24 * 3600;
/// The most attempts a window may allow: every attempt in the window is kept in one item.
pub const MAX_BUDGET_ATTEMPTS: u32 = 100;

/// How the recovery workflow waits, verifies and asks; passed to each execution as `recovery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryPolicy {
    /// Wait after the action before the first check.
    pub settle_seconds: u64,
    /// Wait between checks.
    pub check_interval_seconds: u64,
    /// Checks before an unconfirmed recovery counts as failed.
    pub max_checks: u32,
    /// How long the alarm must stay OK to count as recovered.
    pub stable_seconds: u64,
    /// An approval not given within this time fails closed to escalation.
    pub approval_timeout_seconds: u64,
    pub approval_heartbeat_seconds: u64,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            settle_seconds: 60,
            check_interval_seconds: 60,
            max_checks: 5,
            stable_seconds: 180,
            approval_timeout_seconds: 3600,
            approval_heartbeat_seconds: 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionPolicy {
    /// Confidence at or above which a low-risk action may run without a human.
    pub auto_confidence: f64,
    /// Confidence at or above which a human is asked to approve; below it Argus only advises.
    pub approval_confidence: f64,
    /// The autonomy ladder: a low-risk action runs on its own for a signature only after this
    /// many verified successes there since its last failed verification (0 turns the ladder off).
    pub verified_successes_for_auto: u32,
}

impl Default for DecisionPolicy {
    fn default() -> Self {
        Self {
            auto_confidence: 0.8,
            approval_confidence: 0.5,
            verified_successes_for_auto: 3,
        }
    }
}

/// What an analyst is shown, and how much of it: the prompt's token budget and how much
/// history, change and untrusted text the context may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisPolicy {
    /// Estimated input tokens the prompt may take (instructions, answer schema and context);
    /// beyond it the least relevant context items are dropped, and the audit trail says which.
    pub context_token_budget: usize,
    /// Resolved incidents of the same signature shown, newest first.
    pub history_limit: usize,
    /// Earlier incidents and changes on the same resource shown, newest first.
    pub recent_changes_limit: usize,
    /// How far back an incident or change on the resource still counts as recent.
    pub recent_changes_lookback_seconds: u64,
    /// Longest text (bytes) kept from one untrusted item: a log line, request parameters, a
    /// description.
    pub untrusted_item_bytes: usize,
    /// Summaries of resolved incidents the patterns table keeps per signature.
    pub summaries_per_signature: usize,
}

impl Default for AnalysisPolicy {
    fn default() -> Self {
        Self {
            context_token_budget: 4_000,
            history_limit: 5,
            recent_changes_limit: 5,
            recent_changes_lookback_seconds: 24 * 3600,
            untrusted_item_bytes: 1_000,
            summaries_per_signature: 20,
        }
    }
}

/// The smallest context budget accepted: the instructions and the answer schema alone take
/// about half of it.
pub const MIN_CONTEXT_TOKEN_BUDGET: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedDocument {
    pub name: String,
    pub risk: crate::catalogue::RiskClass,
    /// The parameter that carries the document's target; Argus fills it from the incident.
    pub target: crate::ssm_schema::DocumentTarget,
    /// Every other parameter the document may be given, with its type; others are refused.
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, crate::ssm_schema::ParameterSchema>,
}

/// A window in which actions are suppressed; signals and incidents are still recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub name: String,
    /// Resource patterns (`ec2:instance/*`); empty means every resource.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Signature patterns; empty means every signature.
    #[serde(default)]
    pub signatures: Vec<String>,
    pub schedule: Schedule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    Once {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    /// Every week on `days`, from `start` to `end` (UTC, `HH:MM`); an `end` at or before
    /// `start` runs past midnight into the next day.
    Weekly {
        days: Vec<Weekday>,
        start: String,
        end: String,
    },
}

impl MaintenanceWindow {
    pub fn applies_to(&self, resource: &str, signature: &str) -> bool {
        matches_any(&self.resources, resource) && matches_any(&self.signatures, signature)
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        match &self.schedule {
            Schedule::Once { starts_at, ends_at } => *starts_at <= now && now < *ends_at,
            Schedule::Weekly { days, start, end } => {
                let (Some(start), Some(end)) = (parse_time(start), parse_time(end)) else {
                    return false;
                };
                let time = NaiveTime::from_hms_opt(now.hour(), now.minute(), now.second())
                    .unwrap_or(NaiveTime::MIN);
                let today = now.weekday();
                if end > start {
                    days.contains(&today) && start <= time && time < end
                } else {
                    (days.contains(&today) && time >= start)
                        || (days.contains(&today.pred()) && time < end)
                }
            }
        }
    }
}

/// Per-signature limits on autonomy: `max_mode` caps the decision (an override can lower what
/// Argus may do, never raise it past the action's risk class), `min_confidence` raises the bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureOverride {
    pub signature: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub max_mode: Option<Mode>,
    #[serde(default)]
    pub min_confidence: Option<f64>,
}

impl SignatureOverride {
    pub fn applies_to(&self, resource: &str, signature: &str) -> bool {
        glob_matches(&self.signature, signature) && matches_any(&self.resources, resource)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration is not valid JSON for Argus: {0}")]
    Parse(String),
    #[error("configuration field `{field}` is invalid: {reason}")]
    Invalid { field: String, reason: String },
}

impl Config {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            ConfigError::Parse(format!("at `{}`: {}", error.path(), error.inner()))
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            field: field.to_string(),
            reason: reason.to_string(),
        };
        let unit = |value: f64| (0.0..=1.0).contains(&value);
        for document in &self.ssm_documents {
            let target = &document.target.parameter;
            if target.trim().is_empty() || document.parameters.contains_key(target) {
                return Err(invalid(
                    "ssm_documents",
                    &format!(
                        "document `{}` must name its target parameter once, apart from its other parameters",
                        document.name
                    ),
                ));
            }
            let bad_range = document.parameters.values().any(|schema| {
                matches!(schema, crate::ssm_schema::ParameterSchema::Integer { min, max } if min > max)
            });
            if bad_range {
                return Err(invalid(
                    "ssm_documents",
                    &format!(
                        "document `{}` has an integer parameter whose min exceeds its max",
                        document.name
                    ),
                ));
            }
        }
        for (vendor, patterns) in &self.signals.external_resources {
            if vendor.trim().is_empty() || patterns.iter().any(|p| p.trim().is_empty()) {
                return Err(invalid(
                    "signals.external_resources",
                    "vendors and resource patterns must not be empty",
                ));
            }
        }
        if let Some(bad) = self
            .signals
            .self_role_arns
            .iter()
            .find(|arn| crate::own_role::parse_role_arn(arn).is_none())
        {
            return Err(invalid(
                "signals.self_role_arns",
                &format!(
                    "`{bad}` is not an exact IAM role ARN (arn:aws:iam::<account>:role/<name>; no patterns)"
                ),
            ));
        }
        if !unit(self.decision.auto_confidence) || !unit(self.decision.approval_confidence) {
            return Err(invalid("decision", "confidences must be between 0 and 1"));
        }
        if self.decision.approval_confidence > self.decision.auto_confidence {
            return Err(invalid(
                "decision.approval_confidence",
                "must not exceed auto_confidence",
            ));
        }
        for (class, list) in [
            ("low", &self.approvals.low),
            ("medium", &self.approvals.medium),
            ("high", &self.approvals.high),
        ] {
            for identity in list {
                let valid = identity
                    .split_once(':')
                    .is_some_and(|(kind, id)| matches!(kind, "slack" | "email") && !id.is_empty());
                if !valid {
                    return Err(invalid(
                        &format!("approvals.{class}"),
                        &format!("`{identity}` is not `slack:<user id>` or `email:<address>`"),
                    ));
                }
            }
        }
        if self.approvals.link_ttl_seconds == 0 {
            return Err(invalid("approvals.link_ttl_seconds", "must be positive"));
        }
        if self.analysis.context_token_budget < MIN_CONTEXT_TOKEN_BUDGET {
            return Err(invalid(
                "analysis.context_token_budget",
                &format!("must be at least {MIN_CONTEXT_TOKEN_BUDGET}"),
            ));
        }
        if !(64..=crate::signal::MAX_EVIDENCE_TEXT).contains(&self.analysis.untrusted_item_bytes) {
            return Err(invalid(
                "analysis.untrusted_item_bytes",
                &format!(
                    "must be between 64 and {}",
                    crate::signal::MAX_EVIDENCE_TEXT
                ),
            ));
        }
        if self.analysis.history_limit > 20 || self.analysis.recent_changes_limit > 20 {
            return Err(invalid(
                "analysis",
                "history_limit and recent_changes_limit must be at most 20",
            ));
        }
        if self.analysis.summaries_per_signature < self.analysis.history_limit {
            return Err(invalid(
                "analysis.summaries_per_signature",
                "must be at least history_limit",
            ));
        }
        if !(1..=MAX_BUDGET_SECONDS).contains(&self.budget.window_seconds) {
            return Err(invalid(
                "budget.window_seconds",
                &format!("must be between 1 and {MAX_BUDGET_SECONDS} (30 days)"),
            ));
        }
        if self.budget.cooldown_seconds > MAX_BUDGET_SECONDS {
            return Err(invalid(
                "budget.cooldown_seconds",
                &format!("must be at most {MAX_BUDGET_SECONDS} (30 days): longer is not kept"),
            ));
        }
        if self.budget.max_attempts > MAX_BUDGET_ATTEMPTS {
            return Err(invalid(
                "budget.max_attempts",
                &format!("must be at most {MAX_BUDGET_ATTEMPTS}"),
            ));
        }
        let lifecycle = &self.lifecycle;
        for (field, seconds) in [
            ("alarm_quiet_seconds", lifecycle.alarm_quiet_seconds),
            (
                "cloudtrail_quiet_seconds",
                lifecycle.cloudtrail_quiet_seconds,
            ),
            (
                "log_anomaly_quiet_seconds",
                lifecycle.log_anomaly_quiet_seconds,
            ),
            (
                "external_alert_quiet_seconds",
                lifecycle.external_alert_quiet_seconds,
            ),
            (
                "aws_health_quiet_seconds",
                lifecycle.aws_health_quiet_seconds,
            ),
            ("ec2_state_quiet_seconds", lifecycle.ec2_state_quiet_seconds),
            (
                "service_event_quiet_seconds",
                lifecycle.service_event_quiet_seconds,
            ),
            (
                "parameter_change_quiet_seconds",
                lifecycle.parameter_change_quiet_seconds,
            ),
        ] {
            if !(300..=MAX_QUIET_SECONDS).contains(&seconds) {
                return Err(invalid(
                    &format!("lifecycle.{field}"),
                    &format!("must be between 300 and {MAX_QUIET_SECONDS} (30 days)"),
                ));
            }
        }
        if !(60..=86_400).contains(&lifecycle.recheck_seconds) {
            return Err(invalid(
                "lifecycle.recheck_seconds",
                "must be between 60 and 86400",
            ));
        }
        if self.dedup_ttl_seconds < 3600 {
            return Err(invalid(
                "dedup_ttl_seconds",
                "must be at least 3600, longer than any re-delivery",
            ));
        }
        for (index, window) in self.maintenance_windows.iter().enumerate() {
            let field = format!("maintenance_windows[{index}]");
            match &window.schedule {
                Schedule::Once { starts_at, ends_at } if starts_at >= ends_at => {
                    return Err(invalid(&field, "starts_at must be before ends_at"));
                }
                Schedule::Weekly { days, start, end } => {
                    if days.is_empty() {
                        return Err(invalid(&field, "a weekly window needs at least one day"));
                    }
                    if parse_time(start).is_none() || parse_time(end).is_none() {
                        return Err(invalid(&field, "start and end must be HH:MM (UTC)"));
                    }
                }
                Schedule::Once { .. } => {}
            }
        }
        for (index, override_) in self.overrides.iter().enumerate() {
            if override_.min_confidence.is_some_and(|value| !unit(value)) {
                return Err(invalid(
                    &format!("overrides[{index}].min_confidence"),
                    "must be between 0 and 1",
                ));
            }
        }
        Ok(())
    }

    pub fn active_maintenance(
        &self,
        resource: &str,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Option<&MaintenanceWindow> {
        self.maintenance_windows
            .iter()
            .find(|window| window.applies_to(resource, signature) && window.is_active(now))
    }

    /// Whether the external source `vendor` may name `resource` (a resource reference).
    pub fn external_may_name(&self, vendor: &str, resource: &str) -> bool {
        self.signals
            .external_resources
            .get(vendor)
            .is_some_and(|patterns| {
                patterns
                    .iter()
                    .any(|pattern| glob_matches(pattern, resource))
            })
    }

    /// Whether `principal` (a CloudTrail caller) acts as one of Argus' own roles.
    pub fn is_own_role(&self, principal: &str) -> bool {
        crate::own_role::is_own_role(&self.signals.self_role_arns, principal)
    }
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

fn matches_any(patterns: &[String], text: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| glob_matches(pattern, text))
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(position) => rest = &rest[position + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_of_higher_classes_are_approvers_of_lower_risk() {
        use crate::catalogue::RiskClass;
        let policy = ApprovalPolicy {
            low: vec!["slack:ULOW".into()],
            high: vec!["email:lead@example.com".into()],
            ..ApprovalPolicy::default()
        };
        assert_eq!(
            policy.approvers_for(RiskClass::Low),
            vec!["slack:ULOW", "email:lead@example.com"]
        );
        assert_eq!(
            policy.approvers_for(RiskClass::High),
            vec!["email:lead@example.com"]
        );
        let mut config = Config::default();
        config.approvals.low = vec!["alice".into()];
        assert!(
            config.validate().is_err(),
            "identities need a slack: or email: prefix"
        );
    }
    use chrono::TimeZone;

    #[test]
    fn globs_match_like_shell_stars() {
        assert!(glob_matches(
            "arn:aws:sts::*:assumed-role/argus-*",
            "arn:aws:sts::123:assumed-role/argus-recovery/s"
        ));
        assert!(!glob_matches(
            "arn:aws:sts::*:assumed-role/argus-*",
            "arn:aws:sts::123:assumed-role/ops/s"
        ));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "abc"));
        assert!(!glob_matches("a*b*c", "acb"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
        assert!(!glob_matches("ab*ba", "aba"));
    }

    #[test]
    fn an_empty_document_is_the_default_configuration() {
        assert_eq!(Config::from_json("{}").unwrap(), Config::default());
    }

    #[test]
    fn a_misspelt_field_is_named_in_the_error() {
        let error = Config::from_json(r#"{"budget": {"max_attempt": 2}}"#).unwrap_err();
        assert!(error.to_string().contains("max_attempt"), "{error}");
    }

    #[test]
    fn weekly_windows_can_run_past_midnight() {
        let window = MaintenanceWindow {
            name: "patching".into(),
            resources: vec!["ec2:instance/*".into()],
            signatures: vec![],
            schedule: Schedule::Weekly {
                days: vec![Weekday::Sat],
                start: "23:00".into(),
                end: "02:00".into(),
            },
        };
        let saturday_late = Utc.with_ymd_and_hms(2026, 11, 21, 23, 30, 0).unwrap();
        let sunday_early = Utc.with_ymd_and_hms(2026, 11, 22, 1, 59, 0).unwrap();
        let sunday_late = Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap();
        assert!(window.is_active(saturday_late));
        assert!(window.is_active(sunday_early));
        assert!(!window.is_active(sunday_late));
        assert!(window.applies_to("ec2:instance/i-1", "alarm:x"));
        assert!(!window.applies_to("ecs:service/a/b", "alarm:x"));
    }

    #[test]
    fn a_budget_the_stores_cannot_keep_is_refused() {
        let mut config = Config::default();
        config.budget.cooldown_seconds = MAX_BUDGET_SECONDS + 1;
        assert!(config.validate().is_err(), "a cooldown longer than kept");
        let mut config = Config::default();
        config.budget.window_seconds = 0;
        assert!(config.validate().is_err(), "an empty window");
        let mut config = Config::default();
        config.budget.max_attempts = MAX_BUDGET_ATTEMPTS + 1;
        assert!(
            config.validate().is_err(),
            "more attempts than one item keeps"
        );
        let policy = BudgetPolicy {
            window_seconds: 3600,
            cooldown_seconds: 7200,
            max_attempts: 3,
        };
        assert_eq!(policy.look_back(), Duration::hours(2));
    }
}
