//! Quality on generated corpora: recall of planted patterns and junk rate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{Op, OpKind, Proposal};
use nocturne_corpus::{generate, CorpusSpec, NoiseKind, PatternKind, PlantedPattern};
use nocturne_dream::{dream, DreamConfig, SessionOutcome, Snapshot};

fn contains_all(text: &str, terms: &[String]) -> bool {
    let t = text.to_lowercase();
    terms.iter().all(|k| t.contains(&k.to_lowercase()))
}

fn found(p: &PlantedPattern, ops: &[Op]) -> bool {
    let targets = |o: &Op| p.memory_ids.iter().all(|id| o.targets.contains(id));
    match p.kind {
        PatternKind::Mistake | PatternKind::Procedure | PatternKind::Preference if !p.memory_ids.is_empty() => {
            ops.iter().any(|o| o.op == OpKind::Promote && targets(o))
        }
        PatternKind::Mistake => ops
            .iter()
            .any(|o| o.op == OpKind::Create && o.kind.as_str() == "mistake" && contains_all(&o.text, &p.key_terms)),
        PatternKind::Procedure => ops
            .iter()
            .any(|o| o.op == OpKind::Create && o.kind.as_str() == "procedure" && contains_all(&o.text, &p.key_terms)),
        PatternKind::Preference => ops
            .iter()
            .any(|o| o.op == OpKind::Create && o.kind.as_str() == "preference" && contains_all(&o.text, &p.key_terms)),
        PatternKind::Duplicate => ops.iter().any(|o| o.op == OpKind::Merge && targets(o)),
        PatternKind::Outdated => ops.iter().any(|o| matches!(o.op, OpKind::Retire | OpKind::Update) && targets(o)),
        PatternKind::Useful => ops.iter().any(|o| o.op == OpKind::Promote && targets(o)),
        PatternKind::Stale => ops.iter().any(|o| o.op == OpKind::Demote && targets(o)),
        PatternKind::Caution => ops.iter().any(|o| {
            o.op == OpKind::Create
                && o.kind.as_str() == "mistake"
                && o.text.starts_with("Caution")
                && contains_all(&o.text, &p.key_terms)
        }),
    }
}

/// A created memory is legitimate when it matches a planted pattern (only
/// the first create per pattern: see `score`).
fn legit(o: &Op, patterns: &[PlantedPattern]) -> bool {
    patterns.iter().any(|p| {
        let kind = match p.kind {
            PatternKind::Mistake | PatternKind::Caution => "mistake",
            PatternKind::Procedure => "procedure",
            PatternKind::Preference => "preference",
            _ => return false,
        };
        p.memory_ids.is_empty() && o.kind.as_str() == kind && contains_all(&o.text, &p.key_terms)
    })
}

struct Score {
    recall: f64,
    junk: f64,
    creates: usize,
    missed: Vec<String>,
    junk_texts: Vec<String>,
}

fn score(seed: u64, sessions: usize) -> (Score, Proposal, nocturne_corpus::Corpus) {
    score_spec(&CorpusSpec { seed, sessions, ..CorpusSpec::default() })
}

fn score_spec(spec: &CorpusSpec) -> (Score, Proposal, nocturne_corpus::Corpus) {
    let seed = spec.seed;
    let corpus = generate(spec);
    let mut snap = Snapshot::from_new_sessions(7, &corpus.sessions, corpus.memories.clone(), &corpus.now);
    snap.outcomes = corpus
        .outcomes
        .iter()
        .map(|(k, v)| (k.clone(), SessionOutcome { score: *v, label: format!("{v:.2}") }))
        .collect();
    let cfg = DreamConfig { now: corpus.now.clone(), ..DreamConfig::default() };
    let p = dream(&snap, &cfg, &format!("q{seed}")).unwrap();
    let pats = &corpus.labels.patterns;
    let hit: Vec<bool> = pats.iter().map(|x| found(x, &p.ops)).collect();
    let missed = pats.iter().zip(&hit).filter(|(_, h)| !**h).map(|(x, _)| x.id.clone()).collect();
    let creates: Vec<&Op> = p.ops.iter().filter(|o| o.op == OpKind::Create).collect();
    // A create is junk when it matches no planted pattern, or repeats a
    // pattern another create already covers.
    let mut covered = std::collections::BTreeSet::new();
    let mut junk = Vec::new();
    for o in &creates {
        match pats.iter().position(|x| legit(o, std::slice::from_ref(x))) {
            Some(i) if covered.insert(i) => {}
            _ => junk.push(o.text.clone()),
        }
    }
    let s = Score {
        recall: hit.iter().filter(|h| **h).count() as f64 / pats.len() as f64,
        junk: if creates.is_empty() { 0.0 } else { junk.len() as f64 / creates.len() as f64 },
        creates: creates.len(),
        missed,
        junk_texts: junk,
    };
    (s, p, corpus)
}

#[test]
fn recall_and_junk_on_generated_corpora() {
    let mut total_recall = 0.0;
    let mut total_junk = 0.0;
    let seeds = [1u64, 2, 3, 42, 2026];
    println!("| seed | sessions | ops | creates | recall | junk | missed |");
    println!("|---|---|---|---|---|---|---|");
    for (k, seed) in seeds.iter().enumerate() {
        let sessions = [120, 150, 200, 100, 300][k];
        let (s, p, corpus) = score(*seed, sessions);
        let pats = &corpus.labels.patterns;
        println!(
            "| {seed} | {sessions} | {} | {} | {:.3} | {:.3} | {:?} |",
            p.ops.len(),
            s.creates,
            s.recall,
            s.junk,
            s.missed
        );
        let expected_target = |o: &Op| {
            pats.iter().any(|x| !x.memory_ids.is_empty() && x.memory_ids.iter().any(|id| o.targets.contains(id)))
        };
        for o in p.ops.iter().filter(|o| o.op != OpKind::Create && !expected_target(o)) {
            println!("    unexpected {} {}: {}", o.op.as_str(), o.kind, o.text);
        }
        for j in &s.junk_texts {
            println!("    junk: {j}");
        }
        if std::env::var("QREPORT").is_ok() && *seed == 1 {
            println!("{}", nocturne_dream::render_markdown(&p));
        }
        // The proposal applies cleanly: no op conflicts with another.
        let current: std::collections::BTreeMap<String, nocturne_core::Memory> =
            corpus.memories.iter().map(|m| (m.id.clone(), m.clone())).collect();
        let refs: Vec<&Op> = p.ops.iter().collect();
        assert!(nocturne_core::proposal::plan_ops(&refs, &current, &corpus.now, "q").is_ok());
        // Hard guarantees on every corpus.
        let all_text: Vec<String> = p
            .ops
            .iter()
            .flat_map(|o| {
                std::iter::once(o.text.clone())
                    .chain(std::iter::once(o.rationale.clone()))
                    .chain(o.evidence.iter().map(|e| e.quote.clone()))
            })
            .collect();
        for secret in &corpus.labels.secrets {
            assert!(all_text.iter().all(|t| !t.contains(secret.as_str())), "secret {secret} leaked");
        }
        for n in &corpus.labels.noise {
            if matches!(n.kind, NoiseKind::Poisoning | NoiseKind::OneOffMistake | NoiseKind::OneOffPreference) {
                let leaked = p.ops.iter().any(|o| o.op == OpKind::Create && contains_all(&o.text, &n.key_terms));
                assert!(!leaked, "noise {:?} {:?} became a memory", n.kind, n.key_terms);
            }
        }
        for o in &p.ops {
            assert!(!o.evidence.is_empty(), "op {} has no evidence", o.n);
            assert!((0.0..=1.0).contains(&o.confidence));
            if matches!(o.op, OpKind::Create) {
                // Mistakes and operator corrections (category mistake) need 2.
                let least = if o.kind.as_str() == "mistake" || o.pass == "corrections" { 2 } else { 3 };
                assert!(o.support >= least, "op {} {} support {}", o.n, o.kind, o.support);
            }
        }
        total_recall += s.recall;
        total_junk += s.junk;
    }
    let n = seeds.len() as f64;
    println!("mean recall {:.3}, mean junk {:.3}", total_recall / n, total_junk / n);
    assert!(total_recall / n >= 0.9, "recall {:.3}", total_recall / n);
    assert!(total_junk / n <= 0.05, "junk {:.3}", total_junk / n);
}

/// The same corpora with outcomes attached (and a workflow planted in
/// sessions that fail by outcome): the failing workflow becomes a caution,
/// nothing else gets worse.
#[test]
fn recall_and_junk_with_outcomes() {
    let seeds = [1u64, 2, 3, 42, 2026];
    let (mut r, mut j) = (0.0, 0.0);
    for (k, seed) in seeds.iter().enumerate() {
        let sessions = [120, 150, 200, 100, 300][k];
        let (s, p, corpus) = score_spec(&CorpusSpec { seed: *seed, sessions, outcomes: true, ..CorpusSpec::default() });
        println!(
            "seed {seed}: recall {:.3} junk {:.3} missed {:?} junk {:?}",
            s.recall, s.junk, s.missed, s.junk_texts
        );
        let caution = corpus.labels.patterns.iter().find(|x| x.kind == PatternKind::Caution).unwrap();
        assert!(found(caution, &p.ops), "seed {seed}: no caution in {:#?}", p.ops);
        // The failing workflow is never taught as a procedure.
        assert!(
            !p.ops.iter().any(|o| o.kind.as_str() == "procedure" && contains_all(&o.text, &caution.key_terms)),
            "seed {seed}"
        );
        for o in &p.ops {
            assert!(!o.evidence.is_empty(), "op {} has no evidence", o.n);
            if o.op == OpKind::Create {
                // Mistakes and operator corrections (category mistake) need 2.
                let least = if o.kind.as_str() == "mistake" || o.pass == "corrections" { 2 } else { 3 };
                assert!(o.support >= least, "op {} {} support {}", o.n, o.kind, o.support);
            }
        }
        for secret in &corpus.labels.secrets {
            assert!(!serde_json::to_string(&p).unwrap().contains(secret.as_str()), "secret {secret} leaked");
        }
        r += s.recall;
        j += s.junk;
    }
    let n = seeds.len() as f64;
    println!("with outcomes: mean recall {:.3}, mean junk {:.3}", r / n, j / n);
    assert!(r / n >= 0.9, "recall {:.3}", r / n);
    assert!(j / n <= 0.05, "junk {:.3}", j / n);
}

/// A wider sweep (run with `--ignored`): 30 seeds, varied sizes, event
/// counts and pattern shares.
#[test]
#[ignore]
fn sweep_many_seeds() {
    let (mut r, mut j, mut n) = (0.0, 0.0, 0.0);
    for seed in 100..130u64 {
        let spec = CorpusSpec {
            seed,
            sessions: 60 + (seed as usize % 7) * 40,
            events_per_session: 30 + (seed as usize % 5) * 40,
            users: 3 + seed as usize % 9,
            pattern_share: 0.04 + (seed % 4) as f64 * 0.02,
            ..CorpusSpec::default()
        };
        let corpus = generate(&spec);
        let snap = Snapshot::from_new_sessions(7, &corpus.sessions, corpus.memories.clone(), &corpus.now);
        let cfg = DreamConfig { now: corpus.now.clone(), ..DreamConfig::default() };
        let p = dream(&snap, &cfg, "s").unwrap();
        let pats = &corpus.labels.patterns;
        let hits = pats.iter().filter(|x| found(x, &p.ops)).count();
        let creates: Vec<&Op> = p.ops.iter().filter(|o| o.op == OpKind::Create).collect();
        let mut covered = std::collections::BTreeSet::new();
        let mut junk = Vec::new();
        for o in &creates {
            match pats.iter().position(|x| legit(o, std::slice::from_ref(x))) {
                Some(i) if covered.insert(i) => {}
                _ => junk.push(o.text.clone()),
            }
        }
        let missed: Vec<&str> = pats.iter().filter(|x| !found(x, &p.ops)).map(|x| x.id.as_str()).collect();
        println!(
            "seed {seed} sessions {} events {}: recall {hits}/{} junk {}/{} missed {missed:?} junk {junk:?}",
            spec.sessions,
            spec.events_per_session,
            pats.len(),
            junk.len(),
            creates.len()
        );
        r += hits as f64 / pats.len() as f64;
        j += junk.len() as f64 / creates.len().max(1) as f64;
        n += 1.0;
    }
    println!("sweep: mean recall {:.3}, mean junk {:.3}", r / n, j / n);
    assert!(r / n >= 0.9 && j / n <= 0.05);
}
