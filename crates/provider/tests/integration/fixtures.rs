//! The recorded provider fixtures (`shared/fixtures/providers`, beside the
//! repository: the official SDKs' own test recordings) parse into the
//! answers they hold.

use nocturne_provider::wire::ParseOptions;
use nocturne_provider::{
    anthropic, check_answer, extract_json, openai, Delta, JsonSchema, ProviderError, StopReason, Usage,
};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// `shared/fixtures/providers` (see `nocturne_testdata`); `None`, with a
/// notice, if absent.
fn root() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = nocturne_testdata::shared(&here, "fixtures/providers");
    if found.is_none() {
        eprintln!("NOTICE: shared/fixtures/providers not found beside the repository; fixture tests skipped");
    }
    found
}

fn read(rel: &str) -> Option<Vec<u8>> {
    let path = root()?.join(rel);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn opts() -> ParseOptions {
    ParseOptions::default()
}

struct Streamed {
    resp: nocturne_provider::ChatResponse,
    deltas: Vec<Delta>,
}

impl Streamed {
    fn text_deltas(&self) -> String {
        self.deltas.iter().filter_map(|d| if let Delta::Text(t) = d { Some(t.as_str()) } else { None }).collect()
    }

    fn argument_deltas(&self, index: usize) -> String {
        self.deltas
            .iter()
            .filter_map(|d| match d {
                Delta::ToolArguments { index: i, json } if *i == index => Some(json.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn anthropic_sse(rel: &str) -> Option<Streamed> {
    let bytes = read(&format!("anthropic/sse/{rel}"))?;
    let mut deltas = Vec::new();
    let resp = anthropic::parse_stream(&bytes[..], &opts(), &mut |d| deltas.push(d.clone()))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    Some(Streamed { resp, deltas })
}

fn openai_sse(rel: &str) -> Option<Streamed> {
    let bytes = read(&format!("openai/sse/{rel}"))?;
    let mut deltas = Vec::new();
    let resp = openai::parse_stream(&bytes[..], &opts(), &mut |d| deltas.push(d.clone()))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    Some(Streamed { resp, deltas })
}

fn usage(input: u64, output: u64) -> Usage {
    Usage { input_tokens: input, output_tokens: output, cache_read: 0, cache_write: 0 }
}

#[test]
fn anthropic_basic_stream_assembles_text_and_usage() {
    let Some(s) = anthropic_sse("basic_response.txt") else { return };
    assert_eq!(s.resp.text, "Hello there!");
    assert_eq!(s.text_deltas(), "Hello there!");
    assert_eq!(s.deltas.len(), 3, "three text_delta events, the ping ignored");
    assert_eq!(s.resp.stop_reason, StopReason::EndTurn);
    assert_eq!(s.resp.usage, usage(11, 6));
    assert_eq!(s.resp.model, "claude-3-opus-latest");
    assert_eq!(s.resp.id, "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK");
}

#[test]
fn anthropic_tool_use_stream_joins_arguments_split_mid_token() {
    let Some(s) = anthropic_sse("tool_use_response.txt") else { return };
    assert_eq!(s.resp.text, "I'll check the current weather in Paris for you.");
    assert_eq!(s.resp.tool_calls.len(), 1);
    let call = &s.resp.tool_calls[0];
    assert_eq!((call.id.as_str(), call.name.as_str()), ("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather"));
    assert_eq!(call.input, json!({"location": "Paris"}));
    assert_eq!(s.argument_deltas(0), r#"{"location": "Paris"}"#);
    assert!(s.deltas.contains(&Delta::ToolCallStart {
        index: 0,
        id: "toolu_01NRLabsLyVHZPKxbKvkfSMn".into(),
        name: "get_weather".into()
    }));
    assert_eq!(s.resp.stop_reason, StopReason::ToolUse);
    assert_eq!(s.resp.usage, usage(377, 65));
}

#[test]
fn anthropic_arguments_cut_off_at_max_tokens_are_reported_incomplete() {
    let Some(s) = anthropic_sse("incomplete_partial_json_response.txt") else { return };
    assert_eq!(s.resp.stop_reason, StopReason::MaxTokens);
    assert!(s.resp.tool_calls.is_empty(), "a cut-off call is never offered for execution");
    assert_eq!(s.resp.incomplete_tool_calls.len(), 1);
    let partial = &s.resp.incomplete_tool_calls[0];
    assert_eq!((partial.id.as_str(), partial.name.as_str()), ("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file"));
    assert!(partial.partial_input.starts_with(r#"{"filename": "taxes.txt", "lines_of_text": ["#));
    assert!(partial.partial_input.ends_with("\n\"Filing taxes"));
    assert_eq!(
        s.resp.text,
        "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. Let me do that for you now."
    );
    assert_eq!(s.resp.usage, usage(450, 124));
}

#[test]
fn anthropic_refusal_stream_carries_the_explanation() {
    let Some(s) = anthropic_sse("refusal_response.txt") else { return };
    assert_eq!(s.resp.stop_reason, StopReason::Refusal);
    assert_eq!(s.resp.refusal.as_deref(), Some("This request was refused due to policy."));
    assert_eq!(s.resp.text, "");
    assert_eq!(s.resp.usage, usage(20, 0));
}

#[test]
fn anthropic_unknown_blocks_are_skipped() {
    for (file, input, output, model) in [
        ("compaction_response.txt", 30, 8, "claude-opus-4-7"),
        ("fallback_response.txt", 25, 8, "claude-opus-4-7"),
        ("fallback_credit_response.txt", 25, 8, "claude-sonnet-4-5"),
    ] {
        let Some(s) = anthropic_sse(file) else { return };
        assert_eq!(s.resp.text, "Hello there!", "{file}");
        assert_eq!(s.text_deltas(), "Hello there!", "{file}: the compaction_delta is not text");
        assert_eq!(s.resp.usage, usage(input, output), "{file}");
        assert_eq!(s.resp.model, model, "{file}");
        assert_eq!(s.resp.stop_reason, StopReason::EndTurn, "{file}");
    }
}

#[test]
fn anthropic_recorded_tool_turns_and_answers() {
    for (file, location_json) in [
        ("recorded/recorded_tool_use_555fb399_0.txt", r#"{"location": "San Francisco, CA", "units": "f"}"#),
        ("recorded/recorded_tool_use_771c64ff_0.txt", r#"{"location": "San Francisco, CA", "units": "f"}"#),
    ] {
        let Some(s) = anthropic_sse(file) else { return };
        assert_eq!(s.resp.text, "", "{file}");
        assert_eq!(s.resp.tool_calls.len(), 1, "{file}");
        assert_eq!(s.resp.tool_calls[0].name, "get_weather");
        assert_eq!(s.resp.tool_calls[0].input, json!({"location": "San Francisco, CA", "units": "f"}));
        assert_eq!(s.argument_deltas(0), location_json, "{file}");
        assert_eq!(s.resp.stop_reason, StopReason::ToolUse);
        assert_eq!(s.resp.usage, usage(656, 74), "{file}: message_delta's cumulative counts win");
        assert_eq!(s.resp.model, "claude-haiku-4-5-20251001");
    }
    let Some(s) = anthropic_sse("recorded/recorded_text_end_turn_555fb399_1.txt") else { return };
    assert_eq!(
        s.resp.text,
        "The weather in San Francisco, CA is currently:\n- **Temperature:** 68°F\n- **Condition:** Sunny\n\nIt's a nice sunny day!"
    );
    assert_eq!(s.resp.usage, usage(770, 38));
    let Some(s) = anthropic_sse("recorded/recorded_text_end_turn_771c64ff_1.txt") else { return };
    assert_eq!(s.resp.text, "The weather in San Francisco, CA is currently **68°F and Sunny**. It's a nice day!");
    assert_eq!(s.resp.usage, usage(770, 27));
}

#[test]
fn anthropic_recorded_structured_text_answers() {
    for file in ["recorded/recorded_text_beta_9381e2b7_0.txt", "recorded/recorded_text_after_2x429_a8b7dbb8_2.txt"] {
        let Some(s) = anthropic_sse(file) else { return };
        assert_eq!(s.resp.text, "[12345,67890]", "{file}");
        assert_eq!(extract_json(&s.resp.text), Ok(json!([12345, 67890])));
        assert_eq!(s.resp.usage, usage(135, 10), "{file}");
        assert_eq!(s.resp.model, "claude-sonnet-4-5-20250929");
        assert_eq!(s.resp.stop_reason, StopReason::EndTurn);
    }
}

#[test]
fn anthropic_json_bodies() {
    let Some(b) = read("anthropic/json/message_text_and_tool_use_e075a6c2_0.json") else { return };
    let r = anthropic::parse_response(&b, &opts()).unwrap();
    assert_eq!(r.text, "I'll get the weather for each of those cities. Let me start by checking San Francisco.");
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].id, "toolu_01LRanfq6DmHn1yDTB4d1SAh");
    assert_eq!(r.tool_calls[0].input, json!({"location": "San Francisco, CA", "units": "f"}));
    assert_eq!((r.stop_reason, r.usage), (StopReason::ToolUse, usage(701, 93)));

    let Some(b) = read("anthropic/json/message_server_tool_use_programmatic_092be1de_0.json") else { return };
    let r = anthropic::parse_response(&b, &opts()).unwrap();
    assert_eq!(r.text, "I'll check the weather for all three cities in Celsius simultaneously.");
    let names: Vec<&str> = r.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["get_weather"], "the server's own code_execution call is not for the client to run");
    assert_eq!(r.tool_calls[0].input, json!({"location": "San Francisco, CA", "units": "c"}));
    assert_eq!(r.usage, usage(3182, 237));

    let Some(b) = read("anthropic/json/message_text_end_turn_10e53c1d_1.json") else { return };
    let r = anthropic::parse_response(&b, &opts()).unwrap();
    assert!(r.text.starts_with("I apologize, but I'm getting an error"));
    assert_eq!((r.stop_reason, r.usage), (StopReason::EndTurn, usage(760, 63)));
    assert!(r.tool_calls.is_empty());
}

#[test]
fn anthropic_error_bodies_map_to_typed_errors() {
    let Some(b) = read("anthropic/json/error_400_invalid_request_f59a9391_1.json") else { return };
    let e = anthropic::error_from(400, None, &b, &opts());
    let ProviderError::Refused { status: 400, message } = &e else { panic!("{e:?}") };
    assert!(message.starts_with("messages.0.content.1: unexpected `tool_use_id` found in `tool_result` blocks"));
    assert!(message.ends_with("[request req_011CYHyk9NPsBYeGbC9LuDNK]"), "{message}");
    assert!(!e.is_retryable());

    let Some(b) = read("anthropic/json/error_429_rate_limit_d743d628_0.json") else { return };
    let e = anthropic::error_from(429, Some(Duration::from_secs(7)), &b, &opts());
    let ProviderError::RateLimited { retry_after, message } = &e else { panic!("{e:?}") };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert!(message.starts_with("This request would exceed your organization's rate limit of 20,000,000 prompt bytes"));
    assert!(e.is_retryable());
}

#[test]
fn openai_json_bodies() {
    let Some(b) = read("openai/json/chat_completion_text_L44.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    assert!(r.text.starts_with("I'm unable to provide real-time weather updates."));
    assert_eq!((r.stop_reason, r.usage), (StopReason::EndTurn, usage(14, 37)));
    assert_eq!((r.id.as_str(), r.model.as_str()), ("chatcmpl-ABfvaueLEMLNYbT8YzpJxsmiQ6HSY", "gpt-4o-2024-08-06"));

    let Some(b) = read("openai/json/chat_completion_json_content_L117.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    let schema = JsonSchema {
        name: "weather".into(),
        schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "temperature": {"type": "number"},
            "units": {"enum": ["c", "f"]}}, "required": ["city", "temperature", "units"], "additionalProperties": false}),
    };
    assert_eq!(check_answer(&schema, &r), Ok(json!({"city": "San Francisco", "temperature": 65, "units": "f"})));

    let Some(b) = read("openai/json/chat_completion_n3_choices_L319.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    assert_eq!(
        extract_json(&r.text),
        Ok(json!({"city": "San Francisco", "temperature": 64, "units": "f"})),
        "choice 0"
    );

    let Some(b) = read("openai/json/chat_completion_finish_length_L556.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    assert_eq!((r.stop_reason.clone(), r.text.as_str(), r.usage), (StopReason::MaxTokens, "{\"", usage(79, 1)));
    let problem = check_answer(&schema, &r).unwrap_err();
    assert!(problem.contains("incomplete") && problem.contains("max_tokens"), "{problem}");

    let Some(b) = read("openai/json/chat_completion_refusal_L583.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    assert_eq!(r.stop_reason, StopReason::Refusal);
    assert_eq!(r.refusal.as_deref(), Some("I'm very sorry, but I can't assist with that."));
    assert_eq!(r.text, "");

    let Some(b) = read("openai/json/chat_completion_tool_call_L634.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(
        (r.tool_calls[0].id.as_str(), r.tool_calls[0].name.as_str()),
        ("call_Y6qJ7ofLgOrBnMD5WbVAeiRV", "GetWeatherArgs")
    );
    assert_eq!(r.tool_calls[0].input, json!({"city": "Edinburgh", "country": "UK", "units": "c"}));
    assert_eq!((r.stop_reason, r.usage), (StopReason::ToolUse, usage(76, 24)));

    let Some(b) = read("openai/json/chat_completion_parallel_tool_calls_L710.json") else { return };
    let r = openai::parse_response(&b, &opts()).unwrap();
    let calls: Vec<(&str, serde_json::Value)> =
        r.tool_calls.iter().map(|c| (c.name.as_str(), c.input.clone())).collect();
    assert_eq!(
        calls,
        [
            ("GetWeatherArgs", json!({"city": "Edinburgh", "country": "GB", "units": "c"})),
            ("get_stock_price", json!({"ticker": "AAPL", "exchange": "NASDAQ"}))
        ]
    );
    assert_eq!(r.usage, usage(149, 60));
}

#[test]
fn openai_responses_api_is_not_mistaken_for_chat_completions() {
    let Some(b) = read("openai/responses/response_output_text_L36.json") else { return };
    let e = openai::parse_response(&b, &opts()).unwrap_err();
    assert!(matches!(&e, ProviderError::Malformed { what } if what.contains("no choices")), "{e}");
}

#[test]
fn openai_text_and_json_streams() {
    let Some(s) = openai_sse("chat_stream_text_e2aad469b71d.sse") else { return };
    assert!(s.resp.text.starts_with("I'm unable to provide real-time weather updates."));
    assert_eq!(s.text_deltas(), s.resp.text);
    assert_eq!(
        (s.resp.stop_reason.clone(), s.resp.usage),
        (StopReason::EndTurn, usage(14, 30)),
        "usage from the usage-only chunk"
    );
    assert_eq!(s.resp.id, "chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL");

    let Some(s) = openai_sse("chat_stream_json_content_7e5ea4d12e7c.sse") else { return };
    assert_eq!(extract_json(&s.resp.text), Ok(json!({"city": "San Francisco", "temperature": 61, "units": "f"})));
    assert_eq!(s.resp.usage, usage(79, 14));

    let Some(s) = openai_sse("chat_stream_n3_choices_a491adda08c3.sse") else { return };
    assert_eq!(
        s.resp.text, r#"{"city":"San Francisco","temperature":65,"units":"f"}"#,
        "only choice 0, not interleaved"
    );
    assert_eq!(s.resp.usage, usage(79, 42));

    let Some(s) = openai_sse("chat_stream_content_logprobs_83b060bae42e.sse") else { return };
    assert_eq!((s.resp.text.as_str(), s.resp.usage), ("Foo!", usage(9, 2)));

    let Some(s) = openai_sse("chat_stream_json_object_long_d61558011839.sse") else { return };
    let v = extract_json(&s.resp.text).unwrap();
    assert_eq!(v["location"], "San Francisco, CA");
    assert_eq!(s.resp.usage, usage(19, 177));
}

#[test]
fn openai_stream_at_length_and_refusals() {
    let Some(s) = openai_sse("chat_stream_finish_length_4cc50a6135d2.sse") else { return };
    assert_eq!((s.resp.stop_reason.clone(), s.resp.text.as_str()), (StopReason::MaxTokens, "{\""));

    for (file, refusal, out) in [
        ("chat_stream_refusal_173417d55340.sse", "I'm sorry, I can't assist with that request.", 11),
        ("chat_stream_refusal_logprobs_569c877e6942.sse", "I'm very sorry, but I can't assist with that.", 12),
    ] {
        let Some(s) = openai_sse(file) else { return };
        assert_eq!(s.resp.stop_reason, StopReason::Refusal, "{file}");
        assert_eq!(s.resp.refusal.as_deref(), Some(refusal));
        let streamed: String =
            s.deltas.iter().filter_map(|d| if let Delta::Refusal(r) = d { Some(r.as_str()) } else { None }).collect();
        assert_eq!(streamed, refusal);
        assert_eq!((s.resp.text.as_str(), s.resp.usage), ("", usage(79, out)));
    }
}

#[test]
fn openai_tool_call_streams() {
    for (file, id, name, args, u) in [
        (
            "chat_stream_tool_call_c6aa7e397b71.sse",
            "call_c91SqDXlYFuETYv8mUHzz6pp",
            "GetWeatherArgs",
            json!({"city": "Edinburgh", "country": "UK", "units": "c"}),
            usage(76, 24),
        ),
        (
            "chat_stream_tool_call_strict_a247c49c5fcd.sse",
            "call_CTf1nWJLqSeRgDqaCG27xZ74",
            "get_weather",
            json!({"city": "San Francisco", "state": "CA"}),
            usage(48, 19),
        ),
        (
            "chat_stream_tool_call_nonstrict_2018feb66ae1.sse",
            "call_4XzlGBLtUe9dy3GVNV4jhq7h",
            "get_weather",
            json!({"city": "New York City"}),
            usage(44, 16),
        ),
    ] {
        let Some(s) = openai_sse(file) else { return };
        assert_eq!(s.resp.tool_calls.len(), 1, "{file}");
        let c = &s.resp.tool_calls[0];
        assert_eq!((c.id.as_str(), c.name.as_str(), &c.input), (id, name, &args), "{file}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s.argument_deltas(0)).unwrap(), args);
        assert_eq!((s.resp.stop_reason.clone(), s.resp.usage), (StopReason::ToolUse, u), "{file}");
    }

    let Some(s) = openai_sse("chat_stream_parallel_tool_calls_f82268f2fefd.sse") else { return };
    let calls: Vec<(&str, &str, serde_json::Value)> =
        s.resp.tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.input.clone())).collect();
    assert_eq!(
        calls,
        [
            (
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                json!({"city": "Edinburgh", "country": "GB", "units": "c"})
            ),
            ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", json!({"ticker": "AAPL", "exchange": "NASDAQ"})),
        ]
    );
    let starts: Vec<usize> = s
        .deltas
        .iter()
        .filter_map(|d| if let Delta::ToolCallStart { index, .. } = d { Some(*index) } else { None })
        .collect();
    assert_eq!(starts, [0, 1]);
    assert_eq!(s.argument_deltas(1), r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#);
    assert_eq!(s.resp.usage, usage(149, 60));
}

#[test]
fn every_fixture_file_is_covered() {
    // A new fixture dropped into shared/ must get its own facts above.
    let Some(root) = root() else { return };
    let mut files = Vec::new();
    for dir in
        ["anthropic/sse", "anthropic/sse/recorded", "anthropic/json", "openai/sse", "openai/json", "openai/responses"]
    {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let this = include_str!("fixtures.rs");
    let missing: Vec<&String> = files.iter().filter(|f| !this.contains(f.as_str())).collect();
    assert!(missing.is_empty(), "fixtures without a test: {missing:?}");
}
