//! The generator is reproducible, plants what its labels say, and writes
//! every importer format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::EventKind;
use nocturne_corpus::{bench_corpus, generate, write_files, CorpusSpec, NoiseKind, PatternKind};
use std::collections::BTreeSet;

#[test]
fn same_seed_same_corpus_other_seed_other_corpus() {
    let spec = CorpusSpec { seed: 5, sessions: 40, ..CorpusSpec::default() };
    assert_eq!(generate(&spec), generate(&spec));
    let other = generate(&CorpusSpec { seed: 6, ..spec.clone() });
    assert_ne!(generate(&spec).sessions, other.sessions);
}

#[test]
fn labels_point_at_real_sessions_and_memories() {
    let c = generate(&CorpusSpec { seed: 11, sessions: 80, ..CorpusSpec::default() });
    let ids: BTreeSet<&str> = c.sessions.iter().map(|s| s.id.as_str()).collect();
    let mems: BTreeSet<&str> = c.memories.iter().map(|m| m.id.as_str()).collect();
    for p in &c.labels.patterns {
        assert!(p.sessions.iter().all(|s| ids.contains(s.as_str())), "{}", p.id);
        assert!(p.memory_ids.iter().all(|m| mems.contains(m.as_str())), "{}", p.id);
        match p.kind {
            PatternKind::Mistake | PatternKind::Procedure | PatternKind::Preference => {
                assert!(p.sessions.len() >= 4, "{} planted in {} sessions", p.id, p.sessions.len());
                assert!(!p.key_terms.is_empty());
            }
            PatternKind::Duplicate => assert_eq!(p.memory_ids.len(), 2),
            _ => assert_eq!(p.memory_ids.len(), 1),
        }
    }
    let kinds: BTreeSet<String> = c.labels.patterns.iter().map(|p| format!("{:?}", p.kind)).collect();
    assert_eq!(kinds.len(), 7, "every pattern kind is planted: {kinds:?}");
    // A preference is phrased in several different ways.
    let pnpm = c.labels.patterns.iter().find(|p| p.id == "pnpm").unwrap();
    let texts: BTreeSet<String> = c
        .sessions
        .iter()
        .filter(|s| pnpm.sessions.contains(&s.id))
        .flat_map(|s| s.events.iter().filter_map(|e| e.text.clone()))
        .filter(|t| t.contains("pnpm"))
        .collect();
    assert!(texts.len() >= 3, "{texts:?}");
    // Poisoning: one session, ten statements.
    let poison = c.labels.noise.iter().find(|n| n.kind == NoiseKind::Poisoning).unwrap();
    assert_eq!(poison.sessions.len(), 1);
    // Secrets really are in the sessions.
    let all: String =
        c.sessions.iter().flat_map(|s| s.events.iter()).map(|e| format!("{:?}{:?}", e.text, e.tool_input)).collect();
    assert!(!c.labels.secrets.is_empty());
    assert!(c.labels.secrets.iter().all(|k| all.contains(k.as_str())));
    // Some sessions fail, most succeed.
    let failed = c.labels.noise.iter().find(|n| n.kind == NoiseKind::FailedSession).unwrap();
    assert!(!failed.sessions.is_empty() && failed.sessions.len() < c.sessions.len() / 2);
}

#[test]
fn sessions_are_about_the_requested_size_and_well_formed() {
    let c = bench_corpus(3, 20, 200);
    assert_eq!(c.sessions.len(), 20);
    for s in &c.sessions {
        assert!((190..=240).contains(&s.events.len()), "{} has {} events", s.id, s.events.len());
        assert_eq!(s.events[0].kind, EventKind::UserMessage);
        // Every call has exactly one result with the same id.
        let calls: Vec<_> =
            s.events.iter().filter(|e| e.kind == EventKind::ToolCall).filter_map(|e| e.tool_use_id.clone()).collect();
        let results: Vec<_> =
            s.events.iter().filter(|e| e.kind == EventKind::ToolResult).filter_map(|e| e.tool_use_id.clone()).collect();
        assert_eq!(calls, results);
        assert!(s.events.iter().all(|e| serde_json::from_str::<serde_json::Value>(&e.raw).is_ok()));
        let mut ts: Vec<_> = s.events.iter().filter_map(|e| e.timestamp.clone()).collect();
        let sorted = ts.clone();
        ts.sort();
        assert_eq!(ts, sorted, "timestamps ascend");
    }
    let formats: BTreeSet<&str> = c.sessions.iter().map(|s| s.format.as_str()).collect();
    assert_eq!(formats.len(), 4);
}

#[test]
fn files_cover_all_four_formats_and_parse() {
    let c = generate(&CorpusSpec { seed: 2, sessions: 8, events_per_session: 30, ..CorpusSpec::default() });
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&c, dir.path()).unwrap();
    assert_eq!(files.len(), 8 + 2);
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for ext in [".claude.jsonl", ".anthropic.json", ".openai.json", ".nocturne.jsonl"] {
        assert!(names.iter().any(|n| n.ends_with(ext)), "no {ext} file in {names:?}");
    }
    for p in &files {
        let text = std::fs::read_to_string(p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".jsonl") {
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            }
        } else {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if name.ends_with(".openai.json") {
                // No error flag in OpenAI format: failures must read as failures.
                for m in v["messages"].as_array().unwrap() {
                    assert!(m.get("is_error").is_none());
                }
            }
        }
        if name.ends_with(".nocturne.jsonl") {
            let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(first["nocturne"], "session");
            assert_eq!(first["version"], 1);
        }
    }
    let labels: nocturne_corpus::Labels =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels, c.labels);
    let mems: Vec<nocturne_core::Memory> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("memories.json")).unwrap()).unwrap();
    assert_eq!(mems, c.memories);
}

#[test]
fn openai_results_keep_failures_recognizable() {
    let c = generate(&CorpusSpec { seed: 4, sessions: 40, ..CorpusSpec::default() });
    let dir = tempfile::tempdir().unwrap();
    write_files(&c, dir.path()).unwrap();
    let mut failures = 0;
    for s in c.sessions.iter().filter(|s| s.format == "openai") {
        let text = std::fs::read_to_string(dir.path().join("sessions").join(format!("{}.openai.json", s.id))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let tool_texts: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .filter_map(|m| m["content"].as_str())
            .collect();
        let flagged = s.events.iter().filter(|e| e.kind == EventKind::ToolResult && e.is_error).count();
        let read_as_failed = tool_texts.iter().filter(|t| nocturne_core::failure::looks_like_failure(t)).count();
        assert!(read_as_failed >= flagged, "{}: {read_as_failed} < {flagged}", s.id);
        failures += flagged;
    }
    assert!(failures > 0);
}

#[test]
fn outcomes_are_optional_and_leave_the_rest_of_the_corpus_alone() {
    let spec = CorpusSpec { seed: 7, sessions: 60, ..CorpusSpec::default() };
    let plain = generate(&spec);
    assert!(plain.outcomes.is_empty());
    assert!(plain.labels.patterns.iter().all(|p| p.kind != PatternKind::Caution));
    let with = generate(&CorpusSpec { outcomes: true, ..spec });
    assert_eq!(with.outcomes.len(), 60);
    assert!(with.outcomes.values().all(|s| (0.0..=1.0).contains(s)));
    let caution = with.labels.patterns.iter().find(|p| p.kind == PatternKind::Caution).unwrap();
    assert!(caution.sessions.len() >= 6);
    let failed = with.labels.noise.iter().find(|n| n.kind == NoiseKind::FailedSession).unwrap();
    for s in caution.sessions.iter().chain(&failed.sessions) {
        assert!(with.outcomes[s] < 0.3, "{s} {}", with.outcomes[s]);
    }
    let workflows: BTreeSet<&String> = with
        .labels
        .patterns
        .iter()
        .filter(|p| p.kind == PatternKind::Procedure)
        .flat_map(|p| p.sessions.iter())
        .collect();
    assert!(workflows.iter().all(|s| with.outcomes[*s] >= 0.8));
    // Sessions not carrying the failing workflow are exactly as without outcomes.
    for (a, b) in plain.sessions.iter().zip(&with.sessions) {
        if !caution.sessions.contains(&a.id) {
            assert_eq!(a, b);
        } else {
            assert!(b.events.len() > a.events.len());
        }
    }
    assert_eq!(plain.memories, with.memories);
}
