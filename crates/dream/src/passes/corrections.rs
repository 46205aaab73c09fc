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
//! **Left to the preference pass**: a group whose correcting sentences are
//! directives ([`crate::directives`]) in as many independent sessions as a
//! preference needs (`min_support`, by default 3) is stated by that pass;
//! this one proposes nothing for it, so one rule does not become two ops.
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
    /// Cues that count only when a specific object follows them (`the …`,
    /// `this …`, a code name): "don't modify `f`" corrects an action, "do
    /// not modify them by hand" and "don't touch generated code" are
    /// standing rules, the preference pass's.
    pub need_object: bool,
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
        ],
        explicit: &["don't mock", "do not mock", "instead of mocking", "rather than mocking"],
        key_terms: &["mock", "narrow"],
        need_object: false,
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
        need_object: true,
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
        need_object: false,
    },
];

/// One correcting sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// The event the sentence is verbatim text of.
    pub seq: u32,
    /// The sentence as it is in the event (the evidence quote).
    pub quote: String,
    /// Index into [`THEMES`], for a themed correction.
    pub theme: Option<usize>,
    /// For a "use `X`" correction (no theme): what to use.
    pub uses: Option<Use>,
    /// The tool call the operator rejected or interrupted, if any.
    pub stopped: Option<u32>,
}

/// A "use `X`" correction: the code-shaped name the operator told the
/// agent to use, and the one he told it not to, when he said.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    /// The name as written (backticks and trailing punctuation removed).
    pub name: String,
    /// Its grouping key: the last `.` component, lowercase, without `()`.
    pub key: String,
    /// The name not to use ("don't use `Y`", "`X` not `Y`", "instead of `Y`").
    pub not: Option<String>,
}

/// True for a name that is code, not prose: an identifier with `_` or `.`
/// inside, a call `f()`, a `--flag`, or a mixed-case word (`FileSource`,
/// `camelCase`); never a path, an address or a number-heavy value.
fn code_shaped(t: &str) -> bool {
    if t.chars().count() < 3 || t.contains(['/', '\\', '@', ':', '#', '=']) {
        return false;
    }
    if t.chars().filter(char::is_ascii_digit).count() >= 3
        || !t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '-')
    {
        return false;
    }
    let inner = t.trim_end_matches("()");
    let word = inner.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !word {
        return false;
    }
    let mixed = inner.chars().skip(1).any(char::is_uppercase) && inner.chars().any(char::is_lowercase);
    let dotted = inner.trim_matches('.').contains(['.', '_']);
    (inner.starts_with("--") && inner.len() > 3) || t.ends_with("()") || mixed || dotted
}

/// The token after position `i` of `words`, skipping an article, cleaned.
fn name_after(words: &[&str], i: usize) -> Option<String> {
    let mut j = i + 1;
    if words.get(j).is_some_and(|w| matches!(w.to_lowercase().as_str(), "a" | "an" | "the")) {
        j += 1;
    }
    let w = words.get(j)?.trim_matches(|c: char| matches!(c, '`' | '\'' | '"' | ',' | ';' | '.' | '!' | '?'));
    let w = w.trim_end_matches(['`', ',']);
    code_shaped(w).then(|| w.to_string())
}

/// The "use `X`" correction a sentence makes, if any: the word `use`
/// followed (after an article) by a code-shaped name, not preceded by a
/// negation; the name not to use from "don't use `Y`", "not `Y`" or
/// "instead of `Y`" in the same sentence.
pub fn use_of(sentence: &str) -> Option<Use> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| normalized(w)).collect();
    let negated = |i: usize| {
        let prev = i.checked_sub(1).and_then(|j| lower.get(j)).map(String::as_str);
        matches!(prev, Some("don't" | "dont" | "not" | "never"))
    };
    let mut name = None;
    let mut not = None;
    for (i, w) in lower.iter().enumerate() {
        match w.as_str() {
            "use" if negated(i) => not = not.or_else(|| name_after(&words, i)),
            "use" => name = name.or_else(|| name_after(&words, i)),
            "not" if lower.get(i + 1).is_none_or(|n| n != "use") => not = not.or_else(|| name_after(&words, i)),
            "of" if i > 0 && lower.get(i - 1).is_some_and(|p| p == "instead") => {
                not = not.or_else(|| name_after(&words, i))
            }
            _ => {}
        }
    }
    let name = name?;
    let key = name.trim_end_matches("()").rsplit('.').next().unwrap_or(&name).to_lowercase();
    let not = not.filter(|n| n.to_lowercase() != name.to_lowercase());
    (key.len() >= 3).then_some(Use { name, key, not })
}

/// "use `W`" (optionally "just", "instead", "please") as the whole reason
/// for stopping a shell command whose verb is not `W`: use `W`, not the verb.
fn instead_of_command(quote: &str, verb: &str) -> Option<Use> {
    let lower = normalized(quote);
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | '`'))
        .filter(|w| !w.is_empty() && !matches!(*w, "please" | "just" | "instead" | "no"))
        .collect();
    let [first, tool] = words.as_slice() else { return None };
    let plain = tool.len() >= 2 && tool.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    let verb = verb.to_lowercase();
    (*first == "use" && plain && *tool != verb && !verb.is_empty() && !crate::text::is_stop(tool)).then(|| Use {
        name: (*tool).to_string(),
        key: (*tool).to_string(),
        not: Some(verb),
    })
}

/// Phrases of the harness telling that the operator refused or stopped a
/// tool use (lowercase).
const STOPPED: &[&str] = &[
    "doesn't want to proceed with this tool use",
    "doesn't want to take this action",
    "the tool use was rejected",
    "[request interrupted by user",
];

/// How many characters of a user message are read.
const TYPED: usize = 2000;

/// How many characters of a tool result are read for the harness's notice.
const HEAD: usize = 400;

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
        cues.iter().any(|c| {
            let Some(at) = lower.find(c) else { return false };
            // Phrases about the request itself ("i didn't ask") need none.
            let verb = c.starts_with("don't") || c.starts_with("do not");
            !(t.need_object && verb) || lower.get(at + c.len()..).is_some_and(specific_object)
        })
    })
}

/// True when the text after a cue starts with a specific object: `the`,
/// `this`, `that`, `my`, `our`, `your`, or a code name (backticked or
/// code-shaped).
fn specific_object(rest: &str) -> bool {
    let Some(w) = rest.split_whitespace().next() else { return false };
    if ["the", "this", "that", "my", "our", "your"].contains(&w) || w.starts_with('`') {
        return true;
    }
    code_shaped(w.trim_end_matches([',', '.', ';', '!']))
}

/// A cheap test before sentences are split: the text holds a phrase some
/// correction needs (a theme phrase, or the word `use` after an action).
fn may_correct(text: &str, after: bool) -> bool {
    let lower = normalized(text);
    THEMES.iter().any(|t| (if after { t.cues } else { t.explicit }).iter().any(|c| lower.contains(c)))
        || (after && lower.split(|c: char| !c.is_alphanumeric()).any(|w| w == "use"))
}

/// The correction one sentence makes, if any: a theme, else (after an
/// agent action) a "use `X`" correction.
fn correction(seq: u32, quote: String, after: bool, stopped: Option<u32>) -> Option<Correction> {
    if let Some(theme) = theme_of(&quote, after) {
        return Some(Correction { seq, quote, theme: Some(theme), uses: None, stopped });
    }
    let n = quote.split_whitespace().count();
    // A slash command (`/help how do I use …`) is a question to the tool.
    if !after || !(2..=40).contains(&n) || quote.contains("```") || quote.starts_with('/') {
        return None;
    }
    let uses = match use_of(&quote) {
        Some(u) => u,
        // A "use" sentence without a code-shaped name may still join a
        // name's group (see the pass).
        None if crate::text::raw_words(&quote).iter().any(|w| w == "use") => {
            Use { name: String::new(), key: String::new(), not: None }
        }
        None => return None,
    };
    Some(Correction { seq, quote, theme: None, uses: Some(uses), stopped })
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
                // The harness's notice opens the result: only its start is read.
                let head: String = t.chars().take(HEAD).collect();
                let lower = normalized(&head);
                let refused = STOPPED.iter().any(|s| lower.contains(s));
                if refused {
                    stopped = last_call;
                }
                if !refused && !b.is_error {
                    continue;
                }
                let Some(words) = operator_words_in_result(t, b.is_error) else { continue };
                // A typed interrupt stops the call it answers.
                let stop = if refused { stopped } else { last_call };
                for s in sentences(words) {
                    out.extend(correction(e.seq, s, true, stop));
                }
                stopped = None;
                acted = false;
            }
            EventKind::System
                if b.text.as_deref().is_some_and(|t| t.trim_start().starts_with("[Request interrupted by user")) =>
            {
                stopped = stopped.or(last_call);
            }
            EventKind::UserMessage if b.role == Role::User => {
                let Some(t) = b.text.as_deref() else { continue };
                // What a person types to correct comes first; a long paste
                // after it (logs, output) is not read.
                let t = t.char_indices().nth(TYPED).map_or(t, |(i, _)| t.get(..i).unwrap_or(t));
                let after = acted || stopped.is_some();
                if !may_correct(t, after) {
                    acted = false;
                    stopped = None;
                    continue;
                }
                for s in sentences(t) {
                    out.extend(correction(e.seq, s, after, stopped));
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
        let mut groups: BTreeMap<Group, Vec<(usize, Correction)>> = BTreeMap::new();
        let mut loose: Vec<(usize, Correction)> = Vec::new();
        let mut total = 0usize;
        for (si, s) in ctx.sessions.iter().enumerate() {
            for c in of(s.data) {
                total += 1;
                let g = match (&c.theme, &c.uses) {
                    (Some(t), _) => Group::Theme(*t),
                    (None, Some(u)) if !u.key.is_empty() => Group::Use(u.key.clone()),
                    _ => {
                        loose.push((si, c));
                        continue;
                    }
                };
                groups.entry(g).or_default().push((si, c));
            }
        }
        // A "use `W`" reason for stopping a shell command names the tool
        // to use instead of the command's own ("use pnpm" for `npm install`).
        let mut rest = Vec::new();
        for (si, mut c) in loose {
            let cmd = c.stopped.and_then(|seq| {
                let s = ctx.sessions.get(si)?;
                s.actions.iter().find(|a| a.called && a.call_seq == seq)?.cmd.clone()
            });
            match cmd.and_then(|cmd| instead_of_command(&c.quote, &cmd.verb)) {
                Some(u) => {
                    let g = Group::Use(u.key.clone());
                    c.uses = Some(u);
                    groups.entry(g).or_default().push((si, c));
                }
                None => rest.push((si, c)),
            }
        }
        // A "use" sentence without a code-shaped name joins the group of a
        // name it mentions ("use the samefile check" → `os.path.samefile`).
        for (si, c) in rest {
            let words = crate::text::raw_words(&c.quote);
            let key = groups.keys().find_map(|g| match g {
                Group::Use(k) if words.iter().any(|w| w == k) => Some(g.clone()),
                _ => None,
            });
            if let Some(g) = key.and_then(|k| groups.get_mut(&k)) {
                g.push((si, c));
            }
        }
        let unit = |si: usize| ctx.units.get(si).copied().unwrap_or(si);
        let mut findings = Vec::new();
        let mut left = 0usize;
        for (group, found) in groups {
            // One session per unit: the first of each.
            let mut per_unit: BTreeMap<usize, usize> = BTreeMap::new();
            for (si, _) in &found {
                per_unit.entry(unit(*si)).or_insert(*si);
            }
            if per_unit.len() < 2 {
                continue;
            }
            // Corrections that are directives in enough sessions for the
            // preference pass to state them itself are left to it.
            let directive_units: BTreeSet<usize> = found
                .iter()
                .filter(|(si, c)| {
                    ctx.sessions
                        .get(*si)
                        .is_some_and(|s| s.directives.iter().any(|d| d.seq == c.seq && d.quote == c.quote))
                })
                .map(|(si, _)| unit(*si))
                .collect();
            if directive_units.len() >= ctx.config.support_for(Category::Preference) as usize {
                left += 1;
                continue;
            }
            let Some((text, id, key_terms)) = lesson(&group, &found) else { continue };
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
                text,
                targets: Vec::new(),
                rationale: format!(
                    "the operator corrected the agent this way in {n} sessions ({} corrections, {stopped} of them \
                     stopping a tool use)",
                    found.len()
                ),
                sessions,
                evidence,
                confidence: (0.5 + 0.1 * n as f64).min(0.9),
                tags: vec!["correction".to_string(), id],
                key_terms,
                repeats: 0,
            });
        }
        let mut out = PassOutput::from(findings);
        out.stats.insert("corrections.sentences".into(), total.into());
        out.stats.insert("corrections.left_to_preferences".into(), left.into());
        Ok(out)
    }
}

/// What corrections are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Theme(usize),
    /// The key of a "use `X`" name.
    Use(String),
}

/// The most frequent string; ties: the shortest, then the smallest.
fn most<'a>(items: impl Iterator<Item = &'a str>) -> Option<String> {
    super::most_common(items)
}

/// A group's lesson: its text, its tag and its key terms; `None` when the
/// text would carry a value of one session.
fn lesson(group: &Group, found: &[(usize, Correction)]) -> Option<(String, String, Vec<String>)> {
    match group {
        Group::Theme(t) => {
            let t = THEMES.get(*t)?;
            Some((t.rule.to_string(), t.id.to_string(), t.key_terms.iter().map(|k| (*k).to_string()).collect()))
        }
        Group::Use(key) => {
            let uses = || found.iter().filter_map(|(_, c)| c.uses.as_ref());
            let name = most(uses().filter(|u| !u.name.is_empty()).map(|u| u.name.as_str()))?;
            let not = most(uses().filter_map(|u| u.not.as_deref()));
            let tests = found.iter().all(|(_, c)| {
                crate::text::raw_words(&c.quote)
                    .iter()
                    .any(|w| matches!(w.as_str(), "test" | "tests" | "assert" | "asserts"))
            });
            let mut text = if tests { format!("In tests, use `{name}`") } else { format!("Use `{name}`") };
            if let Some(n) = not {
                text.push_str(&format!(" instead of `{n}`"));
            }
            text.push('.');
            crate::directives::rule_sentence(&text)?;
            Some((text, format!("use-{key}"), vec![format!("`{}`", name.to_lowercase())]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamSpec, Snapshot};
    use nocturne_core::{NewSession, Subagent};
    use serde_json::json;

    const REJECTED: &str = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it \
                            was a file edit, the new_string was NOT written to the file). STOP what you are doing and \
                            wait for the user to tell you how to proceed.";

    fn push(s: Sess, role: Role, kind: EventKind, text: &str) -> Sess {
        s.event(role, kind, text)
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
        of(sd).iter().filter_map(|c| THEMES.get(c.theme?)).map(|t| t.id).collect()
    }

    #[test]
    fn a_message_after_a_rejected_tool_use_is_a_correction_of_that_call() {
        let sd = rejected_edit("s1", "You can set group.visible using the vis library which is less work").data();
        let cs = of(&sd);
        assert_eq!(cs.len(), 1, "{cs:?}");
        assert_eq!(cs[0].theme, Some(2), "reuse");
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
        assert_eq!(cs[0].theme, Some(1), "scope");
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
        // Standing rules are the preference pass's, not corrections of one action.
        assert!(after("Files in src/gen are generated, do not modify them by hand.").is_empty());
        assert!(after("Please don't touch generated code in src/gen; regenerate it instead.").is_empty());
        assert_eq!(after("don't touch the config loader"), vec!["scope"]);
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
            let mut n = rejected_edit(id, &format!("could we reuse the helper from {id}?")).build();
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

    #[test]
    fn use_corrections_name_code_not_prose() {
        let u = use_of("don't use `IgnorantTemporaryDirectory` use GitTemporaryDirectory").unwrap();
        assert_eq!((u.name.as_str(), u.key.as_str()), ("GitTemporaryDirectory", "gittemporarydirectory"));
        assert_eq!(u.not.as_deref(), Some("IgnorantTemporaryDirectory"));
        let u = use_of("in test_cmd_add_read_only_file use os.path.samefile in the asserts").unwrap();
        assert_eq!((u.name.as_str(), u.key.as_str(), u.not.as_deref()), ("os.path.samefile", "samefile", None));
        assert_eq!(use_of("use `get_head()` instead of `repo.head`").unwrap().not.as_deref(), Some("repo.head"));
        // Prose, paths, branches and ids are not names to remember.
        assert_eq!(use_of("use them in models.py"), None);
        assert_eq!(use_of("use rich to make the prompt blue"), None);
        assert_eq!(use_of("use /Users/ana/tmp/out.json as the fixture"), None);
        assert_eq!(use_of("use branch fix/login-4512 for this"), None);
        assert_eq!(use_of("don't use `IgnorantTemporaryDirectory` here"), None);
    }

    #[test]
    fn a_use_correction_in_two_sessions_is_a_lesson_with_the_name_only() {
        let s = |id: &str, said: &str| {
            Sess::new(id).user(&format!("add a test for {id}")).assistant("Added the test.").user(said).build()
        };
        let ops = dream_over(&[
            s("a", "in test_cmd_read, use the samefile check not just comparing the file paths"),
            s("b", "in test_cmd_add_read_only_file use os.path.samefile in the asserts"),
        ]);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(ops[0].text, "In tests, use `os.path.samefile`.");
        assert_eq!(ops[0].evidence.len(), 2);
        // A first message asking to use something is a request, not a correction.
        let first = |id: &str| Sess::new(id).user("use `GitTemporaryDirectory` in the new test").build();
        assert!(dream_over(&[first("x"), first("y")]).is_empty());
    }

    #[test]
    fn use_w_for_a_stopped_command_names_the_tool_instead() {
        let reason = format!("{REJECTED} The user provided the following reason for the rejection:  use pnpm");
        let s = |id: &str| {
            Sess::new(id)
                .user(&format!("set up the dev server for {id}"))
                .assistant("I'll install the dependencies.")
                .sh("npm install", &reason, true)
                .build()
        };
        assert!(dream_over(&[s("a")]).is_empty(), "one session is no lesson");
        let ops = dream_over(&[s("a"), s("b")]);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(ops[0].text, "Use `pnpm` instead of `npm`.");
        let quotes: Vec<&str> = ops[0].evidence.iter().map(|e| e.quote.as_str()).collect();
        assert!(quotes.contains(&"use pnpm") && quotes.contains(&"npm install"), "{quotes:?}");
        // Said as a rule in enough sessions, it is the preference pass's (one op, not two).
        let all = |ss: &[NewSession]| {
            let snap = Snapshot::from_new_sessions(1, ss, vec![], "2026-01-01T00:00:00Z");
            crate::dream(&snap, &DreamSpec::default().config("2026-02-01T00:00:00Z"), "d").unwrap().ops
        };
        let ana = |id: &str| {
            let mut n = s(id);
            n.user = Some("ana".into());
            n
        };
        let three = all(&[ana("a"), ana("b"), ana("c")]);
        let pnpm: Vec<&str> = three.iter().filter(|o| o.text.contains("pnpm")).map(|o| o.pass.as_str()).collect();
        assert_eq!(pnpm, vec!["preferences"], "{three:#?}");
        assert_eq!(instead_of_command("use the existing script", "npm"), None);
        assert_eq!(instead_of_command("use npm", "npm"), None);
    }
}
