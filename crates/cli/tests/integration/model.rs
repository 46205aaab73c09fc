//! `nocturne dream --model …` against the fake provider the test starts:
//! the report shows the model's figures, the dry run writes exactly what
//! is sent, nothing secret is sent, the key only in its header, and
//! `nocturne doctor model` says whether the endpoint works.
#![cfg(feature = "model")]

use crate::{s, Env};
use nocturne_fake_provider::{FakeServer, Reply, Script};
use serde_json::{json, Value};

const KEY: &str = "sk-cli-test-0f1e2d3c4b5a";
pub(crate) const GH: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
pub(crate) const PW: &str = "Tr0ub4dor-and-3";

/// An Anthropic-format session: the goal names the test settings and
/// plants a token; `python` fails with a password in the command, `python3`
/// works.
fn session(i: usize) -> String {
    let call = |id: &str, cmd: &str| json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "bash", "input": {"command": cmd}}]});
    let result = |id: &str, text: &str, err: bool| {
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id,
            "content": [{"type": "text", "text": text}], "is_error": err}]})
    };
    json!({
        "id": format!("cli-shop-{i}"),
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": format!("Fix checkout test {i}; the tests use settings_test.py with sqlite. Push with GITHUB_TOKEN={GH}.")},
            call("t1", &format!("DB_PASSWORD={PW} python manage.py test")),
            result("t1", "bash: python: command not found", true),
            call("t2", "python3 manage.py test --settings=shop.settings_test"),
            result("t2", "Ran 12 tests OK", false),
            {"role": "assistant", "content": "Fixed; the tests pass."}
        ]
    })
    .to_string()
}

/// Four such sessions ingested into a fresh store (also the model-over-HTTP tests' store).
pub(crate) fn ingested() -> Env {
    let env = Env::new();
    for i in 0..4 {
        env.write(&format!("t/s{i}.json"), &session(i));
    }
    env.json(&["ingest", s(&env.path("t")), "--format", "anthropic"]);
    env
}

/// The event number of session `n`'s goal line, read from a request body.
fn goal_event(body: &str, alias: &str) -> u32 {
    goal_event_in(&serde_json::from_str(body).unwrap(), alias)
}

/// The event number of session `alias`'s goal line in a request.
pub(crate) fn goal_event_in(request: &Value, alias: &str) -> u32 {
    let text: String = request["messages"].as_array().unwrap().iter().map(|m| m["content"].to_string()).collect();
    let rest = &text[text.find(&format!("## {alias} ")).unwrap()..];
    let e = rest.find(" user (goal)").unwrap();
    let start = rest[..e].rfind('e').unwrap();
    rest[start + 1..e].parse().unwrap()
}

/// One verified fact over four sessions, and one op with a fabricated quote.
pub(crate) fn answer(events: &[u32]) -> Value {
    let ev: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"session": format!("S{}", i + 1), "event": e, "quote": "the tests use settings_test.py with sqlite"}))
        .collect();
    json!({"ops": [
        {"op": "create", "kind": "fact", "text": "Tests run with shop.settings_test (sqlite).", "targets": [],
         "rationale": "every goal says so", "evidence": ev},
        {"op": "create", "kind": "fact", "text": "Made up.", "targets": [], "rationale": "",
         "evidence": [{"session": "S1", "event": events[0], "quote": "this sentence is nowhere in the log"}]}
    ]})
}

#[test]
fn a_model_dream_reports_its_cost_and_sends_no_secret() {
    let env = ingested();
    let server = FakeServer::start(Script::queue([])).unwrap();
    let spec = format!("openai:{}#test-model", server.openai_url());
    let dry = env.path("requests.jsonl");
    let out = env.json(&["dream", "--model", &spec, "--model-dry-run", s(&dry)]);
    assert_eq!(out["requests"], json!(1));
    assert_eq!(out["sent"], json!(false));
    assert_eq!(server.request_count(), 0, "a dry run sends nothing");
    let dry_bytes = std::fs::read(&dry).unwrap();
    let body = String::from_utf8(dry_bytes.clone()).unwrap();
    assert!(!body.contains(GH) && !body.contains(PW) && body.contains("[REDACTED]"), "{body}");
    let events: Vec<u32> = (1..=4).map(|n| goal_event(body.trim_end(), &format!("S{n}"))).collect();

    server.set_script(Script::queue([Reply::json(answer(&events)).with_usage(2000, 300)]));
    let toml = env.write("nocturne.toml", "[model]\nprovider = \"openai\"\nmodel = \"ignored\"\nprice_input_per_mtok = 3.0\nprice_output_per_mtok = 15.0\n");
    let out =
        env.cmd(&["dream", "--model", &spec, "--config", s(&toml)]).env("NOCTURNE_MODEL_KEY", KEY).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout
            .contains("Model test-model: 1 requests (0 failed, 0 retries) · 2000 input + 300 output tokens · $0.0105"),
        "{stdout}"
    );
    assert!(stdout.contains("2 model ops proposed, 1 dropped as unverified"), "{stdout}");
    assert!(stdout.contains("Tests run with shop.settings_test (sqlite)."), "{stdout}");
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body_bytes, dry_bytes[..dry_bytes.len() - 1], "the dry run wrote exactly the bytes sent");
    let raw = String::from_utf8_lossy(&sent[0].raw);
    assert_eq!(raw.matches(KEY).count(), 1, "the key is sent once, in its header");
    assert!(!sent[0].body.contains(KEY) && !sent[0].body.contains(GH) && !sent[0].body.contains(PW));
    assert!(!stdout.contains(KEY));
}

#[test]
fn a_failing_provider_keeps_the_deterministic_ops_and_says_so() {
    let env = ingested();
    let server = FakeServer::start(Script::queue((0..4).map(|_| Reply::status(500)))).unwrap();
    let spec = format!("openai:{}#test-model", server.openai_url());
    let p = env.json(&["dream", "--model", &spec]);
    assert!(p["ops"].as_array().unwrap().iter().any(|o| o["pass"] != json!("model")), "{p:#}");
    assert_eq!(p["stats"]["model.errors"], json!(["model_server_error"]));
    assert!(p["notes"].as_str().unwrap().contains("holds the deterministic ops"), "{p:#}");
}

#[test]
fn doctor_model_says_whether_the_endpoint_answers() {
    let env = Env::new();
    let replies = [Reply::text("ok").with_usage(5, 1), Reply::json(json!({"yes": true}))];
    let server = FakeServer::start(Script::queue(replies)).unwrap();
    let spec = format!("openai:{}#test-model", server.openai_url());
    let out = env.cmd(&["doctor", "model", "--model", &spec]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("[ok] chat: test-model answered"), "{text}");
    drop(server);
    let closed = "openai:http://127.0.0.1:9/v1#test-model";
    let out = env.cmd(&["doctor", "model", "--model", closed]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let bad = env.cmd(&["dream", "--model", "nonsense"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "a bad spec is a usage error");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--model / NOCTURNE_MODEL \"nonsense\""), "{err}");
}

/// `dream --queue` with a model queues a model dream; the worker that runs
/// it uses its own model (the same fake here): the proposal carries the
/// model's figures and its verified op. Without a model the worker fails
/// the job saying why, never a silent deterministic dream.
#[test]
fn a_queued_model_dream_is_run_by_the_worker_with_its_model() {
    let env = ingested();
    let server = FakeServer::start(Script::queue([])).unwrap();
    let spec = format!("openai:{}#test-model", server.openai_url());
    let dry = env.path("requests.jsonl");
    env.json(&["dream", "--model", &spec, "--model-dry-run", s(&dry)]);
    let body = std::fs::read_to_string(&dry).unwrap();
    let events: Vec<u32> = (1..=4).map(|n| goal_event(body.trim_end(), &format!("S{n}"))).collect();
    server.set_script(Script::queue([Reply::json(answer(&events)).with_usage(2000, 300)]));

    let job = env.json(&["dream", "--queue", "--model", &spec]);
    assert_eq!(job["payload"]["model"], json!(true), "{job:#}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(server.request_count(), 0, "queuing sends nothing");
    let out = env.cmd(&["worker", "--until-idle", "--model", &spec]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.request_count(), 1, "the worker asked the model once");
    let done = env.json(&["jobs", "show", &id]);
    assert_eq!(done["state"], json!("done"), "{done:#}");
    let pid = done["result"]["proposal"].as_str().unwrap();
    let p = env.json(&["dreams", "show", pid]);
    let p = if p.get("proposal").is_some() { p["proposal"].clone() } else { p };
    assert_eq!(p["stats"]["model.requests"], json!(1), "{p:#}");
    assert!(p["ops"].as_array().unwrap().iter().any(|o| o["text"] == "Tests run with shop.settings_test (sqlite)."));

    // A worker with no model: the model dream fails, and says why.
    let job = env.json(&["dream", "--queue", "--model", &spec]);
    let id = job["id"].as_str().unwrap().to_string();
    let out = env.cmd(&["worker", "--until-idle"]).env_remove("NOCTURNE_MODEL").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let failed = env.json(&["jobs", "show", &id]);
    assert_eq!(failed["state"], json!("failed"), "{failed:#}");
    assert!(failed["error"].as_str().unwrap().contains("model"), "{failed:#}");
}
