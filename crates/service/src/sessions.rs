//! Reading the session log back, and verifying its hash chains.

use crate::{Result, Service, ServiceError};
use nocturne_core::{chain, Event, Session};
use nocturne_store::SessionFilter;
use serde::Serialize;

/// A session whose stored chain no longer matches its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyFailure {
    pub session: String,
    /// First event whose stored hash differs from the recomputed one.
    pub first_bad_event: Option<u32>,
    pub reason: String,
}

/// Result of `sessions verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub sessions_checked: usize,
    pub events_checked: u64,
    pub failures: Vec<VerifyFailure>,
}

impl Service {
    pub fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>> {
        Ok(self.store.sessions(filter)?)
    }

    pub fn session(&self, id: &str) -> Result<(Session, Vec<Event>)> {
        let s =
            self.store.session(id)?.ok_or_else(|| ServiceError::NotFound { what: "session", id: id.to_string() })?;
        let events = self.store.events(id)?;
        Ok((s, events))
    }

    /// Recomputes every session's chain from its stored events.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut rep = VerifyReport::default();
        for s in self.store.sessions(&SessionFilter::default())? {
            rep.sessions_checked += 1;
            let events = match self.store.events(&s.id) {
                Ok(e) => e,
                Err(e) => {
                    rep.failures.push(VerifyFailure {
                        session: s.id.clone(),
                        first_bad_event: None,
                        reason: format!("its events cannot be read: {e}"),
                    });
                    continue;
                }
            };
            rep.events_checked += events.len() as u64;
            if let Some(f) = verify_one(&s, &events) {
                rep.failures.push(f);
            }
        }
        rep.failures.sort_by(|a, b| a.session.cmp(&b.session));
        Ok(rep)
    }

    /// The head hash of one session as stored (for before/after checks).
    pub fn session_hashes(&self) -> Result<Vec<(String, String)>> {
        let mut v: Vec<(String, String)> =
            self.store.sessions(&SessionFilter::default())?.into_iter().map(|s| (s.id, s.head_hash)).collect();
        v.sort();
        Ok(v)
    }
}

fn verify_one(s: &Session, events: &[Event]) -> Option<VerifyFailure> {
    let fail = |first_bad_event, reason: String| Some(VerifyFailure { session: s.id.clone(), first_bad_event, reason });
    if events.len() != s.event_count as usize {
        return fail(None, format!("{} events stored, {} recorded", events.len(), s.event_count));
    }
    let hashes = chain::hashes(&s.id, events.iter().map(|e| &e.body));
    for (i, (e, h)) in events.iter().zip(&hashes).enumerate() {
        if e.seq as usize != i {
            return fail(Some(i as u32), format!("event {i} is missing or out of order"));
        }
        if hex::encode(h) != e.hash {
            return fail(Some(e.seq), format!("event {} does not match its hash", e.seq));
        }
    }
    let head = hashes.last().map(hex::encode).unwrap_or_else(|| hex::encode(chain::genesis(&s.id)));
    if head != s.head_hash {
        return fail(None, "the session's head hash does not match its events".into());
    }
    None
}
