//! Both adapters, JSON and SSE, against the fake server: what is sent (to
//! the byte) and what comes back.

use crate::common::{each_wire_and_mode, setup, KEY};
use nocturne_fake_provider::{FakeUsage, Reply};
use nocturne_provider::{ChatModel, ChatRequest, Delta, Pricing, Provider, StopReason, Usage};

fn hello(stream: bool) -> ChatRequest {
    let mut r = ChatRequest::new("Be terse.", "Say hello");
    r.max_tokens = Some(64);
    r.temperature = Some(0.0);
    r.stream = stream;
    r
}

#[test]
fn text_answers_in_both_wire_formats_json_and_sse() {
    for (provider, stream) in each_wire_and_mode() {
        let reply = Reply {
            usage: Some(FakeUsage { input_tokens: 12, output_tokens: 5, cache_read: 0, cache_write: 0 }),
            chunk_chars: Some(3),
            ..Reply::text("Hello, world! Nice to meet you.")
        };
        let s = setup(provider, [reply]);
        let r = s.model.chat(&hello(stream)).unwrap();
        assert_eq!(r.text, "Hello, world! Nice to meet you.", "{provider} stream={stream}");
        assert_eq!(r.stop_reason, StopReason::EndTurn);
        assert_eq!(r.usage, Usage { input_tokens: 12, output_tokens: 5, cache_read: 0, cache_write: 0 });
        assert_eq!(r.model, "test-model");
        assert_eq!(r.attempts, 1);
        assert_eq!(r.request_id.as_deref(), Some("req_fake_1"), "{provider}: the request id header is kept");
        assert_eq!(s.server.request_count(), 1);
    }
}

#[test]
fn streaming_calls_back_with_each_delta() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let reply = Reply { chunk_chars: Some(4), ..Reply::text("one two three four") };
        let s = setup(provider, [reply]);
        let mut pieces = Vec::new();
        let r = s
            .model
            .chat_stream(&hello(false), &mut |d| {
                if let Delta::Text(t) = d {
                    pieces.push(t.clone())
                }
            })
            .unwrap();
        assert_eq!(pieces, ["one ", "two ", "thre", "e fo", "ur"], "{provider}");
        assert_eq!(r.text, pieces.concat());
        assert_eq!(s.server.requests()[0].json()["stream"], true, "chat_stream always streams");
    }
}

/// The request bytes, exactly: nothing is sent that was not asked for.
#[test]
fn exact_request_bytes_and_headers() {
    let cases = [
        (
            Provider::Anthropic,
            false,
            "/v1/messages",
            r#"{"model":"test-model","max_tokens":64,"system":"Be terse.","messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}],"temperature":0.0}"#,
        ),
        (
            Provider::Anthropic,
            true,
            "/v1/messages",
            r#"{"model":"test-model","max_tokens":64,"system":"Be terse.","messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}],"temperature":0.0,"stream":true}"#,
        ),
        (
            Provider::OpenAi,
            false,
            "/v1/chat/completions",
            r#"{"model":"test-model","messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Say hello"}],"max_tokens":64,"temperature":0.0}"#,
        ),
        (
            Provider::OpenAi,
            true,
            "/v1/chat/completions",
            r#"{"model":"test-model","messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Say hello"}],"max_tokens":64,"temperature":0.0,"stream":true,"stream_options":{"include_usage":true}}"#,
        ),
    ];
    for (provider, stream, path, body) in cases {
        let s = setup(provider, [Reply::text("hi")]);
        s.model.chat(&hello(stream)).unwrap();
        let reqs = s.server.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", path));
        assert_eq!(r.body, body, "{provider} stream={stream}");

        let mut names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let mut want = vec!["content-length", "content-type", "host", "user-agent"];
        match provider {
            Provider::Anthropic => want.extend(["anthropic-version", "x-api-key"]),
            _ => want.push("authorization"),
        }
        want.push("accept");
        want.sort_unstable();
        assert_eq!(names, want, "{provider} stream={stream}: headers sent");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("accept"), Some(if stream { "text/event-stream" } else { "*/*" }));
        if provider == Provider::Anthropic {
            assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
        }

        // The key: exactly once in everything received, and there only in its header.
        let raw = String::from_utf8(r.raw.clone()).unwrap();
        assert_eq!(raw.matches(KEY).count(), 1, "{provider}: {raw}");
        let line = raw.lines().find(|l| l.contains(KEY)).unwrap().to_ascii_lowercase();
        let expected = match provider {
            Provider::Anthropic => format!("x-api-key: {KEY}"),
            _ => format!("authorization: bearer {KEY}"),
        };
        assert_eq!(line, expected.to_ascii_lowercase());
        assert!(!r.body.contains(KEY));
        assert_eq!(
            r.header("x-api-key").or(r.header("authorization")),
            Some("<redacted>"),
            "the fake's log never keeps it"
        );
    }
}

#[test]
fn no_key_means_no_auth_header_for_local_servers() {
    let server =
        nocturne_fake_provider::FakeServer::start(nocturne_fake_provider::Script::queue([Reply::text("hi")])).unwrap();
    let model = nocturne_provider::Model::new(crate::common::config(Provider::Ollama, &server), None).unwrap();
    model.chat(&hello(false)).unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.path, "/v1/chat/completions");
}

#[test]
fn usage_and_cost_add_up_to_what_the_server_reported() {
    for (provider, stream) in each_wire_and_mode() {
        let replies = [
            Reply {
                usage: Some(FakeUsage { input_tokens: 1200, output_tokens: 300, cache_read: 4000, cache_write: 0 }),
                ..Reply::text("a")
            },
            Reply {
                usage: Some(FakeUsage { input_tokens: 800, output_tokens: 100, cache_read: 0, cache_write: 0 }),
                ..Reply::text("b")
            },
        ];
        let s = setup(provider, replies);
        s.model.chat(&hello(stream)).unwrap();
        s.model.chat(&hello(stream)).unwrap();
        let t = s.model.meter().totals();
        assert_eq!((t.requests, t.succeeded, t.attempts, t.retries), (2, 2, 2, 0));
        let want = Usage { input_tokens: 2000, output_tokens: 400, cache_read: 4000, cache_write: 0 };
        assert_eq!(t.usage, want, "{provider} stream={stream}");
        // Prices: 3 $/Mtok in, 15 out; cache reads at the input price unless configured.
        let cost =
            Pricing { input_per_mtok: 3.0, output_per_mtok: 15.0, cache_read_per_mtok: 3.0, cache_write_per_mtok: 3.0 }
                .cost(&want);
        assert!((t.cost_usd - cost).abs() < 1e-12, "{} vs {cost}", t.cost_usd);
        assert!((cost - (2000.0 * 3.0 + 400.0 * 15.0 + 4000.0 * 3.0) / 1e6).abs() < 1e-12);
    }
}

#[test]
fn a_preview_is_the_exact_body_the_first_attempt_sends() {
    use nocturne_provider::{preview, JsonSchema};
    for (provider, stream) in each_wire_and_mode() {
        let s = setup(provider, [Reply::json(serde_json::json!({"ok": true}))]);
        let mut req = hello(stream);
        req.response_schema = Some(JsonSchema {
            name: "answer".into(),
            schema: serde_json::json!({"type": "object", "properties": {"ok": {"type": "boolean"}},
                                       "required": ["ok"], "additionalProperties": false}),
        });
        let p = preview(s.model.config(), &req).unwrap();
        s.model.chat(&req).unwrap();
        let sent = &s.server.requests()[0];
        assert_eq!(p.endpoint, s.model.endpoint(), "{provider}");
        assert_eq!(p.body, sent.body_bytes, "{provider} stream={stream}: the preview is the body sent, byte for byte");
        assert!(!String::from_utf8_lossy(&p.body).contains(KEY), "no key in a preview");
    }
}
