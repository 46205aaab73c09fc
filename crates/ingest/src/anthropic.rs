//! Anthropic Messages API JSON: `{"messages": [...], "system"?: ..., "id"?: ...}`.
//!
//! The top-level `system` (a string or a list of text blocks) becomes one
//! `system` event with no `source_line` and `raw` = `{"system": ...}`. Each
//! message is `{"role": "user"|"assistant", "content": string | blocks}`;
//! blocks are read as in [`crate::blocks`]. Session id: the top-level `id`,
//! else the file stem; title: a top-level `title` string, if any.

use nocturne_core::{NewSession, Role};
use serde_json::{Map, Value};

use crate::blocks::{content_events, result_text, ToolNames};
use crate::json::{compact, describe, nth, object, opt_str, req, req_str, Base, Obj};
use crate::{json_documents, nth_id, Fail, Format};

pub(crate) fn parse(text: &str, stem: &str) -> Result<Vec<NewSession>, Fail> {
    let docs = json_documents(text, "Anthropic Messages")?;
    let mut sessions = Vec::with_capacity(docs.len());
    for (n, (line, doc)) in docs.iter().enumerate() {
        let exact_id = || crate::json::source_text(crate::document_text(text, *line)?, &[crate::json::Seg::Key("id")]);
        let session = document(doc, &nth_id(stem, n), exact_id).map_err(|f| f.on_line(*line))?;
        sessions.push(session);
    }
    Ok(sessions)
}

fn document<'t>(doc: &Obj, stem: &str, exact_id: impl FnOnce() -> Option<&'t str>) -> Result<NewSession, Fail> {
    let (id, title, messages) = document_header(doc, stem, exact_id)?;
    let mut events = Vec::new();

    if let Some(system) = doc.get("system").filter(|v| !v.is_null()) {
        let text = match system {
            Value::String(_) | Value::Array(_) => {
                result_text(Some(system)).map_err(|e| Fail::doc(format!("\"system\": {e}")))?
            }
            v => {
                return Err(Fail::doc(format!(
                    "\"system\" must be a string or an array of text blocks, found {}",
                    describe(v)
                )))
            }
        };
        let mut wrapper = Map::new();
        wrapper.insert("system".to_string(), system.clone());
        let base = Base { timestamp: None, sidechain: false, source_line: None, raw: compact(&Value::Object(wrapper)) };
        events.push(base.message(Role::System, text));
    }

    let mut names = ToolNames::new();
    for (i, message) in messages.iter().enumerate() {
        let n = nth(i);
        let fail = |e: String| Fail::doc(format!("message {n}: {e}"));
        let m = object(message).map_err(fail)?;
        let role = match req_str(m, "role").map_err(fail)? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => return Err(fail(format!("unknown role \"{other}\""))),
        };
        let base = Base {
            // Not part of the API; kept when an export adds it.
            timestamp: m.get("timestamp").and_then(Value::as_str).map(str::to_string),
            sidechain: false,
            source_line: Some(n),
            raw: compact(message),
        };
        let content = req(m, "content").map_err(fail)?;
        let before = events.len();
        content_events(content, role, &base, &mut names, &mut events).map_err(fail)?;
        if events.len() == before {
            events.push(base.message(role, None));
        }
    }

    Ok(NewSession {
        id,
        format: Format::Anthropic.as_str().to_string(),
        source: None,
        user: None,
        agent: None,
        team: None,
        title,
        parent: None,
        subagent: None,
        counterpart: None,
        outcome: None,
        events,
    })
}

/// Session id, title and the `messages` array of an Anthropic or OpenAI
/// document.
/// A numeric id (some exports) is taken as its source digits, which
/// `exact_id` reads from the document when parsing rounded them.
pub(crate) fn document_header<'a, 't>(
    doc: &'a Obj,
    stem: &str,
    exact_id: impl FnOnce() -> Option<&'t str>,
) -> Result<(String, Option<String>, &'a [Value]), Fail> {
    let id = match doc.get("id") {
        v @ Some(Value::Number(_)) => crate::json::id_text(v, exact_id),
        _ => opt_str(doc, "id").map_err(Fail::doc)?.map(str::to_string),
    };
    let title = opt_str(doc, "title").map_err(Fail::doc)?;
    let messages = match req(doc, "messages").map_err(Fail::doc)? {
        Value::Array(m) => m.as_slice(),
        v => return Err(Fail::doc(format!("\"messages\" must be an array, found {}", describe(v)))),
    };
    let id = match id {
        Some(id) if !id.trim().is_empty() => id,
        _ => stem.to_string(),
    };
    Ok((id, title.map(str::to_string), messages))
}
