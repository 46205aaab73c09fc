//! A Claude Code or Nocturne JSONL file that streams (read as it comes, written in batches in one transaction)
//! gives the store what ingesting it whole gives: the same sessions, events
//! and chains, the same report; grown files are extended; and the real
//! transcripts too. `stream_from: Some(0)` streams every file here and a
//! tiny `stream_batch` makes every session many batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_service::{Access, IngestOptions, IngestReport, Service};
use nocturne_store_sqlite::SqliteStore;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn service() -> Service {
    let n = Arc::new(AtomicU64::new(0));
    let clock: nocturne_service::Clock = Arc::new(move || {
        let i = n.fetch_add(1, Ordering::SeqCst);
        format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)
    });
    Service::with_store(Arc::new(SqliteStore::open_in_memory().unwrap()), clock)
}

fn ingest(svc: &Service, files: &[PathBuf], stream: Option<usize>) -> IngestReport {
    let opts = match stream {
        Some(batch) => IngestOptions { stream_from: Some(0), stream_batch: Some(batch), ..Default::default() },
        None => IngestOptions { stream_from: Some(u64::MAX), ..Default::default() },
    };
    svc.scoped(Access::local()).ingest(files, &opts, &|_, _| {}).unwrap()
}

/// A Claude Code transcript of one session (and a sub-agent's sidechain
/// lines when `agent`): a user prompt, then assistant and user lines.
fn transcript(id: &str, texts: &[String], agent: bool) -> String {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        let (ty, role) = if i % 2 == 0 { ("user", "user") } else { ("assistant", "assistant") };
        let mut rec = serde_json::json!({
            "type": ty, "sessionId": id, "uuid": format!("u{i}"),
            "timestamp": format!("2026-01-01T00:00:{:02}.000Z", i % 60),
            "message": {"role": role, "content": [{"type": "text", "text": t}]},
        });
        if agent && i % 3 == 2 {
            rec["agentId"] = "a1".into();
            rec["isSidechain"] = true.into();
        }
        out.push_str(&rec.to_string());
        out.push('\n');
        if i % 4 == 3 {
            out.push_str("{\"type\":\"progress\",\"data\":{}}\n");
        }
    }
    out
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z ]{1,40}", 1..14)
}

fn same_store(a: &Service, b: &Service) {
    let (a, b) = (a.scoped(Access::local()), b.scoped(Access::local()));
    assert_eq!(a.session_hashes().unwrap(), b.session_hashes().unwrap());
    assert!(a.verify().unwrap().failures.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Streamed in batches of any size, or ingested whole: the same store and report;
    /// a prefix first then the whole file extends it to the same chain.
    #[test]
    fn a_streamed_file_is_stored_as_the_whole_file_is(
        texts in texts(), cut in any::<usize>(), batch in 1usize..4000, agent in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        std::fs::write(&file, transcript("s", &texts, agent)).unwrap();
        let (streamed, whole) = (service(), service());
        let rs = ingest(&streamed, std::slice::from_ref(&file), Some(batch));
        let rw = ingest(&whole, std::slice::from_ref(&file), None);
        prop_assert!(!rs.refused_any(), "{:?}", rs.refused);
        prop_assert_eq!(&rs.totals, &rw.totals);
        prop_assert_eq!(&rs.files, &rw.files);
        same_store(&streamed, &whole);

        let cut = cut % (texts.len() + 1);
        let grown = service();
        std::fs::write(&file, transcript("s", &texts[..cut], agent)).unwrap();
        let first = ingest(&grown, std::slice::from_ref(&file), Some(batch));
        prop_assert!(!first.refused_any(), "{:?}", first.refused);
        std::fs::write(&file, transcript("s", &texts, agent)).unwrap();
        let second = ingest(&grown, std::slice::from_ref(&file), Some(batch));
        prop_assert!(!second.refused_any(), "{:?}", second.refused);
        prop_assert_eq!(second.totals.events_added + first.totals.events_added, rw.totals.events_added);
        same_store(&grown, &whole);
        let third = ingest(&grown, &[file], Some(batch));
        prop_assert_eq!(third.totals.events_added, 0);
    }
}

/// A Nocturne JSONL file of several sessions (one header each).
fn nocturne(sessions: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (k, texts) in sessions.iter().enumerate() {
        out.push_str(&format!("{{\"nocturne\":\"session\",\"version\":1,\"id\":\"n{k}\"}}\n"));
        for (i, t) in texts.iter().enumerate() {
            let kind = if i % 2 == 0 { "user_message" } else { "assistant_message" };
            out.push_str(&serde_json::json!({"kind": kind, "text": t}).to_string());
            out.push('\n');
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Nocturne JSONL streams too: the same store and report as ingested whole, grown or not.
    #[test]
    fn a_streamed_nocturne_file_is_stored_as_the_whole_file_is(
        sessions in proptest::collection::vec(texts(), 1..4), cut in any::<usize>(), batch in 1usize..2000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.jsonl");
        std::fs::write(&file, nocturne(&sessions)).unwrap();
        let (streamed, whole) = (service(), service());
        let rs = ingest(&streamed, std::slice::from_ref(&file), Some(batch));
        let rw = ingest(&whole, std::slice::from_ref(&file), None);
        prop_assert!(!rs.refused_any(), "{:?}", rs.refused);
        prop_assert_eq!(&rs.totals, &rw.totals);
        prop_assert_eq!(&rs.files, &rw.files);
        same_store(&streamed, &whole);
        // The last session cut short first, then the whole file.
        let mut short = sessions.clone();
        let last = short.last_mut().unwrap();
        last.truncate(cut % (last.len() + 1));
        let grown = service();
        std::fs::write(&file, nocturne(&short)).unwrap();
        ingest(&grown, std::slice::from_ref(&file), Some(batch));
        std::fs::write(&file, nocturne(&sessions)).unwrap();
        let second = ingest(&grown, std::slice::from_ref(&file), Some(batch));
        prop_assert!(!second.refused_any(), "{:?}", second.refused);
        same_store(&grown, &whole);
    }
}

#[test]
fn a_streamed_file_whose_stored_copy_differs_is_refused_as_when_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.jsonl");
    let texts: Vec<String> = (0..6).map(|i| format!("line {i}")).collect();
    std::fs::write(&file, transcript("s", &texts, false)).unwrap();
    let (a, b) = (service(), service());
    ingest(&a, std::slice::from_ref(&file), Some(100));
    ingest(&b, std::slice::from_ref(&file), None);
    let mut changed = texts.clone();
    changed[1] = "edited".into();
    changed.push("more".into());
    std::fs::write(&file, transcript("s", &changed, false)).unwrap();
    let ra = ingest(&a, std::slice::from_ref(&file), Some(100));
    let rb = ingest(&b, std::slice::from_ref(&file), None);
    assert!(ra.refused_any(), "the changed stored event is refused");
    assert_eq!(ra.refused, rb.refused);
    same_store(&a, &b);
}

#[test]
fn the_real_transcripts_stream_as_they_ingest_whole() {
    let Some(root) = nocturne_testdata::real_transcripts(Path::new(env!("CARGO_MANIFEST_DIR"))) else {
        eprintln!("notice: shared/data/real-transcripts is absent; the streaming test on them is skipped");
        return;
    };
    // Every folder: Claude Code and Codex files stream, the others are read whole either way.
    let dir = root;
    let (a, b) = (service(), service());
    let ra = ingest(&a, std::slice::from_ref(&dir), Some(4096));
    let rb = ingest(&b, std::slice::from_ref(&dir), None);
    assert!(ra.totals.sessions_added > 10, "{:?}", ra.totals);
    assert_eq!(ra.totals, rb.totals);
    assert_eq!(ra.refused, rb.refused);
    same_store(&a, &b);
    // Again: nothing new, streamed or not.
    assert_eq!(ingest(&a, std::slice::from_ref(&dir), Some(4096)).totals.events_added, 0);
}

/// A store that ingested a τ² results file before the importer kept the
/// evaluator's checks holds each simulation without them: reading the file
/// again grows those sessions by their checks (they come after the
/// simulation's record), refuses nothing, and leaves the store as a fresh
/// ingest makes it.
#[test]
fn evaluator_checks_read_later_grow_the_sessions_stored_without_them() {
    use nocturne_core::EventKind;
    use nocturne_store::{SessionRecord, Store};
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/tau2-results.json");
    let mut files = vec![fixture];
    let real = nocturne_testdata::real_transcripts(Path::new(env!("CARGO_MANIFEST_DIR")))
        .map(|r| r.join("tau2-bench-retail/trajectories/toolorchestra_retail_gpt-5_1trial.json"))
        .filter(|p| p.is_file());
    match real {
        Some(p) => files.push(p),
        None => eprintln!("notice: the real τ² transcript is absent; only the fixture is read again"),
    }
    for file in files {
        let fresh = Arc::new(SqliteStore::open_in_memory().unwrap());
        let now = service_on(fresh.clone());
        let first = ingest(&now, std::slice::from_ref(&file), None);
        assert!(!first.refused_any(), "{:?}", first.refused);
        // The same sessions as an earlier Nocturne stored them: without the checks.
        let older = Arc::new(SqliteStore::open_in_memory().unwrap());
        let mut with_checks = 0;
        for h in fresh.sessions(&Default::default()).unwrap() {
            let events: Vec<_> = fresh.events(&h.id).unwrap().into_iter().map(|e| e.body).collect();
            let kept: Vec<_> = events.iter().filter(|e| e.kind != EventKind::EvaluatorCheck).cloned().collect();
            assert!(
                events[..kept.len()] == kept[..],
                "{}: the checks are the last events, after the simulation's record",
                h.id
            );
            with_checks += usize::from(kept.len() < events.len());
            let s = h.to_new(kept);
            older.append_sessions(&[SessionRecord { session: s, ingested_at: h.ingested_at.clone() }]).unwrap();
        }
        assert!(with_checks > 0, "{}: some simulation has evaluator checks", file.display());
        let before = service_on(older.clone());
        let again = ingest(&before, std::slice::from_ref(&file), None);
        assert!(!again.refused_any(), "{}: {:?}", file.display(), again.refused);
        assert_eq!(again.totals.sessions_extended, with_checks, "{:?}", again.totals);
        assert_eq!(again.totals.sessions_added, 0);
        same_store(&before, &now);
    }
}

fn service_on(store: Arc<SqliteStore>) -> Service {
    Service::with_store(store, Arc::new(|| "2026-01-01T00:00:00Z".to_string()))
}
