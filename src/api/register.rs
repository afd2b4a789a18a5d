//! The DPO's console over HTTP: the register across the families of the DPO's remit, receipts with their proofs,
//! the state of each log against what this DPO was shown, verification, exports and the record of processing.
//!
//! Every family's register is decided for the DPO (Cedar, `Principal::Dpo`) and the decision logged in that
//! family's ledger before anything of it is read; the vault narrows what a service's DPO sees.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cartable_consent::FamilyId;
use cartable_sdk::{ErrorResponse, LogStatus, LogStatuses, ProcessingRecord, RegisterEntry, RegisterFilter, RegisterPage, RegisterReceipt};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, DpoSession};
use super::{ApiState, wire_family};
use crate::register::csv::{Format, export};
use crate::register::{Query, Reader, Walk, processing};

/// A page of the consent register: every entry the DPO's controller covers (the operator's DPO: every family; a
/// service's: that service's requests, grants and accesses), filtered; families in id order, each log oldest first.
#[utoipa::path(
    get, path = "/api/v1/register", tag = "dpo",
    params(RegisterFilter),
    security(("dpo_session" = [])),
    responses(
        (status = 200, description = "a page of entries", body = RegisterPage),
        (status = 400, description = "a filter is not valid", body = ErrorResponse),
        (status = 401, description = "not signed in as a DPO", body = ErrorResponse),
    )
)]
pub async fn register(State(state): State<ApiState>, dpo: DpoSession, ApiQuery(filter): ApiQuery<RegisterFilter>) -> ApiResult<Json<RegisterPage>> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit is from 1 to 1000"));
    }
    let query = Query::from_wire(&filter)?;
    let (rows, next) = Walk::new(state.vault(), Reader::Dpo(dpo.dpo), query).await?.page(limit as usize).await?;
    let entries = rows
        .into_iter()
        .map(|row| RegisterEntry { family_id: wire_family(row.family), index: row.entry.index, receipt: serde_json::to_value(&row.entry.receipt).unwrap_or_default() })
        .collect();
    Ok(Json(RegisterPage { entries, next_after: next.map(|c| c.to_string()) }))
}

/// One entry as its receipt, with its inclusion proof against a fresh signed checkpoint (C2SP tlog-proof), which
/// `cartable ledger check-proof` verifies offline. An entry the DPO may not see is answered as one that does not
/// exist.
#[utoipa::path(
    get, path = "/api/v1/register/{family}/{index}", tag = "dpo",
    params(("family" = String, Path, description = "family id"), ("index" = u64, Path, description = "the entry's index in the family's log")),
    security(("dpo_session" = [])),
    responses(
        (status = 200, description = "the receipt and its proof", body = RegisterReceipt),
        (status = 400, description = "no such entry in this DPO's view", body = ErrorResponse),
        (status = 404, description = "no such family", body = ErrorResponse),
    )
)]
pub async fn receipt(State(state): State<ApiState>, dpo: DpoSession, ApiPath((family, index)): ApiPath<(cartable_sdk::FamilyId, u64)>) -> ApiResult<Json<RegisterReceipt>> {
    let family = super::family_id(family);
    let (receipt, proof) = receipt_with_proof(&state, dpo.dpo, family, index).await?;
    Ok(Json(RegisterReceipt { family_id: wire_family(family), index, receipt, proof }))
}

/// The receipt of one entry and its proof, for a DPO (the API's and the web console's).
pub(crate) async fn receipt_with_proof(state: &ApiState, dpo: cartable_consent::DpoId, family: FamilyId, index: u64) -> ApiResult<(serde_json::Value, String)> {
    let vault = state.vault();
    if !vault.dpo_families(dpo).await?.contains(&family) {
        return Err(cartable_vault::Error::FamilyNotFound(family).into());
    }
    let permit = Reader::Dpo(dpo).permit(vault, family).await?;
    let proof = vault.inclusion_proof(&permit, index).await?;
    let parsed = cartable_consent::ledger::TlogProof::parse(&proof).map_err(|e| ApiError::internal(&e))?;
    let entry = parsed.extra.as_deref().ok_or_else(|| ApiError::internal(&"a proof without its entry"))?;
    let receipt = cartable_consent::ledger::Receipt::from_canonical(entry).map_err(|e| ApiError::internal(&e))?;
    Ok((serde_json::to_value(&receipt).unwrap_or_default(), proof))
}

/// The register (the same entries as the pages, filtered alike) as one streamed file: `csv` (RFC 4180, the
/// documented columns) or `jsonl` (one entry a line).
#[utoipa::path(
    get, path = "/api/v1/register/export/{format}", tag = "dpo",
    params(("format" = String, Path, description = "`csv` or `jsonl`"), RegisterFilter),
    security(("dpo_session" = [])),
    responses(
        (status = 200, description = "the register, streamed (text/csv or application/jsonl)"),
        (status = 400, description = "an unknown format or a filter that is not valid", body = ErrorResponse),
        (status = 401, description = "not signed in as a DPO", body = ErrorResponse),
    )
)]
pub async fn export_register(State(state): State<ApiState>, dpo: DpoSession, ApiPath(format): ApiPath<String>, ApiQuery(filter): ApiQuery<RegisterFilter>) -> ApiResult<Response> {
    let format = Format::parse(&format).ok_or_else(|| ApiError::invalid("the format is `csv` or `jsonl`"))?;
    let query = Query::from_wire(&filter)?;
    Ok(export_response(state.vault().clone(), Reader::Dpo(dpo.dpo), query, format))
}

/// A streamed export as a download.
pub(crate) fn export_response(vault: cartable_vault::Vault, reader: Reader, query: Query, format: Format) -> Response {
    let stream = export(vault, reader, query, format);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let disposition = format!("attachment; filename=\"cartable-register.{}\"", format.extension());
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The state of every log in the DPO's remit: its size, a fresh signed checkpoint, and whether it extends the last
/// checkpoint this DPO was shown (a rewritten history shows as `consistent: false`). Showing a consistent
/// checkpoint records it as seen.
#[utoipa::path(
    get, path = "/api/v1/register/logs", tag = "dpo",
    security(("dpo_session" = [])),
    responses((status = 200, description = "each family's log", body = LogStatuses), (status = 401, description = "not signed in as a DPO", body = ErrorResponse))
)]
pub async fn logs(State(state): State<ApiState>, dpo: DpoSession) -> ApiResult<Json<LogStatuses>> {
    Ok(Json(LogStatuses { logs: log_states(&state, dpo.dpo, false).await? }))
}

/// Verifies every log in the DPO's remit (the whole replay of `cartable ledger verify`) and says, for each, whether
/// it passed and which entry a failure names, with the same consistency check as `GET /register/logs`.
#[utoipa::path(
    post, path = "/api/v1/register/verify", tag = "dpo",
    security(("dpo_session" = [])),
    responses(
        (status = 200, description = "each family's log, verified", body = LogStatuses),
        (status = 401, description = "not signed in as a DPO", body = ErrorResponse),
        (status = 403, description = "missing or wrong CSRF token (`csrf`)", body = ErrorResponse),
    )
)]
pub async fn verify(State(state): State<ApiState>, dpo: DpoSession) -> ApiResult<Json<LogStatuses>> {
    Ok(Json(LogStatuses { logs: log_states(&state, dpo.dpo, true).await? }))
}

/// Each log of the DPO's remit, checked against what they saw and, with `replay`, verified whole.
pub(crate) async fn log_states(state: &ApiState, dpo: cartable_consent::DpoId, replay: bool) -> ApiResult<Vec<LogStatus>> {
    let vault = state.vault();
    let mut out = Vec::new();
    for family in vault.dpo_families(dpo).await? {
        let permit = match Reader::Dpo(dpo).permit(vault, family).await {
            Ok(permit) => permit,
            Err(cartable_vault::Error::FamilyNotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let log = vault.dpo_log_state(&permit).await?;
        let mut status = LogStatus {
            family_id: wire_family(family),
            size: log.size,
            checkpoint: log.checkpoint,
            seen_size: log.seen.map(|(size, _)| size),
            seen_at: log.seen.map(|(_, at)| at),
            consistent: log.consistent,
            verified: None,
            broken_at: None,
            problem: None,
        };
        if replay {
            match vault.verify_ledger(family).await {
                Ok(_) => status.verified = Some(true),
                Err(cartable_vault::VerifyError::Broken { index, reason, .. }) => {
                    status.verified = Some(false);
                    status.broken_at = Some(index);
                    status.problem = Some(reason);
                }
                Err(e) => return Err(cartable_vault::Error::from(e).into()),
            }
        }
        if status.consistent == Some(false) && status.problem.is_none() {
            status.problem = Some(match status.seen_size {
                Some(seen) if seen > status.size => format!("the log has {} entries, fewer than the {seen} this DPO was shown", status.size),
                Some(seen) => format!("the log's first {seen} entries are not those this DPO was shown: its history was rewritten"),
                None => "the log does not extend what this DPO was shown".to_owned(),
            });
        }
        out.push(status);
    }
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProcessingQuery {
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

/// The record of processing activities (GDPR art. 30), generated from the grants of the DPO's remit: per service,
/// purposes, legal bases, categories of data and persons, retention, and the number of grants by state.
#[utoipa::path(
    get, path = "/api/v1/register/processing", tag = "dpo",
    params(ProcessingQuery),
    security(("dpo_session" = [])),
    responses(
        (status = 200, description = "the record (JSON, or CSV with `format=csv`)", body = ProcessingRecord),
        (status = 400, description = "an unknown format", body = ErrorResponse),
        (status = 401, description = "not signed in as a DPO", body = ErrorResponse),
    )
)]
pub async fn processing_record(State(state): State<ApiState>, dpo: DpoSession, ApiQuery(query): ApiQuery<ProcessingQuery>) -> ApiResult<Response> {
    let record = processing::record(state.vault(), Reader::Dpo(dpo.dpo)).await?;
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(record).into_response()),
        "csv" => {
            let body = processing::to_csv(&record)?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8; header=present"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"cartable-processing.csv\""),
                ],
                body,
            )
                .into_response())
        }
        _ => Err(ApiError::invalid("the format is `json` or `csv`")),
    }
}
