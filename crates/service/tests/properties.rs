//! Invariants of the service layer, checked over random histories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_service::{Access, Clock, MemoryEdit, MemoryFilter, NewMemory, Service, SessionFilter};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn service() -> Service {
    let n = Arc::new(AtomicU64::new(0));
    let clock: Clock = Arc::new(move || {
        let i = n.fetch_add(1, Ordering::SeqCst);
        format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)
    });
    Service::with_store(Arc::new(SqliteStore::open_in_memory().unwrap()), clock)
}

#[derive(Debug, Clone)]
enum Action {
    Add(u8, String),
    Edit(usize, String),
    Priority(usize, i32),
    Retire(usize),
    Rollback(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u8..4, "[a-z ]{3,20}").prop_map(|(k, t)| Action::Add(k, t)),
        (any::<usize>(), "[a-z ]{3,20}").prop_map(|(i, t)| Action::Edit(i, t)),
        (any::<usize>(), -3i32..4).prop_map(|(i, p)| Action::Priority(i, p)),
        any::<usize>().prop_map(Action::Retire),
        any::<usize>().prop_map(Action::Rollback),
    ]
}

/// Runs actions; ignores the ones the service refuses (e.g. a no-op edit).
fn run(svc: &Service, actions: &[Action]) {
    let kinds = ["fact", "preference", "procedure", "mistake"];
    for a in actions {
        let ids: Vec<String> = svc
            .scoped(Access::local())
            .memories(&MemoryFilter { include_retired: true, ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        let pick = |i: &usize| ids.get(i % ids.len().max(1)).cloned();
        let _ = match a {
            Action::Add(k, t) => svc
                .scoped(Access::local_as("user:p"))
                .memory_add(
                    &NewMemory {
                        kind: kinds[*k as usize].into(),
                        text: format!("note {t}"),
                        tags: vec![],
                        scope: None,
                        priority: 0,
                    },
                    None,
                )
                .map(|_| ()),
            Action::Edit(i, t) => match pick(i) {
                Some(id) => svc
                    .scoped(Access::local_as("user:p"))
                    .memory_edit(&id, &MemoryEdit { text: Some(format!("edited {t}")), ..Default::default() }, None)
                    .map(|_| ()),
                None => Ok(()),
            },
            Action::Priority(i, p) => match pick(i) {
                Some(id) => svc
                    .scoped(Access::local_as("user:p"))
                    .memory_edit(&id, &MemoryEdit { priority: Some(*p), ..Default::default() }, None)
                    .map(|_| ()),
                None => Ok(()),
            },
            Action::Retire(i) => match pick(i) {
                Some(id) => svc.scoped(Access::local_as("user:p")).memory_retire(&id, Some("old"), None).map(|_| ()),
                None => Ok(()),
            },
            Action::Rollback(i) => {
                let head = svc.scoped(Access::local()).head().unwrap();
                svc.scoped(Access::local_as("user:p")).rollback((*i as u64) % (head + 1), None).map(|_| ())
            }
        };
    }
}

fn listing(svc: &Service) -> Vec<nocturne_core::Memory> {
    svc.scoped(Access::local()).memories(&MemoryFilter { include_retired: true, ..Default::default() }).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn export_then_import_is_the_identity(
        actions in proptest::collection::vec(action(), 0..25),
        logs in proptest::collection::vec((0usize..5, 0usize..4, any::<bool>()), 0..5),
    ) {
        let a = service();
        run(&a, &actions);
        // Sessions too: some sub-agents of the one before, some grown after they were stored.
        for (i, (n, grow, child)) in logs.iter().enumerate() {
            let mut rec = session(&format!("s{i}"), *n + grow);
            if *child && i > 0 {
                rec.session.parent = Some(format!("s{}", i - 1));
                rec.session.subagent = Some(nocturne_core::Subagent { agent_id: format!("a{i}"), ..Default::default() });
                rec.session.counterpart = Some(nocturne_core::Counterpart::Agent);
            }
            let all = rec.session.events.clone();
            rec.session.events.truncate(*n);
            a.store().append_sessions(&[rec]).unwrap();
            if *grow > 0 {
                a.store().append_events(&format!("s{i}"), *n as u32, &all[*n..]).unwrap();
            }
        }
        let doc = a.scoped(Access::local()).export_with_sessions().unwrap();
        let b = service();
        b.scoped(Access::local()).import_json(&serde_json::to_vec(&doc).unwrap(), "export.json").unwrap();
        let mut again = b.scoped(Access::local()).export_with_sessions().unwrap();
        again.exported_at = doc.exported_at.clone();
        prop_assert_eq!(again, doc);
        prop_assert_eq!(listing(&a), listing(&b));
        prop_assert_eq!(a.scoped(Access::local()).sessions(SessionFilter::default()).unwrap(), b.scoped(Access::local()).sessions(SessionFilter::default()).unwrap());
    }

    #[test]
    fn rollback_to_rev_lists_what_was_listed_at_rev(
        actions in proptest::collection::vec(action(), 1..25),
        pick in any::<usize>(),
    ) {
        let svc = service();
        // Record the listing after every revision.
        let mut listings = vec![listing(&svc)];
        for a in &actions {
            let before = svc.scoped(Access::local()).head().unwrap();
            run(&svc, std::slice::from_ref(a));
            if svc.scoped(Access::local()).head().unwrap() != before {
                listings.push(listing(&svc));
            }
        }
        let head = svc.scoped(Access::local()).head().unwrap();
        prop_assume!(head > 0);
        let to = (pick as u64) % head;
        let expected = &listings[to as usize];
        match svc.scoped(Access::local_as("user:p")).rollback(to, Some(head)) {
            Ok(rev) => prop_assert_eq!(rev.rev, head + 1, "rollback is a new revision"),
            Err(e) => prop_assert!(e.to_string().contains("already as it was"), "{e}"),
        }
        prop_assert_eq!(&listing(&svc), expected);
    }
}

fn session(id: &str, n: usize) -> SessionRecord {
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            source: None,
            user: Some("ana".into()),
            agent: None,
            team: None,
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: (0..n)
                .map(|i| NewEvent {
                    role: Role::Tool,
                    kind: EventKind::ToolResult,
                    tool_name: Some("Bash".into()),
                    tool_input: None,
                    tool_use_id: Some(format!("t{i}")),
                    text: Some(format!("output line {i}")),
                    is_error: i % 3 == 0,
                    timestamp: Some("2026-01-01T00:00:00Z".into()),
                    sidechain: false,
                    source_line: Some(i as u32 + 1),
                    raw: format!("{{\"i\":{i},\"text\":\"output line {i}\"}}"),
                })
                .collect(),
        },
        ingested_at: "2026-01-01T00:00:00Z".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any byte flipped in any stored column of any event is caught.
    #[test]
    fn any_flipped_byte_in_a_stored_event_is_caught_by_verify(
        ev in 0usize..6, col in 0usize..6, pos in any::<usize>(), bit in 0u8..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let svc = Service::with_store(Arc::new(SqliteStore::open(&path).unwrap()), nocturne_service::system_clock());
            svc.store().append_sessions(&[session("a", 6), session("b", 3)]).unwrap();
            prop_assert!(svc.scoped(Access::local()).verify().unwrap().failures.is_empty());
        }
        // Tamper behind the program's back, as an attacker with the file would.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER events_append_only_u;").unwrap();
        let cols = ["text", "raw", "tool_name", "tool_use_id", "timestamp", "hash"];
        let column = cols[col];
        let (rowid, value): (i64, Vec<u8>) = conn
            .query_row(
                &format!("SELECT id, CAST({column} AS BLOB) FROM events ORDER BY id LIMIT 1 OFFSET ?1"),
                [ev as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut value = value;
        let i = pos % value.len();
        value[i] ^= 1 << bit;
        if column == "hash" {
            conn.execute(&format!("UPDATE events SET {column} = ?1 WHERE id = ?2"), rusqlite::params![value, rowid]).unwrap();
        } else {
            conn.execute(&format!("UPDATE events SET {column} = CAST(?1 AS TEXT) WHERE id = ?2"), rusqlite::params![value, rowid]).unwrap();
        }
        drop(conn);
        let svc = Service::with_store(Arc::new(SqliteStore::open(&path).unwrap()), nocturne_service::system_clock());
        let rep = svc.scoped(Access::local()).verify().unwrap();
        prop_assert_eq!(rep.failures.len(), 1);
        prop_assert_eq!(&rep.failures[0].session, "a");
        prop_assert!(svc.scoped(Access::local()).sessions(SessionFilter::default()).unwrap().len() == 2);
    }
}

/// A Nocturne JSONL transcript: a header and one event line per text.
fn transcript(id: &str, texts: &[String]) -> String {
    let mut out = format!("{{\"nocturne\":\"session\",\"version\":1,\"id\":\"{id}\"}}\n");
    for (i, t) in texts.iter().enumerate() {
        let kind = if i % 2 == 0 { "user_message" } else { "assistant_message" };
        out.push_str(&serde_json::json!({"kind": kind, "text": t}).to_string());
        out.push('\n');
    }
    out
}

fn ingest_files(svc: &Service, files: &[std::path::PathBuf], budget: Option<usize>) -> nocturne_service::IngestReport {
    let opts = nocturne_service::IngestOptions { memory_budget: budget, ..Default::default() };
    svc.scoped(Access::local()).ingest(files, &opts, &|_, _| {}).unwrap()
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z ]{0,12}", 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A session ingested while its file was shorter, then again in full,
    /// is the session ingested in full: same events, same chain.
    #[test]
    fn ingesting_a_prefix_then_the_whole_file_is_ingesting_the_whole_file(
        texts in texts(), cut in any::<usize>(), keep_in_memory in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        let budget = if keep_in_memory { None } else { Some(0) };
        let cut = cut % (texts.len() + 1);
        let grown = service();
        std::fs::write(&file, transcript("s", &texts[..cut])).unwrap();
        let first = ingest_files(&grown, std::slice::from_ref(&file), budget);
        prop_assert!(!first.refused_any(), "{:?}", first.refused);
        std::fs::write(&file, transcript("s", &texts)).unwrap();
        let second = ingest_files(&grown, std::slice::from_ref(&file), budget);
        prop_assert!(!second.refused_any(), "{:?}", second.refused);
        prop_assert_eq!(second.totals.events_added, (texts.len() - cut) as u64, "exactly the new events");
        prop_assert_eq!(second.totals.sessions_extended + second.totals.sessions_unchanged, 1);
        let whole = service();
        ingest_files(&whole, std::slice::from_ref(&file), budget);
        prop_assert_eq!(grown.scoped(Access::local()).session_hashes().unwrap(), whole.scoped(Access::local()).session_hashes().unwrap());
        prop_assert!(grown.scoped(Access::local()).verify().unwrap().failures.is_empty());
        // And once more adds nothing.
        let third = ingest_files(&grown, &[file], budget);
        prop_assert_eq!(third.totals.events_added, 0);
        prop_assert_eq!(third.totals.sessions_unchanged, 1);
    }

    /// Copies of sessions spread over several files, read in any order:
    /// the same sessions and chains, and a diverging copy refused either way.
    #[test]
    fn the_order_of_files_never_changes_the_result(
        sessions in proptest::collection::vec(texts(), 1..5),
        copies in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<bool>()), 0..6),
        seed in any::<u64>(),
        keep_in_memory in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let budget = if keep_in_memory { None } else { Some(0) };
        let mut files = Vec::new();
        for (i, t) in sessions.iter().enumerate() {
            let f = dir.path().join(format!("main-{i}.jsonl"));
            std::fs::write(&f, transcript(&format!("s{i}"), t)).unwrap();
            files.push(f);
        }
        // Copies: a prefix of a session, or a prefix with one more event of its own
        // (diverging, unless it is the whole session: then it is a longer copy).
        let mut versions: Vec<Vec<Vec<String>>> = sessions.iter().map(|t| vec![t.clone()]).collect();
        for (k, (which, cut, extra)) in copies.iter().enumerate() {
            let i = which % sessions.len();
            let t = &sessions[i];
            let mut part: Vec<String> = t[..cut % (t.len() + 1)].to_vec();
            if *extra {
                part.push(format!("a line only copy {k} has"));
            }
            let f = dir.path().join(format!("copy-{k}.jsonl"));
            std::fs::write(&f, transcript(&format!("s{i}"), &part)).unwrap();
            files.push(f);
            versions[i].push(part);
        }
        let mut shuffled = files.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (a, b) = (service(), service());
        let ra = ingest_files(&a, &files, budget);
        let rb = ingest_files(&b, &shuffled, budget);
        prop_assert_eq!(a.scoped(Access::local()).session_hashes().unwrap(), b.scoped(Access::local()).session_hashes().unwrap());
        prop_assert_eq!(&ra.refused, &rb.refused);
        prop_assert_eq!(&ra.totals, &rb.totals);
        // Each session is its longest copy when every other copy is a prefix of it, else refused.
        for (i, vs) in versions.iter().enumerate() {
            let id = format!("s{i}");
            let longest = vs.iter().max_by_key(|v| v.len()).unwrap();
            let agree = vs.iter().all(|v| longest.starts_with(v));
            let refused = ra.refused.iter().any(|r| r.session.as_deref() == Some(id.as_str()));
            prop_assert_eq!(refused, !agree, "refused exactly when copies diverge");
            let stored = a.store().session(&id).unwrap().map(|s| s.event_count);
            prop_assert_eq!(stored, agree.then_some(longest.len() as u32));
        }
    }
}
