//! Ranking behaviour of the hybrid index on hand-made fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_search::{Doc, Embedder, EmbedderInfo, HashingEmbedder, HybridIndex, IndexConfig, SearchError};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

fn doc(id: &str, text: &str) -> Doc {
    Doc { id: id.into(), text: text.into(), priority: 0, updated_at: None, kind_rank: 3 }
}

fn index(docs: Vec<Doc>) -> (HashingEmbedder, HybridIndex) {
    let e = HashingEmbedder::new();
    let idx = HybridIndex::build(&e, IndexConfig::default(), docs).unwrap();
    (e, idx)
}

fn ids(hits: &[nocturne_search::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn exact_term_beats_vague_match() {
    let (e, idx) = index(vec![
        doc("vague", "Be careful when shipping changes to the servers late in the week."),
        doc("exact", "Run terraform plan before terraform apply on the staging account."),
        doc("other", "The team prefers tabs over spaces in Go files."),
    ]);
    let hits = idx.search_with(&e, "terraform apply", 3, NOW).unwrap();
    assert_eq!(hits[0].id, "exact");
    assert_eq!(hits[0].parts.bm25_rank, Some(1));
    assert_eq!(hits[0].parts.vector_rank, Some(1));
    assert!(hits[0].score > hits[1].score);
}

#[test]
fn morphological_variant_found_by_vector_side_only() {
    // "deploying" stems to "deploy"; "deployment" keeps its suffix, so BM25
    // sees no shared term. The hashing embedder's character n-grams do.
    let (e, idx) = index(vec![
        doc("a", "Every deployment needs a rollback plan."),
        doc("b", "Lunch orders close at eleven."),
        doc("c", "Invoices are archived after seven years."),
    ]);
    assert!(idx.search_bm25_only("deploying", 3).is_empty());
    let hits = idx.search_with(&e, "deploying", 3, NOW).unwrap();
    assert_eq!(hits[0].id, "a");
    assert_eq!(hits[0].parts.bm25, None);
    assert_eq!(hits[0].parts.vector_rank, Some(1));
    // Honest limit: no shared characters, no match signal beyond noise.
    let q = e.embed(&["automobile"]).unwrap().remove(0);
    let car = e.embed(&["car"]).unwrap().remove(0);
    assert!(nocturne_search::cosine(&q, &car) < 0.2);
}

#[test]
fn priority_boost_orders_equal_docs() {
    let mut lo = doc("lo", "Use pnpm for the web workspace.");
    let mut hi = doc("hi", "Use pnpm for the web workspace.");
    lo.priority = 0;
    hi.priority = 3;
    // Insert the high-priority one second, so id/insertion order cannot explain the result.
    let (e, idx) = index(vec![lo, hi]);
    let hits = idx.search_with(&e, "pnpm workspace", 2, NOW).unwrap();
    assert_eq!(ids(&hits), vec!["hi", "lo"]);
    // Formula: priority_weight * clamp(priority, ±clamp) = 0.001 * 3.
    assert!((hits[0].parts.priority_boost - 0.003).abs() < 1e-6);
    assert_eq!(hits[1].parts.priority_boost, 0.0);
    // Clamped at ±5.
    let mut big = doc("big", "Use pnpm for the web workspace.");
    big.priority = 100;
    let (e, idx) = index(vec![big]);
    let h = idx.search_with(&e, "pnpm", 1, NOW).unwrap();
    assert!((h[0].parts.priority_boost - 0.005).abs() < 1e-6);
}

#[test]
fn recency_boost_orders_equal_docs() {
    let mut old = doc("old", "The staging database is reset every Monday.");
    let mut new = doc("new", "The staging database is reset every Monday.");
    old.updated_at = Some("2024-06-01T00:00:00Z".into());
    new.updated_at = Some("2025-03-03T00:00:00Z".into()); // 90 days before NOW
    let (e, idx) = index(vec![old, new]);
    let hits = idx.search_with(&e, "staging database reset", 2, NOW).unwrap();
    assert_eq!(ids(&hits), vec!["new", "old"]);
    // recency_weight * 0.5^(age/90): one half-life → 0.002.
    assert!((hits[0].parts.recency_boost - 0.002).abs() < 1e-5, "{}", hits[0].parts.recency_boost);
    assert!(hits[1].parts.recency_boost < 0.0005);
}

#[test]
fn upsert_and_remove_stay_consistent() {
    let (e, mut idx) = index(vec![
        doc("a", "Kafka topics are retained for seven days."),
        doc("b", "Grafana dashboards live in the ops folder."),
    ]);
    assert_eq!(idx.search_with(&e, "kafka retention", 1, NOW).unwrap()[0].id, "a");

    // Replace a's text: the old terms must stop matching.
    idx.upsert_with(&e, doc("a", "Postgres backups run nightly.")).unwrap();
    assert_eq!(idx.len(), 2);
    assert!(idx.search_bm25_only("kafka", 5).is_empty());
    assert_eq!(idx.search_bm25_only("postgres backups", 5)[0].id, "a");

    assert!(idx.remove("a"));
    assert!(!idx.remove("a"));
    assert_eq!(idx.len(), 1);
    assert!(idx.search_bm25_only("postgres", 5).is_empty());
    assert!(idx.search_with(&e, "postgres backups", 5, NOW).unwrap().iter().all(|h| h.id != "a"));

    // The freed slot is reused and searchable.
    idx.upsert_with(&e, doc("c", "Kafka consumers must be idempotent.")).unwrap();
    let hits = idx.search_with(&e, "kafka", 5, NOW).unwrap();
    assert_eq!(hits[0].id, "c");
    assert_eq!(idx.len(), 2);

    // Same results as an index built from scratch with the same documents.
    let (_, fresh) = index(vec![
        doc("b", "Grafana dashboards live in the ops folder."),
        doc("c", "Kafka consumers must be idempotent."),
    ]);
    for q in ["kafka", "grafana dashboards", "ops folder kafka"] {
        let a = idx.search_with(&e, q, 5, NOW).unwrap();
        let b = fresh.search_with(&e, q, 5, NOW).unwrap();
        assert_eq!(ids(&a), ids(&b), "{q}");
        for (x, y) in a.iter().zip(&b) {
            assert!((x.score - y.score).abs() < 1e-6);
        }
    }
}

#[test]
fn embedder_mismatch_refused() {
    let e = HashingEmbedder::new();
    let mut idx = HybridIndex::build(&e, IndexConfig::default(), vec![doc("a", "x y z")]).unwrap();
    let other = HashingEmbedder::with_dim(64).unwrap();
    let v = other.embed(&["hello"]).unwrap().remove(0);
    let err = idx.upsert(doc("b", "hello"), &EmbedderInfo::of(&other), v).unwrap_err();
    assert!(matches!(err, SearchError::EmbedderMismatch { .. }), "{err}");
    // Right id, wrong length.
    let err = idx.upsert(doc("b", "hello"), &EmbedderInfo::of(&e), vec![0.5; 10]).unwrap_err();
    match err {
        SearchError::EmbedderMismatch { index, given } => {
            assert_eq!(index, "hashing-v1-256 (dim 256)");
            assert!(given.contains("10"), "{given}");
        }
        other => panic!("{other}"),
    }
    // Same dim, other id.
    let fake = EmbedderInfo::new("model2vec:potion-base-8M", 256);
    assert!(matches!(idx.upsert(doc("b", "hello"), &fake, vec![0.1; 256]), Err(SearchError::EmbedderMismatch { .. })));
    assert!(matches!(idx.search_with(&other, "hello", 3, NOW), Err(SearchError::EmbedderMismatch { .. })));
    assert!(matches!(idx.search("hello", &[0.1; 3], 3, NOW), Err(SearchError::EmbedderMismatch { .. })));
    assert_eq!(idx.len(), 1);
}

#[test]
fn bad_timestamp_refused() {
    let e = HashingEmbedder::new();
    let mut d = doc("a", "x");
    d.updated_at = Some("yesterday".into());
    assert!(matches!(
        HybridIndex::build(&e, IndexConfig::default(), vec![d]),
        Err(SearchError::InvalidTimestamp { .. })
    ));
}

#[test]
fn large_index_uses_shortlist_and_stays_exact_on_top() {
    // Above the i8-scan threshold the vector side shortlists with i8 and
    // re-ranks exactly: the best hit must equal a brute-force f32 scan.
    let e = HashingEmbedder::new();
    let docs: Vec<Doc> =
        (0..20_000).map(|i| doc(&format!("d{i}"), &format!("item {i} alpha{} beta{}", i % 97, i % 89))).collect();
    let texts: Vec<String> = docs.iter().map(|d| d.text.clone()).collect();
    let idx = HybridIndex::build(&e, IndexConfig::default(), docs).unwrap();
    let q = e.embed(&["alpha42 beta17"]).unwrap().remove(0);
    let hits = idx.search_vector_only(&q, 5).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let all = e.embed(&refs).unwrap();
    let best = all.iter().map(|v| nocturne_search::cosine(v, &q)).fold(f32::MIN, f32::max);
    assert!((hits[0].score - best).abs() < 1e-5, "{} vs {best}", hits[0].score);
}

#[test]
fn neighbour_context_finds_the_answer_turn() {
    // The answer turn ("Sunday, at the lake") does not contain the query's
    // terms; its neighbour (the question it answers) does.
    let seq = |s: &str, texts: &[&str]| -> Vec<Doc> {
        texts.iter().enumerate().map(|(i, t)| doc(&format!("{s}:{i}"), t)).collect()
    };
    let sessions = vec![
        seq("s1", &["A: When is the kayaking trip?", "B: Sunday, at the lake.", "A: Great, see you."]),
        seq("s2", &["A: Lunch orders close at eleven.", "B: Invoices are archived after seven years."]),
    ];
    let e = HashingEmbedder::new();
    let plain = HybridIndex::build(&e, IndexConfig::default(), sessions.iter().flatten().cloned().collect()).unwrap();
    let ctx = HybridIndex::build_sequences(&e, IndexConfig::sessions(), sessions).unwrap();
    assert!(plain.search_bm25_only("kayaking", 5).iter().all(|h| h.id != "s1:1"));
    let bm = ctx.search_bm25_only("kayaking", 5);
    // Own occurrence first, then the neighbours through their context.
    assert_eq!(bm[0].id, "s1:0");
    assert!(bm.iter().any(|h| h.id == "s1:1"), "{:?}", ids(&bm));
    // Context never crosses sequences.
    assert!(bm.iter().all(|h| !h.id.starts_with("s2")), "{:?}", ids(&bm));
    let hits = ctx.search_with(&e, "kayaking trip", 3, NOW).unwrap();
    assert!(ids(&hits).contains(&"s1:1"), "{:?}", ids(&hits));
    assert_eq!(ctx.len(), 5);
}

#[test]
fn context_terms_weigh_less_than_own_terms() {
    let e = HashingEmbedder::new();
    let cfg = IndexConfig::sessions();
    let mut idx = HybridIndex::new(EmbedderInfo::of(&e), cfg.clone());
    let v = |t: &str| e.embed(&[t]).unwrap().remove(0);
    idx.upsert(doc("own", "ferry schedule"), &EmbedderInfo::of(&e), v("ferry schedule")).unwrap();
    idx.upsert_in_context(doc("ctx", "timetable"), "ferry", &EmbedderInfo::of(&e), v("timetable")).unwrap();
    idx.upsert(doc("none", "bicycle"), &EmbedderInfo::of(&e), v("bicycle")).unwrap();
    let hits = idx.search_bm25_only("ferry", 5);
    assert_eq!(ids(&hits), vec!["own", "ctx"]);
    assert!(hits[1].score < hits[0].score);

    // Weight 0: context is ignored, same as a plain upsert.
    let cfg0 = IndexConfig { context_weight: 0.0, ..cfg };
    let mut a = HybridIndex::new(EmbedderInfo::of(&e), cfg0.clone());
    let mut b = HybridIndex::new(EmbedderInfo::of(&e), cfg0);
    for (id, t) in [("x", "ferry schedule"), ("y", "ferry timetable")] {
        a.upsert_in_context(doc(id, t), "bicycle ferry ferry", &EmbedderInfo::of(&e), v(t)).unwrap();
        b.upsert(doc(id, t), &EmbedderInfo::of(&e), v(t)).unwrap();
    }
    assert!(a.search_bm25_only("bicycle", 5).is_empty());
    assert_eq!(a.search_bm25_only("ferry", 5), b.search_bm25_only("ferry", 5));

    // Removing a context document leaves the index as if it never was there.
    assert!(idx.remove("ctx"));
    assert_eq!(ids(&idx.search_bm25_only("ferry", 5)), vec!["own"]);
}

#[test]
fn convex_fusion_ranks_and_scales() {
    let docs = vec![
        doc("vague", "Be careful when shipping changes to the servers late in the week."),
        doc("exact", "Run terraform plan before terraform apply on the staging account."),
        doc("other", "The team prefers tabs over spaces in Go files."),
    ];
    let e = HashingEmbedder::new();
    let cfg = IndexConfig { fusion: nocturne_search::Fusion::Convex, ..IndexConfig::default() };
    let idx = HybridIndex::build(&e, cfg.clone(), docs).unwrap();
    let hits = idx.search_with(&e, "terraform apply", 3, NOW).unwrap();
    assert_eq!(hits[0].id, "exact");
    // Best on both sides: (bm25_weight * 1 + vector_weight * 1) / (rrf_k + 1).
    let top = (cfg.bm25_weight + cfg.vector_weight) / (cfg.rrf_k + 1.0);
    assert!((hits[0].parts.rrf - top).abs() < 1e-6, "{} vs {top}", hits[0].parts.rrf);
    assert!(hits.iter().all(|h| h.parts.rrf >= 0.0 && h.parts.rrf <= top + 1e-6));
}

#[test]
fn index_config_reads_older_json() {
    // Configs serialised before the context/fusion fields still load.
    let old = r#"{"bm25_k1":1.2,"bm25_b":0.75,"rrf_k":60.0,"fusion_depth":100,"bm25_weight":1.0,
        "vector_weight":0.3,"priority_weight":0.001,"priority_clamp":5,"recency_weight":0.004,"half_life_days":90.0}"#;
    let c: IndexConfig = serde_json::from_str(old).unwrap();
    assert_eq!(c, IndexConfig::default());
}
