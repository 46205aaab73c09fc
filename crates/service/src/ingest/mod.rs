//! `ingest`: files and folders in, sessions added or grown, and an account
//! of every file.
//!
//! Two passes, so that the order in which files are read never changes the
//! result:
//!
//! 1. **Read.** Files are read and parsed in parallel (a bounded, ordered
//!    pipeline: at most a few files in flight). Each session a file holds
//!    is summarized (id, event count, whether the store already has exactly
//!    its first events); the parsed sessions are kept in memory up to a
//!    budget, beyond which a file is parsed again when it is written.
//! 2. **Decide and write.** A session id found in several files of one run
//!    keeps the longest copy when every other copy is a prefix of it (a
//!    duplicate); copies that diverge are refused together, naming both
//!    files, and neither is stored. Each kept copy is then compared with
//!    the store: new → added; the stored events an unchanged prefix → the
//!    new events appended by compare-and-append (the chain extended);
//!    nothing new → nothing happens; a stored record changed or gone → the
//!    session is refused, naming the first event that differs. The log is
//!    never rewritten.
//!
//! The cheap check first: the chain hash of the file's first `n` events
//! equal to the stored head hash of `n` events proves the prefix unchanged
//! without reading stored events. Only when it fails are stored records
//! compared one by one, by source line and raw JSON (see `compare`).
//!
//! A big file in a format that streams ([`IngestOptions::stream_from`]) is
//! never held whole: the first pass keeps each session's chain hashes, the
//! write reads the file again and hands its sessions' events in batches to
//! one store transaction (`Store::write_streamed`), checking that the second
//! reading gives what the first decided; if not, nothing of the file is stored.

mod compare;
mod pipeline;
mod walk;

pub use nocturne_ingest::{classify_path, PathKind};
pub(crate) use walk::hints;

use crate::error::io_reason;
use crate::{Result, Service};
use nocturne_core::{chain, NewEvent, NewSession, SourceOutcome};
use nocturne_ingest::{FileReport, Format, Hints, IngestError};
use nocturne_store::{Appended, SessionRecord, StoreError, StreamTarget};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

/// Options of one ingest run.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub format: Option<Format>,
    pub user: Option<String>,
    pub agent: Option<String>,
    pub team: Option<String>,
    /// Bytes of parsed sessions (estimated) kept in memory between reading
    /// and writing; a file beyond it is parsed again when written (the first
    /// file kept is kept whatever its size). `None`: [`DEFAULT_MEMORY_BUDGET`].
    pub memory_budget: Option<usize>,
    /// Files of at least this many bytes in a format that streams (Claude
    /// Code, Codex, τ-bench display, Nocturne JSONL) are read as they come
    /// and written in batches within one store transaction, never held
    /// whole. `None`: [`STREAM_FROM`].
    pub stream_from: Option<u64>,
    /// Bytes of events (estimated) a streamed session buffers before they
    /// are handed to the store. `None`: [`STREAM_BATCH_BYTES`].
    pub stream_batch: Option<usize>,
    /// The caller sees only the sessions of `team` (a team-bound token): a
    /// stored session of another team with the same id is refused as not
    /// available, with nothing said about it (not whether its content is
    /// the same, not where it differs), and nothing of it is changed.
    pub confined: bool,
}

/// The one answer to an id the caller cannot use.
fn unavailable(id: &str) -> String {
    format!("session {id}: this session id is not available; give the session another id (nothing was stored)")
}

/// Whether a stored session is outside what a confined caller may see.
fn foreign(opts: &IngestOptions, st: &nocturne_core::Session) -> bool {
    opts.confined && !crate::access::session_visible_to(opts.team.as_deref(), st)
}

/// Parsed sessions kept between the two passes by default (256 MiB).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Read; see its sessions for what was stored.
    Read,
    /// Empty (0 bytes, or only blank lines): nothing to store, nothing wrong.
    Empty,
    /// Not read at all (missing, not a regular file, malformed): see `refused`.
    Refused,
}

/// What became of one session a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionResult {
    /// New: stored with all its events.
    Added,
    /// Stored before as a prefix of this file: the new events were appended.
    Extended,
    /// Stored before with exactly these events: nothing to do.
    Unchanged,
    /// Another file of this run holds the same session (equal, or longer
    /// with this copy as its prefix); that copy is the one kept.
    Duplicate,
    /// Refused: see the report's `refused`. Nothing of it was stored.
    Refused,
}

/// One session of a file in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionEntry {
    pub id: String,
    pub result: SessionResult,
    /// Events the file holds for it.
    pub events: u32,
    /// Events this run appended for it (all of them when added).
    pub events_added: u32,
    /// The session that spawned it (a sub-agent's parent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// For a duplicate: the file whose copy was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

/// One file in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FileEntry {
    pub file: String,
    pub status: FileStatus,
    /// Source records read (JSONL lines, messages of a JSON document).
    pub records: u64,
    /// Events this run stored from this file.
    pub events_added: u64,
    /// Records deliberately not stored, by their type, with counts.
    pub skipped: BTreeMap<String, u64>,
    /// Sub-agent sessions of this file added with their parent link.
    pub children_linked: usize,
    pub sessions: Vec<SessionEntry>,
}

/// A file or a session that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Refusal {
    pub file: String,
    /// 1-based line (or message number) the problem is on, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The session refused (a whole file refused names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The first event (0-based seq) that differs, for a changed session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<u32>,
    /// The other file holding a diverging copy of the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_file: Option<String>,
    /// The file is not a transcript at all (a predictions file, a prompt
    /// history, unrelated JSON), rather than a malformed one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_transcript: bool,
    pub reason: String,
}

impl Refusal {
    /// A whole file refused.
    fn file(file: &str, line: Option<u32>, reason: impl Into<String>) -> Refusal {
        Refusal {
            file: file.to_string(),
            line,
            session: None,
            event: None,
            other_file: None,
            not_transcript: false,
            reason: reason.into(),
        }
    }

    /// One session of a file refused.
    fn session(file: &str, id: &str, line: Option<u32>, reason: impl Into<String>) -> Refusal {
        Refusal { session: Some(id.to_string()), ..Refusal::file(file, line, reason) }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// The sums over a run. Sessions are counted once per id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IngestTotals {
    pub files: usize,
    pub files_empty: usize,
    pub files_refused: usize,
    pub records_read: u64,
    pub records_skipped: BTreeMap<String, u64>,
    pub events_added: u64,
    pub sessions_added: usize,
    pub sessions_extended: usize,
    pub sessions_unchanged: usize,
    pub sessions_refused: usize,
    /// Sub-agent sessions added with their parent link.
    pub children_linked: usize,
    /// Outcomes the sources recorded (a benchmark's reward), logged.
    pub outcomes_logged: usize,
}

/// What an ingest run did, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IngestReport {
    pub totals: IngestTotals,
    /// Every file looked at, in path order.
    pub files: Vec<FileEntry>,
    /// Everything refused: whole files and single sessions.
    pub refused: Vec<Refusal>,
    /// Things worth knowing that refused nothing (an outcome that could not be logged, ...).
    pub notes: Vec<String>,
}

impl IngestReport {
    /// Whether anything was refused (the run is then not a success).
    pub fn refused_any(&self) -> bool {
        !self.refused.is_empty()
    }

    /// The row of the error table a run that refused something answers
    /// with, `None` when nothing was refused: a file that could not be read
    /// as a transcript (or a path that is not there) is invalid input; a
    /// session that conflicts with what is stored or with another file's
    /// copy is a conflict. Invalid input wins when both happened: it is
    /// what the person has to fix first.
    pub fn error_code(&self) -> Option<crate::ErrorCode> {
        if self.refused.iter().any(|r| r.session.is_none()) {
            Some(crate::ErrorCode::InvalidInput)
        } else if self.refused.is_empty() {
            None
        } else {
            Some(crate::ErrorCode::Conflict)
        }
    }
}

/// Bytes of files being read and parsed at once, at most (a single bigger
/// file is read alone): what parsing holds in memory is a few times this.
const IN_FLIGHT_BYTES: u64 = 64 << 20;

/// Files of at least this many bytes stream (see [`IngestOptions::stream_from`]).
pub const STREAM_FROM: u64 = 32 << 20;
/// Bytes of events (estimated) a streamed session buffers before a write.
pub const STREAM_BATCH_BYTES: usize = 8 << 20;
/// Bytes of a file's start read to tell its format before streaming it.
const DETECT_BYTES: u64 = 1 << 20;

/// Sessions appended per write transaction (or fewer, see [`BATCH_EVENTS`]).
const BATCH: usize = 64;
/// Events appended per write transaction, at most (roughly).
const BATCH_EVENTS: usize = 50_000;

/// Where a file's bytes come from.
enum Source<'a> {
    Path(PathBuf),
    Bytes { name: &'a str, bytes: &'a [u8] },
}

impl Source<'_> {
    /// The size of the file (as listed; 0 when it cannot be told).
    fn size(&self) -> u64 {
        match self {
            Source::Path(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
            Source::Bytes { bytes, .. } => bytes.len() as u64,
        }
    }

    fn shown(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Bytes { name, .. } => (*name).to_string(),
        }
    }

    fn read(&self) -> std::result::Result<Cow<'_, [u8]>, String> {
        match self {
            Source::Path(p) => {
                let f = std::fs::File::open(p).map_err(|e| io_reason(&e))?;
                // Checked again on the open file: a FIFO put there meanwhile must not block.
                let meta = f.metadata().map_err(|e| io_reason(&e))?;
                if !meta.is_file() {
                    return Err("not a regular file; skipped".into());
                }
                let mut buf = Vec::with_capacity(meta.len() as usize);
                std::io::Read::read_to_end(&mut std::io::BufReader::new(f), &mut buf).map_err(|e| io_reason(&e))?;
                Ok(Cow::Owned(buf))
            }
            Source::Bytes { bytes, .. } => Ok(Cow::Borrowed(bytes)),
        }
    }

    /// The file opened for reading as it comes (files only, not bytes).
    fn open(&self) -> Option<std::io::Result<Box<dyn std::io::BufRead>>> {
        let Source::Path(p) = self else { return None };
        let open = || -> std::io::Result<Box<dyn std::io::BufRead>> {
            let f = std::fs::File::open(p)?;
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
        };
        Some(open())
    }

    fn hints(&self) -> Hints {
        match self {
            Source::Path(p) => walk::hints(p),
            Source::Bytes { .. } => Hints::default(),
        }
    }
}

/// One session as first read: enough to decide without keeping it.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    events: u32,
    parent: Option<String>,
    /// Stored already with this many events, and whether the file's first
    /// that many events are exactly those (same chain head).
    stored: Option<(u32, bool)>,
    /// Estimated bytes of the parsed session in memory.
    size: usize,
    /// A streamed session's first event time and chain head, as the first
    /// reading found them (the write checks the second reading against them).
    first: Option<(Option<String>, String)>,
}

impl Version {
    fn unchanged(&self) -> bool {
        matches!(self.stored, Some((m, true)) if m == self.events)
    }
}

/// A file after the first pass.
enum Read1 {
    Empty,
    Refused {
        line: Option<u32>,
        reason: String,
        not_transcript: bool,
    },
    Parsed {
        report: FileReport,
        sessions: Vec<NewSession>,
        versions: Vec<Version>,
    },
    /// Read as it came: the sessions without their events (written by
    /// reading the file again).
    Streamed {
        report: FileReport,
        format: Format,
        headers: Vec<NewSession>,
        versions: Vec<Version>,
    },
}

/// The plan for one session of a file, decided before writing.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// Compare with the store and add, extend or leave it.
    Write,
    Unchanged,
    Duplicate(usize),
    Refused,
}

struct FileState {
    shown: String,
    status: FileStatus,
    report: FileReport,
    versions: Vec<Version>,
    plans: Vec<Plan>,
    /// The parsed sessions, when kept in memory.
    bodies: Option<Vec<NewSession>>,
    /// The format and the sessions without events of a file that streams.
    streamed: Option<(Format, Vec<NewSession>)>,
    entries: Vec<SessionEntry>,
    events_added: u64,
    children_linked: usize,
}

/// Estimated memory of a parsed session.
fn size_of(s: &NewSession) -> usize {
    s.events
        .iter()
        .map(|e| {
            160 + e.raw.len()
                + e.text.as_ref().map_or(0, String::len)
                + e.tool_input.as_ref().map_or(0, String::len)
                + e.timestamp.as_ref().map_or(0, String::len)
        })
        .sum::<usize>()
        + 256
}

fn hex32(h: &[u8; 32]) -> String {
    hex::encode(h)
}

/// The chain head of the first `n` events of a session.
fn prefix_head(s: &NewSession, n: usize) -> String {
    let mut prev = chain::genesis(&s.id);
    for (i, e) in s.events.iter().take(n).enumerate() {
        prev = chain::link(&prev, i as u32, e);
    }
    hex32(&prev)
}

/// Parses one file's bytes; the user, agent and team options apply to
/// every session.
fn parse_bytes(
    shown: &str,
    bytes: &[u8],
    format: Format,
    hints: &Hints,
    opts: &IngestOptions,
) -> std::result::Result<(FileReport, Vec<NewSession>), nocturne_ingest::IngestError> {
    let parsed = nocturne_ingest::parse_file(shown, bytes, format, hints)?;
    let mut sessions = parsed.sessions;
    for s in &mut sessions {
        apply_opts(s, opts);
    }
    Ok((parsed.report, sessions))
}

fn is_blank(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter().all(u8::is_ascii_whitespace)
}

impl Service {
    /// Ingests `paths` (files, and folders searched recursively). Nothing
    /// wrong with one path stops the others: a missing path, a file that
    /// is not a regular file, a malformed file or a changed session is
    /// refused and reported, and the rest goes on. `progress(done, total)`
    /// is called as files are read and written.
    pub(crate) fn ingest(
        &self,
        paths: &[PathBuf],
        opts: &IngestOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<IngestReport> {
        let (files, unreadable) = walk::collect(paths);
        let sources: Vec<Source<'_>> = files.into_iter().map(Source::Path).collect();
        let mut rep = self.run(&sources, opts, progress)?;
        for u in unreadable {
            let file = u.path.display().to_string();
            rep.files.push(FileEntry {
                file: file.clone(),
                status: FileStatus::Refused,
                records: 0,
                events_added: 0,
                skipped: BTreeMap::new(),
                children_linked: 0,
                sessions: Vec::new(),
            });
            rep.refused.push(Refusal::file(&file, None, u.reason));
        }
        Ok(finish(rep))
    }

    /// Ingests one transcript given as bytes (an upload), with the same
    /// rules as a file.
    pub(crate) fn ingest_bytes(&self, name: &str, bytes: &[u8], opts: &IngestOptions) -> Result<IngestReport> {
        let rep = self.run(&[Source::Bytes { name, bytes }], opts, &|_, _| {})?;
        Ok(finish(rep))
    }

    fn run(
        &self,
        sources: &[Source<'_>],
        opts: &IngestOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<IngestReport> {
        let format = opts.format.unwrap_or(Format::Auto);
        let budget = opts.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET);
        let store = &*self.store;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let total = sources.len();
        let mut rep = IngestReport::default();

        // Pass 1: read and summarize.
        let mut files: Vec<FileState> = Vec::with_capacity(total);
        let mut kept = 0usize;
        let bounds = pipeline::Bounds { workers, window: workers * 2, max_weight: IN_FLIGHT_BYTES };
        pipeline::ordered_map(
            sources,
            bounds,
            Source::size,
            |src| read_one(src, format, opts, store),
            |i, r| -> Result<()> {
                let shown = sources.get(i).map(Source::shown).unwrap_or_default();
                let r = r.unwrap_or_else(|()| Read1::Refused {
                    line: None,
                    reason: "internal error while reading this file (please report it)".into(),
                    not_transcript: false,
                });
                let mut st = FileState {
                    shown,
                    status: FileStatus::Read,
                    report: FileReport::default(),
                    versions: Vec::new(),
                    plans: Vec::new(),
                    bodies: None,
                    streamed: None,
                    entries: Vec::new(),
                    events_added: 0,
                    children_linked: 0,
                };
                match r {
                    Read1::Empty => st.status = FileStatus::Empty,
                    Read1::Refused { line, reason, not_transcript } => {
                        st.status = FileStatus::Refused;
                        rep.refused.push(Refusal { not_transcript, ..Refusal::file(&st.shown, line, reason) });
                    }
                    Read1::Parsed { report, sessions, versions } => {
                        rep.notes.extend(report.notes.iter().map(|n| format!("{}: {n}", st.shown)));
                        let size: usize = versions.iter().map(|v| v.size).sum();
                        // Kept within the budget; the first file to keep is kept whatever its size
                        // (it is in memory now anyway), so one big file is not parsed twice.
                        if versions.iter().any(|v| !v.unchanged()) && (kept + size <= budget || kept == 0) {
                            kept += size;
                            st.bodies = Some(sessions);
                        }
                        st.plans = versions
                            .iter()
                            .map(|v| if v.unchanged() { Plan::Unchanged } else { Plan::Write })
                            .collect();
                        st.report = report;
                        st.versions = versions;
                    }
                    Read1::Streamed { report, format, headers, versions } => {
                        rep.notes.extend(report.notes.iter().map(|n| format!("{}: {n}", st.shown)));
                        st.plans = versions
                            .iter()
                            .map(|v| if v.unchanged() { Plan::Unchanged } else { Plan::Write })
                            .collect();
                        st.streamed = Some((format, headers));
                        st.report = report;
                        st.versions = versions;
                    }
                }
                files.push(st);
                progress(i + 1, total);
                Ok(())
            },
        )?;

        // Decide: copies of one session in several files.
        let mut by_id: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            for (vi, v) in f.versions.iter().enumerate() {
                let e = by_id.entry(v.id.clone()).or_default();
                if e.is_empty() {
                    order.push(v.id.clone());
                }
                e.push((fi, vi));
            }
        }
        for id in &order {
            let Some(copies) = by_id.get(id) else { continue };
            if copies.len() > 1 {
                self.resolve_copies(id, copies, sources, &mut files, format, opts, &mut rep);
            }
        }

        // Pass 2: write, in path order.
        let todo: Vec<usize> = (0..files.len()).filter(|&i| files[i].plans.contains(&Plan::Write)).collect();
        // A streamed file is written by its own reading, on the writer's thread (`None` here).
        let cells: Vec<Cell> =
            todo.iter().map(|&i| (i, files[i].streamed.is_some(), Mutex::new(files[i].bodies.take()))).collect();
        let mut w = Writer {
            svc: self,
            opts,
            pending: Vec::new(),
            pending_of: Vec::new(),
            pending_events: 0,
            notes: Vec::new(),
        };
        let written_total = total + todo.len();
        pipeline::ordered_map(
            &cells,
            bounds,
            |(fi, streamed, _)| if *streamed { 0 } else { sources.get(*fi).map_or(0, Source::size) },
            |(fi, streamed, cell)| {
                if *streamed {
                    return Ok(None);
                }
                let cached = cell.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                match cached {
                    Some(b) => Ok(Some(b)),
                    None => match sources.get(*fi) {
                        Some(src) => reparse(src, format, opts).map(Some),
                        None => Err((None, "internal error: no such file".into())),
                    },
                }
            },
            |k, r| -> Result<()> {
                let Some(&fi) = todo.get(k) else { return Ok(()) };
                let bodies = match r {
                    Ok(Ok(Some(b))) => b,
                    Ok(Ok(None)) => {
                        w.write_streamed(&mut files, fi, sources, &mut rep)?;
                        progress(total + k + 1, written_total);
                        return Ok(());
                    }
                    Ok(Err((line, reason))) => {
                        refuse_file_sessions(
                            &mut files,
                            fi,
                            line,
                            &format!("could not be read again: {reason}"),
                            &mut rep,
                        );
                        return Ok(());
                    }
                    Err(()) => {
                        refuse_file_sessions(&mut files, fi, None, "internal error while reading this file", &mut rep);
                        return Ok(());
                    }
                };
                w.write_file(&mut files, fi, bodies, sources, &mut rep)?;
                progress(total + k + 1, written_total);
                Ok(())
            },
        )?;
        w.flush(&mut files, &mut rep)?;
        rep.notes.append(&mut w.notes);

        for f in files {
            let mut entries = f.entries;
            // Sessions not written keep the plan's result.
            for (vi, v) in f.versions.iter().enumerate() {
                if entries.iter().any(|e| e.id == v.id) {
                    continue;
                }
                let (result, duplicate_of) = match f.plans.get(vi) {
                    Some(Plan::Unchanged) => (SessionResult::Unchanged, None),
                    Some(Plan::Duplicate(of)) => (SessionResult::Duplicate, sources.get(*of).map(Source::shown)),
                    _ => (SessionResult::Refused, None),
                };
                entries.push(SessionEntry {
                    id: v.id.clone(),
                    result,
                    events: v.events,
                    events_added: 0,
                    parent: v.parent.clone(),
                    duplicate_of,
                });
            }
            let order: HashMap<&str, usize> = f.versions.iter().enumerate().map(|(i, v)| (v.id.as_str(), i)).collect();
            entries.sort_by_key(|e| order.get(e.id.as_str()).copied().unwrap_or(usize::MAX));
            rep.files.push(FileEntry {
                file: f.shown,
                status: f.status,
                records: f.report.records,
                events_added: f.events_added,
                skipped: f.report.skipped,
                children_linked: f.children_linked,
                sessions: entries,
            });
        }
        Ok(rep)
    }

    /// A session found in several files of one run: the longest copy is
    /// kept when every other is a prefix of it; otherwise all are refused.
    #[allow(clippy::too_many_arguments)]
    fn resolve_copies(
        &self,
        id: &str,
        copies: &[(usize, usize)],
        sources: &[Source<'_>],
        files: &mut [FileState],
        format: Format,
        opts: &IngestOptions,
        rep: &mut IngestReport,
    ) {
        // Every copy's events (parsing a file again if its sessions were not kept).
        let mut bodies: Vec<(usize, NewSession)> = Vec::new();
        for &(fi, vi) in copies {
            let body = match files.get(fi).and_then(|f| f.bodies.as_ref()).and_then(|b| b.get(vi)) {
                Some(b) => Some(b.clone()),
                None => sources
                    .get(fi)
                    .and_then(|s| reparse(s, format, opts).ok())
                    .and_then(|v| v.into_iter().find(|s| s.id == id)),
            };
            match body {
                Some(b) => bodies.push((fi, b)),
                None => {
                    set_plan(files, fi, id, Plan::Refused);
                    let file = files.get(fi).map(|f| f.shown.clone()).unwrap_or_default();
                    rep.refused.push(Refusal::session(
                        &file,
                        id,
                        None,
                        format!("session {id}: the file changed while it was ingested; ingest it again"),
                    ));
                }
            }
        }
        let hashes: Vec<Vec<[u8; 32]>> = bodies.iter().map(|(_, b)| chain::hashes(id, &b.events)).collect();
        // The longest copy; the first in path order among equals.
        let mut win = 0;
        for (k, h) in hashes.iter().enumerate() {
            if h.len() > hashes.get(win).map_or(0, Vec::len) {
                win = k;
            }
        }
        let (Some(wh), Some((wf, _))) = (hashes.get(win), bodies.get(win)) else { return };
        let wf = *wf;
        let diverging = hashes.iter().enumerate().find_map(|(k, h)| {
            let n = h.len();
            let agrees = n == 0 || (wh.get(n - 1) == h.get(n - 1));
            if agrees {
                None
            } else {
                let d = h.iter().zip(wh).position(|(a, b)| a != b).unwrap_or(0);
                Some((k, d))
            }
        });
        match diverging {
            None => {
                for (k, (fi, _)) in bodies.iter().enumerate() {
                    set_plan(files, *fi, id, if k == win { Plan::Write } else { Plan::Duplicate(wf) });
                }
            }
            Some((k, d)) => {
                let (Some((kf, kb)), Some((_, wb))) = (bodies.get(k), bodies.get(win)) else { return };
                let kfile = files.get(*kf).map(|f| f.shown.clone()).unwrap_or_default();
                let wfile = files.get(wf).map(|f| f.shown.clone()).unwrap_or_default();
                let line_of = |b: &NewSession| b.events.get(d).and_then(|e| e.source_line);
                let at = |l: Option<u32>| l.map_or_else(|| "?".to_string(), |l| l.to_string());
                let reason = format!(
                    "session {id} is also in {wfile} with different content (first difference at event {d}: line {} here, line {} there); neither copy was stored",
                    at(line_of(kb)),
                    at(line_of(wb)),
                );
                for (fi, _) in &bodies {
                    set_plan(files, *fi, id, Plan::Refused);
                }
                rep.refused.push(Refusal {
                    event: Some(d as u32),
                    other_file: Some(wfile),
                    ..Refusal::session(&kfile, id, line_of(kb), reason)
                });
            }
        }
    }
}

fn set_plan(files: &mut [FileState], fi: usize, id: &str, plan: Plan) {
    if let Some(f) = files.get_mut(fi) {
        for (v, p) in f.versions.iter().zip(f.plans.iter_mut()) {
            if v.id == id {
                *p = plan.clone();
            }
        }
    }
}

/// A file that could not be parsed again: its sessions still to write are refused.
fn refuse_file_sessions(files: &mut [FileState], fi: usize, line: Option<u32>, why: &str, rep: &mut IngestReport) {
    let Some(f) = files.get_mut(fi) else { return };
    for (v, p) in f.versions.iter().zip(f.plans.iter_mut()) {
        if *p == Plan::Write {
            *p = Plan::Refused;
            rep.refused.push(Refusal::session(&f.shown, &v.id, line, format!("session {}: the file {why}", v.id)));
        }
    }
}

/// Pass 1 for one file.
/// The format `src` streams in, when it is a file big enough to stream
/// (see [`IngestOptions::stream_from`]); `Auto` is told from its start.
fn streaming_format(src: &Source<'_>, format: Format, opts: &IngestOptions) -> Option<Format> {
    let Source::Path(p) = src else { return None };
    if src.size() < opts.stream_from.unwrap_or(STREAM_FROM) {
        return None;
    }
    let format = match format {
        Format::Auto => {
            let f = std::fs::File::open(p).ok()?;
            let mut head = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, DETECT_BYTES), &mut head).ok()?;
            // Whole lines only (a record cut in two would not parse).
            if head.len() as u64 == DETECT_BYTES {
                let end = head.iter().rposition(|b| *b == b'\n')?;
                head.truncate(end + 1);
            }
            nocturne_ingest::detect(&head)?
        }
        f => f,
    };
    nocturne_ingest::streams(format).then_some(format)
}

/// Applies the user, agent and team options to a session.
fn apply_opts(s: &mut NewSession, opts: &IngestOptions) {
    if opts.user.is_some() {
        s.user.clone_from(&opts.user);
    }
    if opts.agent.is_some() {
        s.agent.clone_from(&opts.agent);
    }
    if opts.team.is_some() {
        s.team.clone_from(&opts.team);
    }
}

/// Pass 1 for a file that streams: its sessions' headers, and for each its
/// event count and chain hashes (32 bytes an event), nothing else of it.
fn stream_one(src: &Source<'_>, format: Format, opts: &IngestOptions, store: &dyn nocturne_store::Store) -> Read1 {
    let shown = src.shown();
    let mut hashes: Vec<Vec<[u8; 32]>> = Vec::new();
    let mut starts: Vec<Option<String>> = Vec::new();
    let mut sink = |at: usize, id: &str, e: NewEvent| -> std::result::Result<(), IngestError> {
        if hashes.len() <= at {
            hashes.resize_with(at + 1, Vec::new);
            starts.resize(at + 1, None);
        }
        if let (Some(h), Some(start)) = (hashes.get_mut(at), starts.get_mut(at)) {
            let prev = h.last().copied().unwrap_or_else(|| chain::genesis(id));
            h.push(chain::link(&prev, h.len() as u32, &e));
            if start.is_none() {
                start.clone_from(&e.timestamp);
            }
        }
        Ok(())
    };
    let mut open = || src.open().unwrap_or_else(|| Err(std::io::Error::other("not a file")));
    let parsed = match nocturne_ingest::stream_file(&shown, &mut open, format, &src.hints(), &mut sink) {
        Ok(p) => p,
        Err(e) => return Read1::Refused { line: e.line(), not_transcript: e.is_not_transcript(), reason: e.reason() },
    };
    let mut headers = parsed.sessions;
    let versions = headers
        .iter_mut()
        .enumerate()
        .map(|(at, s)| {
            apply_opts(s, opts);
            let h = hashes.get(at).map_or(&[][..], Vec::as_slice);
            let head_at = |m: usize| match m.checked_sub(1) {
                None => Some(hex32(&chain::genesis(&s.id))),
                Some(i) => h.get(i).map(hex32),
            };
            let stored = match store.session(&s.id) {
                Ok(Some(st)) if foreign(opts, &st) => None,
                Ok(Some(st)) => {
                    let m = st.event_count as usize;
                    Some((st.event_count, h.len() >= m && head_at(m).as_deref() == Some(st.head_hash.as_str())))
                }
                _ => None,
            };
            let start = starts.get(at).cloned().flatten();
            let first = head_at(h.len()).map(|head| (start, head));
            Version { id: s.id.clone(), events: h.len() as u32, parent: s.parent.clone(), stored, size: 0, first }
        })
        .collect();
    Read1::Streamed { report: parsed.report, format, headers, versions }
}

fn read_one(src: &Source<'_>, format: Format, opts: &IngestOptions, store: &dyn nocturne_store::Store) -> Read1 {
    if let Some(f) = streaming_format(src, format, opts) {
        return stream_one(src, f, opts, store);
    }
    let shown = src.shown();
    let bytes = match src.read() {
        Ok(b) => b,
        Err(reason) => return Read1::Refused { line: None, reason, not_transcript: false },
    };
    if is_blank(&bytes) {
        return Read1::Empty;
    }
    let (report, sessions) = match parse_bytes(&shown, &bytes, format, &src.hints(), opts) {
        Ok(p) => p,
        Err(e) => return Read1::Refused { line: e.line(), not_transcript: e.is_not_transcript(), reason: e.reason() },
    };
    drop(bytes);
    let versions = sessions
        .iter()
        .map(|s| {
            let stored = match store.session(&s.id) {
                // Planned as new; refused when written, like any unavailable id.
                Ok(Some(st)) if foreign(opts, &st) => None,
                Ok(Some(st)) => {
                    let m = st.event_count as usize;
                    Some((st.event_count, s.events.len() >= m && prefix_head(s, m) == st.head_hash))
                }
                // A store that cannot answer now is asked again when writing.
                _ => None,
            };
            Version {
                id: s.id.clone(),
                events: s.events.len() as u32,
                parent: s.parent.clone(),
                stored,
                size: size_of(s),
                first: None,
            }
        })
        .collect();
    Read1::Parsed { report, sessions, versions }
}

fn reparse(
    src: &Source<'_>,
    format: Format,
    opts: &IngestOptions,
) -> std::result::Result<Vec<NewSession>, (Option<u32>, String)> {
    let bytes = src.read().map_err(|r| (None, r))?;
    parse_bytes(&src.shown(), &bytes, format, &src.hints(), opts).map(|(_, s)| s).map_err(|e| (e.line(), e.reason()))
}

/// The single writer of pass 2.
struct Writer<'s> {
    svc: &'s Service,
    opts: &'s IngestOptions,
    /// Sessions to add, and beside each its file index and recorded outcome.
    pending: Vec<SessionRecord>,
    pending_of: Vec<(usize, Option<SourceOutcome>)>,
    pending_events: usize,
    notes: Vec<String>,
}

impl Writer<'_> {
    fn write_file(
        &mut self,
        files: &mut [FileState],
        fi: usize,
        bodies: Vec<NewSession>,
        sources: &[Source<'_>],
        rep: &mut IngestReport,
    ) -> Result<()> {
        let store = &*self.svc.store;
        let Some(f) = files.get(fi) else { return Ok(()) };
        let plans: Vec<(String, Plan)> =
            f.versions.iter().zip(&f.plans).map(|(v, p)| (v.id.clone(), p.clone())).collect();
        let shown = f.shown.clone();
        let mut file_text: Option<Option<String>> = None;
        for mut s in bodies {
            if !plans.iter().any(|(id, p)| *id == s.id && *p == Plan::Write) {
                continue;
            }
            let n = s.events.len() as u32;
            let entry = |result, events_added| SessionEntry {
                id: s.id.clone(),
                result,
                events: n,
                events_added,
                parent: s.parent.clone(),
                duplicate_of: None,
            };
            let Some(st) = store.session(&s.id)? else {
                let outcome = s.outcome.take();
                self.pending_events += s.events.len();
                self.pending.push(SessionRecord { session: s, ingested_at: self.svc.now() });
                self.pending_of.push((fi, outcome));
                if self.pending.len() >= BATCH || self.pending_events >= BATCH_EVENTS {
                    self.flush(files, rep)?;
                }
                continue;
            };
            if foreign(self.opts, &st) {
                rep.refused.push(Refusal::session(&shown, &s.id, None, unavailable(&s.id)));
                push_entry(files, fi, entry(SessionResult::Refused, 0));
                continue;
            }
            let m = st.event_count as usize;
            let from = if s.events.len() >= m && prefix_head(&s, m) == st.head_hash {
                m
            } else {
                let stored = store.events(&s.id)?;
                // The file's own record at a line, for records the importer no longer emits.
                let text = file_text.get_or_insert_with(|| {
                    sources.get(fi).and_then(|src| src.read().ok()).map(|b| String::from_utf8_lossy(&b).into_owned())
                });
                let text = text.as_deref().unwrap_or("");
                match compare::stored_prefix(&stored, &s.events, &|l| compare::nth_line(text, l)) {
                    Ok(p) => {
                        if p.not_inserted > 0 {
                            self.notes.push(format!(
                                "{shown}: session {}: {} records before the stored end were not kept by the Nocturne that stored it; they are not inserted (the log is append-only)",
                                s.id, p.not_inserted
                            ));
                        }
                        p.new_from
                    }
                    Err(d) => {
                        let line = d.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                        let what = if d.missing { "is no longer in the file" } else { "changed in the file" };
                        let from = st.source.as_deref().map(|f| format!(", stored from {f}")).unwrap_or_default();
                        let reason = format!(
                            "session {}: stored event {}{line} {what}{from}; a stored session is never rewritten, so nothing of this file's copy was stored",
                            s.id, d.seq
                        );
                        rep.refused
                            .push(Refusal { event: Some(d.seq), ..Refusal::session(&shown, &s.id, d.line, reason) });
                        push_entry(files, fi, entry(SessionResult::Refused, 0));
                        continue;
                    }
                }
            };
            let new = s.events.get(from..).unwrap_or_default();
            if new.is_empty() {
                push_entry(files, fi, entry(SessionResult::Unchanged, 0));
                continue;
            }
            match store.append_events(&s.id, st.event_count, new) {
                Ok(_) => {
                    let added = new.len() as u32;
                    if let Some(f) = files.get_mut(fi) {
                        f.events_added += u64::from(added);
                    }
                    push_entry(files, fi, entry(SessionResult::Extended, added));
                }
                Err(StoreError::LengthMismatch { actual, .. }) => {
                    rep.refused.push(Refusal::session(&shown.clone(), &s.id.clone(), None, format!(
                            "session {}: another writer grew it to {actual} events during this ingest; nothing was appended; ingest again",
                            s.id
                        )));
                    push_entry(files, fi, entry(SessionResult::Refused, 0));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // A session the first reading found that is gone from the file now.
        for (id, plan) in &plans {
            let written = files.get(fi).is_some_and(|f| f.entries.iter().any(|e| &e.id == id))
                || self.pending.iter().zip(&self.pending_of).any(|(r, (pf, _))| *pf == fi && &r.session.id == id);
            if *plan == Plan::Write && !written {
                set_plan(files, fi, id, Plan::Refused);
                rep.refused.push(Refusal::session(
                    &shown.clone(),
                    &id.clone(),
                    None,
                    format!("session {id}: the file changed while it was ingested; ingest it again"),
                ));
            }
        }
        Ok(())
    }

    /// Writes the sessions of a file that streams by reading it again, in
    /// one store transaction ([`nocturne_store::Store::write_streamed`]):
    /// each session's events are handed over in batches of about
    /// [`STREAM_BATCH_BYTES`], so the file is never held whole, and a
    /// session is stored whole or not at all: when the second reading does
    /// not give what the first decided (the file changed, became unreadable,
    /// or the store moved), nothing of this file is stored. A file whose
    /// stored copy differs (the records must be compared one by one) is
    /// parsed whole and written as any other file.
    fn write_streamed(
        &mut self,
        files: &mut [FileState],
        fi: usize,
        sources: &[Source<'_>],
        rep: &mut IngestReport,
    ) -> Result<()> {
        let store = &*self.svc.store;
        let Some(src) = sources.get(fi) else { return Ok(()) };
        let Some(f) = files.get_mut(fi) else { return Ok(()) };
        let Some((format, headers)) = f.streamed.take() else { return Ok(()) };
        let shown = f.shown.clone();
        let plans: Vec<(Version, Plan)> = f.versions.iter().cloned().zip(f.plans.iter().cloned()).collect();
        let needs_compare = plans.iter().any(|(v, p)| *p == Plan::Write && matches!(v.stored, Some((_, false))));
        if needs_compare {
            return match reparse(src, format, self.opts) {
                Ok(bodies) => self.write_file(files, fi, bodies, sources, rep),
                Err((line, reason)) => {
                    refuse_file_sessions(files, fi, line, &format!("could not be read again: {reason}"), rep);
                    Ok(())
                }
            };
        }
        // Sessions added before this file's are written first (the order of a run).
        self.flush(files, rep)?;
        let mut states: Vec<Streaming> = Vec::with_capacity(headers.len());
        let mut targets: Vec<StreamTarget> = Vec::new();
        for (at, h) in headers.into_iter().enumerate() {
            let (v, plan) = match plans.get(at) {
                Some((v, p)) if v.id == h.id => (v.clone(), p.clone()),
                _ => (
                    Version { id: h.id.clone(), events: 0, parent: None, stored: None, size: 0, first: None },
                    Plan::Refused,
                ),
            };
            let (start, head) = v.first.clone().unwrap_or_default();
            let mut st = Streaming::new(h, v.events, head);
            if plan == Plan::Write {
                match store.session(&st.header.id)? {
                    None => {
                        let mut session = st.header.clone();
                        st.outcome = session.outcome.take();
                        st.new = true;
                        st.target = Some(targets.len());
                        let record = SessionRecord { session, ingested_at: self.svc.now() };
                        targets.push(StreamTarget::New { record: Box::new(record), started_at: start });
                    }
                    Some(stored) if foreign(self.opts, &stored) => {
                        st.refuse(&shown, unavailable(&stored.id), rep);
                    }
                    Some(stored) => {
                        st.from = stored.event_count;
                        st.stored_head = Some(stored.head_hash);
                        st.target = Some(targets.len());
                        targets.push(StreamTarget::Extend { session: stored.id, expected_len: stored.event_count });
                    }
                }
            }
            states.push(st);
        }
        let batch_bytes = self.opts.stream_batch.unwrap_or(STREAM_BATCH_BYTES);
        // Why this service stopped the write, and a store error kept aside while the reading stops.
        let mut stop: Option<String> = None;
        let mut store_err: Option<StoreError> = None;
        let res = if targets.is_empty() {
            Ok(Vec::new())
        } else {
            store.write_streamed(&targets, &mut |put| {
                let stopped = |why: &str| IngestError::Refused { file: shown.clone(), line: None, reason: why.into() };
                let mut sink = |at: usize, id: &str, e: NewEvent| -> std::result::Result<(), IngestError> {
                    let Some(st) = states.get_mut(at) else { return Ok(()) };
                    let Some(t) = st.target else { return Ok(()) };
                    if id != st.header.id {
                        let why = format!("the file changed while it was ingested (session {} is gone)", st.header.id);
                        return Err(stopped(stop.insert(why)));
                    }
                    match st.take(e, batch_bytes) {
                        Err(why) => Err(stopped(stop.insert(why))),
                        Ok(false) => Ok(()),
                        Ok(true) => {
                            let r = put(t, &st.buf);
                            st.clear();
                            r.map_err(|e| stopped(&store_err.insert(e).to_string()))
                        }
                    }
                };
                let mut open = || src.open().unwrap_or_else(|| Err(std::io::Error::other("not a file")));
                let read = nocturne_ingest::stream_file(&shown, &mut open, format, &src.hints(), &mut sink);
                if let Some(e) = store_err.take() {
                    return Err(e);
                }
                if let Some(why) = &stop {
                    return Err(StoreError::Stopped(why.clone()));
                }
                if let Err(e) = read {
                    let why = format!("the file could not be read again ({e})");
                    return Err(StoreError::Stopped(stop.insert(why).clone()));
                }
                for st in &mut states {
                    let Some(t) = st.target else { continue };
                    if let Some(why) = st.finished() {
                        return Err(StoreError::Stopped(stop.insert(why).clone()));
                    }
                    if !st.buf.is_empty() {
                        put(t, &st.buf)?;
                        st.clear();
                    }
                }
                Ok(())
            })
        };
        match res {
            Ok(counts) => {
                for st in &mut states {
                    let Some(n) = st.target.and_then(|t| counts.get(t)) else { continue };
                    st.added = n.saturating_sub(st.from);
                    st.result = Some(if st.new {
                        SessionResult::Added
                    } else if st.added > 0 {
                        SessionResult::Extended
                    } else {
                        SessionResult::Unchanged
                    });
                    if st.result == Some(SessionResult::Added) {
                        if let Some(o) = st.outcome.take() {
                            match self.svc.log_source_outcome(&st.header.id, &st.header.format, &o) {
                                Ok(()) => rep.totals.outcomes_logged += 1,
                                Err(why) => self.notes.push(format!(
                                    "session {}: its recorded outcome was not logged: {why}",
                                    st.header.id
                                )),
                            }
                        }
                    }
                }
            }
            Err(e) => {
                let why = match (stop, e) {
                    (Some(why), _) => why,
                    (None, StoreError::LengthMismatch { session, actual, .. }) => {
                        format!("another writer grew session {session} to {actual} events during this ingest")
                    }
                    (None, StoreError::Exists { id, .. }) => {
                        format!("another writer stored session {id} during this ingest")
                    }
                    (None, StoreError::Closed { session }) => {
                        format!("session {session} was closed during this ingest")
                    }
                    (None, StoreError::Stopped(why)) => why,
                    (None, StoreError::Backend(m)) => {
                        return Err(StoreError::Backend(format!(
                            "{m} (while writing {shown}; nothing of this file was stored)"
                        ))
                        .into())
                    }
                    (None, StoreError::Corrupt(m)) => {
                        return Err(StoreError::Corrupt(format!(
                            "{m} (while writing {shown}; nothing of this file was stored)"
                        ))
                        .into())
                    }
                    (None, e) => return Err(e.into()),
                };
                for st in states.iter_mut().filter(|s| s.target.is_some()) {
                    let reason =
                        format!("session {}: {why}; nothing of this file was stored; ingest it again", st.header.id);
                    st.refuse(&shown, reason, rep);
                }
            }
        }
        for st in states {
            if let Some(result) = st.result {
                let events_added = st.added;
                if let Some(f) = files.get_mut(fi) {
                    f.events_added += u64::from(events_added);
                    if result == SessionResult::Added && st.header.parent.is_some() {
                        f.children_linked += 1;
                    }
                }
                push_entry(
                    files,
                    fi,
                    SessionEntry {
                        id: st.header.id.clone(),
                        result,
                        events: st.planned,
                        events_added,
                        parent: st.header.parent.clone(),
                        duplicate_of: None,
                    },
                );
            }
        }
        Ok(())
    }

    fn flush(&mut self, files: &mut [FileState], rep: &mut IngestReport) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let of = std::mem::take(&mut self.pending_of);
        self.pending_events = 0;
        let res = self.svc.store.append_sessions(&batch)?;
        for ((rec, (fi, outcome)), r) in batch.into_iter().zip(of).zip(res) {
            let s = rec.session;
            let n = s.events.len() as u32;
            let mut entry = SessionEntry {
                id: s.id.clone(),
                result: SessionResult::Added,
                events: n,
                events_added: n,
                parent: s.parent.clone(),
                duplicate_of: None,
            };
            match r {
                Appended::Added { events } => {
                    entry.events_added = events;
                    if let Some(f) = files.get_mut(fi) {
                        f.events_added += u64::from(events);
                        if s.parent.is_some() {
                            f.children_linked += 1;
                        }
                    }
                    if let Some(o) = outcome {
                        match self.svc.log_source_outcome(&s.id, &s.format, &o) {
                            Ok(()) => rep.totals.outcomes_logged += 1,
                            Err(why) => {
                                self.notes.push(format!("session {}: its recorded outcome was not logged: {why}", s.id))
                            }
                        }
                    }
                }
                Appended::Skipped => {
                    entry.result = SessionResult::Refused;
                    entry.events_added = 0;
                    let file = files.get(fi).map(|f| f.shown.clone()).unwrap_or_default();
                    let why = format!(
                        "session {}: another writer stored it during this ingest; ingest again to compare",
                        s.id
                    );
                    rep.refused.push(Refusal::session(&file, &s.id, None, why));
                }
            }
            push_entry(files, fi, entry);
        }
        Ok(())
    }
}

/// A file to write in pass 2: its index, whether it streams, and its parsed
/// sessions when they were kept.
type Cell = (usize, bool, Mutex<Option<Vec<NewSession>>>);

/// A session of a file being streamed into the store.
struct Streaming {
    header: NewSession,
    /// Events the first reading found, and their chain head.
    planned: u32,
    planned_head: String,
    /// Its place among the targets of the store write, while it is written.
    target: Option<usize>,
    /// Not stored before this write.
    new: bool,
    /// The outcome its source records (logged once it is stored).
    outcome: Option<SourceOutcome>,
    /// Events before this are stored already (hashed, not written).
    from: u32,
    /// The stored head hash at `from`, until the file's is checked against it.
    stored_head: Option<String>,
    /// Events read so far, and their chain hash.
    seq: u32,
    prev: [u8; 32],
    buf: Vec<NewEvent>,
    bytes: usize,
    added: u32,
    result: Option<SessionResult>,
}

impl Streaming {
    fn new(header: NewSession, planned: u32, planned_head: String) -> Streaming {
        let prev = chain::genesis(&header.id);
        Streaming {
            header,
            planned,
            planned_head,
            target: None,
            new: false,
            outcome: None,
            from: 0,
            stored_head: None,
            seq: 0,
            prev,
            buf: Vec::new(),
            bytes: 0,
            added: 0,
            result: None,
        }
    }

    /// One event of the second reading: hashed, and kept for the next batch
    /// when it is after the stored end. `Ok(true)` when the batch is full;
    /// an error when the file's first `from` events are not the stored ones
    /// (the file or the stored session changed since the first reading).
    fn take(&mut self, e: NewEvent, batch_bytes: usize) -> std::result::Result<bool, String> {
        let i = self.seq;
        if i == self.from {
            self.check_head()?;
        }
        self.prev = chain::link(&self.prev, i, &e);
        self.seq += 1;
        if i < self.from {
            return Ok(false);
        }
        self.bytes += 160 + e.raw.len() + e.text.as_ref().map_or(0, String::len);
        self.buf.push(e);
        Ok(self.bytes >= batch_bytes || self.buf.len() >= BATCH_EVENTS)
    }

    fn check_head(&mut self) -> std::result::Result<(), String> {
        match self.stored_head.take() {
            Some(head) if hex32(&self.prev) != head => Err(format!(
                "the file or the stored session {} changed during this ingest (its first {} events are not the stored ones)",
                self.header.id, self.from
            )),
            _ => Ok(()),
        }
    }

    /// After the second reading: why it is not what the first found, if it is not.
    fn finished(&mut self) -> Option<String> {
        if self.seq == self.from {
            if let Err(why) = self.check_head() {
                return Some(why);
            }
        }
        if self.stored_head.is_some() || self.seq != self.planned || hex32(&self.prev) != self.planned_head {
            return Some(format!(
                "the file changed while it was ingested (session {}: {} events read first, {} then, or other content)",
                self.header.id, self.planned, self.seq
            ));
        }
        None
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.bytes = 0;
    }

    fn refuse(&mut self, shown: &str, why: String, rep: &mut IngestReport) {
        self.target = None;
        self.buf = Vec::new();
        self.result = Some(SessionResult::Refused);
        rep.refused.push(Refusal::session(shown, &self.header.id, None, why));
    }
}

fn push_entry(files: &mut [FileState], fi: usize, e: SessionEntry) {
    if let Some(f) = files.get_mut(fi) {
        f.entries.push(e);
    }
}

/// Sorts the report and computes its totals.
fn finish(mut rep: IngestReport) -> IngestReport {
    rep.files.sort_by(|a, b| a.file.cmp(&b.file));
    rep.refused.sort_by(|a, b| (&a.file, a.line, &a.session).cmp(&(&b.file, b.line, &b.session)));
    let outcomes = rep.totals.outcomes_logged;
    let mut t = IngestTotals { files: rep.files.len(), outcomes_logged: outcomes, ..Default::default() };
    // A session is counted once, by what happened to it: refused > extended > added > unchanged.
    let mut sessions: BTreeMap<&str, SessionResult> = BTreeMap::new();
    for f in &rep.files {
        match f.status {
            FileStatus::Empty => t.files_empty += 1,
            FileStatus::Refused => t.files_refused += 1,
            FileStatus::Read => {}
        }
        t.records_read += f.records;
        t.events_added += f.events_added;
        t.children_linked += f.children_linked;
        for (k, n) in &f.skipped {
            *t.records_skipped.entry(k.clone()).or_default() += n;
        }
        for s in &f.sessions {
            let rank = |r: SessionResult| match r {
                SessionResult::Refused => 4,
                SessionResult::Extended => 3,
                SessionResult::Added => 2,
                SessionResult::Unchanged => 1,
                SessionResult::Duplicate => 0,
            };
            let e = sessions.entry(s.id.as_str()).or_insert(s.result);
            if rank(s.result) > rank(*e) {
                *e = s.result;
            }
        }
    }
    for r in sessions.values() {
        match r {
            SessionResult::Added => t.sessions_added += 1,
            SessionResult::Extended => t.sessions_extended += 1,
            SessionResult::Unchanged | SessionResult::Duplicate => t.sessions_unchanged += 1,
            SessionResult::Refused => t.sessions_refused += 1,
        }
    }
    rep.totals = t;
    rep
}
