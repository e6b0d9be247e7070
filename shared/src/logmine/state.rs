//! Saving, loading and merging miner state as serde JSON.
//!
//! The saved form lists every live template with its tokens, so that a loaded miner routes and matches
//! lines exactly as the saved one did. Ids are recomputed from the tokens on load rather than trusted,
//! because they are derived data.

use serde::{Deserialize, Serialize};

use super::TemplateId;
use super::tree::{MinerConfig, TemplateMiner, TemplateToken, cut_sample};

/// Version of the saved layout, bumped when it changes incompatibly.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Everything needed to rebuild a miner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinerState {
    /// Layout version; loading rejects versions it does not know.
    pub format_version: u32,
    /// The settings the templates were mined with.
    pub config: MinerConfig,
    /// Live templates in creation order.
    pub templates: Vec<SavedTemplate>,
}

/// One saved template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTemplate {
    /// The id, for readers of the file; recomputed from `tokens` on load.
    pub id: TemplateId,
    /// The template text, for readers of the file; recomputed from `tokens` on load.
    pub text: String,
    /// Lines matched.
    pub count: u64,
    /// One sample line.
    pub sample: String,
    /// Tokens, each written as `=text` (fixed text), `~text` (slot that kept its text), `~` (slot that
    /// varied) or `*` (wildcard).
    pub tokens: Vec<SavedToken>,
}

/// A template token in its saved, compact string form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SavedToken(String);

impl From<SavedToken> for String {
    fn from(token: SavedToken) -> Self {
        token.0
    }
}

impl TryFrom<String> for SavedToken {
    type Error = StateError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let token = SavedToken(text);
        token.to_template_token()?;
        Ok(token)
    }
}

impl SavedToken {
    fn from_template_token(token: &TemplateToken) -> Self {
        SavedToken(match token {
            TemplateToken::Literal(text) => format!("={text}"),
            TemplateToken::Slot(Some(text)) => format!("~{text}"),
            TemplateToken::Slot(None) => "~".to_owned(),
            TemplateToken::Wildcard => "*".to_owned(),
        })
    }

    fn to_template_token(&self) -> Result<TemplateToken, StateError> {
        let text = self.0.as_str();
        if let Some(literal) = text.strip_prefix('=') {
            Ok(TemplateToken::Literal(literal.into()))
        } else if text == "~" {
            Ok(TemplateToken::Slot(None))
        } else if let Some(slot) = text.strip_prefix('~') {
            Ok(TemplateToken::Slot(Some(slot.into())))
        } else if text == "*" {
            Ok(TemplateToken::Wildcard)
        } else {
            Err(StateError::BadToken(text.to_owned()))
        }
    }
}

/// Why saved state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The JSON could not be parsed or written.
    #[error("miner state JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The state was written by an incompatible layout version.
    #[error("miner state format version {0} is not supported (expected {STATE_FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// A token was not in any of the saved forms.
    #[error("miner state has a malformed template token: {0:?}")]
    BadToken(String),
}

impl TemplateMiner {
    /// A snapshot of the live templates and settings.
    pub fn save_state(&self) -> MinerState {
        MinerState {
            format_version: STATE_FORMAT_VERSION,
            config: self.config.clone(),
            templates: self
                .templates
                .iter()
                .filter(|template| template.absorbed_into.is_none())
                .map(|template| SavedTemplate {
                    id: template.id,
                    text: template.text.clone(),
                    count: template.count,
                    sample: template.sample.clone(),
                    tokens: template
                        .tokens
                        .iter()
                        .map(SavedToken::from_template_token)
                        .collect(),
                })
                .collect(),
        }
    }

    /// Rebuilds a miner from a snapshot.
    pub fn from_state(state: &MinerState) -> Result<Self, StateError> {
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion(state.format_version));
        }
        let mut miner = TemplateMiner::new(state.config.clone());
        miner.merge_state(state)?;
        Ok(miner)
    }

    /// Adds another snapshot's templates: a template whose id is already present adds its count; any
    /// other template is added as it is. The settings of `self` are kept.
    pub fn merge_state(&mut self, state: &MinerState) -> Result<(), StateError> {
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion(state.format_version));
        }
        for saved in &state.templates {
            let tokens = saved
                .tokens
                .iter()
                .map(SavedToken::to_template_token)
                .collect::<Result<Vec<_>, _>>()?;
            let sample = cut_sample(&saved.sample, self.config.max_sample_bytes);
            self.insert_template(tokens, saved.count, sample, None);
        }
        Ok(())
    }

    /// Adds another miner's templates, as [`TemplateMiner::merge_state`] does.
    pub fn merge(&mut self, other: &TemplateMiner) {
        for template in other
            .templates
            .iter()
            .filter(|template| template.absorbed_into.is_none())
        {
            self.insert_template(
                template.tokens.clone(),
                template.count,
                template.sample.clone(),
                None,
            );
        }
    }

    /// The state as JSON.
    pub fn to_json(&self) -> Result<String, StateError> {
        Ok(serde_json::to_string(&self.save_state())?)
    }

    /// A miner rebuilt from JSON written by [`TemplateMiner::to_json`].
    pub fn from_json(json: &str) -> Result<Self, StateError> {
        let state: MinerState = serde_json::from_str(json)?;
        Self::from_state(&state)
    }
}
