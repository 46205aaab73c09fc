//! Dreams through the service: idempotent, scoped so memory reaches the
//! agent by default, and context bundles that say why they are empty.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, OpKind, Role, Scope, ScopeLevel};
use nocturne_service::{Access, ContextRequest, DreamSpec, MemoryFilter, NewMemory, OpSelection, Scoped, Service};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The service as the local user `user:test` (from outside the crate its
/// operations are reached through `Scoped`).
struct Local(Service);

impl Local {
    fn s(&self) -> Scoped<'_> {
        self.0.scoped(Access::local_as("user:test"))
    }
    fn store(&self) -> &dyn nocturne_store::Store {
        self.0.store()
    }
    fn dream(
        &self,
        spec: &DreamSpec,
        apply: bool,
        _author: &str,
    ) -> nocturne_service::Result<(nocturne_core::Proposal, Option<nocturne_core::Revision>)> {
        self.s().dream(spec, apply)
    }
    fn memories(&self, f: &MemoryFilter) -> nocturne_service::Result<Vec<nocturne_core::Memory>> {
        self.s().memories(f)
    }
    fn context(&self, r: &ContextRequest) -> nocturne_service::Result<nocturne_service::ContextBundle> {
        self.s().context(r)
    }
    fn memory_add(
        &self,
        m: &NewMemory,
        _author: &str,
        rev: Option<u64>,
    ) -> nocturne_service::Result<(nocturne_core::Memory, nocturne_core::Revision)> {
        self.s().memory_add(m, rev)
    }
    fn apply_dream(
        &self,
        id: &str,
        sel: &OpSelection,
        _author: &str,
    ) -> nocturne_service::Result<nocturne_core::Revision> {
        self.s().apply_dream(id, sel)
    }
}

/// A service whose clock moves one minute per reading, from 2026-03-01.
fn service() -> Local {
    let t = Arc::new(AtomicI64::new(0));
    Local(Service::with_store(
        Arc::new(SqliteStore::open_in_memory().unwrap()),
        Arc::new(move || {
            let m = t.fetch_add(1, Ordering::SeqCst);
            format!("2026-03-{:02}T{:02}:{:02}:00Z", 1 + m / 1440, m / 60 % 24, m % 60)
        }),
    ))
}

fn ev(role: Role, kind: EventKind, text: &str, tool: Option<(&str, String)>, is_error: bool) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: tool.as_ref().map(|(n, _)| n.to_string()),
        tool_input: tool.map(|(_, i)| i),
        tool_use_id: None,
        text: Some(text.into()),
        is_error,
        timestamp: Some("2026-02-20T10:00:00Z".into()),
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    }
}

/// A session of `user` (team `shop` when given), opening with its own
/// request, where `docker-compose` fails and `docker compose` works, and
/// the user states a taste.
fn session(id: &str, user: Option<&str>, team: Option<&str>) -> SessionRecord {
    let call = |cmd: &str| {
        ev(
            Role::Assistant,
            EventKind::ToolCall,
            "",
            Some(("Bash", serde_json::json!({ "command": cmd }).to_string())),
            false,
        )
    };
    let out = |t: &str, err: bool| ev(Role::Tool, EventKind::ToolResult, t, None, err);
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            user: user.map(str::to_string),
            team: team.map(str::to_string),
            events: vec![
                ev(
                    Role::User,
                    EventKind::UserMessage,
                    &format!("Start the stack for ticket {id}. I prefer tabs in every YAML file."),
                    None,
                    false,
                ),
                call("docker-compose up -d"),
                out("bash: docker-compose: command not found", true),
                call("docker compose up -d"),
                out("Container api  Started", false),
            ],
            ..NewSession::default()
        },
        ingested_at: "2026-03-01T00:00:00Z".into(),
    }
}

fn ingest(svc: &Local, records: &[SessionRecord]) {
    svc.store().append_sessions(records).unwrap();
}

#[test]
fn dreaming_twice_over_the_same_sessions_proposes_nothing_the_second_time() {
    let svc = service();
    ingest(&svc, &(0..4).map(|i| session(&format!("s{i}"), Some("ana"), Some("shop"))).collect::<Vec<_>>());
    let (first, rev) = svc.dream(&DreamSpec::default(), true, "user:test").unwrap();
    assert!(rev.is_some() && first.ops.iter().any(|o| o.op == OpKind::Create), "{:#?}", first.ops);
    for _ in 0..3 {
        let (again, _) = svc.dream(&DreamSpec::default(), true, "user:test").unwrap();
        assert!(again.ops.is_empty(), "the same sessions again: {:#?}", again.ops);
    }
    let prios: Vec<i32> = svc.memories(&MemoryFilter::default()).unwrap().iter().map(|m| m.priority).collect();
    assert!(prios.iter().all(|p| *p == 0), "priorities did not creep: {prios:?}");

    // New sessions showing the same lesson confirm it once.
    let later: Vec<SessionRecord> = (4..7)
        .map(|i| SessionRecord {
            ingested_at: "2026-03-02T00:00:00Z".into(),
            ..session(&format!("s{i}"), Some("bob"), Some("shop"))
        })
        .collect();
    ingest(&svc, &later);
    let (p, _) = svc.dream(&DreamSpec::default(), true, "user:test").unwrap();
    let promotes: Vec<_> = p.ops.iter().filter(|o| o.op == OpKind::Promote).collect();
    assert!(!promotes.is_empty() && p.ops.iter().all(|o| o.op != OpKind::Create), "{:#?}", p.ops);
    let (p, _) = svc.dream(&DreamSpec::default(), false, "user:test").unwrap();
    assert!(p.ops.is_empty(), "{:#?}", p.ops);
}

#[test]
fn one_users_lessons_reach_the_team_and_the_default_context() {
    let svc = service();
    ingest(&svc, &(0..3).map(|i| session(&format!("s{i}"), Some("ana"), Some("shop"))).collect::<Vec<_>>());
    let (p, _) = svc.dream(&DreamSpec::default(), true, "user:test").unwrap();
    let scope_of = |kind: &str| p.ops.iter().find(|o| o.kind.as_str() == kind).map(|o| o.scope.clone());
    assert_eq!(scope_of("mistake"), Some(Scope { level: ScopeLevel::Team, name: Some("shop".into()) }));
    assert_eq!(scope_of("preference"), Some(Scope { level: ScopeLevel::User, name: Some("ana".into()) }));

    // No --user/--team: every scope the caller may see.
    let all =
        svc.context(&ContextRequest { task: "start the docker stack".into(), budget: 1000, ..Default::default() });
    let all = all.unwrap();
    assert_eq!(all.bundle.items.len(), 2, "{}", all.markdown);
    assert!(all.message.is_none());
    // Another team's bundle gets neither the team's lesson nor ana's taste.
    let other = svc
        .context(&ContextRequest {
            task: "start the docker stack".into(),
            budget: 1000,
            team: Some("web".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(other.bundle.items.is_empty());
    let msg = other.message.unwrap();
    assert!(msg.contains("org, team:web") && msg.contains("2 active memories"), "{msg}");
    assert_eq!(other.markdown.trim(), msg);
    // The team sees its lesson, not ana's taste.
    let team = svc
        .context(&ContextRequest {
            task: "start the docker stack".into(),
            budget: 1000,
            team: Some("shop".into()),
            ..Default::default()
        })
        .unwrap();
    let kinds: Vec<&str> = team.bundle.items.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["mistake"]);
}

#[test]
fn sessions_without_a_user_give_org_lessons_and_no_user_unknown() {
    let svc = service();
    ingest(&svc, &(0..3).map(|i| session(&format!("s{i}"), None, None)).collect::<Vec<_>>());
    let (p, _) = svc.dream(&DreamSpec::default(), true, "user:test").unwrap();
    assert!(!p.ops.is_empty());
    assert!(p.ops.iter().all(|o| o.scope == Scope::org()), "{:#?}", p.ops);
    assert!(svc.memories(&MemoryFilter::default()).unwrap().iter().all(|m| m.scope.level != ScopeLevel::User));
}

#[test]
fn an_irrelevant_memory_stays_out_and_the_empty_bundle_says_why() {
    let svc = service();
    let add = |kind: &str, text: &str| {
        let m = NewMemory { kind: kind.into(), text: text.into(), tags: vec![], scope: None, priority: 0 };
        svc.memory_add(&m, "user:test", None).unwrap().0
    };
    let fact = add("fact", "The staging database is read-only on weekends.");
    let rule = add("mistake", "`docker-compose` is gone here: run `docker compose up -d` instead.");
    let b = svc
        .context(&ContextRequest { task: "rename the invoice PDF field".into(), budget: 2000, ..Default::default() })
        .unwrap();
    let ids: Vec<&str> = b.bundle.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, [rule.id.as_str()], "the standing rule comes, the unrelated fact does not: {}", b.markdown);
    let b = svc
        .context(&ContextRequest { task: "staging database on weekends".into(), budget: 2000, ..Default::default() })
        .unwrap();
    assert!(b.bundle.items.iter().any(|i| i.id == fact.id), "a fact that matches the task comes: {}", b.markdown);

    // Facts only, none relevant: an empty bundle with a message, not an error.
    let svc2 = service();
    let m = NewMemory {
        kind: "fact".into(),
        text: "The staging database is read-only on weekends.".into(),
        tags: vec![],
        scope: None,
        priority: 0,
    };
    svc2.memory_add(&m, "user:test", None).unwrap();
    let b = svc2
        .context(&ContextRequest { task: "rename the invoice PDF field".into(), budget: 2000, ..Default::default() })
        .unwrap();
    assert!(b.bundle.items.is_empty());
    let msg = b.message.unwrap();
    assert!(msg.contains("No memory matches this task") && msg.contains("1 of the store's 1"), "{msg}");
    // An empty store is simply empty.
    let b = service().context(&ContextRequest { task: "anything".into(), budget: 100, ..Default::default() }).unwrap();
    assert!(b.bundle.items.is_empty() && b.message.is_none() && b.markdown.is_empty());
    // A dream's apply selection still works on the first dream's ops.
    let svc3 = service();
    ingest(&svc3, &(0..3).map(|i| session(&format!("s{i}"), Some("ana"), Some("shop"))).collect::<Vec<_>>());
    let (p, _) = svc3.dream(&DreamSpec::default(), false, "user:test").unwrap();
    svc3.apply_dream(&p.id, &OpSelection { only: vec![1], skip: vec![] }, "user:test").unwrap();
}
