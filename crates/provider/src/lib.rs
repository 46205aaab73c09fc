//! Language models for Nocturne: the [`ChatModel`] trait and a blocking HTTP
//! client ([`Model`]) for the Anthropic Messages API and the OpenAI Chat
//! Completions API (OpenAI, Azure, vLLM, Ollama's `/v1`, llama.cpp's
//! `llama-server`, LM Studio), JSON or streamed (SSE).
//!
//! - **Configuration**: a `[model]` table ([`ModelConfig`]) or a spec string
//!   `PROVIDER:BASE_URL#MODEL` ([`ModelConfig::from_spec`]). The API key is
//!   read from an environment variable (`NOCTURNE_MODEL_KEY` by default)
//!   into an [`ApiKey`], which never prints and is never stored.
//! - **Retries** ([`RetryPolicy`]): timeouts, 429 (honouring `retry-after-ms`
//!   / `retry-after`), 5xx / 529 and transport failures, with jittered,
//!   capped exponential back-off; never a 4xx refusal. Waits go through a
//!   [`Clock`], so tests observe them without sleeping.
//! - **Structured answers** ([`ask_json`]): JSON checked against a schema
//!   ([`schema::validate`]), constrained by the server when it can be,
//!   with exactly one repair request on failure.
//! - **Tool calling**: native, or JSON actions for models without it
//!   ([`actions`]); the caller sees the same [`ChatResponse`] either way.
//! - **Usage and cost** ([`Meter`]); **doctor** ([`doctor::check`]).
//!
//! Synchronous: callers on an async runtime call it from a blocking pool.
//! Only this crate knows the providers' wire formats.

pub mod actions;
pub mod anthropic;
mod config;
pub mod doctor;
mod error;
mod meter;
mod model;
pub mod openai;
mod retry;
pub mod schema;
pub mod sse;
mod structured;
mod types;
pub mod wire;

pub use config::{ApiKey, JsonSchemaMode, ModelConfig, Provider, ToolsMode, Wire, DEFAULT_KEY_ENV};
pub use doctor::{check, DoctorCheck, DoctorReport};
pub use error::ProviderError;
pub use meter::{Meter, MeterTotals, Pricing};
pub use model::{preview, Model, RequestPreview};
pub use retry::{Clock, ManualClock, RetryPolicy, SystemClock};
pub use structured::{ask_json, check_answer, extract_json, repair_prompt, schema_instruction, JsonAnswer};
pub use types::{
    ChatRequest, ChatResponse, Delta, JsonSchema, Message, Part, PartialToolCall, Role, StopReason, ToolCall,
    ToolChoice, ToolSpec, Usage,
};

/// A chat model. Implemented by [`Model`]; tests and other crates may
/// implement it with scripted answers.
pub trait ChatModel: Send + Sync {
    /// Sends `req` and returns the whole answer (streamed on the wire when
    /// `req.stream` is set, assembled before returning).
    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// Streams the answer, calling `on_delta` with each piece as it arrives,
    /// and returns the assembled answer (the same one [`ChatModel::chat`]
    /// would give). A stream that breaks after deltas were delivered is not
    /// retried (the caller would see them twice); one that breaks before is.
    fn chat_stream(&self, req: &ChatRequest, on_delta: &mut dyn FnMut(&Delta)) -> Result<ChatResponse, ProviderError>;
}

impl<T: ChatModel + ?Sized> ChatModel for std::sync::Arc<T> {
    fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        (**self).chat(req)
    }

    fn chat_stream(&self, req: &ChatRequest, on_delta: &mut dyn FnMut(&Delta)) -> Result<ChatResponse, ProviderError> {
        (**self).chat_stream(req, on_delta)
    }
}
