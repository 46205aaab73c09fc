//! What both wire formats share: reading a provider's error body, mapping
//! HTTP statuses to [`ProviderError`]s, and parse options.

use crate::{ProviderError, StopReason};
use serde_json::Value;
use std::io;
use std::time::Duration;

/// How a structured answer is carried when it comes back as a forced tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredTool {
    /// The forced tool's name (the schema's name).
    pub name: String,
    /// The schema's root is not an object, so it was wrapped as `{"answer": ...}`.
    pub wrapped: bool,
}

/// Context for parsing one answer.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Set when the request asked for a structured answer through a forced tool.
    pub structured: Option<StructuredTool>,
    /// Named in transport and timeout errors.
    pub endpoint: String,
    /// Named in timeout errors.
    pub timeout_secs: f64,
}

/// The provider's own message from an error body: `error.message` (Anthropic,
/// OpenAI, llama-server, vLLM's `message`), `error` as a string (Ollama),
/// `detail` (FastAPI servers); else the body's text, shortened. Anthropic's
/// `request_id` is appended when present.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let msg = match (&v.get("error"), v.get("message"), v.get("detail")) {
            (Some(Value::String(s)), _, _) => Some(s.clone()),
            (Some(Value::Object(e)), _, _) => match (e.get("message"), e.get("type")) {
                (Some(Value::String(m)), Some(Value::String(t))) if !m.contains(t.as_str()) => {
                    Some(format!("{m} ({t})"))
                }
                (Some(Value::String(m)), _) => Some(m.clone()),
                _ => Some(Value::Object(e.clone()).to_string()),
            },
            (_, Some(Value::String(m)), _) => Some(m.clone()),
            (_, _, Some(Value::String(d))) => Some(d.clone()),
            (_, _, Some(Value::Array(d))) => {
                d.first().and_then(|x| x.get("msg")).and_then(Value::as_str).map(str::to_string)
            }
            _ => None,
        }?;
        Some(match v.get("request_id").and_then(Value::as_str) {
            Some(id) => format!("{msg} [request {id}]"),
            None => msg,
        })
    });
    let msg = from_json.unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
    let msg = if msg.is_empty() { "(empty body)".to_string() } else { msg };
    shorten(&msg, 1000)
}

pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}...")
    }
}

/// The error for a non-2xx status.
pub fn status_error(status: u16, retry_after: Option<Duration>, message: String, opts: &ParseOptions) -> ProviderError {
    match status {
        408 => ProviderError::Timeout { endpoint: opts.endpoint.clone(), secs: opts.timeout_secs },
        429 => ProviderError::RateLimited { retry_after, message },
        500..=599 => ProviderError::Server { status, message },
        _ => ProviderError::Refused { status, message },
    }
}

/// The HTTP status an Anthropic error `type` stands for (for errors that
/// arrive inside a stream, after the 200).
pub(crate) fn anthropic_error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// An IO error while reading an answer body.
pub(crate) fn read_error(e: io::Error, opts: &ParseOptions) -> ProviderError {
    if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return ProviderError::Timeout { endpoint: opts.endpoint.clone(), secs: opts.timeout_secs };
    }
    match ureq::Error::from(e) {
        ureq::Error::Timeout(_) => ProviderError::Timeout { endpoint: opts.endpoint.clone(), secs: opts.timeout_secs },
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            ProviderError::malformed(format!("stream: {e}"))
        }
        other => ProviderError::Transport {
            endpoint: opts.endpoint.clone(),
            message: format!("the answer broke off: {other}"),
        },
    }
}

/// A stream that ended before its final event.
pub(crate) fn cut_short(opts: &ParseOptions, what: &str) -> ProviderError {
    ProviderError::Transport {
        endpoint: opts.endpoint.clone(),
        message: format!("the stream ended before {what} (connection dropped?)"),
    }
}

/// Tool arguments as JSON: `""` is `{}`.
pub(crate) fn parse_arguments(raw: &str) -> Result<Value, serde_json::Error> {
    if raw.trim().is_empty() {
        Ok(Value::Object(Default::default()))
    } else {
        serde_json::from_str(raw)
    }
}

pub(crate) fn stop_reason_from_anthropic(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "tool_use" => StopReason::ToolUse,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::Refusal,
        other => StopReason::Other(other.to_string()),
    }
}

pub(crate) fn stop_reason_from_openai(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::Refusal,
        other => StopReason::Other(other.to_string()),
    }
}

/// Checks a tool or schema name: 1–64 of `[A-Za-z0-9_-]` (what both APIs accept).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ProviderError> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::config(format!("{what} name {name:?} must be 1-64 characters of A-Z a-z 0-9 _ -")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_messages_from_every_servers_error_shape() {
        let cases: [(&str, &str); 6] = [
            (
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"},"request_id":"req_1"}"#,
                "bad (invalid_request_error) [request req_1]",
            ),
            (
                r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                "Incorrect API key (invalid_request_error)",
            ),
            (r#"{"error":"model 'x' not found"}"#, "model 'x' not found"),
            (r#"{"object":"error","message":"no such model","type":"NotFoundError","code":404}"#, "no such model"),
            (r#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#, "field required"),
            ("<html>\n  Bad   Gateway </html>", "<html> Bad Gateway </html>"),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body.as_bytes()), want);
        }
        assert_eq!(error_message(b""), "(empty body)");
    }
}
