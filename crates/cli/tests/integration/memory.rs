use crate::*;
use predicates::str::contains;

fn add(env: &Env, kind: &str, text: &str) -> String {
    let v = env.json(&["memory", "add", "--kind", kind, "--text", text]);
    v["memory"]["id"].as_str().unwrap().to_string()
}

#[test]
fn every_change_is_a_numbered_revision_with_author_and_before_after() {
    let env = Env::new();
    let id = add(&env, "preference", "Use pnpm, not npm");
    env.json(&["memory", "edit", &id, "--text", "Use pnpm for every install", "--priority", "2"]);
    env.json(&["memory", "retire", &id, "--reason", "we moved to bun"]);
    let h = env.json(&["memory", "history", &id]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h.iter().map(|e| e["rev"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(h.iter().all(|e| e["author"] == "user:tester"));
    assert_eq!(h[0]["before"], Value::Null);
    assert_eq!(h[1]["before"]["text"], "Use pnpm, not npm");
    assert_eq!(h[1]["after"]["text"], "Use pnpm for every install");
    assert_eq!(h[2]["after"]["status"], "retired");
    // Retired memories are kept, and hidden from the default listing.
    assert_eq!(env.json(&["memory", "list"]).as_array().unwrap().len(), 0);
    assert_eq!(env.json(&["memory", "list", "--all"]).as_array().unwrap().len(), 1);
    assert_eq!(env.json(&["memory", "show", &id])["retired_reason"], "we moved to bun");
}

#[test]
fn rollback_restores_an_earlier_revision_and_is_itself_undoable() {
    let env = Env::new();
    let a = add(&env, "fact", "The API listens on port 8080");
    let at1 = env.json(&["memory", "list", "--all"]);
    add(&env, "mistake", "npm test has no script here; run npm run test:unit");
    env.json(&["memory", "edit", &a, "--text", "The API listens on port 9090"]);
    let at3 = env.json(&["memory", "list", "--all"]);
    let rb = env.json(&["memory", "rollback", "--to", "1"]);
    assert_eq!(rb["rev"], 4);
    assert_eq!(env.json(&["memory", "list", "--all"]), at1);
    env.json(&["memory", "rollback", "--to", "3"]);
    assert_eq!(env.json(&["memory", "list", "--all"]), at3);
    let log = env.json(&["memory", "log"]);
    assert_eq!(log.as_array().unwrap().len(), 5);
    assert_eq!(log[3]["reason"], "rollback to revision 1");
}

#[test]
fn expect_rev_refuses_a_write_when_the_store_moved() {
    let env = Env::new();
    add(&env, "fact", "one");
    env.cmd(&["memory", "add", "--kind", "fact", "--text", "two", "--expect-rev", "0"])
        .assert()
        .code(1)
        .stderr(contains("expected revision 0, but it is at 1"));
    env.json(&["memory", "add", "--kind", "fact", "--text", "two", "--expect-rev", "1"]);
    let out = env
        .cmd(&["memory", "add", "--kind", "fact", "--text", "three", "--expect-rev", "1", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "conflict");
}

#[test]
fn bad_memory_input_is_refused_with_what_is_wrong() {
    let env = Env::new();
    env.cmd(&["memory", "add", "--kind", "Big Kind", "--text", "x"])
        .assert()
        .code(2)
        .stderr(contains("invalid memory kind"));
    env.cmd(&["memory", "add", "--kind", "fact", "--text", "x", "--scope", "galaxy:far"])
        .assert()
        .code(2)
        .stderr(contains("invalid scope"));
    env.cmd(&[
        "memory",
        "add",
        "--kind",
        "fact",
        "--text",
        "deploy with token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ])
    .assert()
    .code(2)
    .stderr(contains("secret"));
    env.cmd(&["memory", "show", "m-000000000000"]).assert().code(1).stderr(contains("not found"));
    env.cmd(&["memory", "rollback", "--to", "7"]).assert().code(2).stderr(contains("does not exist"));
}

#[test]
fn user_defined_kinds_and_scopes_are_kept() {
    let env = Env::new();
    let v = env.json(&[
        "memory",
        "add",
        "--kind",
        "runbook",
        "--text",
        "Restart the worker with systemctl restart shop-worker",
        "--scope",
        "team:ops",
        "--tag",
        "ops",
        "--tag",
        "worker",
    ]);
    assert_eq!(v["memory"]["kind"], "runbook");
    assert_eq!(v["memory"]["scope"], serde_json::json!({"level": "team", "name": "ops"}));
    assert_eq!(v["memory"]["tags"], serde_json::json!(["ops", "worker"]));
    let listed = env.json(&["memory", "list", "--scope", "team:ops"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn tokens_are_shown_once_and_stored_hashed() {
    let env = Env::new();
    let t = env.json(&["tokens", "create", "--scope", "write", "--team", "web"]);
    let secret = t["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("noc_") && secret.len() > 40);
    assert_eq!(t["team"], "web");
    let list = env.cmd(&["tokens", "list", "--json"]).output().unwrap();
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains(t["id"].as_str().unwrap()));
    assert!(!text.contains(&secret), "the secret is never shown again");
    let db = std::fs::read(env.store()).unwrap_or_default();
    let wal = std::fs::read(env.path("store.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is not stored");
    }
    env.json(&["tokens", "revoke", t["id"].as_str().unwrap()]);
    env.cmd(&["tokens", "create", "--scope", "superuser"]).assert().code(2).stderr(contains("read, write or admin"));
}
