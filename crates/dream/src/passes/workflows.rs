//! Workflows shared by successful sessions.
//!
//! Rule: each successful session (see `context::is_successful`) becomes the
//! ordered list of its distinct steps (a step is a command key such as
//! `cargo test`, or `Tool file` for file tools; running a script file with
//! an interpreter — `python reproduce_bug.py`, `node check.js` — is one
//! role, shown as "run the script", since each session names its own
//! script), by first occurrence. Steps
//! that are known noise (`ls`, `pwd`, `cat`, `git status`...), that occur in
//! more than 90% of successful sessions (when there are at least 10), or in
//! fewer than `min_support` are dropped. A directed edge a→b is *strong*
//! when a comes before b in at least `min_support` sessions and at least
//! twice as often as b before a — steps scattered at random positions never
//! form strong edges. Workflows are paths of 3..6 strong edges whose exact
//! ordered support (sessions containing all steps in that order) is at
//! least `min_support`. Patterns must hang together: their support is at
//! least half the rarest step's document frequency; each step is present in
//! ≥ 75% (or twice its base rate, up to 90%) of the sessions that have the
//! other steps in order; and for every split into prefix and suffix the
//! support is ≥ 75% of the rarer part's (two unrelated habits glued together
//! are not a workflow); both tests also require binomial significance
//! (p ≤ 0.001 against the step's or part's base rate) when there are at
//! least 10 successful sessions (fewer cannot show significance), so
//! coincidences in batches with long sessions are not taken for workflows.
//!
//! **Few and meaningful, at any support threshold.** Steps that are noise
//! wherever they occur are dropped first: look-around commands, file
//! reads, and inspection or bookkeeping tools (`Grep`, `Glob`,
//! `TodoWrite`, `WebSearch`, `find_file`...). Only maximal patterns are
//! reported: no reported pattern is a sub-sequence of another (a pattern
//! gives way to a longer one containing it with ≥ 70% of its support, then
//! of any two nested ones the better supported stays). And the pass keeps
//! at most `max_workflows` findings per dream (default 10), the best
//! supported first; the number cut is the `workflows.capped` stat. The
//! search is bounded (200,000 extensions), so it never blows up.
//!
//! Outcomes (see `config::OutcomeWeights`): "successful" is the outcome
//! class where a session has an outcome (score ≥ `success_at`), else the
//! tool-result heuristic. Every mined pattern is then weighed over the whole
//! batch: success mass = Σ weight (score, or `neutral` without an outcome)
//! of the successful sessions that ran its steps in order, failure mass =
//! Σ (1 − score) of the sessions *failed by outcome* (score <
//! `failure_below`) that did. A pattern whose failure mass is ≥ its success
//! mass is no procedure (a sequence seen mostly in failed sessions is never
//! taught); the confidence of the others is scaled by their success share.
//!
//! **Cautions**: the same mining over the sessions failed by outcome (their
//! failed actions included as steps, steps in > 90% of all sessions dropped
//! as noise) gives shapes that recur in ≥ `min_support` failed sessions;
//! those whose failure mass exceeds their success mass become `mistake`
//! memories: "Caution: this sequence kept ending in failed sessions
//! (failure ×4): `a` → `b` → `c`; `b` itself failed in 2 of them", with the
//! outcome labels, and evidence per failed session (each step's call
//! quoting its command, each failed step's error line). Sessions without an
//! outcome are never counted as failed, so without outcomes there are no
//! cautions and procedures are mined exactly as before.

use crate::context::{Context, Outcome, SessionView};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{MemoryKind, OpKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Workflows;

const NOISE: &[&str] = &[
    "ls",
    "pwd",
    "cat",
    "echo",
    "cd",
    "git status",
    "git diff",
    "git log",
    "git show",
    "git branch",
    "which",
    "clear",
    "head",
    "tail",
    "wc",
    "tree",
    "find",
    "grep",
    "rg",
    "whoami",
    "date",
    "env",
    "true",
    "sleep",
    "less",
    "more",
    "history",
    "man",
    "file",
    "stat",
    "du",
    "df",
    "ps",
    "top",
];
const MAX_LEN: usize = 6;
const MIN_LEN: usize = 3;
const BUDGET: usize = 200_000;

struct Seq {
    session: usize,
    /// step id → (position, action index)
    pos: HashMap<u32, (usize, usize)>,
}

/// Words of a tool name that make it an inspection or bookkeeping tool
/// (`Grep`, `Glob`, `LS`, `TodoWrite`, `WebSearch`, `find_file`,
/// `scroll_down`, `BashOutput`, `ExitPlanMode`...): looking around is not a
/// step of a workflow, whatever the session.
const INSPECTION: &[&str] = &[
    "grep",
    "glob",
    "search",
    "find",
    "list",
    "ls",
    "todo",
    "view",
    "open",
    "scroll",
    "goto",
    "read",
    "think",
    "output",
    "ask",
    "exit",
    "cat",
    "tree",
    "fetch",
    "browse",
    "screenshot",
    "wait",
    "sleep",
];

/// The words of a tool name (`TodoWrite` → todo, write; `find_file` → find, file).
fn tool_words(tool: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in tool.chars() {
        if !c.is_alphanumeric() {
            out.push(std::mem::take(&mut cur));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase();
        cur.extend(c.to_lowercase());
    }
    out.push(cur);
    out.retain(|w| !w.is_empty());
    out
}

/// True for a step that is noise wherever it occurs: a known look-around
/// command (`ls`, `cat`, `git status`...), reading a file (`read x.rs`),
/// or a call of an inspection or bookkeeping tool (see [`INSPECTION`]).
fn is_noise(label: &str) -> bool {
    if NOISE.contains(&label) || label.split(' ').next().is_some_and(|v| v != "git" && NOISE.contains(&v)) {
        return true;
    }
    if label.starts_with("read ") {
        return true;
    }
    // A label with no space is a tool called without a command or a file.
    !label.contains(' ') && tool_words(label).iter().any(|w| INSPECTION.contains(&w.as_str()))
}

/// The step of running a script file of the workspace, whatever its name
/// or interpreter (`python reproduce_bug.py`, `python3 tests/x.py`, `node
/// check.js`): one role, so sessions that each write their own script
/// share the step.
const RUN_SCRIPT: &str = "run the script";

const INTERPRETERS: &[&str] = &["python", "python3", "node", "ruby", "bash", "sh", "perl", "php", "deno", "bun", "tsx"];
const SCRIPTS: &[&str] = &[".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".sh", ".pl", ".php"];

/// A step's label: its role when it has one (see [`RUN_SCRIPT`]), else
/// the action's label (command key, `tool file`).
fn step_label(a: &crate::actions::Action) -> &str {
    let Some(c) = &a.cmd else { return a.label.as_str() };
    let verb = c.verb.to_lowercase();
    let script = c.words.iter().skip(1).find(|w| !w.starts_with('-'));
    let runs_script = INTERPRETERS.contains(&verb.as_str())
        && c.words.iter().skip(1).take_while(|w| w.starts_with('-')).all(|w| !matches!(w.as_str(), "-m" | "-c" | "-e"))
        && script.is_some_and(|w| SCRIPTS.iter().any(|x| w.to_lowercase().ends_with(x)));
    if runs_script {
        RUN_SCRIPT
    } else {
        a.label.as_str()
    }
}

/// A pattern: step ids into `Mined::labels`, and indexes into `Mined::seqs`
/// of the sessions supporting it in order.
type Pattern = (Vec<u32>, Vec<usize>);

struct Mined<'c> {
    labels: Vec<&'c str>,
    seqs: Vec<Seq>,
    patterns: Vec<Pattern>,
}

/// A session's distinct step labels by first occurrence, with the action
/// index; noise steps dropped, failed actions too unless `with_failed`.
fn steps_of<'c>(s: &'c SessionView, with_failed: bool) -> Vec<(&'c str, usize)> {
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    for (ai, a) in s.actions.iter().enumerate() {
        let label = step_label(a);
        if (!with_failed && a.outcome == Outcome::Failed) || a.outcome == Outcome::Rejected || is_noise(label) {
            continue;
        }
        if seen.insert(label) {
            list.push((label, ai));
        }
    }
    list
}

/// The action indexes of `steps` when the session ran them in this order
/// (first occurrences, any result).
fn ran_in_order(s: &SessionView, steps: &[&str]) -> Option<Vec<usize>> {
    let list = steps_of(s, true);
    let mut last: Option<usize> = None;
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let (p, ai) = list.iter().enumerate().find(|(_, (l, _))| l == step).map(|(p, (_, ai))| (p, *ai))?;
        if last.is_some_and(|l| p <= l) {
            return None;
        }
        last = Some(p);
        out.push(ai);
    }
    Some(out)
}

/// Outcome-weighted support of a step sequence over the whole batch (see
/// `OutcomeWeights`): success mass = Σ weight of the successful sessions
/// that ran it in order, failure mass = Σ (1 − score) of the failed ones.
#[derive(Debug, Default)]
struct Masses {
    success: f64,
    failure: f64,
    successful: usize,
    failed: usize,
    /// Sessions running it that have an outcome.
    with_outcome: usize,
}

fn masses(ctx: &Context, steps: &[&str]) -> Masses {
    let mut m = Masses::default();
    for s in &ctx.sessions {
        if !(s.successful || s.failed) || ran_in_order(s, steps).is_none() {
            continue;
        }
        m.with_outcome += usize::from(s.score.is_some());
        if s.successful {
            m.success += s.weight;
            m.successful += 1;
        } else {
            m.failure += 1.0 - s.weight;
            m.failed += 1;
        }
    }
    m
}

/// Mines ordered step patterns shared by the `members` sessions (the rules
/// in the module docs); `too_common(label, df)` drops ubiquitous steps.
fn mine<'c>(
    ctx: &'c Context,
    members: &[usize],
    with_failed: bool,
    too_common: &dyn Fn(&str, usize) -> bool,
) -> Mined<'c> {
    let ms = ctx.config.support_for(Category::Procedure) as usize;
    let n = members.len();
    // Distinct labels by first occurrence.
    let mut firsts: Vec<(usize, Vec<(&str, usize)>)> = Vec::new();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for &si in members {
        let Some(s) = ctx.sessions.get(si) else { continue };
        let list = steps_of(s, with_failed);
        for (l, _) in &list {
            *df.entry(l).or_default() += 1;
        }
        firsts.push((si, list));
    }
    let labels: Vec<&str> = df.iter().filter(|(l, d)| **d >= ms && !too_common(l, **d)).map(|(l, _)| *l).collect();
    let ids: HashMap<&str, u32> = labels.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
    let seqs: Vec<Seq> = firsts
        .iter()
        .map(|(si, list)| {
            let pos = list
                .iter()
                .filter_map(|(l, ai)| ids.get(l).map(|id| (*id, *ai)))
                .enumerate()
                .map(|(p, (id, ai))| (id, (p, ai)))
                .collect();
            Seq { session: *si, pos }
        })
        .collect();
    let mut before: HashMap<(u32, u32), usize> = HashMap::new();
    for s in &seqs {
        let mut items: Vec<(usize, u32)> = s.pos.iter().map(|(id, (p, _))| (*p, *id)).collect();
        items.sort_unstable();
        for (i, (_, a)) in items.iter().enumerate() {
            for (_, b) in items.iter().skip(i + 1) {
                *before.entry((*a, *b)).or_default() += 1;
            }
        }
    }
    let df_of = |id: u32| labels.get(id as usize).and_then(|l| df.get(l)).copied().unwrap_or(0);
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); labels.len()];
    for (&(a, b), &c) in &before {
        let rev = before.get(&(b, a)).copied().unwrap_or(0);
        let cooc = c + rev;
        let (da, db) = (df_of(a), df_of(b));
        if c >= ms && c * 10 >= cooc * 8 && cooc * 2 >= da.min(db) {
            if let Some(v) = adj.get_mut(a as usize) {
                v.push(b);
            }
        }
    }
    for v in &mut adj {
        v.sort_unstable();
    }
    let mut postings: Vec<Vec<usize>> = vec![Vec::new(); labels.len()];
    for (k, s) in seqs.iter().enumerate() {
        for id in s.pos.keys() {
            if let Some(p) = postings.get_mut(*id as usize) {
                p.push(k);
            }
        }
    }
    let mut patterns: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
    let mut budget = BUDGET;
    for start in 0..labels.len() as u32 {
        let Some(p) = postings.get(start as usize) else { continue };
        let state: Vec<(usize, usize)> =
            p.iter().filter_map(|k| Some((*k, seqs.get(*k)?.pos.get(&start)?.0))).collect();
        grow(&mut vec![start], &state, &adj, &seqs, ms, &mut budget, &mut patterns);
    }
    // Steps must be tied together: the pattern's support is at least half
    // of the rarest step's document frequency.
    patterns.retain(|(p, s)| p.iter().map(|id| df_of(*id)).min().is_some_and(|m| s.len() * 2 >= m));
    // Every step must depend on the others: among sessions having the
    // rest of the pattern in order, the share that also has this step
    // must be at least twice its base rate (capped at 0.9), so a step
    // that is merely common is not part of a workflow; and that share must
    // be significant (binomial tail at the base rate ≤ 0.001).
    patterns.retain(|(p, s)| {
        p.iter().enumerate().all(|(i, id)| {
            let rest: Vec<u32> = p.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| *x).collect();
            let base = seqs.iter().filter(|q| ordered_in(q, &rest)).count().max(1);
            let conf = s.len() as f64 / base as f64;
            let rate = df_of(*id) as f64 / n.max(1) as f64;
            conf >= (2.0 * rate).clamp(0.75, 0.9) && (n < 10 || binomial_tail(base, s.len(), rate) <= ALPHA)
        })
    });
    // No pattern may be two unrelated ones glued together: for every
    // split into a prefix and a suffix, the pattern's support must be at
    // least 75% of the rarer part's, and more than chance would give.
    patterns.retain(|(p, s)| {
        (1..p.len()).all(|k| {
            let (a, b) = p.split_at(k);
            let sa = seqs.iter().filter(|q| ordered_in(q, a)).count();
            let sb = seqs.iter().filter(|q| ordered_in(q, b)).count();
            let rate = sa.max(sb) as f64 / n.max(1) as f64;
            s.len() * 4 >= sa.min(sb) * 3 && (n < 10 || binomial_tail(sa.min(sb), s.len(), rate) <= ALPHA)
        })
    });
    Mined { labels, seqs, patterns: maximal(patterns) }
}

/// Each step as its key, with the most common real command when it differs
/// and at least two of the sessions ran it (one session's `edit 287:296`
/// says nothing about the others').
fn shown_steps(ctx: &Context, m: &Mined, p: &[u32], sup: &[usize]) -> Vec<String> {
    p.iter()
        .filter_map(|id| Some((id, *m.labels.get(*id as usize)?)))
        .map(|(id, label)| {
            let mains: Vec<&str> = sup
                .iter()
                .filter_map(|k| {
                    let seq = m.seqs.get(*k)?;
                    let (_, ai) = seq.pos.get(id)?;
                    let a = ctx.sessions.get(seq.session)?.actions.get(*ai)?;
                    a.cmd.as_ref().map(|c| c.main.as_str()).or(a.path.as_deref())
                })
                .collect();
            let common = super::most_common(mains.iter().copied())
                .filter(|x| mains.len() < 2 || mains.iter().filter(|m| **m == x.as_str()).count() >= 2);
            match common {
                // A role is shown as words: its commands name each session's own script.
                _ if label == RUN_SCRIPT => RUN_SCRIPT.to_string(),
                Some(x) if x != label && !label.ends_with(&format!(" {x}")) => {
                    format!("`{label}` (`{}`)", crate::text::truncate(&x, 80))
                }
                _ => format!("`{label}`"),
            }
        })
        .collect()
}

/// `failure ×4, 2 ×1`: outcome labels by count (most common first).
fn label_counts<'c>(labels: impl IntoIterator<Item = &'c str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(l, c)| format!("{} ×{c}", crate::text::truncate(l, 40))).collect::<Vec<_>>().join(", ")
}

impl Pass for Workflows {
    fn name(&self) -> &'static str {
        "workflows"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let (findings, capped) = self.findings(ctx);
        let mut out = PassOutput::from(findings);
        if capped > 0 {
            out.stats.insert("workflows.capped".into(), capped.into());
        }
        Ok(out)
    }
}

impl Workflows {
    fn findings(&self, ctx: &Context) -> (Vec<Finding>, usize) {
        let mut out = procedures(ctx);
        out.extend(cautions(ctx));
        // The cap: the best supported first (longer, then by text, break ties).
        out.sort_by(|a, b| {
            b.sessions
                .len()
                .cmp(&a.sessions.len())
                .then(b.key_terms.len().cmp(&a.key_terms.len()))
                .then(a.text.cmp(&b.text))
        });
        let capped = out.len().saturating_sub(ctx.config.max_workflows);
        out.truncate(ctx.config.max_workflows);
        (out, capped)
    }
}

fn procedures(ctx: &Context) -> Vec<Finding> {
    let succ: Vec<usize> =
        (0..ctx.sessions.len()).filter(|i| ctx.sessions.get(*i).is_some_and(|s| s.successful)).collect();
    let n = succ.len();
    let mined = mine(ctx, &succ, false, &|_, d| n >= 10 && d * 10 > n * 9);
    let (labels, seqs) = (&mined.labels, &mined.seqs);
    let mut out = Vec::new();
    for (p, sup) in &mined.patterns {
        let steps: Vec<&str> = p.iter().filter_map(|id| labels.get(*id as usize).copied()).collect();
        // A sequence that fails at least as much as it succeeds (outcome-weighted) is no procedure.
        let mass = masses(ctx, &steps);
        if mass.failure >= mass.success && mass.failed > 0 {
            continue;
        }
        let mut evidence = Vec::new();
        let mut sessions = BTreeSet::new();
        for k in sup {
            let Some(seq) = seqs.get(*k) else { continue };
            let Some(sv) = ctx.sessions.get(seq.session) else { continue };
            sessions.insert(seq.session);
            // One evidence per step: the call, quoting its command or file.
            let acts: Vec<_> =
                p.iter().filter_map(|id| seq.pos.get(id)).filter_map(|(_, ai)| sv.actions.get(*ai)).collect();
            evidence.extend(acts.iter().filter_map(|a| a.call_evidence(sv.id())));
        }
        evidence.sort();
        let shown = shown_steps(ctx, &mined, p, sup);
        let text = format!("Workflow that works here, in this order: {}.", shown.join(" → "));
        let share = if mass.failed > 0 { mass.success / (mass.success + mass.failure) } else { 1.0 };
        let confidence =
            (0.4 + 0.05 * sessions.len() as f64 + 0.03 * steps.len() as f64).min(0.95) * (0.5 + 0.5 * share);
        let mut rationale = format!(
            "{} successful sessions ran these {} steps in this order (of {n} successful sessions)",
            sessions.len(),
            steps.len()
        );
        if mass.with_outcome > 0 {
            rationale.push_str(&format!(
                "; outcome-weighted: success {:.2} over {} sessions vs failure {:.2} over {} failed sessions",
                mass.success, mass.successful, mass.failure, mass.failed
            ));
        }
        out.push(Finding {
            repeats: 0,
            pass: "workflows",
            category: Category::Procedure,
            op: OpKind::Create,
            kind: MemoryKind::procedure(),
            text,
            targets: Vec::new(),
            rationale,
            sessions,
            evidence,
            confidence,
            tags: vec!["workflow".into()],
            key_terms: steps.iter().map(|s| s.to_lowercase()).collect(),
        });
    }
    out
}

/// Workflow shapes that keep ending in failed sessions (by outcome): mined
/// like procedures over the failed sessions (failed actions included), kept
/// when their failure mass exceeds their success mass; steps present in
/// more than 90% of all sessions (with ≥ 10 sessions) are noise.
fn cautions(ctx: &Context) -> Vec<Finding> {
    let ms = ctx.config.support_for(Category::Procedure) as usize;
    let failed: Vec<usize> =
        (0..ctx.sessions.len()).filter(|i| ctx.sessions.get(*i).is_some_and(|s| s.failed)).collect();
    if failed.len() < ms {
        return Vec::new();
    }
    let all = ctx.sessions.len();
    let mut df_all: HashMap<&str, usize> = HashMap::new();
    for s in &ctx.sessions {
        for (l, _) in steps_of(s, true) {
            *df_all.entry(l).or_default() += 1;
        }
    }
    let common = |l: &str, _: usize| all >= 10 && df_all.get(l).copied().unwrap_or(0) * 10 > all * 9;
    let mined = mine(ctx, &failed, true, &common);
    let mut out = Vec::new();
    for (p, sup) in &mined.patterns {
        let steps: Vec<&str> = p.iter().filter_map(|id| mined.labels.get(*id as usize).copied()).collect();
        let mass = masses(ctx, &steps);
        if mass.failure <= mass.success {
            continue;
        }
        let mut evidence = Vec::new();
        let mut sessions = BTreeSet::new();
        let mut labels = Vec::new();
        // Steps whose own call failed, by the number of sessions.
        let mut failing: BTreeMap<&str, usize> = BTreeMap::new();
        for k in sup {
            let Some(seq) = mined.seqs.get(*k) else { continue };
            let Some(sv) = ctx.sessions.get(seq.session) else { continue };
            sessions.insert(seq.session);
            let label = sv.label.unwrap_or("failed");
            labels.push(label);
            let acts: Vec<_> =
                p.iter().filter_map(|id| seq.pos.get(id)).filter_map(|(_, ai)| sv.actions.get(*ai)).collect();
            // One evidence per step call, and per failed step its error
            // line (the outcome label and score are in the rationale).
            for a in &acts {
                evidence.extend(a.call_evidence(sv.id()));
                if a.outcome == Outcome::Failed {
                    *failing.entry(step_label(a)).or_default() += 1;
                    evidence.extend(a.error_evidence(sv.id()));
                }
            }
        }
        evidence.sort();
        let shown = shown_steps(ctx, &mined, p, sup);
        let outcomes = label_counts(labels.iter().copied());
        let mut failing: Vec<(&str, usize)> = failing.into_iter().collect();
        failing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let failing_part = failing
            .iter()
            .take(2)
            .map(|(l, c)| format!("`{l}` itself failed in {c} of them"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "Caution: this sequence kept ending in failed sessions ({outcomes}): {}{}.",
            shown.join(" → "),
            if failing_part.is_empty() { String::new() } else { format!("; {failing_part}") }
        );
        let share = mass.failure / (mass.failure + mass.success);
        let confidence = ((0.35 + 0.05 * sessions.len() as f64).min(0.9) * share).clamp(0.0, 1.0);
        let rationale = format!(
            "{} failed sessions (outcomes: {outcomes}) ran these {} steps in this order, against {} successful \
             sessions; outcome-weighted failure {:.2} vs success {:.2}",
            sessions.len(),
            steps.len(),
            mass.successful,
            mass.failure,
            mass.success
        );
        out.push(Finding {
            repeats: 0,
            pass: "workflows",
            category: Category::Mistake,
            op: OpKind::Create,
            kind: MemoryKind::mistake(),
            text,
            targets: Vec::new(),
            rationale,
            sessions,
            evidence,
            confidence,
            tags: vec!["workflow".into(), CAUTION.into()],
            key_terms: steps.iter().map(|s| s.to_lowercase()).collect(),
        });
    }
    out
}

use crate::policy::CAUTION_TAG as CAUTION;

fn grow(
    path: &mut Vec<u32>,
    state: &[(usize, usize)],
    adj: &[Vec<u32>],
    seqs: &[Seq],
    ms: usize,
    budget: &mut usize,
    out: &mut Vec<(Vec<u32>, Vec<usize>)>,
) {
    if path.len() >= MIN_LEN {
        out.push((path.clone(), state.iter().map(|(k, _)| *k).collect()));
    }
    if path.len() >= MAX_LEN {
        return;
    }
    let Some(last) = path.last().copied() else { return };
    let Some(next) = adj.get(last as usize) else { return };
    for &b in next {
        if path.contains(&b) || *budget == 0 {
            continue;
        }
        *budget -= 1;
        let st: Vec<(usize, usize)> = state
            .iter()
            .filter_map(|(k, p)| {
                let q = seqs.get(*k)?.pos.get(&b)?.0;
                (q > *p).then_some((*k, q))
            })
            .collect();
        if st.len() >= ms {
            path.push(b);
            grow(path, &st, adj, seqs, ms, budget, out);
            path.pop();
        }
    }
}

/// Significance level of the chance tests (many candidate steps are tested,
/// so it is strict).
const ALPHA: f64 = 0.001;

/// P(X ≥ k) for X ~ Binomial(n, p): how likely `k` of `n` sessions would
/// show a step by chance if it occurs at its base rate `p`.
fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // log C(n, i) p^i (1-p)^(n-i), summed from i = k.
    let ln_choose =
        |n: usize, i: usize| -> f64 { (1..=i).map(|j| ((n - i + j) as f64).ln() - (j as f64).ln()).sum::<f64>() };
    (k..=n).map(|i| (ln_choose(n, i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()).sum::<f64>().min(1.0)
}

fn ordered_in(q: &Seq, steps: &[u32]) -> bool {
    let mut last: Option<usize> = None;
    for s in steps {
        match q.pos.get(s) {
            Some((p, _)) if last.is_none_or(|l| *p > l) => last = Some(*p),
            _ => return false,
        }
    }
    true
}

/// An antichain of patterns: no reported pattern is a sub-sequence of
/// another. A pattern gives way to a longer one containing it that has
/// ≥ 70% of its support (the longer says more); then, best supported first
/// (longer, then smaller ids, break ties), a pattern is kept only when it
/// neither contains nor is contained in one already kept.
fn maximal(mut patterns: Vec<Pattern>) -> Vec<Pattern> {
    patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(b.1.len().cmp(&a.1.len())).then(a.0.cmp(&b.0)));
    let mut longest: Vec<Pattern> = Vec::new();
    for (p, s) in patterns {
        let covered = longest.iter().any(|(q, qs)| is_subsequence(&p, q) && qs.len() * 10 >= s.len() * 7);
        if !covered {
            longest.push((p, s));
        }
    }
    longest.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(b.0.len().cmp(&a.0.len())).then(a.0.cmp(&b.0)));
    let mut kept: Vec<Pattern> = Vec::new();
    for (p, s) in longest {
        if !kept.iter().any(|(q, _)| is_subsequence(&p, q) || is_subsequence(q, &p)) {
            kept.push((p, s));
        }
    }
    kept
}

fn is_subsequence(p: &[u32], q: &[u32]) -> bool {
    let mut it = q.iter();
    p.iter().all(|x| it.any(|y| y == x))
}
