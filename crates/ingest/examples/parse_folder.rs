//! Parses every transcript under a folder the way a caller walking folders
//! would (names from `classify_path`, sub-agent meta sidecars as hints) and
//! prints, per top-level sub-folder, files, sessions, events, refusals and
//! skipped records, with the time spent parsing (IO excluded).
//!
//! `cargo run --release -p nocturne-ingest --example parse_folder -- DIR [--repeat N] [--refusals]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nocturne_ingest::{classify_path, parse_file, Format, Hints, PathKind};

#[derive(Default)]
struct Tally {
    files: usize,
    sessions: usize,
    events: usize,
    records: u64,
    bytes: usize,
    refused: BTreeMap<String, usize>,
    skipped: BTreeMap<String, u64>,
    formats: BTreeMap<String, usize>,
    time: Duration,
}

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(args.first().ok_or("usage: parse_folder DIR [--repeat N] [--refusals]")?);
    let repeat: u32 = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args.get(i + 1).ok_or("--repeat N")?.parse()?,
        None => 1,
    };
    let show_refusals = args.iter().any(|a| a == "--refusals");
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    for path in &files {
        let name = path.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        let source = path
            .strip_prefix(&root)?
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(path)?;
        let meta_path = path.with_extension("meta.json");
        let hints = Hints { meta: std::fs::read(&meta_path).ok(), parent: None };
        let t = by_source.entry(source).or_default();
        t.files += 1;
        t.bytes += bytes.len();
        let start = Instant::now();
        let mut result = parse_file(&name, &bytes, Format::Auto, &hints);
        for _ in 1..repeat {
            result = parse_file(&name, &bytes, Format::Auto, &hints);
        }
        t.time += start.elapsed() / repeat;
        match result {
            Ok(p) => {
                t.sessions += p.sessions.len();
                t.events += p.sessions.iter().map(|s| s.events.len()).sum::<usize>();
                t.records += p.report.records;
                for s in &p.sessions {
                    *t.formats.entry(s.format.clone()).or_default() += 1;
                }
                for (k, v) in p.report.skipped {
                    *t.skipped.entry(k).or_default() += v;
                }
                for n in p.report.notes {
                    println!("note {name}: {n}");
                }
            }
            Err(e) => {
                if show_refusals {
                    println!("refused {e}");
                }
                *t.refused.entry(e.reason()).or_default() += 1;
            }
        }
    }
    println!("| source | files | sessions | events | records | MB | parse ms | refused | skipped |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (source, t) in &by_source {
        let refused: Vec<String> = t.refused.iter().map(|(r, n)| format!("{n}× {r}")).collect();
        let skipped: Vec<String> = t.skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "| {source} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} |",
            t.files,
            t.sessions,
            t.events,
            t.records,
            t.bytes as f64 / 1e6,
            t.time.as_secs_f64() * 1e3,
            if refused.is_empty() { "0".to_string() } else { refused.join("; ") },
            skipped.join(", ")
        );
    }
    Ok(())
}
