//! How each vendor's webhook proves it is the vendor: a bearer token or basic-auth password
//! (Alertmanager `http_config`, Grafana contact points, Datadog auth), a shared secret in a
//! custom header (Datadog), or an HMAC-SHA256 signature of the raw body (PagerDuty v3, Grafana).
//! Every comparison of a secret is constant-time.

use super::alerts::Vendor;
use super::http::HttpRequest;
use crate::secrets::{Secrets, names};
use crate::signing::{SigningKey, verify_hmac_sha256_hex};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The custom header Datadog's webhook is configured to send the shared secret in.
pub const DATADOG_SECRET_HEADER: &str = "x-argus-webhook-secret";
/// PagerDuty v3: `v1=<hex>` signatures, comma-separated while a secret is being rotated.
pub const PAGERDUTY_SIGNATURE_HEADER: &str = "x-pagerduty-signature";
/// Grafana's default HMAC signature header.
pub const GRAFANA_SIGNATURE_HEADER: &str = "x-grafana-alerting-signature";
/// The timestamp header to configure on the Grafana contact point. Grafana has no default for
/// it; with it set, the signature covers `timestamp:body` and a replay is refused when stale.
/// Argus requires it with the HMAC: a body-only signature never goes stale, so a captured
/// request could be replayed forever.
pub const GRAFANA_TIMESTAMP_HEADER: &str = "x-grafana-alerting-timestamp";
/// A signed Grafana request older (or newer) than this is refused as a replay.
pub const GRAFANA_REPLAY_WINDOW_SECONDS: i64 = 300;

/// Why a webhook was refused; the text names no secret and is safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No secret is configured for this vendor, so nothing it sends can be trusted.
    NotConfigured,
    /// The request carries no credential the vendor would send.
    MissingCredentials,
    /// A credential is present and wrong.
    BadCredentials,
    /// A signed timestamp is outside the replay window.
    Stale,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "this webhook is not configured",
            Self::MissingCredentials => "missing credentials",
            Self::BadCredentials => "bad credentials",
            Self::Stale => "the signed timestamp is outside the replay window",
        }
    }
}

/// Checks a vendor's webhook against the secrets configured for it.
pub fn authenticate(
    vendor: Vendor,
    request: &HttpRequest,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<(), AuthFailure> {
    match vendor {
        Vendor::Alertmanager => {
            let token = secrets
                .get(names::ALERTMANAGER_TOKEN)
                .ok_or(AuthFailure::NotConfigured)?;
            check_authorization(request, token)
        }
        Vendor::Datadog => {
            let secret = secrets
                .get(names::DATADOG_WEBHOOK_SECRET)
                .ok_or(AuthFailure::NotConfigured)?;
            match request.header(DATADOG_SECRET_HEADER) {
                Some(sent) if secret_matches(sent.trim(), secret) => Ok(()),
                Some(_) => Err(AuthFailure::BadCredentials),
                None => check_authorization(request, secret),
            }
        }
        Vendor::PagerDuty => {
            let secret = secrets
                .get(names::PAGERDUTY_WEBHOOK_SECRET)
                .ok_or(AuthFailure::NotConfigured)?;
            let header = request
                .header(PAGERDUTY_SIGNATURE_HEADER)
                .ok_or(AuthFailure::MissingCredentials)?;
            if pagerduty_signature_matches(&SigningKey::new(secret), &request.body, header) {
                Ok(())
            } else {
                Err(AuthFailure::BadCredentials)
            }
        }
        Vendor::Grafana => {
            let hmac_secret = secrets.get(names::GRAFANA_HMAC_SECRET);
            let token = secrets.get(names::GRAFANA_TOKEN);
            if hmac_secret.is_none() && token.is_none() {
                return Err(AuthFailure::NotConfigured);
            }
            // With an HMAC secret configured the signature is required: a bearer token alone
            // must not be a way around the stronger check.
            if let Some(secret) = hmac_secret {
                return check_grafana_signature(request, secret, now);
            }
            check_authorization(request, token.unwrap_or_default())
        }
    }
}

/// `Authorization: Bearer <token>`, or `Basic` whose password is the token (the user name is
/// not a secret, so any is accepted).
fn check_authorization(request: &HttpRequest, secret: &str) -> Result<(), AuthFailure> {
    let header = request
        .header("authorization")
        .ok_or(AuthFailure::MissingCredentials)?
        .trim();
    let (scheme, credentials) = header.split_once(' ').ok_or(AuthFailure::BadCredentials)?;
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(credentials.trim())
            .map_err(|_| AuthFailure::BadCredentials)?;
        let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::BadCredentials)?;
        let (_user, password) = decoded.split_once(':').ok_or(AuthFailure::BadCredentials)?;
        password.to_string()
    } else {
        return Err(AuthFailure::BadCredentials);
    };
    if secret_matches(&presented, secret) {
        Ok(())
    } else {
        Err(AuthFailure::BadCredentials)
    }
}

/// Compares digests, so neither the content nor the length of the secret leaks through timing.
pub fn secret_matches(presented: &str, secret: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let secret = Sha256::digest(secret.as_bytes());
    bool::from(presented.as_slice().ct_eq(secret.as_slice()))
}

/// True when any `v1=` signature in the header is the HMAC of the body; other versions are
/// skipped, as PagerDuty asks.
pub fn pagerduty_signature_matches(key: &SigningKey, body: &[u8], header: &str) -> bool {
    header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .fold(false, |matched, signature| {
            // Every candidate is checked, so the position of the good one does not show in time.
            verify_hmac_sha256_hex(key, body, signature) | matched
        })
}

/// Grafana signs `timestamp:body` when a timestamp header is configured (else the body alone,
/// which Argus refuses: without the signed timestamp the request could be a replay of any age);
/// the signature is hex.
fn check_grafana_signature(
    request: &HttpRequest,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthFailure> {
    let signature = request
        .header(GRAFANA_SIGNATURE_HEADER)
        .ok_or(AuthFailure::MissingCredentials)?;
    let timestamp = request
        .header(GRAFANA_TIMESTAMP_HEADER)
        .ok_or(AuthFailure::MissingCredentials)?
        .trim();
    let mut signed = format!("{timestamp}:").into_bytes();
    signed.extend_from_slice(&request.body);
    if !verify_hmac_sha256_hex(&SigningKey::new(secret), &signed, signature) {
        return Err(AuthFailure::BadCredentials);
    }
    let sent_at: i64 = timestamp.parse().map_err(|_| AuthFailure::BadCredentials)?;
    if (now.timestamp() - sent_at).abs() > GRAFANA_REPLAY_WINDOW_SECONDS {
        return Err(AuthFailure::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::hmac_sha256_hex;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
    }

    fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        Secrets::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn post() -> HttpRequest {
        HttpRequest::new("POST", "/webhooks/x").with_body(b"{\"a\":1}".to_vec())
    }

    #[test]
    fn alertmanager_takes_a_bearer_token_or_a_basic_auth_password() {
        let secrets = secrets(&[(names::ALERTMANAGER_TOKEN, "am-token")]);
        let check =
            |request: &HttpRequest| authenticate(Vendor::Alertmanager, request, &secrets, now());
        assert_eq!(
            check(&post().with_header("Authorization", "Bearer am-token")),
            Ok(())
        );
        let basic = STANDARD.encode("alertmanager:am-token");
        assert_eq!(
            check(&post().with_header("Authorization", &format!("Basic {basic}"))),
            Ok(())
        );
        assert_eq!(
            check(&post().with_header("Authorization", "Bearer am-token2")),
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(check(&post()), Err(AuthFailure::MissingCredentials));
        assert_eq!(
            authenticate(Vendor::Alertmanager, &post(), &Secrets::default(), now()),
            Err(AuthFailure::NotConfigured)
        );
    }

    #[test]
    fn datadog_takes_its_custom_header_or_basic_auth() {
        let secrets = secrets(&[(names::DATADOG_WEBHOOK_SECRET, "dd-secret")]);
        let check = |request: &HttpRequest| authenticate(Vendor::Datadog, request, &secrets, now());
        assert_eq!(
            check(&post().with_header(DATADOG_SECRET_HEADER, "dd-secret")),
            Ok(())
        );
        assert_eq!(
            check(&post().with_header(DATADOG_SECRET_HEADER, "nope")),
            Err(AuthFailure::BadCredentials)
        );
        let basic = STANDARD.encode("datadog:dd-secret");
        assert_eq!(
            check(&post().with_header("authorization", &format!("Basic {basic}"))),
            Ok(())
        );
    }

    #[test]
    fn pagerduty_accepts_any_matching_v1_signature_during_rotation() {
        let secrets = secrets(&[(names::PAGERDUTY_WEBHOOK_SECRET, "pd-secret")]);
        let request = post();
        let good = hmac_sha256_hex(&SigningKey::new("pd-secret"), &request.body);
        let old = hmac_sha256_hex(&SigningKey::new("old-secret"), &request.body);
        let check = |header: &str| {
            authenticate(
                Vendor::PagerDuty,
                &request.clone().with_header("X-PagerDuty-Signature", header),
                &secrets,
                now(),
            )
        };
        assert_eq!(check(&format!("v1={good}")), Ok(()));
        assert_eq!(check(&format!("v1={old},v1={good}")), Ok(()));
        assert_eq!(check(&format!("v1={old}, v1={good}")), Ok(()));
        assert_eq!(
            check(&format!("v1={old}")),
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(
            check(&format!("v0={good}")),
            Err(AuthFailure::BadCredentials)
        );
        assert_eq!(
            authenticate(Vendor::PagerDuty, &request, &secrets, now()),
            Err(AuthFailure::MissingCredentials)
        );
    }

    #[test]
    fn grafana_hmac_with_a_timestamp_is_checked_for_freshness() {
        let secrets = secrets(&[(names::GRAFANA_HMAC_SECRET, "gf-secret")]);
        let request = post();
        let timestamp = now().timestamp().to_string();
        let mut signed = format!("{timestamp}:").into_bytes();
        signed.extend_from_slice(&request.body);
        let signature = hmac_sha256_hex(&SigningKey::new("gf-secret"), &signed);
        let signed_request = request
            .clone()
            .with_header(GRAFANA_SIGNATURE_HEADER, &signature)
            .with_header(GRAFANA_TIMESTAMP_HEADER, &timestamp);
        assert_eq!(
            authenticate(Vendor::Grafana, &signed_request, &secrets, now()),
            Ok(())
        );
        let later = now() + chrono::Duration::seconds(301);
        assert_eq!(
            authenticate(Vendor::Grafana, &signed_request, &secrets, later),
            Err(AuthFailure::Stale)
        );
        // A bearer token is no way around a configured signature.
        let both = secrets_with_token();
        assert_eq!(
            authenticate(
                Vendor::Grafana,
                &request.with_header("authorization", "Bearer gf-token"),
                &both,
                now()
            ),
            Err(AuthFailure::MissingCredentials)
        );
    }

    #[test]
    fn attack_grafana_signature_without_its_signed_timestamp_is_refused() {
        // A body-only signature never goes stale: captured once, it could be replayed forever.
        let secrets = secrets(&[(names::GRAFANA_HMAC_SECRET, "gf-secret")]);
        let request = post();
        let body_only = hmac_sha256_hex(&SigningKey::new("gf-secret"), &request.body);
        assert_eq!(
            authenticate(
                Vendor::Grafana,
                &request.with_header(GRAFANA_SIGNATURE_HEADER, &body_only),
                &secrets,
                now()
            ),
            Err(AuthFailure::MissingCredentials)
        );
    }

    fn secrets_with_token() -> Secrets {
        secrets(&[
            (names::GRAFANA_HMAC_SECRET, "gf-secret"),
            (names::GRAFANA_TOKEN, "gf-token"),
        ])
    }

    #[test]
    fn grafana_takes_a_bearer_token_when_no_hmac_secret_is_set() {
        let secrets = secrets(&[(names::GRAFANA_TOKEN, "gf-token")]);
        assert_eq!(
            authenticate(
                Vendor::Grafana,
                &post().with_header("authorization", "Bearer gf-token"),
                &secrets,
                now()
            ),
            Ok(())
        );
        assert_eq!(
            authenticate(
                Vendor::Grafana,
                &post().with_header("authorization", "Bearer other"),
                &secrets,
                now()
            ),
            Err(AuthFailure::BadCredentials)
        );
    }
}
