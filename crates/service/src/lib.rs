//! The operations users call — ingest, sessions, memory, revisions, export,
//! dreams — over a [`Store`]. The CLI (and later HTTP and MCP) call only
//! this layer; none of them holds business logic.

mod error;
mod export;
pub mod ids;
mod ingest;
mod jobs;
mod lease;
mod memory;
mod outcomes;
pub mod runs;
mod schedule;
mod search;
mod sessions;

mod access;
mod dreams;
#[cfg(feature = "model")]
mod model;
pub use access::{Access, AccessLevel, NewToken, Scoped};
pub use dreams::{with_instructions, DryRunReport, MemorySuggestion, OpSelection};
pub use error::{ErrorCode, ServiceError};
pub use export::{
    ExportDoc, ExportEvent, ExportOutcome, ExportRevision, ExportSession, ExportUsage, ImportOptions, ImportSummary,
    TaxonomyVersion, DIGESTED_VERSION, EXPORT_FORMAT, EXPORT_VERSION,
};
pub use ingest::{
    FileEntry, FileStatus, IngestOptions, IngestReport, IngestTotals, Refusal, SessionEntry, SessionResult,
    DEFAULT_MEMORY_BUDGET,
};
pub use jobs::{
    runs_of, DreamJob, NewRun, RunHost, RunJob, RunResumed, Worked, Worker, JOB_LEASE, KIND_DREAM, KIND_RUN,
    KIND_SCHEDULE,
};
pub use memory::{MemoryEdit, MemoryFilter, NewMemory};
#[cfg(feature = "model")]
pub use model::{provider_code, DryRun, ModelDream, Progress};
pub use nocturne_dream::report::model_line;
pub use nocturne_dream::DreamSpec;
pub use nocturne_ingest::Format;
pub use nocturne_store::{AgentRun, HistoryEntry, JournalEntry, RunFilter, SessionFilter, Store};
pub use nocturne_store::{Job, JobFilter, JobState};
pub use outcomes::{LogOutcome, StatsBy, TaxonomyChange};
pub use runs::{RunNode, RunUsage, RunView, TypedResult};
pub use schedule::{Config, Cron, Planned, Policy, Schedule, MAX_ATTEMPTS};
pub use search::{embedder_from_spec, ContextBundle, ContextRequest, EventHit, MemoryHit, ReindexReport};
pub use sessions::{Child, ParentRef, SessionView, Spawn, TreeNode, VerifyFailure, VerifyReport};

pub use ingest::{classify_path, PathKind};

/// What ingest tells the importer about a file beyond its bytes (the
/// sub-agent sidecar beside it, the parent id its folder implies).
pub fn file_hints(path: &Path) -> nocturne_ingest::Hints {
    ingest::hints(path)
}
use std::path::Path;
use std::sync::Arc;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Where "now" comes from. Tests pin it; the binary reads the system clock.
pub type Clock = Arc<dyn Fn() -> String + Send + Sync>;

/// The system clock, as RFC 3339 UTC with second precision.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let now =
            time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
    })
}

/// Nocturne over one store.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    clock: Clock,
    embedder: Arc<dyn nocturne_search::Embedder>,
    /// Search index over active memories, shared by clones of the service.
    memory_cache: Arc<std::sync::Mutex<Option<search::MemoryIndexCache>>>,
    /// The model of model-backed dreams ([`Service::with_model`]).
    #[cfg(feature = "model")]
    model: Option<Arc<ModelDream>>,
    /// The orchestration runtime, when the binary installed it ([`Service::with_run_host`]).
    run_host: Option<Arc<dyn jobs::RunHost>>,
}

impl Service {
    /// The service over `store` (opened by the caller: see the
    /// `nocturne-stores` factory), reading the time from `clock`.
    pub fn with_store(store: Arc<dyn Store>, clock: Clock) -> Self {
        Service {
            store,
            clock,
            embedder: Arc::new(nocturne_search::HashingEmbedder::new()),
            memory_cache: Arc::new(std::sync::Mutex::new(None)),
            #[cfg(feature = "model")]
            model: None,
            run_host: None,
        }
    }

    /// Installs the orchestration runtime: workers of this service claim
    /// run jobs, and callers may queue runs ([`Scoped::queue_run`]).
    pub fn with_run_host(mut self, host: Arc<dyn jobs::RunHost>) -> Self {
        self.run_host = Some(host);
        self
    }

    /// Whether this service can record new runs (its runtime has agents and a model).
    pub fn can_create_runs(&self) -> bool {
        self.run_host.as_ref().is_some_and(|h| h.can_create())
    }

    /// Uses `model` for model-backed dreams ([`Service::dream_with_model`],
    /// schedules with `model = true`).
    #[cfg(feature = "model")]
    pub fn with_model(mut self, model: ModelDream) -> Self {
        self.model = Some(Arc::new(model));
        self
    }

    /// Uses `embedder` for search and context (default: the hashing embedder).
    pub fn with_embedder(mut self, embedder: Arc<dyn nocturne_search::Embedder>) -> Self {
        self.embedder = embedder;
        self.memory_cache = Arc::new(std::sync::Mutex::new(None));
        self
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub(crate) fn now(&self) -> String {
        (self.clock)()
    }

    /// The store's head revision.
    pub(crate) fn head(&self) -> Result<u64> {
        Ok(self.store.head()?)
    }
}

/// Normalizes a user-given date bound: `YYYY-MM-DD` or RFC 3339.
pub fn parse_date(s: &str) -> Result<String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if time::OffsetDateTime::parse(s, &Rfc3339).is_ok() {
        return Ok(s.to_string());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s, &fmt) {
        Ok(_) => Ok(s.to_string()),
        Err(_) => Err(ServiceError::Invalid(format!(
            "invalid date {s:?}: use YYYY-MM-DD or an RFC 3339 time like 2026-01-31T12:00:00Z"
        ))),
    }
}
