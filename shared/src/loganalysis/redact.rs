//! Secrets taken out of log text before it is mined, stored, published or printed: values of
//! secret keys (`password=x`, `password: x`, `"password": "x"`, `password = x`, `X-Api-Key: x`,
//! `secret`, `token`, `api_key` and the like), credentials in URIs (`postgres://user:pw@host`),
//! bearer and basic credentials, AWS access key ids and private-key blocks.
//!
//! Log lines reach the event bus, the patterns table, Bedrock, chat and tickets, and `argus logs
//! mine` output is pasted into tickets, so a secret a program logged must not travel further.
//! Words that merely name a secret (`token bucket refilled`, `password policy updated`) are left
//! alone: a value is redacted only where a key is followed by `=` or `:`. The corpus test in
//! `shared/tests/redaction.rs` and the fuzz target `redaction` hold both sides.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Keys whose values are secrets, matched at the end of the key (`db_password`, `X-Api-Key`,
/// `aws_secret_access_key`, `session_token`), case-insensitively.
const SECRET_KEYS: [&str; 20] = [
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "secret_key",
    "private_key",
    "privatekey",
    "authorization",
    "credential",
    "credentials",
    "cookie",
    "client_secret",
    "secret_access_key",
];

/// Authorization schemes whose next word is the credential.
const SCHEMES: [&str; 4] = ["bearer", "basic", "digest", "token"];

/// Prefixes of AWS access key ids (IAM users, roles, STS sessions, and the other principals).
const AWS_KEY_PREFIXES: [&str; 10] = [
    "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "ABIA", "ACCA",
];

/// Lower-case fragments one of which any secret this module redacts (but AWS key ids) contains;
/// a line with none is returned as it is without further work.
const TRIGGERS: [&str; 9] = [
    "pass", "pwd", "secret", "token", "key", "auth", "cookie", "bearer", "://",
];

/// `text` with every secret this module knows replaced by `<redacted>`. Borrowed when nothing was
/// found. Total: any input, no panic.
pub fn redact(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !TRIGGERS.iter().any(|trigger| lower.contains(trigger)) && !contains_aws_key_id(text) {
        return Cow::Borrowed(text);
    }
    let mut current = text.to_string();
    current = private_keys(&current);
    current = uri_credentials(&current);
    current = schemes(&current);
    current = key_values(&current);
    current = aws_key_ids(&current);
    if current == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(current)
    }
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END … PRIVATE KEY-----`, or to the end of
/// the text when the block was cut (log lines split it).
fn private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(begin) = lower.find("-----begin") else {
            out.push_str(rest);
            return out;
        };
        let header_end = lower[begin + 10..]
            .find("-----")
            .map(|offset| begin + 10 + offset + 5);
        let is_private = header_end.is_some_and(|end| lower[begin..end].contains("private key"));
        let Some(header_end) = header_end.filter(|_| is_private) else {
            out.push_str(&rest[..begin + 10]);
            rest = &rest[begin + 10..];
            continue;
        };
        out.push_str(&rest[..header_end]);
        out.push_str(REDACTED);
        match lower[header_end..].find("-----end") {
            Some(offset) => rest = &rest[header_end + offset..],
            None => return out,
        }
        // The END line is kept, so a reader sees where the block was.
        let end_line = rest[8..]
            .find("-----")
            .map_or(rest.len(), |offset| 8 + offset + 5);
        out.push_str(&rest[..end_line]);
        rest = &rest[end_line..];
    }
}

/// `scheme://user:password@host` keeps the user and the host; the password goes.
fn uri_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            out.push_str(&authority[..=colon]);
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

/// The word after `Bearer`, and after `Basic`, `Digest` or `token` right after an
/// `Authorization` key (so `basic auth failed` keeps its words).
fn schemes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut redact_next = false;
    let mut after_authorization = false;
    for (index, word) in text.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        if word.is_empty() {
            continue;
        }
        if redact_next {
            out.push_str(REDACTED);
            // Keep what closes a quoted or bracketed header value.
            out.extend(
                word.chars()
                    .rev()
                    .take_while(|c| matches!(c, '"' | '\'' | ',' | ';' | '}' | ')' | ']'))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev(),
            );
            redact_next = false;
            continue;
        }
        let bare = word
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_ascii_lowercase();
        let scheme = SCHEMES.contains(&bare.as_str())
            && (bare == "bearer" || after_authorization)
            && !word.contains(['=', ':']);
        after_authorization = bare.ends_with("authorization");
        out.push_str(word);
        if scheme {
            redact_next = true;
        }
    }
    out
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// Values of secret keys: `key=value`, `key = value`, `key: value`, `"key": "value"`,
/// `key='a b'`. The value ends at its closing quote, or at a space, comma, semicolon, `&` or
/// closing bracket when unquoted.
fn key_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if (byte != b'=' && byte != b':') || bytes[index..].starts_with(b"://") {
            index += 1;
            continue;
        }
        // The key: left of the separator, past spaces and a closing quote.
        let mut key_end = index;
        while key_end > 0 && bytes[key_end - 1] == b' ' {
            key_end -= 1;
        }
        if key_end > 0 && matches!(bytes[key_end - 1], b'"' | b'\'') {
            key_end -= 1;
        }
        let mut key_start = key_end;
        while key_start > 0 && is_key_byte(bytes[key_start - 1]) {
            key_start -= 1;
        }
        let key = text[key_start..key_end].to_ascii_lowercase();
        if key.is_empty() || !SECRET_KEYS.iter().any(|secret| key.ends_with(secret)) {
            index += 1;
            continue;
        }
        // The value: right of the separator, past spaces.
        let mut value_start = index + 1;
        while value_start < bytes.len() && bytes[value_start] == b' ' {
            value_start += 1;
        }
        let (value_start, value_end) = match bytes.get(value_start) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = value_start + 1;
                let end = bytes[start..]
                    .iter()
                    .position(|&b| b == quote)
                    .map_or(bytes.len(), |offset| start + offset);
                (start, end)
            }
            _ => {
                let end = bytes[value_start..]
                    .iter()
                    .position(|&b| {
                        matches!(
                            b,
                            b' ' | b',' | b';' | b'&' | b'}' | b')' | b']' | b'"' | b'\''
                        )
                    })
                    .map_or(bytes.len(), |offset| value_start + offset);
                (value_start, end)
            }
        };
        let value = &text[value_start..value_end];
        if value.is_empty() || value == REDACTED {
            index = value_end.max(index + 1);
            continue;
        }
        // `Authorization: Bearer x`: the scheme word stays, its credential was redacted already.
        if SCHEMES.contains(&value.to_ascii_lowercase().as_str()) {
            index = value_end;
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_end;
        index = value_end.max(index + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// A word that is an AWS access key id: a known prefix and 16 more upper-case letters or digits.
fn is_aws_key_id(word: &str) -> bool {
    word.len() == 20
        && AWS_KEY_PREFIXES
            .iter()
            .any(|prefix| word.starts_with(prefix))
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Byte ranges of the words (runs of ASCII letters and digits) that are AWS access key ids.
fn aws_words(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut start = None;
    for (index, character) in text.char_indices().chain([(text.len(), ' ')]) {
        if character.is_ascii_alphanumeric() {
            start.get_or_insert(index);
        } else if let Some(word_start) = start.take()
            && is_aws_key_id(&text[word_start..index])
        {
            found.push((word_start, index));
        }
    }
    found
}

fn contains_aws_key_id(text: &str) -> bool {
    !aws_words(text).is_empty()
}

fn aws_key_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in aws_words(text) {
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_forms_are_redacted() {
        for (line, expected) in [
            ("login password=hunter2 ok", "login password=<redacted> ok"),
            ("password: hunter2", "password: <redacted>"),
            ("password = hunter2", "password = <redacted>"),
            (
                r#"{"password": "hunter 2", "user": "bob"}"#,
                r#"{"password": "<redacted>", "user": "bob"}"#,
            ),
            ("X-Api-Key: abc123", "X-Api-Key: <redacted>"),
            ("client_secret='s3 cr3t'", "client_secret='<redacted>'"),
            ("?api_key=abc&x=1", "?api_key=<redacted>&x=1"),
        ] {
            assert_eq!(redact(line), expected, "{line}");
        }
    }

    #[test]
    fn uris_schemes_aws_keys_and_private_keys_are_redacted() {
        assert_eq!(
            redact("connect postgres://app:pw@db:5432/x failed"),
            "connect postgres://app:<redacted>@db:5432/x failed"
        );
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOi.x.y"),
            "Authorization: Bearer <redacted>"
        );
        assert_eq!(
            redact("key id AKIAIOSFODNN7EXAMPLE used"),
            "key id <redacted> used"
        );
        assert_eq!(
            redact("-----BEGIN RSA PRIVATE KEY----- MIIEow -----END RSA PRIVATE KEY-----"),
            "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----"
        );
    }

    #[test]
    fn words_that_only_name_a_secret_stay() {
        for line in [
            "token bucket refilled",
            "password policy updated",
            "rotating secret for service api",
            "GET https://example.com/a?b=c 200",
            "ssh://git@github.com:repo",
        ] {
            assert!(
                matches!(redact(line), Cow::Borrowed(_)),
                "{line} changed: {}",
                redact(line)
            );
        }
    }
}
