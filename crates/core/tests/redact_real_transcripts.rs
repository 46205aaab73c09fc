//! The redactor over real transcripts written by other people: it keeps
//! their JSON valid, leaves their commit hashes and UUIDs alone, and is
//! idempotent. (Counts of what fires per source: `examples/redact_scan.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::secrets::{contains_secret, find, redact};
use std::path::{Path, PathBuf};

/// The real transcripts (see `nocturne_testdata`), or `None` with a notice.
fn root() -> Option<PathBuf> {
    nocturne_testdata::real_transcripts_or_skip(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "the real-transcript redaction test",
    )
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// Hex runs of 40 (git SHA-1) or 64 (SHA-256) characters, and UUIDs.
fn ids(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hexish = |c: u8| c.is_ascii_hexdigit() || c == b'-';
        if hexish(b[i]) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && hexish(b[j]) {
                j += 1;
            }
            let s = &line[i..j];
            let uuid = s.len() == 36 && s.matches('-').count() == 4;
            let sha = (s.len() == 40 || s.len() == 64) && !s.contains('-');
            let digits = s.bytes().any(|c| c.is_ascii_digit()) && s.bytes().any(|c| c.is_ascii_alphabetic());
            if (uuid || sha) && digits && (j == b.len() || !b[j].is_ascii_alphanumeric()) {
                out.push(s);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn real_transcript_lines_stay_json_keep_their_ids_and_redact_idempotently() {
    let Some(root) = root() else { return };
    let mut paths = Vec::new();
    files(&root, &mut paths);
    assert!(!paths.is_empty(), "no JSONL under {}", root.display());
    let (mut lines, mut ids_seen) = (0, 0);
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        for (n, line) in text.lines().enumerate() {
            if serde_json::from_str::<serde_json::Value>(line).is_err() {
                continue;
            }
            lines += 1;
            let r = redact(line);
            let at = format!("{}:{}", p.display(), n + 1);
            assert!(serde_json::from_str::<serde_json::Value>(&r).is_ok(), "{at}: redaction broke the JSON");
            assert!(!contains_secret(&r), "{at}: left {:?}", find(&r));
            for id in ids(line) {
                ids_seen += 1;
                assert!(r.contains(id), "{at}: the id {id} was redacted");
            }
        }
    }
    assert!(lines > 1000, "{lines} lines");
    assert!(ids_seen > 100, "the transcripts carry commit hashes and UUIDs to check: {ids_seen}");
}
