//! Dream rules on the real transcripts, parsed straight from the files (so
//! every field the importers set reaches the engine): workflows stay few and
//! maximal at a low support threshold on real Claude Code sessions, and the
//! customers of the τ² service agent state no preferences, and the
//! conventions of a Claude Code project are readable and proposed once, and
//! project requirements quote the operator only. Skipped with a
//! notice when `shared/data/real-transcripts` is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{NewSession, OpKind, Proposal};
use nocturne_dream::{dream, DreamSpec, Snapshot};
use nocturne_ingest::{classify_path, parse_file, Format, Hints, PathKind};
use nocturne_quality::data;
use std::path::{Path, PathBuf};

const NOW: &str = "2030-01-01T00:00:00Z";

fn sessions_of(dir: &Path) -> Vec<NewSession> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out: Vec<NewSession> = Vec::new();
    for f in files {
        let name = f.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        let meta = std::fs::read(f.with_extension("meta.json")).ok();
        if let Ok(p) = parse_file(&name, &std::fs::read(&f).unwrap(), Format::Auto, &Hints { meta, parent: None }) {
            out.extend(p.sessions);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

fn source(name: &str) -> Option<PathBuf> {
    let Some(root) = data::find_data_dir(Path::new(env!("CARGO_MANIFEST_DIR"))) else {
        eprintln!("notice: shared/data/real-transcripts is absent; {name} skipped");
        return None;
    };
    Some(root.join(name))
}

fn dream_over(sessions: &[NewSession], spec: &DreamSpec) -> Proposal {
    let snap = Snapshot::from_new_sessions(1, sessions, vec![], NOW);
    dream(&snap, &spec.config(NOW), "d").unwrap()
}

/// A source's name, expectations, sessions and the ops of one pass.
type SourceRun = (&'static str, nocturne_quality::expect::Expectations, Vec<NewSession>, Vec<nocturne_core::Op>);

/// The real sources where an operator or a customer speaks, each with its
/// expectations, its sessions and the ops one pass proposes over all of
/// them (`None` without the data).
fn pass_on_spoken_sources(pass: &str) -> Option<Vec<SourceRun>> {
    let expect_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/real-data/expect");
    let mut out = Vec::new();
    for name in
        ["claude-code-log", "codemie-code", "aider-chat-history", "tau2-bench-retail", "tau-bench-few-shot-retail"]
    {
        let dir = source(name)?;
        let ex = nocturne_quality::expect::Expectations::read(&expect_dir.join(format!("{name}.toml"))).unwrap();
        let sessions = sessions_of(&dir);
        let ops = dream_over(&sessions, &DreamSpec::default()).ops.into_iter().filter(|o| o.pass == pass).collect();
        out.push((name, ex, sessions, ops));
    }
    Some(out)
}

fn steps(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn claude_code_workflows_stay_few_and_maximal_at_min_support_two() {
    let Some(dir) = source("claude-code-log") else { return };
    let sessions = sessions_of(&dir);
    assert!(sessions.len() >= 50, "{} sessions", sessions.len());
    for (ms, cap) in [(2u32, None), (2, Some(3)), (3, None)] {
        let spec = DreamSpec { min_support: Some(ms), max_workflows: cap, ..DreamSpec::default() };
        let p = dream_over(&sessions, &spec);
        let wf: Vec<Vec<String>> = p.ops.iter().filter(|o| o.pass == "workflows").map(|o| steps(&o.text)).collect();
        println!("min_support {ms}, cap {cap:?}: {} ops, {} workflows", p.ops.len(), wf.len());
        assert!(wf.len() <= cap.unwrap_or(10), "{wf:#?}");
        for (i, a) in wf.iter().enumerate() {
            for (j, b) in wf.iter().enumerate() {
                let mut it = b.iter();
                assert!(i == j || !a.iter().all(|x| it.any(|y| y == x)), "{a:?} is part of {b:?}");
            }
        }
    }
}

#[test]
fn tau2_customers_state_no_preferences_and_claude_sub_agents_neither() {
    let Some(dir) = source("tau2-bench-retail") else { return };
    let tau = sessions_of(&dir);
    assert!(tau.len() >= 100, "{} simulations", tau.len());
    for ms in [2u32, 3] {
        let p = dream_over(&tau, &DreamSpec { min_support: Some(ms), ..DreamSpec::default() });
        let prefs: Vec<&str> = p
            .ops
            .iter()
            .filter(|o| o.kind.as_str() == "preference" && o.op == OpKind::Create)
            .map(|o| o.text.as_str())
            .collect();
        assert!(prefs.is_empty(), "min_support {ms}: customer statements became preferences: {prefs:#?}");
    }
    let Some(dir) = source("claude-code-log") else { return };
    let subs: Vec<NewSession> =
        sessions_of(&dir).into_iter().filter(|s| s.parent.is_some() || s.subagent.is_some()).collect();
    assert!(!subs.is_empty());
    let p = dream_over(&subs, &DreamSpec { min_support: Some(2), ..DreamSpec::default() });
    assert!(p.ops.iter().all(|o| o.kind.as_str() != "preference"), "a parent's prompt is no preference: {:#?}", p.ops);
}

#[test]
fn claude_code_conventions_are_readable_scoped_and_proposed_once() {
    let Some(dir) = source("claude-code-log") else { return };
    let sessions = sessions_of(&dir);
    let first = dream_over(&sessions, &DreamSpec::default());
    let conv: Vec<&nocturne_core::Op> = first.ops.iter().filter(|o| o.pass == "conventions").collect();
    for o in &conv {
        println!("{} · {}", o.scope, o.text);
    }
    // The claude-code-log project's toolchain: its hooks, tests and checks.
    assert!(conv.len() >= 3, "{conv:#?}");
    assert!(conv.iter().any(|o| o.text.contains("hook") && o.text.contains("uv run ruff format")));
    assert!(conv.iter().any(|o| o.text.contains("run the tests with `uv run pytest`")));
    for o in &conv {
        assert!(o.text.chars().count() <= 200, "{}", o.text);
        for leak in ["/Users/", "/home/", "dain", "cboos", "agent-a"] {
            assert!(!o.text.contains(leak), "{}", o.text);
        }
        assert!(o.support >= 2 && !o.evidence.is_empty(), "{o:#?}");
        assert!(o.tags.iter().any(|t| t.starts_with("project:")), "{o:#?}");
    }
    // Applied, then dreamed again over the same sessions: nothing new.
    let memories: Vec<nocturne_core::Memory> = first
        .ops
        .iter()
        .map(|o| {
            let mut m = nocturne_core::Memory::new(o.kind.clone(), &o.text, o.scope.clone(), NOW, "q").unwrap();
            m.evidence = o.evidence.clone();
            m
        })
        .collect();
    let snap = Snapshot::from_new_sessions(2, &sessions, memories, NOW);
    let again = dream(&snap, &DreamSpec::default().config(NOW), "d2").unwrap();
    let repeated: Vec<&str> = again.ops.iter().filter(|o| o.pass == "conventions").map(|o| o.text.as_str()).collect();
    assert!(repeated.is_empty(), "{repeated:#?}");
}

/// Operator corrections on every real source: each op of the corrections
/// pass is classified as a labelled lesson (never junk or wrong), leaks no
/// session value, and cites only operator text (a user message or the
/// operator's words in a tool result) or the tool call he stopped; the
/// customers of the service agents correct nothing.
#[test]
fn operator_corrections_are_lessons_quoting_the_operator_only() {
    use nocturne_core::{EventKind, Role};
    use nocturne_quality::score;
    let Some(runs) = pass_on_spoken_sources("corrections") else { return };
    for (name, ex, sessions, ops) in runs {
        println!("{name}: {} correction ops", ops.len());
        if name.starts_with("tau") {
            assert!(ops.is_empty(), "{name}: customers correct nothing: {ops:#?}");
        }
        let leaks = ex.leaks();
        for o in ops {
            let class = score::classify(&ex, &o.text);
            assert!(matches!(class, score::Class::Lesson { .. }), "{name}: {:?} is {}", o.text, class.label());
            assert!(leaks.find(&o.text).is_empty(), "{name}: {:?} leaks {:?}", o.text, leaks.find(&o.text));
            assert!(o.text.chars().count() <= 200, "{}", o.text);
            for e in &o.evidence {
                let s = sessions.iter().find(|s| s.id == e.session).unwrap();
                let ev = &s.events[e.events[0] as usize];
                let operator = (ev.kind == EventKind::UserMessage && ev.role == Role::User)
                    || ev.kind == EventKind::ToolResult
                    || (ev.kind == EventKind::ToolCall && ev.role == Role::Assistant);
                assert!(operator, "{name}: {:?} cites a {:?}/{:?} event", e.quote, ev.role, ev.kind);
                assert!(!e.quote.to_lowercase().contains("doesn't want to proceed"), "harness text: {:?}", e.quote);
            }
        }
    }
}

/// τ-bench's display text names no tool: its tool errors still become
/// lessons (from what the agent asked around the calls), and nothing a
/// customer said, nor a value of one conversation, reaches memory text.
#[test]
fn tau_display_tool_errors_become_lessons_and_customer_words_never_do() {
    let Some(dir) = source("tau-bench-few-shot-retail") else { return };
    let sessions = sessions_of(&dir);
    assert!(sessions.len() >= 60, "{} conversations", sessions.len());
    let customer: Vec<String> = sessions
        .iter()
        .flat_map(|s| s.events.iter())
        .filter(|e| e.role == nocturne_core::Role::User)
        .filter_map(|e| e.text.as_deref())
        .flat_map(|t| t.split(['.', '?', '!']).map(str::trim).filter(|x| x.split_whitespace().count() >= 4))
        .map(str::to_lowercase)
        .collect();
    for ms in [2u32, 3] {
        let p = dream_over(&sessions, &DreamSpec { min_support: Some(ms), ..DreamSpec::default() });
        let created: Vec<&str> = p.ops.iter().filter(|o| o.op == OpKind::Create).map(|o| o.text.as_str()).collect();
        assert!(p.ops.iter().all(|o| o.kind.as_str() != "preference"), "min_support {ms}: {created:#?}");
        let mistakes = p.ops.iter().filter(|o| o.pass == "mistakes").count();
        assert!(mistakes >= 2, "min_support {ms}: the 'user not found' failures of 18 conversations: {created:#?}");
        for t in &created {
            let lower = t.to_lowercase();
            assert!(!customer.iter().any(|c| lower.contains(c.as_str())), "a customer's words: {t}");
            assert!(!t.contains('@') && !t.chars().any(|c| c.is_ascii_digit()), "a value of one conversation: {t}");
        }
    }
}

/// The three SWE-agent runs each run their own script between the fix and
/// the submit: one workflow, naming no run's script.
#[test]
fn swe_agent_runs_share_a_workflow_whose_script_step_is_a_role() {
    let Some(dir) = source("swe-agent-test-trajectories") else { return };
    let sessions = sessions_of(&dir);
    assert_eq!(sessions.len(), 3);
    let p = dream_over(&sessions, &DreamSpec::default());
    let wf: Vec<&str> = p.ops.iter().filter(|o| o.pass == "workflows").map(|o| o.text.as_str()).collect();
    assert_eq!(wf.len(), 1, "{wf:#?}");
    let w = wf[0];
    assert!(w.contains("run the script") && w.contains("`submit`"), "{w}");
    for name in ["reproduce_bug.py", "missing_colon.py"] {
        assert!(!w.contains(name), "a script of one run: {w}");
    }
}

/// Project requirements on every real source: each op of the requirements
/// pass is a labelled lesson (never junk or wrong), leaks no session value,
/// and cites only what the operator typed (a user message or his words in a
/// tool result); the customers of the service agents require nothing. On
/// codemie-code the operator's recurring design requirements are found.
#[test]
fn project_requirements_are_lessons_quoting_the_operator_only() {
    use nocturne_core::{EventKind, Role};
    use nocturne_quality::score;
    let Some(runs) = pass_on_spoken_sources("requirements") else { return };
    for (name, ex, sessions, ops) in runs {
        println!("{name}: {} requirement ops", ops.len());
        if name.starts_with("tau") {
            assert!(ops.is_empty(), "{name}: customers require nothing: {ops:#?}");
        }
        let mut found = Vec::new();
        for o in &ops {
            let class = score::classify(&ex, &o.text);
            let score::Class::Lesson { ids } = &class else { panic!("{name}: {:?} is {}", o.text, class.label()) };
            found.extend(ids.iter().cloned());
            assert!(ex.leaks().find(&o.text).is_empty(), "{name}: {:?} leaks", o.text);
            assert!(o.text.chars().count() <= 200 && o.support >= 2, "{}", o.text);
            for e in &o.evidence {
                let s = sessions.iter().find(|s| s.id == e.session).unwrap();
                let ev = &s.events[e.events[0] as usize];
                let operator =
                    (ev.kind == EventKind::UserMessage && ev.role == Role::User) || ev.kind == EventKind::ToolResult;
                assert!(operator, "{name}: {:?} cites a {:?}/{:?} event", e.quote, ev.role, ev.kind);
                let operator_session = matches!(s.counterpart, None | Some(nocturne_core::Counterpart::Operator));
                assert!(operator_session && s.subagent.is_none(), "{name}: not an operator's session");
            }
        }
        if name == "codemie-code" {
            found.sort();
            assert_eq!(found, vec!["codemie-agent-agnostic-core", "codemie-sync-incremental"], "{ops:#?}");
        }
    }
}
