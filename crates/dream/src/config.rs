//! Dream configuration and the instructions file that feeds it.

use crate::DreamError;
use serde::Deserialize;

/// Kinds of findings. `--focus` names map onto these (see [`Category::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A recurring failing command and what works instead (`create mistake`).
    Mistake,
    /// A workflow shared by successful sessions (`create procedure`).
    Procedure,
    /// A rule stated by users across sessions (`create preference`).
    Preference,
    /// Paraphrased existing memories (`merge`).
    Merge,
    /// Existing memories whose advice now fails (`retire`/`update`).
    Outdated,
    /// Memories confirmed by the batch (`promote`).
    Promote,
    /// Memories unconfirmed for a long time (`demote`).
    Demote,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Mistake,
        Category::Procedure,
        Category::Preference,
        Category::Merge,
        Category::Outdated,
        Category::Promote,
        Category::Demote,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Mistake => "mistake",
            Category::Procedure => "procedure",
            Category::Preference => "preference",
            Category::Merge => "merge",
            Category::Outdated => "outdated",
            Category::Promote => "promote",
            Category::Demote => "demote",
        }
    }

    /// Accepted focus names (case-insensitive, singular or plural):
    /// `mistake`, `procedure` / `workflow`, `preference` / `constraint`,
    /// `merge` / `duplicate` / `dedup`, `outdated` / `retire` / `update` /
    /// `stale-advice`, `promote`, `demote`; the groups `usefulness` (promote +
    /// demote), `create` / `new` (mistake + procedure + preference) and
    /// `maintenance` (merge + outdated + promote + demote) and `all`.
    pub fn parse(name: &str) -> Option<Vec<Category>> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        let n = n.strip_suffix('s').filter(|s| !s.is_empty() && *s != "statu").unwrap_or(&n).to_string();
        use Category::*;
        Some(match n.as_str() {
            "mistake" | "error" | "failure" => vec![Mistake],
            "procedure" | "workflow" => vec![Procedure],
            "preference" | "constraint" | "rule" => vec![Preference],
            "merge" | "duplicate" | "dedup" | "dedupe" => vec![Merge],
            "outdated" | "retire" | "update" | "stale-advice" => vec![Outdated],
            "promote" => vec![Promote],
            "demote" => vec![Demote],
            "usefulnes" | "usefulness" => vec![Promote, Demote],
            "create" | "new" => vec![Mistake, Procedure, Preference],
            "maintenance" => vec![Merge, Outdated, Promote, Demote],
            "all" => Category::ALL.to_vec(),
            _ => return None,
        })
    }
}

/// How a dream runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DreamConfig {
    /// Kinds of findings to keep (see [`Category::parse`]); empty keeps all.
    pub focus: Vec<String>,
    /// Drop findings whose text or evidence mentions any of these terms
    /// (case-insensitive substring).
    pub ignore: Vec<String>,
    /// Distinct sessions a finding needs before it becomes an op (default 3).
    pub min_support: u32,
    /// Distinct users a memory needs to be scoped to a team or the org
    /// (default 2); with fewer it is scoped to its user.
    pub min_users_shared: u32,
    /// Free-text notes, copied into the proposal.
    pub notes: Option<String>,
    /// The current time (RFC 3339); the engine reads no clock.
    pub now: String,
    /// Successful sessions confirming a memory's advice before it is
    /// promoted (default 5; never below `min_support`).
    pub promote_min_support: u32,
    /// Age in days after which a memory with no confirmation in the batch is
    /// demoted (default 30).
    pub stale_days: u32,
    /// Evidence entries kept per op (the support count covers all; default 20).
    pub max_evidence: usize,
}

impl Default for DreamConfig {
    fn default() -> Self {
        DreamConfig {
            focus: Vec::new(),
            ignore: Vec::new(),
            min_support: 3,
            min_users_shared: 2,
            notes: None,
            now: "1970-01-01T00:00:00Z".into(),
            promote_min_support: 5,
            stale_days: 30,
            max_evidence: 20,
        }
    }
}

impl DreamConfig {
    /// The categories kept, after validating the focus names.
    pub fn categories(&self) -> Result<Vec<Category>, DreamError> {
        if self.focus.is_empty() {
            return Ok(Category::ALL.to_vec());
        }
        let mut out = Vec::new();
        for f in &self.focus {
            let cats = Category::parse(f).ok_or_else(|| DreamError::UnknownFocus(f.clone()))?;
            out.extend(cats);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(crate) fn min_support(&self) -> u32 {
        self.min_support.max(1)
    }
}

/// A dream's instructions file (TOML):
///
/// ```toml
/// focus = ["mistakes", "preferences"]
/// ignore = ["vendor/", "legacy"]
/// min_support = 4
/// notes = "Payments team; ignore the old deploy scripts."
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instructions {
    #[serde(default)]
    pub focus: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub min_support: Option<u32>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl Instructions {
    /// Parses and validates (focus names must be known, min_support ≥ 1).
    pub fn from_toml(text: &str) -> Result<Self, DreamError> {
        let i: Instructions = toml::from_str(text).map_err(|e| DreamError::Instructions(e.to_string()))?;
        for f in &i.focus {
            if Category::parse(f).is_none() {
                return Err(DreamError::UnknownFocus(f.clone()));
            }
        }
        if i.min_support == Some(0) {
            return Err(DreamError::Instructions("min_support must be at least 1".into()));
        }
        Ok(i)
    }

    /// Merges the file into `config`: focus and ignore lists are added to the
    /// values already there (CLI flags add to file values, duplicates
    /// removed); `min_support` and `notes` from the file apply only where the
    /// config still has the default (`min_support == 3`) / no notes, so an
    /// explicit CLI value wins.
    pub fn apply_to(&self, config: &mut DreamConfig) {
        for f in &self.focus {
            if !config.focus.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                config.focus.push(f.clone());
            }
        }
        for t in &self.ignore {
            if !config.ignore.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                config.ignore.push(t.clone());
            }
        }
        if let Some(m) = self.min_support {
            if config.min_support == DreamConfig::default().min_support {
                config.min_support = m;
            }
        }
        if config.notes.is_none() {
            config.notes.clone_from(&self.notes);
        }
    }
}
