//! Tool calling: native in both adapters (JSON and SSE, results sent back),
//! and JSON actions for models without it; the caller sees the same thing.

use crate::common::{each_wire_and_mode, setup, setup_with};
use nocturne_fake_provider::{FakeToolCall, Matcher, Reply, Rule, Script};
use nocturne_provider::{
    ChatModel, ChatRequest, ChatResponse, Delta, Message, Part, Provider, StopReason, ToolChoice, ToolSpec, ToolsMode,
};
use serde_json::{json, Value};

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "search_memory".into(),
            description: "Search the memory store".into(),
            input_schema: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        },
        ToolSpec {
            name: "read_session".into(),
            description: "Read one session".into(),
            input_schema: json!({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}),
        },
    ]
}

fn request(stream: bool) -> ChatRequest {
    let mut r = ChatRequest::new("agent: reviewer", "What did we learn about cargo fmt?");
    r.tools = tools();
    r.stream = stream;
    r
}

/// The conversation after running `resp`'s tool calls.
fn with_results(mut req: ChatRequest, resp: &ChatResponse) -> ChatRequest {
    req.messages.push(Message::from_response(resp));
    req.messages.push(Message::tool_results(resp.tool_calls.iter().map(|c| Part::ToolResult {
        tool_use_id: c.id.clone(),
        content: format!("result of {}", c.name),
        is_error: c.name == "read_session",
    })));
    req
}

#[test]
fn native_tool_calls_round_trip_in_both_wire_formats() {
    for (provider, stream) in each_wire_and_mode() {
        let calls = Reply {
            text: Some("Let me look.".into()),
            tool_calls: vec![
                FakeToolCall::new("search_memory", json!({"query": "cargo fmt"})),
                FakeToolCall::new("read_session", json!({"id": "s-42"})),
            ],
            chunk_chars: Some(5),
            ..Reply::default()
        };
        let s = setup(provider, [calls, Reply::text("Run cargo fmt before every commit.")]);
        let first = s.model.chat(&request(stream)).unwrap();
        assert_eq!(first.stop_reason, StopReason::ToolUse, "{provider} stream={stream}");
        let got: Vec<(&str, &Value)> = first.tool_calls.iter().map(|c| (c.name.as_str(), &c.input)).collect();
        assert_eq!(got, [("search_memory", &json!({"query": "cargo fmt"})), ("read_session", &json!({"id": "s-42"}))]);
        assert_eq!(first.text, "Let me look.");

        let second = s.model.chat(&with_results(request(stream), &first)).unwrap();
        assert_eq!(second.text, "Run cargo fmt before every commit.");
        assert_eq!(second.stop_reason, StopReason::EndTurn);

        let reqs = s.server.requests();
        let (b1, b2) = (reqs[0].json(), reqs[1].json());
        let (id1, id2) = (&first.tool_calls[0].id, &first.tool_calls[1].id);
        match provider {
            Provider::Anthropic => {
                assert_eq!(
                    b1["tools"][0],
                    json!({"name": "search_memory", "description": "Search the memory store",
                           "input_schema": tools()[0].input_schema})
                );
                assert!(b1.get("tool_choice").is_none(), "auto is the default and not sent");
                assert_eq!(
                    b2["messages"][1],
                    json!({"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": id1, "name": "search_memory", "input": {"query": "cargo fmt"}},
                        {"type": "tool_use", "id": id2, "name": "read_session", "input": {"id": "s-42"}}]})
                );
                assert_eq!(
                    b2["messages"][2],
                    json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": id1, "content": "result of search_memory"},
                        {"type": "tool_result", "tool_use_id": id2, "content": "result of read_session", "is_error": true}]})
                );
            }
            _ => {
                assert_eq!(
                    b1["tools"][1],
                    json!({"type": "function", "function": {"name": "read_session", "description": "Read one session",
                           "parameters": tools()[1].input_schema}})
                );
                assert_eq!(
                    b2["messages"][2],
                    json!({"role": "assistant", "content": "Let me look.", "tool_calls": [
                        {"id": id1, "type": "function", "function": {"name": "search_memory", "arguments": "{\"query\":\"cargo fmt\"}"}},
                        {"id": id2, "type": "function", "function": {"name": "read_session", "arguments": "{\"id\":\"s-42\"}"}}]})
                );
                assert_eq!(
                    b2["messages"][3],
                    json!({"role": "tool", "tool_call_id": id1, "content": "result of search_memory"})
                );
                assert_eq!(
                    b2["messages"][4],
                    json!({"role": "tool", "tool_call_id": id2, "content": "[tool error] result of read_session"})
                );
            }
        }
    }
}

#[test]
fn tool_choice_goes_on_the_wire_in_each_dialect() {
    for (choice, anthropic, openai) in [
        (ToolChoice::Any, json!({"type": "any"}), json!("required")),
        (ToolChoice::None, json!({"type": "none"}), json!("none")),
        (
            ToolChoice::Tool("read_session".into()),
            json!({"type": "tool", "name": "read_session"}),
            json!({"type": "function", "function": {"name": "read_session"}}),
        ),
    ] {
        for (provider, want) in [(Provider::Anthropic, &anthropic), (Provider::OpenAi, &openai)] {
            let s = setup(provider, [Reply::text("x")]);
            let mut r = request(false);
            r.tool_choice = choice.clone();
            s.model.chat(&r).unwrap();
            assert_eq!(&s.server.requests()[0].json()["tool_choice"], want, "{provider} {choice:?}");
        }
    }
}

#[test]
fn streamed_tool_calls_announce_themselves_then_their_arguments() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let calls = Reply { chunk_chars: Some(3), ..Reply::tool_call("search_memory", json!({"query": "fmt"})) };
        let s = setup(provider, [calls]);
        let mut deltas = Vec::new();
        let r = s.model.chat_stream(&request(false), &mut |d| deltas.push(d.clone())).unwrap();
        let Delta::ToolCallStart { index: 0, id, name } = &deltas[0] else { panic!("{provider}: {deltas:?}") };
        assert_eq!((id, name.as_str()), (&r.tool_calls[0].id, "search_memory"));
        let args: String = deltas
            .iter()
            .filter_map(|d| if let Delta::ToolArguments { json, .. } = d { Some(json.as_str()) } else { None })
            .collect();
        assert_eq!(args, r#"{"query":"fmt"}"#);
        assert!(deltas.iter().filter(|d| matches!(d, Delta::ToolArguments { .. })).count() > 2, "split into pieces");
    }
}

#[test]
fn json_actions_give_the_same_answers_as_native_tool_calls() {
    for (provider, stream) in each_wire_and_mode() {
        let s = setup_with(
            provider,
            Script::queue([
                Reply::json(json!({"tool": "search_memory", "arguments": {"query": "cargo fmt"}})),
                Reply::json(json!({"final": "Run cargo fmt before every commit."})),
            ]),
            |c| c.tools = ToolsMode::Json,
        );
        let first = s.model.chat(&request(stream)).unwrap();
        assert_eq!(first.stop_reason, StopReason::ToolUse, "{provider} stream={stream}");
        assert_eq!(first.tool_calls.len(), 1);
        assert_eq!(
            (first.tool_calls[0].id.as_str(), first.tool_calls[0].name.as_str(), &first.tool_calls[0].input),
            ("json-action-1", "search_memory", &json!({"query": "cargo fmt"}))
        );
        assert_eq!(first.text, "");

        let second = s.model.chat(&with_results(request(stream), &first)).unwrap();
        assert_eq!(
            (second.text.as_str(), second.stop_reason.clone()),
            ("Run cargo fmt before every commit.", StopReason::EndTurn)
        );
        assert!(second.tool_calls.is_empty());

        let reqs = s.server.requests();
        let (b1, b2) = (reqs[0].json(), reqs[1].json());
        let tool_names: Vec<&str> =
            b1["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        match provider {
            // The action schema travels as the forced structured-answer tool, the only tool.
            Provider::Anthropic => assert_eq!(tool_names, ["action"]),
            _ => assert!(tool_names.is_empty(), "no native tools are sent"),
        }
        let (system, schema) = match provider {
            Provider::Anthropic => (b1["system"].clone(), b1["tools"].clone()),
            _ => (b1["messages"][0]["content"].clone(), b1["response_format"]["json_schema"]["schema"].clone()),
        };
        let system = system.as_str().unwrap();
        assert!(system
            .starts_with("agent: reviewer\n\nYou can use these tools:\n\n- search_memory: Search the memory store\n"));
        if provider == Provider::OpenAi {
            assert_eq!(schema["anyOf"][0]["properties"]["tool"], json!({"const": "search_memory"}));
            assert_eq!(schema["anyOf"][2]["properties"]["final"], json!({"type": "string"}));
        }
        let transcript = b2.to_string();
        assert!(
            transcript.contains(r#"{\"tool\":\"search_memory\",\"arguments\":{\"query\":\"cargo fmt\"}}"#),
            "{transcript}"
        );
        assert!(
            transcript.contains("Tool search_memory (call json-action-1) returned:\\nresult of search_memory"),
            "{transcript}"
        );
    }
}

#[test]
fn json_actions_with_bad_arguments_get_one_repair() {
    let s = setup_with(
        Provider::LlamaCpp,
        Script::queue([
            Reply::text("I'll search. {\"tool\": \"search_memory\", \"arguments\": {\"q\": \"fmt\"}}"),
            Reply::json(json!({"tool": "search_memory", "arguments": {"query": "fmt"}})),
        ]),
        |c| c.tools = ToolsMode::Json,
    );
    let r = s.model.chat(&request(false)).unwrap();
    assert_eq!(r.tool_calls[0].input, json!({"query": "fmt"}));
    assert_eq!(r.attempts, 2, "two requests: the answer and its repair");
    let repair = s.server.requests()[1].body.clone();
    assert!(repair.contains("matches none of the 3 allowed shapes"), "{repair}");
}

#[test]
fn json_actions_stream_the_same_deltas_as_native_calls() {
    let s = setup_with(
        Provider::OpenAi,
        Script::queue([Reply::json(json!({"tool": "read_session", "arguments": {"id": "s-1"}}))]),
        |c| c.tools = ToolsMode::Json,
    );
    let mut deltas = Vec::new();
    let r = s.model.chat_stream(&request(false), &mut |d| deltas.push(d.clone())).unwrap();
    assert_eq!(
        deltas,
        [
            Delta::ToolCallStart { index: 0, id: "json-action-1".into(), name: "read_session".into() },
            Delta::ToolArguments { index: 0, json: r#"{"id":"s-1"}"#.into() },
        ]
    );
    assert_eq!(r.tool_calls[0].name, "read_session");
}

#[test]
fn the_fake_answers_each_agent_by_its_own_steps() {
    let rule = |agent: &str, replies: Vec<Reply>| Rule {
        matcher: Matcher { system_contains: Some(format!("agent: {agent}")), ..Matcher::default() },
        key: Some(agent.to_string()),
        replies,
        repeat_last: false,
    };
    let script = Script {
        rules: vec![
            rule("planner", vec![Reply::text("plan step 0"), Reply::text("plan step 1")]),
            rule("critic", vec![Reply::text("critic step 0")]),
        ],
        ..Script::default()
    };
    let s = setup_with(Provider::OpenAi, script, |_| {});
    let ask = |agent: &str| s.model.chat(&ChatRequest::new(format!("agent: {agent}"), "go")).map(|r| r.text);
    assert_eq!(ask("planner").unwrap(), "plan step 0");
    assert_eq!(ask("critic").unwrap(), "critic step 0");
    assert_eq!(ask("planner").unwrap(), "plan step 1");
    let e = ask("critic").unwrap_err();
    assert!(e.to_string().contains("script exhausted: rule critic has 1 replies, this is step 1"), "{e}");
    let how: Vec<String> = s.server.requests().iter().map(|r| r.reply.clone()).collect();
    assert_eq!(how[..3], ["rule planner step 0", "rule critic step 0", "rule planner step 1"]);
}
