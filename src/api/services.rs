//! Services: registration, access requests, continuation with long polling, and access tokens.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use cartable_consent::{GrantId, GrantState};
use cartable_sdk::{
    AccessRequestCreated, AccessToken, Continuation, ContinuationToken, ContinueResponse, ErrorResponse, LedgerKey,
    NewAccessRequest, RegisterService, RequestStatus, ServiceCredentials,
};
use cartable_vault::{Attempt, ContinuationRecord, GrantOutline, LoginLimits, NewRequest, TokenRecord};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, ClientIp, ContinueHandle, JsonBody, ServiceAuth};
use super::{ApiState, Registration, family_id, grant_id, member_id, parse_action, parse_doctype, parse_legal_basis, wire_grant, wire_service};
use crate::auth::{hash_token, new_secret};

/// How often a long poll looks at the database, for decisions taken by another process (the CLI).

/// Registers a service. The secret is shown once; only its hash is kept.
#[utoipa::path(
    post, path = "/api/v1/services", tag = "services",
    request_body = RegisterService,
    responses(
        (status = 201, description = "registered; keep the secret, it is shown once", body = ServiceCredentials),
        (status = 400, description = "malformed body, invalid name or description", body = ErrorResponse),
        (status = 429, description = "too many registrations from this address; retry after `Retry-After`", body = ErrorResponse),
    )
)]
pub async fn register(
    axum::extract::State(state): axum::extract::State<ApiState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<RegisterService>,
) -> ApiResult<(StatusCode, Json<ServiceCredentials>)> {
    // A few registrations per client address and hour: each one is a row kept for good.
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let limits = LoginLimits { max_failures: state.settings().registrations_per_hour, window: hour, lock: hour };
    let subject = format!("register:{}", ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()));
    if let Attempt::Locked(until) = state.vault().api().count_attempt(&subject, now, limits).await? {
        return Err(ApiError::too_many("too many service registrations from this address; try again later", (until - now).whole_seconds().max(1) as u64));
    }
    let secret = new_secret();
    let approved = state.settings().registration == Registration::Open;
    let id = state.vault().register_service(&body.name, body.description.as_deref(), &hash_token(&secret), approved).await?;
    tracing::info!(service = %id, approved, "service registered");
    Ok((StatusCode::CREATED, Json(ServiceCredentials { service_id: wire_service(id), secret })))
}

/// A service asks a family for access to one child's collections; the family decides in Cartable.
#[utoipa::path(
    post, path = "/api/v1/access-requests", tag = "services",
    request_body = NewAccessRequest,
    security(("service_basic" = [])),
    responses(
        (status = 201, description = "pending; continue with the handle", body = AccessRequestCreated),
        (status = 400, description = "malformed body, unknown doctype or action, invalid duration", body = ErrorResponse),
        (status = 401, description = "wrong service credentials", body = ErrorResponse),
        (status = 403, description = "the family never shares one of the doctypes (`forbidden_doctype`), or the service awaits the operator's approval (`denied`)", body = ErrorResponse),
        (status = 404, description = "no such family or child", body = ErrorResponse),
        (status = 429, description = "the service already has 10 requests waiting for this family's answer (`rate_limited`)", body = ErrorResponse),
    )
)]
pub async fn create_request(
    axum::extract::State(state): axum::extract::State<ApiState>,
    ServiceAuth(service): ServiceAuth,
    JsonBody(body): JsonBody<NewAccessRequest>,
) -> ApiResult<(StatusCode, Json<AccessRequestCreated>)> {
    let doctypes = body.doctypes.iter().map(|d| parse_doctype(d)).collect::<ApiResult<Vec<_>>>()?;
    let actions = body.actions.iter().map(|a| parse_action(a)).collect::<ApiResult<Vec<_>>>()?;
    let family = family_id(body.family_id);
    let request = NewRequest {
        service,
        family,
        child: member_id(body.child_id),
        doctypes,
        actions,
        purpose: body.purpose,
        legal_basis: parse_legal_basis(&body.legal_basis)?,
        duration_days: body.duration_days,
    };
    let grant = state.vault().create_request(request).await?;
    let handle = new_secret();
    state.vault().api().create_continuation(&hash_token(&handle), ContinuationRecord { grant, service, family }).await?;
    tracing::info!(service = %service, family = %family, request = %grant, "access requested");
    Ok((
        StatusCode::CREATED,
        Json(AccessRequestCreated {
            request_id: wire_grant(grant),
            status: RequestStatus::Pending,
            continuation: Continuation {
                uri: continue_uri(grant),
                access_token: ContinuationToken { value: handle },
                wait: state.settings().max_long_poll.as_secs() as u32,
            },
        }),
    ))
}

fn continue_uri(grant: GrantId) -> String {
    format!("/api/v1/access-requests/{grant}/continue")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait for a decision while the request is pending (long poll); at most the server's limit (30).
    wait: Option<u64>,
}

/// Continues an access request: its status, and a fresh access token while the grant is in force (so it also
/// refreshes tokens). With `wait`, a pending request is held open until the family decides or the time passes.
#[utoipa::path(
    post, path = "/api/v1/access-requests/{request}/continue", tag = "services",
    params(("request" = String, Path, description = "the request id"), WaitQuery),
    security(("continuation" = [])),
    responses(
        (status = 200, description = "the request's status; `access_token` when approved", body = ContinueResponse),
        (status = 401, description = "no or unknown continuation handle (`invalid_token`)", body = ErrorResponse),
    )
)]
pub async fn continue_request(
    axum::extract::State(state): axum::extract::State<ApiState>,
    ApiPath(request): ApiPath<cartable_sdk::GrantId>,
    ContinueHandle(handle): ContinueHandle,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> ApiResult<Json<ContinueResponse>> {
    let request = grant_id(request);
    let Some(continuation) = state.vault().api().continuation(&hash_token(&handle)).await? else {
        return Err(ApiError::invalid_token());
    };
    if continuation.grant != request {
        return Err(ApiError::invalid_token());
    }
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(state.settings().max_long_poll);
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribe before looking, so that a decision between the look and the wait is not missed.
    let mut changes = state.subscribe();
    let (grant, status) = loop {
        let grant = state.vault().grant_outline(continuation.family, request).await?;
        let status = status_of(&grant, OffsetDateTime::now_utc());
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if status != RequestStatus::Pending || left.is_zero() {
            break (grant, status);
        }
        tokio::select! {
            _ = wait_for_change(&mut changes, request) => {}
            _ = tokio::time::sleep(left.min(state.settings().long_poll_recheck)) => {}
        }
    };
    let mut response = ContinueResponse { request_id: wire_grant(request), status, access_token: None, grant_expires_at: None };
    if status == RequestStatus::Approved {
        let now = OffsetDateTime::now_utc();
        let grant_end = grant.expires_at.unwrap_or(now);
        let expires_at = (now + state.settings().token_ttl).min(grant_end);
        let value = new_secret();
        state
            .vault()
            .api()
            .issue_token(&hash_token(&value), TokenRecord { grant: request, service: continuation.service, family: continuation.family, expires_at, sealed: false })
            .await?;
        let expires_in = (expires_at - now).whole_seconds().max(0) as u64;
        response.access_token = Some(AccessToken { value, expires_in });
        response.grant_expires_at = grant.expires_at;
        tracing::info!(service = %continuation.service, request = %request, "access token issued");
    }
    Ok(Json(response))
}

/// Waits until `grant` is announced as changed (or announcements were missed, which may include it).
async fn wait_for_change(changes: &mut tokio::sync::broadcast::Receiver<GrantId>, grant: GrantId) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(changed) if changed == grant => return,
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return,
            // Never closed while the state lives; fall back to the timer.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// A grant's state as its service sees it.
pub fn status_of(grant: &GrantOutline, now: OffsetDateTime) -> RequestStatus {
    match grant.state {
        GrantState::Requested | GrantState::AwaitingConfirmation => RequestStatus::Pending,
        GrantState::Active => match grant.expires_at {
            Some(end) if end > now => RequestStatus::Approved,
            _ => RequestStatus::Expired,
        },
        GrantState::Denied => RequestStatus::Denied,
        GrantState::Revoked => RequestStatus::Revoked,
        GrantState::Expired => RequestStatus::Expired,
    }
}

/// The key that verifies this server's ledger checkpoints, for offline checks.
#[utoipa::path(get, path = "/api/v1/ledger/key", tag = "ledger", responses((status = 200, description = "the verifier key (C2SP note key)", body = LedgerKey)))]
pub async fn ledger_key(axum::extract::State(state): axum::extract::State<ApiState>) -> Json<LedgerKey> {
    Json(LedgerKey { verifier_key: state.vault().ledger_verifier_key() })
}
