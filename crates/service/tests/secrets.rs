//! Secrets never reach memory, and never leave through export, context or
//! search: the write paths refuse or redact them (see SECURITY.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, Role};
use nocturne_service::{
    Access, ContextRequest, DreamSpec, LogOutcome, MemoryEdit, MemoryFilter, NewMemory, OpSelection, Service,
    ServiceError,
};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use std::sync::Arc;

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const GH_TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";

fn service() -> Service {
    Service::with_store(
        Arc::new(SqliteStore::open_in_memory().unwrap()),
        Arc::new(|| "2026-11-01T00:00:00Z".to_string()),
    )
}

fn ev(role: Role, kind: EventKind, text: &str, tool: Option<(&str, &str)>, is_error: bool) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: tool.map(|(n, _)| n.to_string()),
        tool_input: tool.map(|(_, i)| i.to_string()),
        tool_use_id: None,
        text: Some(text.into()),
        is_error,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    }
}

/// A session where the user states a preference quoting an AWS credentials
/// file, and a deploy fails then works: the shapes the issue saw go from
/// four sessions through a dream into memory.
fn session(i: usize) -> SessionRecord {
    let bash = |cmd: &str| ev(Role::Assistant, EventKind::ToolCall, "", Some(("Bash", cmd)), false);
    let out = |text: &str, err: bool| ev(Role::Tool, EventKind::ToolResult, text, Some(("Bash", "")), err);
    let cmd = format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET} aws s3 sync dist s3://shop-assets");
    SessionRecord {
        session: NewSession {
            id: format!("deploy-{i}"),
            format: "nocturne".into(),
            source: None,
            user: Some(["ana", "bob", "carol", "dave"][i % 4].into()),
            agent: Some("coder".into()),
            team: Some("shop".into()),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: vec![
                ev(
                    Role::User,
                    EventKind::UserMessage,
                    &format!(
                        "Always deploy with the deploy profile. My credentials file has \
                         aws_secret_access_key = {AWS_SECRET} and the bare key is {AWS_SECRET}."
                    ),
                    None,
                    false,
                ),
                bash(&cmd),
                out(&format!("fatal error: An error occurred (AccessDenied) using {AWS_SECRET}"), true),
                bash("aws s3 sync dist s3://shop-assets --profile deploy"),
                out("upload: dist/index.html to s3://shop-assets/index.html", false),
            ],
        },
        ingested_at: "2026-11-01T00:00:00Z".into(),
    }
}

fn everything_that_leaves(svc: &Service) -> String {
    let mut out = serde_json::to_string(&svc.scoped(Access::local()).export_json().unwrap()).unwrap();
    out.push_str(&svc.scoped(Access::local()).export_markdown(None).unwrap());
    let ctx = svc
        .scoped(Access::local())
        .context(&ContextRequest { task: "deploy to s3 with aws".into(), budget: 4000, ..Default::default() })
        .unwrap();
    out.push_str(&serde_json::to_string(&ctx).unwrap());
    out.push_str(
        &serde_json::to_string(
            &svc.scoped(Access::local()).memory_search("aws secret access key deploy", 20, None, None).unwrap(),
        )
        .unwrap(),
    );
    out.push_str(
        &serde_json::to_string(
            &svc.scoped(Access::local()).sessions_search("aws_secret_access_key", 20, None).unwrap(),
        )
        .unwrap(),
    );
    out.push_str(
        &serde_json::to_string(
            &svc.scoped(Access::local())
                .memories(&MemoryFilter { include_retired: true, ..Default::default() })
                .unwrap(),
        )
        .unwrap(),
    );
    out
}

#[test]
fn an_aws_secret_in_four_sessions_reaches_no_memory_export_context_or_search() {
    let svc = service();
    svc.store().append_sessions(&(0..4).map(session).collect::<Vec<_>>()).unwrap();
    let (p, _) = svc
        .scoped(Access::local_as("user:test"))
        .dream(&DreamSpec { min_support: Some(2), ..Default::default() }, false)
        .unwrap();
    assert!(!p.ops.is_empty(), "the dream proposes something from the four sessions: {p:?}");
    let proposal = serde_json::to_string(&p).unwrap();
    assert!(!proposal.contains("wJalrXUtnFEMI"), "the proposal quotes the secret: {proposal}");
    svc.scoped(Access::local_as("user:test")).apply_dream(&p.id, &OpSelection::default()).unwrap();
    assert!(!svc.scoped(Access::local()).memories(&MemoryFilter::default()).unwrap().is_empty());
    let out = everything_that_leaves(&svc);
    assert!(!out.contains("wJalrXUtnFEMI"), "a secret left the store: {out}");
    // The log itself keeps what the agent saw.
    let (_, events) = svc.scoped(Access::local()).session("deploy-0").unwrap();
    assert!(events.iter().any(|e| e.body.text.as_deref().is_some_and(|t| t.contains(AWS_SECRET))));
}

#[test]
fn a_memory_tag_with_a_token_is_refused_on_add_and_edit() {
    let svc = service();
    let m = NewMemory {
        kind: "fact".into(),
        text: "Pushes use the bot account.".into(),
        tags: vec!["ci".into(), GH_TOKEN.into()],
        scope: None,
        priority: 0,
    };
    let err = svc.scoped(Access::local_as("user:test")).memory_add(&m, None).unwrap_err();
    assert_eq!(err.code(), nocturne_service::ErrorCode::InvalidInput, "{err}");
    assert_eq!(err.field(), Some("tags"), "the error names the field: {err}");
    assert!(err.to_string().contains("tag") && !err.to_string().contains(GH_TOKEN), "{err}");
    let (m, _) = svc
        .scoped(Access::local_as("user:test"))
        .memory_add(&NewMemory { tags: vec!["ci".into()], ..m }, None)
        .unwrap();
    let e = MemoryEdit { tags: Some(vec![format!("token={GH_TOKEN}")]), ..Default::default() };
    let err = svc.scoped(Access::local_as("user:test")).memory_edit(&m.id, &e, None).unwrap_err();
    assert!(err.to_string().contains("tag"), "{err}");
    let err = svc
        .scoped(Access::local_as("user:test"))
        .memory_retire(&m.id, Some(&format!("rotated {GH_TOKEN}")), None)
        .unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");
    assert_eq!(svc.scoped(Access::local()).memory(&m.id).unwrap().tags, ["ci"]);
}

#[test]
fn an_outcome_comment_is_stored_and_exported_redacted() {
    let svc = service();
    svc.store().append_sessions(&[session(0)]).unwrap();
    let logged = svc
        .scoped(Access::local())
        .log_outcome(&LogOutcome {
            session: "deploy-0".into(),
            set: vec!["result=failure".into(), format!("reviewer_note=it printed password: hunter2222 to the log")],
            comment: Some(format!("ran PGPASSWORD=hunter2222 psql with {GH_TOKEN}")),
            ..Default::default()
        })
        .unwrap();
    let stored = serde_json::to_string(&svc.scoped(Access::local()).outcomes(None).unwrap()).unwrap();
    assert!(!stored.contains("hunter2222") && !stored.contains(GH_TOKEN), "{stored}");
    assert!(stored.contains("PGPASSWORD=[REDACTED] psql"), "the comment stays readable: {stored}");
    assert_eq!(logged.len(), 2);
    let export = serde_json::to_string(&svc.scoped(Access::local()).export_json().unwrap()).unwrap();
    assert!(!export.contains("hunter2222") && !export.contains(GH_TOKEN), "{export}");
}

#[test]
fn import_refuses_what_memory_add_refuses_naming_the_file_and_the_memory() {
    let src = service();
    let (m, _) = src
        .scoped(Access::local_as("user:test"))
        .memory_add(
            &NewMemory {
                kind: "fact".into(),
                text: "Deploys read the key from the vault.".into(),
                tags: vec![],
                scope: None,
                priority: 0,
            },
            None,
        )
        .unwrap();
    let doc = serde_json::to_string(&src.scoped(Access::local()).export_json().unwrap()).unwrap();
    // A hand-edited file: the same memory, now with a secret, in the list and in its revision.
    let edited = doc.replace("Deploys read the key from the vault.", &format!("Deploys use {GH_TOKEN}."));
    for into in [service(), {
        let s = service();
        s.scoped(Access::local_as("u"))
            .memory_add(
                &NewMemory { kind: "fact".into(), text: "Other.".into(), tags: vec![], scope: None, priority: 0 },
                None,
            )
            .unwrap();
        s
    }] {
        let err = into.scoped(Access::local()).import_json(edited.as_bytes(), "memory.json").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, ServiceError::InvalidFile { file, .. } if file == "memory.json"), "{msg}");
        assert!(msg.starts_with("memory.json: ") && msg.contains(&m.id) && msg.contains("text"), "{msg}");
        assert!(!msg.contains(GH_TOKEN), "{msg}");
    }
    // memory add refuses the same text.
    let err = src
        .scoped(Access::local_as("u"))
        .memory_add(
            &NewMemory {
                kind: "fact".into(),
                text: format!("Deploys use {GH_TOKEN}."),
                tags: vec![],
                scope: None,
                priority: 0,
            },
            None,
        )
        .unwrap_err();
    assert_eq!(err.code(), nocturne_service::ErrorCode::InvalidInput, "{err}");
    assert_eq!(err.field(), Some("text"), "{err}");
    // The clean export imports.
    service().scoped(Access::local()).import_json(doc.as_bytes(), "memory.json").unwrap();
}

#[test]
fn a_stored_proposal_quoting_a_secret_is_applied_redacted() {
    let svc = service();
    svc.store().append_sessions(&[session(0)]).unwrap();
    // A pending suggestion, then its op text edited in the store as an older version would have left it.
    let p = svc
        .scoped(Access::local())
        .propose_memory(&nocturne_service::MemorySuggestion {
            kind: "fact".into(),
            text: "Deploys use the deploy profile.".into(),
            by: "agent".into(),
            ..Default::default()
        })
        .unwrap();
    let mut old = p.clone();
    old.id = "p-planted".into();
    old.ops[0].text = format!("Deploys use aws_secret_access_key = {AWS_SECRET}.");
    svc.store().insert_proposal(&old).unwrap();
    svc.scoped(Access::local_as("user:test")).apply_dream(&old.id, &OpSelection::default()).unwrap();
    let mems = serde_json::to_string(&svc.scoped(Access::local()).memories(&MemoryFilter::default()).unwrap()).unwrap();
    assert!(!mems.contains("wJalrXUtnFEMI") && mems.contains("aws_secret_access_key = [REDACTED]"), "{mems}");
}

#[test]
fn a_context_task_quoting_a_secret_is_recorded_redacted_and_a_taxonomy_with_one_refused() {
    let svc = service();
    svc.scoped(Access::local())
        .context(&ContextRequest { task: format!("deploy with {GH_TOKEN}"), budget: 100, ..Default::default() })
        .unwrap();
    let usages = serde_json::to_string(&svc.scoped(Access::local()).usages(None).unwrap()).unwrap();
    assert!(!usages.contains(GH_TOKEN), "{usages}");
    let toml = format!(
        "[[dimension]]\nname = \"result\"\ntype = \"categorical\"\nprimary = true\ndescription = \"token {GH_TOKEN}\"\nlabel = [{{ name = \"ok\", value = 1.0 }}]\n"
    );
    let err = svc.scoped(Access::local()).set_taxonomy(&toml, "taxonomy.toml", false).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("taxonomy.toml: ") && msg.contains("secret") && !msg.contains(GH_TOKEN), "{msg}");
}
