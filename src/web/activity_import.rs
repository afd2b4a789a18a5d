//! A family's own import of a learning platform's export (xAPI statements) from the child's activities page: the
//! same run as `cartable import xapi`, decided for the member. The page that follows says what came in and lists
//! what was refused, line by line; sending the same file again adds nothing, so reloading it is harmless.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Resource};

use super::i18n::{Arg, Lang};
use super::pages::parse;
use super::{InLang as _, Member, Page, SignedIn as _, WebError, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::{Caller, MemberSession, csrf_matches};
use crate::api::record_imports::MAX_IMPORT_BYTES;
use crate::importers::{self, Quiet, Source};

/// The most refused statements the page lists (the count is whole).
const LISTED: usize = 50;

struct ProblemLine {
    line: String,
    rule: String,
    message: String,
}

#[derive(Template)]
#[template(path = "import_report.html")]
struct ReportPage {
    page: Page,
    back: String,
    written: bool,
    summary: String,
    problems: Vec<ProblemLine>,
    more: Option<String>,
}

/// `POST /family/{family}/children/{child}/edu.activity/import`: a multipart form, `csrf` first, then `partial`
/// (checked: keep the valid statements), then `file`.
pub(crate) async fn import_activities(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((family, child)): Path<(String, String)>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let lang = Lang::of_request(&headers);
    let Some((session, csrf_hash)) = MemberSession::from_headers(&headers, &state).await else { return Ok(Redirect::to("/sign-in").into_response()) };
    let (family, child): (FamilyId, MemberId) = (parse(&family, lang)?, parse(&child, lang)?);
    let invalid = || WebError::new(lang, StatusCode::BAD_REQUEST, "import-xapi-invalid");
    let csrf_refused = || {
        tracing::info!(caller = %session.who(), "a form without the session's CSRF token was refused");
        WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf")
    };
    let first = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(csrf_refused)?;
    if first.name() != Some("csrf") || !csrf_matches(&first.text().await.map_err(|_| invalid())?, &csrf_hash) {
        return Err(csrf_refused());
    }
    let caller = Caller::Member(session.clone());
    // Decided before the file is read: a member who may not write the activities is refused at once (and logged).
    let permit = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype: Doctype::Activity }).await.in_lang(lang)?;
    let mut partial = false;
    let mut field = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(invalid)?;
    if field.name() == Some("partial") {
        partial = true;
        // The field is read and dropped before the next one: multer allows one field at a time.
        field.text().await.map_err(|_| invalid())?;
        field = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(invalid)?;
    }
    if field.name() != Some("file") {
        return Err(invalid());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| invalid())? {
        if (bytes.len() + chunk.len()) as u64 > MAX_IMPORT_BYTES {
            return Err(WebError::new(lang, StatusCode::PAYLOAD_TOO_LARGE, "import-xapi-too-large"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let bytes = bytes::Bytes::from(bytes);
    let open: importers::xapi::Open = Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<dyn std::io::Read + Send>));
    let source: Arc<dyn Source> = Arc::new(importers::xapi::Statements { open, child });
    let first = std::sync::Mutex::new(Some(permit));
    let result = importers::run(state.vault(), source, partial, Arc::new(Quiet), |c, doctype| {
        let reuse = ((c, doctype) == (child, Doctype::Activity)).then(|| first.lock().expect("permit lock").take()).flatten();
        let (state, caller) = (&state, &caller);
        async move {
            match reuse {
                Some(permit) => Ok(permit),
                None => decide(state, caller, family, Action::Write, Resource::Collection { child: c, doctype }).await.map_err(|e| anyhow::anyhow!(e.message)),
            }
        }
    })
    .await;
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            tracing::info!(family = %family, error = %e, "an activities import from the web UI was refused");
            return Err(invalid());
        }
    };
    tracing::info!(family = %family, imported = report.imported, duplicates = report.duplicates, rejected = report.rejected, "activities imported from the web UI");
    let n = |v: u64| Arg::Number(v as f64);
    let summary = if report.written {
        lang.t_with("import-xapi-done", &[("imported", n(report.imported)), ("duplicates", n(report.duplicates)), ("rejected", n(report.rejected))])
    } else {
        lang.t_with("import-xapi-refused", &[("rejected", n(report.rejected))])
    };
    let problems = report
        .problems
        .iter()
        .take(LISTED)
        .map(|p| ProblemLine { line: lang.t_with("import-xapi-line", &[("line", n(p.line))]), rule: p.rule.clone(), message: p.message.clone() })
        .collect();
    let more = (report.rejected as usize > LISTED).then(|| lang.t_with("import-xapi-more", &[("count", n(report.rejected - LISTED as u64))]));
    let back = format!("/family/{family}/children/{child}/{}", Doctype::Activity.as_str());
    let member = Member::after_form(session, lang, &headers, back.clone());
    let status = if report.written || report.rejected == 0 { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = member.page(lang.t("import-xapi-title"), "home", None);
    Ok(render(status, &ReportPage { page, back, written: report.written, summary, problems, more }))
}
