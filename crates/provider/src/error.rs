//! The crate's single error type.

use std::time::Duration;

/// Everything that can go wrong talking to a model.
///
/// [`ProviderError::is_retryable`] says which variants the client retries
/// (timeouts, rate limits, server errors, transport failures); a refusal is
/// never retried because sending the same request again gets the same answer.
/// No variant ever contains the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// No (complete) answer within the configured timeout, or the server said
    /// 408. Retried. Raise `timeout_secs` for long answers.
    #[error("{endpoint}: no answer within {secs} s")]
    Timeout { endpoint: String, secs: f64 },
    /// HTTP 429 (or a `rate_limit_error`). Retried after `retry_after` (from
    /// `retry-after-ms` / `retry-after`) or the back-off delay; returned when
    /// the retries are used up or the server asks to wait longer than the
    /// client is willing to.
    #[error("rate limited{}: {message}", fmt_retry_after(.retry_after))]
    RateLimited { retry_after: Option<Duration>, message: String },
    /// A 4xx the provider refused (bad request, bad key, unknown model, ...),
    /// with the provider's own message. Never retried: fix the request or the
    /// configuration.
    #[error("refused with HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    /// A 5xx (or Anthropic's 529 `overloaded_error`). Retried.
    #[error("server error HTTP {status}: {message}")]
    Server { status: u16, message: String },
    /// The answer could not be understood: not the provider's JSON or SSE,
    /// tool arguments that are not JSON, or a structured answer that still
    /// fails its schema after the one repair retry. `what` says which.
    #[error("malformed answer: {what}")]
    Malformed { what: String },
    /// The model declined to answer (a refusal stop reason or refusal text).
    /// Not retried.
    #[error("the model refused to answer: {message}")]
    ModelRefusal { message: String },
    /// The connection failed or broke (refused, reset, DNS, TLS, a stream cut
    /// short). Retried.
    #[error("{endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    /// The configuration or the request is invalid (unknown provider, bad
    /// URL, missing key, empty message, ...). Nothing was sent.
    #[error("model configuration: {0}")]
    Config(String),
}

fn fmt_retry_after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {:.1} s)", d.as_secs_f64()),
        None => String::new(),
    }
}

impl ProviderError {
    /// Whether the client may send the same request again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Transport { .. }
        )
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ProviderError::Malformed { what: what.into() }
    }

    pub(crate) fn config(what: impl Into<String>) -> Self {
        ProviderError::Config(what.into())
    }

    /// The same error with every occurrence of `secret` replaced (provider
    /// messages sometimes echo what they were sent).
    pub(crate) fn scrubbed(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| s.len() >= 4) else { return self };
        let s = |m: String| m.replace(secret, "<redacted>");
        match self {
            ProviderError::Timeout { endpoint, secs } => ProviderError::Timeout { endpoint: s(endpoint), secs },
            ProviderError::RateLimited { retry_after, message } => {
                ProviderError::RateLimited { retry_after, message: s(message) }
            }
            ProviderError::Refused { status, message } => ProviderError::Refused { status, message: s(message) },
            ProviderError::Server { status, message } => ProviderError::Server { status, message: s(message) },
            ProviderError::Malformed { what } => ProviderError::Malformed { what: s(what) },
            ProviderError::ModelRefusal { message } => ProviderError::ModelRefusal { message: s(message) },
            ProviderError::Transport { endpoint, message } => {
                ProviderError::Transport { endpoint: s(endpoint), message: s(message) }
            }
            ProviderError::Config(m) => ProviderError::Config(s(m)),
        }
    }
}
