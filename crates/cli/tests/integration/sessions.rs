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
