//! Small helpers over `serde_json::Value`: typed field access with readable
//! error reasons, compact re-serialization, and the event template shared by
//! every importer.

use nocturne_core::failure::looks_like_failure;
use nocturne_core::{EventKind, NewEvent, Role};
use serde_json::{Map, Value};

pub(crate) type Obj = Map<String, Value>;

/// "a number", "an array", ... for error messages.
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A step into a JSON document: an object's key or an array's index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The source text of the value at `path` in the document `text`, as it
/// is written there (a number keeps all its digits). Reads only the
/// containers on the path, borrowing their members unparsed.
pub(crate) fn source_text<'t>(text: &'t str, path: &[Seg<'_>]) -> Option<&'t str> {
    use serde_json::value::RawValue;
    let mut at: &'t RawValue = serde_json::from_str(text).ok()?;
    for seg in path {
        at = match seg {
            Seg::Key(k) => {
                let m: std::collections::HashMap<String, &'t RawValue> = serde_json::from_str(at.get()).ok()?;
                m.get(*k).copied()?
            }
            Seg::Index(i) => {
                let v: Vec<&'t RawValue> = serde_json::from_str(at.get()).ok()?;
                v.get(*i).copied()?
            }
        };
    }
    Some(at.get())
}

/// An id as text: a string trimmed; a number as its source digits (a
/// number beyond 64 bits is not rounded: `12345678901234567890123` stays
/// that, never `1.2345678901234568e22`), which `exact` finds in the
/// document when the parsed value lost them.
pub(crate) fn id_text<'t>(v: Option<&Value>, exact: impl FnOnce() -> Option<&'t str>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) if n.is_f64() => Some(exact().map_or_else(|| n.to_string(), str::to_string)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Compact JSON text of a value (keys in source order).
pub(crate) fn compact(v: &Value) -> String {
    v.to_string()
}

/// Compact JSON text of an object, without copying it first.
pub(crate) fn compact_obj(o: &Obj) -> String {
    serde_json::to_string(o).unwrap_or_default()
}

pub(crate) fn object(v: &Value) -> Result<&Obj, String> {
    v.as_object().ok_or_else(|| format!("expected a JSON object, found {}", describe(v)))
}

/// A string field; absent or `null` is `None`, any other type an error.
pub(crate) fn opt_str<'a>(o: &'a Obj, key: &str) -> Result<Option<&'a str>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(format!("\"{key}\" must be a string, found {}", describe(v))),
    }
}

pub(crate) fn req_str<'a>(o: &'a Obj, key: &str) -> Result<&'a str, String> {
    opt_str(o, key)?.ok_or_else(|| format!("\"{key}\" is missing"))
}

/// A boolean field; absent or `null` is `None`, any other type an error.
pub(crate) fn opt_bool(o: &Obj, key: &str) -> Result<Option<bool>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(format!("\"{key}\" must be a boolean, found {}", describe(v))),
    }
}

/// A field that must be present (any type, `null` included).
pub(crate) fn req<'a>(o: &'a Obj, key: &str) -> Result<&'a Value, String> {
    o.get(key).ok_or_else(|| format!("\"{key}\" is missing"))
}

/// The error flag of a tool result: an explicit `is_error` boolean is
/// authoritative; when the source has none, the result text decides
/// ([`looks_like_failure`]).
pub(crate) fn error_flag(flag: Option<bool>, text: Option<&str>) -> bool {
    match flag {
        Some(b) => b,
        None => text.is_some_and(looks_like_failure),
    }
}

/// 1-based counters as `u32`, saturating (files with 4 billion lines are
/// not a concern, but must not panic either).
pub(crate) fn nth(index: usize) -> u32 {
    u32::try_from(index.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The kind of a plain message from its role.
pub(crate) fn message_kind(role: Role) -> EventKind {
    match role {
        Role::User => EventKind::UserMessage,
        Role::Assistant => EventKind::AssistantMessage,
        Role::System => EventKind::System,
        Role::Tool => EventKind::ToolResult,
    }
}

/// What every event read from one source record shares.
pub(crate) struct Base {
    pub timestamp: Option<String>,
    pub sidechain: bool,
    pub source_line: Option<u32>,
    pub raw: String,
}

impl Base {
    pub(crate) fn event(&self, role: Role, kind: EventKind) -> NewEvent {
        NewEvent {
            role,
            kind,
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: None,
            is_error: false,
            timestamp: self.timestamp.clone(),
            sidechain: self.sidechain,
            source_line: self.source_line,
            raw: self.raw.clone(),
        }
    }

    /// A plain message event carrying `text`.
    pub(crate) fn message(&self, role: Role, text: Option<String>) -> NewEvent {
        let mut e = self.event(role, message_kind(role));
        e.text = text;
        e
    }
}

/// Reason text for a JSON syntax error, without serde's "at line L column C"
/// suffix (the line is reported separately).
pub(crate) fn syntax_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    match e.classify() {
        serde_json::error::Category::Eof => format!("truncated JSON ({msg})"),
        _ => format!("invalid JSON at column {}: {msg}", e.column()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_error_flags_win_over_the_text() {
        assert!(error_flag(Some(true), Some("all good")));
        assert!(!error_flag(Some(false), Some("npm ERR! Missing script: \"test\"")));
    }

    #[test]
    fn missing_error_flags_are_read_from_the_text() {
        assert!(error_flag(None, Some("npm ERR! Missing script: \"test\"")));
        assert!(error_flag(None, Some("bash: foo: command not found")));
        assert!(!error_flag(None, Some("> jest\nTests: 12 passed, 12 total")));
        assert!(!error_flag(None, None));
    }

    #[test]
    fn syntax_reasons_drop_the_position_suffix() {
        let e = serde_json::from_str::<Value>("{\"a\": ").unwrap_err();
        assert_eq!(syntax_reason(&e), "truncated JSON (EOF while parsing a value)");
        let e = serde_json::from_str::<Value>("{\"a\" 1}").unwrap_err();
        assert_eq!(syntax_reason(&e), "invalid JSON at column 6: expected `:`");
    }
}
