//! The hardening issue, reproduced: what a web page on another site, a
//! rebound DNS name or a slow client could do, and what every response
//! carries now.

use crate::{send, Env, Req, Resp};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use nocturne_server::{router_with, AppState, Limits, ServeConfig, Server};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A store with two revisions, served `--insecure-local` in process.
async fn local_with_memory() -> (Env, Router) {
    let env = Env::new();
    env.ok(Method::POST, "/v1/memories", Some(json!({"kind": "fact", "text": "Deploys run on Fridays."}))).await;
    env.ok(Method::POST, "/v1/memories", Some(json!({"kind": "fact", "text": "Tests run with pnpm."}))).await;
    let local = env.insecure();
    (env, local)
}

fn assert_untouched(env: &Env) {
    assert_eq!(env.svc.scoped(nocturne_service::Access::local()).head().unwrap(), 2, "memory is where it was");
}

#[tokio::test]
async fn a_cross_site_form_post_cannot_roll_all_memory_back() {
    let (env, local) = local_with_memory().await;
    // What `<form method=post enctype=text/plain>` on evil.example sends.
    let r = send(
        &local,
        Req::new(Method::POST, "/v1/rollback")
            .header("origin", "http://evil.example")
            .header("sec-fetch-site", "cross-site")
            .body_of("text/plain", br#"{"to":0}"#.to_vec()),
    )
    .await;
    r.assert_error(403, "forbidden");
    // Without fetch metadata (an older browser): the Origin alone refuses it.
    let r = send(
        &local,
        Req::new(Method::POST, "/v1/rollback").header("origin", "http://evil.example").json(json!({"to": 0})),
    )
    .await;
    r.assert_error(403, "forbidden");
    // A sandboxed frame sends `Origin: null`; a sibling port on localhost is same-site, not same-origin.
    for origin in ["null", "http://localhost:3000"] {
        let r =
            send(&local, Req::new(Method::POST, "/v1/rollback").header("origin", origin).json(json!({"to": 0}))).await;
        r.assert_error(403, "forbidden");
    }
    // And JSON sent as text/plain is not parsed, whoever sends it.
    let r = send(&local, Req::new(Method::POST, "/v1/rollback").body_of("text/plain", br#"{"to":0}"#.to_vec())).await;
    r.assert_error(415, "unsupported_media_type");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("application/json"), "{}", r.text());
    assert_untouched(&env);
    // A script on this machine (no Origin, JSON) still works.
    let r = send(&local, Req::new(Method::POST, "/v1/rollback").json(json!({"to": 1}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_rebound_dns_name_can_neither_export_nor_mint_a_token() {
    let (env, local) = local_with_memory().await;
    let tokens_before = env.svc.scoped(nocturne_service::Access::local()).tokens().unwrap().len();
    let r = send(&local, Req::new(Method::GET, "/v1/export").header("host", "evil.example:7777")).await;
    r.assert_error(403, "forbidden");
    assert!(!r.text().contains("Deploys run on Fridays"), "{}", r.text());
    let r = send(
        &local,
        Req::new(Method::POST, "/v1/tokens").header("host", "evil.example:7777").json(json!({"scope": "admin"})),
    )
    .await;
    r.assert_error(403, "forbidden");
    for path in ["/", "/memories", "/openapi.json"] {
        send(&local, Req::new(Method::GET, path).header("host", "evil.example")).await.assert_error(403, "forbidden");
    }
    assert_eq!(
        env.svc.scoped(nocturne_service::Access::local()).tokens().unwrap().len(),
        tokens_before,
        "no token was minted"
    );
    // The loopback names are served.
    for host in ["127.0.0.1:7777", "localhost:7777", "[::1]:7777"] {
        let r = send(&local, Req::new(Method::GET, "/v1/export").header("host", host)).await;
        assert_eq!(r.status, StatusCode::OK, "{host}: {}", r.text());
    }
}

#[tokio::test]
async fn the_review_pages_own_form_posts_still_work_and_a_cross_site_token_link_is_not_taken() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let p = env.ok(Method::POST, "/v1/dreams", Some(json!({}))).await;
    let id = p["id"].as_str().unwrap();
    let local = env.insecure();
    // What Chromium sends for the page's own reject button.
    let r = send(
        &local,
        Req::new(Method::POST, &format!("/dreams/{id}/reject"))
            .header("host", "127.0.0.1:7777")
            .header("origin", "http://127.0.0.1:7777")
            .header("sec-fetch-site", "same-origin")
            .form(""),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // A `?token=` link followed from another site sets no cookie.
    let r =
        env.send(Req::new(Method::GET, &format!("/?token={}", env.admin)).header("sec-fetch-site", "cross-site")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.header("set-cookie").is_empty());
    let r = env.send(Req::new(Method::GET, &format!("/?token={}", env.admin)).header("sec-fetch-site", "none")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "typed or pasted: taken");
    let cookie = r.header("set-cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
}

#[tokio::test]
async fn routes_merged_beside_the_api_like_mcp_get_the_same_host_and_origin_checks() {
    let env = Env::new();
    let mcp = Router::new().route("/mcp", post(|| async { "ok" }));
    let app = router_with(AppState::insecure_local(env.svc.clone()), mcp);
    let ok = send(&app, Req::new(Method::POST, "/mcp").json(json!({}))).await;
    assert_eq!(ok.status, StatusCode::OK);
    send(&app, Req::new(Method::POST, "/mcp").header("origin", "http://evil.example").json(json!({})))
        .await
        .assert_error(403, "forbidden");
    send(&app, Req::new(Method::POST, "/mcp").header("host", "evil.example").json(json!({})))
        .await
        .assert_error(403, "forbidden");
}

/// The headers every response carries.
fn assert_security_headers(r: &Resp, what: &str) {
    assert_eq!(r.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(r.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(r.header("referrer-policy"), "same-origin", "{what}");
    assert_eq!(r.header("cache-control"), "no-store", "{what}");
    let csp = r.header("content-security-policy");
    for part in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"] {
        assert!(csp.contains(part), "{what}: {csp}");
    }
    assert!(!csp.contains("script-src") && !csp.contains("unsafe"), "{what}: no scripts at all: {csp}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let p = env.ok(Method::POST, "/v1/dreams", Some(json!({}))).await;
    let id = p["id"].as_str().unwrap();
    let cases: Vec<(&str, Req<'_>)> = vec![
        ("JSON", Req::new(Method::GET, "/v1/memories").token(&env.admin)),
        ("markdown", Req::new(Method::GET, "/v1/export?format=markdown").token(&env.admin)),
        ("OpenAPI", Req::new(Method::GET, "/openapi.json")),
        ("HTML page", Req::new(Method::GET, &format!("/dreams/{id}")).token(&env.admin)),
        ("HTML error page", Req::new(Method::GET, "/memories")),
        ("redirect", Req::new(Method::GET, &format!("/memories?token={}", env.admin))),
        ("JSON error", Req::new(Method::GET, "/v1/memories")),
        ("404", Req::new(Method::GET, "/v1/nothing")),
        ("405", Req::new(Method::DELETE, "/v1/memories").token(&env.admin)),
        ("415", Req::new(Method::POST, "/v1/memories").token(&env.admin).body_of("text/plain", b"{}".to_vec())),
        ("403 host", Req::new(Method::GET, "/").header("host", "evil.example")),
    ];
    for (what, req) in cases {
        let r = env.send(req).await;
        assert_security_headers(&r, what);
    }
    // The page's style sheet is allowed by its hash, so the page renders styled.
    let page = env.send(Req::new(Method::GET, &format!("/dreams/{id}")).token(&env.admin)).await;
    let html = page.text();
    assert!(!html.contains("<script") && !html.contains(" style="), "the page has no scripts and no style attributes");
    let css = html.split("<style>").nth(1).unwrap().split("</style>").next().unwrap();
    assert_eq!(css, nocturne_server::ui::CSS);
}

#[tokio::test]
async fn every_error_status_is_the_documented_json_error() {
    let env = Env::new();
    let t = env.admin.clone();
    let too_big = vec![b' '; nocturne_server::MAX_BODY_BYTES + 1];
    let long = format!("/v1/memories/search?q={}", "a".repeat(9000));
    let cases: Vec<(u16, &str, Req<'_>)> = vec![
        (
            400,
            "invalid_input",
            Req::new(Method::POST, "/v1/memories").token(&t).body_of("application/json", b"{".to_vec()),
        ),
        (401, "unauthorized", Req::new(Method::GET, "/v1/memories")),
        (403, "forbidden", Req::new(Method::GET, "/v1/memories").token(&t).header("host", "evil.example")),
        (404, "not_found", Req::new(Method::GET, "/v1/nothing").token(&t)),
        (404, "not_found", Req::new(Method::GET, "/favicon.ico")),
        (405, "method_not_allowed", Req::new(Method::DELETE, "/v1/memories").token(&t)),
        (405, "method_not_allowed", Req::new(Method::PUT, "/v1/export").token(&t)),
        (413, "payload_too_large", Req::new(Method::POST, "/v1/sessions").token(&t).raw(too_big)),
        (414, "uri_too_long", Req::new(Method::GET, &long).token(&t)),
        (415, "unsupported_media_type", Req::new(Method::POST, "/v1/rollback").token(&t).form("to=0")),
    ];
    for (status, code, req) in cases {
        let what = format!("{} {}", req.method, &req.uri[..req.uri.len().min(40)]);
        let r = env.send(req).await;
        assert!(r.header("content-type").starts_with("application/json"), "{what}: {}", r.header("content-type"));
        r.assert_error(status, code);
        if status == 405 {
            assert!(!r.header("allow").is_empty(), "{what}: 405 keeps Allow");
            assert!(r.json()["error"]["message"].as_str().unwrap().contains("not allowed"), "{}", r.text());
        }
    }
}

// --- over TCP ---

async fn serve(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let service = nocturne_service::Service::with_store(
        nocturne_stores::open_path(&dir.path().join("store.db")).unwrap(),
        nocturne_service::system_clock(),
    );
    let cfg = ServeConfig { limits, ..ServeConfig::new("127.0.0.1:0".parse().unwrap(), true, service) };
    let server = Server::bind(cfg).await.unwrap();
    let addr = server.local_addr().unwrap();
    let slow = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "done"
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_with(slow, async {
        let _ = stopped.await;
    }));
    (addr, stop, dir)
}

/// True once the server has closed `c` (a read returns end of file).
async fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

const SHORT: Limits = Limits {
    header_timeout: Duration::from_millis(400),
    idle_timeout: Duration::from_millis(800),
    max_connections: 64,
};

#[tokio::test]
async fn idle_and_half_sent_header_connections_are_closed_after_their_timeouts() {
    let (addr, _stop, _dir) = serve(SHORT).await;
    let mut idle = Vec::new();
    let mut half = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /v1/memories HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        half.push(c);
    }
    // A keep-alive connection after one request.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /v1/memories HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", addr.port());
    kept.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    for c in idle.iter_mut().chain(half.iter_mut()) {
        assert!(closed_within(c, Duration::from_secs(3)).await, "a silent or half-sent connection stays open");
    }
    assert!(closed_within(&mut kept, Duration::from_secs(3)).await, "an idle keep-alive connection stays open");
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout: {:?}", started.elapsed());
    // A slowloris that keeps sending a header byte at a time is still cut at the header timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let t = Instant::now();
    let mut cut = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"X").await.is_err() || closed_within(&mut slow, Duration::from_millis(1)).await {
            cut = true;
            break;
        }
    }
    assert!(cut && t.elapsed() < Duration::from_secs(2), "the trickled head was not cut: {:?}", t.elapsed());
}

#[tokio::test]
async fn a_request_longer_than_the_idle_timeout_is_answered_not_cut() {
    let (addr, _stop, _dir) = serve(SHORT).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /slow HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", addr.port());
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("done"), "{out}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let (addr, _stop, _dir) =
        serve(Limits { max_connections: 2, header_timeout: Duration::from_secs(30), ..SHORT }).await;
    let get = format!("GET /v1/memories HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", addr.port());
    let a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(get.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let waited = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(waited.is_err(), "a third connection is served while two are open");
    drop(a);
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "served once a slot is free");
    drop(b);
}

#[tokio::test]
async fn requests_hyper_refuses_before_routing_get_the_json_error_too() {
    let (addr, _stop, _dir) = serve(SHORT).await;
    for (req, status) in [
        (format!("GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a".repeat(70_000)), 414),
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", "X-Many: 1\r\n".repeat(120)), 431),
    ] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut out)).await;
        assert!(out.starts_with(&format!("HTTP/1.1 {status}")), "{}", &out[..out.len().min(200)]);
        let lower = out.to_ascii_lowercase();
        assert!(lower.contains("content-type: application/json") && lower.contains("x-frame-options: deny"), "{out}");
        let body: serde_json::Value = serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], nocturne_server::code_for(StatusCode::from_u16(status).unwrap()));
    }
    // A URI over the routes' limit but under hyper's, over TCP: the same 414 from the guard.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET /{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", "a".repeat(10_000), addr.port());
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 414") && out.contains("\"uri_too_long\""), "{}", &out[..out.len().min(300)]);
}

// --- ids under concurrency ---

/// The reproduction: 20 parallel `POST /v1/dreams` answered 20×201 with only
/// 9 distinct ids (ids of second precision, stores that replaced on insert).
/// Now a dream that finds another running answers 409 (the client retries),
/// and every 201 is its own proposal, listed and readable under its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_dream_requests_make_twenty_proposals_with_distinct_ids() {
    let env = Env::new();
    env.ingest_samples(&env.admin, "web", "").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = env.app.clone();
        let token = env.admin.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..600 {
                let r = send(&app, Req::new(Method::POST, "/v1/dreams").token(&token).json(json!({}))).await;
                if r.status != StatusCode::CONFLICT {
                    return r;
                }
                r.assert_error(409, "conflict");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("a dream request was refused 600 times in a row");
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.insert(r.json()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 20, "20 created dreams, 20 ids: {ids:?}");
    let listed = env.ok(Method::GET, "/v1/dreams", None).await;
    let listed: std::collections::BTreeSet<String> =
        listed.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    assert!(ids.is_subset(&listed), "every answered id is stored: {listed:?}");
    for id in &ids {
        let d = env.ok(Method::GET, &format!("/v1/dreams/{id}"), None).await;
        assert_eq!(d["id"], id.as_str());
    }
}
