//! The MCP server: five memory tools over the service layer.

use crate::args::{self, ContextArgs, OutcomeArgs, ProposeArgs, SearchArgs};
use crate::errors::{internal, map_error, Mapped};
use crate::output::{AppendOutput, ContextOutput, OutcomeOutput, ProposeOutput, SearchOutput};
use nocturne_service::{Access, Scoped, Service, ServiceError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, Implementation, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::{tool, tool_handler, tool_router, ServerHandler};
use serde::Serialize;
use std::sync::Arc;

/// What the server tells a client (and its model) on connect.
pub const INSTRUCTIONS: &str = "\
Nocturne is the team's long-term memory: facts, preferences, procedures and mistakes learned from past agent sessions.
- At the start of a task, call memory_context with the task and your working directory as `project`; read the bundle and follow it.
- To look something up mid-task, call memory_search.
- When you learn something durable that future agents should know, call memory_propose; a person reviews it before it becomes memory.
- When a task ends, call outcome_log with how it went (e.g. {\"result\": \"success\"}).
- session_append adds events to an existing session's log.
Never put secrets (keys, tokens, passwords) in memory text.";

/// Where a call's access comes from.
#[derive(Debug, Clone)]
enum AccessSource {
    /// Fixed for the connection (stdio: the local user).
    Fixed(Access),
    /// Per HTTP request, put into the request's extensions by the auth layer.
    PerRequest,
}

/// The Nocturne MCP server handler.
#[derive(Clone)]
pub struct NocturneMcp {
    svc: Service,
    access: AccessSource,
    tool_router: ToolRouter<NocturneMcp>,
}

impl std::fmt::Debug for NocturneMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NocturneMcp").field("access", &self.access).finish_non_exhaustive()
    }
}

/// The ok-or-tool-error outcome of one service call.
type Outcome<T> = Result<T, Mapped>;

fn ok_structured<T: Serialize>(out: &T, text: Option<String>) -> CallToolResult {
    match serde_json::to_value(out) {
        Ok(v) => {
            let mut r = CallToolResult::structured(v);
            if let Some(t) = text {
                r.content = vec![ContentBlock::text(t)];
            }
            r
        }
        Err(e) => internal(format!("could not encode the result: {e}")).tool_result(),
    }
}

fn respond<T: Serialize>(r: Outcome<T>, text: impl FnOnce(&T) -> Option<String>) -> CallToolResult {
    match r {
        Ok(out) => {
            let t = text(&out);
            ok_structured(&out, t)
        }
        Err(m) => m.tool_result(),
    }
}

/// `session_append`'s input schema (its arguments are read raw, to keep
/// each event's JSON as given).
fn append_input_schema() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<args::AppendArgs>()
        .unwrap_or_else(|_| rmcp::handler::server::common::schema_for_type::<args::AppendArgs>())
}

impl NocturneMcp {
    /// A server acting as the local user (org-wide admin): stdio, or HTTP
    /// started insecure on localhost.
    pub fn local(svc: Service) -> Self {
        Self::with_access(svc, Access::local())
    }

    /// A server acting with fixed access.
    pub fn with_access(svc: Service, access: Access) -> Self {
        NocturneMcp { svc, access: AccessSource::Fixed(access), tool_router: Self::tool_router() }
    }

    /// A server that reads each call's [`Access`] from the HTTP request's
    /// extensions (set by the auth layer of [`crate::streamable_http_router`]).
    pub(crate) fn per_request(svc: Service) -> Self {
        NocturneMcp { svc, access: AccessSource::PerRequest, tool_router: Self::tool_router() }
    }

    fn access(&self, ext: &Extensions) -> Outcome<Access> {
        match &self.access {
            AccessSource::Fixed(a) => Ok(a.clone()),
            AccessSource::PerRequest => ext
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.extensions.get::<Access>())
                .cloned()
                .ok_or_else(|| map_error(&ServiceError::Unauthorized("no credentials on this request".into()))),
        }
    }

    /// Runs `f` against the service as the caller, off the async runtime
    /// (the store is synchronous).
    async fn call<T, F>(&self, ext: &Extensions, f: F) -> Outcome<T>
    where
        T: Send + 'static,
        F: FnOnce(&Service, &Scoped<'_>) -> Result<T, ServiceError> + Send + 'static,
    {
        let access = self.access(ext)?;
        let svc = self.svc.clone();
        match tokio::task::spawn_blocking(move || {
            let scoped = svc.scoped(access);
            f(&svc, &scoped)
        })
        .await
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_error(&e)),
            Err(e) => Err(internal(format!("the worker failed: {e}"))),
        }
    }
}

#[tool_router]
impl NocturneMcp {
    /// Searches stored memories.
    #[tool(
        name = "memory_search",
        description = "Search the team's long-term memory (facts, preferences, procedures, past mistakes) by meaning and keywords. Call it when you need to know how something is done here, what was decided, or what went wrong before, e.g. mid-task when a question comes up that memory_context did not answer. Returns up to `k` hits, best first, each with id, kind, scope, text and score; an empty list means nothing relevant is stored. Read-only.",
        output_schema = schema_for_output::<SearchOutput>(),
        annotations(title = "Search memory", read_only_hint = true, open_world_hint = false)
    )]
    async fn memory_search(&self, Parameters(a): Parameters<SearchArgs>, ext: Extensions) -> CallToolResult {
        let r = self
            .call(&ext, move |_, s| {
                let q = a.check()?;
                s.memory_search(&q.query, q.k, q.kind.as_deref(), q.scope.as_deref())
            })
            .await
            .map(SearchOutput::from_hits);
        respond(r, |_| None)
    }

    /// The context bundle for a task.
    #[tool(
        name = "memory_context",
        description = "Get the memories that matter for a task, packed into a markdown bundle within a token budget: the ones relevant to the task plus a few standing rules (preferences and mistakes to avoid), never unrelated ones. Call it once at the start of every task, before acting, and follow what it says (preferences and mistakes come first). Without `agent`, `user` and `team` it reads every memory you may see; give them to narrow it to the org's and yours. Pass `project` (your working directory, absolute) so that only this project's conventions come, not another project's. Pass `session` so the outcome you log later is credited to these memories. When nothing applies, the text says why. Returns the markdown bundle followed by the ids of the memories in it; the hand-out is recorded.",
        output_schema = schema_for_output::<ContextOutput>(),
        annotations(title = "Context for a task", read_only_hint = false, destructive_hint = false, open_world_hint = false)
    )]
    async fn memory_context(&self, Parameters(a): Parameters<ContextArgs>, ext: Extensions) -> CallToolResult {
        let r = self
            .call(&ext, move |_, s| {
                let req = a.to_request()?;
                s.context(&req)
            })
            .await
            .map(ContextOutput::from_bundle);
        respond(r, |o| Some(o.text()))
    }

    /// Suggests a memory for review.
    #[tool(
        name = "memory_propose",
        description = "Suggest a new memory: something durable you learned that future agents should know (a fact about this codebase or setup, a user's preference, a procedure that worked, a mistake and how to avoid it). It is stored as a proposal for a person to review, never directly as memory. Write one self-contained statement; give a `rationale` (what happened that shows it) and the `session` it comes from. Do not propose secrets or one-off details; secrets are redacted anyway. Returns the proposal id with status `pending`; fails with a conflict when an identical memory or pending proposal already exists.",
        output_schema = schema_for_output::<ProposeOutput>(),
        annotations(title = "Propose a memory", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn memory_propose(&self, Parameters(a): Parameters<ProposeArgs>, ext: Extensions) -> CallToolResult {
        let r = self
            .call(&ext, move |_svc, s| {
                let req = a.check()?;
                let p = s.propose_memory(&nocturne_service::MemorySuggestion {
                    kind: req.kind.clone(),
                    text: req.text.clone(),
                    scope: req.scope.clone(),
                    rationale: req.rationale.clone(),
                    session: req.session.clone(),
                    by: String::new(),
                })?;
                let op = p.ops.first().ok_or_else(|| ServiceError::Invalid("the proposal has no op".into()))?;
                let redacted = op.text != req.text.trim();
                Ok(ProposeOutput {
                    proposal_id: p.id.clone(),
                    status: p.status.as_str().to_string(),
                    kind: op.kind.to_string(),
                    scope: op.scope.to_string(),
                    text: op.text.clone(),
                    redacted,
                })
            })
            .await;
        respond(r, |o| {
            Some(format!(
                "Proposal {} is pending review ({} {}): {}{}",
                o.proposal_id,
                o.kind,
                o.scope,
                o.text,
                if o.redacted { "\n(something that looked like a secret was redacted)" } else { "" }
            ))
        })
    }

    /// Logs how a session (or a task in it) went.
    #[tool(
        name = "outcome_log",
        description = "Record how a session, or one task in it, turned out, so the memories used in it can be judged by results. Call it when a task ends. `set` maps dimensions of the store's outcome taxonomy to values; with the default taxonomy use {\"result\": \"success\" | \"partial\" | \"failure\" | \"abandoned\"}, on failure add \"failure_reason\" (wrong_tool, bad_arguments, misread_task, environment, timeout, policy_violation, other); \"user_rating\" (1-5) and \"reviewer_note\" (text) are for people. An unknown dimension or value is refused with the allowed ones named. Logging again supersedes the earlier value. Returns the stored outcome records.",
        output_schema = schema_for_output::<OutcomeOutput>(),
        annotations(title = "Log an outcome", read_only_hint = false, destructive_hint = false, open_world_hint = false)
    )]
    async fn outcome_log(&self, Parameters(a): Parameters<OutcomeArgs>, ext: Extensions) -> CallToolResult {
        let r = self
            .call(&ext, move |_, s| {
                let req = a.to_request(&s.access().author())?;
                s.log_outcome(&req)
            })
            .await
            .map(OutcomeOutput::from_outcomes);
        respond(r, |_| None)
    }

    /// Appends events to a session.
    #[tool(
        name = "session_append",
        description = "Append events to the end of an existing session's log (the session must already exist, e.g. ingested from a transcript). Use it to record what happened as you work: user and assistant messages, tool calls with their input, tool results (set `is_error` on failures). Events are stored in the order given, after those already there; stored events never change. Returns how many were appended and the session's new event count.",
        input_schema = append_input_schema(),
        output_schema = schema_for_output::<AppendOutput>(),
        annotations(title = "Append to a session", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn session_append(&self, raw: JsonObject, ext: Extensions) -> CallToolResult {
        let r = self
            .call(&ext, move |_, s| {
                let (session, events) = args::append_request(&raw)?;
                let total = s.append_events(&session, None, &events)?;
                Ok(AppendOutput { session, appended: events.len(), events: total })
            })
            .await;
        respond(r, |_| None)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NocturneMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("nocturne", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_tools_with_descriptions_and_schemas() {
        let tools = NocturneMcp::tool_router().list_all();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["memory_context", "memory_propose", "memory_search", "outcome_log", "session_append"]);
        for t in &tools {
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 80), "{}", t.name);
            assert!(t.output_schema.is_some(), "{}", t.name);
            let props = t.input_schema.get("properties").and_then(|p| p.as_object()).unwrap();
            assert!(!props.is_empty(), "{}", t.name);
        }
        let append = tools.iter().find(|t| t.name == "session_append").unwrap();
        let required = append.input_schema.get("required").unwrap();
        assert_eq!(required, &serde_json::json!(["session", "events"]));
        let search = tools.iter().find(|t| t.name == "memory_search").unwrap();
        assert_eq!(search.annotations.as_ref().and_then(|a| a.read_only_hint), Some(true));
    }
}
