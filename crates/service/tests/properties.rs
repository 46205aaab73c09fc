//! Invariants of the service layer, checked over random histories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_service::{Clock, MemoryEdit, MemoryFilter, NewMemory, Service, SessionFilter};
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
            .memories(&MemoryFilter { include_retired: true, ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        let pick = |i: &usize| ids.get(i % ids.len().max(1)).cloned();
        let _ = match a {
            Action::Add(k, t) => svc
                .memory_add(
                    &NewMemory {
                        kind: kinds[*k as usize].into(),
                        text: format!("note {t}"),
                        tags: vec![],
                        scope: None,
                        priority: 0,
                    },
                    "user:p",
                    None,
                )
                .map(|_| ()),
            Action::Edit(i, t) => match pick(i) {
                Some(id) => svc
                    .memory_edit(
                        &id,
                        &MemoryEdit { text: Some(format!("edited {t}")), ..Default::default() },
                        "user:p",
                        None,
                    )
                    .map(|_| ()),
                None => Ok(()),
            },
            Action::Priority(i, p) => match pick(i) {
                Some(id) => svc
                    .memory_edit(&id, &MemoryEdit { priority: Some(*p), ..Default::default() }, "user:p", None)
                    .map(|_| ()),
                None => Ok(()),
            },
            Action::Retire(i) => match pick(i) {
                Some(id) => svc.memory_retire(&id, Some("old"), "user:p", None).map(|_| ()),
                None => Ok(()),
            },
            Action::Rollback(i) => {
                let head = svc.head().unwrap();
                svc.rollback((*i as u64) % (head + 1), "user:p", None).map(|_| ())
            }
        };
    }
}

fn listing(svc: &Service) -> Vec<nocturne_core::Memory> {
    svc.memories(&MemoryFilter { include_retired: true, ..Default::default() }).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn export_then_import_is_the_identity(actions in proptest::collection::vec(action(), 0..25)) {
        let a = service();
        run(&a, &actions);
        let doc = a.export_json().unwrap();
        let b = service();
        b.import_json(&serde_json::to_vec(&doc).unwrap(), "export.json").unwrap();
        let mut again = b.export_json().unwrap();
        again.exported_at = doc.exported_at.clone();
        prop_assert_eq!(again, doc);
        prop_assert_eq!(listing(&a), listing(&b));
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
            let before = svc.head().unwrap();
            run(&svc, std::slice::from_ref(a));
            if svc.head().unwrap() != before {
                listings.push(listing(&svc));
            }
        }
        let head = svc.head().unwrap();
        prop_assume!(head > 0);
        let to = (pick as u64) % head;
        let expected = &listings[to as usize];
        match svc.rollback(to, "user:p", Some(head)) {
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
            let svc = Service::open(&path).unwrap();
            svc.store().append_sessions(&[session("a", 6), session("b", 3)]).unwrap();
            prop_assert!(svc.verify().unwrap().failures.is_empty());
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
        let svc = Service::open(&path).unwrap();
        let rep = svc.verify().unwrap();
        prop_assert_eq!(rep.failures.len(), 1);
        prop_assert_eq!(&rep.failures[0].session, "a");
        prop_assert!(svc.sessions(&SessionFilter::default()).unwrap().len() == 2);
    }
}
