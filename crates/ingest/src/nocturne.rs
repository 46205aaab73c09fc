//! Nocturne JSONL, our own interchange format (`docs/jsonl-format.md`).
//!
//! A header line `{"nocturne":"session","version":1,"id":...}` opens a
//! session; every following line is one normalized event, until the next
//! header. Unknown fields are allowed and kept in `raw`. A header may name
//! the session's `parent`, `subagent` and `counterpart` (sub-agent sessions
//! exported by Nocturne round-trip).

use nocturne_core::{Counterpart, EventKind, NewEvent, NewSession, Role, Subagent};
use serde_json::Value;

use crate::json::{compact, compact_obj, error_flag, opt_bool, opt_str, req_str, Base, Obj};
use crate::{object_line, Fail, Format};

/// The format version this importer reads.
pub(crate) const VERSION: u64 = 1;

pub(crate) fn parse(text: &str, stem: &str) -> Result<Vec<NewSession>, Fail> {
    let mut events = crate::Collected::default();
    let (mut sessions, _) = stream(&mut crate::TextLines(text), stem, &mut |at, _, e| {
        events.push(at, e);
        Ok(())
    })?;
    events.fill(&mut sessions);
    Ok(sessions)
}

/// Parses a Nocturne JSONL file read from `src` (twice: once to check every
/// line and read the headers, once for the events), handing each event to
/// `sink` with its session's index and id. The sessions come back without
/// their events, with the number of records read. Errors as when parsed
/// whole: a syntax error anywhere first, then the first other problem.
pub(crate) fn stream(
    src: &mut dyn crate::LineSource,
    stem: &str,
    sink: &mut dyn FnMut(usize, &str, NewEvent) -> Result<(), Fail>,
) -> Result<(Vec<NewSession>, usize), Fail> {
    let mut sessions: Vec<NewSession> = Vec::new();
    let mut problem: Option<Fail> = None;
    let mut records = 0usize;
    src.each(&mut |line, text| {
        let o = object_line(line, text)?;
        records += 1;
        if problem.is_some() {
            return Ok(());
        }
        if o.contains_key("nocturne") {
            let n = sessions.len();
            match header(&o, stem, n) {
                Ok(session) => sessions.push(session),
                Err(e) => problem = Some(Fail::at(line, e)),
            }
            return Ok(());
        }
        if sessions.is_empty() {
            problem = Some(no_header(line));
        } else if let Err(e) = event(&o, line) {
            problem = Some(Fail::at(line, e));
        }
        Ok(())
    })?;
    if let Some(e) = problem {
        return Err(e);
    }
    let mut at: Option<usize> = None;
    src.each(&mut |line, text| {
        let o = object_line(line, text)?;
        if o.contains_key("nocturne") {
            at = Some(at.map_or(0, |a| a + 1));
            return Ok(());
        }
        let Some(i) = at else { return Err(no_header(line)) };
        let e = event(&o, line).map_err(|e| Fail::at(line, e))?;
        let id = sessions.get(i).map_or("", |s| s.id.as_str());
        sink(i, id, e)
    })?;
    Ok((sessions, records))
}

fn no_header(line: u32) -> Fail {
    Fail::at(
        line,
        "expected a Nocturne session header ({\"nocturne\":\"session\",\"version\":1,...}) \
         as the first line",
    )
}

fn header(o: &Obj, stem: &str, n: usize) -> Result<NewSession, String> {
    match o.get("nocturne") {
        Some(Value::String(s)) if s == "session" => {}
        Some(v) => return Err(format!("\"nocturne\" must be \"session\", found {}", compact(v))),
        None => return Err("\"nocturne\" is missing".to_string()),
    }
    match o.get("version") {
        None => return Err("\"version\" is missing".to_string()),
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => return Err(format!("unsupported version {} (this importer reads version {VERSION})", compact(v))),
    }
    let id = match opt_str(o, "id")? {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => crate::nth_id(stem, n),
    };
    let field = |key: &str| opt_str(o, key).map(|v| v.map(str::to_string));
    let counterpart = match opt_str(o, "counterpart")? {
        None => None,
        Some(c) => Some(
            Counterpart::parse(c)
                .ok_or_else(|| format!("unknown counterpart \"{c}\" (expected operator, customer or agent)"))?,
        ),
    };
    let subagent = match o.get("subagent") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Subagent>(v.clone()).map_err(|e| {
            format!(
                "\"subagent\" must be {{\"agent_id\": ..., \"agent_type\"?, \"description\"?, \"compaction\"?}}: {e}"
            )
        })?),
    };
    Ok(NewSession {
        id,
        format: Format::Nocturne.as_str().to_string(),
        source: None,
        user: field("user")?,
        agent: field("agent")?,
        team: field("team")?,
        title: field("title")?,
        parent: field("parent")?,
        subagent,
        counterpart,
        outcome: None,
        events: Vec::new(),
    })
}

fn event(o: &Obj, line: u32) -> Result<NewEvent, String> {
    let kind_name = req_str(o, "kind")?;
    let kind = EventKind::parse(kind_name).ok_or_else(|| format!("unknown kind \"{kind_name}\""))?;
    let role = match opt_str(o, "role")? {
        Some(r) => Role::parse(r).ok_or_else(|| format!("unknown role \"{r}\""))?,
        None => match kind {
            EventKind::UserMessage => Role::User,
            EventKind::AssistantMessage | EventKind::ToolCall => Role::Assistant,
            EventKind::ToolResult => Role::Tool,
            EventKind::System | EventKind::EvaluatorCheck => Role::System,
            EventKind::Other => return Err("\"role\" is missing (required for kind \"other\")".to_string()),
        },
    };
    let base = Base {
        timestamp: opt_str(o, "timestamp")?.map(str::to_string),
        sidechain: opt_bool(o, "sidechain")?.unwrap_or(false),
        source_line: Some(line),
        raw: compact_obj(o),
    };
    let mut e = base.event(role, kind);
    e.text = opt_str(o, "text")?.map(str::to_string);
    e.tool_name = opt_str(o, "tool_name")?.map(str::to_string);
    e.tool_use_id = opt_str(o, "tool_use_id")?.map(str::to_string);
    e.tool_input = o.get("tool_input").filter(|v| !v.is_null()).map(compact);
    let flag = opt_bool(o, "is_error")?;
    e.is_error =
        if kind == EventKind::ToolResult { error_flag(flag, e.text.as_deref()) } else { flag.unwrap_or(false) };
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<NewEvent, String> {
        let v: Value = serde_json::from_str(line).unwrap();
        event(v.as_object().unwrap(), 2)
    }

    #[test]
    fn tool_result_error_flag_defaults_to_the_text() {
        let e = one(r#"{"kind":"tool_result","text":"npm ERR! Missing script: \"test\""}"#).unwrap();
        assert!(e.is_error);
        assert_eq!(e.role, Role::Tool);
        let e = one(r#"{"kind":"tool_result","text":"npm ERR! x","is_error":false}"#).unwrap();
        assert!(!e.is_error, "an explicit flag wins");
        let e = one(r#"{"kind":"tool_result","text":"ok","is_error":true}"#).unwrap();
        assert!(e.is_error);
        let e = one(r#"{"kind":"assistant_message","text":"Error: nothing"}"#).unwrap();
        assert!(!e.is_error, "only tool results are judged by their text");
    }

    #[test]
    fn role_defaults_from_kind() {
        assert_eq!(one(r#"{"kind":"tool_call"}"#).unwrap().role, Role::Assistant);
        assert_eq!(one(r#"{"kind":"system"}"#).unwrap().role, Role::System);
        assert!(one(r#"{"kind":"other"}"#).unwrap_err().contains("role"));
        assert!(one(r#"{"kind":"chat"}"#).unwrap_err().contains("unknown kind"));
        assert!(one(r#"{"role":"user"}"#).unwrap_err().contains("\"kind\" is missing"));
    }

    #[test]
    fn tool_input_is_any_json() {
        let e = one(r#"{"kind":"tool_call","tool_input":{"command": "ls"}}"#).unwrap();
        assert_eq!(e.tool_input.as_deref(), Some(r#"{"command":"ls"}"#));
        let e = one(r#"{"kind":"tool_call","tool_input":"ls -la"}"#).unwrap();
        assert_eq!(e.tool_input.as_deref(), Some(r#""ls -la""#));
    }
}
