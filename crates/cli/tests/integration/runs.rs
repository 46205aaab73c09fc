//! `nocturne run` / `nocturne runs`: the real binary against the scripted
//! fake model server (OpenAI wire). Every agent's system prompt carries a
//! marker (`LEAD-AGENT`, ...) the script's rules match on; a rule that must
//! answer a later step of an agent also matches something only that step's
//! request holds (a child's answer), so the answers are a function of the
//! request, whatever order parallel agents ask in and however often a
//! crashed run asks again.

use crate::Env;
use nocturne_fake_provider::{FakeServer, Script};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

pub struct RunEnv {
    pub env: Env,
    pub fake: FakeServer,
    /// Another store than the folder's SQLite file (a `postgres://` URL).
    pub store: Option<String>,
}

impl RunEnv {
    /// A folder with `agents/*.md` and a nocturne.toml whose model is the fake.
    pub fn new(agents: &[(&str, &str)], script: Value, extra_toml: &str) -> Self {
        Self::with_provider("openai", agents, script, extra_toml)
    }

    /// The same, the model speaking `provider`'s wire format (`openai` or `anthropic`).
    pub fn with_provider(provider: &str, agents: &[(&str, &str)], script: Value, extra_toml: &str) -> Self {
        let env = Env::new();
        let fake = FakeServer::start(Script::from_json(&script.to_string()).unwrap()).unwrap();
        for (name, text) in agents {
            env.write(&format!("agents/{name}.md"), text);
        }
        env.write(
            "nocturne.toml",
            &format!(
                "[model]\nprovider = \"{provider}\"\nbase_url = \"{}\"\nmodel = \"fake\"\nretries = 0\n\n[runtime]\nretry_backoff_ms = 10\n{extra_toml}",
                if provider == "anthropic" { fake.url() } else { fake.openai_url() }
            ),
        );
        RunEnv { env, fake, store: None }
    }

    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = match &self.store {
            None => self.env.cmd(args),
            Some(store) => {
                let mut c = assert_cmd::Command::cargo_bin("nocturne").unwrap();
                c.arg("--store").arg(store).args(args).env("NOCTURNE_AUTHOR", "tester").env_remove("NOCTURNE_STORE");
                c
            }
        };
        c.current_dir(self.env.dir.path())
            .env_remove("NOCTURNE_RUNTIME_CRASH_AT")
            .env_remove("NOCTURNE_CONFIG")
            .env("NOCTURNE_MODEL_KEY", "test-key");
        c
    }

    /// `nocturne run AGENT TASK --agents agents --json`: (exit code, output).
    pub fn run(&self, agent: &str, task: &str, more: &[&str]) -> (i32, Value) {
        let mut args = vec!["run", agent, task, "--agents", "agents", "--json"];
        args.extend_from_slice(more);
        let out = self.cmd(&args).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "nocturne run printed no JSON: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "nocturne {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The requests whose system prompt has `marker`.
    pub fn requests_of(&self, marker: &str) -> Vec<Value> {
        self.fake
            .requests()
            .iter()
            .map(|r| r.json())
            .filter(|b| {
                // OpenAI: the first message; Anthropic: `system` (a string or text blocks).
                let sys = match &b["system"] {
                    Value::Null => b["messages"][0]["content"].to_string(),
                    other => other.to_string(),
                };
                sys.contains(marker)
            })
            .collect()
    }
}

pub fn agent(name: &str, marker: &str, keys: &str) -> String {
    format!("---\nname: {name}\ndescription: The {name} agent.\n{keys}---\nYou are {marker}.\n")
}

pub(crate) fn spawn(id: &str, agent: &str, task: &str, context: Value) -> Value {
    json!({"id": id, "name": "spawn_agent", "arguments": {"agent": agent, "task": task, "context": context}})
}

pub(crate) fn text(t: &str) -> Value {
    json!({"text": t, "usage": {"input_tokens": 10, "output_tokens": 5}})
}

pub(crate) fn calls(c: Vec<Value>) -> Value {
    json!({"tool_calls": c, "usage": {"input_tokens": 10, "output_tokens": 5}})
}

pub(crate) fn rule(system: &str, body: Option<&str>, reply: Value) -> Value {
    let mut m = json!({"system_contains": system});
    if let Some(b) = body {
        m["body_contains"] = json!(b);
    }
    json!({"match": m, "key": format!("{system}/{}", body.unwrap_or("")), "replies": [reply], "repeat_last": true})
}

fn node<'a>(tree: &'a Value, path: &str) -> &'a Value {
    fn find<'a>(n: &'a Value, path: &str) -> Option<&'a Value> {
        if n["path"] == path {
            return Some(n);
        }
        n["children"].as_array()?.iter().find_map(|c| find(c, path))
    }
    find(tree, path).unwrap_or_else(|| panic!("no agent {path} in {tree:#}"))
}

#[test]
fn parallel_then_sequential_spawns_return_typed_results_and_every_agent_is_a_linked_session() {
    parallel_then_sequential(None);
}

/// The same run on a PostgreSQL store: its record, journal, sessions
/// (opened and closed as the agents go) and outcomes live there.
#[test]
fn the_same_run_tree_on_a_postgres_store() {
    if !cfg!(feature = "postgres") {
        eprintln!("the_same_run_tree_on_a_postgres_store: skipped: this build has no PostgreSQL backend");
        return;
    }
    let Some(base) = nocturne_store_postgres::testing::server("the_same_run_tree_on_a_postgres_store") else {
        return;
    };
    parallel_then_sequential(Some(nocturne_store_postgres::testing::fresh_url(&base, "cli_run").unwrap()));
}

fn parallel_then_sequential(store: Option<String>) {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("slow", agent("slow", "SLOW-AGENT", "")),
        ("quick", agent("quick", "QUICK-AGENT", "")),
        ("checker", agent("checker", "CHECKER-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("SLOW-AGENT", None, {let mut r = text("slow answer: 7"); r["delay_ms"] = json!(1200); r}),
        rule("QUICK-AGENT", None, text("quick answer: 5")),
        rule("CHECKER-AGENT", None, text("checked: 12")),
        rule("LEAD-AGENT", Some("checked: 12"), text("the sum is 12")),
        rule("LEAD-AGENT", Some("quick answer: 5"), calls(vec![spawn("c3", "checker", "check 7 + 5", json!({"sum": 12}))])),
        rule("LEAD-AGENT", None, calls(vec![
            spawn("c1", "slow", "find the first number", json!({"hint": "primes"})),
            spawn("c2", "quick", "find the second number", json!({})),
        ])),
    ]});
    let mut r = RunEnv::new(&agents, script, "");
    r.store = store;
    let (code, out) = r.run("lead", "add two numbers", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["status"], "completed");
    assert_eq!(out["result"]["output"], "the sum is 12");
    // lead 3 model calls + 3 children of 1 each; 3 spawn calls.
    assert_eq!(out["result"]["usage"]["turns"], 6);
    assert_eq!(out["result"]["usage"]["tool_calls"], 3);
    let run = out["run"].as_str().unwrap();

    // Parallel: the quick child, spawned second, ended before the slow one.
    let journal = r.json(&["runs", "journal", run]);
    let end_seq = |path: &str| {
        journal.as_array().unwrap().iter().find(|e| e["agent"] == path && e["kind"] == "end").unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    assert!(end_seq("root/3") < end_seq("root/2"), "the two spawns of one turn ran at once");
    // Sequential: the checker started after both ended.
    let start_seq =
        journal.as_array().unwrap().iter().find(|e| e["agent"] == "root/5" && e["kind"] == "start").unwrap()["seq"]
            .as_u64()
            .unwrap();
    assert!(start_seq > end_seq("root/2"));

    // The child got its task and the context object its parent passed.
    let slow = r.requests_of("SLOW-AGENT");
    let first_user = slow[0]["messages"][1]["content"].as_str().unwrap();
    assert!(first_user.starts_with("find the first number"), "{first_user}");
    assert!(first_user.contains("\"hint\": \"primes\""), "{first_user}");
    // The parent's model saw each typed result.
    let lead = r.requests_of("LEAD-AGENT");
    assert!(lead[1].to_string().contains(r#"\"status\":\"completed\""#), "{}", lead[1]);

    // The tree, the sessions, the outcomes.
    let view = r.json(&["runs", "show", run]);
    assert_eq!(view["state"], "completed");
    let tree = &view["tree"];
    assert_eq!(tree["children"].as_array().unwrap().len(), 3);
    assert_eq!(node(tree, "root/2")["agent"], "slow");
    assert_eq!(node(tree, "root/5")["result"]["output"], "checked: 12");
    let sessions = r.json(&["sessions", "list"]);
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 4);
    let child = list.iter().find(|s| s["id"] == format!("{run}/root/2")).unwrap();
    assert_eq!(child["parent"], format!("{run}/root"));
    assert_eq!(child["agent"], "slow");
    let verify = r.cmd(&["sessions", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let outcomes = r.json(&["outcomes", "list"]);
    assert_eq!(outcomes.as_array().unwrap().len(), 4, "one outcome per agent: {outcomes:#}");
    let human = r.cmd(&["runs", "tree", run]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("lead [root] completed") && human.contains("  checker [root/5] completed"), "{human}");
}

#[test]
fn a_child_asking_for_more_than_is_left_is_cut_off_partial_or_budget_exceeded() {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\nmax_turns: 6\n")),
        ("looper", agent("looper", "LOOPER-AGENT", "tools: [memory_search]\nmax_turns: 40\n")),
        ("quick", agent("quick", "QUICK-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let search = json!({"id": "s", "name": "memory_search", "arguments": {"query": "anything"}});
    let script = json!({"rules": [
        rule("LOOPER-AGENT", None, {let mut r = calls(vec![search]); r["text"] = json!("still looking"); r}),
        rule("QUICK-AGENT", None, text("quick done")),
        rule("LEAD-AGENT", Some("quick done"), text("lead went on without the looper")),
        rule("LEAD-AGENT", None, calls(vec![
            spawn("a", "looper", "look forever", json!({})),
            spawn("b", "quick", "answer quickly", json!({})),
        ])),
    ]});
    let r = RunEnv::new(&agents, script, "");
    let (code, out) = r.run("lead", "delegate", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], "lead went on without the looper");
    let view = r.json(&["runs", "show", out["run"].as_str().unwrap()]);
    // 6 turns, 1 used: each of the 2 children may spend 5 / 2 = 2, not the 40 it asks.
    let looper = &node(&view["tree"], "root/2")["result"];
    assert_eq!(looper["status"], "partial", "{looper:#}");
    assert_eq!(looper["output"], "still looking");
    assert_eq!(looper["usage"]["turns"], 2);
    assert!(looper["reason"].as_str().unwrap().contains("turn budget (2 model calls)"), "{looper}");
    assert_eq!(r.requests_of("LOOPER-AGENT").len(), 2);
    // The run never spent more than the lead's 6 turns.
    assert!(out["result"]["usage"]["turns"].as_u64().unwrap() <= 6);

    // Three children of a lead with 2 turns: 1 left, a share of 0 each.
    let agents2 = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\nmax_turns: 2\n")),
        ("quick", agent("quick", "QUICK-AGENT", "")),
    ];
    let agents2: Vec<(&str, &str)> = agents2.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("QUICK-AGENT", None, text("quick done")),
        rule("LEAD-AGENT", Some("budget_exceeded"), text("no budget for them")),
        rule("LEAD-AGENT", None, calls(vec![
            spawn("a", "quick", "one", json!({})), spawn("b", "quick", "two", json!({})),
        ])),
    ]});
    let r = RunEnv::new(&agents2, script, "");
    let (code, out) = r.run("lead", "delegate", &[]);
    assert_eq!(code, 0, "{out:#}");
    let view = r.json(&["runs", "show", out["run"].as_str().unwrap()]);
    for p in ["root/2", "root/3"] {
        let res = &node(&view["tree"], p)["result"];
        assert_eq!(res["status"], "failed");
        assert_eq!(res["kind"], "budget_exceeded", "{res}");
    }
    assert!(r.requests_of("QUICK-AGENT").is_empty(), "a child with no budget makes no model call");
}

#[test]
fn a_child_whose_model_keeps_failing_fails_after_its_retries_while_its_sibling_completes() {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("flaky", agent("flaky", "FLAKY-AGENT", "retries: 2\n")),
        ("quick", agent("quick", "QUICK-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("FLAKY-AGENT", None, json!({"status": 500, "error_message": "the fake model is down"})),
        rule("QUICK-AGENT", None, text("quick done")),
        rule("LEAD-AGENT", Some("model_error"), text("finished without flaky")),
        rule("LEAD-AGENT", None, calls(vec![
            spawn("a", "flaky", "try", json!({})), spawn("b", "quick", "answer", json!({})),
        ])),
    ]});
    let r = RunEnv::new(&agents, script, "");
    let (code, out) = r.run("lead", "delegate", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], "finished without flaky");
    let view = r.json(&["runs", "show", out["run"].as_str().unwrap()]);
    let tree = &view["tree"];
    // Three attempts: root/2, root/2.2, root/2.3; the last one's result is the parent's.
    assert_eq!(r.requests_of("FLAKY-AGENT").len(), 3);
    let last = &node(tree, "root/2.3")["result"];
    assert_eq!(last["status"], "failed");
    assert_eq!(last["kind"], "model_error");
    assert!(last["message"].as_str().unwrap().contains("the fake model is down"), "{last}");
    let lead_seen = r.requests_of("LEAD-AGENT")[1].to_string();
    assert!(lead_seen.contains(r#"\"attempts\":3"#), "{lead_seen}");
    assert_eq!(node(tree, "root/3")["result"]["status"], "completed");
    // The lead ran once: it was not restarted.
    assert_eq!(r.requests_of("LEAD-AGENT").len(), 2);
}

#[test]
fn a_final_answer_that_breaks_the_output_schema_is_invalid_output() {
    let schema = "output_schema:\n  type: object\n  properties:\n    sum: {type: integer}\n  required: [sum]\nretries: 0\ntools: [memory_search]\n";
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("summer", agent("summer", "SUMMER-AGENT", schema)),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("SUMMER-AGENT", None, text(r#"{"total": 3}"#)),
        rule("LEAD-AGENT", Some("invalid_output"), text("the summer answered badly")),
        rule("LEAD-AGENT", None, calls(vec![spawn("a", "summer", "add 1 and 2", json!({}))])),
    ]});
    let r = RunEnv::new(&agents, script, "");
    let (code, out) = r.run("lead", "delegate", &[]);
    assert_eq!(code, 0, "{out:#}");
    let view = r.json(&["runs", "show", out["run"].as_str().unwrap()]);
    let res = &node(&view["tree"], "root/2")["result"];
    assert_eq!(res["kind"], "invalid_output", "{res}");
    assert!(res["message"].as_str().unwrap().contains("sum"), "{res}");
    // One repair request, then the failure.
    let asked = r.requests_of("SUMMER-AGENT");
    assert_eq!(asked.len(), 2);
    assert!(asked[1].to_string().contains("does not match the required output schema"));

    // The same agent as the root, answering well: completed with the JSON value.
    let script = json!({"rules": [rule("SUMMER-AGENT", None, text(r#"{"sum": 3}"#))]});
    let r = RunEnv::new(&agents, script, "");
    let (code, out) = r.run("summer", "add 1 and 2", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], json!({"sum": 3}));

    // Without tools the answer is asked for as schema-constrained JSON; still wrong after the repair: invalid_output.
    let bare = agent("adder", "ADDER-AGENT", "output_schema:\n  type: object\n  properties:\n    sum: {type: integer}\n  required: [sum]\nretries: 0\ntools: []\n");
    let script = json!({"rules": [rule("ADDER-AGENT", None, text(r#"{"total": 3}"#))]});
    let r = RunEnv::new(&[("adder", bare.as_str())], script, "");
    let (code, out) = r.run("adder", "add 1 and 2", &[]);
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(out["result"]["kind"], "invalid_output", "{out:#}");
    assert_eq!(r.requests_of("ADDER-AGENT").len(), 2, "one answer and one repair");
}

#[test]
fn a_bad_agent_file_is_refused_with_its_file_and_line() {
    let r = RunEnv::new(&[("lead", "---\nname: lead\nmax_turns: ten\n---\nhi\n")], json!({}), "");
    let out = r.cmd(&["run", "lead", "x", "--agents", "agents"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "invalid input");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agents/lead.md:3: `max_turns` must be a whole number"), "{err}");
    assert_eq!(r.fake.request_count(), 0);
}

// ---- crash and resume ----

/// lead → [a (spawns c, which reports an outcome), b] in parallel, then a final answer.
fn crash_setup() -> RunEnv {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("mid", agent("mid", "MID-AGENT", "tools: [spawn_agent]\n")),
        ("leaf", agent("leaf", "LEAF-AGENT", "tools: [report_outcome]\n")),
        ("side", agent("side", "SIDE-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let report = json!({"id": "r1", "name": "report_outcome", "arguments": {"set": ["result=success"], "comment": "leaf did it"}});
    let script = json!({"rules": [
        rule("LEAF-AGENT", Some("\"role\":\"tool\""), text("leaf: reported")),
        rule("LEAF-AGENT", None, calls(vec![report])),
        rule("MID-AGENT", Some("leaf: reported"), text("mid: leaf reported")),
        rule("MID-AGENT", None, calls(vec![spawn("m1", "leaf", "report the outcome", json!({"level": 2}))])),
        rule("SIDE-AGENT", None, text("side: done")),
        rule("LEAD-AGENT", Some("mid: leaf reported"), text("all done")),
        rule("LEAD-AGENT", None, calls(vec![
            spawn("l1", "mid", "delegate further", json!({"level": 1})),
            spawn("l2", "side", "do the side job", json!({})),
        ])),
    ]});
    RunEnv::new(&agents, script, "")
}

/// Runs until the crash point is reached, then SIGKILLs the process.
fn run_and_kill(r: &RunEnv, point: &str) -> bool {
    let bin = assert_cmd::cargo::cargo_bin("nocturne");
    let mut child = StdCommand::new(bin)
        .args(["--store", r.env.store().to_str().unwrap(), "run", "lead", "the task", "--agents", "agents", "--json"])
        .current_dir(r.env.dir.path())
        .env("NOCTURNE_RUNTIME_CRASH_AT", point)
        .env("NOCTURNE_AUTHOR", "tester")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("crash point") && line.contains("reached") {
                let _ = tx.send(());
            }
        }
    });
    let t0 = Instant::now();
    let reached = loop {
        if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
            break true;
        }
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(30) {
            break false;
        }
    };
    // Let parallel agents go on a little before the kill.
    std::thread::sleep(Duration::from_millis(150));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    reached
}

fn finished_model_bodies(r: &RunEnv, run: &str) -> Vec<String> {
    let journal = r.json(&["runs", "journal", run]);
    let reqs = r.fake.requests();
    journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model" && e["phase"] == "finished")
        .filter_map(|e| e["body"]["response"]["id"].as_str().map(str::to_string))
        .map(|id| {
            let seq: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
            reqs.iter().find(|q| q.seq == seq).unwrap().body.clone()
        })
        .collect()
}

#[test]
fn a_run_killed_at_any_point_resumes_to_the_same_result_without_sending_a_finished_call_again() {
    let clean = crash_setup();
    let (code, reference) = clean.run("lead", "the task", &[]);
    assert_eq!(code, 0, "{reference:#}");
    let reference_result = reference["result"].clone();
    assert_eq!(reference_result["output"], "all done");
    let clean_requests = clean.fake.request_count();

    let points = [
        "root#1:before_model",
        "root#1:after_model",
        "root#1:after_model_journal",
        "root#2:tool_started",
        "root/2#1:after_model",
        "root/2#2:before_tool",
        "root/2/2#1:after_model_journal",
        "root/2/2#2:tool_started",
        "root/2/2#2:after_tool",
        "root/2/2#2:after_tool_journal",
        "root/2/2#4:agent_end",
        "root/3#1:after_model",
        "root/3#2:agent_end",
        "root#2:after_tool",
        "root#3:after_tool_journal",
        "root#4:after_model",
        "root#5:agent_end",
    ];
    let mut reached = 0;
    for point in points {
        let r = crash_setup();
        if !run_and_kill(&r, point) {
            // The run got past without stopping there: it must have finished.
            panic!("crash point {point} was never reached");
        }
        reached += 1;
        let runs = r.json(&["runs", "list"]);
        let run = runs[0]["id"].as_str().unwrap().to_string();
        assert_eq!(runs[0]["state"], "running", "{point}: killed while running");
        let finished = finished_model_bodies(&r, &run);
        let before = r.fake.request_count();

        let out = r.cmd(&["runs", "resume", &run, "--json"]).output().unwrap();
        assert!(out.status.success(), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(resumed["result"], reference_result, "{point}: the resumed run's result");

        let again: Vec<String> = r.fake.requests().iter().skip(before).map(|q| q.body.clone()).collect();
        for body in &finished {
            assert!(!again.contains(body), "{point}: a finished model call was sent again");
        }
        // At most one call (the one in flight) is asked twice.
        assert!(r.fake.request_count() <= clean_requests + 2, "{point}: {} requests", r.fake.request_count());

        // The report_outcome call in flight was not made again.
        let leaf_out: Vec<Value> = r
            .json(&["outcomes", "list"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["by"] == "agent:leaf")
            .cloned()
            .collect();
        assert!(leaf_out.len() <= 1, "{point}: the outcome was logged twice");
        if point == "root/2/2#2:tool_started" {
            assert!(leaf_out.is_empty(), "{point}");
            let j = r.json(&["runs", "journal", &run]);
            let e = j
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["agent"] == "root/2/2" && e["step"] == 2 && e["phase"] == "finished")
                .unwrap();
            assert_eq!(e["body"]["outcome"], "unknown_outcome", "{e}");
            let leaf = r.requests_of("LEAF-AGENT");
            assert!(leaf.last().unwrap().to_string().contains("unknown_outcome"), "the model was told");
        }
        let verify = r.cmd(&["sessions", "verify"]).output().unwrap();
        assert!(verify.status.success(), "{point}: {}", String::from_utf8_lossy(&verify.stdout));
        let view = r.json(&["runs", "show", &run]);
        assert_eq!(view["state"], "completed");
        assert_eq!(r.json(&["sessions", "list"]).as_array().unwrap().len(), 4, "{point}");
    }
    assert_eq!(reached, points.len());
}

#[test]
fn a_cancelled_run_ends_cancelled_and_cannot_be_resumed() {
    let r = crash_setup();
    assert!(run_and_kill(&r, "root/2#1:before_model"));
    let run = r.json(&["runs", "list"])[0]["id"].as_str().unwrap().to_string();
    let c = r.json(&["runs", "cancel", &run]);
    assert!(c["cancel_requested_at"].is_string());
    let out = r.cmd(&["runs", "resume", &run, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "cancelled");
    assert_eq!(v["result"]["kind"], "cancelled");
    let out = r.cmd(&["runs", "resume", &run]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("has ended (cancelled)"));
}

// ---- tools from MCP servers, and closing the loop ----

/// A stdio MCP server (newline-delimited JSON-RPC) with one tool, `run`:
/// a pretend shell where `npm test` fails (the project has no `test`
/// script) and `npm run test:unit` passes. It appends each call to `calls.log`.
const FAKE_SHELL_MCP: &str = r#"
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    m = json.loads(line)
    mid, method = m.get("id"), m.get("method")
    if mid is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": m["params"]["protocolVersion"],
              "capabilities": {"tools": {}}, "serverInfo": {"name": "fake-shell", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [{"name": "run", "description": "Run a shell command.",
              "inputSchema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}]}})
    elif method == "tools/call":
        cmd = m["params"].get("arguments", {}).get("command", "")
        with open("calls.log", "a") as f:
            f.write(cmd + "\n")
        if cmd == "npm test":
            r = {"content": [{"type": "text", "text": "npm ERR! Missing script: \"test\"\nnpm ERR! To see a list of scripts, run: npm run"}], "isError": True}
        else:
            r = {"content": [{"type": "text", "text": "42 tests passed"}], "isError": False}
        send({"jsonrpc": "2.0", "id": mid, "result": r})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no method " + str(method)}})
"#;

fn has(program: &str) -> bool {
    StdCommand::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn shell_call(id: &str, command: &str) -> Value {
    json!({"id": id, "name": "mcp__sh__run", "arguments": {"command": command}})
}

#[test]
fn a_lesson_dreamed_from_a_sub_agents_repeated_tool_error_reaches_the_next_runs_sub_agent() {
    if !has("python3") {
        eprintln!("skipped: python3 (for the stdio MCP test server) is not installed");
        return;
    }
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("tester", agent("tester", "TESTER-AGENT", "tools: [mcp__sh]\n")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("TESTER-AGENT", Some("tests passed"), text("the unit tests pass")),
        rule("TESTER-AGENT", Some("Missing script"), calls(vec![shell_call("t2", "npm run test:unit")])),
        // With the lesson in its context, it goes straight to the working command.
        {"match": {"system_contains": "npm run test:unit", "last_user_contains": "run the unit tests"}, "key": "lesson",
         "replies": [calls(vec![shell_call("t1", "npm run test:unit")])], "repeat_last": true},
        rule("TESTER-AGENT", None, calls(vec![shell_call("t1", "npm test")])),
        rule("LEAD-AGENT", Some("the unit tests pass"), text("done: the tests pass")),
        rule("LEAD-AGENT", None, calls(vec![spawn("s1", "tester", "run the unit tests of the shop", json!({}))])),
    ]});
    let r = RunEnv::new(&agents, script, "");
    r.env.write("fake_shell_mcp.py", FAKE_SHELL_MCP);
    let toml = std::fs::read_to_string(r.env.path("nocturne.toml")).unwrap();
    r.env.write(
        "nocturne.toml",
        &format!("{toml}\n[[mcp_server]]\nname = \"sh\"\ncommand = \"python3\"\nargs = [\"fake_shell_mcp.py\"]\n"),
    );
    for i in 0..3 {
        let (code, out) = r.run("lead", "check the shop", &["--user", &format!("dev{i}")]);
        assert_eq!(code, 0, "{out:#}");
        assert_eq!(out["result"]["output"], "done: the tests pass");
    }
    let log = std::fs::read_to_string(r.env.path("calls.log")).unwrap();
    assert_eq!(log.matches("npm test\n").count(), 3, "each run hit the error: {log}");

    // Dream over the runs' sessions and apply.
    let dream = r.json(&["dream"]);
    let id = dream["id"].as_str().unwrap_or_else(|| panic!("no proposal: {dream:#}")).to_string();
    let text = dream.to_string();
    assert!(text.contains("npm run test:unit"), "the proposal names the working command: {dream:#}");
    r.json(&["dreams", "apply", &id]);

    // The next run's sub-agent starts with the lesson and does not repeat the error.
    let (code, out) = r.run("lead", "check the shop", &["--user", "dev9"]);
    assert_eq!(code, 0, "{out:#}");
    let run = out["run"].as_str().unwrap();
    let journal = r.json(&["runs", "journal", run]);
    let start = journal.as_array().unwrap().iter().find(|e| e["agent"] == "root/2" && e["kind"] == "start").unwrap();
    assert!(!start["body"]["memories"].as_array().unwrap().is_empty(), "the tester got memories: {start:#}");
    assert!(start["body"]["system"].as_str().unwrap().contains("npm run test:unit"), "{start:#}");
    let log = std::fs::read_to_string(r.env.path("calls.log")).unwrap();
    assert_eq!(log.matches("npm test\n").count(), 3, "the fourth run did not call `npm test`: {log}");
    assert_eq!(log.lines().last(), Some("npm run test:unit"));
}

/// The reference filesystem MCP server from npm, over stdio: the binary
/// `scripts/test` installed (`NOCTURNE_TEST_MCP_FILESYSTEM`), else `npx -y`.
#[test]
fn a_sub_agent_reads_a_file_through_the_reference_filesystem_mcp_server() {
    let (command, mut args) = match std::env::var("NOCTURNE_TEST_MCP_FILESYSTEM") {
        Ok(bin) if !bin.is_empty() => (bin, vec![]),
        _ if has("npx") => {
            ("npx".to_string(), vec!["-y".to_string(), "@modelcontextprotocol/server-filesystem".to_string()])
        }
        _ => {
            eprintln!("skipped: npx is not installed (scripts/test installs nodejs, npm and @modelcontextprotocol/server-filesystem)");
            return;
        }
    };
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("reader", agent("reader", "READER-AGENT", "tools: [mcp__fs__read_text_file, mcp__fs__list_directory]\n")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let r0 = RunEnv::new(&agents, json!({}), "");
    let docs = r0.env.path("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("launch.txt"), "The launch code is 7421.\n").unwrap();
    let file = docs.canonicalize().unwrap().join("launch.txt");
    let script = json!({"rules": [
        rule("READER-AGENT", Some("The launch code is 7421"), text("7421")),
        rule("READER-AGENT", None, calls(vec![json!({"id": "f1", "name": "mcp__fs__read_text_file",
            "arguments": {"path": file.to_str().unwrap()}})])),
        rule("LEAD-AGENT", Some("7421"), text("the code is 7421")),
        rule("LEAD-AGENT", None, calls(vec![spawn("s1", "reader", "read docs/launch.txt and give the code", json!({}))])),
    ]});
    r0.fake.set_script(Script::from_json(&script.to_string()).unwrap());
    args.push(docs.canonicalize().unwrap().to_str().unwrap().to_string());
    let toml = std::fs::read_to_string(r0.env.path("nocturne.toml")).unwrap();
    r0.env.write(
        "nocturne.toml",
        &format!(
            "{toml}\n[[mcp_server]]\nname = \"fs\"\ncommand = {}\nargs = {}\nidempotent = [\"read_text_file\", \"list_directory\"]\n",
            json!(command),
            json!(args)
        ),
    );
    let (code, out) = r0.run("lead", "what is the launch code?", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], "the code is 7421");
    // The reader was offered the two tools its definition names, as the server describes them.
    let reader = r0.requests_of("READER-AGENT");
    let mut offered: Vec<&str> =
        reader[0]["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    offered.sort_unstable();
    assert_eq!(offered, ["mcp__fs__list_directory", "mcp__fs__read_text_file"]);
    // The file's text came back from the server as the tool's result.
    assert!(reader[1].to_string().contains("The launch code is 7421."), "{}", reader[1]);
}

#[test]
fn json_actions_drive_a_model_without_tool_calling_through_the_same_loop_and_journal() {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\ntool_calling: json\n")),
        ("worker", agent("worker", "WORKER-AGENT", "tool_calling: json\n")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("WORKER-AGENT", None, json!({"json": {"final": "worker: 99"}})),
        rule("LEAD-AGENT", Some("worker: 99"), json!({"json": {"final": "lead: 99"}})),
        rule("LEAD-AGENT", None, json!({"json": {"tool": "spawn_agent",
            "arguments": {"agent": "worker", "task": "find the number", "context": {"where": "notes"}}}})),
    ]});
    let r = RunEnv::new(&agents, script, "");
    let (code, out) = r.run("lead", "what is the number?", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], "lead: 99");
    let lead = r.requests_of("LEAD-AGENT");
    assert!(lead[0].get("tools").is_none(), "no native tools are sent: {}", lead[0]);
    assert_eq!(lead[0]["response_format"]["type"], "json_schema", "the answer is schema-constrained");
    let journal = r.json(&["runs", "journal", out["run"].as_str().unwrap()]);
    let modes: Vec<&str> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "start")
        .map(|e| e["body"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["json", "json"]);
    let spawn = journal.as_array().unwrap().iter().find(|e| e["kind"] == "spawn" && e["phase"] == "finished").unwrap();
    assert_eq!(spawn["body"]["result"]["output"], "worker: 99");
}

#[test]
fn the_anthropic_wire_runs_the_same_tree() {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("worker", agent("worker", "WORKER-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("WORKER-AGENT", None, text("worker: 5")),
        rule("LEAD-AGENT", Some("worker: 5"), text("lead: 5")),
        rule("LEAD-AGENT", None, calls(vec![spawn("toolu_1", "worker", "count", json!({"n": 5}))])),
    ]});
    let r = RunEnv::with_provider("anthropic", &agents, script, "");
    let (code, out) = r.run("lead", "count", &[]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["result"]["output"], "lead: 5");
    assert!(r.fake.requests().iter().all(|q| q.wire == "anthropic" && q.path == "/v1/messages"));
    let lead = r.requests_of("LEAD-AGENT");
    assert_eq!(lead.len(), 2);
    let result_block = &lead[1]["messages"][2]["content"][0];
    assert_eq!(result_block["type"], "tool_result", "{}", lead[1]);
    assert_eq!(result_block["tool_use_id"], "toolu_1");
}

/// The real local model (`scripts/local-model.sh runtime` starts it and runs
/// this): a lead that spawns a reader, which reads a file through the
/// filesystem MCP server, in JSON-action mode. Slow (minutes on 2 cores).
/// Prints how long each run took and whether the answer was right; asserts
/// only that the run ended with a typed result after delegating.
#[test]
#[ignore = "needs the local model: scripts/local-model.sh runtime"]
fn local_model_lead_delegates_a_file_read_to_a_sub_agent() {
    let Ok(url) = std::env::var("NOCTURNE_TEST_LLM_URL") else {
        eprintln!("skipped: NOCTURNE_TEST_LLM_URL is not set (scripts/local-model.sh runtime sets it)");
        return;
    };
    let fs_server = match std::env::var("NOCTURNE_TEST_MCP_FILESYSTEM") {
        Ok(bin) if !bin.is_empty() => json!([bin]),
        _ if has("npx") => json!(["npx", "-y", "@modelcontextprotocol/server-filesystem"]),
        _ => {
            eprintln!("skipped: npx is not installed");
            return;
        }
    };
    let runs: usize = std::env::var("NOCTURNE_TEST_LLM_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let lead = "---\nname: lead\ndescription: Answers questions by delegating file reading.\ntools: [spawn_agent]\ntool_calling: json\nmax_turns: 6\n---\nYou answer the user's question. You cannot read files yourself: first call spawn_agent with agent \"reader\" and a task that names the file. When the reader's result comes back, give the final answer: the launch code, digits only.\n";
    let reader = "---\nname: reader\ndescription: Reads a file and reports what it says.\ntools: [mcp__fs__read_text_file]\ntool_calling: json\nmax_turns: 4\nretries: 1\n---\nYou read files. First call mcp__fs__read_text_file with the file's absolute path. Then give the final answer: the launch code written in the file, digits only.\n";
    let mut right = 0;
    for i in 0..runs {
        let env = Env::new();
        env.write("agents/lead.md", lead);
        env.write("agents/reader.md", reader);
        let docs = env.path("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let docs = docs.canonicalize().unwrap();
        std::fs::write(docs.join("launch.txt"), "Launch notes.\nThe launch code is 7421.\n").unwrap();
        let mut cmd = fs_server.as_array().unwrap().clone();
        let program = cmd.remove(0);
        cmd.push(json!(docs.to_str().unwrap()));
        env.write(
            "nocturne.toml",
            &format!(
                "[model]\nprovider = \"llamacpp\"\nbase_url = \"{url}/v1\"\nmodel = \"local\"\ntimeout_secs = 900\nmax_output_tokens = 200\n\n[[mcp_server]]\nname = \"fs\"\ncommand = {program}\nargs = {}\nidempotent = [\"*\"]\n",
                json!(cmd)
            ),
        );
        let t0 = Instant::now();
        let task = format!("What is the launch code written in the file {}?", docs.join("launch.txt").display());
        let out = env
            .cmd(&["run", "lead", &task, "--agents", "agents", "--json"])
            .current_dir(env.dir.path())
            .timeout(Duration::from_secs(3600))
            .output()
            .unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("no JSON: {}", String::from_utf8_lossy(&out.stderr)));
        let journal = env.json(&["runs", "journal", v["run"].as_str().unwrap()]);
        let spawned = journal.as_array().unwrap().iter().any(|e| e["kind"] == "spawn");
        let read = journal
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "tool" && e["body"]["name"] == "mcp__fs__read_text_file");
        let ok = v["result"]["output"].to_string().contains("7421");
        right += usize::from(ok);
        eprintln!(
            "local model run {}: {secs:.0} s, {} model calls, delegated: {spawned}, file read: {read}, right: {ok}; result {}",
            i + 1,
            v["result"]["usage"]["turns"],
            v["result"]
        );
        assert!(v["result"]["status"].is_string(), "a typed result: {v:#}");
    }
    eprintln!("local model: {right} of {runs} runs answered 7421");
}

/// With `trace_file` set, a run writes OpenTelemetry GenAI spans as JSON
/// lines: one `invoke_agent` per agent, a `chat` per model call and an
/// `execute_tool` per tool call, all in one trace, each under its agent, a
/// sub-agent under the `spawn_agent` call that started it; each names the
/// agent's session as `gen_ai.conversation.id`. Without it nothing is written.
#[test]
fn a_run_writes_genai_spans_linking_each_sub_agent_to_the_call_that_spawned_it() {
    let agents =
        [("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")), ("quick", agent("quick", "QUICK-AGENT", ""))];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("QUICK-AGENT", None, text("quick answer: 5")),
        rule("LEAD-AGENT", Some("quick answer: 5"), text("it is 5")),
        rule("LEAD-AGENT", None, calls(vec![spawn("c1", "quick", "find the number", json!({}))])),
    ]});
    let r = RunEnv::new(&agents, script, "trace_file = \"spans.jsonl\"\n");
    let (code, out) = r.run("lead", "find a number", &[]);
    assert_eq!(code, 0, "{out:#}");
    let run = out["run"].as_str().unwrap();
    let lines = std::fs::read_to_string(r.env.path("spans.jsonl")).unwrap();
    let spans: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let attr = |s: &Value, k: &str| -> Value {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    let named = |prefix: &str| -> Vec<&Value> {
        spans.iter().filter(|s| s["name"].as_str().unwrap().starts_with(prefix)).collect()
    };
    let agents_spans = named("invoke_agent");
    assert_eq!(agents_spans.len(), 2, "{lines}");
    assert_eq!(named("chat").len(), 3, "lead twice, quick once: {lines}");
    let tools = named("execute_tool spawn_agent");
    assert_eq!(tools.len(), 1, "{lines}");
    let trace = &spans[0]["traceId"];
    assert!(spans.iter().all(|s| &s["traceId"] == trace), "one trace for the run");
    let lead = agents_spans.iter().find(|s| s["name"] == "invoke_agent lead").unwrap();
    let quick = agents_spans.iter().find(|s| s["name"] == "invoke_agent quick").unwrap();
    assert_eq!(lead["parentSpanId"], "", "the root agent has no parent");
    assert_eq!(quick["parentSpanId"], tools[0]["spanId"], "the sub-agent sits under the call that spawned it");
    assert_eq!(tools[0]["parentSpanId"], lead["spanId"]);
    for s in named("chat") {
        assert!(s["parentSpanId"] == lead["spanId"] || s["parentSpanId"] == quick["spanId"], "{s}");
    }
    assert_eq!(attr(lead, "gen_ai.conversation.id")["stringValue"], format!("{run}/root"));
    assert_eq!(attr(quick, "gen_ai.conversation.id")["stringValue"], format!("{run}/root/2"));
    assert_eq!(attr(quick, "gen_ai.agent.name")["stringValue"], "quick");

    // Not configured: no file.
    let r2 = RunEnv::new(&agents, json!({"rules": [rule("LEAD-AGENT", None, text("done"))]}), "");
    assert_eq!(r2.run("lead", "nothing to do", &[]).0, 0);
    let written: Vec<_> = std::fs::read_dir(r2.env.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!written.iter().any(|n| n.to_string_lossy().ends_with(".jsonl")), "{written:?}");
}

/// Runs queued as jobs on a SQLite store: `run --queue` records the run
/// and queues it, a worker runs it once, `jobs list` shows whose run it
/// is; a run whose process was killed is resumed by a queued resumption
/// (`runs resume --queue`) from its journal, not from scratch.
#[test]
fn queued_runs_and_resumptions_run_once_by_a_worker_on_sqlite() {
    let agents = [
        ("lead", agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n")),
        ("helper", agent("helper", "HELPER-AGENT", "")),
    ];
    let agents: Vec<(&str, &str)> = agents.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let script = json!({"rules": [
        rule("HELPER-AGENT", None, text("helper answer: 42")),
        rule("LEAD-AGENT", Some("helper answer: 42"), text("the answer is 42")),
        rule("LEAD-AGENT", None, calls(vec![spawn("c1", "helper", "find the answer", json!({}))])),
    ]});
    let r = RunEnv::new(&agents, script, "");
    let queued = r.json(&["run", "lead", "question one", "--agents", "agents", "--queue"]);
    let run = queued["run"].as_str().unwrap().to_string();
    assert_eq!((queued["job"]["kind"].as_str(), queued["job"]["state"].as_str()), (Some("run"), Some("queued")));
    assert!(r.fake.requests().is_empty(), "queued, not run");
    assert_eq!(r.json(&["runs", "show", &run])["state"], "running");
    let listed = r.cmd(&["jobs", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("run {run}: queued")), "{listed}");
    let out = r.cmd(&["worker", "--until-idle", "--lease", "3"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let job = r.json(&["jobs", "show", queued["job"]["id"].as_str().unwrap()]);
    assert_eq!((job["state"].as_str(), job["attempts"].as_u64()), (Some("done"), Some(1)), "{job}");
    assert_eq!(job["result"]["state"], "completed");
    assert_eq!(r.json(&["runs", "show", &run])["result"]["output"], "the answer is 42");
    assert_eq!(r.fake.requests().len(), 3, "three model calls, each once");
    let listed = r.cmd(&["jobs", "list", "--kind", "run"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("run {run}: completed")), "{listed}");
    // A run that ended has nothing to resume.
    let again = r.cmd(&["runs", "resume", &run, "--queue"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("has ended (completed)"), "{again:?}");

    // A run killed after its helper's model call was journaled…
    let bin = assert_cmd::cargo::cargo_bin("nocturne");
    let mut child = StdCommand::new(bin)
        .args(["--store", r.env.store().to_str().unwrap(), "run", "lead", "question two", "--agents", "agents", "-q"])
        .current_dir(r.env.dir.path())
        .env("NOCTURNE_RUNTIME_CRASH_AT", "root/2#1:after_model_journal")
        .env("NOCTURNE_AUTHOR", "tester")
        .env("NOCTURNE_MODEL_KEY", "test-key")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let killed = first.split_whitespace().nth(1).unwrap().to_string();
    assert!(killed.starts_with("run-"), "{first}");
    assert!(lines.map_while(Result::ok).any(|l| l.contains("crash point")), "the run reached its crash point");
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let asked_before = r.fake.requests().len();
    assert_eq!(asked_before, 3 + 2, "the first run's calls, then the lead's and the helper's first");
    // …is resumed by a queued resumption; a second one is refused while it is queued.
    let resumed = r.json(&["runs", "resume", &killed, "--queue"]);
    assert_eq!(resumed["job"]["payload"], json!({"run": killed, "resume": true}));
    let twice = r.cmd(&["runs", "resume", &killed, "--queue"]).output().unwrap();
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already has job"), "{twice:?}");
    let out = r.cmd(&["worker", "--until-idle", "--lease", "3", "--kind", "run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let view = r.json(&["runs", "show", &killed]);
    assert_eq!(
        (view["state"].as_str(), view["result"]["output"].as_str()),
        (Some("completed"), Some("the answer is 42"))
    );
    assert_eq!(r.fake.requests().len(), asked_before + 1, "only the lead's last call was left to make");
    let verify = r.cmd(&["sessions", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
