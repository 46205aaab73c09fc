//! Search latency over synthetic memory-like documents.
//!
//! `cargo run --release -p nocturne-search --example search_speed [-- 10000 100000]`
//!
//! Hybrid search, hashing embedder (256 dims), k = 10, query embedding
//! included in the timing.

use nocturne_search::{Doc, Embedder, HashingEmbedder, HybridIndex, IndexConfig};
use std::time::Instant;
use time::OffsetDateTime;

const TOPICS: &[&str] = &[
    "deploy",
    "payments",
    "database",
    "migration",
    "kubernetes",
    "cache",
    "redis",
    "postgres",
    "invoice",
    "login",
    "oauth",
    "token",
    "rollback",
    "pipeline",
    "release",
    "monitoring",
    "alert",
    "latency",
    "backup",
    "schema",
    "frontend",
    "react",
    "typescript",
    "rust",
    "python",
    "docker",
    "terraform",
    "staging",
    "production",
    "review",
];
const VERBS: &[&str] =
    &["prefers", "avoids", "always runs", "never skips", "requires", "documents", "breaks", "fixes", "tests", "checks"];
const EXTRA: &[&str] = &[
    "before merging",
    "on fridays",
    "after the outage",
    "for the checkout team",
    "in the nightly job",
    "when traffic spikes",
    "with feature flags",
    "behind the load balancer",
    "during code review",
    "at month end",
];

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn doc_text(r: &mut Rng, i: usize) -> String {
    let (a, b) = (r.pick(TOPICS), r.pick(TOPICS));
    format!(
        "The {a} service {} the {b} step {} (ticket {}-{}); user{} mentioned {} {}.",
        r.pick(VERBS),
        r.pick(EXTRA),
        a.to_uppercase(),
        r.next() % 10_000,
        i % 500,
        r.pick(TOPICS),
        r.pick(EXTRA)
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = {
        let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
        if a.is_empty() {
            vec![10_000, 100_000]
        } else {
            a
        }
    };
    let emb = HashingEmbedder::new();
    let now = OffsetDateTime::now_utc();
    println!("| docs | build (embed + index) | index memory (approx.) | hybrid p50 | hybrid p99 | mean | BM25-only p50 | vector-only p50 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
        let docs: Vec<Doc> = (0..n)
            .map(|i| Doc {
                id: format!("m{i}"),
                text: doc_text(&mut r, i),
                priority: (r.next() % 7) as i32 - 3,
                updated_at: Some(format!("2025-{:02}-{:02}T12:00:00Z", 1 + r.next() % 12, 1 + r.next() % 28)),
                kind_rank: (r.next() % 4) as u8,
            })
            .collect();
        let t = Instant::now();
        let index = HybridIndex::build(&emb, IndexConfig::default(), docs)?;
        let build = t.elapsed().as_secs_f64();
        let queries: Vec<String> = (0..300)
            .map(|_| format!("how does {} handle {} {}", r.pick(TOPICS), r.pick(TOPICS), r.pick(EXTRA)))
            .collect();
        for q in queries.iter().take(20) {
            index.search_with(&emb, q, 10, now)?; // warm-up
        }
        let mut lat = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            let hits = index.search_with(&emb, q, 10, now)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(hits.len(), 10);
        }
        lat.sort_by(f64::total_cmp);
        let (mut lb, mut lv) = (Vec::new(), Vec::new());
        for q in &queries {
            let t = Instant::now();
            index.search_bm25_only(q, 10);
            lb.push(t.elapsed().as_secs_f64() * 1e3);
            let v = emb.embed(&[q.as_str()])?.remove(0);
            let t = Instant::now();
            index.search_vector_only(&v, 10)?;
            lv.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lb.sort_by(f64::total_cmp);
        lv.sort_by(f64::total_cmp);
        let mean = lat.iter().sum::<f64>() / lat.len() as f64;
        println!(
            "| {n} | {build:.2} s | {:.1} MiB | {:.2} ms | {:.2} ms | {mean:.2} ms | {:.2} ms | {:.2} ms |",
            index.approx_memory_bytes() as f64 / (1024.0 * 1024.0),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lb, 0.5),
            percentile(&lv, 0.5)
        );
    }
    println!("\nembedder: {} ({} dims), k = 10, {} rayon threads", emb.id(), emb.dim(), rayon::current_num_threads());
    Ok(())
}
