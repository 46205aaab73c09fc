//! What an evidence quote may quote. One definition for the dream planner's
//! guardrail, the review page, the quality suite and a model-backed pass:
//! a quote is *verbatim* when, after whitespace normalization, it is a
//! substring of one quotable text of the one event it cites.
//!
//! The quotable texts of an event are its text (a message's text, a tool
//! result's output), its tool name, and every string value of its tool
//! input (walked recursively; a string that is itself a JSON document is
//! walked too, as Codex stores `arguments`). Nothing else: not the raw
//! source record, not the timestamp, not other events.

use crate::session::NewEvent;

/// Collapses every run of whitespace to one space and trims.
pub fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn walk(v: &serde_json::Value, depth: usize, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let t = s.trim_start();
            if depth < 4 && (t.starts_with('{') || t.starts_with('[')) {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    walk(&inner, depth + 1, out);
                }
            }
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, depth, out)),
        Value::Object(m) => m.values().for_each(|x| walk(x, depth, out)),
        _ => {}
    }
}

/// The texts of `e` a quote may come from (see the module docs).
pub fn quotable_texts(e: &NewEvent) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &e.text {
        out.push(t.clone());
    }
    if let Some(n) = &e.tool_name {
        out.push(n.clone());
    }
    if let Some(input) = &e.tool_input {
        match serde_json::from_str::<serde_json::Value>(input) {
            Ok(v) => walk(&v, 0, &mut out),
            Err(_) => out.push(input.clone()),
        }
    }
    out
}

/// True when `quote` is verbatim text of `e` (whitespace-normalized
/// substring of one of its [`quotable_texts`]). An empty quote quotes
/// nothing and is always true.
pub fn quote_in_event(quote: &str, e: &NewEvent) -> bool {
    let q = normalize_ws(quote);
    if q.is_empty() {
        return true;
    }
    quotable_texts(e).iter().any(|t| normalize_ws(t).contains(&q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EventKind, Role};

    fn ev(text: Option<&str>, tool: Option<&str>, input: Option<&str>) -> NewEvent {
        NewEvent {
            role: Role::Assistant,
            kind: EventKind::ToolCall,
            tool_name: tool.map(str::to_string),
            tool_input: input.map(str::to_string),
            tool_use_id: None,
            text: text.map(str::to_string),
            is_error: false,
            timestamp: None,
            sidechain: false,
            source_line: None,
            raw: r#"{"secret":"raw only"}"#.into(),
        }
    }

    #[test]
    fn quotes_come_from_text_tool_name_and_input_strings() {
        let call = ev(None, Some("Bash"), Some(r#"{"command":"cd web &&\n  npm test","timeout":5}"#));
        assert!(quote_in_event("cd web && npm test", &call), "whitespace is normalized");
        assert!(quote_in_event("Bash", &call));
        assert!(!quote_in_event("raw only", &call), "the raw record is not quotable");
        assert!(!quote_in_event("npm test\n$ npm run test:unit", &call), "nothing stitched");
        let codex = ev(None, Some("shell"), Some(r#"{"arguments":"{\"cmd\":[\"rg\",\"-n\",\"compact\"]}"}"#));
        assert!(quote_in_event("compact", &codex), "JSON inside a string is walked");
        let result = ev(Some("Exit code 127\n/bin/bash: line 1: pytest: command not found"), None, None);
        assert!(quote_in_event("pytest: command not found", &result));
        assert!(quote_in_event("", &result));
        let not_json = ev(None, Some("edit"), Some("edit 287:295 and more"));
        assert!(quote_in_event("edit 287:295", &not_json));
    }
}
