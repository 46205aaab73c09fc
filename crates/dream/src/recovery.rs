//! Failures and what made them work: for every failed action, one
//! [`FailureInstance`] per telling line, with the recovery seen in the same
//! session and its relation to the failed call.
//!
//! Rules, within the next [`FIX_WINDOW`] actions of the same session (a
//! sub-agent is a session of its own):
//!
//! 1. **Retry**: the first successful call of the *same operation* (same
//!    command key, same tool; for file tools the same kind: read, or
//!    edit/write, on any file).
//!    - Between the failure and the retry a file was changed (an edit or
//!      write that worked) and the failed call is not itself a file tool:
//!      the failure was the code, not the call (a red test, a compile
//!      error being fixed). No lesson: the instance is not recorded.
//!    - A successful step in between that the error *names* (`run mix
//!      format`, "Read it first") → **before** that step.
//!    - Else a command the retry's own line runs first: a real one
//!      (`mix format && git commit`) → **before** it; only shell set-up
//!      (`source .venv/bin/activate && pytest`, `cd web && npm test`) →
//!      **with** that set-up.
//!    - Else, flags the retry added (`git push --set-upstream origin x`)
//!      → **with** those flags (values that belong to one session as
//!      placeholders).
//!    - Else a preparatory step in between → **before** it: a read of the
//!      same file (Read → Edit), a search when the retry targets another
//!      file (Glob → Read), a read-like call of the same service
//!      (`get_product_details` → `modify_pending_order_items`).
//!    - Else changed arguments → **with** them (shell: the retry's command;
//!      tools: the arguments the retry added, else those it changed, and
//!      whether the user was asked in between).
//!    - Else an identical retry: with a successful step in between, that
//!      step → **before**; right away, the failure was flaky: not recorded.
//!      An orphan result (aider's output: no call, no input) has nothing
//!      to compare; there the agent's reply in between shows the fix when
//!      its SEARCH/REPLACE edit blocks add, remove or move import lines
//!      that name what the error line names (`F821 undefined name
//!      'GitRepo'` and `from aider.repo import GitRepo`) → **with** that
//!      edit ("add the missing `import` in the same edit"; [`edit_fix`]).
//! 2. **Instead**: no retry, but a successful call of a similar operation
//!    (`python` → `python3`, `pytest` → `python -m pytest`,
//!    `find_user_id_by_email` → `find_user_id_by_name_zip`, Read → Glob,
//!    WebFetch → WebSearch) — unless a file was changed in between (rule 1).
//! 3. Otherwise no recovery is visible.
//!
//! Rejected calls, transient errors, test failures and no-match exits are
//! not failures here (see [`crate::actions`]), nor are failures of calls a
//! customer made in their own turn (τ² telecom: not the agent's mistake).
//! A call whose tool the format did not name (τ-bench's flattened display)
//! has no call to compare: there the agent's requests around it stand in
//! ([`crate::replies`]): the failure is grouped by what the agent asked for
//! before the call, and its recovery is the request of the agent's next
//! message (**with**, asked: "ask the customer to provide the first name,
//! last name, and zip code"), quoted from that message — or, when the
//! value the user gave before the failing call and before the next call
//! that worked have different shapes (`9502127`, then `W9502127`), that
//! change ("the value given was `<n>`; it works with the prefix `W`").

use crate::actions::{Action, Family};
use crate::text::{self, placeholder};
use crate::SessionData;
use nocturne_core::{EventKind, Role};

/// The tool name of a call whose format gave none.
pub const UNNAMED: &str = "tool";

/// How far after a failure its recovery may come (in tool actions).
pub const FIX_WINDOW: usize = 12;

/// How a recovery relates to the failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// Another operation does the job (`python3` instead of `python`).
    Instead,
    /// A preparatory step makes the operation work (Read before Edit).
    Before,
    /// The same operation with other flags or arguments.
    With,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Instead => "instead",
            Relation::Before => "before",
            Relation::With => "with",
        }
    }
}

/// What made a failure work (see the module docs).
#[derive(Debug, Clone)]
pub struct Recovery {
    pub relation: Relation,
    /// The action that shows it: the replacement (instead), the
    /// preparatory step (before), the retry (with).
    pub action: usize,
    /// The successful retry of the failed operation (before, with).
    pub retry: Option<usize>,
    /// Grouping key: recoveries with the same key are the same advice.
    pub key: String,
    /// For memory text: the command or operation to use or run first, or
    /// the flags / argument names to change (values of one session as
    /// placeholders).
    pub display: String,
    /// For flags a retry added: those flags with their values, for memory
    /// text (`display` is then the whole retry command).
    pub flags: Option<String>,
    /// For tool arguments: the retry *added* them (`limit`, `offset`)
    /// rather than changed their values.
    pub added: bool,
    /// A user message came between the failure and the retry (the user
    /// or customer was asked for the values).
    pub asked: bool,
    /// For a fix written as an edit block in the agent's reply (aider's
    /// SEARCH/REPLACE): the reply's event and a verbatim line of the edit
    /// that shows the fix, for evidence.
    pub shown_at: Option<(u32, String)>,
}

/// One failure: an action and one of its telling lines.
#[derive(Debug, Clone)]
pub struct FailureInstance {
    /// Index into [`crate::Context::sessions`].
    pub session: usize,
    /// Index into that session's actions.
    pub action: usize,
    /// Index into the action's `errors`.
    pub error: usize,
    /// The operation failures are grouped by (see [`group_op`]; for a call
    /// whose tool the format did not name, `tool after <what was asked>`,
    /// see [`crate::replies`]).
    pub op_key: String,
    pub recovery: Option<Recovery>,
    /// For a call whose tool the format did not name: what the agent said
    /// around it (see [`crate::replies`]).
    pub said: Option<Said>,
}

/// What the agent said around a failed call whose tool the format did not
/// name (see [`crate::replies`]).
#[derive(Debug, Clone, Default)]
pub struct Said {
    /// What it asked for right before the call ("the email address").
    pub asked_for: Option<String>,
    /// Its reading of the error in its next message.
    pub reading: Option<Reading>,
}

/// An agent's restatement of an error (see [`crate::replies::reading`]).
#[derive(Debug, Clone)]
pub struct Reading {
    /// For memory text.
    pub text: String,
    /// The content words it adds to the error's.
    pub added: Vec<String>,
    /// The message it stands in.
    pub seq: u32,
    /// The sentence as it stands there (quotable).
    pub quote: String,
}

/// The operation a failure is grouped under: the command key, or the
/// command name alone when the error is about the name
/// (`python: command not found` for `python manage.py` and `python x.py`);
/// file tools by kind; other tools by name.
pub fn group_op(a: &Action, error_key: &str) -> String {
    // A syntax error or warning of inline code is about the code, whatever
    // runner started the interpreter (see [`crate::silent`]).
    if let Some(i) = a.inline.as_ref().filter(|_| crate::silent::is_source_diagnostic(error_key)) {
        return i.op();
    }
    match (&a.cmd, a.family) {
        (Some(c), _) => {
            let v = c.verb.to_lowercase();
            if error_key.contains(&format!("{v}: command not found"))
                || error_key.contains(&format!("command not found: {v}"))
                || error_key.contains(&format!("{v}: not found"))
            {
                v
            } else {
                c.key.clone()
            }
        }
        (None, f) if f.is_file() || f == Family::Search => a.op.clone(),
        _ => a.tool.to_lowercase(),
    }
}

/// Shell commands that only look around; never a preparatory step.
const LOOK: &[&str] = &[
    "ls",
    "pwd",
    "cat",
    "echo",
    "head",
    "tail",
    "wc",
    "which",
    "whoami",
    "date",
    "tree",
    "git status",
    "git log",
    "git diff",
];

fn is_look(a: &Action) -> bool {
    a.cmd.as_ref().is_some_and(|c| c.is_trivial() || LOOK.contains(&c.key.as_str()) || LOOK.contains(&c.verb.as_str()))
}

fn same_op(f: &Action, a: &Action) -> bool {
    if f.family.is_file() || f.family == Family::Search {
        return a.family.is_file() == f.family.is_file() && a.family.edits() == f.family.edits() && a.op == f.op;
    }
    match (&f.cmd, &a.cmd) {
        (Some(x), Some(y)) => x.key == y.key,
        (None, None) => f.tool == a.tool,
        _ => false,
    }
}

/// Name tokens of a tool (`find_user_id_by_email` → find, user, id, by, email).
fn name_tokens(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in t.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Another operation that can do the failed one's job (rule 2).
fn similar(f: &Action, a: &Action) -> bool {
    if same_op(f, a) {
        return false;
    }
    match (f.family, a.family) {
        (Family::Shell, Family::Shell) => match (&f.cmd, &a.cmd) {
            (Some(x), Some(y)) => {
                !y.is_trivial() && (text::similar_commands(x, y) || text::error_names(f.error_text.as_deref(), y))
            }
            _ => false,
        },
        (Family::FileRead, Family::Search) => true,
        (Family::FileRead, Family::Shell) => {
            a.cmd.as_ref().is_some_and(|c| ["cat", "head", "sed", "ls", "find"].contains(&c.verb.as_str()))
        }
        (Family::Web, Family::Web) | (Family::Web, Family::Search) => f.tool != a.tool,
        (x, y) if x == y && matches!(x, Family::Api | Family::Mcp | Family::Other) => {
            let (p, q) = (name_tokens(&f.tool), name_tokens(&a.tool));
            let common = p.iter().zip(&q).take_while(|(x, y)| x == y).count();
            common >= 2 && common * 2 >= p.len().min(q.len())
        }
        _ => false,
    }
}

/// Tools of a service that only read (`get_product_details`, `find_user`).
fn read_like(a: &Action) -> bool {
    let t = a.tool.to_lowercase();
    ["get", "find", "list", "search", "lookup", "check", "read", "fetch", "describe", "query", "retrieve", "show"]
        .iter()
        .any(|p| t.starts_with(p) || t.starts_with(&format!("{p}_")) || t.contains(&format!("_{p}_")))
}

/// True when the failure's own text names `a` (its command or tool).
fn named(f: &Action, a: &Action) -> bool {
    let Some(e) = f.error_text.as_deref() else { return false };
    match &a.cmd {
        Some(c) => !c.is_trivial() && c.key.contains(' ') && e.contains(&c.key.to_lowercase()),
        None => {
            let t = a.tool.to_lowercase();
            t.len() >= 3
                && e.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == t)
                && (a.family != f.family || a.op != f.op)
        }
    }
}

/// Input keys that do not say how a call was made.
const IGNORED_ARGS: &[&str] = &[
    "description",
    "timeout",
    "yield_time_ms",
    "max_output_tokens",
    "workdir",
    "justification",
    "run_in_background",
    "new_string",
    "content",
    "prompt",
    "explanation",
];

/// True for input keys that do not say how a call was made (a
/// description, a timeout, the new text of an edit).
pub fn ignored_arg(k: &str) -> bool {
    IGNORED_ARGS.contains(&k)
}

/// How a value appears in memory text: session-specific values (absolute
/// paths, ids, e-mails, branch names the error named...) as placeholders,
/// long or multi-word values as `<str>`; relative paths and words kept.
fn show_word(w: &str, subs: &[(String, &'static str)]) -> String {
    if let Some((_, p)) = subs.iter().find(|(o, _)| o == w && o.len() >= 2) {
        return (*p).to_string();
    }
    if nocturne_core::secrets::contains_secret(w) {
        return "<secret>".into();
    }
    if w.contains(char::is_whitespace) || w.chars().count() > 40 {
        return "<str>".into();
    }
    match placeholder(w) {
        Some("<path>") if !(w.starts_with('/') || w.starts_with('~') || w.contains(":\\")) => w.to_string(),
        Some("<file>") => w.to_string(),
        Some("<n>") if w.len() <= 3 => w.to_string(),
        Some(p) => p.to_string(),
        None => w.to_string(),
    }
}

/// A command for memory text (at most 70 characters).
pub fn show_command(words: &[String], subs: &[(String, &'static str)]) -> String {
    let mut out = String::new();
    for w in words {
        let s = show_word(w, subs);
        if out.chars().count() + s.chars().count() > 70 {
            out.push_str(" …");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&s);
    }
    out
}

/// The flags `added` with the words that follow each (their values and
/// the positional words up to the next flag), for memory text.
fn show_flags(words: &[String], added: &[String], subs: &[(String, &'static str)]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut on = false;
    for w in words.iter().skip(1) {
        if w.starts_with('-') {
            let name = w.split('=').next().unwrap_or(w);
            on = added.iter().any(|a| a == name);
            if on {
                match w.split_once('=') {
                    Some((k, v)) => out.push(format!("{k}={}", show_word(v, subs))),
                    None => out.push(w.clone()),
                }
            }
            continue;
        }
        if on && out.len() < 6 {
            out.push(show_word(w, subs));
        }
    }
    out.join(" ")
}

/// Changed or added input keys of two calls of the same tool.
/// The input keys a retry of the same tool added, and those whose value it
/// changed (sorted).
fn changed_args(f: &Action, a: &Action) -> (Vec<String>, Vec<String>) {
    let (Some(x), Some(y)) = (f.input.as_object(), a.input.as_object()) else { return (Vec::new(), Vec::new()) };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (k, v) in y {
        if IGNORED_ARGS.contains(&k.as_str()) {
            continue;
        }
        match x.get(k) {
            None => added.push(k.clone()),
            Some(old) if old != v => changed.push(k.clone()),
            Some(_) => {}
        }
    }
    added.sort();
    changed.sort();
    (added, changed)
}

fn subs_of(f: &Action) -> Vec<(String, &'static str)> {
    f.errors.iter().flat_map(|e| e.sig.subs.iter().cloned()).collect()
}

/// The recovery of failed action `i` (see the module docs); `Err(())` when
/// the failure is not a mistake with the call (fixed by changing code, or
/// flaky).
fn recover(
    actions: &[Action],
    i: usize,
    asked_between: &dyn Fn(u32, u32) -> bool,
    edit_between: &dyn Fn(u32, u32) -> Option<EditFix>,
) -> Result<Option<Recovery>, ()> {
    let Some(f) = actions.get(i) else { return Ok(None) };
    let end = (i + 1 + FIX_WINDOW).min(actions.len());
    let window = || (i + 1..end).filter_map(|k| Some((k, actions.get(k)?)));
    let edited_before =
        |j: usize| !f.family.is_file() && (i + 1..j).filter_map(|k| actions.get(k)).any(|a| a.ok() && a.family.edits());
    let subs = subs_of(f);
    let fail_end = f.result_seq.unwrap_or(f.call_seq);
    if let Some((j, r)) = window().find(|(_, a)| a.ok() && same_op(f, a)) {
        if edited_before(j) {
            return Err(());
        }
        let asked = asked_between(fail_end, r.call_seq);
        let between: Vec<(usize, &Action)> =
            (i + 1..j).filter_map(|k| Some((k, actions.get(k)?))).filter(|(_, a)| a.ok() && !same_op(f, a)).collect();
        let before = |k: usize, a: &Action| Recovery {
            relation: Relation::Before,
            action: k,
            retry: Some(j),
            key: format!("before {}", a.cmd.as_ref().map_or(a.op.to_lowercase(), |c| c.key.clone())),
            display: a.cmd.as_ref().map_or(a.tool.clone(), |c| show_command(&c.words, &subs)),
            flags: None,
            added: false,
            asked,
            shown_at: None,
        };
        if let Some((k, a)) = between.iter().rev().find(|(_, a)| named(f, a)) {
            return Ok(Some(before(*k, a)));
        }
        // The retry's own line runs more first (`mix format && git commit`,
        // `source .venv/bin/activate && pytest`).
        if let (Some(_), Some(y)) = (&f.cmd, &r.cmd) {
            let extra: Vec<&crate::text::Cmd> = r
                .cmds
                .iter()
                .take_while(|c| c.key != y.key)
                .filter(|c| !c.after_pipe && !f.cmds.iter().any(|o| o.key == c.key))
                .collect();
            let named_by_error =
                |c: &&&crate::text::Cmd| f.error_text.as_deref().is_some_and(|e| e.contains(&c.key.to_lowercase()));
            let first_real = extra.iter().find(|c| !c.is_trivial());
            if let Some(c) = extra.iter().find(|c| !c.is_trivial() && named_by_error(c)).or(first_real) {
                return Ok(Some(Recovery {
                    relation: Relation::Before,
                    action: j,
                    retry: Some(j),
                    key: format!("before {}", c.key),
                    display: show_command(&c.words, &subs),
                    flags: None,
                    added: false,
                    asked,
                    shown_at: None,
                }));
            }
            if !extra.is_empty() {
                let mut parts: Vec<String> = extra.iter().map(|c| show_command(&c.words, &subs)).collect();
                parts.push(show_command(&y.words, &subs));
                let shown = parts.join(" && ");
                return Ok(Some(Recovery {
                    relation: Relation::With,
                    action: j,
                    retry: Some(j),
                    key: format!("with {}", shown.to_lowercase()),
                    display: shown,
                    flags: None,
                    added: false,
                    asked,
                    shown_at: None,
                }));
            }
        }
        if let (Some(x), Some(y)) = (&f.cmd, &r.cmd) {
            let added: Vec<String> = y.flags.iter().filter(|fl| !x.flags.contains(fl)).cloned().collect();
            if !added.is_empty() {
                let mut names = added.clone();
                names.sort();
                return Ok(Some(Recovery {
                    relation: Relation::With,
                    action: j,
                    retry: Some(j),
                    key: format!("with {}", names.join(" ")),
                    display: show_command(&y.words, &subs),
                    flags: Some(show_flags(&y.words, &added, &subs)),
                    added: false,
                    asked,
                    shown_at: None,
                }));
            }
        }
        let target_changed = f.file.is_some() && r.file != f.file;
        let prep = between.iter().rev().find(|(_, a)| {
            (f.family.is_file() && a.family == Family::FileRead && a.file.is_some() && a.file == r.file)
                || (f.family.is_file() && target_changed && a.family == Family::Search)
                || (matches!(f.family, Family::Api | Family::Mcp) && a.family == f.family && read_like(a))
        });
        if let Some((k, a)) = prep {
            return Ok(Some(before(*k, a)));
        }
        let changed: Option<(String, String, bool)> = match (&f.cmd, &r.cmd) {
            (Some(x), Some(y)) if x.words != y.words => {
                let shown = show_command(&y.words, &subs);
                Some((format!("with {}", shown.to_lowercase()), shown, false))
            }
            (Some(_), Some(_)) => None,
            _ => match changed_args(f, r) {
                (added, _) if !added.is_empty() => {
                    Some((format!("with +{}", added.join(" +")), added.join("`, `"), true))
                }
                (_, changed) if !changed.is_empty() => {
                    Some((format!("with {}", changed.join(" ")), changed.join("`, `"), false))
                }
                _ => None,
            },
        };
        if let Some((key, display, added)) = changed {
            return Ok(Some(Recovery {
                relation: Relation::With,
                action: j,
                retry: Some(j),
                key,
                display,
                flags: None,
                added,
                asked,
                shown_at: None,
            }));
        }
        if let Some((k, a)) = between.iter().rev().find(|(_, a)| !is_look(a)) {
            return Ok(Some(before(*k, a)));
        }
        // Without an input to compare (an orphan result, a call whose
        // arguments the format lost), only an edit block the agent wrote
        // in between can show the fix.
        if f.input.is_null() || !f.called {
            let upto = r.result_seq.unwrap_or(r.call_seq);
            return Ok(edit_between(fail_end, upto).map(|e| Recovery {
                relation: Relation::With,
                action: j,
                retry: Some(j),
                key: format!("with edit {}", e.key),
                display: e.display.to_string(),
                flags: None,
                added: false,
                asked,
                shown_at: Some((e.seq, e.line)),
            }));
        }
        // The same call worked again right away: flaky, not a mistake.
        return Err(());
    }
    if let Some((j, a)) = window().find(|(_, a)| a.ok() && similar(f, a)) {
        if edited_before(j) {
            return Err(());
        }
        let (key, display) = match &a.cmd {
            Some(c) => (format!("instead {}", c.key), show_command(&c.words, &subs)),
            None => (format!("instead {}", a.op.to_lowercase()), a.tool.clone()),
        };
        return Ok(Some(Recovery {
            relation: Relation::Instead,
            action: j,
            retry: None,
            key,
            display,
            flags: None,
            added: false,
            asked: asked_between(fail_end, a.call_seq),
            shown_at: None,
        }));
    }
    Ok(None)
}

/// What an edit block in the agent's reply did, when it says something
/// general: it added, removed or moved import lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditFix {
    /// `+import`, `-import`, `~import`.
    pub key: &'static str,
    /// For memory text: "add the missing `import` in the same edit".
    pub display: &'static str,
    /// The reply's event.
    pub seq: u32,
    /// A verbatim line of the edit that shows it.
    pub line: String,
}

impl EditFix {
    fn at(mut self, seq: u32) -> EditFix {
        self.seq = seq;
        self
    }
}

/// An import, use or include line of a common language.
fn import_line(l: &str) -> bool {
    let t = l.trim();
    t.starts_with("import ")
        || (t.starts_with("from ") && t.contains(" import "))
        || (t.starts_with("use ") && t.ends_with(';'))
        || t.starts_with("#include")
        || ((t.starts_with("const ") || t.starts_with("let ") || t.starts_with("var ")) && t.contains("require("))
}

/// The SEARCH and REPLACE sides of every SEARCH/REPLACE edit block of a
/// text (aider's diff edit formats; a missing `>>>>>>> REPLACE` ends the
/// block at the end of the text).
fn edit_blocks(text: &str) -> Vec<(Vec<&str>, Vec<&str>)> {
    let mut out = Vec::new();
    let mut side: Option<bool> = None;
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let t = l.trim_end();
        if t.starts_with("<<<<<<< SEARCH") {
            side = Some(false);
            old.clear();
            new.clear();
        } else if t.starts_with("=======") && side == Some(false) {
            side = Some(true);
        } else if t.starts_with(">>>>>>> REPLACE") && side.is_some() {
            out.push((std::mem::take(&mut old), std::mem::take(&mut new)));
            side = None;
        } else {
            match side {
                Some(false) => old.push(l),
                Some(true) => new.push(l),
                None => {}
            }
        }
    }
    if side == Some(true) {
        out.push((old, new));
    }
    out
}

/// An import line that names one of `names` (a dotted name by its last
/// part: `aider.repo.GitRepo` → `GitRepo`), as a whole word.
fn names_one(line: &str, names: &[&str]) -> bool {
    let words: Vec<&str> = line.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
    names.iter().filter_map(|n| n.rsplit('.').next()).filter(|n| n.len() >= 2).any(|n| words.contains(&n))
}

/// The fix an agent's edit blocks show for an error that names `names`
/// (see [`EditFix`]): only import lines that name one of them count, so an
/// edit is tied to the error it fixes.
pub fn edit_fix(text: &str, names: &[&str]) -> Option<EditFix> {
    let (mut added, mut removed): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let wanted = |l: &&str| import_line(l) && names_one(l, names);
    for (old, new) in edit_blocks(text) {
        added.extend(new.iter().filter(|l| wanted(l) && !old.iter().any(|o| o.trim() == l.trim())));
        removed.extend(old.iter().filter(|l| wanted(l) && !new.iter().any(|n| n.trim() == l.trim())));
    }
    // The same import taken out of one place and put in another: moved.
    let moved = added.iter().find(|a| removed.iter().any(|r| r.trim() == a.trim()));
    let (key, display, line) = match (moved, added.first(), removed.first()) {
        (Some(m), _, _) => ("~import", "move the `import` lines", m),
        (None, Some(a), _) => ("+import", "add the missing `import` in the same edit", a),
        (None, None, Some(r)) => ("-import", "remove the `import` line", r),
        (None, None, None) => return None,
    };
    Some(EditFix { key, display, seq: 0, line: line.trim().to_string() })
}

/// For the failure `f` (action `i`) of a call whose tool the format did not
/// name: what the agent asked for right before the call (its display and
/// grouping key), and the recovery its next message states (see
/// [`crate::replies`]).
fn stated(
    sd: &SessionData,
    actions: &[Action],
    f: &Action,
    i: usize,
    who: &str,
) -> (Option<(String, String)>, Option<Recovery>) {
    let is = |e: &&nocturne_core::Event, kind: EventKind, role: Role| e.body.kind == kind && e.body.role == role;
    // The request the user answered right before the call.
    let before: Vec<&nocturne_core::Event> = sd.events.iter().filter(|e| e.seq < f.call_seq).collect();
    let last_agent = before.iter().rposition(|e| is(e, EventKind::AssistantMessage, Role::Assistant));
    let asked_for = last_agent.and_then(|p| {
        let answered = before.iter().skip(p + 1).any(|e| is(e, EventKind::UserMessage, Role::User));
        let text = before.get(p)?.body.text.as_deref()?;
        let r = crate::replies::sentences(text).into_iter().rev().find_map(crate::replies::request_of)?;
        let object = r.object?;
        let key = crate::replies::key_of(&object);
        answered.then_some((object, key))
    });
    let after = f.result_seq.unwrap_or(f.call_seq);
    // The value the user gave before the call, and before the next call
    // of the kind that worked (within the window): another shape of value
    // is the fix ("`<n>`; it works with the prefix `W`").
    let answer_before = |seq: u32, from: u32| {
        sd.events.iter().filter(|e| e.seq > from && e.seq < seq).rfind(|e| is(e, EventKind::UserMessage, Role::User))
    };
    let shape_of = |e: &nocturne_core::Event| {
        let vals = crate::replies::given_values(e.body.text.as_deref().unwrap_or(""));
        let shapes: std::collections::BTreeSet<&str> = vals.iter().map(|(s, _)| s.as_str()).collect();
        (shapes.len() == 1).then(|| vals.first().map(|(s, v)| (s.clone(), v.to_string()))).flatten()
    };
    let failing = answer_before(f.call_seq, 0).and_then(|e| shape_of(e).map(|s| s.0));
    let shaped = failing.and_then(|fs| {
        let end = (i + 1 + FIX_WINDOW).min(actions.len());
        let (j, w) = (i + 1..end)
            .filter_map(|k| Some((k, actions.get(k)?)))
            .find(|(_, a)| a.ok() && a.tool == UNNAMED && a.cmd.is_none())?;
        let e = answer_before(w.call_seq, after)?;
        let (ws, value) = shape_of(e)?;
        (ws != fs).then(|| Recovery {
            relation: Relation::With,
            action: j,
            retry: Some(j),
            key: format!("shape {fs} {ws}"),
            display: crate::replies::shape_fix(&fs, &ws),
            flags: None,
            added: false,
            asked: true,
            shown_at: Some((e.seq, value)),
        })
    });
    if shaped.is_some() {
        return (asked_for, shaped);
    }
    // The agent's next message, before anything else happens.
    let reply = sd
        .events
        .iter()
        .filter(|e| e.seq > after)
        .find(|e| {
            matches!(
                e.body.kind,
                EventKind::AssistantMessage | EventKind::UserMessage | EventKind::ToolCall | EventKind::ToolResult
            )
        })
        .filter(|e| is(e, EventKind::AssistantMessage, Role::Assistant));
    let recovery = reply.and_then(|e| {
        let r = crate::replies::first_request(e.body.text.as_deref()?)?;
        Some(Recovery {
            relation: Relation::With,
            action: i,
            retry: None,
            key: format!("reply {}", r.key),
            display: format!("ask the {who} to {}", r.clause),
            flags: None,
            added: false,
            asked: true,
            shown_at: Some((e.seq, r.sentence.to_string())),
        })
    });
    (asked_for, recovery)
}

/// Appends the failures of session `si` (see the module docs).
pub fn failures_of(si: usize, sd: &SessionData, actions: &[Action], out: &mut Vec<FailureInstance>) {
    let asks: Vec<u32> = sd
        .events
        .iter()
        .filter(|e| e.body.kind == EventKind::UserMessage && e.body.role == Role::User)
        .map(|e| e.seq)
        .collect();
    let asked_between = |a: u32, b: u32| {
        let p = asks.partition_point(|s| *s <= a);
        asks.get(p).is_some_and(|s| *s < b)
    };
    let replies: Vec<(u32, &str)> = sd
        .events
        .iter()
        .filter(|e| e.body.kind == EventKind::AssistantMessage && e.body.role == Role::Assistant)
        .filter_map(|e| Some((e.seq, e.body.text.as_deref()?)))
        .collect();
    // An edit block shows the fix of one error line: the one whose quoted
    // names (`F821 undefined name 'GitRepo'`) the edited import lines name.
    let edit_between = |a: u32, b: u32, names: &[&str]| {
        replies.iter().filter(|(s, _)| *s > a && *s < b).find_map(|(s, t)| edit_fix(t, names).map(|f| f.at(*s)))
    };
    let who = if sd.session.counterpart == Some(nocturne_core::Counterpart::Customer) { "customer" } else { "user" };
    for (i, f) in actions.iter().enumerate() {
        if !f.failed() || f.transient || f.test_failure || f.by_user {
            continue;
        }
        // A call whose tool the format did not name: what the agent said
        // around it stands in for the calls (see [`crate::replies`]).
        if f.tool == UNNAMED && f.cmd.is_none() {
            let (asked_for, recovery) = stated(sd, actions, f, i, who);
            let after = f.result_seq.unwrap_or(f.call_seq);
            let reply = sd.events.iter().filter(|e| e.seq > after).find(|e| e.body.kind != EventKind::Other);
            let reply = reply.filter(|e| e.body.kind == EventKind::AssistantMessage && e.body.role == Role::Assistant);
            for k in 0..f.errors.len().max(1) {
                let key = f.errors.get(k).map_or("", |e| e.sig.key.as_str());
                let op_key = match &asked_for {
                    Some((_, ask_key)) => format!("{} after {ask_key}", group_op(f, key)),
                    None => group_op(f, key),
                };
                let reading = reply.and_then(|e| {
                    let (d, added, q) = crate::replies::reading(e.body.text.as_deref()?, key)?;
                    Some(Reading { text: d, added, seq: e.seq, quote: q.to_string() })
                });
                out.push(FailureInstance {
                    session: si,
                    action: i,
                    error: k,
                    op_key,
                    recovery: recovery.clone(),
                    said: Some(Said { asked_for: asked_for.as_ref().map(|(o, _)| o.clone()), reading }),
                });
            }
            continue;
        }
        let orphan = f.input.is_null() || !f.called;
        let names_of = |k: usize| -> Vec<&str> {
            f.errors.get(k).map_or(Vec::new(), |e| e.sig.subs.iter().map(|(v, _)| v.as_str()).collect())
        };
        // `Err`: a retry worked after files were edited — the code was at
        // fault, not the call. Not for a diagnostic of the call's own inline
        // code: no file edit changes what the command line hands the interpreter.
        let shared = recover(actions, i, &asked_between, &|a, b| edit_between(a, b, &names_of(0)));
        let n = f.errors.len().max(1);
        for k in 0..n {
            let key = f.errors.get(k).map_or("", |e| e.sig.key.as_str());
            let own_code = f.inline.is_some() && crate::silent::is_source_diagnostic(key);
            let shared = match &shared {
                Ok(r) => r.clone(),
                Err(()) if own_code => None,
                Err(()) => continue,
            };
            let recovery = if orphan && k > 0 {
                recover(actions, i, &asked_between, &|a, b| edit_between(a, b, &names_of(k))).ok().flatten()
            } else {
                shared
            };
            out.push(FailureInstance {
                session: si,
                action: i,
                error: k,
                op_key: group_op(f, key),
                recovery,
                said: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_blocks_that_add_remove_or_move_imports_say_so() {
        let add = "Add the import:\n\nx.py\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport os\nimport time\n>>>>>>> REPLACE\n```";
        let f = edit_fix(add, &["time"]).unwrap();
        assert_eq!((f.key, f.line.as_str()), ("+import", "import time"));
        assert!(f.display.contains("add the missing `import`"));
        // The edit must name what the error names: another error's fix says nothing here.
        assert_eq!(edit_fix(add, &["shell_type"]), None);
        assert_eq!(edit_fix(add, &[]), None);
        let remove = "<<<<<<< SEARCH\nfrom pkg import thing\nx = 1\n=======\nx = 1\n>>>>>>> REPLACE";
        assert_eq!(edit_fix(remove, &["pkg.thing"]).map(|f| f.key), Some("-import"));
        let moved = "<<<<<<< SEARCH\nx = 1\nimport yaml\n=======\nx = 1\n>>>>>>> REPLACE\n\
                     <<<<<<< SEARCH\nimport os\n=======\nimport os\nimport yaml\n>>>>>>> REPLACE";
        assert_eq!(edit_fix(moved, &["yaml"]).map(|f| f.key), Some("~import"));
        // An edit of code only, or prose without edit blocks, says nothing general.
        assert_eq!(edit_fix("<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE", &["x"]), None);
        assert_eq!(edit_fix("I will add `import time` at the top.", &["time"]), None);
        // A block cut before `>>>>>>> REPLACE` still counts up to the end of the text.
        assert_eq!(edit_fix("<<<<<<< SEARCH\n=======\nuse std::fs;", &["fs"]).map(|f| f.key), Some("+import"));
    }

    #[test]
    fn tool_names_split_into_tokens() {
        assert_eq!(name_tokens("find_user_id_by_email"), vec!["find", "user", "id", "by", "email"]);
        assert_eq!(name_tokens("WebFetch"), vec!["web", "fetch"]);
        assert_eq!(name_tokens("mcp__github__createIssue"), vec!["mcp", "github", "create", "issue"]);
    }

    #[test]
    fn shown_commands_hide_values_of_one_session() {
        let w = |s: &str| text::parse_command(s).unwrap().words;
        let subs = vec![("spotter-a0y".to_string(), "<branch>")];
        assert_eq!(
            show_flags(&w("git push --set-upstream origin spotter-a0y"), &["--set-upstream".into()], &subs),
            "--set-upstream origin <branch>"
        );
        assert_eq!(show_command(&w("git commit -m \"Add tokenizer\n\nlong body\""), &[]), "git commit -m <str>");
        assert_eq!(
            show_command(&w("cargo test --manifest-path backend/Cargo.toml"), &[]),
            "cargo test --manifest-path backend/Cargo.toml"
        );
        assert_eq!(show_command(&w("cat /Users/dain/x.py"), &[]), "cat <path>");
    }

    use crate::testkit::Sess;
    use serde_json::json;

    /// (relation, recovery key, display) of a recovery.
    type Seen = Option<(Relation, String, String)>;

    /// (operation, recovery) of each failure.
    fn recoveries(s: Sess) -> Vec<(String, Seen)> {
        let sd = s.data();
        let actions = crate::actions::actions_of(&sd);
        let mut out = Vec::new();
        failures_of(0, &sd, &actions, &mut out);
        out.into_iter()
            .map(|f| (f.op_key, f.recovery.map(|r| (r.relation, r.key, r.flags.unwrap_or(r.display)))))
            .collect()
    }

    fn one(s: Sess) -> (String, Seen) {
        let mut v = recoveries(s);
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    #[test]
    fn another_command_is_instead() {
        let s = Sess::new("a")
            .sh("python manage.py migrate", "bash: python: command not found", true)
            .sh("ls", "manage.py", false)
            .sh("python3 manage.py migrate", "OK", false);
        let (op, r) = one(s);
        assert_eq!(op, "python");
        assert_eq!(
            r,
            Some((Relation::Instead, "instead python3 manage.py".into(), "python3 manage.py migrate".into()))
        );
    }

    #[test]
    fn a_read_of_the_file_before_the_retry_is_before() {
        let s = Sess::new("a")
            .tool(
                "Edit",
                json!({"file_path": "/Users/ann/app/src/x.py", "old_string": "a", "new_string": "b"}),
                "<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>",
                true,
            )
            .tool("Read", json!({"file_path": "/Users/ann/app/src/x.py"}), "1 a", false)
            .tool(
                "Edit",
                json!({"file_path": "/Users/ann/app/src/x.py", "old_string": "a", "new_string": "b"}),
                "ok",
                false,
            );
        let (op, r) = one(s);
        assert_eq!(op, "edit");
        assert_eq!(r, Some((Relation::Before, "before read".into(), "Read".into())));
    }

    #[test]
    fn a_formatter_the_hook_names_is_before_the_commit() {
        let commit =
            "git add -A && git commit -m \"$(cat <<'EOF'\nFix parser\n\nSigned-off-by: [REDACTED_EMAIL]\nEOF\n)\"";
        let s = Sess::new("a")
            .sh(commit, "mix format --check-formatted\n** (Mix) mix format failed due to --check-formatted.\nThe following files are not formatted:\n  * lib/app.ex", true)
            .sh("mix format", "", false)
            .sh(commit, "[main 1a2b3c4] Fix parser", false);
        let (op, r) = one(s);
        assert_eq!(op, "git commit");
        assert_eq!(r, Some((Relation::Before, "before mix format".into(), "mix format".into())));
    }

    #[test]
    fn a_flag_the_retry_added_is_with_and_hides_the_branch() {
        let s = Sess::new("a")
            .sh("git push", "fatal: The current branch spotter-a0y has no upstream branch.\nTo push the current branch and set the remote as upstream, use\n\n    git push --set-upstream origin spotter-a0y\n", true)
            .sh("git push --set-upstream origin spotter-a0y", "branch 'spotter-a0y' set up to track 'origin/spotter-a0y'.", false);
        let (op, r) = one(s);
        assert_eq!(op, "git push");
        assert_eq!(r, Some((Relation::With, "with --set-upstream".into(), "--set-upstream origin <branch>".into())));
    }

    #[test]
    fn a_service_lookup_before_the_retry_is_before_and_a_sibling_tool_is_instead() {
        let s = Sess::new("t1")
            .customer()
            .tool(
                "modify_pending_order_items",
                json!({"order_id": "#W1", "new_item_ids": ["3778566150"]}),
                "Error: New item 3778566150 not found or available",
                false,
            )
            .tool("get_product_details", json!({"product_id": "4760268021"}), "{\"variants\": {}}", false)
            .user("Go with option B")
            .tool(
                "modify_pending_order_items",
                json!({"order_id": "#W1", "new_item_ids": ["5052031638"]}),
                "{\"status\": \"pending\"}",
                false,
            );
        let (op, r) = one(s);
        assert_eq!(op, "modify_pending_order_items");
        assert_eq!(r.map(|r| (r.0, r.1)), Some((Relation::Before, "before get_product_details".into())));
        let s = Sess::new("t2")
            .customer()
            .tool("find_user_id_by_email", json!({"email": "a.b@example.com"}), "Error: User not found", false)
            .tool(
                "find_user_id_by_name_zip",
                json!({"first_name": "A", "last_name": "B", "zip": "12345"}),
                "a_b_1234",
                false,
            );
        let (_, r) = one(s);
        assert_eq!(r.map(|r| (r.0, r.1)), Some((Relation::Instead, "instead find_user_id_by_name_zip".into())));
        let s = Sess::new("t3")
            .customer()
            .tool(
                "find_user_id_by_name_zip",
                json!({"first_name": "N", "last_name": "I", "zip": "98178"}),
                "Error: User not found",
                false,
            )
            .user("Oh, my zip is 98187.")
            .tool(
                "find_user_id_by_name_zip",
                json!({"first_name": "N", "last_name": "I", "zip": "98187"}),
                "n_i_3850",
                false,
            );
        let v = recoveries(s);
        assert_eq!(v[0].1.as_ref().map(|r| (r.0, r.1.as_str())), Some((Relation::With, "with zip")));
    }

    #[test]
    fn commands_the_retry_line_runs_first_are_before_or_with() {
        let s = Sess::new("a").sh("git commit -m x", "** (Mix) mix format failed due to --check-formatted.", true).sh(
            "mix format && git add -A && git commit -m x",
            "[main 1a2b3c4] x",
            false,
        );
        assert_eq!(one(s).1, Some((Relation::Before, "before mix format".into(), "mix format".into())));
        let s = Sess::new("a").sh("pytest -x", "Exit code 127\n/bin/bash: line 1: pytest: command not found", true).sh(
            "(source .venv/bin/activate && pytest -x)",
            "1 passed",
            false,
        );
        assert_eq!(
            one(s).1,
            Some((
                Relation::With,
                "with source .venv/bin/activate && pytest -x".into(),
                "source .venv/bin/activate && pytest -x".into()
            ))
        );
    }

    #[test]
    fn failures_fixed_by_editing_code_or_flaky_are_not_recorded() {
        // A red test made green by an edit: the code, not the call.
        let s = Sess::new("a")
            .sh("cargo build", "error[E0308]: mismatched types", true)
            .tool("Edit", json!({"file_path": "src/lib.rs", "old_string": "a", "new_string": "b"}), "ok", false)
            .sh("cargo build", "Finished", false);
        assert!(recoveries(s).is_empty());
        // The same call worked right away: flaky.
        let s = Sess::new("b").sh("curl -s localhost:8080/health", "curl: (7) Failed to connect", true).sh(
            "curl -s localhost:8080/health",
            "ok",
            false,
        );
        assert!(recoveries(s).is_empty());
    }

    #[test]
    fn unrecovered_failures_have_no_recovery() {
        let s = Sess::new("a").sh("pytest", "ERROR: file not found: tests/x.py", true).sh("git status", "clean", false);
        assert_eq!(one(s), ("pytest".into(), None));
    }
}
