//! Untrusted text escaped for wherever it is shown: a terminal (text or JSON lines), Slack
//! mrkdwn, a Teams card's Markdown subset, and CommonMark (post-mortems, tickets, Confluence).
//!
//! Alarm names, alert labels, log lines and model prose are written by people and programs
//! outside Argus. Each function here is total (any input, no panic) and makes sure its output
//! cannot start markup of its target: no terminal control sequence, no Slack mention or link, no
//! Markdown link, image, HTML tag or block. The fuzz target `escapers` (shared/tests/fuzz.rs)
//! checks those properties on arbitrary strings.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters a terminal or a text viewer acts on instead of showing: C0 controls (ESC starts
/// CSI and OSC sequences; BEL, backspace and carriage return rewrite what was shown), DEL, C1
/// controls (U+009B is a one-character CSI on some terminals), bidirectional embeddings,
/// overrides and isolates (they reorder what is shown), invisible characters (zero-width space,
/// word joiner, byte order mark, the interlinear annotation marks, the Unicode tag block used to
/// smuggle ASCII past reviewers) and the line and paragraph separators. Tab and the zero-width
/// (non-)joiners of emoji sequences are harmless and not listed.
pub fn is_hidden_or_control(character: char) -> bool {
    matches!(
        character,
        '\u{0}'..='\u{8}'
            | '\u{a}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// How a terminal line is written: readable text, or a JSON document (for `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalStyle {
    /// Hidden and control characters become `\x1b` (C0 and DEL) or `\u{202e}` (the others), so
    /// a person sees that they were there; a line break inside a line is shown as `\n`.
    Text,
    /// The same characters become JSON escapes (`\u001b`, `\u202e`, surrogate pairs above the
    /// BMP), so the line stays exactly the same JSON. Raw line breaks are kept: serde_json never
    /// puts one inside a string, so any it writes (pretty printing) are structure.
    Json,
}

/// `line` made safe to write to a terminal: every character `is_hidden_or_control` names is
/// shown escaped instead of acted on. Borrowed when nothing needed escaping, which is the rule.
pub fn terminal(line: &str, style: TerminalStyle) -> Cow<'_, str> {
    let needs = |character: char| {
        is_hidden_or_control(character) && !(style == TerminalStyle::Json && character == '\n')
    };
    if !line.chars().any(needs) {
        return Cow::Borrowed(line);
    }
    let mut escaped = String::with_capacity(line.len() + 16);
    for character in line.chars() {
        if !needs(character) {
            escaped.push(character);
            continue;
        }
        match style {
            TerminalStyle::Text if character == '\n' => escaped.push_str("\\n"),
            TerminalStyle::Text if character == '\r' => escaped.push_str("\\r"),
            TerminalStyle::Text if u32::from(character) < 0x80 => {
                let _ = write!(escaped, "\\x{:02x}", u32::from(character));
            }
            TerminalStyle::Text => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(character));
            }
            TerminalStyle::Json => {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    let _ = write!(escaped, "\\u{unit:04x}");
                }
            }
        }
    }
    Cow::Owned(escaped)
}

/// Text for Slack mrkdwn (Block Kit `mrkdwn` objects and a message's `text`): `&`, `<` and `>`
/// are Slack's control characters, so they are written as the entities Slack documents. That is
/// what stops `<!channel>`, `<@U123>` and `<https://evil|Re-approve>` in an alarm name from
/// mentioning anyone or showing a disguised link.
pub fn slack_mrkdwn(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Text for one line of CommonMark (GitHub Flavored Markdown included): a post-mortem line or
/// table cell, a ticket body. Line breaks become spaces (so nothing can start a block); `<`
/// becomes `&lt;` (no HTML, no autolink); a backslash, `*`, `~`, `|`, a `]` that would close a
/// link or image (`](`, `][`, `]:`) and doubled brackets (`[[`, `]]`, wiki links) are
/// backslash-escaped; a leading `#`, `>`, `-`, `+`, `=` or
/// list number is escaped too, as the text may begin a line. `_` and `[` alone cannot make a
/// link, so names like `resource_saturation` and `[InstanceId=i-1]` read as they are.
pub fn markdown_inline(text: &str) -> String {
    let flat: Vec<char> = text
        .chars()
        .map(|character| match character {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => ' ',
            other => other,
        })
        .collect();
    let mut escaped = String::with_capacity(text.len() + 8);
    let first_visible = flat.iter().position(|character| !character.is_whitespace());
    // A list number is digits then `.` or `)`: the mark after the digits is escaped.
    let number_mark = first_visible.and_then(|start| {
        let digits = flat[start..]
            .iter()
            .take_while(|character| character.is_ascii_digit())
            .count();
        let mark = start + digits;
        (digits > 0 && matches!(flat.get(mark), Some('.' | ')'))).then_some(mark)
    });
    for (index, &character) in flat.iter().enumerate() {
        let leading = Some(index) == first_visible;
        let escape = match character {
            '\\' | '*' | '~' | '|' => true,
            ']' => matches!(flat.get(index + 1), Some('(' | '[' | ':' | ']')),
            // `[[…]]` is a wiki link where that extension is on.
            '[' => flat.get(index + 1) == Some(&'['),
            '#' | '>' | '-' | '+' | '=' => leading,
            '.' | ')' => Some(index) == number_mark,
            _ => false,
        };
        if character == '<' {
            escaped.push_str("&lt;");
            continue;
        }
        if escape {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Text inside a Markdown code span (`` `…` ``): backslash escapes do not work there, so
/// backticks (which would close the span) become `'` and line breaks spaces. `in_table` also
/// escapes `|`, which GitHub Flavored Markdown reads as a cell border even inside a code span.
pub fn markdown_code(text: &str, in_table: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '`' => escaped.push('\''),
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => escaped.push(' '),
            '|' if in_table => escaped.push_str("\\|"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Text for a Teams Adaptive Card `TextBlock` or `Fact` value, whose Markdown subset has bold,
/// italics, lists and links (`[text](url)`) and no HTML. The CommonMark escaping applies: no
/// link can be formed, a leading `-` or `1.` makes no list, and `<at>` is no mention.
pub fn teams_markdown(text: &str) -> String {
    markdown_inline(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_are_shown_not_run() {
        let title = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt.exe";
        let text = terminal(title, TerminalStyle::Text);
        assert_eq!(text, "\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}txt.exe");
        let json = serde_json::to_string(title).unwrap();
        let escaped = terminal(&json, TerminalStyle::Json);
        assert!(!escaped.chars().any(is_hidden_or_control), "{escaped}");
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, title, "the JSON still says exactly the same");
        assert!(matches!(
            terminal("plain text", TerminalStyle::Text),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn characters_above_the_bmp_are_json_surrogate_pairs() {
        let tag = "a\u{e0041}b";
        let json = serde_json::to_string(tag).unwrap();
        let escaped = terminal(&json, TerminalStyle::Json);
        assert_eq!(escaped, "\"a\\udb40\\udc41b\"");
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, tag);
    }

    #[test]
    fn slack_mentions_and_links_are_entities() {
        assert_eq!(
            slack_mrkdwn("<!channel> <https://evil|Re-approve> & co"),
            "&lt;!channel&gt; &lt;https://evil|Re-approve&gt; &amp; co"
        );
    }

    #[test]
    fn markdown_links_images_html_and_blocks_are_escaped() {
        assert_eq!(
            markdown_inline("[Re-approve](https://evil) ![x](https://evil/t.png)"),
            "[Re-approve\\](https://evil) ![x\\](https://evil/t.png)"
        );
        assert_eq!(markdown_inline("<img src=x> a\nb"), "&lt;img src=x> a b");
        assert_eq!(markdown_inline("# heading"), "\\# heading");
        assert_eq!(markdown_inline("12. item"), "12\\. item");
        assert_eq!(markdown_inline("- item"), "\\- item");
        assert_eq!(markdown_inline("a \\](x)"), "a \\\\\\](x)");
        assert_eq!(
            markdown_inline("resource_saturation [InstanceId=i-1] OK -> ALARM"),
            "resource_saturation [InstanceId=i-1] OK -> ALARM"
        );
        assert_eq!(markdown_code("a`b|c", true), "a'b\\|c");
    }
}
