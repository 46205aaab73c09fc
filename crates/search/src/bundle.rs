//! Token estimates and token-budgeted context bundles (pure functions).

use nocturne_core::memory::{Memory, MemoryKind, Scope};
use nocturne_core::ProjectTag;
use serde::{Deserialize, Serialize};

/// Conservative token estimate for BPE tokenisers (cl100k / o200k / Llama):
///
/// ```text
/// tokens = ceil(W / 4) + P + U + L
/// ```
///
/// where W counts ASCII letters, digits, spaces and tabs, P counts ASCII
/// punctuation and symbols (each may be its own token), U counts non-ASCII
/// characters (one token each: CJK, emoji and accented text often take one
/// or more), and L counts line breaks. English prose averages ~4.5
/// characters per token, so this over-estimates it by roughly 10–30 %;
/// punctuation-heavy text is over-estimated more. The estimate is additive
/// up to rounding: `estimate(a + b) <= estimate(a) + estimate(b)`.
pub fn estimate_tokens(text: &str) -> usize {
    let (mut w, mut p, mut u, mut l) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        if c == '\n' {
            l += 1;
        } else if c.is_ascii_alphanumeric() || c == ' ' || c == '\t' {
            w += 1;
        } else if c.is_ascii() {
            p += 1;
        } else {
            u += 1;
        }
    }
    w.div_ceil(4) + p + u + l
}

/// A memory offered for the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub kind: MemoryKind,
    pub text: String,
    pub scope: Scope,
    pub priority: i32,
    /// Higher is more relevant (e.g. a search score).
    pub relevance: f32,
    /// The project the memory belongs to (`NAME#KEY`, or a name alone for a
    /// tag without key; see `nocturne_core::project`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Candidate {
    pub fn from_memory(m: &Memory, relevance: f32) -> Self {
        Candidate {
            id: m.id.clone(),
            kind: m.kind.clone(),
            text: m.text.clone(),
            scope: m.scope.clone(),
            priority: m.priority,
            relevance,
            project: ProjectTag::of_tags(&m.tags).map(|p| p.to_string()),
        }
    }
}

/// One included memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BundleItem {
    pub id: String,
    pub kind: MemoryKind,
    pub scope: Scope,
    pub priority: i32,
    pub relevance: f32,
    pub text: String,
    /// Estimated tokens of this item's markdown line.
    pub tokens: usize,
    /// The project the memory belongs to (`NAME#KEY`), shown in its line;
    /// absent for a memory of no project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// The packed context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Bundle {
    /// In presentation order: by kind (preferences, mistakes, procedures,
    /// facts, then other kinds alphabetically), most relevant first within a kind.
    pub items: Vec<BundleItem>,
    /// Estimated tokens of [`render_bundle_markdown`]'s output, framing included.
    pub used_tokens: usize,
    pub budget_tokens: usize,
    /// Ids of candidates that did not fit, in candidate order.
    pub dropped: Vec<String>,
}

const TITLE: &str = "# Relevant memories\n";

fn section_title(kind: &MemoryKind) -> String {
    let name = match kind.as_str() {
        MemoryKind::PREFERENCE => "Preferences".to_string(),
        MemoryKind::MISTAKE => "Mistakes to avoid".to_string(),
        MemoryKind::PROCEDURE => "Procedures".to_string(),
        MemoryKind::FACT => "Facts".to_string(),
        other => format!("Other: {other}"),
    };
    format!("\n## {name}\n")
}

fn item_line(id: &str, scope: &Scope, priority: i32, project: Option<&str>, text: &str) -> String {
    // One line per memory: newlines inside the text are flattened.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let prio = if priority != 0 { format!(", priority {priority}") } else { String::new() };
    let project = project.map(|p| format!(", project {p}")).unwrap_or_default();
    format!("- {flat} _({scope}{prio}{project}; {id})_\n")
}

/// Choose and order candidates for a context of at most `budget_tokens`.
///
/// Candidates are considered in presentation order — kind first
/// (`MemoryKind::rank`: preferences, mistakes, procedures, facts, others),
/// then relevance (desc), priority (desc), id — and each is taken if its
/// line (plus its section heading, and the title for the first item) still
/// fits; otherwise it is dropped and smaller later ones may still fit. The
/// counted cost is exactly the pieces [`render_bundle_markdown`] emits, so
/// `estimate_tokens(render_bundle_markdown(&b)) <= b.used_tokens <= budget_tokens`.
/// How strongly a candidate is wanted in a bundle:
/// `relevance + kind bonus + 0.02 × clamp(priority, 0, 5)`, where the kind
/// bonus is 0.3 for preferences and mistakes (standing rules), 0.15 for
/// procedures and 0 otherwise. With relevance normalised to the best hit
/// (1.0), a rule that matches the task comes first, a clearly relevant fact
/// (relevance ≥ 0.5) beats a rule that does not match, and a high-priority
/// rule beats a fact that barely matches.
pub fn selection_score(c: &Candidate) -> f32 {
    let kind = match c.kind.rank() {
        0 | 1 => 0.3,
        2 => 0.15,
        _ => 0.0,
    };
    c.relevance + kind + 0.02 * c.priority.clamp(0, 5) as f32
}

pub fn pack_bundle(candidates: &[Candidate], budget_tokens: usize) -> Bundle {
    // Choose by `selection_score` (relevance, plus a bonus for standing
    // rules and for priority), present grouped by kind.
    let mut order: Vec<(usize, &Candidate)> = candidates.iter().enumerate().collect();
    order.sort_by(|(_, a), (_, b)| {
        selection_score(b)
            .total_cmp(&selection_score(a))
            .then(a.kind.rank().cmp(&b.kind.rank()))
            .then(b.priority.cmp(&a.priority))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut used = 0usize;
    let mut items: Vec<BundleItem> = Vec::new();
    let mut kinds: Vec<&MemoryKind> = Vec::new();
    let mut taken = vec![false; candidates.len()];
    for (i, c) in order {
        let line_tokens = estimate_tokens(&item_line(&c.id, &c.scope, c.priority, c.project.as_deref(), &c.text));
        let mut cost = line_tokens;
        if items.is_empty() {
            cost += estimate_tokens(TITLE);
        }
        let new_kind = !kinds.contains(&&c.kind);
        if new_kind {
            cost += estimate_tokens(&section_title(&c.kind));
        }
        if used + cost <= budget_tokens {
            used += cost;
            if new_kind {
                kinds.push(&c.kind);
            }
            if let Some(t) = taken.get_mut(i) {
                *t = true;
            }
            items.push(BundleItem {
                id: c.id.clone(),
                kind: c.kind.clone(),
                scope: c.scope.clone(),
                priority: c.priority,
                relevance: c.relevance,
                text: c.text.clone(),
                tokens: line_tokens,
                project: c.project.clone(),
            });
        }
    }
    // Stable: within a kind, the choice order (most relevant first) stays.
    items.sort_by(|a, b| a.kind.rank().cmp(&b.kind.rank()).then_with(|| a.kind.cmp(&b.kind)));
    let dropped = candidates.iter().zip(&taken).filter(|(_, t)| !**t).map(|(c, _)| c.id.clone()).collect();
    Bundle { items, used_tokens: used, budget_tokens, dropped }
}

/// Markdown for an agent's context: a title, one section per kind, one
/// bullet per memory with its scope, priority (if not 0) and id.
/// An empty bundle renders as the empty string.
pub fn render_bundle_markdown(bundle: &Bundle) -> String {
    let mut out = String::new();
    let mut last: Option<&MemoryKind> = None;
    for it in &bundle.items {
        if out.is_empty() {
            out.push_str(TITLE);
        }
        if last != Some(&it.kind) {
            out.push_str(&section_title(&it.kind));
            last = Some(&it.kind);
        }
        out.push_str(&item_line(&it.id, &it.scope, it.priority, it.project.as_deref(), &it.text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, kind: MemoryKind, relevance: f32, priority: i32) -> Candidate {
        Candidate {
            id: id.into(),
            kind,
            text: format!("memory {id}"),
            scope: Scope::org(),
            priority,
            relevance,
            project: None,
        }
    }

    #[test]
    fn a_matching_rule_comes_first_and_a_relevant_fact_beats_an_unrelated_rule() {
        let c = [
            cand("fact-relevant", MemoryKind::fact(), 1.0, 0),
            cand("rule-unrelated", MemoryKind::preference(), 0.0, 1),
            cand("rule-matching", MemoryKind::preference(), 0.8, 0),
            cand("fact-faint", MemoryKind::fact(), 0.1, 0),
        ];
        // Room for two lines: the matching rule and the relevant fact.
        let line = |x: &Candidate| estimate_tokens(&item_line(&x.id, &x.scope, x.priority, None, &x.text));
        let budget = estimate_tokens(TITLE)
            + estimate_tokens(&section_title(&MemoryKind::preference()))
            + estimate_tokens(&section_title(&MemoryKind::fact()))
            + line(&c[2])
            + line(&c[0]);
        let two = pack_bundle(&c, budget);
        let ids: Vec<&str> = two.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["rule-matching", "fact-relevant"], "chosen by score, shown by kind");
        let all = pack_bundle(&c, 10_000);
        let ids: Vec<&str> = all.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["rule-matching", "rule-unrelated", "fact-relevant", "fact-faint"]);
        assert!(selection_score(&c[1]) > selection_score(&c[3]), "a standing rule beats a faint match");
    }

    #[test]
    fn estimate_rule() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("a, b."), 1 + 2);
        assert_eq!(estimate_tokens("line\nline"), 2 + 1);
        assert_eq!(estimate_tokens("日本"), 2);
        // Conservative on ordinary English: a 45-word sentence (≈ 50 cl100k tokens).
        let s = "The payments service must be deployed through the blue green pipeline, never by hand, \
                 because a manual deploy in March skipped the database migration and took checkout down \
                 for forty minutes while the on call engineer rolled back the release and restored traffic";
        assert!(estimate_tokens(s) >= 55, "{}", estimate_tokens(s));
    }
}
