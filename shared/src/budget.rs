//! The remediation budget as a sliding window: the attempts each resource and action took,
//! judged against the window ending now, and the cooldown since the last one. Both stores
//! keep one ledger per resource and action and run exactly this logic inside their
//! conditional write, so they agree on every answer.

use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::ports::{BudgetLimits, BudgetOutcome, BudgetUsage};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One attempt a decision took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAttempt {
    pub consumer: CorrelationId,
    pub at: DateTime<Utc>,
}

/// The attempts of one resource and action that can still matter: those inside the longest of
/// the window and the cooldown, and the last one.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetLedger {
    pub attempts: Vec<BudgetAttempt>,
}

impl BudgetLedger {
    fn in_window(
        &self,
        now: DateTime<Utc>,
        window: Duration,
    ) -> impl Iterator<Item = &BudgetAttempt> {
        self.attempts
            .iter()
            .filter(move |attempt| attempt.at > now - window)
    }

    fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.attempts.iter().map(|attempt| attempt.at).max()
    }

    /// Takes an attempt for `consumer` when the window ending `now` has room and the cooldown
    /// since the last attempt has passed. An incident that holds an attempt in the window is
    /// granted again, counted once and not cooled down by its own attempt. `Spent` is only
    /// ever answered with `used >= max_attempts`.
    pub fn consume(
        &mut self,
        limits: &BudgetLimits,
        consumer: &CorrelationId,
        now: DateTime<Utc>,
    ) -> BudgetOutcome {
        let used = u32::try_from(self.in_window(now, limits.window).count()).unwrap_or(u32::MAX);
        if self
            .in_window(now, limits.window)
            .any(|attempt| &attempt.consumer == consumer)
        {
            return BudgetOutcome::Granted { used };
        }
        if used >= limits.max_attempts {
            return BudgetOutcome::Spent {
                used: used.max(limits.max_attempts),
            };
        }
        if let Some(last_attempt_at) = self.last_attempt_at()
            && last_attempt_at + limits.cooldown > now
        {
            return BudgetOutcome::CoolingDown {
                used,
                last_attempt_at,
            };
        }
        let keep = limits.window.max(limits.cooldown);
        self.attempts.retain(|attempt| attempt.at > now - keep);
        self.attempts.push(BudgetAttempt {
            consumer: consumer.clone(),
            at: now,
        });
        BudgetOutcome::Granted { used: used + 1 }
    }

    /// What the window ending `now` holds for `action`; `None` when nothing that matters is left.
    pub fn usage(
        &self,
        action: ActionId,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Option<BudgetUsage> {
        let last_attempt_at = self.last_attempt_at()?;
        let in_window: Vec<&BudgetAttempt> = self.in_window(now, window).collect();
        Some(BudgetUsage {
            action,
            used: u32::try_from(in_window.len()).unwrap_or(u32::MAX),
            last_attempt_at,
            consumers: in_window
                .iter()
                .map(|attempt| attempt.consumer.clone())
                .collect(),
            oldest_in_window: in_window.iter().map(|attempt| attempt.at).min(),
        })
    }

    /// When the ledger no longer matters: its last attempt has left both the window and the
    /// cooldown. Stores expire it then.
    pub fn expires_at(&self, limits: &BudgetLimits) -> Option<DateTime<Utc>> {
        Some(self.last_attempt_at()? + limits.window.max(limits.cooldown) + Duration::days(1))
    }
}
