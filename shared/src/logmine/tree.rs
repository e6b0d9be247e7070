//! The streaming template miner: a fixed-depth routing index (token count plus the first fixed words) over
//! templates, exact matching before similarity matching, and generalisation of templates into wildcards.
//!
//! Memory is bounded by the number of templates: lines are never stored, each template keeps one sample,
//! and the cache of recently seen line shapes has a fixed capacity.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::TemplateId;
use super::header::message_start;
use super::masking::{LineScratch, TokenClass, is_word_shaped, tokenize_and_mask};

/// Settings of a [`TemplateMiner`]. The default is meant to work on any log without tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinerConfig {
    /// Fraction of a template's positions a new line must share with it to be merged into it, rather than
    /// starting a template of its own. Positions are shared when both hold the same fixed text or both hold
    /// variable slots; wildcard positions do not count as shared. The default, 0.75, lets one varying word
    /// in four merge; it sits in the middle of the range (about 0.6 to 0.8) where grouping accuracy on the
    /// LogHub samples is flat, rather than at its best-scoring edge.
    pub similarity_threshold: f64,
    /// How many leading natural-language words (letters only: no digits, masks, dots or underscores) route
    /// a line to its group of candidate templates. Lines that differ in these words never share a template,
    /// which keeps "Accepted password ..." and "Failed password ..." apart however similar the rest is.
    pub route_depth: usize,
    /// How many different plain words (letters only, bare or in quotes or brackets, such as a user,
    /// client or component name) must appear at one place of otherwise matching lines before that place
    /// becomes a wildcard. Fewer different words are kept as separate templates, because a message
    /// that ends in one of a few constant names (`... by worker scheduler` / `... by worker indexer`)
    /// is more often a few messages than one with a variable, while a real variable soon shows more
    /// values. Differences in anything else (numbers, ids with digits, phrases) generalise at once.
    /// 2 turns this off. The default, 4, is what the leave-one-out check in
    /// `shared/tests/logmine_accuracy.rs` chooses for every held-out LogHub sample.
    pub words_for_variable: usize,
    /// Capacity of the cache from a line's exact masked shape to its template; it is cleared when full.
    pub max_cached_shapes: usize,
    /// Longest sample line kept per template, in bytes; longer lines are cut at a character boundary.
    pub max_sample_bytes: usize,
    /// Sets aside the header of a raw line (timestamp, level, process and thread ids, host, logger; see
    /// [`message_start`](super::message_start)) and mines only the message, so whole lines as CloudWatch
    /// Logs delivers them group like their messages. A line without a recognisable header is mined whole.
    pub strip_headers: bool,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            similarity_threshold: 0.75,
            route_depth: 2,
            words_for_variable: 4,
            max_cached_shapes: 65_536,
            max_sample_bytes: 512,
            strip_headers: true,
        }
    }
}

/// One position of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TemplateToken {
    /// Fixed text (which may contain masks such as `uid=<NUM>`); matches only the same text.
    Literal(Box<str>),
    /// A slot of purely variable text; matches any slot. Keeps the slot text while every line agreed on it
    /// (shown as, for example, `<NUM>`), and `None` once lines differed (shown as `<*>`).
    Slot(Option<Box<str>>),
    /// Anything: fixed words that varied between the lines of this template. Shown as `<*>`.
    Wildcard,
}

impl TemplateToken {
    /// The text shown for this position in the template text.
    pub(crate) fn display(&self) -> &str {
        match self {
            TemplateToken::Literal(text) => text,
            TemplateToken::Slot(Some(text)) => text,
            TemplateToken::Slot(None) | TemplateToken::Wildcard => WILDCARD_TEXT,
        }
    }
}

/// How wildcards appear in template text.
pub const WILDCARD_TEXT: &str = "<*>";

/// A template and its bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub(crate) tokens: Vec<TemplateToken>,
    pub(crate) text: String,
    pub(crate) id: TemplateId,
    pub(crate) count: u64,
    pub(crate) sample: String,
    /// Routing keys under which this template is a candidate: the one it was created with, plus the keys
    /// of templates folded into it.
    pub(crate) route_keys: Vec<u64>,
    /// Set when this template was folded into another one; the entry is then dead and only redirects.
    pub(crate) absorbed_into: Option<usize>,
}

/// What [`TemplateMiner::add_line`] did with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateMatch {
    /// The id of the line's template as it is after this line was learned.
    pub template_id: TemplateId,
    /// True when this line started a new template.
    pub is_new: bool,
    /// The template's id before this line, when learning the line generalised the template and so changed
    /// its text and id. [`TemplateMiner::resolve_id`] maps old ids to current ones.
    pub previous_id: Option<TemplateId>,
    /// How many lines the template has matched so far, this one included.
    pub count: u64,
}

/// A read-only view of one template.
#[derive(Clone, Copy, Debug)]
pub struct TemplateView<'a> {
    /// Stable id derived from the template text.
    pub id: TemplateId,
    /// Template text: fixed words, masks such as `<NUM>` or `<IP>`, and `<*>` for varying parts.
    pub text: &'a str,
    /// Number of lines matched.
    pub count: u64,
    /// The first line seen for this template (cut to the configured sample size).
    pub sample: &'a str,
}

/// A hasher for keys that are already well-mixed 64-bit hashes; it only applies a final mixing step.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        // The splitmix64 finaliser spreads entropy to the bits the hash table uses for buckets and tags.
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        value ^ (value >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = self.0.rotate_left(29) ^ value;
    }
}

pub(crate) type PremixedMap<V> = HashMap<u64, V, BuildHasherDefault<PremixedHasher>>;

/// A fast word-at-a-time hash used only inside one process (line shapes and routing keys); template ids use
/// the stable FNV-1a hash instead.
#[derive(Clone, Copy, Debug)]
struct QuickHash(u64);

impl QuickHash {
    const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new(seed: u64) -> Self {
        QuickHash(seed)
    }

    fn add_word(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(Self::MULTIPLIER);
    }

    fn add_bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add_word(u64::from_le_bytes(word));
        }
        let remainder = chunks.remainder();
        let mut word = [0u8; 8];
        word[..remainder.len()].copy_from_slice(remainder);
        // The length goes in too, so that a short tail cannot collide with a zero-padded one.
        self.add_word(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    }
}

/// Routing key: the token count and the first `route_depth` routable fixed words with their positions.
fn route_key_of<'a>(
    token_count: usize,
    routable_words: impl Iterator<Item = (usize, &'a str)>,
    route_depth: usize,
) -> u64 {
    let mut hash = QuickHash::new(0x5151_5151);
    hash.add_word(token_count as u64);
    for (position, word) in routable_words.take(route_depth) {
        hash.add_word(position as u64);
        hash.add_bytes(word.as_bytes());
    }
    hash.0
}

/// A fixed token routes when it is a natural-language word (letters, no digits or masks, no internal
/// dots or underscores), because such words are almost always part of the message format rather than a
/// value. This must agree with how `line_route_key` picks routing words from line tokens.
pub(crate) fn is_routable_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .any(|&byte| byte.is_ascii_alphabetic() || byte >= 0x80)
        && !bytes.iter().any(u8::is_ascii_digit)
        && !super::masking::contains_placeholder(text)
        && is_word_shaped(bytes)
}

/// Similarity of a line to a template of the same length, gathered in one pass.
#[derive(Clone, Copy, Debug, Default)]
struct Comparison {
    /// Positions where both hold the same fixed text, or both hold slots.
    shared: usize,
    /// Positions that do not match.
    mismatches: usize,
}

/// What a plain-word difference between a line and its most similar template means.
enum WordConflict {
    /// No plain word differs: generalise as usual.
    None,
    /// Too few different words at that place yet: the line starts its own template.
    KeepApart,
    /// Enough different words at that place: these sibling templates fold into the chosen one.
    Fold(Vec<usize>),
}

/// Whether one template position accepts one line token.
fn position_matches(
    template_token: &TemplateToken,
    line_class: TokenClass,
    line_text: &str,
) -> bool {
    match (template_token, line_class) {
        (TemplateToken::Wildcard, _) | (TemplateToken::Slot(_), TokenClass::Slot) => true,
        (TemplateToken::Literal(text), TokenClass::Literal { .. }) => **text == *line_text,
        _ => false,
    }
}

/// A plain word: letters (and punctuation, quotes or brackets) with no digit, no mask and no space.
fn is_plain_word(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .any(|&byte| byte.is_ascii_alphabetic() || byte >= 0x80)
        && !bytes
            .iter()
            .any(|&byte| byte.is_ascii_digit() || byte == b' ' || byte == b'<')
}

/// Result of trying to place a line among candidate templates.
enum Placement {
    Exact(usize),
    Similar(usize),
    New,
}

/// A streaming log-template miner. See the module documentation for the algorithm and guarantees.
#[derive(Debug)]
pub struct TemplateMiner {
    pub(crate) config: MinerConfig,
    pub(crate) templates: Vec<Template>,
    /// Routing key to the live templates that share it, in creation order.
    routes: PremixedMap<Vec<usize>>,
    /// Exact masked shape of recent lines to the template they matched.
    shape_cache: PremixedMap<usize>,
    /// Current ids of live templates.
    ids: PremixedMap<usize>,
    /// Old ids of templates whose text changed, to the id that replaced them.
    renamed: PremixedMap<TemplateId>,
    live_templates: usize,
    scratch: LineScratch,
}

impl Default for TemplateMiner {
    fn default() -> Self {
        Self::new(MinerConfig::default())
    }
}

impl TemplateMiner {
    /// Creates an empty miner.
    pub fn new(config: MinerConfig) -> Self {
        Self {
            config,
            templates: Vec::new(),
            routes: PremixedMap::default(),
            shape_cache: PremixedMap::default(),
            ids: PremixedMap::default(),
            renamed: PremixedMap::default(),
            live_templates: 0,
            scratch: LineScratch::new(),
        }
    }

    /// The miner's settings.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// The part of a line that is mined: the message after its header, when headers are set aside.
    fn message_of<'line>(&self, line: &'line str) -> &'line str {
        if self.config.strip_headers {
            line.get(message_start(line)..).unwrap_or(line)
        } else {
            line
        }
    }

    /// Learns one line: finds or creates its template, generalising the template when needed.
    pub fn add_line(&mut self, line: &str) -> TemplateMatch {
        // The scratch buffers are moved out for the duration of the call so that they can be read while
        // the templates are updated; moving them does not allocate.
        let mut scratch = std::mem::take(&mut self.scratch);
        tokenize_and_mask(self.message_of(line), &mut scratch);
        let result = self.learn(line, &scratch);
        self.scratch = scratch;
        result
    }

    /// Finds the template a line matches exactly, without learning anything. Returns `None` for a line
    /// no template covers (a new kind of message).
    pub fn match_line(&self, line: &str) -> Option<TemplateId> {
        let mut scratch = LineScratch::new();
        self.match_line_with(line, &mut scratch)
    }

    /// Like [`TemplateMiner::match_line`], reusing caller-owned buffers so that repeated calls do not allocate.
    pub fn match_line_with(&self, line: &str, scratch: &mut LineScratch) -> Option<TemplateId> {
        tokenize_and_mask(self.message_of(line), scratch);
        let shape = shape_of(scratch);
        if let Some(&cached) = self.shape_cache.get(&shape) {
            let index = self.resolve_index(cached);
            if self.compare(index, scratch).mismatches == 0 {
                return self.templates.get(index).map(|template| template.id);
            }
        }
        let route_key = self.line_route_key(scratch);
        let placement = match self.routes.get(&route_key) {
            Some(candidates) => self.place(candidates, scratch, false),
            None => Placement::New,
        };
        match placement {
            Placement::Exact(index) => self.templates.get(index).map(|template| template.id),
            Placement::Similar(_) | Placement::New => None,
        }
    }

    /// Iterates over the live templates in creation order.
    pub fn templates(&self) -> impl Iterator<Item = TemplateView<'_>> + '_ {
        self.templates
            .iter()
            .filter(|template| template.absorbed_into.is_none())
            .map(Template::view)
    }

    /// Looks up one template by its current id (see [`TemplateMiner::resolve_id`] for older ids).
    pub fn template(&self, id: TemplateId) -> Option<TemplateView<'_>> {
        let index = *self.ids.get(&id.0)?;
        self.templates.get(index).map(Template::view)
    }

    /// The number of live templates.
    pub fn template_count(&self) -> usize {
        self.live_templates
    }

    /// The number of line shapes currently cached (at most [`MinerConfig::max_cached_shapes`]).
    pub fn shape_cache_len(&self) -> usize {
        self.shape_cache.len()
    }

    /// Maps an id that a template had earlier (before later lines generalised it or merged it into
    /// another template) to the id of the template that covers it now.
    pub fn resolve_id(&self, id: TemplateId) -> Option<TemplateId> {
        let mut current = id;
        // Renames only ever make text more general, so chains are short; the bound guards against cycles.
        for _ in 0..1024 {
            if self.ids.contains_key(&current.0) {
                return Some(current);
            }
            current = *self.renamed.get(&current.0)?;
        }
        None
    }

    fn learn(&mut self, line: &str, scratch: &LineScratch) -> TemplateMatch {
        let shape = shape_of(scratch);
        if let Some(&cached) = self.shape_cache.get(&shape) {
            let index = self.resolve_index(cached);
            if let Some(result) = self.count_if_exact(index, scratch) {
                return result;
            }
        }
        let route_key = self.line_route_key(scratch);
        let mut placement = match self.routes.get(&route_key) {
            Some(candidates) => self.place(candidates, scratch, true),
            None => Placement::New,
        };
        // The id the chosen template had before siblings were folded into it, if they were.
        let mut id_before_folding = None;
        if let Placement::Similar(index) = placement {
            match self.weigh_word_conflicts(index, route_key, scratch) {
                WordConflict::None => {}
                WordConflict::KeepApart => placement = Placement::New,
                WordConflict::Fold(siblings) => {
                    id_before_folding = self.templates.get(index).map(|template| template.id);
                    self.fold_siblings(index, &siblings);
                }
            }
        }
        let index = match placement {
            Placement::Exact(index) | Placement::Similar(index) => index,
            Placement::New => self.create(line, scratch, route_key),
        };
        if self.shape_cache.len() >= self.config.max_cached_shapes {
            self.shape_cache.clear();
        }
        self.shape_cache.insert(shape, index);
        match placement {
            Placement::New => {
                let (template_id, count) = self
                    .templates
                    .get(index)
                    .map_or((TemplateId(0), 0), |template| (template.id, template.count));
                TemplateMatch {
                    template_id,
                    is_new: true,
                    previous_id: None,
                    count,
                }
            }
            Placement::Exact(_) | Placement::Similar(_) => {
                let mut result = self.record(index, scratch, true);
                if let Some(before) = id_before_folding
                    && before != result.template_id
                {
                    result.previous_id = Some(before);
                }
                result
            }
        }
    }

    /// Decides whether a line that is similar to a template but differs from it in a plain word (letters
    /// only, such as a component, client or user name) may generalise it. One differing word may be two
    /// different messages (`... by worker scheduler` / `... by worker indexer`), so until
    /// [`MinerConfig::words_for_variable`] different words have been seen at that place (counting the
    /// line, the chosen template and its siblings: templates that differ from the line only where the
    /// chosen one does), the line starts a template of its own; after that the place is a variable and
    /// the siblings fold into one template. Differences in anything else generalise at once.
    fn weigh_word_conflicts(
        &self,
        index: usize,
        route_key: u64,
        scratch: &LineScratch,
    ) -> WordConflict {
        let Some(template) = self.templates.get(index) else {
            return WordConflict::None;
        };
        let mut differing = Vec::new();
        let mut word_differs = false;
        for (position, template_token) in template.tokens.iter().enumerate() {
            let Some(line_token) = scratch.tokens.get(position) else {
                return WordConflict::None;
            };
            let line_text = scratch.token_text(position);
            if position_matches(template_token, line_token.class, line_text) {
                continue;
            }
            differing.push(position);
            if let TemplateToken::Literal(text) = template_token
                && is_plain_word(text)
                && is_plain_word(line_text)
            {
                word_differs = true;
            }
        }
        if !word_differs {
            return WordConflict::None;
        }
        let siblings: Vec<usize> = self
            .routes
            .get(&route_key)
            .map(|members| {
                members
                    .iter()
                    .copied()
                    .filter(|&member| member != index)
                    .filter(|&member| {
                        self.templates.get(member).is_some_and(|sibling| {
                            sibling.absorbed_into.is_none()
                                && sibling.tokens.len() == scratch.tokens.len()
                                && sibling.tokens.iter().enumerate().all(|(position, token)| {
                                    differing.contains(&position)
                                        || scratch.tokens.get(position).is_some_and(|line_token| {
                                            position_matches(
                                                token,
                                                line_token.class,
                                                scratch.token_text(position),
                                            )
                                        })
                                })
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The line is value number `siblings + 2` at this place (the chosen template holds another).
        if siblings.len() + 2 >= self.config.words_for_variable {
            if siblings.is_empty() {
                WordConflict::None
            } else {
                WordConflict::Fold(siblings)
            }
        } else {
            WordConflict::KeepApart
        }
    }

    /// Folds sibling templates into `into` (their differing positions become wildcards); their ids then
    /// resolve to the result.
    fn fold_siblings(&mut self, into: usize, siblings: &[usize]) {
        let mut folded_ids = Vec::with_capacity(siblings.len());
        for &sibling in siblings {
            if let Some(template) = self.templates.get(sibling) {
                folded_ids.push(template.id);
                self.ids.remove(&template.id.0);
            }
            self.absorb(sibling, into);
        }
        self.refresh_identity(into);
        let into = self.resolve_index(into);
        if let Some(current) = self.templates.get(into).map(|template| template.id) {
            for folded in folded_ids {
                if folded != current {
                    self.renamed.insert(folded.0, current);
                }
            }
        }
    }

    /// The fast path for a line whose shape is cached: one pass checks that the template still matches
    /// exactly and counts the line. Returns `None` when it does not match.
    fn count_if_exact(&mut self, index: usize, scratch: &LineScratch) -> Option<TemplateMatch> {
        let template = self.templates.get_mut(index)?;
        if template.tokens.len() != scratch.tokens.len() {
            return None;
        }
        let mut slot_text_differs = false;
        for (position, (template_token, line_token)) in
            template.tokens.iter().zip(&scratch.tokens).enumerate()
        {
            match (template_token, line_token.class) {
                (TemplateToken::Wildcard, _) | (TemplateToken::Slot(None), TokenClass::Slot) => {}
                (TemplateToken::Slot(Some(text)), TokenClass::Slot) => {
                    slot_text_differs |= **text != *scratch.token_text(position);
                }
                (TemplateToken::Literal(text), TokenClass::Literal { .. })
                    if **text == *scratch.token_text(position) => {}
                _ => return None,
            }
        }
        if slot_text_differs {
            // Rare: a slot that had kept one text sees another, so the template text changes.
            return Some(self.record(index, scratch, false));
        }
        template.count += 1;
        Some(TemplateMatch {
            template_id: template.id,
            is_new: false,
            previous_id: None,
            count: template.count,
        })
    }

    /// Files a template under one more routing key.
    fn add_route(&mut self, index: usize, route_key: u64) {
        if let Some(template) = self.templates.get_mut(index)
            && !template.route_keys.contains(&route_key)
        {
            template.route_keys.push(route_key);
            self.routes.entry(route_key).or_default().push(index);
        }
    }

    /// Chooses the best exact match (the most specific one), or else the most similar template above the
    /// threshold when `allow_similar` is set.
    fn place(&self, candidates: &[usize], scratch: &LineScratch, allow_similar: bool) -> Placement {
        let mut best_exact: Option<(usize, usize)> = None;
        let mut best_similar: Option<(usize, f64)> = None;
        let token_count = scratch.tokens.len().max(1) as f64;
        for &index in candidates {
            let comparison = self.compare(index, scratch);
            if comparison.mismatches == 0 {
                if best_exact.is_none_or(|(_, shared)| comparison.shared > shared) {
                    best_exact = Some((index, comparison.shared));
                }
            } else if allow_similar {
                let similarity = comparison.shared as f64 / token_count;
                if similarity >= self.config.similarity_threshold
                    && best_similar.is_none_or(|(_, best)| similarity > best)
                {
                    best_similar = Some((index, similarity));
                }
            }
        }
        match (best_exact, best_similar) {
            (Some((index, _)), _) => Placement::Exact(index),
            (None, Some((index, _))) => Placement::Similar(index),
            (None, None) => Placement::New,
        }
    }

    fn compare(&self, index: usize, scratch: &LineScratch) -> Comparison {
        let mut comparison = Comparison::default();
        let Some(template) = self.templates.get(index) else {
            comparison.mismatches = 1;
            return comparison;
        };
        if template.tokens.len() != scratch.tokens.len() {
            comparison.mismatches = 1;
            return comparison;
        }
        for (position, (template_token, line_token)) in
            template.tokens.iter().zip(&scratch.tokens).enumerate()
        {
            match (template_token, line_token.class) {
                // Wildcards match anything but, as in Drain, do not count as shared: a template that has
                // become mostly wildcards should not keep absorbing lines that only match by wildcards.
                (TemplateToken::Wildcard, _) => {}
                (TemplateToken::Slot(_), TokenClass::Slot) => comparison.shared += 1,
                (TemplateToken::Literal(text), TokenClass::Literal { .. })
                    if **text == *scratch.token_text(position) =>
                {
                    comparison.shared += 1;
                }
                _ => comparison.mismatches += 1,
            }
        }
        comparison
    }

    /// Counts a line against a template, generalising positions that differ and updating slot texts.
    fn record(
        &mut self,
        index: usize,
        scratch: &LineScratch,
        may_generalise: bool,
    ) -> TemplateMatch {
        let mut changed = false;
        if let Some(template) = self.templates.get_mut(index) {
            template.count += 1;
            for (position, template_token) in template.tokens.iter_mut().enumerate() {
                let Some(line_token) = scratch.tokens.get(position) else {
                    break;
                };
                let line_text = scratch.token_text(position);
                let replacement = match (&*template_token, line_token.class) {
                    (TemplateToken::Wildcard, _)
                    | (TemplateToken::Slot(None), TokenClass::Slot) => None,
                    (TemplateToken::Slot(Some(text)), TokenClass::Slot) => {
                        (**text != *line_text).then_some(TemplateToken::Slot(None))
                    }
                    (TemplateToken::Literal(text), TokenClass::Literal { .. })
                        if **text == *line_text =>
                    {
                        None
                    }
                    _ => may_generalise.then_some(TemplateToken::Wildcard),
                };
                if let Some(replacement) = replacement {
                    *template_token = replacement;
                    changed = true;
                }
            }
        }
        let previous_id = if changed {
            self.refresh_identity(index)
        } else {
            None
        };
        let index = self.resolve_index(index);
        let (template_id, count) = self
            .templates
            .get(index)
            .map_or((TemplateId(0), 0), |template| (template.id, template.count));
        TemplateMatch {
            template_id,
            is_new: false,
            previous_id: previous_id.filter(|previous| *previous != template_id),
            count,
        }
    }

    fn create(&mut self, line: &str, scratch: &LineScratch, route_key: u64) -> usize {
        let tokens = scratch
            .tokens
            .iter()
            .enumerate()
            .map(|(position, token)| {
                let text: Box<str> = scratch.token_text(position).into();
                match token.class {
                    TokenClass::Literal { .. } => TemplateToken::Literal(text),
                    TokenClass::Slot => TemplateToken::Slot(Some(text)),
                }
            })
            .collect();
        let sample = cut_sample(line, self.config.max_sample_bytes);
        self.insert_template(tokens, 1, sample, Some(route_key))
    }

    /// Adds a template to every index and returns its position. When a live template already has the same
    /// text, the two are combined instead and the existing position is returned.
    pub(crate) fn insert_template(
        &mut self,
        tokens: Vec<TemplateToken>,
        count: u64,
        sample: String,
        route_key: Option<u64>,
    ) -> usize {
        let text = template_text(&tokens);
        let id = TemplateId::from_text(&text);
        if let Some(&existing) = self.ids.get(&id.0) {
            if let Some(template) = self.templates.get_mut(existing) {
                template.count += count;
                generalise_tokens(&mut template.tokens, &tokens);
                if template.sample.is_empty() {
                    template.sample = sample;
                }
            }
            return existing;
        }
        let route_key = route_key.unwrap_or_else(|| self.template_route_key(&tokens));
        let index = self.templates.len();
        self.templates.push(Template {
            tokens,
            text,
            id,
            count,
            sample,
            route_keys: vec![route_key],
            absorbed_into: None,
        });
        self.routes.entry(route_key).or_default().push(index);
        self.ids.insert(id.0, index);
        self.live_templates += 1;
        index
    }

    /// Recomputes a template's text and id after its tokens changed. Returns the old id when it changed.
    /// When another live template already has the new text, that template is folded into this one.
    fn refresh_identity(&mut self, index: usize) -> Option<TemplateId> {
        let (old_id, new_id) = {
            let template = self.templates.get_mut(index)?;
            let text = template_text(&template.tokens);
            let new_id = TemplateId::from_text(&text);
            let old_id = template.id;
            if new_id == old_id {
                return None;
            }
            template.text = text;
            template.id = new_id;
            (old_id, new_id)
        };
        self.ids.remove(&old_id.0);
        self.renamed.insert(old_id.0, new_id);
        if let Some(&other) = self.ids.get(&new_id.0)
            && other != index
        {
            self.absorb(other, index);
        }
        self.ids.insert(new_id.0, index);
        Some(old_id)
    }

    /// Folds template `from` into template `into`: counts add up, tokens generalise to cover both, and
    /// `from` becomes a redirect.
    fn absorb(&mut self, from: usize, into: usize) {
        let Some(source) = self.templates.get_mut(from) else {
            return;
        };
        let source_tokens = std::mem::take(&mut source.tokens);
        let source_count = source.count;
        let source_routes = std::mem::take(&mut source.route_keys);
        source.absorbed_into = Some(into);
        source.count = 0;
        source.sample = String::new();
        source.text = String::new();
        for route_key in &source_routes {
            if let Some(members) = self.routes.get_mut(route_key) {
                members.retain(|&member| member != from);
            }
        }
        // Lines routed to the absorbed template now find the one that covers them directly.
        for route_key in source_routes {
            self.add_route(into, route_key);
        }
        self.live_templates = self.live_templates.saturating_sub(1);
        if let Some(target) = self.templates.get_mut(into) {
            target.count += source_count;
            generalise_tokens(&mut target.tokens, &source_tokens);
        }
    }

    /// Follows redirects left by absorbed templates.
    pub(crate) fn resolve_index(&self, mut index: usize) -> usize {
        for _ in 0..self.templates.len() {
            match self
                .templates
                .get(index)
                .and_then(|template| template.absorbed_into)
            {
                Some(next) => index = next,
                None => break,
            }
        }
        index
    }

    fn line_route_key(&self, scratch: &LineScratch) -> u64 {
        let routable_words = scratch
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, token)| matches!(token.class, TokenClass::Literal { plain: true }))
            .map(|(position, _)| (position, scratch.token_text(position)))
            .filter(|(_, text)| is_word_shaped(text.as_bytes()));
        route_key_of(
            scratch.tokens.len(),
            routable_words,
            self.config.route_depth,
        )
    }

    pub(crate) fn template_route_key(&self, tokens: &[TemplateToken]) -> u64 {
        let routable_words =
            tokens
                .iter()
                .enumerate()
                .filter_map(|(position, token)| match token {
                    TemplateToken::Literal(text) if is_routable_text(text) => {
                        Some((position, &**text))
                    }
                    _ => None,
                });
        route_key_of(tokens.len(), routable_words, self.config.route_depth)
    }
}

impl Template {
    fn view(&self) -> TemplateView<'_> {
        TemplateView {
            id: self.id,
            text: &self.text,
            count: self.count,
            sample: &self.sample,
        }
    }
}

/// Widens `target` so that it also covers everything `other` covers. Both have the same length when they
/// share a text; a length mismatch leaves `target` unchanged.
pub(crate) fn generalise_tokens(target: &mut [TemplateToken], other: &[TemplateToken]) {
    if target.len() != other.len() {
        return;
    }
    for (mine, theirs) in target.iter_mut().zip(other) {
        let widened = match (&*mine, theirs) {
            (TemplateToken::Wildcard, _) => None,
            (_, TemplateToken::Wildcard) => Some(TemplateToken::Wildcard),
            (TemplateToken::Slot(Some(a)), TemplateToken::Slot(Some(b))) if a == b => None,
            (TemplateToken::Slot(_), TemplateToken::Slot(_)) => Some(TemplateToken::Slot(None)),
            (TemplateToken::Literal(a), TemplateToken::Literal(b)) if a == b => None,
            _ => Some(TemplateToken::Wildcard),
        };
        if let Some(widened) = widened {
            *mine = widened;
        }
    }
}

/// The template text: token displays joined by single spaces.
pub(crate) fn template_text(tokens: &[TemplateToken]) -> String {
    let mut text = String::new();
    for (position, token) in tokens.iter().enumerate() {
        if position > 0 {
            text.push(' ');
        }
        text.push_str(token.display());
    }
    text
}

/// Hash of a line's exact masked shape: fixed text as is, and every slot as the same marker, so lines
/// whose slots differ in content share one cache entry. Fixed tokens that sit next to each other in the
/// masked buffer are hashed as one range (their separating spaces included), which keeps this cheap.
fn shape_of(scratch: &LineScratch) -> u64 {
    let mut hash = QuickHash::new(0x0123_4567_89ab_cdef);
    let masked = scratch.masked.as_bytes();
    let mut run: Option<(usize, usize)> = None;
    for token in &scratch.tokens {
        match token.class {
            TokenClass::Literal { .. } => {
                run = match run {
                    Some((start, end)) if end + 1 == token.start => Some((start, token.end)),
                    Some((start, end)) => {
                        hash.add_bytes(masked.get(start..end).unwrap_or_default());
                        Some((token.start, token.end))
                    }
                    None => Some((token.start, token.end)),
                };
            }
            TokenClass::Slot => {
                if let Some((start, end)) = run.take() {
                    hash.add_bytes(masked.get(start..end).unwrap_or_default());
                }
                hash.add_word(0xFFFF_FFFF_FFFF_FFFF);
            }
        }
    }
    if let Some((start, end)) = run {
        hash.add_bytes(masked.get(start..end).unwrap_or_default());
    }
    hash.add_word(scratch.tokens.len() as u64);
    hash.0
}

/// The sample kept for a template: the line without its line ending, cut at a character boundary.
pub(crate) fn cut_sample(line: &str, max_bytes: usize) -> String {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.len() <= max_bytes {
        return line.to_owned();
    }
    let mut end = max_bytes;
    while end > 0 && !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}
