//! Team isolation over every route of the table.

use crate::{samples, send, Env, Req, Resp, SAMPLES};
use axum::http::{Method, StatusCode};
use nocturne_server::{Body, Example, ExampleIds, ParamIn, Route};
use nocturne_service::AccessLevel;
use serde_json::json;

/// Team `b`'s data, as a team-`a` caller must never see it.
pub(crate) struct TeamB {
    pub(crate) sessions: Vec<String>,
    pub(crate) memories: Vec<(String, String)>,
    pub(crate) dream: String,
    pub(crate) job: String,
    pub(crate) run: String,
    /// Strings that only team b's data contains.
    markers: Vec<String>,
}

impl TeamB {
    fn forbidden(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sessions.clone();
        for (id, text) in &self.memories {
            v.push(id.clone());
            v.push(text.clone());
        }
        v.push(self.dream.clone());
        v.push(self.job.clone());
        v.push(self.run.clone());
        v.extend(self.markers.iter().cloned());
        v
    }
}

/// `needle` as a whole token in `hay` (so `d-1` is not found in `d-1-2`).
fn contains_token(hay: &str, needle: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Some context around the first occurrence of `needle`.
fn around(hay: &str, needle: &str) -> String {
    let i = hay.find(needle).unwrap_or(0);
    let start = hay.char_indices().map(|(j, _)| j).rfind(|&j| j + 120 <= i).unwrap_or(0);
    hay[start..].chars().take(120 + needle.chars().count() + 40).collect()
}

/// Builds the request a route's table entry describes, with `ids` for its
/// id placeholders. `all_params`: every query parameter, else only the
/// required ones and those naming an id.
pub(crate) fn request_for<'a>(r: &Route, ids: &ExampleIds, token: &'a str, all_params: bool) -> Req<'a> {
    let mut path = r.path.to_string();
    let mut query = Vec::new();
    for p in &r.params {
        let value = ids.fill(p.example.template());
        match p.location {
            ParamIn::Path => path = path.replace(&format!("{{{}}}", p.name), &value),
            ParamIn::Query => {
                let is_id = !matches!(p.example, Example::Lit(_));
                if p.name != "token" && (all_params || p.required || is_id) {
                    query.push(format!("{}={}", p.name, value.replace(' ', "%20")));
                }
            }
        }
    }
    if let Some(q) = &r.query {
        let required = q.required();
        for (name, ex) in q.examples {
            let is_id = !matches!(ex, Example::Lit(_));
            if all_params || is_id || required.iter().any(|n| n == name) {
                query.push(format!("{name}={}", ids.fill(ex.template()).replace(' ', "%20")));
            }
        }
    }
    let uri = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
    let req = Req::new(r.method.clone(), &uri).token(token);
    match &r.body {
        Body::None => req,
        Body::Json { example, .. } | Body::OptionalJson { example, .. } => {
            req.body_of("application/json", ids.fill(example).into_bytes())
        }
        Body::Raw { content_type, example } => req.body_of(content_type, ids.fill(example).into_bytes()),
        Body::Form { example, .. } => req.form(&ids.fill(example)),
    }
}

fn uses_ids(r: &Route) -> bool {
    let in_params = r.params.iter().any(|p| !matches!(p.example, Example::Lit(_)))
        || r.query.iter().flat_map(|q| q.examples.iter()).any(|(_, ex)| !matches!(ex, Example::Lit(_)));
    let in_body = match &r.body {
        Body::None => false,
        Body::Json { example, .. }
        | Body::OptionalJson { example, .. }
        | Body::Raw { example, .. }
        | Body::Form { example, .. } => {
            ["{session}", "{memory}", "{dream}", "{job}", "{run}"].iter().any(|p| example.contains(p))
        }
    };
    in_params || in_body
}

pub(crate) async fn setup() -> (Env, String, String, TeamB) {
    let env = Env::new();
    let a = env.token(AccessLevel::Write, Some("a"));
    let b = env.token(AccessLevel::Write, Some("b"));
    let org_read = env.token(AccessLevel::Read, None);
    env.ingest_samples(&a, "a", "").await;
    let b_sessions = env.ingest_samples(&b, "b", "b-").await;
    // Team b's sessions carry text no other session has.
    for s in &b_sessions {
        let r = env
            .send(Req::new(Method::POST, &format!("/v1/sessions/{s}/events")).token(&b).json(json!([
                {"role": "user", "kind": "user_message", "text": "bravo-marker: the ledger-bravo service owns invoices"}
            ])))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let mut b_memories = Vec::new();
    for (kind, text) in [
        ("preference", "Team bravo runs `npm run test:unit`, never `npm test`; bravo-memory-1."),
        ("fact", "The ledger-bravo service keeps invoices; bravo-memory-2."),
        ("procedure", "Bravo releases: `npm run lint` → `npm run test:unit` → `git commit`; bravo-memory-3."),
    ] {
        let r =
            env.send(Req::new(Method::POST, "/v1/memories").token(&b).json(json!({"kind": kind, "text": text}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let m = r.json()["memory"].clone();
        assert_eq!(m["scope"], json!({"level": "team", "name": "b"}));
        b_memories.push((m["id"].as_str().unwrap().to_string(), text.to_string()));
    }
    // Team a has memories and a dream of its own (made first: dream ids are sequential).
    let r = env
        .send(
            Req::new(Method::POST, "/v1/memories")
                .token(&a)
                .json(json!({"kind": "fact", "text": "Team a ships on Fridays."})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = env.send(Req::new(Method::POST, "/v1/dreams").token(&a).json(json!({}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = env.send(Req::new(Method::POST, "/v1/dreams").token(&b).json(json!({}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let b_dream = r.json()["id"].as_str().unwrap().to_string();
    // And a queued dream job (nobody runs it here).
    let r = env.send(Req::new(Method::POST, "/v1/jobs").token(&b).json(json!({"sessions": 5}))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let b_job = r.json()["id"].as_str().unwrap().to_string();
    let r = env
        .send(Req::new(Method::POST, "/v1/outcomes").token(&b).json(json!({
            "session": b_sessions[0], "set": ["result=success"], "comment": "bravo-outcome-note"
        })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Team b has an agent run (the runtime writes it through the scoped API as team b).
    let b_access = env.svc.authenticate(&b).unwrap();
    let b_run = "run-20261117-100000-b0b0b0".to_string();
    let scoped = env.svc.scoped(b_access);
    scoped
        .put_agent_run(&nocturne_service::AgentRun {
            id: b_run.clone(),
            agent: "bravo-lead".into(),
            task: "bravo-run-task".into(),
            team: Some("b".into()),
            user: None,
            state: "running".into(),
            created_at: "2026-11-17T10:00:00Z".into(),
            updated_at: "2026-11-17T10:00:00Z".into(),
            cancel_requested_at: None,
            result: None,
            runner: None,
            setup: json!({}),
        })
        .unwrap();
    scoped
        .append_journal(&[nocturne_service::JournalEntry {
            seq: 0,
            run: b_run.clone(),
            agent: "root".into(),
            step: 1,
            phase: "finished".into(),
            kind: "model".into(),
            digest: "d".into(),
            at: "2026-11-17T10:00:01Z".into(),
            body: json!({"response": {"text": "bravo-journal-text"}}),
        }])
        .unwrap();
    let team_b = TeamB {
        sessions: b_sessions,
        memories: b_memories,
        dream: b_dream,
        job: b_job,
        run: b_run,
        markers: vec![
            "bravo-marker".into(),
            "ledger-bravo".into(),
            "bravo-outcome-note".into(),
            "bravo-lead".into(),
            "bravo-run-task".into(),
            "bravo-journal-text".into(),
        ],
    };
    (env, a, org_read, team_b)
}

#[tokio::test]
async fn a_team_token_never_sees_another_teams_data_on_any_route() {
    let (env, a, org_read, team_b) = setup().await;
    let b_ids = ExampleIds {
        session: team_b.sessions[3].clone(),
        memory: team_b.memories[0].0.clone(),
        dream: team_b.dream.clone(),
        job: team_b.job.clone(),
        new: "a-new-session".into(),
        run: team_b.run.clone(),
    };
    let missing = ExampleIds {
        session: "no-such-session".into(),
        memory: "m-000000000000".into(),
        dream: "d-000000000000".into(),
        job: "job-00000000000000000000000000".into(),
        new: "a-new-session-2".into(),
        run: "run-00000000-000000-000000".into(),
    };
    let forbidden = team_b.forbidden();
    let b_state_before = (
        env.ok(Method::GET, "/v1/memories?all=true&scope=team:b", None).await,
        env.ok(Method::GET, &format!("/v1/dreams/{}", team_b.dream), None).await,
        env.ok(Method::GET, "/v1/sessions?team=b", None).await,
    );

    // The data is there: an org-wide reader sees team b's resources.
    let routes = nocturne_server::routes();
    let mut checked = 0;
    for r in routes.iter().filter(|r| r.method == Method::GET && r.path.contains("{id}")) {
        let resp = send(&env.app, request_for(r, &b_ids, &org_read, false)).await;
        assert_eq!(resp.status, StatusCode::OK, "org read {r:?}: {}", resp.text());
        checked += 1;
    }
    assert!(checked >= 6, "the table has id routes to check");

    let mut failures = Vec::new();
    for r in &routes {
        for all_params in [false, true] {
            let req = request_for(r, &b_ids, &a, all_params);
            let what = format!("{} {} (all params: {all_params})", req.method, req.uri);
            let resp: Resp = send(&env.app, req).await;
            let text = resp.text();
            let sent: Vec<&str> = vec![&b_ids.session, &b_ids.memory, &b_ids.dream, &b_ids.job, &b_ids.run];
            for f in &forbidden {
                // Ids the request itself named are checked below instead.
                if sent.contains(&f.as_str()) && uses_ids(r) {
                    continue;
                }
                if contains_token(&text, f) {
                    failures.push(format!("{what}: {} leaks {f:?}: ...{}...", resp.status, around(&text, f)));
                }
            }
            if uses_ids(r) {
                // Team b's ids answer exactly like ids that do not exist.
                let other = send(&env.app, request_for(r, &missing, &a, all_params)).await;
                let mut masked = text.clone();
                for (b, m) in [
                    (&b_ids.session, &missing.session),
                    (&b_ids.memory, &missing.memory),
                    (&b_ids.dream, &missing.dream),
                    (&b_ids.job, &missing.job),
                    (&b_ids.run, &missing.run),
                ] {
                    masked = masked.replace(b.as_str(), m);
                }
                if resp.status != other.status || masked != other.text() {
                    failures.push(format!(
                        "{what}: team b's ids answer {} {masked}, missing ids answer {} {}",
                        resp.status,
                        other.status,
                        other.text()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));

    // Nothing of team b changed.
    let b_state_after = (
        env.ok(Method::GET, "/v1/memories?all=true&scope=team:b", None).await,
        env.ok(Method::GET, &format!("/v1/dreams/{}", team_b.dream), None).await,
        env.ok(Method::GET, "/v1/sessions?team=b", None).await,
    );
    assert_eq!(b_state_before, b_state_after);
}

#[tokio::test]
async fn org_memories_are_readable_but_not_writable_by_team_tokens() {
    let env = Env::new();
    let a = env.token(AccessLevel::Write, Some("a"));
    let org =
        env.ok(Method::POST, "/v1/memories", Some(json!({"kind": "fact", "text": "The org uses UTC in logs."}))).await;
    let id = org["memory"]["id"].as_str().unwrap().to_string();
    let r = env.send(Req::new(Method::GET, &format!("/v1/memories/{id}")).token(&a)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["text"], "The org uses UTC in logs.");
    let list = env.send(Req::new(Method::GET, "/v1/memories").token(&a)).await.json();
    assert!(list.as_array().unwrap().iter().any(|m| m["id"] == id.as_str()));
    let h = env.send(Req::new(Method::GET, &format!("/v1/memories/{id}/history")).token(&a)).await;
    assert_eq!(h.status, StatusCode::OK);

    env.send(Req::new(Method::PATCH, &format!("/v1/memories/{id}")).token(&a).json(json!({"text": "Local time."})))
        .await
        .assert_error(403, "forbidden");
    env.send(Req::new(Method::POST, &format!("/v1/memories/{id}/retire")).token(&a))
        .await
        .assert_error(403, "forbidden");
    let r = env
        .send(
            Req::new(Method::POST, "/v1/memories").token(&a).json(json!({"kind": "fact", "text": "x", "scope": "org"})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = env.send(Req::new(Method::POST, "/v1/sessions?team=b").token(&a).raw(b"{}".to_vec())).await;
    r.assert_error(403, "forbidden");
    // Unchanged.
    let m = env.ok(Method::GET, &format!("/v1/memories/{id}"), None).await;
    assert_eq!(m["text"], "The org uses UTC in logs.");
    assert_eq!(m["status"], "active");
    // A team memory is writable by its team.
    let own = env
        .send(
            Req::new(Method::POST, "/v1/memories")
                .token(&a)
                .json(json!({"kind": "fact", "text": "Team a deploys with make."})),
        )
        .await;
    let own_id = own.json()["memory"]["id"].as_str().unwrap().to_string();
    let r = env
        .send(Req::new(Method::PATCH, &format!("/v1/memories/{own_id}")).token(&a).json(json!({"priority": 1})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// Team b uploads a transcript whose id team a already stored (the same
/// content, then different content): the answer is the same either way and
/// names nothing of team a's session; team a's session is untouched, and a
/// later upload of team a is not made to vanish.
#[tokio::test]
async fn an_upload_with_another_teams_session_id_is_refused_saying_nothing_about_it() {
    let env = Env::new();
    let a = env.token(AccessLevel::Write, Some("a"));
    let b = env.token(AccessLevel::Write, Some("b"));
    let ids = env.ingest_samples(&a, "a", "").await;
    let (file, id) = SAMPLES[3];
    assert_eq!(ids[3], id);
    let same = std::fs::read_to_string(samples().join(file)).unwrap();
    let changed = same.replace("off by a cent", "off by two cents");
    let before = env.ok(Method::GET, &format!("/v1/sessions/{id}"), None).await;

    let upload = |token: String, text: String| {
        let uri = format!("/v1/sessions?team=b&name={file}");
        let env = &env;
        async move { env.send(Req::new(Method::POST, &uri).token(&token).raw(text.into_bytes())).await }
    };
    let r_same = upload(b.clone(), same.clone()).await;
    let r_changed = upload(b.clone(), changed).await;
    for r in [&r_same, &r_changed] {
        r.assert_error(409, "conflict");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            msg.ends_with(&format!(
                "session {id}: this session id is not available; give the session another id (nothing was stored)"
            )),
            "{msg}"
        );
        assert!(!msg.contains("event") && !msg.contains("unchanged"), "no hint of the stored copy: {msg}");
    }
    assert_eq!((r_same.status, r_same.json()), (r_changed.status, r_changed.json()), "one answer whatever the content");
    // Team b still cannot see it, and team a's copy is as it was.
    env.send(Req::new(Method::GET, &format!("/v1/sessions/{id}")).token(&b)).await.assert_error(404, "not_found");
    assert_eq!(env.ok(Method::GET, &format!("/v1/sessions/{id}"), None).await, before);
    // Team a growing its own session is unaffected.
    let r = env
        .send(Req::new(Method::POST, &format!("/v1/sessions?team=a&name={file}")).token(&a).raw(same.into_bytes()))
        .await;
    assert_eq!(r.json()["files"][0]["sessions"][0]["result"], "unchanged", "{}", r.text());
}
