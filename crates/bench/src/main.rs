//! `cargo run --release -p nocturne-bench -- [ingest|ingest-real|search|dream|backends|quality|runtime|all] [--quick]`
//!
//! Generates corpora (in `target/bench-data/`, never committed), measures
//! whole operations through the service layer, prints markdown tables and
//! rewrites the matching section of BENCHMARKS.md. Each figure is the
//! median of several runs; the machine is described in the file.

use anyhow::{Context, Result};
use nocturne_service::{Access, DreamSpec, IngestOptions, Service};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod backends;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, quick) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(if message.is_empty() { 0 } else { 2 });
        }
    };
    let root = workspace_root()?;
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data)?;
    let machine = machine();
    if what == "ingest" || what == "all" {
        let table = ingest_bench(&data, quick)?;
        println!("{table}");
        write_section(&root.join("BENCHMARKS.md"), "ingest", &format!("{machine}\n{table}"))?;
    }
    if what == "ingest-real" || what == "all" {
        match real_ingest_bench(&root, quick)? {
            Some(table) => {
                println!("{table}");
                write_section(&root.join("BENCHMARKS.md"), "ingest-real", &format!("{machine}\n{table}"))?;
            }
            None => eprintln!("ingest-real skipped: the real transcripts are not there (see BENCHMARKS.md)"),
        }
    }
    if what == "search" || what == "all" {
        let table = search_bench(&data, quick)?;
        println!("{table}");
        write_section(&root.join("BENCHMARKS.md"), "search", &format!("{machine}\n{table}"))?;
    }
    if what == "dream" || what == "all" {
        let table = dream_bench(&data, quick)?;
        println!("{table}");
        write_section(&root.join("BENCHMARKS.md"), "dream", &format!("{machine}\n{table}"))?;
    }
    if what == "backends" || what == "all" {
        match backends::backends_bench(&data, quick)? {
            Some(table) => {
                println!("{table}");
                write_section(&root.join("BENCHMARKS.md"), "backends", &format!("{machine}\n{table}"))?;
            }
            None => eprintln!(
                "backends skipped: no PostgreSQL server (eval \"$(bash tests/postgres/start.sh)\" starts one and sets NOCTURNE_TEST_POSTGRES)"
            ),
        }
    }
    if what == "runtime" || what == "all" {
        let table = runtime_bench(&data, quick)?;
        println!("{table}");
        write_section(&root.join("BENCHMARKS.md"), "runtime", &format!("{machine}\n{table}"))?;
    }
    if what == "quality" || what == "all" {
        match quality_bench(&root)? {
            Some(body) => write_section(&root.join("BENCHMARKS.md"), "quality", &body)?,
            None => eprintln!("notice: shared/data/real-transcripts is absent; the quality section is left as it is"),
        }
    }
    Ok(())
}

const SECTIONS: &[&str] = &["ingest", "ingest-real", "search", "dream", "backends", "runtime", "quality", "all"];
const USAGE: &str = "usage: nocturne-bench [ingest|ingest-real|search|dream|backends|runtime|quality|all] [--quick]";

/// The section to run and `--quick`; `Err("")` for `--help`, `Err(message)`
/// for anything else, so a mistyped word never starts every benchmark (and
/// rewrites BENCHMARKS.md) by falling back to `all`.
fn parse_args(args: &[String]) -> std::result::Result<(&str, bool), String> {
    let mut what = None;
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => return Err(String::new()),
            word if SECTIONS.contains(&word) && what.is_none() => what = Some(word),
            word if SECTIONS.contains(&word) => return Err(format!("only one section at a time (got {word} too)")),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((what.unwrap_or("all"), quick))
}

/// The real-data quality suite (`nocturne-quality`) over every labelled
/// source, once: the per-source table and the leave-one-out score, with the
/// commit measured. The full report goes to `target/quality/`.
fn quality_bench(root: &Path) -> Result<Option<String>> {
    let Some(data) = nocturne_quality::data::find_data_dir(root) else {
        return Ok(None);
    };
    let expect = root.join("tests/real-data/expect");
    let report = nocturne_quality::run_suite(&expect, &data, true)?;
    let out = root.join("target/quality");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("quality.md"), report.markdown())?;
    std::fs::write(out.join("quality.json"), report.json())?;
    println!("{}", report.markdown());
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut commit = git(&["rev-parse", "--short=8", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Changes to the code measured (BENCHMARKS.md itself does not count).
    if git(&["status", "--porcelain", "--untracked-files=no", "--", "crates", "tests", "Cargo.lock"])
        .is_some_and(|s| !s.is_empty())
    {
        commit.push_str(" + uncommitted changes");
    }
    let machine = machine().replace("; median of the runs shown", "; one run");
    let goals = nocturne_quality::goal_failures(&report);
    let goals = if goals.is_empty() {
        "Goals: all met.".to_string()
    } else {
        format!("Goals not met ({}):\n\n- {}", goals.len(), goals.join("\n- "))
    };
    Ok(Some(format!(
        "{machine}\nCommit: `{commit}`; the whole suite took {:.1} s (full report: `target/quality/quality.md`).\n\n{}\n{}{goals}\n",
        report.elapsed_ms as f64 / 1000.0,
        report.table(),
        report.loo_table(),
    )))
}

fn workspace_root() -> Result<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(here.parent().and_then(Path::parent).context("workspace root")?.to_path_buf())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    // The machine is shared: how busy it was says how far to trust a wall time.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(|l| format!("; load average {l} when started")))
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, {mem} RAM; {} {}; release build; median of the runs shown{load}.\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let m = e.metadata().ok();
                    match m {
                        Some(m) if m.is_dir() => dir_size(&e.path()),
                        Some(m) => m.len(),
                        None => 0,
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Writes the corpus once (cached in `target/bench-data`); returns the
/// session files (not the corpus's labels and memories).
pub(crate) fn corpus_files(data: &Path, sessions: usize, events: usize) -> Result<Vec<PathBuf>> {
    let dir = data.join(format!("ingest-{sessions}x{events}"));
    if !dir.join(".done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let corpus = nocturne_corpus::bench_corpus(7, sessions, events);
        nocturne_corpus::write_files(&corpus, &dir).with_context(|| format!("writing {}", dir.display()))?;
        std::fs::write(dir.join(".done"), "")?;
    }
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if name.starts_with('.') || name == "labels.json" || name == "memories.json" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn ingest_bench(data: &Path, quick: bool) -> Result<String> {
    let (sessions, events) = if quick { (100, 200) } else { (1000, 200) };
    let runs = if quick { 3 } else { 5 };
    let files = corpus_files(data, sessions, events)?;
    let raw: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let mut times = Vec::new();
    let mut sizes = Vec::new();
    let mut total_events = 0;
    for i in 0..runs {
        let store_dir = data.join(format!("ingest-store-{i}"));
        let _ = std::fs::remove_dir_all(&store_dir);
        std::fs::create_dir_all(&store_dir)?;
        let svc = Service::with_store(
            nocturne_stores::open_path(&store_dir.join("store.db"))?,
            nocturne_service::system_clock(),
        );
        let t = Instant::now();
        let rep = svc.scoped(Access::local()).ingest(&files, &IngestOptions::default(), &|_, _| {})?;
        times.push(t.elapsed());
        anyhow::ensure!(!rep.refused_any(), "bench corpus refused: {:?}", rep.refused);
        total_events = rep.totals.events_added;
        drop(svc);
        // Checkpoint the WAL so the size is the file's, not the log's.
        let conn_size = {
            let s = nocturne_store_sqlite::SqliteStore::open(&store_dir.join("store.db"))?;
            drop(s);
            dir_size(&store_dir)
        };
        sizes.push(conn_size);
        let _ = std::fs::remove_dir_all(&store_dir);
    }
    let t = median(times.clone());
    let eps = total_events as f64 / t.as_secs_f64();
    let size = sizes.iter().copied().max().unwrap_or(0);
    let mut s = String::new();
    s.push_str(&format!(
        "Corpus: {sessions} sessions × ~{events} events ({total_events} events), written by `nocturne-corpus` in all four importer formats; {:.1} MiB of raw JSON.\n\n",
        raw as f64 / 1048576.0
    ));
    s.push_str("| runs | median time | min | max | events/s (median) | store size | store / raw JSON |\n|---|---|---|---|---|---|---|\n");
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    s.push_str(&format!(
        "| {runs} | {:.2} s | {:.2} s | {:.2} s | {:.0} | {:.1} MiB | {:.2}× |\n",
        t.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64(),
        eps,
        size as f64 / 1048576.0,
        size as f64 / raw as f64
    ));
    Ok(s)
}

/// `nocturne ingest` of the real Claude Code folder
/// (`../shared/data/real-transcripts/claude-code-log`, or under
/// `NOCTURNE_REAL_TRANSCRIPTS`) as a whole process: the release binary beside
/// this one, a fresh store each run; then the same folder again (nothing new).
fn real_ingest_bench(root: &Path, quick: bool) -> Result<Option<String>> {
    let Some(base) = nocturne_testdata::real_transcripts(root) else { return Ok(None) };
    let dir = base.join("claude-code-log");
    if !dir.is_dir() {
        return Ok(None);
    }
    let exe = std::env::current_exe()?.with_file_name("nocturne");
    anyhow::ensure!(exe.exists(), "{} not found: cargo build --release -p nocturne-cli first", exe.display());
    let raw: u64 = dir_size(&dir);
    let runs = if quick { 3 } else { 7 };
    let work = root.join("target/bench-data/ingest-real");
    // CPU time of the finished child processes (Linux `/proc/self/stat`,
    // cutime + cstime in USER_HZ = 1/100 s), to set beside the wall time
    // on a shared, noisy machine.
    let children_cpu = || -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = stat.rsplit_once(')')?.1;
        // Field 3 (state) comes first: cutime and cstime are fields 16 and 17.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (u, s): (u64, u64) = (f.get(13)?.parse().ok()?, f.get(14)?.parse().ok()?);
        Some(Duration::from_millis((u + s) * 10))
    };
    let run = |store: &Path| -> Result<(Duration, Option<Duration>, serde_json::Value)> {
        let cpu0 = children_cpu();
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .arg("--store")
            .arg(store)
            .arg("ingest")
            .arg(&dir)
            .arg("--json")
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        let took = t.elapsed();
        let cpu = cpu0.zip(children_cpu()).map(|(a, b)| b.saturating_sub(a));
        let rep: serde_json::Value = serde_json::from_slice(&out.stdout).context("the ingest report")?;
        anyhow::ensure!(out.status.success(), "ingest refused something: {}", rep["refused"]);
        Ok((took, cpu, rep))
    };
    let (mut first, mut again, mut sizes, mut cpus) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut totals = serde_json::Value::Null;
    // One warm-up run (page cache), not counted.
    for i in 0..=runs {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)?;
        let store = work.join("store.db");
        let (t, cpu, rep) = run(&store)?;
        let (t2, _, rep2) = run(&store)?;
        anyhow::ensure!(rep2["totals"]["events_added"] == 0, "re-ingest added events");
        if i > 0 {
            cpus.extend(cpu);
            first.push(t);
            again.push(t2);
            sizes.push(dir_size(&work));
        }
        totals = rep["totals"].clone();
    }
    let _ = std::fs::remove_dir_all(&work);
    let events = totals["events_added"].as_u64().unwrap_or(0);
    let (t, t2) = (median(first.clone()), median(again.clone()));
    let size = sizes.iter().copied().max().unwrap_or(0);
    let secs = |d: Duration| d.as_secs_f64();
    let mut s = format!(
        "Data: `claude-code-log` of the real transcripts (Claude Code, 8 projects, both sub-agent layouts): {} files, \
         {:.1} MiB; {} sessions ({} of them sub-agents linked to their parent), {events} events, {} records skipped by type.\n\n",
        totals["files"],
        raw as f64 / 1048576.0,
        totals["sessions_added"],
        totals["children_linked"],
        totals["records_skipped"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum::<u64>()),
    );
    s.push_str(
        "`nocturne --store NEW ingest DIR --json` as a whole process (the release binary, a fresh store each run, \
         after one warm-up run), then the same command again on that store (nothing new):\n\n",
    );
    let cpu = (!cpus.is_empty()).then(|| median(cpus.clone()));
    s.push_str("| runs | ingest: median | min | max | events/s (median) | CPU (user+sys, median) | re-ingest: median | store size | store / raw |\n|---|---|---|---|---|---|---|---|---|\n");
    s.push_str(&format!(
        "| {runs} | {:.3} s | {:.3} s | {:.3} s | {:.0} | {} | {:.3} s | {:.1} MiB | {:.2}× |\n",
        secs(t),
        secs(first.iter().min().copied().unwrap_or_default()),
        secs(first.iter().max().copied().unwrap_or_default()),
        events as f64 / secs(t).max(1e-9),
        cpu.map_or_else(|| "-".to_string(), |c| format!("{:.2} s", secs(c))),
        secs(t2),
        size as f64 / 1048576.0,
        size as f64 / raw.max(1) as f64
    ));
    Ok(Some(s))
}

fn dream_bench(data: &Path, quick: bool) -> Result<String> {
    let session_counts: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    let memory_counts: &[usize] = if quick { &[100, 1000] } else { &[100, 1000, 10000] };
    let runs = if quick { 3 } else { 5 };
    let mut s = String::from(
        "End-to-end `Service::dream` (read the snapshot from SQLite, run every pass, store the proposal), ~200 events per session.\n\n| sessions \\ memories |",
    );
    for m in memory_counts {
        s.push_str(&format!(" {m} |"));
    }
    s.push_str("\n|---|");
    for _ in memory_counts {
        s.push_str("---|");
    }
    s.push('\n');
    for &n in session_counts {
        s.push_str(&format!("| {n} |"));
        for &m in memory_counts {
            let store_dir = data.join(format!("dream-{n}-{m}"));
            let _ = std::fs::remove_dir_all(&store_dir);
            std::fs::create_dir_all(&store_dir)?;
            let svc = Service::with_store(
                nocturne_stores::open_path(&store_dir.join("store.db"))?,
                nocturne_service::system_clock(),
            );
            let corpus = nocturne_corpus::bench_corpus(11, n, 200);
            let recs: Vec<nocturne_store::SessionRecord> = corpus
                .sessions
                .iter()
                .cloned()
                .map(|session| nocturne_store::SessionRecord { session, ingested_at: "2026-11-01T00:00:00Z".into() })
                .collect();
            svc.store().append_sessions(&recs)?;
            seed_memories(&svc, m)?;
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let spec = DreamSpec { sessions: Some(n), ..Default::default() };
                svc.scoped(Access::local_as("user:bench")).dream(&spec, false)?;
                times.push(t.elapsed());
            }
            let t = median(times);
            s.push_str(&format!(" {:.3} s |", t.as_secs_f64()));
            drop(svc);
            let _ = std::fs::remove_dir_all(&store_dir);
        }
        s.push('\n');
    }
    Ok(s)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Search and context latency through the service (cached index), with
/// the store on disk: first call (index build incl. embedding) and
/// per-query percentiles.
fn search_bench(data: &Path, quick: bool) -> Result<String> {
    let sizes: &[usize] = if quick { &[1000] } else { &[10_000, 100_000] };
    let queries = [
        "why does npm test fail",
        "deploy to staging",
        "run the linter before committing",
        "cargo clippy warnings",
        "database migration rollback",
        "page the on-call for the payments endpoint",
        "flaky integration tests",
        "docker compose up fails",
    ];
    let mut s = String::from(
        "Through `Service` (SQLite store on disk, hashing embedder, k = 10), 400 queries each after the first call:\n\n\
         | memories | first call (build + embed) | search p50 | search p99 | context p50 | context p99 |\n|---|---|---|---|---|---|\n",
    );
    for &m in sizes {
        let store_dir = data.join(format!("search-{m}"));
        let _ = std::fs::remove_dir_all(&store_dir);
        std::fs::create_dir_all(&store_dir)?;
        let svc = Service::with_store(
            nocturne_stores::open_path(&store_dir.join("store.db"))?,
            nocturne_service::system_clock(),
        );
        seed_memories(&svc, m)?;
        let t = Instant::now();
        svc.scoped(Access::local()).memory_search("warm up", 10, None, None)?;
        let first = t.elapsed();
        let mut st = Vec::new();
        let mut ct = Vec::new();
        for i in 0..400 {
            let q = queries[i % queries.len()];
            let t = Instant::now();
            svc.scoped(Access::local()).memory_search(q, 10, None, None)?;
            st.push(t.elapsed());
            let t = Instant::now();
            svc.scoped(Access::local()).context(&nocturne_service::ContextRequest {
                task: q.into(),
                budget: 800,
                team: Some("team1".into()),
                ..Default::default()
            })?;
            ct.push(t.elapsed());
        }
        st.sort();
        ct.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        s.push_str(&format!(
            "| {m} | {:.2} s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |\n",
            first.as_secs_f64(),
            ms(percentile(&st, 0.5)),
            ms(percentile(&st, 0.99)),
            ms(percentile(&ct, 0.5)),
            ms(percentile(&ct, 0.99)),
        ));
        drop(svc);
        let _ = std::fs::remove_dir_all(&store_dir);
    }
    s.push_str("\nContext includes packing the bundle and appending its usage event (one write transaction).\n");
    Ok(s)
}

/// `m` memories in one revision: paraphrase-rich so duplicate detection
/// has real work to do.
pub(crate) fn seed_memories(svc: &Service, m: usize) -> Result<()> {
    // The corpus's planted memories (duplicates, outdated advice) plus filler.
    let planted = nocturne_corpus::bench_corpus(3, 10, 20).memories;
    let mut corpus = planted.clone();
    let filler = m.saturating_sub(corpus.len());
    corpus.extend(nocturne_corpus::filler_memories(&mut nocturne_corpus::Rng::new(3), filler, 3));
    corpus.truncate(m.max(planted.len()));
    let changes: Vec<nocturne_core::Change> = corpus
        .into_iter()
        .map(|mem| nocturne_core::Change { memory_id: mem.id.clone(), before: None, after: Some(mem) })
        .collect();
    svc.store().commit(nocturne_store::Commit {
        expect_rev: None,
        author: "user:bench".into(),
        reason: "seed".into(),
        created_at: "2026-10-01T00:00:00Z".into(),
        changes,
        applies_proposal: None,
    })?;
    Ok(())
}

/// Replaces the `<!-- bench:NAME -->` … `<!-- /bench:NAME -->` section.
fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let section = format!("{open}\n{body}\n{close}");
    let new = match (text.find(&open), text.find(&close)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &text[..a], section, &text[b + close.len()..]),
        _ => format!("{text}\n{section}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

// --- the agent runtime ---

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn runtime_setup(
    fake: &nocturne_fake_provider::FakeServer,
    defs: &[(&str, &str)],
    max_parallel: usize,
) -> Result<nocturne_runtime::Setup> {
    let mut agents = nocturne_runtime::AgentSet::default();
    for (name, text) in defs {
        let d = nocturne_runtime::AgentDef::parse(&format!("{name}.md"), text)?;
        agents.agents.insert(d.name.clone(), d);
    }
    let mut model = nocturne_provider::ModelConfig::from_spec(&format!("openai:{}#fake", fake.openai_url()))?;
    model.retries = 0;
    let runtime = nocturne_runtime::RuntimeSettings { max_parallel, ..Default::default() };
    Ok(nocturne_runtime::Setup {
        version: nocturne_runtime::SETUP_VERSION,
        agents,
        model,
        mcp_servers: Vec::new(),
        runtime,
        context: None,
    })
}

/// One run in a fresh store; its wall time in seconds.
fn timed_run(dir: &Path, setup: &nocturne_runtime::Setup, agent: &str) -> Result<(f64, serde_json::Value)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let svc = Service::with_store(nocturne_stores::open_path(&dir.join("store.db"))?, nocturne_service::system_clock());
    let req = nocturne_runtime::RunRequest { agent: agent.into(), task: "benchmark task".into(), ..Default::default() };
    let t = Instant::now();
    let o = nocturne_runtime::start_run(&svc, &Access::local(), setup, &req, Default::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = t.elapsed().as_secs_f64();
    Ok((secs, serde_json::to_value(&o.result)?))
}

/// Runtime overhead per step (journal writes, session events, bookkeeping)
/// against the fake model's own latency, and 100 sub-agents in one turn.
fn runtime_bench(data: &Path, quick: bool) -> Result<String> {
    use nocturne_fake_provider::{FakeServer, Script};
    use serde_json::json;
    let dir = data.join("runtime");
    let steps: u64 = if quick { 10 } else { 40 };
    let reps = if quick { 1 } else { 5 };
    let mut out = String::new();

    // A single agent that makes `steps` tool calls (an unknown tool: the
    // runtime answers it at once) and then answers.
    out.push_str(&format!(
        "One agent, {steps} turns of one tool call each, then a final answer ({} model calls, {} tool calls; \
         each turn journals 3 entries and appends 2 session events). The model is the scripted fake server \
         in-process, over HTTP on loopback; *bare model call* is the same requests made straight through \
         the provider client, without the runtime.\n\n",
        steps + 1,
        steps
    ));
    out.push_str("| fake model latency | runs | run wall (median) | per turn | bare model call | runtime overhead per turn |\n|---|---|---|---|---|---|\n");
    for delay in [0u64, 20] {
        let mut reply_call = json!({"tool_calls": [{"id": "c", "name": "noop", "arguments": {"n": 1}}],
            "usage": {"input_tokens": 10, "output_tokens": 5}, "delay_ms": delay});
        let reply_done = json!({"text": "done", "usage": {"input_tokens": 10, "output_tokens": 5}, "delay_ms": delay});
        let mut replies: Vec<serde_json::Value> = (0..steps).map(|_| reply_call.clone()).collect();
        replies.push(reply_done.clone());
        reply_call["delay_ms"] = json!(delay);
        let script = json!({"rules": [{"match": {"system_contains": "BENCH-AGENT"}, "key": "a", "replies": replies}]});
        let fake = FakeServer::start(Script::from_json(&script.to_string())?)?;
        let def = format!("---\nname: stepper\ndescription: d\nmax_turns: {}\n---\nYou are BENCH-AGENT.\n", steps + 5);
        let setup = runtime_setup(&fake, &[("stepper", &def)], 8)?;
        let mut walls = Vec::new();
        for _ in 0..reps {
            fake.set_script(Script::from_json(&script.to_string())?);
            let (secs, result) = timed_run(&dir, &setup, "stepper")?;
            anyhow::ensure!(result["status"] == "completed", "the stepper run did not complete: {result}");
            walls.push(secs);
        }
        let wall = median_f(walls);
        // The same number of requests, straight through the provider client.
        fake.set_script(Script::from_json(&script.to_string())?);
        let model = nocturne_provider::Model::new(setup.model.clone(), None)?;
        let mut req = nocturne_provider::ChatRequest::new("You are BENCH-AGENT.", "benchmark task");
        req.tools.push(nocturne_provider::ToolSpec {
            name: "noop".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
        });
        let mut bare = Vec::new();
        for _ in 0..=steps {
            let t = Instant::now();
            use nocturne_provider::ChatModel as _;
            model.chat(&req)?;
            bare.push(t.elapsed().as_secs_f64());
        }
        let bare = median_f(bare);
        let per_turn = wall / (steps + 1) as f64;
        out.push_str(&format!(
            "| {delay} ms | {reps} | {:.0} ms | {:.2} ms | {:.2} ms | {:.2} ms |\n",
            wall * 1000.0,
            per_turn * 1000.0,
            bare * 1000.0,
            (per_turn - bare) * 1000.0
        ));
    }

    // 100 sub-agents spawned in one turn.
    let n: usize = if quick { 20 } else { 100 };
    out.push_str(&format!(
        "\n{n} sub-agents spawned by one `spawn_agent` turn (each one model call, fake latency 50 ms); \
         the run makes {} model calls, {} sessions, {} outcomes:\n\n| max_parallel | run wall | per sub-agent |\n|---|---|---|\n",
        n + 2,
        n + 1,
        n + 1
    ));
    let spawns: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({"id": format!("s{i}"), "name": "spawn_agent",
            "arguments": {"agent": "worker", "task": format!("part {i} of the job")}})
        })
        .collect();
    let script = json!({"rules": [
        {"match": {"system_contains": "WORKER"}, "key": "w", "replies": [{"text": "part done", "delay_ms": 50,
          "usage": {"input_tokens": 10, "output_tokens": 5}}], "repeat_last": true},
        {"match": {"system_contains": "LEAD", "body_contains": "part done"}, "key": "l2",
          "replies": [{"text": "all parts done", "usage": {"input_tokens": 10, "output_tokens": 5}}], "repeat_last": true},
        {"match": {"system_contains": "LEAD"}, "key": "l1",
          "replies": [{"tool_calls": spawns, "usage": {"input_tokens": 10, "output_tokens": 5}}], "repeat_last": true},
    ]});
    let fake = FakeServer::start(Script::from_json(&script.to_string())?)?;
    let lead = "---\nname: lead\ndescription: d\ntools: [spawn_agent]\nmax_turns: 1000\n---\nYou are LEAD.\n";
    let worker = "---\nname: worker\ndescription: d\n---\nYou are WORKER.\n";
    for par in [8usize, 32, 100] {
        let setup = runtime_setup(&fake, &[("lead", lead), ("worker", worker)], par)?;
        let mut walls = Vec::new();
        for _ in 0..reps.min(3) {
            let (secs, result) = timed_run(&dir, &setup, "lead")?;
            anyhow::ensure!(result["output"] == "all parts done", "the {n}-agent run: {result}");
            walls.push(secs);
        }
        let wall = median_f(walls);
        out.push_str(&format!("| {par} | {:.2} s | {:.1} ms |\n", wall, wall * 1000.0 / n as f64));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_string()).collect()
    }

    #[test]
    fn a_mistyped_or_help_argument_runs_nothing() {
        assert_eq!(parse_args(&args(&[])), Ok(("all", false)));
        assert_eq!(parse_args(&args(&["backends", "--quick"])), Ok(("backends", true)));
        assert_eq!(parse_args(&args(&["--help"])), Err(String::new()));
        assert_eq!(parse_args(&args(&["backend"])), Err("unknown argument `backend`".to_string()));
        assert!(parse_args(&args(&["dream", "search"])).is_err());
    }
}
