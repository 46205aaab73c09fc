//! The planner: findings → ops, through the guardrails.
//!
//! In order:
//! 1. **Focus / ignore**: findings outside the focus categories, or whose
//!    text, rationale or evidence quotes mention an ignored term
//!    (case-insensitive), are dropped.
//! 2. **Support**: a finding drawn from sessions (create, retire, update,
//!    promote) needs `min_support` distinct sessions — when the dream sets
//!    none, its category's default ([`crate::Category::default_support`]:
//!    2 for a mistake or a fact, 3 for the rest); support is counted in sessions, so
//!    repeating something inside one session never helps — except a
//!    mistake made and recovered from [`crate::REPEATS_AS_RECURRING`] times
//!    in one session, which counts as 2 ([`crate::Finding::support`]).
//!    Merge and demote concern existing memories and carry the memories'
//!    own evidence.
//! 3. **Evidence** (every pass, a model-backed one included): each
//!    evidence entry cites one event — `events[0]`, the event its quote is
//!    verbatim text of (see [`nocturne_core::quote`]: message text, tool
//!    result text, tool name or a string of the tool input, whitespace
//!    normalized; an excerpt is fine, text stitched from several events is
//!    not); further entries of `events` must exist too. An entry with no
//!    event and an empty quote cites its session as a whole. A finding
//!    citing a session that is not in the batch, an event that is not in
//!    the session, or a quote that is not in the cited event is dropped
//!    (`guardrail.dropped_unverified`). Exempt, because they are not
//!    evidence from this batch: `memory:<id>` stand-ins (a memory without
//!    stored evidence, quoting its own text) and entries that are the
//!    target memories' own stored evidence (merge, demote), checked when
//!    those memories were made.
//! 4. **Scope** of creates: see [`crate::scope`] — a mistake, procedure or
//!    fact goes to the sessions' team, else their agent, else the org; a
//!    preference is personal (`user:NAME`) unless ≥ `min_users_shared`
//!    distinct operators stated it (then team or org), and without any
//!    known operator only an agent scope is possible. No scope is invented
//!    (`user:unknown` never).
//! 5. **No re-creation**: a create matching an active memory becomes a
//!    promote of that memory — counting only the sessions that are new
//!    evidence for it ([`crate::fresh`]: not in its evidence, stored or
//!    started after its last change), and dropped when fewer than
//!    `min_support` are (so a second identical dream proposes nothing) or
//!    the memory is at the priority cap. A create matching a *retired*
//!    memory is dropped unless `min_support` sessions are newer than the
//!    retirement (then it is created again: the lesson keeps recurring).
//!    Findings with key terms (mistakes: failing and working command;
//!    workflows: the steps) match a memory whose text contains all of them
//!    (workflow cautions only match mistake memories); others (preferences)
//!    match a memory of the same kind with content-token cosine ≥ 0.6.
//! 6. **One op per target**: retire > update > merge > promote > demote;
//!    a merge loses targets that another op retires (dropped below two).
//! 7. **Redaction** of every text, quote, rationale and tag; evidence capped
//!    to `max_evidence` entries (sorted by session), confidence clamped to
//!    0..1; ops without evidence are dropped.
//! 8. **Order**: creates (mistake, procedure, preference), then retire,
//!    update, merge, promote, demote; then by text; numbered from 1.

use crate::context::Context;
use crate::passes::{cosine, Idf};
use crate::policy::{CAUTION_TAG, MAX_PRIORITY, SAME_TEXT_COSINE};
use crate::{text, Category, Finding};
use nocturne_core::secrets::redact;
use nocturne_core::{Evidence, Memory, MemoryKind, Op, OpKind, ProjectTag, Scope};
use std::collections::{BTreeMap, BTreeSet};

fn op_rank(op: OpKind) -> u8 {
    match op {
        OpKind::Create => 0,
        OpKind::Retire => 1,
        OpKind::Update => 2,
        OpKind::Merge => 3,
        OpKind::Promote => 4,
        OpKind::Demote => 5,
    }
}

fn mentions_ignored(f: &Finding, ignore: &[String]) -> bool {
    let terms: Vec<String> = ignore.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
    if terms.is_empty() {
        return false;
    }
    let hay = std::iter::once(f.text.as_str())
        .chain(std::iter::once(f.rationale.as_str()))
        .chain(f.evidence.iter().map(|e| e.quote.as_str()))
        .map(str::to_lowercase);
    let hay: Vec<String> = hay.collect();
    terms.iter().any(|t| hay.iter().any(|h| h.contains(t.as_str())))
}

/// True when `e` can be checked against the batch and holds (see step 3
/// of the module docs). `stored` holds the target memories' own evidence.
fn verified(ctx: &Context, e: &Evidence, stored: &[&Evidence]) -> bool {
    if e.session.starts_with("memory:") || stored.contains(&e) {
        return true;
    }
    let Some(s) = ctx.session_index.get(e.session.as_str()).and_then(|i| ctx.sessions.get(*i)) else { return false };
    let event = |seq: u32| {
        let evs = &s.data.events;
        evs.get(seq as usize).filter(|x| x.seq == seq).or_else(|| evs.iter().find(|x| x.seq == seq))
    };
    match e.events.first() {
        None => e.quote.trim().is_empty(),
        Some(first) => {
            let Some(ev) = event(*first) else { return false };
            e.events.iter().all(|q| event(*q).is_some()) && crate::model::quote_verified(&e.quote, &ev.body)
        }
    }
}

struct Existing<'a> {
    memories: Vec<&'a Memory>,
    lower: Vec<String>,
    vectors: Vec<Vec<(String, f64)>>,
    idf: Idf,
}

impl<'a> Existing<'a> {
    fn new(memories: Vec<&'a Memory>) -> Self {
        let tokens: Vec<Vec<String>> = memories.iter().map(|m| text::content_tokens(&m.text)).collect();
        let idf = Idf::new(tokens.iter().map(Vec::as_slice));
        let vectors = tokens.iter().map(|t| idf.vector(t)).collect();
        let lower = memories.iter().map(|m| m.text.to_lowercase()).collect();
        Existing { memories, lower, vectors, idf }
    }

    /// The active memory a new finding would duplicate, if any.
    fn matching(&self, f: &Finding) -> Option<&'a Memory> {
        let terms: Vec<String> = f.key_terms.iter().map(|t| t.to_lowercase()).filter(|t| !t.is_empty()).collect();
        if !terms.is_empty() {
            // A caution about a workflow shape is not the procedure teaching it.
            let caution = f.tags.iter().any(|t| t == CAUTION_TAG);
            // A lesson of one project is not a memory of another project
            // of the same name (a memory of no project, or one tagged by
            // name only, may be it).
            let project = ProjectTag::of_tags(&f.tags);
            let same_project = |m: &Memory| match (&project, ProjectTag::of_tags(&m.tags)) {
                (Some(ProjectTag::Keyed(a)), Some(ProjectTag::Keyed(b))) => a.key == b.key,
                (Some(a), Some(b)) => a.name() == b.name(),
                _ => true,
            };
            let hit = self.lower.iter().zip(&self.memories).position(|(l, m)| {
                terms.iter().all(|t| l.contains(t.as_str())) && (!caution || m.kind == f.kind) && same_project(m)
            });
            if let Some(m) = hit.and_then(|i| self.memories.get(i)) {
                return Some(m);
            }
        }
        if !terms.is_empty() {
            // Command findings match on their commands only: a similar text
            // about other commands is another memory.
            return None;
        }
        let v = self.idf.vector(&text::content_tokens(&f.text));
        let mut best: Option<(f64, &Memory)> = None;
        for (m, mv) in self.memories.iter().zip(&self.vectors) {
            if m.kind != f.kind {
                continue;
            }
            let c = cosine(&v, mv);
            if c >= SAME_TEXT_COSINE && best.is_none_or(|(b, _)| c > b) {
                best = Some((c, m));
            }
        }
        best.map(|(_, m)| m)
    }
}

/// A model create that says what a deterministic create of the same kind
/// says (its key terms all in the model's text, or content-token cosine ≥
/// [`SAME_TEXT_COSINE`]) is not a second memory: its evidence and sessions
/// join the deterministic finding, which is tagged as found by the model
/// too (`guardrail.model_joined_deterministic`).
fn join_model_repeats(findings: Vec<Finding>, bump: &mut impl FnMut(&str)) -> Vec<Finding> {
    let model = crate::model::PASS_NAME;
    let (mut out, from_model): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| f.pass != model || f.op != OpKind::Create);
    let tokens: Vec<Vec<String>> = out.iter().chain(&from_model).map(|f| text::content_tokens(&f.text)).collect();
    let idf = Idf::new(tokens.iter().map(Vec::as_slice));
    for m in from_model {
        let lower = m.text.to_lowercase();
        let mv = idf.vector(&text::content_tokens(&m.text));
        let same = out.iter_mut().find(|d| {
            d.pass != model
                && d.op == OpKind::Create
                && d.kind == m.kind
                && ((!d.key_terms.is_empty() && d.key_terms.iter().all(|t| lower.contains(&t.to_lowercase())))
                    || cosine(&idf.vector(&text::content_tokens(&d.text)), &mv) >= SAME_TEXT_COSINE)
        });
        match same {
            Some(d) => {
                bump("model_joined_deterministic");
                d.sessions.extend(m.sessions.iter().copied());
                for e in m.evidence {
                    if !d.evidence.contains(&e) {
                        d.evidence.push(e);
                    }
                }
                if !d.tags.iter().any(|t| t == model) {
                    d.tags.push(model.to_string());
                }
                d.rationale = format!("{}; the model pass found it too ({})", d.rationale, m.rationale);
            }
            None => out.push(m),
        }
    }
    out
}

/// Applies the guardrails and numbers the ops. Returns the ops and counters
/// of what each guardrail dropped or changed.
pub fn plan(ctx: &Context, findings: Vec<Finding>, categories: &[Category]) -> (Vec<Op>, BTreeMap<String, usize>) {
    let cfg = ctx.config;
    let mut guard: BTreeMap<String, usize> = BTreeMap::new();
    let mut bump = |k: &str| *guard.entry(k.to_string()).or_default() += 1;
    let by_id: BTreeMap<&str, &Memory> = ctx.memories.iter().map(|m| (m.id.as_str(), *m)).collect();

    let findings = join_model_repeats(findings, &mut bump);
    let mut kept: Vec<Finding> = Vec::new();
    for f in findings {
        if !categories.contains(&f.category) {
            bump("dropped_by_focus");
            continue;
        }
        if mentions_ignored(&f, &cfg.ignore) {
            bump("dropped_by_ignore");
            continue;
        }
        let from_sessions = matches!(f.op, OpKind::Create | OpKind::Retire | OpKind::Update | OpKind::Promote);
        if from_sessions && f.support() < cfg.support_for(f.category) as usize {
            bump("dropped_low_support");
            continue;
        }
        let stored: Vec<&Evidence> =
            f.targets.iter().filter_map(|t| by_id.get(t.as_str())).flat_map(|m| m.evidence.iter()).collect();
        if f.evidence.iter().any(|e| !verified(ctx, e, &stored)) {
            bump("dropped_unverified");
            continue;
        }
        kept.push(f);
    }

    // Targets retired by this proposal don't count as existing.
    let retiring: BTreeSet<String> =
        kept.iter().filter(|f| f.op == OpKind::Retire).flat_map(|f| f.targets.iter().cloned()).collect();
    let existing = Existing::new(ctx.memories.iter().copied().filter(|m| !retiring.contains(&m.id)).collect());
    let retired = Existing::new(ctx.retired.clone());
    let mut planned: Vec<(Finding, Scope, u32)> = Vec::new();
    for mut f in kept {
        let ms = cfg.support_for(f.category) as usize;
        if f.op == OpKind::Create {
            if let Some(m) = existing.matching(&f) {
                bump("create_matched_existing");
                if m.priority >= MAX_PRIORITY || !categories.contains(&Category::Promote) {
                    continue;
                }
                let fresh = crate::fresh::fresh_sessions(ctx, m, f.sessions.iter().copied());
                if fresh.len() < ms {
                    bump("dropped_no_new_evidence");
                    continue;
                }
                let ids: BTreeSet<&str> = fresh.iter().filter_map(|si| ctx.sessions.get(*si)).map(|s| s.id()).collect();
                f.evidence.retain(|e| ids.contains(e.session.as_str()));
                f.sessions = fresh;
                f.rationale = format!("already remembered as {}; {}", m.id, f.rationale);
                f.op = OpKind::Promote;
                f.category = Category::Promote;
                f.kind = m.kind.clone();
                f.text = m.text.clone();
                f.targets = vec![m.id.clone()];
                let (users, _) = ctx.users_teams(&f.sessions);
                planned.push((f, m.scope.clone(), users.len() as u32));
                continue;
            }
            if let Some(m) = retired.matching(&f) {
                let fresh = crate::fresh::fresh_sessions(ctx, m, f.sessions.iter().copied());
                if fresh.len() < ms {
                    bump("dropped_matches_retired");
                    continue;
                }
            }
            let scope = if f.pass == crate::passes::corrections::NAME {
                crate::passes::corrections::scope_for(ctx, &f.sessions)
            } else {
                crate::scope::scope_for(ctx, &f.sessions, &f.kind)
            };
            match scope {
                Some((scope, users)) => planned.push((f, scope, users)),
                None => bump("dropped_no_scope"),
            }
            continue;
        }
        let scope = f.targets.first().and_then(|t| by_id.get(t.as_str())).map_or_else(Scope::org, |m| m.scope.clone());
        let (users, _) = ctx.users_teams(&f.sessions);
        let n = users.len() as u32;
        planned.push((f, scope, n));
    }

    // One op per target.
    let target_rank = |op: OpKind| match op {
        OpKind::Retire => 0,
        OpKind::Update => 1,
        OpKind::Merge => 2,
        OpKind::Promote => 3,
        OpKind::Demote => 4,
        OpKind::Create => 5,
    };
    planned.sort_by(|a, b| {
        target_rank(a.0.op)
            .cmp(&target_rank(b.0.op))
            .then(b.0.sessions.len().cmp(&a.0.sessions.len()))
            .then(a.0.text.cmp(&b.0.text))
    });
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut final_: Vec<(Finding, Scope, u32)> = Vec::new();
    for (mut f, scope, users) in planned {
        if f.op == OpKind::Merge {
            let before = f.targets.len();
            f.targets.retain(|t| !claimed.contains(t));
            if f.targets.len() < 2 {
                bump("dropped_target_taken");
                continue;
            }
            if f.targets.len() != before {
                if let Some(m) = f.targets.first().and_then(|t| by_id.get(t.as_str())) {
                    f.text = m.text.clone();
                }
            }
        } else if f.targets.iter().any(|t| claimed.contains(t)) {
            bump("dropped_target_taken");
            continue;
        }
        claimed.extend(f.targets.iter().cloned());
        final_.push((f, scope, users));
    }

    let mut ops: Vec<Op> = final_
        .into_iter()
        .filter_map(|(f, scope, users)| {
            let mut evidence: Vec<Evidence> = f
                .evidence
                .iter()
                .map(|e| Evidence { session: e.session.clone(), events: e.events.clone(), quote: redact(&e.quote) })
                .collect();
            evidence.sort();
            evidence.dedup();
            evidence.truncate(cfg.max_evidence.max(1));
            if evidence.is_empty() {
                return None;
            }
            let support = if f.sessions.is_empty() {
                // Merge/demote: sessions named by the memories' own evidence
                // (`memory:<id>` stand-ins are not sessions).
                f.evidence
                    .iter()
                    .map(|e| e.session.as_str())
                    .filter(|s| !s.starts_with("memory:"))
                    .collect::<BTreeSet<_>>()
                    .len() as u32
            } else {
                f.sessions.len() as u32
            };
            Some(Op {
                n: 0,
                op: f.op,
                kind: f.kind,
                text: redact(&f.text),
                targets: f.targets,
                scope,
                evidence,
                support,
                users,
                confidence: if f.confidence.is_finite() { f.confidence.clamp(0.0, 1.0) } else { 0.0 },
                rationale: redact(&f.rationale),
                pass: f.pass.to_string(),
                tags: f.tags.iter().map(|t| redact(t)).collect(),
            })
        })
        .collect();
    let kind_rank = |k: &MemoryKind| match k.as_str() {
        MemoryKind::MISTAKE => 0,
        MemoryKind::PROCEDURE => 1,
        MemoryKind::PREFERENCE => 2,
        _ => 3,
    };
    ops.sort_by(|a, b| {
        op_rank(a.op)
            .cmp(&op_rank(b.op))
            .then(kind_rank(&a.kind).cmp(&kind_rank(&b.kind)))
            .then(a.text.cmp(&b.text))
            .then(a.targets.cmp(&b.targets))
    });
    for (i, op) in ops.iter_mut().enumerate() {
        op.n = i as u32 + 1;
    }
    (ops, guard)
}

#[cfg(test)]
mod tests {
    use crate::testkit::Sess;
    use crate::{dream_with, Category, Context, DreamConfig, DreamError, Finding, Pass, PassOutput, Snapshot};
    use nocturne_core::{Evidence, MemoryKind, OpKind};
    use std::collections::BTreeSet;

    /// A pass that cites whatever it is given (as a model-backed pass might).
    struct Cites(Vec<(String, Vec<Evidence>)>);

    impl Pass for Cites {
        fn name(&self) -> &'static str {
            "cites"
        }
        fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
            let findings = self
                .0
                .iter()
                .map(|(text, evidence)| Finding {
                    repeats: 0,
                    pass: "cites",
                    category: Category::Mistake,
                    op: OpKind::Create,
                    kind: MemoryKind::mistake(),
                    text: text.clone(),
                    targets: Vec::new(),
                    sessions: (0..ctx.sessions.len()).collect::<BTreeSet<usize>>(),
                    evidence: evidence.clone(),
                    confidence: 0.5,
                    rationale: "test".into(),
                    tags: Vec::new(),
                    key_terms: vec![text.to_lowercase()],
                })
                .collect();
            Ok(PassOutput { findings, stats: Default::default() })
        }
    }

    fn ev(session: &str, events: &[u32], quote: &str) -> Evidence {
        Evidence { session: session.into(), events: events.to_vec(), quote: quote.into() }
    }

    #[test]
    fn only_verbatim_quotes_of_the_cited_event_survive() {
        let sessions: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| {
                Sess::new(id)
                    .sh("npm test", "npm ERR! Missing script: \"test\"", true)
                    .sh("npm run test:unit", "ok", false)
                    .build()
            })
            .collect();
        let snap = Snapshot::from_new_sessions(1, &sessions, Vec::new(), "2026-01-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        let good = vec![ev("a", &[1], "Missing script: \"test\""), ev("b", &[2], "npm run\n  test:unit")];
        let pass = Cites(vec![
            ("good".into(), good),
            ("fabricated".into(), vec![ev("a", &[1], "npm ERR! no such script anywhere")]),
            ("stitched".into(), vec![ev("a", &[0, 1], "$ npm test\nnpm ERR! Missing script: \"test\"")]),
            ("wrong event".into(), vec![ev("a", &[0], "npm ERR! Missing script")]),
            ("missing session".into(), vec![ev("zz", &[1], "npm ERR!")]),
            ("missing event".into(), vec![ev("a", &[99], "")]),
            ("quote without event".into(), vec![ev("a", &[], "npm ERR!")]),
        ]);
        let passes: Vec<Box<dyn Pass>> = vec![Box::new(pass)];
        let p = dream_with(&snap, &cfg, "g", &passes).unwrap_or_else(|e| panic!("{e}"));
        let texts: Vec<&str> = p.ops.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, vec!["good"]);
        assert_eq!(p.stats.get("guardrail.dropped_unverified"), Some(&serde_json::json!(6)));
        // The shipped passes cite only what the events say.
        let p = crate::dream(&snap, &cfg, "d").unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.ops.is_empty());
        assert_eq!(p.stats.get("guardrail.dropped_unverified"), None, "{:?}", p.stats);
    }
}
