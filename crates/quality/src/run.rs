//! Driving Nocturne the way a user does, through the service layer only:
//! a fresh store in a temporary folder, `ingest`, `dream` with the CLI's
//! defaults, `dreams apply`, `context`.
//!
//! This is the one module that knows the service's ingest report; when it
//! changes shape, [`summarize`] is what adapts.

use crate::Result;
use nocturne_core::{Event, Proposal, Session};
use nocturne_service::{Access, ContextRequest, DreamSpec, IngestOptions, IngestReport, OpSelection, Service};
use nocturne_store::SessionFilter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Who the suite is when it dreams, applies and asks for context.
pub const AUTHOR: &str = "user:nocturne-quality";

/// The CLI's default token budget for `nocturne context`.
pub const CONTEXT_BUDGET: usize = 1000;

/// The CLI's default number of sessions a dream reads.
pub const DEFAULT_SESSIONS: usize = 100;

/// What to ingest.
#[derive(Debug, Clone)]
pub enum Input {
    /// A folder, as `nocturne ingest DIR` reads it.
    Folder(PathBuf),
    /// These files, as `nocturne ingest FILE...` reads them.
    Files(Vec<PathBuf>),
}

/// A file the service did not turn into sessions, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub file: String,
    pub reason: String,
}

/// What an ingest did, as far as the suite needs it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Files the service looked at.
    pub files: usize,
    /// Sessions the service found already stored (same id) and skipped.
    pub sessions_skipped: usize,
    pub rejected: Vec<Rejected>,
    /// For a folder: its files by kind (extension, or the name for files
    /// without one), to tell what the service did not read.
    pub folder: BTreeMap<String, usize>,
}

/// A folder's files by extension (`.jsonl`), or by name when they have none.
fn folder_kinds(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in crate::data::files_under(dir).unwrap_or_default() {
        let kind = match f.extension() {
            Some(e) => format!(".{}", e.to_string_lossy()),
            None => f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        *out.entry(kind).or_default() += 1;
    }
    out
}

/// The one adapter over the service's ingest report.
fn summarize(r: &IngestReport) -> IngestSummary {
    IngestSummary {
        files: r.totals.files,
        sessions_skipped: r.totals.sessions_unchanged,
        rejected: r
            .refused
            .iter()
            .map(|x| Rejected {
                file: x.file.clone(),
                reason: match x.line {
                    Some(l) => format!("line {l}: {}", x.reason),
                    None => x.reason.clone(),
                },
            })
            .collect(),
        folder: BTreeMap::new(),
    }
}

/// A stored session with its events.
#[derive(Debug, Clone)]
pub struct Stored {
    pub session: Session,
    pub events: Vec<Event>,
}

/// A fresh store holding one ingest.
pub struct Ingested {
    /// Keeps the store's folder alive as long as the service.
    _dir: tempfile::TempDir,
    pub service: Service,
    pub summary: IngestSummary,
    /// Every stored session (with its events), by id.
    pub sessions: Vec<Stored>,
    pub ingest_ms: u64,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Opens a fresh store in a temporary folder and ingests `input` into it
/// with the defaults (`--format auto`, no user, agent or team).
pub fn ingest(input: &Input) -> Result<Ingested> {
    let dir = tempfile::tempdir().map_err(|e| crate::QualityError::io(std::env::temp_dir(), e))?;
    let service = Service::with_store(
        nocturne_stores::open_path(&dir.path().join("nocturne.db"))?,
        nocturne_service::system_clock(),
    );
    let paths = match input {
        Input::Folder(p) => vec![p.clone()],
        Input::Files(f) => f.clone(),
    };
    let started = Instant::now();
    let report = if paths.is_empty() {
        IngestReport::default()
    } else {
        service.scoped(Access::local_as(AUTHOR)).ingest(&paths, &IngestOptions::default(), &|_, _| {})?
    };
    let ingest_ms = ms(started);
    let mut sessions = Vec::new();
    for s in service.store().sessions(&SessionFilter::default())? {
        let events = service.store().events(&s.id)?;
        sessions.push(Stored { session: s, events });
    }
    sessions.sort_by(|a, b| a.session.id.cmp(&b.session.id));
    let mut summary = summarize(&report);
    if let Input::Folder(p) = input {
        summary.folder = folder_kinds(p);
    }
    Ok(Ingested { _dir: dir, service, summary, sessions, ingest_ms })
}

impl Ingested {
    /// Events stored.
    pub fn events(&self) -> u64 {
        self.sessions.iter().map(|s| s.events.len() as u64).sum()
    }

    /// `nocturne dream --sessions N` with every other flag at its default,
    /// N the number of stored sessions when above the default of 100 (so
    /// the dream reads all of them). Returns the stored proposal and the
    /// time it took.
    pub fn dream(&self) -> Result<(Proposal, u64)> {
        let spec = DreamSpec { sessions: Some(self.sessions.len().max(DEFAULT_SESSIONS)), ..DreamSpec::default() };
        let started = Instant::now();
        let (p, _) = self.service.scoped(Access::local_as(AUTHOR)).dream(&spec, false)?;
        Ok((p, ms(started)))
    }

    /// `nocturne dreams apply ID` (every op). Nothing to do for an empty proposal.
    pub fn apply_all(&self, p: &Proposal) -> Result<()> {
        if !p.ops.is_empty() {
            self.service.scoped(Access::local_as(AUTHOR)).apply_dream(&p.id, &OpSelection::default())?;
        }
        Ok(())
    }

    /// `nocturne context "TASK"` with default flags (budget 1000, no user,
    /// agent or team), run in `project` (the session's working directory;
    /// `None`: `--all-projects`): the texts of the memories in the bundle.
    pub fn context(&self, task: &str, project: Option<&str>) -> Result<Vec<String>> {
        let b = self.service.scoped(Access::local_as(AUTHOR)).context(&ContextRequest {
            task: task.to_string(),
            budget: CONTEXT_BUDGET,
            project: project.map(str::to_string),
            ..ContextRequest::default()
        })?;
        Ok(b.bundle.items.into_iter().map(|i| i.text).collect())
    }
}
