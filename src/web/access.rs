//! Getting in: signing in and out (the API's sessions and sign-in limits), accepting an invitation, the language
//! switch, and the stylesheet.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_sdk::ErrorCode;
use cartable_vault::{Acceptance, Accepted};
use serde::Deserialize;
use time::OffsetDateTime;

use super::i18n::{Arg, LANG_COOKIE};
use super::{AnonForm, CSRF_COOKIE, InLang as _, Lang, Member, Menu, Page, Posted, Visitor, WebError, form_token, local_path, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::Caller;
use cartable_consent::{Action, FamilyId, Resource};
use crate::api::extract::{ClientIp, DPO_SESSION_COOKIE, SESSION_COOKIE, cookie_dpo_session, cookie_session};
use crate::api::session::{Claimant, SignedAs, SignedIn, cleared_cookie, open_session, session_cookie};
use crate::auth::{hash_password, hash_token, verify_password};

/// `/`: the family's home or the DPO's console when signed in, else the sign-in page.
pub(crate) async fn root(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Ok(Some((session, _))) = cookie_session(&headers, &state).await {
        return Redirect::to(&format!("/family/{}", session.family)).into_response();
    }
    match cookie_dpo_session(&headers, &state).await {
        Ok(Some(_)) => Redirect::to("/dpo").into_response(),
        _ => Redirect::to("/sign-in").into_response(),
    }
}

pub(super) fn anonymous_page(lang: Lang, title_key: &str, csrf: String, path: String, notice: Option<String>) -> Page {
    Page { lang, title: lang.t(title_key), csrf, menu: Menu::None, nav: "", path, notice }
}

/// Adds the form cookie, when the page made a new one.
pub(super) fn with_cookie(mut response: Response, set: Option<HeaderValue>) -> Response {
    if let Some(value) = set {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    page: Page,
    error: Option<String>,
    login: String,
    /// The identity providers one may sign in with: (id, name).
    providers: Vec<(String, String)>,
}

fn providers(state: &ApiState) -> Vec<(String, String)> {
    state.oidc().configs().map(|p| (p.id.clone(), p.name.clone())).collect()
}

#[derive(Deserialize)]
pub(crate) struct SignInQuery {
    done: Option<String>,
}

pub(crate) async fn sign_in_page(State(state): State<ApiState>, Visitor(lang): Visitor, headers: HeaderMap, Query(query): Query<SignInQuery>) -> Response {
    let (csrf, set) = form_token(&headers);
    // A notice from a fixed list: the query names which, never its text.
    let notice = match query.done.as_deref() {
        Some("signed-out") => Some(lang.t("signed-out")),
        Some("account") => Some(lang.t("invitation-done")),
        Some("erased") => Some(lang.t("settings-erased")),
        _ => None,
    };
    let page = anonymous_page(lang, "sign-in-title", csrf, "/sign-in".to_owned(), notice);
    with_cookie(render(StatusCode::OK, &SignInPage { page, error: None, login: String::new(), providers: providers(&state) }), set)
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    login: String,
    password: String,
}

pub(crate) async fn sign_in(State(state): State<ApiState>, ClientIp(ip): ClientIp, posted: AnonForm<SignInForm>) -> Response {
    let AnonForm { lang, headers, form } = posted;
    // One namespace for members' and DPOs' names: whoever has it signs in.
    let claimant = match state.vault().member_by_login(&form.login).await {
        Ok(Some(member)) => Claimant::Member(member),
        Ok(None) => match state.vault().dpo_by_login(&form.login).await {
            Ok(Some(dpo)) => Claimant::Dpo(dpo),
            Ok(None) => Claimant::UnknownName(hash_token(&form.login.trim().to_lowercase())),
            Err(e) => return WebError::from_api(lang, e.into()).into_response(),
        },
        Err(e) => return WebError::from_api(lang, e.into()).into_response(),
    };
    match open_session(&state, ip, claimant, form.password).await {
        Ok(signed) => {
            let (home, cookies) = signed_in(&state, &signed);
            let mut response = Redirect::to(&home).into_response();
            for cookie in cookies {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            let (status, key) = match e.code {
                ErrorCode::Denied => (StatusCode::FORBIDDEN, "sign-in-password-off"),
                ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "sign-in-locked"),
                ErrorCode::Busy => (StatusCode::SERVICE_UNAVAILABLE, "sign-in-busy"),
                ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "sign-in-failed"),
                _ => return WebError::from_api(lang, e).into_response(),
            };
            let (csrf, set) = form_token(&headers);
            let page = anonymous_page(lang, "sign-in-title", csrf, "/sign-in".to_owned(), None);
            with_cookie(render(status, &SignInPage { page, error: Some(lang.t(key)), login: form.login, providers: providers(&state) }), set)
        }
    }
}

/// Where a session just opened goes, and the cookies that carry it (the session's and the CSRF token's).
pub(super) fn signed_in(state: &ApiState, signed: &SignedIn) -> (String, Vec<HeaderValue>) {
    let ttl = state.settings().session_ttl;
    let secure = state.settings().secure_cookies;
    let (cookie_name, home) = match signed.who {
        SignedAs::Member { family, .. } => (SESSION_COOKIE, format!("/family/{family}")),
        SignedAs::Dpo(_) => (DPO_SESSION_COOKIE, "/dpo".to_owned()),
    };
    let mut cookies = Vec::with_capacity(2);
    cookies.extend(session_cookie(cookie_name, &signed.token, ttl, secure).ok());
    let secure = if secure { "; Secure" } else { "" };
    cookies.extend(HeaderValue::from_str(&format!("{CSRF_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", signed.csrf, ttl.as_secs())).ok());
    (home, cookies)
}

#[derive(Deserialize)]
pub(crate) struct Nothing {}

/// Ends the session on the server and clears the cookies.
pub(crate) async fn sign_out(State(state): State<ApiState>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    state.vault().api().delete_session(&session.token_hash).await.in_lang(lang)?;
    tracing::info!(member = %session.member, "signed out");
    let mut response = Redirect::to("/sign-in?done=signed-out").into_response();
    for cleared in [cleared_cookie(SESSION_COOKIE), cleared_cookie(CSRF_COOKIE)] {
        if let Ok(value) = HeaderValue::from_str(&cleared) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    page: Page,
    token: String,
    /// When it ends, in words; `None` when the invitation cannot be used.
    valid_until: Option<String>,
    /// What the invitation is for, in words.
    intro: String,
    /// A DPO's or a child's invitation: their name is known already, so it is not asked.
    ask_name: bool,
    error: Option<String>,
    name: String,
    login: String,
}

/// Tokens are URL-safe base64 of 256 bits; anything else is no invitation (and is not looked up).
fn plausible_token(token: &str) -> bool {
    (32..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whose invitation it is: the words that introduce it.
#[derive(Clone, Copy)]
enum Invited {
    Guardian,
    Child,
    /// A guardian of a family imported from an archive: already a member, by name.
    GuardianSignIn,
    Dpo,
}

impl Invited {
    fn intro_key(self) -> &'static str {
        match self {
            Invited::Guardian => "invitation-intro",
            Invited::Child => "invitation-intro-child",
            Invited::GuardianSignIn => "invitation-intro-guardian-sign-in",
            Invited::Dpo => "invitation-intro-dpo",
        }
    }
}

/// When a usable invitation ends, in words, and whose it is.
async fn invitation_until(state: &ApiState, token: &str, lang: Lang) -> Result<(Option<String>, Invited), WebError> {
    if !plausible_token(token) {
        return Ok((None, Invited::Guardian));
    }
    let invitation = state.vault().invitation(&hash_token(token), OffsetDateTime::now_utc()).await.in_lang(lang)?;
    let invited = match invitation.as_ref().map(|i| i.kind) {
        Some(cartable_vault::InvitationKind::Dpo(_)) => Invited::Dpo,
        Some(cartable_vault::InvitationKind::FamilyChild(..)) => Invited::Child,
        Some(cartable_vault::InvitationKind::GuardianSignIn(..)) => Invited::GuardianSignIn,
        _ => Invited::Guardian,
    };
    Ok((invitation.map(|i| lang.t_with("invitation-valid-until", &[("date", Arg::Text(lang.date(i.expires_at)))])), invited))
}

fn invitation_response(lang: Lang, csrf: (String, Option<HeaderValue>), token: String, (valid_until, invited): (Option<String>, Invited), error: Option<&str>, form: (String, String)) -> Response {
    let status = match (&valid_until, error) {
        (None, _) => StatusCode::NOT_FOUND,
        (Some(_), Some(_)) => StatusCode::BAD_REQUEST,
        (Some(_), None) => StatusCode::OK,
    };
    // The page's own path carries the token: the language switch comes back to it.
    let page = anonymous_page(lang, "invitation-title", csrf.0, format!("/invitation/{token}"), None);
    let ask_name = matches!(invited, Invited::Guardian);
    let body = InvitationPage { page, token, valid_until, intro: lang.t(invited.intro_key()), ask_name, error: error.map(|k| lang.t(k)), name: form.0, login: form.1 };
    with_cookie(render(status, &body), csrf.1)
}

pub(crate) async fn invitation_page(State(state): State<ApiState>, Visitor(lang): Visitor, headers: HeaderMap, Path(token): Path<String>) -> Result<Response, WebError> {
    let valid = invitation_until(&state, &token, lang).await?;
    let token = if valid.0.is_some() { token } else { String::new() };
    Ok(invitation_response(lang, form_token(&headers), token, valid, None, Default::default()))
}

#[derive(Deserialize)]
pub(crate) struct InvitationForm {
    /// Absent from a DPO's and a child's invitation.
    #[serde(default)]
    name: String,
    login: String,
    password: String,
    password2: String,
}

pub(crate) async fn accept_invitation(State(state): State<ApiState>, Path(token): Path<String>, posted: AnonForm<InvitationForm>) -> Result<Response, WebError> {
    let AnonForm { lang, headers, form } = posted;
    let valid = invitation_until(&state, &token, lang).await?;
    let refuse = |key: &str| Ok(invitation_response(lang, form_token(&headers), token.clone(), valid.clone(), Some(key), (form.name.clone(), form.login.clone())));
    if valid.0.is_none() {
        return Ok(invitation_response(lang, form_token(&headers), String::new(), (None, Invited::Guardian), None, Default::default()));
    }
    if form.password != form.password2 {
        return refuse("invitation-password-mismatch");
    }
    let password = form.password.clone();
    let hashed = tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal"))?;
    let Ok(password_hash) = hashed else { return refuse("invitation-password-short") };
    let acceptance = Acceptance { name: &form.name, login: &form.login, password_hash: &password_hash };
    match state.vault().accept_invitation(&hash_token(&token), acceptance).await {
        Ok(accepted) => {
            match accepted {
                Accepted::Guardian { family, member } => tracing::info!(family = %family, member = %member, "invitation accepted"),
                Accepted::Child { family, member } => tracing::info!(family = %family, member = %member, "a child's invitation accepted"),
                Accepted::Dpo(dpo) => tracing::info!(dpo = %dpo, "DPO invitation accepted"),
                _ => tracing::info!("invitation accepted"),
            }
            Ok(Redirect::to("/sign-in?done=account").into_response())
        }
        Err(cartable_vault::Error::LoginTaken) => refuse("invitation-login-taken"),
        Err(cartable_vault::Error::InvalidInput(_)) => refuse("invitation-bad-input"),
        Err(cartable_vault::Error::InvitationInvalid) => Ok(invitation_response(lang, form_token(&headers), String::new(), (None, Invited::Guardian), None, Default::default())),
        Err(e) => Err(WebError::from_api(lang, e.into())),
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Page,
    family: String,
    error: Option<String>,
}

/// The member's own family, decided like the change (a family member reads their family: a guardian, a child from
/// the age of digital consent); another family's is a 404.
pub(super) async fn own_family(state: &ApiState, session: &crate::api::extract::MemberSession, family: &str, lang: Lang) -> Result<(FamilyId, cartable_vault::Permit), WebError> {
    let family: FamilyId = super::pages::parse(family, lang)?;
    let permit = decide(state, &Caller::Member(session.clone()), family, Action::Read, Resource::Family).await.in_lang(lang)?;
    Ok((family, permit))
}

/// `/family/{family}/password`: the member changes their own password.
pub(crate) async fn password_page(State(state): State<ApiState>, member: Member, Path(family): Path<String>) -> Result<Response, WebError> {
    let lang = member.lang;
    let (family, _) = own_family(&state, &member.session, &family, lang).await?;
    let page = member.page(lang.t("password-title"), "settings", None);
    Ok(render(StatusCode::OK, &PasswordPage { page, family: family.to_string(), error: None }))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    current: String,
    password: String,
    password2: String,
}

/// Changes the member's own password once the current one is given: their other sessions end, this one stays.
pub(crate) async fn change_password(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<PasswordForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let (family, permit) = own_family(&state, &session, &family, lang).await?;
    let refuse = |key: &str, status: StatusCode, session: crate::api::extract::MemberSession| {
        let csrf = crate::api::extract::cookie(&headers, CSRF_COOKIE).unwrap_or_default();
        let member = Member { session, csrf, lang, path: format!("/family/{family}/password") };
        let page = member.page(lang.t("password-title"), "settings", None);
        Ok(render(status, &PasswordPage { page, family: family.to_string(), error: Some(lang.t(key)) }))
    };
    // The current password is checked under the member's sign-in limits, as a sign-in is: a stolen session cannot
    // try passwords faster than the sign-in page allows.
    let subject = format!("member:{}", session.member);
    let (now, limits) = (OffsetDateTime::now_utc(), state.settings().member_login);
    if let cartable_vault::Attempt::Locked(_) = state.vault().api().count_attempt(&subject, now, limits).await.in_lang(lang)? {
        return refuse("sign-in-locked", StatusCode::TOO_MANY_REQUESTS, session);
    }
    let Some(verifying) = state.try_start_verification() else { return Err(WebError::new(lang, StatusCode::SERVICE_UNAVAILABLE, "error-busy")) };
    let stored = state.vault().password_hash(session.member).await.in_lang(lang)?.map(|(_, hash)| hash).unwrap_or_else(|| state.dummy_hash().to_owned());
    let current = form.current.clone();
    let matches = tokio::task::spawn_blocking(move || verify_password(&current, &stored)).await.map_err(|_| WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal"))?;
    drop(verifying);
    if !matches {
        state.vault().api().login_failed(&subject, now, limits).await.in_lang(lang)?;
        tracing::info!(member = %session.member, "a password change with a wrong current password was refused");
        return refuse("password-wrong-current", StatusCode::FORBIDDEN, session);
    }
    state.vault().api().login_succeeded(&subject).await.in_lang(lang)?;
    let hash = match super::settings::new_password_hash(&form.password, &form.password2, lang).await? {
        Ok(hash) => hash,
        Err(key) => return refuse(key, StatusCode::BAD_REQUEST, session),
    };
    state.vault().change_own_password(&permit, &hash, &session.token_hash).await.in_lang(lang)?;
    tracing::info!(member = %session.member, "password changed; the member's other sessions ended");
    Ok(Redirect::to(&format!("/family/{family}/settings?done=password")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Remembers the chosen language for a year and goes back to the page it was chosen on; a signed-in member's
/// e-mails come in it from then on.
pub(crate) async fn switch_language(State(state): State<ApiState>, headers: HeaderMap, Path(code): Path<String>, Query(query): Query<NextQuery>) -> Response {
    let Some(lang) = Lang::from_code(&code) else { return Redirect::to(&local_path(query.next.as_deref())).into_response() };
    if let Ok(Some((session, _))) = cookie_session(&headers, &state).await
        && let Err(e) = state.vault().set_member_language(session.family, session.member, lang.code()).await
    {
        tracing::warn!(member = %session.member, error = %e, "the member's language could not be kept");
    }
    let mut response = Redirect::to(&local_path(query.next.as_deref())).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("{LANG_COOKIE}={}; SameSite=Lax; Path=/; Max-Age=31536000", lang.code())) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub(crate) async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../static/cartable.css"))
}
