//! Operator corrections: what the person running the agent told it when he
//! stopped or corrected one of its actions, again and again across sessions.
//!
//! **Who and where.** Only an operator's sessions are read
//! ([`crate::directives::operator_speaks`]: no customer of a service agent,
//! no sub-agent whose user turns are its parent's prompt), and only text the
//! operator typed: user messages with role `user` outside sidechains
//! (harness text the ingest marked `system` is never read), the reason given
//! when rejecting a tool use, and a typed interrupt inside a tool result
//! ([`crate::directives::operator_words_in_result`]).
//!
//! **A correction** is an operator sentence that reacts to an agent action:
//! - *after an action*: the agent acted (a tool call or a reply) since the
//!   operator last spoke, or the operator rejected or interrupted a tool use
//!   (Claude Code's "The user doesn't want to proceed with this tool use",
//!   `[Request interrupted by user…]`) — then any sentence of his next
//!   message, or the rejection reason itself, is read;
//! - *explicit form*: a sentence that is itself a correction ("no, don't
//!   …", "instead of mocking X, mock Y") counts even as the first message of
//!   a session (aider re-opens a run to correct the last one).
//!
//! **What it says** is read as one of a few *themes*, each a general rule
//! operators give agents, recognised by phrases (plain substrings of the
//! lowercased sentence, see [`THEMES`]):
//! - `reuse`: reuse what exists, keep the change simple ("which is less
//!   work", "do we even need …", "there is existing logic", "don't
//!   overcomplicate", "could we reuse …", "might be redundant");
//! - `scope`: change only what was asked ("don't modify `f`", "don't
//!   replace the cache, add …", "I didn't ask you to …");
//! - `mock-narrowly`: mock the narrow dependency named, not the function
//!   above it ("don't mock completion, mock httpx", "instead of mocking …").
//!
//! A sentence that is a question about something else, or carries no theme
//! phrase, is no correction of a theme (it is still read by the preference
//! pass when it is a directive).
//!
//! **Lesson.** A theme corrected in ≥ 2 independent sessions (support
//! *units*, see [`crate::context`]; `sessions` holds one session per unit)
//! becomes one lesson whose text is the theme's rule (general, ≤ 200
//! characters, no value of any session); the evidence quotes each
//! correcting sentence verbatim from its event, and, for a rejected or
//! interrupted tool use, the call it stopped. The finding's category is
//! [`Category::Mistake`] (the operator judged the agent's action a mistake:
//! `--focus mistake` selects it, and its default support is 2), its kind is
//! `preference` (it is what that operator wants). Its scope follows
//! [`scope_for`]. Key terms make a second dream over the same sessions a
//! promote that the planner drops for want of new evidence.

use crate::context::Context;
use crate::directives::{operator_speaks, operator_words_in_result, sentences};
use crate::{Category, DreamError, Finding, Pass, PassOutput, SessionData};
use nocturne_core::{EventKind, Evidence, MemoryKind, OpKind, Role, Scope, ScopeLevel};
use std::collections::{BTreeMap, BTreeSet};

/// The pass's name, as in [`Finding::pass`] and the proposal's stats.
pub const NAME: &str = "corrections";

/// One theme of corrections.
pub struct Theme {
    pub id: &'static str,
    /// The lesson's text.
    pub rule: &'static str,
    /// Phrases that put a sentence in the theme (lowercase substrings; `’`
    /// is read as `'`).
    pub cues: &'static [&'static str],
    /// Phrases that make a sentence a correction of the theme by
    /// themselves, with no agent action before it.
    pub explicit: &'static [&'static str],
    /// Terms an existing memory of this lesson contains.
    pub key_terms: &'static [&'static str],
}

/// The themes, in the order a sentence is tried against them (the first
/// that matches wins).
pub const THEMES: &[Theme] = &[
    Theme {
        id: "mock-narrowly",
        rule:
            "In tests, mock the narrow dependency the operator names (the low-level client a function uses), not the \
               function that calls it.",
        cues: &[
            "don't mock",
            "do not mock",
            "dont mock",
            "instead of mocking",
            "rather than mocking",
            "mock only",
            "only mock",
            "not mock",
        ],
        explicit: &["don't mock", "do not mock", "instead of mocking", "rather than mocking"],
        key_terms: &["mock", "narrow"],
    },
    Theme {
        id: "scope",
        rule: "Change only what the operator asked for: do not modify, replace or remove other code beyond the \
               request.",
        cues: &[
            "don't modify",
            "do not modify",
            "don't change",
            "do not change",
            "don't replace",
            "do not replace",
            "don't touch",
            "do not touch",
            "don't remove",
            "do not remove",
            "don't rewrite",
            "do not rewrite",
            "leave it alone",
            "i didn't ask",
            "i did not ask",
            "not what i asked",
            "i only asked",
            "only change what",
            "out of scope",
            "beyond what i asked",
        ],
        explicit: &["i didn't ask", "i did not ask", "not what i asked", "i only asked", "beyond what i asked"],
        key_terms: &["change only", "asked"],
    },
    Theme {
        id: "reuse",
        rule: "Keep changes simple: reuse existing code, components and library features instead of adding new \
               helpers, loops or checks.",
        cues: &[
            "reuse",
            "re-use",
            "less work",
            "overcomplicat",
            "over-complicat",
            "overengineer",
            "over-engineer",
            "too complex",
            "too complicated",
            "keep it simple",
            "simpler",
            "redundant",
            "do we even need",
            "do we really need",
            "don't think we need",
            "we don't need",
            "there is existing",
            "there's existing",
            "use the existing",
            "is already present",
            "are already present",
            "already exists",
            "very similar",
            "built-in",
            "builtin",
        ],
        explicit: &["overcomplicat", "over-complicat", "overengineer", "over-engineer"],
        key_terms: &["reuse", "existing"],
    },
];

/// One correcting sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// The event the sentence is verbatim text of.
    pub seq: u32,
    /// The sentence as it is in the event (the evidence quote).
    pub quote: String,
    /// Index into [`THEMES`].
    pub theme: usize,
    /// The tool call the operator rejected or interrupted, if any.
    pub stopped: Option<u32>,
}

/// Phrases of the harness telling that the operator refused or stopped a
/// tool use (lowercase).
const STOPPED: &[&str] = &[
    "doesn't want to proceed with this tool use",
    "doesn't want to take this action",
    "the tool use was rejected",
    "[request interrupted by user",
];

fn normalized(s: &str) -> String {
    s.to_lowercase().replace(['’', '‘'], "'")
}

/// The theme of a sentence (index into [`THEMES`]), if it is a correction:
/// `after` says an agent action precedes it (see the module docs).
pub fn theme_of(sentence: &str, after: bool) -> Option<usize> {
    let lower = normalized(sentence);
    let n = lower.split_whitespace().count();
    if !(2..=60).contains(&n) {
        return None;
    }
    // Quoted harness text or code is not what the operator said.
    if lower.contains("```") || lower.starts_with(['$', '{', '[', '<', '|']) {
        return None;
    }
    THEMES.iter().position(|t| {
        let cues = if after { t.cues } else { t.explicit };
        cues.iter().any(|c| lower.contains(c))
    })
}

/// The corrections of one session (empty when no operator speaks in it).
pub fn of(sd: &SessionData) -> Vec<Correction> {
    if !operator_speaks(&sd.session) {
        return Vec::new();
    }
    let mut out = Vec::new();
    // The agent acted since the operator last spoke.
    let mut acted = false;
    // The call the operator stopped, since he last spoke.
    let mut stopped: Option<u32> = None;
    let mut last_call: Option<u32> = None;
    for e in &sd.events {
        let b = &e.body;
        if b.sidechain {
            continue;
        }
        match b.kind {
            EventKind::ToolCall if b.role != Role::User => {
                last_call = Some(e.seq);
                acted = true;
            }
            EventKind::AssistantMessage => acted = true,
            EventKind::ToolResult => {
                let Some(t) = b.text.as_deref() else { continue };
                let lower = normalized(t);
                let refused = STOPPED.iter().any(|s| lower.contains(s));
                if refused {
                    stopped = last_call;
                }
                let Some(words) = operator_words_in_result(t, b.is_error) else { continue };
                // A typed interrupt stops the call it answers.
                let stop = if refused { stopped } else { last_call };
                for s in sentences(words) {
                    if let Some(theme) = theme_of(&s, true) {
                        out.push(Correction { seq: e.seq, quote: s, theme, stopped: stop });
                    }
                }
                stopped = None;
                acted = false;
            }
            EventKind::System => {
                if b.text.as_deref().is_some_and(|t| normalized(t).contains("[request interrupted by user")) {
                    stopped = stopped.or(last_call);
                }
            }
            EventKind::UserMessage if b.role == Role::User => {
                let Some(t) = b.text.as_deref() else { continue };
                let after = acted || stopped.is_some();
                for s in sentences(t) {
                    if let Some(theme) = theme_of(&s, after) {
                        out.push(Correction { seq: e.seq, quote: s, theme, stopped });
                    }
                }
                acted = false;
                stopped = None;
            }
            _ => {}
        }
    }
    out
}

/// The scope of a correction lesson drawn from `sessions`: exactly one
/// known operator → his (`user:NAME`); ≥ `min_users_shared` (and ≥ 2)
/// distinct operators → their team when every session has the same one,
/// else the org; several operators but fewer → none (nobody's alone); no
/// known operator (formats that name no user, and no user given at import)
/// → the sessions' own shared scope (their team, else their agent, else
/// the org): a store whose sessions name no person holds one operator's
/// work, and the lesson cites the agent action it corrects, so it is never
/// a customer's or a harness's text.
pub fn scope_for(ctx: &Context, sessions: &BTreeSet<usize>) -> Option<(Scope, u32)> {
    let (users, teams) = ctx.users_teams(sessions);
    let n = users.len() as u32;
    let all_have = |f: &dyn Fn(&nocturne_core::Session) -> bool| {
        sessions.iter().all(|s| ctx.sessions.get(*s).is_some_and(|v| f(&v.data.session)))
    };
    let team = (teams.len() == 1 && all_have(&|s| s.team.is_some())).then(|| teams.iter().next().cloned()).flatten();
    let named = |level, name: String| Scope { level, name: Some(name) };
    if n >= ctx.config.min_users_shared.max(2) {
        return Some((team.map_or_else(Scope::org, |t| named(ScopeLevel::Team, t)), n));
    }
    if let (1, Some(u)) = (n, users.iter().next()) {
        return Some((named(ScopeLevel::User, u.clone()), n));
    }
    if n > 0 {
        return None;
    }
    if let Some(t) = team {
        return Some((named(ScopeLevel::Team, t), 0));
    }
    let mut agents = sessions.iter().filter_map(|s| ctx.sessions.get(*s)?.data.session.agent.clone());
    let agent = agents.next().filter(|a| all_have(&|s| s.agent.as_deref() == Some(a.as_str())));
    Some((agent.map_or_else(Scope::org, |a| named(ScopeLevel::Agent, a)), 0))
}

pub struct Corrections;

impl Pass for Corrections {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let mut by_theme: BTreeMap<usize, Vec<(usize, Correction)>> = BTreeMap::new();
        let mut total = 0usize;
        for (si, s) in ctx.sessions.iter().enumerate() {
            for c in of(s.data) {
                total += 1;
                by_theme.entry(c.theme).or_default().push((si, c));
            }
        }
        let unit = |si: usize| ctx.units.get(si).copied().unwrap_or(si);
        let mut findings = Vec::new();
        for (theme, found) in by_theme {
            let Some(t) = THEMES.get(theme) else { continue };
            // One session per unit: the first of each.
            let mut per_unit: BTreeMap<usize, usize> = BTreeMap::new();
            for (si, _) in &found {
                per_unit.entry(unit(*si)).or_insert(*si);
            }
            if per_unit.len() < 2 {
                continue;
            }
            let sessions: BTreeSet<usize> = per_unit.values().copied().collect();
            let mut evidence: Vec<Evidence> = Vec::new();
            for (si, c) in &found {
                let Some(s) = ctx.sessions.get(*si) else { continue };
                let quoted = Evidence { session: s.id().to_string(), events: vec![c.seq], quote: c.quote.clone() };
                if !evidence.contains(&quoted) {
                    evidence.push(quoted);
                }
                let call = c.stopped.and_then(|seq| s.actions.iter().find(|a| a.called && a.call_seq == seq));
                if let Some(ev) = call.and_then(|a| a.call_evidence(s.id())) {
                    if !evidence.contains(&ev) {
                        evidence.push(ev);
                    }
                }
            }
            let n = sessions.len();
            let stopped = found.iter().filter(|(_, c)| c.stopped.is_some()).count();
            findings.push(Finding {
                pass: NAME,
                category: Category::Mistake,
                op: OpKind::Create,
                kind: MemoryKind::preference(),
                text: t.rule.to_string(),
                targets: Vec::new(),
                rationale: format!(
                    "the operator corrected the agent this way in {n} sessions ({} corrections, {stopped} of them \
                     stopping a tool use)",
                    found.len()
                ),
                sessions,
                evidence,
                confidence: (0.5 + 0.1 * n as f64).min(0.9),
                tags: vec!["correction".to_string(), t.id.to_string()],
                key_terms: t.key_terms.iter().map(|k| (*k).to_string()).collect(),
                repeats: 0,
            });
        }
        let mut out = PassOutput::from(findings);
        out.stats.insert("corrections.sentences".into(), total.into());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamSpec, Snapshot};
    use nocturne_core::{NewEvent, NewSession, Subagent};
    use serde_json::json;

    const REJECTED: &str = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it \
                            was a file edit, the new_string was NOT written to the file). STOP what you are doing and \
                            wait for the user to tell you how to proceed.";

    fn push(mut s: Sess, role: Role, kind: EventKind, text: &str) -> Sess {
        s.s.events.push(NewEvent {
            role,
            kind,
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: Some(text.into()),
            is_error: false,
            timestamp: None,
            sidechain: false,
            source_line: None,
            raw: "{}".into(),
        });
        s
    }

    /// A Claude Code rejection: the edit is refused, the harness notes the
    /// interrupt, the operator says why in his next message.
    fn rejected_edit(id: &str, said: &str) -> Sess {
        let s =
            Sess::new(id).user(&format!("make the {id} filter hide empty groups")).assistant("I'll update the filter.");
        let s = s.tool("Edit", json!({"file_path": "/Users/ana/app/timeline.html", "old_string": "a"}), REJECTED, true);
        let s = push(s, Role::System, EventKind::System, "[Request interrupted by user for tool use]");
        s.user(said)
    }

    fn themes(sd: &SessionData) -> Vec<&'static str> {
        of(sd).iter().filter_map(|c| THEMES.get(c.theme)).map(|t| t.id).collect()
    }

    #[test]
    fn a_message_after_a_rejected_tool_use_is_a_correction_of_that_call() {
        let sd = rejected_edit("s1", "You can set group.visible using the vis library which is less work").data();
        let cs = of(&sd);
        assert_eq!(cs.len(), 1, "{cs:?}");
        assert_eq!(THEMES[cs[0].theme].id, "reuse");
        assert_eq!(cs[0].quote, "You can set group.visible using the vis library which is less work");
        let call = sd.events.iter().find(|e| e.body.kind == EventKind::ToolCall).map(|e| e.seq);
        assert_eq!(cs[0].stopped, call, "the stopped Edit is the corrected action");
        let sd = rejected_edit("s2", "Do we even need _generate_html_with_combined_link then?").data();
        assert_eq!(themes(&sd), vec!["reuse"]);
    }

    #[test]
    fn the_rejection_reason_in_the_tool_result_is_read() {
        let r = format!(
            "{REJECTED} The user provided the following reason for the rejection:  don't modify the retry helper"
        );
        let sd = Sess::new("s").user("add a header test").sh("sed -i s/a/b/ retry.py", &r, true).data();
        let cs = of(&sd);
        assert_eq!(cs.len(), 1, "{cs:?}");
        assert_eq!(THEMES[cs[0].theme].id, "scope");
        assert_eq!(cs[0].quote, "don't modify the retry helper");
        assert!(cs[0].stopped.is_some());
    }

    #[test]
    fn replies_to_agent_actions_are_read_by_what_they_say() {
        let after = |said: &str| {
            themes(
                &Sess::new("s")
                    .user("write the test")
                    .assistant("Here is the test, mocking completion.")
                    .user(said)
                    .data(),
            )
        };
        assert_eq!(
            after("no, don't mock completion. mock the httpx library which completion uses"),
            vec!["mock-narrowly"]
        );
        assert_eq!(after("don't replace the tree cache. add the tree context cache."), vec!["scope"]);
        assert_eq!(
            after("errors handling is already present in metrics. don't overcomplicate"),
            vec!["reuse", "reuse"]
        );
        assert_eq!(after("great, but there is existing logic for scanning history"), vec!["reuse"]);
        // Thanks, follow-up requests and statements about the code are no corrections.
        assert!(after("thanks, that works. now add a test for the empty case").is_empty());
        assert!(after("the existing tests pass on my machine").is_empty());
        assert!(after("please run the linter and commit").is_empty());
    }

    #[test]
    fn without_an_agent_action_only_an_explicit_correction_counts() {
        let first = |said: &str| themes(&Sess::new("s").user(said).data());
        // A request that opens a session is no correction.
        assert!(first("we don't need a database, write a small CLI that reads the csv").is_empty());
        assert!(first("keep it simple and dependency free, add a chart of the monthly totals").is_empty());
        assert!(first("don't modify anything yet, just explain the cache").is_empty());
        // An explicit correction of earlier work is one.
        assert_eq!(
            first("instead of mocking aider.sendchat.simple_send_with_retries, mock repo.get_commit_message"),
            vec!["mock-narrowly"]
        );
    }

    #[test]
    fn customers_sub_agents_harness_and_agent_text_are_never_read() {
        let said = "no, don't mock the client, you overcomplicate it; don't modify the helper";
        let customer = Sess::new("c").customer().user("hi").assistant("How can I help?").user(said).data();
        assert!(of(&customer).is_empty(), "a customer's words");
        let mut sub = Sess::new("sub").user("task").assistant("ok").user(said).build();
        sub.subagent = Some(Subagent { agent_id: "a1".into(), agent_type: None, description: None, compaction: false });
        let sub = SessionData::from_new(&sub, "2026-01-01T00:00:00Z");
        assert!(of(&sub).is_empty(), "a sub-agent's user turns are its parent's prompt");
        let harness = push(Sess::new("h").user("fix it").assistant("done"), Role::System, EventKind::System, said);
        assert!(of(&harness.data()).is_empty(), "harness text");
        let agent = Sess::new("a").user("fix it").assistant(said).data();
        assert!(of(&agent).is_empty(), "the agent's own words");
    }

    fn dream_over(sessions: &[NewSession]) -> Vec<nocturne_core::Op> {
        let snap = Snapshot::from_new_sessions(1, sessions, vec![], "2026-01-01T00:00:00Z");
        let cfg = DreamSpec::default().config("2026-02-01T00:00:00Z");
        let p = crate::dream(&snap, &cfg, "d").unwrap();
        p.ops.into_iter().filter(|o| o.pass == NAME).collect()
    }

    #[test]
    fn corrections_in_two_sessions_make_one_general_lesson_citing_each() {
        let a = rejected_edit("s1", "You can set group.visible using the vis library which is less work").build();
        let b = Sess::new("s2")
            .user("link the combined transcript from each session page")
            .assistant("I added a nav block to the session template.")
            .user("could we reuse @templates/components/session_nav.html for that? looks like it's very similar?")
            .build();
        let ops = dream_over(&[a.clone(), b.clone()]);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        let o = &ops[0];
        assert_eq!(o.text, THEMES[2].rule);
        assert_eq!(o.kind.as_str(), "preference");
        assert_eq!(o.support, 2);
        let quotes: Vec<&str> = o.evidence.iter().map(|e| e.quote.as_str()).collect();
        assert!(quotes.contains(&"You can set group.visible using the vis library which is less work"), "{quotes:?}");
        assert!(quotes.contains(&"/Users/ana/app/timeline.html"), "the stopped call: {quotes:?}");
        assert!(quotes.contains(&"looks like it's very similar?"), "{quotes:?}");
        // No value of a session reaches the text.
        for v in ["vis", "session_nav", "/users/", "timeline", "group.visible"] {
            assert!(!o.text.to_lowercase().contains(v), "{v} leaked into {:?}", o.text);
        }
        // One session alone, however often it says so, is no lesson.
        let again = Sess::new("s3")
            .user("fix it")
            .assistant("I wrote a helper.")
            .user("reuse the parser")
            .assistant("I wrote another helper.")
            .user("this is redundant, reuse the parser")
            .build();
        assert!(dream_over(&[a.clone(), again.clone()]).len() == 1);
        assert!(dream_over(&[again]).is_empty());
        assert!(dream_over(&[a]).is_empty());
    }

    #[test]
    fn the_same_request_resent_is_one_session() {
        let s = |id: &str| {
            Sess::new(id)
                .user("add a retry test")
                .assistant("Done, I changed send_with_retries too.")
                .user("don't modify send_with_retries")
                .build()
        };
        assert!(dream_over(&[s("r1"), s("r2")]).is_empty(), "one request re-sent after an /undo");
    }

    #[test]
    fn scope_is_the_operators_or_shared_by_two_operators() {
        let s = |id: &str, user: Option<&str>| {
            let mut n = rejected_edit(id, &format!("don't modify the helper in {id}")).build();
            n.user = user.map(str::to_string);
            n.team = Some("web".into());
            n
        };
        let one = dream_over(&[s("a", Some("ana")), s("b", Some("ana"))]);
        assert_eq!(one.len(), 1, "{one:#?}");
        assert_eq!(one[0].scope.to_string(), "user:ana");
        let two = dream_over(&[s("a", Some("ana")), s("b", Some("bob"))]);
        assert_eq!(two[0].scope.to_string(), "team:web", "two operators said it");
        let nobody = dream_over(&[s("a", None), s("b", None)]);
        assert_eq!(nobody[0].scope.to_string(), "team:web", "no operator known: the sessions' own scope");
        let mixed = dream_over(&[s("a", Some("ana")), s("b", Some("bob")), s("c", Some("cid"))]);
        assert_eq!(mixed.len(), 1);
    }
}
