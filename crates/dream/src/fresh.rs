//! New evidence: which sessions may confirm a memory again.
//!
//! Dreams are idempotent: dreaming twice over the same sessions and memory
//! proposes nothing the second time. So every op that *strengthens or
//! weakens* an existing memory because of sessions (a promote, a create
//! that repeats a memory and becomes its promote, a usefulness promote or
//! demote) counts only sessions that are **new to the memory**: not
//! already cited in its evidence, and stored or started after the memory's
//! last change (`updated_at`; `ingested_at` or `started_at` of the session,
//! whichever is later; strictly after, since a dream applied in the same
//! second read that session) or handed the memory in a context bundle at
//! or after that change ([`crate::Snapshot::usage_at`]). A memory whose
//! `updated_at` cannot be read counts every uncited session as new. The
//! sessions an applied promote or demote counted become the memory's
//! evidence, so they never count twice. A staleness demote is measured from the
//! last change too, so it happens once per `stale_days`.
//!
//! The same test keeps a dream from re-creating a memory someone retired:
//! a create matching a retired memory needs `min_support` sessions newer
//! than the retirement.

use crate::context::Context;
use crate::text::parse_rfc3339;
use nocturne_core::Memory;
use std::collections::BTreeSet;

/// True when session `si` of the batch is new evidence for `m` (see the module docs).
pub fn is_fresh(ctx: &Context, m: &Memory, si: usize) -> bool {
    let Some(s) = ctx.sessions.get(si) else { return false };
    let id = s.id();
    if m.evidence.iter().any(|e| e.session == id) {
        return false;
    }
    let Some(changed) = parse_rfc3339(&m.updated_at) else { return true };
    let ingested = parse_rfc3339(&s.data.session.ingested_at);
    let latest = match (ingested, s.started) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    // Handed to the session in a bundle at or after the change: the memory
    // as it is now was present there (a bundle cannot hand a memory before
    // it exists, so the same second counts).
    let handed = ctx.usage_at.get(id).and_then(|u| u.get(&m.id)).and_then(|t| parse_rfc3339(t));
    latest.is_some_and(|t| t > changed) || handed.is_some_and(|t| t >= changed)
}

/// The sessions of `sessions` that are new evidence for `m`.
pub fn fresh_sessions(ctx: &Context, m: &Memory, sessions: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
    sessions.into_iter().filter(|si| is_fresh(ctx, m, *si)).collect()
}
