//! Retrieval through the service: ranking, index consistency with the
//! store, embedder mismatch, budgets and usage events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_service::{Access, Clock, ContextRequest, MemoryEdit, NewMemory, Service};
use nocturne_store::StoredVector;
use nocturne_store_sqlite::SqliteStore;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn service() -> Service {
    let n = Arc::new(AtomicU64::new(0));
    let clock: Clock = Arc::new(move || format!("2026-11-01T00:00:{:02}Z", n.fetch_add(1, Ordering::SeqCst) % 60));
    Service::with_store(Arc::new(SqliteStore::open_in_memory().unwrap()), clock)
}

fn add(svc: &Service, kind: &str, text: &str, priority: i32, scope: Option<&str>) -> String {
    let m =
        NewMemory { kind: kind.into(), text: text.into(), tags: vec![], scope: scope.map(str::to_string), priority };
    svc.scoped(Access::local_as("user:t")).memory_add(&m, None).unwrap().0.id
}

fn ids(svc: &Service, q: &str) -> Vec<String> {
    svc.scoped(Access::local()).memory_search(q, 10, None, None).unwrap().into_iter().map(|h| h.id).collect()
}

#[test]
fn an_exact_term_hit_beats_a_vague_semantic_match() {
    let svc = service();
    let exact = add(&svc, "mistake", "npm test has no script here; run npm run test:unit", 0, None);
    add(&svc, "fact", "Testing is important and tests should pass before merging", 0, None);
    let hits = svc.scoped(Access::local()).memory_search("test:unit", 10, None, None).unwrap();
    assert_eq!(hits[0].id, exact);
    assert!(hits[0].parts.bm25.is_some(), "the lexical side found it");
}

#[test]
fn a_morphological_paraphrase_is_found_by_the_vector_side() {
    let svc = service();
    let m = add(&svc, "procedure", "Deployments go through the staging pipeline first", 0, None);
    add(&svc, "fact", "The database is PostgreSQL 16", 0, None);
    let hits = svc.scoped(Access::local()).memory_search("deploying to stage", 10, None, None).unwrap();
    let hit = hits.iter().find(|h| h.id == m).expect("found");
    assert!(hit.parts.vector_rank == Some(1), "{:?}", hit.parts);
}

#[test]
fn priority_breaks_ties_between_equally_relevant_memories() {
    let svc = service();
    let low = add(&svc, "fact", "Use the blue deploy pipeline", 0, None);
    let high = add(&svc, "fact", "Use the blue deploy pipeline", 3, None);
    assert_eq!(ids(&svc, "blue deploy pipeline")[..2], [high.clone(), low.clone()]);
    let hits = svc.scoped(Access::local()).memory_search("blue deploy pipeline", 2, None, None).unwrap();
    assert!(hits[0].parts.priority_boost > hits[1].parts.priority_boost);
}

#[test]
fn the_index_follows_edits_retirement_rollback_and_import() {
    let svc = service();
    let id = add(&svc, "fact", "The API listens on port 8080", 0, None);
    assert_eq!(ids(&svc, "port 8080"), std::slice::from_ref(&id));
    svc.scoped(Access::local_as("user:t"))
        .memory_edit(&id, &MemoryEdit { text: Some("The API listens on port 9090".into()), ..Default::default() }, None)
        .unwrap();
    let after_edit = svc.scoped(Access::local()).memory_search("8080", 10, None, None).unwrap();
    assert!(after_edit.iter().all(|h| !h.text.contains("8080")), "the old text is gone");
    assert_eq!(ids(&svc, "port 9090"), std::slice::from_ref(&id));
    svc.scoped(Access::local_as("user:t")).memory_retire(&id, None, None).unwrap();
    assert!(ids(&svc, "port 9090").is_empty(), "retired memories are not found");
    svc.scoped(Access::local_as("user:t")).rollback(1, None).unwrap();
    assert_eq!(ids(&svc, "port 8080"), std::slice::from_ref(&id), "rollback brings the old text back to search");
    let doc = serde_json::to_vec(&svc.scoped(Access::local()).export_json().unwrap()).unwrap();
    let other = service();
    other.scoped(Access::local()).import_json(&doc, "x.json").unwrap();
    assert_eq!(ids(&other, "port 8080"), [id]);
}

#[test]
fn vectors_from_another_embedder_are_refused_until_reindex() {
    let svc = service();
    let id = add(&svc, "fact", "Releases are cut on Tuesdays", 0, None);
    svc.store()
        .put_vectors(
            "memory",
            &[StoredVector {
                id: id.clone(),
                embedder: "other-embedder".into(),
                dim: 3,
                digest: "x".into(),
                vector: vec![1.0, 0.0, 0.0],
            }],
        )
        .unwrap();
    let err = svc.scoped(Access::local()).memory_search("releases", 5, None, None).unwrap_err().to_string();
    assert!(err.contains("other-embedder") && err.contains("reindex"), "{err}");
    let r = svc.scoped(Access::local()).reindex().unwrap();
    assert_eq!((r.embedder.as_str(), r.memories), ("hashing-v1-256", 1));
    assert_eq!(ids(&svc, "releases"), [id]);
}

#[test]
fn the_context_bundle_stays_within_budget_puts_rules_first_and_is_recorded() {
    let svc = service();
    for i in 0..30 {
        add(&svc, "fact", &format!("Checkout service fact number {i}: the cart total is computed in cents"), 0, None);
    }
    let pref =
        add(&svc, "preference", "Always run the linter before committing checkout changes", 1, Some("team:shop"));
    let other_team = add(&svc, "preference", "Checkout changes need a design review", 5, Some("team:web"));
    for budget in [40, 120, 400] {
        let b = svc
            .scoped(Access::local())
            .context(&ContextRequest {
                task: "fix the checkout cart total rounding".into(),
                budget,
                team: Some("shop".into()),
                session: Some("s-42".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(b.bundle.used_tokens <= budget, "{} > {budget}", b.bundle.used_tokens);
        assert!(nocturne_search::estimate_tokens(&b.markdown) <= budget, "rendered bundle fits too");
        let ids: Vec<&str> = b.bundle.items.iter().map(|i| i.id.as_str()).collect();
        assert!(!ids.contains(&other_team.as_str()), "another team's memory is out of scope");
        if budget >= 120 {
            assert_eq!(ids[0], pref, "preferences come first");
        }
    }
    let usages = svc.scoped(Access::local()).usages(Some("s-42")).unwrap();
    assert_eq!(usages.len(), 3);
    assert!(usages[2].memories.contains(&pref));
    assert_eq!(usages[2].query, "fix the checkout cart total rounding");
}
