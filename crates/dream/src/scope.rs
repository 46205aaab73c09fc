//! Where a new memory belongs: the scope rules of the planner.
//!
//! A memory is *personal* when it is a preference: someone's taste ("I
//! prefer black", "use tabs"). Everything else a dream learns — a mistake
//! and how to avoid it, a workflow that works, a fact — is about the work,
//! and what one operator's sessions show is useful to everyone who shares
//! that work.
//!
//! - **Not personal** (mistake, procedure, fact...): the narrowest shared
//!   scope covering the sessions: their team when every session has the
//!   same team, else their agent when every session has the same agent,
//!   else the org. One operator's sessions are enough: the memory rests on
//!   what the tools did, not on what anyone said.
//! - **Personal** (preference): ≥ `min_users_shared` (and ≥ 2) distinct
//!   known operators → the team when every session has the same team, else
//!   the org; exactly one known operator → that user (`user:NAME`). With no
//!   known operator (formats that carry no user: Claude Code, Anthropic and
//!   OpenAI files, unless the ingest was given one) the spread over people
//!   cannot be checked, so a shared scope is never given: the agent's scope
//!   when every session has the same agent, else no scope — the finding is
//!   dropped (`guardrail.dropped_no_scope`).
//!
//! No rule invents a scope name: a session without a user never yields
//! `user:unknown`.

use crate::context::Context;
use nocturne_core::{MemoryKind, Scope, ScopeLevel};
use std::collections::BTreeSet;

/// True for kinds that hold one person's taste (see the module docs).
pub fn is_personal(kind: &MemoryKind) -> bool {
    kind.as_str() == MemoryKind::PREFERENCE
}

/// The single value every session has, if they all have the same one.
fn common<'a>(
    ctx: &'a Context,
    sessions: &BTreeSet<usize>,
    f: impl Fn(&'a nocturne_core::Session) -> Option<&'a str>,
) -> Option<&'a str> {
    let mut out: Option<&str> = None;
    for s in sessions {
        let v = f(&ctx.sessions.get(*s)?.data.session)?;
        match out {
            None => out = Some(v),
            Some(o) if o == v => {}
            Some(_) => return None,
        }
    }
    out
}

fn named(level: ScopeLevel, name: &str) -> Scope {
    Scope { level, name: Some(name.to_string()) }
}

/// The scope of a new memory of `kind` drawn from `sessions`, and the
/// number of distinct known users behind it; `None` when it has none (see
/// the module docs).
pub fn scope_for(ctx: &Context, sessions: &BTreeSet<usize>, kind: &MemoryKind) -> Option<(Scope, u32)> {
    let (users, _) = ctx.users_teams(sessions);
    let n = users.len() as u32;
    let team = common(ctx, sessions, |s| s.team.as_deref());
    let agent = common(ctx, sessions, |s| s.agent.as_deref());
    if !is_personal(kind) {
        let scope = match (team, agent) {
            (Some(t), _) => named(ScopeLevel::Team, t),
            (None, Some(a)) => named(ScopeLevel::Agent, a),
            (None, None) => Scope::org(),
        };
        return Some((scope, n));
    }
    if n >= ctx.config.min_users_shared.max(2) {
        return Some((team.map_or_else(Scope::org, |t| named(ScopeLevel::Team, t)), n));
    }
    if let (1, Some(u)) = (n, users.iter().next()) {
        return Some((named(ScopeLevel::User, u), n));
    }
    if n == 0 {
        return agent.map(|a| (named(ScopeLevel::Agent, a), 0));
    }
    // Several operators, fewer than a shared scope needs: nobody's alone.
    None
}
