//! The session log: sessions and their events, as imported and as stored.

use serde::{Deserialize, Serialize};

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// What the session's evaluator (a benchmark's grader) expected of the
    /// agent, and whether it was met: `tool_name` and `tool_input` are the
    /// expected action (the arguments the evaluator compares), `is_error`
    /// is true when the session did not meet it, `text` is a readable line.
    /// Role `system`; placed after the session's own events.
    EvaluatorCheck,
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
            EventKind::EvaluatorCheck => "evaluator_check",
        }
    }

    /// Every kind, in the order of their codes in the stores.
    pub const ALL: [EventKind; 7] = [
        EventKind::UserMessage,
        EventKind::AssistantMessage,
        EventKind::ToolCall,
        EventKind::ToolResult,
        EventKind::System,
        EventKind::Other,
        EventKind::EvaluatorCheck,
    ];

    /// The names of every kind, `a, b, … or z`, for messages that list them.
    pub fn names() -> String {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
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
            "evaluator_check" => EventKind::EvaluatorCheck,
            _ => return None,
        })
    }
}

/// Who speaks to the agent in a session's user turns. Later steps use it to
/// tell a person who directs the agent from one the agent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Counterpart {
    /// A person who runs the agent and directs its work (the user of a
    /// coding agent). Their directives may become preferences.
    Operator,
    /// A person the agent serves (a customer of a service agent, real or
    /// simulated). What they say is never a preference of the team.
    Customer,
    /// Another agent: the parent that spawned this sub-agent. Its prompt is
    /// a task, not a person's preference.
    Agent,
}

impl Counterpart {
    pub fn as_str(self) -> &'static str {
        match self {
            Counterpart::Operator => "operator",
            Counterpart::Customer => "customer",
            Counterpart::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Counterpart> {
        Some(match s {
            "operator" => Counterpart::Operator,
            "customer" => Counterpart::Customer,
            "agent" => Counterpart::Agent,
            _ => return None,
        })
    }
}

/// What a sub-agent session is, beside its parent link.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Subagent {
    /// The sub-agent's id in its source (Claude Code `agentId`).
    pub agent_id: String,
    /// Its type (`general-purpose`, `Explore`, ...), from the source's meta data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// What it was asked to do, from the source's meta data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A context-compaction agent (Claude Code `agent-acompact-*`), not delegated work.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compaction: bool,
}

/// An outcome the source itself records for a session (a benchmark's
/// reward), logged on the taxonomy's primary dimension at ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceOutcome {
    /// Normalized 0..1, 1 best (τ²-bench `reward_info.reward`).
    pub score: f64,
    /// Why the run ended or what the evaluator said (`termination_reason`), kept as the outcome's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An event as an importer produces it, before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// The session that spawned this one (a sub-agent's parent). The parent
    /// need not be stored (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Set for sub-agent sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent: Option<Subagent>,
    /// Who speaks in the user turns; `None` when the source does not say
    /// (treated as [`Counterpart::Operator`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart: Option<Counterpart>,
    /// An outcome the source records (not stored in the session header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<SourceOutcome>,
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The session that spawned this one (see [`NewSession::parent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent: Option<Subagent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart: Option<Counterpart>,
    pub event_count: u32,
    /// Hex chain hash of the last event (the hash of an empty chain when none).
    pub head_hash: String,
    /// First event timestamp, else the ingest time.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub ingested_at: String,
    /// When the session was closed: a closed session is complete and takes
    /// no more events (`None`: open, it may still grow at its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

impl Session {
    /// This stored session's header as an importer's session with `events`
    /// (no source outcome: outcomes are stored apart), e.g. to write it
    /// again.
    pub fn to_new(&self, events: Vec<NewEvent>) -> NewSession {
        NewSession {
            id: self.id.clone(),
            format: self.format.clone(),
            source: self.source.clone(),
            user: self.user.clone(),
            agent: self.agent.clone(),
            team: self.team.clone(),
            title: self.title.clone(),
            parent: self.parent.clone(),
            subagent: self.subagent.clone(),
            counterpart: self.counterpart,
            outcome: None,
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_reads_back_from_its_name_and_the_list_names_them_all() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()), "serde and as_str agree");
        }
        assert_eq!(
            EventKind::names(),
            "user_message, assistant_message, tool_call, tool_result, system, other or evaluator_check"
        );
        assert_eq!(EventKind::parse("check"), None);
    }
}
