//! The agent runtime: a primary agent that spawns and coordinates
//! sub-agents, passes them its task's context and a share of its budgets,
//! gets a typed result back from each, survives a sub-agent's failure
//! without restarting, and can be killed at any point and resumed from its
//! journal without making a finished model or tool call again.
//!
//! - Agents are defined in markdown files with YAML front matter
//!   ([`agents`], the Claude Code format plus budgets, retries and an
//!   output schema).
//! - Tools come from MCP servers ([`mcp`], rmcp's client, stdio or
//!   streamable HTTP) and the built-ins `spawn_agent`, `memory_search` and
//!   `report_outcome` ([`tools`]).
//! - Models are the provider crate's: native tool calling, or JSON actions
//!   for models without it.
//! - Every agent's transcript is a session of the log (children linked to
//!   their parent), with an outcome for its typed result, so dreams learn
//!   from runs like from any transcript.
//!
//! The runtime sits above the service and calls it only through
//! [`nocturne_service::Scoped`]. It is synchronous: agents are threads
//! (the sub-agents of one turn at most `max_parallel` at once); MCP
//! connections live on a small tokio runtime of their own. Journal format,
//! budgets, retries, cancellation and the crash guarantees: docs/runtime.md.

mod agent;
pub mod agents;
pub mod config;
mod error;
mod host;
pub mod mcp;
mod runner;
mod session;
pub mod tools;
mod trace;

pub use agents::{AgentDef, AgentSet, ToolCalling};
pub use config::{FileConfig, McpServerConfig, RuntimeSettings, Setup, SETUP_VERSION};
pub use error::RuntimeError;
pub use host::RuntimeHost;
pub use runner::{create_run, resume_run};

use nocturne_service::{Access, AgentRun, Service, TypedResult};
use std::sync::Arc;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The root agent's name.
    pub agent: String,
    pub task: String,
    /// A JSON object the root agent is given with its task.
    pub context: Option<serde_json::Value>,
    pub user: Option<String>,
    pub team: Option<String>,
}

/// What happens as a run goes (for a live view).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    RunStarted { run: String, resumed: bool },
    AgentStarted { path: String, agent: String, task: String },
    ModelCall { path: String, step: u32 },
    ToolStarted { path: String, step: u32, tool: String },
    ToolFinished { path: String, step: u32, tool: String, is_error: bool },
    AgentEnded { path: String, agent: String, result: TypedResult },
    Note(String),
}

pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    pub progress: Option<ProgressFn>,
    /// Another model for what is left of the run (resume only).
    pub model: Option<nocturne_provider::ModelConfig>,
    /// How long the run's claim lasts without renewal (renewed every third
    /// of it); default 120 s. A worker passes its job lease, so the run is
    /// free to take over when the job is.
    pub claim: Option<std::time::Duration>,
}

/// A run that ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: AgentRun,
    pub result: TypedResult,
    /// What the run noticed (an unavailable tool server, a retried agent, ...).
    pub notes: Vec<String>,
}

/// Records a run and runs it to its end.
pub fn start_run(
    svc: &Service,
    access: &Access,
    setup: &Setup,
    req: &RunRequest,
    opts: RunOptions,
) -> Result<RunOutcome, RuntimeError> {
    let run = create_run(&svc.scoped(access.clone()), setup, req)?;
    resume_run(svc, access, &run.id, opts)
}

/// `n` random bytes as hex (from the OS).
pub(crate) fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_ok();
    if !ok {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> (8 * (i % 16))) as u8 ^ (std::process::id() as u8);
        }
    }
    hex::encode(buf)
}
