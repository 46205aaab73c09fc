//! What a team-bound token can see and change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_service::{
    Access, AccessLevel, MemoryEdit, MemoryFilter, NewMemory, Service, ServiceError, SessionFilter,
};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use std::sync::Arc;

fn service() -> Service {
    Service::with_store(
        Arc::new(SqliteStore::open_in_memory().unwrap()),
        Arc::new(|| "2026-11-01T00:00:00Z".to_string()),
    )
}

fn session(id: &str, team: &str) -> SessionRecord {
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            source: None,
            user: Some(format!("{team}-user")),
            agent: None,
            team: Some(team.into()),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: vec![NewEvent {
                role: Role::User,
                kind: EventKind::UserMessage,
                tool_name: None,
                tool_input: None,
                tool_use_id: None,
                text: Some(format!("secret plans of team {team}")),
                is_error: false,
                timestamp: None,
                sidechain: false,
                source_line: Some(1),
                raw: "{}".into(),
            }],
        },
        ingested_at: "2026-11-01T00:00:00Z".into(),
    }
}

fn mem(scope: &str, text: &str) -> NewMemory {
    NewMemory { kind: "fact".into(), text: text.into(), tags: vec![], scope: Some(scope.into()), priority: 0 }
}

#[test]
fn a_team_token_sees_only_its_team_and_reads_but_cannot_change_org_memory() {
    let svc = service();
    svc.store().append_sessions(&[session("sa", "a"), session("sb", "b")]).unwrap();
    let (ma, _) =
        svc.scoped(Access::local_as("user:x")).memory_add(&mem("team:a", "Team a deploys on Mondays"), None).unwrap();
    let (mb, _) =
        svc.scoped(Access::local_as("user:x")).memory_add(&mem("team:b", "Team b deploys on Fridays"), None).unwrap();
    let (org, _) =
        svc.scoped(Access::local_as("user:x")).memory_add(&mem("org", "Every team uses UTC in logs"), None).unwrap();
    let tok = svc.scoped(Access::local()).create_token(AccessLevel::Write, Some("a")).unwrap();
    let a = svc.scoped(svc.authenticate(&tok.token).unwrap());

    let sessions: Vec<String> = a.sessions(SessionFilter::default()).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(sessions, ["sa"]);
    assert!(
        matches!(a.session("sb"), Err(ServiceError::NotFound { .. })),
        "another team's session does not exist for it"
    );
    let mems: Vec<String> = a.memories(&MemoryFilter::default()).unwrap().into_iter().map(|m| m.id).collect();
    assert!(mems.contains(&ma.id) && mems.contains(&org.id) && !mems.contains(&mb.id));
    assert!(matches!(a.memory(&mb.id), Err(ServiceError::NotFound { .. })));
    let hits = a.memory_search("deploys", 10, None, None).unwrap();
    assert!(hits.iter().all(|h| h.id != mb.id));
    let found = a.sessions_search("secret plans", 10, None).unwrap();
    assert!(found.iter().all(|h| h.session == "sa"));
    assert!(matches!(
        a.memory_edit(&org.id, &MemoryEdit { priority: Some(2), ..Default::default() }, None),
        Err(ServiceError::Forbidden(_))
    ));
    assert!(matches!(a.memory_add(&mem("org", "Org-wide rule from a team"), None), Err(ServiceError::Forbidden(_))));
    let (added, rev) = a.memory_add(&mem("team:a", "Team a reviews on Tuesdays"), None).unwrap();
    assert_eq!(rev.author.0, format!("token:{}", tok.id));
    assert_eq!(added.scope.to_string(), "team:a");
    assert!(matches!(a.export_json(), Err(ServiceError::Forbidden(_))));
    assert!(!a.export_markdown(None).unwrap().contains("Fridays"));
    assert!(matches!(a.rollback(0, None), Err(ServiceError::Forbidden(_))));
}

#[test]
fn tokens_are_checked_for_level_and_revocation() {
    let svc = service();
    let read = svc.scoped(Access::local()).create_token(AccessLevel::Read, None).unwrap();
    let r = svc.scoped(svc.authenticate(&read.token).unwrap());
    assert!(matches!(r.memory_add(&mem("org", "x y z"), None), Err(ServiceError::Forbidden(_))));
    assert!(matches!(svc.authenticate("noc_wrong"), Err(ServiceError::Unauthorized(_))));
    svc.scoped(Access::local()).revoke_token(&read.id).unwrap();
    assert!(matches!(svc.authenticate(&read.token), Err(ServiceError::Unauthorized(_))));
}

#[test]
fn a_run_left_running_by_a_crashed_process_is_closed_and_the_lock_taken_over() {
    use nocturne_service::Config;
    let svc = service();
    svc.store().append_sessions(&[session("s1", "a")]).unwrap();
    // A process took the lock and died mid-run, long ago.
    assert!(svc.store().try_lock("dream", "dead", "2026-10-01T00:00:00Z", "2026-10-01T00:30:00Z").unwrap());
    svc.store()
        .insert_run(&nocturne_store::DreamRun {
            id: "dead".into(),
            schedule: "s".into(),
            state: "running".into(),
            attempt: 1,
            started_at: "2026-10-01T00:00:00Z".into(),
            finished_at: None,
            trigger: "cron".into(),
            sessions_seen: 0,
            proposal: None,
            applied_revision: None,
            summary: None,
            error: None,
            next_retry_at: None,
        })
        .unwrap();
    let cfg = Config::parse("[[dream.schedule]]\nname = \"s\"\nafter_sessions = 1\n", "t").unwrap();
    let made = svc.scoped(Access::local()).run_due(&cfg).unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].state, "done");
    let runs = svc.scoped(Access::local()).dream_runs().unwrap();
    let dead = runs.iter().find(|r| r.id == "dead").unwrap();
    assert_eq!(dead.state, "failed");
    assert!(dead.error.as_deref().unwrap().contains("interrupted"));
    // A live holder keeps others out.
    assert!(svc.store().try_lock("dream", "live", "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z").unwrap());
    let cfg2 = Config::parse("[[dream.schedule]]\nname = \"t\"\nafter_sessions = 1\n", "t").unwrap();
    assert!(svc.scoped(Access::local()).run_due(&cfg2).unwrap().is_empty(), "one dream per store at a time");
}

#[test]
fn a_suggested_memory_waits_in_a_proposal_and_never_reaches_memory_directly() {
    use nocturne_service::{MemorySuggestion, OpSelection};
    let svc = service();
    svc.store().append_sessions(&[session("sa", "a")]).unwrap();
    let tok = svc.scoped(Access::local()).create_token(AccessLevel::Write, Some("a")).unwrap();
    let a = svc.scoped(svc.authenticate(&tok.token).unwrap());
    let p = a
        .propose_memory(&MemorySuggestion {
            kind: "mistake".into(),
            text: "Deploys need DEPLOY_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 set".into(),
            session: Some("sa".into()),
            rationale: Some("it failed without it".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.status, nocturne_core::ProposalStatus::Pending);
    assert!(svc.scoped(Access::local()).memories(&MemoryFilter::default()).unwrap().is_empty(), "memory is untouched");
    assert!(!p.ops[0].text.contains("ghp_abcdef"), "secrets are redacted: {}", p.ops[0].text);
    assert_eq!(p.ops[0].scope.to_string(), "team:a");
    assert!(p.ops[0].rationale.contains(&tok.id));
    assert_eq!(a.dreams().unwrap().len(), 1, "the team sees its suggestion");
    let rev = a.apply_dream(&p.id, &OpSelection::default()).unwrap();
    assert_eq!(rev.changes.len(), 1);
    let b = svc.scoped(Access::local()).create_token(AccessLevel::Write, Some("b")).unwrap();
    let b = svc.scoped(svc.authenticate(&b.token).unwrap());
    assert!(b.dreams().unwrap().is_empty(), "another team does not see it");
}

#[test]
fn a_dream_is_refused_while_another_holds_the_store() {
    let svc = service();
    svc.store().append_sessions(&[session("s1", "a")]).unwrap();
    assert!(svc.store().try_lock("dream", "someone", "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z").unwrap());
    let err = svc.scoped(Access::local_as("user:x")).dream(&nocturne_service::DreamSpec::default(), false).unwrap_err();
    assert!(err.to_string().contains("another dream is running"), "{err}");
    svc.store().unlock("dream", "someone").unwrap();
    svc.scoped(Access::local_as("user:x")).dream(&nocturne_service::DreamSpec::default(), false).unwrap();
    assert!(svc.store().try_lock("dream", "next", "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z").unwrap(), "released");
}

/// Suggesting a memory whose text another team already has (as a memory,
/// or as a pending suggestion) is no oracle: team b's suggestion is stored
/// like any new one, while a repeat of what team b itself can see is
/// refused naming it.
#[test]
fn a_suggestion_is_checked_for_duplicates_only_against_what_the_caller_may_see() {
    use nocturne_service::MemorySuggestion;
    let svc = service();
    let local = svc.scoped(Access::local());
    let team = |t: &str| {
        let tok = local.create_token(AccessLevel::Write, Some(t)).unwrap();
        svc.scoped(svc.authenticate(&tok.token).unwrap())
    };
    let (a, b) = (team("a"), team("b"));
    let suggest = |who: &nocturne_service::Scoped, text: &str| {
        who.propose_memory(&MemorySuggestion { kind: "fact".into(), text: text.into(), ..Default::default() })
    };
    let (m, _) = a.memory_add(&mem("team:a", "The staging database is db-7."), None).unwrap();
    suggest(&a, "Deploys go out on Tuesdays.").unwrap();

    // Team b: neither team a's memory nor its pending suggestion is revealed.
    let p1 = suggest(&b, "The staging database is db-7.").unwrap();
    let p2 = suggest(&b, "deploys go out on   Tuesdays.").unwrap();
    for p in [&p1, &p2] {
        assert_eq!(p.ops[0].scope.to_string(), "team:b");
    }
    assert_eq!(b.dreams().unwrap().len(), 2, "team b sees its own two suggestions only");

    // What the caller can see is still a duplicate.
    let again = suggest(&b, "The staging database is db-7.").unwrap_err();
    assert!(again.to_string().contains(&p1.id), "{again}");
    let own = suggest(&a, "The staging database is db-7.").unwrap_err();
    assert!(own.to_string().contains(&m.id), "{own}");
    // An org-wide caller sees everything.
    let org = suggest(&local, "Deploys go out on Tuesdays.").unwrap_err();
    assert!(org.to_string().contains("pending proposal"), "{org}");
}
