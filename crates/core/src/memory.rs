//! Memories: what agents have learned, with scope, priority and evidence.

use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A memory's kind. The four built-in kinds are constants; users may define
/// their own (lowercase letters, digits, `-`, `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct MemoryKind(String);

impl MemoryKind {
    pub const FACT: &'static str = "fact";
    pub const PREFERENCE: &'static str = "preference";
    pub const PROCEDURE: &'static str = "procedure";
    pub const MISTAKE: &'static str = "mistake";

    pub fn new(s: &str) -> Result<Self, CoreError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(MemoryKind(s.to_string()))
        } else {
            Err(CoreError::InvalidKind(s.to_string()))
        }
    }

    pub fn fact() -> Self {
        MemoryKind(Self::FACT.into())
    }
    pub fn preference() -> Self {
        MemoryKind(Self::PREFERENCE.into())
    }
    pub fn procedure() -> Self {
        MemoryKind(Self::PROCEDURE.into())
    }
    pub fn mistake() -> Self {
        MemoryKind(Self::MISTAKE.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Order in which kinds are presented to agents: preferences and
    /// mistakes first, then procedures, facts, then user-defined kinds.
    pub fn rank(&self) -> u8 {
        match self.0.as_str() {
            Self::PREFERENCE => 0,
            Self::MISTAKE => 1,
            Self::PROCEDURE => 2,
            Self::FACT => 3,
            _ => 4,
        }
    }
}

impl fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a memory applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScopeLevel {
    Org,
    Team,
    Agent,
    User,
}

/// A scope: `org`, or a level with a name (`team:payments`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Scope {
    pub level: ScopeLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Scope {
    pub fn org() -> Self {
        Scope { level: ScopeLevel::Org, name: None }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::InvalidScope(s.to_string());
        if s == "org" {
            return Ok(Scope::org());
        }
        let (level, name) = s.split_once(':').ok_or_else(bad)?;
        let level = match level {
            "team" => ScopeLevel::Team,
            "agent" => ScopeLevel::Agent,
            "user" => ScopeLevel::User,
            _ => return Err(bad()),
        };
        if name.trim().is_empty() {
            return Err(bad());
        }
        Ok(Scope { level, name: Some(name.to_string()) })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            ScopeLevel::Org => "org",
            ScopeLevel::Team => "team",
            ScopeLevel::Agent => "agent",
            ScopeLevel::User => "user",
        };
        match &self.name {
            Some(n) => write!(f, "{level}:{n}"),
            None => f.write_str(level),
        }
    }
}

/// Whether a memory is in use. Retired memories are kept with their history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Retired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Retired => "retired",
        }
    }
}

/// Why a memory is believed: a session, the event in it, the quoted text.
///
/// An entry cites **one** event: `events[0]` is the event whose text the
/// quote is (see [`crate::quote::quote_in_event`]); a dream cites exactly
/// one. Any further numbers are related events the quote does not come
/// from (evidence stored before this rule may list several). An entry with
/// no event and an empty quote cites its session as a whole; a `session`
/// of the form `memory:<id>` stands for a memory without stored evidence
/// and quotes its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Evidence {
    pub session: String,
    /// Event sequence numbers within the session: the quoted one first.
    #[serde(default)]
    pub events: Vec<u32>,
    /// The exact (secret-redacted) text the claim rests on: an excerpt of
    /// the cited event's text, never text stitched from several events.
    #[serde(default)]
    pub quote: String,
}

/// One memory, at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Memory {
    pub id: String,
    pub kind: MemoryKind,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub scope: Scope,
    #[serde(default)]
    pub priority: i32,
    pub status: Status,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    pub created_at: String,
    pub updated_at: String,
    /// Reason given when retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_reason: Option<String>,
}

impl Memory {
    /// A new active memory. The id is derived from its content and the
    /// revision that creates it, so ids are stable across export/import.
    pub fn new(kind: MemoryKind, text: &str, scope: Scope, now: &str, salt: &str) -> Result<Self, CoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CoreError::EmptyText);
        }
        Ok(Memory {
            id: memory_id(kind.as_str(), text, salt),
            kind,
            text: text.to_string(),
            tags: Vec::new(),
            scope,
            priority: 0,
            status: Status::Active,
            evidence: Vec::new(),
            created_at: now.to_string(),
            updated_at: now.to_string(),
            retired_reason: None,
        })
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

/// `m-` followed by 12 hex digits of SHA-256 over kind, text and a salt.
pub fn memory_id(kind: &str, text: &str, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    h.update([0]);
    h.update(salt.as_bytes());
    let d = h.finalize();
    format!("m-{}", hex::encode(&d[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print_back() {
        for s in ["org", "team:payments", "agent:coder", "user:ana"] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        assert!(Scope::parse("team:").is_err());
        assert!(Scope::parse("galaxy:x").is_err());
    }

    #[test]
    fn kinds_accept_user_defined_names_but_not_junk() {
        assert!(MemoryKind::new("runbook").is_ok());
        assert!(MemoryKind::new("Run Book").is_err());
        assert!(MemoryKind::new("").is_err());
    }
}
