//! SQLite and PostgreSQL side by side (`nocturne-bench -- backends`): the
//! same operations on a fresh store of each backend, on this machine.
//!
//! PostgreSQL is the server named by `NOCTURNE_BENCH_POSTGRES` (or
//! `NOCTURNE_TEST_POSTGRES`, which `tests/postgres/start.sh` sets); each
//! measurement gets its own schema there. Without either, the section is
//! skipped, saying so.

use crate::{corpus_files, median, percentile, seed_memories};
use anyhow::{bail, Context, Result};
use nocturne_service::{Access, DreamSpec, IngestOptions, Service};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The PostgreSQL server to measure on, if any.
pub fn postgres_base() -> Option<String> {
    ["NOCTURNE_BENCH_POSTGRES", "NOCTURNE_TEST_POSTGRES"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

struct Bench {
    data: PathBuf,
    pg: String,
    exe: PathBuf,
    quick: bool,
}

impl Bench {
    /// A new, empty store's address.
    fn fresh(&self, b: Backend, name: &str) -> Result<String> {
        match b {
            Backend::Sqlite => {
                let dir = self.data.join(format!("backends-{name}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                Ok(dir.join("store.db").display().to_string())
            }
            Backend::Postgres => Ok(nocturne_store_postgres::testing::fresh_url(&self.pg, name)?),
        }
    }

    fn service(&self, address: &str) -> Result<Service> {
        Ok(Service::with_store(nocturne_stores::open(address)?, nocturne_service::system_clock()))
    }
}

/// One row of figures per backend.
#[derive(Default)]
struct Figures {
    ingest_eps: f64,
    ingest_events: u64,
    dream_100: Duration,
    search_p50: Duration,
    search_p99: Duration,
    http: Vec<(usize, f64, Duration)>,
    workers: Vec<(usize, f64, Duration)>,
    jobs: usize,
    run_workers: Vec<(usize, f64, Duration)>,
    run_jobs: usize,
}

pub fn backends_bench(data: &Path, quick: bool) -> Result<Option<String>> {
    let Some(pg) = postgres_base() else {
        return Ok(None);
    };
    let exe = std::env::current_exe()?.with_file_name("nocturne");
    anyhow::ensure!(exe.exists(), "{} not found: cargo build --release -p nocturne-cli first", exe.display());
    let b = Bench { data: data.to_path_buf(), pg, exe, quick };
    let mut rows = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        eprintln!("backends: {}", backend.name());
        rows.push((backend, measure(&b, backend).with_context(|| format!("measuring {}", backend.name()))?));
    }
    Ok(Some(table(&b, &rows)))
}

fn measure(b: &Bench, backend: Backend) -> Result<Figures> {
    let mut f = Figures::default();
    let runs = if b.quick { 1 } else { 3 };
    // Ingest: the same files, a fresh store each run.
    let (sessions, events) = if b.quick { (50, 200) } else { (200, 200) };
    let files = corpus_files(&b.data, sessions, events)?;
    let mut times = Vec::new();
    for i in 0..runs {
        let svc = b.service(&b.fresh(backend, &format!("ingest{i}"))?)?;
        let t = Instant::now();
        let rep = svc.scoped(Access::local()).ingest(&files, &IngestOptions::default(), &|_, _| {})?;
        times.push(t.elapsed());
        anyhow::ensure!(!rep.refused_any(), "bench corpus refused: {:?}", rep.refused);
        f.ingest_events = rep.totals.events_added as u64;
    }
    f.ingest_eps = f.ingest_events as f64 / median(times).as_secs_f64();

    // A dream over 100 sessions of ~200 events, beside 1,000 memories.
    let dream_store = b.fresh(backend, "dream")?;
    {
        let svc = b.service(&dream_store)?;
        append_corpus(&svc, 100)?;
        seed_memories(&svc, 1000)?;
        let mut times = Vec::new();
        for _ in 0..runs.max(3) {
            let t = Instant::now();
            svc.scoped(Access::local_as("user:bench"))
                .dream(&DreamSpec { sessions: Some(100), ..Default::default() }, false)?;
            times.push(t.elapsed());
        }
        f.dream_100 = median(times);
    }

    // Memory search at 10,000 memories, in process (the index is cached and
    // checked against the head revision on every call).
    let search_store = b.fresh(backend, "search")?;
    {
        let svc = b.service(&search_store)?;
        seed_memories(&svc, 10_000)?;
        svc.scoped(Access::local()).memory_search("warm up", 10, None, None)?;
        let mut st = Vec::new();
        for i in 0..400 {
            let t = Instant::now();
            svc.scoped(Access::local()).memory_search(QUERIES[i % QUERIES.len()], 10, None, None)?;
            st.push(t.elapsed());
        }
        st.sort();
        f.search_p50 = percentile(&st, 0.5);
        f.search_p99 = percentile(&st, 0.99);
    }

    // HTTP search on that store, through 1 and 2 `serve` processes.
    let secs = if b.quick { 3 } else { 10 };
    for servers in [1, 2] {
        let mut procs = Vec::new();
        let mut addrs = Vec::new();
        for n in 0..servers {
            let log = b.data.join(format!("backends-serve-{n}.log"));
            let child = spawn(
                &b.exe,
                &search_store,
                &["serve", "--insecure-local", "--listen", "127.0.0.1:0", "--no-worker"],
                &log,
            )?;
            procs.push(Running(child));
            addrs.push(address(&log)?);
        }
        for a in &addrs {
            // The first search builds the server's index.
            get(&mut Conn::open(a)?, "/v1/memories/search?q=warm&k=10")?;
        }
        let (rps, p99) = load(&addrs, 16, Duration::from_secs(secs))?;
        f.http.push((servers, rps, p99));
        drop(procs);
    }

    // Dream jobs run by 1, 2 and 4 `nocturne worker` processes: the same
    // queue each time (a fresh store, 24 dreams over 100 sessions each).
    let jobs = if b.quick { 8 } else { 24 };
    f.jobs = jobs;
    for workers in [1, 2, 4] {
        let store = b.fresh(backend, &format!("workers{workers}"))?;
        let svc = b.service(&store)?;
        append_corpus(&svc, 100)?;
        seed_memories(&svc, 100)?;
        let local = svc.scoped(Access::local_as("user:bench"));
        let mut ids = Vec::new();
        for _ in 0..jobs {
            ids.push(
                local.submit_dream(&DreamSpec { sessions: Some(100), ..Default::default() }, false, false)?.job.id,
            );
        }
        let t = Instant::now();
        let procs: Vec<Running> = (0..workers)
            .map(|n| {
                let log = b.data.join(format!("backends-worker-{n}.log"));
                spawn(&b.exe, &store, &["worker", "--until-idle", "--poll", "0.05"], &log).map(Running)
            })
            .collect::<Result<_>>()?;
        for mut p in procs {
            let st = p.0.wait()?;
            anyhow::ensure!(st.success(), "a worker exited with {st}");
        }
        let took = t.elapsed();
        for id in &ids {
            let j = local.job(id)?;
            anyhow::ensure!(j.state == nocturne_store::JobState::Done, "job {id} ended {:?}", j.state);
            anyhow::ensure!(j.attempts == 1, "job {id} was claimed {} times", j.attempts);
        }
        f.workers.push((workers, jobs as f64 / took.as_secs_f64(), took));
    }

    // Run jobs: orchestration runs (a lead that delegates to one helper,
    // 3 calls of the scripted fake model on loopback, no delay) queued
    // and drained by 1 and 2 `nocturne worker` processes.
    let runs = if b.quick { 8 } else { 40 };
    f.run_jobs = runs;
    let script = serde_json::json!({"rules": [
        {"match": {"system_contains": "HELPER-AGENT"}, "key": "h", "replies": [{"text": "helper answer: 42"}], "repeat_last": true},
        {"match": {"system_contains": "LEAD-AGENT", "body_contains": "helper answer: 42"}, "key": "l2",
         "replies": [{"text": "the answer is 42"}], "repeat_last": true},
        {"match": {"system_contains": "LEAD-AGENT"}, "key": "l1", "replies": [{"tool_calls": [{"id": "c1", "name": "spawn_agent",
            "arguments": {"agent": "helper", "task": "find the answer", "context": {}}}]}], "repeat_last": true},
    ]});
    let fake =
        nocturne_fake_provider::FakeServer::start(nocturne_fake_provider::Script::from_json(&script.to_string())?)?;
    let setup = crate::runtime_setup(
        &fake,
        &[
            ("lead", "---\nname: lead\ndescription: d\ntools: [spawn_agent]\n---\nYou are LEAD-AGENT.\n"),
            ("helper", "---\nname: helper\ndescription: d\n---\nYou are HELPER-AGENT.\n"),
        ],
        8,
    )?;
    for workers in [1, 2] {
        let store = b.fresh(backend, &format!("runworkers{workers}"))?;
        let svc = b.service(&store)?;
        let local = svc.scoped(Access::local_as("user:bench"));
        let mut ids = Vec::new();
        for i in 0..runs {
            let req = nocturne_runtime::RunRequest {
                agent: "lead".into(),
                task: format!("question {i}"),
                ..Default::default()
            };
            let run = nocturne_runtime::create_run(&local, &setup, &req).map_err(|e| anyhow::anyhow!("{e}"))?;
            ids.push((run.id.clone(), local.submit_run(&run.id, false)?.job.id));
        }
        let t = Instant::now();
        let procs: Vec<Running> = (0..workers)
            .map(|n| {
                let log = b.data.join(format!("backends-run-worker-{n}.log"));
                spawn(&b.exe, &store, &["worker", "--until-idle", "--kind", "run", "--poll", "0.05"], &log).map(Running)
            })
            .collect::<Result<_>>()?;
        for mut p in procs {
            let st = p.0.wait()?;
            anyhow::ensure!(st.success(), "a worker exited with {st}");
        }
        let took = t.elapsed();
        for (run, id) in &ids {
            let j = local.job(id)?;
            anyhow::ensure!(j.state == nocturne_store::JobState::Done, "job {id} ended {:?}: {:?}", j.state, j.error);
            anyhow::ensure!(j.attempts == 1, "job {id} was claimed {} times", j.attempts);
            let r = local.agent_run(run)?;
            anyhow::ensure!(r.state == "completed", "run {run} ended {}", r.state);
        }
        f.run_workers.push((workers, runs as f64 / took.as_secs_f64(), took));
    }
    Ok(f)
}

const QUERIES: [&str; 8] = [
    "why does npm test fail",
    "deploy to staging",
    "run the linter before committing",
    "cargo clippy warnings",
    "database migration rollback",
    "page the on-call for the payments endpoint",
    "flaky integration tests",
    "docker compose up fails",
];

fn append_corpus(svc: &Service, n: usize) -> Result<()> {
    let corpus = nocturne_corpus::bench_corpus(11, n, 200);
    let recs: Vec<nocturne_store::SessionRecord> = corpus
        .sessions
        .into_iter()
        .map(|session| nocturne_store::SessionRecord { session, ingested_at: "2026-11-01T00:00:00Z".into() })
        .collect();
    svc.store().append_sessions(&recs)?;
    Ok(())
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(exe: &Path, store: &str, args: &[&str], log: &Path) -> Result<Child> {
    Command::new(exe)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("NOCTURNE_STORE")
        // The run jobs' model is the fake server; any key does.
        .env("NOCTURNE_MODEL_KEY", "bench")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))
}

/// The address a `serve` process logged.
fn address(log: &Path) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(a) = text.split("http://").nth(1).and_then(|r| r.split_whitespace().next()) {
            return Ok(a.to_string());
        }
        if Instant::now() > deadline {
            bail!("the server did not say where it listens: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: String,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(Conn { addr: addr.to_string(), r: BufReader::new(s) })
    }
}

/// `GET path`; the status code.
fn get(c: &mut Conn, path: &str) -> Result<u16> {
    write!(c.r.get_mut(), "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", c.addr)?;
    let mut line = String::new();
    c.r.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status line")?;
    let mut len = None;
    loop {
        line.clear();
        c.r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; len.context("a response without Content-Length")?];
    c.r.read_exact(&mut body)?;
    Ok(status)
}

/// A closed loop of `conns` keep-alive connections spread over `addrs`,
/// each sending the next search as soon as its answer is read, for `dur`.
/// Returns (requests/s, p99). Any non-200 answer fails the run.
fn load(addrs: &[String], conns: usize, dur: Duration) -> Result<(f64, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let results: Vec<Result<Vec<Duration>>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..conns)
            .map(|i| {
                let addr = addrs[i % addrs.len()].clone();
                let stop = stop.clone();
                sc.spawn(move || -> Result<Vec<Duration>> {
                    let mut c = Conn::open(&addr)?;
                    let mut lat = Vec::new();
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let q = QUERIES[n % QUERIES.len()].replace(' ', "%20");
                        n += 1;
                        let t = Instant::now();
                        let code = get(&mut c, &format!("/v1/memories/search?q={q}&k=10"))?;
                        anyhow::ensure!(code == 200, "search answered {code}");
                        lat.push(t.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked")))).collect()
    });
    let wall = start.elapsed();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort();
    Ok((all.len() as f64 / wall.as_secs_f64(), percentile(&all, 0.99)))
}

fn table(b: &Bench, rows: &[(Backend, Figures)]) -> String {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mut s = String::new();
    let pg_version = Command::new("psql")
        .args([b.pg.as_str(), "-Atc", "SHOW server_version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    s.push_str(&format!(
        "SQLite: a file in `target/bench-data/` (WAL). PostgreSQL {pg_version}: a local server on loopback, \
         on the same 2 cores as everything else, a fresh schema per measurement. {} run(s) per figure (median).\n\n",
        if b.quick { 1 } else { 3 }
    ));
    let ingest_events = rows.first().map_or(0, |r| r.1.ingest_events);
    let header: Vec<&str> = rows.iter().map(|r| r.0.name()).collect();
    s.push_str(&format!("| measurement | {} | PostgreSQL / SQLite |\n|---|---|---|---|\n", header.join(" | ")));
    let line = |what: &str, vals: Vec<(String, f64)>, higher_is_better: bool| -> String {
        let ratio = match (vals.first(), vals.get(1)) {
            (Some((_, a)), Some((_, b))) if *a > 0.0 => {
                let r = b / a;
                let better = if higher_is_better { r >= 1.0 } else { r <= 1.0 };
                format!("{r:.2}× ({})", if better { "PostgreSQL ahead" } else { "PostgreSQL behind" })
            }
            _ => "-".into(),
        };
        format!("| {what} | {} | {ratio} |\n", vals.iter().map(|v| v.0.clone()).collect::<Vec<_>>().join(" | "))
    };
    s.push_str(&line(
        &format!("ingest, events/s ({ingest_events} events, `Service::ingest`)"),
        rows.iter().map(|r| (format!("{:.0}", r.1.ingest_eps), r.1.ingest_eps)).collect(),
        true,
    ));
    s.push_str(&line(
        "dream, 100 sessions × ~200 events, 1,000 memories",
        rows.iter().map(|r| (format!("{:.3} s", r.1.dream_100.as_secs_f64()), r.1.dream_100.as_secs_f64())).collect(),
        false,
    ));
    s.push_str(&line(
        "memory search p50, 10,000 memories (in process)",
        rows.iter().map(|r| (ms(r.1.search_p50), r.1.search_p50.as_secs_f64())).collect(),
        false,
    ));
    s.push_str(&line(
        "memory search p99, 10,000 memories (in process)",
        rows.iter().map(|r| (ms(r.1.search_p99), r.1.search_p99.as_secs_f64())).collect(),
        false,
    ));
    for i in 0..2 {
        let n = rows.first().and_then(|r| r.1.http.get(i)).map_or(0, |h| h.0);
        s.push_str(&line(
            &format!("HTTP search req/s, {n} `serve` process{} (16 connections; p99)", if n == 1 { "" } else { "es" }),
            rows.iter().filter_map(|r| r.1.http.get(i)).map(|h| (format!("{:.0} ({})", h.1, ms(h.2)), h.1)).collect(),
            true,
        ));
    }
    for i in 0..3 {
        let n = rows.first().and_then(|r| r.1.workers.get(i)).map_or(0, |w| w.0);
        let jobs = rows.first().map_or(0, |r| r.1.jobs);
        s.push_str(&line(
            &format!(
                "dream jobs/s, {n} `worker` process{} ({jobs} queued dreams of 100 sessions; wall time)",
                if n == 1 { "" } else { "es" }
            ),
            rows.iter()
                .filter_map(|r| r.1.workers.get(i))
                .map(|w| (format!("{:.2} ({:.1} s)", w.1, w.2.as_secs_f64()), w.1))
                .collect(),
            true,
        ));
    }
    for i in 0..2 {
        let n = rows.first().and_then(|r| r.1.run_workers.get(i)).map_or(0, |w| w.0);
        let runs = rows.first().map_or(0, |r| r.1.run_jobs);
        s.push_str(&line(
            &format!(
                "run jobs/s, {n} `worker` process{} ({runs} queued runs: a lead and one sub-agent, 3 fake-model calls; wall time)",
                if n == 1 { "" } else { "es" }
            ),
            rows.iter()
                .filter_map(|r| r.1.run_workers.get(i))
                .map(|w| (format!("{:.2} ({:.1} s)", w.1, w.2.as_secs_f64()), w.1))
                .collect(),
            true,
        ));
    }
    s
}
