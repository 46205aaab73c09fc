//! Outcome statistics per group (agent, team, week, ...).

use super::{DimensionKind, Outcome, OutcomeValue, Taxonomy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Statistics of one group's effective outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupStats {
    pub group: String,
    /// Effective outcomes in the group (all dimensions, ignored ones too).
    pub outcomes: usize,
    /// Distinct sessions among them.
    pub sessions: usize,
    /// Outcomes left out of the per-dimension numbers because their
    /// dimension or value does not fit the taxonomy (orphaned by a forced
    /// taxonomy change).
    pub ignored: usize,
    /// Mean score of the primary dimension, if there is one and it has
    /// outcomes in this group.
    pub primary_score: Option<f64>,
    /// One entry per taxonomy dimension, in taxonomy order, including
    /// dimensions without outcomes (count 0).
    pub dimensions: Vec<DimensionStats>,
}

/// Statistics of one dimension within a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DimensionStats {
    pub dimension: String,
    pub primary: bool,
    pub count: usize,
    /// Mean of the normalized scores (see [`OutcomeValue::score`]); `None`
    /// for text dimensions and when `count` is 0.
    pub mean_score: Option<f64>,
    pub detail: StatsDetail,
}

/// The per-type part of [`DimensionStats`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StatsDetail {
    /// Every label in taxonomy order, with its count and share.
    Categorical { labels: Vec<LabelStats> },
    /// `None`s when there are no values.
    Numeric { mean: Option<f64>, min: Option<f64>, max: Option<f64> },
    /// How many values are true, and their share (`None` without values).
    Boolean { true_count: usize, true_rate: Option<f64> },
    /// Text has only a count.
    Text,
}

/// One label's count and share of its dimension's outcomes in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LabelStats {
    pub label: String,
    pub count: usize,
    /// `count / dimension count`; `None` when the dimension has no outcomes.
    pub rate: Option<f64>,
}

fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        None
    } else {
        Some(xs.iter().sum::<f64>() / xs.len() as f64)
    }
}

fn rate(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// Statistics of `effective` outcomes (see [`super::effective`]) per group.
///
/// `group_of` names the groups an outcome belongs to (several are allowed,
/// e.g. its agent and `"all"`; duplicates count once; none leaves the
/// outcome out). Groups are sorted by name, dimensions follow the taxonomy.
pub fn stats(
    effective: &[&Outcome],
    taxonomy: &Taxonomy,
    group_of: &dyn Fn(&Outcome) -> Vec<String>,
) -> Vec<GroupStats> {
    let mut groups: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for &o in effective {
        let names: BTreeSet<String> = group_of(o).into_iter().collect();
        for name in names {
            groups.entry(name).or_default().push(o);
        }
    }
    groups.into_iter().map(|(group, members)| group_stats(group, &members, taxonomy)).collect()
}

fn fits(o: &Outcome, taxonomy: &Taxonomy) -> bool {
    taxonomy.dimension(&o.dimension).is_some_and(|d| {
        o.value.fits_kind(&d.kind)
            && match &o.value {
                OutcomeValue::Label(l) => d.label(l).is_some(),
                _ => true,
            }
    })
}

fn group_stats(group: String, members: &[&Outcome], taxonomy: &Taxonomy) -> GroupStats {
    let sessions = members.iter().map(|o| o.session.as_str()).collect::<BTreeSet<_>>().len();
    let ignored = members.iter().filter(|o| !fits(o, taxonomy)).count();
    let mut dimensions = Vec::new();
    for dim in taxonomy.dimensions() {
        let values: Vec<&OutcomeValue> =
            members.iter().filter(|o| o.dimension == dim.name && fits(o, taxonomy)).map(|o| &o.value).collect();
        let count = values.len();
        let scores: Vec<f64> = values.iter().filter_map(|v| v.score(dim)).collect();
        let detail = match &dim.kind {
            DimensionKind::Categorical { labels } => StatsDetail::Categorical {
                labels: labels
                    .iter()
                    .map(|l| {
                        let n = values.iter().filter(|v| matches!(v, OutcomeValue::Label(x) if *x == l.name)).count();
                        LabelStats { label: l.name.clone(), count: n, rate: rate(n, count) }
                    })
                    .collect(),
            },
            DimensionKind::Numeric { .. } => {
                let xs: Vec<f64> = values
                    .iter()
                    .filter_map(|v| if let OutcomeValue::Number(x) = v { Some(*x) } else { None })
                    .collect();
                StatsDetail::Numeric {
                    mean: mean(&xs),
                    min: xs.iter().copied().reduce(f64::min),
                    max: xs.iter().copied().reduce(f64::max),
                }
            }
            DimensionKind::Boolean => {
                let t = values.iter().filter(|v| matches!(v, OutcomeValue::Bool(true))).count();
                StatsDetail::Boolean { true_count: t, true_rate: rate(t, count) }
            }
            DimensionKind::Text => StatsDetail::Text,
        };
        dimensions.push(DimensionStats {
            dimension: dim.name.clone(),
            primary: dim.primary,
            count,
            mean_score: mean(&scores),
            detail,
        });
    }
    let primary_score = dimensions.iter().find(|d| d.primary).and_then(|d| d.mean_score);
    GroupStats { group, outcomes: members.len(), sessions, ignored, primary_score, dimensions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{OutcomeSource, DEFAULT_TAXONOMY_TOML};

    fn taxonomy() -> Taxonomy {
        let extra = "\n[[dimension]]\nname = \"tests_pass\"\ntype = \"boolean\"\n";
        Taxonomy::from_toml(&format!("{DEFAULT_TAXONOMY_TOML}{extra}")).unwrap()
    }

    fn o(session: &str, dim: &str, value: OutcomeValue) -> Outcome {
        Outcome {
            id: 0,
            session: session.into(),
            task: None,
            dimension: dim.into(),
            value,
            taxonomy_version: 1,
            source: OutcomeSource::Human,
            by: None,
            comment: None,
            recorded_at: "2025-09-14T08:00:00Z".into(),
        }
    }

    fn fixture() -> Vec<Outcome> {
        let l = |s: &str| OutcomeValue::Label(s.into());
        vec![
            o("s1", "result", l("success")),
            o("s1", "user_rating", OutcomeValue::Number(5.0)),
            o("s1", "tests_pass", OutcomeValue::Bool(true)),
            o("s2", "result", l("partial")),
            o("s2", "user_rating", OutcomeValue::Number(2.0)),
            o("s2", "tests_pass", OutcomeValue::Bool(false)),
            o("s2", "reviewer_note", OutcomeValue::Text("slow".into())),
            o("s3", "result", l("failure")),
            o("s3", "failure_reason", l("timeout")),
            o("s4", "result", l("success")),
            o("s4", "tests_pass", OutcomeValue::Bool(true)),
            // Orphaned by a forced taxonomy change.
            o("s5", "mood", l("ok")),
            // Not in any group.
            o("s6", "result", l("failure")),
        ]
    }

    fn group_of(o: &Outcome) -> Vec<String> {
        match o.session.as_str() {
            "s1" | "s2" | "s3" => vec!["agent:a".into(), "all".into()],
            "s4" => vec!["agent:b".into(), "all".into()],
            "s5" => vec!["agent:b".into(), "agent:b".into(), "all".into()],
            _ => vec![],
        }
    }

    fn labels(d: &DimensionStats) -> Vec<(&str, usize, Option<f64>)> {
        match &d.detail {
            StatsDetail::Categorical { labels } => labels.iter().map(|l| (l.label.as_str(), l.count, l.rate)).collect(),
            other => panic!("not categorical: {other:?}"),
        }
    }

    #[test]
    fn stats_match_a_hand_computed_fixture() {
        let all = fixture();
        let refs: Vec<&Outcome> = all.iter().collect();
        let s = stats(&refs, &taxonomy(), &group_of);
        let names: Vec<&str> = s.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["agent:a", "agent:b", "all"]);

        let a = &s[0];
        assert_eq!((a.outcomes, a.sessions, a.ignored), (9, 3, 0));
        assert_eq!(a.primary_score, Some(0.5));
        let dims: Vec<(&str, usize, Option<f64>)> =
            a.dimensions.iter().map(|d| (d.dimension.as_str(), d.count, d.mean_score)).collect();
        assert_eq!(
            dims,
            [
                ("result", 3, Some(0.5)),
                ("failure_reason", 1, Some(0.0)),
                ("user_rating", 2, Some(0.625)),
                ("reviewer_note", 1, None),
                ("tests_pass", 2, Some(0.5)),
            ]
        );
        assert!(a.dimensions[0].primary && !a.dimensions[1].primary);
        let third = 1.0 / 3.0;
        assert_eq!(
            labels(&a.dimensions[0]),
            [
                ("success", 1, Some(third)),
                ("partial", 1, Some(third)),
                ("failure", 1, Some(third)),
                ("abandoned", 0, Some(0.0))
            ]
        );
        assert_eq!(labels(&a.dimensions[1])[4], ("timeout", 1, Some(1.0)));
        assert_eq!(labels(&a.dimensions[1])[0], ("wrong_tool", 0, Some(0.0)));
        assert_eq!(a.dimensions[2].detail, StatsDetail::Numeric { mean: Some(3.5), min: Some(2.0), max: Some(5.0) });
        assert_eq!(a.dimensions[3].detail, StatsDetail::Text);
        assert_eq!(a.dimensions[4].detail, StatsDetail::Boolean { true_count: 1, true_rate: Some(0.5) });

        let b = &s[1];
        assert_eq!((b.outcomes, b.sessions, b.ignored), (3, 2, 1));
        assert_eq!(b.primary_score, Some(1.0));
        assert_eq!(b.dimensions[1].count, 0);
        assert_eq!(b.dimensions[1].mean_score, None);
        assert_eq!(labels(&b.dimensions[1])[0], ("wrong_tool", 0, None));
        assert_eq!(b.dimensions[2].detail, StatsDetail::Numeric { mean: None, min: None, max: None });
        assert_eq!(b.dimensions[4].detail, StatsDetail::Boolean { true_count: 1, true_rate: Some(1.0) });

        let all_group = &s[2];
        assert_eq!((all_group.outcomes, all_group.sessions, all_group.ignored), (12, 5, 1));
        assert_eq!(all_group.primary_score, Some(0.625));
        assert_eq!(
            labels(&all_group.dimensions[0]),
            [
                ("success", 2, Some(0.5)),
                ("partial", 1, Some(0.25)),
                ("failure", 1, Some(0.25)),
                ("abandoned", 0, Some(0.0))
            ]
        );
        assert_eq!(all_group.dimensions[4].detail, StatsDetail::Boolean { true_count: 2, true_rate: Some(2.0 / 3.0) });
    }

    #[test]
    fn stats_serialize_with_a_typed_detail() {
        let all = fixture();
        let refs: Vec<&Outcome> = all.iter().collect();
        let s = stats(&refs, &taxonomy(), &|_| vec!["x".into()]);
        assert_eq!(s.len(), 1);
        let json = serde_json::to_value(&s[0].dimensions[4]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"dimension": "tests_pass", "primary": false, "count": 3, "mean_score": 2.0 / 3.0,
                "detail": {"type": "boolean", "true_count": 2, "true_rate": 2.0 / 3.0}})
        );
        let back: Vec<GroupStats> = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(stats(&[], &taxonomy(), &|_| vec!["x".into()]).is_empty());
    }
}
