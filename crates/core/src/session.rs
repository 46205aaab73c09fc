//! The session log: sessions and their events, as imported and as stored.

use serde::{Deserialize, Serialize};

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

/// What an event is, normalized across transcript formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    UserMessage,
    AssistantMessage,
    ToolCall,
    ToolResult,
    System,
    /// Anything kept for fidelity but not interpreted: images, thinking
    /// blocks, summaries, unknown block types. Its raw JSON is kept whole.
    Other,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UserMessage => "user_message",
            EventKind::AssistantMessage => "assistant_message",
            EventKind::ToolCall => "tool_call",
            EventKind::ToolResult => "tool_result",
            EventKind::System => "system",
            EventKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "user_message" => EventKind::UserMessage,
            "assistant_message" => EventKind::AssistantMessage,
            "tool_call" => EventKind::ToolCall,
            "tool_result" => EventKind::ToolResult,
            "system" => EventKind::System,
            "other" => EventKind::Other,
            _ => return None,
        })
    }
}

/// An event as an importer produces it, before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub role: Role,
    pub kind: EventKind,
    /// Tool name, for tool calls (and for results when the format says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Tool input as JSON text (for `arguments` that are not valid JSON, the
    /// string as given, JSON-encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<String>,
    /// Links a tool call and its result (`tool_use_id`, `tool_call_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Message text, or the result text of a tool result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub is_error: bool,
    /// RFC 3339 timestamp, when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Claude Code sidechain (sub-agent) event.
    #[serde(default)]
    pub sidechain: bool,
    /// 1-based line of the source file this event came from, when line-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_line: Option<u32>,
    /// The source JSON this event was read from, verbatim (compact JSON text).
    pub raw: String,
}

/// A session as an importer produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSession {
    pub id: String,
    /// Importer format name (`claude-code`, `anthropic`, `openai`, `nocturne`).
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub events: Vec<NewEvent>,
}

impl NewSession {
    /// First and last event timestamps, if any event has one.
    pub fn time_span(&self) -> (Option<String>, Option<String>) {
        let mut ts = self.events.iter().filter_map(|e| e.timestamp.as_deref());
        let first = ts.next().map(str::to_string);
        let last = self.events.iter().rev().find_map(|e| e.timestamp.clone()).or_else(|| first.clone());
        (first, last)
    }
}

/// A stored event: a [`NewEvent`] with its place in the session and chain hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub session: String,
    /// 0-based position in the session.
    pub seq: u32,
    #[serde(flatten)]
    pub body: NewEvent,
    /// Hex SHA-256 chain hash up to and including this event.
    pub hash: String,
}

/// A stored session's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub event_count: u32,
    /// Hex chain hash of the last event (the hash of an empty chain when none).
    pub head_hash: String,
    /// First event timestamp, else the ingest time.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub ingested_at: String,
}
