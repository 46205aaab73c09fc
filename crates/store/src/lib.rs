//! Where sessions, memories, revisions and proposals live: the [`Store`]
//! trait, and in [`conformance`] the suite of checks that defines its
//! contract. Every backend (SQLite, PostgreSQL) runs the suite.
//!
//! Times are RFC 3339 strings in the trait; a backend compares them as
//! instants (`2026-01-01T02:00:00+02:00` is `2026-01-01T00:00:00Z`).
//! Nothing is replaced on insert: an id that is already stored is
//! [`StoreError::Exists`]; changes of state are explicit update methods.
//!
//! **Invariant:** the session log is append-only. The trait has no method
//! that updates or deletes a session or an event. A session grows only at
//! its end, by compare-and-append ([`Store::append_events`] with the count
//! the caller saw), so two writers can never interleave or lose events,
//! and only while it is open: a closed session is final. Run journals are
//! append-only too.

pub mod conformance;

/// The chain hashes and head of a session being restored (from an export), after
/// checking that its events end in the head hash and count its header
/// records: every backend's `restore_session` refuses a copy whose events
/// do not prove themselves.
pub fn restored_chain(h: &Session, events: &[NewEvent]) -> Result<(Vec<[u8; 32]>, [u8; 32])> {
    let hashes = nocturne_core::chain::hashes(&h.id, events);
    let head = hashes.last().copied().unwrap_or_else(|| nocturne_core::chain::genesis(&h.id));
    if events.len() != h.event_count as usize || hex::encode(head) != h.head_hash {
        return Err(StoreError::Corrupt(format!(
            "session {}: its {} events do not end in the recorded head hash with {} events",
            h.id,
            events.len(),
            h.event_count
        )));
    }
    Ok((hashes, head))
}

/// What a backend keeps of one session during [`Store::write_streamed`]:
/// its chain so far and the times its header needs at the end. The same
/// for every backend.
#[derive(Debug, Clone)]
pub struct StreamedChain {
    pub id: String,
    /// Events the session holds now (stored before, and written so far).
    pub count: u32,
    /// The chain head after `count` events.
    pub head: [u8; 32],
    /// The declared start of a new session (`None` for a grown one).
    pub declared_start: Option<Option<String>>,
    /// The first and last event timestamps written so far.
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
}

impl StreamedChain {
    pub fn new(id: &str, count: u32, head: [u8; 32], declared_start: Option<Option<String>>) -> StreamedChain {
        StreamedChain { id: id.to_string(), count, head, declared_start, first_ts: None, last_ts: None }
    }

    /// Extends the chain by `events` (at most `max` events in all); returns
    /// each event's sequence number and hash.
    pub fn link(&mut self, events: &[NewEvent], max: usize) -> Result<Vec<(u32, [u8; 32])>> {
        let total = self.count as usize + events.len();
        if total > max {
            return Err(StoreError::Backend(format!(
                "session {} would have {total} events; at most {max} are supported",
                self.id
            )));
        }
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            self.head = nocturne_core::chain::link(&self.head, self.count, e);
            out.push((self.count, self.head));
            self.count += 1;
            if let Some(t) = &e.timestamp {
                if self.first_ts.is_none() {
                    self.first_ts = Some(t.clone());
                }
                self.last_ts = Some(t.clone());
            }
        }
        Ok(out)
    }

    /// A new session's events start at the time declared for it.
    pub fn check_start(&self) -> Result<()> {
        match &self.declared_start {
            Some(declared) if *declared != self.first_ts => Err(StoreError::Corrupt(format!(
                "session {}: its events start at {}, not at {} as declared; nothing was stored",
                self.id,
                self.first_ts.as_deref().unwrap_or("no time"),
                declared.as_deref().unwrap_or("no time"),
            ))),
            _ => Ok(()),
        }
    }
}

/// The ids of streamed-write targets, refusing one given twice.
pub fn stream_target_ids(targets: &[StreamTarget]) -> Result<Vec<&str>> {
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(targets.len());
    for t in targets {
        let id = match t {
            StreamTarget::New { record, .. } => record.session.id.as_str(),
            StreamTarget::Extend { session, .. } => session.as_str(),
        };
        if !seen.insert(id) {
            return Err(StoreError::Conflict(vec![format!("session {id} is given twice in one streamed write")]));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Runs a streamed write's `feed` with `put` (the backend's writer of one
/// batch): a batch refused by `put` fails the write even when `feed`
/// carries on and returns `Ok`.
pub fn feed_batches(
    feed: &mut dyn FnMut(&mut PutBatch<'_>) -> Result<()>,
    put: &mut dyn FnMut(usize, &[NewEvent]) -> Result<()>,
) -> Result<()> {
    let mut refused: Option<String> = None;
    let mut guarded = |at: usize, events: &[NewEvent]| -> Result<()> {
        if let Some(why) = &refused {
            return Err(StoreError::Stopped(format!("an earlier batch was refused: {why}")));
        }
        put(at, events).inspect_err(|e| refused = Some(e.to_string()))
    };
    feed(&mut guarded)?;
    match refused {
        Some(why) => Err(StoreError::Stopped(format!("a batch was refused: {why}"))),
        None => Ok(()),
    }
}

use nocturne_core::outcome::Outcome;
use nocturne_core::{Change, Event, Memory, NewEvent, NewSession, Proposal, ProposalStatus, Revision, Session};

/// Errors every backend reports the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (IO, SQL, corruption). Not the caller's fault.
    #[error("store backend error: {0}")]
    Backend(String),
    /// The store file was written by a newer Nocturne.
    #[error(
        "the store is at schema version {found}, newer than this program supports ({supported}); upgrade nocturne"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// Optimistic concurrency: the caller expected another head revision.
    #[error("the store moved: expected revision {expected}, but it is at {actual}")]
    RevisionMismatch { expected: u64, actual: u64 },
    /// A change's `before` does not match the memory as stored now.
    #[error("conflicting changes: {}", .0.join("; "))]
    Conflict(Vec<String>),
    /// A named object does not exist.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The operation needs an empty memory store (import of revisions).
    #[error("{0}")]
    NotEmpty(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Compare-and-append: the session does not have the event count the
    /// caller expected (another writer appended meanwhile, or the caller
    /// read a stale count). Nothing was appended; re-read and retry.
    #[error("session {session} has {actual} events, not the {expected} expected; nothing was appended")]
    LengthMismatch { session: String, expected: u32, actual: u32 },
    /// A streamed write ([`Store::write_streamed`]) stopped by its caller
    /// (its batches could not all be made). Nothing of it was stored.
    #[error("the write was stopped: {0}; nothing of it was stored")]
    Stopped(String),
    /// An insert found an object with the same id (or unique key) stored;
    /// nothing was replaced.
    #[error("{what} {id} already exists; nothing was replaced")]
    Exists { what: &'static str, id: String },
    /// A store address that no backend of this build opens.
    #[error("{0}")]
    Unsupported(String),
    /// The session is closed: it takes no more events.
    #[error("session {session} is closed; nothing was appended")]
    Closed { session: String },
    /// A journal entry's key is already stored with another content (two
    /// writers disagree about one step). Nothing was appended.
    #[error("run {run}: step {agent}#{step} ({phase}) is already journaled with other content; nothing was appended")]
    JournalConflict { run: String, agent: String, step: u32, phase: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What appending a session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored, with this many events.
    Added { events: u32 },
    /// A session with this id was already stored; nothing changed.
    Skipped,
}

/// Which sessions to list. Newest first (by start time, then id).
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub user: Option<String>,
    pub agent: Option<String>,
    pub team: Option<String>,
    /// Only the sessions spawned by this one (its sub-agents).
    pub parent: Option<String>,
    /// Inclusive lower bound on `started_at` (RFC 3339 prefix compare).
    pub since: Option<String>,
    /// Exclusive upper bound on `started_at`.
    pub until: Option<String>,
    pub limit: Option<usize>,
}

/// A session to append: the importer's session and its ingest time.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session: NewSession,
    pub ingested_at: String,
}

/// A session that [`Store::write_streamed`] stores.
#[derive(Debug, Clone)]
pub enum StreamTarget {
    /// A session not stored yet. `record` is its header (its `events`, if
    /// any, are written before the batches). `started_at` is the timestamp
    /// of its first event that has one, or `None` when none has (it then
    /// starts at its ingest time, as [`Store::append_sessions`] would store
    /// it): the header is written before the events are seen, so the caller,
    /// which read them once already, says it, and the store checks it.
    New { record: Box<SessionRecord>, started_at: Option<String> },
    /// A stored open session that holds exactly `expected_len` events now,
    /// grown at its end (compare-and-append, as [`Store::append_events`]).
    Extend { session: String, expected_len: u32 },
}

/// Hands one batch of events to a streamed write: the next events of the
/// target at this index in the list given to [`Store::write_streamed`].
pub type PutBatch<'a> = dyn FnMut(usize, &[NewEvent]) -> Result<()> + 'a;

/// One memory's entry in its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub rev: u64,
    pub author: String,
    pub reason: String,
    pub created_at: String,
    pub change: Change,
}

/// A cached embedding of a document, tagged with what made it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    /// The document id (memory id).
    pub id: String,
    /// Embedder id, e.g. `hashing-v1-256`.
    pub embedder: String,
    pub dim: u32,
    /// Digest of the text that was embedded; a changed text is re-embedded.
    pub digest: String,
    pub vector: Vec<f32>,
}

/// Memories handed to an agent for a task (a context bundle), recorded so
/// outcomes can be attributed to the memories that were present.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Usage {
    /// Assigned by the store; 0 before.
    #[serde(default)]
    pub id: u64,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub query: String,
    pub memories: Vec<String>,
}

/// An access token as stored: only its hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    pub id: String,
    /// SHA-256 hex of the token.
    pub hash: String,
    /// `read`, `write` or `admin`.
    pub scope: String,
    /// Team the token is bound to; `None` for an org-wide token.
    pub team: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// One run of a scheduled dream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DreamRun {
    pub id: String,
    /// The schedule's name.
    pub schedule: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// 1 for the first try; retries after a failure count up.
    pub attempt: u32,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it ran (`cron 0 3 * * *`, `12 new sessions`, `retry`).
    pub trigger: String,
    /// Sessions in the store when it started (for "after N new sessions").
    pub sessions_seen: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<u64>,
    /// What it changed, or why nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When a failed run is retried (back-off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<String>,
}

/// State of a job in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker (or for `run_after`).
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished; `result` says what it made.
    Done,
    /// Finished with an error, or abandoned after too many attempts.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NewJob {
    /// Unique id (time-ordered, random).
    pub id: String,
    /// What to run: `dream`, `schedule`, ... (the service knows the kinds).
    pub kind: String,
    /// A key unique among all jobs, for jobs that must be enqueued once
    /// however many processes try (`schedule:nightly:2026-01-01T03:00:00Z`).
    pub key: Option<String>,
    /// What the job needs, as the service wrote it.
    pub payload: serde_json::Value,
    /// The team the job works for; `None` for the org.
    pub team: Option<String>,
    /// Who submitted it (`token:ID`, `user:NAME`, `scheduler`).
    pub submitted_by: String,
    pub created_at: String,
    /// Not claimed before this time.
    pub run_after: String,
    /// Claims allowed before a job whose workers keep dying is failed.
    pub max_attempts: u32,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Job {
    #[serde(flatten)]
    pub job: NewJob,
    pub state: JobState,
    /// How many times it was claimed (the fencing number of the current claim).
    pub attempts: u32,
    /// The worker holding (or last holding) it.
    pub worker: Option<String>,
    /// Until when the worker's lease holds; after it, another worker may take the job over.
    pub lease_until: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// Which jobs to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub team: Option<String>,
    pub limit: Option<usize>,
}

/// A worker's claim on a job: the job, and the fence (`attempts`) its
/// renewals and its finish must present.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub worker: String,
    pub attempt: u32,
}

/// How a claimed job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Done(serde_json::Value),
    Failed(String),
    /// Back to the queue, to be claimed again after `run_after` (the work
    /// could not start: e.g. the dream lock was held).
    Retry {
        run_after: String,
        why: String,
    },
}

/// Who holds a named lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub lease_until: String,
}

/// An orchestration run (agents that delegate): its status record, which
/// lists and claims read. Its history is the journal ([`JournalEntry`]);
/// this record is overwritten as the run goes on, except that a
/// cancellation, once asked for, is never cleared.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentRun {
    pub id: String,
    /// The root agent's name.
    pub agent: String,
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `running`, `completed`, `partial`, `failed` or `cancelled`.
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    /// When cancellation was asked for. Sticky: see [`Store::put_agent_run`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_requested_at: Option<String>,
    /// The root agent's typed result, once the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Who runs it now (`host:pid:nonce`), while a process does; the claim
    /// itself is the lock `run:ID` ([`Store::try_lock`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// What resuming the run needs (agent definitions, model, tool
    /// servers, limits), as the runtime wrote it (docs/runtime.md).
    #[serde(default)]
    pub setup: serde_json::Value,
}

/// Which runs to list: newest first (by creation time, then id).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub team: Option<String>,
    pub state: Option<String>,
    pub limit: Option<usize>,
}

/// One entry of a run's append-only journal: a step of one agent. Its key
/// is (`run`, `agent`, `step`, `phase`); docs/runtime.md gives the kinds
/// and their bodies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JournalEntry {
    /// Assigned by the store in append order (0 before).
    #[serde(default)]
    pub seq: u64,
    pub run: String,
    /// The agent's path in the run's tree (`root`, `root/3`, `root/3.2/1`).
    pub agent: String,
    /// The agent's step number (0 is its start).
    pub step: u32,
    /// `started` (a call about to be made) or `finished` (its outcome).
    pub phase: String,
    /// `start`, `model`, `tool`, `spawn`, `end` or `cancel`.
    pub kind: String,
    /// SHA-256 hex of the request the step makes (empty when none).
    pub digest: String,
    pub at: String,
    pub body: serde_json::Value,
}

/// A revision to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Fail with [`StoreError::RevisionMismatch`] unless the head is this.
    pub expect_rev: Option<u64>,
    pub author: String,
    pub reason: String,
    pub created_at: String,
    /// Each change's `before` must equal the stored memory (or absence).
    pub changes: Vec<Change>,
    /// A proposal to mark applied in the same transaction, with the op
    /// numbers applied. The proposal must be pending, else
    /// [`StoreError::Conflict`] and nothing is committed.
    pub applies_proposal: Option<AppliedProposal>,
}

/// The proposal a commit applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedProposal {
    pub id: String,
    pub ops: Vec<u32>,
}

/// Everything one import writes, applied by [`Store::import`] in one
/// transaction: all of it or, when any part is refused, none of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    /// Sessions stored exactly as another store had them (as
    /// [`Store::restore_session`]); one already stored refuses the batch
    /// ([`StoreError::Exists`]).
    pub restore_sessions: Vec<(Session, Vec<NewEvent>)>,
    /// Stored open sessions grown by compare-and-append (as
    /// [`Store::append_events`]).
    pub grow_sessions: Vec<SessionGrowth>,
    /// Sessions closed at a time (as [`Store::close_session`]).
    pub close_sessions: Vec<(String, String)>,
    /// The memory history to write.
    pub memory: MemoryImport,
    /// Taxonomy versions and outcomes restored verbatim (as
    /// [`Store::restore_outcomes`]: the store must have neither).
    pub outcomes: Option<(Vec<TaxonomyRow>, Vec<Outcome>)>,
    /// Usage events restored verbatim (as [`Store::restore_usages`]).
    pub usages: Option<Vec<Usage>>,
}

/// One stored taxonomy version: `(version, toml, set_at)`.
pub type TaxonomyRow = (u32, String, String);

/// Events appended to a stored session that holds exactly `expected_len`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionGrowth {
    pub session: String,
    pub expected_len: u32,
    pub events: Vec<NewEvent>,
}

/// What an import writes to the memory history.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum MemoryImport {
    #[default]
    Nothing,
    /// Revisions restored verbatim into a store with none (as [`Store::restore`]).
    Restore(Vec<Revision>),
    /// One new revision (as [`Store::commit`]).
    Commit(Commit),
}

/// The storage contract. Implementations must be safe to share between
/// threads; writes are serialized by the backend.
pub trait Store: Send + Sync {
    // --- session log (append-only) ---
    /// Appends sessions in one transaction, computing each hash chain.
    /// A session whose id is already stored is skipped unchanged.
    fn append_sessions(&self, batch: &[SessionRecord]) -> Result<Vec<Appended>>;
    /// Compare-and-append: appends events at the end of a stored session (an
    /// open session that grows), extending its hash chain, only if it holds
    /// exactly `expected_len` events now; otherwise nothing changes and the
    /// error is [`StoreError::LengthMismatch`]. Nothing already stored
    /// changes. Returns the session's new event count.
    fn append_events(&self, session: &str, expected_len: u32, events: &[NewEvent]) -> Result<u32>;
    /// Writes sessions whose events come in batches (a file read as it
    /// comes), in ONE transaction, holding one batch at a time: first every
    /// target is checked (a [`StreamTarget::New`] one already stored is
    /// [`StoreError::Exists`]; an [`StreamTarget::Extend`] one is checked as
    /// [`Store::append_events`] checks it: missing, closed, or not holding
    /// `expected_len` events), then `feed` hands over the batches through
    /// the function it is given, then the headers are completed (event
    /// count, head hash, end time) and the transaction commits. When a check
    /// fails, a batch is refused, `feed` returns an error (the caller keeps
    /// its own reason aside and returns, say, [`StoreError::Stopped`]), or a
    /// new session's events do not start at its `started_at`
    /// ([`StoreError::Corrupt`]), nothing at all is stored and that error is
    /// returned: no reader ever sees a part of these sessions, and the hash
    /// chains are those one [`Store::append_sessions`] or
    /// [`Store::append_events`] call would make. Returns each target's
    /// event count after the write.
    ///
    /// `feed` must not use the store: the backend holds its writer (SQLite:
    /// the write lock, so other writers wait; PostgreSQL: the rows of
    /// grown sessions) until it returns.
    fn write_streamed(
        &self,
        targets: &[StreamTarget],
        feed: &mut dyn FnMut(&mut PutBatch<'_>) -> Result<()>,
    ) -> Result<Vec<u32>>;
    /// Stores one session exactly as another store had it (import): the
    /// header verbatim (times included) and its events, whose recomputed
    /// hash chain must end in `header.head_hash` with `header.event_count`
    /// events, else [`StoreError::Corrupt`] and nothing is stored. A session
    /// with this id already stored is [`Appended::Skipped`], unchanged.
    fn restore_session(&self, header: &Session, events: &[NewEvent]) -> Result<Appended>;
    fn session(&self, id: &str) -> Result<Option<Session>>;
    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>>;
    fn events(&self, session: &str) -> Result<Vec<Event>>;
    fn session_count(&self) -> Result<u64>;
    /// The sessions whose `parent` is `parent` (its sub-agents), oldest
    /// first (by start time, then id). Served by an index on the parent.
    fn children(&self, parent: &str) -> Result<Vec<Session>> {
        let mut v = self.sessions(&SessionFilter { parent: Some(parent.to_string()), ..Default::default() })?;
        v.reverse();
        Ok(v)
    }
    /// Closes an open session at `at`: it then refuses appends
    /// ([`StoreError::Closed`]). Closing a closed session changes nothing
    /// (a retried close succeeds). The only change a closed session's
    /// header ever takes is this one.
    fn close_session(&self, id: &str, at: &str) -> Result<()>;

    // --- memory, versioned ---
    fn head(&self) -> Result<u64>;
    /// All memories at the head, active and retired, ordered by id.
    fn memories(&self) -> Result<Vec<Memory>>;
    fn memory(&self, id: &str) -> Result<Option<Memory>>;
    /// Commits one revision atomically; returns it. An empty change list is
    /// refused by the service layer, not here.
    fn commit(&self, commit: Commit) -> Result<Revision>;
    /// Revisions in order, `from..=to` (inclusive, clamped).
    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>>;
    fn history(&self, memory_id: &str) -> Result<Vec<HistoryEntry>>;
    /// Replaces an empty memory store by these revisions, verbatim
    /// (numbers, authors, times). Refused unless the store has no revision.
    fn restore(&self, revisions: &[Revision]) -> Result<()>;

    /// Writes a whole import in one transaction: every part as the method
    /// named on its field would, or — when any part is refused (a session
    /// already stored, a length that moved, a store that is not empty) —
    /// nothing at all, with that part's error.
    fn import(&self, batch: &ImportBatch) -> Result<()>;

    // --- outcomes (append-only) and their taxonomy (versioned) ---
    /// Appends outcomes in one transaction (all or none), assigning ids in
    /// order; returns them with their ids.
    fn append_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<Outcome>>;
    /// Outcomes in id order, all of them or one session's.
    fn outcomes(&self, session: Option<&str>) -> Result<Vec<Outcome>>;
    /// Records a taxonomy version (TOML text). Versions are append-only and
    /// must be the current latest + 1.
    fn put_taxonomy(&self, version: u32, toml: &str, set_at: &str) -> Result<()>;
    /// The latest taxonomy version and its TOML text, if one was set.
    fn taxonomy(&self) -> Result<Option<(u32, String)>>;
    /// Every taxonomy version, oldest first: `(version, toml, set_at)`.
    fn taxonomies(&self) -> Result<Vec<(u32, String, String)>>;
    /// Restores outcomes and taxonomy versions verbatim (import into a
    /// store that has none).
    fn restore_outcomes(&self, taxonomies: &[(u32, String, String)], outcomes: &[Outcome]) -> Result<()>;

    // --- retrieval: cached vectors and usage events ---
    /// Cached vectors of one kind of document (`memory`), any embedder.
    fn vectors(&self, kind: &str) -> Result<Vec<StoredVector>>;
    /// Inserts or replaces cached vectors (a cache: derived data, not history).
    fn put_vectors(&self, kind: &str, vectors: &[StoredVector]) -> Result<()>;
    /// Drops every cached vector of a kind (reindex).
    fn clear_vectors(&self, kind: &str) -> Result<()>;
    /// Appends a usage event (memories handed to an agent); returns its id.
    fn append_usage(&self, usage: &Usage) -> Result<u64>;
    /// Usage events in id order, all or one session's.
    fn usages(&self, session: Option<&str>) -> Result<Vec<Usage>>;
    /// Restores usage events verbatim, ids included (import into a store
    /// that has none; otherwise [`StoreError::NotEmpty`]).
    fn restore_usages(&self, usages: &[Usage]) -> Result<()>;

    // --- access tokens (stored hashed) ---
    /// Stores a new token; an id or hash already stored is [`StoreError::Exists`].
    fn put_token(&self, token: &TokenRecord) -> Result<()>;
    /// The token whose SHA-256 hex digest is `hash`, if any.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>>;
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Marks a token revoked (tokens are never deleted).
    fn revoke_token(&self, id: &str, at: &str) -> Result<()>;

    // --- scheduled dream runs and named leases (the per-store dream lock) ---
    /// Takes the named lock for `holder` until `lease_until` (RFC 3339) if it
    /// is free, already held by `holder` (a renewal), or its lease ended
    /// before `now` (a holder that crashed). Returns whether the lock is now held.
    fn try_lock(&self, name: &str, holder: &str, now: &str, lease_until: &str) -> Result<bool>;
    /// Takes the lock from `gone`, a holder the caller knows has stopped,
    /// if `gone` still holds it (compare-and-swap). Returns whether it did.
    fn take_over_lock(&self, name: &str, gone: &str, holder: &str, lease_until: &str) -> Result<bool>;
    /// Who holds the named lock, if anyone (expired leases included).
    fn lock_holder(&self, name: &str) -> Result<Option<Lease>>;
    /// Releases the lock if `holder` has it.
    fn unlock(&self, name: &str, holder: &str) -> Result<()>;
    /// Stores a new run record; an id already stored is [`StoreError::Exists`].
    fn insert_run(&self, run: &DreamRun) -> Result<()>;
    /// Updates a stored run record (runs are status records, not history).
    fn update_run(&self, run: &DreamRun) -> Result<()>;
    /// Runs, newest first.
    fn runs(&self) -> Result<Vec<DreamRun>>;

    // --- jobs: a queue that many workers share ---
    /// Enqueues a job. An id already stored is [`StoreError::Exists`]; a
    /// `key` already used by another job returns that job instead (`false`:
    /// not enqueued), so many processes may try to enqueue the same work.
    fn enqueue_job(&self, job: &NewJob) -> Result<(Job, bool)>;
    /// Claims the oldest job of one of `kinds` (any kind when empty) that is
    /// queued with `run_after <= now`, or running under a lease that ended
    /// before `now` (its worker stopped): it becomes running for `worker`
    /// until `lease_until`, with `attempts` one higher. Two workers never
    /// claim the same job at once.
    fn claim_job(&self, kinds: &[&str], worker: &str, now: &str, lease_until: &str) -> Result<Option<Job>>;
    /// Extends the lease of a claim; `false` when the claim was lost (the
    /// job was taken over, or finished).
    fn renew_job(&self, id: &str, claim: &Claim, lease_until: &str) -> Result<bool>;
    /// Ends a claim: done, failed or back to the queue. `false` (nothing
    /// changed) when the claim was lost.
    fn finish_job(&self, id: &str, claim: &Claim, end: &JobEnd, now: &str) -> Result<bool>;
    /// Puts a running job whose worker is known to have stopped back in
    /// the queue at once, if that claim still holds it.
    fn release_job(&self, id: &str, claim: &Claim, now: &str) -> Result<bool>;
    fn job(&self, id: &str) -> Result<Option<Job>>;
    /// Jobs, newest first.
    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    // --- orchestration runs: status records and their append-only journal ---
    /// Inserts or replaces a run's status record. A stored
    /// `cancel_requested_at` is kept whatever the new record says, so a
    /// runner writing its progress can never undo a cancellation.
    fn put_agent_run(&self, run: &AgentRun) -> Result<()>;
    fn agent_run(&self, id: &str) -> Result<Option<AgentRun>>;
    /// Runs matching `filter`, newest first (creation time, then id).
    fn agent_runs(&self, filter: &RunFilter) -> Result<Vec<AgentRun>>;
    /// Appends journal entries in one transaction (all or none), assigning
    /// each its `seq`; returns them. An entry whose key is already stored
    /// with the same kind, digest and body is not stored again and gets the
    /// stored seq (a retried write); one with other content is
    /// [`StoreError::JournalConflict`].
    fn append_journal(&self, entries: &[JournalEntry]) -> Result<Vec<u64>>;
    /// A run's journal entries with `seq > after`, in seq order.
    fn journal(&self, run: &str, after: u64) -> Result<Vec<JournalEntry>>;

    // --- dream proposals ---
    /// Stores a new proposal; an id already stored is [`StoreError::Exists`]
    /// and the stored one is left as it was.
    fn insert_proposal(&self, p: &Proposal) -> Result<()>;
    fn proposal(&self, id: &str) -> Result<Option<Proposal>>;
    /// Newest first.
    fn proposals(&self) -> Result<Vec<Proposal>>;
    /// Moves a pending proposal to another status (rejected); a proposal
    /// that is not pending is [`StoreError::Conflict`]. Applying is a
    /// [`Commit`] with `applies_proposal`.
    fn set_proposal_status(&self, id: &str, status: ProposalStatus) -> Result<()>;

    // --- batched reads (a dream reads many sessions in a few round trips) ---
    /// The events of each session, in the order given (unknown ids: empty).
    fn events_of(&self, sessions: &[String]) -> Result<Vec<Vec<Event>>> {
        sessions.iter().map(|s| self.events(s)).collect()
    }
    /// The outcomes of these sessions, in id order.
    fn outcomes_of(&self, sessions: &[String]) -> Result<Vec<Outcome>> {
        let mut all = Vec::new();
        for s in sessions {
            all.extend(self.outcomes(Some(s))?);
        }
        all.sort_by_key(|o| o.id);
        Ok(all)
    }
    /// The usage events of these sessions, in id order.
    fn usages_of(&self, sessions: &[String]) -> Result<Vec<Usage>> {
        let mut all = Vec::new();
        for s in sessions {
            all.extend(self.usages(Some(s))?);
        }
        all.sort_by_key(|u| u.id);
        Ok(all)
    }
}
