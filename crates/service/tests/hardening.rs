//! Ids that never collide, stores that never replace, jobs that run once:
//! the reproductions of the hardening issue, on SQLite and (when
//! `NOCTURNE_TEST_POSTGRES` names a server) on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, ProposalStatus, Role};
use nocturne_service::{
    Access, AccessLevel, DreamSpec, JobState, LogOutcome, MemorySuggestion, OpSelection, Service, Worker,
};
use nocturne_store::{SessionRecord, Store};
use nocturne_store_postgres::{testing, PgStore};
use nocturne_store_sqlite::SqliteStore;
use std::sync::Arc;

/// Every backend the tests can reach, each with a fresh store.
fn backends(test: &str) -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut v: Vec<(&'static str, Arc<dyn Store>)> = vec![("sqlite", Arc::new(SqliteStore::open_in_memory().unwrap()))];
    if let Some(base) = testing::server(test) {
        v.push(("postgres", Arc::new(PgStore::open(&testing::fresh_url(&base, test).unwrap()).unwrap())));
    }
    v
}

/// The clock the issue saw: every call in the same minute.
fn service(store: Arc<dyn Store>) -> Service {
    Service::with_store(store, Arc::new(|| "2026-12-01T12:21:00Z".to_string()))
}

/// A team's write token, through the seam as an HTTP caller would be.
fn team<'a>(svc: &'a Service, team: &str) -> nocturne_service::Scoped<'a> {
    let local = svc.scoped(Access::local());
    let token = local.create_token(AccessLevel::Write, Some(team)).unwrap().token;
    svc.scoped(svc.authenticate(&token).unwrap())
}

fn session(id: &str, team: &str, user: &str) -> SessionRecord {
    let ev = |text: &str, role: Role, kind: EventKind| NewEvent {
        role,
        kind,
        tool_name: None,
        tool_input: None,
        tool_use_id: None,
        text: Some(text.into()),
        is_error: false,
        timestamp: Some("2026-11-30T10:00:00Z".into()),
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    };
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            source: None,
            user: Some(user.into()),
            agent: Some("coder".into()),
            team: Some(team.into()),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: vec![
                ev("Please always run the linter before you commit.", Role::User, EventKind::UserMessage),
                ev("Sure, running the linter first.", Role::Assistant, EventKind::AssistantMessage),
            ],
        },
        ingested_at: "2026-11-30T10:00:00Z".into(),
    }
}

fn suggestion(n: usize) -> MemorySuggestion {
    MemorySuggestion {
        kind: "fact".into(),
        text: format!("Fact number {n} about the deploy."),
        by: "agent:a".into(),
        ..Default::default()
    }
}

#[test]
fn first_outcomes_logged_at_once_are_all_stored_under_taxonomy_version_1() {
    // Sub-agents of one run report their outcomes at the same moment, on a
    // store with no taxonomy yet: each finds none and stores version 1.
    let dir = tempfile::tempdir().unwrap();
    let mut stores = backends("first_outcomes_at_once");
    stores.push(("sqlite file", Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap())));
    for (name, store) in stores {
        let svc = service(store);
        let ids: Vec<String> = (0..16).map(|n| format!("s-{n}")).collect();
        let records: Vec<SessionRecord> = ids.iter().map(|id| session(id, "a", "user:ann")).collect();
        svc.store().append_sessions(&records).unwrap();
        let start = std::sync::Barrier::new(ids.len());
        std::thread::scope(|sc| {
            for id in &ids {
                let (svc, start) = (svc.clone(), &start);
                sc.spawn(move || {
                    let req =
                        LogOutcome { session: id.clone(), set: vec!["result=success".into()], ..Default::default() };
                    start.wait();
                    svc.scoped(Access::local()).log_outcome(&req).unwrap_or_else(|e| panic!("{name}: {id}: {e}"))
                });
            }
        });
        let outcomes = svc.scoped(Access::local()).outcomes(None).unwrap();
        assert_eq!(outcomes.len(), 16, "{name}: every outcome is stored");
        assert!(outcomes.iter().all(|o| o.taxonomy_version == 1), "{name}: {outcomes:?}");
    }
}

#[test]
fn five_suggestions_in_one_minute_are_five_proposals() {
    for (name, store) in backends("five_suggestions") {
        let svc = service(store);
        let local = svc.scoped(Access::local());
        let ids: Vec<String> = (0..5).map(|n| local.propose_memory(&suggestion(n)).unwrap().id).collect();
        let stored = local.dreams().unwrap();
        assert_eq!(stored.len(), 5, "{name}: every suggestion is kept: {ids:?}");
        let mut texts: Vec<String> = stored.iter().map(|p| p.ops[0].text.clone()).collect();
        texts.sort();
        assert_eq!(texts, (0..5).map(|n| format!("Fact number {n} about the deploy.")).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn twenty_concurrent_suggestions_are_twenty_proposals() {
    for (name, store) in backends("twenty_suggestions") {
        let svc = service(store);
        let ids: Vec<String> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..20)
                .map(|n| {
                    let svc = svc.clone();
                    sc.spawn(move || svc.scoped(Access::local()).propose_memory(&suggestion(n)).unwrap().id)
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 20, "{name}: 20 distinct ids");
        assert_eq!(svc.scoped(Access::local()).dreams().unwrap().len(), 20, "{name}: 20 proposals stored");
    }
}

#[test]
fn an_applied_proposal_is_not_replaced_by_another_teams_suggestion() {
    for (name, store) in backends("applied_kept") {
        let svc = service(store);
        let (a, b) = (team(&svc, "a"), team(&svc, "b"));
        let pa = a.propose_memory(&suggestion(1)).unwrap();
        a.apply_dream(&pa.id, &OpSelection::default()).unwrap();
        let pb = b.propose_memory(&suggestion(2)).unwrap();
        assert_ne!(pa.id, pb.id, "{name}");
        let kept = svc.scoped(Access::local()).dream_proposal(&pa.id).unwrap();
        assert_eq!(kept.status, ProposalStatus::Applied, "{name}: team a's proposal is still applied");
        assert_eq!((kept.team.as_deref(), kept.applied_ops.as_slice()), (Some("a"), &[1][..]), "{name}");
        assert_eq!(kept.ops[0].text, pa.ops[0].text, "{name}");
        assert_eq!(a.dreams().unwrap().len(), 1, "{name}: each team sees its own");
        assert_eq!(b.dreams().unwrap()[0].id, pb.id, "{name}");
    }
}

#[test]
fn twenty_parallel_dreams_never_share_an_id() {
    for (name, store) in backends("parallel_dreams") {
        let svc = service(store);
        let sessions: Vec<SessionRecord> =
            (0..6).map(|i| session(&format!("s{i}"), "web", &format!("u{}", i % 3))).collect();
        svc.store().append_sessions(&sessions).unwrap();
        let results: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let svc = svc.clone();
                    sc.spawn(move || {
                        svc.scoped(Access::local_as("user:t")).dream(&DreamSpec::default(), false).map(|(p, _)| p.id)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(e.to_string().contains("another dream is running"), "{name}: {e}");
        }
        let distinct: std::collections::BTreeSet<&&String> = ok.iter().collect();
        assert!(!ok.is_empty(), "{name}: some dream ran");
        assert_eq!(distinct.len(), ok.len(), "{name}: every dream that ran has its own id");
        assert_eq!(
            svc.scoped(Access::local()).dreams().unwrap().len(),
            ok.len(),
            "{name}: and its own stored proposal"
        );
    }
}

#[test]
fn a_dream_job_taken_over_after_its_proposal_was_stored_does_not_dream_twice() {
    for (name, store) in backends("job_once") {
        let svc = service(store.clone());
        store
            .append_sessions(
                &(0..6).map(|i| session(&format!("s{i}"), "web", &format!("u{}", i % 3))).collect::<Vec<_>>(),
            )
            .unwrap();
        let job = svc.scoped(Access::local_as("user:t")).submit_dream(&DreamSpec::default(), false, false).unwrap();
        // A first worker claimed it, stored its proposal, and died before finishing the job.
        let now = "2026-12-01T12:21:00Z";
        let first = store.claim_job(&[], "elsewhere:1:1:w", now, now).unwrap().unwrap();
        assert_eq!(first.attempts, 1);
        let theirs = Worker {
            id: "elsewhere:1:1:w2".into(),
            lease: std::time::Duration::from_secs(30),
            hold: Default::default(),
        };
        // Its lease ended at `now`; one second later another worker takes over.
        let later_svc = Service::with_store(store.clone(), Arc::new(|| "2026-12-01T12:21:01Z".to_string()));
        let later = later_svc.scoped(Access::local());
        let pid = format!("d-{}", job.job.id.trim_start_matches("job-"));
        let mut p = svc.scoped(Access::local_as("user:t")).dream(&DreamSpec::default(), false).unwrap().0;
        p.id = pid.clone();
        store.insert_proposal(&p).unwrap();
        let before = later.dreams().unwrap().len();
        let worked = later.work_one(&theirs, &[]).unwrap().unwrap();
        let ended = worked.ended.unwrap();
        assert_eq!((ended.state, ended.attempts), (JobState::Done, 2), "{name}");
        assert_eq!(ended.result.unwrap()["proposal"], pid.as_str(), "{name}: the first attempt's proposal");
        assert_eq!(later.dreams().unwrap().len(), before, "{name}: no second proposal");
        assert!(later.work_one(&theirs, &[]).unwrap().is_none(), "{name}: nothing left to run");
    }
}
