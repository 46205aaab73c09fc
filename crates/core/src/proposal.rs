//! Dream proposals: a list of numbered ops over memory, each with evidence,
//! and the pure logic that turns chosen ops into revision changes.

use crate::memory::{memory_id, Evidence, Memory, MemoryKind, Scope, Status};
use crate::revision::Change;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an op does to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// A new memory.
    Create,
    /// Replace the text of the single target (evidence is added).
    Update,
    /// Keep the first target with `text` and the union of all targets'
    /// evidence; retire the other targets as merged into it.
    Merge,
    /// Retire the targets (kept with their history).
    Retire,
    /// Raise the targets' priority by one (the op's evidence is added).
    Promote,
    /// Lower the targets' priority by one (the op's evidence is added).
    Demote,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Merge => "merge",
            OpKind::Retire => "retire",
            OpKind::Promote => "promote",
            OpKind::Demote => "demote",
        }
    }
}

/// One proposed change to memory, with what justifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Op {
    /// 1-based number within the proposal (what `--only`/`--skip` name).
    pub n: u32,
    pub op: OpKind,
    pub kind: MemoryKind,
    /// The memory text after the op (for create, update, merge), or the
    /// target's text (for retire, promote, demote).
    pub text: String,
    /// Ids of existing memories the op changes.
    #[serde(default)]
    pub targets: Vec<String>,
    pub scope: Scope,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Number of distinct sessions supporting the op.
    pub support: u32,
    /// Number of distinct users across those sessions.
    pub users: u32,
    /// 0..1, how sure the pass that produced it is.
    pub confidence: f64,
    pub rationale: String,
    /// Which analysis pass produced it (`mistakes`, `workflows`, ...).
    #[serde(default)]
    pub pass: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A proposal's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Pending,
    Applied,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Applied => "applied",
            ProposalStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ProposalStatus> {
        Some(match s {
            "pending" => ProposalStatus::Pending,
            "applied" => ProposalStatus::Applied,
            "rejected" => ProposalStatus::Rejected,
            _ => return None,
        })
    }
}

/// The output of a dream, stored for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Proposal {
    pub id: String,
    /// Store revision the dream read.
    pub base_revision: u64,
    pub created_at: String,
    pub status: ProposalStatus,
    /// Sessions the dream read.
    pub sessions: Vec<String>,
    pub ops: Vec<Op>,
    /// Counters (sessions, events, findings per pass, elapsed ms...).
    #[serde(default)]
    pub stats: BTreeMap<String, serde_json::Value>,
    /// Revision made by applying it, once applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<u64>,
    /// The op numbers that apply made (the others were skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_ops: Vec<u32>,
    /// Free-text notes from the dream's instructions, kept for later passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The team whose sessions it read (a team-bound dream or suggestion);
    /// `None` for an org-wide one. Only that team's tokens see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// Why an op cannot be turned into changes against the current memories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpConflict {
    pub n: u32,
    pub reason: String,
}

/// Turns the chosen ops into changes against `current` (all memories,
/// keyed by id). `salt` makes created ids unique per dream. Ops targeting a
/// memory that is missing or retired are reported, not applied.
pub fn plan_ops(
    ops: &[&Op],
    current: &BTreeMap<String, Memory>,
    now: &str,
    salt: &str,
) -> Result<Vec<Change>, Vec<OpConflict>> {
    let mut state: BTreeMap<String, Memory> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let get = |state: &BTreeMap<String, Memory>, id: &str| -> Option<Memory> {
        state.get(id).or_else(|| current.get(id)).cloned()
    };
    for op in ops {
        let mut targets = Vec::new();
        for t in &op.targets {
            match get(&state, t) {
                Some(m) if m.status == Status::Active => targets.push(m),
                Some(_) => conflicts.push(OpConflict { n: op.n, reason: format!("memory {t} is retired") }),
                None => conflicts.push(OpConflict { n: op.n, reason: format!("memory {t} does not exist") }),
            }
        }
        if targets.len() != op.targets.len() {
            continue;
        }
        let touch = |mut m: Memory| {
            m.updated_at = now.to_string();
            m
        };
        match op.op {
            OpKind::Create => {
                let id = memory_id(op.kind.as_str(), &op.text, &format!("{salt}/{}", op.n));
                let m = Memory {
                    id: id.clone(),
                    kind: op.kind.clone(),
                    text: op.text.clone(),
                    tags: op.tags.clone(),
                    scope: op.scope.clone(),
                    priority: 0,
                    status: Status::Active,
                    evidence: op.evidence.clone(),
                    created_at: now.to_string(),
                    updated_at: now.to_string(),
                    retired_reason: None,
                };
                state.insert(id, m);
            }
            OpKind::Update | OpKind::Merge => {
                let Some((first, rest)) = targets.split_first() else {
                    conflicts.push(OpConflict { n: op.n, reason: "no target".into() });
                    continue;
                };
                let mut keep = first.clone();
                keep.text = op.text.clone();
                let mut ev: Vec<Evidence> = keep.evidence.clone();
                for r in rest {
                    ev.extend(r.evidence.iter().cloned());
                }
                ev.extend(op.evidence.iter().cloned());
                ev.sort();
                ev.dedup();
                keep.evidence = ev;
                keep.priority = targets.iter().map(|t| t.priority).max().unwrap_or(keep.priority);
                for tag in rest.iter().flat_map(|r| r.tags.iter()) {
                    if !keep.tags.contains(tag) {
                        keep.tags.push(tag.clone());
                    }
                }
                let keep_id = keep.id.clone();
                state.insert(keep_id.clone(), touch(keep));
                for r in rest {
                    let mut r = r.clone();
                    r.status = Status::Retired;
                    r.retired_reason = Some(format!("merged into {keep_id}"));
                    state.insert(r.id.clone(), touch(r));
                }
            }
            OpKind::Retire => {
                for mut t in targets {
                    t.status = Status::Retired;
                    t.retired_reason = Some(op.rationale.clone());
                    state.insert(t.id.clone(), touch(t));
                }
            }
            OpKind::Promote | OpKind::Demote => {
                let d = if op.op == OpKind::Promote { 1 } else { -1 };
                for mut t in targets {
                    t.priority += d;
                    // The sessions that moved it are its evidence from now
                    // on, so the same sessions never move it again.
                    let mut ev = t.evidence.clone();
                    ev.extend(op.evidence.iter().filter(|e| !e.session.starts_with("memory:")).cloned());
                    ev.sort();
                    ev.dedup();
                    t.evidence = ev;
                    state.insert(t.id.clone(), touch(t));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    Ok(state
        .into_iter()
        .map(|(id, after)| Change { before: current.get(&id).cloned(), memory_id: id, after: Some(after) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(n: u32, kind: OpKind, text: &str, targets: &[&str]) -> Op {
        Op {
            n,
            op: kind,
            kind: MemoryKind::fact(),
            text: text.into(),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            scope: Scope::org(),
            evidence: vec![Evidence { session: "s1".into(), events: vec![1], quote: "q".into() }],
            support: 3,
            users: 1,
            confidence: 0.9,
            rationale: "because".into(),
            pass: "test".into(),
            tags: vec![],
        }
    }

    fn mem(text: &str) -> Memory {
        Memory::new(MemoryKind::fact(), text, Scope::org(), "t0", "x").unwrap()
    }

    #[test]
    fn merge_keeps_the_first_target_and_retires_the_rest() {
        let a = mem("use pnpm");
        let b = mem("we use pnpm here");
        let cur: BTreeMap<_, _> = [(a.id.clone(), a.clone()), (b.id.clone(), b.clone())].into();
        let o = op(1, OpKind::Merge, "Use pnpm.", &[&a.id, &b.id]);
        let changes = plan_ops(&[&o], &cur, "t1", "d").unwrap();
        let kept = changes.iter().find(|c| c.memory_id == a.id).unwrap().after.clone().unwrap();
        let gone = changes.iter().find(|c| c.memory_id == b.id).unwrap().after.clone().unwrap();
        assert_eq!(kept.text, "Use pnpm.");
        assert_eq!(kept.status, Status::Active);
        assert_eq!(gone.status, Status::Retired);
        assert!(changes.iter().all(|c| c.after.is_some()), "no op deletes a memory");
    }

    #[test]
    fn ops_on_missing_memories_are_conflicts() {
        let o = op(4, OpKind::Retire, "x", &["m-nothere"]);
        let err = plan_ops(&[&o], &BTreeMap::new(), "t", "d").unwrap_err();
        assert_eq!(err[0].n, 4);
    }
}
