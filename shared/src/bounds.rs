//! Size limits on untrusted text, applied where the text enters Argus: text over its limit is
//! cut on a character boundary and marked, so what is kept says that it was cut and by how much.

use std::borrow::Cow;

/// `text` if it fits in `max_bytes`, else its longest prefix (on a character boundary) followed
/// by `…[truncated N bytes]`, the whole at most `max_bytes` long (or the marker alone when
/// `max_bytes` is smaller than the marker).
pub fn truncate_with_marker(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    // The marker's length depends on how much is cut, which depends on the marker: size it
    // for the whole text (an upper bound), then cut to fit.
    let marker_len = marker(text.len()).len();
    let mut end = max_bytes.saturating_sub(marker_len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{}", &text[..end], marker(text.len() - end)))
}

fn marker(cut: usize) -> String {
    format!("…[truncated {cut} bytes]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_boundary_and_says_how_much_was_cut() {
        let text = "é".repeat(1000);
        let cut = truncate_with_marker(&text, 100);
        assert!(cut.len() <= 100, "{}", cut.len());
        assert!(cut.ends_with("bytes]"), "{cut}");
        let kept = cut.split('…').next().unwrap().len();
        assert!(cut.contains(&format!("truncated {} bytes", text.len() - kept)));
        assert_eq!(truncate_with_marker("short", 100), "short");
    }
}
