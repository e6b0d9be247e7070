//! The redaction corpus (issue 20, item 4): log lines that carry a secret, which must come out of
//! the log analyzer's sample sanitiser without it, and harmless lines that only name a secret,
//! which must come out untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::loganalysis::redact::redact;
use argus::loganalysis::text::sanitise;

/// Each line and the secret it carries.
const SECRET_LINES: &[(&str, &str)] = &[
    ("db login failed password=hunter2 user=app", "hunter2"),
    ("password: hunter2", "hunter2"),
    (r#"{"user":"app","password": "hunter2"}"#, "hunter2"),
    ("password = hunter2", "hunter2"),
    ("DB_PASSWORD=hunter2", "hunter2"),
    ("config secret=s3cr3t-value loaded", "s3cr3t-value"),
    ("refresh token: tk_live_9f8e7d", "tk_live_9f8e7d"),
    ("session_token=FwoGZXIvYXdzEJr", "FwoGZXIvYXdzEJr"),
    ("GET /v1/items?api_key=abc123xyz&page=2", "abc123xyz"),
    ("request headers X-Api-Key: abc123xyz", "abc123xyz"),
    ("x-api-key:abc123xyz", "abc123xyz"),
    (
        "connecting to postgres://app:pw0rd@db.internal:5432/orders",
        "pw0rd",
    ),
    ("amqp://guest:guestpw@rabbit/ vhost", "guestpw"),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "eyJhbGciOiJIUzI1NiJ9",
    ),
    ("upstream sent bearer abcdef123456", "abcdef123456"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    (
        "using credentials of AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    (
        "sts session ASIAY34FZKBOKMUTVV7A expired",
        "ASIAY34FZKBOKMUTVV7A",
    ),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY----- MIIEowIBAAKCAQEA7 -----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7",
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjE",
        "b3BlbnNzaC1rZXktdjE",
    ),
    ("client_secret='a b c d'", "a b c d"),
    ("Cookie: sessionid=38afes7a8; theme=dark", "38afes7a8"),
];

/// Lines that mention secrets without carrying one.
const HARMLESS_LINES: &[&str] = &[
    "token bucket refilled",
    "password policy updated",
    "secret rotation scheduled for tomorrow",
    "api key count: 3",
    "basic auth failed for user bob",
    "GET https://example.com/health 200 12ms",
    "ssh://git@github.com/owner/repo cloned",
    "cache key=users:42 hit",
    "connection from 10.0.0.1:5432 closed",
    "2024-01-01T12:30:45Z INFO worker started",
];

#[test]
fn every_secret_line_loses_its_secret() {
    let mut leaks = Vec::new();
    for (line, secret) in SECRET_LINES {
        let sample = sanitise(line);
        if sample.contains(secret) {
            leaks.push(format!("{line:?} → {sample:?}"));
        }
        let redacted = redact(line);
        if redacted.contains(secret) {
            leaks.push(format!("redact {line:?} → {redacted:?}"));
        }
    }
    assert!(leaks.is_empty(), "secrets kept:\n{}", leaks.join("\n"));
}

#[test]
fn harmless_lines_are_untouched() {
    for line in HARMLESS_LINES {
        assert_eq!(sanitise(line), *line, "the sample changed");
        assert_eq!(redact(line), *line, "redaction changed it");
    }
}
