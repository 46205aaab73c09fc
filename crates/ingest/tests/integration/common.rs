use std::path::PathBuf;

use nocturne_core::{EventKind, NewEvent, NewSession};
use nocturne_ingest::{parse, parse_file, Format, Hints, IngestError, Parsed};

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The display path used for a fixture.
pub fn display(name: &str) -> String {
    format!("fixtures/{name}")
}

pub fn sessions(name: &str, format: Format) -> Vec<NewSession> {
    parse(&display(name), &fixture(name), format).unwrap_or_else(|e| panic!("{name} should parse: {e}"))
}

pub fn session(name: &str, format: Format) -> NewSession {
    let mut all = sessions(name, format);
    assert_eq!(all.len(), 1, "{name}: expected one session");
    all.remove(0)
}

pub fn error(name: &str, format: Format) -> IngestError {
    match parse(&display(name), &fixture(name), format) {
        Ok(s) => panic!("{name} should be refused, got {} session(s)", s.len()),
        Err(e) => e,
    }
}

pub fn of_kind(s: &NewSession, kind: EventKind) -> Vec<&NewEvent> {
    s.events.iter().filter(|e| e.kind == kind).collect()
}

/// Parses a fixture with hints (the display path keeps its folders, which
/// carry meaning for Claude Code sub-agents and SWE-agent runs).
pub fn parsed(name: &str, format: Format, hints: &Hints) -> Parsed {
    parse_file(&display(name), &fixture(name), format, hints).unwrap_or_else(|e| panic!("{name} should parse: {e}"))
}

/// The valid fixtures and their formats.
pub const VALID: [(&str, Format); 20] = [
    ("claude-code.jsonl", Format::ClaudeCode),
    ("claude-code-two-sessions.jsonl", Format::ClaudeCode),
    ("claude-code-injected.jsonl", Format::ClaudeCode),
    ("claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50.jsonl", Format::ClaudeCode),
    (
        "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-a1b2c3d4e5f601234.jsonl",
        Format::ClaudeCode,
    ),
    (
        "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-acompact-7f8e9d.jsonl",
        Format::ClaudeCode,
    ),
    ("claude-code-project/agent-9c2b663e.jsonl", Format::ClaudeCode),
    ("codex-rollout.jsonl", Format::Codex),
    ("codex-legacy.jsonl", Format::Codex),
    ("gemini-session.json", Format::Gemini),
    ("tau2-results.json", Format::TauBench),
    ("tau-bench-v1-results.json", Format::TauBench),
    ("tau-display.jsonl", Format::TauDisplay),
    ("swe-agent/gpt4__demo-run/repo-i1.traj", Format::SweAgent),
    ("swe-agent/gpt4__demo-run/sweagenttestrepo-1c2844.traj", Format::SweAgent),
    ("swe-agent/mini-swe-agent.traj.json", Format::SweAgent),
    ("aider.chat.history.md", Format::Aider),
    ("anthropic.json", Format::Anthropic),
    ("openai.json", Format::OpenAi),
    ("nocturne.jsonl", Format::Nocturne),
];

/// Valid fixtures beyond [`VALID`] that only some tests use.
pub const MORE_VALID: [(&str, Format); 2] =
    [("nocturne-empty.jsonl", Format::Nocturne), ("nocturne-subagent.jsonl", Format::Nocturne)];
