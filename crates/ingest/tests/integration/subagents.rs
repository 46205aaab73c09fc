//! Claude Code sub-agents as sessions of their own, linked to their parent,
//! whatever the layout and whichever file is read first.

use nocturne_core::{Counterpart, EventKind, Role};
use nocturne_ingest::{parse_file, Format, Hints};

use crate::common::{display, fixture, parsed};

const PARENT: &str = "5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50";
const MAIN: &str = "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50.jsonl";
const NEW: &str = "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-a1b2c3d4e5f601234.jsonl";
const META: &str =
    "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-a1b2c3d4e5f601234.meta.json";
const COMPACT: &str = "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-acompact-7f8e9d.jsonl";
const OLD: &str = "claude-code-project/agent-9c2b663e.jsonl";

fn with_meta() -> Hints {
    Hints { meta: Some(fixture(META)), parent: None }
}

#[test]
fn a_sub_agent_file_is_a_child_session_of_its_parent() {
    let p = parsed(NEW, Format::Auto, &with_meta());
    assert_eq!(p.sessions.len(), 1);
    let s = &p.sessions[0];
    assert_eq!(s.id, format!("{PARENT}/agent-a1b2c3d4e5f601234"));
    assert_eq!(s.parent.as_deref(), Some(PARENT), "from the lines' sessionId");
    assert_eq!(s.counterpart, Some(Counterpart::Agent));
    let sub = s.subagent.as_ref().unwrap();
    assert_eq!(sub.agent_id, "a1b2c3d4e5f601234");
    assert_eq!(sub.agent_type.as_deref(), Some("Explore"));
    assert_eq!(sub.description.as_deref(), Some("Find the tests"));
    assert!(!sub.compaction);
    assert_eq!(s.title.as_deref(), Some("List the test folders of this repo."), "the parent's prompt");
    assert!(s.events.iter().all(|e| e.sidechain));
    assert_eq!(s.events[0].role, Role::User, "the child keeps its first prompt");
}

#[test]
fn without_meta_the_type_and_description_are_unknown() {
    let s = parsed(NEW, Format::ClaudeCode, &Hints::default()).sessions.remove(0);
    let sub = s.subagent.unwrap();
    assert_eq!((sub.agent_type, sub.description), (None, None));
    assert_eq!(s.id, format!("{PARENT}/agent-a1b2c3d4e5f601234"));
}

#[test]
fn a_malformed_meta_sidecar_is_noted_not_fatal() {
    let hints = Hints { meta: Some(fixture("malformed/broken.meta.json")), parent: None };
    let p = parsed(NEW, Format::ClaudeCode, &hints);
    assert_eq!(p.sessions[0].subagent.as_ref().unwrap().agent_type, None);
    assert_eq!(p.report.notes.len(), 1, "{:?}", p.report.notes);
    assert!(p.report.notes[0].starts_with("sub-agent meta data ignored: truncated JSON"), "{:?}", p.report.notes);
}

#[test]
fn compaction_agents_without_session_ids_take_the_parent_from_the_folder() {
    let s = parsed(COMPACT, Format::Auto, &Hints::default()).sessions.remove(0);
    assert_eq!(s.id, format!("{PARENT}/agent-acompact-7f8e9d"));
    assert_eq!(s.parent.as_deref(), Some(PARENT), "the <session>/subagents/ folder");
    assert!(s.subagent.unwrap().compaction);
}

#[test]
fn a_parent_hint_wins_over_the_folder_but_not_over_the_lines() {
    let hint = Hints { meta: None, parent: Some("hinted".into()) };
    let s = parsed(COMPACT, Format::ClaudeCode, &hint).sessions.remove(0);
    assert_eq!((s.id.as_str(), s.parent.as_deref()), ("hinted/agent-acompact-7f8e9d", Some("hinted")));
    let s = parsed(NEW, Format::ClaudeCode, &hint).sessions.remove(0);
    assert_eq!(s.parent.as_deref(), Some(PARENT));
}

#[test]
fn old_layout_agent_files_are_children_too() {
    let s = parsed(OLD, Format::Auto, &Hints::default()).sessions.remove(0);
    assert_eq!(s.id, format!("{PARENT}/agent-9c2b663e"));
    assert_eq!(s.parent.as_deref(), Some(PARENT));
    assert_eq!(s.subagent.unwrap().agent_id, "9c2b663e");
}

#[test]
fn the_main_transcript_keeps_its_id_and_names_the_agents_it_spawned() {
    let p = parsed(MAIN, Format::Auto, &Hints::default());
    assert_eq!(p.sessions.len(), 1);
    let s = &p.sessions[0];
    assert_eq!((s.id.as_str(), s.parent.as_deref(), s.subagent.as_ref()), (PARENT, None, None));
    assert_eq!(s.counterpart, Some(Counterpart::Operator));
    assert_eq!(s.title.as_deref(), Some("Where the tests live"), "the user's /rename wins over the summary");
    assert_eq!(p.spawns.len(), 1);
    let spawn = &p.spawns[0];
    assert_eq!((spawn.session.as_str(), spawn.tool_use_id.as_str()), (PARENT, "toolu_t1"));
    let child = parsed(NEW, Format::Auto, &Hints::default()).sessions.remove(0);
    assert_eq!(spawn.child, child.id, "the spawn names the child session");
    // The parent's Task call and its result are in the parent's events.
    let call = s.events.iter().find(|e| e.kind == EventKind::ToolCall).unwrap();
    assert_eq!((call.tool_name.as_deref(), call.tool_use_id.as_deref()), (Some("Task"), Some("toolu_t1")));
    let result = s.events.iter().find(|e| e.tool_use_id.as_deref() == Some("toolu_t1") && e.role == Role::Tool);
    assert!(result.unwrap().raw.contains("\"agentId\":\"a1b2c3d4e5f601234\""));
}

#[test]
fn reading_order_never_changes_the_sessions() {
    let files = [MAIN, NEW, COMPACT, OLD];
    let ids = |order: &[&str]| {
        let mut ids: Vec<(String, Option<String>, usize)> = order
            .iter()
            .flat_map(|f| {
                let hints = if *f == NEW { with_meta() } else { Hints::default() };
                parse_file(&display(f), &fixture(f), Format::Auto, &hints).unwrap().sessions
            })
            .map(|s| (s.id, s.parent, s.events.len()))
            .collect();
        ids.sort();
        ids
    };
    let forward = ids(&files);
    let mut reversed = files;
    reversed.reverse();
    assert_eq!(forward, ids(&reversed));
    let unique: std::collections::BTreeSet<_> = forward.iter().map(|(id, _, _)| id).collect();
    assert_eq!(unique.len(), files.len(), "every file has its own session: {forward:?}");
}

#[test]
fn the_compaction_summary_in_the_parent_is_not_the_user() {
    let s = parsed(MAIN, Format::Auto, &Hints::default()).sessions.remove(0);
    let summary = s.events.iter().find(|e| e.source_line == Some(7)).unwrap();
    assert_eq!((summary.role, summary.kind), (Role::System, EventKind::Other));
}
