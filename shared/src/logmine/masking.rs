//! Tokenizing and masking of one log line: whitespace tokens, hand-written scanners that replace variable substrings with mask placeholders, and collapsing of purely variable tokens into slots.
//!
//! The scanners run on bytes and never allocate per line: every buffer lives in a reusable
//! [`LineScratch`]. Only ASCII bytes are ever used as split or scan boundaries, so every slice
//! copied out of the input stays valid UTF-8; bytes of multi-byte characters are treated like
//! letters, which keeps non-English words intact.

/// The kinds of variable text the masker recognises, each shown as its own placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    /// Integers, decimals and dotted version numbers, with an optional sign.
    Number,
    /// Hexadecimal values: `0x` prefixed, long hex runs, and MAC addresses.
    Hex,
    /// IPv4 and IPv6 addresses, including a `:port` suffix on IPv4.
    Ip,
    /// UUIDs in the 8-4-4-4-12 form.
    Uuid,
    /// Dates, clock times and combined timestamps, including month and weekday names next to numbers.
    Time,
    /// Absolute file-system paths (Unix and Windows).
    Path,
    /// URLs with a scheme, such as `https://host/x` or `hdfs://node/path`.
    Url,
    /// A number followed by a time unit, such as `250ms`, `3.5s` or `10 sec`.
    Duration,
    /// A number followed by a size unit, such as `10KB`, `4G` or `1190 bytes`.
    Size,
}

impl MaskKind {
    /// The placeholder text that replaces a masked value in tokens and template text.
    pub fn placeholder(self) -> &'static str {
        match self {
            MaskKind::Number => "<NUM>",
            MaskKind::Hex => "<HEX>",
            MaskKind::Ip => "<IP>",
            MaskKind::Uuid => "<UUID>",
            MaskKind::Time => "<TIME>",
            MaskKind::Path => "<PATH>",
            MaskKind::Url => "<URL>",
            MaskKind::Duration => "<DUR>",
            MaskKind::Size => "<SIZE>",
        }
    }
}

/// Whether a token after masking is fixed text or a slot of purely variable text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenClass {
    /// Fixed text, possibly with masks inside it (such as `blk_<NUM>` or `uid=<NUM>`).
    Literal {
        /// True when the token has letters and neither digits nor masks. Such a token routes a line to
        /// its candidate templates when it is also shaped like a word (see `is_word_shaped`), which is
        /// checked only for the few tokens routing looks at.
        plain: bool,
    },
    /// One or more adjacent tokens made only of masks and punctuation (such as `<NUM>`, `[<IP>]` or `<SIZE> (<SIZE>)`).
    Slot,
}

/// One final token of a masked line: a byte range of [`LineScratch::masked`] and its class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineToken {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) class: TokenClass,
}

/// Facts about one masked whitespace token, gathered while it is written.
#[derive(Clone, Copy, Debug, Default)]
struct TokenFacts {
    /// At least one mask was written.
    has_mask: bool,
    /// A letter (or a non-ASCII byte) was kept outside any mask.
    has_letter: bool,
    /// A digit was kept outside any mask.
    has_digit: bool,
    /// Byte offset in the output where a trailing `<NUM>` starts, when the token ends with a plain number mask.
    trailing_number_at: Option<usize>,
}

/// Reusable buffers for tokenizing and masking one line at a time, so that steady-state mining does not allocate.
#[derive(Debug, Default)]
pub struct LineScratch {
    /// Byte ranges of the whitespace-separated tokens of the raw line, with the classes of their bytes.
    raw_spans: Vec<(usize, usize, u8)>,
    /// Masked text of all tokens, each followed by one space, so adjacent tokens form one contiguous range.
    pub(crate) masked: String,
    /// Final tokens after collapsing runs of purely variable tokens into slots.
    pub(crate) tokens: Vec<LineToken>,
}

impl LineScratch {
    /// Creates empty buffers; they grow to the longest line seen and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text of final token `index`.
    pub(crate) fn token_text(&self, index: usize) -> &str {
        self.tokens
            .get(index)
            .and_then(|token| self.masked.get(token.start..token.end))
            .unwrap_or("")
    }

    /// The final tokens as text, for tests and diagnostics.
    pub fn token_texts(&self) -> Vec<String> {
        (0..self.tokens.len())
            .map(|index| self.token_text(index).to_owned())
            .collect()
    }
}

/// Splits `line` on whitespace, masks every token, folds separate unit words into the number before them,
/// and collapses runs of purely variable tokens into slots. Results are left in `scratch`.
pub fn tokenize_and_mask(line: &str, scratch: &mut LineScratch) {
    scratch.raw_spans.clear();
    scratch.masked.clear();
    scratch.tokens.clear();

    // Tokens are separated by spaces, tabs, line ends and other control characters (every byte up to
    // 0x20). Token ends are found eight bytes at a time; a branch-free pass then records what kinds of
    // bytes each token contains.
    let bytes = line.as_bytes();
    let mut position = 0;
    while position < bytes.len() {
        while position < bytes.len() && bytes[position] <= b' ' {
            position += 1;
        }
        if position == bytes.len() {
            break;
        }
        let token_start = position;
        position = separator_at_or_after(bytes, position);
        let token_classes = bytes[token_start..position]
            .iter()
            .fold(0u8, |classes, &byte| {
                classes | BYTE_CLASSES[usize::from(byte)]
            });
        scratch
            .raw_spans
            .push((token_start, position, token_classes));
    }

    // Each raw token is masked, then either extends the current run of purely variable tokens (which
    // becomes one slot) or ends it and is added as fixed text.
    let mut pending_slot: Option<(usize, usize)> = None;
    let mut raw_index = 0;
    while raw_index < scratch.raw_spans.len() {
        let (start, end, classes) = scratch.raw_spans[raw_index];
        let raw_token = &line[start..end];
        let output_start = scratch.masked.len();
        let may_be_calendar_word =
            classes & (CLASS_DIGIT | CLASS_COLON | CLASS_SLASH | CLASS_ANGLE_BRACKET) == 0
                && classes & CLASS_LETTER != 0;
        let mut facts = if may_be_calendar_word
            && is_calendar_word_next_to_number(line, &scratch.raw_spans, raw_index)
        {
            mask_calendar_word(raw_token, &mut scratch.masked)
        } else {
            mask_token(raw_token, classes, &mut scratch.masked)
        };
        // A unit written as its own word ("1190 bytes", "3 sec", "(1.16 KB)") belongs to the number
        // before it: folding keeps "<SIZE>" lines and "<SIZE> KB" lines from looking like different shapes.
        if let Some(number_at) = facts.trailing_number_at
            && let Some(&(next_start, next_end, _)) = scratch.raw_spans.get(raw_index + 1)
            && let Some((kind, trailing_punctuation)) =
                separate_unit_word(&line[next_start..next_end])
        {
            scratch.masked.truncate(number_at);
            scratch.masked.push_str(kind.placeholder());
            scratch.masked.push_str(trailing_punctuation);
            facts.trailing_number_at = None;
            raw_index += 1;
        }
        let output_end = scratch.masked.len();
        scratch.masked.push(' ');
        raw_index += 1;

        if is_purely_variable(&facts) {
            pending_slot = Some(match pending_slot {
                Some((slot_start, _)) => (slot_start, output_end),
                None => (output_start, output_end),
            });
            continue;
        }
        if let Some((slot_start, slot_end)) = pending_slot.take() {
            scratch.tokens.push(LineToken {
                start: slot_start,
                end: slot_end,
                class: TokenClass::Slot,
            });
        }
        // A list of values with the same fixed part ("blk_<NUM> blk_<NUM> ...") keeps one item, so
        // that lists of different lengths share a shape.
        if facts.has_mask
            && let Some(previous) = scratch.tokens.last()
            && previous.class == (TokenClass::Literal { plain: false })
            && scratch.masked.get(previous.start..previous.end)
                == scratch.masked.get(output_start..output_end)
        {
            continue;
        }
        scratch.tokens.push(LineToken {
            start: output_start,
            end: output_end,
            class: TokenClass::Literal {
                plain: facts.has_letter && !facts.has_digit && !facts.has_mask,
            },
        });
    }
    if let Some((slot_start, slot_end)) = pending_slot {
        scratch.tokens.push(LineToken {
            start: slot_start,
            end: slot_end,
            class: TokenClass::Slot,
        });
    }
    merge_enclosed_groups(scratch);
}

/// The most tokens a quoted or bracketed group may span and still become one token.
const MAX_GROUP_TOKENS: usize = 8;

/// Joins the tokens of a quoted or bracketed group that contains spaces (`"John Smith"`,
/// `(Google Chrome Helper)`, `[TERM, HUP, INT]`) into one token, so that a value of one, two or three
/// words keeps the line's shape. The joined token covers the group's masked text with its single
/// spaces; it is a slot when every part was one, and otherwise fixed text that is not a plain word.
fn merge_enclosed_groups(scratch: &mut LineScratch) {
    // Most lines have no group: find the first one before rewriting anything.
    let Some(first_group) = (0..scratch.tokens.len()).find(|&index| {
        scratch
            .masked
            .as_bytes()
            .get(scratch.tokens[index].start)
            .is_some_and(|byte| matches!(byte, b'(' | b'[' | b'"' | b'\''))
            && group_end(scratch, index).is_some()
    }) else {
        return;
    };
    let mut write = first_group;
    let mut read = first_group;
    while read < scratch.tokens.len() {
        let token = scratch.tokens[read];
        let merged = match group_end(scratch, read) {
            Some(last) => {
                let all_slots = scratch.tokens[read..=last]
                    .iter()
                    .all(|part| part.class == TokenClass::Slot);
                let end = scratch.tokens[last].end;
                read = last + 1;
                LineToken {
                    start: token.start,
                    end,
                    class: if all_slots {
                        TokenClass::Slot
                    } else {
                        TokenClass::Literal { plain: false }
                    },
                }
            }
            None => {
                read += 1;
                token
            }
        };
        scratch.tokens[write] = merged;
        write += 1;
    }
    scratch.tokens.truncate(write);
}

/// When token `first` opens a quote or bracket that a later token (within [`MAX_GROUP_TOKENS`])
/// closes, the index of that closing token.
fn group_end(scratch: &LineScratch, first: usize) -> Option<usize> {
    let text = scratch.token_text(first).as_bytes();
    let opener = *text.first()?;
    let closer = match opener {
        b'(' => b')',
        b'[' => b']',
        b'"' | b'\'' => opener,
        _ => return None,
    };
    let last = (first + MAX_GROUP_TOKENS).min(scratch.tokens.len());
    if opener == closer {
        // A quote is closed by the same character at the end of a later token (before any trailing
        // punctuation); a quote character anywhere else ends the search.
        if text[1..].contains(&closer) {
            return None;
        }
        for index in first + 1..last {
            let part = scratch.token_text(index).as_bytes();
            if part.contains(&closer) {
                let core_end = part
                    .iter()
                    .rposition(|&byte| {
                        !matches!(byte, b',' | b'.' | b';' | b':' | b'!' | b'?' | b')' | b']')
                    })
                    .map_or(0, |position| position + 1);
                return (core_end > 0 && part[core_end - 1] == closer).then_some(index);
            }
        }
        return None;
    }
    let balance_of = |bytes: &[u8]| {
        bytes.iter().fold(0i64, |balance, &byte| {
            balance + i64::from(byte == opener) - i64::from(byte == closer)
        })
    };
    let mut balance = balance_of(text);
    if balance <= 0 {
        return None;
    }
    for index in first + 1..last {
        balance += balance_of(scratch.token_text(index).as_bytes());
        if balance <= 0 {
            return Some(index);
        }
    }
    None
}

/// A value right after `=` that is a number in any base: a run of hex digits with at least one
/// decimal digit (`pc=1f4`, `sp=a3c0`, `lr=300`), whatever its length or first character. Lists of
/// `key=value` pairs then keep one shape however their values are spelled. `0x` values, addresses,
/// times and versions are left to the general scanners.
fn value_after_equals(bytes: &[u8], start: usize) -> Option<(usize, MaskKind)> {
    if start == 0 || bytes[start - 1] != b'=' {
        return None;
    }
    if bytes[start] == b'0' && matches!(bytes.get(start + 1), Some(b'x' | b'X')) {
        return None;
    }
    let end = word_end(bytes, start);
    let run = &bytes[start..end];
    if run.is_empty()
        || !run.iter().all(u8::is_ascii_hexdigit)
        || !run.iter().any(u8::is_ascii_digit)
    {
        return None;
    }
    // A separator followed by more of the value makes a longer one (an address, a time, a version, a
    // UUID), which the general scanners know.
    if matches!(bytes.get(end), Some(b'.' | b':' | b'-' | b'/'))
        && bytes.get(end + 1).is_some_and(|&byte| is_word_byte(byte))
    {
        return None;
    }
    Some((end, MaskKind::Number))
}

/// The position of the first separator byte (0x20 or below) at or after `position`, or the length.
fn separator_at_or_after(bytes: &[u8], mut position: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(position..position + 8) {
        let mut word_bytes = [0u8; 8];
        word_bytes.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word_bytes);
        // Marks bytes below 0x21. Borrows can only add false marks above a true one, so the lowest
        // mark is exact; bytes with the high bit set (UTF-8) are never marked.
        let below_0x21 = word.wrapping_sub(ONES * 0x21) & !word & HIGH_BITS;
        if below_0x21 != 0 {
            return position + (below_0x21.trailing_zeros() / 8) as usize;
        }
        position += 8;
    }
    while position < bytes.len() && bytes[position] > b' ' {
        position += 1;
    }
    position
}

/// A token is purely variable when it holds at least one mask and nothing but masks and punctuation.
fn is_purely_variable(facts: &TokenFacts) -> bool {
    facts.has_mask && !facts.has_letter && !facts.has_digit
}

/// True for natural-language words: letters with at most internal hyphens or apostrophes, followed by
/// closing punctuation (`failed`, `usable)`, `Disconnecting:`, `isn't`). A word that opens with a quote
/// or bracket is a value or a tag, not a sentence word. Identifier-like
/// tokens with dots, underscores, slashes and the like (`com.apple.x:`, `chrome.exe`, `mod_jk`) are not
/// words in this sense: they are far more often names that vary (hosts, programs, services, classes),
/// so they must not decide which templates a line is compared with.
pub(crate) fn is_word_shaped(token: &[u8]) -> bool {
    let is_opening = |byte: &u8| matches!(byte, b'(' | b'[' | b'{' | b'<' | b'\'' | b'"');
    let is_closing = |byte: &u8| {
        matches!(
            byte,
            b')' | b']' | b'}' | b'>' | b'\'' | b'"' | b':' | b',' | b';' | b'.' | b'!' | b'?'
        )
    };
    // A quoted or bracketed word (`"Alice"`, `(Mail)`, `[preauth]`) is a value or a tag, not a word
    // of the message's sentence.
    if token.first().is_some_and(is_opening) {
        return false;
    }
    // A function-call suffix ("flush()", "clear():") belongs to a name, which is part of the format.
    let token = match token
        .iter()
        .rposition(|byte| !is_closing(byte) || *byte == b')')
    {
        Some(last) if last >= 2 && token[last] == b')' && token[last - 1] == b'(' => {
            &token[..last - 1]
        }
        _ => token,
    };
    let start = token
        .iter()
        .position(|byte| !is_opening(byte))
        .unwrap_or(token.len());
    let end = token
        .iter()
        .rposition(|byte| !is_closing(byte))
        .map_or(start, |last| last + 1);
    let core = token.get(start..end.max(start)).unwrap_or_default();
    let is_letter = |byte: &u8| byte.is_ascii_alphabetic() || *byte >= 0x80;
    !core.is_empty()
        && core.first().is_some_and(is_letter)
        && core.last().is_some_and(is_letter)
        && core
            .iter()
            .all(|byte| is_letter(byte) || *byte == b'-' || *byte == b'\'')
}

/// Letters, digits and non-ASCII bytes form words; masks only start at word boundaries so that
/// identifiers such as `ssh2`, `r24` or `J12` keep their digits.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte >= 0x80
}

/// Characters that can end a URL or path but almost never belong to it (closing brackets, sentence punctuation).
fn is_trailing_punctuation(byte: u8) -> bool {
    matches!(
        byte,
        b')' | b']' | b'}' | b'>' | b',' | b'.' | b';' | b':' | b'\'' | b'"' | b'!' | b'?'
    )
}

/// Writes `raw_token` to `out` with every recognised variable substring replaced by its placeholder.
fn mask_token(raw_token: &str, classes: u8, out: &mut String) -> TokenFacts {
    let bytes = raw_token.as_bytes();
    let mut facts = TokenFacts::default();
    // Most tokens are plain words. Without a digit, slash, backslash or colon no scanner can match
    // (numbers, hex, addresses and times need digits; paths need slashes; URLs need colons), so they
    // are copied as they are.
    if classes & (CLASS_DIGIT | CLASS_COLON | CLASS_SLASH) == 0 {
        if classes & CLASS_ANGLE_BRACKET != 0 {
            flush_literal(raw_token, out, &mut facts);
        } else {
            facts.has_letter = classes & CLASS_LETTER != 0;
            out.push_str(raw_token);
        }
        return facts;
    }
    // Bare integers (counters, ids, epoch times) are common enough in headers to skip the scanners.
    if classes == CLASS_DIGIT && bytes.iter().all(u8::is_ascii_digit) {
        facts.has_mask = true;
        facts.trailing_number_at = Some(out.len());
        out.push_str(MaskKind::Number.placeholder());
        return facts;
    }
    let has_colon = classes & CLASS_COLON != 0;
    let hints = TokenHints {
        has_colon,
        has_digit: classes & CLASS_DIGIT != 0,
        may_hold_ipv6: has_colon
            && (bytes.windows(2).any(|pair| pair == b"::")
                || bytes.iter().filter(|&&byte| byte == b':').count() >= 7),
    };
    let mut literal_start = 0;
    let mut position = 0;
    while position < bytes.len() {
        let at_boundary = position == 0 || !is_word_byte(bytes[position - 1]);
        let scanned = if at_boundary {
            value_after_equals(bytes, position).or_else(|| scan_variable(bytes, position, hints))
        } else {
            None
        };
        if let Some((end, kind)) = scanned {
            flush_literal(&raw_token[literal_start..position], out, &mut facts);
            let mask_start = out.len();
            out.push_str(kind.placeholder());
            facts.has_mask = true;
            facts.trailing_number_at = if kind == MaskKind::Number && end == bytes.len() {
                Some(mask_start)
            } else {
                None
            };
            position = end;
            literal_start = end;
            continue;
        }
        if is_word_byte(bytes[position]) {
            while position < bytes.len() && is_word_byte(bytes[position]) {
                position += 1;
            }
        } else {
            position += 1;
        }
    }
    if literal_start < bytes.len() {
        flush_literal(&raw_token[literal_start..], out, &mut facts);
        facts.trailing_number_at = None;
    }
    facts
}

/// Byte classes for the one-pass token pre-scan, combined with bitwise or.
const CLASS_DIGIT: u8 = 1;
const CLASS_LETTER: u8 = 2;
const CLASS_COLON: u8 = 4;
const CLASS_SLASH: u8 = 8;
const CLASS_ANGLE_BRACKET: u8 = 16;

/// The class of every byte value; non-ASCII bytes count as letters.
const BYTE_CLASSES: [u8; 256] = {
    let mut classes = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = match byte as u8 {
            b'0'..=b'9' => CLASS_DIGIT,
            b'a'..=b'z' | b'A'..=b'Z' | 0x80..=0xff => CLASS_LETTER,
            b':' => CLASS_COLON,
            b'/' | b'\\' => CLASS_SLASH,
            b'<' => CLASS_ANGLE_BRACKET,
            _ => 0,
        };
        byte += 1;
    }
    classes
};

/// Every placeholder the masker writes.
const PLACEHOLDERS: [&str; 9] = [
    "<NUM>", "<HEX>", "<IP>", "<UUID>", "<TIME>", "<PATH>", "<URL>", "<DUR>", "<SIZE>",
];

/// True when `text` contains a mask placeholder.
pub(crate) fn contains_placeholder(text: &str) -> bool {
    text.contains('<')
        && PLACEHOLDERS
            .iter()
            .any(|placeholder| text.contains(placeholder))
}

/// Copies fixed text to the output and records whether it had letters or digits.
fn flush_literal(text: &str, out: &mut String, facts: &mut TokenFacts) {
    // Input that already contains placeholder text (such as a re-mined template) is treated as masked, so
    // that a token's class depends only on its masked text.
    if contains_placeholder(text) {
        facts.has_mask = true;
        out.push_str(text);
        let mut remainder = text;
        while let Some(start) = remainder.find('<') {
            let (before, after) = remainder.split_at(start);
            note_letters_and_digits(before, facts);
            match PLACEHOLDERS
                .iter()
                .find(|placeholder| after.starts_with(**placeholder))
            {
                Some(placeholder) => remainder = &after[placeholder.len()..],
                None => {
                    remainder = &after[1..];
                }
            }
        }
        note_letters_and_digits(remainder, facts);
        return;
    }
    note_letters_and_digits(text, facts);
    out.push_str(text);
}

/// Records whether `text` has letters (ASCII or not) or digits.
fn note_letters_and_digits(text: &str, facts: &mut TokenFacts) {
    let classes = text.as_bytes().iter().fold(0u8, |classes, &byte| {
        classes | BYTE_CLASSES[usize::from(byte)]
    });
    facts.has_digit |= classes & CLASS_DIGIT != 0;
    facts.has_letter |= classes & CLASS_LETTER != 0;
}

/// What a whole token contains, so that scanners that cannot match are skipped.
#[derive(Clone, Copy, Debug)]
struct TokenHints {
    has_colon: bool,
    has_digit: bool,
    /// The token has `::` or at least seven colons, without which no IPv6 address fits.
    may_hold_ipv6: bool,
}

/// Tries every scanner at a word boundary and returns the end of the variable text and its kind.
fn scan_variable(bytes: &[u8], start: usize, hints: TokenHints) -> Option<(usize, MaskKind)> {
    let first = bytes[start];
    if first == b'/' || first == b'~' || (first == b'.' && bytes.get(start + 1) == Some(&b'/')) {
        return scan_unix_path(bytes, start);
    }
    if first.is_ascii_alphabetic()
        && bytes.get(start + 1) == Some(&b':')
        && bytes.get(start + 2) == Some(&b'\\')
    {
        return scan_windows_path(bytes, start);
    }
    if (first == b'-' || first == b'+') && bytes.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return scan_number_like(bytes, start + 1, start);
    }
    if !hints.has_digit {
        // Without digits only a URL is possible.
        if first.is_ascii_alphabetic()
            && hints.has_colon
            && let Some(end) = scan_url(bytes, start)
        {
            return Some((end, MaskKind::Url));
        }
        return None;
    }
    if first.is_ascii_alphabetic() {
        if hints.has_colon
            && let Some(end) = scan_url(bytes, start)
        {
            return Some((end, MaskKind::Url));
        }
        // Every remaining scanner needs a hex digit here (UUID, MAC, IPv6 or a long hex word).
        if !first.is_ascii_hexdigit() {
            return None;
        }
    }
    if first.is_ascii_hexdigit() || first == b':' {
        if bytes.get(start + 8) == Some(&b'-')
            && let Some(end) = scan_uuid(bytes, start)
        {
            return Some((end, MaskKind::Uuid));
        }
        if (hints.has_colon || bytes.get(start + 2) == Some(&b'-'))
            && let Some(end) = scan_mac(bytes, start)
        {
            return Some((end, MaskKind::Hex));
        }
        if hints.may_hold_ipv6
            && let Some(end) = scan_ipv6(bytes, start)
        {
            return Some((end, MaskKind::Ip));
        }
    }
    if first.is_ascii_digit() {
        return scan_number_like(bytes, start, start);
    }
    if first.is_ascii_alphabetic() {
        return scan_long_hex_word(bytes, start);
    }
    None
}

/// End of the run of word bytes starting at `start`.
fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_word_byte(bytes[end]) {
        end += 1;
    }
    end
}

/// A word that starts with a letter is hex only when it has at least six hex digits (object hashes such
/// as `df0798e` have seven), all hex, with at least one decimal digit; shorter ones are far more often
/// identifiers such as `e820` or `fpr29`.
fn scan_long_hex_word(bytes: &[u8], start: usize) -> Option<(usize, MaskKind)> {
    let end = word_end(bytes, start);
    let word = &bytes[start..end];
    if word.len() >= 6
        && word.iter().all(u8::is_ascii_hexdigit)
        && word.iter().any(u8::is_ascii_digit)
    {
        return Some((end, MaskKind::Hex));
    }
    None
}

/// `scheme://rest`: the scheme is letters, digits, `+`, `.` or `-`, and the URL runs to the end of the
/// token less trailing punctuation.
fn scan_url(bytes: &[u8], start: usize) -> Option<usize> {
    let mut position = start;
    while position < bytes.len()
        && (bytes[position].is_ascii_alphanumeric()
            || matches!(bytes[position], b'+' | b'.' | b'-'))
    {
        position += 1;
    }
    if !bytes[position..].starts_with(b"://") {
        return None;
    }
    let mut end = bytes.len();
    while end > position + 3 && is_trailing_punctuation(bytes[end - 1]) {
        end -= 1;
    }
    Some(end)
}

/// Bytes that may appear inside a path segment.
fn is_path_byte(byte: u8) -> bool {
    is_word_byte(byte)
        || matches!(
            byte,
            b'.' | b'_' | b'-' | b'/' | b'~' | b'+' | b'@' | b'%' | b'$' | b'#' | b'='
        )
}

/// An absolute or home-relative Unix path with at least one segment character after a slash. A slash
/// followed by an IPv4 address is left alone so that `/10.0.0.1:50010` masks as an address.
fn scan_unix_path(bytes: &[u8], start: usize) -> Option<(usize, MaskKind)> {
    let mut position = start;
    while position < bytes.len() && matches!(bytes[position], b'.' | b'~') {
        position += 1;
    }
    if bytes.get(position) != Some(&b'/') {
        return None;
    }
    let after_slash = position + 1;
    let next = *bytes.get(after_slash)?;
    if !(is_word_byte(next) || matches!(next, b'.' | b'_' | b'-')) {
        return None;
    }
    if next.is_ascii_digit() && scan_ipv4(bytes, after_slash).is_some() {
        return None;
    }
    let mut end = after_slash;
    while end < bytes.len() && is_path_byte(bytes[end]) {
        end += 1;
    }
    while end > after_slash + 1 && matches!(bytes[end - 1], b'.' | b',') {
        end -= 1;
    }
    Some((end, MaskKind::Path))
}

/// `C:\dir\file`: a drive letter followed by backslash-separated segments.
fn scan_windows_path(bytes: &[u8], start: usize) -> Option<(usize, MaskKind)> {
    let mut end = start + 3;
    while end < bytes.len()
        && (is_path_byte(bytes[end]) || bytes[end] == b'\\' || bytes[end] == b' ')
    {
        if bytes[end] == b' ' {
            break;
        }
        end += 1;
    }
    while end > start + 3 && matches!(bytes[end - 1], b'.' | b',') {
        end -= 1;
    }
    Some((end, MaskKind::Path))
}

/// Exactly `count` hex digits at `position`, returning the position after them.
fn hex_run_of(bytes: &[u8], position: usize, count: usize) -> Option<usize> {
    let end = position + count;
    if end <= bytes.len() && bytes[position..end].iter().all(u8::is_ascii_hexdigit) {
        Some(end)
    } else {
        None
    }
}

/// The 8-4-4-4-12 UUID form, not followed by another word byte.
fn scan_uuid(bytes: &[u8], start: usize) -> Option<usize> {
    let mut position = start;
    for (group, &length) in [8usize, 4, 4, 4, 12].iter().enumerate() {
        if group > 0 {
            if bytes.get(position) != Some(&b'-') {
                return None;
            }
            position += 1;
        }
        position = hex_run_of(bytes, position, length)?;
    }
    if bytes.get(position).is_some_and(|&byte| is_word_byte(byte)) {
        return None;
    }
    Some(position)
}

/// Six two-digit hex groups separated by `:` or `-` (a MAC address), masked as hex.
fn scan_mac(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.len() < start + 17 {
        return None;
    }
    let separator = *bytes.get(start + 2)?;
    if separator != b':' && separator != b'-' {
        return None;
    }
    let mut position = start;
    for group in 0..6 {
        if group > 0 {
            if bytes.get(position) != Some(&separator) {
                return None;
            }
            position += 1;
        }
        position = hex_run_of(bytes, position, 2)?;
    }
    if bytes.get(position).is_some_and(|&byte| is_word_byte(byte)) {
        return None;
    }
    Some(position)
}

/// An IPv6 address: groups of one to four hex digits separated by `:`, with either a `::` or all eight
/// groups, at least one decimal digit, and an optional dotted IPv4 tail. Requiring `::` or eight groups keeps
/// clock times like `15:16:01` out.
fn scan_ipv6(bytes: &[u8], start: usize) -> Option<usize> {
    let mut position = start;
    let mut groups = 0;
    let mut has_double_colon = false;
    let mut has_digit = false;
    let mut last_group_end = start;
    if bytes[position..].starts_with(b"::") {
        has_double_colon = true;
        position += 2;
        last_group_end = position;
    }
    loop {
        let group_start = position;
        while position < bytes.len()
            && position - group_start < 5
            && bytes[position].is_ascii_hexdigit()
        {
            has_digit |= bytes[position].is_ascii_digit();
            position += 1;
        }
        let group_length = position - group_start;
        if group_length == 0 {
            break;
        }
        if group_length > 4 {
            return None;
        }
        if bytes.get(position) == Some(&b'.') && (groups >= 1 || has_double_colon) {
            // An embedded IPv4 tail such as ::ffff:10.0.0.1.
            if let Some(end) = scan_ipv4(bytes, group_start) {
                last_group_end = end;
                groups += 2;
                break;
            }
        }
        groups += 1;
        last_group_end = position;
        if bytes.get(position) != Some(&b':') {
            break;
        }
        if bytes.get(position + 1) == Some(&b':') {
            if has_double_colon {
                break;
            }
            has_double_colon = true;
            position += 2;
            last_group_end = position;
        } else {
            position += 1;
        }
    }
    let end = last_group_end;
    let valid_shape =
        (has_double_colon && (1..=7).contains(&groups)) || (!has_double_colon && groups == 8);
    if !valid_shape || !has_digit {
        return None;
    }
    if bytes.get(end).is_some_and(|&byte| is_word_byte(byte)) {
        return None;
    }
    Some(end)
}

/// A dotted IPv4 address at `start` (four decimal groups of at most three digits, each at most 255).
fn scan_ipv4(bytes: &[u8], start: usize) -> Option<usize> {
    let mut position = start;
    for group in 0..4 {
        if group > 0 {
            if bytes.get(position) != Some(&b'.') {
                return None;
            }
            position += 1;
        }
        let group_start = position;
        let mut value: u32 = 0;
        while position < bytes.len()
            && bytes[position].is_ascii_digit()
            && position - group_start < 3
        {
            value = value * 10 + u32::from(bytes[position] - b'0');
            position += 1;
        }
        if position == group_start || value > 255 {
            return None;
        }
    }
    if bytes.get(position).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(position)
}

/// Separators that may join digit groups inside one number-like value (dates, times, versions, addresses).
fn is_number_separator(byte: u8) -> bool {
    matches!(byte, b'.' | b':' | b'-' | b'/')
}

/// Scans a number-like value that starts with a digit at `digits_start` (after an optional sign at
/// `start`): digit groups joined by `.`, `:`, `-` or `/`, an ISO `T` between date and time, and an
/// optional unit or hex continuation. Returns `None` for identifiers such as `2nd` or `64bit`.
fn scan_number_like(bytes: &[u8], digits_start: usize, start: usize) -> Option<(usize, MaskKind)> {
    if bytes[digits_start] == b'0' && matches!(bytes.get(digits_start + 1), Some(b'x' | b'X')) {
        let hex_end = {
            let mut end = digits_start + 2;
            while end < bytes.len() && bytes[end].is_ascii_hexdigit() {
                end += 1;
            }
            end
        };
        if hex_end > digits_start + 2 && !bytes.get(hex_end).is_some_and(|&byte| is_word_byte(byte))
        {
            return Some((hex_end, MaskKind::Hex));
        }
    }
    if let Some(end) = scan_ipv4(bytes, digits_start) {
        // An address may carry a port or a prefix length.
        let mut end = end;
        if matches!(bytes.get(end), Some(b':' | b'/'))
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
        {
            end += 1;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
        }
        if !bytes.get(end).is_some_and(|&byte| is_word_byte(byte)) {
            return Some((end, MaskKind::Ip));
        }
    }

    let mut position = digits_start;
    while position < bytes.len() && bytes[position].is_ascii_digit() {
        position += 1;
    }
    let mut groups = 1;
    let mut dots = 0;
    let mut colons = 0;
    let mut dashes_or_slashes = 0;
    let first_group_length = position - digits_start;
    while let Some(&separator) = bytes.get(position) {
        let continues_with_digit = bytes.get(position + 1).is_some_and(u8::is_ascii_digit);
        if is_number_separator(separator) && continues_with_digit {
            match separator {
                b'.' => dots += 1,
                b':' => colons += 1,
                _ => dashes_or_slashes += 1,
            }
        } else if separator == b',' && continues_with_digit && colons > 0 {
            // Fractional seconds written with a comma, as in 15:16:01,123.
            dots += 1;
        } else if (separator == b'T' || separator == b't')
            && continues_with_digit
            && dashes_or_slashes >= 2
        {
            // ISO 8601 date and time joined by T.
            colons += 1;
        } else {
            break;
        }
        position += 1;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        groups += 1;
    }

    let is_time_like =
        colons > 0 || dashes_or_slashes >= 2 || (dots == 2 && first_group_length == 4);
    if is_time_like {
        // A zone suffix: Z, or +hh:mm / -hhmm.
        if matches!(bytes.get(position), Some(b'Z' | b'z'))
            && !bytes
                .get(position + 1)
                .is_some_and(|&byte| is_word_byte(byte))
        {
            position += 1;
        }
        return Some((position, MaskKind::Time));
    }

    if position < bytes.len() && is_word_byte(bytes[position]) {
        // Letters right after the number: a unit, a hex value, or an identifier left as it is.
        let letters_end = word_end(bytes, position);
        let letters = &bytes[position..letters_end];
        if groups <= 2
            && dashes_or_slashes == 0
            && letters.iter().all(u8::is_ascii_alphabetic)
            && let Some(unit_kind) = attached_unit_kind(letters)
        {
            return Some((letters_end, unit_kind));
        }
        if groups == 1 && start == digits_start {
            let run = &bytes[digits_start..letters_end];
            if run.iter().all(u8::is_ascii_hexdigit) {
                return Some((letters_end, MaskKind::Hex));
            }
        }
        return None;
    }
    Some((position, MaskKind::Number))
}

/// Units that may follow a number with no space: time units give a duration, size units a size.
fn attached_unit_kind(letters: &[u8]) -> Option<MaskKind> {
    match letters {
        b"ns" | b"us" | b"ms" | b"s" | b"sec" | b"secs" | b"m" | b"min" | b"mins" | b"h"
        | b"hr" | b"hrs" | b"d" => Some(MaskKind::Duration),
        b"b" | b"B" | b"k" | b"K" | b"M" | b"G" | b"T" | b"kb" | b"kB" | b"KB" | b"Kb" | b"mb"
        | b"MB" | b"Mb" | b"gb" | b"GB" | b"Gb" | b"tb" | b"TB" | b"KiB" | b"MiB" | b"GiB"
        | b"TiB" | b"PB" | b"bytes" => Some(MaskKind::Size),
        _ => None,
    }
}

/// A whole token that is a unit word on its own (possibly followed by closing punctuation), such as
/// `KB)` or `sec`, returning the unit's kind and the punctuation to keep.
fn separate_unit_word(token: &str) -> Option<(MaskKind, &str)> {
    let bytes = token.as_bytes();
    let letters_end = bytes
        .iter()
        .position(|byte| !byte.is_ascii_alphabetic())
        .unwrap_or(bytes.len());
    if letters_end == 0
        || !bytes[letters_end..]
            .iter()
            .all(|&byte| is_trailing_punctuation(byte))
    {
        return None;
    }
    let kind = match &bytes[..letters_end] {
        b"ns" | b"us" | b"ms" | b"s" | b"sec" | b"secs" | b"second" | b"seconds" | b"min"
        | b"mins" | b"minute" | b"minutes" | b"hour" | b"hours" | b"day" | b"days" => {
            MaskKind::Duration
        }
        b"B" | b"kB" | b"KB" | b"MB" | b"GB" | b"TB" | b"PB" | b"KiB" | b"MiB" | b"GiB"
        | b"TiB" | b"byte" | b"bytes" => MaskKind::Size,
        _ => return None,
    };
    Some((kind, token.get(letters_end..).unwrap_or("")))
}

/// Month and weekday names (three-letter and full, in their usual capitalisations) are date parts when they
/// sit next to a number, directly or through another calendar word, as in `Jun 14 15:16:01` or
/// `Sun Dec 04 04:47:44 2005`. Requiring the number keeps words such as "May" in prose untouched.
fn is_calendar_word_next_to_number(line: &str, spans: &[(usize, usize, u8)], index: usize) -> bool {
    // Cheap rejection first, because this runs for most words: calendar words are short and start
    // (after at most one opening bracket) with one of nineteen three-letter prefixes. Setting bit 0x20
    // lower-cases letters; anything it lets through by accident is rejected by the full check below.
    let Some(&(start, end, _)) = spans.get(index) else {
        return false;
    };
    let token = line.as_bytes().get(start..end).unwrap_or_default();
    if token.len() < 3 || token.len() > 12 {
        return false;
    }
    let offset = usize::from(token[0].is_ascii_punctuation());
    let Some(prefix) = token.get(offset..offset + 3) else {
        return false;
    };
    if !is_calendar_prefix([prefix[0] | 0x20, prefix[1] | 0x20, prefix[2] | 0x20]) {
        return false;
    }
    let text_at = |position: usize| {
        spans
            .get(position)
            .map(|&(start, end, _)| strip_punctuation(&line[start..end]))
    };
    let starts_with_digit = |text: Option<&str>| {
        text.is_some_and(|word| word.as_bytes().first().is_some_and(u8::is_ascii_digit))
    };
    let is_calendar = |text: Option<&str>| text.is_some_and(is_calendar_word);
    if !is_calendar(text_at(index)) {
        return false;
    }
    let previous = index.checked_sub(1).and_then(text_at);
    let next = text_at(index + 1);
    starts_with_digit(previous)
        || starts_with_digit(next)
        || (is_calendar(next) && starts_with_digit(text_at(index + 2)))
        || (is_calendar(previous) && starts_with_digit(index.checked_sub(2).and_then(text_at)))
}

/// Removes leading and trailing ASCII punctuation.
fn strip_punctuation(text: &str) -> &str {
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_punctuation())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|byte| !byte.is_ascii_punctuation())
        .map_or(start, |last| last + 1);
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    text.get(start..end.max(start)).unwrap_or("")
}

/// The lower-case three-letter abbreviations of months and weekdays.
pub(crate) fn is_calendar_prefix(prefix: [u8; 3]) -> bool {
    matches!(
        &prefix,
        b"jan"
            | b"feb"
            | b"mar"
            | b"apr"
            | b"may"
            | b"jun"
            | b"jul"
            | b"aug"
            | b"sep"
            | b"oct"
            | b"nov"
            | b"dec"
            | b"mon"
            | b"tue"
            | b"wed"
            | b"thu"
            | b"fri"
            | b"sat"
            | b"sun"
    )
}

/// Month and weekday names, matched on their first three letters and then, for longer words, in full.
pub(crate) fn is_calendar_word(word: &str) -> bool {
    const FULL_NAMES: [&str; 20] = [
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "sept",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "may",
    ];
    let bytes = word.as_bytes();
    if bytes.len() < 3 || bytes.len() > 9 {
        return false;
    }
    // Accept "Jun", "JUN" and "jun" but not "jUN": the first letter decides, the rest must agree.
    let first_is_upper = bytes[0].is_ascii_uppercase();
    let rest_is_consistent = bytes[1..]
        .iter()
        .all(|byte| byte.is_ascii_lowercase() || (first_is_upper && byte.is_ascii_uppercase()));
    if !rest_is_consistent {
        return false;
    }
    let prefix = [
        bytes[0].to_ascii_lowercase(),
        bytes[1].to_ascii_lowercase(),
        bytes[2].to_ascii_lowercase(),
    ];
    if !is_calendar_prefix(prefix) {
        return false;
    }
    bytes.len() == 3
        || FULL_NAMES
            .iter()
            .any(|name| name.eq_ignore_ascii_case(word))
}

/// Masks a month or weekday name as a time part, keeping surrounding punctuation such as `[` or `,`.
fn mask_calendar_word(raw_token: &str, out: &mut String) -> TokenFacts {
    let word = strip_punctuation(raw_token);
    let prefix_length = raw_token.len()
        - raw_token
            .trim_start_matches(|character: char| character.is_ascii_punctuation())
            .len();
    out.push_str(&raw_token[..prefix_length]);
    out.push_str(MaskKind::Time.placeholder());
    out.push_str(&raw_token[prefix_length + word.len()..]);
    TokenFacts {
        has_mask: true,
        ..TokenFacts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(line: &str) -> Vec<String> {
        let mut scratch = LineScratch::new();
        tokenize_and_mask(line, &mut scratch);
        scratch.token_texts()
    }

    fn masked_joined(line: &str) -> String {
        masked(line).join(" ")
    }

    #[test]
    fn masks_numbers_but_not_identifier_digits() {
        assert_eq!(
            masked_joined("state 6 ssh2 r24=0x1f fpr29=12"),
            "state <NUM> ssh2 r24=<HEX> fpr29=<NUM>"
        );
        assert_eq!(
            masked_joined("blk_-6952295868487656571 core.114 -5 +3.25"),
            "blk_<NUM> core.<NUM> <NUM> <NUM>"
        );
        assert_eq!(
            masked_joined("attempt_201706092018_0024_m_000005_0"),
            "attempt_<NUM>_<NUM>_m_<NUM>_<NUM>"
        );
        assert_eq!(
            masked_joined("2nd R02-M1-N0-C:J12-U11 e820"),
            "2nd R02-M1-N0-C:J12-U11 e820"
        );
    }

    #[test]
    fn masks_hex_values() {
        assert_eq!(
            masked_joined("at 0x0b85eee0, iar 00106570 dear 0245dc88"),
            "at <HEX>, iar <NUM> dear <HEX>"
        );
        assert_eq!(
            masked_joined("id deadbeef12 word deadbeef"),
            "id <HEX> word deadbeef"
        );
        assert_eq!(masked_joined("mac 00:1a:2B:3c:4d:5e"), "mac <HEX>");
    }

    #[test]
    fn masks_ip_addresses_with_ports() {
        assert_eq!(
            masked_joined("from 173.234.31.186 port 22"),
            "from <IP> port <NUM>"
        );
        assert_eq!(masked_joined("/10.250.19.102:54106"), "/<IP>");
        assert_eq!(
            masked_joined("[::1]:8080 fe80::1ff:fe23:4567:890a 2001:db8:0:0:0:0:2:1"),
            "[<IP>]:<NUM> <IP> <IP>"
        );
        assert_eq!(masked_joined("rhost=218.188.2.4"), "rhost=<IP>");
        assert_eq!(
            masked_joined("net 10.0.0.0/8 ::ffff:10.1.2.3"),
            "net <IP> <IP>"
        );
    }

    #[test]
    fn masks_uuids() {
        assert_eq!(
            masked_joined("request 123e4567-e89b-12d3-a456-426614174000 done"),
            "request <UUID> done"
        );
        assert_eq!(
            masked_joined("id=A23E4567-E89B-12D3-A456-426614174000,"),
            "id=<UUID>,"
        );
    }

    #[test]
    fn masks_dates_and_times() {
        assert_eq!(
            masked_joined("at 15:16:01 on 2005-06-03-15.42.50.675872"),
            "at <TIME> on <TIME>"
        );
        assert_eq!(
            masked("2017-06-09T20:10:40.123Z 17/06/09 2005.06.03"),
            vec!["<TIME> <TIME> <TIME>"]
        );
        assert_eq!(
            masked("Jun 14 15:16:01 combo sshd"),
            vec!["<TIME> <NUM> <TIME>", "combo", "sshd"]
        );
        assert_eq!(
            masked_joined("[Sun Dec 04 04:47:44 2005] [notice] ok"),
            "[<TIME> <TIME> <NUM> <TIME> <NUM>] [notice] ok"
        );
        assert_eq!(
            masked_joined("20171223-22:15:29:606|Step_LSC"),
            "<TIME>|Step_LSC"
        );
        assert_eq!(masked_joined("You May go"), "You May go");
        assert_eq!(masked_joined("log at 15:16:01,123 ok"), "log at <TIME> ok");
    }

    #[test]
    fn masks_paths_and_urls() {
        assert_eq!(
            masked_joined("ok /etc/httpd/conf/workers2.properties."),
            "ok <PATH>."
        );
        assert_eq!(
            masked_joined("file=/var/log/x.log (C:\\Windows\\system32\\a.dll)"),
            "file=<PATH> (<PATH>)"
        );
        assert_eq!(
            masked_joined("to spark://Coarse@10.10.34.11:48069 and :[akka.tcp://sys@10.1.1.1:1]"),
            "to <URL> and :[<URL>]"
        );
        assert_eq!(
            masked_joined("https://example.com/a?b=1, and/or 4G/4G TCP/IP"),
            "<URL>, and/or <SIZE>/<SIZE> TCP/IP"
        );
        assert_eq!(masked_joined("root=LABEL=/ rhgb"), "root=LABEL=/ rhgb");
    }

    #[test]
    fn masks_durations_and_sizes() {
        assert_eq!(
            masked_joined("took 250ms then 3.5s size 10KB"),
            "took <DUR> then <DUR> size <SIZE>"
        );
        assert_eq!(masked_joined("lifetime <1 sec"), "lifetime <<DUR>");
        assert_eq!(
            masked_joined("close, 1190 bytes (1.16 KB) sent, 403 bytes sent"),
            "close, <SIZE> (<SIZE>) sent, <SIZE> sent"
        );
        assert_eq!(masked_joined("waited 5 seconds."), "waited <DUR>.");
    }

    #[test]
    fn collapses_adjacent_variable_tokens_into_one_slot() {
        let tokens = masked("REPORT : 7028 5193 150 240000");
        assert_eq!(tokens, vec!["REPORT", ":", "<NUM> <NUM> <NUM> <NUM>"]);
        let mut scratch = LineScratch::new();
        tokenize_and_mask("onExtend:1514038530000 14 0 4", &mut scratch);
        assert_eq!(scratch.tokens.len(), 2);
        assert_eq!(scratch.tokens[1].class, TokenClass::Slot);
        assert_eq!(
            scratch.tokens[0].class,
            TokenClass::Literal { plain: false }
        );
    }

    #[test]
    fn handles_empty_and_unicode_lines() {
        assert!(masked("").is_empty());
        assert!(masked("   \t ").is_empty());
        assert_eq!(masked_joined("größe 12 état é5"), "größe <NUM> état é5");
    }
}
