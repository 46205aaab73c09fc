//! A run: its record, its claim, its journal, and what every agent of it
//! shares (models, tools, the tracer, cancellation).

use crate::agent::{self, Spawn};
use crate::config::{Setup, SETUP_VERSION};
use crate::mcp::McpHub;
use crate::trace::Tracer;
use crate::{Progress, ProgressFn, RunOptions, RunOutcome, RunRequest, RuntimeError};
use nocturne_provider::{ApiKey, Model, ModelConfig, ToolsMode};
use nocturne_service::runs::{phase, Budget};
use nocturne_service::{Access, AgentRun, JournalEntry, Scoped, Service, ServiceError, TypedResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a claim lasts without renewal, and how often it is renewed.
const CLAIM_SECS: u64 = 120;
const RENEW_EVERY: Duration = Duration::from_secs(30);
/// How often the run record is read for a cancellation.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Everything the agents of one run share.
pub(crate) struct Runtime {
    pub svc: Service,
    pub access: Access,
    pub run_id: String,
    pub setup: Setup,
    pub user: Option<String>,
    pub team: Option<String>,
    pub mcp: McpHub,
    models: Mutex<HashMap<String, Arc<Model>>>,
    /// The journal as stored when the run (re)started, by step key.
    replay: HashMap<(String, u32, String), JournalEntry>,
    /// Agents whose `end` entry is stored, by path.
    ends: HashMap<String, JournalEntry>,
    cancel: Mutex<(Option<Instant>, bool)>,
    progress: Option<ProgressFn>,
    pub tracer: Tracer,
    crash_at: Option<String>,
    pub notes: Mutex<Vec<String>>,
}

impl Runtime {
    pub(crate) fn scoped(&self) -> Scoped<'_> {
        self.svc.scoped(self.access.clone())
    }

    pub(crate) fn now(&self) -> String {
        self.scoped().now()
    }

    pub(crate) fn emit(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    pub(crate) fn note(&self, n: String) {
        self.emit(Progress::Note(n.clone()));
        if let Ok(mut v) = self.notes.lock() {
            v.push(n);
        }
    }

    /// The stored entry of a step, if the run got that far before.
    pub(crate) fn replayed(&self, agent: &str, step: u32, phase: &str) -> Option<&JournalEntry> {
        self.replay.get(&(agent.to_string(), step, phase.to_string()))
    }

    pub(crate) fn replayed_end(&self, agent: &str) -> Option<&JournalEntry> {
        self.ends.get(agent)
    }

    /// Journals one entry before its result is used. A store error is
    /// retried (the write is idempotent); a conflicting entry means two
    /// writers disagree about this step.
    pub(crate) fn journal(&self, mut e: JournalEntry) -> Result<(), RuntimeError> {
        e.run = self.run_id.clone();
        if e.at.is_empty() {
            e.at = self.now();
        }
        let mut tries = 0;
        loop {
            tries += 1;
            match self.scoped().append_journal(std::slice::from_ref(&e)) {
                Ok(_) => return Ok(()),
                Err(ServiceError::Conflict(m)) => {
                    return Err(RuntimeError::Diverged {
                        run: self.run_id.clone(),
                        step: format!("{}#{}", e.agent, e.step),
                        why: m,
                    })
                }
                Err(ServiceError::Store(err)) if tries < 4 => {
                    self.note(format!("journal write failed ({err}); retrying"));
                    std::thread::sleep(Duration::from_millis(100 * tries));
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Whether the run was asked to stop (read from its record at most
    /// every 100 ms; once seen, for good).
    pub(crate) fn cancelled(&self) -> bool {
        let Ok(mut c) = self.cancel.lock() else { return false };
        if c.1 {
            return true;
        }
        if c.0.is_some_and(|t| t.elapsed() < CANCEL_POLL) {
            return false;
        }
        c.0 = Some(Instant::now());
        if let Ok(r) = self.scoped().agent_run(&self.run_id) {
            c.1 = r.cancel_requested_at.is_some();
        }
        c.1
    }

    /// Test builds only: stops here (until killed) when
    /// `NOCTURNE_RUNTIME_CRASH_AT` names this point (`PATH#STEP:POINT`).
    pub(crate) fn crash_point(&self, agent: &str, step: u32, point: &str) {
        if let Some(k) = &self.crash_at {
            if *k == format!("{agent}#{step}:{point}") {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "nocturne: crash point {k} reached");
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }
    }

    /// The model of an agent: the run's, or the spec it names.
    pub(crate) fn model(&self, spec: Option<&str>) -> Result<(Arc<Model>, ModelConfig), String> {
        let config = match spec {
            None => self.setup.model.clone(),
            Some(s) => {
                let mut c = ModelConfig::from_spec(s).map_err(|e| e.to_string())?;
                c.retries = self.setup.model.retries;
                c.timeout_secs = self.setup.model.timeout_secs;
                c
            }
        };
        let key = config.spec();
        let mut cache = self.models.lock().map_err(|_| "model cache poisoned".to_string())?;
        if let Some(m) = cache.get(&key) {
            return Ok((m.clone(), config));
        }
        let mut native = config.clone();
        // The runtime chooses native calls or JSON actions per agent.
        native.tools = ToolsMode::Native;
        let api_key = ApiKey::from_env(&native.api_key_env).map_err(|e| e.to_string())?;
        let m = Arc::new(Model::new(native, api_key).map_err(|e| e.to_string())?);
        cache.insert(key, m.clone());
        Ok((m, config))
    }
}

/// `host:pid:nonce`: who runs a run now.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}:{}", std::process::id(), crate::random_hex(4))
}

/// Whether a holder recorded on this machine is a process that no longer runs.
fn holder_is_gone(h: &str) -> bool {
    let mine = holder();
    let (Some((host, rest)), Some((my_host, _))) = (h.split_once(':'), mine.split_once(':')) else { return false };
    let pid = rest.split(':').next().unwrap_or("");
    host == my_host && !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Records a new run (state `running`, nothing journaled yet).
pub fn create_run(scoped: &Scoped<'_>, setup: &Setup, req: &RunRequest) -> Result<AgentRun, RuntimeError> {
    if setup.agents.get(&req.agent).is_none() {
        return Err(RuntimeError::UnknownAgent {
            name: req.agent.clone(),
            known: setup.agents.agents.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    if req.task.trim().is_empty() {
        return Err(RuntimeError::Config("the task is empty".into()));
    }
    let now = scoped.now();
    let stamp: String = now.chars().filter(char::is_ascii_digit).take(14).collect();
    let id = format!("run-{}-{}-{}", stamp.get(..8).unwrap_or(""), stamp.get(8..).unwrap_or(""), crate::random_hex(3));
    let mut setup = setup.clone();
    setup.context = req.context.clone();
    let run = AgentRun {
        id,
        agent: req.agent.clone(),
        task: req.task.clone(),
        team: req.team.clone(),
        user: req.user.clone(),
        state: "running".into(),
        created_at: now.clone(),
        updated_at: now,
        cancel_requested_at: None,
        result: None,
        runner: None,
        setup: serde_json::to_value(&setup).map_err(|e| RuntimeError::Config(e.to_string()))?,
    };
    scoped.put_agent_run(&run)?;
    scoped.agent_run(&run.id).map_err(Into::into)
}

/// Runs (or goes on with) a run: claims it, rebuilds every agent from its
/// journal (finished calls are not made again), runs what is left, and
/// records the root's typed result. A worker's one call.
pub fn resume_run(svc: &Service, access: &Access, run_id: &str, opts: RunOptions) -> Result<RunOutcome, RuntimeError> {
    let scoped = svc.scoped(access.clone());
    let run = scoped.agent_run(run_id)?;
    if run.state != "running" {
        return Err(RuntimeError::NotResumable(format!("run {run_id} has ended ({}); nothing to resume", run.state)));
    }
    let mut setup: Setup = serde_json::from_value(run.setup.clone()).map_err(|e| {
        RuntimeError::NotResumable(format!("run {run_id}: its setup cannot be read by this version ({e})"))
    })?;
    if setup.version != SETUP_VERSION {
        return Err(RuntimeError::NotResumable(format!(
            "run {run_id} was made with setup version {}; this build resumes version {SETUP_VERSION}",
            setup.version
        )));
    }
    if let Some(m) = opts.model.clone() {
        setup.model = m;
    }
    // Claim it; take over from a holder on this machine that died.
    let me = holder();
    let (claim_secs, renew_every) = match opts.claim {
        Some(d) => (d.as_secs().max(3), (d / 3).max(Duration::from_millis(500))),
        None => (CLAIM_SECS, RENEW_EVERY),
    };
    if !scoped.claim_run(run_id, &me, claim_secs)? {
        match run.runner.as_deref() {
            Some(h) if holder_is_gone(h) => {
                scoped.release_run(run_id, h)?;
                if !scoped.claim_run(run_id, &me, claim_secs)? {
                    return Err(RuntimeError::Claimed(run_id.to_string()));
                }
            }
            _ => return Err(RuntimeError::Claimed(run_id.to_string())),
        }
    }
    let result = run_claimed(svc, access, run, setup, opts, &me, (claim_secs, renew_every));
    let _ = scoped.release_run(run_id, &me);
    result
}

fn run_claimed(
    svc: &Service,
    access: &Access,
    mut run: AgentRun,
    setup: Setup,
    opts: RunOptions,
    me: &str,
    (claim_secs, renew_every): (u64, Duration),
) -> Result<RunOutcome, RuntimeError> {
    let scoped = svc.scoped(access.clone());
    run.runner = Some(me.to_string());
    run.updated_at = scoped.now();
    scoped.put_agent_run(&run)?;
    // Renew the claim while the run goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let renew = {
        let (svc, access, id, me, stop) = (svc.clone(), access.clone(), run.id.clone(), me.to_string(), stop.clone());
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= renew_every {
                    let _ = svc.scoped(access.clone()).claim_run(&id, &me, claim_secs);
                    last = Instant::now();
                }
            }
        })
    };
    let out = execute(svc, access, &run, setup, opts);
    stop.store(true, Ordering::Relaxed);
    let _ = renew.join();
    let (result, notes) = out?;
    let mut run = scoped.agent_run(&run.id)?;
    run.state = result.run_state().to_string();
    run.result = Some(serde_json::to_value(&result).map_err(|e| RuntimeError::Config(e.to_string()))?);
    run.runner = None;
    run.updated_at = scoped.now();
    scoped.put_agent_run(&run)?;
    Ok(RunOutcome { run, result, notes })
}

fn execute(
    svc: &Service,
    access: &Access,
    run: &AgentRun,
    setup: Setup,
    opts: RunOptions,
) -> Result<(TypedResult, Vec<String>), RuntimeError> {
    let scoped = svc.scoped(access.clone());
    let entries = scoped.run_journal(&run.id, 0)?;
    let mut replay = HashMap::new();
    let mut ends = HashMap::new();
    for e in entries {
        if e.kind == nocturne_service::runs::kind::END {
            ends.insert(e.agent.clone(), e.clone());
        }
        replay.insert((e.agent.clone(), e.step, e.phase.clone()), e);
    }
    let progress = opts.progress.clone();
    if let Some(p) = &progress {
        p(&Progress::RunStarted { run: run.id.clone(), resumed: !replay.is_empty() });
    }
    let mcp = McpHub::connect(&setup.mcp_servers).map_err(RuntimeError::Config)?;
    let tracer = Tracer::new(&run.id, setup.runtime.trace_file.as_deref(), setup.runtime.otlp_endpoint.as_deref())
        .map_err(RuntimeError::Config)?;
    let crash_at = if cfg!(debug_assertions) { std::env::var("NOCTURNE_RUNTIME_CRASH_AT").ok() } else { None };
    let rt = Runtime {
        svc: svc.clone(),
        access: access.clone(),
        run_id: run.id.clone(),
        user: run.user.clone(),
        team: run.team.clone(),
        mcp,
        models: Mutex::new(HashMap::new()),
        replay,
        ends,
        cancel: Mutex::new((None, false)),
        progress,
        tracer,
        crash_at,
        notes: Mutex::new(Vec::new()),
        setup,
    };
    for (server, why) in rt.mcp.failures() {
        rt.note(format!("MCP server {server} is not available: {why}"));
    }
    for n in rt.setup.agents.notes.clone() {
        rt.note(n);
    }
    let Some(def) = rt.setup.agents.get(&run.agent).cloned() else {
        return Err(RuntimeError::UnknownAgent { name: run.agent.clone(), known: String::new() });
    };
    let budget = Budget {
        turns: Some(def.max_turns.unwrap_or(rt.setup.runtime.max_turns)),
        tokens: def.max_tokens,
        seconds: def.max_seconds,
        cost_usd: def.max_cost,
    };
    let root = Spawn {
        def: &def,
        task: run.task.clone(),
        context: rt.setup.context.clone(),
        parent: None,
        base_path: "root".into(),
        allot: budget,
        depth: 0,
    };
    let result = agent::run_with_retries(&rt, &root);
    rt.tracer.flush();
    if let Ok(errs) = rt.tracer.errors.lock() {
        for e in errs.iter() {
            rt.note(e.clone());
        }
    }
    let notes = rt.notes.lock().map(|n| n.clone()).unwrap_or_default();
    Ok((result?, notes))
}

/// Re-exported for the journal's users: the phase names.
pub(crate) use phase::{FINISHED, STARTED};
