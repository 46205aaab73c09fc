use crate::*;
use predicates::str::contains;

#[test]
fn ingesting_every_real_format_reports_what_was_added() {
    let env = Env::new();
    let out = env.json(&["ingest", s(&samples())]);
    assert_eq!(out["sessions_added"], 5);
    assert_eq!(out["sessions_skipped"], 0);
    assert!(out["events_added"].as_u64().unwrap() > 50);
    assert_eq!(out["rejected"], serde_json::json!([]));
    let list = env.json(&["sessions", "list"]);
    let formats: std::collections::BTreeSet<&str> =
        list.as_array().unwrap().iter().map(|s| s["format"].as_str().unwrap()).collect();
    assert_eq!(formats.into_iter().collect::<Vec<_>>(), ["anthropic", "claude-code", "nocturne", "openai"]);
}

#[test]
fn ingesting_the_same_files_twice_adds_nothing() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    let again = env.json(&["ingest", s(&samples())]);
    assert_eq!(again["sessions_added"], 0);
    assert_eq!(again["sessions_skipped"], 5);
    assert_eq!(again["events_added"], 0);
}

#[test]
fn sessions_keep_the_id_their_source_gives_and_who_they_belong_to() {
    let env = Env::new();
    env.json(&[
        "ingest",
        s(&samples().join("anthropic-bob-12.json")),
        "--user",
        "bob",
        "--team",
        "shop",
        "--agent",
        "coder",
    ]);
    env.json(&["ingest", s(&samples().join("claude-code-ana-10.jsonl"))]);
    let bob = env.json(&["sessions", "show", "sess-invoice-dates"]);
    assert_eq!(bob["session"]["user"], "bob");
    assert_eq!(bob["session"]["team"], "shop");
    assert_eq!(bob["session"]["agent"], "coder");
    let cc = env.json(&["sessions", "show", "0b6c9a52-1f0e-4c1d-8f3a-2d9e7c4b1a01"]);
    let events = cc["events"].as_array().unwrap();
    let failed: Vec<&Value> = events.iter().filter(|e| e["is_error"] == true).collect();
    assert_eq!(failed.len(), 1, "the failed npm test is flagged");
    assert!(failed[0]["text"].as_str().unwrap().contains("Missing script"));
    assert!(events.iter().all(|e| !e["raw"].as_str().unwrap().is_empty()), "raw JSON kept");
}

#[test]
fn openai_tool_failures_are_recognized_from_their_text() {
    let env = Env::new();
    env.json(&["ingest", s(&samples().join("openai-carol-14.json"))]);
    let show = env.json(&["sessions", "show", "chat-usercard-rename"]);
    let errs: Vec<&Value> = show["events"].as_array().unwrap().iter().filter(|e| e["is_error"] == true).collect();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["kind"], "tool_result");
}

#[test]
fn a_malformed_file_is_refused_whole_with_file_and_line_and_the_others_go_on() {
    let env = Env::new();
    let good = env.write("in/good.jsonl", &std::fs::read_to_string(samples().join("nocturne-ana-17.jsonl")).unwrap());
    let bad = env.write(
        "in/bad.jsonl",
        "{\"nocturne\":\"session\",\"version\":1,\"id\":\"bad\"}\n{\"role\":\"user\",\"kind\":\"user_message\",\"text\":\"hi\"}\n{not json\n",
    );
    let out = env.cmd(&["ingest", s(good.parent().unwrap()), "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "non-zero exit when anything was refused");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions_added"], 1);
    let rej = &v["rejected"][0];
    assert_eq!(rej["file"], s(&bad));
    assert_eq!(rej["line"], 3);
    assert!(!rej["error"].as_str().unwrap().is_empty());
    // The refused session left nothing behind.
    env.cmd(&["sessions", "show", "bad"]).assert().code(1).stderr(contains("session bad not found"));
}

#[test]
fn every_malformed_fixture_is_refused_without_a_panic_and_earlier_data_is_kept() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    let before = env.json(&["sessions", "list"]);
    let dir = ingest_fixtures().join("malformed");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let out = env.cmd(&["ingest", s(&p)]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", p.display());
        assert!(stderr.contains(p.file_name().unwrap().to_str().unwrap()), "the error names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(env.json(&["sessions", "list"]), before);
    let v = env.json(&["sessions", "verify"]);
    assert_eq!(v["failures"], serde_json::json!([]));
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let env = Env::new();
    env.cmd(&["ingest", "/nonexistent/transcripts"]).assert().code(1).stderr(contains("/nonexistent/transcripts"));
}

#[test]
fn ingest_fixtures_of_every_format_and_edge_case_are_accepted() {
    let env = Env::new();
    let dir = ingest_fixtures();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    assert!(files.len() >= 6);
    let mut args = vec!["ingest".to_string()];
    args.extend(files.iter().map(|p| s(p).to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.json(&args);
    assert_eq!(out["rejected"], serde_json::json!([]));
    assert!(out["sessions_added"].as_u64().unwrap() >= files.len() as u64);
}

#[test]
fn edge_cases_survive_the_round_trip_through_the_binary() {
    let env = Env::new();
    let dir = ingest_fixtures();
    for f in ["claude-code.jsonl", "openai.json", "nocturne-empty.jsonl"] {
        env.json(&["ingest", s(&dir.join(f))]);
    }
    // Claude Code: sidechain (sub-agent) lines, thinking and image blocks kept raw.
    let cc = env.json(&["sessions", "show", "7f3c2a10-4b1e-4d6a-9c2f-1a2b3c4d5e6f"]);
    let events = cc["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["sidechain"] == true), "sidechain lines are kept and marked");
    let other: Vec<&Value> = events.iter().filter(|e| e["kind"] == "other").collect();
    assert!(other.iter().any(|e| e["raw"].as_str().unwrap().contains("\"thinking\"")), "thinking kept raw");
    assert!(other.iter().any(|e| e["raw"].as_str().unwrap().contains("\"image\"")), "image kept raw");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "tool_result"
                && e["raw"].as_str().unwrap().contains("\"content\":[{\"type\":\"text\"")),
        "a tool result given as a list of blocks is read"
    );
    // OpenAI: `arguments` that are not valid JSON are kept as given, not refused.
    let oa = env.json(&["sessions", "show", "chatcmpl-shop-0914"]);
    let calls: Vec<&Value> = oa["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "tool_call").collect();
    assert!(calls.iter().any(|c| c["tool_input"].as_str().unwrap().contains("test:unit")), "{calls:?}");
    // An empty session is a session with no events.
    let empty = env.json(&["sessions", "show", "empty-session"]);
    assert_eq!(empty["session"]["event_count"], 0);
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
}
