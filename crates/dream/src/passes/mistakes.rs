//! Recurring mistakes, from every tool's failures.
//!
//! **Grouping.** Every failure (see [`crate::actions`] for what is one and
//! [`crate::recovery`] for its recovery) is keyed by its *error
//! signature*: the operation ([`crate::recovery::group_op`]: the command
//! key, the file-tool kind, the API or MCP tool name) and the error line
//! with its variable parts as placeholders ([`crate::text::error_signature`]).
//! A group is a candidate when its failures come from at least two
//! independent sessions (support *units*, see [`crate::context`]), or when
//! one session made the mistake and recovered from it at least
//! [`crate::REPEATS_AS_RECURRING`] times (distinct recovering calls, an informative
//! error; it then counts as support 2, see [`crate::Finding::support`]) — or
//! made it that many times by distinct calls unnoticed: an error in its own
//! inline code that no flag reported (see [`crate::silent`]); the
//! planner then asks for `min_support` of them (by default 2, see
//! [`crate::Category::default_support`]; a finding's `sessions` holds one
//! session per unit, so its support counts units; the evidence cites every
//! session).
//!
//! **Uninformative errors** (an exit status only, or fewer than two content
//! words) are only a lesson when a recovery with another command or other
//! flags recurs: "`yarn test` fails; use `yarn run test:ci` instead".
//!
//! **Recovery.** The recoveries of the group's failures are grouped by
//! their key (relation and what it names); the one seen in the most
//! independent sessions wins, if it is seen in at least two or in at least
//! half of them; otherwise the lesson states the failure and its condition
//! only.
//!
//! **Wording** (≤ 200 characters, one sentence; values of one session as
//! placeholders, see [`crate::text::error_signature`]):
//! - instead: "`python` fails with 'python: command not found': use `python3 manage.py migrate` instead."
//! - before: "`Edit` fails with 'File has not been read yet…': Read the file with `Read` before `Edit`."
//!   (a command: "run `mix format` before `git commit`"; a service tool: "call `get_product_details` before …")
//! - with: "`git push` fails with 'fatal: The current branch <branch> has no upstream branch.': run it with `--set-upstream origin <branch>`: `git push --set-upstream origin <branch>`."
//!   (an edit block of the agent's reply: "`aider` fails with 'F821 undefined name <str>': add the missing `import` in the same edit.";
//!   tool arguments: "pass `limit`, `offset`" when the retry added them;
//!   "use a different `url` instead" when it changed them, or, when the
//!   user was asked in between, "confirm `zip` with the customer and retry")
//! - none: "`get_order_details` fails with 'Error: Order not found' when `order_id` is `<n>` (it works as `#W<n>`)."
//! - an invalid escape sequence in inline code: what the code tells, whatever came after
//!   ([`crate::silent::escape_lesson`]): "In Bash, `python -c \"…\"` with `!` inside double quotes
//!   gets `\!` (SyntaxWarning: invalid escape sequence '\!'): avoid `!` in inline scripts, or use a heredoc or a file."
//!
//! The condition ("when …") compares the argument shapes of the failing
//! calls with those of the same tool's successful calls in the batch: an
//! argument whose failing shape never occurs in a success is named.
//! The error shown keeps quoted words (`Missing script: "test"`) when the
//! same words recur in two independent sessions and in most of the
//! group's, else placeholders.
//!
//! **Evidence**: per session, the failed result with its error line
//! (verbatim); for up to five sessions showing the chosen recovery, also
//! the failed call and the call that recovered. Each evidence cites the
//! one event its quote comes from.
//!
//! **Key terms** (how a re-dream finds the memory): the operation and what
//! the recovery names; for file, API and MCP tools (generic names) also the
//! error's longest placeholder-free run.

use super::most_common;
use crate::actions::{Action, Family};
use crate::context::{Context, FailureInstance, Relation};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Counterpart, Evidence, MemoryKind, OpKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Mistakes;

impl Pass for Mistakes {
    fn name(&self) -> &'static str {
        "mistakes"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        let (findings, stats) = self.findings(ctx);
        Ok(PassOutput { findings, stats })
    }
}

/// Words of an error key that say nothing by themselves.
const GENERIC: &[&str] = &["error", "errors", "failed", "fail", "failure", "exit", "command", "with", "the", "and"];

/// At least two content words besides placeholders and generic words.
fn informative(key: &str) -> bool {
    key.split(|c: char| !c.is_alphanumeric() && c != '<' && c != '>')
        .filter(|w| w.len() >= 3 && !w.starts_with('<') && !GENERIC.contains(w))
        .count()
        >= 2
}

/// The longest run of `display` without a placeholder, lowercased.
fn error_core(display: &str) -> String {
    display
        .split(['<', '>'])
        .step_by(2)
        .map(|s| s.trim_matches(|c: char| !c.is_alphanumeric()))
        .max_by_key(|s| s.len())
        .unwrap_or("")
        .to_lowercase()
}

/// Shapes of a tool's successful calls: argument → shapes.
type Shapes = HashMap<String, BTreeSet<String>>;

/// " when `order_id` is `<n>` (it works as `#W<n>`)", when one argument of
/// every failing call has a shape no successful call of the tool has.
fn condition(fails: &[&Action], ok: Option<&Shapes>) -> String {
    let Some(ok) = ok else { return String::new() };
    let Some(first) = fails.first().and_then(|a| a.input.as_object()) else { return String::new() };
    let mut keys: Vec<&String> = first.keys().collect();
    keys.sort();
    for k in keys {
        if crate::recovery::ignored_arg(k) {
            continue;
        }
        let shapes: BTreeSet<String> =
            fails.iter().filter_map(|a| a.input.as_object()?.get(k.as_str())).map(crate::text::value_shape).collect();
        let Some(good) = ok.get(k.as_str()) else { continue };
        if shapes.len() == 1 && fails.len() >= 2 {
            if let Some(s) = shapes.iter().next() {
                if !good.contains(s) && good.len() <= 2 {
                    let works: Vec<String> = good.iter().map(|g| format!("`{g}`")).collect();
                    return format!(" when `{k}` is `{s}` (it works as {})", works.join(" or "));
                }
            }
        }
    }
    String::new()
}

/// An advice line seen in the group's failures.
struct HintSeen<'c> {
    units: BTreeSet<usize>,
    display: &'c str,
    /// The line as it stands in one result, and where: (session, result event).
    line: &'c str,
    at: (usize, Option<u32>),
}

struct Member<'c> {
    inst: &'c FailureInstance,
    action: &'c Action,
}

impl Mistakes {
    fn findings(&self, ctx: &Context) -> (Vec<Finding>, BTreeMap<String, serde_json::Value>) {
        let mut groups: BTreeMap<(String, String), Vec<Member<'_>>> = BTreeMap::new();
        for inst in &ctx.failures {
            let Some(a) = ctx.sessions.get(inst.session).and_then(|s| s.actions.get(inst.action)) else { continue };
            let key = a.errors.get(inst.error).map(|e| e.sig.key.clone()).unwrap_or_default();
            groups.entry((inst.op_key.clone(), key)).or_default().push(Member { inst, action: a });
        }
        // Successful calls of each non-shell tool, by argument shape.
        let mut ok_shapes: HashMap<&str, Shapes> = HashMap::new();
        for s in &ctx.sessions {
            for a in s.actions.iter().filter(|a| a.ok() && matches!(a.family, Family::Api | Family::Mcp | Family::Web))
            {
                let Some(m) = a.input.as_object() else { continue };
                let e = ok_shapes.entry(a.tool.as_str()).or_default();
                for (k, v) in m {
                    e.entry(k.clone()).or_default().insert(crate::text::value_shape(v));
                }
            }
        }
        let mut stats: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let all_actions = ctx.sessions.iter().flat_map(|s| s.actions.iter());
        let (mut rejected, mut transient) = (0usize, 0usize);
        for a in all_actions {
            rejected += usize::from(a.outcome == crate::actions::Outcome::Rejected);
            transient += usize::from(a.transient);
        }
        stats.insert("mistakes.failures".into(), ctx.failures.len().into());
        stats.insert("mistakes.rejected_calls".into(), rejected.into());
        stats.insert("mistakes.transient_failures".into(), transient.into());
        let unit = |si: usize| ctx.units.get(si).copied().unwrap_or(si);
        let mut out = Vec::new();
        let mut candidates = 0usize;
        for ((op_key, err_key), members) in &groups {
            let mut by_unit: BTreeMap<usize, usize> = BTreeMap::new();
            for m in members {
                by_unit.entry(unit(m.inst.session)).or_insert(m.inst.session);
            }
            // One session: recurring only when made and recovered from
            // there repeatedly — distinct recovering calls, so three tries
            // that one call finally fixes are one episode, not three — with
            // an error that says what failed.
            let repeats = if by_unit.len() < 2 {
                let recovered: BTreeSet<(usize, usize)> = members
                    .iter()
                    .filter_map(|m| m.inst.recovery.as_ref().map(|r| (m.inst.session, r.action)))
                    .collect();
                // Or made again and again unnoticed: an error in its own
                // inline code that no flag reported, by distinct calls (the
                // agent never saw a failure to recover from).
                let unnoticed: BTreeSet<(usize, usize)> = members
                    .iter()
                    .filter(|m| m.action.silent && m.action.inline.is_some())
                    .map(|m| (m.inst.session, m.inst.action))
                    .collect();
                let n = recovered.len().max(unnoticed.len());
                if n < crate::REPEATS_AS_RECURRING || !informative(err_key) {
                    continue;
                }
                n
            } else {
                0
            };
            candidates += 1;
            // Recoveries by the units that show them.
            let mut recs: BTreeMap<&str, (BTreeSet<usize>, Vec<&Member<'_>>)> = BTreeMap::new();
            for m in members {
                if let Some(r) = &m.inst.recovery {
                    let e = recs.entry(r.key.as_str()).or_default();
                    e.0.insert(unit(m.inst.session));
                    e.1.push(m);
                }
            }
            let best = recs
                .iter()
                .max_by(|a, b| a.1 .0.len().cmp(&b.1 .0.len()).then(b.0.cmp(a.0)))
                // What an agent said is noisier than a call: a stated
                // recovery must recur in two units.
                .filter(|(k, (u, _))| u.len() >= 2 || (u.len() * 2 >= by_unit.len() && !k.starts_with("reply ")))
                .map(|(k, (u, ms))| (*k, u.len(), ms.clone()));
            // An invalid escape in inline code: the lesson the code tells
            // (see [`crate::silent::escape_lesson`]), whatever came after.
            let derived = most_common(
                members
                    .iter()
                    .filter_map(|m| {
                        let e = m.action.errors.get(m.inst.error)?;
                        crate::silent::escape_lesson(&m.action.tool, m.action.inline.as_ref()?, &e.line)
                    })
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            );
            let best = if derived.is_some() { None } else { best };
            let informative_err = informative(err_key);
            let strong_fix = best
                .as_ref()
                .and_then(|(_, _, ms)| ms.first())
                .and_then(|m| m.inst.recovery.as_ref())
                .is_some_and(|r| r.relation != Relation::Before);
            if !informative_err && !strong_fix {
                continue;
            }
            let first_action = members.first().map(|m| m.action);
            let Some(fa) = first_action else { continue };
            let shell = fa.cmd.is_some();
            let source_diag = fa.inline.is_some() && crate::silent::is_source_diagnostic(err_key);
            let op_display = if source_diag {
                op_key.clone()
            } else if shell {
                // The command as the sessions ran it, when grouped by its name.
                most_common(members.iter().filter_map(|m| m.action.cmd.as_ref()).map(|c| c.key.as_str()))
                    .unwrap_or_else(|| op_key.clone())
            } else {
                most_common(members.iter().map(|m| m.action.tool.as_str())).unwrap_or_default()
            };
            // The error as shown: quoted words kept when they recur in two units.
            fn sig_of<'m>(m: &Member<'m>) -> Option<&'m crate::text::ErrorSig> {
                m.action.errors.get(m.inst.error).map(|e| &e.sig)
            }
            let mut words_units: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
            for m in members {
                if let Some(s) = sig_of(m) {
                    words_units.entry(s.display_words.as_str()).or_default().insert(unit(m.inst.session));
                }
            }
            let words = words_units.iter().max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)));
            // Kept only when they are the group's own words: seen in two
            // units and in most of them (a variable name two of
            // eleven lint runs share is one session's value).
            let err_display = match words {
                Some((w, u)) if u.len() >= 2 && u.len() * 2 > by_unit.len() => (*w).to_string(),
                _ => most_common(members.iter().filter_map(|m| sig_of(m).map(|s| s.display.as_str())))
                    .unwrap_or_default(),
            };
            let fails: Vec<&Action> = members.iter().map(|m| m.action).collect();
            let cond = if matches!(fa.family, Family::Api | Family::Mcp) {
                condition(&fails, ok_shapes.get(fa.tool.as_str()))
            } else {
                String::new()
            };
            let customers = by_unit
                .values()
                .filter(|si| {
                    ctx.sessions.get(**si).is_some_and(|s| s.data.session.counterpart == Some(Counterpart::Customer))
                })
                .count();
            let who = if customers * 2 > by_unit.len() { "customer" } else { "user" };
            let rec = best.as_ref().and_then(|(_, _, ms)| {
                let m = ms.first()?;
                let r = m.inst.recovery.as_ref()?;
                let ra = ctx.sessions.get(m.inst.session)?.actions.get(r.action)?;
                Some((r, ra))
            });
            // The error's own advice, when the same one recurs (no recovery seen).
            let mut hint_units: BTreeMap<(u8, &str), HintSeen<'_>> = BTreeMap::new();
            for m in members {
                for h in &m.action.hints {
                    let e = hint_units.entry((h.rank, h.sig.key.as_str())).or_insert_with(|| HintSeen {
                        units: BTreeSet::new(),
                        display: h.sig.display_words.as_str(),
                        line: h.line.as_str(),
                        at: (m.inst.session, m.action.result_seq),
                    });
                    e.units.insert(unit(m.inst.session));
                }
            }
            let hint = hint_units
                .iter()
                .filter(|(_, h)| h.units.len() >= 2 || h.units.len() * 2 >= by_unit.len())
                .max_by(|a, b| (a.0 .0, a.1.units.len()).cmp(&(b.0 .0, b.1.units.len())).then(b.0 .1.cmp(a.0 .1)))
                .map(|(_, h)| h);
            // A call whose tool the format did not name: what the agent had asked for.
            let unnamed = fa.tool == crate::recovery::UNNAMED && !shell;
            let asked_for = most_common(members.iter().filter_map(|m| m.inst.said.as_ref()?.asked_for.as_deref()));
            // The agent's reading of the error, when what it adds recurs in two units.
            let reading = reading_of(members, &unit);
            let mut err_shown = err_display.clone();
            let text = if let Some(d) = derived {
                d
            } else {
                loop {
                    let subject = match (&asked_for, unnamed) {
                        _ if unnamed && (err_shown.is_empty() || !informative_err) => "A call fails".to_string(),
                        _ if err_shown.is_empty() || !informative_err => format!("`{op_display}` fails"),
                        (Some(a), true) => format!("After asking for {a}, a call fails with '{err_shown}'"),
                        (None, true) => format!("A call fails with '{err_shown}'"),
                        _ => format!("`{op_display}` fails with '{err_shown}'{cond}"),
                    };
                    let fix_display = |r: &crate::recovery::Recovery| {
                        // The most common display among the winning recovery's instances.
                        let ds = best
                            .iter()
                            .flat_map(|(_, _, ms)| ms.iter())
                            .filter_map(|m| m.inst.recovery.as_ref())
                            .filter(|x| x.key == r.key)
                            .map(|x| x.display.as_str());
                        most_common(ds).unwrap_or_else(|| r.display.clone())
                    };
                    let t = match (rec, hint) {
                        (None, Some(h)) => {
                            format!("{subject}; the error suggests: '{}'", crate::text::shorten(h.display, 90))
                        }
                        (None, None) => match (&reading, expected_fix(&err_shown)) {
                            (Some((d, _, _)), _) => format!("{subject}; as the agent read it: '{d}'."),
                            (None, Some(fix)) if informative_err => format!("{subject}: {fix}."),
                            (None, _) => format!("{subject}."),
                        },
                        (Some((r, ra)), _) => {
                            let d = fix_display(r);
                            match r.relation {
                                Relation::Instead => format!("{subject}: use `{d}` instead."),
                                Relation::Before if ra.family == Family::FileRead => {
                                    format!("{subject}: Read the file with `{d}` before `{op_display}`.")
                                }
                                Relation::Before if ra.cmd.is_some() => {
                                    format!("{subject}: run `{d}` before `{op_display}`.")
                                }
                                Relation::Before => format!("{subject}: call `{d}` before `{op_display}`."),
                                Relation::With if r.shown_at.is_some() => format!("{subject}: {d}."),
                                Relation::With if ra.cmd.is_some() && r.flags.is_some() => {
                                    format!("{subject}: run it with `{}`: `{d}`.", r.flags.as_deref().unwrap_or(""))
                                }
                                Relation::With if ra.cmd.is_some() => format!("{subject}: run it as `{d}`."),
                                Relation::With if r.added => format!("{subject}: pass `{d}`."),
                                Relation::With if r.asked => {
                                    format!("{subject}: confirm `{d}` with the {who} and retry.")
                                }
                                Relation::With => format!("{subject}: use a different `{d}` instead."),
                            }
                        }
                    };
                    if t.chars().count() <= 200 || err_shown.chars().count() < 30 {
                        break t;
                    }
                    err_shown = crate::text::shorten(&err_shown, err_shown.chars().count().saturating_sub(20).max(30));
                }
            };
            // One or two sentences, never more than 200 characters.
            let text = if text.chars().count() > 200 { crate::text::shorten(&text, 199) } else { text };
            // Evidence: each session's failed result; the recovering call for up to five.
            let mut evidence: Vec<Evidence> = Vec::new();
            let mut done: BTreeSet<usize> = BTreeSet::new();
            for m in members {
                if !done.insert(m.inst.session) {
                    continue;
                }
                let (Some(s), Some(e)) = (ctx.sessions.get(m.inst.session), m.action.errors.get(m.inst.error)) else {
                    continue;
                };
                let Some(seq) = m.action.result_seq else { continue };
                evidence.push(Evidence {
                    session: s.id().to_string(),
                    events: vec![seq],
                    quote: crate::text::excerpt(&e.line, 300),
                });
            }
            // The advice quoted in the text, from one event that says it.
            if let (None, Some(h)) = (rec, hint) {
                if let (Some(s), (_, Some(seq))) = (ctx.sessions.get(h.at.0), h.at) {
                    evidence.push(Evidence {
                        session: s.id().to_string(),
                        events: vec![seq],
                        quote: crate::text::excerpt(h.line, 300),
                    });
                }
            }
            // The reading quoted in the text, from the message that says it.
            if let (None, None, Some((_, si, (seq, quote)))) = (rec, hint, &reading) {
                if let Some(s) = ctx.sessions.get(*si) {
                    evidence.push(Evidence {
                        session: s.id().to_string(),
                        events: vec![*seq],
                        quote: crate::text::excerpt(quote, 300),
                    });
                }
            }
            let mut shown_fix: BTreeSet<usize> = BTreeSet::new();
            if let Some((_, _, ms)) = &best {
                for m in ms {
                    if shown_fix.len() >= 5 || !shown_fix.insert(m.inst.session) {
                        continue;
                    }
                    let Some(s) = ctx.sessions.get(m.inst.session) else { continue };
                    let Some(r) = &m.inst.recovery else { continue };
                    let Some(ra) = s.actions.get(r.action) else { continue };
                    // The failed call beside its error, then what worked.
                    evidence.extend(m.action.call_evidence(s.id()));
                    evidence.extend(ra.call_evidence(s.id()));
                    // A fix written as an edit block: the line of the reply that shows it.
                    if let Some((seq, line)) = &r.shown_at {
                        evidence.push(Evidence {
                            session: s.id().to_string(),
                            events: vec![*seq],
                            quote: crate::text::excerpt(line, 200),
                        });
                    }
                }
            }
            let sessions: BTreeSet<usize> = by_unit.values().copied().collect();
            let all_sessions: BTreeSet<usize> = members.iter().map(|m| m.inst.session).collect();
            let (rec_units, relation) = match (&best, rec) {
                (Some((_, n, _)), Some((r, _))) => (*n, r.relation.as_str()),
                _ => (0, "none"),
            };
            let share = rec_units as f64 / by_unit.len() as f64;
            let confidence = ((0.45 + 0.07 * by_unit.len() as f64).min(0.9) * (0.75 + 0.25 * share)).clamp(0.0, 1.0);
            let rationale = format!(
                "`{op_key}` failed with the same error (`{}`) in {} sessions ({} independent){}",
                crate::text::truncate(err_key, 120),
                all_sessions.len(),
                by_unit.len(),
                match (&best, rec) {
                    (Some((k, n, _)), Some(_)) => format!("; recovery `{k}` ({relation}) in {n} of them"),
                    _ => "; no recurring recovery".to_string(),
                }
            );
            let unnoticed = members.iter().filter(|m| m.action.silent).count();
            let rationale = if repeats > 0 && unnoticed >= repeats {
                format!("{rationale}; made {repeats} times in that session, no flag reporting it")
            } else if repeats > 0 {
                format!("{rationale}; made and recovered from {repeats} times in that session")
            } else {
                rationale
            };
            let mut key_terms =
                vec![if unnamed { asked_for.clone().unwrap_or_default() } else { op_display.to_lowercase() }];
            match (&best, rec) {
                (Some(_), Some((r, ra))) => {
                    let term = match (&ra.cmd, r.relation) {
                        (Some(_), Relation::With) if r.key.starts_with("with -") => {
                            r.key.trim_start_matches("with ").split(' ').next().unwrap_or("").to_string()
                        }
                        (Some(c), _) => c.key.clone(),
                        (None, _) if r.key.starts_with("reply ") => asked_for.clone().unwrap_or_default(),
                        (None, _) if r.shown_at.is_some() => "import".to_string(),
                        (None, _) => fix_term(r),
                    };
                    key_terms.push(term.to_lowercase());
                }
                _ => key_terms.push(error_core(&err_display)),
            }
            if !shell {
                let core = error_core(&err_display);
                if !key_terms.contains(&core) {
                    key_terms.push(core);
                }
            }
            key_terms.retain(|t| !t.is_empty());
            key_terms.dedup();
            let mut tags = vec![fa.family.as_str().to_string()];
            tags.push(relation.to_string());
            out.push(Finding {
                pass: "mistakes",
                category: Category::Mistake,
                op: OpKind::Create,
                kind: MemoryKind::mistake(),
                text,
                targets: Vec::new(),
                rationale,
                sessions,
                evidence,
                confidence,
                tags,
                key_terms,
                repeats,
            });
        }
        stats.insert("mistakes.signatures".into(), candidates.into());
        (out, stats)
    }
}

/// The fix an error states itself as "expected X, not Y" (a parser's or a
/// format's error: "Expected `>>>>>>> REPLACE` not `=======`"): "write
/// `X` there instead of `Y`", when both are concrete (no placeholder) and
/// short.
fn expected_fix(err: &str) -> Option<String> {
    let lower = err.to_ascii_lowercase();
    let start = lower.find("expected ").filter(|p| *p == 0 || lower.get(..*p).is_some_and(|b| b.ends_with(": ")))?;
    let rest = err.get(start + "expected ".len()..)?;
    let rest_lower = rest.to_ascii_lowercase();
    let (at, sep) =
        [", not ", " not ", ", but found ", " but found ", ", found ", " found ", ", but got ", " but got ", ", got "]
            .iter()
            .filter_map(|s| rest_lower.find(s).map(|p| (p, s.len())))
            .min()?;
    let clean = |s: &str| s.trim().trim_end_matches(['.', ';', ',']).trim_matches(['`', '\'', '"']).trim().to_string();
    let (want, got) = (clean(rest.get(..at)?), clean(rest.get(at + sep..)?));
    let concrete = |s: &str| !s.is_empty() && s.chars().count() <= 30 && !s.contains('<') || crate::text::is_marker(s);
    (concrete(&want) && concrete(&got) && want != got).then(|| format!("write `{want}` there instead of `{got}`"))
}

/// An agent's reading of the group's error (see
/// [`crate::replies::reading`]), when a word it adds to the error recurs
/// in the readings of two units: the reading with most of those words
/// (the shortest of them), its session and where it stands.
fn reading_of<'m>(
    members: &'m [Member<'_>],
    unit: &dyn Fn(usize) -> usize,
) -> Option<(&'m str, usize, (u32, &'m str))> {
    let readings: Vec<(usize, &crate::recovery::Reading)> =
        members.iter().filter_map(|m| Some((m.inst.session, m.inst.said.as_ref()?.reading.as_ref()?))).collect();
    let mut word_units: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for (si, r) in &readings {
        for w in &r.added {
            word_units.entry(w.as_str()).or_default().insert(unit(*si));
        }
    }
    let shared: BTreeSet<&str> = word_units.iter().filter(|(_, u)| u.len() >= 2).map(|(w, _)| *w).collect();
    if shared.is_empty() {
        return None;
    }
    let n = |r: &crate::recovery::Reading| r.added.iter().filter(|w| shared.contains(w.as_str())).count();
    readings
        .iter()
        .max_by(|(_, a), (_, b)| n(a).cmp(&n(b)).then(b.text.len().cmp(&a.text.len())))
        .map(|(si, r)| (r.text.as_str(), *si, (r.seq, r.quote.as_str())))
}

/// The key term of a tool recovery: the tool it names, or the arguments.
fn fix_term(r: &crate::recovery::Recovery) -> String {
    r.key.split_once(' ').map_or(r.key.clone(), |(_, rest)| rest.split(' ').next().unwrap_or(rest).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_that_says_what_it_expected_states_the_fix() {
        assert_eq!(
            expected_fix("Expected `>>>>>>> REPLACE` not `=======").as_deref(),
            Some("write `>>>>>>> REPLACE` there instead of `=======`")
        );
        assert_eq!(expected_fix("error: expected `;`, found `}`").as_deref(), Some("write `;` there instead of `}`"));
        // A value of one session, or no "not", says nothing to write.
        assert_eq!(expected_fix("Expected <str> not `======="), None);
        assert_eq!(expected_fix("Expected `>>>>>>> REPLACE`"), None);
        assert_eq!(expected_fix("unexpected token, not allowed here"), None);
    }

    #[test]
    fn informative_errors_have_two_content_words() {
        assert!(informative("error: user not found"));
        assert!(!informative("exit code <n>"));
        assert!(!informative("error: failed"));
        assert!(informative("f821 undefined name <str>"));
        assert_eq!(
            error_core("File has not been read yet. Read it first before writing to it."),
            "file has not been read yet. read it first before writing to it"
        );
        assert_eq!(error_core("Error: New item <n> not found or available"), "not found or available");
    }

    use crate::testkit::Sess;
    use crate::{dream, DreamConfig, Snapshot};
    use nocturne_core::{NewSession, Op};
    use proptest::prelude::*;
    use serde_json::json;

    fn run(sessions: &[NewSession], min_support: u32) -> Vec<Op> {
        let snap = Snapshot::from_new_sessions(1, sessions, Vec::new(), "2026-01-01T00:00:00Z");
        let cfg = DreamConfig {
            now: "2026-02-01T00:00:00Z".into(),
            min_support: Some(min_support),
            ..DreamConfig::default()
        };
        let p = dream(&snap, &cfg, "t").unwrap_or_else(|e| panic!("{e}"));
        p.ops.into_iter().filter(|o| o.pass == "mistakes").collect()
    }

    /// A τ-bench-style conversation: calls without tool names, the agent's
    /// requests around them.
    fn lookup(id: &str, email: &str, zip: &str, name_zip_fails: bool) -> NewSession {
        let s = Sess::new(id)
            .customer()
            .user(&format!("Hi, I am {id} and I need to return an item."))
            .assistant("I can help. Could you please provide your email address?")
            .user(&format!("Sure, it's {email}."))
            .unnamed("Error: user not found", false)
            .assistant(
                "It seems I couldn't find a user with that email address. Could you please provide your first \
                 name, last name, and zip code so I can locate your account?",
            )
            .user(&format!("Ann Lee, zip code {zip}."));
        let s = if name_zip_fails {
            s.unnamed("Error: user not found", false)
                .assistant("I'm sorry, I couldn't find a user with the provided information. Please double-check the details or try a different email address.")
                .user(&format!("Oops, the zip is {zip}1."))
        } else {
            s
        };
        s.unnamed("ann_lee_1234", false).assistant("Thank you, you are authenticated.").build()
    }

    #[test]
    fn calls_without_tool_names_are_grouped_by_what_was_asked_and_recovered_by_what_the_agent_asked_next() {
        let sessions = vec![
            lookup("a", "ann@example.com", "12345", true),
            lookup("b", "bob.k@example.com", "54321", true),
            lookup("c", "cy@example.com", "11111", false),
        ];
        let texts: Vec<String> = run(&sessions, 2).into_iter().map(|o| o.text).collect();
        assert!(
            texts.contains(
                &"After asking for the email address, a call fails with 'Error: user not found': ask the customer \
                  to provide the first name, last name, and zip code."
                    .to_string()
            ),
            "{texts:#?}"
        );
        assert!(
            texts.contains(
                &"After asking for the first name, last name, and zip code, a call fails with 'Error: user not \
                  found': ask the customer to double-check the details or try a different email address."
                    .to_string()
            ),
            "{texts:#?}"
        );
        // Nothing a customer said, nor any value of one conversation, is memory text.
        for t in &texts {
            for v in ["example.com", "12345", "Ann", "Oops"] {
                assert!(!t.contains(v), "{t}");
            }
        }
    }

    #[test]
    fn an_unnamed_call_fixed_by_another_shape_of_value_says_so_and_a_reading_names_the_subject() {
        let order = |id: &str, n: &str| {
            Sess::new(id)
                .customer()
                .user(&format!("Where is my order, {id} here?"))
                .assistant("Could you please provide the order ID?")
                .user(&format!("It is {n}."))
                .unnamed("Error: order not found", false)
                .assistant("Could you please double-check the order ID?")
                .user(&format!("Sorry, it's W{n}."))
                .unnamed("{\"order_id\": \"#W1\"}", false)
                .build()
        };
        let refund = |id: &str, how: &str| {
            Sess::new(id)
                .customer()
                .user(&format!("Refund to my other card please, {id} here."))
                .unnamed("Error: payment method should be either the original payment method or a gift card", false)
                .assistant(&format!("It seems that the refund must {how} the original payment method or a gift card."))
                .build()
        };
        let sessions =
            vec![order("a", "1234567"), order("b", "7654321"), refund("c", "go to"), refund("d", "be sent to")];
        let texts: Vec<String> = run(&sessions, 2).into_iter().map(|o| o.text).collect();
        assert!(
            texts.contains(
                &"After asking for the order ID, a call fails with 'Error: order not found': the value given was \
                  `<n>`; it works with the prefix `W`: `W<n>`."
                    .to_string()
            ),
            "{texts:#?}"
        );
        let r = texts.iter().find(|t| t.contains("payment method")).unwrap();
        assert!(r.contains("as the agent read it: 'the refund must"), "{r}");
    }

    /// Values of one session: a branch, an e-mail, a home path, an order
    /// id, a commit hash, a commit message.
    #[derive(Debug, Clone)]
    struct Values {
        branch: String,
        email: String,
        home: String,
        order: String,
        hash: String,
        message: String,
    }

    fn values() -> impl Strategy<Value = Values> {
        (
            "[a-z]{3,8}-[a-z][0-9][a-z0-9]{1,3}",
            "[a-z]{3,7}\\.[a-z]{3,7}[0-9]{2}",
            "[a-z]{4,8}",
            "[0-9]{7}",
            "[0-9a-f]{7,12}",
            "[A-Z][a-z]{4,9} [a-z]{4,9} [a-z]{3,9}",
        )
            .prop_map(|(branch, user, home, order, hash, message)| Values {
                branch,
                email: format!("{user}@example.org"),
                home: format!("/Users/{home}"),
                order: format!("#W{order}"),
                hash,
                message,
            })
    }

    fn session(i: usize, v: &Values) -> NewSession {
        let commit =
            format!("git commit -m \"$(cat <<'EOF'\n{}\n\nCo-Authored-By: [REDACTED_EMAIL]\nEOF\n)\"", v.message);
        Sess::new(&format!("s{i}"))
            .user(&format!("task {i}"))
            .sh("git push", &format!("fatal: The current branch {} has no upstream branch.", v.branch), true)
            .sh(&format!("git push --set-upstream origin {}", v.branch), "ok", false)
            .sh(
                &commit,
                &format!(
                    "[REDACTED_EMAIL] {} rejected: mix format --check-formatted failed for {}/app/lib/a.ex",
                    v.hash, v.home
                ),
                true,
            )
            .sh("mix format", "", false)
            .sh(&commit, "ok", false)
            .tool(
                "get_order_details",
                json!({ "order_id": v.order }),
                &format!("Error: Order {} not found for {}", v.order, v.email),
                false,
            )
            .tool(
                "Read",
                json!({ "file_path": format!("{}/app/README.md", v.home) }),
                &format!("<tool_use_error>File does not exist: {}/app/README.md</tool_use_error>", v.home),
                true,
            )
            .tool("Glob", json!({ "pattern": "**/README*" }), "docs/README.md", false)
            .build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Whatever values the sessions carry, the lessons name none of them.
        #[test]
        fn lessons_never_carry_values_of_one_session(vs in proptest::collection::vec(values(), 3)) {
            let sessions: Vec<NewSession> = vs.iter().enumerate().map(|(i, v)| session(i, v)).collect();
            let ops = run(&sessions, 3);
            prop_assert!(ops.len() >= 3, "{:#?}", ops);
            for o in &ops {
                let t = o.text.to_lowercase();
                prop_assert!(o.text.chars().count() <= 200, "{}", o.text);
                prop_assert!(!t.contains("redacted") && !t.contains("eof") && !t.contains("co-authored"), "{}", o.text);
                for v in &vs {
                    for x in [&v.branch, &v.email, &v.home, &v.order, &v.hash, &v.message] {
                        prop_assert!(!t.contains(&x.to_lowercase()), "{x} in {}", o.text);
                    }
                }
            }
        }
    }

    /// One session: `episodes` times an Edit refused for a non-unique
    /// `old_string`, each followed by `tries` - 1 more refused tries and the
    /// Edit that worked with a longer `old_string`.
    fn repeated_edits(episodes: usize, tries: usize) -> NewSession {
        let mut s = Sess::new("one").user("tidy the tests");
        for e in 0..episodes {
            let path = format!("/Users/ann/proj/tests/test_{e}.py");
            for t in 0..tries {
                s = s.tool(
                    "Edit",
                    json!({ "file_path": path, "old_string": format!("x = {t}"), "new_string": "x = 9" }),
                    "<tool_use_error>Found 2 matches of the string to replace, but replace_all is false.</tool_use_error>",
                    true,
                );
            }
            s = s.tool(
                "Edit",
                json!({ "file_path": path, "old_string": format!("def test_{e}():\n    x = 1"), "new_string": "x = 9" }),
                &format!("The file {path} has been updated."),
                false,
            );
        }
        s.build()
    }

    #[test]
    fn a_mistake_recovered_from_three_times_in_one_session_is_recurring() {
        let ops = run(&[repeated_edits(3, 1)], 2);
        let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["`Edit` fails with 'Found 2 matches of the string to replace, but replace_all is false.': use a different `old_string` instead."],
        );
        // The one session's values stay in the evidence, never in the text.
        assert!(ops.iter().all(|o| o.support == 1 && !o.text.contains("/Users/ann")), "{ops:#?}");
        // Twice is not a habit; nor are three tries that one call fixed.
        assert!(run(&[repeated_edits(2, 1)], 2).is_empty());
        assert!(run(&[repeated_edits(1, 3)], 2).is_empty());
        // It counts as two sessions, not more.
        assert!(run(&[repeated_edits(3, 1)], 3).is_empty());
    }

    #[test]
    fn lessons_state_the_relation_a_person_would() {
        let v = Values {
            branch: "spotter-a0y".into(),
            email: "ann@example.org".into(),
            home: "/Users/ann".into(),
            order: "#W1234567".into(),
            hash: "1a2b3c4d".into(),
            message: "Add parser".into(),
        };
        let sessions: Vec<NewSession> = (0..3).map(|i| session(i, &v)).collect();
        let ops = run(&sessions, 3);
        let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
        assert!(texts.contains(&"`git push` fails with 'fatal: The current branch <branch> has no upstream branch.': run it with `--set-upstream origin <branch>`: `git push --set-upstream origin <branch>`."), "{texts:#?}");
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("`git commit` fails with")
                    && t.ends_with("run `mix format` before `git commit`.")),
            "{texts:#?}"
        );
        assert!(texts.contains(&"`Read` fails with 'File does not exist: <path>': use `Glob` instead."), "{texts:#?}");
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("`get_order_details` fails with 'Error: Order <id> not found for <email>'")),
            "{texts:#?}"
        );
        for o in &ops {
            assert!(o.tags.iter().any(|t| ["before", "with", "instead", "none"].contains(&t.as_str())), "{:?}", o.tags);
        }
    }

    #[test]
    fn api_errors_across_tasks_become_lessons_with_their_condition() {
        // τ²-style: a service agent, a customer in the user turns, one task per session.
        let s = |i: usize, order: &str| {
            Sess::new(&format!("task-{i}"))
                .customer()
                .user(&format!("Where is my order {order}? (task {i})"))
                .tool("get_order_details", json!({ "order_id": order }), "Error: Order not found", false)
                .tool(
                    "get_order_details",
                    json!({ "order_id": format!("#W{order}") }),
                    "{\"status\": \"delivered\"}",
                    false,
                )
                .build()
        };
        let other = |i: usize| {
            Sess::new(&format!("ok-{i}"))
                .customer()
                .user("hello")
                .tool(
                    "get_order_details",
                    json!({ "order_id": format!("#W{}", 9000000 + i) }),
                    "{\"status\": \"pending\"}",
                    false,
                )
                .build()
        };
        let mut sessions: Vec<NewSession> =
            ["9502127", "1234567", "7654321"].iter().enumerate().map(|(i, o)| s(i, o)).collect();
        sessions.extend((0..3).map(other));
        let ops = run(&sessions, 3);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(
            ops[0].text,
            "`get_order_details` fails with 'Error: Order not found' when `order_id` is `<n>` (it works as `#W<n>`): use a different `order_id` instead."
        );
        // Without a retry in sight, the condition says when it fails.
        let s = |i: usize, order: &str| {
            Sess::new(&format!("task-{i}"))
                .customer()
                .user(&format!("Where is my order {order}? (task {i})"))
                .tool("get_order_details", json!({ "order_id": order }), "Error: Order not found", false)
                .build()
        };
        let mut sessions: Vec<NewSession> =
            ["9502127", "1234567", "7654321"].iter().enumerate().map(|(i, o)| s(i, o)).collect();
        sessions.extend((0..3).map(other));
        let ops = run(&sessions, 3);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(
            ops[0].text,
            "`get_order_details` fails with 'Error: Order not found' when `order_id` is `<n>` (it works as `#W<n>`)."
        );
        assert!(
            ops[0].evidence.iter().all(|e| e.events.len() == 1 && e.quote == "Error: Order not found"),
            "{:#?}",
            ops[0].evidence
        );
    }

    #[test]
    fn a_lesson_already_remembered_is_promoted_by_new_sessions_only() {
        let s = |i: usize| {
            Sess::new(&format!("s{i}"))
                .user(&format!("task {i}"))
                .tool(
                    "Edit",
                    json!({"file_path": format!("/home/u/a{i}.py"), "old_string": "x", "new_string": "y"}),
                    "File has not been read yet. Read it first before writing to it.",
                    true,
                )
                .tool("Read", json!({"file_path": format!("/home/u/a{i}.py")}), "1 x", false)
                .tool(
                    "Edit",
                    json!({"file_path": format!("/home/u/a{i}.py"), "old_string": "x", "new_string": "y"}),
                    "ok",
                    false,
                )
                .build()
        };
        let sessions: Vec<NewSession> = (0..3).map(s).collect();
        let ops = run(&sessions, 3);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        let m = nocturne_core::Memory::new(
            MemoryKind::mistake(),
            &ops[0].text,
            nocturne_core::Scope::org(),
            "2026-01-15T00:00:00Z",
            "x",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        // Sessions stored after the lesson was remembered confirm it: a promote, no second lesson.
        let snap = Snapshot::from_new_sessions(2, &sessions, vec![m.clone()], "2026-01-20T00:00:00Z");
        let p = dream(&snap, &cfg, "again").unwrap_or_else(|e| panic!("{e}"));
        let again: Vec<&Op> = p.ops.iter().filter(|o| o.targets.contains(&m.id)).collect();
        assert_eq!(again.len(), 1, "{:#?}", p.ops);
        assert_eq!(again[0].op, OpKind::Promote);
        assert!(p.ops.iter().all(|o| o.op != OpKind::Create || o.kind.as_str() != "mistake"), "{:#?}", p.ops);
        // The sessions it was learned from say nothing new (see `crate::fresh`).
        let snap = Snapshot::from_new_sessions(2, &sessions, vec![m.clone()], "2026-01-01T00:00:00Z");
        let p = dream(&snap, &cfg, "same").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.ops.is_empty(), "{:#?}", p.ops);
    }

    #[test]
    fn arguments_a_retry_added_are_passed() {
        let s = |i: usize| {
            Sess::new(&format!("s{i}"))
                .user(&format!("task {i}"))
                .tool("Read", json!({"file_path": format!("/home/u{i}/big{i}.log")}), "File content (26838 tokens) exceeds maximum allowed tokens (25000). Please use offset and limit parameters to read specific portions of the file, or use the GrepTool to search for specific content.", true)
                .tool("Read", json!({"file_path": format!("/home/u{i}/big{i}.log"), "offset": 1, "limit": 400}), "1 x", false)
                .build()
        };
        let ops = run(&(0..3).map(s).collect::<Vec<_>>(), 3);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(ops[0].text, "`Read` fails with 'File content (<n> tokens) exceeds maximum allowed tokens (<n>).': pass `limit`, `offset`.");
    }

    #[test]
    fn rejections_red_tests_and_no_match_exits_are_no_lessons() {
        let s = |i: usize| {
            Sess::new(&format!("s{i}"))
                .user(&format!("task {i}"))
                .sh("npm install", "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). The user provided the following reason for the rejection:  use pnpm", true)
                .sh("rg -n TODO src", "Exit code 1", true)
                .sh("ls build", "<tool_use_error>Cancelled: parallel tool call Bash(rg -n x) errored</tool_use_error>", true)
                .sh("pytest -q", "============================= test session starts ==============================\nFAILED tests/test_a.py::test_x - AssertionError: assert 1 == 2\n1 failed in 0.1s", true)
                .build()
        };
        let sessions: Vec<NewSession> = (0..4).map(s).collect();
        assert!(run(&sessions, 3).is_empty());
        // The rejection's reason is kept for the preference pass.
        let snap = Snapshot::from_new_sessions(1, &sessions, Vec::new(), "2026-01-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        let ctx = Context::build(&snap, &cfg);
        let a = ctx.sessions.first().and_then(|s| s.actions.first()).unwrap_or_else(|| panic!("no action"));
        assert_eq!(a.outcome, crate::actions::Outcome::Rejected);
        assert_eq!(a.rejection.as_deref(), Some("use pnpm"));
    }

    #[test]
    fn the_same_request_resent_counts_once() {
        // aider-style: one request re-sent in three runs, one lesson source.
        let s = |i: usize, ask: &str| {
            Sess::new(&format!("run-{i}"))
                .user(ask)
                .orphan("aider", "The LLM did not conform to the edit format.\n## SearchReplaceNoExactMatch: This SEARCH block failed to exactly match lines in aider/main.py\nDid you mean to match some of these actual lines from aider/main.py?", true)
                .build()
        };
        let same: Vec<NewSession> = (0..3).map(|i| s(i, "add a --dry-run flag")).collect();
        assert!(run(&same, 3).is_empty(), "one request, one unit");
        let apart: Vec<NewSession> = (0..3).map(|i| s(i, &format!("request {i}"))).collect();
        let ops = run(&apart, 3);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(ops[0].text, "`aider` fails with 'SearchReplaceNoExactMatch: This SEARCH block failed to exactly match lines in <path>'; the error suggests: 'Did you mean to match some of these actual lines from <path>?'");
    }

    #[test]
    fn an_edit_block_that_adds_the_named_import_is_the_fix_and_one_runs_values_stay_out() {
        // aider's lint loop: the lint output is a result with no call; the
        // reply's SEARCH/REPLACE block adds the import the error names.
        let names = ["GitRepo", "Text", "time", "field"];
        let s = |i: usize| {
            let name = names[i];
            let var = if i < 2 { "shell_type".to_string() } else { format!("v{i}") };
            Sess::new(&format!("run-{i}"))
                .user(&format!("request {i}"))
                .orphan("aider", &format!("flake8...Failed\nx{i}.py:3:1: F821 undefined name '{name}'\nx{i}.py:9:5: F841 local variable '{var}' is assigned to but never used"), true)
                .assistant(&format!("Add the import:\n\nx{i}.py\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport os\nfrom lib{i} import {name}\n>>>>>>> REPLACE\n```"))
                .orphan("aider", &format!("Applied edit to x{i}.py"), false)
                .build()
        };
        let ops = run(&(0..4).map(s).collect::<Vec<_>>(), 3);
        let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
        assert!(
            texts.contains(
                &"`aider` fails with 'F821 undefined name <str>': add the missing `import` in the same edit."
            ),
            "{texts:#?}"
        );
        // The edit named GitRepo, not the variable: F841's lesson claims no fix; and a
        // variable name two of four runs share is not the group's own word.
        assert!(
            texts.contains(&"`aider` fails with 'F841 local variable <str> is assigned to but never used'."),
            "{texts:#?}"
        );
        let f821 = ops.iter().find(|o| o.text.contains("F821")).unwrap_or_else(|| panic!("no F821 op"));
        assert!(
            f821.evidence.iter().any(|e| e.quote.starts_with("from lib") && e.quote.contains(" import ")),
            "the edit line is evidence: {:#?}",
            f821.evidence
        );
    }

    /// A session whose inline Python printed through the shell: `!` in
    /// double quotes came back as `\!` with a SyntaxWarning, exit status 0.
    fn bang(id: &str, runner: &str, line: u32) -> NewSession {
        Sess::new(id)
            .user(&format!("check the renderer ({id})"))
            .sh(
                &format!("{runner} -c \"\nfrom app import render\nprint('Rendered {id}!')\n\""),
                &format!("Rendered {id}\\!\n<string>:{line}: SyntaxWarning: invalid escape sequence '\\!'"),
                false,
            )
            .sh("git status", "nothing to commit", false)
            .build()
    }

    #[test]
    fn an_escape_warning_no_flag_reported_is_a_lesson_the_code_explains() {
        let ops = run(&[bang("a", "python", 3), bang("b", "uv run python", 12)], 2);
        let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["In Bash, `python -c \"…\"` with `!` inside double quotes gets `\\!` (SyntaxWarning: invalid escape sequence '\\!'): avoid `!` in inline scripts, or use a heredoc or a file."],
            "one lesson whatever runner started python"
        );
        assert!(ops[0].evidence.iter().all(|e| e.quote.contains("SyntaxWarning")), "{:#?}", ops[0].evidence);
        // Once in one session is no habit; three distinct calls unnoticed are.
        assert!(run(&[bang("a", "python", 3)], 2).is_empty());
        // A run without `!` that worked after files were edited does not
        // undo the warnings: edits change nothing the command line hands python.
        let mut s = Sess::new("one").user("check it");
        for i in 0..3 {
            s = s.sh(
                &format!("python3 -c \"print('step {i} ok!')\""),
                &format!("step {i} ok\\!\n<string>:1: SyntaxWarning: invalid escape sequence '\\!'"),
                false,
            );
            s = s.tool(
                "Edit",
                json!({"file_path": "/w/app.py", "old_string": format!("v = {i}"), "new_string": "v = 9"}),
                "The file /w/app.py has been updated.",
                false,
            );
            s = s.sh(&format!("python3 -c \"print('step {i}')\""), &format!("step {i}"), false);
        }
        let ops = run(&[s.build()], 2);
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert!(ops[0].text.starts_with("In Bash, `python -c \"…\"` with `!`"), "{}", ops[0].text);
    }

    #[test]
    fn output_that_only_mentions_errors_is_no_failure_without_a_flag() {
        let s = |i: usize| {
            Sess::new(&format!("s{i}"))
                .user(&format!("look around {i}"))
                // grep hits that say "error"
                .sh("grep -rn 'Error:' src | head", "src/cli.py:12:    print(\"Error: no projects\")\nsrc/x.py:3: bash: pnpm: command not found", false)
                // a file read that holds a traceback
                .tool("Read", json!({"file_path": format!("/w{i}/log.txt")}), "     1→Traceback (most recent call last):\n     2→ValueError: bad", false)
                .sh(&format!("cat /w{i}/crash.log"), "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nValueError: bad header", false)
                // a library's warning while the agent's script ran
                .sh("python -c \"import pkg; pkg.run()\"", "/v/site-packages/pkg/core.py:12: DeprecationWarning: invalid escape sequence '\\s'\ndone", false)
                // node's own warning
                .sh("npm test -- --run x.test.ts", "(node:36706) Warning: The 'NO_COLOR' env is ignored due to the 'FORCE_COLOR' env being set.\n Test Files  1 passed (1)", false)
                // a red test run through a pipe: the code under test, not the call
                .sh("uv run pytest tests/test_new.py 2>&1 | tail -3", "FAILED tests/test_new.py::test_parse - AssertionError: assert None == 1\n============ 1 failed in 0.12s ============", false)
                .build()
        };
        let sessions: Vec<NewSession> = (0..3).map(s).collect();
        assert!(run(&sessions, 2).is_empty());
        let snap = Snapshot::from_new_sessions(1, &sessions, Vec::new(), "2026-01-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-02-01T00:00:00Z".into(), ..DreamConfig::default() };
        let ctx = Context::build(&snap, &cfg);
        let acts = &ctx.sessions[0].actions;
        let failed: Vec<&str> = acts.iter().filter(|a| a.failed()).map(|a| a.label.as_str()).collect();
        assert_eq!(failed, vec!["uv run pytest"], "only the hidden red run failed");
        assert!(acts.iter().filter(|a| a.failed()).all(|a| a.test_failure && a.silent));
    }

    #[test]
    fn the_shells_and_the_compilers_errors_a_pipe_hid_are_mistakes() {
        let s = |i: usize| {
            Sess::new(&format!("s{i}"))
                .user(&format!("task {i}"))
                .sh("pytest -x 2>&1 | tail -5", "/bin/bash: line 1: pytest: command not found", false)
                .sh("uv run pytest -x 2>&1 | tail -5", "3 passed in 0.2s", false)
                .sh("cargo build 2>&1 | tail -4", &format!("error[E0425]: cannot find value `total{i}` in this scope\n --> src/lib.rs:{i}:5\nerror: could not compile `app` (lib) due to 1 previous error"), false)
                .build()
        };
        let ops = run(&(0..2).map(s).collect::<Vec<_>>(), 2);
        let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
        assert!(
            texts.contains(&"`pytest` fails with 'pytest: command not found': use `uv run pytest -x` instead."),
            "{texts:#?}"
        );
        assert!(
            texts.iter().any(
                |t| t.starts_with("`cargo build` fails with 'error[E0425]: cannot find value <str> in this scope'")
            ),
            "{texts:#?}"
        );
    }
}
