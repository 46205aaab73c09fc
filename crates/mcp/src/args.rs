//! Tool arguments as a model sends them, and their mapping onto the
//! service's requests. Everything here is pure, so it is unit-tested
//! without a store or a transport.

use nocturne_core::{EventKind, NewEvent, Role};
use nocturne_service::{ContextRequest, LogOutcome, ServiceError};
use rmcp::schemars;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Most hits `memory_search` returns in one call.
pub const MAX_K: u32 = 100;
/// Largest token budget `memory_context` accepts.
pub const MAX_BUDGET: u32 = 100_000;
/// Most events `session_append` takes in one call.
pub const MAX_EVENTS: usize = 1_000;

fn default_k() -> u32 {
    10
}

fn default_budget() -> u32 {
    1000
}

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(msg.into())
}

/// Trims an optional string; blank means absent.
fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn required(what: &str, s: &str) -> Result<String, ServiceError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(format!("`{what}` must not be empty")));
    }
    Ok(s.to_string())
}

/// Arguments of `memory_search`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for, in plain words (e.g. "how do we run the tests", "deploy to staging").
    pub query: String,
    /// How many hits to return, best first (1 to 100).
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = 100))]
    pub k: u32,
    /// Only memories of this kind: `fact`, `preference`, `procedure`, `mistake`, or a custom kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only memories of this exact scope: `org`, `team:NAME`, `agent:NAME` or `user:NAME`.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A checked search: `(query, k, kind, scope)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub k: usize,
    pub kind: Option<String>,
    pub scope: Option<String>,
}

impl SearchArgs {
    pub fn check(&self) -> Result<Search, ServiceError> {
        let query = required("query", &self.query)?;
        if self.k == 0 || self.k > MAX_K {
            return Err(invalid(format!("`k` must be between 1 and {MAX_K}; got {}", self.k)));
        }
        Ok(Search { query, k: self.k as usize, kind: opt(&self.kind), scope: opt(&self.scope) })
    }
}

/// Arguments of `memory_context`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextArgs {
    /// The task you are about to do, in a sentence or two (e.g. "fix the flaky login test in CI").
    pub task: String,
    /// Most tokens the bundle may take (1 to 100000); the most useful memories are kept.
    #[serde(default = "default_budget")]
    #[schemars(range(min = 1, max = 100000))]
    pub budget: u32,
    /// Your agent name. With none of agent, user and team, every memory you may see applies; with any, the org's and exactly those named.
    #[serde(default)]
    pub agent: Option<String>,
    /// The user you work for (narrows like `agent`).
    #[serde(default)]
    pub user: Option<String>,
    /// Your team (narrows like `agent`).
    #[serde(default)]
    pub team: Option<String>,
    /// The id of the current session, so later outcomes can be credited to the memories handed out.
    #[serde(default)]
    pub session: Option<String>,
    /// Your working directory (absolute path) or a project id `NAME#KEY`: memories of other projects are left out. Without it, every project's memories apply, each naming its project.
    #[serde(default)]
    pub project: Option<String>,
}

impl ContextArgs {
    pub fn to_request(&self) -> Result<ContextRequest, ServiceError> {
        let task = required("task", &self.task)?;
        if self.budget == 0 || self.budget > MAX_BUDGET {
            return Err(invalid(format!("`budget` must be between 1 and {MAX_BUDGET} tokens; got {}", self.budget)));
        }
        Ok(ContextRequest {
            task,
            budget: self.budget as usize,
            agent: opt(&self.agent),
            user: opt(&self.user),
            team: opt(&self.team),
            session: opt(&self.session),
            project: opt(&self.project),
        })
    }
}

/// Arguments of `memory_propose`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeArgs {
    /// `fact`, `preference`, `procedure` (steps, commands in backquotes), `mistake` (what went wrong and what to do instead), or a custom kind (lowercase letters, digits, `-`, `_`).
    pub kind: String,
    /// The memory itself: one self-contained, durable statement a future agent can act on. No secrets.
    pub text: String,
    /// Who it applies to: `org` (default), `team:NAME`, `agent:NAME` or `user:NAME`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Why it is worth remembering: what happened that shows it (shown to the reviewer).
    #[serde(default)]
    pub rationale: Option<String>,
    /// The id of the session this was learned in; it is cited as evidence.
    #[serde(default)]
    pub session: Option<String>,
}

/// A checked proposal request (text and rationale not yet redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propose {
    pub kind: String,
    pub text: String,
    pub scope: Option<String>,
    pub rationale: Option<String>,
    pub session: Option<String>,
}

impl ProposeArgs {
    pub fn check(&self) -> Result<Propose, ServiceError> {
        Ok(Propose {
            kind: required("kind", &self.kind)?,
            text: required("text", &self.text)?,
            scope: opt(&self.scope),
            rationale: opt(&self.rationale),
            session: opt(&self.session),
        })
    }
}

/// Arguments of `outcome_log`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeArgs {
    /// The id of the session the outcome is about.
    pub session: String,
    /// Dimension name → value, checked against the store's outcome taxonomy. Default taxonomy: `result` (success, partial, failure, abandoned), `failure_reason` (wrong_tool, bad_arguments, misread_task, environment, timeout, policy_violation, other), `user_rating` (1 to 5), `reviewer_note` (text). E.g. `{"result": "failure", "failure_reason": "environment"}`.
    pub set: Map<String, Value>,
    /// A task within the session, when the outcome is about one task rather than the whole session.
    #[serde(default)]
    pub task: Option<String>,
    /// A short free-text note on why.
    #[serde(default)]
    pub comment: Option<String>,
    /// Who judged it: `model` (default), `human` or `code` (a test suite, a CI check).
    #[serde(default)]
    pub source: Option<String>,
}

/// A JSON value as the `DIM=VALUE` text the taxonomy parses.
fn value_text(dim: &str, v: &Value) -> Result<String, ServiceError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => {
            Err(invalid(format!("the value of `{dim}` must be a string, a number or a boolean; got {v}")))
        }
    }
}

impl OutcomeArgs {
    /// The service request; `by` is who logs it (the caller's author).
    pub fn to_request(&self, by: &str) -> Result<LogOutcome, ServiceError> {
        let session = required("session", &self.session)?;
        if self.set.is_empty() {
            return Err(invalid("`set` is empty: give at least one dimension, e.g. {\"result\": \"success\"}"));
        }
        let mut set = Vec::with_capacity(self.set.len());
        for (dim, v) in &self.set {
            if dim.trim().is_empty() || dim.contains('=') {
                return Err(invalid(format!("invalid dimension name {dim:?}")));
            }
            set.push(format!("{}={}", dim.trim(), value_text(dim, v)?));
        }
        Ok(LogOutcome {
            session,
            task: opt(&self.task),
            set,
            source: Some(opt(&self.source).unwrap_or_else(|| "model".into())),
            by: Some(by.to_string()),
            comment: opt(&self.comment),
        })
    }
}

/// One event to append, normalized.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventArgs {
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    /// `user_message`, `assistant_message`, `tool_call`, `tool_result`, `system`, `other` or
    /// `evaluator_check` (what a grader expected: `tool_name` and `tool_input` the expected
    /// action, `is_error` when it was not met).
    pub kind: String,
    /// Message text, or the output of a tool result.
    #[serde(default)]
    pub text: Option<String>,
    /// The tool's name, for tool calls (and results).
    #[serde(default)]
    pub tool_name: Option<String>,
    /// The tool's input, for tool calls: a JSON object (or a string).
    #[serde(default)]
    pub tool_input: Option<Value>,
    /// Links a tool call and its result.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// True when a tool result is an error.
    #[serde(default)]
    pub is_error: bool,
    /// When it happened: RFC 3339, e.g. `2026-01-31T12:00:00Z`.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// Arguments of `session_append`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendArgs {
    /// The id of an existing session to extend.
    pub session: String,
    /// The new events, oldest first (1 to 1000).
    pub events: Vec<EventArgs>,
}

impl EventArgs {
    /// The event to store; `raw` is the event's JSON as it was given.
    pub fn to_event(&self, raw: &Value, n: usize) -> Result<NewEvent, ServiceError> {
        let at = |msg: String| invalid(format!("event {n}: {msg}"));
        let role = Role::parse(self.role.trim())
            .ok_or_else(|| at(format!("unknown role {:?}: use user, assistant, system or tool", self.role)))?;
        let kind = EventKind::parse(self.kind.trim())
            .ok_or_else(|| at(format!("unknown kind {:?}: use {}", self.kind, EventKind::names())))?;
        let tool_input = match &self.tool_input {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
        };
        let timestamp = match opt(&self.timestamp) {
            None => None,
            Some(t) => Some(nocturne_service::parse_date(&t).map_err(|e| at(e.to_string()))?),
        };
        let text = self.text.clone();
        if kind == EventKind::ToolCall && opt(&self.tool_name).is_none() {
            return Err(at("a tool_call needs `tool_name`".into()));
        }
        if matches!(kind, EventKind::UserMessage | EventKind::AssistantMessage)
            && text.as_deref().is_none_or(|t| t.trim().is_empty())
        {
            return Err(at(format!("a {} needs `text`", kind.as_str())));
        }
        Ok(NewEvent {
            role,
            kind,
            tool_name: opt(&self.tool_name),
            tool_input,
            tool_use_id: opt(&self.tool_use_id),
            text,
            is_error: self.is_error,
            timestamp,
            sidechain: false,
            source_line: None,
            raw: raw.to_string(),
        })
    }
}

/// Checks and converts `session_append`'s raw arguments. Each event's `raw`
/// is its JSON exactly as the caller sent it.
pub fn append_request(args: &Map<String, Value>) -> Result<(String, Vec<NewEvent>), ServiceError> {
    let parsed: AppendArgs =
        serde_json::from_value(Value::Object(args.clone())).map_err(|e| invalid(format!("invalid arguments: {e}")))?;
    let session = required("session", &parsed.session)?;
    if parsed.events.is_empty() {
        return Err(invalid("`events` is empty: give at least one event"));
    }
    if parsed.events.len() > MAX_EVENTS {
        return Err(invalid(format!(
            "{} events in one call; send at most {MAX_EVENTS} at a time",
            parsed.events.len()
        )));
    }
    let raws = args.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut events = Vec::with_capacity(parsed.events.len());
    for (i, (e, raw)) in parsed.events.iter().zip(raws.iter()).enumerate() {
        events.push(e.to_event(raw, i + 1)?);
    }
    Ok((session, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn search_defaults_k_to_ten_and_drops_blank_filters() {
        let a: SearchArgs = serde_json::from_value(json!({"query": " tests ", "kind": " ", "scope": "org"})).unwrap();
        let s = a.check().unwrap();
        assert_eq!(s, Search { query: "tests".into(), k: 10, kind: None, scope: Some("org".into()) });
    }

    #[test]
    fn search_refuses_empty_query_zero_k_and_unknown_fields() {
        let a: SearchArgs = serde_json::from_value(json!({"query": "  "})).unwrap();
        assert!(a.check().unwrap_err().to_string().contains("`query`"));
        let a: SearchArgs = serde_json::from_value(json!({"query": "x", "k": 0})).unwrap();
        assert!(a.check().unwrap_err().to_string().contains("between 1 and 100"));
        let a: SearchArgs = serde_json::from_value(json!({"query": "x", "k": 101})).unwrap();
        assert!(a.check().is_err());
        assert!(serde_json::from_value::<SearchArgs>(json!({"query": "x", "limit": 3})).is_err());
        assert!(serde_json::from_value::<SearchArgs>(json!({"query": "x", "k": -1})).is_err());
    }

    #[test]
    fn context_maps_every_field_with_a_default_budget() {
        let a: ContextArgs = serde_json::from_value(
            json!({"task": "fix CI", "agent": "claude", "team": "web", "session": "s1", "project": "/srv/shop"}),
        )
        .unwrap();
        let r = a.to_request().unwrap();
        assert_eq!(r.task, "fix CI");
        assert_eq!(r.budget, 1000);
        assert_eq!(r.agent.as_deref(), Some("claude"));
        assert_eq!(r.user, None);
        assert_eq!(r.team.as_deref(), Some("web"));
        assert_eq!(r.session.as_deref(), Some("s1"));
        assert_eq!(r.project.as_deref(), Some("/srv/shop"));
        let a: ContextArgs = serde_json::from_value(json!({"task": "x", "budget": 0})).unwrap();
        assert!(a.to_request().unwrap_err().to_string().contains("`budget`"));
    }

    #[test]
    fn outcome_values_become_assignments_with_model_as_default_source() {
        let a: OutcomeArgs = serde_json::from_value(json!({
            "session": "s1",
            "set": {"result": "success", "user_rating": 4, "tests_pass": true, "cost": 1.5}
        }))
        .unwrap();
        let r = a.to_request("token:tok-1").unwrap();
        assert_eq!(r.session, "s1");
        assert_eq!(r.set, ["result=success", "user_rating=4", "tests_pass=true", "cost=1.5"]);
        assert_eq!(r.source.as_deref(), Some("model"));
        assert_eq!(r.by.as_deref(), Some("token:tok-1"));
        let a: OutcomeArgs =
            serde_json::from_value(json!({"session": "s1", "set": {"success": "no"}, "source": "code"})).unwrap();
        assert_eq!(a.to_request("x").unwrap().source.as_deref(), Some("code"));
    }

    #[test]
    fn outcome_refuses_empty_sets_and_structured_values() {
        let a: OutcomeArgs = serde_json::from_value(json!({"session": "s1", "set": {}})).unwrap();
        assert!(a.to_request("x").unwrap_err().to_string().contains("`set` is empty"));
        let a: OutcomeArgs = serde_json::from_value(json!({"session": "s1", "set": {"success": ["yes"]}})).unwrap();
        assert!(a.to_request("x").unwrap_err().to_string().contains("`success`"));
        let a: OutcomeArgs = serde_json::from_value(json!({"session": "s1", "set": {"a=b": "yes"}})).unwrap();
        assert!(a.to_request("x").is_err());
    }

    #[test]
    fn appended_events_keep_their_json_as_raw() {
        let args = obj(json!({
            "session": "s1",
            "events": [
                {"role": "user", "kind": "user_message", "text": "run the tests", "timestamp": "2026-01-31T12:00:00Z"},
                {"role": "assistant", "kind": "tool_call", "tool_name": "Bash", "tool_input": {"command": "npm test"}, "tool_use_id": "t1"},
                {"role": "tool", "kind": "tool_result", "tool_use_id": "t1", "text": "1 failed", "is_error": true}
            ]
        }));
        let (session, events) = append_request(&args).unwrap();
        assert_eq!(session, "s1");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].role, Role::User);
        assert_eq!(events[0].timestamp.as_deref(), Some("2026-01-31T12:00:00Z"));
        let raw0: Value = serde_json::from_str(&events[0].raw).unwrap();
        assert_eq!(raw0, args["events"][0]);
        assert_eq!(events[1].kind, EventKind::ToolCall);
        assert_eq!(events[1].tool_input.as_deref(), Some(r#"{"command":"npm test"}"#));
        assert!(events[2].is_error);
        assert_eq!(events[2].text.as_deref(), Some("1 failed"));
    }

    #[test]
    fn bad_events_are_named_by_position() {
        let bad_role = obj(json!({"session": "s1", "events": [
            {"role": "user", "kind": "user_message", "text": "hi"},
            {"role": "robot", "kind": "user_message", "text": "hi"}
        ]}));
        let e = append_request(&bad_role).unwrap_err().to_string();
        assert!(e.starts_with("event 2: unknown role"), "{e}");
        let no_tool = obj(json!({"session": "s1", "events": [{"role": "assistant", "kind": "tool_call"}]}));
        assert!(append_request(&no_tool).unwrap_err().to_string().contains("tool_name"));
        let bad_time = obj(
            json!({"session": "s1", "events": [{"role": "user", "kind": "user_message", "text": "x", "timestamp": "yesterday"}]}),
        );
        assert!(append_request(&bad_time).unwrap_err().to_string().contains("invalid date"));
        let empty = obj(json!({"session": "s1", "events": []}));
        assert!(append_request(&empty).unwrap_err().to_string().contains("`events` is empty"));
        let missing = obj(json!({"events": []}));
        assert!(append_request(&missing).unwrap_err().to_string().contains("session"));
    }

    #[test]
    fn propose_trims_and_requires_kind_and_text() {
        let a: ProposeArgs =
            serde_json::from_value(json!({"kind": "fact", "text": " CI runs on Node 20 ", "scope": ""})).unwrap();
        let p = a.check().unwrap();
        assert_eq!(p.text, "CI runs on Node 20");
        assert_eq!(p.scope, None);
        let a: ProposeArgs = serde_json::from_value(json!({"kind": "fact", "text": ""})).unwrap();
        assert!(a.check().is_err());
    }
}
