//! Provider-neutral request and response types: what a caller builds and
//! gets back, whichever wire format carries it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who said a message. The system prompt is [`ChatRequest::system`], not a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// A tool call the assistant made (sent back in the assistant message of
    /// the next request, exactly as received in [`ChatResponse::tool_calls`]).
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// The result of running a tool, in the user message that follows.
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
}

/// A message: a role and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

impl Message {
    /// A user message of one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Message { role: Role::User, content: vec![Part::Text { text: text.into() }] }
    }

    /// An assistant message of one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: vec![Part::Text { text: text.into() }] }
    }

    /// The assistant turn that produced `response` (its text and tool calls),
    /// to send back before the tool results.
    pub fn from_response(response: &ChatResponse) -> Self {
        let mut content = Vec::new();
        if !response.text.is_empty() {
            content.push(Part::Text { text: response.text.clone() });
        }
        for call in &response.tool_calls {
            content.push(Part::ToolUse { id: call.id.clone(), name: call.name.clone(), input: call.input.clone() });
        }
        Message { role: Role::Assistant, content }
    }

    /// A user message carrying tool results.
    pub fn tool_results(results: impl IntoIterator<Item = Part>) -> Self {
        Message { role: Role::User, content: results.into_iter().collect() }
    }

    /// The text parts joined (tool parts left out).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let Part::Text { text } = part {
                out.push_str(text);
            }
        }
        out
    }
}

/// A tool the model may call. `input_schema` is a JSON Schema object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the default; not sent on the wire).
    #[default]
    Auto,
    /// The model must call some tool (`any` / `required`).
    Any,
    /// The model must not call a tool.
    None,
    /// The model must call this tool.
    Tool(String),
}

/// A JSON Schema the answer must match (see [`crate::schema`] for the subset
/// that is checked locally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// A short identifier (`[A-Za-z0-9_-]`, at most 64 characters): the
    /// forced tool's name on Anthropic, `json_schema.name` on OpenAI.
    pub name: String,
    pub schema: Value,
}

/// One request to a chat model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The system prompt (empty: none).
    #[serde(default)]
    pub system: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// Ask for a JSON answer matching this schema. The answer arrives as JSON
    /// text in [`ChatResponse::text`]; [`crate::ask_json`] parses, checks and
    /// repairs it.
    #[serde(default)]
    pub response_schema: Option<JsonSchema>,
    /// Output token limit; `None` uses the model's `max_output_tokens`.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Use the streaming wire format (SSE) even when called through
    /// [`crate::ChatModel::chat`]; [`crate::ChatModel::chat_stream`] always streams.
    #[serde(default)]
    pub stream: bool,
}

impl ChatRequest {
    /// A request of one user message.
    pub fn new(system: impl Into<String>, user: impl Into<String>) -> Self {
        ChatRequest { system: system.into(), messages: vec![Message::user(user)], ..ChatRequest::default() }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished (Anthropic `end_turn`, OpenAI `stop`).
    #[default]
    EndTurn,
    /// It hit the output token limit (`max_tokens`, `length`): the answer is cut off.
    MaxTokens,
    /// It called tools (`tool_use`, `tool_calls`).
    ToolUse,
    /// It produced one of the stop sequences.
    StopSequence,
    /// It declined (`refusal`, OpenAI `content_filter` or refusal text).
    Refusal,
    /// Anything else, as the provider named it.
    Other(String),
}

/// Token counts of one answer (or a sum of several).
///
/// `input_tokens` counts input billed at the full input price; cache reads and
/// writes are counted apart (Anthropic reports them so; for OpenAI,
/// `prompt_tokens_details.cached_tokens` is moved from input to `cache_read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Usage {
    /// Field-wise sum.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

/// A tool call with arguments that parsed as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// A tool call whose arguments were cut off (the model hit `max_tokens`
/// while writing them). Never executed; the caller may ask again with a larger
/// limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialToolCall {
    pub id: String,
    pub name: String,
    /// The argument text received, which does not parse.
    pub partial_input: String,
}

/// A model's answer, assembled the same way from JSON and SSE.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatResponse {
    /// All text blocks, concatenated. For a structured request, the JSON answer.
    pub text: String,
    /// Tool calls whose arguments parsed, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Tool calls cut off at `max_tokens` (see [`PartialToolCall`]).
    pub incomplete_tool_calls: Vec<PartialToolCall>,
    /// A refusal message (OpenAI `refusal`, Anthropic `stop_details.explanation`).
    pub refusal: Option<String>,
    pub stop_reason: StopReason,
    /// The stop sequence hit, when the provider says.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// The provider's message id.
    pub id: String,
    /// The provider's request id (`request-id` / `x-request-id` header), for support tickets.
    pub request_id: Option<String>,
    /// HTTP requests it took (1 when the first one succeeded).
    pub attempts: u32,
}

/// A piece of a streamed answer, passed to the callback of
/// [`crate::ChatModel::chat_stream`] as it arrives.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Delta {
    /// More answer text (for a structured request: more of the JSON).
    Text(String),
    /// A tool call begins; `index` is its position in [`ChatResponse::tool_calls`] order.
    ToolCallStart { index: usize, id: String, name: String },
    /// More of a tool call's JSON arguments (may split anywhere, even inside a token).
    ToolArguments { index: usize, json: String },
    /// Reasoning text the model shows (not part of [`ChatResponse::text`]).
    Thinking(String),
    /// More refusal text.
    Refusal(String),
}
