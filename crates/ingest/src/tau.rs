//! τ-bench and τ²-bench results JSON: one session per simulated
//! conversation between an agent and a simulated customer.
//!
//! Shapes read:
//!
//! - τ² results: `{timestamp, info{environment_info{policy}, ...}, tasks[],
//!   simulations[{id, task_id, trial, termination_reason, reward_info{reward},
//!   messages[]}]}`;
//! - a bare τ² simulation object, or an array of them;
//! - τ-bench (v1) results: an array of `{task_id, trial, reward, info,
//!   traj[]}` with OpenAI chat messages in `traj`.
//!
//! Messages are OpenAI-chat-like: `assistant` (with `tool_calls[{id, name,
//! arguments}]` or `[{id, function{name, arguments}}]`), `user` (the
//! simulated customer, who may call tools too), `tool` (a result; its `id` or
//! `tool_call_id` names the call, an `error` flag sets `is_error`, else the
//! text decides), `system`. Session id: the simulation `id`, else
//! `<file stem>/task-<task_id>/trial-<trial>`. The environment's policy is a
//! first `system` event; the simulation's own record (reward, termination,
//! evaluator checks) is an `other` event after the messages, followed by one
//! [`EventKind::EvaluatorCheck`] per `reward_info.action_checks` entry (the
//! action the evaluator expected and whether the run matched it; τ-bench
//! v1 states the expected actions without a verdict: one is unmet when no
//! call of the agent's has its name and arguments); the reward becomes the session's [`SourceOutcome`](nocturne_core::SourceOutcome). Task
//! definitions (`tasks[]`) are skipped and counted: they are the scenario
//! scripts, not conversation.

use std::collections::{HashMap, HashSet};

use nocturne_core::{Counterpart, EventKind, NewEvent, NewSession, Role, SourceOutcome};
use serde_json::{Map, Value};

use crate::json::{compact, describe, error_flag, id_text, nth, source_text, Base, Obj, Seg};
use crate::{first_prompt_title, json_value, new_session, unique_id, Ctx, Fail, FileReport, Format, Parsed};

pub(crate) fn parse(text: &str, ctx: &Ctx<'_>) -> Result<Parsed, Fail> {
    let mut report = FileReport::default();
    let mut seen = HashSet::new();
    let mut sessions = Vec::new();
    match json_value(text)? {
        Value::Object(doc) if doc.contains_key("simulations") => {
            let sims = match doc.get("simulations") {
                Some(Value::Array(s)) => s,
                Some(v) => return Err(Fail::doc(format!("\"simulations\" must be an array, found {}", describe(v)))),
                None => return Err(Fail::doc("\"simulations\" is missing")),
            };
            let policy = doc.get("info").and_then(|i| i.get("environment_info"));
            if let Some(Value::Array(tasks)) = doc.get("tasks") {
                report.read(tasks.len());
                for _ in tasks {
                    report.skip("task");
                }
            }
            if policy.is_some() {
                report.read(1);
            }
            for (i, sim) in sims.iter().enumerate() {
                let at = [Seg::Key("simulations"), Seg::Index(i)];
                let s = simulation(sim, policy, ctx, &Exact { text, at: &at }, &mut seen, &mut report)
                    .map_err(|e| Fail::doc(format!("simulation {}: {e}", nth(i))))?;
                sessions.push(s);
            }
        }
        Value::Object(sim) => {
            let exact = Exact { text, at: &[] };
            let s = simulation(&Value::Object(sim), None, ctx, &exact, &mut seen, &mut report).map_err(Fail::doc)?;
            sessions.push(s);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = [Seg::Index(i)];
                let s = simulation(item, None, ctx, &Exact { text, at: &at }, &mut seen, &mut report)
                    .map_err(|e| Fail::doc(format!("result {}: {e}", nth(i))))?;
                sessions.push(s);
            }
        }
        other => {
            return Err(Fail::doc(format!("expected τ-bench results (an object or array), found {}", describe(&other))))
        }
    }
    Ok(Parsed { sessions, report, spawns: Vec::new() })
}

/// Where a simulation is in the file, to read its ids' exact digits.
struct Exact<'t, 'p> {
    text: &'t str,
    at: &'p [Seg<'p>],
}

impl<'t> Exact<'t, '_> {
    fn field(&self, key: &str) -> Option<&'t str> {
        let mut path = self.at.to_vec();
        path.push(Seg::Key(key));
        source_text(self.text, &path)
    }
}

fn simulation(
    sim: &Value,
    policy: Option<&Value>,
    ctx: &Ctx<'_>,
    exact: &Exact<'_, '_>,
    seen: &mut HashSet<String>,
    report: &mut FileReport,
) -> Result<NewSession, String> {
    let o = sim.as_object().ok_or_else(|| format!("expected a JSON object, found {}", describe(sim)))?;
    let (messages, v1) = match (o.get("messages"), o.get("traj")) {
        (Some(Value::Array(m)), _) => (m, false),
        (None, Some(Value::Array(t))) => (t, true),
        (Some(v), _) | (None, Some(v)) => return Err(format!("the messages must be an array, found {}", describe(v))),
        (None, None) => return Err("\"messages\" is missing".to_string()),
    };
    report.read(messages.len().saturating_add(1));
    let task = id_text(o.get("task_id"), || exact.field("task_id"));
    let trial = id_text(o.get("trial"), || exact.field("trial"));
    let id = match id_text(o.get("id"), || exact.field("id")) {
        Some(id) => id,
        None => {
            let mut id = ctx.stem.clone();
            if let Some(t) = &task {
                id.push_str(&format!("/task-{t}"));
            }
            if let Some(t) = &trial {
                id.push_str(&format!("/trial-{t}"));
            }
            id
        }
    };
    let mut events = Vec::new();
    if let Some(env) = policy {
        let text = env.get("policy").and_then(Value::as_str).map(str::to_string);
        let mut wrapper = Map::new();
        wrapper.insert("environment_info".to_string(), env.clone());
        let base = Base { timestamp: None, sidechain: false, source_line: None, raw: compact(&Value::Object(wrapper)) };
        events.push(base.message(Role::System, text));
    }
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        message_events(m, nth(i), &mut names, &mut events).map_err(|e| format!("message {}: {e}", nth(i)))?;
    }

    // The simulation's own record, without its messages.
    let mut record = o.clone();
    record.remove("messages");
    record.remove("traj");
    let reward = o
        .get("reward_info")
        .and_then(|r| r.get("reward"))
        .and_then(Value::as_f64)
        .or_else(|| o.get("reward").and_then(Value::as_f64));
    let termination = o.get("termination_reason").and_then(Value::as_str).map(str::to_string);
    let timestamp = o.get("end_time").or_else(|| o.get("timestamp")).and_then(Value::as_str).map(str::to_string);
    let base = Base {
        timestamp: timestamp.clone(),
        sidechain: false,
        source_line: None,
        raw: compact(&Value::Object(record)),
    };
    let mut end = base.event(Role::System, EventKind::Other);
    let mut parts = Vec::new();
    if let Some(r) = reward {
        parts.push(format!("reward: {r}"));
    }
    if let Some(t) = &termination {
        parts.push(format!("termination: {t}"));
    }
    end.text = (!parts.is_empty()).then(|| parts.join("; "));
    events.push(end);
    // After the record, so a session stored before these were read grows.
    let checks = o.get("reward_info").and_then(|r| r.get("action_checks"));
    if let Some(Value::Array(checks)) = checks {
        events.extend(checks.iter().filter_map(|c| action_check(c, timestamp.as_deref())));
    } else if v1 {
        let info = o.get("info");
        let stated = info.and_then(|i| i.get("reward_info")).and_then(|r| r.get("actions"));
        let stated = stated.or_else(|| info.and_then(|i| i.get("task")).and_then(|t| t.get("actions")));
        if let Some(Value::Array(actions)) = stated {
            let made: Vec<NewEvent> = events.iter().filter(|e| e.kind == EventKind::ToolCall).cloned().collect();
            events.extend(actions.iter().filter_map(|a| expected_action(a, &made, timestamp.as_deref())));
        }
    }

    let mut s = new_session(unique_id(seen, id), Format::TauBench);
    s.counterpart = Some(Counterpart::Customer);
    s.outcome = reward
        .filter(|r| r.is_finite())
        .map(|r| SourceOutcome { score: r.clamp(0.0, 1.0), comment: termination.clone() });
    s.title = first_prompt_title(&events);
    if v1 && s.title.is_none() {
        s.title = task.map(|t| format!("task {t}"));
    }
    s.events = events;
    Ok(s)
}

/// One of the evaluator's `reward_info.action_checks`: `{action{name,
/// arguments, requestor, compare_args}, action_match}` as an
/// [`EventKind::EvaluatorCheck`]. Its input is the arguments the evaluator
/// compares (`compare_args`, when it names them); `is_error` is
/// `action_match: false`. A check of another shape, or without an action
/// name, says nothing to compare: it stays in the record only (a file read
/// before checks were kept is never refused for them).
fn action_check(check: &Value, timestamp: Option<&str>) -> Option<NewEvent> {
    let c = check.as_object()?;
    let action = c.get("action").and_then(Value::as_object)?;
    let name = action.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty())?;
    let mut args = match action.get("arguments").or_else(|| action.get("kwargs")) {
        Some(Value::Object(a)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(a)) => a,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    if let Some(Value::Array(compared)) = action.get("compare_args") {
        let keep: HashSet<&str> = compared.iter().filter_map(Value::as_str).collect();
        args.retain(|k, _| keep.contains(k.as_str()));
    }
    let matched = c.get("action_match").and_then(Value::as_bool);
    let by = action.get("requestor").and_then(Value::as_str).unwrap_or("assistant");
    let input = compact(&Value::Object(args));
    let verdict = match matched {
        Some(true) => "met",
        Some(false) => "not met",
        None => "no verdict",
    };
    let base =
        Base { timestamp: timestamp.map(str::to_string), sidechain: false, source_line: None, raw: compact(check) };
    let mut e = base.event(Role::System, EventKind::EvaluatorCheck);
    e.text = Some(format!("evaluator expected {by} call {name} {input}: {verdict}"));
    e.tool_name = Some(name.to_string());
    e.tool_input = Some(input);
    e.is_error = matched == Some(false);
    Some(e)
}

/// One of τ-bench v1's expected actions (`info.reward_info.actions`, else
/// `info.task.actions`: `{name, kwargs}`) as an
/// [`EventKind::EvaluatorCheck`]. v1 states no verdict per action: it is
/// unmet (`is_error`) when no call of the agent's had its name and exactly
/// its arguments. The final reply (`respond`) is no call to compare.
fn expected_action(action: &Value, made: &[NewEvent], timestamp: Option<&str>) -> Option<NewEvent> {
    let a = action.as_object()?;
    let name = a.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty() && *n != "respond")?;
    let args = match a.get("kwargs").or_else(|| a.get("arguments")) {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    let done = made.iter().any(|e| {
        e.role == Role::Assistant
            && e.tool_name.as_deref() == Some(name)
            && e.tool_input.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()).as_ref() == Some(&args)
    });
    let input = compact(&args);
    let base =
        Base { timestamp: timestamp.map(str::to_string), sidechain: false, source_line: None, raw: compact(action) };
    let mut e = base.event(Role::System, EventKind::EvaluatorCheck);
    let verdict = if done { "made" } else { "no such call made" };
    e.text = Some(format!("evaluator expected assistant call {name} {input}: {verdict}"));
    e.tool_name = Some(name.to_string());
    e.tool_input = Some(input);
    e.is_error = !done;
    Some(e)
}

fn message_events(
    message: &Value,
    n: u32,
    names: &mut HashMap<String, String>,
    out: &mut Vec<NewEvent>,
) -> Result<(), String> {
    let m = message.as_object().ok_or_else(|| format!("expected a JSON object, found {}", describe(message)))?;
    let role = match m.get("role").and_then(Value::as_str) {
        Some("assistant") => Role::Assistant,
        Some("user") => Role::User,
        Some("tool") | Some("function") => Role::Tool,
        Some("system") | Some("developer") => Role::System,
        Some(other) => return Err(format!("unknown role \"{other}\"")),
        None => return Err("\"role\" is missing".to_string()),
    };
    let base = Base {
        timestamp: m.get("timestamp").and_then(Value::as_str).map(str::to_string),
        sidechain: false,
        source_line: Some(n),
        raw: compact(message),
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
            Some(texts.join("\n"))
        }
        _ => None,
    };
    if role == Role::Tool {
        let id = m
            .get("tool_call_id")
            .and_then(Value::as_str)
            .or_else(|| m.get("id").and_then(Value::as_str))
            .map(str::to_string);
        let mut e = base.event(Role::Tool, EventKind::ToolResult);
        e.is_error = error_flag(m.get("error").and_then(Value::as_bool), content.as_deref());
        e.tool_name = id
            .as_ref()
            .and_then(|i| names.get(i).cloned())
            .or_else(|| m.get("name").and_then(Value::as_str).map(str::to_string));
        e.tool_use_id = id;
        e.text = content;
        out.push(e);
        return Ok(());
    }
    let before = out.len();
    if content.as_deref().is_some_and(|c| !c.is_empty()) {
        out.push(base.message(role, content.clone()));
    }
    if let Some(Value::Array(calls)) = m.get("tool_calls") {
        for call in calls {
            let Some(c) = call.as_object() else {
                return Err(format!("a tool call must be an object, found {}", describe(call)));
            };
            let f = c.get("function").and_then(Value::as_object).unwrap_or(c);
            let name = f.get("name").and_then(Value::as_str).map(str::to_string);
            let id = c.get("id").and_then(Value::as_str).map(str::to_string);
            if let (Some(i), Some(nm)) = (&id, &name) {
                names.insert(i.clone(), nm.clone());
            }
            let caller = if role == Role::User { Role::User } else { Role::Assistant };
            let mut e = base.event(caller, EventKind::ToolCall);
            e.tool_name = name;
            e.tool_use_id = id;
            e.tool_input = f.get("arguments").filter(|a| !a.is_null()).map(arguments);
            out.push(e);
        }
    }
    if out.len() == before {
        out.push(base.message(role, content));
    }
    Ok(())
}

fn arguments(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::from_str::<Value>(s).map_or_else(|_| compact(v), |p| compact(&p)),
        other => compact(other),
    }
}

/// Looks like τ results: an object with `simulations`, a simulation
/// (`messages` with `reward_info` or `termination_reason`), or an array of
/// results (`traj` with `reward`, or simulations).
pub(crate) fn looks_like(v: &Value) -> bool {
    let is_sim = |o: &Obj| {
        (o.contains_key("messages") && (o.contains_key("reward_info") || o.contains_key("termination_reason")))
            || (o.contains_key("traj") && (o.contains_key("reward") || o.contains_key("task_id")))
    };
    match v {
        Value::Object(o) => matches!(o.get("simulations"), Some(Value::Array(_))) || is_sim(o),
        Value::Array(items) => items.first().and_then(Value::as_object).is_some_and(is_sim),
        _ => false,
    }
}
