//! The mistakes pass on real transcripts written by other people
//! (`../shared/data/real-transcripts/`, see TEAM.md): concrete facts a user
//! would check in the proposal. Skipped with a notice when the folder is
//! absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use nocturne_core::{NewSession, Op, Proposal};
use nocturne_dream::{dream, DreamConfig, SessionOutcome, Snapshot};
use nocturne_ingest::{classify_path, parse_file, Format, Hints, PathKind};
use std::path::{Path, PathBuf};

fn data() -> Option<PathBuf> {
    nocturne_testdata::real_transcripts_or_skip(Path::new(env!("CARGO_MANIFEST_DIR")), "the dream's real-data checks")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every session of a source folder, as a folder walker reads it.
fn sessions(root: &Path, source: &str) -> Vec<NewSession> {
    let mut files = Vec::new();
    walk(&root.join(source), &mut files);
    let mut out: Vec<NewSession> = Vec::new();
    for f in files {
        let name = f.to_string_lossy().to_string();
        if classify_path(&name) != PathKind::Transcript {
            continue;
        }
        let meta = std::fs::read(f.with_extension("meta.json")).ok();
        let Ok(p) = parse_file(&name, &std::fs::read(&f).unwrap(), Format::Auto, &Hints { meta, parent: None }) else {
            continue;
        };
        for s in p.sessions {
            if !out.iter().any(|o| o.id == s.id) {
                out.push(s);
            }
        }
    }
    out
}

fn run(sessions: &[NewSession], min_support: u32) -> Proposal {
    let mut snap = Snapshot::from_new_sessions(0, sessions, Vec::new(), "2026-06-01T00:00:00Z");
    snap.outcomes = sessions
        .iter()
        .filter_map(|s| {
            Some((s.id.clone(), SessionOutcome { score: s.outcome.as_ref()?.score, label: "reward".into() }))
        })
        .collect();
    let cfg =
        DreamConfig { now: "2026-06-01T00:00:00Z".into(), min_support: Some(min_support), ..DreamConfig::default() };
    dream(&snap, &cfg, "real").unwrap()
}

fn mistakes(p: &Proposal) -> Vec<&Op> {
    p.ops.iter().filter(|o| o.pass == "mistakes").collect()
}

/// What holds for every proposal: short lessons without values of one
/// session, every quote verified.
fn check_common(p: &Proposal, never: &[&str]) {
    assert_eq!(p.stats.get("guardrail.dropped_unverified"), None, "the mistakes pass quotes only what events say");
    for o in mistakes(p) {
        assert!(o.text.chars().count() <= 200, "{}", o.text);
        let t = o.text.to_lowercase();
        assert!(!t.contains("[redacted"), "{}", o.text);
        for v in never {
            assert!(!t.contains(&v.to_lowercase()), "{v} in {}", o.text);
        }
        assert!(o.evidence.iter().all(|e| e.events.len() == 1), "one event per evidence: {:#?}", o.evidence);
    }
}

#[test]
fn claude_code_sessions_teach_read_before_edit() {
    let Some(root) = data() else { return };
    let p = run(&sessions(&root, "claude-code-log"), 3);
    check_common(&p, &["/Users/dain", "/home/cboos", "toolu_", "python-version-support"]);
    let m = mistakes(&p);
    let read_first = m
        .iter()
        .find(|o| o.text.contains("File has not been read yet") && o.text.contains("Read"))
        .unwrap_or_else(|| panic!("no Read-before-Edit lesson in {m:#?}"));
    assert!(read_first.tags.contains(&"before".to_string()), "relation {:?}", read_first.tags);
    assert!(read_first.support >= 3);
    // The rejected tool uses are no tool-error lessons.
    assert!(m.iter().all(|o| !o.text.contains("doesn't want to proceed")), "{m:#?}");
}

#[test]
fn service_agent_tool_errors_across_tasks_become_lessons() {
    let Some(root) = data() else { return };
    let ss = sessions(&root, "tau2-bench-retail");
    let p = run(&ss, 3);
    check_common(&p, &["@example.com", "#W", "daiki", "noah"]);
    let m = mistakes(&p);
    assert!(
        m.iter().any(|o| o.text.contains("find_user_id_by_email")
            && o.text.contains("User not found")
            && o.text.contains("find_user_id_by_name_zip")
            && o.tags.contains(&"instead".to_string())),
        "{m:#?}"
    );
    // Recurring in two simulations each: found when two sessions suffice.
    let p = run(&ss, 2);
    let m = mistakes(&p);
    let texts: Vec<&str> = m.iter().map(|o| o.text.as_str()).collect();
    assert!(m.len() >= 3, "{texts:#?}");
    assert!(
        texts.iter().any(|t| t.contains("modify_pending_order_items") && t.contains("get_product_details")),
        "{texts:#?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("`find_user_id_by_name_zip` fails")), "{texts:#?}");
}

#[test]
fn no_match_exits_and_red_tests_are_not_mistakes() {
    let Some(root) = data() else { return };
    // Codex reports rg's "no match" as exit code 1 and runs a deliberate red test.
    let p = run(&sessions(&root, "codemie-code"), 2);
    check_common(&p, &["/Users/user", "Sample_User", "Nikita"]);
    let m = mistakes(&p);
    assert!(m.iter().all(|o| !o.text.starts_with("`rg") && !o.text.contains("npm test")), "{m:#?}");
    assert!(m.iter().any(|o| o.text.contains("File does not exist")), "{m:#?}");
}

#[test]
fn aider_edit_errors_keep_their_hint() {
    let Some(root) = data() else { return };
    let p = run(&sessions(&root, "aider-chat-history"), 3);
    check_common(&p, &["/Users/gauthier", "tmp.bad-edit.md"]);
    let m = mistakes(&p);
    assert!(
        m.iter().any(|o| o.text.contains("SearchReplaceNoExactMatch") && o.text.contains("Did you mean")),
        "{m:#?}"
    );
    // API overloads are transient, not lessons.
    assert!(m.iter().all(|o| !o.text.to_lowercase().contains("overloaded")), "{m:#?}");
}

#[test]
fn a_warning_no_flag_reported_in_inline_python_becomes_the_escape_lesson() {
    let Some(root) = data() else { return };
    // `python -c "…!…"` through Claude Code's Bash: exit 0, the output ends
    // with `<string>:N: SyntaxWarning: invalid escape sequence '\!'` (one
    // session once, another five times).
    let p = run(&sessions(&root, "claude-code-log"), 2);
    check_common(&p, &["/Users/dain", "/home/cboos", "toolu_", "<string>:"]);
    let m = mistakes(&p);
    let bang = m
        .iter()
        .find(|o| o.text.contains("invalid escape sequence"))
        .unwrap_or_else(|| panic!("no escape lesson in {:#?}", m.iter().map(|o| &o.text).collect::<Vec<_>>()));
    assert_eq!(
        bang.text,
        "In Bash, `python -c \"…\"` with `!` inside double quotes gets `\\!` (SyntaxWarning: invalid escape sequence \
         '\\!'): avoid `!` in inline scripts, or use a heredoc or a file."
    );
    assert_eq!(bang.support, 2);
    assert!(
        bang.evidence.iter().all(|e| e.quote.ends_with("SyntaxWarning: invalid escape sequence '\\!'")),
        "each session's warning is quoted: {:#?}",
        bang.evidence
    );
}

#[test]
fn results_no_flag_reported_fail_only_when_they_show_the_agents_own_command_went_wrong() {
    let Some(root) = data() else { return };
    for source in ["claude-code-log", "codemie-code", "swe-agent-test-trajectories", "aider-chat-history"] {
        let ss = sessions(&root, source);
        let snap = Snapshot::from_new_sessions(0, &ss, Vec::new(), "2026-06-01T00:00:00Z");
        let cfg = DreamConfig { now: "2026-06-01T00:00:00Z".into(), ..DreamConfig::default() };
        let ctx = nocturne_dream::Context::build(&snap, &cfg);
        let silent: Vec<(String, String)> = ctx
            .sessions
            .iter()
            .flat_map(|s| s.actions.iter().filter(|a| a.silent).map(move |a| (s.id().to_string(), a)))
            .map(|(s, a)| (s, a.errors.first().map(|e| e.line.clone()).unwrap_or_default()))
            .collect();
        println!("{source}: {} failures no flag reported: {silent:#?}", silent.len());
        match source {
            // Only the inline scripts' escape warnings: not the files read
            // that contain "Error:" or tracebacks, not grep hits, not
            // `ls … || echo "Directory not found"`.
            "claude-code-log" => {
                assert_eq!(silent.len(), 6, "{silent:#?}");
                assert!(
                    silent.iter().all(|(_, l)| l.contains("SyntaxWarning: invalid escape sequence")),
                    "{silent:#?}"
                );
            }
            // Codex: node's NO_COLOR warning, rg output naming errors, a red test run (flagged by its exit code).
            _ => assert!(silent.is_empty(), "{source}: {silent:#?}"),
        }
    }
}

#[test]
fn the_step_service_agents_take_first_is_a_lesson_and_coding_agents_have_none() {
    let Some(root) = data() else { return };
    let gates = |p: &Proposal| p.ops.iter().filter(|o| o.pass == "gates").cloned().collect::<Vec<Op>>();
    let p = run(&sessions(&root, "tau2-bench-retail"), 2);
    let g = gates(&p);
    assert_eq!(g.len(), 1, "{g:#?}");
    let t = &g[0].text;
    assert!(t.contains("`find_user_id_by_email` or `find_user_id_by_name_zip` before `get_order_details`"), "{t}");
    assert!(t.contains("even when given an id") && t.contains("did; 6 did not"), "{t}");
    assert!(t.chars().count() <= 200, "{t}");
    assert_eq!(g[0].evidence.len(), 6, "{:#?}", g[0].evidence);
    assert!(g[0].evidence.iter().all(|e| e.quote.starts_with("get_") && e.quote.ends_with("_details")));
    // Dreaming again over the same sessions with the lesson applied: nothing new.
    let ss = sessions(&root, "tau2-bench-retail");
    let memories = support::apply(&p, &[], "2026-06-01T00:00:00Z");
    let snap = Snapshot::from_new_sessions(1, &ss, memories, "2026-06-01T00:00:00Z");
    let cfg = DreamConfig { now: "2026-06-02T00:00:00Z".into(), min_support: Some(2), ..DreamConfig::default() };
    let again = dream(&snap, &cfg, "again").unwrap();
    assert!(gates(&again).is_empty(), "{:#?}", gates(&again));
    // File reads, searches and shells take paths and commands, not ids
    // another call handed out: at the lowest support, still nothing.
    for source in ["claude-code-log", "codemie-code", "aider-chat-history", "swe-agent-test-trajectories"] {
        let p = run(&sessions(&root, source), 2);
        assert!(gates(&p).is_empty(), "{source}: {:#?}", gates(&p));
    }
}
