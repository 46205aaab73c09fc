use nocturne_core::{EventKind, Role};
use nocturne_ingest::Format;

use crate::common::{of_kind, session};

const FILE: &str = "openai.json";

#[test]
fn developer_prompt_is_a_system_event() {
    let s = session(FILE, Format::OpenAi);
    assert_eq!(s.id, "chatcmpl-shop-0914");
    assert_eq!(s.format, "openai");
    let first = &s.events[0];
    assert_eq!((first.role, first.kind), (Role::System, EventKind::System));
    assert_eq!(first.source_line, Some(1));
}

#[test]
fn arguments_are_parsed_and_invalid_json_is_kept_as_a_string() {
    let s = session(FILE, Format::OpenAi);
    let inputs: Vec<_> = of_kind(&s, EventKind::ToolCall)
        .iter()
        .map(|e| (e.tool_name.clone().unwrap(), e.tool_input.clone().unwrap()))
        .collect();
    assert_eq!(
        inputs,
        [
            ("shell".to_string(), r#"{"cmd":["npm","test"]}"#.to_string()),
            // Missing closing brace: kept verbatim, JSON-encoded.
            ("shell".to_string(), r#""{\"cmd\": [\"npm\", \"run\", \"test:unit\"]""#.to_string()),
            ("read_file".to_string(), r#"{"path":"package.json"}"#.to_string()),
        ]
    );
}

#[test]
fn tool_results_get_their_name_and_an_error_flag_from_the_text() {
    let s = session(FILE, Format::OpenAi);
    let results: Vec<_> = of_kind(&s, EventKind::ToolResult)
        .iter()
        .map(|e| (e.role, e.tool_use_id.clone().unwrap(), e.tool_name.clone().unwrap(), e.is_error))
        .collect();
    assert_eq!(
        results,
        [
            (Role::Tool, "call_1".into(), "shell".into(), true),
            (Role::Tool, "call_2".into(), "shell".into(), false),
            (Role::Tool, "call_3".into(), "read_file".into(), false),
        ]
    );
    let read = of_kind(&s, EventKind::ToolResult)[2];
    assert_eq!(read.text.as_deref(), Some("{\n  \"scripts\": {\"test:unit\": \"jest\"}\n}"));
}

#[test]
fn assistant_text_and_tool_calls_of_one_message() {
    let s = session(FILE, Format::OpenAi);
    let fifth: Vec<_> = s.events.iter().filter(|e| e.source_line == Some(5)).map(|e| e.kind).collect();
    assert_eq!(fifth, [EventKind::AssistantMessage, EventKind::ToolCall, EventKind::ToolCall]);
    // Null content with tool calls: only the call.
    let third: Vec<_> = s.events.iter().filter(|e| e.source_line == Some(3)).collect();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].kind, EventKind::ToolCall);
}

#[test]
fn image_parts_are_other_events() {
    let s = session(FILE, Format::OpenAi);
    let eighth: Vec<_> =
        s.events.iter().filter(|e| e.source_line == Some(8)).map(|e| (e.role, e.kind, e.text.clone())).collect();
    assert_eq!(
        eighth,
        [
            (Role::User, EventKind::UserMessage, Some("And this screenshot?".into())),
            (Role::User, EventKind::Other, None),
        ]
    );
}

#[test]
fn legacy_function_calls_are_read() {
    let doc = r#"{"messages":[
        {"role":"assistant","content":null,"function_call":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
        {"role":"function","name":"get_weather","content":"Error: city service unavailable"}
    ]}"#;
    let s = nocturne_ingest::parse("w.json", doc.as_bytes(), Format::Auto).unwrap();
    let e = &s[0].events;
    assert_eq!(e[0].kind, EventKind::ToolCall);
    assert_eq!(e[0].tool_input.as_deref(), Some(r#"{"city":"Oslo"}"#));
    assert_eq!(e[1].kind, EventKind::ToolResult);
    assert_eq!(e[1].tool_name.as_deref(), Some("get_weather"));
    assert!(e[1].is_error);
}

#[test]
fn jsonl_of_conversations_gives_one_session_per_line() {
    let text = concat!(
        r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#,
        "\n\n",
        r#"{"id":"chat-b","messages":[{"role":"user","content":"run ls"},{"role":"tool","tool_call_id":"x","content":"ls: cannot access 'x': No such file or directory"}]}"#,
        "\n",
        r#"{"messages":[{"role":"user","content":"bye"}]}"#,
        "\n",
    );
    let all = nocturne_ingest::parse("data/train.jsonl", text.as_bytes(), Format::Auto).unwrap();
    let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["train", "chat-b", "train-3"]);
    assert!(all.iter().all(|s| s.format == "openai"));
    // source_line is the message number within its conversation.
    assert_eq!(all[1].events[1].source_line, Some(2));

    let bad = text.replace(r#"{"role":"user","content":"bye"}"#, r#"{"content":"bye"}"#);
    let e = nocturne_ingest::parse("data/train.jsonl", bad.as_bytes(), Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "data/train.jsonl:4: message 1: \"role\" is missing");
}
