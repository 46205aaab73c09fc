//! The built-in analysis passes and helpers they share.

pub mod confirmations;
pub mod conventions;
pub mod corrections;
pub mod duplicates;
pub mod evaluator;
pub mod gates;
pub mod lifecycle;
pub mod mistakes;
pub mod preferences;
pub mod workflows;

use std::collections::{BTreeMap, HashMap};

/// The most frequent string; ties go to the shortest, then the smallest.
pub fn most_common<'a>(items: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(a, ca), (b, cb)| ca.cmp(cb).then(b.len().cmp(&a.len())).then(b.cmp(a)))
        .map(|(s, _)| s.to_string())
}

/// Sparse IDF-weighted, unit-length token vectors and their cosine.
pub struct Idf {
    df: HashMap<String, u32>,
    n: f64,
}

impl Idf {
    pub fn new<'a>(docs: impl IntoIterator<Item = &'a [String]>) -> Idf {
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut n = 0.0;
        for d in docs {
            n += 1.0;
            for t in d {
                *df.entry(t.clone()).or_default() += 1;
            }
        }
        Idf { df, n }
    }

    pub fn df(&self, t: &str) -> u32 {
        self.df.get(t).copied().unwrap_or(0)
    }

    pub fn weight(&self, t: &str) -> f64 {
        ((self.n + 1.0) / (f64::from(self.df(t)) + 1.0)).ln() + 1.0
    }

    /// Unit vector over sorted, deduplicated tokens.
    pub fn vector(&self, tokens: &[String]) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = tokens.iter().map(|t| (t.clone(), self.weight(t))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        let norm = v.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut v {
                *w /= norm;
            }
        }
        v
    }
}

/// Cosine of two unit vectors sorted by token.
pub fn cosine(a: &[(String, f64)], b: &[(String, f64)]) -> f64 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += x.1 * y.1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}
