//! What the tools return: structured content (with its JSON schema,
//! declared as each tool's output schema) and the text a model reads.

use nocturne_core::outcome::Outcome;
use nocturne_service::{ContextBundle, MemoryHit};
use rmcp::schemars;
use serde::Serialize;

/// One memory found by `memory_search`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    /// Memory id (`m-...`), to cite or to propose changes against.
    pub id: String,
    pub kind: String,
    pub scope: String,
    pub text: String,
    /// Relevance; higher is better. Only comparable within one result.
    pub score: f32,
}

/// `memory_search`'s result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchOutput {
    /// Best first; empty when nothing matches.
    pub hits: Vec<SearchHit>,
}

impl SearchOutput {
    pub fn from_hits(hits: Vec<MemoryHit>) -> Self {
        SearchOutput {
            hits: hits
                .into_iter()
                .map(|h| SearchHit { id: h.id, kind: h.kind, scope: h.scope, text: h.text, score: h.score })
                .collect(),
        }
    }
}

/// `memory_context`'s result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ContextOutput {
    /// The bundle to read before starting the task.
    pub markdown: String,
    /// Ids of the memories in the bundle, in presentation order.
    pub memory_ids: Vec<String>,
    /// The usage record of this bundle (outcomes of the session are credited to its memories).
    pub usage_id: u64,
    pub used_tokens: usize,
    pub budget_tokens: usize,
    /// Relevant memories left out for lack of budget (ask again with a larger budget to get them).
    pub dropped: usize,
}

impl ContextOutput {
    pub fn from_bundle(b: ContextBundle) -> Self {
        ContextOutput {
            memory_ids: b.bundle.items.iter().map(|i| i.id.clone()).collect(),
            usage_id: b.usage_id,
            used_tokens: b.bundle.used_tokens,
            budget_tokens: b.bundle.budget_tokens,
            dropped: b.bundle.dropped.len(),
            markdown: b.markdown,
        }
    }

    /// What the model reads: the bundle, then the ids it may cite.
    pub fn text(&self) -> String {
        let mut t = self.markdown.clone();
        if !t.ends_with('\n') {
            t.push('\n');
        }
        if self.memory_ids.is_empty() {
            t.push_str("\n(no stored memory applies to this task yet)\n");
        } else {
            t.push_str(&format!("\nmemory ids: {}\n", self.memory_ids.join(", ")));
        }
        t
    }
}

/// `memory_propose`'s result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProposeOutput {
    /// The proposal's id; a reviewer applies or rejects it (`nocturne dreams apply ID`).
    pub proposal_id: String,
    /// Always `pending`: nothing is stored as memory until it is reviewed.
    pub status: String,
    pub kind: String,
    pub scope: String,
    /// The text as stored in the proposal (secrets replaced by `[REDACTED]`).
    pub text: String,
    /// True when something in the text or rationale looked like a secret and was redacted.
    pub redacted: bool,
}

/// One stored outcome.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OutcomeRecord {
    pub id: u64,
    pub session: String,
    pub task: Option<String>,
    pub dimension: String,
    pub value: String,
    pub taxonomy_version: u32,
    pub source: String,
}

/// `outcome_log`'s result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OutcomeOutput {
    /// One record per dimension set.
    pub outcomes: Vec<OutcomeRecord>,
}

impl OutcomeOutput {
    pub fn from_outcomes(os: Vec<Outcome>) -> Self {
        OutcomeOutput {
            outcomes: os
                .into_iter()
                .map(|o| OutcomeRecord {
                    id: o.id,
                    session: o.session,
                    task: o.task,
                    dimension: o.dimension,
                    value: o.value.to_string(),
                    taxonomy_version: o.taxonomy_version,
                    source: o.source.as_str().to_string(),
                })
                .collect(),
        }
    }
}

/// `session_append`'s result.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AppendOutput {
    pub session: String,
    /// How many events this call added.
    pub appended: usize,
    /// The session's event count now.
    pub events: u32,
}
