//! The client: one configured model behind [`ChatModel`], with retries,
//! a concurrency limit, the JSON-schema fallback and the usage meter.

use crate::actions::chat_with_actions;
use crate::config::{ApiKey, JsonSchemaMode, ModelConfig, ToolsMode, Wire};
use crate::retry::{parse_retry_after, Clock, RetryPolicy, SystemClock};
use crate::wire::ParseOptions;
use crate::{anthropic, openai, ChatModel, ChatRequest, ChatResponse, Delta, Meter, ProviderError};
use std::fmt;
use std::io::{self, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Error bodies longer than this are cut (the message is all we need).
const ERROR_BODY_LIMIT: u64 = 1 << 20;
/// A JSON answer longer than this is refused.
const ANSWER_LIMIT: u64 = 64 << 20;

/// A model reached over HTTP: Anthropic Messages or OpenAI Chat Completions,
/// as the configuration says.
///
/// Cheap to share (`Arc<Model>`); `Send + Sync`. At most
/// `config.concurrency` calls are in flight at once; more wait.
pub struct Model {
    config: ModelConfig,
    endpoint: String,
    key: Option<ApiKey>,
    agent: ureq::Agent,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    meter: Arc<Meter>,
    gate: Gate,
    token_field: openai::TokenField,
    azure: bool,
    /// Set once an OpenAI-compatible server said it takes no `response_format`.
    schema_unsupported: AtomicBool,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("provider", &self.config.provider)
            .field("endpoint", &self.endpoint)
            .field("model", &self.config.model)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// The model `config` describes, with the key read from the environment
    /// variable `config.api_key_env` (required for Anthropic).
    pub fn from_config(config: ModelConfig) -> Result<Self, ProviderError> {
        let key = ApiKey::from_env(&config.api_key_env)?;
        Model::new(config, key)
    }

    /// The model `config` describes, with an explicit key (`None`: send none).
    pub fn new(config: ModelConfig, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        config.validate()?;
        if config.provider.wire() == Wire::Anthropic && key.is_none() {
            return Err(ProviderError::config(format!(
                "no API key: the environment variable {} is not set (Anthropic needs a key)",
                config.api_key_env
            )));
        }
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A POST is never re-sent elsewhere with the key; a redirect is reported.
            .max_redirects(0)
            .timeout_connect(Some(config.timeout().min(Duration::from_secs(30))))
            .user_agent(concat!("nocturne-provider/", env!("CARGO_PKG_VERSION")))
            .build();
        let base = config.base_url().to_string();
        Ok(Model {
            endpoint: config.endpoint(),
            key,
            agent: ureq::Agent::new_with_config(agent_config),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::with_retries(config.retries),
            meter: Arc::new(Meter::new(config.pricing())),
            gate: Gate::new(config.concurrency),
            token_field: openai::TokenField::for_base_url(&base),
            azure: openai::host_of(&base).ends_with(".azure.com"),
            schema_unsupported: AtomicBool::new(false),
            config,
        })
    }

    /// Uses `clock` for back-off waits and timing (tests: [`crate::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the retry policy built from `config.retries`.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Records into `meter` (e.g. one shared by all models of a dream).
    pub fn with_meter(mut self, meter: Arc<Meter>) -> Self {
        self.meter = meter;
        self
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Whether a key will be sent.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Whether structured answers are asked for natively (a forced tool /
    /// `response_format`) rather than through the prompt. Turns false for
    /// good after an OpenAI-compatible server refused `response_format`
    /// under `json_schema = "auto"`.
    pub fn native_json_schema(&self) -> bool {
        match self.config.json_schema {
            JsonSchemaMode::Off => false,
            JsonSchemaMode::On => true,
            JsonSchemaMode::Auto => !self.schema_unsupported.load(Ordering::Relaxed),
        }
    }

    /// One call with retries; records it in the meter.
    fn call(
        &self,
        req: &ChatRequest,
        stream: bool,
        mut on_delta: Option<&mut dyn FnMut(&Delta)>,
    ) -> Result<ChatResponse, ProviderError> {
        let _permit = self.gate.acquire();
        let start = self.clock.now();
        let mut attempts = 0u32;
        let mut fell_back = false;
        let result = loop {
            attempts += 1;
            let native = self.native_json_schema();
            let mut emitted = false;
            let outcome = {
                let mut forward = |d: &Delta| {
                    emitted = true;
                    if let Some(f) = on_delta.as_mut() {
                        f(d);
                    }
                };
                self.attempt(req, native, stream, &mut forward)
            };
            let err = match outcome {
                Ok(mut r) => {
                    r.attempts = attempts;
                    break Ok(r);
                }
                Err(e) => e,
            };
            if let ProviderError::Refused { status, message } = &err {
                let may_fall_back = !fell_back
                    && native
                    && req.response_schema.is_some()
                    && self.config.json_schema == JsonSchemaMode::Auto
                    && self.config.provider.wire() == Wire::OpenAi;
                if may_fall_back && openai::says_response_format_unsupported(*status, message) {
                    self.schema_unsupported.store(true, Ordering::Relaxed);
                    fell_back = true;
                    continue;
                }
            }
            // A caller that already saw deltas would see them twice.
            let seen = emitted && on_delta.is_some();
            if !err.is_retryable() || attempts >= self.retry.max_attempts || seen {
                break Err(err);
            }
            let retry_after = match &err {
                ProviderError::RateLimited { retry_after, .. } => *retry_after,
                _ => None,
            };
            if retry_after.is_some_and(|d| d > self.retry.max_retry_after) {
                break Err(err);
            }
            self.clock.sleep(self.retry.delay(attempts, retry_after));
        };
        let elapsed = self.clock.now().saturating_duration_since(start);
        self.meter.record(result.as_ref().ok().map(|r| &r.usage), attempts, elapsed);
        result.map_err(|e| e.scrubbed(self.key.as_ref().map(ApiKey::expose)))
    }

    /// One HTTP request.
    fn attempt(
        &self,
        req: &ChatRequest,
        native: bool,
        stream: bool,
        on_delta: &mut dyn FnMut(&Delta),
    ) -> Result<ChatResponse, ProviderError> {
        let model = self.config.model.as_str();
        let max = self.config.max_output_tokens;
        let (body, structured) = match self.config.provider.wire() {
            Wire::Anthropic => anthropic::request_body(req, model, max, native, stream)?,
            Wire::OpenAi => (openai::request_body(req, model, max, self.token_field, native, stream)?, None),
        };
        let opts = ParseOptions { structured, endpoint: self.endpoint.clone(), timeout_secs: self.config.timeout_secs };
        let timeout = self.config.timeout();

        let mut builder = self.agent.post(&self.endpoint).header("content-type", "application/json");
        match (self.config.provider.wire(), &self.key) {
            (Wire::Anthropic, Some(k)) => builder = builder.header("x-api-key", k.expose()),
            (Wire::OpenAi, Some(k)) if self.azure => builder = builder.header("api-key", k.expose()),
            (Wire::OpenAi, Some(k)) => builder = builder.header("authorization", &format!("Bearer {}", k.expose())),
            (_, None) => {}
        }
        if self.config.provider.wire() == Wire::Anthropic {
            builder = builder.header("anthropic-version", anthropic::ANTHROPIC_VERSION);
        }
        if stream {
            builder = builder.header("accept", "text/event-stream");
        }
        let builder = if stream {
            // No total limit for a stream: to the first byte, and between reads.
            builder.config().timeout_recv_response(Some(timeout)).timeout_per_read(Some(timeout)).build()
        } else {
            builder.config().timeout_global(Some(timeout)).build()
        };
        let response = builder.send(&body[..]).map_err(|e| self.send_error(e))?;

        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let request_id = header("request-id").or_else(|| header("x-request-id"));
        let retry_after = parse_retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
        let content_type = header("content-type").unwrap_or_default().to_ascii_lowercase();
        let location = header("location");
        let mut body = response.into_body();

        if !(200..300).contains(&status) {
            let bytes = body.with_config().limit(ERROR_BODY_LIMIT).read_to_vec().unwrap_or_default();
            if (300..400).contains(&status) {
                return Err(ProviderError::Refused {
                    status,
                    message: format!(
                        "redirected to {}; set base_url to the final address",
                        location.as_deref().unwrap_or("(no location)")
                    ),
                });
            }
            let err = match self.config.provider.wire() {
                Wire::Anthropic => anthropic::error_from(status, retry_after, &bytes, &opts),
                Wire::OpenAi => openai::error_from(status, retry_after, &bytes, &opts),
            };
            return Err(err);
        }

        let json_body = content_type.starts_with("application/json");
        let mut resp = if stream && !json_body {
            let reader = BufReader::new(body.into_reader());
            match self.config.provider.wire() {
                Wire::Anthropic => anthropic::parse_stream(reader, &opts, on_delta)?,
                Wire::OpenAi => openai::parse_stream(reader, &opts, on_delta)?,
            }
        } else {
            let bytes = body
                .with_config()
                .limit(ANSWER_LIMIT)
                .read_to_vec()
                .map_err(|e| crate::wire::read_error(e.into_io(), &opts))?;
            let resp = match self.config.provider.wire() {
                Wire::Anthropic => anthropic::parse_response(&bytes, &opts)?,
                Wire::OpenAi => openai::parse_response(&bytes, &opts)?,
            };
            if stream {
                // Asked for a stream, got JSON: the caller still sees deltas.
                emit_whole(&resp, on_delta);
            }
            resp
        };
        resp.request_id = request_id;
        Ok(resp)
    }

    fn send_error(&self, e: ureq::Error) -> ProviderError {
        let endpoint = self.endpoint.clone();
        let transport = |message: String| ProviderError::Transport { endpoint: endpoint.clone(), message };
        match e {
            ureq::Error::Timeout(_) => ProviderError::Timeout { endpoint, secs: self.config.timeout_secs },
            ureq::Error::Io(io) => match io.kind() {
                io::ErrorKind::ConnectionRefused => transport("connection refused (is the server running?)".into()),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    ProviderError::Timeout { endpoint, secs: self.config.timeout_secs }
                }
                _ => transport(io.to_string()),
            },
            ureq::Error::HostNotFound => transport("host not found (DNS)".into()),
            ureq::Error::ConnectionFailed => transport("connection failed".into()),
            ureq::Error::BadUri(u) => ProviderError::config(format!("bad URL {u}")),
            other => transport(other.to_string()),
        }
    }
}

/// A request as its first attempt would go on the wire, without sending it
/// (a dry run): the endpoint and the exact body. No key is read or shown.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPreview {
    pub endpoint: String,
    pub body: Vec<u8>,
}

/// The [`RequestPreview`] of `req` under `config` (a structured answer asked
/// for natively unless `json_schema = "off"`, as a first attempt is).
pub fn preview(config: &ModelConfig, req: &ChatRequest) -> Result<RequestPreview, ProviderError> {
    config.validate()?;
    let native = config.json_schema != JsonSchemaMode::Off;
    let (model, max) = (config.model.as_str(), config.max_output_tokens);
    let body = match config.provider.wire() {
        Wire::Anthropic => anthropic::request_body(req, model, max, native, req.stream)?.0,
        Wire::OpenAi => {
            let field = openai::TokenField::for_base_url(config.base_url());
            openai::request_body(req, model, max, field, native, req.stream)?
        }
    };
    Ok(RequestPreview { endpoint: config.endpoint(), body })
}

/// Replays a whole answer as deltas (for a JSON answer to a streamed call).
pub(crate) fn emit_whole(resp: &ChatResponse, on_delta: &mut dyn FnMut(&Delta)) {
    if !resp.text.is_empty() {
        on_delta(&Delta::Text(resp.text.clone()));
    }
    if let Some(r) = &resp.refusal {
        on_delta(&Delta::Refusal(r.clone()));
    }
    for (index, call) in resp.tool_calls.iter().enumerate() {
        on_delta(&Delta::ToolCallStart { index, id: call.id.clone(), name: call.name.clone() });
        on_delta(&Delta::ToolArguments { index, json: call.input.to_string() });
    }
}

impl ChatModel for Model {
    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        if self.config.tools == ToolsMode::Json && !req.tools.is_empty() {
            return chat_with_actions(self, req);
        }
        self.call(req, req.stream, None)
    }

    fn chat_stream(&self, req: &ChatRequest, on_delta: &mut dyn FnMut(&Delta)) -> Result<ChatResponse, ProviderError> {
        if self.config.tools == ToolsMode::Json && !req.tools.is_empty() {
            let resp = chat_with_actions(self, req)?;
            emit_whole(&resp, on_delta);
            return Ok(resp);
        }
        self.call(req, true, Some(on_delta))
    }
}

/// A counting semaphore: at most `n` permits out at once.
struct Gate {
    free: Mutex<usize>,
    cond: Condvar,
}

struct Permit<'a>(&'a Gate);

impl Gate {
    fn new(n: usize) -> Self {
        Gate { free: Mutex::new(n.max(1)), cond: Condvar::new() }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = match self.free.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        while *free == 0 {
            free = match self.cond.wait(free) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = match self.0.free.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *free += 1;
        self.0.cond.notify_one();
    }
}
