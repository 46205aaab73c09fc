//! Leave-one-out: does what a dream learned from the *other* sessions reach
//! an agent starting a labelled session?
//!
//! The unit held out is a **conversation**: a main Claude Code session file
//! with all its sub-agent files (old layout: `agent-*.jsonl` whose lines
//! carry the main session's id; new layout: `<id>/subagents/*`). A
//! labelled session (`[[session]]`) is scored when its project has at least
//! two labelled conversations and it lists at least one recurring `mistake`
//! lesson. For each: every file of the **whole source** except the held-out
//! conversation is ingested into a fresh store (the realistic setting: one
//! store over `~/.claude/projects`; cross-project mistakes need the other
//! projects' sessions for support), a dream runs with the CLI defaults, all
//! its ops are applied, and `nocturne context "<first prompt>"` is asked
//! with default flags (no `--user`/`--team`) in the session's recorded
//! working directory (so other projects' conventions are left out). A mistake lesson is carried
//! when a memory of the bundle is classified as that lesson. The score is
//! carried / expected, pooled over all scored sessions.

use crate::data::{claude_conversation, claude_prompt, files_under};
use crate::expect::Expectations;
use crate::run::{ingest, Input};
use crate::score::{classify, mistakes, Class, Ratio};
use crate::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One held-out session.
#[derive(Debug, Clone, Serialize)]
pub struct LooSession {
    pub file: String,
    pub project: String,
    /// The first prompt (shortened).
    pub prompt: String,
    /// Files held out with it (the conversation).
    pub held_out_files: usize,
    /// Sessions the store held for the dream.
    pub sessions: usize,
    pub ops: usize,
    /// Active memories after applying the dream, by scope (`org`,
    /// `user:NAME`...): what a default context request can see is `org`.
    pub memories: BTreeMap<String, usize>,
    /// The held-out session's recurring mistake lessons.
    pub expected: Vec<String>,
    pub carried: Vec<String>,
    /// The memories of the bundle.
    pub bundle: Vec<String>,
    pub elapsed_ms: u64,
    /// What went wrong running it, if anything (counted as nothing carried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Leave-one-out over one source.
#[derive(Debug, Clone, Serialize)]
pub struct LooReport {
    pub source: String,
    pub sessions: Vec<LooSession>,
    /// Labelled sessions not scored, with why.
    pub skipped: Vec<String>,
    pub elapsed_ms: u64,
}

impl LooReport {
    /// Mistake lessons carried / expected, pooled over the scored sessions.
    pub fn score(&self) -> Ratio {
        Ratio {
            found: self.sessions.iter().map(|s| s.carried.len()).sum(),
            total: self.sessions.iter().map(|s| s.expected.len()).sum(),
        }
    }
}

/// The project of a path relative to the source: the folder under
/// `real_projects/`, else the first folder.
pub fn project_of(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.iter().position(|p| *p == "real_projects") {
        Some(i) => parts.get(i + 1).copied().unwrap_or_default().to_string(),
        None if parts.len() > 1 => parts.first().copied().unwrap_or_default().to_string(),
        None => String::new(),
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn short(s: &str, n: usize) -> String {
    let one = crate::data::normalize_ws(s);
    let mut t: String = one.chars().take(n).collect();
    if t.len() < one.len() {
        t.push('…');
    }
    t
}

/// Runs leave-one-out for `ex` over the source folder `root`. `None` when
/// the file has no `[[session]]` entries.
pub fn leave_one_out(ex: &Expectations, root: &Path) -> Result<Option<LooReport>> {
    if ex.sessions.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let files = files_under(root)?;
    // Every file's conversation, as (project, main session id).
    let unit_of: BTreeMap<PathBuf, (String, String)> =
        files.iter().map(|f| (f.clone(), (project_of(&rel(root, f)), claude_conversation(f)))).collect();
    let mut labelled_units: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &ex.sessions {
        let path = root.join(&s.file);
        let (p, c) = unit_of.get(&path).cloned().unwrap_or_else(|| (project_of(&s.file), claude_conversation(&path)));
        labelled_units.entry(p).or_default().insert(c);
    }
    let mut report = LooReport { source: ex.source.clone(), sessions: Vec::new(), skipped: Vec::new(), elapsed_ms: 0 };
    for s in &ex.sessions {
        let path = root.join(&s.file);
        let project = project_of(&s.file);
        let units = labelled_units.get(&project).map_or(0, BTreeSet::len);
        if units < 2 {
            report.skipped.push(format!("{}: its project has {units} labelled conversation(s)", s.file));
            continue;
        }
        let expected = mistakes(ex, &s.lessons);
        if expected.is_empty() {
            report.skipped.push(format!("{}: no recurring mistake lesson", s.file));
            continue;
        }
        let t0 = Instant::now();
        let unit = unit_of.get(&path).cloned().unwrap_or_else(|| (project.clone(), claude_conversation(&path)));
        let (kept, held): (Vec<&PathBuf>, Vec<&PathBuf>) = files.iter().partition(|f| unit_of.get(*f) != Some(&unit));
        let mut entry = LooSession {
            file: s.file.clone(),
            project: project.clone(),
            prompt: String::new(),
            held_out_files: held.len(),
            sessions: 0,
            ops: 0,
            memories: BTreeMap::new(),
            expected: expected.iter().map(|l| l.id.clone()).collect(),
            carried: Vec::new(),
            bundle: Vec::new(),
            elapsed_ms: 0,
            error: None,
        };
        let outcome = (|| -> Result<()> {
            let prompt = claude_prompt(&path, s.first_prompt_line)?;
            entry.prompt = short(&prompt, 120);
            let ing = ingest(&Input::Files(kept.into_iter().cloned().collect()))?;
            entry.sessions = ing.sessions.len();
            let (proposal, _) = ing.dream()?;
            entry.ops = proposal.ops.len();
            ing.apply_all(&proposal)?;
            for m in ing.service.store().memories()?.iter().filter(|m| m.is_active()) {
                *entry.memories.entry(m.scope.to_string()).or_default() += 1;
            }
            // The agent asks in its working directory, as `nocturne context` does.
            let cwd = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| nocturne_core::project::recorded_cwd(t.lines()))
                .filter(|c| nocturne_core::Here::parse(c).is_ok());
            let bundle = ing.context(&prompt, cwd.as_deref())?;
            for l in &expected {
                let carried = bundle
                    .iter()
                    .any(|text| matches!(classify(ex, text), Class::Lesson { ids } if ids.contains(&l.id)));
                if carried {
                    entry.carried.push(l.id.clone());
                }
            }
            entry.bundle = bundle.iter().map(|t| short(t, 160)).collect();
            Ok(())
        })();
        if let Err(e) = outcome {
            entry.error = Some(e.to_string());
        }
        entry.elapsed_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.sessions.push(entry);
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_the_folder_under_real_projects() {
        assert_eq!(project_of("real_projects/-a-b/x.jsonl"), "-a-b");
        assert_eq!(project_of("real_projects/-a-b/s/subagents/agent-1.jsonl"), "-a-b");
        assert_eq!(project_of("trajectories/x.json"), "trajectories");
        assert_eq!(project_of("x.jsonl"), "");
    }
}
