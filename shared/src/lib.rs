//! Argus: self-healing incident response for AWS. This library holds the domain (signals,
//! incidents, guards, analysis, decisions) and the ports every adapter implements; the Lambda
//! functions and the `argus` CLI are thin shells around it.

pub mod adapters;
pub mod analysis;
pub mod backoff;
pub mod bounds;
pub mod budget;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod correlation;
pub mod decision;
pub mod escape;
pub mod incident;
pub mod intake;
pub mod investigation;
pub mod lifecycle;
pub mod loganalysis;
pub mod logmine;
pub mod own_role;
pub mod ports;
pub mod postmortem;
pub mod reconcile;
pub mod recovery;
pub mod resource;
pub mod resource_grammar;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod signal;
pub mod ssm_schema;
pub mod store;
#[cfg(feature = "telemetry")]
pub mod telemetry;
pub mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;
