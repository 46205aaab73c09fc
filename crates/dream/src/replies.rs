//! What an agent *said* around a call whose tool the format did not name
//! (τ-bench's flattened display text, where a call shows only as
//! `assistant: None`; any transcript that lost its tool names). There is
//! no call to compare with the retry, so the agent's own requests stand in:
//!
//! - **before the call**: the request for information the customer (or
//!   user) answered right before it — "Could you please provide your email
//!   address?" — says what the call was made with: *the email address*.
//!   Failures of unnamed calls are grouped by it (with their error), so
//!   "user not found" after asking for an e-mail and after asking for a
//!   name and ZIP are two mistakes, as two tool names would make them;
//! - **after the failure**: the first request of the agent's next message,
//!   before anything else happens — "Could you please provide your first
//!   name, last name, and zip code so I can try…" — is what it did to
//!   recover: *ask the customer to provide the first name, last name, and
//!   zip code*.
//!
//! A request is a sentence with a polite lead (`could you`, `can you`,
//! `would you please`, `please`, `kindly`) followed by one of a few verbs
//! of asking (provide, share, give, tell, send, confirm, double-check,
//! verify, check, try, choose, select, let me know). Its clause runs from
//! the verb to the first purpose or follow-up marker ("so I can", "to
//! locate", "and I'll", "?"); "your" reads "the"; values (numbers, ids,
//! e-mails, see [`crate::text::placeholder`]) become placeholders; a clause
//! of more than [`MAX_WORDS`] words is no stable request. Offers ("would
//! you like to …") are choices of one case, not requests.

use crate::text;

/// Longest request clause kept, in words.
pub const MAX_WORDS: usize = 16;

/// One request of an agent's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'t> {
    /// The sentence as it stands in the message (quotable).
    pub sentence: &'t str,
    /// The clause from the verb on, for memory text: "provide the first
    /// name, last name, and zip code".
    pub clause: String,
    /// For a request for information (provide, share, give, tell, send):
    /// what it asks for, "the email address".
    pub object: Option<String>,
    /// Grouping key: the clause's content words, lowercased.
    pub key: String,
}

const LEADS: &[&str] = &[
    "could you please ",
    "could you kindly ",
    "could you ",
    "can you please ",
    "can you ",
    "would you please ",
    "would you kindly ",
    "please ",
    "kindly ",
];

/// Verbs of asking, longest first; those that ask for information say so.
const VERBS: &[(&str, bool)] = &[
    ("let me know", false),
    ("double-check", false),
    ("double check", false),
    ("provide", true),
    ("share", true),
    ("give me", true),
    ("give", true),
    ("tell me", true),
    ("tell", true),
    ("send me", true),
    ("send", true),
    ("confirm", false),
    ("verify", false),
    ("check", false),
    ("try", false),
    ("choose", false),
    ("select", false),
];

/// Where a request clause ends (lowercase).
const ENDS: &[&str] = &[
    "?",
    ". ",
    "!",
    ";",
    " so i ",
    " so that ",
    " so we ",
    ", so ",
    " in order ",
    " and i'll ",
    " and i will ",
    ", and i ",
    " that way",
    " if you ",
    ", if ",
    " to help",
    " to locate",
    " to find",
    " to verify",
    " to assist",
    " to proceed",
    " to look",
    " to confirm",
    " for the ",
    " for authentication",
    " for verification",
    " for further",
];

/// Verbs that start an alternative action after " or ".
const ALTERNATIVES: &[&str] = &[
    "try ",
    "consider ",
    "contact",
    "reach",
    "use ",
    "call ",
    "provide ",
    "give ",
    "share ",
    "send ",
    "let ",
    "check ",
    "verify ",
    "confirm ",
    "choose ",
    "select ",
    "ask ",
];

/// Trailing words that only say "once more".
const TAILS: &[&str] = &[" instead", " again", " once more", " as well", " please", " for me"];

/// Pronouns an information request may ask for: nothing to name.
const PRONOUNS: &[&str] = &["it", "them", "this", "that", "these", "those", "one"];

/// The sentences of a message, trimmed, in order (lines, then `. `, `? `,
/// `! ` boundaries).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let boundary = matches!(b, b'.' | b'?' | b'!') && bytes.get(i + 1).is_none_or(|n| *n == b' ');
            if boundary {
                if let Some(s) = line.get(start..=i) {
                    push_sentence(&mut out, s);
                }
                start = i + 1;
            }
        }
        if let Some(s) = line.get(start..) {
            push_sentence(&mut out, s);
        }
    }
    out
}

fn push_sentence<'t>(out: &mut Vec<&'t str>, s: &'t str) {
    let s = s.trim().trim_start_matches(['-', '*', ' ']).trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// A word of a clause with its value, if any, as a placeholder; "your" as "the".
fn general_word(w: &str) -> String {
    let core = w.trim_matches(|c: char| matches!(c, ',' | '.' | ';' | ':' | '!' | '?' | '(' | ')' | '"' | '\'' | '*'));
    let lower = core.to_ascii_lowercase();
    if lower == "your" {
        return w.replacen(core, if core.starts_with('Y') { "The" } else { "the" }, 1);
    }
    match text::placeholder(core) {
        Some(p) if !core.is_empty() => w.replacen(core, p, 1),
        _ => w.replace("**", ""),
    }
}

/// The request a sentence makes, if it makes one (see the module docs).
pub fn request_of(sentence: &str) -> Option<Request<'_>> {
    // ASCII lowercase keeps byte offsets.
    let lower = sentence.to_ascii_lowercase();
    let (at, lead) = LEADS
        .iter()
        .filter_map(|l| {
            let p = lower.find(l)?;
            // At the sentence's start or after a word boundary.
            let ok = p == 0 || lower.get(..p).is_some_and(|b| b.ends_with(' ') || b.ends_with(','));
            ok.then_some((p, l.len()))
        })
        .min_by_key(|(p, len)| (*p, std::cmp::Reverse(*len)))?;
    let rest_start = at + lead;
    let rest_lower = lower.get(rest_start..)?;
    let (verb, info) = VERBS.iter().find(|(v, _)| {
        rest_lower.starts_with(v) && rest_lower.get(v.len()..).is_some_and(|r| r.is_empty() || r.starts_with(' '))
    })?;
    let end = ENDS.iter().filter_map(|e| rest_lower.find(e)).min().unwrap_or(rest_lower.len());
    let mut clause = sentence.get(rest_start..rest_start + end)?.trim().trim_end_matches([',', '.', ':']).to_string();
    loop {
        let l = clause.to_ascii_lowercase();
        match TAILS.iter().find(|t| l.ends_with(*t)) {
            Some(t) => clause.truncate(clause.len() - t.len()),
            None => break,
        }
    }
    let words: Vec<String> = clause.split_whitespace().map(general_word).collect();
    if words.len() > MAX_WORDS || words.is_empty() {
        return None;
    }
    let clause = words.join(" ");
    let verb_words = verb.split(' ').count();
    let object = if *info {
        let obj: Vec<&str> = clause.split(' ').skip(verb_words).collect();
        let first = obj.first().map(|w| w.to_ascii_lowercase());
        match first {
            Some(f) if !PRONOUNS.contains(&f.as_str()) => Some(obj.join(" ")),
            _ => None,
        }
    } else {
        None
    };
    // "double-check the details or try using a different email address":
    // the first of alternative actions is the request (its key).
    let lower_clause = clause.to_ascii_lowercase();
    let first_alt = lower_clause
        .match_indices(" or ")
        .map(|(p, _)| p)
        .find(|p| lower_clause.get(p + 4..).is_some_and(|r| ALTERNATIVES.iter().any(|v| r.starts_with(v))));
    let key = key_of(first_alt.and_then(|p| clause.get(..p)).unwrap_or(&clause));
    (!key.is_empty()).then_some(Request { sentence, clause, object, key })
}

/// The content words of a clause, lowercased: a grouping key.
pub fn key_of(clause: &str) -> String {
    clause
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '<' || c == '>' || c == '-'))
        .filter(|w| !w.is_empty() && !text::is_stop(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shapes of the values a message gives (tokens with at least four
/// digits: ids, order numbers, codes; see [`crate::text::value_shape`]):
/// `9502127` → `<n>`, `W9502127` → `W<n>`; with each value as it stands.
pub fn given_values(message: &str) -> Vec<(String, &str)> {
    message
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '#'))
        .filter(|w| w.chars().filter(char::is_ascii_digit).count() >= 4 && !w.contains('@'))
        .map(|w| (text::value_shape(&serde_json::Value::String(w.to_string())), w))
        .collect()
}

/// How a working value's shape differs from a failing one's, for memory
/// text: "the value given was `<n>`; it works with the prefix `W`: `W<n>`"
/// when the working shape is the failing one with a prefix, else "it works
/// as `<b>`".
pub fn shape_fix(failing: &str, working: &str) -> String {
    match working.strip_suffix(failing).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("the value given was `{failing}`; it works with the prefix `{prefix}`: `{working}`"),
        None => format!("the value given was `{failing}`; it works as `{working}`"),
    }
}

/// Leads of an agent's statement about an error, dropped from its reading.
const READING_LEADS: &[&str] =
    &["it seems that ", "it seems ", "it looks like ", "it appears that ", "it appears ", "unfortunately, ", "sorry, "];

/// An agent's reading of an error: the first sentence of its next message
/// that restates the error line — at least half of the error's content
/// words — in at most 25 words, without its lead ("It seems that"), for
/// memory text ("your" as "the", values as placeholders); with the
/// content words it adds to the error's (what it is about: `refund`) and
/// the sentence as it stands (quotable).
pub fn reading<'t>(message: &'t str, error_key: &str) -> Option<(String, Vec<String>, &'t str)> {
    let err: Vec<String> = key_of(error_key)
        .split(' ')
        .filter(|w| !w.starts_with('<') && !["error", "failed", "exception"].contains(w))
        .map(str::to_string)
        .collect();
    if err.len() < 2 {
        return None;
    }
    sentences(message).into_iter().find_map(|sentence| {
        let lower = sentence.to_ascii_lowercase();
        let lead = READING_LEADS.iter().find(|l| lower.starts_with(*l)).map_or(0, |l| l.len());
        let body = sentence.get(lead..)?.trim_end_matches(['.', '!']);
        let words: Vec<String> = key_of(body).split(' ').map(str::to_string).collect();
        let shared = err.iter().filter(|w| words.contains(w)).count();
        if shared * 2 < err.len() || sentence.split_whitespace().count() > 25 || request_of(sentence).is_some() {
            return None;
        }
        let display = body.split_whitespace().map(general_word).collect::<Vec<_>>().join(" ");
        let mut added: Vec<String> = words.into_iter().filter(|w| !err.contains(w) && !w.starts_with('<')).collect();
        added.sort();
        added.dedup();
        Some((display, added, sentence))
    })
}

/// The first request of a message.
pub fn first_request(message: &str) -> Option<Request<'_>> {
    sentences(message).into_iter().find_map(request_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_for_information_names_what_it_asks_for() {
        let r = first_request("I can help you with that. Could you please provide your email address?").unwrap();
        assert_eq!(r.sentence, "Could you please provide your email address?");
        assert_eq!(r.clause, "provide the email address");
        assert_eq!(r.object.as_deref(), Some("the email address"));
        let r =
            first_request("To get started, could you please provide your email address for authentication?").unwrap();
        assert_eq!(r.object.as_deref(), Some("the email address"));
        let r = first_request(
            "It seems I couldn't find a user with that email address. Could you please provide your first name, \
             last name, and zip code so I can try to locate your user ID that way?",
        )
        .unwrap();
        assert_eq!(r.clause, "provide the first name, last name, and zip code");
        assert_eq!(r.key, "provide first name last name zip code");
        // The same request worded with another purpose is the same key.
        let r2 = first_request("Could you please provide your first name, last name, and zip code instead?").unwrap();
        assert_eq!(r2.key, r.key);
    }

    #[test]
    fn other_requests_keep_their_clause_and_values_become_placeholders() {
        let r = first_request(
            "I'm sorry, but I couldn't find a user with the provided information. Please double-check the details \
             or try using a different email address. If you continue to experience issues, I can transfer you.",
        )
        .unwrap();
        assert_eq!(r.clause, "double-check the details or try using a different email address");
        assert_eq!(r.object, None);
        let r = first_request("Could you please double-check the order ID and provide it again?").unwrap();
        assert_eq!(r.clause, "double-check the order ID and provide it");
        let r = first_request("Please confirm the order #W9502127 is the one.").unwrap();
        assert!(r.clause.contains("<id>") || r.clause.contains("<n>"), "{}", r.clause);
        // A pronoun names nothing to ask for.
        assert_eq!(first_request("Could you please provide it again?").and_then(|r| r.object), None);
    }

    #[test]
    fn offers_statements_and_long_clauses_are_not_requests() {
        assert_eq!(first_request("Would you like to proceed with returning the tablet instead?"), None);
        assert_eq!(first_request("It seems that the refund must go to the original payment method."), None);
        assert_eq!(first_request("I will provide the details shortly."), None);
        let long = "Please provide the full list of every item in every order you placed last year together with \
                    each of their prices and the dates.";
        assert_eq!(first_request(long), None);
    }

    #[test]
    fn the_first_of_alternative_actions_is_the_key() {
        let a = first_request("Please double-check the details or try using a different email address.").unwrap();
        let b = first_request("Please double-check the details or consider contacting our support team.").unwrap();
        assert_eq!(a.key, "double-check details");
        assert_eq!(a.key, b.key);
        assert_eq!(a.clause, "double-check the details or try using a different email address");
        // An object with "or" stays whole.
        let c = first_request("Could you please provide your email address or your name and zip code?").unwrap();
        assert_eq!(c.object.as_deref(), Some("the email address or the name and zip code"));
    }

    #[test]
    fn given_values_have_shapes_and_a_prefix_is_named() {
        let v = given_values("Ah, I forgot the 'W' at the beginning, it's W9502127.");
        assert_eq!(v, vec![("W<n>".to_string(), "W9502127")]);
        assert_eq!(given_values("The order ID is 9502127."), vec![("<n>".to_string(), "9502127")]);
        assert!(given_values("My email is a.b2723@example.com, zip 123.").is_empty());
        assert_eq!(shape_fix("<n>", "W<n>"), "the value given was `<n>`; it works with the prefix `W`: `W<n>`");
        assert_eq!(shape_fix("<n>", "<id>"), "the value given was `<n>`; it works as `<id>`");
    }

    #[test]
    fn a_restatement_of_the_error_is_the_agents_reading() {
        let err = "error: payment method should be either the original payment method or a gift card";
        let (d, added, q) = reading(
            "It seems that the refund must go to the original payment method or an existing gift card. Therefore, \
             I can only process the returns as follows:",
            err,
        )
        .unwrap();
        assert_eq!(d, "the refund must go to the original payment method or an existing gift card");
        assert!(added.contains(&"refund".to_string()), "{added:?}");
        // The lead says nothing about the error.
        assert!(!added.contains(&"seems".to_string()), "{added:?}");
        assert!(q.starts_with("It seems that the refund"));
        // A sentence about something else, or a request, is no reading.
        assert_eq!(reading("Let me check your order. Could you confirm the payment method?", err), None);
    }

    #[test]
    fn sentences_split_on_end_marks() {
        assert_eq!(sentences("A b. C d? E!\n- F g"), vec!["A b.", "C d?", "E!", "F g"]);
        assert_eq!(sentences("Version 1.2 is out."), vec!["Version 1.2 is out."]);
    }
}
