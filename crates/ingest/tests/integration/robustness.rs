//! `parse` never panics: random bytes and mutated fixtures give `Ok` or an
//! `Err` with a reason and the right file name, for every format.

use nocturne_ingest::{classify_path, detect, parse, parse_file, Format, Hints};
use proptest::prelude::*;

use crate::common::{fixture, VALID};

const FILE: &str = "fuzz/input.jsonl";

pub fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let _ = detect(bytes);
    for format in Format::ALL {
        match parse(FILE, bytes, format) {
            Ok(sessions) => {
                for s in sessions {
                    prop_assert!(!s.id.is_empty());
                    prop_assert_eq!(s.source.as_deref(), Some(FILE));
                }
            }
            Err(e) => {
                prop_assert_eq!(e.file(), FILE);
                prop_assert!(!e.reason().trim().is_empty(), "{:?}", e);
                prop_assert!(e.line() != Some(0));
            }
        }
    }
    // As a sub-agent file with the same bytes as its meta sidecar.
    let _ = classify_path(&String::from_utf8_lossy(bytes));
    let hints = Hints { meta: Some(bytes.to_vec()), parent: Some("p".into()) };
    for format in [Format::Auto, Format::ClaudeCode] {
        if let Ok(p) = parse_file("fuzz/s/subagents/agent-x.jsonl", bytes, format, &hints) {
            for s in &p.sessions {
                prop_assert!(!s.id.is_empty());
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    DeleteLine { line: usize },
    Insert { at: usize, bytes: Vec<u8> },
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Flip { at, byte } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = *byte;
            }
            bytes
        }
        Mutation::Truncate { at } => {
            let n = at % (bytes.len() + 1);
            bytes.truncate(n);
            bytes
        }
        Mutation::DeleteLine { line } => {
            let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            let skip = line % lines.len().max(1);
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| l.to_vec())
                .collect::<Vec<_>>()
                .join(&b'\n')
        }
        Mutation::Insert { at, bytes: extra } => {
            let i = at % (bytes.len() + 1);
            bytes.splice(i..i, extra.iter().copied());
            bytes
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'{', b'}', b'[', b']', b'"', b',', b':', b'\n', b'\\', b'0', b'n', 0xff, 0xc3, b' ',
    ]);
    prop_oneof![
        (any::<usize>(), prop_oneof![any::<u8>(), interesting]).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        (
            any::<usize>(),
            prop::sample::select(vec![
                b"null".to_vec(),
                b"42".to_vec(),
                b"\"x\"".to_vec(),
                b"[]".to_vec(),
                b"{}".to_vec(),
                b"\n\n".to_vec(),
                b"\xf0\x9f".to_vec(),
            ])
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn json_ish_noise_never_panics(s in "[\\[\\]{}\":,0-9a-z \n\\\\]{0,200}") {
        check(s.as_bytes())?;
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..VALID.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = fixture(VALID[which].0);
        for m in &mutations {
            bytes = apply(bytes, m);
        }
        check(&bytes)?;
    }
}

#[test]
fn every_prefix_of_every_fixture_is_handled() {
    for (name, _) in VALID {
        let bytes = fixture(name);
        // Every prefix of the short fixtures; about 300 evenly spread ones
        // (and the last 64) of the longer.
        let step = (bytes.len() / 300).max(1);
        let cuts = (0..=bytes.len()).step_by(step).chain(bytes.len().saturating_sub(64)..=bytes.len());
        for n in cuts {
            check(&bytes[..n]).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any sidecar bytes and any parent hint: the sub-agent transcript is
    /// still read, never refused for its meta data.
    #[test]
    fn any_meta_sidecar_is_harmless(meta in prop::collection::vec(any::<u8>(), 0..64), parent in "[a-z/ ]{0,8}") {
        let name = "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-a1b2c3d4e5f601234.jsonl";
        let hints = Hints { meta: Some(meta), parent: Some(parent) };
        let p = parse_file(name, &fixture(name), Format::Auto, &hints).unwrap();
        prop_assert_eq!(p.sessions.len(), 1);
        prop_assert!(p.sessions[0].subagent.is_some());
    }
}

#[test]
fn deeply_nested_json_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    check(deep.as_bytes()).unwrap();
    let line = format!("{{\"type\":\"user\",\"message\":{}{}}}", "{\"a\":".repeat(50_000), "1}".repeat(50_000));
    check(line.as_bytes()).unwrap();
    let nested = format!("{{\"messages_display\":{}{}}}\n{{}}", "[".repeat(50_000), "]".repeat(50_000));
    check(nested.as_bytes()).unwrap();
}

/// Ids written as numbers longer than 64 bits keep every digit: two
/// sessions whose ids differ in the last digit stay two sessions (rounded,
/// both were `1.2345678901234568e22` and the second was dropped).
#[test]
fn numeric_ids_are_kept_exactly_as_written() {
    let big = ["12345678901234567890123", "12345678901234567890124"];
    for (format, doc) in [
        (Format::Anthropic, r#"{"id": ID, "messages": [{"role": "user", "content": "Hello"}]}"#),
        (Format::OpenAi, r#"{"id": ID, "messages": [{"role": "user", "content": "Hello"}]}"#),
    ] {
        // One document per line, and a document alone in its file.
        let lines: Vec<String> = big.iter().map(|id| doc.replace("ID", id)).collect();
        let two = parse("two.jsonl", lines.join("\n").as_bytes(), format).unwrap();
        assert_eq!(two.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), big, "{format:?}");
        let one = parse("one.json", lines[1].as_bytes(), format).unwrap();
        assert_eq!(one[0].id, big[1], "{format:?}");
    }
    // τ-bench task and trial numbers, in both result shapes.
    let sim = |task: &str| {
        format!(r#"{{"task_id": {task}, "trial": 1e0, "reward": 1.0, "traj": [{{"role": "user", "content": "hi"}}]}}"#)
    };
    let v1 = format!("[{}, {}]", sim(big[0]), sim(big[1]));
    let got = parse("results.json", v1.as_bytes(), Format::TauBench).unwrap();
    let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [format!("results/task-{}/trial-1e0", big[0]), format!("results/task-{}/trial-1e0", big[1])]);
    let v2 = format!(
        r#"{{"simulations": [{{"id": {}, "task_id": 7, "messages": [{{"role": "user", "content": "hi"}}]}}]}}"#,
        big[1]
    );
    let got = parse("sims.json", v2.as_bytes(), Format::TauBench).unwrap();
    assert_eq!(got[0].id, big[1]);
}
