//! Outcomes: how each agent session (or a task inside it) ended, recorded
//! against a user-defined taxonomy of dimensions.
//!
//! Pure logic only: taxonomy parsing and validation ([`Taxonomy`]), value
//! checking for `--set DIM=VALUE` ([`Taxonomy::check`]), taxonomy versioning
//! ([`Taxonomy::change_impact`]), outcome records and supersession
//! ([`Outcome`], [`effective`]), all-or-nothing bulk import parsing
//! ([`parse_bulk`]), statistics ([`stats`]) and the OpenTelemetry
//! `gen_ai.evaluation.result` mapping ([`to_otel_event`]).
//!
//! Nothing here does IO or reads the clock; timestamps are RFC 3339 strings
//! passed in by the caller. See `docs/outcomes.md` for the file formats.

mod bulk;
mod otel;
mod record;
mod stats;
mod taxonomy;
mod value;

pub use bulk::{detect_format, parse_bulk, BulkError, BulkFormat};
pub use otel::{to_otel_event, OTEL_EVENT_NAME};
pub use record::{effective, Outcome, OutcomeInput, OutcomeSource};
pub use stats::{stats, DimensionStats, GroupStats, LabelStats, StatsDetail};
pub use taxonomy::{
    parse_assignment, Dimension, DimensionKind, Direction, Label, Taxonomy, DEFAULT_TAXONOMY_TOML, RESERVED_NAMES,
};
pub use value::OutcomeValue;

/// What can go wrong when defining a taxonomy or checking outcome values.
/// Every message is meant to be shown to the user as is.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum OutcomeError {
    /// The taxonomy text is not TOML, or not shaped like a taxonomy.
    #[error("outcome taxonomy is not valid: {0}")]
    Toml(String),
    /// The taxonomy parsed but breaks one or more rules; every problem is listed.
    #[error("invalid outcome taxonomy: {}", .0.join("; "))]
    InvalidTaxonomy(Vec<String>),
    /// A dimension name that the taxonomy does not define.
    #[error("unknown outcome dimension `{name}`; valid dimensions: {}", .valid.join(", "))]
    UnknownDimension { name: String, valid: Vec<String> },
    /// A label that the categorical dimension does not define.
    #[error("`{label}` is not a label of dimension `{dimension}`; valid labels: {}", .valid.join(", "))]
    UnknownLabel { dimension: String, label: String, valid: Vec<String> },
    /// A numeric dimension got something that is not a finite number.
    #[error("dimension `{dimension}` expects a number from {min} to {max}, got `{raw}`")]
    NotANumber { dimension: String, raw: String, min: f64, max: f64 },
    /// A numeric dimension got a number outside its range.
    #[error("dimension `{dimension}` expects a number from {min} to {max}, got {value}")]
    OutOfRange { dimension: String, value: f64, min: f64, max: f64 },
    /// A boolean dimension got something other than true/false/yes/no/1/0.
    #[error("dimension `{dimension}` expects true or false (or yes/no, 1/0), got `{raw}`")]
    NotABool { dimension: String, raw: String },
    /// A text dimension got an empty (or all-whitespace) value.
    #[error("dimension `{dimension}` expects a non-empty text")]
    EmptyText { dimension: String },
    /// A `--set` argument without `=` or with an empty dimension name.
    #[error("expected DIMENSION=VALUE, got `{0}`")]
    BadAssignment(String),
    /// An outcome source other than `human`, `model` or `code`.
    #[error("invalid outcome source `{0}`; expected human, model or code")]
    InvalidSource(String),
    /// A timestamp that is not RFC 3339.
    #[error("invalid timestamp `{0}`; expected RFC 3339, e.g. 2025-09-14T08:30:00Z")]
    InvalidTimestamp(String),
    /// A taxonomy version of 0 (versions start at 1).
    #[error("invalid taxonomy version {0}; versions start at 1")]
    InvalidVersion(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fenced blocks of `docs/outcomes.md` with the given info string.
    fn doc_blocks(lang: &str) -> Vec<String> {
        let doc = include_str!("../../../docs/outcomes.md");
        let open = format!("```{lang}\n");
        doc.split(open.as_str()).skip(1).filter_map(|rest| rest.split_once("```").map(|(b, _)| b.to_string())).collect()
    }

    #[test]
    fn documented_examples_are_valid() {
        let tomls = doc_blocks("toml");
        assert_eq!(tomls.len(), 1);
        let t = Taxonomy::from_toml(&tomls[0]).unwrap();
        assert_eq!(t.dimension_names(), ["result", "user_rating", "tests_pass", "reviewer_note"]);

        let default = Taxonomy::default_taxonomy();
        let jsonl = doc_blocks("jsonl");
        assert_eq!(jsonl.len(), 1);
        let inputs = parse_bulk("x", jsonl[0].as_bytes(), &default).unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[1].task.as_deref(), Some("deploy"));

        let csv = doc_blocks("csv");
        assert_eq!(csv.len(), 1);
        let inputs = parse_bulk("x.csv", csv[0].as_bytes(), &default).unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[1].comment.as_deref(), Some("runner said \"timeout\"\nafter 10 minutes"));
        assert_eq!(inputs[1].source, Some(OutcomeSource::Code));
        assert_eq!(
            inputs[1].values,
            [
                ("result".to_string(), OutcomeValue::Label("failure".into())),
                ("failure_reason".to_string(), OutcomeValue::Label("timeout".into()))
            ]
        );
    }
}
