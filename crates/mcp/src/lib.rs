//! MCP adapter: Nocturne's memory as tools an agent calls, over stdio (a
//! local agent starts `nocturne mcp`) and streamable HTTP (`/mcp` of
//! `nocturne serve`). Like every adapter it holds no business logic: tools
//! check their arguments, call the service as the caller, and map errors
//! through the service's one error table.
//!
//! Tools: `memory_search`, `memory_context`, `memory_propose` (a pending
//! proposal, never a direct write), `outcome_log`, `session_append`.

mod args;
mod errors;
mod handler;
mod http;
mod output;

pub use errors::{map_error, Mapped};
pub use handler::{NocturneMcp, INSTRUCTIONS};
pub use http::{
    bearer_token, streamable_http_router, streamable_http_router_with, AuthMode, CancellationToken, HttpConfig,
    MCP_PATH,
};

use nocturne_service::Service;
use rmcp::ServiceExt;

/// Why the MCP server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The client never completed the MCP handshake.
    #[error("MCP handshake failed: {0}")]
    Initialize(Box<rmcp::service::ServerInitializeError>),
    /// The server task failed.
    #[error("MCP server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<rmcp::service::ServerInitializeError> for McpError {
    fn from(e: rmcp::service::ServerInitializeError) -> Self {
        McpError::Initialize(Box::new(e))
    }
}

/// Serves MCP over stdin/stdout as the local user until the client
/// disconnects. Writes nothing but protocol messages to stdout (rmcp logs
/// through `tracing`; install a subscriber that writes to stderr, if any).
pub async fn serve_stdio(svc: Service) -> Result<(), McpError> {
    let running = NocturneMcp::local(svc).serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
