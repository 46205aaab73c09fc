//! Structural mutations of every format the importers read, seeded with
//! the small fixtures and with one real transcript per format and layout
//! (Claude Code main sessions and both sub-agent layouts, Codex CLI,
//! Gemini CLI, τ²-bench, τ-bench display text, SWE-agent, Aider), read
//! from `shared/data/real-transcripts` at test time (skipped with a notice
//! when absent): a field deleted, a value of another type, huge numbers,
//! deep nesting, invalid UTF-8 inside a string, truncation. The importers
//! never panic, and every refusal names the file and says why.
//!
//! `NOCTURNE_FUZZ_CASES` sets the number of cases per property (default
//! 48, so the suite stays fast); e.g. `NOCTURNE_FUZZ_CASES=5000` for a
//! long run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nocturne_ingest::{classify_path, detect, parse_file, Format, Hints, PathKind};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::{fixture, VALID};
use crate::robustness::check;

/// Cases per property: `NOCTURNE_FUZZ_CASES`, else 48.
pub fn cases() -> u32 {
    std::env::var("NOCTURNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

/// One seed: the path it is parsed under (which carries meaning for
/// sub-agent files) and its bytes, shrunk to a few records.
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// What kind of seed a real file is: its detected format, and for Claude
/// Code which file layout (a main session, a sub-agent beside it, a
/// sub-agent in `<session>/subagents/`).
fn seed_kind(rel: &str, format: Format) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    match format {
        Format::ClaudeCode if rel.contains("/subagents/") => "claude-code/subagents-folder".into(),
        Format::ClaudeCode if base.starts_with("agent-") => "claude-code/agent-beside".into(),
        other => other.to_string(),
    }
}

/// A few records of a seed: the first 24 lines of a JSONL file, a JSON
/// document with every array cut to its first 3 items and long strings
/// cut, or the first 12 KB of anything else (cut at a line end).
fn shrink(bytes: &[u8]) -> Vec<u8> {
    fn cut(v: &mut Value) {
        match v {
            Value::Array(a) => {
                a.truncate(3);
                a.iter_mut().for_each(cut);
            }
            Value::Object(o) => o.values_mut().for_each(cut),
            Value::String(s) if s.len() > 2000 => {
                let mut n = 2000;
                while !s.is_char_boundary(n) {
                    n -= 1;
                }
                s.truncate(n);
            }
            _ => {}
        }
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
        cut(&mut v);
        return serde_json::to_vec(&v).unwrap();
    }
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.iter().take(3).all(|l| l.is_empty() || serde_json::from_slice::<Value>(l).is_ok()) {
        return lines.into_iter().take(24).collect::<Vec<_>>().join(&b'\n');
    }
    let mut n = bytes.len().min(12 * 1024);
    while n < bytes.len() && bytes.get(n) != Some(&b'\n') {
        n += 1;
    }
    bytes[..n].to_vec()
}

/// The smallest non-empty real transcript of each format and layout,
/// shrunk; empty (with a notice) when the folder is absent.
pub fn real_seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let Some(root) =
            nocturne_testdata::real_transcripts_or_skip(Path::new(env!("CARGO_MANIFEST_DIR")), "real-transcript seeds")
        else {
            return Vec::new();
        };
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut best: std::collections::BTreeMap<String, (u64, Seed)> = Default::default();
        for p in files {
            let rel = p.strip_prefix(&root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            let size = p.metadata().map(|m| m.len()).unwrap_or(0);
            if classify_path(&rel) != PathKind::Transcript || size == 0 || size > 8 << 20 {
                continue;
            }
            let Ok(bytes) = std::fs::read(&p) else { continue };
            let Some(format) = detect(&bytes) else { continue };
            let kind = seed_kind(&rel, format);
            if best.get(&kind).is_none_or(|(s, _)| size < *s) {
                best.insert(kind, (size, Seed { name: rel, bytes: shrink(&bytes) }));
            }
        }
        eprintln!("real-transcript seeds: {:?}", best.iter().map(|(k, (_, s))| (k, &s.name)).collect::<Vec<_>>());
        best.into_values().map(|(_, s)| s).collect()
    })
}

/// Every seed: the fixtures, then the real ones.
pub fn seeds() -> Vec<Seed> {
    let mut out: Vec<Seed> =
        VALID.iter().map(|(name, _)| Seed { name: format!("fixtures/{name}"), bytes: fixture(name) }).collect();
    out.extend(real_seeds().iter().cloned());
    out
}

/// What replaces a value of the document (as raw bytes in its JSON text).
#[derive(Debug, Clone)]
pub enum Payload {
    /// Another type or an odd value.
    Value(&'static str),
    /// A number no integer type holds.
    Huge(&'static str),
    /// `depth` nested arrays.
    Deep(usize),
    /// A string with bytes that are not UTF-8.
    BadUtf8,
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Value(s) | Payload::Huge(s) => s.as_bytes().to_vec(),
            Payload::Deep(d) => format!("{}{}", "[".repeat(*d), "]".repeat(*d)).into_bytes(),
            Payload::BadUtf8 => b"\"ok \xff\xfe \xc3(\xed\xa0\x80 end\"".to_vec(),
        }
    }
}

/// One structural change to a JSON value, at the node numbered `at` (in
/// depth-first order, modulo the node count).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Delete a field of the object at (or after) the node.
    DeleteField { at: usize, key: usize },
    /// Replace the node.
    Replace { at: usize, with: Payload },
    /// Cut the text of the record.
    Truncate { at: usize },
}

pub fn edit() -> impl Strategy<Value = Edit> {
    let payload = prop_oneof![
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "-1",
            "\"\"",
            "\"x\"",
            "[]",
            "{}",
            "[null]",
            "{\"\":null}",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "1.5",
            "\"2026-13-45T99:99:99Z\"",
        ])
        .prop_map(Payload::Value),
        prop::sample::select(vec![
            "18446744073709551616",
            "-9223372036854775809",
            "1e999",
            "-1e999",
            "123456789012345678901234567890123456789",
            "4294967296",
            "1e-400",
        ])
        .prop_map(Payload::Huge),
        prop::sample::select(vec![64usize, 200, 5000]).prop_map(Payload::Deep),
        Just(Payload::BadUtf8),
    ];
    prop_oneof![
        1 => (any::<usize>(), any::<usize>()).prop_map(|(at, key)| Edit::DeleteField { at, key }),
        3 => (any::<usize>(), payload).prop_map(|(at, with)| Edit::Replace { at, with }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Calls `f` on the node numbered `n` (depth first); true when found.
fn at_node(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    if *n == 0 {
        f(v);
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| at_node(c, n, f)),
        Value::Object(o) => o.values_mut().any(|c| at_node(c, n, f)),
        _ => false,
    }
}

const MARK: &str = "\u{1}nocturne-fuzz-payload\u{1}";

/// Applies `e` to one JSON text; text that is not JSON is cut or has the
/// payload spliced in at the position.
pub fn apply_to_json(text: &[u8], e: &Edit) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(text) else {
        return match e {
            Edit::Truncate { at } | Edit::DeleteField { at, .. } => text[..at % (text.len() + 1)].to_vec(),
            Edit::Replace { at, with } => {
                let i = at % (text.len() + 1);
                [&text[..i], &with.bytes(), &text[i..]].concat()
            }
        };
    };
    let total = count(&v);
    match e {
        Edit::Truncate { at } => {
            let s = serde_json::to_vec(&v).unwrap();
            s[..at % (s.len() + 1)].to_vec()
        }
        Edit::DeleteField { at, key } => {
            // The first object at or after node `at` that has a field.
            for k in 0..total {
                let mut n = (at % total + k) % total;
                let mut done = false;
                at_node(&mut v, &mut n, &mut |node| {
                    if let Value::Object(o) = node {
                        if let Some(name) = o.keys().nth(key % o.len().max(1)).cloned() {
                            o.shift_remove(&name);
                            done = true;
                        }
                    }
                });
                if done {
                    break;
                }
            }
            serde_json::to_vec(&v).unwrap()
        }
        Edit::Replace { at, with } => {
            let mut n = at % total;
            at_node(&mut v, &mut n, &mut |node| *node = Value::String(MARK.into()));
            let s = serde_json::to_vec(&v).unwrap();
            let mark = serde_json::to_vec(&Value::String(MARK.into())).unwrap();
            match s.windows(mark.len()).position(|w| w == mark.as_slice()) {
                Some(i) => [&s[..i], &with.bytes(), &s[i + mark.len()..]].concat(),
                None => s,
            }
        }
    }
}

/// Applies `e` to a seed: to the whole document when it is one JSON
/// value, else to its line number `line` (modulo the line count).
pub fn apply(bytes: &[u8], line: usize, e: &Edit) -> Vec<u8> {
    if serde_json::from_slice::<Value>(bytes).is_ok() {
        return apply_to_json(bytes, e);
    }
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let i = line % lines.len().max(1);
    let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    if let Some(l) = out.get_mut(i) {
        *l = apply_to_json(l, e);
    }
    out.join(&b'\n')
}

/// [`check`] (every format, as a plain file), and the seed's own path with
/// auto-detection: no panic, and a refusal names that path.
fn check_as(seed: &Seed, bytes: &[u8]) -> Result<(), TestCaseError> {
    check(bytes)?;
    let hints = Hints { meta: None, parent: None };
    for format in [Format::Auto, Format::ClaudeCode] {
        if let Err(e) = parse_file(&seed.name, bytes, format, &hints) {
            prop_assert_eq!(e.file(), seed.name.as_str());
            prop_assert!(!e.reason().trim().is_empty(), "{:?}", e);
            prop_assert!(e.line() != Some(0));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn structurally_mutated_transcripts_never_panic(
        which in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), edit()), 1..4),
    ) {
        let seeds = seeds();
        let seed = &seeds[which % seeds.len()];
        let mut bytes = seed.bytes.clone();
        for (line, e) in &edits {
            bytes = apply(&bytes, *line, e);
        }
        check_as(seed, &bytes)?;
    }
}

/// Every real seed, unmutated and cut at 64 evenly spread points: handled.
#[test]
fn every_real_seed_and_its_prefixes_are_handled() {
    for seed in real_seeds() {
        let step = (seed.bytes.len() / 64).max(1);
        for n in (0..=seed.bytes.len()).step_by(step) {
            check_as(seed, &seed.bytes[..n]).unwrap();
        }
    }
}

/// Each kind of edit, once on every seed: deterministic coverage that does
/// not depend on what the random cases happen to pick.
#[test]
fn every_kind_of_edit_on_every_seed_is_handled() {
    let edits = [
        Edit::DeleteField { at: 0, key: 0 },
        Edit::DeleteField { at: 7, key: 1 },
        Edit::Replace { at: 3, with: Payload::Value("null") },
        Edit::Replace { at: 5, with: Payload::Value("[]") },
        Edit::Replace { at: 2, with: Payload::Huge("18446744073709551616") },
        Edit::Replace { at: 4, with: Payload::Huge("1e999") },
        Edit::Replace { at: 6, with: Payload::Deep(5000) },
        Edit::Replace { at: 1, with: Payload::BadUtf8 },
        Edit::Truncate { at: 40 },
    ];
    for seed in seeds() {
        for e in &edits {
            for line in [0, 1, 5] {
                check_as(&seed, &apply(&seed.bytes, line, e))
                    .unwrap_or_else(|err| panic!("{}: {e:?}: {err}", seed.name));
            }
        }
    }
}
