//! The OpenAPI 3.1 document, generated from the route table.

use crate::route::{Body, ExampleIds, ParamIn, Reply, Route};
use serde_json::{json, Map, Value};

/// The document for every route of [`crate::routes`].
pub fn document() -> Value {
    document_for(&crate::routes())
}

fn content_example(template: &str, json_body: bool) -> Value {
    let filled = ExampleIds::docs().fill(template);
    if json_body {
        serde_json::from_str(&filled).unwrap_or(Value::String(filled))
    } else {
        Value::String(filled)
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(r: &Route) -> Value {
    let ids = ExampleIds::docs();
    let params: Vec<Value> = r
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.location { ParamIn::Path => "path", ParamIn::Query => "query" },
                "required": p.required,
                "description": p.description,
                "schema": {"type": p.ty},
                "example": ids.fill(p.example.template()),
            })
        })
        .collect();
    let mut op = Map::new();
    op.insert("operationId".into(), json!(r.operation_id));
    op.insert("tags".into(), json!([r.tag]));
    op.insert("summary".into(), json!(r.summary));
    let needs = match r.needs {
        "none" => "No token needed.".to_string(),
        n => format!("Needs a `{n}` token. A team-bound token sees only its team's data (and reads org memories)."),
    };
    op.insert("description".into(), json!(needs));
    if r.needs == "none" {
        op.insert("security".into(), json!([]));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let body = match &r.body {
        Body::None => None,
        Body::Json { schema, example } => Some(json!({"required": true, "content": {"application/json": {
            "schema": schema_ref(schema), "example": content_example(example, true)}}})),
        Body::Raw { content_type, example } => Some(json!({"required": true, "content": {*content_type: {
            "schema": {"type": "string"}, "example": content_example(example, false)}}})),
        Body::Form { schema, example } => {
            Some(json!({"required": true, "content": {"application/x-www-form-urlencoded": {
            "schema": schema_ref(schema), "example": content_example(example, false)}}}))
        }
    };
    if let Some(b) = body {
        op.insert("requestBody".into(), b);
    }
    let mut responses = Map::new();
    match &r.reply {
        Reply::Json { status, schema } => {
            responses.insert(
                status.to_string(),
                json!({"description": "Success.", "content": {"application/json": {"schema": schema_ref(schema)}}}),
            );
        }
        Reply::JsonOrMarkdown { schema } => {
            responses.insert(
                "200".into(),
                json!({"description": "The export.", "content": {
                    "application/json": {"schema": schema_ref(schema)},
                    "text/markdown": {"schema": {"type": "string"}}}}),
            );
        }
        Reply::Html => {
            responses.insert(
                "200".into(),
                json!({"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}),
            );
        }
        Reply::Redirect => {
            responses.insert(
                "303".into(),
                json!({"description": "Done; see the page in `Location`.",
                    "headers": {"Location": {"schema": {"type": "string"}}}}),
            );
        }
    }
    responses.insert("default".into(), json!({"$ref": "#/components/responses/Error"}));
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The document for `routes`.
pub fn document_for(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_ascii_lowercase(), operation(r));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Nocturne",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An open, self-hosted memory system for AI agents: session log, versioned memory, \
                dreams that propose memory changes, outcomes, search. Every error is `{\"error\":{\"code\",\"message\"}}` \
                with codes invalid_input (400), unauthorized (401), forbidden (403), not_found (404), \
                method_not_allowed (405), conflict (409), payload_too_large (413), uri_too_long (414), \
                unsupported_media_type (415), headers_too_large (431), io_error and internal (500). \
                JSON bodies need `Content-Type: application/json`. Requests that change data from a page on \
                another site (`Origin`, `Sec-Fetch-Site`) and requests to a `Host` the server does not answer to \
                are refused (403)."
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `nocturne tokens create` or POST /v1/tokens."},
                "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE,
                    "description": "Review pages only: set by opening a page once with `?token=TOKEN`."}
            },
            "responses": {
                "Error": {"description": "An error.", "content": {"application/json": {"schema": schema_ref("Error")}}}
            },
            "schemas": schemas()
        }
    })
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

fn schemas() -> Value {
    let s = json!({"type": "string"});
    let os = json!({"type": ["string", "null"]});
    let int = json!({"type": "integer"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "Object": {"type": "object"},
        "Error": obj(json!({"error": obj(json!({"code": {"type": "string", "enum": crate::error::CODES},
            "message": s}), &["code", "message"])}), &["error"]),
        "Scope": obj(json!({"level": {"type": "string", "enum": ["org", "team", "agent", "user"]}, "name": s}), &["level"]),
        "Evidence": obj(json!({"session": s, "events": {"type": "array", "items": int}, "quote": s}), &["session"]),
        "Memory": obj(json!({"id": s, "kind": s, "text": s, "tags": strings, "scope": schema_ref("Scope"),
            "priority": int, "status": {"type": "string", "enum": ["active", "retired"]},
            "evidence": array_of("Evidence"), "created_at": s, "updated_at": s, "retired_reason": s}),
            &["id", "kind", "text", "scope", "status", "created_at", "updated_at"]),
        "Memories": array_of("Memory"),
        "MemoryWritten": obj(json!({"memory": schema_ref("Memory"), "revision": int}), &["memory", "revision"]),
        "NewMemory": obj(json!({"kind": s, "text": s, "tags": strings, "scope": s, "priority": int, "expect_rev": int}),
            &["kind", "text"]),
        "MemoryEdit": obj(json!({"text": s, "kind": s, "tags": strings, "scope": s, "priority": int, "expect_rev": int}), &[]),
        "Retire": obj(json!({"reason": s, "expect_rev": int}), &[]),
        "Rollback": obj(json!({"to": int, "expect_rev": int}), &["to"]),
        "Change": obj(json!({"memory_id": s, "before": {"oneOf": [schema_ref("Memory"), {"type": "null"}]},
            "after": {"oneOf": [schema_ref("Memory"), {"type": "null"}]}}), &["memory_id"]),
        "Revision": obj(json!({"rev": int, "author": s, "reason": s, "created_at": s, "changes": array_of("Change")}),
            &["rev", "author", "reason", "created_at", "changes"]),
        "HistoryEntry": obj(json!({"rev": int, "author": s, "reason": s, "created_at": s,
            "before": {"oneOf": [schema_ref("Memory"), {"type": "null"}]},
            "after": {"oneOf": [schema_ref("Memory"), {"type": "null"}]}}), &["rev", "author", "reason", "created_at"]),
        "History": array_of("HistoryEntry"),
        "MemoryHit": obj(json!({"id": s, "kind": s, "scope": s, "priority": int, "text": s, "score": {"type": "number"},
            "parts": {"type": "object"}}), &["id", "kind", "scope", "text", "score"]),
        "MemoryHits": array_of("MemoryHit"),
        "ContextRequest": obj(json!({"task": s, "budget": int, "agent": s, "user": s, "team": s, "session": s}), &["task"]),
        "ContextBundle": obj(json!({"usage_id": int, "bundle": {"type": "object"}, "markdown": s, "message": s}),
            &["usage_id", "bundle", "markdown"]),
        "Session": obj(json!({"id": s, "format": s, "source": s, "user": s, "agent": s, "team": s, "title": s,
            "parent": {"type": "string", "description": "The session that spawned this sub-agent session."},
            "subagent": obj(json!({"agent_id": s, "agent_type": s, "description": s, "compaction": {"type": "boolean"}}), &["agent_id"]),
            "counterpart": {"type": "string", "enum": ["operator", "customer", "agent"]},
            "event_count": int, "head_hash": s, "started_at": s, "ended_at": s, "ingested_at": s}),
            &["id", "format", "event_count", "head_hash", "started_at", "ingested_at"]),
        "Sessions": array_of("Session"),
        "NewEvent": obj(json!({"role": {"type": "string", "enum": ["user", "assistant", "system", "tool"]},
            "kind": {"type": "string", "enum": ["user_message", "assistant_message", "tool_call", "tool_result", "system", "other"]},
            "tool_name": s, "tool_input": s, "tool_use_id": s, "text": s, "is_error": {"type": "boolean"},
            "timestamp": s, "sidechain": {"type": "boolean"}, "source_line": int,
            "raw": {"type": "string", "description": "Source JSON; defaults to the event as sent."}}), &["role", "kind"]),
        "NewEvents": array_of("NewEvent"),
        "Event": {"allOf": [schema_ref("NewEvent"), obj(json!({"session": s, "seq": int, "hash": s}), &["session", "seq", "hash"])]},
        "Spawn": obj(json!({"seq": int, "tool_name": s, "tool_use_id": s, "description": s,
            "matched_by": {"type": "string", "enum": ["agent_id", "prompt"]}}), &["seq", "tool_name", "matched_by"]),
        "Child": obj(json!({"session": schema_ref("Session"), "spawned_by": schema_ref("Spawn")}), &["session"]),
        "SessionWithEvents": obj(json!({"session": schema_ref("Session"), "events": array_of("Event"),
            "parent": obj(json!({"id": s, "stored": {"type": "boolean"}, "title": s}), &["id", "stored"]),
            "children": array_of("Child")}), &["session", "events", "children"]),
        "AgentRun": obj(json!({"id": s, "agent": s, "task": s, "team": s, "user": s,
            "state": {"type": "string", "enum": ["running", "completed", "partial", "failed", "cancelled"]},
            "created_at": s, "updated_at": s, "cancel_requested_at": s, "runner": s,
            "result": schema_ref("TypedResult"), "setup": {"type": "object"}}),
            &["id", "agent", "task", "state", "created_at", "updated_at"]),
        "AgentRuns": array_of("AgentRun"),
        "NewRun": obj(json!({"agent": s, "task": s, "context": {"type": "object"}, "user": s, "team": s}),
            &["agent", "task"]),
        "QueuedRun": obj(json!({"run": schema_ref("AgentRun"), "job": schema_ref("Job")}), &["run", "job"]),
        "TypedResult": obj(json!({"status": {"type": "string", "enum": ["completed", "partial", "failed"]},
            "output": {}, "reason": s,
            "kind": {"type": "string", "enum": ["model_error", "tool_error", "budget_exceeded", "invalid_output", "cancelled"]},
            "message": s, "attempts": int, "usage": {"type": "object"}}), &["status", "usage"]),
        "RunNode": obj(json!({"path": s, "agent": s, "task": s, "attempt": int, "session": s, "state": s,
            "model_calls": int, "tool_calls": int, "in_flight": s, "result": schema_ref("TypedResult"),
            "children": array_of("RunNode")}), &["path", "agent", "session", "state", "children"]),
        "RunView": {"allOf": [schema_ref("AgentRun"), obj(json!({"journal_entries": int, "tree": schema_ref("RunNode")}),
            &["journal_entries"])]},
        "JournalEntry": obj(json!({"seq": int, "run": s, "agent": s, "step": int,
            "phase": {"type": "string", "enum": ["started", "finished"]},
            "kind": {"type": "string", "enum": ["start", "model", "tool", "spawn", "end"]},
            "digest": s, "at": s, "body": {"type": "object"}}), &["seq", "run", "agent", "step", "phase", "kind", "at"]),
        "JournalEntries": array_of("JournalEntry"),
        "Appended": obj(json!({"session": s, "event_count": int}), &["session", "event_count"]),
        "IngestReport": obj(json!({
            "totals": obj(json!({"files": int, "files_empty": int, "files_refused": int, "records_read": int,
                "records_skipped": {"type": "object", "additionalProperties": int}, "events_added": int,
                "sessions_added": int, "sessions_extended": int, "sessions_unchanged": int, "sessions_refused": int,
                "children_linked": int, "outcomes_logged": int}), &["files", "events_added", "sessions_added"]),
            "files": {"type": "array", "items": obj(json!({"file": s,
                "status": {"type": "string", "enum": ["read", "empty", "refused"]}, "records": int, "events_added": int,
                "skipped": {"type": "object", "additionalProperties": int}, "children_linked": int,
                "sessions": {"type": "array", "items": obj(json!({"id": s,
                    "result": {"type": "string", "enum": ["added", "extended", "unchanged", "duplicate", "refused"]},
                    "events": int, "events_added": int, "parent": s, "duplicate_of": s}), &["id", "result"])}}),
                &["file", "status"])},
            "refused": {"type": "array", "items": obj(json!({"file": s, "line": int, "session": s, "event": int,
                "other_file": s, "reason": s}), &["file", "reason"])},
            "notes": strings}), &["totals", "files", "refused"]),
        "EventHit": obj(json!({"session": s, "event": int, "kind": s, "text": s, "raw": s, "score": {"type": "number"},
            "parts": {"type": "object"}}), &["session", "event", "kind", "text"]),
        "EventHits": array_of("EventHit"),
        "Op": obj(json!({"n": int, "op": {"type": "string", "enum": ["create", "update", "merge", "retire", "promote", "demote"]},
            "kind": s, "text": s, "targets": strings, "scope": schema_ref("Scope"), "evidence": array_of("Evidence"),
            "support": int, "users": int, "confidence": {"type": "number"}, "rationale": s, "pass": s, "tags": strings}),
            &["n", "op", "kind", "text", "scope", "support", "users", "confidence", "rationale"]),
        "Proposal": obj(json!({"id": s, "base_revision": int, "created_at": s,
            "status": {"type": "string", "enum": ["pending", "applied", "rejected"]}, "sessions": strings,
            "ops": array_of("Op"), "stats": {"type": "object"}, "applied_revision": int, "notes": s, "team": s,
            "applied_ops": {"type": "array", "items": int}}),
            &["id", "base_revision", "created_at", "status", "sessions", "ops"]),
        "Proposals": array_of("Proposal"),
        "Job": obj(json!({"id": s, "kind": s, "key": os, "payload": {"type": "object"}, "team": os, "submitted_by": s,
            "created_at": s, "run_after": s, "max_attempts": int,
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]}, "attempts": int,
            "worker": os, "lease_until": os, "started_at": os, "finished_at": os, "result": {"type": ["object", "null"]},
            "error": os}), &["id", "kind", "state", "attempts", "created_at"]),
        "Jobs": array_of("Job"),
        "DreamRequest": obj(json!({"sessions": int, "user": s, "agent": s, "team": s, "since": s, "until": s,
            "focus": strings, "ignore": strings,
            "min_support": {"type": "integer", "minimum": 1,
                "description": "Distinct sessions every finding needs (default: 2 for mistakes, 3 for the other kinds)."},
            "max_workflows": int, "notes": s,
            "weights": obj(json!({"neutral": {"type": "number"}, "success_at": {"type": "number"},
                "failure_below": {"type": "number"}, "min_usefulness_sessions": int,
                "usefulness_margin": {"type": "number"}}), &[]),
            "instructions": {"type": "string", "description": "The text of a dream instructions TOML file."},
            "apply": {"type": "boolean"},
            "model": {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["auto", "dry_run"]}],
                "description": "The model pass: true (with the server's model; 400 model_config when it has none), \
                    false (deterministic only), \"dry_run\" (POST /v1/dreams only: answers 200 with the exact request \
                    bodies, {endpoint, model, requests, bytes, estimated_input_tokens, sessions, sessions_left_out, \
                    sent: false}; nothing sent or stored). Absent or \"auto\": the model pass when the server has a model."}}), &[]),
        "OpSelection": obj(json!({"only": {"type": "array", "items": int}, "skip": {"type": "array", "items": int}}), &[]),
        "LogOutcome": obj(json!({"session": s, "task": s, "set": strings, "source": s, "by": s, "comment": s}), &["session", "set"]),
        "Outcome": {"type": "object"},
        "Outcomes": array_of("Outcome"),
        "GroupStats": {"type": "array", "items": {"type": "object"}},
        "Taxonomy": obj(json!({"version": int, "dimension": {"type": "array", "items": {"type": "object"}}}), &["dimension"]),
        "TaxonomyChange": obj(json!({"version": int, "orphaned": strings}), &["version", "orphaned"]),
        "ExportDoc": obj(json!({"format": s, "version": int, "exported_at": s, "head_revision": int,
            "digest": {"type": "string", "description": "The document digest (since version 5; see docs/export-format.md). Every revision, taxonomy version, outcome, session and usage event also carries its chained `digest`."},
            "memories": array_of("Memory"), "revisions": array_of("Revision"),
            "taxonomies": {"type": "array", "items": {"type": "object"}}, "outcomes": array_of("Outcome")}),
            &["format", "version", "memories", "revisions"]),
        "NewTokenRequest": obj(json!({"scope": {"type": "string", "enum": ["read", "write", "admin"]}, "team": s}), &["scope"]),
        "NewToken": obj(json!({"id": s, "token": s, "scope": s, "team": os}), &["id", "token", "scope"]),
        "ApplyForm": obj(json!({"op": {"type": "array", "items": int, "description": "The checked op numbers (repeated field)."}}), &[]),
        "RollbackForm": obj(json!({"to": int, "memory": s}), &["to"]),
    })
}
