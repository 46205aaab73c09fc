//! What a run is set up with: the `[model]`, `[[mcp_server]]` and
//! `[runtime]` tables of `nocturne.toml`, and the agents. The whole setup
//! is stored with the run, so resuming it needs nothing but the store.

use crate::agents::AgentSet;
use crate::RuntimeError;
use nocturne_provider::ModelConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `[[mcp_server]]`: a tool server started over stdio (`command`,
/// `args`, `env`) or reached over streamable HTTP (`url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Its tools are named `mcp__NAME__TOOL`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables set for the command.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `url`: the environment variable holding a bearer token (never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Tools that may be called again after a crash left a call of them
    /// unfinished (`["*"]`: all of them). Others are reported `unknown_outcome`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idempotent: Vec<String>,
    /// Seconds one call may take.
    #[serde(default = "default_tool_timeout")]
    pub timeout_secs: f64,
}

fn default_tool_timeout() -> f64 {
    120.0
}

impl McpServerConfig {
    pub fn is_idempotent(&self, tool: &str) -> bool {
        self.idempotent.iter().any(|t| t == "*" || t == tool)
    }
}

/// The `[runtime]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Sub-agents of one model turn that run at once.
    #[serde(default = "default_parallel")]
    pub max_parallel: usize,
    /// How deep sub-agents may nest (the root is depth 0).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Model turns of a whole run when the root agent sets none.
    #[serde(default = "default_turns")]
    pub max_turns: u64,
    /// First back-off before retrying a failed sub-agent (doubles each time, ≤ 30 s).
    #[serde(default = "default_backoff")]
    pub retry_backoff_ms: u64,
    /// Token budget of the memory context bundle each agent starts with (0: none).
    #[serde(default = "default_context")]
    pub context_budget: usize,
    /// Write OpenTelemetry spans as JSON lines to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_file: Option<String>,
    /// Send OpenTelemetry spans over OTLP/HTTP (JSON) to this collector
    /// (`http://127.0.0.1:4318`). Nothing is sent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

fn default_parallel() -> usize {
    8
}
fn default_depth() -> usize {
    4
}
fn default_turns() -> u64 {
    50
}
fn default_backoff() -> u64 {
    500
}
fn default_context() -> usize {
    800
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            max_parallel: default_parallel(),
            max_depth: default_depth(),
            max_turns: default_turns(),
            retry_backoff_ms: default_backoff(),
            context_budget: default_context(),
            trace_file: None,
            otlp_endpoint: None,
        }
    }
}

/// The tables of `nocturne.toml` the runtime reads (others are the service's).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FileConfig {
    #[serde(default)]
    pub model: Option<ModelConfig>,
    #[serde(default)]
    pub mcp_server: Vec<McpServerConfig>,
    #[serde(default)]
    pub runtime: RuntimeSettings,
}

impl FileConfig {
    /// Parses `nocturne.toml` text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<FileConfig, RuntimeError> {
        #[derive(Deserialize)]
        struct Whole {
            #[serde(default)]
            model: Option<ModelConfig>,
            #[serde(default)]
            mcp_server: Vec<McpServerConfig>,
            #[serde(default)]
            runtime: RuntimeSettings,
        }
        let w: Whole = toml::from_str(text).map_err(|e| RuntimeError::Config(format!("{source}: {e}")))?;
        let c = FileConfig { model: w.model, mcp_server: w.mcp_server, runtime: w.runtime };
        c.check(source)?;
        Ok(c)
    }

    fn check(&self, source: &str) -> Result<(), RuntimeError> {
        let err = |m: String| Err(RuntimeError::Config(format!("{source}: {m}")));
        let mut names = std::collections::BTreeSet::new();
        for s in &self.mcp_server {
            let ok = !s.name.is_empty()
                && !s.name.contains("__")
                && s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return err(format!("mcp_server name {:?}: use letters, digits, `-` and `_` (no `__`)", s.name));
            }
            if !names.insert(&s.name) {
                return err(format!("two mcp_server entries are named {:?}", s.name));
            }
            match (&s.command, &s.url) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => return err(format!("mcp_server {:?} needs either `command` (stdio) or `url` (HTTP)", s.name)),
            }
            if let Some(u) = &s.url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return err(format!("mcp_server {:?}: url {u:?} must start with http:// or https://", s.name));
                }
            }
            if !(s.timeout_secs.is_finite() && s.timeout_secs > 0.0) {
                return err(format!("mcp_server {:?}: timeout_secs must be > 0", s.name));
            }
        }
        if self.runtime.max_parallel == 0 {
            return err("runtime.max_parallel must be at least 1".into());
        }
        if let Some(m) = &self.model {
            m.validate().map_err(|e| RuntimeError::Config(format!("{source}: [model]: {e}")))?;
        }
        Ok(())
    }
}

/// Everything a run is made with, stored in its record (`setup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The setup format's version.
    pub version: u32,
    pub agents: AgentSet,
    pub model: ModelConfig,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
    #[serde(default)]
    pub runtime: RuntimeSettings,
    /// The `context` object the root agent was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// The setup version this build writes and resumes.
pub const SETUP_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_tables_read_with_defaults_and_are_checked() {
        let c = FileConfig::parse(
            "[model]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n\n[[mcp_server]]\nname = \"fs\"\ncommand = \"npx\"\nargs = [\"x\"]\nidempotent = [\"read_file\"]\n\n[[dream.schedule]]\nname = \"n\"\ncron = \"0 3 * * *\"\n",
            "nocturne.toml",
        )
        .unwrap();
        assert_eq!(c.mcp_server[0].name, "fs");
        assert!(c.mcp_server[0].is_idempotent("read_file") && !c.mcp_server[0].is_idempotent("write_file"));
        assert_eq!(c.runtime, RuntimeSettings::default());
        let e = FileConfig::parse("[[mcp_server]]\nname = \"a\"\n", "n.toml").unwrap_err().to_string();
        assert!(e.contains("needs either `command` (stdio) or `url` (HTTP)"), "{e}");
        let e = FileConfig::parse("[runtime]\nmax_paralel = 2\n", "n.toml").unwrap_err().to_string();
        assert!(e.contains("unknown field `max_paralel`"), "{e}");
    }
}
