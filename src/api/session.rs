//! Members sign in with a password (argon2id) and get a cookie session; failed attempts are slowed down and, past
//! a limit per member and per client address, locked out for a while.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use cartable_consent::MemberId;
use cartable_sdk::{ErrorResponse, Login, SessionInfo};
use cartable_vault::{Attempt, LoginLimits};
use time::OffsetDateTime;

use super::error::{ApiError, ApiResult};
use super::extract::{ClientIp, JsonBody, SESSION_COOKIE, member_session};
use super::{ApiState, member_id, wire_family, wire_member};
use crate::auth::{hash_token, new_secret, verify_password};

/// Signs a guardian or a child in: sets the `cartable_session` cookie (HttpOnly, SameSite=Strict) and returns the
/// CSRF token that state-changing requests must echo in `X-CSRF-Token`.
#[utoipa::path(
    post, path = "/api/v1/session", tag = "session",
    request_body = Login,
    responses(
        (status = 200, description = "signed in; the session is in the `Set-Cookie` header", body = SessionInfo),
        (status = 401, description = "wrong member id or password", body = ErrorResponse),
        (status = 429, description = "too many failures: locked out for a while (`Retry-After`)", body = ErrorResponse),
        (status = 503, description = "too many sign-ins in progress; retry after `Retry-After` (`busy`)", body = ErrorResponse),
    )
)]
pub async fn sign_in(State(state): State<ApiState>, ClientIp(ip): ClientIp, JsonBody(login): JsonBody<Login>) -> ApiResult<impl IntoResponse> {
    let signed = open_session(&state, ip, Claimant::Member(member_id(login.member_id)), login.password).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(&signed.token, state.settings().session_ttl, state.settings().secure_cookies)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let info = SessionInfo {
        member_id: wire_member(signed.member),
        family_id: wire_family(signed.family),
        role: signed.role.as_str().to_owned(),
        csrf_token: signed.csrf,
        expires_at: signed.expires_at,
    };
    Ok((headers, Json(info)))
}

/// Who claims to sign in: a member by id (the API), or a sign-in name no member has (the web UI), counted under its
/// digest so that guessing names is limited too.
pub(crate) enum Claimant {
    Member(MemberId),
    UnknownName(String),
}

/// A session just opened: the cookie's token and the CSRF token, in clear only here (their hashes are stored).
pub(crate) struct SignedIn {
    pub member: MemberId,
    pub family: cartable_consent::FamilyId,
    pub role: cartable_consent::Role,
    pub token: String,
    pub csrf: String,
    pub expires_at: OffsetDateTime,
}

/// Checks a password under the sign-in limits (per member and per client address, counted before the check; a
/// bounded number of checks at once; failures answered no sooner than `failed_login_delay`) and opens a session.
/// The API's sign-in and the web UI's share it, and so share their limits.
pub(crate) async fn open_session(state: &ApiState, ip: Option<std::net::IpAddr>, claimant: Claimant, password: String) -> ApiResult<SignedIn> {
    let started = tokio::time::Instant::now();
    let vault = state.vault().clone();
    let now = OffsetDateTime::now_utc();
    let (member, subject) = match claimant {
        Claimant::Member(member) => (Some(member), format!("member:{member}")),
        Claimant::UnknownName(digest) => (None, format!("name:{digest}")),
    };
    // The address first: when it is locked, the member's allowance is not touched.
    let subjects: Vec<(String, LoginLimits)> = ip
        .map(|ip| (format!("ip:{ip}"), state.settings().address_login))
        .into_iter()
        .chain(std::iter::once((subject, state.settings().member_login)))
        .collect();
    // A bounded number of password checks run at once (argon2 takes memory and a core each): beyond them the
    // server answers at once, before touching the database.
    let Some(verifying) = state.try_start_verification() else {
        tracing::info!("sign-in refused: too many password checks in progress");
        return Err(ApiError::busy());
    };
    // Each attempt is counted before its password is checked, so a burst cannot run past the limit.
    for (subject, limits) in &subjects {
        if let Attempt::Locked(until) = vault.api().count_attempt(subject, now, *limits).await? {
            return Err(ApiError::rate_limited((until - now).whole_seconds().max(1) as u64));
        }
    }
    let stored = match member {
        Some(member) => vault.password_hash(member).await?.map(|(family, hash)| (member, family, hash)),
        None => None,
    };
    // The same work whether the member exists or not: the answer's timing says nothing.
    let hash = stored.as_ref().map(|(_, _, h)| h.clone()).unwrap_or_else(|| state.dummy_hash().to_owned());
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // The check is done: its slot is free for the next one (not held through the failure delay below).
    drop(verifying);
    let (member, family) = match (verified, stored) {
        (true, Some((member, family, _))) => (member, family),
        _ => {
            let mut locked = None;
            for (subject, limits) in &subjects {
                if let Some(until) = vault.api().login_failed(subject, now, *limits).await? {
                    locked = Some(until);
                }
            }
            match member {
                Some(member) => tracing::info!(member = %member, "sign-in failed"),
                None => tracing::info!("sign-in failed: unknown sign-in name"),
            }
            tokio::time::sleep_until(started + state.settings().failed_login_delay).await;
            if let Some(until) = locked {
                return Err(ApiError::rate_limited((until - now).whole_seconds().max(1) as u64));
            }
            return Err(ApiError::unauthorized("wrong member id or password"));
        }
    };
    for (subject, _) in &subjects {
        if subject.starts_with("ip:") {
            vault.api().attempt_returned(subject).await?;
        } else {
            vault.api().login_succeeded(subject).await?;
        }
    }
    let role = vault.api().member_role(family, member).await?.ok_or_else(|| ApiError::unauthorized("wrong member id or password"))?;
    let token = new_secret();
    let csrf = new_secret();
    let expires_at = now + state.settings().session_ttl;
    vault.api().create_session(&hash_token(&token), &hash_token(&csrf), member, family, expires_at).await?;
    tracing::info!(member = %member, family = %family, "signed in");
    Ok(SignedIn { member, family, role, token, csrf, expires_at })
}

/// The session cookie: HttpOnly, SameSite=Strict, for the whole site; `Secure` when the server is reached over https.
pub(crate) fn session_cookie(token: &str, ttl: std::time::Duration, secure: bool) -> ApiResult<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", ttl.as_secs())).map_err(|e| ApiError::internal(&e))
}

/// The header that clears the session cookie.
pub(crate) fn cleared_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The session of the request's cookie, required.
pub struct RequiredSession(pub super::extract::MemberSession);

impl FromRequestParts<ApiState> for RequiredSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        member_session(parts, state).await?.map(RequiredSession).ok_or_else(|| ApiError::unauthorized("not signed in"))
    }
}

/// Signs out: the session ends on the server and the cookie is cleared.
#[utoipa::path(
    delete, path = "/api/v1/session", tag = "session",
    security(("session" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, description = "not signed in", body = ErrorResponse),
        (status = 403, description = "missing or wrong CSRF token (`csrf`)", body = ErrorResponse),
    )
)]
pub async fn sign_out(State(state): State<ApiState>, RequiredSession(session): RequiredSession) -> ApiResult<impl IntoResponse> {
    state.vault().api().delete_session(&session.token_hash).await?;
    let member: MemberId = session.member;
    tracing::info!(member = %member, "signed out");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared_session_cookie())]))
}
