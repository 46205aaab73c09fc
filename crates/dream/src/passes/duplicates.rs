//! Duplicates among existing memories: paraphrases found by meaning.
//!
//! **Evidence of sameness.** Two active memories of the same kind are
//! compared on three things:
//!
//! - *token overlap*: the cosine of their IDF-weighted content tokens
//!   (stemmed, stop words and directive words removed, a doubled final
//!   consonant undoubled so `committing` meets `commit`);
//! - *meaning*: the cosine of their vectors from the service's configured
//!   embedder ([`crate::Snapshot::memory_vectors`]: hashing by default,
//!   model2vec when available; absent vectors leave tokens alone);
//! - *key terms*: the commands each names — in backticks, or in plain words
//!   when the command is one the memories quote elsewhere or the batch ran
//!   (`make lint` in "Before you commit, run make lint.") — and the other
//!   content words they share (`commit`).
//!
//! **Rule.** They are duplicates when their commands agree (both name the
//! same commands, or one names none but has the other's command words in
//! plain text), they do not each name identifiers with none in common
//! (`2wq11`, `config/flags.yaml`, `snake_case`: "Service ab1 owns the
//! billing endpoint" is not "Service cd2 owns the billing endpoint"), and
//! either the token cosine or the
//! mean of token and vector cosine is ≥ 0.6 ([`policy::SAME_TEXT_COSINE`]),
//! or they name the same commands, share another content word besides
//! generic verbs (run, use...), and that mean is ≥ 0.3
//! ([`policy::SAME_COMMANDS_SIMILARITY`]). Memories naming different
//! commands are different memories (`cargo test` vs `cargo clippy` before
//! pushing), checked per group so no chain of pairs joins them; so are
//! memories naming the same command for another occasion ("run `make lint`
//! after pulling" shares no word but the verb with "before committing").
//!
//! **Blocked, never all pairs.** Candidate pairs come from three inverted
//! indexes — content tokens (the ones in at most max(64, n/50) memories:
//! a word in every memory tells nothing), command keys, and locality-
//! sensitive hashes of the vectors (10 tables of 10 random-hyperplane bits,
//! fixed seeds) — and only candidates are scored, so 10,000 memories take a
//! fraction of a second.
//!
//! Duplicates are grouped (union-find); each group becomes one merge whose
//! first target is the best memory (highest priority, then most evidence,
//! then earliest created, then smallest id), with its text and the union of
//! the group's evidence.

use super::{cosine, Idf};
use crate::context::Context;
use crate::policy::{SAME_COMMANDS_SIMILARITY, SAME_TEXT_COSINE};
use crate::{text, Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Evidence, Memory, OpKind, ProjectTag};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Duplicates;

/// Verbs too generic to make two memories about the same occasion.
const GENERIC: &[&str] = &["run", "use", "do", "add", "set", "check", "try", "work", "need", "want", "ensure"];

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

/// A content token with a doubled final consonant undone (`committ` → `commit`).
fn key_token(t: &str) -> String {
    let b = t.as_bytes();
    match b {
        [.., x, y] if t.len() >= 5 && x == y && x.is_ascii_alphabetic() && !b"aeiouylsz".contains(x) => {
            t.get(..t.len() - 1).unwrap_or(t).to_string()
        }
        _ => t.to_string(),
    }
}

fn tokens_of(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text::content_tokens(text).iter().map(|t| key_token(t)).collect();
    v.sort();
    v.dedup();
    v
}

/// Normalized keys of the commands quoted in backticks (a span whose first
/// word is a file path, `config/flags.yaml`, is a name, not a command).
pub fn backtick_commands(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            let first = span.split_whitespace().next().unwrap_or("");
            first.starts_with("./")
                || !(first.contains('/')
                    || first.rsplit_once('.').is_some_and(|(a, e)| {
                        !a.is_empty() && (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphabetic())
                    }))
        })
        .filter_map(text::parse_command)
        .map(|c| c.key)
        .collect()
}

/// Identifiers a text names: words with a digit among letters (`2wq11`,
/// `v1`), paths and file names (`config/flags.yaml`), `snake_case`,
/// `camelCase`, `kebab-case` with a digit or several parts. Two memories
/// that each name identifiers, none in common, are about different things
/// however alike their wording ("Service ab1 owns the billing endpoint" vs
/// "Service cd2 owns the billing endpoint").
fn identifiers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '`' | '"' | '\'' | '[' | ']'))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.len() >= 3)
        .filter(|w| {
            let letters = w.chars().any(char::is_alphabetic);
            let digits = w.chars().any(|c| c.is_ascii_digit());
            let camel = w.chars().skip(1).any(char::is_uppercase) && w.chars().any(char::is_lowercase);
            (letters && digits) || w.contains(['/', '_']) || camel || w.trim_start_matches('.').contains('.')
        })
        .map(str::to_lowercase)
        .collect()
}

/// Multi-word command keys found in plain words of `lower` (a lowercased
/// text), from `known` (first word → keys).
fn plain_commands(lower: &str, known: &HashMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut prev_alnum = false;
    for (i, ch) in lower.char_indices() {
        let starts = ch.is_alphanumeric() && !prev_alnum;
        prev_alnum = ch.is_alphanumeric() || matches!(ch, '-' | '_' | '.' | '/');
        if !starts {
            continue;
        }
        let end = lower
            .get(i..)
            .and_then(|r| r.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')))
            .map_or(lower.len(), |p| i + p);
        let Some(keys) = lower.get(i..end).and_then(|w| known.get(w)) else { continue };
        for k in keys {
            let after = lower.get(i + k.len()..).and_then(|s| s.chars().next());
            if lower.get(i..).is_some_and(|r| r.starts_with(k.as_str()))
                && after.is_none_or(|c| !c.is_alphanumeric() && !matches!(c, ':' | '-' | '_' | '/'))
            {
                out.insert(k.clone());
            }
        }
    }
    out
}

/// What one memory brings to the comparison.
struct Features {
    tokens: Vec<String>,
    idf: Vec<(String, f64)>,
    /// Commands it names (backticks and known commands in plain words).
    commands: BTreeSet<String>,
    /// Content tokens outside its commands, generic verbs left out.
    words: BTreeSet<String>,
    /// Identifiers it names (see [`identifiers`]).
    names: BTreeSet<String>,
    /// Its raw words, to see whether it names another's commands in plain words.
    raw: BTreeSet<String>,
}

/// Counters of one run (copied into the proposal's stats).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateStats {
    pub candidates: usize,
    pub with_vectors: usize,
}

/// Random hyperplanes for LSH: 10 tables × 10 bits over `dim` dimensions,
/// from a fixed seed (splitmix64), so the same vectors give the same buckets.
const TABLES: usize = 10;
const BITS: usize = 10;

fn hyperplanes(dim: usize) -> Vec<Vec<f32>> {
    let mut state: u64 = 0x6475_706c_6963_6174;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..TABLES * BITS).map(|_| (0..dim).map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

fn vector_cosine(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 || a.len() != b.len() {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// Groups of indexes into `memories` that are paraphrases of each other
/// (each group sorted, groups sorted), with the candidate counts. `vectors`
/// are by memory id; `known` holds multi-word command keys by first word
/// (the batch's), to find commands named in plain words.
pub fn duplicate_groups_with(
    memories: &[&Memory],
    vectors: &BTreeMap<String, Vec<f32>>,
    known: &HashMap<String, Vec<String>>,
) -> (Vec<Vec<usize>>, DuplicateStats) {
    let n = memories.len();
    let mut stats = DuplicateStats::default();
    let tokens: Vec<Vec<String>> = memories.iter().map(|m| tokens_of(&m.text)).collect();
    let idf = Idf::new(tokens.iter().map(Vec::as_slice));
    // Commands: backticks everywhere, then known keys in plain words.
    let quoted: Vec<BTreeSet<String>> = memories.iter().map(|m| backtick_commands(&m.text)).collect();
    let mut vocabulary: HashMap<String, Vec<String>> = known.clone();
    for k in quoted.iter().flatten().filter(|k| k.contains(' ')) {
        let first = k.split(' ').next().unwrap_or(k).to_string();
        let e = vocabulary.entry(first).or_default();
        if !e.contains(k) {
            e.push(k.clone());
        }
    }
    for v in vocabulary.values_mut() {
        v.sort();
    }
    let feats: Vec<Features> = memories
        .iter()
        .zip(tokens)
        .zip(&quoted)
        .map(|((m, toks), q)| {
            let mut commands = q.clone();
            commands.extend(plain_commands(&m.text.to_lowercase(), &vocabulary));
            let cmd_words: BTreeSet<String> =
                commands.iter().flat_map(|c| text::content_tokens(c)).map(|t| key_token(&t)).collect();
            let words =
                toks.iter().filter(|t| !cmd_words.contains(*t) && !GENERIC.contains(&t.as_str())).cloned().collect();
            let raw = text::raw_words(&m.text).into_iter().collect();
            Features { idf: idf.vector(&toks), tokens: toks, commands, words, names: identifiers(&m.text), raw }
        })
        .collect();
    let vecs: Vec<Option<&[f32]>> =
        memories.iter().map(|m| vectors.get(&m.id).map(Vec::as_slice).filter(|v| !v.is_empty())).collect();
    stats.with_vectors = vecs.iter().filter(|v| v.is_some()).count();

    // Candidate generation: three inverted indexes.
    let cap = (n / 50).max(64);
    let mut by_token: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_command: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in feats.iter().enumerate() {
        for t in &f.tokens {
            by_token.entry(t.as_str()).or_default().push(i);
        }
        for c in &f.commands {
            by_command.entry(c.as_str()).or_default().push(i);
        }
    }
    let mut buckets: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
    let dim = vecs.iter().flatten().map(|v| v.len()).next().unwrap_or(0);
    let mut signatures: Vec<Option<[u32; TABLES]>> = vec![None; n];
    if dim > 0 {
        let planes = hyperplanes(dim);
        for (i, v) in vecs.iter().enumerate() {
            let Some(v) = v.filter(|v| v.len() == dim) else { continue };
            let mut sig = [0u32; TABLES];
            for (t, slot) in sig.iter_mut().enumerate() {
                for b in 0..BITS {
                    if planes.get(t * BITS + b).is_some_and(|p| dot(p, v) > 0.0) {
                        *slot |= 1 << b;
                    }
                }
                buckets.entry((t, *slot)).or_default().push(i);
            }
            if let Some(s) = signatures.get_mut(i) {
                *s = Some(sig);
            }
        }
    }

    let mut group_cmds: Vec<BTreeSet<String>> = feats.iter().map(|f| f.commands.clone()).collect();
    let mut parent: Vec<usize> = (0..n).collect();
    let mut seen: Vec<usize> = vec![usize::MAX; n];
    for j in 0..n {
        let (Some(b), Some(fb)) = (memories.get(j), feats.get(j)) else { continue };
        let mut cands: Vec<usize> = Vec::new();
        let mut take = |list: &Vec<usize>, cands: &mut Vec<usize>| {
            for &i in list {
                if i < j && seen.get(i) != Some(&j) {
                    if let Some(s) = seen.get_mut(i) {
                        *s = j;
                    }
                    cands.push(i);
                }
            }
        };
        for t in &fb.tokens {
            if let Some(list) = by_token.get(t.as_str()).filter(|l| l.len() <= cap) {
                take(list, &mut cands);
            }
        }
        for c in &fb.commands {
            if let Some(list) = by_command.get(c.as_str()).filter(|l| l.len() <= cap.max(256)) {
                take(list, &mut cands);
            }
        }
        if let Some(sig) = signatures.get(j).copied().flatten() {
            for (t, h) in sig.iter().enumerate() {
                if let Some(list) = buckets.get(&(t, *h)) {
                    take(list, &mut cands);
                }
            }
        }
        stats.candidates += cands.len();
        for i in cands {
            let (Some(a), Some(fa)) = (memories.get(i), feats.get(i)) else { continue };
            if a.kind != b.kind || (!fa.names.is_empty() && !fb.names.is_empty() && fa.names.is_disjoint(&fb.names)) {
                continue;
            }
            // Memories of two projects (or of one and of none) are two lessons.
            if !same_project(a, b) {
                continue;
            }
            let tok = cosine(&fa.idf, &fb.idf);
            let vec = match (vecs.get(i).copied().flatten(), vecs.get(j).copied().flatten()) {
                (Some(x), Some(y)) => Some(vector_cosine(x, y)),
                _ => None,
            };
            let sem = vec.map_or(tok, |v| (tok + v) / 2.0);
            let same_commands = !fa.commands.is_empty() && fa.commands == fb.commands;
            let shared_word = !fa.words.is_disjoint(&fb.words);
            let close = tok >= SAME_TEXT_COSINE
                || sem >= SAME_TEXT_COSINE
                || (same_commands && shared_word && sem >= SAME_COMMANDS_SIMILARITY);
            if !close {
                continue;
            }
            let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
            if ri == rj {
                continue;
            }
            // Commands agree per group: both name the same ones, or one names
            // none but has the other's commands' words in plain text.
            let (ca, cb) =
                (group_cmds.get(ri).cloned().unwrap_or_default(), group_cmds.get(rj).cloned().unwrap_or_default());
            let names_all = |cmds: &BTreeSet<String>, f: &Features| {
                cmds.iter().all(|c| text::raw_words(c).iter().all(|w| f.raw.contains(w)))
            };
            let agree = ca == cb || (cb.is_empty() && names_all(&ca, fb)) || (ca.is_empty() && names_all(&cb, fa));
            if !agree {
                continue;
            }
            let merged = if ca.is_empty() { cb } else { ca };
            if let Some(p) = parent.get_mut(ri.max(rj)) {
                *p = ri.min(rj);
            }
            if let Some(g) = group_cmds.get_mut(ri.min(rj)) {
                *g = merged;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    (groups.into_values().filter(|g| g.len() > 1).collect(), stats)
}

/// Whether two memories are of one project, or both of none (a tag that
/// names the project by its folder name alone is that name's project).
fn same_project(a: &Memory, b: &Memory) -> bool {
    match (ProjectTag::of_tags(&a.tags), ProjectTag::of_tags(&b.tags)) {
        (None, None) => true,
        (Some(ProjectTag::Keyed(x)), Some(ProjectTag::Keyed(y))) => x.key == y.key,
        (Some(x), Some(y)) => x.name() == y.name(),
        _ => false,
    }
}

/// [`duplicate_groups_with`] without vectors or batch commands.
pub fn duplicate_groups(memories: &[&Memory]) -> Vec<Vec<usize>> {
    duplicate_groups_with(memories, &BTreeMap::new(), &HashMap::new()).0
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
        let (groups, st) = duplicate_groups_with(&ctx.memories, ctx.memory_vectors, &ctx.keys_by_verb);
        let mut out = PassOutput::from(self.findings(ctx, groups));
        out.stats.insert("duplicates.candidates".into(), st.candidates.into());
        out.stats.insert("duplicates.with_vectors".into(), st.with_vectors.into());
        if let Some(e) = ctx.embedder {
            out.stats.insert("duplicates.embedder".into(), e.into());
        }
        Ok(out)
    }
}

impl Duplicates {
    fn findings(&self, ctx: &Context, groups: Vec<Vec<usize>>) -> Vec<Finding> {
        let mut out = Vec::new();
        for g in groups {
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
                repeats: 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use nocturne_core::{MemoryKind, Scope};

    fn m(kind: MemoryKind, text: &str) -> Memory {
        Memory::new(kind, text, Scope::org(), "2026-01-01T00:00:00Z", text).unwrap()
    }

    #[test]
    fn paraphrases_naming_the_same_command_merge_and_other_occasions_do_not() {
        let ms = [
            m(MemoryKind::procedure(), "Run the linter with `make lint` before committing."),
            m(MemoryKind::procedure(), "Before you commit, run make lint."),
            m(MemoryKind::procedure(), "Always run `make lint` prior to commits so CI stays green."),
            m(MemoryKind::procedure(), "Run `make lint` after pulling main."),
            m(MemoryKind::procedure(), "Before you commit, run `make test` as well."),
        ];
        let refs: Vec<&Memory> = ms.iter().collect();
        assert_eq!(duplicate_groups(&refs), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn doubled_consonants_are_undone() {
        assert_eq!(key_token("committ"), "commit");
        assert_eq!(key_token("install"), "install");
        assert_eq!(key_token("pass"), "pass");
    }
}
