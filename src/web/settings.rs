//! The family's settings (`/family/{family}/settings`): who is in the family and who signs in, the invitations of a
//! second guardian and of a child from the age of digital consent (a one-time link shown once), a minor child's new
//! password, the prohibitions ("never share"), the download of the family's archive (as this member may see it),
//! and erasing the family after its name is typed back.
//!
//! Every page and form passes the API's gate like the other pages (`decide`): reading the family for the page,
//! managing it for each change (a guardian's; an adult child manages their own prohibitions through their
//! collections, as in the API), and the vault's functions check the permit and the age rules again. Another
//! family's member gets the 404 of a family that does not exist.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::lifecycle::AgeStage;
use cartable_consent::{Action, Doctype, FamilyId, ForbidScope, MemberId, Resource, Role};
use cartable_vault::InvitationKind;
use serde::Deserialize;
use time::OffsetDateTime;

use super::access::Nothing;
use super::i18n::Arg;
use super::pages::{Household, parse, register};
use super::{CSRF_COOKIE, InLang as _, Lang, Member, Posted, WebError, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::{Caller, MemberSession, SESSION_COOKIE};
use crate::api::session::cleared_cookie;
use crate::auth::{hash_password, hash_token, new_secret};

/// How long a member's invitation link may be used.
const INVITATION_DAYS: i64 = 7;

/// One member of the family, as the settings list them, with what this viewer may do about them.
pub(crate) struct MemberLine {
    id: String,
    name: String,
    role: String,
    age: String,
    signs_in: String,
    /// A child from the age of digital consent: the guardian may send them a sign-in link.
    invite: bool,
    /// A minor child who signs in: the guardian may set them a new password.
    reset: bool,
    /// Another member who linked an identity provider: whether they sign in with a password too, which a
    /// guardian may change.
    password_sign_in: Option<bool>,
}

pub(crate) struct InvitationLine {
    what: String,
    by: String,
    until: String,
}

/// One doctype's prohibition, set or not, and whether this viewer may change it.
pub(crate) struct ProhibitionLine {
    doctype: &'static str,
    label: String,
    forbidden: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: super::Page,
    family: String,
    family_name: String,
    is_guardian: bool,
    members: Vec<MemberLine>,
    invitations: Vec<InvitationLine>,
    /// `family` (a guardian's, over the minors), `own` (an adult child's own) or `none` (read only).
    scope: &'static str,
    prohibitions: Vec<ProhibitionLine>,
    /// A link just made: what it is for and the link itself, shown this once.
    new_link: Option<(String, String)>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

fn notice(lang: Lang, done: Option<&str>) -> Option<String> {
    let key = match done? {
        "forbidden" => "settings-forbidden",
        "lifted" => "settings-lifted",
        "password" => "password-changed",
        "child-password" => "settings-child-password-set",
        "password-sign-in" => "settings-password-sign-in-changed",
        _ => return None,
    };
    Some(lang.t(key))
}

/// What the page shows besides the family itself.
#[derive(Default)]
struct Extra {
    notice: Option<String>,
    new_link: Option<(String, String)>,
    error: Option<String>,
}

async fn settings_page(state: &ApiState, member: &Member, family: FamilyId, extra: Extra, status: StatusCode) -> Result<Response, WebError> {
    let lang = member.lang;
    let (household, permit) = Household::read_with_permit(state, &member.session, family, lang).await?;
    let family_name = state.vault().family_name(&permit).await.in_lang(lang)?;
    let signing_in = state.vault().members_signing_in(&permit).await.in_lang(lang)?;
    let role = household.viewer_role();
    let is_guardian = role == Some(Role::Guardian);
    let invitations = if is_guardian { state.vault().pending_invitations(&permit).await.in_lang(lang)? } else { Vec::new() };
    // Who linked a provider, and whether they still sign in with a password (for a guardian's choice).
    let mut password_sign_in = std::collections::HashMap::new();
    if is_guardian && !state.oidc().is_empty() {
        for m in household.members.iter().filter(|m| m.id != household.viewer) {
            if !state.vault().linked_identities(family, m.id).await.in_lang(lang)?.is_empty() {
                password_sign_in.insert(m.id, state.vault().password_sign_in(m.id).await.in_lang(lang)?);
            }
        }
    }
    let members = household
        .members
        .iter()
        .map(|m| {
            let stage = if m.role == Role::Child { household.stage(m.id, state) } else { None };
            let signs_in = signing_in.contains(&m.id);
            MemberLine {
                id: m.id.to_string(),
                name: m.name.clone(),
                role: lang.t(&format!("role-{}", m.role.as_str())),
                age: household.age(m).map(|a| lang.t_with("home-child-age", &[("age", Arg::Number(f64::from(a)))])).unwrap_or_default(),
                signs_in: lang.t(match (signs_in, stage) {
                    (true, _) => "settings-signs-in",
                    (false, Some(AgeStage::UnderConsentAge)) => "settings-too-young",
                    (false, _) => "settings-no-sign-in",
                }),
                invite: is_guardian && matches!(stage, Some(AgeStage::ConsentAge | AgeStage::Adult)),
                reset: is_guardian && signs_in && matches!(stage, Some(AgeStage::UnderConsentAge | AgeStage::ConsentAge)),
                password_sign_in: password_sign_in.get(&m.id).copied(),
            }
        })
        .collect();
    let invitations = invitations
        .iter()
        .map(|i| InvitationLine {
            what: match i.kind {
                InvitationKind::FamilyChild(_, member) | InvitationKind::GuardianSignIn(_, member) => {
                    lang.t_with("settings-invitation-child", &[("name", Arg::Text(household.name(member, lang)))])
                }
                _ => lang.t("settings-invitation-guardian"),
            },
            by: i.invited_by.map(|m| household.name(m, lang)).unwrap_or_else(|| lang.t("actor-operator")),
            until: lang.t_with("invitation-valid-until", &[("date", Arg::Text(lang.date(i.expires_at)))]),
        })
        .collect();
    // The prohibitions: a guardian's over the minors; an adult child's own; a minor child sees the family's.
    let adult = household.stage(household.viewer, state) == Some(AgeStage::Adult);
    let (scope, forbid_scope) = match role {
        Some(Role::Guardian) => ("family", ForbidScope::Minors),
        Some(Role::Child) if adult => ("own", ForbidScope::Adult(household.viewer)),
        _ => ("none", ForbidScope::Minors),
    };
    let register = register(state, &member.session, family, lang).await?;
    let forbids = state.vault().forbids(&register).await.in_lang(lang)?;
    let prohibitions = Doctype::ALL
        .iter()
        .map(|d| ProhibitionLine { doctype: d.as_str(), label: lang.doctype(*d), forbidden: forbids.iter().any(|f| f.doctype == *d && f.scope == forbid_scope) })
        .collect();
    let page = member.page(lang.t("settings-title"), "settings", extra.notice);
    let body = SettingsPage { page, family: family.to_string(), family_name, is_guardian, members, invitations, scope, prohibitions, new_link: extra.new_link, error: extra.error };
    Ok(render(status, &body))
}

/// `/family/{family}/settings`.
pub(crate) async fn settings(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(query): Query<DoneQuery>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    settings_page(&state, &member, family, Extra { notice: notice(lang, query.done.as_deref()), ..Default::default() }, StatusCode::OK).await
}

/// The member of a posted form, to show the settings page again.
fn member_of(session: MemberSession, lang: Lang, headers: &HeaderMap, family: FamilyId) -> Member {
    Member::after_form(session, lang, headers, format!("/family/{family}/settings"))
}

async fn manage(state: &ApiState, session: &MemberSession, family: FamilyId, lang: Lang) -> Result<cartable_vault::Permit, WebError> {
    decide(state, &Caller::Member(session.clone()), family, Action::Manage, Resource::Family).await.in_lang(lang)
}

/// The link of an invitation on this server: from the configured public address, else from the address the guardian
/// is using.
fn invitation_link(state: &ApiState, headers: &HeaderMap, token: &str) -> String {
    crate::api::public_link(state.settings(), headers, &format!("/invitation/{token}"))
}

async fn invite(state: &ApiState, headers: &HeaderMap, posted: Posted<impl Sized>, family: &str, child: Option<&str>) -> Result<Response, WebError> {
    let Posted { session, lang, .. } = posted;
    let family: FamilyId = parse(family, lang)?;
    let permit = manage(state, &session, family, lang).await?;
    let child: Option<MemberId> = child.map(|c| c.parse().map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid"))).transpose()?;
    let kind = match child {
        Some(child) => InvitationKind::FamilyChild(family, child),
        None => InvitationKind::FamilyGuardian(family),
    };
    let token = new_secret();
    let expires_at = OffsetDateTime::now_utc() + time::Duration::days(INVITATION_DAYS);
    match state.vault().invite(&permit, kind, &hash_token(&token), expires_at).await {
        Ok(()) => {}
        Err(cartable_vault::Error::Denied(_)) => {
            let member = member_of(session, lang, headers, family);
            return settings_page(state, &member, family, Extra { error: Some(lang.t("settings-child-too-young")), ..Default::default() }, StatusCode::FORBIDDEN).await;
        }
        Err(e) => return Err(WebError::from_api(lang, e.into())),
    }
    tracing::info!(family = %family, by = %session.member, "an invitation was made from the settings");
    let member = member_of(session, lang, headers, family);
    let (household, _) = Household::read_with_permit(state, &member.session, family, lang).await?;
    let what = match child {
        Some(child) => lang.t_with("settings-link-child", &[("name", Arg::Text(household.name(child, lang)))]),
        None => lang.t("settings-link-guardian"),
    };
    let link = invitation_link(state, headers, &token);
    settings_page(state, &member, family, Extra { new_link: Some((what, link)), ..Default::default() }, StatusCode::OK).await
}

/// `POST /family/{family}/settings/invite-guardian`: a one-time link for another guardian.
pub(crate) async fn invite_guardian(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    invite(&state, &headers, posted, &family, None).await
}

#[derive(Deserialize)]
pub(crate) struct ChildForm {
    child: String,
}

/// `POST /family/{family}/settings/invite-child`: a one-time link for a child from the age of digital consent to set
/// their sign-in name and password.
pub(crate) async fn invite_child(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<ChildForm>) -> Result<Response, WebError> {
    let child = posted.form.child.clone();
    invite(&state, &headers, posted, &family, Some(&child)).await
}

#[derive(Deserialize)]
pub(crate) struct ProhibitionForm {
    doctype: String,
    /// `forbid` or `lift`.
    change: String,
    /// `family` (a guardian's, over the minors) or `own` (an adult child's).
    #[serde(default)]
    scope: String,
}

/// `POST /family/{family}/settings/prohibitions`: sets or lifts one, with the API's rules: the family's by a
/// guardian (managing the family), an adult child's own by them (managing their collection); the vault's age rules
/// then check the member's standing, and the change is in the ledger.
pub(crate) async fn prohibition(State(state): State<ApiState>, Path(family): Path<String>, posted: Posted<ProhibitionForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let family: FamilyId = parse(&family, lang)?;
    let invalid = || WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid");
    let doctype: Doctype = form.doctype.parse().map_err(|_| invalid())?;
    let scope = match form.scope.as_str() {
        "" | "family" => ForbidScope::Minors,
        "own" => ForbidScope::Adult(session.member),
        _ => return Err(invalid()),
    };
    let resource = match scope {
        ForbidScope::Minors => Resource::Family,
        ForbidScope::Adult(child) => Resource::Collection { child, doctype },
    };
    let permit = decide(&state, &Caller::Member(session.clone()), family, Action::Manage, resource).await.in_lang(lang)?;
    let done = match form.change.as_str() {
        "forbid" => {
            state.vault().forbid(&permit, doctype, scope, None).await.in_lang(lang)?;
            "forbidden"
        }
        "lift" => {
            state.vault().lift_prohibition(&permit, doctype, scope, None).await.in_lang(lang)?;
            "lifted"
        }
        _ => return Err(invalid()),
    };
    tracing::info!(family = %family, doctype = doctype.as_str(), change = done, "prohibition changed from the settings");
    Ok(Redirect::to(&format!("/family/{family}/settings?done={done}#prohibitions")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct NewPasswordForm {
    password: String,
    password2: String,
}

/// A new password's hash, or the key of what is wrong with it.
pub(crate) async fn new_password_hash(password: &str, again: &str, lang: Lang) -> Result<Result<String, &'static str>, WebError> {
    if password != again {
        return Ok(Err("invitation-password-mismatch"));
    }
    let password = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal"))?;
    Ok(hashed.map_err(|_| "invitation-password-short"))
}

/// `POST /family/{family}/settings/children/{child}/password`: a guardian sets a minor child's new password (the
/// child's sessions end); an adult's password is theirs alone.
pub(crate) async fn child_password(State(state): State<ApiState>, headers: HeaderMap, Path((family, child)): Path<(String, String)>, posted: Posted<NewPasswordForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let family: FamilyId = parse(&family, lang)?;
    let permit = manage(&state, &session, family, lang).await?;
    let child: MemberId = parse(&child, lang)?;
    let hash = match new_password_hash(&form.password, &form.password2, lang).await? {
        Ok(hash) => hash,
        Err(key) => {
            let member = member_of(session, lang, &headers, family);
            return settings_page(&state, &member, family, Extra { error: Some(lang.t(key)), ..Default::default() }, StatusCode::BAD_REQUEST).await;
        }
    };
    state.vault().set_minor_password(&permit, child, &hash).await.in_lang(lang)?;
    tracing::info!(family = %family, child = %child, "a guardian set a child's password");
    Ok(Redirect::to(&format!("/family/{family}/settings?done=child-password")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    name: String,
}

/// `POST /family/{family}/settings/delete`: erases the family once its name is typed back (the vault destroys its
/// key, removes its rows and files, appends the erasure to its ledger and ends every session).
pub(crate) async fn delete(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<DeleteForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let family: FamilyId = parse(&family, lang)?;
    let permit = manage(&state, &session, family, lang).await?;
    let name = state.vault().family_name(&permit).await.in_lang(lang)?;
    if form.name.trim() != name.trim() {
        let member = member_of(session, lang, &headers, family);
        return settings_page(&state, &member, family, Extra { error: Some(lang.t("settings-delete-mismatch")), ..Default::default() }, StatusCode::BAD_REQUEST).await;
    }
    state.vault().delete_family(&permit).await.in_lang(lang)?;
    state.vault().api().delete_session(&session.token_hash).await.in_lang(lang)?;
    tracing::info!(family = %family, by = %session.member, "family erased from the web UI");
    let mut response = Redirect::to("/sign-in?done=erased").into_response();
    for cleared in [cleared_cookie(SESSION_COOKIE), cleared_cookie(CSRF_COOKIE)] {
        if let Ok(value) = HeaderValue::from_str(&cleared) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct ArchiveForm {
    #[serde(default)]
    passphrase: String,
}

/// `POST /family/{family}/settings/archive`: the family's archive as this member may see it, encrypted to the
/// passphrase if one is typed. It is the API's download (`api::exports`): every part decided and logged for them.
pub(crate) async fn archive(State(state): State<ApiState>, headers: HeaderMap, Path(family): Path<String>, posted: Posted<ArchiveForm>) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let family: FamilyId = parse(&family, lang)?;
    if !form.passphrase.is_empty() && form.passphrase.chars().count() < 8 {
        let member = member_of(session, lang, &headers, family);
        return settings_page(&state, &member, family, Extra { error: Some(lang.t("settings-archive-short")), ..Default::default() }, StatusCode::BAD_REQUEST).await;
    }
    crate::api::exports::stream_archive(&state, Caller::Member(session), family, Some(form.passphrase)).await.in_lang(lang)
}
