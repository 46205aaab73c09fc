//! The gate step: a call nearly every session makes before the others,
//! whose result supplies the identifiers the later calls take.
//!
//! A service agent identifies the customer (`find_user_id_by_email`, or
//! `find_user_id_by_name_zip` when that fails) and only then reads the
//! account (`get_user_details(user_id)`) with the id it got back. When
//! nearly every session of a batch does this and a few read first with an
//! id they were handed, the few skipped a step the others converged on.
//! Nothing here knows tool names: the gate is found from the batch's data
//! flow and order.
//!
//! Rule, over the agent's calls of named tools (a customer's own calls and
//! calls the format did not name are left out):
//! - An **identifier** is a string value of a call's input (at any depth)
//!   with no whitespace, quote, bracket, comma, colon, `=` or `|`, 4 to 80
//!   characters long, holding a digit, and not a number of fewer than 6
//!   digits (a count, a ZIP, a line); integers of 6 or more digits count
//!   too. Signs around it are no part of it (`#W1234567` is `W1234567`, as
//!   a customer may type it). It is *supplied* by an earlier call when that
//!   call worked and its result holds it as a word (split on the same
//!   characters); otherwise it came from *outside* (the user, the agent).
//! - A tool is a **source** in a session when one of its working calls
//!   supplies an identifier to a later call; a source tool of the batch is
//!   one that is a source in at least half of the (≥ 2) sessions where one
//!   of its calls worked. Its *feed* is the (tool, argument) its
//!   identifiers went to most often (sessions counted once each).
//! - Source tools with the same feed **stand in for one another** (two ways
//!   of getting the same id: by email, by name and ZIP); each such set is a
//!   gate candidate `G`.
//! - A session **passes** `G` when a call of `G` worked and, before the
//!   first one that did, the session made no call of another tool that
//!   takes an identifier or is a source tool (failed attempts at `G` are
//!   part of `G`). It **skips** `G` when a call of `G` worked later but
//!   the first such call before it took an identifier from outside. The
//!   sessions that count are those with a working `G` call or a call that
//!   takes an identifier.
//! - `G` is a **gate** when at least `min_sessions` sessions pass it, they
//!   are at least `share` of the sessions that count, and in at least
//!   `flow_share` of them a `G` result supplied an identifier to a later
//!   call. Of several, the one with the highest share (then more sessions
//!   passing it) is taken.
//! - The skipping sessions are the finding when they are at least the
//!   mistake support: one `mistake` naming `G` and the tools the skipping
//!   sessions called first, with the counts, citing each skipping call by
//!   its tool name (never a value: those are the customer's). When the
//!   gate mostly took only words the user typed (an email, a name) and
//!   answered with one identifier alone, it is worded as verifying who the
//!   user is (else "Call `G` first"); when every skipping call's outside
//!   identifier is one the user typed, the memory says "even when given an
//!   id".
//!
//! Coding agents' file reads and searches take paths and patterns, not
//! identifiers another call returned, and nothing opens nearly all their
//! sessions, so the pass stays silent there.

use crate::context::{Context, SessionView};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Counterpart, EventKind, Evidence, MemoryKind, OpKind, Role};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const NAME: &str = "gates";
/// Tools the skipping sessions called first, and gate tools, named in the
/// memory text (more are counted).
const NAMED: usize = 3;
/// The longest memory text; longer lists are shortened to fit.
const MAX_TEXT: usize = 200;

/// The gate-step pass with its thresholds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gates {
    /// Share of the sessions that count which must pass the gate.
    pub share: f64,
    /// Sessions that must pass it.
    pub min_sessions: usize,
    /// Share of the passing sessions where a gate result supplied an
    /// identifier to a later call.
    pub flow_share: f64,
}

impl Default for Gates {
    fn default() -> Self {
        Gates { share: 0.9, min_sessions: 10, flow_share: 0.75 }
    }
}

const SEPARATORS: &[char] = &['"', '\'', '`', '(', ')', '[', ']', '{', '}', '<', '>', ',', ';', ':', '=', '|'];

fn separator(c: char) -> bool {
    c.is_whitespace() || SEPARATORS.contains(&c)
}

/// An identifier without the signs around it (`#W1234567.` → `W1234567`),
/// so `W1234567` typed by a customer is the `#W1234567` a call took.
fn bare(v: &str) -> &str {
    v.trim_matches(|c: char| !c.is_alphanumeric())
}

/// Whether `v` can be an identifier (see the module docs).
fn identifier(v: &str) -> bool {
    let n = v.chars().count();
    (4..=80).contains(&n)
        && !v.chars().any(separator)
        && v.chars().any(|c| c.is_ascii_digit())
        && !(v.chars().all(|c| c.is_ascii_digit()) && n < 6)
}

/// The identifier words of a result text.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(separator).map(bare).filter(|w| identifier(w))
}

/// The identifiers of a call's input with the top-level argument holding each.
fn identifiers(input: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, key: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if identifier(bare(s)) && !s.chars().any(separator) => {
                out.push((key.to_string(), bare(s).to_string()))
            }
            Value::Number(n) if n.is_u64() && n.to_string().len() >= 6 => out.push((key.to_string(), n.to_string())),
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, key, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match input {
        Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k, &mut out)),
        other => walk(other, "", &mut out),
    }
    out
}

/// Every string value of a call's input (the gate's inputs, to see whether
/// the user typed them).
fn strings(input: &Value, out: &mut Vec<String>) {
    match input {
        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_lowercase()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// One agent call as the pass reads it.
struct Call<'a> {
    /// Index into the session's actions.
    action: usize,
    tool: &'a str,
    seq: u32,
    ok: bool,
    /// (argument, identifier) pairs of the input.
    ids: Vec<(String, String)>,
    /// For each identifier of `ids`: the earlier call whose result supplied it.
    from: Vec<Option<usize>>,
    /// Its result supplied an identifier to a later call.
    source: bool,
}

impl Call<'_> {
    fn takes_ids(&self) -> bool {
        !self.ids.is_empty()
    }

    fn outside(&self) -> bool {
        self.from.iter().any(Option::is_none)
    }
}

fn result_text<'a>(s: &'a SessionView, seq: Option<u32>) -> &'a str {
    let Some(seq) = seq else { return "" };
    let events = &s.data.events;
    let e = events.get(seq as usize).filter(|e| e.seq == seq).or_else(|| events.iter().find(|e| e.seq == seq));
    e.and_then(|e| e.body.text.as_deref()).unwrap_or("")
}

fn calls_of<'a>(s: &'a SessionView) -> Vec<Call<'a>> {
    let mut calls: Vec<Call> = Vec::new();
    // Identifier word → the first working call whose result holds it.
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (ai, a) in s.actions.iter().enumerate() {
        if !a.called || a.by_user || a.tool == crate::recovery::UNNAMED {
            continue;
        }
        let ids = identifiers(&a.input);
        let from: Vec<Option<usize>> = ids.iter().map(|(_, v)| first.get(v.as_str()).copied()).collect();
        for i in from.iter().flatten() {
            if let Some(c) = calls.get_mut(*i) {
                c.source = true;
            }
        }
        let j = calls.len();
        if a.ok() {
            for w in words(result_text(s, a.result_seq)) {
                first.entry(w).or_insert(j);
            }
        }
        calls.push(Call { action: ai, tool: a.tool.as_str(), seq: a.call_seq, ok: a.ok(), ids, from, source: false });
    }
    calls
}

/// How one session stands to a gate candidate.
enum Stand {
    /// Passes; whether a gate result supplied an identifier later.
    Pass(bool),
    /// Skips: the index of the call that came first with an outside identifier.
    Skip(usize),
    /// Counts, but neither (no working gate call, or a call before it that
    /// took only supplied identifiers).
    Other,
    /// Does not count.
    Out,
}

fn stand(calls: &[Call], gate: &BTreeSet<&str>, sources: &BTreeSet<&str>) -> Stand {
    let opened = calls.iter().position(|c| c.ok && gate.contains(c.tool));
    let blocking = |c: &Call| !gate.contains(c.tool) && (c.takes_ids() || sources.contains(c.tool));
    let Some(g) = opened else {
        return if calls.iter().any(|c| !gate.contains(c.tool) && c.takes_ids()) { Stand::Other } else { Stand::Out };
    };
    match calls.iter().take(g).position(blocking) {
        None => {
            let flows = calls
                .iter()
                .skip(g + 1)
                .any(|c| c.from.iter().flatten().any(|i| calls.get(*i).is_some_and(|p| gate.contains(p.tool))));
            Stand::Pass(flows)
        }
        Some(b) => match calls.get(b) {
            Some(c) if c.takes_ids() && c.outside() => Stand::Skip(b),
            _ => Stand::Other,
        },
    }
}

/// Lower-cased text of the user's messages before `seq`.
fn user_text_before(s: &SessionView, seq: u32) -> String {
    let mut t = String::new();
    for e in s.data.events.iter().take_while(|e| e.seq < seq) {
        if e.body.role == Role::User && e.body.kind == EventKind::UserMessage {
            if let Some(x) = &e.body.text {
                t.push_str(&x.to_lowercase());
                t.push('\n');
            }
        }
    }
    t
}

fn list(names: &[String], join: &str) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {join} {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

impl Pass for Gates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut out = PassOutput::default();
        let sessions: Vec<Vec<Call>> = ctx.sessions.iter().map(calls_of).collect();
        // Source tools and their feeds.
        let mut worked: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut feeds: BTreeMap<&str, BTreeMap<(&str, &str), usize>> = BTreeMap::new();
        for calls in &sessions {
            let mut ok: BTreeSet<&str> = BTreeSet::new();
            let mut src: BTreeSet<&str> = BTreeSet::new();
            let mut fed: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
            for c in calls {
                if c.ok {
                    ok.insert(c.tool);
                }
                if c.source {
                    src.insert(c.tool);
                }
                for ((key, _), from) in c.ids.iter().zip(&c.from) {
                    if let Some(p) = from.and_then(|i| calls.get(i)) {
                        fed.insert((p.tool, c.tool, key.as_str()));
                    }
                }
            }
            for t in ok {
                let w = worked.entry(t).or_default();
                w.0 += 1;
                w.1 += usize::from(src.contains(t));
            }
            for (p, c, k) in fed {
                *feeds.entry(p).or_default().entry((c, k)).or_default() += 1;
            }
        }
        let sources: BTreeSet<&str> =
            worked.iter().filter(|(_, (n, s))| *n >= 2 && s * 2 >= *n).map(|(t, _)| *t).collect();
        let mut groups: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
        for t in &sources {
            let top = feeds.get(t).and_then(|f| f.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))));
            if let Some((feed, _)) = top {
                groups.entry(*feed).or_default().insert(t);
            }
        }
        // The best gate candidate.
        struct Measure<'g> {
            gate: &'g BTreeSet<&'g str>,
            counted: usize,
            passed: usize,
            flowed: usize,
            skips: Vec<(usize, usize)>,
        }
        let mut best: Option<Measure> = None;
        for gate in groups.values() {
            let mut m = Measure { gate, counted: 0, passed: 0, flowed: 0, skips: Vec::new() };
            for (si, calls) in sessions.iter().enumerate() {
                match stand(calls, gate, &sources) {
                    Stand::Pass(flows) => {
                        m.counted += 1;
                        m.passed += 1;
                        m.flowed += usize::from(flows);
                    }
                    Stand::Skip(ci) => {
                        m.counted += 1;
                        m.skips.push((si, ci));
                    }
                    Stand::Other => m.counted += 1,
                    Stand::Out => {}
                }
            }
            let share = m.passed as f64 / m.counted.max(1) as f64;
            let holds = m.passed >= self.min_sessions
                && share >= self.share
                && m.flowed as f64 >= self.flow_share * m.passed as f64;
            let better = best.as_ref().is_none_or(|b| {
                let bs = b.passed as f64 / b.counted.max(1) as f64;
                share > bs || (share == bs && m.passed > b.passed)
            });
            if holds && better {
                best = Some(m);
            }
        }
        out.stats.insert(format!("{NAME}.gate_tools"), best.as_ref().map_or(0, |m| m.gate.len()).into());
        let Some(m) = best else { return Ok(out) };
        let k = m.skips.len();
        if k < ctx.config.support_for(Category::Mistake) as usize {
            return Ok(out);
        }
        let mut firsts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut evidence = Vec::new();
        let mut given = true;
        for (si, ci) in &m.skips {
            let (Some(s), Some(c)) = (ctx.sessions.get(*si), sessions.get(*si).and_then(|v| v.get(*ci))) else {
                continue;
            };
            *firsts.entry(c.tool).or_default() += 1;
            evidence.push(Evidence { session: s.id().to_string(), events: vec![c.seq], quote: c.tool.to_string() });
            let said = user_text_before(s, c.seq);
            given &= c
                .ids
                .iter()
                .zip(&c.from)
                .filter(|(_, f)| f.is_none())
                .all(|((_, v), _)| words(&said).any(|w| w.eq_ignore_ascii_case(v)));
        }
        let mut first: Vec<(&str, usize)> = firsts.into_iter().collect();
        first.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        // The gate identifies the user when, in most sessions with a
        // working gate call, the first one took only what the user had typed
        // (an email, a name) and answered with one identifier alone.
        let (mut opened, mut typed) = (0, 0);
        for (si, calls) in sessions.iter().enumerate() {
            let Some(c) = calls.iter().find(|c| c.ok && m.gate.contains(c.tool)) else { continue };
            let (Some(s), Some(a)) = (ctx.sessions.get(si), ctx.sessions.get(si).and_then(|s| s.actions.get(c.action)))
            else {
                continue;
            };
            opened += 1;
            let mut inputs = Vec::new();
            strings(&a.input, &mut inputs);
            let said = user_text_before(s, c.seq);
            let answer = result_text(s, a.result_seq).trim();
            let one_id = !answer.chars().any(char::is_whitespace) && words(answer).count() == 1;
            typed += usize::from(one_id && !inputs.is_empty() && inputs.iter().all(|v| said.contains(v.as_str())));
        }
        let identifies = typed * 2 > opened;
        let sessions_set: BTreeSet<usize> = m.skips.iter().map(|(s, _)| *s).collect();
        let customer = sessions_set
            .iter()
            .all(|s| ctx.sessions.get(*s).is_some_and(|v| v.data.session.counterpart == Some(Counterpart::Customer)));
        let who = if customer { "customer" } else { "user" };
        let mut gate_names: Vec<String> = m.gate.iter().take(NAMED).map(|t| format!("`{t}`")).collect();
        if m.gate.len() > NAMED {
            gate_names.push(format!("{} more", m.gate.len() - NAMED));
        }
        let text_with = |named: usize| {
            let mut names: Vec<String> = first.iter().take(named).map(|(t, _)| format!("`{t}`")).collect();
            if first.len() > named {
                names.push(format!("{} more", first.len() - named));
            }
            let (gates, later) = (list(&gate_names, "or"), list(&names, "or"));
            let head = if identifies {
                format!("Verify who the {who} is with {gates} before {later}")
            } else {
                format!("Call {gates} first, before {later}")
            };
            let even = if given { ", even when given an id" } else { "" };
            format!("{head}{even}: {} of {} sessions did; {k} did not.", m.passed, m.counted)
        };
        let mut text = text_with(NAMED);
        for named in (1..NAMED).rev() {
            if text.chars().count() <= MAX_TEXT {
                break;
            }
            text = text_with(named);
        }
        let failed = sessions_set.iter().filter(|s| ctx.sessions.get(**s).is_some_and(|v| v.failed)).count();
        let share = m.passed as f64 / m.counted.max(1) as f64;
        let outcome = if failed > 0 { format!("; {failed} of those sessions failed") } else { String::new() };
        let mut key_terms: Vec<String> = m.gate.iter().take(NAMED).map(|t| t.to_string()).collect();
        key_terms.extend(first.iter().take(NAMED).map(|(t, _)| t.to_string()));
        out.findings.push(Finding {
            pass: NAME,
            category: Category::Mistake,
            op: OpKind::Create,
            kind: MemoryKind::mistake(),
            text,
            targets: Vec::new(),
            sessions: sessions_set,
            evidence,
            confidence: (0.3 + 0.6 * share).min(0.9),
            rationale: format!(
                "{} of {} sessions made a working call of {} before any other call that takes an identifier; its result supplied an identifier to a later call in {} of them; {k} sessions called another tool first with an identifier from outside the results{outcome}",
                m.passed,
                m.counted,
                list(&gate_names, "or"),
                m.flowed
            ),
            tags: vec!["gate".into()],
            key_terms,
            repeats: 0,
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamConfig, DreamSpec, Snapshot};
    use nocturne_core::{Memory, NewSession, Op};
    use serde_json::json;

    const NOW: &str = "2026-02-01T00:00:00Z";

    fn acct(i: usize) -> String {
        format!("acct_{i:04}")
    }

    /// A customer session that identifies the customer first (by email, or
    /// by name and ZIP after the email lookup failed when `by_name`), reads
    /// the account with the id it got back and then the order the account
    /// lists.
    fn passing(i: usize, by_name: bool) -> Sess {
        let s = Sess::new(&format!("ok{i}"))
            .customer()
            .user(&format!("Hi, I'm Ana Lee, zip 12345, email ana{i}@mail.test. Where is my parcel {i}?"))
            .assistant("Let me look you up.");
        let s = if by_name {
            s.tool("find_user", json!({"email": format!("ana{i}@mail.test")}), "Error: user not found", true).tool(
                "find_user_by_name",
                json!({"name": "Ana Lee", "zip": "12345"}),
                &acct(i),
                false,
            )
        } else {
            s.tool("find_user", json!({"email": format!("ana{i}@mail.test")}), &acct(i), false)
        };
        s.tool("get_user", json!({"user_id": acct(i)}), &format!("{{\"orders\": [\"#A1{i:04}\"]}}"), false).tool(
            "get_order",
            json!({"order_id": format!("#A1{i:04}")}),
            "{\"status\": \"delivered\"}",
            false,
        )
    }

    /// A customer session that reads the order the customer named before
    /// identifying them.
    fn skipping(i: usize) -> Sess {
        Sess::new(&format!("skip{i}"))
            .customer()
            .user(&format!("Order #A2{i:04} never came. I'm ana{i}@mail.test."))
            .tool("get_order", json!({"order_id": format!("#A2{i:04}")}), "{\"status\": \"pending\"}", false)
            .tool("find_user", json!({"email": format!("ana{i}@mail.test")}), &acct(100 + i), false)
            .tool("get_user", json!({"user_id": acct(100 + i)}), "{\"orders\": []}", false)
    }

    fn batch(pass: usize, skip: usize) -> Vec<NewSession> {
        (0..pass).map(|i| passing(i, i % 3 == 0).build()).chain((0..skip).map(|i| skipping(i).build())).collect()
    }

    fn ops_with(sessions: &[NewSession], memories: Vec<Memory>, cfg: &DreamConfig) -> Vec<Op> {
        let snap = Snapshot::from_new_sessions(1, sessions, memories, "2026-01-01T00:00:00Z");
        crate::dream(&snap, cfg, "d").unwrap().ops.into_iter().filter(|o| o.pass == NAME).collect()
    }

    fn ops(sessions: &[NewSession]) -> Vec<Op> {
        ops_with(sessions, Vec::new(), &DreamSpec::default().config(NOW))
    }

    #[test]
    fn identifiers_are_values_with_a_digit_and_no_spaces() {
        for v in ["raj_santos_9079", "W1234567", "1234567890", "3f2a9c1e-77aa-4bb0-9c1d-0e6f5d4c3b2a"] {
            assert!(identifier(v), "{v}");
        }
        for v in ["98157", "120", "files_with_matches", "src/main.rs", "two words 1", "a=1b2"] {
            assert!(!identifier(v), "{v}");
        }
        assert_eq!(bare("#W1234567."), "W1234567");
        let ids = identifiers(&json!({"order_id": "#A10001", "item_ids": ["1234567890", "x"], "limit": 5}));
        assert!(ids.contains(&("order_id".into(), "A10001".into())), "{ids:?}");
        assert!(ids.contains(&("item_ids".into(), "1234567890".into())), "{ids:?}");
        assert_eq!(ids.len(), 2, "{ids:?}");
    }

    #[test]
    fn sessions_that_read_before_the_step_the_others_took_first_become_one_mistake() {
        let ops = ops(&batch(18, 2));
        assert_eq!(ops.len(), 1, "{ops:#?}");
        let o = &ops[0];
        assert_eq!(
            o.text,
            "Verify who the customer is with `find_user` or `find_user_by_name` before `get_order`, even when given an id: 18 of 20 sessions did; 2 did not."
        );
        // The evidence is each skipping call, quoted by its tool name only.
        let cited: BTreeSet<&str> = o.evidence.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(cited, BTreeSet::from(["skip0", "skip1"]));
        assert!(o.evidence.iter().all(|e| e.quote == "get_order" && e.events.len() == 1), "{:#?}", o.evidence);
        // Nothing the customer said or any value of a session is repeated.
        for v in ["@mail.test", "#A2", "A2000", "acct_", "Ana Lee", "12345", "parcel"] {
            assert!(!o.text.contains(v) && !o.rationale.contains(v), "{v} in {o:#?}");
        }
    }

    #[test]
    fn a_first_step_whose_result_no_later_call_takes_is_no_gate() {
        // The lookup answers "found" and the agent reads the account with
        // the id the customer typed: nothing flows from the first call.
        let no_flow = |s: Sess| {
            let mut s = s.build();
            for e in &mut s.events {
                if e.tool_name.as_deref().is_some_and(|t| t.starts_with("find_user")) && e.tool_input.is_none() {
                    e.text = Some("found".into());
                }
            }
            s
        };
        let sessions: Vec<NewSession> =
            (0..18).map(|i| no_flow(passing(i, false))).chain((0..2).map(|i| no_flow(skipping(i)))).collect();
        assert!(ops(&sessions).is_empty());
    }

    #[test]
    fn a_step_most_but_not_nearly_all_sessions_take_first_is_no_gate() {
        // 15 of 19 sessions (79 %) is under the 90 % share.
        assert!(ops(&batch(15, 4)).is_empty());
        let lenient = Gates { share: 0.75, ..Gates::default() };
        let snap = Snapshot::from_new_sessions(1, &batch(15, 4), Vec::new(), "2026-01-01T00:00:00Z");
        let cfg = DreamSpec::default().config(NOW);
        let passes: Vec<Box<dyn Pass>> = vec![Box::new(lenient)];
        let p = crate::dream_with(&snap, &cfg, "d", &passes).unwrap();
        assert_eq!(p.ops.len(), 1, "the share is the pass's setting: {:#?}", p.ops);
        // Too few sessions at all.
        assert!(ops(&batch(8, 2)).is_empty());
    }

    #[test]
    fn one_skipping_session_is_below_the_mistake_support() {
        let sessions = batch(19, 1);
        assert!(ops(&sessions).is_empty(), "one session is no recurring mistake");
        let one = DreamSpec { min_support: Some(1), ..DreamSpec::default() }.config(NOW);
        let ops = ops_with(&sessions, Vec::new(), &one);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert!(ops[0].text.ends_with("19 of 20 sessions did; 1 did not."), "{}", ops[0].text);
    }

    #[test]
    fn without_the_users_words_in_the_first_call_it_is_a_first_step_not_a_check_of_identity() {
        // Operators' sessions: the first call takes a token of the
        // environment, not what the user typed; the skipping call's id is
        // none the user gave either.
        let sessions: Vec<NewSession> = (0..18)
            .map(|i| {
                Sess::new(&format!("op{i}"))
                    .user(&format!("Triage ticket batch {i}."))
                    .tool("open_workspace", json!({"token": "ws_tok_77"}), &format!("workspace ws_{i:04}"), false)
                    .tool("list_tickets", json!({"workspace": format!("ws_{i:04}")}), "T-100", false)
                    .build()
            })
            .chain((0..2).map(|i| {
                Sess::new(&format!("early{i}"))
                    .user(&format!("Go {i}."))
                    .tool("list_tickets", json!({"workspace": "ws_9999"}), "T-100", false)
                    .tool("open_workspace", json!({"token": "ws_tok_77"}), &format!("workspace ws_{i:04}"), false)
                    .build()
            }))
            .collect();
        let ops = ops(&sessions);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(
            ops[0].text,
            "Call `open_workspace` first, before `list_tickets`: 18 of 20 sessions did; 2 did not."
        );
    }

    #[test]
    fn a_first_step_that_answers_with_a_record_is_no_check_of_identity() {
        // The same batch, but the lookup answers with the whole record.
        let record = |s: Sess| {
            let mut s = s.build();
            for e in &mut s.events {
                let lookup = e.tool_name.as_deref().is_some_and(|t| t.starts_with("find_user"));
                if lookup && e.tool_input.is_none() && !e.is_error {
                    let id = e.text.clone().unwrap_or_default();
                    e.text = Some(format!("{{\"user_id\": \"{id}\", \"name\": \"Ana Lee\"}}"));
                }
            }
            s
        };
        let sessions: Vec<NewSession> =
            (0..18).map(|i| record(passing(i, i % 3 == 0))).chain((0..2).map(|i| record(skipping(i)))).collect();
        let ops = ops(&sessions);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(
            ops[0].text,
            "Call `find_user` or `find_user_by_name` first, before `get_order`, even when given an id: 18 of 20 sessions did; 2 did not."
        );
    }

    #[test]
    fn dreaming_twice_proposes_the_gate_once() {
        let sessions = batch(18, 2);
        let cfg = DreamSpec::default().config(NOW);
        let snap = Snapshot::from_new_sessions(1, &sessions, Vec::new(), "2026-01-01T00:00:00Z");
        let first = crate::dream(&snap, &cfg, "d1").unwrap();
        assert!(first.ops.iter().any(|o| o.pass == NAME), "{:#?}", first.ops);
        let ops: Vec<&Op> = first.ops.iter().collect();
        let memories: Vec<Memory> = nocturne_core::proposal::plan_ops(&ops, &BTreeMap::new(), NOW, &first.id)
            .unwrap()
            .into_iter()
            .filter_map(|c| c.after)
            .collect();
        let again = ops_with(&sessions, memories, &cfg);
        assert!(again.is_empty(), "{again:#?}");
    }
}
