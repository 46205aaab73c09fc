//! Projects through the service: a dream's project conventions reach the
//! agents working in that project, never those of another project (two
//! folders of one name included), and a bundle for no project says which
//! project each project memory belongs to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, Project, Role};
use nocturne_service::{Access, ContextBundle, ContextRequest, DreamSpec, NewMemory, Scoped, Service, ServiceError};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn service() -> Service {
    let t = Arc::new(AtomicI64::new(0));
    Service::with_store(
        Arc::new(SqliteStore::open_in_memory().unwrap()),
        Arc::new(move || format!("2026-03-01T10:{:02}:00Z", t.fetch_add(1, Ordering::SeqCst) % 60)),
    )
}

fn local(svc: &Service) -> Scoped<'_> {
    svc.scoped(Access::local_as("user:test"))
}

/// A session recorded (as Claude Code records it) in `cwd`, running `cmd`, which works.
fn session(id: &str, cwd: &str, cmd: &str) -> SessionRecord {
    let ev = |role, kind, text: &str, tool: Option<String>| NewEvent {
        role,
        kind,
        tool_name: (kind != EventKind::UserMessage).then(|| "Bash".to_string()),
        tool_input: tool,
        tool_use_id: (kind != EventKind::UserMessage).then(|| "toolu_1".to_string()),
        text: Some(text.into()),
        is_error: false,
        timestamp: Some("2026-02-20T10:00:00Z".into()),
        sidechain: false,
        source_line: None,
        raw: serde_json::json!({ "type": "user", "cwd": cwd }).to_string(),
    };
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "claude-code".into(),
            events: vec![
                ev(Role::User, EventKind::UserMessage, &format!("Fix the failing cart total of order {id}."), None),
                ev(Role::Assistant, EventKind::ToolCall, "", Some(serde_json::json!({ "command": cmd }).to_string())),
                ev(Role::Tool, EventKind::ToolResult, "12 passed", None),
            ],
            ..NewSession::default()
        },
        ingested_at: "2026-03-01T00:00:00Z".into(),
    }
}

/// Two checkouts both called `app` (npm in one, cargo in the other), two
/// sessions each, dreamt and applied; plus a memory of no project.
fn two_apps() -> Service {
    let svc = service();
    let records = vec![
        session("a1", "/srv/a/app", "npm test"),
        session("a2", "/srv/a/app", "npm test"),
        session("b1", "/srv/b/app", "cargo test"),
        session("b2", "/srv/b/app", "cargo test"),
    ];
    svc.store().append_sessions(&records).unwrap();
    local(&svc).dream(&DreamSpec::default(), true).unwrap();
    let general = NewMemory {
        kind: "fact".into(),
        text: "The tests need the database container running.".into(),
        tags: vec![],
        scope: None,
        priority: 0,
    };
    local(&svc).memory_add(&general, None).unwrap();
    svc
}

fn bundle(svc: &Service, project: Option<&str>) -> ContextBundle {
    local(svc)
        .context(&ContextRequest {
            task: "run the tests".into(),
            budget: 1000,
            project: project.map(str::to_string),
            ..ContextRequest::default()
        })
        .unwrap()
}

/// The bundle's texts, sorted.
fn texts(b: &ContextBundle) -> Vec<&str> {
    let mut t: Vec<&str> = b.bundle.items.iter().map(|i| i.text.as_str()).collect();
    t.sort();
    t
}

const NPM: &str = "In `app`, run the tests with `npm test`.";
const CARGO: &str = "In `app`, run the tests with `cargo test`.";
const GENERAL: &str = "The tests need the database container running.";

#[test]
fn a_projects_conventions_stay_out_of_another_projects_bundle() {
    let svc = two_apps();
    let b = bundle(&svc, Some("/srv/b/app"));
    assert_eq!(texts(&b), [CARGO, GENERAL], "{}", b.markdown);
    let a = bundle(&svc, Some("/srv/a/app"));
    assert_eq!(texts(&a), [NPM, GENERAL], "{}", a.markdown);
    // The bundle says which project it is for, by name and key, never by path.
    let a_id = Project::of_dir("/srv/a/app").unwrap().to_string();
    assert_eq!(a.project.as_deref(), Some(a_id.as_str()));
    assert!(!a.markdown.contains("/srv"), "{}", a.markdown);
    // Below the project's folder, and by its id, it is the same project.
    assert_eq!(texts(&bundle(&svc, Some("/srv/a/app/web/src"))), [NPM, GENERAL]);
    assert_eq!(texts(&bundle(&svc, Some(&a_id))), [NPM, GENERAL]);
    // A folder no memory is about gets only the memories of no project.
    assert_eq!(texts(&bundle(&svc, Some("/srv/c/app"))), [GENERAL]);
}

#[test]
fn a_bundle_for_no_project_holds_every_project_and_names_each() {
    let svc = two_apps();
    let all = bundle(&svc, None);
    let mut got: Vec<(&str, Option<String>)> =
        all.bundle.items.iter().map(|i| (i.text.as_str(), i.project.clone())).collect();
    got.sort();
    let id = |d: &str| Some(Project::of_dir(d).unwrap().to_string());
    assert_eq!(got, [(CARGO, id("/srv/b/app")), (NPM, id("/srv/a/app")), (GENERAL, None)]);
    assert_ne!(id("/srv/a/app"), id("/srv/b/app"), "two folders named app are two projects");
    for (text, project) in [(NPM, id("/srv/a/app")), (CARGO, id("/srv/b/app"))] {
        let line = all.markdown.lines().find(|l| l.contains(text)).unwrap();
        assert!(line.contains(&format!("project {}", project.unwrap())), "{line}");
    }
    assert!(all.project.is_none());
}

#[test]
fn an_empty_bundle_says_the_memories_are_of_other_projects() {
    let svc = service();
    let records = vec![session("a1", "/srv/a/app", "npm test"), session("a2", "/srv/a/app", "npm test")];
    svc.store().append_sessions(&records).unwrap();
    local(&svc).dream(&DreamSpec::default(), true).unwrap();
    let b = bundle(&svc, Some("/srv/b/app"));
    assert!(b.bundle.items.is_empty());
    let msg = b.message.unwrap();
    assert!(
        msg.contains("No memory for project app#") && msg.contains("the 1 memories in scope belong to other projects"),
        "{msg}"
    );
}

#[test]
fn the_markdown_export_can_hold_one_projects_memories() {
    let svc = two_apps();
    let md = local(&svc).export_markdown(Some("/srv/a/app")).unwrap();
    assert!(md.contains(NPM) && md.contains(GENERAL) && !md.contains(CARGO), "{md}");
    let all = local(&svc).export_markdown(None).unwrap();
    assert!(all.contains(NPM) && all.contains(CARGO), "{all}");
    assert!(all.contains(&Project::of_dir("/srv/b/app").unwrap().tag()), "each names its project: {all}");
}

#[test]
fn a_project_is_a_directory_or_an_id_and_a_project_tag_has_its_form() {
    let svc = two_apps();
    for bad in ["app", "srv/a/app", "app#123"] {
        let e = local(&svc)
            .context(&ContextRequest {
                task: "x".into(),
                budget: 100,
                project: Some(bad.into()),
                ..ContextRequest::default()
            })
            .unwrap_err();
        assert!(matches!(e, ServiceError::InvalidField { field: "project", .. }), "{bad}: {e}");
    }
    let tagged = |tags: &[&str]| NewMemory {
        kind: "fact".into(),
        text: "Deploys go through the release branch.".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        scope: None,
        priority: 0,
    };
    let e = local(&svc).memory_add(&tagged(&["project:/home/ana/app"]), None).unwrap_err();
    assert!(matches!(e, ServiceError::InvalidField { field: "tags", .. }), "{e}");
    let e = local(&svc).memory_add(&tagged(&["project:a#0123456789ab", "project:b#0123456789ab"]), None).unwrap_err();
    assert!(matches!(e, ServiceError::InvalidField { field: "tags", .. }), "{e}");
    // A memory written by hand for a project is that project's.
    let a = Project::of_dir("/srv/a/app").unwrap();
    local(&svc).memory_add(&tagged(&[&a.tag()]), None).unwrap();
    let deploy = |p: &str| {
        let b = local(&svc)
            .context(&ContextRequest {
                task: "deploy the release".into(),
                budget: 1000,
                project: Some(p.into()),
                ..ContextRequest::default()
            })
            .unwrap();
        b.bundle.items.iter().any(|i| i.text.starts_with("Deploys"))
    };
    assert!(deploy("/srv/a/app") && !deploy("/srv/b/app"));
}
