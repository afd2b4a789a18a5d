//! Records and files, for family members (session) and services (access token), and the gate every access
//! passes: Cedar decides at that moment, and the decision is in the ledger before any data goes out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use cartable_consent::{Action, FamilyId, GrantState, Principal, Reason, RecordId, Resource, TokenRule, TokenScope};
use cartable_sdk::{ErrorCode, ErrorResponse, RecordCreated, RecordPage, file_headers};
use cartable_vault::{GrantDecision, GrantOutline, NewRecord, Permit, RecordFilter, SealedRecord};
use futures::StreamExt as _;
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller, JsonBody};
use super::sealed::{respond, sealed_stream, sealer_for};
use super::{ApiState, TokenInfo, family_id, member_id, parse_doctype, record_id, wire_member, wire_record};

/// The most records one page holds.
const MAX_PAGE: u32 = 1000;

/// Decides one access for `caller`, logged in `family`'s ledger whatever the outcome.
///
/// A caller from outside the family (another family's member, a service whose token is for another family) is
/// answered as if the family did not exist: the refusal is counted for the operator
/// ([`cartable_vault::ApiStore::refuse_outsider`]), never written to this family's consent ledger.
/// A member is decided by Cedar alone. A service is first held to its token: an access outside its grant's child,
/// doctypes and actions is refused and logged as denied without asking Cedar. Inside them, Cedar decides, and an
/// allow counts only if it comes from the token's own grant (a token is bound to one grant). A service never
/// learns whether a record outside its grant exists.
pub(crate) async fn decide(state: &ApiState, caller: &Caller, family: FamilyId, action: Action, resource: Resource) -> ApiResult<Permit> {
    let vault = state.vault();
    let outsider = |principal: Principal, reason: &'static str| async move {
        if vault.family_exists(family).await? {
            vault.api().refuse_outsider(principal, family, reason).await?;
            tracing::info!(caller = %principal, family = %family, reason, "outsider refused");
        }
        Err::<Permit, ApiError>(not_found(family, resource))
    };
    match caller {
        Caller::Member(session) => {
            if session.family != family {
                return outsider(Principal::Member(session.member), "member.other-family").await;
            }
            let decision = vault.authorize(family, Principal::Member(session.member), action, resource).await?;
            decision.into_permit().map_err(|_| ApiError::denied(format!("the family's rules do not let this member {action} this")))
        }
        Caller::Dpo(session) => {
            // A DPO's remit is every family (the operator's) or the families of their service: the rules decide, and
            // the decision, either way, is in this family's ledger.
            let decision = vault.authorize(family, Principal::Dpo(session.dpo), action, resource).await?;
            decision.into_permit().map_err(|_| ApiError::denied(format!("a DPO may not {action} this: a DPO reads the consent register, never the data")))
        }
        Caller::Service(token) => {
            if family != token.family {
                return outsider(Principal::Service(token.service), "token.other-family").await;
            }
            let scope = TokenScope { grant: token.grant, child: token.child, doctypes: token.doctypes.clone(), actions: token.actions.clone() };
            match vault.api().authorize_under_grant(family, token.service, &scope, action, resource).await? {
                GrantDecision::Allowed(permit) => Ok(permit),
                GrantDecision::Denied { reasons } => {
                    if reasons.contains(&Reason::Token(TokenRule::OutsideGrant)) {
                        tracing::info!(service = %token.service, family = %family, "access outside the token's grant refused");
                        // A service never learns whether a record outside its grant exists.
                        return Err(match resource {
                            Resource::Record { id, .. } => cartable_vault::Error::RecordNotFound(id).into(),
                            _ => ApiError::denied("the access token's grant does not cover this"),
                        });
                    }
                    // Say why: the grant ended (revoked, expired), or a prohibition overrides it.
                    let grant = grant_of(state, token).await?;
                    if let Some(error) = grant_refusal(&grant, OffsetDateTime::now_utc()) {
                        return Err(error);
                    }
                    if reasons.iter().any(Reason::is_prohibition) {
                        return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::ForbiddenDoctype, "the family never shares this kind of data"));
                    }
                    Err(ApiError::denied("the family's rules deny this access"))
                }
            }
        }
    }
}

/// What an outsider is told: the same 404 as for a family or record that does not exist.
fn not_found(family: FamilyId, resource: Resource) -> ApiError {
    match resource {
        Resource::Record { id, .. } => cartable_vault::Error::RecordNotFound(id).into(),
        _ => cartable_vault::Error::FamilyNotFound(family).into(),
    }
}

async fn grant_of(state: &ApiState, token: &TokenInfo) -> ApiResult<GrantOutline> {
    state.vault().grant_outline(token.family, token.grant).await.map_err(|e| match e {
        cartable_vault::Error::GrantNotFound(_) | cartable_vault::Error::FamilyNotFound(_) => ApiError::invalid_token(),
        other => other.into(),
    })
}

/// Why a token's grant no longer lets anything through, if it does not.
fn grant_refusal(grant: &GrantOutline, now: OffsetDateTime) -> Option<ApiError> {
    match grant.state {
        GrantState::Active if grant.expires_at.is_some_and(|end| end > now) => None,
        GrantState::Active | GrantState::Expired => Some(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::GrantExpired, "this grant has expired")),
        GrantState::Revoked => Some(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::GrantRevoked, "the family revoked this grant")),
        GrantState::Requested | GrantState::Denied | GrantState::AwaitingConfirmation => Some(ApiError::denied("this grant is not in force")),
    }
}

/// A record of `family`, still encrypted, with what the rules need. A caller asking for another family's record is
/// refused as if it did not exist; the attempt is counted for the operator, not written to that family's ledger.
async fn load_record(state: &ApiState, caller: &Caller, family: FamilyId, id: RecordId) -> ApiResult<SealedRecord> {
    let vault = state.vault();
    match vault.api().load_record(family, id).await {
        Ok(sealed) => Ok(sealed),
        Err(cartable_vault::Error::RecordNotFound(_)) => {
            if let Some(owner) = vault.api().record_family(id).await?
                && owner != family
            {
                let principal = caller.principal();
                vault.api().refuse_outsider(principal, owner, "record.other-family").await?;
                tracing::info!(caller = %principal, family = %owner, "access to another family's record refused");
            }
            Err(cartable_vault::Error::RecordNotFound(id).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn source_of(caller: &Caller) -> String {
    caller.principal().to_string()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Continue after this record id (`next_after` of the previous page).
    after: Option<cartable_sdk::RecordId>,
    /// Records per page, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// One page of a child's collection: ids, kinds, sizes and dates, no contents; oldest first.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/children/{child}/collections/{doctype}/records", tag = "data",
    params(
        ("family" = String, Path, description = "family id"),
        ("child" = String, Path, description = "the child's member id"),
        ("doctype" = String, Path, description = "e.g. `edu.grades`"),
        PageQuery,
    ),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "a page of records (for a sealed service, an MLS message of it: `cartable_sdk::sealed`)", content((RecordPage = "application/json"), (Vec<u8> = "message/mls"))),
        (status = 401, description = "no, unknown or expired credentials (`unauthorized`, `invalid_token`, `token_expired`)", body = ErrorResponse),
        (status = 403, description = "refused (`denied`, `grant_revoked`, `grant_expired`, `forbidden_doctype`); logged", body = ErrorResponse),
    )
)]
pub async fn list_records(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child, doctype)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
    uri: Uri,
) -> ApiResult<Response> {
    let (family, child, doctype) = (family_id(family), member_id(child), parse_doctype(&doctype)?);
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(format!("`limit` is 1 to {MAX_PAGE}")));
    }
    let permit = decide(&state, &caller, family, Action::List, Resource::Collection { child, doctype }).await?;
    let filter = RecordFilter { child: Some(child), doctype: Some(doctype), after: query.after.map(record_id), limit: Some(limit) };
    let records = state.vault().list_records(&permit, &filter).await?;
    let next_after = (records.len() as u32 == limit).then(|| records.last().map(|r| wire_record(r.id))).flatten();
    let records = records
        .into_iter()
        .map(|r| cartable_sdk::RecordSummary {
            record_id: wire_record(r.id),
            doctype: r.doctype.as_str().to_owned(),
            child_id: wire_member(r.child),
            kind: r.kind,
            version: r.version,
            size: r.size.max(0) as u64,
            created_at: r.created_at,
        })
        .collect();
    let sealer = sealer_for(&state, &caller, &permit).await?;
    respond(sealer, &uri, &RecordPage { records, next_after }).await
}

/// Writes a new record (a JSON object, at most 1 MiB) into a child's collection.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/children/{child}/collections/{doctype}/records", tag = "data",
    params(
        ("family" = String, Path, description = "family id"),
        ("child" = String, Path, description = "the child's member id"),
        ("doctype" = String, Path, description = "e.g. `edu.grades`"),
    ),
    request_body(content = Object, description = "the record: any JSON object"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 201, description = "written", body = RecordCreated),
        (status = 400, description = "not a JSON object, or malformed", body = ErrorResponse),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 413, description = "larger than 1 MiB", body = ErrorResponse),
    )
)]
pub async fn write_record(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child, doctype)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId, String)>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<RecordCreated>)> {
    let (family, child, doctype) = (family_id(family), member_id(child), parse_doctype(&doctype)?);
    if !body.is_object() {
        return Err(ApiError::invalid("a record is a JSON object"));
    }
    let permit = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype }).await?;
    let id = state.vault().put_record(&permit, NewRecord { child, doctype, source: source_of(&caller), body }).await?;
    tracing::info!(family = %family, record = %id, "record written");
    Ok((StatusCode::CREATED, Json(RecordCreated { record_id: wire_record(id) })))
}

/// Reads one record with its body (a file's record holds its metadata; its bytes come from `/files/{record}`).
#[utoipa::path(
    get, path = "/api/v1/families/{family}/records/{record}", tag = "data",
    params(("family" = String, Path, description = "family id"), ("record" = String, Path, description = "record id")),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "the record (for a sealed service, an MLS message of it: `cartable_sdk::sealed`)", content((cartable_sdk::Record = "application/json"), (Vec<u8> = "message/mls"))),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 404, description = "no such record, or one outside the caller's grant (also logged)", body = ErrorResponse),
    )
)]
pub async fn read_record(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, record)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::RecordId)>,
    uri: Uri,
) -> ApiResult<Response> {
    let (family, record) = (family_id(family), record_id(record));
    let sealed = load_record(&state, &caller, family, record).await?;
    let permit = decide(&state, &caller, family, Action::Read, sealed.resource()).await?;
    let sealer = sealer_for(&state, &caller, &permit).await?;
    let doc = state.vault().api().open_record(&permit, sealed).await?;
    let record = cartable_sdk::Record {
        record_id: wire_record(doc.id),
        doctype: doc.doctype.as_str().to_owned(),
        child_id: wire_member(doc.child),
        source: doc.source,
        version: doc.version,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
        file: doc.file.map(|f| cartable_sdk::FileInfo { name: f.name, size: f.size, sha256: f.sha256 }),
        body: doc.body,
    };
    respond(sealer, &uri, &record).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// The file's name (stored encrypted).
    name: String,
}

/// Uploads a file into a child's collection. The body is the file itself, streamed into the vault and encrypted
/// on the way; it is never held whole in memory.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/children/{child}/collections/{doctype}/files", tag = "data",
    params(
        ("family" = String, Path, description = "family id"),
        ("child" = String, Path, description = "the child's member id"),
        ("doctype" = String, Path, description = "e.g. `edu.report-cards`"),
        FileQuery,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 201, description = "stored", body = RecordCreated),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 413, description = "larger than the server accepts", body = ErrorResponse),
    )
)]
pub async fn upload_file(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child, doctype)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId, String)>,
    ApiQuery(query): ApiQuery<FileQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordCreated>)> {
    let (family, child, doctype) = (family_id(family), member_id(child), parse_doctype(&doctype)?);
    let limit = state.settings().max_file_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let permit = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype }).await?;
    let too_large = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(false));
    let (too_large_flag, broken_flag) = (too_large.clone(), broken.clone());
    let mut seen = 0u64;
    let stream = body.into_data_stream().map(move |chunk| match chunk {
        Ok(bytes) => {
            seen += bytes.len() as u64;
            if seen > limit {
                too_large_flag.store(true, Ordering::SeqCst);
                Err(std::io::Error::other("the upload is too large"))
            } else {
                Ok(bytes)
            }
        }
        Err(_) => {
            broken_flag.store(true, Ordering::SeqCst);
            Err(std::io::Error::other("the upload was interrupted"))
        }
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let result = state.vault().put_file(&permit, child, doctype, source_of(&caller), query.name, Box::new(reader)).await;
    match result {
        Ok(id) => {
            tracing::info!(family = %family, record = %id, "file stored");
            Ok((StatusCode::CREATED, Json(RecordCreated { record_id: wire_record(id) })))
        }
        Err(_) if too_large.load(Ordering::SeqCst) => Err(ApiError::too_large(limit)),
        Err(_) if broken.load(Ordering::SeqCst) => Err(ApiError::invalid("the upload was interrupted")),
        Err(e) => Err(e.into()),
    }
}

/// Downloads a file: its bytes, streamed from the vault as they are decrypted; its name and SHA-256 in headers.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/files/{record}", tag = "data",
    params(("family" = String, Path, description = "family id"), ("record" = String, Path, description = "the file's record id")),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "the file; headers `x-cartable-file-name` (percent-encoded) and `x-cartable-sha256`; for a sealed service, a sealed stream whose head holds the name, size and SHA-256, and no such header (`cartable_sdk::sealed`)", content((Vec<u8> = "application/octet-stream"), (Vec<u8> = "application/vnd.cartable.sealed-stream"))),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 404, description = "no such file, or one outside the caller's grant (also logged)", body = ErrorResponse),
    )
)]
pub async fn download_file(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, record)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::RecordId)>,
    uri: Uri,
) -> ApiResult<Response> {
    let (family, record) = (family_id(family), record_id(record));
    let sealed = load_record(&state, &caller, family, record).await?;
    let permit = decide(&state, &caller, family, Action::Read, sealed.resource()).await?;
    let sealer = sealer_for(&state, &caller, &permit).await?;
    let (info, plain) = state.vault().open_file(&permit).await?;
    if let Some(sealer) = sealer {
        // The name travels inside the sealed head, never in a header.
        let head = serde_json::json!({ "name": info.name, "size": info.size, "sha256": info.sha256 });
        return sealed_stream(sealer, &uri, &head, stream_file(plain, record)).await;
    }
    let mut response = stream_file(plain, record).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let encoded = percent_encode(&info.name);
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        headers.insert(file_headers::NAME, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&info.sha256) {
        headers.insert(file_headers::SHA256, v);
    }
    Ok(response)
}

/// A file's plaintext, read by the vault on a blocking thread, as a streamed body (the API's downloads and the pages').
/// A failure (a blob altered on disk) ends the stream short of its length: the client sees a broken body.
pub(crate) fn stream_file(mut plain: Box<dyn std::io::Read + Send>, record: RecordId) -> Body {
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    // Made here, where the runtime is known; used on a blocking thread.
    let mut bridge = tokio_util::io::SyncIoBridge::new(writer);
    tokio::task::spawn_blocking(move || {
        if std::io::copy(&mut plain, &mut bridge).is_err() {
            tracing::error!(record = %record, "a stored file could not be read to its end");
        }
        let _ = bridge.shutdown();
    });
    Body::from_stream(tokio_util::io::ReaderStream::new(reader))
}

/// A file name for `filename*=UTF-8''…` (RFC 5987): every byte but the unreserved ones percent-encoded.
pub(crate) fn percent_encode(s: &str) -> String {
    const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(s, RFC5987).to_string()
}
