//! Operator corrections as a user sees them in proposals: what the operator
//! told the agent when he stopped or corrected it, in two sessions, becomes
//! one general lesson; dreaming again over the same sessions proposes
//! nothing; new sessions saying it again confirm it once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use nocturne_core::{EventKind, Memory, NewEvent, NewSession, Op, OpKind, Proposal, Role};
use nocturne_dream::{dream, DreamConfig, Snapshot};
use serde_json::json;
use support::apply;

fn ev(role: Role, kind: EventKind, text: &str) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: None,
        tool_input: None,
        tool_use_id: None,
        text: Some(text.into()),
        is_error: false,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    }
}

const REJECTED: &str = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was \
                        a file edit, the new_string was NOT written to the file). STOP what you are doing and wait \
                        for the user to tell you how to proceed.";

/// The agent edits a file, the operator rejects the edit and says what he
/// wants instead.
fn corrected(id: &str, request: &str, said: &str, day: u32) -> NewSession {
    let mut call = ev(Role::Assistant, EventKind::ToolCall, "");
    call.text = None;
    call.tool_name = Some("Edit".into());
    call.tool_input = Some(json!({"file_path": format!("/home/ana/{id}/app.py"), "old_string": "x"}).to_string());
    call.tool_use_id = Some("t1".into());
    let mut result = ev(Role::Tool, EventKind::ToolResult, REJECTED);
    result.tool_name = Some("Edit".into());
    result.tool_use_id = Some("t1".into());
    result.is_error = true;
    let events = vec![
        ev(Role::User, EventKind::UserMessage, request),
        ev(Role::Assistant, EventKind::AssistantMessage, "I'll add a helper for that."),
        call,
        result,
        ev(Role::System, EventKind::System, "[Request interrupted by user for tool use]"),
        ev(Role::User, EventKind::UserMessage, said),
    ];
    let mut s = NewSession { id: id.into(), format: "nocturne".into(), events, ..NewSession::default() };
    for (i, e) in s.events.iter_mut().enumerate() {
        e.timestamp = Some(format!("2026-02-{day:02}T10:00:{i:02}Z"));
    }
    s
}

fn cfg(now: &str) -> DreamConfig {
    DreamConfig { now: now.into(), ..DreamConfig::default() }
}

fn corrections(p: &Proposal) -> Vec<&Op> {
    p.ops.iter().filter(|o| o.pass == "corrections").collect()
}

#[test]
fn corrections_make_one_lesson_and_a_second_dream_proposes_nothing() {
    let ss = vec![
        corrected(
            "s1",
            "hide empty groups in the timeline",
            "You can set group.visible with the library, less work",
            1,
        ),
        corrected("s2", "link the combined page", "Do we even need _generate_html_with_combined_link then?", 2),
    ];
    let snap = |ms: Vec<Memory>| Snapshot::from_new_sessions(1, &ss, ms, "2026-02-10T00:00:00Z");
    let first = dream(&snap(vec![]), &cfg("2026-03-01T00:00:00Z"), "d1").unwrap();
    let ops = corrections(&first);
    assert_eq!(ops.len(), 1, "{:#?}", first.ops);
    let o = ops[0];
    assert_eq!(o.op, OpKind::Create);
    assert!(o.text.starts_with("Keep changes simple: reuse existing code"), "{}", o.text);
    assert_eq!(o.scope.to_string(), "org", "no operator named: the sessions' own scope");
    // Each quote is the operator's sentence, or the call he stopped.
    let quotes: Vec<&str> = o.evidence.iter().map(|e| e.quote.as_str()).collect();
    assert!(quotes.contains(&"Do we even need _generate_html_with_combined_link then?"), "{quotes:?}");
    assert!(quotes.contains(&"/home/ana/s1/app.py"), "the rejected Edit: {quotes:?}");
    assert!(!quotes.iter().any(|q| q.contains("doesn't want to proceed")), "no harness text: {quotes:?}");
    assert!(!o.text.contains("/home/") && !o.text.contains("_generate_html"), "{}", o.text);

    let after = apply(&first, &[], "2026-03-01T00:00:00Z");
    let second = dream(&snap(after.clone()), &cfg("2026-03-01T00:00:00Z"), "d2").unwrap();
    assert!(corrections(&second).is_empty(), "the same sessions again: {:#?}", second.ops);
    let third = dream(&snap(after.clone()), &cfg("2026-03-02T00:00:00Z"), "d3").unwrap();
    assert!(corrections(&third).is_empty(), "a day later, nothing new: {:#?}", third.ops);

    // Two new sessions saying it again confirm the lesson, once.
    let new = vec![
        corrected("n1", "add a session nav", "could we reuse the session nav component for that?", 20),
        corrected("n2", "track sync state", "this field is redundant, don't overcomplicate", 21),
    ];
    let snap2 = Snapshot::from_new_sessions(1, &new, after, "2026-03-05T00:00:00Z");
    let fourth = dream(&snap2, &cfg("2026-03-05T00:00:00Z"), "d4").unwrap();
    let promotes: Vec<&Op> = fourth.ops.iter().filter(|o| o.op == OpKind::Promote).collect();
    assert_eq!(promotes.len(), 1, "{:#?}", fourth.ops);
    assert!(promotes[0].evidence.iter().all(|e| e.session.starts_with('n')), "{promotes:#?}");
    assert!(corrections(&fourth).iter().all(|o| o.op != OpKind::Create), "{:#?}", fourth.ops);
}

#[test]
fn one_correction_per_session_in_one_session_only_is_no_lesson() {
    let ss = vec![corrected("s1", "hide empty groups", "You can set group.visible with the library, less work", 1)];
    let p =
        dream(&Snapshot::from_new_sessions(1, &ss, vec![], "2026-02-10T00:00:00Z"), &cfg("2026-03-01T00:00:00Z"), "d")
            .unwrap();
    assert!(corrections(&p).is_empty(), "{:#?}", p.ops);
}
