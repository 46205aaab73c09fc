//! What the passes read: each session reduced to its tool actions (call
//! paired with result), its users' directive sentences and its outcome.

use crate::text::{self, Cmd};
use crate::{DreamConfig, SessionData, Snapshot};
use nocturne_core::failure::looks_like_failure;
use nocturne_core::{EventKind, Memory};
use std::collections::{BTreeSet, HashMap, HashSet};

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// No result was found for the call.
    Unknown,
}

/// One tool call and its result.
#[derive(Debug, Clone)]
pub struct Action {
    pub tool: String,
    pub call_seq: u32,
    pub result_seq: Option<u32>,
    pub outcome: Outcome,
    /// The shell command, when the tool ran one.
    pub cmd: Option<Cmd>,
    /// Basename of the file a file tool touched.
    pub file: Option<String>,
    /// Its last two path components (`prisma/schema.prisma`), for display.
    pub path: Option<String>,
    /// The step label used by workflow mining (`cargo test`, `Edit schema.prisma`).
    pub label: String,
    /// The first failure line of the result (for failed calls).
    pub error_line: Option<String>,
    /// The start of a failed result, lowercased (to see whether it names the fix).
    pub error_text: Option<String>,
}

/// A user sentence that states a rule.
#[derive(Debug, Clone)]
pub struct Directive {
    pub seq: u32,
    pub text: String,
    pub tokens: Vec<String>,
}

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

/// A failing command followed, in the same session, by a working variant.
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
    pub now: Option<i64>,
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

/// How far after a failure a working variant may come (in tool actions).
pub const FIX_WINDOW: usize = 12;

const SHELL_KEYS: &[&str] = &["command", "cmd", "script", "commandLine", "command_line", "shell_command"];
const FILE_KEYS: &[&str] = &["file_path", "path", "filename", "file", "notebook_path", "target_file", "filePath"];

fn command_of(input: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let v = match input {
        Value::Object(m) => SHELL_KEYS.iter().find_map(|k| m.get(*k))?,
        Value::String(_) => input,
        _ => return None,
    };
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => {
            let parts: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            // ["bash", "-lc", "npm test"] → "npm test"
            if parts.len() == 3
                && parts.first().is_some_and(|p| p.ends_with("sh"))
                && parts.get(1).is_some_and(|p| p.starts_with('-') && p.ends_with('c'))
            {
                return parts.get(2).map(|s| s.to_string());
            }
            Some(parts.join(" "))
        }
        _ => None,
    }
}

fn file_of(input: &serde_json::Value) -> Option<String> {
    let m = input.as_object()?;
    let p = FILE_KEYS.iter().find_map(|k| m.get(*k)?.as_str())?;
    let b = p.rsplit(['/', '\\']).next().unwrap_or(p);
    (!b.is_empty()).then(|| b.to_string())
}

fn path_tail(input: &serde_json::Value) -> Option<String> {
    let m = input.as_object()?;
    let p = FILE_KEYS.iter().find_map(|k| m.get(*k)?.as_str())?;
    let parts: Vec<&str> = p.split(['/', '\\']).filter(|x| !x.is_empty()).collect();
    let tail = parts.get(parts.len().saturating_sub(2)..)?;
    (!tail.is_empty()).then(|| tail.join("/"))
}

/// File tools by what they do, so `Edit`, `str_replace_editor`,
/// `apply_patch` and `edit_file` make the same step.
pub fn canonical_file_tool(tool: &str) -> String {
    let t = tool.to_lowercase();
    if ["read", "view", "open", "cat", "get"].iter().any(|k| t.contains(k)) {
        "read".into()
    } else if ["edit", "write", "patch", "replace", "create", "update", "apply", "insert"].iter().any(|k| t.contains(k))
    {
        "edit".into()
    } else {
        t
    }
}

/// The most telling line of a failed result: a recognized failure line
/// that is not just an exit status, else a line mentioning an error, else
/// the first non-empty line.
fn first_error_line(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(200).collect();
    let exit_only = |l: &str| {
        let x = l.to_lowercase();
        (x.contains("exit code") || x.contains("exit status") || x.contains("exited with")) && x.len() < 40
    };
    let mentions_error = |l: &str| {
        let x = l.to_lowercase();
        ["error", "fail", "not found", "denied", "cannot", "can't", "no such", "missing", "fatal", "no rule"]
            .iter()
            .any(|k| x.contains(k))
    };
    let line = lines
        .iter()
        .find(|l| looks_like_failure(l) && !exit_only(l))
        .or_else(|| lines.iter().find(|l| mentions_error(l) && !exit_only(l)))
        .or_else(|| lines.first())?;
    Some(text::truncate(line, 200))
}

fn actions_of(sd: &SessionData) -> Vec<Action> {
    let mut actions: Vec<Action> = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for e in &sd.events {
        let b = &e.body;
        match b.kind {
            EventKind::ToolCall => {
                let tool = b.tool_name.clone().unwrap_or_else(|| "tool".into());
                let input: serde_json::Value = b
                    .tool_input
                    .as_deref()
                    .map(|t| serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.to_string())))
                    .unwrap_or(serde_json::Value::Null);
                let cmd = command_of(&input).and_then(|c| text::parse_command(&c));
                let file = if cmd.is_none() { file_of(&input) } else { None };
                let path = if file.is_some() { path_tail(&input) } else { None };
                let label = match (&cmd, &file) {
                    (Some(c), _) => c.key.clone(),
                    (None, Some(f)) => format!("{} {f}", canonical_file_tool(&tool)),
                    (None, None) => tool.clone(),
                };
                if let Some(id) = b.tool_use_id.as_deref() {
                    by_id.insert(id, actions.len());
                }
                actions.push(Action {
                    tool,
                    call_seq: e.seq,
                    result_seq: None,
                    outcome: Outcome::Unknown,
                    cmd,
                    file,
                    path,
                    label,
                    error_line: None,
                    error_text: None,
                });
            }
            EventKind::ToolResult => {
                let idx = b
                    .tool_use_id
                    .as_deref()
                    .and_then(|id| by_id.get(id).copied())
                    .filter(|i| actions.get(*i).is_some_and(|a| a.result_seq.is_none()))
                    .or_else(|| actions.iter().position(|a| a.result_seq.is_none()));
                let Some(a) = idx.and_then(|i| actions.get_mut(i)) else { continue };
                let text = b.text.as_deref().unwrap_or("");
                let failed = b.is_error || looks_like_failure(text);
                a.result_seq = Some(e.seq);
                a.outcome = if failed { Outcome::Failed } else { Outcome::Ok };
                if failed {
                    a.error_line = first_error_line(text);
                    a.error_text = Some(text.chars().take(2000).collect::<String>().to_lowercase());
                }
            }
            _ => {}
        }
    }
    actions
}

/// Phrases that make a user sentence a rule (matched on lowercase words).
const MARKERS: &[&str] = &[
    "always",
    "never",
    "prefer",
    "please use",
    "please don't",
    "please do not",
    "please avoid",
    "please make",
    "don't",
    "dont",
    "do not",
    "make sure",
    "avoid",
    "we use",
    "we do",
    "we don't",
    "we never",
    "we always",
    "we prefer",
    "we only",
    "in this repo",
    "in this project",
    "in this codebase",
    "here we",
    "stop using",
    "instead of",
    "rather than",
    "must",
    "should always",
    "should never",
    "should use",
    "no more",
    "remember to",
    "from now on",
    "going forward",
    "only use",
    "use only",
    "not allowed",
    "is forbidden",
    "keep using",
    "stick to",
    "stick with",
    "should be",
    "should",
    "i'd rather",
    "let's use",
    "let's always",
    "no longer use",
    "by convention",
    "our convention",
    "the convention",
    "house style",
    "is required",
    "are required",
];

fn is_directive(lower: &str) -> bool {
    let padded = format!(" {} ", lower.replace(['’', '`'], "'").replace([',', ':'], " "));
    if MARKERS.iter().any(|m| padded.contains(&format!(" {m} "))) {
        return true;
    }
    // "Use X, not Y" / "Use X over Y": an imperative with a contrast.
    let first = padded.split_whitespace().next().unwrap_or("");
    ["use", "prefer", "pick", "choose", "write", "keep", "put", "name", "format", "run"].contains(&first)
        && [" not ", " instead", " rather ", " over ", " only ", " no "].iter().any(|c| padded.contains(c))
}

fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cur = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            cur.push(*c);
            let next = chars.get(i + 1);
            if matches!(c, '.' | '!' | '?') && next.is_none_or(|n| n.is_whitespace()) {
                out.push(std::mem::take(&mut cur));
            }
        }
        out.push(cur);
    }
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn directives_of(sd: &SessionData) -> Vec<Directive> {
    let mut out = Vec::new();
    for e in &sd.events {
        if e.body.kind != EventKind::UserMessage {
            continue;
        }
        let Some(t) = e.body.text.as_deref() else { continue };
        for s in sentences(t) {
            let n = s.split_whitespace().count();
            let codeish = s.starts_with(['$', '>', '#', '|', '{', '[']) || s.contains(['{', '}']) || s.contains("=>");
            if !(3..=40).contains(&n) || s.ends_with('?') || codeish {
                continue;
            }
            if !is_directive(&s.to_lowercase()) {
                continue;
            }
            let tokens = text::content_tokens(&s);
            if tokens.is_empty() {
                continue;
            }
            out.push(Directive { seq: e.seq, text: s, tokens });
        }
    }
    out
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
/// the same file).
pub fn is_successful(actions: &[Action]) -> bool {
    let known: Vec<&Action> = actions.iter().filter(|a| a.outcome != Outcome::Unknown).collect();
    let Some(last) = known.last() else { return false };
    if last.outcome == Outcome::Failed {
        return false;
    }
    known
        .iter()
        .enumerate()
        .all(|(i, a)| a.outcome != Outcome::Failed || known.iter().skip(i + 1).any(|b| resolves(a, b)))
}

fn find_mistakes(si: usize, actions: &[Action], out: &mut Vec<MistakeInstance>) {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (i, f) in actions.iter().enumerate() {
        if f.outcome != Outcome::Failed {
            continue;
        }
        let Some(fc) = &f.cmd else { continue };
        for (j, a) in actions.iter().enumerate().skip(i + 1).take(FIX_WINDOW) {
            let Some(ac) = &a.cmd else { continue };
            if a.tool != f.tool || a.outcome != Outcome::Ok {
                continue;
            }
            let same_key = ac.key == fc.key;
            if same_key && ac.flags.iter().all(|x| fc.flags.contains(x)) {
                // The same command worked on retry: the failure was the code, not the command.
                break;
            }
            if !text::similar_commands(fc, ac) && !text::error_names(f.error_text.as_deref(), ac) {
                continue;
            }
            let fix_key = if same_key {
                let added: Vec<&str> = ac.flags.iter().filter(|x| !fc.flags.contains(x)).map(String::as_str).collect();
                format!("{} {}", ac.key, added.join(" "))
            } else {
                ac.key.clone()
            };
            if seen.insert((fc.key.clone(), fix_key.clone())) {
                out.push(MistakeInstance { session: si, fail: i, fix: j, fail_key: fc.key.clone(), fix_key });
            }
            break;
        }
    }
}

impl<'a> Context<'a> {
    pub fn build(snapshot: &'a Snapshot, config: &'a DreamConfig) -> Context<'a> {
        let mut sessions = Vec::with_capacity(snapshot.sessions.len());
        let mut batch_tokens = HashSet::new();
        let mut mistakes = Vec::new();
        // Sessions in id order, so the result does not depend on input order.
        let mut ordered: Vec<&SessionData> = snapshot.sessions.iter().collect();
        ordered.sort_by(|a, b| a.session.id.cmp(&b.session.id));
        for sd in ordered {
            let actions = actions_of(sd);
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
            find_mistakes(sessions.len(), &actions, &mut mistakes);
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
        Context {
            config,
            sessions,
            memories,
            now: text::parse_rfc3339(&config.now),
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
    fn directive_sentences_are_recognized() {
        assert!(is_directive("always use pnpm here"));
        assert!(is_directive("in this repo we use tabs"));
        assert!(is_directive("please don't touch the generated files"));
        assert!(!is_directive("can you fix the login bug"));
        assert!(is_directive("use ruff not flake8 for linting"));
        assert!(!is_directive("use the new helper for this endpoint"));
        assert_eq!(sentences("Use pnpm. Never npm! ok?"), vec!["Use pnpm.", "Never npm!", "ok?"]);
        assert_eq!(canonical_file_tool("str_replace_editor"), "edit");
        assert_eq!(canonical_file_tool("Read"), "read");
    }
}
