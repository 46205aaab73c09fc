//! Project requirements: what the operator insists on about a project's
//! design while he steers the agent, said again in another session of the
//! same project ("performance is crucial", "the orchestrator must not be
//! agent specific").
//!
//! **Who and where.** Only an operator's sessions are read
//! ([`crate::directives::operator_speaks`]: no customer of a service agent,
//! no sub-agent whose user turns are its parent's prompt), and only text he
//! typed: user messages with role `user` outside sidechains (harness text
//! the ingest marked `system` is never read) and the operator's words
//! inside a tool result ([`crate::directives::operator_words_in_result`]).
//! Only what he says *in reply to the agent* counts — the agent acted (a
//! tool call or a reply) since he last spoke —: the request that opens a
//! session is the task, not a standing requirement.
//!
//! **A requirement sentence** ([`is_normative`]) has the form of a
//! necessity or a judgement of what is required: `must`, `need to`, `there
//! is a need`, `has to`, `is crucial`, `is critical`, `is essential`, `is
//! important`, `important to`, `is required`, `is mandatory`, `not
//! acceptable`, `not allowed`; 3..40 words, no question, no code, not
//! about the speaker ("I need to …") or the task at hand ("those tests must
//! pass", "we need to copy the icon too"). The weaker rule words (`always`,
//! `never`, `make sure`, an imperative `don't`) word requests too ("make
//! sure it adds …") and are left to the preference pass; a sentence that
//! is a correction of one of the corrections pass's themes is that pass's.
//!
//! **Project.** Sessions are grouped by project as the conventions pass
//! groups them ([`super::conventions::project_of`]: the working directory
//! the ingest recorded, by its last component; else the source file's
//! folder). Requirements of different projects never meet.
//!
//! **Same requirement.** Words are reduced to roots ([`root`]: the crude
//! stemmer plus derivational suffixes, `performance` / `performing` →
//! `perform`), without stop words, the normative words themselves and
//! general verbs and fillers ([`GENERAL`]: `create`, `add`, `find` … say
//! nothing of what is required). A root is *rare* when the operator wrote it in at
//! most 8 of the project's messages (and at most a fifth of them). Two
//! requirement sentences of different support units
//! ([`crate::context::Context::units`]) of one project state the same
//! requirement when
//! - the sentences share two rare roots, or one the operator wrote in no
//!   other message ("performance is crucial" / "comments about
//!   performance also valid …"); or
//! - their messages share two rare roots and each sentence names a rare
//!   root of the other's message (a requirement about the per-agent
//!   plugins stated beside the agents' names, and a request naming the
//!   same agents).
//!
//! The sentences linked so form groups; a group spoken in ≥ 2 units is a
//! requirement of the project (the planner asks `min_support` of a fact,
//! by default 2). One session alone, however often it insists, is none.
//!
//! **Lesson.** A `fact` of the project, its text made of the operator's own
//! clauses: `In `NAME`, <clause>; <clause>.` — per unit the group's
//! sentence with the most links, cut to its normative clause (from the
//! comma-separated part that holds the normative words; a leading
//! "however", "but", "there is a need to" dropped; at most 100 characters:
//! a longer one describes a task), at most three, ≤ 200 characters in all;
//! a clause carrying a value of one session (a path, an id, a
//! URL, an e-mail, a long number) is never used, and a group with fewer
//! than two usable clauses (of two units) yields nothing. The evidence
//! quotes every sentence of the group verbatim from its event. Tags
//! `requirement` and the project's `project:NAME#KEY` tag; the scope is the one of facts
//! ([`crate::scope`]).

use crate::context::Context;
use crate::directives::{operator_speaks, operator_words_in_result, rule_sentence, sentences};
use crate::{text, Category, DreamError, Finding, Pass, PassOutput, SessionData};
use nocturne_core::{EventKind, Evidence, MemoryKind, OpKind, Role};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The pass's name, as in [`Finding::pass`] and the proposal's stats.
pub const NAME: &str = "requirements";

/// A root is rare when the operator wrote it in at most this many of the
/// project's messages (and at most a fifth of them).
const RARE_MAX: usize = 8;

/// Clauses in one lesson, at most.
const MAX_CLAUSES: usize = 3;

/// The longest lesson text.
const MAX_TEXT: usize = 200;

/// The longest clause a lesson quotes: a requirement worth writing down is
/// short; a long sentence is a task described, not a rule.
const MAX_CLAUSE: usize = 100;

/// Roots of the normative words: how strongly something is required, not
/// what.
const MARKER_ROOTS: &[&str] = &[
    "need",
    "must",
    "ensure",
    "important",
    "crucial",
    "critical",
    "essential",
    "require",
    "required",
    "mandatory",
    "acceptable",
    "unacceptable",
    "allow",
    "allowed",
    "mind",
    "valid",
    "always",
    "never",
    "sure",
    "keep",
];

/// General verbs and fillers: what is done, not what it is done to, so
/// they tell nothing of what a requirement is about.
pub const GENERAL: &[&str] = &[
    "add", "ask", "build", "call", "change", "check", "create", "do", "exist", "existing", "find", "fix", "follow",
    "get", "give", "go", "handle", "have", "help", "include", "know", "let", "like", "look", "make", "move", "need",
    "open", "provide", "put", "read", "remove", "return", "run", "say", "see", "seem", "send", "set", "show", "start",
    "stop", "take", "tell", "think", "try", "update", "want", "work", "write", "good", "great", "fine", "new", "old",
    "thing", "way", "time",
];

/// One requirement sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// The event the sentence is verbatim text of.
    pub seq: u32,
    /// The sentence as it is in the event (the evidence quote).
    pub quote: String,
    /// Content roots of the sentence (see [`roots`]).
    pub roots: Vec<String>,
    /// Content roots of the whole message the sentence is part of.
    pub context: Vec<String>,
}

/// How many characters of a user message are read.
const TYPED: usize = 2000;

/// Normative phrases (lowercase, matched between word boundaries): a
/// necessity or a judgement of what is required, said to insist. The
/// weaker rule words (`always`, `never`, `make sure`, an imperative
/// `don't`) are how requests are worded too ("make sure it adds …", "never
/// mind"), and are the preference pass's.
const NORMATIVE: &[&str] = &[
    "must",
    "mustn't",
    "must not",
    "need to",
    "needs to",
    "there is a need",
    "there's a need",
    "has to",
    "have to",
    "is crucial",
    "are crucial",
    "is critical",
    "are critical",
    "is essential",
    "are essential",
    "is important",
    "are important",
    "important to",
    "important not to",
    "is required",
    "are required",
    "is mandatory",
    "not acceptable",
    "is unacceptable",
    "not allowed",
];

/// Words that point at the conversation at hand (as in
/// [`crate::directives`]).
const DEICTIC: &[&str] = &["those", "these", "above", "below", "this one", "that one"];

fn padded(lower: &str) -> String {
    format!(" {} ", lower.replace(['’', '`'], "'").replace([',', ':', ';', '—', '–', '(', ')', '.', '!'], " "))
}

/// True when a sentence has a normative form (see [`NORMATIVE`]), and is
/// not about the speaker ("I need to leave").
pub fn is_normative(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    let p = padded(&lower);
    let first = p.split_whitespace().next();
    if matches!(first, Some("i" | "i'm" | "i've" | "i'll" | "i'd")) {
        return false;
    }
    // "Those tests must pass" is about the task at hand.
    if DEICTIC.iter().any(|d| p.contains(&format!(" {d} "))) {
        return false;
    }
    // "We need to copy the icon too" plans the task; "we must" insists.
    let p = p.replace(" we need to ", " ").replace(" we have to ", " ");
    NORMATIVE.iter().any(|m| p.contains(&format!(" {m} ")))
}

/// A word's root: [`text::stem`] and then the common derivational
/// suffixes (`performance`, `performing` → `perform`).
pub fn root(w: &str) -> String {
    let s = text::stem(w);
    for suf in ["ations", "ation", "ance", "ence", "ments", "ment", "ally", "al", "ity"] {
        if let Some(b) = s.strip_suffix(suf) {
            if b.chars().count() >= 4 {
                return b.to_string();
            }
        }
    }
    s
}

/// True for a root that says nothing of what is required (a normative
/// word or a general verb).
fn uninformative(r: &str) -> bool {
    static SET: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    let set = SET.get_or_init(|| {
        MARKER_ROOTS.iter().chain(GENERAL).flat_map(|w| [(*w).to_string(), text::stem(w), root(w)]).collect()
    });
    set.contains(r)
}

/// Content roots of a text, sorted and unique, without normative words and
/// general verbs.
pub fn roots(s: &str) -> Vec<String> {
    let mut out: Vec<String> = text::content_tokens(s)
        .iter()
        .map(|t| root(t))
        .filter(|t| t.chars().count() >= 3 && !t.chars().all(|c| c.is_ascii_digit()) && !uninformative(t))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// True for a sentence of prose: 3..40 words, no code.
fn prose(sentence: &str) -> bool {
    let n = sentence.split_whitespace().count();
    let codeish = sentence.starts_with(['$', '|', '{', '[', '<', '#', '/', '>'])
        || sentence.contains(['{', '}'])
        || sentence.contains("=>")
        || sentence.contains("```");
    (3..=40).contains(&n) && !codeish
}

fn candidate(seq: u32, sentence: &str, context: &[String]) -> Option<Requirement> {
    if !prose(sentence) || sentence.contains('?') || !is_normative(sentence) {
        return None;
    }
    // A correction of one of the themes is the corrections pass's lesson.
    if super::corrections::theme_of(sentence, true).is_some() {
        return None;
    }
    let roots = roots(sentence);
    (!roots.is_empty()).then(|| Requirement { seq, quote: sentence.to_string(), roots, context: context.to_vec() })
}

/// The requirement candidates of one message: its sentences, and the
/// roots of its prose sentences (logs and code pasted around them are not
/// what the operator said).
fn of_message(seq: u32, text: &str, out: &mut Vec<Requirement>) {
    let all = sentences(text);
    let mut context: Vec<String> = all.iter().filter(|s| prose(s)).flat_map(|s| roots(s)).collect();
    context.sort();
    context.dedup();
    out.extend(all.iter().filter_map(|s| candidate(seq, s, &context)));
}

/// The requirement sentences of one session: normative sentences the
/// operator said in reply to the agent (see the module docs).
pub fn of(sd: &SessionData) -> Vec<Requirement> {
    if !operator_speaks(&sd.session) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut acted = false;
    for e in &sd.events {
        let b = &e.body;
        if b.sidechain {
            continue;
        }
        match b.kind {
            EventKind::ToolCall if b.role != Role::User => acted = true,
            EventKind::AssistantMessage => acted = true,
            EventKind::ToolResult => {
                let Some(t) = b.text.as_deref() else { continue };
                let Some(words) = operator_words_in_result(t, b.is_error) else { continue };
                of_message(e.seq, words, &mut out);
            }
            EventKind::UserMessage if b.role == Role::User => {
                let Some(t) = b.text.as_deref() else { continue };
                let t = t.char_indices().nth(TYPED).map_or(t, |(i, _)| t.get(..i).unwrap_or(t));
                if acted {
                    of_message(e.seq, t, &mut out);
                }
                acted = false;
            }
            _ => {}
        }
    }
    out
}

/// The normative clause of a sentence (see the module docs), trimmed of
/// its final punctuation.
pub fn clause(sentence: &str) -> String {
    let parts: Vec<&str> = sentence.split(", ").collect();
    let from = parts.iter().position(|p| is_normative(p)).unwrap_or(0);
    let mut c = parts.get(from..).map(|p| p.join(", ")).unwrap_or_default();
    loop {
        let lower = c.to_lowercase().replace('’', "'");
        let lead =
            ["however ", "but ", "and ", "so ", "also ", "then ", "just ", "there is a need to ", "there's a need to "]
                .iter()
                .find(|l| lower.starts_with(**l));
        match lead {
            // The lead is ASCII and `’` one character: count characters, not bytes.
            Some(l) => c = c.chars().skip(l.chars().count()).collect::<String>().trim_start().to_string(),
            None => break,
        }
    }
    c.trim().trim_end_matches(['.', '!', ';', ',', ' ']).to_string()
}

/// A requirement sentence in the batch.
struct Node<'a> {
    session: usize,
    unit: usize,
    req: &'a Requirement,
}

/// The root of `i` in a union-find forest.
fn find(parent: &[usize], i: usize) -> usize {
    let mut r = i;
    while let Some(&p) = parent.get(r) {
        if p == r {
            break;
        }
        r = p;
    }
    r
}

pub struct Requirements;

impl Pass for Requirements {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        // Per project: the requirement sentences and the operator's messages' roots.
        struct Project {
            name: Option<String>,
            tag: Option<String>,
            sessions: Vec<usize>,
            df: HashMap<String, usize>,
            messages: usize,
        }
        let mut projects: BTreeMap<String, Project> = BTreeMap::new();
        let mut reqs: Vec<(usize, Vec<Requirement>)> = Vec::new();
        for (si, s) in ctx.sessions.iter().enumerate() {
            if !operator_speaks(&s.data.session) {
                continue;
            }
            let cwd = super::conventions::cwd_of(s.data);
            let Some((key, name, project)) =
                super::conventions::project_of(cwd.as_deref(), s.data.session.source.as_deref())
            else {
                continue;
            };
            let p = projects.entry(key).or_insert_with(|| Project {
                name,
                tag: project.as_ref().map(nocturne_core::project::Project::tag),
                sessions: Vec::new(),
                df: HashMap::new(),
                messages: 0,
            });
            p.sessions.push(si);
            for e in &s.data.events {
                let b = &e.body;
                if b.kind != EventKind::UserMessage || b.role != Role::User || b.sidechain {
                    continue;
                }
                let Some(t) = b.text.as_deref() else { continue };
                let t = t.char_indices().nth(TYPED).map_or(t, |(i, _)| t.get(..i).unwrap_or(t));
                p.messages += 1;
                let mut rs: Vec<String> = sentences(t).iter().filter(|s| prose(s)).flat_map(|s| roots(s)).collect();
                rs.sort();
                rs.dedup();
                for r in rs {
                    *p.df.entry(r).or_default() += 1;
                }
            }
            reqs.push((si, of(s.data)));
        }
        let by_session: HashMap<usize, &Vec<Requirement>> = reqs.iter().map(|(si, r)| (*si, r)).collect();
        let unit = |si: usize| ctx.units.get(si).copied().unwrap_or(si);
        let mut findings = Vec::new();
        let mut links_total = 0usize;
        for p in projects.values() {
            let limit = RARE_MAX.min(p.messages / 5).max(2);
            let df = |t: &str| p.df.get(t).copied().unwrap_or(0);
            let rare = |t: &String| df(t) <= limit;
            let nodes: Vec<Node> = p
                .sessions
                .iter()
                .filter_map(|si| Some((*si, by_session.get(si)?)))
                .flat_map(|(si, rs)| rs.iter().map(move |req| Node { session: si, unit: unit(si), req }))
                .collect();
            let mut parent: Vec<usize> = (0..nodes.len()).collect();
            let mut degree = vec![0usize; nodes.len()];
            for (i, a) in nodes.iter().enumerate() {
                for (j, b) in nodes.iter().enumerate().skip(i + 1) {
                    if a.unit == b.unit {
                        continue;
                    }
                    let shared: Vec<&String> =
                        a.req.roots.iter().filter(|t| b.req.roots.contains(t) && rare(t)).collect();
                    let said = shared.len() >= 2 || shared.iter().any(|t| df(t) <= 2);
                    let named = || {
                        let both = a.req.context.iter().filter(|t| b.req.context.contains(t) && rare(t)).count();
                        let ab = a.req.roots.iter().any(|t| b.req.context.contains(t) && rare(t));
                        let ba = b.req.roots.iter().any(|t| a.req.context.contains(t) && rare(t));
                        both >= 2 && ab && ba
                    };
                    if said || named() {
                        links_total += 1;
                        for k in [i, j] {
                            if let Some(d) = degree.get_mut(k) {
                                *d += 1;
                            }
                        }
                        let (ri, rj) = (find(&parent, i), find(&parent, j));
                        if let Some(x) = parent.get_mut(ri.max(rj)) {
                            *x = ri.min(rj);
                        }
                    }
                }
            }
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for i in 0..nodes.len() {
                if degree.get(i).copied().unwrap_or(0) > 0 {
                    groups.entry(find(&parent, i)).or_default().push(i);
                }
            }
            for members in groups.values() {
                if let Some(f) = lesson(ctx, p.name.as_deref(), p.tag.as_deref(), &nodes, members, &degree) {
                    findings.push(f);
                }
            }
        }
        let mut out = PassOutput::from(findings);
        out.stats.insert("requirements.links".into(), links_total.into());
        Ok(out)
    }
}

/// A group's lesson (see the module docs); `None` when fewer than two
/// units give a usable clause.
fn lesson(
    ctx: &Context,
    name: Option<&str>,
    project: Option<&str>,
    nodes: &[Node],
    members: &[usize],
    degree: &[usize],
) -> Option<Finding> {
    // Per unit: the sentence with the most links, then the earliest.
    let mut best: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for &m in members {
        let n = nodes.get(m)?;
        let d = degree.get(m).copied().unwrap_or(0);
        let c = clause(&n.req.quote);
        if c.chars().count() > MAX_CLAUSE || rule_sentence(&c).is_none() {
            continue;
        }
        let e = best.entry(n.unit).or_insert((m, d));
        if d > e.1 {
            *e = (m, d);
        }
    }
    if best.len() < 2 {
        return None;
    }
    let mut chosen: Vec<usize> = best.values().map(|(m, _)| *m).collect();
    chosen.sort_by_key(|m| nodes.get(*m).map(|n| (n.session, n.req.seq)));
    let place = name.map_or_else(|| "this project".to_string(), |n| format!("`{n}`"));
    let mut clauses: Vec<String> = Vec::new();
    for m in chosen {
        let Some(n) = nodes.get(m) else { continue };
        let c = clause(&n.req.quote);
        let mut next = clauses.clone();
        next.push(c);
        let t = format!("In {place}, {}.", next.join("; "));
        if next.len() <= MAX_CLAUSES && t.chars().count() <= MAX_TEXT {
            clauses = next;
        }
    }
    if clauses.len() < 2 {
        return None;
    }
    let text = format!("In {place}, {}.", clauses.join("; "));
    let mut sessions: BTreeMap<usize, usize> = BTreeMap::new();
    let mut evidence: BTreeMap<(usize, u32, String), Evidence> = BTreeMap::new();
    for &m in members {
        let n = nodes.get(m)?;
        sessions.entry(n.unit).or_insert(n.session);
        let sv = ctx.sessions.get(n.session)?;
        evidence.entry((n.session, n.req.seq, n.req.quote.clone())).or_insert_with(|| Evidence {
            session: sv.id().to_string(),
            events: vec![n.req.seq],
            quote: n.req.quote.clone(),
        });
    }
    let sessions: BTreeSet<usize> = sessions.into_values().collect();
    let mut tags = vec!["requirement".to_string()];
    tags.extend(project.map(str::to_string));
    let k = sessions.len();
    Some(Finding {
        pass: NAME,
        category: Category::Fact,
        op: OpKind::Create,
        kind: MemoryKind::fact(),
        text,
        targets: Vec::new(),
        rationale: format!("the operator required it in {k} sessions of the project ({} sentences)", evidence.len()),
        sessions,
        evidence: evidence.into_values().collect(),
        confidence: (0.4 + 0.1 * k as f64).min(0.8),
        tags,
        key_terms: Vec::new(),
        repeats: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sess;
    use crate::{DreamConfig, Snapshot};
    use nocturne_core::{Memory, NewSession, Op, Proposal, Subagent};

    /// A session in `cwd` (recorded as Claude Code records it) that opens
    /// with `request`, the agent's answer, and the operator's reply.
    fn steered(id: &str, cwd: &str, request: &str, reply: &str) -> Sess {
        let mut s = Sess::new(id).user(request);
        if let Some(e) = s.s.events.last_mut() {
            e.raw = format!("{{\"type\":\"user\",\"cwd\":\"{cwd}\"}}");
        }
        s.assistant("Here is my proposal.").user(reply)
    }

    fn dream(sessions: &[NewSession], memories: Vec<Memory>) -> Proposal {
        let snap = Snapshot::from_new_sessions(1, sessions, memories, "2026-01-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        crate::dream(&snap, &cfg, "d1").expect("dream")
    }

    fn ours(p: &Proposal) -> Vec<&Op> {
        p.ops.iter().filter(|o| o.pass == NAME).collect()
    }

    fn quotes(o: &Op) -> Vec<&str> {
        o.evidence.iter().map(|e| e.quote.as_str()).collect()
    }

    const A: &str = "performance is crucial for the price lookup.";
    const B: &str = "comments about performance are fine, there is a need to keep the report under a second.";

    #[test]
    fn a_requirement_insisted_on_in_two_sessions_of_a_project_is_one_fact_citing_each() {
        let a = steered("s1", "/home/ana/work/shop", "add caching to the price lookup", &format!("too slow. {A}"));
        let b = steered("s2", "/home/ana/work/shop", "speed up the monthly report", B);
        let p = dream(&[a.build(), b.build()], vec![]);
        let ops = ours(&p);
        assert_eq!(ops.len(), 1, "{:#?}", p.ops);
        let o = ops[0];
        assert_eq!(o.text, "In `shop`, performance is crucial for the price lookup; keep the report under a second.");
        assert_eq!((o.kind.as_str(), o.support), ("fact", 2));
        let tag = nocturne_core::project::Project::of_dir("/home/ana/work/shop").map(|p| p.tag());
        assert!(tag.is_some_and(|t| o.tags.contains(&t)), "{:?}", o.tags);
        assert_eq!(quotes(o), vec![A, B], "each sentence verbatim, from its own session");
        assert!(o.text.chars().count() <= MAX_TEXT);
        for v in ["ana", "/home/", "/work/"] {
            assert!(!o.text.to_lowercase().contains(v), "{v} leaked into {:?}", o.text);
        }
    }

    #[test]
    fn one_session_is_not_enough_however_often_it_insists() {
        let one = steered("s1", "/w/shop", "add caching to the price lookup", A).assistant("Done, cached.").user(B);
        assert!(ours(&dream(&[one.build()], vec![])).is_empty());
        // The same request re-sent (after an /undo) is one attempt, not two sessions agreeing.
        let again = |id: &str| steered(id, "/w/shop", "add caching to the price lookup", A).user(B).build();
        let p = dream(&[again("r1"), again("r2")], vec![]);
        assert!(ours(&p).is_empty(), "{:#?}", p.ops);
    }

    #[test]
    fn requirements_of_different_projects_never_meet() {
        let a = steered("s1", "/w/shop", "add caching to the price lookup", A);
        let b = steered("s2", "/w/blog", "speed up the monthly report", B);
        assert!(ours(&dream(&[a.build(), b.build()], vec![])).is_empty());
    }

    #[test]
    fn only_the_operators_replies_to_the_agent_are_read() {
        let said = "performance is crucial, the cache must stay bounded.";
        let reply = |s: Sess| -> Vec<String> { of(&s.data()).into_iter().map(|r| r.quote).collect() };
        assert_eq!(reply(steered("s", "/w/shop", "add a cache", said)), vec![said.to_string()]);
        // The request that opens a session is the task, not a standing requirement.
        assert!(reply(Sess::new("s").user(said)).is_empty(), "an opening request");
        // A customer of a service agent, a sub-agent's task prompt, harness and agent text.
        let customer = Sess::new("c").customer().user("hi").assistant("How can I help?").user(said);
        assert!(reply(customer).is_empty(), "a customer's words");
        let mut sub = Sess::new("sub").user("task").assistant("ok").user(said).build();
        sub.subagent = Some(Subagent { agent_id: "a1".into(), agent_type: None, description: None, compaction: false });
        assert!(of(&SessionData::from_new(&sub, "2026-01-01T00:00:00Z")).is_empty(), "a parent agent's prompt");
        let harness = Sess::new("h").user("fix it").assistant("done").event(Role::System, EventKind::System, said);
        assert!(reply(harness).is_empty(), "injected harness text");
        assert!(reply(Sess::new("a").user("fix it").assistant(said)).is_empty(), "the agent's own words");
    }

    #[test]
    fn questions_requests_and_statements_about_the_speaker_are_no_requirements() {
        assert!(is_normative("performance is crucial"));
        assert!(is_normative("sessionOrchestrator must not be agent specific"));
        assert!(is_normative("TODO is not acceptable, implementation must be full."));
        assert!(is_normative("there is a need to track the last synced message id"));
        assert!(!is_normative("I need to leave early today"), "about the speaker");
        assert!(!is_normative("wait, we need to copy the icon to the other repo too"), "planning the task");
        assert!(is_normative("we must never break the public API"));
        assert!(!is_normative("those tests must pass before you stop"), "about the task at hand");
        assert!(!is_normative("make sure it adds a row for the new file"), "a request's wording");
        assert!(!is_normative("always use pnpm"), "a rule word: the preference pass's");
        let reply = |said: &str| of(&steered("s", "/w/shop", "add a cache", said).data()).len();
        assert_eq!(reply("does performance need to be crucial here?"), 0, "a question");
        assert_eq!(reply("$ cargo test must pass"), 0, "code");
        assert_eq!(
            reply("errors handling is already present, so it must not be overcomplicated"),
            0,
            "a correction theme"
        );
    }

    #[test]
    fn a_long_clause_or_one_with_a_session_value_is_never_written() {
        let a = steered("s1", "/w/shop", "add caching", "performance of /Users/ana/shop/price.py is crucial.");
        let b = steered("s2", "/w/shop", "speed up the report", B);
        let p = dream(&[a.build(), b.build()], vec![]);
        assert!(ours(&p).is_empty(), "one usable clause is one session's voice: {:#?}", p.ops);
        let long = "performance is crucial because every request of the price lookup goes through the cache and the \
                    cache is slow under load.";
        let a = steered("s1", "/w/shop", "add caching", long);
        let p = dream(&[a.build(), steered("s2", "/w/shop", "speed up the report", B).build()], vec![]);
        assert!(ours(&p).is_empty(), "a long sentence describes a task: {:#?}", p.ops);
        assert_eq!(
            clause("the main idea is fine, however the core must not be agent specific."),
            "the core must not be agent specific"
        );
        assert_eq!(clause("ok, there is a need to keep it under a second!"), "keep it under a second");
        assert_eq!(clause("there’s a need to keep it small"), "keep it small");
    }

    #[test]
    fn requirements_said_beside_the_same_names_are_linked_by_their_messages() {
        let a = "the orchestrator must not be agent specific. for claude the logic is fine, gemini stores prompts \
                 elsewhere.";
        let b = "look at the codex agent folder first. there is a need to add a plugin for codex like the claude and \
                 gemini ones.";
        let s1 = steered("s1", "/w/cli", "plan the session tracking", a);
        let s2 = steered("s2", "/w/cli", "plan the metrics", b);
        let p = dream(&[s1.build(), s2.build()], vec![]);
        let ops = ours(&p);
        assert_eq!(ops.len(), 1, "{:#?}", p.ops);
        assert_eq!(
            ops[0].text,
            "In `cli`, the orchestrator must not be agent specific; add a plugin for codex like the claude and gemini ones."
        );
        // Without the names beside it, a requirement is about something else.
        let s1 = steered("s1", "/w/cli", "plan the session tracking", "the orchestrator must not be agent specific.");
        assert!(ours(&dream(&[s1.build(), steered("s2", "/w/cli", "plan", b).build()], vec![])).is_empty());
    }

    #[test]
    fn a_second_dream_over_the_same_sessions_proposes_nothing() {
        let ss = vec![
            steered("s1", "/w/shop", "add caching to the price lookup", A).build(),
            steered("s2", "/w/shop", "speed up the monthly report", B).build(),
        ];
        let first = dream(&ss, vec![]);
        assert_eq!(ours(&first).len(), 1);
        let cur = std::collections::BTreeMap::new();
        let ops: Vec<&Op> = first.ops.iter().collect();
        let memories: Vec<Memory> = nocturne_core::proposal::plan_ops(&ops, &cur, "2026-02-01T00:00:00Z", &first.id)
            .expect("plan")
            .into_iter()
            .filter_map(|c| c.after)
            .collect();
        let again = dream(&ss, memories);
        assert!(ours(&again).is_empty(), "{:#?}", again.ops);
    }
}
