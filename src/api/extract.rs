//! Extractors: JSON bodies with the API's errors, path and query parameters, and who is calling.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use cartable_consent::{MemberId, ServiceId};
use cartable_sdk::ErrorCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::{ApiState, JSON_LIMIT, TokenInfo};
use crate::auth::hash_token;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cartable_session";
/// A DPO's session cookie: apart from the members', so that one can never pass for the other.
pub const DPO_SESSION_COOKIE: &str = "cartable_dpo_session";
/// The header a cookie-authenticated state-changing request echoes its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body: `application/json`, at most [`JSON_LIMIT`] bytes, no unknown fields (where the type says so).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON, sent with `content-type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(JSON_LIMIT as u64)
            } else {
                ApiError::invalid("the body could not be read")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body, telling malformed JSON, unknown fields and wrong values apart.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    use serde_json::error::Category;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, "the body is empty; JSON was expected"));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()),
        ),
        Category::Data => {
            let message = e.to_string();
            if message.starts_with("unknown field") {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::UnknownField, message)
            } else {
                ApiError::invalid(message)
            }
        }
    })
}

/// Path parameters, with the API's errors.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// Query parameters, with the API's errors (unknown parameters are refused where the type says so).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// A signed-in family member.
#[derive(Debug, Clone)]
pub struct MemberSession {
    pub member: MemberId,
    /// The member's family: a call about any other family is an outsider's.
    pub family: cartable_consent::FamilyId,
    /// The hash of the cookie's token, to end the session.
    pub token_hash: String,
}

/// A signed-in DPO.
#[derive(Debug, Clone)]
pub struct DpoSession {
    pub dpo: cartable_consent::DpoId,
    /// The hash of the cookie's token, to end the session.
    pub token_hash: String,
}

/// Who calls a family or data endpoint: a member with a session, a service with an access token, or a DPO with
/// theirs (who reads registers, never data).
#[derive(Debug, Clone)]
pub enum Caller {
    Member(MemberSession),
    Service(Arc<TokenInfo>),
    Dpo(DpoSession),
}

impl Caller {
    pub fn principal(&self) -> cartable_consent::Principal {
        match self {
            Caller::Member(m) => cartable_consent::Principal::Member(m.member),
            Caller::Service(t) => cartable_consent::Principal::Service(t.service),
            Caller::Dpo(d) => cartable_consent::Principal::Dpo(d.dpo),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| ApiError::invalid_token())?;
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("gnap") {
                return Ok(Caller::Service(state.access_token(token.trim()).await?));
            }
            return Err(ApiError::unauthorized("use `Authorization: Bearer <access token>`, or sign in"));
        }
        if let Some(session) = member_session(parts, state).await? {
            return Ok(Caller::Member(session));
        }
        match dpo_session(parts, state).await? {
            Some(session) => Ok(Caller::Dpo(session)),
            None => Err(ApiError::unauthorized("sign in, or send an access token")),
        }
    }
}

impl FromRequestParts<ApiState> for DpoSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        dpo_session(parts, state).await?.ok_or_else(|| ApiError::unauthorized("sign in as a DPO"))
    }
}

/// The DPO of a DPO session cookie; a state-changing request must also carry the session's CSRF token.
pub async fn dpo_session(parts: &Parts, state: &ApiState) -> Result<Option<DpoSession>, ApiError> {
    let Some((session, csrf_hash)) = cookie_dpo_session(&parts.headers, state).await? else { return Ok(None) };
    require_csrf(parts, &csrf_hash)?;
    Ok(Some(session))
}

/// The DPO of a DPO session cookie and the hash of the session's CSRF token (checked by the caller).
pub(crate) async fn cookie_dpo_session(headers: &HeaderMap, state: &ApiState) -> Result<Option<(DpoSession, String)>, ApiError> {
    let Some(token) = cookie(headers, DPO_SESSION_COOKIE) else { return Ok(None) };
    let token_hash = hash_token(&token);
    let Some(session) = state.vault().api().dpo_session(&token_hash, time::OffsetDateTime::now_utc()).await? else {
        return Err(ApiError::unauthorized("the session has ended; sign in again"));
    };
    Ok(Some((DpoSession { dpo: session.dpo, token_hash }, session.csrf_hash)))
}

/// A state-changing request (not GET, HEAD or OPTIONS) must echo the session's CSRF token in [`CSRF_HEADER`].
fn require_csrf(parts: &Parts, csrf_hash: &str) -> Result<(), ApiError> {
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !csrf_matches(sent, csrf_hash) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Csrf, format!("send the session's CSRF token in `{CSRF_HEADER}`")));
        }
    }
    Ok(())
}

/// The member of a session cookie; a state-changing request must also carry the session's CSRF token.
pub async fn member_session(parts: &Parts, state: &ApiState) -> Result<Option<MemberSession>, ApiError> {
    let Some((session, csrf_hash)) = cookie_session(&parts.headers, state).await? else { return Ok(None) };
    require_csrf(parts, &csrf_hash)?;
    Ok(Some(session))
}

/// The member of a session cookie and the hash of the session's CSRF token, without looking at the method: the
/// caller checks the token where its requests carry it (a header for the API, a form field for the web UI).
pub(crate) async fn cookie_session(headers: &HeaderMap, state: &ApiState) -> Result<Option<(MemberSession, String)>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let token_hash = hash_token(&token);
    let now = time::OffsetDateTime::now_utc();
    let vault = state.vault();
    let Some(session) = vault.api().session(&token_hash, now).await? else {
        return Err(ApiError::unauthorized("the session has ended; sign in again"));
    };
    if vault.api().member_role(session.family, session.member).await?.is_none() {
        return Err(ApiError::unauthorized("the session's member is gone"));
    }
    Ok(Some((MemberSession { member: session.member, family: session.family, token_hash }, session.csrf_hash)))
}

/// Whether `sent` is the CSRF token whose hash is `csrf_hash` (compared in constant time).
pub(crate) fn csrf_matches(sent: &str, csrf_hash: &str) -> bool {
    !sent.is_empty() && constant_time_eq(hash_token(sent).as_bytes(), csrf_hash.as_bytes())
}

/// A service authenticated with HTTP Basic (`service_id:secret`).
pub struct ServiceAuth(pub ServiceId);

impl FromRequestParts<ApiState> for ServiceAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let wrong = || ApiError::unauthorized("authenticate with HTTP Basic: the service id and its secret");
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(wrong)?;
        let (scheme, encoded) = value.split_once(' ').ok_or_else(wrong)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(wrong());
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| wrong())?;
        let decoded = String::from_utf8(decoded).map_err(|_| wrong())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(wrong)?;
        let id: ServiceId = id.parse().map_err(|_| wrong())?;
        let Some((_name, stored)) = state.vault().service(id).await? else { return Err(wrong()) };
        if !constant_time_eq(hash_token(secret).as_bytes(), stored.as_bytes()) {
            return Err(wrong());
        }
        Ok(ServiceAuth(id))
    }
}

/// The continuation handle of `Authorization: GNAP <handle>`.
pub struct ContinueHandle(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ContinueHandle {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        match value.split_once(' ') {
            Some((scheme, handle)) if scheme.eq_ignore_ascii_case("gnap") && !handle.trim().is_empty() => Ok(ContinueHandle(handle.trim().to_owned())),
            _ => Err(ApiError::unauthorized("continue with `Authorization: GNAP <continuation handle>`")),
        }
    }
}

/// The client's address, when the server knows it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Compares two secrets' hashes without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }

    #[test]
    fn json_errors_are_told_apart() {
        assert_eq!(parse_json::<Named>(b"{\"name\": ").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(parse_json::<Named>(b"").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(parse_json::<Named>(b"{\"name\": \"a\", \"x\": 1}").unwrap_err().code, ErrorCode::UnknownField);
        assert_eq!(parse_json::<Named>(b"{\"name\": 3}").unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(parse_json::<Named>(b"{}").unwrap_err().code, ErrorCode::InvalidRequest);
        assert!(parse_json::<Named>(b"{\"name\": \"a\"}").is_ok());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; cartable_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
