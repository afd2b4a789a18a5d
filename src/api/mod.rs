//! The HTTP API under `/api/v1`: services ask families for access (GNAP-shaped), families decide and review, and
//! both read and write data, every access decided by Cedar and written to the family's ledger.
//!
//! - `services.rs`: registration, access requests, continuation (long poll) and access tokens.
//! - `session.rs`: members' sign-in (argon2id, limited), cookie sessions with a CSRF token.
//! - `family.rs`: the family, members, collections, requests and grants, prohibitions, the ledger and its proofs.
//! - `data.rs`: records and files, for members and for services under a grant; the gate every access passes.
//! - `exports.rs`: the family's archive, streamed, as the caller may see it.
//! - `imports.rs`: a family brought here from its archive, through an operator's one-time invitation.
//! - `record_imports.rs`: records imported from open formats (xAPI, Open Badges, OneRoster) and files, for members and for services within their grant.
//! - `sealed.rs`: sealed delivery: instances' KeyPackages, a grant's mailbox, and data responses sealed to its MLS group.
//! - `error.rs`, `extract.rs`: the error envelope and the extractors that produce it; `document.rs`, the statuses they
//!   and the gate answer before a handler runs, added to every operation of the document.
//!
//! The wire types are `cartable_sdk`'s; the OpenAPI document is generated from the handlers and those types
//! (`utoipa`), and the router is built from the same list, so the document cannot drift from the routes.

pub(crate) mod data;
mod document;
mod error;
pub(crate) mod exports;
pub(crate) mod extract;
pub(crate) mod family;
pub(crate) mod imports;
pub(crate) mod record_imports;
pub(crate) mod register;
pub(crate) mod sealed;
pub(crate) mod search;
mod services;
pub(crate) mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cartable_consent::{Action, Doctype, FamilyId, GrantId, LegalBasis, MemberId, RecordId, Role, ServiceId};
use cartable_sdk::ErrorCode;
use cartable_vault::{LoginLimits, Vault};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

/// The largest JSON body accepted.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// What the operator may tune; passed explicitly.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// How long an access token lives (never past its grant's end).
    pub token_ttl: Duration,
    /// How long a member's session lives.
    pub session_ttl: Duration,
    /// The largest file accepted by an upload.
    pub max_file_bytes: u64,
    /// The longest a continuation long poll waits.
    pub max_long_poll: Duration,
    /// How often a long poll looks again at its request besides being woken by a decision.
    pub long_poll_recheck: Duration,
    /// Failed sign-ins per member before a lock-out.
    pub member_login: LoginLimits,
    /// Failed sign-ins per client address before a lock-out (higher: a school or a family shares one address).
    pub address_login: LoginLimits,
    /// The least time a failed sign-in takes to answer.
    pub failed_login_delay: Duration,
    /// How many password checks (argon2id, about 19 MiB and a core each) may run at once; sign-ins beyond them are
    /// answered `busy` at once.
    pub max_concurrent_sign_ins: usize,
    /// Who may register a service over the API.
    pub registration: Registration,
    /// Service registrations per client address and hour.
    pub registrations_per_hour: u32,
    /// Session cookies carry `Secure` (the configured public address is https).
    pub secure_cookies: bool,
    /// The configured public address (`public_url`, without a trailing slash) that links handed out on the pages
    /// start with (invitations); `None` when none is configured, and links take the request's `Host`.
    pub public_url: Option<String>,
    /// Where an archive sent to be imported waits, sealed to a key held in memory (the data folder's `imports/`);
    /// `None`: imports over HTTP are refused.
    pub uploads_dir: Option<std::path::PathBuf>,
    /// The largest archive an import over HTTP takes.
    pub max_archive_bytes: u64,
    /// The OpenID providers members may sign in with (their callbacks start with `public_url`).
    pub oidc: Vec<crate::oidc::ProviderConfig>,
    /// An SMTP server is configured: notifications also go by e-mail.
    pub email_configured: bool,
}

/// Who may register a service over the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone, a few per client address and hour; the service can ask families at once.
    Open,
    /// Anyone may register, but the service asks for nothing until the operator approves it.
    OperatorApproved,
}

impl ApiSettings {
    pub fn standard() -> Self {
        let lock = |max_failures| LoginLimits { max_failures, window: time::Duration::minutes(15), lock: time::Duration::minutes(15) };
        ApiSettings {
            token_ttl: Duration::from_secs(3600),
            session_ttl: Duration::from_secs(8 * 3600),
            max_file_bytes: 256 * 1024 * 1024,
            max_long_poll: Duration::from_secs(30),
            long_poll_recheck: Duration::from_millis(500),
            member_login: lock(5),
            address_login: lock(50),
            failed_login_delay: Duration::from_millis(400),
            max_concurrent_sign_ins: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            registration: Registration::Open,
            registrations_per_hour: 10,
            secure_cookies: false,
            public_url: None,
            uploads_dir: None,
            max_archive_bytes: 64 << 30,
            oidc: Vec::new(),
            email_configured: false,
        }
    }
}

/// An access token as the gate needs it: the token's row (read at every call) and its grant's scope.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub service: ServiceId,
    pub family: FamilyId,
    pub grant: GrantId,
    pub child: MemberId,
    pub doctypes: Vec<Doctype>,
    pub actions: Vec<Action>,
    pub expires_at: OffsetDateTime,
    /// The service is sealed: every data response to this token is an MLS message of the grant's group.
    pub sealed: bool,
}

/// The handlers' shared state. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<StateInner>,
}

struct StateInner {
    vault: Vault,
    settings: ApiSettings,
    /// Grants' scopes (child, doctypes, actions), which never change: saves a query per call. Tokens are not
    /// cached: whether a token still exists is read at every call, so a token deleted by any process (a newer
    /// continuation, an erasure) is refused at once. Bounded; emptied when full.
    scopes: Mutex<HashMap<GrantId, Arc<GrantScope>>>,
    /// Grants whose state changed: by this process (announced at once) or, on PostgreSQL, by any server (heard
    /// through the vault's LISTEN); wakes long polls, which also look again every `long_poll_recheck`.
    changes: broadcast::Sender<GrantId>,
    /// An argon2 hash to verify against when the member is unknown, so that the answer takes as long.
    dummy_hash: String,
    /// Permits for password checks in progress (`ApiSettings::max_concurrent_sign_ins`).
    verifications: Arc<tokio::sync::Semaphore>,
    /// The OpenID providers, with their discovery documents once fetched.
    oidc: crate::oidc::Providers,
}

const SCOPE_CACHE: usize = 100_000;

/// What a grant covers; fixed when the grant is requested.
#[derive(Debug)]
struct GrantScope {
    child: MemberId,
    doctypes: Vec<Doctype>,
    actions: Vec<Action>,
}

impl ApiState {
    pub fn new(vault: Vault, settings: ApiSettings) -> Self {
        let (changes, _) = broadcast::channel(1024);
        // Other servers' changes, heard by the vault, go to the same long polls.
        let mut heard = vault.grant_changes();
        let forward = changes.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(grant) => {
                        let _ = forward.send(grant);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let dummy_hash = crate::auth::hash_password("not a password anyone has: only spent time").expect("argon2 hashes a constant");
        let verifications = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_sign_ins.max(1)));
        // The configuration checked the providers already: what fails here is the HTTP client alone.
        let oidc = crate::oidc::Providers::new(&settings.oidc, settings.public_url.as_deref().unwrap_or_default()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "sign-in through identity providers is off");
            crate::oidc::Providers::none()
        });
        ApiState { inner: Arc::new(StateInner { vault, settings, scopes: Mutex::new(HashMap::new()), changes, dummy_hash, verifications, oidc }) }
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    pub(crate) fn oidc(&self) -> &crate::oidc::Providers {
        &self.inner.oidc
    }

    pub(crate) fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }

    /// A permit to check one password, if fewer than `max_concurrent_sign_ins` checks are in progress.
    pub(crate) fn try_start_verification(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.verifications.clone().try_acquire_owned().ok()
    }

    pub(crate) fn grant_changed(&self, grant: GrantId) {
        let _ = self.inner.changes.send(grant);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<GrantId> {
        self.inner.changes.subscribe()
    }

    /// The access token with this value: unknown is `invalid_token`, expired is `token_expired`.
    pub(crate) async fn access_token(&self, value: &str) -> ApiResult<Arc<TokenInfo>> {
        if value.is_empty() || value.len() > 256 {
            return Err(ApiError::invalid_token());
        }
        let hash = crate::auth::hash_token(value);
        let Some(record) = self.vault().api().token(&hash).await? else { return Err(ApiError::invalid_token()) };
        let cached = self.inner.scopes.lock().expect("scope cache lock").get(&record.grant).cloned();
        let scope = match cached {
            Some(scope) => scope,
            None => {
                let grant = self.vault().grant_outline(record.family, record.grant).await.map_err(|e| match e {
                    cartable_vault::Error::GrantNotFound(_) | cartable_vault::Error::FamilyNotFound(_) => ApiError::invalid_token(),
                    other => other.into(),
                })?;
                let scope = Arc::new(GrantScope { child: grant.child, doctypes: grant.doctypes, actions: grant.actions });
                let mut cache = self.inner.scopes.lock().expect("scope cache lock");
                if cache.len() >= SCOPE_CACHE {
                    cache.clear();
                }
                cache.insert(record.grant, scope.clone());
                scope
            }
        };
        let info = Arc::new(TokenInfo {
            service: record.service,
            family: record.family,
            grant: record.grant,
            child: scope.child,
            doctypes: scope.doctypes.clone(),
            actions: scope.actions.clone(),
            expires_at: record.expires_at,
            sealed: record.sealed,
        });
        if info.expires_at <= OffsetDateTime::now_utc() {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::TokenExpired, "the access token has expired; continue the request for a fresh one"));
        }
        Ok(info)
    }
}

// --- conversions between wire ids and domain ids ----------------------------------------------------------------

pub(crate) fn family_id(id: cartable_sdk::FamilyId) -> FamilyId {
    FamilyId::from_uuid(id.0)
}
pub(crate) fn member_id(id: cartable_sdk::MemberId) -> MemberId {
    MemberId::from_uuid(id.0)
}
pub(crate) fn grant_id(id: cartable_sdk::GrantId) -> GrantId {
    GrantId::from_uuid(id.0)
}
pub(crate) fn record_id(id: cartable_sdk::RecordId) -> RecordId {
    RecordId::from_uuid(id.0)
}
pub(crate) fn wire_family(id: FamilyId) -> cartable_sdk::FamilyId {
    cartable_sdk::FamilyId(id.as_uuid())
}
pub(crate) fn wire_member(id: MemberId) -> cartable_sdk::MemberId {
    cartable_sdk::MemberId(id.as_uuid())
}
pub(crate) fn wire_service(id: ServiceId) -> cartable_sdk::ServiceId {
    cartable_sdk::ServiceId(id.as_uuid())
}
pub(crate) fn wire_grant(id: GrantId) -> cartable_sdk::GrantId {
    cartable_sdk::GrantId(id.as_uuid())
}
pub(crate) fn wire_record(id: RecordId) -> cartable_sdk::RecordId {
    cartable_sdk::RecordId(id.as_uuid())
}
pub(crate) fn wire_dpo(id: cartable_consent::DpoId) -> cartable_sdk::DpoId {
    cartable_sdk::DpoId(id.as_uuid())
}
pub(crate) fn service_id(id: cartable_sdk::ServiceId) -> ServiceId {
    ServiceId::from_uuid(id.0)
}

pub(crate) fn parse_doctype(s: &str) -> ApiResult<Doctype> {
    s.parse().map_err(|e: cartable_consent::UnknownDoctype| ApiError::invalid(e.to_string()))
}
pub(crate) fn parse_action(s: &str) -> ApiResult<Action> {
    s.parse().map_err(|e: cartable_consent::UnknownAction| ApiError::invalid(e.to_string()))
}
pub(crate) fn parse_legal_basis(s: &str) -> ApiResult<LegalBasis> {
    s.parse().map_err(|e: cartable_consent::UnknownLegalBasis| ApiError::invalid(e.to_string()))
}
pub(crate) fn parse_role(s: &str) -> ApiResult<Role> {
    s.parse().map_err(|e: cartable_consent::UnknownRole| ApiError::invalid(e.to_string()))
}

// --- the router and its document --------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cartable API",
        version = "1",
        description = "A family's school data, shared service by service with consent. Every access is decided by the family's rules at that moment and written to its consent ledger. Errors are `{\"error\": {\"code\", \"message\"}}` with stable codes."
    ),
    modifiers(&Security),
    tags(
        (name = "services", description = "Registration, access requests (GNAP-shaped), continuation and access tokens"),
        (name = "session", description = "Family members sign in"),
        (name = "family", description = "The family, its members, requests, grants and prohibitions"),
        (name = "data", description = "Records and files, for members and for services under a grant"),
        (name = "sealed", description = "Sealed delivery: a service's instances publish MLS KeyPackages and fetch their grant's mailbox; a sealed service's data responses are MLS messages of its grant's group (`message/mls`, or `application/vnd.cartable.sealed-stream` for files and archives: frames of a 4-byte length and an MLS message, head, chunks, end)"),
        (name = "ledger", description = "The family's consent ledger, checkpoints and proofs"),
        (name = "archive", description = "A family's archive: downloaded as the caller may see it, imported with the operator's invitation"),
        (name = "dpo", description = "The DPO's console: the consent register across families, receipts with proofs, verification, exports, the record of processing"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("service_basic", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).description(Some("service id and secret")).build()));
        components.add_security_scheme("access_token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("an access token from a continuation, bound to one grant")).build()));
        components.add_security_scheme(
            "continuation",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description("Authorization", "`GNAP <continuation handle>`"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(extract::SESSION_COOKIE, "a member's session; state-changing requests also send `X-CSRF-Token`"))),
        );
        components.add_security_scheme(
            "dpo_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(extract::DPO_SESSION_COOKIE, "a DPO's session; state-changing requests also send `X-CSRF-Token`"))),
        );
    }
}

/// The routes and the OpenAPI document they make, from one list.
fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(services::register))
        .routes(routes!(services::create_request))
        .routes(routes!(services::continue_request))
        .routes(routes!(services::ledger_key))
        .routes(routes!(imports::import_archive))
        .routes(routes!(session::sign_in, session::sign_out))
        .routes(routes!(family::family))
        .routes(routes!(family::add_member))
        .routes(routes!(family::collections))
        .routes(routes!(data::list_records, data::write_record))
        .routes(routes!(data::read_record))
        .routes(routes!(data::upload_file))
        .routes(routes!(data::download_file))
        .routes(routes!(record_imports::import_xapi))
        .routes(routes!(record_imports::import_badges))
        .routes(routes!(record_imports::import_oneroster))
        .routes(routes!(record_imports::import_files))
        .routes(routes!(search::search))
        .routes(routes!(sealed::publish_key_packages))
        .routes(routes!(sealed::retire_instance))
        .routes(routes!(sealed::mailbox))
        .routes(routes!(family::grants))
        .routes(routes!(family::approve))
        .routes(routes!(family::deny))
        .routes(routes!(family::confirm))
        .routes(routes!(family::revoke))
        .routes(routes!(family::prohibitions, family::forbid))
        .routes(routes!(family::lift))
        .routes(routes!(family::ledger_entries))
        .routes(routes!(family::inclusion_proof))
        .routes(routes!(family::access_report))
        .routes(routes!(family::checkpoint))
        .routes(routes!(exports::export_archive))
        .routes(routes!(family::consistency_proof))
        .routes(routes!(session::dpo_sign_in, session::dpo_sign_out))
        .routes(routes!(register::register))
        .routes(routes!(register::export_register))
        .routes(routes!(register::logs))
        .routes(routes!(register::verify))
        .routes(routes!(register::processing_record))
        .routes(routes!(register::receipt))
}

/// A link on this server: from the configured public address, else from the address the caller is using (a `Host`
/// of plain host characters only), else the bare path.
pub(crate) fn public_link(settings: &ApiSettings, headers: &axum::http::HeaderMap, path: &str) -> String {
    if let Some(base) = &settings.public_url {
        return format!("{base}{path}");
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)));
    let scheme = if settings.secure_cookies { "https" } else { "http" };
    match host {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.to_owned(),
    }
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = api().into_openapi();
    document::complete_responses(&mut document);
    document
}

/// The API's routes on a vault, with their own fallbacks (a JSON 404 for any other path).
pub fn router(vault: Vault, settings: ApiSettings) -> Router {
    routes(ApiState::new(vault, settings)).fallback(|| async { not_found() }).method_not_allowed_fallback(|| async { method_not_allowed() })
}

/// The API's routes on a shared state, without a fallback (the server composes them with the web UI's).
pub fn routes(state: ApiState) -> Router {
    let (routes, mut document) = api().split_for_parts();
    document::complete_responses(&mut document);
    let document = Arc::new(document.to_json().expect("the OpenAPI document serializes"));
    routes
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*document).clone()) }
            }),
        )
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            tracing::error!("a request handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "the server failed; the operator can find the cause in its log").into_response()
        }))
        .with_state(state)
}

/// The API's answer for a path it does not serve.
pub fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The API's answer for a method a path does not take.
pub fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "this endpoint does not take this method")
}

/// Liveness: answers without touching the vault.
#[utoipa::path(get, path = "/healthz", tag = "services", responses((status = 200, description = "the server is up", body = String)))]
async fn health() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_every_endpoint_and_the_error_envelope() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/api/v1/services",
            "/api/v1/access-requests",
            "/api/v1/access-requests/{request}/continue",
            "/api/v1/session",
            "/api/v1/families/{family}/children/{child}/collections/{doctype}/records",
            "/api/v1/families/{family}/records/{record}",
            "/api/v1/families/{family}/files/{record}",
            "/api/v1/families/{family}/grants/{grant}",
            "/api/v1/families/{family}/ledger/entries/{index}/proof",
        ] {
            assert!(paths.contains_key(path), "{path} is missing from the document");
        }
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for schema in ["ErrorResponse", "ErrorCode", "NewAccessRequest", "ContinueResponse", "Record", "RecordPage"] {
            assert!(schemas.contains_key(schema), "schema {schema} is missing");
        }
    }
}
