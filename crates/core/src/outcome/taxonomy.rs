//! The outcome taxonomy: its dimensions, TOML form, validation, value
//! checking and the impact of replacing it with a new version.

use super::OutcomeValue;
use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

/// Column names of the CSV bulk format; no dimension may use them.
pub const RESERVED_NAMES: [&str; 5] = ["session", "task", "source", "by", "comment"];

const MAX_NAME_LEN: usize = 64;

/// The default taxonomy as TOML. [`Taxonomy::default_taxonomy`] builds the
/// same taxonomy in code; a test checks that they agree.
pub const DEFAULT_TAXONOMY_TOML: &str = r#"# Nocturne's default outcome taxonomy.
version = 1

[[dimension]]
name = "result"
type = "categorical"
description = "How the session or task ended."
primary = true

[[dimension.label]]
name = "success"
value = 1.0
description = "The goal was reached."

[[dimension.label]]
name = "partial"
value = 0.5
description = "Part of the goal was reached."

[[dimension.label]]
name = "failure"
value = 0.0
description = "The goal was not reached."

[[dimension.label]]
name = "abandoned"
value = 0.0
description = "The session was given up before an end."

[[dimension]]
name = "failure_reason"
type = "categorical"
description = "Why the session or task did not succeed."

[[dimension.label]]
name = "wrong_tool"
value = 0.0

[[dimension.label]]
name = "bad_arguments"
value = 0.0

[[dimension.label]]
name = "misread_task"
value = 0.0

[[dimension.label]]
name = "environment"
value = 0.0

[[dimension.label]]
name = "timeout"
value = 0.0

[[dimension.label]]
name = "policy_violation"
value = 0.0

[[dimension.label]]
name = "other"
value = 0.0

[[dimension]]
name = "user_rating"
type = "numeric"
description = "The user's rating, 1 (worst) to 5 (best)."
min = 1
max = 5
direction = "higher"

[[dimension]]
name = "reviewer_note"
type = "text"
description = "A reviewer's free-text note."
"#;

/// Which end of a numeric dimension's range is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Direction {
    /// Larger values are better (a rating).
    Higher,
    /// Smaller values are better (a duration, a cost).
    Lower,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        }
    }
}

/// One label of a categorical dimension.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Label {
    /// `[a-z0-9_]+`, unique within the dimension.
    pub name: String,
    /// How good this label is; 1 is best. Values outside 0..1 are allowed
    /// and normalized (see [`OutcomeValue::score`]).
    pub value: f64,
    /// Empty when not given.
    pub description: String,
}

/// What values a dimension takes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DimensionKind {
    /// One of a fixed list of labels (at least one).
    Categorical { labels: Vec<Label> },
    /// A number in `min..=max` (`min < max`, both finite).
    Numeric { min: f64, max: f64, direction: Direction },
    /// true or false; true is better.
    Boolean,
    /// Free text; has no score and cannot be primary.
    Text,
}

impl DimensionKind {
    /// `categorical`, `numeric`, `boolean` or `text`: the TOML `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            DimensionKind::Categorical { .. } => "categorical",
            DimensionKind::Numeric { .. } => "numeric",
            DimensionKind::Boolean => "boolean",
            DimensionKind::Text => "text",
        }
    }
}

/// One dimension of the taxonomy.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dimension {
    /// `[a-z0-9_]+`, unique, not one of [`RESERVED_NAMES`].
    pub name: String,
    /// Empty when not given.
    pub description: String,
    /// Whether dreaming weighs sessions by this dimension (at most one).
    pub primary: bool,
    pub kind: DimensionKind,
}

impl Dimension {
    /// The label called `name`, for categorical dimensions.
    pub fn label(&self, name: &str) -> Option<&Label> {
        match &self.kind {
            DimensionKind::Categorical { labels } => labels.iter().find(|l| l.name == name),
            _ => None,
        }
    }

    /// The label names, in taxonomy order (empty unless categorical).
    pub fn label_names(&self) -> Vec<String> {
        match &self.kind {
            DimensionKind::Categorical { labels } => labels.iter().map(|l| l.name.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A validated outcome taxonomy with its version number.
///
/// Invariants (checked by [`Taxonomy::new`], [`Taxonomy::from_toml`] and
/// deserialization): version ≥ 1; at least one dimension; valid, unique,
/// unreserved names; categorical dimensions have at least one label with
/// unique names and finite values; numeric dimensions have finite
/// `min < max`; at most one primary dimension, and it is not text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RawTaxonomy", into = "RawTaxonomy")]
pub struct Taxonomy {
    version: u32,
    dimensions: Vec<Dimension>,
}

impl Taxonomy {
    /// Validates and builds a taxonomy. Every problem found is reported in
    /// one [`CoreError::InvalidTaxonomy`].
    pub fn new(version: u32, dimensions: Vec<Dimension>) -> Result<Taxonomy, CoreError> {
        if version == 0 {
            return Err(CoreError::InvalidVersion(version));
        }
        let problems = validate(&dimensions);
        if problems.is_empty() {
            Ok(Taxonomy { version, dimensions })
        } else {
            Err(CoreError::InvalidTaxonomy(problems))
        }
    }

    /// Parses and validates the TOML form (see `docs/outcomes.md`). A
    /// missing `version` means 1.
    pub fn from_toml(text: &str) -> Result<Taxonomy, CoreError> {
        let raw: RawTaxonomy = toml::from_str(text).map_err(|e| CoreError::Toml(e.to_string().trim().to_string()))?;
        Taxonomy::try_from(raw)
    }

    /// The TOML form; [`Taxonomy::from_toml`] reads it back to an equal
    /// taxonomy.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "version = {}", self.version);
        for d in &self.dimensions {
            out.push_str("\n[[dimension]]\n");
            let _ = writeln!(out, "name = {}", toml_string(&d.name));
            let _ = writeln!(out, "type = {}", toml_string(d.kind.type_name()));
            if !d.description.is_empty() {
                let _ = writeln!(out, "description = {}", toml_string(&d.description));
            }
            if d.primary {
                out.push_str("primary = true\n");
            }
            match &d.kind {
                DimensionKind::Categorical { labels } => {
                    for l in labels {
                        out.push_str("\n[[dimension.label]]\n");
                        let _ = writeln!(out, "name = {}", toml_string(&l.name));
                        let _ = writeln!(out, "value = {}", toml_float(l.value));
                        if !l.description.is_empty() {
                            let _ = writeln!(out, "description = {}", toml_string(&l.description));
                        }
                    }
                }
                DimensionKind::Numeric { min, max, direction } => {
                    let _ = writeln!(out, "min = {}", toml_float(*min));
                    let _ = writeln!(out, "max = {}", toml_float(*max));
                    let _ = writeln!(out, "direction = {}", toml_string(direction.as_str()));
                }
                DimensionKind::Boolean | DimensionKind::Text => {}
            }
        }
        out
    }

    /// Nocturne's default taxonomy (version 1): `result` (primary;
    /// success / partial / failure / abandoned), `failure_reason`,
    /// `user_rating` (1..5, higher is better) and `reviewer_note` (text).
    /// Same as [`DEFAULT_TAXONOMY_TOML`].
    pub fn default_taxonomy() -> Taxonomy {
        fn label(name: &str, value: f64, description: &str) -> Label {
            Label { name: name.into(), value, description: description.into() }
        }
        let reasons =
            ["wrong_tool", "bad_arguments", "misread_task", "environment", "timeout", "policy_violation", "other"];
        Taxonomy {
            version: 1,
            dimensions: vec![
                Dimension {
                    name: "result".into(),
                    description: "How the session or task ended.".into(),
                    primary: true,
                    kind: DimensionKind::Categorical {
                        labels: vec![
                            label("success", 1.0, "The goal was reached."),
                            label("partial", 0.5, "Part of the goal was reached."),
                            label("failure", 0.0, "The goal was not reached."),
                            label("abandoned", 0.0, "The session was given up before an end."),
                        ],
                    },
                },
                Dimension {
                    name: "failure_reason".into(),
                    description: "Why the session or task did not succeed.".into(),
                    primary: false,
                    kind: DimensionKind::Categorical { labels: reasons.iter().map(|r| label(r, 0.0, "")).collect() },
                },
                Dimension {
                    name: "user_rating".into(),
                    description: "The user's rating, 1 (worst) to 5 (best).".into(),
                    primary: false,
                    kind: DimensionKind::Numeric { min: 1.0, max: 5.0, direction: Direction::Higher },
                },
                Dimension {
                    name: "reviewer_note".into(),
                    description: "A reviewer's free-text note.".into(),
                    primary: false,
                    kind: DimensionKind::Text,
                },
            ],
        }
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The same taxonomy with another version number (≥ 1).
    pub fn with_version(mut self, version: u32) -> Result<Taxonomy, CoreError> {
        if version == 0 {
            return Err(CoreError::InvalidVersion(version));
        }
        self.version = version;
        Ok(self)
    }

    /// The dimensions, in definition order.
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dimensions
    }

    pub fn dimension(&self, name: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.name == name)
    }

    /// The dimension dreaming weighs by, if one is marked primary.
    pub fn primary(&self) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.primary)
    }

    /// The dimension names, in definition order.
    pub fn dimension_names(&self) -> Vec<String> {
        self.dimensions.iter().map(|d| d.name.clone()).collect()
    }

    /// Checks a raw value (from `--set DIM=VALUE`, a CSV cell, ...) against
    /// dimension `dim`:
    ///
    /// - categorical: a label name (surrounding spaces and case ignored);
    /// - numeric: a finite number within `min..=max`;
    /// - boolean: `true`/`false`, `yes`/`no`, `1`/`0` (case ignored);
    /// - text: any non-blank text, kept as given.
    ///
    /// Errors list the valid dimensions, labels or range.
    pub fn check(&self, dim: &str, raw: &str) -> Result<OutcomeValue, CoreError> {
        let dim_name = dim.trim();
        let Some(d) = self.dimension(dim_name) else {
            return Err(CoreError::UnknownDimension { name: dim_name.to_string(), valid: self.dimension_names() });
        };
        let trimmed = raw.trim();
        match &d.kind {
            DimensionKind::Categorical { labels } => {
                let wanted = trimmed.to_ascii_lowercase();
                match labels.iter().find(|l| l.name == wanted) {
                    Some(l) => Ok(OutcomeValue::Label(l.name.clone())),
                    None => Err(CoreError::UnknownLabel {
                        dimension: d.name.clone(),
                        label: trimmed.to_string(),
                        valid: d.label_names(),
                    }),
                }
            }
            DimensionKind::Numeric { min, max, .. } => {
                let not_a_number = || CoreError::NotANumber {
                    dimension: d.name.clone(),
                    raw: trimmed.to_string(),
                    min: *min,
                    max: *max,
                };
                let value: f64 = trimmed.parse().map_err(|_| not_a_number())?;
                if !value.is_finite() {
                    return Err(not_a_number());
                }
                if value < *min || value > *max {
                    return Err(CoreError::OutOfRange { dimension: d.name.clone(), value, min: *min, max: *max });
                }
                Ok(OutcomeValue::Number(value))
            }
            DimensionKind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(OutcomeValue::Bool(true)),
                "false" | "no" | "0" => Ok(OutcomeValue::Bool(false)),
                _ => Err(CoreError::NotABool { dimension: d.name.clone(), raw: trimmed.to_string() }),
            },
            DimensionKind::Text => {
                if trimmed.is_empty() {
                    Err(CoreError::EmptyOutcomeText { dimension: d.name.clone() })
                } else {
                    Ok(OutcomeValue::Text(raw.to_string()))
                }
            }
        }
    }

    /// [`Taxonomy::check`] for one `DIM=VALUE` argument; returns the
    /// dimension name with the checked value.
    pub fn check_assignment(&self, assignment: &str) -> Result<(String, OutcomeValue), CoreError> {
        let (dim, raw) = parse_assignment(assignment)?;
        let value = self.check(dim, raw)?;
        Ok((dim.to_string(), value))
    }

    /// Why replacing `self` with `new` would orphan stored outcomes, given
    /// the `(dimension, value)` of every stored outcome. One reason per
    /// problem: a dimension removed that has outcomes, a type changed for a
    /// dimension in use, a label removed that is in use, a numeric range
    /// narrowed so stored values fall outside. Empty means the change is safe.
    /// The check is against what `new` accepts, so values already orphaned
    /// under `self` are reported too.
    pub fn change_impact(&self, new: &Taxonomy, in_use: &[(String, OutcomeValue)]) -> Vec<String> {
        let mut by_dim: BTreeMap<&str, Vec<&OutcomeValue>> = BTreeMap::new();
        for (dim, value) in in_use {
            by_dim.entry(dim.as_str()).or_default().push(value);
        }
        let mut reasons = Vec::new();
        for (dim, values) in by_dim {
            let old = self.dimension(dim);
            let Some(nd) = new.dimension(dim) else {
                reasons.push(format!("dimension `{dim}` is removed but has {}", outcomes(values.len())));
                continue;
            };
            let mismatched = values.iter().filter(|v| !v.fits_kind(&nd.kind)).count();
            if mismatched > 0 {
                let from = match old {
                    Some(od) => od.kind.type_name(),
                    None => values.iter().find(|v| !v.fits_kind(&nd.kind)).map_or("?", |v| v.kind_name()),
                };
                reasons.push(format!(
                    "dimension `{dim}` changes type from {from} to {} but has {} with {from} values",
                    nd.kind.type_name(),
                    outcomes(mismatched)
                ));
                continue;
            }
            match &nd.kind {
                DimensionKind::Categorical { .. } => {
                    let mut missing: BTreeMap<&str, usize> = BTreeMap::new();
                    for v in &values {
                        if let OutcomeValue::Label(l) = v {
                            if nd.label(l).is_none() {
                                *missing.entry(l.as_str()).or_default() += 1;
                            }
                        }
                    }
                    for (label, n) in missing {
                        reasons.push(format!(
                            "label `{label}` of dimension `{dim}` is removed but is used by {}",
                            outcomes(n)
                        ));
                    }
                }
                DimensionKind::Numeric { min, max, .. } => {
                    let mut outside: Vec<f64> = values
                        .iter()
                        .filter_map(|v| match v {
                            OutcomeValue::Number(x) if *x < *min || *x > *max => Some(*x),
                            _ => None,
                        })
                        .collect();
                    let n = outside.len();
                    if n > 0 {
                        let was = match old.map(|d| &d.kind) {
                            Some(DimensionKind::Numeric { min: omin, max: omax, .. }) => {
                                format!("narrows from {omin}..{omax}")
                            }
                            _ => "changes".to_string(),
                        };
                        outside.sort_by(f64::total_cmp);
                        outside.dedup();
                        let mut examples: Vec<String> = outside.iter().take(5).map(f64::to_string).collect();
                        if outside.len() > 5 {
                            examples.push("...".to_string());
                        }
                        reasons.push(format!(
                            "range of dimension `{dim}` {was} to {min}..{max}, leaving {} outside it (values: {})",
                            outcomes(n),
                            examples.join(", ")
                        ));
                    }
                }
                DimensionKind::Boolean | DimensionKind::Text => {}
            }
        }
        reasons
    }
}

impl Default for Taxonomy {
    fn default() -> Self {
        Taxonomy::default_taxonomy()
    }
}

impl fmt::Display for Taxonomy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_toml())
    }
}

/// Splits `DIM=VALUE` at the first `=`; the dimension is trimmed and must
/// not be empty. The value is returned as given.
pub fn parse_assignment(assignment: &str) -> Result<(&str, &str), CoreError> {
    match assignment.split_once('=') {
        Some((dim, raw)) if !dim.trim().is_empty() => Ok((dim.trim(), raw)),
        _ => Err(CoreError::BadAssignment(assignment.to_string())),
    }
}

fn outcomes(n: usize) -> String {
    if n == 1 {
        "1 stored outcome".to_string()
    } else {
        format!("{n} stored outcomes")
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn validate(dimensions: &[Dimension]) -> Vec<String> {
    let mut problems = Vec::new();
    if dimensions.is_empty() {
        problems.push("the taxonomy defines no dimensions; add at least one [[dimension]]".to_string());
    }
    let mut seen = BTreeSet::new();
    let mut primaries = Vec::new();
    for (i, d) in dimensions.iter().enumerate() {
        let at = if d.name.is_empty() { format!("dimension #{}", i + 1) } else { format!("dimension `{}`", d.name) };
        if !valid_name(&d.name) {
            problems.push(format!(
                "{at}: invalid name {:?}; use 1 to {MAX_NAME_LEN} lowercase letters, digits or '_'",
                d.name
            ));
        } else if RESERVED_NAMES.contains(&d.name.as_str()) {
            problems
                .push(format!("{at}: the name is reserved (reserved: {}); choose another", RESERVED_NAMES.join(", ")));
        }
        if !d.name.is_empty() && !seen.insert(d.name.as_str()) {
            problems.push(format!("{at} is defined more than once"));
        }
        if d.primary {
            primaries.push(d.name.as_str());
            if matches!(d.kind, DimensionKind::Text) {
                problems.push(format!(
                    "{at}: a text dimension cannot be primary; use a categorical, numeric or boolean one"
                ));
            }
        }
        match &d.kind {
            DimensionKind::Categorical { labels } => {
                if labels.is_empty() {
                    problems.push(format!("{at}: a categorical dimension needs at least one [[dimension.label]]"));
                }
                let mut seen_labels = BTreeSet::new();
                for (j, l) in labels.iter().enumerate() {
                    let lat =
                        if l.name.is_empty() { format!("label #{}", j + 1) } else { format!("label `{}`", l.name) };
                    if !valid_name(&l.name) {
                        problems.push(format!(
                            "{at}, {lat}: invalid name {:?}; use 1 to {MAX_NAME_LEN} lowercase letters, digits or '_'",
                            l.name
                        ));
                    }
                    if !l.name.is_empty() && !seen_labels.insert(l.name.as_str()) {
                        problems.push(format!("{at}: {lat} is defined more than once"));
                    }
                    if !l.value.is_finite() {
                        problems.push(format!("{at}, {lat}: value must be a finite number"));
                    }
                }
            }
            DimensionKind::Numeric { min, max, .. } => {
                if !min.is_finite() || !max.is_finite() {
                    problems.push(format!("{at}: min and max must be finite numbers"));
                } else if min >= max {
                    problems.push(format!("{at}: min ({min}) must be less than max ({max})"));
                }
            }
            DimensionKind::Boolean | DimensionKind::Text => {}
        }
    }
    if primaries.len() > 1 {
        problems.push(format!(
            "at most one dimension may be primary, but {} are: {}",
            primaries.len(),
            primaries.join(", ")
        ));
    }
    problems
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML float (always with `.` or an exponent). Values are finite.
fn toml_float(x: f64) -> String {
    format!("{x:?}")
}

// ---- serde shape (TOML and JSON) -------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawTaxonomy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(default)]
    dimension: Vec<RawDimension>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawDimension {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    primary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<Vec<RawLabel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direction: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawLabel {
    name: String,
    value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl TryFrom<RawTaxonomy> for Taxonomy {
    type Error = CoreError;

    fn try_from(raw: RawTaxonomy) -> Result<Self, Self::Error> {
        let version = raw.version.unwrap_or(1);
        if version == 0 {
            return Err(CoreError::InvalidVersion(version));
        }
        let mut problems = Vec::new();
        let mut dimensions = Vec::new();
        for (i, rd) in raw.dimension.into_iter().enumerate() {
            let at =
                if rd.name.is_empty() { format!("dimension #{}", i + 1) } else { format!("dimension `{}`", rd.name) };
            let stray = |problems: &mut Vec<String>, field: &str, present: bool, only: &str| {
                if present {
                    problems.push(format!("{at}: `{field}` only applies to {only} dimensions"));
                }
            };
            let kind = match rd.kind.as_str() {
                "categorical" => {
                    stray(&mut problems, "min", rd.min.is_some(), "numeric");
                    stray(&mut problems, "max", rd.max.is_some(), "numeric");
                    stray(&mut problems, "direction", rd.direction.is_some(), "numeric");
                    let labels = rd
                        .label
                        .unwrap_or_default()
                        .into_iter()
                        .map(|l| Label { name: l.name, value: l.value, description: l.description.unwrap_or_default() })
                        .collect();
                    DimensionKind::Categorical { labels }
                }
                "numeric" => {
                    stray(&mut problems, "label", rd.label.is_some(), "categorical");
                    let direction = match rd.direction.as_deref() {
                        None | Some("higher") => Direction::Higher,
                        Some("lower") => Direction::Lower,
                        Some(other) => {
                            problems
                                .push(format!("{at}: unknown direction {other:?}; expected \"higher\" or \"lower\""));
                            Direction::Higher
                        }
                    };
                    match (rd.min, rd.max) {
                        (Some(min), Some(max)) => DimensionKind::Numeric { min, max, direction },
                        (min, max) => {
                            let missing: Vec<&str> = [("min", min.is_none()), ("max", max.is_none())]
                                .iter()
                                .filter(|m| m.1)
                                .map(|m| m.0)
                                .collect();
                            problems.push(format!("{at}: a numeric dimension needs {}", missing.join(" and ")));
                            continue;
                        }
                    }
                }
                "boolean" | "text" => {
                    stray(&mut problems, "label", rd.label.is_some(), "categorical");
                    stray(&mut problems, "min", rd.min.is_some(), "numeric");
                    stray(&mut problems, "max", rd.max.is_some(), "numeric");
                    stray(&mut problems, "direction", rd.direction.is_some(), "numeric");
                    if rd.kind == "boolean" {
                        DimensionKind::Boolean
                    } else {
                        DimensionKind::Text
                    }
                }
                other => {
                    problems.push(format!(
                        "{at}: unknown type {other:?}; expected \"categorical\", \"numeric\", \"boolean\" or \"text\""
                    ));
                    continue;
                }
            };
            dimensions.push(Dimension {
                name: rd.name,
                description: rd.description.unwrap_or_default(),
                primary: rd.primary,
                kind,
            });
        }
        if problems.is_empty() {
            Taxonomy::new(version, dimensions)
        } else {
            // Report structural problems together with rule violations of
            // the dimensions that did parse.
            let mut all = problems;
            if !dimensions.is_empty() {
                all.extend(validate(&dimensions));
            }
            Err(CoreError::InvalidTaxonomy(all))
        }
    }
}

impl From<Taxonomy> for RawTaxonomy {
    fn from(t: Taxonomy) -> Self {
        RawTaxonomy {
            version: Some(t.version),
            dimension: t
                .dimensions
                .into_iter()
                .map(|d| {
                    let (label, min, max, direction) = match d.kind {
                        DimensionKind::Categorical { ref labels } => (
                            Some(
                                labels
                                    .iter()
                                    .map(|l| RawLabel {
                                        name: l.name.clone(),
                                        value: l.value,
                                        description: non_empty(&l.description),
                                    })
                                    .collect(),
                            ),
                            None,
                            None,
                            None,
                        ),
                        DimensionKind::Numeric { min, max, direction } => {
                            (None, Some(min), Some(max), Some(direction.as_str().to_string()))
                        }
                        DimensionKind::Boolean | DimensionKind::Text => (None, None, None, None),
                    };
                    RawDimension {
                        kind: d.kind.type_name().to_string(),
                        description: non_empty(&d.description),
                        name: d.name,
                        primary: d.primary,
                        label,
                        min,
                        max,
                        direction,
                    }
                })
                .collect(),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml: &str) -> Vec<String> {
        match Taxonomy::from_toml(toml) {
            Err(CoreError::InvalidTaxonomy(p)) => p,
            other => panic!("expected InvalidTaxonomy, got {other:?}"),
        }
    }

    const ALL_TYPES: &str = r#"
version = 3

[[dimension]]
name = "verdict"
type = "categorical"
primary = true
description = "Judged by CI"

[[dimension.label]]
name = "pass"
value = 1

[[dimension.label]]
name = "flaky"
value = 0.25
description = "passed on retry"

[[dimension]]
name = "latency_s"
type = "numeric"
min = 0
max = 120.5
direction = "lower"

[[dimension]]
name = "tests_added"
type = "boolean"

[[dimension]]
name = "note"
type = "text"
"#;

    #[test]
    fn every_dimension_type_parses() {
        let t = Taxonomy::from_toml(ALL_TYPES).unwrap();
        assert_eq!(t.version(), 3);
        assert_eq!(t.dimension_names(), ["verdict", "latency_s", "tests_added", "note"]);
        let v = t.dimension("verdict").unwrap();
        assert!(v.primary);
        assert_eq!(v.description, "Judged by CI");
        assert_eq!(
            v.kind,
            DimensionKind::Categorical {
                labels: vec![
                    Label { name: "pass".into(), value: 1.0, description: String::new() },
                    Label { name: "flaky".into(), value: 0.25, description: "passed on retry".into() },
                ]
            }
        );
        assert_eq!(
            t.dimension("latency_s").unwrap().kind,
            DimensionKind::Numeric { min: 0.0, max: 120.5, direction: Direction::Lower }
        );
        assert_eq!(t.dimension("tests_added").unwrap().kind, DimensionKind::Boolean);
        assert_eq!(t.dimension("note").unwrap().kind, DimensionKind::Text);
        assert_eq!(t.primary().map(|d| d.name.as_str()), Some("verdict"));
        // Round trip through the TOML writer and through JSON.
        assert_eq!(Taxonomy::from_toml(&t.to_toml()).unwrap(), t);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Taxonomy>(&json).unwrap(), t);
    }

    #[test]
    fn version_defaults_to_one_and_direction_to_higher() {
        let t = Taxonomy::from_toml("[[dimension]]\nname = \"x\"\ntype = \"numeric\"\nmin = 1\nmax = 2\n").unwrap();
        assert_eq!(t.version(), 1);
        assert_eq!(
            t.dimension("x").unwrap().kind,
            DimensionKind::Numeric { min: 1.0, max: 2.0, direction: Direction::Higher }
        );
        assert_eq!(t.primary(), None);
        assert_eq!(
            Taxonomy::from_toml("version = 0\n[[dimension]]\nname = \"x\"\ntype = \"text\"\n"),
            Err(CoreError::InvalidVersion(0))
        );
    }

    #[test]
    fn default_taxonomy_constant_agrees_with_code_and_round_trips() {
        let from_text = Taxonomy::from_toml(DEFAULT_TAXONOMY_TOML).unwrap();
        let built = Taxonomy::default_taxonomy();
        assert_eq!(from_text, built);
        assert_eq!(Taxonomy::from_toml(&built.to_toml()).unwrap(), built);
        assert_eq!(built.primary().map(|d| d.name.as_str()), Some("result"));
        assert_eq!(
            built.dimension("failure_reason").unwrap().label_names(),
            ["wrong_tool", "bad_arguments", "misread_task", "environment", "timeout", "policy_violation", "other"]
        );
        assert_eq!(Taxonomy::default(), built);
    }

    #[test]
    fn toml_writer_escapes_strings() {
        let t = Taxonomy::new(
            2,
            vec![Dimension {
                name: "b".into(),
                description: "quote \" backslash \\ tab \t newline \n bell \u{7} del \u{7f} ünï".into(),
                primary: true,
                kind: DimensionKind::Boolean,
            }],
        )
        .unwrap();
        let text = t.to_toml();
        assert!(text.contains(r#"description = "quote \" backslash \\ tab \t newline \n bell \u0007 del \u007F ünï""#));
        assert_eq!(Taxonomy::from_toml(&text).unwrap(), t);
        let big = Taxonomy::new(
            1,
            vec![Dimension {
                name: "n".into(),
                description: String::new(),
                primary: false,
                kind: DimensionKind::Numeric { min: -1e-7, max: 1e20, direction: Direction::Lower },
            }],
        )
        .unwrap();
        assert_eq!(Taxonomy::from_toml(&big.to_toml()).unwrap(), big);
    }

    #[test]
    fn rule_violations_are_all_reported() {
        let p = problems(
            r#"
[[dimension]]
name = "Result"
type = "categorical"
primary = true

[[dimension]]
name = "dup"
type = "categorical"

[[dimension.label]]
name = "a"
value = 1

[[dimension.label]]
name = "a"
value = 0

[[dimension.label]]
name = "b-c"
value = 0

[[dimension]]
name = "dup"
type = "numeric"
min = 5
max = 5

[[dimension]]
name = "session"
type = "boolean"

[[dimension]]
name = "why"
type = "text"
primary = true
"#,
        );
        assert_eq!(
            p,
            [
                "dimension `Result`: invalid name \"Result\"; use 1 to 64 lowercase letters, digits or '_'",
                "dimension `Result`: a categorical dimension needs at least one [[dimension.label]]",
                "dimension `dup`: label `a` is defined more than once",
                "dimension `dup`, label `b-c`: invalid name \"b-c\"; use 1 to 64 lowercase letters, digits or '_'",
                "dimension `dup` is defined more than once",
                "dimension `dup`: min (5) must be less than max (5)",
                "dimension `session`: the name is reserved (reserved: session, task, source, by, comment); choose another",
                "dimension `why`: a text dimension cannot be primary; use a categorical, numeric or boolean one",
                "at most one dimension may be primary, but 2 are: Result, why",
            ]
        );
        let msg = Taxonomy::from_toml("[[dimension]]\nname = \"a\"\ntype = \"numeric\"\nmin = 3\nmax = 1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "invalid outcome taxonomy: dimension `a`: min (3) must be less than max (1)");
    }

    #[test]
    fn structural_problems_are_reported() {
        let p = problems(
            r#"
[[dimension]]
name = "a"
type = "categoric"

[[dimension]]
name = "b"
type = "numeric"
max = 3
direction = "up"

[[dimension]]
name = "c"
type = "boolean"
min = 1

[[dimension.label]]
name = "x"
value = 1

[[dimension]]
name = "d"
type = "numeric"
min = 1
max = 2

[[dimension.label]]
name = "x"
value = 1
"#,
        );
        assert_eq!(
            p,
            [
                "dimension `a`: unknown type \"categoric\"; expected \"categorical\", \"numeric\", \"boolean\" or \"text\"",
                "dimension `b`: unknown direction \"up\"; expected \"higher\" or \"lower\"",
                "dimension `b`: a numeric dimension needs min",
                "dimension `c`: `label` only applies to categorical dimensions",
                "dimension `c`: `min` only applies to numeric dimensions",
                "dimension `d`: `label` only applies to categorical dimensions",
            ]
        );
        assert_eq!(problems(""), ["the taxonomy defines no dimensions; add at least one [[dimension]]"]);
        let e = Taxonomy::from_toml("[[dimension]]\nname = \"a\"\n").unwrap_err();
        assert!(matches!(&e, CoreError::Toml(m) if m.contains("missing field `type`")), "{e}");
        let e = Taxonomy::from_toml("[[dimension]]\nname = \"a\"\ntype = \"text\"\ncolour = 1\n").unwrap_err();
        assert!(matches!(&e, CoreError::Toml(m) if m.contains("unknown field `colour`")), "{e}");
        assert!(matches!(Taxonomy::from_toml("this is = = not toml"), Err(CoreError::Toml(_))));
        // Validation also guards serde and `new`.
        assert!(serde_json::from_str::<Taxonomy>(r#"{"dimension":[]}"#).is_err());
        assert!(matches!(Taxonomy::default_taxonomy().with_version(0), Err(CoreError::InvalidVersion(0))));
        assert_eq!(Taxonomy::default_taxonomy().with_version(4).unwrap().version(), 4);
    }

    #[test]
    fn categorical_values_are_checked_with_valid_labels_listed() {
        let t = Taxonomy::default_taxonomy();
        assert_eq!(t.check("result", "success"), Ok(OutcomeValue::Label("success".into())));
        assert_eq!(t.check(" result ", " Partial "), Ok(OutcomeValue::Label("partial".into())));
        assert_eq!(
            t.check("result", "great").unwrap_err().to_string(),
            "`great` is not a label of dimension `result`; valid labels: success, partial, failure, abandoned"
        );
        assert_eq!(
            t.check("outcome", "success").unwrap_err().to_string(),
            "unknown outcome dimension `outcome`; valid dimensions: result, failure_reason, user_rating, reviewer_note"
        );
    }

    #[test]
    fn numeric_values_are_checked_against_the_range() {
        let t = Taxonomy::default_taxonomy();
        assert_eq!(t.check("user_rating", "4"), Ok(OutcomeValue::Number(4.0)));
        assert_eq!(t.check("user_rating", "1"), Ok(OutcomeValue::Number(1.0)));
        assert_eq!(t.check("user_rating", "4.5"), Ok(OutcomeValue::Number(4.5)));
        assert_eq!(
            t.check("user_rating", "6").unwrap_err().to_string(),
            "dimension `user_rating` expects a number from 1 to 5, got 6"
        );
        assert_eq!(
            t.check("user_rating", "0.5").unwrap_err().to_string(),
            "dimension `user_rating` expects a number from 1 to 5, got 0.5"
        );
        assert_eq!(
            t.check("user_rating", "four").unwrap_err().to_string(),
            "dimension `user_rating` expects a number from 1 to 5, got `four`"
        );
        assert!(matches!(t.check("user_rating", "NaN"), Err(CoreError::NotANumber { .. })));
        assert!(matches!(t.check("user_rating", "inf"), Err(CoreError::NotANumber { .. })));
    }

    #[test]
    fn boolean_and_text_values_are_checked() {
        let t = Taxonomy::from_toml(ALL_TYPES).unwrap();
        for yes in ["true", "YES", "1", " True "] {
            assert_eq!(t.check("tests_added", yes), Ok(OutcomeValue::Bool(true)), "{yes}");
        }
        for no in ["false", "no", "0", "No"] {
            assert_eq!(t.check("tests_added", no), Ok(OutcomeValue::Bool(false)), "{no}");
        }
        assert_eq!(
            t.check("tests_added", "maybe").unwrap_err().to_string(),
            "dimension `tests_added` expects true or false (or yes/no, 1/0), got `maybe`"
        );
        assert_eq!(
            t.check("note", " as typed, with = signs "),
            Ok(OutcomeValue::Text(" as typed, with = signs ".into()))
        );
        assert_eq!(t.check("note", "  ").unwrap_err().to_string(), "dimension `note` expects a non-empty text");
    }

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        let t = Taxonomy::from_toml(ALL_TYPES).unwrap();
        assert_eq!(t.check_assignment("note=a=b"), Ok(("note".to_string(), OutcomeValue::Text("a=b".into()))));
        assert_eq!(t.check_assignment("verdict=pass"), Ok(("verdict".to_string(), OutcomeValue::Label("pass".into()))));
        assert_eq!(parse_assignment("=x").unwrap_err().to_string(), "expected DIMENSION=VALUE, got `=x`");
        assert_eq!(parse_assignment("verdict"), Err(CoreError::BadAssignment("verdict".into())));
    }

    fn in_use(pairs: &[(&str, OutcomeValue)]) -> Vec<(String, OutcomeValue)> {
        pairs.iter().map(|(d, v)| (d.to_string(), v.clone())).collect()
    }

    fn edit(t: &Taxonomy, f: impl FnOnce(&mut Vec<Dimension>)) -> Taxonomy {
        let mut dims = t.dimensions().to_vec();
        f(&mut dims);
        Taxonomy::new(t.version() + 1, dims).unwrap()
    }

    #[test]
    fn removing_a_label_in_use_is_reported_and_an_unused_one_is_fine() {
        let old = Taxonomy::default_taxonomy();
        let drop_label = |name: &'static str| {
            edit(&old, |dims| {
                if let Some(DimensionKind::Categorical { labels }) = dims.get_mut(0).map(|d| &mut d.kind) {
                    labels.retain(|l| l.name != name);
                }
            })
        };
        let used = in_use(&[
            ("result", OutcomeValue::Label("abandoned".into())),
            ("result", OutcomeValue::Label("success".into())),
            ("result", OutcomeValue::Label("abandoned".into())),
        ]);
        assert_eq!(
            old.change_impact(&drop_label("abandoned"), &used),
            ["label `abandoned` of dimension `result` is removed but is used by 2 stored outcomes"]
        );
        assert_eq!(old.change_impact(&drop_label("partial"), &used), Vec::<String>::new());
        // Adding a label or a dimension is always safe.
        let grown = edit(&old, |dims| {
            dims.push(Dimension {
                name: "tests_pass".into(),
                description: String::new(),
                primary: false,
                kind: DimensionKind::Boolean,
            })
        });
        assert!(old.change_impact(&grown, &used).is_empty());
    }

    #[test]
    fn removing_a_dimension_or_changing_its_type_is_reported_when_in_use() {
        let old = Taxonomy::default_taxonomy();
        let used =
            in_use(&[("reviewer_note", OutcomeValue::Text("ok".into())), ("user_rating", OutcomeValue::Number(3.0))]);
        let without_note = edit(&old, |dims| dims.retain(|d| d.name != "reviewer_note"));
        assert_eq!(
            old.change_impact(&without_note, &used),
            ["dimension `reviewer_note` is removed but has 1 stored outcome"]
        );
        let without_reason = edit(&old, |dims| dims.retain(|d| d.name != "failure_reason"));
        assert!(old.change_impact(&without_reason, &used).is_empty());
        let rating_bool = edit(&old, |dims| {
            if let Some(d) = dims.iter_mut().find(|d| d.name == "user_rating") {
                d.kind = DimensionKind::Boolean;
            }
        });
        assert_eq!(
            old.change_impact(&rating_bool, &used),
            ["dimension `user_rating` changes type from numeric to boolean but has 1 stored outcome with numeric values"]
        );
    }

    #[test]
    fn narrowing_a_range_is_reported_only_when_values_fall_outside() {
        let old = Taxonomy::default_taxonomy();
        let range = |min: f64, max: f64| {
            edit(&old, |dims| {
                if let Some(d) = dims.iter_mut().find(|d| d.name == "user_rating") {
                    d.kind = DimensionKind::Numeric { min, max, direction: Direction::Higher };
                }
            })
        };
        let used = in_use(&[
            ("user_rating", OutcomeValue::Number(2.0)),
            ("user_rating", OutcomeValue::Number(4.5)),
            ("user_rating", OutcomeValue::Number(5.0)),
            ("user_rating", OutcomeValue::Number(5.0)),
        ]);
        assert_eq!(
            old.change_impact(&range(1.0, 4.0), &used),
            ["range of dimension `user_rating` narrows from 1..5 to 1..4, leaving 3 stored outcomes outside it \
                 (values: 4.5, 5)"]
        );
        assert!(old.change_impact(&range(2.0, 5.0), &used).is_empty());
        // Examples are sorted numerically, de-duplicated and capped at five.
        let many = in_use(&[10.0, 9.0, 8.0, 7.0, 6.0, 6.0, 12.0].map(|x| ("user_rating", OutcomeValue::Number(x))));
        assert_eq!(
            range(1.0, 5.0).change_impact(&range(1.0, 4.0), &many),
            ["range of dimension `user_rating` narrows from 1..5 to 1..4, leaving 7 stored outcomes outside it \
              (values: 6, 7, 8, 9, 10, ...)"]
        );
        assert!(old.change_impact(&range(0.0, 10.0), &used).is_empty());
    }
}
