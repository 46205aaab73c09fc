//! Streaming a file ([`stream_file`], read as it comes, twice; Claude Code,
//! Nocturne JSONL, Codex and τ-bench display, each tried on every file) gives what
//! parsing it whole ([`parse_file`]) gives: the same sessions, events,
//! report and spawns, or the same refusal (same line, same reason), for
//! every Claude Code file of the fixtures and of the real transcripts, and
//! for lines as a file may hold them (BOM, CRLF, blank lines, no final
//! newline).

use std::path::{Path, PathBuf};

use nocturne_core::NewEvent;
use nocturne_ingest::{parse_file, stream_file, Format, Hints, IngestError, Parsed};

fn stream_bytes(name: &str, bytes: &[u8], format: Format, hints: &Hints) -> Result<Parsed, String> {
    let owned = bytes.to_vec();
    let mut open = || -> std::io::Result<Box<dyn std::io::BufRead>> {
        // A small buffer, so records span many reads.
        Ok(Box::new(std::io::BufReader::with_capacity(7, std::io::Cursor::new(owned.clone()))))
    };
    let mut events: Vec<Vec<NewEvent>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut sink = |at: usize, id: &str, e: NewEvent| -> Result<(), IngestError> {
        if ids.len() <= at {
            ids.resize(at + 1, String::new());
        }
        ids[at] = id.to_string();
        if events.len() <= at {
            events.resize_with(at + 1, Vec::new);
        }
        events[at].push(e);
        Ok(())
    };
    let mut parsed = match stream_file(name, &mut open, format, hints, &mut sink) {
        Ok(p) => p,
        Err(e) => return Err(format!("{:?}: {}", e.line(), e.reason())),
    };
    for (at, id) in ids.iter().enumerate() {
        assert!(id.is_empty() || parsed.sessions[at].id == *id, "{name}: the sink is told the session's id");
    }
    for (s, ev) in parsed.sessions.iter_mut().zip(events) {
        assert!(s.events.is_empty(), "{name}: a streamed session carries no events");
        s.events = ev;
    }
    Ok(parsed)
}

fn whole(name: &str, bytes: &[u8], format: Format, hints: &Hints) -> Result<Parsed, String> {
    parse_file(name, bytes, format, hints).map_err(|e| format!("{:?}: {}", e.line(), e.reason()))
}

/// Every format that streams, on the same bytes: the same result as parsing them whole.
fn same(name: &str, bytes: &[u8], hints: &Hints) {
    for format in [Format::ClaudeCode, Format::Nocturne, Format::Codex, Format::TauDisplay] {
        assert!(nocturne_ingest::streams(format));
        same_as(name, bytes, format, hints);
    }
}

fn same_as(name: &str, bytes: &[u8], format: Format, hints: &Hints) {
    let a = whole(name, bytes, format, hints);
    let b = stream_bytes(name, bytes, format, hints);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.sessions, b.sessions, "{name}: sessions");
            assert_eq!(a.report, b.report, "{name}: report");
            assert_eq!(a.spawns, b.spawns, "{name}: spawns");
        }
        (a, b) => assert_eq!(a.err(), b.err(), "{name}: the same refusal"),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

#[test]
fn streaming_a_fixture_gives_what_parsing_it_whole_gives() {
    let mut all = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"), &mut all);
    assert!(all.len() > 5, "the fixtures are there");
    for p in all {
        let bytes = std::fs::read(&p).unwrap();
        let meta = std::fs::read(p.with_extension("meta.json")).ok();
        same(&p.to_string_lossy(), &bytes, &Hints { meta, parent: None });
    }
}

#[test]
fn streaming_a_real_jsonl_file_gives_what_parsing_it_whole_gives() {
    let Some(root) = nocturne_testdata::real_transcripts(Path::new(env!("CARGO_MANIFEST_DIR"))) else {
        eprintln!("notice: shared/data/real-transcripts is absent; the streaming test on them is skipped");
        return;
    };
    // Every JSONL file of every folder (Claude Code, Codex, ...), each streamed in every format that streams.
    let mut all = Vec::new();
    walk(&root, &mut all);
    assert!(
        all.iter().any(|p| p.starts_with(root.join("claude-code-log"))),
        "Claude Code files in the real transcripts"
    );
    let of = |f: Format| all.iter().filter(|p| nocturne_ingest::detect(&std::fs::read(p).unwrap()) == Some(f)).count();
    assert!(of(Format::Codex) > 0, "Codex files in the real transcripts");
    assert!(of(Format::TauDisplay) > 0, "τ-bench display files in the real transcripts");
    for p in all {
        let bytes = std::fs::read(&p).unwrap();
        let meta = std::fs::read(p.with_extension("meta.json")).ok();
        same(&p.to_string_lossy(), &bytes, &Hints { meta, parent: None });
    }
}

const TWO: &str = r#"{"type":"user","sessionId":"s1","uuid":"u1","message":{"role":"user","content":"Fix the cart total"}}
{"type":"assistant","sessionId":"s1","uuid":"u2","parentUuid":"u1","message":{"role":"assistant","content":[{"type":"text","text":"Done."}]}}
{"type":"summary","summary":"Cart total fix","leafUuid":"u2"}"#;

#[test]
fn lines_are_read_from_a_file_as_from_its_text() {
    let hints = Hints::default();
    let crlf = TWO.replace('\n', "\r\n");
    let bom = format!("\u{feff}{TWO}\n");
    let blank = format!("\n\n{}\n   \n", TWO.replace('\n', "\n\n"));
    for text in [TWO.to_string(), format!("{TWO}\n"), crlf, bom, blank] {
        same("s.jsonl", text.as_bytes(), &hints);
    }
    let streamed = stream_bytes("s.jsonl", TWO.as_bytes(), Format::ClaudeCode, &hints).unwrap();
    assert_eq!(streamed.sessions.len(), 1);
    assert_eq!(streamed.sessions[0].events.len(), 3);
    assert_eq!(streamed.sessions[0].title.as_deref(), Some("Cart total fix"));
}

#[test]
fn invalid_utf8_is_refused_on_its_line_at_its_file_offset() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(TWO.as_bytes());
    bytes.extend_from_slice(b"\n{\"type\":\"user\",\"x\":\"\xff\"}\n");
    let hints = Hints::default();
    same("s.jsonl", &bytes, &hints);
    let err = stream_bytes("s.jsonl", &bytes, Format::ClaudeCode, &hints).unwrap_err();
    assert!(err.starts_with("Some(4): not valid UTF-8 (invalid byte at offset"), "{err}");
}

#[test]
fn a_syntax_error_anywhere_is_reported_before_other_problems() {
    // Line 1 has no "type" (a problem), line 3 is not JSON: the syntax error wins, as when parsed whole.
    let text = "{\"sessionId\":\"s\"}\n{\"type\":\"user\",\"sessionId\":\"s\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n{not json\n";
    let hints = Hints::default();
    same("s.jsonl", text.as_bytes(), &hints);
    let err = stream_bytes("s.jsonl", text.as_bytes(), Format::ClaudeCode, &hints).unwrap_err();
    assert!(err.starts_with("Some(3):"), "{err}");
}

#[test]
fn a_nocturne_file_streams_its_sessions_and_events() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nocturne.jsonl");
    let bytes = std::fs::read(&p).unwrap();
    let streamed = stream_bytes(&p.to_string_lossy(), &bytes, Format::Nocturne, &Hints::default()).unwrap();
    assert!(!streamed.sessions.is_empty() && !streamed.sessions[0].events.is_empty());
    let text = "{\"nocturne\":\"session\",\"version\":1,\"id\":\"a\"}\n{\"kind\":\"user_message\",\"text\":\"hi\"}\n{\"kind\":\"chat\"}\n{bad\n";
    let err = stream_bytes("n.jsonl", text.as_bytes(), Format::Nocturne, &Hints::default()).unwrap_err();
    assert!(err.starts_with("Some(4):"), "the syntax error first: {err}");
    same_as("n.jsonl", text.as_bytes(), Format::Nocturne, &Hints::default());
    let no_header = "{\"kind\":\"user_message\",\"text\":\"hi\"}\n";
    same_as("n.jsonl", no_header.as_bytes(), Format::Nocturne, &Hints::default());
}

#[test]
fn a_format_that_does_not_stream_is_parsed_whole_and_handed_over() {
    assert!(!nocturne_ingest::streams(Format::Gemini));
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini-session.json");
    let bytes = std::fs::read(&p).unwrap();
    let name = p.to_string_lossy();
    let a = whole(&name, &bytes, Format::Gemini, &Hints::default()).unwrap();
    let b = stream_bytes(&name, &bytes, Format::Gemini, &Hints::default()).unwrap();
    assert_eq!(a.sessions, b.sessions);
    assert!(!a.sessions.is_empty() && !a.sessions[0].events.is_empty());
}

#[test]
fn a_sink_that_fails_stops_the_reading_and_its_error_is_returned_as_it_is() {
    let mut open = || -> std::io::Result<Box<dyn std::io::BufRead>> {
        Ok(Box::new(std::io::BufReader::new(std::io::Cursor::new(TWO.as_bytes().to_vec()))))
    };
    let mut seen = 0;
    let mut sink = |_: usize, _: &str, _: NewEvent| -> Result<(), IngestError> {
        seen += 1;
        Err(IngestError::Refused { file: "s.jsonl".into(), line: Some(9), reason: "the caller stopped".into() })
    };
    let err = stream_file("s.jsonl", &mut open, Format::ClaudeCode, &Hints::default(), &mut sink).unwrap_err();
    assert_eq!(err.to_string(), "s.jsonl:9: the caller stopped");
    assert_eq!(seen, 1, "no event is handed over after the sink failed");
}
