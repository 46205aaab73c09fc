//! Projects with the real binary: conventions a dream learned in one
//! checkout reach `nocturne context` run in that checkout, never in another
//! checkout of the same name; `--all-projects` names each memory's project;
//! the markdown export can hold one project's memories.
use crate::*;
use serde_json::json;

/// A Claude Code transcript recorded in `cwd` whose agent ran `cmd`, which worked.
fn transcript(id: &str, cwd: &Path, cmd: &str) -> String {
    let base = |uuid: &str, kind: &str, message: Value| {
        json!({"parentUuid": null, "isSidechain": false, "userType": "external", "cwd": cwd.to_str().unwrap(),
            "sessionId": id, "version": "2.1.14", "type": kind, "message": message, "uuid": uuid,
            "timestamp": "2026-03-01T10:00:00.000Z"})
        .to_string()
    };
    let call = json!({"id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": format!("toolu_{id}"), "name": "Bash", "input": {"command": cmd}}]});
    let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("toolu_{id}"),
        "content": "Tests: 12 passed"}]});
    cc::lines(&[
        base("u1", "user", json!({"role": "user", "content": format!("Fix the rounding of order {id}.")})),
        base("u2", "assistant", call),
        base("u3", "user", result),
    ])
}

/// Two checkouts named `app` (npm in one, cargo in the other), two sessions
/// each, ingested and dreamt with `--apply`. Returns both folders.
fn two_apps(env: &Env) -> (PathBuf, PathBuf) {
    let mk = |d: &str| {
        let p = env.path(d);
        std::fs::create_dir_all(&p).unwrap();
        p.canonicalize().unwrap()
    };
    let (a, b) = (mk("a/app"), mk("b/app"));
    for (id, dir, cmd) in
        [("a1", &a, "npm test"), ("a2", &a, "npm test"), ("b1", &b, "cargo test"), ("b2", &b, "cargo test")]
    {
        env.write(&format!("transcripts/{id}.jsonl"), &transcript(id, dir, cmd));
    }
    env.json(&["ingest", s(&env.path("transcripts"))]);
    env.json(&["dream", "--apply"]);
    (a, b)
}

fn context_in(env: &Env, dir: &Path, extra: &[&str]) -> String {
    let out = env.cmd(&[&["context", "run the tests"], extra].concat()).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn context_in_a_checkout_gets_its_conventions_not_those_of_another_checkout_of_the_same_name() {
    let env = Env::new();
    let (a, b) = two_apps(&env);
    let in_b = context_in(&env, &b, &[]);
    assert!(in_b.contains("In `app`, run the tests with `cargo test`."), "{in_b}");
    assert!(!in_b.contains("npm test"), "project a's command in project b's bundle:\n{in_b}");
    assert!(!in_b.contains(b.to_str().unwrap()), "no path in the bundle:\n{in_b}");
    // A sub-folder of the checkout is the checkout.
    let sub = b.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    assert!(context_in(&env, &sub, &[]).contains("cargo test"));
    // --project names another directory (or the id a bundle shows).
    let for_a = context_in(&env, &b, &["--project", a.to_str().unwrap()]);
    assert!(for_a.contains("npm test") && !for_a.contains("cargo test"), "{for_a}");
    // Elsewhere (the store's folder): neither, and the bundle says why.
    let elsewhere = context_in(&env, env.dir.path(), &[]);
    assert!(elsewhere.contains("belong to other projects"), "{elsewhere}");
    // Every project: both, each naming its project id, and the two ids differ.
    let all = context_in(&env, &b, &["--all-projects"]);
    let id_of = |cmd: &str| {
        let line = all.lines().find(|l| l.contains(cmd)).unwrap_or_else(|| panic!("{cmd} missing:\n{all}"));
        let at = line.find("project app#").unwrap_or_else(|| panic!("no project named: {line}"));
        line[at + "project ".len()..].split(';').next().unwrap().to_string()
    };
    let (ia, ib) = (id_of("npm test"), id_of("cargo test"));
    assert_ne!(ia, ib);
    let by_id = context_in(&env, env.dir.path(), &["--project", &ia]);
    assert!(by_id.contains("npm test") && !by_id.contains("cargo test"), "{by_id}");
    let j = env.json(&["context", "run the tests", "--project", b.to_str().unwrap()]);
    assert_eq!(j["project"], ib.as_str());
    // A relative --project is a folder under the current directory; an id must be whole.
    env.cmd(&["context", "x", "--project", "app#123"]).assert().code(2);
}

#[test]
fn the_markdown_export_holds_one_projects_memories() {
    let env = Env::new();
    let (a, _) = two_apps(&env);
    let out = env.cmd(&["export", "--format", "markdown", "--project", a.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("npm test") && !md.contains("cargo test"), "{md}");
    let all = String::from_utf8(env.cmd(&["export", "--format", "markdown"]).output().unwrap().stdout).unwrap();
    assert!(all.contains("npm test") && all.contains("cargo test") && all.contains("project:app#"), "{all}");
    let out = env.cmd(&["export", "--format", "json", "--project", a.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("markdown"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_memory_added_for_a_project_reaches_only_that_projects_bundles() {
    let env = Env::new();
    let (a, b) = two_apps(&env);
    let m = env.json(&[
        "memory",
        "add",
        "--kind",
        "fact",
        "--text",
        "The tests of this app need Redis on port 6380.",
        "--project",
        a.to_str().unwrap(),
    ]);
    let tags = m["memory"]["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t.as_str().unwrap().starts_with("project:app#")), "{m}");
    assert!(!m.to_string().contains(a.to_str().unwrap()), "no path stored: {m}");
    assert!(context_in(&env, &a, &[]).contains("Redis"));
    assert!(!context_in(&env, &b, &[]).contains("Redis"));
    env.cmd(&["memory", "add", "--kind", "fact", "--text", "x", "--tag", "project:/home/ana/app"]).assert().code(2);
}
