//! τ-bench's flattened few-shot display JSONL: one conversation per line,
//! `{"messages_display": "user: …\nassistant: …\ntool: …"}`.
//!
//! Lower fidelity than real results: a turn starts at a line beginning with
//! `user: `, `assistant: `, `tool: ` or `system: ` and runs to the next such
//! line. `assistant: None` is a tool call whose name and arguments the
//! display lost (`tool_name` absent); a `tool:` turn is its result (the text
//! decides `is_error`). The `user` is a simulated customer. Session id:
//! `<file stem>/<line>`; every event of a line has that line as
//! `source_line`.

use nocturne_core::{Counterpart, EventKind, NewEvent, Role};
use serde_json::Value;

use crate::json::{compact_obj, describe, error_flag, Base};
use crate::{first_prompt_title, new_session, Ctx, Fail, FileReport, Format, Parsed};

const SPEAKERS: [(&str, Role); 4] =
    [("user: ", Role::User), ("assistant: ", Role::Assistant), ("tool: ", Role::Tool), ("system: ", Role::System)];

fn speaker(line: &str) -> Option<(Role, &str)> {
    SPEAKERS.iter().find_map(|(prefix, role)| line.strip_prefix(prefix).map(|rest| (*role, rest)))
}

/// The turns of a display text: (role, text); text before the first turn
/// has no role.
fn turns(display: &str) -> Vec<(Option<Role>, String)> {
    let mut out: Vec<(Option<Role>, String)> = Vec::new();
    for line in display.split('\n') {
        match speaker(line) {
            Some((role, rest)) => out.push((Some(role), rest.to_string())),
            None => match out.last_mut() {
                Some((_, text)) => {
                    text.push('\n');
                    text.push_str(line);
                }
                None => out.push((None, line.to_string())),
            },
        }
    }
    out
}

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let mut events = crate::Collected::default();
    let mut parsed = stream(&mut crate::TextLines(text), ctx, &mut |at, _, e| {
        events.push(at, e);
        Ok(())
    })?;
    events.fill(&mut parsed.sessions);
    Ok(parsed)
}

/// The display text of a record, or why it has none.
fn display_of(o: &crate::json::Obj, line: u32) -> Result<&str, Fail> {
    match o.get("messages_display") {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(Fail::at(line, format!("\"messages_display\" must be a string, found {}", describe(v)))),
        None => Err(Fail::at(line, "\"messages_display\" is missing")),
    }
}

/// Parses a display file read from `src` twice, holding one conversation
/// at a time: the first reading checks every line (a syntax error anywhere
/// first, then the first line without a display), the second hands each
/// conversation's events to `sink`. The sessions come back without their
/// events.
pub(crate) fn stream(
    src: &mut dyn crate::LineSource,
    ctx: &Ctx<'_>,
    sink: &mut dyn FnMut(usize, &str, NewEvent) -> Result<(), Fail>,
) -> Result<Parsed, Fail> {
    let mut report = FileReport::default();
    let mut records = 0usize;
    let mut problem: Option<Fail> = None;
    src.each(&mut |line, text| {
        let o = crate::object_line(line, text)?;
        records += 1;
        if problem.is_none() {
            problem = display_of(&o, line).err();
        }
        Ok(())
    })?;
    if let Some(e) = problem {
        return Err(e);
    }
    report.read(records);
    let mut sessions = Vec::with_capacity(records);
    src.each(&mut |line, text| {
        let o = crate::object_line(line, text)?;
        let display = display_of(&o, line)?;
        let base = Base { timestamp: None, sidechain: false, source_line: Some(line), raw: compact_obj(&o) };
        let mut events: Vec<NewEvent> = Vec::new();
        for (role, text) in turns(display) {
            let text = text.trim_end().to_string();
            let e = match role {
                None if text.trim().is_empty() => continue,
                None => {
                    let mut e = base.event(Role::System, EventKind::Other);
                    e.text = Some(text);
                    e
                }
                Some(Role::Assistant) if text.trim() == "None" => base.event(Role::Assistant, EventKind::ToolCall),
                Some(Role::Tool) => {
                    let mut e = base.event(Role::Tool, EventKind::ToolResult);
                    e.is_error = error_flag(None, Some(&text));
                    e.text = Some(text);
                    e
                }
                Some(role) => base.message(role, Some(text)),
            };
            events.push(e);
        }
        if events.is_empty() {
            events.push(base.message(Role::System, None));
        }
        let mut s = new_session(format!("{}/{line}", ctx.stem), Format::TauDisplay);
        s.counterpart = Some(Counterpart::Customer);
        s.title = first_prompt_title(&events);
        let at = sessions.len();
        for e in events {
            sink(at, &s.id, e)?;
        }
        sessions.push(s);
        Ok(())
    })?;
    Ok(Parsed { sessions, report, spawns: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_run_to_the_next_speaker() {
        let t = turns("user: hi\nthere\nassistant: None\ntool: Error: user not found\nassistant: ok");
        let roles: Vec<_> = t.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, [Some(Role::User), Some(Role::Assistant), Some(Role::Tool), Some(Role::Assistant)]);
        assert_eq!(t[0].1, "hi\nthere");
    }
}
