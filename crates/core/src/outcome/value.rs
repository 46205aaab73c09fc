//! A checked outcome value and its normalized score.

use super::{Dimension, DimensionKind, Direction};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One outcome value, already checked against its dimension.
///
/// Serialized as `{"kind": "label" | "number" | "bool" | "text", "value": ...}`
/// where `value` is a JSON string, number or boolean; [`super::Outcome`]
/// flattens these two fields into the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OutcomeValue {
    /// A label of a categorical dimension.
    Label(String),
    /// A value of a numeric dimension.
    Number(f64),
    /// A value of a boolean dimension.
    Bool(bool),
    /// A value of a text dimension.
    Text(String),
}

impl OutcomeValue {
    /// `label`, `number`, `bool` or `text`: the serialized `kind`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            OutcomeValue::Label(_) => "label",
            OutcomeValue::Number(_) => "number",
            OutcomeValue::Bool(_) => "bool",
            OutcomeValue::Text(_) => "text",
        }
    }

    /// Whether this value has the shape a dimension of `kind` takes (labels
    /// and ranges are not checked).
    pub fn fits_kind(&self, kind: &DimensionKind) -> bool {
        matches!(
            (self, kind),
            (OutcomeValue::Label(_), DimensionKind::Categorical { .. })
                | (OutcomeValue::Number(_), DimensionKind::Numeric { .. })
                | (OutcomeValue::Bool(_), DimensionKind::Boolean)
                | (OutcomeValue::Text(_), DimensionKind::Text)
        )
    }

    /// How good this value is on `dim`, from 0 (worst) to 1 (best):
    ///
    /// - categorical: the label's value, normalized as `(v - lo) / (hi - lo)`
    ///   with `lo = min(0, smallest label value)` and `hi = max(1, largest
    ///   label value)`, so values already in 0..1 are kept as they are;
    /// - numeric: `(v - min) / (max - min)`, or `1 -` that when lower is
    ///   better; clamped to 0..1;
    /// - boolean: 1 for true, 0 for false;
    /// - text: `None`.
    ///
    /// `None` also when the value does not fit the dimension (wrong kind,
    /// unknown label).
    pub fn score(&self, dim: &Dimension) -> Option<f64> {
        match (self, &dim.kind) {
            (OutcomeValue::Label(name), DimensionKind::Categorical { labels }) => {
                let label = labels.iter().find(|l| &l.name == name)?;
                let lo = labels.iter().map(|l| l.value).fold(0.0_f64, f64::min);
                let hi = labels.iter().map(|l| l.value).fold(1.0_f64, f64::max);
                Some(((label.value - lo) / (hi - lo)).clamp(0.0, 1.0))
            }
            (OutcomeValue::Number(v), DimensionKind::Numeric { min, max, direction }) => {
                if max <= min {
                    return None;
                }
                let up = ((v - min) / (max - min)).clamp(0.0, 1.0);
                Some(match direction {
                    Direction::Higher => up,
                    Direction::Lower => 1.0 - up,
                })
            }
            (OutcomeValue::Bool(b), DimensionKind::Boolean) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// The value as JSON: a string, number or boolean.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            OutcomeValue::Label(s) | OutcomeValue::Text(s) => serde_json::Value::String(s.clone()),
            OutcomeValue::Number(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into),
            OutcomeValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// The value as a user would type it: `success`, `4`, `true`, the text.
impl fmt::Display for OutcomeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeValue::Label(s) | OutcomeValue::Text(s) => f.write_str(s),
            OutcomeValue::Number(x) => write!(f, "{x}"),
            OutcomeValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Label, Taxonomy};

    fn dim(kind: DimensionKind) -> Dimension {
        Dimension { name: "d".into(), description: String::new(), primary: false, kind }
    }

    fn labels(values: &[(&str, f64)]) -> DimensionKind {
        DimensionKind::Categorical {
            labels: values
                .iter()
                .map(|(n, v)| Label { name: n.to_string(), value: *v, description: String::new() })
                .collect(),
        }
    }

    #[test]
    fn categorical_scores_use_label_values_normalized_only_when_outside_0_1() {
        let t = Taxonomy::default_taxonomy();
        let result = t.dimension("result").unwrap();
        assert_eq!(OutcomeValue::Label("success".into()).score(result), Some(1.0));
        assert_eq!(OutcomeValue::Label("partial".into()).score(result), Some(0.5));
        assert_eq!(OutcomeValue::Label("abandoned".into()).score(result), Some(0.0));
        assert_eq!(OutcomeValue::Label("nope".into()).score(result), None);
        let stars = dim(labels(&[("one", 1.0), ("three", 3.0), ("four", 4.0)]));
        assert_eq!(OutcomeValue::Label("four".into()).score(&stars), Some(1.0));
        assert_eq!(OutcomeValue::Label("one".into()).score(&stars), Some(0.25));
        let signed = dim(labels(&[("bad", -1.0), ("ok", 0.0), ("good", 1.0)]));
        assert_eq!(OutcomeValue::Label("bad".into()).score(&signed), Some(0.0));
        assert_eq!(OutcomeValue::Label("ok".into()).score(&signed), Some(0.5));
    }

    #[test]
    fn numeric_boolean_and_text_scores() {
        let higher = dim(DimensionKind::Numeric { min: 1.0, max: 5.0, direction: Direction::Higher });
        let lower = dim(DimensionKind::Numeric { min: 0.0, max: 200.0, direction: Direction::Lower });
        assert_eq!(OutcomeValue::Number(4.0).score(&higher), Some(0.75));
        assert_eq!(OutcomeValue::Number(1.0).score(&higher), Some(0.0));
        assert_eq!(OutcomeValue::Number(50.0).score(&lower), Some(0.75));
        assert_eq!(OutcomeValue::Number(500.0).score(&lower), Some(0.0), "clamped");
        let b = dim(DimensionKind::Boolean);
        assert_eq!(OutcomeValue::Bool(true).score(&b), Some(1.0));
        assert_eq!(OutcomeValue::Bool(false).score(&b), Some(0.0));
        assert_eq!(OutcomeValue::Text("x".into()).score(&dim(DimensionKind::Text)), None);
        // A value of the wrong kind has no score.
        assert_eq!(OutcomeValue::Bool(true).score(&higher), None);
        assert_eq!(OutcomeValue::Number(1.0).score(&b), None);
    }

    #[test]
    fn values_serialize_with_kind_and_natural_value() {
        let cases = [
            (OutcomeValue::Label("success".into()), r#"{"kind":"label","value":"success"}"#),
            (OutcomeValue::Number(4.5), r#"{"kind":"number","value":4.5}"#),
            (OutcomeValue::Bool(false), r#"{"kind":"bool","value":false}"#),
            (OutcomeValue::Text("a \"b\"".into()), r#"{"kind":"text","value":"a \"b\""}"#),
        ];
        for (v, json) in cases {
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<OutcomeValue>(json).unwrap(), v);
        }
        assert_eq!(OutcomeValue::Number(4.0).to_string(), "4");
        assert_eq!(OutcomeValue::Bool(true).to_json(), serde_json::json!(true));
    }
}
