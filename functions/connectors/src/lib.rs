//! Argus connectors: what people see of an incident (notifications, approval requests, pages,
//! tickets, post-mortems) and what comes back in (vendor alert webhooks, approval answers).

pub mod delivery;
pub mod handler;
pub use argus::approval::identity;
pub mod inbound;
pub mod outbound;
#[path = "../../runtime_contract.rs"]
pub mod runtime_contract;
pub mod secrets;
pub mod settings;
pub mod signing;
// The deployment's contract, read by the settings tests and by tests/tests/wiring.rs.
pub mod wiring;
