use nocturne_ingest::{detect, parse, Format};

use crate::common::{display, fixture, sessions, MORE_VALID, VALID};

#[test]
fn every_fixture_is_detected_as_its_format() {
    for (name, format) in VALID.iter().chain(&MORE_VALID).copied() {
        assert_eq!(detect(&fixture(name)), Some(format), "{name}");
    }
}

#[test]
fn auto_gives_the_same_sessions_as_the_explicit_format() {
    for (name, format) in VALID.iter().chain(&MORE_VALID).copied() {
        assert_eq!(sessions(name, Format::Auto), sessions(name, format), "{name}");
    }
}

#[test]
fn the_wrong_explicit_format_is_refused_not_misread() {
    let cases = [
        ("claude-code.jsonl", Format::Anthropic),
        ("claude-code.jsonl", Format::Nocturne),
        ("anthropic.json", Format::ClaudeCode),
        ("openai.json", Format::Nocturne),
        ("nocturne.jsonl", Format::OpenAi),
        ("codex-rollout.jsonl", Format::Gemini),
        ("gemini-session.json", Format::Codex),
        ("tau2-results.json", Format::SweAgent),
        ("aider.chat.history.md", Format::ClaudeCode),
        ("tau-display.jsonl", Format::TauBench),
    ];
    for (name, format) in cases {
        let result = parse(&display(name), &fixture(name), format);
        assert!(result.is_err(), "{name} as {format}");
    }
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(fixture("nocturne.jsonl"));
    assert_eq!(detect(&bytes), Some(Format::Nocturne));
    let s = parse("bom.jsonl", &bytes, Format::Auto).unwrap();
    assert_eq!(s[0].events.len(), 7);
}
