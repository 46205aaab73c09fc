//! Dreams: read a snapshot of the session log and memory, run the engine,
//! store the proposal; apply chosen ops as one revision; reject.

use crate::{Result, Service, ServiceError};
use nocturne_core::outcome::effective;
use nocturne_core::proposal::plan_ops;
use nocturne_core::{Memory, Proposal, ProposalStatus, Revision};
use nocturne_dream::{DreamSpec, SessionData, SessionOutcome, Snapshot};
use nocturne_store::{AppliedProposal, Commit, SessionFilter};
use std::collections::{BTreeMap, BTreeSet};

type ModelPassParts = (Option<Box<dyn nocturne_dream::Pass>>, BTreeMap<String, serde_json::Value>, Option<String>);

#[cfg(not(feature = "model"))]
fn no_model_support() -> ServiceError {
    ServiceError::Model {
        code: crate::ErrorCode::ModelConfig,
        message: "this build of Nocturne has no model support (cargo feature `model`)".into(),
    }
}

/// Reads an instructions file's text (`source` names it in errors) and puts
/// `spec` over it: what the caller set wins, lists are joined.
pub fn with_instructions(spec: &DreamSpec, source: &str, text: &str) -> Result<DreamSpec> {
    let file = DreamSpec::from_toml(text).map_err(|e| ServiceError::spec_in_file(source, &e))?;
    Ok(spec.over(&file))
}

/// The session filter a spec selects (dates checked), without its limit.
pub(crate) fn spec_filter(spec: &DreamSpec) -> Result<SessionFilter> {
    Ok(SessionFilter {
        user: spec.user.clone(),
        agent: spec.agent.clone(),
        team: spec.team.clone(),
        since: spec.since.as_deref().map(crate::parse_date).transpose().map_err(|e| e.in_field("since"))?,
        until: spec.until.as_deref().map(crate::parse_date).transpose().map_err(|e| e.in_field("until"))?,
        ..SessionFilter::default()
    })
}

/// A memory an agent suggests (MCP `memory_propose`): it becomes a
/// one-op proposal for review, never a memory directly.
#[derive(Debug, Clone, Default)]
pub struct MemorySuggestion {
    pub kind: String,
    pub text: String,
    pub scope: Option<String>,
    pub rationale: Option<String>,
    /// The session the suggestion comes from (its evidence).
    pub session: Option<String>,
    /// Who suggests it (`agent:NAME`, `token:ID`...).
    pub by: String,
}

/// What a model dream would send, nothing sent ([`crate::Scoped::model_dry_run`]):
/// the endpoint and each request's exact body, with the engine's figures.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DryRunReport {
    pub endpoint: String,
    pub model: String,
    /// Each request's body as its first attempt would go on the wire.
    pub requests: Vec<serde_json::Value>,
    /// Bytes of all bodies.
    pub bytes: usize,
    /// The engine's estimate of the input tokens of all requests.
    pub estimated_input_tokens: usize,
    pub sessions: usize,
    /// Sessions left out by `max_input_tokens`.
    pub sessions_left_out: usize,
    /// Always false: a dry run sends nothing.
    pub sent: bool,
}

/// Ops to apply from a proposal.
#[derive(Debug, Clone, Default)]
pub struct OpSelection {
    pub only: Vec<u32>,
    pub skip: Vec<u32>,
}

impl Service {
    /// Runs a dream and stores its proposal (and applies it with `apply`).
    /// Sessions are only read; the proposal is the only thing written
    /// unless `apply` is set.
    pub(crate) fn dream(&self, spec: &DreamSpec, apply: bool, author: &str) -> Result<(Proposal, Option<Revision>)> {
        let _lock = self.dream_lock()?;
        self.dream_unlocked(spec, apply, author, false)
    }

    /// Like [`Service::dream`], with the model pass of the model given to
    /// [`Service::with_model`] added to the deterministic passes. A model
    /// that fails leaves the deterministic ops and a note saying what
    /// failed; the dream itself fails only when no model is configured or
    /// its configuration cannot work.
    /// Without the `model` feature it fails saying so.
    pub(crate) fn dream_with_model(
        &self,
        spec: &DreamSpec,
        apply: bool,
        author: &str,
    ) -> Result<(Proposal, Option<Revision>)> {
        let _lock = self.dream_lock()?;
        self.dream_unlocked(spec, apply, author, true)
    }

    /// One dream per store at a time, scheduled or not. The lease is this
    /// request's alone, renewed while the dream runs (a long model dream
    /// keeps it), and taken over at once when its process is gone.
    fn dream_lock(&self) -> Result<crate::lease::HeldLock> {
        self.acquire_lock(crate::schedule::DREAM_LOCK, crate::lease::LOCK_LEASE)?.ok_or_else(|| {
            ServiceError::Conflict("another dream is running on this store; try again when it ends".into())
        })
    }

    /// [`Service::dream`] for a caller that already holds the dream lock;
    /// `model` adds the model pass.
    pub(crate) fn dream_unlocked(
        &self,
        spec: &DreamSpec,
        apply: bool,
        author: &str,
        model: bool,
    ) -> Result<(Proposal, Option<Revision>)> {
        let id = crate::ids::new_id("d")?;
        let proposal = self.dream_as(spec, &id, spec.team.as_deref(), model)?;
        if apply && !proposal.ops.is_empty() {
            let rev = self.apply_dream(&id, &OpSelection::default(), author)?;
            let p = self.dream_proposal(&id)?;
            return Ok((p, Some(rev)));
        }
        Ok((proposal, None))
    }

    /// What a dream over `spec` reads, and the engine configuration.
    pub(crate) fn dream_snapshot(
        &self,
        spec: &DreamSpec,
    ) -> Result<(Snapshot, nocturne_dream::DreamConfig, SessionFilter)> {
        spec.check().map_err(|e| ServiceError::spec(&e))?;
        let config = spec.config(&self.now());
        let mut filter = spec_filter(spec)?;
        filter.limit = Some(spec.sessions.unwrap_or(100));
        let base_revision = self.store.head()?;
        let sessions = self.store.sessions(&filter)?;
        let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        let events = self.store.events_of(&ids)?;
        let data: Vec<SessionData> =
            sessions.into_iter().zip(events).map(|(session, events)| SessionData { session, events }).collect();
        // A dream over one team's sessions sees only that team's and the
        // org's memories (the rule of `access`): its proposal must not
        // reveal another team's. Retired memories come too, so the dream
        // does not re-create what someone retired from the same evidence.
        let memories: Vec<Memory> = self
            .store
            .memories()?
            .into_iter()
            .filter(|m| crate::access::memory_visible_to(spec.team.as_deref(), m))
            .collect();
        let active: Vec<Memory> = memories.iter().filter(|m| m.is_active()).cloned().collect();
        let (embedder, memory_vectors) = self.memory_vectors(&active)?;
        let (outcomes, usages, usage_at) = self.dream_outcomes(&data)?;
        let snapshot = Snapshot {
            base_revision,
            sessions: data,
            memories,
            outcomes,
            usages,
            usage_at,
            memory_vectors,
            embedder: Some(embedder),
        };
        Ok((snapshot, config, filter))
    }

    /// Runs a dream and stores its proposal under `id`, for `team`; `model`
    /// adds the model pass to the deterministic ones.
    pub(crate) fn dream_as(&self, spec: &DreamSpec, id: &str, team: Option<&str>, model: bool) -> Result<Proposal> {
        let started = std::time::Instant::now();
        let (snapshot, config, filter) = self.dream_snapshot(spec)?;
        let mut passes = nocturne_dream::default_passes();
        let (model_pass, extra, note) = if model { self.model_pass(&snapshot, &config)? } else { Default::default() };
        passes.extend(model_pass);
        let mut proposal = nocturne_dream::dream_with(&snapshot, &config, id, &passes)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        proposal.team = team.map(str::to_string);
        proposal.stats.extend(extra);
        if let Some(n) = note {
            let n = nocturne_core::secrets::redact(&n);
            proposal.notes = Some(match proposal.notes.take() {
                Some(x) => format!("{x}\n\n{n}"),
                None => n,
            });
        }
        proposal.stats.insert("elapsed_ms".into(), serde_json::json!(started.elapsed().as_millis() as u64));
        for (k, v) in [
            ("filter.team", &filter.team),
            ("filter.agent", &filter.agent),
            ("filter.user", &filter.user),
            ("filter.since", &filter.since),
            ("filter.until", &filter.until),
        ] {
            if let Some(v) = v {
                proposal.stats.insert(k.into(), serde_json::json!(v));
            }
        }
        self.store.insert_proposal(&proposal)?;
        Ok(proposal)
    }

    /// Whether model dreams can run: a model was given to
    /// [`Service::with_model`] (never without the `model` feature).
    pub fn has_model(&self) -> bool {
        #[cfg(feature = "model")]
        return self.model.is_some();
        #[cfg(not(feature = "model"))]
        false
    }

    /// The dry run of a model dream over `spec` with the model given to
    /// [`Service::with_model`]: what would be sent, nothing sent or stored.
    #[cfg(feature = "model")]
    pub(crate) fn model_dry_run(&self, spec: &DreamSpec) -> Result<DryRunReport> {
        let m = self.model.as_ref().ok_or_else(crate::model::not_configured)?;
        let dry = self.dream_dry_run(spec, &m.config)?;
        let bytes = dry.requests.iter().map(|r| r.body.len()).sum();
        let requests = dry
            .requests
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or_else(|_| String::from_utf8_lossy(&r.body).into()))
            .collect();
        Ok(DryRunReport {
            endpoint: dry.requests.first().map(|r| r.endpoint.clone()).unwrap_or_else(|| m.config.endpoint()),
            model: m.config.model.clone(),
            requests,
            bytes,
            estimated_input_tokens: dry.input_tokens,
            sessions: dry.sessions,
            sessions_left_out: dry.sessions_left_out,
            sent: false,
        })
    }

    #[cfg(not(feature = "model"))]
    pub(crate) fn model_dry_run(&self, _: &DreamSpec) -> Result<DryRunReport> {
        Err(no_model_support())
    }

    /// The model pass of a model dream, its stats and its note.
    #[cfg(feature = "model")]
    fn model_pass(&self, snapshot: &Snapshot, config: &nocturne_dream::DreamConfig) -> Result<ModelPassParts> {
        let m = self.model.as_ref().ok_or_else(crate::model::not_configured)?;
        let run = crate::model::run(m, snapshot, config)?;
        Ok((Some(Box::new(run.pass)), run.stats, run.note))
    }

    #[cfg(not(feature = "model"))]
    fn model_pass(&self, _: &Snapshot, _: &nocturne_dream::DreamConfig) -> Result<ModelPassParts> {
        Err(no_model_support())
    }

    /// For the sessions a dream reads: the outcome score of each (the
    /// taxonomy's primary dimension; the session-level outcome, else the
    /// mean over its tasks), the memories handed to it in context bundles,
    /// and when each was last handed to it.
    #[allow(clippy::type_complexity)]
    fn dream_outcomes(
        &self,
        data: &[SessionData],
    ) -> Result<(
        BTreeMap<String, SessionOutcome>,
        BTreeMap<String, Vec<String>>,
        BTreeMap<String, BTreeMap<String, String>>,
    )> {
        let tax = self.taxonomy()?;
        let mut outcomes = BTreeMap::new();
        let mut usages = BTreeMap::new();
        let mut usage_at: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let Some(primary) = tax.primary().cloned() else {
            return Ok((outcomes, usages, usage_at));
        };
        let ids: Vec<String> = data.iter().map(|d| d.session.id.clone()).collect();
        let mut by_session: BTreeMap<&str, Vec<nocturne_core::outcome::Outcome>> = BTreeMap::new();
        let all_outcomes = self.store.outcomes_of(&ids)?;
        for o in &all_outcomes {
            by_session.entry(o.session.as_str()).or_default().push(o.clone());
        }
        let mut used_by: BTreeMap<String, Vec<nocturne_store::Usage>> = BTreeMap::new();
        for u in self.store.usages_of(&ids)? {
            if let Some(s) = u.session.clone() {
                used_by.entry(s).or_default().push(u);
            }
        }
        for id in &ids {
            let all = by_session.remove(id.as_str()).unwrap_or_default();
            let eff: Vec<&nocturne_core::outcome::Outcome> =
                effective(&all).into_iter().filter(|o| o.dimension == primary.name).collect();
            let session_level = eff.iter().find(|o| o.task.is_none());
            let scored: Vec<(f64, String)> = match session_level {
                Some(o) => o.value.score(&primary).map(|s| (s, o.value.to_string())).into_iter().collect(),
                None => eff.iter().filter_map(|o| o.value.score(&primary).map(|s| (s, o.value.to_string()))).collect(),
            };
            if !scored.is_empty() {
                let score = scored.iter().map(|(s, _)| s).sum::<f64>() / scored.len() as f64;
                let label = scored.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join(", ");
                outcomes.insert(id.clone(), SessionOutcome { score, label });
            }
            let mut used: BTreeSet<String> = BTreeSet::new();
            for u in used_by.remove(id.as_str()).unwrap_or_default() {
                for m in u.memories {
                    let at = usage_at.entry(id.clone()).or_default().entry(m.clone()).or_default();
                    if u.at > *at {
                        at.clone_from(&u.at);
                    }
                    used.insert(m);
                }
            }
            if !used.is_empty() {
                usages.insert(id.clone(), used.into_iter().collect());
            }
        }
        Ok((outcomes, usages, usage_at))
    }

    /// Stores a suggested memory as a pending one-op proposal. Secrets are
    /// redacted; the memory store is not touched. On behalf of a caller
    /// bound to `team` (`None`: org-wide): the duplicate checks look only at
    /// the memories and proposals that caller may see (another team's
    /// memory with the same text is no answer), and the proposal is visible
    /// to that team.
    pub(crate) fn propose_memory(&self, s: &MemorySuggestion, team: Option<&str>) -> Result<Proposal> {
        use crate::access::{memory_visible_to, proposal_visible_to};
        use nocturne_core::secrets::redact;
        let kind =
            nocturne_core::MemoryKind::new(&s.kind).map_err(|e| ServiceError::invalid_field("kind", e.to_string()))?;
        let scope = match &s.scope {
            Some(x) => {
                nocturne_core::Scope::parse(x).map_err(|e| ServiceError::invalid_field("scope", e.to_string()))?
            }
            None => nocturne_core::Scope::org(),
        };
        let text = redact(s.text.trim());
        if text.is_empty() {
            return Err(ServiceError::invalid_field("text", "the suggested memory text is empty"));
        }
        let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        let wanted = norm(&text);
        if let Some(m) = self
            .store
            .memories()?
            .into_iter()
            .find(|m| m.is_active() && memory_visible_to(team, m) && norm(&m.text) == wanted)
        {
            return Err(ServiceError::Conflict(format!("memory {} already says this", m.id)));
        }
        if let Some(p) = self.store.proposals()?.into_iter().find(|p| {
            p.status == ProposalStatus::Pending
                && proposal_visible_to(team, p)
                && p.ops.iter().any(|o| o.op == nocturne_core::OpKind::Create && norm(&o.text) == wanted)
        }) {
            return Err(ServiceError::Conflict(format!("pending proposal {} already suggests this", p.id)));
        }
        let evidence = match &s.session {
            Some(id) => {
                let (sess, _) = self.session(id)?;
                vec![nocturne_core::Evidence { session: sess.id, events: Vec::new(), quote: text.clone() }]
            }
            None => Vec::new(),
        };
        let now = self.now();
        let id = crate::ids::new_id("p")?;
        let by = redact(&s.by);
        let rationale = match &s.rationale {
            Some(r) => format!("suggested by {by}: {}", redact(r)),
            None => format!("suggested by {by}"),
        };
        let op = nocturne_core::Op {
            n: 1,
            op: nocturne_core::OpKind::Create,
            kind,
            text,
            targets: Vec::new(),
            scope,
            support: u32::from(!evidence.is_empty()),
            users: 1,
            evidence,
            confidence: 0.5,
            rationale,
            pass: "suggestion".into(),
            tags: Vec::new(),
        };
        let mut stats = BTreeMap::new();
        stats.insert("source".to_string(), serde_json::json!("memory_propose"));
        stats.insert("suggested_by".to_string(), serde_json::json!(by));
        let p = Proposal {
            id,
            base_revision: self.store.head()?,
            created_at: now,
            status: ProposalStatus::Pending,
            sessions: s.session.iter().cloned().collect(),
            ops: vec![op],
            stats,
            applied_revision: None,
            applied_ops: Vec::new(),
            notes: None,
            team: team.map(str::to_string),
        };
        self.store.insert_proposal(&p)?;
        Ok(p)
    }

    pub(crate) fn dream_proposals(&self) -> Result<Vec<Proposal>> {
        Ok(self.store.proposals()?)
    }

    pub(crate) fn dream_proposal(&self, id: &str) -> Result<Proposal> {
        self.store.proposal(id)?.ok_or_else(|| ServiceError::NotFound { what: "dream", id: id.to_string() })
    }

    pub(crate) fn reject_dream(&self, id: &str) -> Result<Proposal> {
        let p = self.dream_proposal(id)?;
        if p.status != ProposalStatus::Pending {
            return Err(ServiceError::Conflict(format!("dream {id} is already {}", p.status.as_str())));
        }
        self.store.set_proposal_status(id, ProposalStatus::Rejected)?;
        self.dream_proposal(id)
    }

    /// Applies the chosen ops of a pending proposal as one revision authored
    /// by the dream. Refused, naming the conflicts, when a memory an op
    /// targets changed since the dream read the store.
    pub(crate) fn apply_dream(&self, id: &str, sel: &OpSelection, applied_by: &str) -> Result<Revision> {
        let p = self.dream_proposal(id)?;
        if p.status != ProposalStatus::Pending {
            return Err(ServiceError::Conflict(format!("dream {id} is already {}", p.status.as_str())));
        }
        let known: BTreeSet<u32> = p.ops.iter().map(|o| o.n).collect();
        for (field, n) in sel.only.iter().map(|n| ("only", n)).chain(sel.skip.iter().map(|n| ("skip", n))) {
            if !known.contains(n) {
                return Err(ServiceError::invalid_field(
                    field,
                    format!("dream {id} has no op {n} (ops are numbered 1 to {})", p.ops.len()),
                ));
            }
        }
        let chosen: Vec<&nocturne_core::Op> = p
            .ops
            .iter()
            .filter(|o| sel.only.is_empty() || sel.only.contains(&o.n))
            .filter(|o| !sel.skip.contains(&o.n))
            .collect();
        if chosen.is_empty() {
            let field = if sel.only.is_empty() { "skip" } else { "only" };
            return Err(ServiceError::invalid_field(field, format!("no op of dream {id} is selected")));
        }
        let head = self.store.head()?;
        if head != p.base_revision {
            let mut conflicts = Vec::new();
            for op in &chosen {
                for t in &op.targets {
                    if let Some(last) = self.store.history(t)?.last() {
                        if last.rev > p.base_revision {
                            conflicts.push(format!(
                                "op {} targets memory {t}, changed at revision {} by {} after the dream read revision {}",
                                op.n, last.rev, last.author, p.base_revision
                            ));
                        }
                    }
                }
            }
            if !conflicts.is_empty() {
                return Err(ServiceError::Conflict(format!(
                    "dream {id} conflicts with changes made since it ran:\n  {}",
                    conflicts.join("\n  ")
                )));
            }
        }
        let current: BTreeMap<String, Memory> = self.store.memories()?.into_iter().map(|m| (m.id.clone(), m)).collect();
        let now = self.now();
        let mut changes = plan_ops(&chosen, &current, &now, id).map_err(|cs| {
            ServiceError::Conflict(format!(
                "dream {id} cannot be applied:\n  {}",
                cs.iter().map(|c| format!("op {}: {}", c.n, c.reason)).collect::<Vec<_>>().join("\n  ")
            ))
        })?;
        // Dreams redact what they write; a proposal stored by an older
        // version (or planted in the store) is redacted here.
        for c in &mut changes {
            c.after = c.after.as_ref().map(crate::memory::redacted);
        }
        let ops: Vec<String> = chosen.iter().map(|o| o.n.to_string()).collect();
        let reason = if chosen.len() == p.ops.len() {
            format!("apply dream {id} (all {} ops), by {applied_by}", ops.len())
        } else {
            format!("apply dream {id} (ops {}), by {applied_by}", ops.join(","))
        };
        // The proposal is marked applied, with the ops applied, in the
        // revision's own transaction.
        let applied: Vec<u32> = chosen.iter().map(|o| o.n).collect();
        let rev = self.store.commit(Commit {
            expect_rev: Some(head),
            author: nocturne_core::Author::dream(id).0,
            reason,
            created_at: now,
            changes,
            applies_proposal: Some(AppliedProposal { id: id.to_string(), ops: applied }),
        })?;
        Ok(rev)
    }
}
