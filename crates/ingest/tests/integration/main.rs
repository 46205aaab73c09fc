//! Integration tests of `nocturne-ingest`: real-format fixtures in
//! `tests/fixtures/`, what a user sees after import, snapshots of the
//! normalized events, malformed input, and a never-panic property test.

// Test helpers outside `#[test]` functions may abort (see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod claude_code;
mod common;
mod detection;
mod formats;
mod injected;
mod malformed;
mod nocturne;
mod openai;
mod real;
mod robustness;
mod snapshots;
mod streaming;
mod structural;
mod subagents;
