//! The action model: every tool call of a session paired with its result,
//! whatever the tool — a shell, a file tool, a service agent's API, an MCP
//! server — with what failed and why.
//!
//! **Family** (see [`Family`]): from the tool name and the shape of its
//! input (a `command`-like string is a shell; a `file_path`-like key with a
//! read/edit/write/create name is a file tool; `mcp__*` is MCP; a web
//! fetch/search; a sub-agent spawn; anything else a service API).
//!
//! **Operation** ([`Action::op`]): the shell command key (`git push`,
//! `npm run test:unit`) — of the sub-command that failed when a compound
//! line (`a && b | c`, heredocs) failed, else of its main command; for file
//! tools `read` / `edit` (edit and write tools alike: they fail the same
//! ways) / `search`; for every other tool its name.
//!
//! **Outcome.** A result is a failure when the source flags it; a result
//! the source did not flag is one when it is a service's or an MCP tool's
//! answer whose text reads as a failure
//! ([`nocturne_core::failure::looks_like_failure`]), a shell's output that
//! states a non-zero exit status on a line of its own, or one that shows the agent's own command went wrong ([`crate::silent`]: an
//! error located in its inline code, the shell's own error about the line,
//! a build or test tool's errors a pipe hid — [`Action::silent`]); the
//! output of a shell, a file tool or a page that merely contains error
//! words is content. Diagnostics of inline code are also added to a
//! flagged result's telling lines (a `SyntaxWarning` printed before an
//! `ImportError`). Failures are then told apart:
//! - *rejections*: the user refused the call ("The user doesn't want to
//!   proceed with this tool use", an interrupt) or typed a message in its
//!   place (an error result that is one short piece of prose with no error
//!   wording). They are [`Outcome::Rejected`], never tool-error lessons; the
//!   operator's reason is kept in [`Action::rejection`] for the preference
//!   pass;
//! - *no match*: `grep`/`rg`/`diff`/`test`... exiting 1 with nothing else
//!   said is an answer, not an error ([`Outcome::Ok`]);
//! - *transient* errors of a provider or network (overloaded, rate limit,
//!   timeouts, 502/503/504) and calls cancelled because a parallel call
//!   failed stay failures but are marked [`Action::transient`]: no lesson
//!   is drawn from them;
//! - *test failures*: a test runner's output that shows tests ran and
//!   failed (a session header, a failures summary, assertion errors) is
//!   the code under test failing, not the call ([`Action::test_failure`]),
//!   unless its error is about the invocation (`file or directory not
//!   found`, `command not found`, `no tests ran`, an unknown option).
//!
//! The **telling lines** of a failure are its highest-ranked output lines
//! (see [`text::line_rank`]): a named exception, a lint code, an `error:`
//! prefix, a failure phrase; exit-status lines, runner banners and
//! traceback frames are never chosen. A line that names something
//! specific (a quoted value, a path, an identifier, see
//! [`text::names_specific`]) comes before one of its rank that only
//! restates the failure, and a *headline* — a failure line that names
//! nothing, followed by a failure line that does ("The LLM did not conform
//! to the edit format." then "^^^ Expected `>>>>>>> REPLACE`") — is not the
//! error: its details are. A result listing several distinct errors of the
//! top ranks (a linter's output) keeps up to three.
//!
//! **Polling.** A call that only reads the output of a process an earlier
//! call started (Codex `write_stdin` with the `session_id` a result
//! announced as "Process running with session ID N") continues that call:
//! its result becomes the earlier call's result.
//!
//! **Orphan results** (a result no call announced, as aider's output after
//! each reply) are actions of the result's tool without input.

use crate::text::{self, Cmd, ErrorSig};
use crate::SessionData;
use nocturne_core::failure::looks_like_failure;
use nocturne_core::EventKind;
use std::collections::HashMap;

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// The user refused the call or interrupted it (see the module docs).
    Rejected,
    /// No result was found for the call.
    Unknown,
}

/// What kind of tool an action used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Shell,
    FileRead,
    FileEdit,
    FileWrite,
    Search,
    Web,
    Api,
    Mcp,
    /// A sub-agent spawn (`Task`, `Agent`).
    Agent,
    Other,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Shell => "shell",
            Family::FileRead => "file-read",
            Family::FileEdit => "file-edit",
            Family::FileWrite => "file-write",
            Family::Search => "search",
            Family::Web => "web",
            Family::Api => "api",
            Family::Mcp => "mcp",
            Family::Agent => "agent",
            Family::Other => "other",
        }
    }

    /// File tools that change a file.
    pub fn edits(self) -> bool {
        matches!(self, Family::FileEdit | Family::FileWrite)
    }

    pub fn is_file(self) -> bool {
        matches!(self, Family::FileRead | Family::FileEdit | Family::FileWrite)
    }
}

/// One telling line of a failed result.
#[derive(Debug, Clone)]
pub struct ErrorLine {
    /// The line as it stands in the result text (trimmed): quotable.
    pub line: String,
    pub sig: ErrorSig,
    /// Its [`text::line_rank`].
    pub rank: u8,
}

/// One tool call and its result.
#[derive(Debug, Clone)]
pub struct Action {
    pub tool: String,
    pub family: Family,
    /// The operation (see the module docs).
    pub op: String,
    /// The call's event; for an orphan result, the result's event.
    pub call_seq: u32,
    /// False for an orphan result (no call event).
    pub called: bool,
    /// The call was made in the user's turn (a τ² telecom customer's own
    /// tool), not by the agent.
    pub by_user: bool,
    pub result_seq: Option<u32>,
    pub outcome: Outcome,
    /// The call's input (`Null` when none).
    pub input: serde_json::Value,
    /// The shell command: the failing sub-command of a failed compound
    /// line, else its main command.
    pub cmd: Option<Cmd>,
    /// Every command of the shell line.
    pub cmds: Vec<Cmd>,
    /// Basename of the file a file tool touched.
    pub file: Option<String>,
    /// Its last two path components (`prisma/schema.prisma`), for display.
    pub path: Option<String>,
    /// The step label used by workflow mining (`cargo test`, `Edit schema.prisma`).
    pub label: String,
    /// The first telling line of a failed result.
    pub error_line: Option<String>,
    /// The start of a failed result, lowercased (to see whether it names the fix).
    pub error_text: Option<String>,
    /// The telling lines of a failed result, best first (at most three).
    pub errors: Vec<ErrorLine>,
    /// Lines of a failed result that advise on the fix ("Did you mean …",
    /// "Use … instead"), best first (at most two; see [`text::hint_rank`]);
    /// `rank` holds the hint rank.
    pub hints: Vec<ErrorLine>,
    /// A provider or network hiccup (see the module docs).
    pub transient: bool,
    /// A test run that found failing tests (see the module docs): the code,
    /// not the call.
    pub test_failure: bool,
    /// For a rejected call: the user's reason or message, when they gave one
    /// (a preference signal, not a tool error).
    pub rejection: Option<String>,
    /// The inline code of the failing command, when the result reports an
    /// error located in it (see [`crate::silent`]).
    pub inline: Option<crate::silent::Inline>,
    /// The source did not flag the result: its output showed the failure
    /// (see [`crate::silent`]).
    pub silent: bool,
}

impl Action {
    /// A verbatim excerpt of the call's input for an evidence quote citing
    /// [`Action::call_seq`]: its command (the sub-command's own text), else
    /// its file path, URL, pattern or query, else its tool name.
    pub fn quote(&self) -> String {
        if let Some(c) = &self.cmd {
            return text::excerpt(&c.raw, 200);
        }
        if let Some(m) = self.input.as_object() {
            for k in ["file_path", "path", "url", "pattern", "query", "notebook_path", "filePath"] {
                if let Some(v) = m.get(k).and_then(|v| v.as_str()) {
                    return text::excerpt(v, 200);
                }
            }
        }
        self.tool.clone()
    }

    /// The evidence citing this action's call, when it has one and it can be
    /// quoted (a call whose tool the format did not name, with no input,
    /// shows nothing to quote).
    pub fn call_evidence(&self, session: &str) -> Option<nocturne_core::Evidence> {
        let unquotable = self.tool == crate::recovery::UNNAMED && self.cmd.is_none() && self.input.is_null();
        (self.called && !unquotable).then(|| nocturne_core::Evidence {
            session: session.to_string(),
            events: vec![self.call_seq],
            quote: self.quote(),
        })
    }

    /// The evidence citing this action's failed result with its telling
    /// line, when it has one.
    pub fn error_evidence(&self, session: &str) -> Option<nocturne_core::Evidence> {
        let seq = self.result_seq?;
        let line = self.errors.first().map(|e| e.line.as_str()).or(self.error_line.as_deref())?;
        Some(nocturne_core::Evidence {
            session: session.to_string(),
            events: vec![seq],
            quote: text::excerpt(line, 300),
        })
    }

    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Failed
    }

    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
}

const SHELL_KEYS: &[&str] = &["command", "cmd", "script", "commandLine", "command_line", "shell_command"];
const FILE_KEYS: &[&str] = &["file_path", "path", "filename", "file", "notebook_path", "target_file", "filePath"];

/// Tool names of shells, whose bare string input is a command line.
const SHELL_TOOLS: &[&str] = &["bash", "sh", "zsh", "shell", "terminal", "run", "exec", "command", "cmd", "powershell"];

fn shell_tool(tool: &str) -> bool {
    let t = tool.to_lowercase();
    SHELL_TOOLS.iter().any(|s| {
        t == *s
            || t.contains("shell")
            || t.contains("bash")
            || t.contains("command")
            || t.contains("terminal")
            || t.starts_with("exec")
    })
}

/// The command line of a call: a `command`-like input key, or the whole
/// input when it is a string given to a shell tool (a patch given to
/// `apply_patch` is no command). A tool that names itself after the
/// command's first word (SWE-agent's `edit 12:14` followed by the new
/// lines, `open x.py`) gets only that first line: the rest is its text.
fn command_of(tool: &str, input: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let v = match input {
        Value::Object(m) => SHELL_KEYS.iter().find_map(|k| m.get(*k))?,
        Value::String(_) if shell_tool(tool) => input,
        _ => return None,
    };
    let own = |s: &str| {
        let first = s.split_whitespace().next().unwrap_or("");
        !shell_tool(tool) && first.eq_ignore_ascii_case(tool) && s.contains('\n')
    };
    if let Value::String(s) = v {
        if own(s) {
            return s.lines().next().map(str::to_string);
        }
    }
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

/// The family of a call from its tool name and input.
pub fn family_of(tool: &str, input: &serde_json::Value, has_cmd: bool, has_file: bool) -> Family {
    let t = tool.to_lowercase();
    if t.starts_with("mcp__") || t.starts_with("mcp_") || t.contains("__mcp") {
        return Family::Mcp;
    }
    if has_cmd {
        return Family::Shell;
    }
    if ["task", "agent", "spawn_agent", "subagent", "dispatch_agent"].contains(&t.as_str()) {
        return Family::Agent;
    }
    if t.contains("fetch") || t.contains("browse") || t.contains("web") || t.contains("url") || t.contains("http") {
        return Family::Web;
    }
    if ["grep", "glob", "search", "find", "ls", "list_dir", "list_files", "codebase_search"].iter().any(|k| t == *k)
        || t.ends_with("_search") && has_file
        || t == "list_directory"
        || t == "search_file_content"
    {
        return Family::Search;
    }
    if has_file || input.as_object().is_some_and(|m| m.contains_key("old_string") || m.contains_key("content")) {
        let c = canonical_file_tool(tool);
        return match c.as_str() {
            "read" => Family::FileRead,
            "edit" if t.contains("write") || t.contains("create") => Family::FileWrite,
            "edit" => Family::FileEdit,
            _ => Family::Other,
        };
    }
    if ["apply_patch", "str_replace_editor", "str_replace_based_edit_tool"].contains(&t.as_str()) {
        return Family::FileEdit;
    }
    Family::Api
}

/// Words of a rejected or interrupted tool use.
const REJECTIONS: &[&str] = &[
    "the user doesn't want to proceed with this tool use",
    "the user doesn't want to take this action",
    "[request interrupted by user",
    "the tool use was rejected",
    "rejected by the user",
    "rejected by user",
    "user rejected",
    "user denied",
    "the user declined",
    "cancelled by the user",
    "canceled by the user",
    "operation cancelled by user",
    "[operation cancelled]",
];

/// Words a person writes and a tool does not.
const PROSE: &[&str] =
    &["i", "i'm", "i'd", "we", "we're", "let's", "please", "you", "your", "wait", "actually", "also", "too", "instead"];

/// A rejection and the user's reason, if the result says so. `shell`: the
/// call ran a command (only then can a typed message replace its result).
fn rejection(text: &str, is_error: bool, shell: bool) -> Option<Option<String>> {
    if !is_error {
        return None;
    }
    let lower: String = text.chars().take(1000).collect::<String>().to_lowercase();
    // Only an error result that *is* the harness's rejection notice: a file
    // or a log that merely contains these words is output, not a rejection.
    let head = lower.trim_start().get(..lower.trim_start().len().min(200)).unwrap_or("");
    if is_error && REJECTIONS.iter().any(|m| head.contains(m)) {
        let key = "the following reason for the rejection:";
        let reason = lower
            .find(key)
            .and_then(|p| text.get(p + key.len()..))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        return Some(reason);
    }
    // A user who types instead of letting a command run: the whole error
    // result is their prose — a person's words, no error wording, no exit
    // status.
    let words = text.split_whitespace().count();
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let personal = lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).any(|w| PROSE.contains(&w))
        || lower.trim_end().ends_with('?');
    if is_error
        && shell
        && personal
        && (3..=80).contains(&words)
        && lines <= 3
        && !lower.contains("exit code")
        && !lower.contains("exited with")
        && text.starts_with(|c: char| c.is_alphabetic())
        && !looks_like_failure(text)
        && text::ranked_lines(text).iter().all(|(_, r)| *r <= 1)
    {
        return Some(Some(text.trim().to_string()));
    }
    None
}

/// Commands whose exit status 1 means "no match" or "false", not an error.
const NO_MATCH: &[&str] =
    &["grep", "egrep", "fgrep", "rg", "ag", "ack", "git grep", "diff", "cmp", "test", "[", "which"];

fn exit_code(lower: &str) -> Option<i64> {
    for key in ["exit code", "exited with code", "exit status", "exit_code"] {
        if let Some(p) = lower.find(key) {
            let rest = lower.get(p + key.len()..).unwrap_or("").trim_start_matches([':', ' ', '=']);
            let d: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = d.parse() {
                return Some(n);
            }
        }
    }
    None
}

const TRANSIENT: &[&str] = &[
    // A call cancelled because a sibling call of the same turn failed.
    "cancelled: parallel tool call",
    "canceled: parallel tool call",
    "overloaded",
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "apiconnectionerror",
    "internalservererror",
    "service unavailable",
    "serviceunavailable",
    "timed out",
    "timeout",
    "temporarily unavailable",
    "try again later",
    "connection reset",
    "econnreset",
    "bad gateway",
    "gateway timeout",
    "status code 429",
    "status code 502",
    "status code 503",
    "status code 504",
];

/// Output of a test runner that ran and found failures.
const TEST_RUN: &[&str] = &[
    "test session starts",
    "short test summary info",
    "--- fail:",
    "test result: failed",
    "tests failed",
    "assertionerror",
    "test files ",
    "tests:  ",
    "failures:\n",
];

/// Errors about running the tests at all (a wrong path, a missing tool),
/// which are mistakes with the call even in a test run's output.
const INVOCATION: &[&str] = &[
    "command not found",
    "no such file",
    "not found:",
    "file or directory not found",
    "unrecognized",
    "usage:",
    "no module named",
    "unknown option",
    "invalid option",
    "permission denied",
    "cannot find",
    "could not find",
    "missing script",
    "no tests ran",
    "no rule to make target",
];

fn is_test_failure(lower: &str, first: Option<&ErrorLine>) -> bool {
    let ran = TEST_RUN.iter().any(|m| lower.contains(m));
    let invocation = first.is_some_and(|e| {
        let l = e.line.to_lowercase();
        INVOCATION.iter().any(|m| l.contains(m))
    });
    ran && !invocation
}

/// The telling lines of a failed result (see the module docs).
fn telling(text: &str) -> Vec<ErrorLine> {
    let ranked = text::ranked_lines(text);
    let specific: Vec<bool> = ranked.iter().map(|(l, _)| text::names_specific(l)).collect();
    // A headline — a failure line that names nothing ("The LLM did not
    // conform to the edit format.") — followed by a failure line that does
    // is not the error: its details are.
    let mut ranked: Vec<(&str, u8, bool)> = ranked
        .iter()
        .enumerate()
        .map(|(i, &(line, rank))| {
            let detailed = (3..=4).contains(&rank)
                && !specific.get(i).copied().unwrap_or(true)
                && ranked.iter().zip(&specific).skip(i + 1).any(|((_, r), s)| *r >= 3 && *s);
            (line, if detailed { 2 } else { rank }, specific.get(i).copied().unwrap_or(false))
        })
        .collect();
    // Best rank first, a specific line before a restatement, in order of
    // appearance otherwise.
    ranked.sort_by_key(|r| (std::cmp::Reverse(r.1), !r.2));
    let mut out: Vec<ErrorLine> = Vec::new();
    for (line, rank, _) in ranked {
        // The best line; further distinct errors only of ranks ≥ 4 (a
        // linter's or compiler's findings).
        if !out.is_empty() && rank < 4 {
            break;
        }
        let sig = text::error_signature(line);
        if sig.key.is_empty() || out.iter().any(|e| e.sig.key == sig.key) {
            continue;
        }
        out.push(ErrorLine { line: line.to_string(), sig, rank });
        if out.len() >= 3 {
            break;
        }
    }
    out
}

/// The sub-command a failure belongs to: the one whose name the error
/// names (`pytest: command not found`, `grep: x: No such file`, `cd: no
/// such file`), else the main command.
fn attribute(cmds: &[Cmd], errors: &[ErrorLine], main: Option<&Cmd>) -> Option<Cmd> {
    for e in errors {
        let l = text::clean_error_line(&e.line).to_lowercase();
        for c in cmds {
            let v = c.verb.as_str();
            if v.len() >= 2
                && (l.starts_with(&format!("{v}:"))
                    || l.contains(&format!(" {v}: "))
                    || l.contains(&format!("command not found: {v}")))
            {
                return Some(c.clone());
            }
        }
    }
    main.cloned()
}

/// Codex `write_stdin`-style polling: the process session id it reads.
fn polled_session(input: &serde_json::Value) -> Option<String> {
    let m = input.as_object()?;
    if SHELL_KEYS.iter().any(|k| m.contains_key(*k)) {
        return None;
    }
    let v = m.get("session_id")?;
    Some(match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return None,
    })
}

/// "Process running with session ID 48230" → `48230`.
fn running_session(text: &str) -> Option<String> {
    // The header comes first ("Chunk ID: …\nWall time: …\nProcess running …").
    let head = text::prefix(text, 300);
    let p = head.find("running with session ID")?;
    let rest = text.get(p + "running with session ID".len()..)?.trim_start();
    let id: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!id.is_empty()).then_some(id)
}

fn new_action(tool: String, input: serde_json::Value, seq: u32, called: bool) -> Action {
    let cmds = command_of(&tool, &input).map(|c| text::parse_commands(&c)).unwrap_or_default();
    // The main command, as `text::parse_command` chooses it.
    let piped_in = |c: &&Cmd| !c.after_pipe;
    let cmd =
        cmds.iter().filter(piped_in).rev().find(|c| !c.is_trivial()).or_else(|| cmds.iter().rfind(piped_in)).cloned();
    let file = if cmd.is_none() { file_of(&input) } else { None };
    let path = if file.is_some() { path_tail(&input) } else { None };
    let family = family_of(&tool, &input, cmd.is_some(), file.is_some());
    let label = match (&cmd, &file) {
        (Some(c), _) => c.key.clone(),
        (None, Some(f)) => format!("{} {f}", canonical_file_tool(&tool)),
        (None, None) => tool.clone(),
    };
    let op = match (&cmd, family) {
        (Some(c), _) => c.key.clone(),
        (None, Family::FileRead) => "read".into(),
        (None, Family::FileEdit | Family::FileWrite) => "edit".into(),
        (None, Family::Search) => "search".into(),
        _ => tool.clone(),
    };
    Action {
        tool,
        family,
        op,
        call_seq: seq,
        called,
        by_user: false,
        result_seq: None,
        outcome: Outcome::Unknown,
        input,
        cmd,
        cmds,
        file,
        path,
        label,
        error_line: None,
        error_text: None,
        errors: Vec::new(),
        hints: Vec::new(),
        transient: false,
        test_failure: false,
        rejection: None,
        inline: None,
        silent: false,
    }
}

/// What a shell result's output shows went wrong with the call itself (see
/// [`crate::silent`]): error lines located in its inline code (with that
/// command and its code), and — for a result its source did not flag —
/// the shell's or a command's own error about the line, or the error lines
/// of a build or test tool whose status a pipe hid.
#[derive(Default)]
struct Shown {
    errors: Vec<ErrorLine>,
    inline: Option<(Cmd, crate::silent::Inline)>,
}

fn shown_failure(a: &Action, text: &str, is_error: bool, lower_head: &str) -> Shown {
    use crate::silent;
    let mut shown = Shown::default();
    if a.family != Family::Shell {
        return shown;
    }
    let line = command_of(&a.tool, &a.input).unwrap_or_default();
    let as_error = |l: &str, source: bool| ErrorLine {
        line: l.to_string(),
        sig: if source { silent::source_signature(l) } else { text::error_signature(l) },
        rank: text::line_rank(l).max(4),
    };
    for c in &a.cmds {
        let Some(inline) = silent::inline_code(&line, c) else { continue };
        let diags = silent::inline_diagnostics(text, &inline);
        if diags.is_empty() {
            continue;
        }
        shown.errors.extend(diags.iter().map(|l| as_error(l, silent::is_source_diagnostic(l))));
        shown.inline = Some((c.clone(), inline));
        break;
    }
    if is_error {
        return shown;
    }
    for l in silent::shell_errors(text, &line, &a.cmds) {
        shown.errors.push(as_error(l, false));
    }
    if shown.errors.is_empty() && silent::hidden_runner(&a.cmds).is_some() {
        let errors: Vec<ErrorLine> = telling(text).into_iter().filter(|e| e.rank >= 4).collect();
        let ran = TEST_RUN.iter().any(|m| lower_head.contains(m));
        if !errors.is_empty() {
            shown.errors = errors;
        } else if ran && failures_counted(lower_head) {
            // A test run's summary: the failures are the code's (see `is_test_failure`).
            shown.errors = telling(text).into_iter().take(1).collect();
        }
    }
    shown.errors.dedup_by(|x, y| x.sig.key == y.sig.key);
    shown
}

/// The exit status a shell result states on a line of its own (`Exit code
/// 2`, `Process exited with code 1`): the harness's report, not content.
fn stated_exit(text: &str) -> Option<i64> {
    text.lines().take(300).map(|l| l.trim().to_ascii_lowercase()).find_map(|l| {
        let status = ["exit code", "exit status", "process exited with code", "exited with code"]
            .iter()
            .any(|k| l.starts_with(k));
        if status && l.len() <= 40 {
            exit_code(&l)
        } else {
            None
        }
    })
}

/// A test summary that counts failures (`2 failed`, `Tests: 1 failed`),
/// not `0 failed`.
fn failures_counted(lower: &str) -> bool {
    lower.match_indices(" failed").any(|(p, _)| {
        let before = lower.get(..p).unwrap_or("");
        let n: String = before.chars().rev().take_while(char::is_ascii_digit).collect();
        n.parse::<u64>().is_ok_and(|n| n > 0)
    }) || lower.contains("test result: failed")
}

/// Records a result on its action (see the module docs for the rules).
fn settle(a: &mut Action, text: &str, is_error: bool, seq: u32) {
    a.result_seq = Some(seq);
    if let Some(reason) = rejection(text, is_error, a.family == Family::Shell) {
        a.outcome = Outcome::Rejected;
        a.rejection = reason;
        return;
    }
    let lower_head: String = text.chars().take(2000).collect::<String>().to_lowercase();
    let shown = shown_failure(a, text, is_error, &lower_head);
    // A service's or an MCP tool's answer is its result: error wording
    // there is the failure. A shell's, a file tool's or a page's output is
    // content unless it shows the call went wrong (see [`crate::silent`]).
    let content = matches!(
        a.family,
        Family::Shell | Family::FileRead | Family::FileEdit | Family::FileWrite | Family::Search | Family::Web
    );
    let flagged = is_error
        || !content && looks_like_failure(text)
        || a.family == Family::Shell && stated_exit(text).is_some_and(|c| c != 0);
    if !flagged && shown.errors.is_empty() {
        a.outcome = Outcome::Ok;
        return;
    }
    a.silent = !flagged;
    let errors = if flagged {
        let mut errors = telling(text);
        for e in shown.errors {
            if errors.len() < 4 && !errors.iter().any(|x| x.line == e.line || x.sig.key == e.sig.key) {
                errors.push(e);
            }
        }
        errors
    } else {
        shown.errors
    };
    let errors: Vec<ErrorLine> = errors
        .into_iter()
        .map(|mut e| {
            if shown.inline.is_some() && crate::silent::is_source_diagnostic(&e.line) {
                e.sig = crate::silent::source_signature(&e.line);
            }
            e
        })
        .collect();
    if let Some((cmd, inline)) = shown.inline {
        if !flagged {
            a.op = cmd.key.clone();
            a.label = cmd.key.clone();
            a.cmd = Some(cmd);
        }
        a.inline = Some(inline);
    }
    // No match: a search exiting 1 with nothing but its status.
    let last = a.cmds.iter().rev().find(|c| !c.is_trivial());
    let no_match_cmd = last.is_some_and(|c| NO_MATCH.contains(&c.key.as_str()) || NO_MATCH.contains(&c.verb.as_str()));
    if no_match_cmd && exit_code(&lower_head).is_none_or(|c| c == 1) && errors.iter().all(|e| e.rank < 3) {
        a.outcome = Outcome::Ok;
        return;
    }
    a.outcome = Outcome::Failed;
    if a.family == Family::Shell && !a.silent {
        if let Some(c) = attribute(&a.cmds, &errors, a.cmd.as_ref()) {
            a.op = c.key.clone();
            a.label = c.key.clone();
            a.cmd = Some(c);
        }
    }
    a.test_failure = is_test_failure(&lower_head, errors.first());
    a.transient =
        errors.first().map(|e| e.line.to_lowercase()).is_some_and(|l| TRANSIENT.iter().any(|t| l.contains(t)));
    a.error_line = errors
        .first()
        .map(|e| e.line.clone())
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()).map(|l| text::excerpt(l, 200)));
    a.error_text = Some(lower_head);
    let mut hints: Vec<ErrorLine> = text
        .lines()
        .take(300)
        .map(str::trim)
        .filter(|l| !errors.iter().any(|e| e.line == *l))
        .filter_map(|l| {
            let rank = text::hint_rank(l);
            let line_rank = text::line_rank(l);
            // Advice, not boilerplate and not itself an error line.
            let advice = line_rank > 0 && (line_rank <= 2 || rank == 3);
            (rank > 0 && advice).then(|| ErrorLine { line: l.to_string(), sig: text::error_signature(l), rank })
        })
        .collect();
    hints.sort_by_key(|h| std::cmp::Reverse(h.rank));
    hints.dedup_by(|a, b| a.sig.key == b.sig.key);
    hints.truncate(2);
    a.hints = hints;
    a.errors = errors;
}

/// The actions of a session, in call order (see the module docs).
pub fn actions_of(sd: &SessionData) -> Vec<Action> {
    let mut actions: Vec<Action> = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    // Process session id → the action that started it; polling call id → that action.
    let mut running: HashMap<String, usize> = HashMap::new();
    let mut polls: HashMap<&str, usize> = HashMap::new();
    for e in &sd.events {
        let b = &e.body;
        match b.kind {
            EventKind::ToolCall => {
                let tool = b.tool_name.clone().unwrap_or_else(|| crate::recovery::UNNAMED.into());
                let input: serde_json::Value = b
                    .tool_input
                    .as_deref()
                    .map(|t| serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.to_string())))
                    .unwrap_or(serde_json::Value::Null);
                if let Some(target) = polled_session(&input).and_then(|s| running.get(&s).copied()) {
                    if let Some(id) = b.tool_use_id.as_deref() {
                        polls.insert(id, target);
                    }
                    continue;
                }
                if let Some(id) = b.tool_use_id.as_deref() {
                    by_id.insert(id, actions.len());
                }
                let mut a = new_action(tool, input, e.seq, true);
                a.by_user = b.role == nocturne_core::Role::User;
                actions.push(a);
            }
            EventKind::ToolResult => {
                let text = b.text.as_deref().unwrap_or("");
                if let Some(&target) = b.tool_use_id.as_deref().and_then(|id| polls.get(id)) {
                    // A poll: the started call's result, unless still running.
                    if running_session(text).is_none() {
                        if let Some(a) = actions.get_mut(target) {
                            settle(a, text, b.is_error, e.seq);
                        }
                    }
                    continue;
                }
                let idx = b
                    .tool_use_id
                    .as_deref()
                    .and_then(|id| by_id.get(id).copied())
                    .filter(|i| actions.get(*i).is_some_and(|a| a.result_seq.is_none()))
                    .or_else(|| {
                        // Unlinked results answer the oldest open call.
                        (b.tool_use_id.is_none())
                            .then(|| actions.iter().position(|a| a.called && a.result_seq.is_none()))?
                    });
                let idx = match idx {
                    Some(i) => i,
                    None => {
                        // An orphan result: an action of its own.
                        let tool = b.tool_name.clone().unwrap_or_else(|| crate::recovery::UNNAMED.into());
                        actions.push(new_action(tool, serde_json::Value::Null, e.seq, false));
                        actions.len() - 1
                    }
                };
                if let Some(sid) = running_session(text) {
                    running.insert(sid, idx);
                    if let Some(a) = actions.get_mut(idx) {
                        a.result_seq = Some(e.seq);
                    }
                    continue;
                }
                if let Some(a) = actions.get_mut(idx) {
                    settle(a, text, b.is_error, e.seq);
                }
            }
            _ => {}
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_from_names_and_inputs() {
        use serde_json::json as j;
        assert_eq!(family_of("Bash", &j!({"command": "ls"}), true, false), Family::Shell);
        assert_eq!(family_of("Read", &j!({"file_path": "/a/b.rs"}), false, true), Family::FileRead);
        assert_eq!(family_of("Edit", &j!({"file_path": "a", "old_string": "x"}), false, true), Family::FileEdit);
        assert_eq!(family_of("Write", &j!({"file_path": "a", "content": "x"}), false, true), Family::FileWrite);
        assert_eq!(family_of("Glob", &j!({"pattern": "**/*.rs"}), false, false), Family::Search);
        assert_eq!(family_of("WebFetch", &j!({"url": "https://x"}), false, false), Family::Web);
        assert_eq!(family_of("mcp__github__create_issue", &j!({}), false, false), Family::Mcp);
        assert_eq!(family_of("find_user_id_by_email", &j!({"email": "a@b.c"}), false, false), Family::Api);
        assert_eq!(family_of("Task", &j!({"prompt": "x"}), false, false), Family::Agent);
    }

    #[test]
    fn commands_come_from_shells_and_tools_that_name_them() {
        use serde_json::json;
        assert_eq!(command_of("Bash", &json!({"command": "ls -la"})).as_deref(), Some("ls -la"));
        assert_eq!(command_of("shell", &json!(["bash", "-lc", "npm test"])).as_deref(), None);
        assert_eq!(command_of("shell", &json!({"command": ["bash", "-lc", "npm test"]})).as_deref(), Some("npm test"));
        assert_eq!(command_of("apply_patch", &json!("*** Begin Patch\n*** Update File: a.rs")), None);
        assert_eq!(
            command_of("edit", &json!({"command": "edit 287:295\n    x = [\nend_of_edit"})).as_deref(),
            Some("edit 287:295")
        );
        assert_eq!(command_of("bash", &json!("cd x &&\nmake")).as_deref(), Some("cd x &&\nmake"));
    }

    #[test]
    fn rejections_and_interrupts_are_not_failures() {
        let r = rejection("The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). The user provided the following reason for the rejection:  use pnpm", true, true);
        assert_eq!(r, Some(Some("use pnpm".into())));
        assert_eq!(
            rejection("please add transformer.js too first", true, true),
            Some(Some("please add transformer.js too first".into()))
        );
        let typed = "Wait a sec, we need to copy public/favicons/token.svg to the other repo too";
        assert_eq!(rejection(typed, true, true), Some(Some(typed.into())));
        assert_eq!(rejection(typed, true, false), None, "only a command's result can be a typed message");
        assert_eq!(rejection("Exit code 1", true, true), None);
        assert_eq!(rejection("Error: User not found", true, false), None);
        assert_eq!(rejection("Request failed with status code 403", true, false), None);
        assert_eq!(rejection("This command requires approval", true, true), None);
        assert_eq!(rejection("Shell dce0af is not running, so cannot be killed (status: killed)", true, true), None);
        let long = "File content (26838 tokens) exceeds maximum allowed tokens (25000). Please use offset and limit parameters to read specific portions of the file.";
        assert_eq!(rejection(long, true, false), None);
        // A file that mentions an interrupt is output, not a rejection.
        assert_eq!(rejection("     1→# handles \"[Request interrupted by user]\" lines", false, false), None);
    }

    #[test]
    fn failures_are_attributed_to_the_sub_command_the_error_names() {
        let cmds = text::parse_commands("cd test && uv run python -c 'x'");
        let errs = telling("(eval):cd:1: no such file or directory: test");
        let main = text::parse_command("cd test && uv run python -c 'x'");
        assert_eq!(attribute(&cmds, &errs, main.as_ref()).map(|c| c.key), Some("cd".into()));
        let errs = telling("Exit code 127\n/bin/bash: line 1: pytest: command not found");
        let cmds = text::parse_commands("source .env && pytest -x");
        assert_eq!(attribute(&cmds, &errs, None).map(|c| c.key), Some("pytest".into()));
    }

    #[test]
    fn linter_output_keeps_each_finding() {
        let out = "flake8...Failed\n- hook id: flake8\n- exit code: 1\n\na.py:1:1: F401 'os' imported but unused\na.py:9:5: F841 local variable 'x' is assigned to but never used\n";
        let t = telling(out);
        let keys: Vec<&str> = t.iter().map(|e| e.sig.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["f401 <str> imported but unused", "f841 local variable <str> is assigned to but never used"]
        );
    }

    #[test]
    fn a_headline_followed_by_details_is_not_the_error() {
        // aider's generic headline, the echoed reply, then the parser's pointer.
        let out = "The LLM did not conform to the edit format.\nhttps://aider.chat/docs/troubleshooting/edit-errors.html\nHere's the change:\n<<<<<<< SEARCH\nold\n=======\nnew\n=======\n\n^^^ Expected `>>>>>>> REPLACE` not `=======";
        let t = telling(out);
        assert_eq!(t.first().map(|e| e.line.as_str()), Some("^^^ Expected `>>>>>>> REPLACE` not `======="));
        let out = "The LLM did not conform to the edit format.\nNo filename provided before ``` in file listing";
        let t = telling(out);
        assert_eq!(t.first().map(|e| e.line.as_str()), Some("No filename provided before ``` in file listing"));
        // Alone, the headline is still the error shown (no detail to prefer).
        let t = telling("The LLM did not conform to the edit format.\nHere's the change:");
        assert_eq!(t.first().map(|e| e.line.as_str()), Some("The LLM did not conform to the edit format."));
        // A specific line of the same rank comes before a restatement after it.
        let t = telling("pytest: command not found\nthe command failed");
        assert_eq!(t.first().map(|e| e.line.as_str()), Some("pytest: command not found"));
    }
}
