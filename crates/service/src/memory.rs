//! Versioned memory: add, edit, retire, list, history, rollback. Every
//! write is one store revision with author and reason.

use crate::{Result, Service, ServiceError};
use nocturne_core::revision::{diff, replay};
use nocturne_core::secrets;
use nocturne_core::{Change, Memory, MemoryKind, Revision, Scope, Status};
use nocturne_store::{Commit, HistoryEntry};
use std::collections::BTreeMap;

/// A memory to add by hand.
#[derive(Debug, Clone)]
pub struct NewMemory {
    pub kind: String,
    pub text: String,
    pub tags: Vec<String>,
    pub scope: Option<String>,
    pub priority: i32,
}

/// Fields to change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct MemoryEdit {
    pub text: Option<String>,
    pub kind: Option<String>,
    pub tags: Option<Vec<String>>,
    pub scope: Option<String>,
    pub priority: Option<i32>,
}

/// Which memories to list.
#[derive(Debug, Clone, Default)]
pub struct MemoryFilter {
    pub include_retired: bool,
    pub kind: Option<String>,
    pub scope: Option<String>,
}

fn parse_scope(s: Option<&str>) -> Result<Scope> {
    match s {
        None => Ok(Scope::org()),
        Some(s) => Scope::parse(s).map_err(|e| ServiceError::invalid_field("scope", e.to_string())),
    }
}

fn parse_kind(k: &str) -> Result<MemoryKind> {
    MemoryKind::new(k).map_err(|e| ServiceError::invalid_field("kind", e.to_string()))
}

/// Tags of a memory being written: a project tag must have its documented
/// form (`project:NAME#KEY`, or `project:NAME`), at most one (see
/// `nocturne_core::project`).
fn check_tags(tags: &[String]) -> Result<()> {
    let trimmed: Vec<String> = tags.iter().map(|t| t.trim().to_string()).collect();
    nocturne_core::ProjectTag::check_tags(&trimmed).map_err(|e| ServiceError::invalid_field("tags", e.to_string()))
}

fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut t: Vec<String> = tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    t.sort();
    t.dedup();
    t
}

impl Service {
    fn commit_changes(
        &self,
        author: &str,
        reason: &str,
        expect_rev: Option<u64>,
        changes: Vec<Change>,
    ) -> Result<Revision> {
        Ok(self.store.commit(Commit {
            expect_rev,
            author: author.to_string(),
            reason: reason.to_string(),
            created_at: self.now(),
            changes,
            applies_proposal: None,
        })?)
    }

    fn existing(&self, id: &str) -> Result<Memory> {
        self.store.memory(id)?.ok_or_else(|| ServiceError::NotFound { what: "memory", id: id.to_string() })
    }

    /// Adds a memory (one revision). Secrets in the text, tags or scope are refused.
    pub(crate) fn memory_add(
        &self,
        m: &NewMemory,
        author: &str,
        expect_rev: Option<u64>,
    ) -> Result<(Memory, Revision)> {
        refuse_secrets("text", &m.text)?;
        refuse_secret_tags(&m.tags)?;
        check_tags(&m.tags)?;
        if let Some(s) = &m.scope {
            refuse_secrets("scope", s)?;
        }
        let kind = parse_kind(&m.kind)?;
        let scope = parse_scope(m.scope.as_deref())?;
        let now = self.now();
        let head = self.store.head()?;
        // The only way a memory of a valid kind and scope is refused: its text is empty.
        let mut mem = Memory::new(kind, &m.text, scope, &now, &format!("manual/{head}/{now}"))
            .map_err(|e| ServiceError::invalid_field("text", e.to_string()))?;
        mem.tags = clean_tags(&m.tags);
        mem.priority = m.priority;
        let change = Change { memory_id: mem.id.clone(), before: None, after: Some(mem.clone()) };
        let rev = self.commit_changes(author, "add memory", expect_rev, vec![change])?;
        Ok((mem, rev))
    }

    /// Edits a memory (one revision).
    pub(crate) fn memory_edit(
        &self,
        id: &str,
        e: &MemoryEdit,
        author: &str,
        expect_rev: Option<u64>,
    ) -> Result<(Memory, Revision)> {
        let before = self.existing(id)?;
        let mut after = before.clone();
        if let Some(t) = &e.text {
            refuse_secrets("text", t)?;
            let t = t.trim();
            if t.is_empty() {
                return Err(ServiceError::invalid_field("text", "memory text is empty"));
            }
            after.text = t.to_string();
        }
        if let Some(k) = &e.kind {
            after.kind = parse_kind(k)?;
        }
        if let Some(t) = &e.tags {
            refuse_secret_tags(t)?;
            check_tags(t)?;
            after.tags = clean_tags(t);
        }
        if let Some(s) = &e.scope {
            refuse_secrets("scope", s)?;
            after.scope = parse_scope(Some(s))?;
        }
        if let Some(p) = e.priority {
            after.priority = p;
        }
        if after == before {
            return Err(ServiceError::Invalid(format!("nothing to change in memory {id}")));
        }
        after.updated_at = self.now();
        let change = Change { memory_id: id.to_string(), before: Some(before), after: Some(after.clone()) };
        let rev = self.commit_changes(author, "edit memory", expect_rev, vec![change])?;
        Ok((after, rev))
    }

    /// Retires a memory: kept with its history, no longer active.
    pub(crate) fn memory_retire(
        &self,
        id: &str,
        reason: Option<&str>,
        author: &str,
        expect_rev: Option<u64>,
    ) -> Result<(Memory, Revision)> {
        if let Some(r) = reason {
            refuse_secrets("reason", r)?;
        }
        let before = self.existing(id)?;
        if before.status == Status::Retired {
            return Err(ServiceError::Invalid(format!("memory {id} is already retired")));
        }
        let mut after = before.clone();
        after.status = Status::Retired;
        after.retired_reason = reason.map(str::to_string);
        after.updated_at = self.now();
        let change = Change { memory_id: id.to_string(), before: Some(before), after: Some(after.clone()) };
        let rev = self.commit_changes(author, reason.unwrap_or("retire memory"), expect_rev, vec![change])?;
        Ok((after, rev))
    }

    pub(crate) fn memory(&self, id: &str) -> Result<Memory> {
        self.existing(id)
    }

    /// Memories at the head: highest priority first, then kind rank, then id.
    pub(crate) fn memories(&self, f: &MemoryFilter) -> Result<Vec<Memory>> {
        let scope = f.scope.as_deref().map(|s| parse_scope(Some(s))).transpose()?;
        let mut v: Vec<Memory> = self
            .store
            .memories()?
            .into_iter()
            .filter(|m| f.include_retired || m.is_active())
            .filter(|m| f.kind.as_deref().is_none_or(|k| m.kind.as_str() == k))
            .filter(|m| scope.as_ref().is_none_or(|s| &m.scope == s))
            .collect();
        sort_for_display(&mut v);
        Ok(v)
    }

    pub(crate) fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let h = self.store.history(id)?;
        if h.is_empty() {
            return Err(ServiceError::NotFound { what: "memory", id: id.to_string() });
        }
        Ok(h)
    }

    /// Revisions, oldest first.
    pub(crate) fn revisions(&self) -> Result<Vec<Revision>> {
        Ok(self.store.revisions(1, u64::MAX)?)
    }

    /// Memories exactly as they were at revision `rev`.
    pub(crate) fn memories_at(&self, rev: u64) -> Result<BTreeMap<String, Memory>> {
        let head = self.store.head()?;
        if rev > head {
            return Err(ServiceError::invalid_field(
                "to",
                format!("revision {rev} does not exist (the store is at {head})"),
            ));
        }
        Ok(replay(&self.store.revisions(1, rev)?))
    }

    /// Brings the whole memory store back to revision `to`, as a new
    /// revision (so the rollback itself can be rolled back).
    pub(crate) fn rollback(&self, to: u64, author: &str, expect_rev: Option<u64>) -> Result<Revision> {
        let head = self.store.head()?;
        if let Some(e) = expect_rev {
            if e != head {
                return Err(ServiceError::Conflict(format!(
                    "the store moved: expected revision {e}, but it is at {head}"
                )));
            }
        }
        let target = self.memories_at(to)?;
        let current: BTreeMap<String, Memory> = self.store.memories()?.into_iter().map(|m| (m.id.clone(), m)).collect();
        let changes = diff(&current, &target);
        if changes.is_empty() {
            return Err(ServiceError::invalid_field("to", format!("memory is already as it was at revision {to}")));
        }
        self.commit_changes(author, &format!("rollback to revision {to}"), Some(head), changes)
    }
}

/// Priority (high first), kind rank, then id.
pub(crate) fn sort_for_display(v: &mut [Memory]) {
    v.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.kind.rank().cmp(&b.kind.rank()))
            .then(a.kind.cmp(&b.kind))
            .then(a.id.cmp(&b.id))
    });
}

/// Refuses a field that contains a secret, showing it redacted.
pub(crate) fn refuse_secrets(field: &'static str, text: &str) -> Result<()> {
    if secrets::contains_secret(text) {
        return Err(ServiceError::invalid_field(
            field,
            format!(
                "the {field} looks like it contains a secret (it would read: {:?}); memories never store credentials",
                secrets::redact(text)
            ),
        ));
    }
    Ok(())
}

fn refuse_secret_tags(tags: &[String]) -> Result<()> {
    tags.iter().try_for_each(|t| {
        refuse_secrets("tag", t).map_err(|e| match e {
            ServiceError::InvalidField { message, .. } => ServiceError::invalid_field("tags", message),
            other => other,
        })
    })
}

/// The first field of `m` that holds a secret: text, a tag, the scope, the
/// retirement reason or an evidence quote.
pub(crate) fn secret_field(m: &Memory) -> Option<&'static str> {
    let has = secrets::contains_secret;
    if has(&m.text) {
        Some("text")
    } else if m.tags.iter().any(|t| has(t)) {
        Some("tags")
    } else if has(&m.scope.to_string()) {
        Some("scope")
    } else if m.retired_reason.as_deref().is_some_and(has) {
        Some("retired_reason")
    } else if m.evidence.iter().any(|e| has(&e.quote)) {
        Some("evidence")
    } else {
        None
    }
}

/// `m` with every secret redacted (what leaves the store: export, search,
/// context). Memories written since secrets are refused have none; this
/// covers those written before.
pub(crate) fn redacted(m: &Memory) -> Memory {
    let r = |s: &str| secrets::redact_cow(s).into_owned();
    let mut m = m.clone();
    if secret_field(&m).is_none() {
        return m;
    }
    m.text = r(&m.text);
    m.tags = m.tags.iter().map(|t| r(t)).collect();
    m.retired_reason = m.retired_reason.as_deref().map(r);
    for e in &mut m.evidence {
        e.quote = r(&e.quote);
    }
    m
}
