//! OpenAI-compatible `/v1/embeddings` client (OpenAI, Ollama, vLLM,
//! llama.cpp server) over a small blocking HTTP client (`ureq`). Plain HTTP
//! with feature `http`; HTTPS needs feature `http-tls`.

use super::{l2_normalize, Embedder};
use crate::SearchError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Embeds through `POST {base_url}/embeddings` (`base_url` usually ends in `/v1`).
#[derive(Debug, Clone)]
pub struct HttpEmbedder {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
    dim: usize,
    /// Texts per request.
    batch: usize,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [&'a str],
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl HttpEmbedder {
    /// `base_url` e.g. `http://127.0.0.1:11434/v1` (Ollama) or
    /// `https://api.openai.com/v1`; `dim` is the model's output dimension,
    /// checked on every response. No request is made here.
    pub fn new(base_url: &str, model: &str, api_key: Option<&str>, dim: usize) -> Result<Self, SearchError> {
        if dim == 0 || model.trim().is_empty() {
            return Err(SearchError::EmbedderSetup("http embedder needs a model name and dim > 0".into()));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build();
        Ok(HttpEmbedder {
            agent: ureq::Agent::new_with_config(config),
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key: api_key.map(str::to_string),
            dim,
            batch: 64,
        })
    }

    /// Texts per request (default 64, at least 1).
    pub fn with_batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        let body = serde_json::to_string(&Request { model: &self.model, input: texts })
            .map_err(|e| SearchError::Embedding(e.to_string()))?;
        let mut req = self.agent.post(&self.url).header("Content-Type", "application/json");
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = req.send(body).map_err(|e| SearchError::Embedding(format!("{}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(|e| SearchError::Embedding(e.to_string()))?;
        if !(200..300).contains(&status) {
            let snippet: String = text.chars().take(300).collect();
            return Err(SearchError::Embedding(format!("{}: HTTP {status}: {snippet}", self.url)));
        }
        let parsed: Response =
            serde_json::from_str(&text).map_err(|e| SearchError::Embedding(format!("bad response: {e}")))?;
        if parsed.data.len() != texts.len() {
            return Err(SearchError::Embedding(format!("{} embeddings for {} inputs", parsed.data.len(), texts.len())));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (pos, item) in parsed.data.into_iter().enumerate() {
            let i = item.index.unwrap_or(pos);
            if item.embedding.len() != self.dim {
                return Err(SearchError::EmbedderMismatch {
                    index: format!("{} (dim {})", self.id(), self.dim),
                    given: format!("a {}-dimensional embedding from the server", item.embedding.len()),
                });
            }
            match out.get_mut(i) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => return Err(SearchError::Embedding(format!("bad or duplicate index {i} in response"))),
            }
        }
        out.into_iter()
            .map(|v| {
                let mut v = v.ok_or_else(|| SearchError::Embedding("missing embedding in response".into()))?;
                l2_normalize(&mut v);
                Ok(v)
            })
            .collect()
    }
}

impl Embedder for HttpEmbedder {
    fn id(&self) -> String {
        format!("openai:{}", self.model)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SearchError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch) {
            out.extend(self.request(chunk)?);
        }
        Ok(out)
    }
}
