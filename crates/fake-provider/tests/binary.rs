//! The fake as a process: `nocturne-fake-provider --script FILE --log FILE`,
//! driven over raw HTTP the way a shell or Python test would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn post(addr: &str, path: &str, headers: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_binary_serves_a_script_and_logs_requests_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    let log = dir.path().join("requests.jsonl");
    std::fs::write(
        &script,
        r#"{"queue": [{"text": "Hello from the script", "usage": {"input_tokens": 7, "output_tokens": 4}},
                      {"status": 429, "headers": {"retry-after": "3"}, "error_message": "slow down"}]}"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nocturne-fake-provider"))
        .args(["--script", script.to_str().unwrap(), "--log", log.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line}")).to_string();

    let body = r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
    let first = post(&url, "/v1/messages", "x-api-key: sk-secret-99\r\ncontent-type: application/json\r\n", body);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    let json: serde_json::Value = serde_json::from_str(first.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["content"][0]["text"], "Hello from the script");
    assert_eq!(json["usage"]["input_tokens"], 7);
    assert_eq!(json["stop_reason"], "end_turn");

    let second =
        post(&url, "/v1/chat/completions", "authorization: Bearer sk-secret-99\r\n", r#"{"model":"m","messages":[]}"#);
    assert!(second.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{second}");
    assert!(second.contains("retry-after: 3\r\n"));
    assert!(second.contains(r#""message":"slow down""#));

    child.kill().unwrap();
    child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("sk-secret-99"), "{logged}");
    let lines: Vec<serde_json::Value> = logged.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["body"], body, "the exact body");
    assert_eq!(lines[0]["wire"], "anthropic");
    assert_eq!(lines[0]["reply"], "queue 0");
    assert!(lines[0]["headers"].as_array().unwrap().contains(&serde_json::json!(["x-api-key", "<redacted>"])));
    assert_eq!(lines[1]["wire"], "openai");
    assert!(lines[1]["headers"].as_array().unwrap().contains(&serde_json::json!(["authorization", "<redacted>"])));
}

#[test]
fn a_bad_script_is_refused_with_the_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.json");
    std::fs::write(&script, r#"{"queue": [{"txt": "typo"}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nocturne-fake-provider"))
        .args(["--script", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("unknown field `txt`"), "{err}");
}
