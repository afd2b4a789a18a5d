//! The family's search: a box in every family page's header, and a page of results
//! (`/family/{family}/search?q=…&child=…&doctype=…&from=…&to=…&page=…`) with counts per child and per doctype that
//! filter, a period, pages of 20, and each result's passage with the words found marked.
//!
//! It is the API's search seen through a page: the same permits (`api::search::search_permits`: one logged decision
//! to search the family, or its one collection when both a child and a doctype are chosen), the same
//! [`cartable_vault::Vault::search`], which finds only what the rules let the member search (a guardian never finds
//! an adult child's data) and never logs the words. A query that does not parse is refused before the search's
//! decision, with a message in the page's language.

use std::ops::Range;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cartable_consent::{Doctype, FamilyId, MemberId, Role};
use cartable_search::QueryError;
use cartable_vault::{Permit, SearchOutcome, SearchQuery};
use serde::Deserialize;
use time::Date;

use super::i18n::Arg;
use super::pages::{Household, parse};
use super::{InLang as _, Lang, Member, Page, WebError, render};
use crate::api::ApiState;
use crate::api::extract::Caller;
use crate::api::search::search_permits;

/// Results per page.
const PER_PAGE: u32 = 20;
/// The last page one may ask for: the index ranks `offset + limit` documents to give a page, so pages stay near the
/// top (1,000 results), which is where a person looks.
const MAX_PAGE: u32 = 50;

/// What the address says. Every field is text, so that a bad value gets a page (the period's message, or the 404 of
/// a child, doctype or page that does not exist), never a bare 400.
#[derive(Deserialize, Default)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    child: String,
    #[serde(default)]
    doctype: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

impl SearchParams {
    /// The address of this search with `child`, `doctype` and `page` as given (empty values left out).
    fn href(&self, family: FamilyId, child: &str, doctype: &str, page: u32) -> String {
        let page = if page > 1 { page.to_string() } else { String::new() };
        let pairs: Vec<(&str, &str)> = [("q", self.q.trim()), ("child", child), ("doctype", doctype), ("from", self.from.trim()), ("to", self.to.trim()), ("page", &page)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        format!("/family/{family}/search?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    }
}

/// A piece of a result's passage: text, marked when it is one of the words found. The template escapes each.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    text: String,
    marked: bool,
}

/// The passage on one line: the indexed text keeps a field a line, and a passage reads better with its lines
/// joined by ` · ` (blank ones dropped); the highlights are moved to match.
fn one_line(text: &str, highlights: &[Range<usize>]) -> (String, Vec<Range<usize>>) {
    let mut out = String::with_capacity(text.len());
    // Where each byte of `text` (and its end) lands in `out`.
    let mut moved = vec![0usize; text.len() + 1];
    let mut at = 0;
    while at < text.len() {
        let blank_end = text[at..].find(|c: char| !c.is_whitespace()).map_or(text.len(), |n| at + n);
        let next = if blank_end > at { blank_end } else { at + text[at..].chars().next().map_or(1, char::len_utf8) };
        if text[at..next].contains('\n') {
            // Whitespace holding a line break: one separator, none at either end.
            moved[at..next].fill(out.len());
            if !out.is_empty() && next < text.len() {
                out.push_str(" · ");
            }
        } else {
            for (i, slot) in moved[at..next].iter_mut().enumerate() {
                *slot = out.len() + i;
            }
            out.push_str(&text[at..next]);
        }
        at = next;
    }
    moved[text.len()] = out.len();
    let ranges = highlights.iter().filter(|r| r.start <= r.end && r.end <= text.len()).map(|r| moved[r.start]..moved[r.end]).collect();
    (out, ranges)
}

/// The passage cut at the highlights' byte ranges, on one line. Ranges that overlap are joined; one that is empty,
/// out of the text or not on a character's boundary is left out, so a bad range can only lose a mark, never break
/// the text.
pub(crate) fn pieces(text: &str, highlights: &[Range<usize>]) -> Vec<Piece> {
    let (text, highlights) = one_line(text, highlights);
    let text = text.as_str();
    let mut ranges: Vec<Range<usize>> = highlights.into_iter().filter(|r| r.start < r.end && text.get(r.start..r.end).is_some()).collect();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Piece> = Vec::new();
    let mut push = |text: &str, marked: bool| {
        if text.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.marked == marked => last.text.push_str(text),
            _ => out.push(Piece { text: text.to_owned(), marked }),
        }
    };
    let mut at = 0;
    for r in ranges {
        if r.end <= at {
            continue;
        }
        let start = r.start.max(at);
        push(&text[at..start], false);
        push(&text[start..r.end], true);
        at = r.end;
    }
    push(&text[at..], false);
    out
}

/// A count per child or per doctype, as a link that filters (or, when it is the filter in force, removes it).
pub(crate) struct Facet {
    label: String,
    count: String,
    href: String,
    current: bool,
}

/// One result, in words.
pub(crate) struct Hit {
    title: String,
    href: String,
    child: String,
    doctype: String,
    day: Option<String>,
    pieces: Vec<Piece>,
}

/// What a search found.
pub(crate) struct Found {
    total: String,
    unreadable: Option<String>,
    /// "All children" and each child with a count, when there is something to narrow or a filter to remove.
    children: Vec<Facet>,
    doctypes: Vec<Facet>,
    hits: Vec<Hit>,
    previous: Option<String>,
    next: Option<String>,
    position: Option<String>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    family: String,
    /// What was asked, as typed (the template escapes it).
    q: String,
    child: String,
    doctype: String,
    from: String,
    to: String,
    /// Why nothing was searched (an empty or malformed query, a bad period).
    message: Option<String>,
    /// No query: the page explains how to search.
    explain: bool,
    /// The period's fields are shown open (a period is set, or was refused).
    period_open: bool,
    found: Option<Found>,
}

/// The page's message for a query that does not parse. The crate's own messages are English and never repeat the
/// query; these say the same in the page's language.
fn query_message(lang: Lang, error: &QueryError) -> String {
    match error {
        QueryError::Empty => lang.t("search-error-empty"),
        QueryError::TooLong => lang.t("search-error-too-long"),
        QueryError::TooManyParts => lang.t("search-error-too-many-words"),
        QueryError::UnclosedQuote => lang.t("search-error-unclosed-quote"),
        QueryError::ShortPrefix => lang.t("search-error-short-prefix"),
        QueryError::OnlyExclusions => lang.t("search-error-only-exclusions"),
        _ => lang.t("search-error-query"),
    }
}

fn day(text: &str) -> Result<Option<Date>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).map(Some).map_err(|_| ())
}

fn doctype_label(lang: Lang, doctype: Doctype) -> String {
    lang.t(&format!("child-title-{}", doctype.as_str().replace('.', "-")))
}

/// The results page.
pub(crate) async fn search(State(state): State<ApiState>, member: Member, Path(family): Path<String>, Query(params): Query<SearchParams>) -> Result<Response, WebError> {
    let lang = member.lang;
    let family: FamilyId = parse(&family, lang)?;
    // The family's members (a logged read, as every page's): names for the counts and results, and the 404 for a
    // member of another family.
    let household = Household::read(&state, &member.session, family, lang).await?;
    let optional = |v: &str| if v.trim().is_empty() { None } else { Some(v.trim().to_owned()) };
    let child: Option<MemberId> = optional(&params.child).map(|c| parse(&c, lang)).transpose()?;
    if let Some(child) = child
        && !household.members.iter().any(|m| m.id == child && m.role == Role::Child)
    {
        return Err(WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"));
    }
    let doctype: Option<Doctype> = optional(&params.doctype).map(|d| parse(&d, lang)).transpose()?;
    let number: u32 = match optional(&params.page) {
        None => 1,
        Some(p) => parse::<u32>(&p, lang).ok().filter(|p| (1..=MAX_PAGE).contains(p)).ok_or_else(|| WebError::new(lang, StatusCode::NOT_FOUND, "error-not-found"))?,
    };

    let mut view = SearchPage {
        page: member.page(lang.t("search-title"), "search", None),
        family: family.to_string(),
        q: params.q.clone(),
        child: child.map(|c| c.to_string()).unwrap_or_default(),
        doctype: doctype.map(|d| d.as_str().to_owned()).unwrap_or_default(),
        from: params.from.trim().to_owned(),
        to: params.to.trim().to_owned(),
        message: None,
        explain: false,
        period_open: !(params.from.trim().is_empty() && params.to.trim().is_empty()),
        found: None,
    };
    let text = params.q.trim();
    if text.is_empty() {
        view.explain = true;
        return Ok(render(StatusCode::OK, &view));
    }
    // Nothing is decided for a search that cannot be made: the query and the period are checked first.
    if let Err(e) = cartable_search::Query::parse(text) {
        view.message = Some(query_message(lang, &e));
        return Ok(render(StatusCode::OK, &view));
    }
    let period = match (day(&params.from), day(&params.to)) {
        (Ok(from), Ok(to)) if from.zip(to).is_some_and(|(f, t)| f > t) => Err(lang.t("search-error-period")),
        (Ok(from), Ok(to)) => Ok((from, to)),
        _ => Err(lang.t("search-error-date")),
    };
    let (from, to) = match period {
        Ok(period) => period,
        Err(message) => {
            view.message = Some(message);
            return Ok(render(StatusCode::OK, &view));
        }
    };

    let permits = search_permits(&state, &Caller::Member(member.session.clone()), family, child, doctype).await.in_lang(lang)?;
    let permits: Vec<&Permit> = permits.iter().collect();
    let query = SearchQuery { text: text.to_owned(), child, doctype, from, to, offset: (number - 1) * PER_PAGE, limit: PER_PAGE };
    let outcome = match state.vault().search(&permits, &query).await {
        Ok(outcome) => outcome,
        Err(cartable_vault::Error::InvalidInput(_)) => {
            // What the vault refuses once the query parsed: a query of common words only ("le", "de"…). Its
            // message is English; the page says it in its language.
            view.message = Some(lang.t("search-error-refused"));
            return Ok(render(StatusCode::OK, &view));
        }
        Err(e) => return Err(WebError::from_api(lang, e.into())),
    };
    view.found = Some(found(&household, &params, &view, outcome, number, lang));
    Ok(render(StatusCode::OK, &view))
}

/// The results in words: counts as links, each hit's child, doctype, day and marked passage, the pages.
fn found(household: &Household, params: &SearchParams, view: &SearchPage, outcome: SearchOutcome, number: u32, lang: Lang) -> Found {
    let family = household.family;
    let name = |id: MemberId| household.name(id, lang);

    // Children in the family's order; doctypes by how many they hold.
    let mut by_child = outcome.by_child.clone();
    // The filter in force is listed even when nothing of it matches, so that it shows (and can be removed).
    if let Some(child) = view.child.parse::<MemberId>().ok().filter(|c| !by_child.iter().any(|(id, _)| id == c)) {
        by_child.push((child, 0));
    }
    by_child.sort_by_key(|(id, _)| household.members.iter().position(|m| m.id == *id).unwrap_or(usize::MAX));
    // A list shows when it can narrow (two or more) or when its filter is in force (to remove it).
    let mut children = Vec::new();
    if by_child.len() > 1 || !view.child.is_empty() {
        children.push(Facet { label: lang.t("search-any-child"), count: String::new(), href: params.href(family, "", &view.doctype, 1), current: view.child.is_empty() });
        for (id, n) in by_child {
            let value = id.to_string();
            let current = view.child == value;
            // The filter in force links to the search without it.
            let href = params.href(family, if current { "" } else { &value }, &view.doctype, 1);
            children.push(Facet { label: name(id), count: n.to_string(), href, current });
        }
    }
    let mut by_doctype = outcome.by_doctype.clone();
    if let Some(doctype) = view.doctype.parse::<Doctype>().ok().filter(|d| !by_doctype.iter().any(|(x, _)| x == d)) {
        by_doctype.push((doctype, 0));
    }
    by_doctype.sort_by_key(|(d, n)| (std::cmp::Reverse(*n), Doctype::ALL.iter().position(|x| x == d)));
    let mut doctypes = Vec::new();
    if by_doctype.len() > 1 || !view.doctype.is_empty() {
        doctypes.push(Facet { label: lang.t("search-any-doctype"), count: String::new(), href: params.href(family, &view.child, "", 1), current: view.doctype.is_empty() });
        for (d, n) in by_doctype {
            let current = view.doctype == d.as_str();
            let href = params.href(family, &view.child, if current { "" } else { d.as_str() }, 1);
            doctypes.push(Facet { label: doctype_label(lang, d), count: n.to_string(), href, current });
        }
    }

    let hits = outcome
        .hits
        .iter()
        .map(|hit| {
            let doctype = doctype_label(lang, hit.doctype);
            Hit {
                title: if hit.title.trim().is_empty() { doctype.clone() } else { hit.title.clone() },
                href: format!("/family/{family}/children/{}/{}", hit.child, hit.doctype.as_str()),
                child: name(hit.child),
                doctype,
                // A timetable's slot has no date of its own: its day would only be the day it was stored.
                day: hit.day.filter(|_| hit.doctype != Doctype::Timetable).map(|d| lang.date(d.midnight().assume_utc())),
                pieces: pieces(&hit.snippet, &hit.highlights),
            }
        })
        .collect();

    let pages = outcome.total.div_ceil(u64::from(PER_PAGE)).min(u64::from(MAX_PAGE)) as u32;
    let at = |n: u32| params.href(family, &view.child, &view.doctype, n);
    Found {
        total: lang.t_with("search-total", &[("count", Arg::Number(outcome.total as f64))]),
        unreadable: (outcome.unreadable > 0).then(|| lang.t_with("search-unreadable", &[("count", Arg::Number(outcome.unreadable as f64))])),
        children,
        doctypes,
        hits,
        previous: (number > 1).then(|| at(number - 1)),
        next: (number < pages).then(|| at(number + 1)),
        position: (pages > 1).then(|| lang.t_with("search-position", &[("page", Arg::Number(f64::from(number))), ("pages", Arg::Number(f64::from(pages)))])),
    }
}

#[cfg(test)]
// A highlight is a list of ranges; one range is a list too.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn shown(pieces: &[Piece]) -> String {
        pieces.iter().map(|p| if p.marked { format!("[{}]", p.text) } else { p.text.clone() }).collect()
    }

    #[test]
    fn a_passage_is_cut_at_its_highlights() {
        let text = "Un élève très attentif, élève modèle";
        let first = text.find("élève").unwrap();
        let second = text.rfind("élève").unwrap();
        let marks = [second..second + "élève".len(), first..first + "élève".len()];
        assert_eq!(shown(&pieces(text, &marks)), "Un [élève] très attentif, [élève] modèle");
        assert_eq!(shown(&pieces(text, &[])), text);
        // Overlapping and touching ranges are joined; the text is whole.
        assert_eq!(shown(&pieces("abcdef", &[1..3, 2..4, 4..5])), "a[bcde]f");
        assert_eq!(pieces("abcdef", &[1..3, 2..4, 4..5]).len(), 3);
        // A range inside a character, past the end, or empty is left out.
        assert_eq!(shown(&pieces("élève", &[1..3, 0..99, 2..2])), "élève");
        assert_eq!(shown(&pieces("élève", &[0..2])), "[é]lève");
        assert!(pieces("", &[0..1]).is_empty());
        // Lines are joined, the marks moved with them, even at a line's edge.
        assert_eq!(shown(&pieces("Histoire\n10 mars\n\nExposé élève", &[26..33])), "Histoire · 10 mars · Exposé [élève]");
        assert_eq!(shown(&pieces("\n14:30\nMaths\n  CDI \n", &[7..12])), "14:30 · [Maths] · CDI");
        assert_eq!(shown(&pieces("a\nb", &[0..1, 2..3])), "[a] · [b]");
    }

    #[test]
    fn every_query_error_has_words_of_its_own_in_both_languages() {
        let errors = [QueryError::Empty, QueryError::TooLong, QueryError::TooManyParts, QueryError::UnclosedQuote, QueryError::ShortPrefix, QueryError::OnlyExclusions];
        for lang in Lang::ALL {
            let mut seen: Vec<String> = errors.iter().map(|e| query_message(lang, e)).collect();
            seen.push(lang.t("search-error-query"));
            let count = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), count, "{lang:?}: two errors say the same");
        }
        assert_eq!(query_message(Lang::Fr, &QueryError::UnclosedQuote), "Un guillemet n'est pas fermé : ajoutez celui qui termine l'expression, ou retirez-le.");
    }

    #[test]
    fn links_keep_the_search_and_leave_out_what_is_empty() {
        let family: FamilyId = "00000000-0000-4000-8000-000000000001".parse().unwrap();
        let params = SearchParams { q: " élève \"bon travail\" ".into(), from: "2030-01-01".into(), ..Default::default() };
        assert_eq!(params.href(family, "", "edu.grades", 1), format!("/family/{family}/search?q=%C3%A9l%C3%A8ve+%22bon+travail%22&doctype=edu.grades&from=2030-01-01"));
        assert_eq!(params.href(family, "", "", 3), format!("/family/{family}/search?q=%C3%A9l%C3%A8ve+%22bon+travail%22&from=2030-01-01&page=3"));
    }
}
