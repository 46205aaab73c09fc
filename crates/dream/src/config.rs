//! Dream configuration and the instructions file that feeds it.

use crate::DreamError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// How the project or its tools are set up (`create fact`; only a
    /// model-backed pass proposes these).
    Fact,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Mistake,
        Category::Procedure,
        Category::Preference,
        Category::Merge,
        Category::Outdated,
        Category::Promote,
        Category::Demote,
        Category::Fact,
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
            Category::Fact => "fact",
        }
    }

    /// Distinct sessions a finding of this category needs when the dream
    /// sets no `min_support`: 2 for a mistake (a failure that recurs in two
    /// independent sessions is already worth a lesson, and the lesson cites
    /// the error itself) and for a fact (a project convention rests on
    /// commands that worked, or hooks the harness ran, in two independent
    /// sessions, and cites them), 3 for everything else (a workflow, a
    /// preference or a change to an existing memory needs a clearer
    /// majority).
    pub fn default_support(self) -> u32 {
        match self {
            Category::Mistake | Category::Fact => 2,
            _ => 3,
        }
    }

    /// Accepted focus names (case-insensitive, singular or plural):
    /// `mistake`, `procedure` / `workflow`, `preference` / `constraint`,
    /// `merge` / `duplicate` / `dedup`, `outdated` / `retire` / `update` /
    /// `stale-advice`, `promote`, `demote`, `fact` / `setup`; the groups
    /// `usefulness` (promote + demote), `create` / `new` (mistake, procedure,
    /// preference and fact), `maintenance` (merge, outdated, promote and
    /// demote) and `all`.
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
            "fact" | "setup" => vec![Fact],
            "usefulnes" | "usefulness" => vec![Promote, Demote],
            "create" | "new" => vec![Mistake, Procedure, Preference, Fact],
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
    /// Distinct sessions every finding needs before it becomes an op. `None`
    /// (the default) uses each category's own default (see
    /// [`Category::default_support`]: 2 for mistakes and facts, 3 for the rest); a
    /// value here overrides them all.
    pub min_support: Option<u32>,
    /// Distinct operators a preference needs to be scoped to a team or the
    /// org (default 2); with fewer it is personal (see [`crate::scope`]).
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
    /// Workflow findings (procedures and cautions) kept per dream, the best
    /// supported first (default 10; see `passes::workflows`).
    pub max_workflows: usize,
    /// How session outcomes steer the passes (see [`OutcomeWeights`]).
    pub weights: OutcomeWeights,
}

/// How session outcomes (`Snapshot::outcomes`, scores 0..1 on the primary
/// dimension, 1 best) steer a dream. The instructions file sets them in a
/// `[weights]` table with the same names.
///
/// - A session **with** an outcome is *successful* when its score is
///   ≥ `success_at`, *failed* when it is < `failure_below`, and neither in
///   between; its weight is its score. The tool-result heuristic
///   (`context::is_successful`) is not consulted for it.
/// - A session **without** an outcome is successful or not by the
///   tool-result heuristic, as before, and weighs `neutral`. It is never
///   counted as failed: the heuristic alone is too weak to call a workflow
///   harmful.
/// - Workflows (`passes::workflows`): a pattern's *success mass* is the sum
///   of the weights of the successful sessions running it, its *failure
///   mass* the sum of `1 − score` over the failed sessions running it. A
///   procedure needs success mass > failure mass; a pattern mined from
///   ≥ `min_support` failed sessions with failure mass > success mass
///   becomes a `mistake` caution.
/// - Usefulness (`passes::lifecycle`): the mean outcome of the sessions a
///   memory was present in is compared with comparable sessions without it;
///   only sessions with an outcome take part. With at least
///   `min_usefulness_sessions` on each side (and `min_support` present), a
///   difference ≥ `usefulness_margin` promotes, ≤ −`usefulness_margin`
///   demotes; anything in between proves nothing, and the outcome-free
///   rules (confirmation count, staleness) decide as before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeWeights {
    /// Weight of a session with no outcome (default 0.5).
    pub neutral: f64,
    /// Score at or above which a session is successful (default 0.7).
    pub success_at: f64,
    /// Score below which a session is failed (default 0.3).
    pub failure_below: f64,
    /// Sessions with an outcome needed on each side of a usefulness
    /// comparison (default 3).
    pub min_usefulness_sessions: u32,
    /// Difference in mean outcome that counts as clearly better or worse
    /// (default 0.2).
    pub usefulness_margin: f64,
}

impl Default for OutcomeWeights {
    fn default() -> Self {
        OutcomeWeights {
            neutral: 0.5,
            success_at: 0.7,
            failure_below: 0.3,
            min_usefulness_sessions: 3,
            usefulness_margin: 0.2,
        }
    }
}

impl OutcomeWeights {
    /// Checks ranges: `neutral`, `success_at`, `failure_below` in 0..=1,
    /// `success_at` > 0, `failure_below` ≤ `success_at`,
    /// `usefulness_margin` in (0, 1], `min_usefulness_sessions` ≥ 1.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("weights.{name} must be between 0 and 1, got {v}"))
            }
        };
        unit("neutral", self.neutral)?;
        unit("success_at", self.success_at)?;
        unit("failure_below", self.failure_below)?;
        unit("usefulness_margin", self.usefulness_margin)?;
        if self.success_at <= 0.0 {
            return Err("weights.success_at must be above 0 (every session would count as a success)".into());
        }
        if self.failure_below > self.success_at {
            return Err(format!(
                "weights.failure_below ({}) must not be above weights.success_at ({})",
                self.failure_below, self.success_at
            ));
        }
        if self.usefulness_margin <= 0.0 {
            return Err("weights.usefulness_margin must be above 0".into());
        }
        if self.min_usefulness_sessions == 0 {
            return Err("weights.min_usefulness_sessions must be at least 1".into());
        }
        Ok(())
    }

    /// Clamped score of a valid outcome, `None` for a non-finite one.
    pub fn score(score: f64) -> Option<f64> {
        score.is_finite().then(|| score.clamp(0.0, 1.0))
    }
}

impl Default for DreamConfig {
    fn default() -> Self {
        DreamConfig {
            focus: Vec::new(),
            ignore: Vec::new(),
            min_support: None,
            min_users_shared: 2,
            notes: None,
            now: "1970-01-01T00:00:00Z".into(),
            promote_min_support: 5,
            stale_days: 30,
            max_evidence: 20,
            max_workflows: 10,
            weights: OutcomeWeights::default(),
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

    /// Distinct sessions a finding of `category` needs: the configured
    /// `min_support` when one is set, else the category's default.
    pub fn support_for(&self, category: Category) -> u32 {
        self.min_support.unwrap_or_else(|| category.default_support()).max(1)
    }
}

/// What to dream over and how: the one shape of a dream request. It is what
/// an instructions file holds (TOML), what a `[[dream.schedule]]` entry and
/// the body of an HTTP dream request carry (beside their own keys), and what
/// the CLI builds from its flags. Every key is optional:
///
/// ```toml
/// sessions = 100                 # the newest N matching sessions (default 100)
/// team = "payments"              # only sessions of this team (also user, agent)
/// since = "2026-01-01"           # started at or after (also until: before)
/// focus = ["mistakes", "preferences"]
/// ignore = ["vendor/", "legacy"]
/// min_support = 4               # every kind (default: mistakes and facts 2, the rest 3)
/// max_workflows = 10            # workflow findings kept per dream (default 10)
/// notes = "Payments team; ignore the old deploy scripts."
///
/// [weights]                      # see OutcomeWeights; every key optional
/// neutral = 0.5                  # weight of a session with no outcome
/// success_at = 0.7               # score >= this: successful session
/// failure_below = 0.3            # score < this: failed session
/// min_usefulness_sessions = 3    # sessions with an outcome on each side
/// usefulness_margin = 0.2        # mean-outcome difference to promote/demote
/// ```
///
/// Dates are checked by the caller that turns them into a session filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DreamSpec {
    /// How many of the newest matching sessions to read (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Sessions started at or after this date (`YYYY-MM-DD` or RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Sessions started before this date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Kinds of findings to keep (see [`Category::parse`]); empty keeps all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub focus: Vec<String>,
    /// Drop findings that mention any of these terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Distinct sessions every finding needs; unset, each category has its
    /// default ([`Category::default_support`]: mistakes and facts 2, the rest 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_support: Option<u32>,
    /// Workflow findings kept per dream (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workflows: Option<usize>,
    /// Free-text steering notes, copied into the proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "WeightsFile::is_empty")]
    pub weights: WeightsFile,
    /// Keys this shape does not know, collected so [`DreamSpec::check`] can
    /// name them (a schedule or request body flattens its own keys around).
    #[serde(flatten, default, skip_serializing)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub unknown: BTreeMap<String, serde::de::IgnoredAny>,
}

/// The `[weights]` table of an instructions file: each key overrides the
/// [`OutcomeWeights`] field of the same name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    #[serde(default, deserialize_with = "number", skip_serializing_if = "Option::is_none")]
    pub neutral: Option<f64>,
    #[serde(default, deserialize_with = "number", skip_serializing_if = "Option::is_none")]
    pub success_at: Option<f64>,
    #[serde(default, deserialize_with = "number", skip_serializing_if = "Option::is_none")]
    pub failure_below: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_usefulness_sessions: Option<u32>,
    #[serde(default, deserialize_with = "number", skip_serializing_if = "Option::is_none")]
    pub usefulness_margin: Option<f64>,
}

/// A TOML float or integer (`neutral = 1` is as good as `neutral = 1.0`).
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        F(f64),
        I(i64),
    }
    Ok(match Num::deserialize(d).map_err(|_| serde::de::Error::custom("expected a number between 0 and 1"))? {
        Num::F(f) => Some(f),
        Num::I(i) => Some(i as f64),
    })
}

impl WeightsFile {
    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        *self == WeightsFile::default()
    }

    /// Each value set here, else the one `base` sets.
    pub fn or(&self, base: &WeightsFile) -> WeightsFile {
        WeightsFile {
            neutral: self.neutral.or(base.neutral),
            success_at: self.success_at.or(base.success_at),
            failure_below: self.failure_below.or(base.failure_below),
            min_usefulness_sessions: self.min_usefulness_sessions.or(base.min_usefulness_sessions),
            usefulness_margin: self.usefulness_margin.or(base.usefulness_margin),
        }
    }

    /// `base` with the values this table sets.
    pub fn over(&self, base: OutcomeWeights) -> OutcomeWeights {
        OutcomeWeights {
            neutral: self.neutral.unwrap_or(base.neutral),
            success_at: self.success_at.unwrap_or(base.success_at),
            failure_below: self.failure_below.unwrap_or(base.failure_below),
            min_usefulness_sessions: self.min_usefulness_sessions.unwrap_or(base.min_usefulness_sessions),
            usefulness_margin: self.usefulness_margin.unwrap_or(base.usefulness_margin),
        }
    }
}

impl DreamSpec {
    /// Parses and validates an instructions file (see [`DreamSpec::check`]).
    pub fn from_toml(text: &str) -> Result<Self, DreamError> {
        let spec: DreamSpec = toml::from_str(text).map_err(|e| DreamError::Instructions(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// Refuses unknown keys, unknown focus names, `min_support = 0`,
    /// `sessions = 0` and weights out of range (per [`OutcomeWeights::validate`],
    /// applied over the defaults).
    pub fn check(&self) -> Result<(), DreamError> {
        if let Some(key) = self.unknown.keys().next() {
            return Err(DreamError::Instructions(format!(
                "unknown field `{key}`, expected one of {}",
                Self::KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        self.weights
            .over(OutcomeWeights::default())
            .validate()
            .map_err(|message| DreamError::Field { field: "weights", message })?;
        for f in &self.focus {
            if Category::parse(f).is_none() {
                return Err(DreamError::UnknownFocus(f.clone()));
            }
        }
        if self.min_support == Some(0) {
            return Err(DreamError::Field { field: "min_support", message: "min_support must be at least 1".into() });
        }
        if self.sessions == Some(0) {
            return Err(DreamError::Field { field: "sessions", message: "sessions must be at least 1".into() });
        }
        Ok(())
    }

    /// The keys a spec accepts.
    pub const KEYS: [&'static str; 12] = [
        "sessions",
        "user",
        "agent",
        "team",
        "since",
        "until",
        "focus",
        "ignore",
        "min_support",
        "max_workflows",
        "notes",
        "weights",
    ];

    /// This spec with `base` under it: values set here win, values only
    /// `base` sets are taken from it, and the focus and ignore lists are
    /// the union (this spec's first, duplicates removed, case-insensitive).
    /// Used to put CLI flags over an instructions file.
    pub fn over(&self, base: &DreamSpec) -> DreamSpec {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        let union = |a: &[String], b: &[String]| {
            let mut out: Vec<String> = Vec::new();
            for x in a.iter().chain(b) {
                if !out.iter().any(|y| y.eq_ignore_ascii_case(x)) {
                    out.push(x.clone());
                }
            }
            out
        };
        DreamSpec {
            sessions: self.sessions.or(base.sessions),
            user: pick(&self.user, &base.user),
            agent: pick(&self.agent, &base.agent),
            team: pick(&self.team, &base.team),
            since: pick(&self.since, &base.since),
            until: pick(&self.until, &base.until),
            focus: union(&self.focus, &base.focus),
            ignore: union(&self.ignore, &base.ignore),
            min_support: self.min_support.or(base.min_support),
            max_workflows: self.max_workflows.or(base.max_workflows),
            notes: pick(&self.notes, &base.notes),
            weights: self.weights.or(&base.weights),
            unknown: BTreeMap::new(),
        }
    }

    /// The engine configuration this spec asks for, at time `now`.
    pub fn config(&self, now: &str) -> DreamConfig {
        let d = DreamConfig::default();
        DreamConfig {
            focus: self.focus.clone(),
            ignore: self.ignore.clone(),
            min_support: self.min_support,
            max_workflows: self.max_workflows.unwrap_or(d.max_workflows),
            notes: self.notes.clone(),
            now: now.to_string(),
            weights: self.weights.over(d.weights),
            ..d
        }
    }
}
