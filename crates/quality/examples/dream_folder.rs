//! Dreams over a folder of transcripts without a store (so every field the
//! importers set reaches the engine), and prints the ops: a development
//! aid for the dream passes.
//!
//! ```sh
//! cargo run -p nocturne-quality --example dream_folder -- DIR [--min-support N] [--agent NAME] [--verbose]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_ingest::{classify_path, parse_file, Format, Hints, PathKind};
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().expect("a folder"));
    let min_support =
        args.iter().position(|a| a == "--min-support").and_then(|i| args.get(i + 1)).map(|v| v.parse().unwrap());
    let verbose = args.iter().any(|a| a == "--verbose");
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let mut sessions = Vec::new();
    for f in &files {
        let name = f.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        let bytes = std::fs::read(f).unwrap();
        let meta = std::fs::read(f.with_extension("meta.json")).ok();
        if let Ok(p) = parse_file(&name, &bytes, Format::Auto, &Hints { meta, parent: None }) {
            sessions.extend(p.sessions);
        }
    }
    if let Some(a) = args.iter().position(|a| a == "--agent").and_then(|i| args.get(i + 1)) {
        for s in &mut sessions {
            s.agent = Some(a.clone());
        }
    }
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    sessions.dedup_by(|a, b| a.id == b.id);
    let snap = nocturne_dream::Snapshot::from_new_sessions(1, &sessions, vec![], "2030-01-01T00:00:00Z");
    let spec = nocturne_dream::DreamSpec { min_support, ..Default::default() };
    let cfg = spec.config("2030-01-01T00:00:00Z");
    let t = std::time::Instant::now();
    let p = nocturne_dream::dream(&snap, &cfg, "d").unwrap();
    println!("{} sessions, {} ops in {:?}", sessions.len(), p.ops.len(), t.elapsed());
    for o in &p.ops {
        println!("#{} {} {} [{}] support {} · {}", o.n, o.op.as_str(), o.kind, o.scope, o.support, o.text);
        if verbose {
            println!("    why: {}", o.rationale);
            for e in o.evidence.iter().take(3) {
                println!("    - {} {:?}: {}", e.session, e.events, e.quote.replace('\n', " ⏎ "));
            }
        }
    }
    let stats: Vec<String> = p.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("stats: {}", stats.join(", "));
}
