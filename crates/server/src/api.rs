//! The REST API: the route table, the request bodies it accepts, and the
//! handlers (authenticate, parse, one [`Scoped`] call, serialize).

use crate::route::{path, query_struct, schema, Body, Example, Reply, Route};
use crate::{ApiError, AppState, Credentials};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Json;
use nocturne_core::outcome::Outcome;
use nocturne_core::{Memory, NewEvent, Proposal, Revision};
use nocturne_service::{
    AccessLevel, ContextRequest, DreamSpec, Format, IngestOptions, LogOutcome, MemoryEdit, MemoryFilter, NewMemory,
    OpSelection, Scoped, SessionFilter, StatsBy,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Runs `f` with the caller's access on a blocking thread.
pub(crate) async fn call<T, F>(st: &AppState, cred: Credentials, use_cookie: bool, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Scoped<'_>) -> nocturne_service::Result<T> + Send + 'static,
{
    let svc = st.svc.clone();
    let insecure = st.insecure_local;
    tokio::task::spawn_blocking(move || {
        let access = cred.resolve(&svc, insecure, use_cookie)?;
        f(&svc.scoped(access))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the request's worker failed: {e}")))?
    .map_err(ApiError::from)
}

pub(crate) fn id_of(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id).map_err(|e| ApiError::invalid(e.body_text()))
}

pub(crate) fn query_of<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::invalid(e.body_text()))
}

/// Parses a JSON body; no body at all is `T::default()` when `optional`
/// (whitespace is not a JSON document: it is refused like any other).
fn json_of<T: DeserializeOwned + Default>(body: &Bytes, optional: bool) -> Result<T, ApiError> {
    if optional && body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

fn date(field: &'static str, s: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(s.as_deref().map(nocturne_service::parse_date).transpose().map_err(|e| e.in_field(field))?)
}

// --- request shapes ---

/// The values of the fields the server checks against a fixed set (as the
/// schema's `enum`; a test checks each is accepted).
const FORMATS: &[&str] = &[
    "auto",
    "claude-code",
    "codex",
    "gemini",
    "tau-bench",
    "tau-display",
    "swe-agent",
    "aider",
    "anthropic",
    "openai",
    "nocturne",
];
const EXPORT_FORMATS: &[&str] = &["json", "markdown", "md"];
const STATS_BY: &[&str] = &["all", "agent", "user", "team", "week", "workflow"];
const JOB_STATES: &[&str] = &["queued", "running", "done", "failed"];
const TOKEN_SCOPES: &[&str] = &["read", "write", "admin"];

/// Query of `POST /v1/sessions`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestQuery {
    /// `auto` (default), `claude-code`, `anthropic`, `openai`, `nocturne`.
    #[schemars(extend("enum" = FORMATS))]
    pub format: Option<String>,
    /// User to record on the sessions.
    pub user: Option<String>,
    /// Agent to record on the sessions.
    pub agent: Option<String>,
    /// Team (a team token can only ingest into its own).
    pub team: Option<String>,
    /// A name for the transcript in error messages.
    pub name: Option<String>,
}

/// Query of `GET /v1/sessions`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// Only this user's sessions.
    pub user: Option<String>,
    /// Only this agent's sessions.
    pub agent: Option<String>,
    /// Only this team's sessions.
    pub team: Option<String>,
    /// Started at or after (YYYY-MM-DD or RFC 3339).
    pub since: Option<String>,
    /// Started before (YYYY-MM-DD or RFC 3339).
    pub until: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Only the sub-agent sessions of this session.
    pub parent: Option<String>,
    /// The sessions as a tree: sub-agents nested under their parents.
    #[serde(default)]
    pub tree: bool,
}

/// Query of `GET /v1/runs`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs in this state: running, completed, partial, failed, cancelled.
    pub state: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// Query of `POST /v1/sessions/{id}/events`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendQuery {
    /// Append only if the session has exactly this many events now (compare-and-append).
    pub expect: Option<u32>,
}

/// Query of `GET /v1/sessions/search`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionSearchQuery {
    /// Query.
    pub q: String,
    /// Hits to return (default 10).
    pub k: Option<usize>,
    /// Search only this session.
    pub session: Option<String>,
}

/// Query of `GET /v1/memories`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoriesQuery {
    /// Include retired memories.
    #[serde(default)]
    pub all: bool,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this scope (org, team:NAME, agent:NAME, user:NAME).
    pub scope: Option<String>,
}

/// Query of `GET /v1/memories/search`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySearchQuery {
    /// Query.
    pub q: String,
    /// Hits to return (default 10).
    pub k: Option<usize>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this scope.
    pub scope: Option<String>,
}

/// Body of `POST /v1/context`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextBody {
    #[serde(default)]
    pub task: String,
    /// Token budget (default 1000).
    pub budget: Option<usize>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub team: Option<String>,
    pub session: Option<String>,
    /// The project the caller works in: its working directory (absolute) or
    /// a project id `NAME#KEY`. Memories of other projects are left out;
    /// absent, every project's are read (each naming its project).
    pub project: Option<String>,
}

/// Body of `POST /v1/memories`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemoryBody {
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub scope: Option<String>,
    #[serde(default)]
    pub priority: i32,
    /// Refuse (409) unless the store is at this revision.
    pub expect_rev: Option<u64>,
}

/// Body of `PATCH /v1/memories/{id}`: fields left out are kept.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryEditBody {
    pub text: Option<String>,
    pub kind: Option<String>,
    pub tags: Option<Vec<String>>,
    pub scope: Option<String>,
    pub priority: Option<i32>,
    pub expect_rev: Option<u64>,
}

/// Body of `POST /v1/memories/{id}/retire` (optional).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireBody {
    pub reason: Option<String>,
    pub expect_rev: Option<u64>,
}

/// Body of `POST /v1/rollback`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    pub to: u64,
    pub expect_rev: Option<u64>,
}

// --- response shapes the service does not have ---

/// `GET /v1/sessions`: a list, or with `tree=true` the sessions nested
/// under their parents.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SessionsReply {
    List(Vec<nocturne_core::Session>),
    Tree(Vec<nocturne_service::TreeNode>),
}

/// `POST /v1/sessions/{id}/events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Appended {
    pub session: String,
    /// The session's event count now.
    pub event_count: u32,
}

/// A memory as written, with the revision that wrote it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemoryWritten {
    pub memory: Memory,
    pub revision: u64,
}

/// One entry of a memory's history (the same shape as `nocturne memory history --json`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryJson {
    pub rev: u64,
    pub author: String,
    pub reason: String,
    pub created_at: String,
    /// The memory before this revision (absent when it created the memory).
    pub before: Option<Memory>,
    /// The memory after this revision.
    pub after: Option<Memory>,
}

impl HistoryJson {
    pub(crate) fn of(h: &nocturne_service::HistoryEntry) -> Self {
        HistoryJson {
            rev: h.rev,
            author: h.author.clone(),
            reason: h.reason.clone(),
            created_at: h.created_at.clone(),
            before: h.change.before.clone(),
            after: h.change.after.clone(),
        }
    }
}

/// `model` of a dream body: `true` (the model pass with the server's
/// model; an error saying so when it has none), `false` (deterministic
/// only), `"dry_run"` (the requests a model dream would send, nothing
/// sent or stored). Absent: the model pass when the server has a model,
/// like `nocturne dream` with a model configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ModelField {
    Use(bool),
    Mode(String),
}

/// `model` of a dream body, as documented: a boolean, `"auto"` or `"dry_run"`.
fn model_field_schema(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "description": "true: the model pass with the server's model (an error when it has none); false: \
                        deterministic only; \"auto\" (the default, as null or absent): the model pass when the server has a model; \
                        \"dry_run\" (dreams only): the requests a model dream would send, nothing sent or stored.",
        "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["auto", "dry_run"]}, {"type": "null"}]
    })
}

/// What a dream body asks of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// The server's model when it has one.
    Auto,
    On,
    Off,
    DryRun,
}

impl ModelChoice {
    fn of(f: Option<&ModelField>) -> Result<Self, ApiError> {
        Ok(match f {
            None => ModelChoice::Auto,
            Some(ModelField::Use(true)) => ModelChoice::On,
            Some(ModelField::Use(false)) => ModelChoice::Off,
            Some(ModelField::Mode(m)) => match m.as_str() {
                "dry_run" => ModelChoice::DryRun,
                "auto" => ModelChoice::Auto,
                other => {
                    return Err(ApiError::invalid(format!("model={other:?}: use true, false, \"auto\" or \"dry_run\"")))
                }
            },
        })
    }

    /// Whether the dream runs the model pass on a service that has (or
    /// not) a model; `On` without one is the error that says so.
    fn resolve(self, has_model: bool) -> nocturne_service::Result<bool> {
        match self {
            ModelChoice::On if !has_model => Err(nocturne_service::ServiceError::Model {
                code: nocturne_service::ErrorCode::ModelConfig,
                message: "the request asks for the model pass (\"model\": true), but this server has no model \
                          configured: give it one ([model] in its configuration or NOCTURNE_MODEL), or send \
                          \"model\": false"
                    .into(),
            }),
            ModelChoice::On => Ok(true),
            ModelChoice::Auto => Ok(has_model),
            ModelChoice::Off | ModelChoice::DryRun => Ok(false),
        }
    }
}

/// The body of `POST /v1/sessions/{id}/events`: [`NewEvent`]s, each with
/// `raw` optional (it defaults to the event as sent).
fn new_events(g: &mut SchemaGenerator) -> Schema {
    let mut event = NewEvent::json_schema(g);
    if let Some(serde_json::Value::Array(req)) = event.get_mut("required") {
        req.retain(|r| r != "raw");
    }
    if let Some(serde_json::Value::Object(props)) = event.get_mut("properties") {
        if let Some(serde_json::Value::Object(raw)) = props.get_mut("raw") {
            raw.insert("description".into(), "Source JSON; defaults to the event as sent.".into());
        }
    }
    schemars::json_schema!({"type": "array", "items": event})
}

/// Body of `POST /v1/dreams` (optional): a dream spec (the keys of an
/// instructions file; unknown keys are refused by the spec's check) plus
/// these three.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DreamBody {
    /// See [`ModelField`].
    #[serde(default)]
    #[schemars(schema_with = "model_field_schema")]
    pub model: Option<ModelField>,
    /// Dream instructions, as the text of an instructions TOML file (the
    /// body's own keys win over it).
    pub instructions: Option<String>,
    /// Apply every op at once instead of leaving the proposal for review.
    #[serde(default)]
    pub apply: bool,
    #[serde(flatten)]
    pub spec: DreamSpec,
}

/// Body of `POST /v1/jobs`: a job to enqueue. Only dreams are submitted
/// this way (`kind` defaults to `dream`); the rest is a dream body.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JobBody {
    #[serde(default)]
    #[schemars(extend("enum" = ["dream", null]))]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub dream: DreamBody,
}

/// Query of `GET /v1/jobs`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// queued, running, done or failed.
    #[schemars(extend("enum" = JOB_STATES))]
    pub state: Option<String>,
    /// dream or schedule.
    pub kind: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// Body of `POST /v1/dreams/{id}/apply` (optional: all ops).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    #[serde(default)]
    pub only: Vec<u32>,
    #[serde(default)]
    pub skip: Vec<u32>,
}

/// Body of `POST /v1/outcomes`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    pub session: String,
    pub task: Option<String>,
    /// `DIM=VALUE` assignments.
    #[serde(default)]
    pub set: Vec<String>,
    /// `human` (default), `model` or `code`.
    pub source: Option<String>,
    pub by: Option<String>,
    pub comment: Option<String>,
}

/// Query of `GET /v1/outcomes`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomesQuery {
    /// Only this session's outcomes.
    pub session: Option<String>,
}

/// Query of `GET /v1/outcomes/stats`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// `all` (default), `agent`, `user`, `team`, `week`, `workflow`.
    #[schemars(extend("enum" = STATS_BY))]
    pub by: Option<String>,
}

/// Query of `PUT /v1/outcomes/taxonomy`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyQuery {
    /// Set it even if stored outcomes would be orphaned.
    #[serde(default)]
    pub force: bool,
}

/// Query of `GET /v1/export`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (default) or `markdown`.
    #[schemars(extend("enum" = EXPORT_FORMATS))]
    pub format: Option<String>,
    /// JSON: include the whole session log, verbatim.
    #[serde(default)]
    pub sessions: bool,
    /// Markdown: only this project's memories (a project id `NAME#KEY` or
    /// an absolute directory) and those of no project.
    pub project: Option<String>,
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// `read`, `write` or `admin`.
    #[schemars(extend("enum" = TOKEN_SCOPES))]
    pub scope: String,
    /// Bind the token to one team.
    pub team: Option<String>,
}

// --- handlers ---

type PathId = Result<Path<String>, PathRejection>;
type Q<T> = Result<Query<T>, QueryRejection>;
type Out = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(v: T) -> Out {
    Ok(Json(v).into_response())
}

fn created<T: serde::Serialize>(v: T) -> Out {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn ingest(State(st): State<AppState>, cred: Credentials, q: Q<IngestQuery>, body: Bytes) -> Out {
    let q = query_of(q)?;
    let format =
        q.format.as_deref().map(str::parse::<Format>).transpose().map_err(|e| ApiError::invalid(e.to_string()))?;
    let opts = IngestOptions { format, user: q.user, agent: q.agent, team: q.team, ..Default::default() };
    if body.is_empty() {
        return Err(ApiError::invalid("the request body is empty: send the transcript as the body"));
    }
    let name = q.name.unwrap_or_else(|| "request body".into());
    let rep = call(&st, cred, false, move |s| s.ingest_bytes(&name, &body, &opts)).await?;
    if rep.totals.files_refused > 0 {
        if let Some(r) = rep.refused.first() {
            return Err(ApiError::invalid(format!("the transcript was refused: {r}")));
        }
    }
    if let Some(r) = rep.refused.first() {
        return Err(ApiError::conflict(format!("a session was refused: {r}")));
    }
    ok(rep)
}

async fn append_events(
    State(st): State<AppState>,
    cred: Credentials,
    id: PathId,
    q: Q<AppendQuery>,
    body: Bytes,
) -> Out {
    let id = id_of(id)?;
    let expect = query_of(q)?.expect;
    let items: Vec<serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("expected a JSON array of events: {e}")))?;
    let mut events = Vec::with_capacity(items.len());
    for (i, mut v) in items.into_iter().enumerate() {
        // Events sent without `raw` keep the JSON they were sent as.
        if let Some(obj) = v.as_object_mut() {
            if !obj.contains_key("raw") {
                let raw = serde_json::Value::Object(obj.clone()).to_string();
                obj.insert("raw".into(), serde_json::Value::String(raw));
            }
        }
        let e: NewEvent = serde_json::from_value(v).map_err(|e| ApiError::invalid(format!("event {i}: {e}")))?;
        events.push(e);
    }
    let sid = id.clone();
    let n = call(&st, cred, false, move |s| s.append_events(&sid, expect, &events)).await?;
    ok(Appended { session: id, event_count: n })
}

async fn sessions(State(st): State<AppState>, cred: Credentials, q: Q<SessionsQuery>) -> Out {
    let q = query_of(q)?;
    let f = SessionFilter {
        user: q.user,
        agent: q.agent,
        team: q.team,
        parent: q.parent,
        since: date("since", q.since)?,
        until: date("until", q.until)?,
        limit: q.limit,
    };
    if q.tree {
        return ok(SessionsReply::Tree(call(&st, cred, false, move |s| s.session_tree(f)).await?));
    }
    ok(SessionsReply::List(call(&st, cred, false, move |s| s.sessions(f)).await?))
}

async fn session(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.session_view(&id)).await?)
}

async fn sessions_search(State(st): State<AppState>, cred: Credentials, q: Q<SessionSearchQuery>) -> Out {
    let q = query_of(q)?;
    let k = q.k.unwrap_or(10);
    ok(call(&st, cred, false, move |s| s.sessions_search(&q.q, k, q.session.as_deref())).await?)
}

async fn memories(State(st): State<AppState>, cred: Credentials, q: Q<MemoriesQuery>) -> Out {
    let q = query_of(q)?;
    let f = MemoryFilter { include_retired: q.all, kind: q.kind, scope: q.scope };
    ok(call(&st, cred, false, move |s| s.memories(&f)).await?)
}

async fn memory(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.memory(&id)).await?)
}

async fn history(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    let h = call(&st, cred, false, move |s| s.history(&id)).await?;
    ok(h.iter().map(HistoryJson::of).collect::<Vec<_>>())
}

async fn memory_search(State(st): State<AppState>, cred: Credentials, q: Q<MemorySearchQuery>) -> Out {
    let q = query_of(q)?;
    let k = q.k.unwrap_or(10);
    ok(call(&st, cred, false, move |s| s.memory_search(&q.q, k, q.kind.as_deref(), q.scope.as_deref())).await?)
}

async fn context(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: ContextBody = json_of(&body, false)?;
    let req = ContextRequest {
        task: b.task,
        budget: b.budget.unwrap_or(1000),
        agent: b.agent,
        user: b.user,
        team: b.team,
        session: b.session,
        project: b.project,
    };
    ok(call(&st, cred, false, move |s| s.context(&req)).await?)
}

async fn memory_add(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: NewMemoryBody = json_of(&body, false)?;
    let m = NewMemory { kind: b.kind, text: b.text, tags: b.tags, scope: b.scope, priority: b.priority };
    let (m, rev) = call(&st, cred, false, move |s| s.memory_add(&m, b.expect_rev)).await?;
    created(MemoryWritten { memory: m, revision: rev.rev })
}

async fn memory_edit(State(st): State<AppState>, cred: Credentials, id: PathId, body: Bytes) -> Out {
    let id = id_of(id)?;
    let b: MemoryEditBody = json_of(&body, false)?;
    let e = MemoryEdit { text: b.text, kind: b.kind, tags: b.tags, scope: b.scope, priority: b.priority };
    let (m, rev) = call(&st, cred, false, move |s| s.memory_edit(&id, &e, b.expect_rev)).await?;
    ok(MemoryWritten { memory: m, revision: rev.rev })
}

async fn memory_retire(State(st): State<AppState>, cred: Credentials, id: PathId, body: Bytes) -> Out {
    let id = id_of(id)?;
    let b: RetireBody = json_of(&body, true)?;
    let (m, rev) = call(&st, cred, false, move |s| s.memory_retire(&id, b.reason.as_deref(), b.expect_rev)).await?;
    ok(MemoryWritten { memory: m, revision: rev.rev })
}

async fn rollback(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: RollbackBody = json_of(&body, false)?;
    ok(call(&st, cred, false, move |s| s.rollback(b.to, b.expect_rev)).await?)
}

async fn dream(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: DreamBody = json_of(&body, true)?;
    let spec = match &b.instructions {
        Some(text) => nocturne_service::with_instructions(&b.spec, "instructions", text)
            .map_err(|e| e.in_field("instructions"))?,
        None => b.spec,
    };
    let apply = b.apply;
    let choice = ModelChoice::of(b.model.as_ref())?;
    if choice == ModelChoice::DryRun {
        if apply {
            return Err(ApiError::invalid("\"model\": \"dry_run\" sends and stores nothing: it cannot apply"));
        }
        return ok(call(&st, cred, false, move |s| s.model_dry_run(&spec)).await?);
    }
    let (p, _) = call(&st, cred, false, move |s| {
        if choice.resolve(s.has_model())? {
            s.dream_with_model(&spec, apply)
        } else {
            s.dream(&spec, apply)
        }
    })
    .await?;
    created(p)
}

async fn job_submit(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: JobBody = json_of(&body, true)?;
    match b.kind.as_deref().unwrap_or("dream") {
        "dream" => {}
        other => return Err(ApiError::invalid(format!("kind={other}: only dream jobs are submitted over HTTP"))),
    }
    let spec = match &b.dream.instructions {
        Some(text) => nocturne_service::with_instructions(&b.dream.spec, "instructions", text)
            .map_err(|e| e.in_field("instructions"))?,
        None => b.dream.spec,
    };
    let apply = b.dream.apply;
    let choice = ModelChoice::of(b.dream.model.as_ref())?;
    if choice == ModelChoice::DryRun {
        return Err(ApiError::invalid(
            "\"model\": \"dry_run\" is answered at once by POST /v1/dreams; a job cannot be a dry run",
        ));
    }
    // The job records whether it runs the model pass; the worker that
    // takes it runs it with its own model (and fails saying so without one).
    let j = call(&st, cred, false, move |s| {
        let model = choice.resolve(s.has_model())?;
        s.submit_dream(&spec, apply, model)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(j)).into_response())
}

async fn jobs(State(st): State<AppState>, cred: Credentials, q: Q<JobsQuery>) -> Out {
    let q = query_of(q)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(x) => Some(
            nocturne_service::JobState::parse(x)
                .ok_or_else(|| ApiError::invalid(format!("state={x}: use queued, running, done or failed")))?,
        ),
    };
    let f = nocturne_service::JobFilter { state, kind: q.kind, team: None, limit: q.limit };
    ok(call(&st, cred, false, move |s| s.jobs(&f)).await?)
}

async fn job_show(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.job(&id)).await?)
}

async fn dreams(State(st): State<AppState>, cred: Credentials) -> Out {
    ok(call(&st, cred, false, move |s| s.dreams()).await?)
}

async fn dream_show(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.dream_proposal(&id)).await?)
}

async fn dream_apply(State(st): State<AppState>, cred: Credentials, id: PathId, body: Bytes) -> Out {
    let id = id_of(id)?;
    let b: ApplyBody = json_of(&body, true)?;
    let sel = OpSelection { only: b.only, skip: b.skip };
    ok(call(&st, cred, false, move |s| s.apply_dream(&id, &sel)).await?)
}

async fn dream_reject(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.reject_dream(&id)).await?)
}

async fn outcome_log(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: OutcomeBody = json_of(&body, false)?;
    let req =
        LogOutcome { session: b.session, task: b.task, set: b.set, source: b.source, by: b.by, comment: b.comment };
    created(call(&st, cred, false, move |s| s.log_outcome(&req)).await?)
}

async fn outcomes(State(st): State<AppState>, cred: Credentials, q: Q<OutcomesQuery>) -> Out {
    let q = query_of(q)?;
    ok(call(&st, cred, false, move |s| s.outcomes(q.session.as_deref())).await?)
}

fn stats_by(s: Option<&str>) -> Result<StatsBy, ApiError> {
    Ok(match s.unwrap_or("all") {
        "all" => StatsBy::All,
        "agent" => StatsBy::Agent,
        "user" => StatsBy::User,
        "team" => StatsBy::Team,
        "week" => StatsBy::Week,
        "workflow" => StatsBy::Workflow,
        other => {
            return Err(ApiError::invalid(format!("by={other}: use all, agent, user, team, week or workflow")));
        }
    })
}

async fn outcome_stats(State(st): State<AppState>, cred: Credentials, q: Q<StatsQuery>) -> Out {
    let by = stats_by(query_of(q)?.by.as_deref())?;
    ok(call(&st, cred, false, move |s| s.outcome_stats(by)).await?)
}

async fn taxonomy(State(st): State<AppState>, cred: Credentials) -> Out {
    ok(call(&st, cred, false, move |s| s.taxonomy()).await?)
}

async fn set_taxonomy(State(st): State<AppState>, cred: Credentials, q: Q<TaxonomyQuery>, body: Bytes) -> Out {
    let force = query_of(q)?.force;
    let toml = String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("the taxonomy is not UTF-8 text"))?;
    ok(call(&st, cred, false, move |s| s.set_taxonomy(&toml, "request body", force)).await?)
}

async fn export(State(st): State<AppState>, cred: Credentials, q: Q<ExportQuery>) -> Out {
    let q = query_of(q)?;
    match q.format.as_deref().unwrap_or("json") {
        // Refused after authentication (inside the call), so a caller
        // without credentials hears 401 first.
        "json" if q.project.is_some() => ok(call(&st, cred, false, move |_| -> nocturne_service::Result<()> {
            Err(nocturne_service::ServiceError::InvalidField {
                field: "project",
                message:
                    "project selects the memories of a markdown export (format=markdown); the JSON export is the whole store"
                        .into(),
            })
        })
        .await?),
        "json" if q.sessions => ok(call(&st, cred, false, move |s| s.export_with_sessions()).await?),
        "json" => ok(call(&st, cred, false, move |s| s.export_json()).await?),
        "markdown" | "md" => {
            let project = q.project;
            let md = call(&st, cred, false, move |s| s.export_markdown(project.as_deref())).await?;
            Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md).into_response())
        }
        other => Err(ApiError::invalid(format!("format={other}: use json or markdown"))),
    }
}

async fn token_create(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: TokenBody = json_of(&body, false)?;
    let level = AccessLevel::parse(&b.scope)?;
    created(call(&st, cred, false, move |s| s.create_token(level, b.team.as_deref())).await?)
}

async fn runs(State(st): State<AppState>, cred: Credentials, q: Q<RunsQuery>) -> Out {
    let q = query_of(q)?;
    let f = nocturne_service::RunFilter { team: None, state: q.state, limit: q.limit };
    ok(call(&st, cred, false, move |s| s.agent_runs(f)).await?)
}

/// What `POST /v1/runs` and `POST /v1/runs/{id}/resume` answer: the run and its job.
#[derive(serde::Serialize, JsonSchema)]
struct QueuedRun {
    run: nocturne_service::AgentRun,
    job: nocturne_service::Job,
}

async fn run_submit(State(st): State<AppState>, cred: Credentials, body: Bytes) -> Out {
    let b: nocturne_service::NewRun = json_of(&body, false)?;
    if !st.svc.can_create_runs() {
        // The caller's credentials still come first.
        call(&st, cred, false, |s| s.require(AccessLevel::Write)).await?;
        return Err(ApiError::http(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no agent definitions or no model, so it cannot start runs",
        ));
    }
    let (run, job) = call(&st, cred, false, move |s| s.queue_run(&b)).await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedRun { run, job })).into_response())
}

async fn run_resume(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    let q = call(&st, cred, false, move |s| {
        let job = s.submit_run(&id, true)?;
        Ok(QueuedRun { run: s.agent_run(&id)?, job })
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(q)).into_response())
}

async fn run_view(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.run_view(&id)).await?)
}

async fn run_journal(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.run_journal(&id, 0)).await?)
}

async fn run_cancel(State(st): State<AppState>, cred: Credentials, id: PathId) -> Out {
    let id = id_of(id)?;
    ok(call(&st, cred, false, move |s| s.cancel_run(&id)).await?)
}

async fn openapi(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json((*st.openapi).clone())
}

// --- the table ---

const SESSION_ID: &str = "Session id.";
const MEMORY_ID: &str = "Memory id.";
const DREAM_ID: &str = "Dream (proposal) id.";
const RUN_ID: &str = "Agent run id.";

const TRANSCRIPT_EXAMPLE: &str = "{\"nocturne\":\"session\",\"version\":1,\"id\":\"{new}\",\"title\":\"example\"}\n\
{\"role\":\"user\",\"kind\":\"user_message\",\"text\":\"Run the unit tests.\"}\n";

/// Every REST route (the review pages are in [`crate::ui::routes`]).
pub fn routes() -> Vec<Route> {
    let json = |status, schema| Reply::Json { status, schema };
    vec![
        Route {
            method: Method::GET,
            path: "/openapi.json",
            operation_id: "openapi",
            tag: "meta",
            summary: "This document (OpenAPI 3.1).",
            needs: "none",
            params: vec![],
            query: None,
            body: Body::None,
            reply: json(200, schema::<serde_json::Value>),
            handler: get(openapi),
        },
        // sessions
        Route {
            method: Method::POST,
            path: "/v1/sessions",
            operation_id: "ingestSession",
            tag: "sessions",
            summary: "Ingest a whole transcript (any importer format), sent as the raw request body.",
            needs: "write",
            params: vec![],
            query: query_struct::<IngestQuery>(&[("format", Example::Lit("auto")), ("user", Example::Lit("ana")), ("agent", Example::Lit("coder")), ("team", Example::Lit("shop")), ("name", Example::Lit("upload.jsonl"))]),
            body: Body::Raw { content_type: "application/octet-stream", example: TRANSCRIPT_EXAMPLE },
            reply: json(200, schema::<nocturne_service::IngestReport>),
            handler: post(ingest),
        },
        Route {
            method: Method::GET,
            path: "/v1/sessions",
            operation_id: "listSessions",
            tag: "sessions",
            summary: "Sessions, newest first.",
            needs: "read",
            params: vec![],
            query: query_struct::<SessionsQuery>(&[("user", Example::Lit("ana")), ("agent", Example::Lit("coder")), ("team", Example::Lit("shop")), ("since", Example::Lit("2026-01-01")), ("until", Example::Lit("2030-01-01")), ("limit", Example::Lit("50")), ("parent", Example::Session), ("tree", Example::Lit("false"))]),
            body: Body::None,
            reply: json(200, schema::<SessionsReply>),
            handler: get(sessions),
        },
        Route {
            method: Method::GET,
            path: "/v1/sessions/search",
            operation_id: "searchSessions",
            tag: "sessions",
            summary: "Hybrid search over session events.",
            needs: "read",
            params: vec![],
            query: query_struct::<SessionSearchQuery>(&[("q", Example::Lit("unit tests")), ("k", Example::Lit("5")), ("session", Example::Session)]),
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_service::EventHit>>),
            handler: get(sessions_search),
        },
        Route {
            method: Method::GET,
            path: "/v1/sessions/{id}",
            operation_id: "getSession",
            tag: "sessions",
            summary: "A session, its events, its parent and its sub-agent sessions (each with the call that spawned it).",
            needs: "read",
            params: vec![path("id", SESSION_ID, Example::Session)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<nocturne_service::SessionView>),
            handler: get(session),
        },
        Route {
            method: Method::POST,
            path: "/v1/sessions/{id}/events",
            operation_id: "appendEvents",
            tag: "sessions",
            summary: "Append events (normalized shape; `raw` defaults to the event as sent) to a session.",
            needs: "write",
            params: vec![path("id", SESSION_ID, Example::Session)],
            query: query_struct::<AppendQuery>(&[("expect", Example::Lit("0"))]),
            body: Body::Json { schema: new_events,
                example: r#"[{"role":"user","kind":"user_message","text":"And now the integration tests."}]"#,
            },
            reply: json(200, schema::<Appended>),
            handler: post(append_events),
        },
        // memory
        Route {
            method: Method::GET,
            path: "/v1/memories",
            operation_id: "listMemories",
            tag: "memory",
            summary: "Memories at the head: highest priority first.",
            needs: "read",
            params: vec![],
            query: query_struct::<MemoriesQuery>(&[("all", Example::Lit("true")), ("kind", Example::Lit("preference")), ("scope", Example::Lit("org"))]),
            body: Body::None,
            reply: json(200, schema::<Vec<Memory>>),
            handler: get(memories),
        },
        Route {
            method: Method::POST,
            path: "/v1/memories",
            operation_id: "addMemory",
            tag: "memory",
            summary: "Add a memory (one revision).",
            needs: "write",
            params: vec![],
            query: None,
            body: Body::Json { schema: schema::<NewMemoryBody>,
                example: r#"{"kind":"preference","text":"Use pnpm, not npm.","tags":["tooling"],"priority":1}"#,
            },
            reply: json(201, schema::<MemoryWritten>),
            handler: post(memory_add),
        },
        Route {
            method: Method::GET,
            path: "/v1/memories/search",
            operation_id: "searchMemories",
            tag: "memory",
            summary: "Hybrid search over active memories.",
            needs: "read",
            params: vec![],
            query: query_struct::<MemorySearchQuery>(&[("q", Example::Lit("package manager")), ("k", Example::Lit("5")), ("kind", Example::Lit("preference")), ("scope", Example::Lit("org"))]),
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_service::MemoryHit>>),
            handler: get(memory_search),
        },
        Route {
            method: Method::GET,
            path: "/v1/memories/{id}",
            operation_id: "getMemory",
            tag: "memory",
            summary: "One memory.",
            needs: "read",
            params: vec![path("id", MEMORY_ID, Example::Memory)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Memory>),
            handler: get(memory),
        },
        Route {
            method: Method::PATCH,
            path: "/v1/memories/{id}",
            operation_id: "editMemory",
            tag: "memory",
            summary: "Edit a memory (one revision); fields left out are kept.",
            needs: "write",
            params: vec![path("id", MEMORY_ID, Example::Memory)],
            query: None,
            body: Body::Json { schema: schema::<MemoryEditBody>, example: r#"{"priority":2}"# },
            reply: json(200, schema::<MemoryWritten>),
            handler: patch(memory_edit),
        },
        Route {
            method: Method::GET,
            path: "/v1/memories/{id}/history",
            operation_id: "memoryHistory",
            tag: "memory",
            summary: "Every revision that changed the memory, oldest first.",
            needs: "read",
            params: vec![path("id", MEMORY_ID, Example::Memory)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Vec<HistoryJson>>),
            handler: get(history),
        },
        Route {
            method: Method::POST,
            path: "/v1/memories/{id}/retire",
            operation_id: "retireMemory",
            tag: "memory",
            summary: "Retire a memory (kept with its history).",
            needs: "write",
            params: vec![path("id", MEMORY_ID, Example::Memory)],
            query: None,
            body: Body::OptionalJson { schema: schema::<RetireBody>, example: r#"{"reason":"no longer true"}"# },
            reply: json(200, schema::<MemoryWritten>),
            handler: post(memory_retire),
        },
        Route {
            method: Method::POST,
            path: "/v1/context",
            operation_id: "context",
            tag: "memory",
            summary: "The memories that matter for a task, within a token budget (recorded as a usage event).",
            needs: "read",
            params: vec![],
            query: None,
            body: Body::Json { schema: schema::<ContextBody>,
                example: r#"{"task":"fix the failing checkout tests","budget":800,"session":"{session}"}"#,
            },
            reply: json(200, schema::<nocturne_service::ContextBundle>),
            handler: post(context),
        },
        Route {
            method: Method::POST,
            path: "/v1/rollback",
            operation_id: "rollback",
            tag: "memory",
            summary: "Bring all memory back to a revision, as a new revision (org admin).",
            needs: "admin",
            params: vec![],
            query: None,
            body: Body::Json { schema: schema::<RollbackBody>, example: r#"{"to":0}"# },
            reply: json(200, schema::<Revision>),
            handler: post(rollback),
        },
        // dreams
        Route {
            method: Method::POST,
            path: "/v1/dreams",
            operation_id: "dream",
            tag: "dreams",
            summary: "Run a dream over the session log; store its proposal for review.",
            needs: "write",
            params: vec![],
            query: None,
            body: Body::OptionalJson { schema: schema::<DreamBody>, example: r#"{"sessions":100,"focus":["mistake"]}"# },
            reply: Reply::JsonOr {
                status: 201,
                schema: schema::<Proposal>,
                other_status: 200,
                other_schema: schema::<nocturne_service::DryRunReport>,
                other_description: "`\"model\": \"dry_run\"`: the requests a model dream would send (nothing sent or stored).",
            },
            handler: post(dream),
        },
        // jobs
        Route {
            method: Method::POST,
            path: "/v1/jobs",
            operation_id: "submitJob",
            tag: "jobs",
            summary: "Enqueue a dream for a worker (`nocturne worker`, or the one in `serve`); it runs once.",
            needs: "write",
            params: vec![],
            query: None,
            body: Body::OptionalJson { schema: schema::<JobBody>, example: r#"{"kind":"dream","sessions":100}"# },
            reply: json(202, schema::<nocturne_service::Job>),
            handler: post(job_submit),
        },
        Route {
            method: Method::GET,
            path: "/v1/jobs",
            operation_id: "listJobs",
            tag: "jobs",
            summary: "Jobs, newest first: queued, running (with the worker and its lease), done, failed.",
            needs: "read",
            params: vec![],
            query: query_struct::<JobsQuery>(&[("state", Example::Lit("running")), ("kind", Example::Lit("dream")), ("limit", Example::Lit("20"))]),
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_service::Job>>),
            handler: get(jobs),
        },
        Route {
            method: Method::GET,
            path: "/v1/jobs/{id}",
            operation_id: "getJob",
            tag: "jobs",
            summary: "One job: its state, attempts, worker and result.",
            needs: "read",
            params: vec![path("id", "Job id.", Example::Job)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<nocturne_service::Job>),
            handler: get(job_show),
        },
        Route {
            method: Method::GET,
            path: "/v1/dreams",
            operation_id: "listDreams",
            tag: "dreams",
            summary: "Stored proposals.",
            needs: "read",
            params: vec![],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Vec<Proposal>>),
            handler: get(dreams),
        },
        Route {
            method: Method::GET,
            path: "/v1/dreams/{id}",
            operation_id: "getDream",
            tag: "dreams",
            summary: "One proposal with its ops and evidence.",
            needs: "read",
            params: vec![path("id", DREAM_ID, Example::Dream)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Proposal>),
            handler: get(dream_show),
        },
        Route {
            method: Method::POST,
            path: "/v1/dreams/{id}/apply",
            operation_id: "applyDream",
            tag: "dreams",
            summary: "Apply the chosen ops as one revision authored by the dream (no body: all ops).",
            needs: "write",
            params: vec![path("id", DREAM_ID, Example::Dream)],
            query: None,
            body: Body::OptionalJson { schema: schema::<ApplyBody>, example: r#"{"only":[1],"skip":[]}"# },
            reply: json(200, schema::<Revision>),
            handler: post(dream_apply),
        },
        Route {
            method: Method::POST,
            path: "/v1/dreams/{id}/reject",
            operation_id: "rejectDream",
            tag: "dreams",
            summary: "Reject a pending proposal; memory is unchanged.",
            needs: "write",
            params: vec![path("id", DREAM_ID, Example::Dream)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Proposal>),
            handler: post(dream_reject),
        },
        // runs
        Route {
            method: Method::GET,
            path: "/v1/runs",
            operation_id: "listRuns",
            tag: "runs",
            summary: "Agent runs (`nocturne run`), newest first; a team token sees its team's runs.",
            needs: "read",
            params: vec![],
            query: query_struct::<RunsQuery>(&[("state", Example::Lit("completed")), ("limit", Example::Lit("20"))]),
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_service::AgentRun>>),
            handler: get(runs),
        },
        Route {
            method: Method::POST,
            path: "/v1/runs",
            operation_id: "submitRun",
            tag: "runs",
            summary: "Record an agent run with this server's agent definitions and model, and queue it for a worker \
                      (`nocturne worker`, or the one in `serve`); it runs once, resumed from its journal if its \
                      worker dies. 503 when the server has no agents or no model.",
            needs: "write",
            params: vec![],
            query: None,
            body: Body::Json {
                schema: schema::<nocturne_service::NewRun>,
                example: r#"{"agent":"lead","task":"summarize the open issues","context":{"repo":"web"}}"#,
            },
            reply: json(202, schema::<QueuedRun>),
            handler: post(run_submit),
        },
        Route {
            method: Method::GET,
            path: "/v1/runs/{id}",
            operation_id: "getRun",
            tag: "runs",
            summary: "A run: its record, its typed result and its tree of agents (from its journal).",
            needs: "read",
            params: vec![path("id", RUN_ID, Example::Run)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<nocturne_service::RunView>),
            handler: get(run_view),
        },
        Route {
            method: Method::GET,
            path: "/v1/runs/{id}/journal",
            operation_id: "getRunJournal",
            tag: "runs",
            summary: "A run's append-only journal: every model call, tool call, spawn, start and end, in order.",
            needs: "read",
            params: vec![path("id", RUN_ID, Example::Run)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_service::JournalEntry>>),
            handler: get(run_journal),
        },
        Route {
            method: Method::POST,
            path: "/v1/runs/{id}/cancel",
            operation_id: "cancelRun",
            tag: "runs",
            summary: "Ask a running run to stop: its agents end `cancelled` at their next step (409 once it ended).",
            needs: "write",
            params: vec![path("id", RUN_ID, Example::Run)],
            query: None,
            body: Body::None,
            reply: json(200, schema::<nocturne_service::AgentRun>),
            handler: post(run_cancel),
        },
        Route {
            method: Method::POST,
            path: "/v1/runs/{id}/resume",
            operation_id: "resumeRun",
            tag: "runs",
            summary: "Queue the resumption of a run whose process died: a worker goes on from its journal \
                      (409 once it ended, or while another job of the run is queued or running).",
            needs: "write",
            params: vec![path("id", RUN_ID, Example::Run)],
            query: None,
            body: Body::None,
            reply: json(202, schema::<QueuedRun>),
            handler: post(run_resume),
        },
        // outcomes
        Route {
            method: Method::POST,
            path: "/v1/outcomes",
            operation_id: "logOutcome",
            tag: "outcomes",
            summary: "Log how a session (or one task in it) ended.",
            needs: "write",
            params: vec![],
            query: None,
            body: Body::Json { schema: schema::<OutcomeBody>,
                example: r#"{"session":"{session}","set":["result=success"],"comment":"merged"}"#,
            },
            reply: json(201, schema::<Vec<Outcome>>),
            handler: post(outcome_log),
        },
        Route {
            method: Method::GET,
            path: "/v1/outcomes",
            operation_id: "listOutcomes",
            tag: "outcomes",
            summary: "Outcomes, history included, oldest first.",
            needs: "read",
            params: vec![],
            query: query_struct::<OutcomesQuery>(&[("session", Example::Session)]),
            body: Body::None,
            reply: json(200, schema::<Vec<Outcome>>),
            handler: get(outcomes),
        },
        Route {
            method: Method::GET,
            path: "/v1/outcomes/stats",
            operation_id: "outcomeStats",
            tag: "outcomes",
            summary: "Statistics over the effective outcomes, grouped (org-wide tokens).",
            needs: "read",
            params: vec![],
            query: query_struct::<StatsQuery>(&[("by", Example::Lit("agent"))]),
            body: Body::None,
            reply: json(200, schema::<Vec<nocturne_core::outcome::GroupStats>>),
            handler: get(outcome_stats),
        },
        Route {
            method: Method::GET,
            path: "/v1/outcomes/taxonomy",
            operation_id: "getTaxonomy",
            tag: "outcomes",
            summary: "The outcome taxonomy in force.",
            needs: "read",
            params: vec![],
            query: None,
            body: Body::None,
            reply: json(200, schema::<nocturne_core::outcome::Taxonomy>),
            handler: get(taxonomy),
        },
        Route {
            method: Method::PUT,
            path: "/v1/outcomes/taxonomy",
            operation_id: "setTaxonomy",
            tag: "outcomes",
            summary: "Set a new taxonomy version from TOML (org admin); 409 if it would orphan outcomes.",
            needs: "admin",
            params: vec![],
            query: query_struct::<TaxonomyQuery>(&[("force", Example::Lit("false"))]),
            body: Body::Raw {
                content_type: "application/toml",
                example: "[[dimension]]\nname = \"result\"\ntype = \"categorical\"\nprimary = true\nlabel = [{ name = \"success\", value = 1.0 }, { name = \"failure\", value = 0.0 }]\n",
            },
            reply: json(200, schema::<nocturne_service::TaxonomyChange>),
            handler: put(set_taxonomy),
        },
        // export, tokens
        Route {
            method: Method::GET,
            path: "/v1/export",
            operation_id: "export",
            tag: "export",
            summary: "The JSON export document (org-wide tokens), or AGENTS.md-style markdown.",
            needs: "read",
            params: vec![],
            query: query_struct::<ExportQuery>(&[("format", Example::Lit("markdown")), ("sessions", Example::Lit("false"))]),
            body: Body::None,
            reply: Reply::JsonOrMarkdown { schema: schema::<nocturne_service::ExportDoc> },
            handler: get(export),
        },
        Route {
            method: Method::POST,
            path: "/v1/tokens",
            operation_id: "createToken",
            tag: "tokens",
            summary: "Create a token (org admin); the secret is returned once.",
            needs: "admin",
            params: vec![],
            query: None,
            body: Body::Json { schema: schema::<TokenBody>, example: r#"{"scope":"read","team":"shop"}"# },
            reply: json(201, schema::<nocturne_service::NewToken>),
            handler: post(token_create),
        },
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_value_a_schema_enumerates_is_accepted() {
        for f in FORMATS {
            assert!(f.parse::<Format>().is_ok(), "{f}");
        }
        for b in STATS_BY {
            assert!(stats_by(Some(b)).is_ok(), "{b}");
        }
        for s in JOB_STATES {
            assert!(nocturne_service::JobState::parse(s).is_some(), "{s}");
        }
        for s in TOKEN_SCOPES {
            assert!(AccessLevel::parse(s).is_ok(), "{s}");
        }
        assert!(stats_by(Some("month")).is_err());
        // The export formats are matched in `export`; the document lists them.
        let doc = crate::openapi::document();
        let p = &doc["paths"]["/v1/export"]["get"]["parameters"];
        let format = p.as_array().unwrap().iter().find(|p| p["name"] == "format").unwrap();
        assert_eq!(format["schema"]["enum"], serde_json::json!(EXPORT_FORMATS));
    }
}
