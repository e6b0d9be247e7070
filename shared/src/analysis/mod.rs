//! Analysis: the bounded context an analyst sees, the prompt a model is sent and the untrusted
//! text fenced in it, the `Assessment` every analyst returns and its validation, the
//! deterministic rules analyst (the embedded default and the fallback), the Bedrock analyst
//! (feature `bedrock`), and learning from recovery outcomes.

mod assessment;
#[cfg(feature = "bedrock")]
pub mod bedrock;
mod context;
pub mod learning;
pub mod prompt;
mod provenance;
mod root_cause;
mod rules;
pub mod sanitise;

pub use assessment::{
    Assessment, AssessmentError, Classification, Hypothesis, MAX_HYPOTHESES, Proposal, TokenUsage,
    UNGROUNDED_CONFIDENCE_CAP, ValidatedAssessment, validate_assessment,
};
pub use context::{
    AnalysisContext, ContextInputs, ContextItem, DroppedItem, PastIncident, RecentChange, Relevance,
};
pub use learning::{
    LearningError, RecoveryOutcome, ladder_key, learn_from_outcome, opening_signal_observed_clear,
};
pub use rules::RulesAnalyst;
