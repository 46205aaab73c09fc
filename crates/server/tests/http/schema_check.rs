//! A JSON Schema (2020-12) check for the keywords the server's document
//! uses, to hold real responses against their documented schema. Any other
//! keyword fails the check (so a new keyword cannot be silently ignored).

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["description", "default", "title", "examples", "example", "format", "deprecated"];

/// The errors of `v` against `schema` (references resolve in `doc`), each
/// naming where in `v` it is.
pub fn errors(doc: &Value, schema: &Value, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(doc, schema, v, "$", &mut out);
    out
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

fn check(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let s = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => return out.push(format!("{at}: nothing is allowed here")),
        Value::Object(s) => s,
        other => panic!("not a schema: {other}"),
    };
    for (k, kw) in s {
        match k.as_str() {
            "$ref" => {
                let ptr = kw.as_str().unwrap().trim_start_matches('#');
                let target = doc.pointer(ptr).unwrap_or_else(|| panic!("dangling {ptr}"));
                check(doc, target, v, at, out);
            }
            "type" => {
                let ok = match kw {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
                    other => panic!("type {other}"),
                };
                if !ok {
                    out.push(format!("{at}: {v} is not of type {kw}"));
                }
            }
            "enum" => {
                if !kw.as_array().unwrap().contains(v) {
                    out.push(format!("{at}: {v} is not one of {kw}"));
                }
            }
            "const" => {
                if kw != v {
                    out.push(format!("{at}: {v} is not {kw}"));
                }
            }
            "properties" => {
                if let Value::Object(o) = v {
                    for (name, sub) in kw.as_object().unwrap() {
                        if let Some(x) = o.get(name) {
                            check(doc, sub, x, &format!("{at}.{name}"), out);
                        }
                    }
                }
            }
            "required" => {
                if let Value::Object(o) = v {
                    for name in kw.as_array().unwrap() {
                        if !o.contains_key(name.as_str().unwrap()) {
                            out.push(format!("{at}: missing required {name}"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Value::Object(o) = v {
                    let known = s.get("properties").and_then(Value::as_object);
                    for (name, x) in o {
                        if !known.is_some_and(|p| p.contains_key(name)) {
                            check(doc, kw, x, &format!("{at}.{name}"), out);
                        }
                    }
                }
            }
            "items" => {
                if let Value::Array(a) = v {
                    for (i, x) in a.iter().enumerate() {
                        check(doc, kw, x, &format!("{at}[{i}]"), out);
                    }
                }
            }
            "minItems" => {
                if let Value::Array(a) = v {
                    if (a.len() as u64) < kw.as_u64().unwrap() {
                        out.push(format!("{at}: fewer than {kw} items"));
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(b)) = (v.as_f64(), kw.as_f64()) {
                    if (k == "minimum" && x < b) || (k == "maximum" && x > b) {
                        out.push(format!("{at}: {v} is beyond the {k} {kw}"));
                    }
                }
            }
            "anyOf" | "oneOf" => {
                let passing = kw
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| {
                        let mut e = Vec::new();
                        check(doc, sub, v, at, &mut e);
                        e.is_empty()
                    })
                    .count();
                if passing == 0 || (k == "oneOf" && passing > 1) {
                    out.push(format!("{at}: {v} matches {passing} of the {k} alternatives"));
                }
            }
            "allOf" => kw.as_array().unwrap().iter().for_each(|sub| check(doc, sub, v, at, out)),
            k if ANNOTATIONS.contains(&k) => {}
            other => panic!("the check does not know the keyword {other:?}: teach it before the document uses it"),
        }
    }
}

#[test]
fn the_check_finds_what_is_wrong() {
    let doc = serde_json::json!({"components": {"schemas": {"N": {"type": "integer", "minimum": 0}}}});
    let schema = serde_json::json!({"type": "object", "required": ["a"], "additionalProperties": false,
        "properties": {"a": {"$ref": "#/components/schemas/N"}, "b": {"oneOf": [{"const": 1}, {"type": "string"}]}}});
    assert!(errors(&doc, &schema, &serde_json::json!({"a": 3, "b": "x"})).is_empty());
    let bad = errors(&doc, &schema, &serde_json::json!({"a": -1, "b": 2.5, "c": true}));
    assert_eq!(bad.len(), 3, "{bad:?}");
    for at in ["$.a:", "$.b:", "$.c:"] {
        assert!(bad.iter().any(|e| e.starts_with(at)), "{at} in {bad:?}");
    }
    assert_eq!(errors(&doc, &schema, &serde_json::json!({})), ["$: missing required \"a\""]);
}
