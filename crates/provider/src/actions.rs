//! JSON actions: tool calling for models that have none.
//!
//! The tools are described in the system prompt, and the answer must be one
//! JSON object under a schema: `{"tool": NAME, "arguments": {...}}` (the
//! arguments checked against that tool's input schema) or `{"final": ...}`
//! (a string, or the request's `response_schema` when it has one). The
//! schema is sent as a structured-output request, so llama-server, vLLM,
//! Ollama and LM Studio constrain the answer with a grammar; it is checked
//! here in any case, with the one repair request of [`crate::ask_json`].
//!
//! Earlier tool calls and results in the conversation are rewritten as the
//! JSON the model would have written and as text, so a conversation built
//! for native tool calling works unchanged. The answer comes back as the
//! same [`ChatResponse`] as native tool calling gives: `tool_calls` (with
//! ids `json-action-N`) and stop reason `tool_use`, or `text` and `end_turn`.

use crate::structured::ask_json;
use crate::{
    ChatModel, ChatRequest, ChatResponse, JsonSchema, Message, Part, ProviderError, Role, StopReason, ToolCall,
    ToolChoice, ToolSpec,
};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The schema an action answer must match.
pub fn action_schema(tools: &[ToolSpec], choice: &ToolChoice, final_schema: Option<&Value>) -> Value {
    let mut options: Vec<Value> = tools
        .iter()
        .filter(|t| match choice {
            ToolChoice::Tool(name) => &t.name == name,
            _ => true,
        })
        .map(|t| {
            json!({
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": t.input_schema},
                "required": ["tool", "arguments"],
                "additionalProperties": false
            })
        })
        .collect();
    if matches!(choice, ToolChoice::Auto | ToolChoice::None) {
        let final_schema = final_schema.cloned().unwrap_or_else(|| json!({"type": "string"}));
        options.push(json!({
            "type": "object",
            "properties": {"final": final_schema},
            "required": ["final"],
            "additionalProperties": false
        }));
    }
    json!({"anyOf": options})
}

/// The system-prompt paragraph describing the tools.
pub fn action_prompt(tools: &[ToolSpec], choice: &ToolChoice) -> String {
    let mut s = String::from("You can use these tools:\n");
    for t in tools {
        s.push_str(&format!("\n- {}: {}\n  arguments (JSON Schema): {}\n", t.name, t.description, t.input_schema));
    }
    s.push_str(
        "\nTo call a tool, answer with only {\"tool\": \"<tool name>\", \"arguments\": {...}}; \
         its result will come back in the next message.",
    );
    match choice {
        ToolChoice::Tool(name) => s.push_str(&format!(" Call the tool {name} now.")),
        ToolChoice::Any => s.push_str(" Call one of the tools now."),
        _ => s.push_str(" When you have the answer, reply with only {\"final\": <answer>}."),
    }
    s.push_str(" Answer with exactly one JSON object and nothing else.");
    s
}

/// The request without native tools: tools in the prompt, earlier tool
/// turns as text, the action schema as `response_schema`.
pub fn to_action_request(req: &ChatRequest) -> ChatRequest {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let mut text = String::new();
        for part in &m.content {
            let piece = match part {
                Part::Text { text } => text.clone(),
                Part::ToolUse { id, name, input } => {
                    names.insert(id, name);
                    json!({"tool": name, "arguments": input}).to_string()
                }
                Part::ToolResult { tool_use_id, content, is_error } => {
                    let name = names.get(tool_use_id.as_str()).copied().unwrap_or("the tool");
                    let label = if *is_error { "failed" } else { "returned" };
                    format!("Tool {name} (call {tool_use_id}) {label}:\n{content}")
                }
            };
            if !text.is_empty() && !piece.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&piece);
        }
        messages.push(Message { role: m.role, content: vec![Part::Text { text }] });
    }
    let mut system = req.system.clone();
    if !system.is_empty() {
        system.push_str("\n\n");
    }
    system.push_str(&action_prompt(&req.tools, &req.tool_choice));
    let final_schema = req.response_schema.as_ref().map(|s| &s.schema);
    ChatRequest {
        system,
        messages,
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
        response_schema: Some(JsonSchema {
            name: "action".into(),
            schema: action_schema(&req.tools, &req.tool_choice, final_schema),
        }),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        stop: req.stop.clone(),
        stream: req.stream,
    }
}

/// Turns a checked action into the response native tool calling would give.
pub fn from_action(
    value: &Value,
    mut response: ChatResponse,
    call_number: usize,
) -> Result<ChatResponse, ProviderError> {
    if let (Some(Value::String(name)), Some(args)) = (value.get("tool"), value.get("arguments")) {
        response.text = String::new();
        response.tool_calls =
            vec![ToolCall { id: format!("json-action-{call_number}"), name: name.clone(), input: args.clone() }];
        response.stop_reason = StopReason::ToolUse;
        return Ok(response);
    }
    match value.get("final") {
        Some(Value::String(s)) => response.text = s.clone(),
        Some(other) => response.text = other.to_string(),
        None => return Err(ProviderError::malformed("the action has neither \"tool\" nor \"final\"")),
    }
    response.tool_calls = Vec::new();
    if response.stop_reason == StopReason::ToolUse {
        response.stop_reason = StopReason::EndTurn;
    }
    Ok(response)
}

/// One step in JSON-action mode through `model` (which must not itself be
/// in JSON-action mode). `tool_choice: none` sends the request without tools.
pub fn chat_with_actions(model: &dyn ChatModel, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
    if req.tool_choice == ToolChoice::None {
        let mut plain = req.clone();
        plain.tools.clear();
        plain.tool_choice = ToolChoice::Auto;
        return model.chat(&plain);
    }
    let action_req = to_action_request(req);
    let answer = ask_json(model, &action_req)?;
    let previous_calls = req
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.content)
        .filter(|p| matches!(p, Part::ToolUse { .. }))
        .count();
    let mut last = answer.responses.last().cloned().unwrap_or_default();
    last.usage = answer.usage;
    last.attempts = answer.responses.iter().map(|r| r.attempts).sum();
    from_action(&answer.value, last, previous_calls + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validate;

    fn tools() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "search".into(),
            description: "Search memories".into(),
            input_schema: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        }]
    }

    #[test]
    fn the_action_schema_admits_calls_with_valid_arguments_or_a_final_answer() {
        let s = action_schema(&tools(), &ToolChoice::Auto, None);
        assert!(validate(&s, &json!({"tool": "search", "arguments": {"query": "x"}})).is_ok());
        assert!(validate(&s, &json!({"final": "done"})).is_ok());
        assert!(validate(&s, &json!({"tool": "search", "arguments": {}})).is_err());
        assert!(validate(&s, &json!({"tool": "delete", "arguments": {"query": "x"}})).is_err());
        let forced = action_schema(&tools(), &ToolChoice::Any, None);
        assert!(validate(&forced, &json!({"final": "done"})).is_err());
    }

    #[test]
    fn tool_turns_become_text_and_names_are_remembered() {
        let mut req = ChatRequest::new("Be brief.", "Find x");
        req.tools = tools();
        req.messages.push(Message {
            role: Role::Assistant,
            content: vec![Part::ToolUse {
                id: "json-action-1".into(),
                name: "search".into(),
                input: json!({"query": "x"}),
            }],
        });
        req.messages.push(Message::tool_results([Part::ToolResult {
            tool_use_id: "json-action-1".into(),
            content: "3 hits".into(),
            is_error: false,
        }]));
        let a = to_action_request(&req);
        assert!(a.tools.is_empty());
        assert!(a.system.starts_with("Be brief.\n\nYou can use these tools:\n\n- search: Search memories"));
        assert_eq!(a.messages[1].text(), r#"{"tool":"search","arguments":{"query":"x"}}"#);
        assert_eq!(a.messages[2].text(), "Tool search (call json-action-1) returned:\n3 hits");
        let resp =
            from_action(&json!({"tool": "search", "arguments": {"query": "y"}}), ChatResponse::default(), 2).unwrap();
        assert_eq!(resp.tool_calls[0].id, "json-action-2");
        assert_eq!(resp.stop_reason, StopReason::ToolUse);
    }
}
