//! Nocturne's domain: sessions and their events, memories, store revisions,
//! dream proposals, and the pure logic over them (hash chains, failure and
//! secret detection, rollback planning, what an evidence quote may quote).
//!
//! **Invariant:** this crate does no IO. Every function is deterministic in
//! its arguments; the current time is always passed in.

pub mod chain;
pub mod error;
pub mod failure;
pub mod memory;
pub mod outcome;
pub mod project;
pub mod proposal;
pub mod quote;
pub mod revision;
pub mod secrets;
pub mod session;
pub mod text;

pub use error::CoreError;
pub use memory::{Evidence, Memory, MemoryKind, Scope, ScopeLevel, Status};
pub use project::{Here, Project, ProjectTag};
pub use proposal::{Op, OpKind, Proposal, ProposalStatus};
pub use revision::{Author, Change, Revision};
pub use session::{Counterpart, Event, EventKind, NewEvent, NewSession, Role, Session, SourceOutcome, Subagent};
