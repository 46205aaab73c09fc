//! Every file of the real transcripts other people wrote
//! (`shared/data/real-transcripts`, beside the repository): it is imported,
//! or refused only when it is not a transcript; for every Claude Code file
//! the events represent exactly the records that carry conversation,
//! computed here from the file itself; sub-agent files are child sessions
//! of the session their lines name. Skipped, with a notice, when the folder
//! is absent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use nocturne_core::{Counterpart, EventKind, Role};
use nocturne_ingest::{classify_path, detect, parse_file, Format, Hints, PathKind};
use serde_json::Value;

/// The real transcripts (see `nocturne_testdata`).
fn root() -> Option<PathBuf> {
    nocturne_testdata::real_transcripts(Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn files() -> Option<(PathBuf, Vec<PathBuf>)> {
    let Some(root) = root() else {
        eprintln!("notice: shared/data/real-transcripts is absent; the real-transcript test is skipped");
        return None;
    };
    let mut all = Vec::new();
    walk(&root, &mut all);
    all.sort();
    all.dedup();
    Some((root, all))
}

/// The JSON records of a JSONL file: (1-based line, object).
fn records(bytes: &[u8]) -> Vec<(u32, serde_json::Map<String, Value>)> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i as u32 + 1, serde_json::from_str::<Value>(l).unwrap().as_object().unwrap().clone()))
        .collect()
}

/// A Claude Code record that carries conversation (something said, a tool
/// call or result, a summary, harness context): everything but progress
/// ticks, file snapshots, permission-mode switches, last-prompt echoes and
/// queue operations without a prompt.
fn message_bearing(o: &serde_json::Map<String, Value>) -> bool {
    let ty = o.get("type").and_then(Value::as_str).unwrap_or_default();
    let no_prompt = match o.get("content") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    !(matches!(ty, "progress" | "file-history-snapshot" | "permission-mode" | "last-prompt")
        || (ty == "queue-operation" && no_prompt))
}

/// A text that is wholly one of Claude Code's command / output tags.
fn wholly_harness_tag(text: &str) -> bool {
    let t = text.trim();
    [
        "command-name",
        "command-message",
        "local-command-stdout",
        "local-command-caveat",
        "bash-input",
        "bash-stdout",
        "system-reminder",
    ]
    .iter()
    .any(|tag| t.starts_with(&format!("<{tag}>")) && t.ends_with('>') && t.matches('<').count() <= 8)
}

#[derive(Default)]
struct Tally {
    files: usize,
    sessions: usize,
    events: usize,
    refused: BTreeMap<String, usize>,
    skipped: BTreeMap<String, u64>,
}

#[test]
fn every_real_file_is_imported_or_refused_for_what_it_is() {
    let Some((root, all)) = files() else { return };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut claude_ids: HashMap<String, PathBuf> = HashMap::new();
    let mut children: BTreeSet<String> = BTreeSet::new();
    let mut spawned: Vec<(String, PathBuf)> = Vec::new();
    for path in &all {
        let name = path.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        let source =
            path.strip_prefix(&root).unwrap().components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let tally = tallies.entry(source).or_default();
        tally.files += 1;
        let bytes = std::fs::read(path).unwrap();
        let meta = std::fs::read(path.with_extension("meta.json")).ok();
        let hints = Hints { meta: meta.clone(), parent: None };
        let parsed = match parse_file(&name, &bytes, Format::Auto, &hints) {
            Ok(p) => p,
            Err(e) => {
                assert!(e.is_not_transcript(), "{e}: a transcript must not be refused");
                *tally.refused.entry(e.reason()).or_default() += 1;
                continue;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            assert!(parsed.sessions.is_empty() && parsed.report.notes == [nocturne_ingest::EMPTY], "{name}");
            *tally.refused.entry("(empty, no sessions)".into()).or_default() += 1;
            continue;
        }
        tally.sessions += parsed.sessions.len();
        tally.events += parsed.sessions.iter().map(|s| s.events.len()).sum::<usize>();
        for (k, v) in &parsed.report.skipped {
            *tally.skipped.entry(k.clone()).or_default() += v;
        }
        assert!(parsed.report.notes.is_empty(), "{name}: {:?}", parsed.report.notes);
        for s in &parsed.sessions {
            assert!(!s.id.trim().is_empty(), "{name}");
            assert!(!s.events.is_empty(), "{name}: session {} has no events", s.id);
        }
        let format = detect(&bytes).unwrap();
        let line_based = matches!(format, Format::ClaudeCode | Format::Codex | Format::TauDisplay);
        if line_based {
            // Every record is an event or counted as skipped.
            let recs = records(&bytes);
            assert_eq!(parsed.report.records, recs.len() as u64, "{name}");
            let lines: BTreeSet<u32> =
                parsed.sessions.iter().flat_map(|s| &s.events).filter_map(|e| e.source_line).collect();
            let skipped: u64 = parsed.report.skipped.values().sum();
            assert_eq!(lines.len() as u64 + skipped, recs.len() as u64, "{name}");
        }
        if format != Format::ClaudeCode {
            continue;
        }

        // Claude Code: the events represent exactly the message-bearing lines.
        let recs = records(&bytes);
        let expected: BTreeSet<u32> = recs.iter().filter(|(_, o)| message_bearing(o)).map(|(n, _)| *n).collect();
        let got: BTreeSet<u32> = parsed.sessions.iter().flat_map(|s| &s.events).filter_map(|e| e.source_line).collect();
        assert_eq!(got, expected, "{name}: the stored lines are the message-bearing lines");
        for s in &parsed.sessions {
            for e in s.events.iter().filter(|e| e.role == Role::User && e.kind == EventKind::UserMessage) {
                let text = e.text.as_deref().unwrap_or_default();
                assert!(!wholly_harness_tag(text), "{name}:{:?}: harness text as the user: {text:.80}", e.source_line);
            }
            if let Some(previous) = claude_ids.insert(s.id.clone(), path.clone()) {
                panic!("session {} comes from both {} and {}", s.id, previous.display(), path.display());
            }
        }
        let file_name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(agent) = file_name.strip_prefix("agent-").and_then(|n| n.strip_suffix(".jsonl")) {
            assert_eq!(parsed.sessions.len(), 1, "{name}");
            let s = &parsed.sessions[0];
            let sid = recs.iter().find_map(|(_, o)| o.get("sessionId").and_then(Value::as_str)).unwrap();
            let agent_id = recs.iter().find_map(|(_, o)| o.get("agentId").and_then(Value::as_str)).unwrap_or(agent);
            assert_eq!(s.id, format!("{sid}/agent-{agent_id}"), "{name}");
            assert_eq!(s.parent.as_deref(), Some(sid), "{name}");
            assert_eq!(s.counterpart, Some(Counterpart::Agent), "{name}");
            let sub = s.subagent.as_ref().unwrap();
            assert_eq!(sub.agent_id, agent_id);
            assert_eq!(sub.compaction, agent_id.starts_with("acompact"));
            if let Some(meta) = &meta {
                let meta: Value = serde_json::from_slice(meta).unwrap();
                assert_eq!(sub.agent_type.as_deref(), meta["agentType"].as_str(), "{name}");
                assert_eq!(sub.description.as_deref(), meta["description"].as_str(), "{name}");
            }
            children.insert(s.id.clone());
        } else {
            for s in &parsed.sessions {
                assert_eq!((s.parent.as_ref(), s.counterpart), (None, Some(Counterpart::Operator)), "{name}");
            }
            spawned.extend(parsed.spawns.iter().map(|sp| (sp.child.clone(), path.clone())));
        }
    }
    // A parent's Task/Agent result that names an agent whose file is in the
    // same project folder points at that file's session.
    for (child, parent_file) in &spawned {
        let folder = parent_file.parent().unwrap();
        let agent = child.rsplit("/agent-").next().unwrap();
        let exists = all
            .iter()
            .any(|p| p.starts_with(folder) && p.file_name().unwrap() == format!("agent-{agent}.jsonl").as_str());
        if exists {
            assert!(children.contains(child), "{child} spawned in {} is not a child session", parent_file.display());
        }
    }

    println!("| source | files | sessions | events | refused | skipped |");
    println!("|---|---|---|---|---|---|");
    for (source, t) in &tallies {
        let refused: Vec<String> = t.refused.iter().map(|(r, n)| format!("{n}× {r}")).collect();
        let skipped: Vec<String> = t.skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "| {source} | {} | {} | {} | {} | {} |",
            t.files,
            t.sessions,
            t.events,
            if refused.is_empty() { "0".into() } else { refused.join("; ") },
            skipped.join(", ")
        );
    }
    assert!(tallies.values().map(|t| t.sessions).sum::<usize>() > 0);
}

#[test]
fn real_sidecars_are_classified_as_such() {
    let Some((_, all)) = files() else { return };
    for path in all {
        let name = path.to_string_lossy();
        if name.ends_with(".meta.json") {
            assert_eq!(classify_path(&name), PathKind::SubagentMeta, "{name}");
        }
    }
}
