//! The HTTP adapter: a JSON REST API, its OpenAPI document and the
//! server-rendered review pages, over [`nocturne_service`].
//!
//! Handlers only authenticate, parse the request, call one operation of
//! [`nocturne_service::Scoped`] (on a blocking thread: the service is
//! synchronous) and serialize the result. Every route is declared once, in
//! [`api::routes`] (and the review pages in [`ui::routes`]); the router and the
//! OpenAPI document are both built from that table.

#![recursion_limit = "512"]

pub mod api;
mod auth;
mod conn;
mod error;
pub mod guard;
pub mod openapi;
mod route;
pub mod ui;

pub use auth::Credentials;
pub use conn::Limits;
pub use error::{code_for, codes, ApiError, ErrorBody, ErrorDetail, HTTP_CODES};
pub use guard::HostPolicy;
pub use route::{query_struct, schema, Body, Example, ExampleIds, Param, ParamIn, QueryParams, Reply, Route, SchemaFn};

use axum::http::Method;
use axum::Router;
use nocturne_service::Service;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest request body accepted (transcripts can be large).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every handler shares: the service, how unauthenticated calls are
/// treated, and which `Host` values are served.
#[derive(Clone)]
pub struct AppState {
    svc: Service,
    insecure_local: bool,
    hosts: HostPolicy,
    openapi: Arc<serde_json::Value>,
}

impl AppState {
    /// Every call needs a bearer token (or, for the review pages, the
    /// cookie). Serves the loopback names on any port (see [`AppState::with_hosts`]).
    pub fn new(svc: Service) -> Self {
        AppState {
            svc,
            insecure_local: false,
            hosts: HostPolicy::loopback(None),
            openapi: Arc::new(openapi::document()),
        }
    }

    /// The `Host` values to serve ([`Server::bind`] sets them from the
    /// bound address and the allowed names).
    pub fn with_hosts(mut self, hosts: HostPolicy) -> Self {
        self.hosts = hosts;
        self
    }

    /// Calls without a token act as [`nocturne_service::Access::local`]
    /// (org-wide admin). [`serve`] only allows this on a loopback address.
    pub fn insecure_local(svc: Service) -> Self {
        AppState { insecure_local: true, openapi: Arc::new(openapi::document_local()), ..AppState::new(svc) }
    }

    pub fn service(&self) -> &Service {
        &self.svc
    }

    pub fn is_insecure_local(&self) -> bool {
        self.insecure_local
    }
}

/// Every route the server answers: the API table, then the review pages.
pub fn routes() -> Vec<Route> {
    let mut v = api::routes();
    v.extend(ui::routes());
    v
}

/// The router, and the `(method, path)` of every route it was given. Both
/// come from [`routes`], so the OpenAPI document cannot drift from it.
pub fn router_with_routes(state: AppState) -> (Router, Vec<(Method, &'static str)>) {
    let (app, served) = routes_router(state.clone());
    (secure(app, &state), served)
}

/// The routes, without the guard layers.
fn routes_router(state: AppState) -> (Router, Vec<(Method, &'static str)>) {
    let mut router: Router<AppState> = Router::new();
    let mut served = Vec::new();
    for r in routes() {
        served.push((r.method.clone(), r.path));
        let handler = match r.body {
            route::Body::Json { .. } | route::Body::OptionalJson { .. } => {
                r.handler.route_layer(axum::middleware::from_fn(guard::require_json))
            }
            _ => r.handler,
        };
        router = router.route(r.path, handler);
    }
    let router =
        router.fallback(error::no_route).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(state);
    (router, served)
}

/// The guard layers around `app` (which may include more than the route
/// table: MCP): `Host` and cross-site checks, JSON errors, security headers.
fn secure(app: Router, state: &AppState) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    app.layer(from_fn_with_state(guard::Guard { hosts: state.hosts.clone() }, guard::check))
        .layer(from_fn(guard::json_errors))
        .layer(from_fn(guard::security_headers))
}

/// The application: REST API under `/v1`, `/openapi.json`, review pages
/// under `/`, behind the guard layers.
pub fn router(state: AppState) -> Router {
    router_with_routes(state).0
}

/// [`router`] with more routes merged in (MCP at `/mcp`), all behind the
/// same guard layers.
pub fn router_with(state: AppState, extra: Router) -> Router {
    let app = extra.merge(routes_router(state.clone()).0);
    secure(app, &state)
}

/// How to run the server.
#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Serve calls without a token as the local org admin. Refused unless
    /// `listen` is a loopback address.
    pub insecure_local: bool,
    /// More `Host` names to serve (`host` or `host:port`), beside the
    /// loopback names. Bound to a public address with none given, any
    /// `Host` is served (tokens guard it). Not allowed with `insecure_local`.
    pub allowed_hosts: Vec<String>,
    /// Connection limits and timeouts.
    pub limits: Limits,
    /// A ready service (store opened, embedder chosen).
    pub service: Service,
}

impl ServeConfig {
    /// Default limits, no extra host names.
    pub fn new(listen: SocketAddr, insecure_local: bool, service: Service) -> Self {
        ServeConfig { listen, insecure_local, allowed_hosts: Vec::new(), limits: Limits::default(), service }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "serving without tokens (as the org admin) is only allowed on a loopback address (127.0.0.1 or ::1), not {0}"
    )]
    InsecureNotLoopback(SocketAddr),
    #[error("serving without tokens answers only to loopback names; other host names need tokens")]
    InsecureWithAllowedHosts,
    #[error("allowed host {0}")]
    AllowedHost(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound, not yet running server.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
}

impl Server {
    /// Binds `config.listen` (port 0 picks a free port).
    pub async fn bind(config: ServeConfig) -> Result<Server, ServerError> {
        if config.insecure_local && !config.listen.ip().is_loopback() {
            return Err(ServerError::InsecureNotLoopback(config.listen));
        }
        if config.insecure_local && !config.allowed_hosts.is_empty() {
            return Err(ServerError::InsecureWithAllowedHosts);
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr()?;
        if config.insecure_local && !addr.ip().is_loopback() {
            return Err(ServerError::InsecureNotLoopback(addr));
        }
        // Loopback names on the bound port, plus the names given; bound to
        // a public address with no names, any Host (tokens guard it).
        let hosts = if addr.ip().is_loopback() || !config.allowed_hosts.is_empty() {
            HostPolicy::loopback(Some(addr.port()))
                .with_names(&config.allowed_hosts)
                .map_err(ServerError::AllowedHost)?
        } else {
            HostPolicy::any()
        };
        let state = if config.insecure_local {
            AppState::insecure_local(config.service)
        } else {
            AppState::new(config.service)
        };
        Ok(Server { listener, state: state.with_hosts(hosts), limits: config.limits })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// The `Host` values served.
    pub fn hosts(&self) -> &HostPolicy {
        &self.state.hosts
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        conn::serve(self.listener, router(self.state), self.limits, shutdown).await?;
        Ok(())
    }

    /// Like [`Server::run`], with more routes merged in (the MCP endpoint
    /// at `/mcp`, which brings its own authentication) behind the same
    /// `Host`, cross-site and error layers.
    pub async fn run_with(
        self,
        extra: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        conn::serve(self.listener, router_with(self.state, extra), self.limits, shutdown).await?;
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes (graceful: in-flight
/// requests finish).
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Completes on ctrl-c, or on SIGTERM on Unix: pass it to [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // An error means no handler could be installed: then only SIGTERM stops us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
