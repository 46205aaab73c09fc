//! Errors of the service layer, and the one table that maps each to a
//! stable code and a CLI exit code (HTTP status and MCP error join it when
//! the server lands).

use nocturne_store::StoreError;

/// Everything an operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request is malformed (bad kind, scope, date, empty text...).
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is wrong: `field` names it as the request
    /// does (`text`, `scope`, `kind`, `tags`, `budget`...), the message says how.
    #[error("{message}")]
    InvalidField { field: &'static str, message: String },
    /// A file the caller gave (an export, TOML, dream instructions, an
    /// outcomes file) is invalid: `file` names it (its path, or what stands
    /// for it, like `request body`), `message` says what and where in it;
    /// `field`, when the problem is one field the file sets, names it.
    #[error("{file}: {message}")]
    InvalidFile { file: String, field: Option<&'static str>, message: String },
    /// A named session, memory, dream or revision does not exist.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The store moved or the targeted memories changed; re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// No valid credentials (missing, unknown or revoked token).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A file could not be read or written. The reason is part of the
    /// message (not a separate error source), so it is printed once.
    #[error("{path}: {}", io_reason(.error))]
    Io { path: String, error: std::io::Error },
    /// A file the caller named as input cannot be read (missing, a folder,
    /// no permission): invalid input, said once, without the platform's
    /// `(os error N)`.
    #[error("cannot read {path}: {}", io_reason(.error))]
    Unreadable { path: String, error: std::io::Error },
    /// An export written before exports carried digests (versions 1–4),
    /// imported without allowing it: its contents are consistent or not,
    /// but a change made after export cannot be detected.
    #[error(
        "{file}: a version {version} export carries no digests, so a change made to it after export cannot be \
         detected; it is imported only when undigested exports are explicitly allowed"
    )]
    Undigested { file: String, version: u32 },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A language model could not be used (its configuration, or the
    /// provider's answer); `code` is one of the `Model*` codes. Never
    /// "invalid input": the request was fine, the provider was not.
    #[error("{message}")]
    Model { code: ErrorCode, message: String },
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RevisionMismatch { .. }
            | StoreError::Conflict(_)
            | StoreError::LengthMismatch { .. }
            | StoreError::Closed { .. }
            | StoreError::JournalConflict { .. } => ServiceError::Conflict(e.to_string()),
            StoreError::NotFound { what, id } => ServiceError::NotFound { what, id },
            StoreError::NotEmpty(m) => ServiceError::Conflict(m),
            StoreError::Exists { .. } => ServiceError::Conflict(e.to_string()),
            StoreError::Unsupported(m) => ServiceError::Invalid(m),
            other => ServiceError::Store(other),
        }
    }
}

/// Stable error codes shared by every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidInput,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    Io,
    Internal,
    /// The model configuration is unusable (spec, `[model]` table, key, budget).
    ModelConfig,
    /// The provider did not answer in time.
    ModelTimeout,
    /// The provider rate-limited the requests past the retries.
    ModelRateLimited,
    /// The provider refused the request (a 4xx with its message: bad key, unknown model...).
    ModelRefused,
    /// The provider failed (5xx) past the retries.
    ModelServerError,
    /// The provider's answer could not be used (not its wire format, or JSON
    /// that still failed its schema after the repair request).
    ModelMalformed,
    /// The model declined to answer.
    ModelDeclined,
    /// The provider could not be reached (connection refused, DNS, TLS, cut stream).
    ModelUnreachable,
    /// The request is larger than the server takes.
    TooLarge,
    /// Too many requests: slow down and retry.
    RateLimited,
    /// The server cannot serve now (starting, shutting down, overloaded): retry.
    Unavailable,
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Io,
        ErrorCode::Internal,
        ErrorCode::ModelConfig,
        ErrorCode::ModelTimeout,
        ErrorCode::ModelRateLimited,
        ErrorCode::ModelRefused,
        ErrorCode::ModelServerError,
        ErrorCode::ModelMalformed,
        ErrorCode::ModelDeclined,
        ErrorCode::ModelUnreachable,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
    ];

    /// `(code, CLI exit code, HTTP status)` — the one table adapters use.
    pub fn table(self) -> (&'static str, i32, u16) {
        match self {
            ErrorCode::InvalidInput => ("invalid_input", 2, 400),
            ErrorCode::NotFound => ("not_found", 1, 404),
            ErrorCode::Conflict => ("conflict", 1, 409),
            ErrorCode::Unauthorized => ("unauthorized", 1, 401),
            ErrorCode::Forbidden => ("forbidden", 1, 403),
            ErrorCode::Io => ("io_error", 1, 500),
            ErrorCode::Internal => ("internal", 1, 500),
            ErrorCode::ModelConfig => ("model_config", 2, 400),
            ErrorCode::ModelTimeout => ("model_timeout", 1, 504),
            ErrorCode::ModelRateLimited => ("model_rate_limited", 1, 503),
            ErrorCode::ModelRefused => ("model_refused", 1, 502),
            ErrorCode::ModelServerError => ("model_server_error", 1, 502),
            ErrorCode::ModelMalformed => ("model_malformed", 1, 502),
            ErrorCode::ModelDeclined => ("model_declined", 1, 502),
            ErrorCode::ModelUnreachable => ("model_unreachable", 1, 502),
            ErrorCode::TooLarge => ("payload_too_large", 2, 413),
            ErrorCode::RateLimited => ("rate_limited", 1, 429),
            ErrorCode::Unavailable => ("unavailable", 1, 503),
        }
    }
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Invalid(_)
            | ServiceError::InvalidField { .. }
            | ServiceError::InvalidFile { .. }
            | ServiceError::Undigested { .. }
            | ServiceError::Unreadable { .. } => ErrorCode::InvalidInput,
            ServiceError::NotFound { .. } => ErrorCode::NotFound,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::Unauthorized(_) => ErrorCode::Unauthorized,
            ServiceError::Forbidden(_) => ErrorCode::Forbidden,
            ServiceError::Io { .. } => ErrorCode::Io,
            ServiceError::Store(StoreError::SchemaTooNew { .. }) => ErrorCode::Io,
            ServiceError::Store(_) => ErrorCode::Internal,
            ServiceError::Model { code, .. } => *code,
        }
    }

    /// The request field an `invalid_input` error is about, when it is one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::InvalidField { field, .. } => Some(field),
            ServiceError::InvalidFile { field, .. } => *field,
            _ => None,
        }
    }

    /// The file an `invalid_input` error is about, when it is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            ServiceError::InvalidFile { file, .. } | ServiceError::Undigested { file, .. } => Some(file),
            ServiceError::Unreadable { path, .. } => Some(path),
            _ => None,
        }
    }

    /// This error as one about request field `field` (a file given in a
    /// field, like a dream's `instructions`): an invalid input names the
    /// field and keeps its whole message; other errors are unchanged.
    pub fn in_field(self, field: &'static str) -> Self {
        match self {
            e @ (ServiceError::Invalid(_) | ServiceError::InvalidFile { .. }) => {
                ServiceError::InvalidField { field, message: e.to_string() }
            }
            e => e,
        }
    }

    pub(crate) fn invalid_file(file: &str, message: impl Into<String>) -> Self {
        ServiceError::InvalidFile { file: file.to_string(), field: None, message: message.into() }
    }

    /// A dream spec's error: about its field when it names one.
    pub(crate) fn spec(e: &nocturne_dream::DreamError) -> Self {
        match e.field() {
            Some(field) => ServiceError::InvalidField { field, message: e.to_string() },
            None => ServiceError::Invalid(e.to_string()),
        }
    }

    /// A dream spec's error in file `file`.
    pub(crate) fn spec_in_file(file: &str, e: &nocturne_dream::DreamError) -> Self {
        ServiceError::InvalidFile { file: file.to_string(), field: e.field(), message: e.to_string() }
    }

    pub(crate) fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidField { field, message: message.into() }
    }

    /// An input file named by the caller could not be read.
    pub fn unreadable(path: &std::path::Path, error: std::io::Error) -> Self {
        ServiceError::Unreadable { path: path.display().to_string(), error }
    }

    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        ServiceError::Io { path: path.display().to_string(), error }
    }
}

/// An IO error as a person reads it: `No such file or directory`, without
/// the `(os error 2)` the platform appends.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text.get(..at).unwrap_or(&text).to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_says_its_reason_once() {
        let e = std::fs::read("/nonexistent/x.jsonl").unwrap_err();
        let se = ServiceError::io(std::path::Path::new("/nonexistent/x.jsonl"), e);
        assert_eq!(se.to_string(), "/nonexistent/x.jsonl: No such file or directory");
        assert!(std::error::Error::source(&se).is_none(), "no source, so error chains do not repeat it");
    }
}
