//! Format detection from content.
//!
//! Rules, in order:
//!
//! 1. The first non-blank line is a JSON object with `"nocturne":"session"`
//!    → Nocturne JSONL.
//! 2. That line is an object with `messages` → a JSON document, classified
//!    below.
//! 3. That line is an object that looks like a Claude Code record (it has
//!    `sessionId`, `uuid`, `parentUuid` or `leafUuid`, or a string `type`
//!    together with `message`, or a known record type such as `summary`)
//!    → Claude Code.
//! 4. Otherwise the whole text must be one JSON object with `messages`
//!    (a pretty-printed document), classified below.
//!
//! A JSON document is **Anthropic** when any message has a content block of
//! an Anthropic-only type (`tool_use`, `tool_result`, `thinking`,
//! `redacted_thinking`, `image`, `document`, ...); else **OpenAI** when any
//! message has an OpenAI-only shape (role `tool`, `developer`, `function` or
//! `system` inside `messages`, `tool_calls`, `tool_call_id`, `function_call`,
//! `refusal`, `null` content, or `image_url` / `input_audio` / `file`
//! parts); else **Anthropic** when it has a top-level `system`; else — a plain
//! text chat both APIs accept — **OpenAI**. Both importers give the same
//! events for such a chat; only the session's `format` name differs.

use serde_json::Value;

use crate::json::Obj;
use crate::{Fail, Format};

/// Guesses the format of a transcript file from its content; `None` when it
/// is empty, not UTF-8, or of no known shape. Never returns `Format::Auto`.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    detect_text(text).ok()
}

/// Why detection failed.
#[derive(Debug)]
pub(crate) enum Undetected {
    /// Looks like JSON but does not parse: report the syntax error.
    Syntax(serde_json::Error),
    Unknown,
}

impl Undetected {
    pub(crate) fn into_fail(self) -> Fail {
        match self {
            Undetected::Syntax(e) => {
                Fail::at(crate::json::nth(e.line().saturating_sub(1)), crate::json::syntax_reason(&e))
            }
            Undetected::Unknown => Fail::doc(
                "unrecognized format: expected Claude Code or Nocturne JSONL, or a JSON \
                 object with \"messages\" (Anthropic or OpenAI)",
            ),
        }
    }
}

pub(crate) fn detect_text(text: &str) -> Result<Format, Undetected> {
    let Some(first) = text.split('\n').find(|l| !l.trim().is_empty()) else {
        return Err(Undetected::Unknown);
    };
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(first) {
        if o.get("nocturne").and_then(Value::as_str) == Some("session") {
            return Ok(Format::Nocturne);
        }
        if o.contains_key("messages") {
            return Ok(classify_document(&o));
        }
        if looks_like_claude_code(&o) {
            return Ok(Format::ClaudeCode);
        }
        return Err(Undetected::Unknown);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) if o.contains_key("messages") => Ok(classify_document(&o)),
        Ok(_) => Err(Undetected::Unknown),
        Err(e) => {
            if text.trim_start().starts_with(['{', '[']) {
                Err(Undetected::Syntax(e))
            } else {
                Err(Undetected::Unknown)
            }
        }
    }
}

const CLAUDE_CODE_TYPES: [&str; 7] =
    ["user", "assistant", "summary", "system", "file-history-snapshot", "queue-operation", "attachment"];

fn looks_like_claude_code(o: &Obj) -> bool {
    if ["sessionId", "uuid", "parentUuid", "leafUuid"].iter().any(|k| o.contains_key(*k)) {
        return true;
    }
    match o.get("type").and_then(Value::as_str) {
        Some(ty) => o.contains_key("message") || CLAUDE_CODE_TYPES.contains(&ty),
        None => false,
    }
}

const ANTHROPIC_BLOCKS: [&str; 10] = [
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "image",
    "document",
    "server_tool_use",
    "web_search_tool_result",
    "mcp_tool_use",
    "search_result",
];

const OPENAI_PARTS: [&str; 4] = ["image_url", "input_audio", "file", "refusal"];

const OPENAI_ROLES: [&str; 4] = ["tool", "developer", "function", "system"];

const OPENAI_KEYS: [&str; 5] = ["tool_calls", "tool_call_id", "function_call", "refusal", "audio"];

/// Anthropic or OpenAI, for an object holding `messages` (see module docs).
fn classify_document(doc: &Obj) -> Format {
    let messages: &[Value] = match doc.get("messages") {
        Some(Value::Array(m)) => m,
        _ => &[],
    };
    let mut openai = false;
    for m in messages.iter().filter_map(Value::as_object) {
        if let Some(Value::Array(blocks)) = m.get("content") {
            let types = blocks.iter().filter_map(|b| b.get("type").and_then(Value::as_str));
            for ty in types {
                if ANTHROPIC_BLOCKS.contains(&ty) {
                    return Format::Anthropic;
                }
                if OPENAI_PARTS.contains(&ty) {
                    openai = true;
                }
            }
        }
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if OPENAI_ROLES.contains(&role)
            || OPENAI_KEYS.iter().any(|k| m.contains_key(*k))
            || m.get("content").is_some_and(Value::is_null)
        {
            openai = true;
        }
    }
    if openai {
        Format::OpenAi
    } else if doc.contains_key("system") {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Format> {
        detect(s.as_bytes())
    }

    #[test]
    fn nocturne_header_wins() {
        assert_eq!(
            d("\n{\"nocturne\":\"session\",\"version\":1}\n{\"kind\":\"user_message\"}"),
            Some(Format::Nocturne)
        );
    }

    #[test]
    fn claude_code_lines() {
        assert_eq!(d(r#"{"type":"summary","summary":"x","leafUuid":"u1"}"#), Some(Format::ClaudeCode));
        assert_eq!(
            d(r#"{"type":"user","sessionId":"s","message":{"role":"user","content":"hi"}}"#),
            Some(Format::ClaudeCode)
        );
        assert_eq!(d(r#"{"type":"file-history-snapshot","messageId":"m"}"#), Some(Format::ClaudeCode));
    }

    #[test]
    fn anthropic_documents() {
        let tool_use =
            r#"{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"bash","input":{}}]}]}"#;
        assert_eq!(d(tool_use), Some(Format::Anthropic));
        let system = "{\n \"system\": \"be brief\",\n \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}]\n}";
        assert_eq!(d(system), Some(Format::Anthropic));
    }

    #[test]
    fn openai_documents() {
        let tool = r#"{"messages":[{"role":"tool","tool_call_id":"c","content":"ok"}]}"#;
        assert_eq!(d(tool), Some(Format::OpenAi));
        let dev = "{\"messages\":[\n{\"role\":\"developer\",\"content\":\"x\"}\n]}";
        assert_eq!(d(dev), Some(Format::OpenAi));
        let null = r#"{"messages":[{"role":"assistant","content":null}]}"#;
        assert_eq!(d(null), Some(Format::OpenAi));
        let image = r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        assert_eq!(d(image), Some(Format::OpenAi));
    }

    #[test]
    fn plain_chats_are_openai() {
        let plain = r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#;
        assert_eq!(d(plain), Some(Format::OpenAi));
        let parts = r#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
        assert_eq!(d(parts), Some(Format::OpenAi));
    }

    #[test]
    fn unknown_shapes_are_not_detected() {
        assert_eq!(d(""), None);
        assert_eq!(d("hello world"), None);
        assert_eq!(d("[1,2,3]"), None);
        assert_eq!(d(r#"{"foo":1}"#), None);
        assert_eq!(d("{\"messages\": ["), None);
        assert_eq!(detect(b"\xff\xfe"), None);
    }

    #[test]
    fn broken_json_documents_report_the_syntax_error() {
        match detect_text("{\n\"messages\": [\n") {
            Err(Undetected::Syntax(e)) => assert_eq!(e.line(), 3),
            other => panic!("{other:?}"),
        }
    }
}
