//! Embedders: text → L2-normalised `f32` vectors.

use crate::hash::hash_parts;
use crate::text::tokenize;
use crate::SearchError;
use rayon::prelude::*;
use std::collections::HashMap;

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "hub")]
mod hub;
#[cfg(feature = "model2vec")]
mod model2vec;

#[cfg(feature = "http")]
pub use http::HttpEmbedder;
#[cfg(feature = "hub")]
pub use hub::{download_model2vec, DEFAULT_HF_ENDPOINT, MODEL2VEC_FILES};
#[cfg(feature = "model2vec")]
pub use model2vec::Model2VecEmbedder;

/// Turns texts into L2-normalised vectors of a fixed dimension.
pub trait Embedder: Send + Sync {
    /// Stable identifier of the embedding space, e.g. `hashing-v1-256`,
    /// `model2vec:potion-base-8M`, `openai:nomic-embed-text`. Vectors from
    /// different ids must never be compared.
    fn id(&self) -> String;
    /// Dimension of every vector returned by [`Embedder::embed`].
    fn dim(&self) -> usize;
    /// One vector per text, in order, each L2-normalised (or all-zero for a
    /// text without features).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError>;
}

/// Identity of an embedding space: what an index records and checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbedderInfo {
    pub id: String,
    pub dim: usize,
}

impl EmbedderInfo {
    pub fn new(id: impl Into<String>, dim: usize) -> Self {
        EmbedderInfo { id: id.into(), dim }
    }

    pub fn of(embedder: &dyn Embedder) -> Self {
        EmbedderInfo { id: embedder.id(), dim: embedder.dim() }
    }
}

impl std::fmt::Display for EmbedderInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (dim {})", self.id, self.dim)
    }
}

/// Scale `v` to unit L2 norm in place (an all-zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Tunable weights of the [`HashingEmbedder`].
#[derive(Debug, Clone, PartialEq)]
pub struct HashingConfig {
    /// Output dimension (default 256).
    pub dim: usize,
    /// Weight of a word unigram (stemmed, stop-words removed).
    pub word_weight: f32,
    /// Weight of a bigram of consecutive index terms (stop-words removed).
    pub bigram_weight: f32,
    /// Weight of one character n-gram of a token (`<token>` with boundary marks).
    pub char_weight: f32,
    /// Smallest and largest character n-gram length.
    pub char_min: usize,
    pub char_max: usize,
}

impl Default for HashingConfig {
    fn default() -> Self {
        HashingConfig { dim: 256, word_weight: 1.0, bigram_weight: 0.25, char_weight: 0.5, char_min: 3, char_max: 5 }
    }
}

/// Zero-download embedder: signed feature hashing of word unigrams, word
/// bigrams and character 3–5-grams into `dim` buckets, with sublinear term
/// frequency (`1 + ln tf`) and L2 normalisation. Deterministic on every
/// platform (own FNV-1a/SplitMix64 hash).
///
/// What it can do: match morphological variants and typos through shared
/// character n-grams (`deploying` ~ `deployment`, `authenticate` ~
/// `authentication`). What it cannot do: relate words that share no
/// characters (`car` ~ `automobile`); that needs a trained model
/// (`Model2VecEmbedder`, `HttpEmbedder`).
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    config: HashingConfig,
    idf: Option<std::sync::Arc<FeatureIdf>>,
}

/// Document frequencies of hashed features over a corpus (see
/// [`HashingEmbedder::fit_idf`]).
#[derive(Debug)]
struct FeatureIdf {
    docs: u32,
    df: HashMap<u64, u32>,
    /// Fingerprint of (docs, df): part of the embedder id.
    fingerprint: u64,
}

impl FeatureIdf {
    /// BM25's idf, ln(1 + (N − df + 0.5)/(df + 0.5)), relative to that of
    /// an unseen feature (so weights stay ≤ 1).
    fn weight(&self, h: u64) -> f32 {
        let n = self.docs as f32;
        let idf = |df: f32| (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        let df = self.df.get(&h).copied().unwrap_or(0) as f32;
        idf(df) / idf(0.0)
    }
}

const SEED_WORD: u8 = 1;
const SEED_BIGRAM: u8 = 2;
const SEED_CHAR: u8 = 3;

impl HashingEmbedder {
    /// The default: 256 dimensions.
    pub fn new() -> Self {
        HashingEmbedder { config: HashingConfig::default(), idf: None }
    }

    /// Default weights with another dimension (must be > 0).
    pub fn with_dim(dim: usize) -> Result<Self, SearchError> {
        Self::with_config(HashingConfig { dim, ..HashingConfig::default() })
    }

    pub fn with_config(config: HashingConfig) -> Result<Self, SearchError> {
        if config.dim == 0 {
            return Err(SearchError::EmbedderSetup("hashing dimension must be > 0".into()));
        }
        if config.char_min == 0 || config.char_min > config.char_max {
            return Err(SearchError::EmbedderSetup("need 0 < char_min <= char_max".into()));
        }
        Ok(HashingEmbedder { config, idf: None })
    }

    /// The same embedder with every feature weighted by its inverse
    /// document frequency over `corpus` (BM25's idf, scaled so that a
    /// feature absent from the corpus has weight 1): words, bigrams and
    /// character n-grams that occur in most texts (greetings, fillers, a
    /// speaker's name) stop dominating the vectors of short texts. Corpus
    /// statistics only. The id gains `-idf<N>-<fingerprint>`: vectors of
    /// embedders fitted on different corpora are another space.
    pub fn fit_idf(&self, corpus: &[&str]) -> HashingEmbedder {
        let mut df: HashMap<u64, u32> = HashMap::new();
        for t in corpus {
            for h in self.features(t).into_keys() {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut pairs: Vec<(u64, u32)> = df.iter().map(|(h, n)| (*h, *n)).collect();
        pairs.sort_unstable();
        let docs = corpus.len() as u32;
        let fingerprint = pairs.iter().fold(crate::hash::mix64(u64::from(docs)), |acc, (h, n)| {
            crate::hash::mix64(acc ^ h ^ (u64::from(*n) << 1))
        });
        HashingEmbedder {
            config: self.config.clone(),
            idf: Some(std::sync::Arc::new(FeatureIdf { docs, df, fingerprint })),
        }
    }

    /// Whether [`HashingEmbedder::fit_idf`] made this embedder.
    pub fn is_idf_fitted(&self) -> bool {
        self.idf.is_some()
    }

    pub fn config(&self) -> &HashingConfig {
        &self.config
    }

    /// Hashed features of `text`: hash → (weight, count).
    fn features(&self, text: &str) -> HashMap<u64, (f32, u32)> {
        let c = &self.config;
        let mut counts: HashMap<u64, (f32, u32)> = HashMap::new();
        let mut add = |h: u64, w: f32| {
            let e = counts.entry(h).or_insert((w, 0));
            e.1 += 1;
        };
        let tokens = tokenize(text);
        for t in &tokens {
            add(hash_parts(SEED_WORD, &[t]), c.word_weight);
            if c.char_weight > 0.0 {
                let marked: Vec<char> = std::iter::once('<').chain(t.chars()).chain(std::iter::once('>')).collect();
                for n in c.char_min..=c.char_max {
                    for gram in marked.windows(n) {
                        let g: String = gram.iter().collect();
                        add(hash_parts(SEED_CHAR, &[&g]), c.char_weight);
                    }
                }
            }
        }
        if c.bigram_weight > 0.0 {
            for pair in tokens.windows(2) {
                if let [a, b] = pair {
                    add(hash_parts(SEED_BIGRAM, &[a, b]), c.bigram_weight);
                }
            }
        }
        counts
    }

    /// Embed one text.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let c = &self.config;
        let mut v = vec![0.0f32; c.dim];
        let dim = c.dim as u64;
        for (h, (w, tf)) in self.features(text) {
            // Low bits pick the bucket, the top bit the sign.
            let idx = (h % dim) as usize;
            let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
            let idf = self.idf.as_ref().map_or(1.0, |t| t.weight(h));
            if let Some(slot) = v.get_mut(idx) {
                *slot += sign * w * idf * (1.0 + (tf as f32).ln());
            }
        }
        l2_normalize(&mut v);
        v
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

impl Embedder for HashingEmbedder {
    fn id(&self) -> String {
        let c = &self.config;
        let base = if *c == (HashingConfig { dim: c.dim, ..HashingConfig::default() }) {
            format!("hashing-v1-{}", c.dim)
        } else {
            // Non-default weights are another embedding space.
            format!(
                "hashing-v1-{}-w{}-b{}-c{}-{}{}",
                c.dim, c.word_weight, c.bigram_weight, c.char_weight, c.char_min, c.char_max
            )
        };
        match &self.idf {
            Some(t) => format!("{base}-idf{}-{:016x}", t.docs, t.fingerprint),
            None => base,
        }
    }

    fn dim(&self) -> usize {
        self.config.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        if texts.len() >= 64 {
            Ok(texts.par_iter().map(|t| self.embed_one(t)).collect())
        } else {
            Ok(texts.iter().map(|t| self.embed_one(t)).collect())
        }
    }
}

/// Cosine similarity of two equally long vectors (0 for zero vectors).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot = crate::index::dot(a, b);
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(t: &str) -> Vec<f32> {
        HashingEmbedder::new().embed_one(t)
    }

    #[test]
    fn normalized_and_deterministic() {
        let a = emb("Deploy the payments service on Fridays");
        let n: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5);
        assert_eq!(a, emb("Deploy the payments service on Fridays"));
        assert_eq!(a.len(), 256);
        assert!(emb("the of and").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn morphology_is_closer_than_unrelated() {
        let q = emb("deploying");
        let close = cosine(&q, &emb("deployment"));
        let far = cosine(&q, &emb("breakfast cereal"));
        assert!(close > 0.3, "close={close}");
        assert!(close > far + 0.2, "close={close} far={far}");
    }

    #[test]
    fn idf_fit_downweights_common_features() {
        let e = HashingEmbedder::new();
        let corpus =
            ["Caroline: I went hiking", "Caroline: the lake was cold", "Caroline: we baked bread", "Mel: nice"];
        let f = e.fit_idf(&corpus);
        assert!(f.is_idf_fitted() && !e.is_idf_fitted());
        assert!(f.id().starts_with("hashing-v1-256-idf4-"), "{}", f.id());
        assert_eq!(f.id(), e.fit_idf(&corpus).id());
        assert_ne!(f.id(), e.fit_idf(&corpus[..3]).id());
        // "caroline" is in 3 of 4 texts: sharing it counts for less after fitting.
        let (q, d) = ("Caroline pottery", "Caroline: the lake was cold");
        let before = cosine(&e.embed_one(q), &e.embed_one(d));
        let after = cosine(&f.embed_one(q), &f.embed_one(d));
        assert!(after < before, "before={before} after={after}");
        let n: f32 = f.embed_one(d).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5);
    }

    #[test]
    fn id_depends_on_config() {
        assert_eq!(HashingEmbedder::new().id(), "hashing-v1-256");
        assert_eq!(HashingEmbedder::with_dim(64).unwrap().id(), "hashing-v1-64");
        let other = HashingEmbedder::with_config(HashingConfig { char_weight: 0.7, ..Default::default() }).unwrap();
        assert_ne!(other.id(), "hashing-v1-256");
        assert!(HashingEmbedder::with_dim(0).is_err());
    }
}
