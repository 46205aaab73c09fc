//! Replies in the two wire formats, written independently of the client's
//! parsers (from the providers' documented shapes and the recorded fixtures),
//! so a test through the fake checks the client against the format, not
//! against itself.

use crate::script::{FakeUsage, Reply};
use serde_json::{json, Value};

/// Which API a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Anthropic,
    OpenAi,
}

impl Wire {
    pub fn name(self) -> &'static str {
        match self {
            Wire::Anthropic => "anthropic",
            Wire::OpenAi => "openai",
        }
    }
}

/// A response ready to write.
pub struct Rendered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

pub enum Body {
    Json(Vec<u8>),
    /// Complete SSE events (`event: ...\ndata: ...\n\n`).
    Events(Vec<String>),
}

/// The system prompt of a request body.
pub fn system_text(wire: Wire, req: &Value) -> String {
    match wire {
        Wire::Anthropic => match req.get("system") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(blocks)) => texts(blocks),
            _ => String::new(),
        },
        Wire::OpenAi => messages(req)
            .iter()
            .filter(|m| matches!(m.get("role").and_then(Value::as_str), Some("system" | "developer")))
            .map(content_text)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The text of the last user message.
pub fn last_user_text(req: &Value) -> String {
    messages(req)
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(content_text)
        .unwrap_or_default()
}

fn messages(req: &Value) -> Vec<Value> {
    req.get("messages").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn texts(blocks: &[Value]) -> String {
    blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
}

fn content_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => texts(blocks),
        _ => String::new(),
    }
}

fn chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn usage_or_default(reply: &Reply, req_body: &[u8], output_text: &str) -> FakeUsage {
    reply.usage.unwrap_or(FakeUsage {
        input_tokens: (req_body.len() as u64 / 4).max(1),
        output_tokens: (output_text.chars().count() as u64 / 4).max(1),
        cache_read: 0,
        cache_write: 0,
    })
}

/// An error body in the wire's shape.
pub fn error_body(wire: Wire, status: u16, message: &str) -> Vec<u8> {
    let kind = match (wire, status) {
        (Wire::Anthropic, 400) => "invalid_request_error",
        (Wire::Anthropic, 401) => "authentication_error",
        (Wire::Anthropic, 403) => "permission_error",
        (Wire::Anthropic, 404) => "not_found_error",
        (Wire::Anthropic, 413) => "request_too_large",
        (Wire::Anthropic, 429) => "rate_limit_error",
        (Wire::Anthropic, 529) => "overloaded_error",
        (Wire::Anthropic, _) => "api_error",
        (Wire::OpenAi, 401) => "invalid_request_error",
        (Wire::OpenAi, 429) => "rate_limit_exceeded",
        (Wire::OpenAi, s) if s >= 500 => "server_error",
        (Wire::OpenAi, _) => "invalid_request_error",
    };
    let v = match wire {
        Wire::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake_error"})
        }
        Wire::OpenAi => json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    };
    v.to_string().into_bytes()
}

/// Renders `reply` for a request with body `req` (parsed) and bytes `req_body`.
pub fn render(wire: Wire, reply: &Reply, req: &Value, req_body: &[u8], seq: u64) -> Rendered {
    let mut headers: Vec<(String, String)> = reply.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let id_header = match wire {
        Wire::Anthropic => "request-id",
        Wire::OpenAi => "x-request-id",
    };
    headers.push((id_header.to_string(), format!("req_fake_{seq}")));
    if let Some(status) = reply.status {
        let body = match &reply.body {
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(v) => v.to_string().into_bytes(),
            None => error_body(wire, status, reply.error_message.as_deref().unwrap_or("fake error")),
        };
        return Rendered { status, headers, body: Body::Json(body) };
    }
    if let Some(raw) = &reply.raw_body {
        return Rendered { status: 200, headers, body: Body::Json(raw.clone().into_bytes()) };
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let model = reply
        .model
        .clone()
        .or_else(|| req.get("model").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let chunk = reply.chunk_chars.unwrap_or(7);
    let body = match wire {
        Wire::Anthropic => anthropic(reply, req, req_body, seq, &model, stream, chunk),
        Wire::OpenAi => openai(reply, req, req_body, seq, &model, stream, chunk),
    };
    Rendered { status: 200, headers, body }
}

/// Anthropic content blocks: (type, text-or-json, id, name).
enum Block {
    Text(String),
    Tool { id: String, name: String, input: Value, raw: String },
}

fn anthropic(reply: &Reply, req: &Value, req_body: &[u8], seq: u64, model: &str, stream: bool, chunk: usize) -> Body {
    let forced = req
        .get("tool_choice")
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("tool"))
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    let mut blocks = Vec::new();
    let mut text = reply.text.clone().unwrap_or_default();
    if let Some(j) = &reply.json {
        match forced {
            Some(name) => blocks.push(Block::Tool {
                id: format!("toolu_fake_{seq}_s"),
                name: name.to_string(),
                input: j.clone(),
                raw: j.to_string(),
            }),
            None => text.push_str(&j.to_string()),
        }
    }
    if !text.is_empty() || (blocks.is_empty() && reply.tool_calls.is_empty()) {
        blocks.insert(0, Block::Text(text.clone()));
    }
    for (i, c) in reply.tool_calls.iter().enumerate() {
        let raw = c.raw_arguments.clone().unwrap_or_else(|| c.arguments.to_string());
        blocks.push(Block::Tool {
            id: c.id.clone().unwrap_or_else(|| format!("toolu_fake_{seq}_{i}")),
            name: c.name.clone(),
            input: c.arguments.clone(),
            raw,
        });
    }
    let has_tool = blocks.iter().any(|b| matches!(b, Block::Tool { .. }));
    let stop = reply.stop_reason.clone().unwrap_or_else(|| {
        if reply.refusal.is_some() {
            "refusal".into()
        } else if has_tool {
            "tool_use".into()
        } else {
            "end_turn".into()
        }
    });
    let out_text: String = blocks
        .iter()
        .map(|b| match b {
            Block::Text(t) => t.clone(),
            Block::Tool { raw, .. } => raw.clone(),
        })
        .collect();
    let u = usage_or_default(reply, req_body, &out_text);
    let usage = json!({
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.output_tokens,
    });
    let stop_details = reply
        .refusal
        .as_ref()
        .map(|r| json!({"type": "refusal", "category": null, "explanation": r}))
        .unwrap_or(Value::Null);
    let id = format!("msg_fake_{seq}");
    if !stream {
        let content: Vec<Value> = blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) => json!({"type": "text", "text": t}),
                Block::Tool { id, name, input, raw } => {
                    // Broken raw arguments cannot be an object in a JSON body: send the string.
                    let input = if serde_json::from_str::<Value>(raw).is_ok() { input.clone() } else { json!(raw) };
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        let mut msg = json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": null, "usage": usage,
        });
        if !stop_details.is_null() {
            msg["stop_details"] = stop_details;
        }
        return Body::Json(msg.to_string().into_bytes());
    }
    let mut events = Vec::new();
    let start_usage = json!({
        "input_tokens": u.input_tokens, "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read, "output_tokens": 1,
    });
    events.push(event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    ));
    events.push(event("ping", &json!({"type": "ping"})));
    for (index, b) in blocks.iter().enumerate() {
        match b {
            Block::Text(t) => {
                events.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                ));
                for piece in chunks(t, chunk) {
                    events.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
                    ));
                }
            }
            Block::Tool { id, name, raw, .. } => {
                events.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                ));
                events.push(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}),
                ));
                for piece in chunks(raw, chunk) {
                    events.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    ));
                }
            }
        }
        events.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
    }
    let mut delta = json!({"stop_reason": stop, "stop_sequence": null});
    if !stop_details.is_null() {
        delta["stop_details"] = stop_details;
    }
    events.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": delta, "usage": {"output_tokens": u.output_tokens}}),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    Body::Events(events)
}

fn openai(reply: &Reply, req: &Value, req_body: &[u8], seq: u64, model: &str, stream: bool, chunk: usize) -> Body {
    let mut text = reply.text.clone().unwrap_or_default();
    if let Some(j) = &reply.json {
        text.push_str(&j.to_string());
    }
    let calls: Vec<(String, String, String)> = reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let raw = c.raw_arguments.clone().unwrap_or_else(|| c.arguments.to_string());
            (c.id.clone().unwrap_or_else(|| format!("call_fake_{seq}_{i}")), c.name.clone(), raw)
        })
        .collect();
    let finish =
        reply.stop_reason.clone().unwrap_or_else(|| if calls.is_empty() { "stop".into() } else { "tool_calls".into() });
    let out_text: String = text.clone() + &calls.iter().map(|c| c.2.clone()).collect::<String>();
    let u = usage_or_default(reply, req_body, &out_text);
    let prompt = u.input_tokens + u.cache_read;
    let usage = json!({
        "prompt_tokens": prompt, "completion_tokens": u.output_tokens, "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read}, "completion_tokens_details": {"reasoning_tokens": 0},
    });
    let id = format!("chatcmpl-fake-{seq}");
    if !stream {
        let mut message = json!({
            "role": "assistant",
            "content": if text.is_empty() && (reply.refusal.is_some() || !calls.is_empty()) { Value::Null } else { json!(text) },
            "refusal": reply.refusal,
        });
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(
                calls
                    .iter()
                    .map(|(id, name, raw)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": raw}}))
                    .collect(),
            );
        }
        let body = json!({
            "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage, "system_fingerprint": "fp_fake",
        });
        return Body::Json(body.to_string().into_bytes());
    }
    let chunk_of = |delta: Value, finish: Value| {
        let c = json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    };
    let mut events = vec![chunk_of(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null)];
    for piece in chunks(&text, chunk) {
        events.push(chunk_of(json!({"content": piece}), Value::Null));
    }
    if let Some(r) = &reply.refusal {
        for piece in chunks(r, chunk) {
            events.push(chunk_of(json!({"refusal": piece}), Value::Null));
        }
    }
    for (index, (cid, name, raw)) in calls.iter().enumerate() {
        events.push(chunk_of(
            json!({"tool_calls": [{"index": index, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in chunks(raw, chunk) {
            events.push(chunk_of(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    events.push(chunk_of(json!({}), json!(finish)));
    let include_usage = req.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    if include_usage {
        let c = json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_fake", "choices": [], "usage": usage,
        });
        events.push(format!("data: {c}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_string());
    Body::Events(events)
}
