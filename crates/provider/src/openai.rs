//! OpenAI Chat Completions: `POST {base}/chat/completions`, where `base`
//! ends in `/v1` (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`
//! for Ollama, llama-server's, vLLM's and LM Studio's `/v1`; Azure's
//! `https://RESOURCE.openai.azure.com/openai/v1`). JSON, or an SSE stream of
//! `chat.completion.chunk`s ending in `data: [DONE]`, with
//! `stream_options.include_usage` so the last chunk carries the usage.
//!
//! Sent conservatively: `Authorization: Bearer` only when there is a key
//! (`api-key` for `*.azure.com` hosts); `max_completion_tokens` to
//! `*.openai.com` / `*.azure.com` (which deprecate `max_tokens`),
//! `max_tokens` elsewhere; `tool_choice` only when it is not `auto`;
//! `strict: true` only for a schema that strict mode accepts. Parsed
//! tolerantly: only choice 0 is read; content as a string or a list of text
//! parts; tool-call arguments as a string (or an object, as some servers
//! send); `reasoning_content` as thinking; tool calls with `finish_reason:
//! stop` (Ollama) still count as a tool-use stop.

use crate::schema::strict_compatible;
use crate::sse::SseReader;
use crate::structured::schema_instruction;
use crate::wire::{
    check_name, cut_short, error_message, parse_arguments, read_error, status_error, stop_reason_from_openai,
    ParseOptions,
};
use crate::{
    ChatRequest, ChatResponse, Delta, Part, PartialToolCall, ProviderError, Role, StopReason, ToolCall, ToolChoice,
    Usage,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

/// Which token-limit field a server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    /// `max_tokens` (local servers, older APIs).
    MaxTokens,
    /// `max_completion_tokens` (OpenAI and Azure today).
    MaxCompletionTokens,
}

impl TokenField {
    /// `max_completion_tokens` for OpenAI's and Azure's hosts, else `max_tokens`.
    pub fn for_base_url(base_url: &str) -> Self {
        let host = host_of(base_url);
        if host == "api.openai.com" || host.ends_with(".openai.com") || host.ends_with(".azure.com") {
            TokenField::MaxCompletionTokens
        } else {
            TokenField::MaxTokens
        }
    }
}

/// The host of `url` (lower case, no port).
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map_or(host, |h| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.to_ascii_lowercase()
}

/// The body of a request.
pub fn request_body(
    req: &ChatRequest,
    model: &str,
    max_tokens: u32,
    token_field: TokenField,
    native_schema: bool,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));

    let mut system = req.system.clone();
    let mut response_format = None;
    if let Some(schema) = &req.response_schema {
        check_name("schema", &schema.name)?;
        if native_schema {
            response_format = Some(json!({
                "type": "json_schema",
                "json_schema": {"name": schema.name, "schema": schema.schema, "strict": strict_compatible(&schema.schema)},
            }));
        } else {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&schema_instruction(schema));
        }
    }
    body.insert("messages".into(), Value::Array(messages(req, &system)?));
    let limit = req.max_tokens.unwrap_or(max_tokens);
    match token_field {
        TokenField::MaxTokens => body.insert("max_tokens".into(), json!(limit)),
        TokenField::MaxCompletionTokens => body.insert("max_completion_tokens".into(), json!(limit)),
    };
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let mut tools = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            check_name("tool", &t.name)?;
            let mut f = Map::new();
            f.insert("name".into(), json!(t.name));
            if !t.description.is_empty() {
                f.insert("description".into(), json!(t.description));
            }
            f.insert("parameters".into(), t.input_schema.clone());
            tools.push(json!({"type": "function", "function": Value::Object(f)}));
        }
        body.insert("tools".into(), Value::Array(tools));
        match &req.tool_choice {
            ToolChoice::Auto => {}
            ToolChoice::Any => {
                body.insert("tool_choice".into(), json!("required"));
            }
            ToolChoice::None => {
                body.insert("tool_choice".into(), json!("none"));
            }
            ToolChoice::Tool(name) => {
                body.insert("tool_choice".into(), json!({"type": "function", "function": {"name": name}}));
            }
        }
    }
    if let Some(rf) = response_format {
        body.insert("response_format".into(), rf);
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    serde_json::to_vec(&Value::Object(body)).map_err(|e| ProviderError::config(e.to_string()))
}

fn messages(req: &ChatRequest, system: &str) -> Result<Vec<Value>, ProviderError> {
    if req.messages.is_empty() {
        return Err(ProviderError::config("a request needs at least one message"));
    }
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system}));
    }
    for (i, m) in req.messages.iter().enumerate() {
        let mut text = String::new();
        let mut calls = Vec::new();
        let before = out.len();
        for part in &m.content {
            match part {
                Part::Text { text: t } => text.push_str(t),
                Part::ToolUse { id, name, input } => calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                })),
                Part::ToolResult { tool_use_id, content, is_error } => {
                    // Chat Completions has no error flag: say it in the content.
                    let content = if *is_error { format!("[tool error] {content}") } else { content.clone() };
                    out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": content}));
                }
            }
        }
        match m.role {
            Role::User => {
                if !text.is_empty() {
                    out.push(json!({"role": "user", "content": text}));
                }
            }
            Role::Assistant => {
                if !calls.is_empty() {
                    let mut msg = Map::new();
                    msg.insert("role".into(), json!("assistant"));
                    if !text.is_empty() {
                        msg.insert("content".into(), json!(text));
                    }
                    msg.insert("tool_calls".into(), Value::Array(calls));
                    out.push(Value::Object(msg));
                } else if !text.is_empty() {
                    out.push(json!({"role": "assistant", "content": text}));
                }
            }
        }
        if out.len() == before {
            return Err(ProviderError::config(format!("message {i} has no content")));
        }
    }
    Ok(out)
}

/// The error for a non-2xx answer.
pub fn error_from(status: u16, retry_after: Option<Duration>, body: &[u8], opts: &ParseOptions) -> ProviderError {
    status_error(status, retry_after, error_message(body), opts)
}

/// Whether a 400/422 message says the server does not take `response_format`
/// (so the client falls back to prompt-and-check), as opposed to a schema it
/// rejects (which is the caller's to fix).
pub fn says_response_format_unsupported(status: u16, message: &str) -> bool {
    if !matches!(status, 400 | 422 | 501) {
        return false;
    }
    let m = message.to_ascii_lowercase();
    let about = m.contains("response_format") || m.contains("response format") || m.contains("json_schema");
    let unsupported = [
        "not support",
        "unsupported",
        "unknown",
        "unrecognized",
        "not allowed",
        "not permitted",
        "extra inputs",
        "not implemented",
        "must be one of",
        "not available",
    ]
    .iter()
    .any(|w| m.contains(w));
    about && unsupported && !m.contains("invalid schema")
}

fn usage_from(u: &Value) -> Usage {
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = get(u, "prompt_tokens");
    let cached = u.get("prompt_tokens_details").map_or(0, |d| get(d, "cached_tokens")).min(prompt);
    Usage {
        input_tokens: prompt - cached,
        output_tokens: get(u, "completion_tokens"),
        cache_read: cached,
        cache_write: 0,
    }
}

fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().concat()
        }
        _ => String::new(),
    }
}

fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// One tool call being assembled.
#[derive(Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

fn finish(
    id: String,
    model: String,
    text: String,
    refusal: Option<String>,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    usage: Usage,
) -> Result<ChatResponse, ProviderError> {
    let mut stop_reason = finish_reason.as_deref().map(stop_reason_from_openai).unwrap_or_default();
    let cut_off = stop_reason == StopReason::MaxTokens;
    let mut tool_calls = Vec::new();
    let mut incomplete = Vec::new();
    for c in calls {
        match parse_arguments(&c.arguments) {
            Ok(input) if input.is_object() => tool_calls.push(ToolCall { id: c.id, name: c.name, input }),
            Ok(other) => {
                return Err(ProviderError::malformed(format!(
                    "arguments of tool call {} ({}) are not JSON: an object was expected, got {}",
                    c.name,
                    c.id,
                    crate::wire::shorten(&other.to_string(), 80)
                )))
            }
            Err(_) if cut_off => {
                incomplete.push(PartialToolCall { id: c.id, name: c.name, partial_input: c.arguments })
            }
            Err(e) => {
                return Err(ProviderError::malformed(format!(
                    "arguments of tool call {} ({}) are not JSON: {e}",
                    c.name, c.id
                )))
            }
        }
    }
    if stop_reason == StopReason::EndTurn && !tool_calls.is_empty() {
        stop_reason = StopReason::ToolUse;
    }
    let refusal = refusal.filter(|r| !r.is_empty());
    if refusal.is_some() {
        stop_reason = StopReason::Refusal;
    }
    Ok(ChatResponse {
        text,
        tool_calls,
        incomplete_tool_calls: incomplete,
        refusal,
        stop_reason,
        stop_sequence: None,
        usage,
        model,
        id,
        request_id: None,
        attempts: 1,
    })
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// An `{"error": ...}` object where an answer was expected.
fn embedded_error(v: &Value, opts: &ParseOptions) -> Option<ProviderError> {
    let e = v.get("error").filter(|e| !e.is_null())?;
    let status = e.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).filter(|c| *c >= 400);
    let message = error_message(v.to_string().as_bytes());
    Some(status_error(status.unwrap_or(500), None, message, opts))
}

/// Parses a JSON (non-streamed) answer.
pub fn parse_response(body: &[u8], opts: &ParseOptions) -> Result<ChatResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::malformed(format!(
            "answer is not JSON: {e}: {}",
            crate::wire::shorten(&String::from_utf8_lossy(body), 200)
        ))
    })?;
    if v.get("choices").is_none() {
        if let Some(e) = embedded_error(&v, opts) {
            return Err(e);
        }
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0).or(c.first()))
        .ok_or_else(|| ProviderError::malformed("answer has no choices (not a Chat Completions answer?)"))?;
    let msg = choice.get("message").cloned().unwrap_or(Value::Null);
    let mut calls = Vec::new();
    for c in msg.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
        let f = c.get("function").cloned().unwrap_or(Value::Null);
        calls.push(Call {
            id: str_field(c, "id"),
            name: str_field(&f, "name"),
            arguments: arguments_text(f.get("arguments")),
        });
    }
    finish(
        str_field(&v, "id"),
        str_field(&v, "model"),
        content_text(msg.get("content")),
        msg.get("refusal").and_then(Value::as_str).map(str::to_string),
        calls,
        choice.get("finish_reason").and_then(Value::as_str).map(str::to_string),
        v.get("usage").map(usage_from).unwrap_or_default(),
    )
}

/// Parses an SSE answer, calling `on_delta` as pieces arrive.
pub fn parse_stream<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    on_delta: &mut dyn FnMut(&Delta),
) -> Result<ChatResponse, ProviderError> {
    let mut sse = SseReader::new(reader);
    let (mut id, mut model, mut text) = (String::new(), String::new(), String::new());
    let mut refusal: Option<String> = None;
    let mut finish_reason: Option<String> = None;
    let mut usage = Usage::default();
    // Wire index → call; positions in order of first appearance.
    let mut calls: BTreeMap<u64, (usize, Call)> = BTreeMap::new();
    let mut done = false;
    while let Some(ev) = sse.next_event().map_err(|e| read_error(e, opts))? {
        let data = ev.data.trim();
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::malformed(format!("stream chunk is not JSON: {e}")))?;
        if let Some(e) = embedded_error(&chunk, opts) {
            return Err(e);
        }
        if id.is_empty() {
            id = str_field(&chunk, "id");
        }
        if model.is_empty() {
            model = str_field(&chunk, "model");
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            usage = usage_from(u);
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else { continue };
        for choice in choices {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                finish_reason = Some(r.to_string());
            }
            let Some(delta) = choice.get("delta") else { continue };
            if let Some(t) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                text.push_str(t);
                on_delta(&Delta::Text(t.to_string()));
            }
            if let Some(r) = delta.get("refusal").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                refusal.get_or_insert_with(String::new).push_str(r);
                on_delta(&Delta::Refusal(r.to_string()));
            }
            if let Some(r) = delta.get("reasoning_content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                on_delta(&Delta::Thinking(r.to_string()));
            }
            for (i, tc) in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let key = tc.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
                let next = calls.len();
                let (position, call) = calls.entry(key).or_insert_with(|| (next, Call::default()));
                let f = tc.get("function").cloned().unwrap_or(Value::Null);
                let new_id = str_field(tc, "id");
                let new_name = str_field(&f, "name");
                if call.id.is_empty() && !new_id.is_empty() {
                    call.id = new_id;
                }
                if call.name.is_empty() && !new_name.is_empty() {
                    call.name = new_name;
                    on_delta(&Delta::ToolCallStart { index: *position, id: call.id.clone(), name: call.name.clone() });
                }
                let args = arguments_text(f.get("arguments"));
                if !args.is_empty() {
                    call.arguments.push_str(&args);
                    on_delta(&Delta::ToolArguments { index: *position, json: args });
                }
            }
        }
    }
    if !done && finish_reason.is_none() {
        return Err(cut_short(opts, "data: [DONE]"));
    }
    let mut ordered: Vec<(usize, Call)> = calls.into_values().collect();
    ordered.sort_by_key(|(p, _)| *p);
    finish(id, model, text, refusal, ordered.into_iter().map(|(_, c)| c).collect(), finish_reason, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_token_field_by_host() {
        assert_eq!(TokenField::for_base_url("https://api.openai.com/v1"), TokenField::MaxCompletionTokens);
        assert_eq!(TokenField::for_base_url("https://r.openai.azure.com/openai/v1"), TokenField::MaxCompletionTokens);
        assert_eq!(TokenField::for_base_url("http://127.0.0.1:11434/v1"), TokenField::MaxTokens);
        assert_eq!(TokenField::for_base_url("http://user@openai.com.evil:80/v1"), TokenField::MaxTokens);
        assert_eq!(host_of("http://[::1]:8080/v1"), "::1");
    }

    #[test]
    fn recognizes_unsupported_response_format_but_not_a_bad_schema() {
        assert!(says_response_format_unsupported(
            400,
            "response_format type json_schema is not supported by this model"
        ));
        assert!(says_response_format_unsupported(422, "Extra inputs are not permitted: body.response_format"));
        assert!(!says_response_format_unsupported(
            400,
            "Invalid schema for response_format 'x': 'additionalProperties' is required to be supplied and to be false"
        ));
        assert!(!says_response_format_unsupported(401, "response_format unsupported"));
        assert!(!says_response_format_unsupported(400, "messages: unknown role"));
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    fn sse(chunks: &[Value]) -> String {
        let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        s.push_str("data: [DONE]\n\n");
        s
    }

    #[test]
    fn ollama_style_whole_tool_calls_without_index_and_a_stop_finish() {
        let s = sse(&[
            json!({"id": "c1", "model": "qwen2.5:7b", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "",
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "search", "arguments": {"q": "x"}}},
                               {"id": "call_b", "type": "function", "function": {"name": "read", "arguments": "{\"id\":\"1\"}"}}]}}]}),
            json!({"id": "c1", "model": "qwen2.5:7b", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 20, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 8}}}),
        ]);
        let r = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |_| {}).unwrap();
        let names: Vec<&str> = r.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["search", "read"]);
        assert_eq!(r.tool_calls[0].input, json!({"q": "x"}), "arguments sent as an object");
        assert_eq!(r.stop_reason, StopReason::ToolUse, "tool calls with finish_reason stop");
        assert_eq!(r.usage, Usage { input_tokens: 12, output_tokens: 10, cache_read: 8, cache_write: 0 });
    }

    #[test]
    fn content_parts_reasoning_and_errors_in_a_stream() {
        let body = json!({"id": "x", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "finish_reason": "stop"}]});
        assert_eq!(parse_response(body.to_string().as_bytes(), &ParseOptions::default()).unwrap().text, "ab");

        let s = sse(&[
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}),
        ]);
        let mut deltas = Vec::new();
        let r = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |d| deltas.push(d.clone())).unwrap();
        assert_eq!(r.text, "ok");
        assert_eq!(deltas, [Delta::Thinking("hmm".into()), Delta::Text("ok".into())]);

        let s =
            "data: {\"error\": {\"code\": 503, \"message\": \"Loading model\", \"type\": \"unavailable_error\"}}\n\n";
        let e = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |_| {}).unwrap_err();
        assert_eq!(e, ProviderError::Server { status: 503, message: "Loading model (unavailable_error)".into() });
    }

    #[test]
    fn a_stream_without_done_or_finish_is_cut_short() {
        let s = "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"par\"}}]}\n\n";
        let e = parse_stream(s.as_bytes(), &ParseOptions::default(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
    }

    #[test]
    fn non_strict_schemas_are_sent_with_strict_false() {
        let mut req = ChatRequest::new("", "hi");
        req.response_schema = Some(crate::JsonSchema {
            name: "a".into(),
            schema: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
        });
        let body = request_body(&req, "m", 10, TokenField::MaxCompletionTokens, true, false).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["response_format"]["json_schema"]["strict"], false);
        assert_eq!(v["max_completion_tokens"], 10);
        assert!(v.get("max_tokens").is_none());
    }
}
