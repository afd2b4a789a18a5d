//! The JSON that travels between Cartable and its callers, under `/api/v1`.
//!
//! The server deserializes requests and serializes responses with these very types, so the SDK and the server
//! cannot disagree. Requests refuse unknown fields (a misspelt field is an error, not a silent default);
//! responses accept them, so that a newer server can add fields without breaking older clients.
//!
//! Doctypes (`edu.grades`, …), actions (`read`, `list`, `search`, `write`, `export`) and legal bases
//! (`consent`, `contract`, …) travel as strings: the server knows the current list and names it in its errors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

macro_rules! wire_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| InvalidId { kind: $kind, input: s.chars().take(64).collect() })
            }
        }
    };
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
    pub input: String,
}

wire_id!(/// A family.
    FamilyId, "family");
wire_id!(/// A guardian or a child of a family.
    MemberId, "member");
wire_id!(/// A registered service.
    ServiceId, "service");
wire_id!(/// An access request; once approved, the same id names the grant.
    GrantId, "grant");
wire_id!(/// A record or a file.
    RecordId, "record");
wire_id!(/// A data protection officer appointed on this server.
    DpoId, "dpo");

// --- errors -----------------------------------------------------------------------------------------------------

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// For people: lowercase, no trailing period; never internal detail.
    pub message: String,
}

/// The stable error codes. Clients branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: the body names a field the endpoint does not know.
    UnknownField,
    /// 400: well-formed, but a value is wrong (an unknown doctype, a missing field, an empty name, …).
    InvalidRequest,
    /// 413: the body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json` where JSON is expected.
    UnsupportedMediaType,
    /// 401: no credentials, or wrong ones (service secret, password, session).
    Unauthorized,
    /// 401: the access token or continuation handle is unknown (forged, truncated, or from another server).
    InvalidToken,
    /// 401: the access token has expired; continue the request to get a fresh one.
    TokenExpired,
    /// 403: the grant behind the token was revoked.
    GrantRevoked,
    /// 403: the grant behind the token has expired.
    GrantExpired,
    /// 403: the rules deny this access (it was logged).
    Denied,
    /// 403: the family never shares this doctype.
    ForbiddenDoctype,
    /// 403: the CSRF token is missing or wrong.
    Csrf,
    /// 404: no such thing here (or not visible to the caller).
    NotFound,
    /// 405: the path exists, not with this method.
    MethodNotAllowed,
    /// 409: the state does not allow it (approving a denied request, approving twice, …).
    Conflict,
    /// 429: too many failed sign-ins; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// 503: too many requests of this kind in progress (sign-ins); retry after the `Retry-After` header's seconds.
    Busy,
    /// 500: something failed on the server; the details are in its logs, not here.
    Internal,
    /// A code this version of the SDK does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::GrantRevoked => "grant_revoked",
            ErrorCode::GrantExpired => "grant_expired",
            ErrorCode::Denied => "denied",
            ErrorCode::ForbiddenDoctype => "forbidden_doctype",
            ErrorCode::Csrf => "csrf",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// --- services ---------------------------------------------------------------------------------------------------

/// `POST /api/v1/services`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterService {
    /// Shown to families when the service asks for access.
    #[cfg_attr(feature = "openapi", schema(example = "Tutorat Plus"))]
    pub name: String,
    /// What the service is, shown to families beside its name: one line, at most 500 characters, without
    /// invisible formatting characters. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Soutien scolaire en ligne, du CP à la terminale"))]
    pub description: Option<String>,
}

/// A service's credentials. The secret is shown once; the server keeps only its hash.
/// Services authenticate with HTTP Basic: `service_id:secret`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceCredentials {
    pub service_id: ServiceId,
    pub secret: String,
}

impl fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCredentials").field("service_id", &self.service_id).field("secret", &"<hidden>").finish()
    }
}

// --- access requests (GNAP-shaped) ------------------------------------------------------------------------------

/// `POST /api/v1/access-requests` (HTTP Basic with the service's credentials): what the service asks a family for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    pub family_id: FamilyId,
    /// The child whose data is asked for.
    pub child_id: MemberId,
    /// Collections, e.g. `["edu.grades", "edu.homework"]`.
    #[cfg_attr(feature = "openapi", schema(example = json!(["edu.grades"])))]
    pub doctypes: Vec<String>,
    /// Among `read`, `list`, `search`, `write`, `export`.
    #[cfg_attr(feature = "openapi", schema(example = json!(["read", "list"])))]
    pub actions: Vec<String>,
    /// What the service will do with the data, shown to the family and written in every receipt.
    #[cfg_attr(feature = "openapi", schema(example = "suivi scolaire"))]
    pub purpose: String,
    /// GDPR art. 6: `consent`, `contract`, `legal-obligation`, `vital-interest`, `public-task`, `legitimate-interest`.
    #[cfg_attr(feature = "openapi", schema(example = "consent"))]
    pub legal_basis: String,
    /// How long the grant lasts once approved.
    #[cfg_attr(feature = "openapi", schema(example = 90))]
    pub duration_days: u32,
}

/// Where a request stands, as its service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the family (a guardian, and the child where the age rules say so).
    Pending,
    /// Approved: the grant is in force and an access token comes with this status.
    Approved,
    Denied,
    Revoked,
    Expired,
}

/// How to continue a pending request: `POST {uri}` with `Authorization: GNAP {access_token.value}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Continuation {
    /// The path of the continuation endpoint, relative to the server's address.
    pub uri: String,
    /// The continuation handle (GNAP's continuation access token). Shown once; the server keeps its hash.
    pub access_token: ContinuationToken,
    /// Seconds to wait before continuing (the longest a long poll may last).
    pub wait: u32,
}

impl fmt::Debug for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Continuation").field("uri", &self.uri).field("access_token", &"<hidden>").field("wait", &self.wait).finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContinuationToken {
    pub value: String,
}

/// `201` to a new access request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccessRequestCreated {
    pub request_id: GrantId,
    pub status: RequestStatus,
    #[serde(rename = "continue")]
    pub continuation: Continuation,
}

/// `POST /api/v1/access-requests/{id}/continue`: the request's status, with a fresh access token while the
/// grant is in force (each successful continuation is a refresh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContinueResponse {
    pub request_id: GrantId,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    /// When the grant itself ends (approved only).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub grant_expires_at: Option<OffsetDateTime>,
}

/// A bearer token for the data API, bound to one grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccessToken {
    /// Send as `Authorization: Bearer {value}`.
    pub value: String,
    /// Seconds from now; never past the grant's own end.
    pub expires_in: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("value", &"<hidden>").field("expires_in", &self.expires_in).finish()
    }
}

// --- sessions ---------------------------------------------------------------------------------------------------

/// `POST /api/v1/session`: a guardian or a child signs in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub member_id: MemberId,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login").field("member_id", &self.member_id).field("password", &"<hidden>").finish()
    }
}

/// The signed-in member. The session itself is the `cartable_session` cookie (HttpOnly, SameSite=Strict); every
/// state-changing request made with it must echo `csrf_token` in the `X-CSRF-Token` header.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionInfo {
    pub member_id: MemberId,
    pub family_id: FamilyId,
    /// `guardian` or `child`.
    pub role: String,
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionInfo")
            .field("member_id", &self.member_id)
            .field("family_id", &self.family_id)
            .field("role", &self.role)
            .field("csrf_token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// --- families and members ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Family {
    pub family_id: FamilyId,
    pub name: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Member {
    pub member_id: MemberId,
    /// `guardian` or `child`.
    pub role: String,
    pub name: String,
    /// `YYYY-MM-DD`, for children; a child reading their family sees their own only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

/// `POST /api/v1/families/{family}/members`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// `guardian` or `child`.
    pub role: String,
    pub name: String,
    /// `YYYY-MM-DD`; required for a child.
    #[serde(default)]
    pub birth_date: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberCreated {
    pub member_id: MemberId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Collections {
    pub collections: Vec<Collection>,
}

/// One child's data of one doctype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Collection {
    pub child_id: MemberId,
    pub doctype: String,
    pub records: u64,
}

// --- records and files ------------------------------------------------------------------------------------------

/// A page of records, without their contents. Ask for the next page with `after = next_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordPage {
    pub records: Vec<RecordSummary>,
    /// Present when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<RecordId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordSummary {
    pub record_id: RecordId,
    pub doctype: String,
    pub child_id: MemberId,
    /// `record` (a JSON document) or `file`.
    pub kind: String,
    pub version: i64,
    /// Bytes of the body or the file.
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// One record with its body (a JSON object), or a file's metadata (`file`) and an empty body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Record {
    pub record_id: RecordId,
    pub doctype: String,
    pub child_id: MemberId,
    /// Who wrote it: `operator`, `member:<id>` or `service:<id>`.
    pub source: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: serde_json::Value,
}

// --- search -------------------------------------------------------------------------------------------------------

/// A page of search results, best first, with the counts of the whole search. Ask for the next page with
/// `offset = next_offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchResults {
    /// How many records match, in all pages.
    pub total: u64,
    pub hits: Vec<SearchHit>,
    /// Matches per child and per doctype among the collections searched, before the `child` and `doctype` filters.
    pub by_child: Vec<FacetCount>,
    pub by_doctype: Vec<FacetCount>,
    /// Files in the collections searched whose text could not be read (broken, or not text): found by name only.
    pub unreadable_files: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

/// One record found: what it is, and a passage of its text with the words found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchHit {
    pub record_id: RecordId,
    pub version: i64,
    pub child_id: MemberId,
    pub doctype: String,
    /// The record's day (its date, due date, or the day it was written), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The record's subject and title, or a file's name.
    pub title: String,
    /// BM25.
    pub score: f32,
    pub snippet: String,
    /// Byte ranges of `snippet` where the words found are.
    pub highlights: Vec<Highlight>,
}

/// The filters and page of a search (`GET /api/v1/families/{family}/search`), beside its words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchOptions {
    pub child: Option<MemberId>,
    pub doctype: Option<String>,
    /// `YYYY-MM-DD`, both ends included.
    pub from: Option<String>,
    pub to: Option<String>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

impl SearchOptions {
    /// The query string's pairs, the words first.
    pub fn query_pairs(&self, words: &str) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("q", words.to_owned())];
        pairs.extend(self.child.map(|c| ("child", c.to_string())));
        pairs.extend(self.doctype.clone().map(|d| ("doctype", d)));
        pairs.extend(self.from.clone().map(|d| ("from", d)));
        pairs.extend(self.to.clone().map(|d| ("to", d)));
        pairs.extend(self.offset.map(|n| ("offset", n.to_string())));
        pairs.extend(self.limit.map(|n| ("limit", n.to_string())));
        pairs
    }
}

/// A byte range `[start, end)` of a snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Highlight {
    pub start: usize,
    pub end: usize,
}

/// How many results have this value (a child's member id, or a doctype).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

/// `201` to a record or file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordCreated {
    pub record_id: RecordId,
}

/// Response headers of a file download (the body is the file itself).
pub mod file_headers {
    /// The file's name, percent-encoded UTF-8.
    pub const NAME: &str = "x-cartable-file-name";
    /// SHA-256 of the contents, hex: check it after the download.
    pub const SHA256: &str = "x-cartable-sha256";
}

// --- grants and prohibitions ------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

/// A request or grant, as the family sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GrantView {
    pub grant_id: GrantId,
    /// The service that asked (absent for a grant to a family member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<ServiceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// A family member the grant is to (an adult child's grant to a guardian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
    pub child_id: MemberId,
    pub doctypes: Vec<String>,
    pub actions: Vec<String>,
    pub purpose: String,
    pub legal_basis: String,
    /// `requested`, `active`, `denied`, `revoked`, `expired` or `awaiting_confirmation`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub requested_at: OffsetDateTime,
    pub duration_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    /// The members who approved so far.
    pub approved_by: Vec<MemberId>,
}

/// The state of a grant after a family member acted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GrantOutcome {
    pub grant_id: GrantId,
    pub state: String,
    /// Who must still approve, in plain words (e.g. `the child`).
    pub missing: Vec<String>,
}

/// `POST /api/v1/families/{family}/prohibitions`: never share this doctype, whatever a grant says. Without
/// `child_id` it is the family's (set by a guardian; it covers the children who are minors); with the id of an
/// adult child, that adult's own over their own data (set by them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProhibition {
    pub doctype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<MemberId>,
}

/// One prohibition in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Prohibition {
    pub doctype: String,
    /// The adult child whose own prohibition it is; absent for the family's, which covers the minors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Prohibitions {
    /// The doctypes of the family's prohibitions (those over the minors).
    pub doctypes: Vec<String>,
    /// Every prohibition in force, the family's and the adult children's own.
    pub prohibitions: Vec<Prohibition>,
}

// --- the consent ledger -----------------------------------------------------------------------------------------

/// A page of the family's ledger; the next page starts after `next_after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerEntry {
    pub index: u64,
    /// The consent receipt (ISO/IEC TS 27560 fields), as hashed into the log.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub receipt: serde_json::Value,
}

/// A signed checkpoint of the family's log (C2SP tlog-checkpoint, as a signed note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Checkpoint {
    pub size: u64,
    pub checkpoint: String,
}

/// One entry's inclusion proof in the C2SP tlog-proof form, with a fresh checkpoint and the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InclusionProof {
    pub index: u64,
    pub proof: String,
}

/// RFC 9162 consistency proof between two sizes of the log; hashes in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub hashes: Vec<String>,
}

/// The key that verifies this server's checkpoints (a C2SP note verifier key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LedgerKey {
    pub verifier_key: String,
}

// --- the DPO's console --------------------------------------------------------------------------------------------

/// `POST /api/v1/dpo/session`: a DPO signs in with the name and password they chose when accepting their invitation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DpoLogin {
    pub login: String,
    pub password: String,
}

impl fmt::Debug for DpoLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpoLogin").field("login", &self.login).field("password", &"<hidden>").finish()
    }
}

/// The signed-in DPO. The session is the `cartable_dpo_session` cookie (HttpOnly, SameSite=Strict), apart from the
/// members' sessions; state-changing requests echo `csrf_token` in `X-CSRF-Token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DpoSessionInfo {
    pub dpo_id: DpoId,
    pub name: String,
    /// The service this DPO answers for; absent: the operator's DPO (every family on this server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<ServiceId>,
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for DpoSessionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpoSessionInfo")
            .field("dpo_id", &self.dpo_id)
            .field("service_id", &self.service_id)
            .field("csrf_token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Which register entries to list or export (query parameters); every field narrows, none widens what the DPO's
/// controller covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RegisterFilter {
    /// Only this family's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyId>,
    /// Only entries naming this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// Only this event (`request`, `approve`, `revoke`, `access_allowed`, `access_denied`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Only entries with this legal basis (`consent`, `contract`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Only entries about grants whose purpose contains these words (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// From this instant (RFC 3339) or day (`YYYY-MM-DD`, from its start, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Until this instant (RFC 3339, excluded) or day (`YYYY-MM-DD`, included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Continue after this entry (`next_after` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Entries per page, 1 to 1000 (default 100); not used by exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One entry of the consent register: which family's log, where in it, and the receipt as hashed into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterEntry {
    pub family_id: FamilyId,
    pub index: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub receipt: serde_json::Value,
}

/// A page of the register: families in id order, each log's entries oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterPage {
    pub entries: Vec<RegisterEntry>,
    /// Where the next page starts (`after`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// One entry as its receipt, with its inclusion proof (C2SP tlog-proof, with the entry and a fresh signed
/// checkpoint) that `cartable ledger check-proof` verifies offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterReceipt {
    pub family_id: FamilyId,
    pub index: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub receipt: serde_json::Value,
    pub proof: String,
}

/// The state of one family's log for the DPO who asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LogStatus {
    pub family_id: FamilyId,
    pub size: u64,
    /// A fresh signed checkpoint of the log (C2SP tlog-checkpoint as a signed note).
    pub checkpoint: String,
    /// The size of the last checkpoint this DPO was shown before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub seen_at: Option<OffsetDateTime>,
    /// Whether the log extends what this DPO was shown before (`false`: a rewritten or truncated history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
    /// After a verification: whether the whole log replayed (tree, checkpoints, grants, prohibitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// The entry a failed verification names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// What is wrong, in words (ids and indexes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LogStatuses {
    pub logs: Vec<LogStatus>,
}

/// The record of processing activities (GDPR art. 30), generated from the grants: one activity per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProcessingRecord {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub generated_at: OffsetDateTime,
    pub activities: Vec<ProcessingActivity>,
}

/// What one service does with families' data, as its grants say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProcessingActivity {
    pub service_id: ServiceId,
    pub service_name: String,
    /// The purposes its grants declare, each once.
    pub purposes: Vec<String>,
    pub legal_bases: Vec<String>,
    /// The categories of data (doctypes).
    pub doctypes: Vec<String>,
    /// The children its grants are about, by category now.
    pub persons: PersonCategories,
    /// The shortest and longest duration its grants were given, in days (retention).
    pub retention_days_min: u32,
    pub retention_days_max: u32,
    pub grants_active: u64,
    pub grants_revoked: u64,
    pub grants_expired: u64,
    /// Requested, awaiting a confirmation or denied.
    pub grants_other: u64,
}

/// Categories of data subjects: minors under the age of digital consent, minors above it, adults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonCategories {
    pub minors_under_consent_age: u64,
    pub minors_over_consent_age: u64,
    pub adults: u64,
}

/// A child's consent history, the family's answer to an access request (GDPR art. 15): the grants about the child's
/// data and every ledger entry about the child (requests, decisions, accesses), each with its inclusion proof, and
/// the key that verifies the proofs' checkpoints, so that the file can be checked offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccessReport {
    pub family_id: FamilyId,
    pub child_id: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub generated_at: OffsetDateTime,
    /// The C2SP note verifier key of this server's checkpoints (`cartable ledger check-proof --key`).
    pub verifier_key: String,
    pub grants: Vec<GrantView>,
    pub entries: Vec<ReportEntry>,
}

/// One entry of an [`AccessReport`]: the receipt and its proof (C2SP tlog-proof).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReportEntry {
    pub index: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub receipt: serde_json::Value,
    pub proof: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_responses_accept_them() {
        let bad = r#"{"name": "x", "colour": "blue"}"#;
        assert!(serde_json::from_str::<RegisterService>(bad).is_err());
        let newer = r#"{"request_id": "0190c2b4-5c1e-7000-8000-000000000001", "status": "pending", "extra": 1}"#;
        let parsed: ContinueResponse = serde_json::from_str(newer).unwrap();
        assert_eq!(parsed.status, RequestStatus::Pending);
    }

    #[test]
    fn error_codes_are_snake_case_and_unknown_ones_survive() {
        assert_eq!(serde_json::to_string(&ErrorCode::GrantRevoked).unwrap(), "\"grant_revoked\"");
        assert_eq!(serde_json::from_str::<ErrorCode>("\"brand_new\"").unwrap(), ErrorCode::Unknown);
        for code in [ErrorCode::InvalidJson, ErrorCode::TokenExpired, ErrorCode::RateLimited] {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn the_continuation_is_named_continue_on_the_wire() {
        let created = AccessRequestCreated {
            request_id: GrantId(Uuid::nil()),
            status: RequestStatus::Pending,
            continuation: Continuation { uri: "/x".into(), access_token: ContinuationToken { value: "h".into() }, wait: 5 },
        };
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["continue"]["access_token"]["value"], "h");
        assert!(!format!("{created:?}").contains("\"h\""));
    }
}

/// The header that carries an archive's passphrase: to encrypt a download to it, to open an upload encrypted with it.
pub const ARCHIVE_PASSPHRASE_HEADER: &str = "cartable-archive-passphrase";

/// A family imported from its archive over the API (`POST /api/v1/imports/{token}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArchiveImported {
    pub family_id: FamilyId,
    pub members: u64,
    pub records: u64,
    pub files: u64,
    pub grants: u64,
    pub prohibitions: u64,
    /// The archive's ledger entries; the family's log now holds one more, the import's own.
    pub ledger_entries: u64,
    /// Services the grants name that this server did not know: registered, awaiting the operator.
    pub services_registered: Vec<ServiceId>,
    /// A one-time link for each guardian to choose their sign-in name and password (sign-ins never travel in an
    /// archive).
    pub invitations: Vec<SignInInvitation>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SignInInvitation {
    pub member_id: MemberId,
    pub name: String,
    pub link: String,
}

impl fmt::Debug for SignInInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInInvitation").field("member_id", &self.member_id).field("link", &"<hidden>").finish_non_exhaustive()
    }
}

/// Records imported from an open format (`POST …/children/{child}/imports/{format}`). A run is whole or nothing: with
/// an item refused and `partial` not asked, nothing is written, `written` is false and the answer is 422, with every
/// refused item in `problems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecordsImported {
    /// `xapi`, `oneroster`, `open_badges`, `files`.
    pub format: String,
    pub written: bool,
    /// Records written.
    pub imported: u64,
    /// Items the collections already held (imported before), skipped.
    pub duplicates: u64,
    /// Items refused by the format's rules.
    pub rejected: u64,
    /// The first 1000 items refused, in input order.
    pub problems: Vec<ImportProblem>,
    /// What was written, collection by collection (empty when nothing was).
    pub collections: Vec<ImportedCollection>,
    /// A files import: each file given, in order (empty for the other formats).
    #[serde(default)]
    pub files: Vec<ImportedFile>,
}

/// A file of a files import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportedFile {
    pub name: String,
    /// Its new record; null when the collection held the same bytes already.
    pub record_id: Option<RecordId>,
}

/// An item refused by its format's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportProblem {
    /// The line (from 1) where the item starts.
    pub line: u64,
    /// The rule it breaks, e.g. `agent.ifi.exactly-one`.
    pub rule: String,
    /// Where in the item, as a JSON path.
    pub path: String,
    pub message: String,
}

/// What an import wrote into one collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportedCollection {
    pub child_id: MemberId,
    pub doctype: String,
    pub imported: u64,
    pub duplicates: u64,
}

// --- sealed delivery ----------------------------------------------------------------------------------------------

/// `POST /api/v1/sealed/instances/{instance}/key-packages`: KeyPackages of one of the service's instances, each an
/// MLS message (RFC 9420, `mls_key_package`) in TLS encoding, base64 (standard, padded). Their credential names the
/// instance: `service:<service id>/<instance>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishKeyPackages {
    pub key_packages: Vec<String>,
}

/// `200` to KeyPackages published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KeyPackagesPublished {
    pub instance: String,
    /// KeyPackages the server now holds for the instance, unused (one is used each time it joins a grant's group).
    pub available: u32,
}

/// `200` to an instance retired: taken out of the group of every grant of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceRetired {
    pub instance: String,
    /// Groups the instance was taken out of.
    pub groups_left: u32,
}

/// `GET /api/v1/sealed/mailbox`: the Welcomes and commits of the token's grant's group, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SealedMailbox {
    /// The grant; its id is the group's id.
    pub grant_id: GrantId,
    /// The vault's Ed25519 signature key in the group, base64: an instance joins only a group whose Welcome it signed.
    pub vault_key: String,
    /// The group's epoch as stored.
    pub epoch: u64,
    /// Service instances in the group.
    pub members: u32,
    pub messages: Vec<MailboxMessage>,
    /// More messages follow: fetch again with `after` set to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// One message of a grant's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MailboxMessage {
    pub seq: u64,
    pub kind: MailboxMessageKind,
    /// The group's epoch once the message is applied.
    pub epoch: u64,
    /// The MLS message in TLS encoding, base64.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxMessageKind {
    /// For the instances a commit adds.
    Welcome,
    /// For the instances already in the group.
    Commit,
}

/// How a sealed response travels: what the server and the SDK share.
///
/// A service that has published KeyPackages is sealed: every data response under its grants (a record, a page of
/// records, search results, a file, an archive) is encrypted to its grant's MLS group; a copied token reads nothing.
/// Errors stay plain JSON (they carry no data).
///
/// - One message (`Content-Type: message/mls`): an MLS application message whose plaintext is the request's path and
///   query, a zero byte, then the JSON the plain response would have had. The path binds the answer to the question,
///   so a response cannot be passed off as another's.
/// - A stream (`Content-Type: application/vnd.cartable.sealed-stream`): frames, each a 4-byte big-endian length and
///   an MLS application message. The first plaintext is [`sealed::HEAD`], the path and query, a zero byte and a JSON
///   object (a file's name, size and SHA-256; `{}` for an archive); then [`sealed::CHUNK`]s of the bytes, at most
///   64 KiB each; then [`sealed::END`] alone. A stream without its end was cut short.
///
/// Both carry [`sealed::EPOCH_HEADER`], the group's epoch the response was sealed in: an instance behind it fetches
/// its mailbox first.
pub mod sealed {
    pub const MESSAGE_TYPE: &str = "message/mls";
    pub const STREAM_TYPE: &str = "application/vnd.cartable.sealed-stream";
    pub const EPOCH_HEADER: &str = "x-cartable-sealed-epoch";
    /// The first plaintext of a stream.
    pub const HEAD: u8 = b'H';
    /// A piece of a stream's bytes.
    pub const CHUNK: u8 = b'C';
    /// The last plaintext of a stream.
    pub const END: u8 = b'E';
    /// The most bytes one chunk carries.
    pub const CHUNK_BYTES: usize = 64 * 1024;
    /// The largest frame a reader accepts (a chunk, its MLS framing and padding).
    pub const MAX_FRAME: usize = CHUNK_BYTES + 4096;

    /// A message's plaintext: `path`, a zero byte, `body`.
    pub fn bind(path: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(path.len() + 1 + body.len());
        out.extend_from_slice(path.as_bytes());
        out.push(0);
        out.extend_from_slice(body);
        out
    }

    /// The body of a plaintext bound to `path` (the path and query the client asked for), `None` if it is bound to
    /// another. The server's path may lack a prefix a reverse proxy took off in front of it (`/cartable`), never
    /// more: it is `path` or an end of it that starts at a `/`.
    pub fn unbind<'a>(plain: &'a [u8], path: &str) -> Option<&'a [u8]> {
        let split = plain.iter().position(|&b| b == 0)?;
        let bound = &plain[..split];
        let asked = path.as_bytes();
        let answers = bound == asked || (bound.first() == Some(&b'/') && asked.ends_with(bound) && asked[..asked.len() - bound.len()].first() == Some(&b'/'));
        answers.then(|| &plain[split + 1..])
    }

    /// One frame of a stream: the message's length, then the message.
    pub fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + message.len());
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn an_answer_is_bound_to_its_request() {
            let plain = super::bind("/api/v1/families/f/records/r?x=1", b"{}");
            assert_eq!(super::unbind(&plain, "/api/v1/families/f/records/r?x=1"), Some(&b"{}"[..]));
            assert_eq!(super::unbind(&plain, "/cartable/api/v1/families/f/records/r?x=1"), Some(&b"{}"[..]), "a proxy's prefix");
            assert_eq!(super::unbind(&plain, "/api/v1/families/f/records/s?x=1"), None);
            assert_eq!(super::unbind(&plain, "/api/v1/families/f/records/r?x=2"), None);
            assert_eq!(super::unbind(&plain, "x/api/v1/families/f/records/r?x=1"), None);
            assert_eq!(super::unbind(&super::bind("records/r", b"{}"), "/api/v1/families/f/records/r"), None, "a bound path is whole");
        }
    }
}
