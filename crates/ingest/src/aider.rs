//! Aider chat history Markdown (`.aider.chat.history.md`).
//!
//! Aider appends every run to one file: `# aider chat started at
//! YYYY-MM-DD HH:MM:SS` opens a run (a session, id `<file stem>/<start time>`);
//! `#### ` lines are what the user typed (one message per run of such lines);
//! `> ` opens aider's own output (one message runs to the line that ends
//! with aider's two-space line break, so multi-line output is whole); plain
//! text is the model's reply. Records are these blocks: a user block is a
//! user message, except aider's own prompts ("# Fix any errors below" of
//! the lint loop, `/help` questions with their docs, the ` X` echo of an
//! `/ask X` question), which are `system`; an
//! output block before the run's first user message (the start-up banner)
//! is a `system` event, unless it already failed (`aider --lint` or
//! `--test` checks the files at start-up): then its lines from aider's
//! `# Fix any errors below` / `## Running:` marker on are a tool result;
//! later output blocks are tool results of the tool `aider`,
//! with `is_error` read from the text (edit-apply errors such as
//! `SearchReplaceNoExactMatch`, failed lint hooks, test failures, ...); a
//! reply block is an assistant message. The run header is a `system` event
//! carrying the start time (local time, no offset) as its timestamp. Text
//! before the first header (a run whose header was cut) is a session named
//! after the file stem; an editor mode line (`-*- mode: ... -*-`) on the
//! first line is skipped and counted.

use std::collections::HashSet;

use nocturne_core::failure::looks_like_failure;
use nocturne_core::{Counterpart, EventKind, NewEvent, NewSession, Role};
use serde_json::json;

use crate::inject::{aider_text, mark, Injected};
use crate::json::{compact, Base};
use crate::{new_session, title_of, unique_id, Ctx, Fail, FileReport, Format, Parsed};

const HEADER: &str = "# aider chat started at ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Output,
    Reply,
}

struct Block {
    kind: Kind,
    line: u32,
    lines: Vec<String>,
    /// An output message not yet closed by its two-space line break.
    open: bool,
}

struct Run {
    session: NewSession,
    seen_user: bool,
    /// The last message the user typed.
    last_user: Option<String>,
}

fn aider_failed(text: &str) -> bool {
    looks_like_failure(text)
        || text.contains("SearchReplaceNoExactMatch")
        || text.contains("SEARCH/REPLACE block failed to match")
        || text.contains("SEARCH/REPLACE blocks failed to match")
        || text.contains("The LLM did not conform to the edit format")
        || text.lines().any(|l| {
            let l = l.trim();
            (l.ends_with("Failed") && l.contains("....")) || l.starts_with("Only 3 reflections allowed")
        })
}

/// Where aider's own lint or test run starts in its output: the prompt it
/// sends with the errors, or the `## Running: <cmd>` heading.
fn startup_check(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("# Fix any errors below") || l.starts_with("## Running:")
}

fn strip_break(line: &str) -> &str {
    line.strip_suffix("  ").unwrap_or(line)
}

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let mut report = FileReport::default();
    let mut runs: Vec<Run> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut block: Option<Block> = None;
    let raw_text = |b: &Block| b.lines.join("\n");

    let flush = |block: &mut Option<Block>,
                 runs: &mut Vec<Run>,
                 seen: &mut HashSet<String>,
                 report: &mut FileReport| {
        let Some(b) = block.take() else { return };
        report.read(1);
        if runs.is_empty() {
            let id = unique_id(seen, ctx.stem.clone());
            // A run whose header was cut: its start-up is not in the file.
            runs.push(Run { session: new_session(id, Format::Aider), seen_user: true, last_user: None });
        }
        let Some(run) = runs.last_mut() else { return };
        let mut text = raw_text(&b);
        if b.kind == Kind::Reply {
            text = text.trim_end().to_string();
        }
        let base = Base {
            timestamp: None,
            sidechain: false,
            source_line: Some(b.line),
            raw: compact(
                &json!({ "aider": match b.kind { Kind::User => "user", Kind::Output => "output", Kind::Reply => "reply" }, "text": text }),
            ),
        };
        // Start-up output that already failed (`aider --lint`, `--test`
        // lint or test the files before the first message): the banner is
        // `system`, aider's lint or test run from its marker on is a result.
        if b.kind == Kind::Output && !run.seen_user && aider_failed(&text) {
            let at = b.lines.iter().position(|l| startup_check(l)).unwrap_or(0);
            let (banner, check) = b.lines.split_at(at);
            if !banner.is_empty() {
                let t = banner.join("\n");
                let base = Base {
                    timestamp: None,
                    sidechain: false,
                    source_line: Some(b.line),
                    raw: compact(&json!({ "aider": "output", "text": t })),
                };
                run.session.events.push(base.message(Role::System, Some(t)));
            }
            let t = check.join("\n");
            let base = Base {
                timestamp: None,
                sidechain: false,
                source_line: Some(b.line.saturating_add(u32::try_from(at).unwrap_or(0))),
                raw: compact(&json!({ "aider": "output", "text": t })),
            };
            let mut e = base.event(Role::Tool, EventKind::ToolResult);
            e.tool_name = Some("aider".to_string());
            e.is_error = aider_failed(&t);
            e.text = Some(t);
            run.session.events.push(e);
            return;
        }
        let event: NewEvent = match b.kind {
            Kind::User => {
                let mut e = base.message(Role::User, Some(text.clone()));
                // `/ask X` is echoed by aider as ` X` when it sends X.
                let echo = run
                    .last_user
                    .as_deref()
                    .and_then(chat_command_argument)
                    .is_some_and(|arg| text.strip_prefix(' ').is_some_and(|t| t.trim() == arg.trim()));
                if aider_text(&text) || echo {
                    mark(&mut e, Injected::System);
                } else {
                    run.seen_user = true;
                    run.last_user = Some(text.clone());
                }
                e
            }
            Kind::Output if !run.seen_user => base.message(Role::System, Some(text.clone())),
            Kind::Output => {
                let mut e = base.event(Role::Tool, EventKind::ToolResult);
                e.tool_name = Some("aider".to_string());
                e.is_error = aider_failed(&text);
                e.text = Some(text.clone());
                e
            }
            Kind::Reply => base.message(Role::Assistant, Some(text.clone())),
        };
        run.session.events.push(event);
    };

    for (i, line) in text.split('\n').enumerate() {
        let n = crate::json::nth(i);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(when) = line.strip_prefix(HEADER) {
            flush(&mut block, &mut runs, &mut seen, &mut report);
            report.read(1);
            let when = when.trim();
            let stamp = when.replacen(' ', "T", 1);
            let id = unique_id(&mut seen, format!("{}/{stamp}", ctx.stem));
            let mut session = new_session(id, Format::Aider);
            let base = Base {
                timestamp: Some(stamp),
                sidechain: false,
                source_line: Some(n),
                raw: compact(&json!({ "aider": "header", "text": line })),
            };
            session.events.push(base.message(Role::System, Some(format!("aider chat started at {when}"))));
            runs.push(Run { session, seen_user: false, last_user: None });
            continue;
        }
        if i == 0 && line.trim().starts_with("-*-") && line.trim().ends_with("-*-") {
            report.read(1);
            report.skip("mode-line");
            continue;
        }
        let user = line == "####" || line.starts_with("#### ");
        let output = line == ">" || line.starts_with("> ");
        if let Some(b) = block.as_mut().filter(|b| b.kind == Kind::Output && b.open && !user && !output) {
            b.lines.push(strip_break(line).to_string());
            b.open = !line.ends_with("  ");
            continue;
        }
        if user {
            let content = strip_break(line.strip_prefix("#### ").or_else(|| line.strip_prefix("####")).unwrap_or(line));
            match block.as_mut().filter(|b| b.kind == Kind::User) {
                Some(b) => b.lines.push(content.to_string()),
                None => {
                    flush(&mut block, &mut runs, &mut seen, &mut report);
                    block = Some(Block { kind: Kind::User, line: n, lines: vec![content.to_string()], open: false });
                }
            }
            continue;
        }
        if output {
            let content = strip_break(line.strip_prefix("> ").or_else(|| line.strip_prefix('>')).unwrap_or(line));
            let open = !line.ends_with("  ");
            match block.as_mut().filter(|b| b.kind == Kind::Output) {
                Some(b) => {
                    b.lines.push(content.to_string());
                    b.open = open;
                }
                None => {
                    flush(&mut block, &mut runs, &mut seen, &mut report);
                    block = Some(Block { kind: Kind::Output, line: n, lines: vec![content.to_string()], open });
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            match block.as_mut().filter(|b| b.kind == Kind::Reply) {
                Some(b) => b.lines.push(String::new()),
                None => flush(&mut block, &mut runs, &mut seen, &mut report),
            }
            continue;
        }
        match block.as_mut().filter(|b| b.kind == Kind::Reply) {
            Some(b) => b.lines.push(line.to_string()),
            None => {
                flush(&mut block, &mut runs, &mut seen, &mut report);
                block = Some(Block { kind: Kind::Reply, line: n, lines: vec![line.to_string()], open: false });
            }
        }
    }
    flush(&mut block, &mut runs, &mut seen, &mut report);

    if !text.split('\n').any(|l| l.starts_with(HEADER)) {
        return Err(Fail::doc(format!("no aider chat found (expected a line starting with \"{HEADER}\")")));
    }
    let sessions = runs
        .into_iter()
        .map(|r| {
            let mut s = r.session;
            s.counterpart = Some(Counterpart::Operator);
            s.title = s
                .events
                .iter()
                .filter(|e| e.role == Role::User && e.kind == EventKind::UserMessage)
                .find_map(|e| e.text.as_deref().and_then(prompt_title));
            s
        })
        .collect();
    Ok(Parsed { sessions, report, spawns: Vec::new() })
}

/// The question of `/ask`, `/code`, `/architect` (the chat commands whose
/// argument aider sends to the model).
fn chat_command_argument(text: &str) -> Option<&str> {
    ["/ask ", "/code ", "/architect "].iter().find_map(|c| text.trim_start().strip_prefix(c))
}

/// A title from a user message: chat commands (`/add`, `/undo`, ...) are
/// not prompts, except `/ask`, `/code`, `/architect` with their question.
fn prompt_title(text: &str) -> Option<String> {
    let t = text.trim_start();
    if !t.starts_with('/') {
        return title_of(t);
    }
    chat_command_argument(t).and_then(title_of)
}

/// Looks like an aider history: a run header on a line of its own near the
/// start of the text.
pub(crate) fn looks_like(text: &str) -> bool {
    let mut end = text.len().min(1 << 16);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default().split('\n').any(|l| l.starts_with(HEADER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_skip_chat_commands() {
        assert_eq!(prompt_title("/add x.py"), None);
        assert_eq!(prompt_title("/ask why?").as_deref(), Some("why?"));
        assert_eq!(prompt_title("fix it").as_deref(), Some("fix it"));
    }

    /// `aider --lint` at start-up: the banner stays `system`, the failed
    /// lint run is a failed result of `aider` starting at its own line.
    #[test]
    fn a_lint_run_at_start_up_is_a_failed_result() {
        let md = "# aider chat started at 2024-08-09 17:33:03\n\n\
                  > aider --lint --commit  \n\
                  > Aider v0.48.2-dev  \n\
                  > # Fix any errors below, if possible.  \n\
                  >  \n\
                  > ## Running: tmp.lint.sh aider/commands.py  \n\
                  > flake8...................................................................Failed  \n\
                  > aider/commands.py:144:29: F541 f-string is missing placeholders  \n\n\
                  #### fix it  \n";
        let s = crate::parse("chat-history.md", md.as_bytes(), Format::Aider).unwrap();
        let events = &s[0].events;
        let banner = events.iter().find(|e| e.text.as_deref().is_some_and(|t| t.contains("Aider v0.48"))).unwrap();
        assert_eq!((banner.role, banner.is_error), (Role::System, false));
        assert!(!banner.text.as_deref().unwrap().contains("F541"));
        let lint = events.iter().find(|e| e.text.as_deref().is_some_and(|t| t.contains("F541"))).unwrap();
        assert_eq!((lint.role, lint.kind, lint.is_error), (Role::Tool, EventKind::ToolResult, true));
        assert_eq!(lint.tool_name.as_deref(), Some("aider"));
        assert_eq!(lint.source_line, Some(5), "the lint run starts at the prompt aider wrote");
        assert!(lint.text.as_deref().unwrap().starts_with("# Fix any errors below"));
    }

    #[test]
    fn failures_of_aider() {
        assert!(aider_failed("# 1 SEARCH/REPLACE block failed to match!"));
        assert!(aider_failed("flake8...................................................................Failed"));
        assert!(!aider_failed("Applied edit to aider/utils.py\nCommit 1a2b3c fix"));
    }
}
