//! What an external source may name: a vendor's alert chooses the incident's resource (an
//! Alertmanager label, a Datadog tag), and actions are pinned to that resource, so a vendor may
//! name only what `signals.external_resources` allows it. Any other name is kept as evidence,
//! and the alert stays on itself (`external:<vendor>/<alert id>`), where no action can land.

use crate::config::Config;
use crate::resource::ResourceRef;
use crate::signal::{Evidence, Signal, SignalSource};

/// `signal` with its resource confined to what its vendor may name; other signals unchanged.
pub(super) fn confine(mut signal: Signal, config: &Config) -> Signal {
    if signal.source != SignalSource::ExternalAlert
        || signal.resource.kind().starts_with("external:")
    {
        return signal;
    }
    // The origin is `external:<vendor>:<alert id>`, written by the normaliser.
    let mut origin = signal
        .origin
        .as_deref()
        .unwrap_or("")
        .splitn(3, ':')
        .skip(1);
    let vendor = origin.next().unwrap_or("unknown").to_string();
    let alert_id = origin.next().unwrap_or("unknown").to_string();
    let named = signal.resource.as_str().to_string();
    if config.external_may_name(&vendor, &named) {
        return signal;
    }
    let Ok(own) = ResourceRef::new("external", &vendor, &alert_id)
        .or_else(|_| ResourceRef::new("external", &vendor, "alert"))
    else {
        return signal;
    };
    signal.evidence.push(Evidence::new(
        "alert.named_resource",
        "resource the alert named",
        format!(
            "the alert named {named}, which {vendor} is not allowed to name (signals.external_resources); the incident stays on the alert"
        ),
    ));
    signal.resource = own;
    signal
}
