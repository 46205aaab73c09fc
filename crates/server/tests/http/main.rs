//! In-process tests of the HTTP adapter (no sockets, except `tcp.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::new_without_default)]

mod access;
mod api;
mod hardening;
mod openapi;
mod review;
mod runs;
mod schema_check;
mod tcp;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use nocturne_server::{router, AppState};
use nocturne_service::{Access, AccessLevel, Service};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

/// A temp store, its service and the app over it.
pub struct Env {
    _dir: tempfile::TempDir,
    pub svc: Service,
    pub app: Router,
    /// An org-wide admin token.
    pub admin: String,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let svc = Service::with_store(
            nocturne_stores::open_path(&dir.path().join("store.db")).unwrap(),
            nocturne_service::system_clock(),
        );
        let admin = svc.scoped(Access::local()).create_token(AccessLevel::Admin, None).unwrap().token;
        let app = router(AppState::new(svc.clone()));
        Env { _dir: dir, svc, app, admin }
    }

    /// The same store, served with `insecure_local`.
    pub fn insecure(&self) -> Router {
        router(AppState::insecure_local(self.svc.clone()))
    }

    pub fn token(&self, level: AccessLevel, team: Option<&str>) -> String {
        self.svc.scoped(Access::local()).create_token(level, team).unwrap().token
    }

    pub async fn send(&self, req: Req<'_>) -> Resp {
        send(&self.app, req).await
    }

    /// A JSON call as the org admin that must succeed.
    pub async fn ok(&self, method: Method, uri: &str, body: Option<Value>) -> Value {
        let r = self.send(Req::new(method.clone(), uri).token(&self.admin).json_opt(body)).await;
        assert!(r.status.is_success(), "{method} {uri}: {} {}", r.status, r.text());
        r.json()
    }

    /// Ingests the five sample transcripts (team `team`, ids prefixed with
    /// `prefix`) through `POST /v1/sessions`; returns the session ids.
    pub async fn ingest_samples(&self, token: &str, team: &str, prefix: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for (file, id) in SAMPLES {
            let text = std::fs::read_to_string(samples().join(file)).unwrap();
            let new_id = format!("{prefix}{id}");
            let text = text.replace(id, &new_id);
            let user = file.split('-').rev().nth(1).unwrap();
            let uri = format!("/v1/sessions?user={user}&team={team}&name={file}");
            let r = self.send(Req::new(Method::POST, &uri).token(token).raw(text.into_bytes())).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert_eq!(r.json()["totals"]["sessions_added"], 1, "{}", r.text());
            ids.push(new_id);
        }
        ids
    }
}

/// The sample transcripts and their session ids.
pub const SAMPLES: [(&str, &str); 5] = [
    ("anthropic-bob-12.json", "sess-invoice-dates"),
    ("claude-code-ana-10.jsonl", "0b6c9a52-1f0e-4c1d-8f3a-2d9e7c4b1a01"),
    ("claude-code-dave-19.jsonl", "1d4e7f20-8a3b-4c5d-9e6f-0a1b2c3d4e02"),
    ("nocturne-ana-17.jsonl", "cart-total-rounding"),
    ("openai-carol-14.json", "chat-usercard-rename"),
];

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/samples")
}

/// A request to send.
pub struct Req<'a> {
    pub method: Method,
    pub uri: String,
    pub token: Option<&'a str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, uri: &str) -> Self {
        Req { method, uri: uri.to_string(), token: None, headers: Vec::new(), body: None }
    }
    pub fn token(mut self, t: &'a str) -> Self {
        self.token = Some(t);
        self
    }
    pub fn header(mut self, k: &'static str, v: &str) -> Self {
        self.headers.push((k, v.to_string()));
        self
    }
    pub fn json(self, v: Value) -> Self {
        self.body_of("application/json", v.to_string().into_bytes())
    }
    pub fn json_opt(self, v: Option<Value>) -> Self {
        match v {
            Some(v) => self.json(v),
            None => self,
        }
    }
    pub fn raw(self, bytes: Vec<u8>) -> Self {
        self.body_of("application/octet-stream", bytes)
    }
    pub fn form(self, s: &str) -> Self {
        self.body_of("application/x-www-form-urlencoded", s.as_bytes().to_vec())
    }
    pub fn body_of(mut self, ct: &'static str, bytes: Vec<u8>) -> Self {
        self.body = Some((ct, bytes));
        self
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }
    /// Asserts an error response with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{v}");
    }
}

pub async fn send(app: &Router, req: Req<'_>) -> Resp {
    let mut b = Request::builder().method(req.method).uri(req.uri);
    if !req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        b = b.header("host", "localhost");
    }
    if let Some(t) = req.token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in &req.headers {
        b = b.header(*k, v);
    }
    let body = match req.body {
        Some((ct, bytes)) => {
            b = b.header("content-type", ct);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(b.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Resp { status, headers, body }
}
