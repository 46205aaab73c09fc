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
