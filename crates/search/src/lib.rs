//! Retrieval for Nocturne: embedders, an in-memory hybrid (BM25 + vector)
//! index fused by reciprocal rank fusion with priority/recency boosts, token
//! estimates and token-budgeted context bundles, and the LoCoMo retrieval
//! benchmark's scoring.
//!
//! No file IO (except `Model2VecEmbedder::from_dir`, behind feature
//! `model2vec`) and no network (except `HttpEmbedder`, behind feature `http`,
//! and the explicit `Model2VecEmbedder::from_hub` download, behind feature
//! `hub`).

pub mod bundle;
pub mod embed;
mod error;
mod hash;
pub mod index;
pub mod locomo;
pub mod text;

pub use bundle::{
    estimate_tokens, pack_bundle, render_bundle_markdown, selection_score, Bundle, BundleItem, Candidate,
};
#[cfg(feature = "http")]
pub use embed::HttpEmbedder;
#[cfg(feature = "model2vec")]
pub use embed::Model2VecEmbedder;
pub use embed::{cosine, Embedder, EmbedderInfo, HashingConfig, HashingEmbedder};
#[cfg(feature = "hub")]
pub use embed::{download_model2vec, DEFAULT_HF_ENDPOINT, MODEL2VEC_FILES};
pub use error::SearchError;
pub use index::{Doc, Fusion, Hit, HybridIndex, IndexConfig, ScoreParts};
