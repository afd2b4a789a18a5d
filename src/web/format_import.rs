//! A family's own import from the child's pages: a learning platform's export (xAPI statements) on the activities
//! page, an Open Badge on the certificates page. The same run as `cartable import`, decided for the member. The page
//! that follows says what came in and lists what was refused; sending the same file again adds nothing, so
//! reloading it is harmless.

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
    heading: String,
    problems_heading: String,
    back: String,
    back_label: String,
    written: bool,
    summary: String,
    problems: Vec<ProblemLine>,
    more: Option<String>,
}

/// The collections whose page imports a format, and the format's name in the page's messages.
pub(crate) fn format_of(doctype: Doctype) -> Option<&'static str> {
    match doctype {
        Doctype::Activity => Some("xapi"),
        Doctype::Certificates => Some("badge"),
        _ => None,
    }
}

/// `POST /family/{family}/children/{child}/{doctype}/import`: a multipart form, `csrf` first, then `partial`
/// (checked: keep the valid items), then `file`.
pub(crate) async fn import(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((family, child, doctype)): Path<(String, String, String)>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let lang = Lang::of_request(&headers);
    let Some((session, csrf_hash)) = MemberSession::from_headers(&headers, &state).await else { return Ok(Redirect::to("/sign-in").into_response()) };
    let (family, child, doctype): (FamilyId, MemberId, Doctype) = (parse(&family, lang)?, parse(&child, lang)?, parse(&doctype, lang)?);
    let Some(format) = format_of(doctype) else { return Err(WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found")) };
    let invalid = || WebError::new(lang, StatusCode::BAD_REQUEST, if format == "xapi" { "import-xapi-invalid" } else { "import-badge-invalid" });
    let csrf_refused = || {
        tracing::info!(caller = %session.who(), "a form without the session's CSRF token was refused");
        WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf")
    };
    let first = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(csrf_refused)?;
    if first.name() != Some("csrf") || !csrf_matches(&first.text().await.map_err(|_| invalid())?, &csrf_hash) {
        return Err(csrf_refused());
    }
    let caller = Caller::Member(session.clone());
    // Decided before the file is read: a member who may not write the collection is refused at once (and logged).
    let permit = decide(&state, &caller, family, Action::Write, Resource::Collection { child, doctype }).await.in_lang(lang)?;
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
            return Err(WebError::new(lang, StatusCode::PAYLOAD_TOO_LARGE, "import-file-too-large"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let bytes = bytes::Bytes::from(bytes);
    let open: importers::xapi::Open = Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<dyn std::io::Read + Send>));
    let source: Arc<dyn Source> = match doctype {
        Doctype::Activity => Arc::new(importers::xapi::Statements { open, child }),
        _ => Arc::new(importers::badges::Badges { open, child, now: time::OffsetDateTime::now_utc() }),
    };
    let first = std::sync::Mutex::new(Some(permit));
    // A collection the rules refuse (the grades a scored statement gives) is said as a refusal, not as a bad file.
    let refusal = std::sync::Mutex::new(None);
    let result = importers::run(state.vault(), source, partial, Arc::new(Quiet), |c, d| {
        let reuse = ((c, d) == (child, doctype)).then(|| first.lock().expect("permit lock").take()).flatten();
        let (state, caller, refusal) = (&state, &caller, &refusal);
        async move {
            match reuse {
                Some(permit) => Ok(permit),
                None => decide(state, caller, family, Action::Write, Resource::Collection { child: c, doctype: d }).await.map_err(|e| {
                    let message = e.message.clone();
                    *refusal.lock().expect("refusal lock") = Some(e);
                    anyhow::anyhow!(message)
                }),
            }
        }
    })
    .await;
    let report = match result {
        Ok(report) => report,
        Err(_) if refusal.lock().expect("refusal lock").is_some() => {
            return Err(WebError::from_api(lang, refusal.lock().expect("refusal lock").take().expect("checked")));
        }
        Err(e) => match e.downcast::<cartable_vault::Error>() {
            Ok(vault_error) => return Err(WebError::from_api(lang, vault_error.into())),
            // The file's own fault (not the format at all, malformed, cut short): said, nothing written.
            // Not the error itself in the log: it may quote the start of the file.
            Err(_) => {
                tracing::info!(family = %family, format, "an import from the web UI was refused: the file is not of its format");
                return Err(invalid());
            }
        },
    };
    tracing::info!(family = %family, format, imported = report.imported, duplicates = report.duplicates, rejected = report.rejected, "records imported from the web UI");
    let n = |v: u64| Arg::Number(v as f64);
    let key = |what: &str| format!("import-{format}-{what}");
    let summary = if report.written {
        lang.t_with(&key("done"), &[("imported", n(report.imported)), ("duplicates", n(report.duplicates)), ("rejected", n(report.rejected))])
    } else {
        lang.t_with(&key("refused"), &[("rejected", n(report.rejected))])
    };
    let problems = report
        .problems
        .iter()
        .take(LISTED)
        .map(|p| ProblemLine { line: lang.t_with(&key("line"), &[("line", n(p.line))]), rule: p.rule.clone(), message: p.message.clone() })
        .collect();
    let more = (report.rejected as usize > LISTED).then(|| lang.t_with("import-more", &[("count", n(report.rejected - LISTED as u64))]));
    let back = format!("/family/{family}/children/{child}/{}", doctype.as_str());
    let member = Member::after_form(session, lang, &headers, back.clone());
    let status = if report.written || report.rejected == 0 { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = member.page(lang.t(&key("title")), "home", None);
    let (heading, problems_heading, back_label) = (lang.t(&key("title")), lang.t(&key("problems")), lang.t(&key("back")));
    Ok(render(status, &ReportPage { page, heading, problems_heading, back, back_label, written: report.written, summary, problems, more }))
}
