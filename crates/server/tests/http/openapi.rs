//! The OpenAPI document covers exactly the routes the router serves.

use crate::{send, Env, Req};
use axum::http::{Method, StatusCode};
use nocturne_server::{router_with_routes, AppState, ExampleIds, Reply};
use serde_json::Value;
use std::collections::BTreeSet;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_string());
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_served() {
    let env = Env::new();
    let (app, served) = router_with_routes(AppState::new(env.svc.clone()));
    let r = send(&app, Req::new(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK, "the document needs no token");
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");

    let served: BTreeSet<(String, String)> =
        served.iter().map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.to_string())).collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(op["responses"]["default"].is_object(), "{method} {path} documents its errors");
            // Every path parameter is declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{method} {path} declares {name}");
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes missing from the document: {undocumented:?}");
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    assert!(served.len() >= 34, "26 API routes, the document and 7 review routes at least: {}", served.len());

    // Walk the document against the router: each documented operation is
    // routed to a handler (not the fallback, not 405).
    let ids = ExampleIds::docs();
    for (method, path) in &documented {
        let mut uri = path.clone();
        let op = &doc["paths"][path][method];
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "path" {
                uri = uri.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), p["example"].as_str().unwrap());
            }
        }
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let resp = send(&app, Req::new(m, &ids.fill(&uri)).token(&env.admin)).await;
        assert_ne!(resp.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if resp.headers.get("content-type").is_some_and(|c| c.to_str().unwrap().starts_with("application/json")) {
            let msg = resp.json()["error"]["message"].as_str().unwrap_or("").to_string();
            assert!(!msg.starts_with("route "), "{method} {uri} fell through to the fallback: {msg}");
        }
    }
    // And the fallback is what an unknown route gets.
    let r = send(&app, Req::new(Method::GET, "/v1/unknown").token(&env.admin)).await;
    r.assert_error(404, "not_found");
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("route "));

    // Every schema reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let ptr = r.trim_start_matches('#');
        assert!(doc.pointer(ptr).is_some(), "dangling {r}");
    }
}

/// Every operation's documented schemas hold for what the handlers really
/// answer: each route of the table is called (with the ids of stored data),
/// and every response is checked against the document: a success against
/// the operation's schema for that status, anything else against `Error`.
#[tokio::test]
async fn real_responses_match_the_documented_schemas() {
    let (env, _a, _b, team_b) = crate::access::setup().await;
    // With a runtime stand-in, so that `POST /v1/runs` can succeed too.
    let app = nocturne_server::router(AppState::new(
        env.svc.clone().with_run_host(std::sync::Arc::new(crate::runs::RecordingHost)),
    ));
    let doc = send(&app, Req::new(Method::GET, "/openapi.json")).await.json();
    let ids = ExampleIds {
        session: team_b.sessions[0].clone(),
        memory: team_b.memories[0].0.clone(),
        dream: team_b.dream.clone(),
        job: team_b.job.clone(),
        new: "schema-check-session".into(),
        run: team_b.run.clone(),
    };
    let error = doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"].clone();
    let mut succeeded = BTreeSet::new();
    let mut checked = 0;
    let mut check = |what: String, op: &Value, resp: &crate::Resp, succeeded: &mut BTreeSet<String>| {
        let ct = resp.header("content-type");
        if !ct.starts_with("application/json") {
            return;
        }
        let status = resp.status.as_u16().to_string();
        let schema = match op["responses"].get(&status) {
            Some(r) => {
                succeeded.insert(op["operationId"].as_str().unwrap().to_string());
                r["content"]["application/json"]["schema"].clone()
            }
            None => error.clone(),
        };
        let errs = crate::schema_check::errors(&doc, &schema, &resp.json());
        assert!(
            errs.is_empty(),
            "{what} answered {status} that does not match its schema:\n{}\n{}",
            errs.join("\n"),
            resp.text()
        );
        checked += 1;
    };
    for all_params in [false, true] {
        for r in nocturne_server::routes() {
            let op = doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()].clone();
            let resp = send(&app, crate::access::request_for(&r, &ids, &env.admin, all_params)).await;
            check(format!("{} {}", r.method, r.path), &op, &resp, &mut succeeded);
        }
    }
    // The other shapes of the same operations.
    for (method, uri, path) in [
        ("get", "/v1/sessions?tree=true", "/v1/sessions"),
        ("get", "/v1/export", "/v1/export"),
        ("get", "/v1/export?sessions=true", "/v1/export"),
        ("get", "/v1/memories?all=true", "/v1/memories"),
        ("post", "/v1/dreams", "/v1/dreams"),
    ] {
        let op = doc["paths"][path][method].clone();
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let req = Req::new(m.clone(), uri).token(&env.admin);
        let req = if m == Method::POST { req.json(serde_json::json!({})) } else { req };
        let resp = send(&app, req).await;
        assert!(resp.status.is_success(), "{uri}: {}", resp.text());
        check(uri.to_string(), &op, &resp, &mut succeeded);
    }
    // A pending proposal to reject (the walk applied the other one first).
    let fresh = env.ok(Method::POST, "/v1/dreams", Some(serde_json::json!({}))).await;
    let uri = format!("/v1/dreams/{}/reject", fresh["id"].as_str().unwrap());
    let resp = send(&app, Req::new(Method::POST, &uri).token(&env.admin)).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    check(uri, &doc["paths"]["/v1/dreams/{id}/reject"]["post"], &resp, &mut succeeded);
    // Every JSON operation answered its success at least once (the
    // walk is not only errors).
    let json_ops: BTreeSet<String> = nocturne_server::routes()
        .iter()
        .filter(|r| matches!(r.reply, Reply::Json { .. } | Reply::JsonOr { .. } | Reply::JsonOrMarkdown { .. }))
        .map(|r| r.operation_id.to_string())
        .collect();
    let never: Vec<_> = json_ops.difference(&succeeded).collect();
    assert!(never.is_empty(), "operations that never succeeded in the walk: {never:?}");
    assert!(checked > 2 * json_ops.len(), "{checked} responses checked");
}
