//! Is the model reachable and usable? One tiny request (and one tiny
//! structured request unless `json_schema = "off"`), each failure explained
//! in plain words.

use crate::config::{ApiKey, JsonSchemaMode, ModelConfig, Wire};
use crate::retry::RetryPolicy;
use crate::structured::ask_json;
use crate::{ChatModel, ChatRequest, JsonSchema, Model, ProviderError};
use serde::Serialize;
use serde_json::json;
use std::time::Instant;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub provider: String,
    pub endpoint: String,
    pub model: String,
    pub checks: Vec<DoctorCheck>,
}

impl DoctorReport {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The report as lines of text.
    pub fn render(&self) -> String {
        let mut s = format!("model {} via {} at {}\n", self.model, self.provider, self.endpoint);
        for c in &self.checks {
            s.push_str(&format!("  [{}] {}: {}\n", if c.ok { "ok" } else { "FAIL" }, c.name, c.detail));
        }
        s
    }

    fn push(&mut self, name: &str, ok: bool, detail: String) {
        self.checks.push(DoctorCheck { name: name.into(), ok, detail });
    }
}

/// Checks `config` with the key from its environment variable. `Err` only
/// when the configuration itself is invalid; everything the server says is
/// in the report.
pub fn check(config: &ModelConfig) -> Result<DoctorReport, ProviderError> {
    config.validate()?;
    let key = ApiKey::from_env(&config.api_key_env)?;
    check_with_key(config, key)
}

/// [`check`] with an explicit key.
pub fn check_with_key(config: &ModelConfig, key: Option<ApiKey>) -> Result<DoctorReport, ProviderError> {
    config.validate()?;
    let mut report = DoctorReport {
        provider: config.provider.to_string(),
        endpoint: config.endpoint(),
        model: config.model.clone(),
        checks: Vec::new(),
    };
    let env = &config.api_key_env;
    let has_key = key.is_some();
    match (config.provider.wire(), has_key) {
        (_, true) => report.push("key", true, format!("read from {env}")),
        (Wire::Anthropic, false) => {
            report.push("key", false, format!("the environment variable {env} is not set; Anthropic needs a key"));
            return Ok(report);
        }
        (Wire::OpenAi, false) => {
            report.push("key", true, format!("{env} is not set: no key is sent (fine for a local server)"))
        }
    }
    let model =
        Model::new(config.clone(), key)?.with_retry_policy(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });

    let mut req = ChatRequest::new("", "Reply with the single word OK.");
    req.max_tokens = Some(16);
    req.temperature = Some(0.0);
    let started = Instant::now();
    match model.chat(&req) {
        Ok(r) => {
            let answer: String = r.text.chars().take(40).collect();
            report.push(
                "chat",
                true,
                format!(
                    "{} answered {:?} in {} ms ({} tokens in, {} out)",
                    if r.model.is_empty() { config.model.as_str() } else { r.model.as_str() },
                    answer.trim(),
                    started.elapsed().as_millis(),
                    r.usage.input_tokens + r.usage.cache_read,
                    r.usage.output_tokens
                ),
            );
        }
        Err(e) => {
            report.push("chat", false, explain(&e, config, has_key));
            return Ok(report);
        }
    }

    if config.json_schema != JsonSchemaMode::Off {
        let mut req = ChatRequest::new("", "Is water wet? Answer in JSON.");
        req.max_tokens = Some(64);
        req.temperature = Some(0.0);
        req.response_schema = Some(JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object", "properties": {"yes": {"type": "boolean"}}, "required": ["yes"], "additionalProperties": false}),
        });
        let native_before = model.native_json_schema();
        match ask_json(&model, &req) {
            Ok(a) => {
                let how = match (native_before, model.native_json_schema(), config.provider.wire()) {
                    (true, true, Wire::Anthropic) => "constrained by a forced tool".to_string(),
                    (true, true, Wire::OpenAi) => "constrained by response_format json_schema".to_string(),
                    _ => "the server does not support response_format json_schema: answers are asked for in the \
                          prompt and checked (set json_schema = \"off\" to skip the first try)"
                        .to_string(),
                };
                let repaired = if a.repaired { " after one repair" } else { "" };
                report.push("json schema", true, format!("{how}; got {}{repaired}", a.value));
            }
            Err(ProviderError::Refused { status, message }) if config.json_schema == JsonSchemaMode::On => report.push(
                "json schema",
                false,
                format!(
                    "HTTP {status}: {message} (json_schema = \"on\" but the server may not support it; try \"auto\")"
                ),
            ),
            Err(e) => report.push("json schema", false, explain(&e, config, has_key)),
        }
    }
    Ok(report)
}

/// A failure in words a person can act on.
pub fn explain(e: &ProviderError, config: &ModelConfig, has_key: bool) -> String {
    let endpoint = config.endpoint();
    let env = &config.api_key_env;
    match e {
        ProviderError::Transport { message, .. } if message.contains("refused") => {
            format!("connection refused at {endpoint}: is the server running and the port right?")
        }
        ProviderError::Transport { message, .. } => format!("cannot reach {endpoint}: {message}"),
        ProviderError::Timeout { secs, .. } => {
            format!("no answer from {endpoint} within {secs} s (raise timeout_secs for a slow local model)")
        }
        ProviderError::Refused { status: 401 | 403, message } if has_key => {
            format!("the server rejected the key from {env} (HTTP 401/403): {message}")
        }
        ProviderError::Refused { status: 401 | 403, message } => {
            format!("the server wants a key: set the environment variable {env} ({message})")
        }
        ProviderError::Refused { status: 404, message } => {
            let m = message.to_ascii_lowercase();
            if m.contains("model") || m.contains(&config.model.to_ascii_lowercase()) {
                format!("model {:?} not found: {message}", config.model)
            } else if config.provider.wire() == Wire::OpenAi {
                format!("no such endpoint {endpoint} (HTTP 404): the base URL of an OpenAI-compatible server must end in /v1 ({message})")
            } else {
                format!("no such endpoint {endpoint} (HTTP 404): the Anthropic base URL is the API root, without /v1 ({message})")
            }
        }
        ProviderError::Refused { status, message } => format!("refused (HTTP {status}): {message}"),
        ProviderError::RateLimited { message, .. } => format!("rate limited (the key works): {message}"),
        ProviderError::Server { status, message } => format!("server error HTTP {status}: {message}"),
        ProviderError::Malformed { what } => {
            format!("the answer is not what a {} server sends ({what}): is the provider right?", config.provider)
        }
        other => other.to_string(),
    }
}
