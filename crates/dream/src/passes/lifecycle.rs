//! Memory lifecycle: outdated advice, promotion and demotion.
//!
//! A memory's *mentions* are the commands in its text: backtick spans
//! (normalized like session commands) and any multi-word command key run in
//! the batch that appears in the text. A mention is *negative* when its
//! clause says not to use it ("not", "never", "don't", "avoid", "instead
//! of", "rather than", "no longer"...) or the words right after it say it
//! fails ("fails", "is broken", "doesn't work", "is deprecated"...);
//! otherwise it is a *recommendation*.
//!
//! - **Outdated** (`retire`): a recommended command failed, followed by a
//!   working variant (a mistake instance), in ≥ `min_support` sessions newer
//!   than the memory, and in at least as many newer sessions as it simply
//!   worked. A bare tool name in plain words ("Use yarn to install
//!   dependencies.") recommends every command of that tool (`yarn`, `yarn
//!   install`...). The reason names the failure and what works instead (the
//!   most common working command); the evidence is the failures and fixes
//!   of those sessions. The new practice itself becomes a lesson through
//!   the mistakes pass (the same failures, grouped by command), in the same
//!   proposal: retire the old advice, create the new.
//! - **Promote**: at least `max(promote_min_support, min_support)`
//!   successful sessions ran every recommended command successfully and
//!   none of the warned-against ones. Memories at priority ≥ 5 are not
//!   promoted further. (The planner also turns a new finding that matches an
//!   existing memory into a promote.)
//! - **Demote**: the memory is older than `stale_days`, the batch has at
//!   least `min_support` sessions, none confirms it, no action in the batch
//!   ran any command it mentions, and (for memories mentioning no command)
//!   fewer than half of its content tokens occur anywhere in the batch.
//!   Memories at priority ≤ -3 are not demoted further.
//! - **Usefulness by outcomes** (before the two rules above): a memory is
//!   *present* in a session when its id is in `Snapshot::usages` for it
//!   (handed in a context bundle) or its advice was followed there (every
//!   recommended command worked, no warned-against one ran — the
//!   confirmation test without the success requirement). Only sessions with
//!   an outcome take part; sessions without one are left out of the
//!   comparison (the count is reported). The mean outcome of the present
//!   sessions is compared with that of comparable sessions without the
//!   memory: same agent and team as the present ones when at least
//!   `weights.min_usefulness_sessions` qualify, else same agent, else every
//!   session with an outcome. With ≥ `min_usefulness_sessions` on both
//!   sides the comparison decides: difference ≥ `weights.usefulness_margin`
//!   → promote (the planner still wants `min_support` present sessions),
//!   ≤ −margin → demote (whatever the confirmation count says); a smaller
//!   difference proves nothing and the two rules above decide. The rationale carries the numbers
//!   (`present in 6 sessions (...), mean outcome 0.92; 8 comparable sessions
//!   without it (same agent and team), mean 0.41 (+0.51)`); the proposal's
//!   stats carry every measured figure under `usefulness.<memory id>`.
//!   Without enough outcomes the two rules above apply unchanged (with
//!   "successful" meaning the outcome class where a session has one).
//!   The figure is checked first, then promote and demote as above.

use super::duplicates::memory_evidence;
use crate::context::{Context, Outcome};
use crate::fresh::is_fresh;
use crate::text::{self, parse_command};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Evidence, Memory, OpKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::policy::{MAX_PRIORITY, MIN_PRIORITY};

/// A command a memory mentions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mention {
    pub key: String,
    pub negative: bool,
}

const NEG_BEFORE: &[&str] = &[
    "not ",
    "never",
    "don't",
    "dont ",
    "do not",
    "avoid",
    "instead of",
    "rather than",
    "no longer",
    "stop using",
    "without",
    "n't ",
    "deprecated",
];
const NEG_AFTER: &[&str] = &[
    "fail",
    "is broken",
    "doesn't work",
    "does not work",
    "no longer",
    "is deprecated",
    "won't work",
    "is gone",
    "errors",
    "breaks",
    "is wrong",
    "has no",
    "is not",
    "isn't",
    "doesn't exist",
    "does not exist",
    "not found",
    "is missing",
    "needs",
    "requires",
    "won't",
];

fn polarity(lower: &str, start: usize, end: usize) -> bool {
    let before = lower.get(..start).unwrap_or("");
    let clause_start = before.rfind(['.', ';', '!', '?', '\n', '(']).map_or(0, |p| p + 1);
    let clause = before.get(clause_start..).unwrap_or("");
    let after = lower.get(end..).unwrap_or("");
    let after_end = after.find(['.', ';', '!', '?', '\n', ',']).unwrap_or(after.len()).min(40);
    let after = after.get(..after_end).unwrap_or(after);
    NEG_BEFORE.iter().any(|w| clause.contains(w)) || NEG_AFTER.iter().any(|w| after.contains(w))
}

/// Command words that are also ordinary English: named alone in prose they
/// are not a tool ("make sure", "run the tests", "find out").
const PROSE_VERBS: &[&str] = &[
    "make", "find", "test", "tests", "build", "check", "start", "watch", "time", "sort", "head", "tail", "less",
    "more", "kill", "open", "read", "edit", "file", "join", "sleep", "true", "false", "yes", "echo", "node", "deploy",
    "install", "clean", "format", "lint", "run", "stop", "help", "serve", "server", "code", "python", "cat", "set",
    "env", "use", "get", "add", "new", "top", "go", "ls", "cd", "which", "type", "touch", "wait",
];

/// True when the batch ran any command of `key` (a bare tool name covers
/// every command of that tool).
fn ran_any(ctx: &Context, key: &str) -> bool {
    ctx.runs.get(key).is_some_and(|r| !r.ran.is_empty())
        || (!key.contains(' ')
            && ctx
                .keys_by_verb
                .get(key)
                .is_some_and(|ks| ks.iter().any(|k| ctx.runs.get(k).is_some_and(|r| !r.ran.is_empty()))))
}

/// Commands mentioned by a memory text: backtick spans, plus the multi-word
/// command keys of the batch (`keys_by_verb`: first word → keys) found in
/// it, and a tool the batch ran named alone (`yarn`: every `yarn` command).
pub fn mentions(text: &str, keys_by_verb: &HashMap<String, Vec<String>>) -> Vec<Mention> {
    let lower = text.to_lowercase();
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    let mut note = |key: String, neg: bool| {
        let e = out.entry(key).or_insert(neg);
        *e = *e && neg;
    };
    // Backtick spans.
    let mut spans = Vec::new();
    let mut rest = 0;
    while let Some(a) = lower.get(rest..).and_then(|s| s.find('`')) {
        let start = rest + a + 1;
        let Some(b) = lower.get(start..).and_then(|s| s.find('`')) else { break };
        let end = start + b;
        if let Some(c) = lower.get(start..end).and_then(parse_command) {
            note(c.key, polarity(&lower, start, end + 1));
        }
        spans.push((start, end));
        rest = end + 1;
    }
    // Known multi-word keys in plain text (outside backtick spans).
    let mut prev_alnum = false;
    for (i, ch) in lower.char_indices() {
        let starts_word = ch.is_alphanumeric() && !prev_alnum;
        prev_alnum = ch.is_alphanumeric() || ch == '-' || ch == '_' || ch == '.';
        if !starts_word || spans.iter().any(|(a, b)| i >= *a && i < *b) {
            continue;
        }
        let word_end = lower
            .get(i..)
            .and_then(|r| r.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')))
            .map_or(lower.len(), |p| i + p);
        let Some(word) = lower.get(i..word_end) else { continue };
        let Some(keys) = keys_by_verb.get(word) else { continue };
        let mut any = false;
        for k in keys {
            let end = i + k.len();
            let ok_after = lower
                .get(end..)
                .and_then(|s| s.chars().next())
                .is_none_or(|c| !c.is_alphanumeric() && !matches!(c, ':' | '-' | '_' | '/'));
            if lower.get(i..).is_some_and(|r| r.starts_with(k.as_str())) && ok_after {
                note(k.clone(), polarity(&lower, i, end));
                any = true;
            }
        }
        // A tool named alone ("Use yarn to install dependencies": no
        // subcommand after it) stands for its commands, unless the word is
        // ordinary English.
        let next = lower.get(word_end..).and_then(|r| r.split_whitespace().next()).unwrap_or("");
        let alone = next.starts_with(|c: char| !c.is_alphanumeric())
            || crate::text::is_stop(next.trim_matches(|c: char| !c.is_alphanumeric()))
            || !lower.get(word_end..).is_some_and(|r| r.starts_with(' '));
        if !any && alone && word.len() >= 3 && !crate::text::is_stop(word) && !PROSE_VERBS.contains(&word) {
            note(word.to_string(), polarity(&lower, i, word_end));
        }
    }
    out.into_iter().map(|(key, negative)| Mention { key, negative }).collect()
}

fn newer(ctx: &Context, si: usize, created: Option<i64>) -> bool {
    match (ctx.sessions.get(si).and_then(|s| s.started), created) {
        (Some(s), Some(c)) => s > c,
        _ => true,
    }
}

fn sorted_contains(v: &[usize], x: usize) -> bool {
    v.binary_search(&x).is_ok()
}

pub struct Outdated;

impl Pass for Outdated {
    fn name(&self) -> &'static str {
        "outdated"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        Ok(self.findings(ctx).into())
    }
}

impl Outdated {
    fn findings(&self, ctx: &Context) -> Vec<Finding> {
        let ms = ctx.config.support_for(Category::Outdated) as usize;
        let mut out = Vec::new();
        for m in &ctx.memories {
            let created = text::parse_rfc3339(&m.created_at);
            for men in mentions(&m.text, &ctx.keys_by_verb).into_iter().filter(|x| !x.negative) {
                // A bare tool name ("Use yarn") stands for every command of that tool.
                let covers = |key: &str| {
                    key == men.key || (!men.key.contains(' ') && key.split(' ').next() == Some(men.key.as_str()))
                };
                let inst: Vec<_> = ctx
                    .mistakes_by_fail
                    .iter()
                    .filter(|(k, _)| covers(k))
                    .flat_map(|(_, idx)| idx.iter())
                    .filter_map(|i| ctx.mistakes.get(*i))
                    .filter(|i| newer(ctx, i.session, created))
                    .collect();
                let mut inst = inst;
                inst.sort_by_key(|i| (i.session, i.fail));
                let failing: BTreeSet<usize> = inst.iter().map(|i| i.session).collect();
                if failing.len() < ms {
                    continue;
                }
                let worked: BTreeSet<usize> = ctx
                    .runs
                    .iter()
                    .filter(|(k, _)| covers(k))
                    .flat_map(|(_, r)| r.ok.iter().copied())
                    .filter(|si| !failing.contains(si) && newer(ctx, *si, created))
                    .collect();
                if worked.len() > failing.len() {
                    continue;
                }
                let act = |si: usize, ai: usize| ctx.sessions.get(si).and_then(|s| s.actions.get(ai));
                let err = super::most_common(inst.iter().filter_map(|i| act(i.session, i.fail)?.error_line.as_deref()));
                // What works instead: the most common fix command (by key), shown as run.
                let fix_key = super::most_common(
                    inst.iter().filter_map(|i| act(i.session, i.fix)?.cmd.as_ref()).map(|c| c.key.as_str()),
                );
                let fix = fix_key.as_deref().and_then(|k| {
                    super::most_common(
                        inst.iter()
                            .filter_map(|i| act(i.session, i.fix)?.cmd.as_ref())
                            .filter(|c| c.key == k)
                            .map(|c| c.main.as_str()),
                    )
                });
                let mut evidence = Vec::new();
                let mut done = BTreeSet::new();
                for i in &inst {
                    if !done.insert(i.session) {
                        continue;
                    }
                    let (Some(s), Some(f), Some(x)) =
                        (ctx.sessions.get(i.session), act(i.session, i.fail), act(i.session, i.fix))
                    else {
                        continue;
                    };
                    // The failed call, its error line, the working variant: one event each.
                    evidence.extend(f.call_evidence(s.id()));
                    evidence.extend(f.error_evidence(s.id()));
                    evidence.extend(x.call_evidence(s.id()));
                }
                let rationale = format!(
                    "outdated: it recommends `{}`, which failed in {} sessions newer than the memory ({}){}",
                    men.key,
                    failing.len(),
                    err.as_deref().unwrap_or("failed"),
                    fix.as_deref().map(|f| format!("; `{f}` works instead")).unwrap_or_default()
                );
                out.push(Finding {
                    repeats: 0,
                    pass: "outdated",
                    category: Category::Outdated,
                    op: OpKind::Retire,
                    kind: m.kind.clone(),
                    text: m.text.clone(),
                    targets: vec![m.id.clone()],
                    confidence: (0.5 + 0.08 * failing.len() as f64).min(0.95),
                    sessions: failing,
                    evidence,
                    rationale,
                    tags: Vec::new(),
                    key_terms: Vec::new(),
                });
                break;
            }
        }
        out
    }
}

/// Sessions (sorted) where a memory's advice was demonstrably followed:
/// every command it recommends ran and worked, and none it warns against
/// ran. Empty when it recommends no command.
pub fn followed(ctx: &Context, men: &[Mention]) -> Vec<usize> {
    let empty = crate::context::Runs::default();
    let runs = |k: &str| ctx.runs.get(k).unwrap_or(&empty);
    let pos: Vec<&str> = men.iter().filter(|x| !x.negative).map(|x| x.key.as_str()).collect();
    let neg: Vec<&str> = men.iter().filter(|x| x.negative).map(|x| x.key.as_str()).collect();
    let Some(first) = pos.first() else { return Vec::new() };
    runs(first)
        .ok
        .iter()
        .copied()
        .filter(|si| pos.iter().all(|k| sorted_contains(&runs(k).ok, *si)))
        .filter(|si| neg.iter().all(|k| !sorted_contains(&runs(k).ran, *si)))
        .collect()
}

/// A memory's usefulness figure: mean outcome of the sessions it was
/// present in against comparable sessions without it. Only sessions with an
/// outcome take part.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Sessions with an outcome where the memory was present (sorted).
    pub present: Vec<usize>,
    /// Of those, handed in a context bundle / with the advice followed.
    pub via_usage: usize,
    pub via_followed: usize,
    /// Sessions where it was present but that have no outcome (left out).
    pub present_unscored: usize,
    pub present_mean: f64,
    /// Comparable sessions with an outcome where it was absent (sorted).
    pub absent: Vec<usize>,
    pub absent_mean: f64,
    /// How `absent` was chosen: `same agent and team`, `same agent` or
    /// `all sessions with an outcome`.
    pub cohort: &'static str,
}

impl Figure {
    pub fn difference(&self) -> f64 {
        self.present_mean - self.absent_mean
    }

    /// Enough sessions on both sides to judge.
    pub fn measured(&self, w: &crate::OutcomeWeights) -> bool {
        let min = w.min_usefulness_sessions.max(1) as usize;
        self.present.len() >= min && self.absent.len() >= min
    }

    /// `present in 6 sessions (...), mean outcome 0.92; 8 comparable sessions without it (...), mean 0.41 (+0.51)`.
    pub fn describe(&self) -> String {
        let mut how = Vec::new();
        if self.via_usage > 0 {
            how.push(format!("{} handed in a context bundle", self.via_usage));
        }
        if self.via_followed > 0 {
            how.push(format!("{} followed its advice", self.via_followed));
        }
        if self.present_unscored > 0 {
            how.push(format!("{} more without an outcome left out", self.present_unscored));
        }
        format!(
            "present in {} sessions ({}), mean outcome {:.2}; {} comparable sessions without it ({}), mean {:.2} ({:+.2})",
            self.present.len(),
            how.join("; "),
            self.present_mean,
            self.absent.len(),
            self.cohort,
            self.absent_mean,
            self.difference()
        )
    }
}

/// The measured usefulness figure of every memory that has one, as the
/// proposal's `usefulness.<memory id>` stats.
fn usefulness_stats(ctx: &Context) -> BTreeMap<String, serde_json::Value> {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut stats = BTreeMap::new();
    for m in &ctx.memories {
        let men = mentions(&m.text, &ctx.keys_by_verb);
        let Some(f) = figure(ctx, m, &men) else { continue };
        if !f.measured(&ctx.config.weights) {
            continue;
        }
        stats.insert(
            format!("usefulness.{}", m.id),
            serde_json::json!({
                "present": f.present.len(),
                "present_mean": round(f.present_mean),
                "absent": f.absent.len(),
                "absent_mean": round(f.absent_mean),
                "difference": round(f.difference()),
                "cohort": f.cohort,
            }),
        );
    }
    stats
}

/// The figure of memory `m` (with its mentions `men`), when it was present
/// in at least one session with an outcome and some comparable session
/// without it has one. Comparable: the sessions of the same agent and team
/// as the present ones when at least `min_usefulness_sessions` of them
/// qualify, else of the same agent, else every session with an outcome.
pub fn figure(ctx: &Context, m: &Memory, men: &[Mention]) -> Option<Figure> {
    let used = ctx.used_in.get(m.id.as_str());
    let fol: BTreeSet<usize> = followed(ctx, men).into_iter().collect();
    let mut present_all: BTreeSet<usize> = fol.clone();
    present_all.extend(used.into_iter().flatten().copied());
    let scored = |si: &usize| ctx.sessions.get(*si).and_then(|s| s.score);
    let present: Vec<usize> = present_all.iter().copied().filter(|si| scored(si).is_some()).collect();
    if present.is_empty() {
        return None;
    }
    let key =
        |si: usize| ctx.sessions.get(si).map(|s| (s.data.session.agent.as_deref(), s.data.session.team.as_deref()));
    let keys: BTreeSet<_> = present.iter().filter_map(|si| key(*si)).collect();
    let agents: BTreeSet<_> = keys.iter().map(|k| k.0).collect();
    let others: Vec<usize> =
        (0..ctx.sessions.len()).filter(|si| !present_all.contains(si) && scored(si).is_some()).collect();
    let min = ctx.config.weights.min_usefulness_sessions.max(1) as usize;
    let same_team: Vec<usize> =
        others.iter().copied().filter(|si| key(*si).is_some_and(|k| keys.contains(&k))).collect();
    let same_agent: Vec<usize> =
        others.iter().copied().filter(|si| key(*si).is_some_and(|k| agents.contains(&k.0))).collect();
    let (absent, cohort) = if same_team.len() >= min {
        (same_team, "same agent and team")
    } else if same_agent.len() >= min {
        (same_agent, "same agent")
    } else {
        (others, "all sessions with an outcome")
    };
    if absent.is_empty() {
        return None;
    }
    let mean = |v: &[usize]| v.iter().filter_map(scored).sum::<f64>() / v.len().max(1) as f64;
    Some(Figure {
        via_usage: present.iter().filter(|si| used.is_some_and(|u| u.contains(si))).count(),
        via_followed: present.iter().filter(|si| fol.contains(si)).count(),
        present_unscored: present_all.len() - present.len(),
        present_mean: mean(&present),
        absent_mean: mean(&absent),
        present,
        absent,
        cohort,
    })
}

/// Promote or demote `m` by its measured figure (nothing when the
/// difference is under the margin).
fn outcome_finding(ctx: &Context, m: &Memory, fig: &Figure, pos: &[&str]) -> Option<Finding> {
    let w = &ctx.config.weights;
    let d = fig.difference();
    let op = if d >= w.usefulness_margin && m.priority < MAX_PRIORITY {
        OpKind::Promote
    } else if d <= -w.usefulness_margin && m.priority > MIN_PRIORITY {
        OpKind::Demote
    } else {
        return None;
    };
    // Only sessions new to the memory count (see `crate::fresh`): the same
    // outcomes never move it twice.
    let fresh: Vec<usize> = fig.present.iter().copied().filter(|si| is_fresh(ctx, m, *si)).collect();
    let cat = if op == OpKind::Promote { Category::Promote } else { Category::Demote };
    if fresh.len() < ctx.config.support_for(cat) as usize {
        return None;
    }
    let mut evidence = Vec::new();
    for si in &fresh {
        let Some(s) = ctx.sessions.get(*si) else { continue };
        let acts: Vec<_> = pos
            .iter()
            .filter_map(|k| {
                s.actions.iter().find(|a| a.outcome == Outcome::Ok && a.cmd.as_ref().is_some_and(|c| c.key == *k))
            })
            .collect();
        // The calls that followed the advice, one event each; a session the
        // memory was only handed to is cited as a whole (no event, no quote;
        // the rationale carries the outcome figures).
        let before = evidence.len();
        evidence.extend(acts.iter().filter_map(|a| a.call_evidence(s.id())));
        if evidence.len() == before {
            evidence.push(Evidence { session: s.id().to_string(), events: Vec::new(), quote: String::new() });
        }
    }
    let (category, verdict) = if op == OpKind::Promote {
        (Category::Promote, "better outcomes with it")
    } else {
        (Category::Demote, "worse outcomes with it")
    };
    Some(Finding {
        repeats: 0,
        pass: "usefulness",
        category,
        op,
        kind: m.kind.clone(),
        text: m.text.clone(),
        targets: vec![m.id.clone()],
        rationale: format!("{verdict}: {}", fig.describe()),
        confidence: (0.5 + 0.03 * fig.present.len().min(fig.absent.len()) as f64 + 0.3 * d.abs()).min(0.95),
        sessions: fresh.iter().copied().collect(),
        evidence,
        tags: Vec::new(),
        key_terms: Vec::new(),
    })
}

pub struct Usefulness;

impl Pass for Usefulness {
    fn name(&self) -> &'static str {
        "usefulness"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        Ok(PassOutput { stats: usefulness_stats(ctx), findings: self.findings(ctx) })
    }
}

impl Usefulness {
    fn findings(&self, ctx: &Context) -> Vec<Finding> {
        let promote_min = ctx.config.promote_min_support.max(ctx.config.support_for(Category::Promote)) as usize;
        let stale = i64::from(ctx.config.stale_days) * 86_400;
        let mut out = Vec::new();
        for m in &ctx.memories {
            let men = mentions(&m.text, &ctx.keys_by_verb);
            let pos: Vec<&str> = men.iter().filter(|x| !x.negative).map(|x| x.key.as_str()).collect();
            let touched = men.iter().any(|x| ran_any(ctx, &x.key));
            // With enough sessions with an outcome on both sides, a clear
            // difference decides; an unclear one leaves the rules below.
            let fig = figure(ctx, m, &men).filter(|f| f.measured(&ctx.config.weights));
            if let Some(f) = fig.and_then(|fig| outcome_finding(ctx, m, &fig, &pos)) {
                out.push(f);
                continue;
            }
            // Successful sessions where the advice was followed, new to the memory.
            let followed_ok: Vec<usize> = followed(ctx, &men)
                .into_iter()
                .filter(|si| ctx.sessions.get(*si).is_some_and(|s| s.successful))
                .collect();
            let confirmed: Vec<usize> = followed_ok.iter().copied().filter(|si| is_fresh(ctx, m, *si)).collect();
            if confirmed.len() >= promote_min && m.priority < MAX_PRIORITY {
                let mut evidence = Vec::new();
                for si in &confirmed {
                    let Some(s) = ctx.sessions.get(*si) else { continue };
                    let acts: Vec<_> = pos
                        .iter()
                        .filter_map(|k| {
                            s.actions
                                .iter()
                                .find(|a| a.outcome == Outcome::Ok && a.cmd.as_ref().is_some_and(|c| c.key == *k))
                        })
                        .collect();
                    evidence.extend(acts.iter().filter_map(|a| a.call_evidence(s.id())));
                }
                let sessions: BTreeSet<usize> = confirmed.iter().copied().collect();
                out.push(Finding {
                    repeats: 0,
                    pass: "usefulness",
                    category: Category::Promote,
                    op: OpKind::Promote,
                    kind: m.kind.clone(),
                    text: m.text.clone(),
                    targets: vec![m.id.clone()],
                    rationale: format!(
                        "confirmed: {} successful sessions followed it ({})",
                        sessions.len(),
                        pos.iter().map(|k| format!("`{k}` worked")).collect::<Vec<_>>().join(", ")
                    ),
                    confidence: (0.5 + 0.05 * sessions.len() as f64).min(0.95),
                    sessions,
                    evidence,
                    tags: Vec::new(),
                    key_terms: Vec::new(),
                });
                continue;
            }
            // Demotion, measured from the memory's last change.
            let changed = text::parse_rfc3339(&m.updated_at).or_else(|| text::parse_rfc3339(&m.created_at));
            let (Some(now), Some(created)) = (ctx.now, changed) else { continue };
            if now - created < stale
                || !followed_ok.is_empty()
                || touched
                || m.priority <= MIN_PRIORITY
                || ctx.sessions.len() < ctx.config.support_for(Category::Demote) as usize
            {
                continue;
            }
            if men.is_empty() {
                let toks = text::content_tokens(&m.text);
                let seen = toks.iter().filter(|t| ctx.batch_tokens.contains(*t)).count();
                if toks.len() < 2 || seen * 2 >= toks.len() {
                    continue;
                }
            }
            let days = (now - created) / 86_400;
            out.push(Finding {
                repeats: 0,
                pass: "usefulness",
                category: Category::Demote,
                op: OpKind::Demote,
                kind: m.kind.clone(),
                text: m.text.clone(),
                targets: vec![m.id.clone()],
                sessions: BTreeSet::new(),
                evidence: memory_evidence(m),
                confidence: 0.6,
                rationale: format!(
                    "unconfirmed: last changed {days} days ago ({}) and neither followed nor mentioned in any of the {} sessions of this dream",
                    m.updated_at,
                    ctx.sessions.len()
                ),
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

    #[test]
    fn mentions_have_polarity() {
        let keys = HashMap::new();
        let m = mentions("`npm test` fails here; use `npm run test:unit` instead.", &keys);
        assert_eq!(
            m,
            vec![
                Mention { key: "npm run test:unit".into(), negative: false },
                Mention { key: "npm test".into(), negative: true }
            ]
        );
        let m = mentions("Use `pnpm install`, not `npm install`.", &keys);
        assert!(m.contains(&Mention { key: "npm install".into(), negative: true }));
        assert!(m.contains(&Mention { key: "pnpm install".into(), negative: false }));
        let keys: HashMap<String, Vec<String>> = [("docker".to_string(), vec!["docker compose up".to_string()])].into();
        let m = mentions("Start the stack with docker compose up before testing", &keys);
        assert_eq!(m, vec![Mention { key: "docker compose up".into(), negative: false }]);
        let keys: HashMap<String, Vec<String>> = [
            ("yarn".to_string(), vec!["yarn install".to_string()]),
            ("kubectl".to_string(), vec!["kubectl rollout".to_string()]),
        ]
        .into();
        assert_eq!(
            mentions("Use yarn to install dependencies.", &keys),
            vec![Mention { key: "yarn".into(), negative: false }]
        );
        assert!(mentions("Deploy with kubectl apply -f k8s/.", &keys).is_empty(), "another kubectl command");
    }
}
