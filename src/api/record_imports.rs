//! Records imported from open formats over HTTP, for a family member (session) or a service whose grant lets it
//! write the collections: the same run as `cartable import` (see `importers`), on a body held in memory within
//! [`MAX_IMPORT_BYTES`] (it is read twice, and never written to disk).

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
    let (family, child) = (family_id(family), member_id(child));
    // Decided before the body is read: a caller who may not write the activities is refused at once (and logged).
    let first = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype: Doctype::Activity }).await?;
    let bytes = read_body(&headers, body).await?;
    let open: importers::xapi::Open = Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<dyn std::io::Read + Send>));
    let source: Arc<dyn Source> = Arc::new(importers::xapi::Statements { open, child });
    let report = run(&state, &caller, family, source, query.partial.unwrap_or(false), (child, Doctype::Activity, first)).await?;
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
