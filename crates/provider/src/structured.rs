//! Structured answers: ask for JSON matching a schema, parse it (tolerating
//! code fences and text around it from models without schema support),
//! check it against the schema ([`crate::schema`]), and on failure make
//! exactly one repair request that sends the problems back.

use crate::schema::validate;
use crate::{ChatModel, ChatRequest, ChatResponse, JsonSchema, Message, ProviderError, StopReason, Usage};
use serde_json::Value;

/// The system-prompt paragraph used when the server is not asked to
/// constrain the answer itself.
pub fn schema_instruction(schema: &JsonSchema) -> String {
    format!(
        "Answer with a single JSON value that matches this JSON Schema, and nothing else \
         (no explanation, no code fence):\n{}",
        schema.schema
    )
}

/// The JSON value in a model's answer: the whole text, else the inside of a
/// ```` ``` ```` fence, else the first `{` or `[` from which a complete value
/// parses (text after it is ignored). The error says why none was found.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the answer is empty".into());
    }
    let first_error = match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if let Some(inner) = fenced(trimmed) {
        if let Ok(v) = serde_json::from_str::<Value>(inner.trim()) {
            return Ok(v);
        }
    }
    let mut best_error = None;
    for (i, _) in trimmed.char_indices().filter(|(_, c)| *c == '{' || *c == '[').take(32) {
        let Some(rest) = trimmed.get(i..) else { continue };
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => return Ok(v),
            // A value that runs to the end of the text unclosed holds every
            // later start: a value found there would be a piece of a
            // cut-off answer (`[]` of its first item), not the answer.
            Some(Err(e)) if e.is_eof() => {
                best_error = Some(e);
                break;
            }
            Some(Err(e)) => {
                best_error.get_or_insert(e);
            }
            None => {}
        }
    }
    Err(match best_error {
        Some(e) if e.is_eof() => format!("the JSON is incomplete ({e}); was the answer cut off?"),
        Some(e) => format!("the answer is not valid JSON ({e})"),
        None if first_error.is_eof() => format!("the JSON is incomplete ({first_error})"),
        None => "the answer contains no JSON object or array".into(),
    })
}

/// The text inside the first ```` ``` ```` fence (after its info string).
fn fenced(text: &str) -> Option<&str> {
    let start = text.find("```")?;
    let after = text.get(start + 3..)?;
    let body_start = after.find('\n')? + 1;
    let body = after.get(body_start..)?;
    Some(body.find("```").and_then(|end| body.get(..end)).unwrap_or(body))
}

/// A checked JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAnswer {
    /// The value, which matches the schema.
    pub value: Value,
    /// Whether the repair request was needed.
    pub repaired: bool,
    /// The answers (one, or two after a repair).
    pub responses: Vec<ChatResponse>,
    /// Usage of all of them.
    pub usage: Usage,
}

/// Parses and checks one answer against `schema`.
pub fn check_answer(schema: &JsonSchema, response: &ChatResponse) -> Result<Value, String> {
    let cut = if response.stop_reason == StopReason::MaxTokens { " (the answer hit max_tokens)" } else { "" };
    let value = extract_json(&response.text).map_err(|e| format!("{e}{cut}"))?;
    validate(&schema.schema, &value)
        .map_err(|errs| format!("it does not match the schema: {}{cut}", errs.join("; ")))?;
    Ok(value)
}

fn refusal(response: &ChatResponse) -> Option<ProviderError> {
    if response.stop_reason == StopReason::Refusal || response.refusal.is_some() {
        let message = response.refusal.clone().unwrap_or_else(|| {
            if response.text.is_empty() {
                "(no explanation given)".to_string()
            } else {
                response.text.clone()
            }
        });
        return Some(ProviderError::ModelRefusal { message });
    }
    None
}

/// Asks `model` for a JSON answer matching `req.response_schema`, checks it,
/// and if it does not parse or match makes exactly one repair request (the
/// conversation plus the bad answer plus the problems found). A refusal is
/// not repaired. Fails with [`ProviderError::Malformed`] naming the problems
/// when the repaired answer is still wrong.
pub fn ask_json(model: &dyn ChatModel, req: &ChatRequest) -> Result<JsonAnswer, ProviderError> {
    let schema = req
        .response_schema
        .clone()
        .ok_or_else(|| ProviderError::config("ask_json needs a request with a response_schema"))?;
    let first = model.chat(req)?;
    if let Some(e) = refusal(&first) {
        return Err(e);
    }
    let mut usage = first.usage;
    let problem = match check_answer(&schema, &first) {
        Ok(value) => return Ok(JsonAnswer { value, repaired: false, responses: vec![first], usage }),
        Err(p) => p,
    };
    let mut repair = req.clone();
    let bad = if first.text.trim().is_empty() { "(empty answer)".to_string() } else { first.text.clone() };
    repair.messages.push(Message::assistant(bad));
    repair.messages.push(Message::user(repair_prompt(&problem)));
    let second = model.chat(&repair)?;
    usage.add(&second.usage);
    if let Some(e) = refusal(&second) {
        return Err(e);
    }
    match check_answer(&schema, &second) {
        Ok(value) => Ok(JsonAnswer { value, repaired: true, responses: vec![first, second], usage }),
        Err(again) => Err(ProviderError::Malformed {
            what: format!(
                "answer for schema {:?}: {again} (first answer: {problem}; one repair was tried)",
                schema.name
            ),
        }),
    }
}

/// What the repair request says.
pub fn repair_prompt(problem: &str) -> String {
    format!(
        "Your answer could not be used: {problem}. Reply again with only the corrected JSON value \
         that matches the schema, and nothing else."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_json_in_fences_and_prose() {
        assert_eq!(extract_json(" {\"a\": 1} "), Ok(json!({"a": 1})));
        assert_eq!(extract_json("Sure! ```json\n{\"a\": [1, 2]}\n```\nHope that helps."), Ok(json!({"a": [1, 2]})));
        assert_eq!(extract_json("```\n[true]\n```"), Ok(json!([true])));
        assert_eq!(extract_json("Here it is: {\"a\": {\"b\": 2}} -- done {x}"), Ok(json!({"a": {"b": 2}})));
        assert_eq!(extract_json("The set [oops] then {\"ok\": true}"), Ok(json!({"ok": true})));
    }

    #[test]
    fn says_why_no_json_was_found() {
        assert_eq!(extract_json("   "), Err("the answer is empty".into()));
        assert!(extract_json("{\"lessons\": [{\"text\": \"cut").unwrap_err().contains("incomplete"));
        assert_eq!(extract_json("no json here"), Err("the answer contains no JSON object or array".into()));
        // A cut-off answer is reported as cut off, not as one of its inner pieces.
        let cut = extract_json("{\"ops\": [{\"op\": \"create\", \"targets\": [], \"text\": \"Use pnpm");
        assert!(cut.unwrap_err().contains("incomplete"));
    }
}
