//! The crate's single error type.

/// Everything that can go wrong in `nocturne-search`.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A vector (or query vector) was produced by another embedder than the
    /// one the index was built with, or has another dimension.
    #[error("embedder mismatch: index uses {index}, given {given}")]
    EmbedderMismatch { index: String, given: String },
    /// An embedder could not be configured (bad dimension, bad model folder, ...).
    #[error("embedder setup failed: {0}")]
    EmbedderSetup(String),
    /// An embedder failed while embedding (HTTP error, malformed response, ...).
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// A document's `updated_at` (or a `now`) is not RFC 3339.
    #[error("invalid RFC 3339 timestamp {value:?} for document {id:?}")]
    InvalidTimestamp { id: String, value: String },
    /// Benchmark data did not have the expected shape.
    #[error("invalid benchmark data: {0}")]
    BenchData(String),
}
