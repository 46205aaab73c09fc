//! What the fake server answers: a script of replies, served from a queue
//! or by rules that match the request (with a step counter per rule key).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A script (JSON). Each request is answered by the first rule that matches
/// it, else by the next reply of `queue`, else by `fallback`; with none of
/// them the answer is a 400 saying so (a client does not retry it).
///
/// ```json
/// {
///   "rules": [
///     {"match": {"system_contains": "agent: planner"}, "key": "planner",
///      "replies": [{"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}, {"text": "done"}]}
///   ],
///   "queue": [{"status": 429, "headers": {"retry-after": "2"}}, {"text": "Hello"}],
///   "fallback": {"text": "unscripted"}
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub queue: Vec<Reply>,
    #[serde(default)]
    pub fallback: Option<Reply>,
    /// When set, a request without this key (`x-api-key`, `Authorization:
    /// Bearer`, or `api-key`) gets a provider-shaped 401.
    #[serde(default)]
    pub require_key: Option<String>,
    /// Model ids a request may name; another gets a provider-shaped 404.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

impl Script {
    /// Parses a script.
    pub fn from_json(text: &str) -> Result<Self, crate::FakeError> {
        serde_json::from_str(text).map_err(|e| crate::FakeError::Script(e.to_string()))
    }

    /// A script that answers every request from `queue`, in order.
    pub fn queue(replies: impl IntoIterator<Item = Reply>) -> Self {
        Script { queue: replies.into_iter().collect(), ..Script::default() }
    }
}

/// Replies for requests that match; the n-th match of the rule's key
/// (counted from 0) gets `replies[n]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match", default)]
    pub matcher: Matcher,
    /// Step counter name (rules sharing a key share a counter); default: the
    /// rule's position.
    #[serde(default)]
    pub key: Option<String>,
    pub replies: Vec<Reply>,
    /// After the last reply, keep answering with it (else: a 400 saying the
    /// script is exhausted).
    #[serde(default)]
    pub repeat_last: bool,
}

/// Conditions that must all hold (absent ones hold).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// A substring of the system prompt (Anthropic `system`, OpenAI system
    /// or developer messages).
    #[serde(default)]
    pub system_contains: Option<String>,
    /// A substring of the text of the last user message.
    #[serde(default)]
    pub last_user_contains: Option<String>,
    /// A substring of the raw request body.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// `anthropic` or `openai`: which wire format the request used.
    #[serde(default)]
    pub wire: Option<String>,
}

/// One scripted answer. With `status`, an HTTP error; otherwise a model
/// answer in the request's wire format, JSON or SSE as the request asked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Answer text.
    #[serde(default)]
    pub text: Option<String>,
    /// A JSON answer: the input of the forced tool when the Anthropic request
    /// forces one (a structured request), else the text (serialized).
    #[serde(default)]
    pub json: Option<Value>,
    #[serde(default)]
    pub tool_calls: Vec<FakeToolCall>,
    /// A refusal (OpenAI `refusal`; Anthropic stop reason `refusal` with this explanation).
    #[serde(default)]
    pub refusal: Option<String>,
    /// The stop/finish reason as the wire names it (default: from the content).
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<FakeUsage>,
    /// Reported model name (default: the requested one).
    #[serde(default)]
    pub model: Option<String>,

    /// Answer with this HTTP status instead.
    #[serde(default)]
    pub status: Option<u16>,
    /// With `status`: the provider's error message (put into its error JSON).
    #[serde(default)]
    pub error_message: Option<String>,
    /// With `status`: the exact body (a string is sent as is, JSON serialized).
    #[serde(default)]
    pub body: Option<Value>,
    /// A 200 whose body is exactly this (for malformed answers).
    #[serde(default)]
    pub raw_body: Option<String>,
    /// Extra response headers (e.g. `retry-after`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,

    /// Wait this long before answering (to trigger client timeouts).
    #[serde(default)]
    pub delay_ms: u64,
    /// Wait this long between SSE events.
    #[serde(default)]
    pub event_delay_ms: u64,
    /// Close the connection after this many SSE events (a JSON answer:
    /// after half its body), without ending the response properly.
    #[serde(default)]
    pub drop_after_events: Option<usize>,
    /// Characters per text / argument delta in SSE (default 7).
    #[serde(default)]
    pub chunk_chars: Option<usize>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Reply { text: Some(text.into()), ..Reply::default() }
    }

    pub fn json(value: Value) -> Self {
        Reply { json: Some(value), ..Reply::default() }
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Reply { tool_calls: vec![FakeToolCall::new(name, arguments)], ..Reply::default() }
    }

    pub fn status(status: u16) -> Self {
        Reply { status: Some(status), ..Reply::default() }
    }

    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some(FakeUsage { input_tokens, output_tokens, ..FakeUsage::default() });
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_string(), value.to_string());
        self
    }

    pub fn with_error_message(mut self, message: &str) -> Self {
        self.error_message = Some(message.to_string());
        self
    }

    pub fn with_delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
}

/// A tool call to answer with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeToolCall {
    /// Default: `toolu_fake_N` / `call_fake_N`.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
    /// Send these exact argument characters instead (e.g. broken JSON).
    #[serde(default)]
    pub raw_arguments: Option<String>,
}

impl FakeToolCall {
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        FakeToolCall { id: None, name: name.into(), arguments, raw_arguments: None }
    }
}

/// Token counts to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
}
