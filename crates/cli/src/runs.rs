//! `nocturne run` and `nocturne runs ...`: agent runs (crates/runtime).

use crate::args::{RunArgs, RunsCmd};
use anyhow::{bail, Context, Result};
use nocturne_runtime::{AgentSet, FileConfig, Progress, RunOptions, RunOutcome, RunRequest, Setup, SETUP_VERSION};
use nocturne_service::runs::{RunNode, TypedResult};
use nocturne_service::{Access, RunFilter, Service};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The exit code of a run's result: 0 completed, 3 partial, 1 failed.
fn exit_code(r: &TypedResult) -> u8 {
    match r {
        TypedResult::Completed { .. } => 0,
        TypedResult::Partial { .. } => 3,
        TypedResult::Failed { .. } => 1,
    }
}

fn progress_printer() -> nocturne_runtime::ProgressFn {
    Arc::new(|p: &Progress| {
        let indent = |path: &str| "  ".repeat(path.matches('/').count());
        let line = match p {
            Progress::RunStarted { run, resumed } => {
                format!("{} {run}", if *resumed { "resuming" } else { "run" })
            }
            Progress::AgentStarted { path, agent, task } => {
                let task: String = task.chars().take(80).collect();
                format!("{}▸ {agent} [{path}] {task}", indent(path))
            }
            Progress::ModelCall { path, step } => format!("{}  · model call (step {step})", indent(path)),
            Progress::ToolStarted { path, step, tool } => format!("{}  · {tool} (step {step})", indent(path)),
            Progress::ToolFinished { path, tool, is_error: true, .. } => format!("{}  ✗ {tool} failed", indent(path)),
            Progress::ToolFinished { .. } => return,
            Progress::AgentEnded { path, agent, result } => {
                format!("{}◂ {agent} [{path}] {}", indent(path), result_line(result))
            }
            Progress::Note(n) => format!("note: {n}"),
        };
        let _ = writeln!(std::io::stderr(), "{line}");
    })
}

fn result_line(r: &TypedResult) -> String {
    let u = r.usage();
    let usage = format!("{} model calls, {} tokens", u.turns, u.tokens());
    match r {
        TypedResult::Completed { .. } => format!("completed ({usage})"),
        TypedResult::Partial { reason, .. } => format!("partial: {reason} ({usage})"),
        TypedResult::Failed { kind, message, attempts, .. } => {
            format!("failed {} after {attempts} attempt(s): {message} ({usage})", kind.as_str())
        }
    }
}

fn output_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn render_outcome(o: &RunOutcome, json: bool) -> Result<u8> {
    if json {
        let v = serde_json::json!({"run": o.run.id, "state": o.run.state, "result": o.result, "notes": o.notes});
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("run {}: {}", o.run.id, result_line(&o.result));
        match &o.result {
            TypedResult::Completed { output, .. } | TypedResult::Partial { output, .. } => {
                let t = output_text(output);
                if !t.is_empty() {
                    outln!("{t}");
                }
            }
            TypedResult::Failed { .. } => {}
        }
    }
    Ok(exit_code(&o.result))
}

fn agent_dirs(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        for d in given {
            if !d.is_dir() {
                bail!("--agents {}: not a folder", d.display());
            }
        }
        return Ok(given.to_vec());
    }
    let dirs: Vec<PathBuf> =
        [".nocturne/agents", ".claude/agents"].iter().map(PathBuf::from).filter(|d| d.is_dir()).collect();
    if dirs.is_empty() {
        bail!("no agent definitions: create .nocturne/agents/NAME.md (or .claude/agents/), or pass --agents DIR");
    }
    Ok(dirs)
}

fn file_config(path: &Path) -> Result<FileConfig> {
    if !path.exists() {
        return Ok(FileConfig::default());
    }
    let text = crate::commands::read_input_text(path)?;
    FileConfig::parse(&text, &path.display().to_string()).map_err(|e| e.into_service().into())
}

/// The setup runs of this process are made with: the agents of `dirs`
/// (or the default folders), the model of `--model` / `NOCTURNE_MODEL`
/// over `[model]` (read as model dreams read it, [`crate::model::resolve`]),
/// the tool servers and limits of `config`.
pub fn setup(dirs: &[PathBuf], config: &Path, model: Option<&str>) -> Result<Setup> {
    let fc = file_config(config)?;
    let agents = AgentSet::load(&agent_dirs(dirs)?).map_err(|e| e.into_service())?;
    let Some(model) = crate::model::resolve(model, config)? else {
        bail!("no model: add a [model] table to {} or pass --model PROVIDER:BASE_URL#MODEL", config.display())
    };
    Ok(Setup { version: SETUP_VERSION, agents, model, mcp_servers: fc.mcp_server, runtime: fc.runtime, context: None })
}

/// The setup of `serve`: `None` (said why on stderr) when there are no
/// agent definitions or no model; the server then refuses new runs.
pub fn serve_setup(dirs: &[PathBuf], config: &Path, model: Option<&str>) -> Result<Option<Setup>> {
    if dirs.is_empty() && ![".nocturne/agents", ".claude/agents"].iter().any(|d| Path::new(d).is_dir()) {
        return Ok(None);
    }
    match setup(dirs, config, model) {
        Ok(s) => Ok(Some(s)),
        Err(e) if dirs.is_empty() => {
            let _ = writeln!(std::io::stderr(), "nocturne: runs cannot be started over HTTP: {e:#}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub fn run(svc: &Service, access: Access, a: RunArgs, json: bool, config: &Path, model: Option<&str>) -> Result<u8> {
    let context = match &a.context {
        None => None,
        Some(t) => {
            let v: serde_json::Value = serde_json::from_str(t).context("--context is not JSON")?;
            if !v.is_object() {
                bail!("--context must be a JSON object");
            }
            Some(v)
        }
    };
    let setup = setup(&a.agents, config, model)?;
    let req = RunRequest { agent: a.agent, task: a.task, context, user: a.user, team: a.team };
    let scoped = svc.scoped(access.clone());
    let created = nocturne_runtime::create_run(&scoped, &setup, &req).map_err(|e| e.into_service())?;
    if a.queue {
        let job = scoped.submit_run(&created.id, false)?;
        return queued(&created.id, &job, json);
    }
    if !json {
        let _ = writeln!(std::io::stderr(), "run {} (resume it with: nocturne runs resume {})", created.id, created.id);
    }
    let progress = (!a.quiet && !json).then(progress_printer);
    let o = nocturne_runtime::resume_run(svc, &access, &created.id, RunOptions { progress, ..RunOptions::default() })
        .map_err(|e| e.into_service())?;
    render_outcome(&o, json)
}

/// What `--queue` prints: the run and its job.
fn queued(run: &str, job: &nocturne_service::Job, json: bool) -> Result<u8> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({"run": run, "job": job}))?);
    } else {
        outln!(
            "queued run {run} for a worker as job {} (nocturne jobs show {}; nocturne runs show {run})",
            job.job.id,
            job.job.id
        );
    }
    Ok(0)
}

fn tree_lines(n: &RunNode, depth: usize, out: &mut String) {
    let state = match &n.result {
        Some(r) => result_line(r),
        None => match &n.in_flight {
            Some(t) => format!("{} ({t} in flight)", n.state),
            None => n.state.clone(),
        },
    };
    let task: String = n.task.chars().take(70).collect();
    out.push_str(&format!("{}{} [{}] {state} — {task}\n", "  ".repeat(depth), n.agent, n.path));
    for c in &n.children {
        tree_lines(c, depth + 1, out);
    }
}

/// `model`: `--model` / `NOCTURNE_MODEL`, over `[model]` of `config`, for
/// what is left of a resumed run (none given: the run's own model).
pub fn runs(svc: &Service, access: Access, c: RunsCmd, json: bool, config: &Path, model: Option<&str>) -> Result<u8> {
    let scoped = svc.scoped(access.clone());
    match c {
        RunsCmd::List { state, limit } => {
            let list = scoped.agent_runs(RunFilter { team: None, state, limit: Some(limit) })?;
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|r| {
                        serde_json::json!({"id": r.id, "agent": r.agent, "task": r.task, "state": r.state,
                            "team": r.team, "created_at": r.created_at, "updated_at": r.updated_at})
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else if list.is_empty() {
                outln!("no runs");
            } else {
                for r in &list {
                    let task: String = r.task.chars().take(60).collect();
                    outln!("{}  {:<9} {:<14} {}  {task}", r.id, r.state, r.agent, r.created_at);
                }
            }
            Ok(0)
        }
        RunsCmd::Show { run } | RunsCmd::Tree { run } if json => {
            let v = scoped.run_view(&run)?;
            outln!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        RunsCmd::Show { run } => {
            let v = scoped.run_view(&run)?;
            outln!("run {}  {}  agent {}  created {}", v.run.id, v.run.state, v.run.agent, v.run.created_at);
            outln!("task: {}", v.run.task);
            if let Some(t) = &v.run.team {
                outln!("team: {t}");
            }
            if v.run.cancel_requested_at.is_some() {
                outln!("cancel requested at {}", v.run.cancel_requested_at.as_deref().unwrap_or(""));
            }
            outln!("journal: {} entries", v.journal_entries);
            if let Some(tree) = &v.tree {
                let mut s = String::new();
                tree_lines(tree, 0, &mut s);
                out!("{s}");
            }
            if let Some(r) = v.run.result.as_ref().and_then(|r| serde_json::from_value::<TypedResult>(r.clone()).ok()) {
                outln!("result: {}", result_line(&r));
                if let TypedResult::Completed { output, .. } | TypedResult::Partial { output, .. } = &r {
                    outln!("{}", output_text(output));
                }
            }
            Ok(0)
        }
        RunsCmd::Tree { run } => {
            let v = scoped.run_view(&run)?;
            match &v.tree {
                Some(tree) => {
                    let mut s = String::new();
                    tree_lines(tree, 0, &mut s);
                    out!("{s}");
                }
                None => outln!("run {run} has no agent yet"),
            }
            Ok(0)
        }
        RunsCmd::Resume { run, queue: true, .. } => {
            let job = scoped.submit_run(&run, true)?;
            queued(&run, &job, json)
        }
        RunsCmd::Resume { run, quiet, .. } => {
            let model = match model.map(str::trim).filter(|s| !s.is_empty()) {
                Some(spec) => crate::model::resolve(Some(spec), config)?,
                None => None,
            };
            let progress = (!quiet && !json).then(progress_printer);
            let o = nocturne_runtime::resume_run(
                svc,
                &access,
                &run,
                RunOptions { progress, model, ..RunOptions::default() },
            )
            .map_err(|e| e.into_service())?;
            render_outcome(&o, json)
        }
        RunsCmd::Cancel { run } => {
            let r = scoped.cancel_run(&run)?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"run": r.id, "state": r.state, "cancel_requested_at": r.cancel_requested_at})
                );
            } else {
                outln!("asked run {} to stop; its agents end `cancelled` at their next step", r.id);
            }
            Ok(0)
        }
        RunsCmd::Journal { run } => {
            let entries = scoped.run_journal(&run, 0)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    outln!("{:>5}  {:<12} #{:<3} {:<8} {:<5} {}", e.seq, e.agent, e.step, e.phase, e.kind, e.at);
                }
            }
            Ok(0)
        }
    }
}
