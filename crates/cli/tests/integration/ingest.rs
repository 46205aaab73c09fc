use crate::*;
use predicates::str::contains;

#[test]
fn ingesting_every_real_format_reports_what_was_added() {
    let env = Env::new();
    let out = env.json(&["ingest", s(&samples())]);
    assert_eq!(out["totals"]["sessions_added"], 5);
    assert_eq!(out["totals"]["sessions_unchanged"], 0);
    assert!(out["totals"]["events_added"].as_u64().unwrap() > 50);
    assert_eq!(out["refused"], serde_json::json!([]));
    let per_file: u64 = out["files"].as_array().unwrap().iter().map(|f| f["events_added"].as_u64().unwrap()).sum();
    assert_eq!(per_file, out["totals"]["events_added"].as_u64().unwrap(), "the files add up to the totals");
    let list = env.json(&["sessions", "list"]);
    let formats: std::collections::BTreeSet<&str> =
        list.as_array().unwrap().iter().map(|s| s["format"].as_str().unwrap()).collect();
    assert_eq!(formats.into_iter().collect::<Vec<_>>(), ["anthropic", "claude-code", "nocturne", "openai"]);
}

#[test]
fn ingesting_the_same_files_twice_adds_nothing() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    let before = env.json(&["sessions", "list"]);
    let again = env.json(&["ingest", s(&samples())]);
    assert_eq!(again["totals"]["sessions_added"], 0);
    assert_eq!(again["totals"]["sessions_unchanged"], 5);
    assert_eq!(again["totals"]["events_added"], 0);
    for f in again["files"].as_array().unwrap() {
        assert!(f["sessions"].as_array().unwrap().iter().all(|s| s["result"] == "unchanged"), "{f}");
    }
    assert_eq!(env.json(&["sessions", "list"]), before, "nothing changed");
    let human = env.cmd(&["ingest", s(&samples())]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("5 files already stored, nothing new"), "{text}");
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
    assert_eq!(out.status.code(), Some(2), "a malformed file is invalid input: exit 2");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["sessions_added"], 1);
    assert_eq!(v["totals"]["files_refused"], 1);
    let rej = &v["refused"][0];
    assert_eq!(rej["file"], s(&bad));
    assert_eq!(rej["line"], 3);
    assert!(!rej["reason"].as_str().unwrap().is_empty());
    let entry = v["files"].as_array().unwrap().iter().find(|f| f["file"] == s(&bad)).unwrap().clone();
    assert_eq!(entry["status"], "refused");
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
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if nocturne_service::classify_path(&name) == nocturne_service::PathKind::SubagentMeta {
            // A sidecar is read with its transcript, never on its own (see the sub-agent tests).
            env.cmd(&["ingest", s(&p)]).assert().code(0);
            continue;
        }
        if std::fs::read(&p).unwrap().iter().all(u8::is_ascii_whitespace) {
            // Claude Code leaves empty files: reported as empty, nothing wrong.
            env.cmd(&["ingest", s(&p)]).assert().code(0).stdout(contains(": empty"));
            continue;
        }
        let out = env.cmd(&["ingest", s(&p)]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", p.display());
        assert!(stderr.contains(p.file_name().unwrap().to_str().unwrap()), "the error names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(env.json(&["sessions", "list"]), before);
    let v = env.json(&["sessions", "verify"]);
    assert_eq!(v["failures"], serde_json::json!([]));
}

#[test]
fn a_missing_path_is_refused_once_and_the_other_paths_go_on() {
    let env = Env::new();
    let good = samples().join("nocturne-ana-17.jsonl");
    let out = env.cmd(&["ingest", "/nonexistent/transcripts", s(&good)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a path that is not there is invalid input");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: /nonexistent/transcripts: No such file or directory\n"), "{stderr}");
    assert!(!stderr.contains("os error"), "the reason is said once, plainly: {stderr}");
    let list = env.json(&["sessions", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "the good file was ingested");
}

#[test]
fn ingest_fixtures_of_every_format_and_edge_case_are_accepted() {
    let dir = ingest_fixtures();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    assert!(files.len() >= 6);
    // Each on its own: some fixtures are variants of one session (same id,
    // other content), which one run refuses together (see below).
    for f in &files {
        let env = Env::new();
        let out = env.json(&["ingest", s(f)]);
        assert_eq!(out["refused"], serde_json::json!([]), "{}", f.display());
        assert!(out["totals"]["sessions_added"].as_u64().unwrap() >= 1, "{}", f.display());
    }
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

fn ingest_json(env: &Env, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["ingest"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = env.cmd(&all).timeout(std::time::Duration::from_secs(60)).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn file_entry<'a>(rep: &'a Value, name: &str) -> &'a Value {
    rep["files"].as_array().unwrap().iter().find(|f| f["file"].as_str().unwrap().ends_with(name)).unwrap()
}

/// `(id, head hash, parent, events)` of every stored session.
fn stored(env: &Env) -> Vec<(String, String, Value, u64)> {
    let mut v: Vec<_> = env
        .json(&["sessions", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["head_hash"].as_str().unwrap().to_string(),
                s["parent"].clone(),
                s["event_count"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn sub_agents_of_both_layouts_are_stored_as_children_and_nothing_is_lost() {
    let env = Env::new();
    let dir = cc::project(&env, "proj");
    let (code, rep, stderr) = ingest_json(&env, &[s(&dir)]);
    assert_eq!(code, Some(0), "{stderr}\n{rep}");
    let ids: Vec<String> = stored(&env).into_iter().map(|x| x.0).collect();
    assert_eq!(ids, ["s-gone/agent-z9", "s-main", "s-main/agent-a1", "s-new", "s-new/agent-b2c3d4e5f6a7b8c9d"]);
    let main = env.json(&["sessions", "show", "s-main"]);
    assert_eq!(
        main["session"]["event_count"], 4,
        "the main transcript keeps every message (the progress line is skipped)"
    );
    let old = env.json(&["sessions", "show", "s-main/agent-a1"]);
    assert_eq!(old["session"]["parent"], "s-main");
    assert_eq!(old["session"]["subagent"]["agent_id"], "a1");
    assert_eq!((&old["parent"]["id"], &old["parent"]["stored"]), (&Value::from("s-main"), &Value::from(true)));
    let new = env.json(&["sessions", "show", "s-new/agent-b2c3d4e5f6a7b8c9d"]);
    assert_eq!(new["session"]["parent"], "s-new");
    assert_eq!(new["session"]["subagent"]["agent_type"], "Plan", "from the .meta.json sidecar");
    assert_eq!(new["session"]["subagent"]["description"], "Plan the work");
    let orphan = env.json(&["sessions", "show", "s-gone/agent-z9"]);
    assert_eq!(orphan["session"]["parent"], "s-gone", "the parent id is recorded although it is not stored");
    assert_eq!(orphan["parent"]["stored"], false);
    // The report: per file, children linked, skipped records by kind, the empty file.
    assert_eq!(rep["totals"]["children_linked"], 3);
    assert_eq!(rep["totals"]["sessions_added"], 5);
    assert_eq!(file_entry(&rep, "agent-a1.jsonl")["children_linked"], 1);
    assert_eq!(file_entry(&rep, "s-main.jsonl")["skipped"]["progress"], 1);
    assert_eq!(file_entry(&rep, "s-main.jsonl")["records"], 5);
    assert_eq!(file_entry(&rep, "empty.jsonl")["status"], "empty");
    assert_eq!(rep["totals"]["files_empty"], 1);
    assert_eq!(rep["refused"], serde_json::json!([]), "an empty file and a sidecar are not refused");
    assert!(rep["files"].as_array().unwrap().iter().all(|f| !f["file"].as_str().unwrap().ends_with(".meta.json")));
    let human = env.cmd(&["ingest", s(&dir)]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("empty.jsonl: empty"), "{text}");
}

#[test]
fn files_read_in_any_order_give_the_same_sessions_chains_and_parents() {
    let (a, b) = (Env::new(), Env::new());
    let dir = cc::project(&a, "proj");
    let mut files: Vec<String> = Vec::new();
    for rel in [
        "agent-z9.jsonl",
        "s-new/subagents/agent-b2c3d4e5f6a7b8c9d.jsonl",
        "agent-a1.jsonl",
        "s-new.jsonl",
        "s-main.jsonl",
    ] {
        files.push(s(&dir.join(rel)).to_string());
    }
    let fwd: Vec<&str> = files.iter().map(String::as_str).collect();
    let rev: Vec<&str> = files.iter().rev().map(String::as_str).collect();
    assert_eq!(ingest_json(&a, &fwd).0, Some(0));
    assert_eq!(ingest_json(&b, &rev).0, Some(0));
    assert_eq!(stored(&a), stored(&b));
    assert_eq!(stored(&a).len(), 5);
}

#[test]
fn a_file_that_grew_extends_its_session_and_a_changed_one_is_refused() {
    let env = Env::new();
    let first = [
        cc::user("grow", "g1", "Run the tests.", None),
        cc::assistant("grow", "g2", "Running them.", None),
        cc::user("grow", "g3", "And the linter.", None),
    ];
    let f = env.write("live/grow.jsonl", &cc::lines(&first));
    assert_eq!(ingest_json(&env, &[s(&f)]).0, Some(0));
    let before = env.json(&["sessions", "show", "grow"]);
    let mut more = first.to_vec();
    more.push(cc::assistant("grow", "g4", "Lint is clean.", None));
    more.push(cc::user("grow", "g5", "Thanks.", None));
    std::fs::write(&f, cc::lines(&more)).unwrap();
    let (code, rep, _) = ingest_json(&env, &[s(&f)]);
    assert_eq!(code, Some(0));
    assert_eq!(rep["totals"]["sessions_extended"], 1);
    assert_eq!(rep["totals"]["events_added"], 2, "exactly the two new lines");
    let sess = &file_entry(&rep, "grow.jsonl")["sessions"][0];
    assert_eq!((sess["result"].as_str(), sess["events_added"].as_u64()), (Some("extended"), Some(2)));
    let after = env.json(&["sessions", "show", "grow"]);
    assert_eq!(
        after["events"].as_array().unwrap()[..3],
        before["events"].as_array().unwrap()[..],
        "stored events unchanged"
    );
    assert_eq!(after["events"][4]["text"], "Thanks.");
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
    // Nothing new: nothing happens.
    let (_, again, _) = ingest_json(&env, &[s(&f)]);
    assert_eq!(
        (again["totals"]["events_added"].as_u64(), again["totals"]["sessions_unchanged"].as_u64()),
        (Some(0), Some(1))
    );
    // An already-stored line changed: refused, naming the event and the line; the log is not rewritten.
    let stored_before = stored(&env);
    more[1] = cc::assistant("grow", "g2", "Running them (edited).", None);
    std::fs::write(&f, cc::lines(&more)).unwrap();
    let (code, rep, _) = ingest_json(&env, &[s(&f)]);
    assert_eq!(code, Some(1), "a session in conflict with the stored one fails the run: exit 1");
    let r = &rep["refused"][0];
    assert_eq!(
        (r["session"].as_str(), r["event"].as_u64(), r["line"].as_u64()),
        (Some("grow"), Some(1), Some(2)),
        "{r}"
    );
    assert!(r["reason"].as_str().unwrap().contains("stored event 1 (line 2) changed"), "{r}");
    let human = env.cmd(&["ingest", s(&f)]).output().unwrap();
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(stderr.contains("grow.jsonl:2: session grow: stored event 1 (line 2) changed"), "{stderr}");
    assert_eq!(stored(&env), stored_before);
    // A line gone (the file truncated) is refused the same way.
    std::fs::write(&f, cc::lines(&more[..1])).unwrap();
    let (code, rep, _) = ingest_json(&env, &[s(&f)]);
    assert_eq!(code, Some(1));
    assert!(rep["refused"][0]["reason"].as_str().unwrap().contains("is no longer in the file"), "{rep}");
    assert_eq!(stored(&env), stored_before);
}

#[test]
fn the_same_session_with_different_content_in_two_files_is_refused_naming_both() {
    for order in [false, true] {
        let env = Env::new();
        let a = env.write("x/a.jsonl", &cc::lines(&[cc::user("dup", "d1", "Version A.", None)]));
        let b = env.write("y/b.jsonl", &cc::lines(&[cc::user("dup", "d1", "Version B.", None)]));
        let (first, second) = if order { (&b, &a) } else { (&a, &b) };
        let (code, rep, _) = ingest_json(&env, &[s(first), s(second)]);
        assert_eq!(code, Some(1));
        let r = &rep["refused"][0];
        assert_eq!(r["session"], "dup");
        let named = format!("{} {}", r["file"], r["reason"]);
        assert!(named.contains("a.jsonl") && named.contains("b.jsonl"), "both files named: {named}");
        assert!(named.contains("neither copy was stored"), "{named}");
        assert!(stored(&env).is_empty(), "neither copy is stored, whatever the order");
    }
    // An identical copy is a duplicate, not an error.
    let env = Env::new();
    let text = cc::lines(&[cc::user("same", "s1", "Hello.", None), cc::assistant("same", "s2", "Hi.", None)]);
    let a = env.write("x/a.jsonl", &text);
    let b = env.write("y/a.jsonl", &text);
    let (code, rep, _) = ingest_json(&env, &[s(&a), s(&b)]);
    assert_eq!(code, Some(0));
    assert_eq!(file_entry(&rep, "y/a.jsonl")["sessions"][0]["result"], "duplicate");
    assert_eq!(rep["totals"]["sessions_added"], 1);
}

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_transcript_is_reported_and_does_not_hang_ingest() {
    let env = Env::new();
    let good = env.write("in/good.jsonl", &cc::lines(&[cc::user("ok", "o1", "Hello.", None)]));
    let fifo = env.path("in/pipe.jsonl");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    for target in [good.parent().unwrap().to_path_buf(), fifo.clone()] {
        let (code, rep, stderr) = ingest_json(&env, &[s(&target)]);
        assert_eq!(code, Some(2), "{stderr}");
        let r = rep["refused"].as_array().unwrap().iter().find(|r| r["file"] == s(&fifo)).unwrap().clone();
        assert!(r["reason"].as_str().unwrap().contains("not a regular file (a FIFO)"), "{r}");
    }
    assert_eq!(stored(&env).len(), 1, "the regular file beside it was ingested");
}

#[test]
fn a_failed_extension_leaves_the_session_as_it_was() {
    let env = Env::new();
    let mut ls = vec![cc::user("f", "f1", "One.", None), cc::assistant("f", "f2", "Two.", None)];
    let f = env.write("live/f.jsonl", &cc::lines(&ls));
    assert_eq!(ingest_json(&env, &[s(&f)]).0, Some(0));
    let before = stored(&env);
    ls.extend([
        cc::user("f", "f3", "Three.", None),
        cc::assistant("f", "f4", "Four.", None),
        cc::user("f", "f5", "Five.", None),
    ]);
    std::fs::write(&f, cc::lines(&ls)).unwrap();
    // The disk "fails" in the middle of the extension: after the first new event is written.
    let c = rusqlite::Connection::open(env.store()).unwrap();
    c.execute_batch(
        "CREATE TRIGGER fault BEFORE INSERT ON events WHEN (NEW.id & 16777215) >= 3 \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .unwrap();
    drop(c);
    let out = env.cmd(&["ingest", s(&f)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("injected fault"));
    assert_eq!(stored(&env), before, "count and chain head as before the failed extension");
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
    let c = rusqlite::Connection::open(env.store()).unwrap();
    c.execute_batch("DROP TRIGGER fault;").unwrap();
    drop(c);
    let (code, rep, _) = ingest_json(&env, &[s(&f)]);
    assert_eq!((code, rep["totals"]["events_added"].as_u64()), (Some(0), Some(3)), "the next ingest extends it");
}

/// The reproduction: two files whose numeric ids differ only past the 17th
/// digit. Both were `1.2345678901234568e+22` and the second was dropped; each
/// is now its own session, under the id as written.
#[test]
fn numeric_ids_that_differ_past_float_precision_are_two_sessions_with_their_exact_ids() {
    let env = Env::new();
    let ids = ["12345678901234567890123", "12345678901234567890124"];
    let mut files = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let doc = format!(r#"{{"id": {id}, "messages": [{{"role": "user", "content": "Hello from file {n}"}}]}}"#);
        files.push(env.write(&format!("chat-{n}.json"), &doc));
    }
    let out = env.json(&["ingest", s(&files[0]), s(&files[1])]);
    assert_eq!(out["refused"], serde_json::json!([]), "{out}");
    assert_eq!(out["totals"]["sessions_added"], 2, "{out}");
    let list = env.json(&["sessions", "list"]);
    let mut got: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, ids);
    let shown = env.json(&["sessions", "show", ids[1]]);
    assert!(shown.to_string().contains("Hello from file 1"), "{shown}");
}
