//! The digests of an export document (since version 5): one SHA-256 chain
//! per list — revisions, taxonomy versions, outcomes, sessions, usage
//! events —, like the session log's event chain, and one document digest
//! over the heads of those chains. Editing, adding, removing or reordering
//! an entry changes every digest after it, so an import recomputes them and
//! refuses a document that was changed after export, naming the first
//! entry that does not match.
//!
//! These are digests, not signatures: whoever recomputes them can forge a
//! consistent document. Comparing the document digest with the one the
//! export reported tells that apart.

use super::{ExportDoc, ExportOutcome, ExportRevision, ExportSession, ExportUsage, TaxonomyVersion};
use crate::{Result, ServiceError};
use serde::Serialize;
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"nocturne-export-digest/1\0";

/// The chain head before the first entry of a list.
fn genesis(list: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(list.as_bytes());
    h.finalize().into()
}

/// The digest of one entry: the previous digest and the entry's JSON.
fn link<T: Serialize>(list: &str, prev: &[u8; 32], item: &T) -> Result<[u8; 32]> {
    let bytes = serde_json::to_vec(item)
        .map_err(|e| ServiceError::Invalid(format!("{list} entry cannot be written as JSON: {e}")))?;
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(list.as_bytes());
    h.update([0]);
    h.update(prev);
    h.update(&bytes);
    Ok(h.finalize().into())
}

/// The digests of one list, in order.
fn chain<T: Serialize>(list: &str, items: impl Iterator<Item = T>) -> Result<Vec<[u8; 32]>> {
    let mut prev = genesis(list);
    let mut out = Vec::new();
    for item in items {
        prev = link(list, &prev, &item)?;
        out.push(prev);
    }
    Ok(out)
}

/// Every chain of a document, computed from its contents (digest fields ignored).
struct Chains {
    revisions: Vec<[u8; 32]>,
    taxonomies: Vec<[u8; 32]>,
    outcomes: Vec<[u8; 32]>,
    sessions: Vec<[u8; 32]>,
    usage: Vec<[u8; 32]>,
}

fn chains(doc: &ExportDoc) -> Result<Chains> {
    Ok(Chains {
        revisions: chain("revision", doc.revisions.iter().map(|r| &r.revision))?,
        taxonomies: chain("taxonomy", doc.taxonomies.iter().map(|t| (t.version, &t.toml, &t.set_at)))?,
        outcomes: chain("outcome", doc.outcomes.iter().map(|o| &o.outcome))?,
        sessions: chain("session", doc.sessions.iter().map(|s| &s.header))?,
        usage: chain("usage", doc.usage.iter().map(|u| &u.usage))?,
    })
}

/// The document digest: what the document is (format, version, head) and
/// the length and head of every chain.
fn document(doc: &ExportDoc, c: &Chains) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(b"document\0");
    h.update(doc.format.as_bytes());
    h.update([0]);
    h.update(doc.version.to_be_bytes());
    h.update(doc.head_revision.to_be_bytes());
    for (list, digests) in [
        ("revision", &c.revisions),
        ("taxonomy", &c.taxonomies),
        ("outcome", &c.outcomes),
        ("session", &c.sessions),
        ("usage", &c.usage),
    ] {
        h.update(list.as_bytes());
        h.update((digests.len() as u64).to_be_bytes());
        h.update(digests.last().copied().unwrap_or_else(|| genesis(list)));
    }
    h.finalize().into()
}

/// Fills in every digest of a document about to be written.
pub(crate) fn seal(doc: &mut ExportDoc) -> Result<()> {
    let c = chains(doc)?;
    for (r, d) in doc.revisions.iter_mut().zip(&c.revisions) {
        r.digest = Some(hex::encode(d));
    }
    for (t, d) in doc.taxonomies.iter_mut().zip(&c.taxonomies) {
        t.digest = Some(hex::encode(d));
    }
    for (o, d) in doc.outcomes.iter_mut().zip(&c.outcomes) {
        o.digest = Some(hex::encode(d));
    }
    for (s, d) in doc.sessions.iter_mut().zip(&c.sessions) {
        s.digest = Some(hex::encode(d));
    }
    for (u, d) in doc.usage.iter_mut().zip(&c.usage) {
        u.digest = Some(hex::encode(d));
    }
    doc.digest = Some(hex::encode(document(doc, &c)));
    Ok(())
}

/// Checks every digest of a document against its contents; the error
/// names the first entry that does not match (the first one changed after
/// export) and what it is.
pub(crate) fn verify(doc: &ExportDoc, source: &str) -> Result<()> {
    let c = chains(doc)?;
    let edited = |what: String| {
        Err(ServiceError::invalid_file(
            source,
            format!("{what} does not match its digest: the file was changed after it was exported"),
        ))
    };
    let missing = |what: String| {
        Err(ServiceError::invalid_file(
            source,
            format!("{what} has no digest, which a version {} export carries for every entry", doc.version),
        ))
    };
    fn check(found: &Option<String>, computed: &[u8; 32]) -> Option<bool> {
        found.as_deref().map(|f| f.eq_ignore_ascii_case(&hex::encode(computed)))
    }
    for (r, d) in doc.revisions.iter().zip(&c.revisions) {
        let what = || revision_label(r);
        match check(&r.digest, d) {
            None => return missing(what()),
            Some(false) => return edited(what()),
            Some(true) => {}
        }
    }
    for (t, d) in doc.taxonomies.iter().zip(&c.taxonomies) {
        let what = || taxonomy_label(t);
        match check(&t.digest, d) {
            None => return missing(what()),
            Some(false) => return edited(what()),
            Some(true) => {}
        }
    }
    for (o, d) in doc.outcomes.iter().zip(&c.outcomes) {
        let what = || outcome_label(o);
        match check(&o.digest, d) {
            None => return missing(what()),
            Some(false) => return edited(what()),
            Some(true) => {}
        }
    }
    for (s, d) in doc.sessions.iter().zip(&c.sessions) {
        let what = || session_label(s);
        match check(&s.digest, d) {
            None => return missing(what()),
            Some(false) => return edited(what()),
            Some(true) => {}
        }
    }
    for (u, d) in doc.usage.iter().zip(&c.usage) {
        let what = || usage_label(u);
        match check(&u.digest, d) {
            None => return missing(what()),
            Some(false) => return edited(what()),
            Some(true) => {}
        }
    }
    match check(&doc.digest, &document(doc, &c)) {
        None => missing("the document".into()),
        Some(false) => Err(ServiceError::invalid_file(
            source,
            "the document digest does not match its contents: entries were added or removed at the end of a list, \
             or its format, version or head revision was changed after it was exported",
        )),
        Some(true) => Ok(()),
    }
}

/// The document digest of a sealed document, as written in it.
pub(crate) fn of(doc: &ExportDoc) -> Option<String> {
    doc.digest.clone()
}

fn revision_label(r: &ExportRevision) -> String {
    let r = &r.revision;
    format!("revision {} (by {}, {:?}, {})", r.rev, r.author.0, r.reason, r.created_at)
}

fn taxonomy_label(t: &TaxonomyVersion) -> String {
    format!("taxonomy version {} (set {})", t.version, t.set_at)
}

fn outcome_label(o: &ExportOutcome) -> String {
    let o = &o.outcome;
    format!("outcome {} (session {}, {}, recorded {})", o.id, o.session, o.dimension, o.recorded_at)
}

fn session_label(s: &ExportSession) -> String {
    format!("session {} (its header: user, team, times, counts)", s.header.id)
}

fn usage_label(u: &ExportUsage) -> String {
    format!("usage event {} (at {})", u.usage.id, u.usage.at)
}
