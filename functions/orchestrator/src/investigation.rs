//! The orchestrator's investigation: X-Ray (topology and node statistics), CloudTrail
//! (changes), CloudWatch (the resource's own metrics) and the log analyzer's anomalies in the
//! incidents table, behind the library's investigator.
//! The X-Ray and CloudTrail clients are built at the first investigation, not at init: init
//! time is billed and felt on every cold start, and most invocations investigate nothing.

use argus::adapters::cloudtrail::CloudTrailChanges;
use argus::adapters::cloudwatch_metrics::CloudWatchMetrics;
use argus::adapters::xray::XRayInvestigation;
use argus::investigation::findings::Findings;
use argus::investigation::investigator::{Investigator, NotInvestigated, SourcesInvestigator};
use argus::investigation::log_anomalies::StoredLogAnomalies;
use argus::investigation::{InvestigationLimits, LocaliseConfig};
use argus::signal::Signal;
use argus::store::dynamodb::DynamoStore;
use async_trait::async_trait;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug)]
pub struct Investigation {
    aws: aws_config::SdkConfig,
    resource_metrics: CloudWatchMetrics,
    /// The log analyzer's anomalies are read back from the incidents table.
    store: DynamoStore,
    sources: OnceLock<(XRayInvestigation, CloudTrailChanges)>,
    limits: InvestigationLimits,
}

impl Investigation {
    pub fn new(
        aws: &aws_config::SdkConfig,
        cloudwatch: aws_sdk_cloudwatch::Client,
        store: DynamoStore,
        deadline: Duration,
    ) -> Self {
        Self {
            aws: aws.clone(),
            resource_metrics: CloudWatchMetrics::new(cloudwatch),
            store,
            sources: OnceLock::new(),
            limits: InvestigationLimits {
                deadline,
                ..InvestigationLimits::default()
            },
        }
    }
}

#[async_trait]
impl Investigator for Investigation {
    async fn investigate(&self, signal: &Signal) -> Result<Findings, NotInvestigated> {
        let (xray, cloudtrail) = self.sources.get_or_init(|| {
            (
                XRayInvestigation::new(aws_sdk_xray::Client::new(&self.aws)),
                CloudTrailChanges::new(aws_sdk_cloudtrail::Client::new(&self.aws)),
            )
        });
        SourcesInvestigator {
            topology: xray,
            metrics: xray,
            changes: cloudtrail,
            resource_metrics: Some(&self.resource_metrics),
            log_anomalies: Some(&StoredLogAnomalies { store: &self.store }),
            limits: self.limits.clone(),
            localise: LocaliseConfig::default(),
            nodes: Default::default(),
        }
        .investigate(signal)
        .await
    }
}
