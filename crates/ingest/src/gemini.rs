//! Gemini CLI session JSON (`~/.gemini/tmp/<project>/chats/session-*.json`):
//! `{sessionId, projectHash, startTime, lastUpdated, messages: [...]}`.
//!
//! Each message is `{id, timestamp, type, content, thoughts?, toolCalls?,
//! tokens?, model?}`. `type` `user` is the operator's turn, `gemini` the
//! model's (its `thoughts` become one `other` event, its `content` an
//! assistant message, each tool call a `tool_call` and a `tool_result`),
//! `info` / `warning` / `error` are `system` events, any other type an
//! `other` event. A tool result's text is its `functionResponse.response`
//! `output` (or `error`), else its `resultDisplay`; `is_error` is `status`
//! `error` (or `cancelled`), or an `error` in the response.

use nocturne_core::{Counterpart, EventKind, NewEvent, Role};
use serde_json::Value;

use crate::inject::{gemini_text, mark, Injected};
use crate::json::{compact, compact_obj, describe, nth, Base, Obj};
use crate::{first_prompt_title, json_value, new_session, title_of, Ctx, Fail, FileReport, Format, Parsed};

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

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let doc = match json_value(text)? {
        Value::Object(o) => o,
        other => return Err(Fail::doc(format!("expected a Gemini CLI session object, found {}", describe(&other)))),
    };
    let messages = match doc.get("messages") {
        Some(Value::Array(m)) => m,
        Some(v) => return Err(Fail::doc(format!("\"messages\" must be an array, found {}", describe(v)))),
        None => return Err(Fail::doc("\"messages\" is missing")),
    };
    let mut report = FileReport::default();
    report.read(messages.len());
    let id = doc
        .get("sessionId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map_or_else(|| ctx.stem.clone(), str::to_string);

    let mut events = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let n = nth(i);
        let m = m
            .as_object()
            .ok_or_else(|| Fail::doc(format!("message {n}: expected a JSON object, found {}", describe(m))))?;
        message_events(m, n, &mut events);
    }

    let mut s = new_session(id, Format::Gemini);
    s.counterpart = Some(Counterpart::Operator);
    s.title = doc.get("summary").and_then(Value::as_str).and_then(title_of).or_else(|| first_prompt_title(&events));
    s.events = events;
    Ok(Parsed { sessions: vec![s], report, spawns: Vec::new() })
}

fn message_events(m: &Obj, n: u32, out: &mut Vec<NewEvent>) {
    let base = Base {
        timestamp: m.get("timestamp").and_then(Value::as_str).map(str::to_string),
        sidechain: false,
        source_line: Some(n),
        raw: compact_obj(m),
    };
    let content = text_of(m.get("content"));
    match m.get("type").and_then(Value::as_str).unwrap_or_default() {
        "user" => {
            let mut e = base.message(Role::User, content);
            if e.text.as_deref().is_some_and(gemini_text) {
                mark(&mut e, Injected::System);
            }
            out.push(e);
        }
        "gemini" | "model" | "assistant" => {
            let before = out.len();
            if let Some(Value::Array(thoughts)) = m.get("thoughts") {
                let texts: Vec<String> = thoughts
                    .iter()
                    .filter_map(|t| {
                        let subject = t.get("subject").and_then(Value::as_str).unwrap_or_default();
                        let description = t.get("description").and_then(Value::as_str).unwrap_or_default();
                        let line = [subject, description].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>();
                        (!line.is_empty()).then(|| line.join(": "))
                    })
                    .collect();
                if !texts.is_empty() {
                    let mut e = base.event(Role::Assistant, EventKind::Other);
                    e.text = Some(texts.join("\n"));
                    out.push(e);
                }
            }
            if content.as_deref().is_some_and(|c| !c.trim().is_empty()) {
                out.push(base.message(Role::Assistant, content.clone()));
            }
            if let Some(Value::Array(calls)) = m.get("toolCalls") {
                for call in calls {
                    tool_events(call, &base, out);
                }
            }
            if out.len() == before {
                out.push(base.message(Role::Assistant, content));
            }
        }
        "info" | "warning" | "error" => out.push(base.message(Role::System, content)),
        _ => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = content;
            out.push(e);
        }
    }
}

fn tool_events(call: &Value, base: &Base, out: &mut Vec<NewEvent>) {
    let Some(c) = call.as_object() else {
        out.push(base.event(Role::Assistant, EventKind::Other));
        return;
    };
    let name = c.get("name").and_then(Value::as_str).map(str::to_string);
    let id = c.get("id").and_then(Value::as_str).map(str::to_string);
    let timestamp = c.get("timestamp").and_then(Value::as_str).map(str::to_string).or_else(|| base.timestamp.clone());
    let mut call_event = base.event(Role::Assistant, EventKind::ToolCall);
    call_event.tool_name.clone_from(&name);
    call_event.tool_use_id.clone_from(&id);
    call_event.tool_input = c.get("args").filter(|v| !v.is_null()).map(compact);
    call_event.timestamp.clone_from(&timestamp);
    out.push(call_event);

    let responses: Vec<&Value> = match c.get("result") {
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("functionResponse").and_then(|f| f.get("response"))).collect()
        }
        Some(Value::Object(o)) => o.get("functionResponse").and_then(|f| f.get("response")).into_iter().collect(),
        _ => Vec::new(),
    };
    let mut texts = Vec::new();
    let mut errored = false;
    for r in &responses {
        if let Some(t) = r.get("output").and_then(Value::as_str) {
            texts.push(t.to_string());
        }
        if let Some(err) = r.get("error").filter(|e| !e.is_null()) {
            errored = true;
            texts.push(err.as_str().map_or_else(|| compact(err), str::to_string));
        }
    }
    let text = if texts.is_empty() {
        c.get("resultDisplay").and_then(Value::as_str).map(str::to_string)
    } else {
        Some(texts.join("\n"))
    };
    let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
    if responses.is_empty() && text.is_none() && status.is_empty() {
        return;
    }
    let mut result = base.event(Role::Tool, EventKind::ToolResult);
    result.is_error = errored
        || matches!(status, "error" | "cancelled" | "canceled")
        || (status.is_empty() && crate::json::error_flag(None, text.as_deref()));
    result.tool_name = name;
    result.tool_use_id = id;
    result.text = text;
    result.timestamp = timestamp;
    out.push(result);
}
