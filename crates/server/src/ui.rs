//! The review pages: server-rendered HTML, forms that work without
//! JavaScript. Proposals with each op as a before → after diff and its
//! evidence; apply chosen ops or reject; a memory browser with history and
//! rollback.
//!
//! In a browser the token comes from `?token=` once (kept in an HttpOnly,
//! SameSite=Strict cookie), or the pages are open when the server runs
//! `insecure_local`. Form posts from another site are refused before they
//! reach a page (`guard`), and so is a `?token=` link followed from one.

use crate::api::{call, id_of, query_of};
use crate::auth::COOKIE;
use crate::route::{path, query, schema, Body, Example, Reply, Route};
use crate::{ApiError, AppState, Credentials};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use nocturne_core::proposal::plan_ops;
use nocturne_core::{Memory, Op, OpKind, Proposal, ProposalStatus};
use nocturne_service::{Access, AccessLevel, MemoryFilter, OpSelection, ServiceError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

// --- small helpers ---

/// HTML-escapes text (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a path segment.
fn seg(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The page's one style sheet (an inline `<style>`, allowed by its hash in the CSP).
pub const CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:1.5em auto;padding:0 1em;color:#222}\
a{color:#2456a4}nav a{margin-right:1em}table{border-collapse:collapse;width:100%;margin:.5em 0}\
td,th{border:1px solid #ddd;padding:.3em .5em;vertical-align:top;text-align:left}th{background:#f4f4f4}\
.badge{font-size:.75em;border:1px solid #999;border-radius:3px;padding:0 .3em;color:#555}.op{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:1em 0}.op h3{margin:.2em 0}\
.meta{color:#666;font-size:.9em}del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}\
tr.chg td{background:#fffbe6}blockquote{margin:.3em 0 .3em 1em;padding-left:.6em;border-left:3px solid #ccc;color:#444;white-space:pre-wrap}\
.notice{background:#e8f4ff;padding:.5em 1em;border-radius:4px}.err{background:#fde8e8;padding:.5em 1em;border-radius:4px}\
code{background:#f4f4f4;padding:0 .2em}button{padding:.3em .9em}";

fn layout(title: &str, access: Option<&Access>, body: &str) -> String {
    let who = match access {
        Some(a) => {
            let team = a.team.as_deref().map(|t| format!(", team {}", esc(t))).unwrap_or_else(|| ", org-wide".into());
            let tok = a.token.as_deref().map(esc).unwrap_or_else(|| "local".into());
            format!("<span class=meta>{tok}: {}{team}</span>", a.level.as_str())
        }
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{} · Nocturne</title><style>{CSS}</style></head><body><nav><a href=\"/\">Proposals</a>\
         <a href=\"/memories\">Memories</a><a href=\"/runs\">Runs</a>{who}</nav><h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    )
}

fn html(s: String) -> Response {
    Html(s).into_response()
}

/// An error as a page, with the status from the same table as the API.
fn error_page(e: ApiError) -> Response {
    let (code, status, message) = e.parts();
    let mut body = format!("<p class=err><b>{}</b> ({}): {}</p>", esc(code), status.as_u16(), esc(&message));
    if status == StatusCode::UNAUTHORIZED {
        body.push_str(
            "<form method=get><label>Token <input name=token type=password size=50></label> \
             <button>Open</button></form><p class=meta>The token is kept in an HttpOnly cookie for this site.</p>",
        );
    }
    (status, Html(layout(status.canonical_reason().unwrap_or("Error"), None, &body))).into_response()
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(ApiError::invalid("bad redirect target")),
    }
}

/// `?token=` on a page: keep it in a cookie and reload the page without it.
/// Not from a link on another site (which could log the browser in as
/// someone else): paste the address instead.
fn take_token(uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let q = uri.query()?;
    if !q.split('&').any(|p| p.starts_with("token=")) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if matches!(site, "cross-site" | "same-site") {
            return Some(error_page(ApiError::forbidden(
                "a token in a link from another site is not taken: paste the address into the address bar",
            )));
        }
    }
    let mut token = None;
    let mut rest = Vec::new();
    for part in q.split('&') {
        match part.split_once('=') {
            Some(("token", v)) => token = Some(v.to_string()),
            _ if !part.is_empty() => rest.push(part),
            _ => {}
        }
    }
    let token = token?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Some(error_page(ApiError::Service(ServiceError::Unauthorized("malformed token".into()))));
    }
    let to = if rest.is_empty() { uri.path().to_string() } else { format!("{}?{}", uri.path(), rest.join("&")) };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut resp = redirect(&to);
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            resp.headers_mut().insert(header::SET_COOKIE, v);
            Some(resp)
        }
        Err(_) => Some(error_page(ApiError::invalid("malformed token"))),
    }
}

fn is_org_admin(a: &Access) -> bool {
    a.level == AccessLevel::Admin && a.team.is_none()
}

// --- proposals ---

async fn proposals_page(State(st): State<AppState>, cred: Credentials, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    match call(&st, cred, true, |s| Ok((s.dreams()?, s.access().clone()))).await {
        Ok((list, access)) => html(layout("Proposals", Some(&access), &render_proposals(&list))),
        Err(e) => error_page(e),
    }
}

fn render_proposals(list: &[Proposal]) -> String {
    if list.is_empty() {
        return "<p>No proposals yet. Run a dream: <code>nocturne dream</code> or <code>POST /v1/dreams</code>.</p>"
            .into();
    }
    let mut o = String::from(
        "<table><tr><th>Proposal</th><th>Created</th><th>Status</th><th>Ops</th><th>Sessions</th><th>Team</th></tr>",
    );
    for p in list {
        let team = p.team.as_deref().unwrap_or("");
        let _ = write!(
            o,
            "<tr><td><a href=\"/dreams/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&seg(&p.id)),
            esc(&p.id),
            esc(&p.created_at),
            p.status.as_str(),
            p.ops.len(),
            p.sessions.len(),
            esc(team)
        );
    }
    o.push_str("</table>");
    o
}

#[derive(Debug, Default, Deserialize)]
struct DreamPageQuery {
    applied: Option<u64>,
    rejected: Option<bool>,
}

async fn proposal_page(
    State(st): State<AppState>,
    cred: Credentials,
    headers: HeaderMap,
    uri: Uri,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    q: Result<Query<DreamPageQuery>, QueryRejection>,
) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    let (id, q) = match (id_of(id), query_of(q)) {
        (Ok(id), Ok(q)) => (id, q),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    let res = call(&st, cred, true, move |s| {
        let p = s.dream_proposal(&id)?;
        // The current state of every memory an op targets (those visible to the caller).
        let mut targets = BTreeMap::new();
        for t in p.ops.iter().flat_map(|o| o.targets.iter()) {
            match s.memory(t) {
                Ok(m) => {
                    targets.insert(t.clone(), m);
                }
                Err(ServiceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((p, targets, s.access().clone()))
    })
    .await;
    match res {
        Ok((p, targets, access)) => {
            let mut body = String::new();
            if let Some(rev) = q.applied {
                let _ = write!(
                    body,
                    "<p class=notice>Applied as revision {rev}. Undo by rolling memory back to revision {}.</p>",
                    rev.saturating_sub(1)
                );
            }
            if q.rejected == Some(true) {
                body.push_str("<p class=notice>Rejected; memory is unchanged.</p>");
            }
            body.push_str(&render_proposal(&p, &targets));
            html(layout(&format!("Proposal {}", p.id), Some(&access), &body))
        }
        Err(e) => error_page(e),
    }
}

/// The fields a memory table shows, in order.
fn memory_fields(m: &Memory) -> [(&'static str, String); 6] {
    [
        ("text", m.text.clone()),
        ("kind", m.kind.to_string()),
        ("scope", m.scope.to_string()),
        ("priority", m.priority.to_string()),
        (
            "status",
            match &m.retired_reason {
                Some(r) => format!("{} ({r})", m.status.as_str()),
                None => m.status.as_str().to_string(),
            },
        ),
        ("tags", m.tags.join(", ")),
    ]
}

fn memory_rows(before: Option<&Memory>, after: Option<&Memory>) -> String {
    let names = ["text", "kind", "scope", "priority", "status", "tags"];
    let values = |m: Option<&Memory>| -> Vec<String> {
        m.map(|m| memory_fields(m).into_iter().map(|(_, v)| v).collect()).unwrap_or_else(|| vec![String::new(); 6])
    };
    let (bv, av) = (values(before), values(after));
    let mut o = String::from("<table><tr><th></th><th>Before</th><th>After</th></tr>");
    for ((name, b), a) in names.iter().zip(&bv).zip(&av) {
        let changed = before.is_some() && b != a;
        let (bh, ah) = if changed {
            (format!("<del>{}</del>", esc(b)), format!("<ins>{}</ins>", esc(a)))
        } else if before.is_none() {
            ("—".to_string(), format!("<ins>{}</ins>", esc(a)))
        } else {
            (esc(b), esc(a))
        };
        let cls = if changed { " class=chg" } else { "" };
        let _ = write!(o, "<tr{cls}><th>{name}</th><td>{bh}</td><td>{ah}</td></tr>");
    }
    o.push_str("</table>");
    o
}

/// Evidence as list items: session, event numbers, the quoted text.
fn evidence_items(evidence: &[nocturne_core::Evidence]) -> String {
    let mut o = String::new();
    for e in evidence {
        let events: Vec<String> = e.events.iter().map(u32::to_string).collect();
        let _ = write!(
            o,
            "<li>session <code>{}</code>, events {}<blockquote>{}</blockquote></li>",
            esc(&e.session),
            esc(&events.join(", ")),
            esc(&e.quote)
        );
    }
    o
}

/// A memory as it is now: one column, nothing marked as changed.
fn memory_now(m: &Memory) -> String {
    let mut o = String::from("<table><tr><th></th><th>Now</th></tr>");
    for (name, v) in memory_fields(m) {
        let _ = write!(o, "<tr><th>{name}</th><td>{}</td></tr>", esc(&v));
    }
    o.push_str("</table>");
    o
}

/// The op as before → after tables, computed with the same planning the
/// apply uses, against the targets' current state.
fn render_op_diff(p: &Proposal, op: &Op, targets: &BTreeMap<String, Memory>) -> String {
    let hidden: Vec<&String> = op.targets.iter().filter(|t| !targets.contains_key(*t)).collect();
    if !hidden.is_empty() {
        let ids: Vec<String> = hidden.iter().map(|t| format!("<code>{}</code>", esc(t))).collect();
        return format!("<p class=err>Targets {} do not exist or are not visible to you.</p>", ids.join(", "));
    }
    let now = "(on apply)";
    match plan_ops(&[op], targets, now, &p.id) {
        Ok(changes) => {
            let mut o = String::new();
            // Targets first, in the op's order, then anything created.
            let mut ordered: Vec<&nocturne_core::Change> = Vec::new();
            for t in &op.targets {
                ordered.extend(changes.iter().filter(|c| &c.memory_id == t));
            }
            ordered.extend(changes.iter().filter(|c| !op.targets.contains(&c.memory_id)));
            for c in ordered {
                let label = if c.before.is_some() {
                    format!(
                        "memory <a href=\"/memories/{}\"><code>{}</code></a>",
                        esc(&seg(&c.memory_id)),
                        esc(&c.memory_id)
                    )
                } else {
                    "new memory".to_string()
                };
                let _ = write!(o, "<p class=meta>{label}</p>{}", memory_rows(c.before.as_ref(), c.after.as_ref()));
            }
            o
        }
        Err(conflicts) => {
            let list: Vec<String> = conflicts.iter().map(|c| esc(&c.reason)).collect();
            format!("<p class=err>Cannot be applied as memory is now: {}</p>", list.join("; "))
        }
    }
}

fn render_proposal(p: &Proposal, targets: &BTreeMap<String, Memory>) -> String {
    let pending = p.status == ProposalStatus::Pending;
    let mut o = String::new();
    let _ = write!(
        o,
        "<p class=meta>Status <b>{}</b> · created {} · read store revision {} · {} sessions{}{}</p>",
        p.status.as_str(),
        esc(&p.created_at),
        p.base_revision,
        p.sessions.len(),
        p.applied_revision.map(|r| format!(" · applied as revision {r}")).unwrap_or_default(),
        p.notes.as_deref().map(|n| format!(" · notes: {}", esc(n))).unwrap_or_default(),
    );
    if let Some(line) = nocturne_service::model_line(p) {
        let _ = write!(o, "<p class=meta>{}</p>", esc(&line));
    }
    if p.ops.is_empty() {
        o.push_str("<p>This dream proposes no change.</p>");
        return o;
    }
    if pending {
        let _ = write!(o, "<form method=post action=\"/dreams/{}/apply\">", esc(&seg(&p.id)));
    }
    for op in &p.ops {
        let check = if pending {
            format!("<input type=checkbox name=op value={} checked id=op{}> ", op.n, op.n)
        } else if p.status == nocturne_core::ProposalStatus::Applied && !p.applied_ops.is_empty() {
            if p.applied_ops.contains(&op.n) {
                "<span class=badge>applied</span> ".to_string()
            } else {
                "<span class=badge>skipped</span> ".to_string()
            }
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<div class=op><h3>{check}<label for=op{n}>#{n} {op} {kind}</label></h3>\
             <p class=meta>scope <code>{scope}</code> · support {support} sessions · {users} users · \
             confidence {conf:.2} · pass {pass}</p><p>{rationale}</p>",
            n = op.n,
            op = op.op.as_str(),
            kind = esc(op.kind.as_str()),
            scope = esc(&op.scope.to_string()),
            support = op.support,
            users = op.users,
            conf = op.confidence,
            pass = esc(&op.pass),
            rationale = esc(&op.rationale),
        );
        if op.op == OpKind::Create || !op.targets.is_empty() {
            o.push_str(&render_op_diff(p, op, targets));
        }
        if !op.evidence.is_empty() {
            o.push_str("<details open><summary>Evidence</summary><ul>");
            o.push_str(&evidence_items(&op.evidence));
            o.push_str("</ul></details>");
        }
        o.push_str("</div>");
    }
    if pending {
        o.push_str("<p><button>Apply the checked ops</button></p></form>");
        let _ = write!(
            o,
            "<form method=post action=\"/dreams/{}/reject\"><button>Reject the whole proposal</button></form>",
            esc(&seg(&p.id))
        );
    }
    o
}

/// The apply form: the checked op numbers, one `op` field each (at least one).
fn apply_form_body(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let op = g.subschema_for::<u32>();
    schemars::json_schema!({"type": "object", "required": ["op"], "properties": {"op": {
        "type": "array", "items": op, "minItems": 1, "description": "The checked op numbers (repeated field)."}}})
}

async fn apply_form(
    State(st): State<AppState>,
    cred: Credentials,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let run = async {
        let id = id_of(id)?;
        let Form(fields) = form.map_err(|e| ApiError::invalid(e.body_text()))?;
        let mut only = Vec::new();
        for (k, v) in fields {
            if k == "op" {
                only.push(v.parse::<u32>().map_err(|_| ApiError::invalid(format!("op {v:?} is not a number")))?);
            }
        }
        // An empty selection would mean "all ops" to the service.
        if only.is_empty() {
            return Err(ApiError::invalid("no op is checked: check the ops to apply, or reject the proposal"));
        }
        let sel = OpSelection { only, skip: Vec::new() };
        let target = id.clone();
        let rev = call(&st, cred, true, move |s| s.apply_dream(&target, &sel)).await?;
        Ok(redirect(&format!("/dreams/{}?applied={}", seg(&id), rev.rev)))
    };
    run.await.unwrap_or_else(error_page)
}

async fn reject_form(
    State(st): State<AppState>,
    cred: Credentials,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let run = async {
        let id = id_of(id)?;
        let target = id.clone();
        call(&st, cred, true, move |s| s.reject_dream(&target)).await?;
        Ok(redirect(&format!("/dreams/{}?rejected=true", seg(&id))))
    };
    run.await.unwrap_or_else(error_page)
}

// --- memories ---

#[derive(Debug, Default, Deserialize)]
struct MemoriesPageQuery {
    #[serde(default)]
    all: bool,
    kind: Option<String>,
    scope: Option<String>,
}

async fn memories_page(
    State(st): State<AppState>,
    cred: Credentials,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<MemoriesPageQuery>, QueryRejection>,
) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    let q = match query_of(q) {
        Ok(q) => q,
        Err(e) => return error_page(e),
    };
    let f = MemoryFilter {
        include_retired: q.all,
        kind: q.kind.clone().filter(|k| !k.is_empty()),
        scope: q.scope.clone().filter(|k| !k.is_empty()),
    };
    match call(&st, cred, true, move |s| Ok((s.memories(&f)?, s.access().clone()))).await {
        Ok((list, access)) => {
            let mut o = format!(
                "<form method=get>kind <input name=kind value=\"{}\" size=12> scope <input name=scope value=\"{}\" size=14> \
                 <label><input type=checkbox name=all value=true{}> include retired</label> <button>Filter</button></form>",
                esc(q.kind.as_deref().unwrap_or("")),
                esc(q.scope.as_deref().unwrap_or("")),
                if q.all { " checked" } else { "" }
            );
            o.push_str("<table><tr><th>Memory</th><th>Kind</th><th>Scope</th><th>Priority</th><th>Status</th><th>Text</th></tr>");
            for m in &list {
                let _ = write!(
                    o,
                    "<tr><td><a href=\"/memories/{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&seg(&m.id)),
                    esc(&m.id),
                    esc(m.kind.as_str()),
                    esc(&m.scope.to_string()),
                    m.priority,
                    m.status.as_str(),
                    esc(&m.text)
                );
            }
            o.push_str("</table>");
            if list.is_empty() {
                o.push_str("<p>No memories match.</p>");
            }
            html(layout("Memories", Some(&access), &o))
        }
        Err(e) => error_page(e),
    }
}

async fn memory_page(
    State(st): State<AppState>,
    cred: Credentials,
    headers: HeaderMap,
    uri: Uri,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    let id = match id_of(id) {
        Ok(id) => id,
        Err(e) => return error_page(e),
    };
    let mid = id.clone();
    match call(&st, cred, true, move |s| Ok((s.history(&mid)?, s.access().clone()))).await {
        Ok((history, access)) => {
            let current = history.last().and_then(|h| h.change.after.as_ref().or(h.change.before.as_ref()));
            let mut o = String::new();
            if let Some(m) = current {
                o.push_str(&memory_now(m));
                if !m.evidence.is_empty() {
                    o.push_str("<h2>Evidence</h2><ul>");
                    o.push_str(&evidence_items(&m.evidence));
                    o.push_str("</ul>");
                }
            }
            o.push_str("<h2>History</h2>");
            let admin = is_org_admin(&access);
            for h in history.iter().rev() {
                let _ = write!(
                    o,
                    "<div class=op><h3>Revision {}</h3><p class=meta>{} · {} · {}</p>{}",
                    h.rev,
                    esc(&h.created_at),
                    esc(&h.author),
                    esc(&h.reason),
                    memory_rows(h.change.before.as_ref(), h.change.after.as_ref())
                );
                if admin {
                    let _ = write!(
                        o,
                        "<form method=post action=\"/rollback\"><input type=hidden name=to value={}>\
                         <input type=hidden name=memory value=\"{}\"><button>Roll all memory back to revision {}</button> \
                         <span class=meta>(as a new revision; every memory changed since is restored too)</span></form>",
                        h.rev,
                        esc(&id),
                        h.rev
                    );
                }
                o.push_str("</div>");
            }
            html(layout(&format!("Memory {id}"), Some(&access), &o))
        }
        Err(e) => error_page(e),
    }
}

async fn runs_page(State(st): State<AppState>, cred: Credentials, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    let f = nocturne_service::RunFilter { team: None, state: None, limit: Some(200) };
    match call(&st, cred, true, move |s| Ok((s.agent_runs(f)?, s.access().clone()))).await {
        Ok((runs, access)) => {
            let mut o = String::new();
            if runs.is_empty() {
                o.push_str("<p>No agent runs yet (<code>nocturne run AGENT \"TASK\"</code>).</p>");
            } else {
                o.push_str("<table><tr><th>Run</th><th>State</th><th>Agent</th><th>Task</th><th>Team</th><th>Started</th></tr>");
                for r in &runs {
                    let _ = write!(
                        o,
                        "<tr><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        seg(&r.id),
                        esc(&r.id),
                        esc(&r.state),
                        esc(&r.agent),
                        esc(&r.task.chars().take(100).collect::<String>()),
                        esc(r.team.as_deref().unwrap_or("")),
                        esc(&r.created_at)
                    );
                }
                o.push_str("</table>");
            }
            html(layout("Runs", Some(&access), &o))
        }
        Err(e) => error_page(e),
    }
}

fn result_summary(r: &nocturne_service::TypedResult) -> String {
    use nocturne_service::TypedResult as T;
    let u = r.usage();
    let usage = format!("{} model calls, {} tool calls, {} tokens", u.turns, u.tool_calls, u.tokens());
    match r {
        T::Completed { .. } => format!("<b>completed</b> <span class=meta>{usage}</span>"),
        T::Partial { reason, .. } => format!("<b>partial</b>: {} <span class=meta>{usage}</span>", esc(reason)),
        T::Failed { kind, message, attempts, .. } => format!(
            "<b>failed</b> <code>{}</code> after {attempts} attempt(s): {} <span class=meta>{usage}</span>",
            kind.as_str(),
            esc(message)
        ),
    }
}

fn run_node(n: &nocturne_service::RunNode, o: &mut String) {
    let state = match &n.result {
        Some(r) => result_summary(r),
        None => match &n.in_flight {
            Some(t) => format!("{} ({} in flight)", esc(&n.state), esc(t)),
            None => esc(&n.state),
        },
    };
    let _ = write!(
        o,
        "<li><b>{}</b> <code>{}</code> — {}<br><span class=meta>session <a href=\"/v1/sessions/{}\">{}</a> ·          {} model calls, {} tool calls</span><blockquote>{}</blockquote>",
        esc(&n.agent),
        esc(&n.path),
        state,
        seg(&n.session),
        esc(&n.session),
        n.model_calls,
        n.tool_calls,
        esc(&n.task)
    );
    if !n.children.is_empty() {
        o.push_str("<ul>");
        for c in &n.children {
            run_node(c, o);
        }
        o.push_str("</ul>");
    }
    o.push_str("</li>");
}

async fn run_page(
    State(st): State<AppState>,
    cred: Credentials,
    headers: HeaderMap,
    uri: Uri,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = take_token(&uri, &headers) {
        return r;
    }
    let id = match id_of(id) {
        Ok(id) => id,
        Err(e) => return error_page(e),
    };
    let rid = id.clone();
    match call(&st, cred, true, move |s| Ok((s.run_view(&rid)?, s.access().clone()))).await {
        Ok((v, access)) => {
            let mut o = format!(
                "<p class=meta>{} · agent {} · started {} · {} journal entries{}</p><p>Task: {}</p>",
                esc(&v.run.state),
                esc(&v.run.agent),
                esc(&v.run.created_at),
                v.journal_entries,
                v.run.team.as_deref().map(|t| format!(" · team {}", esc(t))).unwrap_or_default(),
                esc(&v.run.task)
            );
            if let Some(r) = v
                .run
                .result
                .as_ref()
                .and_then(|r| serde_json::from_value::<nocturne_service::TypedResult>(r.clone()).ok())
            {
                let _ = write!(o, "<p>Result: {}</p>", result_summary(&r));
            }
            o.push_str("<h2>Agents</h2>");
            match &v.tree {
                Some(t) => {
                    o.push_str("<ul>");
                    run_node(t, &mut o);
                    o.push_str("</ul>");
                }
                None => o.push_str("<p>No agent has started yet.</p>"),
            }
            html(layout(&format!("Run {id}"), Some(&access), &o))
        }
        Err(e) => error_page(e),
    }
}

/// The rollback form.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct RollbackForm {
    /// The revision to go back to.
    to: u64,
    /// The memory page to go back to afterwards.
    memory: Option<String>,
}

async fn rollback_form(
    State(st): State<AppState>,
    cred: Credentials,
    form: Result<Form<RollbackForm>, FormRejection>,
) -> Response {
    let run = async {
        let Form(f) = form.map_err(|e| ApiError::invalid(e.body_text()))?;
        let to = f.to;
        call(&st, cred, true, move |s| s.rollback(to, None)).await?;
        Ok(match f.memory.filter(|m| !m.is_empty()) {
            Some(m) => redirect(&format!("/memories/{}", seg(&m))),
            None => redirect("/memories"),
        })
    };
    run.await.unwrap_or_else(error_page)
}

/// The review pages.
pub fn routes() -> Vec<Route> {
    let token = || {
        query(
            "token",
            "string",
            "A token, kept in an HttpOnly cookie; the page reloads without it.",
            Example::Lit("noc_..."),
        )
    };
    vec![
        Route {
            method: Method::GET,
            path: "/",
            operation_id: "uiProposals",
            tag: "review",
            summary: "Review page: the dream proposals.",
            needs: "read",
            params: vec![token()],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(proposals_page),
        },
        Route {
            method: Method::GET,
            path: "/dreams/{id}",
            operation_id: "uiProposal",
            tag: "review",
            summary: "Review page: one proposal, each op as a diff with its evidence, and the apply/reject forms.",
            needs: "read",
            params: vec![path("id", "Dream (proposal) id.", Example::Dream), token()],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(proposal_page),
        },
        Route {
            method: Method::POST,
            path: "/dreams/{id}/apply",
            operation_id: "uiApplyDream",
            tag: "review",
            summary: "Form: apply the checked ops (`op` fields) of a proposal.",
            needs: "write",
            params: vec![path("id", "Dream (proposal) id.", Example::Dream)],
            query: None,
            body: Body::Form { schema: apply_form_body, example: "op=1" },
            reply: Reply::Redirect,
            handler: post(apply_form),
        },
        Route {
            method: Method::POST,
            path: "/dreams/{id}/reject",
            operation_id: "uiRejectDream",
            tag: "review",
            summary: "Form: reject a proposal.",
            needs: "write",
            params: vec![path("id", "Dream (proposal) id.", Example::Dream)],
            query: None,
            body: Body::None,
            reply: Reply::Redirect,
            handler: post(reject_form),
        },
        Route {
            method: Method::GET,
            path: "/memories",
            operation_id: "uiMemories",
            tag: "review",
            summary: "Memory browser.",
            needs: "read",
            params: vec![
                query("all", "boolean", "Include retired memories.", Example::Lit("true")),
                query("kind", "string", "Only this kind.", Example::Lit("preference")),
                query("scope", "string", "Only this scope.", Example::Lit("org")),
                token(),
            ],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(memories_page),
        },
        Route {
            method: Method::GET,
            path: "/memories/{id}",
            operation_id: "uiMemory",
            tag: "review",
            summary: "One memory with its history (and rollback buttons for org admins).",
            needs: "read",
            params: vec![path("id", "Memory id.", Example::Memory), token()],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(memory_page),
        },
        Route {
            method: Method::GET,
            path: "/runs",
            operation_id: "uiRuns",
            tag: "review",
            summary: "Agent runs, newest first.",
            needs: "read",
            params: vec![token()],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(runs_page),
        },
        Route {
            method: Method::GET,
            path: "/runs/{id}",
            operation_id: "uiRun",
            tag: "review",
            summary: "One run: its result and its tree of agents, each with its session.",
            needs: "read",
            params: vec![path("id", "Agent run id.", Example::Run), token()],
            query: None,
            body: Body::None,
            reply: Reply::Html,
            handler: get(run_page),
        },
        Route {
            method: Method::POST,
            path: "/rollback",
            operation_id: "uiRollback",
            tag: "review",
            summary: "Form: roll all memory back to a revision (org admin).",
            needs: "admin",
            params: vec![],
            query: None,
            body: Body::Form { schema: schema::<RollbackForm>, example: "to=1&memory={memory}" },
            reply: Reply::Redirect,
            handler: post(rollback_form),
        },
    ]
}
