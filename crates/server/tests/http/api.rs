//! The REST endpoints against a real store.

use crate::{Env, Req};
use axum::http::{Method, StatusCode};
use nocturne_service::AccessLevel;
use serde_json::{json, Value};

#[tokio::test]
async fn an_ingested_transcript_reads_back_and_grows_with_appended_events() {
    let env = Env::new();
    let ids = env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let list = env.ok(Method::GET, "/v1/sessions", None).await;
    let listed: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "{id} in {listed:?}");
    }
    let ana = env.ok(Method::GET, "/v1/sessions?user=ana", None).await;
    assert_eq!(ana.as_array().unwrap().len(), 2);

    let one = env.ok(Method::GET, "/v1/sessions/cart-total-rounding", None).await;
    assert_eq!(one["session"]["team"], "shop");
    assert_eq!(one["session"]["user"], "ana");
    let n = one["events"].as_array().unwrap().len();
    assert_eq!(one["session"]["event_count"], n);
    assert_eq!(one["events"][0]["text"], "The cart total is off by a cent for some discounts. Fix the rounding.");

    // The same transcript again is skipped, not duplicated.
    let text = std::fs::read(crate::samples().join("nocturne-ana-17.jsonl")).unwrap();
    let again = env.send(Req::new(Method::POST, "/v1/sessions").token(&env.admin).raw(text)).await;
    assert_eq!(again.json()["totals"]["sessions_unchanged"], 1);

    let added = env
        .ok(
            Method::POST,
            "/v1/sessions/cart-total-rounding/events",
            Some(json!([{"role": "user", "kind": "user_message", "text": "Also round the tax line with banker's rounding."}])),
        )
        .await;
    assert_eq!(added["event_count"], n + 1);
    let one = env.ok(Method::GET, "/v1/sessions/cart-total-rounding", None).await;
    let last = &one["events"][n];
    assert_eq!(last["seq"], n);
    assert_eq!(last["text"], "Also round the tax line with banker's rounding.");
    let raw: serde_json::Value = serde_json::from_str(last["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["text"], "Also round the tax line with banker's rounding.", "raw keeps the event as sent");

    let hits = env.ok(Method::GET, "/v1/sessions/search?q=banker%27s%20rounding&k=3", None).await;
    assert_eq!(hits[0]["session"], "cart-total-rounding", "{hits}");
    assert_eq!(hits[0]["event"], n);
    let only = env.ok(Method::GET, "/v1/sessions/search?q=rounding&session=sess-invoice-dates", None).await;
    assert!(only.as_array().unwrap().iter().all(|h| h["session"] == "sess-invoice-dates"), "{only}");
}

#[tokio::test]
async fn a_malformed_transcript_is_refused_with_its_reason() {
    let env = Env::new();
    let r = env
        .send(Req::new(Method::POST, "/v1/sessions?format=nocturne").token(&env.admin).raw(b"{not json\n".to_vec()))
        .await;
    r.assert_error(400, "invalid_input");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("refused"), "{}", r.text());
    let r = env.send(Req::new(Method::POST, "/v1/sessions?format=cobol").token(&env.admin).raw(b"x".to_vec())).await;
    r.assert_error(400, "invalid_input");
    assert_eq!(env.ok(Method::GET, "/v1/sessions", None).await, json!([]));
}

#[tokio::test]
async fn memories_are_added_edited_retired_with_history_and_rolled_back() {
    let env = Env::new();
    let r = env
        .send(Req::new(Method::POST, "/v1/memories").token(&env.admin).json(json!({
            "kind": "preference", "text": "Use pnpm, not npm.", "tags": ["tooling"], "scope": "team:shop"
        })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    let id = v["memory"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["revision"], 1);
    assert_eq!(v["memory"]["scope"], json!({"level": "team", "name": "shop"}));

    let m = env.ok(Method::GET, &format!("/v1/memories/{id}"), None).await;
    assert_eq!(m["text"], "Use pnpm, not npm.");
    let e =
        env.ok(Method::PATCH, &format!("/v1/memories/{id}"), Some(json!({"text": "Use pnpm 9.", "priority": 2}))).await;
    assert_eq!(e["revision"], 2);
    assert_eq!(e["memory"]["text"], "Use pnpm 9.");
    assert_eq!(e["memory"]["priority"], 2);
    assert_eq!(e["memory"]["tags"], json!(["tooling"]), "fields left out are kept");

    let hits = env.ok(Method::GET, "/v1/memories/search?q=pnpm&k=5", None).await;
    assert_eq!(hits[0]["id"], id.as_str());

    let r =
        env.ok(Method::POST, &format!("/v1/memories/{id}/retire"), Some(json!({"reason": "we moved to bun"}))).await;
    assert_eq!(r["memory"]["status"], "retired");
    assert_eq!(env.ok(Method::GET, "/v1/memories", None).await, json!([]));
    let all = env.ok(Method::GET, "/v1/memories?all=true", None).await;
    assert_eq!(all[0]["retired_reason"], "we moved to bun");

    let h = env.ok(Method::GET, &format!("/v1/memories/{id}/history"), None).await;
    let revs: Vec<u64> = h.as_array().unwrap().iter().map(|e| e["rev"].as_u64().unwrap()).collect();
    assert_eq!(revs, [1, 2, 3]);
    assert_eq!(h[0]["before"], json!(null));
    assert_eq!(h[1]["before"]["text"], "Use pnpm, not npm.");
    assert_eq!(h[1]["after"]["text"], "Use pnpm 9.");
    assert!(h[0]["author"].as_str().unwrap().starts_with("token:tok-"), "{h}");

    let rb = env.ok(Method::POST, "/v1/rollback", Some(json!({"to": 1}))).await;
    assert_eq!(rb["rev"], 4);
    assert_eq!(rb["reason"], "rollback to revision 1");
    let m = env.ok(Method::GET, &format!("/v1/memories/{id}"), None).await;
    assert_eq!(m["text"], "Use pnpm, not npm.");
    assert_eq!(m["status"], "active");

    let md = env.send(Req::new(Method::GET, "/v1/export?format=markdown").token(&env.admin)).await;
    assert!(md.header("content-type").starts_with("text/markdown"));
    assert!(md.text().contains("- Use pnpm, not npm."), "{}", md.text());
    let doc = env.ok(Method::GET, "/v1/export", None).await;
    assert_eq!(doc["head_revision"], 4);
    assert_eq!(doc["revisions"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_dream_applied_with_only_changes_memory_as_a_revision_by_the_dream() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let p = env.ok(Method::POST, "/v1/dreams", Some(json!({}))).await;
    assert_eq!(p["status"], "pending");
    let ops = p["ops"].as_array().unwrap();
    assert!(ops.len() >= 2, "{p}");
    let id = p["id"].as_str().unwrap();
    assert_eq!(env.ok(Method::GET, "/v1/memories", None).await, json!([]), "a dream only proposes");
    let listed = env.ok(Method::GET, "/v1/dreams", None).await;
    assert_eq!(listed[0]["id"], id);

    let second = &ops[1];
    let rev = env.ok(Method::POST, &format!("/v1/dreams/{id}/apply"), Some(json!({"only": [second["n"]]}))).await;
    assert_eq!(rev["author"], format!("dream:{id}"));
    assert_eq!(rev["rev"], 1);
    let mems = env.ok(Method::GET, "/v1/memories", None).await;
    assert_eq!(mems.as_array().unwrap().len(), 1);
    assert_eq!(mems[0]["text"], second["text"]);
    let mid = mems[0]["id"].as_str().unwrap();
    let h = env.ok(Method::GET, &format!("/v1/memories/{mid}/history"), None).await;
    assert_eq!(h[0]["author"], format!("dream:{id}"));
    let shown = env.ok(Method::GET, &format!("/v1/dreams/{id}"), None).await;
    assert_eq!(shown["status"], "applied");
    assert_eq!(shown["applied_revision"], 1);

    // Applying again, or rejecting an applied dream, conflicts.
    let r = env.send(Req::new(Method::POST, &format!("/v1/dreams/{id}/apply")).token(&env.admin)).await;
    r.assert_error(409, "conflict");
    let r = env.send(Req::new(Method::POST, &format!("/v1/dreams/{id}/reject")).token(&env.admin)).await;
    r.assert_error(409, "conflict");

    // A misspelt key is refused, not ignored.
    let r = env.send(Req::new(Method::POST, "/v1/dreams").token(&env.admin).json(json!({"focsu": ["mistake"]}))).await;
    r.assert_error(400, "invalid_input");
    let p2 = env.ok(Method::POST, "/v1/dreams", Some(json!({"focus": ["mistake"]}))).await;
    let id2 = p2["id"].as_str().unwrap();
    assert_ne!(id2, id);
    let rej = env.ok(Method::POST, &format!("/v1/dreams/{id2}/reject"), None).await;
    assert_eq!(rej["status"], "rejected");
}

#[tokio::test]
async fn outcomes_are_logged_listed_and_counted_and_the_taxonomy_versioned() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let r = env
        .send(Req::new(Method::POST, "/v1/outcomes").token(&env.admin).json(json!({
            "session": "cart-total-rounding", "set": ["result=success", "user_rating=4"], "comment": "merged"
        })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let list = env.ok(Method::GET, "/v1/outcomes?session=cart-total-rounding", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let stats = env.ok(Method::GET, "/v1/outcomes/stats?by=user", None).await;
    assert!(stats.to_string().contains("ana"), "{stats}");
    let bad = env.send(Req::new(Method::GET, "/v1/outcomes/stats?by=planet").token(&env.admin)).await;
    bad.assert_error(400, "invalid_input");
    let r = env
        .send(
            Req::new(Method::POST, "/v1/outcomes")
                .token(&env.admin)
                .json(json!({"session": "cart-total-rounding", "set": ["result=great"]})),
        )
        .await;
    r.assert_error(400, "invalid_input");

    let tax = env.ok(Method::GET, "/v1/outcomes/taxonomy", None).await;
    assert_eq!(tax["version"], 1);
    // Dropping the `success` label would orphan the outcome just logged.
    let narrow = "[[dimension]]\nname = \"result\"\ntype = \"categorical\"\nprimary = true\nlabel = [{ name = \"failure\", value = 0.0 }]\n";
    let r = env
        .send(
            Req::new(Method::PUT, "/v1/outcomes/taxonomy").token(&env.admin).body_of("application/toml", narrow.into()),
        )
        .await;
    r.assert_error(409, "conflict");
    let wider = "[[dimension]]\nname = \"result\"\ntype = \"categorical\"\nprimary = true\nlabel = [{ name = \"success\", value = 1.0 }, { name = \"failure\", value = 0.0 }]\n\n[[dimension]]\nname = \"user_rating\"\ntype = \"numeric\"\nmin = 1.0\nmax = 5.0\n";
    let r = env
        .send(
            Req::new(Method::PUT, "/v1/outcomes/taxonomy").token(&env.admin).body_of("application/toml", wider.into()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(env.ok(Method::GET, "/v1/outcomes/taxonomy", None).await["version"], 2);
}

#[tokio::test]
async fn errors_carry_the_status_and_code_of_the_one_table() {
    let env = Env::new();
    // 401: no token, unknown token, another scheme.
    env.send(Req::new(Method::GET, "/v1/memories")).await.assert_error(401, "unauthorized");
    env.send(Req::new(Method::GET, "/v1/memories").token("noc_nope")).await.assert_error(401, "unauthorized");
    env.send(Req::new(Method::GET, "/v1/memories").header("authorization", "Basic YTpi"))
        .await
        .assert_error(401, "unauthorized");
    // 400: bad JSON, unknown field, invalid kind, bad query.
    let r = env
        .send(Req::new(Method::POST, "/v1/memories").token(&env.admin).body_of("application/json", b"{".to_vec()))
        .await;
    r.assert_error(400, "invalid_input");
    let r = env
        .send(
            Req::new(Method::POST, "/v1/memories")
                .token(&env.admin)
                .json(json!({"kind": "fact", "text": "x", "colour": 1})),
        )
        .await;
    r.assert_error(400, "invalid_input");
    let r = env
        .send(Req::new(Method::POST, "/v1/memories").token(&env.admin).json(json!({"kind": "Not A Kind", "text": "x"})))
        .await;
    r.assert_error(400, "invalid_input");
    env.send(Req::new(Method::GET, "/v1/sessions?limit=many").token(&env.admin))
        .await
        .assert_error(400, "invalid_input");
    env.send(Req::new(Method::GET, "/v1/sessions/search").token(&env.admin)).await.assert_error(400, "invalid_input");
    // 403: a read token writes; a team token rolls back; a write token makes tokens.
    let read = env.token(AccessLevel::Read, None);
    let r =
        env.send(Req::new(Method::POST, "/v1/memories").token(&read).json(json!({"kind": "fact", "text": "x"}))).await;
    r.assert_error(403, "forbidden");
    let team_admin = env.token(AccessLevel::Admin, Some("a"));
    env.send(Req::new(Method::POST, "/v1/rollback").token(&team_admin).json(json!({"to": 0})))
        .await
        .assert_error(403, "forbidden");
    let write = env.token(AccessLevel::Write, None);
    env.send(Req::new(Method::POST, "/v1/tokens").token(&write).json(json!({"scope": "read"})))
        .await
        .assert_error(403, "forbidden");
    // 404: unknown ids and unknown routes.
    env.send(Req::new(Method::GET, "/v1/memories/m-000000000000").token(&env.admin))
        .await
        .assert_error(404, "not_found");
    env.send(Req::new(Method::GET, "/v1/dreams/d-0").token(&env.admin)).await.assert_error(404, "not_found");
    env.send(Req::new(Method::GET, "/v1/nothing").token(&env.admin)).await.assert_error(404, "not_found");
    // 409: the store moved.
    let v =
        env.ok(Method::POST, "/v1/memories", Some(json!({"kind": "fact", "text": "The API listens on 8080."}))).await;
    let id = v["memory"]["id"].as_str().unwrap();
    let r = env
        .send(
            Req::new(Method::PATCH, &format!("/v1/memories/{id}"))
                .token(&env.admin)
                .json(json!({"priority": 1, "expect_rev": 0})),
        )
        .await;
    r.assert_error(409, "conflict");
    assert_eq!(env.ok(Method::GET, &format!("/v1/memories/{id}"), None).await["priority"], 0);
}

#[tokio::test]
async fn tokens_made_over_http_work_and_insecure_local_needs_none() {
    let env = Env::new();
    let r = env
        .send(Req::new(Method::POST, "/v1/tokens").token(&env.admin).json(json!({"scope": "read", "team": "a"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let t = r.json();
    assert_eq!(t["team"], "a");
    let tok = t["token"].as_str().unwrap();
    let r = env.send(Req::new(Method::GET, "/v1/memories").token(tok)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r =
        env.send(Req::new(Method::POST, "/v1/memories").token(tok).json(json!({"kind": "fact", "text": "x"}))).await;
    r.assert_error(403, "forbidden");

    let local = env.insecure();
    let r = crate::send(
        &local,
        Req::new(Method::POST, "/v1/memories").json(json!({"kind": "fact", "text": "Local works."})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let h = crate::send(
        &local,
        Req::new(Method::GET, &format!("/v1/memories/{}/history", r.json()["memory"]["id"].as_str().unwrap())),
    )
    .await;
    assert_eq!(h.json()[0]["author"], "user:local");
    // A wrong token is still refused, even locally.
    crate::send(&local, Req::new(Method::GET, "/v1/memories").token("noc_bad")).await.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn sub_agent_sessions_are_listed_under_their_parent_within_the_callers_team() {
    let env = Env::new();
    let rec = |id: &str, parent: Option<&str>, team: &str| {
        let mut r = nocturne_store::conformance::sample_session(id, "ana", "2026-01-01T10:00:00Z", 2);
        r.session.team = Some(team.into());
        r.session.parent = parent.map(str::to_string);
        r.session.subagent = parent.map(|_| nocturne_core::Subagent {
            agent_id: id.rsplit("agent-").next().unwrap().into(),
            ..Default::default()
        });
        r
    };
    env.svc
        .store()
        .append_sessions(&[
            rec("p", None, "a"),
            rec("p/agent-a1", Some("p"), "a"),
            rec("p/agent-b1", Some("p"), "b"),
            rec("gone/agent-c1", Some("gone"), "a"),
        ])
        .unwrap();
    // The org sees both children; ids with a slash are one path segment, percent-encoded.
    let p = env.ok(Method::GET, "/v1/sessions/p", None).await;
    let kids: Vec<&str> =
        p["children"].as_array().unwrap().iter().map(|c| c["session"]["id"].as_str().unwrap()).collect();
    assert_eq!(kids, ["p/agent-a1", "p/agent-b1"]);
    let child = env.ok(Method::GET, "/v1/sessions/p%2Fagent-a1", None).await;
    assert_eq!(child["session"]["parent"], "p");
    assert_eq!(child["parent"]["stored"], true);
    let orphan = env.ok(Method::GET, "/v1/sessions/gone%2Fagent-c1", None).await;
    assert_eq!(orphan["parent"], json!({"id": "gone", "stored": false}));
    let listed = env.ok(Method::GET, "/v1/sessions?parent=p", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let tree = env.ok(Method::GET, "/v1/sessions?tree=true", None).await;
    let top: Vec<&str> = tree.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert!(top.contains(&"p") && !top.contains(&"p/agent-a1"), "{top:?}");
    // Team a sees only its own child; team b sees its child's parent as not stored.
    let a = env.token(AccessLevel::Read, Some("a"));
    let r = env.send(Req::new(Method::GET, "/v1/sessions/p").token(&a)).await;
    let kids: Vec<serde_json::Value> =
        r.json()["children"].as_array().unwrap().iter().map(|c| c["session"]["id"].clone()).collect();
    assert_eq!(kids, [json!("p/agent-a1")], "another team's sub-agent is not shown");
    let r = env.send(Req::new(Method::GET, "/v1/sessions?parent=p").token(&a)).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let b = env.token(AccessLevel::Read, Some("b"));
    let r = env.send(Req::new(Method::GET, "/v1/sessions/p%2Fagent-b1").token(&b)).await;
    assert_eq!(r.json()["parent"], json!({"id": "p", "stored": false}), "another team's parent reads as not stored");
    let r = env.send(Req::new(Method::GET, "/v1/sessions?tree=true").token(&b)).await;
    assert_eq!(r.json()[0]["parent_status"], "not stored");
    env.send(Req::new(Method::GET, "/v1/sessions/p").token(&b)).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn appending_with_a_stale_count_is_a_conflict_and_changes_nothing() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let one = env.ok(Method::GET, "/v1/sessions/cart-total-rounding", None).await;
    let n = one["session"]["event_count"].as_u64().unwrap();
    let ev = json!([{"role": "user", "kind": "user_message", "text": "one more"}]);
    let stale = format!("/v1/sessions/cart-total-rounding/events?expect={}", n - 1);
    let r = env.send(Req::new(Method::POST, &stale).token(&env.admin).json(ev.clone())).await;
    r.assert_error(409, "conflict");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains(&format!("has {n} events")), "{}", r.text());
    let fresh = format!("/v1/sessions/cart-total-rounding/events?expect={n}");
    let ok = env.ok(Method::POST, &fresh, Some(ev)).await;
    assert_eq!(ok["event_count"], n + 1);
}

/// Found by Schemathesis: what the fuzzer sent, and what the server now answers.
#[tokio::test]
async fn fuzzer_findings_are_answered_as_documented() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    // A limit beyond SQL's integer range was a 500 ("datatype mismatch"): it is no limit.
    for uri in [
        "/v1/sessions?limit=18446744073709551614",
        "/v1/jobs?limit=18446744073709551614",
        "/v1/runs?limit=18446744073709551614",
    ] {
        let r = env.send(Req::new(Method::GET, uri).token(&env.admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    }
    let all = env.ok(Method::GET, "/v1/sessions?limit=18446744073709551614", None).await;
    assert_eq!(all.as_array().unwrap().len(), 5);
    // An empty upload was stored as an "empty" transcript (200): it is a mistake, said so.
    let r = env.send(Req::new(Method::POST, "/v1/sessions").token(&env.admin).raw(Vec::new())).await;
    r.assert_error(400, "invalid_input");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("body is empty"), "{}", r.text());
    // A body that is only whitespace is not "no body": it is not JSON (was 202, a queued dream).
    for uri in ["/v1/jobs", "/v1/dreams"] {
        let r =
            env.send(Req::new(Method::POST, uri).token(&env.admin).body_of("application/json", b"\n".to_vec())).await;
        r.assert_error(400, "invalid_input");
    }
    // No body at all still means the defaults.
    let r = env.send(Req::new(Method::POST, "/v1/jobs").token(&env.admin)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
}

/// An error about one field of the request names it (`error.field`).
#[tokio::test]
async fn an_invalid_field_is_named_in_the_error() {
    let env = Env::new();
    for (body, field) in [
        (json!({"kind": "Not A Kind", "text": "Use pnpm."}), "kind"),
        (json!({"kind": "preference", "text": "   "}), "text"),
        (json!({"kind": "preference", "text": "Use pnpm.", "scope": "galaxy:far"}), "scope"),
        (
            json!({"kind": "preference", "text": "Use pnpm.", "tags": ["ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"]}),
            "tags",
        ),
    ] {
        let r = env.send(Req::new(Method::POST, "/v1/memories").token(&env.admin).json(body.clone())).await;
        r.assert_error(400, "invalid_input");
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    let r = env.send(Req::new(Method::POST, "/v1/tokens").token(&env.admin).json(json!({"scope": "root"}))).await;
    r.assert_error(400, "invalid_input");
    assert_eq!(r.json()["error"]["field"], "scope", "{}", r.text());
    let r = env.send(Req::new(Method::POST, "/v1/tokens").token(&env.admin).json(json!({"scope": 5}))).await;
    r.assert_error(400, "invalid_input");
    assert!(r.json()["error"].get("field").is_none(), "a body that does not parse names no field: {}", r.text());
    let r =
        env.send(Req::new(Method::POST, "/v1/context").token(&env.admin).json(json!({"task": "x", "budget": 0}))).await;
    r.assert_error(400, "invalid_input");
    assert_eq!(r.json()["error"]["field"], "budget", "{}", r.text());
}

/// The fields of dream requests, rollbacks, outcomes and op selections are
/// named in `error.field` like those of memories; a dream's instructions
/// (a TOML text in a field) are named as `instructions`.
#[tokio::test]
async fn dream_rollback_outcome_and_apply_errors_name_their_field() {
    let env = Env::new();
    let ids = env.ingest_samples(&env.admin, "web", "").await;
    let cases: Vec<(Method, String, serde_json::Value, &str)> = vec![
        (Method::POST, "/v1/dreams".into(), json!({"focus": ["nonsense"]}), "focus"),
        (Method::POST, "/v1/dreams".into(), json!({"sessions": 0}), "sessions"),
        (Method::POST, "/v1/dreams".into(), json!({"min_support": 0}), "min_support"),
        (Method::POST, "/v1/dreams".into(), json!({"since": "last tuesday"}), "since"),
        (Method::POST, "/v1/dreams".into(), json!({"instructions": "min_support = 0"}), "instructions"),
        (Method::POST, "/v1/dreams".into(), json!({"instructions": "not toml ["}), "instructions"),
        (Method::POST, "/v1/jobs".into(), json!({"focus": ["nonsense"]}), "focus"),
        (Method::POST, "/v1/rollback".into(), json!({"to": 99}), "to"),
        (Method::POST, "/v1/outcomes".into(), json!({"session": ids[0], "set": ["nonsense"]}), "set"),
        (
            Method::POST,
            "/v1/outcomes".into(),
            json!({"session": ids[0], "set": ["result=success"], "source": "oracle"}),
            "source",
        ),
    ];
    for (method, uri, body, field) in cases {
        let r = env.send(Req::new(method.clone(), &uri).token(&env.admin).json(body.clone())).await;
        r.assert_error(400, "invalid_input");
        assert_eq!(r.json()["error"]["field"], field, "{method} {uri} {body}: {}", r.text());
    }
    let d = env.ok(Method::POST, "/v1/dreams", None).await;
    let uri = format!("/v1/dreams/{}/apply", d["id"].as_str().unwrap());
    let r = env.send(Req::new(Method::POST, &uri).token(&env.admin).json(json!({"only": [999]}))).await;
    r.assert_error(400, "invalid_input");
    assert_eq!(r.json()["error"]["field"], "only", "{}", r.text());
}

/// `POST /v1/context` with `project` (a directory or an id) leaves out the
/// memories of other projects, those of no project stay; without it each
/// project memory names its project; `GET /v1/export?format=markdown&project=`
/// holds one project's memories.
#[tokio::test]
async fn context_and_the_markdown_export_keep_to_the_callers_project() {
    let env = Env::new();
    let a = nocturne_core::Project::of_dir("/srv/a/app").unwrap();
    let b = nocturne_core::Project::of_dir("/srv/b/app").unwrap();
    for (text, tags) in [
        ("In `app`, run the tests with `npm test`.", vec![a.tag()]),
        ("In `app`, run the tests with `cargo test`.", vec![b.tag()]),
        ("The tests need the database container running.", vec![]),
    ] {
        env.ok(Method::POST, "/v1/memories", Some(json!({"kind": "fact", "text": text, "tags": tags}))).await;
    }
    let texts = |v: &Value| -> Vec<String> {
        let mut t: Vec<String> =
            v["bundle"]["items"].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap().to_string()).collect();
        t.sort();
        t
    };
    let in_b =
        env.ok(Method::POST, "/v1/context", Some(json!({"task": "run the tests", "project": "/srv/b/app/web"}))).await;
    assert_eq!(
        texts(&in_b),
        ["In `app`, run the tests with `cargo test`.", "The tests need the database container running."]
    );
    assert_eq!(in_b["project"], b.to_string());
    let by_id =
        env.ok(Method::POST, "/v1/context", Some(json!({"task": "run the tests", "project": a.to_string()}))).await;
    assert!(texts(&by_id).iter().any(|t| t.contains("npm")) && !texts(&by_id).iter().any(|t| t.contains("cargo")));
    let all = env.ok(Method::POST, "/v1/context", Some(json!({"task": "run the tests"}))).await;
    let projects: Vec<&Value> = all["bundle"]["items"].as_array().unwrap().iter().map(|i| &i["project"]).collect();
    assert_eq!(projects.len(), 3);
    assert!(projects.contains(&&json!(a.to_string())) && projects.contains(&&json!(b.to_string())));
    assert!(all.get("project").is_none());
    let r = env
        .send(Req::new(Method::POST, "/v1/context").token(&env.admin).json(json!({"task": "x", "project": "app"})))
        .await;
    r.assert_error(400, "invalid_input");
    assert_eq!(r.json()["error"]["field"], "project", "{}", r.text());

    let uri = format!("/v1/export?format=markdown&project={}", a.to_string().replace('#', "%23"));
    let r = env.send(Req::new(Method::GET, &uri).token(&env.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let md = r.text();
    assert!(md.contains("npm test") && md.contains("database container") && !md.contains("cargo test"), "{md}");
    let r = env.send(Req::new(Method::GET, "/v1/export?format=json&project=%2Fsrv%2Fa%2Fapp").token(&env.admin)).await;
    r.assert_error(400, "invalid_input");
    assert_eq!(r.json()["error"]["field"], "project", "{}", r.text());
    // Without credentials the caller hears 401 first, not what is wrong with the query.
    let r = env.send(Req::new(Method::GET, "/v1/export?format=json&project=")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
}
