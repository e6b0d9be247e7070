//! Investigation: what Argus looks up before it proposes — the dependency graph around the
//! alarming node, metric series against each node's own normal behaviour, recent changes — and
//! root-cause localisation over them, each finding an evidence item a hypothesis can cite.
//!
//! Read-only and deterministic. The sources are ports ([`ports`]) so the same code runs on AWS
//! (the X-Ray, CloudWatch and CloudTrail adapters in `crate::adapters`) and on a recorded snapshot
//! ([`snapshot`], Argus' own folder format or the PetShop dataset's layout). [`localise`] ranks
//! root-cause candidates; [`baseline`] is the PetShop dataset's own simple method, kept to be
//! measured side by side; [`findings`] turns a run into evidence items (`topology.*`,
//! `metric.*`, `change.*`, `logs.*`); [`resource_metrics`] reads the alarming resource's own
//! metrics against their normal level; [`stage`] runs the sources under a deadline.

pub mod anomaly;
pub mod baseline;
pub mod csv;
pub mod findings;
pub mod graph;
pub mod investigator;
pub mod localise;
pub mod log_anomalies;
pub mod model;
pub mod ports;
pub mod resource_metrics;
pub mod snapshot;
pub mod stage;

pub use findings::{EvidenceItem, Findings};
pub use graph::CallGraph;
pub use localise::{Candidate, Evidence, LocaliseConfig, LocaliseError, localise};
pub use model::{Change, MetricTable, SeriesKey, Target, metric, statistic};
pub use ports::{
    ChangeSource, LogAnomalySource, MetricsSource, ResourceMetricsSource, SourceError,
    TopologySource,
};
pub use snapshot::{RecordedSnapshot, SnapshotError, SnapshotLayout};
pub use stage::{InvestigationLimits, investigate};
