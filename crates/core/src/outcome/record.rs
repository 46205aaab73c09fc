//! Outcome records, their inputs, and supersession.

use super::OutcomeValue;
use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Who judged the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// A person (the user, a reviewer).
    Human,
    /// A model acting as judge.
    Model,
    /// A program: a test suite, a CI check, a script.
    Code,
}

impl OutcomeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeSource::Human => "human",
            OutcomeSource::Model => "model",
            OutcomeSource::Code => "code",
        }
    }
}

impl FromStr for OutcomeSource {
    type Err = CoreError;

    /// `human`, `model` or `code`; surrounding spaces and case are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(OutcomeSource::Human),
            "model" => Ok(OutcomeSource::Model),
            "code" => Ok(OutcomeSource::Code),
            _ => Err(CoreError::InvalidSource(s.to_string())),
        }
    }
}

impl fmt::Display for OutcomeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded outcome: the value of one dimension for one session (or
/// one task of it). Records are never edited; a newer record for the same
/// session, task and dimension supersedes older ones (see [`effective`]).
///
/// JSON form: the value is flattened into `kind` and `value`, e.g.
/// `{"id":7,"session":"s1","task":null,"dimension":"user_rating","kind":"number","value":4.0,
/// "taxonomy_version":1,"source":"human","by":"ana","comment":null,"recorded_at":"2025-09-14T08:30:00Z"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    /// Assigned by the store; 0 before that.
    #[serde(default)]
    pub id: u64,
    pub session: String,
    #[serde(default)]
    pub task: Option<String>,
    pub dimension: String,
    #[serde(flatten)]
    pub value: OutcomeValue,
    /// The taxonomy version the value was checked against.
    pub taxonomy_version: u32,
    pub source: OutcomeSource,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// RFC 3339.
    pub recorded_at: String,
}

impl Outcome {
    /// The supersession key: `(session, task, dimension)`.
    pub fn key(&self) -> (&str, Option<&str>, &str) {
        (self.session.as_str(), self.task.as_deref(), self.dimension.as_str())
    }
}

/// Checked outcome values for one session (or task), before they are
/// stored: what one `nocturne outcome set` call or one bulk-import line or
/// row produces.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeInput {
    /// Line of the bulk file the input came from (1-based; 0 when it did
    /// not come from a file).
    pub line: usize,
    pub session: String,
    pub task: Option<String>,
    /// `(dimension, value)` pairs, each checked against the taxonomy, at
    /// most one per dimension.
    pub values: Vec<(String, OutcomeValue)>,
    /// `None` when not given; the caller picks the default.
    pub source: Option<OutcomeSource>,
    pub by: Option<String>,
    pub comment: Option<String>,
}

impl OutcomeInput {
    /// One [`Outcome`] per value, with id 0, all recorded at `recorded_at`
    /// (RFC 3339) against taxonomy `taxonomy_version`. `default_source` is
    /// used when the input names no source.
    pub fn into_outcomes(
        self,
        taxonomy_version: u32,
        default_source: OutcomeSource,
        recorded_at: &str,
    ) -> Result<Vec<Outcome>, CoreError> {
        if timestamp_nanos(recorded_at).is_none() {
            return Err(CoreError::InvalidTimestamp(recorded_at.to_string()));
        }
        let source = self.source.unwrap_or(default_source);
        Ok(self
            .values
            .into_iter()
            .map(|(dimension, value)| Outcome {
                id: 0,
                session: self.session.clone(),
                task: self.task.clone(),
                dimension,
                value,
                taxonomy_version,
                source,
                by: self.by.clone(),
                comment: self.comment.clone(),
                recorded_at: recorded_at.to_string(),
            })
            .collect())
    }
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp.
pub(super) fn timestamp_nanos(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok().map(OffsetDateTime::unix_timestamp_nanos)
}

/// The outcomes that count: per `(session, task, dimension)` the latest one,
/// by `recorded_at` (compared as instants, so offsets and fractions are
/// handled; an unparseable timestamp counts as older than any valid one),
/// then by `id`, then by position in `outcomes` (later wins). Older records
/// stay in history but are not returned. The result is sorted by session,
/// task (no task first) and dimension.
pub fn effective(outcomes: &[Outcome]) -> Vec<&Outcome> {
    type Rank = (Option<i128>, u64, usize);
    let mut latest: BTreeMap<(&str, Option<&str>, &str), (Rank, &Outcome)> = BTreeMap::new();
    for (pos, o) in outcomes.iter().enumerate() {
        let rank = (timestamp_nanos(&o.recorded_at), o.id, pos);
        match latest.get(&o.key()) {
            Some((best, _)) if *best > rank => {}
            _ => {
                latest.insert(o.key(), (rank, o));
            }
        }
    }
    latest.into_values().map(|(_, o)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(id: u64, session: &str, task: Option<&str>, dim: &str, value: OutcomeValue, at: &str) -> Outcome {
        Outcome {
            id,
            session: session.into(),
            task: task.map(Into::into),
            dimension: dim.into(),
            value,
            taxonomy_version: 1,
            source: OutcomeSource::Human,
            by: None,
            comment: None,
            recorded_at: at.into(),
        }
    }

    fn label(s: &str) -> OutcomeValue {
        OutcomeValue::Label(s.into())
    }

    #[test]
    fn latest_outcome_per_session_task_and_dimension_wins() {
        let all = vec![
            o(1, "s1", None, "result", label("failure"), "2025-09-14T08:00:00Z"),
            o(2, "s1", None, "result", label("success"), "2025-09-14T09:00:00Z"),
            // Earlier instant despite a lexically larger string: 10:30+02:00 is 08:30Z.
            o(3, "s1", None, "result", label("partial"), "2025-09-14T10:30:00+02:00"),
            o(4, "s1", Some("t1"), "result", label("failure"), "2025-09-14T08:00:00Z"),
            o(5, "s1", None, "user_rating", OutcomeValue::Number(2.0), "2025-09-14T08:00:00Z"),
            // Same instant: the higher id wins.
            o(7, "s2", None, "result", label("success"), "2025-09-14T08:00:00Z"),
            o(6, "s2", None, "result", label("failure"), "2025-09-14T08:00:00.000Z"),
        ];
        let eff: Vec<u64> = effective(&all).iter().map(|o| o.id).collect();
        assert_eq!(eff, [2, 5, 4, 7]);
        // Superseded outcomes stay in `all`; only the effective view changes.
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn unassigned_ids_fall_back_to_position_and_bad_timestamps_lose() {
        let all = vec![
            o(0, "s", None, "result", label("failure"), "2025-09-14T08:00:00Z"),
            o(0, "s", None, "result", label("success"), "2025-09-14T08:00:00Z"),
            o(9, "s", None, "result", label("partial"), "yesterday"),
        ];
        let eff = effective(&all);
        assert_eq!(eff.len(), 1);
        assert_eq!(eff[0].value, label("success"));
        assert!(effective(&[]).is_empty());
    }

    #[test]
    fn outcomes_serialize_with_a_flat_value_and_round_trip() {
        let mut rating = o(7, "s1", Some("t"), "user_rating", OutcomeValue::Number(4.0), "2025-09-14T08:30:00Z");
        rating.by = Some("ana".into());
        let json = serde_json::to_value(&rating).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "session": "s1", "task": "t", "dimension": "user_rating", "kind": "number",
                "value": 4.0, "taxonomy_version": 1, "source": "human", "by": "ana", "comment": null,
                "recorded_at": "2025-09-14T08:30:00Z"})
        );
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), rating);
        for value in [label("success"), OutcomeValue::Bool(true), OutcomeValue::Text("4".into())] {
            let x = o(1, "s", None, "d", value, "2025-09-14T08:30:00Z");
            let back: Outcome = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back, x);
        }
    }

    #[test]
    fn inputs_become_one_outcome_per_value() {
        let input = OutcomeInput {
            line: 3,
            session: "s1".into(),
            task: None,
            values: vec![("result".into(), label("success")), ("user_rating".into(), OutcomeValue::Number(5.0))],
            source: None,
            by: Some("ci".into()),
            comment: Some("green".into()),
        };
        let out = input.clone().into_outcomes(2, OutcomeSource::Code, "2025-09-14T08:30:00Z").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].dimension, "user_rating");
        assert_eq!(out[1].value, OutcomeValue::Number(5.0));
        assert!(out.iter().all(|x| x.id == 0 && x.taxonomy_version == 2 && x.source == OutcomeSource::Code));
        assert!(out.iter().all(|x| x.by.as_deref() == Some("ci") && x.comment.as_deref() == Some("green")));
        let human = OutcomeInput { source: Some(OutcomeSource::Human), ..input.clone() };
        assert_eq!(
            human.into_outcomes(1, OutcomeSource::Code, "2025-09-14T08:30:00Z").unwrap()[0].source,
            OutcomeSource::Human
        );
        assert_eq!(
            input.into_outcomes(1, OutcomeSource::Code, "2025-09-14 08:30").unwrap_err().to_string(),
            "invalid timestamp `2025-09-14 08:30`; expected RFC 3339, e.g. 2025-09-14T08:30:00Z"
        );
    }

    #[test]
    fn sources_parse_and_print() {
        assert_eq!(" Model ".parse::<OutcomeSource>(), Ok(OutcomeSource::Model));
        assert_eq!(OutcomeSource::Code.to_string(), "code");
        assert_eq!(
            "robot".parse::<OutcomeSource>().unwrap_err().to_string(),
            "invalid outcome source `robot`; expected human, model or code"
        );
    }
}
