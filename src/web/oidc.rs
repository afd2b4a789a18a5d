//! Signing in with an identity provider, and linking one (OpenID Connect; the protocol is `crate::oidc`'s).
//!
//! A sign-in's start keeps its state, nonce and PKCE verifier in the vault (`oidc_pending`, used once) and gives
//! the browser a cookie of its own (SameSite=Lax, so that it comes back with the provider's redirect); the
//! provider's answer is taken only with that state, from that browser, for that provider, once. An identity opens
//! the session of the member who linked it, and nothing else: an unknown identity gets a page that says so, never
//! an account. The session's cookies are SameSite=Strict, which a browser does not send on a redirect that began
//! at another site: the answer is a page that moves on by itself (and a link), a navigation of this site.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::{Action, FamilyId, MemberId, Principal, Resource};
use cartable_vault::PendingSignIn;
use serde::Deserialize;
use time::OffsetDateTime;

use super::access::{Nothing, anonymous_page, signed_in};
use super::{InLang as _, Lang, Page, Posted, Visitor, WebError, render};
use crate::api::ApiState;
use crate::api::extract::{ClientIp, cookie};
use crate::api::session::{SignedAs, open_session_as};
use crate::auth::{hash_token, new_secret};
use crate::oidc::OidcError;

/// The browser's own cookie for a sign-in in progress (its hash is kept with the sign-in).
const OIDC_COOKIE: &str = "cartable_oidc";
/// How long a sign-in at a provider may take.
const PENDING_MINUTES: i64 = 10;
/// The sign-ins at a provider one client address may have under way, started within `PENDING_MINUTES`: each keeps
/// a row that long (until its answer comes back and uses it up, which gives the start back), and a person needs a
/// few (the families behind a school's one address, a few dozen at once).
const STARTS_PER_ADDRESS: u32 = 60;

/// What the starts of one client address are counted under.
fn starts_of(ip: Option<std::net::IpAddr>) -> String {
    format!("oidc-start:{}", ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
}

#[derive(Template)]
#[template(path = "oidc_outcome.html")]
struct OutcomePage {
    page: Page,
    heading: String,
    message: String,
    /// Where to go on: (address, words); `refresh`: go there at once.
    next: (String, String),
    refresh: bool,
}

fn page(lang: Lang, status: StatusCode, heading: &str, message: &str, next: (String, &str), refresh: bool) -> Response {
    let page = anonymous_page(lang, heading, String::new(), "/sign-in".to_owned(), None);
    render(status, &OutcomePage { page, heading: lang.t(heading), message: lang.t(message), next: (next.0, lang.t(next.1)), refresh })
}

/// The page that ends a sign-in at a provider, whatever its outcome (the browser's cookie for it is cleared).
fn outcome(lang: Lang, status: StatusCode, heading: &str, message: &str, next: (String, &str), refresh: bool) -> Response {
    let mut response = page(lang, status, heading, message, next, refresh);
    if let Ok(cleared) = HeaderValue::from_str(&format!("{OIDC_COOKIE}=; HttpOnly; SameSite=Lax; Path=/sign-in/oidc; Max-Age=0")) {
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    response
}

/// A refused answer: what went wrong, in words, and no session.
fn refused(lang: Lang, status: StatusCode, message: &str) -> Response {
    outcome(lang, status, "oidc-refused-title", message, ("/sign-in".to_owned(), "oidc-back-to-sign-in"), false)
}

fn message_of(e: &OidcError) -> (StatusCode, &'static str) {
    match e {
        OidcError::UnknownProvider => (StatusCode::NOT_FOUND, "oidc-unknown-provider"),
        OidcError::Unreachable => (StatusCode::BAD_GATEWAY, "oidc-unreachable"),
        OidcError::CodeRefused => (StatusCode::BAD_REQUEST, "oidc-code-refused"),
        OidcError::NoIdToken | OidcError::Forged | OidcError::MissingClaim(_) => (StatusCode::BAD_REQUEST, "oidc-token-refused"),
        OidcError::Expired => (StatusCode::BAD_REQUEST, "oidc-token-expired"),
        OidcError::WrongNonce => (StatusCode::BAD_REQUEST, "oidc-wrong-nonce"),
    }
}

/// Sends the browser to the provider, keeping what its answer is checked against.
async fn begin(state: &ApiState, ip: Option<std::net::IpAddr>, lang: Lang, provider: &str, link: Option<(MemberId, FamilyId)>) -> Result<Response, WebError> {
    let now = OffsetDateTime::now_utc();
    let window = time::Duration::minutes(PENDING_MINUTES);
    let limits = cartable_vault::LoginLimits { max_failures: STARTS_PER_ADDRESS, window, lock: window };
    if let cartable_vault::Attempt::Locked(until) = state.vault().api().count_attempt(&starts_of(ip), now, limits).await.in_lang(lang)? {
        let mut response = refused(lang, StatusCode::TOO_MANY_REQUESTS, "oidc-too-many");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((until - now).whole_seconds().max(1)));
        return Ok(response);
    }
    let started = match state.oidc().start(provider).await {
        Ok(started) => started,
        Err(e) => {
            let (status, message) = message_of(&e);
            return Ok(refused(lang, status, message));
        }
    };
    let browser = new_secret();
    let pending = PendingSignIn {
        provider: provider.to_owned(),
        browser_hash: hash_token(&browser),
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        link,
    };
    let expires_at = now + window;
    state.vault().start_provider_sign_in(&hash_token(&started.state), &pending, expires_at).await.in_lang(lang)?;
    let secure = if state.settings().secure_cookies { "; Secure" } else { "" };
    // Linking starts from a form, and a browser holds a redirect after a form to the form's page's `form-action`
    // (this site only): that answer is a page that moves on to the provider by itself (and a link).
    let mut response = match link {
        None => Redirect::to(&started.url).into_response(),
        Some(_) => page(lang, StatusCode::OK, "oidc-to-provider-title", "oidc-to-provider", (started.url, "oidc-continue"), true),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{OIDC_COOKIE}={browser}; HttpOnly; SameSite=Lax; Path=/sign-in/oidc; Max-Age={}{secure}", PENDING_MINUTES * 60)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `/sign-in/oidc/{provider}`: signing in with a provider.
pub(crate) async fn start(State(state): State<ApiState>, ClientIp(ip): ClientIp, Visitor(lang): Visitor, Path(provider): Path<String>) -> Result<Response, WebError> {
    begin(&state, ip, lang, &provider, None).await
}

/// `POST /family/{family}/account/identities/{provider}`: a signed-in member links their account to a provider.
pub(crate) async fn link(
    State(state): State<ApiState>,
    ClientIp(ip): ClientIp,
    Path((family, provider)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    let family = super::pages::parse(&family, lang)?;
    if session.family != family {
        return Err(WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"));
    }
    begin(&state, ip, lang, &provider, Some((session.member, family))).await
}

#[derive(Deserialize)]
pub(crate) struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `/sign-in/oidc/{provider}/callback`: the provider's answer.
pub(crate) async fn callback(
    State(state): State<ApiState>,
    ClientIp(ip): ClientIp,
    Visitor(lang): Visitor,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(answer): Query<Answer>,
) -> Result<Response, WebError> {
    let now = OffsetDateTime::now_utc();
    // The state first: without the sign-in it names, from this browser, nothing else is looked at.
    let plausible = |s: &String| (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(answer_state) = answer.state.as_ref().filter(|s| plausible(s)) else { return Ok(refused(lang, StatusCode::BAD_REQUEST, "oidc-bad-state")) };
    let Some(pending) = state.vault().take_provider_sign_in(&hash_token(answer_state), now).await.in_lang(lang)? else {
        tracing::info!(provider = %provider, "a provider's answer with an unknown, used or expired state was refused");
        return Ok(refused(lang, StatusCode::BAD_REQUEST, "oidc-bad-state"));
    };
    let browser = cookie(&headers, OIDC_COOKIE).map(|c| hash_token(&c));
    if browser.as_deref() != Some(pending.browser_hash.as_str()) || pending.provider != provider {
        tracing::info!(provider = %provider, "a provider's answer came back to another browser or provider: refused");
        return Ok(refused(lang, StatusCode::BAD_REQUEST, "oidc-bad-state"));
    }
    // The sign-in's row is used up: its start no longer counts against the address.
    state.vault().api().attempt_returned(&starts_of(ip)).await.in_lang(lang)?;
    if answer.error.is_some() {
        return Ok(refused(lang, StatusCode::BAD_REQUEST, "oidc-provider-said-no"));
    }
    let Some(code) = answer.code.filter(|c| !c.is_empty() && c.len() <= 2048) else { return Ok(refused(lang, StatusCode::BAD_REQUEST, "oidc-provider-said-no")) };
    let subject = match state.oidc().finish(&provider, &code, &pending.pkce_verifier, &pending.nonce).await {
        Ok(subject) => subject,
        Err(e) => {
            let (status, message) = message_of(&e);
            return Ok(refused(lang, status, message));
        }
    };
    match pending.link {
        Some((member, family)) => {
            // The member who started the link, as they are now: their own reading of their family.
            let decision = state.vault().authorize(family, Principal::Member(member), Action::Read, Resource::Family).await.in_lang(lang)?;
            let Ok(permit) = decision.into_permit() else { return Ok(refused(lang, StatusCode::FORBIDDEN, "oidc-link-denied")) };
            match state.vault().link_identity(&permit, &provider, &subject).await {
                Ok(()) => Ok(outcome(lang, StatusCode::OK, "oidc-linked-title", "oidc-linked", (format!("/family/{family}/account?done=linked"), "oidc-continue"), true)),
                Err(cartable_vault::Error::IdentityTaken) => Ok(refused(lang, StatusCode::CONFLICT, "oidc-identity-taken")),
                Err(e) => Err(WebError::from_api(lang, e.into())),
            }
        }
        None => {
            let Some((member, family)) = state.vault().member_by_identity(&provider, &subject).await.in_lang(lang)? else {
                tracing::info!(provider = %provider, "a sign-in with an identity no member linked was refused");
                return Ok(refused(lang, StatusCode::FORBIDDEN, "oidc-unknown-identity"));
            };
            let Some(role) = state.vault().api().member_role(family, member).await.in_lang(lang)? else {
                return Ok(refused(lang, StatusCode::FORBIDDEN, "oidc-unknown-identity"));
            };
            let signed = open_session_as(&state, SignedAs::Member { member, family, role }).await.map_err(|e| WebError::from_api(lang, e))?;
            tracing::info!(member = %member, provider = %provider, "signed in through an identity provider");
            let (home, cookies) = signed_in(&state, &signed);
            let mut response = outcome(lang, StatusCode::OK, "oidc-signed-in-title", "oidc-signed-in", (home, "oidc-continue"), true);
            for cookie in cookies {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
    }
}
