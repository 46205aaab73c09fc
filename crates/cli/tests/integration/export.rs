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
    assert_eq!(doc["version"], 5);
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

/// A store with the sample sessions, a memory, a second revision and an
/// outcome; and its JSON export (parsed).
fn exported_store() -> (Env, Value) {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    let m = env.json(&["memory", "add", "--kind", "fact", "--text", "CI runs on Node 20"]);
    let id = m["memory"]["id"].as_str().unwrap().to_string();
    env.json(&["memory", "edit", &id, "--priority", "2"]);
    env.json(&["outcome", "log", "sess-invoice-dates", "--set", "result=success", "--comment", "clean fix"]);
    let file = env.path("export.json");
    env.cmd(&["export", "--out", s(&file)]).assert().success();
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    (env, doc)
}

/// A store with the sample sessions and nothing else.
fn sessions_only() -> Env {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    env
}

/// What a store holds besides its sessions, as the user lists it.
fn contents(env: &Env) -> Value {
    let doc: Value = serde_json::from_slice(&env.cmd(&["export"]).output().unwrap().stdout).unwrap();
    serde_json::json!({
        "memories": doc["memories"], "revisions": doc["revisions"],
        "taxonomies": doc["taxonomies"], "outcomes": doc["outcomes"],
    })
}

/// Imports `doc` into `into`; asserts exit 2 with a message naming the file
/// and saying `says`, and that nothing was written.
fn refused(into: &Env, doc: &Value, says: &str) {
    let before = contents(into);
    let f = into.write("edited.json", &serde_json::to_string_pretty(doc).unwrap());
    let out = into.cmd(&["import", s(&f)]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit 2 for a bad file, got {:?}: {err}", out.status.code());
    assert!(err.contains(s(&f)), "the message names the file: {err}");
    assert!(err.contains(says), "the message says {says:?}: {err}");
    assert!(!err.contains("corrupt"), "a bad file is not a corrupt store: {err}");
    assert_eq!(contents(into), before, "nothing written by a refused import ({says})");
}

#[test]
fn a_refused_import_leaves_no_outcome_taxonomy_or_revision_behind() {
    let (_env, doc) = exported_store();
    let into = sessions_only();
    // Revisions that do not number 1, 2: refused before the outcomes and
    // the taxonomy (which are fine) are written.
    let mut bad = doc.clone();
    bad["revisions"][1]["rev"] = 5.into();
    refused(&into, &bad, "revision 5 is listed where revision 2 belongs");
    assert_eq!(into.json(&["outcomes", "list"]), serde_json::json!([]));
    // The next good import restores everything, and only what the file has.
    let f = into.write("good.json", &serde_json::to_string(&doc).unwrap());
    let r = into.json(&["import", s(&f)]);
    assert_eq!(
        (r["mode"].as_str(), r["outcomes_added"].as_u64(), r["tamper_evident"].as_bool()),
        (Some("restored"), Some(1), Some(true))
    );
    assert_eq!(into.json(&["outcomes", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn an_edited_or_forged_export_is_refused_saying_what_differs() {
    let (_env, doc) = exported_store();
    let into = sessions_only();
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "text edited consistently in the memory and its revisions",
            |d| {
                d["memories"][0]["text"] = "CI runs on Node 18".into();
                for r in d["revisions"].as_array_mut().unwrap() {
                    for c in r["changes"].as_array_mut().unwrap() {
                        for side in ["before", "after"] {
                            if c[side].is_object() {
                                c[side]["text"] = "CI runs on Node 18".into();
                            }
                        }
                    }
                }
            },
            "revision 1 (by user:tester, \"add memory\"",
        ),
        ("a forged author", |d| d["revisions"][1]["author"] = "user:boss".into(), "revision 2 (by user:boss"),
        (
            "a forged reason",
            |d| d["revisions"][0]["reason"] = "approved by security".into(),
            "\"approved by security\"",
        ),
        (
            "a forged date",
            |d| d["revisions"][0]["created_at"] = "2020-01-01T00:00:00Z".into(),
            "2020-01-01T00:00:00Z) does not match its digest",
        ),
        (
            "an edited outcome",
            |d| d["outcomes"][0]["value"] = "failure".into(),
            "outcome 1 (session sess-invoice-dates",
        ),
        (
            "an outcome removed",
            |d| drop(d["outcomes"].as_array_mut().unwrap().pop()),
            "the document digest does not match",
        ),
        ("head_revision 99", |d| d["head_revision"] = 99.into(), "head_revision is 99 but the last revision is 2"),
        (
            "a memory kind that is not [a-z0-9_-]+",
            |d| {
                d["memories"][0]["kind"] = "<script>".into();
                d["revisions"][0]["changes"][0]["after"]["kind"] = "<script>".into();
            },
            "invalid memory kind \"<script>\"",
        ),
        (
            "a memory that differs from its revisions",
            |d| d["memories"][0]["priority"] = 7.into(),
            "differs from what the revisions made it, in its priority",
        ),
        (
            "a digest removed",
            |d| drop(d["revisions"][0].as_object_mut().unwrap().remove("digest")),
            "revision 1 (by user:tester, \"add memory\"",
        ),
        (
            "an outcome for another taxonomy",
            |d| d["outcomes"][0]["taxonomy_version"] = 3.into(),
            "taxonomy version 3, which the file does not have",
        ),
        ("not JSON", |d| *d = Value::String("{".into()), "not a Nocturne export"),
    ];
    for (what, edit, says) in cases {
        let mut d = doc.clone();
        edit(&mut d);
        eprintln!("case: {what}");
        refused(&into, &d, says);
    }
}

#[test]
fn outcomes_for_sessions_that_do_not_exist_are_refused() {
    let (_env, doc) = exported_store();
    // A store without the sessions: the outcome is about nothing it has.
    refused(
        &Env::new(),
        &doc,
        "outcome 1 is about session sess-invoice-dates, which is neither in the file nor in the store",
    );
}

#[test]
fn an_export_without_digests_is_imported_only_when_allowed_and_with_a_warning() {
    let (env, doc) = exported_store();
    // What a version 4 export (before digests) looks like.
    let mut old = doc.clone();
    old["version"] = 4.into();
    old.as_object_mut().unwrap().remove("digest");
    for list in ["revisions", "taxonomies", "outcomes"] {
        for e in old[list].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("digest");
        }
    }
    let into = sessions_only();
    refused(&into, &old, "--allow-undigested");
    let f = into.path("edited.json");
    let out = into.cmd(&["import", s(&f), "--allow-undigested", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["tamper_evident"], false);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: ")
            && r["warnings"][0].as_str().unwrap().contains("cannot be detected")
    );
    assert_eq!(into.json(&["memory", "log"]), env.json(&["memory", "log"]));
    // Even allowed, an old export is checked for consistency.
    let mut bad = old.clone();
    bad["head_revision"] = 99.into();
    let f = into.write("bad-old.json", &bad.to_string());
    into.cmd(&["import", s(&f), "--allow-undigested"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("head_revision is 99"));
}

/// An input file that is not there is invalid input (exit 2) said once:
/// `cannot read PATH: No such file or directory`, never the platform's
/// `(os error 2)` nor the reason twice, for every command that reads one.
#[test]
fn an_input_file_that_is_not_there_is_invalid_input_said_once() {
    let env = Env::new();
    let gone = env.path("gone.json");
    let g = s(&gone);
    for args in [
        vec!["import", g],
        vec!["outcomes", "import", g],
        vec!["outcomes", "taxonomy", "set", g],
        vec!["dream", "--instructions", g],
    ] {
        let out = env.cmd(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err, format!("error: cannot read {g}: No such file or directory\n"), "{args:?}");
        let out = env.cmd(&args).arg("--json").output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], "invalid_input", "{args:?}");
    }
    // A folder given as a file is refused the same way.
    let out = env.cmd(&["import", s(env.dir.path())]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("os error"));
}
