//! Anthropic-style message content (a string or a list of typed blocks),
//! shared by the Anthropic Messages importer and the Claude Code importer.

use std::collections::HashMap;

use nocturne_core::{EventKind, NewEvent, Role};
use serde_json::Value;

use crate::json::{compact, describe, error_flag, object, opt_bool, opt_str, req_str, Base};

/// Tool names by tool-use id, so results can carry the name of their call.
pub(crate) type ToolNames = HashMap<String, String>;

/// Appends the events of one message's `content` to `out`. Adds nothing for
/// `null` content; the caller decides what an empty message becomes.
pub(crate) fn content_events(
    content: &Value,
    role: Role,
    base: &Base,
    names: &mut ToolNames,
    out: &mut Vec<NewEvent>,
) -> Result<(), String> {
    match content {
        Value::String(s) => out.push(base.message(role, Some(s.clone()))),
        Value::Array(blocks) => {
            for (i, block) in blocks.iter().enumerate() {
                block_event(block, role, base, names, out)
                    .map_err(|e| format!("content block {}: {e}", i.saturating_add(1)))?;
            }
        }
        Value::Null => {}
        v => return Err(format!("\"content\" must be a string or an array of blocks, found {}", describe(v))),
    }
    Ok(())
}

fn block_event(
    block: &Value,
    role: Role,
    base: &Base,
    names: &mut ToolNames,
    out: &mut Vec<NewEvent>,
) -> Result<(), String> {
    let o = object(block)?;
    let ty = req_str(o, "type")?;
    let event = match ty {
        "text" => base.message(role, Some(req_str(o, "text")?.to_string())),
        "tool_use" | "server_tool_use" | "mcp_tool_use" => {
            let name = req_str(o, "name")?;
            let id = opt_str(o, "id")?;
            if let Some(id) = id {
                names.insert(id.to_string(), name.to_string());
            }
            let mut e = base.event(Role::Assistant, EventKind::ToolCall);
            e.tool_name = Some(name.to_string());
            e.tool_use_id = id.map(str::to_string);
            e.tool_input = o.get("input").filter(|v| !v.is_null()).map(compact);
            e
        }
        "tool_result" => {
            let id = opt_str(o, "tool_use_id")?;
            let text = result_text(o.get("content"))?;
            let flag = opt_bool(o, "is_error")?;
            let mut e = base.event(Role::Tool, EventKind::ToolResult);
            e.is_error = error_flag(flag, text.as_deref());
            e.tool_name = id.and_then(|id| names.get(id)).cloned();
            e.tool_use_id = id.map(str::to_string);
            e.text = text;
            e
        }
        "thinking" => {
            let mut e = base.event(role, EventKind::Other);
            e.text = opt_str(o, "thinking")?.map(str::to_string);
            e
        }
        // image, document, redacted_thinking, search results, ...: kept whole
        // in `raw`, not interpreted.
        _ => base.event(role, EventKind::Other),
    };
    out.push(event);
    Ok(())
}

/// The text of a tool result's `content`: a string as is; a list of blocks
/// as its `text` blocks joined with "\n" (other blocks skipped); absent or
/// `null` as `None`.
pub(crate) fn result_text(content: Option<&Value>) -> Result<Option<String>, String> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let text = part_text(part).map_err(|e| format!("content part {}: {e}", i.saturating_add(1)))?;
                if let Some(t) = text {
                    texts.push(t);
                }
            }
            Ok(Some(texts.join("\n")))
        }
        Some(v) => Err(format!("\"content\" must be a string or an array of blocks, found {}", describe(v))),
    }
}

fn part_text(part: &Value) -> Result<Option<&str>, String> {
    let o = object(part)?;
    if req_str(o, "type")? == "text" {
        Ok(Some(req_str(o, "text")?))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(content: &str, role: Role) -> Result<Vec<NewEvent>, String> {
        let base = Base { timestamp: None, sidechain: false, source_line: Some(1), raw: "{}".into() };
        let mut names = ToolNames::new();
        names.insert("t1".into(), "Bash".into());
        let mut out = Vec::new();
        content_events(&serde_json::from_str(content).unwrap(), role, &base, &mut names, &mut out)?;
        Ok(out)
    }

    #[test]
    fn tool_result_flags() {
        let flagged =
            events(r#"[{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true}]"#, Role::User);
        let e = &flagged.unwrap()[0];
        assert!(e.is_error);
        assert_eq!((e.role, e.tool_name.as_deref()), (Role::Tool, Some("Bash")));

        let unflagged = events(
            r#"[{"type":"tool_result","tool_use_id":"t9","content":"fatal: not a git repository"}]"#,
            Role::User,
        );
        let e = &unflagged.unwrap()[0];
        assert!(e.is_error, "no flag: the text reads as a failure");
        assert_eq!(e.tool_name, None, "unknown call id");

        let cleared = events(r#"[{"type":"tool_result","content":"error: x","is_error":false}]"#, Role::User);
        assert!(!cleared.unwrap()[0].is_error, "an explicit false wins");

        let wrong = events(r#"[{"type":"tool_result","content":"x","is_error":"yes"}]"#, Role::User);
        assert_eq!(wrong.unwrap_err(), "content block 1: \"is_error\" must be a boolean, found a string");
    }

    #[test]
    fn result_text_joins_text_blocks_only() {
        let v: Value =
            serde_json::from_str(r#"[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]"#)
                .unwrap();
        assert_eq!(result_text(Some(&v)).unwrap().as_deref(), Some("a\nb"));
        assert_eq!(result_text(None).unwrap(), None);
        assert!(result_text(Some(&Value::from(3))).is_err());
        assert!(result_text(Some(&serde_json::json!(["bare string"]))).is_err());
    }

    #[test]
    fn unknown_and_malformed_blocks() {
        let e = events(r#"[{"type":"redacted_thinking","data":"x"}]"#, Role::Assistant).unwrap();
        assert_eq!(e[0].kind, EventKind::Other);
        assert_eq!(events(r#"[{"text":"x"}]"#, Role::User).unwrap_err(), "content block 1: \"type\" is missing");
        assert_eq!(
            events(r#"[{"type":"tool_use","id":"t"}]"#, Role::Assistant).unwrap_err(),
            "content block 1: \"name\" is missing"
        );
        assert_eq!(events("[1]", Role::User).unwrap_err(), "content block 1: expected a JSON object, found a number");
    }
}
