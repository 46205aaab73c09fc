//! Failures: what is retried (and after how long), what is not, and what
//! the caller is told.

use crate::common::{each_wire_and_mode, setup, setup_with, KEY};
use nocturne_fake_provider::{Reply, Script};
use nocturne_provider::{ChatModel, ChatRequest, Delta, Provider, ProviderError, RetryPolicy};
use std::time::Duration;

fn ask(stream: bool) -> ChatRequest {
    let mut r = ChatRequest::new("", "hi");
    r.stream = stream;
    r
}

#[test]
fn rate_limit_is_retried_after_the_servers_retry_after() {
    for (provider, stream) in each_wire_and_mode() {
        let s = setup(
            provider,
            [
                Reply::status(429).with_header("retry-after", "2").with_error_message("slow down"),
                Reply::status(429).with_header("retry-after-ms", "1500").with_header("retry-after", "9"),
                Reply::text("ok"),
            ],
        );
        let r = s.model.chat(&ask(stream)).unwrap();
        assert_eq!((r.text.as_str(), r.attempts), ("ok", 3), "{provider} stream={stream}");
        assert_eq!(
            s.clock.sleeps(),
            [Duration::from_secs(2), Duration::from_millis(1500)],
            "retry-after-ms wins over retry-after"
        );
        assert_eq!(s.server.request_count(), 3);
        let t = s.model.meter().totals();
        assert_eq!((t.requests, t.attempts, t.retries), (1, 3, 2));
        assert_eq!(t.elapsed, Duration::from_millis(3500), "the meter's elapsed time counts the waits");
    }
}

#[test]
fn server_errors_and_overload_back_off_exponentially() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let s = setup(provider, [Reply::status(500), Reply::status(529), Reply::status(503), Reply::text("ok")]);
        let r = s.model.chat(&ask(false)).unwrap();
        assert_eq!(r.attempts, 4);
        let sleeps = s.clock.sleeps();
        let policy = s.model.retry_policy().clone();
        assert_eq!(sleeps.len(), 3);
        for (i, d) in sleeps.iter().enumerate() {
            let full = RetryPolicy { jitter: false, ..policy.clone() }.delay(i as u32 + 1, None);
            assert!(*d >= full / 2 && *d <= full, "{provider}: wait {i} = {d:?}, back-off {full:?}");
        }
        assert_eq!(RetryPolicy { jitter: false, ..policy }.delay(3, None), Duration::from_secs(2));
    }
}

#[test]
fn retries_run_out_with_the_last_error() {
    let s = setup_with(
        Provider::Anthropic,
        Script::queue([Reply::status(529), Reply::status(529), Reply::status(529)]),
        |c| {
            c.retries = 2;
        },
    );
    let e = s.model.chat(&ask(false)).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Server { status: 529, message } if message.contains("overloaded_error")),
        "{e}"
    );
    assert_eq!(s.server.request_count(), 3);
    let t = s.model.meter().totals();
    assert_eq!((t.requests, t.failed, t.attempts), (1, 1, 3));
}

#[test]
fn a_refusal_is_never_retried_and_says_what_the_provider_said() {
    for (provider, stream) in each_wire_and_mode() {
        let s = setup(
            provider,
            [
                Reply::status(400).with_error_message("messages.0: text content blocks must be non-empty"),
                Reply::text("never"),
            ],
        );
        let e = s.model.chat(&ask(stream)).unwrap_err();
        let ProviderError::Refused { status: 400, message } = &e else { panic!("{provider}: {e:?}") };
        assert!(message.starts_with("messages.0: text content blocks must be non-empty"), "{message}");
        assert_eq!(s.server.request_count(), 1, "{provider}: sent once");
        assert!(s.clock.sleeps().is_empty());
    }
}

#[test]
fn a_slow_server_times_out_and_the_retry_succeeds() {
    for (provider, stream) in each_wire_and_mode() {
        let s =
            setup_with(provider, Script::queue([Reply::text("late").with_delay_ms(2500), Reply::text("ok")]), |c| {
                c.timeout_secs = 0.5;
                c.retries = 1;
            });
        let r = s.model.chat(&ask(stream)).unwrap();
        assert_eq!((r.text.as_str(), r.attempts), ("ok", 2), "{provider} stream={stream}");

        let s = setup_with(provider, Script::queue([Reply::text("late").with_delay_ms(2500)]), |c| {
            c.timeout_secs = 0.5;
            c.retries = 0;
        });
        let e = s.model.chat(&ask(stream)).unwrap_err();
        assert!(matches!(e, ProviderError::Timeout { secs, .. } if secs == 0.5), "{provider} stream={stream}: {e:?}");
        assert!(e.to_string().ends_with("no answer within 0.5 s"), "{e}");
    }
}

#[test]
fn a_stream_that_stalls_between_events_times_out() {
    let reply = Reply { event_delay_ms: 2000, ..Reply::text("slow") };
    let s = setup_with(Provider::Anthropic, Script::queue([reply]), |c| {
        c.timeout_secs = 0.5;
        c.retries = 0;
    });
    let e = s.model.chat(&ask(true)).unwrap_err();
    assert!(matches!(e, ProviderError::Timeout { .. }), "{e:?}");
}

#[test]
fn a_connection_dropped_mid_stream_is_retried_only_if_no_delta_was_delivered() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let dropped = Reply { drop_after_events: Some(4), chunk_chars: Some(2), ..Reply::text("a long answer") };
        // chat(): nothing was shown to anyone, so the retry is safe.
        let s = setup(provider, [dropped.clone(), Reply::text("whole")]);
        let r = s.model.chat(&ask(true)).unwrap();
        assert_eq!((r.text.as_str(), r.attempts), ("whole", 2), "{provider}");

        // chat_stream(): the caller saw deltas; a retry would repeat them.
        let s = setup(provider, [dropped, Reply::text("never")]);
        let mut seen = String::new();
        let e = s
            .model
            .chat_stream(&ask(false), &mut |d| {
                if let Delta::Text(t) = d {
                    seen.push_str(t)
                }
            })
            .unwrap_err();
        assert!(matches!(&e, ProviderError::Transport { .. }), "{provider}: {e:?}");
        assert!(!seen.is_empty() && "a long answer".starts_with(&seen), "{seen:?}");
        assert_eq!(s.server.request_count(), 1);
    }
}

#[test]
fn a_json_body_cut_short_is_a_transport_error() {
    let dropped = Reply { drop_after_events: Some(0), ..Reply::text("truncated body") };
    let s = setup_with(Provider::OpenAi, Script::queue([dropped]), |c| c.retries = 0);
    let e = s.model.chat(&ask(false)).unwrap_err();
    assert!(matches!(&e, ProviderError::Transport { .. }), "{e:?}");
}

#[test]
fn a_body_that_is_not_the_providers_json_is_malformed_and_not_retried() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let s = setup(
            provider,
            [Reply { raw_body: Some("{\"choices\": [oops".into()), ..Reply::default() }, Reply::text("x")],
        );
        let e = s.model.chat(&ask(false)).unwrap_err();
        assert!(matches!(&e, ProviderError::Malformed { what } if what.starts_with("answer is not JSON")), "{e:?}");
        assert_eq!(s.server.request_count(), 1);
    }
}

#[test]
fn a_tool_call_with_arguments_that_are_not_json_is_malformed() {
    for (provider, stream) in each_wire_and_mode() {
        let call = nocturne_fake_provider::FakeToolCall {
            raw_arguments: Some("{\"city\": Paris}".into()),
            ..nocturne_fake_provider::FakeToolCall::new("get_weather", serde_json::json!({}))
        };
        let s = setup(provider, [Reply { tool_calls: vec![call], ..Reply::default() }]);
        let e = s.model.chat(&ask(stream)).unwrap_err();
        assert!(
            matches!(&e, ProviderError::Malformed { what } if what.contains("get_weather") && what.contains("not JSON")),
            "{provider} stream={stream}: {e:?}"
        );
    }
}

#[test]
fn a_server_asking_to_wait_too_long_gets_the_error_back_at_once() {
    let s = setup(Provider::Anthropic, [Reply::status(429).with_header("retry-after", "3600"), Reply::text("x")]);
    let e = s.model.chat(&ask(false)).unwrap_err();
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
            message: "fake error (rate_limit_error) [request req_fake_error]".into()
        }
    );
    assert_eq!(s.server.request_count(), 1);
    assert!(s.clock.sleeps().is_empty());
}

#[test]
fn a_wrong_key_is_refused_with_401_and_never_echoed() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let script = Script { require_key: Some("the-right-key".into()), ..Script::queue([Reply::text("x")]) };
        let s = setup_with(provider, script, |_| {});
        let e = s.model.chat(&ask(false)).unwrap_err();
        assert!(matches!(&e, ProviderError::Refused { status: 401, .. }), "{e:?}");
        assert_eq!(s.server.request_count(), 1);
    }
    // A provider message that echoes the key is scrubbed before the caller sees it.
    let s = setup(
        Provider::OpenAi,
        [Reply::status(401).with_error_message(&format!("Incorrect API key provided: {KEY}."))],
    );
    let e = s.model.chat(&ask(false)).unwrap_err();
    assert_eq!(e.to_string(), "refused with HTTP 401: Incorrect API key provided: <redacted>. (invalid_request_error)");
    assert!(!format!("{e:?}{:?}", s.model).contains(KEY));
}

#[test]
fn connection_refused_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = nocturne_provider::ModelConfig::new(Provider::LlamaCpp, format!("http://127.0.0.1:{port}/v1"), "m");
    c.retries = 0;
    let model = nocturne_provider::Model::new(c, None).unwrap();
    let e = model.chat(&ask(false)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("http://127.0.0.1:{port}/v1/chat/completions: connection refused (is the server running?)")
    );
    assert!(e.is_retryable());
}

#[test]
fn bad_requests_are_refused_before_anything_is_sent() {
    let s = setup(Provider::Anthropic, [Reply::text("x")]);
    let mut empty = ChatRequest::new("", "");
    let e = s.model.chat(&empty).unwrap_err();
    assert_eq!(e, ProviderError::Config("message 0 has no content".into()));
    empty.messages.clear();
    assert!(matches!(s.model.chat(&empty), Err(ProviderError::Config(_))));
    let mut bad_tool = ask(false);
    bad_tool.tools.push(nocturne_provider::ToolSpec {
        name: "bad name!".into(),
        description: String::new(),
        input_schema: serde_json::json!({"type": "object"}),
    });
    assert!(matches!(s.model.chat(&bad_tool), Err(ProviderError::Config(m)) if m.contains("bad name!")));
    assert_eq!(s.server.request_count(), 0);
}
