//! Serves Nocturne's MCP tools over stdio for the store in `NOCTURNE_STORE`
//! (or the first argument), as the local user.
//!
//! `NOCTURNE_STORE=/tmp/x.db cargo run -p nocturne-mcp --example mcp_stdio`

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(store) = std::env::args().nth(1).or_else(|| std::env::var("NOCTURNE_STORE").ok()) else {
        eprintln!("usage: mcp_stdio STORE (or set NOCTURNE_STORE)");
        return ExitCode::from(2);
    };
    let svc = match nocturne_service::Service::open(std::path::Path::new(&store)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("nocturne mcp: serving {store} over stdio");
    match nocturne_mcp::serve_stdio(svc).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
