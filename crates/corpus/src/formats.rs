//! Rendering sessions in the four importer formats.
//!
//! - `claude-code`: Claude Code JSONL (`type` user/assistant lines with
//!   `message.content` blocks, `tool_use` / `tool_result` with `is_error`,
//!   `uuid`/`parentUuid`, `sessionId`, `timestamp`, `isSidechain`).
//! - `anthropic`: one Anthropic Messages JSON document (`messages` with
//!   `text`, `tool_use`, `tool_result` blocks; `metadata.user_id`).
//! - `openai`: one OpenAI Chat Completions JSON document (`messages` with
//!   `tool_calls` whose `arguments` are JSON text, `role: "tool"` results
//!   with `tool_call_id`, no error flag; `user`).
//! - `nocturne`: Nocturne JSONL: a header line
//!   `{"nocturne":"session","version":1,"id","user","agent","team"}` then one
//!   event per line (`role`, `kind`, `text`, `tool_name`, `tool_input`,
//!   `tool_use_id`, `is_error`, `timestamp`).

use crate::Corpus;
use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The Nocturne JSONL line of one event (also used as its `raw`).
pub fn nocturne_line(e: &NewEvent) -> String {
    let mut m = Map::new();
    m.insert("role".into(), json!(e.role.as_str()));
    m.insert("kind".into(), json!(e.kind.as_str()));
    if let Some(t) = &e.text {
        m.insert("text".into(), json!(t));
    }
    if let Some(t) = &e.tool_name {
        m.insert("tool_name".into(), json!(t));
    }
    if let Some(t) = &e.tool_input {
        let v: Value = serde_json::from_str(t).unwrap_or_else(|_| json!(t));
        m.insert("tool_input".into(), v);
    }
    if let Some(t) = &e.tool_use_id {
        m.insert("tool_use_id".into(), json!(t));
    }
    if e.is_error {
        m.insert("is_error".into(), json!(true));
    }
    if let Some(t) = &e.timestamp {
        m.insert("timestamp".into(), json!(t));
    }
    Value::Object(m).to_string()
}

fn input_value(e: &NewEvent) -> Value {
    e.tool_input.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_else(|| json!({}))
}

fn claude_code(s: &NewSession) -> String {
    let mut lines = Vec::new();
    let mut parent: Option<String> = None;
    for (i, e) in s.events.iter().enumerate() {
        let uuid = format!("{}-{i:05}", s.id);
        let (ty, message) = match e.kind {
            EventKind::UserMessage => ("user", json!({"role": "user", "content": e.text})),
            EventKind::AssistantMessage => {
                ("assistant", json!({"role": "assistant", "content": [{"type": "text", "text": e.text}]}))
            }
            EventKind::ToolCall => (
                "assistant",
                json!({"role": "assistant", "content": [{"type": "tool_use", "id": e.tool_use_id, "name": e.tool_name, "input": input_value(e)}]}),
            ),
            EventKind::ToolResult => (
                "user",
                json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": e.tool_use_id, "content": e.text, "is_error": e.is_error}]}),
            ),
            _ => ("system", json!({"role": "system", "content": e.text})),
        };
        lines.push(
            json!({
                "type": ty, "uuid": uuid, "parentUuid": parent, "sessionId": s.id, "timestamp": e.timestamp,
                "isSidechain": false, "cwd": "/home/dev/project", "userType": "external", "message": message
            })
            .to_string(),
        );
        parent = Some(uuid);
    }
    lines.join("\n") + "\n"
}

/// Messages for the two chat formats: consecutive blocks of one role merged.
fn anthropic(s: &NewSession) -> String {
    let mut messages: Vec<Value> = Vec::new();
    let mut push = |role: &str, block: Value| {
        if let Some(last) = messages.last_mut() {
            if last["role"] == role {
                if let Some(a) = last["content"].as_array_mut() {
                    a.push(block);
                    return;
                }
            }
        }
        messages.push(json!({"role": role, "content": [block]}));
    };
    for e in &s.events {
        match e.kind {
            EventKind::UserMessage => push("user", json!({"type": "text", "text": e.text})),
            EventKind::AssistantMessage => push("assistant", json!({"type": "text", "text": e.text})),
            EventKind::ToolCall => push(
                "assistant",
                json!({"type": "tool_use", "id": e.tool_use_id, "name": e.tool_name, "input": input_value(e)}),
            ),
            EventKind::ToolResult => push(
                "user",
                json!({"type": "tool_result", "tool_use_id": e.tool_use_id, "content": e.text, "is_error": e.is_error}),
            ),
            _ => {}
        }
    }
    let doc = json!({
        "id": s.id, "model": "claude-sonnet-4-5", "system": "You are a coding agent.",
        "metadata": {"user_id": s.user}, "messages": messages
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn openai(s: &NewSession) -> String {
    let mut messages: Vec<Value> = vec![json!({"role": "system", "content": "You are a coding agent."})];
    for e in &s.events {
        match (e.kind, e.role) {
            (EventKind::UserMessage, _) => messages.push(json!({"role": "user", "content": e.text})),
            (EventKind::AssistantMessage, _) => messages.push(json!({"role": "assistant", "content": e.text})),
            (EventKind::ToolCall, _) => {
                let call = json!({"id": e.tool_use_id, "type": "function", "function": {"name": e.tool_name, "arguments": e.tool_input.clone().unwrap_or_else(|| "{}".into())}});
                let merged = match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" && last.get("tool_calls").is_some() => {
                        if let Some(a) = last["tool_calls"].as_array_mut() {
                            a.push(call.clone());
                        }
                        true
                    }
                    _ => false,
                };
                if !merged {
                    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
                }
            }
            (EventKind::ToolResult, _) => {
                let mut text = e.text.clone().unwrap_or_default();
                if e.is_error && !nocturne_core::failure::looks_like_failure(&text) {
                    text.push_str("\nexit code 1");
                }
                messages.push(json!({"role": "tool", "tool_call_id": e.tool_use_id, "content": text}));
            }
            (_, Role::System) => messages.push(json!({"role": "system", "content": e.text})),
            _ => {}
        }
    }
    let doc = json!({"id": s.id, "model": "gpt-4.1", "user": s.user, "messages": messages});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn nocturne(s: &NewSession) -> String {
    let header =
        json!({"nocturne": "session", "version": 1, "id": s.id, "user": s.user, "agent": s.agent, "team": s.team});
    let mut out = header.to_string();
    out.push('\n');
    for e in &s.events {
        out.push_str(&nocturne_line(e));
        out.push('\n');
    }
    out
}

/// Writes every session under `dir/sessions/` in its format (sessions are
/// spread over all four: `.claude.jsonl`, `.anthropic.json`, `.openai.json`,
/// `.nocturne.jsonl`), plus `labels.json` and `memories.json` in `dir`.
/// Returns the paths written.
pub fn write_files(corpus: &Corpus, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let sdir = dir.join("sessions");
    std::fs::create_dir_all(&sdir)?;
    let mut out = Vec::new();
    for s in &corpus.sessions {
        let (ext, body) = match s.format.as_str() {
            "claude-code" => ("claude.jsonl", claude_code(s)),
            "anthropic" => ("anthropic.json", anthropic(s)),
            "openai" => ("openai.json", openai(s)),
            _ => ("nocturne.jsonl", nocturne(s)),
        };
        let p = sdir.join(format!("{}.{ext}", s.id));
        std::fs::write(&p, body)?;
        out.push(p);
    }
    out.extend(crate::write_meta(corpus, dir)?);
    Ok(out)
}
