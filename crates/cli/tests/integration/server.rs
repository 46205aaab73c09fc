use crate::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

/// `nocturne serve --insecure-local` on a free port; returns the child and
/// its address.
fn start_server(env: &Env) -> (Child, String) {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("nocturne"))
        .arg("--store")
        .arg(env.store())
        .args(["serve", "--insecure-local", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    (child, addr)
}

fn http(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A pending proposal with `n` create ops, written straight into the store.
fn plant_big_proposal(env: &Env, id: &str, n: usize) {
    let ops: Vec<Value> = (1..=n)
        .map(|i| {
            serde_json::json!({"n": i, "op": "create", "kind": "fact",
                "text": format!("Service number {i} writes its logs to /var/log/svc{i} and rotates them daily"),
                "targets": [], "scope": {"level": "org"},
                "evidence": [{"session": "s", "events": [1], "quote": "logs rotate daily"}],
                "support": 3, "users": 2, "confidence": 0.9, "rationale": "planted", "pass": "test", "tags": []})
        })
        .collect();
    let p = serde_json::json!({"id": id, "base_revision": 0, "created_at": "2026-11-01T00:00:00Z",
        "status": "pending", "sessions": ["s"], "ops": ops, "stats": {}});
    let conn = rusqlite::Connection::open(env.store()).unwrap();
    conn.execute(
        "INSERT INTO proposals (id, created_at, status, body) VALUES (?1, '2026-11-01T00:00:00Z', 'pending', ?2)",
        rusqlite::params![id, p.to_string()],
    )
    .unwrap();
}

#[test]
fn the_server_answers_over_http_and_stops_gracefully() {
    let env = Env::new();
    env.json(&["memory", "add", "--kind", "fact", "--text", "The API listens on port 8080"]);
    let (mut child, addr) = start_server(&env);
    let res = http(&addr, "GET", "/v1/memories/search?q=port&k=5", "");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(res.contains("port 8080"));
    let page = http(&addr, "GET", "/", "");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("<html"), "{page}");
    // SIGTERM: the server finishes and exits 0.
    StdCommand::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_the_server_during_an_apply_leaves_the_store_before_or_after_never_between() {
    const OPS: usize = 5_000;
    // How long a whole apply takes here, to aim the kills inside it.
    let full = {
        let env = Env::new();
        env.json(&["memory", "list"]);
        plant_big_proposal(&env, "d-timing", OPS);
        let (mut child, addr) = start_server(&env);
        let t = Instant::now();
        let res = http(&addr, "POST", "/v1/dreams/d-timing/apply", "{}");
        let took = t.elapsed();
        assert!(res.starts_with("HTTP/1.1 200"), "{}", &res[..res.len().min(300)]);
        child.kill().unwrap();
        child.wait().unwrap();
        took
    };
    let mut outcomes = Vec::new();
    for (trial, pct) in [0u32, 20, 40, 60, 80, 100, 150].into_iter().enumerate() {
        let delay_ms = full.as_millis() as u64 * u64::from(pct) / 100;
        let env = Env::new();
        env.json(&["memory", "list"]); // creates the store
        let id = format!("d-big-{trial}");
        plant_big_proposal(&env, &id, OPS);
        let (mut child, addr) = start_server(&env);
        let mut s = TcpStream::connect(&addr).unwrap();
        let path = format!("/v1/dreams/{id}/apply");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The store opens (WAL recovery) and is at exactly one of the two states.
        let log = env.json(&["memory", "log"]);
        let revs = log.as_array().unwrap().len();
        let mems = env.json(&["memory", "list"]).as_array().unwrap().len();
        let status = env.json(&["dreams", "show", &id])["status"].as_str().unwrap().to_string();
        match revs {
            0 => {
                assert_eq!(mems, 0, "no revision, no memory");
                assert_eq!(status, "pending");
            }
            1 => {
                assert_eq!(mems, OPS, "the whole apply, or nothing");
                assert_eq!(status, "applied");
                assert_eq!(log[0]["changes"].as_array().unwrap().len(), OPS);
            }
            n => panic!("{n} revisions after one apply"),
        }
        assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
        outcomes.push(revs);
    }
    eprintln!("a full apply took {full:?}; revisions after each kill at 0..150% of it: {outcomes:?}");
    assert!(outcomes.contains(&0), "some kill landed before the apply committed: {outcomes:?}");
}

/// A raw request with the given extra header lines; the whole response.
fn http_with(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\n{headers}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn insecure_local_on_a_public_address_is_a_usage_error_naming_the_real_command() {
    let env = Env::new();
    let out = env.cmd(&["serve", "--insecure-local", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nocturne tokens create") && !err.contains("token create "), "{err}");
    assert!(err.contains("loopback") && err.contains("0.0.0.0:0"), "{err}");
    assert!(!env.store().exists(), "nothing was created");
    let out = env.cmd(&["serve", "--insecure-local", "--allowed-host", "nocturne.example.com"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allowed-host needs tokens"));
}

#[test]
fn the_mcp_endpoint_refuses_other_sites_and_rebound_names_like_the_api() {
    let env = Env::new();
    env.json(&["memory", "add", "--kind", "fact", "--text", "Releases are cut on Tuesdays"]);
    let (mut child, addr) = start_server(&env);
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let host = format!("Host: {addr}\r\n");
    let ok = http_with(&addr, "POST", "/mcp", &host, init);
    assert!(ok.starts_with("HTTP/1.1 200"), "an MCP client (no Origin) is served: {ok}");
    let evil = http_with(&addr, "POST", "/mcp", &format!("{host}Origin: http://evil.example\r\n"), init);
    assert!(evil.starts_with("HTTP/1.1 403") && evil.contains("\"forbidden\""), "{evil}");
    let port = addr.rsplit(':').next().unwrap();
    let rebound = format!("Host: evil.example:{port}\r\n");
    for (method, path, body) in
        [("POST", "/mcp", init), ("GET", "/v1/export", ""), ("POST", "/v1/tokens", r#"{"scope":"admin"}"#)]
    {
        let r = http_with(&addr, method, path, &rebound, body);
        assert!(r.starts_with("HTTP/1.1 403"), "{method} {path} with a rebound name: {r}");
        assert!(!r.contains("Tuesdays") && !r.contains("noc_"), "{r}");
    }
    let page = http_with(&addr, "GET", "/", &host, "");
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("x-frame-options: deny") && lower.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
