//! SWE-agent trajectories (`*.traj`): `{environment, trajectory[{action,
//! observation, response, thought}], history[{role, content, agent?,
//! is_demo?, thought?, action?, tool_calls?, tool_call_ids?,
//! message_type?}], info{exit_status, submission, model_stats}}`.
//!
//! `history` is the model's conversation and is what is read; the
//! `trajectory` steps repeat it and are skipped and counted
//! (`trajectory-step`), except steps past the history's last action (a
//! tool-calling run whose history stops before its `submit`), which are
//! read as below; when there is no history at all, each step becomes
//! an assistant message, a tool call and its result. There is no person in
//! the loop: the system prompt, the demonstration (`is_demo`) and the
//! instance template (the issue text) are `system` events; an assistant
//! turn is its thought (an assistant message) and its action (a tool call
//! named after the command's first word, input `{"command": ...}`, or the
//! turn's `tool_calls`); the next `user` turn (old format) or `tool` turn
//! (tool-calling format) is the action's result, with `is_error` read from
//! the text. `info` is a last `other` event (`exit_status: ...`).
//!
//! mini-swe-agent trajectories (`{info, messages[], trajectory_format}`) are
//! read the same way: the action of an assistant turn is the last fenced
//! code block of its reply (a `bash` call), the next user turn its output
//! (`<returncode>N</returncode>` decides `is_error`).
//!
//! Session id: `<run folder>/<file stem>` (the folder the file is in, or
//! the one above it when it is named like the file), else the stem.

use std::collections::HashMap;

use nocturne_core::failure::looks_like_failure;
use nocturne_core::{EventKind, NewEvent, Role};
use serde_json::{Map, Value};

use crate::json::{compact, compact_obj, describe, nth, Base, Obj};
use crate::{json_value, new_session, title_of, Ctx, Fail, FileReport, Format, Parsed};

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> =
                parts.iter().filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str))).collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// SWE-agent's own failure messages, beside the generic ones.
fn observation_failed(text: &str) -> bool {
    let t = text.trim_start();
    if let Some(code) = t.strip_prefix("<returncode>").and_then(|r| r.split_once("</returncode>")) {
        return code.0.trim() != "0";
    }
    looks_like_failure(text)
        || t.starts_with("Your proposed edit has introduced new syntax error")
        || t.starts_with("Usage: ")
        || t.contains("Error: File '") && t.contains("' not found")
}

/// The run folder: the nearest folder of the path not named like the file.
fn run_name(file: &str, stem: &str) -> Option<String> {
    let mut parts = file.rsplit(['/', '\\']);
    parts.next()?;
    parts.find(|p| !p.is_empty() && *p != stem && *p != "." && *p != "..").map(str::to_string)
}

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let doc = match json_value(text)? {
        Value::Object(o) => o,
        other => return Err(Fail::doc(format!("expected a SWE-agent trajectory object, found {}", describe(&other)))),
    };
    let list = |key: &str| -> Result<&[Value], Fail> {
        match doc.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(v) => Err(Fail::doc(format!("\"{key}\" must be an array, found {}", describe(v)))),
        }
    };
    // mini-swe-agent writes the conversation as `messages`.
    let mini = !doc.contains_key("history") && !doc.contains_key("trajectory") && doc.contains_key("messages");
    if !doc.contains_key("history") && !doc.contains_key("trajectory") && !mini {
        return Err(Fail::doc(format!(
            "not a SWE-agent trajectory: no \"history\", \"trajectory\" or \"messages\" (found keys {})",
            doc.keys().take(8).map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
        )));
    }
    let history = if mini { list("messages")? } else { list("history")? };
    let trajectory = list("trajectory")?;
    let mut report = FileReport::default();
    report.read(history.len().saturating_add(trajectory.len()));

    let mut events = Vec::new();
    if history.is_empty() {
        for (i, step) in trajectory.iter().enumerate() {
            let n = nth(i);
            let s = step.as_object().ok_or_else(|| {
                Fail::doc(format!("trajectory step {n}: expected a JSON object, found {}", describe(step)))
            })?;
            step_events(s, n, &mut events);
        }
    } else {
        let mut pending: Option<(String, String)> = None;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut acted = 0usize;
        for (i, m) in history.iter().enumerate() {
            let n = nth(i);
            let o = m
                .as_object()
                .ok_or_else(|| Fail::doc(format!("history {n}: expected a JSON object, found {}", describe(m))))?;
            acted += usize::from(is_action_turn(o));
            history_events(o, n, &mut pending, &mut names, &mut events);
        }
        // The steps the history repeats are skipped; steps past its last
        // action (a run whose history stops before its final `submit`) are
        // read from the trajectory.
        for (i, step) in trajectory.iter().enumerate() {
            if i < acted {
                report.skip("trajectory-step");
                continue;
            }
            let n = nth(i);
            let s = step.as_object().ok_or_else(|| {
                Fail::doc(format!("trajectory step {n}: expected a JSON object, found {}", describe(step)))
            })?;
            step_events(s, n, &mut events);
        }
    }
    if let Some(info) = doc.get("info").filter(|v| !v.is_null()) {
        report.read(1);
        let mut wrapper = Map::new();
        wrapper.insert("info".to_string(), info.clone());
        let base = Base { timestamp: None, sidechain: false, source_line: None, raw: compact(&Value::Object(wrapper)) };
        let mut e = base.event(Role::System, EventKind::Other);
        e.text = info.get("exit_status").and_then(Value::as_str).map(|s| format!("exit_status: {s}"));
        events.push(e);
    }

    let id = match run_name(ctx.file, &ctx.stem) {
        Some(run) => format!("{run}/{}", ctx.stem),
        None => ctx.stem.clone(),
    };
    let mut s = new_session(id, Format::SweAgent);
    // The instance template: a user-turn text that is not a demonstration.
    let demo = |e: &&NewEvent| {
        serde_json::from_str::<Value>(&e.raw).ok().is_some_and(|r| {
            r.get("is_demo").and_then(Value::as_bool).unwrap_or(false)
                || r.get("role").and_then(Value::as_str) != Some("user")
        })
    };
    s.title = events
        .iter()
        .filter(|e| e.kind == EventKind::System)
        .filter(|e| !demo(e))
        .find_map(|e| e.text.as_deref().and_then(issue_title))
        .or_else(|| title_of(&ctx.stem));
    s.events = events;
    Ok(Parsed { sessions: vec![s], report, spawns: Vec::new() })
}

/// The first line of the issue in an instance template.
fn issue_title(text: &str) -> Option<String> {
    if let Some((_, rest)) = text.split_once("<pr_description>") {
        let body = rest.split("</pr_description>").next().unwrap_or(rest);
        // "Consider the following PR description:" introduces the issue.
        let mut lines = body.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next()?;
        return if first.ends_with(':') { lines.next().and_then(title_of) } else { title_of(first) };
    }
    let (_, rest) = text.split_once("ISSUE:")?;
    title_of(rest)
}

fn history_events(
    o: &Obj,
    n: u32,
    pending: &mut Option<(String, String)>,
    names: &mut HashMap<String, String>,
    out: &mut Vec<NewEvent>,
) {
    let base = Base { timestamp: None, sidechain: false, source_line: Some(n), raw: compact_obj(o) };
    let content = text_of(o.get("content"));
    let demo = o.get("is_demo").and_then(Value::as_bool).unwrap_or(false)
        || o.get("message_type").and_then(Value::as_str) == Some("demonstration");
    let role = o.get("role").and_then(Value::as_str).unwrap_or_default();
    if demo || role == "system" {
        out.push(base.message(Role::System, content));
        return;
    }
    match role {
        "assistant" => {
            let thought = text_of(o.get("thought")).filter(|t| !t.trim().is_empty());
            out.push(base.message(Role::Assistant, thought.or_else(|| content.clone())));
            *pending = None;
            if let Some(Value::Array(calls)) = o.get("tool_calls") {
                for call in calls {
                    let f = call.get("function").and_then(Value::as_object);
                    let name = f.and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_string);
                    let id = call.get("id").and_then(Value::as_str).map(str::to_string);
                    if let (Some(i), Some(nm)) = (&id, &name) {
                        names.insert(i.clone(), nm.clone());
                    }
                    let mut e = base.event(Role::Assistant, EventKind::ToolCall);
                    e.tool_name = name;
                    e.tool_use_id = id;
                    e.tool_input = f.and_then(|f| f.get("arguments")).map(|a| match a {
                        Value::String(s) => {
                            serde_json::from_str::<Value>(s).map_or_else(|_| compact(a), |p| compact(&p))
                        }
                        other => compact(other),
                    });
                    out.push(e);
                }
            } else if let Some((action, name)) = action_of(o, content.as_deref()) {
                let id = format!("step-{n}");
                let mut e = base.event(Role::Assistant, EventKind::ToolCall);
                e.tool_name = Some(name.clone());
                e.tool_use_id = Some(id.clone());
                e.tool_input = Some(compact(&serde_json::json!({ "command": action.trim_end() })));
                out.push(e);
                *pending = Some((id, name));
            }
        }
        "tool" => {
            let id = match o.get("tool_call_ids") {
                Some(Value::Array(ids)) => ids.first().and_then(Value::as_str).map(str::to_string),
                _ => o.get("tool_call_id").and_then(Value::as_str).map(str::to_string),
            };
            let mut e = base.event(Role::Tool, EventKind::ToolResult);
            e.is_error = content.as_deref().is_some_and(observation_failed);
            e.tool_name = id.as_ref().and_then(|i| names.get(i).cloned());
            e.tool_use_id = id;
            e.text = content;
            out.push(e);
        }
        _ => match pending.take() {
            Some((id, name)) => {
                let mut e = base.event(Role::Tool, EventKind::ToolResult);
                e.is_error = content.as_deref().is_some_and(observation_failed);
                e.tool_name = Some(name);
                e.tool_use_id = Some(id);
                e.text = content;
                out.push(e);
            }
            // The instance template and other harness text in the user's turn.
            None => out.push(base.message(Role::System, content)),
        },
    }
}

/// A turn of the model (not a demonstration) that ran an action.
fn is_action_turn(o: &Obj) -> bool {
    let demo = o.get("is_demo").and_then(Value::as_bool).unwrap_or(false)
        || o.get("message_type").and_then(Value::as_str) == Some("demonstration");
    let calls = matches!(o.get("tool_calls"), Some(Value::Array(c)) if !c.is_empty());
    !demo
        && o.get("role").and_then(Value::as_str) == Some("assistant")
        && (calls || action_of(o, text_of(o.get("content")).as_deref()).is_some())
}

/// The action of an assistant turn and the tool it names: SWE-agent's
/// `action` field (the command's first word: `open`, `edit`, `python`, ...),
/// else — mini-swe-agent — the last fenced code block of the reply, a
/// `bash` command.
fn action_of(o: &Obj, content: Option<&str>) -> Option<(String, String)> {
    if let Some(action) = o.get("action").and_then(Value::as_str).filter(|a| !a.trim().is_empty()) {
        let name = action.split_whitespace().next().unwrap_or("command").to_string();
        return Some((action.to_string(), name));
    }
    let content = content?;
    let blocks: Vec<&str> = content.split("```").skip(1).step_by(2).collect();
    let last = blocks.last()?;
    let code = match last.split_once('\n') {
        Some((lang, rest)) if !lang.trim().contains(' ') => rest,
        _ => last,
    };
    let code = code.trim();
    (!code.is_empty()).then(|| (code.to_string(), "bash".to_string()))
}

fn step_events(s: &Obj, n: u32, out: &mut Vec<NewEvent>) {
    let base = Base { timestamp: None, sidechain: false, source_line: Some(n), raw: compact_obj(s) };
    let thought = text_of(s.get("thought")).or_else(|| text_of(s.get("response")));
    out.push(base.message(Role::Assistant, thought));
    let id = format!("step-{n}");
    let action = s.get("action").and_then(Value::as_str).unwrap_or_default();
    let name = action.split_whitespace().next().unwrap_or("command").to_string();
    let mut call = base.event(Role::Assistant, EventKind::ToolCall);
    call.tool_name = Some(name.clone());
    call.tool_use_id = Some(id.clone());
    call.tool_input = Some(compact(&serde_json::json!({ "command": action.trim_end() })));
    out.push(call);
    let observation = text_of(s.get("observation"));
    let mut result = base.event(Role::Tool, EventKind::ToolResult);
    result.is_error = observation.as_deref().is_some_and(observation_failed);
    result.tool_name = Some(name);
    result.tool_use_id = Some(id);
    result.text = observation;
    out.push(result);
}

/// Looks like a SWE-agent trajectory: `trajectory` or `history` arrays with
/// an `info` or `environment`.
pub(crate) fn looks_like(o: &Obj) -> bool {
    let arr = |k: &str| matches!(o.get(k), Some(Value::Array(_)));
    let mini = o.get("trajectory_format").and_then(Value::as_str).is_some_and(|f| f.starts_with("mini-swe-agent"))
        || (arr("messages")
            && o.get("info").is_some_and(|i| i.get("exit_status").is_some() || i.get("model_stats").is_some()));
    mini || ((arr("trajectory") || arr("history")) && (o.contains_key("info") || o.contains_key("environment")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_and_titles() {
        assert_eq!(run_name("t/gpt4__run/pydicom-1458.traj", "pydicom-1458").as_deref(), Some("gpt4__run"));
        assert_eq!(run_name("t/run/x/x.traj", "x").as_deref(), Some("run"));
        assert_eq!(run_name("x.traj", "x"), None);
        assert_eq!(
            issue_title("We're solving this issue.\nISSUE:\nSyntaxError: invalid syntax\nmore").as_deref(),
            Some("SyntaxError: invalid syntax")
        );
        assert!(observation_failed("Your proposed edit has introduced new syntax error(s). Please read"));
        assert!(!observation_failed("Found 1 matches for \"x\""));
    }
}
