//! Times `dream` over sessions 10/100/1000 (× 200 events) and memories
//! 100/1000/10000, medians of several runs, and duplicate detection alone
//! at 10,000 memories. Run with:
//! `cargo run --release -p nocturne-dream --example dream_scale`

use nocturne_core::Memory;
use nocturne_corpus::{bench_corpus, filler_memories, Rng};
use nocturne_dream::passes::duplicates::duplicate_groups;
use nocturne_dream::{dream, DreamConfig, Snapshot};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Filler memories plus ~1% planted paraphrase duplicates.
fn memories(n: usize, seed: u64) -> Vec<Memory> {
    let mut rng = Rng::new(seed);
    let mut out = filler_memories(&mut rng, n - n / 100, seed);
    let mut k = 0;
    while out.len() < n {
        let a = format!("Deploy service zq{k} with `make deploy-zq{k}` after the canary passes.");
        let b = format!("After the canary passes, deploy zq{k} using `make deploy-zq{k}`.");
        for t in [a, b] {
            if out.len() < n {
                if let Ok(m) = Memory::new(
                    nocturne_core::MemoryKind::fact(),
                    &t,
                    nocturne_core::Scope::org(),
                    "2026-02-20T00:00:00Z",
                    "x",
                ) {
                    out.push(m);
                }
            }
        }
        k += 1;
    }
    out
}

fn main() -> Result<(), nocturne_dream::DreamError> {
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    println!("## dream scale (release, median of {runs} runs, 200 events per session)\n");
    println!("| sessions | events | memories | median | ops |");
    println!("|---:|---:|---:|---:|---:|");
    for sessions in [10usize, 100, 1000] {
        let corpus = bench_corpus(7, sessions, 200);
        let events: usize = corpus.sessions.iter().map(|s| s.events.len()).sum();
        let base = Snapshot::from_new_sessions(1, &corpus.sessions, Vec::new(), &corpus.now);
        for mems in [100usize, 1000, 10_000] {
            let mut snap = base.clone();
            snap.memories = corpus.memories.clone();
            snap.memories.extend(memories(mems.saturating_sub(corpus.memories.len()), mems as u64));
            let cfg = DreamConfig { now: corpus.now.clone(), ..DreamConfig::default() };
            let mut times = Vec::new();
            let mut ops = 0;
            for r in 0..runs {
                let t = Instant::now();
                let p = dream(&snap, &cfg, &format!("bench{r}"))?;
                times.push(t.elapsed());
                ops = p.ops.len();
            }
            println!(
                "| {sessions} | {events} | {} | {:.1} ms | {ops} |",
                snap.memories.len(),
                median(times).as_secs_f64() * 1e3
            );
        }
    }
    let mems = memories(10_000, 99);
    let refs: Vec<&Memory> = mems.iter().collect();
    let mut times = Vec::new();
    let mut groups = 0;
    for _ in 0..runs {
        let t = Instant::now();
        groups = duplicate_groups(&refs).len();
        times.push(t.elapsed());
    }
    println!(
        "\nduplicate detection alone, 10,000 memories: median {:.1} ms, {groups} duplicate groups found (50 planted)",
        median(times).as_secs_f64() * 1e3
    );
    Ok(())
}
