//! Retrieval: hybrid search over memories and over the session log, the
//! token-budgeted context bundle an agent starts with (recorded as a usage
//! event), and reindexing.
//!
//! Memory vectors are cached in the store, tagged with the embedder id and
//! dimension and a digest of the embedded text; a changed memory is
//! re-embedded on the next search, and vectors from another embedder are
//! refused until `reindex`. Session-log search builds its index from the
//! events it reads, so it is always consistent with the log.

use crate::{Result, Service, ServiceError};
use nocturne_core::{secrets, EventKind, Here, Memory, Project, ProjectTag, Scope};
use nocturne_search::{
    pack_bundle, render_bundle_markdown, Bundle, Candidate, Doc, Embedder, EmbedderInfo, HybridIndex, IndexConfig,
    ScoreParts,
};
use nocturne_store::{SessionFilter, StoredVector, Usage};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

const MEMORY: &str = "memory";

/// How many in-scope memories a context bundle considers for their
/// priority alone, besides the search hits.
const PRIORITY_CANDIDATES: usize = 24;

/// How many search hits a context bundle considers (a bundle holds a few
/// dozen memories at most).
const HIT_CANDIDATES: usize = 40;

/// Standing rules (preferences and mistakes) a bundle carries whether or
/// not they match the task words: they are about how the agent works, not
/// what the task is about (see docs/retrieval.md).
const STANDING_RULES: usize = 5;

/// Cosine with the task at which a hit matches it by meaning alone.
const VECTOR_MATCH: f32 = 0.3;

/// Picks an embedder from a spec: `hashing` (default), `model2vec:DIR`
/// (feature `model2vec`), `openai:BASE_URL#MODEL#DIM` (feature `http`; the
/// API key, if any, from `NOCTURNE_EMBEDDINGS_KEY` is passed by the caller).
pub fn embedder_from_spec(spec: &str, api_key: Option<&str>) -> Result<Arc<dyn Embedder>> {
    let _ = api_key;
    if spec == "hashing" || spec.is_empty() {
        return Ok(Arc::new(nocturne_search::HashingEmbedder::new()));
    }
    if let Some(dir) = spec.strip_prefix("model2vec:") {
        #[cfg(feature = "model2vec")]
        {
            let e = nocturne_search::Model2VecEmbedder::from_dir(std::path::Path::new(dir))
                .map_err(|e| ServiceError::invalid_field("embedder", format!("embedder {spec}: {e}")))?;
            return Ok(Arc::new(e));
        }
        #[cfg(not(feature = "model2vec"))]
        return Err(ServiceError::invalid_field(
            "embedder",
            format!(
                "embedder model2vec:{dir} needs a build with the `model2vec` feature (the cargo feature `model2vec`)"
            ),
        ));
    }
    if let Some(rest) = spec.strip_prefix("openai:") {
        #[cfg(feature = "http")]
        {
            let mut parts = rest.split('#');
            let (Some(url), Some(model), Some(dim)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ServiceError::invalid_field(
                    "embedder",
                    format!("embedder {spec}: expected openai:BASE_URL#MODEL#DIM"),
                ));
            };
            let dim: usize = dim.parse().map_err(|_| {
                ServiceError::invalid_field("embedder", format!("embedder {spec}: {dim:?} is not a dimension"))
            })?;
            let e = nocturne_search::HttpEmbedder::new(url, model, api_key, dim)
                .map_err(|e| ServiceError::invalid_field("embedder", format!("embedder {spec}: {e}")))?;
            return Ok(Arc::new(e));
        }
        #[cfg(not(feature = "http"))]
        return Err(ServiceError::invalid_field(
            "embedder",
            format!("embedder openai:{rest} needs a build with the `http` feature (the cargo feature `http`)"),
        ));
    }
    Err(ServiceError::invalid_field(
        "embedder",
        format!("unknown embedder {spec:?}: use hashing, model2vec:DIR or openai:BASE_URL#MODEL#DIM"),
    ))
}

/// The in-memory index over active memories at one head revision.
pub(crate) struct MemoryIndexCache {
    head: u64,
    embedder: String,
    index: Arc<HybridIndex>,
    memories: Arc<BTreeMap<String, Memory>>,
    /// Ids by priority (highest first; then supporting sessions, kind rank,
    /// id break ties).
    by_priority: Arc<Vec<String>>,
    /// The preferences and mistakes among them, in the same order (the
    /// standing rules a context bundle draws from).
    standing: Arc<Vec<String>>,
    /// The projects the memories are of, by key.
    projects: Arc<BTreeMap<String, Project>>,
}

/// A memory's index document and its vector.
type Embedded = (Doc, Vec<f32>);

/// A memory search hit.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemoryHit {
    pub id: String,
    pub kind: String,
    pub scope: String,
    pub priority: i32,
    pub text: String,
    pub score: f32,
    pub parts: ScoreParts,
}

/// A session-log search hit: the event as it was in the source.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventHit {
    pub session: String,
    /// Event sequence number within the session.
    pub event: u32,
    pub kind: String,
    /// The event's text (or tool input for a tool call).
    pub text: String,
    /// The source JSON the event was read from.
    pub raw: String,
    pub score: f32,
    pub parts: ScoreParts,
}

/// What an agent starts a task with.
#[derive(Debug, Clone, Default)]
pub struct ContextRequest {
    pub task: String,
    pub budget: usize,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub team: Option<String>,
    pub session: Option<String>,
    /// Where the caller works: an absolute directory or a project id
    /// `NAME#KEY` (see `nocturne_core::project`). Given, the bundle holds
    /// that project's memories and those of no project, never another
    /// project's; `None` reads every project (each project memory says
    /// which it is).
    pub project: Option<String>,
}

/// The bundle and the usage event that records it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ContextBundle {
    pub usage_id: u64,
    pub bundle: Bundle,
    /// The bundle as markdown; when it is empty, the message below.
    pub markdown: String,
    /// Why the bundle is empty although the store holds memories (none in
    /// the scopes asked for, none of this project, or none relevant to the
    /// task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The project the bundle is for (`NAME#KEY`), when the request named
    /// one: for a directory, the deepest of it and its ancestors that
    /// memories are of, else its own. Memories of other projects were left
    /// out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// What `reindex` did.
#[derive(Debug, Clone, Serialize)]
pub struct ReindexReport {
    pub embedder: String,
    pub dim: usize,
    pub memories: usize,
}

fn digest(doc: &Doc) -> String {
    let mut h = Sha256::new();
    h.update(doc.text.as_bytes());
    hex::encode(&h.finalize()[..12])
}

fn search_err(e: nocturne_search::SearchError) -> ServiceError {
    match e {
        nocturne_search::SearchError::EmbedderMismatch { .. } => {
            ServiceError::Conflict(format!("{e}; run `nocturne reindex` to re-embed with the configured embedder"))
        }
        other => ServiceError::Invalid(other.to_string()),
    }
}

fn now_dt(now: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(now, &time::format_description::well_known::Rfc3339)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Distinct sessions a memory's evidence cites (its support as stored).
fn support(m: &Memory) -> usize {
    let s: std::collections::BTreeSet<&str> =
        m.evidence.iter().map(|e| e.session.as_str()).filter(|s| !s.starts_with("memory:")).collect();
    s.len()
}

/// Whether a search hit matches the task (see docs/retrieval.md): it shares
/// an index term with it (a BM25 score; stop words are not terms) or its
/// vector is at least [`VECTOR_MATCH`] close to the task's.
fn matches_task(parts: &ScoreParts) -> bool {
    parts.bm25.is_some_and(|b| b > 0.0) || parts.vector.is_some_and(|v| v >= VECTOR_MATCH)
}

impl Service {
    fn embedder(&self) -> &dyn Embedder {
        &*self.embedder
    }

    /// Each memory's document and vector: cached vectors where the text is
    /// unchanged, the rest embedded (and cached). Vectors cached by another
    /// embedder are refused.
    fn embedded(&self, memories: &[Memory]) -> Result<(EmbedderInfo, Vec<Embedded>)> {
        let info = EmbedderInfo::of(self.embedder());
        let cached: BTreeMap<String, StoredVector> =
            self.store.vectors(MEMORY)?.into_iter().map(|v| (v.id.clone(), v)).collect();
        if let Some(other) = cached.values().find(|v| v.embedder != info.id || v.dim as usize != info.dim) {
            return Err(ServiceError::Conflict(format!(
                "stored memory vectors were made by {} ({} dimensions) but the configured embedder is {} ({} dimensions); \
                 run `nocturne reindex` to re-embed",
                other.embedder, other.dim, info.id, info.dim
            )));
        }
        let mut out = Vec::with_capacity(memories.len());
        let mut missing: Vec<(Doc, String)> = Vec::new();
        for m in memories {
            let doc = Doc::from_memory(m);
            let d = digest(&doc);
            match cached.get(&m.id) {
                Some(v) if v.digest == d => out.push((doc, v.vector.clone())),
                _ => missing.push((doc, d)),
            }
        }
        if !missing.is_empty() {
            let texts: Vec<&str> = missing.iter().map(|(d, _)| d.text.as_str()).collect();
            let vecs = self.embedder().embed(&texts).map_err(search_err)?;
            let mut fresh = Vec::with_capacity(missing.len());
            for ((doc, d), v) in missing.into_iter().zip(vecs) {
                fresh.push(StoredVector {
                    id: doc.id.clone(),
                    embedder: info.id.clone(),
                    dim: info.dim as u32,
                    digest: d,
                    vector: v.clone(),
                });
                out.push((doc, v));
            }
            self.store.put_vectors(MEMORY, &fresh)?;
        }
        Ok((info, out))
    }

    /// Builds the hybrid index over `memories` (vectors as [`Service::embedded`]).
    fn memory_index(&self, memories: &[Memory]) -> Result<HybridIndex> {
        let (info, docs) = self.embedded(memories)?;
        let mut index = HybridIndex::new(info.clone(), IndexConfig::default());
        for (doc, v) in docs {
            index.upsert(doc, &info, v).map_err(search_err)?;
        }
        Ok(index)
    }

    /// The configured embedder's id and each memory's vector by id (cached
    /// in the store like the search index's): what a dream hands the
    /// duplicates pass, so the engine itself embeds nothing.
    pub(crate) fn memory_vectors(&self, memories: &[Memory]) -> Result<(String, BTreeMap<String, Vec<f32>>)> {
        let (info, docs) = self.embedded(memories)?;
        Ok((info.id, docs.into_iter().map(|(d, v)| (d.id, v)).collect()))
    }

    /// The index over every active memory, rebuilt only when the store's
    /// head revision (or the embedder) changed since it was built.
    #[allow(clippy::type_complexity)]
    fn cached_memory_index(&self) -> Result<(Arc<HybridIndex>, Arc<BTreeMap<String, Memory>>)> {
        let head = self.store.head()?;
        let embedder = self.embedder().id();
        if let Ok(guard) = self.memory_cache.lock() {
            if let Some(c) = guard.as_ref() {
                if c.head == head && c.embedder == embedder {
                    return Ok((c.index.clone(), c.memories.clone()));
                }
            }
        }
        let memories: Vec<Memory> = self.store.memories()?.into_iter().filter(Memory::is_active).collect();
        let index = Arc::new(self.memory_index(&memories)?);
        let mut order: Vec<&Memory> = memories.iter().collect();
        order.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(support(b).cmp(&support(a)))
                .then(a.kind.rank().cmp(&b.kind.rank()))
                .then(a.id.cmp(&b.id))
        });
        let standing = Arc::new(order.iter().filter(|m| m.kind.rank() <= 1).map(|m| m.id.clone()).collect());
        let by_priority = Arc::new(order.into_iter().map(|m| m.id.clone()).collect());
        let projects = Arc::new(
            memories
                .iter()
                .filter_map(|m| match ProjectTag::of_tags(&m.tags) {
                    Some(ProjectTag::Keyed(p)) => Some((p.key.clone(), p)),
                    _ => None,
                })
                .collect(),
        );
        let by_id: Arc<BTreeMap<String, Memory>> = Arc::new(memories.into_iter().map(|m| (m.id.clone(), m)).collect());
        if let Ok(mut guard) = self.memory_cache.lock() {
            *guard = Some(MemoryIndexCache {
                head,
                embedder,
                index: index.clone(),
                memories: by_id.clone(),
                by_priority,
                standing,
                projects,
            });
        }
        Ok((index, by_id))
    }

    /// Active memories, highest priority first (supporting sessions, kind
    /// rank, then id, break ties), from the cache built with the index;
    /// with `rules_only`, the preferences and mistakes among them.
    fn by_priority(&self, rules_only: bool) -> Arc<Vec<String>> {
        match self.memory_cache.lock() {
            Ok(g) => g
                .as_ref()
                .map(|c| if rules_only { c.standing.clone() } else { c.by_priority.clone() })
                .unwrap_or_default(),
            Err(_) => Arc::default(),
        }
    }

    /// The project a caller in `here` is in as memory knows it: the
    /// deepest of its directory and the directory's ancestors that memories
    /// are of (an agent in `shop/web` is in `shop`), else its directory's own.
    fn project_of_caller(&self, here: &Here) -> Project {
        match here {
            Here::Id(p) => p.clone(),
            Here::Dir { project, keys, .. } => {
                let known = match self.memory_cache.lock() {
                    Ok(g) => g.as_ref().map(|c| c.projects.clone()).unwrap_or_default(),
                    Err(_) => Arc::default(),
                };
                keys.iter().find_map(|k| known.get(k)).unwrap_or(project).clone()
            }
        }
    }

    /// Hybrid search over active memories.
    pub(crate) fn memory_search(
        &self,
        query: &str,
        k: usize,
        kind: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Vec<MemoryHit>> {
        let scope = scope
            .map(|s| Scope::parse(s).map_err(|e| ServiceError::invalid_field("scope", e.to_string())))
            .transpose()?;
        let (index, by_id) = if kind.is_none() && scope.is_none() {
            // The common path: the cached index over every active memory.
            self.cached_memory_index()?
        } else {
            let memories: Vec<Memory> = self
                .store
                .memories()?
                .into_iter()
                .filter(|m| m.is_active())
                .filter(|m| kind.is_none_or(|k| m.kind.as_str() == k))
                .filter(|m| scope.as_ref().is_none_or(|s| &m.scope == s))
                .collect();
            let index = self.memory_index(&memories)?;
            (Arc::new(index), Arc::new(memories.into_iter().map(|m| (m.id.clone(), m)).collect()))
        };
        let hits = index.search_with(self.embedder(), query, k, now_dt(&self.now())).map_err(search_err)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let m = by_id.get(h.id.as_str())?;
                Some(MemoryHit {
                    id: h.id,
                    kind: m.kind.to_string(),
                    scope: m.scope.to_string(),
                    priority: m.priority,
                    text: secrets::redact(&m.text),
                    score: h.score,
                    parts: h.parts,
                })
            })
            .collect())
    }

    /// Hybrid search over session events (the log as recall memory).
    pub(crate) fn sessions_search(&self, query: &str, k: usize, session: Option<&str>) -> Result<Vec<EventHit>> {
        let ids: Vec<String> = match session {
            Some(s) => {
                if self.store.session(s)?.is_none() {
                    return Err(ServiceError::NotFound { what: "session", id: s.to_string() });
                }
                vec![s.to_string()]
            }
            None => self.store.sessions(&SessionFilter::default())?.into_iter().map(|s| s.id).collect(),
        };
        self.sessions_search_in(query, k, &ids)
    }

    /// Hybrid search over the events of the given sessions.
    pub(crate) fn sessions_search_in(&self, query: &str, k: usize, ids: &[String]) -> Result<Vec<EventHit>> {
        // Events are indexed in their session's order, each read together
        // with its neighbours (see IndexConfig::sessions), as a person reads
        // a transcript: the answer often sits next to the words asked about.
        let mut events = BTreeMap::new();
        let mut seqs: Vec<Vec<Doc>> = Vec::with_capacity(ids.len());
        for sid in ids {
            let mut docs = Vec::new();
            for e in self.store.events(sid)? {
                let b = &e.body;
                let text = match b.kind {
                    EventKind::ToolCall => {
                        format!("{} {}", b.tool_name.as_deref().unwrap_or(""), b.tool_input.as_deref().unwrap_or(""))
                    }
                    _ => b.text.clone().unwrap_or_default(),
                };
                if text.trim().is_empty() {
                    continue;
                }
                let key = format!("{sid}#{}", e.seq);
                docs.push(Doc { id: key.clone(), text: text.clone(), priority: 0, updated_at: None, kind_rank: 0 });
                events.insert(key, (e, text));
            }
            seqs.push(docs);
        }
        let index = HybridIndex::build_sequences(self.embedder(), IndexConfig::sessions(), seqs).map_err(search_err)?;
        let hits = index.search_with(self.embedder(), query, k, now_dt(&self.now())).map_err(search_err)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let (e, text) = events.get(&h.id)?;
                Some(EventHit {
                    session: e.session.clone(),
                    event: e.seq,
                    kind: e.body.kind.as_str().to_string(),
                    // The log keeps what the agent saw; a hit handed out is redacted.
                    text: secrets::redact(text),
                    raw: secrets::redact(&e.body.raw),
                    score: h.score,
                    parts: h.parts,
                })
            })
            .collect())
    }

    /// The memories that matter for a task, within a token budget (the
    /// rules are in docs/retrieval.md): the memories in scope that match the
    /// task, by relevance, and up to five standing rules (preferences and
    /// mistakes, highest priority and support first); with no task words,
    /// the highest-priority memories. A request naming no agent, user or
    /// team reads every scope the caller may see; one naming a project
    /// leaves out the memories of other projects. Recorded as a usage event
    /// so outcomes can be attributed to the memories handed out.
    pub(crate) fn context(&self, req: &ContextRequest) -> Result<ContextBundle> {
        if req.budget == 0 {
            return Err(ServiceError::invalid_field("budget", "the token budget must be at least 1"));
        }
        let here = req
            .project
            .as_deref()
            .map(|p| Here::parse(p).map_err(|e| ServiceError::invalid_field("project", e.to_string())))
            .transpose()?;
        let (index, all) = self.cached_memory_index()?;
        let project = here.as_ref().map(|h| self.project_of_caller(h).to_string());
        let scoped = |m: &Memory| {
            crate::access::in_context_scope(&m.scope, req) && crate::access::in_context_project(m, here.as_ref())
        };
        let hits: Vec<nocturne_search::Hit> = if req.task.trim().is_empty() {
            Vec::new()
        } else {
            index
                .search_with(self.embedder(), &req.task, index.config().fusion_depth, now_dt(&self.now()))
                .map_err(search_err)?
                .into_iter()
                .filter(|h| all.get(&h.id).is_some_and(scoped))
                .collect()
        };
        let matched: Vec<&nocturne_search::Hit> =
            hits.iter().filter(|h| matches_task(&h.parts)).take(HIT_CANDIDATES).collect();
        let top = matched.first().map_or(1.0, |h| h.score.max(f32::EPSILON));
        // Candidates: the hits that match the task, by relevance, then the
        // standing rules in scope (relevance 0: below any match). With no
        // task words, the highest-priority memories in scope. Bounded, so
        // the cost follows the bundle, not the store.
        let mut candidates: Vec<Candidate> = Vec::with_capacity(matched.len() + PRIORITY_CANDIDATES);
        let mut seen = std::collections::HashSet::new();
        for h in &matched {
            if let Some(m) = all.get(&h.id) {
                seen.insert(m.id.as_str());
                candidates.push(Candidate::from_memory(m, h.score / top));
            }
        }
        let no_task = req.task.trim().is_empty();
        let order = self.by_priority(!no_task);
        let in_order = order.iter().filter_map(|id| all.get(id)).filter(|m| scoped(m) && !seen.contains(m.id.as_str()));
        let extra = if no_task { PRIORITY_CANDIDATES } else { STANDING_RULES };
        candidates.extend(in_order.take(extra).map(|m| Candidate::from_memory(m, 0.0)));
        // Memories are refused with secrets; older ones are redacted here.
        for c in &mut candidates {
            if let std::borrow::Cow::Owned(t) = secrets::redact_cow(&c.text) {
                c.text = t;
            }
        }
        let bundle = pack_bundle(&candidates, req.budget);
        let mut markdown = render_bundle_markdown(&bundle);
        let mut message = None;
        if bundle.items.is_empty() && !all.is_empty() {
            let in_scope = all.values().filter(|m| scoped(m)).count();
            let elsewhere = match &here {
                Some(h) => all
                    .values()
                    .filter(|m| {
                        crate::access::in_context_scope(&m.scope, req) && !crate::access::in_context_project(m, Some(h))
                    })
                    .count(),
                None => 0,
            };
            let text = if in_scope == 0 && elsewhere > 0 {
                format!(
                    "No memory for project {} ({}): the {elsewhere} memories in scope belong to other projects.",
                    project.as_deref().unwrap_or_default(),
                    crate::access::context_scopes_label(req),
                )
            } else if in_scope == 0 {
                format!(
                    "No memory in the scopes asked for ({}): the store holds {} active memories in other scopes.",
                    crate::access::context_scopes_label(req),
                    all.len()
                )
            } else if candidates.is_empty() {
                format!(
                    "No memory matches this task: {in_scope} of the store's {} active memories are in scope ({}), none relevant to it.",
                    all.len(),
                    crate::access::context_scopes_label(req)
                )
            } else {
                format!("No memory fits a budget of {} tokens ({} candidates).", req.budget, candidates.len())
            };
            markdown = format!("{text}\n");
            message = Some(text);
        }
        let usage = Usage {
            id: 0,
            at: self.now(),
            session: req.session.clone(),
            task: None,
            agent: req.agent.clone(),
            user: req.user.clone(),
            team: req.team.clone(),
            query: secrets::redact(&req.task),
            memories: bundle.items.iter().map(|i| i.id.clone()).collect(),
        };
        let usage_id = self.store.append_usage(&usage)?;
        Ok(ContextBundle { usage_id, bundle, markdown, message, project })
    }

    /// Usage events (context bundles handed out), oldest first.
    pub(crate) fn usages(&self, session: Option<&str>) -> Result<Vec<Usage>> {
        Ok(self.store.usages(session)?)
    }

    /// Drops cached vectors and re-embeds every active memory with the
    /// configured embedder.
    pub(crate) fn reindex(&self) -> Result<ReindexReport> {
        self.store.clear_vectors(MEMORY)?;
        if let Ok(mut guard) = self.memory_cache.lock() {
            *guard = None;
        }
        let memories: Vec<Memory> = self.store.memories()?.into_iter().filter(Memory::is_active).collect();
        let index = self.memory_index(&memories)?;
        let info = EmbedderInfo::of(self.embedder());
        Ok(ReindexReport { embedder: info.id, dim: info.dim, memories: index.len() })
    }
}
