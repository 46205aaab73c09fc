//! Faults where a streamed file's state changes: a store that fails its
//! nth batch, a file that changes between the reading that decides and
//! the reading that writes, another writer meanwhile. In every case the
//! user is told which file (and session) was not stored, and the store
//! holds nothing of that session: a session written in several batches is
//! stored whole or not at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::outcome::Outcome;
use nocturne_core::{Event, Memory, NewEvent, Proposal, ProposalStatus, Revision, Session};
use nocturne_service::{Access, IngestOptions, IngestReport, Service};
use nocturne_store::{
    AgentRun, Appended, Claim, Commit, DreamRun, HistoryEntry, ImportBatch, Job, JobEnd, JobFilter, JournalEntry,
    Lease, NewJob, PutBatch, Result, RunFilter, SessionFilter, SessionRecord, Store, StoreError, StoredVector,
    StreamTarget, TokenRecord, Usage,
};
use nocturne_store_sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Hook = Box<dyn FnOnce(&dyn Store) + Send>;

/// A SQLite store that fails the nth batch of a streamed write (1-based; 0:
/// never), and runs a hook when a streamed write starts, before its
/// batches are read (the file is read again inside the write).
struct Faulty {
    inner: SqliteStore,
    fail_batch: AtomicUsize,
    batches: AtomicUsize,
    before_write: Mutex<Option<Hook>>,
}

impl Faulty {
    fn new() -> Faulty {
        Faulty {
            inner: SqliteStore::open_in_memory().unwrap(),
            fail_batch: AtomicUsize::new(0),
            batches: AtomicUsize::new(0),
            before_write: Mutex::new(None),
        }
    }
}

impl Store for Faulty {
    fn write_streamed(
        &self,
        targets: &[StreamTarget],
        feed: &mut dyn FnMut(&mut PutBatch<'_>) -> Result<()>,
    ) -> Result<Vec<u32>> {
        if let Some(hook) = self.before_write.lock().unwrap().take() {
            hook(&self.inner);
        }
        let fail_at = self.fail_batch.load(Ordering::SeqCst);
        let batches = &self.batches;
        self.inner.write_streamed(targets, &mut |put| {
            let mut faulty = |at: usize, events: &[NewEvent]| {
                let n = batches.fetch_add(1, Ordering::SeqCst) + 1;
                if n == fail_at {
                    return Err(StoreError::Backend(format!("disk I/O error (injected at batch {n})")));
                }
                put(at, events)
            };
            feed(&mut faulty)
        })
    }

    fn append_sessions(&self, batch: &[SessionRecord]) -> Result<Vec<Appended>> {
        self.inner.append_sessions(batch)
    }

    fn append_events(&self, session: &str, expected_len: u32, events: &[NewEvent]) -> Result<u32> {
        self.inner.append_events(session, expected_len, events)
    }

    fn restore_session(&self, header: &Session, events: &[NewEvent]) -> Result<Appended> {
        self.inner.restore_session(header, events)
    }

    fn session(&self, id: &str) -> Result<Option<Session>> {
        self.inner.session(id)
    }

    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>> {
        self.inner.sessions(filter)
    }

    fn events(&self, session: &str) -> Result<Vec<Event>> {
        self.inner.events(session)
    }

    fn session_count(&self) -> Result<u64> {
        self.inner.session_count()
    }

    fn children(&self, parent: &str) -> Result<Vec<Session>> {
        self.inner.children(parent)
    }

    fn close_session(&self, id: &str, at: &str) -> Result<()> {
        self.inner.close_session(id, at)
    }

    fn head(&self) -> Result<u64> {
        self.inner.head()
    }

    fn memories(&self) -> Result<Vec<Memory>> {
        self.inner.memories()
    }

    fn memory(&self, id: &str) -> Result<Option<Memory>> {
        self.inner.memory(id)
    }

    fn commit(&self, commit: Commit) -> Result<Revision> {
        self.inner.commit(commit)
    }

    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>> {
        self.inner.revisions(from, to)
    }

    fn history(&self, memory_id: &str) -> Result<Vec<HistoryEntry>> {
        self.inner.history(memory_id)
    }

    fn restore(&self, revisions: &[Revision]) -> Result<()> {
        self.inner.restore(revisions)
    }

    fn import(&self, batch: &ImportBatch) -> Result<()> {
        self.inner.import(batch)
    }

    fn append_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<Outcome>> {
        self.inner.append_outcomes(outcomes)
    }

    fn outcomes(&self, session: Option<&str>) -> Result<Vec<Outcome>> {
        self.inner.outcomes(session)
    }

    fn put_taxonomy(&self, version: u32, toml: &str, set_at: &str) -> Result<()> {
        self.inner.put_taxonomy(version, toml, set_at)
    }

    fn taxonomy(&self) -> Result<Option<(u32, String)>> {
        self.inner.taxonomy()
    }

    fn taxonomies(&self) -> Result<Vec<(u32, String, String)>> {
        self.inner.taxonomies()
    }

    fn restore_outcomes(&self, taxonomies: &[(u32, String, String)], outcomes: &[Outcome]) -> Result<()> {
        self.inner.restore_outcomes(taxonomies, outcomes)
    }

    fn vectors(&self, kind: &str) -> Result<Vec<StoredVector>> {
        self.inner.vectors(kind)
    }

    fn put_vectors(&self, kind: &str, vectors: &[StoredVector]) -> Result<()> {
        self.inner.put_vectors(kind, vectors)
    }

    fn clear_vectors(&self, kind: &str) -> Result<()> {
        self.inner.clear_vectors(kind)
    }

    fn append_usage(&self, usage: &Usage) -> Result<u64> {
        self.inner.append_usage(usage)
    }

    fn usages(&self, session: Option<&str>) -> Result<Vec<Usage>> {
        self.inner.usages(session)
    }

    fn restore_usages(&self, usages: &[Usage]) -> Result<()> {
        self.inner.restore_usages(usages)
    }

    fn put_token(&self, token: &TokenRecord) -> Result<()> {
        self.inner.put_token(token)
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.inner.token_by_hash(hash)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.inner.tokens()
    }

    fn revoke_token(&self, id: &str, at: &str) -> Result<()> {
        self.inner.revoke_token(id, at)
    }

    fn try_lock(&self, name: &str, holder: &str, now: &str, lease_until: &str) -> Result<bool> {
        self.inner.try_lock(name, holder, now, lease_until)
    }

    fn take_over_lock(&self, name: &str, gone: &str, holder: &str, lease_until: &str) -> Result<bool> {
        self.inner.take_over_lock(name, gone, holder, lease_until)
    }

    fn lock_holder(&self, name: &str) -> Result<Option<Lease>> {
        self.inner.lock_holder(name)
    }

    fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        self.inner.unlock(name, holder)
    }

    fn insert_run(&self, run: &DreamRun) -> Result<()> {
        self.inner.insert_run(run)
    }

    fn update_run(&self, run: &DreamRun) -> Result<()> {
        self.inner.update_run(run)
    }

    fn runs(&self) -> Result<Vec<DreamRun>> {
        self.inner.runs()
    }

    fn enqueue_job(&self, job: &NewJob) -> Result<(Job, bool)> {
        self.inner.enqueue_job(job)
    }

    fn claim_job(&self, kinds: &[&str], worker: &str, now: &str, lease_until: &str) -> Result<Option<Job>> {
        self.inner.claim_job(kinds, worker, now, lease_until)
    }

    fn renew_job(&self, id: &str, claim: &Claim, lease_until: &str) -> Result<bool> {
        self.inner.renew_job(id, claim, lease_until)
    }

    fn finish_job(&self, id: &str, claim: &Claim, end: &JobEnd, now: &str) -> Result<bool> {
        self.inner.finish_job(id, claim, end, now)
    }

    fn release_job(&self, id: &str, claim: &Claim, now: &str) -> Result<bool> {
        self.inner.release_job(id, claim, now)
    }

    fn job(&self, id: &str) -> Result<Option<Job>> {
        self.inner.job(id)
    }

    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        self.inner.jobs(filter)
    }

    fn put_agent_run(&self, run: &AgentRun) -> Result<()> {
        self.inner.put_agent_run(run)
    }

    fn agent_run(&self, id: &str) -> Result<Option<AgentRun>> {
        self.inner.agent_run(id)
    }

    fn agent_runs(&self, filter: &RunFilter) -> Result<Vec<AgentRun>> {
        self.inner.agent_runs(filter)
    }

    fn append_journal(&self, entries: &[JournalEntry]) -> Result<Vec<u64>> {
        self.inner.append_journal(entries)
    }

    fn journal(&self, run: &str, after: u64) -> Result<Vec<JournalEntry>> {
        self.inner.journal(run, after)
    }

    fn insert_proposal(&self, p: &Proposal) -> Result<()> {
        self.inner.insert_proposal(p)
    }

    fn proposal(&self, id: &str) -> Result<Option<Proposal>> {
        self.inner.proposal(id)
    }

    fn proposals(&self) -> Result<Vec<Proposal>> {
        self.inner.proposals()
    }

    fn set_proposal_status(&self, id: &str, status: ProposalStatus) -> Result<()> {
        self.inner.set_proposal_status(id, status)
    }

    fn events_of(&self, sessions: &[String]) -> Result<Vec<Vec<Event>>> {
        self.inner.events_of(sessions)
    }

    fn outcomes_of(&self, sessions: &[String]) -> Result<Vec<Outcome>> {
        self.inner.outcomes_of(sessions)
    }

    fn usages_of(&self, sessions: &[String]) -> Result<Vec<Usage>> {
        self.inner.usages_of(sessions)
    }
}

fn service(store: Arc<dyn Store>) -> Service {
    let n = Arc::new(AtomicU64::new(0));
    let clock: nocturne_service::Clock = Arc::new(move || {
        let i = n.fetch_add(1, Ordering::SeqCst);
        format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60)
    });
    Service::with_store(store, clock)
}

/// Streams every file, in batches of about 300 bytes (a few events each).
fn ingest(svc: &Service, file: &Path) -> std::result::Result<IngestReport, String> {
    let opts = IngestOptions { stream_from: Some(0), stream_batch: Some(300), ..Default::default() };
    svc.scoped(Access::local()).ingest(&[file.to_path_buf()], &opts, &|_, _| {}).map_err(|e| e.to_string())
}

/// A Claude Code transcript of session `id`: `n` user and assistant lines saying `word`.
fn transcript(id: &str, n: usize, word: &str) -> String {
    let mut out = String::new();
    for i in 0..n {
        let (ty, role) = if i % 2 == 0 { ("user", "user") } else { ("assistant", "assistant") };
        let rec = serde_json::json!({
            "type": ty, "sessionId": id, "uuid": format!("u{i}"),
            "timestamp": format!("2026-01-01T00:{:02}:{:02}.000Z", i / 60, i % 60),
            "message": {"role": role, "content": [{"type": "text", "text": format!("{word} {i}")}]},
        });
        out.push_str(&rec.to_string());
        out.push('\n');
    }
    out
}

/// What the store holds of a session: its event count and head hash.
fn held(store: &dyn Store, id: &str) -> Option<(u32, String)> {
    store.session(id).unwrap().map(|s| (s.event_count, s.head_hash))
}

/// The refusal of session `id`, as the user reads it; it names the file.
fn refusal(rep: &IngestReport, file: &Path, id: &str) -> String {
    let shown = file.display().to_string();
    let r = rep
        .refused
        .iter()
        .find(|r| r.session.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("session {id} is not refused: {rep:?}"));
    assert_eq!(r.file, shown, "the refusal names the file");
    assert!(rep.refused_any());
    r.to_string()
}

fn setup(text: &str) -> (tempfile::TempDir, PathBuf, Arc<Faulty>, Service) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.jsonl");
    std::fs::write(&file, text).unwrap();
    let store = Arc::new(Faulty::new());
    let svc = service(store.clone());
    (dir, file, store, svc)
}

#[test]
fn a_store_that_fails_its_third_batch_stores_nothing_of_the_new_session() {
    let (_dir, file, store, svc) = setup(&transcript("s", 40, "hello"));
    store.fail_batch.store(3, Ordering::SeqCst);
    let err = ingest(&svc, &file).unwrap_err();
    assert!(err.contains("injected at batch 3"), "{err}");
    assert!(err.contains(&format!("while writing {}; nothing of this file was stored", file.display())), "{err}");
    assert!(store.batches.load(Ordering::SeqCst) >= 3, "the session was written in several batches");
    assert_eq!(held(&*store, "s"), None, "no prefix of the session is stored");
    assert_eq!(store.session_count().unwrap(), 0);
    // Ingested again with a store that works: the whole session, as a whole-file ingest stores it.
    store.fail_batch.store(0, Ordering::SeqCst);
    let rep = ingest(&svc, &file).unwrap();
    assert_eq!((rep.totals.sessions_added, rep.totals.events_added), (1, 40));
    let whole = service(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let opts = IngestOptions { stream_from: Some(u64::MAX), ..Default::default() };
    whole.scoped(Access::local()).ingest(std::slice::from_ref(&file), &opts, &|_, _| {}).unwrap();
    assert_eq!(
        svc.scoped(Access::local()).session_hashes().unwrap(),
        whole.scoped(Access::local()).session_hashes().unwrap()
    );
}

#[test]
fn a_store_that_fails_while_a_session_grows_appends_nothing() {
    let (_dir, file, store, svc) = setup(&transcript("s", 20, "hello"));
    ingest(&svc, &file).unwrap();
    let before = held(&*store, "s").unwrap();
    assert_eq!(before.0, 20);
    std::fs::write(&file, transcript("s", 60, "hello")).unwrap();
    store.fail_batch.store(store.batches.load(Ordering::SeqCst) + 2, Ordering::SeqCst);
    let err = ingest(&svc, &file).unwrap_err();
    assert!(err.contains("injected") && err.contains(&file.display().to_string()), "{err}");
    assert_eq!(held(&*store, "s"), Some(before), "the stored session is as it was: no event appended");
    store.fail_batch.store(0, Ordering::SeqCst);
    let rep = ingest(&svc, &file).unwrap();
    assert_eq!((rep.totals.sessions_extended, rep.totals.events_added), (1, 40));
}

/// The file is replaced by `then` after the first reading decided and
/// before the second writes: the session is refused, naming the file, with
/// a reason that says `why`, and nothing of it is stored.
fn changes_between_readings(then: &str, why: &str) {
    let (_dir, file, store, svc) = setup(&transcript("s", 30, "hello"));
    let (path, then) = (file.clone(), then.to_string());
    *store.before_write.lock().unwrap() = Some(Box::new(move |_| std::fs::write(&path, then).unwrap()));
    let rep = ingest(&svc, &file).unwrap();
    let shown = refusal(&rep, &file, "s");
    assert!(shown.contains(why) && shown.contains("nothing of this file was stored"), "{shown}");
    assert_eq!(held(&*store, "s"), None, "nothing of the session is stored: {shown}");
    assert_eq!(rep.totals.sessions_refused, 1);
    assert_eq!(rep.totals.events_added, 0);
}

#[test]
fn a_file_that_loses_events_between_its_readings_is_not_stored() {
    changes_between_readings(&transcript("s", 12, "hello"), "the file changed while it was ingested");
}

#[test]
fn a_file_whose_events_change_between_its_readings_is_not_stored() {
    changes_between_readings(&transcript("s", 30, "bye"), "the file changed while it was ingested");
}

#[test]
fn a_file_that_holds_another_session_at_the_second_reading_is_not_stored() {
    changes_between_readings(&transcript("t", 30, "hello"), "session s is gone");
}

#[test]
fn a_file_made_malformed_between_its_readings_is_not_stored() {
    let mut text = transcript("s", 30, "hello");
    text.push_str("{not json\n");
    changes_between_readings(&text, "the file could not be read again");
}

#[test]
fn another_writer_growing_the_session_meanwhile_is_detected_and_nothing_is_appended() {
    let (_dir, file, store, svc) = setup(&transcript("s", 20, "hello"));
    ingest(&svc, &file).unwrap();
    std::fs::write(&file, transcript("s", 40, "hello")).unwrap();
    let rival =
        nocturne_ingest::parse("r.jsonl", transcript("s", 21, "rival").as_bytes(), nocturne_ingest::Format::ClaudeCode)
            .unwrap()
            .remove(0)
            .events
            .remove(20);
    *store.before_write.lock().unwrap() = Some(Box::new(move |inner| {
        inner.append_events("s", 20, &[rival]).unwrap();
    }));
    let rep = ingest(&svc, &file).unwrap();
    let shown = refusal(&rep, &file, "s");
    assert!(shown.contains("another writer grew session s to 21 events during this ingest"), "{shown}");
    assert_eq!(held(&*store, "s").map(|h| h.0), Some(21), "only the other writer's event was appended");
}

#[test]
fn a_file_whose_stored_part_changes_between_its_readings_appends_nothing() {
    let (_dir, file, store, svc) = setup(&transcript("s", 20, "hello"));
    ingest(&svc, &file).unwrap();
    let before = held(&*store, "s");
    std::fs::write(&file, transcript("s", 40, "hello")).unwrap();
    let path = file.clone();
    // The grown file is decided on; then its first (stored) events change.
    *store.before_write.lock().unwrap() = Some(Box::new(move |_| {
        let mut text = transcript("s", 40, "hello");
        text = text.replacen("hello 3", "HELLO 3", 1);
        std::fs::write(&path, text).unwrap();
    }));
    let rep = ingest(&svc, &file).unwrap();
    let shown = refusal(&rep, &file, "s");
    assert!(shown.contains("the file or the stored session s changed during this ingest"), "{shown}");
    assert_eq!(held(&*store, "s"), before, "nothing appended");
}

#[test]
fn the_session_of_a_file_is_stored_whole_or_not_at_all_whatever_batch_fails() {
    // Every batch of the write in turn fails: the store holds all of the session or none of it.
    let text = transcript("s", 24, "hello");
    let (_dir, file, store, svc) = setup(&text);
    let mut n = 1;
    loop {
        store.fail_batch.store(store.batches.load(Ordering::SeqCst) + n, Ordering::SeqCst);
        match ingest(&svc, &file) {
            Err(e) => {
                assert!(e.contains(&file.display().to_string()), "{e}");
                assert_eq!(held(&*store, "s"), None, "batch {n} failed: nothing stored");
                n += 1;
            }
            Ok(rep) => {
                assert_eq!(rep.totals.events_added, 24, "every batch written: the whole session");
                assert!(n > 3, "the session took several batches");
                break;
            }
        }
    }
}
