//! Translates the "Verify recovery" state's payload into the library's verdict.

use argus::clock::Clock;
use argus::recovery::verifier::{VerifyRequest, verify};
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

use crate::wiring::INVALID_REQUEST;

pub fn handle(payload: &Value, clock: &dyn Clock) -> Result<Value, Diagnostic> {
    let request: VerifyRequest = serde_json::from_value(payload.clone()).map_err(|error| {
        // Logged once here: the runtime's own copy of handler errors is turned off.
        tracing::error!(error_type = INVALID_REQUEST, %error, "not a verification request");
        Diagnostic {
            error_type: INVALID_REQUEST.to_string(),
            error_message: format!("not a verification request: {error}"),
        }
    })?;
    let response = verify(&request, clock.now());
    let correlation_id = request
        .incident
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    tracing::info!(verdict = ?response.verdict, check = request.check, correlation_id, "verified");
    Ok(json!(response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus::clock::ManualClock;
    use chrono::TimeZone;

    fn recorded(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/verifier")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn verdicts_on_recorded_sdk_answers() {
        let clock = ManualClock::new(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 22, 6, 20, 0)
                .unwrap(),
        );
        for (file, verdict) in [
            ("recovered.json", "RECOVERED"),
            ("still-in-alarm.json", "PENDING"),
            ("still-in-alarm-last-check.json", "FAILED"),
            ("alarm-unreadable.json", "PENDING"),
            ("ecs-recovered.json", "RECOVERED"),
            ("lambda-recovered.json", "RECOVERED"),
        ] {
            let answer = handle(&recorded(file), &clock).unwrap();
            assert_eq!(answer["verdict"], verdict, "{file}: {answer}");
            assert!(
                !answer["reasons"].as_array().unwrap().is_empty(),
                "{file}: a verdict says why"
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_a_request_is_a_typed_error() {
        let clock = ManualClock::new(chrono::Utc::now());
        let error = handle(&json!({"hello": "world"}), &clock).unwrap_err();
        assert_eq!(error.error_type, INVALID_REQUEST);
    }
}
