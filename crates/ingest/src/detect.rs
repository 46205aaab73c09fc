//! Format detection from content.
//!
//! Rules, in order:
//!
//! 1. Text that is not JSON and has a line `# aider chat started at ...` in
//!    its first 64 KiB → Aider.
//! 2. When the first non-blank line is a JSON object and more lines follow
//!    (JSONL), that first record decides: `"nocturne":"session"` →
//!    Nocturne; `messages_display` → τ-bench display; `{type:
//!    session_meta|response_item|event_msg|turn_context|compacted, payload}`
//!    or an old rollout header `{id, instructions}` → Codex; `messages` → a
//!    JSONL of Anthropic / OpenAI documents (classified below); a Claude
//!    Code record (`sessionId`, `uuid`, `parentUuid`, `leafUuid`, a `type`
//!    with `message`, or a known record type) → Claude Code.
//! 3. Otherwise the whole text must be one JSON value: Nocturne header →
//!    Nocturne; `simulations`, a simulation or an array of τ-bench results →
//!    τ-bench; `messages` with `sessionId`/`projectHash` or typed
//!    (`type`, no `role`) messages → Gemini; `trajectory`/`history` with
//!    `info`/`environment` → SWE-agent; `messages` → classified below; one
//!    line that is a JSONL record of rule 2 → its format.
//!
//! A JSON document with `messages` is **Anthropic** when any message has a
//! content block of an Anthropic-only type (`tool_use`, `tool_result`,
//! `thinking`, `redacted_thinking`, `image`, `document`, ...); else
//! **OpenAI** when any message has an OpenAI-only shape (role `tool`,
//! `developer`, `function` or `system` inside `messages`, `tool_calls`,
//! `tool_call_id`, `function_call`, `refusal`, `null` content, or
//! `image_url` / `input_audio` / `file` parts); else **Anthropic** when it
//! has a top-level `system`; else — a plain text chat both APIs accept —
//! **OpenAI**.
//!
//! Anything else is refused with what was found: the keys of the first
//! record, and what known non-transcript files (a Claude Code sub-agent
//! `.meta.json`, SWE-bench predictions, Gemini's prompt log) are.

use serde_json::Value;

use crate::json::{describe, Obj};
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
    /// Not a transcript; says what was found.
    Unknown(String),
}

impl Undetected {
    pub(crate) fn into_fail(self) -> Fail {
        match self {
            Undetected::Syntax(e) => {
                Fail::at(crate::json::nth(e.line().saturating_sub(1)), crate::json::syntax_reason(&e))
            }
            Undetected::Unknown(found) => Fail::doc(format!("{}{found}", crate::NOT_A_TRANSCRIPT)),
        }
    }
}

/// The keys of an object, for error messages (at most 8, in file order).
fn keys(o: &Obj) -> String {
    if o.is_empty() {
        return "no keys".to_string();
    }
    let mut names: Vec<String> = o.keys().take(8).map(|k| format!("\"{k}\"")).collect();
    if o.len() > 8 {
        names.push(format!("… ({} keys)", o.len()));
    }
    format!("keys {}", names.join(", "))
}

/// What a known non-transcript object is, if it is one.
fn known_non_transcript(o: &Obj) -> Option<String> {
    let has = |k: &str| o.contains_key(k);
    if has("agentType") && !has("messages") && !has("type") {
        return Some(format!(
            "a Claude Code sub-agent meta file ({}); it describes the agent-<id>.jsonl beside it",
            keys(o)
        ));
    }
    if has("instance_id") && has("model_patch") {
        return Some(format!("SWE-bench predictions ({}): patches, not a conversation", keys(o)));
    }
    if has("session_id") && has("ts") && has("text") && !has("type") {
        return Some(format!(
            "a Codex CLI prompt history ({}): only the user's prompts; import the rollout-*.jsonl files",
            keys(o)
        ));
    }
    if has("display") && has("pastedContents") {
        return Some(format!(
            "a Claude Code prompt history ({}): only the user's prompts; import the projects/**/*.jsonl transcripts",
            keys(o)
        ));
    }
    if has("sessionId") && has("messageId") && has("message") && !has("messages") {
        return Some(format!(
            "a Gemini CLI prompt log ({}): only the user's prompts, no conversation; import the chats/session-*.json files",
            keys(o)
        ));
    }
    None
}

pub(crate) fn detect_text(text: &str) -> Result<Format, Undetected> {
    let mut lines = text.split('\n').filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else {
        return Err(Undetected::Unknown("an empty file".to_string()));
    };
    let more = lines.next().is_some();
    let trimmed = text.trim_start();
    if !trimmed.starts_with(['{', '[']) && crate::aider::looks_like(text) {
        return Ok(Format::Aider);
    }
    if more {
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(first) {
            return jsonl_record(&o).ok_or_else(|| {
                Undetected::Unknown(
                    known_non_transcript(&o)
                        .map(|k| format!("JSONL of {k}"))
                        .unwrap_or_else(|| format!("JSONL whose first record has {}", keys(&o))),
                )
            });
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => document(&o).or_else(|| jsonl_record(&o)).ok_or_else(|| {
            Undetected::Unknown(known_non_transcript(&o).unwrap_or_else(|| format!("a JSON object with {}", keys(&o))))
        }),
        Ok(v) if crate::tau::looks_like(&v) => Ok(Format::TauBench),
        Ok(Value::Array(items)) => {
            let first = items.first().and_then(Value::as_object);
            Err(Undetected::Unknown(match first.and_then(known_non_transcript) {
                Some(k) => format!("a JSON array of {k}"),
                None => match items.first() {
                    Some(Value::Object(o)) => {
                        format!("a JSON array of {} item(s) whose first has {}", items.len(), keys(o))
                    }
                    Some(v) => format!("a JSON array of {} item(s), the first {}", items.len(), describe(v)),
                    None => "an empty JSON array".to_string(),
                },
            }))
        }
        Ok(v) => Err(Undetected::Unknown(format!("JSON {}", describe(&v)))),
        Err(e) => {
            if trimmed.starts_with(['{', '[']) {
                Err(Undetected::Syntax(e))
            } else {
                let line: String = first.trim().chars().take(60).collect();
                Err(Undetected::Unknown(format!(
                    "text that is neither JSON nor an aider chat history (first line: \"{line}\")"
                )))
            }
        }
    }
}

/// The format a JSONL file's first record implies.
fn jsonl_record(o: &Obj) -> Option<Format> {
    if o.get("nocturne").and_then(Value::as_str) == Some("session") {
        return Some(Format::Nocturne);
    }
    if o.contains_key("messages_display") {
        return Some(Format::TauDisplay);
    }
    if looks_like_codex(o) {
        return Some(Format::Codex);
    }
    if o.contains_key("messages") {
        return Some(classify_document(o));
    }
    if looks_like_claude_code(o) {
        return Some(Format::ClaudeCode);
    }
    None
}

/// The format of a whole-file JSON object, when it is a document format.
fn document(o: &Obj) -> Option<Format> {
    if o.get("nocturne").and_then(Value::as_str) == Some("session") {
        return Some(Format::Nocturne);
    }
    if crate::tau::looks_like(&Value::Object(o.clone())) {
        return Some(Format::TauBench);
    }
    if looks_like_gemini(o) {
        return Some(Format::Gemini);
    }
    if crate::swe_agent::looks_like(o) {
        return Some(Format::SweAgent);
    }
    if o.contains_key("messages") {
        return Some(classify_document(o));
    }
    None
}

const CODEX_TYPES: [&str; 5] = ["session_meta", "response_item", "event_msg", "turn_context", "compacted"];

fn looks_like_codex(o: &Obj) -> bool {
    let typed = o.get("type").and_then(Value::as_str).is_some_and(|t| CODEX_TYPES.contains(&t))
        && o.get("payload").is_some_and(Value::is_object);
    let old_header = o.contains_key("id")
        && o.contains_key("instructions")
        && !o.contains_key("type")
        && !o.contains_key("messages")
        && !o.contains_key("sessionId");
    typed || old_header
}

fn looks_like_gemini(o: &Obj) -> bool {
    let Some(Value::Array(messages)) = o.get("messages") else {
        return false;
    };
    let typed = messages
        .iter()
        .filter_map(Value::as_object)
        .any(|m| m.get("type").and_then(Value::as_str).is_some() && !m.contains_key("role"));
    typed || ((o.contains_key("sessionId") || o.contains_key("projectHash")) && o.contains_key("startTime"))
}

const CLAUDE_CODE_TYPES: [&str; 12] = [
    "user",
    "assistant",
    "summary",
    "system",
    "file-history-snapshot",
    "queue-operation",
    "attachment",
    "progress",
    "permission-mode",
    "last-prompt",
    "custom-title",
    "tag",
];

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

    fn why(s: &str) -> String {
        match detect_text(s) {
            Err(e) => e.into_fail().reason,
            Ok(f) => panic!("detected {f}"),
        }
    }

    #[test]
    fn nocturne_header_wins() {
        assert_eq!(
            d("\n{\"nocturne\":\"session\",\"version\":1}\n{\"kind\":\"user_message\"}"),
            Some(Format::Nocturne)
        );
        assert_eq!(d("{\"nocturne\":\"session\",\"version\":1}"), Some(Format::Nocturne));
    }

    #[test]
    fn claude_code_lines() {
        assert_eq!(d(r#"{"type":"summary","summary":"x","leafUuid":"u1"}"#), Some(Format::ClaudeCode));
        assert_eq!(
            d(r#"{"type":"user","sessionId":"s","message":{"role":"user","content":"hi"}}"#),
            Some(Format::ClaudeCode)
        );
        assert_eq!(d(r#"{"type":"file-history-snapshot","messageId":"m"}"#), Some(Format::ClaudeCode));
        assert_eq!(d("{\"type\":\"permission-mode\",\"permissionMode\":\"plan\"}\n{}"), Some(Format::ClaudeCode));
    }

    #[test]
    fn codex_gemini_tau_swe_aider() {
        assert_eq!(
            d("{\"timestamp\":\"t\",\"type\":\"session_meta\",\"payload\":{\"id\":\"x\"}}\n{}"),
            Some(Format::Codex)
        );
        assert_eq!(d("{\"id\":\"x\",\"timestamp\":\"t\",\"instructions\":null}\n{}"), Some(Format::Codex));
        assert_eq!(
            d(r#"{"sessionId":"s","projectHash":"h","startTime":"t","messages":[{"type":"user","content":"hi"}]}"#),
            Some(Format::Gemini)
        );
        assert_eq!(d(r#"{"info":{},"tasks":[],"simulations":[]}"#), Some(Format::TauBench));
        assert_eq!(d(r#"[{"task_id":1,"reward":0.0,"info":{},"traj":[]}]"#), Some(Format::TauBench));
        assert_eq!(d(r#"{"environment":"e","trajectory":[],"history":[],"info":{}}"#), Some(Format::SweAgent));
        assert_eq!(d("{\"messages_display\":\"user: hi\"}\n"), Some(Format::TauDisplay));
        assert_eq!(
            d("-*- mode: x -*-\n\n# aider chat started at 2024-08-05 19:33:02\n\n#### hi\n"),
            Some(Format::Aider)
        );
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
    fn unknown_shapes_say_what_they_are() {
        assert_eq!(d(""), None);
        assert_eq!(d("hello world"), None);
        assert_eq!(d("[1,2,3]"), None);
        assert_eq!(d(r#"{"foo":1}"#), None);
        assert_eq!(d("{\"messages\": ["), None);
        assert_eq!(detect(b"\xff\xfe"), None);
        assert_eq!(why(r#"{"foo":1,"bar":2}"#), "not a transcript: a JSON object with keys \"foo\", \"bar\"");
        assert_eq!(why("[1,2,3]"), "not a transcript: a JSON array of 3 item(s), the first a number");
        assert!(why(r#"{"agentType":"Explore","description":"x"}"#).contains("sub-agent meta file"));
        let preds = "{\"model_name_or_path\":\"m\",\"instance_id\":\"i\",\"model_patch\":\"p\"}\n{}";
        assert!(why(preds).contains("SWE-bench predictions"), "{}", why(preds));
        assert!(why("hello world").contains("first line: \"hello world\""));
        let history = "{\"display\":\"fix it\",\"pastedContents\":{},\"timestamp\":1,\"project\":\"/p\"}\n{}";
        assert!(why(history).contains("Claude Code prompt history"), "{}", why(history));
        let codex = "{\"session_id\":\"s\",\"ts\":1,\"text\":\"hi\"}\n{}";
        assert!(why(codex).contains("Codex CLI prompt history"), "{}", why(codex));
        assert!(why("{\"a\":1}\n{\"b\":2}").contains("JSONL whose first record has keys \"a\""));
    }

    #[test]
    fn broken_json_documents_report_the_syntax_error() {
        match detect_text("{\n\"messages\": [\n") {
            Err(Undetected::Syntax(e)) => assert_eq!(e.line(), 3),
            other => panic!("{other:?}"),
        }
    }
}
