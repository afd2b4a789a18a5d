//! A child's data, for the family: a page per child (what they have, linked from home) and a page per collection
//! (grades with charts and averages, attendance as a month calendar, homework, the timetable as a week, the
//! follow-up notebook, files), a follow-up entry and a file added from the pages, files downloaded or shown inline.
//!
//! Every read passes the API's gate: one logged decision per collection page (`read` on the collection, whose
//! records [`cartable_vault::Vault::read_records`] opens page by page), one per file. Nothing is loaded whole: lists
//! are paged, and what a page sums up (averages, a month's calendar) is read page by page up to [`SUMMARY_CAP`]
//! records. A guardian of an adult child is told the data is theirs now, without any read; another family's member
//! gets the same 404 as for a family that does not exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartable_consent::lifecycle::{AgeStage, age_stage};
use cartable_consent::{AccessRequest, Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource, Role, ServiceId};
use cartable_vault::{MemberInfo, NewRecord, Permit, RecordDocument};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Date, Month, OffsetDateTime};

use super::i18n::Arg;
use super::{InLang as _, Lang, Member, Page, Posted, SignedIn as _, WebError, render};
use crate::api::ApiState;
use crate::api::data::decide;
use crate::api::extract::{Caller, MemberSession, csrf_matches};

/// Records per page of a list.
const PAGE: u32 = 50;
/// Records read per step when a page sums a collection up.
const STEP: u32 = 250;
/// The most records a summary reads (averages, a month's calendar, homework); beyond, the page says so.
pub(crate) const SUMMARY_CAP: usize = 2000;
/// Marks drawn per subject's chart (the latest).
const CHART_POINTS: usize = 12;

fn not_found(lang: Lang) -> WebError {
    WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found")
}

fn parse<T: std::str::FromStr>(text: &str, lang: Lang) -> Result<T, WebError> {
    text.parse().map_err(|_| not_found(lang))
}

// --- reading bodies ----------------------------------------------------------------------------------------------

fn text(body: &Value, key: &str) -> String {
    match body.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn number(body: &Value, key: &str) -> Option<f64> {
    match body.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', ".").parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

fn date(body: &Value, key: &str) -> Option<Date> {
    let text = text(body, key);
    let day = text.get(..10)?;
    Date::parse(day, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

fn flag(body: &Value, key: &str) -> bool {
    matches!(body.get(key), Some(Value::Bool(true)))
}

fn long_date(lang: Lang, day: Date) -> String {
    lang.date(day.midnight().assume_utc())
}

/// `15,5/20`.
fn out_of_20(lang: Lang, value: f64) -> String {
    format!("{}/20", lang.number((value * 100.0).round() / 100.0))
}

fn size(lang: Lang, bytes: u64) -> String {
    let (value, key) = match bytes {
        b if b >= 1024 * 1024 => (b as f64 / (1024.0 * 1024.0), "child-size-mb"),
        b if b >= 1024 => (b as f64 / 1024.0, "child-size-kb"),
        b => (b as f64, "child-size-bytes"),
    };
    let value = if value >= 10.0 { value.round() } else { (value * 10.0).round() / 10.0 };
    lang.t_with(key, &[("size", Arg::Text(lang.number(value)))])
}

// --- the child and the gate --------------------------------------------------------------------------------------

/// The child a page is about, and who looks.
struct Child {
    family: FamilyId,
    info: MemberInfo,
    members: Vec<MemberInfo>,
    viewer: MemberId,
    /// `/family/{family}/children/{child}`.
    base: String,
}

impl Child {
    fn name_of(&self, id: MemberId) -> Option<&str> {
        self.members.iter().find(|m| m.id == id).map(|m| m.name.as_str())
    }
}

/// What a page of a child gets: the child, or the sentence for a guardian of an adult (no data read).
enum Opened {
    Child(Child),
    Adult(Response),
}

#[derive(Template)]
#[template(path = "child_adult.html")]
struct AdultPage {
    page: Page,
    heading: String,
    note: String,
    family: String,
}

/// The family's members (a logged decision), the child of the path, and whether the viewer may see their data.
async fn open_child(state: &ApiState, member: &Member, family: &str, child: &str) -> Result<Opened, WebError> {
    let lang = member.lang;
    let (family, child): (FamilyId, MemberId) = (parse(family, lang)?, parse(child, lang)?);
    let permit = decide(state, &Caller::Member(member.session.clone()), family, Action::Read, Resource::Family).await.in_lang(lang)?;
    let members = state.vault().list_members(&permit).await.in_lang(lang)?;
    let info = members.iter().find(|m| m.id == child && m.role == Role::Child).cloned().ok_or_else(|| not_found(lang))?;
    let viewer = member.session.member;
    let viewer_role = members.iter().find(|m| m.id == viewer).map(|m| m.role);
    let rules_member = cartable_consent::Member { id: info.id, family, role: info.role, birth_date: info.birth_date };
    let adult = age_stage(&rules_member, state.vault().age_rules(), OffsetDateTime::now_utc()) == Some(AgeStage::Adult);
    if adult && viewer_role == Some(Role::Guardian) {
        let note = lang.t_with("home-adult-note", &[("name", Arg::Text(info.name.clone()))]);
        let heading = info.name.clone();
        let page = member.page(heading.clone(), "home", None);
        return Ok(Opened::Adult(render(StatusCode::OK, &AdultPage { page, heading, note, family: family.to_string() })));
    }
    if viewer_role == Some(Role::Child) && viewer != child {
        // A child sees only their own data: the gate would refuse each read; say so once.
        return Err(WebError::new(lang, StatusCode::FORBIDDEN, "error-denied"));
    }
    let base = format!("/family/{family}/children/{child}");
    Ok(Opened::Child(Child { family, info, members, viewer, base }))
}

/// The logged decision to read one of the child's collections.
async fn read_permit(state: &ApiState, session: &MemberSession, child: &Child, doctype: Doctype, lang: Lang) -> Result<Permit, WebError> {
    decide(state, &Caller::Member(session.clone()), child.family, Action::Read, Resource::Collection { child: child.info.id, doctype }).await.in_lang(lang)
}

/// One page of a collection with contents, and the cursor of the next page if there may be one.
async fn read_page(state: &ApiState, permit: &Permit, after: Option<RecordId>, limit: u32, lang: Lang) -> Result<(Vec<RecordDocument>, Option<String>), WebError> {
    let docs = state.vault().read_records(permit, after, limit).await.in_lang(lang)?;
    let next = (docs.len() as u32 == limit).then(|| docs.last().map(|d| d.id.to_string())).flatten();
    Ok((docs, next))
}

/// Reads a collection step by step (up to [`SUMMARY_CAP`] records), handing each record to `each`; says whether it
/// stopped at the cap.
async fn read_through(state: &ApiState, permit: &Permit, lang: Lang, mut each: impl FnMut(RecordDocument)) -> Result<bool, WebError> {
    let mut after = None;
    let mut seen = 0usize;
    loop {
        let docs = state.vault().read_records(permit, after, STEP).await.in_lang(lang)?;
        let full = docs.len() as u32 == STEP;
        after = docs.last().map(|d| d.id);
        for doc in docs {
            seen += 1;
            each(doc);
        }
        if !full {
            return Ok(false);
        }
        if seen >= SUMMARY_CAP {
            return Ok(true);
        }
    }
}

/// Who wrote a record, in words: the member's name, the service's, or the author the school gave.
fn author(child: &Child, services: &HashMap<ServiceId, String>, doc: &RecordDocument, lang: Lang) -> String {
    let given = text(&doc.body, "author");
    if let Some(id) = doc.source.strip_prefix("member:").and_then(|id| id.parse::<MemberId>().ok()) {
        return child.name_of(id).map(str::to_owned).unwrap_or_else(|| lang.t("actor-unknown"));
    }
    if let Some(id) = doc.source.strip_prefix("service:").and_then(|id| id.parse::<ServiceId>().ok()) {
        let service = services.get(&id).cloned().unwrap_or_else(|| lang.t("actor-unknown-service"));
        return if given.is_empty() { service } else { lang.t_with("child-author-via", &[("author", Arg::Text(given)), ("service", Arg::Text(service))]) };
    }
    if given.is_empty() { lang.t("child-author-school") } else { given }
}

async fn services_of(state: &ApiState, docs: &[RecordDocument], lang: Lang) -> Result<HashMap<ServiceId, String>, WebError> {
    let mut ids: Vec<ServiceId> = docs.iter().filter_map(|d| d.source.strip_prefix("service:").and_then(|id| id.parse().ok())).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    state.vault().service_names(&ids).await.in_lang(lang)
}

// --- the child's page --------------------------------------------------------------------------------------------

/// The collections a child's page links to, in the order a family looks for them.
const SHOWN: [Doctype; 12] = [
    Doctype::Grades,
    Doctype::Homework,
    Doctype::Timetable,
    Doctype::Attendance,
    Doctype::Followup,
    Doctype::ReportCards,
    Doctype::Documents,
    Doctype::Certificates,
    Doctype::Competencies,
    Doctype::Activity,
    Doctype::Enrollments,
    Doctype::HealthPai,
];

pub(crate) struct Tile {
    href: String,
    label: String,
    count: String,
    id: String,
}

#[derive(Template)]
#[template(path = "child.html")]
struct ChildPage {
    page: Page,
    heading: String,
    age: String,
    tiles: Vec<Tile>,
    report: String,
}

fn age(info: &MemberInfo, lang: Lang) -> String {
    let Some(birth) = info.birth_date else { return String::new() };
    let today = OffsetDateTime::now_utc().date();
    let mut years = today.year() - birth.year();
    if (today.month() as u8, today.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    lang.t_with("home-child-age", &[("age", Arg::Number(f64::from(years)))])
}

fn page_id(doctype: Doctype) -> String {
    doctype.as_str().replace('.', "-")
}

/// The child's page: each collection with how many records it holds, linked to its page.
pub(crate) async fn overview(State(state): State<ApiState>, member: Member, Path((family, child)): Path<(String, String)>) -> Result<Response, WebError> {
    let lang = member.lang;
    let child = match open_child(&state, &member, &family, &child).await? {
        Opened::Child(c) => c,
        Opened::Adult(page) => return Ok(page),
    };
    let list = decide(&state, &Caller::Member(member.session.clone()), child.family, Action::List, Resource::Family).await.in_lang(lang)?;
    let counts: HashMap<Doctype, u64> = state.vault().api().collections(&list).await.in_lang(lang)?.into_iter().filter(|c| c.child == child.info.id).map(|c| (c.doctype, c.records)).collect();
    let tiles = SHOWN
        .iter()
        .filter(|d| counts.get(d).is_some_and(|n| *n > 0) || matches!(d, Doctype::Followup | Doctype::Documents))
        .map(|d| Tile {
            href: format!("{}/{}", child.base, d.as_str()),
            label: lang.t(&format!("child-title-{}", page_id(*d))),
            count: lang.t_with("home-records", &[("count", Arg::Number(counts.get(d).copied().unwrap_or(0) as f64))]),
            id: page_id(*d),
        })
        .collect();
    let heading = child.info.name.clone();
    let page = member.page(heading.clone(), "home", None);
    Ok(render(StatusCode::OK, &ChildPage { page, age: age(&child.info, lang), heading, tiles, report: format!("{}/report", child.base) }))
}

// --- a collection's page -----------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct CollectionQuery {
    after: Option<String>,
    month: Option<String>,
    done: Option<String>,
}

/// What every collection page shows around its data.
pub(crate) struct Frame {
    heading: String,
    child_name: String,
    back: String,
    /// This page's path, for its paging links and forms.
    here: String,
    /// The next page's cursor.
    next: Option<String>,
    /// Whether this is a later page (a link back to the first).
    later: bool,
    /// A summary stopped at [`SUMMARY_CAP`] records.
    capped: bool,
    /// The form that adds a record, for a viewer who may write to the collection (see [`WITH_FORM`]).
    entry: Option<Entry>,
}

impl Frame {
    fn new(child: &Child, doctype: Doctype, lang: Lang) -> Frame {
        Frame {
            heading: lang.t_with(&format!("child-heading-{}", page_id(doctype)), &[("child", Arg::Text(child.info.name.clone()))]),
            child_name: child.info.name.clone(),
            back: child.base.clone(),
            here: format!("{}/{}", child.base, doctype.as_str()),
            next: None,
            later: false,
            capped: false,
            entry: None,
        }
    }
}

fn after(query: &CollectionQuery, lang: Lang) -> Result<Option<RecordId>, WebError> {
    query.after.as_deref().filter(|a| !a.is_empty()).map(|a| parse(a, lang)).transpose()
}

fn notice(lang: Lang, doctype: Doctype, done: Option<&str>) -> Option<String> {
    match (done?, doctype) {
        ("added", Doctype::Followup) => Some(lang.t("child-followup-added")),
        ("added", Doctype::Grades) => Some(lang.t("child-grade-added")),
        ("added", Doctype::Homework) => Some(lang.t("child-homework-added")),
        ("added", Doctype::Attendance) => Some(lang.t("child-attendance-added")),
        ("uploaded", _) => Some(lang.t("child-file-uploaded")),
        _ => None,
    }
}

/// A collection's page, by its stored name (`edu.grades`…).
pub(crate) async fn collection(
    State(state): State<ApiState>,
    member: Member,
    Path((family, child, doctype)): Path<(String, String, String)>,
    Query(query): Query<CollectionQuery>,
) -> Result<Response, WebError> {
    let doctype: Doctype = parse(&doctype, member.lang)?;
    collection_page(&state, &member, &family, &child, doctype, &query, None).await
}

/// A collection's page; with `refused`, the form that was just refused, shown again with what was typed and why.
async fn collection_page(
    state: &ApiState,
    member: &Member,
    family: &str,
    child: &str,
    doctype: Doctype,
    query: &CollectionQuery,
    refused: Option<(EntryForm, EntryError)>,
) -> Result<Response, WebError> {
    let lang = member.lang;
    let child = match open_child(state, member, family, child).await? {
        Opened::Child(c) => c,
        Opened::Adult(page) => return Ok(page),
    };
    let permit = read_permit(state, &member.session, &child, doctype, lang).await?;
    let mut frame = Frame::new(&child, doctype, lang);
    if WITH_FORM.contains(&doctype) && may_write(state, &child, doctype, lang).await? {
        frame.entry = Some(match refused {
            Some((values, error)) => Entry { values, error: Some(error.message(lang)) },
            None => Entry { values: EntryForm::fresh(doctype, OffsetDateTime::now_utc().date()), error: None },
        });
    }
    let title = lang.t(&format!("child-title-{}", page_id(doctype)));
    let page = member.page(format!("{title} · {}", child.info.name), "home", notice(lang, doctype, query.done.as_deref()));
    match doctype {
        Doctype::Grades => grades(state, &permit, page, frame, query, lang).await,
        Doctype::Attendance => attendance(state, &permit, page, frame, query, lang).await,
        Doctype::Homework => homework(state, &permit, page, frame, lang).await,
        Doctype::Timetable => timetable(state, &permit, page, frame, lang).await,
        Doctype::Followup => followup(state, &permit, &child, page, frame, query, lang).await,
        Doctype::ReportCards | Doctype::Documents | Doctype::Certificates => files(state, &permit, &child, doctype, page, frame, query, lang).await,
        Doctype::Competencies | Doctype::HealthPai | Doctype::Activity | Doctype::Enrollments => {
            let (docs, next) = read_page(state, &permit, after(query, lang)?, PAGE, lang).await?;
            (frame.next, frame.later) = (next, query.after.is_some());
            let records = docs.iter().map(|d| generic(d, lang)).collect();
            // A learning platform's export comes in here (xAPI statements), checked whole first.
            let import = (doctype == Doctype::Activity).then(|| format!("{}/{}/import", child.base, doctype.as_str()));
            Ok(render(StatusCode::OK, &OtherPage { page, frame, records, import }))
        }
    }
}

// --- grades ------------------------------------------------------------------------------------------------------

pub(crate) struct Mark {
    date: String,
    title: String,
    /// `15,5/20`, or as given out of another scale (`8/10`).
    grade: String,
    coefficient: String,
}

pub(crate) struct SubjectCard {
    id: String,
    subject: String,
    average: String,
    count: String,
    chart: Chart,
    /// The marks the chart draws, oldest first (the text beside the picture).
    marks: Vec<Mark>,
}

/// A small line chart: marks on 20 over time, in a 300×120 box.
pub(crate) struct Chart {
    title: String,
    desc: String,
    points: String,
    dots: Vec<(String, String)>,
}

#[derive(Default)]
struct SubjectSums {
    weighted: f64,
    weights: f64,
    count: usize,
    /// The latest marks, by date: (date, title, on 20, as given, coefficient).
    latest: Vec<(Option<Date>, String, f64, String, f64)>,
}

#[derive(Template)]
#[template(path = "child_grades.html")]
struct GradesPage {
    page: Page,
    frame: Frame,
    overall: String,
    subjects: Vec<SubjectCard>,
    marks: Vec<(String, Mark)>,
}

fn chart(lang: Lang, subject: &str, marks: &[(Option<Date>, String, f64, String, f64)]) -> Chart {
    let n = marks.len();
    let x = |i: usize| if n <= 1 { 150.0 } else { 20.0 + 270.0 * i as f64 / (n - 1) as f64 };
    let y = |v: f64| 110.0 - 100.0 * (v.clamp(0.0, 20.0) / 20.0);
    let dots: Vec<(String, String)> = marks.iter().enumerate().map(|(i, m)| (format!("{:.1}", x(i)), format!("{:.1}", y(m.2)))).collect();
    let points = dots.iter().map(|(a, b)| format!("{a},{b}")).collect::<Vec<_>>().join(" ");
    let values = marks.iter().map(|m| lang.number((m.2 * 100.0).round() / 100.0)).collect::<Vec<_>>().join(" ; ");
    Chart {
        title: lang.t_with("child-chart-title", &[("subject", Arg::Text(subject.to_owned()))]),
        desc: lang.t_with("child-chart-desc", &[("count", Arg::Number(n as f64)), ("values", Arg::Text(values))]),
        points,
        dots,
    }
}

fn mark_of(lang: Lang, body: &Value) -> Option<(f64, String, f64)> {
    let grade = number(body, "grade")?;
    let out_of = number(body, "out_of").filter(|o| *o > 0.0).unwrap_or(20.0);
    let coefficient = number(body, "coefficient").filter(|c| *c >= 0.0).unwrap_or(1.0);
    let shown = format!("{}/{}", lang.number(grade), lang.number(out_of));
    Some((grade / out_of * 20.0, shown, coefficient))
}

async fn grades(state: &ApiState, permit: &Permit, page: Page, mut frame: Frame, query: &CollectionQuery, lang: Lang) -> Result<Response, WebError> {
    // The averages and charts: the whole collection, step by step, keeping sums and the latest marks.
    let mut sums: BTreeMap<String, SubjectSums> = BTreeMap::new();
    frame.capped = read_through(state, permit, lang, |doc| {
        let Some((on_20, shown, coefficient)) = mark_of(lang, &doc.body) else { return };
        let subject = text(&doc.body, "subject");
        let entry = sums.entry(if subject.is_empty() { lang.t("child-no-subject") } else { subject }).or_default();
        entry.weighted += on_20 * coefficient;
        entry.weights += coefficient;
        entry.count += 1;
        entry.latest.push((date(&doc.body, "date"), text(&doc.body, "title"), on_20, shown, coefficient));
        if entry.latest.len() > CHART_POINTS * 4 {
            entry.latest.sort_by_key(|m| m.0);
            entry.latest.drain(..entry.latest.len() - CHART_POINTS);
        }
    })
    .await?;
    let mut averages = Vec::new();
    let subjects = sums
        .into_iter()
        .enumerate()
        .map(|(i, (subject, mut s))| {
            s.latest.sort_by_key(|m| m.0);
            let skip = s.latest.len().saturating_sub(CHART_POINTS);
            let latest = &s.latest[skip..];
            let average = (s.weights > 0.0).then(|| s.weighted / s.weights);
            averages.extend(average);
            SubjectCard {
                id: format!("subject-{i}"),
                chart: chart(lang, &subject, latest),
                average: average.map(|a| out_of_20(lang, a)).unwrap_or_else(|| "—".to_owned()),
                count: lang.t_with("child-marks-count", &[("count", Arg::Number(s.count as f64))]),
                marks: latest.iter().map(|m| mark_line(lang, m.0, &m.1, &m.3, m.4)).collect(),
                subject,
            }
        })
        .collect();
    let overall = if averages.is_empty() { String::new() } else { out_of_20(lang, averages.iter().sum::<f64>() / averages.len() as f64) };
    // Every mark, a page at a time, as entered.
    let (docs, next) = read_page(state, permit, after(query, lang)?, PAGE, lang).await?;
    (frame.next, frame.later) = (next, query.after.is_some());
    let marks = docs
        .iter()
        .filter_map(|d| {
            let (_, shown, coefficient) = mark_of(lang, &d.body)?;
            Some((text(&d.body, "subject"), mark_line(lang, date(&d.body, "date"), &text(&d.body, "title"), &shown, coefficient)))
        })
        .collect();
    Ok(render(StatusCode::OK, &GradesPage { page, frame, overall, subjects, marks }))
}

fn mark_line(lang: Lang, day: Option<Date>, title: &str, shown: &str, coefficient: f64) -> Mark {
    Mark {
        date: day.map(|d| long_date(lang, d)).unwrap_or_default(),
        title: title.to_owned(),
        grade: shown.to_owned(),
        coefficient: lang.t_with("child-coefficient", &[("coefficient", Arg::Text(lang.number(coefficient)))]),
    }
}

// --- attendance --------------------------------------------------------------------------------------------------

pub(crate) struct Day {
    number: u8,
    /// Short words in the cell (`Abs.`, `Ret.`) with the full word, never colour alone.
    marks: Vec<(String, String)>,
    class: &'static str,
    today: bool,
}

pub(crate) struct Event {
    date: String,
    what: String,
    justified: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "child_attendance.html")]
struct AttendancePage {
    page: Page,
    frame: Frame,
    month: String,
    weekdays: Vec<String>,
    weeks: Vec<Vec<Option<Day>>>,
    previous: String,
    following: String,
    events: Vec<Event>,
    totals: String,
}

fn month_of(query: &CollectionQuery, today: Date) -> Date {
    let parsed = query.month.as_deref().and_then(|m| {
        let (y, mo) = m.split_once('-')?;
        Date::from_calendar_date(y.parse().ok()?, Month::try_from(mo.parse::<u8>().ok()?).ok()?, 1).ok()
    });
    parsed.unwrap_or_else(|| today.replace_day(1).unwrap_or(today))
}

fn month_key(day: Date) -> String {
    format!("{:04}-{:02}", day.year(), u8::from(day.month()))
}

async fn attendance(state: &ApiState, permit: &Permit, page: Page, mut frame: Frame, query: &CollectionQuery, lang: Lang) -> Result<Response, WebError> {
    let today = OffsetDateTime::now_utc().date();
    let first = month_of(query, today);
    let days_in = first.month().length(first.year());
    let mut in_month: Vec<(Date, Value)> = Vec::new();
    let (mut half_days, mut lates) = (0f64, 0usize);
    frame.capped = read_through(state, permit, lang, |doc| {
        let Some(day) = date(&doc.body, "date") else { return };
        match text(&doc.body, "kind").as_str() {
            "retard" => lates += 1,
            _ => half_days += number(&doc.body, "half_days").unwrap_or(1.0),
        }
        if day.year() == first.year() && day.month() == first.month() {
            in_month.push((day, doc.body));
        }
    })
    .await?;
    in_month.sort_by_key(|e| e.0);
    let mut weeks = Vec::new();
    let mut week: Vec<Option<Day>> = (1..first.weekday().number_from_monday()).map(|_| None).collect();
    for n in 1..=days_in {
        let day = first.replace_day(n).unwrap_or(first);
        let mut marks = Vec::new();
        let mut class = "";
        for (_, body) in in_month.iter().filter(|e| e.0 == day) {
            if text(body, "kind") == "retard" {
                marks.push((lang.t("child-late-short"), lang.t("child-late-word")));
                if class.is_empty() {
                    class = "late";
                }
            } else {
                marks.push((lang.t("child-absence-short"), lang.t("child-absence-word")));
                class = "absent";
            }
        }
        week.push(Some(Day { number: n, marks, class, today: day == today }));
        if week.len() == 7 {
            weeks.push(std::mem::take(&mut week));
        }
    }
    if !week.is_empty() {
        week.resize_with(7, || None);
        weeks.push(week);
    }
    let events = in_month
        .iter()
        .map(|(day, body)| {
            // Its length when the record says it (an entry from the page's form gives none).
            let what = match (text(body, "kind") == "retard", number(body, "minutes"), number(body, "half_days")) {
                (true, Some(minutes), _) => lang.t_with("child-late", &[("minutes", Arg::Number(minutes))]),
                (true, None, _) => lang.t("child-late-word"),
                (false, _, Some(half_days)) => lang.t_with("child-absence", &[("half_days", Arg::Number(half_days))]),
                (false, _, None) => lang.t("child-absence-word"),
            };
            Event {
                date: long_date(lang, *day),
                what,
                justified: lang.t(if flag(body, "justified") { "child-justified" } else { "child-not-justified" }),
                reason: text(body, "reason"),
            }
        })
        .collect();
    let previous = first.previous_day().map(|d| d.replace_day(1).unwrap_or(d)).unwrap_or(first);
    let following = first.replace_day(days_in).ok().and_then(|d| d.next_day()).unwrap_or(first);
    let month = lang.t_with("child-month", &[("month", Arg::Text(lang.t(&format!("month-{}", u8::from(first.month()))))), ("year", Arg::Text(first.year().to_string()))]);
    let totals = lang.t_with("child-attendance-totals", &[("half_days", Arg::Number(half_days)), ("lates", Arg::Number(lates as f64))]);
    let weekdays = (1..=7).map(|d| lang.t(&format!("child-weekday-short-{d}"))).collect();
    Ok(render(
        StatusCode::OK,
        &AttendancePage { page, frame, month, weekdays, weeks, previous: month_key(previous), following: month_key(following), events, totals },
    ))
}

// --- homework ----------------------------------------------------------------------------------------------------

pub(crate) struct Task {
    due: String,
    subject: String,
    description: String,
    done: bool,
}

#[derive(Template)]
#[template(path = "child_homework.html")]
struct HomeworkPage {
    page: Page,
    frame: Frame,
    upcoming: Vec<Task>,
    past: Vec<Task>,
}

/// Past homework shown (the latest).
const PAST_SHOWN: usize = 30;

async fn homework(state: &ApiState, permit: &Permit, page: Page, mut frame: Frame, lang: Lang) -> Result<Response, WebError> {
    let today = OffsetDateTime::now_utc().date();
    let (mut upcoming, mut past): (Vec<(Date, Value)>, Vec<(Date, Value)>) = (Vec::new(), Vec::new());
    frame.capped = read_through(state, permit, lang, |doc| {
        let Some(due) = date(&doc.body, "due") else { return };
        if due >= today {
            upcoming.push((due, doc.body));
        } else {
            past.push((due, doc.body));
            if past.len() > PAST_SHOWN * 4 {
                past.sort_by_key(|p| std::cmp::Reverse(p.0));
                past.truncate(PAST_SHOWN);
            }
        }
    })
    .await?;
    upcoming.sort_by_key(|p| p.0);
    past.sort_by_key(|p| std::cmp::Reverse(p.0));
    past.truncate(PAST_SHOWN);
    let task = |(due, body): &(Date, Value)| Task { due: long_date(lang, *due), subject: text(body, "subject"), description: text(body, "description"), done: flag(body, "done") };
    let (upcoming, past) = (upcoming.iter().map(task).collect(), past.iter().map(task).collect());
    Ok(render(StatusCode::OK, &HomeworkPage { page, frame, upcoming, past }))
}

// --- timetable ---------------------------------------------------------------------------------------------------

pub(crate) struct Slot {
    start: String,
    end: String,
    subject: String,
    room: String,
}

pub(crate) struct WeekDay {
    name: String,
    slots: Vec<Slot>,
}

#[derive(Template)]
#[template(path = "child_timetable.html")]
struct TimetablePage {
    page: Page,
    frame: Frame,
    days: Vec<WeekDay>,
}

async fn timetable(state: &ApiState, permit: &Permit, page: Page, mut frame: Frame, lang: Lang) -> Result<Response, WebError> {
    let mut days: Vec<Vec<Slot>> = (0..6).map(|_| Vec::new()).collect();
    frame.capped = read_through(state, permit, lang, |doc| {
        let Some(weekday) = number(&doc.body, "weekday").map(|w| w as usize).filter(|w| (1..=6).contains(w)) else { return };
        days[weekday - 1].push(Slot { start: text(&doc.body, "start"), end: text(&doc.body, "end"), subject: text(&doc.body, "subject"), room: text(&doc.body, "room") });
    })
    .await?;
    let saturday = !days[5].is_empty();
    let days = days
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < 5 || saturday)
        .map(|(i, mut slots)| {
            slots.sort_by(|a, b| a.start.cmp(&b.start));
            WeekDay { name: lang.t(&format!("weekday-{}", i + 1)), slots }
        })
        .collect();
    Ok(render(StatusCode::OK, &TimetablePage { page, frame, days }))
}

// --- the follow-up notebook --------------------------------------------------------------------------------------

pub(crate) struct Note {
    id: String,
    date: String,
    author: String,
    text: String,
}

#[derive(Template)]
#[template(path = "child_followup.html")]
struct FollowupPage {
    page: Page,
    frame: Frame,
    notes: Vec<Note>,
}

async fn followup(state: &ApiState, permit: &Permit, child: &Child, page: Page, mut frame: Frame, query: &CollectionQuery, lang: Lang) -> Result<Response, WebError> {
    let (docs, next) = read_page(state, permit, after(query, lang)?, PAGE, lang).await?;
    (frame.next, frame.later) = (next, query.after.is_some());
    let services = services_of(state, &docs, lang).await?;
    let notes = docs
        .iter()
        .map(|d| Note {
            id: d.id.to_string(),
            date: date(&d.body, "date").map(|day| long_date(lang, day)).unwrap_or_else(|| lang.date(d.created_at)),
            author: author(child, &services, d, lang),
            text: text(&d.body, "text"),
        })
        .collect();
    Ok(render(StatusCode::OK, &FollowupPage { page, frame, notes }))
}

// --- records added from the pages ---------------------------------------------------------------------------------

/// The collections whose pages have a form that adds a record (for a viewer who may write to them).
const WITH_FORM: [Doctype; 4] = [Doctype::Grades, Doctype::Homework, Doctype::Attendance, Doctype::Followup];

/// The longest follow-up entry accepted from the form.
const NOTE_LIMIT: usize = 4000;
/// The longest homework accepted from the form.
const HOMEWORK_LIMIT: usize = 2000;
/// The longest subject accepted from a form.
const SUBJECT_LIMIT: usize = 100;
/// The largest scale and coefficient a grade may have.
const SCALE_LIMIT: f64 = 1000.0;
const COEFFICIENT_LIMIT: f64 = 100.0;

/// A record's form on a collection's page: the fields of every kind, as typed (each page sends its own, the others
/// stay empty), so that a refused form is shown again as it was.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub(crate) struct EntryForm {
    /// A follow-up entry's text, or the homework to do.
    text: String,
    subject: String,
    grade: String,
    out_of: String,
    coefficient: String,
    /// A grade's or an absence's date, `YYYY-MM-DD`.
    date: String,
    /// Homework's due date.
    due: String,
    /// `absence` or `retard`.
    kind: String,
    /// A checkbox: present when checked.
    justified: Option<String>,
}

impl EntryForm {
    /// An empty form with what most entries say (a grade out of 20, coefficient 1, dated today; an absence today).
    fn fresh(doctype: Doctype, today: Date) -> EntryForm {
        let mut form = EntryForm::default();
        match doctype {
            Doctype::Grades => (form.out_of, form.coefficient, form.date) = ("20".to_owned(), "1".to_owned(), today.to_string()),
            Doctype::Attendance => (form.kind, form.date) = ("absence".to_owned(), today.to_string()),
            _ => {}
        }
        form
    }

    pub fn is_late(&self) -> bool {
        self.kind == "retard"
    }

    pub fn is_justified(&self) -> bool {
        self.justified.is_some()
    }
}

/// The form of a collection's page and, after a refused post, what to fix.
pub(crate) struct Entry {
    values: EntryForm,
    error: Option<String>,
}

/// Why a record's form was refused (nothing is written); each says what to fix.
#[derive(Debug, Clone, PartialEq)]
enum EntryError {
    Subject,
    Grade,
    Scale,
    AboveScale { grade: f64, out_of: f64 },
    Coefficient,
    Date,
    Text(usize),
    Kind,
}

impl EntryError {
    fn message(&self, lang: Lang) -> String {
        match self {
            EntryError::Subject => lang.t_with("child-entry-subject-invalid", &[("limit", Arg::Number(SUBJECT_LIMIT as f64))]),
            EntryError::Grade => lang.t("child-entry-grade-invalid"),
            EntryError::Scale => lang.t("child-entry-scale-invalid"),
            EntryError::AboveScale { grade, out_of } => {
                lang.t_with("child-entry-above-scale", &[("grade", Arg::Text(lang.number(*grade))), ("out_of", Arg::Text(lang.number(*out_of)))])
            }
            EntryError::Coefficient => lang.t("child-entry-coefficient-invalid"),
            EntryError::Date => lang.t("child-entry-date-invalid"),
            EntryError::Text(limit) => lang.t_with("child-entry-text-invalid", &[("limit", Arg::Number(*limit as f64))]),
            EntryError::Kind => lang.t("child-entry-kind-invalid"),
        }
    }
}

/// A number as people type it (`15,5` or `15.5`); `default` when left empty.
fn typed_number(text: &str, default: Option<f64>) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return default;
    }
    text.replace(',', ".").parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A date as a date field sends it, `YYYY-MM-DD`.
fn typed_date(text: &str) -> Result<Date, EntryError> {
    Date::parse(text.trim(), time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| EntryError::Date)
}

fn typed_subject(text: &str) -> Result<String, EntryError> {
    let subject = text.trim();
    if subject.is_empty() || subject.chars().count() > SUBJECT_LIMIT || subject.chars().any(char::is_control) {
        return Err(EntryError::Subject);
    }
    Ok(subject.to_owned())
}

fn typed_text(text: &str, limit: usize) -> Result<String, EntryError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > limit {
        return Err(EntryError::Text(limit));
    }
    Ok(text.to_owned())
}

/// A whole number stays one in the body (`16`, not `16.0`), as the school's records have them.
fn body_number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 { json!(n as i64) } else { json!(n) }
}

/// The body of the record a form adds, in the shape the collection's page reads (the demo's and the schools'), or
/// why it is refused; `None` for a collection without a form. A follow-up entry is signed by the caller.
fn entry_body(doctype: Doctype, form: &EntryForm, today: Date) -> Option<Result<Value, EntryError>> {
    Some(match doctype {
        Doctype::Grades => grade_body(form),
        Doctype::Homework => homework_body(form),
        Doctype::Attendance => attendance_body(form),
        Doctype::Followup => typed_text(&form.text, NOTE_LIMIT).map(|text| json!({"date": today.to_string(), "text": text})),
        _ => return None,
    })
}

/// `{"subject", "grade", "out_of", "coefficient", "date"}`: a grade within its scale.
fn grade_body(form: &EntryForm) -> Result<Value, EntryError> {
    let subject = typed_subject(&form.subject)?;
    let grade = typed_number(&form.grade, None).filter(|g| *g >= 0.0).ok_or(EntryError::Grade)?;
    let out_of = typed_number(&form.out_of, Some(20.0)).filter(|o| *o > 0.0 && *o <= SCALE_LIMIT).ok_or(EntryError::Scale)?;
    if grade > out_of {
        return Err(EntryError::AboveScale { grade, out_of });
    }
    let coefficient = typed_number(&form.coefficient, Some(1.0)).filter(|c| *c > 0.0 && *c <= COEFFICIENT_LIMIT).ok_or(EntryError::Coefficient)?;
    let date = typed_date(&form.date)?;
    Ok(json!({"subject": subject, "grade": body_number(grade), "out_of": body_number(out_of), "coefficient": body_number(coefficient), "date": date.to_string()}))
}

/// `{"subject", "due", "description", "done": false}`.
fn homework_body(form: &EntryForm) -> Result<Value, EntryError> {
    let subject = typed_subject(&form.subject)?;
    let due = typed_date(&form.due)?;
    let description = typed_text(&form.text, HOMEWORK_LIMIT)?;
    Ok(json!({"subject": subject, "due": due.to_string(), "description": description, "done": false}))
}

/// `{"date", "kind": "absence" | "retard", "justified"}`.
fn attendance_body(form: &EntryForm) -> Result<Value, EntryError> {
    let date = typed_date(&form.date)?;
    if !matches!(form.kind.as_str(), "absence" | "retard") {
        return Err(EntryError::Kind);
    }
    Ok(json!({"date": date.to_string(), "kind": form.kind, "justified": form.is_justified()}))
}

/// Whether the viewer may add to the collection: the rules' answer (a guardian of a minor, an adult over their own
/// data), asked without a decision, only to show the form; writing is decided and logged when the form is sent.
async fn may_write(state: &ApiState, child: &Child, doctype: Doctype, lang: Lang) -> Result<bool, WebError> {
    let request = AccessRequest {
        principal: Principal::Member(child.viewer),
        action: Action::Write,
        resource: Resource::Collection { child: child.info.id, doctype },
        now: OffsetDateTime::now_utc(),
    };
    Ok(state.vault().explain(child.family, &request).await.in_lang(lang)?.is_allowed())
}

/// A record added from a collection's form (a grade, homework, an absence or a lateness, a follow-up entry), written
/// under a logged `write` decision with the member as its source; a form that does not hold together changes
/// nothing and the page comes back with what was typed and what to fix.
pub(crate) async fn add_entry(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((family, child, doctype)): Path<(String, String, String)>,
    posted: Posted<EntryForm>,
) -> Result<Response, WebError> {
    let Posted { session, lang, form } = posted;
    let doctype: Doctype = parse(&doctype, lang)?;
    let (family_id, child_id): (FamilyId, MemberId) = (parse(&family, lang)?, parse(&child, lang)?);
    let today = OffsetDateTime::now_utc().date();
    let mut body = match entry_body(doctype, &form, today) {
        Some(Ok(body)) => body,
        Some(Err(error)) => {
            let here = format!("/family/{family}/children/{child}/{}", doctype.as_str());
            let member = Member::after_form(session, lang, &headers, here);
            let mut page = collection_page(&state, &member, &family, &child, doctype, &CollectionQuery::default(), Some((form, error))).await?;
            if page.status() == StatusCode::OK {
                *page.status_mut() = StatusCode::BAD_REQUEST;
            }
            return Ok(page);
        }
        None => return Err(not_found(lang)),
    };
    let caller = Caller::Member(session.clone());
    if doctype == Doctype::Followup {
        // An entry of the notebook is signed with its author's name.
        let members = decide(&state, &caller, family_id, Action::Read, Resource::Family).await.in_lang(lang)?;
        let members = state.vault().list_members(&members).await.in_lang(lang)?;
        body["author"] = json!(members.iter().find(|m| m.id == session.member).map(|m| m.name.clone()).unwrap_or_default());
    }
    let permit = decide(&state, &caller, family_id, Action::Write, Resource::Collection { child: child_id, doctype }).await.in_lang(lang)?;
    // An absence is shown on its month's calendar.
    let month = if doctype == Doctype::Attendance { date(&body, "date").map(|d| format!("&month={}", month_key(d))).unwrap_or_default() } else { String::new() };
    let id = state.vault().put_record(&permit, NewRecord { child: child_id, doctype, source: format!("member:{}", session.member), body }).await.in_lang(lang)?;
    tracing::info!(family = %family_id, record = %id, doctype = doctype.as_str(), "record written from the web UI");
    Ok(Redirect::to(&format!("/family/{family_id}/children/{child_id}/{}?done=added{month}", doctype.as_str())).into_response())
}

// --- files -------------------------------------------------------------------------------------------------------

pub(crate) struct FileLine {
    id: String,
    name: String,
    size: String,
    date: String,
    download: String,
    view: Option<String>,
}

pub(crate) struct Certificate {
    title: String,
    facts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "child_files.html")]
struct FilesPage {
    page: Page,
    frame: Frame,
    files: Vec<FileLine>,
    certificates: Vec<Certificate>,
    upload: String,
    limit: String,
    /// Where the certificates page's badge import posts.
    import: Option<String>,
}

fn is_pdf(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".pdf")
}

#[allow(clippy::too_many_arguments)]
async fn files(state: &ApiState, permit: &Permit, child: &Child, doctype: Doctype, page: Page, mut frame: Frame, query: &CollectionQuery, lang: Lang) -> Result<Response, WebError> {
    let (docs, next) = read_page(state, permit, after(query, lang)?, PAGE, lang).await?;
    (frame.next, frame.later) = (next, query.after.is_some());
    let mut files = Vec::new();
    let mut certificates = Vec::new();
    for doc in &docs {
        match &doc.file {
            Some(file) => {
                let download = format!("{}/files/{}", child.base, doc.id);
                files.push(FileLine {
                    id: doc.id.to_string(),
                    name: file.name.clone(),
                    size: size(lang, file.size),
                    date: lang.date(doc.created_at),
                    view: is_pdf(&file.name).then(|| format!("{download}/view")),
                    download,
                });
            }
            None => {
                let mut facts = Vec::new();
                for (key, label) in [("issuer", "child-cert-issuer"), ("level", "child-cert-level")] {
                    let value = text(&doc.body, key);
                    if !value.is_empty() {
                        facts.push((lang.t(label), value));
                    }
                }
                if let Some(day) = date(&doc.body, "date") {
                    facts.push((lang.t("child-cert-date"), long_date(lang, day)));
                }
                if let Some(verification) = verification(&doc.body, lang) {
                    facts.push((lang.t("child-cert-signature"), verification));
                }
                let title = text(&doc.body, "title");
                certificates.push(Certificate { title: if title.is_empty() { lang.doctype(doctype) } else { title }, facts });
            }
        }
    }
    let upload = format!("{}/{}/upload", child.base, doctype.as_str());
    let limit = lang.t_with("child-upload-limit", &[("size", Arg::Text(size(lang, state.settings().max_file_bytes)))]);
    // A badge comes in on the certificates page, checked and with its signature's outcome.
    let import = (doctype == Doctype::Certificates).then(|| format!("{}/{}/import", child.base, doctype.as_str()));
    Ok(render(StatusCode::OK, &FilesPage { page, frame, files, certificates, upload, limit, import }))
}

/// What an imported credential's signature check found (`verification`: `verified`, `not_verified` with the
/// reason, `failed`), said as it is: a signature is called verified only when it was.
fn verification(body: &Value, lang: Lang) -> Option<String> {
    let check = body.get("verification")?;
    let reason = text(check, "reason");
    let said = match check.get("status").and_then(Value::as_str)? {
        "verified" => lang.t("child-cert-verified"),
        "failed" => lang.t("child-cert-failed"),
        _ => lang.t("child-cert-not-verified"),
    };
    Some(if reason.is_empty() { said } else { format!("{said} ({reason})") })
}

/// Streams a file of the child: `attachment`, or for a PDF shown in the browser, `inline`.
async fn send_file(state: &ApiState, member: &Member, family: &str, child: &str, record: &str, inline: bool) -> Result<Response, WebError> {
    let lang = member.lang;
    let (family, child, record): (FamilyId, MemberId, RecordId) = (parse(family, lang)?, parse(child, lang)?, parse(record, lang)?);
    let caller = Caller::Member(member.session.clone());
    if member.session.family != family {
        // The gate answers an outsider as if the family did not exist (and counts it for the operator).
        return Err(decide(state, &caller, family, Action::Read, Resource::Family).await.err().map(|e| WebError::from_api(lang, e)).unwrap_or_else(|| not_found(lang)));
    }
    let sealed = state.vault().api().load_record(family, record).await.in_lang(lang)?;
    if !matches!(sealed.resource(), Resource::Record { child: c, .. } if c == child) {
        return Err(not_found(lang));
    }
    let permit = decide(state, &caller, family, Action::Read, sealed.resource()).await.in_lang(lang)?;
    let (info, plain) = state.vault().open_file(&permit).await.in_lang(lang)?;
    let inline = inline && is_pdf(&info.name);
    let mut response = crate::api::data::stream_file(plain, record).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(if inline { "application/pdf" } else { "application/octet-stream" }));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    let encoded = crate::api::data::percent_encode(&info.name);
    if let Ok(v) = HeaderValue::from_str(&format!("{}; filename*=UTF-8''{encoded}", if inline { "inline" } else { "attachment" })) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if inline {
        // The browser's own PDF viewer shows it: nothing else may load, and never in a frame.
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; object-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"));
    }
    Ok(response)
}

pub(crate) async fn download(State(state): State<ApiState>, member: Member, Path((family, child, record)): Path<(String, String, String)>) -> Result<Response, WebError> {
    send_file(&state, &member, &family, &child, &record, false).await
}

pub(crate) async fn view(State(state): State<ApiState>, member: Member, Path((family, child, record)): Path<(String, String, String)>) -> Result<Response, WebError> {
    send_file(&state, &member, &family, &child, &record, true).await
}


/// A file sent with the page's form (`multipart/form-data`: the `csrf` field first, then `file`), streamed into the
/// vault with the API's size limit; a form without the session's token is refused before anything is read.
pub(crate) async fn upload(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((family, child, doctype)): Path<(String, String, String)>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let lang = Lang::of_request(&headers);
    let Some((session, csrf_hash)) = MemberSession::from_headers(&headers, &state).await else { return Ok(Redirect::to("/sign-in").into_response()) };
    let doctype: Doctype = parse(&doctype, lang)?;
    let (family, child): (FamilyId, MemberId) = (parse(&family, lang)?, parse(&child, lang)?);
    if !matches!(doctype, Doctype::ReportCards | Doctype::Documents | Doctype::Certificates) {
        return Err(not_found(lang));
    }
    let invalid = || WebError::new(lang, StatusCode::BAD_REQUEST, "child-upload-invalid");
    let csrf_refused = || {
        tracing::info!(caller = %session.who(), "a form without the session's CSRF token was refused");
        WebError::new(lang, StatusCode::FORBIDDEN, "error-csrf")
    };
    let first = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(csrf_refused)?;
    if first.name() != Some("csrf") {
        return Err(csrf_refused());
    }
    let token = first.text().await.map_err(|_| invalid())?;
    if !csrf_matches(&token, &csrf_hash) {
        return Err(csrf_refused());
    }
    let mut field = multipart.next_field().await.map_err(|_| invalid())?.ok_or_else(invalid)?;
    let name = field.file_name().map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned()).filter(|n| !n.trim().is_empty()).ok_or_else(invalid)?;
    if field.name() != Some("file") {
        return Err(invalid());
    }
    let permit = decide(&state, &Caller::Member(session.clone()), family, Action::Write, Resource::Collection { child, doctype }).await.in_lang(lang)?;
    let limit = state.settings().max_file_bytes;
    let too_large = Arc::new(AtomicBool::new(false));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream.boxed()));
    let flag = too_large.clone();
    // The field's bytes go through a channel to the vault's blocking writer, as they arrive.
    let pump = async move {
        let mut seen = 0u64;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(bytes)) => {
                    seen += bytes.len() as u64;
                    if seen > limit {
                        flag.store(true, Ordering::SeqCst);
                        Err(std::io::Error::other("the upload is too large"))
                    } else {
                        Ok(bytes)
                    }
                }
                Ok(None) => return,
                Err(_) => Err(std::io::Error::other("the upload was interrupted")),
            };
            let stop = chunk.is_err();
            if tx.send(chunk).await.is_err() || stop {
                return;
            }
        }
    };
    let source = format!("member:{}", session.member);
    let (_, result) = tokio::join!(pump, state.vault().put_file(&permit, child, doctype, source, name, Box::new(reader)));
    match result {
        Ok(id) => {
            tracing::info!(family = %family, record = %id, "file stored from the web UI");
            Ok(Redirect::to(&format!("/family/{family}/children/{child}/{}?done=uploaded", doctype.as_str())).into_response())
        }
        Err(_) if too_large.load(Ordering::SeqCst) => Err(WebError::new(lang, StatusCode::PAYLOAD_TOO_LARGE, "child-upload-too-large")),
        Err(cartable_vault::Error::InvalidInput(_)) => Err(invalid()),
        Err(e) => Err(WebError::from_api(lang, e.into())),
    }
}

// --- other collections -------------------------------------------------------------------------------------------

pub(crate) struct Generic {
    date: String,
    facts: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "child_other.html")]
struct OtherPage {
    page: Page,
    frame: Frame,
    records: Vec<Generic>,
    /// Where the activities page's import form posts.
    import: Option<String>,
}

/// A record of a collection without a page of its own: its fields as given.
fn generic(doc: &RecordDocument, lang: Lang) -> Generic {
    let facts = match &doc.body {
        // An imported record keeps its source document whole (`statement`, `credential`): shown in the archive and
        // the API, not as one line of JSON here.
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "statement" | "credential"))
            .map(|(k, v)| {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.as_f64().map(|f| lang.number(f)).unwrap_or_default(),
                    Value::Bool(b) => lang.t(if *b { "child-yes" } else { "child-no" }),
                    other => other.to_string(),
                };
                (k.clone(), shown)
            })
            .collect(),
        _ => Vec::new(),
    };
    Generic { date: lang.date(doc.created_at), facts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_put_on_20_and_written_the_french_way() {
        let (on_20, shown, coefficient) = mark_of(Lang::Fr, &serde_json::json!({"grade": 7.75, "out_of": 10, "coefficient": 2})).unwrap();
        assert_eq!((on_20, shown.as_str(), coefficient), (15.5, "7,75/10", 2.0));
        assert_eq!(out_of_20(Lang::Fr, on_20), "15,5/20");
        assert_eq!(out_of_20(Lang::En, 13.5), "13.5/20");
        assert!(mark_of(Lang::Fr, &serde_json::json!({"grade": "abs"})).is_none());
        assert_eq!(number(&serde_json::json!({"grade": "12,5"}), "grade"), Some(12.5));
    }

    #[test]
    fn a_chart_draws_its_marks_and_says_them() {
        let marks = vec![(None, String::new(), 10.0, String::new(), 1.0), (None, String::new(), 20.0, String::new(), 1.0)];
        let c = chart(Lang::Fr, "Maths", &marks);
        assert_eq!(c.points, "20.0,60.0 290.0,10.0");
        assert!(c.desc.contains("10 ; 20"), "{}", c.desc);
    }

    #[test]
    fn a_forms_record_has_the_shape_its_page_reads_or_says_what_to_fix() {
        let today = time::macros::date!(2030 - 12 - 03);
        let form = |fields: &[(&str, &str)]| -> EntryForm { serde_urlencoded::from_str(&serde_urlencoded::to_string(fields).unwrap()).unwrap() };
        let grade = |g: &str, o: &str, c: &str, d: &str| form(&[("subject", " Maths "), ("grade", g), ("out_of", o), ("coefficient", c), ("date", d), ("csrf", "x")]);
        let body = entry_body(Doctype::Grades, &grade("15,5", "20", "2", "2030-12-03"), today).unwrap().unwrap();
        assert_eq!(body, json!({"subject": "Maths", "grade": 15.5, "out_of": 20, "coefficient": 2, "date": "2030-12-03"}));
        assert_eq!(mark_of(Lang::Fr, &body).map(|m| m.1), Some("15,5/20".to_owned()), "the grades page reads it");
        assert_eq!(entry_body(Doctype::Grades, &grade("8", "", "", "2030-12-03"), today).unwrap().unwrap()["out_of"], 20, "out of 20 unless said");
        for (g, o, c, d, error) in [
            ("21", "20", "1", "2030-12-03", EntryError::AboveScale { grade: 21.0, out_of: 20.0 }),
            ("-1", "20", "1", "2030-12-03", EntryError::Grade),
            ("", "20", "1", "2030-12-03", EntryError::Grade),
            ("NaN", "20", "1", "2030-12-03", EntryError::Grade),
            ("5", "0", "1", "2030-12-03", EntryError::Scale),
            ("5", "20", "0", "2030-12-03", EntryError::Coefficient),
            ("5", "20", "1", "2030-02-30", EntryError::Date),
            ("5", "20", "1", "", EntryError::Date),
        ] {
            assert_eq!(entry_body(Doctype::Grades, &grade(g, o, c, d), today).unwrap(), Err(error.clone()), "{g} {o} {c} {d}");
            assert!(!error.message(Lang::Fr).is_empty() && error.message(Lang::Fr) != error.message(Lang::En));
        }
        let homework = entry_body(Doctype::Homework, &form(&[("subject", "Français"), ("due", "2030-12-10"), ("text", "Lire")]), today).unwrap().unwrap();
        assert_eq!(homework, json!({"subject": "Français", "due": "2030-12-10", "description": "Lire", "done": false}));
        let late = entry_body(Doctype::Attendance, &form(&[("date", "2030-12-01"), ("kind", "retard"), ("justified", "yes")]), today).unwrap().unwrap();
        assert_eq!(late, json!({"date": "2030-12-01", "kind": "retard", "justified": true}));
        assert_eq!(entry_body(Doctype::Attendance, &form(&[("date", "2030-12-01"), ("kind", "sortie")]), today).unwrap(), Err(EntryError::Kind));
        let note = entry_body(Doctype::Followup, &form(&[("text", " Bonjour ")]), today).unwrap().unwrap();
        assert_eq!(note, json!({"date": "2030-12-03", "text": "Bonjour"}));
        // Every collection with a form, and only those, makes a record.
        for doctype in Doctype::ALL {
            assert_eq!(entry_body(doctype, &EntryForm::fresh(doctype, today), today).is_some(), WITH_FORM.contains(&doctype), "{doctype:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(Lang::Fr, 1536), "1,5 Ko");
        assert_eq!(size(Lang::En, 3 * 1024 * 1024), "3 MB");
    }
}
