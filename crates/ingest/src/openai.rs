//! OpenAI Chat Completions JSON: `{"messages": [...], "id"?: ...}`.
//!
//! Roles `system` and `developer` become `system` events, `user` and
//! `assistant` messages, `tool` (and legacy `function`) tool results.
//! Content is a string, `null`, or a list of parts: `text` and `refusal`
//! parts are message text, other parts (`image_url`, `input_audio`, `file`)
//! are `other` events. An assistant's `tool_calls` (and legacy
//! `function_call`) become `tool_call` events; `function.arguments` is a JSON
//! string that is parsed, and kept as a JSON-encoded string when it is not
//! valid JSON. Tool results carry no error flag: `is_error` is
//! `looks_like_failure(text)`, and `tool_name` comes from the matching call.

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use serde_json::Value;

use crate::anthropic::document_header;
use crate::blocks::{result_text, ToolNames};
use crate::json::{compact, describe, error_flag, nth, object, opt_str, req_str, Base, Obj};
use crate::{json_documents, nth_id, Fail, Format};

pub(crate) fn parse(text: &str, stem: &str) -> Result<Vec<NewSession>, Fail> {
    let docs = json_documents(text, "OpenAI Chat Completions")?;
    let mut sessions = Vec::with_capacity(docs.len());
    for (n, (line, doc)) in docs.iter().enumerate() {
        let exact_id = || crate::json::source_text(crate::document_text(text, *line)?, &[crate::json::Seg::Key("id")]);
        let session = document(doc, &nth_id(stem, n), exact_id).map_err(|f| f.on_line(*line))?;
        sessions.push(session);
    }
    Ok(sessions)
}

fn document<'t>(doc: &Obj, stem: &str, exact_id: impl FnOnce() -> Option<&'t str>) -> Result<NewSession, Fail> {
    let (id, title, messages) = document_header(doc, stem, exact_id)?;
    let mut events = Vec::new();
    let mut names = ToolNames::new();
    for (i, message) in messages.iter().enumerate() {
        let n = nth(i);
        message_events(message, n, &mut names, &mut events).map_err(|e| Fail::doc(format!("message {n}: {e}")))?;
    }
    Ok(NewSession {
        id,
        format: Format::OpenAi.as_str().to_string(),
        source: None,
        user: None,
        agent: None,
        team: None,
        title,
        parent: None,
        subagent: None,
        counterpart: None,
        outcome: None,
        events,
    })
}

fn message_events(message: &Value, n: u32, names: &mut ToolNames, out: &mut Vec<NewEvent>) -> Result<(), String> {
    let m = object(message)?;
    let role = match req_str(m, "role")? {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        other => return Err(format!("unknown role \"{other}\"")),
    };
    let base = Base {
        // Not part of the API; kept when an export adds it.
        timestamp: m.get("timestamp").and_then(Value::as_str).map(str::to_string),
        sidechain: false,
        source_line: Some(n),
        raw: compact(message),
    };

    if role == Role::Tool {
        let text = result_text(m.get("content"))?;
        let id = opt_str(m, "tool_call_id")?;
        let mut e = base.event(Role::Tool, EventKind::ToolResult);
        e.tool_name = match id.and_then(|id| names.get(id)) {
            Some(name) => Some(name.clone()),
            None => opt_str(m, "name")?.map(str::to_string),
        };
        e.tool_use_id = id.map(str::to_string);
        e.is_error = error_flag(None, text.as_deref());
        e.text = text;
        out.push(e);
        return Ok(());
    }

    let before = out.len();
    let mut empty_text: Option<String> = None;
    match m.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => empty_text = Some(String::new()),
        Some(Value::String(s)) => out.push(base.message(role, Some(s.clone()))),
        Some(Value::Array(parts)) => {
            for (i, part) in parts.iter().enumerate() {
                let e =
                    part_event(part, role, &base).map_err(|e| format!("content part {}: {e}", i.saturating_add(1)))?;
                out.push(e);
            }
        }
        Some(v) => {
            return Err(format!("\"content\" must be a string, null or an array of parts, found {}", describe(v)))
        }
    }
    if let Some(refusal) = opt_str(m, "refusal")? {
        out.push(base.message(role, Some(refusal.to_string())));
    }
    match m.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (i, call) in calls.iter().enumerate() {
                let e = tool_call(call, &base, names).map_err(|e| format!("tool call {}: {e}", i.saturating_add(1)))?;
                out.push(e);
            }
        }
        Some(v) => return Err(format!("\"tool_calls\" must be an array, found {}", describe(v))),
    }
    if let Some(call) = m.get("function_call").filter(|v| !v.is_null()) {
        let f = object(call).map_err(|e| format!("\"function_call\": {e}"))?;
        let e = function(f, None, &base, names).map_err(|e| format!("\"function_call\": {e}"))?;
        out.push(e);
    }
    if out.len() == before {
        out.push(base.message(role, empty_text));
    }
    Ok(())
}

fn part_event(part: &Value, role: Role, base: &Base) -> Result<NewEvent, String> {
    let o = object(part)?;
    Ok(match req_str(o, "type")? {
        "text" => base.message(role, Some(req_str(o, "text")?.to_string())),
        "refusal" => base.message(role, Some(req_str(o, "refusal")?.to_string())),
        _ => base.event(role, EventKind::Other),
    })
}

fn tool_call(call: &Value, base: &Base, names: &mut ToolNames) -> Result<NewEvent, String> {
    let o = object(call)?;
    let id = opt_str(o, "id")?;
    if let Some(f) = o.get("function") {
        let f = object(f).map_err(|e| format!("\"function\": {e}"))?;
        return function(f, id, base, names).map_err(|e| format!("\"function\": {e}"));
    }
    if let Some(c) = o.get("custom") {
        // Custom tools take free-form text input.
        let c = object(c).map_err(|e| format!("\"custom\": {e}"))?;
        let name = req_str(c, "name").map_err(|e| format!("\"custom\": {e}"))?;
        let input = opt_str(c, "input").map_err(|e| format!("\"custom\": {e}"))?;
        let mut e = call_event(name, id, base, names);
        e.tool_input = input.map(|s| compact(&Value::String(s.to_string())));
        return Ok(e);
    }
    Err("\"function\" is missing".to_string())
}

/// A `{name, arguments}` function call.
fn function(f: &Obj, id: Option<&str>, base: &Base, names: &mut ToolNames) -> Result<NewEvent, String> {
    let name = req_str(f, "name")?;
    let mut e = call_event(name, id, base, names);
    e.tool_input = arguments(f.get("arguments"));
    Ok(e)
}

fn call_event(name: &str, id: Option<&str>, base: &Base, names: &mut ToolNames) -> NewEvent {
    if let Some(id) = id {
        names.insert(id.to_string(), name.to_string());
    }
    let mut e = base.event(Role::Assistant, EventKind::ToolCall);
    e.tool_name = Some(name.to_string());
    e.tool_use_id = id.map(str::to_string);
    e
}

/// `arguments` is JSON text: parsed and re-serialized compactly when valid,
/// else kept as given (JSON-encoded). An object (some exports decode it) is
/// taken as is.
fn arguments(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match serde_json::from_str::<Value>(s) {
            Ok(parsed) => compact(&parsed),
            Err(_) => compact(&Value::String(s.clone())),
        }),
        Some(other) => Some(compact(other)),
    }
}
