//! The client's errors: what a service needs to tell apart, with the server's stable codes behind them.

use std::time::Duration;

use crate::wire::ErrorCode;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The family revoked the grant (or the request, before it was approved): ask again.
    #[error("the grant was revoked: {message}")]
    Revoked { message: String },
    /// The grant reached its end: ask again.
    #[error("the grant has expired: {message}")]
    Expired { message: String },
    /// The family denied the request, or its rules deny this access (a prohibition, data outside the grant).
    #[error("denied: {message}")]
    Denied { code: ErrorCode, message: String },
    /// No such record or request, or not one this caller may know about.
    #[error("not found: {message}")]
    NotFound { message: String },
    /// The access token expired and was not refreshed (automatic refresh is off).
    #[error("the access token has expired: {message}")]
    TokenExpired { message: String },
    /// Missing or wrong credentials: a wrong service secret or password, an unknown (forged, truncated) token,
    /// a session that ended, a missing CSRF token.
    #[error("unauthorized ({code}): {message}")]
    Unauthorized { code: ErrorCode, message: String },
    /// Too many failed sign-ins.
    #[error("rate limited{}", retry_after.map(|d| format!("; retry in {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// Too many requests of this kind in progress on the server (sign-ins); retry shortly.
    #[error("the server is busy{}", retry_after.map(|d| format!("; retry in {} s", d.as_secs())).unwrap_or_default())]
    Busy { retry_after: Option<Duration> },
    /// The server refused what was sent: malformed or oversized body, unknown field, invalid value.
    #[error("invalid request ({code}): {message}")]
    InvalidRequest { code: ErrorCode, message: String },
    /// The state does not allow it (e.g. approving a request twice).
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// The server failed; its logs say why.
    #[error("server error {status} ({code}): {message}")]
    Server { status: u16, code: ErrorCode, message: String },
    /// Nobody decided in time (waiting for approval).
    #[error("timed out waiting for the family's decision")]
    Timeout,
    /// The server could not be reached, or the connection broke.
    #[error("transport error: {0}")]
    Transport(#[from] TransportError),
    /// Sealed mode: a sealed response that this instance cannot open (it is not in the grant's group, or was taken
    /// out), that answers another request, or an instance's state that cannot be read or saved.
    #[error("sealed delivery: {message}")]
    Sealed { message: String },
    /// The server answered something this SDK does not understand (or a download did not match its checksum).
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl SdkError {
    /// The server's error code, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            SdkError::Revoked { .. } => ErrorCode::GrantRevoked,
            SdkError::Expired { .. } => ErrorCode::GrantExpired,
            SdkError::Denied { code, .. } => *code,
            SdkError::NotFound { .. } => ErrorCode::NotFound,
            SdkError::TokenExpired { .. } => ErrorCode::TokenExpired,
            SdkError::Unauthorized { code, .. } => *code,
            SdkError::RateLimited { .. } => ErrorCode::RateLimited,
            SdkError::Busy { .. } => ErrorCode::Busy,
            SdkError::InvalidRequest { code, .. } => *code,
            SdkError::Conflict { .. } => ErrorCode::Conflict,
            SdkError::Server { code, .. } => *code,
            SdkError::Timeout | SdkError::Transport(_) | SdkError::Protocol(_) | SdkError::Sealed { .. } => return None,
        })
    }

    /// The error for an error response with this status and body.
    pub(crate) fn from_response(status: u16, code: ErrorCode, message: String, retry_after: Option<Duration>) -> SdkError {
        match code {
            ErrorCode::GrantRevoked => SdkError::Revoked { message },
            ErrorCode::GrantExpired => SdkError::Expired { message },
            ErrorCode::Denied | ErrorCode::ForbiddenDoctype => SdkError::Denied { code, message },
            ErrorCode::NotFound => SdkError::NotFound { message },
            ErrorCode::TokenExpired => SdkError::TokenExpired { message },
            ErrorCode::Unauthorized | ErrorCode::InvalidToken | ErrorCode::Csrf => SdkError::Unauthorized { code, message },
            ErrorCode::RateLimited => SdkError::RateLimited { retry_after },
            ErrorCode::Busy => SdkError::Busy { retry_after },
            ErrorCode::InvalidJson
            | ErrorCode::UnknownField
            | ErrorCode::InvalidRequest
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::MethodNotAllowed => SdkError::InvalidRequest { code, message },
            ErrorCode::Conflict => SdkError::Conflict { message },
            ErrorCode::Internal | ErrorCode::Unknown => SdkError::Server { status, code, message },
        }
    }
}

/// A failure below HTTP (connection refused, reset, timeout, invalid address), without the HTTP library's types.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    pub(crate) fn new(message: impl Into<String>, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TransportError { message: message.into(), source }
    }

    /// Whether the failure was a timeout.
    pub fn is_timeout(&self) -> bool {
        self.message.contains("timed out")
    }
}

impl From<reqwest::Error> for SdkError {
    fn from(e: reqwest::Error) -> Self {
        let message = if e.is_timeout() {
            "the request timed out".to_owned()
        } else if e.is_connect() {
            "cannot connect to the server".to_owned()
        } else if e.is_body() || e.is_decode() {
            "the response body could not be read".to_owned()
        } else if e.is_builder() {
            "the request could not be built (invalid address?)".to_owned()
        } else {
            "the connection failed".to_owned()
        };
        SdkError::Transport(TransportError::new(message, Some(Box::new(e))))
    }
}
