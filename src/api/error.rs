//! Errors as the API says them: a status, a stable code and a message for people; never internal detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cartable_consent::lifecycle::LifecycleError;
use cartable_sdk::{ErrorBody, ErrorCode, ErrorResponse};

/// An error response: `{"error": {"code", "message"}}` with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, for `429`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn denied(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Denied, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn invalid_token() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, "the token is not valid here")
    }

    pub fn too_large(limit: u64) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, format!("the body is larger than {limit} bytes"))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError::too_many("too many failed sign-ins; try again later", retry_after)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: &str, retry_after: u64) -> Self {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, message);
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// Too much work of one kind in progress (password checks): the client retries shortly.
    pub fn busy() -> Self {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, "the server is busy; try again in a moment");
        e.retry_after = Some(1);
        e
    }

    /// Something failed inside: the detail goes to the log (it names no plaintext, key or path), never out.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "the server failed; the operator can find the cause in its log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let body = ErrorResponse { error: ErrorBody { code: self.code, message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = retry_after
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<cartable_vault::Error> for ApiError {
    fn from(e: cartable_vault::Error) -> Self {
        use cartable_vault::Error as E;
        match e {
            E::FamilyNotFound(_) | E::MemberNotFound(_) | E::RecordNotFound(_) | E::GrantNotFound(_) | E::ServiceNotFound(_) => {
                ApiError::not_found(e.to_string())
            }
            E::NotAChild(_) | E::InvalidInput(_) => ApiError::invalid(e.to_string()),
            E::InvitationInvalid => ApiError::not_found(e.to_string()),
            E::LoginTaken | E::IdentityTaken => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string()),
            E::Lifecycle(l) => lifecycle(l),
            E::Denied(_) | E::ServiceNotApproved(_) => ApiError::denied(e.to_string()),
            E::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::ForbiddenDoctype, e.to_string()),
            E::TooManyPending(_) => ApiError::too_many(&e.to_string(), 3600),
            E::Contended(_) => {
                tracing::info!(error = %e, "contention");
                ApiError::busy()
            }
            // Permit mismatches, keys, integrity, the ledger, the database, storage, and whatever a later vault adds:
            // logged, never sent.
            _ => ApiError::internal(&e),
        }
    }
}

fn lifecycle(e: LifecycleError) -> ApiError {
    use LifecycleError as L;
    let message = e.to_string();
    match e {
        L::NotInFamily { .. }
        | L::NotTheChild { .. }
        | L::GuardianOfAdult { .. }
        | L::OtherChild { .. }
        | L::UnderConsentAge { .. }
        | L::NotTheAdultChild { .. }
        | L::ProhibitionNeedsGuardian
        | L::ProhibitionNeedsTheAdult => ApiError::denied(message),
        L::AlreadyApproved(_) | L::WrongState { .. } | L::Expired(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message),
        L::MissingBirthDate(_) | L::MemberGranteeNeedsAdult | L::ExpiryOutOfRange(_) => ApiError::invalid(message),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let e: ApiError = cartable_vault::Error::Database("SELECT secret FROM somewhere".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("SELECT"));
        let e: ApiError = cartable_vault::Error::Io("/var/lib/cartable/blobs".into()).into();
        assert!(!e.message.contains("/var"));
    }

    #[test]
    fn vault_errors_map_to_their_codes() {
        let e: ApiError = cartable_vault::Error::RecordNotFound(cartable_consent::RecordId::new()).into();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, ErrorCode::NotFound));
        let e: ApiError = cartable_vault::Error::Forbidden(cartable_consent::Doctype::HealthPai).into();
        assert_eq!(e.code, ErrorCode::ForbiddenDoctype);
        let e: ApiError = cartable_vault::Error::InvalidInput("a name cannot be empty".into()).into();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest));
    }
}
