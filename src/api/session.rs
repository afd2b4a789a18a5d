//! Members sign in with a password (argon2id) and get a cookie session; failed attempts are slowed down and, past
//! a limit per member and per client address, locked out for a while.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use cartable_consent::{DpoId, MemberId};
use cartable_sdk::{DpoLogin, DpoSessionInfo, ErrorResponse, Login, SessionInfo};
use cartable_vault::{Attempt, LoginLimits};
use time::OffsetDateTime;

use super::error::{ApiError, ApiResult};
use super::extract::{ClientIp, DPO_SESSION_COOKIE, JsonBody, SESSION_COOKIE, member_session};
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
    let SignedAs::Member { member, family, role } = signed.who else { return Err(ApiError::internal(&"a member's sign-in opened another kind of session")) };
    let headers = session_headers(&state, SESSION_COOKIE, &signed.token)?;
    let info = SessionInfo {
        member_id: wire_member(member),
        family_id: wire_family(family),
        role: role.as_str().to_owned(),
        csrf_token: signed.csrf,
        expires_at: signed.expires_at,
    };
    Ok((headers, Json(info)))
}

/// Signs a DPO in: sets the `cartable_dpo_session` cookie (HttpOnly, SameSite=Strict) under the same limits as the
/// members' sign-ins, and returns the CSRF token.
#[utoipa::path(
    post, path = "/api/v1/dpo/session", tag = "dpo",
    request_body = DpoLogin,
    responses(
        (status = 200, description = "signed in; the session is in the `Set-Cookie` header", body = DpoSessionInfo),
        (status = 401, description = "wrong sign-in name or password", body = ErrorResponse),
        (status = 429, description = "too many failures: locked out for a while (`Retry-After`)", body = ErrorResponse),
        (status = 503, description = "too many sign-ins in progress; retry after `Retry-After` (`busy`)", body = ErrorResponse),
    )
)]
pub async fn dpo_sign_in(State(state): State<ApiState>, ClientIp(ip): ClientIp, JsonBody(login): JsonBody<DpoLogin>) -> ApiResult<impl IntoResponse> {
    let claimant = match state.vault().dpo_by_login(&login.login).await? {
        Some(dpo) => Claimant::Dpo(dpo),
        None => Claimant::UnknownName(hash_token(&login.login.trim().to_lowercase())),
    };
    let signed = open_session(&state, ip, claimant, login.password).await?;
    let SignedAs::Dpo(dpo) = signed.who else { return Err(ApiError::internal(&"a DPO's sign-in opened another kind of session")) };
    let about = state.vault().dpo(dpo).await?.ok_or_else(|| ApiError::unauthorized("wrong sign-in name or password"))?;
    let headers = session_headers(&state, DPO_SESSION_COOKIE, &signed.token)?;
    Ok((
        headers,
        Json(DpoSessionInfo {
            dpo_id: super::wire_dpo(dpo),
            name: about.name,
            service_id: about.service.map(super::wire_service),
            csrf_token: signed.csrf,
            expires_at: signed.expires_at,
        }),
    ))
}

/// Signs a DPO out: the session ends on the server and the cookie is cleared.
#[utoipa::path(
    delete, path = "/api/v1/dpo/session", tag = "dpo",
    security(("dpo_session" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, description = "not signed in", body = ErrorResponse),
        (status = 403, description = "missing or wrong CSRF token (`csrf`)", body = ErrorResponse),
    )
)]
pub async fn dpo_sign_out(State(state): State<ApiState>, session: super::extract::DpoSession) -> ApiResult<impl IntoResponse> {
    state.vault().api().delete_dpo_session(&session.token_hash).await?;
    tracing::info!(dpo = %session.dpo, "signed out");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared_cookie(DPO_SESSION_COOKIE))]))
}

/// Who claims to sign in: a member by id (the API) or by name, a DPO by name, or a sign-in name nobody has, counted
/// under its digest so that guessing names is limited too.
pub(crate) enum Claimant {
    Member(MemberId),
    Dpo(DpoId),
    UnknownName(String),
}

/// Who a session was opened for.
pub(crate) enum SignedAs {
    Member { member: MemberId, family: cartable_consent::FamilyId, role: cartable_consent::Role },
    Dpo(DpoId),
}

/// A session just opened: the cookie's token and the CSRF token, in clear only here (their hashes are stored).
pub(crate) struct SignedIn {
    pub who: SignedAs,
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
    let subject = match &claimant {
        Claimant::Member(member) => format!("member:{member}"),
        Claimant::Dpo(dpo) => format!("dpo:{dpo}"),
        Claimant::UnknownName(digest) => format!("name:{digest}"),
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
    let stored: Option<(SignedAs, String)> = match claimant {
        Claimant::Member(member) => match vault.password_hash(member).await? {
            Some((family, hash)) => match vault.api().member_role(family, member).await? {
                Some(role) => Some((SignedAs::Member { member, family, role }, hash)),
                None => None,
            },
            None => None,
        },
        Claimant::Dpo(dpo) => vault.dpo_password_hash(dpo).await?.map(|hash| (SignedAs::Dpo(dpo), hash)),
        Claimant::UnknownName(_) => None,
    };
    // The same work whether the account exists or not: the answer's timing says nothing.
    let hash = stored.as_ref().map(|(_, h)| h.clone()).unwrap_or_else(|| state.dummy_hash().to_owned());
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // The check is done: its slot is free for the next one (not held through the failure delay below).
    drop(verifying);
    let who = match (verified, stored) {
        (true, Some((who, _))) => who,
        (_, stored) => {
            let mut locked = None;
            for (subject, limits) in &subjects {
                if let Some(until) = vault.api().login_failed(subject, now, *limits).await? {
                    locked = Some(until);
                }
            }
            match stored.map(|(who, _)| who) {
                Some(SignedAs::Member { member, .. }) => tracing::info!(member = %member, "sign-in failed"),
                Some(SignedAs::Dpo(dpo)) => tracing::info!(dpo = %dpo, "sign-in failed"),
                None => tracing::info!("sign-in failed: unknown account"),
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
    // A family may have turned this member's password sign-in off (they sign in with their identity provider);
    // said only to whoever gave the right password.
    if let SignedAs::Member { member, .. } = &who
        && !vault.password_sign_in(*member).await?
    {
        tracing::info!(member = %member, "password sign-in refused: it is off for this member");
        return Err(ApiError::new(StatusCode::FORBIDDEN, cartable_sdk::ErrorCode::Denied, "password sign-in is off for this account: sign in with its identity provider"));
    }
    open_session_as(state, who).await
}

/// Opens a session for whoever was just recognized: by their password ([`open_session`]) or by their identity at
/// an OpenID provider (`web/oidc.rs`).
pub(crate) async fn open_session_as(state: &ApiState, who: SignedAs) -> ApiResult<SignedIn> {
    let vault = state.vault();
    let now = OffsetDateTime::now_utc();
    let token = new_secret();
    let csrf = new_secret();
    let expires_at = now + state.settings().session_ttl;
    match &who {
        SignedAs::Member { member, family, .. } => {
            vault.api().create_session(&hash_token(&token), &hash_token(&csrf), *member, *family, expires_at).await?;
            tracing::info!(member = %member, family = %family, "signed in");
        }
        SignedAs::Dpo(dpo) => {
            vault.api().create_dpo_session(&hash_token(&token), &hash_token(&csrf), *dpo, expires_at).await?;
            tracing::info!(dpo = %dpo, "DPO signed in");
        }
    }
    Ok(SignedIn { who, token, csrf, expires_at })
}

/// The headers of a sign-in's answer: the session cookie `name`, and no caching.
fn session_headers(state: &ApiState, name: &str, token: &str) -> ApiResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(name, token, state.settings().session_ttl, state.settings().secure_cookies)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(headers)
}

/// A session cookie (a member's or a DPO's): HttpOnly, SameSite=Strict, for the whole site; `Secure` when the server
/// is reached over https.
pub(crate) fn session_cookie(name: &str, token: &str, ttl: std::time::Duration, secure: bool) -> ApiResult<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", ttl.as_secs())).map_err(|e| ApiError::internal(&e))
}

/// The header that clears a cookie set by [`session_cookie`].
pub(crate) fn cleared_cookie(name: &str) -> String {
    format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
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
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared_cookie(SESSION_COOKIE))]))
}
