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
    let started = tokio::time::Instant::now();
    let member = member_id(login.member_id);
    let vault = state.vault().clone();
    let now = OffsetDateTime::now_utc();
    // The address first: when it is locked, the member's allowance is not touched.
    let subjects: Vec<(String, LoginLimits)> = ip
        .map(|ip| (format!("ip:{ip}"), state.settings().address_login))
        .into_iter()
        .chain(std::iter::once((format!("member:{member}"), state.settings().member_login)))
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
    let stored = vault.password_hash(member).await?;
    // The same work whether the member exists or not: the answer's timing says nothing.
    let hash = stored.as_ref().map(|(_, h)| h.clone()).unwrap_or_else(|| state.dummy_hash().to_owned());
    let password = login.password;
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // The check is done: its slot is free for the next one (not held through the failure delay below).
    drop(verifying);
    let family = match (verified, stored) {
        (true, Some((family, _))) => family,
        _ => {
            let mut locked = None;
            for (subject, limits) in &subjects {
                if let Some(until) = vault.api().login_failed(subject, now, *limits).await? {
                    locked = Some(until);
                }
            }
            tracing::info!(member = %member, "sign-in failed");
            tokio::time::sleep_until(started + state.settings().failed_login_delay).await;
            if let Some(until) = locked {
                return Err(ApiError::rate_limited((until - now).whole_seconds().max(1) as u64));
            }
            return Err(ApiError::unauthorized("wrong member id or password"));
        }
    };
    for (subject, _) in &subjects {
        if subject.starts_with("member:") {
            vault.api().login_succeeded(subject).await?;
        } else {
            vault.api().attempt_returned(subject).await?;
        }
    }
    let role = vault.api().member_role(family, member).await?.ok_or_else(|| ApiError::unauthorized("wrong member id or password"))?;
    let token = new_secret();
    let csrf = new_secret();
    let ttl = state.settings().session_ttl;
    let expires_at = now + ttl;
    vault.api().create_session(&hash_token(&token), &hash_token(&csrf), member, family, expires_at).await?;
    tracing::info!(member = %member, family = %family, "signed in");
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", ttl.as_secs());
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(&e))?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let info = SessionInfo { member_id: wire_member(member), family_id: wire_family(family), role: role.as_str().to_owned(), csrf_token: csrf, expires_at };
    Ok((headers, Json(info)))
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
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]))
}
