//! Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`).
//!
//! Each line is `{timestamp, type, payload}` with `type` one of
//! `session_meta`, `turn_context`, `response_item`, `event_msg` (and
//! `compacted`). `response_item`s are what the model saw and said: they are
//! the conversation. `event_msg`s are the UI's event stream, mostly a mirror
//! of the response items: the mirrors are skipped and counted
//! (`event_msg:token_count`, ...), a `user_message` / `agent_message` is kept
//! only when no response item holds the same text (Codex Desktop writes the
//! user's turns only there), and other events (`turn_aborted`, `error`, ...)
//! are `other` events. Older rollouts (a first line `{id, timestamp,
//! instructions}` followed by bare response items and `{"record_type":
//! "state"}` lines) are read the same way.
//!
//! Tool calls: `function_call`, `custom_tool_call`, `local_shell_call`,
//! `web_search_call`; results: `function_call_output`,
//! `custom_tool_call_output`. A result's `is_error` comes from its exit code
//! (`metadata.exit_code` of a JSON output, a `Process exited with code N`
//! header, else the `exec_command_end` event of the same call), then from
//! `success: false`, else from the text.

use std::collections::{HashMap, HashSet};

use nocturne_core::{Counterpart, EventKind, NewEvent, Role};
use serde_json::Value;

use crate::inject::{codex_text, mark, Injected};
use crate::json::{compact, compact_obj, Base, Obj};
use crate::{new_session, title_of, Ctx, Fail, FileReport, Format, Parsed};

/// `event_msg` types that mirror response items or carry only telemetry.
const MIRRORS: [&str; 19] = [
    "token_count",
    "task_started",
    "task_complete",
    "turn_started",
    "turn_complete",
    "agent_reasoning",
    "agent_reasoning_raw_content",
    "agent_reasoning_section_break",
    "agent_message_delta",
    "exec_command_begin",
    "exec_command_end",
    "exec_command_output_delta",
    "patch_apply_begin",
    "patch_apply_end",
    "web_search_begin",
    "web_search_end",
    "mcp_tool_call_begin",
    "mcp_tool_call_end",
    "turn_diff",
];

/// Response item types of old rollouts (bare, without `payload`).
const ITEM_TYPES: [&str; 8] = [
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "local_shell_call",
    "web_search_call",
];

/// The record of a line: its kind and its payload (the line itself for
/// bare items of old rollouts).
fn split(o: &Obj) -> (&str, &Obj) {
    let ty = o.get("type").and_then(Value::as_str).unwrap_or_default();
    match o.get("payload").and_then(Value::as_object) {
        Some(p) if ["session_meta", "turn_context", "response_item", "event_msg", "compacted"].contains(&ty) => (ty, p),
        _ => ("", o),
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> =
                parts.iter().filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str))).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// Text of the blocks of a response message, by role.
fn message_texts(p: &Obj) -> Vec<String> {
    match p.get("content") {
        Some(Value::Array(blocks)) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).map(|t| t.trim().to_string()).collect()
        }
        Some(Value::String(s)) => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let mut events: Vec<NewEvent> = Vec::new();
    let mut parsed = stream(&mut crate::TextLines(text), ctx, &mut |_, _, e| {
        events.push(e);
        Ok(())
    })?;
    if let Some(s) = parsed.sessions.first_mut() {
        s.events = events;
    }
    Ok(parsed)
}

/// Parses a rollout read from `src` twice, holding one record at a time:
/// the first reading checks every line and gathers what the events need
/// (the session id, exit codes by call, the texts of the response items'
/// messages, to spot mirrored event messages), the second hands each event
/// to `sink`. The session comes back without its events. Errors as when
/// parsed whole: a syntax error anywhere first.
pub(crate) fn stream(
    src: &mut dyn crate::LineSource,
    ctx: &Ctx<'_>,
    sink: &mut dyn FnMut(usize, &str, NewEvent) -> Result<(), Fail>,
) -> Result<Parsed, Fail> {
    let mut report = FileReport::default();
    let mut records = 0usize;
    let mut exit_codes: HashMap<String, i64> = HashMap::new();
    let mut said: HashSet<(&'static str, String)> = HashSet::new();
    let mut id: Option<String> = None;
    let mut known = false;
    src.each(&mut |line, text| {
        let o = crate::object_line(line, text)?;
        let n = records;
        records += 1;
        let (kind, p) = split(&o);
        let pty = p.get("type").and_then(Value::as_str).unwrap_or_default();
        known = known
            || !kind.is_empty()
            || ITEM_TYPES.contains(&pty)
            || (p.contains_key("instructions") && p.contains_key("id"));
        match (kind, pty) {
            ("session_meta", _) if id.is_none() => {
                id = p.get("id").and_then(Value::as_str).map(str::to_string);
            }
            ("", _) if n == 0 && !p.contains_key("type") => {
                id = p.get("id").and_then(Value::as_str).map(str::to_string);
            }
            ("event_msg", "exec_command_end") => {
                if let (Some(call), Some(code)) =
                    (p.get("call_id").and_then(Value::as_str), p.get("exit_code").and_then(Value::as_i64))
                {
                    exit_codes.insert(call.to_string(), code);
                }
            }
            ("response_item" | "", "message") => {
                let role = match p.get("role").and_then(Value::as_str) {
                    Some("user") => "user",
                    Some("assistant") => "assistant",
                    _ => return Ok(()),
                };
                for t in message_texts(p) {
                    said.insert((role, t));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    report.read(records);
    if records == 0 {
        // An empty file: no session (as when parsed whole).
        return Ok(Parsed { sessions: Vec::new(), report, spawns: Vec::new() });
    }
    if !known {
        return Err(Fail::doc(
            "no Codex rollout record found (expected session_meta, response_item or event_msg lines)",
        ));
    }
    let id = id.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| ctx.stem.clone());

    let mut names: HashMap<String, String> = HashMap::new();
    let mut title: Option<String> = None;
    let mut n = 0usize;
    let mut out: Vec<NewEvent> = Vec::new();
    src.each(&mut |line, text| {
        let o = crate::object_line(line, text)?;
        let first = n == 0;
        n += 1;
        let (kind, p) = split(&o);
        let pty = p.get("type").and_then(Value::as_str).unwrap_or_default();
        let base = Base {
            timestamp: o.get("timestamp").and_then(Value::as_str).map(str::to_string),
            sidechain: false,
            source_line: Some(line),
            raw: compact_obj(&o),
        };
        match kind {
            "session_meta" => {
                let instructions = text_of(p.get("base_instructions").and_then(|b| b.get("text")))
                    .or_else(|| text_of(p.get("instructions")));
                out.push(base.message(Role::System, instructions));
            }
            "turn_context" => report.skip("turn_context"),
            "compacted" => {
                let mut e = base.event(Role::System, EventKind::Other);
                e.text = text_of(p.get("message"));
                out.push(e);
            }
            "event_msg" => event_msg(p, pty, &base, &said, &mut report, &mut out),
            "response_item" => response_item(p, pty, &base, &exit_codes, &mut names, &mut out),
            _ if first && !p.contains_key("type") && p.contains_key("id") => {
                out.push(base.message(Role::System, text_of(p.get("instructions"))));
            }
            _ if p.contains_key("record_type") && !p.contains_key("type") => report.skip("state"),
            _ if !pty.is_empty() && !o.contains_key("payload") => {
                response_item(p, pty, &base, &exit_codes, &mut names, &mut out)
            }
            _ => out.push(base.event(Role::System, EventKind::Other)),
        }
        for e in out.drain(..) {
            if title.is_none() && e.role == Role::User && e.kind == EventKind::UserMessage {
                title = e.text.as_deref().and_then(request_title);
            }
            sink(0, &id, e)?;
        }
        Ok(())
    })?;

    let mut s = new_session(id, Format::Codex);
    s.counterpart = Some(Counterpart::Operator);
    s.title = title;
    Ok(Parsed { sessions: vec![s], report, spawns: Vec::new() })
}

/// The title of a user turn: Codex Desktop wraps the request after a
/// `## My request for Codex:` line, below the files it mentions.
fn request_title(text: &str) -> Option<String> {
    match text.split_once("## My request for Codex:") {
        Some((_, request)) => title_of(request),
        None => title_of(text),
    }
}

fn event_msg(
    p: &Obj,
    pty: &str,
    base: &Base,
    said: &HashSet<(&'static str, String)>,
    report: &mut FileReport,
    out: &mut Vec<NewEvent>,
) {
    let message = p.get("message").and_then(Value::as_str);
    match pty {
        "user_message" | "agent_message" => {
            let role_name = if pty == "user_message" { "user" } else { "assistant" };
            let text = message.unwrap_or_default();
            if said.contains(&(role_name, text.trim().to_string())) {
                report.skip(&format!("event_msg:{pty}"));
                return;
            }
            let role = if pty == "user_message" { Role::User } else { Role::Assistant };
            let mut e = base.message(role, Some(text.to_string()));
            if role == Role::User && codex_text(text) {
                mark(&mut e, Injected::System);
            }
            out.push(e);
        }
        t if MIRRORS.contains(&t) => report.skip(&format!("event_msg:{t}")),
        _ => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = message.or_else(|| p.get("reason").and_then(Value::as_str)).map(str::to_string);
            out.push(e);
        }
    }
}

fn response_item(
    p: &Obj,
    pty: &str,
    base: &Base,
    exit_codes: &HashMap<String, i64>,
    names: &mut HashMap<String, String>,
    out: &mut Vec<NewEvent>,
) {
    let call_id = p.get("call_id").and_then(Value::as_str).or_else(|| p.get("id").and_then(Value::as_str));
    match pty {
        "message" => {
            let role = match p.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                _ => Role::System,
            };
            let before = out.len();
            if let Some(Value::Array(blocks)) = p.get("content") {
                for block in blocks {
                    let text = block.get("text").and_then(Value::as_str);
                    let ty = block.get("type").and_then(Value::as_str).unwrap_or_default();
                    let mut e = match text {
                        Some(t) if ty != "input_image" => base.message(role, Some(t.to_string())),
                        _ => base.event(role, EventKind::Other),
                    };
                    if role == Role::User && e.kind == EventKind::UserMessage && text.is_some_and(codex_text) {
                        mark(&mut e, Injected::System);
                    }
                    out.push(e);
                }
            } else if let Some(t) = p.get("content").and_then(Value::as_str) {
                out.push(base.message(role, Some(t.to_string())));
            }
            if out.len() == before {
                out.push(base.message(role, None));
            }
        }
        "reasoning" => {
            let mut e = base.event(Role::Assistant, EventKind::Other);
            e.text = text_of(p.get("summary")).or_else(|| text_of(p.get("content"))).filter(|t| !t.is_empty());
            out.push(e);
        }
        "function_call" | "custom_tool_call" | "local_shell_call" | "web_search_call" | "tool_search_call" => {
            let name = match pty {
                "local_shell_call" => "local_shell".to_string(),
                "web_search_call" => "web_search".to_string(),
                _ => p.get("name").and_then(Value::as_str).unwrap_or(pty).to_string(),
            };
            if let Some(id) = call_id {
                names.insert(id.to_string(), name.clone());
            }
            let mut e = base.event(Role::Assistant, EventKind::ToolCall);
            e.tool_input = match pty {
                "function_call" => p.get("arguments").map(arguments),
                "custom_tool_call" => p.get("input").map(compact),
                _ => p.get("action").map(compact),
            };
            e.tool_name = Some(name);
            e.tool_use_id = call_id.map(str::to_string);
            out.push(e);
        }
        "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
            let (text, exit, success) = output(p.get("output"));
            let code = exit.or_else(|| text.as_deref().and_then(exit_header)).or_else(|| {
                let running = text.as_deref().is_some_and(|t| t.contains("Process running with session ID"));
                call_id.and_then(|c| exit_codes.get(c).copied()).filter(|_| !running)
            });
            let mut e = base.event(Role::Tool, EventKind::ToolResult);
            e.is_error = match (code, success) {
                (Some(c), _) => c != 0,
                (None, Some(ok)) => !ok,
                (None, None) => crate::json::error_flag(None, text.as_deref()),
            };
            e.tool_name = call_id.and_then(|c| names.get(c)).cloned();
            e.tool_use_id = call_id.map(str::to_string);
            e.text = text;
            out.push(e);
        }
        _ => out.push(base.event(Role::System, EventKind::Other)),
    }
}

/// `arguments` is JSON text: parsed when valid, else kept JSON-encoded.
fn arguments(v: &Value) -> String {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(parsed) => compact(&parsed),
            Err(_) => compact(v),
        },
        other => compact(other),
    }
}

/// The text, exit code and success flag of a tool output: a plain string; a
/// JSON string `{"output": ..., "metadata": {"exit_code": N}}`; or an object
/// `{"content": ..., "success": bool}`.
fn output(v: Option<&Value>) -> (Option<String>, Option<i64>, Option<bool>) {
    let structured = |o: &Obj| {
        let text = text_of(o.get("output")).or_else(|| text_of(o.get("content")));
        let exit = o.get("metadata").and_then(|m| m.get("exit_code")).and_then(Value::as_i64);
        let success = o.get("success").and_then(Value::as_bool);
        (text, exit, success)
    };
    match v {
        Some(Value::String(s)) => {
            if s.trim_start().starts_with('{') {
                if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s) {
                    if o.contains_key("output") || o.contains_key("content") {
                        return structured(&o);
                    }
                }
            }
            (Some(s.clone()), None, None)
        }
        Some(Value::Object(o)) => structured(o),
        Some(Value::Array(_)) => (text_of(v), None, None),
        _ => (None, None, None),
    }
}

/// `Process exited with code N` in the header lines of a unified-exec output.
fn exit_header(text: &str) -> Option<i64> {
    text.lines().take(6).find_map(|l| l.trim().strip_prefix("Process exited with code ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_and_exit_codes() {
        let v = Value::String(r#"{"output":"ok\n","metadata":{"exit_code":1,"duration_seconds":0.1}}"#.into());
        assert_eq!(output(Some(&v)), (Some("ok\n".into()), Some(1), None));
        let v = serde_json::json!({"content": "boom", "success": false});
        assert_eq!(output(Some(&v)), (Some("boom".into()), None, Some(false)));
        let plain = "Chunk ID: a\nWall time: 0.1 seconds\nProcess exited with code 2\nOutput:\nx";
        assert_eq!(exit_header(plain), Some(2));
        assert_eq!(exit_header("Output:\nProcess exited with code 1 is what the log said"), None);
        assert_eq!(
            request_title("\n# Files mentioned by the user:\n\n## a.vtt: /a.vtt\n\n## My request for Codex:\nsum up\n")
                .as_deref(),
            Some("sum up")
        );
    }
}
