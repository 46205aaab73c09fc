//! `/v1/runs` and the runs pages: a run's tree of agents from its journal,
//! team-scoped.

use crate::{Env, Req};
use axum::http::{Method, StatusCode};
use nocturne_service::{Access, AgentRun, JournalEntry};
use serde_json::{json, Value};

fn entry(run: &str, agent: &str, step: u32, phase: &str, kind: &str, body: Value) -> JournalEntry {
    JournalEntry {
        seq: 0,
        run: run.into(),
        agent: agent.into(),
        step,
        phase: phase.into(),
        kind: kind.into(),
        digest: String::new(),
        at: "2026-11-17T10:00:00Z".into(),
        body,
    }
}

fn start(name: &str, task: &str, session: &str, parent: Option<&str>) -> Value {
    json!({"name": name, "task": task, "attempt": 1, "session": session, "system": "s", "user": task,
           "tools": [], "mode": "native", "budget": {"turns": 5}, "model": "openai:http://x/v1#m", "parent": parent})
}

/// A run of team `team`: a lead whose one sub-agent failed, the lead completed.
fn seed(env: &Env, id: &str, team: &str) {
    let s = env.svc.scoped(Access::local());
    s.put_agent_run(&AgentRun {
        id: id.into(),
        agent: "lead".into(),
        task: "write the report".into(),
        team: Some(team.into()),
        user: None,
        state: "completed".into(),
        created_at: "2026-11-17T10:00:00Z".into(),
        updated_at: "2026-11-17T10:00:09Z".into(),
        cancel_requested_at: None,
        result: Some(json!({"status": "completed", "output": "report <done>", "usage": {"turns": 3, "tool_calls": 1,
            "input_tokens": 30, "output_tokens": 9, "cost_usd": 0.0}})),
        runner: None,
        setup: json!({}),
    })
    .unwrap();
    let usage = json!({"turns": 1, "tool_calls": 0, "input_tokens": 10, "output_tokens": 3, "cost_usd": 0.0});
    let failed = json!({"status": "failed", "kind": "model_error", "message": "the model is down", "attempts": 2, "usage": usage});
    s.append_journal(&[
        entry(id, "root", 0, "finished", "start", start("lead", "write the report", &format!("{id}/root"), None)),
        entry(id, "root", 1, "finished", "model", json!({"response": {}})),
        entry(id, "root", 2, "started", "spawn", json!({"agent": "writer"})),
        entry(id, "root/2", 0, "finished", "start", start("writer", "draft it", &format!("{id}/root/2"), Some("root"))),
        entry(id, "root/2", 1, "finished", "model", json!({"error": {"message": "the model is down"}})),
        entry(id, "root/2", 2, "finished", "end", json!({"result": failed})),
        entry(id, "root", 2, "finished", "spawn", json!({"result": failed})),
        entry(id, "root", 3, "finished", "model", json!({"response": {}})),
        entry(
            id,
            "root",
            4,
            "finished",
            "end",
            json!({"result": {"status": "completed", "output": "report <done>", "usage": usage}}),
        ),
    ])
    .unwrap();
}

#[tokio::test]
async fn a_runs_tree_is_served_as_json_and_as_a_page_and_only_to_its_team() {
    let env = Env::new();
    seed(&env, "run-20261117-100000-aaaaaa", "a");
    seed(&env, "run-20261117-100000-bbbbbb", "b");
    let a = env.token(nocturne_service::AccessLevel::Read, Some("a"));

    let list = env.send(Req::new(Method::GET, "/v1/runs").token(&a)).await.json();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["run-20261117-100000-aaaaaa"], "a team token lists its team's runs only");

    let v = env.send(Req::new(Method::GET, "/v1/runs/run-20261117-100000-aaaaaa").token(&a)).await.json();
    assert_eq!(v["state"], "completed");
    assert_eq!(v["journal_entries"], 9);
    assert_eq!(v["tree"]["agent"], "lead");
    let child = &v["tree"]["children"][0];
    assert_eq!(child["path"], "root/2");
    assert_eq!(child["state"], "failed");
    assert_eq!(child["result"]["kind"], "model_error");

    let r = env.send(Req::new(Method::GET, "/v1/runs/run-20261117-100000-bbbbbb").token(&a)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another team's run reads as not stored");
    let r = env.send(Req::new(Method::GET, "/v1/runs/run-20261117-100000-bbbbbb/journal").token(&a)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let page = env.send(Req::new(Method::GET, "/runs/run-20261117-100000-aaaaaa").token(&a)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<b>writer</b> <code>root/2</code>"), "{html}");
    assert!(html.contains("<code>model_error</code> after 2 attempt(s): the model is down"), "{html}");
    assert!(html.contains("report &lt;done&gt;") || html.contains("completed"), "{html}");
    let list_page = env.send(Req::new(Method::GET, "/runs").token(&a)).await.text();
    assert!(list_page.contains("run-20261117-100000-aaaaaa") && !list_page.contains("bbbbbb"), "{list_page}");

    // Cancelling an ended run is a conflict; another team's is not found.
    let w = env.token(nocturne_service::AccessLevel::Write, Some("a"));
    let r = env.send(Req::new(Method::POST, "/v1/runs/run-20261117-100000-aaaaaa/cancel").token(&w)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = env.send(Req::new(Method::POST, "/v1/runs/run-20261117-100000-bbbbbb/cancel").token(&w)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A runtime stand-in: records the run it is asked for (the real one is
/// nocturne-runtime's, above the server; the CLI tests run it).
struct RecordingHost;

impl nocturne_service::RunHost for RecordingHost {
    fn can_create(&self) -> bool {
        true
    }

    fn create(
        &self,
        s: &nocturne_service::Scoped<'_>,
        req: &nocturne_service::NewRun,
    ) -> nocturne_service::Result<AgentRun> {
        if req.agent != "lead" {
            return Err(nocturne_service::ServiceError::Invalid(format!("unknown agent {:?}", req.agent)));
        }
        let id = format!("run-20261117-100000-{}", req.task.len());
        s.put_agent_run(&AgentRun {
            id: id.clone(),
            agent: req.agent.clone(),
            task: req.task.clone(),
            team: req.team.clone(),
            user: req.user.clone(),
            state: "running".into(),
            created_at: "2026-11-17T10:00:00Z".into(),
            updated_at: "2026-11-17T10:00:00Z".into(),
            cancel_requested_at: None,
            result: None,
            runner: None,
            setup: json!({}),
        })?;
        s.agent_run(&id)
    }

    fn resume(
        &self,
        _: &nocturne_service::Service,
        _: &Access,
        _: &str,
        _: std::time::Duration,
    ) -> nocturne_service::Result<nocturne_service::RunResumed> {
        Ok(nocturne_service::RunResumed::Held)
    }
}

#[tokio::test]
async fn runs_are_queued_as_jobs_with_the_callers_scope_and_refused_without_a_runtime() {
    let env = Env::new();
    let w = env.token(nocturne_service::AccessLevel::Write, Some("a"));
    let r = env.token(nocturne_service::AccessLevel::Read, None);
    let body = json!({"agent": "lead", "task": "sum it"});
    // The server of `env` has no runtime: a writer is told so, a reader is refused first.
    let resp = env.send(Req::new(Method::POST, "/v1/runs").token(&r).json(body.clone())).await;
    resp.assert_error(403, "forbidden");
    let resp = env.send(Req::new(Method::POST, "/v1/runs").token(&w).json(body.clone())).await;
    resp.assert_error(503, "unavailable");
    assert!(resp.json()["error"]["message"].as_str().unwrap().contains("cannot start runs"));

    let app = nocturne_server::router(nocturne_server::AppState::new(
        env.svc.clone().with_run_host(std::sync::Arc::new(RecordingHost)),
    ));
    let resp = crate::send(&app, Req::new(Method::POST, "/v1/runs").token(&w).json(body.clone())).await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text());
    let v = resp.json();
    let run = v["run"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["run"]["team"], "a", "a team token's run is its team's");
    assert_eq!((v["job"]["kind"].as_str(), v["job"]["state"].as_str()), (Some("run"), Some("queued")));
    assert_eq!(v["job"]["team"], "a");
    assert_eq!(v["job"]["payload"], json!({"run": run}));
    // Another team, an unknown field, a bad agent: refused, nothing queued.
    let other = json!({"agent": "lead", "task": "sum it again", "team": "b"});
    crate::send(&app, Req::new(Method::POST, "/v1/runs").token(&w).json(other)).await.assert_error(403, "forbidden");
    let typo = json!({"agent": "lead", "tsk": "x"});
    crate::send(&app, Req::new(Method::POST, "/v1/runs").token(&w).json(typo)).await.assert_error(400, "invalid_input");
    let bad = json!({"agent": "nobody", "task": "x"});
    crate::send(&app, Req::new(Method::POST, "/v1/runs").token(&w).json(bad)).await.assert_error(400, "invalid_input");
    let jobs = env.send(Req::new(Method::GET, "/v1/jobs?kind=run").token(&r)).await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");

    // A resumption is queued while no other job of the run is open; an ended run has none.
    let uri = format!("/v1/runs/{run}/resume");
    crate::send(&app, Req::new(Method::POST, &uri).token(&w)).await.assert_error(409, "conflict");
    seed(&env, "run-20261117-100000-aaaaaa", "a");
    let ended = "/v1/runs/run-20261117-100000-aaaaaa/resume";
    let resp = crate::send(&app, Req::new(Method::POST, ended).token(&w)).await;
    resp.assert_error(409, "conflict");
    assert!(resp.json()["error"]["message"].as_str().unwrap().contains("has ended (completed)"));
}
