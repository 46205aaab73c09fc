//! The dream engine: reads a snapshot of sessions and memories and proposes
//! changes to memory, each with evidence. Deterministic, no IO, no clock, no
//! model: analysis [`Pass`]es produce [`Finding`]s, the planner turns them
//! into ops and applies the guardrails (minimum support, scope rules —
//! [`scope`] —, secret redaction, no duplicates of existing memories and
//! only new evidence for them — [`fresh`] —, focus/ignore, one op per
//! target). Preferences come only from operators ([`directives`]).
//!
//! What the passes read ([`context`]): each session's tool actions of every
//! kind ([`actions`]: shell, file, API, MCP calls with their outcome; user
//! rejections, transient errors and no-match exits told apart), its
//! failures with their error signatures ([`text::error_signature`]) and
//! recoveries ([`recovery`]: instead, before, with), directives, outcome.
//!
//! Passes (see each module for its rules): [`passes::mistakes`],
//! [`passes::workflows`], [`passes::preferences`], [`passes::corrections`]
//! (what operators said when correcting the agent), [`passes::conventions`]
//! (the commands a project runs for tests, checks, format, build, install,
//! and its hooks), [`passes::confirmations`] (calls made without the
//! customer's yes), [`passes::gates`] (the step nearly every session takes
//! first, whose result supplies the ids later calls use),
//! [`passes::evaluator`] (what an evaluator expected that failed runs did
//! not do), [`passes::duplicates`],
//! [`passes::lifecycle`] (outdated advice, promote, demote), and the
//! model-backed [`model::ModelPass`] over answers the service obtained for
//! the requests [`model::plan_requests`] planned. Every op's
//! evidence cites, per entry, the one event its quote is verbatim text of
//! (checked by the planner, see [`plan`]).
//!
//! **Outcomes.** [`Snapshot::outcomes`] (per-session scores on the
//! taxonomy's primary dimension) and [`Snapshot::usages`] (memories handed to
//! each session) steer two passes, tuned by [`OutcomeWeights`]
//! (`DreamConfig::weights`, the `[weights]` table of the instructions file):
//! workflows are weighted by outcome (procedures only from sequences that
//! succeed more than they fail; sequences that keep failing become `mistake`
//! cautions), and memories are promoted or demoted by the mean outcome of
//! the sessions they were present in against comparable sessions without
//! them. Without outcomes both behave as before.

pub mod actions;
pub mod config;
pub mod context;
pub mod directives;
pub mod fresh;
pub mod model;
pub mod passes;
pub mod plan;
pub mod policy;
pub mod recovery;
pub mod replies;
pub mod report;
pub mod scope;
pub mod silent;
#[cfg(test)]
pub(crate) mod testkit;
pub mod text;

pub use config::{Category, DreamConfig, DreamSpec, OutcomeWeights, WeightsFile};
pub use context::Context;
pub use report::render_markdown;

use nocturne_core::{Evidence, MemoryKind, OpKind, Proposal, ProposalStatus};
use std::collections::{BTreeMap, BTreeSet};

/// One session with its events, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionData {
    pub session: nocturne_core::Session,
    pub events: Vec<nocturne_core::Event>,
}

/// A session's outcome on the taxonomy's primary dimension, as the service
/// computed it (`OutcomeValue::score`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    /// Normalized 0..1, 1 best. Values outside 0..1 are clamped; a
    /// non-finite score makes the outcome count as absent.
    pub score: f64,
    /// How the outcome was recorded (`failure`, `4`, `true`...), quoted in
    /// rationales and evidence.
    pub label: String,
}

/// What a dream reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub base_revision: u64,
    pub sessions: Vec<SessionData>,
    /// Memories (retired ones are ignored).
    pub memories: Vec<nocturne_core::Memory>,
    /// Outcomes by session id; sessions without an outcome are absent (see
    /// [`config::OutcomeWeights`] for how outcomes steer the passes).
    pub outcomes: BTreeMap<String, SessionOutcome>,
    /// Memory ids handed to each session in a context bundle, by session id.
    pub usages: BTreeMap<String, Vec<String>>,
    /// When each memory was last handed to each session (session id →
    /// memory id → RFC 3339 time): a bundle handed after the memory's last
    /// change is new evidence for it (see [`fresh`]).
    pub usage_at: BTreeMap<String, BTreeMap<String, String>>,
    /// Each memory's vector from the service's configured embedder, by
    /// memory id (L2-normalised, all of one embedder and dimension). The
    /// duplicates pass reads them beside token overlap; memories without a
    /// vector are compared by tokens only. The engine computes none itself.
    pub memory_vectors: BTreeMap<String, Vec<f32>>,
    /// The id of the embedder that made `memory_vectors` (reported in the
    /// proposal's stats).
    pub embedder: Option<String>,
}

/// What can go wrong in a dream.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DreamError {
    /// A focus name is not one of the accepted names (see [`Category::parse`]).
    #[error("unknown focus {0:?}: use mistake, procedure, preference, fact, merge, outdated, promote, demote, usefulness, create, maintenance or all")]
    UnknownFocus(String),
    /// The instructions file is not valid TOML or has bad values.
    #[error("invalid dream instructions: {0}")]
    Instructions(String),
    /// One field of the instructions has a bad value: `field` names it.
    #[error("invalid dream instructions: {message}")]
    Field { field: &'static str, message: String },
    /// `now` is not an RFC 3339 timestamp.
    #[error("invalid time {0:?}: expected RFC 3339")]
    InvalidTime(String),
    /// The dream id is empty.
    #[error("dream id is empty")]
    EmptyId,
    /// The outcome weights of the config are out of range.
    #[error("invalid outcome weights: {0}")]
    Weights(String),
    /// A model dream's token budget is too small for its requests.
    #[error("model budget: {0}")]
    Budget(String),
}

impl DreamError {
    /// The field of a dream spec the error is about, when it is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DreamError::UnknownFocus(_) => Some("focus"),
            DreamError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// What a pass found, before guardrails.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub pass: &'static str,
    pub category: Category,
    pub op: OpKind,
    pub kind: MemoryKind,
    /// New memory text (create/update/merge) or the target's text.
    pub text: String,
    /// Existing memory ids (merge: the kept one first).
    pub targets: Vec<String>,
    /// Supporting sessions, as indexes into [`Context::sessions`].
    pub sessions: BTreeSet<usize>,
    pub evidence: Vec<Evidence>,
    pub confidence: f64,
    pub rationale: String,
    pub tags: Vec<String>,
    /// Terms that identify the finding (commands, steps); an existing memory
    /// containing all of them is the same memory.
    pub key_terms: Vec<String>,
    /// For a mistake that rests on one session: how many times it was made
    /// and recovered from there (0 otherwise). At least
    /// [`REPEATS_AS_RECURRING`] counts as recurring: support 2 (see
    /// [`plan`]).
    pub repeats: usize,
}

/// A mistake made and recovered from this many times within one session
/// counts as recurring (support 2) although it rests on that session.
pub const REPEATS_AS_RECURRING: usize = 3;

impl Finding {
    /// The support the planner counts: its sessions, or 2 for a mistake
    /// repeated [`REPEATS_AS_RECURRING`] times in its one session.
    pub fn support(&self) -> usize {
        let repeated = self.category == Category::Mistake && self.repeats >= REPEATS_AS_RECURRING;
        self.sessions.len().max(if repeated { 2 } else { 0 })
    }
}

/// What one pass returns: its findings, and the figures it wants in the
/// proposal's stats (keys as they will appear there).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassOutput {
    pub findings: Vec<Finding>,
    pub stats: BTreeMap<String, serde_json::Value>,
}

impl From<Vec<Finding>> for PassOutput {
    fn from(findings: Vec<Finding>) -> Self {
        PassOutput { findings, stats: BTreeMap::new() }
    }
}

/// An analysis pass. Passes only read the context; a model-backed pass
/// implements this trait over answers the service obtained beforehand and is
/// added to the list given to [`dream_with`]. The engine counts each pass's
/// findings (`findings.<name>`) and copies its stats into the proposal.
pub trait Pass {
    fn name(&self) -> &'static str;
    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError>;
}

/// The built-in passes, in the order they run.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(passes::mistakes::Mistakes),
        Box::new(passes::workflows::Workflows),
        Box::new(passes::preferences::Preferences),
        Box::new(passes::corrections::Corrections),
        Box::new(passes::conventions::Conventions),
        Box::new(passes::confirmations::Confirmations),
        Box::new(passes::gates::Gates::default()),
        Box::new(passes::evaluator::Evaluator),
        Box::new(passes::duplicates::Duplicates),
        Box::new(passes::lifecycle::Outdated),
        Box::new(passes::lifecycle::Usefulness),
    ]
}

/// Runs the built-in passes over `snapshot` and plans a pending proposal.
pub fn dream(snapshot: &Snapshot, config: &DreamConfig, id: &str) -> Result<Proposal, DreamError> {
    dream_with(snapshot, config, id, &default_passes())
}

/// Like [`dream`] with a chosen list of passes.
pub fn dream_with(
    snapshot: &Snapshot,
    config: &DreamConfig,
    id: &str,
    passes: &[Box<dyn Pass>],
) -> Result<Proposal, DreamError> {
    if id.trim().is_empty() {
        return Err(DreamError::EmptyId);
    }
    if text::parse_rfc3339(&config.now).is_none() {
        return Err(DreamError::InvalidTime(config.now.clone()));
    }
    let categories = config.categories()?;
    config.weights.validate().map_err(DreamError::Weights)?;
    let ctx = Context::build(snapshot, config);
    let mut stats: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut findings = Vec::new();
    for p in passes {
        let out = p.run(&ctx)?;
        stats.insert(format!("findings.{}", p.name()), out.findings.len().into());
        stats.extend(out.stats);
        findings.extend(out.findings);
    }
    let (ops, guard) = plan::plan(&ctx, findings, &categories);
    for (k, v) in guard {
        stats.insert(format!("guardrail.{k}"), v.into());
    }
    let events: usize = snapshot.sessions.iter().map(|s| s.events.len()).sum();
    stats.insert("sessions".into(), snapshot.sessions.len().into());
    stats.insert("events".into(), events.into());
    stats.insert("memories".into(), ctx.memories.len().into());
    stats.insert("successful_sessions".into(), ctx.sessions.iter().filter(|s| s.successful).count().into());
    let scored = ctx.sessions.iter().filter(|s| s.score.is_some()).count();
    if scored > 0 || !snapshot.usages.is_empty() {
        stats.insert("sessions_with_outcome".into(), scored.into());
        stats.insert("failed_sessions".into(), ctx.sessions.iter().filter(|s| s.failed).count().into());
    }
    stats.insert("ops".into(), ops.len().into());
    let mut sessions: Vec<String> = snapshot.sessions.iter().map(|s| s.session.id.clone()).collect();
    sessions.sort();
    sessions.dedup();
    Ok(Proposal {
        id: id.to_string(),
        base_revision: snapshot.base_revision,
        created_at: config.now.clone(),
        status: ProposalStatus::Pending,
        sessions,
        ops,
        stats,
        applied_revision: None,
        applied_ops: Vec::new(),
        notes: config.notes.as_deref().map(nocturne_core::secrets::redact),
        team: None,
    })
}

impl SessionData {
    /// Numbers and chains a freshly imported session, as a store would
    /// (`ingested_at` is used when no event has a timestamp).
    pub fn from_new(s: &nocturne_core::NewSession, ingested_at: &str) -> SessionData {
        let hashes = nocturne_core::chain::hashes(&s.id, &s.events);
        let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let events: Vec<nocturne_core::Event> = s
            .events
            .iter()
            .zip(&hashes)
            .enumerate()
            .map(|(i, (e, h))| nocturne_core::Event {
                session: s.id.clone(),
                seq: i as u32,
                body: e.clone(),
                hash: hex(h),
            })
            .collect();
        let (first, last) = s.time_span();
        SessionData {
            session: nocturne_core::Session {
                id: s.id.clone(),
                format: s.format.clone(),
                source: s.source.clone(),
                user: s.user.clone(),
                agent: s.agent.clone(),
                team: s.team.clone(),
                title: s.title.clone(),
                parent: s.parent.clone(),
                subagent: s.subagent.clone(),
                counterpart: s.counterpart,
                event_count: events.len() as u32,
                head_hash: nocturne_core::chain::head_hex(&s.id, &s.events),
                started_at: first.unwrap_or_else(|| ingested_at.to_string()),
                ended_at: last,
                ingested_at: ingested_at.to_string(),
                closed_at: None,
            },
            events,
        }
    }
}

impl Snapshot {
    /// A snapshot of freshly imported sessions and the given memories.
    pub fn from_new_sessions(
        base_revision: u64,
        sessions: &[nocturne_core::NewSession],
        memories: Vec<nocturne_core::Memory>,
        ingested_at: &str,
    ) -> Snapshot {
        Snapshot {
            base_revision,
            sessions: sessions.iter().map(|s| SessionData::from_new(s, ingested_at)).collect(),
            memories,
            ..Snapshot::default()
        }
    }
}
