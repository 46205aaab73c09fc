//! Who is calling: a bearer token, or (review pages only) the session
//! cookie set from `?token=`; without either, the local admin when the
//! server runs `insecure_local`, else unauthorized.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use nocturne_service::{Access, Service, ServiceError};
use std::convert::Infallible;

/// Name of the cookie the review pages keep the token in.
pub const COOKIE: &str = "nocturne_token";

/// The credentials a request carries (not yet checked).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `Authorization` header: `Ok(token)` for `Bearer TOKEN`, `Err` for
    /// any other scheme.
    pub bearer: Option<Result<String, String>>,
    /// The review pages' cookie.
    pub cookie: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let bearer = parts.headers.get(header::AUTHORIZATION).map(|v| {
            let v = v.to_str().unwrap_or("");
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    Ok(token.trim().to_string())
                }
                _ => Err(v.split(' ').next().unwrap_or("").to_string()),
            }
        });
        let cookie = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty());
        Ok(Credentials { bearer, cookie })
    }
}

impl Credentials {
    /// The access these credentials grant. The API reads only the
    /// `Authorization` header; the review pages also read the cookie.
    pub(crate) fn resolve(
        &self,
        svc: &Service,
        insecure_local: bool,
        use_cookie: bool,
    ) -> Result<Access, ServiceError> {
        let token = match &self.bearer {
            Some(Ok(t)) => Some(t.as_str()),
            Some(Err(scheme)) => {
                return Err(ServiceError::Unauthorized(format!(
                    "the Authorization header must be `Bearer TOKEN`, not `{scheme} ...`"
                )))
            }
            None if use_cookie => self.cookie.as_deref(),
            None => None,
        };
        match token {
            Some(t) => svc.authenticate(t),
            None if insecure_local => Ok(Access::local()),
            None => Err(ServiceError::Unauthorized("missing token: send `Authorization: Bearer TOKEN`".into())),
        }
    }
}
