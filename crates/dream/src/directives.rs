//! Operator directives: the sentences of a session that state a rule for
//! the agent, said by the person who runs it.
//!
//! **Who speaks.** Only an *operator* (the person directing the agent, e.g.
//! the user of a coding agent) states preferences. A session's user turns
//! are an operator's when the ingest marked the session
//! [`Counterpart::Operator`] or said nothing (`None`, the documented
//! default), and the session is not a sub-agent (no `parent`, no
//! `subagent`: a sub-agent's user turns are its parent agent's task prompt).
//! A [`Counterpart::Customer`] (the person a service agent serves, real or
//! simulated) and a [`Counterpart::Agent`] never state preferences, at any
//! scope.
//!
//! **Which text.** Of an operator's session: user messages with role
//! `user` (harness text the ingest marked `system` is not read), outside
//! sidechains; and two kinds of operator words inside tool results —
//! the reason given when rejecting a tool use (Claude Code writes `The user
//! provided the following reason for the rejection: …` into the result),
//! and a typed interrupt: an error result whose whole text is one line of a
//! person's prose (first- or second-person words, no tool-error shape).
//!
//! **Which sentences.** Sentences of 3..40 words, not questions, not code,
//! containing a directive marker (always, never, prefer, don't, do not,
//! please use, make sure, avoid, must, should always/never/use, "we use",
//! "in this repo"...; a bare "should" is a request about the task at hand,
//! "from_coder should also copy the files", not a rule; negations
//! count only as imperatives — "I don't have the order id" is a statement,
//! "don't push to main" a rule; "instead of" and "rather than" only in an
//! imperative sentence) or an imperative with a contrast ("use X, not Y").
//! A sentence pointing at the conversation ("those tests", "the code
//! above") is about the task at hand and never a rule. A rejection reason counts when it is a directive or starts with
//! an imperative verb ("use pnpm").
//!
//! **As a rule.** The kept text is normalized into a rule sentence
//! ([`rule_sentence`]): list markers, markdown emphasis and formatting
//! leftovers are stripped, whitespace collapsed, the first letter
//! capitalized, a final period added; a sentence longer than 200
//! characters, or carrying a session-specific value (a home path, an
//! e-mail, a URL, a UUID, a long hex or digit run, an id like `#W123…`), is
//! dropped. The evidence quotes the sentence verbatim as it is in the event.

use crate::text;
use crate::SessionData;
use nocturne_core::failure::looks_like_failure;
use nocturne_core::{Counterpart, EventKind, Role, Session};

/// A sentence stating a rule.
#[derive(Debug, Clone)]
pub struct Directive {
    pub seq: u32,
    /// The rule sentence (normalized, see [`rule_sentence`]).
    pub text: String,
    /// The sentence verbatim as it is in the event (the evidence quote).
    pub quote: String,
    pub tokens: Vec<String>,
}

/// Phrases that make a sentence a rule (matched on lowercase words).
const MARKERS: &[&str] = &[
    "always",
    "never",
    "prefer",
    "please use",
    "please don't",
    "please do not",
    "please avoid",
    "please make",
    "make sure",
    "avoid",
    "we use",
    "we do",
    "we don't",
    "we never",
    "we always",
    "we prefer",
    "we only",
    "in this repo",
    "in this project",
    "in this codebase",
    "here we",
    "stop using",
    "must",
    "should always",
    "should never",
    "should use",
    "no more",
    "remember to",
    "from now on",
    "going forward",
    "only use",
    "use only",
    "not allowed",
    "is forbidden",
    "keep using",
    "stick to",
    "stick with",
    "i'd rather",
    "let's use",
    "let's always",
    "no longer use",
    "by convention",
    "our convention",
    "the convention",
    "house style",
    "is required",
    "are required",
];

/// Contrasts that make a rule only in an imperative sentence ("mock the
/// repo instead of the function", not "same problem if the app tried to
/// provide an api rather than run").
const CONTRASTS: &[&str] = &["instead of", "rather than"];

/// Words that point at the conversation at hand ("don't use --no-git in
/// those tests"): a sentence with one is about this task, not a rule.
const DEICTIC: &[&str] = &["those", "these", "above", "below", "this one", "that one"];

/// Negations that are rules only as imperatives ("don't push", "you don't
/// need to", not "I don't have").
const NEGATIONS: &[&str] = &["don't", "dont", "do not"];

/// Words before a negation that keep it imperative.
const IMPERATIVE_LEAD: &[&str] = &["please", "you", "and", "but", "so", "just", "also", "then", "we"];

/// First words of a rejection reason that make it an instruction.
const IMPERATIVE_VERBS: &[&str] = &[
    "use", "keep", "prefer", "avoid", "always", "never", "don't", "dont", "do", "stop", "run", "put", "write", "name",
    "call", "make", "let's", "lets", "please", "only", "no", "mock", "test", "add", "pass", "check", "store", "return",
    "commit", "install", "format", "lint", "import", "start",
];

/// Subjects that make a marker sentence a statement about the speaker or
/// something else rather than a rule for the agent ("I must have lost it",
/// "it should be delivered").
const STATEMENT_SUBJECTS: &[&str] = &["i", "i'm", "i've", "i'll", "it", "it's", "that", "this", "they", "he", "she"];

fn padded(lower: &str) -> String {
    format!(" {} ", lower.replace(['’', '`'], "'").replace([',', ':', ';', '—', '–'], " "))
}

/// True when a lowercase sentence states a rule (see the module docs).
pub fn is_directive(lower: &str) -> bool {
    let p = padded(lower);
    let words: Vec<&str> = p.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    if STATEMENT_SUBJECTS.contains(&first) && !p.contains(" prefer ") && !p.contains(" i'd rather ") {
        return false;
    }
    if DEICTIC.iter().any(|d| p.contains(&format!(" {d} "))) {
        return false;
    }
    if MARKERS.iter().any(|m| p.contains(&format!(" {m} "))) {
        return true;
    }
    let lead = if ["please", "just", "and", "so", "also"].contains(&first) {
        words.get(1).copied().unwrap_or("")
    } else {
        first
    };
    if IMPERATIVE_VERBS.contains(&lead) && CONTRASTS.iter().any(|c| p.contains(&format!(" {c} "))) {
        return true;
    }
    for (i, w) in words.iter().enumerate() {
        let neg = NEGATIONS.contains(w) || (*w == "do" && words.get(i + 1) == Some(&"not"));
        if !neg {
            continue;
        }
        let before = i.checked_sub(1).and_then(|j| words.get(j)).copied();
        if before.is_none_or(|b| IMPERATIVE_LEAD.contains(&b)) {
            return true;
        }
    }
    // "Use X, not Y" / "Use X over Y": an imperative with a contrast.
    ["use", "prefer", "pick", "choose", "write", "keep", "put", "name", "format", "run"].contains(&first)
        && [" not ", " instead", " rather ", " over ", " only ", " no "].iter().any(|c| p.contains(c))
}

/// Capitalized words that open a new sentence when someone typed it right
/// after a request without a full stop ("clean up the handlers a bit
/// Please use slog").
const STARTERS: &[&str] = &[
    "please", "always", "never", "don't", "do", "we", "make", "avoid", "use", "stick", "from", "remember", "keep",
    "stop", "prefer", "let's", "only", "reminder", "also",
];

/// Sentences of a text, each trimmed: split at `.`, `!`, `?` before
/// whitespace, at line breaks, and before a capitalized directive word
/// ([`STARTERS`]) that follows a lowercase word.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cur = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if c.is_uppercase() && i > 0 && chars.get(i - 1).is_some_and(|p| *p == ' ') {
                let word: String =
                    chars.iter().skip(i).take_while(|x| x.is_alphanumeric() || **x == '\'' || **x == '’').collect();
                let prev = cur.split_whitespace().last().unwrap_or("");
                let prev_lower = prev.chars().all(|x| x.is_lowercase() || x.is_ascii_digit()) && prev != "i";
                let lower = word.to_lowercase().replace('’', "'");
                if prev_lower && cur.split_whitespace().count() >= 2 && STARTERS.contains(&lower.as_str()) {
                    out.push(std::mem::take(&mut cur));
                }
            }
            cur.push(*c);
            let next = chars.get(i + 1);
            if matches!(c, '.' | '!' | '?') && next.is_none_or(|n| n.is_whitespace()) {
                out.push(std::mem::take(&mut cur));
            }
        }
        out.push(cur);
    }
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// True when the session's user turns are an operator's (see the module docs).
pub fn operator_speaks(s: &Session) -> bool {
    let counterpart_ok = matches!(s.counterpart, None | Some(Counterpart::Operator));
    counterpart_ok && s.parent.is_none() && s.subagent.is_none()
}

const REJECTION: &str = "the user provided the following reason for the rejection:";

/// The operator's words inside a tool result, if any: a rejection reason,
/// or a typed interrupt (see the module docs). Returns the text as it is
/// in the result.
pub fn operator_words_in_result(text: &str, is_error: bool) -> Option<&str> {
    let lower = text.to_lowercase();
    if let Some(pos) = lower.find(REJECTION) {
        let rest = text.get(pos + REJECTION.len()..)?.trim();
        return (!rest.is_empty()).then_some(rest);
    }
    let t = text.trim();
    if !is_error || t.is_empty() || t.contains('\n') || t.len() > 400 || looks_like_failure(t) {
        return None;
    }
    if !t.chars().next().is_some_and(char::is_alphabetic) || t.contains(['<', '{', '[']) {
        return None;
    }
    let words = text::raw_words(t);
    // Harness text speaks of "the user" (Claude Code's rejection notice).
    if lower.contains("the user") || lower.contains("user's") {
        return None;
    }
    let personal =
        words.iter().any(|w| matches!(w.as_str(), "i" | "we" | "let" | "please" | "you" | "us" | "our" | "my"));
    let tool_shape = ["error", "failed", "denied", "exit", "status", "not found", "timeout", "requires", "permission"]
        .iter()
        .any(|k| lower.contains(k));
    (personal && !tool_shape && words.len() >= 3).then_some(t)
}

/// A value that belongs to one session (see the module docs).
fn session_specific(s: &str) -> bool {
    let lower = s.to_lowercase();
    if ["/users/", "/home/", "c:\\", "http://", "https://", "www.", "toolu_", "call_"].iter().any(|k| lower.contains(k))
    {
        return true;
    }
    for w in s.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '`' | '"' | '\'')) {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        if w.contains('@') && w.contains('.') {
            return true;
        }
        let digits = w.chars().filter(char::is_ascii_digit).count();
        let hex = w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && digits >= 4;
        if hex || digits >= 5 {
            return true;
        }
    }
    // Ids like `#W1234567`.
    s.split('#')
        .skip(1)
        .any(|rest| rest.chars().take_while(char::is_ascii_alphanumeric).filter(char::is_ascii_digit).count() >= 3)
}

/// A sentence as a rule (see the module docs); `None` when it cannot be one.
pub fn rule_sentence(raw: &str) -> Option<String> {
    let mut s = raw.trim();
    // List markers: "- ", "* ", "• ", "1. ", "2) ", "a) ".
    loop {
        let before = s;
        for m in ["- ", "* ", "+ ", "• ", "> "] {
            if let Some(r) = s.strip_prefix(m) {
                s = r.trim_start();
            }
        }
        let digits = s.chars().take_while(|c| c.is_ascii_alphanumeric()).count();
        if (1..=2).contains(&digits) {
            if let Some(r) = s.get(digits..).and_then(|r| r.strip_prefix(". ").or_else(|| r.strip_prefix(") "))) {
                s = r.trim_start();
            }
        }
        if s == before {
            break;
        }
    }
    let s = s.trim_start_matches('#').trim();
    // Markdown emphasis and leftovers.
    let mut t = s.replace("**", "").replace("__", "");
    t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    while t.ends_with(['*', '_', ':', ',', ';', ' ', '-']) {
        t.pop();
    }
    // Secrets are redacted (the planner does it again); the placeholder is
    // not a session value.
    let t = nocturne_core::secrets::redact(t.trim().trim_end_matches(".."));
    if t.chars().count() > 200 || t.split_whitespace().count() < 3 || session_specific(&t) {
        return None;
    }
    let mut out: String = match t.chars().next() {
        Some(first) => first.to_uppercase().chain(t.chars().skip(1)).collect(),
        None => return None,
    };
    if !out.ends_with(['.', '!']) {
        out.push('.');
    }
    Some(out)
}

/// A sentence without list markers and emphasis (`- **Never** push` → `Never push`).
fn plain(sentence: &str) -> String {
    let s = sentence.replace("**", "").replace("__", "");
    let s = s.trim_start_matches(['-', '*', '+', '•', '>', ' ']);
    s.to_string()
}

fn candidate(seq: u32, sentence: &str, rejection: bool) -> Option<Directive> {
    let clean = plain(sentence);
    let n = clean.split_whitespace().count();
    let codeish = clean.starts_with(['$', '|', '{', '['])
        || clean.contains(['{', '}'])
        || clean.contains("=>")
        || clean.contains("```");
    if !(2..=40).contains(&n) || clean.contains('?') || codeish {
        return None;
    }
    let lower = clean.to_lowercase();
    let first = text::raw_words(&lower).into_iter().next().unwrap_or_default();
    let imperative = rejection && IMPERATIVE_VERBS.contains(&first.as_str());
    if !imperative && (n < 3 || !is_directive(&lower)) {
        return None;
    }
    let tokens = text::content_tokens(&clean);
    if tokens.is_empty() {
        return None;
    }
    let text = if n < 3 {
        // "use pnpm": a short instruction, kept as said.
        let mut t: String = clean.trim().to_string();
        if let Some(c) = t.chars().next() {
            t = c.to_uppercase().chain(t.chars().skip(1)).collect();
        }
        if !t.ends_with(['.', '!']) {
            t.push('.');
        }
        t
    } else {
        rule_sentence(sentence)?
    };
    Some(Directive { seq, text, quote: sentence.to_string(), tokens })
}

/// The directives of one session (empty when no operator speaks in it).
pub fn of(sd: &SessionData) -> Vec<Directive> {
    if !operator_speaks(&sd.session) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in &sd.events {
        let b = &e.body;
        if b.sidechain {
            continue;
        }
        let Some(t) = b.text.as_deref() else { continue };
        match b.kind {
            EventKind::UserMessage if b.role == Role::User => {
                out.extend(sentences(t).iter().filter_map(|s| candidate(e.seq, s, false)));
            }
            EventKind::ToolResult => {
                let Some(words) = operator_words_in_result(t, b.is_error) else { continue };
                out.extend(sentences(words).iter().filter_map(|s| candidate(e.seq, s, true)));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_sentences_are_recognized() {
        assert!(is_directive("always use pnpm here"));
        assert!(is_directive("in this repo we use tabs"));
        assert!(is_directive("please don't touch the generated files"));
        assert!(is_directive("don't push to main without review"));
        assert!(!is_directive("can you fix the login bug"));
        assert!(is_directive("use ruff not flake8 for linting"));
        assert!(!is_directive("use the new helper for this endpoint"));
        assert_eq!(sentences("Use pnpm. Never npm! ok?"), vec!["Use pnpm.", "Never npm!", "ok?"]);
        assert_eq!(
            sentences("clean up the handlers a bit Please use slog, not log"),
            vec!["clean up the handlers a bit", "Please use slog, not log"]
        );
        assert_eq!(sentences("ask Bob about it"), vec!["ask Bob about it"]);
    }

    #[test]
    fn statements_about_the_speaker_are_not_rules() {
        assert!(!is_directive("i don't have the order id handy"));
        assert!(!is_directive("i don't remember my account email"));
        assert!(!is_directive("it should be delivered by friday"));
        assert!(is_directive("i prefer tabs over spaces"));
        assert!(!is_directive("same problem if the app tried to provide an api rather than just run"));
        assert!(is_directive("mock repo.get_commit_message instead of the send function"));
        assert!(!is_directive("don't use --no-git in those tests"));
    }

    #[test]
    fn rule_sentences_drop_formatting_and_session_values() {
        assert_eq!(
            rule_sentence("- Do **NOT** merge the branch yourself.**").as_deref(),
            Some("Do NOT merge the branch yourself.")
        );
        assert_eq!(rule_sentence("2. always run the linter first").as_deref(), Some("Always run the linter first."));
        assert_eq!(rule_sentence("Never edit /Users/dain/work/notes.md by hand"), None);
        assert_eq!(rule_sentence("Always email ana@example.com first"), None);
        assert_eq!(rule_sentence("Never cancel order #W2378156 again"), None);
        assert_eq!(rule_sentence(&"never do this ".repeat(30)), None);
    }

    #[test]
    fn operator_words_in_tool_results() {
        let r = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file \
                 edit, the new_string was NOT written to the file). The user provided the following reason for the \
                 rejection:  use pnpm";
        assert_eq!(operator_words_in_result(r, true), Some("use pnpm"));
        assert_eq!(
            operator_words_in_result("please add transformer.js too first", true),
            Some("please add transformer.js too first")
        );
        assert_eq!(operator_words_in_result("Request failed with status code 403", true), None);
        let notice = "The user doesn't want to take this action right now. STOP what you are doing and wait for the \
                      user to tell you how to proceed.";
        assert_eq!(operator_words_in_result(notice, true), None);
        assert_eq!(operator_words_in_result("Exit code 127\n/bin/bash: pytest: command not found", true), None);
        assert_eq!(operator_words_in_result("please add transformer.js too first", false), None);
    }
}
