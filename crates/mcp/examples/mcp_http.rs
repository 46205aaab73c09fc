//! Serves Nocturne's MCP tools over streamable HTTP at
//! `http://127.0.0.1:PORT/mcp` for a store, requiring bearer tokens unless
//! `--insecure-local`. Prints `listening on http://127.0.0.1:PORT/mcp` to
//! stdout once ready (`--port 0` picks a free port). Stops on Ctrl-C.
//!
//! `cargo run -p nocturne-mcp --example mcp_http -- --store /tmp/x.db --port 0`

use nocturne_mcp::{AuthMode, CancellationToken, HttpConfig};
use std::io::Write;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: mcp_http --store PATH [--port N] [--insecure-local]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut store = std::env::var("NOCTURNE_STORE").ok();
    let mut port: u16 = 0;
    let mut auth = AuthMode::BearerTokens;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => store = args.next(),
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => return usage(),
            },
            "--insecure-local" => auth = AuthMode::InsecureLocal,
            _ => return usage(),
        }
    }
    let Some(store) = store else { return usage() };
    let svc = match nocturne_service::Service::open(std::path::Path::new(&store)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cancel = CancellationToken::new();
    let config = HttpConfig::default().with_cancellation_token(cancel.clone());
    let app = nocturne_mcp::streamable_http_router_with(svc, auth, config);
    println!("listening on http://{addr}/mcp");
    let _ = std::io::stdout().flush();
    let shutdown = {
        let cancel = cancel.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        }
    };
    match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
