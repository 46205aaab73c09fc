use nocturne_core::{EventKind, Role};
use nocturne_ingest::Format;
use serde_json::Value;

use crate::common::{display, fixture, of_kind, session, sessions};

const FILE: &str = "claude-code.jsonl";
const SESSION: &str = "7f3c2a10-4b1e-4d6a-9c2f-1a2b3c4d5e6f";

#[test]
fn session_header_comes_from_the_transcript() {
    let s = session(FILE, Format::ClaudeCode);
    assert_eq!(s.id, SESSION);
    assert_eq!(s.format, "claude-code");
    assert_eq!(s.source.as_deref(), Some(display(FILE).as_str()));
    assert_eq!(s.title.as_deref(), Some("Fix failing npm test script"));
    assert_eq!((s.user.as_deref(), s.agent.as_deref(), s.team.as_deref()), (None, None, None));
    assert_eq!(
        s.time_span(),
        (Some("2025-09-14T09:12:01.120Z".to_string()), Some("2025-09-14T09:12:46.100Z".to_string()))
    );
}

#[test]
fn failed_npm_test_is_an_error_and_the_rerun_is_not() {
    let s = session(FILE, Format::ClaudeCode);
    let calls = of_kind(&s, EventKind::ToolCall);
    let commands: Vec<_> = calls
        .iter()
        .filter(|e| e.tool_name.as_deref() == Some("Bash"))
        .filter_map(|e| e.tool_input.as_deref())
        .collect();
    assert_eq!(
        commands,
        [
            r#"{"command":"npm test","description":"Run the test suite"}"#,
            r#"{"command":"ls test && jq .scripts package.json"}"#,
            r#"{"command":"npm run test:unit","description":"Run the unit tests"}"#,
        ]
    );

    let results = of_kind(&s, EventKind::ToolResult);
    let by_id = |id: &str| {
        results
            .iter()
            .find(|e| e.tool_use_id.as_deref() == Some(id))
            .copied()
            .unwrap_or_else(|| panic!("no result for {id}"))
    };
    let npm_test = by_id("toolu_01");
    assert!(npm_test.is_error);
    assert_eq!(npm_test.role, Role::Tool);
    assert_eq!(npm_test.tool_name.as_deref(), Some("Bash"));
    assert!(npm_test.text.as_deref().unwrap().starts_with("npm ERR! Missing script: \"test\""));

    let rerun = by_id("toolu_04");
    assert!(!rerun.is_error);
    assert!(rerun.text.as_deref().unwrap().contains("31 passed"));

    // No is_error flag in the source: the text decides.
    let ls = by_id("toolu_s1");
    assert!(ls.is_error, "Exit code: 2 reads as a failure");
    let edit = by_id("toolu_05");
    assert!(!edit.is_error);
    assert_eq!(edit.tool_name.as_deref(), Some("Edit"));
}

#[test]
fn list_content_of_tool_results_is_joined_and_images_skipped() {
    let s = session(FILE, Format::ClaudeCode);
    let task = s
        .events
        .iter()
        .find(|e| e.kind == EventKind::ToolResult && e.tool_use_id.as_deref() == Some("toolu_03"))
        .unwrap();
    assert_eq!(task.tool_name.as_deref(), Some("Task"));
    assert_eq!(
        task.text.as_deref(),
        Some("Tests live in `src/**/__tests__`; the only test script is `test:unit`.\nNo `test` script is defined.")
    );
}

#[test]
fn one_line_with_several_blocks_gives_several_events_sharing_raw() {
    let s = session(FILE, Format::ClaudeCode);
    let line4: Vec<_> = s.events.iter().filter(|e| e.source_line == Some(4)).collect();
    let kinds: Vec<_> = line4.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Other, EventKind::AssistantMessage, EventKind::ToolCall]);
    assert_eq!(line4[0].text.as_deref(), Some("Start by running the test suite to see the failure."));
    assert_eq!(line4[0].role, Role::Assistant);
    assert!(line4.iter().all(|e| e.raw == line4[0].raw));
    assert!(line4.iter().all(|e| e.timestamp.as_deref() == Some("2025-09-14T09:12:04.512Z")));
}

#[test]
fn raw_is_the_compact_source_line() {
    let bytes = fixture(FILE);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    let s = session(FILE, Format::ClaudeCode);
    for e in &s.events {
        let n = e.source_line.unwrap() as usize;
        let source: Value = serde_json::from_str(lines[n - 1]).unwrap();
        assert_eq!(e.raw, source.to_string(), "line {n}");
    }
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let s = session(FILE, Format::ClaudeCode);
    let mut lines: Vec<u32> = s.events.iter().filter_map(|e| e.source_line).collect();
    lines.dedup();
    // Line 9 is blank; line 2 is a file-history-snapshot (skipped, counted).
    assert_eq!(lines, (1..=19).filter(|n| *n != 9 && *n != 2).collect::<Vec<u32>>());
    let parsed = nocturne_ingest::parse_file(FILE, &fixture(FILE), Format::ClaudeCode, &Default::default()).unwrap();
    assert_eq!(parsed.report.records, 18);
    assert_eq!(parsed.report.skipped.get("file-history-snapshot"), Some(&1));
}

#[test]
fn sidechain_lines_are_marked() {
    let s = session(FILE, Format::ClaudeCode);
    let side: Vec<u32> = s.events.iter().filter(|e| e.sidechain).filter_map(|e| e.source_line).collect();
    assert_eq!(side, [8, 10, 11, 12]);
}

#[test]
fn summaries_images_and_system_lines_are_kept_snapshots_are_not() {
    let s = session(FILE, Format::ClaudeCode);
    let first = &s.events[0];
    assert_eq!((first.kind, first.role), (EventKind::Other, Role::System));
    assert_eq!(first.text.as_deref(), Some("Fix failing npm test script"));
    assert!(s.events.iter().all(|e| !e.raw.contains("file-history-snapshot")));

    let system = of_kind(&s, EventKind::System);
    assert_eq!(system.len(), 1);
    assert_eq!(system[0].text.as_deref(), Some("Running PostToolUse hooks…"));

    let image = s.events.iter().find(|e| e.source_line == Some(17) && e.kind == EventKind::Other).unwrap();
    assert_eq!((image.role, image.text.as_deref()), (Role::User, None));
    assert!(image.raw.contains("iVBORw0KGgoAAAANSUhEUg=="));
}

#[test]
fn a_file_with_two_session_ids_gives_two_sessions_in_order() {
    let all = sessions("claude-code-two-sessions.jsonl", Format::Auto);
    let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["7f3c2a10-4b1e-4d6a-9c2f-1a2b3c4d5e6f", "0b9d8e7f-1111-4222-8333-944455556666"]);
    let (a, b) = (&all[0], &all[1]);
    let lines = |s: &nocturne_core::NewSession| -> Vec<u32> { s.events.iter().filter_map(|e| e.source_line).collect() };
    // The summary's leafUuid names a message of the second session.
    assert_eq!(lines(a), [2, 3, 6]);
    assert_eq!(lines(b), [1, 4, 5]);
    assert_eq!(a.title.as_deref(), Some("Run cargo build"), "no summary: the first prompt");
    assert_eq!(b.title.as_deref(), Some("Rename config loader"));
    let result = of_kind(a, EventKind::ToolResult)[0];
    assert!(result.is_error, "rustc error[E0425] reads as a failure");
    assert_eq!(result.tool_name.as_deref(), Some("Bash"));
}

#[test]
fn lines_without_session_id_fall_back_to_the_file_stem() {
    let text = r#"{"type":"user","message":{"role":"user","content":"hi"}}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"hello"}]}}"#;
    let all = nocturne_ingest::parse("/tmp/abc123.jsonl", text.as_bytes(), Format::Auto).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, "abc123");
    assert_eq!(all[0].events.len(), 2);
}
