//! Argus never undoes a deliberate stop: a StopInstances made by a person (any caller that is
//! not Argus' own role) is never started again, and a stop whose maker Argus cannot know yet
//! (an EC2 state change: CloudTrail tells who, minutes later) is started only on a person's
//! approval. An instance carrying a quarantine tag gets no action at all (`tag_guard.rs`, which
//! reads the target's tags), and the recovery role's IAM refuses it too (terraform/iam.tf).

use super::*;
use crate::decision::Ceiling;

/// How long before a stop a person's StopInstances on the same instance still explains it.
const PERSONS_STOP_LOOKBACK_MINUTES: i64 = 60;

const STOP_CALL_SIGNATURE: &str = "cloudtrail:ec2:StopInstances";

impl<'a> Intake<'a> {
    /// The ceiling a stop puts on starting the instance again; `None` when `signal` is no stop
    /// or `proposed` is not `ec2.start`.
    pub(super) async fn deliberate_stop(
        &self,
        signal: &Signal,
        proposed: Option<ActionId>,
    ) -> Result<Option<Ceiling>, IntakeError> {
        if proposed != Some(ActionId::Ec2Start) {
            return Ok(None);
        }
        let withdraw = |who: &str| Ceiling {
            mode: Mode::Advisory,
            reason: format!(
                "the instance was stopped by {who}, not by Argus; Argus never undoes a deliberate stop"
            ),
        };
        match signal.source {
            SignalSource::CloudTrail if signal.state == "StopInstances" => {
                let who = signal
                    .principal
                    .as_deref()
                    .unwrap_or("an unknown principal");
                // Argus' own StopInstances never opens an incident (it is self-caused); any
                // other caller stopped it on purpose.
                Ok((!self.config.is_own_role(who)).then(|| withdraw(who)))
            }
            SignalSource::Ec2StateChange
                if matches!(signal.state.as_str(), "stopping" | "stopped") =>
            {
                let since = self.clock.now() - Duration::minutes(PERSONS_STOP_LOOKBACK_MINUTES);
                let persons_stop = self
                    .store
                    .incidents_on(&signal.resource, 20)
                    .await?
                    .into_iter()
                    .find(|incident| {
                        incident.signature == STOP_CALL_SIGNATURE && incident.opened_at >= since
                    });
                Ok(Some(match persons_stop {
                    Some(incident) => withdraw(&format!(
                        "a person (StopInstances, incident {})",
                        incident.id
                    )),
                    None => Ceiling {
                        mode: Mode::Approval,
                        reason: "who stopped the instance is not known yet (CloudTrail tells it minutes later); a person confirms the stop was unwanted".to_string(),
                    },
                }))
            }
            _ => Ok(None),
        }
    }
}
