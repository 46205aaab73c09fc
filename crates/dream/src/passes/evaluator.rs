//! What an evaluator expected that failed runs did not do.
//!
//! A benchmark's grader may state the actions it expected of the agent
//! ([`EventKind::EvaluatorCheck`]: the expected tool and arguments, and
//! whether the run met it). In a session that failed by its outcome (or has
//! none), each *unmet* expected action is compared with the calls the agent
//! made on the same target — a call sharing an id-like argument with it
//! (`…_id`, `…Id`, `…_number`) with the same value. Three differences are
//! read, each grouped across sessions and kept when it recurs in at least
//! the mistake support of sessions:
//!
//! - **stored form**: the closest call of the expected tool (fewest
//!   differing arguments) gave a string argument another value, where the
//!   expected value occurs as a whole word in a tool result the agent had
//!   seen before the call and the agent's value occurs in none: "write `arg`
//!   as the records store it". The expected value is named only when it is
//!   the same in every supporting session (a format such as `USA`, not a
//!   session's data); whether the agent's value was the customer's wording
//!   is read from the user's messages before the call.
//! - **left out**: a call of the expected tool on the target passed a list
//!   argument holding only part of the expected list: "put every item in
//!   one call".
//! - **same value**: the expected call has an argument equal to another
//!   whose name contains it (`new_item_ids` = `item_ids`: the same thing as
//!   old and new), and no agent call of that tool on the target had that
//!   equality; what the agent called instead on the same target with the
//!   same value (another tool, or the same tool with another new value) is
//!   named.
//!
//! Expected actions of tools only users call in the batch (a τ² telecom
//! customer's own tools) are not the agent's to learn. Memory texts carry
//! tool and argument names only, never the sessions' values (except the
//! constant stored form); evidence quotes the agent's call and the
//! evaluator's check, never what a customer said.

use crate::context::{Action, Context, SessionView};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Event, EventKind, Evidence, MemoryKind, OpKind, Role};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub struct Evaluator;

pub const NAME: &str = "evaluator";
/// Tool names listed in a memory text; more are counted.
const NAMED: usize = 2;
/// Longest expected value named in a memory text.
const MAX_VALUE: usize = 24;
/// Longest memory text with its counts; longer ones drop them.
const MAX_TEXT: usize = 200;

/// What one unmet expected action shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// `arg` was written in another form than the records store it.
    Stored { arg: String },
    /// A call of `tool` left items of list `arg` out.
    LeftOut { tool: String, arg: String },
    /// `tool` was expected with `to` = `from`.
    Same { tool: String, from: String, to: String },
}

/// One occurrence of a rule in one session.
#[derive(Debug, Clone)]
struct Instance {
    session: usize,
    /// The expected tool.
    tool: String,
    /// The id-like argument the expected action and the call share.
    target: String,
    /// The expected value (stored form).
    expected: Option<String>,
    /// The agent's value was in a user message before its call.
    user_said: bool,
    /// What the agent called instead (same value).
    instead: Option<String>,
    evidence: Vec<Evidence>,
}

/// An unmet expected action: its event, tool and arguments.
struct Expected<'a> {
    event: &'a Event,
    tool: &'a str,
    args: Map<String, Value>,
}

fn id_like(key: &str) -> bool {
    let lower = key.to_lowercase();
    lower == "id" || lower.ends_with("_id") || key.ends_with("Id") || lower.ends_with("_number")
}

fn scalar(v: &Value) -> bool {
    matches!(v, Value::String(s) if !s.trim().is_empty()) || v.is_number()
}

/// The id-like argument `a` and `b` share with the same value, if any.
fn shared_target(a: &Map<String, Value>, b: &Map<String, Value>) -> Option<String> {
    a.iter().find(|(k, v)| id_like(k) && scalar(v) && b.get(*k) == Some(*v)).map(|(k, _)| k.clone())
}

/// `value` as a whole word of `text` (no letter, digit or `_` right
/// before or after it).
fn has_word(text: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(value).any(|(i, _)| {
        let before = text.get(..i).and_then(|s| s.chars().next_back());
        let after = text.get(i + value.len()..).and_then(|s| s.chars().next());
        !word(before) && !word(after)
    })
}

fn seen_in(events: &[Event], before: u32, kind: EventKind, role: Role, value: &str) -> bool {
    events
        .iter()
        .filter(|e| e.seq < before && e.body.kind == kind && e.body.role == role)
        .any(|e| e.body.text.as_deref().is_some_and(|t| has_word(t, value)))
}

fn unmet<'s>(s: &'s SessionView<'_>) -> Vec<Expected<'s>> {
    s.data
        .events
        .iter()
        .filter(|e| e.body.kind == EventKind::EvaluatorCheck && e.body.is_error)
        .filter_map(|e| {
            let tool = e.body.tool_name.as_deref()?;
            let args = match serde_json::from_str::<Value>(e.body.tool_input.as_deref()?) {
                Ok(Value::Object(m)) => m,
                _ => return None,
            };
            Some(Expected { event: e, tool, args })
        })
        .collect()
}

/// The agent's calls with an object input.
fn agent_calls<'s>(s: &'s SessionView<'_>) -> impl Iterator<Item = (&'s Action, &'s Map<String, Value>)> {
    s.actions.iter().filter(|a| a.called && !a.by_user).filter_map(|a| a.input.as_object().map(|m| (a, m)))
}

fn quote_of(v: &Value, fallback: &str) -> String {
    match v {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        _ => fallback.to_string(),
    }
}

fn evidence(session: &str, seq: u32, quote: String) -> Evidence {
    Evidence { session: session.to_string(), events: vec![seq], quote }
}

/// The rules one unmet expected action of session `si` shows.
fn read(ctx: &Context, si: usize, e: &Expected<'_>, out: &mut Vec<(Rule, Instance)>) {
    let Some(s) = ctx.sessions.get(si) else { return };
    let sid = s.id();
    let check = |quote: String| evidence(sid, e.event.seq, quote);
    let on_target: Vec<(&Action, &Map<String, Value>, String)> =
        agent_calls(s).filter_map(|(a, m)| shared_target(&e.args, m).map(|t| (a, m, t))).collect();
    let same_tool: Vec<&(&Action, &Map<String, Value>, String)> =
        on_target.iter().filter(|(a, _, _)| a.tool == e.tool).collect();
    let instance = |target: &str| Instance {
        session: si,
        tool: e.tool.to_string(),
        target: target.to_string(),
        expected: None,
        user_said: false,
        instead: None,
        evidence: Vec::new(),
    };

    // Left out: a list argument the call held only part of.
    'calls: for (a, m, target) in &same_tool {
        for (k, want) in &e.args {
            let (Some(Value::Array(want)), Some(Value::Array(got))) = (Some(want), m.get(k)) else { continue };
            if got.len() < want.len() && got.iter().all(|g| want.contains(g)) {
                let mut i = instance(target);
                i.evidence = vec![evidence(sid, a.call_seq, a.tool.clone()), check(e.tool.to_string())];
                out.push((Rule::LeftOut { tool: e.tool.to_string(), arg: k.clone() }, i));
                break 'calls;
            }
        }
    }

    // Stored form: on the closest call, a string written otherwise than the records have it.
    let differing = |m: &Map<String, Value>| e.args.iter().filter(|(k, v)| m.get(*k) != Some(*v)).count();
    if let Some((a, m, target)) = same_tool.iter().min_by_key(|(a, m, _)| (differing(m), a.call_seq)) {
        for (k, want) in &e.args {
            let (Value::String(want), Some(Value::String(got))) = (want, m.get(k)) else { continue };
            let (w, g) = (want.trim(), got.trim());
            if w.is_empty() || g.is_empty() || w == g || id_like(k) {
                continue;
            }
            let events = &s.data.events;
            let recorded = |v: &str| seen_in(events, a.call_seq, EventKind::ToolResult, Role::Tool, v);
            if recorded(w) && !recorded(g) {
                let mut i = instance(target);
                i.expected = Some(w.to_string());
                i.user_said = seen_in(events, a.call_seq, EventKind::UserMessage, Role::User, g);
                i.evidence = vec![evidence(sid, a.call_seq, got.clone()), check(want.clone())];
                out.push((Rule::Stored { arg: k.clone() }, i));
            }
        }
    }

    // Same value: `to` = `from` expected, never done.
    for (to, v_to) in &e.args {
        for (from, v_from) in &e.args {
            let filled = match v_from {
                Value::String(s) => !s.trim().is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => false,
            };
            if to == from || !to.contains(from.as_str()) || !filled || v_to != v_from {
                continue;
            }
            let Some(target) = e.args.iter().find(|(k, v)| id_like(k) && scalar(v)).map(|(k, _)| k.clone()) else {
                continue;
            };
            let done = same_tool.iter().any(|(_, m, _)| m.get(to).is_some() && m.get(to) == m.get(from));
            if done {
                continue;
            }
            // What the agent did instead with the same value on the target.
            let instead = on_target.iter().find(|(a, m, _)| {
                m.get(from) == Some(v_from) && (a.tool != e.tool || m.get(to).is_some_and(|x| x != v_from))
            });
            let mut i = instance(&target);
            i.evidence = match instead {
                Some((a, _, _)) => {
                    i.instead = Some(if a.tool == e.tool {
                        format!("`{}` to another `{to}`", a.tool)
                    } else {
                        format!("`{}`", a.tool)
                    });
                    vec![evidence(sid, a.call_seq, a.tool.clone()), check(e.tool.to_string())]
                }
                None => vec![check(quote_of(v_to, e.tool))],
            };
            out.push((Rule::Same { tool: e.tool.to_string(), from: from.clone(), to: to.clone() }, i));
        }
    }
}

/// `item_ids` → `item`, `flights` → `flight`.
fn noun(arg: &str) -> String {
    let a = arg.strip_prefix("new_").or_else(|| arg.strip_prefix("old_")).unwrap_or(arg);
    let a = a.strip_suffix("_ids").or_else(|| a.strip_suffix("_id")).or_else(|| a.strip_suffix('s')).unwrap_or(a);
    a.replace('_', " ")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `a`, `a and b`, `a, b and 3 more`.
fn list(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(NAMED).map(|n| format!("`{n}`")).collect();
    if names.len() > NAMED {
        shown.push(format!("{} more", names.len() - NAMED));
    }
    match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => shown.concat(),
    }
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items.map(str::to_string).collect::<BTreeSet<_>>().into_iter().collect()
}

/// `long` when it is short enough for a memory, else `short`.
fn fit(long: String, short: String) -> String {
    if long.chars().count() <= MAX_TEXT {
        long
    } else {
        short
    }
}

/// The memory text, rationale and key terms of a rule over its instances.
fn words(rule: &Rule, found: &[&Instance], sessions: usize) -> (String, String, Vec<String>) {
    let runs = if sessions == 1 { "1 failed run".to_string() } else { format!("{sessions} failed runs") };
    match rule {
        Rule::Stored { arg } => {
            let values = distinct(found.iter().filter_map(|i| i.expected.as_deref()));
            let named = match values.as_slice() {
                [v] if v.chars().count() <= MAX_VALUE => format!(" (`{v}`)"),
                _ => String::new(),
            };
            let said = if found.iter().all(|i| i.user_said) { "as the customer said it" } else { "in another form" };
            let tools = list(&distinct(found.iter().map(|i| i.tool.as_str())));
            let long = format!(
                "Write `{arg}` exactly as the records store it{named}, not {said}: the evaluator expected the stored form in {tools}."
            );
            let text = fit(long, format!("Write `{arg}` exactly as the records store it{named}, not {said}."));
            let why = format!(
                "in {runs} the agent wrote `{arg}` in a form no earlier tool result had, where the evaluator expected the form the records hold"
            );
            (text, why, vec![arg.clone(), "records store".into()])
        }
        Rule::LeftOut { tool, arg } => {
            let n = noun(arg);
            let target = crate::passes::most_common(found.iter().map(|i| i.target.as_str())).unwrap_or_default();
            let text = fit(
                format!(
                    "Collect every {n} first, then make one `{tool}` call per `{target}` with all of them in `{arg}`: in {runs} the call left out {n}s the evaluator expected."
                ),
                format!("Collect every {n} first, then make one `{tool}` call per `{target}` with all of them in `{arg}`."),
            );
            let why = format!("in {runs} a `{tool}` call passed only part of the `{arg}` the evaluator expected");
            (text, why, vec![tool.clone(), arg.clone(), "every".into()])
        }
        Rule::Same { tool, from, to } => {
            let n = noun(from);
            let unit = if from.ends_with("_ids") {
                "ids"
            } else if from.ends_with("_id") {
                "id"
            } else {
                "value"
            };
            // Named when at least half the runs did that instead.
            let most = crate::passes::most_common(found.iter().filter_map(|i| i.instead.as_deref()));
            let instead = most
                .filter(|t| {
                    2 * found.iter().filter(|i| i.instead.as_deref() == Some(t.as_str())).count() >= found.len()
                })
                .map(|t| format!(", not {t}"))
                .unwrap_or_default();
            let a = article(&n);
            let text = fit(
                format!(
                    "To replace {a} {n} with the same one, call `{tool}` with `{to}` = `{from}` (the same {n} {unit}){instead}: {runs} did not."
                ),
                format!("To replace {a} {n} with the same one, call `{tool}` with `{to}` = `{from}` (the same {n} {unit})."),
            );
            let why = format!(
                "in {runs} the evaluator expected `{tool}` with `{to}` equal to `{from}` and no such call was made"
            );
            (text, why, vec![tool.clone(), to.clone(), from.clone()])
        }
    }
}

impl Pass for Evaluator {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut out = PassOutput::default();
        // Tools the agent calls somewhere in the batch (not only users).
        let agent_tools: BTreeSet<&str> = ctx
            .sessions
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter(|a| a.called && !a.by_user)
            .map(|a| a.tool.as_str())
            .collect();
        let mut found: Vec<(Rule, Instance)> = Vec::new();
        let mut read_checks = 0usize;
        for (si, s) in ctx.sessions.iter().enumerate() {
            // Failed by its outcome, or no outcome to say otherwise.
            if !(s.failed || s.score.is_none()) {
                continue;
            }
            for e in unmet(s) {
                if !agent_tools.contains(e.tool) {
                    continue;
                }
                read_checks += 1;
                read(ctx, si, &e, &mut found);
            }
        }
        out.stats.insert(format!("{NAME}.unmet_checks"), read_checks.into());
        let mut groups: BTreeMap<Rule, Vec<Instance>> = BTreeMap::new();
        for (r, i) in found {
            groups.entry(r).or_default().push(i);
        }
        let support = ctx.config.support_for(Category::Mistake) as usize;
        for (rule, instances) in &groups {
            let sessions: BTreeSet<usize> = instances.iter().map(|i| i.session).collect();
            if sessions.len() < support {
                continue;
            }
            let refs: Vec<&Instance> = instances.iter().collect();
            let (text, why, key_terms) = words(rule, &refs, sessions.len());
            let mut evidence: Vec<Evidence> = Vec::new();
            for e in instances.iter().flat_map(|i| i.evidence.iter()) {
                if !evidence.contains(e) {
                    evidence.push(e.clone());
                }
            }
            out.findings.push(Finding {
                pass: NAME,
                category: Category::Mistake,
                op: OpKind::Create,
                kind: MemoryKind::mistake(),
                text,
                targets: Vec::new(),
                sessions: sessions.clone(),
                evidence,
                confidence: (0.4 + 0.1 * sessions.len() as f64).min(0.8),
                rationale: why,
                tags: vec!["evaluator".into()],
                key_terms,
                repeats: 0,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamSpec, SessionOutcome, Snapshot};
    use nocturne_core::{Memory, NewEvent, NewSession, Op};
    use serde_json::json;

    /// The evaluator's check of `tool` with `args`, met or not.
    fn check(mut s: Sess, tool: &str, args: Value, met: bool) -> Sess {
        s.s.events.push(NewEvent {
            role: Role::System,
            kind: EventKind::EvaluatorCheck,
            tool_name: Some(tool.into()),
            tool_input: Some(args.to_string()),
            tool_use_id: None,
            text: Some(format!(
                "evaluator expected assistant call {tool} {args}: {}",
                if met { "met" } else { "not met" }
            )),
            is_error: !met,
            timestamp: None,
            sidechain: false,
            source_line: None,
            raw: "{}".into(),
        });
        s
    }

    fn snapshot(sessions: &[NewSession], score: f64, memories: Vec<Memory>) -> Snapshot {
        let mut snap = Snapshot::from_new_sessions(1, sessions, memories, "2026-01-01T00:00:00Z");
        for s in sessions {
            snap.outcomes.insert(s.id.clone(), SessionOutcome { score, label: format!("{score}") });
        }
        snap
    }

    fn ops_of(snap: &Snapshot) -> Vec<Op> {
        let cfg = DreamSpec::default().config("2026-02-01T00:00:00Z");
        crate::dream(snap, &cfg, "d").unwrap().ops.into_iter().filter(|o| o.pass == NAME).collect()
    }

    fn ops(sessions: &[NewSession], score: f64) -> Vec<Op> {
        ops_of(&snapshot(sessions, score, Vec::new()))
    }

    /// The customer gives the country in their words; the records have it
    /// otherwise; the agent writes the customer's form.
    fn address(id: &str, user: &str, said: &str) -> NewSession {
        let record = json!({"user_id": user, "address": {"city": "Springfield", "country": "USA"}}).to_string();
        let s = Sess::new(id)
            .customer()
            .user(&format!("Please move my address to 12 Elm St, Springfield, country: {said}."))
            .tool("get_user_details", json!({"user_id": user}), &record, false)
            .tool(
                "modify_user_address",
                json!({"user_id": user, "address1": "12 Elm St", "country": said}),
                "{}",
                false,
            );
        check(s, "modify_user_address", json!({"user_id": user, "address1": "12 Elm St", "country": "USA"}), false)
            .build()
    }

    fn quotes(op: &Op) -> Vec<&str> {
        op.evidence.iter().map(|e| e.quote.as_str()).collect()
    }

    #[test]
    fn a_value_written_otherwise_than_the_records_store_it_becomes_one_lesson_naming_the_stored_form() {
        let sessions = [address("a", "ana_1", "United States"), address("b", "bo_2", "US")];
        let found = ops(&sessions, 0.0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].text,
            "Write `country` exactly as the records store it (`USA`), not as the customer said it: the evaluator expected the stored form in `modify_user_address`."
        );
        assert!(!found[0].text.contains("ana_1") && !found[0].text.contains("Elm"), "no session values");
        // The agent's call (its value) and the evaluator's check (the stored value), per session.
        assert_eq!(quotes(&found[0]), ["United States", "USA", "US", "USA"]);
        let snap = snapshot(&sessions, 0.0, Vec::new());
        for e in &found[0].evidence {
            let s = snap.sessions.iter().find(|s| s.session.id == e.session).unwrap();
            let kind = s.events[e.events[0] as usize].body.kind;
            assert!(matches!(kind, EventKind::ToolCall | EventKind::EvaluatorCheck), "never the customer's words");
        }
    }

    #[test]
    fn a_value_the_records_also_hold_is_a_choice_not_a_format() {
        // The agent's card is one of the customer's own: no lesson about forms.
        let card = |id: &str| {
            let record = json!({"payment_methods": ["card_1111", "card_2222"]}).to_string();
            let s = Sess::new(id).customer().tool("get_user_details", json!({"user_id": "u"}), &record, false).tool(
                "exchange_items",
                json!({"order_id": "#1", "payment_method_id": "card_2222", "pay_by": "card_2222"}),
                "{}",
                false,
            );
            check(
                s,
                "exchange_items",
                json!({"order_id": "#1", "payment_method_id": "card_1111", "pay_by": "card_1111"}),
                false,
            )
            .build()
        };
        assert!(ops(&[card("a"), card("b")], 0.0).is_empty());
    }

    /// The agent returns part of what the evaluator expected returned.
    fn partial(id: &str, got: &[&str], want: &[&str]) -> NewSession {
        let s = Sess::new(id)
            .customer()
            .tool("get_order", json!({"order_id": format!("#{id}")}), "{\"status\": \"delivered\"}", false)
            .tool("return_items", json!({"order_id": format!("#{id}"), "item_ids": got}), "{}", false);
        check(s, "return_items", json!({"order_id": format!("#{id}"), "item_ids": want}), false).build()
    }

    #[test]
    fn a_call_that_left_items_out_becomes_put_every_item_in_one_call() {
        let found =
            ops(&[partial("a", &["1", "2"], &["1", "2", "3"]), partial("b", &["7"], &["7", "8", "9", "10"])], 0.0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].text,
            "Collect every item first, then make one `return_items` call per `order_id` with all of them in `item_ids`: in 2 failed runs the call left out items the evaluator expected."
        );
        assert_eq!(quotes(&found[0]), ["return_items"; 4]);
        // Another order's items are another target.
        let other = |id: &str| {
            let s = Sess::new(id).tool("return_items", json!({"order_id": "#X", "item_ids": ["1"]}), "{}", false);
            check(s, "return_items", json!({"order_id": "#Y", "item_ids": ["1", "2"]}), false).build()
        };
        assert!(ops(&[other("a"), other("b")], 0.0).is_empty(), "no shared target, nothing compared");
        // A long tool name: the counts go, the rule stays within a memory's length.
        let long = "return_delivered_order_items_with_refund_to_the_original_payment_method";
        let partial_long = |id: &str| {
            let s = Sess::new(id).tool(long, json!({"order_id": "#1", "item_ids": ["1"]}), "{}", false);
            check(s, long, json!({"order_id": "#1", "item_ids": ["1", "2"]}), false).build()
        };
        let found = ops(&[partial_long("a"), partial_long("b")], 0.0);
        assert_eq!(
            found[0].text,
            format!(
                "Collect every item first, then make one `{long}` call per `order_id` with all of them in `item_ids`."
            )
        );
        assert!(found[0].text.chars().count() <= MAX_TEXT);
    }

    /// A replacement by the same item the agent handled as `did`.
    fn replacement(id: &str, did: &str) -> NewSession {
        let order = format!("#{id}");
        let s = Sess::new(id)
            .customer()
            .user("My lamp arrived broken, I want a new one of the exact same model.")
            .tool("get_order", json!({"order_id": order}), "{\"items\": [\"555\"]}", false);
        let s = match did {
            "return" => s.tool("return_items", json!({"order_id": order, "item_ids": ["555"]}), "{}", false),
            "other" => s.tool(
                "exchange_items",
                json!({"order_id": order, "item_ids": ["555"], "new_item_ids": ["556"]}),
                "{}",
                false,
            ),
            _ => s,
        };
        check(s, "exchange_items", json!({"order_id": order, "item_ids": ["555"], "new_item_ids": ["555"]}), false)
            .build()
    }

    #[test]
    fn an_expected_exchange_to_the_same_item_names_what_the_agent_did_instead() {
        // Some other run calls the exchange tool: it is the agent's.
        let ok = Sess::new("ok")
            .tool("exchange_items", json!({"order_id": "#9", "item_ids": ["1"], "new_item_ids": ["2"]}), "{}", false)
            .build();
        let sessions = [replacement("a", "return"), replacement("b", "return"), replacement("c", "other"), ok];
        let found = ops(&sessions, 0.0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].text,
            "To replace an item with the same one, call `exchange_items` with `new_item_ids` = `item_ids` (the same item ids), not `return_items`: 3 failed runs did not."
        );
        let cited: BTreeSet<&str> = found[0].evidence.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(cited, BTreeSet::from(["a", "b", "c"]));
        assert!(!found[0].text.contains("555") && !found[0].text.contains("lamp"));
        // An agent that did nothing on the order is counted, and named as nothing.
        let ops2 =
            ops_of(&snapshot(&[replacement("a", "none"), replacement("b", "none"), sessions[3].clone()], 0.0, vec![]));
        assert_eq!(
            ops2[0].text,
            "To replace an item with the same one, call `exchange_items` with `new_item_ids` = `item_ids` (the same item ids): 2 failed runs did not."
        );
    }

    #[test]
    fn met_checks_successful_runs_single_sessions_and_users_own_tools_teach_nothing() {
        let failed = [address("a", "ana_1", "United States"), address("b", "bo_2", "US")];
        assert!(ops(&failed, 1.0).is_empty(), "reward 1: the evaluator was satisfied");
        let met: Vec<NewSession> = failed
            .iter()
            .map(|s| {
                let mut s = s.clone();
                for e in &mut s.events {
                    e.is_error = false;
                }
                s
            })
            .collect();
        assert!(ops(&met, 0.0).is_empty(), "every check met");
        assert!(ops(&failed[..1], 0.0).is_empty(), "one session is no recurring lesson");
        // A tool only the customer calls is the customer's to use.
        let by_user: Vec<NewSession> = failed
            .iter()
            .map(|s| {
                let mut s = s.clone();
                for e in &mut s.events {
                    if e.kind == EventKind::ToolCall {
                        e.role = Role::User;
                    }
                }
                s
            })
            .collect();
        assert!(ops(&by_user, 0.0).is_empty(), "the customer's own tool");
    }

    #[test]
    fn dreaming_again_proposes_nothing_and_new_runs_strengthen_the_memory() {
        let first = [partial("a", &["1"], &["1", "2"]), partial("b", &["3"], &["3", "4"])];
        let snap = snapshot(&first, 0.0, Vec::new());
        let cfg = DreamSpec::default().config("2026-02-01T00:00:00Z");
        let p = crate::dream(&snap, &cfg, "d1").unwrap();
        let mine: Vec<&Op> = p.ops.iter().filter(|o| o.pass == NAME).collect();
        assert_eq!(mine.len(), 1);
        let cur = BTreeMap::new();
        let changes = nocturne_core::proposal::plan_ops(&mine, &cur, "2026-02-01T00:00:00Z", "d1").unwrap();
        let memories: Vec<Memory> = changes.into_iter().filter_map(|c| c.after).collect();
        assert!(ops_of(&snapshot(&first, 0.0, memories.clone())).is_empty(), "the same runs again: nothing new");
        // Two later runs with the same mistake promote the memory, no second one.
        let mut later = Snapshot::from_new_sessions(
            2,
            &[partial("c", &["5"], &["5", "6"]), partial("d", &["7"], &["7", "8"])],
            memories.clone(),
            "2026-03-01T00:00:00Z",
        );
        for s in ["c", "d"] {
            later.outcomes.insert(s.into(), SessionOutcome { score: 0.0, label: "0".into() });
        }
        let again = ops_of(&later);
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(
            (again[0].op, again[0].targets.as_slice()),
            (OpKind::Promote, std::slice::from_ref(&memories[0].id))
        );
    }
}
