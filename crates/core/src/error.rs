//! Errors of the pure core: invalid input only.

/// What can go wrong in pure domain logic. Each variant names the bad value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    /// A scope string is not `org`, `team:NAME`, `agent:NAME` or `user:NAME`.
    #[error("invalid scope {0:?}: expected org, team:NAME, agent:NAME or user:NAME")]
    InvalidScope(String),
    /// A memory kind is empty or contains characters other than `a-z0-9_-`.
    #[error("invalid memory kind {0:?}: use lowercase letters, digits, '-' or '_'")]
    InvalidKind(String),
    /// A memory's text is empty.
    #[error("memory text is empty")]
    EmptyText,
    /// A status string is not `active` or `retired`.
    #[error("invalid status {0:?}: expected active or retired")]
    InvalidStatus(String),
}
