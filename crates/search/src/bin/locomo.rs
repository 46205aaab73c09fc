//! LoCoMo evidence-retrieval benchmark.
//!
//! ```text
//! cargo run --release -p nocturne-search --bin locomo -- ../shared/data/locomo \
//!     [--model2vec MODEL_DIR] [--markdown-out FILE]
//! ```
//!
//! Each dialogue turn is a document (id = dia_id), one index per
//! conversation; each question is a query; recall@k = share of the
//! question's evidence turns among the top k. Category 5 (adversarial) is
//! reported separately and excluded from "overall".
//!
//! Methods: plain BM25 (the baseline: every turn on its own), and for each
//! embedder the vector side alone and the hybrid fusion — each both plain
//! and "+ context", where a turn is indexed with its neighbouring turns of
//! the same session ([`HybridIndex::build_sequences`], the library's
//! defaults for the context weights). "BM25 + context" is the BM25 side of
//! the context index alone. Nothing of the questions, answers or evidence
//! is used at index time.

use nocturne_search::locomo::{category_name, parse_conversation, recall_at, sessions, Conversation, Turn};
use nocturne_search::{Doc, Embedder, Fusion, HashingConfig, HashingEmbedder, Hit, HybridIndex, IndexConfig};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

const KS: [usize; 3] = [5, 10, 25];
const DEPTH: usize = 25;

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
    fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        for (s, x) in self.sums.iter_mut().zip(o.sums) {
            *s += x;
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

/// Per method: (conversation, category) → accumulator.
#[derive(Default)]
struct Results {
    order: Vec<String>,
    by: BTreeMap<String, BTreeMap<(String, u8), Acc>>,
}

impl Results {
    fn add(&mut self, method: &str, conv: &str, cat: u8, ranked: &[String], evidence: &[String]) {
        if !self.by.contains_key(method) {
            self.order.push(method.to_string());
        }
        self.by
            .entry(method.to_string())
            .or_default()
            .entry((conv.to_string(), cat))
            .or_default()
            .add(ranked, evidence);
    }
    /// Accumulated over the conversations/categories that pass `keep`.
    fn total(&self, method: &str, keep: impl Fn(&str, u8) -> bool) -> Acc {
        let mut a = Acc::default();
        for ((c, cat), acc) in self.by.get(method).into_iter().flatten() {
            if keep(c, *cat) {
                a.merge(acc);
            }
        }
        a
    }
}

fn ids(hits: Vec<Hit>) -> Vec<String> {
    hits.into_iter().map(|h| h.id).collect()
}

/// How the speaker of a turn is indexed.
#[derive(Clone, Copy, PartialEq)]
enum Speaker {
    /// `speaker: content` as the turn's text.
    Text,
    /// Content only; the speaker as metadata (BM25 at the context weight).
    Meta,
    /// Content only.
    Drop,
}

type MakeEmbedder<'a> = &'a dyn Fn(&[&str]) -> Arc<dyn Embedder>;

/// `make` gives the embedder for a conversation from its turn texts (the
/// corpus statistics of an idf-fitted hashing embedder; others ignore them).
fn run(
    convs: &[Conversation],
    id: &str,
    make: MakeEmbedder,
    config: &IndexConfig,
    speaker: Speaker,
    with_bm25: bool,
    res: &mut Results,
) -> Result<(), Box<dyn std::error::Error>> {
    let now = OffsetDateTime::UNIX_EPOCH;
    let doc =
        |id: &str, text: &str| Doc { id: id.into(), text: text.into(), priority: 0, updated_at: None, kind_rank: 0 };
    for conv in convs {
        let corpus: Vec<&str> = conv.turns.iter().map(|t| t.text.as_str()).collect();
        let embedder = make(&corpus);
        let embedder = embedder.as_ref();
        // The baselines index `speaker: content`, as before.
        let docs: Vec<Doc> = conv.turns.iter().map(|t| doc(&t.dia_id, &t.text)).collect();
        let turn = |t: &Turn| match speaker {
            Speaker::Text => (doc(&t.dia_id, &t.text), String::new()),
            Speaker::Meta => (doc(&t.dia_id, &t.content), t.speaker.clone()),
            Speaker::Drop => (doc(&t.dia_id, &t.content), String::new()),
        };
        let seqs: Vec<Vec<(Doc, String)>> =
            sessions(&conv.turns).into_iter().map(|s| s.into_iter().map(turn).collect()).collect();
        let plain = HybridIndex::build(embedder, IndexConfig { context_window: 0, ..config.clone() }, docs)?;
        let ctx = HybridIndex::build_sequences_with_meta(embedder, config.clone(), seqs)?;
        let qtexts: Vec<&str> = conv.questions.iter().map(|q| q.question.as_str()).collect();
        let qvecs = embedder.embed(&qtexts)?;
        let name = conv.name.as_str();
        for (q, qv) in conv.questions.iter().zip(&qvecs) {
            let (c, ev) = (q.category, &q.evidence);
            if with_bm25 {
                res.add("BM25", name, c, &ids(plain.search_bm25_only(&q.question, DEPTH)), ev);
                res.add("BM25 + context", name, c, &ids(ctx.search_bm25_only(&q.question, DEPTH)), ev);
            }
            res.add(&format!("vector ({id})"), name, c, &ids(plain.search_vector_only(qv, DEPTH)?), ev);
            res.add(&format!("vector ({id}) + context"), name, c, &ids(ctx.search_vector_only(qv, DEPTH)?), ev);
            res.add(&format!("hybrid ({id})"), name, c, &ids(plain.search(&q.question, qv, DEPTH, now)?), ev);
            res.add(&format!("hybrid ({id}) + context"), name, c, &ids(ctx.search(&q.question, qv, DEPTH, now)?), ev);
        }
    }
    Ok(())
}

/// The overall, per-category and per-conversation tables as markdown.
fn tables(res: &Results, convs: &[Conversation]) -> String {
    let mut out = String::new();
    let cats: Vec<u8> = {
        let mut v: Vec<u8> = res
            .by
            .values()
            .flat_map(|m| m.keys().map(|(_, c)| *c))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        v.sort_unstable();
        v
    };
    let core = |c: u8| (1..=4).contains(&c);
    let _ = writeln!(out, "Overall (categories 1–4), evidence recall@k:\n");
    let _ = writeln!(out, "| method | questions | R@5 | R@10 | R@25 |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for m in &res.order {
        let a = res.total(m, |_, c| core(c));
        let _ = writeln!(out, "| {m} | {} | {:.1} | {:.1} | {:.1} |", a.n, a.pct(0), a.pct(1), a.pct(2));
    }
    let _ = writeln!(out, "\nPer category, evidence recall@10 (5 adversarial is excluded from the overall figure):\n");
    let mut head = String::from("| method |");
    let mut rule = String::from("|---|");
    for c in &cats {
        let n = res.order.first().map_or(0, |m| res.total(m, |_, x| x == *c).n);
        let _ = write!(head, " {c} {} ({n}) |", category_name(*c));
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for m in &res.order {
        let mut line = format!("| {m} |");
        for c in &cats {
            let _ = write!(line, " {:.1} |", res.total(m, |_, x| x == *c).pct(1));
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "\nPer conversation, evidence recall@10 (categories 1–4):\n");
    let mut head = String::from("| method |");
    let mut rule = String::from("|---|");
    for c in convs {
        let n = res.order.first().map_or(0, |m| res.total(m, |x, k| x == c.name && core(k)).n);
        let _ = write!(head, " {} ({n}) |", c.name);
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for m in &res.order {
        let mut line = format!("| {m} |");
        for c in convs {
            let _ = write!(line, " {:.1} |", res.total(m, |x, k| x == c.name && core(k)).pct(1));
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

const USAGE: &str = "usage: locomo DATA_DIR [--model2vec MODEL_DIR] [--markdown-out FILE] \
[--fusion rrf|convex] [--vector-weight W] [--rrf-k K] [--context-weight W] [--context-vector-weight W] [--context-window N] \
[--hashing-idf] [--speaker text|meta|drop] [--char-weight W] [--bigram-weight W]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut model2vec: Option<PathBuf> = None;
    let mut markdown_out: Option<PathBuf> = None;
    let mut config = IndexConfig::sessions();
    let mut hcfg = HashingConfig::default();
    let mut speaker = Speaker::Text;
    let mut hashing_idf = false;
    let num = |v: Option<String>| -> Result<f32, Box<dyn std::error::Error>> { Ok(v.ok_or(USAGE)?.parse()?) };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model2vec" => model2vec = Some(args.next().ok_or(USAGE)?.into()),
            "--markdown-out" => markdown_out = Some(args.next().ok_or(USAGE)?.into()),
            // Knobs for experiments (defaults are the library defaults).
            "--vector-weight" => config.vector_weight = num(args.next())?,
            "--fusion" => {
                config.fusion = match args.next().as_deref() {
                    Some("rrf") => Fusion::Rrf,
                    Some("convex") => Fusion::Convex,
                    _ => return Err(USAGE.into()),
                }
            }
            "--rrf-k" => config.rrf_k = num(args.next())?,
            "--context-weight" => config.context_weight = num(args.next())?,
            "--context-vector-weight" => config.context_vector_weight = num(args.next())?,
            "--context-window" => config.context_window = num(args.next())? as usize,
            "--hashing-idf" => hashing_idf = true,
            "--speaker" => {
                speaker = match args.next().as_deref() {
                    Some("text") => Speaker::Text,
                    Some("meta") => Speaker::Meta,
                    Some("drop") => Speaker::Drop,
                    _ => return Err(USAGE.into()),
                }
            }
            "--char-weight" => hcfg.char_weight = num(args.next())?,
            "--bigram-weight" => hcfg.bigram_weight = num(args.next())?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}").into()),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.ok_or(USAGE)?;
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

    let mut res = Results::default();
    let hashing = Arc::new(HashingEmbedder::with_config(hcfg)?);
    let hid = hashing.id();
    run(&convs, &hid, &|_| hashing.clone(), &config, speaker, true, &mut res)?;
    if hashing_idf {
        run(&convs, &format!("{hid}+idf"), &|c| Arc::new(hashing.fit_idf(c)), &config, speaker, false, &mut res)?;
    }
    if let Some(m) = model2vec {
        #[cfg(feature = "model2vec")]
        {
            let e: Arc<dyn Embedder> = Arc::new(nocturne_search::Model2VecEmbedder::from_dir(&m)?);
            run(&convs, &e.id(), &|_| e.clone(), &config, speaker, false, &mut res)?;
        }
        #[cfg(not(feature = "model2vec"))]
        return Err(format!("--model2vec {} needs --features model2vec", m.display()).into());
    }

    let md = tables(&res, &convs);
    print!("{md}");
    if let Some(path) = markdown_out {
        let c = &config;
        let header = format!(
            "LoCoMo evidence retrieval: {} conversations, {turns} turns, {qs} questions; one index per conversation. \
             Context: {} neighbour turn(s) on each side within the session, BM25 context weight {}, \
             neighbour vector weight {}; fusion {} (k = {}), vector weight {}. Plain rows: the same without context.\n\n",
            convs.len(),
            c.context_window,
            c.context_weight,
            c.context_vector_weight,
            match c.fusion {
                Fusion::Rrf => "RRF",
                Fusion::Convex => "convex",
            },
            c.rrf_k,
            c.vector_weight
        );
        std::fs::write(&path, header + &md)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
