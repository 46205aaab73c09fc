//! One route: what the router serves and what the OpenAPI document says
//! about it, declared together.

use crate::AppState;
use axum::http::Method;
use axum::routing::MethodRouter;

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

/// A path or query parameter.
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
    /// JSON, with a schema reference (`#/components/schemas/NAME`) and an
    /// example template (placeholders as in [`Example::template`]).
    Json {
        schema: &'static str,
        example: &'static str,
    },
    /// Raw bytes of the given media type.
    Raw {
        content_type: &'static str,
        example: &'static str,
    },
    /// An HTML form (`application/x-www-form-urlencoded`), with a schema
    /// reference and an example.
    Form {
        schema: &'static str,
        example: &'static str,
    },
}

/// What a successful response carries.
#[derive(Debug, Clone)]
pub enum Reply {
    /// JSON with a schema reference (a name in `#/components/schemas`).
    Json {
        status: u16,
        schema: &'static str,
    },
    /// JSON for `format=json`, `text/markdown` for `format=markdown`.
    JsonOrMarkdown {
        schema: &'static str,
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
    pub params: Vec<Param>,
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

pub(crate) fn required_query(
    name: &'static str,
    ty: &'static str,
    description: &'static str,
    example: Example,
) -> Param {
    Param { name, location: ParamIn::Query, required: true, ty, description, example }
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
