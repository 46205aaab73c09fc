//! A small JSON Schema validator for the subset Nocturne's prompts use.
//!
//! Checked keywords: `type` (a name or a list of names), `properties`,
//! `required`, `additionalProperties` (`false` or a schema), `items` (one
//! schema), `enum`, `const`, `minimum`, `maximum`, `minLength`, `maxLength`
//! (in Unicode code points), `minItems`, `maxItems`, `anyOf`, `oneOf`.
//! Every other keyword (`$ref`, `pattern`, `format`, ...) is accepted and
//! **not** checked, so a schema that relies on one gets no local guarantee
//! for it. (Full validators such as the `jsonschema` crate pull in a regex
//! engine, an HTTP client for remote refs and more; this is enough for
//! answers we define ourselves.)

use serde_json::{Map, Value};

/// At most this many problems are reported.
const MAX_ERRORS: usize = 10;

/// Checks `value` against `schema`; on failure, the problems found, each
/// as `JSON-pointer: what is wrong` (the root is `/`).
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(schema, value, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn has_type(v: &Value, name: &str) -> bool {
    match name {
        "number" => v.is_number(),
        "integer" => matches!(v, Value::Number(n) if is_integer(n)),
        other => type_name(v) == other,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if errors.len() >= MAX_ERRORS {
        return;
    }
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{}: no value is allowed here", at(path)));
            return;
        }
        Value::Object(s) => s,
        _ => return,
    };
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| has_type(value, n)) {
            errors.push(format!("{}: expected {}, found {}", at(path), names.join(" or "), type_name(value)));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(short).collect();
            errors.push(format!("{}: {} is not one of {}", at(path), short(value), list.join(", ")));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{}: expected {}, found {}", at(path), short(c), short(value)));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                errors.push(format!("{}: {n} is less than the minimum {min}", at(path)));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                errors.push(format!("{}: {n} is more than the maximum {max}", at(path)));
            }
        }
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                errors.push(format!("{}: {len} characters, more than maxLength {max}", at(path)));
            }
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if len < min {
                errors.push(format!("{}: {len} characters, fewer than minLength {min}", at(path)));
            }
        }
    }
    if let Value::Array(items) = value {
        let len = items.len() as u64;
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if len > max {
                errors.push(format!("{}: {len} items, more than maxItems {max}", at(path)));
            }
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if len < min {
                errors.push(format!("{}: {len} items, fewer than minItems {min}", at(path)));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}/{i}"), errors);
            }
        }
    }
    if let Value::Object(obj) = value {
        check_object(schema, obj, path, errors);
    }
    if let Some(Value::Array(options)) = schema.get("anyOf") {
        if !options.iter().any(|s| validate(s, value).is_ok()) {
            errors.push(format!(
                "{}: matches none of the {} allowed shapes ({})",
                at(path),
                options.len(),
                closest(options, value)
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options.iter().filter(|s| validate(s, value).is_ok()).count();
        if matching == 0 {
            errors.push(format!(
                "{}: matches none of the {} allowed shapes ({})",
                at(path),
                options.len(),
                closest(options, value)
            ));
        } else if matching > 1 {
            errors.push(format!("{}: matches {matching} of the oneOf shapes, expected exactly one", at(path)));
        }
    }
}

/// The first problem against the option with the fewest problems.
fn closest(options: &[Value], value: &Value) -> String {
    options
        .iter()
        .filter_map(|s| validate(s, value).err())
        .min_by_key(Vec::len)
        .and_then(|e| e.into_iter().next())
        .unwrap_or_default()
}

fn check_object(schema: &Map<String, Value>, obj: &Map<String, Value>, path: &str, errors: &mut Vec<String>) {
    let props = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                errors.push(format!("{}: missing required property {name:?}", at(path)));
            }
        }
    }
    for (key, v) in obj {
        let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
        match props.and_then(|p| p.get(key)) {
            Some(s) => check(s, v, &child, errors),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    errors.push(format!("{}: property {key:?} is not allowed", at(path)));
                }
                Some(s @ Value::Object(_)) => check(s, v, &child, errors),
                _ => {}
            },
        }
    }
}

/// Whether OpenAI's strict structured outputs accept this schema: every
/// object lists all its properties as required and sets
/// `additionalProperties: false`. (A schema that is not strict-compatible
/// is sent with `strict: false` rather than refused by the server.)
pub fn strict_compatible(schema: &Value) -> bool {
    let Value::Object(s) = schema else { return true };
    let is_object = match s.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(a)) => a.iter().any(|t| t == "object"),
        _ => s.contains_key("properties"),
    };
    if is_object {
        if s.get("additionalProperties") != Some(&Value::Bool(false)) {
            return false;
        }
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            if !props.keys().all(|k| required.contains(&k.as_str())) {
                return false;
            }
        }
    }
    let maps = ["properties", "$defs", "definitions"];
    let lists = ["anyOf", "oneOf", "allOf", "prefixItems"];
    maps.iter().filter_map(|k| s.get(*k).and_then(Value::as_object)).all(|m| m.values().all(strict_compatible))
        && lists.iter().filter_map(|k| s.get(*k).and_then(Value::as_array)).all(|a| a.iter().all(strict_compatible))
        && s.get("items").is_none_or(strict_compatible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lessons() -> Value {
        json!({
            "type": "object",
            "properties": {
                "lessons": {
                    "type": "array", "maxItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"enum": ["mistake", "workflow"]},
                            "text": {"type": "string", "maxLength": 10},
                            "support": {"type": "integer", "minimum": 1, "maximum": 5}
                        },
                        "required": ["kind", "text", "support"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["lessons"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_a_matching_value() {
        let v = json!({"lessons": [{"kind": "mistake", "text": "use -p", "support": 2}]});
        assert_eq!(validate(&lessons(), &v), Ok(()));
        assert!(strict_compatible(&lessons()));
    }

    #[test]
    fn names_each_problem_with_its_path() {
        let v = json!({"lessons": [
            {"kind": "idea", "text": "far too long text", "support": 2.5, "extra": 1},
            {"kind": "workflow", "support": 9},
            {"kind": "mistake", "text": "x", "support": 1}
        ], "more": true});
        let errs = validate(&lessons(), &v).unwrap_err();
        let want = [
            "/lessons: 3 items, more than maxItems 2",
            "/lessons/0/kind: \"idea\" is not one of \"mistake\", \"workflow\"",
            "/lessons/0/text: 17 characters, more than maxLength 10",
            "/lessons/0/support: expected integer, found number",
            "/lessons/0: property \"extra\" is not allowed",
            "/lessons/1: missing required property \"text\"",
            "/lessons/1/support: 9 is more than the maximum 5",
            "/: property \"more\" is not allowed",
        ];
        for w in want {
            assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
    }

    #[test]
    fn any_of_and_const_and_type_lists() {
        let s = json!({"anyOf": [
            {"type": "object", "properties": {"tool": {"const": "search"}}, "required": ["tool"]},
            {"type": "object", "properties": {"final": {"type": ["string", "null"]}}, "required": ["final"]}
        ]});
        assert!(validate(&s, &json!({"tool": "search"})).is_ok());
        assert!(validate(&s, &json!({"final": null})).is_ok());
        let e = validate(&s, &json!({"tool": "delete"})).unwrap_err();
        assert_eq!(e, vec!["/: matches none of the 2 allowed shapes (/tool: expected \"search\", found \"delete\")"]);
        assert!(validate(&json!({"type": "integer"}), &json!(3.0)).is_ok());
        assert!(!strict_compatible(&json!({"type": "object", "properties": {"a": {"type": "string"}}})));
    }
}
