//! Reading log text: the level a template is written at, and sanitising a line before it is
//! stored or sent as a sample (control characters, secrets, size).

/// Samples are cut to this many bytes (at a character boundary).
pub const MAX_SAMPLE_BYTES: usize = 512;

/// A line made safe to store and to show: control characters become spaces, secrets are
/// redacted (`redact::redact`: values of secret keys, credentials in URIs, bearer credentials,
/// AWS access key ids, private-key blocks), and the result is cut to [`MAX_SAMPLE_BYTES`].
pub fn sanitise(line: &str) -> String {
    // Redaction reads a bounded prefix: a CloudWatch Logs event can be 256 KB, a sample is 512
    // bytes, and a secret cut at the prefix's end is still a `key=value` the redactor sees.
    let mut end = line.len().min(MAX_SAMPLE_BYTES * 4);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let cleaned: String = line[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let redacted = super::redact::redact(cleaned.trim_end());
    if end < line.len() {
        return format!(
            "{}…",
            cut(&redacted, MAX_SAMPLE_BYTES).trim_end_matches('…')
        );
    }
    cut(&redacted, MAX_SAMPLE_BYTES)
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The level a log template is written at, when its words say so: `fatal`, `critical`,
/// `error` or `warn`. Recognised: level words (`ERROR`, `FATAL`, `CRITICAL`, `SEVERE`, `PANIC`,
/// `WARN`, …, and `error`/`fatal` in any case), `level=error` style fields (also JSON), Java and
/// Python exceptions (`…Exception`, `Traceback`), and Go/Rust panics (`panic:`, `panicked`).
/// The most severe wins.
pub fn level_of(text: &str) -> Option<&'static str> {
    let mut best: Option<(u8, &'static str)> = None;
    let mut raise = |rank: u8, level: &'static str| {
        if best.is_none_or(|(current, _)| rank > current) {
            best = Some((rank, level));
        }
    };
    for word in text.split_whitespace() {
        if word.contains("Exception") || word.starts_with("Traceback") {
            raise(2, "error");
        }
        if word.starts_with("panic:") || word.starts_with("panicked") {
            raise(4, "fatal");
        }
        // `level=error`, `severity:ERROR`, and JSON fields (`{"level":"error","msg":…}`).
        for field in word.split([',', '{', '}', ';']) {
            let Some((key, value)) = field.split_once(['=', ':']) else {
                continue;
            };
            let key = key
                .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .to_ascii_lowercase();
            if !matches!(
                key.as_str(),
                "level" | "lvl" | "severity" | "loglevel" | "log_level" | "levelname"
            ) {
                continue;
            }
            let value: String = value
                .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if let Some((rank, level)) = level_word(&value.to_ascii_uppercase()) {
                raise(rank, level);
            }
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let upper_case = bare.bytes().all(|b| !b.is_ascii_lowercase());
        let candidate = if upper_case
            || bare.eq_ignore_ascii_case("error")
            || bare.eq_ignore_ascii_case("fatal")
        {
            Some(bare.to_ascii_uppercase())
        } else {
            None
        };
        if let Some((rank, level)) = candidate.as_deref().and_then(level_word) {
            raise(rank, level);
        }
    }
    best.map(|(_, level)| level)
}

fn level_word(upper: &str) -> Option<(u8, &'static str)> {
    match upper {
        "FATAL" | "PANIC" | "EMERG" | "EMERGENCY" => Some((4, "fatal")),
        "CRITICAL" | "CRIT" | "ALERT" => Some((3, "critical")),
        "ERROR" | "ERR" | "SEVERE" => Some((2, "error")),
        "WARN" | "WARNING" => Some((1, "warn")),
        _ => None,
    }
}

/// Whether a level counts as an error for the new-template rule.
pub fn is_error_level(level: Option<&str>) -> bool {
    matches!(level, Some("error" | "critical" | "fatal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_the_usual_spellings() {
        let cases = [
            ("2026-11-22 ERROR [main] payment failed", Some("error")),
            ("[ERROR] <TIME> request <*> failed", Some("error")),
            ("level=error msg=\"cannot connect\"", Some("error")),
            ("{\"level\":\"fatal\",\"msg\":\"boom\"}", Some("fatal")),
            ("java.lang.NullPointerException: null", Some("error")),
            ("Traceback (most recent call last):", Some("error")),
            ("thread 'main' panicked at src/main.rs:3:5", Some("fatal")),
            ("panic: runtime error: index out of range", Some("fatal")),
            ("WARN disk <NUM>% full", Some("warn")),
            ("CRITICAL: out of memory; WARN too", Some("critical")),
            (
                "<TIME> chrome.exe - error : Could not connect",
                Some("error"),
            ),
            ("INFO request handled in <DUR>", None),
            ("retrying after 3 errors", None),
            ("User ERRATIC logged in", None),
        ];
        for (text, expected) in cases {
            assert_eq!(level_of(text), expected, "{text}");
        }
        assert!(is_error_level(Some("fatal")));
        assert!(!is_error_level(Some("warn")));
        assert!(!is_error_level(None));
    }

    #[test]
    fn samples_lose_secrets_control_characters_and_excess_length() {
        let line =
            "login user=bob password=hunter2 token:abc \"api_key\":\"k-123\" \x1b[31mred\x1b[0m";
        let clean = sanitise(line);
        assert!(!clean.contains("hunter2"), "{clean}");
        assert!(!clean.contains("abc"), "{clean}");
        assert!(!clean.contains("k-123"), "{clean}");
        assert!(clean.contains("user=bob"), "{clean}");
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        let header = sanitise("Authorization: Bearer eyJhbGciOi.x.y from AKIAIOSFODNN7EXAMPLE");
        assert!(!header.contains("eyJ"), "{header}");
        assert!(!header.contains("AKIAIOSFODNN7EXAMPLE"), "{header}");
        let long = "é".repeat(1000);
        let cut_sample = sanitise(&long);
        assert!(cut_sample.len() <= MAX_SAMPLE_BYTES + '…'.len_utf8());
        assert!(cut_sample.ends_with('…'));
        assert_eq!(sanitise("plain words stay"), "plain words stay");
    }
}
