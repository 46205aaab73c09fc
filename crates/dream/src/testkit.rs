//! Building small sessions in unit tests.

use crate::SessionData;
use nocturne_core::{Counterpart, EventKind, NewEvent, NewSession, Role};

/// A session under construction: `user`, `call`, `sh`, `tool` append events.
pub struct Sess {
    pub s: NewSession,
    n: u32,
}

fn ev(role: Role, kind: EventKind) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: None,
        tool_input: None,
        tool_use_id: None,
        text: None,
        is_error: false,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    }
}

impl Sess {
    pub fn new(id: &str) -> Sess {
        Sess { s: NewSession { id: id.into(), format: "nocturne".into(), ..NewSession::default() }, n: 0 }
    }

    pub fn customer(mut self) -> Sess {
        self.s.counterpart = Some(Counterpart::Customer);
        self
    }

    pub fn user(mut self, text: &str) -> Sess {
        let mut e = ev(Role::User, EventKind::UserMessage);
        e.text = Some(text.into());
        self.s.events.push(e);
        self
    }

    /// An event of any role and kind carrying `text` (system records,
    /// interrupted turns, …).
    pub fn event(mut self, role: Role, kind: EventKind, text: &str) -> Sess {
        let mut e = ev(role, kind);
        e.text = Some(text.into());
        self.s.events.push(e);
        self
    }

    pub fn assistant(mut self, text: &str) -> Sess {
        let mut e = ev(Role::Assistant, EventKind::AssistantMessage);
        e.text = Some(text.into());
        self.s.events.push(e);
        self
    }

    /// A call of `tool` with `input` and its result.
    pub fn tool(mut self, tool: &str, input: serde_json::Value, out: &str, is_error: bool) -> Sess {
        self.n += 1;
        let id = format!("c{}", self.n);
        let mut c = ev(Role::Assistant, EventKind::ToolCall);
        c.tool_name = Some(tool.into());
        c.tool_input = Some(input.to_string());
        c.tool_use_id = Some(id.clone());
        let mut r = ev(Role::Tool, EventKind::ToolResult);
        r.tool_name = Some(tool.into());
        r.tool_use_id = Some(id);
        r.text = Some(out.into());
        r.is_error = is_error;
        self.s.events.push(c);
        self.s.events.push(r);
        self
    }

    pub fn sh(self, cmd: &str, out: &str, is_error: bool) -> Sess {
        self.tool("Bash", serde_json::json!({ "command": cmd }), out, is_error)
    }

    /// A call whose tool the format did not name (τ-bench's `assistant:
    /// None`) and its result.
    pub fn unnamed(mut self, out: &str, is_error: bool) -> Sess {
        self.s.events.push(ev(Role::Assistant, EventKind::ToolCall));
        let mut r = ev(Role::Tool, EventKind::ToolResult);
        r.text = Some(out.into());
        r.is_error = is_error;
        self.s.events.push(r);
        self
    }

    /// A result with no call (aider's output).
    pub fn orphan(mut self, tool: &str, out: &str, is_error: bool) -> Sess {
        let mut r = ev(Role::Tool, EventKind::ToolResult);
        r.tool_name = Some(tool.into());
        r.text = Some(out.into());
        r.is_error = is_error;
        self.s.events.push(r);
        self
    }

    pub fn build(self) -> NewSession {
        self.s
    }

    pub fn data(self) -> SessionData {
        SessionData::from_new(&self.s, "2026-01-01T00:00:00Z")
    }
}
