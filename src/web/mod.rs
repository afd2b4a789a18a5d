//! The families' web UI: server-rendered pages (askama templates under `templates/`, checked at compile time), one
//! stylesheet served by the binary, no script; French first, English one click away (`i18n.rs`).
//!
//! - `mod.rs`: the routes, the page frame every template shares ([`Page`]), the signed-in member ([`Member`]),
//!   forms and their CSRF tokens ([`Posted`], [`AnonForm`]), error pages.
//! - `access.rs`: getting in: sign-in and sign-out, invitations, the language switch, the stylesheet.
//! - `pages.rs`: the family's pages (home, requests, grants, history with its receipts and proofs) and the decisions
//!   made from them.
//! - `child.rs`: a child's data: their page, a page per collection, the follow-up notebook, files and uploads.
//! - `search.rs`: the family's search: the header's box, the results with their counts, period and pages.
//! - `settings.rs`: the family's settings: members and invitations, a minor's password, prohibitions, the archive
//!   download, erasure.
//! - `dpo.rs`: the DPO's console.
//! - `import.rs`: a family bringing its archive here with the operator's one-time invitation (the API's import).
//!
//! The web UI is a client of the same functions as the API: sessions are the API's (`api::session`, with its
//! sign-in limits), and every family page passes the API's gate (`api::data::decide`), so every read is a logged
//! decision and another family's member gets the same 404 as for a family that does not exist.

mod access;
pub(crate) mod account;
mod oidc;
mod format_import;
mod child;
mod dpo;
pub(crate) mod i18n;
mod import;
mod pages;
mod search;
mod settings;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cartable_sdk::ErrorCode;
use serde::de::DeserializeOwned;

use crate::api::extract::{DpoSession, MemberSession, cookie, cookie_dpo_session, cookie_session, constant_time_eq, csrf_matches};
use crate::api::{ApiError, ApiState};
pub use i18n::Lang;

/// The cookie holding the session's CSRF token, so that pages can put it in their forms (HttpOnly: scripts never
/// read it; only its hash is stored, with the session).
const CSRF_COOKIE: &str = "cartable_csrf";
/// The cookie of the token that forms shown before signing in carry (double submit: the form's copy must match).
const FORM_COOKIE: &str = "cartable_form";

/// The web UI's routes on the API's shared state (sessions, limits, the vault).
pub fn routes(state: ApiState) -> Router {
    // A file sent with a page's form: the vault's limit is enforced on the file itself; this bounds the whole body.
    let upload_limit = usize::try_from(state.settings().max_file_bytes).unwrap_or(usize::MAX).saturating_add(64 * 1024);
    let archive_limit = usize::try_from(state.settings().max_archive_bytes).unwrap_or(usize::MAX).saturating_add(64 * 1024);
    Router::new()
        .route("/", get(access::root))
        .route("/sign-in", get(access::sign_in_page).post(access::sign_in))
        .route("/sign-out", post(access::sign_out))
        .route("/invitation/{token}", get(access::invitation_page).post(access::accept_invitation))
        .route("/import/{token}", get(import::import_page).post(import::import_upload).layer(axum::extract::DefaultBodyLimit::max(archive_limit)))
        .route("/lang/{code}", get(access::switch_language))
        .route("/static/cartable.css", get(access::stylesheet))
        .route("/family/{family}", get(pages::home))
        .route("/family/{family}/requests", get(pages::requests))
        .route("/family/{family}/requests/{grant}/approve", post(pages::approve))
        .route("/family/{family}/requests/{grant}/deny", post(pages::deny))
        .route("/family/{family}/grants", get(pages::grants))
        .route("/family/{family}/grants/{grant}/revoke", post(pages::revoke))
        .route("/family/{family}/history", get(pages::history))
        .route("/family/{family}/search", get(search::search))
        // The family's settings, a member's password, the history's receipts and proofs.
        .route("/family/{family}/settings", get(settings::settings))
        .route("/family/{family}/settings/invite-guardian", post(settings::invite_guardian))
        .route("/family/{family}/settings/invite-child", post(settings::invite_child))
        .route("/family/{family}/settings/prohibitions", post(settings::prohibition))
        .route("/family/{family}/settings/children/{child}/password", post(settings::child_password))
        .route("/family/{family}/settings/delete", post(settings::delete))
        .route("/family/{family}/settings/archive", post(settings::archive))
        .route("/family/{family}/password", get(access::password_page).post(access::change_password))
        .route("/sign-in/oidc/{provider}", get(oidc::start))
        .route("/sign-in/oidc/{provider}/callback", get(oidc::callback))
        .route("/family/{family}/notifications", get(account::notifications))
        .route("/family/{family}/account", get(account::account))
        .route("/family/{family}/account/notifications", post(account::save_notifications))
        .route("/family/{family}/account/identities/{provider}", post(oidc::link))
        .route("/family/{family}/account/identities/{provider}/unlink", post(account::unlink))
        .route("/family/{family}/members/{member}/password-sign-in", post(account::password_sign_in))
        .route("/family/{family}/history/{index}", get(pages::history_entry))
        .route("/family/{family}/history/{index}/proof", get(pages::history_proof))
        .route("/family/{family}/children/{child}/report", get(pages::child_report))
        .route("/family/{family}/children/{child}/report.json", get(pages::child_report_file))
        // A child's data (`child.rs`).
        .route("/family/{family}/children/{child}", get(child::overview))
        .route("/family/{family}/children/{child}/files/{record}", get(child::download))
        .route("/family/{family}/children/{child}/files/{record}/view", get(child::view))
        .route("/family/{family}/children/{child}/{doctype}", get(child::collection).post(child::add_entry))
        .route("/family/{family}/children/{child}/{doctype}/upload", post(child::upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)))
        .route(
            "/family/{family}/children/{child}/{doctype}/import",
            post(format_import::import).layer(axum::extract::DefaultBodyLimit::max(crate::api::record_imports::MAX_IMPORT_BYTES as usize + 64 * 1024)),
        )
        .route("/dpo", get(dpo::register))
        .route("/dpo/export/{format}", get(dpo::export))
        .route("/dpo/entries/{family}/{index}", get(dpo::receipt))
        .route("/dpo/entries/{family}/{index}/proof", get(dpo::proof))
        .route("/dpo/logs", get(dpo::logs))
        .route("/dpo/logs/verify", post(dpo::verify))
        .route("/dpo/processing", get(dpo::processing_page))
        .route("/dpo/processing.csv", get(dpo::processing_csv))
        .route("/dpo/sign-out", post(dpo::sign_out))
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .with_state(state)
}

/// A page that does not exist, in the visitor's language.
pub fn not_found(headers: &HeaderMap) -> Response {
    WebError::new(Lang::of_request(headers), StatusCode::NOT_FOUND, "error-not-found").into_response()
}

/// Which menu a page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Menu {
    /// Nobody signed in.
    None,
    /// A member: the menu links to their family's pages.
    Family(String),
    /// A DPO: the console's pages.
    Dpo,
}

impl Menu {
    /// The family of the menu's links, for a member.
    pub fn family(&self) -> Option<&str> {
        match self {
            Menu::Family(family) => Some(family),
            _ => None,
        }
    }

    pub fn signed_in(&self) -> bool {
        *self != Menu::None
    }

    pub fn is_dpo(&self) -> bool {
        *self == Menu::Dpo
    }
}

/// What every page's frame needs: the language, the title, the CSRF token for its forms, the menu.
pub(crate) struct Page {
    pub lang: Lang,
    pub title: String,
    pub csrf: String,
    pub menu: Menu,
    /// Which menu entry is this page's.
    pub nav: &'static str,
    /// This page's path, for the language switch to come back to.
    pub path: String,
    /// A message about what was just done (from a fixed list, never text from the request).
    pub notice: Option<String>,
}

impl Page {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// The label of `key` with a `$name` placeholder.
    pub fn t_with_name(&self, key: &str, name: &str) -> String {
        self.lang.t_with(key, &[("name", i18n::Arg::Text(name.to_owned()))])
    }

    /// The label of `key` for `count` things (its `$count` placeholder).
    pub fn t_count(&self, key: &str, count: &usize) -> String {
        self.lang.t_with(key, &[("count", i18n::Arg::Number(*count as f64))])
    }
}

/// Renders a template as a page with `status`.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    message: String,
}

/// An error shown as a page in the visitor's language; what it says is chosen from the error's kind, never its
/// internal detail.
#[derive(Debug)]
pub(crate) struct WebError {
    lang: Lang,
    status: StatusCode,
    key: &'static str,
}

impl WebError {
    pub fn new(lang: Lang, status: StatusCode, key: &'static str) -> Self {
        WebError { lang, status, key }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn from_api(lang: Lang, e: ApiError) -> Self {
        let key = match e.code {
            ErrorCode::NotFound => "error-not-found",
            ErrorCode::Denied | ErrorCode::ForbiddenDoctype => "error-denied",
            ErrorCode::Csrf => "error-csrf",
            ErrorCode::Conflict => "error-conflict",
            ErrorCode::Busy | ErrorCode::RateLimited => "error-busy",
            ErrorCode::Internal => "error-internal",
            _ => "error-invalid",
        };
        WebError { lang, status: e.status, key }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = Page { lang: self.lang, title: self.lang.t("error-title"), csrf: String::new(), menu: Menu::None, nav: "", path: "/".to_owned(), notice: None };
        render(self.status, &ErrorPage { message: self.lang.t(self.key), page })
    }
}

/// Turns the API's and the vault's errors into pages.
pub(crate) trait InLang<T> {
    fn in_lang(self, lang: Lang) -> Result<T, WebError>;
}

impl<T> InLang<T> for Result<T, ApiError> {
    fn in_lang(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| WebError::from_api(lang, e))
    }
}

impl<T> InLang<T> for Result<T, cartable_vault::Error> {
    fn in_lang(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| WebError::from_api(lang, e.into()))
    }
}

/// The visitor's language.
pub(crate) struct Visitor(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Visitor(Lang::of_request(&parts.headers)))
    }
}

/// Who a page can be signed in as: a family member or a DPO, each by their own session cookie.
pub(crate) trait SignedIn: Sized + Send {
    /// The session of the request's cookie and the hash of its CSRF token, if it has a live one.
    fn from_headers(headers: &HeaderMap, state: &ApiState) -> impl std::future::Future<Output = Option<(Self, String)>> + Send;
    /// Who, for the log line of a refused form.
    fn who(&self) -> String;
}

impl SignedIn for MemberSession {
    async fn from_headers(headers: &HeaderMap, state: &ApiState) -> Option<(Self, String)> {
        cookie_session(headers, state).await.ok().flatten()
    }

    fn who(&self) -> String {
        format!("member:{}", self.member)
    }
}

impl SignedIn for DpoSession {
    async fn from_headers(headers: &HeaderMap, state: &ApiState) -> Option<(Self, String)> {
        cookie_dpo_session(headers, state).await.ok().flatten()
    }

    fn who(&self) -> String {
        format!("dpo:{}", self.dpo)
    }
}

/// A signed-in visitor on a page: their session, the CSRF token to put in the page's forms, the language. Without
/// a session (or with one that ended) the visitor is sent to the sign-in page.
pub(crate) struct SignedPage<S> {
    pub session: S,
    pub csrf: String,
    pub lang: Lang,
    pub path: String,
}

/// A family member on a page.
pub(crate) type Member = SignedPage<MemberSession>;
/// A DPO on a page of the console.
pub(crate) type Officer = SignedPage<DpoSession>;

impl Member {
    pub fn page(&self, title: String, nav: &'static str, notice: Option<String>) -> Page {
        Page { lang: self.lang, title, csrf: self.csrf.clone(), menu: Menu::Family(self.session.family.to_string()), nav, path: self.path.clone(), notice }
    }

    /// The member who posted a form, to show the page at `path` again (the form's CSRF token, already checked, is
    /// the cookie's).
    pub fn after_form(session: MemberSession, lang: Lang, headers: &HeaderMap, path: String) -> Member {
        let csrf = cookie(headers, CSRF_COOKIE).unwrap_or_default();
        Member { session, csrf, lang, path }
    }
}

impl Officer {
    pub fn page(&self, title: String, nav: &'static str, notice: Option<String>) -> Page {
        Page { lang: self.lang, title, csrf: self.csrf.clone(), menu: Menu::Dpo, nav, path: self.path.clone(), notice }
    }
}

impl<S: SignedIn> FromRequestParts<ApiState> for SignedPage<S> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let lang = Lang::of_request(&parts.headers);
        let Some((session, csrf_hash)) = S::from_headers(&parts.headers, state).await else { return Err(Redirect::to("/sign-in").into_response()) };
        // The session's own token (a session opened by the API has none here: its forms will be refused).
        let csrf = cookie(&parts.headers, CSRF_COOKIE).filter(|c| csrf_matches(c, &csrf_hash)).unwrap_or_default();
        let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        Ok(SignedPage { session, csrf, lang, path })
    }
}

/// A form posted by a signed-in member (or, with `S = DpoSession`, a DPO), with the session's CSRF token in its
/// `csrf` field; a form without it, or with another one, is refused before its handler runs, so it changes nothing.
pub(crate) struct Posted<T, S = MemberSession> {
    pub session: S,
    pub lang: Lang,
    pub form: T,
}

/// The largest form accepted.
const FORM_LIMIT: usize = 16 * 1024;

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

async fn form_body(req: Request, lang: Lang) -> Result<Bytes, WebError> {
    let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(WebError::new(lang, StatusCode::UNSUPPORTED_MEDIA_TYPE, "error-invalid"));
    }
    axum::body::to_bytes(req.into_body(), FORM_LIMIT).await.map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid"))
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8], lang: Lang) -> Result<(String, T), WebError> {
    let csrf: CsrfField = serde_urlencoded::from_bytes(bytes).map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid"))?;
    let form: T = serde_urlencoded::from_bytes(bytes).map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid"))?;
    Ok((csrf.csrf, form))
}

impl<T: DeserializeOwned + Send, S: SignedIn> FromRequest<ApiState> for Posted<T, S> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Response> {
        let lang = Lang::of_request(req.headers());
        let Some((session, csrf_hash)) = S::from_headers(req.headers(), state).await else { return Err(Redirect::to("/sign-in").into_response()) };
        let bytes = form_body(req, lang).await.map_err(IntoResponse::into_response)?;
        let (csrf, form) = parse_form::<T>(&bytes, lang).map_err(IntoResponse::into_response)?;
        if !csrf_matches(&csrf, &csrf_hash) {
            tracing::info!(caller = %session.who(), "a form without the session's CSRF token was refused");
            return Err(WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf").into_response());
        }
        Ok(Posted { session, lang, form })
    }
}

/// A form posted before signing in (sign-in, invitation): its `csrf` field must match the form cookie the page set.
pub(crate) struct AnonForm<T> {
    pub lang: Lang,
    pub headers: HeaderMap,
    pub form: T,
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequest<S> for AnonForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Response> {
        let lang = Lang::of_request(req.headers());
        let headers = req.headers().clone();
        let bytes = form_body(req, lang).await.map_err(IntoResponse::into_response)?;
        let (csrf, form) = parse_form::<T>(&bytes, lang).map_err(IntoResponse::into_response)?;
        let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
        if csrf.is_empty() || !constant_time_eq(csrf.as_bytes(), expected.as_bytes()) {
            return Err(WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf").into_response());
        }
        Ok(AnonForm { lang, headers, form })
    }
}

/// The token for a form shown before signing in: the visitor's form cookie, or a new one to set.
pub(crate) fn form_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(token) = cookie(headers, FORM_COOKIE).filter(|t| t.len() >= 32) {
        return (token, None);
    }
    let token = crate::auth::new_secret();
    let set = HeaderValue::from_str(&format!("{FORM_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")).ok();
    (token, set)
}

/// A path of this site to go back to (the language switch's `next`): only a local path, never another host.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control) => p.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_switch_returns_only_to_local_paths() {
        assert_eq!(local_path(Some("/family/x/grants")), "/family/x/grants");
        assert_eq!(local_path(Some("//elsewhere.example/")), "/");
        assert_eq!(local_path(Some("https://elsewhere.example/")), "/");
        assert_eq!(local_path(Some("/\\elsewhere.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn forms_carry_their_csrf_field_beside_their_own() {
        #[derive(serde::Deserialize)]
        struct Login {
            login: String,
        }
        let (csrf, form) = parse_form::<Login>(b"csrf=abc&login=claire", Lang::Fr).unwrap();
        assert_eq!((csrf.as_str(), form.login.as_str()), ("abc", "claire"));
        let (csrf, _) = parse_form::<Login>(b"login=claire", Lang::Fr).unwrap();
        assert!(csrf.is_empty());
    }
}
