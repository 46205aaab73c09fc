use nocturne_core::{EventKind, Role};
use nocturne_ingest::{parse, Format};

use crate::common::session;

#[test]
fn header_carries_the_session_identity() {
    let s = session("nocturne.jsonl", Format::Nocturne);
    assert_eq!(s.id, "nightly-2025-09-14");
    assert_eq!(s.format, "nocturne");
    assert_eq!(s.user.as_deref(), Some("ana"));
    assert_eq!(s.agent.as_deref(), Some("shop-bot"));
    assert_eq!(s.team.as_deref(), Some("payments"));
    assert_eq!(s.title.as_deref(), Some("Nightly test triage"));
    assert_eq!(s.events.len(), 7);
    assert_eq!(s.events[0].source_line, Some(2));
}

#[test]
fn events_keep_their_normalized_fields() {
    let s = session("nocturne.jsonl", Format::Nocturne);
    let call = &s.events[1];
    assert_eq!(call.kind, EventKind::ToolCall);
    assert_eq!(call.tool_input.as_deref(), Some(r#"{"command":"npm test"}"#));
    let failed = &s.events[2];
    assert!(failed.is_error, "no flag: read from the text");
    let passed = &s.events[4];
    assert!(!passed.is_error);
    assert!(passed.raw.contains(r#""exit_code":0"#), "unknown fields stay in raw");
    let answer = &s.events[5];
    assert_eq!(answer.role, Role::Assistant, "role defaults from the kind");
    let last = &s.events[6];
    assert!(last.sidechain);
    assert_eq!(last.kind, EventKind::Other);
}

#[test]
fn a_header_alone_is_an_empty_session() {
    let s = session("nocturne-empty.jsonl", Format::Auto);
    assert_eq!(s.id, "empty-session");
    assert!(s.events.is_empty());
}

#[test]
fn several_headers_give_several_sessions() {
    let text = concat!(
        r#"{"nocturne":"session","version":1}"#,
        "\n",
        r#"{"kind":"user_message","text":"a"}"#,
        "\n",
        r#"{"nocturne":"session","version":1}"#,
        "\n",
        r#"{"kind":"user_message","text":"b"}"#,
        "\n",
        r#"{"nocturne":"session","version":1,"id":"third"}"#,
        "\n",
    );
    let all = parse("runs/batch.jsonl", text.as_bytes(), Format::Auto).unwrap();
    let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["batch", "batch-2", "third"]);
    assert_eq!(all[1].events[0].text.as_deref(), Some("b"));
    assert!(all.iter().all(|s| s.source.as_deref() == Some("runs/batch.jsonl")));
}

#[test]
fn the_documented_example_parses() {
    // Keep in sync with the example in docs/jsonl-format.md.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/jsonl-format.md")).unwrap();
    let start = doc.find("```jsonl\n").unwrap() + "```jsonl\n".len();
    let len = doc[start..].find("```").unwrap();
    let example = &doc[start..start + len];
    let all = parse("example.jsonl", example.as_bytes(), Format::Auto).unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].events.len() >= 5);
}
