//! Duplicates among existing memories.
//!
//! Rule: two active memories of the same kind are duplicates when the
//! cosine of their IDF-weighted content tokens is ≥ 0.6 and, when both
//! quote commands in backticks, they quote the same ones. No all-pairs
//! comparison: candidates come from an inverted index over each memory's
//! rarest tokens (prefix filtering, see [`duplicate_groups`]), which finds
//! every pair above the threshold without comparing the others.
//! Duplicates are grouped (union-find); each group becomes one merge whose
//! first target is the best memory (highest priority, then most evidence,
//! then earliest created, then smallest id), with its text and the union of
//! the group's evidence.

use super::{cosine, Idf};
use crate::context::Context;
use crate::{text, Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Evidence, Memory, OpKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Duplicates;

use crate::policy::SAME_TEXT_COSINE as THRESHOLD;

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while let Some(&p) = parent.get(x) {
        if p == x {
            break;
        }
        let gp = parent.get(p).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(x) {
            *slot = gp;
        }
        x = p;
    }
    x
}

/// Groups of indexes into `memories` that are paraphrases of each other
/// (each group sorted, groups sorted).
///
/// Candidate pairs come from prefix filtering (as in the AllPairs
/// similarity join): with unit vectors whose tokens are ordered rarest
/// first, a memory is indexed only under its *prefix* — the rarest tokens
/// up to the point where the remaining tokens' norm falls below the
/// threshold. By Cauchy–Schwarz, any pair with cosine ≥ the threshold
/// shares a token of one memory's prefix, so probing the index with every
/// token of the other finds all of them: exact, and linear in practice
/// because prefixes hold the rare tokens.
pub fn duplicate_groups(memories: &[&Memory]) -> Vec<Vec<usize>> {
    let tokens: Vec<Vec<String>> = memories.iter().map(|m| text::content_tokens(&m.text)).collect();
    let idf = Idf::new(tokens.iter().map(Vec::as_slice));
    let vectors: Vec<Vec<(String, f64)>> = tokens.iter().map(|t| idf.vector(t)).collect();
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, v) in vectors.iter().enumerate() {
        let mut order: Vec<&(String, f64)> = v.iter().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut rest: f64 = 1.0;
        for (t, w) in order {
            if rest.max(0.0).sqrt() < THRESHOLD {
                break;
            }
            index.entry(t.as_str()).or_default().push(i);
            rest -= w * w;
        }
    }
    let mut group_cmds: Vec<BTreeSet<String>> = memories.iter().map(|m| backtick_commands(&m.text)).collect();
    let mut parent: Vec<usize> = (0..memories.len()).collect();
    let mut seen: Vec<usize> = vec![usize::MAX; memories.len()];
    for (j, v) in vectors.iter().enumerate() {
        let Some(b) = memories.get(j) else { continue };
        for (t, _) in v {
            let Some(list) = index.get(t.as_str()) else { continue };
            for &i in list {
                if i == j || seen.get(i) == Some(&j) {
                    continue;
                }
                if let Some(s) = seen.get_mut(i) {
                    *s = j;
                }
                let Some(a) = memories.get(i) else { continue };
                if a.kind != b.kind {
                    continue;
                }

                let Some(va) = vectors.get(i) else { continue };
                if cosine(va, v) >= THRESHOLD {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    // Memories quoting different commands are about different
                    // things (`cargo test` vs `cargo clippy` before pushing);
                    // checked per group, so no chain joins them either.
                    let (ca, cb) = (
                        group_cmds.get(ri).cloned().unwrap_or_default(),
                        group_cmds.get(rj).cloned().unwrap_or_default(),
                    );
                    if !ca.is_empty() && !cb.is_empty() && ca != cb {
                        continue;
                    }
                    // A memory without quoted commands must still name the
                    // other side's commands in plain words.
                    let names_all = |cmds: &BTreeSet<String>, m: &Memory| {
                        let words: BTreeSet<String> = text::raw_words(&m.text).into_iter().collect();
                        cmds.iter().all(|c| text::raw_words(c).iter().all(|w| words.contains(w)))
                    };
                    if (cb.is_empty() && !names_all(&ca, b)) || (ca.is_empty() && !names_all(&cb, a)) {
                        continue;
                    }
                    if ri != rj {
                        let merged = if ca.is_empty() { cb } else { ca };
                        if let Some(g) = group_cmds.get_mut(ri.min(rj)) {
                            *g = merged;
                        }
                        if let Some(p) = parent.get_mut(ri.max(rj)) {
                            *p = ri.min(rj);
                        }
                    }
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..memories.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().filter(|g| g.len() > 1).collect()
}

/// Normalized keys of the commands quoted in backticks.
pub fn backtick_commands(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).filter_map(text::parse_command).map(|c| c.key).collect()
}

/// Evidence standing for a memory: its own stored evidence, or (when it has
/// none) an entry whose session is `memory:<id>` quoting its text.
pub fn memory_evidence(m: &Memory) -> Vec<Evidence> {
    if m.evidence.is_empty() {
        vec![Evidence { session: format!("memory:{}", m.id), events: Vec::new(), quote: m.text.clone() }]
    } else {
        m.evidence.clone()
    }
}

impl Pass for Duplicates {
    fn name(&self) -> &'static str {
        "duplicates"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        Ok(self.findings(ctx).into())
    }
}

impl Duplicates {
    fn findings(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for g in duplicate_groups(&ctx.memories) {
            let mut ms: Vec<&Memory> = g.iter().filter_map(|i| ctx.memories.get(*i).copied()).collect();
            ms.sort_by(|a, b| {
                b.priority
                    .cmp(&a.priority)
                    .then(b.evidence.len().cmp(&a.evidence.len()))
                    .then(a.created_at.cmp(&b.created_at))
                    .then(a.id.cmp(&b.id))
            });
            let Some(best) = ms.first() else { continue };
            let mut evidence: Vec<Evidence> = ms.iter().flat_map(|m| memory_evidence(m)).collect();
            evidence.sort();
            evidence.dedup();
            let sessions: BTreeSet<usize> =
                evidence.iter().filter_map(|e| ctx.session_index.get(e.session.as_str()).copied()).collect();
            let others: Vec<String> = ms.iter().skip(1).map(|m| format!("{} ({:?})", m.id, m.text)).collect();
            out.push(Finding {
                pass: "duplicates",
                category: Category::Merge,
                op: OpKind::Merge,
                kind: best.kind.clone(),
                text: best.text.clone(),
                targets: ms.iter().map(|m| m.id.clone()).collect(),
                sessions,
                evidence,
                confidence: 0.8,
                rationale: format!("{} says the same as {}", best.id, others.join(", ")),
                tags: Vec::new(),
                key_terms: Vec::new(),
            });
        }
        out
    }
}
