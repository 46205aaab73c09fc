//! Helpers shared by the dream integration tests.

use nocturne_core::proposal::plan_ops;
use nocturne_core::{Memory, Op, Proposal};
use std::collections::BTreeMap;

/// Applies every op of `p` to `memories` as the service would, at `at`.
pub fn apply(p: &Proposal, memories: &[Memory], at: &str) -> Vec<Memory> {
    let cur: BTreeMap<String, Memory> = memories.iter().map(|m| (m.id.clone(), m.clone())).collect();
    let ops: Vec<&Op> = p.ops.iter().collect();
    let mut out = cur.clone();
    for c in plan_ops(&ops, &cur, at, &p.id).unwrap() {
        if let Some(a) = c.after {
            out.insert(c.memory_id, a);
        }
    }
    out.into_values().collect()
}
