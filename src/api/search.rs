//! Search over a family's data, for its members (session) and services (access token): an access like any other,
//! decided by Cedar at that moment and in the ledger before any result goes out. The query's words are never logged
//! (the ledger holds what was searched: the collections, by child and doctype).

use axum::extract::State;
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Resource};
use cartable_sdk::{ErrorResponse, FacetCount, Highlight, SearchHit, SearchResults};
use cartable_vault::{MAX_SEARCH_OFFSET, MAX_SEARCH_PAGE, Permit, SearchOutcome, SearchQuery};
use serde::Deserialize;
use time::Date;

use super::data::decide;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller};
use super::{ApiState, family_id, member_id, parse_doctype, wire_member, wire_record};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words: all must match; `"a phrase"`; `-word` to exclude; `prefix*` (at least 2 letters). At most 500
    /// bytes and 32 parts.
    q: String,
    /// Only this child's records (a member id).
    child: Option<cartable_sdk::MemberId>,
    /// Only this doctype, e.g. `edu.grades`.
    doctype: Option<String>,
    /// The period, by the record's day, `YYYY-MM-DD`, both ends included.
    from: Option<String>,
    to: Option<String>,
    /// Skip this many results (`next_offset` of the previous page), at most 10,000.
    offset: Option<u32>,
    /// Results per page, 1 to 100 (default 20).
    limit: Option<u32>,
}

fn parse_day(name: &str, value: Option<&str>) -> ApiResult<Option<Date>> {
    value
        .map(|v| Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| ApiError::invalid(format!("`{name}` is a date, YYYY-MM-DD"))))
        .transpose()
}

/// The decisions a search needs, each logged: a member's (or the operator's) to search the family, narrowed by the
/// vault to the collections the same rules let them search, or their one collection when both `child` and
/// `doctype` are given; a service's to search each collection of its grant the search covers, so that each entry
/// of the ledger names the child and the doctype searched.
pub(crate) async fn search_permits(
    state: &ApiState,
    caller: &Caller,
    family: FamilyId,
    child: Option<MemberId>,
    doctype: Option<Doctype>,
) -> ApiResult<Vec<Permit>> {
    let collections: Vec<Resource> = match caller {
        Caller::Service(token) if token.family == family => {
            let child = child.unwrap_or(token.child);
            let doctypes = match doctype {
                Some(d) => vec![d],
                None => token.doctypes.clone(),
            };
            doctypes.into_iter().map(|doctype| Resource::Collection { child, doctype }).collect()
        }
        _ => match (child, doctype) {
            (Some(child), Some(doctype)) => vec![Resource::Collection { child, doctype }],
            _ => vec![Resource::Family],
        },
    };
    let mut permits = Vec::with_capacity(collections.len());
    for resource in collections {
        permits.push(decide(state, caller, family, Action::Search, resource).await?);
    }
    Ok(permits)
}

/// Searches what the caller may search of a family: ranked (BM25), with snippets, counts per child and doctype, and
/// filters by child, doctype and period. A service finds only what its grant covers.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/search", tag = "data",
    params(("family" = String, Path, description = "family id"), SearchParams),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "a page of results (for a sealed service, an MLS message of it: `cartable_sdk::sealed`)", content((SearchResults = "application/json"), (Vec<u8> = "message/mls"))),
        (status = 400, description = "an empty or malformed query, a bad filter (`invalid_request`); the query is never repeated", body = ErrorResponse),
        (status = 401, description = "no, unknown or expired credentials (`unauthorized`, `invalid_token`, `token_expired`)", body = ErrorResponse),
        (status = 403, description = "refused (`denied`, `grant_revoked`, `grant_expired`, `forbidden_doctype`); logged", body = ErrorResponse),
    )
)]
pub async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(family): ApiPath<cartable_sdk::FamilyId>,
    ApiQuery(params): ApiQuery<SearchParams>,
    uri: axum::http::Uri,
) -> ApiResult<axum::response::Response> {
    let family = family_id(family);
    let doctype = params.doctype.as_deref().map(parse_doctype).transpose()?;
    let child = params.child.map(member_id);
    let limit = params.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_SEARCH_PAGE {
        return Err(ApiError::invalid(format!("`limit` is 1 to {MAX_SEARCH_PAGE}")));
    }
    let offset = params.offset.unwrap_or(0);
    if offset > MAX_SEARCH_OFFSET {
        return Err(ApiError::invalid(format!("`offset` is at most {MAX_SEARCH_OFFSET}")));
    }
    let query = SearchQuery {
        text: params.q,
        child,
        doctype,
        from: parse_day("from", params.from.as_deref())?,
        to: parse_day("to", params.to.as_deref())?,
        offset,
        limit,
    };
    // The query is checked before any decision: a malformed one changes nothing, not even the ledger.
    cartable_search::Query::parse(&query.text).map_err(|e| ApiError::invalid(e.to_string()))?;
    let permits = search_permits(&state, &caller, family, child, doctype).await?;
    let sealer = match permits.first() {
        Some(permit) => super::sealed::sealer_for(&state, &caller, permit).await?,
        None => None,
    };
    let permits: Vec<&Permit> = permits.iter().collect();
    let outcome = state.vault().search(&permits, &query).await?;
    super::sealed::respond(sealer, &uri, &wire_results(outcome, query.offset, limit)).await
}

/// The wire form of a page of results.
pub(crate) fn wire_results(outcome: SearchOutcome, offset: u32, limit: u32) -> SearchResults {
    let shown = u64::from(offset) + outcome.hits.len() as u64;
    SearchResults {
        total: outcome.total,
        next_offset: (shown < outcome.total && outcome.hits.len() as u32 == limit && offset + limit <= MAX_SEARCH_OFFSET).then(|| offset + limit),
        hits: outcome
            .hits
            .into_iter()
            .map(|hit| SearchHit {
                record_id: wire_record(hit.record),
                version: hit.version,
                child_id: wire_member(hit.child),
                doctype: hit.doctype.as_str().to_owned(),
                day: hit.day.map(|d| d.to_string()),
                title: hit.title,
                score: hit.score,
                snippet: hit.snippet,
                highlights: hit.highlights.into_iter().map(|r| Highlight { start: r.start, end: r.end }).collect(),
            })
            .collect(),
        by_child: outcome.by_child.into_iter().map(|(c, count)| FacetCount { value: c.to_string(), count }).collect(),
        by_doctype: outcome.by_doctype.into_iter().map(|(d, count)| FacetCount { value: d.as_str().to_owned(), count }).collect(),
        unreadable_files: outcome.unreadable,
    }
}
