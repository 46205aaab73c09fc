//! The OpenAPI 3.1 document, generated from the route table. Operations
//! come from the routes; every request and response schema is derived
//! (`schemars`) from the type its handler parses or serializes, so the
//! document cannot drift from the wire.

use crate::route::{Body, ExampleIds, ParamIn, QueryParams, Reply, Route};
use schemars::generate::{Contract, SchemaSettings};
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

/// The document for every route of [`crate::routes`], for a server that
/// asks for tokens.
pub fn document() -> Value {
    document_for(&crate::routes(), true)
}

/// The document as served without tokens (`--insecure-local`): no
/// operation asks for a token.
pub fn document_local() -> Value {
    document_for(&crate::routes(), false)
}

/// Where request schemas are first put, to be merged into
/// `#/components/schemas` (see [`merge_definitions`]).
const REQUEST_DEFS: &str = "/components/x-request-schemas/";

fn generator(contract: Contract, path: &'static str) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = path.into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator()
}

/// Both directions' schemas: a type is documented as it is serialized in
/// responses and as it is deserialized in requests (fields with defaults
/// are optional only there).
struct Generators {
    response: SchemaGenerator,
    request: SchemaGenerator,
}

fn content_example(template: &str, json_body: bool) -> Value {
    let filled = ExampleIds::docs().fill(template);
    if json_body {
        serde_json::from_str(&filled).unwrap_or(Value::String(filled))
    } else {
        Value::String(filled)
    }
}

/// The query parameters of `q`: one per property of its struct.
fn query_params(q: &QueryParams, g: &mut SchemaGenerator, ids: &ExampleIds) -> Vec<Value> {
    let schema = (q.schema)(g).to_value();
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Vec::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let mut prop = prop.clone();
            // An `Option` field is a parameter left out, never a `null`.
            if let Some(Value::Array(types)) = prop.get_mut("type") {
                types.retain(|t| t != "null");
                if let [one] = types.as_slice() {
                    let one = one.clone();
                    prop["type"] = one;
                }
            }
            let description = prop.as_object_mut().and_then(|m| m.remove("description")).unwrap_or(json!(""));
            let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()),
                "description": description, "schema": prop});
            if let Some((_, ex)) = q.examples.iter().find(|(n, _)| n == name) {
                p["example"] = json!(ids.fill(ex.template()));
            }
            out.push(p);
        }
    }
    out
}

fn operation(r: &Route, g: &mut Generators, tokens: bool) -> Value {
    let ids = ExampleIds::docs();
    let mut params: Vec<Value> = r
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.location { ParamIn::Path => "path", ParamIn::Query => "query" },
                "required": p.required,
                "description": p.description,
                "schema": {"type": p.ty},
                "example": ids.fill(p.example.template()),
            })
        })
        .collect();
    if let Some(q) = &r.query {
        params.extend(query_params(q, &mut g.request, &ids));
    }
    let mut op = Map::new();
    op.insert("operationId".into(), json!(r.operation_id));
    op.insert("tags".into(), json!([r.tag]));
    op.insert("summary".into(), json!(r.summary));
    let needs = match r.needs {
        "none" => "No token needed.".to_string(),
        _ if !tokens => "No token needed: this server runs without tokens (local mode).".to_string(),
        n => format!("Needs a `{n}` token. A team-bound token sees only its team's data (and reads org memories)."),
    };
    op.insert("description".into(), json!(needs));
    if r.needs == "none" || !tokens {
        op.insert("security".into(), json!([]));
    } else if matches!(r.reply, Reply::Html | Reply::Redirect) {
        // The review pages also take the cookie that `?token=` sets.
        op.insert("security".into(), json!([{"bearer": []}, {"cookie": []}]));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let body = match &r.body {
        Body::None => None,
        Body::Json { schema, example } => Some(json!({"required": true, "content": {"application/json": {
            "schema": schema(&mut g.request).to_value(), "example": content_example(example, true)}}})),
        Body::OptionalJson { schema, example } => Some(json!({"required": false, "content": {"application/json": {
            "schema": schema(&mut g.request).to_value(), "example": content_example(example, true)}}})),
        Body::Raw { content_type, example } => Some(json!({"required": true, "content": {*content_type: {
            "schema": {"type": "string"}, "example": content_example(example, false)}}})),
        Body::Form { schema, example } => {
            Some(json!({"required": true, "content": {"application/x-www-form-urlencoded": {
            "schema": schema(&mut g.request).to_value(), "example": content_example(example, false)}}}))
        }
    };
    if let Some(b) = body {
        op.insert("requestBody".into(), b);
    }
    let mut responses = Map::new();
    let mut error = json!({"$ref": "#/components/responses/Error"});
    match &r.reply {
        Reply::Json { status, schema } => {
            responses.insert(
                status.to_string(),
                json!({"description": "Success.", "content": {"application/json": {"schema": schema(&mut g.response).to_value()}}}),
            );
        }
        Reply::JsonOr { status, schema, other_status, other_schema, other_description } => {
            responses.insert(
                status.to_string(),
                json!({"description": "Success.", "content": {"application/json": {"schema": schema(&mut g.response).to_value()}}}),
            );
            responses.insert(
                other_status.to_string(),
                json!({"description": other_description,
                    "content": {"application/json": {"schema": other_schema(&mut g.response).to_value()}}}),
            );
        }
        Reply::JsonOrMarkdown { schema } => {
            responses.insert(
                "200".into(),
                json!({"description": "The export.", "content": {
                    "application/json": {"schema": schema(&mut g.response).to_value()},
                    "text/markdown": {"schema": {"type": "string"}}}}),
            );
        }
        Reply::Html => {
            responses.insert(
                "200".into(),
                json!({"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}),
            );
            error = json!({"$ref": "#/components/responses/PageError"});
        }
        Reply::Redirect => {
            responses.insert(
                "303".into(),
                json!({"description": "Done; see the page in `Location`.",
                    "headers": {"Location": {"schema": {"type": "string"}}}}),
            );
            error = json!({"$ref": "#/components/responses/PageError"});
        }
    }
    responses.insert("default".into(), error);
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The document for `routes`.
pub fn document_for(routes: &[Route], tokens: bool) -> Value {
    let mut g = Generators {
        response: generator(Contract::Serialize, "/components/schemas/"),
        request: generator(Contract::Deserialize, REQUEST_DEFS),
    };
    let error = crate::route::schema::<crate::error::ErrorBody>(&mut g.response).to_value();
    let mut paths = Map::new();
    for r in routes {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_ascii_lowercase(), operation(r, &mut g, tokens));
        }
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Nocturne",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("An open, self-hosted memory system for AI agents: session log, versioned memory, \
                dreams that propose memory changes, outcomes, search. Every error is `{{\"error\":{{\"code\",\"message\"}}}}` \
                with one status per code: {}. \
                JSON bodies need `Content-Type: application/json`. Requests that change data from a page on \
                another site (`Origin`, `Sec-Fetch-Site`) and requests to a `Host` the server does not answer to \
                are refused (403).", crate::error::code_table().join(", "))
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `nocturne tokens create` or POST /v1/tokens."},
                "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE,
                    "description": "Review pages only: set by opening a page once with `?token=TOKEN`."}
            },
            "responses": {
                "Error": {"description": "An error.", "content": {"application/json": {"schema": error}}},
                "PageError": {"description": "An error, as an HTML page (review pages).",
                    "content": {"text/html": {"schema": {"type": "string"}}}}
            },
        }
    });
    let response = g.response.take_definitions(true);
    let request = g.request.take_definitions(true);
    doc["components"]["schemas"] = Value::Object(merge_definitions(&mut doc, response, request));
    bound_integers(&mut doc);
    doc
}

/// One `#/components/schemas` from the response and the request
/// definitions: a request definition identical to the response one of the
/// same name is that one; one that differs (defaults make fields optional)
/// is kept as `NAMEInput`. Rewrites the request references to match.
fn merge_definitions(doc: &mut Value, response: Map<String, Value>, request: Map<String, Value>) -> Map<String, Value> {
    let mut merged = response;
    let mut renamed = std::collections::BTreeMap::new();
    for (name, def) in &request {
        let target = match merged.get(name) {
            None => name.clone(),
            Some(d) if d == &rewrite_refs(def.clone(), &request) => name.clone(),
            Some(_) => format!("{name}Input"),
        };
        renamed.insert(name.clone(), target);
    }
    let fix = |v: &mut Value| fix_refs(v, &renamed);
    for (name, def) in request {
        let mut def = def;
        fix(&mut def);
        let target = renamed.get(&name).cloned().unwrap_or(name);
        merged.entry(target).or_insert(def);
    }
    fix(doc);
    merged
}

/// `def` with request references pointing where a same-named response
/// definition would be (to compare the two).
fn rewrite_refs(mut def: Value, request: &Map<String, Value>) -> Value {
    let same: std::collections::BTreeMap<String, String> = request.keys().map(|k| (k.clone(), k.clone())).collect();
    fix_refs(&mut def, &same);
    def
}

/// Points every request reference (`#/components/x-request-schemas/NAME`)
/// at its name in `#/components/schemas`.
fn fix_refs(v: &mut Value, renamed: &std::collections::BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(name) = r.strip_prefix(&format!("#{REQUEST_DEFS}")) {
                    let target = renamed.get(name).cloned().unwrap_or_else(|| name.to_string());
                    *r = format!("#/components/schemas/{target}");
                }
            }
            m.values_mut().for_each(|x| fix_refs(x, renamed));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| fix_refs(x, renamed)),
        _ => {}
    }
}

/// Integer formats as bounds (`int32`: `minimum`/`maximum`), so that a
/// client or fuzzer that ignores formats still knows which numbers the
/// server can take.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let bounds: Option<(i128, i128)> = match m.get("format").and_then(Value::as_str) {
                Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
                Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
                Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
                Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
                Some("uint8") => Some((0, u8::MAX.into())),
                Some("uint16") => Some((0, u16::MAX.into())),
                Some("uint32") => Some((0, u32::MAX.into())),
                Some("uint64") | Some("uint") => Some((0, u64::MAX.into())),
                _ => None,
            };
            if let Some((lo, hi)) = bounds {
                m.entry("minimum").or_insert_with(|| number(lo));
                m.entry("maximum").or_insert_with(|| number(hi));
            }
            m.values_mut().for_each(bound_integers);
        }
        Value::Array(a) => a.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

fn number(n: i128) -> Value {
    if let Ok(i) = i64::try_from(n) {
        json!(i)
    } else if let Ok(u) = u64::try_from(n) {
        json!(u)
    } else {
        Value::Null
    }
}
