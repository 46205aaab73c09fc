//! Portable export: a versioned JSON document (memories and every revision,
//! outcomes, the session log with parent links) that imports back exactly,
//! and AGENTS.md / CLAUDE.md-style markdown.

mod check;
mod digest;

use crate::memory::{redacted, sort_for_display};
use crate::outcomes::redacted_outcome;
use crate::{Result, Service, ServiceError};
use nocturne_core::outcome::Outcome;
use nocturne_core::{chain, Change, Memory, NewEvent, Revision, Session};
use nocturne_store::{ImportBatch, MemoryImport, SessionFilter, SessionGrowth, Usage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `format` field of an export document.
pub const EXPORT_FORMAT: &str = "nocturne-export";
/// The schema version of an export document (see docs/export-format.md).
pub const EXPORT_VERSION: u32 = 5;
/// The first version whose documents carry digests.
pub const DIGESTED_VERSION: u32 = 5;

/// The JSON export document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportDoc {
    pub format: String,
    pub version: u32,
    pub exported_at: String,
    pub head_revision: u64,
    /// The document digest over the heads of every chain (since version 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Every memory at the head, active and retired.
    pub memories: Vec<Memory>,
    /// Every revision, oldest first, with the exact before/after of each change.
    pub revisions: Vec<ExportRevision>,
    /// Every outcome taxonomy version, oldest first (since version 2).
    #[serde(default)]
    pub taxonomies: Vec<TaxonomyVersion>,
    /// Every outcome, superseded ones included, in id order (since version 2).
    #[serde(default)]
    pub outcomes: Vec<ExportOutcome>,
    /// The session log: every session with its parent link and events,
    /// by id (since version 3; only when asked for, see
    /// [`Service::export_with_sessions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<ExportSession>,
    /// Usage events (memories handed out in context bundles), in id order,
    /// with the session log (since version 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<ExportUsage>,
}

/// One revision in an export, with its chained digest (since version 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportRevision {
    #[serde(flatten)]
    pub revision: Revision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One outcome in an export, with its chained digest (since version 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportOutcome {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One usage event in an export, with its chained digest (since version 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportUsage {
    #[serde(flatten)]
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One session of the log in an export: its header verbatim, the digest
/// chained over the headers (since version 5), and its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExportSession {
    #[serde(flatten)]
    pub header: Session,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// How an import treats a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Import a document written before exports carried digests (versions
    /// 1–4): it is checked for consistency, but changes made to it after
    /// export cannot be detected. Refused unless this is set.
    pub allow_undigested: bool,
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
    /// Whether the document's digests were checked (a version 5 export or
    /// newer): an edit made after export would have been refused.
    pub tamper_evident: bool,
    /// The document digest (tamper-evident documents): compare it with the
    /// one the export reported to tell the document is the one exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// What the user should know (an undigested document, for one).
    pub warnings: Vec<String>,
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
    /// Every entry carries its chained digest, and the document its digest.
    pub(crate) fn export_json(&self) -> Result<ExportDoc> {
        let mut doc = self.export_unsealed()?;
        digest::seal(&mut doc)?;
        Ok(doc)
    }

    fn export_unsealed(&self) -> Result<ExportDoc> {
        let revisions: Vec<ExportRevision> = self
            .store
            .revisions(1, u64::MAX)?
            .iter()
            .map(|r| ExportRevision { revision: redacted_revision(r), digest: None })
            .collect();
        Ok(ExportDoc {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            exported_at: self.now(),
            head_revision: revisions.last().map_or(0, |r| r.revision.rev),
            digest: None,
            memories: self.store.memories()?.iter().map(redacted).collect(),
            revisions,
            taxonomies: self
                .store
                .taxonomies()?
                .into_iter()
                .map(|(version, toml, set_at)| TaxonomyVersion { version, toml, set_at, digest: None })
                .collect(),
            outcomes: self
                .store
                .outcomes(None)?
                .iter()
                .map(|o| ExportOutcome { outcome: redacted_outcome(o), digest: None })
                .collect(),
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
        let mut doc = self.export_unsealed()?;
        doc.sessions = self.export_sessions()?;
        doc.usage = self.store.usages(None)?.into_iter().map(|usage| ExportUsage { usage, digest: None }).collect();
        digest::seal(&mut doc)?;
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
                out.push(ExportSession { header: header.clone(), digest: None, events });
            }
        }
        Ok(out)
    }

    /// What writing the document's sessions takes: the sessions the store
    /// lacks are restored verbatim, the ones it holds a prefix of are grown
    /// (compare-and-append), the ones it has with other events are left.
    fn plan_sessions(&self, doc: &ExportDoc, batch: &mut ImportBatch) -> Result<SessionMerge> {
        let mut m = SessionMerge::default();
        for s in &doc.sessions {
            let id = &s.header.id;
            let events = || s.events.iter().map(|e| e.body.clone()).collect::<Vec<NewEvent>>();
            match self.store.session(id)? {
                None => {
                    batch.restore_sessions.push((s.header.clone(), events()));
                    m.added += 1;
                }
                Some(st) if st.head_hash == s.header.head_hash && st.event_count == s.header.event_count => {
                    // The same events; a session the document has closed is closed here too.
                    if let (None, Some(at)) = (&st.closed_at, &s.header.closed_at) {
                        batch.close_sessions.push((id.clone(), at.clone()));
                    }
                    m.skipped += 1
                }
                Some(st) => {
                    let k = st.event_count as usize;
                    let prefix = match k.checked_sub(1) {
                        None => hex::encode(chain::genesis(id)) == st.head_hash,
                        Some(last) => s.events.get(last).is_some_and(|e| e.hash == st.head_hash),
                    };
                    if prefix && s.events.len() > k && st.closed_at.is_none() {
                        let rest = s.events.get(k..).unwrap_or_default().iter().map(|e| e.body.clone()).collect();
                        batch.grow_sessions.push(SessionGrowth {
                            session: id.clone(),
                            expected_len: st.event_count,
                            events: rest,
                        });
                        if let Some(at) = &s.header.closed_at {
                            batch.close_sessions.push((id.clone(), at.clone()));
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

    /// Imports an export document. The whole document is checked before
    /// anything is written (its digests, each entry, the revisions against
    /// the memories, the session chains, outcomes against their taxonomy
    /// and sessions), and then written in one transaction: a refused
    /// document leaves the store as it was. Into a store with no revisions
    /// the history is restored verbatim (export→import is the identity);
    /// into a store that has memory already, the document's active
    /// memories that the store lacks are added as one revision authored
    /// `import`.
    pub(crate) fn import_json(&self, bytes: &[u8], source: &str, opts: ImportOptions) -> Result<ImportSummary> {
        let doc: ExportDoc = serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::invalid_file(source, format!("not a Nocturne export: {e}")))?;
        if doc.format != EXPORT_FORMAT {
            return Err(ServiceError::invalid_file(
                source,
                format!("format is {:?}, expected {EXPORT_FORMAT:?}", doc.format),
            ));
        }
        if doc.version > EXPORT_VERSION || doc.version == 0 {
            return Err(ServiceError::invalid_file(
                source,
                format!("export version {} is not one this program reads (1 to {EXPORT_VERSION})", doc.version),
            ));
        }
        let tamper_evident = doc.version >= DIGESTED_VERSION;
        let mut warnings = Vec::new();
        if !tamper_evident {
            if !opts.allow_undigested {
                return Err(ServiceError::Undigested { file: source.to_string(), version: doc.version });
            }
            warnings.push(format!(
                "{source} is a version {} export, written before exports carried digests: it was checked for \
                 consistency, but a change made to it after export cannot be detected",
                doc.version
            ));
        }
        check::document(&doc, source)?;
        if tamper_evident {
            digest::verify(&doc, source)?;
        }
        let mut batch = ImportBatch::default();
        let sm = self.plan_sessions(&doc, &mut batch)?;
        let (outcomes_added, outcomes_skipped) = self.plan_outcomes(&doc, source, &mut batch)?;
        let (usage_added, usage_skipped) = self.plan_usage(&doc, source, &mut batch)?;
        let restoring = self.store.head()? == 0;
        let (mode, revisions, memories_added, memories_skipped) = if restoring {
            let revs: Vec<Revision> = doc.revisions.iter().map(|r| r.revision.clone()).collect();
            let n = revs.len();
            if n > 0 {
                batch.memory = MemoryImport::Restore(revs);
            }
            ("restored", n, doc.memories.len(), 0)
        } else {
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
                batch.memory = MemoryImport::Commit(nocturne_store::Commit {
                    expect_rev: None,
                    author: "import".into(),
                    reason: format!("import from {source}"),
                    created_at: self.now(),
                    changes,
                    applies_proposal: None,
                });
            }
            ("merged", usize::from(added > 0), added, skipped)
        };
        self.store.import(&batch)?;
        Ok(ImportSummary {
            mode: mode.into(),
            revisions,
            memories_added,
            memories_skipped,
            outcomes_added,
            outcomes_skipped,
            sessions_added: sm.added,
            sessions_extended: sm.extended,
            sessions_skipped: sm.skipped,
            sessions_conflicting: sm.conflicting,
            usage_added,
            usage_skipped,
            tamper_evident,
            digest: digest::of(&doc),
            warnings,
        })
    }

    /// The ids of the sessions a document's entries may refer to: the
    /// document's own and the store's.
    fn known_sessions(&self, doc: &ExportDoc, wanted: &BTreeSet<&str>) -> Result<BTreeSet<String>> {
        let mut known: BTreeSet<String> = doc.sessions.iter().map(|s| s.header.id.clone()).collect();
        for id in wanted {
            if !known.contains(*id) && self.store.session(id)?.is_some() {
                known.insert((*id).to_string());
            }
        }
        Ok(known)
    }

    /// Restores the document's usage events verbatim when the store has
    /// none; otherwise skips them (counts returned). Each event's session
    /// must be in the document or the store.
    fn plan_usage(&self, doc: &ExportDoc, source: &str, batch: &mut ImportBatch) -> Result<(usize, usize)> {
        if doc.usage.is_empty() {
            return Ok((0, 0));
        }
        if !self.store.usages(None)?.is_empty() {
            return Ok((0, doc.usage.len()));
        }
        let wanted: BTreeSet<&str> = doc.usage.iter().filter_map(|u| u.usage.session.as_deref()).collect();
        let known = self.known_sessions(doc, &wanted)?;
        if let Some(u) = doc.usage.iter().find(|u| u.usage.session.as_ref().is_some_and(|s| !known.contains(s))) {
            return Err(ServiceError::invalid_file(
                source,
                format!(
                    "usage event {} is about session {}, which is neither in the file nor in the store",
                    u.usage.id,
                    u.usage.session.as_deref().unwrap_or_default()
                ),
            ));
        }
        batch.usages = Some(doc.usage.iter().map(|u| u.usage.clone()).collect());
        Ok((doc.usage.len(), 0))
    }

    /// Restores the document's taxonomies and outcomes verbatim when the
    /// store has none; otherwise skips them (counts returned). Each
    /// outcome's session must be in the document or the store.
    fn plan_outcomes(&self, doc: &ExportDoc, source: &str, batch: &mut ImportBatch) -> Result<(usize, usize)> {
        if doc.outcomes.is_empty() && doc.taxonomies.is_empty() {
            return Ok((0, 0));
        }
        let has = !self.store.outcomes(None)?.is_empty() || self.store.taxonomy()?.is_some();
        if has {
            return Ok((0, doc.outcomes.len()));
        }
        let wanted: BTreeSet<&str> = doc.outcomes.iter().map(|o| o.outcome.session.as_str()).collect();
        let known = self.known_sessions(doc, &wanted)?;
        if let Some(o) = doc.outcomes.iter().find(|o| !known.contains(&o.outcome.session)) {
            return Err(ServiceError::invalid_file(
                source,
                format!(
                    "outcome {} is about session {}, which is neither in the file nor in the store \
                 (import an export that includes the session log, or ingest the session first)",
                    o.outcome.id, o.outcome.session
                ),
            ));
        }
        let t: Vec<(u32, String, String)> =
            doc.taxonomies.iter().map(|t| (t.version, t.toml.clone(), t.set_at.clone())).collect();
        batch.outcomes = Some((t, doc.outcomes.iter().map(|o| o.outcome.clone()).collect()));
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
