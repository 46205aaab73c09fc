use nocturne_core::{EventKind, Role};
use nocturne_ingest::Format;
use serde_json::Value;

use crate::common::{fixture, of_kind, session};

const FILE: &str = "anthropic.json";

#[test]
fn session_id_and_system_prompt() {
    let s = session(FILE, Format::Anthropic);
    assert_eq!(s.id, "conv_shop_api_0914");
    assert_eq!(s.format, "anthropic");
    let system = &s.events[0];
    assert_eq!((system.role, system.kind), (Role::System, EventKind::System));
    assert_eq!(system.source_line, None);
    assert!(system.text.as_deref().unwrap().starts_with("You are a coding agent"));
    assert!(system.raw.starts_with(r#"{"system":[{"type":"text""#));
}

#[test]
fn tool_calls_and_results_are_paired_with_error_flags() {
    let s = session(FILE, Format::Anthropic);
    let calls: Vec<_> = of_kind(&s, EventKind::ToolCall)
        .iter()
        .map(|e| (e.tool_use_id.clone().unwrap(), e.tool_input.clone().unwrap()))
        .collect();
    assert_eq!(calls[0], ("toolu_A1".into(), r#"{"command":"npm test"}"#.into()));
    assert_eq!(calls.len(), 4);

    let results = of_kind(&s, EventKind::ToolResult);
    let flags: Vec<_> =
        results.iter().map(|e| (e.tool_use_id.as_deref().unwrap(), e.tool_name.as_deref(), e.is_error)).collect();
    assert_eq!(
        flags,
        [
            ("toolu_A1", Some("bash"), true),  // is_error: true
            ("toolu_A2", Some("bash"), false), // list content, no flag
            ("toolu_A3", Some("bash"), false), // passing tests, no flag
            ("toolu_A4", Some("bash"), true),  // "command not found", no flag
        ]
    );
    assert_eq!(
        results[1].text.as_deref(),
        Some("Scripts available in shop-api via `npm run-script`:\n  build\n    tsc -p .\n  test:unit\n    jest --selectProjects unit")
    );
}

#[test]
fn source_line_is_the_message_number_and_raw_the_message() {
    let s = session(FILE, Format::Anthropic);
    let doc: Value = serde_json::from_slice(&fixture(FILE)).unwrap();
    let messages = doc["messages"].as_array().unwrap();
    for e in s.events.iter().skip(1) {
        let n = e.source_line.unwrap() as usize;
        assert_eq!(e.raw, messages[n - 1].to_string());
    }
    // Message 7: a tool result then a user text block.
    let seventh: Vec<_> = s.events.iter().filter(|e| e.source_line == Some(7)).map(|e| (e.role, e.kind)).collect();
    assert_eq!(seventh, [(Role::Tool, EventKind::ToolResult), (Role::User, EventKind::UserMessage)]);
    let last = s.events.last().unwrap();
    assert_eq!((last.kind, last.source_line), (EventKind::AssistantMessage, Some(10)));
}

#[test]
fn thinking_and_images_are_other_events() {
    let s = session(FILE, Format::Anthropic);
    let other: Vec<_> = of_kind(&s, EventKind::Other).iter().map(|e| (e.role, e.text.clone())).collect();
    assert_eq!(other, [(Role::Assistant, Some("Run the suite first.".to_string())), (Role::User, None)]);
}

#[test]
fn without_an_id_the_file_stem_names_the_session() {
    let doc = r#"{"system":"be brief","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[]}]}"#;
    let all = nocturne_ingest::parse("exports/chat-42.json", doc.as_bytes(), Format::Auto).unwrap();
    assert_eq!(all[0].id, "chat-42");
    assert_eq!(all[0].format, "anthropic");
    // Empty content still leaves a trace of the message.
    let last = all[0].events.last().unwrap();
    assert_eq!((last.kind, last.text.as_deref()), (EventKind::AssistantMessage, None));
}

#[test]
fn numeric_ids_are_kept_and_other_id_types_refused() {
    let doc = r#"{"id":42,"system":"x","messages":[{"role":"user","content":"hi"}]}"#;
    let all = nocturne_ingest::parse("a.json", doc.as_bytes(), Format::Anthropic).unwrap();
    assert_eq!(all[0].id, "42");
    let doc = r#"{"id":[1],"system":"x","messages":[]}"#;
    let e = nocturne_ingest::parse("a.json", doc.as_bytes(), Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "a.json: \"id\" must be a string, found an array");
}
