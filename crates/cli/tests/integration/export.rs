use crate::*;

#[test]
fn json_export_imports_back_exactly_into_a_new_store() {
    let env = Env::new();
    let a = env.json(&[
        "memory",
        "add",
        "--kind",
        "preference",
        "--text",
        "Run the linter before every commit",
        "--scope",
        "team:shop",
    ]);
    let id = a["memory"]["id"].as_str().unwrap().to_string();
    env.json(&["memory", "add", "--kind", "fact", "--text", "CI runs on Node 20"]);
    env.json(&["memory", "retire", &id]);
    let file = env.path("memory.json");
    env.cmd(&["export", "--format", "json", "--out", s(&file)]).assert().success();
    let other = Env::new();
    let r = other.json(&["import", s(&file)]);
    assert_eq!(r["mode"], "restored");
    assert_eq!(other.json(&["memory", "list", "--all"]), env.json(&["memory", "list", "--all"]));
    assert_eq!(other.json(&["memory", "log"]), env.json(&["memory", "log"]));
    assert_eq!(other.json(&["memory", "history", &id]), env.json(&["memory", "history", &id]));
}

#[test]
fn markdown_export_groups_by_kind_with_the_highest_priority_first() {
    let env = Env::new();
    env.json(&["memory", "add", "--kind", "fact", "--text", "CI runs on Node 20"]);
    env.json(&["memory", "add", "--kind", "preference", "--text", "Prefer small commits", "--priority", "1"]);
    env.json(&[
        "memory",
        "add",
        "--kind",
        "preference",
        "--text",
        "Run the linter before every commit",
        "--priority",
        "5",
    ]);
    env.json(&["memory", "add", "--kind", "mistake", "--text", "npm test has no script; run npm run test:unit"]);
    let out = env.cmd(&["export", "--format", "markdown"]).output().unwrap();
    let md = String::from_utf8(out.stdout).unwrap();
    let pos = |s: &str| md.find(s).unwrap_or_else(|| panic!("{s} missing in:\n{md}"));
    assert!(pos("## Preferences") < pos("## Mistakes to avoid"));
    assert!(pos("## Mistakes to avoid") < pos("## Facts"));
    assert!(pos("Run the linter before every commit") < pos("Prefer small commits"));
    assert!(md.starts_with("# Agent memory"));
}

#[test]
fn importing_a_file_that_is_not_an_export_says_so() {
    let env = Env::new();
    let f = env.write("x.json", "{\"messages\": []}");
    let out = env.cmd(&["import", s(&f)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Nocturne export"));
}

#[test]
fn a_json_export_with_sessions_restores_the_log_and_its_sub_agent_tree() {
    let env = Env::new();
    env.json(&["ingest", s(&cc::project(&env, "proj"))]);
    env.json(&["memory", "add", "--kind", "fact", "--text", "The cart tests are in tests/cart/"]);
    // Without --sessions the export is memory and outcomes only (redacted, shareable).
    let plain = env.path("memory.json");
    env.cmd(&["export", "--format", "json", "--out", s(&plain)]).assert().success();
    let doc: Value = serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    assert!(doc.get("sessions").is_none(), "no session log unless asked for");
    let full = env.path("backup.json");
    env.cmd(&["export", "--format", "json", "--sessions", "--out", s(&full)]).assert().success();
    let doc: Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    assert_eq!(doc["version"], 4);
    let child = doc["sessions"].as_array().unwrap().iter().find(|x| x["id"] == "s-main/agent-a1").unwrap();
    assert_eq!(child["parent"], "s-main");
    let other = Env::new();
    let r = other.json(&["import", s(&full)]);
    assert_eq!(r["sessions_added"], 5);
    assert_eq!(
        other.json(&["sessions", "list"]),
        env.json(&["sessions", "list"]),
        "headers, parents, chains and times"
    );
    assert_eq!(other.json(&["sessions", "show", "s-main"]), env.json(&["sessions", "show", "s-main"]));
    assert_eq!(other.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
    // Importing it again adds nothing; an edited event refuses the document.
    assert_eq!(other.json(&["import", s(&full)])["sessions_skipped"], 5);
    let text = std::fs::read_to_string(&full).unwrap().replace("They are in tests/cart/.", "They are elsewhere.");
    let edited = env.write("edited.json", &text);
    let third = Env::new();
    third
        .cmd(&["import", s(&edited)])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("does not match its hash chain"));
    assert_eq!(third.json(&["sessions", "list"]), serde_json::json!([]), "nothing imported from an edited document");
}
