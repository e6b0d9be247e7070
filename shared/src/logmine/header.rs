//! Recognising the header of a raw log line (timestamp, level, process and thread ids, host, logger) so that only the message is mined.
//!
//! There is no regular expression per format. The first fields of a line are classified by their
//! shape — values (numbers, dates, clock times, ids), levels, bracketed groups, separators (`-`,
//! `---`, `|`), logger names ending in `:`, and other names — and a small grammar decides where the
//! header ends:
//!
//! * a header must contain a timestamp (a clock time, a date, or a long run of digits such as epoch
//!   seconds), and must start with a value, a bracketed group, a separator or a level, so a message
//!   that starts with a word is never touched;
//! * a logger name ending in `:` (`sshd[2211]:`, `dfs.DataNode:`, `PowerManager:`) ends the header,
//!   after at most two names (a host, a program) of which at most one is a sentence word;
//! * a level ends the header after what usually follows one: values, bracketed thread names,
//!   separators, and one logger name (ending in `:`, or followed by `:`, a separator or a bracket);
//! * otherwise the header ends after the last value, bracket, separator or `|` that follows only
//!   values and names that are not sentence words (hosts such as `node-17`, programs such as
//!   `updater.exe`); after such names only a timestamp part resumes the header. So
//!   `2023/04/01 10:00:00 worker 3 finished` keeps `worker 3 finished`.
//!
//! A line whose header would be all of it is mined whole. Only ASCII bytes are boundaries, so the
//! offset returned is always a character boundary.

use super::masking::{is_calendar_prefix, is_calendar_word, is_word_shaped};

/// The most fields looked at; real headers have at most about a dozen.
const MAX_HEADER_FIELDS: usize = 16;
/// The most fields a bracketed group in a header may span (`[Sun Dec 04 04:47:44 2005]` has five).
const MAX_BRACKET_FIELDS: usize = 8;
/// The most names in a row inside a header (a node, a type and a component before a level).
const MAX_NAME_RUN: usize = 3;
/// The most names between the timestamp and a logger ending in `:` (a host and a program).
const MAX_NAMES_BEFORE_LOGGER: usize = 2;

/// Level words, compared without case and without surrounding brackets or a trailing `:`.
const LEVELS: [&[u8]; 20] = [
    b"trace",
    b"debug",
    b"info",
    b"information",
    b"notice",
    b"warn",
    b"warning",
    b"error",
    b"err",
    b"fatal",
    b"critical",
    b"crit",
    b"severe",
    b"alert",
    b"emerg",
    b"emergency",
    b"fine",
    b"finer",
    b"finest",
    b"verbose",
];
/// The length of the longest level word.
const LONGEST_LEVEL: usize = 11;

/// One whitespace- or `|`-separated field of a line.
#[derive(Clone, Copy, Debug)]
struct Field {
    start: usize,
    end: usize,
    /// Where the next field search starts: after the field, its trailing spaces and one `|`.
    next: usize,
    /// The field was followed by a `|` (a field delimiter).
    pipe_after: bool,
}

/// The shape of a header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Numbers, dates, times, hex ids, month and weekday names, with how much they look like a
    /// timestamp (see [`time_evidence`]).
    Value { time: u8 },
    /// A bracketed group (`[main]`, `[Sun Dec 04 04:47:44 2005]`), with the timestamp evidence inside it.
    Bracket { time: u8 },
    /// A level word, bare or bracketed.
    Level,
    /// `-`, `--` or `---`.
    Separator,
    /// A lone `:`.
    Colon,
    /// A name ending in `:` (a logger, a program with its pid).
    Logger,
    /// Anything else; `prose` when it is a sentence word (letters, with a lower-case letter).
    Name { prose: bool },
}

/// The byte offset where the message of `line` starts, after its header; 0 when the line has no
/// recognisable header (see the module documentation for the rules).
pub fn message_start(line: &str) -> usize {
    let bytes = line.as_bytes();
    let Some(end) = header_end(bytes) else {
        return 0;
    };
    let mut start = end;
    while start < bytes.len() && (bytes[start] <= b' ' || bytes[start] == b'|') {
        start += 1;
    }
    if start >= bytes.len() { 0 } else { start }
}

/// The end of the header (before any spaces), or `None`.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let mut cursor = 0;
    let mut time: u8 = 0;
    // The best end so far, with the timestamp evidence before it and whether a level came before it.
    let mut candidate: Option<(usize, u8, bool)> = None;
    // Only values, brackets and separators so far.
    let mut leading = true;
    // Values extend the header while only values, brackets and separators came first, or right after
    // names that are not sentence words.
    let mut values_extend = true;
    let mut name_run = 0;
    let mut prose_in_run = false;
    let mut prose_names = 0;
    let mut previous: Option<Kind> = None;
    for index in 0..MAX_HEADER_FIELDS {
        let Some(field) = next_field(bytes, cursor) else {
            break;
        };
        if index == 0 && is_plain_first_word(&bytes[field.start..field.end]) {
            // Most messages start with a word; this answers them without the full classification.
            return None;
        }
        let (kind, field) = classify(bytes, field, previous);
        if index == 0 && matches!(kind, Kind::Name { .. } | Kind::Logger | Kind::Colon) {
            return None;
        }
        let after = field.next_boundary();
        match kind {
            Kind::Value { time: evidence } | Kind::Bracket { time: evidence } => {
                if prose_in_run {
                    // Sentence words followed by a value: this is the message.
                    break;
                }
                time = time.saturating_add(evidence);
                // After names, only a timestamp resumes the header (a host between two timestamps);
                // other values there are the message's (`"GET /" 200 612`).
                if name_run > 0 {
                    values_extend = !prose_in_run && evidence > 0;
                }
                if values_extend {
                    candidate = Some((after, time, false));
                }
                name_run = 0;
                prose_in_run = false;
                prose_names = 0;
            }
            Kind::Level if !prose_in_run => {
                let (end, evidence) = after_level(bytes, field.next, Kind::Level);
                time = time.saturating_add(evidence);
                candidate = Some((end.unwrap_or(after), time, true));
                break;
            }
            Kind::Separator => {
                if !prose_in_run {
                    candidate = Some((after, time, false));
                }
                // Values right after a separator in the middle of a header are the message's
                // (`updater.exe - 10.0.0.1:443 open`); at the start they are the header's (`- 1117838570`).
                values_extend = leading;
                name_run = 0;
                prose_in_run = false;
                prose_names = 0;
            }
            Kind::Logger if name_run <= MAX_NAMES_BEFORE_LOGGER && prose_names <= 1 => {
                candidate = Some((after, time, false));
                break;
            }
            Kind::Level | Kind::Logger | Kind::Colon | Kind::Name { .. } => {
                name_run += 1;
                let prose = matches!(kind, Kind::Name { prose: true })
                    || (kind == Kind::Level && prose_in_run);
                prose_in_run |= prose;
                prose_names += usize::from(prose);
                values_extend = false;
                if name_run > MAX_NAME_RUN {
                    break;
                }
            }
        }
        leading &= matches!(
            kind,
            Kind::Value { .. } | Kind::Bracket { .. } | Kind::Separator
        );
        if field.pipe_after {
            if !prose_in_run {
                candidate = Some((after, time, false));
            }
            values_extend = !prose_in_run;
            name_run = 0;
            prose_in_run = false;
            prose_names = 0;
        }
        previous = Some(kind);
        cursor = field.next;
    }
    // A clock time or a full date is enough; a bare run of digits (which may also be a count) needs a
    // second timestamp part or a level beside it.
    match candidate {
        Some((end, evidence, level)) if evidence >= 2 || (evidence >= 1 && level) => Some(end),
        _ => None,
    }
}

/// A first field that starts with a letter, has no digit, and is neither a level nor a month or
/// weekday name: the line cannot have a header.
fn is_plain_first_word(text: &[u8]) -> bool {
    text.first().is_some_and(u8::is_ascii_alphabetic)
        && !text.iter().any(u8::is_ascii_digit)
        // Levels and month or weekday names are short; most first words are not.
        && (text.len() > LONGEST_LEVEL + 2 || (!is_level(text) && !is_value(text)))
}

/// After a level: values, brackets and separators, then at most one logger. Returns the end of what
/// was taken (`None` when nothing followed the level) and the timestamp evidence in it.
fn after_level(bytes: &[u8], mut cursor: usize, level: Kind) -> (Option<usize>, u8) {
    let mut end = None;
    let mut time: u8 = 0;
    let mut previous = Some(level);
    for _ in 0..MAX_HEADER_FIELDS {
        let Some(field) = next_field(bytes, cursor) else {
            break;
        };
        let (kind, field) = classify(bytes, field, previous);
        match kind {
            Kind::Value { time: evidence } | Kind::Bracket { time: evidence } => {
                time = time.saturating_add(evidence);
                end = Some(field.next_boundary());
            }
            Kind::Separator => end = Some(field.next_boundary()),
            Kind::Logger | Kind::Colon => {
                end = Some(field.next_boundary());
                break;
            }
            Kind::Name { prose: false } => {
                // A logger name without a colon of its own: `c.e.App : msg`, `o.e.Evictor - msg`,
                // `nova.api.server [req-1] msg`.
                if let Some(following) = next_field(bytes, field.next) {
                    let (following_kind, following) = classify(bytes, following, Some(kind));
                    if matches!(
                        following_kind,
                        Kind::Colon | Kind::Separator | Kind::Bracket { .. }
                    ) {
                        end = Some(following.next_boundary());
                    }
                }
                break;
            }
            Kind::Level | Kind::Name { prose: true } => break,
        }
        previous = Some(kind);
        cursor = field.next;
    }
    (end, time)
}

impl Field {
    /// The end of the field, including a `|` right after it.
    fn next_boundary(&self) -> usize {
        if self.pipe_after { self.next } else { self.end }
    }
}

/// The next field at or after `cursor`: a run of bytes that are neither whitespace (0x20 or below) nor
/// `|`.
fn next_field(bytes: &[u8], mut cursor: usize) -> Option<Field> {
    while cursor < bytes.len() && (bytes[cursor] <= b' ' || bytes[cursor] == b'|') {
        cursor += 1;
    }
    if cursor >= bytes.len() {
        return None;
    }
    let start = cursor;
    while cursor < bytes.len() && bytes[cursor] > b' ' && bytes[cursor] != b'|' {
        cursor += 1;
    }
    let end = cursor;
    while cursor < bytes.len() && bytes[cursor] <= b' ' {
        cursor += 1;
    }
    let pipe_after = bytes.get(cursor) == Some(&b'|');
    if pipe_after {
        cursor += 1;
    }
    Some(Field {
        start,
        end,
        next: cursor,
        pipe_after,
    })
}

/// Classifies the field at `field`; a bracketed group spanning several fields is returned as one
/// field covering all of them.
fn classify(bytes: &[u8], field: Field, previous: Option<Kind>) -> (Kind, Field) {
    let text = &bytes[field.start..field.end];
    if let Some(&opener) = text.first()
        && let Some(closer) = closer_of(opener)
    {
        return classify_bracket(bytes, field, opener, closer);
    }
    (classify_plain(text, previous), field)
}

fn closer_of(opener: u8) -> Option<u8> {
    match opener {
        b'[' => Some(b']'),
        b'(' => Some(b')'),
        b'<' => Some(b'>'),
        b'{' => Some(b'}'),
        _ => None,
    }
}

/// A group from `opener` to its matching `closer`, within [`MAX_BRACKET_FIELDS`] fields.
fn classify_bracket(bytes: &[u8], first: Field, opener: u8, closer: u8) -> (Kind, Field) {
    let mut balance = 0i64;
    let mut field = first;
    let mut time: u8 = 0;
    for count in 0..MAX_BRACKET_FIELDS {
        let text = &bytes[field.start..field.end];
        for &byte in text {
            balance += i64::from(byte == opener) - i64::from(byte == closer);
        }
        time = time.saturating_add(time_evidence(text));
        if balance <= 0 {
            let whole = &bytes[first.start..field.end];
            let kind = if count == 0 && is_level(whole) {
                Kind::Level
            } else {
                Kind::Bracket { time }
            };
            return (
                kind,
                Field {
                    start: first.start,
                    ..field
                },
            );
        }
        match next_field(bytes, field.next) {
            Some(following) if !field.pipe_after => field = following,
            _ => break,
        }
    }
    // Never closed: an ordinary name.
    (Kind::Name { prose: false }, first)
}

fn classify_plain(text: &[u8], previous: Option<Kind>) -> Kind {
    // One pass over the field's bytes decides which of the checks below can apply at all.
    let classes = text.iter().fold(0u8, |classes, &byte| {
        classes | FIELD_CLASSES[usize::from(byte)]
    });
    if classes == FIELD_DASH && text.len() <= 3 {
        return Kind::Separator;
    }
    if text == b":" {
        return Kind::Colon;
    }
    let has_digit = classes & FIELD_DIGIT != 0;
    if !has_digit && classes & FIELD_LETTER != 0 && text.len() <= 13 {
        if is_level(text) {
            return Kind::Level;
        }
        // Android's one-letter levels, right after the process and thread ids.
        if let [letter] = text
            && matches!(letter, b'V' | b'D' | b'I' | b'W' | b'E' | b'F')
            && matches!(previous, Some(Kind::Value { .. }))
        {
            return Kind::Level;
        }
    }
    if has_digit {
        let time = time_evidence_of(text, classes);
        // Digits with separators and hex letters only: a number, date, time, zone or hex id.
        if classes & (FIELD_WORD_LETTER | FIELD_OTHER) == 0 || time >= 2 {
            return Kind::Value { time };
        }
    } else if classes & FIELD_LETTER != 0
        && classes & (FIELD_OTHER | FIELD_COLON) == 0
        && text.len() <= 13
        && is_value(text)
    {
        // A month or weekday name.
        return Kind::Value { time: 0 };
    }
    if classes & FIELD_COLON != 0
        && classes & FIELD_LETTER != 0
        && text.len() >= 2
        && text.last() == Some(&b':')
        && text.get(text.len() - 2) != Some(&b':')
        && !text.contains(&b'=')
        && !text.windows(3).any(|window| window == b"://")
    {
        return Kind::Logger;
    }
    // Letters and dashes only is a word (the common case, such as a host); anything else with
    // punctuation is checked in full.
    let prose = !has_digit
        && classes & FIELD_LOWER != 0
        && (classes & !(FIELD_LETTER | FIELD_LOWER | FIELD_DASH) == 0
            && text.first() != Some(&b'-')
            && text.last() != Some(&b'-')
            || is_word_shaped(text));
    Kind::Name { prose }
}

/// Byte classes for [`classify_plain`]'s one pass, combined with bitwise or.
const FIELD_DIGIT: u8 = 1;
const FIELD_DASH: u8 = 2;
/// Letters that may appear in values: hex digits, and `T`, `Z` and `x` of times and `0x`.
const FIELD_VALUE_LETTER: u8 = 4;
/// Every other letter.
const FIELD_WORD_LETTER: u8 = 8;
const FIELD_LETTER: u8 = FIELD_VALUE_LETTER | FIELD_WORD_LETTER;
const FIELD_LOWER: u8 = 16;
const FIELD_COLON: u8 = 32;
/// Punctuation that may appear in or around values: `. / + , _ ;` and brackets.
const FIELD_VALUE_PUNCTUATION: u8 = 64;
const FIELD_OTHER: u8 = 128;

/// The class of every byte value for [`classify_plain`].
const FIELD_CLASSES: [u8; 256] = {
    let mut classes = [FIELD_OTHER; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = match byte as u8 {
            b'0'..=b'9' => FIELD_DIGIT,
            b'-' => FIELD_DASH,
            b'a'..=b'f' | b'x' => FIELD_VALUE_LETTER | FIELD_LOWER,
            b'g'..=b'z' => FIELD_WORD_LETTER | FIELD_LOWER,
            b'A'..=b'F' | b'T' | b'Z' => FIELD_VALUE_LETTER,
            b'G'..=b'Z' => FIELD_WORD_LETTER,
            b':' => FIELD_COLON,
            b'.' | b'/' | b'+' | b',' | b'_' | b';' | b'[' | b']' | b'(' | b')' | b'{' | b'}'
            | b'<' | b'>' => FIELD_VALUE_PUNCTUATION,
            _ => FIELD_OTHER,
        };
        byte += 1;
    }
    classes
};

/// The field without surrounding brackets and trailing punctuation.
fn core_of(text: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < text.len() && matches!(text[start], b'[' | b'(' | b'<' | b'{') {
        start += 1;
    }
    let mut end = text.len();
    while end > start
        && matches!(
            text[end - 1],
            b']' | b')' | b'>' | b'}' | b',' | b';' | b':' | b'.'
        )
    {
        end -= 1;
    }
    text.get(start..end).unwrap_or_default()
}

fn is_level(text: &[u8]) -> bool {
    let core = core_of(text);
    if core.len() < 3 || core.len() > LONGEST_LEVEL {
        return false;
    }
    // Lower-cased into a small buffer, so that one `match` on the bytes compares against every level.
    let mut lower = [0u8; LONGEST_LEVEL];
    for (slot, byte) in lower.iter_mut().zip(core) {
        *slot = byte.to_ascii_lowercase();
    }
    let lower = lower.get(..core.len()).unwrap_or_default();
    LEVELS.contains(&lower)
}

/// Numbers, dates, times, zones and hex ids (`2005-06-03`, `16:49:06]`, `+0000`, `6f1c2a9e-3b4d-…`,
/// `0x1f`), and month or weekday names.
fn is_value(text: &[u8]) -> bool {
    let core = core_of(text);
    if core.is_empty() {
        return false;
    }
    if core.iter().all(u8::is_ascii_alphabetic) {
        // Month and weekday names have three to nine letters and one of nineteen prefixes.
        return (3..=9).contains(&core.len())
            && is_calendar_prefix([
                core[0].to_ascii_lowercase(),
                core[1].to_ascii_lowercase(),
                core[2].to_ascii_lowercase(),
            ])
            && std::str::from_utf8(core).is_ok_and(is_calendar_word);
    }
    core.iter().any(u8::is_ascii_digit)
        && core.iter().all(|&byte| {
            byte.is_ascii_hexdigit()
                || matches!(
                    byte,
                    b'.' | b':' | b'-' | b'/' | b'+' | b',' | b'_' | b'T' | b'Z' | b'x'
                )
        })
}

/// How much a field looks like part of a timestamp: 2 for a clock time (`15:16:01`, `0:0:0`) or a date
/// with three parts (`2005.06.03`, `17/06/09`, `2015-10-18`); 1 for a run of six or more digits at the
/// start (`081109`, epoch seconds), which may also be a count (`1365301360 alignment exceptions`);
/// 0 otherwise.
fn time_evidence(text: &[u8]) -> u8 {
    let classes = text.iter().fold(0u8, |classes, &byte| {
        classes | FIELD_CLASSES[usize::from(byte)]
    });
    time_evidence_of(text, classes)
}

/// [`time_evidence`] for a field whose byte classes are known, skipping the checks they rule out.
fn time_evidence_of(text: &[u8], classes: u8) -> u8 {
    if classes & FIELD_DIGIT == 0 {
        return 0;
    }
    let core = core_of(text);
    let mut leading_digits = 0;
    while leading_digits < core.len() && core[leading_digits].is_ascii_digit() {
        leading_digits += 1;
    }
    if (classes & FIELD_COLON != 0 && has_clock(core))
        || ((1..=4).contains(&leading_digits)
            && classes & (FIELD_DASH | FIELD_VALUE_PUNCTUATION) != 0
            && is_date(core))
    {
        return 2;
    }
    if core
        .get(leading_digits)
        .is_some_and(u8::is_ascii_alphanumeric)
    {
        return 0;
    }
    u8::from(leading_digits >= 6)
}

/// `h:mm` or `hh:mm` (not part of an address: no digit or dot before, no digit after), or three groups
/// of one or two digits joined by colons.
fn has_clock(text: &[u8]) -> bool {
    let digits_from = |mut position: usize| {
        let start = position;
        while position < text.len() && text[position].is_ascii_digit() {
            position += 1;
        }
        position - start
    };
    for colon in 1..text.len() {
        if text[colon] != b':' {
            continue;
        }
        let mut before = 0;
        while before < colon && before <= 2 && text[colon - 1 - before].is_ascii_digit() {
            before += 1;
        }
        if before == 0 || before > 2 {
            continue;
        }
        let preceded_by_dot = colon > before && text[colon - before - 1] == b'.';
        let after = digits_from(colon + 1);
        if after == 2 && !preceded_by_dot {
            return true;
        }
        // 0:0:0 (clock parts without zero padding).
        if (1..=2).contains(&after)
            && text.get(colon + 1 + after) == Some(&b':')
            && (1..=2).contains(&digits_from(colon + 2 + after))
        {
            return true;
        }
    }
    false
}

/// Three or more digit groups joined by one of `-`, `/` or `.`, where the first or third has four
/// digits (a year) or the first three have two each; dotted quads (IPv4 addresses) are not dates.
fn is_date(text: &[u8]) -> bool {
    let Some(separator) = text
        .iter()
        .find(|byte| !byte.is_ascii_digit())
        .copied()
        .filter(|byte| matches!(byte, b'-' | b'/' | b'.'))
    else {
        return false;
    };
    let mut lengths = [0usize; 4];
    let mut groups = 0;
    for group in text.split(|&byte| byte == separator) {
        let digits = group
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if digits == 0 {
            break;
        }
        if groups < lengths.len() {
            lengths[groups] = digits;
        }
        groups += 1;
        if digits != group.len() {
            break;
        }
    }
    if groups < 3 {
        return false;
    }
    if separator == b'.' && groups == 4 && lengths.iter().all(|&length| length <= 3) {
        return false;
    }
    lengths[0] == 4 || lengths[2] == 4 || lengths[..3].iter().all(|&length| length == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_timestamp_parts() {
        for time in [
            "15:16:01",
            "16:49:06]",
            "2005.06.03",
            "17/06/09",
            "2015-10-18",
            "081109",
            "1117838570",
            "2005-06-03-15.42.50.675872",
            "20171224-0:0:0:234",
            "2023-04-01T10:00:00.123Z",
        ] {
            assert!(time_evidence(time.as_bytes()) > 0, "{time}");
        }
        for not_time in [
            "10.0.0.7:50010",
            "1.4.1",
            "10.251.73.220",
            "148",
            "proxy.example.org:443",
            "3.5",
        ] {
            assert_eq!(time_evidence(not_time.as_bytes()), 0, "{not_time}");
        }
    }

    #[test]
    fn classifies_fields() {
        assert_eq!(classify_plain(b"INFO", None), Kind::Level);
        assert_eq!(classify_plain(b"[notice]", None), Kind::Level);
        assert_eq!(classify_plain(b"Info,", None), Kind::Level);
        assert_eq!(classify_plain(b"sshd[24200]:", None), Kind::Logger);
        assert_eq!(classify_plain(b"---", None), Kind::Separator);
        assert_eq!(classify_plain(b"Dec", None), Kind::Value { time: 0 });
        assert_eq!(
            classify_plain(b"D", Some(Kind::Value { time: 0 })),
            Kind::Level
        );
        assert_eq!(classify_plain(b"D", None), Kind::Name { prose: false });
        assert_eq!(classify_plain(b"combo", None), Kind::Name { prose: true });
        assert_eq!(
            classify_plain(b"node-17", None),
            Kind::Name { prose: false }
        );
    }
}
