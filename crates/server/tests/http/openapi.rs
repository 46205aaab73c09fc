//! The OpenAPI document covers exactly the routes the router serves.

use crate::{send, Env, Req};
use axum::http::{Method, StatusCode};
use nocturne_server::{router_with_routes, AppState, ExampleIds};
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
