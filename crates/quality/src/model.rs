//! Scoring a **model-backed dream** like the deterministic engine (cargo
//! feature `model`).
//!
//! For each source (its batch over all sessions; with
//! [`ModelRun::projects`] also per project), through the service only: a
//! fresh store, the ingest, then two dreams over the same sessions with the
//! CLI defaults — the deterministic one (`nocturne dream`) and the model
//! one (`nocturne dream --model ...`) — each scored by [`crate::score`].
//! The model dream's report adds what the model did: its ops by pass
//! (deterministic, model, both when a model op joined a deterministic
//! finding), the model ops' classes, the model's figures from the
//! proposal's stats (requests, tokens, cost, ops answered, dropped as
//! unverified / malformed / unknown target, retries, repairs, sessions left
//! out by the budget) and the raw answers (to see what was dropped).
//!
//! Every source's model calls share one deadline ([`ModelRun::source_timeout`]):
//! each HTTP attempt may take only the time left, and none starts after it
//! ([`Deadline`]), so a slow local model cannot run a suite over its time.
//! A source whose dream did not finish in time says so; the verification
//! of model ops is the product's own, unchanged.

use crate::run::{self, Ingested, Input};
use crate::score::{self, Class, OpReport, SourceReport};
use crate::{Expectations, Result};
use nocturne_core::Proposal;
use nocturne_provider::{ChatModel, ChatRequest, ChatResponse, Delta, Meter, Model, ModelConfig, ProviderError};
use nocturne_service::{Access, DreamSpec, ModelDream};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the suite runs the model.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// The `[model]` configuration of the dream (budget, prices...).
    pub config: ModelConfig,
    /// The time all model calls of one source's dream may take together.
    pub source_timeout: Duration,
    /// Also dream per project (claude-code-log), not only over all sessions.
    pub projects: bool,
    /// `--min-support` of both dreams (default: the CLI's).
    pub min_support: Option<u32>,
    /// Answers recorded by an earlier run, by `source [batch]`: the model
    /// is then a [`Replay`] of them (nothing is sent), to re-score the same
    /// answers after a change to the checks.
    pub replay: BTreeMap<String, Recorded>,
}

/// What an earlier run recorded for one batch.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The answers as [`Deadline::answers`] recorded them.
    pub answers: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A [`ChatModel`] that gives recorded answers in order (a recorded
/// error, or running out, is a timeout).
pub struct Replay {
    recorded: Recorded,
    next: Mutex<usize>,
    endpoint: String,
}

impl Replay {
    pub fn new(recorded: Recorded, endpoint: String) -> Self {
        Replay { recorded, next: Mutex::new(0), endpoint }
    }
}

impl ChatModel for Replay {
    fn chat(&self, _: &ChatRequest) -> std::result::Result<ChatResponse, ProviderError> {
        let i = self.next.lock().map(|mut n| {
            *n += 1;
            *n - 1
        });
        let timeout = || ProviderError::Timeout { endpoint: self.endpoint.clone(), secs: 0.0 };
        let i = i.map_err(|_| timeout())?;
        let a = self.recorded.answers.get(i).ok_or_else(timeout)?;
        let text = match a.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((head, text)) if !head.starts_with("error") => text.to_string(),
            _ => return Err(timeout()),
        };
        let mut r = ChatResponse { text, attempts: 1, ..ChatResponse::default() };
        if i == 0 {
            r.usage.input_tokens = self.recorded.input_tokens;
            r.usage.output_tokens = self.recorded.output_tokens;
        }
        Ok(r)
    }

    fn chat_stream(
        &self,
        req: &ChatRequest,
        _: &mut dyn FnMut(&Delta),
    ) -> std::result::Result<ChatResponse, ProviderError> {
        self.chat(req)
    }
}

/// A [`ChatModel`] whose calls share one deadline: each attempt is a
/// [`Model`] whose timeout is the time left; after the deadline nothing is
/// sent and the call fails as a timeout. Records every answer's text.
pub struct Deadline {
    config: ModelConfig,
    meter: Arc<Meter>,
    until: Instant,
    answers: Mutex<Vec<String>>,
}

impl Deadline {
    pub fn new(config: ModelConfig, meter: Arc<Meter>, within: Duration) -> Self {
        Deadline { config, meter, until: Instant::now() + within, answers: Mutex::new(Vec::new()) }
    }

    fn model(&self) -> std::result::Result<Model, ProviderError> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left < Duration::from_secs(1) {
            return Err(ProviderError::Timeout { endpoint: self.config.endpoint(), secs: 0.0 });
        }
        let mut c = self.config.clone();
        c.timeout_secs = left.as_secs_f64().min(self.config.timeout_secs);
        Ok(Model::from_config(c)?.with_meter(self.meter.clone()))
    }

    fn record(&self, r: &std::result::Result<ChatResponse, ProviderError>) {
        let text = match r {
            Ok(a) => format!("[{:?}, {} output tokens] {}", a.stop_reason, a.usage.output_tokens, a.text),
            Err(e) => format!("[error] {e}"),
        };
        if let Ok(mut all) = self.answers.lock() {
            all.push(text);
        }
    }

    /// The answers received so far (text, or the error), in order.
    pub fn answers(&self) -> Vec<String> {
        self.answers.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl ChatModel for Deadline {
    fn chat(&self, req: &ChatRequest) -> std::result::Result<ChatResponse, ProviderError> {
        let r = self.model().and_then(|m| m.chat(req));
        self.record(&r);
        r
    }

    fn chat_stream(
        &self,
        req: &ChatRequest,
        on_delta: &mut dyn FnMut(&Delta),
    ) -> std::result::Result<ChatResponse, ProviderError> {
        let r = self.model().and_then(|m| m.chat_stream(req, on_delta));
        self.record(&r);
        r
    }
}

/// The model's figures of one dream, from the proposal's stats.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelFigures {
    pub requests: u64,
    pub failed_requests: u64,
    /// Error codes of the failed requests.
    pub errors: Vec<String>,
    pub retries: u64,
    pub repaired: u64,
    pub ops_answered: u64,
    pub dropped_unverified: u64,
    /// Verified quotes that share no content word with the op's text.
    pub dropped_unrelated: u64,
    pub dropped_malformed: u64,
    pub dropped_unknown_target: u64,
    pub merged_across_batches: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub sessions_left_out: u64,
    pub elapsed_ms: u64,
}

impl ModelFigures {
    pub fn from_stats(stats: &BTreeMap<String, Value>) -> Self {
        let n = |k: &str| stats.get(&format!("model.{k}")).and_then(Value::as_u64).unwrap_or(0);
        ModelFigures {
            requests: n("requests"),
            failed_requests: n("failed_requests"),
            errors: stats
                .get("model.errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            retries: n("retries"),
            repaired: n("repaired"),
            ops_answered: n("ops_answered"),
            dropped_unverified: n("dropped_unverified"),
            dropped_unrelated: n("dropped_unrelated"),
            dropped_malformed: n("dropped_malformed"),
            dropped_unknown_target: n("dropped_unknown_target"),
            merged_across_batches: n("merged_across_batches"),
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            cost_usd: stats.get("model.cost_usd").and_then(Value::as_f64).unwrap_or(0.0),
            sessions_left_out: n("sessions_left_out"),
            elapsed_ms: n("elapsed_ms"),
        }
    }
}

/// Which pass an op comes from: `model`, `both` (a deterministic finding
/// the model repeated, evidence united), or `deterministic`.
pub fn op_origin(pass: &str, tags: &[String]) -> &'static str {
    if pass == nocturne_dream::model::PASS_NAME {
        "model"
    } else if tags.iter().any(|t| t == nocturne_dream::model::PASS_NAME) {
        "both"
    } else {
        "deterministic"
    }
}

/// One source's batch, dreamt without and with the model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSourceReport {
    pub source: String,
    pub batch: String,
    /// The deterministic dream over the same sessions.
    pub deterministic: SourceReport,
    /// The model dream, scored the same way.
    pub with_model: SourceReport,
    /// Ops of the model dream by origin (see [`op_origin`]).
    pub ops_by_pass: BTreeMap<String, usize>,
    /// The model dream's ops that the model proposed or joined.
    pub model_ops: Vec<OpReport>,
    pub model: ModelFigures,
    /// The model dream's note (failed requests, sessions left out).
    pub note: Option<String>,
    /// The raw answers (or errors) of every model call, in order.
    pub answers: Vec<String>,
    /// Why the model dream could not run, if it could not.
    pub error: Option<String>,
    /// Sessions the model requests held.
    pub sessions_read: u64,
    pub model_dream_ms: u64,
}

impl ModelSourceReport {
    /// Model ops classified `wrong`, `junk`, as lessons, acceptable.
    pub fn model_classes(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for o in &self.model_ops {
            let k = match o.class {
                Class::Lesson { .. } => "lesson",
                Class::Acceptable { .. } => "acceptable",
                Class::Wrong { .. } => "wrong",
                Class::Junk { .. } => "junk",
                Class::Maintenance => "maintenance",
            };
            *out.entry(k).or_default() += 1;
        }
        out
    }
}

impl Ingested {
    /// `nocturne dream --model ... --sessions N` (N as in
    /// [`Ingested::dream`]) with `model` attached to the service.
    pub fn dream_with_model(&self, model: ModelDream, min_support: Option<u32>) -> Result<(Proposal, u64)> {
        let spec = DreamSpec {
            sessions: Some(self.sessions.len().max(run::DEFAULT_SESSIONS)),
            min_support,
            ..DreamSpec::default()
        };
        let svc = self.service.clone().with_model(model);
        let started = Instant::now();
        let (p, _) = svc.scoped(Access::local_as(run::AUTHOR)).dream_with_model(&spec, false)?;
        Ok((p, u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)))
    }

    fn dream_min_support(&self, min_support: Option<u32>) -> Result<(Proposal, u64)> {
        let spec = DreamSpec {
            sessions: Some(self.sessions.len().max(run::DEFAULT_SESSIONS)),
            min_support,
            ..DreamSpec::default()
        };
        let started = Instant::now();
        let (p, _) = self.service.scoped(Access::local_as(run::AUTHOR)).dream(&spec, false)?;
        Ok((p, u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)))
    }
}

/// Ingests one batch of `ex`'s source and dreams over it without and with
/// the model (see the module docs). A batch that cannot be ingested or
/// dreamt is a report saying so.
pub fn evaluate_source(ex: &Expectations, data: &Path, run: &ModelRun) -> Vec<ModelSourceReport> {
    let root = data.join(&ex.source);
    let mut out = Vec::new();
    let mut batches = crate::batches(ex, &root);
    if !run.projects {
        batches.truncate(1);
    }
    for (batch, dir) in batches {
        out.push(evaluate_batch(ex, &root, &batch, &dir, run));
    }
    out
}

fn evaluate_batch(
    ex: &Expectations,
    root: &Path,
    batch: &score::Batch,
    dir: &Path,
    run: &ModelRun,
) -> ModelSourceReport {
    let started = Instant::now();
    let failed = |why: String| {
        let empty = score::empty(ex, batch, why.clone());
        ModelSourceReport {
            source: ex.source.clone(),
            batch: batch.name.clone(),
            deterministic: empty.clone(),
            with_model: empty,
            ops_by_pass: BTreeMap::new(),
            model_ops: Vec::new(),
            model: ModelFigures::default(),
            note: None,
            answers: Vec::new(),
            error: Some(why),
            sessions_read: 0,
            model_dream_ms: 0,
        }
    };
    if !dir.is_dir() {
        return failed(format!("the folder {} is missing", dir.display()));
    }
    let ing = match run::ingest(&Input::Folder(dir.to_path_buf())) {
        Ok(i) => i,
        Err(e) => return failed(e.to_string()),
    };
    if ing.sessions.is_empty() {
        let r = score::score(ex, root, batch, &ing, None, 0, started);
        let mut f = failed("no session was stored".into());
        f.deterministic = r.clone();
        f.with_model = r;
        return f;
    }
    let det = match ing.dream_min_support(run.min_support) {
        Ok((p, ms)) => score::score(ex, root, batch, &ing, Some(&p), ms, started),
        Err(e) => return failed(format!("deterministic dream: {e}")),
    };
    let key = format!("{} [{}]", ex.source, batch.name);
    let model_started = Instant::now();
    let (result, answers) = match run.replay.get(&key) {
        Some(rec) => {
            let model = Arc::new(Replay::new(rec.clone(), run.config.endpoint()));
            (ing.dream_with_model(ModelDream::new(model, run.config.clone()), run.min_support), rec.answers.clone())
        }
        None => {
            let meter = Arc::new(Meter::new(run.config.pricing()));
            let model = Arc::new(Deadline::new(run.config.clone(), meter.clone(), run.source_timeout));
            let dream = ModelDream::new(model.clone(), run.config.clone()).with_meter(meter);
            (ing.dream_with_model(dream, run.min_support), model.answers())
        }
    };
    let (p, ms) = match result {
        Ok(x) => x,
        Err(e) => {
            let mut f = failed(format!("model dream: {e}"));
            f.deterministic = det;
            f.answers = answers;
            return f;
        }
    };
    let with_model = score::score(ex, root, batch, &ing, Some(&p), ms, model_started);
    let mut ops_by_pass = BTreeMap::new();
    let mut model_ops = Vec::new();
    for (op, rep) in p.ops.iter().zip(&with_model.op_details) {
        let origin = op_origin(&op.pass, &op.tags);
        *ops_by_pass.entry(origin.to_string()).or_default() += 1;
        if origin != "deterministic" {
            model_ops.push(rep.clone());
        }
    }
    let figures = ModelFigures::from_stats(&p.stats);
    // The dream reads every stored session (see `dream_with_model`); the budget may leave some out.
    let sessions_read = ing.sessions.len() as u64;
    ModelSourceReport {
        source: ex.source.clone(),
        batch: batch.name.clone(),
        deterministic: det,
        ops_by_pass,
        model_ops,
        note: p.notes.clone(),
        answers,
        error: None,
        sessions_read: sessions_read.saturating_sub(figures.sessions_left_out),
        model: figures,
        with_model,
        model_dream_ms: ms,
    }
}

/// Everything one model run of the suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct ModelQualityReport {
    pub data: String,
    pub provider: String,
    pub model: String,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: u32,
    pub context_tokens: u32,
    pub source_timeout_s: u64,
    pub sources: Vec<ModelSourceReport>,
    /// Sources not run because the run's total time was spent.
    pub not_run: Vec<String>,
    pub elapsed_ms: u64,
}

fn secs(ms: u64) -> String {
    format!("{:.0} s", ms as f64 / 1000.0)
}

fn by_pass(m: &BTreeMap<String, usize>) -> String {
    let n = |k: &str| m.get(k).copied().unwrap_or(0);
    format!("{} det + {} model + {} both", n("deterministic"), n("model"), n("both"))
}

impl ModelQualityReport {
    /// The table BENCHMARKS.md carries: one row per batch.
    pub fn table(&self) -> String {
        let mut t = String::from(
            "| source | batch | sessions (read by the model) | ops (by pass) | recurring found: deterministic → with model | \
             all lessons: det → model | model ops: lesson / acceptable / junk / wrong | leaked | secrets | \
             model ops answered | dropped unverified / unrelated / malformed | requests (failed) | \
             input / output tokens | model time |\n|---|---|---|---|---|---|---|---:|---:|---:|---|---|---|---:|\n",
        );
        for s in &self.sources {
            let c = s.model_classes();
            let n = |k: &str| c.get(k).copied().unwrap_or(0);
            let failed = if s.model.failed_requests > 0 {
                format!("{} ({}: {})", s.model.requests, s.model.failed_requests, s.model.errors.join(", "))
            } else {
                s.model.requests.to_string()
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} ({}) | {} | {} → {} | {} → {} | {} / {} / {} / {} | {} | {} | {} | {} / {} / {} | {} | {} / {} | {} |",
                s.source,
                s.batch,
                s.with_model.sessions,
                s.sessions_read,
                if s.error.is_some() { "-".into() } else { format!("{} ({})", s.with_model.ops, by_pass(&s.ops_by_pass)) },
                s.deterministic.recurring,
                s.with_model.recurring,
                s.deterministic.all,
                s.with_model.all,
                n("lesson"),
                n("acceptable"),
                n("junk"),
                n("wrong"),
                s.with_model.leaked,
                s.with_model.secrets,
                s.model.ops_answered,
                s.model.dropped_unverified,
                s.model.dropped_unrelated,
                s.model.dropped_malformed,
                failed,
                s.model.input_tokens,
                s.model.output_tokens,
                secs(s.model_dream_ms),
            );
        }
        for s in &self.sources {
            if let Some(e) = &s.error {
                let _ = writeln!(t, "\n- {} [{}]: {}", s.source, s.batch, crate::report::cell(e, 400));
            }
        }
        if !self.not_run.is_empty() {
            let _ = writeln!(t, "\nNot run (the run's time was spent): {}.", self.not_run.join(", "));
        }
        t
    }

    /// The table, then per batch the model's ops with their class, the
    /// note, and the raw answers (cut).
    pub fn markdown(&self) -> String {
        let mut t = format!(
            "Model: {} `{}`; max_input_tokens {}, max_output_tokens {}, context {} tokens, {} s per source; \
             data {}; {} in all.\n\n",
            self.provider,
            self.model,
            self.max_input_tokens.map_or("none".into(), |m| m.to_string()),
            self.max_output_tokens,
            self.context_tokens,
            self.source_timeout_s,
            self.data,
            secs(self.elapsed_ms)
        );
        t.push_str(&self.table());
        for s in &self.sources {
            let _ = writeln!(t, "\n### {} [{}]\n", s.source, s.batch);
            if let Some(n) = &s.note {
                let _ = writeln!(t, "Note: {}\n", crate::report::cell(n, 600));
            }
            for o in &s.model_ops {
                let _ = writeln!(
                    t,
                    "- #{} {} {} support {} · {} · {}",
                    o.n,
                    o.op,
                    o.kind,
                    o.support,
                    o.class.label(),
                    crate::report::cell(&o.text, 200)
                );
            }
            for (i, a) in s.answers.iter().enumerate() {
                let _ = writeln!(t, "- answer {}: `{}`", i + 1, crate::report::cell(a, 700).replace('`', "'"));
            }
        }
        t
    }
}

/// Runs the model over the sources of `expect_dir` named in `sources`
/// (all when empty, in that order), stopping before a source when
/// `total_timeout` is spent.
pub fn run_suite(
    expect_dir: &Path,
    data: &Path,
    run: &ModelRun,
    sources: &[String],
    total_timeout: Duration,
    on_batch: &dyn Fn(&ModelSourceReport),
) -> Result<ModelQualityReport> {
    let started = Instant::now();
    let files = crate::expect::load_dir(expect_dir)?;
    let mut order: Vec<&Expectations> = Vec::new();
    if sources.is_empty() {
        order.extend(files.iter().map(|(_, e)| e));
    } else {
        for s in sources {
            match files.iter().find(|(_, e)| &e.source == s) {
                Some((_, e)) => order.push(e),
                None => {
                    return Err(crate::QualityError::Data {
                        path: expect_dir.to_path_buf(),
                        message: format!("no expectation file for the source {s:?}"),
                    })
                }
            }
        }
    }
    let mut report = ModelQualityReport {
        data: data.display().to_string(),
        provider: run.config.provider.name().into(),
        model: run.config.model.clone(),
        max_input_tokens: run.config.max_input_tokens,
        max_output_tokens: run.config.max_output_tokens,
        context_tokens: run.config.context_window(),
        source_timeout_s: run.source_timeout.as_secs(),
        sources: Vec::new(),
        not_run: Vec::new(),
        elapsed_ms: 0,
    };
    for ex in order {
        if started.elapsed() >= total_timeout {
            report.not_run.push(ex.source.clone());
            continue;
        }
        for r in evaluate_source(ex, data, run) {
            on_batch(&r);
            report.sources.push(r);
        }
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn an_op_is_the_models_when_its_pass_or_a_tag_says_so() {
        assert_eq!(op_origin("model", &[]), "model");
        assert_eq!(op_origin("recurring-failure", &["model".into()]), "both");
        assert_eq!(op_origin("recurring-failure", &["tool".into()]), "deterministic");
    }

    #[test]
    fn the_models_figures_come_from_the_proposals_stats() {
        let stats: BTreeMap<String, Value> = [
            ("model.requests", json!(2)),
            ("model.failed_requests", json!(1)),
            ("model.errors", json!(["model_timeout"])),
            ("model.dropped_unverified", json!(3)),
            ("model.dropped_unrelated", json!(1)),
            ("model.input_tokens", json!(1441)),
            ("model.cost_usd", json!(0.25)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let f = ModelFigures::from_stats(&stats);
        assert_eq!((f.requests, f.failed_requests, f.dropped_unverified, f.dropped_unrelated), (2, 1, 3, 1));
        assert_eq!(f.errors, vec!["model_timeout"]);
        assert_eq!((f.input_tokens, f.output_tokens, f.cost_usd), (1441, 0, 0.25));
    }

    #[test]
    fn a_replay_gives_the_recorded_answers_then_times_out() {
        let r = Replay::new(
            Recorded {
                answers: vec!["[EndTurn, 5 output tokens] {\"ops\": []}".into(), "[error] boom".into()],
                input_tokens: 100,
                output_tokens: 5,
            },
            "http://x/v1/chat/completions".into(),
        );
        let req = ChatRequest::new("s", "u");
        let a = r.chat(&req).unwrap();
        assert_eq!(a.text, "{\"ops\": []}");
        assert_eq!((a.usage.input_tokens, a.usage.output_tokens), (100, 5));
        assert!(matches!(r.chat(&req), Err(ProviderError::Timeout { .. })), "a recorded error");
        assert!(matches!(r.chat(&req), Err(ProviderError::Timeout { .. })), "nothing more recorded");
    }

    #[test]
    fn a_deadline_that_has_passed_sends_nothing() {
        let config = ModelConfig::new(nocturne_provider::Provider::LlamaCpp, "http://127.0.0.1:9/v1", "m");
        let d = Deadline::new(config, Arc::new(Meter::new(Default::default())), Duration::ZERO);
        let err = d.chat(&ChatRequest::new("s", "u")).unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
        assert_eq!(d.answers().len(), 1);
        assert!(d.answers()[0].starts_with("[error]"), "{:?}", d.answers());
    }
}
