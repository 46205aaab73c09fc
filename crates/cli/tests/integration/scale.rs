//! Many processes, one store: a killed dream that does not block the next,
//! servers and workers sharing a PostgreSQL store (jobs run once, a killed
//! worker's job is taken over), and export/import between the backends.
//! PostgreSQL tests skip, saying so, without `NOCTURNE_TEST_POSTGRES`.

use crate::*;
use nocturne_fake_provider::{FakeServer, Script};
use nocturne_store_postgres::testing;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL test server, when there is one and this build of
/// `nocturne` has the backend (feature `postgres`).
fn pg_server(test: &str) -> Option<String> {
    if !cfg!(feature = "postgres") {
        eprintln!("{test}: skipped: this build has no PostgreSQL backend (feature postgres)");
        return None;
    }
    testing::server(test)
}

/// A `nocturne` process on `store`, its stderr in `log`.
fn spawn(store: &str, args: &[&str], log: &Path) -> Child {
    spawn_env(store, args, log, &[])
}

/// [`spawn`] with more environment variables.
fn spawn_env(store: &str, args: &[&str], log: &Path, vars: &[(&str, &str)]) -> Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("nocturne"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("NOCTURNE_AUTHOR", "tester")
        .env("NOCTURNE_MODEL_KEY", "test-key")
        .envs(vars.iter().copied())
        .env_remove("NOCTURNE_STORE")
        .env_remove("NOCTURNE_MODEL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// `nocturne --store STORE ARGS --json`, asserted to succeed.
fn run_json(store: &str, args: &[&str]) -> Value {
    let out = StdCommand::new(assert_cmd::cargo::cargo_bin("nocturne"))
        .arg("--store")
        .arg(store)
        .args(args)
        .arg("--json")
        .env("NOCTURNE_AUTHOR", "tester")
        .env_remove("NOCTURNE_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nocturne {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The address a `serve` process logged.
fn address(log: &Path) -> String {
    wait_for("the server to listen", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(log).ok()?;
        Some(text.split("http://").nth(1)?.split_whitespace().next()?.to_string())
    })
}

/// One HTTP request; returns (status, body).
fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, dechunk(&body))
}

/// A chunked body's content (hyper chunks bodies of unknown length).
fn dechunk(body: &str) -> String {
    if serde_json::from_str::<Value>(body).is_ok() {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn kill9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn stop(mut child: Child) {
    StdCommand::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            kill9(&mut child);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` sessions in Nocturne JSONL with a preference stated by several users,
/// so dreams find something.
fn write_sessions(env: &Env, n: usize, events: usize) -> PathBuf {
    let dir = env.path("sessions");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let mut t = format!(
            "{{\"nocturne\":\"session\",\"version\":1,\"id\":\"s{i:03}\",\"user\":\"u{}\",\"team\":\"web\",\"agent\":\"coder\"}}\n",
            i % 4
        );
        for j in 0..events {
            let ts = format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + i % 28, j / 60 % 24, j % 60);
            if j % 2 == 0 {
                t.push_str(&format!("{{\"role\":\"user\",\"kind\":\"user_message\",\"timestamp\":\"{ts}\",\"text\":\"Please always run the linter before you commit. Step {j} of the checkout fix in module {i}.\"}}\n"));
            } else {
                t.push_str(&format!("{{\"role\":\"assistant\",\"kind\":\"assistant_message\",\"timestamp\":\"{ts}\",\"text\":\"Running npm run lint, then the unit tests for module {i}, step {j}.\"}}\n"));
            }
        }
        std::fs::write(dir.join(format!("s{i:03}.jsonl")), t).unwrap();
    }
    dir
}

#[test]
fn a_dream_killed_mid_run_does_not_block_the_next_dream() {
    let env = Env::new();
    let dir = write_sessions(&env, 100, 80);
    env.cmd(&["ingest", s(&dir)]).assert().success();
    let store = env.store().display().to_string();
    let lock_held = || -> bool {
        let c = rusqlite::Connection::open(env.store()).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.query_row("SELECT COUNT(*) FROM locks WHERE name = 'dream'", [], |r| r.get::<_, i64>(0)).unwrap() > 0
    };
    // The reproduction: `dream --apply &`, then `kill -9` while it holds the lock.
    let mut landed = false;
    for attempt in 0..8 {
        let mut child = spawn(&store, &["dream", "--apply"], &env.path(&format!("dream{attempt}.log")));
        let held = wait_for("the dream to start", Duration::from_secs(60), || {
            if lock_held() {
                return Some(true);
            }
            child.try_wait().unwrap().map(|_| false)
        });
        if held {
            kill9(&mut child);
            if lock_held() {
                landed = true;
                break;
            }
        } else {
            child.wait().unwrap();
        }
    }
    assert!(landed, "no kill landed while the dream held its lock");
    // The next dream runs at once: the lock's holder is a process that is gone.
    let started = Instant::now();
    let out = env.cmd(&["dream", "--json"]).output().unwrap();
    assert!(out.status.success(), "the dream after a killed one failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(60));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(p["id"].as_str().unwrap().starts_with("d-"));
    assert!(!lock_held(), "the dream released its lock");
}

/// The agents of the runs the multi-process tests queue: a lead that
/// delegates to one helper, then answers from its result (3 model calls).
fn write_run_setup(env: &Env, fake: &FakeServer) -> (PathBuf, PathBuf) {
    let agents = env.path("agents");
    env.write("agents/lead.md", &runs::agent("lead", "LEAD-AGENT", "tools: [spawn_agent]\n"));
    env.write("agents/helper.md", &runs::agent("helper", "HELPER-AGENT", ""));
    let config = env.write(
        "nocturne.toml",
        &format!(
            "[model]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"fake\"\nretries = 0\n\n[runtime]\nretry_backoff_ms = 10\n",
            fake.openai_url()
        ),
    );
    (agents, config)
}

fn run_script() -> Value {
    serde_json::json!({"rules": [
        runs::rule("HELPER-AGENT", None, runs::text("helper answer: 42")),
        runs::rule("LEAD-AGENT", Some("helper answer: 42"), runs::text("the answer is 42")),
        runs::rule("LEAD-AGENT", None, runs::calls(vec![runs::spawn("c1", "helper", "find the answer", serde_json::json!({}))])),
    ]})
}

#[test]
fn two_servers_and_three_workers_share_one_postgres_store() {
    let Some(base) = pg_server("two_servers_and_three_workers_share_one_postgres_store") else { return };
    let store = testing::fresh_url(&base, "multiproc").unwrap();
    let env = Env::new();
    let fake = FakeServer::start(Script::from_json(&run_script().to_string()).unwrap()).unwrap();
    let (agents, config) = write_run_setup(&env, &fake);
    let dir = write_sessions(&env, 12, 6);
    run_json(&store, &["ingest", s(&dir)]);
    let log = |n: &str| env.path(&format!("{n}.log"));
    let serve = |n: &str| {
        let args = [
            "serve",
            "--insecure-local",
            "--listen",
            "127.0.0.1:0",
            "--no-worker",
            "--agents",
            s(&agents),
            "--config",
            s(&config),
        ];
        spawn(&store, &args, &log(n))
    };
    let (sa, sb) = (serve("serve-a"), serve("serve-b"));
    let (a, b) = (address(&log("serve-a")), address(&log("serve-b")));
    let submit = |addr: &str, i: usize| -> String {
        let (code, body) =
            http(addr, "POST", "/v1/jobs", "application/json", format!("{{\"sessions\":{}}}", 4 + i % 8).as_bytes());
        assert_eq!(code, 202, "{body}");
        json_of(&body)["id"].as_str().unwrap().to_string()
    };
    // A run is queued as a job: 202 with the run (recorded, not started) and its job.
    let submit_run = |addr: &str, i: usize| -> (String, String) {
        let body = format!("{{\"agent\":\"lead\",\"task\":\"question {i}\",\"context\":{{\"n\":{i}}}}}");
        let (code, body) = http(addr, "POST", "/v1/runs", "application/json", body.as_bytes());
        assert_eq!(code, 202, "{body}");
        let v = json_of(&body);
        assert_eq!(v["run"]["state"], "running", "{v}");
        assert_eq!((v["job"]["kind"].as_str(), v["job"]["state"].as_str()), (Some("run"), Some("queued")), "{v}");
        assert_eq!(v["job"]["payload"]["run"], v["run"]["id"]);
        (v["run"]["id"].as_str().unwrap().to_string(), v["job"]["id"].as_str().unwrap().to_string())
    };
    let jobs_of = |addr: &str| -> Vec<Value> {
        let (code, body) = http(addr, "GET", "/v1/jobs?limit=500", "application/json", b"");
        assert_eq!(code, 200, "{body}");
        json_of(&body).as_array().unwrap().clone()
    };
    // Bad input is refused with the documented JSON error, and queues nothing.
    for (body, says) in [
        (r#"{"agent":"nobody","task":"x"}"#, "unknown agent \"nobody\""),
        (r#"{"agent":"lead","task":"  "}"#, "the task is empty"),
        (r#"{"agent":"lead","task":"x","context":[1]}"#, "context must be a JSON object"),
        (r#"{"agent":"lead","tsk":"x"}"#, "invalid JSON body"),
    ] {
        let (code, text) = http(&a, "POST", "/v1/runs", "application/json", body.as_bytes());
        assert_eq!(code, 400, "{body}: {text}");
        let e = json_of(&text);
        assert_eq!(e["error"]["code"], "invalid_input", "{text}");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "{body}: {text}");
    }
    assert!(jobs_of(&a).is_empty(), "nothing was queued");
    let is_of = |j: &Value, pid: &str| j["worker"].as_str().is_some_and(|w| w.split(':').nth(1) == Some(pid));

    // A worker takes the first run and is SIGKILLed in its middle: the helper's
    // model call is journaled, its end is not.
    let crash = "root/2#1:after_model_journal";
    let mut doomed_run = spawn_env(
        &store,
        &["worker", "--kind", "run", "--lease", "3", "--poll", "0.1"],
        &log("worker-doomed-run"),
        &[("NOCTURNE_RUNTIME_CRASH_AT", crash)],
    );
    let (first_run, first_run_job) = submit_run(&b, 0);
    wait_for("the first run to reach its crash point", Duration::from_secs(60), || {
        std::fs::read_to_string(log("worker-doomed-run"))
            .ok()?
            .contains(&format!("crash point {crash} reached"))
            .then_some(())
    });
    let before_kill = run_json(&store, &["runs", "journal", &first_run]);
    kill9(&mut doomed_run);
    let journaled = before_kill.as_array().unwrap().len();
    assert!(
        journaled >= 4,
        "the killed run had journaled its lead's call, the spawn and the helper's call: {before_kill}"
    );
    assert!(!before_kill.as_array().unwrap().iter().any(|e| e["kind"] == "end"), "and no agent's end");
    // Another worker claims the first dream and is SIGKILLed in its middle.
    let mut doomed_dream = spawn(
        &store,
        &["worker", "--kind", "dream", "--lease", "3", "--poll", "0.1", "--hold-ms", "60000"],
        &log("worker-doomed-dream"),
    );
    let first = submit(&a, 0);
    let doomed_pids = [doomed_run.id().to_string(), doomed_dream.id().to_string()];
    wait_for("the doomed worker to claim the first dream", Duration::from_secs(30), || {
        jobs_of(&b)
            .into_iter()
            .find(|j| j["id"] == first.as_str() && j["state"] == "running" && is_of(j, &doomed_pids[1]))
    });
    kill9(&mut doomed_dream);
    let killed_at = Instant::now();
    let workers: Vec<Child> = (1..=3)
        .map(|n| spawn(&store, &["worker", "--lease", "3", "--poll", "0.1"], &log(&format!("worker-{n}"))))
        .collect();
    // 29 more dreams and 29 more runs through both servers, 20 memories and 6 sessions beside them.
    let mut ids = vec![first.clone()];
    let mut run_ids = vec![(first_run.clone(), first_run_job.clone())];
    std::thread::scope(|sc| {
        let subs: Vec<_> = (1..30)
            .map(|i| {
                let addr = if i % 2 == 0 { a.clone() } else { b.clone() };
                sc.spawn(move || submit(&addr, i))
            })
            .collect();
        let run_subs: Vec<_> = (1..30)
            .map(|i| {
                let addr = if i % 2 == 0 { b.clone() } else { a.clone() };
                sc.spawn(move || submit_run(&addr, i))
            })
            .collect();
        let mems: Vec<_> = (0..20)
            .map(|i| {
                let addr = if i % 2 == 0 { a.clone() } else { b.clone() };
                sc.spawn(move || {
                    let body = format!("{{\"kind\":\"fact\",\"text\":\"Service {i} logs to /var/log/svc{i}.\"}}");
                    let (code, body) = http(&addr, "POST", "/v1/memories", "application/json", body.as_bytes());
                    assert_eq!(code, 201, "{body}");
                })
            })
            .collect();
        let more: Vec<_> = (0..6)
            .map(|i| {
                let addr = if i % 2 == 0 { a.clone() } else { b.clone() };
                sc.spawn(move || {
                    let t = format!("{{\"nocturne\":\"session\",\"version\":1,\"id\":\"live{i}\"}}\n{{\"role\":\"user\",\"kind\":\"user_message\",\"text\":\"hello {i}\"}}\n");
                    let (code, body) = http(&addr, "POST", "/v1/sessions?format=nocturne", "application/x-ndjson", t.as_bytes());
                    assert!(code == 201 || code == 200, "{code} {body}");
                })
            })
            .collect();
        for h in subs {
            ids.push(h.join().unwrap());
        }
        for h in run_subs {
            run_ids.push(h.join().unwrap());
        }
        for h in mems.into_iter().chain(more) {
            h.join().unwrap();
        }
    });
    let job_ids: BTreeSet<String> = ids.iter().cloned().chain(run_ids.iter().map(|(_, j)| j.clone())).collect();
    assert_eq!(job_ids.len(), 60);
    let done = wait_for("all 60 jobs to finish", Duration::from_secs(180), || {
        let all = jobs_of(&a);
        let ours: Vec<Value> = all.into_iter().filter(|j| job_ids.contains(j["id"].as_str().unwrap())).collect();
        (ours.len() == 60 && ours.iter().all(|j| j["state"] == "done" || j["state"] == "failed")).then_some(ours)
    });
    let taken_over = killed_at.elapsed();
    for l in workers.into_iter().chain([sa, sb]) {
        stop(l);
    }
    // Every job ran once and is done; each killed worker's job was taken over by another.
    let by_id: BTreeMap<String, &Value> = done.iter().map(|j| (j["id"].as_str().unwrap().to_string(), j)).collect();
    assert_eq!(by_id.len(), 60);
    for (id, j) in &by_id {
        assert_eq!(j["state"], "done", "{id}: {j}");
        if *id == first || *id == first_run_job {
            assert_eq!(j["attempts"], 2, "the killed worker's job was claimed twice: {j}");
            assert!(doomed_pids.iter().all(|p| !is_of(j, p)), "and finished by another worker: {j}");
        } else {
            assert_eq!(j["attempts"], 1, "{id} ran once: {j}");
        }
        if j["kind"] == "dream" {
            assert_eq!(j["result"]["proposal"].as_str().unwrap(), format!("d-{}", id.trim_start_matches("job-")));
        } else {
            assert_eq!(j["kind"], "run");
            assert_eq!(j["result"]["state"], "completed", "{j}");
        }
    }
    let workers: BTreeSet<&str> = by_id.values().map(|j| j["worker"].as_str().unwrap()).collect();
    eprintln!(
        "60 jobs done by {} workers; the killed workers' jobs finished {taken_over:?} after the second kill",
        workers.len()
    );
    // One proposal per dream job, no other.
    let dreams = run_json(&store, &["dreams", "list"]);
    let proposals: BTreeSet<String> =
        dreams["proposals"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    let expected: BTreeSet<String> = ids.iter().map(|i| format!("d-{}", i.trim_start_matches("job-"))).collect();
    assert_eq!(proposals, expected, "exactly one proposal per job");
    // Every run completed with the answer; its journal holds each step once, one end per agent.
    let listed = run_json(&store, &["runs", "list", "--limit", "100"]);
    assert_eq!(listed.as_array().unwrap().len(), 30, "one run per submission: {listed}");
    for (run, _) in &run_ids {
        let v = run_json(&store, &["runs", "show", run]);
        assert_eq!(v["state"], "completed", "{v}");
        assert_eq!(v["result"]["output"], "the answer is 42", "{v}");
        let journal = run_json(&store, &["runs", "journal", run]);
        let entries = journal.as_array().unwrap();
        let keys: BTreeSet<(String, u64, String)> = entries
            .iter()
            .map(|e| {
                (e["agent"].as_str().unwrap().into(), e["step"].as_u64().unwrap(), e["phase"].as_str().unwrap().into())
            })
            .collect();
        assert_eq!(keys.len(), entries.len(), "{run}: no step journaled twice");
        let ends: Vec<&str> =
            entries.iter().filter(|e| e["kind"] == "end").map(|e| e["agent"].as_str().unwrap()).collect();
        assert_eq!(ends, ["root/2", "root"], "{run}: each agent ended once");
        if *run == first_run {
            // Resumed, not restarted: what the killed worker journaled is the start of the same journal.
            assert_eq!(
                &entries[..journaled],
                before_kill.as_array().unwrap().as_slice(),
                "{run} went on from its journal"
            );
        }
    }
    // No model call was made twice, the killed run's included: 3 per run.
    let asked = |marker: &str, body: Option<&str>| {
        fake.requests()
            .iter()
            .map(|r| r.json().to_string())
            .filter(|t| t.contains(marker) && body.is_none_or(|b| t.contains(b)))
            .count()
    };
    assert_eq!(asked("HELPER-AGENT", None), 30, "one helper call per run");
    assert_eq!(asked("LEAD-AGENT", None), 60, "two lead calls per run");
    assert_eq!(asked("LEAD-AGENT", Some("helper answer: 42")), 30);
    // Revisions 1..=20, each number once.
    let revs = run_json(&store, &["memory", "log"]);
    let nums: Vec<u64> = revs.as_array().unwrap().iter().map(|r| r["rev"].as_u64().unwrap()).collect();
    assert_eq!(nums, (1..=20).collect::<Vec<_>>(), "no revision number duplicated or skipped");
    // The session log is intact: 18 ingested and 2 per run (the lead's and the helper's).
    let v = run_json(&store, &["sessions", "verify"]);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["sessions_checked"], 18 + 60, "{v}");
}

#[test]
fn export_from_sqlite_imports_into_postgres_and_back_exactly() {
    let Some(base) = pg_server("export_from_sqlite_imports_into_postgres_and_back_exactly") else { return };
    let env = Env::new();
    let sqlite = env.store().display().to_string();
    env.cmd(&["ingest", s(&samples()), "--team", "shop"]).assert().success();
    // Sub-agent sessions, with parents, and a session that grew.
    let _ = env.cmd(&["ingest", s(&ingest_fixtures().join("claude-code-project"))]).output().unwrap();
    let dir = write_sessions(&env, 6, 4);
    env.cmd(&["ingest", s(&dir)]).assert().success();
    env.json(&["memory", "add", "--kind", "preference", "--text", "Use pnpm, not npm"]);
    let d = env.json(&["dream"]);
    env.json(&["dreams", "apply", d["id"].as_str().unwrap()]);
    let sid = env.json(&["sessions", "list"])[0]["id"].as_str().unwrap().to_string();
    env.json(&["outcome", "log", &sid, "--set", "result=failure", "--comment", "first try"]);
    env.json(&["outcome", "log", &sid, "--set", "result=success"]);
    env.json(&["context", "fix the checkout", "--session", &sid]);
    env.json(&["context", "run the linter"]);
    let export = |store: &str, file: &Path| -> Value {
        let out = StdCommand::new(assert_cmd::cargo::cargo_bin("nocturne"))
            .args(["--store", store, "export", "--sessions", "--out", s(file)])
            .env_remove("NOCTURNE_STORE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("exported_at");
        v
    };
    let from_sqlite = export(&sqlite, &env.path("a.json"));
    assert!(!from_sqlite["sessions"].as_array().unwrap().is_empty());
    assert!(!from_sqlite["usage"].as_array().unwrap().is_empty());
    assert!(from_sqlite["outcomes"].as_array().unwrap().len() == 2);
    let pg = testing::fresh_url(&base, "migrate").unwrap();
    let imported = run_json(&pg, &["import", s(&env.path("a.json"))]);
    assert_eq!(imported["mode"], "restored", "{imported}");
    let from_pg = export(&pg, &env.path("b.json"));
    assert_eq!(from_pg, from_sqlite, "PostgreSQL holds exactly what SQLite held");
    let v = run_json(&pg, &["sessions", "verify"]);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0, "{v}");
    // And back into a new SQLite store.
    let back = env.path("back.db").display().to_string();
    run_json(&back, &["import", s(&env.path("b.json"))]);
    assert_eq!(export(&back, &env.path("c.json")), from_sqlite, "and back, exactly");
    // The stores go on the same way: the next revision and outcome ids follow the imported ones.
    let rev_sqlite = env.json(&["memory", "add", "--kind", "fact", "--text", "Deploys go out on Tuesdays"]);
    let rev_pg = run_json(&pg, &["memory", "add", "--kind", "fact", "--text", "Deploys go out on Tuesdays"]);
    assert_eq!(rev_sqlite["revision"], rev_pg["revision"]);
    let o_sqlite = env.json(&["outcome", "log", &sid, "--set", "result=partial"]);
    let o_pg = run_json(&pg, &["outcome", "log", &sid, "--set", "result=partial"]);
    assert_eq!(o_sqlite[0]["id"], o_pg[0]["id"]);
}
