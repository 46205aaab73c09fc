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

/// The documented error codes are exactly the ones an error can carry:
/// the `Error` schema's `code` enum and the document's `code (status)`
/// table list every row of `ErrorCode::ALL` (with its status) and every
/// code the transport gives a status, and nothing else; each service code
/// is produced by a service error, a provider failure or the transport's
/// status; README's list of codes agrees with the table.
#[tokio::test]
async fn the_documented_error_codes_are_exactly_those_errors_carry() {
    use nocturne_service::{ErrorCode, ServiceError};
    use nocturne_store::StoreError;
    let env = Env::new();
    let doc = send(&env.app, Req::new(Method::GET, "/openapi.json")).await.json();
    let mut enums = Vec::new();
    fn find_code_enum(v: &Value, out: &mut Vec<BTreeSet<String>>) {
        match v {
            Value::Object(m) => {
                if let Some(e) = m.get("code").and_then(|c| c.get("enum")).and_then(Value::as_array) {
                    out.push(e.iter().map(|x| x.as_str().unwrap().to_string()).collect());
                }
                m.values().for_each(|x| find_code_enum(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| find_code_enum(x, out)),
            _ => {}
        }
    }
    find_code_enum(&doc, &mut enums);
    assert!(!enums.is_empty(), "the Error schema documents its codes");
    let documented = enums[0].clone();
    assert!(enums.iter().all(|e| *e == documented), "one list of codes");

    // What can produce each code.
    let samples = [
        ServiceError::Invalid("x".into()),
        ServiceError::NotFound { what: "memory", id: "m-1".into() },
        ServiceError::Conflict("x".into()),
        ServiceError::Unauthorized("x".into()),
        ServiceError::Forbidden("x".into()),
        ServiceError::from(StoreError::SchemaTooNew { found: 99, supported: 1 }),
        ServiceError::from(StoreError::Backend("x".into())),
    ];
    let by_service: BTreeSet<&str> = samples.iter().map(|e| e.code().table().0).collect();
    let by_status: BTreeSet<&str> =
        (400..=599u16).map(|s| nocturne_server::code_for(StatusCode::from_u16(s).unwrap())).collect();
    let description = doc["info"]["description"].as_str().unwrap();
    let mut producible = BTreeSet::new();
    for c in ErrorCode::ALL {
        let (name, _, status) = c.table();
        let produced = by_service.contains(name)
            || (name.starts_with("model_") && ServiceError::Model { code: c, message: String::new() }.code() == c)
            || nocturne_server::code_for(StatusCode::from_u16(status).unwrap()) == name;
        assert!(produced, "{name} is documented but nothing produces it");
        assert!(description.contains(&format!("{name} ({status})")), "{name} ({status}) is in the table");
        producible.insert(name.to_string());
    }
    producible.extend(by_status.iter().map(|s| s.to_string()));
    assert_eq!(documented, producible, "documented codes vs the codes errors carry");

    // README: every "`code` NNN" it names is a code of the table, with the table's status.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("Every error, whatever").expect("README's error paragraph");
    let para = &readme[start..start + readme[start..].find("\n\n").unwrap()];
    let mut named = 0;
    for part in para.split('`').collect::<Vec<_>>().chunks(2) {
        let [_, code] = part else { continue };
        let after = para[para.find(&format!("`{code}`")).unwrap() + code.len() + 2..].trim_start();
        let status: String = after.chars().take_while(char::is_ascii_digit).collect();
        if status.is_empty() || !code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        named += 1;
        assert!(documented.contains(*code), "README names {code}, which no error carries");
        assert!(description.contains(&format!("{code} ({status})")), "README: {code} {status} vs the table");
    }
    assert!(named >= 10, "README lists the codes ({named} found)");
}
