//! Static model2vec embeddings from a local folder (`tokenizer.json`,
//! `model.safetensors`, `config.json`), via `model2vec-rs` built with
//! `local-only` (it never downloads; feature `hub` adds an explicit
//! `Model2VecEmbedder::from_hub`).

use super::{l2_normalize, Embedder};
use crate::SearchError;
use model2vec_rs::model::StaticModel;
use std::path::Path;

/// A model2vec static embedding model (e.g. `potion-base-8M`, 256 dims).
#[derive(Debug, Clone)]
pub struct Model2VecEmbedder {
    model: StaticModel,
    name: String,
}

impl Model2VecEmbedder {
    /// Load from a local model folder; the id is `model2vec:<folder name>`.
    /// Besides the opt-in hub download (feature `hub`), this is the only
    /// function of the crate that touches files.
    pub fn from_dir(dir: &Path) -> Result<Self, SearchError> {
        let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("model").to_string();
        Self::from_dir_named(dir, &name)
    }

    /// Load from a local folder under an explicit model name (id `model2vec:<name>`).
    pub fn from_dir_named(dir: &Path, name: &str) -> Result<Self, SearchError> {
        for f in ["tokenizer.json", "model.safetensors", "config.json"] {
            if !dir.join(f).is_file() {
                return Err(SearchError::EmbedderSetup(format!("{}: missing {f}", dir.display())));
            }
        }
        let model = StaticModel::from_pretrained(dir, None, Some(true), None)
            .map_err(|e| SearchError::EmbedderSetup(format!("{}: {e:#}", dir.display())))?;
        Ok(Model2VecEmbedder { model, name: name.to_string() })
    }
}

impl Embedder for Model2VecEmbedder {
    fn id(&self) -> String {
        format!("model2vec:{}", self.name)
    }

    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        let owned: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        let mut out = self.model.encode(&owned);
        if out.len() != texts.len() || out.iter().any(|v| v.len() != self.dim()) {
            return Err(SearchError::Embedding("model2vec returned malformed vectors".into()));
        }
        out.iter_mut().for_each(|v| l2_normalize(v));
        Ok(out)
    }
}
