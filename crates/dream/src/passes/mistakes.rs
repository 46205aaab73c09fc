//! Recurring mistakes.
//!
//! Rule: a tool call whose result is a failure (error flag, or a failure
//! line per `nocturne_core::failure`) followed within 12 tool actions of the
//! same session by a *working variant* — same tool, a similar command (same
//! verb family or a shared specific token) with a different normalized key,
//! or the same key with extra flags — is one instance. If the same command
//! works on retry first, the failure was the code, not the command, and
//! nothing is recorded. Instances are grouped by the failing command's key
//! (`npm test`); each session counts once. The memory names the failing
//! command, its most common error line and the most common working
//! variant(s).

use super::most_common;
use crate::context::{Context, MistakeInstance};
use crate::{Category, DreamError, Finding, Pass, PassOutput};
use nocturne_core::{Evidence, MemoryKind, OpKind};
use std::collections::{BTreeMap, BTreeSet};

pub struct Mistakes;

impl Pass for Mistakes {
    fn name(&self) -> &'static str {
        "mistakes"
    }

    fn run(&self, ctx: &Context) -> Result<PassOutput, DreamError> {
        Ok(self.findings(ctx).into())
    }
}

impl Mistakes {
    fn findings(&self, ctx: &Context) -> Vec<Finding> {
        let mut groups: BTreeMap<&str, Vec<&MistakeInstance>> = BTreeMap::new();
        for m in &ctx.mistakes {
            groups.entry(m.fail_key.as_str()).or_default().push(m);
        }
        let mut out = Vec::new();
        for (fail_key, inst) in groups {
            let sessions: BTreeSet<usize> = inst.iter().map(|m| m.session).collect();
            if sessions.len() < 2 {
                continue;
            }
            // Fix keys by the number of sessions using them.
            let mut fixes: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
            for m in &inst {
                fixes.entry(m.fix_key.as_str()).or_default().insert(m.session);
            }
            let mut fixes: Vec<(&str, usize)> = fixes.into_iter().map(|(k, s)| (k, s.len())).collect();
            fixes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let Some(&(top_fix, top_n)) = fixes.first() else { continue };
            let min = ctx.config.min_support() as usize;
            let chosen: Vec<&str> = fixes
                .iter()
                .filter(|(k, n)| *k == top_fix || (*n >= min && *n * 2 >= top_n))
                .map(|(k, _)| *k)
                .take(3)
                .collect();
            let action = |m: &MistakeInstance, fix: bool| {
                ctx.sessions.get(m.session).and_then(|s| s.actions.get(if fix { m.fix } else { m.fail }))
            };
            // The commands shown: the most common (failing, working) pair of
            // real commands for the top fix, so both come from the same runs.
            let pair = |m: &MistakeInstance| -> Option<String> {
                let f = action(m, false)?.cmd.as_ref()?;
                let x = action(m, true)?.cmd.as_ref()?;
                Some(format!("{}\u{0}{}", f.main, x.main))
            };
            let pairs: Vec<String> = inst.iter().filter(|m| m.fix_key == top_fix).filter_map(|m| pair(m)).collect();
            let best = most_common(pairs.iter().map(String::as_str)).unwrap_or_default();
            let (fail_main, top_main) = best.split_once('\u{0}').unwrap_or((fail_key, top_fix));
            let err = most_common(inst.iter().filter_map(|m| action(m, false)?.error_line.as_deref()));
            let mut fix_mains = vec![format!("`{top_main}`")];
            for k in chosen.iter().filter(|k| **k != top_fix) {
                let main = most_common(
                    inst.iter()
                        .filter(|m| m.fix_key == *k)
                        .filter_map(|m| action(m, true)?.cmd.as_ref())
                        .map(|c| c.main.as_str()),
                );
                if let Some(main) = main {
                    fix_mains.push(format!("`{main}`"));
                }
            }
            let err_part = err.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            let text = format!("`{fail_main}` fails{err_part}; use {} instead.", fix_mains.join(" or "));
            // How often the failing command failed at all, to weigh confidence.
            let failed_anywhere = ctx
                .sessions
                .iter()
                .filter(|s| {
                    s.actions.iter().any(|a| {
                        a.outcome == crate::context::Outcome::Failed
                            && a.cmd.as_ref().is_some_and(|c| c.key == fail_key)
                    })
                })
                .count()
                .max(1);
            let share = sessions.len() as f64 / failed_anywhere as f64;
            let confidence = ((0.45 + 0.08 * sessions.len() as f64).min(0.95) * (0.6 + 0.4 * share)).clamp(0.0, 1.0);
            let mut evidence = Vec::new();
            let mut done = BTreeSet::new();
            for m in &inst {
                if !done.insert(m.session) {
                    continue;
                }
                let (Some(s), Some(f), Some(x)) = (ctx.sessions.get(m.session), action(m, false), action(m, true))
                else {
                    continue;
                };
                let mut events = vec![f.call_seq, x.call_seq];
                events.extend(f.result_seq);
                events.extend(x.result_seq);
                events.sort_unstable();
                let fm = f.cmd.as_ref().map_or(f.label.as_str(), |c| c.main.as_str());
                let xm = x.cmd.as_ref().map_or(x.label.as_str(), |c| c.main.as_str());
                let quote = format!("$ {fm}\n{}\n$ {xm}", f.error_line.as_deref().unwrap_or("(failed)"));
                evidence.push(Evidence { session: s.id().to_string(), events, quote });
            }
            let fix_key_base = top_fix.split_whitespace().take_while(|w| !w.starts_with('-')).collect::<Vec<_>>();
            out.push(Finding {
                pass: "mistakes",
                category: Category::Mistake,
                op: OpKind::Create,
                kind: MemoryKind::mistake(),
                text,
                targets: Vec::new(),
                rationale: format!(
                    "`{fail_key}` failed and was followed by a working variant (`{top_fix}`) in {} sessions",
                    sessions.len()
                ),
                sessions,
                evidence,
                confidence,
                tags: vec![fail_key.split(' ').next().unwrap_or(fail_key).to_string()],
                key_terms: vec![fail_key.to_string(), fix_key_base.join(" ")],
            });
        }
        out
    }
}
