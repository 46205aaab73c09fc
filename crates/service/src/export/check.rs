//! Everything an import checks in a document before it writes anything:
//! each memory (in the list and in every revision) is one `memory add`
//! could have stored, the revisions follow each other and replay to the
//! memory list, the head revision is the last revision, taxonomy versions
//! parse and follow each other, every outcome fits the taxonomy version it
//! names, usage events cite memories of the document, every session's
//! events end in its head hash, and nothing carries a secret. Pure: no
//! store, no clock. Each error names the file and the entry.

use super::ExportDoc;
use crate::memory::secret_field;
use crate::outcomes::outcome_secret_field;
use crate::{Result, ServiceError};
use nocturne_core::outcome::{Outcome, OutcomeValue, Taxonomy};
use nocturne_core::{chain, Memory, MemoryKind, Scope};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;

/// Checks the whole document; the first problem found is the error.
pub(crate) fn document(doc: &ExportDoc, source: &str) -> Result<()> {
    secrets(doc, source)?;
    let bad = |what: String| ServiceError::invalid_file(source, what);
    let replayed = revisions(doc).map_err(bad)?;
    memories(doc, &replayed).map_err(bad)?;
    let taxonomies = taxonomies(doc).map_err(bad)?;
    outcomes(doc, &taxonomies).map_err(bad)?;
    usage(doc, &replayed).map_err(bad)?;
    sessions(doc).map_err(bad)
}

fn time(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &Rfc3339).is_ok()
}

fn printable(s: &str) -> bool {
    !s.trim().is_empty() && !s.chars().any(char::is_control)
}

/// One memory as `memory add` / a dream could have stored it.
fn memory(m: &Memory) -> Result<(), String> {
    let id_ok = m.id.strip_prefix("m-").is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if !id_ok {
        return Err(format!("memory id {:?} is not a memory id (m- and letters or digits)", m.id));
    }
    let id = &m.id;
    MemoryKind::new(m.kind.as_str()).map_err(|e| format!("memory {id}: {e}"))?;
    if m.text.trim().is_empty() {
        return Err(format!("memory {id}: its text is empty"));
    }
    match Scope::parse(&m.scope.to_string()) {
        Ok(s) if s == m.scope && m.scope.name.as_deref().is_none_or(printable) => {}
        _ => return Err(format!("memory {id}: scope {:?} is not org, team:NAME, agent:NAME or user:NAME", m.scope)),
    }
    if let Some(t) = m.tags.iter().find(|t| !printable(t)) {
        return Err(format!("memory {id}: tag {t:?} is empty or has control characters"));
    }
    for (field, at) in [("created_at", &m.created_at), ("updated_at", &m.updated_at)] {
        if !time(at) {
            return Err(format!("memory {id}: {field} {at:?} is not an RFC 3339 time"));
        }
    }
    if let Some(e) = m.evidence.iter().find(|e| e.session.trim().is_empty()) {
        return Err(format!("memory {id}: evidence {e:?} names no session"));
    }
    Ok(())
}

/// The revisions number 1, 2, 3…, each change starts from the memory as
/// the revisions before left it, and the head revision is the last one.
/// Returns the memories they replay to.
fn revisions(doc: &ExportDoc) -> Result<BTreeMap<String, Memory>, String> {
    let mut state: BTreeMap<String, Memory> = BTreeMap::new();
    for (i, r) in doc.revisions.iter().enumerate() {
        let r = &r.revision;
        let n = r.rev;
        if n != i as u64 + 1 {
            return Err(format!("revision {n} is listed where revision {} belongs (revisions number 1, 2, 3…)", i + 1));
        }
        if !printable(&r.author.0) {
            return Err(format!("revision {n}: author {:?} is empty or has control characters", r.author.0));
        }
        if !time(&r.created_at) {
            return Err(format!("revision {n}: created_at {:?} is not an RFC 3339 time", r.created_at));
        }
        if r.changes.is_empty() {
            return Err(format!("revision {n} changes no memory"));
        }
        for c in &r.changes {
            let id = &c.memory_id;
            for m in c.before.iter().chain(c.after.iter()) {
                memory(m).map_err(|e| format!("revision {n}: {e}"))?;
                if &m.id != id {
                    return Err(format!("revision {n}: the change of memory {id} holds memory {}", m.id));
                }
            }
            if c.before.is_none() && c.after.is_none() {
                return Err(format!("revision {n}: the change of memory {id} has neither a before nor an after"));
            }
            if state.get(id) != c.before.as_ref() {
                let was = if state.contains_key(id) { "as the revisions before it left it" } else { "absent" };
                return Err(format!(
                    "revision {n}: memory {id} does not start from where the revisions before left it (it was {was})"
                ));
            }
            match &c.after {
                Some(m) => state.insert(id.clone(), m.clone()),
                None => state.remove(id),
            };
        }
    }
    let last = doc.revisions.last().map_or(0, |r| r.revision.rev);
    if doc.head_revision != last {
        return Err(format!("head_revision is {} but the last revision is {last}", doc.head_revision));
    }
    Ok(state)
}

/// The memory list is what the revisions replay to, entry by entry.
fn memories(doc: &ExportDoc, replayed: &BTreeMap<String, Memory>) -> Result<(), String> {
    let mut listed: BTreeMap<&str, &Memory> = BTreeMap::new();
    for m in &doc.memories {
        memory(m)?;
        if listed.insert(&m.id, m).is_some() {
            return Err(format!("memory {} is listed twice", m.id));
        }
    }
    for (id, m) in &listed {
        match replayed.get(*id) {
            None => return Err(format!("memory {id} is listed but no revision creates it")),
            Some(r) if r != *m => {
                return Err(format!(
                    "memory {id} differs from what the revisions made it, in its {}",
                    differing_fields(r, m).join(", ")
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(id) = replayed.keys().find(|id| !listed.contains_key(id.as_str())) {
        return Err(format!("memory {id} is made by the revisions but missing from the memory list"));
    }
    Ok(())
}

/// The top-level fields in which two memories differ.
fn differing_fields(a: &Memory, b: &Memory) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["contents".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// Taxonomy versions number 1, 2, 3… and each is a valid taxonomy.
fn taxonomies(doc: &ExportDoc) -> Result<BTreeMap<u32, Taxonomy>, String> {
    let mut out = BTreeMap::new();
    for (i, t) in doc.taxonomies.iter().enumerate() {
        let v = t.version;
        if v as usize != i + 1 {
            return Err(format!("taxonomy version {v} is listed where version {} belongs", i + 1));
        }
        if !time(&t.set_at) {
            return Err(format!("taxonomy version {v}: set_at {:?} is not an RFC 3339 time", t.set_at));
        }
        let parsed = Taxonomy::from_toml(&t.toml).map_err(|e| format!("taxonomy version {v}: {e}"))?;
        out.insert(v, parsed);
    }
    Ok(out)
}

/// The text `outcome log --set DIM=VALUE` would have been given for a value.
fn raw_value(v: &OutcomeValue) -> String {
    match v {
        OutcomeValue::Label(s) | OutcomeValue::Text(s) => s.clone(),
        OutcomeValue::Number(n) => n.to_string(),
        OutcomeValue::Bool(b) => b.to_string(),
    }
}

/// Outcome ids increase, and every value is one its taxonomy version takes.
fn outcomes(doc: &ExportDoc, taxonomies: &BTreeMap<u32, Taxonomy>) -> Result<(), String> {
    let mut last = 0;
    for o in &doc.outcomes {
        let o: &Outcome = &o.outcome;
        let id = o.id;
        if id <= last {
            return Err(format!("outcome {id} follows outcome {last}: outcome ids increase"));
        }
        last = id;
        if !printable(&o.session) {
            return Err(format!("outcome {id}: session {:?} is empty or has control characters", o.session));
        }
        if !time(&o.recorded_at) {
            return Err(format!("outcome {id}: recorded_at {:?} is not an RFC 3339 time", o.recorded_at));
        }
        let Some(t) = taxonomies.get(&o.taxonomy_version) else {
            return Err(format!(
                "outcome {id} was checked against taxonomy version {}, which the file does not have",
                o.taxonomy_version
            ));
        };
        match t.check(&o.dimension, &raw_value(&o.value)) {
            Ok(v) if v == o.value => {}
            Ok(_) => {
                return Err(format!(
                    "outcome {id}: {} is not a value taxonomy version {} gives dimension {}",
                    raw_value(&o.value),
                    o.taxonomy_version,
                    o.dimension
                ))
            }
            Err(e) => return Err(format!("outcome {id} (taxonomy version {}): {e}", o.taxonomy_version)),
        }
    }
    Ok(())
}

/// Usage event ids increase and cite memories the revisions made.
fn usage(doc: &ExportDoc, replayed: &BTreeMap<String, Memory>) -> Result<(), String> {
    let mut last = 0;
    for u in &doc.usage {
        let u = &u.usage;
        if u.id <= last {
            return Err(format!("usage event {} follows usage event {last}: usage ids increase", u.id));
        }
        last = u.id;
        if !time(&u.at) {
            return Err(format!("usage event {}: at {:?} is not an RFC 3339 time", u.id, u.at));
        }
        if let Some(m) = u.memories.iter().find(|m| !replayed.contains_key(*m)) {
            return Err(format!("usage event {} cites memory {m}, which no revision of the file made", u.id));
        }
    }
    Ok(())
}

/// Every session's events prove themselves: each matches its hash and the
/// chain ends in the header's head hash with its event count.
fn sessions(doc: &ExportDoc) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for s in &doc.sessions {
        let id = &s.header.id;
        if !seen.insert(id.as_str()) {
            return Err(format!("session {id} is listed twice"));
        }
        let hashes = chain::hashes(id, s.events.iter().map(|e| &e.body));
        for (i, (e, h)) in s.events.iter().zip(&hashes).enumerate() {
            if e.seq as usize != i || e.hash != hex::encode(h) {
                return Err(format!("session {id}: event {i} does not match its hash chain (the file was edited)"));
            }
        }
        let head = hashes.last().copied().unwrap_or_else(|| chain::genesis(id));
        if hex::encode(head) != s.header.head_hash || s.events.len() != s.header.event_count as usize {
            return Err(format!(
                "session {id}: its events do not end in its head hash (the file was edited or is incomplete)"
            ));
        }
    }
    Ok(())
}

/// Refuses a document that carries a secret where `memory add` (or an
/// outcome) would never store one, naming the object.
fn secrets(doc: &ExportDoc, source: &str) -> Result<()> {
    let refuse = |what: String, field: &str| {
        Err(ServiceError::invalid_file(
            source,
            format!(
                "{what} looks like it contains a secret in its {field}; memories never store credentials \
             (export redacts them: re-export, or remove it from the file)"
            ),
        ))
    };
    for m in &doc.memories {
        if let Some(field) = secret_field(m) {
            return refuse(format!("memory {}", m.id), field);
        }
    }
    for r in &doc.revisions {
        let r = &r.revision;
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
        if let Some(field) = outcome_secret_field(&o.outcome) {
            return refuse(format!("outcome {} (session {})", o.outcome.id, o.outcome.session), field);
        }
    }
    Ok(())
}
