//! Orchestration runs (agents that delegate), as the store keeps them: a
//! status record per run and an append-only journal of every agent's
//! steps. The runtime (`nocturne-runtime`) writes them through
//! [`crate::Scoped`]; this module defines the journal's shapes both sides
//! read ([`TypedResult`], [`RunUsage`], [`StartBody`]) and builds the tree
//! of agents a run shows (`runs tree`, `/v1/runs/{id}/tree`, the review
//! page). The format is specified in docs/runtime.md.

use nocturne_store::{AgentRun, JournalEntry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The journal entry kinds.
pub mod kind {
    /// Step 0 of an agent: what it was given ([`super::StartBody`]).
    pub const START: &str = "start";
    /// A model call and its answer (or error).
    pub const MODEL: &str = "model";
    /// A tool call: `started` before it is made, `finished` with its result.
    pub const TOOL: &str = "tool";
    /// A `spawn_agent` call: `started`, then `finished` with the child's typed result.
    pub const SPAWN: &str = "spawn";
    /// An agent's last step: its typed result ([`super::EndBody`]).
    pub const END: &str = "end";
}

/// The journal entry phases.
pub mod phase {
    pub const STARTED: &str = "started";
    pub const FINISHED: &str = "finished";
}

/// What an agent and its sub-agents spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunUsage {
    /// Model calls.
    pub turns: u64,
    pub tool_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars, from the model's configured prices.
    pub cost_usd: f64,
}

impl RunUsage {
    pub fn add(&mut self, o: &RunUsage) {
        self.turns += o.turns;
        self.tool_calls += o.tool_calls;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cost_usd += o.cost_usd;
    }

    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Why an agent failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ModelError,
    ToolError,
    BudgetExceeded,
    InvalidOutput,
    Cancelled,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ModelError => "model_error",
            FailureKind::ToolError => "tool_error",
            FailureKind::BudgetExceeded => "budget_exceeded",
            FailureKind::InvalidOutput => "invalid_output",
            FailureKind::Cancelled => "cancelled",
        }
    }
}

/// What an agent returns to its parent's `spawn_agent` call (and the root
/// to the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TypedResult {
    /// It gave a final answer (checked against its `output_schema` when it has one).
    Completed { output: Value, usage: RunUsage },
    /// A budget ran out after it had done some work: its last answer.
    Partial { output: Value, reason: String, usage: RunUsage },
    /// It failed, after `attempts` tries.
    Failed { kind: FailureKind, message: String, attempts: u32, usage: RunUsage },
}

impl TypedResult {
    pub fn usage(&self) -> &RunUsage {
        match self {
            TypedResult::Completed { usage, .. }
            | TypedResult::Partial { usage, .. }
            | TypedResult::Failed { usage, .. } => usage,
        }
    }

    /// `completed`, `partial` or `failed`.
    pub fn status(&self) -> &'static str {
        match self {
            TypedResult::Completed { .. } => "completed",
            TypedResult::Partial { .. } => "partial",
            TypedResult::Failed { .. } => "failed",
        }
    }

    /// The run state this result gives its run: `completed`, `partial`,
    /// `failed`, or `cancelled` for a cancelled failure.
    pub fn run_state(&self) -> &'static str {
        match self {
            TypedResult::Failed { kind: FailureKind::Cancelled, .. } => "cancelled",
            other => other.status(),
        }
    }
}

/// The budgets an agent runs under (`None`: unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// The body of an agent's `start` entry (step 0): everything its first
/// model request is made of, so a resumed agent starts from exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartBody {
    /// The agent definition's name.
    pub name: String,
    pub task: String,
    /// The `context` object its parent passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The parent's path and the step of its `spawn_agent` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_by_step: Option<u32>,
    /// 1 for the first try; the runtime's retries count up.
    pub attempt: u32,
    /// The agent's transcript in the session log.
    pub session: String,
    pub system: String,
    /// The first user message (task, context).
    pub user: String,
    /// The tools offered, as sent to the model.
    pub tools: Vec<Value>,
    /// `native` tool calling or `json` actions.
    pub mode: String,
    pub budget: Budget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The model spec (`provider:base_url#model`).
    pub model: String,
    /// The memories its context bundle handed it.
    #[serde(default)]
    pub memories: Vec<String>,
}

/// The body of an agent's `end` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndBody {
    pub result: TypedResult,
}

/// One agent in a run's tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunNode {
    /// Its path (`root`, `root/3`, `root/3.2`: step 3's child, second attempt).
    pub path: String,
    pub agent: String,
    pub task: String,
    pub attempt: u32,
    pub session: String,
    /// `running`, `completed`, `partial`, `failed`, or `cancelled`.
    pub state: String,
    /// Model calls and tool calls journaled (this agent's own).
    pub model_calls: u64,
    pub tool_calls: u64,
    /// A tool call in flight: its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TypedResult>,
    pub children: Vec<RunNode>,
}

/// A run as `runs show` gives it: the record, the tree and the journal size.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunView {
    #[serde(flatten)]
    pub run: AgentRun,
    pub journal_entries: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<RunNode>,
}

/// The parent path of an agent path (`root/3/1` → `root/3`).
pub fn parent_path(path: &str) -> Option<&str> {
    path.rfind('/').and_then(|i| path.get(..i))
}

/// Builds the tree of agents from a run's journal: one node per agent that
/// started, children in the order their spawning steps came.
pub fn tree(entries: &[JournalEntry]) -> Option<RunNode> {
    let mut nodes: BTreeMap<String, RunNode> = BTreeMap::new();
    let mut open_tools: BTreeMap<(String, u32), String> = BTreeMap::new();
    for e in entries {
        match (e.kind.as_str(), e.phase.as_str()) {
            (kind::START, _) => {
                let Ok(b) = serde_json::from_value::<StartBody>(e.body.clone()) else { continue };
                nodes.insert(
                    e.agent.clone(),
                    RunNode {
                        path: e.agent.clone(),
                        agent: b.name,
                        task: b.task,
                        attempt: b.attempt,
                        session: b.session,
                        state: "running".into(),
                        model_calls: 0,
                        tool_calls: 0,
                        in_flight: None,
                        result: None,
                        children: Vec::new(),
                    },
                );
            }
            (kind::MODEL, _) => {
                if let Some(a) = nodes.get_mut(&e.agent) {
                    a.model_calls += 1;
                }
            }
            (kind::TOOL | kind::SPAWN, phase::STARTED) => {
                let name = e.body.get("name").and_then(Value::as_str).unwrap_or("spawn_agent").to_string();
                open_tools.insert((e.agent.clone(), e.step), name);
            }
            (kind::TOOL | kind::SPAWN, _) => {
                open_tools.remove(&(e.agent.clone(), e.step));
                if let Some(a) = nodes.get_mut(&e.agent) {
                    a.tool_calls += 1;
                }
            }
            (kind::END, _) => {
                let Ok(b) = serde_json::from_value::<EndBody>(e.body.clone()) else { continue };
                if let Some(a) = nodes.get_mut(&e.agent) {
                    a.state = b.result.run_state().to_string();
                    a.result = Some(b.result);
                }
            }
            _ => {}
        }
    }
    for ((agent, _), name) in open_tools {
        if let Some(a) = nodes.get_mut(&agent) {
            a.in_flight = Some(name);
        }
    }
    // Attach children deepest first, so each node carries its subtree.
    let mut paths: Vec<String> = nodes.keys().cloned().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    let mut root = None;
    for p in paths {
        let Some(mut node) = nodes.remove(&p) else { continue };
        node.children.sort_by_key(|c| child_order(&c.path));
        match parent_path(&p).and_then(|pp| nodes.get_mut(pp)) {
            Some(parent) => parent.children.push(node),
            None if parent_path(&p).is_none() => root = Some(node),
            None => {}
        }
    }
    root
}

/// Sort key of a child path's last segment `STEP[.ATTEMPT]`.
fn child_order(path: &str) -> (u32, u32) {
    let last = path.rsplit('/').next().unwrap_or(path);
    let (step, attempt) = last.split_once('.').unwrap_or((last, "1"));
    (step.parse().unwrap_or(0), attempt.parse().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(agent: &str, step: u32, phase: &str, kind: &str, body: Value) -> JournalEntry {
        JournalEntry {
            seq: 0,
            run: "r".into(),
            agent: agent.into(),
            step,
            phase: phase.into(),
            kind: kind.into(),
            digest: String::new(),
            at: "2026-01-01T00:00:00Z".into(),
            body,
        }
    }

    fn start(agent: &str, name: &str, parent: Option<(&str, u32)>, attempt: u32) -> JournalEntry {
        let b = StartBody {
            name: name.into(),
            task: format!("task of {agent}"),
            context: None,
            parent: parent.map(|p| p.0.to_string()),
            spawned_by_step: parent.map(|p| p.1),
            attempt,
            session: format!("r/{agent}"),
            system: String::new(),
            user: String::new(),
            tools: vec![],
            mode: "native".into(),
            budget: Budget::default(),
            output_schema: None,
            model: "m".into(),
            memories: vec![],
        };
        entry(agent, 0, phase::FINISHED, kind::START, serde_json::to_value(b).unwrap())
    }

    #[test]
    fn the_tree_nests_children_by_path_with_their_state_and_what_is_in_flight() {
        let done = TypedResult::Completed { output: Value::String("4".into()), usage: RunUsage::default() };
        let failed = TypedResult::Failed {
            kind: FailureKind::ModelError,
            message: "HTTP 500".into(),
            attempts: 1,
            usage: RunUsage::default(),
        };
        let entries = vec![
            start("root", "lead", None, 1),
            entry("root", 1, phase::FINISHED, kind::MODEL, Value::Null),
            entry("root", 2, phase::STARTED, kind::SPAWN, serde_json::json!({"agent": "worker"})),
            entry("root", 3, phase::STARTED, kind::SPAWN, serde_json::json!({"agent": "worker"})),
            start("root/3", "worker", Some(("root", 3)), 1),
            start("root/2", "worker", Some(("root", 2)), 1),
            entry("root/3", 1, phase::FINISHED, kind::MODEL, Value::Null),
            entry("root/3", 2, phase::FINISHED, kind::END, serde_json::json!({"result": failed})),
            start("root/3.2", "worker", Some(("root", 3)), 2),
            entry("root/2", 1, phase::STARTED, kind::TOOL, serde_json::json!({"name": "mcp__fs__read"})),
            entry("root/3.2", 1, phase::FINISHED, kind::END, serde_json::json!({"result": done})),
        ];
        let t = tree(&entries).unwrap();
        assert_eq!(
            (t.path.as_str(), t.agent.as_str(), t.state.as_str(), t.model_calls),
            ("root", "lead", "running", 1)
        );
        let kids: Vec<(&str, &str)> = t.children.iter().map(|c| (c.path.as_str(), c.state.as_str())).collect();
        assert_eq!(kids, [("root/2", "running"), ("root/3", "failed"), ("root/3.2", "completed")]);
        assert_eq!(t.children[0].in_flight.as_deref(), Some("mcp__fs__read"));
        assert_eq!(t.in_flight.as_deref(), Some("spawn_agent"), "the spawns are still open");
    }

    #[test]
    fn typed_results_read_and_write_in_the_documented_shape() {
        let r = TypedResult::Failed {
            kind: FailureKind::BudgetExceeded,
            message: "turn budget".into(),
            attempts: 1,
            usage: RunUsage { turns: 3, ..RunUsage::default() },
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["kind"], "budget_exceeded");
        assert_eq!(v["usage"]["turns"], 3);
        assert_eq!(serde_json::from_value::<TypedResult>(v).unwrap(), r);
        assert_eq!(parent_path("root/3/1.2"), Some("root/3"));
        assert_eq!(parent_path("root"), None);
    }
}
