//! Recovery: the state machine definition, a local engine for the subset of ASL it uses, the
//! verifier's judgement, the workflow's records, and a simulated world for local runs.

pub mod asl;
pub mod engine;
pub mod record;
pub mod verifier;
pub mod world;

/// The `errorType` the connectors function reports when a human rejects an approval; the
/// state machine's "Request approval" state catches it by this name.
pub const APPROVAL_REJECTED: &str = "ApprovalRejected";

/// The error a pending approval's task is failed with (SendTaskFailure) when its incident is
/// resolved or closed: by the intake when a signal resolves the incident while the approval
/// waits, and by the connectors when someone answers an approval of a resolved incident. The
/// "Request approval" state catches it apart from rejection and expiry and ends without acting
/// or paging.
pub const INCIDENT_RESOLVED: &str = "Argus.IncidentResolved";

/// statemachines/recovery.asl.json as Terraform deploys it (placeholders still in it).
pub const RECOVERY_ASL: &str = include_str!("../../../statemachines/recovery.asl.json");

/// The recovery state machine, parsed and checked against what the local engine supports.
pub fn recovery_machine() -> Result<asl::StateMachine, asl::AslError> {
    asl::StateMachine::parse(RECOVERY_ASL)
}
