//! Structured answers: native schema support (Anthropic forced tool, OpenAI
//! `response_format`), prompt-and-check without it, the fallback between the
//! two, and the single repair request.

use crate::common::{each_wire_and_mode, setup, setup_with};
use nocturne_fake_provider::{Matcher, Reply, Rule, Script};
use nocturne_provider::{ask_json, ChatRequest, JsonSchema, JsonSchemaMode, Provider, ProviderError};
use serde_json::{json, Value};

fn lessons_schema() -> JsonSchema {
    JsonSchema {
        name: "lessons".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "lessons": {
                    "type": "array", "maxItems": 3,
                    "items": {
                        "type": "object",
                        "properties": {"text": {"type": "string", "maxLength": 80}, "quote": {"type": "string", "maxLength": 200}},
                        "required": ["text", "quote"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["lessons"],
            "additionalProperties": false
        }),
    }
}

fn request(stream: bool) -> ChatRequest {
    let mut r = ChatRequest::new("You extract lessons from transcripts.", "Transcript: ...");
    r.response_schema = Some(lessons_schema());
    r.stream = stream;
    r
}

fn good() -> Value {
    json!({"lessons": [{"text": "Run cargo fmt before committing", "quote": "error: rustfmt check failed"}]})
}

#[test]
fn native_schema_support_in_both_wire_formats() {
    for (provider, stream) in each_wire_and_mode() {
        let s = setup(provider, [Reply::json(good())]);
        let a = ask_json(&s.model, &request(stream)).unwrap();
        assert_eq!(a.value, good(), "{provider} stream={stream}");
        assert!(!a.repaired);
        let body = s.server.requests()[0].json();
        match provider {
            Provider::Anthropic => {
                assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "lessons"}));
                assert_eq!(body["tools"][0]["name"], "lessons");
                assert_eq!(body["tools"][0]["input_schema"], lessons_schema().schema);
                assert_eq!(
                    body["system"], "You extract lessons from transcripts.",
                    "the schema is not repeated in the prompt"
                );
            }
            _ => {
                assert_eq!(
                    body["response_format"],
                    json!({"type": "json_schema", "json_schema": {"name": "lessons", "schema": lessons_schema().schema, "strict": true}})
                );
                assert_eq!(body["messages"][0]["content"], "You extract lessons from transcripts.");
            }
        }
    }
}

#[test]
fn an_anthropic_schema_whose_root_is_not_an_object_is_wrapped_and_unwrapped() {
    let s = setup(Provider::Anthropic, [Reply::json(json!({"answer": [3, 1, 2]}))]);
    let mut r = ChatRequest::new("", "Three numbers");
    r.response_schema =
        Some(JsonSchema { name: "numbers".into(), schema: json!({"type": "array", "items": {"type": "integer"}}) });
    let a = ask_json(&s.model, &r).unwrap();
    assert_eq!(a.value, json!([3, 1, 2]));
    let body = s.server.requests()[0].json();
    assert_eq!(
        body["tools"][0]["input_schema"]["properties"]["answer"],
        json!({"type": "array", "items": {"type": "integer"}})
    );
}

#[test]
fn without_schema_support_the_prompt_carries_the_schema_and_the_answer_is_dug_out() {
    for (provider, stream) in each_wire_and_mode() {
        let chatty = format!("Sure! Here are the lessons:\n```json\n{}\n```\nLet me know if you need more.", good());
        let s = setup_with(provider, Script::queue([Reply::text(chatty)]), |c| c.json_schema = JsonSchemaMode::Off);
        let a = ask_json(&s.model, &request(stream)).unwrap();
        assert_eq!(a.value, good(), "{provider} stream={stream}");
        let body = s.server.requests()[0].json();
        assert!(body.get("response_format").is_none() && body.get("tool_choice").is_none(), "{body}");
        let system = match provider {
            Provider::Anthropic => body["system"].as_str().unwrap().to_string(),
            _ => body["messages"][0]["content"].as_str().unwrap().to_string(),
        };
        assert!(system.starts_with(
            "You extract lessons from transcripts.\n\nAnswer with a single JSON value that matches this JSON Schema"
        ));
        assert!(system.contains(r#""maxLength":80"#), "the schema itself is in the prompt");
    }
}

#[test]
fn auto_falls_back_when_the_server_says_response_format_is_unsupported() {
    let script = Script {
        rules: vec![Rule {
            matcher: Matcher { body_contains: Some("\"response_format\"".into()), ..Matcher::default() },
            key: Some("native".into()),
            replies: vec![
                Reply::status(400).with_error_message("'response_format' of type 'json_schema' is not supported")
            ],
            repeat_last: true,
        }],
        fallback: Some(Reply::json(good())),
        ..Script::default()
    };
    let s = setup_with(Provider::Vllm, script, |_| {});
    assert!(s.model.native_json_schema());
    let a = ask_json(&s.model, &request(false)).unwrap();
    assert_eq!(a.value, good());
    assert_eq!(a.responses[0].attempts, 2, "the refused try and the prompt try");
    assert!(!s.model.native_json_schema(), "remembered for later requests");
    ask_json(&s.model, &request(true)).unwrap();
    let reqs = s.server.requests();
    let native: Vec<bool> = reqs.iter().map(|r| r.json().get("response_format").is_some()).collect();
    assert_eq!(native, [true, false, false], "one native try, then the prompt only");
    assert!(s.clock.sleeps().is_empty(), "a fallback is not a back-off");
}

#[test]
fn json_schema_on_does_not_fall_back() {
    let s = setup_with(
        Provider::OpenAi,
        Script::queue([
            Reply::status(400).with_error_message("response_format json_schema is not supported"),
            Reply::json(good()),
        ]),
        |c| c.json_schema = JsonSchemaMode::On,
    );
    let e = ask_json(&s.model, &request(false)).unwrap_err();
    assert!(matches!(e, ProviderError::Refused { status: 400, .. }), "{e:?}");
    assert_eq!(s.server.request_count(), 1);
}

#[test]
fn one_repair_request_fixes_an_answer_that_misses_the_schema() {
    for (provider, stream) in each_wire_and_mode() {
        let bad = json!({"lessons": [{"text": "Run cargo fmt before committing"}]});
        let s = setup(provider, [Reply::json(bad.clone()), Reply::json(good())]);
        let a = ask_json(&s.model, &request(stream)).unwrap();
        assert_eq!(a.value, good(), "{provider} stream={stream}");
        assert!(a.repaired);
        assert_eq!(a.responses.len(), 2);
        let reqs = s.server.requests();
        assert_eq!(reqs.len(), 2);
        let second = reqs[1].json();
        let msgs = second["messages"].as_array().unwrap();
        let texts: Vec<String> = msgs
            .iter()
            .map(|m| match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(b) => b.iter().filter_map(|x| x["text"].as_str()).collect(),
                _ => String::new(),
            })
            .collect();
        let n = texts.len();
        assert_eq!(texts[n - 2], bad.to_string(), "the bad answer is sent back as the assistant's turn");
        assert_eq!(
            texts[n - 1],
            "Your answer could not be used: it does not match the schema: /lessons/0: missing required property \"quote\". \
             Reply again with only the corrected JSON value that matches the schema, and nothing else."
        );
    }
}

#[test]
fn a_second_bad_answer_is_malformed_with_both_problems_and_no_third_request() {
    let s = setup(Provider::OpenAi, [Reply::text("{\"lessons\": [oops"), Reply::json(json!({"lessons": "none"}))]);
    let e = ask_json(&s.model, &request(false)).unwrap_err();
    let ProviderError::Malformed { what } = &e else { panic!("{e:?}") };
    assert!(what.contains("/lessons: expected array, found string"), "{what}");
    assert!(what.contains("first answer: the answer is not valid JSON"), "{what}");
    assert_eq!(s.server.request_count(), 2);
}

#[test]
fn an_answer_cut_off_at_max_tokens_says_so() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let stop = if provider == Provider::Anthropic { "max_tokens" } else { "length" };
        let cut = Reply { stop_reason: Some(stop.into()), ..Reply::text("{\"lessons\": [{\"text\": \"Run car") };
        let s = setup_with(provider, Script::queue([cut.clone(), cut]), |c| c.json_schema = JsonSchemaMode::Off);
        let e = ask_json(&s.model, &request(false)).unwrap_err();
        assert!(e.to_string().contains("the JSON is incomplete") && e.to_string().contains("max_tokens"), "{e}");
    }
}

#[test]
fn a_refusal_is_not_repaired() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let s = setup(
            provider,
            [Reply { refusal: Some("I can't help with that.".into()), ..Reply::default() }, Reply::json(good())],
        );
        let e = ask_json(&s.model, &request(false)).unwrap_err();
        assert_eq!(e, ProviderError::ModelRefusal { message: "I can't help with that.".into() }, "{provider}");
        assert_eq!(s.server.request_count(), 1);
    }
}

#[test]
fn a_fabricated_quote_passes_the_schema_and_is_left_to_the_caller_to_verify() {
    // The provider layer checks shape, not truth: a quote that is not in
    // the transcript still arrives, and evidence checks belong to the dream.
    let invented = json!({"lessons": [{"text": "Always use tabs", "quote": "the user said: I love tabs"}]});
    let s = setup(Provider::Anthropic, [Reply::json(invented.clone())]);
    assert_eq!(ask_json(&s.model, &request(false)).unwrap().value, invented);
}
