//! **How do we know a dream holds on real data?**
//!
//! The real-data quality suite. It reads
//!
//! - the labelled expectations `tests/real-data/expect/<source>.toml`
//!   (format and classification rule: `tests/real-data/README.md`), strictly
//!   (unknown keys refused) and with the structural checks of
//!   `tests/real-data/check_labels.py` that need no data ([`expect`]);
//! - the real transcripts in `shared/data/real-transcripts/<source>/`
//!   ([`data::find_data_dir`]: `$NOCTURNE_REAL_TRANSCRIPTS`, else the first
//!   `shared/data/real-transcripts` above the repository).
//!
//! For every source it does what a user would, through the service layer
//! only ([`run`]): a fresh store in a temporary folder, `nocturne ingest
//! <source folder>`, then `nocturne dream` with the CLI defaults except
//! `--sessions`, raised to the number of stored sessions so that **one dream
//! reads all sessions of the source** (τ²: 114 simulations). For
//! claude-code-log, whose lessons carry `projects`, it also dreams **per
//! project** (each `real_projects/<name>` folder in its own store, scored
//! against that project's lessons). Each proposal is scored ([`score`]):
//! every op classified by the README rule (`wrong` if it matches a wrong
//! entry; else the lessons it matches; else acceptable; else junk),
//! recurring / all / `needs_model` lessons found, junk, wrong, leaked
//! session-specific values, secrets, customer statements, and evidence
//! quality (cited events exist; quotes verbatim, whitespace-normalized, in
//! the event's text or tool input; lesson ops citing the label's own
//! evidence records, mapped as [`locate`] explains). [`loo`] runs the
//! leave-one-out test over the `[[session]]` entries.
//!
//! [`QualityReport`] renders a markdown table and details
//! ([`report`]), and serializes to JSON.
//!
//! ## Where it runs and what it asserts
//!
//! - `cargo test -p nocturne-quality` (`tests/real_data.rs`) runs every
//!   source and the leave-one-out test, prints the report, and **always
//!   asserts the invariants** ([`invariant_failures`]): the expectation
//!   files are found and sound, every source folder exists, no op carries a
//!   secret, every op has evidence, every cited session and event exists,
//!   every leave-one-out run completed. Without the data folder it prints a
//!   notice and passes.
//! - The issue's **goals** ([`goal_failures`]: ≥ 70 % of recurring lessons
//!   found, ≤ 10 % junk, 0 wrong, 0 leaked values, 0 secrets, 0 customer
//!   statements; τ²: ≥ 3 recurring tool-error lessons; leave-one-out
//!   ≥ 60 %). Those the engine meets ([`strict_goal_failures`]: every
//!   source ingested, 0 wrong, 0 leaked, 0 secrets, 0 customer statements,
//!   τ² ≥ 3) are asserted on every run. The rates (recurring found, junk,
//!   leave-one-out) are asserted only with `NOCTURNE_QUALITY_GOALS=1`: the
//!   deterministic engine does not meet them (most of the missing recurring
//!   lessons are labelled `needs_model`); without it they are printed.
//! - `cargo run --release -p nocturne-bench -- quality` writes the table
//!   into BENCHMARKS.md.

pub mod data;
pub mod expect;
pub mod locate;
pub mod loo;
#[cfg(feature = "model")]
pub mod model;
pub mod report;
pub mod run;
pub mod score;

pub use expect::{Expectations, Lesson};
pub use loo::{leave_one_out, LooReport};
pub use report::QualityReport;
pub use score::{classify, Class, Ratio, SourceReport, Status};

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything the suite can fail with. Problems of the engine are not
/// errors: they are in the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QualityError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid expectation file: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{path}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { path: PathBuf, problems: Vec<String> },
    #[error("{0}: no expectation file (*.toml) found")]
    NoExpectations(PathBuf),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error(transparent)]
    Service(#[from] nocturne_service::ServiceError),
    #[error(transparent)]
    Store(#[from] nocturne_store::StoreError),
}

impl QualityError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> QualityError {
        QualityError::Io { path: path.into(), source }
    }
}

pub type Result<T, E = QualityError> = std::result::Result<T, E>;

/// Environment variable that turns the goals into assertions.
pub const GOALS_ENV: &str = "NOCTURNE_QUALITY_GOALS";

/// The goals, on the batch over all sessions of a source.
pub mod goals {
    /// Recurring lessons found, percent (at least).
    pub const RECURRING_FOUND_PCT: f64 = 70.0;
    /// Junk ops, percent of the ops (at most).
    pub const JUNK_PCT: f64 = 10.0;
    /// Leave-one-out: recurring mistake lessons carried to the held-out session, percent (at least).
    pub const LEAVE_ONE_OUT_PCT: f64 = 60.0;
    /// Sources with a minimum number of recurring lessons that need no
    /// model found (τ²: the three recurring tool-error lessons).
    pub const DETERMINISTIC_FOUND: &[(&str, usize)] = &[("tau2-bench-retail", 3)];
}

/// The batches of one source: all sessions, and one per project folder
/// (`real_projects/<name>`) when the lessons carry `projects`.
fn batches(ex: &Expectations, root: &Path) -> Vec<(score::Batch, PathBuf)> {
    let mut out = vec![(score::Batch { name: "all".into(), project: None, prefix: None }, root.to_path_buf())];
    let projects_dir = root.join("real_projects");
    if !ex.lessons.iter().any(|l| !l.projects.is_empty()) || !projects_dir.is_dir() {
        return out;
    }
    let mut names: Vec<String> = std::fs::read_dir(&projects_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in names {
        out.push((
            score::Batch {
                name: format!("project {n}"),
                project: Some(n.clone()),
                prefix: Some(format!("real_projects/{n}/")),
            },
            projects_dir.join(&n),
        ));
    }
    out
}

/// Ingests, dreams and scores every batch of one source. A source that
/// cannot be read or ingested is a report saying so, never an error.
pub fn evaluate_source(ex: &Expectations, data: &Path) -> Vec<SourceReport> {
    let root = data.join(&ex.source);
    if !root.is_dir() {
        let batch = score::Batch { name: "all".into(), project: None, prefix: None };
        return vec![score::empty(ex, &batch, format!("the folder {} is missing", root.display()))];
    }
    let mut out = Vec::new();
    for (batch, dir) in batches(ex, &root) {
        let started = Instant::now();
        let result = (|| -> Result<SourceReport> {
            let ing = run::ingest(&run::Input::Folder(dir))?;
            let dreamt = if ing.sessions.is_empty() { None } else { Some(ing.dream()?) };
            let (p, ms) = match &dreamt {
                Some((p, ms)) => (Some(p), *ms),
                None => (None, 0),
            };
            Ok(score::score(ex, &root, &batch, &ing, p, ms, started))
        })();
        out.push(result.unwrap_or_else(|e| score::empty(ex, &batch, e.to_string())));
    }
    out
}

/// Runs the whole suite: every expectation file of `expect_dir` over the
/// data in `data`, and (with `loo`) the leave-one-out test.
pub fn run_suite(expect_dir: &Path, data: &Path, loo: bool) -> Result<QualityReport> {
    let started = Instant::now();
    let files = expect::load_dir(expect_dir)?;
    let mut report = QualityReport {
        data: data.display().to_string(),
        expectations: files.iter().map(|(p, _)| p.display().to_string()).collect(),
        missing_sources: Vec::new(),
        sources: Vec::new(),
        leave_one_out: Vec::new(),
        elapsed_ms: 0,
    };
    for (_, ex) in &files {
        if !data.join(&ex.source).is_dir() {
            report.missing_sources.push(ex.source.clone());
        }
        report.sources.extend(evaluate_source(ex, data));
        if loo && data.join(&ex.source).is_dir() {
            if let Some(l) = leave_one_out(ex, &data.join(&ex.source))? {
                report.leave_one_out.push(l);
            }
        }
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// What must always hold, whatever the engine's quality (see the crate docs).
pub fn invariant_failures(r: &QualityReport) -> Vec<String> {
    let mut out = Vec::new();
    if r.expectations.is_empty() {
        out.push("no expectation file was found".into());
    }
    for s in &r.missing_sources {
        out.push(format!("{s}: the source folder is missing from {}", r.data));
    }
    for s in &r.sources {
        let at = format!("{} [{}]", s.source, s.batch);
        if s.secrets > 0 {
            out.push(format!("{at}: {} op(s) carry a secret", s.secrets));
        }
        if s.ops_without_evidence > 0 {
            out.push(format!("{at}: {} op(s) have no evidence", s.ops_without_evidence));
        }
        if s.dangling_evidence > 0 {
            out.push(format!(
                "{at}: {} evidence entries cite a session or event that is not stored",
                s.dangling_evidence
            ));
        }
    }
    for l in &r.leave_one_out {
        for s in l.sessions.iter().filter(|s| s.error.is_some()) {
            out.push(format!("{} leave-one-out {}: {}", l.source, s.file, s.error.as_deref().unwrap_or_default()));
        }
    }
    out
}

/// The goals not met (see [`goals`]), on the batches over all
/// sessions of each source: the [`strict_goal_failures`] and the rates
/// (recurring lessons found, junk, leave-one-out).
pub fn goal_failures(r: &QualityReport) -> Vec<String> {
    let mut out = strict_goal_failures(r);
    for s in r.sources.iter().filter(|s| s.batch == "all") {
        let at = &s.source;
        if let Some(p) = s.recurring.pct() {
            if p < goals::RECURRING_FOUND_PCT {
                out.push(format!("{at}: recurring lessons found {} < {} %", s.recurring, goals::RECURRING_FOUND_PCT));
            }
        }
        if s.ops > 0 {
            let junk = s.junk as f64 * 100.0 / s.ops as f64;
            if junk > goals::JUNK_PCT {
                out.push(format!("{at}: junk {}/{} ops ({junk:.0} %) > {} %", s.junk, s.ops, goals::JUNK_PCT));
            }
        }
    }
    for l in &r.leave_one_out {
        let sc = l.score();
        if sc.pct().is_none_or(|p| p < goals::LEAVE_ONE_OUT_PCT) {
            out.push(format!("{}: leave-one-out {sc} < {} %", l.source, goals::LEAVE_ONE_OUT_PCT));
        }
    }
    out
}

/// The goals the engine meets and the test asserts on every run: every
/// source ingested, 0 wrong, 0 leaked values, 0 secrets, 0 customer
/// statements, and the minimum of deterministic lessons where one is set
/// (τ²: 3 recurring tool errors).
pub fn strict_goal_failures(r: &QualityReport) -> Vec<String> {
    let mut out = Vec::new();
    for s in r.sources.iter().filter(|s| s.batch == "all") {
        let at = &s.source;
        if let Status::NotIngested { .. } = &s.status {
            out.push(format!("{at}: not ingested (the report says why)"));
        }
        for (what, n) in [
            ("wrong", s.wrong),
            ("leaked", s.leaked),
            ("secrets", s.secrets),
            ("customer statements", s.customer_statements),
        ] {
            if n > 0 {
                out.push(format!("{at}: {what} {n} > 0"));
            }
        }
        for (src, min) in goals::DETERMINISTIC_FOUND {
            if s.source == *src && s.recurring_deterministic.found < *min {
                out.push(format!(
                    "{at}: recurring tool-error lessons found {} < {min}",
                    s.recurring_deterministic.found
                ));
            }
        }
    }
    out
}
