//! The DPO's console as pages: the register across the families of the DPO's remit (filters, pages, each entry as
//! its receipt with its proof), the state of each log and their verification, exports, the record of processing.
//!
//! The pages hold no path of their own to the register: they call the console's functions (`crate::register`,
//! `api::register`), which decide every family's register for the DPO and log it in that family's ledger.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::ledger::{Actor, EventType, Receipt};
use cartable_consent::{FamilyId, LegalBasis, ServiceId};
use cartable_sdk::{LogStatus, RegisterFilter};
use serde::Deserialize;

use super::access::Nothing;
use super::i18n::Arg;
use super::{CSRF_COOKIE, InLang as _, Lang, Officer, Posted, WebError, render};
use crate::api::ApiState;
use crate::api::extract::{DPO_SESSION_COOKIE, DpoSession};
use crate::api::register::{export_response, log_states, receipt_with_proof};
use crate::api::session::cleared_cookie;
use crate::register::csv::Format;
use crate::register::{Query as RegisterQuery, Reader, Walk, processing};

/// Entries per page of the register.
const REGISTER_PAGE: usize = 50;

/// The register's filters as the form sends them: empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FilterForm {
    #[serde(default)]
    family: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    after: String,
}

impl FilterForm {
    /// The wire's filter (the API's own), refusing ids that are not ids.
    fn to_wire(&self) -> Result<RegisterFilter, ()> {
        fn text(s: &str) -> Option<String> {
            Some(s.trim().to_owned()).filter(|s| !s.is_empty())
        }
        fn id<T: std::str::FromStr>(s: &str) -> Result<Option<T>, ()> {
            text(s).map(|s| s.parse().map_err(|_| ())).transpose()
        }
        Ok(RegisterFilter {
            family: id(&self.family)?,
            service: id(&self.service)?,
            event: text(&self.event),
            legal_basis: text(&self.legal_basis),
            purpose: text(&self.purpose),
            since: text(&self.since),
            until: text(&self.until),
            after: text(&self.after),
            limit: None,
        })
    }

    /// The filters as a query string (without `after`), for the next page and the export links.
    fn query_string(&self) -> String {
        let pairs = [
            ("family", &self.family),
            ("service", &self.service),
            ("event", &self.event),
            ("legal_basis", &self.legal_basis),
            ("purpose", &self.purpose),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let kept: Vec<(&str, &str)> = pairs.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (*k, v.trim())).collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }
}

/// One line of the register as the page shows it.
pub(crate) struct RegisterLine {
    href: String,
    when: String,
    family: String,
    index: u64,
    event: String,
    actor: String,
    service: String,
    data: String,
}

/// Services' names, read once per page.
struct Names(HashMap<ServiceId, String>);

impl Names {
    async fn of(state: &ApiState, receipts: impl Iterator<Item = &Receipt>, lang: Lang) -> Result<Names, WebError> {
        let mut ids: Vec<ServiceId> = receipts.flat_map(|r| r.service.into_iter().chain(actor_service(r.actor))).collect();
        ids.sort();
        ids.dedup();
        Ok(Names(state.vault().service_names(&ids).await.in_lang(lang)?))
    }

    fn service(&self, id: ServiceId, lang: Lang) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| lang.t("actor-unknown-service"))
    }
}

fn actor_service(actor: Actor) -> Option<ServiceId> {
    match actor {
        Actor::Service(s) => Some(s),
        _ => None,
    }
}

/// Who acted, for a DPO: a role and an id (a DPO does not read the family's names).
fn actor_words(actor: Actor, names: &Names, lang: Lang) -> String {
    let short = |id: String| id.chars().take(8).collect::<String>();
    match actor {
        Actor::Guardian(m) => lang.t_with("dpo-actor-guardian", &[("id", Arg::Text(short(m.to_string())))]),
        Actor::Child(m) => lang.t_with("dpo-actor-child", &[("id", Arg::Text(short(m.to_string())))]),
        Actor::Service(s) => names.service(s, lang),
        Actor::Dpo(d) => lang.t_with("dpo-actor-dpo", &[("id", Arg::Text(short(d.to_string())))]),
        Actor::Operator => lang.t("actor-operator"),
        Actor::OperatorFor(m) => lang.t_with("dpo-actor-operator-for", &[("id", Arg::Text(short(m.to_string())))]),
        Actor::System => lang.t("actor-system"),
    }
}

/// A legal basis in a DPO's words (the families' pages say "your consent").
fn basis_words(basis: LegalBasis, lang: Lang) -> String {
    lang.t(&format!("dpo-basis-{}", basis.as_str()))
}

fn event_words(event: EventType, lang: Lang) -> String {
    lang.t(&format!("dpo-event-{}", event.as_str()))
}

#[derive(Template)]
#[template(path = "dpo_register.html")]
struct RegisterPage {
    page: super::Page,
    filter: FilterForm,
    /// (value, label, selected)
    events: Vec<(String, String, bool)>,
    bases: Vec<(String, String, bool)>,
    error: Option<String>,
    lines: Vec<RegisterLine>,
    next: Option<String>,
    exports: String,
}

/// `/dpo`: the register, filtered, a page at a time.
pub(crate) async fn register(State(state): State<ApiState>, officer: Officer, Query(filter): Query<FilterForm>) -> Result<Response, WebError> {
    let lang = officer.lang;
    let events = EventType::ALL.iter().map(|e| (e.as_str().to_owned(), event_words(*e, lang), filter.event == e.as_str())).collect();
    let bases = LegalBasis::ALL.iter().map(|b| (b.as_str().to_owned(), basis_words(*b, lang), filter.legal_basis == b.as_str())).collect();
    let query = filter.to_wire().map_err(|_| ()).and_then(|wire| RegisterQuery::from_wire(&wire).map_err(|_| ()));
    let (lines, next, error) = match query {
        Err(()) => (Vec::new(), None, Some(lang.t("dpo-filter-invalid"))),
        Ok(query) => {
            let (rows, next) = Walk::new(state.vault(), Reader::Dpo(officer.session.dpo), query).await.in_lang(lang)?.page(REGISTER_PAGE).await.in_lang(lang)?;
            let names = Names::of(&state, rows.iter().map(|r| &r.entry.receipt), lang).await?;
            let lines = rows
                .iter()
                .map(|row| {
                    let r = &row.entry.receipt;
                    RegisterLine {
                        href: format!("/dpo/entries/{}/{}", row.family, row.entry.index),
                        when: lang.date_time(r.time),
                        family: row.family.to_string().chars().take(8).collect(),
                        index: row.entry.index,
                        event: event_words(r.event, lang),
                        actor: actor_words(r.actor, &names, lang),
                        // The service, when another than the one who acted.
                        service: r.service.filter(|s| actor_service(r.actor) != Some(*s)).map(|s| names.service(s, lang)).unwrap_or_default(),
                        data: lang.list(&r.data_categories.iter().map(|d| lang.doctype(*d)).collect::<Vec<_>>()),
                    }
                })
                .collect();
            let next = next.map(|c| {
                let rest = filter.query_string();
                let after = serde_urlencoded::to_string([("after", c.to_string())]).unwrap_or_default();
                if rest.is_empty() { format!("/dpo?{after}") } else { format!("/dpo?{rest}&{after}") }
            });
            (lines, next, None)
        }
    };
    let exports = filter.query_string();
    let page = officer.page(lang.t("dpo-register-title"), "register", None);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(render(status, &RegisterPage { page, filter, events, bases, error, lines, next, exports }))
}

/// `/dpo/export/{format}`: the register under the same filters, streamed as a file.
pub(crate) async fn export(State(state): State<ApiState>, officer: Officer, Path(format): Path<String>, Query(filter): Query<FilterForm>) -> Result<Response, WebError> {
    let lang = officer.lang;
    let format = Format::parse(&format).ok_or_else(|| WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"))?;
    let wire = filter.to_wire().map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "dpo-filter-invalid"))?;
    let query = RegisterQuery::from_wire(&wire).map_err(|_| WebError::new(lang, StatusCode::BAD_REQUEST, "dpo-filter-invalid"))?;
    Ok(export_response(state.vault().clone(), Reader::Dpo(officer.session.dpo), query, format))
}

#[derive(Template)]
#[template(path = "dpo_receipt.html")]
struct ReceiptPage {
    page: super::Page,
    facts: Vec<(String, String)>,
    canonical: String,
    proof: String,
    proof_href: String,
}

fn parse<T: std::str::FromStr>(text: &str, lang: Lang) -> Result<T, WebError> {
    text.parse().map_err(|_| WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"))
}

/// `/dpo/entries/{family}/{index}`: one entry as its receipt (the ISO/IEC TS 27560 fields), with its proof.
pub(crate) async fn receipt(State(state): State<ApiState>, officer: Officer, Path((family, index)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = officer.lang;
    let family: FamilyId = parse(&family, lang)?;
    let index: u64 = parse(&index, lang)?;
    let (value, proof) = receipt_with_proof(&state, officer.session.dpo, family, index).await.map_err(|e| WebError::from_api(lang, e)).map_err(not_found_if_invalid(lang))?;
    let receipt: Receipt = serde_json::from_value(value.clone()).map_err(|_| WebError::new(lang, StatusCode::INTERNAL_SERVER_ERROR, "error-internal"))?;
    let names = Names::of(&state, std::iter::once(&receipt), lang).await?;
    let mut facts = vec![
        (lang.t("dpo-field-receipt"), receipt.receipt_id.to_string()),
        (lang.t("dpo-field-family"), family.to_string()),
        (lang.t("dpo-field-index"), index.to_string()),
        (lang.t("dpo-field-time"), lang.date_time(receipt.time)),
        (lang.t("dpo-field-event"), event_words(receipt.event, lang)),
        (lang.t("dpo-field-actor"), actor_words(receipt.actor, &names, lang)),
    ];
    let mut optional = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            facts.push((lang.t(key), value));
        }
    };
    optional("dpo-field-subject", receipt.principal.map(|m| m.to_string()));
    optional("dpo-field-service", receipt.service.map(|s| format!("{} ({s})", names.service(s, lang))));
    optional("dpo-field-grant", receipt.grant.map(|g| g.to_string()));
    optional("dpo-field-basis", receipt.legal_basis.map(|b| basis_words(b, lang)));
    optional("dpo-field-data", Some(lang.list(&receipt.data_categories.iter().map(|d| lang.doctype(*d)).collect::<Vec<_>>())));
    optional("dpo-field-action", receipt.action.map(|a| lang.action(a)));
    optional("dpo-field-grant-actions", Some(lang.list(&receipt.grant_actions.iter().map(|a| lang.action(*a)).collect::<Vec<_>>())));
    optional("dpo-field-record", receipt.resource.map(|r| r.to_string()));
    optional("dpo-field-validity", receipt.validity.map(|v| match v.until {
        Some(until) => lang.t_with("dpo-validity", &[("from", Arg::Text(lang.date(v.from))), ("until", Arg::Text(lang.date(until)))]),
        None => lang.date(v.from),
    }));
    optional("dpo-field-purpose-digest", receipt.purpose_digest.clone());
    optional("dpo-field-withdrawal", receipt.withdrawal.clone());
    optional("dpo-field-reasons", Some(receipt.reasons.join(", ")));
    let canonical = String::from_utf8_lossy(&receipt.canonical_bytes()).into_owned();
    let page = officer.page(lang.t("dpo-receipt-title"), "register", None);
    let proof_href = format!("/dpo/entries/{family}/{index}/proof");
    Ok(render(StatusCode::OK, &ReceiptPage { page, facts, canonical, proof, proof_href }))
}

/// An entry outside the DPO's view is answered as one that does not exist.
fn not_found_if_invalid(lang: Lang) -> impl Fn(WebError) -> WebError {
    move |e| if e.status() == StatusCode::BAD_REQUEST { WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found") } else { e }
}

/// `/dpo/entries/{family}/{index}/proof`: the proof as a file (C2SP tlog-proof), for `cartable ledger check-proof`.
pub(crate) async fn proof(State(state): State<ApiState>, officer: Officer, Path((family, index)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = officer.lang;
    let family: FamilyId = parse(&family, lang)?;
    let index: u64 = parse(&index, lang)?;
    let (_, proof) = receipt_with_proof(&state, officer.session.dpo, family, index).await.map_err(|e| WebError::from_api(lang, e)).map_err(not_found_if_invalid(lang))?;
    let disposition = format!("attachment; filename=\"cartable-{family}-{index}.tlog-proof\"");
    let mut response = proof.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

pub(crate) struct LogLine {
    family: String,
    size: u64,
    seen: String,
    /// `ok`, `broken`, `inconsistent` or `unchecked`, for the class and the words.
    state: &'static str,
    words: String,
    detail: String,
    checkpoint: String,
}

fn log_line(status: &LogStatus, lang: Lang) -> LogLine {
    let state = match (status.verified, status.consistent) {
        (Some(false), _) => "broken",
        (_, Some(false)) => "inconsistent",
        (Some(true), _) => "ok",
        (None, _) => "unchecked",
    };
    let words = match state {
        "broken" => lang.t_with("dpo-log-broken", &[("index", Arg::Text(status.broken_at.map(|i| i.to_string()).unwrap_or_default()))]),
        "inconsistent" => lang.t_with("dpo-log-inconsistent", &[("seen", Arg::Number(status.seen_size.unwrap_or(0) as f64)), ("size", Arg::Number(status.size as f64))]),
        "ok" => lang.t("dpo-log-verified"),
        _ if status.consistent == Some(true) => lang.t("dpo-log-consistent"),
        _ => lang.t("dpo-log-first-seen"),
    };
    let seen = match (status.seen_size, status.seen_at) {
        (Some(size), Some(at)) => lang.t_with("dpo-log-seen", &[("size", Arg::Number(size as f64)), ("date", Arg::Text(lang.date_time(at)))]),
        _ => lang.t("dpo-log-never-seen"),
    };
    // The vault's own words (ids and indexes only), for whoever investigates.
    let detail = status.problem.clone().unwrap_or_default();
    LogLine { family: status.family_id.to_string(), size: status.size, seen, state, words, detail, checkpoint: status.checkpoint.clone() }
}

#[derive(Template)]
#[template(path = "dpo_logs.html")]
struct LogsPage {
    page: super::Page,
    logs: Vec<LogLine>,
    failing: usize,
}

/// `/dpo/logs`: each log of the remit against what this DPO was shown (showing it records the checkpoint).
pub(crate) async fn logs(State(state): State<ApiState>, officer: Officer) -> Result<Response, WebError> {
    let lang = officer.lang;
    let statuses = log_states(&state, officer.session.dpo, false).await.in_lang(lang)?;
    logs_page(&officer, &statuses, None)
}

fn logs_page(officer: &Officer, statuses: &[LogStatus], notice: Option<String>) -> Result<Response, WebError> {
    let lang = officer.lang;
    let logs: Vec<LogLine> = statuses.iter().map(|s| log_line(s, lang)).collect();
    let failing = logs.iter().filter(|l| l.state == "broken" || l.state == "inconsistent").count();
    let page = officer.page(lang.t("dpo-logs-title"), "logs", notice);
    Ok(render(StatusCode::OK, &LogsPage { page, logs, failing }))
}

/// `POST /dpo/logs/verify`: every log replayed whole.
pub(crate) async fn verify(State(state): State<ApiState>, headers: axum::http::HeaderMap, posted: Posted<Nothing, DpoSession>) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    let statuses = log_states(&state, session.dpo, true).await.in_lang(lang)?;
    let failing = statuses.iter().filter(|s| s.verified == Some(false) || s.consistent == Some(false)).count();
    let notice = lang.t_with("dpo-verified", &[("count", Arg::Number(statuses.len() as f64)), ("failing", Arg::Number(failing as f64))]);
    let csrf = crate::api::extract::cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    let officer = Officer { session, csrf, lang, path: "/dpo/logs".to_owned() };
    logs_page(&officer, &statuses, Some(notice))
}

pub(crate) struct ActivityCard {
    service: String,
    facts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "dpo_processing.html")]
struct ProcessingPage {
    page: super::Page,
    generated: String,
    activities: Vec<ActivityCard>,
}

/// `/dpo/processing`: the record of processing activities (GDPR art. 30), from the grants.
pub(crate) async fn processing_page(State(state): State<ApiState>, officer: Officer) -> Result<Response, WebError> {
    let lang = officer.lang;
    let record = processing::record(state.vault(), Reader::Dpo(officer.session.dpo)).await.in_lang(lang)?;
    let count = |n: u64| lang.number(n as f64);
    let activities = record
        .activities
        .iter()
        .map(|a| {
            let doctypes: Vec<String> = a.doctypes.iter().map(|d| d.parse().map(|d| lang.doctype(d)).unwrap_or_else(|_| d.clone())).collect();
            let bases: Vec<String> = a.legal_bases.iter().map(|b| b.parse().map(|b| basis_words(b, lang)).unwrap_or_else(|_| b.clone())).collect();
            let persons = lang.t_with(
                "dpo-persons",
                &[
                    ("under", Arg::Number(a.persons.minors_under_consent_age as f64)),
                    ("over", Arg::Number(a.persons.minors_over_consent_age as f64)),
                    ("adults", Arg::Number(a.persons.adults as f64)),
                    ("age", Arg::Number(f64::from(state.vault().age_rules().digital_consent_age))),
                ],
            );
            let retention = if a.retention_days_min == a.retention_days_max {
                lang.t_with("request-days", &[("days", Arg::Number(a.retention_days_max as f64))])
            } else {
                lang.t_with("dpo-retention-range", &[("min", Arg::Number(a.retention_days_min as f64)), ("max", Arg::Number(a.retention_days_max as f64))])
            };
            let grants = lang.t_with(
                "dpo-grants-count",
                &[
                    ("active", Arg::Text(count(a.grants_active))),
                    ("revoked", Arg::Text(count(a.grants_revoked))),
                    ("expired", Arg::Text(count(a.grants_expired))),
                    ("other", Arg::Text(count(a.grants_other))),
                ],
            );
            ActivityCard {
                service: a.service_name.clone(),
                facts: vec![
                    (lang.t("dpo-field-service-id"), a.service_id.to_string()),
                    (lang.t("dpo-field-purposes"), a.purposes.join(" · ")),
                    (lang.t("dpo-field-basis"), lang.list(&bases)),
                    (lang.t("dpo-field-data"), lang.list(&doctypes)),
                    (lang.t("dpo-field-persons"), persons),
                    (lang.t("dpo-field-retention"), retention),
                    (lang.t("dpo-field-grants"), grants),
                ],
            }
        })
        .collect();
    let page = officer.page(lang.t("dpo-processing-title"), "processing", None);
    Ok(render(StatusCode::OK, &ProcessingPage { page, generated: lang.date_time(record.generated_at), activities }))
}

/// `/dpo/processing.csv`: the same record as CSV.
pub(crate) async fn processing_csv(State(state): State<ApiState>, officer: Officer) -> Result<Response, WebError> {
    let lang = officer.lang;
    let record = processing::record(state.vault(), Reader::Dpo(officer.session.dpo)).await.in_lang(lang)?;
    let body = processing::to_csv(&record).in_lang(lang)?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8; header=present"), (header::CONTENT_DISPOSITION, "attachment; filename=\"cartable-processing.csv\"")],
        body,
    )
        .into_response())
}

/// `POST /dpo/sign-out`: ends the DPO's session and clears the cookies.
pub(crate) async fn sign_out(State(state): State<ApiState>, posted: Posted<Nothing, DpoSession>) -> Result<Response, WebError> {
    let Posted { session, lang, form: Nothing {} } = posted;
    state.vault().api().delete_dpo_session(&session.token_hash).await.in_lang(lang)?;
    tracing::info!(dpo = %session.dpo, "signed out");
    let mut response = Redirect::to("/sign-in?done=signed-out").into_response();
    for cleared in [cleared_cookie(DPO_SESSION_COOKIE), cleared_cookie(CSRF_COOKIE)] {
        if let Ok(value) = HeaderValue::from_str(&cleared) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}
