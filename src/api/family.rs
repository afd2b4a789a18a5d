//! The family's side: who is in it, what it holds, the requests and grants it decides on, its prohibitions, and
//! its consent ledger with checkpoints and proofs. Every call is decided by the family's rules for the caller.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use cartable_consent::{Action, Doctype, FamilyId, ForbidScope, Grant, GrantId, Grantee, Resource};
use cartable_sdk::{
    AccessReport, Checkpoint, Collection, Collections, ConsistencyProof, ErrorResponse, Family, GrantList, GrantOutcome, GrantView,
    InclusionProof, LedgerEntry, LedgerPage, Member, MemberCreated, NewMember, NewProhibition, Prohibition, Prohibitions, ReportEntry,
};
use cartable_vault::{ApprovalResult, LedgerFilter, Permit};
use serde::Deserialize;

use super::data::decide;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller, JsonBody};
use super::{ApiState, family_id, grant_id, member_id, parse_doctype, parse_role, wire_family, wire_grant, wire_member, wire_service};

type FamilyPath = ApiPath<cartable_sdk::FamilyId>;
type GrantPath = ApiPath<(cartable_sdk::FamilyId, cartable_sdk::GrantId)>;

/// The family's name and members, with names, roles and the children's birth dates; a child (from the age of
/// digital consent) sees their own birth date only.
#[utoipa::path(
    get, path = "/api/v1/families/{family}", tag = "family",
    params(("family" = String, Path, description = "family id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "the family", body = Family),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 404, description = "no such family", body = ErrorResponse),
    )
)]
pub async fn family(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath) -> ApiResult<Json<Family>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::Read, Resource::Family).await?;
    let name = state.vault().family_name(&permit).await?;
    let members = state
        .vault()
        .list_members(&permit)
        .await?
        .into_iter()
        .map(|m| Member { member_id: wire_member(m.id), role: m.role.as_str().to_owned(), name: m.name, birth_date: m.birth_date.map(|d| d.to_string()) })
        .collect();
    Ok(Json(Family { family_id: wire_family(family), name, members }))
}

/// Adds a guardian or a child (a child needs a birth date: the age rules depend on it).
#[utoipa::path(
    post, path = "/api/v1/families/{family}/members", tag = "family",
    params(("family" = String, Path, description = "family id")),
    request_body = NewMember,
    security(("session" = [])),
    responses(
        (status = 201, description = "added", body = MemberCreated),
        (status = 400, description = "invalid role, name or birth date", body = ErrorResponse),
        (status = 403, description = "refused; logged", body = ErrorResponse),
    )
)]
pub async fn add_member(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(family): FamilyPath,
    JsonBody(member): JsonBody<NewMember>,
) -> ApiResult<(StatusCode, Json<MemberCreated>)> {
    let family = family_id(family);
    let role = parse_role(&member.role)?;
    let birth_date = member
        .birth_date
        .as_deref()
        .map(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE).map_err(|_| ApiError::invalid(format!("`{d}` is not a date (YYYY-MM-DD)"))))
        .transpose()?;
    let permit = decide(&state, &caller, family, Action::Manage, Resource::Family).await?;
    let id = state.vault().add_member(&permit, role, &member.name, birth_date).await?;
    tracing::info!(family = %family, member = %id, "member added");
    Ok((StatusCode::CREATED, Json(MemberCreated { member_id: wire_member(id) })))
}

/// The family's collections (one per child and doctype) and how many records each holds.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/collections", tag = "family",
    params(("family" = String, Path, description = "family id")),
    security(("session" = [])),
    responses((status = 200, description = "the collections", body = Collections), (status = 403, description = "refused; logged", body = ErrorResponse))
)]
pub async fn collections(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath) -> ApiResult<Json<Collections>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::List, Resource::Family).await?;
    let collections = state
        .vault()
        .api()
        .collections(&permit)
        .await?
        .into_iter()
        .map(|c| Collection { child_id: wire_member(c.child), doctype: c.doctype.as_str().to_owned(), records: c.records })
        .collect();
    Ok(Json(Collections { collections }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only grants in this state (`requested`, `active`, `denied`, `revoked`, `expired`, `awaiting_confirmation`).
    state: Option<String>,
}

/// Every access request and grant of the family, oldest first (expiries due are applied first).
#[utoipa::path(
    get, path = "/api/v1/families/{family}/grants", tag = "family",
    params(("family" = String, Path, description = "family id"), GrantQuery),
    security(("session" = [])),
    responses((status = 200, description = "requests and grants", body = GrantList), (status = 403, description = "refused; logged", body = ErrorResponse))
)]
pub async fn grants(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath, ApiQuery(query): ApiQuery<GrantQuery>) -> ApiResult<Json<GrantList>> {
    let family = family_id(family);
    let wanted = query
        .state
        .as_deref()
        .map(|s| cartable_consent::GrantState::parse(s).ok_or_else(|| ApiError::invalid(format!("unknown grant state `{}`", s.chars().take(64).collect::<String>()))))
        .transpose()?;
    let permit = decide(&state, &caller, family, Action::List, Resource::Register).await?;
    let listed: Vec<Grant> = state.vault().list_grants(&permit).await?.into_iter().filter(|g| wanted.is_none_or(|w| w == g.state)).collect();
    // The services' names in one query, not one per grant.
    let mut services: Vec<_> = listed.iter().filter_map(|g| if let Grantee::Service(s) = g.grantee { Some(s) } else { None }).collect();
    services.sort();
    services.dedup();
    let names = state.vault().service_names(&services).await?;
    Ok(Json(GrantList { grants: listed.into_iter().map(|g| grant_view(&names, g)).collect() }))
}

fn grant_view(names: &std::collections::HashMap<cartable_consent::ServiceId, String>, g: Grant) -> GrantView {
    let (service_id, service_name, member_id) = match g.grantee {
        Grantee::Service(s) => (Some(wire_service(s)), names.get(&s).cloned(), None),
        Grantee::Member(m) => (None, None, Some(wire_member(m))),
    };
    GrantView {
        grant_id: wire_grant(g.id),
        service_id,
        service_name,
        member_id,
        child_id: wire_member(g.child),
        doctypes: g.doctypes.iter().map(|d| d.as_str().to_owned()).collect(),
        actions: g.actions.iter().map(|a| a.as_str().to_owned()).collect(),
        purpose: g.purpose,
        legal_basis: g.legal_basis.as_str().to_owned(),
        state: g.state.as_str().to_owned(),
        requested_at: g.requested_at,
        duration_days: g.duration_days,
        expires_at: g.expires_at,
        approved_by: g.approvals.iter().map(|a| wire_member(a.member)).collect(),
    }
}

/// A grant operation: the member must be allowed to manage each collection the grant covers (each decided and
/// logged); the age rules of the lifecycle then say whether this member may take this step.
pub(crate) async fn manage_grant(state: &ApiState, caller: &Caller, family: FamilyId, grant: GrantId) -> ApiResult<Permit> {
    if !matches!(caller, Caller::Member(session) if session.family == family) {
        // A service, or an outsider: the gate decides first, so that another family's caller is answered as for a
        // family that does not exist (and counted apart), and a service's attempt in its own family is logged.
        decide(state, caller, family, Action::Manage, Resource::Family).await?;
        return Err(ApiError::denied("only a family member decides on grants"));
    }
    let g = state.vault().grant_outline(family, grant).await?;
    let mut permits = Vec::with_capacity(g.doctypes.len());
    for doctype in &g.doctypes {
        permits.push(decide(state, caller, family, Action::Manage, Resource::Collection { child: g.child, doctype: *doctype }).await?);
    }
    permits.into_iter().next().ok_or_else(|| ApiError::invalid("the grant names no collection"))
}

fn outcome(state: &ApiState, result: ApprovalResult) -> Json<GrantOutcome> {
    state.grant_changed(result.grant);
    tracing::info!(grant = %result.grant, state = result.state.as_str(), "grant changed");
    Json(GrantOutcome { grant_id: wire_grant(result.grant), state: result.state.as_str().to_owned(), missing: result.missing })
}

/// Approves a request; it becomes a grant once every approval the age rules require is in.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/grants/{grant}/approve", tag = "family",
    params(("family" = String, Path, description = "family id"), ("grant" = String, Path, description = "request id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "approved (`missing` names approvals still needed)", body = GrantOutcome),
        (status = 403, description = "this member may not approve it", body = ErrorResponse),
        (status = 409, description = "not pending, or already approved by this member", body = ErrorResponse),
    )
)]
pub async fn approve(State(state): State<ApiState>, caller: Caller, ApiPath((family, grant)): GrantPath) -> ApiResult<Json<GrantOutcome>> {
    let (family, grant) = (family_id(family), grant_id(grant));
    let permit = manage_grant(&state, &caller, family, grant).await?;
    Ok(outcome(&state, state.vault().approve(&permit, grant, None).await?))
}

/// Denies a request.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/grants/{grant}/deny", tag = "family",
    params(("family" = String, Path, description = "family id"), ("grant" = String, Path, description = "request id")),
    security(("session" = [])),
    responses((status = 200, description = "denied", body = GrantOutcome), (status = 403, description = "refused", body = ErrorResponse), (status = 409, description = "not pending", body = ErrorResponse))
)]
pub async fn deny(State(state): State<ApiState>, caller: Caller, ApiPath((family, grant)): GrantPath) -> ApiResult<Json<GrantOutcome>> {
    let (family, grant) = (family_id(family), grant_id(grant));
    let permit = manage_grant(&state, &caller, family, grant).await?;
    Ok(outcome(&state, state.vault().deny(&permit, grant, None).await?))
}

/// The adult child confirms a grant a guardian approved alone before their majority.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/grants/{grant}/confirm", tag = "family",
    params(("family" = String, Path, description = "family id"), ("grant" = String, Path, description = "grant id")),
    security(("session" = [])),
    responses((status = 200, description = "confirmed", body = GrantOutcome), (status = 403, description = "refused", body = ErrorResponse), (status = 409, description = "not awaiting confirmation", body = ErrorResponse))
)]
pub async fn confirm(State(state): State<ApiState>, caller: Caller, ApiPath((family, grant)): GrantPath) -> ApiResult<Json<GrantOutcome>> {
    let (family, grant) = (family_id(family), grant_id(grant));
    let permit = manage_grant(&state, &caller, family, grant).await?;
    Ok(outcome(&state, state.vault().confirm(&permit, grant, None).await?))
}

/// Revokes a grant (or withdraws a pending request): the service's next call is refused.
#[utoipa::path(
    delete, path = "/api/v1/families/{family}/grants/{grant}", tag = "family",
    params(("family" = String, Path, description = "family id"), ("grant" = String, Path, description = "grant id")),
    security(("session" = [])),
    responses((status = 200, description = "revoked", body = GrantOutcome), (status = 403, description = "refused", body = ErrorResponse), (status = 409, description = "already over", body = ErrorResponse))
)]
pub async fn revoke(State(state): State<ApiState>, caller: Caller, ApiPath((family, grant)): GrantPath) -> ApiResult<Json<GrantOutcome>> {
    let (family, grant) = (family_id(family), grant_id(grant));
    let permit = manage_grant(&state, &caller, family, grant).await?;
    Ok(outcome(&state, state.vault().revoke(&permit, grant, None).await?))
}

/// The prohibitions in force: the family's (over the minors) and the adult children's own.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/prohibitions", tag = "family",
    params(("family" = String, Path, description = "family id")),
    security(("session" = [])),
    responses((status = 200, description = "the prohibitions", body = Prohibitions), (status = 403, description = "refused; logged", body = ErrorResponse))
)]
pub async fn prohibitions(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath) -> ApiResult<Json<Prohibitions>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    prohibitions_now(&state, &permit).await
}

async fn prohibitions_now(state: &ApiState, permit: &Permit) -> ApiResult<Json<Prohibitions>> {
    let forbids = state.vault().forbids(permit).await?;
    let doctypes = forbids.iter().filter(|f| f.scope == ForbidScope::Minors).map(|f| f.doctype.as_str().to_owned()).collect();
    let prohibitions = forbids
        .iter()
        .map(|f| Prohibition {
            doctype: f.doctype.as_str().to_owned(),
            child_id: match f.scope {
                ForbidScope::Minors => None,
                ForbidScope::Adult(child) => Some(wire_member(child)),
            },
        })
        .collect();
    Ok(Json(Prohibitions { doctypes, prohibitions }))
}

/// Who may change a prohibition of this scope: a guardian the family's (managing the family), an adult child their
/// own (managing their own collection); the age rules of the vault then check the member's standing.
async fn change_prohibition_as(state: &ApiState, caller: &Caller, family: FamilyId, doctype: Doctype, scope: ForbidScope) -> ApiResult<Permit> {
    let resource = match scope {
        ForbidScope::Minors => Resource::Family,
        ForbidScope::Adult(child) => Resource::Collection { child, doctype },
    };
    let permit = decide(state, caller, family, Action::Manage, resource).await?;
    if !matches!(caller, Caller::Member(_)) {
        return Err(ApiError::denied("only a family member changes prohibitions"));
    }
    Ok(permit)
}

/// Never share a doctype, whatever a grant says: it overrides every grant at once. Without `child_id`, the
/// family's (a guardian's, over the minors); with an adult child's id, that adult's own.
#[utoipa::path(
    post, path = "/api/v1/families/{family}/prohibitions", tag = "family",
    params(("family" = String, Path, description = "family id")),
    request_body = NewProhibition,
    security(("session" = [])),
    responses(
        (status = 200, description = "the prohibitions now", body = Prohibitions),
        (status = 400, description = "unknown doctype, or a scope this member may not set", body = ErrorResponse),
        (status = 403, description = "refused; logged", body = ErrorResponse),
    )
)]
pub async fn forbid(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(family): FamilyPath,
    JsonBody(body): JsonBody<NewProhibition>,
) -> ApiResult<Json<Prohibitions>> {
    let family = family_id(family);
    let doctype = parse_doctype(&body.doctype)?;
    let scope = body.child_id.map_or(ForbidScope::Minors, |c| ForbidScope::Adult(member_id(c)));
    let permit = change_prohibition_as(&state, &caller, family, doctype, scope).await?;
    state.vault().forbid(&permit, doctype, scope, None).await?;
    tracing::info!(family = %family, doctype = doctype.as_str(), "prohibition set");
    let register = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    prohibitions_now(&state, &register).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiftQuery {
    /// The adult child whose own prohibition this is; absent for the family's.
    child: Option<cartable_sdk::MemberId>,
}

/// Lifts a prohibition; whoever may set it may lift it, and the change is in the ledger.
#[utoipa::path(
    delete, path = "/api/v1/families/{family}/prohibitions/{doctype}", tag = "family",
    params(("family" = String, Path, description = "family id"), ("doctype" = String, Path, description = "the doctype"), LiftQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "the prohibitions now", body = Prohibitions),
        (status = 400, description = "unknown doctype, or a scope this member may not lift", body = ErrorResponse),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 404, description = "no such prohibition", body = ErrorResponse),
    )
)]
pub async fn lift(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((family, doctype)): ApiPath<(cartable_sdk::FamilyId, String)>,
    ApiQuery(query): ApiQuery<LiftQuery>,
) -> ApiResult<Json<Prohibitions>> {
    let family = family_id(family);
    let doctype = parse_doctype(&doctype)?;
    let scope = query.child.map_or(ForbidScope::Minors, |c| ForbidScope::Adult(member_id(c)));
    let permit = change_prohibition_as(&state, &caller, family, doctype, scope).await?;
    if !state.vault().lift_prohibition(&permit, doctype, scope, None).await? {
        return Err(ApiError::not_found("no such prohibition"));
    }
    tracing::info!(family = %family, doctype = doctype.as_str(), "prohibition lifted");
    let register = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    prohibitions_now(&state, &register).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Continue after this entry index (`next_after` of the previous page).
    after: Option<u64>,
    /// Entries per page, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// Only this event (`request`, `approve`, `revoke`, `access_allowed`, `access_denied`, …).
    event: Option<String>,
    /// Only entries about this service.
    service: Option<cartable_sdk::ServiceId>,
}

/// A page of the family's consent ledger: receipts with ids and categories, never record contents.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/ledger/entries", tag = "ledger",
    params(("family" = String, Path, description = "family id"), LedgerQuery),
    security(("session" = [])),
    responses((status = 200, description = "entries, oldest first", body = LedgerPage), (status = 403, description = "refused; logged", body = ErrorResponse))
)]
pub async fn ledger_entries(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath, ApiQuery(query): ApiQuery<LedgerQuery>) -> ApiResult<Json<LedgerPage>> {
    let family = family_id(family);
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::invalid("`limit` is 1 to 1000"));
    }
    let event = query
        .event
        .as_deref()
        .map(|e| e.parse::<cartable_consent::ledger::EventType>().map_err(|e| ApiError::invalid(e.to_string())))
        .transpose()?;
    let permit = decide(&state, &caller, family, Action::List, Resource::Register).await?;
    let filter = LedgerFilter { event, service: query.service.map(super::service_id), after_index: query.after, limit: Some(limit), ..Default::default() };
    // What a member sees is narrowed by the vault: a child sees the entries about themselves, a guardian no
    // longer sees an adult child's.
    let entries = state.vault().ledger_entries(&permit, &filter).await?;
    let next_after = (entries.len() as u32 == limit).then(|| entries.last().map(|e| e.index)).flatten();
    let entries = entries
        .into_iter()
        .map(|e| Ok(LedgerEntry { index: e.index, receipt: serde_json::to_value(&e.receipt).map_err(|e| ApiError::internal(&e))? }))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(LedgerPage { entries, next_after }))
}

/// A fresh signed checkpoint of the family's ledger (C2SP tlog-checkpoint), kept for later verifications.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/ledger/checkpoint", tag = "ledger",
    params(("family" = String, Path, description = "family id")),
    security(("session" = [])),
    responses((status = 200, description = "the signed checkpoint", body = Checkpoint), (status = 403, description = "refused; logged", body = ErrorResponse))
)]
pub async fn checkpoint(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath) -> ApiResult<Json<Checkpoint>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    let note = state.vault().checkpoint(&permit).await?;
    // The note's body: origin, size, root.
    let size = note.lines().nth(1).and_then(|l| l.parse().ok()).ok_or_else(|| ApiError::internal(&"a checkpoint without a size"))?;
    Ok(Json(Checkpoint { size, checkpoint: note }))
}

/// A child's consent history (GDPR art. 15): the grants about the child's data and every entry about the child,
/// each with its inclusion proof, for the guardian of a minor or the child from the age of digital consent (the
/// operator's DPO too). The register's reading is decided and logged; whom it then shows the child to is the vault's
/// narrowing, so a guardian asking about an adult child is refused (403) after a logged read of the register.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/children/{child}/access-report", tag = "ledger",
    params(("family" = String, Path, description = "family id"), ("child" = String, Path, description = "the child's member id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "the history, with proofs and the key to check them", body = AccessReport),
        (status = 403, description = "not shown to this caller; logged", body = ErrorResponse),
    )
)]
pub async fn access_report(State(state): State<ApiState>, caller: Caller, ApiPath((family, child)): ApiPath<(cartable_sdk::FamilyId, cartable_sdk::MemberId)>) -> ApiResult<Json<AccessReport>> {
    let (family, child) = (family_id(family), member_id(child));
    let permit = decide(&state, &caller, family, Action::List, Resource::Register).await?;
    Ok(Json(report_of(&state, &permit, child).await?))
}

/// The art. 15 report of `child` under a register permit (the API's and the web page's).
pub(crate) async fn report_of(state: &ApiState, permit: &cartable_vault::Permit, child: cartable_consent::MemberId) -> ApiResult<AccessReport> {
    let vault = state.vault();
    let history = vault.subject_history(permit, child).await.map_err(|e| match e {
        cartable_vault::Error::Denied(_) => ApiError::denied("this child's consent history is not shown to you"),
        other => other.into(),
    })?;
    let grants: Vec<Grant> = vault.list_grants(permit).await?.into_iter().filter(|g| g.child == child).collect();
    let mut services: Vec<_> = grants.iter().filter_map(|g| if let Grantee::Service(s) = g.grantee { Some(s) } else { None }).collect();
    services.sort();
    services.dedup();
    let names = vault.service_names(&services).await?;
    Ok(AccessReport {
        family_id: wire_family(permit.family()),
        child_id: wire_member(child),
        generated_at: time::OffsetDateTime::now_utc(),
        verifier_key: vault.ledger_verifier_key(),
        grants: grants.into_iter().map(|g| grant_view(&names, g)).collect(),
        entries: history
            .into_iter()
            .map(|(entry, proof)| ReportEntry { index: entry.index, receipt: serde_json::to_value(&entry.receipt).unwrap_or_default(), proof })
            .collect(),
    })
}

/// The inclusion proof of one entry (C2SP tlog-proof), with a fresh checkpoint and the entry: checkable offline.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/ledger/entries/{index}/proof", tag = "ledger",
    params(("family" = String, Path, description = "family id"), ("index" = u64, Path, description = "entry index")),
    security(("session" = [])),
    responses((status = 200, description = "the proof", body = InclusionProof), (status = 400, description = "no such entry", body = ErrorResponse))
)]
pub async fn inclusion_proof(State(state): State<ApiState>, caller: Caller, ApiPath((family, index)): ApiPath<(cartable_sdk::FamilyId, u64)>) -> ApiResult<Json<InclusionProof>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    let proof = state.vault().inclusion_proof(&permit, index).await?;
    Ok(Json(InclusionProof { index, proof }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The smaller size (a checkpoint seen earlier).
    old: u64,
    /// The larger size.
    new: u64,
}

/// RFC 9162 consistency proof between two sizes of the family's ledger.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/ledger/consistency", tag = "ledger",
    params(("family" = String, Path, description = "family id"), ConsistencyQuery),
    security(("session" = [])),
    responses((status = 200, description = "the proof", body = ConsistencyProof), (status = 400, description = "sizes out of range", body = ErrorResponse))
)]
pub async fn consistency_proof(State(state): State<ApiState>, caller: Caller, ApiPath(family): FamilyPath, ApiQuery(query): ApiQuery<ConsistencyQuery>) -> ApiResult<Json<ConsistencyProof>> {
    let family = family_id(family);
    let permit = decide(&state, &caller, family, Action::Read, Resource::Register).await?;
    let hashes = state.vault().consistency_proof(&permit, query.old, query.new).await?;
    let hashes = hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect();
    Ok(Json(ConsistencyProof { old_size: query.old, new_size: query.new, hashes }))
}
