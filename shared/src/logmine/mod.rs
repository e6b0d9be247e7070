//! Streaming log-template mining: turns free-form log lines into a small set of templates with stable ids.
//!
//! # What it does
//!
//! A raw line's header (timestamp, level, process and thread ids, host, logger name) is set aside
//! first, so whole lines as CloudWatch Logs delivers them group like their messages; see
//! [`message_start`] for how it is recognised without a format per log. A line without a header is
//! mined whole.
//!
//! The message is split on whitespace (every byte up to 0x20, so tabs, line ends and other control
//! characters separate tokens too), and variable text inside every token is replaced by a mask:
//! `<NUM>` (numbers, versions, and a `key=value` value that is a number in any base, such as `pc=1f4`),
//! `<HEX>` (hex values, MAC addresses), `<IP>` (IPv4 with optional port, IPv6), `<UUID>`, `<TIME>` (dates,
//! times, timestamps, month and weekday names next to numbers), `<PATH>`, `<URL>`, `<DUR>` (numbers with
//! time units, such as `250ms`, `3.5s`, `10 sec`) and `<SIZE>` (numbers with size units, such as `10KB`,
//! `4G`, `1190 bytes`). Digits glued to letters are left alone (`ssh2`, `r24`), because they are usually
//! part of a name. Runs of adjacent tokens made only of masks and punctuation (such as `1190 bytes (1.16
//! KB)` or `7028 5193 150`) collapse into one *slot*, so that a varying number of values does not change a
//! line's shape; a quoted or bracketed group with spaces (`"John Smith"`, `(Google Chrome)`) becomes one
//! token for the same reason.
//!
//! Lines are then grouped in the spirit of Drain. Candidate templates are those with the same number of
//! tokens and the same first two natural-language words (letters only; tokens with digits, masks, dots
//! or underscores, such as `ssh2`, `chrome.exe` or `com.apple.x:`, and quoted or bracketed words are
//! skipped because they are usually names or values that vary). Among the candidates, a template that
//! matches the line exactly is always preferred (the most specific one if several do); otherwise the
//! line joins the most similar template if at least three quarters of the positions agree, and the
//! differing positions become `<*>`; otherwise it starts a new template. A difference in a plain word
//! (a user, client or component name) is the exception: such a word becomes `<*>` only once four
//! different words have been seen at that place, because a message that ends in one of a few constant
//! names is more often a few messages than one with a variable. Lists of identical masked items
//! (`blk_<NUM> blk_<NUM> ...`) keep one item.
//!
//! # Guarantees
//!
//! * A line that was learned matches its own template afterwards: exact matches are checked before
//!   similarity, and templates only ever become more general. Re-mining the same input therefore adds
//!   no templates (the Drain3 pitfall where masked tokens stop matching their own wildcard is avoided).
//! * Memory grows with the number of templates, not lines: no lines are kept, each template keeps one
//!   sample line (cut to [`MinerConfig::max_sample_bytes`]), and the shape cache has a fixed capacity.
//! * Template ids are `t-` followed by 16 hex digits of the FNV-1a 64 hash of the template text, so the
//!   same template gets the same id in every run, process and build. When a template generalises, its
//!   text and so its id change; [`TemplateMatch::previous_id`] reports that, and
//!   [`TemplateMiner::resolve_id`] maps any earlier id to the current one.
//! * State can be saved as JSON, loaded back, and merged with another miner's state (templates with the
//!   same id add their counts; others are added).
//!
//! # API
//!
//! ```
//! use argus::logmine::{MinerConfig, TemplateMiner};
//!
//! # fn main() -> Result<(), argus::logmine::StateError> {
//! let mut miner = TemplateMiner::new(MinerConfig::default());
//! let learned = miner.add_line("Connection closed by 10.0.0.7 port 5122");
//! // learned.template_id, learned.is_new, learned.previous_id, learned.count
//! assert_eq!(miner.match_line("Connection closed by 10.0.0.9 port 22"), Some(learned.template_id));
//! for template in miner.templates() {
//!     println!("{} {} {} {}", template.id, template.count, template.text, template.sample);
//! }
//! let json = miner.to_json()?;                         // save
//! let mut restored = TemplateMiner::from_json(&json)?; // load
//! restored.merge(&miner);                              // merge another miner (or merge_state(&state))
//! # Ok(())
//! # }
//! ```
//!
//! * [`TemplateMiner::new`] / `default()`; [`TemplateMiner::add_line`] learns a line and returns a
//!   [`TemplateMatch`] (`template_id`, `is_new`, `previous_id`, `count`).
//! * [`TemplateMiner::match_line`] (or [`TemplateMiner::match_line_with`], reusing buffers) finds the
//!   template a line matches exactly without learning; `None` means a kind of line never seen.
//! * [`TemplateMiner::templates`] iterates [`TemplateView`]s (`id`, `text`, `count`, `sample`) in creation
//!   order; [`TemplateMiner::template`] looks one up by id; [`TemplateMiner::resolve_id`] follows ids that
//!   changed; [`TemplateMiner::template_count`] counts live templates.
//! * State: [`TemplateMiner::save_state`] / [`TemplateMiner::from_state`] ([`MinerState`], serde),
//!   [`TemplateMiner::to_json`] / [`TemplateMiner::from_json`], [`TemplateMiner::merge_state`] and
//!   [`TemplateMiner::merge`].
//! * [`TemplateId`] prints and parses as `t-<16 hex>` and serialises as that string; [`fnv1a_64`] is the
//!   hash behind it.
//! * [`message_start`] is the byte offset where a raw line's message starts after its header (0 when
//!   the line has none); [`MinerConfig::strip_headers`] (on by default) applies it before mining.
//! * The tokenizer is public too ([`tokenize_and_mask`] with a reusable [`LineScratch`], and
//!   [`MaskKind`] for the placeholders) for callers that want masked tokens without mining.
//!
//! In template text, fixed words appear as they are, masks as their placeholders, and `<*>` marks both
//! words that varied and slots whose values varied in kind or count (a slot whose lines all agreed keeps
//! its text, such as `<NUM>` or `[<IP>]`).
//!
//! # Measured behaviour and limits
//!
//! With the one default configuration, grouping accuracy on the eight LogHub 2k samples (HDFS, Apache,
//! BGL, HealthApp, Linux, OpenSSH, Proxifier, Spark) averages about 0.98 on the message column and the
//! same on whole raw lines with their headers; settings chosen by leave-one-out (on the other seven
//! samples only) score the held-out sample as well as the default does (BENCHMARKS.md). Known limits:
//!
//! * The first two natural-language words are trusted to be fixed, so a template whose first words are
//!   themselves values (a user or host name spelled as a plain word) splits into one template per value.
//! * Similarity is positional over lines of equal length: an optional word or a value that is sometimes
//!   one token and sometimes two (outside quotes and brackets) splits a template; distinct messages that
//!   differ in one token out of four or more merge, unless that token is a plain word.
//! * A variable spelled as plain words with at most three different values in the stream stays as
//!   separate templates; a set of four or more constant names at one place merges.
//! * Header recognition is a heuristic: a message that itself starts with a timestamp loses it, and a
//!   header with more than three names in a row before its level or logger is only partly set aside.
//! * The number of templates is not capped: a stream of genuinely unique messages grows it.
//! * Input that already contains placeholder text such as `<NUM>` is treated as masked.

mod header;
mod masking;
mod state;
mod tree;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use header::message_start;
pub use masking::{LineScratch, MaskKind, tokenize_and_mask};
pub use state::{MinerState, STATE_FORMAT_VERSION, SavedTemplate, SavedToken, StateError};
pub use tree::{MinerConfig, TemplateMatch, TemplateMiner, TemplateView, WILDCARD_TEXT};

/// A template id: the FNV-1a 64 hash of the template text, written as `t-` and 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct TemplateId(pub u64);

impl TemplateId {
    /// The id of a template with this text.
    pub fn from_text(text: &str) -> Self {
        TemplateId(fnv1a_64(text.as_bytes()))
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "t-{:016x}", self.0)
    }
}

/// Why a string is not a template id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a template id (expected t- and 16 hex digits): {0:?}")]
pub struct ParseTemplateIdError(String);

impl FromStr for TemplateId {
    type Err = ParseTemplateIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text
            .strip_prefix("t-")
            .filter(|hex| hex.len() == 16 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .ok_or_else(|| ParseTemplateIdError(text.to_owned()))?;
        u64::from_str_radix(hex, 16)
            .map(TemplateId)
            .map_err(|_| ParseTemplateIdError(text.to_owned()))
    }
}

impl From<TemplateId> for String {
    fn from(id: TemplateId) -> Self {
        id.to_string()
    }
}

impl TryFrom<String> for TemplateId {
    type Error = ParseTemplateIdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// FNV-1a, 64-bit, written out so that ids never depend on the standard library's hasher, whose output
/// may change between Rust versions.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

#[cfg(test)]
mod tests;
