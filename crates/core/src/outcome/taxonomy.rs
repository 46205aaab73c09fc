//! The outcome taxonomy: its dimensions, TOML form, validation, value
//! checking and the impact of replacing it with a new version.

use super::{OutcomeError, OutcomeValue};
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
#[serde(try_from = "RawTaxonomy", into = "RawTaxonomy")]
pub struct Taxonomy {
    version: u32,
    dimensions: Vec<Dimension>,
}

impl Taxonomy {
    /// Validates and builds a taxonomy. Every problem found is reported in
    /// one [`OutcomeError::InvalidTaxonomy`].
    pub fn new(version: u32, dimensions: Vec<Dimension>) -> Result<Taxonomy, OutcomeError> {
        if version == 0 {
            return Err(OutcomeError::InvalidVersion(version));
        }
        let problems = validate(&dimensions);
        if problems.is_empty() {
            Ok(Taxonomy { version, dimensions })
        } else {
            Err(OutcomeError::InvalidTaxonomy(problems))
        }
    }

    /// Parses and validates the TOML form (see `docs/outcomes.md`). A
    /// missing `version` means 1.
    pub fn from_toml(text: &str) -> Result<Taxonomy, OutcomeError> {
        let raw: RawTaxonomy = toml::from_str(text).map_err(|e| OutcomeError::Toml(e.to_string().trim().to_string()))?;
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
        let reasons = ["wrong_tool", "bad_arguments", "misread_task", "environment", "timeout", "policy_violation", "other"];
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
    pub fn with_version(mut self, version: u32) -> Result<Taxonomy, OutcomeError> {
        if version == 0 {
            return Err(OutcomeError::InvalidVersion(version));
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
    pub fn check(&self, dim: &str, raw: &str) -> Result<OutcomeValue, OutcomeError> {
        let dim_name = dim.trim();
        let Some(d) = self.dimension(dim_name) else {
            return Err(OutcomeError::UnknownDimension { name: dim_name.to_string(), valid: self.dimension_names() });
        };
        let trimmed = raw.trim();
        match &d.kind {
            DimensionKind::Categorical { labels } => {
                let wanted = trimmed.to_ascii_lowercase();
                match labels.iter().find(|l| l.name == wanted) {
                    Some(l) => Ok(OutcomeValue::Label(l.name.clone())),
                    None => Err(OutcomeError::UnknownLabel {
                        dimension: d.name.clone(),
                        label: trimmed.to_string(),
                        valid: d.label_names(),
                    }),
                }
            }
            DimensionKind::Numeric { min, max, .. } => {
                let not_a_number =
                    || OutcomeError::NotANumber { dimension: d.name.clone(), raw: trimmed.to_string(), min: *min, max: *max };
                let value: f64 = trimmed.parse().map_err(|_| not_a_number())?;
                if !value.is_finite() {
                    return Err(not_a_number());
                }
                if value < *min || value > *max {
                    return Err(OutcomeError::OutOfRange { dimension: d.name.clone(), value, min: *min, max: *max });
                }
                Ok(OutcomeValue::Number(value))
            }
            DimensionKind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(OutcomeValue::Bool(true)),
                "false" | "no" | "0" => Ok(OutcomeValue::Bool(false)),
                _ => Err(OutcomeError::NotABool { dimension: d.name.clone(), raw: trimmed.to_string() }),
            },
            DimensionKind::Text => {
                if trimmed.is_empty() {
                    Err(OutcomeError::EmptyText { dimension: d.name.clone() })
                } else {
                    Ok(OutcomeValue::Text(raw.to_string()))
                }
            }
        }
    }

    /// [`Taxonomy::check`] for one `DIM=VALUE` argument; returns the
    /// dimension name with the checked value.
    pub fn check_assignment(&self, assignment: &str) -> Result<(String, OutcomeValue), OutcomeError> {
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
                reasons.push(format!("dimension `{dim}` is removed but {} use it", outcomes(values.len())));
                continue;
            };
            let mismatched = values.iter().filter(|v| !v.fits_kind(&nd.kind)).count();
            if mismatched > 0 {
                let from = match old {
                    Some(od) => od.kind.type_name(),
                    None => values.iter().find(|v| !v.fits_kind(&nd.kind)).map_or("?", |v| v.kind_name()),
                };
                reasons.push(format!(
                    "dimension `{dim}` changes type from {from} to {} but {} hold {from} values",
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
                            "label `{label}` of dimension `{dim}` is removed but {} use it",
                            outcomes(n)
                        ));
                    }
                }
                DimensionKind::Numeric { min, max, .. } => {
                    let outside: BTreeSet<String> = values
                        .iter()
                        .filter_map(|v| match v {
                            OutcomeValue::Number(x) if *x < *min || *x > *max => Some(x.to_string()),
                            _ => None,
                        })
                        .collect();
                    let n = values
                        .iter()
                        .filter(|v| matches!(v, OutcomeValue::Number(x) if *x < *min || *x > *max))
                        .count();
                    if n > 0 {
                        let was = match old.map(|d| &d.kind) {
                            Some(DimensionKind::Numeric { min: omin, max: omax, .. }) => {
                                format!(" narrows from {omin}..{omax}")
                            }
                            _ => String::new(),
                        };
                        let examples: Vec<String> = outside.into_iter().take(5).collect();
                        reasons.push(format!(
                            "range of dimension `{dim}`{was} to {min}..{max} but {} fall outside (values: {})",
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
pub fn parse_assignment(assignment: &str) -> Result<(&str, &str), OutcomeError> {
    match assignment.split_once('=') {
        Some((dim, raw)) if !dim.trim().is_empty() => Ok((dim.trim(), raw)),
        _ => Err(OutcomeError::BadAssignment(assignment.to_string())),
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
    !s.is_empty() && s.len() <= MAX_NAME_LEN && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
            problems.push(format!(
                "{at}: the name is reserved (reserved: {}); choose another",
                RESERVED_NAMES.join(", ")
            ));
        }
        if !d.name.is_empty() && !seen.insert(d.name.as_str()) {
            problems.push(format!("{at} is defined more than once"));
        }
        if d.primary {
            primaries.push(d.name.as_str());
            if matches!(d.kind, DimensionKind::Text) {
                problems.push(format!("{at}: a text dimension cannot be primary; use a categorical, numeric or boolean one"));
            }
        }
        match &d.kind {
            DimensionKind::Categorical { labels } => {
                if labels.is_empty() {
                    problems.push(format!("{at}: a categorical dimension needs at least one [[dimension.label]]"));
                }
                let mut seen_labels = BTreeSet::new();
                for (j, l) in labels.iter().enumerate() {
                    let lat = if l.name.is_empty() { format!("label #{}", j + 1) } else { format!("label `{}`", l.name) };
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
#[serde(deny_unknown_fields)]
struct RawTaxonomy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(default)]
    dimension: Vec<RawDimension>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
struct RawLabel {
    name: String,
    value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl TryFrom<RawTaxonomy> for Taxonomy {
    type Error = OutcomeError;

    fn try_from(raw: RawTaxonomy) -> Result<Self, Self::Error> {
        let version = raw.version.unwrap_or(1);
        if version == 0 {
            return Err(OutcomeError::InvalidVersion(version));
        }
        let mut problems = Vec::new();
        let mut dimensions = Vec::new();
        for (i, rd) in raw.dimension.into_iter().enumerate() {
            let at = if rd.name.is_empty() { format!("dimension #{}", i + 1) } else { format!("dimension `{}`", rd.name) };
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
                            problems.push(format!("{at}: unknown direction {other:?}; expected \"higher\" or \"lower\""));
                            Direction::Higher
                        }
                    };
                    match (rd.min, rd.max) {
                        (Some(min), Some(max)) => DimensionKind::Numeric { min, max, direction },
                        (min, max) => {
                            let missing: Vec<&str> =
                                [("min", min.is_none()), ("max", max.is_none())].iter().filter(|m| m.1).map(|m| m.0).collect();
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
            Err(OutcomeError::InvalidTaxonomy(all))
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
