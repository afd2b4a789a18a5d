//! The domain types that the vault stores and the authorizer decides on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::{Doctype, DpoId, FamilyId, GrantId, MemberId, RecordId, ServiceId};

/// What a principal wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    List,
    Search,
    Write,
    Export,
    /// Approve, deny and revoke grants; add members; set prohibitions.
    Manage,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Read, Action::List, Action::Search, Action::Write, Action::Export, Action::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Search => "search",
            Action::Write => "write",
            Action::Export => "export",
            Action::Manage => "manage",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown action name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}` (known: read, list, search, write, export, manage)")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.chars().take(64).collect()))
    }
}

/// A member's place in the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guardian,
    Child,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guardian => "guardian",
            Role::Child => "child",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "guardian" => Ok(Role::Guardian),
            "child" => Ok(Role::Child),
            other => Err(UnknownRole(other.chars().take(64).collect())),
        }
    }
}

/// The error for an unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (known: guardian, child)")]
pub struct UnknownRole(pub String);

/// A member as the authorizer sees it: no name, only what the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub family: FamilyId,
    pub role: Role,
    /// Required for children, absent for guardians.
    pub birth_date: Option<Date>,
}

/// The ages that French law sets, configurable per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeRules {
    /// From this age a child co-approves grants about their own data (15 in France).
    pub digital_consent_age: u8,
    /// From this age the child owns their data (18 in France).
    pub majority_age: u8,
}

impl AgeRules {
    pub const FRANCE: AgeRules = AgeRules { digital_consent_age: 15, majority_age: 18 };
}

/// Why a service may process the data (GDPR art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterest,
    PublicTask,
    LegitimateInterest,
}

impl LegalBasis {
    pub const ALL: [LegalBasis; 6] =
        [LegalBasis::Consent, LegalBasis::Contract, LegalBasis::LegalObligation, LegalBasis::VitalInterest, LegalBasis::PublicTask, LegalBasis::LegitimateInterest];

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal-obligation",
            LegalBasis::VitalInterest => "vital-interest",
            LegalBasis::PublicTask => "public-task",
            LegalBasis::LegitimateInterest => "legitimate-interest",
        }
    }
}

impl FromStr for LegalBasis {
    type Err = UnknownLegalBasis;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            LegalBasis::Consent,
            LegalBasis::Contract,
            LegalBasis::LegalObligation,
            LegalBasis::VitalInterest,
            LegalBasis::PublicTask,
            LegalBasis::LegitimateInterest,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
        .ok_or_else(|| UnknownLegalBasis(s.chars().take(64).collect()))
    }
}

/// The error for an unknown legal basis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown legal basis `{0}` (known: consent, contract, legal-obligation, vital-interest, public-task, legitimate-interest)")]
pub struct UnknownLegalBasis(pub String);

/// Who receives a grant: a service, or (for an adult child's data) a guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Grantee {
    Service(ServiceId),
    Member(MemberId),
}

/// Where a grant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Asked for; waiting for the approvals the age rules require.
    Requested,
    /// In force until it expires or is revoked.
    Active,
    Denied,
    Revoked,
    Expired,
    /// The child came of age; a grant a guardian approved alone waits for the adult child to confirm it.
    AwaitingConfirmation,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Requested => "requested",
            GrantState::Active => "active",
            GrantState::Denied => "denied",
            GrantState::Revoked => "revoked",
            GrantState::Expired => "expired",
            GrantState::AwaitingConfirmation => "awaiting_confirmation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            GrantState::Requested,
            GrantState::Active,
            GrantState::Denied,
            GrantState::Revoked,
            GrantState::Expired,
            GrantState::AwaitingConfirmation,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// One approval given to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub member: MemberId,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A typed grant: the only source from which grant policies are generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub family: FamilyId,
    pub grantee: Grantee,
    /// The child whose data the grant is about.
    pub child: MemberId,
    pub doctypes: Vec<Doctype>,
    pub actions: Vec<Action>,
    /// What the service says it will do with the data; a controller's declaration, not data about the child.
    pub purpose: String,
    pub legal_basis: LegalBasis,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// How long the grant lasts once active, in days.
    pub duration_days: u32,
    /// Set when the grant becomes active: activation time plus the duration.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub state: GrantState,
    pub approvals: Vec<Approval>,
}

/// A prohibition: no grant may share this doctype of the children in its scope, whatever it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forbid {
    pub family: FamilyId,
    pub doctype: Doctype,
    pub scope: ForbidScope,
}

/// Whose data a prohibition covers, which also says who may set and lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "child", rename_all = "snake_case")]
pub enum ForbidScope {
    /// Set by a guardian: every child of the family while they are a minor. It stops applying to a child's data at
    /// their majority.
    Minors,
    /// Set by an adult child over their own data.
    Adult(MemberId),
}

impl ForbidScope {
    /// The stored form: `minors`, or the adult child's id.
    pub fn as_stored(&self) -> String {
        match self {
            ForbidScope::Minors => "minors".to_owned(),
            ForbidScope::Adult(child) => child.to_string(),
        }
    }

    pub fn from_stored(s: &str) -> Option<ForbidScope> {
        if s == "minors" { Some(ForbidScope::Minors) } else { s.parse().ok().map(ForbidScope::Adult) }
    }
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Principal {
    Member(MemberId),
    Service(ServiceId),
    Dpo(DpoId),
    /// The operator at the console, holding the master key (the CLI on the local vault).
    Operator,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Member(id) => write!(f, "member:{id}"),
            Principal::Service(id) => write!(f, "service:{id}"),
            Principal::Dpo(id) => write!(f, "dpo:{id}"),
            Principal::Operator => f.write_str("operator"),
        }
    }
}

/// What is asked for, described by what the rules need (never by contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    /// One record or file.
    Record { id: RecordId, child: MemberId, doctype: Doctype },
    /// One child's collection of one doctype (list, search, write a new record).
    Collection { child: MemberId, doctype: Doctype },
    /// The family's consent register (the ledger and the grants).
    Register,
    /// The family as a whole (export, manage members).
    Family,
}
