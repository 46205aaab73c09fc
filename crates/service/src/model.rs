//! Model-backed dreams: the service side of the model pass. The dream
//! engine plans the requests and reads the answers
//! ([`nocturne_dream::model`]); this module makes the calls — concurrently,
//! with the provider's retries and its one repair request for a malformed
//! answer — and measures them. Everything sent is redacted first (the
//! engine builds the prompts from redacted text; the requests are redacted
//! again here). A request that fails is reported in the proposal's note and
//! stats with its error code; the deterministic ops are kept.

use crate::{DreamSpec, ErrorCode, Result, Service, ServiceError};
use nocturne_core::secrets::redact;
use nocturne_dream::model::{answer_schema, plan_requests, Budget, ModelAnswer, ModelPass, RequestPlan, SCHEMA_NAME};
use nocturne_dream::{DreamConfig, DreamError, Snapshot};
use nocturne_provider::{
    ask_json, preview, ChatModel, ChatRequest, JsonAnswer, JsonSchema, Meter, ModelConfig, Provider, ProviderError,
    RequestPreview, Usage,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The model a service dreams with.
pub struct ModelDream {
    pub model: Arc<dyn ChatModel>,
    /// Budget, concurrency, streaming and prices come from here.
    pub config: ModelConfig,
    /// The meter the model records into (a [`nocturne_provider::Model`]'s
    /// own), to report its retries; without one they are counted from the
    /// answers that arrived.
    pub meter: Option<Arc<Meter>>,
    /// Called as requests finish: (finished, total). A terminal shows a
    /// progress bar with it.
    pub progress: Option<Progress>,
}

/// A progress callback: (requests finished, requests in all).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

impl ModelDream {
    pub fn new(model: Arc<dyn ChatModel>, config: ModelConfig) -> Self {
        ModelDream { model, config, meter: None, progress: None }
    }

    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn with_meter(mut self, meter: Arc<Meter>) -> Self {
        self.meter = Some(meter);
        self
    }
}

/// The requests a model dream would send, and nothing sent.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Each request as its first attempt would go on the wire.
    pub requests: Vec<RequestPreview>,
    /// Sessions read, and those left out by `max_input_tokens`.
    pub sessions: usize,
    pub sessions_left_out: usize,
    /// The engine's estimate of the input tokens of all requests.
    pub input_tokens: usize,
}

/// The error code of a provider error (see the error table in the README).
pub fn provider_code(e: &ProviderError) -> ErrorCode {
    match e {
        ProviderError::Timeout { .. } => ErrorCode::ModelTimeout,
        ProviderError::RateLimited { .. } => ErrorCode::ModelRateLimited,
        ProviderError::Refused { .. } => ErrorCode::ModelRefused,
        ProviderError::Server { .. } => ErrorCode::ModelServerError,
        ProviderError::Malformed { .. } => ErrorCode::ModelMalformed,
        ProviderError::ModelRefusal { .. } => ErrorCode::ModelDeclined,
        ProviderError::Transport { .. } => ErrorCode::ModelUnreachable,
        _ => ErrorCode::ModelConfig,
    }
}

impl From<ProviderError> for ServiceError {
    fn from(e: ProviderError) -> Self {
        ServiceError::Model { code: provider_code(&e), message: e.to_string() }
    }
}

pub(crate) fn not_configured() -> ServiceError {
    ServiceError::Model { code: ErrorCode::ModelConfig, message: "no model is configured for model dreams".into() }
}

fn dream_error(e: DreamError) -> ServiceError {
    match e {
        DreamError::Budget(m) => {
            ServiceError::Model { code: ErrorCode::ModelConfig, message: format!("model budget: {m}") }
        }
        other => ServiceError::spec(&other),
    }
}

/// The engine's budget under `config`: the context window minus the
/// answer's limit per request, `max_input_tokens` per dream.
pub(crate) fn budget(config: &ModelConfig) -> Budget {
    Budget {
        request_input_tokens: config.context_window().saturating_sub(config.max_output_tokens) as usize,
        max_input_tokens: config.max_input_tokens.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
    }
}

/// The chat requests of a plan (redacted once more: nothing secret is sent).
pub(crate) fn requests(plan: &RequestPlan, config: &ModelConfig) -> Vec<ChatRequest> {
    plan.batches
        .iter()
        .map(|b| {
            let mut r = ChatRequest::new(redact(&b.system), redact(&b.user));
            let hosted = matches!(config.provider, Provider::Anthropic | Provider::OpenAi);
            let schema = if hosted { answer_schema() } else { b.answer_schema_bounded() };
            r.response_schema = Some(JsonSchema { name: SCHEMA_NAME.into(), schema });
            r.temperature = Some(0.0);
            r.stream = config.stream;
            r
        })
        .collect()
}

pub(crate) struct ModelRun {
    pub pass: ModelPass,
    pub stats: BTreeMap<String, Value>,
    pub note: Option<String>,
}

/// Sends every batch of the plan (at most `config.concurrency` at once;
/// the dream lock renews itself meanwhile) and returns the model pass over the answers, the figures and, when some
/// request failed, the note saying so.
pub(crate) fn run(m: &ModelDream, snapshot: &Snapshot, config: &DreamConfig) -> Result<ModelRun> {
    m.config.validate()?;
    let plan = plan_requests(snapshot, config, budget(&m.config)).map_err(dream_error)?;
    let reqs = requests(&plan, &m.config);
    let before = m.meter.as_ref().map(|x| x.totals());
    let started = std::time::Instant::now();
    let results: Mutex<Vec<Option<std::result::Result<JsonAnswer, ProviderError>>>> =
        Mutex::new(vec![None; reqs.len()]);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    if let Some(p) = &m.progress {
        p(0, reqs.len());
    }
    let workers = m.config.concurrency.clamp(1, reqs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(req) = reqs.get(i) else { break };
                let r = ask_json(&*m.model, req);
                if let Ok(mut all) = results.lock() {
                    if let Some(slot) = all.get_mut(i) {
                        *slot = Some(r);
                    }
                }
                let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(p) = &m.progress {
                    p(finished, reqs.len());
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let results = results.into_inner().unwrap_or_default();
    let mut answers = Vec::new();
    let mut usage = Usage::default();
    let (mut attempts, mut calls, mut repaired) = (0u64, 0u64, 0u64);
    let mut failures: Vec<(usize, ProviderError)> = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(a)) => {
                usage.add(&a.usage);
                calls += a.responses.len() as u64;
                attempts += a.responses.iter().map(|r| u64::from(r.attempts.max(1))).sum::<u64>();
                repaired += u64::from(a.repaired);
                answers.push(ModelAnswer { batch: i, value: a.value });
            }
            Some(Err(e)) => failures.push((i, e)),
            None => failures.push((i, ProviderError::Config("the request was not sent".into()))),
        }
    }
    // With the client's meter, the figures include the calls whose answer
    // was unusable (a cut-off or malformed answer is still billed).
    let retries = match (&before, m.meter.as_ref().map(|x| x.totals())) {
        (Some(b), Some(a)) => {
            usage = Usage {
                input_tokens: a.usage.input_tokens.saturating_sub(b.usage.input_tokens),
                output_tokens: a.usage.output_tokens.saturating_sub(b.usage.output_tokens),
                cache_read: a.usage.cache_read.saturating_sub(b.usage.cache_read),
                cache_write: a.usage.cache_write.saturating_sub(b.usage.cache_write),
            };
            a.retries.saturating_sub(b.retries)
        }
        _ => attempts.saturating_sub(calls),
    };
    let cost = m.config.pricing().cost(&usage);
    let mut stats: BTreeMap<String, Value> = BTreeMap::new();
    stats.insert("model.provider".into(), json!(m.config.provider.name()));
    stats.insert("model.model".into(), json!(m.config.model));
    stats.insert("model.requests".into(), json!(reqs.len()));
    stats.insert("model.failed_requests".into(), json!(failures.len()));
    stats.insert("model.repaired".into(), json!(repaired));
    stats.insert("model.retries".into(), json!(retries));
    stats.insert("model.input_tokens".into(), json!(usage.input_tokens + usage.cache_read + usage.cache_write));
    stats.insert("model.output_tokens".into(), json!(usage.output_tokens));
    stats.insert("model.cost_usd".into(), json!((cost * 1e6).round() / 1e6));
    stats.insert("model.elapsed_ms".into(), json!(elapsed.as_millis() as u64));
    stats.insert("model.sessions_left_out".into(), json!(plan.sessions_left_out.len()));
    if !failures.is_empty() {
        let codes: Vec<&str> = failures.iter().map(|(_, e)| provider_code(e).table().0).collect();
        stats.insert("model.errors".into(), json!(codes));
    }
    let note = (!failures.is_empty()).then(|| {
        let what: Vec<String> = failures
            .iter()
            .map(|(i, e)| format!("request {} of {}: {} ({})", i + 1, reqs.len(), e, provider_code(e).table().0))
            .collect();
        format!(
            "Model pass: {} of {} requests failed, so this proposal holds the deterministic ops{}. {}",
            failures.len(),
            reqs.len(),
            if failures.len() < reqs.len() { " and the model ops of the requests that answered" } else { " only" },
            what.join("; ")
        )
    });
    let note = match (note, plan.sessions_left_out.len()) {
        (n, 0) => n,
        (n, left) => {
            let budget = format!(
                "Model pass: {left} sessions were left out of the model requests by max_input_tokens ({}).",
                m.config.max_input_tokens.unwrap_or(0)
            );
            Some(match n {
                Some(n) => format!("{n}\n{budget}"),
                None => budget,
            })
        }
    };
    Ok(ModelRun { pass: ModelPass { batches: plan.batches, answers }, stats, note })
}

impl Service {
    /// The requests a model dream over `spec` would send under `config`,
    /// exactly as their first attempt would go on the wire. Nothing is
    /// sent, no key is read, nothing is stored.
    pub(crate) fn dream_dry_run(&self, spec: &DreamSpec, config: &ModelConfig) -> Result<DryRun> {
        config.validate()?;
        let (snapshot, dream_config, _) = self.dream_snapshot(spec)?;
        let plan = plan_requests(&snapshot, &dream_config, budget(config)).map_err(dream_error)?;
        let requests =
            requests(&plan, config).iter().map(|r| preview(config, r)).collect::<std::result::Result<_, _>>()?;
        Ok(DryRun {
            requests,
            sessions: snapshot.sessions.len(),
            sessions_left_out: plan.sessions_left_out.len(),
            input_tokens: plan.input_tokens,
        })
    }
}
