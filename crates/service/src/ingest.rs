//! `ingest`: files and folders in, sessions appended. Files are read and
//! parsed in parallel; one writer thread appends them in batches.

use crate::{Result, Service, ServiceError};
use nocturne_ingest::Format;
use nocturne_store::{Appended, SessionRecord};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Options of one ingest run.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub format: Option<Format>,
    pub user: Option<String>,
    pub agent: Option<String>,
    pub team: Option<String>,
}

/// A file refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub error: String,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub files: usize,
    pub sessions_added: usize,
    pub sessions_skipped: usize,
    pub events_added: u64,
    pub rejected: Vec<Rejected>,
}

/// Sessions appended per write transaction.
const BATCH: usize = 64;

/// Expands folders (recursively: `.jsonl` and `.json` files, hidden entries
/// skipped) and keeps files as given. Sorted for a stable order.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| ServiceError::io(p, e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| ServiceError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| ServiceError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = entry.file_type().map_err(|e| ServiceError::io(&path, e))?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

impl Service {
    /// Ingests `paths`. A malformed file is refused whole and reported; the
    /// others go on. `progress(done, total)` is called as files finish.
    pub fn ingest(
        &self,
        paths: &[PathBuf],
        opts: &IngestOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<IngestReport> {
        let files = collect_files(paths)?;
        let total = files.len();
        let format = opts.format.unwrap_or(Format::Auto);
        let now = self.now();
        let mut report = IngestReport { files: total, ..Default::default() };
        let (tx, rx) = mpsc::sync_channel::<std::result::Result<Vec<SessionRecord>, Rejected>>(256);
        let store = &*self.store;
        let write_result = std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> Result<IngestReport> {
                let mut rep = IngestReport::default();
                let mut pending: Vec<SessionRecord> = Vec::new();
                let flush = |pending: &mut Vec<SessionRecord>, rep: &mut IngestReport| -> Result<()> {
                    if pending.is_empty() {
                        return Ok(());
                    }
                    let res = store.append_sessions(pending)?;
                    for r in res {
                        match r {
                            Appended::Added { events } => {
                                rep.sessions_added += 1;
                                rep.events_added += u64::from(events);
                            }
                            Appended::Skipped => rep.sessions_skipped += 1,
                        }
                    }
                    pending.clear();
                    Ok(())
                };
                let mut done = 0;
                for item in rx {
                    done += 1;
                    match item {
                        Ok(recs) => pending.extend(recs),
                        Err(rej) => rep.rejected.push(rej),
                    }
                    if pending.len() >= BATCH {
                        flush(&mut pending, &mut rep)?;
                    }
                    progress(done, total);
                }
                flush(&mut pending, &mut rep)?;
                Ok(rep)
            });
            files.par_iter().for_each_with(tx, |tx, path| {
                let item = read_and_parse(path, format, opts, &now);
                // The writer stops early only on a store error, reported below.
                let _ = tx.send(item);
            });
            writer.join().map_err(|_| ServiceError::Invalid("the ingest writer thread failed".into()))?
        })?;
        report.sessions_added = write_result.sessions_added;
        report.sessions_skipped = write_result.sessions_skipped;
        report.events_added = write_result.events_added;
        report.rejected = write_result.rejected;
        report.rejected.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(report)
    }
}

impl Service {
    /// Ingests one transcript given as bytes (an upload): refused whole, as
    /// a rejected file, when malformed.
    pub fn ingest_bytes(&self, name: &str, bytes: &[u8], opts: &IngestOptions) -> Result<IngestReport> {
        let now = self.now();
        let mut report = IngestReport { files: 1, ..Default::default() };
        let recs = match parse_records(name, bytes, opts.format.unwrap_or(Format::Auto), opts, &now) {
            Ok(r) => r,
            Err(rej) => {
                report.rejected.push(rej);
                return Ok(report);
            }
        };
        for r in self.store.append_sessions(&recs)? {
            match r {
                Appended::Added { events } => {
                    report.sessions_added += 1;
                    report.events_added += u64::from(events);
                }
                Appended::Skipped => report.sessions_skipped += 1,
            }
        }
        Ok(report)
    }
}

fn read_and_parse(
    path: &Path,
    format: Format,
    opts: &IngestOptions,
    now: &str,
) -> std::result::Result<Vec<SessionRecord>, Rejected> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Rejected { file: shown.clone(), line: None, error: e.to_string() })?;
    parse_records(&shown, &bytes, format, opts, now)
}

fn parse_records(
    shown: &str,
    bytes: &[u8],
    format: Format,
    opts: &IngestOptions,
    now: &str,
) -> std::result::Result<Vec<SessionRecord>, Rejected> {
    let sessions = nocturne_ingest::parse(shown, bytes, format).map_err(|e| Rejected {
        file: e.file.clone(),
        line: e.line,
        error: e.reason.clone(),
    })?;
    Ok(sessions
        .into_iter()
        .map(|mut s| {
            if opts.user.is_some() {
                s.user.clone_from(&opts.user);
            }
            if opts.agent.is_some() {
                s.agent.clone_from(&opts.agent);
            }
            if opts.team.is_some() {
                s.team.clone_from(&opts.team);
            }
            SessionRecord { session: s, ingested_at: now.to_string() }
        })
        .collect())
}
