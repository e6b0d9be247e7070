//! A source event id for events that carry none (a CloudTrail record without `eventID`, a
//! hand-written EventBridge event without `id`): a hash of the event's canonical JSON, so the
//! same content always gets the same id and a re-delivery is still recognised as one.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// What every derived id starts with, so the replay output and the audit trail show that the
/// id was computed by Argus and not given by AWS.
pub const DERIVED_ID_PREFIX: &str = "derived-sha256-";

/// Hex digits kept of the digest: 128 bits, far past any collision a store could meet.
const DIGEST_HEX_CHARS: usize = 32;

/// `derived-sha256-<first 32 hex digits of SHA-256 of the canonical JSON of value>`.
///
/// Canonical JSON: object keys sorted by their UTF-8 bytes at every level, no whitespace,
/// strings and numbers as serde_json writes them. Reordering keys or re-indenting a file does
/// not change the id; changing any value does.
pub fn derived_event_id(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{DERIVED_ID_PREFIX}{}", &hex[..DIGEST_HEX_CHARS])
}

/// Whether a source event id (or an id inside one) was derived from content.
pub fn is_derived(source_event_id: &str) -> bool {
    source_event_id.contains(DERIVED_ID_PREFIX)
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_id_but_values_do() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "é"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"é","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(derived_event_id(&a), derived_event_id(&b));
        assert_ne!(
            derived_event_id(&a),
            derived_event_id(&json!({"b": 2, "a": {"y": [1, 2], "x": "é"}}))
        );
        let id = derived_event_id(&a);
        assert!(id.starts_with(DERIVED_ID_PREFIX) && is_derived(&id), "{id}");
        assert_eq!(id.len(), DERIVED_ID_PREFIX.len() + 32);
    }

    #[test]
    fn the_canonical_form_is_the_documented_one() {
        let mut out = String::new();
        write_canonical(&json!({"b": [true, null], "a": "x\"y"}), &mut out);
        assert_eq!(out, r#"{"a":"x\"y","b":[true,null]}"#);
    }
}
