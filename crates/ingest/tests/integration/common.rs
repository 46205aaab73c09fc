use std::path::PathBuf;

use nocturne_core::{EventKind, NewEvent, NewSession};
use nocturne_ingest::{parse, Format, IngestError};

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

/// The valid fixtures and their formats.
pub const VALID: [(&str, Format); 6] = [
    ("claude-code.jsonl", Format::ClaudeCode),
    ("claude-code-two-sessions.jsonl", Format::ClaudeCode),
    ("anthropic.json", Format::Anthropic),
    ("openai.json", Format::OpenAi),
    ("nocturne.jsonl", Format::Nocturne),
    ("nocturne-empty.jsonl", Format::Nocturne),
];
