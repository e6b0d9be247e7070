//! The post-mortem of an incident, built deterministically from the incident, its audit trail,
//! its signals and what the patterns table learned about its signature: every section as data
//! (for JSON and for the connectors that publish it) and as Markdown an SRE can publish as is.
//!
//! `model` holds the data, `build` derives it from the record, `markdown` writes it out.

mod build;
mod markdown;
mod model;
#[cfg(test)]
mod tests;

pub use model::*;
