//! The review pages: diffs, evidence, forms.

use crate::{send, Env, Req};
use axum::http::{Method, StatusCode};
use nocturne_server::ui::esc;
use nocturne_service::AccessLevel;
use serde_json::json;

#[tokio::test]
async fn the_proposal_page_shows_each_op_as_a_diff_with_evidence_and_the_form_applies_only_checked_ops() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let a = env
        .ok(
            Method::POST,
            "/v1/memories",
            Some(json!({"kind": "preference", "text": "Always run the linter before committing."})),
        )
        .await;
    let b = env
        .ok(
            Method::POST,
            "/v1/memories",
            Some(json!({"kind": "preference", "text": "Run the linter before you commit, always."})),
        )
        .await;
    let (a, b) = (a["memory"]["id"].as_str().unwrap().to_string(), b["memory"]["id"].as_str().unwrap().to_string());
    let p = env.ok(Method::POST, "/v1/dreams", Some(json!({}))).await;
    let id = p["id"].as_str().unwrap().to_string();
    let ops = p["ops"].as_array().unwrap().clone();
    assert!(ops.len() >= 2, "{p}");

    let list = env.send(Req::new(Method::GET, "/").token(&env.admin)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.header("content-type").starts_with("text/html"));
    assert!(list.text().contains(&format!("href=\"/dreams/{id}\"")), "{}", list.text());

    let page = env.send(Req::new(Method::GET, &format!("/dreams/{id}")).token(&env.admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for op in &ops {
        let n = op["n"].as_u64().unwrap();
        assert!(html.contains(&format!("<input type=checkbox name=op value={n} checked")), "checkbox for op {n}");
        assert!(html.contains(&esc(op["rationale"].as_str().unwrap())), "rationale of op {n}");
        for e in op["evidence"].as_array().unwrap() {
            assert!(html.contains(&esc(e["quote"].as_str().unwrap())), "evidence quote of op {n}: {e}");
            assert!(html.contains(&format!("session <code>{}</code>", esc(e["session"].as_str().unwrap()))));
        }
        assert!(html.contains(&format!("support {} sessions", op["support"])), "support of op {n}");
        if op["op"] == "create" {
            assert!(html.contains(&format!("<ins>{}</ins>", esc(op["text"].as_str().unwrap()))), "new text of op {n}");
        }
    }
    assert!(html.contains("new memory"));
    // The merge of the two linter memories: both targets' before → after.
    let merge = ops.iter().find(|o| o["op"] == "merge").unwrap_or_else(|| panic!("no merge in {p}"));
    let targets: Vec<&str> = merge["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(targets.contains(&a.as_str()) && targets.contains(&b.as_str()), "{merge}");
    let kept = targets[0];
    let kept_text = if kept == a {
        "Always run the linter before committing."
    } else {
        "Run the linter before you commit, always."
    };
    if merge["text"].as_str().unwrap() != kept_text {
        assert!(html.contains(&format!("<del>{}</del>", esc(kept_text))), "the kept memory's old text");
        assert!(html.contains(&format!("<ins>{}</ins>", esc(merge["text"].as_str().unwrap()))));
    }
    assert!(html.contains(&format!("<ins>retired (merged into {kept})</ins>")), "the other target is retired");
    assert!(html.contains(&format!("action=\"/dreams/{id}/reject\"")));

    // Nothing checked: refused, nothing applied.
    let r = env.send(Req::new(Method::POST, &format!("/dreams/{id}/apply")).token(&env.admin).form("")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("no op is checked"));
    // A post from another site is refused.
    let r = env
        .send(
            Req::new(Method::POST, &format!("/dreams/{id}/apply"))
                .token(&env.admin)
                .header("origin", "http://evil.example")
                .form("op=1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let chosen = ops.iter().find(|o| o["op"] == "create").unwrap();
    let n = chosen["n"].as_u64().unwrap();
    let r = env
        .send(
            Req::new(Method::POST, &format!("/dreams/{id}/apply"))
                .token(&env.admin)
                .header("origin", "http://localhost")
                .form(&format!("op={n}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), format!("/dreams/{id}?applied=3"));
    let mems = env.ok(Method::GET, "/v1/memories", None).await;
    let texts: Vec<&str> = mems.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 3, "the two linter memories and op {n} only: {texts:?}");
    assert!(texts.contains(&chosen["text"].as_str().unwrap()));
    let created = mems.as_array().unwrap().iter().find(|m| m["text"] == chosen["text"]).unwrap();
    let h = env.ok(Method::GET, &format!("/v1/memories/{}/history", created["id"].as_str().unwrap()), None).await;
    assert_eq!(h[0]["author"], format!("dream:{id}"));
    assert!(h[0]["reason"].as_str().unwrap().contains(&format!("(ops {n})")), "{h}");
    let after = env.send(Req::new(Method::GET, &format!("/dreams/{id}?applied=3")).token(&env.admin)).await.text();
    assert!(after.contains("Applied as revision 3"));
    assert!(!after.contains("type=checkbox"), "an applied proposal has no form");
}

#[tokio::test]
async fn rejecting_from_the_page_leaves_memory_alone() {
    let env = Env::new();
    env.ingest_samples(&env.admin.clone(), "shop", "").await;
    let p = env.ok(Method::POST, "/v1/dreams", Some(json!({}))).await;
    let id = p["id"].as_str().unwrap();
    let r = env.send(Req::new(Method::POST, &format!("/dreams/{id}/reject")).token(&env.admin)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(env.ok(Method::GET, &format!("/v1/dreams/{id}"), None).await["status"], "rejected");
    assert_eq!(env.ok(Method::GET, "/v1/memories?all=true", None).await, json!([]));
}

#[tokio::test]
async fn the_memory_browser_escapes_text_and_offers_rollback_to_org_admins_only() {
    let env = Env::new();
    let v = env
        .ok(
            Method::POST,
            "/v1/memories",
            Some(json!({"kind": "fact", "text": "<script>alert(1)</script> & \"quotes\"", "scope": "team:a"})),
        )
        .await;
    let id = v["memory"]["id"].as_str().unwrap().to_string();
    env.ok(Method::PATCH, &format!("/v1/memories/{id}"), Some(json!({"text": "Plain text now."}))).await;

    let list = env.send(Req::new(Method::GET, "/memories").token(&env.admin)).await.text();
    assert!(list.contains("Plain text now."));
    let page = env.send(Req::new(Method::GET, &format!("/memories/{id}")).token(&env.admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(html.contains("<del>&lt;script&gt;"), "the edit shows as a diff");
    assert!(html.contains("Roll all memory back to revision 1"));

    let team = env.token(AccessLevel::Admin, Some("a"));
    let as_team = env.send(Req::new(Method::GET, &format!("/memories/{id}")).token(&team)).await;
    assert_eq!(as_team.status, StatusCode::OK);
    assert!(!as_team.text().contains("Roll all memory back"), "team tokens cannot roll back the store");
    let r = env.send(Req::new(Method::POST, "/rollback").token(&team).form(&format!("to=1&memory={id}"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = env.send(Req::new(Method::POST, "/rollback").token(&env.admin).form(&format!("to=1&memory={id}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), format!("/memories/{id}"));
    let m = env.ok(Method::GET, &format!("/v1/memories/{id}"), None).await;
    assert_eq!(m["text"], "<script>alert(1)</script> & \"quotes\"");
}

#[tokio::test]
async fn a_token_in_the_url_becomes_an_http_only_cookie_for_the_pages_only() {
    let env = Env::new();
    let r = env.send(Req::new(Method::GET, "/memories")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("name=token"), "the page asks for a token");

    let r = env.send(Req::new(Method::GET, &format!("/memories?all=true&token={}", env.admin))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/memories?all=true", "the token leaves the URL");
    let cookie = r.header("set-cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();

    let r = env.send(Req::new(Method::GET, "/memories?all=true").header("cookie", &pair)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let api = env.send(Req::new(Method::GET, "/v1/memories").header("cookie", &pair)).await;
    api.assert_error(401, "unauthorized");

    // insecure_local: the pages are open.
    let r = send(&env.insecure(), Req::new(Method::GET, "/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("No proposals yet"));
}
