//! Portable export: a versioned JSON document (memories and every revision,
//! outcomes, the session log with parent links) that imports back exactly,
//! and AGENTS.md / CLAUDE.md-style markdown.

use crate::memory::{redacted, secret_field, sort_for_display};
use crate::outcomes::{outcome_secret_field, redacted_outcome};
use crate::{Result, Service, ServiceError};
use nocturne_core::revision::replay;
use nocturne_core::{chain, Change, Memory, NewEvent, Revision, Session};
use nocturne_store::{Appended, SessionFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format` field of an export document.
pub const EXPORT_FORMAT: &str = "nocturne-export";
/// The schema version of an export document (see docs/export-format.md).
pub const EXPORT_VERSION: u32 = 4;

/// The JSON export document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportDoc {
    pub format: String,
    pub version: u32,
    pub exported_at: String,
    pub head_revision: u64,
    /// Every memory at the head, active and retired.
    pub memories: Vec<Memory>,
    /// Every revision, oldest first, with the exact before/after of each change.
    pub revisions: Vec<Revision>,
    /// Every outcome taxonomy version, oldest first (since version 2).
    #[serde(default)]
    pub taxonomies: Vec<TaxonomyVersion>,
    /// Every outcome, superseded ones included, in id order (since version 2).
    #[serde(default)]
    pub outcomes: Vec<nocturne_core::outcome::Outcome>,
    /// The session log: every session with its parent link and events,
    /// by id (since version 3; only when asked for, see
    /// [`Service::export_with_sessions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<ExportSession>,
    /// Usage events (memories handed out in context bundles), in id order,
    /// with the session log (since version 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<nocturne_store::Usage>,
}

/// One session of the log in an export: its header verbatim and its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportSession {
    #[serde(flatten)]
    pub header: Session,
    pub events: Vec<ExportEvent>,
}

/// One event of an exported session, with its chain hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportEvent {
    pub seq: u32,
    #[serde(flatten)]
    pub body: NewEvent,
    pub hash: String,
}

/// One stored taxonomy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaxonomyVersion {
    pub version: u32,
    pub toml: String,
    pub set_at: String,
}

/// What `import` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// `restored` (empty store: revisions copied verbatim) or `merged`
    /// (one new revision adding the memories the store lacks).
    pub mode: String,
    pub revisions: usize,
    pub memories_added: usize,
    pub memories_skipped: usize,
    pub outcomes_added: usize,
    /// Outcomes not imported because the store already had outcomes.
    pub outcomes_skipped: usize,
    /// Sessions stored from the document.
    pub sessions_added: usize,
    /// Sessions the store had with fewer events of the same chain: grown to the document's.
    pub sessions_extended: usize,
    /// Sessions the store already had exactly.
    pub sessions_skipped: usize,
    /// Sessions the store has with other events under the same id: left as stored.
    pub sessions_conflicting: Vec<String>,
    /// Usage events restored (only into a store that has none).
    pub usage_added: usize,
    /// Usage events not imported because the store already had some.
    pub usage_skipped: usize,
}

/// What merging the document's sessions did.
#[derive(Default)]
struct SessionMerge {
    added: usize,
    extended: usize,
    skipped: usize,
    conflicting: Vec<String>,
}

impl Service {
    /// The export document. Secrets are redacted on the way out (from
    /// memories, every revision's before/after and reason, and outcomes),
    /// so even a store written before secrets were refused exports none.
    pub(crate) fn export_json(&self) -> Result<ExportDoc> {
        let revisions: Vec<Revision> = self.store.revisions(1, u64::MAX)?.iter().map(redacted_revision).collect();
        Ok(ExportDoc {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            exported_at: self.now(),
            head_revision: revisions.last().map_or(0, |r| r.rev),
            memories: self.store.memories()?.iter().map(redacted).collect(),
            revisions,
            taxonomies: self
                .store
                .taxonomies()?
                .into_iter()
                .map(|(version, toml, set_at)| TaxonomyVersion { version, toml, set_at })
                .collect(),
            outcomes: self.store.outcomes(None)?.iter().map(redacted_outcome).collect(),
            sessions: Vec::new(),
            usage: Vec::new(),
        })
    }

    /// The export document with the whole session log (headers with their
    /// parent links, and events): a complete backup that imports back
    /// exactly. The log is exported verbatim, as stored — secrets in
    /// transcripts included (redacting would break its hash chains) — so
    /// this document is as private as the store itself.
    pub(crate) fn export_with_sessions(&self) -> Result<ExportDoc> {
        let mut doc = self.export_json()?;
        doc.sessions = self.export_sessions()?;
        doc.usage = self.store.usages(None)?;
        Ok(doc)
    }

    fn export_sessions(&self) -> Result<Vec<ExportSession>> {
        let mut list = self.store.sessions(&SessionFilter::default())?;
        list.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = Vec::with_capacity(list.len());
        // A few hundred sessions per round trip.
        for chunk in list.chunks(256) {
            let ids: Vec<String> = chunk.iter().map(|h| h.id.clone()).collect();
            for (header, events) in chunk.iter().zip(self.store.events_of(&ids)?) {
                let events =
                    events.into_iter().map(|e| ExportEvent { seq: e.seq, body: e.body, hash: e.hash }).collect();
                out.push(ExportSession { header: header.clone(), events });
            }
        }
        Ok(out)
    }

    /// Checks every session of a document against its own chain before
    /// anything is imported: an edited session refuses the document.
    fn check_sessions(doc: &ExportDoc, source: &str) -> Result<()> {
        for s in &doc.sessions {
            let id = &s.header.id;
            let hashes = chain::hashes(id, s.events.iter().map(|e| &e.body));
            for (i, (e, h)) in s.events.iter().zip(&hashes).enumerate() {
                if e.seq as usize != i || e.hash != hex::encode(h) {
                    return Err(ServiceError::Invalid(format!(
                        "{source}: session {id}: event {i} does not match its hash chain (the file was edited)"
                    )));
                }
            }
            let head = hashes.last().copied().unwrap_or_else(|| chain::genesis(id));
            if hex::encode(head) != s.header.head_hash || s.events.len() != s.header.event_count as usize {
                return Err(ServiceError::Invalid(format!(
                    "{source}: session {id}: its events do not end in its head hash (the file was edited or is incomplete)"
                )));
            }
        }
        Ok(())
    }

    /// Stores the document's sessions the store lacks verbatim; grows the
    /// ones it holds a prefix of (compare-and-append); leaves the others.
    fn import_sessions(&self, doc: &ExportDoc) -> Result<SessionMerge> {
        let mut m = SessionMerge::default();
        for s in &doc.sessions {
            let id = &s.header.id;
            let events: Vec<NewEvent> = s.events.iter().map(|e| e.body.clone()).collect();
            match self.store.session(id)? {
                None => match self.store.restore_session(&s.header, &events)? {
                    Appended::Added { .. } => m.added += 1,
                    Appended::Skipped => m.skipped += 1,
                },
                Some(st) if st.head_hash == s.header.head_hash && st.event_count == s.header.event_count => {
                    // The same events; a session the document has closed is closed here too.
                    if let (None, Some(at)) = (&st.closed_at, &s.header.closed_at) {
                        self.store.close_session(id, at)?;
                    }
                    m.skipped += 1
                }
                Some(st) => {
                    let k = st.event_count as usize;
                    let prefix = match k.checked_sub(1) {
                        None => hex::encode(chain::genesis(id)) == st.head_hash,
                        Some(last) => s.events.get(last).is_some_and(|e| e.hash == st.head_hash),
                    };
                    if prefix && events.len() > k && st.closed_at.is_none() {
                        self.store.append_events(id, st.event_count, events.get(k..).unwrap_or_default())?;
                        if let Some(at) = &s.header.closed_at {
                            self.store.close_session(id, at)?;
                        }
                        m.extended += 1;
                    } else {
                        m.conflicting.push(id.clone());
                    }
                }
            }
        }
        Ok(m)
    }

    /// Imports an export document. Into a store with no revisions the
    /// history is restored verbatim (export→import is the identity); into a
    /// store that has memory already, the document's active memories that
    /// the store lacks are added as one revision authored `import`.
    pub(crate) fn import_json(&self, bytes: &[u8], source: &str) -> Result<ImportSummary> {
        let doc: ExportDoc = serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::Invalid(format!("{source}: not a Nocturne export: {e}")))?;
        if doc.format != EXPORT_FORMAT {
            return Err(ServiceError::Invalid(format!(
                "{source}: format is {:?}, expected {EXPORT_FORMAT:?}",
                doc.format
            )));
        }
        if doc.version > EXPORT_VERSION {
            return Err(ServiceError::Invalid(format!(
                "{source}: export version {} is newer than this program reads ({EXPORT_VERSION})",
                doc.version
            )));
        }
        refuse_secrets_in(&doc, source)?;
        let replayed = replay(&doc.revisions);
        let listed: BTreeMap<String, Memory> = doc.memories.iter().map(|m| (m.id.clone(), m.clone())).collect();
        if replayed != listed {
            return Err(ServiceError::Invalid(format!(
                "{source}: the memories do not match the revisions (the file was edited or is incomplete)"
            )));
        }
        Self::check_sessions(&doc, source)?;
        let sm = self.import_sessions(&doc)?;
        let (outcomes_added, outcomes_skipped) = self.import_outcome_history(&doc)?;
        let (usage_added, usage_skipped) = self.import_usage(&doc)?;
        if self.store.head()? == 0 {
            self.store.restore(&doc.revisions)?;
            return Ok(ImportSummary {
                mode: "restored".into(),
                revisions: doc.revisions.len(),
                memories_added: doc.memories.len(),
                memories_skipped: 0,
                outcomes_added,
                outcomes_skipped,
                sessions_added: sm.added,
                sessions_extended: sm.extended,
                sessions_skipped: sm.skipped,
                sessions_conflicting: sm.conflicting,
                usage_added,
                usage_skipped,
            });
        }
        let mut changes = Vec::new();
        let mut skipped = 0;
        for m in doc.memories.iter().filter(|m| m.is_active()) {
            if self.store.memory(&m.id)?.is_some() {
                skipped += 1;
            } else {
                changes.push(Change { memory_id: m.id.clone(), before: None, after: Some(m.clone()) });
            }
        }
        let added = changes.len();
        if added > 0 {
            self.store.commit(nocturne_store::Commit {
                expect_rev: None,
                author: "import".into(),
                reason: format!("import from {source}"),
                created_at: self.now(),
                changes,
                applies_proposal: None,
            })?;
        }
        Ok(ImportSummary {
            mode: "merged".into(),
            revisions: usize::from(added > 0),
            memories_added: added,
            memories_skipped: skipped,
            outcomes_added,
            outcomes_skipped,
            sessions_added: sm.added,
            sessions_extended: sm.extended,
            sessions_skipped: sm.skipped,
            sessions_conflicting: sm.conflicting,
            usage_added,
            usage_skipped,
        })
    }

    /// Restores the document's usage events verbatim when the store has
    /// none; otherwise skips them (counts returned).
    fn import_usage(&self, doc: &ExportDoc) -> Result<(usize, usize)> {
        if doc.usage.is_empty() {
            return Ok((0, 0));
        }
        if !self.store.usages(None)?.is_empty() {
            return Ok((0, doc.usage.len()));
        }
        self.store.restore_usages(&doc.usage)?;
        Ok((doc.usage.len(), 0))
    }

    /// Restores the document's taxonomies and outcomes verbatim when the
    /// store has none; otherwise skips them (counts returned).
    fn import_outcome_history(&self, doc: &ExportDoc) -> Result<(usize, usize)> {
        if doc.outcomes.is_empty() && doc.taxonomies.is_empty() {
            return Ok((0, 0));
        }
        let has = !self.store.outcomes(None)?.is_empty() || self.store.taxonomy()?.is_some();
        if has {
            return Ok((0, doc.outcomes.len()));
        }
        let t: Vec<(u32, String, String)> =
            doc.taxonomies.iter().map(|t| (t.version, t.toml.clone(), t.set_at.clone())).collect();
        self.store.restore_outcomes(&t, &doc.outcomes)?;
        Ok((doc.outcomes.len(), 0))
    }

    /// Active memories as an AGENTS.md / CLAUDE.md-style file: grouped by
    /// kind (preferences, mistakes, procedures, facts, then others), highest
    /// priority first.
    pub(crate) fn export_markdown(&self) -> Result<String> {
        let mems: Vec<Memory> = self.store.memories()?.into_iter().filter(Memory::is_active).collect();
        // `render_markdown` redacts.
        Ok(render_markdown(&mems, self.store.head()?, &self.now()))
    }
}

fn redacted_revision(r: &Revision) -> Revision {
    let mut r = r.clone();
    r.reason = nocturne_core::secrets::redact_cow(&r.reason).into_owned();
    for c in &mut r.changes {
        c.before = c.before.as_ref().map(redacted);
        c.after = c.after.as_ref().map(redacted);
    }
    r
}

/// Refuses an import document that carries a secret where `memory add`
/// (or an outcome) would never store one, naming the file and the object.
fn refuse_secrets_in(doc: &ExportDoc, source: &str) -> Result<()> {
    let refuse = |what: String, field: &str| {
        Err(ServiceError::Invalid(format!(
            "{source}: {what} looks like it contains a secret in its {field}; memories never store credentials \
             (export redacts them: re-export, or remove it from the file)"
        )))
    };
    for m in &doc.memories {
        if let Some(field) = secret_field(m) {
            return refuse(format!("memory {}", m.id), field);
        }
    }
    for r in &doc.revisions {
        if nocturne_core::secrets::contains_secret(&r.reason) {
            return refuse(format!("revision {}", r.rev), "reason");
        }
        for c in &r.changes {
            for m in c.before.iter().chain(c.after.iter()) {
                if let Some(field) = secret_field(m) {
                    return refuse(format!("memory {} (revision {})", m.id, r.rev), field);
                }
            }
        }
    }
    for o in &doc.outcomes {
        if let Some(field) = outcome_secret_field(o) {
            return refuse(format!("outcome {} (session {})", o.id, o.session), field);
        }
    }
    Ok(())
}

/// Renders active memories as AGENTS.md-style markdown.
pub(crate) fn render_markdown(memories: &[Memory], head: u64, now: &str) -> String {
    let mut mems: Vec<Memory> = memories.iter().filter(|m| m.is_active()).map(redacted).collect();
    sort_for_display(&mut mems);
    let mut by_kind: BTreeMap<(u8, String), Vec<&Memory>> = BTreeMap::new();
    for m in &mems {
        by_kind.entry((m.kind.rank(), m.kind.as_str().to_string())).or_default().push(m);
    }
    let mut out = String::new();
    out.push_str("# Agent memory\n\n");
    out.push_str(&format!(
        "<!-- Exported by Nocturne from store revision {head} at {now}. {} active memories. -->\n\n",
        mems.len()
    ));
    out.push_str("Lessons and conventions learned from past sessions. Follow them unless the user says otherwise.\n");
    for ((_, kind), list) in by_kind {
        let title = match kind.as_str() {
            "preference" => "Preferences and constraints".to_string(),
            "mistake" => "Mistakes to avoid".to_string(),
            "procedure" => "Procedures".to_string(),
            "fact" => "Facts".to_string(),
            other => {
                let mut c = other.chars();
                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
            }
        };
        out.push_str(&format!("\n## {title}\n\n"));
        for m in list {
            let text = m.text.replace('\n', "\n  ");
            let mut meta = Vec::new();
            if m.scope.level != nocturne_core::ScopeLevel::Org {
                meta.push(m.scope.to_string());
            }
            if !m.tags.is_empty() {
                meta.push(m.tags.join(", "));
            }
            if meta.is_empty() {
                out.push_str(&format!("- {text}\n"));
            } else {
                out.push_str(&format!("- {text} _({})_\n", meta.join("; ")));
            }
        }
    }
    out
}
