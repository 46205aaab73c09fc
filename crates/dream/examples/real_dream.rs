//! The IO-free dev loop on real transcripts: parses every transcript under a
//! folder (as a folder walker would: `classify_path`, meta sidecars as
//! hints), dreams over all of them with `Snapshot::from_new_sessions`
//! (source outcomes attached) and prints the proposal; with `--expect FILE`
//! it also scores every op against a labelled expectation file of
//! `tests/real-data/expect/` (lesson / acceptable / wrong / junk, leaked
//! session-specific values). Other views: `--failures` (every failed tool
//! result), `--groups` (every error signature with its sessions and
//! recoveries), `--actions PREFIX` (the actions of the sessions whose id
//! starts with PREFIX), `--evidence` (the evidence of each op). The
//! quality suite (`crates/quality`) is the scoreboard through the service;
//! this is the quick look. Run with:
//!
//! `cargo run --release -p nocturne-dream --example real_dream -- DIR [--support N] [--expect FILE] [--project NAME] [--evidence | --failures | --groups | --actions PREFIX]`

use nocturne_core::{EventKind, NewSession, OpKind};
use nocturne_dream::{dream, DreamConfig, SessionOutcome, Snapshot};
use nocturne_ingest::{classify_path, parse_file, Format, Hints, PathKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

struct Entry {
    id: String,
    groups: Vec<Vec<String>>,
    unless: Vec<String>,
    recurring: bool,
    needs_model: bool,
    kind: String,
    projects: Vec<String>,
}

impl Entry {
    fn matches(&self, text: &str) -> bool {
        let t = text.to_lowercase();
        !self.groups.is_empty()
            && self.groups.iter().all(|g| g.iter().any(|a| t.contains(&a.to_lowercase())))
            && !self.unless.iter().any(|u| t.contains(&u.to_lowercase()))
    }
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn entries(doc: &toml::Value, key: &str) -> Vec<Entry> {
    let Some(list) = doc.get(key).and_then(|v| v.as_array()) else { return Vec::new() };
    list.iter()
        .map(|e| Entry {
            id: e.get("id").and_then(|v| v.as_str()).unwrap_or("?").to_string(),
            groups: e
                .get("match")
                .and_then(|v| v.as_array())
                .map(|gs| gs.iter().map(|g| strings(Some(g))).collect())
                .unwrap_or_default(),
            unless: strings(e.get("unless")),
            recurring: e.get("recurring").and_then(|v| v.as_bool()).unwrap_or(false),
            needs_model: e.get("needs_model").and_then(|v| v.as_bool()).unwrap_or(false),
            kind: e.get("kind").and_then(|v| v.as_str()).unwrap_or("").to_string(),
            projects: strings(e.get("projects")),
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(args.first().ok_or("usage: real_dream DIR [--support N] [--expect FILE]")?);
    let opt = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let support: u32 = opt("--support").map(|s| s.parse()).transpose()?.unwrap_or(3);
    let project = opt("--project");
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    let mut sessions: Vec<NewSession> = Vec::new();
    let mut seen = BTreeSet::new();
    for path in &files {
        let name = path.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        if let Some(p) = &project {
            if !name.contains(&format!("/{p}/")) {
                continue;
            }
        }
        let bytes = std::fs::read(path)?;
        let meta = std::fs::read(path.with_extension("meta.json")).ok();
        let Ok(parsed) = parse_file(&name, &bytes, Format::Auto, &Hints { meta, parent: None }) else { continue };
        for s in parsed.sessions {
            if seen.insert(s.id.clone()) {
                sessions.push(s);
            }
        }
    }
    let events: usize = sessions.iter().map(|s| s.events.len()).sum();
    println!("{} sessions, {events} events", sessions.len());
    if args.iter().any(|a| a == "--failures") {
        for s in &sessions {
            let calls: BTreeMap<&str, (&str, &str)> = s
                .events
                .iter()
                .filter(|e| e.kind == EventKind::ToolCall)
                .filter_map(|e| {
                    Some((
                        e.tool_use_id.as_deref()?,
                        (e.tool_name.as_deref().unwrap_or("?"), e.tool_input.as_deref().unwrap_or("")),
                    ))
                })
                .collect();
            for e in s.events.iter().filter(|e| e.kind == EventKind::ToolResult && e.is_error) {
                let (tool, input) = e.tool_use_id.as_deref().and_then(|i| calls.get(i)).copied().unwrap_or(("?", ""));
                let text: String = e.text.as_deref().unwrap_or("").lines().take(3).collect::<Vec<_>>().join(" ⏎ ");
                let input: String = input.chars().take(120).collect();
                let text: String = text.chars().take(240).collect();
                println!("{} | {tool} | {input} | {text}", s.id);
            }
        }
        return Ok(());
    }
    let mut snap = Snapshot::from_new_sessions(0, &sessions, Vec::new(), "2026-06-01T00:00:00Z");
    snap.outcomes = sessions
        .iter()
        .filter_map(|s| {
            let o = s.outcome.as_ref()?;
            Some((s.id.clone(), SessionOutcome { score: o.score, label: format!("{}", o.score) }))
        })
        .collect();
    let cfg = DreamConfig { now: "2026-06-01T00:00:00Z".into(), min_support: Some(support), ..DreamConfig::default() };
    if let Some(prefix) = opt("--actions") {
        // The actions of the sessions whose id starts with PREFIX.
        let ctx = nocturne_dream::Context::build(&snap, &cfg);
        for s in ctx.sessions.iter().filter(|s| s.id().starts_with(&prefix)) {
            println!("== {}", s.id());
            for (i, a) in s.actions.iter().enumerate() {
                println!(
                    "{i:3} {:>5} {:?} {} [{}] {:?} err={:?} rej={:?} transient={} test={}",
                    a.call_seq,
                    a.outcome,
                    a.family.as_str(),
                    a.op,
                    a.tool,
                    a.errors.first().map(|e| e.sig.key.as_str()),
                    a.rejection,
                    a.transient,
                    a.test_failure
                );
            }
        }
        return Ok(());
    }
    if args.iter().any(|a| a == "--groups") {
        // Every failure signature with its sessions and recoveries.
        let ctx = nocturne_dream::Context::build(&snap, &cfg);
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for f in &ctx.failures {
            let Some(s) = ctx.sessions.get(f.session) else { continue };
            let Some(a) = s.actions.get(f.action) else { continue };
            let key = a.errors.get(f.error).map(|e| e.sig.key.clone()).unwrap_or_default();
            let rec = f.recovery.as_ref().map_or("-".to_string(), |r| format!("{} [{}]", r.key, r.display));
            groups.entry((f.op_key.clone(), key)).or_default().push(format!(
                "{} {}",
                s.id().chars().take(12).collect::<String>(),
                rec
            ));
        }
        let mut v: Vec<_> = groups.into_iter().collect();
        v.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        for ((op, key), list) in v {
            println!("{} × {op} | {key}", list.len());
            for l in list.iter().take(6) {
                println!("      {l}");
            }
        }
        return Ok(());
    }
    let start = Instant::now();
    let p = dream(&snap, &cfg, "dev")?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let expect = opt("--expect").map(std::fs::read_to_string).transpose()?;
    let doc: Option<toml::Value> = expect.as_deref().map(toml::from_str).transpose()?;
    let lessons = doc.as_ref().map(|d| entries(d, "lesson")).unwrap_or_default();
    let lessons: Vec<Entry> = lessons
        .into_iter()
        .filter(|l| project.as_ref().is_none_or(|p| l.projects.is_empty() || l.projects.contains(p)))
        .collect();
    let acceptable = doc.as_ref().map(|d| entries(d, "acceptable")).unwrap_or_default();
    let wrong = doc.as_ref().map(|d| entries(d, "wrong")).unwrap_or_default();
    let junk = doc.as_ref().map(|d| entries(d, "junk")).unwrap_or_default();
    let mut values = Vec::new();
    let mut patterns = Vec::new();
    for s in doc.as_ref().and_then(|d| d.get("session_specific")).and_then(|v| v.as_array()).into_iter().flatten() {
        values.extend(strings(s.get("values")));
        for p in strings(s.get("patterns")) {
            patterns.push(regex::Regex::new(&p)?);
        }
    }
    let show_evidence = args.iter().any(|a| a == "--evidence");
    let mut found: BTreeSet<String> = BTreeSet::new();
    let (mut n_junk, mut n_wrong, mut n_leak, mut n_scored) = (0, 0, 0, 0);
    for o in &p.ops {
        let scored = matches!(o.op, OpKind::Create | OpKind::Update | OpKind::Merge);
        let class = if !scored || doc.is_none() {
            String::new()
        } else if let Some(w) = wrong.iter().find(|w| w.matches(&o.text)) {
            n_wrong += 1;
            format!("WRONG {}", w.id)
        } else {
            let ids: Vec<&str> = lessons.iter().filter(|l| l.matches(&o.text)).map(|l| l.id.as_str()).collect();
            if !ids.is_empty() {
                found.extend(ids.iter().map(|s| s.to_string()));
                format!("lesson {}", ids.join(","))
            } else if let Some(a) = acceptable.iter().find(|a| a.matches(&o.text)) {
                format!("acceptable {}", a.id)
            } else {
                n_junk += 1;
                format!("JUNK {}", junk.iter().find(|j| j.matches(&o.text)).map_or("", |j| j.id.as_str()))
            }
        };
        if scored {
            n_scored += 1;
        }
        let lower = o.text.to_lowercase();
        let leaks: Vec<String> = values
            .iter()
            .filter(|v| lower.contains(&v.to_lowercase()))
            .cloned()
            .chain(patterns.iter().filter_map(|r| r.find(&o.text).map(|m| m.as_str().to_string())))
            .collect();
        if !leaks.is_empty() {
            n_leak += 1;
        }
        println!(
            "#{} {} {} support {} [{}] {}{}\n    {}",
            o.n,
            o.op.as_str(),
            o.kind,
            o.support,
            o.pass,
            class,
            if leaks.is_empty() { String::new() } else { format!(" LEAK {leaks:?}") },
            o.text
        );
        if show_evidence {
            for e in &o.evidence {
                println!("      - {} {:?}: {:?}", e.session, e.events, e.quote.chars().take(160).collect::<String>());
            }
        }
    }
    if doc.is_some() {
        let rec: Vec<&Entry> = lessons.iter().filter(|l| l.recurring).collect();
        let det: Vec<&Entry> = rec.iter().copied().filter(|l| !l.needs_model).collect();
        let hit = |v: &[&Entry]| v.iter().filter(|l| found.contains(&l.id)).count();
        println!(
            "recurring found {}/{} (deterministic {}/{}, mistakes {}/{}); junk {n_junk}/{n_scored}, wrong {n_wrong}, leaked {n_leak}",
            hit(&rec),
            rec.len(),
            hit(&det),
            det.len(),
            hit(&det.iter().copied().filter(|l| l.kind == "mistake").collect::<Vec<_>>()),
            det.iter().filter(|l| l.kind == "mistake").count()
        );
        let missed: Vec<&str> = det.iter().filter(|l| !found.contains(&l.id)).map(|l| l.id.as_str()).collect();
        println!("missed (deterministic recurring): {missed:?}");
    }
    let stats: Vec<String> = p
        .stats
        .iter()
        .filter(|(k, _)| k.starts_with("guardrail") || k.starts_with("findings"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("dream {ms:.1} ms; {}", stats.join(" "));
    Ok(())
}
