//! Streamable HTTP: the MCP endpoint as an axum router, behind bearer-token
//! authentication (or none, for a server started insecure on localhost).

use crate::errors::{internal, map_error, Mapped};
use crate::handler::NocturneMcp;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nocturne_service::{Access, Service, ServiceError};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use rmcp::transport::streamable_http_server::tower::StreamableHttpServerConfig as HttpConfig;
/// Cancels open MCP streams (pass one to [`streamable_http_router_with`] to
/// shut down gracefully: long-lived SSE streams otherwise keep connections open).
pub use tokio_util::sync::CancellationToken;

/// The path the router serves MCP at.
pub const MCP_PATH: &str = "/mcp";

/// How HTTP callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Everyone is the local user (org-wide admin). Only for a server bound
    /// to localhost (`--insecure-local`).
    InsecureLocal,
    /// `Authorization: Bearer TOKEN`, checked with `Service::authenticate`;
    /// anything else is refused with 401.
    BearerTokens,
}

#[derive(Clone)]
struct AuthState {
    svc: Service,
    mode: AuthMode,
}

fn refuse(m: &Mapped) -> Response {
    let status = StatusCode::from_u16(m.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, axum::Json(m.json_body())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"nocturne\""));
    }
    resp
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn authenticate(State(st): State<AuthState>, mut req: Request, next: Next) -> Response {
    let access = match st.mode {
        AuthMode::InsecureLocal => Access::local(),
        AuthMode::BearerTokens => {
            let Some(token) = bearer_token(req.headers()).map(str::to_string) else {
                return refuse(&map_error(&ServiceError::Unauthorized(
                    "missing bearer token: send Authorization: Bearer TOKEN (create one with `nocturne tokens create`)"
                        .into(),
                )));
            };
            let svc = st.svc.clone();
            match tokio::task::spawn_blocking(move || svc.authenticate(&token)).await {
                Ok(Ok(a)) => a,
                Ok(Err(e)) => return refuse(&map_error(&e)),
                Err(e) => return refuse(&internal(format!("authentication failed: {e}"))),
            }
        }
    };
    req.extensions_mut().insert(access);
    next.run(req).await
}

/// The MCP endpoint at [`MCP_PATH`], to merge into the HTTP server's router.
/// Keeps rmcp's defaults: only `localhost`/`127.0.0.1`/`::1` `Host` headers
/// are accepted (DNS-rebinding protection). `nocturne serve` mounts it
/// behind the server's guard (the same `Host` names as the API, refusal
/// of cross-site `Origin`/`Sec-Fetch-Site` on POST and DELETE, JSON
/// errors) and passes those names on with [`streamable_http_router_with`].
pub fn streamable_http_router(svc: Service, auth: AuthMode) -> axum::Router {
    streamable_http_router_with(svc, auth, StreamableHttpServerConfig::default())
}

/// [`streamable_http_router`] with rmcp's config: allowed hosts for a
/// public deployment, a cancellation token for graceful shutdown, limits.
pub fn streamable_http_router_with(svc: Service, auth: AuthMode, config: HttpConfig) -> axum::Router {
    let factory_svc = svc.clone();
    let mcp: StreamableHttpService<NocturneMcp, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(NocturneMcp::per_request(factory_svc.clone())),
        Default::default(),
        config,
    );
    axum::Router::new()
        .route_service(MCP_PATH, mcp)
        .route_layer(axum::middleware::from_fn_with_state(AuthState { svc, mode: auth }, authenticate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer noc_abc "));
        assert_eq!(bearer_token(&h), Some("noc_abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer   noc_abc"));
        assert_eq!(bearer_token(&h), Some("noc_abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwdw=="));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
