//! Quality on the second generator style (`Style::Monorepo`): other
//! commands, tools, input keys and wordings than the classic bank, memory
//! duplicates in groups of three with look-alikes that must stay apart, and
//! advice ("Use yarn to install dependencies.") the recent sessions
//! contradict. The dream gets the memories' vectors from the default
//! (hashing) embedder, as the service hands them in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{Op, OpKind, Proposal};
use nocturne_corpus::{generate, Corpus, CorpusSpec, PatternKind, PlantedPattern, Style};
use nocturne_dream::{dream, DreamConfig, SessionOutcome, Snapshot};
use nocturne_search::{Doc, Embedder, HashingEmbedder};

fn contains_all(text: &str, terms: &[String]) -> bool {
    let t = text.to_lowercase();
    terms.iter().all(|k| t.contains(&k.to_lowercase()))
}

fn found(p: &PlantedPattern, ops: &[Op]) -> bool {
    let targets = |o: &Op| p.memory_ids.iter().all(|id| o.targets.contains(id));
    let create = |kind: &str| {
        ops.iter().any(|o| o.op == OpKind::Create && o.kind.as_str() == kind && contains_all(&o.text, &p.key_terms))
    };
    match p.kind {
        PatternKind::Mistake => create("mistake"),
        PatternKind::Procedure => create("procedure"),
        PatternKind::Preference => create("preference"),
        PatternKind::Duplicate => ops.iter().any(|o| o.op == OpKind::Merge && targets(o)),
        PatternKind::Outdated => ops.iter().any(|o| matches!(o.op, OpKind::Retire | OpKind::Update) && targets(o)),
        PatternKind::Useful => ops.iter().any(|o| o.op == OpKind::Promote && targets(o)),
        PatternKind::Stale => ops.iter().any(|o| o.op == OpKind::Demote && targets(o)),
        PatternKind::Caution => ops
            .iter()
            .any(|o| o.op == OpKind::Create && o.text.starts_with("Caution") && contains_all(&o.text, &p.key_terms)),
    }
}

/// The snapshot the service would build: sessions, memories, and each
/// memory's vector from the configured embedder (here the default one).
fn snapshot(corpus: &Corpus) -> Snapshot {
    let mut snap = Snapshot::from_new_sessions(7, &corpus.sessions, corpus.memories.clone(), &corpus.now);
    let e = HashingEmbedder::default();
    let docs: Vec<Doc> = corpus.memories.iter().map(Doc::from_memory).collect();
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let vecs = e.embed(&texts).unwrap();
    snap.embedder = Some(e.id());
    snap.memory_vectors = corpus.memories.iter().map(|m| m.id.clone()).zip(vecs).collect();
    snap.outcomes = corpus
        .outcomes
        .iter()
        .map(|(k, v)| (k.clone(), SessionOutcome { score: *v, label: format!("{v:.2}") }))
        .collect();
    snap
}

struct Run {
    corpus: Corpus,
    proposal: Proposal,
    missed: Vec<String>,
    /// Creates matching no planted pattern (or repeating one): kind, text.
    junk: Vec<(String, String)>,
    creates: usize,
}

fn run(spec: &CorpusSpec) -> Run {
    let corpus = generate(spec);
    let cfg = DreamConfig { now: corpus.now.clone(), ..DreamConfig::default() };
    let proposal = dream(&snapshot(&corpus), &cfg, "m").unwrap();
    let pats = &corpus.labels.patterns;
    let missed = pats.iter().filter(|p| !found(p, &proposal.ops)).map(|p| p.id.clone()).collect();
    let creates: Vec<&Op> = proposal.ops.iter().filter(|o| o.op == OpKind::Create).collect();
    let mut covered = std::collections::BTreeSet::new();
    let mut junk = Vec::new();
    for o in &creates {
        let hit = pats.iter().position(|p| {
            let kind = match p.kind {
                PatternKind::Mistake | PatternKind::Caution => "mistake",
                PatternKind::Procedure => "procedure",
                PatternKind::Preference => "preference",
                _ => return false,
            };
            o.kind.as_str() == kind && contains_all(&o.text, &p.key_terms)
        });
        match hit {
            Some(i) if covered.insert(i) => {}
            _ => junk.push((o.kind.to_string(), o.text.clone())),
        }
    }
    Run { creates: creates.len(), corpus, proposal, missed, junk }
}

#[test]
fn the_second_style_merges_paraphrases_and_retires_contradicted_advice() {
    let seeds = [(1u64, 120usize), (2, 150), (3, 200), (42, 100), (2026, 300)];
    let (mut recall, mut junk, mut rules_junk) = (0.0, 0.0, 0usize);
    for (seed, sessions) in seeds {
        let r = run(&CorpusSpec { seed, sessions, style: Style::Monorepo, ..CorpusSpec::default() });
        let pats = &r.corpus.labels.patterns;
        let ops = &r.proposal.ops;
        println!(
            "seed {seed}: {} ops, {} creates, recall {}/{}, missed {:?}, junk {:?}",
            ops.len(),
            r.creates,
            pats.len() - r.missed.len(),
            pats.len(),
            r.missed,
            r.junk
        );
        if std::env::var("QREPORT").is_ok() {
            println!("{}", nocturne_dream::render_markdown(&r.proposal));
        }
        for o in ops.iter().filter(|o| o.op != OpKind::Create) {
            println!("    {} {} {:?}: {}", o.op.as_str(), o.kind, o.targets, o.text);
        }
        // Every paraphrase group is one merge; no look-alike is merged.
        for p in pats.iter().filter(|p| p.kind == PatternKind::Duplicate) {
            assert!(found(p, ops), "seed {seed}: {} not merged", p.id);
        }
        for o in ops.iter().filter(|o| o.op == OpKind::Merge) {
            let wrong: Vec<&String> = o.targets.iter().filter(|t| r.corpus.labels.distinct.contains(t)).collect();
            assert!(wrong.is_empty(), "seed {seed}: merged a look-alike {wrong:?}: {}", o.text);
        }
        // The contradicted advice is retired or updated, with the failures as evidence, and the new practice is a lesson.
        let yarn = pats.iter().find(|p| p.id == "outdated-yarn").unwrap();
        let op = ops
            .iter()
            .find(|o| matches!(o.op, OpKind::Retire | OpKind::Update) && o.targets == yarn.memory_ids)
            .unwrap_or_else(|| panic!("seed {seed}: `Use yarn` neither retired nor updated"));
        assert!(op.rationale.contains("pnpm"), "seed {seed}: {}", op.rationale);
        assert!(op.evidence.iter().any(|e| e.quote.contains("yarn")), "seed {seed}: {:?}", op.evidence);
        assert!(
            ops.iter()
                .any(|o| o.op == OpKind::Create && o.kind.as_str() == "mistake" && o.text.contains("pnpm install")),
            "seed {seed}: no pnpm lesson"
        );
        recall += (pats.len() - r.missed.len()) as f64 / pats.len() as f64;
        junk += r.junk.len() as f64 / r.creates.max(1) as f64;
        rules_junk += r.junk.iter().filter(|(kind, _)| kind != "mistake").count();
    }
    let n = seeds.len() as f64;
    println!("monorepo style: mean recall {:.3}, mean junk {:.3}", recall / n, junk / n);
    // What this style shows of the passes is printed above: a step run as
    // `pnpm -C apps/web build` normalizes to `pnpm`, so the web-release
    // workflow has too few distinct steps; extra mistake lessons (a second
    // wording of one failure, a failure no session recovered) are the
    // mistakes pass's to judge. Preferences and workflows must hold.
    assert!(recall / n >= 0.9, "recall {:.3}", recall / n);
    assert!(rules_junk == 0, "{rules_junk} junk preference or workflow creates");
    println!("junk among mistake creates (the mistakes pass's): mean {:.3}", junk / n);
}
