//! Signatures on the approval path: HMAC-signed approval links (with expiry) and Slack's v0
//! request signatures. Comparisons of signatures are constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Slack rejects requests whose timestamp is older than five minutes; so do we.
pub const SLACK_REPLAY_WINDOW_SECONDS: i64 = 300;

/// A secret used to sign or verify; its `Debug` form never shows the bytes.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(secret.into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// What a signed approval link grants: one answer, by one approver, to one approval, until it
/// expires. The task token is not in it; the approval id leads to it in the incidents table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// `PendingApproval::id`.
    pub approval: String,
    /// The incident's correlation id.
    pub incident: String,
    /// The identity the link was issued to, e.g. `email:alice@example.com`.
    pub approver: String,
    pub approve: bool,
    /// Unix seconds after which the link is refused.
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Signs `claims` into a URL-safe token: base64url(JSON) "." base64url(HMAC-SHA256).
pub fn sign_link(key: &SigningKey, claims: &LinkClaims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// Checks the signature (constant-time) and then the expiry of a link token.
pub fn verify_link(
    key: &SigningKey,
    token: &str,
    now: DateTime<Utc>,
) -> Result<LinkClaims, LinkError> {
    let (payload, signature) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| LinkError::Malformed)?;
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| LinkError::BadSignature)?;
    let claims: LinkClaims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(LinkError::Malformed)?;
    if now.timestamp() >= claims.expires {
        let expired = DateTime::from_timestamp(claims.expires, 0).unwrap_or(now);
        return Err(LinkError::Expired(expired));
    }
    Ok(claims)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing or malformed")]
    Malformed,
    #[error("the request timestamp is outside the five-minute replay window")]
    Stale,
    #[error("the request signature does not match")]
    BadSignature,
}

/// Verifies a Slack request: `X-Slack-Signature` must be `v0=` + hex HMAC-SHA256 of
/// `v0:{X-Slack-Request-Timestamp}:{raw body}` under the app's signing secret, and the
/// timestamp within five minutes of `now` (either way) so a captured request cannot be replayed.
pub fn verify_slack(
    secret: &SigningKey,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SlackSignatureError> {
    let sent_at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SlackSignatureError::Malformed)?;
    // abs_diff: a timestamp near i64::MIN or MAX must be stale, not an arithmetic overflow.
    if now.timestamp().abs_diff(sent_at) > SLACK_REPLAY_WINDOW_SECONDS.unsigned_abs() {
        return Err(SlackSignatureError::Stale);
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(decode_hex)
        .ok_or(SlackSignatureError::Malformed)?;
    let mut mac = secret.mac();
    mac.update(format!("v0:{}:", timestamp.trim()).as_bytes());
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SlackSignatureError::BadSignature)
}

/// The `X-Slack-Signature` value for a body, as Slack computes it; used by tests and by the
/// local tools that exercise the endpoint.
pub fn slack_signature(secret: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("v0={hex}")
}

/// Hex-encoded HMAC-SHA256 of `body`, the form several vendors sign webhooks with.
pub fn hmac_sha256_hex(key: &SigningKey, body: &[u8]) -> String {
    let mut mac = key.mac();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Constant-time check of a hex HMAC-SHA256 of `body` (case-insensitive hex).
pub fn verify_hmac_sha256_hex(key: &SigningKey, body: &[u8], signature_hex: &str) -> bool {
    let Some(expected) = decode_hex(signature_hex.trim()) else {
        return false;
    };
    let mut mac = key.mac();
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
    }

    fn claims() -> LinkClaims {
        LinkClaims {
            approval: "a1".into(),
            incident: "inc-1".into(),
            approver: "email:alice@example.com".into(),
            approve: true,
            expires: now().timestamp() + 600,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let key = SigningKey::new(b"link-key".to_vec());
        let token = sign_link(&key, &claims());
        assert_eq!(verify_link(&key, &token, now()), Ok(claims()));
        let later = now() + chrono::Duration::seconds(600);
        assert!(matches!(
            verify_link(&key, &token, later),
            Err(LinkError::Expired(_))
        ));
    }

    #[test]
    fn a_link_with_edited_claims_or_another_key_is_refused() {
        let key = SigningKey::new(b"link-key".to_vec());
        let token = sign_link(&key, &claims());
        let (_, signature) = token.split_once('.').unwrap();
        let mut forged = claims();
        forged.approver = "email:mallory@example.com".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged_token = format!("{forged_payload}.{signature}");
        assert_eq!(
            verify_link(&key, &forged_token, now()),
            Err(LinkError::BadSignature)
        );
        let other = SigningKey::new(b"other".to_vec());
        assert_eq!(
            verify_link(&other, &token, now()),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            verify_link(&key, "no-dot", now()),
            Err(LinkError::Malformed)
        );
    }

    /// The example from Slack's "Verifying requests from Slack" documentation.
    #[test]
    fn slack_documented_example_verifies() {
        let secret = SigningKey::new(b"8f742231b10e8888abcd99yyyzzz85a5".to_vec());
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let timestamp = "1531420618";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let at = Utc.timestamp_opt(1531420618 + 10, 0).unwrap();
        assert_eq!(
            verify_slack(&secret, timestamp, signature, body, at),
            Ok(())
        );
        assert_eq!(slack_signature(&secret, timestamp, body), signature);
        let stale = Utc.timestamp_opt(1531420618 + 301, 0).unwrap();
        assert_eq!(
            verify_slack(&secret, timestamp, signature, body, stale),
            Err(SlackSignatureError::Stale)
        );
        let mut tampered = body.to_vec();
        tampered[0] = b'T';
        assert_eq!(
            verify_slack(&secret, timestamp, signature, &tampered, at),
            Err(SlackSignatureError::BadSignature)
        );
    }
}
