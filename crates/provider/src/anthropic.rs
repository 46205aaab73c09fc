//! The Anthropic Messages API: `POST {base}/v1/messages` with `x-api-key`
//! and `anthropic-version: 2023-06-01`, as JSON or as an SSE stream
//! (`message_start`, `content_block_start` / `_delta` / `_stop`,
//! `message_delta`, `message_stop`, `ping`, `error`).
//!
//! Sending is conservative (only fields that are set; empty text parts left
//! out; tool results first in their message); parsing is tolerant (unknown
//! block, delta and event types are skipped; padding after the JSON of a
//! `data:` line is fine). A structured answer is asked for with a forced
//! tool whose input schema is the answer's schema (wrapped as
//! `{"answer": ...}` when the schema's root is not an object, which tool
//! inputs must be); its input comes back as the response's text.

use crate::sse::SseReader;
use crate::structured::schema_instruction;
use crate::wire::{
    anthropic_error_status, check_name, cut_short, error_message, parse_arguments, read_error, status_error,
    stop_reason_from_anthropic, ParseOptions, StructuredTool,
};
use crate::{
    ChatRequest, ChatResponse, Delta, Part, PartialToolCall, ProviderError, Role, StopReason, ToolCall, ToolChoice,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

/// The API version header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The body of a request, and how its structured answer (if any) comes back.
pub fn request_body(
    req: &ChatRequest,
    model: &str,
    max_tokens: u32,
    native_schema: bool,
    stream: bool,
) -> Result<(Vec<u8>, Option<StructuredTool>), ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(req.max_tokens.unwrap_or(max_tokens)));

    let mut system = req.system.clone();
    let mut tools: Vec<Value> = Vec::new();
    for t in &req.tools {
        check_name("tool", &t.name)?;
        let mut tool = Map::new();
        tool.insert("name".into(), json!(t.name));
        if !t.description.is_empty() {
            tool.insert("description".into(), json!(t.description));
        }
        tool.insert("input_schema".into(), t.input_schema.clone());
        tools.push(Value::Object(tool));
    }
    let mut tool_choice = match &req.tool_choice {
        _ if req.tools.is_empty() => None,
        ToolChoice::Auto => None,
        ToolChoice::Any => Some(json!({"type": "any"})),
        ToolChoice::None => Some(json!({"type": "none"})),
        ToolChoice::Tool(name) => Some(json!({"type": "tool", "name": name})),
    };
    let mut structured = None;
    if let Some(schema) = &req.response_schema {
        check_name("schema", &schema.name)?;
        if native_schema {
            let is_object = schema.schema.get("type").and_then(Value::as_str) == Some("object");
            let input_schema = if is_object {
                schema.schema.clone()
            } else {
                json!({"type": "object", "properties": {"answer": schema.schema}, "required": ["answer"], "additionalProperties": false})
            };
            tools.push(json!({
                "name": schema.name,
                "description": "Give your answer by calling this tool: its input is the answer.",
                "input_schema": input_schema,
            }));
            tool_choice = Some(if req.tools.is_empty() {
                json!({"type": "tool", "name": schema.name})
            } else {
                json!({"type": "any"})
            });
            structured = Some(StructuredTool { name: schema.name.clone(), wrapped: !is_object });
        } else {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&schema_instruction(schema));
        }
    }
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages(req)?));
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = tool_choice {
        body.insert("tool_choice".into(), tc);
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    let bytes = serde_json::to_vec(&Value::Object(body)).map_err(|e| ProviderError::config(e.to_string()))?;
    Ok((bytes, structured))
}

fn messages(req: &ChatRequest) -> Result<Vec<Value>, ProviderError> {
    if req.messages.is_empty() {
        return Err(ProviderError::config("a request needs at least one message"));
    }
    let mut out = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let mut results = Vec::new();
        let mut rest = Vec::new();
        for part in &m.content {
            match part {
                Part::Text { text } if text.is_empty() => {}
                Part::Text { text } => rest.push(json!({"type": "text", "text": text})),
                Part::ToolUse { id, name, input } => {
                    rest.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
                }
                Part::ToolResult { tool_use_id, content, is_error } => {
                    let mut r = json!({"type": "tool_result", "tool_use_id": tool_use_id, "content": content});
                    if *is_error {
                        r["is_error"] = json!(true);
                    }
                    results.push(r);
                }
            }
        }
        results.extend(rest);
        if results.is_empty() {
            return Err(ProviderError::config(format!("message {i} has no content")));
        }
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        out.push(json!({"role": role, "content": results}));
    }
    Ok(out)
}

/// The error for a non-2xx answer.
pub fn error_from(status: u16, retry_after: Option<Duration>, body: &[u8], opts: &ParseOptions) -> ProviderError {
    status_error(status, retry_after, error_message(body), opts)
}

/// A content block being assembled.
enum Block {
    Text(String),
    Tool { id: String, name: String, start_input: Value, json: String, stopped: bool },
    Thinking,
    Other,
}

/// Assembles an answer from blocks (from the JSON body or the stream).
#[derive(Default)]
struct Assembler {
    id: String,
    model: String,
    usage: crate::Usage,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    refusal: Option<String>,
    blocks: BTreeMap<u64, Block>,
    /// Wire block index → position among the client's tool calls.
    tool_positions: BTreeMap<u64, usize>,
}

impl Assembler {
    fn message_fields(&mut self, m: &Value) {
        if let Some(id) = m.get("id").and_then(Value::as_str) {
            self.id = id.to_string();
        }
        if let Some(model) = m.get("model").and_then(Value::as_str) {
            self.model = model.to_string();
        }
        if let Some(u) = m.get("usage") {
            self.usage_fields(u);
        }
        self.stop_fields(m);
    }

    /// Usage fields present in `u` replace earlier ones (`message_delta`
    /// carries cumulative counts).
    fn usage_fields(&mut self, u: &Value) {
        let get = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(n) = get("input_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = get("output_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(n) = get("cache_read_input_tokens") {
            self.usage.cache_read = n;
        }
        if let Some(n) = get("cache_creation_input_tokens") {
            self.usage.cache_write = n;
        }
    }

    fn stop_fields(&mut self, m: &Value) {
        if let Some(s) = m.get("stop_reason").and_then(Value::as_str) {
            self.stop_reason = Some(s.to_string());
        }
        if let Some(s) = m.get("stop_sequence").and_then(Value::as_str) {
            self.stop_sequence = Some(s.to_string());
        }
        if let Some(e) = m.get("stop_details").and_then(|d| d.get("explanation")).and_then(Value::as_str) {
            self.refusal = Some(e.to_string());
        }
    }

    fn is_structured(&self, opts: &ParseOptions, name: &str) -> bool {
        opts.structured.as_ref().is_some_and(|s| s.name == name)
    }

    /// Starts block `index`; returns the delta announcing a tool call, if any.
    fn start(&mut self, index: u64, block: &Value, opts: &ParseOptions) -> Option<Delta> {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (b, delta) = match kind {
            "text" => (Block::Text(text("text")), None),
            "tool_use" => {
                let (id, name) = (text("id"), text("name"));
                let delta = if self.is_structured(opts, &name) {
                    None
                } else {
                    let position = self.tool_positions.len();
                    self.tool_positions.insert(index, position);
                    Some(Delta::ToolCallStart { index: position, id: id.clone(), name: name.clone() })
                };
                let start_input = block.get("input").cloned().unwrap_or(Value::Null);
                (Block::Tool { id, name, start_input, json: String::new(), stopped: false }, delta)
            }
            "thinking" | "redacted_thinking" => (Block::Thinking, None),
            _ => (Block::Other, None),
        };
        self.blocks.insert(index, b);
        delta
    }

    /// Applies a `content_block_delta`; returns what the caller should see.
    fn delta(&mut self, index: u64, delta: &Value, opts: &ParseOptions) -> Option<Delta> {
        let kind = delta.get("type").and_then(Value::as_str).unwrap_or("");
        let structured = opts.structured.clone();
        let position = self.tool_positions.get(&index).copied();
        match (self.blocks.get_mut(&index), kind) {
            (Some(Block::Text(t)), "text_delta") => {
                let piece = delta.get("text").and_then(Value::as_str).unwrap_or("");
                t.push_str(piece);
                Some(Delta::Text(piece.to_string()))
            }
            (Some(Block::Tool { name, json, .. }), "input_json_delta") => {
                let piece = delta.get("partial_json").and_then(Value::as_str).unwrap_or("");
                json.push_str(piece);
                if piece.is_empty() {
                    return None;
                }
                match (position, structured) {
                    (Some(index), _) => Some(Delta::ToolArguments { index, json: piece.to_string() }),
                    (None, Some(s)) if s.name == *name && !s.wrapped => Some(Delta::Text(piece.to_string())),
                    _ => None,
                }
            }
            (Some(Block::Thinking), "thinking_delta") => {
                delta.get("thinking").and_then(Value::as_str).map(|t| Delta::Thinking(t.to_string()))
            }
            _ => None,
        }
    }

    fn stop(&mut self, index: u64) {
        if let Some(Block::Tool { stopped, .. }) = self.blocks.get_mut(&index) {
            *stopped = true;
        }
    }

    fn finish(self, opts: &ParseOptions) -> Result<ChatResponse, ProviderError> {
        let stop_reason = self.stop_reason.as_deref().map(stop_reason_from_anthropic).unwrap_or_default();
        let cut_off = stop_reason == StopReason::MaxTokens;
        let mut text = String::new();
        let mut structured_text: Option<String> = None;
        let mut tool_calls = Vec::new();
        let mut incomplete = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(t) => text.push_str(&t),
                Block::Tool { id, name, start_input, json, stopped } => {
                    let parsed = if json.is_empty() && !start_input.is_null() {
                        Ok(start_input)
                    } else {
                        parse_arguments(&json)
                    };
                    if let Some(s) = opts.structured.as_ref().filter(|s| s.name == name) {
                        structured_text = Some(match parsed {
                            Ok(v) => {
                                let v = if s.wrapped { v.get("answer").cloned().unwrap_or(v) } else { v };
                                v.to_string()
                            }
                            Err(_) => json,
                        });
                        continue;
                    }
                    match parsed {
                        Ok(input) if input.is_object() => tool_calls.push(ToolCall { id, name, input }),
                        Ok(other) => {
                            return Err(ProviderError::malformed(format!(
                                "arguments of tool call {name} ({id}) are not JSON: an object was expected, got {}",
                                crate::wire::shorten(&other.to_string(), 80)
                            )))
                        }
                        Err(_) if cut_off || !stopped => {
                            incomplete.push(PartialToolCall { id, name, partial_input: json })
                        }
                        Err(e) => {
                            return Err(ProviderError::malformed(format!(
                                "arguments of tool call {name} ({id}) are not JSON: {e}"
                            )))
                        }
                    }
                }
                Block::Thinking | Block::Other => {}
            }
        }
        let mut stop_reason = stop_reason;
        if let Some(s) = structured_text {
            text = s;
            if stop_reason == StopReason::ToolUse && tool_calls.is_empty() && incomplete.is_empty() {
                stop_reason = StopReason::EndTurn;
            }
        }
        Ok(ChatResponse {
            text,
            tool_calls,
            incomplete_tool_calls: incomplete,
            refusal: self.refusal,
            stop_reason,
            stop_sequence: self.stop_sequence,
            usage: self.usage,
            model: self.model,
            id: self.id,
            request_id: None,
            attempts: 1,
        })
    }
}

/// Parses a JSON (non-streamed) answer.
pub fn parse_response(body: &[u8], opts: &ParseOptions) -> Result<ChatResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::malformed(format!(
            "answer is not JSON: {e}: {}",
            crate::wire::shorten(&String::from_utf8_lossy(body), 200)
        ))
    })?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        let kind = v.get("error").and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("");
        return Err(status_error(anthropic_error_status(kind), None, error_message(body), opts));
    }
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::malformed("answer has no content array (not an Anthropic Messages answer?)"))?;
    let mut a = Assembler::default();
    a.message_fields(&v);
    for (i, block) in content.iter().enumerate() {
        let i = i as u64;
        a.start(i, block, opts);
        if let Some(Block::Tool { start_input, .. }) = a.blocks.get_mut(&i) {
            // The whole input is in the block; mark it complete.
            if start_input.is_null() {
                *start_input = json!({});
            }
        }
        a.stop(i);
    }
    a.finish(opts)
}

/// Parses an SSE answer, calling `on_delta` as pieces arrive.
pub fn parse_stream<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    on_delta: &mut dyn FnMut(&Delta),
) -> Result<ChatResponse, ProviderError> {
    let mut sse = SseReader::new(reader);
    let mut a = Assembler::default();
    let mut started = false;
    loop {
        let Some(ev) = sse.next_event().map_err(|e| read_error(e, opts))? else {
            if a.stop_reason.is_some() {
                // Tolerated: a stop reason arrived but not `message_stop`.
                return a.finish(opts);
            }
            return Err(cut_short(opts, if started { "message_stop" } else { "message_start" }));
        };
        if ev.data.trim().is_empty() {
            continue;
        }
        let data: Value = serde_json::from_str(&ev.data)
            .map_err(|e| ProviderError::malformed(format!("stream event {:?} is not JSON: {e}", ev.event)))?;
        let kind = data.get("type").and_then(Value::as_str).unwrap_or(ev.event.as_str()).to_string();
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        let delta = match kind.as_str() {
            "message_start" => {
                started = true;
                if let Some(m) = data.get("message") {
                    a.message_fields(m);
                }
                None
            }
            "content_block_start" => data.get("content_block").and_then(|b| a.start(index, b, opts)),
            "content_block_delta" => data.get("delta").and_then(|d| a.delta(index, d, opts)),
            "content_block_stop" => {
                a.stop(index);
                None
            }
            "message_delta" => {
                if let Some(d) = data.get("delta") {
                    a.stop_fields(d);
                }
                if let Some(u) = data.get("usage") {
                    a.usage_fields(u);
                }
                None
            }
            "message_stop" => return a.finish(opts),
            "error" => {
                let kind = data.get("error").and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("");
                return Err(status_error(anthropic_error_status(kind), None, error_message(ev.data.as_bytes()), opts));
            }
            _ => None, // ping and anything new
        };
        if let Some(d) = delta {
            on_delta(&d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JsonSchema, Message, ToolSpec};

    fn stream(events: &[(&str, Value)]) -> String {
        events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
    }

    fn start() -> (&'static str, Value) {
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "m1", "model": "c", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        )
    }

    #[test]
    fn thinking_signatures_and_unknown_events_are_tolerated() {
        let s = stream(&[
            start(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            ("brand_new_event", json!({"type": "brand_new_event", "x": 1})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {}}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "42"}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "pause_turn"}, "usage": {"output_tokens": 9, "cache_read_input_tokens": 100}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        let mut deltas = Vec::new();
        let r = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |d| deltas.push(d.clone())).unwrap();
        assert_eq!(r.text, "42");
        assert_eq!(deltas, [Delta::Thinking("Let me think".into()), Delta::Text("42".into())]);
        assert_eq!(r.stop_reason, StopReason::Other("pause_turn".into()));
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read), (5, 9, 100));
    }

    #[test]
    fn an_error_event_mid_stream_is_typed_by_its_error_type() {
        let s = stream(&[
            start(),
            ("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        ]);
        let e = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |_| {}).unwrap_err();
        assert_eq!(e, ProviderError::Server { status: 529, message: "Overloaded (overloaded_error)".into() });
        assert!(e.is_retryable());
    }

    #[test]
    fn a_stream_without_its_end_is_cut_short() {
        let s = stream(&[start()]);
        let opts = ParseOptions { endpoint: "http://x/v1/messages".into(), ..ParseOptions::default() };
        let e = parse_stream(s.as_bytes(), &opts, &mut |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "http://x/v1/messages: the stream ended before message_stop (connection dropped?)");
        let e = parse_stream(&b""[..], &opts, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("before message_start"));
    }

    #[test]
    fn structured_requests_force_the_schema_tool_beside_other_tools() {
        let mut req = ChatRequest::new("", "hi");
        req.response_schema = Some(JsonSchema { name: "answer".into(), schema: json!({"type": "object"}) });
        let (body, s) = request_body(&req, "m", 100, true, false).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["tool_choice"], json!({"type": "tool", "name": "answer"}));
        assert_eq!(s, Some(StructuredTool { name: "answer".into(), wrapped: false }));

        req.tools.push(ToolSpec {
            name: "search".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
        });
        let (body, _) = request_body(&req, "m", 100, true, false).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["tool_choice"], json!({"type": "any"}), "a tool or the answer");
        assert_eq!(
            v["tools"][0],
            json!({"name": "search", "input_schema": {"type": "object"}}),
            "no empty description sent"
        );
        assert_eq!(v["tools"][1]["name"], "answer");
    }

    #[test]
    fn tool_results_go_first_in_their_message() {
        let mut req = ChatRequest::new("", "hi");
        req.messages.push(Message {
            role: Role::User,
            content: vec![
                Part::Text { text: "and also".into() },
                Part::ToolResult { tool_use_id: "t1".into(), content: "ok".into(), is_error: false },
            ],
        });
        let (body, _) = request_body(&req, "m", 100, false, false).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["messages"][1]["content"][0]["type"], "tool_result");
        assert_eq!(v["messages"][1]["content"][1]["type"], "text");
    }
}
