//! Argus connectors: what people see of an incident (notifications, approval requests, pages,
//! tickets, post-mortems) and what comes back in (vendor alert webhooks, approval answers).

pub mod inbound;
pub mod secrets;
pub mod signing;
