//! Loads a tiny, hand-made model2vec folder (no download) and checks that
//! a true synonym with no shared characters is found by the vector side.
#![cfg(feature = "model2vec")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_search::{Doc, Embedder, HybridIndex, IndexConfig, Model2VecEmbedder};
use time::macros::datetime;

mod common;
use common::write_model;

#[test]
fn tiny_generated_model_loads_and_finds_synonyms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny-m2v");
    std::fs::create_dir(&dir).unwrap();
    write_model(&dir);
    let e = Model2VecEmbedder::from_dir(&dir).unwrap();
    assert_eq!(e.id(), "model2vec:tiny-m2v");
    assert_eq!(e.dim(), 4);
    let v = e.embed(&["Car", "automobile", "banana"]).unwrap();
    let n: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((n - 1.0).abs() < 1e-5);
    assert!(nocturne_search::cosine(&v[0], &v[1]) > 0.95);
    assert!(nocturne_search::cosine(&v[0], &v[2]) < 0.2);

    let docs = vec![
        Doc { id: "auto".into(), text: "automobile repair shop".into(), priority: 0, updated_at: None, kind_rank: 3 },
        Doc { id: "fruit".into(), text: "banana fruit shop".into(), priority: 0, updated_at: None, kind_rank: 3 },
    ];
    let idx = HybridIndex::build(&e, IndexConfig::default(), docs).unwrap();
    assert!(idx.search_bm25_only("car", 2).is_empty());
    let hits = idx.search_with(&e, "car", 2, datetime!(2025-01-01 0:00 UTC)).unwrap();
    assert_eq!(hits[0].id, "auto");
    assert_eq!(hits[0].parts.bm25, None);
    assert_eq!(hits[0].parts.vector_rank, Some(1));
}

#[test]
fn missing_files_refused() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(Model2VecEmbedder::from_dir(tmp.path()), Err(nocturne_search::SearchError::EmbedderSetup(_))));
}
