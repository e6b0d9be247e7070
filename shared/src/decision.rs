//! The decision policy: auto, approval or advisory, from risk, confidence, the autonomy ladder,
//! budget, maintenance windows and overrides. Anything uncertain degrades to asking or telling a
//! human, never to acting.

use crate::analysis::ValidatedAssessment;
use crate::catalogue::{ActionId, RiskClass, ValidatedAction};
use crate::config::{DecisionPolicy, MaintenanceWindow, SignatureOverride};
use crate::ports::ActionStats;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How much Argus may do on its own, in increasing order of autonomy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Tell people what Argus sees and would do; change nothing.
    Advisory,
    /// Ask a human to approve the action; run it only on approval.
    Approval,
    /// Run the action, then verify it.
    Auto,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Advisory => "advisory",
            Self::Approval => "approval",
            Self::Auto => "auto",
        }
    }
}

/// The remediation budget as seen when deciding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetState {
    pub used: u32,
    pub max: u32,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Set when the last attempt is too recent for the cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooling_down_until: Option<DateTime<Utc>>,
}

impl BudgetState {
    pub fn is_spent(&self) -> bool {
        self.used >= self.max || self.cooling_down_until.is_some()
    }

    pub fn remaining(&self) -> u32 {
        self.max.saturating_sub(self.used)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub mode: Mode,
    /// The action to run (auto) or to ask about (approval); `None` when only people are told.
    pub action: Option<ValidatedAction>,
    /// Page a human now: the budget is spent or the incident is severe and not being fixed.
    pub escalate: bool,
    /// Actions are suppressed by a maintenance window; the incident is only recorded.
    pub suppressed: bool,
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetState>,
    pub decided_at: DateTime<Utc>,
}

/// Severity at which an incident nobody is fixing automatically pages a human.
pub const ESCALATION_SEVERITY: u8 = 8;

pub struct DecisionInput<'a> {
    pub validated: &'a ValidatedAssessment,
    pub budget: Option<BudgetState>,
    pub maintenance: Option<&'a MaintenanceWindow>,
    pub overrides: Vec<&'a SignatureOverride>,
    pub policy: &'a DecisionPolicy,
    /// What was learned about the proposed action on this resource for this signature: the ladder's
    /// input. `None` counts as nothing learned yet.
    pub track_record: Option<ActionStats>,
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for DecisionInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionInput")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

pub fn decide(input: DecisionInput<'_>) -> Decision {
    let assessment = &input.validated.assessment;
    let confidence = assessment.confidence;
    let severe = assessment.severity >= ESCALATION_SEVERITY;
    let mut decision = Decision {
        mode: Mode::Advisory,
        action: None,
        escalate: false,
        suppressed: false,
        reasons: Vec::new(),
        budget: input.budget.clone(),
        decided_at: input.now,
    };
    let action = match &input.validated.action {
        Some(action) if action.action.is_remediation() => action,
        _ => {
            decision
                .reasons
                .push("no remediation was proposed; people are told".to_string());
            decision.escalate = severe;
            if severe {
                decision
                    .reasons
                    .push(format!("severity {} pages a human", assessment.severity));
            }
            return decision;
        }
    };
    if let Some(window) = input.maintenance {
        decision.suppressed = true;
        decision.reasons.push(format!(
            "maintenance window `{}` suppresses actions",
            window.name
        ));
        return decision;
    }
    if let Some(budget) = input.budget.as_ref().filter(|budget| budget.is_spent()) {
        decision.escalate = true;
        decision.reasons.push(match budget.cooling_down_until {
            Some(until) => format!("{} ran on this resource too recently (cooldown until {}); escalating", action.action, until.to_rfc3339()),
            None => format!(
                "remediation budget spent: {} of {} attempts of {} since {}, the next one frees up at {}; escalating",
                budget.used, budget.max, action.action, budget.window_start.to_rfc3339(), budget.window_end.to_rfc3339()
            ),
        });
        return decision;
    }
    let minimum = input
        .overrides
        .iter()
        .filter_map(|override_| override_.min_confidence)
        .fold(input.policy.approval_confidence, f64::max);
    let mode = if confidence < minimum {
        decision.reasons.push(format!(
            "confidence {confidence:.2} is below {minimum:.2}; advising only"
        ));
        Mode::Advisory
    } else {
        match action.risk {
            RiskClass::None => Mode::Advisory,
            RiskClass::Low if confidence >= input.policy.auto_confidence => {
                let (climbed, rung) = ladder(
                    action.action,
                    input.track_record.as_ref(),
                    input.policy.verified_successes_for_auto,
                );
                if climbed {
                    decision.reasons.push(format!(
                        "low-risk action and confidence {confidence:.2} ≥ {:.2}",
                        input.policy.auto_confidence
                    ));
                }
                decision.reasons.extend(rung);
                if climbed { Mode::Auto } else { Mode::Approval }
            }
            RiskClass::Low => {
                decision.reasons.push(format!(
                    "confidence {confidence:.2} is below the auto threshold {:.2}; asking a human",
                    input.policy.auto_confidence
                ));
                Mode::Approval
            }
            RiskClass::Medium => {
                decision.reasons.push(
                    format!(
                        "{} is {:?}-risk; a human approves it",
                        action.action, action.risk
                    )
                    .to_lowercase(),
                );
                Mode::Approval
            }
            RiskClass::High if confidence >= input.policy.auto_confidence => {
                decision.reasons.push(format!(
                    "{} is high-risk; a human approves it",
                    action.action
                ));
                Mode::Approval
            }
            RiskClass::High => {
                decision.reasons.push(format!(
                    "{} is high-risk and confidence {confidence:.2} is below {:.2}; advising only",
                    action.action, input.policy.auto_confidence
                ));
                Mode::Advisory
            }
        }
    };
    // An action on a resource other than the one that alarmed rests on the investigation's
    // reading of the graph: a person confirms it.
    let mode = if action.on_candidate && mode == Mode::Auto {
        decision.reasons.push(format!(
            "{} targets a root-cause candidate, not the resource that alarmed; a human approves it",
            action.action
        ));
        Mode::Approval
    } else {
        mode
    };
    let capped = input
        .overrides
        .iter()
        .filter_map(|override_| override_.max_mode)
        .fold(mode, Mode::min);
    if capped < mode {
        decision.reasons.push(format!(
            "an override caps this signature at {}",
            capped.as_str()
        ));
    }
    decision.mode = capped;
    if capped != Mode::Advisory {
        decision.action = Some(action.clone());
    }
    if severe && capped == Mode::Advisory {
        decision.escalate = true;
        decision
            .reasons
            .push(format!("severity {} pages a human", assessment.severity));
    }
    decision
}

/// The autonomy ladder: whether `action` has earned running on its own for this resource and
/// signature
/// (`needed` verified successes since its last failed verification), and the reason to give.
fn ladder(action: ActionId, record: Option<&ActionStats>, needed: u32) -> (bool, Option<String>) {
    if needed == 0 {
        return (true, None);
    }
    let in_a_row = record.map_or(0, |record| record.consecutive_verified_successes);
    let needed = u64::from(needed);
    if in_a_row >= needed {
        return (
            true,
            Some(format!(
                "autonomy ladder: {action} was verified {in_a_row} time(s) in a row for this resource and signature (needs {needed})"
            )),
        );
    }
    let reason = match record.and_then(|record| record.last_failure_at) {
        Some(failed_at) => format!(
            "autonomy ladder: {action} failed verification for this resource and signature at {} and has {in_a_row} of {needed} verified successes since; asking a human",
            failed_at.to_rfc3339()
        ),
        None => format!(
            "autonomy ladder: {action} has {in_a_row} of the {needed} verified successes for this resource and signature that running on its own needs; asking a human"
        ),
    };
    (false, Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Assessment, Classification};
    use crate::catalogue::{ActionParams, InstanceParams};
    use crate::resource::ResourceRef;
    use chrono::TimeZone;

    fn validated(confidence: f64, risk: RiskClass) -> ValidatedAssessment {
        ValidatedAssessment {
            assessment: Assessment {
                analyst: "test".into(),
                classification: Classification::Availability,
                severity: 5,
                confidence,
                summary: String::new(),
                hypotheses: vec![],
                proposal: None,
                usage: None,
            },
            action: Some(ValidatedAction {
                action: ActionId::Ec2Reboot,
                params: ActionParams::Instance(InstanceParams {
                    instance_id: "i-1".into(),
                }),
                risk,
                target: ResourceRef::parse("ec2:instance/i-1").ok(),
                on_candidate: false,
                provenance: Vec::new(),
                root_cause: None,
            }),
            notes: vec![],
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap()
    }

    /// A track record that has climbed the ladder, so tests of other rules see them alone.
    fn proven() -> ActionStats {
        ActionStats {
            attempts: 3,
            verified_successes: 3,
            consecutive_verified_successes: 3,
            ..ActionStats::default()
        }
    }

    fn decide_with(
        validated: &ValidatedAssessment,
        budget: Option<BudgetState>,
        overrides: Vec<&SignatureOverride>,
    ) -> Decision {
        decide(DecisionInput {
            validated,
            budget,
            maintenance: None,
            overrides,
            policy: &DecisionPolicy::default(),
            track_record: Some(proven()),
            now: now(),
        })
    }

    #[test]
    fn only_confident_low_risk_actions_run_on_their_own() {
        assert_eq!(
            decide_with(&validated(0.9, RiskClass::Low), None, vec![]).mode,
            Mode::Auto
        );
        assert_eq!(
            decide_with(&validated(0.6, RiskClass::Low), None, vec![]).mode,
            Mode::Approval
        );
        assert_eq!(
            decide_with(&validated(0.3, RiskClass::Low), None, vec![]).mode,
            Mode::Advisory
        );
        assert_eq!(
            decide_with(&validated(0.99, RiskClass::Medium), None, vec![]).mode,
            Mode::Approval
        );
        assert_eq!(
            decide_with(&validated(0.7, RiskClass::High), None, vec![]).mode,
            Mode::Advisory
        );
    }

    #[test]
    fn a_spent_budget_leaves_only_escalation() {
        let budget = BudgetState {
            used: 3,
            max: 3,
            window_start: now(),
            window_end: now(),
            cooling_down_until: None,
        };
        let decision = decide_with(&validated(0.99, RiskClass::Low), Some(budget), vec![]);
        assert_eq!(decision.mode, Mode::Advisory);
        assert!(decision.escalate);
        assert!(decision.action.is_none());
    }

    #[test]
    fn overrides_can_only_lower_autonomy() {
        let cap = SignatureOverride {
            signature: "*".into(),
            resources: vec![],
            max_mode: Some(Mode::Approval),
            min_confidence: None,
        };
        assert_eq!(
            decide_with(&validated(0.95, RiskClass::Low), None, vec![&cap]).mode,
            Mode::Approval
        );
        let raise = SignatureOverride {
            signature: "*".into(),
            resources: vec![],
            max_mode: Some(Mode::Auto),
            min_confidence: None,
        };
        assert_eq!(
            decide_with(&validated(0.95, RiskClass::Medium), None, vec![&raise]).mode,
            Mode::Approval
        );
        let bar = SignatureOverride {
            signature: "*".into(),
            resources: vec![],
            max_mode: None,
            min_confidence: Some(0.97),
        };
        assert_eq!(
            decide_with(&validated(0.95, RiskClass::Low), None, vec![&bar]).mode,
            Mode::Advisory
        );
    }

    fn decide_on_record(record: Option<ActionStats>, needed: u32) -> Decision {
        decide(DecisionInput {
            validated: &validated(0.95, RiskClass::Low),
            budget: None,
            maintenance: None,
            overrides: vec![],
            policy: &DecisionPolicy {
                verified_successes_for_auto: needed,
                ..DecisionPolicy::default()
            },
            track_record: record,
            now: now(),
        })
    }

    #[test]
    fn the_ladder_keeps_a_confident_low_risk_action_waiting_for_approval_until_it_has_earned_auto()
    {
        let untried = decide_on_record(None, 3);
        assert_eq!(untried.mode, Mode::Approval);
        assert!(untried.action.is_some(), "a human is asked about it");
        assert!(
            untried.reasons.iter().any(|r| r.contains("0 of the 3")),
            "{:?}",
            untried.reasons
        );
        let two = ActionStats {
            consecutive_verified_successes: 2,
            verified_successes: 2,
            attempts: 2,
            ..ActionStats::default()
        };
        assert_eq!(decide_on_record(Some(two), 3).mode, Mode::Approval);
        assert_eq!(decide_on_record(Some(proven()), 3).mode, Mode::Auto);
        let after_failure = ActionStats {
            attempts: 6,
            verified_successes: 5,
            failures: 1,
            consecutive_verified_successes: 1,
            last_failure_at: Some(now()),
            ..ActionStats::default()
        };
        let decision = decide_on_record(Some(after_failure), 3);
        assert_eq!(
            decision.mode,
            Mode::Approval,
            "verified successes before the failure do not count"
        );
        assert!(
            decision
                .reasons
                .iter()
                .any(|r| r.contains("failed verification")),
            "{:?}",
            decision.reasons
        );
        assert_eq!(
            decide_on_record(None, 0).mode,
            Mode::Auto,
            "a ladder of zero rungs is off"
        );
    }
}

/// A limit the facts Argus read put on a decision (who stopped an instance, where a signal came
/// from, whether a resource is Argus' to act on), with the reason people are shown. Applied
/// after [`decide`] and before any budget is spent, so a capped action never takes an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// The most the decision may be: `Advisory` withdraws the action altogether.
    pub mode: Mode,
    pub reason: String,
}

/// Lowers `decision` to `ceiling`; the reason is recorded only when it changed something.
pub fn apply_ceiling(decision: &mut Decision, ceiling: &Ceiling) {
    if decision.action.is_none() || decision.mode <= ceiling.mode {
        return;
    }
    decision.mode = ceiling.mode;
    if ceiling.mode == Mode::Advisory {
        decision.action = None;
    }
    decision.reasons.push(ceiling.reason.clone());
}
