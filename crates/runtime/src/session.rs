//! Each agent's transcript, as a session of the log: its events are made
//! from its journal entries, so a resumed agent makes the same events, and
//! they are appended by compare-and-append, so appending again what a
//! killed process had already appended is recognized and skipped.

use crate::agent::ToolResultText;
use crate::runner::Runtime;
use crate::RuntimeError;
use nocturne_core::{EventKind, NewEvent, Role};
use nocturne_provider::{ChatResponse, ToolCall};
use nocturne_service::runs::StartBody;
use nocturne_service::ServiceError;
use serde_json::json;

/// The sub-agent id of an agent path, as the session header and a
/// parent's spawn result name it (`root/3.2` → `root-3_2`).
pub fn agent_id(path: &str) -> String {
    path.replace('/', "-").replace('.', "_")
}

fn event(role: Role, kind: EventKind, text: Option<String>, raw: serde_json::Value) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: None,
        tool_input: None,
        tool_use_id: None,
        text,
        is_error: false,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: raw.to_string(),
    }
}

/// The system prompt and the task.
pub(crate) fn events_for_start(rt: &Runtime, path: &str, s: &StartBody) -> Vec<NewEvent> {
    let at = rt.replayed(path, 0, crate::runner::FINISHED).map(|e| e.at.clone());
    let mut v = vec![
        event(
            Role::System,
            EventKind::System,
            Some(s.system.clone()),
            json!({"run": rt.run_id, "agent": path, "step": 0, "type": "system"}),
        ),
        event(
            Role::User,
            EventKind::UserMessage,
            Some(s.user.clone()),
            json!({"run": rt.run_id, "agent": path, "step": 0, "type": "task"}),
        ),
    ];
    for e in &mut v {
        e.timestamp = at.clone();
    }
    v
}

/// What the model answered at `step` (its text and calls), or its failure.
pub(crate) fn events_for_turn(
    rt: &Runtime,
    path: &str,
    step: u32,
    resp: Option<&ChatResponse>,
    error: Option<&str>,
) -> Vec<NewEvent> {
    let at = rt.replayed(path, step, crate::runner::FINISHED).map(|e| e.at.clone());
    let raw = |t: &str| json!({"run": rt.run_id, "agent": path, "step": step, "type": t});
    let mut v = Vec::new();
    if let Some(r) = resp {
        if !r.text.is_empty() {
            v.push(event(Role::Assistant, EventKind::AssistantMessage, Some(r.text.clone()), raw("assistant")));
        }
        for c in &r.tool_calls {
            let mut e = event(Role::Assistant, EventKind::ToolCall, None, raw("tool_call"));
            e.tool_name = Some(c.name.clone());
            e.tool_input = Some(c.input.to_string());
            e.tool_use_id = Some(c.id.clone());
            v.push(e);
        }
    }
    if let Some(m) = error {
        let mut e = event(Role::System, EventKind::System, Some(format!("model call failed: {m}")), raw("model_error"));
        e.is_error = true;
        v.push(e);
    }
    for e in &mut v {
        e.timestamp = at.clone();
    }
    v
}

/// The results of the calls the model made at `step`.
pub(crate) fn events_for_tools(
    rt: &Runtime,
    path: &str,
    step: u32,
    calls: &[ToolCall],
    results: &[ToolResultText],
) -> Vec<NewEvent> {
    calls
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (c, r))| {
            let s = step + 1 + i as u32;
            let mut raw = json!({"run": rt.run_id, "agent": path, "step": s, "type": "tool_result"});
            if c.name == crate::tools::SPAWN {
                raw["toolUseResult"] = json!({"agentId": agent_id(&format!("{path}/{s}"))});
            }
            let mut e = event(Role::Tool, EventKind::ToolResult, Some(r.content.clone()), raw);
            e.tool_name = Some(c.name.clone());
            e.tool_use_id = Some(c.id.clone());
            e.is_error = r.is_error;
            e.timestamp =
                rt.replayed(path, s, crate::runner::FINISHED).map(|e| e.at.clone()).or_else(|| Some(rt.now()));
            e
        })
        .collect()
}

/// Appends an agent's events after those already stored.
pub(crate) struct SessionWriter {
    id: String,
    /// Events the agent has made so far.
    made: u32,
    /// Events stored when the writer opened.
    stored: u32,
}

impl SessionWriter {
    pub(crate) fn open(rt: &Runtime, id: &str) -> Result<Self, RuntimeError> {
        let s = rt.scoped().session_header(id)?;
        Ok(SessionWriter { id: id.to_string(), made: 0, stored: s.event_count })
    }

    /// Appends `events` unless a process before this one already did.
    pub(crate) fn append(&mut self, rt: &Runtime, events: &[NewEvent]) -> Result<(), RuntimeError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as u32;
        if self.made + n <= self.stored {
            self.made += n;
            return Ok(());
        }
        if self.made < self.stored {
            return Err(RuntimeError::Diverged {
                run: rt.run_id.clone(),
                step: self.id.clone(),
                why: format!("the session holds {} events, which ends inside a step", self.stored),
            });
        }
        let mut events = events.to_vec();
        for e in &mut events {
            if e.timestamp.is_none() {
                e.timestamp = Some(rt.now());
            }
        }
        match rt.scoped().append_events(&self.id, Some(self.made), &events) {
            Ok(count) => {
                self.made = count;
                self.stored = self.stored.max(count);
                Ok(())
            }
            Err(ServiceError::Conflict(m)) => {
                Err(RuntimeError::Diverged { run: rt.run_id.clone(), step: self.id.clone(), why: m })
            }
            Err(e) => Err(e.into()),
        }
    }
}
