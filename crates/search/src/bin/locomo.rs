//! LoCoMo evidence-retrieval benchmark.
//!
//! `cargo run --release -p nocturne-search --bin locomo -- ../shared/data/locomo [--model2vec DIR]`
//!
//! Each dialogue turn is a document (id = dia_id), one index per
//! conversation; each question is a query; recall@k = share of the
//! question's evidence turns among the top k. Category 5 (adversarial) is
//! reported separately and excluded from "overall".

use nocturne_search::locomo::{category_name, parse_conversation, recall_at, Conversation};
use nocturne_search::{Doc, Embedder, HashingConfig, HashingEmbedder, HybridIndex, IndexConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

const KS: [usize; 3] = [5, 10, 25];

#[derive(Default, Clone)]
struct Acc {
    n: usize,
    sums: [f64; 3],
}

impl Acc {
    fn add(&mut self, ranked: &[String], evidence: &[String]) {
        let mut got = [0.0; 3];
        for (g, k) in got.iter_mut().zip(KS) {
            match recall_at(ranked, evidence, k) {
                Some(r) => *g = r,
                None => return,
            }
        }
        self.n += 1;
        for (s, g) in self.sums.iter_mut().zip(got) {
            *s += g;
        }
    }
    fn pct(&self, i: usize) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            100.0 * self.sums.get(i).copied().unwrap_or(0.0) / self.n as f64
        }
    }
}

type Results = BTreeMap<String, BTreeMap<u8, Acc>>;

fn run(
    convs: &[Conversation],
    embedder: &dyn Embedder,
    config: &IndexConfig,
    with_bm25: bool,
    res: &mut Results,
) -> Result<(), Box<dyn std::error::Error>> {
    let now = OffsetDateTime::UNIX_EPOCH;
    let id = embedder.id();
    for conv in convs {
        let docs: Vec<Doc> = conv
            .turns
            .iter()
            .map(|t| Doc { id: t.dia_id.clone(), text: t.text.clone(), priority: 0, updated_at: None, kind_rank: 0 })
            .collect();
        let index = HybridIndex::build(embedder, config.clone(), docs)?;
        let qtexts: Vec<&str> = conv.questions.iter().map(|q| q.question.as_str()).collect();
        let qvecs = embedder.embed(&qtexts)?;
        for (q, qv) in conv.questions.iter().zip(&qvecs) {
            let ids = |hits: Vec<nocturne_search::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
            let depth = 25;
            if with_bm25 {
                let r = ids(index.search_bm25_only(&q.question, depth));
                res.entry("BM25".into()).or_default().entry(q.category).or_default().add(&r, &q.evidence);
            }
            let r = ids(index.search_vector_only(qv, depth)?);
            res.entry(format!("vector ({id})")).or_default().entry(q.category).or_default().add(&r, &q.evidence);
            let r = ids(index.search(&q.question, qv, depth, now)?);
            res.entry(format!("hybrid ({id})")).or_default().entry(q.category).or_default().add(&r, &q.evidence);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut model2vec: Option<PathBuf> = None;
    let mut config = IndexConfig::default();
    let mut hcfg = HashingConfig::default();
    let num = |v: Option<String>| -> Result<f32, Box<dyn std::error::Error>> { Ok(v.ok_or("missing value")?.parse()?) };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model2vec" => model2vec = args.next().map(PathBuf::from),
            // Tuning knobs (defaults are the library defaults).
            "--vector-weight" => config.vector_weight = num(args.next())?,
            "--char-weight" => hcfg.char_weight = num(args.next())?,
            "--bigram-weight" => hcfg.bigram_weight = num(args.next())?,
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.ok_or(
        "usage: locomo DATA_DIR [--model2vec MODEL_DIR] [--vector-weight W] [--char-weight W] [--bigram-weight W]",
    )?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut convs = Vec::new();
    for f in &files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        convs.push(parse_conversation(&name, &std::fs::read_to_string(f)?)?);
    }
    let turns: usize = convs.iter().map(|c| c.turns.len()).sum();
    let qs: usize = convs.iter().map(|c| c.questions.len()).sum();
    println!("LoCoMo: {} conversations, {turns} turns, {qs} questions\n", convs.len());

    let mut res = Results::new();
    let hashing = HashingEmbedder::with_config(hcfg)?;
    run(&convs, &hashing, &config, true, &mut res)?;
    if let Some(m) = model2vec {
        #[cfg(feature = "model2vec")]
        {
            let e = nocturne_search::Model2VecEmbedder::from_dir(&m)?;
            run(&convs, &e, &config, false, &mut res)?;
        }
        #[cfg(not(feature = "model2vec"))]
        return Err(format!("--model2vec {} needs --features model2vec", m.display()).into());
    }

    println!("| method | category | questions | R@5 | R@10 | R@25 |");
    println!("|---|---|---:|---:|---:|---:|");
    for (method, cats) in &res {
        let mut overall = Acc::default();
        for (c, acc) in cats {
            if *c == 5 {
                continue;
            }
            overall.n += acc.n;
            for (o, s) in overall.sums.iter_mut().zip(acc.sums) {
                *o += s;
            }
            println!(
                "| {method} | {c} {} | {} | {:.1} | {:.1} | {:.1} |",
                category_name(*c),
                acc.n,
                acc.pct(0),
                acc.pct(1),
                acc.pct(2)
            );
        }
        println!(
            "| {method} | **overall (1-4)** | {} | **{:.1}** | **{:.1}** | **{:.1}** |",
            overall.n,
            overall.pct(0),
            overall.pct(1),
            overall.pct(2)
        );
        if let Some(acc) = cats.get(&5) {
            println!(
                "| {method} | 5 adversarial (separate) | {} | {:.1} | {:.1} | {:.1} |",
                acc.n,
                acc.pct(0),
                acc.pct(1),
                acc.pct(2)
            );
        }
    }
    Ok(())
}
