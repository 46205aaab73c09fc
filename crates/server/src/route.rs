//! One route: what the router serves and what the OpenAPI document says
//! about it, declared together.

use crate::AppState;
use axum::http::Method;
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// How a route's document gets the JSON Schema of a type it (de)serializes:
/// `schema::<T>`, a reference into `#/components/schemas` for named types.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaFn`] of `T`.
pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The query string of a route: the struct its handler deserializes it
/// into (each field a parameter, described by its doc comment), and an
/// example per field.
#[derive(Debug, Clone, Copy)]
pub struct QueryParams {
    pub schema: SchemaFn,
    pub examples: &'static [(&'static str, Example)],
}

impl QueryParams {
    /// The names of the parameters a request must carry.
    pub fn required(&self) -> Vec<String> {
        let mut g = schemars::generate::SchemaSettings::draft2020_12().for_deserialize().into_generator();
        let schema = (self.schema)(&mut g).to_value();
        schema
            .get("required")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

/// The [`QueryParams`] of `T`.
pub fn query_struct<T: JsonSchema>(examples: &'static [(&'static str, Example)]) -> Option<QueryParams> {
    Some(QueryParams { schema: |g| T::json_schema(g), examples })
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    Path,
    Query,
}

/// An example value. Ids are placeholders so that a caller (the docs, or a
/// test walking every route) can fill in real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    /// A session id.
    Session,
    /// A memory id.
    Memory,
    /// A dream (proposal) id.
    Dream,
    /// A job id.
    Job,
    /// An agent run id.
    Run,
    /// A literal value.
    Lit(&'static str),
}

impl Example {
    /// The placeholder that stands for this example in request templates
    /// (`{session}`, `{memory}`, `{dream}`, `{job}`), or the literal.
    pub fn template(self) -> &'static str {
        match self {
            Example::Session => "{session}",
            Example::Memory => "{memory}",
            Example::Dream => "{dream}",
            Example::Job => "{job}",
            Example::Run => "{run}",
            Example::Lit(s) => s,
        }
    }
}

/// A path parameter, or a query parameter that no struct declares (the
/// review pages' `token`).
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: ParamIn,
    pub required: bool,
    /// JSON Schema type: `string`, `integer` or `boolean`.
    pub ty: &'static str,
    pub description: &'static str,
    pub example: Example,
}

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// JSON: the type the handler parses it into and an example template
    /// (placeholders as in [`Example::template`]).
    Json {
        schema: SchemaFn,
        example: &'static str,
    },
    /// Like `Json`, but the body may be left out (the handler then takes
    /// the type's default).
    OptionalJson {
        schema: SchemaFn,
        example: &'static str,
    },
    /// Raw bytes of the given media type.
    Raw {
        content_type: &'static str,
        example: &'static str,
    },
    /// An HTML form (`application/x-www-form-urlencoded`): the type the
    /// handler parses it into, and an example.
    Form {
        schema: SchemaFn,
        example: &'static str,
    },
}

/// What a successful response carries.
#[derive(Debug, Clone)]
pub enum Reply {
    /// JSON: the type the handler serializes.
    Json {
        status: u16,
        schema: SchemaFn,
    },
    /// JSON of one of two types, by status (the second when the request
    /// asks for it, described by `other_description`).
    JsonOr {
        status: u16,
        schema: SchemaFn,
        other_status: u16,
        other_schema: SchemaFn,
        other_description: &'static str,
    },
    /// JSON for `format=json`, `text/markdown` for `format=markdown`.
    JsonOrMarkdown {
        schema: SchemaFn,
    },
    Html,
    /// `303 See Other` to a page.
    Redirect,
}

/// One route.
pub struct Route {
    pub method: Method,
    /// Axum and OpenAPI path syntax (`/v1/memories/{id}`).
    pub path: &'static str,
    pub operation_id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// `read`, `write` or `admin`: the token level the operation needs.
    pub needs: &'static str,
    /// Path parameters (and undeclared query parameters).
    pub params: Vec<Param>,
    /// The query string, from the handler's query struct.
    pub query: Option<QueryParams>,
    pub body: Body,
    pub reply: Reply,
    pub handler: MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

pub(crate) fn path(name: &'static str, description: &'static str, example: Example) -> Param {
    Param { name, location: ParamIn::Path, required: true, ty: "string", description, example }
}

pub(crate) fn query(name: &'static str, ty: &'static str, description: &'static str, example: Example) -> Param {
    Param { name, location: ParamIn::Query, required: false, ty, description, example }
}

/// Ids to put in place of the placeholders of a request template.
#[derive(Debug, Clone)]
pub struct ExampleIds {
    pub session: String,
    pub memory: String,
    pub dream: String,
    pub job: String,
    /// An id that does not exist yet (for a new session).
    pub new: String,
    pub run: String,
}

impl ExampleIds {
    /// The ids shown in the OpenAPI document.
    pub fn docs() -> Self {
        ExampleIds {
            session: "cart-total-rounding".into(),
            memory: "m-3f2a9c1b7d4e".into(),
            dream: "d-202611170900".into(),
            job: "job-01kbf3v8w2q9d7m4n6p0r5s1tc".into(),
            new: "example-session".into(),
            run: "run-20261117-090000-3fa2c1".into(),
        }
    }

    /// Replaces `{session}`, `{memory}`, `{dream}`, `{job}`, `{run}` and `{new}` in `template`.
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{session}", &self.session)
            .replace("{memory}", &self.memory)
            .replace("{dream}", &self.dream)
            .replace("{job}", &self.job)
            .replace("{new}", &self.new)
            .replace("{run}", &self.run)
    }
}
