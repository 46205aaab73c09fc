//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  nocturne quickstart                              # try it: sample sessions, a dream, its report
  nocturne ingest ~/.claude/projects --agent claude-code --user ana
  nocturne sessions list
  nocturne sessions verify
  nocturne memory add --kind preference --text 'Use pnpm, not npm' --scope team:web
  nocturne memory list --json
  nocturne dream --sessions 100                    # propose; memory is untouched
  nocturne dreams apply d-20261125-1200-ab12 --skip 3
  nocturne memory rollback --to 4
  nocturne export --format markdown --out AGENTS.md";

/// Nocturne: agents that learn from their own past sessions.
#[derive(Debug, Parser)]
#[command(name = "nocturne", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The store: a SQLite file (created on first use) or a PostgreSQL URL
    /// (`postgres://USER@HOST/DB`) that many servers and workers share.
    #[arg(long, global = true, env = "NOCTURNE_STORE", default_value = ".nocturne/store.db")]
    pub store: String,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who makes memory changes (recorded in each revision).
    #[arg(long, global = true, env = "NOCTURNE_AUTHOR")]
    pub author: Option<String>,
    /// Configuration file (dream schedules); optional.
    #[arg(long, global = true, env = "NOCTURNE_CONFIG", default_value = "nocturne.toml")]
    pub config: PathBuf,
    /// Embedder for search and context: hashing (default, offline),
    /// model2vec:DIR (feature model2vec), openai:BASE_URL#MODEL#DIM (feature http;
    /// key from NOCTURNE_EMBEDDINGS_KEY).
    #[arg(long, global = true, env = "NOCTURNE_EMBEDDER", default_value = "hashing")]
    pub embedder: String,
    /// Model for agent runs (`run`, `runs resume`) and model-backed dreams (feature model):
    /// PROVIDER:BASE_URL#MODEL, e.g. anthropic:https://api.anthropic.com#claude-sonnet-4-5 or
    /// openai:http://127.0.0.1:11434/v1#qwen2.5:7b; over the [model] table of the configuration
    /// file (its other settings kept). Key from NOCTURNE_MODEL_KEY.
    #[arg(long, global = true, env = "NOCTURNE_MODEL")]
    pub model: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import transcripts (files or folders, recursively); grown sessions are extended.
    #[command(
        after_help = "Examples:\n  nocturne ingest ~/.claude/projects\n  nocturne ingest chat.json --format openai --user ana --team web\n  nocturne ingest ~/.claude/projects --json | jq .totals\n\nRe-ingesting adds what is new: a file that grew extends its stored session; a session whose\nstored part changed in the file is refused (the log is never rewritten).\nExit codes: 0 everything stored or already stored; 1 something was refused (see the report); 2 usage."
    )]
    Ingest(IngestArgs),
    /// Read the immutable session log.
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// Versioned memory: add, edit, retire, list, history, rollback.
    #[command(subcommand)]
    Memory(MemoryCmd),
    /// Export memory: JSON (re-importable) or AGENTS.md-style markdown.
    #[command(
        after_help = "Examples:\n  nocturne export --format json --out memory.json\n  nocturne export --format markdown --out AGENTS.md\n  nocturne export --format markdown --project ~/src/shop --out ~/src/shop/AGENTS.md"
    )]
    Export(ExportArgs),
    /// Import a JSON export (all or nothing: the whole file is checked before anything is written).
    #[command(
        after_help = "Examples:\n  nocturne import backup.json\n  nocturne import old-backup.json --allow-undigested\n\nAn export carries a digest per revision, outcome and session, chained, and one for the whole\ndocument (shown by `nocturne export --out`): a file changed after export is refused, saying\nwhere. Exports written before version 5 have no digests; they are refused unless\n--allow-undigested is given.\nExit codes: 0 imported; 2 the file is not a valid, unchanged export (nothing written); 1 other errors."
    )]
    Import {
        file: PathBuf,
        /// Import an export written before exports carried digests (version 1 to 4): it is checked
        /// for consistency, but a change made to it after export cannot be detected.
        #[arg(long)]
        allow_undigested: bool,
    },
    /// Dream: review past sessions with memory and propose changes.
    #[command(
        after_help = "Examples:\n  nocturne dream\n  nocturne dream --sessions 50 --team web --focus mistake --report dream.md\n  nocturne dream --instructions dream.toml --apply"
    )]
    Dream(DreamArgs),
    /// Proposals made by dreams: list, show, apply, reject.
    #[command(subcommand)]
    Dreams(DreamsCmd),
    /// Check the setup: `doctor model` sends the configured model one tiny request.
    #[command(subcommand)]
    Doctor(DoctorCmd),
    /// Outcomes: how sessions ended, against a versioned taxonomy.
    #[command(subcommand, visible_alias = "outcome")]
    Outcomes(OutcomesCmd),
    /// The memories that matter for a task, within a token budget (recorded as a usage event).
    #[command(
        after_help = "Examples:\n  nocturne context \"fix the failing checkout tests\" --budget 800 --team shop\n  nocturne context \"add a dark mode\" --format json --session 7f3c2a10\n  nocturne context \"run the tests\" --project ~/src/shop\n  nocturne context \"what do we know\" --all-projects\n\nRun in a project's folder, the bundle holds that project's memories (the conventions a dream\nlearned from sessions recorded there) and those of no project, never another project's;\n--all-projects reads every project, each project memory naming its project (NAME#KEY)."
    )]
    Context(ContextArgs),
    /// Rebuild the search index (re-embed every memory with the configured embedder).
    Reindex,
    /// Run the server: REST API, MCP at /mcp, the review page at /, scheduled dreams.
    #[command(
        after_help = "Examples:\n  nocturne serve                                   # 127.0.0.1:7777, bearer tokens required\n  nocturne serve --insecure-local                  # no tokens, loopback only\n  nocturne tokens create --scope write --team web  # then: Authorization: Bearer <token>\n  nocturne serve --listen 0.0.0.0:7777 --allowed-host nocturne.example.com\n\nOnly the Host names localhost, 127.0.0.1 and [::1] (on the bound port) are served, plus\nthose given with --allowed-host; bound to a public address without --allowed-host, any\nHost is served (tokens still required). Requests that change data from a page on another\nsite (Origin / Sec-Fetch-Site) are refused. See SECURITY.md."
    )]
    Serve(ServeArgs),
    /// Run queued jobs (requested and scheduled dreams, agent runs) from the store, with many workers on one store.
    #[command(
        after_help = "Examples:\n  nocturne --store postgres://nocturne@db/nocturne worker\n  nocturne worker --lease 60\n\nA worker claims one job at a time under a lease it renews while the job runs; a worker that\ndies is taken over after its lease (at once when it ran on the same machine). SIGTERM or\nCtrl-C lets the job in progress finish. `nocturne jobs list` shows who runs what."
    )]
    Worker(WorkerArgs),
    /// The job queue: what is queued, who runs what, what finished.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Serve MCP over stdio (for Claude Code, Codex, Cursor or any MCP client); logs go to stderr.
    #[command(
        after_help = "Add it to Claude Code:\n  claude mcp add nocturne -- nocturne --store ~/.nocturne/store.db mcp"
    )]
    Mcp,
    /// Access tokens for the server (stored hashed; shown once).
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Run an agent (and the sub-agents it spawns) on a task; every agent becomes a session.
    #[command(
        after_help = "Examples:\n  nocturne run lead \"summarize the open issues\"\n  nocturne run lead \"fix the build\" --agents .claude/agents --model openai:http://127.0.0.1:8080/v1#qwen\n  nocturne run reviewer \"review PR 12\" --context '{\"pr\": 12}' --json\n\nAgents are markdown files with YAML front matter (docs/runtime.md), read from --agents\n(default .nocturne/agents/, and .claude/agents/ if present). The model and the MCP tool\nservers come from nocturne.toml ([model], [[mcp_server]], [runtime]).\nExit codes: 0 completed; 1 failed or an error; 3 partial (a budget ran out with work done)."
    )]
    Run(RunArgs),
    /// Agent runs: list, show, tree, resume (after a crash), cancel.
    #[command(subcommand)]
    Runs(RunsCmd),
    /// A throw-away store with sample sessions, a dream and its report.
    Quickstart {
        /// Keep the store in this folder instead of a temporary one.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

/// A `--format` name, checked by the importers' own list.
fn format_name(s: &str) -> Result<nocturne_service::Format, String> {
    s.parse::<nocturne_service::Format>().map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders (folders are searched for transcripts; sub-agent
    /// `.meta.json` sidecars are read with their transcript).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The transcript format, or `auto` to tell from the content (see docs/formats.md).
    #[arg(long, default_value = "auto", value_parser = format_name)]
    pub format: nocturne_service::Format,
    /// User the sessions belong to.
    #[arg(long)]
    pub user: Option<String>,
    /// Agent that ran the sessions.
    #[arg(long)]
    pub agent: Option<String>,
    /// Team the sessions belong to.
    #[arg(long)]
    pub team: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SessionFilterArgs {
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// Sessions started on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Sessions started before this date.
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCmd {
    /// Sessions, newest first (with their parent, for sub-agent sessions).
    #[command(
        after_help = "Examples:\n  nocturne sessions list --tree\n  nocturne sessions list --parent 7acd37a8-2745-4b58-a8a9-46164b22ad9e --json"
    )]
    List {
        #[command(flatten)]
        filter: SessionFilterArgs,
        #[arg(long)]
        limit: Option<usize>,
        /// Only the sub-agent sessions of this session.
        #[arg(long)]
        parent: Option<String>,
        /// Sub-agent sessions indented under their parents.
        #[arg(long)]
        tree: bool,
    },
    /// One session: its events, its parent and its sub-agent sessions.
    Show {
        id: String,
        /// Include each event's raw source JSON.
        #[arg(long)]
        raw: bool,
    },
    /// Recompute every hash chain; name sessions that no longer match.
    Verify,
    /// Hybrid search over session events (the log as recall memory).
    Search {
        query: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemoryCmd {
    /// Add a memory.
    #[command(
        after_help = "Example:\n  nocturne memory add --kind mistake --text 'npm test has no script here; run npm run test:unit' --tag npm"
    )]
    Add {
        /// fact, preference, procedure, mistake, or your own kind.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        text: String,
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// org, team:NAME, agent:NAME or user:NAME.
        #[arg(long)]
        scope: Option<String>,
        /// The project the memory holds in (a directory, or a project id
        /// NAME#KEY): tagged project:NAME#KEY, it reaches only context
        /// bundles of that project.
        #[arg(long, value_name = "DIR|ID")]
        project: Option<String>,
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// Fail unless the store is at this revision.
        #[arg(long)]
        expect_rev: Option<u64>,
    },
    /// Change a memory's text, kind, tags, scope or priority.
    Edit {
        id: String,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        /// Replace the tags (repeat for several).
        #[arg(long = "tag")]
        tags: Option<Vec<String>>,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i32>,
        #[arg(long)]
        expect_rev: Option<u64>,
    },
    /// Retire a memory (it is kept, with its history).
    Retire {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        expect_rev: Option<u64>,
    },
    /// One memory.
    Show { id: String },
    /// Memories at the head, highest priority first.
    List {
        /// Include retired memories.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Every change to one memory, with its store revision.
    History { id: String },
    /// Store revisions, oldest first.
    Log,
    /// Hybrid search (BM25 + vectors, fused) over active memories.
    Search {
        query: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Bring the whole memory store back to revision REV (as a new revision).
    Rollback {
        #[arg(long)]
        to: u64,
        #[arg(long)]
        expect_rev: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "json")]
    pub format: ExportFormat,
    /// JSON only: include the whole session log, verbatim (with the
    /// transcripts' secrets, as stored): a complete backup.
    #[arg(long)]
    pub sessions: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Markdown only: the memories of this project (a directory, or a
    /// project id NAME#KEY) and those of no project, for its AGENTS.md.
    #[arg(long, value_name = "DIR|ID")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct DreamArgs {
    /// How many of the newest sessions to read [default: 100].
    #[arg(long)]
    pub sessions: Option<usize>,
    #[command(flatten)]
    pub filter: SessionFilterArgs,
    /// Keep only these kinds of findings (repeatable).
    #[arg(long)]
    pub focus: Vec<String>,
    /// Drop findings that mention this term (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// TOML file with any of: sessions, user, agent, team, since, until, focus, ignore, min_support, max_workflows,
    /// notes, [weights]. Flags given here win over the file.
    #[arg(long)]
    pub instructions: Option<PathBuf>,
    /// Distinct sessions a finding needs, for every kind of finding [default: 2 for mistakes and facts, 3 for
    /// workflows, preferences and changes to existing memories].
    #[arg(long)]
    pub min_support: Option<u32>,
    /// Apply the proposal at once (default: store it for review).
    #[arg(long)]
    pub apply: bool,
    /// Also write the report as markdown to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Free-text steering for the model pass ("prioritize coding patterns"), kept in the proposal.
    #[arg(long)]
    pub notes: Option<String>,
    /// Write the model requests this dream would send to FILE (one request body per line, exactly the
    /// bytes sent) and send nothing, store nothing.
    #[arg(long, value_name = "FILE")]
    pub model_dry_run: Option<PathBuf>,
    /// Deterministic passes only, even with a model configured.
    #[arg(long, conflicts_with = "model_dry_run")]
    pub no_model: bool,
    /// Queue the dream for a worker instead of running it here; prints the job.
    #[arg(long, conflicts_with = "report")]
    pub queue: bool,
}

#[derive(Debug, Subcommand)]
pub enum DoctorCmd {
    /// Check the configured model with one tiny request and say plainly what is wrong.
    Model,
}

/// `nocturne worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Seconds a claimed job's lease lasts (renewed every third of it while the job runs).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub lease: u64,
    /// Seconds between looks at an empty queue.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub poll: f64,
    /// Run until the queue has nothing to run, then exit.
    #[arg(long)]
    pub until_idle: bool,
    /// Only jobs of this kind (dream, schedule, run); repeatable.
    #[arg(long)]
    pub kind: Vec<String>,
    /// Milliseconds to hold each claimed job before running it (to test take-over; renewals go on).
    #[arg(long, hide = true, default_value_t = 0)]
    pub hold_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Jobs, newest first, with their state, worker and lease.
    List {
        /// queued, running, done or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum DreamsCmd {
    /// Proposals, scheduled dreams and their runs (running, done, failed).
    List,
    /// Run the scheduled dreams that are due now (for a system cron; `serve` does this every minute).
    RunDue,
    /// One proposal's report.
    Show {
        id: String,
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Apply a proposal (all ops, or a chosen subset) as one revision.
    Apply {
        id: String,
        /// Apply only these op numbers (comma-separated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<u32>,
        /// Skip these op numbers (comma-separated).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<u32>,
    },
    /// Reject a proposal.
    Reject { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatsByArg {
    All,
    Agent,
    User,
    Team,
    Week,
    Workflow,
}

#[derive(Debug, Subcommand)]
pub enum OutcomesCmd {
    /// Log how a session (or a task in it) ended.
    #[command(
        after_help = "Examples:\n  nocturne outcome log 7f3c2a10 --set result=success --set user_rating=5\n  nocturne outcome log 7f3c2a10 --task fix-ci --set result=failure --set failure_reason=wrong_tool --comment 'used npm test'"
    )]
    Log {
        session: String,
        #[arg(long)]
        task: Option<String>,
        /// DIMENSION=VALUE (repeatable).
        #[arg(long = "set", required = true)]
        set: Vec<String>,
        /// human, model or code (default human).
        #[arg(long)]
        source: Option<String>,
        /// Who judged it.
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Import outcomes from a JSONL or CSV file (all or nothing).
    Import { file: PathBuf },
    /// Outcomes, oldest first (superseded ones included).
    List {
        #[arg(long)]
        session: Option<String>,
        /// As OpenTelemetry `gen_ai.evaluation.result` events.
        #[arg(long)]
        otel: bool,
    },
    /// Counts, rates and means of the latest outcomes, grouped.
    Stats {
        #[arg(long, value_enum, default_value = "all")]
        by: StatsByArg,
    },
    /// The taxonomy outcomes are checked against.
    #[command(subcommand)]
    Taxonomy(TaxonomyCmd),
}

#[derive(Debug, Subcommand)]
pub enum TaxonomyCmd {
    /// The taxonomy in force (TOML).
    Show,
    /// Set a new taxonomy version from a TOML file.
    Set {
        file: PathBuf,
        /// Set it even if stored outcomes would no longer match it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BundleFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// What the agent is about to do.
    pub task: String,
    /// Token budget for the bundle (estimated: see docs/retrieval.md).
    #[arg(long, default_value_t = 1000)]
    pub budget: usize,
    /// Narrow to the org's memories and this agent's (with none of --agent,
    /// --user, --team: every scope).
    #[arg(long)]
    pub agent: Option<String>,
    /// Narrow to the org's memories and this user's.
    #[arg(long)]
    pub user: Option<String>,
    /// Narrow to the org's memories and this team's.
    #[arg(long)]
    pub team: Option<String>,
    /// The session the bundle is for (recorded with the usage event).
    #[arg(long)]
    pub session: Option<String>,
    /// The project you work in: a directory (default: the current one) or a
    /// project id NAME#KEY. Memories of other projects are left out.
    #[arg(long, value_name = "DIR|ID")]
    pub project: Option<String>,
    /// Read the memories of every project (each project memory names its
    /// project), not only the current directory's.
    #[arg(long, conflicts_with = "project")]
    pub all_projects: bool,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: BundleFormat,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; it is printed once (`token` in JSON) and stored hashed.
    #[command(
        after_help = "Examples:\n  nocturne tokens create --scope write --team web --json\n  nocturne tokens create --scope admin"
    )]
    Create {
        /// read, write or admin.
        #[arg(long)]
        scope: String,
        /// Bind the token to one team: it sees only that team's sessions and memories.
        #[arg(long)]
        team: Option<String>,
    },
    /// Tokens (ids, scopes, teams; never the secrets).
    List,
    /// Revoke a token (kept, no longer accepted).
    Revoke { id: String },
}

/// `nocturne serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub listen: std::net::SocketAddr,
    /// Serve without tokens (as the local org admin); only on a loopback address.
    #[arg(long)]
    pub insecure_local: bool,
    /// Another Host name to serve (`name` or `name:port`), e.g. the name of a
    /// proxy in front of the server; repeatable. Needs tokens.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Seconds a client has to send a whole request head.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub header_timeout: u64,
    /// Seconds a connection may sit idle (no request, no byte) before it is closed.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Connections served at once; more wait until one closes.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_connections: usize,
    /// Leave queued jobs to `nocturne worker` processes (the server still enqueues due schedules).
    #[arg(long)]
    pub no_worker: bool,
    /// Folders of agent definitions for runs queued over HTTP (`POST /v1/runs`; repeatable; default
    /// .nocturne/agents/ and .claude/agents/ when present). Runs take the model of --model / [model].
    #[arg(long = "agents")]
    pub agents: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent to run (its `name`).
    pub agent: String,
    /// The task.
    pub task: String,
    /// Folders of agent definitions (repeatable; earlier folders win).
    #[arg(long = "agents")]
    pub agents: Vec<PathBuf>,
    /// A JSON object given to the agent with its task.
    #[arg(long)]
    pub context: Option<String>,
    /// Team the run and its sessions belong to.
    #[arg(long)]
    pub team: Option<String>,
    /// User the run's sessions belong to.
    #[arg(long)]
    pub user: Option<String>,
    /// No progress lines on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    /// Record the run and queue it for a worker (`nocturne worker`, or the one in `serve`) instead of
    /// running it here; prints the run and its job.
    #[arg(long)]
    pub queue: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// Runs, newest first.
    List {
        /// Only runs in this state: running, completed, partial, failed, cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A run: its record, result and tree of agents.
    Show { run: String },
    /// A run's tree of agents.
    Tree { run: String },
    /// Go on with a run that stopped (a crash, a kill): finished calls are not made again.
    Resume {
        run: String,
        /// No progress lines on standard error.
        #[arg(long, short)]
        quiet: bool,
        /// Queue the resumption for a worker instead of resuming here; prints the job.
        #[arg(long)]
        queue: bool,
    },
    /// Ask a running run to stop (its agents end `cancelled` at their next step).
    Cancel { run: String },
    /// A run's journal entries, in order.
    Journal { run: String },
}
