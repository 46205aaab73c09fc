//! One function per command: parse arguments into service calls, render.

use crate::args::*;
use crate::render;
use anyhow::{Context, Result};
use nocturne_service::{
    Access, DreamSpec, IngestOptions, MemoryEdit, MemoryFilter, NewMemory, OpSelection, Scoped, Service, SessionFilter,
};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;

/// Prints `value` as JSON (machine mode) or `human` text.
fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(value)?);
    } else {
        let s = human();
        let s = crate::render::terminal(&s);
        out!("{s}");
        if !s.ends_with('\n') {
            outln!();
        }
    }
    Ok(())
}

fn author(cli_author: &Option<String>) -> String {
    match cli_author {
        Some(a) if a.contains(':') => a.clone(),
        Some(a) => format!("user:{a}"),
        None => format!("user:{}", std::env::var("USER").unwrap_or_else(|_| "cli".into())),
    }
}

fn filter(f: &SessionFilterArgs) -> Result<SessionFilter> {
    Ok(SessionFilter {
        user: f.user.clone(),
        agent: f.agent.clone(),
        team: f.team.clone(),
        since: f.since.as_deref().map(nocturne_service::parse_date).transpose()?,
        until: f.until.as_deref().map(nocturne_service::parse_date).transpose()?,
        limit: None,
        parent: None,
    })
}

pub fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let who = author(&cli.author);
    if let Command::Quickstart { keep } = &cli.command {
        return crate::commands::quickstart(keep.as_deref(), json);
    }
    if let Command::Serve(a) = &cli.command {
        check_serve(a)?;
    }
    let key = std::env::var("NOCTURNE_EMBEDDINGS_KEY").ok();
    let embedder = nocturne_service::embedder_from_spec(&cli.embedder, key.as_deref())?;
    let store = nocturne_stores::open(&cli.store)
        .map_err(nocturne_service::ServiceError::from)
        .with_context(|| format!("cannot open the store at {}", nocturne_stores::display(&cli.store)))?;
    let svc = Service::with_store(store, nocturne_service::system_clock()).with_embedder(embedder);
    // The model of model dreams: attached when this command may dream with it.
    let wants_model = match &cli.command {
        Command::Dream(a) => !a.no_model && a.model_dry_run.is_none(),
        Command::Dreams(DreamsCmd::RunDue) => true,
        // A server dreams with the model over HTTP (`POST /v1/dreams`, `/v1/jobs`) and in its schedules.
        Command::Serve(_) => true,
        // A worker runs queued model dreams too: it takes the model when one is configured.
        Command::Worker(_) => true,
        _ => false,
    };
    let (svc, has_model) = with_model(svc, cli.model.as_deref(), &cli.config, wants_model)?;
    // The command line is the local user: org-wide admin, recorded as `who`.
    let local = svc.scoped(Access::local_as(who));
    match cli.command {
        Command::Ingest(a) => ingest(&local, a, json),
        Command::Sessions(c) => sessions(&local, c, json),
        Command::Memory(c) => memory(&local, c, json),
        Command::Export(a) => export(&local, a),
        Command::Import { file, allow_undigested } => {
            let bytes = read_input(&file)?;
            let opts = nocturne_service::ImportOptions { allow_undigested };
            let s = match local.import_json_with(&bytes, &file.display().to_string(), opts) {
                Err(e @ nocturne_service::ServiceError::Undigested { .. }) => {
                    return Err(anyhow::Error::new(e)
                        .context("not imported; --allow-undigested imports it anyway (only for a file you trust)"))
                }
                r => r?,
            };
            for w in &s.warnings {
                eprintln!("warning: {}", crate::render::terminal(w));
            }
            emit(json, &s, || {
                let mut t = format!(
                    "imported {} ({}): {} memories added, {} already present, {} revisions",
                    file.display(),
                    s.mode,
                    s.memories_added,
                    s.memories_skipped,
                    s.revisions
                );
                if s.sessions_added + s.sessions_extended + s.sessions_skipped + s.sessions_conflicting.len() > 0 {
                    t.push_str(&format!(
                        "; sessions: {} added, {} extended, {} already stored",
                        s.sessions_added, s.sessions_extended, s.sessions_skipped
                    ));
                }
                for c in &s.sessions_conflicting {
                    t.push_str(&format!("\nsession {c} is stored with other events; left as stored"));
                }
                if let Some(d) = &s.digest {
                    t.push_str(&format!(
                        "\ndigest {d} (every digest matched; compare it with the one the export printed)"
                    ));
                }
                t
            })?;
            Ok(0)
        }
        Command::Dream(a) => dream(&local, a, json, has_model, cli.model.as_deref(), &cli.config),
        Command::Dreams(c) => dreams(&local, c, json, &cli.config),
        Command::Doctor(DoctorCmd::Model) => doctor_model(json, cli.model.as_deref(), &cli.config),
        Command::Outcomes(c) => outcomes(&local, c, json),
        Command::Context(a) => {
            let project = if a.all_projects { None } else { Some(project_arg(a.project.as_deref())?) };
            let b = local.context(&nocturne_service::ContextRequest {
                task: a.task,
                budget: a.budget,
                agent: a.agent,
                user: a.user,
                team: a.team,
                session: a.session,
                project,
            })?;
            match (json, a.format) {
                (true, _) | (false, BundleFormat::Json) => outln!("{}", serde_json::to_string_pretty(&b)?),
                (false, BundleFormat::Markdown) => out!("{}", b.markdown),
            }
            Ok(0)
        }
        Command::Tokens(TokensCmd::Create { scope, team }) => {
            let level = nocturne_service::AccessLevel::parse(&scope)?;
            let t = local.create_token(level, team.as_deref())?;
            emit(json, &t, || {
                let team = t.team.as_deref().map(|t| format!(" bound to team {t}")).unwrap_or_default();
                format!("created {} ({}{team}). It is shown only now:\n{}", t.id, t.scope, t.token)
            })?;
            Ok(0)
        }
        Command::Tokens(TokensCmd::List) => {
            let list = local.tokens()?;
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|t| serde_json::json!({"id": t.id, "scope": t.scope, "team": t.team, "created_at": t.created_at, "revoked_at": t.revoked_at}))
                .collect();
            emit(json, &rows, || {
                list.iter()
                    .map(|t| {
                        format!(
                            "{}  {:<6} {:<12} created {}{}",
                            t.id,
                            t.scope,
                            t.team.as_deref().unwrap_or("(org)"),
                            t.created_at,
                            t.revoked_at.as_deref().map(|r| format!("  revoked {r}")).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            Ok(0)
        }
        Command::Tokens(TokensCmd::Revoke { id }) => {
            local.revoke_token(&id)?;
            emit(json, &serde_json::json!({"revoked": id}), || format!("revoked {id}"))?;
            Ok(0)
        }
        Command::Serve(a) => {
            let config = load_config(&cli.config)?;
            drop(local);
            // Queued runs: recorded with this server's agents and model, run by any worker.
            let setup = crate::runs::serve_setup(&a.agents, &cli.config, cli.model.as_deref())?;
            let svc = svc.with_run_host(std::sync::Arc::new(nocturne_runtime::RuntimeHost::new(setup)));
            serve(svc, a, config)
        }
        Command::Worker(a) => {
            let config = load_config(&cli.config)?;
            // Run jobs resume each run with the setup stored with it.
            let svc = svc.with_run_host(std::sync::Arc::new(nocturne_runtime::RuntimeHost::new(None)));
            worker(svc, a, config, &cli.store)
        }
        Command::Jobs(c) => jobs(&local, c, json),
        Command::Mcp => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(nocturne_mcp::serve_stdio(svc)).map_err(|e| anyhow::anyhow!("MCP server: {e}"))?;
            Ok(0)
        }
        Command::Reindex => {
            let r = local.reindex()?;
            emit(json, &r, || format!("reindexed {} memories with {} ({} dimensions)", r.memories, r.embedder, r.dim))?;
            Ok(0)
        }
        Command::Run(a) => {
            crate::runs::run(&svc, Access::local_as(author(&cli.author)), a, json, &cli.config, cli.model.as_deref())
        }
        Command::Runs(c) => {
            crate::runs::runs(&svc, Access::local_as(author(&cli.author)), c, json, &cli.config, cli.model.as_deref())
        }
        Command::Quickstart { .. } => Ok(0),
    }
}

fn ingest(svc: &Scoped<'_>, a: IngestArgs, json: bool) -> Result<u8> {
    let format = a.format;
    let opts = IngestOptions { format: Some(format), user: a.user, agent: a.agent, team: a.team, ..Default::default() };
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} ingesting [{bar:30}] {pos}/{len} {per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let rep = svc.ingest(&a.paths, &opts, &progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    emit(json, &rep, || render::ingest(&rep))?;
    if !json {
        for r in &rep.refused {
            eprintln!("error: {}", render::name(&r.to_string()));
        }
    }
    // Anything refused fails the run, with the exit code of the error table:
    // 2 for a file that is not valid input, 1 for a session in conflict.
    Ok(rep.error_code().map_or(0, |c| c.table().1 as u8))
}

fn sessions(svc: &Scoped<'_>, c: SessionsCmd, json: bool) -> Result<u8> {
    match c {
        SessionsCmd::List { filter: f, limit, parent, tree } => {
            let mut f = filter(&f)?;
            f.limit = limit;
            f.parent = parent;
            if tree {
                let t = svc.session_tree(f)?;
                emit(json, &t, || render::session_tree(&t))?;
            } else {
                let list = svc.sessions(f)?;
                emit(json, &list, || render::sessions(&list))?;
            }
        }
        SessionsCmd::Show { id, raw } => {
            let v = svc.session_view(&id)?;
            emit(json, &v, || render::session(&v, raw))?;
        }
        SessionsCmd::Search { query, k, session } => {
            let hits = svc.sessions_search(&query, k, session.as_deref())?;
            emit(json, &hits, || render::event_hits(&hits))?;
        }
        SessionsCmd::Verify => {
            let rep = svc.verify()?;
            emit(json, &rep, || render::verify(&rep))?;
            if !rep.failures.is_empty() {
                return Ok(1);
            }
        }
    }
    Ok(0)
}

fn memory(svc: &Scoped<'_>, c: MemoryCmd, json: bool) -> Result<u8> {
    match c {
        MemoryCmd::Add { kind, text, mut tags, scope, project, priority, expect_rev } => {
            if let Some(p) = project {
                let here = nocturne_core::Here::parse(&project_arg(Some(&p))?).map_err(|e| {
                    nocturne_service::ServiceError::InvalidField { field: "project", message: e.to_string() }
                })?;
                tags.push(here.project().tag());
            }
            let (m, rev) = svc.memory_add(&NewMemory { kind, text, tags, scope, priority }, expect_rev)?;
            emit(json, &serde_json::json!({"memory": m, "revision": rev.rev}), || {
                format!("added {} ({}) at revision {}", m.id, m.kind, rev.rev)
            })?;
        }
        MemoryCmd::Edit { id, text, kind, tags, scope, priority, expect_rev } => {
            let (m, rev) = svc.memory_edit(&id, &MemoryEdit { text, kind, tags, scope, priority }, expect_rev)?;
            emit(json, &serde_json::json!({"memory": m, "revision": rev.rev}), || {
                format!("edited {} at revision {}", m.id, rev.rev)
            })?;
        }
        MemoryCmd::Retire { id, reason, expect_rev } => {
            let (m, rev) = svc.memory_retire(&id, reason.as_deref(), expect_rev)?;
            emit(json, &serde_json::json!({"memory": m, "revision": rev.rev}), || {
                format!("retired {} at revision {} (kept with its history)", m.id, rev.rev)
            })?;
        }
        MemoryCmd::Show { id } => {
            let m = svc.memory(&id)?;
            emit(json, &m, || render::memory(&m))?;
        }
        MemoryCmd::List { all, kind, scope } => {
            let list = svc.memories(&MemoryFilter { include_retired: all, kind, scope })?;
            emit(json, &list, || render::memories(&list))?;
        }
        MemoryCmd::History { id } => {
            let h = svc.history(&id)?;
            let v: Vec<_> = h
                .iter()
                .map(|e| {
                    serde_json::json!({"rev": e.rev, "author": e.author, "reason": e.reason, "created_at": e.created_at,
                        "before": e.change.before, "after": e.change.after})
                })
                .collect();
            emit(json, &v, || render::history(&h))?;
        }
        MemoryCmd::Search { query, k, kind, scope } => {
            let hits = svc.memory_search(&query, k, kind.as_deref(), scope.as_deref())?;
            emit(json, &hits, || render::memory_hits(&hits))?;
        }
        MemoryCmd::Log => {
            let revs = svc.revisions()?;
            emit(json, &revs, || render::revisions(&revs))?;
        }
        MemoryCmd::Rollback { to, expect_rev } => {
            let rev = svc.rollback(to, expect_rev)?;
            emit(json, &rev, || {
                format!("rolled back to revision {to}: {} memories changed, as revision {}", rev.changes.len(), rev.rev)
            })?;
        }
    }
    Ok(0)
}

fn outcomes(svc: &Scoped<'_>, c: OutcomesCmd, json: bool) -> Result<u8> {
    use nocturne_service::{LogOutcome, StatsBy};
    match c {
        OutcomesCmd::Log { session, task, set, source, by, comment } => {
            let logged = svc.log_outcome(&LogOutcome { session, task, set, source, by, comment })?;
            emit(json, &logged, || render::outcomes(&logged))?;
        }
        OutcomesCmd::Import { file } => {
            let bytes = read_input(&file)?;
            let added = svc.import_outcomes(&file.display().to_string(), &bytes)?;
            emit(json, &serde_json::json!({"outcomes_added": added.len()}), || {
                format!("imported {} outcomes from {}", added.len(), file.display())
            })?;
        }
        OutcomesCmd::List { session, otel } => {
            let list = svc.outcomes(session.as_deref())?;
            if otel {
                let tax = svc.taxonomy()?;
                let events: Vec<serde_json::Value> =
                    list.iter().map(|o| nocturne_core::outcome::to_otel_event(o, &tax)).collect();
                outln!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                emit(json, &list, || render::outcomes(&list))?;
            }
        }
        OutcomesCmd::Stats { by } => {
            let by = match by {
                StatsByArg::All => StatsBy::All,
                StatsByArg::Agent => StatsBy::Agent,
                StatsByArg::User => StatsBy::User,
                StatsByArg::Team => StatsBy::Team,
                StatsByArg::Week => StatsBy::Week,
                StatsByArg::Workflow => StatsBy::Workflow,
            };
            let st = svc.outcome_stats(by)?;
            emit(json, &st, || render::outcome_stats(&st))?;
        }
        OutcomesCmd::Taxonomy(TaxonomyCmd::Show) => {
            let t = svc.taxonomy()?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                out!("{}", t.to_toml());
            }
        }
        OutcomesCmd::Taxonomy(TaxonomyCmd::Set { file, force }) => {
            let text = read_input_text(&file)?;
            let ch = svc.set_taxonomy(&text, &file.display().to_string(), force).map_err(|e| match e {
                nocturne_service::ServiceError::Conflict(m) if !force => {
                    nocturne_service::ServiceError::Conflict(format!("{m}\n(add --force to set it anyway)"))
                }
                e => e,
            })?;
            emit(json, &ch, || {
                let mut s = format!("taxonomy version {} is in force", ch.version);
                for o in &ch.orphaned {
                    s.push_str(&format!("\nwarning: {o}"));
                }
                s
            })?;
        }
    }
    Ok(0)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The project a command names with `--project`: a project id as given,
/// a directory as its absolute path (symlinks resolved, as the harnesses
/// record their working directory); none given, the current directory.
fn project_arg(given: Option<&str>) -> Result<String> {
    let looks_like_id = |s: &str| s.contains('#') && !s.contains(['/', '\\']);
    match given {
        Some(id) if looks_like_id(id) => Ok(id.to_string()),
        Some(dir) => {
            let p = Path::new(dir);
            let abs = match std::fs::canonicalize(p) {
                Ok(c) => c,
                Err(_) if p.is_absolute() => p.to_path_buf(),
                Err(_) => std::env::current_dir().context("cannot read the current directory")?.join(p),
            };
            Ok(abs.to_string_lossy().into_owned())
        }
        None => {
            Ok(std::env::current_dir().context("cannot read the current directory")?.to_string_lossy().into_owned())
        }
    }
}

fn export(svc: &Scoped<'_>, a: ExportArgs) -> Result<u8> {
    if a.project.is_some() && !matches!(a.format, ExportFormat::Markdown) {
        return Err(nocturne_service::ServiceError::InvalidField {
            field: "project",
            message:
            "--project selects the memories of a markdown export (--format markdown); the JSON export is the whole store"
                .into(),
        }
        .into());
    }
    let (text, digest) = match a.format {
        ExportFormat::Json => {
            let doc = if a.sessions { svc.export_with_sessions()? } else { svc.export_json()? };
            (serde_json::to_string_pretty(&doc)? + "\n", doc.digest)
        }
        ExportFormat::Markdown => {
            let project = a.project.as_deref().map(|p| project_arg(Some(p))).transpose()?;
            (svc.export_markdown(project.as_deref())?, None)
        }
    };
    match a.out {
        Some(p) => {
            write_file(&p, &text)?;
            match digest {
                Some(d) => eprintln!("wrote {} (digest {d})", p.display()),
                None => eprintln!("wrote {}", p.display()),
            }
        }
        None => out!("{text}"),
    }
    Ok(0)
}

/// The service with the configured model attached, when `wanted` (this
/// command may dream with the model) and a model is configured; and
/// whether one was attached.
fn with_model(svc: Service, spec: Option<&str>, config: &Path, wanted: bool) -> Result<(Service, bool)> {
    if !wanted {
        return Ok((svc, false));
    }
    #[cfg(feature = "model")]
    {
        match crate::model::resolve(spec, config)? {
            Some(c) => Ok((crate::model::attach(svc, &c)?, true)),
            None => Ok((svc, false)),
        }
    }
    #[cfg(not(feature = "model"))]
    {
        // A dream given a model refuses it (see `dream`); a server or
        // run-due with `NOCTURNE_MODEL` set for agent runs starts as before.
        let _ = (spec, config);
        Ok((svc, false))
    }
}

fn dream(
    svc: &Scoped<'_>,
    a: DreamArgs,
    json: bool,
    has_model: bool,
    model: Option<&str>,
    config: &Path,
) -> Result<u8> {
    let flags = DreamSpec {
        sessions: a.sessions,
        user: a.filter.user,
        agent: a.filter.agent,
        team: a.filter.team,
        since: a.filter.since,
        until: a.filter.until,
        focus: a.focus,
        ignore: a.ignore,
        min_support: a.min_support,
        notes: a.notes,
        ..DreamSpec::default()
    };
    let spec = match &a.instructions {
        Some(p) => {
            let text = read_input_text(p)?;
            nocturne_service::with_instructions(&flags, &p.display().to_string(), &text)?
        }
        None => flags,
    };
    if let Some(file) = &a.model_dry_run {
        return dry_run(svc, &spec, json, model, config, file);
    }
    #[cfg(not(feature = "model"))]
    if !a.no_model {
        crate::model::refuse(model)?;
    }
    if a.queue {
        let j = svc.submit_dream(&spec, a.apply, has_model)?;
        let with = if has_model { ", with the model pass" } else { "" };
        emit(json, &j, || format!("queued {} for a worker{with} (nocturne jobs show {})", j.job.id, j.job.id))?;
        return Ok(0);
    }
    let (p, rev) = if has_model { model_dream(svc, &spec, a.apply)? } else { svc.dream(&spec, a.apply)? };
    let md = nocturne_dream::render_markdown(&p);
    if let Some(path) = &a.report {
        write_file(path, &md)?;
    }
    emit(json, &p, || {
        let mut s = md.clone();
        match &rev {
            Some(r) => s.push_str(&format!(
                "\nApplied as revision {}. Undo with: nocturne memory rollback --to {}\n",
                r.rev,
                r.rev - 1
            )),
            None if !p.ops.is_empty() => s.push_str(&format!(
                "\nMemory is unchanged. Review, then: nocturne dreams apply {} [--only N,..] [--skip N,..]\n",
                p.id
            )),
            None => {}
        }
        s
    })?;
    Ok(0)
}

/// Refuses `serve` arguments that would expose the store (a usage error,
/// before the store is opened).
fn check_serve(a: &crate::args::ServeArgs) -> Result<()> {
    let usage = |m: String| anyhow::Error::new(nocturne_service::ServiceError::Invalid(m));
    if a.insecure_local && !a.listen.ip().is_loopback() {
        return Err(usage(format!(
            "--insecure-local serves every request without a token, as the org admin, so it only listens on a \
             loopback address (127.0.0.1 or [::1]), not {}. To serve on the network, create a token with \
             `nocturne tokens create --scope write` and run `nocturne serve --listen {}` without --insecure-local",
            a.listen, a.listen
        )));
    }
    if a.insecure_local && !a.allowed_hosts.is_empty() {
        return Err(usage(
            "--allowed-host needs tokens: --insecure-local answers only to localhost, 127.0.0.1 and [::1]".into(),
        ));
    }
    if a.header_timeout == 0 || a.idle_timeout == 0 || a.max_connections == 0 {
        return Err(usage("--header-timeout, --idle-timeout and --max-connections must be at least 1".into()));
    }
    Ok(())
}

/// `eprintln!` that never panics: a server whose stderr was closed (a
/// supervisor gone, a test that read the first line) keeps serving.
macro_rules! log {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `nocturne serve`: the HTTP server with MCP mounted, and the scheduler.
fn serve(svc: Service, a: crate::args::ServeArgs, config: nocturne_service::Config) -> Result<u8> {
    let insecure = a.insecure_local;
    // Service calls run on the blocking pool and share one SQLite
    // connection; a pool sized to the cores keeps them from convoying on it.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(cores * 2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let limits = nocturne_server::Limits {
            header_timeout: std::time::Duration::from_secs(a.header_timeout),
            idle_timeout: std::time::Duration::from_secs(a.idle_timeout),
            max_connections: a.max_connections,
        };
        let server = nocturne_server::Server::bind(nocturne_server::ServeConfig {
            allowed_hosts: a.allowed_hosts.clone(),
            limits,
            ..nocturne_server::ServeConfig::new(a.listen, insecure, svc.clone())
        })
        .await?;
        let addr = server.local_addr()?;
        log!("nocturne: listening on http://{addr} (review page /, API /v1, MCP /mcp)");
        if svc.has_model() {
            log!("nocturne: dreams run the model pass with the configured model (send \"model\": false for none)");
        }
        // MCP checks the Host itself too: the same names.
        let hosts = server.hosts().names();
        if hosts.is_none() {
            log!("nocturne: any Host name is served (tokens required); name yours with --allowed-host");
        }
        let cancel = nocturne_mcp::CancellationToken::new();
        let auth = if insecure { nocturne_mcp::AuthMode::InsecureLocal } else { nocturne_mcp::AuthMode::BearerTokens };
        let mcp_config = nocturne_mcp::HttpConfig::default().with_cancellation_token(cancel.clone());
        let mcp_config = match hosts {
            Some(h) => mcp_config.with_allowed_hosts(h),
            None => mcp_config.disable_allowed_hosts(),
        };
        let mcp = nocturne_mcp::streamable_http_router_with(svc.clone(), auth, mcp_config);
        let config = std::sync::Arc::new(config);
        let local = (!a.no_worker).then(|| {
            nocturne_service::Worker::new(nocturne_service::JOB_LEASE).map(|w| {
                tokio::spawn(work_loop(
                    svc.clone(),
                    w,
                    Vec::new(),
                    std::time::Duration::from_secs(1),
                    cancel.clone(),
                    false,
                ))
            })
        });
        let local = local.transpose()?;
        let scheduler = tokio::spawn(scheduler(svc, config, cancel.clone()));
        let stop = cancel.clone();
        let shutdown = async move {
            tokio::select! {
                _ = nocturne_server::shutdown_signal() => {}
                _ = stop.cancelled() => {}
            }
            log!("nocturne: shutting down (finishing requests in flight)");
            stop.cancel();
        };
        server.run_with(mcp, shutdown).await?;
        cancel.cancel();
        // A job in progress finishes; its lease is then released.
        let _ = scheduler.await;
        if let Some(w) = local {
            let _ = w.await;
        }
        anyhow::Ok(0u8)
    })
}

/// Enqueues due scheduled dreams every minute until cancelled (once per
/// due run however many servers share the store; a worker runs them).
async fn scheduler(
    svc: Service,
    config: std::sync::Arc<nocturne_service::Config>,
    cancel: nocturne_mcp::CancellationToken,
) {
    if config.dream.schedule.is_empty() {
        return;
    }
    loop {
        let (svc2, cfg) = (svc.clone(), config.clone());
        match tokio::task::spawn_blocking(move || svc2.scoped(Access::local()).enqueue_due(&cfg)).await {
            Ok(Ok(jobs)) => {
                for j in jobs {
                    log!("nocturne: scheduled dream queued as {} ({})", j.job.id, j.job.key.unwrap_or_default());
                }
            }
            Ok(Err(e)) => log!("nocturne: scheduler: {e}"),
            Err(e) => log!("nocturne: scheduler stopped: {e}"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
        }
    }
}

/// A dream with the model pass of the model attached to the service.
#[cfg(feature = "model")]
fn model_dream(
    svc: &Scoped<'_>,
    spec: &DreamSpec,
    apply: bool,
) -> Result<(nocturne_core::Proposal, Option<nocturne_core::Revision>)> {
    Ok(svc.dream_with_model(spec, apply)?)
}

/// Without the feature no model is ever attached.
#[cfg(not(feature = "model"))]
fn model_dream(
    svc: &Scoped<'_>,
    spec: &DreamSpec,
    apply: bool,
) -> Result<(nocturne_core::Proposal, Option<nocturne_core::Revision>)> {
    Ok(svc.dream(spec, apply)?)
}

/// `--model-dry-run FILE`: the request bodies, one a line, and nothing sent.
#[cfg(feature = "model")]
fn dry_run(
    svc: &Scoped<'_>,
    spec: &DreamSpec,
    json: bool,
    model: Option<&str>,
    config: &Path,
    file: &Path,
) -> Result<u8> {
    let Some(c) = crate::model::resolve(model, config)? else {
        return Err(nocturne_service::ServiceError::Model {
            code: nocturne_service::ErrorCode::ModelConfig,
            message: "--model-dry-run needs a model: --model, NOCTURNE_MODEL or a [model] table".into(),
        }
        .into());
    };
    let dry = svc.dream_dry_run(spec, &c)?;
    let mut bytes = Vec::new();
    for r in &dry.requests {
        bytes.extend_from_slice(&r.body);
        bytes.push(b'\n');
    }
    std::fs::write(file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    let endpoint = dry.requests.first().map(|r| r.endpoint.clone()).unwrap_or_else(|| c.endpoint());
    let summary = serde_json::json!({
        "file": file.display().to_string(), "endpoint": endpoint, "requests": dry.requests.len(),
        "bytes": bytes.len(), "estimated_input_tokens": dry.input_tokens, "sessions": dry.sessions,
        "sessions_left_out": dry.sessions_left_out, "sent": false,
    });
    emit(json, &summary, || {
        format!(
            "wrote {} requests ({} bytes, about {} input tokens, {} sessions{}) for {endpoint} to {}; nothing was sent",
            dry.requests.len(),
            bytes.len(),
            dry.input_tokens,
            dry.sessions,
            if dry.sessions_left_out > 0 {
                format!(", {} left out by max_input_tokens", dry.sessions_left_out)
            } else {
                String::new()
            },
            file.display()
        )
    })?;
    Ok(0)
}

#[cfg(not(feature = "model"))]
fn dry_run(_: &Scoped<'_>, _: &DreamSpec, _: bool, model: Option<&str>, _: &Path, _: &Path) -> Result<u8> {
    crate::model::refuse(Some(model.unwrap_or("-")))?;
    Ok(2)
}

/// `nocturne doctor model`.
#[cfg(feature = "model")]
fn doctor_model(json: bool, model: Option<&str>, config: &Path) -> Result<u8> {
    let Some(c) = crate::model::resolve(model, config)? else {
        return Err(nocturne_service::ServiceError::Model {
            code: nocturne_service::ErrorCode::ModelConfig,
            message: "no model configured: give --model PROVIDER:BASE_URL#MODEL, set NOCTURNE_MODEL, or add a \
                      [model] table to the configuration file"
                .into(),
        }
        .into());
    };
    let report = nocturne_provider::check(&c).map_err(nocturne_service::ServiceError::from)?;
    emit(json, &report, || report.render())?;
    Ok(if report.ok() { 0 } else { 1 })
}

#[cfg(not(feature = "model"))]
fn doctor_model(_: bool, model: Option<&str>, _: &Path) -> Result<u8> {
    crate::model::refuse(Some(model.unwrap_or("-")))?;
    Ok(2)
}

/// What a finished job says, in one line.
fn job_line(j: &nocturne_service::Job) -> String {
    let what = match (&j.result, &j.error) {
        (Some(r), _) => match (r.get("proposal"), r.get("summary")) {
            (Some(p), _) => format!("proposal {}", p.as_str().unwrap_or_default()),
            (None, Some(s)) => s.as_str().unwrap_or_default().to_string(),
            _ => r.to_string(),
        },
        (None, Some(e)) => e.clone(),
        (None, None) => String::new(),
    };
    format!("job {} ({}) {} after {} attempt(s): {what}", j.job.id, j.job.kind, j.state.as_str(), j.attempts)
}

/// Claims and runs jobs until cancelled (or, `until_idle`, until none is left).
async fn work_loop(
    svc: Service,
    worker: nocturne_service::Worker,
    kinds: Vec<String>,
    poll: std::time::Duration,
    cancel: nocturne_mcp::CancellationToken,
    until_idle: bool,
) {
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let (svc2, w, k) = (svc.clone(), worker.clone(), kinds.clone());
        let r = tokio::task::spawn_blocking(move || {
            let local = svc2.scoped(Access::local());
            local.release_dead_workers()?;
            let ks: Vec<&str> = k.iter().map(String::as_str).collect();
            local.work_one(&w, &ks)
        })
        .await;
        match r {
            Ok(Ok(Some(done))) => {
                match &done.ended {
                    Some(j) => log!("nocturne: {}", job_line(j)),
                    None => {
                        log!("nocturne: job {} was taken over by another worker; its result is theirs", done.job.job.id)
                    }
                }
                continue;
            }
            Ok(Ok(None)) if until_idle => return,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => log!("nocturne: worker: {e}"),
            Err(e) => log!("nocturne: worker stopped: {e}"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// `nocturne worker`: runs queued jobs until SIGTERM / Ctrl-C (the job in
/// progress finishes first), and enqueues due schedules every minute.
fn worker(svc: Service, a: WorkerArgs, config: nocturne_service::Config, store: &str) -> Result<u8> {
    let usage = |m: String| anyhow::Error::new(nocturne_service::ServiceError::Invalid(m));
    if a.lease < 3 {
        return Err(usage("--lease must be at least 3 seconds (it is renewed every third of it)".into()));
    }
    if !(a.poll.is_finite() && a.poll > 0.0) {
        return Err(usage("--poll must be a positive number of seconds".into()));
    }
    for k in &a.kind {
        if ![nocturne_service::KIND_DREAM, nocturne_service::KIND_SCHEDULE, nocturne_service::KIND_RUN]
            .contains(&k.as_str())
        {
            return Err(usage(format!("--kind {k}: use dream, schedule or run")));
        }
    }
    let mut w = nocturne_service::Worker::new(std::time::Duration::from_secs(a.lease))?;
    w.hold = std::time::Duration::from_millis(a.hold_ms);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    log!(
        "nocturne: worker {} claiming jobs from {} (lease {} s)",
        nocturne_service::ids::holder_process(&w.id),
        nocturne_stores::display(store),
        a.lease
    );
    rt.block_on(async move {
        let cancel = nocturne_mcp::CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            nocturne_server::shutdown_signal().await;
            log!("nocturne: worker stopping (the job in progress finishes first)");
            stop.cancel();
        });
        let config = std::sync::Arc::new(config);
        let sched = (!a.until_idle).then(|| tokio::spawn(scheduler(svc.clone(), config, cancel.clone())));
        work_loop(svc, w, a.kind, std::time::Duration::from_secs_f64(a.poll), cancel.clone(), a.until_idle).await;
        cancel.cancel();
        if let Some(s) = sched {
            let _ = s.await;
        }
    });
    Ok(0)
}

fn jobs(svc: &Scoped<'_>, c: JobsCmd, json: bool) -> Result<u8> {
    match c {
        JobsCmd::List { state, kind, limit } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(nocturne_service::JobState::parse(s).ok_or_else(|| {
                    nocturne_service::ServiceError::Invalid(format!("--state {s}: use queued, running, done or failed"))
                })?),
            };
            let list = svc.jobs(&nocturne_service::JobFilter { state, kind, team: None, limit: Some(limit) })?;
            emit(json, &list, || render::jobs(&list))?;
        }
        JobsCmd::Show { id } => {
            let j = svc.job(&id)?;
            emit(json, &j, || render::jobs(std::slice::from_ref(&j)))?;
        }
    }
    Ok(0)
}

/// A file named on the command line as input: when it cannot be read, that
/// is invalid input (exit 2), said once.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| nocturne_service::ServiceError::unreadable(path, e).into())
}

/// [`read_input`] for text (not UTF-8 is invalid input too).
pub fn read_input_text(path: &Path) -> Result<String> {
    let bytes = read_input(path)?;
    String::from_utf8(bytes)
        .map_err(|_| nocturne_service::ServiceError::Invalid(format!("{}: not UTF-8 text", path.display())).into())
}

/// Reads `nocturne.toml` if it exists (it is optional unless named).
pub fn load_config(path: &Path) -> Result<nocturne_service::Config> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(nocturne_service::Config::parse(&text, &path.display().to_string())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(nocturne_service::Config::default()),
        Err(e) => Err(nocturne_service::ServiceError::unreadable(path, e).into()),
    }
}

fn dreams(svc: &Scoped<'_>, c: DreamsCmd, json: bool, config: &Path) -> Result<u8> {
    match c {
        DreamsCmd::List => {
            let cfg = load_config(config)?;
            let list = svc.dreams()?;
            let runs = svc.dream_runs()?;
            let planned = svc.planned(&cfg)?;
            emit(json, &serde_json::json!({"proposals": list, "runs": runs, "scheduled": planned}), || {
                render::dreams_overview(&list, &runs, &planned)
            })?;
        }
        DreamsCmd::RunDue => {
            let cfg = load_config(config)?;
            let runs = svc.run_due(&cfg)?;
            emit(
                json,
                &runs,
                || {
                    if runs.is_empty() {
                        "no scheduled dream is due".into()
                    } else {
                        render::runs(&runs)
                    }
                },
            )?;
            if runs.iter().any(|r| r.state == "failed") {
                return Ok(1);
            }
        }
        DreamsCmd::Show { id, report } => {
            let p = svc.dream_proposal(&id)?;
            let md = nocturne_dream::render_markdown(&p);
            if let Some(path) = &report {
                write_file(path, &md)?;
            }
            emit(json, &p, || md.clone())?;
        }
        DreamsCmd::Apply { id, only, skip } => {
            let rev = svc.apply_dream(&id, &OpSelection { only, skip })?;
            emit(json, &rev, || {
                format!(
                    "applied dream {id} as revision {} ({} memories changed). Undo with: nocturne memory rollback --to {}",
                    rev.rev,
                    rev.changes.len(),
                    rev.rev - 1
                )
            })?;
        }
        DreamsCmd::Reject { id } => {
            let p = svc.reject_dream(&id)?;
            emit(json, &p, || format!("rejected dream {id}; memory is unchanged"))?;
        }
    }
    Ok(0)
}

/// Sample sessions shipped in the binary (written by the team, in the real
/// formats), for `quickstart`.
const SAMPLES: &[(&str, &str)] = &include!(concat!(env!("CARGO_MANIFEST_DIR"), "/samples.rs"));

pub fn quickstart(keep: Option<&Path>, json: bool) -> Result<u8> {
    let tmp;
    let dir = match keep {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = tempdir()?;
            tmp.0.clone()
        }
    };
    let samples = dir.join("samples");
    std::fs::create_dir_all(&samples).with_context(|| format!("cannot create {}", samples.display()))?;
    for (name, text) in SAMPLES {
        write_file(&samples.join(name), text)?;
    }
    let svc = Service::with_store(nocturne_stores::open_path(&dir.join("store.db"))?, nocturne_service::system_clock());
    let svc = svc.scoped(Access::local_as("user:quickstart"));
    let (mut added, mut events) = (0, 0);
    for (name, _) in SAMPLES {
        // Sample files are named FORMAT-USER-DAY.EXT; the user is not in every format.
        let user = name.split('-').rev().nth(1).map(str::to_string);
        let opts = IngestOptions { user, team: Some("shop".into()), agent: Some("coder".into()), ..Default::default() };
        let r = svc.ingest(&[samples.join(name)], &opts, &|_, _| {})?;
        if let Some(x) = r.refused.first() {
            anyhow::bail!("sample sessions were refused: {x}");
        }
        added += r.totals.sessions_added;
        events += r.totals.events_added;
    }
    let (p, _) = svc.dream(&DreamSpec::default(), false)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        outln!("Ingested {added} sample sessions ({events} events) into a throw-away store at {}.\n", dir.display());
        out!("{}", nocturne_dream::render_markdown(&p));
        outln!(
            "\nThis was a review: memory is unchanged. With your own transcripts:\n  nocturne ingest ~/.claude/projects\n  nocturne dream\n  nocturne dreams apply <id>"
        );
    }
    Ok(0)
}

/// A temporary folder removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let p = base.join(format!("nocturne-quickstart-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(TempDir(p))
}
