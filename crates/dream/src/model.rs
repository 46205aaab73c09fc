//! The model-backed pass, without the model: everything about it that is
//! not a network call, so the engine stays IO-free and "the same snapshot
//! and the same answers give the same proposal".
//!
//! 1. [`plan_requests`] turns a snapshot into [`Batch`]es of session
//!    *digests*: each session's goal (its first real prompt), the
//!    operator's directives and later messages, its failures with the call
//!    and the error, the recovery seen after each, its last answer and its
//!    outcome — every line prefixed by the event number it comes from and
//!    showing that event's text verbatim (whitespace collapsed, secrets
//!    redacted, cut at a length). Each batch also carries the memories in
//!    scope and what the deterministic passes already found, so the model
//!    explains, generalizes and words findings instead of starting from a
//!    blank page, and the steering of the [`DreamConfig`] (focus, ignore,
//!    free-text `notes`). Batches fit the request budget (context window
//!    minus the answer); the dream's `max_input_tokens` caps their sum
//!    (sessions beyond it are left out and counted). Sessions are referred
//!    to as `S1`, `S2`… within a batch (short ids small models copy right).
//! 2. The service sends each batch ([`Batch::system`], [`Batch::user`],
//!    [`answer_schema`]) and hands the JSON answers back as
//!    [`ModelAnswer`]s.
//! 3. [`ModelPass`] turns answers into findings. An op survives only when
//!    every evidence entry cites a session of its batch, an event of that
//!    session, and a quote of at least [`MIN_QUOTE_CHARS`] characters found
//!    verbatim in that event ([`quote_verified`]); others are dropped and
//!    counted (`model.dropped_unverified`). A verified quote must also
//!    share a content word with the proposed text ([`quote_relates`]), or
//!    the op is dropped as `model.dropped_unrelated`. Ops repeated across batches
//!    are merged (evidence united), so support can come from several
//!    batches; the planner then merges a model create that repeats a
//!    deterministic finding into it, and applies the same guardrails as to
//!    every pass (minimum support, scope, no re-creation, redaction).

use crate::context::{Context, Outcome, SessionView};
use crate::passes::{cosine, Idf};
use crate::policy::SAME_TEXT_COSINE;
use crate::{text, Category, DreamConfig, DreamError, Finding, Pass, PassOutput, Snapshot};
use nocturne_core::quote::{normalize_ws, quotable_texts, quote_in_event};
use nocturne_core::secrets::redact;
use nocturne_core::{EventKind, Evidence, MemoryKind, NewEvent, OpKind, Role};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The name of the pass (`Op::pass`, `findings.model`).
pub const PASS_NAME: &str = "model";
/// The answer schema's name (the forced tool on Anthropic, `json_schema.name` on OpenAI).
pub const SCHEMA_NAME: &str = "dream_ops";
/// Shorter quotes prove nothing ("the", "error") and are not accepted.
pub const MIN_QUOTE_CHARS: usize = 8;

/// A conservative token estimate: one token per three characters, rounded
/// up (English averages about four; code and JSON fewer).
pub fn estimate_tokens(s: &str) -> usize {
    s.chars().count().div_ceil(3)
}

/// What the requests of one dream may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Input tokens one request may carry (the context window minus the
    /// answer's limit).
    pub request_input_tokens: usize,
    /// Input tokens all requests of the dream may carry together.
    pub max_input_tokens: Option<usize>,
}

/// One request's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position in [`RequestPlan::batches`].
    pub index: usize,
    /// The session ids of the batch; `S1` is the first.
    pub sessions: Vec<String>,
    pub system: String,
    pub user: String,
    /// [`estimate_tokens`] of system and user together.
    pub input_tokens: usize,
    /// For each session of the batch (`S1` first), the lines its digest
    /// shows: the event number and the event's text as shown (verbatim,
    /// whitespace collapsed, redacted, maybe cut with ` …`).
    pub shown: Vec<Vec<(u32, String)>>,
    /// The ids of the memories the batch shows (targets of update, merge…).
    pub memory_ids: Vec<String>,
}

/// The requests a model dream makes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestPlan {
    pub batches: Vec<Batch>,
    /// Sessions no batch holds because the dream's input budget ran out.
    pub sessions_left_out: Vec<String>,
    pub input_tokens: usize,
}

/// The JSON answer of one batch, as the model gave it (schema-checked by
/// the caller; this pass checks every field again).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub batch: usize,
    pub value: Value,
}

/// [`answer_schema`] with lengths bounded (strings, op and evidence
/// counts), for local servers that constrain the answer by grammar: a
/// small model otherwise can repeat a field until the token limit and cut
/// the JSON off. Hosted APIs get the unbounded schema (OpenAI's strict
/// mode does not take `maxLength`). [`Batch::answer_schema_bounded`]
/// narrows it further to what one batch shows.
pub fn answer_schema_bounded() -> Value {
    let mut s = answer_schema();
    let bound = |v: &mut Value, n: u64| {
        if let Some(o) = v.as_object_mut() {
            o.insert("maxLength".into(), n.into());
        }
    };
    if let Some(ops) = s.pointer_mut("/properties/ops") {
        ops["maxItems"] = MAX_OPS_BOUNDED.into();
    }
    if let Some(item) = s.pointer_mut("/properties/ops/items/properties") {
        bound(&mut item["text"], 160);
        bound(&mut item["rationale"], 80);
        bound(&mut item["targets"]["items"], 64);
        item["targets"]["maxItems"] = 4.into();
        item["evidence"]["maxItems"] = 6.into();
        if let Some(e) = item.pointer_mut("/evidence/items/properties") {
            bound(&mut e["session"], 80);
            bound(&mut e["quote"], 120);
        }
    }
    s
}

/// Ops one answer may hold under the bounded schema: a small model asked
/// for few ops writes them whole, and a batch of a few sessions rarely
/// shows more lessons than this.
pub const MAX_OPS_BOUNDED: u64 = 2;

/// The longest quote a bounded schema offers (characters): the start of a
/// line as the digest shows it, cut at a word.
pub const OFFERED_QUOTE_CHARS: usize = 64;

/// The start of a shown line's text that a bounded schema offers as a
/// quote: at most [`OFFERED_QUOTE_CHARS`], cut at a word, without the
/// digest's ` …`; `None` when shorter than [`MIN_QUOTE_CHARS`].
pub fn offered_quote(shown: &str) -> Option<String> {
    let t = shown.trim_end_matches('…').trim_end();
    let q: String = if t.chars().count() <= OFFERED_QUOTE_CHARS {
        t.to_string()
    } else {
        let cut: String = t.chars().take(OFFERED_QUOTE_CHARS).collect();
        match cut.rfind(' ') {
            Some(i) if i >= MIN_QUOTE_CHARS => cut.get(..i).unwrap_or(&cut).to_string(),
            _ => cut,
        }
    };
    let q = q.trim().to_string();
    (q.chars().count() >= MIN_QUOTE_CHARS).then_some(q)
}

impl Batch {
    /// [`answer_schema_bounded`] narrowed to this batch, so a grammar-
    /// constrained model cannot cite what the batch does not show: each
    /// evidence entry is one of the lines the digests show — its session
    /// (`S1`…), its event number, and as quote the start of its text
    /// ([`offered_quote`]); targets are the memory ids shown, and without
    /// any only `create` is offered. The answer is still checked in full
    /// by [`ModelPass`] (session, event, quote verbatim in the event), as
    /// every answer is.
    pub fn answer_schema_bounded(&self) -> Value {
        let mut s = answer_schema_bounded();
        let mut alternatives: Vec<Value> = Vec::new();
        for (i, lines) in self.shown.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for (seq, text) in lines {
                let Some(q) = offered_quote(text) else { continue };
                if !seen.insert((*seq, q.clone())) {
                    continue;
                }
                alternatives.push(json!({
                    "type": "object",
                    "properties": {
                        "session": {"type": "string", "enum": [format!("S{}", i + 1)]},
                        "event": {"type": "integer", "enum": [seq]},
                        "quote": {"type": "string", "enum": [q]}
                    },
                    "required": ["session", "event", "quote"],
                    "additionalProperties": false
                }));
            }
        }
        if let Some(item) = s.pointer_mut("/properties/ops/items/properties") {
            if !alternatives.is_empty() {
                item["evidence"]["maxItems"] = self.shown.len().clamp(1, 6).into();
                item["evidence"]["items"] = if alternatives.len() == 1 {
                    alternatives.into_iter().next().unwrap_or(Value::Null)
                } else {
                    json!({ "anyOf": alternatives })
                };
            }
            if self.memory_ids.is_empty() {
                item["op"]["enum"] = json!(["create"]);
                item["targets"]["maxItems"] = 0.into();
            } else {
                item["targets"]["items"] = json!({"type": "string", "enum": self.memory_ids});
            }
        }
        s
    }
}

/// The JSON Schema of an answer (strict-mode compatible: every property
/// required, no other properties).
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "ops": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "op": {"type": "string", "enum": ["create", "update", "merge", "retire", "promote", "demote"]},
                        "kind": {"type": "string", "enum": ["mistake", "procedure", "preference", "fact"]},
                        "text": {"type": "string"},
                        "targets": {"type": "array", "items": {"type": "string"}},
                        "rationale": {"type": "string"},
                        "evidence": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "session": {"type": "string"},
                                    "event": {"type": "integer"},
                                    "quote": {"type": "string"}
                                },
                                "required": ["session", "event", "quote"],
                                "additionalProperties": false
                            }
                        }
                    },
                    "required": ["op", "kind", "text", "targets", "rationale", "evidence"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["ops"],
        "additionalProperties": false
    })
}

const SYSTEM: &str = "You read the logs of an AI coding agent's past sessions and propose lessons for its memory \
(the notes it reads before its next session, like a CLAUDE.md). Propose only what is specific to this project, its \
tools and the people running the agent, and what the sessions show: how the project and its tools are set up \
(kind fact), commands or steps that fail here and what works instead (mistake), workflows that work (procedure), \
what the operator asks for (preference). Never propose general advice any agent already knows (check the logs, \
handle errors, ensure permissions, write tests, use try blocks). A lesson seen in only one session is weak; prefer \
lessons that several sessions show, and cite every session that shows it. For existing memories you may propose \
update (new text, the memory id in targets), retire (outdated), merge (duplicates, the kept id first), promote or \
demote (by how sessions went). Every op needs evidence: for each supporting session, the session (S1, S2, ...), the \
event number shown at the start of a line, and a quote copied exactly from the text after the colon on that line \
(at least a few words; never text you wrote, never text from two lines). Ops whose quotes are not found in the log \
are discarded. Return {\"ops\": []} when nothing qualifies.";

/// The system prompt of every batch: the instructions, then the steering
/// of `config` (focus, ignore, notes), redacted.
pub fn system_prompt(config: &DreamConfig, categories: &[Category]) -> String {
    let mut s = SYSTEM.to_string();
    if categories.len() < Category::ALL.len() {
        let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        s.push_str(&format!("\n\nPropose only these kinds of change: {}.", names.join(", ")));
    }
    let ignore: Vec<&str> = config.ignore.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    if !ignore.is_empty() {
        s.push_str(&format!("\n\nIgnore anything about: {}.", ignore.join(", ")));
    }
    if let Some(n) = config.notes.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        s.push_str(&format!("\n\nThe operator's notes for this dream (follow them):\n{n}"));
    }
    redact(&s)
}

/// `text` as a digest shows it: whitespace collapsed, secrets redacted,
/// cut after `max` characters (an excerpt is still verbatim text).
fn excerpt(t: &str, max: usize) -> String {
    let r = redact(&normalize_ws(t));
    if r.chars().count() <= max {
        return r;
    }
    let cut: String = r.chars().take(max).collect();
    format!("{} …", cut.trim_end())
}

fn event<'a>(s: &'a SessionView<'_>, seq: u32) -> Option<&'a NewEvent> {
    let evs = &s.data.events;
    evs.get(seq as usize).filter(|x| x.seq == seq).or_else(|| evs.iter().find(|x| x.seq == seq)).map(|e| &e.body)
}

/// The text of a call worth showing: its `command` (or the first string of
/// its input), else its tool name.
fn call_text(e: &NewEvent) -> String {
    let texts = quotable_texts(e);
    let input: Option<Value> = e.tool_input.as_deref().and_then(|i| serde_json::from_str(i).ok());
    if let Some(c) = input.as_ref().and_then(|v| v.get("command")).and_then(Value::as_str) {
        return c.to_string();
    }
    texts
        .iter()
        .find(|t| Some(t.as_str()) != e.tool_name.as_deref() && !t.trim().is_empty())
        .or_else(|| texts.first())
        .cloned()
        .unwrap_or_default()
}

/// A session's digest lines, most telling first, within `cap` tokens; the
/// header always. With the lines it shows (event number, text as shown).
fn digest(ctx: &Context<'_>, si: usize, alias: &str, cap: usize) -> (String, Vec<(u32, String)>) {
    let Some(s) = ctx.sessions.get(si) else { return (String::new(), Vec::new()) };
    let sess = &s.data.session;
    let mut head = format!("## {alias} · {} · {} events", sess.format, s.data.events.len());
    if let Some(u) = &sess.user {
        head.push_str(&format!(" · user {}", redact(u)));
    }
    if let Some(l) = s.label {
        head.push_str(&format!(" · outcome {}", redact(l)));
    } else if s.successful {
        head.push_str(" · ended with its failures resolved");
    }
    let mut lines: Vec<(u32, String)> = Vec::new();
    let users: Vec<&nocturne_core::Event> = s
        .data
        .events
        .iter()
        .filter(|e| e.body.kind == EventKind::UserMessage && e.body.role == Role::User && e.body.text.is_some())
        .collect();
    if let Some(g) = users.first() {
        lines.push((g.seq, format!("e{} user (goal): {}", g.seq, excerpt(g.body.text.as_deref().unwrap_or(""), 600))));
    }
    for d in &s.directives {
        lines.push((d.seq, format!("e{} user: {}", d.seq, excerpt(&d.text, 300))));
    }
    for f in ctx.failures.iter().filter(|f| f.session == si).take(12) {
        let Some(a) = s.actions.get(f.action) else { continue };
        if let Some(call) = a.called.then(|| event(s, a.call_seq)).flatten() {
            lines.push((a.call_seq, format!("e{} call {}: {}", a.call_seq, a.tool, excerpt(&call_text(call), 200))));
        }
        if let Some((seq, res)) = a.result_seq.and_then(|q| Some((q, event(s, q)?))) {
            let full = res.text.as_deref().unwrap_or("");
            let shown = match &a.error_line {
                Some(l) if quote_in_event(l, res) => excerpt(l, 300),
                _ => excerpt(full, 300),
            };
            lines.push((seq, format!("e{seq} failed: {shown}")));
        }
        if let Some(r) = &f.recovery {
            if let Some(ra) = s.actions.get(r.action) {
                if let Some(call) = event(s, ra.call_seq) {
                    lines.push((
                        ra.call_seq,
                        format!(
                            "e{} then ({}) {}: {}",
                            ra.call_seq,
                            r.relation.as_str(),
                            ra.tool,
                            excerpt(&call_text(call), 200)
                        ),
                    ));
                }
            }
        }
    }
    let directive_seqs: BTreeSet<u32> = s.directives.iter().map(|d| d.seq).collect();
    for u in users.iter().skip(1).filter(|u| !directive_seqs.contains(&u.seq)).take(8) {
        lines.push((u.seq, format!("e{} user: {}", u.seq, excerpt(u.body.text.as_deref().unwrap_or(""), 300))));
    }
    let ok_runs = s.actions.iter().filter(|a| a.outcome == Outcome::Ok).count();
    if let Some(last) = s.data.events.iter().rev().find(|e| {
        e.body.kind == EventKind::AssistantMessage && e.body.text.as_deref().is_some_and(|t| !t.trim().is_empty())
    }) {
        lines.push((
            last.seq,
            format!("e{} agent (last answer): {}", last.seq, excerpt(last.body.text.as_deref().unwrap_or(""), 300)),
        ));
    }
    let mut out = head;
    out.push_str(&format!(" · {} tool calls, {ok_runs} worked\n", s.actions.len()));
    let mut used = estimate_tokens(&out);
    let mut seen = BTreeSet::new();
    let mut kept: Vec<(u32, String)> = Vec::new();
    for (seq, l) in lines {
        if !seen.insert(l.clone()) {
            continue;
        }
        let t = estimate_tokens(&l) + 1;
        if used + t > cap {
            continue;
        }
        used += t;
        kept.push((seq, l));
    }
    // Shown in log order, whatever the priority that chose them.
    kept.sort_by_key(|(seq, _)| *seq);
    let mut shown = Vec::new();
    for (seq, l) in kept {
        out.push_str(&l);
        out.push('\n');
        // `e12 label: text` — the text after the label is the event's, verbatim.
        if let Some((_, text)) = l.split_once(": ") {
            shown.push((seq, text.to_string()));
        }
    }
    (out, shown)
}

/// The memories in scope, within `cap` tokens, and the ids shown.
fn memories_section(ctx: &Context<'_>, cap: usize) -> (String, Vec<String>) {
    if ctx.memories.is_empty() {
        return (String::new(), Vec::new());
    }
    let mut out = String::from("# Memories in scope (ids for targets)\n");
    let mut ids = Vec::new();
    for m in &ctx.memories {
        let l = format!("- {} [{}] {}\n", m.id, m.kind, excerpt(&m.text, 200));
        if estimate_tokens(&out) + estimate_tokens(&l) > cap {
            break;
        }
        out.push_str(&l);
        ids.push(m.id.clone());
    }
    if ids.is_empty() {
        return (String::new(), Vec::new());
    }
    (out, ids)
}

/// What the deterministic passes found, within `cap` tokens.
fn findings_section(findings: &[Finding], cap: usize) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "# Found by the deterministic passes (explain why, generalize, word better; cite the sessions below)\n",
    );
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.sessions.len().cmp(&a.sessions.len()).then(a.text.cmp(&b.text)));
    let head = out.len();
    for f in sorted {
        let l = format!("- {} {} ({} sessions): {}\n", f.op.as_str(), f.kind, f.sessions.len(), excerpt(&f.text, 240));
        if estimate_tokens(&out) + estimate_tokens(&l) > cap {
            break;
        }
        out.push_str(&l);
    }
    if out.len() == head {
        return String::new();
    }
    out
}

/// A session in a batch being filled: its id, its digest, the lines shown.
type Digested = (String, String, Vec<(u32, String)>);

/// Builds the requests of a model dream over `snapshot` (see the module
/// docs). Fails like [`crate::dream`] on a bad configuration, and when the
/// request budget is too small for the instructions.
pub fn plan_requests(snapshot: &Snapshot, config: &DreamConfig, budget: Budget) -> Result<RequestPlan, DreamError> {
    let categories = config.categories()?;
    config.weights.validate().map_err(DreamError::Weights)?;
    let ctx = Context::build(snapshot, config);
    let mut findings = Vec::new();
    for p in crate::default_passes() {
        findings.extend(p.run(&ctx)?.findings);
    }
    findings.retain(|f| categories.contains(&f.category));
    let system = system_prompt(config, &categories);
    let fixed = estimate_tokens(&system) + 64;
    let room = budget.request_input_tokens.saturating_sub(fixed);
    if room < 128 {
        return Err(DreamError::Budget(format!(
            "{} input tokens per request leave no room for sessions after the {fixed} of the instructions",
            budget.request_input_tokens
        )));
    }
    let (memories, memory_ids) = memories_section(&ctx, room / 6);
    let shared = redact(&format!("{memories}{}", findings_section(&findings, room / 6)));
    let room = room.saturating_sub(estimate_tokens(&shared));
    let n = ctx.sessions.len();
    let per_batch = (config.min_support.unwrap_or(3).max(1) as usize).max(3).min(n.max(1));
    let cap = (room / per_batch).max(64);
    let mut plan = RequestPlan::default();
    let mut cur: Vec<Digested> = Vec::new();
    let mut cur_tokens = 0;
    let mut spent = 0usize;
    let finish = |cur: &mut Vec<Digested>, plan: &mut RequestPlan| {
        if cur.is_empty() {
            return;
        }
        let mut user = shared.clone();
        user.push_str("# Sessions\n");
        for (_, d, _) in cur.iter() {
            user.push_str(d);
            user.push('\n');
        }
        let user = redact(&user);
        let input_tokens = estimate_tokens(&system) + estimate_tokens(&user);
        plan.input_tokens += input_tokens;
        plan.batches.push(Batch {
            index: plan.batches.len(),
            sessions: cur.iter().map(|(id, _, _)| id.clone()).collect(),
            system: system.clone(),
            user,
            input_tokens,
            shown: cur.iter().map(|(_, _, e)| e.clone()).collect(),
            memory_ids: memory_ids.clone(),
        });
        cur.clear();
    };
    let batch_overhead = estimate_tokens(&system) + estimate_tokens(&shared) + 8;
    for si in 0..n {
        let Some(id) = ctx.sessions.get(si).map(|s| s.id().to_string()) else { continue };
        let alias = format!("S{}", cur.len() + 1);
        let (mut d, mut shown) = digest(&ctx, si, &alias, cap);
        let mut t = estimate_tokens(&d) + 1;
        if !cur.is_empty() && cur_tokens + t > room {
            finish(&mut cur, &mut plan);
            cur_tokens = 0;
            (d, shown) = digest(&ctx, si, "S1", cap);
            t = estimate_tokens(&d) + 1;
        }
        let extra = if cur.is_empty() { batch_overhead } else { 0 };
        if budget.max_input_tokens.is_some_and(|max| spent + extra + t > max) {
            plan.sessions_left_out.push(id);
            continue;
        }
        spent += extra + t;
        cur_tokens += t;
        cur.push((id, d, shown));
    }
    finish(&mut cur, &mut plan);
    Ok(plan)
}

/// True when `quote` is verbatim text of `e` ([`quote_in_event`]), or of
/// its redacted text — a digest shows secrets as `[REDACTED]`, and a quote
/// of that text is still a quote of the event.
pub fn quote_verified(quote: &str, e: &NewEvent) -> bool {
    if quote_in_event(quote, e) {
        return true;
    }
    let q = normalize_ws(quote);
    let q = q.trim_end_matches('…').trim_end();
    !q.is_empty() && quotable_texts(e).iter().any(|t| redact(&normalize_ws(t)).contains(q))
}

/// The model-backed pass over answers obtained beforehand (see the module
/// docs): same plan and same answers, same findings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPass {
    pub batches: Vec<Batch>,
    pub answers: Vec<ModelAnswer>,
}

fn category_of(op: OpKind, kind: &str) -> Option<Category> {
    Some(match op {
        OpKind::Create => match kind {
            MemoryKind::MISTAKE => Category::Mistake,
            MemoryKind::PROCEDURE => Category::Procedure,
            MemoryKind::PREFERENCE => Category::Preference,
            MemoryKind::FACT => Category::Fact,
            _ => return None,
        },
        OpKind::Update | OpKind::Retire => Category::Outdated,
        OpKind::Merge => Category::Merge,
        OpKind::Promote => Category::Promote,
        OpKind::Demote => Category::Demote,
    })
}

fn op_kind(s: &str) -> Option<OpKind> {
    Some(match s {
        "create" => OpKind::Create,
        "update" => OpKind::Update,
        "merge" => OpKind::Merge,
        "retire" => OpKind::Retire,
        "promote" => OpKind::Promote,
        "demote" => OpKind::Demote,
        _ => return None,
    })
}

/// Why an answered op was not turned into a finding.
enum Drop {
    Malformed,
    UnknownTarget,
    Unverified,
    Unrelated,
}

/// True when `quote` shares a content word (stemmed, at least 3
/// characters) with `text`, the memory text the op proposes: a quote found
/// verbatim in the log but about something else is no evidence for it. A
/// grammar-constrained model can only cite lines it was shown, so without
/// this it could back any generic lesson with any real line.
pub fn quote_relates(text: &str, quote: &str) -> bool {
    let words: BTreeSet<String> = text::content_tokens(text).into_iter().filter(|w| w.chars().count() >= 3).collect();
    text::content_tokens(quote).iter().any(|w| words.contains(w))
}

impl ModelPass {
    fn finding(&self, ctx: &Context<'_>, batch: &Batch, op: &Value) -> Result<Finding, Drop> {
        let s = |k: &str| op.get(k).and_then(Value::as_str).map(str::trim).unwrap_or("");
        let kind_op = op_kind(s("op")).ok_or(Drop::Malformed)?;
        let category = category_of(kind_op, s("kind")).ok_or(Drop::Malformed)?;
        let targets: Vec<String> = op
            .get("targets")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(|t| t.trim().to_string()).collect())
            .unwrap_or_default();
        let known = |t: &String| ctx.memories.iter().find(|m| &m.id == t);
        let text_given = s("text").to_string();
        let (kind, text, targets) = match kind_op {
            OpKind::Create => {
                if text_given.is_empty() {
                    return Err(Drop::Malformed);
                }
                (MemoryKind::new(s("kind")).map_err(|_| Drop::Malformed)?, text_given, Vec::new())
            }
            _ => {
                let need = if kind_op == OpKind::Merge { 2 } else { 1 };
                let mut ts: Vec<String> = Vec::new();
                for t in &targets {
                    if !ts.contains(t) {
                        ts.push(t.clone());
                    }
                }
                if ts.len() < need || (kind_op != OpKind::Merge && ts.len() > 1) {
                    return Err(Drop::Malformed);
                }
                let first = ts.first().and_then(known).ok_or(Drop::UnknownTarget)?;
                if ts.iter().any(|t| known(t).is_none()) {
                    return Err(Drop::UnknownTarget);
                }
                let text = match kind_op {
                    OpKind::Update if text_given.is_empty() => return Err(Drop::Malformed),
                    OpKind::Update | OpKind::Merge if !text_given.is_empty() => text_given,
                    _ => first.text.clone(),
                };
                (first.kind.clone(), text, ts)
            }
        };
        let entries = op.get("evidence").and_then(Value::as_array).ok_or(Drop::Malformed)?;
        if entries.is_empty() {
            return Err(Drop::Unverified);
        }
        let mut evidence = Vec::new();
        let mut sessions = BTreeSet::new();
        for e in entries {
            let alias = e.get("session").and_then(Value::as_str).map(str::trim).unwrap_or("");
            let id = alias
                .strip_prefix('S')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| batch.sessions.get(n.checked_sub(1)?))
                .or_else(|| batch.sessions.iter().find(|s| s.as_str() == alias))
                .ok_or(Drop::Unverified)?;
            let si = *ctx.session_index.get(id.as_str()).ok_or(Drop::Unverified)?;
            let view = ctx.sessions.get(si).ok_or(Drop::Unverified)?;
            let seq =
                e.get("event").and_then(Value::as_u64).and_then(|q| u32::try_from(q).ok()).ok_or(Drop::Unverified)?;
            let ev = event(view, seq).ok_or(Drop::Unverified)?;
            let quote = e.get("quote").and_then(Value::as_str).unwrap_or("");
            let q = normalize_ws(quote);
            let q = q.trim_end_matches('…').trim_end().to_string();
            if q.chars().count() < MIN_QUOTE_CHARS || !quote_verified(&q, ev) {
                return Err(Drop::Unverified);
            }
            if !quote_relates(&text, &q) {
                return Err(Drop::Unrelated);
            }
            sessions.insert(si);
            evidence.push(Evidence { session: id.clone(), events: vec![seq], quote: q });
        }
        let rationale = match s("rationale") {
            "" => "proposed by the model".to_string(),
            r => format!("model: {r}"),
        };
        Ok(Finding {
            repeats: 0,
            pass: PASS_NAME,
            category,
            op: kind_op,
            kind,
            text,
            targets,
            sessions,
            evidence,
            confidence: 0.6,
            rationale,
            tags: vec![PASS_NAME.to_string()],
            key_terms: Vec::new(),
        })
    }
}

/// Merges findings that say the same thing (same op and targets; creates of
/// the same kind with the same text, or content-token cosine ≥
/// [`SAME_TEXT_COSINE`]): evidence and sessions united, the first wording
/// kept. Returns how many were merged away.
fn merge_same(findings: &mut Vec<Finding>) -> usize {
    let tokens: Vec<Vec<String>> = findings.iter().map(|f| text::content_tokens(&f.text)).collect();
    let idf = Idf::new(tokens.iter().map(Vec::as_slice));
    let vectors: Vec<Vec<(String, f64)>> = tokens.iter().map(|t| idf.vector(t)).collect();
    let mut out: Vec<(Finding, usize)> = Vec::new();
    let mut merged = 0;
    for (i, f) in std::mem::take(findings).into_iter().enumerate() {
        let same = out.iter_mut().find(|(g, gi)| {
            g.op == f.op
                && g.kind == f.kind
                && g.targets == f.targets
                && (f.op != OpKind::Create
                    || normalize_ws(&g.text).to_lowercase() == normalize_ws(&f.text).to_lowercase()
                    || matches!((vectors.get(*gi), vectors.get(i)), (Some(a), Some(b)) if cosine(a, b) >= SAME_TEXT_COSINE))
        });
        match same {
            Some((g, _)) => {
                merged += 1;
                g.sessions.extend(f.sessions);
                for e in f.evidence {
                    if !g.evidence.contains(&e) {
                        g.evidence.push(e);
                    }
                }
            }
            None => out.push((f, i)),
        }
    }
    *findings = out.into_iter().map(|(f, _)| f).collect();
    merged
}

impl Pass for ModelPass {
    fn name(&self) -> &'static str {
        PASS_NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut answers: Vec<&ModelAnswer> = self.answers.iter().collect();
        answers.sort_by_key(|a| a.batch);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut findings = Vec::new();
        for a in answers {
            let Some(batch) = self.batches.iter().find(|b| b.index == a.batch) else {
                *counts.entry("dropped_malformed").or_default() += 1;
                continue;
            };
            *counts.entry("answers").or_default() += 1;
            let ops = a.value.get("ops").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            for op in ops {
                *counts.entry("ops_answered").or_default() += 1;
                match self.finding(ctx, batch, op) {
                    Ok(f) => findings.push(f),
                    Err(Drop::Malformed) => *counts.entry("dropped_malformed").or_default() += 1,
                    Err(Drop::UnknownTarget) => *counts.entry("dropped_unknown_target").or_default() += 1,
                    Err(Drop::Unverified) => *counts.entry("dropped_unverified").or_default() += 1,
                    Err(Drop::Unrelated) => *counts.entry("dropped_unrelated").or_default() += 1,
                }
            }
        }
        let merged = merge_same(&mut findings);
        let mut stats: BTreeMap<String, Value> = BTreeMap::new();
        for k in [
            "answers",
            "ops_answered",
            "dropped_unverified",
            "dropped_unrelated",
            "dropped_malformed",
            "dropped_unknown_target",
        ] {
            stats.insert(format!("model.{k}"), counts.get(k).copied().unwrap_or(0).into());
        }
        stats.insert("model.batches".into(), self.batches.len().into());
        stats.insert("model.merged_across_batches".into(), merged.into());
        Ok(PassOutput { findings, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{dream_with, SessionData};

    fn snapshot() -> Snapshot {
        let mk = |i: usize| -> SessionData {
            let mut s = Sess::new(&format!("s{i}"))
                .user(&format!("fix the flaky login test number {i}"))
                .sh("python manage.py test", "bash: python: command not found", true)
                .sh("python3 manage.py test", "OK", false);
            s.s.user = Some(format!("u{}", i % 2));
            s.data()
        };
        Snapshot { sessions: (1..=4).map(mk).collect(), ..Snapshot::default() }
    }

    fn config() -> DreamConfig {
        DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() }
    }

    fn big() -> Budget {
        Budget { request_input_tokens: 100_000, max_input_tokens: None }
    }

    #[test]
    fn digests_show_events_with_their_numbers_and_verbatim_text() {
        let plan = plan_requests(&snapshot(), &config(), big()).unwrap();
        assert_eq!(plan.batches.len(), 1);
        let b = &plan.batches[0];
        assert_eq!(b.sessions, vec!["s1", "s2", "s3", "s4"]);
        assert!(b.user.contains("## S1 · nocturne"), "{}", b.user);
        assert!(b.user.contains("e0 user (goal): fix the flaky login test number 1"), "{}", b.user);
        assert!(b.user.contains("e1 call Bash: python manage.py test"), "{}", b.user);
        assert!(b.user.contains("e2 failed: bash: python: command not found"), "{}", b.user);
        assert!(b.user.contains("e3 then (instead) Bash: python3 manage.py test"), "{}", b.user);
        assert!(
            b.user.contains("Found by the deterministic passes"),
            "the deterministic findings are given: {}",
            b.user
        );
    }

    #[test]
    fn the_bounded_schema_bounds_what_a_small_model_could_repeat() {
        let b = answer_schema_bounded();
        assert_eq!(b["properties"]["ops"]["maxItems"], json!(MAX_OPS_BOUNDED));
        assert_eq!(b["properties"]["ops"]["items"]["properties"]["text"]["maxLength"], json!(160));
        assert_eq!(
            b["properties"]["ops"]["items"]["properties"]["evidence"]["items"]["properties"]["quote"]["maxLength"],
            json!(120)
        );
        assert!(answer_schema().to_string().find("maxLength").is_none());
    }

    #[test]
    fn a_batch_schema_offers_only_the_lines_its_digests_show() {
        let plan = plan_requests(&snapshot(), &config(), big()).unwrap();
        let b = &plan.batches[0];
        assert_eq!(b.shown.len(), 4);
        let events: Vec<u32> = b.shown[0].iter().map(|(e, _)| *e).collect();
        assert_eq!(events, vec![0, 1, 2, 3], "goal, call, failure, recovery");
        let s = b.answer_schema_bounded();
        let item = &s["properties"]["ops"]["items"]["properties"];
        assert_eq!(item["op"]["enum"], json!(["create"]), "no memory in scope: only creates");
        let alts = item["evidence"]["items"]["anyOf"].as_array().unwrap();
        assert_eq!(alts.len(), 16, "4 lines in each of 4 sessions");
        let offered = |session: &str, event: u32| -> Vec<String> {
            alts.iter()
                .filter(|a| a["properties"]["session"]["enum"][0] == json!(session))
                .filter(|a| a["properties"]["event"]["enum"][0] == json!(event))
                .map(|a| a["properties"]["quote"]["enum"][0].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(offered("S2", 2), vec!["bash: python: command not found"]);
        assert_eq!(offered("S2", 0), vec!["fix the flaky login test number 2"]);
        assert!(offered("S1", 45).is_empty(), "an event the digest does not show is not offered");
        // Every offered quote passes the pass's own check.
        let snap = snapshot();
        for a in alts {
            let session: usize = a["properties"]["session"]["enum"][0].as_str().unwrap()[1..].parse().unwrap();
            let seq = a["properties"]["event"]["enum"][0].as_u64().unwrap() as usize;
            let quote = a["properties"]["quote"]["enum"][0].as_str().unwrap();
            let e = &snap.sessions[session - 1].events[seq].body;
            assert!(quote_verified(quote, e), "{quote:?} not in {e:?}");
        }
    }

    #[test]
    fn an_offered_quote_is_the_start_of_the_line_cut_at_a_word() {
        assert_eq!(offered_quote("short"), None);
        assert_eq!(offered_quote("bash: python: command not found"), Some("bash: python: command not found".into()));
        let long = "word ".repeat(40) + "…";
        let q = offered_quote(&long).unwrap();
        assert!(q.chars().count() <= OFFERED_QUOTE_CHARS && q.ends_with("word") && !q.contains('…'), "{q:?}");
    }

    #[test]
    fn notes_focus_and_ignore_steer_the_prompt() {
        let mut c = config();
        c.notes = Some("Prioritize coding patterns; ignore one-off debugging.".into());
        c.focus = vec!["preferences".into()];
        c.ignore = vec!["vendor/".into()];
        let plan = plan_requests(&snapshot(), &c, big()).unwrap();
        let sys = &plan.batches[0].system;
        assert!(sys.contains("Prioritize coding patterns; ignore one-off debugging."), "{sys}");
        assert!(sys.contains("Propose only these kinds of change: preference."), "{sys}");
        assert!(sys.contains("Ignore anything about: vendor/."), "{sys}");
    }

    #[test]
    fn secrets_never_reach_a_prompt() {
        let mut snap = snapshot();
        let secret = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
        snap.sessions.push(
            Sess::new("s9").user(&format!("use the token {secret} to push")).sh("git push", "fatal", true).data(),
        );
        let mut c = config();
        c.notes = Some("DB_PASSWORD=hunter22x".into());
        let plan = plan_requests(&snap, &c, big()).unwrap();
        for b in &plan.batches {
            assert!(!b.user.contains(secret) && !b.system.contains("hunter22x"), "{}", b.user);
        }
        assert!(plan.batches.iter().any(|b| b.user.contains("[REDACTED]")));
    }

    #[test]
    fn long_batches_are_split_and_capped_by_the_dream_budget() {
        let plan = plan_requests(&snapshot(), &config(), Budget { request_input_tokens: 631, max_input_tokens: None })
            .unwrap();
        assert!(plan.batches.len() > 1, "split: {}", plan.batches.len());
        assert!(
            plan.batches.iter().all(|b| b.input_tokens <= 631),
            "{:?}",
            plan.batches.iter().map(|b| b.input_tokens).collect::<Vec<_>>()
        );
        let all: Vec<&String> = plan.batches.iter().flat_map(|b| &b.sessions).collect();
        assert_eq!(all.len(), 4, "every session in one batch");
        let capped =
            plan_requests(&snapshot(), &config(), Budget { request_input_tokens: 631, max_input_tokens: Some(800) })
                .unwrap();
        assert!(capped.input_tokens <= 800, "{}", capped.input_tokens);
        assert!(!capped.sessions_left_out.is_empty(), "sessions beyond the budget are left out");
    }

    fn answer(ops: Value) -> ModelAnswer {
        ModelAnswer { batch: 0, value: json!({ "ops": ops }) }
    }

    fn run_with(answers: Vec<ModelAnswer>) -> nocturne_core::Proposal {
        let snap = snapshot();
        let c = config();
        let plan = plan_requests(&snap, &c, big()).unwrap();
        let mut passes = crate::default_passes();
        passes.push(Box::new(ModelPass { batches: plan.batches, answers }));
        dream_with(&snap, &c, "d-1", &passes).unwrap()
    }

    fn ev(s: &str, e: u32, q: &str) -> Value {
        json!({"session": s, "event": e, "quote": q})
    }

    #[test]
    fn verified_ops_are_kept_and_unverified_dropped_and_counted() {
        let fact = json!({"op": "create", "kind": "fact", "text": "Login tests live under manage.py test",
            "targets": [], "rationale": "each session opens on a flaky login test",
            "evidence": [ev("S1", 0, "fix the flaky login test"), ev("S2", 0, "fix the flaky login test"),
                         ev("S3", 0, "the flaky  login test number 3")]});
        let fabricated = json!({"op": "create", "kind": "preference", "text": "Use tabs", "targets": [], "rationale": "",
            "evidence": [ev("S1", 0, "always indent with tabs"), ev("S2", 0, "fix the flaky"), ev("S3", 0, "fix the flaky")]});
        let missing_event = json!({"op": "create", "kind": "fact", "text": "The CI runs on Fridays", "targets": [],
            "rationale": "", "evidence": [ev("S1", 99, "fix the flaky login"), ev("S2", 0, "fix the flaky login"),
            ev("S3", 0, "fix the flaky login")]});
        let missing_session = json!({"op": "create", "kind": "fact", "text": "Nothing", "targets": [], "rationale": "",
            "evidence": [ev("S7", 0, "fix the flaky login")]});
        let p = run_with(vec![answer(json!([fact, fabricated, missing_event, missing_session]))]);
        let model_ops: Vec<_> = p.ops.iter().filter(|o| o.pass == PASS_NAME).collect();
        assert_eq!(model_ops.len(), 1, "{:#?}", p.ops);
        assert_eq!(model_ops[0].text, "Login tests live under manage.py test");
        assert_eq!(model_ops[0].support, 3);
        assert_eq!(model_ops[0].evidence[0].session, "s1", "aliases become session ids");
        assert_eq!(p.stats["model.dropped_unverified"], json!(3));
        assert_eq!(p.stats["model.ops_answered"], json!(4));
    }

    #[test]
    fn answers_from_several_batches_add_up_to_support() {
        let snap = snapshot();
        let c = config();
        let plan = plan_requests(&snap, &c, Budget { request_input_tokens: 631, max_input_tokens: None }).unwrap();
        assert!(plan.batches.len() >= 2, "{}", plan.batches.len());
        let plan_len = plan.batches.len();
        let answers: Vec<ModelAnswer> = plan
            .batches
            .iter()
            .map(|b| ModelAnswer {
                batch: b.index,
                value: json!({"ops": [{"op": "create", "kind": "fact", "text": "The login test is flaky here",
                    "targets": [], "rationale": "",
                    "evidence": (1..=b.sessions.len()).map(|i| ev(&format!("S{i}"), 0, "fix the flaky login test")).collect::<Vec<_>>()}]}),
            })
            .collect();
        let mut passes = crate::default_passes();
        passes.push(Box::new(ModelPass { batches: plan.batches.clone(), answers: answers.clone() }));
        let p = dream_with(&snap, &c, "d-1", &passes).unwrap();
        let op = p.ops.iter().find(|o| o.pass == PASS_NAME).expect("merged across batches");
        assert_eq!(op.support, 4, "every batch's sessions count: {op:?}");
        assert_eq!(p.stats["model.merged_across_batches"], json!(plan_len - 1));
        // Same snapshot and same answers: same proposal.
        let mut again = crate::default_passes();
        again.push(Box::new(ModelPass { batches: plan.batches, answers }));
        assert_eq!(dream_with(&snap, &c, "d-1", &again).unwrap(), p);
    }

    #[test]
    fn a_model_op_repeating_a_deterministic_finding_joins_it() {
        let dup = json!({"op": "create", "kind": "mistake", "text": "Use python3, not python: `python` is not installed (python manage.py test fails, python3 manage.py test works)",
            "targets": [], "rationale": "every session hits it",
            "evidence": [ev("S1", 2, "python: command not found"), ev("S4", 2, "python: command not found")]});
        let p = run_with(vec![answer(json!([dup]))]);
        let creates: Vec<_> = p.ops.iter().filter(|o| o.op == OpKind::Create && o.kind.as_str() == "mistake").collect();
        assert_eq!(creates.len(), 1, "{creates:#?}");
        assert!(creates[0].tags.iter().any(|t| t == PASS_NAME), "marked as found by the model too: {:?}", creates[0]);
    }

    #[test]
    fn a_verbatim_quote_about_something_else_is_no_evidence() {
        assert!(quote_relates("Login tests live under manage.py test", "fix the flaky login test"));
        assert!(!quote_relates("Read a file before you edit it", "I very much like this idea, and I used it"));
        let generic = json!({"op": "create", "kind": "procedure", "text": "Use Python for development on Linux",
            "targets": [], "rationale": "", "evidence": [ev("S1", 0, "fix the flaky login test"),
            ev("S2", 0, "fix the flaky login test"), ev("S3", 0, "fix the flaky login test")]});
        let p = run_with(vec![answer(json!([generic]))]);
        assert!(p.ops.iter().all(|o| o.pass != PASS_NAME), "{:#?}", p.ops);
        assert_eq!(p.stats["model.dropped_unrelated"], json!(1));
        assert_eq!(p.stats["model.dropped_unverified"], json!(0));
    }

    #[test]
    fn malformed_ops_and_unknown_targets_are_counted() {
        let bad_op =
            json!({"op": "delete", "kind": "fact", "text": "x", "targets": [], "rationale": "", "evidence": []});
        let unknown = json!({"op": "retire", "kind": "fact", "text": "", "targets": ["m-404"], "rationale": "",
            "evidence": [ev("S1", 0, "fix the flaky login")]});
        let p = run_with(vec![answer(json!([bad_op, unknown])), ModelAnswer { batch: 0, value: json!("nonsense") }]);
        assert_eq!(p.stats["model.dropped_malformed"], json!(1));
        assert_eq!(p.stats["model.dropped_unknown_target"], json!(1));
        assert!(p.ops.iter().all(|o| o.pass != PASS_NAME));
    }
}
