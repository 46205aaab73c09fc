//! The core's one error type: invalid input only (domain values, and the
//! outcome taxonomy and values).

/// What can go wrong in pure domain logic. Each variant names the bad value.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
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
    /// A project is neither an id `NAME#KEY` (a name of `A-Za-z0-9._-`, 12
    /// lowercase hex digits) nor an absolute directory.
    #[error("invalid project {0:?}: expected an absolute directory or a project id NAME#KEY (NAME of letters, digits, '.', '_' or '-'; KEY 12 lowercase hex digits)")]
    InvalidProject(String),
    /// A memory's tags name a project in another form than
    /// `project:NAME#KEY` or `project:NAME`, or more than once.
    #[error("invalid project tag {0:?}: expected project:NAME#KEY (or project:NAME), at most one per memory")]
    InvalidProjectTag(String),

    // --- outcomes: the taxonomy and values checked against it. Every message
    // is meant to be shown to the user as is.
    /// The taxonomy text is not TOML, or not shaped like a taxonomy.
    #[error("outcome taxonomy is not valid: {0}")]
    Toml(String),
    /// The taxonomy parsed but breaks one or more rules; every problem is listed.
    #[error("invalid outcome taxonomy: {}", .0.join("; "))]
    InvalidTaxonomy(Vec<String>),
    /// A dimension name that the taxonomy does not define.
    #[error("unknown outcome dimension `{name}`; valid dimensions: {}", .valid.join(", "))]
    UnknownDimension { name: String, valid: Vec<String> },
    /// A label that the categorical dimension does not define.
    #[error("`{label}` is not a label of dimension `{dimension}`; valid labels: {}", .valid.join(", "))]
    UnknownLabel { dimension: String, label: String, valid: Vec<String> },
    /// A numeric dimension got something that is not a finite number.
    #[error("dimension `{dimension}` expects a number from {min} to {max}, got `{raw}`")]
    NotANumber { dimension: String, raw: String, min: f64, max: f64 },
    /// A numeric dimension got a number outside its range.
    #[error("dimension `{dimension}` expects a number from {min} to {max}, got {value}")]
    OutOfRange { dimension: String, value: f64, min: f64, max: f64 },
    /// A boolean dimension got something other than true/false/yes/no/1/0.
    #[error("dimension `{dimension}` expects true or false (or yes/no, 1/0), got `{raw}`")]
    NotABool { dimension: String, raw: String },
    /// A text dimension got an empty (or all-whitespace) value.
    #[error("dimension `{dimension}` expects a non-empty text")]
    EmptyOutcomeText { dimension: String },
    /// A `--set` argument without `=` or with an empty dimension name.
    #[error("expected DIMENSION=VALUE, got `{0}`")]
    BadAssignment(String),
    /// An outcome source other than `human`, `model` or `code`.
    #[error("invalid outcome source `{0}`; expected human, model or code")]
    InvalidSource(String),
    /// A timestamp that is not RFC 3339.
    #[error("invalid timestamp `{0}`; expected RFC 3339, e.g. 2025-09-14T08:30:00Z")]
    InvalidTimestamp(String),
    /// A taxonomy version of 0 (versions start at 1).
    #[error("invalid taxonomy version {0}; versions start at 1")]
    InvalidVersion(u32),
}
