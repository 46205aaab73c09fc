//! HTTP hygiene around every route (REST, review pages, MCP): which `Host`
//! values are served (DNS rebinding), which requests may change state
//! (cross-site `Origin` / `Sec-Fetch-Site`: CSRF), the media type of JSON
//! bodies, the URI length, the security headers of every response, and
//! the JSON shape of every error, whoever produced it.

use crate::error::ApiError;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Longest request target (path and query) served; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The `Host` values a server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// `(host, port)`: lowercase host (`[::1]` in brackets), and the port
    /// it must carry (`None`: any).
    names: Vec<(String, Option<u16>)>,
    /// How many of `names` were given (the rest are the loopback names).
    given: usize,
    /// Any `Host` (a token server bound to a public address with no names given).
    any: bool,
}

/// The loopback names: what a browser on this machine sends.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl HostPolicy {
    /// `localhost`, `127.0.0.1` and `[::1]`, on `port` (any port when `None`).
    pub fn loopback(port: Option<u16>) -> Self {
        HostPolicy { names: LOOPBACK_NAMES.iter().map(|n| (n.to_string(), port)).collect(), given: 0, any: false }
    }

    /// Every `Host` is served.
    pub fn any() -> Self {
        HostPolicy { names: Vec::new(), given: 0, any: true }
    }

    /// Adds names: `host` (any port) or `host:port`.
    pub fn with_names(mut self, names: &[String]) -> Result<Self, String> {
        for n in names {
            let (host, port) = parse_authority(n).ok_or_else(|| format!("{n:?} is not a host name or host:port"))?;
            self.names.push((host, port));
            self.given += 1;
            self.any = false;
        }
        Ok(self)
    }

    pub fn is_any(&self) -> bool {
        self.any
    }

    /// The names as `host` or `host:port` (for MCP's own host check), or
    /// `None` when any host is served.
    pub fn names(&self) -> Option<Vec<String>> {
        (!self.any).then(|| {
            self.names
                .iter()
                .map(|(h, p)| match p {
                    Some(p) => format!("{h}:{p}"),
                    None => h.clone(),
                })
                .collect()
        })
    }

    /// True when a `Host` header value is served.
    pub fn allows(&self, authority: &str) -> bool {
        self.any || matches(&self.names, authority)
    }

    /// True when `authority` is one of the names given (a proxy's public name).
    fn given_allows(&self, authority: &str) -> bool {
        matches(self.names.get(self.names.len().saturating_sub(self.given)..).unwrap_or(&[]), authority)
    }
}

fn matches(names: &[(String, Option<u16>)], authority: &str) -> bool {
    let Some((host, port)) = parse_authority(authority) else { return false };
    names.iter().any(|(h, p)| {
        *h == host
            && match p {
                None => true,
                // A browser leaves out the scheme's default port.
                Some(p) => port == Some(*p) || (port.is_none() && *p == 80),
            }
    })
}

/// `host[:port]` → lowercase host (IPv6 in brackets, trailing dot dropped) and port.
fn parse_authority(s: &str) -> Option<(String, Option<u16>)> {
    let a: axum::http::uri::Authority = s.trim().parse().ok()?;
    if a.as_str().contains('@') {
        return None;
    }
    let host = a.host().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some((host, a.port_u16()))
}

/// What the checks need: the `Host` policy.
#[derive(Debug, Clone)]
pub struct Guard {
    pub hosts: HostPolicy,
}

/// Refuses requests to a `Host` this server does not answer to, state
/// changes from another site, and overlong URIs.
pub(crate) async fn check(State(g): State<Guard>, req: Request, next: Next) -> Response {
    match refuse(&g, req.method(), req.headers(), req.uri()) {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

fn refuse(g: &Guard, method: &Method, headers: &HeaderMap, uri: &axum::http::Uri) -> Option<ApiError> {
    if uri.path_and_query().map_or(0, |pq| pq.as_str().len()) > MAX_URI_BYTES {
        return Some(ApiError::http(
            StatusCode::URI_TOO_LONG,
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    // HTTP/1.1 requires Host; hyper fills the URI authority from it.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return Some(ApiError::invalid("the request has no Host header"));
    };
    if !g.hosts.allows(host) {
        return Some(ApiError::forbidden(format!(
            "this server does not answer to the Host {host:?} (it answers to {}); a page on another site \
             cannot reach it through its own name",
            g.hosts.names().unwrap_or_default().join(", ")
        )));
    }
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Some(why) = cross_site(g, headers, host) {
            return Some(ApiError::forbidden(format!("{why}: a page on another site cannot change data here")));
        }
    }
    None
}

/// Why a request comes from another site, if it does: browsers send
/// `Sec-Fetch-Site` (`same-origin` for the review page's own forms) and
/// `Origin` on every form post and script request; other clients send
/// neither.
pub(crate) fn cross_site(g: &Guard, headers: &HeaderMap, host: &str) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        match site {
            // Set by the browser itself, never by a page: a same-origin
            // request is the review page's own form, whatever `Origin` says
            // (Chromium sends `Origin: null` for a form post from a page
            // whose referrer policy hides the referrer).
            "same-origin" => return None,
            "none" => {}
            _ => return Some(format!("the request is {site} (Sec-Fetch-Site)")),
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else { return Some("the Origin header is not text".into()) };
    let authority = origin.split_once("://").map(|(scheme, rest)| (scheme, rest.trim_end_matches('/')));
    match authority {
        Some((scheme @ ("http" | "https"), a)) if same_server(g, scheme, a, host) => None,
        _ => Some(format!("the request comes from {origin:?} (Origin), not from this server")),
    }
}

/// The origin `scheme://a` is this server: the request's own `Host`,
/// another loopback name on the same port, or a name given to the server
/// (the public name of a proxy in front of it).
fn same_server(g: &Guard, scheme: &str, a: &str, host: &str) -> bool {
    if a.eq_ignore_ascii_case(host) || g.hosts.given_allows(a) {
        return true;
    }
    let default = if scheme == "https" { 443 } else { 80 };
    match (parse_authority(a), parse_authority(host)) {
        (Some((oh, op)), Some((hh, hp))) => {
            LOOPBACK_NAMES.contains(&oh.as_str())
                && LOOPBACK_NAMES.contains(&hh.as_str())
                && op.unwrap_or(default) == hp.unwrap_or(80)
        }
        _ => false,
    }
}

/// JSON routes take `Content-Type: application/json` (or no body at all):
/// a plain-text or form body is what a cross-site form can send.
pub(crate) async fn require_json(req: Request, next: Next) -> Response {
    let empty = req.body().size_hint().exact() == Some(0);
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if empty || essence.eq_ignore_ascii_case("application/json") {
        return next.run(req).await;
    }
    let got = if ct.is_empty() { "none".to_string() } else { format!("{ct:?}") };
    ApiError::http(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("send the body as Content-Type: application/json (got {got})"),
    )
    .into_response()
}

/// Turns every error response that is not already JSON (or a review page)
/// into the documented JSON error: axum's 405 and 413, MCP's plain-text
/// refusals, anything else.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let ct = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.starts_with("application/json") || ct.starts_with("text/html") {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("");
            format!(
                "{method} is not allowed on {path}; it takes {}",
                if allow.is_empty() { "other methods" } else { allow }
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than the {} MiB this server reads", crate::MAX_BODY_BYTES >> 20)
        }
        _ => match text {
            Ok(t) if !t.is_empty() => t,
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        },
    };
    let body = ApiError::http(status, message).body().to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Adds the security headers to every response.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in headers() {
        if !h.contains_key(name) {
            h.insert(name.clone(), value.clone());
        }
    }
    resp
}

/// The security headers, in order. The page has no scripts, no images,
/// no frames; its one `<style>` element is allowed by its hash.
pub fn headers() -> &'static [(HeaderName, HeaderValue)] {
    static H: OnceLock<Vec<(HeaderName, HeaderValue)>> = OnceLock::new();
    H.get_or_init(|| {
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            base64(&Sha256::digest(crate::ui::CSS.as_bytes()))
        );
        let mut v = vec![
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
            (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ];
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            v.insert(0, (header::CONTENT_SECURITY_POLICY, csp));
        }
        v
    })
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A complete HTTP/1.1 error response (status line, headers, JSON body),
/// for the connection layer to send when hyper refuses a request before
/// any route sees it (a request line or headers it cannot parse, a URI
/// over its own limit).
pub(crate) fn raw_error_response(status: StatusCode) -> Vec<u8> {
    let message = match status {
        StatusCode::URI_TOO_LONG => format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request headers are too large".to_string(),
        _ => "the request could not be parsed as HTTP/1.1".to_string(),
    };
    let body = ApiError::http(status, message).body().to_string();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    );
    for (name, value) in headers() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value.to_str().unwrap_or(""));
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_examples() {
        for (i, o) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn loopback_hosts_need_the_bound_port_and_other_names_are_refused() {
        let p = HostPolicy::loopback(Some(7777));
        for ok in ["127.0.0.1:7777", "localhost:7777", "LOCALHOST:7777", "[::1]:7777", "localhost.:7777"] {
            assert!(p.allows(ok), "{ok}");
        }
        for no in [
            "evil.example:7777",
            "127.0.0.1:80",
            "localhost",
            "127.0.0.2:7777",
            "user@localhost:7777",
            "",
            "[::2]:7777",
        ] {
            assert!(!p.allows(no), "{no}");
        }
        assert!(HostPolicy::loopback(Some(80)).allows("localhost"), "port 80 is left out by browsers");
        let named =
            HostPolicy::loopback(Some(7777)).with_names(&["nocturne.example.com".into(), "10.0.0.5:8443".into()]);
        let named = named.unwrap();
        assert!(
            named.allows("nocturne.example.com:443") && named.allows("10.0.0.5:8443") && !named.allows("10.0.0.5:80")
        );
        assert!(HostPolicy::loopback(None).with_names(&["a b".into()]).is_err());
        assert!(HostPolicy::any().allows("anything.example"));
    }

    #[test]
    fn cross_site_requests_are_recognized_by_fetch_metadata_or_origin() {
        let g = Guard { hosts: HostPolicy::loopback(Some(7777)) };
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        let host = "127.0.0.1:7777";
        assert!(cross_site(&g, &h(&[]), host).is_none(), "curl, scripts and MCP clients send neither");
        let page = h(&[("origin", "http://127.0.0.1:7777"), ("sec-fetch-site", "same-origin")]);
        assert!(cross_site(&g, &page, host).is_none(), "the review page's own form post");
        let hidden = h(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(cross_site(&g, &hidden, host).is_none(), "a same-origin form post whose origin the browser hid");
        assert!(
            cross_site(&g, &h(&[("origin", "http://localhost:7777")]), host).is_none(),
            "another name of this server"
        );
        for bad in [
            h(&[("origin", "http://evil.example")]),
            h(&[("origin", "null")]),
            h(&[("origin", "http://localhost:3000")]),
            h(&[("sec-fetch-site", "cross-site")]),
            h(&[("sec-fetch-site", "same-site"), ("origin", "http://localhost:3000")]),
        ] {
            assert!(cross_site(&g, &bad, host).is_some(), "{bad:?}");
        }
    }
}
