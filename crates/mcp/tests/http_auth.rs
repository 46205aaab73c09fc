//! The HTTP endpoint's authentication, in process (no socket).
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use nocturne_mcp::{streamable_http_router, AuthMode};
use nocturne_service::{Access, AccessLevel, Service};
use tower::ServiceExt;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn init_request(host: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/mcp")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::from(INIT)).unwrap()
}

fn service() -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::with_store(
        nocturne_stores::open_path(&dir.path().join("store.db")).unwrap(),
        nocturne_service::system_clock(),
    );
    (dir, svc)
}

#[tokio::test]
async fn bearer_mode_refuses_missing_unknown_and_revoked_tokens() {
    let (_dir, svc) = service();
    let tok = svc.scoped(Access::local()).create_token(AccessLevel::Write, None).unwrap();
    let app = streamable_http_router(svc.clone(), AuthMode::BearerTokens);

    let r = app.clone().oneshot(init_request("localhost", None)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");

    let r = app.clone().oneshot(init_request("localhost", Some("noc_wrong"))).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app.clone().oneshot(init_request("localhost", Some(&tok.token))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    svc.scoped(Access::local()).revoke_token(&tok.id).unwrap();
    let r = app.clone().oneshot(init_request("localhost", Some(&tok.token))).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn insecure_local_needs_no_token_but_keeps_the_localhost_host_check() {
    let (_dir, svc) = service();
    let app = streamable_http_router(svc, AuthMode::InsecureLocal);
    let r = app.clone().oneshot(init_request("127.0.0.1:7700", None)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.clone().oneshot(init_request("evil.example.com", None)).await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test]
async fn other_paths_are_not_served() {
    let (_dir, svc) = service();
    let app = streamable_http_router(svc, AuthMode::BearerTokens);
    let r = app.oneshot(Request::get("/other").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
