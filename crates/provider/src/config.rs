//! Which model to talk to and how: the `[model]` table, the
//! `PROVIDER:BASE_URL#MODEL` spec string, and the API key (read from an
//! environment variable, never stored, never printed).

use crate::ProviderError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The environment variable the API key is read from unless `api_key_env` says otherwise.
pub const DEFAULT_KEY_ENV: &str = "NOCTURNE_MODEL_KEY";

/// A provider name. `ollama`, `llamacpp`, `vllm` and `lmstudio` are the
/// OpenAI Chat Completions adapter with another default base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
    Ollama,
    LlamaCpp,
    Vllm,
    LmStudio,
}

/// The two wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages: `POST {base}/v1/messages`.
    Anthropic,
    /// OpenAI Chat Completions: `POST {base}/chat/completions`, base ending in `/v1`.
    OpenAi,
}

impl Provider {
    pub const ALL: [Provider; 6] = [
        Provider::Anthropic,
        Provider::OpenAi,
        Provider::Ollama,
        Provider::LlamaCpp,
        Provider::Vllm,
        Provider::LmStudio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Ollama => "ollama",
            Provider::LlamaCpp => "llamacpp",
            Provider::Vllm => "vllm",
            Provider::LmStudio => "lmstudio",
        }
    }

    pub fn wire(self) -> Wire {
        match self {
            Provider::Anthropic => Wire::Anthropic,
            _ => Wire::OpenAi,
        }
    }

    /// The base URL used when none is given: the hosted API, or the local
    /// server's usual port.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Ollama => "http://127.0.0.1:11434/v1",
            Provider::LlamaCpp => "http://127.0.0.1:8080/v1",
            Provider::Vllm => "http://127.0.0.1:8000/v1",
            Provider::LmStudio => "http://127.0.0.1:1234/v1",
        }
    }
}

impl FromStr for Provider {
    type Err = ProviderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "llama.cpp" | "llama-cpp" | "llama-server" => Some(Provider::LlamaCpp),
            "lm-studio" => Some(Provider::LmStudio),
            other => Provider::ALL.into_iter().find(|p| p.name() == other),
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
            ProviderError::config(format!("unknown provider {s:?} (known: {})", names.join(", ")))
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether to ask the server to constrain a structured answer to its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonSchemaMode {
    /// Ask natively (OpenAI `response_format: json_schema`, an Anthropic
    /// forced tool); if an OpenAI-compatible server answers 400 saying it
    /// does not support `response_format`, fall back to the prompt for this
    /// and every later request of this client.
    #[default]
    Auto,
    /// Always ask natively; an unsupported server's 400 is an error.
    On,
    /// Never: the schema goes into the system prompt and the answer is parsed and checked.
    Off,
}

/// How tool calls are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolsMode {
    /// The provider's tool calling (`tools` on the wire).
    #[default]
    Native,
    /// For models without tool calling: the tools are described in the
    /// prompt and the model answers `{"tool": NAME, "arguments": {...}}` or
    /// `{"final": ...}` under a JSON schema (see [`crate::actions`]).
    Json,
}

/// The `[model]` table of a Nocturne configuration.
///
/// ```toml
/// [model]
/// provider = "anthropic"            # anthropic | openai | ollama | llamacpp | vllm | lmstudio
/// base_url = "https://api.anthropic.com"   # optional: the provider's default
/// model = "claude-sonnet-4-5"
/// api_key_env = "NOCTURNE_MODEL_KEY"
/// max_output_tokens = 4096
/// timeout_secs = 120
/// retries = 3
/// price_input_per_mtok = 3.0
/// price_output_per_mtok = 15.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub provider: Provider,
    /// Anthropic: the API root (`https://api.anthropic.com`; `/v1/messages`
    /// is appended). OpenAI-compatible: the root that ends in `/v1`
    /// (`/chat/completions` is appended). Empty: the provider's default.
    #[serde(default)]
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key. Required for
    /// Anthropic; optional for OpenAI-compatible local servers.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// Input tokens one dream may spend (enforced by the caller with [`crate::Meter`]).
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
    /// Output token limit of a request that names none.
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// Seconds one HTTP attempt may take (for a stream: to the first byte,
    /// and between two reads).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Requests in flight at once through one client.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries after the first attempt (timeouts, 429, 5xx, transport).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// US dollars per million input tokens (0 when unset).
    #[serde(default)]
    pub price_input_per_mtok: Option<f64>,
    /// US dollars per million output tokens (0 when unset).
    #[serde(default)]
    pub price_output_per_mtok: Option<f64>,
    /// Per million cache-read input tokens (default: the input price).
    #[serde(default)]
    pub price_cache_read_per_mtok: Option<f64>,
    /// Per million cache-write input tokens (default: the input price).
    #[serde(default)]
    pub price_cache_write_per_mtok: Option<f64>,
    #[serde(default)]
    pub json_schema: JsonSchemaMode,
    #[serde(default)]
    pub tools: ToolsMode,
    /// The model's context window in tokens (prompt and answer together), for
    /// callers that split their input to fit it (a model dream). Default:
    /// 128,000 for the hosted APIs (`anthropic`, `openai`), 4,096 for the local
    /// servers (`ollama`, `llamacpp`, `vllm`, `lmstudio`), whose default
    /// context is small; see [`ModelConfig::context_window`].
    #[serde(default)]
    pub context_tokens: Option<u32>,
    /// Whether callers that build their requests from this configuration (a
    /// model dream) stream the answers (SSE: the timeout then applies to the
    /// first byte and between reads, not to the whole answer, which suits a
    /// slow local model). Default true.
    #[serde(default = "default_stream")]
    pub stream: bool,
}

fn default_key_env() -> String {
    DEFAULT_KEY_ENV.to_string()
}
fn default_max_output_tokens() -> u32 {
    4096
}
fn default_timeout_secs() -> f64 {
    120.0
}
fn default_concurrency() -> usize {
    4
}
fn default_retries() -> u32 {
    3
}
fn default_stream() -> bool {
    true
}

impl ModelConfig {
    /// A configuration with every optional field at its default.
    pub fn new(provider: Provider, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        ModelConfig {
            provider,
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: default_key_env(),
            max_input_tokens: None,
            max_output_tokens: default_max_output_tokens(),
            timeout_secs: default_timeout_secs(),
            concurrency: default_concurrency(),
            retries: default_retries(),
            price_input_per_mtok: None,
            price_output_per_mtok: None,
            price_cache_read_per_mtok: None,
            price_cache_write_per_mtok: None,
            json_schema: JsonSchemaMode::default(),
            tools: ToolsMode::default(),
            context_tokens: None,
            stream: default_stream(),
        }
    }

    /// The context window in force: `context_tokens`, else the provider's
    /// default (128,000 hosted, 4,096 local).
    pub fn context_window(&self) -> u32 {
        self.context_tokens.unwrap_or(match self.provider {
            Provider::Anthropic | Provider::OpenAi => 128_000,
            _ => 4096,
        })
    }

    /// Parses `PROVIDER:BASE_URL#MODEL` (e.g.
    /// `anthropic:https://api.anthropic.com#claude-sonnet-4-5`,
    /// `openai:http://127.0.0.1:11434/v1#qwen2.5:7b`) or `PROVIDER#MODEL`
    /// for the provider's default base URL (`ollama#qwen2.5:7b`).
    pub fn from_spec(spec: &str) -> Result<Self, ProviderError> {
        let spec = spec.trim();
        let bad = |why: &str| {
            ProviderError::config(format!(
                "model spec {spec:?}: {why} (expected PROVIDER:BASE_URL#MODEL or PROVIDER#MODEL)"
            ))
        };
        let (head, model) = spec.split_once('#').ok_or_else(|| bad("no #MODEL"))?;
        if model.trim().is_empty() {
            return Err(bad("empty model name"));
        }
        let (provider, base_url) = match head.split_once(':') {
            Some((p, url)) => (p, url),
            None => (head, ""),
        };
        let provider: Provider = provider.parse()?;
        let config = ModelConfig::new(provider, base_url.trim(), model.trim());
        config.validate()?;
        Ok(config)
    }

    /// The base URL in force (the provider's default when empty), without a trailing `/`.
    pub fn base_url(&self) -> &str {
        let url = self.base_url.trim();
        let url = if url.is_empty() { self.provider.default_base_url() } else { url };
        url.trim_end_matches('/')
    }

    /// The URL requests are sent to.
    pub fn endpoint(&self) -> String {
        let path = match self.provider.wire() {
            Wire::Anthropic => "/v1/messages",
            Wire::OpenAi => "/chat/completions",
        };
        join_url(self.base_url(), path)
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        let secs = if self.timeout_secs.is_finite() { self.timeout_secs.clamp(0.001, 86_400.0) } else { 120.0 };
        Duration::from_secs_f64(secs)
    }

    /// Checks every field; names the first wrong one.
    pub fn validate(&self) -> Result<(), ProviderError> {
        let url = self.base_url();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.len() <= "https://".len() {
            return Err(ProviderError::config(format!("base_url {url:?} must start with http:// or https://")));
        }
        if url.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(ProviderError::config(format!(
                "base_url {url:?} is https, but this build has no TLS (feature `tls` of nocturne-provider)"
            )));
        }
        if self.model.trim().is_empty() {
            return Err(ProviderError::config("model must not be empty"));
        }
        if self.api_key_env.is_empty()
            || !self.api_key_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || self.api_key_env.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(ProviderError::config(format!(
                "api_key_env {:?} is not an environment variable name",
                self.api_key_env
            )));
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0) {
            return Err(ProviderError::config(format!("timeout_secs must be > 0, not {}", self.timeout_secs)));
        }
        if self.concurrency == 0 {
            return Err(ProviderError::config("concurrency must be at least 1"));
        }
        if self.max_output_tokens == 0 {
            return Err(ProviderError::config("max_output_tokens must be at least 1"));
        }
        if let Some(c) = self.context_tokens {
            if c < 512 || c <= self.max_output_tokens {
                return Err(ProviderError::config(format!(
                    "context_tokens ({c}) must be at least 512 and above max_output_tokens ({})",
                    self.max_output_tokens
                )));
            }
        }
        let prices = [
            ("price_input_per_mtok", self.price_input_per_mtok),
            ("price_output_per_mtok", self.price_output_per_mtok),
            ("price_cache_read_per_mtok", self.price_cache_read_per_mtok),
            ("price_cache_write_per_mtok", self.price_cache_write_per_mtok),
        ];
        for (field, price) in prices {
            if let Some(p) = price {
                if !(p.is_finite() && p >= 0.0) {
                    return Err(ProviderError::config(format!("{field} must be a price >= 0, not {p}")));
                }
            }
        }
        Ok(())
    }

    /// The prices as a [`crate::Pricing`].
    pub fn pricing(&self) -> crate::Pricing {
        let input = self.price_input_per_mtok.unwrap_or(0.0);
        crate::Pricing {
            input_per_mtok: input,
            output_per_mtok: self.price_output_per_mtok.unwrap_or(0.0),
            cache_read_per_mtok: self.price_cache_read_per_mtok.unwrap_or(input),
            cache_write_per_mtok: self.price_cache_write_per_mtok.unwrap_or(input),
        }
    }

    /// `provider:base_url#model`, the spec this configuration round-trips to.
    pub fn spec(&self) -> String {
        format!("{}:{}#{}", self.provider, self.base_url(), self.model)
    }
}

/// `base` + `path`, keeping a query string of `base` (Azure's `?api-version=`) at the end.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    match base.split_once('?') {
        Some((b, q)) => format!("{}{path}?{q}", b.trim_end_matches('/')),
        None => format!("{}{path}", base.trim_end_matches('/')),
    }
}

/// An API key. Its `Debug` shows `<redacted>`; it has no `Display` and no
/// `Serialize`, so it cannot end up in a log line, an error or a file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace removed). Refuses an empty key or
    /// one with control characters (it could not be sent as a header).
    pub fn new(key: impl Into<String>) -> Result<Self, ProviderError> {
        let key = key.into().trim().to_string();
        if key.is_empty() {
            return Err(ProviderError::config("the API key is empty"));
        }
        if key.chars().any(|c| c.is_control() || !c.is_ascii()) {
            return Err(ProviderError::config("the API key contains characters that cannot be sent in a header"));
        }
        Ok(ApiKey(key))
    }

    /// The key in environment variable `var`; `None` when unset or empty.
    pub fn from_env(var: &str) -> Result<Option<Self>, ProviderError> {
        match std::env::var(var) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => {
                ApiKey::new(v).map(Some).map_err(|e| ProviderError::config(format!("environment variable {var}: {e}")))
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ProviderError::config(format!("environment variable {var} is not valid UTF-8")))
            }
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_strings_parse_with_aliases_and_defaults() {
        let hosted = ModelConfig::from_spec("anthropic:https://api.anthropic.com#claude-sonnet-4-5");
        if cfg!(feature = "tls") {
            let c = hosted.unwrap();
            assert_eq!((c.provider, c.model.as_str()), (Provider::Anthropic, "claude-sonnet-4-5"));
            assert_eq!(c.endpoint(), "https://api.anthropic.com/v1/messages");
        } else {
            let e = hosted.unwrap_err().to_string();
            assert!(e.contains("this build has no TLS (feature `tls` of nocturne-provider)"), "{e}");
        }

        let c = ModelConfig::from_spec("openai:http://127.0.0.1:11434/v1#qwen2.5:7b").unwrap();
        assert_eq!(c.model, "qwen2.5:7b");
        assert_eq!(c.endpoint(), "http://127.0.0.1:11434/v1/chat/completions");

        let c = ModelConfig::from_spec("ollama#qwen2.5:7b").unwrap();
        assert_eq!(c.provider.wire(), Wire::OpenAi);
        assert_eq!(c.endpoint(), "http://127.0.0.1:11434/v1/chat/completions");
        for (alias, p) in [("llamacpp", Provider::LlamaCpp), ("vllm", Provider::Vllm), ("lmstudio", Provider::LmStudio)]
        {
            let c = ModelConfig::from_spec(&format!("{alias}:http://h:1/v1/#m")).unwrap();
            assert_eq!(c.provider, p);
            assert_eq!(c.endpoint(), "http://h:1/v1/chat/completions");
            assert_eq!(ModelConfig::from_spec(&c.spec()).unwrap().spec(), c.spec());
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let msg = |s: &str| ModelConfig::from_spec(s).unwrap_err().to_string();
        assert!(msg("gemini:http://x/v1#m").contains("unknown provider \"gemini\""));
        assert!(msg("openai:http://x/v1").contains("no #MODEL"));
        assert!(msg("openai:http://x/v1#").contains("empty model name"));
        assert!(msg("openai:ftp://x#m").contains("must start with http://"));
    }

    #[test]
    fn azure_style_query_stays_at_the_end() {
        assert_eq!(
            join_url("https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21", "/chat/completions"),
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn the_model_table_reads_from_toml_shaped_json_with_defaults() {
        let c: ModelConfig = serde_json::from_value(
            serde_json::json!({"provider": "vllm", "model": "m", "json_schema": "off", "tools": "json"}),
        )
        .unwrap();
        assert_eq!(c.api_key_env, DEFAULT_KEY_ENV);
        assert_eq!((c.retries, c.concurrency, c.max_output_tokens), (3, 4, 4096));
        assert_eq!((c.json_schema, c.tools), (JsonSchemaMode::Off, ToolsMode::Json));
        let err = serde_json::from_value::<ModelConfig>(
            serde_json::json!({"provider": "openai", "model": "m", "api_key": "x"}),
        );
        assert!(err.unwrap_err().to_string().contains("unknown field `api_key`"));
    }

    #[test]
    fn the_context_window_defaults_by_provider_and_is_checked() {
        let hosted = ModelConfig::new(Provider::OpenAi, "http://h/v1", "m");
        assert_eq!(hosted.context_window(), 128_000);
        let mut local = ModelConfig::new(Provider::LlamaCpp, "", "m");
        assert_eq!(local.context_window(), 4096);
        assert!(local.stream, "dreams stream by default");
        local.context_tokens = Some(8192);
        assert_eq!(local.context_window(), 8192);
        local.max_output_tokens = 9000;
        let e = local.validate().unwrap_err().to_string();
        assert!(e.contains("context_tokens (8192) must be at least 512 and above max_output_tokens (9000)"), "{e}");
    }

    #[test]
    fn keys_never_show_in_debug() {
        let k = ApiKey::new("sk-secret-123").unwrap();
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("a\nb").is_err());
    }
}
