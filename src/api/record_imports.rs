//! Records imported from open formats over HTTP (xAPI statements, Open Badges), for a family member (session) or a
//! service whose grant lets it write the collections: the same run as `cartable import` (see `importers`), on a body
//! held in memory within [`MAX_IMPORT_BYTES`] (it is read twice, and never written to disk).

use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use cartable_consent::{Action, Doctype, Resource};
use cartable_sdk::{ErrorResponse, RecordsImported};
use futures::StreamExt as _;
use serde::Deserialize;

use super::data::decide;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller};
use super::{ApiState, family_id, member_id, wire_member};
use crate::importers::{self, Quiet, Report, Source};

/// The largest body an import takes: some 10,000 statements of a learning platform's export.
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Keep the valid items when some are refused (by default, one refused item stops the import).
    partial: Option<bool>,
}

/// Imports xAPI 1.0.3 / 2.0 statements (one, an array, or one a line) for a child: each valid statement becomes an
/// `edu.activity` record kept whole, and a completed, passed or failed one with a score an `edu.grades` record.
/// Every statement is checked first; with one refused, nothing is written (422) unless `partial=true`. Statements
/// already imported (same id) are skipped. Each collection written gets a `records_import` ledger entry with the
/// counts.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/children/{child}/imports/xapi", tag = "data",
    params(("family" = String, Path, description = "family id"), ("child" = String, Path, description = "the child's member id"), ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/json", description = "the statements: one, an array, or one JSON object a line"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "imported (see `imported`, `duplicates`, `rejected`)", body = RecordsImported),
        (status = 400, description = "not xAPI statements at all (malformed JSON, truncated); nothing written", body = ErrorResponse),
        (status = 403, description = "refused: the caller may not write these collections (a service outside its grant); logged", body = ErrorResponse),
        (status = 413, description = "larger than 32 MiB", body = ErrorResponse),
        (status = 422, description = "statements refused by the xAPI rules: nothing written, each one in `problems`", body = RecordsImported),
    )
)]
pub async fn import_xapi(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId)>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordsImported>)> {
    import(&state, &caller, (family_id(family), member_id(child)), query, &headers, body, Doctype::Activity, |open, child| {
        Arc::new(importers::xapi::Statements { open, child })
    })
    .await
}

/// Imports Open Badges 2.0 assertions, 3.0 credentials and CLR 2.0 learner records (a JSON document, a VC-JWT, or a
/// baked PNG or SVG) as the child's `edu.certificates`, each with what its signature check found (`verification`:
/// `verified` only when it was checked offline; `not_verified` with the reason, e.g. a key that needs the network;
/// `failed`). A credential that breaks a rule of its specification (an expired one too) is refused: nothing is
/// written (422) unless `partial=true` (a CLR's other credentials are kept). The same credential again is skipped.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/children/{child}/imports/badges", tag = "data",
    params(("family" = String, Path, description = "family id"), ("child" = String, Path, description = "the child's member id"), ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the credential: JSON, a compact JWS, or a baked PNG or SVG"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "imported (see `imported`, `duplicates`, `rejected`)", body = RecordsImported),
        (status = 400, description = "not an Open Badge at all; nothing written", body = ErrorResponse),
        (status = 403, description = "refused: the caller may not write the certificates; logged", body = ErrorResponse),
        (status = 413, description = "larger than 32 MiB", body = ErrorResponse),
        (status = 422, description = "refused by the specification's rules: nothing written, each credential in `problems`", body = RecordsImported),
    )
)]
pub async fn import_badges(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId)>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordsImported>)> {
    import(&state, &caller, (family_id(family), member_id(child)), query, &headers, body, Doctype::Certificates, |open, child| {
        Arc::new(importers::badges::Badges { open, child, now: time::OffsetDateTime::now_utc() })
    })
    .await
}

/// One import over HTTP: the first collection (`doctype`) decided before the body is read, so a caller who may not
/// write it is refused at once (and logged); then the body, whole, and the run.
#[allow(clippy::too_many_arguments)]
async fn import(
    state: &ApiState,
    caller: &Caller,
    (family, child): (cartable_consent::FamilyId, cartable_consent::MemberId),
    query: ImportQuery,
    headers: &HeaderMap,
    body: Body,
    doctype: Doctype,
    source: impl FnOnce(importers::xapi::Open, cartable_consent::MemberId) -> Arc<dyn Source>,
) -> ApiResult<(StatusCode, Json<RecordsImported>)> {
    let first = decide(state, caller, family, Action::Write, Resource::Collection { child, doctype }).await?;
    let bytes = read_body(headers, body).await?;
    let open: importers::xapi::Open = Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<dyn std::io::Read + Send>));
    let report = run(state, caller, family, source(open, child), query.partial.unwrap_or(false), (child, doctype, first)).await?;
    let status = if !report.written && report.rejected > 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    tracing::info!(family = %family, format = report.format, imported = report.imported, duplicates = report.duplicates, rejected = report.rejected, "records imported");
    Ok((status, Json(wire_report(report))))
}

/// Runs an import, each collection it writes decided for the caller (`first` is a decision already made, for one
/// collection).
async fn run(
    state: &ApiState,
    caller: &Caller,
    family: cartable_consent::FamilyId,
    source: Arc<dyn Source>,
    partial: bool,
    first: (cartable_consent::MemberId, Doctype, cartable_vault::Permit),
) -> ApiResult<Report> {
    let (first_child, first_doctype) = (first.0, first.1);
    let first = Mutex::new(Some(first.2));
    let refusal: Mutex<Option<ApiError>> = Mutex::new(None);
    let result = importers::run(state.vault(), source, partial, Arc::new(Quiet), |child, doctype| {
        let reuse = ((child, doctype) == (first_child, first_doctype)).then(|| first.lock().expect("permit lock").take()).flatten();
        let refusal = &refusal;
        async move {
            if let Some(permit) = reuse {
                return Ok(permit);
            }
            decide(state, caller, family, Action::Write, Resource::Collection { child, doctype }).await.map_err(|e| {
                *refusal.lock().expect("refusal lock") = Some(e);
                anyhow!("refused")
            })
        }
    })
    .await;
    match result {
        Ok(report) => Ok(report),
        Err(_) if refusal.lock().expect("refusal lock").is_some() => Err(refusal.lock().expect("refusal lock").take().expect("checked")),
        Err(e) => match e.downcast::<cartable_vault::Error>() {
            Ok(vault_error) => Err(vault_error.into()),
            // The input's own fault (not the format at all, malformed, truncated): said, nothing written.
            Err(e) => Err(ApiError::invalid(format!("{e}; nothing was imported"))),
        },
    }
}

/// The body, whole, within [`MAX_IMPORT_BYTES`] (a declared length over it is refused before a byte is read).
async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<bytes::Bytes> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IMPORT_BYTES) {
        return Err(ApiError::too_large(MAX_IMPORT_BYTES));
    }
    let mut stream = body.into_data_stream();
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid("the request body was cut short"))?;
        if out.len() as u64 + chunk.len() as u64 > MAX_IMPORT_BYTES {
            return Err(ApiError::too_large(MAX_IMPORT_BYTES));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn wire_report(report: Report) -> RecordsImported {
    RecordsImported {
        format: report.format.to_owned(),
        written: report.written,
        imported: report.imported,
        duplicates: report.duplicates,
        rejected: report.rejected,
        problems: report
            .problems
            .into_iter()
            .map(|p| cartable_sdk::ImportProblem { line: p.line, rule: p.rule, path: p.path, message: p.message })
            .collect(),
        collections: report
            .collections
            .into_iter()
            .map(|c| cartable_sdk::ImportedCollection { child_id: wire_member(c.child), doctype: c.doctype.as_str().to_owned(), imported: c.imported, duplicates: c.duplicates })
            .collect(),
    }
}
