//! Model dreams over HTTP, through the real `nocturne serve` with the fake
//! provider the test starts: `POST /v1/dreams` and `POST /v1/jobs` run the
//! model pass with the server's model (or not, or as a dry run, as the body
//! asks), the proposal and the job's result carry the model's figures, the
//! review page shows them, nothing secret is sent; a server without a
//! model says so when a request asks for it.
#![cfg(feature = "model")]

use crate::{s, Env};
use nocturne_fake_provider::{FakeServer, Reply, Script};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The sessions (a goal naming the test settings with a planted token,
// `python` failing with a password in the command, `python3` working) and
// their secrets are those of `model.rs`.
use crate::model::{answer, goal_event_in as goal_event, ingested, GH, PW};

/// `nocturne serve --insecure-local` on a free port, with `args` (a model,
/// a config); the child and its address.
fn serve(env: &Env, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nocturne"))
        .arg("--store")
        .arg(env.store())
        .args(["serve", "--insecure-local", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("NOCTURNE_MODEL")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    (child, addr)
}

/// An HTTP request; the status and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn http_dreams_run_the_model_pass_with_the_servers_model_or_not_or_as_a_dry_run() {
    let env = ingested();
    let fake = FakeServer::start(Script::queue([])).unwrap();
    let toml = env.write(
        "nocturne.toml",
        &format!(
            "[model]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"test-model\"\nprice_input_per_mtok = 3.0\nprice_output_per_mtok = 15.0\n",
            fake.openai_url()
        ),
    );
    let (child, addr) = serve(&env, &["--config", s(&toml)]);

    // A dry run: the requests, nothing sent, nothing stored.
    let (status, body) = http(&addr, "POST", "/v1/dreams", r#"{"model": "dry_run"}"#);
    assert_eq!(status, 200, "{body}");
    let dry = json_of(&body);
    assert_eq!(dry["sent"], json!(false));
    assert_eq!(dry["requests"].as_array().unwrap().len(), 1, "{dry:#}");
    assert_eq!(fake.request_count(), 0, "a dry run sends nothing");
    assert!(!body.contains(GH) && !body.contains(PW) && body.contains("[REDACTED]"), "{body}");
    let (_, list) = http(&addr, "GET", "/v1/dreams", "");
    assert_eq!(json_of(&list).as_array().map(Vec::len), Some(0), "a dry run stores no proposal: {list}");
    let events: Vec<u32> = (1..=4).map(|n| goal_event(&dry["requests"][0], &format!("S{n}"))).collect();

    // No `model` key: the server's model is used; its figures are in the proposal.
    fake.set_script(Script::queue([Reply::json(answer(&events)).with_usage(2000, 300)]));
    let (status, body) = http(&addr, "POST", "/v1/dreams", "{}");
    assert_eq!(status, 201, "{body}");
    let p = json_of(&body);
    assert_eq!(p["stats"]["model.requests"], json!(1), "{p:#}");
    assert_eq!(p["stats"]["model.input_tokens"], json!(2000));
    assert_eq!(p["stats"]["model.output_tokens"], json!(300));
    assert_eq!(p["stats"]["model.cost_usd"], json!(0.0105), "2000 × $3/M + 300 × $15/M");
    assert_eq!(p["stats"]["model.dropped_unverified"], json!(1), "the fabricated quote is dropped and counted");
    assert!(p["ops"].as_array().unwrap().iter().any(|o| o["text"] == "Tests run with shop.settings_test (sqlite)."));
    assert!(p["ops"].as_array().unwrap().iter().all(|o| o["text"] != "Made up."));
    let sent = fake.requests();
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].body.contains(GH) && !sent[0].body.contains(PW), "no secret is sent");
    let expected = serde_json::to_vec(&dry["requests"][0]).unwrap();
    assert_eq!(
        json_of(&sent[0].body),
        json_of(std::str::from_utf8(&expected).unwrap()),
        "the dry run showed what is sent"
    );

    // The review page shows the model's figures.
    let (status, page) = http(&addr, "GET", &format!("/dreams/{}", p["id"].as_str().unwrap()), "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Model test-model: 1 requests (0 failed, 0 retries) · 2000 input + 300 output tokens · $0.0105"),
        "{page}"
    );

    // `"model": false`: deterministic only, nothing sent.
    let (status, body) = http(&addr, "POST", "/v1/dreams", r#"{"model": false}"#);
    assert_eq!(status, 201, "{body}");
    assert!(json_of(&body)["stats"].get("model.requests").is_none(), "{body}");
    assert_eq!(fake.request_count(), 1);

    // A queued model dream: the server's worker runs it with the model; the job's result carries the figures.
    fake.set_script(Script::queue([Reply::json(answer(&events)).with_usage(1000, 100)]));
    let (status, body) = http(&addr, "POST", "/v1/jobs", r#"{"model": true}"#);
    assert_eq!(status, 202, "{body}");
    let job = json_of(&body);
    assert_eq!(job["payload"]["model"], json!(true), "{job:#}");
    let id = job["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (_, body) = http(&addr, "GET", &format!("/v1/jobs/{id}"), "");
        let j = json_of(&body);
        if j["state"] == json!("done") || j["state"] == json!("failed") {
            break j;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {j:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["state"], json!("done"), "{done:#}");
    assert_eq!(done["result"]["model"]["requests"], json!(1), "{done:#}");
    assert_eq!(done["result"]["model"]["input_tokens"], json!(1000));
    assert_eq!(done["result"]["model"]["dropped_unverified"], json!(1));
    assert_eq!(fake.request_count(), 2);

    // A dry run cannot be queued or applied.
    let (status, body) = http(&addr, "POST", "/v1/jobs", r#"{"model": "dry_run"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(&addr, "POST", "/v1/dreams", r#"{"model": "dry_run", "apply": true}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(&addr, "POST", "/v1/dreams", r#"{"model": "sometimes"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("dry_run"), "{body}");
    stop(child);
}

#[test]
fn a_server_without_a_model_says_so_when_a_request_asks_for_one() {
    let env = ingested();
    let (child, addr) = serve(&env, &[]);
    for path in ["/v1/dreams", "/v1/jobs"] {
        let (status, body) = http(&addr, "POST", path, r#"{"model": true}"#);
        assert_eq!(status, 400, "{path}: {body}");
        let err = json_of(&body);
        assert_eq!(err["error"]["code"], json!("model_config"), "{err:#}");
        assert!(err["error"]["message"].as_str().unwrap().contains("this server has no model configured"), "{err:#}");
    }
    let (status, body) = http(&addr, "POST", "/v1/dreams", r#"{"model": "dry_run"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no model is configured"), "{body}");
    // Without `model`, a deterministic dream.
    let (status, body) = http(&addr, "POST", "/v1/dreams", "{}");
    assert_eq!(status, 201, "{body}");
    assert!(json_of(&body)["stats"].get("model.requests").is_none(), "{body}");
    stop(child);
}
