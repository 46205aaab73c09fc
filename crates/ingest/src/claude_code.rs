//! Claude Code transcripts (`~/.claude/projects/**/*.jsonl`).
//!
//! One JSON object per line. `user` / `assistant` lines carry a Messages API
//! `message` (content blocks as in [`crate::blocks`]); tool results come as
//! `tool_result` blocks inside user messages. `summary` lines give the
//! session title and become `other` events; `system` and `attachment` lines
//! become `system` events; an enqueued prompt (`queue-operation` with
//! content) is an `other` event with role `system`; any other record type
//! is kept as an `other` event with role `system`. Records with no
//! conversation in them are skipped and counted ([`SKIPPED`]).
//!
//! Injected text ([`crate::inject::claude_text`], `isMeta` lines,
//! `isCompactSummary` lines) has role `system`; synthetic assistant lines
//! (`"model": "<synthetic>"`, API error notices) too.
//!
//! Sessions: one per distinct `sessionId`, in order of first appearance. A
//! line without `sessionId` belongs to the session holding the message its
//! `leafUuid` names (summaries), else to the session of the nearest earlier
//! line that has one, else to the first session of the file. A file with no
//! `sessionId` at all is one session named after the file stem.
//!
//! Sub-agents: the lines of a sub-agent transcript (`agent-<id>.jsonl`, old
//! layout beside the sessions or `<session>/subagents/`) carry the parent's
//! `sessionId`, an `agentId` and `isSidechain: true`. They form a child
//! session `<parent>/agent-<agentId>` whose parent is the lines' `sessionId`,
//! else [`Hints::parent`](crate::Hints), else the `<session>` folder of a
//! `<session>/subagents/` path. Sidechain lines without `agentId` inside a
//! main transcript stay in the main session, marked `sidechain`.
//!
//! Title: the last title the user gave (`custom-title`, from `/rename`),
//! else the first summary whose `leafUuid` is a message of the session, else
//! the first summary attached to the session, else the first real user
//! prompt.

use std::collections::HashMap;

use nocturne_core::{Counterpart, EventKind, NewEvent, NewSession, Role, Subagent};
use serde_json::Value;

use crate::blocks::{content_events, ToolNames};
use crate::inject::{claude_text, mark, Injected};
use crate::json::{compact, compact_obj, object, opt_bool, opt_str, req, req_str, Base, Obj};
use crate::{first_prompt_title, new_session, object_line, Ctx, Fail, FileReport, Format, Parsed, Spawn};

/// Record types that carry no conversation and are not stored: hook and
/// agent progress ticks (their content is in the sub-agent's own file), file
/// backup snapshots, permission-mode switches, and the last-prompt echo.
/// `queue-operation` records without `content` (dequeue, remove) are
/// skipped too.
pub(crate) const SKIPPED: [&str; 4] = ["progress", "file-history-snapshot", "permission-mode", "last-prompt"];

/// True when a record of type `ty` is skipped (see [`SKIPPED`]).
pub(crate) fn is_skipped(ty: &str, o: &Obj) -> bool {
    let no_content = match o.get("content") {
        None => true,
        Some(c) => is_empty_content(c),
    };
    SKIPPED.contains(&ty) || (ty == "queue-operation" && no_content)
}

fn is_empty_content(c: &Value) -> bool {
    match c {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Which session a record goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A main session by its `sessionId`.
    Main(String),
    /// A sub-agent by its agent id.
    Agent(String),
}

struct Draft {
    key: Key,
    /// The title of the first real user prompt (see [`first_prompt_title`]).
    first_prompt: Option<String>,
    /// (leafUuid, summary) of summary lines attached to this session.
    summaries: Vec<(Option<String>, String)>,
    /// The last title the user gave the session (`custom-title`, `/rename`).
    custom_title: Option<String>,
}

/// `agent-<id>.jsonl` → `<id>`.
fn file_agent_id(file: &str) -> Option<String> {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let id = name.strip_prefix("agent-")?.strip_suffix(".jsonl")?;
    (!id.is_empty()).then(|| id.to_string())
}

/// `.../<session>/subagents/agent-<id>.jsonl` → `<session>`.
fn folder_parent(file: &str) -> Option<String> {
    let mut parts = file.rsplit(['/', '\\']);
    let _name = parts.next()?;
    if parts.next()? != "subagents" {
        return None;
    }
    let session = parts.next()?;
    (!session.is_empty()).then(|| session.to_string())
}

/// `agentType` and `description` of a meta sidecar; a note when it is not
/// the expected JSON object.
fn read_meta(bytes: &[u8], report: &mut FileReport) -> (Option<String>, Option<String>) {
    let note = |report: &mut FileReport, why: String| {
        report.notes.push(format!("sub-agent meta data ignored: {why}"));
        (None, None)
    };
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return note(report, crate::json::syntax_reason(&e)),
    };
    let Some(o) = value.as_object() else {
        return note(report, format!("expected a JSON object, found {}", crate::json::describe(&value)));
    };
    let field = |k: &str| o.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    (field("agentType"), field("description"))
}

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let mut events = crate::Collected::default();
    let mut parsed = stream(&mut crate::TextLines(text), ctx, &mut |at, _, e| {
        events.push(at, e);
        Ok(())
    })?;
    events.fill(&mut parsed.sessions);
    Ok(parsed)
}

/// Parses a Claude Code file read from `src` (twice: once to find the
/// sessions, once for their events), handing each event to `sink` with the
/// index of its session as it is made: nothing of the file is held but one
/// record at a time and a few strings per record (its type, agent and
/// message uuid). The sessions returned carry no events (the sink had them);
/// their order is the index the sink was given.
pub(crate) fn stream(
    src: &mut dyn crate::LineSource,
    ctx: &Ctx<'_>,
    sink: &mut dyn FnMut(usize, &str, NewEvent) -> Result<(), Fail>,
) -> Result<Parsed, Fail> {
    let mut report = FileReport::default();
    let file_agent = file_agent_id(ctx.file);

    // Pass 1: each record's type and agent; sessions in order of first
    // appearance; which session each message uuid belongs to; the parent of
    // each agent (the first `sessionId` its lines carry). A syntax error
    // anywhere is reported before any other problem (the first of those).
    let mut keep: Vec<(u32, String, Option<String>)> = Vec::new();
    let mut order: Vec<Key> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut uuid_session: HashMap<String, usize> = HashMap::new();
    let mut agent_parent: HashMap<String, String> = HashMap::new();
    let mut problem: Option<Fail> = None;
    let mut records = 0;
    src.each(&mut |line, text| {
        let o = object_line(line, text)?;
        records += 1;
        if problem.is_some() {
            return Ok(());
        }
        if let Err(e) = first_pass(
            line,
            &o,
            &file_agent,
            &mut report,
            &mut keep,
            &mut order,
            &mut index,
            &mut uuid_session,
            &mut agent_parent,
        ) {
            problem = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = problem {
        return Err(e);
    }
    report.read(records);
    // A file of skipped records only (e.g. nothing but snapshots) has no
    // session: nothing to store, all of it counted in the report.
    if order.is_empty() && !keep.is_empty() {
        order.push(Key::Main(ctx.stem.clone()));
    }
    let mut drafts: Vec<Draft> = order
        .into_iter()
        .map(|key| Draft { key, first_prompt: None, summaries: Vec::new(), custom_title: None })
        .collect();

    let hinted_parent = ctx.hints.parent.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
    let parent_of = |agent: &str| -> Option<String> {
        agent_parent.get(agent).cloned().or_else(|| hinted_parent.clone()).or_else(|| folder_parent(ctx.file))
    };
    let child_id = |agent: &str, parent: &Option<String>| match parent {
        Some(p) => format!("{p}/agent-{agent}"),
        None => format!("agent-{agent}"),
    };
    // Session ids are known from pass 1: the sink is told each event's.
    let ids: Vec<String> = drafts
        .iter()
        .map(|d| match &d.key {
            Key::Main(id) => id.clone(),
            Key::Agent(a) => child_id(a, &parent_of(a)),
        })
        .collect();

    // Pass 2: events, of the records pass 1 kept (by line number; skipped
    // records are not parsed again).
    let mut names = ToolNames::new();
    let mut current: Option<usize> = None;
    let mut spawned: Vec<(usize, String, String)> = Vec::new();
    let mut next = 0usize;
    let mut buf: Vec<NewEvent> = Vec::new();
    src.each(&mut |line, text| {
        let Some((kline, ty, agent)) = keep.get(next) else { return Ok(()) };
        if *kline != line {
            return Ok(());
        }
        next += 1;
        let o = &object_line(line, text)?;
        let ty = ty.as_str();
        let sid = opt_str(o, "sessionId").map_err(|e| Fail::at(line, e))?;
        let leaf = opt_str(o, "leafUuid").map_err(|e| Fail::at(line, e))?;
        let key = match (agent, sid) {
            (Some(a), _) => Some(Key::Agent(a.clone())),
            (None, Some(s)) => Some(Key::Main(s.to_string())),
            (None, None) => None,
        };
        let at = match key.and_then(|k| index.get(&k).copied()) {
            Some(at) => {
                current = Some(at);
                at
            }
            None => leaf.and_then(|l| uuid_session.get(l).copied()).or(current).unwrap_or(0),
        };
        let Some(draft) = drafts.get_mut(at) else {
            return Ok(());
        };
        buf.clear();
        record_events(o, ty, line, &mut names, &mut buf).map_err(|e| Fail::at(line, e))?;
        if ty == "summary" {
            let summary = buf.first().and_then(|e| e.text.clone()).unwrap_or_default();
            if !summary.trim().is_empty() {
                draft.summaries.push((leaf.map(str::to_string), summary));
            }
        }
        if ty == "custom-title" {
            if let Some(t) = buf.first().and_then(|e| e.text.as_deref()).and_then(crate::title_of) {
                draft.custom_title = Some(t);
            }
        }
        if draft.first_prompt.is_none() {
            draft.first_prompt = first_prompt_title(&buf);
        }
        if let Some((tool_use_id, agent_id)) = spawn_of(o) {
            spawned.push((at, tool_use_id, agent_id));
        }
        let id = ids.get(at).map_or("", String::as_str);
        for e in buf.drain(..) {
            sink(at, id, e)?;
        }
        Ok(())
    })?;

    let (meta_type, meta_description) = match &ctx.hints.meta {
        Some(bytes) if file_agent.is_some() => read_meta(bytes, &mut report),
        _ => (None, None),
    };

    let mut sessions: Vec<NewSession> = Vec::with_capacity(drafts.len());
    for (at, d) in drafts.into_iter().enumerate() {
        let own = d.summaries.iter().find(|(leaf, _)| leaf.as_ref().is_some_and(|l| uuid_session.get(l) == Some(&at)));
        let title =
            d.custom_title.clone().or_else(|| own.or(d.summaries.first()).map(|(_, s)| s.clone())).or(d.first_prompt);
        let mut s = match d.key {
            Key::Main(id) => {
                let mut s = new_session(id, Format::ClaudeCode);
                s.counterpart = Some(Counterpart::Operator);
                s
            }
            Key::Agent(agent_id) => {
                let parent = parent_of(&agent_id);
                let id = child_id(&agent_id, &parent);
                let from_meta = file_agent.as_deref() == Some(agent_id.as_str());
                let mut s = new_session(id, Format::ClaudeCode);
                s.parent = parent;
                s.counterpart = Some(Counterpart::Agent);
                s.subagent = Some(Subagent {
                    compaction: agent_id.starts_with("acompact"),
                    agent_type: meta_type.clone().filter(|_| from_meta),
                    description: meta_description.clone().filter(|_| from_meta),
                    agent_id,
                });
                s
            }
        };
        s.title = title;
        sessions.push(s);
    }
    let spawns = spawned
        .into_iter()
        .filter_map(|(at, tool_use_id, agent_id)| {
            let session = sessions.get(at)?.id.clone();
            let child = format!("{session}/agent-{agent_id}");
            Some(Spawn { session, tool_use_id, agent_id, child })
        })
        .collect();
    Ok(Parsed { sessions, report, spawns })
}

/// A parent's `Task`/`Agent` result naming the sub-agent it ran:
/// (`tool_use_id`, `toolUseResult.agentId`).
/// Pass 1 of [`parse`] for one record (see there).
#[allow(clippy::too_many_arguments)]
fn first_pass(
    line: u32,
    o: &Obj,
    file_agent: &Option<String>,
    report: &mut FileReport,
    keep: &mut Vec<(u32, String, Option<String>)>,
    order: &mut Vec<Key>,
    index: &mut HashMap<Key, usize>,
    uuid_session: &mut HashMap<String, usize>,
    agent_parent: &mut HashMap<String, String>,
) -> Result<(), Fail> {
    let ty = req_str(o, "type").map_err(|e| Fail::at(line, e))?;
    if is_skipped(ty, o) {
        report.skip(ty);
        return Ok(());
    }
    let sid = opt_str(o, "sessionId").map_err(|e| Fail::at(line, e))?;
    let agent = match (opt_str(o, "agentId").map_err(|e| Fail::at(line, e))?, file_agent) {
        (Some(a), _) if file_agent.is_some() || o.get("isSidechain") == Some(&Value::Bool(true)) => Some(a.to_string()),
        (_, Some(f)) => Some(f.clone()),
        _ => None,
    };
    let key = match (&agent, sid) {
        (Some(a), _) => Some(Key::Agent(a.clone())),
        (None, Some(s)) => Some(Key::Main(s.to_string())),
        (None, None) => None,
    };
    if let (Some(a), Some(s)) = (&agent, sid) {
        agent_parent.entry(a.clone()).or_insert_with(|| s.to_string());
    }
    if let Some(key) = key {
        let at = match index.get(&key) {
            Some(at) => *at,
            None => {
                order.push(key.clone());
                index.insert(key, order.len().saturating_sub(1));
                order.len().saturating_sub(1)
            }
        };
        if let Some(uuid) = opt_str(o, "uuid").map_err(|e| Fail::at(line, e))? {
            uuid_session.entry(uuid.to_string()).or_insert(at);
        }
    }
    keep.push((line, ty.to_string(), agent));
    Ok(())
}

fn spawn_of(o: &Obj) -> Option<(String, String)> {
    let agent = o.get("toolUseResult")?.get("agentId")?.as_str()?.trim();
    if agent.is_empty() {
        return None;
    }
    let blocks = o.get("message")?.get("content")?.as_array()?;
    let id = blocks.iter().find_map(|b| {
        (b.get("type")?.as_str()? == "tool_result").then_some(())?;
        b.get("tool_use_id")?.as_str()
    })?;
    Some((id.to_string(), agent.to_string()))
}

/// A text field that may be a string, a list of strings or text blocks, or
/// absent; anything else gives no text (the record stays whole in `raw`).
fn loose_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
                .filter(|s| !s.is_empty())
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

fn record_events(o: &Obj, ty: &str, line: u32, names: &mut ToolNames, out: &mut Vec<NewEvent>) -> Result<(), String> {
    let base = Base {
        timestamp: opt_str(o, "timestamp")?.map(str::to_string),
        sidechain: opt_bool(o, "isSidechain")?.unwrap_or(false),
        source_line: Some(line),
        raw: compact_obj(o),
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
            let added = out.get_mut(before..).unwrap_or_default();
            if role == Role::User {
                let flag = if opt_bool(o, "isCompactSummary")?.unwrap_or(false) {
                    Some(Injected::Compaction)
                } else if opt_bool(o, "isMeta")?.unwrap_or(false) {
                    Some(Injected::System)
                } else {
                    None
                };
                for e in added {
                    let how = flag.or_else(|| {
                        (e.kind == EventKind::UserMessage).then(|| e.text.as_deref().and_then(claude_text)).flatten()
                    });
                    if let Some(how) = how {
                        mark(e, how);
                    }
                }
            } else if message.get("model").and_then(Value::as_str) == Some("<synthetic>") {
                for e in added {
                    if e.kind == EventKind::AssistantMessage {
                        e.kind = EventKind::System;
                    }
                    if e.role == Role::Assistant {
                        e.role = Role::System;
                    }
                }
            }
        }
        "summary" => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = opt_str(o, "summary")?.map(str::to_string);
            out.push(e);
        }
        "system" => out.push(base.message(Role::System, loose_text(o.get("content")))),
        "attachment" => {
            let a = o.get("attachment");
            let text = loose_text(a.and_then(|a| a.get("content")))
                .or_else(|| loose_text(a.and_then(|a| a.get("stdout"))))
                .or_else(|| a.and_then(|a| a.get("content")).filter(|c| !c.is_null()).map(compact));
            out.push(base.message(Role::System, text));
        }
        "custom-title" => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = opt_str(o, "customTitle")?.map(str::to_string);
            out.push(e);
        }
        "queue-operation" => {
            let mut e = base.event(Role::System, EventKind::Other);
            e.text = loose_text(o.get("content"));
            out.push(e);
        }
        _ => out.push(base.event(Role::System, EventKind::Other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_agent_paths() {
        assert_eq!(file_agent_id("p/agent-3430b97e.jsonl").as_deref(), Some("3430b97e"));
        assert_eq!(file_agent_id("p/agent-.jsonl"), None);
        assert_eq!(file_agent_id("p/7acd37a8.jsonl"), None);
        assert_eq!(folder_parent("x/ef958aa1/subagents/agent-a36e.jsonl").as_deref(), Some("ef958aa1"));
        assert_eq!(folder_parent("x/agent-a36e.jsonl"), None);
        assert_eq!(folder_parent("subagents/agent-a36e.jsonl"), None);
    }

    #[test]
    fn malformed_meta_is_a_note() {
        let mut report = FileReport::default();
        assert_eq!(read_meta(b"{\"agentType\": ", &mut report), (None, None));
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert_eq!(read_meta(b"[1]", &mut report), (None, None));
        assert_eq!(report.notes.len(), 2);
        let meta = br#"{"agentType":"Explore","description":"Find the tests"}"#;
        assert_eq!(read_meta(meta, &mut report), (Some("Explore".into()), Some("Find the tests".into())));
    }
}
