//! Project conventions: the commands a project runs, again and again, to
//! test, check (lint and type-check), format, build and install — by the
//! agent itself or by the harness's hooks — as a reviewer would write them
//! into CLAUDE.md/AGENTS.md ("run the tests with `uv run pytest`", "a
//! PostToolUse hook runs `uv run ruff format` after each Edit").
//!
//! **Project.** Sessions are grouped by the working directory the ingest
//! recorded (the first `"cwd"` of a session's raw records: Claude Code,
//! Codex), whole: `/srv/a/app` and `/srv/b/app` are two projects, both
//! named `app` ([`nocturne_core::project`]). A worktree path
//! (`…/.claude/worktrees/<id>`, `…/worktrees/<id>`) belongs to the project
//! it was made from. Sessions without a recorded directory are grouped by
//! the folder of their source file and named "this project"; sessions with
//! neither belong to no known project and yield no convention. A name that
//! looks like an id (a hex run with digits) or a home directory is never
//! written into memory text, and no path is: the memory is tagged with its
//! project's id `project:NAME#KEY` (the key a digest of the directory).
//!
//! **Role** ([`role_of`]): from what is run, not from where: the tool after
//! runner wrappers (`uv run`, `poetry run`, `python -m`, `npx`, `pnpm
//! exec`, `bundle exec`...), its sub-command, and for script runners (`npm
//! run X`, `pnpm X`, `make X`, `just X`) the script or target name (`test`,
//! `test:unit`, `lint`, `typecheck`, `build`...). Inspection-only calls
//! (`--help`, `--version`, `--collect-only`, `--markers`, `--list`) are no
//! runs; installing a named package (`npm install lodash`) is not a setup
//! convention.
//!
//! **Canonical form.** Each run is reduced to its *form*: its words with
//! the variable parts dropped — single test paths and file arguments
//! (anything path-like, `a::b` test ids), test selectors with their value
//! (`-k`, `-t`, `--grep`, `-p`/`--package`, `--filter`, everything after
//! `--`), cosmetic flags (`-v`, `-q`, `-xvs`, `--tb=…`, `--color…`) — and a
//! `source <venv>/bin/activate &&` the line ran first kept in front. A run
//! *works* when its call succeeded or ran tests that failed (a test
//! failure is the code, not the command); transient errors and rejected
//! calls count neither way. A tool (`pytest`, `ruff check`, `npm run
//! lint`) qualifies when working runs come from ≥ `min_support` support
//! units ([`Context::units`]) of the project; its canonical form is the
//! working form of most units (then most runs, then the shortest). Other
//! working forms that only *add* words to it are listed as variants
//! ("also with `-m tui`"), at most three, shortest first.
//!
//! **Failed, then fixed.** When a run fails *as an invocation* (command
//! not found, missing script, unknown option, no tests collected or
//! selected, no such file...) and a later run of the same role in that
//! session works with another form, and the failing form never works
//! later in that session, the failing form is *superseded*: never chosen
//! as canonical, and the lesson says to avoid it (with the failing call as
//! evidence). A failure that is the code's (type errors, lint findings) is
//! not the command's fault and supersedes nothing.
//!
//! **Hooks.** Claude Code reports hook runs as system records
//! (`PostToolUse:Edit [uv run ruff format] completed successfully`,
//! `Stop [uv run pytest 2>&1] completed successfully`, failures alike) and
//! as `attachment` records (`hookName`, `command`). A hook event whose
//! role commands are reported in ≥ `min_support` units becomes one lesson
//! listing its commands (at most four) and, for tool hooks, the tools it
//! follows. A role a PostToolUse hook already runs after edits is the
//! harness's job: the agent's own runs of that tool make no separate
//! lesson. Hooks without a role command (a notifier plugin) are ignored.
//!
//! **Lessons.** One per project and group — tests; checks (lint and type
//! check together, "keep them clean"); format; build; install — listing up
//! to three qualifying tools, and one per hook event; at most
//! [`MAX_PER_DREAM`] per dream, most support first, each ≤ 200 characters.
//! They are facts (category `fact`, kind `fact`): not personal, so the
//! planner gives them the narrowest shared scope of their sessions (see
//! [`crate::scope`]); the project is named in the text and its id is the
//! memory's `project:NAME#KEY` tag, which keeps the lesson out of other
//! projects' context bundles (the folder of an imported file, when it is
//! the project, tags only when its path is absolute). Key terms
//! (the project, the role phrase, the commands) make a re-dream find the
//! memory it already made, so it proposes nothing new without new sessions.
//! Evidence: per supporting session, the first working call (its command
//! segment, verbatim) or hook record, at most six.

use crate::actions::{Action, Family, Outcome};
use crate::context::Context;
use crate::text;
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{EventKind, Evidence, MemoryKind, OpKind, Project};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Conventions;

/// Most convention lessons one dream proposes.
pub const MAX_PER_DREAM: usize = 8;
const MAX_VARIANTS: usize = 3;
const MAX_TOOLS: usize = 3;
const MAX_HOOK_COMMANDS: usize = 4;
const MAX_EVIDENCE: usize = 6;
const MAX_TEXT: usize = 200;

/// What a command is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Test,
    Lint,
    TypeCheck,
    Format,
    Build,
    Install,
}

/// Lessons group roles: lint and type check are one "checks" lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Group {
    Test,
    Check,
    Format,
    Build,
    Install,
}

impl Role {
    fn group(self) -> Group {
        match self {
            Role::Test => Group::Test,
            Role::Lint | Role::TypeCheck => Group::Check,
            Role::Format => Group::Format,
            Role::Build => Group::Build,
            Role::Install => Group::Install,
        }
    }
}

fn base(w: &str) -> &str {
    w.rsplit(['/', '\\']).next().unwrap_or(w)
}

const INSPECT: &[&str] = &[
    "--help",
    "-h",
    "--version",
    "-V",
    "--collect-only",
    "--co",
    "--markers",
    "--fixtures",
    "--list",
    "--list-tests",
    "--showconfig",
    "--dry-run",
];

/// The role of a script or make target name (`test:unit`, `lint`, `build`).
fn script_role(name: &str) -> Option<Role> {
    let n = name.to_ascii_lowercase();
    let head = n.split([':', '-', '_', '.']).next().unwrap_or(&n);
    let r = match head {
        "test" | "tests" | "spec" | "e2e" | "unit" | "integration" => Role::Test,
        "lint" | "check" | "verify" => Role::Lint,
        "typecheck" | "types" | "tsc" => Role::TypeCheck,
        "format" | "fmt" | "prettier" => Role::Format,
        "build" | "compile" | "bundle" | "dist" | "all" => Role::Build,
        "install" | "setup" | "bootstrap" | "deps" => Role::Install,
        _ if n.starts_with("type-check") || n.starts_with("check-types") => Role::TypeCheck,
        _ if n.contains("test") => Role::Test,
        _ => return None,
    };
    Some(r)
}

/// Where the command proper starts in `words`, past runner wrappers.
fn tool_start(words: &[String]) -> usize {
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let next = words.get(i + 1).map(String::as_str);
        let step = match (base(w), next) {
            ("uv" | "poetry" | "pipenv" | "pdm" | "rye" | "hatch", Some("run")) => 2,
            ("pnpm" | "yarn", Some("exec" | "dlx")) | ("bundle", Some("exec")) => 2,
            ("python" | "python3" | "py", Some("-m")) => 2,
            ("uvx" | "npx" | "bunx" | "pnpx" | "time" | "env" | "nice", _) => 1,
            _ => 0,
        };
        if step == 0 {
            break;
        }
        i += step;
        while words.get(i).is_some_and(|w| w.starts_with('-')) {
            i += 1;
        }
    }
    i
}

/// The role of a command (its words, as [`text::Cmd::words`]) and the
/// tool's identity (`pytest`, `ruff check`, `npm run lint`); `None` for
/// commands of no role and inspection-only calls (see the module docs).
pub fn role_of(words: &[String]) -> Option<(Role, String)> {
    if words.iter().any(|w| INSPECT.contains(&w.as_str())) {
        return None;
    }
    let start = tool_start(words);
    let tool = base(words.get(start)?).to_ascii_lowercase();
    let rest: Vec<&str> = words.iter().skip(start + 1).map(String::as_str).collect();
    let positional: Vec<&str> = rest.iter().copied().filter(|w| !w.starts_with('-')).collect();
    let sub = positional.first().map(|s| s.to_ascii_lowercase());
    let sub = sub.as_deref();
    let with_sub = |r: Role| Some((r, format!("{tool} {}", sub.unwrap_or_default())));
    let alone = |r: Role| Some((r, tool.clone()));
    // A setup command, unless it names packages to add.
    let setup = |ident: String, extra: &[&str]| {
        let named = extra.iter().any(|w| !w.starts_with('-'));
        (!named).then_some((Role::Install, ident))
    };
    match tool.as_str() {
        "pytest" | "py.test" | "jest" | "vitest" | "mocha" | "ava" | "rspec" | "phpunit" | "ctest" | "unittest"
        | "tox" | "nox" | "bats" | "karma" => alone(Role::Test),
        "playwright" | "cypress" if matches!(sub, Some("test" | "run")) => with_sub(Role::Test),
        "ruff" => match sub {
            Some("format") => with_sub(Role::Format),
            Some("check") => with_sub(Role::Lint),
            _ => None,
        },
        "black" | "isort" | "prettier" | "rustfmt" | "gofmt" | "goimports" | "clang-format" | "autopep8" | "yapf"
        | "shfmt" | "stylua" => alone(Role::Format),
        "flake8" | "pylint" | "eslint" | "golangci-lint" | "shellcheck" | "rubocop" | "stylelint" | "markdownlint"
        | "hadolint" | "oxlint" | "clippy-driver" => alone(Role::Lint),
        "biome" => match sub {
            Some("format") => with_sub(Role::Format),
            Some("lint" | "check" | "ci") => with_sub(Role::Lint),
            _ => None,
        },
        "mypy" | "pyright" | "basedpyright" | "pytype" | "pyre" | "vue-tsc" => alone(Role::TypeCheck),
        "tsc" if rest.iter().any(|w| *w == "-b" || *w == "--build") => alone(Role::Build),
        "tsc" => alone(Role::TypeCheck),
        "ty" if sub == Some("check") => with_sub(Role::TypeCheck),
        "pre-commit" if sub == Some("run") => with_sub(Role::Lint),
        "cargo" => match sub {
            Some("test" | "nextest") => with_sub(Role::Test),
            Some("clippy") => with_sub(Role::Lint),
            Some("fmt") => with_sub(Role::Format),
            Some("check") => with_sub(Role::TypeCheck),
            Some("build") => with_sub(Role::Build),
            _ => None,
        },
        "go" => match sub {
            Some("test") => with_sub(Role::Test),
            Some("vet") => with_sub(Role::Lint),
            Some("fmt") => with_sub(Role::Format),
            Some("build") => with_sub(Role::Build),
            _ => None,
        },
        "deno" => match sub {
            Some("test") => with_sub(Role::Test),
            Some("lint") => with_sub(Role::Lint),
            Some("fmt") => with_sub(Role::Format),
            Some("check") => with_sub(Role::TypeCheck),
            _ => None,
        },
        "mix" => match sub {
            Some("test") => with_sub(Role::Test),
            Some("format") => with_sub(Role::Format),
            Some("credo") => with_sub(Role::Lint),
            Some("dialyzer") => with_sub(Role::TypeCheck),
            Some("compile") => with_sub(Role::Build),
            Some("deps.get") => with_sub(Role::Install),
            _ => None,
        },
        "dotnet" => match sub {
            Some("test") => with_sub(Role::Test),
            Some("build") => with_sub(Role::Build),
            Some("format") => with_sub(Role::Format),
            Some("restore") => with_sub(Role::Install),
            _ => None,
        },
        "gradle" | "gradlew" | "mvn" | "mvnw" => match sub {
            Some("test") => with_sub(Role::Test),
            Some("build" | "package" | "assemble" | "verify") => with_sub(Role::Build),
            Some("check") => with_sub(Role::Lint),
            _ => None,
        },
        "npm" | "pnpm" | "yarn" | "bun" => {
            let Some(s) = sub else {
                return (tool == "yarn").then(|| (Role::Install, tool.clone()));
            };
            match s {
                "test" | "t" | "tst" => Some((Role::Test, format!("{tool} test"))),
                "install" | "i" | "ci" => setup(format!("{tool} {s}"), positional.get(1..).unwrap_or_default()),
                "run" | "run-script" => {
                    let script = positional.get(1)?;
                    Some((script_role(script)?, format!("{tool} run {script}")))
                }
                "add" | "remove" | "exec" | "dlx" | "x" | "create" | "init" | "publish" | "link" | "why"
                | "outdated" | "update" | "upgrade" | "audit" | "view" | "info" | "pack" | "start" | "dev" => None,
                _ if tool != "npm" => Some((script_role(s)?, format!("{tool} {s}"))),
                _ => None,
            }
        }
        "make" | "just" | "task" => match sub {
            None if tool == "make" => alone(Role::Build),
            None => None,
            Some(t) => Some((script_role(t)?, format!("{tool} {t}"))),
        },
        "pip" | "pip3" if sub == Some("install") => {
            let from_file = rest.iter().any(|w| matches!(*w, "-r" | "--requirement" | "-e" | "--editable" | "."));
            from_file.then(|| (Role::Install, format!("{tool} install")))
        }
        "uv" => match sub {
            Some("sync") => with_sub(Role::Install),
            Some("build") => with_sub(Role::Build),
            Some("pip") if positional.get(1) == Some(&"install") => {
                let from_file = rest.iter().any(|w| matches!(*w, "-r" | "-e" | "--editable" | "."));
                from_file.then(|| (Role::Install, "uv pip install".to_string()))
            }
            _ => None,
        },
        "poetry" | "bundle" | "composer" | "pdm" if sub == Some("install") => {
            setup(format!("{tool} install"), positional.get(1..).unwrap_or_default())
        }
        "build" if words.get(start.wrapping_sub(1)).is_some_and(|w| w == "-m") => alone(Role::Build),
        "vite" | "next" | "nuxt" | "astro" | "webpack" | "rollup" if sub == Some("build") => with_sub(Role::Build),
        _ => None,
    }
}

const COSMETIC: &[&str] = &[
    "-v",
    "-vv",
    "-vvv",
    "--verbose",
    "-q",
    "-qq",
    "--quiet",
    "--silent",
    "-s",
    "-x",
    "--no-header",
    "--no-color",
    "--color",
    "--colors",
    "-rA",
    "--durations",
    "--tb",
    "--exitfirst",
    "--capture",
];
const SELECTORS: &[&str] = &[
    "-k",
    "-t",
    "--testNamePattern",
    "--grep",
    "-g",
    "-run",
    "-p",
    "--package",
    "--filter",
    "-F",
    "--test",
    "--bin",
    "--example",
    "--deselect",
    "--lf",
    "--last-failed",
];

fn is_cosmetic(w: &str) -> bool {
    let name = w.split('=').next().unwrap_or(w);
    if COSMETIC.contains(&name) || name.starts_with("--color") {
        return true;
    }
    // Combined short flags of verbosity/capture/stop only: `-xvs`, `-vx`.
    w.len() > 2
        && w.starts_with('-')
        && !w.starts_with("--")
        && w.chars().skip(1).all(|c| matches!(c, 'v' | 'q' | 'x' | 's'))
}

fn is_variable(w: &str) -> bool {
    if w == "./..." {
        return false;
    }
    w.contains('/')
        || w.contains('\\')
        || w.contains("::")
        || w.contains('*')
        || w.starts_with('.')
        || w.starts_with('~')
        || w.rsplit_once('.').is_some_and(|(a, ext)| {
            !a.is_empty() && (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphabetic())
        })
}

/// A command's form: its words without the variable parts (see the module
/// docs), rendered as a shell command.
pub fn form_of(words: &[String]) -> String {
    let mut out: Vec<&str> = Vec::new();
    let start = tool_start(words);
    let mut i = 0;
    let mut after_flag = false;
    while let Some(w) = words.get(i) {
        i += 1;
        let w = w.as_str();
        if i <= start + 1 {
            out.push(w);
            continue;
        }
        if w == "--" {
            break;
        }
        if w.starts_with('-') && w.len() > 1 {
            let name = w.split('=').next().unwrap_or(w);
            if SELECTORS.contains(&name) {
                if !w.contains('=') && words.get(i).is_some_and(|n| !n.starts_with('-')) {
                    i += 1;
                }
                after_flag = false;
                continue;
            }
            if is_cosmetic(w) {
                if (name == "--tb" || name == "--durations") && !w.contains('=') {
                    i += 1;
                }
                after_flag = false;
                continue;
            }
            if w.split_once('=').is_some_and(|(_, v)| is_variable(v)) {
                after_flag = false;
                continue;
            }
            out.push(w);
            after_flag = true;
            continue;
        }
        if is_variable(w) {
            // A flag that takes a path goes with it (`--manifest-path x`).
            if after_flag && out.last().is_some_and(|f| takes_path(f)) {
                out.pop();
            }
            after_flag = false;
            continue;
        }
        out.push(w);
        after_flag = false;
    }
    out.iter().map(|w| quote_word(w)).collect::<Vec<_>>().join(" ")
}

fn takes_path(flag: &str) -> bool {
    let f = flag.trim_start_matches('-').to_ascii_lowercase();
    ["path", "dir", "file", "config", "root", "manifest", "output", "prefix", "cwd", "ext"]
        .iter()
        .any(|k| f.contains(k))
        || matches!(flag, "-c" | "-o" | "-C" | "-f" | "-d")
}

fn quote_word(w: &str) -> String {
    let special = w.is_empty() || w.chars().any(|c| c.is_whitespace() || "()|&;<>$`\"'".contains(c));
    if special {
        format!("\"{}\"", w.replace('"', "\\\""))
    } else {
        w.to_string()
    }
}

/// A failure of the invocation itself, not of the code it checks.
fn invocation_failure(a: &Action) -> bool {
    const MARKS: &[&str] = &[
        "command not found",
        "not found: ",
        "no such file or directory",
        "missing script",
        "unknown command",
        "is not recognized",
        "no module named",
        "unrecognized argument",
        "unknown option",
        "unexpected argument",
        "no such command",
        "not installed",
        "cannot find module",
        "enoent",
        "exit code 127",
        "no tests ran",
        " 0 selected",
        "no tests collected",
        "no tests found",
        "no test files found",
        "could not find",
        "usage:",
        "file or directory not found",
        "cannot find a ",
        "does not exist",
        "no inputs were found",
    ];
    let t = a.error_text.as_deref().unwrap_or_default();
    let lines = a.errors.iter().map(|e| e.line.to_lowercase()).collect::<Vec<_>>().join("\n");
    if MARKS.iter().any(|m| t.contains(m) || lines.contains(m)) {
        return true;
    }
    // `error Command "test" not found.`, `Unknown task 'tset'`.
    const WHAT: &[&str] = &["command", "script", "task", "target", "executable", "program", "subcommand"];
    const WRONG: &[&str] = &["not found", "unknown", "no such", "does not exist", "unrecognized", "no rule to make"];
    lines.lines().any(|l| WHAT.iter().any(|w| l.contains(w)) && WRONG.iter().any(|w| l.contains(w)))
}

/// One run of a role command.
struct Run {
    session: usize,
    seq: u32,
    role: Role,
    ident: String,
    form: String,
    works: bool,
    invocation_failed: bool,
    /// It follows, in its session, an invocation failure of the same role
    /// with another form: it is that failure's fix.
    recovers: bool,
    /// Its words before the variable parts were dropped.
    full: String,
    quote: String,
}

/// One hook report.
struct HookRun {
    session: usize,
    seq: u32,
    event: String,
    matcher: Option<String>,
    role: Role,
    ident: String,
    form: String,
    quote: String,
}

const HOOK_EVENTS: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "SubagentStop",
    "Stop",
    "UserPromptSubmit",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "Notification",
];

/// A hook report in a line of text: `(event, matcher, command, quote start)`.
fn hook_in_line(line: &str) -> Option<(String, Option<String>, String)> {
    let clean = text::strip_ansi(line);
    for ev in HOOK_EVENTS {
        let Some(p) = clean.find(ev) else { continue };
        if clean.get(..p).and_then(|s| s.chars().last()).is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let after = clean.get(p + ev.len()..)?;
        let (matcher, after) = match after.strip_prefix(':') {
            Some(m) => {
                let end = m.find(|c: char| c.is_whitespace() || c == '[').unwrap_or(m.len());
                (Some(m.get(..end)?.to_string()), m.get(end..)?)
            }
            None => (None, after),
        };
        let after = after.trim_start();
        let after = after.strip_prefix("hook").map_or(after, str::trim_start);
        let cmd = if let Some(b) = after.strip_prefix('[') {
            let end = b.find("] completed").or_else(|| b.find("] failed"))?;
            b.get(..end)?
        } else if let Some(i) = after.find("from command: \"") {
            let b = after.get(i + 15..)?;
            b.get(..b.find('"')?)?
        } else {
            return None;
        };
        return Some((ev.to_string(), matcher, cmd.to_string()));
    }
    None
}

/// The hook reports of one event: from its text, else its raw attachment.
fn hooks_of_event(e: &nocturne_core::Event) -> Vec<(String, Option<String>, String, String)> {
    let mut out = Vec::new();
    if let Some(t) = e.body.text.as_deref() {
        if t.contains('[') || t.contains("from command") {
            for line in t.lines() {
                if let Some((ev, m, cmd)) = hook_in_line(line) {
                    let q = line.find(&format!("[{cmd}]")).and_then(|i| line.get(i..)).unwrap_or(line);
                    out.push((ev, m, cmd, text::excerpt(q, 200)));
                }
            }
        }
    }
    if out.is_empty() && e.body.raw.contains("\"hookName\"") && e.body.raw.contains("\"command\"") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.body.raw) {
            let a = v.get("attachment").unwrap_or(&v);
            let name = a.get("hookName").and_then(|x| x.as_str());
            let cmd = a.get("command").and_then(|x| x.as_str());
            let quote = e.body.text.as_deref().map(|t| text::excerpt(t, 200)).unwrap_or_default();
            if let (Some(name), Some(cmd)) = (name, cmd) {
                if !quote.is_empty() {
                    let (ev, m) = match name.split_once(':') {
                        Some((a, b)) => (a.to_string(), Some(b.to_string())),
                        None => (name.to_string(), None),
                    };
                    out.push((ev, m, cmd.to_string(), quote));
                }
            }
        }
    }
    out
}

/// The recorded working directory of a session, if any.
pub fn cwd_of(sd: &crate::SessionData) -> Option<String> {
    nocturne_core::project::recorded_cwd(sd.events.iter().map(|e| e.body.raw.as_str()))
}

/// The project every one of `sessions` was recorded in (see
/// [`project_of`]), if they share one.
pub(crate) fn common_project(ctx: &Context, sessions: &BTreeSet<usize>) -> Option<Project> {
    let mut out: Option<Project> = None;
    for si in sessions {
        let s = ctx.sessions.get(*si)?;
        let (_, _, p) = project_of(cwd_of(s.data).as_deref(), s.data.session.source.as_deref())?;
        let p = p?;
        match &out {
            None => out = Some(p),
            Some(o) if *o == p => {}
            Some(_) => return None,
        }
    }
    out
}

/// A project's grouping key, its name for the text (`None`: "this
/// project") and the project its memories are tagged with (see the module
/// docs); `None` when neither a working directory nor an absolute source
/// file folder is known.
pub fn project_of(cwd: Option<&str>, source: Option<&str>) -> Option<(String, Option<String>, Option<Project>)> {
    if let Some(c) = cwd.and_then(Project::of_dir) {
        let name = (c.name != nocturne_core::project::UNNAMED).then(|| c.name.clone());
        return Some((format!("cwd:{}", c.key), name, Some(c)));
    }
    let source = source.filter(|s| !s.trim().is_empty())?;
    let dir = source.rsplit_once(['/', '\\']).map_or("", |(d, _)| d);
    // The folder of an imported file is a project only when its path is
    // whole; a relative one depends on where the ingest ran.
    let absolute = nocturne_core::Here::parse(dir).is_ok_and(|h| matches!(h, nocturne_core::Here::Dir { .. }));
    let tagged = if absolute { Project::of_dir(dir) } else { None };
    Some((format!("dir:{dir}"), None, tagged))
}

/// One report of pre-commit-style hooks (`black....Failed`, `- hook id:
/// black`, `- files were modified by this hook`) in a tool result.
struct CommitHooks {
    session: usize,
    seq: u32,
    /// Hook names with the verbatim line that reported each.
    names: Vec<(String, String)>,
    /// Hooks that rewrote files, with the verbatim line saying so.
    modified: Vec<(String, String)>,
}

/// Hook names, each with the verbatim line that reported it.
type Named = Vec<(String, String)>;

/// The pre-commit-style hook lines of a result text: the hooks reported,
/// and those that rewrote files.
fn commit_hooks(t: &str) -> (Named, Named) {
    let mut names: Named = Vec::new();
    let mut modified: Named = Vec::new();
    if !t.contains("....") {
        return (names, modified);
    }
    let mut current: Option<String> = None;
    for raw in t.lines() {
        let line = raw.trim();
        let body = line.trim_start_matches(['>', '#', ' ']).trim();
        if body == "- files were modified by this hook" {
            if let Some(c) = &current {
                if !modified.iter().any(|(n, _)| n == c) {
                    modified.push((c.clone(), line.to_string()));
                }
            }
            continue;
        }
        let Some(i) = body.find("....") else { continue };
        let status = body.get(i..).unwrap_or_default().trim_start_matches('.');
        let known = ["Passed", "Failed", "Skipped"].iter().any(|s| status.ends_with(s));
        let name = body.get(..i).unwrap_or_default().trim();
        if !known || name.is_empty() || name.len() > 40 {
            continue;
        }
        current = Some(name.to_string());
        if !names.iter().any(|(n, _)| n == name) {
            names.push((name.to_string(), line.to_string()));
        }
    }
    (names, modified)
}

#[derive(Default)]
struct ProjectSessions {
    name: Option<String>,
    project: Option<Project>,
    runs: Vec<Run>,
    hooks: Vec<HookRun>,
    commit_hooks: Vec<CommitHooks>,
}

impl Pass for Conventions {
    fn name(&self) -> &'static str {
        "conventions"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut projects: BTreeMap<String, ProjectSessions> = BTreeMap::new();
        for (si, s) in ctx.sessions.iter().enumerate() {
            let sess = &s.data.session;
            // Sessions of no known place are of no known project.
            let Some((key, name, project)) = project_of(cwd_of(s.data).as_deref(), sess.source.as_deref()) else {
                continue;
            };
            let p = projects.entry(key).or_default();
            if p.name.is_none() {
                p.name = name;
            }
            if p.project.is_none() {
                p.project = project;
            }
            collect_runs(si, &s.actions, &mut p.runs);
            for e in &s.data.events {
                if matches!(e.body.kind, EventKind::ToolResult | EventKind::System) {
                    let (names, modified) = commit_hooks(e.body.text.as_deref().unwrap_or_default());
                    if names.len() >= 2 {
                        p.commit_hooks.push(CommitHooks { session: si, seq: e.seq, names, modified });
                    }
                }
                if !matches!(e.body.kind, EventKind::System | EventKind::Other | EventKind::UserMessage) {
                    continue;
                }
                for (event, matcher, cmd, quote) in hooks_of_event(e) {
                    for c in text::parse_commands(&cmd) {
                        let Some((role, ident)) = role_of(&c.words) else { continue };
                        p.hooks.push(HookRun {
                            session: si,
                            seq: e.seq,
                            event: event.clone(),
                            matcher: matcher.clone(),
                            role,
                            ident,
                            form: form_of(&c.words),
                            quote: quote.clone(),
                        });
                    }
                }
            }
        }
        let mut findings = Vec::new();
        let mut candidates = 0usize;
        for p in projects.values() {
            let before = findings.len();
            project_findings(ctx, p, &mut findings);
            candidates += findings.len() - before;
        }
        findings.sort_by(|a, b| b.sessions.len().cmp(&a.sessions.len()).then(a.text.cmp(&b.text)));
        findings.truncate(MAX_PER_DREAM);
        let mut out = PassOutput::from(findings);
        out.stats.insert("conventions.candidates".into(), candidates.into());
        Ok(out)
    }
}

fn collect_runs(si: usize, actions: &[Action], out: &mut Vec<Run>) {
    for a in actions {
        if a.family != Family::Shell || a.transient || !a.called {
            continue;
        }
        if matches!(a.outcome, Outcome::Unknown | Outcome::Rejected) {
            continue;
        }
        // A test run that found failing tests worked as a command, unless
        // it selected or collected nothing.
        let invocation = a.outcome == Outcome::Failed && invocation_failure(a);
        let works = a.outcome == Outcome::Ok || (a.test_failure && !invocation);
        let mut prefix: Option<String> = None;
        for c in &a.cmds {
            if matches!(c.verb.as_str(), "source" | ".") {
                prefix = c
                    .words
                    .get(1)
                    .filter(|w| w.ends_with("activate") && !w.starts_with('/') && !w.starts_with('~'))
                    .map(|w| format!("source {w} && "));
                continue;
            }
            let Some((role, ident)) = role_of(&c.words) else { continue };
            // In a failed line only the failing command is known to have failed.
            if !works && a.cmd.as_ref().is_some_and(|f| f.raw != c.raw) {
                continue;
            }
            let form = format!("{}{}", prefix.as_deref().unwrap_or_default(), form_of(&c.words));
            out.push(Run {
                session: si,
                seq: a.call_seq,
                role,
                ident,
                form,
                works,
                invocation_failed: !works && invocation,
                recovers: false,
                full: c.words.join(" "),
                quote: text::excerpt(&c.raw, 200),
            });
        }
    }
    let first = out.iter().position(|r| r.session == si).unwrap_or(out.len());
    for i in first..out.len() {
        let Some(r) = out.get(i) else { continue };
        let (role, form) = (r.role, r.form.clone());
        let recovers = out
            .get(first..i)
            .unwrap_or_default()
            .iter()
            .any(|f| f.invocation_failed && f.role == role && f.form != form);
        if let Some(r) = out.get_mut(i) {
            r.recovers = recovers;
        }
    }
}

/// Tools whose form hides what made them work: an invocation failure
/// followed, in its session, by a working run of the same form that added
/// a flag (`tsc` failing, `tsc -p api/tsconfig.json` working). The dropped
/// parts matter there, so no convention is drawn (the mistakes pass says
/// what fixed it).
fn argument_sensitive(runs: &[Run]) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for (i, f) in runs.iter().enumerate() {
        if !f.invocation_failed {
            continue;
        }
        let flags = |r: &Run| -> BTreeSet<String> {
            r.full
                .split(' ')
                .filter(|w| w.starts_with('-'))
                .map(|w| w.split('=').next().unwrap_or(w).to_string())
                .collect()
        };
        let failed = flags(f);
        // The fix added a flag the form drops; a path changed (relative to
        // absolute after a `cd`) is not that.
        let fixed = runs
            .iter()
            .skip(i + 1)
            .any(|r| r.session == f.session && r.works && r.form == f.form && !flags(r).is_subset(&failed));
        if fixed {
            out.insert(f.ident.as_str());
        }
    }
    out
}

/// A tool's chosen form, its variants and support.
struct Chosen {
    form: String,
    variants: Vec<String>,
    units: BTreeSet<usize>,
    sessions: BTreeSet<usize>,
    evidence: Vec<Evidence>,
}

fn ev(ctx: &Context, si: usize, seq: u32, quote: &str) -> Option<Evidence> {
    let s = ctx.sessions.get(si)?;
    Some(Evidence { session: s.id().to_string(), events: vec![seq], quote: quote.to_string() })
}

fn unit(ctx: &Context, si: usize) -> usize {
    ctx.units.get(si).copied().unwrap_or(si)
}

/// Forms that failed as invocations and were replaced, in the same
/// session, by a working form of the same role (see the module docs):
/// form → the failing run.
fn superseded(runs: &[Run]) -> HashMap<&str, &Run> {
    let mut out: HashMap<&str, &Run> = HashMap::new();
    for (i, f) in runs.iter().enumerate() {
        if f.works || !f.invocation_failed {
            continue;
        }
        let later = runs.iter().skip(i + 1).filter(|r| r.session == f.session && r.works);
        let mut fixed = false;
        let mut self_ok = false;
        for r in later {
            if r.form == f.form {
                self_ok = true;
            } else if r.role == f.role {
                fixed = true;
            }
        }
        if fixed && !self_ok {
            out.entry(f.form.as_str()).or_insert(f);
        }
    }
    out
}

fn choose(ctx: &Context, runs: &[&Run], bad: &HashMap<&str, &Run>, min: usize) -> Option<Chosen> {
    let mut by_form: BTreeMap<&str, (BTreeSet<usize>, usize)> = BTreeMap::new();
    let mut units = BTreeSet::new();
    let mut sessions = BTreeSet::new();
    for r in runs.iter().filter(|r| r.works && !bad.contains_key(r.form.as_str())) {
        let e = by_form.entry(r.form.as_str()).or_default();
        e.0.insert(unit(ctx, r.session));
        e.1 += 1;
        units.insert(unit(ctx, r.session));
        sessions.insert(r.session);
    }
    if units.len() < min {
        return None;
    }
    // Not only as the fix of another command's failure: that is the
    // mistakes pass's lesson.
    if runs.iter().all(|r| !r.works || r.recovers) {
        return None;
    }
    let rank = |f: &&str, (u, n): &(BTreeSet<usize>, usize)| (u.len(), *n, std::cmp::Reverse(f.len()));
    let (form, _) = by_form.iter().max_by(|a, b| rank(a.0, a.1).cmp(&rank(b.0, b.1)).then(b.0.cmp(a.0)))?;
    let form = form.to_string();
    let canon: Vec<&str> = form.split(' ').collect();
    let mut variants: Vec<(usize, String)> = by_form
        .iter()
        .filter(|(f, _)| **f != form)
        .filter_map(|(f, (u, _))| {
            let words: Vec<&str> = f.split(' ').collect();
            if !canon.iter().all(|c| words.contains(c)) || !f.starts_with(canon.first()?) {
                return None;
            }
            let extra: Vec<&str> = words.iter().copied().filter(|w| !canon.contains(w)).collect();
            (!extra.is_empty()).then(|| (u.len(), extra.join(" ")))
        })
        .collect();
    variants.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.len().cmp(&b.1.len())).then(a.1.cmp(&b.1)));
    let variants: Vec<String> = variants.into_iter().map(|v| v.1).take(MAX_VARIANTS).collect();
    // Evidence: each session's first working run of the canonical form,
    // else of any form.
    let mut evidence = Vec::new();
    for si in &sessions {
        let pick = runs
            .iter()
            .filter(|r| r.session == *si && r.works)
            .min_by_key(|r| (r.form != form, r.seq))
            .and_then(|r| ev(ctx, r.session, r.seq, &r.quote));
        evidence.extend(pick);
        if evidence.len() >= MAX_EVIDENCE {
            break;
        }
    }
    Some(Chosen { form, variants, units, sessions, evidence })
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match q.as_slice() {
        [] => String::new(),
        [a] => a.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn project_findings(ctx: &Context, p: &ProjectSessions, out: &mut Vec<Finding>) {
    let min = ctx.config.support_for(Category::Fact) as usize;
    let place = p.name.as_ref().map_or_else(|| "this project".to_string(), |n| format!("`{n}`"));
    // Hooks, by event.
    let mut by_event: BTreeMap<&str, Vec<&HookRun>> = BTreeMap::new();
    for h in &p.hooks {
        by_event.entry(h.event.as_str()).or_default().push(h);
    }
    let mut after_edit: BTreeSet<&str> = BTreeSet::new();
    for (event, hooks) in &by_event {
        let units: BTreeSet<usize> = hooks.iter().map(|h| unit(ctx, h.session)).collect();
        if units.len() < min {
            continue;
        }
        // Commands by identity: sessions, most common form.
        let mut cmds: BTreeMap<&str, (BTreeSet<usize>, Vec<&str>)> = BTreeMap::new();
        for h in hooks {
            let e = cmds.entry(h.ident.as_str()).or_default();
            e.0.insert(h.session);
            e.1.push(h.form.as_str());
        }
        let mut cmds: Vec<(usize, Role, String, &str)> = cmds
            .into_iter()
            .filter_map(|(ident, (s, forms))| {
                let role = hooks.iter().find(|h| h.ident == ident)?.role;
                Some((s.len(), role, super::most_common(forms)?, ident))
            })
            .collect();
        cmds.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        cmds.truncate(MAX_HOOK_COMMANDS);
        let matchers: BTreeSet<&str> = hooks.iter().filter_map(|h| h.matcher.as_deref()).collect();
        let edits = matchers.iter().any(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("edit") || m.contains("write")
        });
        if *event == "PostToolUse" && edits {
            after_edit.extend(cmds.iter().map(|c| c.3));
        }
        let forms: Vec<String> = cmds.iter().map(|c| c.2.clone()).collect();
        let tools: Vec<String> = matchers.iter().take(3).map(|m| m.to_string()).collect();
        let when = match *event {
            "PostToolUse" | "PreToolUse" => {
                let at = if *event == "PostToolUse" { "after" } else { "before" };
                if tools.is_empty() {
                    format!("{at} each tool call")
                } else {
                    let t = list(&tools).replace('`', "").replace(" and ", " or ");
                    format!("{at} each {t}")
                }
            }
            "Stop" | "SubagentStop" => "when the agent finishes its turn; keep them passing".to_string(),
            "SessionStart" => "when a session starts".to_string(),
            _ => format!("on {event}"),
        };
        let text = fit(format!("In {place}, a {event} hook runs {} {when}.", list(&forms)));
        let sessions: BTreeSet<usize> = hooks.iter().map(|h| h.session).collect();
        let mut evidence = Vec::new();
        let mut seen = BTreeSet::new();
        for h in hooks {
            if seen.insert(h.session) {
                evidence.extend(ev(ctx, h.session, h.seq, &h.quote));
            }
            if evidence.len() >= MAX_EVIDENCE {
                break;
            }
        }
        let mut key_terms = vec![place.clone(), format!("{event} hook")];
        key_terms.extend(forms.iter().take(1).cloned());
        out.push(finding(
            p,
            text,
            sessions,
            evidence,
            key_terms,
            format!(
                "a {event} hook of {place} reported running {} in {} independent sessions",
                list(&forms),
                units.len()
            ),
        ));
    }
    commit_hook_finding(ctx, p, &place, min, out);
    // The agent's own runs, by group then tool.
    let bad = superseded(&p.runs);
    let sensitive = argument_sensitive(&p.runs);
    let mut by_group: BTreeMap<Group, BTreeMap<&str, Vec<&Run>>> = BTreeMap::new();
    for r in &p.runs {
        by_group.entry(r.role.group()).or_default().entry(r.ident.as_str()).or_default().push(r);
    }
    for (group, tools) in &by_group {
        let mut chosen: Vec<Chosen> = tools
            .iter()
            .filter(|(ident, _)| !after_edit.contains(*ident) && !sensitive.contains(*ident))
            .filter_map(|(_, runs)| choose(ctx, runs, &bad, min))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        chosen.sort_by(|a, b| b.units.len().cmp(&a.units.len()).then(a.form.cmp(&b.form)));
        chosen.truncate(MAX_TOOLS);
        let forms: Vec<String> = chosen.iter().map(|c| c.form.clone()).collect();
        let avoid = bad
            .values()
            .filter(|r| r.role.group() == *group && !forms.contains(&r.form))
            .min_by(|a, b| a.form.len().cmp(&b.form.len()).then(a.form.cmp(&b.form)));
        let variants = match chosen.as_slice() {
            [one] if !one.variants.is_empty() => {
                let v: Vec<String> = one.variants.clone();
                format!(" (also with {})", list(&v).replace(" and ", ", "))
            }
            _ => String::new(),
        };
        let them = if forms.len() == 1 { "it" } else { "them" };
        let body = match group {
            Group::Test => format!("run the tests with {}{variants}", list(&forms).replace(" and ", " or ")),
            Group::Check => format!("check the code with {}{variants}; keep {them} clean", list(&forms)),
            Group::Format => format!("format the code with {}{variants}", list(&forms)),
            Group::Build => format!("build with {}{variants}", list(&forms)),
            Group::Install => format!("install the dependencies with {}", list(&forms)),
        };
        let mut text = format!("In {place}, {body}");
        if let Some(a) = avoid {
            let with = format!("{text}; avoid `{}`, which failed.", a.form);
            if with.chars().count() <= MAX_TEXT {
                text = with;
            } else {
                text.push('.');
            }
        } else {
            text.push('.');
        }
        let text = fit(text);
        let mut sessions = BTreeSet::new();
        let mut evidence = Vec::new();
        let mut units = BTreeSet::new();
        for c in &chosen {
            sessions.extend(c.sessions.iter().copied());
            units.extend(c.units.iter().copied());
            for e in &c.evidence {
                if evidence.len() < MAX_EVIDENCE && !evidence.contains(e) {
                    evidence.push(e.clone());
                }
            }
        }
        if let Some(a) = avoid.filter(|_| text.contains("avoid `")) {
            evidence.extend(ev(ctx, a.session, a.seq, &a.quote));
        }
        let phrase = match group {
            Group::Test => "run the tests with",
            Group::Check => "check the code with",
            Group::Format => "format the code with",
            Group::Build => "build with",
            Group::Install => "install the dependencies with",
        };
        let mut key_terms = vec![place.clone(), phrase.to_string()];
        key_terms.extend(forms.iter().take(1).cloned());
        let rationale = format!(
            "{} ran successfully in {} independent sessions of {place}{}",
            list(&forms),
            units.len(),
            avoid.map(|a| format!("; `{}` failed and was replaced", a.form)).unwrap_or_default()
        );
        out.push(finding(p, text, sessions, evidence, key_terms, rationale));
    }
}

/// Pre-commit-style hooks reported in ≥ `min` units: which run, and which
/// rewrite files (the next edit must start from the rewritten file).
fn commit_hook_finding(ctx: &Context, p: &ProjectSessions, place: &str, min: usize, out: &mut Vec<Finding>) {
    let units: BTreeSet<usize> = p.commit_hooks.iter().map(|h| unit(ctx, h.session)).collect();
    if units.len() < min {
        return;
    }
    let mut seen: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    let mut rewrote: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for h in &p.commit_hooks {
        for (n, _) in &h.names {
            seen.entry(n.as_str()).or_default().insert(unit(ctx, h.session));
        }
        for (n, _) in &h.modified {
            rewrote.entry(n.as_str()).or_default().insert(unit(ctx, h.session));
        }
    }
    // Hooks of at least `min` units, in the order they are reported.
    let order: Vec<&str> = p.commit_hooks.iter().flat_map(|h| h.names.iter().map(|(n, _)| n.as_str())).collect();
    let mut names: Vec<String> = Vec::new();
    for n in order {
        if seen.get(n).is_some_and(|u| u.len() >= min) && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names.truncate(MAX_HOOK_COMMANDS);
    if names.len() < 2 {
        return;
    }
    let rewriters: Vec<String> = names.iter().filter(|n| rewrote.contains_key(n.as_str())).cloned().collect();
    let mut text = format!("In {place}, the pre-commit hooks {} check changed files", list(&names));
    if rewriters.is_empty() {
        text.push('.');
    } else {
        let verb = if rewriters.len() == 1 { "rewrites" } else { "rewrite" };
        text.push_str(&format!(
            "; {} {verb} them ('files were modified by this hook'): re-read a file before editing it again.",
            list(&rewriters)
        ));
    }
    let text = fit(text);
    let sessions: BTreeSet<usize> = p.commit_hooks.iter().map(|h| h.session).collect();
    // Evidence: a rewrite report where there is one, else a hook line.
    let mut evidence = Vec::new();
    let mut cited = BTreeSet::new();
    for h in &p.commit_hooks {
        if evidence.len() >= MAX_EVIDENCE {
            break;
        }
        let quote = h.modified.first().map(|m| m.1.as_str()).or_else(|| h.names.first().map(|n| n.1.as_str()));
        if let Some(q) = quote.filter(|_| cited.insert(h.session)) {
            evidence.extend(ev(ctx, h.session, h.seq, &text::excerpt(q, 200)));
        }
    }
    let key_terms = vec![place.to_string(), "pre-commit hooks".to_string()];
    let rationale =
        format!("pre-commit hooks {} reported in {} independent sessions of {place}", list(&names), units.len());
    out.push(finding(p, text, sessions, evidence, key_terms, rationale));
}

/// Cuts a lesson at a clause boundary when it is too long.
fn fit(t: String) -> String {
    if t.chars().count() <= MAX_TEXT {
        return t;
    }
    let cut: String = t.chars().take(MAX_TEXT - 1).collect();
    match cut.rfind(['(', ';']) {
        Some(i) if i > MAX_TEXT / 2 => format!("{}.", cut.get(..i).unwrap_or(&cut).trim_end()),
        _ => format!("{}…", cut.trim_end()),
    }
}

fn finding(
    p: &ProjectSessions,
    text: String,
    sessions: BTreeSet<usize>,
    evidence: Vec<Evidence>,
    key_terms: Vec<String>,
    rationale: String,
) -> Finding {
    let mut tags = vec!["convention".to_string()];
    tags.extend(p.project.as_ref().map(Project::tag));
    let confidence = (0.5 + 0.1 * sessions.len() as f64).min(0.9);
    Finding {
        pass: "conventions",
        category: Category::Fact,
        op: OpKind::Create,
        kind: MemoryKind::fact(),
        text,
        targets: Vec::new(),
        sessions,
        evidence,
        confidence,
        rationale,
        tags,
        key_terms,
        repeats: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamConfig, Snapshot};
    use nocturne_core::{NewSession, Proposal, Role as Who};

    fn w(s: &str) -> Vec<String> {
        text::parse_command(s).map(|c| c.words).unwrap_or_default()
    }

    fn role(s: &str) -> Option<(Role, String)> {
        role_of(&w(s))
    }

    fn form(s: &str) -> String {
        form_of(&w(s))
    }

    /// A session whose records say it ran in `cwd` (as Claude Code's do).
    fn at(id: &str, cwd: &str) -> Sess {
        let mut s = Sess::new(id).user(&format!("task {id}"));
        if let Some(e) = s.s.events.last_mut() {
            e.raw = format!("{{\"type\":\"user\",\"cwd\":\"{cwd}\"}}");
        }
        s
    }

    fn system(s: Sess, text: &str) -> Sess {
        s.event(Who::System, EventKind::System, text)
    }

    fn dream(sessions: &[NewSession], memories: Vec<nocturne_core::Memory>) -> Proposal {
        let snap = Snapshot::from_new_sessions(1, sessions, memories, "2026-01-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        crate::dream(&snap, &cfg, "d1").expect("dream")
    }

    fn texts(p: &Proposal) -> Vec<String> {
        p.ops.iter().filter(|o| o.pass == "conventions").map(|o| o.text.clone()).collect()
    }

    #[test]
    fn roles_come_from_the_tool_behind_runner_wrappers() {
        assert_eq!(role("uv run pytest -x"), Some((Role::Test, "pytest".into())));
        assert_eq!(role("python -m pytest tests"), Some((Role::Test, "pytest".into())));
        assert_eq!(role("npm run test:unit"), Some((Role::Test, "npm run test:unit".into())));
        assert_eq!(role("pnpm lint"), Some((Role::Lint, "pnpm lint".into())));
        assert_eq!(role("cargo clippy --all-targets"), Some((Role::Lint, "cargo clippy".into())));
        assert_eq!(role("uv run ty check"), Some((Role::TypeCheck, "ty check".into())));
        assert_eq!(role("npx tsc --noEmit"), Some((Role::TypeCheck, "tsc".into())));
        assert_eq!(role("uv run ruff format"), Some((Role::Format, "ruff format".into())));
        assert_eq!(role("make"), Some((Role::Build, "make".into())));
        assert_eq!(role("go test ./..."), Some((Role::Test, "go test".into())));
        assert_eq!(role("npm ci"), Some((Role::Install, "npm ci".into())));
        assert_eq!(role("pip install -r requirements.txt"), Some((Role::Install, "pip install".into())));
        // Adding a package, looking around, or no role at all.
        assert_eq!(role("npm install lodash"), None);
        assert_eq!(role("uv run pytest --collect-only -q"), None);
        assert_eq!(role("pytest --markers"), None);
        assert_eq!(role("git status"), None);
        assert_eq!(role("npm run dev"), None);
    }

    #[test]
    fn forms_drop_single_tests_paths_selectors_and_cosmetic_flags() {
        assert_eq!(form("uv run pytest /Users/ana/shop/test/test_cart.py::TestCart::test_add -v"), "uv run pytest");
        assert_eq!(
            form("uv run pytest -m \"not (tui or browser)\" -xvs --tb=short"),
            "uv run pytest -m \"not (tui or browser)\""
        );
        assert_eq!(form("pytest -k test_login tests/"), "pytest");
        assert_eq!(form("cargo test -p shop-core --lib -- --nocapture"), "cargo test --lib");
        assert_eq!(form("go test ./..."), "go test ./...");
        assert_eq!(form("npm test -- --run src/cart.test.ts -t adds"), "npm test");
        assert_eq!(form("ruff check --fix src/shop/"), "ruff check --fix");
    }

    #[test]
    fn the_canonical_command_is_the_most_used_working_form_with_its_variants() {
        let sessions = vec![
            at("a", "/Users/ana/work/shop").sh("uv run pytest tests/test_cart.py -v", "3 passed", false).build(),
            at("b", "/Users/ana/work/shop").sh("uv run pytest", "10 passed", false).build(),
            at("c", "/Users/ana/work/shop/.claude/worktrees/agent-a4ca7529")
                .sh("uv run pytest -m slow", "2 passed", false)
                .build(),
        ];
        let p = dream(&sessions, Vec::new());
        assert_eq!(texts(&p), vec!["In `shop`, run the tests with `uv run pytest` (also with `-m slow`)."]);
        let op = p.ops.iter().find(|o| o.pass == "conventions").expect("op");
        assert_eq!(op.kind.as_str(), "fact");
        assert_eq!(op.support, 3);
        let shop = Project::of_dir("/Users/ana/work/shop").expect("a project");
        assert!(op.tags.contains(&shop.tag()), "{:?}", op.tags);
        assert!(op.tags.iter().all(|t| !t.contains("ana")), "no home path in a tag: {:?}", op.tags);
        // Each evidence entry quotes the command of the call it cites.
        assert_eq!(op.evidence.len(), 3);
        assert!(op.evidence.iter().any(|e| e.quote == "uv run pytest tests/test_cart.py -v"));
    }

    #[test]
    fn a_command_that_failed_and_was_replaced_is_not_recommended() {
        let bare = "bash: pytest: command not found";
        let sessions = vec![
            at("a", "/src/inventory")
                .sh("pytest", bare, true)
                .sh("(source .venv/bin/activate && pytest)", "5 passed", false)
                .build(),
            at("b", "/src/inventory").sh("source .venv/bin/activate && pytest -x", "5 passed", false).build(),
            // Elsewhere the bare command happened to work once.
            at("c", "/src/inventory").sh("pytest", "5 passed", false).build(),
        ];
        let t = texts(&dream(&sessions, Vec::new()));
        assert_eq!(
            t,
            vec!["In `inventory`, run the tests with `source .venv/bin/activate && pytest`; avoid `pytest`, which failed."]
        );
    }

    #[test]
    fn a_check_that_finds_errors_in_the_code_supersedes_nothing() {
        let sessions = vec![
            at("a", "/src/inventory")
                .sh("uv run pyright", "error: Type \"int\" is not assignable\n1 error, 0 warnings", true)
                .sh("uv run ty check", "All checks passed!", false)
                .sh("uv run pyright", "0 errors, 0 warnings, 0 informations", false)
                .build(),
            at("b", "/src/inventory")
                .sh("uv run pyright", "0 errors, 0 warnings, 0 informations", false)
                .sh("uv run ty check", "All checks passed!", false)
                .build(),
        ];
        let t = texts(&dream(&sessions, Vec::new()));
        assert_eq!(
            t,
            vec!["In `inventory`, check the code with `uv run pyright` and `uv run ty check`; keep them clean."]
        );
    }

    #[test]
    fn hooks_the_harness_reports_are_conventions_and_cover_the_agents_own_runs() {
        let fmt =
            "\u{1b}[1mPostToolUse:Edit\u{1b}[22m [uv run ruff format] completed successfully: 3 files left unchanged";
        let notifier = "\u{1b}[1mStop\u{1b}[22m [notify-send done] completed successfully";
        let mk = |id: &str| {
            let s = at(id, "/Users/ana/work/shop").tool(
                "Edit",
                serde_json::json!({"file_path": "/Users/ana/work/shop/cart.py", "old_string": "a", "new_string": "b"}),
                "ok",
                false,
            );
            system(system(s, fmt), notifier).sh("ruff format", "1 file reformatted", false).build()
        };
        let p = dream(&[mk("a"), mk("b")], Vec::new());
        // One lesson: the hook; the agent's own `ruff format` runs are the hook's job.
        assert_eq!(texts(&p), vec!["In `shop`, a PostToolUse hook runs `uv run ruff format` after each Edit."]);
        let op = p.ops.iter().find(|o| o.pass == "conventions").expect("op");
        assert!(op.evidence.iter().all(|e| e.quote.starts_with("[uv run ruff format] completed successfully")));
    }

    #[test]
    fn pre_commit_hook_reports_say_which_hooks_rewrite_files() {
        let out = "isort....................................................................Failed\n- hook id: isort\n- files were modified by this hook\n\nFixing /home/ana/shop/cart.py\n\nflake8...................................................................Passed";
        let mk = |id: &str| {
            let mut s = Sess::new(id).user(&format!("task {id}")).orphan("aider", out, true);
            s.s.source = Some("/data/shop/chat-history.md".into());
            s.build()
        };
        let t = texts(&dream(&[mk("a"), mk("b")], Vec::new()));
        assert_eq!(
            t,
            vec!["In this project, the pre-commit hooks `isort` and `flake8` check changed files; `isort` rewrites them ('files were modified by this hook'): re-read a file before editing it again."]
        );
        let (names, modified) = commit_hooks(out);
        assert_eq!(names.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(), vec!["isort", "flake8"]);
        assert_eq!(modified, vec![("isort".to_string(), "- files were modified by this hook".to_string())]);
    }

    #[test]
    fn one_session_or_two_projects_are_no_convention() {
        let one = vec![at("a", "/src/shop").sh("npm test", "ok", false).sh("npm test", "ok", false).build()];
        assert!(texts(&dream(&one, Vec::new())).is_empty());
        let two = vec![
            at("a", "/src/shop").sh("npm test", "ok", false).build(),
            at("b", "/src/billing").sh("npm test", "ok", false).build(),
        ];
        assert!(texts(&dream(&two, Vec::new())).is_empty());
    }

    #[test]
    fn no_session_specific_value_reaches_the_text() {
        let sessions = vec![
            at("a", "/Users/ana/work/shop/.claude/worktrees/agent-a4ca7529")
                .sh("cd /Users/ana/work/shop && npm run lint -- src/cart.ts", "ok", false)
                .build(),
            at("b", "/Users/ana/work/shop").sh("npm run lint", "ok", false).build(),
            at("c", "/Users/ana").sh("npm run build", "ok", false).build(),
            at("d", "/Users/ana").sh("npm run build", "ok", false).build(),
            at("e", "/srv/ci/build-4f9a2c81").sh("make test", "ok", false).build(),
            at("f", "/srv/ci/build-4f9a2c81").sh("make test", "ok", false).build(),
        ];
        let t = texts(&dream(&sessions, Vec::new()));
        assert!(t.contains(&"In `shop`, check the code with `npm run lint`; keep it clean.".to_string()), "{t:?}");
        assert_eq!(t.len(), 3, "{t:?}");
        for x in &t {
            for leak in ["/Users", "ana", "agent-a4ca7529", "4f9a2c81", "/srv"] {
                assert!(!x.contains(leak), "{x}");
            }
            assert!(x.chars().count() <= MAX_TEXT);
        }
    }

    #[test]
    fn projects_are_named_by_their_folder_never_by_a_user_or_an_id() {
        let name = |c: &str| project_of(Some(c), None).and_then(|p| p.1);
        assert_eq!(name("/Users/ana/work/shop/"), Some("shop".into()));
        assert_eq!(name("C:\\Users\\ana\\shop"), Some("shop".into()));
        assert_eq!(name("/home/bob/src/shop/.claude/worktrees/agent-a4ca7529"), Some("shop".into()));
        assert_eq!(name("/Users/ana"), None);
        assert_eq!(name("C:\\Users\\ana"), None);
        assert_eq!(name("/srv/ci/build-4f9a2c81"), None);
        // No directory: the source file's folder groups, unnamed, tagged when its path is whole;
        // nothing known: no project.
        let dir = project_of(None, Some("/data/shop/chat.md")).expect("a group");
        assert_eq!((dir.0.as_str(), dir.1), ("dir:/data/shop", None));
        assert_eq!(dir.2, Project::of_dir("/data/shop"));
        assert_eq!(project_of(None, Some("shop/chat.md")).map(|p| p.2), Some(None));
        assert_eq!(project_of(None, None), None);
    }

    #[test]
    fn two_folders_of_one_name_are_two_projects_and_two_lessons() {
        let mut sessions = Vec::new();
        for (i, dir) in ["/srv/a/app", "/srv/a/app", "/srv/b/app", "/srv/b/app"].iter().enumerate() {
            let cmd = if i < 2 { "npm test" } else { "cargo test" };
            sessions.push(at(&format!("s{i}"), dir).sh(cmd, "ok", false).build());
        }
        let p = dream(&sessions, Vec::new());
        let mut got: Vec<(String, Vec<String>)> =
            p.ops.iter().filter(|o| o.pass == "conventions").map(|o| (o.text.clone(), o.tags.clone())).collect();
        got.sort();
        let tag = |d: &str| Project::of_dir(d).expect("a project").tag();
        assert_eq!(
            got,
            vec![
                (
                    "In `app`, run the tests with `cargo test`.".to_string(),
                    vec!["convention".into(), tag("/srv/b/app")]
                ),
                ("In `app`, run the tests with `npm test`.".to_string(), vec!["convention".into(), tag("/srv/a/app")]),
            ]
        );
    }

    #[test]
    fn a_dream_proposes_few_conventions() {
        let sessions: Vec<NewSession> = (0..24)
            .map(|i| {
                let project = format!("/src/app{}", i / 2);
                at(&format!("s{i}"), &project).sh("cargo test", "ok", false).build()
            })
            .collect();
        let p = dream(&sessions, Vec::new());
        assert_eq!(texts(&p).len(), MAX_PER_DREAM);
        assert_eq!(p.stats.get("conventions.candidates"), Some(&serde_json::Value::from(12)));
    }

    /// 100 sessions × ~200 events of one project, every call a role
    /// command or an edit with a hook report: the pass stays well inside
    /// the dream's time budget and grows about linearly (×4 sessions: ×4–6
    /// time measured; the bound leaves room for a busy machine).
    #[test]
    fn the_pass_is_fast_and_linear() {
        let fmt = "\u{1b}[1mPostToolUse:Edit\u{1b}[22m [uv run ruff format] completed successfully";
        let batch = |n: usize| -> Vec<crate::SessionData> {
            (0..n)
                .map(|i| {
                    let mut s = at(&format!("s{i}"), "/src/shop");
                    for k in 0..40 {
                        s = s.sh(&format!("uv run pytest tests/test_{k}.py -v"), "3 passed", false);
                        s = s.sh("npm run lint", "ok", k % 7 == 0);
                        s = system(s, fmt);
                    }
                    s.data()
                })
                .collect()
        };
        let time = |n: usize| {
            let snap = Snapshot { sessions: batch(n), ..Snapshot::default() };
            let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
            let ctx = Context::build(&snap, &cfg);
            let t = std::time::Instant::now();
            let out = Conventions.run(&ctx).expect("run");
            assert!(!out.findings.is_empty());
            t.elapsed().as_secs_f64()
        };
        let (small, big) = (time(25), time(100));
        println!("conventions pass: 25 sessions {small:.4} s, 100 sessions {big:.4} s");
        // Debug build on a shared machine: generous bounds (release is ~10× faster).
        assert!(big < 3.0, "100 sessions: {big:.3} s");
        assert!(big < 12.0 * small + 0.1, "25 sessions {small:.3} s, 100 sessions {big:.3} s");
    }

    #[test]
    fn dreaming_again_over_the_same_sessions_proposes_nothing_new() {
        let sessions = vec![
            at("a", "/src/shop").sh("cargo test", "ok", false).sh("cargo clippy", "ok", false).build(),
            at("b", "/src/shop").sh("cargo test --lib", "ok", false).sh("cargo clippy", "ok", false).build(),
        ];
        let first = dream(&sessions, Vec::new());
        assert_eq!(texts(&first).len(), 2);
        let memories: Vec<nocturne_core::Memory> = first
            .ops
            .iter()
            .map(|o| {
                let mut m =
                    nocturne_core::Memory::new(o.kind.clone(), &o.text, o.scope.clone(), "2026-02-01T00:00:00Z", "x")
                        .expect("memory");
                m.evidence = o.evidence.clone();
                m
            })
            .collect();
        let second = dream(&sessions, memories);
        assert!(second.ops.is_empty(), "{:?}", second.ops);
    }
}
