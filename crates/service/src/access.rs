//! Access control: bearer tokens (stored hashed) and what a token may see
//! and change. A team-bound token sees and changes only its team's sessions,
//! memories (`team:NAME` scope), dreams and outcomes, and reads org-scope
//! memories; everything else is invisible to it. Adapters authenticate, then
//! call operations through [`Scoped`], so the rules live here, not in
//! handlers.
//!
//! Every visibility rule of the service is here, also those the service
//! applies for itself: which memories a dream over one team's sessions
//! reads ([`memory_visible_to`]: the same rule as a token bound to that
//! team), and which scopes a context request reads
//! ([`in_context_scope`], named in messages by [`context_scopes_label`]),
//! and which projects' memories a context bundle or a markdown export
//! holds ([`in_context_project`]).

use crate::{ContextBundle, ContextRequest, DreamSpec, MemoryEdit, MemoryFilter, NewMemory, OpSelection, Result};
use crate::{LogOutcome, MemoryHit, Service, ServiceError};
use nocturne_core::outcome::{GroupStats, Outcome};
use nocturne_core::{Event, Here, Memory, ProjectTag, Proposal, Revision, Scope, ScopeLevel, Session};
use nocturne_store::{AgentRun, HistoryEntry, JournalEntry, RunFilter, SessionFilter, TokenRecord};
use sha2::{Digest, Sha256};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    Read,
    Write,
    Admin,
}

impl AccessLevel {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(AccessLevel::Read),
            "write" => Ok(AccessLevel::Write),
            "admin" => Ok(AccessLevel::Admin),
            _ => Err(ServiceError::invalid_field(
                "scope",
                format!("invalid token scope {s:?}: use read, write or admin"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Read => "read",
            AccessLevel::Write => "write",
            AccessLevel::Admin => "admin",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    pub level: AccessLevel,
    /// Bound team, or `None` for org-wide access.
    pub team: Option<String>,
    /// The token's id (`None` for local, unauthenticated use).
    pub token: Option<String>,
    /// For local use: who acts (recorded as the author of revisions);
    /// `None` records `user:local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Access {
    /// Org-wide admin: the CLI, or a server started with `--insecure-local`.
    pub fn local() -> Self {
        Access { level: AccessLevel::Admin, team: None, token: None, actor: None }
    }

    /// Org-wide admin acting as `author` (`user:ana`): the command line,
    /// which records who made each change.
    pub fn local_as(author: impl Into<String>) -> Self {
        Access { actor: Some(author.into()), ..Access::local() }
    }

    /// The author recorded on revisions made with this access.
    pub fn author(&self) -> String {
        match (&self.token, &self.actor) {
            (Some(t), _) => format!("token:{t}"),
            (None, Some(a)) => a.clone(),
            (None, None) => "user:local".into(),
        }
    }
}

/// A newly created token: the secret is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub scope: String,
    pub team: Option<String>,
}

/// Whether a caller bound to `team` (`None`: org-wide) may see memory `m`:
/// org-wide callers see every memory; a team sees its own `team:NAME`
/// memories and the org's. A dream over one team's sessions reads memory
/// through this rule too, so its proposal cannot reveal another team's.
pub(crate) fn memory_visible_to(team: Option<&str>, m: &Memory) -> bool {
    match team {
        None => true,
        Some(t) => {
            m.scope.level == ScopeLevel::Org
                || (m.scope.level == ScopeLevel::Team && m.scope.name.as_deref() == Some(t))
        }
    }
}

/// Whether a caller bound to `team` (`None`: org-wide) may see session
/// `s`: a team sees its own sessions only. Ingest for a team-bound caller
/// reads stored sessions through this rule too, so an upload reveals
/// nothing of another team's session with the same id.
pub(crate) fn session_visible_to(team: Option<&str>, s: &Session) -> bool {
    match team {
        None => true,
        Some(t) => s.team.as_deref() == Some(t),
    }
}

/// Whether a caller bound to `team` (`None`: org-wide) may see proposal
/// `p`: a team sees the dreams and suggestions made for it.
pub(crate) fn proposal_visible_to(team: Option<&str>, p: &Proposal) -> bool {
    match team {
        None => true,
        Some(t) => p.team.as_deref() == Some(t),
    }
}

/// Whether a memory of `scope` belongs in the context bundle `req` asks
/// for. A request naming no agent, user or team reads **every scope the
/// caller may see** (a team-bound token has already set its team, see
/// [`Scoped::context`]). A request naming some reads the org's memories
/// and those of exactly the agent, user and team it names.
pub(crate) fn in_context_scope(scope: &Scope, req: &ContextRequest) -> bool {
    if req.agent.is_none() && req.user.is_none() && req.team.is_none() {
        return true;
    }
    let name = scope.name.as_deref();
    match scope.level {
        ScopeLevel::Org => true,
        ScopeLevel::Team => req.team.is_some() && name == req.team.as_deref(),
        ScopeLevel::Agent => req.agent.is_some() && name == req.agent.as_deref(),
        ScopeLevel::User => req.user.is_some() && name == req.user.as_deref(),
    }
}

/// Whether memory `m` belongs in a context bundle for a caller working in
/// `here`: with no project named, every memory does; with one, a memory of
/// no project does, and a memory of a project only when it is that
/// project (its key is the directory's or an ancestor's, or the id's; a
/// tag without key, by name). The project rules are in
/// `nocturne_core::project`.
pub(crate) fn in_context_project(m: &Memory, here: Option<&Here>) -> bool {
    match (here, ProjectTag::of_tags(&m.tags)) {
        (None, _) | (_, None) => true,
        (Some(h), Some(p)) => p.holds_in(h),
    }
}

/// The scopes a context request reads (the rule of [`in_context_scope`]),
/// for messages: `every scope`, or `org, team:web, user:ana`.
pub(crate) fn context_scopes_label(req: &ContextRequest) -> String {
    if req.agent.is_none() && req.user.is_none() && req.team.is_none() {
        return "every scope".into();
    }
    let mut v = vec!["org".to_string()];
    v.extend(req.team.as_ref().map(|t| format!("team:{t}")));
    v.extend(req.agent.as_ref().map(|a| format!("agent:{a}")));
    v.extend(req.user.as_ref().map(|u| format!("user:{u}")));
    v.join(", ")
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String> {
    Ok(hex::encode(crate::ids::random_bytes(bytes)?))
}

impl Service {
    /// Creates a token; returns it once (only its hash is stored).
    pub(crate) fn create_token(&self, level: AccessLevel, team: Option<&str>) -> Result<NewToken> {
        if let Some(t) = team {
            if t.trim().is_empty() || t.contains(':') {
                return Err(ServiceError::invalid_field("team", format!("invalid team name {t:?}")));
            }
        }
        let id = format!("tok-{}", random_hex(4)?);
        let token = format!("noc_{}", random_hex(24)?);
        self.store.put_token(&TokenRecord {
            id: id.clone(),
            hash: sha256_hex(&token),
            scope: level.as_str().into(),
            team: team.map(str::to_string),
            created_at: self.now(),
            revoked_at: None,
        })?;
        Ok(NewToken { id, token, scope: level.as_str().into(), team: team.map(str::to_string) })
    }

    /// Tokens (hashes only), oldest first.
    pub(crate) fn tokens(&self) -> Result<Vec<TokenRecord>> {
        Ok(self.store.tokens()?)
    }

    pub(crate) fn revoke_token(&self, id: &str) -> Result<()> {
        Ok(self.store.revoke_token(id, &self.now())?)
    }

    /// The access a bearer token grants, or `Unauthorized`.
    pub fn authenticate(&self, bearer: &str) -> Result<Access> {
        let rec = self.store.token_by_hash(&sha256_hex(bearer.trim()))?;
        match rec {
            Some(r) if r.revoked_at.is_none() => {
                Ok(Access { level: AccessLevel::parse(&r.scope)?, team: r.team, token: Some(r.id), actor: None })
            }
            Some(_) => Err(ServiceError::Unauthorized("the token was revoked".into())),
            None => Err(ServiceError::Unauthorized("unknown token".into())),
        }
    }

    /// Operations as seen through `access`.
    pub fn scoped(&self, access: Access) -> Scoped<'_> {
        Scoped { svc: self, access }
    }
}

/// The service as one caller may use it.
pub struct Scoped<'a> {
    svc: &'a Service,
    access: Access,
}

fn forbidden(msg: impl Into<String>) -> ServiceError {
    ServiceError::Forbidden(msg.into())
}

impl Scoped<'_> {
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Refuses a caller below `level` (for an adapter that must answer
    /// something else once the caller is known to be allowed).
    pub fn require(&self, level: AccessLevel) -> Result<()> {
        self.need(level)
    }

    fn need(&self, level: AccessLevel) -> Result<()> {
        if self.access.level >= level {
            Ok(())
        } else {
            Err(forbidden(format!("this needs a {} token; yours is {}", level.as_str(), self.access.level.as_str())))
        }
    }

    /// Org-wide access only (team-bound tokens cannot see across teams).
    fn need_org(&self, what: &str) -> Result<()> {
        match &self.access.team {
            None => Ok(()),
            Some(t) => Err(forbidden(format!("{what} needs an org-wide token; yours is bound to team {t}"))),
        }
    }

    fn session_visible(&self, s: &Session) -> bool {
        session_visible_to(self.access.team.as_deref(), s)
    }

    fn memory_visible(&self, m: &Memory) -> bool {
        memory_visible_to(self.access.team.as_deref(), m)
    }

    fn memory_writable(&self, m: &Memory) -> bool {
        match &self.access.team {
            None => true,
            Some(t) => m.scope.level == ScopeLevel::Team && m.scope.name.as_deref() == Some(t.as_str()),
        }
    }

    /// Not found rather than forbidden, so ids of other teams leak nothing.
    fn visible_session(&self, id: &str) -> Result<Session> {
        let s = self
            .svc
            .store()
            .session(id)?
            .ok_or_else(|| ServiceError::NotFound { what: "session", id: id.to_string() })?;
        if self.session_visible(&s) {
            Ok(s)
        } else {
            Err(ServiceError::NotFound { what: "session", id: id.to_string() })
        }
    }

    fn visible_memory(&self, id: &str) -> Result<Memory> {
        let m = self.svc.memory(id)?;
        if self.memory_visible(&m) {
            Ok(m)
        } else {
            Err(ServiceError::NotFound { what: "memory", id: id.to_string() })
        }
    }

    fn team_filter(&self, mut f: SessionFilter) -> SessionFilter {
        if let Some(t) = &self.access.team {
            f.team = Some(t.clone());
        }
        f
    }

    // --- sessions ---
    pub fn sessions(&self, f: SessionFilter) -> Result<Vec<Session>> {
        self.need(AccessLevel::Read)?;
        self.svc.sessions(&self.team_filter(f))
    }

    pub fn session(&self, id: &str) -> Result<(Session, Vec<Event>)> {
        self.need(AccessLevel::Read)?;
        self.visible_session(id)?;
        self.svc.session(id)
    }

    /// A session's header, without its events.
    pub fn session_header(&self, id: &str) -> Result<Session> {
        self.need(AccessLevel::Read)?;
        self.visible_session(id)
    }

    /// A session with its parent and children; children of another team
    /// are not listed, and a parent of another team reads as not stored.
    pub fn session_view(&self, id: &str) -> Result<crate::SessionView> {
        self.need(AccessLevel::Read)?;
        self.visible_session(id)?;
        self.svc.session_view_where(id, &|s| self.session_visible(s))
    }

    /// The visible sessions as a tree: sub-agents under their parents (oldest
    /// first), sessions whose parent is not listed at the top, marked.
    pub fn session_tree(&self, f: SessionFilter) -> Result<Vec<crate::TreeNode>> {
        self.need(AccessLevel::Read)?;
        let list = self.svc.sessions(&self.team_filter(f))?;
        let store = self.svc.store();
        let mut stored = |id: &str| store.session(id).map(|s| s.is_some_and(|s| self.session_visible(&s)));
        crate::sessions::tree(list, &mut stored)
    }

    /// Ingests a transcript posted as bytes; a team-bound token can only
    /// ingest into its team.
    pub fn ingest_bytes(&self, name: &str, bytes: &[u8], opts: &crate::IngestOptions) -> Result<crate::IngestReport> {
        self.need(AccessLevel::Write)?;
        let mut opts = opts.clone();
        if let Some(t) = &self.access.team {
            if opts.team.as_deref().is_some_and(|x| x != t) {
                return Err(forbidden(format!("a token bound to team {t} cannot ingest into another team")));
            }
            opts.team = Some(t.clone());
            opts.confined = true;
        }
        self.svc.ingest_bytes(name, bytes, &opts)
    }

    /// Appends events to an open session of the caller's team, after the
    /// `expected_len` events the caller saw (compare-and-append; a
    /// conflict when the session has another count), or after whatever it
    /// holds now when `None`.
    pub fn append_events(
        &self,
        session: &str,
        expected_len: Option<u32>,
        events: &[nocturne_core::NewEvent],
    ) -> Result<u32> {
        self.need(AccessLevel::Write)?;
        let s = self.visible_session(session)?;
        let expected = expected_len.unwrap_or(s.event_count);
        Ok(self.svc.store().append_events(session, expected, events)?)
    }

    pub fn sessions_search(&self, query: &str, k: usize, session: Option<&str>) -> Result<Vec<crate::EventHit>> {
        self.need(AccessLevel::Read)?;
        match (session, &self.access.team) {
            (Some(s), _) => {
                self.visible_session(s)?;
                self.svc.sessions_search(query, k, Some(s))
            }
            (None, None) => self.svc.sessions_search(query, k, None),
            (None, Some(_)) => {
                // Search each visible session's events together.
                let ids: Vec<String> = self.sessions(SessionFilter::default())?.into_iter().map(|s| s.id).collect();
                self.svc.sessions_search_in(query, k, &ids)
            }
        }
    }

    // --- memory ---
    pub fn memories(&self, f: &MemoryFilter) -> Result<Vec<Memory>> {
        self.need(AccessLevel::Read)?;
        Ok(self.svc.memories(f)?.into_iter().filter(|m| self.memory_visible(m)).collect())
    }

    pub fn memory(&self, id: &str) -> Result<Memory> {
        self.need(AccessLevel::Read)?;
        self.visible_memory(id)
    }

    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        self.need(AccessLevel::Read)?;
        self.visible_memory(id)?;
        self.svc.history(id)
    }

    pub fn memory_search(&self, q: &str, k: usize, kind: Option<&str>, scope: Option<&str>) -> Result<Vec<MemoryHit>> {
        self.need(AccessLevel::Read)?;
        if self.access.team.is_none() {
            return self.svc.memory_search(q, k, kind, scope);
        }
        // Over-fetch, then keep what this token may see.
        let hits = self.svc.memory_search(q, k.saturating_mul(4).max(50), kind, scope)?;
        let mut out = Vec::new();
        for h in hits {
            if out.len() == k {
                break;
            }
            if self.svc.memory(&h.id).is_ok_and(|m| self.memory_visible(&m)) {
                out.push(h);
            }
        }
        Ok(out)
    }

    pub fn context(&self, req: &ContextRequest) -> Result<ContextBundle> {
        self.need(AccessLevel::Read)?;
        let mut req = req.clone();
        if let Some(t) = &self.access.team {
            req.team = Some(t.clone());
            // Agent- and user-scoped memories are not visible to team tokens.
            req.agent = None;
            req.user = None;
            if let Some(s) = &req.session {
                self.visible_session(s)?;
            }
        }
        self.svc.context(&req)
    }

    pub fn memory_add(&self, m: &NewMemory, expect_rev: Option<u64>) -> Result<(Memory, Revision)> {
        self.need(AccessLevel::Write)?;
        let mut m = m.clone();
        if let Some(t) = &self.access.team {
            let want = Scope { level: ScopeLevel::Team, name: Some(t.clone()) };
            match &m.scope {
                None => m.scope = Some(want.to_string()),
                Some(s) if Scope::parse(s).ok().as_ref() == Some(&want) => {}
                Some(s) => return Err(forbidden(format!("a token bound to team {t} cannot write scope {s}"))),
            }
        }
        self.svc.memory_add(&m, &self.access.author(), expect_rev)
    }

    pub fn memory_edit(&self, id: &str, e: &MemoryEdit, expect_rev: Option<u64>) -> Result<(Memory, Revision)> {
        self.need(AccessLevel::Write)?;
        let m = self.visible_memory(id)?;
        if !self.memory_writable(&m) {
            return Err(forbidden(format!("memory {id} is org-wide; a team token can only read it")));
        }
        if let (Some(t), Some(s)) = (&self.access.team, &e.scope) {
            if Scope::parse(s).ok() != Some(Scope { level: ScopeLevel::Team, name: Some(t.clone()) }) {
                return Err(forbidden(format!("a token bound to team {t} cannot move a memory to {s}")));
            }
        }
        self.svc.memory_edit(id, e, &self.access.author(), expect_rev)
    }

    pub fn memory_retire(&self, id: &str, reason: Option<&str>, expect_rev: Option<u64>) -> Result<(Memory, Revision)> {
        self.need(AccessLevel::Write)?;
        let m = self.visible_memory(id)?;
        if !self.memory_writable(&m) {
            return Err(forbidden(format!("memory {id} is org-wide; a team token can only read it")));
        }
        self.svc.memory_retire(id, reason, &self.access.author(), expect_rev)
    }

    /// Whole-store rollback: org-wide admin only.
    pub fn rollback(&self, to: u64, expect_rev: Option<u64>) -> Result<Revision> {
        self.need(AccessLevel::Admin)?;
        self.need_org("rolling back the whole store")?;
        self.svc.rollback(to, &self.access.author(), expect_rev)
    }

    // --- dreams ---
    fn proposal_visible(&self, p: &Proposal) -> bool {
        proposal_visible_to(self.access.team.as_deref(), p)
    }

    pub fn dream(&self, spec: &DreamSpec, apply: bool) -> Result<(Proposal, Option<Revision>)> {
        let spec = self.dream_spec(spec, apply)?;
        self.svc.dream(&spec, apply, &self.access.author())
    }

    /// The spec a dream of this caller runs: write access, a team-bound
    /// caller dreams over its own team only and does not apply.
    fn dream_spec(&self, spec: &DreamSpec, apply: bool) -> Result<DreamSpec> {
        self.need(AccessLevel::Write)?;
        let mut spec = spec.clone();
        if let Some(t) = &self.access.team {
            spec.team = Some(t.clone());
        }
        if apply && self.access.team.is_some() {
            return Err(forbidden("a team token proposes dreams; apply them op by op after review"));
        }
        Ok(spec)
    }

    /// A dream with the model pass of the service's model (see
    /// [`Service::with_model`]), under the same rules as [`Scoped::dream`].
    /// Without the `model` feature, or without a model, it fails saying so
    /// (`model_config`).
    pub fn dream_with_model(&self, spec: &DreamSpec, apply: bool) -> Result<(Proposal, Option<Revision>)> {
        let spec = self.dream_spec(spec, apply)?;
        self.svc.dream_with_model(&spec, apply, &self.access.author())
    }

    /// The model requests a dream over `spec` would send under `config`
    /// (nothing sent or stored), under the same rules as [`Scoped::dream`]:
    /// the requests hold the sessions' content, so a team sees its own only.
    #[cfg(feature = "model")]
    pub fn dream_dry_run(&self, spec: &DreamSpec, config: &nocturne_provider::ModelConfig) -> Result<crate::DryRun> {
        let spec = self.dream_spec(spec, false)?;
        self.svc.dream_dry_run(&spec, config)
    }

    /// Whether the service has a model for model dreams.
    pub fn has_model(&self) -> bool {
        self.svc.has_model()
    }

    /// The requests a model dream over `spec` would send with the
    /// service's model (nothing sent or stored), under the same rules as
    /// [`Scoped::dream_dry_run`]. Fails (`model_config`) without a model.
    pub fn model_dry_run(&self, spec: &DreamSpec) -> Result<crate::DryRunReport> {
        let spec = self.dream_spec(spec, false)?;
        self.svc.model_dry_run(&spec)
    }

    /// An agent's suggested memory, stored as a proposal for review.
    pub fn propose_memory(&self, s: &crate::MemorySuggestion) -> Result<Proposal> {
        self.need(AccessLevel::Write)?;
        let mut s = s.clone();
        if let Some(id) = &s.session {
            self.visible_session(id)?;
        }
        if let Some(t) = &self.access.team {
            let want = Scope { level: ScopeLevel::Team, name: Some(t.clone()) };
            match &s.scope {
                None => s.scope = Some(want.to_string()),
                Some(x) if Scope::parse(x).ok().as_ref() == Some(&want) => {}
                Some(x) => return Err(forbidden(format!("a token bound to team {t} cannot propose for scope {x}"))),
            }
        }
        if s.by.is_empty() {
            s.by = self.access.author();
        }
        self.svc.propose_memory(&s, self.access.team.as_deref())
    }

    /// Enqueues a dream for a worker (`nocturne worker`, or the one in
    /// `serve`); a team token's dream reads only its team's sessions.
    /// `model`: the worker adds the model pass of its model.
    pub fn submit_dream(&self, spec: &DreamSpec, apply: bool, model: bool) -> Result<crate::Job> {
        self.need(AccessLevel::Write)?;
        let mut spec = spec.clone();
        if let Some(t) = &self.access.team {
            spec.team = Some(t.clone());
        }
        if apply && self.access.team.is_some() {
            return Err(forbidden("a team token proposes dreams; apply them op by op after review"));
        }
        // The job works for the dream's team (a team token's own), like the
        // proposal it makes.
        let team = spec.team.clone();
        let job = crate::DreamJob { spec, apply, author: self.access.author(), model };
        self.svc.submit_dream(&job, team.as_deref())
    }

    fn job_visible(&self, j: &crate::Job) -> bool {
        self.access.team.is_none() || j.job.team == self.access.team
    }

    /// Jobs, newest first (a team token sees its team's).
    pub fn jobs(&self, filter: &crate::JobFilter) -> Result<Vec<crate::Job>> {
        self.need(AccessLevel::Read)?;
        let mut f = filter.clone();
        if let Some(t) = &self.access.team {
            f.team = Some(t.clone());
        }
        Ok(self.svc.jobs(&f)?.into_iter().filter(|j| self.job_visible(j)).collect())
    }

    pub fn job(&self, id: &str) -> Result<crate::Job> {
        self.need(AccessLevel::Read)?;
        let j = self.svc.job(id)?;
        if self.job_visible(&j) {
            Ok(j)
        } else {
            Err(ServiceError::NotFound { what: "job", id: id.to_string() })
        }
    }

    // --- workers (org-wide: a worker runs every team's jobs) ---

    /// Enqueues every schedule of `config` that is due now (once however
    /// many processes call it); returns the jobs this call enqueued.
    pub fn enqueue_due(&self, config: &crate::Config) -> Result<Vec<crate::Job>> {
        self.need(AccessLevel::Write)?;
        self.need_org("enqueueing scheduled dreams")?;
        self.svc.enqueue_due(config)
    }

    /// Puts back in the queue the jobs of this machine's workers that are gone.
    pub fn release_dead_workers(&self) -> Result<usize> {
        self.need(AccessLevel::Write)?;
        self.need_org("running jobs")?;
        self.svc.release_dead_workers()
    }

    /// Claims one queued job (of `kinds`, or any) and runs it as `worker`.
    pub fn work_one(&self, worker: &crate::Worker, kinds: &[&str]) -> Result<Option<crate::Worked>> {
        self.need(AccessLevel::Write)?;
        self.need_org("running jobs")?;
        self.svc.work_one(worker, kinds)
    }

    /// Runs jobs of `kinds` until none is left to run now; returns them.
    pub fn work_until_idle(&self, worker: &crate::Worker, kinds: &[&str]) -> Result<Vec<crate::Worked>> {
        self.need(AccessLevel::Write)?;
        self.need_org("running jobs")?;
        self.svc.work_until_idle(worker, kinds)
    }

    pub fn dreams(&self) -> Result<Vec<Proposal>> {
        self.need(AccessLevel::Read)?;
        Ok(self.svc.dream_proposals()?.into_iter().filter(|p| self.proposal_visible(p)).collect())
    }

    pub fn dream_proposal(&self, id: &str) -> Result<Proposal> {
        self.need(AccessLevel::Read)?;
        let p = self.svc.dream_proposal(id)?;
        if self.proposal_visible(&p) {
            Ok(p)
        } else {
            Err(ServiceError::NotFound { what: "dream", id: id.to_string() })
        }
    }

    pub fn apply_dream(&self, id: &str, sel: &OpSelection) -> Result<Revision> {
        self.need(AccessLevel::Write)?;
        let p = self.dream_proposal(id)?;
        if let Some(t) = &self.access.team {
            let team = Scope { level: ScopeLevel::Team, name: Some(t.clone()) };
            for op in
                p.ops.iter().filter(|o| (sel.only.is_empty() || sel.only.contains(&o.n)) && !sel.skip.contains(&o.n))
            {
                let targets_ok =
                    op.targets.iter().all(|id| self.svc.memory(id).is_ok_and(|m| self.memory_writable(&m)));
                if op.scope != team || !targets_ok {
                    return Err(forbidden(format!(
                        "op {} of dream {id} writes outside team {t} (scope {}); skip it or ask an org admin",
                        op.n, op.scope
                    )));
                }
            }
        }
        self.svc.apply_dream(id, sel, &self.access.author())
    }

    pub fn reject_dream(&self, id: &str) -> Result<Proposal> {
        self.need(AccessLevel::Write)?;
        self.dream_proposal(id)?;
        self.svc.reject_dream(id)
    }

    // --- outcomes ---
    pub fn log_outcome(&self, req: &LogOutcome) -> Result<Vec<Outcome>> {
        self.need(AccessLevel::Write)?;
        self.visible_session(&req.session)?;
        self.svc.log_outcome(req)
    }

    pub fn outcomes(&self, session: Option<&str>) -> Result<Vec<Outcome>> {
        self.need(AccessLevel::Read)?;
        if let Some(s) = session {
            self.visible_session(s)?;
            return self.svc.outcomes(Some(s));
        }
        let all = self.svc.outcomes(None)?;
        if self.access.team.is_none() {
            return Ok(all);
        }
        let visible: std::collections::BTreeSet<String> =
            self.sessions(SessionFilter::default())?.into_iter().map(|s| s.id).collect();
        Ok(all.into_iter().filter(|o| visible.contains(&o.session)).collect())
    }

    pub fn outcome_stats(&self, by: crate::StatsBy) -> Result<Vec<GroupStats>> {
        self.need(AccessLevel::Read)?;
        self.need_org("outcome statistics across sessions")?;
        self.svc.outcome_stats(by)
    }

    pub fn taxonomy(&self) -> Result<nocturne_core::outcome::Taxonomy> {
        self.need(AccessLevel::Read)?;
        self.svc.taxonomy()
    }

    /// Sets a new taxonomy version; `source` names the text in errors (a
    /// file name, `request body`).
    pub fn set_taxonomy(&self, toml: &str, source: &str, force: bool) -> Result<crate::TaxonomyChange> {
        self.need(AccessLevel::Admin)?;
        self.need_org("changing the outcome taxonomy")?;
        self.svc.set_taxonomy(toml, source, force)
    }

    /// Imports a JSONL or CSV file of outcomes (all or nothing); org-wide.
    pub fn import_outcomes(&self, file: &str, bytes: &[u8]) -> Result<Vec<Outcome>> {
        self.need(AccessLevel::Write)?;
        self.need_org("a bulk outcome import")?;
        self.svc.import_outcomes(file, bytes)
    }

    // --- export ---
    pub fn export_json(&self) -> Result<crate::ExportDoc> {
        self.need(AccessLevel::Read)?;
        self.need_org("the full JSON export")?;
        self.svc.export_json()
    }

    /// The JSON export with the whole session log, verbatim (org-wide).
    pub fn export_with_sessions(&self) -> Result<crate::ExportDoc> {
        self.need(AccessLevel::Read)?;
        self.need_org("the full JSON export")?;
        self.svc.export_with_sessions()
    }

    /// Active memories as AGENTS.md-style markdown; with `project` (an
    /// absolute directory or a project id `NAME#KEY`), only that project's
    /// and those of no project, as a context request for it reads them.
    pub fn export_markdown(&self, project: Option<&str>) -> Result<String> {
        self.need(AccessLevel::Read)?;
        let here = project
            .map(|p| Here::parse(p).map_err(|e| ServiceError::invalid_field("project", e.to_string())))
            .transpose()?;
        if self.access.team.is_none() && here.is_none() {
            return self.svc.export_markdown();
        }
        let mut mems = self.memories(&MemoryFilter::default())?;
        mems.retain(|m| in_context_project(m, here.as_ref()));
        Ok(crate::export::render_markdown(&mems, self.svc.head()?, &self.svc.now()))
    }

    /// Imports a JSON export (memories, outcomes, and sessions if it has
    /// them): org-wide admin. All or nothing; an export without digests
    /// (versions 1–4) is refused ([`crate::ServiceError::Undigested`]).
    pub fn import_json(&self, bytes: &[u8], source: &str) -> Result<crate::ImportSummary> {
        self.import_json_with(bytes, source, crate::ImportOptions::default())
    }

    /// [`Scoped::import_json`] with options (to allow an undigested export).
    pub fn import_json_with(
        &self,
        bytes: &[u8],
        source: &str,
        opts: crate::ImportOptions,
    ) -> Result<crate::ImportSummary> {
        self.need(AccessLevel::Admin)?;
        self.need_org("importing an export")?;
        self.svc.import_json(bytes, source, opts)
    }

    // --- tokens ---
    pub fn create_token(&self, level: AccessLevel, team: Option<&str>) -> Result<NewToken> {
        self.need(AccessLevel::Admin)?;
        self.need_org("creating tokens")?;
        self.svc.create_token(level, team)
    }

    /// Tokens (hashes only), oldest first: org-wide admin.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.need(AccessLevel::Admin)?;
        self.need_org("listing tokens")?;
        self.svc.tokens()
    }

    pub fn revoke_token(&self, id: &str) -> Result<()> {
        self.need(AccessLevel::Admin)?;
        self.need_org("revoking tokens")?;
        self.svc.revoke_token(id)
    }

    // --- the whole store: local and org-wide callers ---

    /// The store's head revision.
    pub fn head(&self) -> Result<u64> {
        self.need(AccessLevel::Read)?;
        self.svc.head()
    }

    /// Every memory revision, oldest first (org-wide: revisions show every
    /// scope's changes).
    pub fn revisions(&self) -> Result<Vec<Revision>> {
        self.need(AccessLevel::Read)?;
        self.need_org("the revision log")?;
        self.svc.revisions()
    }

    /// Ingests files and folders from this machine's file system:
    /// org-wide admin (a local caller), never a remote team token.
    pub fn ingest(
        &self,
        paths: &[std::path::PathBuf],
        opts: &crate::IngestOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<crate::IngestReport> {
        self.need(AccessLevel::Admin)?;
        self.need_org("ingesting files of this machine")?;
        self.svc.ingest(paths, opts, progress)
    }

    /// Recomputes every session's hash chain (org-wide).
    pub fn verify(&self) -> Result<crate::VerifyReport> {
        self.need(AccessLevel::Read)?;
        self.need_org("verifying the whole session log")?;
        self.svc.verify()
    }

    /// Every session's id and head hash, in id order (org-wide).
    pub fn session_hashes(&self) -> Result<Vec<(String, String)>> {
        self.need(AccessLevel::Read)?;
        self.need_org("the session hashes")?;
        self.svc.session_hashes()
    }

    /// Usage events (context bundles handed out), oldest first; a team
    /// token sees those of its sessions.
    pub fn usages(&self, session: Option<&str>) -> Result<Vec<nocturne_store::Usage>> {
        self.need(AccessLevel::Read)?;
        match (session, &self.access.team) {
            (Some(s), Some(_)) => {
                self.visible_session(s)?;
                self.svc.usages(Some(s))
            }
            (session, None) => self.svc.usages(session),
            (None, Some(t)) => {
                Ok(self.svc.usages(None)?.into_iter().filter(|u| u.team.as_deref() == Some(t)).collect())
            }
        }
    }

    /// Re-embeds every memory with the configured embedder (org admin).
    pub fn reindex(&self) -> Result<crate::ReindexReport> {
        self.need(AccessLevel::Admin)?;
        self.need_org("reindexing")?;
        self.svc.reindex()
    }

    // --- orchestration runs (agents that delegate; see runs.rs) ---

    fn run_visible(&self, r: &AgentRun) -> bool {
        match &self.access.team {
            None => true,
            Some(t) => r.team.as_deref() == Some(t.as_str()),
        }
    }

    /// Not found rather than forbidden, like sessions.
    fn visible_run(&self, id: &str) -> Result<AgentRun> {
        match self.svc.store().agent_run(id)? {
            Some(r) if self.run_visible(&r) => Ok(r),
            _ => Err(ServiceError::NotFound { what: "run", id: id.to_string() }),
        }
    }

    /// The service's clock, as RFC 3339 UTC (tests pin it).
    pub fn now(&self) -> String {
        self.svc.now()
    }

    /// The runs this caller may see, newest first.
    pub fn agent_runs(&self, mut f: RunFilter) -> Result<Vec<AgentRun>> {
        self.need(AccessLevel::Read)?;
        if let Some(t) = &self.access.team {
            f.team = Some(t.clone());
        }
        Ok(self.svc.store().agent_runs(&f)?)
    }

    pub fn agent_run(&self, id: &str) -> Result<AgentRun> {
        self.need(AccessLevel::Read)?;
        self.visible_run(id)
    }

    /// A run's record with its tree of agents (from its journal).
    pub fn run_view(&self, id: &str) -> Result<crate::RunView> {
        self.need(AccessLevel::Read)?;
        let run = self.visible_run(id)?;
        let entries = self.svc.store().journal(id, 0)?;
        Ok(crate::RunView { run, journal_entries: entries.len(), tree: crate::runs::tree(&entries) })
    }

    /// A run's journal entries after `after` (0: all), in order.
    pub fn run_journal(&self, id: &str, after: u64) -> Result<Vec<JournalEntry>> {
        self.need(AccessLevel::Read)?;
        self.visible_run(id)?;
        Ok(self.svc.store().journal(id, after)?)
    }

    /// Asks a running run to stop: its agents stop at their next step and
    /// end `cancelled`. Asking twice keeps the first time; a run that has
    /// ended is a conflict.
    pub fn cancel_run(&self, id: &str) -> Result<AgentRun> {
        self.need(AccessLevel::Write)?;
        let mut r = self.visible_run(id)?;
        if r.state != "running" {
            return Err(ServiceError::Conflict(format!("run {id} has already ended ({})", r.state)));
        }
        if r.cancel_requested_at.is_none() {
            r.cancel_requested_at = Some(self.svc.now());
            self.svc.store().put_agent_run(&r)?;
        }
        self.visible_run(id)
    }

    /// Records a new run with the agents and model of this process's
    /// runtime and queues it for a worker; returns the run and its job.
    /// A team token's run is its team's.
    pub fn queue_run(&self, req: &crate::NewRun) -> Result<(AgentRun, crate::Job)> {
        self.need(AccessLevel::Write)?;
        let Some(host) = self.svc.run_host.clone() else {
            return Err(ServiceError::Invalid("this process has no agent runtime; runs cannot be queued here".into()));
        };
        let mut req = req.clone();
        if let Some(t) = &self.access.team {
            if req.team.as_deref().is_some_and(|x| x != t) {
                return Err(forbidden(format!("a token bound to team {t} cannot start a run for another team")));
            }
            req.team = Some(t.clone());
        }
        let run = host.create(self, &req)?;
        let job = self.svc.submit_run(&run, &self.access.author(), false)?;
        Ok((run, job))
    }

    /// Queues a recorded run for a worker: its start (`resume` false, once
    /// per run) or the resumption of a run whose process died.
    pub fn submit_run(&self, id: &str, resume: bool) -> Result<crate::Job> {
        self.need(AccessLevel::Write)?;
        let run = self.visible_run(id)?;
        self.svc.submit_run(&run, &self.access.author(), resume)
    }

    /// Writes a run's status record (the runtime, as the run's caller). A
    /// new run takes the caller's team; an existing one must be visible.
    pub fn put_agent_run(&self, run: &AgentRun) -> Result<()> {
        self.need(AccessLevel::Write)?;
        let mut run = run.clone();
        match self.svc.store().agent_run(&run.id)? {
            Some(old) if !self.run_visible(&old) => {
                return Err(ServiceError::NotFound { what: "run", id: run.id.clone() });
            }
            Some(old) => run.team = old.team,
            None => {
                if let Some(t) = &self.access.team {
                    if run.team.as_deref().is_some_and(|x| x != t) {
                        return Err(forbidden(format!(
                            "a token bound to team {t} cannot start a run for another team"
                        )));
                    }
                    run.team = Some(t.clone());
                }
            }
        }
        Ok(self.svc.store().put_agent_run(&run)?)
    }

    /// Appends entries to the journals of visible runs (all or none; a
    /// retried write of the same entries is safe).
    pub fn append_journal(&self, entries: &[JournalEntry]) -> Result<Vec<u64>> {
        self.need(AccessLevel::Write)?;
        let runs: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.run.as_str()).collect();
        for r in runs {
            self.visible_run(r)?;
        }
        Ok(self.svc.store().append_journal(entries)?)
    }

    /// Stores a new session (an agent's transcript as it starts); a
    /// team-bound token stores it in its team. Already stored: unchanged.
    pub fn add_session(&self, s: &nocturne_core::NewSession) -> Result<nocturne_store::Appended> {
        self.need(AccessLevel::Write)?;
        let mut s = s.clone();
        if let Some(t) = &self.access.team {
            if s.team.as_deref().is_some_and(|x| x != t) {
                return Err(forbidden(format!("a token bound to team {t} cannot write another team's sessions")));
            }
            s.team = Some(t.clone());
        }
        let rec = nocturne_store::SessionRecord { session: s, ingested_at: self.svc.now() };
        let mut out = self.svc.store().append_sessions(std::slice::from_ref(&rec))?;
        out.pop().ok_or_else(|| ServiceError::Store(nocturne_store::StoreError::Backend("no append result".into())))
    }

    /// Closes an open session of the caller's (it takes no more events).
    pub fn close_session(&self, id: &str) -> Result<()> {
        self.need(AccessLevel::Write)?;
        self.visible_session(id)?;
        Ok(self.svc.store().close_session(id, &self.svc.now())?)
    }

    /// Claims a run for `holder` for `lease_secs` seconds (renewed by
    /// claiming again): false while another live holder has it.
    pub fn claim_run(&self, id: &str, holder: &str, lease_secs: u64) -> Result<bool> {
        self.need(AccessLevel::Write)?;
        self.visible_run(id)?;
        let now = self.svc.now();
        let until = crate::schedule::plus_seconds(&now, lease_secs);
        Ok(self.svc.store().try_lock(&format!("run:{id}"), holder, &now, &until)?)
    }

    pub fn release_run(&self, id: &str, holder: &str) -> Result<()> {
        self.need(AccessLevel::Write)?;
        Ok(self.svc.store().unlock(&format!("run:{id}"), holder)?)
    }

    // --- scheduled dreams (org-wide) ---

    /// Scheduled dream runs, newest first.
    pub fn dream_runs(&self) -> Result<Vec<nocturne_store::DreamRun>> {
        self.need(AccessLevel::Read)?;
        self.need_org("scheduled dream runs")?;
        self.svc.runs()
    }

    /// What each schedule of `config` will do next.
    pub fn planned(&self, config: &crate::Config) -> Result<Vec<crate::Planned>> {
        self.need(AccessLevel::Read)?;
        self.need_org("scheduled dreams")?;
        self.svc.planned(config)
    }

    /// Runs every schedule of `config` that is due now.
    pub fn run_due(&self, config: &crate::Config) -> Result<Vec<nocturne_store::DreamRun>> {
        self.need(AccessLevel::Write)?;
        self.need_org("running scheduled dreams")?;
        self.svc.run_due(config)
    }
}
