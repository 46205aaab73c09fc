//! Mapping outcomes to the OpenTelemetry GenAI `gen_ai.evaluation.result`
//! event.

use super::{Outcome, OutcomeValue, Taxonomy};
use serde_json::{json, Map, Value};

/// The OpenTelemetry GenAI semantic-conventions event name.
pub const OTEL_EVENT_NAME: &str = "gen_ai.evaluation.result";

/// The outcome as a `gen_ai.evaluation.result` event:
/// `{"name": "gen_ai.evaluation.result", "timestamp": recorded_at, "attributes": {...}}`.
///
/// | attribute                        | from                                                        |
/// |----------------------------------|-------------------------------------------------------------|
/// | `gen_ai.evaluation.name`         | dimension                                                   |
/// | `gen_ai.evaluation.score.value`  | normalized score 0..1 (categorical, numeric, boolean)       |
/// | `gen_ai.evaluation.score.label`  | label, `"true"`/`"false"`, or the text                      |
/// | `gen_ai.evaluation.explanation`  | comment                                                     |
/// | `gen_ai.conversation.id`         | session                                                     |
/// | `nocturne.task.id`               | task                                                        |
/// | `nocturne.outcome.id`            | id (when assigned, i.e. not 0)                              |
/// | `nocturne.outcome.value`         | the raw value (string, number or boolean)                   |
/// | `nocturne.outcome.source`        | `human`, `model` or `code`                                  |
/// | `nocturne.outcome.by`            | by                                                          |
/// | `nocturne.outcome.primary`       | whether the dimension is the taxonomy's primary one         |
/// | `nocturne.taxonomy.version`      | taxonomy version the value was checked against              |
///
/// Absent optional fields are left out. The score is left out when the
/// dimension is not in `taxonomy` or the value does not fit it.
pub fn to_otel_event(o: &Outcome, taxonomy: &Taxonomy) -> Value {
    let dim = taxonomy.dimension(&o.dimension);
    let mut a = Map::new();
    a.insert("gen_ai.evaluation.name".into(), Value::String(o.dimension.clone()));
    if let Some(score) = dim.and_then(|d| o.value.score(d)) {
        a.insert("gen_ai.evaluation.score.value".into(), json!(score));
    }
    match &o.value {
        OutcomeValue::Label(s) | OutcomeValue::Text(s) => {
            a.insert("gen_ai.evaluation.score.label".into(), Value::String(s.clone()));
        }
        OutcomeValue::Bool(b) => {
            a.insert("gen_ai.evaluation.score.label".into(), Value::String(b.to_string()));
        }
        OutcomeValue::Number(_) => {}
    }
    if let Some(c) = &o.comment {
        a.insert("gen_ai.evaluation.explanation".into(), Value::String(c.clone()));
    }
    a.insert("gen_ai.conversation.id".into(), Value::String(o.session.clone()));
    if let Some(t) = &o.task {
        a.insert("nocturne.task.id".into(), Value::String(t.clone()));
    }
    if o.id != 0 {
        a.insert("nocturne.outcome.id".into(), json!(o.id));
    }
    a.insert("nocturne.outcome.value".into(), o.value.to_json());
    a.insert("nocturne.outcome.source".into(), Value::String(o.source.as_str().into()));
    if let Some(by) = &o.by {
        a.insert("nocturne.outcome.by".into(), Value::String(by.clone()));
    }
    if let Some(d) = dim {
        a.insert("nocturne.outcome.primary".into(), Value::Bool(d.primary));
    }
    a.insert("nocturne.taxonomy.version".into(), json!(o.taxonomy_version));
    json!({
        "name": OTEL_EVENT_NAME,
        "timestamp": o.recorded_at,
        "attributes": Value::Object(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::OutcomeSource;

    fn outcome(dim: &str, value: OutcomeValue) -> Outcome {
        Outcome {
            id: 0,
            session: "s1".into(),
            task: None,
            dimension: dim.into(),
            value,
            taxonomy_version: 2,
            source: OutcomeSource::Model,
            by: None,
            comment: None,
            recorded_at: "2025-09-14T08:30:00Z".into(),
        }
    }

    #[test]
    fn categorical_outcome_maps_to_a_full_evaluation_event() {
        let t = Taxonomy::default_taxonomy();
        let mut o = outcome("result", OutcomeValue::Label("partial".into()));
        o.id = 42;
        o.task = Some("t7".into());
        o.by = Some("judge-v1".into());
        o.comment = Some("tests pass, docs missing".into());
        assert_eq!(
            to_otel_event(&o, &t),
            json!({
                "name": "gen_ai.evaluation.result",
                "timestamp": "2025-09-14T08:30:00Z",
                "attributes": {
                    "gen_ai.evaluation.name": "result",
                    "gen_ai.evaluation.score.value": 0.5,
                    "gen_ai.evaluation.score.label": "partial",
                    "gen_ai.evaluation.explanation": "tests pass, docs missing",
                    "gen_ai.conversation.id": "s1",
                    "nocturne.task.id": "t7",
                    "nocturne.outcome.id": 42,
                    "nocturne.outcome.value": "partial",
                    "nocturne.outcome.source": "model",
                    "nocturne.outcome.by": "judge-v1",
                    "nocturne.outcome.primary": true,
                    "nocturne.taxonomy.version": 2
                }
            })
        );
    }

    #[test]
    fn numeric_boolean_text_and_unknown_outcomes_map_sensibly() {
        let t = Taxonomy::from_toml(&format!(
            "{}\n[[dimension]]\nname = \"tests_pass\"\ntype = \"boolean\"\n",
            crate::outcome::DEFAULT_TAXONOMY_TOML
        ))
        .unwrap();
        let attrs = |o: &Outcome| to_otel_event(o, &t)["attributes"].clone();

        let rating = attrs(&outcome("user_rating", OutcomeValue::Number(4.0)));
        assert_eq!(rating["gen_ai.evaluation.score.value"], json!(0.75));
        assert_eq!(rating["nocturne.outcome.value"], json!(4.0));
        assert!(rating.get("gen_ai.evaluation.score.label").is_none());
        assert!(rating.get("nocturne.outcome.id").is_none(), "id 0 is not assigned yet");
        assert!(rating.get("gen_ai.evaluation.explanation").is_none());
        assert_eq!(rating["nocturne.outcome.primary"], json!(false));

        let pass = attrs(&outcome("tests_pass", OutcomeValue::Bool(false)));
        assert_eq!(pass["gen_ai.evaluation.score.value"], json!(0.0));
        assert_eq!(pass["gen_ai.evaluation.score.label"], json!("false"));

        let note = attrs(&outcome("reviewer_note", OutcomeValue::Text("good recovery".into())));
        assert!(note.get("gen_ai.evaluation.score.value").is_none());
        assert_eq!(note["gen_ai.evaluation.score.label"], json!("good recovery"));

        let orphan = attrs(&outcome("mood", OutcomeValue::Label("ok".into())));
        assert_eq!(orphan["gen_ai.evaluation.name"], json!("mood"));
        assert!(orphan.get("gen_ai.evaluation.score.value").is_none());
        assert!(orphan.get("nocturne.outcome.primary").is_none());
        assert_eq!(orphan["gen_ai.evaluation.score.label"], json!("ok"));
    }
}
