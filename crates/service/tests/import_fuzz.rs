//! The `import` file, mutated: byte flips, truncation, a field deleted, a
//! value of another type, huge numbers, deep nesting, invalid UTF-8. Import
//! never panics; a refusal is invalid input naming the file and leaves the
//! store empty; a document that is accepted holds exactly what was
//! exported (only bytes no digest covers, such as `exported_at` or
//! whitespace, may have changed).
//!
//! `NOCTURNE_FUZZ_CASES` sets the number of cases (default 48).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_service::{
    Access, Clock, ContextRequest, ErrorCode, ExportDoc, ImportOptions, LogOutcome, MemoryEdit, NewMemory, Service,
};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

const FILE: &str = "fuzz/export.json";

fn cases() -> u32 {
    std::env::var("NOCTURNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

fn service() -> Service {
    let n = Arc::new(AtomicU64::new(0));
    let clock: Clock = Arc::new(move || {
        let i = n.fetch_add(1, Ordering::SeqCst);
        format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)
    });
    Service::with_store(Arc::new(SqliteStore::open_in_memory().unwrap()), clock)
}

fn session(id: &str, n: usize) -> SessionRecord {
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            source: None,
            user: Some("ana".into()),
            agent: None,
            team: Some("web".into()),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: (0..n)
                .map(|i| NewEvent {
                    role: if i % 2 == 0 { Role::User } else { Role::Assistant },
                    kind: if i % 2 == 0 { EventKind::UserMessage } else { EventKind::AssistantMessage },
                    tool_name: None,
                    tool_input: None,
                    tool_use_id: None,
                    text: Some(format!("message {i} about the cart tests")),
                    is_error: false,
                    timestamp: Some("2026-01-01T00:00:00Z".into()),
                    sidechain: false,
                    source_line: Some(i as u32 + 1),
                    raw: format!("{{\"n\":{i}}}"),
                })
                .collect(),
        },
        ingested_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// An export of a store with every part: memories (added, edited,
/// retired), a taxonomy and outcomes (a number among them), sessions and
/// usage events.
fn seed() -> &'static (ExportDoc, Vec<u8>) {
    static SEED: OnceLock<(ExportDoc, Vec<u8>)> = OnceLock::new();
    SEED.get_or_init(|| {
        let svc = service();
        svc.store().append_sessions(&[session("s1", 4), session("s2", 3)]).unwrap();
        let local = svc.scoped(Access::local_as("user:ana"));
        let add = |kind: &str, text: &str| {
            local
                .memory_add(
                    &NewMemory {
                        kind: kind.into(),
                        text: text.into(),
                        tags: vec!["cart".into()],
                        scope: None,
                        priority: 0,
                    },
                    None,
                )
                .unwrap()
                .0
        };
        let a = add("fact", "The cart tests are in tests/cart/");
        let b = add("runbook", "Run the linter before every commit");
        local.memory_edit(&a.id, &MemoryEdit { priority: Some(2), ..Default::default() }, None).unwrap();
        local.memory_retire(&b.id, Some("no longer true"), None).unwrap();
        for (s, set) in [("s1", "result=failure"), ("s1", "result=success"), ("s2", "user_rating=3.3333333333333335")] {
            local
                .log_outcome(&LogOutcome {
                    session: s.into(),
                    task: None,
                    set: vec![set.into()],
                    source: None,
                    by: None,
                    comment: Some("checked".into()),
                })
                .unwrap();
        }
        local
            .context(&ContextRequest {
                task: "fix the cart tests".into(),
                budget: 500,
                agent: None,
                user: None,
                team: None,
                session: Some("s1".into()),
                project: None,
            })
            .unwrap();
        let doc = local.export_with_sessions().unwrap();
        let bytes = serde_json::to_vec_pretty(&doc).unwrap();
        (doc, bytes)
    })
}

/// The seed imports into an empty store and exports back as it was.
#[test]
fn the_seed_imports_back_exactly() {
    let (doc, bytes) = seed();
    let into = service();
    let r = into.scoped(Access::local()).import_json(bytes, FILE).unwrap();
    assert!(r.tamper_evident && r.outcomes_added == 3 && r.usage_added == 1 && r.sessions_added == 2, "{r:?}");
    let mut again = into.scoped(Access::local()).export_with_sessions().unwrap();
    again.exported_at = doc.exported_at.clone();
    assert_eq!(&again, doc);
}

/// Imports `bytes` into an empty store: no panic; refused as invalid input
/// that names the file, with nothing written; or accepted holding exactly
/// the seed.
fn check(bytes: &[u8], opts: ImportOptions, exact: bool) -> Result<(), TestCaseError> {
    let into = service();
    let scoped = into.scoped(Access::local());
    match scoped.import_json_with(bytes, FILE, opts) {
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.starts_with(&format!("{FILE}: ")), "the error names the file: {msg}");
            prop_assert_eq!(e.code(), ErrorCode::InvalidInput, "{}", msg);
            let store = into.store();
            prop_assert_eq!(store.head().unwrap(), 0, "no revision written: {}", msg);
            prop_assert!(store.outcomes(None).unwrap().is_empty(), "no outcome written: {}", msg);
            prop_assert!(store.taxonomies().unwrap().is_empty(), "no taxonomy written: {}", msg);
            prop_assert_eq!(store.session_count().unwrap(), 0, "no session written: {}", msg);
            prop_assert!(store.usages(None).unwrap().is_empty(), "no usage written: {}", msg);
        }
        Ok(_) if exact => {
            let (doc, _) = seed();
            let mut again = scoped.export_with_sessions().unwrap();
            again.exported_at = doc.exported_at.clone();
            prop_assert!(&again == doc, "an accepted document holds exactly what was exported");
        }
        Ok(_) => {}
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Delete the field numbered `at` (of all object fields, depth first).
    DeleteField {
        at: usize,
    },
    /// Replace the value numbered `at` by raw JSON text (or not-JSON bytes).
    Replace {
        at: usize,
        with: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let raw = prop::sample::select(vec![
        b"null".to_vec(),
        b"true".to_vec(),
        b"0".to_vec(),
        b"-1".to_vec(),
        b"\"\"".to_vec(),
        b"\"<script>\"".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"18446744073709551616".to_vec(),
        b"-9223372036854775809".to_vec(),
        b"1e999".to_vec(),
        b"123456789012345678901234567890".to_vec(),
        b"99".to_vec(),
        b"\"\\ud800\"".to_vec(),
        b"\"bad \xff\xfe utf-8\"".to_vec(),
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)).into_bytes(),
    ]);
    prop_oneof![
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<usize>(), prop::sample::select(vec![b",".to_vec(), b"\xc3".to_vec(), b"{".to_vec(), b" ".to_vec()]))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => any::<usize>().prop_map(|at| Mutation::DeleteField { at }),
        3 => (any::<usize>(), raw).prop_map(|(at, with)| Mutation::Replace { at, with }),
    ]
}

fn count_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_values).sum(),
        Value::Object(o) => o.values().map(count_values).sum(),
        _ => 0,
    }
}

fn count_fields(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(count_fields).sum(),
        Value::Object(o) => o.len() + o.values().map(count_fields).sum::<usize>(),
        _ => 0,
    }
}

fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, n, with)),
        Value::Object(o) => o.values_mut().any(|c| replace_nth(c, n, with)),
        _ => false,
    }
}

fn delete_nth(v: &mut Value, n: &mut usize) -> bool {
    match v {
        Value::Array(a) => a.iter_mut().any(|c| delete_nth(c, n)),
        Value::Object(o) => {
            if *n < o.len() {
                let k = o.keys().nth(*n).cloned().unwrap();
                o.shift_remove(&k);
                return true;
            }
            *n -= o.len();
            o.values_mut().any(|c| delete_nth(c, n))
        }
        _ => false,
    }
}

const MARK: &str = "\u{1}fuzz\u{1}";

fn apply(bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let parsed = serde_json::from_slice::<Value>(&bytes);
    match (m, parsed) {
        (Mutation::DeleteField { at }, Ok(mut v)) => {
            let mut n = at % count_fields(&v).max(1);
            delete_nth(&mut v, &mut n);
            serde_json::to_vec(&v).unwrap()
        }
        (Mutation::Replace { at, with }, Ok(mut v)) => {
            let mut n = at % count_values(&v);
            replace_nth(&mut v, &mut n, &Value::String(MARK.into()));
            let s = serde_json::to_vec(&v).unwrap();
            let mark = serde_json::to_vec(&Value::String(MARK.into())).unwrap();
            match s.windows(mark.len()).position(|w| w == mark.as_slice()) {
                Some(i) => [&s[..i], with.as_slice(), &s[i + mark.len()..]].concat(),
                None => s,
            }
        }
        (Mutation::Flip { at, byte }, _) => {
            let mut b = bytes;
            if !b.is_empty() {
                let i = at % b.len();
                b[i] = *byte;
            }
            b
        }
        (Mutation::Truncate { at }, _) | (Mutation::DeleteField { at }, Err(_)) => {
            let mut b = bytes;
            b.truncate(at % (b.len() + 1));
            b
        }
        (Mutation::Insert { at, bytes: extra }, _) | (Mutation::Replace { at, with: extra }, Err(_)) => {
            let mut b = bytes;
            let i = at % (b.len() + 1);
            b.splice(i..i, extra.iter().copied());
            b
        }
    }
}

/// The seed as a version 4 export (no digests).
fn undigested() -> Vec<u8> {
    let (_, bytes) = seed();
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    v["version"] = 4.into();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.shift_remove("digest");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    serde_json::to_vec(&v).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_export_is_refused_naming_the_file_or_is_the_export(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = seed().1.clone();
        for m in &mutations {
            bytes = apply(bytes, m);
        }
        check(&bytes, ImportOptions::default(), true)?;
    }

    #[test]
    fn a_mutated_old_export_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut bytes = undigested();
        for m in &mutations {
            bytes = apply(bytes, m);
        }
        // Allowed without digests, an edit that stays consistent is accepted: only no panic, and refusals that say where.
        check(&bytes, ImportOptions { allow_undigested: true }, false)?;
        check(&bytes, ImportOptions::default(), false)?;
    }
}

/// Every field deleted, one at a time, and every value replaced by `null`:
/// deterministic coverage of each part of the document.
#[test]
fn every_field_deleted_or_nulled_is_refused_or_harmless() {
    let (_, bytes) = seed();
    let v: Value = serde_json::from_slice(bytes).unwrap();
    for at in 0..count_fields(&v) {
        check(&apply(bytes.clone(), &Mutation::DeleteField { at }), ImportOptions::default(), true).unwrap();
    }
    for at in (0..count_values(&v)).step_by(3) {
        check(&apply(bytes.clone(), &Mutation::Replace { at, with: b"null".to_vec() }), ImportOptions::default(), true)
            .unwrap();
    }
}
