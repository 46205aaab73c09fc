//! Runs the secret redactor over every string of real transcripts and
//! reports what fired, where, and how fast.
//!
//! ```sh
//! cargo run --release -p nocturne-core --example redact_scan -- ../shared/data/real-transcripts [--samples N] [--repeat N] [--raw]
//! ```
//!
//! Every top-level folder is one source. JSONL files are read line by line,
//! JSON (and `.traj`) files whole; every string value in them is one text,
//! as an event's text, tool input or output would be. Other files (Aider's
//! markdown) are one text each. With `--raw`, every line is one text, as
//! the raw source JSON kept beside each event. Samples show the text around each finding
//! with the secret itself masked to its first two characters and length,
//! so the report can be read without repeating what it found.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::secrets::{find, SecretKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "jsonl" | "json" | "traj" | "md" | "txt") {
                out.push(p);
            }
        }
    }
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn texts_of(path: &Path, raw: bool) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut out = Vec::new();
    if raw {
        // The source JSON as stored beside each event (`raw`): one line each.
        out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
        return out;
    }
    match ext {
        "jsonl" => {
            for line in text.lines() {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => strings(&v, &mut out),
                    Err(_) if !line.trim().is_empty() => out.push(line.to_string()),
                    Err(_) => {}
                }
            }
        }
        "json" | "traj" => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => strings(&v, &mut out),
            Err(_) => out.push(text),
        },
        _ => out.push(text),
    }
    out
}

/// Nanoseconds this thread has run on a CPU (Linux), so that a loaded
/// machine does not halve the figure.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

fn masked_context(text: &str, start: usize, end: usize) -> String {
    let mut a = start.saturating_sub(50);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut z = (end + 30).min(text.len());
    while !text.is_char_boundary(z) {
        z += 1;
    }
    let secret = &text[start..end];
    let shown: String = secret.chars().take(2).collect();
    format!("{}⟦{shown}…{}⟧{}", &text[a..start], secret.len(), &text[end..z]).replace('\n', "⏎")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data/real-transcripts".into()));
    let (mut samples, mut repeat, mut raw) = (5usize, 3usize, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--samples" => samples = args.next().and_then(|n| n.parse().ok()).unwrap_or(samples),
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(repeat),
            "--raw" => raw = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    println!("| source | texts | MB | findings | by rule | MB/s (wall) | MB/s (CPU) |");
    println!("|---|---:|---:|---:|---|---:|---:|");
    let mut all_samples = Vec::new();
    for src in &sources {
        let mut fs = Vec::new();
        files(src, &mut fs);
        let texts: Vec<String> = fs.iter().flat_map(|f| texts_of(f, raw)).collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        let mut by_kind: BTreeMap<SecretKind, usize> = BTreeMap::new();
        let mut n = 0;
        let started = Instant::now();
        let cpu_start = cpu_ns();
        for round in 0..repeat {
            for t in &texts {
                let found = find(t);
                if round == 0 {
                    for f in &found {
                        n += 1;
                        *by_kind.entry(f.kind).or_default() += 1;
                        all_samples.push((
                            src.file_name().unwrap().to_string_lossy().to_string(),
                            f.kind,
                            masked_context(t, f.start, f.end),
                        ));
                    }
                }
            }
        }
        let secs = started.elapsed().as_secs_f64() / repeat as f64;
        let cpu = match (cpu_start, cpu_ns()) {
            (Some(a), Some(b)) if b > a => {
                format!("{:.0}", bytes as f64 / 1e6 / ((b - a) as f64 / 1e9 / repeat as f64))
            }
            _ => "-".into(),
        };
        let mb = bytes as f64 / 1e6;
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
        println!(
            "| {} | {} | {mb:.1} | {n} | {} | {:.0} | {cpu} |",
            src.file_name().unwrap().to_string_lossy(),
            texts.len(),
            kinds.join(", "),
            mb / secs
        );
    }
    println!();
    let mut shown: BTreeMap<(String, SecretKind), usize> = BTreeMap::new();
    for (src, kind, ctx) in &all_samples {
        let k = shown.entry((src.clone(), *kind)).or_default();
        if *k < samples {
            *k += 1;
            println!("{src} {}: {ctx}", kind.as_str());
        }
    }
}
