//! One agent: its loop (model call → tool calls → results, until a final
//! answer or a budget runs out), its sub-agents, its retries. Every model
//! call and tool call is journaled before its result is used; an agent
//! rebuilt from the journal replays the finished steps without making them
//! again (docs/runtime.md).

use crate::agents::{AgentDef, ToolCalling};
use crate::runner::{Runtime, FINISHED, STARTED};
use crate::session::{events_for_start, events_for_tools, events_for_turn, SessionWriter};
use crate::tools::{self, MEMORY_SEARCH, REPORT_OUTCOME, SPAWN};
use crate::trace::{span_id, Span};
use crate::{Progress, RuntimeError};
use nocturne_core::{Counterpart, NewSession, Subagent};
use nocturne_provider::{
    actions, ask_json, extract_json, ChatModel, ChatRequest, ChatResponse, JsonSchema, Message, Model, Part, Pricing,
    Provider, ProviderError, ToolCall, ToolChoice, ToolSpec, ToolsMode,
};
use nocturne_service::runs::{kind, Budget, EndBody, FailureKind, StartBody};
use nocturne_service::{ContextRequest, JournalEntry, LogOutcome, RunUsage, ServiceError, TypedResult};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Who spawned an agent.
pub(crate) struct ParentLink {
    pub path: String,
    pub session: String,
    pub step: u32,
}

/// An agent to run (with its retries).
pub(crate) struct Spawn<'a> {
    pub def: &'a AgentDef,
    pub task: String,
    pub context: Option<Value>,
    pub parent: Option<ParentLink>,
    /// The path of its first attempt (`root`, `root/3`).
    pub base_path: String,
    pub allot: Budget,
    pub depth: usize,
}

/// The path of attempt `n` (`root/3`, then `root/3.2`, ...).
pub(crate) fn attempt_path(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_string()
    } else {
        format!("{base}.{n}")
    }
}

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What is left of `b` after `u` and `secs` seconds.
fn remaining(b: &Budget, u: &RunUsage, secs: f64) -> Budget {
    Budget {
        turns: b.turns.map(|t| t.saturating_sub(u.turns)),
        tokens: b.tokens.map(|t| t.saturating_sub(u.tokens())),
        seconds: b.seconds.map(|s| (s - secs).max(0.0)),
        cost_usd: b.cost_usd.map(|c| (c - u.cost_usd).max(0.0)),
    }
}

/// A child's share: `left / n`, within the child's own limits.
fn share(left: &Budget, n: usize, def: &AgentDef) -> Budget {
    let n = n.max(1);
    let min_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let min_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Budget {
        turns: min_u(left.turns.map(|t| t / n as u64), def.max_turns),
        tokens: min_u(left.tokens.map(|t| t / n as u64), def.max_tokens),
        seconds: min_f(left.seconds.map(|s| s / n as f64), def.max_seconds),
        cost_usd: min_f(left.cost_usd.map(|c| c / n as f64), def.max_cost),
    }
}

fn with_totals(r: TypedResult, total: RunUsage, attempts: u32) -> TypedResult {
    match r {
        TypedResult::Completed { output, .. } => TypedResult::Completed { output, usage: total },
        TypedResult::Partial { output, reason, .. } => TypedResult::Partial { output, reason, usage: total },
        TypedResult::Failed { kind, message, .. } => TypedResult::Failed { kind, message, attempts, usage: total },
    }
}

/// Runs an agent, retrying a failed attempt (model error, tool error,
/// invalid output) up to its `retries`, with back-off. The result carries
/// the usage of every attempt.
pub(crate) fn run_with_retries(rt: &Runtime, sp: &Spawn<'_>) -> Result<TypedResult, RuntimeError> {
    let mut total = RunUsage::default();
    let max = sp.def.retries.saturating_add(1);
    let mut attempt = 1;
    loop {
        let path = attempt_path(&sp.base_path, attempt);
        let left = remaining(&sp.allot, &total, 0.0);
        let r = run_attempt(rt, sp, &path, attempt, left)?;
        total.add(r.usage());
        let retry = matches!(
            &r,
            TypedResult::Failed {
                kind: FailureKind::ModelError | FailureKind::ToolError | FailureKind::InvalidOutput,
                ..
            }
        );
        let turns_left = remaining(&sp.allot, &total, 0.0).turns.is_none_or(|t| t > 0);
        if retry && attempt < max && turns_left && !rt.cancelled() {
            let next = attempt_path(&sp.base_path, attempt + 1);
            if rt.replayed(&next, 0, FINISHED).is_none() {
                let wait = rt.setup.runtime.retry_backoff_ms.saturating_mul(1 << (attempt - 1).min(10)).min(30_000);
                rt.note(format!("{path}: attempt {attempt} failed; trying again in {wait} ms"));
                std::thread::sleep(Duration::from_millis(wait));
            }
            attempt += 1;
            continue;
        }
        return Ok(with_totals(r, total, attempt));
    }
}

fn session_id(rt: &Runtime, path: &str) -> String {
    format!("{}/{path}", rt.run_id)
}

/// One attempt of an agent.
fn run_attempt(
    rt: &Runtime,
    sp: &Spawn<'_>,
    path: &str,
    attempt: u32,
    budget: Budget,
) -> Result<TypedResult, RuntimeError> {
    let session = session_id(rt, path);
    if let Some(e) = rt.replayed_end(path) {
        let b: EndBody =
            serde_json::from_value(e.body.clone()).map_err(|err| diverged(rt, path, 0, &err.to_string()))?;
        finalize(rt, sp, path, &session, &b.result)?;
        return Ok(b.result);
    }
    let span_start = SystemTime::now();
    let start = match rt.replayed(path, 0, FINISHED) {
        Some(e) => serde_json::from_value::<StartBody>(e.body.clone())
            .map_err(|err| diverged(rt, path, 0, &format!("its start does not read: {err}")))?,
        None => match build_start(rt, sp, path, attempt, budget, &session)? {
            Ok(s) => s,
            Err(failure) => {
                // It could not start (a tool server it needs is missing): no start entry, just its end.
                let start = minimal_start(rt, sp, path, attempt, budget, &session);
                rt.journal(entry(
                    path,
                    0,
                    FINISHED,
                    kind::START,
                    "",
                    serde_json::to_value(&start).unwrap_or_default(),
                ))?;
                let r = TypedResult::Failed {
                    kind: FailureKind::ToolError,
                    message: failure,
                    attempts: 1,
                    usage: RunUsage::default(),
                };
                return end(rt, sp, path, &session, 1, r, span_start);
            }
        },
    };
    rt.emit(Progress::AgentStarted { path: path.to_string(), agent: start.name.clone(), task: start.task.clone() });
    let mut writer = SessionWriter::open(rt, &session)?;
    writer.append(rt, &events_for_start(rt, path, &start))?;
    let mut a = match Agent::new(rt, sp, path, start, writer) {
        Ok(a) => a,
        Err(message) => {
            let r =
                TypedResult::Failed { kind: FailureKind::ModelError, message, attempts: 1, usage: RunUsage::default() };
            return end(rt, sp, path, &session, 1, r, span_start);
        }
    };
    let r = a.run()?;
    let step = a.step + 1;
    end(rt, sp, path, &session, step, r, span_start)
}

fn diverged(rt: &Runtime, path: &str, step: u32, why: &str) -> RuntimeError {
    RuntimeError::Diverged { run: rt.run_id.clone(), step: format!("{path}#{step}"), why: why.to_string() }
}

fn entry(agent: &str, step: u32, phase: &str, kind: &str, digest: &str, body: Value) -> JournalEntry {
    JournalEntry {
        seq: 0,
        run: String::new(),
        agent: agent.to_string(),
        step,
        phase: phase.to_string(),
        kind: kind.to_string(),
        digest: digest.to_string(),
        at: String::new(),
        body,
    }
}

/// Journals an agent's end, logs its outcome, closes its session.
fn end(
    rt: &Runtime,
    sp: &Spawn<'_>,
    path: &str,
    session: &str,
    step: u32,
    r: TypedResult,
    span_start: SystemTime,
) -> Result<TypedResult, RuntimeError> {
    rt.journal(entry(path, step, FINISHED, kind::END, "", json!({"result": r})))?;
    rt.crash_point(path, step, "agent_end");
    finalize(rt, sp, path, session, &r)?;
    let error = match &r {
        TypedResult::Failed { kind, .. } => Some(kind.as_str().to_string()),
        _ => None,
    };
    let u = r.usage();
    rt.tracer.record(Span {
        name: format!("invoke_agent {}", sp.def.name),
        id: span_id(&rt.run_id, &format!("{path}#agent")),
        parent: sp.parent.as_ref().map(|p| span_id(&rt.run_id, &format!("{}#{}#tool", p.path, p.step))),
        start: span_start,
        end: SystemTime::now(),
        attrs: vec![
            ("gen_ai.operation.name", json!("invoke_agent")),
            ("gen_ai.agent.name", json!(sp.def.name)),
            ("gen_ai.agent.id", json!(path)),
            ("gen_ai.conversation.id", json!(session)),
            ("gen_ai.usage.input_tokens", json!(u.input_tokens)),
            ("gen_ai.usage.output_tokens", json!(u.output_tokens)),
            ("nocturne.run.id", json!(rt.run_id)),
            ("nocturne.agent.status", json!(r.status())),
        ],
        error,
    });
    Ok(r)
}

/// The outcome an agent's result is logged as, and its session closed;
/// done again safely when a resumed run finds an agent that ended.
fn finalize(rt: &Runtime, sp: &Spawn<'_>, path: &str, session: &str, r: &TypedResult) -> Result<(), RuntimeError> {
    rt.emit(Progress::AgentEnded { path: path.to_string(), agent: sp.def.name.clone(), result: r.clone() });
    let scoped = rt.scoped();
    let by = "nocturne-runtime";
    let logged = match scoped.outcomes(Some(session)) {
        Ok(list) => list.iter().any(|o| o.by.as_deref() == Some(by)),
        Err(ServiceError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !logged {
        let tax = scoped.taxonomy()?;
        let has = |dim: &str, label: &str| {
            tax.dimensions().iter().any(|d| {
                d.name == dim
                    && match &d.kind {
                        nocturne_core::outcome::DimensionKind::Categorical { labels } => {
                            labels.iter().any(|l| l.name == label)
                        }
                        _ => false,
                    }
            })
        };
        let (result, reason, comment) = match r {
            TypedResult::Completed { .. } => ("success", None, format!("run {}: {path} completed", rt.run_id)),
            TypedResult::Partial { reason, .. } => {
                ("partial", Some("timeout"), format!("run {}: {path} partial: {reason}", rt.run_id))
            }
            TypedResult::Failed { kind, message, attempts, .. } => {
                let (res, why) = match kind {
                    FailureKind::Cancelled => ("abandoned", None),
                    FailureKind::BudgetExceeded => ("failure", Some("timeout")),
                    FailureKind::ModelError | FailureKind::ToolError => ("failure", Some("environment")),
                    FailureKind::InvalidOutput => ("failure", Some("other")),
                };
                (
                    res,
                    why,
                    format!(
                        "run {}: {path} failed ({}) after {attempts} attempts: {message}",
                        rt.run_id,
                        kind.as_str()
                    ),
                )
            }
        };
        let mut set = Vec::new();
        if has("result", result) {
            set.push(format!("result={result}"));
        }
        if let Some(w) = reason.filter(|w| has("failure_reason", w)) {
            set.push(format!("failure_reason={w}"));
        }
        if !set.is_empty() {
            let comment: String = comment.chars().take(1000).collect();
            scoped.log_outcome(&LogOutcome {
                session: session.to_string(),
                task: None,
                set,
                source: Some("code".into()),
                by: Some(by.into()),
                comment: Some(comment),
            })?;
        }
    }
    match scoped.close_session(session) {
        Ok(()) | Err(ServiceError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A start for an agent that could not start (its end comes right after).
fn minimal_start(rt: &Runtime, sp: &Spawn<'_>, _path: &str, attempt: u32, budget: Budget, session: &str) -> StartBody {
    StartBody {
        name: sp.def.name.clone(),
        task: sp.task.clone(),
        context: sp.context.clone(),
        parent: sp.parent.as_ref().map(|p| p.path.clone()),
        spawned_by_step: sp.parent.as_ref().map(|p| p.step),
        attempt,
        session: session.to_string(),
        system: String::new(),
        user: String::new(),
        tools: Vec::new(),
        mode: "native".into(),
        budget,
        output_schema: sp.def.output_schema.clone(),
        model: rt.setup.model.spec(),
        memories: Vec::new(),
    }
}

fn first_user_message(task: &str, context: &Option<Value>) -> String {
    match context {
        Some(c) if !c.is_null() => format!(
            "{task}\n\nContext from the agent that delegated this task (JSON):\n{}",
            serde_json::to_string_pretty(c).unwrap_or_default()
        ),
        _ => task.to_string(),
    }
}

/// Builds and journals an agent's start: its session, its memory context,
/// its prompts and tools. `Ok(Err(why))`: it cannot start.
fn build_start(
    rt: &Runtime,
    sp: &Spawn<'_>,
    path: &str,
    attempt: u32,
    budget: Budget,
    session: &str,
) -> Result<Result<StartBody, String>, RuntimeError> {
    let can_spawn = sp.depth < rt.setup.runtime.max_depth;
    let (tools, notes) = match tools::offered(sp.def, &rt.setup.agents, &rt.mcp, can_spawn) {
        Ok(t) => t,
        Err(why) => return Ok(Err(why)),
    };
    for n in notes {
        rt.note(n);
    }
    let spec = if sp.def.inherits_model() { None } else { sp.def.model.clone() };
    let config = match &spec {
        None => rt.setup.model.clone(),
        Some(s) => nocturne_provider::ModelConfig::from_spec(s).unwrap_or_else(|_| rt.setup.model.clone()),
    };
    let json = match sp.def.tool_calling {
        ToolCalling::Json => true,
        ToolCalling::Native => false,
        ToolCalling::Auto => config.tools == ToolsMode::Json || config.provider == Provider::LlamaCpp,
    };
    // The session first: the context bundle is recorded against it.
    let title: String = sp.task.chars().take(120).collect();
    let ns = NewSession {
        id: session.to_string(),
        format: "nocturne-run".into(),
        source: Some(format!("run:{}", rt.run_id)),
        user: rt.user.clone(),
        agent: Some(sp.def.name.clone()),
        team: rt.team.clone(),
        title: Some(title.clone()),
        parent: sp.parent.as_ref().map(|p| p.session.clone()),
        subagent: sp.parent.as_ref().map(|_| Subagent {
            agent_id: crate::session::agent_id(path),
            agent_type: Some(sp.def.name.clone()),
            description: Some(title.clone()),
            compaction: false,
        }),
        counterpart: Some(if sp.parent.is_some() { Counterpart::Agent } else { Counterpart::Operator }),
        outcome: None,
        events: Vec::new(),
    };
    rt.scoped().add_session(&ns)?;
    let mut system = sp.def.system_prompt.clone();
    let mut memories = Vec::new();
    if rt.setup.runtime.context_budget > 0 {
        let b = rt.scoped().context(&ContextRequest {
            task: sp.task.clone(),
            budget: rt.setup.runtime.context_budget,
            agent: Some(sp.def.name.clone()),
            user: rt.user.clone(),
            team: rt.team.clone(),
            session: Some(session.to_string()),
            project: None,
        })?;
        if !b.bundle.items.is_empty() {
            memories = b.bundle.items.iter().map(|i| i.id.clone()).collect();
            system.push_str("\n\n");
            system.push_str(b.markdown.trim());
        }
    }
    if let (Some(schema), false) = (&sp.def.output_schema, json) {
        system.push_str(&format!(
            "\n\nWhen you are done, your final answer must be only a JSON value matching this JSON Schema \
             (no other text):\n{schema}"
        ));
    }
    let start = StartBody {
        name: sp.def.name.clone(),
        task: sp.task.clone(),
        context: sp.context.clone(),
        parent: sp.parent.as_ref().map(|p| p.path.clone()),
        spawned_by_step: sp.parent.as_ref().map(|p| p.step),
        attempt,
        session: session.to_string(),
        system,
        user: first_user_message(&sp.task, &sp.context),
        tools: tools.iter().filter_map(|t| serde_json::to_value(t).ok()).collect(),
        mode: if json { "json" } else { "native" }.into(),
        budget,
        output_schema: sp.def.output_schema.clone(),
        model: spec.unwrap_or_else(|| rt.setup.model.spec()),
        memories,
    };
    rt.journal(entry(path, 0, FINISHED, kind::START, "", serde_json::to_value(&start).unwrap_or_default()))?;
    Ok(Ok(start))
}

/// The model's answer to one step, or why there is none.
#[derive(Debug, Clone)]
struct ModelFailure {
    message: String,
    /// The structured final answer still broke the output schema after its repair.
    invalid_output: bool,
}

/// Whether a provider error is a structured answer that broke its schema
/// (after `ask_json`'s one repair): the agent's output is invalid, not its model.
fn is_schema_failure(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Malformed { what } if what.starts_with("answer for schema"))
}

struct Agent<'r, 'a> {
    rt: &'r Runtime,
    sp: &'r Spawn<'a>,
    path: String,
    start: StartBody,
    model: Arc<Model>,
    pricing: Pricing,
    max_output: u32,
    json: bool,
    /// Native calls that may turn into JSON actions if the model writes calls as text.
    auto: bool,
    tools: Vec<ToolSpec>,
    messages: Vec<Message>,
    step: u32,
    usage: RunUsage,
    last_text: Option<String>,
    worked: bool,
    repaired: bool,
    t_base_ms: u64,
    live: Instant,
    session: SessionWriter,
}

impl<'r, 'a> Agent<'r, 'a> {
    fn new(
        rt: &'r Runtime,
        sp: &'r Spawn<'a>,
        path: &str,
        start: StartBody,
        session: SessionWriter,
    ) -> Result<Self, String> {
        let spec = if start.model == rt.setup.model.spec() { None } else { Some(start.model.as_str()) };
        let (model, config) = rt.model(spec)?;
        let tools: Vec<ToolSpec> = start.tools.iter().filter_map(|t| serde_json::from_value(t.clone()).ok()).collect();
        Ok(Agent {
            rt,
            sp,
            path: path.to_string(),
            json: start.mode == "json",
            auto: sp.def.tool_calling == ToolCalling::Auto && start.mode == "native",
            messages: vec![Message::user(start.user.clone())],
            start,
            pricing: config.pricing(),
            max_output: config.max_output_tokens,
            model,
            tools,
            step: 0,
            usage: RunUsage::default(),
            last_text: None,
            worked: false,
            repaired: false,
            t_base_ms: 0,
            live: Instant::now(),
            session,
        })
    }

    fn secs_used(&self) -> f64 {
        (self.t_base_ms + ms(self.live.elapsed())) as f64 / 1000.0
    }

    fn t_ms(&self) -> u64 {
        self.t_base_ms + ms(self.live.elapsed())
    }

    /// A replayed entry sets the agent's clock to the time it had then.
    fn replayed_time(&mut self, e: &JournalEntry) {
        if let Some(t) = e.body.get("t_ms").and_then(Value::as_u64) {
            self.t_base_ms = t;
            self.live = Instant::now();
        }
    }

    fn left(&self) -> Budget {
        remaining(&self.start.budget, &self.usage, self.secs_used())
    }

    /// Why no further model call may be made, if so.
    fn exhausted(&self) -> Option<String> {
        let b = &self.start.budget;
        let u = &self.usage;
        if let Some(t) = b.turns.filter(|t| u.turns >= *t) {
            return Some(format!("the turn budget ({t} model calls) is used up"));
        }
        if let Some(t) = b.tokens.filter(|t| u.tokens() >= *t) {
            return Some(format!("the token budget ({t}) is used up ({} used)", u.tokens()));
        }
        if let Some(c) = b.cost_usd.filter(|c| u.cost_usd >= *c) {
            return Some(format!("the cost budget (${c:.4}) is used up (${:.4} spent)", u.cost_usd));
        }
        if let Some(s) = b.seconds.filter(|s| self.secs_used() >= *s) {
            return Some(format!("the time budget ({s} s) is used up"));
        }
        None
    }

    fn request(&self) -> ChatRequest {
        let schema = self
            .start
            .output_schema
            .as_ref()
            .filter(|_| self.json || self.tools.is_empty())
            .map(|s| JsonSchema { name: "output".into(), schema: s.clone() });
        let max_tokens = self
            .start
            .budget
            .tokens
            .map(|t| t.saturating_sub(self.usage.tokens()))
            .filter(|left| *left < u64::from(self.max_output))
            .map(|left| u32::try_from(left.max(1)).unwrap_or(u32::MAX));
        ChatRequest {
            system: self.start.system.clone(),
            messages: self.messages.clone(),
            tools: self.tools.clone(),
            tool_choice: ToolChoice::Auto,
            response_schema: schema,
            max_tokens,
            temperature: self.sp.def.temperature,
            stop: Vec::new(),
            stream: false,
        }
    }

    fn call_model(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        if !req.tools.is_empty() && self.json {
            return actions::chat_with_actions(&*self.model, req);
        }
        if req.tools.is_empty() && req.response_schema.is_some() {
            let a = ask_json(&*self.model, req)?;
            let mut last = a.responses.last().cloned().unwrap_or_default();
            last.text = a.value.to_string();
            last.usage = a.usage;
            return Ok(last);
        }
        self.model.chat(req)
    }

    /// One model step: replayed from the journal, or made and journaled.
    fn model_step(&mut self, step: u32) -> Result<Result<ChatResponse, ModelFailure>, RuntimeError> {
        let req = self.request();
        let mode = if self.json { "json" } else { "native" };
        let digest = sha(&[mode.as_bytes(), &serde_json::to_vec(&req).unwrap_or_default()]);
        if let Some(e) = self.rt.replayed(&self.path, step, FINISHED).cloned() {
            if e.kind != kind::MODEL || e.digest != digest {
                return Err(diverged(
                    self.rt,
                    &self.path,
                    step,
                    "the journaled model call is not the request this agent makes now (its definition, memory or \
                     this program changed)",
                ));
            }
            self.replayed_time(&e);
            return Ok(parse_model_body(&e.body));
        }
        self.rt.emit(Progress::ModelCall { path: self.path.clone(), step });
        self.rt.crash_point(&self.path, step, "before_model");
        let t0 = Instant::now();
        let started = SystemTime::now();
        let r = self.call_model(&req);
        let elapsed = ms(t0.elapsed());
        self.rt.crash_point(&self.path, step, "after_model");
        let body = match &r {
            Ok(resp) => json!({"response": resp, "elapsed_ms": elapsed, "t_ms": self.t_ms(), "mode": mode}),
            Err(e) => json!({"error": {"message": e.to_string(), "retryable": e.is_retryable(),
                              "invalid_output": is_schema_failure(e)}, "elapsed_ms": elapsed,
                              "t_ms": self.t_ms(), "mode": mode}),
        };
        self.rt.journal(entry(&self.path, step, FINISHED, kind::MODEL, &digest, body))?;
        self.rt.crash_point(&self.path, step, "after_model_journal");
        let (model_name, usage) = match &r {
            Ok(resp) => (resp.model.clone(), resp.usage),
            Err(_) => (String::new(), Default::default()),
        };
        self.rt.tracer.record(Span {
            name: format!("chat {}", self.model.config().model),
            id: span_id(&self.rt.run_id, &format!("{}#{step}#chat", self.path)),
            parent: Some(span_id(&self.rt.run_id, &format!("{}#agent", self.path))),
            start: started,
            end: SystemTime::now(),
            attrs: vec![
                ("gen_ai.operation.name", json!("chat")),
                ("gen_ai.provider.name", json!(self.model.config().provider.name())),
                ("gen_ai.request.model", json!(self.model.config().model)),
                ("gen_ai.response.model", json!(model_name)),
                ("gen_ai.conversation.id", json!(self.start.session)),
                ("gen_ai.usage.input_tokens", json!(usage.input_tokens)),
                ("gen_ai.usage.output_tokens", json!(usage.output_tokens)),
                ("nocturne.step", json!(format!("{}#{step}", self.path))),
            ],
            error: r.as_ref().err().map(|e| e.to_string()),
        });
        Ok(r.map_err(|e| ModelFailure { message: e.to_string(), invalid_output: is_schema_failure(&e) }))
    }

    /// The loop, until a final answer, a failure or a spent budget.
    fn run(&mut self) -> Result<TypedResult, RuntimeError> {
        loop {
            let step = self.step + 1;
            let replaying = self.rt.replayed(&self.path, step, FINISHED).is_some();
            if !replaying {
                if self.rt.cancelled() {
                    return Ok(self.failed(FailureKind::Cancelled, "the run was cancelled".into()));
                }
                if let Some(reason) = self.exhausted() {
                    return Ok(self.out_of_budget(reason));
                }
            }
            let answer = self.model_step(step)?;
            self.step = step;
            let resp = match answer {
                Err(f) => {
                    self.session
                        .append(self.rt, &events_for_turn(self.rt, &self.path, step, None, Some(&f.message)))?;
                    let kind = if f.invalid_output { FailureKind::InvalidOutput } else { FailureKind::ModelError };
                    return Ok(self.failed(kind, f.message));
                }
                Ok(r) => r,
            };
            self.session.append(self.rt, &events_for_turn(self.rt, &self.path, step, Some(&resp), None))?;
            self.usage.turns += 1;
            self.usage.input_tokens += resp.usage.input_tokens + resp.usage.cache_read + resp.usage.cache_write;
            self.usage.output_tokens += resp.usage.output_tokens;
            self.usage.cost_usd += self.pricing.cost(&resp.usage);
            self.worked = true;
            if !resp.text.trim().is_empty() {
                self.last_text = Some(resp.text.clone());
            }
            if let Some(r) = &resp.refusal {
                return Ok(self.failed(FailureKind::ModelError, format!("the model refused: {r}")));
            }
            if resp.tool_calls.is_empty() {
                if self.auto && tools::looks_like_text_tool_call(&resp.text, &self.tools) {
                    // The model writes its calls as text: JSON actions from now on.
                    self.rt.note(format!("{}: the model wrote a tool call as text; using JSON actions", self.path));
                    self.json = true;
                    self.auto = false;
                    continue;
                }
                if let Some(cut) = resp.incomplete_tool_calls.first() {
                    self.messages.push(Message::from_response(&resp));
                    self.messages.push(Message::user(format!(
                        "Your call of {} was cut off at the output token limit; call it again with shorter arguments.",
                        cut.name
                    )));
                    continue;
                }
                match self.final_output(&resp) {
                    Ok(output) => {
                        return Ok(TypedResult::Completed { output, usage: self.usage });
                    }
                    Err(problem) if !self.repaired => {
                        self.repaired = true;
                        self.messages.push(Message::from_response(&resp));
                        self.messages.push(Message::user(format!(
                            "Your final answer does not match the required output schema: {problem}. Reply again with \
                             only the corrected JSON value."
                        )));
                        continue;
                    }
                    Err(problem) => {
                        return Ok(self.failed(
                            FailureKind::InvalidOutput,
                            format!("the final answer does not match the output schema: {problem}"),
                        ));
                    }
                }
            }
            self.messages.push(Message::from_response(&resp));
            let results = self.run_tools(step, &resp.tool_calls)?;
            self.step = step + resp.tool_calls.len() as u32;
            self.session.append(self.rt, &events_for_tools(self.rt, &self.path, step, &resp.tool_calls, &results))?;
            let parts = resp
                .tool_calls
                .iter()
                .zip(results)
                .map(|(c, r)| Part::ToolResult { tool_use_id: c.id.clone(), content: r.content, is_error: r.is_error })
                .collect::<Vec<_>>();
            self.messages.push(Message::tool_results(parts));
        }
    }

    fn failed(&self, kind: FailureKind, message: String) -> TypedResult {
        TypedResult::Failed { kind, message, attempts: 1, usage: self.usage }
    }

    fn out_of_budget(&self, reason: String) -> TypedResult {
        if self.worked {
            let output = self.last_text.clone().map_or(Value::Null, Value::String);
            TypedResult::Partial { output, reason, usage: self.usage }
        } else {
            self.failed(FailureKind::BudgetExceeded, reason)
        }
    }

    fn final_output(&self, resp: &ChatResponse) -> Result<Value, String> {
        let Some(schema) = &self.start.output_schema else {
            return Ok(Value::String(resp.text.clone()));
        };
        let v = extract_json(&resp.text)?;
        nocturne_provider::schema::validate(schema, &v).map_err(|errs| errs.join("; "))?;
        Ok(v)
    }

    /// Runs a turn's tool calls (steps `step+1 ..`): the others in order,
    /// then the `spawn_agent` calls in parallel. Results in call order.
    fn run_tools(&mut self, step: u32, calls: &[ToolCall]) -> Result<Vec<ToolResultText>, RuntimeError> {
        let mut results: Vec<Option<ToolResultText>> = vec![None; calls.len()];
        for (i, c) in calls.iter().enumerate() {
            if c.name != SPAWN {
                let r = self.run_tool(step + 1 + i as u32, c)?;
                self.usage.tool_calls += 1;
                results[i] = Some(r);
            }
        }
        let spawns: Vec<(usize, &ToolCall)> = calls.iter().enumerate().filter(|(_, c)| c.name == SPAWN).collect();
        if !spawns.is_empty() {
            let left = self.left();
            let n = spawns.len();
            let queue = Mutex::new(spawns.iter().map(|(i, c)| (*i, *c)).collect::<std::collections::VecDeque<_>>());
            let done: Mutex<Vec<(usize, SpawnOutcome)>> = Mutex::new(Vec::new());
            let workers = n.min(self.rt.setup.runtime.max_parallel.max(1));
            let this = &*self;
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some((i, call)) = next else { break };
                        let r = this.run_spawn(step + 1 + i as u32, call, &left, n);
                        if let Ok(mut d) = done.lock() {
                            d.push((i, r));
                        }
                    });
                }
            });
            let mut done = done.into_inner().unwrap_or_default();
            done.sort_by_key(|(i, _)| *i);
            for (i, r) in done {
                let (text, usage) = r?;
                self.usage.add(&usage);
                self.usage.tool_calls += 1;
                results[i] = Some(text);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(ToolResultText { content: "no result".into(), is_error: true }))
            .collect())
    }

    fn tool_span(&self, step: u32, name: &str, call_id: &str, started: SystemTime, error: Option<String>) {
        self.rt.tracer.record(Span {
            name: format!("execute_tool {name}"),
            id: span_id(&self.rt.run_id, &format!("{}#{step}#tool", self.path)),
            parent: Some(span_id(&self.rt.run_id, &format!("{}#agent", self.path))),
            start: started,
            end: SystemTime::now(),
            attrs: vec![
                ("gen_ai.operation.name", json!("execute_tool")),
                ("gen_ai.tool.name", json!(name)),
                ("gen_ai.tool.call.id", json!(call_id)),
                ("gen_ai.conversation.id", json!(self.start.session)),
                ("nocturne.step", json!(format!("{}#{step}", self.path))),
            ],
            error,
        });
    }

    /// A tool call other than `spawn_agent`. In flight when the process
    /// died: re-issued if the tool is idempotent, else `unknown_outcome`.
    fn run_tool(&self, step: u32, call: &ToolCall) -> Result<ToolResultText, RuntimeError> {
        let digest = sha(&[call.name.as_bytes(), call.input.to_string().as_bytes()]);
        if let Some(e) = self.rt.replayed(&self.path, step, FINISHED) {
            if e.digest != digest {
                return Err(diverged(self.rt, &self.path, step, "the journaled tool call is not this one"));
            }
            return Ok(tool_body(&e.body));
        }
        let offered = self.tools.iter().any(|t| t.name == call.name);
        let mcp = self.rt.mcp.tool(&call.name).filter(|_| offered);
        let idempotent = match call.name.as_str() {
            MEMORY_SEARCH => true,
            REPORT_OUTCOME => false,
            _ => mcp.is_some_and(|t| t.idempotent),
        };
        let in_flight = self.rt.replayed(&self.path, step, STARTED).is_some();
        if in_flight && !idempotent {
            let r = ToolResultText {
                content: json!({"error": "unknown_outcome", "message": format!(
                    "the process running this call of {} stopped before its result was recorded; it may or may not \
                     have taken effect, and it is not idempotent, so it was not made again", call.name)})
                .to_string(),
                is_error: true,
            };
            self.rt.journal(entry(&self.path, step, FINISHED, kind::TOOL, &digest, json!({
                "content": r.content, "is_error": true, "outcome": "unknown_outcome", "elapsed_ms": 0, "t_ms": self.t_ms()})))?;
            self.rt.note(format!(
                "{}#{step}: {} was in flight when the process stopped: unknown_outcome",
                self.path, call.name
            ));
            return Ok(r);
        }
        if self.rt.cancelled() {
            return Ok(ToolResultText { content: "not run: the run was cancelled".into(), is_error: true });
        }
        if !in_flight {
            self.rt.crash_point(&self.path, step, "before_tool");
            self.rt.journal(entry(
                &self.path,
                step,
                STARTED,
                kind::TOOL,
                &digest,
                json!({
                "name": call.name, "call_id": call.id, "input": call.input, "idempotent": idempotent}),
            ))?;
            self.rt.crash_point(&self.path, step, "tool_started");
        }
        self.rt.emit(Progress::ToolStarted { path: self.path.clone(), step, tool: call.name.clone() });
        let started = SystemTime::now();
        let t0 = Instant::now();
        let r = if !offered {
            let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
            ToolResultText {
                content: format!("unknown tool {}; the tools are: {}", call.name, names.join(", ")),
                is_error: true,
            }
        } else {
            match call.name.as_str() {
                MEMORY_SEARCH => self.memory_search(&call.input),
                REPORT_OUTCOME => self.report_outcome(&call.input),
                _ => match mcp {
                    Some(t) => match self.rt.mcp.call(t, &call.input) {
                        Ok(o) => ToolResultText { content: o.content, is_error: o.is_error },
                        Err(e) => ToolResultText { content: format!("the tool call failed: {e}"), is_error: true },
                    },
                    None => ToolResultText { content: format!("tool {} is not available", call.name), is_error: true },
                },
            }
        };
        self.rt.crash_point(&self.path, step, "after_tool");
        let outcome = if in_flight {
            "reissued"
        } else if r.is_error {
            "error"
        } else {
            "ok"
        };
        self.rt.journal(entry(
            &self.path,
            step,
            FINISHED,
            kind::TOOL,
            &digest,
            json!({
            "name": call.name, "content": r.content, "is_error": r.is_error, "outcome": outcome,
            "elapsed_ms": ms(t0.elapsed()), "t_ms": self.t_ms()}),
        ))?;
        self.rt.crash_point(&self.path, step, "after_tool_journal");
        self.rt.emit(Progress::ToolFinished {
            path: self.path.clone(),
            step,
            tool: call.name.clone(),
            is_error: r.is_error,
        });
        self.tool_span(step, &call.name, &call.id, started, r.is_error.then(|| "tool_error".to_string()));
        Ok(r)
    }

    fn memory_search(&self, input: &Value) -> ToolResultText {
        let q = input.get("query").and_then(Value::as_str).unwrap_or("");
        let k = input.get("k").and_then(Value::as_u64).unwrap_or(5).clamp(1, 20) as usize;
        match self.rt.scoped().memory_search(q, k, None, None) {
            Ok(hits) if hits.is_empty() => ToolResultText { content: "no memory matches".into(), is_error: false },
            Ok(hits) => ToolResultText {
                content: hits
                    .iter()
                    .map(|h| format!("- [{}] {} ({})", h.kind, h.text, h.id))
                    .collect::<Vec<_>>()
                    .join("\n"),
                is_error: false,
            },
            Err(e) => ToolResultText { content: format!("memory search failed: {e}"), is_error: true },
        }
    }

    fn report_outcome(&self, input: &Value) -> ToolResultText {
        let set: Vec<String> = input
            .get("set")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let session = match input.get("session").and_then(Value::as_str) {
            Some(s) if s.starts_with(&format!("{}/", self.rt.run_id)) => s.to_string(),
            Some(s) => {
                return ToolResultText { content: format!("session {s} is not a session of this run"), is_error: true }
            }
            None => self.start.session.clone(),
        };
        let req = LogOutcome {
            session,
            task: None,
            set,
            source: Some("model".into()),
            by: Some(format!("agent:{}", self.start.name)),
            comment: input.get("comment").and_then(Value::as_str).map(str::to_string),
        };
        match self.rt.scoped().log_outcome(&req) {
            Ok(o) => ToolResultText { content: format!("recorded {} outcome(s)", o.len()), is_error: false },
            Err(e) => ToolResultText { content: format!("not recorded: {e}"), is_error: true },
        }
    }

    /// A `spawn_agent` call: the child runs (with its retries) under its
    /// share of what this agent has left; its typed result is the call's result.
    fn run_spawn(
        &self,
        step: u32,
        call: &ToolCall,
        left: &Budget,
        siblings: usize,
    ) -> Result<(ToolResultText, RunUsage), RuntimeError> {
        let digest = sha(&[call.name.as_bytes(), call.input.to_string().as_bytes()]);
        let refuse = |why: String| -> Result<(ToolResultText, RunUsage), RuntimeError> {
            Ok((ToolResultText { content: why, is_error: true }, RunUsage::default()))
        };
        if let Some(e) = self.rt.replayed(&self.path, step, FINISHED) {
            if e.digest != digest {
                return Err(diverged(self.rt, &self.path, step, "the journaled spawn is not this one"));
            }
            if let Some(r) = e.body.get("result").and_then(|r| serde_json::from_value::<TypedResult>(r.clone()).ok()) {
                let usage = *r.usage();
                return Ok((spawn_text(&r), usage));
            }
            return Ok((tool_body(&e.body), RunUsage::default()));
        }
        if !self.tools.iter().any(|t| t.name == SPAWN) {
            return refuse("spawn_agent is not available here (the depth limit, or this agent's tools)".into());
        }
        let name = call.input.get("agent").and_then(Value::as_str).unwrap_or("");
        let Some(def) = self.rt.setup.agents.get(name) else {
            let known: Vec<&String> = self.rt.setup.agents.agents.keys().collect();
            return refuse(format!("unknown agent {name:?}; the agents are: {known:?}"));
        };
        let task = call.input.get("task").and_then(Value::as_str).unwrap_or("").trim().to_string();
        if task.is_empty() {
            return refuse("spawn_agent needs a non-empty `task`".into());
        }
        let context = match call.input.get("context") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Some(v),
                _ => return refuse("`context` must be a JSON object".into()),
            },
            Some(_) => return refuse("`context` must be a JSON object".into()),
        };
        let base = format!("{}/{step}", self.path);
        let allot = match self.rt.replayed(&self.path, step, STARTED) {
            Some(e) => e.body.get("budget").and_then(|b| serde_json::from_value(b.clone()).ok()).unwrap_or_default(),
            None => {
                let allot = share(left, siblings, def);
                self.rt.crash_point(&self.path, step, "before_tool");
                self.rt.journal(entry(
                    &self.path,
                    step,
                    STARTED,
                    kind::SPAWN,
                    &digest,
                    json!({
                    "name": SPAWN, "call_id": call.id, "agent": name, "task": task, "context": context,
                    "child": base, "budget": allot}),
                ))?;
                self.rt.crash_point(&self.path, step, "tool_started");
                allot
            }
        };
        self.rt.emit(Progress::ToolStarted { path: self.path.clone(), step, tool: format!("{SPAWN} {name}") });
        let started = SystemTime::now();
        let t0 = Instant::now();
        let child = Spawn {
            def,
            task,
            context,
            parent: Some(ParentLink { path: self.path.clone(), session: self.start.session.clone(), step }),
            base_path: base,
            allot,
            depth: self.sp.depth + 1,
        };
        let r = run_with_retries(self.rt, &child)?;
        self.rt.crash_point(&self.path, step, "after_tool");
        self.rt.journal(entry(
            &self.path,
            step,
            FINISHED,
            kind::SPAWN,
            &digest,
            json!({
            "name": SPAWN, "result": r, "elapsed_ms": ms(t0.elapsed()), "t_ms": self.t_ms()}),
        ))?;
        self.rt.crash_point(&self.path, step, "after_tool_journal");
        let failed = matches!(r, TypedResult::Failed { .. });
        self.rt.emit(Progress::ToolFinished { path: self.path.clone(), step, tool: SPAWN.into(), is_error: failed });
        self.tool_span(step, SPAWN, &call.id, started, failed.then(|| "agent_failed".to_string()));
        Ok((spawn_text(&r), *r.usage()))
    }
}

/// A finished `spawn_agent` call: what the parent's model sees, and what the child spent.
type SpawnOutcome = Result<(ToolResultText, RunUsage), RuntimeError>;

/// A tool's result as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolResultText {
    pub content: String,
    pub is_error: bool,
}

fn tool_body(b: &Value) -> ToolResultText {
    ToolResultText {
        content: b.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
        is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn spawn_text(r: &TypedResult) -> ToolResultText {
    ToolResultText {
        content: serde_json::to_string(r).unwrap_or_default(),
        is_error: matches!(r, TypedResult::Failed { .. }),
    }
}

fn parse_model_body(b: &Value) -> Result<ChatResponse, ModelFailure> {
    if let Some(r) = b.get("response").and_then(|r| serde_json::from_value::<ChatResponse>(r.clone()).ok()) {
        return Ok(r);
    }
    let error = b.get("error");
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("model error");
    let invalid_output = error.and_then(|e| e.get("invalid_output")).and_then(Value::as_bool).unwrap_or(false);
    Err(ModelFailure { message: message.to_string(), invalid_output })
}
