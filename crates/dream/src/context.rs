//! What the passes read: each session reduced to its tool actions (call
//! paired with result, see [`crate::actions`]), its failures and what
//! recovered them (see [`crate::recovery`]), its users' directive sentences
//! and its outcome.
//!
//! **Independent support.** Sessions are counted as support by *unit*
//! ([`Context::units`]): sessions of the same user (or all without one)
//! that open with the same request (their first user message, whitespace
//! and case aside) are one unit — the same request re-sent after an
//! `/undo` or an API error, or the same prompt given to several
//! sub-agents, is one attempt repeated, not several sessions agreeing. Everything else is its own unit, sub-agents
//! included: a sub-agent is a run of its own with its own tool calls, and
//! an environment error recurring in two sub-agents recurs. (A parent that
//! spawns sub-agents with one identical prompt gets one unit for all of
//! them.)

pub use crate::actions::{canonical_file_tool, Action, Family, Outcome};
pub use crate::directives::Directive;
pub use crate::recovery::{FailureInstance, Recovery, Relation, FIX_WINDOW};
use crate::{text, DreamConfig, SessionData, Snapshot};
use nocturne_core::{EventKind, Memory, Role};
use std::collections::{BTreeSet, HashMap, HashSet};

/// A session as the passes see it.
pub struct SessionView<'a> {
    pub data: &'a SessionData,
    pub actions: Vec<Action>,
    pub directives: Vec<Directive>,
    /// By the outcome when there is one (score ≥ `success_at`), else by
    /// [`is_successful`].
    pub successful: bool,
    /// Only by an outcome: score < `failure_below`.
    pub failed: bool,
    /// The outcome score (clamped to 0..1), when the session has one.
    pub score: Option<f64>,
    /// The outcome label, when the session has an outcome.
    pub label: Option<&'a str>,
    /// The outcome score, or `weights.neutral` without an outcome.
    pub weight: f64,
    /// Start time in Unix seconds.
    pub started: Option<i64>,
}

impl SessionView<'_> {
    pub fn id(&self) -> &str {
        &self.data.session.id
    }
}

/// A failing command followed, in the same session, by a working variant
/// (another command, or the same with other flags): the failures the
/// outdated-advice rule reads (see `passes::lifecycle`).
#[derive(Debug, Clone)]
pub struct MistakeInstance {
    pub session: usize,
    pub fail: usize,
    pub fix: usize,
    /// Grouping key: failing command key, then the fix key (with the flags
    /// the fix added when both keys are equal).
    pub fail_key: String,
    pub fix_key: String,
}

/// Everything the passes share.
pub struct Context<'a> {
    pub config: &'a DreamConfig,
    pub sessions: Vec<SessionView<'a>>,
    /// Active memories only.
    pub memories: Vec<&'a Memory>,
    /// Retired memories (the planner does not re-create them from old evidence).
    pub retired: Vec<&'a Memory>,
    /// Memory vectors from the service's embedder (see [`Snapshot::memory_vectors`]).
    pub memory_vectors: &'a std::collections::BTreeMap<String, Vec<f32>>,
    pub embedder: Option<&'a str>,
    /// When each memory was handed to each session (see [`Snapshot::usage_at`]).
    pub usage_at: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    pub now: Option<i64>,
    /// Every failure of the batch with its recovery (see [`crate::recovery`]),
    /// by session then action.
    pub failures: Vec<FailureInstance>,
    /// Support unit of each session (index into `sessions` → unit id; see
    /// the module docs).
    pub units: Vec<usize>,
    pub mistakes: Vec<MistakeInstance>,
    /// Content tokens seen anywhere in the batch (user text, commands, files).
    pub batch_tokens: HashSet<String>,
    pub session_index: HashMap<&'a str, usize>,
    /// For each command key: the sessions that ran it, and those where it worked.
    pub runs: HashMap<String, Runs>,
    /// Indexes into `mistakes` by failing command key.
    pub mistakes_by_fail: HashMap<String, Vec<usize>>,
    /// Multi-word command keys seen in the batch, by their first word.
    pub keys_by_verb: HashMap<String, Vec<String>>,
    /// For each memory id: the sessions it was handed to in a context bundle.
    pub used_in: HashMap<&'a str, BTreeSet<usize>>,
}

/// Where a command key ran (session indexes, sorted, unique).
#[derive(Debug, Clone, Default)]
pub struct Runs {
    pub ran: Vec<usize>,
    pub ok: Vec<usize>,
}

/// Command names that are also common words, not matched alone in prose.
const PROSE: &[&str] = &[
    "find", "test", "tests", "build", "check", "start", "watch", "time", "sort", "head", "tail", "less", "more",
    "kill", "open", "read", "edit", "file", "join", "sleep", "true", "false", "yes", "make", "echo", "node", "deploy",
    "install", "clean", "format", "lint", "run", "stop", "help", "serve", "server", "code", "python",
];

/// The operator's directive sentences of a session (see [`crate::directives`]).
fn directives_of(sd: &SessionData) -> Vec<Directive> {
    crate::directives::of(sd)
}

/// True when `later` resolves the failure of `failed`: the same file step,
/// or a command of the same tool that is the same verb family, a similar
/// command, or one the failure's output names.
fn resolves(failed: &Action, later: &Action) -> bool {
    if later.outcome != Outcome::Ok {
        return false;
    }
    match (&failed.cmd, &later.cmd) {
        (Some(f), Some(l)) => {
            failed.tool == later.tool
                && (text::similar_commands(f, l) || text::error_names(failed.error_text.as_deref(), l))
        }
        (None, None) => failed.label == later.label,
        _ => false,
    }
}

/// A session is successful when it ran at least one tool call with a known
/// result, its last known result is not a failure, and every failing call
/// was later resolved: followed by a working call of the same tool with the
/// same command verb family or a similar command (or the same file tool on
/// the same file). Rejected calls are the user's decision and count
/// neither way.
pub fn is_successful(actions: &[Action]) -> bool {
    let known: Vec<&Action> =
        actions.iter().filter(|a| a.outcome != Outcome::Unknown && a.outcome != Outcome::Rejected).collect();
    let Some(last) = known.last() else { return false };
    if last.outcome == Outcome::Failed {
        return false;
    }
    known
        .iter()
        .enumerate()
        .all(|(i, a)| a.outcome != Outcome::Failed || known.iter().skip(i + 1).any(|b| resolves(a, b)))
}

/// The key of a session's support unit: its user and the request it opens
/// with (first user message, normalized).
fn opening(sd: &SessionData) -> Option<String> {
    let e = sd.events.iter().find(|e| e.body.kind == EventKind::UserMessage && e.body.role == Role::User)?;
    let t = e.body.text.as_deref()?;
    let n = t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    (!n.is_empty()).then(|| format!("{}\u{0}{n}", sd.session.user.as_deref().unwrap_or("")))
}

/// Failures recovered by another command or flags, in the shape the
/// outdated-advice rule reads.
fn mistakes_of(failures: &[FailureInstance], sessions: &[SessionView<'_>]) -> Vec<MistakeInstance> {
    let mut seen: HashSet<(usize, String, String)> = HashSet::new();
    let mut out = Vec::new();
    for f in failures {
        let Some(r) = &f.recovery else { continue };
        if r.relation == Relation::Before {
            continue;
        }
        let Some(s) = sessions.get(f.session) else { continue };
        let (Some(fa), Some(ra)) = (s.actions.get(f.action), s.actions.get(r.action)) else { continue };
        let (Some(fc), Some(rc)) = (&fa.cmd, &ra.cmd) else { continue };
        let fix_key = if fc.key == rc.key {
            let added: Vec<&str> = rc.flags.iter().filter(|x| !fc.flags.contains(x)).map(String::as_str).collect();
            format!("{} {}", rc.key, added.join(" "))
        } else {
            rc.key.clone()
        };
        if seen.insert((f.session, fc.key.clone(), fix_key.clone())) {
            out.push(MistakeInstance {
                session: f.session,
                fail: f.action,
                fix: r.action,
                fail_key: fc.key.clone(),
                fix_key,
            });
        }
    }
    out
}

impl<'a> Context<'a> {
    pub fn build(snapshot: &'a Snapshot, config: &'a DreamConfig) -> Context<'a> {
        let mut sessions = Vec::with_capacity(snapshot.sessions.len());
        let mut batch_tokens = HashSet::new();
        let mut failures = Vec::new();
        // Sessions in id order, so the result does not depend on input order.
        let mut ordered: Vec<&SessionData> = snapshot.sessions.iter().collect();
        ordered.sort_by(|a, b| a.session.id.cmp(&b.session.id));
        for sd in ordered {
            let actions = crate::actions::actions_of(sd);
            let directives = directives_of(sd);
            let w = &config.weights;
            let outcome = snapshot
                .outcomes
                .get(&sd.session.id)
                .and_then(|o| Some((crate::OutcomeWeights::score(o.score)?, o.label.as_str())));
            let (successful, failed, weight) = match outcome {
                Some((score, _)) => (score >= w.success_at, score < w.failure_below, score),
                None => (is_successful(&actions), false, w.neutral),
            };
            let started = text::parse_rfc3339(&sd.session.started_at)
                .or_else(|| sd.events.iter().find_map(|e| e.body.timestamp.as_deref().and_then(text::parse_rfc3339)));
            for a in &actions {
                for t in a.label.split(|c: char| !c.is_alphanumeric()) {
                    if t.len() >= 2 {
                        batch_tokens.insert(text::stem(&t.to_lowercase()));
                    }
                }
            }
            for e in &sd.events {
                if e.body.kind == EventKind::UserMessage {
                    if let Some(t) = &e.body.text {
                        batch_tokens.extend(text::content_tokens(t));
                    }
                }
            }
            crate::recovery::failures_of(sessions.len(), sd, &actions, &mut failures);
            sessions.push(SessionView {
                data: sd,
                actions,
                directives,
                successful,
                failed,
                score: outcome.map(|o| o.0),
                label: outcome.map(|o| o.1),
                weight,
                started,
            });
        }
        let mistakes = mistakes_of(&failures, &sessions);
        let mut unit_ids: HashMap<String, usize> = HashMap::new();
        let units: Vec<usize> = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| match opening(s.data) {
                Some(o) => {
                    let next = sessions.len() + unit_ids.len();
                    *unit_ids.entry(o).or_insert(next)
                }
                None => i,
            })
            .collect();
        let mut runs: HashMap<String, Runs> = HashMap::new();
        for (si, s) in sessions.iter().enumerate() {
            for a in &s.actions {
                let Some(c) = &a.cmd else { continue };
                let r = runs.entry(c.key.clone()).or_default();
                if r.ran.last() != Some(&si) {
                    r.ran.push(si);
                }
                if a.outcome == Outcome::Ok && r.ok.last() != Some(&si) {
                    r.ok.push(si);
                }
            }
        }
        let mut keys_by_verb: HashMap<String, Vec<String>> = HashMap::new();
        for k in runs.keys() {
            let first = k.split(' ').next().unwrap_or(k);
            // Single words are only matched in plain text when they cannot be
            // ordinary English ("make", "find", "test" are not commands in prose).
            let plain = k.contains(' ') || (first.len() >= 4 && !text::is_stop(first) && !PROSE.contains(&first));
            if plain {
                keys_by_verb.entry(first.to_string()).or_default().push(k.clone());
            }
        }
        for v in keys_by_verb.values_mut() {
            v.sort();
        }
        let mut mistakes_by_fail: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, m) in mistakes.iter().enumerate() {
            mistakes_by_fail.entry(m.fail_key.clone()).or_default().push(i);
        }
        let session_index: HashMap<&str, usize> =
            sessions.iter().enumerate().map(|(i, s)| (s.data.session.id.as_str(), i)).collect();
        let mut used_in: HashMap<&str, BTreeSet<usize>> = HashMap::new();
        for (sid, ids) in &snapshot.usages {
            let Some(si) = session_index.get(sid.as_str()) else { continue };
            for m in ids {
                used_in.entry(m.as_str()).or_default().insert(*si);
            }
        }
        let mut memories: Vec<&Memory> = snapshot.memories.iter().filter(|m| m.is_active()).collect();
        memories.sort_by(|a, b| a.id.cmp(&b.id));
        let mut retired: Vec<&Memory> = snapshot.memories.iter().filter(|m| !m.is_active()).collect();
        retired.sort_by(|a, b| a.id.cmp(&b.id));
        Context {
            config,
            sessions,
            memories,
            retired,
            memory_vectors: &snapshot.memory_vectors,
            embedder: snapshot.embedder.as_deref(),
            usage_at: &snapshot.usage_at,
            now: text::parse_rfc3339(&config.now),
            failures,
            units,
            mistakes,
            batch_tokens,
            session_index,
            runs,
            mistakes_by_fail,
            keys_by_verb,
            used_in,
        }
    }

    /// Distinct users and teams of a set of sessions (by index).
    pub fn users_teams(&self, sessions: &BTreeSet<usize>) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut users = BTreeSet::new();
        let mut teams = BTreeSet::new();
        for s in sessions {
            if let Some(v) = self.sessions.get(*s) {
                if let Some(u) = &v.data.session.user {
                    users.insert(u.clone());
                }
                if let Some(t) = &v.data.session.team {
                    teams.insert(t.clone());
                }
            }
        }
        (users, teams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_tools_are_canonical() {
        assert_eq!(canonical_file_tool("str_replace_editor"), "edit");
        assert_eq!(canonical_file_tool("MultiEdit"), "edit");
        assert_eq!(canonical_file_tool("Read"), "read");
    }
}
