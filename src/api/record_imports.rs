//! Records imported from open formats over HTTP (xAPI statements, Open Badges, OneRoster sets, files), for a family
//! member (session) or a service whose grant lets it write the collections: the same run as `cartable import` (see
//! `importers`). A format's body is held in memory within [`MAX_IMPORT_BYTES`] (it is read twice, and never written
//! to disk); files are streamed part by part into the vault, all in one run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Action, Doctype, Resource};
use cartable_sdk::{ErrorResponse, RecordsImported};
use futures::StreamExt as _;
use serde::Deserialize;

use super::data::decide;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller};
use super::{ApiState, family_id, member_id, parse_doctype, wire_member, wire_record};
use crate::importers::{self, Quiet, Report, Source};

/// The largest body an import takes: some 10,000 statements of a learning platform's export.
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;

/// The most files one files import takes (each within the server's file limit).
pub const MAX_IMPORT_FILES: usize = 1000;

/// The most pupils one OneRoster import maps.
const MAX_MAPPED_PUPILS: usize = 100;

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

/// The query of a OneRoster import, as the document describes it; it is read by [`RosterQuery::parse`], since
/// `map` repeats.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RosterParams {
    /// A pupil of the set and the child they are, `SOURCEDID=CHILD` (the user's `sourcedId` in `users.csv`, a member
    /// id of the family), once per pupil: nobody is matched by name, and other pupils' rows are dropped.
    #[param(style = Form, explode, min_items = 1)]
    map: Vec<String>,
    /// Keep the readable rows when some are refused (by default, one refused row stops the import).
    partial: Option<bool>,
}

struct RosterQuery {
    children: HashMap<String, cartable_consent::MemberId>,
    partial: bool,
}

impl RosterQuery {
    fn parse(query: Option<&str>) -> ApiResult<Self> {
        let mut children = HashMap::new();
        let mut partial = None;
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "map" => {
                    let (sourced_id, child) = value.split_once('=').ok_or_else(|| ApiError::invalid("`map` takes SOURCEDID=CHILD"))?;
                    let child: cartable_sdk::MemberId = child.parse().map_err(|_| ApiError::invalid("`map`: after `=` comes a member id"))?;
                    if sourced_id.is_empty() || children.insert(sourced_id.to_owned(), member_id(child)).is_some() {
                        return Err(ApiError::invalid("`map` names each pupil once, by a sourcedId that is not empty"));
                    }
                }
                "partial" => {
                    let value = value.parse::<bool>().map_err(|_| ApiError::invalid("`partial` is true or false"))?;
                    if partial.replace(value).is_some() {
                        return Err(ApiError::invalid("`partial` is given once"));
                    }
                }
                _ => return Err(ApiError::invalid("a OneRoster import takes `map` and `partial` only")),
            }
        }
        if children.is_empty() {
            return Err(ApiError::invalid("`map` is needed: SOURCEDID=CHILD for each pupil to import"));
        }
        if children.len() > MAX_MAPPED_PUPILS {
            return Err(ApiError::invalid(format!("`map` names at most {MAX_MAPPED_PUPILS} pupils")));
        }
        Ok(RosterQuery { children, partial: partial.unwrap_or(false) })
    }
}

/// Imports a OneRoster 1.1 / 1.2 CSV set, zipped at its root (`manifest.csv` first), for the pupils `map` names: their
/// enrollments become `edu.enrollments` records and their results `edu.grades`. Other pupils' rows are read and
/// dropped, never stored. The caller must be able to write every mapped child's enrollments (decided before the body
/// is read); grades are decided when the set has results. A refused row stops the import (422, nothing written)
/// unless `partial=true`; rows imported before are skipped.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/imports/oneroster", tag = "data",
    params(("family" = String, Path, description = "family id"), RosterParams),
    request_body(content = Vec<u8>, content_type = "application/zip", description = "the CSV set, zipped at its root"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "imported (see `imported`, `duplicates`, `rejected`)", body = RecordsImported),
        (status = 400, description = "not a OneRoster set (not a zip, no manifest, a missing column), or a bad `map`; nothing written", body = ErrorResponse),
        (status = 403, description = "refused: the caller may not write a mapped child's enrollments or grades; logged", body = ErrorResponse),
        (status = 413, description = "larger than 32 MiB", body = ErrorResponse),
        (status = 422, description = "rows refused: nothing written, each one in `problems` (file, line, column)", body = RecordsImported),
    )
)]
pub async fn import_oneroster(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(family): ApiPath<cartable_sdk::FamilyId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordsImported>)> {
    let family = family_id(family);
    let query = RosterQuery::parse(uri.query())?;
    let mut decided = Vec::with_capacity(query.children.len());
    let mut children: Vec<_> = query.children.values().copied().collect();
    children.sort();
    children.dedup();
    for child in children {
        decided.push((child, Doctype::Enrollments, decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype: Doctype::Enrollments }).await?));
    }
    let bytes = read_body(&headers, body).await?;
    let source = Arc::new(importers::oneroster::Roster { set: importers::oneroster::Set::Zip(bytes), children: query.children });
    let report = run(&state, &caller, family, source, query.partial, decided).await?;
    Ok(answer(family, report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// The collection the files go into, e.g. `edu.report-cards`, `edu.documents`, `edu.certificates`.
    doctype: String,
}

/// Imports files as they are (PDF report cards, scans) into one of the child's collections, under their names: every
/// part of the `multipart/form-data` body named `file`, with its file name, streamed into the vault. All of them or
/// none: a part cut short, too large or badly named leaves none of the others behind. A file the collection holds
/// already (the same bytes) is a duplicate, not stored again. One `records_import` ledger entry has the counts.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/children/{child}/imports/files", tag = "data",
    params(("family" = String, Path, description = "family id"), ("child" = String, Path, description = "the child's member id"), FilesQuery),
    request_body(content = Vec<u8>, content_type = "multipart/form-data", description = "parts named `file`, each with a `filename`; at most 1000, each within the server's file limit"),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "imported: each file given, in order, in `files` (a null `record_id` for a duplicate)", body = RecordsImported),
        (status = 400, description = "not a multipart body of named files, a part cut short, or no file; nothing written", body = ErrorResponse),
        (status = 403, description = "refused: the caller may not write the collection; logged", body = ErrorResponse),
        (status = 413, description = "a file larger than the server's file limit; nothing written", body = ErrorResponse),
    )
)]
pub async fn import_files(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, child)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId)>,
    ApiQuery(query): ApiQuery<FilesQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<RecordsImported>)> {
    let (family, child, doctype) = (family_id(family), member_id(child), parse_doctype(&query.doctype)?);
    let permit = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype }).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| ApiError::invalid("a files import is a multipart/form-data body"))?;
    let limit = state.settings().max_file_bytes;
    let constraints = multer::Constraints::new().allowed_fields(vec!["file"]).size_limit(multer::SizeLimit::new().per_field(limit));
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut import = state.vault().begin_record_import(vec![permit], ImportFormat::Files).await?;
    let mut files = Vec::new();
    let outcome: ApiResult<()> = async {
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(multer::Error::UnknownField { .. }) => return Err(ApiError::invalid("a files import takes parts named `file` only")),
                Err(_) => return Err(ApiError::invalid("the multipart body cannot be read (cut short, or malformed)")),
            };
            if files.len() == MAX_IMPORT_FILES {
                return Err(ApiError::invalid(format!("a files import takes at most {MAX_IMPORT_FILES} files")));
            }
            // The client's path is not ours to keep: its last component only.
            let name = field.file_name().map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned()).filter(|n| !n.trim().is_empty());
            let Some(name) = name else { return Err(ApiError::invalid("each part needs a file name")) };
            let (record_id, too_large, broken) = stream_part(&mut import, child, doctype, &name, field, limit).await;
            match record_id {
                Ok(record_id) => files.push(cartable_sdk::ImportedFile { name, record_id: record_id.map(wire_record) }),
                Err(_) if too_large => return Err(ApiError::too_large(limit)),
                Err(_) if broken => return Err(ApiError::invalid("the multipart body cannot be read (cut short, or malformed)")),
                Err(e) => return Err(e.into()),
            }
        }
        if files.is_empty() { Err(ApiError::invalid("no file to import")) } else { Ok(()) }
    }
    .await;
    if let Err(e) = outcome {
        import.abort().await;
        return Err(e);
    }
    let done = import.commit().await?;
    let report = Report {
        format: ImportFormat::Files.as_str(),
        written: true,
        imported: done.imported(),
        duplicates: done.duplicates(),
        rejected: 0,
        problems: Vec::new(),
        collections: done.collections.into_iter().map(importers::CollectionReport::from).collect(),
    };
    let (status, Json(mut wire)) = answer(family, report);
    wire.files = files;
    Ok((status, Json(wire)))
}

/// One part into the run, its bytes going through a channel to the vault's blocking writer as they arrive: the
/// record (none for a duplicate), and whether the part was too large or cut short.
async fn stream_part(
    import: &mut cartable_vault::RecordImport,
    child: cartable_consent::MemberId,
    doctype: Doctype,
    name: &str,
    mut field: multer::Field<'static>,
    limit: u64,
) -> (cartable_vault::Result<Option<cartable_consent::RecordId>>, bool, bool) {
    let (too_large, broken) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream.boxed()));
    let (too_large_flag, broken_flag) = (too_large.clone(), broken.clone());
    let pump = async move {
        let mut seen = 0u64;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(bytes)) => {
                    seen += bytes.len() as u64;
                    if seen > limit {
                        too_large_flag.store(true, Ordering::SeqCst);
                        Err(std::io::Error::other("the file is too large"))
                    } else {
                        Ok(bytes)
                    }
                }
                Ok(None) => return,
                Err(multer::Error::FieldSizeExceeded { .. }) => {
                    too_large_flag.store(true, Ordering::SeqCst);
                    Err(std::io::Error::other("the file is too large"))
                }
                Err(_) => {
                    broken_flag.store(true, Ordering::SeqCst);
                    Err(std::io::Error::other("the upload was interrupted"))
                }
            };
            let stop = chunk.is_err();
            if tx.send(chunk).await.is_err() || stop {
                return;
            }
        }
    };
    let (_, result) = tokio::join!(pump, import.add_file(child, doctype, name, Box::new(reader)));
    (result, too_large.load(Ordering::SeqCst), broken.load(Ordering::SeqCst))
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
    let report = run(state, caller, family, source(open, child), query.partial.unwrap_or(false), vec![(child, doctype, first)]).await?;
    Ok(answer(family, report))
}

/// A run's answer: 422 when it was refused for its content (nothing written), else 200.
fn answer(family: cartable_consent::FamilyId, report: Report) -> (StatusCode, Json<RecordsImported>) {
    let status = if !report.written && report.rejected > 0 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    tracing::info!(family = %family, format = report.format, imported = report.imported, duplicates = report.duplicates, rejected = report.rejected, "records imported");
    (status, Json(wire_report(report)))
}

/// Runs an import, each collection it writes decided for the caller (`decided` holds decisions already made, each
/// for one collection).
async fn run(
    state: &ApiState,
    caller: &Caller,
    family: cartable_consent::FamilyId,
    source: Arc<dyn Source>,
    partial: bool,
    decided: Vec<(cartable_consent::MemberId, Doctype, cartable_vault::Permit)>,
) -> ApiResult<Report> {
    let decided: Mutex<HashMap<(cartable_consent::MemberId, Doctype), cartable_vault::Permit>> =
        Mutex::new(decided.into_iter().map(|(child, doctype, permit)| ((child, doctype), permit)).collect());
    let refusal: Mutex<Option<ApiError>> = Mutex::new(None);
    let result = importers::run(state.vault(), source, partial, Arc::new(Quiet), |child, doctype| {
        let reuse = decided.lock().expect("permit lock").remove(&(child, doctype));
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
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_query_maps_each_pupil_once_and_takes_nothing_else() {
        let child = cartable_consent::MemberId::new();
        let query = RosterQuery::parse(Some(&format!("map=user%201={child}&map=u2={child}&partial=true"))).unwrap();
        assert_eq!((query.children.len(), query.children["user 1"], query.partial), (2, child, true));
        for bad in [None, Some("partial=true"), Some("map=user1"), Some("map=user1=nobody"), Some("map==x")] {
            assert!(RosterQuery::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RosterQuery::parse(Some(&format!("map=a={child}&map=a={child}"))).is_err(), "a pupil twice");
        assert!(RosterQuery::parse(Some(&format!("map=a={child}&partial=true&partial=false"))).is_err(), "partial twice");
        assert!(RosterQuery::parse(Some(&format!("map=a={child}&other=1"))).is_err(), "an unknown key");
        let many: Vec<String> = (0..=MAX_MAPPED_PUPILS).map(|i| format!("map=p{i}={child}")).collect();
        assert!(RosterQuery::parse(Some(&many.join("&"))).is_err(), "too many pupils");
    }

    #[test]
    fn the_document_says_map_repeats() {
        let doc = serde_json::to_value(super::super::openapi()).unwrap();
        let parameters = doc["paths"]["/api/v1/families/{family}/imports/oneroster"]["post"]["parameters"].as_array().unwrap().clone();
        let map = parameters.iter().find(|p| p["name"] == "map").expect("the map parameter");
        assert_eq!((map["in"].as_str(), map["required"].as_bool(), map["explode"].as_bool(), map["schema"]["type"].as_str()), (Some("query"), Some(true), Some(true), Some("array")), "{map}");
    }
}
