use crate::*;
use predicates::str::contains;

#[test]
fn verify_passes_on_an_untouched_log_and_names_a_tampered_session() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    env.cmd(&["sessions", "verify"]).assert().success().stdout(contains("every hash chain matches"));
    {
        let conn = rusqlite_like_tamper(&env.store());
        drop(conn);
    }
    let out = env.cmd(&["sessions", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sess-invoice-dates"), "{text}");
    assert!(text.contains("1 sessions do NOT match"), "{text}");
}

/// Changes one stored event behind the program's back, as someone with the file could.
fn rusqlite_like_tamper(store: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(store).unwrap();
    c.execute_batch("DROP TRIGGER events_append_only_u").unwrap();
    let sid: i64 = c.query_row("SELECT rowid FROM sessions WHERE id = 'sess-invoice-dates'", [], |r| r.get(0)).unwrap();
    let n = c
        .execute(
            "UPDATE events SET text = replace(text, 'vitest', 'jest') WHERE id BETWEEN ?1 AND ?2",
            [sid << 24, (sid << 24) + 999],
        )
        .unwrap();
    assert!(n > 0);
    c
}

#[test]
fn sessions_list_filters_and_show_reads_events_back() {
    let env = Env::new();
    env.json(&["ingest", s(&samples().join("anthropic-bob-12.json")), "--user", "bob"]);
    env.json(&["ingest", s(&samples().join("openai-carol-14.json")), "--user", "carol"]);
    let bob = env.json(&["sessions", "list", "--user", "bob"]);
    assert_eq!(bob.as_array().unwrap().len(), 1);
    env.cmd(&["sessions", "show", "sess-invoice-dates"]).assert().success().stdout(contains("npm run test:unit"));
    env.cmd(&["sessions", "show", "nope"]).assert().code(1).stderr(contains("session nope not found"));
    env.cmd(&["sessions", "list", "--since", "yesterday"]).assert().code(2).stderr(contains("invalid date"));
}

#[test]
fn usage_errors_exit_with_2_and_help_has_examples() {
    let env = Env::new();
    env.cmd(&["memory", "add", "--text", "x"]).assert().code(2);
    env.cmd(&["--help"]).assert().success().stdout(contains("Examples:"));
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    // `nocturne sessions show ID --raw | head -1`: the reader goes away early.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nocturne"))
        .arg("--store")
        .arg(env.store())
        .args(["sessions", "show", "sess-invoice-dates", "--raw"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn sessions_list_shows_the_tree_and_show_lists_the_children_with_their_spawning_call() {
    let env = Env::new();
    let dir = cc::project(&env, "proj");
    env.json(&["ingest", s(&dir)]);
    // Flat: a parent column; JSON: the parent field.
    let flat = env.cmd(&["sessions", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&flat.stdout);
    assert!(text.lines().next().unwrap().contains("parent"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("s-main/agent-a1") && l.contains(" s-main ")), "{text}");
    let list = env.json(&["sessions", "list", "--parent", "s-main"]);
    let kids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(kids, ["s-main/agent-a1"]);
    // Tree: children indented under their parent; the orphan says its parent is not stored.
    let tree = env.cmd(&["sessions", "list", "--tree"]).output().unwrap();
    let text = String::from_utf8_lossy(&tree.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let at = |p: &str| lines.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{p} in\n{text}"));
    assert_eq!(at("  s-main/agent-a1"), at("s-main ") + 1, "{text}");
    assert_eq!(at("  s-new/agent-b2c3d4e5f6a7b8c9d"), at("s-new ") + 1, "{text}");
    assert!(lines[at("s-gone/agent-z9")].contains("parent s-gone (not stored)"), "{text}");
    let tree = env.json(&["sessions", "list", "--tree"]);
    let main = tree.as_array().unwrap().iter().find(|n| n["id"] == "s-main").unwrap();
    assert_eq!(main["children"][0]["id"], "s-main/agent-a1");
    // Show: the children with the call that spawned each, and what the sub-agent is.
    let show = env.json(&["sessions", "show", "s-new"]);
    let child = &show["children"][0];
    assert_eq!(child["session"]["id"], "s-new/agent-b2c3d4e5f6a7b8c9d");
    assert_eq!(child["spawned_by"]["tool_name"], "Task");
    assert_eq!(child["spawned_by"]["matched_by"], "agent_id");
    let call = &show["events"][child["spawned_by"]["seq"].as_u64().unwrap() as usize];
    assert_eq!(call["tool_use_id"], "toolu_02", "the spawning call is the parent's Task call");
    let human = env.cmd(&["sessions", "show", "s-new"]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("sub-agent sessions (1):"), "{text}");
    assert!(text.contains("[Plan] Plan the work") && text.contains("Task \"Plan the work\""), "{text}");
    let orphan = env.cmd(&["sessions", "show", "s-gone/agent-z9"]).output().unwrap();
    assert!(String::from_utf8_lossy(&orphan.stdout).contains("parent s-gone (not stored)"));
}

/// A transcript whose session id and text carry terminal escapes (colour,
/// clear screen, carriage return, a fake line): human output shows them
/// escaped; `--json` keeps them exactly.
#[test]
fn control_characters_in_ids_and_text_are_shown_escaped_never_sent_to_the_terminal() {
    let env = Env::new();
    let id = "evil\u{1b}[2J\r\nok-session";
    let line = |n: u32, role: &str, text: &str| {
        serde_json::json!({
            "type": role, "sessionId": id, "uuid": format!("u{n}"), "timestamp": format!("2026-11-0{n}T10:00:00Z"),
            "message": {"role": role, "content": text}
        })
        .to_string()
    };
    let file = env.write(
        "evil.jsonl",
        &format!("{}\n{}\n", line(1, "user", "hello \u{1b}[31mred\u{1b}[0m\rover"), line(2, "assistant", "done")),
    );
    env.json(&["ingest", s(&file)]);
    for args in [&["sessions", "list"][..], &["sessions", "list", "--tree"], &["sessions", "show", id]] {
        let out = env.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{args:?} printed raw control characters: {text:?}");
        assert!(text.contains("evil\\u{1b}[2J"), "{args:?} shows the escape: {text}");
    }
    let shown = String::from_utf8(env.cmd(&["sessions", "show", id]).output().unwrap().stdout).unwrap();
    assert!(shown.contains("session evil\\u{1b}[2J\\r\\nok-session\n"), "the id stays on its line: {shown}");
    // Machine output is exact.
    let list = env.json(&["sessions", "list"]);
    assert_eq!(list[0]["id"], id);
    // An error naming the id is escaped too.
    let out = env.cmd(&["sessions", "show", "gone\u{1b}[2J"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains('\u{1b}') && err.contains("gone\\u{1b}[2J"), "{err:?}");
}
