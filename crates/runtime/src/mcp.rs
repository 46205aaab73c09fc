//! Tools from MCP servers, through rmcp's client: stdio servers the run
//! starts (`command` + `args`) and streamable-HTTP servers (`url`). The
//! agent loop is synchronous; the connections live on a small tokio
//! runtime of their own, and a call waits on a channel, so the loop never
//! blocks an executor (nor needs to be inside one).

use crate::config::McpServerConfig;
use nocturne_provider::ToolSpec;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
#[cfg(feature = "mcp-http")]
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::sync::mpsc;
use std::time::Duration;

/// How long starting one server and listing its tools may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// One tool an MCP server offers, under its run-wide name `mcp__SERVER__TOOL`.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    pub full_name: String,
    pub server: String,
    pub tool: String,
    pub spec: ToolSpec,
    pub idempotent: bool,
}

/// What a tool call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub content: String,
    pub is_error: bool,
}

struct Server {
    config: McpServerConfig,
    client: Option<RunningService<RoleClient, ()>>,
    /// Why it could not be used.
    error: Option<String>,
}

/// The run's MCP connections.
pub struct McpHub {
    rt: Option<tokio::runtime::Runtime>,
    servers: Vec<Server>,
    tools: Vec<McpTool>,
}

/// The full name the agent sees.
pub fn full_name(server: &str, tool: &str) -> String {
    format!("mcp__{server}__{tool}")
}

impl McpHub {
    /// A hub without servers.
    pub fn empty() -> Self {
        McpHub { rt: None, servers: Vec::new(), tools: Vec::new() }
    }

    /// Starts or connects every server and lists its tools. A server that
    /// fails is kept with its error (its tools are missing, and an agent
    /// that names it is told why).
    pub fn connect(configs: &[McpServerConfig]) -> Result<Self, String> {
        if configs.is_empty() {
            return Ok(McpHub::empty());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nocturne-mcp")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the MCP client runtime: {e}"))?;
        let mut servers = Vec::new();
        let mut tools = Vec::new();
        let handles: Vec<_> = configs.iter().map(|c| rt.spawn(connect_one(c.clone()))).collect();
        for (c, h) in configs.iter().zip(handles) {
            let res = rt.block_on(h).map_err(|e| e.to_string()).and_then(|r| r);
            match res {
                Ok((client, list)) => {
                    for t in list {
                        tools.push(McpTool {
                            full_name: full_name(&c.name, &t.name),
                            server: c.name.clone(),
                            idempotent: c.is_idempotent(&t.name),
                            tool: t.name.clone(),
                            spec: ToolSpec {
                                name: full_name(&c.name, &t.name),
                                description: t.description.clone(),
                                input_schema: t.input_schema.clone(),
                            },
                        });
                    }
                    servers.push(Server { config: c.clone(), client: Some(client), error: None });
                }
                Err(e) => servers.push(Server { config: c.clone(), client: None, error: Some(e) }),
            }
        }
        Ok(McpHub { rt: Some(rt), servers, tools })
    }

    pub fn tools(&self) -> &[McpTool] {
        &self.tools
    }

    /// Servers that could not be used, with why.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.servers.iter().filter_map(|s| s.error.clone().map(|e| (s.config.name.clone(), e))).collect()
    }

    pub fn tool(&self, full_name: &str) -> Option<&McpTool> {
        self.tools.iter().find(|t| t.full_name == full_name)
    }

    /// Calls a tool. `Err` is a transport failure (the server died, the call
    /// timed out): the call's outcome is not known.
    pub fn call(&self, tool: &McpTool, arguments: &Value) -> Result<ToolOutput, String> {
        let (Some(rt), Some(server)) = (&self.rt, self.servers.iter().find(|s| s.config.name == tool.server)) else {
            return Err(format!("no MCP server {}", tool.server));
        };
        let Some(client) = &server.client else {
            return Err(format!(
                "MCP server {} is not available: {}",
                tool.server,
                server.error.clone().unwrap_or_default()
            ));
        };
        let args = match arguments {
            Value::Object(m) => m.clone(),
            Value::Null => serde_json::Map::new(),
            other => {
                return Ok(ToolOutput {
                    content: format!("the arguments must be an object, not {other}"),
                    is_error: true,
                })
            }
        };
        let peer = client.peer().clone();
        let params = CallToolRequestParams::new(tool.tool.clone()).with_arguments(args);
        let timeout = Duration::from_secs_f64(server.config.timeout_secs);
        let (tx, rx) = mpsc::channel();
        rt.spawn(async move {
            let r = tokio::time::timeout(timeout, peer.call_tool(params)).await;
            let _ = tx.send(r);
        });
        match rx.recv() {
            Ok(Ok(Ok(result))) => {
                let v = serde_json::to_value(&result).unwrap_or(Value::Null);
                Ok(ToolOutput {
                    content: content_text(&v),
                    is_error: v.get("isError").and_then(Value::as_bool).unwrap_or(false),
                })
            }
            Ok(Ok(Err(e))) => Err(format!("MCP server {}: {e}", tool.server)),
            Ok(Err(_)) => Err(format!("MCP server {}: no answer within {} s", tool.server, server.config.timeout_secs)),
            Err(_) => Err(format!("MCP server {}: the call was lost", tool.server)),
        }
    }
}

impl Drop for McpHub {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let clients: Vec<_> = self.servers.iter_mut().filter_map(|s| s.client.take()).collect();
            rt.block_on(async move {
                for c in clients {
                    let _ = tokio::time::timeout(Duration::from_secs(3), c.cancel()).await;
                }
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

struct Listed {
    name: String,
    description: String,
    input_schema: Value,
}

async fn connect_one(c: McpServerConfig) -> Result<(RunningService<RoleClient, ()>, Vec<Listed>), String> {
    let what = format!("MCP server {}", c.name);
    let fut = async {
        let client = match (&c.command, &c.url) {
            (Some(cmd), _) => {
                let cmd = tokio::process::Command::new(cmd).configure(|k| {
                    k.args(&c.args);
                    for (n, v) in &c.env {
                        k.env(n, v);
                    }
                });
                let (transport, _stderr) = TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("{what}: cannot start {}: {e}", c.command.clone().unwrap_or_default()))?;
                ().serve(transport).await.map_err(|e| format!("{what}: {e}"))?
            }
            #[cfg(not(feature = "mcp-http"))]
            (None, Some(url)) => {
                let why = "this build has no streamable-HTTP MCP client (built without the `mcp-http` feature)";
                return Err(format!("{what} at {url}: {why}"));
            }
            #[cfg(feature = "mcp-http")]
            (None, Some(url)) => {
                let mut cfg = rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                    url.as_str(),
                );
                if let Some(var) = &c.bearer_token_env {
                    let token =
                        std::env::var(var).map_err(|_| format!("{what}: the environment variable {var} is not set"))?;
                    cfg = cfg.auth_header(token);
                }
                let transport = StreamableHttpClientTransport::from_config(cfg);
                ().serve(transport).await.map_err(|e| format!("{what} at {url}: {e}"))?
            }
            (None, None) => return Err(format!("{what}: neither command nor url")),
        };
        let tools = client.list_all_tools().await.map_err(|e| format!("{what}: listing its tools: {e}"))?;
        let list = tools
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .map(|v| Listed {
                name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                description: v.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
                input_schema: v.get("inputSchema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"})),
            })
            .filter(|t| !t.name.is_empty())
            .collect();
        Ok((client, list))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| format!("{what}: no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
}

/// The text of a `CallToolResult`: its text blocks joined, else its
/// structured content, else what the other blocks are.
fn content_text(v: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(Value::Array(items)) = v.get("content") {
        for it in items {
            match it.get("type").and_then(Value::as_str) {
                Some("text") => parts.push(it.get("text").and_then(Value::as_str).unwrap_or_default().to_string()),
                Some("resource") => {
                    let r = it.get("resource");
                    let text = r.and_then(|r| r.get("text")).and_then(Value::as_str);
                    let uri = r.and_then(|r| r.get("uri")).and_then(Value::as_str).unwrap_or("");
                    parts.push(text.map_or_else(|| format!("[resource {uri}]"), str::to_string));
                }
                Some(other) => parts.push(format!("[{other}]")),
                None => {}
            }
        }
    }
    if parts.is_empty() {
        if let Some(s) = v.get("structuredContent") {
            return s.to_string();
        }
    }
    parts.join("\n")
}
