//! `/import/{token}`: a family brings its archive to this server itself, with the operator's one-time invitation
//! (`cartable archive invite`). The page takes the archive (and its passphrase, if it has one); the import is the
//! API's (`api::imports::receive`): checked first, written whole or not at all; then each guardian's sign-in link.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cartable_vault::InvitationKind;
use futures::StreamExt;
use time::OffsetDateTime;

use super::access::{anonymous_page, with_cookie};
use super::i18n::Arg;
use super::{FORM_COOKIE, InLang as _, Lang, Page, Visitor, WebError, form_token, render};
use crate::api::ApiState;
use crate::api::extract::{constant_time_eq, cookie};
use crate::api::imports::{Refusal, receive};
use crate::archive::UploadError;
use crate::auth::hash_token;

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    page: Page,
    token: String,
    /// When the invitation ends, in words; `None`: no usable invitation.
    valid_until: Option<String>,
    error: Option<String>,
    /// Why the archive was refused, as the checks said it (in English): shown under the error.
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "import_done.html")]
struct ImportDone {
    page: Page,
    summary: String,
    /// Each guardian's name and sign-in link.
    invitations: Vec<(String, String)>,
}

/// When a usable import invitation ends, in words.
async fn valid_until(state: &ApiState, token: &str, lang: Lang) -> Result<Option<String>, WebError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let invitation = state.vault().invitation(&hash_token(token), OffsetDateTime::now_utc()).await.in_lang(lang)?;
    Ok(invitation
        .filter(|i| i.kind == InvitationKind::FamilyImport)
        .map(|i| lang.t_with("invitation-valid-until", &[("date", Arg::Text(lang.date(i.expires_at)))])))
}

fn page_response(lang: Lang, headers: &HeaderMap, token: String, valid_until: Option<String>, error: Option<&str>, detail: Option<String>) -> Response {
    let (csrf, set) = form_token(headers);
    let status = match (&valid_until, error) {
        (None, _) => StatusCode::NOT_FOUND,
        (Some(_), Some("import-too-large")) => StatusCode::PAYLOAD_TOO_LARGE,
        (Some(_), Some(_)) => StatusCode::BAD_REQUEST,
        (Some(_), None) => StatusCode::OK,
    };
    let token = if valid_until.is_some() { token } else { String::new() };
    let page = anonymous_page(lang, "import-title", csrf, format!("/import/{token}"), None);
    with_cookie(render(status, &ImportPage { page, token, valid_until, error: error.map(|k| lang.t(k)), detail }), set)
}

pub(crate) async fn import_page(State(state): State<ApiState>, Visitor(lang): Visitor, headers: HeaderMap, Path(token): Path<String>) -> Result<Response, WebError> {
    let valid = valid_until(&state, &token, lang).await?;
    Ok(page_response(lang, &headers, token, valid, None, None))
}

/// The form, `multipart/form-data`, in this order: `csrf` (the form cookie's double), `passphrase`, `file`, streamed
/// into the import as it arrives.
pub(crate) async fn import_upload(State(state): State<ApiState>, headers: HeaderMap, Path(token): Path<String>, mut multipart: Multipart) -> Result<Response, WebError> {
    let lang = Lang::of_request(&headers);
    let csrf_refused = || WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf");
    let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
    let first = multipart.next_field().await.ok().flatten().ok_or_else(csrf_refused)?;
    if first.name() != Some("csrf") {
        return Err(csrf_refused());
    }
    let sent = first.text().await.map_err(|_| csrf_refused())?;
    if sent.is_empty() || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(csrf_refused());
    }
    let valid = valid_until(&state, &token, lang).await?;
    if valid.is_none() {
        return Ok(page_response(lang, &headers, token, None, None, None));
    }
    let refuse = |key: &str, detail: Option<String>| Ok(page_response(lang, &headers, token.clone(), valid.clone(), Some(key), detail));
    let no_file = || WebError::new(lang, StatusCode::BAD_REQUEST, "import-no-file");
    let second = multipart.next_field().await.map_err(|_| no_file())?.ok_or_else(no_file)?;
    if second.name() != Some("passphrase") {
        return refuse("import-no-file", None);
    }
    let passphrase = Some(second.text().await.map_err(|_| no_file())?);
    let file = multipart.next_field().await.map_err(|_| no_file())?.ok_or_else(no_file)?;
    if file.name() != Some("file") || file.file_name().is_none_or(str::is_empty) {
        return refuse("import-no-file", None);
    }
    let stream = Box::pin(file.map(|chunk| chunk.map_err(|e| e.to_string())));
    match receive(&state, &token, &headers, stream, passphrase).await {
        Ok((report, invitations)) => {
            let summary = lang.t_with(
                "import-done-summary",
                &[
                    ("records", Arg::Number(report.records as f64)),
                    ("files", Arg::Number(report.files as f64)),
                    ("entries", Arg::Number(report.ledger_entries as f64)),
                ],
            );
            let (csrf, set) = form_token(&headers);
            let page = anonymous_page(lang, "import-done-title", csrf, "/".to_owned(), None);
            let invitations = invitations.into_iter().map(|i| (i.name, i.link)).collect();
            Ok(with_cookie(render(StatusCode::CREATED, &ImportDone { page, summary, invitations }), set))
        }
        Err(Refusal::Invitation) => Ok(page_response(lang, &headers, token, None, None, None)),
        Err(Refusal::Upload(UploadError::TooLarge(_))) => refuse("import-too-large", None),
        Err(Refusal::Upload(UploadError::Refused(why))) => refuse("import-refused", Some(why)),
        Err(Refusal::Upload(UploadError::Server(_))) => Err(WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal")),
        Err(Refusal::Vault(e)) => Err(WebError::from_api(lang, e.into())),
    }
    .map(IntoResponse::into_response)
}
