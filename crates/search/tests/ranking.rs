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
