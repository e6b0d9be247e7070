//! Analysis: the context an analyst sees, the `Assessment` it returns, its validation, and the
//! deterministic rules analyst that is both the embedded default and the fallback.

mod assessment;
mod context;
mod rules;

pub use assessment::{
    Assessment, AssessmentError, Classification, Hypothesis, Proposal, ValidatedAssessment,
    validate_assessment,
};
pub use context::{AnalysisContext, ContextItem, PastIncident};
pub use rules::RulesAnalyst;
