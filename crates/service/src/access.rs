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
//! ([`in_context_scope`], named in messages by [`context_scopes_label`]).

use crate::{ContextBundle, ContextRequest, DreamSpec, MemoryEdit, MemoryFilter, NewMemory, OpSelection, Result};
use crate::{LogOutcome, MemoryHit, Service, ServiceError};
use nocturne_core::outcome::{GroupStats, Outcome};
use nocturne_core::{Event, Memory, Proposal, Revision, Scope, ScopeLevel, Session};
use nocturne_store::{HistoryEntry, SessionFilter, TokenRecord};
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
            _ => Err(ServiceError::Invalid(format!("invalid token scope {s:?}: use read, write or admin"))),
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
}

impl Access {
    /// Org-wide admin: the CLI, or a server started with `--insecure-local`.
    pub fn local() -> Self {
        Access { level: AccessLevel::Admin, team: None, token: None }
    }

    /// The author recorded on revisions made with this access.
    pub fn author(&self) -> String {
        match &self.token {
            Some(t) => format!("token:{t}"),
            None => "user:local".into(),
        }
    }
}

/// A newly created token: the secret is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize)]
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
    pub fn create_token(&self, level: AccessLevel, team: Option<&str>) -> Result<NewToken> {
        if let Some(t) = team {
            if t.trim().is_empty() || t.contains(':') {
                return Err(ServiceError::Invalid(format!("invalid team name {t:?}")));
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
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        Ok(self.store.tokens()?)
    }

    pub fn revoke_token(&self, id: &str) -> Result<()> {
        Ok(self.store.revoke_token(id, &self.now())?)
    }

    /// The access a bearer token grants, or `Unauthorized`.
    pub fn authenticate(&self, bearer: &str) -> Result<Access> {
        let rec = self.store.token_by_hash(&sha256_hex(bearer.trim()))?;
        match rec {
            Some(r) if r.revoked_at.is_none() => {
                Ok(Access { level: AccessLevel::parse(&r.scope)?, team: r.team, token: Some(r.id) })
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
        match &self.access.team {
            None => true,
            Some(t) => s.team.as_deref() == Some(t.as_str()),
        }
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

    /// A session with its parent and children; children of another team
    /// are not listed, and a parent of another team reads as not stored.
    pub fn session_view(&self, id: &str) -> Result<crate::SessionView> {
        self.need(AccessLevel::Read)?;
        self.visible_session(id)?;
        self.svc.session_view_where(id, &|s| self.session_visible(s))
    }

    /// The visible sessions as a tree (see [`Service::session_tree`]).
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
        match &self.access.team {
            None => true,
            Some(t) => p.team.as_deref() == Some(t.as_str()),
        }
    }

    pub fn dream(&self, spec: &DreamSpec, apply: bool) -> Result<(Proposal, Option<Revision>)> {
        self.need(AccessLevel::Write)?;
        let mut spec = spec.clone();
        if let Some(t) = &self.access.team {
            spec.team = Some(t.clone());
        }
        if apply && self.access.team.is_some() {
            return Err(forbidden("a team token proposes dreams; apply them op by op after review"));
        }
        self.svc.dream(&spec, apply, &self.access.author())
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
        // Visible to the team that suggested it.
        self.svc.propose_memory_for(&s, self.access.team.as_deref())
    }

    /// Enqueues a dream for a worker (`nocturne worker`, or the one in
    /// `serve`); a team token's dream reads only its team's sessions.
    pub fn submit_dream(&self, spec: &DreamSpec, apply: bool) -> Result<crate::Job> {
        self.need(AccessLevel::Write)?;
        let mut spec = spec.clone();
        if let Some(t) = &self.access.team {
            spec.team = Some(t.clone());
        }
        if apply && self.access.team.is_some() {
            return Err(forbidden("a team token proposes dreams; apply them op by op after review"));
        }
        let job = crate::DreamJob { spec, apply, author: self.access.author() };
        self.svc.submit_dream(&job, self.access.team.as_deref())
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

    pub fn set_taxonomy(&self, toml: &str, force: bool) -> Result<crate::TaxonomyChange> {
        self.need(AccessLevel::Admin)?;
        self.need_org("changing the outcome taxonomy")?;
        self.svc.set_taxonomy(toml, "request body", force)
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

    pub fn export_markdown(&self) -> Result<String> {
        self.need(AccessLevel::Read)?;
        if self.access.team.is_none() {
            return self.svc.export_markdown();
        }
        let mems = self.memories(&MemoryFilter::default())?;
        Ok(crate::export::render_markdown(&mems, self.svc.head()?, &self.svc.now()))
    }

    // --- tokens ---
    pub fn create_token(&self, level: AccessLevel, team: Option<&str>) -> Result<NewToken> {
        self.need(AccessLevel::Admin)?;
        self.need_org("creating tokens")?;
        self.svc.create_token(level, team)
    }
}
