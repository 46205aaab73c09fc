//! Shared test helpers: a tiny, hand-made model2vec model (4 dimensions, 8
//! WordPiece tokens) written to a folder, no download.

use std::path::Path;

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

/// Write `config.json`, `tokenizer.json` and `model.safetensors` into `dir`.
pub fn write_model(dir: &Path) {
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
