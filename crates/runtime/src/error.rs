//! The runtime's one error type.

use nocturne_service::ServiceError;

/// What can stop a run from starting or resuming. Failures inside a run
/// (a model that keeps failing, a tool error, a budget) are not errors:
/// they are typed results ([`nocturne_service::TypedResult`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// An agent definition file is invalid.
    #[error("{file}:{line}: {message}")]
    Definition { file: String, line: usize, message: String },
    /// A file or folder could not be read.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The configuration (`[model]`, `[[mcp_server]]`, `[runtime]`) is invalid.
    #[error("{0}")]
    Config(String),
    /// No agent of that name is defined.
    #[error("unknown agent {name:?} (defined: {known})")]
    UnknownAgent { name: String, known: String },
    /// The journal of a run being resumed does not match what the run does
    /// now (its definitions or the runtime changed).
    #[error("run {run}: the journal does not match at step {step}: {why}")]
    Diverged { run: String, step: String, why: String },
    /// Another process holds the run's claim.
    #[error("run {0} is being run by another process (its claim has not expired)")]
    Claimed(String),
    /// The run cannot be resumed (it ended, or it was made by another version).
    #[error("{0}")]
    NotResumable(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl RuntimeError {
    /// The service error an adapter maps to its codes (invalid input,
    /// conflict, not found, ...).
    pub fn into_service(self) -> ServiceError {
        match self {
            RuntimeError::Service(e) => e,
            RuntimeError::Diverged { .. } | RuntimeError::Claimed(_) | RuntimeError::NotResumable(_) => {
                ServiceError::Conflict(self.to_string())
            }
            other => ServiceError::Invalid(other.to_string()),
        }
    }
}
