//! Claude Code harness text written as `user` lines is kept, but as
//! `system`: nothing the harness wrote passes for something a person said.

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_ingest::{parse_file, Format, Hints};

use crate::common::{display, fixture, session};

const FILE: &str = "claude-code-injected.jsonl";

fn at(s: &NewSession, line: u32) -> Vec<&NewEvent> {
    s.events.iter().filter(|e| e.source_line == Some(line)).collect()
}

fn one(s: &NewSession, line: u32) -> &NewEvent {
    let events = at(s, line);
    assert_eq!(events.len(), 1, "line {line}: {events:?}");
    events[0]
}

#[test]
fn every_kind_of_injected_line_is_system() {
    let s = session(FILE, Format::Auto);
    // caveat (isMeta), /model command, its stdout, `!` bash input, bash
    // output, system-reminder (isMeta), interruption, prompt hook output,
    // Stop hook feedback, skill expansion (isMeta), interruption.
    for line in [5, 6, 7, 8, 9, 11, 14, 18, 19, 20, 24] {
        let e = one(&s, line);
        assert_eq!((e.role, e.kind), (Role::System, EventKind::System), "line {line}: {:?}", e.text);
    }
    let compaction = one(&s, 23);
    assert_eq!((compaction.role, compaction.kind), (Role::System, EventKind::Other));
    assert!(compaction.text.as_deref().unwrap().starts_with("This session is being continued"));
}

#[test]
fn what_the_person_typed_stays_the_user() {
    let s = session(FILE, Format::Auto);
    let ide = at(&s, 10);
    assert_eq!(ide.len(), 2);
    assert_eq!((ide[0].role, ide[0].kind), (Role::System, EventKind::System), "the IDE's context block");
    assert_eq!((ide[1].role, ide[1].kind), (Role::User, EventKind::UserMessage), "the typed question");
    let typed = one(&s, 17);
    assert_eq!((typed.role, typed.text.as_deref()), (Role::User, Some("use pnpm, not npm")));
    let prose = one(&s, 21);
    assert_eq!(prose.role, Role::User, "prose that mentions <command-name> is the person's");
    let users: Vec<_> = s.events.iter().filter(|e| e.role == Role::User).filter_map(|e| e.source_line).collect();
    assert_eq!(users, [10, 17, 21]);
}

#[test]
fn the_title_is_the_first_real_prompt() {
    let s = session(FILE, Format::Auto);
    assert_eq!(
        s.title.as_deref(),
        Some("Why does `npm test` say the script is missing? Add one that runs the unit tests.")
    );
}

#[test]
fn records_without_conversation_are_counted_not_stored() {
    let p = parse_file(&display(FILE), &fixture(FILE), Format::Auto, &Hints::default()).unwrap();
    assert_eq!(p.report.records, 27);
    let skipped: Vec<(&str, u64)> = p.report.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        skipped,
        [
            ("file-history-snapshot", 1),
            ("last-prompt", 1),
            ("permission-mode", 1),
            ("progress", 1),
            ("queue-operation", 1)
        ]
    );
    let s = &p.sessions[0];
    let lines: std::collections::BTreeSet<u32> = s.events.iter().filter_map(|e| e.source_line).collect();
    let skipped_lines = [1, 2, 3, 16, 27];
    let expected: std::collections::BTreeSet<u32> = (1..=27).filter(|n| !skipped_lines.contains(n)).collect();
    assert_eq!(lines, expected, "every other record is an event");
}

#[test]
fn unknown_records_attachments_and_queued_prompts_are_kept() {
    let s = session(FILE, Format::Auto);
    let unknown = one(&s, 25);
    assert_eq!((unknown.role, unknown.kind), (Role::System, EventKind::Other));
    assert!(unknown.raw.contains("future-record"));
    let attachment = one(&s, 4);
    assert_eq!((attachment.role, attachment.kind), (Role::System, EventKind::System));
    assert_eq!(attachment.text.as_deref(), Some("clmail session registered: shop-api"));
    let queued = one(&s, 15);
    assert_eq!(
        (queued.role, queued.kind, queued.text.as_deref()),
        (Role::System, EventKind::Other, Some("use pnpm, not npm"))
    );
}
