//! Preferences and constraints stated by the people who run the agent.
//!
//! Only operators state preferences: customers of a service agent, a
//! parent agent's task prompt and harness text never do (see
//! [`crate::directives`] for who speaks and which sentences count). Rule:
//! operator sentences (3..40 words, not questions) containing a
//! directive marker (always, never, prefer, don't, do not, please use, make
//! sure, avoid, "we use", "in this repo"...) are reduced to content tokens
//! (stop words and the markers removed, crude stemming) weighted by IDF over
//! all directive sentences. Sentences are clustered greedily, in session
//! order, into the cluster whose centroid has cosine ≥ 0.3 (candidates found
//! through an inverted index, so this is linear in practice); only a
//! session's first sentence in a cluster moves its centroid, so one session
//! repeating a rule ten times weighs as one. A cluster is a
//! preference when its sentences come from several sessions (the planner
//! requires `min_support`; repeating a rule many times in one session
//! counts once). The memory text is the member closest to the centroid
//! (ties: shorter, then smaller); scope follows the users (see planner).

use super::Idf;
use crate::context::{Context, Directive};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Evidence, MemoryKind, OpKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Preferences;

pub const THRESHOLD: f64 = 0.3;

struct Cluster {
    centroid: HashMap<String, f64>,
    sumsq: f64,
    members: Vec<(usize, usize)>,
    /// Sessions whose first sentence moved the centroid.
    voters: BTreeSet<usize>,
}

impl Cluster {
    fn cos(&self, v: &[(String, f64)]) -> f64 {
        if self.sumsq <= 0.0 {
            return 0.0;
        }
        let dot: f64 = v.iter().map(|(t, w)| self.centroid.get(t).copied().unwrap_or(0.0) * w).sum();
        dot / self.sumsq.sqrt()
    }

    /// Adds a sentence; only a session's first sentence in the cluster
    /// moves the centroid, so one session repeating itself cannot pull the
    /// cluster (and its representative) its way.
    fn add(&mut self, v: &[(String, f64)], member: (usize, usize)) {
        if self.voters.insert(member.0) {
            for (t, w) in v {
                let e = self.centroid.entry(t.clone()).or_insert(0.0);
                self.sumsq += (*e + w) * (*e + w) - *e * *e;
                *e += w;
            }
        }
        self.members.push(member);
    }
}

impl Pass for Preferences {
    fn name(&self) -> &'static str {
        "preferences"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        Ok(self.findings(ctx).into())
    }
}

/// Words by which a stated preference says it is about the project at hand.
const PROJECT_WORDS: [&str; 4] = ["this repo", "this project", "this codebase", "here we"];

impl Preferences {
    fn findings(&self, ctx: &Context) -> Vec<Finding> {
        let all: Vec<(usize, usize, &Directive)> = ctx
            .sessions
            .iter()
            .enumerate()
            .flat_map(|(si, s)| s.directives.iter().enumerate().map(move |(di, d)| (si, di, d)))
            .collect();
        let idf = Idf::new(all.iter().map(|(_, _, d)| d.tokens.as_slice()));
        let vectors: Vec<Vec<(String, f64)>> = all.iter().map(|(_, _, d)| idf.vector(&d.tokens)).collect();
        let mut clusters: Vec<Cluster> = Vec::new();
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (&(si, di, _), v) in all.iter().zip(vectors.iter()) {
            let mut cands: Vec<usize> = v.iter().filter_map(|(t, _)| index.get(t)).flatten().copied().collect();
            cands.sort_unstable();
            cands.dedup();
            let best = cands
                .iter()
                .filter_map(|c| Some((*c, clusters.get(*c)?.cos(v))))
                .filter(|(_, s)| *s >= THRESHOLD)
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let c = match best {
                Some((c, _)) => c,
                None => {
                    clusters.push(Cluster {
                        centroid: HashMap::new(),
                        sumsq: 0.0,
                        members: Vec::new(),
                        voters: BTreeSet::new(),
                    });
                    clusters.len() - 1
                }
            };
            if let Some(cl) = clusters.get_mut(c) {
                cl.add(v, (si, di));
            }
            for (t, _) in v {
                let e = index.entry(t.clone()).or_default();
                if e.last() != Some(&c) {
                    e.push(c);
                }
            }
        }
        let pos: HashMap<(usize, usize), usize> =
            all.iter().enumerate().map(|(k, (si, di, _))| ((*si, *di), k)).collect();
        // Second round: merge clusters (seen in ≥ 2 sessions) whose centroids
        // are as close as a sentence must be to join one.
        let clusters = merge_close(clusters);
        let clusters = merge_by_signature(clusters, &all);
        let mut out = Vec::new();
        for cl in clusters {
            let sessions: BTreeSet<usize> = cl.members.iter().map(|(s, _)| *s).collect();
            if sessions.len() < 2 {
                continue;
            }
            // Representative: closest to the centroid; then shorter; then smaller.
            let mut best: Option<(f64, &str)> = None;
            let mut said_here = false;
            // One evidence per sentence: the event it is verbatim text of.
            let mut evidence: BTreeMap<(usize, u32), Evidence> = BTreeMap::new();
            for m in &cl.members {
                let Some(&k) = pos.get(m) else { continue };
                let (Some((si, _, d)), Some(v)) = (all.get(k), vectors.get(k)) else { continue };
                let score = (cl.cos(v) * 1000.0).round() / 1000.0;
                let lower = d.text.to_lowercase();
                said_here |= PROJECT_WORDS.iter().any(|w| lower.contains(w));
                let better = match best {
                    None => true,
                    Some((bs, bt)) => score > bs || (score == bs && (d.text.len(), d.text.as_str()) < (bt.len(), bt)),
                };
                if better {
                    best = Some((score, d.text.as_str()));
                }
                if let Some(sv) = ctx.sessions.get(*si) {
                    evidence.entry((*si, d.seq)).or_insert_with(|| Evidence {
                        session: sv.id().to_string(),
                        events: vec![d.seq],
                        quote: d.quote.clone(),
                    });
                }
            }
            let Some((_, rep)) = best else { continue };
            let mut text = rep.trim().to_string();
            if let Some(first) = text.chars().next() {
                text = first.to_uppercase().chain(text.chars().skip(1)).collect();
            }
            if !text.ends_with(['.', '!']) {
                text.push('.');
            }
            let mut terms: Vec<(f64, String)> = cl.centroid.iter().map(|(t, w)| (*w, t.clone())).collect();
            terms.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut tags: Vec<String> = terms.iter().take(3).map(|(_, t)| t.clone()).collect();
            // "In this repo we use pnpm" holds where it was said: in the
            // project all its sessions ran in, not in every project.
            if said_here {
                tags.extend(super::conventions::common_project(ctx, &sessions).map(|p| p.tag()));
            }
            let n = sessions.len();
            out.push(Finding {
                repeats: 0,
                pass: "preferences",
                category: Category::Preference,
                op: OpKind::Create,
                kind: MemoryKind::preference(),
                text,
                targets: Vec::new(),
                rationale: format!("stated in {n} sessions ({} sentences, in different words)", cl.members.len()),
                sessions,
                evidence: evidence.into_values().collect(),
                confidence: (0.4 + 0.1 * n as f64).min(0.95),
                tags,
                key_terms: Vec::new(),
            });
        }
        out
    }
}

fn unit_centroid(c: &Cluster) -> Vec<(String, f64)> {
    let norm = c.sumsq.sqrt().max(f64::MIN_POSITIVE);
    let mut v: Vec<(String, f64)> = c.centroid.iter().map(|(t, w)| (t.clone(), w / norm)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn merge_close(clusters: Vec<Cluster>) -> Vec<Cluster> {
    let multi = |c: &Cluster| c.members.iter().map(|m| m.0).collect::<BTreeSet<_>>().len() >= 2;
    let (big, small): (Vec<Cluster>, Vec<Cluster>) = clusters.into_iter().partition(multi);
    let vecs: Vec<Vec<(String, f64)>> = big.iter().map(unit_centroid).collect();
    let mut group: Vec<usize> = (0..big.len()).collect();
    for i in 0..big.len() {
        for j in (i + 1)..big.len() {
            if let (Some(a), Some(b)) = (vecs.get(i), vecs.get(j)) {
                if super::cosine(a, b) >= THRESHOLD {
                    let (gi, gj) = (group.get(i).copied().unwrap_or(i), group.get(j).copied().unwrap_or(j));
                    let (keep, gone) = (gi.min(gj), gi.max(gj));
                    for g in group.iter_mut() {
                        if *g == gone {
                            *g = keep;
                        }
                    }
                }
            }
        }
    }
    let mut merged: BTreeMap<usize, Cluster> = BTreeMap::new();
    for (i, c) in big.into_iter().enumerate() {
        let g = group.get(i).copied().unwrap_or(i);
        match merged.get_mut(&g) {
            Some(m) => {
                for (t, w) in c.centroid {
                    let e = m.centroid.entry(t).or_insert(0.0);
                    m.sumsq += (*e + w) * (*e + w) - *e * *e;
                    *e += w;
                }
                m.members.extend(c.members);
                m.voters.extend(c.voters);
            }
            None => {
                merged.insert(g, c);
            }
        }
    }
    merged.into_values().chain(small).collect()
}

/// Tokens present in at least 80% of a cluster's sentences.
fn dominant(
    c: &Cluster,
    all: &[(usize, usize, &Directive)],
    index: &HashMap<(usize, usize), usize>,
) -> BTreeSet<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut n = 0;
    for m in &c.members {
        let Some(d) = index.get(m).and_then(|k| all.get(*k)).map(|x| x.2) else { continue };
        n += 1;
        for t in &d.tokens {
            *counts.entry(t.as_str()).or_default() += 1;
        }
    }
    counts.into_iter().filter(|(_, k)| *k * 5 >= n * 4).map(|(t, _)| t.to_string()).collect()
}

/// Third round: a cluster joins a larger one (seen in ≥ 2 sessions) when
/// they share a dominant token (one in ≥ 80% of the sentences of each, e.g.
/// `utc`, `pnpm`) and their centroids are at least loosely similar (cosine
/// ≥ 0.15). This gathers paraphrases that share only the word that matters.
fn merge_by_signature(mut clusters: Vec<Cluster>, all: &[(usize, usize, &Directive)]) -> Vec<Cluster> {
    let index: HashMap<(usize, usize), usize> =
        all.iter().enumerate().map(|(k, (si, di, _))| ((*si, *di), k)).collect();
    let sessions = |c: &Cluster| c.members.iter().map(|m| m.0).collect::<BTreeSet<_>>().len();
    clusters.sort_by(|a, b| sessions(b).cmp(&sessions(a)).then(a.members.first().cmp(&b.members.first())));
    let mut anchors: Vec<(Cluster, Option<BTreeSet<String>>)> = Vec::new();
    for c in clusters {
        let dom = dominant(&c, all, &index);
        let cv = unit_centroid(&c);
        let target = anchors.iter().position(|(a, sig)| {
            sig.as_ref().is_some_and(|s| !s.is_disjoint(&dom)) && super::cosine(&unit_centroid(a), &cv) >= 0.15
        });
        match target.and_then(|i| anchors.get_mut(i)) {
            Some((a, _)) => {
                for (t, w) in c.centroid {
                    let e = a.centroid.entry(t).or_insert(0.0);
                    a.sumsq += (*e + w) * (*e + w) - *e * *e;
                    *e += w;
                }
                a.members.extend(c.members);
                a.voters.extend(c.voters);
            }
            None => {
                let sig = (sessions(&c) >= 2).then_some(dom);
                anchors.push((c, sig));
            }
        }
    }
    anchors.into_iter().map(|(c, _)| c).collect()
}
