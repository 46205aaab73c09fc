//! Claude Code transcripts (`~/.claude/projects/**/*.jsonl`).
//!
//! One JSON object per line. `user` / `assistant` lines carry a Messages API
//! `message` (content blocks as in [`crate::blocks`]); tool results come as
//! `tool_result` blocks inside user messages. `summary` lines give the
//! session title and become `other` events; `system` lines become `system`
//! events; any other record type (`file-history-snapshot`, ...) is kept as an
//! `other` event with role `system`.
//!
//! Sessions: one per distinct `sessionId`, in order of first appearance. A
//! line without `sessionId` belongs to the session holding the message its
//! `leafUuid` names (summaries), else to the session of the nearest earlier
//! line that has one, else to the first session of the file. A file with no
//! `sessionId` at all is one session named after the file stem.
//!
//! Title: the first summary whose `leafUuid` is a message of the session,
//! else the first summary attached to the session.

use std::collections::HashMap;

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use serde_json::Value;

use crate::blocks::{content_events, ToolNames};
use crate::json::{compact, describe, object, opt_bool, opt_str, req, req_str, Base, Obj};
use crate::{jsonl_objects, Fail, Format};

struct Draft {
    id: String,
    events: Vec<NewEvent>,
    /// (leafUuid, summary) of summary lines attached to this session.
    summaries: Vec<(Option<String>, String)>,
}

pub(crate) fn parse(text: &str, stem: &str) -> Result<Vec<NewSession>, Fail> {
    let records = jsonl_objects(text)?;

    // Pass 1: sessions in order of first appearance, and which session each
    // message uuid belongs to.
    let mut order: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut uuid_session: HashMap<String, usize> = HashMap::new();
    for (line, o) in &records {
        let sid = opt_str(o, "sessionId").map_err(|e| Fail::at(*line, e))?;
        let Some(sid) = sid else { continue };
        let at = match index.get(sid) {
            Some(at) => *at,
            None => {
                order.push(sid.to_string());
                index.insert(sid.to_string(), order.len().saturating_sub(1));
                order.len().saturating_sub(1)
            }
        };
        if let Some(uuid) = opt_str(o, "uuid").map_err(|e| Fail::at(*line, e))? {
            uuid_session.entry(uuid.to_string()).or_insert(at);
        }
    }
    if order.is_empty() {
        order.push(stem.to_string());
    }
    let mut drafts: Vec<Draft> =
        order.into_iter().map(|id| Draft { id, events: Vec::new(), summaries: Vec::new() }).collect();

    // Pass 2: events.
    let mut names = ToolNames::new();
    let mut current: Option<usize> = None;
    for (line, o) in &records {
        let sid = opt_str(o, "sessionId").map_err(|e| Fail::at(*line, e))?;
        let leaf = opt_str(o, "leafUuid").map_err(|e| Fail::at(*line, e))?;
        let at = match sid.and_then(|s| index.get(s)) {
            Some(at) => {
                current = Some(*at);
                *at
            }
            None => leaf.and_then(|l| uuid_session.get(l).copied()).or(current).unwrap_or(0),
        };
        let Some(draft) = drafts.get_mut(at) else {
            continue;
        };
        let before = draft.events.len();
        record_events(o, *line, &mut names, &mut draft.events).map_err(|e| Fail::at(*line, e))?;
        if req_str(o, "type").ok() == Some("summary") {
            let summary = draft.events.get(before).and_then(|e| e.text.clone()).unwrap_or_default();
            if !summary.trim().is_empty() {
                draft.summaries.push((leaf.map(str::to_string), summary));
            }
        }
    }

    Ok(drafts
        .into_iter()
        .enumerate()
        .map(|(at, d)| {
            let own =
                d.summaries.iter().find(|(leaf, _)| leaf.as_ref().is_some_and(|l| uuid_session.get(l) == Some(&at)));
            let title = own.or(d.summaries.first()).map(|(_, s)| s.clone());
            NewSession {
                id: d.id,
                format: Format::ClaudeCode.as_str().to_string(),
                source: None,
                user: None,
                agent: None,
                team: None,
                title,
                parent: None,
                subagent: None,
                counterpart: None,
                outcome: None,
                events: d.events,
            }
        })
        .collect())
}

fn record_events(o: &Obj, line: u32, names: &mut ToolNames, out: &mut Vec<NewEvent>) -> Result<(), String> {
    let ty = req_str(o, "type")?;
    let base = Base {
        timestamp: opt_str(o, "timestamp")?.map(str::to_string),
        sidechain: opt_bool(o, "isSidechain")?.unwrap_or(false),
        source_line: Some(line),
        raw: compact(&Value::Object(o.clone())),
    };
    match ty {
        "user" | "assistant" => {
            let message = object(req(o, "message")?).map_err(|e| format!("\"message\": {e}"))?;
            let role = match opt_str(message, "role").map_err(|e| format!("\"message\": {e}"))? {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some(other) => return Err(format!("\"message\": unknown role \"{other}\"")),
                None if ty == "user" => Role::User,
                None => Role::Assistant,
            };
            let content = req(message, "content").map_err(|e| format!("\"message\": {e}"))?;
            let before = out.len();
            content_events(content, role, &base, names, out).map_err(|e| format!("\"message\": {e}"))?;
            if out.len() == before {
                out.push(base.message(role, None));
            }
        }
        "summary" => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = opt_str(o, "summary")?.map(str::to_string);
            out.push(e);
        }
        "system" => {
            let text = match o.get("content") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => return Err(format!("\"content\" must be a string, found {}", describe(v))),
            };
            out.push(base.message(Role::System, text));
        }
        _ => out.push(base.event(Role::System, EventKind::Other)),
    }
    Ok(())
}
