//! Loads a tiny, hand-made model2vec folder (no download) and checks that
//! a true synonym with no shared characters is found by the vector side.
#![cfg(feature = "model2vec")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_search::{Doc, Embedder, HybridIndex, IndexConfig, Model2VecEmbedder};
use std::path::Path;
use time::macros::datetime;

const VOCAB: &[(&str, [f32; 4])] = &[
    ("[PAD]", [0.0, 0.0, 0.0, 0.0]),
    ("[UNK]", [0.0, 0.0, 0.0, 0.0]),
    ("car", [1.0, 0.1, 0.0, 0.0]),
    ("automobile", [0.95, 0.12, 0.0, 0.05]),
    ("banana", [0.0, 0.0, 1.0, 0.1]),
    ("fruit", [0.0, 0.05, 0.9, 0.2]),
    ("repair", [0.1, 1.0, 0.0, 0.0]),
    ("shop", [0.0, 0.3, 0.2, 1.0]),
];

fn write_model(dir: &Path) {
    let vocab: serde_json::Map<String, serde_json::Value> =
        VOCAB.iter().enumerate().map(|(i, (w, _))| (w.to_string(), serde_json::json!(i))).collect();
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "model2vec", "normalize": true, "hidden_dim": 4}"#)
        .unwrap();
    // safetensors: u64 LE header length, JSON header (padded to 8), raw LE f32 data.
    let data: Vec<u8> = VOCAB.iter().flat_map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes())).collect();
    let mut header =
        format!(r#"{{"embeddings":{{"dtype":"F32","shape":[{},4],"data_offsets":[0,{}]}}}}"#, VOCAB.len(), data.len());
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(&data);
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}

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
