//! The doctor says plainly what is wrong.

use crate::common::{config, KEY};
use nocturne_fake_provider::{FakeServer, Matcher, Reply, Rule, Script};
use nocturne_provider::doctor::check_with_key;
use nocturne_provider::{ApiKey, JsonSchemaMode, ModelConfig, Provider};

fn key() -> Option<ApiKey> {
    Some(ApiKey::new(KEY).unwrap())
}

fn details(r: &nocturne_provider::DoctorReport) -> Vec<(String, bool, String)> {
    r.checks.iter().map(|c| (c.name.clone(), c.ok, c.detail.clone())).collect()
}

#[test]
fn a_healthy_model_passes_chat_and_json_schema() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = FakeServer::start(Script::queue([
            Reply::text("OK").with_usage(12, 1),
            Reply::json(serde_json::json!({"yes": true})),
        ]))
        .unwrap();
        let r = check_with_key(&config(provider, &server), key()).unwrap();
        assert!(r.ok(), "{}", r.render());
        let d = details(&r);
        assert_eq!(d[0], ("key".into(), true, "read from NOCTURNE_MODEL_KEY".into()));
        assert!(d[1].2.starts_with("test-model answered \"OK\" in "), "{}", d[1].2);
        assert!(d[1].2.ends_with("(12 tokens in, 1 out)"), "{}", d[1].2);
        assert!(d[2].2.contains("constrained by") && d[2].2.ends_with("got {\"yes\":true}"), "{}", d[2].2);
        assert_eq!(server.request_count(), 2, "one tiny request and one tiny structured request");
    }
}

#[test]
fn connection_refused_at_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = ModelConfig::new(Provider::Ollama, format!("http://127.0.0.1:{port}/v1"), "qwen2.5:7b");
    let r = check_with_key(&c, None).unwrap();
    assert!(!r.ok());
    assert_eq!(
        r.checks.last().unwrap().detail,
        format!("connection refused at http://127.0.0.1:{port}/v1/chat/completions: is the server running and the port right?")
    );
}

#[test]
fn a_bad_key_names_the_environment_variable() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = FakeServer::start(Script { require_key: Some("right".into()), ..Script::default() }).unwrap();
        let mut c = config(provider, &server);
        c.api_key_env = "MY_MODEL_KEY".into();
        let r = check_with_key(&c, key()).unwrap();
        let last = &r.checks.last().unwrap().detail;
        assert!(last.starts_with("the server rejected the key from MY_MODEL_KEY (HTTP 401/403): "), "{last}");
        assert!(!r.render().contains(KEY));
    }
    let server = FakeServer::start(Script { require_key: Some("right".into()), ..Script::default() }).unwrap();
    let r = check_with_key(&config(Provider::OpenAi, &server), None).unwrap();
    assert!(r
        .checks
        .last()
        .unwrap()
        .detail
        .starts_with("the server wants a key: set the environment variable NOCTURNE_MODEL_KEY"));
}

#[test]
fn anthropic_without_a_key_is_reported_before_any_request() {
    let server = FakeServer::start(Script::default()).unwrap();
    let r = check_with_key(&config(Provider::Anthropic, &server), None).unwrap();
    assert_eq!(
        details(&r),
        [("key".into(), false, "the environment variable NOCTURNE_MODEL_KEY is not set; Anthropic needs a key".into())]
    );
    assert_eq!(server.request_count(), 0);
}

#[test]
fn an_unknown_model_and_a_wrong_path() {
    let server = FakeServer::start(Script { models: Some(vec!["qwen2.5:7b".into()]), ..Script::default() }).unwrap();
    let r = check_with_key(&config(Provider::OpenAi, &server), None).unwrap();
    let last = &r.checks.last().unwrap().detail;
    assert!(last.starts_with("model \"test-model\" not found: model: test-model does not exist"), "{last}");

    let mut c = config(Provider::OpenAi, &server);
    c.base_url = server.url(); // forgot the /v1
    let r = check_with_key(&c, None).unwrap();
    let last = &r.checks.last().unwrap().detail;
    assert!(last.contains("the base URL of an OpenAI-compatible server must end in /v1"), "{last}");
}

#[test]
fn a_server_without_json_schema_support_is_named() {
    let script = Script {
        rules: vec![Rule {
            matcher: Matcher { body_contains: Some("response_format".into()), ..Matcher::default() },
            key: None,
            replies: vec![Reply::status(400).with_error_message("response_format is not supported by this server")],
            repeat_last: true,
        }],
        fallback: Some(Reply::text("{\"yes\": true}")),
        ..Script::default()
    };
    let server = FakeServer::start(script).unwrap();
    let r = check_with_key(&config(Provider::LlamaCpp, &server), None).unwrap();
    assert!(r.ok(), "auto falls back: {}", r.render());
    assert!(
        r.checks[2].detail.starts_with("the server does not support response_format json_schema"),
        "{}",
        r.render()
    );

    let mut c = config(Provider::LlamaCpp, &server);
    c.json_schema = JsonSchemaMode::On;
    let r = check_with_key(&c, None).unwrap();
    assert!(!r.ok());
    assert!(r.checks[2].detail.contains("try \"auto\""), "{}", r.render());
}
