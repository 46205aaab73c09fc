//! Store revisions: every change to memory is a numbered revision with an
//! author, a reason and the exact before/after of each memory it touched.

use crate::memory::Memory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who made a revision: a person (`user:NAME`), a dream (`dream:ID`), or the
/// importer (`import`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Author(pub String);

impl Author {
    pub fn person(name: &str) -> Self {
        Author(format!("user:{name}"))
    }
    pub fn dream(id: &str) -> Self {
        Author(format!("dream:{id}"))
    }
}

/// One memory's change within a revision. `before` is `None` for a created
/// memory; `after` is never `None` (memories are retired, never deleted),
/// except when a rollback goes back before a memory existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Change {
    pub memory_id: String,
    pub before: Option<Memory>,
    pub after: Option<Memory>,
}

/// A numbered store revision. Revision 0 is the empty store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revision {
    pub rev: u64,
    pub author: Author,
    pub reason: String,
    pub created_at: String,
    pub changes: Vec<Change>,
}

/// The memory set after replaying `revisions` (in order) from empty.
pub fn replay<'a>(revisions: impl IntoIterator<Item = &'a Revision>) -> BTreeMap<String, Memory> {
    let mut state = BTreeMap::new();
    for r in revisions {
        apply_changes(&mut state, &r.changes);
    }
    state
}

/// Applies changes to a memory map (`after = None` removes the entry).
pub fn apply_changes(state: &mut BTreeMap<String, Memory>, changes: &[Change]) {
    for c in changes {
        match &c.after {
            Some(m) => {
                state.insert(c.memory_id.clone(), m.clone());
            }
            None => {
                state.remove(&c.memory_id);
            }
        }
    }
}

/// The changes that turn `current` into `target` (both keyed by id).
/// Used by rollback: the result is a new revision, so rollback is undoable.
pub fn diff(current: &BTreeMap<String, Memory>, target: &BTreeMap<String, Memory>) -> Vec<Change> {
    let mut out = Vec::new();
    for (id, cur) in current {
        match target.get(id) {
            Some(t) if t == cur => {}
            Some(t) => out.push(Change { memory_id: id.clone(), before: Some(cur.clone()), after: Some(t.clone()) }),
            None => out.push(Change { memory_id: id.clone(), before: Some(cur.clone()), after: None }),
        }
    }
    for (id, t) in target {
        if !current.contains_key(id) {
            out.push(Change { memory_id: id.clone(), before: None, after: Some(t.clone()) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryKind, Scope};

    fn mem(text: &str) -> Memory {
        Memory::new(MemoryKind::fact(), text, Scope::org(), "2026-01-01T00:00:00Z", "t").unwrap()
    }

    #[test]
    fn diff_then_apply_reaches_the_target() {
        let a = mem("a");
        let b = mem("b");
        let mut b2 = b.clone();
        b2.text = "b2".into();
        let c = mem("c");
        let current: BTreeMap<_, _> = [(a.id.clone(), a), (b.id.clone(), b2)].into();
        let target: BTreeMap<_, _> = [(b.id.clone(), b), (c.id.clone(), c)].into();
        let mut state = current.clone();
        apply_changes(&mut state, &diff(&current, &target));
        assert_eq!(state, target);
    }
}
