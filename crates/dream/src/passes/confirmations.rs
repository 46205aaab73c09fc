//! Calls a service agent makes only after the customer said yes.
//!
//! Only sessions with a customer (a service agent's transcripts, see
//! `Counterpart::Customer`) are read; a coding agent's operator approving a
//! plan is no customer confirming an action. Rule: an agent's call is
//! *confirmed* when, going back from it over tool calls, tool results and
//! the agent's own messages, the customer's last message affirms (a word
//! `yes`, `yeah`, `yep`, `confirm`, `confirmed`, `proceed` or `go ahead`,
//! and it does not open with `no`) and the agent's message before that asked
//! for it (`confirm`, `confirmation`, `proceed` or `yes`). A tool is
//! *confirmation-gated* when it was called at least [`MIN_CALLS`] times in
//! at least [`MIN_SESSIONS`] sessions, at least [`GATED_SHARE`] of its calls
//! were confirmed, and that share is at least [`OVER_BASE`] above the share
//! of all the batch's agent calls that were (lookups answer the customer's
//! data, not a yes, so they never qualify: the split comes from the batch,
//! not from tool names). The calls of gated tools made without a
//! confirmation are the mistake: when they happen in at least the mistake
//! support of sessions, one finding says "Get the customer's explicit
//! confirmation before calling …", with the counts, how many of those
//! sessions failed by outcome, and evidence citing each unconfirmed call.
//! Calls whose tool the format did not name are never counted.

use crate::context::Context;
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Event, EventKind, MemoryKind, OpKind, Role};
use std::collections::{BTreeMap, BTreeSet};

pub struct Confirmations;

pub const NAME: &str = "confirmations";
/// Calls of a tool before it can be gated.
pub const MIN_CALLS: usize = 5;
/// Sessions calling a tool before it can be gated.
pub const MIN_SESSIONS: usize = 3;
/// Share of a gated tool's calls that followed a confirmation.
pub const GATED_SHARE: f64 = 0.85;
/// How far that share must stand above the batch's share of confirmed calls.
pub const OVER_BASE: f64 = 0.25;
/// Gated tools named in the memory text; more are counted.
const NAMED: usize = 4;

const AFFIRM: &[&str] = &["yes", "yeah", "yep", "confirm", "confirmed", "proceed"];
const ASK: &[&str] = &["confirm", "confirmation", "proceed", "yes"];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn affirms(text: &str) -> bool {
    let w = words(text);
    if w.first().map(String::as_str) == Some("no") {
        return false;
    }
    w.iter().any(|x| AFFIRM.contains(&x.as_str())) || w.windows(2).any(|p| p[0] == "go" && p[1] == "ahead")
}

fn asks(text: &str) -> bool {
    words(text).iter().any(|x| ASK.contains(&x.as_str()))
}

fn message(e: &Event, role: Role, kind: EventKind) -> Option<&str> {
    (e.body.role == role && e.body.kind == kind)
        .then_some(e.body.text.as_deref())
        .flatten()
        .filter(|t| !t.trim().is_empty())
}

/// Whether the call at `seq` followed the customer's yes to the agent's
/// request for it (see the module docs).
pub fn confirmed_before(events: &[Event], seq: u32) -> bool {
    let mut before = events.iter().rev().filter(|e| e.seq < seq);
    // Tool traffic, the agent's own words and harness records are skipped.
    let Some(reply) = before.find_map(|e| message(e, Role::User, EventKind::UserMessage)) else { return false };
    if !affirms(reply) {
        return false;
    }
    before.find_map(|e| message(e, Role::Assistant, EventKind::AssistantMessage)).is_some_and(asks)
}

#[derive(Default)]
struct ToolStats {
    calls: usize,
    confirmed: usize,
    sessions: BTreeSet<usize>,
    /// Unconfirmed calls: (session, action index).
    unconfirmed: Vec<(usize, usize)>,
}

impl Pass for Confirmations {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut stats: BTreeMap<&str, ToolStats> = BTreeMap::new();
        for (si, s) in ctx.sessions.iter().enumerate() {
            if s.data.session.counterpart != Some(nocturne_core::Counterpart::Customer) {
                continue;
            }
            for (ai, a) in s.actions.iter().enumerate() {
                if !a.called || a.by_user || a.tool == crate::recovery::UNNAMED {
                    continue;
                }
                let t = stats.entry(a.tool.as_str()).or_default();
                t.calls += 1;
                t.sessions.insert(si);
                if confirmed_before(&s.data.events, a.call_seq) {
                    t.confirmed += 1;
                } else {
                    t.unconfirmed.push((si, ai));
                }
            }
        }
        let (all, yes) = stats.values().fold((0, 0), |(n, c), t| (n + t.calls, c + t.confirmed));
        let mut out = PassOutput::default();
        if all == 0 {
            return Ok(out);
        }
        let base = yes as f64 / all as f64;
        let share = |t: &ToolStats| t.confirmed as f64 / t.calls.max(1) as f64;
        let mut gated: Vec<(&str, &ToolStats)> = stats
            .iter()
            .filter(|(_, t)| t.calls >= MIN_CALLS && t.sessions.len() >= MIN_SESSIONS)
            .filter(|(_, t)| share(t) >= GATED_SHARE && share(t) - base >= OVER_BASE)
            .map(|(k, t)| (*k, t))
            .collect();
        out.stats.insert(format!("{NAME}.gated_tools"), gated.len().into());
        gated.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
        let exceptions: BTreeSet<usize> =
            gated.iter().flat_map(|(_, t)| t.unconfirmed.iter().map(|(s, _)| *s)).collect();
        if gated.is_empty() || exceptions.len() < ctx.config.support_for(Category::Mistake) as usize {
            return Ok(out);
        }
        let (n, c) = gated.iter().fold((0, 0), |(n, c), (_, t)| (n + t.calls, c + t.confirmed));
        let mut names: Vec<String> = gated.iter().take(NAMED).map(|(k, _)| format!("`{k}`")).collect();
        if gated.len() > NAMED {
            names.push(format!("{} more", gated.len() - NAMED));
        }
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        };
        let failed = exceptions.iter().filter(|s| ctx.sessions.get(**s).is_some_and(|v| v.failed)).count();
        let mut evidence = Vec::new();
        for (_, t) in &gated {
            for (si, ai) in &t.unconfirmed {
                let Some(s) = ctx.sessions.get(*si) else { continue };
                if let Some(e) = s.actions.get(*ai).and_then(|a| a.call_evidence(s.id())) {
                    evidence.push(e);
                }
            }
        }
        let k = exceptions.len();
        let outcome = if failed > 0 { format!("; {failed} of those sessions failed") } else { String::new() };
        out.findings.push(Finding {
            pass: NAME,
            category: Category::Mistake,
            op: OpKind::Create,
            kind: MemoryKind::mistake(),
            text: format!(
                "Get the customer's explicit confirmation before calling {list}: {c} of {n} such calls came after the customer's yes; {k} sessions made them without it."
            ),
            targets: Vec::new(),
            sessions: exceptions,
            evidence,
            confidence: (0.3 + 0.6 * share_of(c, n)).min(0.9),
            rationale: format!(
                "{c} of {n} calls of these tools followed the customer's yes to the agent's request (all calls: {:.0} %); {} calls in {k} sessions did not{outcome}",
                base * 100.0,
                n - c
            ),
            tags: vec!["confirmation".into()],
            key_terms: gated.iter().map(|(k, _)| (*k).to_string()).collect(),
            repeats: 0,
        });
        Ok(out)
    }
}

fn share_of(c: usize, n: usize) -> f64 {
    c as f64 / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamSpec, Snapshot};
    use nocturne_core::NewSession;
    use serde_json::json;

    /// A customer session: lookup, the agent's summary and question, then
    /// the write — after the customer's yes when `confirmed`.
    fn service(id: &str, confirmed: bool) -> NewSession {
        let s = Sess::new(id)
            .customer()
            .user("Hi, I want to return the lamp from my order.")
            .assistant("Sure. Could you provide your email?")
            .user("It is someone@example.com")
            .tool("find_user", json!({"email": "someone@example.com"}), "user_1", false)
            .tool("get_order", json!({"order_id": "#A1"}), "{\"status\": \"delivered\"}", false);
        let s = if confirmed {
            s.assistant("I will return the lamp to the original payment. Do you confirm (yes/no)?")
                .user("Yes, please proceed.")
        } else {
            s
        };
        s.tool("return_items", json!({"order_id": "#A1"}), "{\"status\": \"return requested\"}", false).build()
    }

    fn ops(sessions: &[NewSession]) -> Vec<nocturne_core::Op> {
        let snap = Snapshot::from_new_sessions(1, sessions, vec![], "2026-01-01T00:00:00Z");
        let cfg = DreamSpec::default().config("2026-02-01T00:00:00Z");
        crate::dream(&snap, &cfg, "d").unwrap().ops.into_iter().filter(|o| o.pass == NAME).collect()
    }

    #[test]
    fn a_yes_to_the_agents_question_confirms_the_next_call_and_a_no_does_not() {
        let yes = crate::SessionData::from_new(&service("a", true), "2026-01-01T00:00:00Z");
        let call = yes.events.iter().rev().find(|e| e.body.kind == EventKind::ToolCall).unwrap().seq;
        assert!(confirmed_before(&yes.events, call));
        let lookup = yes.events.iter().find(|e| e.body.kind == EventKind::ToolCall).unwrap().seq;
        assert!(!confirmed_before(&yes.events, lookup), "the customer's email is no yes");
        let no = Sess::new("n")
            .customer()
            .assistant("Shall I proceed with the return?")
            .user("No, don't proceed yet.")
            .tool("return_items", json!({}), "ok", false)
            .data();
        let call = no.events.iter().find(|e| e.body.kind == EventKind::ToolCall).unwrap().seq;
        assert!(!confirmed_before(&no.events, call));
    }

    #[test]
    fn writes_made_without_the_yes_most_calls_had_become_one_mistake_citing_them() {
        let mut sessions: Vec<NewSession> = (0..18).map(|i| service(&format!("ok{i}"), true)).collect();
        sessions.push(service("skip1", false));
        sessions.push(service("skip2", false));
        let ops = ops(&sessions);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let text = ops[0].text.as_str();
        assert_eq!(
            text,
            "Get the customer's explicit confirmation before calling `return_items`: 18 of 20 such calls came after the customer's yes; 2 sessions made them without it."
        );
        let cited: BTreeSet<&str> = ops[0].evidence.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(cited, BTreeSet::from(["skip1", "skip2"]));
        assert!(ops[0].evidence.iter().all(|e| e.quote == "return_items"));
    }

    #[test]
    fn nothing_without_customers_exceptions_or_a_gap_over_the_base_rate() {
        let all_ok: Vec<NewSession> = (0..10).map(|i| service(&format!("ok{i}"), true)).collect();
        assert!(ops(&all_ok).is_empty(), "no call went without the yes");
        let mut operator = Vec::new();
        for i in 0..10 {
            let mut s = service(&format!("s{i}"), i >= 2);
            s.counterpart = None;
            operator.push(s);
        }
        assert!(ops(&operator).is_empty(), "an operator is no customer");
        let one: Vec<NewSession> =
            (0..9).map(|i| service(&format!("ok{i}"), true)).chain([service("x", false)]).collect();
        assert!(ops(&one).is_empty(), "one session is no recurring mistake");
    }
}
