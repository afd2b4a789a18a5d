//! The family's pages: home, requests (approve, deny), grants (revoke) and history. Each one passes the API's gate
//! (`decide`) for what it shows, so every page view is a logged decision and another family's member gets a 404.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::ledger::{Actor, EventType, Receipt, SealedChangeKind};
use cartable_consent::lifecycle::{AgeStage, age_stage, missing_approvals};
use cartable_consent::{Action, FamilyId, Grant, GrantId, GrantState, Grantee, MemberId, Resource, Role, ServiceId};
use cartable_vault::{LedgerFilter, MemberInfo, Permit, ServiceProfile};
use serde::Deserialize;
use time::OffsetDateTime;

use super::access::Nothing;
use super::i18n::Arg;
use super::{InLang as _, Lang, Member, Page, Posted, WebError, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::{Caller, MemberSession};
use crate::api::family::manage_grant;

/// Entries per page of the history.
const HISTORY_PAGE: u64 = 50;
/// How far back the grants page looks for each grant's accesses (entries of the ledger), and how many it shows.
const GRANT_ACCESS_WINDOW: u64 = 1000;
const GRANT_ACCESSES_SHOWN: usize = 5;
/// How far back the home page looks for services' accesses (entries of the ledger).
const RECENT_WINDOW: u64 = 500;

pub(crate) fn parse<T: std::str::FromStr>(text: &str, lang: Lang) -> Result<T, WebError> {
    text.parse().map_err(|_| WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"))
}

/// What a page of one family knows about it: who is in it, and the services it deals with.
pub(crate) struct Household {
    pub family: FamilyId,
    pub viewer: MemberId,
    pub members: Vec<MemberInfo>,
    /// The services' names and descriptions.
    pub services: HashMap<ServiceId, ServiceProfile>,
    pub now: OffsetDateTime,
}

impl Household {
    /// Reads the family's members, a decision of its own (logged), for the viewer (a guardian, or a child from the
    /// age of digital consent: `base.child-family`).
    pub async fn read(state: &ApiState, session: &MemberSession, family: FamilyId, lang: Lang) -> Result<Household, WebError> {
        Ok(Household::read_with_permit(state, session, family, lang).await?.0)
    }

    /// The same, with the permit of the reading (for more of the family's own: its name, its invitations).
    pub async fn read_with_permit(state: &ApiState, session: &MemberSession, family: FamilyId, lang: Lang) -> Result<(Household, Permit), WebError> {
        let permit = decide(state, &Caller::Member(session.clone()), family, Action::Read, Resource::Family).await.in_lang(lang)?;
        let members = state.vault().list_members(&permit).await.in_lang(lang)?;
        Ok((Household { family, viewer: session.member, members, services: HashMap::new(), now: OffsetDateTime::now_utc() }, permit))
    }

    pub async fn know_services(&mut self, state: &ApiState, ids: impl Iterator<Item = ServiceId>, lang: Lang) -> Result<(), WebError> {
        let mut ids: Vec<ServiceId> = ids.collect();
        ids.sort();
        ids.dedup();
        self.services = state.vault().service_profiles(&ids).await.in_lang(lang)?;
        Ok(())
    }

    pub fn member(&self, id: MemberId) -> Option<&MemberInfo> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn name(&self, id: MemberId, lang: Lang) -> String {
        self.member(id).map_or_else(|| lang.t("actor-unknown"), |m| m.name.clone())
    }

    fn service(&self, id: ServiceId, lang: Lang) -> String {
        self.services.get(&id).map_or_else(|| lang.t("actor-unknown-service"), |s| s.name.clone())
    }

    /// What the service says it is, if it said.
    fn service_description(&self, id: ServiceId) -> Option<&str> {
        self.services.get(&id).and_then(|s| s.description.as_deref())
    }

    pub fn viewer_role(&self) -> Option<Role> {
        self.member(self.viewer).map(|m| m.role)
    }

    fn as_rules_member(&self, m: &MemberInfo) -> cartable_consent::Member {
        cartable_consent::Member { id: m.id, family: self.family, role: m.role, birth_date: m.birth_date }
    }

    pub fn age(&self, m: &MemberInfo) -> Option<i32> {
        let birth = m.birth_date?;
        let today = self.now.date();
        let mut years = today.year() - birth.year();
        if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
            years -= 1;
        }
        Some(years)
    }

    pub fn stage(&self, child: MemberId, state: &ApiState) -> Option<AgeStage> {
        self.member(child).and_then(|m| age_stage(&self.as_rules_member(m), state.vault().age_rules(), self.now))
    }
}

/// The family's register (grants and ledger), one logged decision for the page.
pub(crate) async fn register(state: &ApiState, session: &MemberSession, family: FamilyId, lang: Lang) -> Result<Permit, WebError> {
    decide(state, &Caller::Member(session.clone()), family, Action::List, Resource::Register).await.in_lang(lang)
}

fn service_of(grant: &Grant) -> Option<ServiceId> {
    match grant.grantee {
        Grantee::Service(s) => Some(s),
        Grantee::Member(_) => None,
    }
}

// --- requests ----------------------------------------------------------------------------------------------------

/// A request explained in plain words, with the buttons this viewer may use.
pub(crate) struct RequestCard {
    id: String,
    base: String,
    heading: String,
    facts: Vec<(String, String)>,
    notes: Vec<String>,
    can_decide: bool,
    approve_label: String,
    deny_label: String,
}

fn grantee_name(household: &Household, grant: &Grant, lang: Lang) -> String {
    match grant.grantee {
        Grantee::Service(s) => household.service(s, lang),
        Grantee::Member(m) => household.name(m, lang),
    }
}

/// Who asks, in facts of a card: the grantee's name, and the service's description when it gave one.
fn who_asks(household: &Household, grant: &Grant, lang: Lang) -> Vec<(String, String)> {
    let mut facts = vec![(lang.t("request-who"), grantee_name(household, grant, lang))];
    if let Some(description) = service_of(grant).and_then(|s| household.service_description(s)) {
        facts.push((lang.t("request-service-description"), description.to_owned()));
    }
    facts
}

fn request_card(state: &ApiState, household: &Household, grant: &Grant, lang: Lang) -> RequestCard {
    let child = household.name(grant.child, lang);
    let who = grantee_name(household, grant, lang);
    let data = lang.list(&grant.doctypes.iter().map(|d| lang.doctype(*d)).collect::<Vec<_>>());
    let actions = lang.list(&grant.actions.iter().map(|a| lang.action(*a)).collect::<Vec<_>>());
    let purpose = if lang == Lang::En { format!("“{}”", grant.purpose) } else { format!("«\u{a0}{}\u{a0}»", grant.purpose) };
    let mut facts = who_asks(household, grant, lang);
    facts.extend([
        (lang.t("request-child"), child.clone()),
        (lang.t("request-data"), data),
        (lang.t("request-actions"), actions),
        (lang.t("request-purpose"), purpose),
        (lang.t("request-basis"), lang.legal_basis(grant.legal_basis)),
        (lang.t("request-duration"), lang.t_with("request-days", &[("days", Arg::Number(f64::from(grant.duration_days)))])),
    ]);
    let mut notes = vec![lang.t_with("request-asked-on", &[("date", Arg::Text(lang.date(grant.requested_at)))])];
    let child_info = household.member(grant.child);
    let missing = child_info.map(|c| missing_approvals(grant, &household.as_rules_member(c), state.vault().age_rules(), household.now)).unwrap_or_default();
    match household.stage(grant.child, state) {
        Some(AgeStage::ConsentAge) => {
            let age = child_info.and_then(|c| household.age(c)).unwrap_or(0);
            notes.push(lang.t_with("request-co-approval", &[("child", Arg::Text(child.clone())), ("age", Arg::Number(f64::from(age)))]));
        }
        Some(AgeStage::Adult) => notes.push(lang.t_with("request-adult", &[("child", Arg::Text(child.clone()))])),
        _ => {}
    }
    let approvers: Vec<String> = grant.approvals.iter().map(|a| format!("{} ({})", household.name(a.member, lang), lang.t(&format!("role-{}", a.role.as_str())))).collect();
    notes.push(if approvers.is_empty() { lang.t("request-approved-none") } else { lang.t_with("request-approved-by", &[("names", Arg::Text(lang.list(&approvers)))]) });
    let waiting: Vec<String> = missing
        .iter()
        .map(|role| match role {
            Role::Guardian => lang.t("request-other-parent"),
            Role::Child => child.clone(),
        })
        .collect();
    if !waiting.is_empty() {
        notes.push(lang.t_with("request-waiting-for", &[("names", Arg::Text(lang.list(&waiting)))]));
    }
    let already = grant.approvals.iter().any(|a| a.member == household.viewer);
    let can_decide = !already
        && match household.viewer_role() {
            Some(Role::Guardian) => missing.contains(&Role::Guardian) && household.stage(grant.child, state) != Some(AgeStage::Adult),
            Some(Role::Child) => missing.contains(&Role::Child) && grant.child == household.viewer,
            None => false,
        };
    RequestCard {
        id: grant.id.to_string(),
        base: format!("/family/{}/requests/{}", household.family, grant.id),
        heading: lang.t_with("request-heading", &[("service", Arg::Text(who)), ("child", Arg::Text(child))]),
        facts,
        notes,
        can_decide,
        approve_label: lang.t("request-approve"),
        deny_label: lang.t("request-deny"),
    }
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    page: Page,
    requests: Vec<RequestCard>,
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// The notices a redirect may ask for, by name.
fn notice(lang: Lang, done: Option<&str>) -> Option<String> {
    let key = match done? {
        "approved" => "request-approved",
        "active" => "request-now-active",
        "denied" => "request-denied",
        "revoked" => "grant-revoked",
        _ => return None,
    };
    Some(lang.t(key))
}

pub(crate) async fn requests(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(query): Query<DoneQuery>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let permit = register(&state, &member.session, family, lang).await?;
    let grants: Vec<Grant> = state.vault().list_grants(&permit).await.in_lang(lang)?.into_iter().filter(|g| g.state == GrantState::Requested).collect();
    household.know_services(&state, grants.iter().filter_map(service_of), lang).await?;
    let requests = grants.iter().rev().map(|g| request_card(&state, &household, g, lang)).collect();
    let page = member.page(lang.t("requests-title"), "requests", notice(lang, query.done.as_deref()));
    Ok(render(StatusCode::OK, &RequestsPage { page, requests }))
}

/// Approves or denies: the gate decides (`manage` on each collection of the request), then the age rules.
async fn decide_request(state: &ApiState, posted: &Posted<Nothing>, family: &str, grant: &str, approve: bool) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    let lang = *lang;
    let (family, grant): (FamilyId, GrantId) = (parse(family, lang)?, parse(grant, lang)?);
    let caller = Caller::Member(session.clone());
    let permit = manage_grant(state, &caller, family, grant).await.in_lang(lang)?;
    let result = if approve { state.vault().approve(&permit, grant, None).await } else { state.vault().deny(&permit, grant, None).await };
    let result = result.in_lang(lang)?;
    state.grant_changed(result.grant);
    tracing::info!(grant = %result.grant, state = result.state.as_str(), "grant changed from the web UI");
    let done = match result.state {
        GrantState::Active => "active",
        GrantState::Denied => "denied",
        _ => "approved",
    };
    Ok(Redirect::to(&format!("/family/{family}/requests?done={done}")).into_response())
}

pub(crate) async fn approve(State(state): State<ApiState>, Path((family, grant)): Path<(String, String)>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    decide_request(&state, &posted, &family, &grant, true).await
}

pub(crate) async fn deny(State(state): State<ApiState>, Path((family, grant)): Path<(String, String)>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    decide_request(&state, &posted, &family, &grant, false).await
}

// --- grants ------------------------------------------------------------------------------------------------------

pub(crate) struct GrantCard {
    id: String,
    heading: String,
    facts: Vec<(String, String)>,
    /// The Cedar policy the grant became (only for a grant in force).
    policy: String,
    /// The grantee's latest accesses under this grant, newest first (at most a few), and how many the window holds.
    accesses: Vec<EntryLine>,
    access_count: usize,
}

#[derive(Template)]
#[template(path = "grants.html")]
struct GrantsPage {
    page: Page,
    family: String,
    active: Vec<GrantCard>,
    ended: Vec<GrantCard>,
}

/// The policy of one grant in the family's Cedar text (policies are separated by blank lines, each with its `@id`).
fn policy_of(text: &str, grant: GrantId) -> String {
    let id = format!("@id(\"grant.{grant}\")");
    text.split("\n\n").find(|p| p.contains(&id)).map(str::to_owned).unwrap_or_default()
}

fn grant_card(household: &Household, grant: &Grant, lang: Lang, policies: &str) -> GrantCard {
    let child = household.name(grant.child, lang);
    let who = grantee_name(household, grant, lang);
    let mut facts = who_asks(household, grant, lang);
    facts.extend([
        (lang.t("grant-state"), lang.t(&format!("state-{}", grant.state.as_str()))),
        (lang.t("request-data"), lang.list(&grant.doctypes.iter().map(|d| lang.doctype(*d)).collect::<Vec<_>>())),
        (lang.t("request-actions"), lang.list(&grant.actions.iter().map(|a| lang.action(*a)).collect::<Vec<_>>())),
        (lang.t("request-purpose"), grant.purpose.clone()),
        (lang.t("request-basis"), lang.legal_basis(grant.legal_basis)),
    ]);
    if let Some(end) = grant.expires_at {
        facts.push((lang.t("request-duration"), lang.t_with("grant-until", &[("date", Arg::Text(lang.date(end)))])));
    }
    let in_force = matches!(grant.state, GrantState::Active | GrantState::AwaitingConfirmation);
    GrantCard {
        id: grant.id.to_string(),
        heading: lang.t_with("grant-heading", &[("service", Arg::Text(who)), ("child", Arg::Text(child))]),
        facts,
        policy: if in_force { policy_of(policies, grant.id) } else { String::new() },
        accesses: Vec::new(),
        access_count: 0,
    }
}

pub(crate) async fn grants(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(query): Query<DoneQuery>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let permit = register(&state, &member.session, family, lang).await?;
    let grants = state.vault().list_grants(&permit).await.in_lang(lang)?;
    let policies = state.vault().policy_text(&permit).await.in_lang(lang)?;
    let sealed = state.vault().sealed_members(&permit).await.in_lang(lang)?;
    household.know_services(&state, grants.iter().filter_map(service_of), lang).await?;
    // Each grant's accesses, from the latest entries of the log: the allowed accesses whose policies name the grant.
    let size = state.vault().ledger_size(family).await.in_lang(lang)?;
    let accesses = entries_between(&state, &permit, size.saturating_sub(GRANT_ACCESS_WINDOW), size, Some(EventType::AccessAllowed), lang).await?;
    let (mut active, mut ended) = (Vec::new(), Vec::new());
    for grant in grants.iter().rev() {
        let mut card = grant_card(&household, grant, lang, &policies);
        if let Some(&instances) = sealed.get(&grant.id) {
            // Sealed delivery: who can open the data the grant lets out.
            card.facts.push((lang.t("grant-sealed"), lang.t_with("grant-sealed-instances", &[("count", Arg::Number(f64::from(instances)))])));
        }
        let under: Vec<&Receipt> = accesses.iter().filter(|r| r.grants().any(|g| g == grant.id)).collect();
        card.access_count = under.len();
        card.accesses = under.iter().take(GRANT_ACCESSES_SHOWN).map(|r| entry_line(&household, r, lang)).collect();
        match grant.state {
            GrantState::Active | GrantState::AwaitingConfirmation => active.push(card),
            GrantState::Revoked | GrantState::Expired | GrantState::Denied => ended.push(card),
            GrantState::Requested => {}
        }
    }
    let page = member.page(lang.t("grants-title"), "grants", notice(lang, query.done.as_deref()));
    Ok(render(StatusCode::OK, &GrantsPage { page, family: family.to_string(), active, ended }))
}

/// One button: the grant is revoked, and the service's next call is refused.
pub(crate) async fn revoke(State(state): State<ApiState>, Path((family, grant)): Path<(String, String)>, posted: Posted<Nothing>) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    let (family, grant): (FamilyId, GrantId) = (parse(&family, lang)?, parse(&grant, lang)?);
    let permit = manage_grant(&state, &Caller::Member(session), family, grant).await.in_lang(lang)?;
    let result = state.vault().revoke(&permit, grant, None).await.in_lang(lang)?;
    state.grant_changed(result.grant);
    tracing::info!(grant = %result.grant, "grant revoked from the web UI");
    Ok(Redirect::to(&format!("/family/{family}/grants?done=revoked")).into_response())
}

// --- history -----------------------------------------------------------------------------------------------------

/// One line of the history, in words.
pub(crate) struct EntryLine {
    when: String,
    who: String,
    what: String,
    data: String,
    about: String,
    /// The entry's receipt page (in the history; empty elsewhere).
    receipt: String,
}

fn actor_name(household: &Household, actor: Actor, lang: Lang) -> String {
    match actor {
        Actor::Guardian(m) | Actor::Child(m) => household.name(m, lang),
        Actor::Service(s) => household.service(s, lang),
        Actor::Operator => lang.t("actor-operator"),
        Actor::OperatorFor(m) => lang.t_with("actor-operator-for", &[("name", Arg::Text(household.name(m, lang)))]),
        Actor::System => lang.t("actor-system"),
        Actor::Dpo(_) => lang.t("actor-dpo"),
    }
}

fn entry_line(household: &Household, receipt: &Receipt, lang: Lang) -> EntryLine {
    let mut what = lang.t(&format!("event-{}", receipt.event.as_str()));
    if let (EventType::AccessAllowed | EventType::AccessDenied, Some(action)) = (receipt.event, receipt.action) {
        what = format!("{what} ({})", lang.action(action));
    }
    if let Some(counts) = receipt.import {
        let n = |v: u64| Arg::Number(v as f64);
        let counts = lang.t_with("event-import-counts", &[("imported", n(counts.imported)), ("duplicates", n(counts.duplicates)), ("rejected", n(counts.rejected))]);
        what = format!("{what} ({counts})");
    }
    if let Some(sealed) = receipt.sealed {
        let change = match sealed.change {
            SealedChangeKind::Created => "created",
            SealedChangeKind::Added => "added",
            SealedChangeKind::Removed => "removed",
            SealedChangeKind::Ended => "ended",
        };
        what = lang.t_with("event-sealed-change", &[("change", Arg::Text(change.to_owned())), ("instances", Arg::Number(f64::from(sealed.instances)))]);
    }
    EntryLine {
        when: lang.date_time(receipt.time),
        who: actor_name(household, receipt.actor, lang),
        what,
        data: lang.list(&receipt.data_categories.iter().map(|d| lang.doctype(*d)).collect::<Vec<_>>()),
        about: receipt.principal.map(|c| lang.t_with("history-about", &[("child", Arg::Text(household.name(c, lang)))])).unwrap_or_default(),
        receipt: String::new(),
    }
}

/// The entries of the ledger with indexes in `[start, end)` that the permit's member may see, newest first.
async fn entries_between(state: &ApiState, permit: &Permit, start: u64, end: u64, event: Option<EventType>, lang: Lang) -> Result<Vec<Receipt>, WebError> {
    Ok(indexed_between(state, permit, start, end, event, lang).await?.into_iter().map(|(_, r)| r).collect())
}

async fn indexed_between(state: &ApiState, permit: &Permit, start: u64, end: u64, event: Option<EventType>, lang: Lang) -> Result<Vec<(u64, Receipt)>, WebError> {
    let filter = LedgerFilter { event, after_index: start.checked_sub(1), limit: Some((end - start).min(1000) as u32), ..Default::default() };
    let entries = state.vault().ledger_entries(permit, &filter).await.in_lang(lang)?;
    Ok(entries.into_iter().filter(|e| e.index < end).rev().map(|e| (e.index, e.receipt)).collect())
}

fn services_of(receipts: &[Receipt]) -> impl Iterator<Item = ServiceId> + '_ {
    receipts.iter().filter_map(|r| r.service)
}

/// How many entries a filtered history goes through at most (the newest of them are kept).
const FILTERED_WINDOW: usize = 5000;

/// One choice of a filter's list: its value, its words, whether it is the one chosen.
pub(crate) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// The ledger's verification, as the history shows it on demand.
pub(crate) struct Verification {
    passed: bool,
    words: String,
    checkpoint: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    page: Page,
    family: String,
    entries: Vec<EntryLine>,
    newer: Option<String>,
    older: Option<String>,
    children: Vec<Choice>,
    services: Vec<Choice>,
    events: Vec<Choice>,
    from: String,
    to: String,
    filtered: bool,
    verification: Option<Verification>,
    verify_href: String,
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct HistoryQuery {
    page: Option<u64>,
    #[serde(default)]
    child: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    event: String,
    /// The first day shown (YYYY-MM-DD), included.
    #[serde(default)]
    from: String,
    /// The last day shown (YYYY-MM-DD), included.
    #[serde(default)]
    to: String,
    /// Replay the ledger and show its checkpoint.
    verify: Option<String>,
}

fn day(text: &str) -> Option<time::Date> {
    time::Date::parse(text.trim(), &time::format_description::well_known::Iso8601::DATE).ok()
}

impl HistoryQuery {
    /// The query of this filter at another page (empty values left out).
    fn at_page(&self, page: u64) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("page", page.to_string())];
        for (key, value) in [("child", &self.child), ("service", &self.service), ("event", &self.event), ("from", &self.from), ("to", &self.to)] {
            if !value.is_empty() {
                pairs.push((key, value.clone()));
            }
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn filter(&self, lang: Lang) -> Result<LedgerFilter, WebError> {
        let invalid = || WebError::new(lang, StatusCode::BAD_REQUEST, "error-invalid");
        let optional = |v: &str| if v.is_empty() { None } else { Some(v.to_owned()) };
        Ok(LedgerFilter {
            subject: optional(&self.child).map(|c| c.parse().map_err(|_| invalid())).transpose()?,
            service: optional(&self.service).map(|c| c.parse().map_err(|_| invalid())).transpose()?,
            event: optional(&self.event).map(|c| c.parse().map_err(|_| invalid())).transpose()?,
            since: optional(&self.from).map(|d| day(&d).map(|d| d.midnight().assume_utc()).ok_or_else(invalid)).transpose()?,
            until: optional(&self.to).map(|d| day(&d).and_then(|d| d.next_day()).map(|d| d.midnight().assume_utc()).ok_or_else(invalid)).transpose()?,
            ..Default::default()
        })
    }

    fn is_filtered(&self) -> bool {
        !(self.child.is_empty() && self.service.is_empty() && self.event.is_empty() && self.from.is_empty() && self.to.is_empty())
    }
}

/// The newest entries matching `filter` that the permit's member may see, at most [`FILTERED_WINDOW`], newest first.
async fn filtered_entries(state: &ApiState, permit: &Permit, filter: &LedgerFilter, keep: impl Fn(&Receipt) -> bool, lang: Lang) -> Result<Vec<(u64, Receipt)>, WebError> {
    let mut kept = std::collections::VecDeque::new();
    let mut after = None;
    loop {
        let page = LedgerFilter { after_index: after, limit: Some(1000), ..filter.clone() };
        let entries = state.vault().ledger_entries(permit, &page).await.in_lang(lang)?;
        let full = entries.len() == 1000;
        after = entries.last().map(|e| e.index);
        for e in entries {
            if keep(&e.receipt) {
                kept.push_back((e.index, e.receipt));
                if kept.len() > FILTERED_WINDOW {
                    kept.pop_front();
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(kept.into_iter().rev().collect())
}

/// The family's ledger, newest first, a window of its indexes per page (the vault narrows what each member sees),
/// narrowed by child, service, event and period; each entry opens its receipt and proof; on demand, the ledger is
/// replayed and its signed checkpoint shown.
pub(crate) async fn history(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(query): Query<HistoryQuery>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let permit = register(&state, &member.session, family, lang).await?;
    let filter = query.filter(lang)?;
    // Members' own reads of the family and its register (these very pages) say nothing of a child's data: left out.
    // A DPO's reading of the register stays: the family sees who reviewed its consents.
    let own_read = |r: &Receipt| r.event == EventType::AccessAllowed && r.data_categories.is_empty() && matches!(r.actor, Actor::Guardian(_) | Actor::Child(_));
    let wanted = filter.event;
    // A child sees only the entries about them, scattered in the family's ledger: their history is listed as a
    // filtered one (pages of what they see), not as windows of the ledger's indexes that would often be empty.
    let narrowed = household.viewer_role() != Some(Role::Guardian);
    let (receipts, number, pages): (Vec<(u64, Receipt)>, u64, u64) = if query.is_filtered() || narrowed {
        let all = filtered_entries(&state, &permit, &filter, |r| wanted == Some(EventType::AccessAllowed) || !own_read(r), lang).await?;
        let pages = (all.len() as u64).div_ceil(HISTORY_PAGE).max(1);
        let number = query.page.unwrap_or(0).min(pages - 1);
        let shown = all.into_iter().skip((number * HISTORY_PAGE) as usize).take(HISTORY_PAGE as usize).collect();
        (shown, number, pages)
    } else {
        let size = state.vault().ledger_size(family).await.in_lang(lang)?;
        let pages = size.div_ceil(HISTORY_PAGE).max(1);
        let number = query.page.unwrap_or(0).min(pages - 1);
        let end = size - number * HISTORY_PAGE;
        let start = end.saturating_sub(HISTORY_PAGE);
        (indexed_between(&state, &permit, start, end, None, lang).await?.into_iter().filter(|(_, r)| !own_read(r)).collect(), number, pages)
    };
    // The services the filter offers: those of the family's grants the member sees, and those of the entries shown.
    let grants = state.vault().list_grants(&permit).await.in_lang(lang)?;
    let shown: Vec<Receipt> = receipts.iter().map(|(_, r)| r.clone()).collect();
    let mut service_ids: Vec<ServiceId> = grants.iter().filter_map(service_of).chain(services_of(&shown)).collect();
    if let Some(s) = filter.service {
        service_ids.push(s);
    }
    household.know_services(&state, service_ids.into_iter(), lang).await?;
    let entries = receipts
        .iter()
        .map(|(index, r)| EntryLine { receipt: format!("/family/{family}/history/{index}"), ..entry_line(&household, r, lang) })
        .collect();
    let viewer_is_guardian = household.viewer_role() == Some(Role::Guardian);
    let children = household
        .members
        .iter()
        .filter(|m| m.role == Role::Child && (viewer_is_guardian || m.id == household.viewer))
        .map(|m| Choice { value: m.id.to_string(), label: m.name.clone(), selected: query.child == m.id.to_string() })
        .collect();
    let mut services: Vec<Choice> =
        household.services.iter().map(|(id, s)| Choice { value: id.to_string(), label: s.name.clone(), selected: query.service == id.to_string() }).collect();
    services.sort_by(|a, b| a.label.cmp(&b.label));
    let events = EventType::ALL
        .iter()
        .map(|e| Choice { value: e.as_str().to_owned(), label: lang.t(&format!("history-event-{}", e.as_str())), selected: query.event == e.as_str() })
        .collect();
    let verification = if query.verify.is_some() { Some(verification(&state, &permit, family, lang).await?) } else { None };
    let page = member.page(lang.t("history-title"), "history", None);
    let link = |n: u64| format!("/family/{family}/history?{}", query.at_page(n));
    let newer = number.checked_sub(1).map(link);
    let older = (number + 1 < pages).then(|| link(number + 1));
    let verify_href = format!("/family/{family}/history?{}&verify=1#verification", query.at_page(number));
    Ok(render(
        StatusCode::OK,
        &HistoryPage {
            page,
            family: family.to_string(),
            entries,
            newer,
            older,
            children,
            services,
            events,
            from: query.from.clone(),
            to: query.to.clone(),
            filtered: query.is_filtered(),
            verification,
            verify_href,
        },
    ))
}

/// The ledger replayed whole (`verify_ledger`) and a fresh signed checkpoint of it.
async fn verification(state: &ApiState, permit: &Permit, family: FamilyId, lang: Lang) -> Result<Verification, WebError> {
    let checkpoint = state.vault().checkpoint(permit).await.in_lang(lang)?;
    let size = checkpoint.lines().nth(1).and_then(|l| l.parse::<u64>().ok()).unwrap_or(0);
    let (passed, words) = match state.vault().verify_ledger(family).await {
        Ok(_) => (true, lang.t_with("history-verified", &[("count", Arg::Number(size as f64))])),
        Err(e) => {
            tracing::warn!(family = %family, error = %e, "a family's ledger failed its verification");
            (false, lang.t("history-verify-failed"))
        }
    };
    Ok(Verification { passed, words, checkpoint })
}

#[derive(Template)]
#[template(path = "history_receipt.html")]
struct ReceiptPage {
    page: Page,
    family: String,
    line: EntryLine,
    facts: Vec<(String, String)>,
    canonical: String,
    proof: String,
    proof_href: String,
}

/// The entry at `index` if the permit's member may see it, with its proof; one they may not see is one that does not
/// exist (404).
async fn entry_with_proof(state: &ApiState, permit: &Permit, index: u64, lang: Lang) -> Result<(Receipt, String), WebError> {
    let not_found = || WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found");
    let filter = LedgerFilter { after_index: index.checked_sub(1), limit: Some(1), ..Default::default() };
    let entry = state.vault().ledger_entries(permit, &filter).await.in_lang(lang)?.into_iter().find(|e| e.index == index).ok_or_else(not_found)?;
    let proof = state.vault().inclusion_proof(permit, index).await.map_err(|_| not_found())?;
    Ok((entry.receipt, proof))
}

/// `/family/{family}/history/{index}`: one entry's receipt, in words and as signed, with its proof.
pub(crate) async fn history_entry(State(state): State<ApiState>, member: Member, Path((family, index)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family: FamilyId = parse(&family, lang)?;
    let index: u64 = parse(&index, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let permit = register(&state, &member.session, family, lang).await?;
    let (receipt, proof) = entry_with_proof(&state, &permit, index, lang).await?;
    household.know_services(&state, receipt.service.into_iter(), lang).await?;
    let mut facts = vec![(lang.t("receipt-index"), index.to_string()), (lang.t("receipt-id"), receipt.receipt_id.to_string())];
    if let Some(grant) = receipt.grant {
        facts.push((lang.t("receipt-grant"), grant.to_string()));
    }
    if let Some(basis) = receipt.legal_basis {
        facts.push((lang.t("request-basis"), lang.legal_basis(basis)));
    }
    if !receipt.reasons.is_empty() {
        facts.push((lang.t("receipt-reasons"), receipt.reasons.join(", ")));
    }
    let canonical = String::from_utf8_lossy(&receipt.canonical_bytes()).into_owned();
    let line = entry_line(&household, &receipt, lang);
    let page = member.page(lang.t("receipt-title"), "history", None);
    let proof_href = format!("/family/{family}/history/{index}/proof");
    Ok(render(StatusCode::OK, &ReceiptPage { page, family: family.to_string(), line, facts, canonical, proof, proof_href }))
}

/// `/family/{family}/history/{index}/proof`: the proof as a file (C2SP tlog-proof), for `cartable ledger check-proof`.
pub(crate) async fn history_proof(State(state): State<ApiState>, member: Member, Path((family, index)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family: FamilyId = parse(&family, lang)?;
    let index: u64 = parse(&index, lang)?;
    let permit = register(&state, &member.session, family, lang).await?;
    let (_, proof) = entry_with_proof(&state, &permit, index, lang).await?;
    let disposition = format!("attachment; filename=\"cartable-{family}-{index}.tlog-proof\"");
    let mut response = proof.into_response();
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

// --- home --------------------------------------------------------------------------------------------------------

pub(crate) struct ChildCard {
    name: String,
    age: String,
    note: Option<String>,
    collections: Vec<(String, String)>,
    /// The child's consent history (art. 15), when this member sees it.
    report: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    family: String,
    hello: String,
    /// "The children" for a guardian, "My data" for a child.
    children_heading: String,
    children: Vec<ChildCard>,
    pending: Vec<RequestCard>,
    recent: Vec<EntryLine>,
}

/// Each child with their collections and counts, the requests that await this member, services' latest accesses.
pub(crate) async fn home(State(state): State<ApiState>, member: Member, Path(family): Path<String>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let caller = Caller::Member(member.session.clone());
    let list = decide(&state, &caller, family, Action::List, Resource::Family).await.in_lang(lang)?;
    let collections = state.vault().api().collections(&list).await.in_lang(lang)?;
    let permit = register(&state, &member.session, family, lang).await?;
    let grants: Vec<Grant> = state.vault().list_grants(&permit).await.in_lang(lang)?.into_iter().filter(|g| g.state == GrantState::Requested).collect();
    let size = state.vault().ledger_size(family).await.in_lang(lang)?;
    let accesses = entries_between(&state, &permit, size.saturating_sub(RECENT_WINDOW), size, Some(EventType::AccessAllowed), lang).await?;
    let accesses: Vec<Receipt> = accesses.into_iter().filter(|r| matches!(r.actor, Actor::Service(_))).take(5).collect();
    household.know_services(&state, grants.iter().filter_map(service_of).chain(services_of(&accesses)), lang).await?;

    let viewer_is_guardian = household.viewer_role() == Some(Role::Guardian);
    // A child's own home shows their own data (the vault lists only their collections anyway), not their siblings'.
    let children = household
        .members
        .iter()
        .filter(|m| m.role == Role::Child && (viewer_is_guardian || m.id == household.viewer))
        .map(|child| {
            let stage = household.stage(child.id, &state);
            let adult = stage == Some(AgeStage::Adult);
            // Who sees a child's consent history: their guardians while they are a minor, the child themself from the
            // age of digital consent (the vault decides; this only chooses where to put the link).
            let sees_history = if child.id == household.viewer { stage != Some(AgeStage::UnderConsentAge) } else { viewer_is_guardian && !adult };
            ChildCard {
                report: sees_history.then(|| format!("/family/{family}/children/{}/report", child.id)),
                name: child.name.clone(),
                age: household.age(child).map(|a| lang.t_with("home-child-age", &[("age", Arg::Number(f64::from(a)))])).unwrap_or_default(),
                note: (adult && viewer_is_guardian).then(|| lang.t_with("home-adult-note", &[("name", Arg::Text(child.name.clone()))])),
                collections: collections
                    .iter()
                    .filter(|c| c.child == child.id)
                    .map(|c| (lang.doctype(c.doctype), lang.t_with("home-records", &[("count", Arg::Number(c.records as f64))])))
                    .collect(),
            }
        })
        .collect();
    let pending = grants.iter().rev().map(|g| request_card(&state, &household, g, lang)).filter(|card| card.can_decide).collect();
    let recent = accesses.iter().map(|r| entry_line(&household, r, lang)).collect();
    let hello = lang.t_with("home-hello", &[("name", Arg::Text(household.name(household.viewer, lang)))]);
    let page = member.page(lang.t("home-title"), "home", None);
    let children_heading = lang.t(if viewer_is_guardian { "home-children" } else { "home-own-data" });
    Ok(render(StatusCode::OK, &HomePage { page, family: family.to_string(), hello, children_heading, children, pending, recent }))
}

// --- a child's consent history (GDPR art. 15) ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    page: Page,
    heading: String,
    download: String,
    grants: Vec<GrantCard>,
    entries: Vec<EntryLine>,
}

/// What services know of one child and did with their data: the grants about them and every entry about them,
/// newest first, with the file of receipts and proofs to download.
pub(crate) async fn child_report(State(state): State<ApiState>, member: Member, Path((family, child)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let child: MemberId = parse(&child, lang)?;
    let mut household = Household::read(&state, &member.session, family, lang).await?;
    let permit = register(&state, &member.session, family, lang).await?;
    let report = crate::api::family::report_of(&state, &permit, child).await.in_lang(lang)?;
    let receipts: Vec<Receipt> = report.entries.iter().rev().filter_map(|e| serde_json::from_value(e.receipt.clone()).ok()).collect();
    let grants = state.vault().list_grants(&permit).await.in_lang(lang)?.into_iter().filter(|g| g.child == child).collect::<Vec<_>>();
    household.know_services(&state, grants.iter().filter_map(service_of).chain(services_of(&receipts)), lang).await?;
    let heading = lang.t_with("report-title", &[("child", Arg::Text(household.name(child, lang)))]);
    let page = member.page(heading.clone(), "home", None);
    Ok(render(
        StatusCode::OK,
        &ReportPage {
            page,
            heading,
            download: format!("/family/{family}/children/{child}/report.json"),
            grants: grants.iter().map(|g| grant_card(&household, g, lang, "")).collect(),
            entries: receipts.iter().map(|r| entry_line(&household, r, lang)).collect(),
        },
    ))
}

/// The same history as a file: every receipt with its proof and the key that checks them (`AccessReport`).
pub(crate) async fn child_report_file(State(state): State<ApiState>, member: Member, Path((family, child)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family = parse(&family, lang)?;
    let child: MemberId = parse(&child, lang)?;
    let permit = register(&state, &member.session, family, lang).await?;
    let report = crate::api::family::report_of(&state, &permit, child).await.in_lang(lang)?;
    let body = serde_json::to_vec_pretty(&report).map_err(|_| WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal"))?;
    let disposition = format!("attachment; filename=\"cartable-acces-{child}.json\"");
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grants_policy_is_found_among_the_familys() {
        let grant = GrantId::new();
        let text = format!("@id(\"base.x\")\npermit (principal, action, resource);\n\n@id(\"grant.{grant}\")\npermit (principal == Service::\"s\", action, resource);\n");
        assert!(policy_of(&text, grant).contains(&format!("grant.{grant}")));
        assert!(!policy_of(&text, grant).contains("base.x"));
        assert_eq!(policy_of(&text, GrantId::new()), "");
    }
}
