//! A member's own things: their notifications (`/family/{family}/notifications`), and their account
//! (`/family/{family}/account`): which notifications come by e-mail and to which address, their language, the
//! identity providers they linked, and whether they still sign in with a password.
//!
//! Each page and form decides the member's own reading of their family (`own_family`), and the vault's functions
//! take only that member's permit; a guardian turns another member's password sign-in off under the permit to
//! manage the family.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::{Action, MemberId, Resource};
use cartable_vault::{NotificationKind, NotificationSettings};
use serde::Deserialize;

use super::access::{Nothing, own_family};
use super::{InLang as _, Lang, Member, Posted, WebError, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::Caller;

/// The words of a notification and where it leads (the same for the list and the e-mail).
pub(crate) fn notification_text(lang: Lang, kind: NotificationKind, service: &str) -> String {
    let key = match kind {
        NotificationKind::Request => "notification-request",
        NotificationKind::FirstUse => "notification-first-use",
        NotificationKind::Expiring => "notification-expiring",
        NotificationKind::Ended => "notification-ended",
    };
    lang.t_with(key, &[("service", super::i18n::Arg::Text(service.to_owned()))])
}

/// The page a notification leads to, under the family.
pub(crate) fn notification_page(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Request => "requests",
        _ => "grants",
    }
}

struct NotificationLine {
    text: String,
    when: String,
    href: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    page: super::Page,
    family: String,
    notifications: Vec<NotificationLine>,
}

/// `/family/{family}/notifications`: the member's notifications, newest first; seeing them marks them read.
pub(crate) async fn notifications(State(state): State<ApiState>, member: Member, Path(family): Path<String>) -> Result<Response, WebError> {
    let lang = member.lang;
    let (family, permit) = own_family(&state, &member.session, &family, lang).await?;
    let list = state.vault().notifications(&permit, 100).await.in_lang(lang)?;
    let services: Vec<_> = list.iter().map(|n| n.service).collect();
    let names = state.vault().service_names(&services).await.in_lang(lang)?;
    let notifications = list
        .iter()
        .map(|n| NotificationLine {
            text: notification_text(lang, n.kind, names.get(&n.service).map_or("?", String::as_str)),
            when: lang.date_time(n.created_at),
            href: format!("/family/{family}/{}", notification_page(n.kind)),
            unread: !n.read,
        })
        .collect();
    state.vault().mark_notifications_read(&permit).await.in_lang(lang)?;
    let page = member.page(lang.t("notifications-title"), "notifications", None);
    Ok(render(StatusCode::OK, &NotificationsPage { page, family: family.to_string(), notifications }))
}

struct KindChoice {
    name: &'static str,
    label: String,
    checked: bool,
}

struct IdentityLine {
    id: String,
    name: String,
    /// When it was linked, in words; `None`: not linked.
    linked: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: super::Page,
    family: String,
    member: String,
    email: String,
    language: String,
    kinds: Vec<KindChoice>,
    /// No SMTP server is configured: e-mails are not sent, whatever is chosen.
    email_off: bool,
    identities: Vec<IdentityLine>,
    password_sign_in: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

async fn account_page(state: &ApiState, member: &Member, family: &str, notice: Option<&str>, error: Option<(&str, NotificationSettings)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let (family, permit) = own_family(state, &member.session, family, lang).await?;
    let (status, settings, error) = match error {
        Some((key, typed)) => (StatusCode::BAD_REQUEST, typed, Some(lang.t(key))),
        None => (StatusCode::OK, state.vault().notification_settings(&permit).await.in_lang(lang)?, None),
    };
    let linked = state.vault().linked_identities(family, member.session.member).await.in_lang(lang)?;
    let identities = state
        .oidc()
        .configs()
        .map(|p| IdentityLine { id: p.id.clone(), name: p.name.clone(), linked: linked.iter().find(|l| l.provider == p.id).map(|l| lang.date(l.linked_at)) })
        .collect();
    let kinds = NotificationKind::ALL
        .into_iter()
        .map(|k| KindChoice { name: k.as_str(), label: lang.t(&format!("account-kind-{}", k.as_str())), checked: settings.email_kinds.contains(&k) })
        .collect();
    let notice = notice.and_then(|done| match done {
        "saved" => Some(lang.t("account-saved")),
        "linked" => Some(lang.t("oidc-linked")),
        "unlinked" => Some(lang.t("account-unlinked")),
        "password" => Some(lang.t("account-password-sign-in-changed")),
        _ => None,
    });
    let page = member.page(lang.t("account-title"), "settings", notice);
    let body = AccountPage {
        page,
        family: family.to_string(),
        member: member.session.member.to_string(),
        email: settings.email.unwrap_or_default(),
        language: settings.language,
        kinds,
        email_off: !state.settings().email_configured,
        identities,
        password_sign_in: state.vault().password_sign_in(member.session.member).await.in_lang(lang)?,
        error,
    };
    Ok(render(status, &body))
}

/// `/family/{family}/account`.
pub(crate) async fn account(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(query): Query<DoneQuery>) -> Result<Response, WebError> {
    account_page(&state, &member, &family, query.done.as_deref(), None).await
}

#[derive(Deserialize)]
pub(crate) struct NotificationForm {
    #[serde(default)]
    email: String,
    language: String,
    kind_request: Option<String>,
    kind_first_use: Option<String>,
    kind_expiring: Option<String>,
    kind_ended: Option<String>,
}

/// Saves the member's notification choices; an address that is not one brings the page back with what was typed.
pub(crate) async fn save_notifications(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<NotificationForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let (family_id, permit) = own_family(&state, &session, &family, lang).await?;
    let chosen = [
        (NotificationKind::Request, &form.kind_request),
        (NotificationKind::FirstUse, &form.kind_first_use),
        (NotificationKind::Expiring, &form.kind_expiring),
        (NotificationKind::Ended, &form.kind_ended),
    ];
    let settings = NotificationSettings {
        email: Some(form.email.trim().to_owned()).filter(|e| !e.is_empty()),
        language: form.language.clone(),
        email_kinds: chosen.iter().filter(|(_, on)| on.is_some()).map(|(k, _)| *k).collect(),
    };
    match state.vault().set_notification_settings(&permit, &settings).await {
        Ok(()) => Ok(Redirect::to(&format!("/family/{family_id}/account?done=saved")).into_response()),
        Err(cartable_vault::Error::InvalidInput(_)) => {
            let member = Member::after_form(session, lang, &headers, format!("/family/{family_id}/account"));
            account_page(&state, &member, &family, None, Some(("account-bad-email", settings))).await
        }
        Err(e) => Err(WebError::from_api(lang, e.into())),
    }
}

/// Unlinks the member's account from a provider (their password sign-in comes back on).
pub(crate) async fn unlink(State(state): State<ApiState>, Path((family, provider)): Path<(String, String)>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    let (family, permit) = own_family(&state, &session, &family, lang).await?;
    state.vault().unlink_identity(&permit, &provider).await.in_lang(lang)?;
    Ok(Redirect::to(&format!("/family/{family}/account?done=unlinked")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PasswordSignInForm {
    on: String,
}

/// Turns a member's password sign-in on or off: their own (from their account page), or a guardian's choice for
/// another member (from the settings). Off only once they linked a provider.
pub(crate) async fn password_sign_in(State(state): State<ApiState>, Path((family, target)): Path<(String, String)>, posted: Posted<PasswordSignInForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let target: MemberId = super::pages::parse(&target, lang)?;
    let on = form.on == "1";
    let (family, own) = own_family(&state, &session, &family, lang).await?;
    let (permit, back) = if target == session.member {
        (own, format!("/family/{family}/account?done=password"))
    } else {
        let manage = decide(&state, &Caller::Member(session.clone()), family, Action::Manage, Resource::Family).await.in_lang(lang)?;
        (manage, format!("/family/{family}/settings?done=password-sign-in"))
    };
    match state.vault().set_password_sign_in(&permit, target, on).await {
        Ok(()) => Ok(Redirect::to(&back).into_response()),
        Err(cartable_vault::Error::InvalidInput(_)) => Err(WebError::new(lang, StatusCode::BAD_REQUEST, "account-password-needs-provider")),
        Err(e) => Err(WebError::from_api(lang, e.into())),
    }
}
