//! The authorizer: a family's grants, prohibitions and the base rules become Cedar policies, and
//! every access is decided by Cedar at the moment of the request.
//!
//! [`Authorizer::compile`] turns a [`FamilySnapshot`] into a [`CompiledFamily`]: the generated
//! policies are validated against the schema, then sliced per principal (the base policies for
//! the principal's type, the family's prohibitions and that principal's grants), so that
//! [`Authorizer::authorize`] evaluates a handful of policies instead of every grant on the server.
//! Nothing is cached across compilations: the vault compiles again after every change, so a
//! revocation is in force for the very next decision.

mod names;
mod policies;
mod reason;

pub use self::reason::{Reason, TokenRule};

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use cedar_policy::{
    Context, Decision as CedarDecision, Entities, Entity, EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint,
    Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use time::OffsetDateTime;

use self::names::{Names, OPERATOR_ID, cedar_datetime, collection_id, uid};
use self::policies::{GrantPolicy, GranteeEntity, forbid_id, grant_id};
use crate::lifecycle::birthday_at;
use crate::{Action, AgeRules, Doctype, FamilyId, Forbid, Grant, GrantState, Grantee, Member, MemberId};
use crate::{Principal, Resource, Role};

const SCHEMA: &str = include_str!("schema.cedarschema");
const BASE_POLICIES: &str = include_str!("base_policies.cedar");

/// The reason given when no policy permits.
pub const DEFAULT_DENY: &str = "default-deny";
/// The reason given for a record or collection of a child who is not in the compiled family.
pub const OUTSIDE_FAMILY: &str = "resource outside the family";
/// The reason given for a member principal who is not in the compiled family.
pub const PRINCIPAL_OUTSIDE_FAMILY: &str = "principal outside the family";

/// Decides accesses; holds the schema, the base policies and the age rules.
///
/// ```
/// use cartable_consent::*;
/// use time::macros::{date, datetime};
///
/// let authorizer = Authorizer::new(AgeRules::FRANCE);
/// let family = FamilyId::new();
/// let guardian = Member { id: MemberId::new(), family, role: Role::Guardian, birth_date: None };
/// let child = Member { id: MemberId::new(), family, role: Role::Child, birth_date: Some(date!(2015 - 04 - 02)) };
/// let snapshot = FamilySnapshot { family, members: vec![guardian.clone(), child.clone()], grants: vec![], forbids: vec![] };
/// // Compiled again after every change to the family's members, grants or prohibitions.
/// let compiled = authorizer.compile(&snapshot)?;
///
/// let request = AccessRequest {
///     principal: Principal::Member(guardian.id),
///     action: Action::Read,
///     resource: Resource::Collection { child: child.id, doctype: Doctype::Grades },
///     now: datetime!(2026-06-01 12:00 UTC),
/// };
/// let decision = authorizer.authorize(&compiled, &request);
/// assert!(decision.is_allowed());
/// assert_eq!(decision.reasons(), [Reason::Base("base.guardian-minor".to_owned())]);
/// // An explanation, not a right: the vault makes a permit of it once it is in the family's ledger.
/// assert_eq!(decision.family(), family);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Authorizer {
    rules: AgeRules,
    names: Names,
    validator: Validator,
    cedar: cedar_policy::Authorizer,
    /// The base policies in the order of `base_policies.cedar`, for [`CompiledFamily::policy_text`].
    base: Arc<[Policy]>,
    base_guardian: PolicySet,
    base_child: PolicySet,
    /// Empty: only grants let a service in.
    base_service: PolicySet,
    base_dpo: PolicySet,
    base_operator: PolicySet,
}

/// What the authorizer needs to know about one family; the vault reads it in one transaction.
#[derive(Debug, Clone)]
pub struct FamilySnapshot {
    pub family: FamilyId,
    pub members: Vec<Member>,
    pub grants: Vec<Grant>,
    pub forbids: Vec<Forbid>,
}

/// A family's policies, ready to decide; cheap to share in an `Arc`.
///
/// It reflects the snapshot it was compiled from and nothing later: compile again on every change.
pub struct CompiledFamily {
    family: FamilyId,
    rules: AgeRules,
    family_uid: EntityUid,
    register_uid: EntityUid,
    /// The register alone, for requests about it from principals that are not members.
    register_store: Entities,
    members: HashMap<MemberId, CompiledMember>,
    /// A principal's grants on one collection, with the base policies for the principal's type and
    /// the prohibition of that doctype, if any.
    ///
    /// INVARIANT: a grant's policy sits under every collection it names, and can only be satisfied
    /// for a resource in one of those collections (`resource in [..]`); a prohibition can only be
    /// satisfied for its doctype. So the slice for (principal, collection) holds every policy that
    /// could apply to a request about that collection or one of its records.
    grant_slices: HashMap<(Grantee, MemberId, Doctype), PolicySet>,
    /// The base policies for a principal type plus a prohibition, for principals without a grant
    /// on the collection.
    forbid_slices: HashMap<(Kind, Doctype), PolicySet>,
    base: Arc<[Policy]>,
    /// Prohibitions then grants, in a stable order.
    generated: Vec<Policy>,
}

/// The principal types that policies tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Guardian,
    Child,
    Service,
    Dpo,
    Operator,
}

struct CompiledMember {
    kind: Kind,
    uid: EntityUid,
    entity: Entity,
    /// The member and the register: what a request about the register or the family needs.
    own_store: Entities,
    /// A child's collections, one per doctype; empty for a guardian.
    collections: Vec<CompiledCollection>,
}

struct CompiledCollection {
    doctype: Doctype,
    uid: EntityUid,
    /// The child and the collection, ready for a request; a record is added to a copy.
    store: Entities,
}

/// What an access token bound to one grant may reach: its grant's child, doctypes and actions, which never change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    pub grant: crate::GrantId,
    pub child: MemberId,
    pub doctypes: Vec<Doctype>,
    pub actions: Vec<Action>,
}

impl TokenScope {
    /// Whether the grant names this action on this resource's collection (the register and the family never).
    pub fn covers(&self, action: Action, resource: Resource) -> bool {
        match resource {
            Resource::Record { child, doctype, .. } | Resource::Collection { child, doctype } => {
                child == self.child && self.doctypes.contains(&doctype) && self.actions.contains(&action)
            }
            Resource::Register | Resource::Family => false,
        }
    }
}

/// One access to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest {
    pub principal: Principal,
    pub action: Action,
    pub resource: Resource,
    /// The instant the decision is made for (the request time; `--at` in the CLI).
    pub now: OffsetDateTime,
}

/// The outcome of [`Authorizer::authorize`], with the policies behind it.
///
/// A decision is an explanation, not a right: only the vault turns an allowed decision into a permit to read or
/// change data, and only once the decision is in the family's ledger.
#[derive(Debug, Clone)]
pub struct Decision {
    family: FamilyId,
    request: AccessRequest,
    allowed: bool,
    reasons: Vec<Reason>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The family whose policies decided.
    pub fn family(&self) -> FamilyId {
        self.family
    }

    /// What was decided.
    pub fn request(&self) -> &AccessRequest {
        &self.request
    }

    /// The determining policies (a base policy, a grant, a prohibition), or why nothing permitted.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// Why it was refused, if it was.
    pub fn denied(&self) -> Option<Denied> {
        (!self.allowed).then(|| Denied { reasons: self.reasons.clone() })
    }
}

/// An access the authorizer refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access denied ({})", .reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
pub struct Denied {
    reasons: Vec<Reason>,
}

impl Denied {
    /// A refusal for these reasons (it grants nothing: any layer may say why it refused).
    pub fn new(reasons: Vec<Reason>) -> Denied {
        Denied { reasons }
    }

    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }
}

/// Why a family's policies could not be compiled; the vault then denies everything for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("member `{member}` belongs to family `{found}`, not `{expected}`")]
    ForeignMember {
        member: MemberId,
        found: FamilyId,
        expected: FamilyId,
    },
    #[error("grant `{grant}` belongs to family `{found}`, not `{expected}`")]
    ForeignGrant {
        grant: crate::GrantId,
        found: FamilyId,
        expected: FamilyId,
    },
    #[error("a prohibition of family `{found}` was given for family `{expected}`")]
    ForeignForbid { found: FamilyId, expected: FamilyId },
    #[error("member `{0}` appears twice in the family")]
    DuplicateMember(MemberId),
    #[error("grant `{0}` appears twice in the family")]
    DuplicateGrant(crate::GrantId),
    #[error("child `{0}` has no birth date, so the age rules cannot be applied")]
    MissingBirthDate(MemberId),
    #[error("a date of `{0}` is outside the range Cedar supports (years 0000 to 9999)")]
    DateOutOfRange(String),
    #[error("cannot build policy `{id}`: {message}")]
    Build { id: String, message: String },
    #[error("generated policies do not validate against the schema: {0}")]
    Validation(String),
}

impl Authorizer {
    /// Parses the embedded schema and base policies.
    ///
    /// # Panics
    /// Never in practice: the schema and base policies are compile-time constants that the unit
    /// tests parse and validate.
    pub fn new(rules: AgeRules) -> Self {
        let schema = Schema::from_cedarschema_str(SCHEMA)
            .map(|(schema, _warnings)| schema)
            .unwrap_or_else(|e| panic!("the embedded Cedar schema does not parse: {e}"));
        let validator = Validator::new(schema);
        let base =
            parse_base_policies(&validator).unwrap_or_else(|e| panic!("the embedded base policies are invalid: {e}"));
        let names = Names::new();
        let mut sets: HashMap<Kind, PolicySet> = HashMap::new();
        for policy in &base {
            let ty = match policy.principal_constraint() {
                PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => ty.basename().to_owned(),
                other => panic!(
                    "base policy `{}` must name a principal type, not {other:?}",
                    policy.id()
                ),
            };
            let kind = match ty.as_str() {
                names::GUARDIAN => Kind::Guardian,
                names::CHILD => Kind::Child,
                names::SERVICE => Kind::Service,
                names::DPO => Kind::Dpo,
                names::OPERATOR => Kind::Operator,
                _ => panic!(
                    "base policy `{}` is for `{ty}`, which is not a principal type",
                    policy.id()
                ),
            };
            add(sets.entry(kind).or_default(), policy.clone())
                .unwrap_or_else(|e| panic!("base policy `{}`: {e}", policy.id()));
        }
        let mut take = |k| sets.remove(&k).unwrap_or_default();
        Authorizer {
            rules,
            base_guardian: take(Kind::Guardian),
            base_child: take(Kind::Child),
            base_service: take(Kind::Service),
            base_dpo: take(Kind::Dpo),
            base_operator: take(Kind::Operator),
            names,
            validator,
            cedar: cedar_policy::Authorizer::new(),
            base: base.into(),
        }
    }

    pub fn rules(&self) -> AgeRules {
        self.rules
    }

    /// Builds the family's policies (base, one per active grant, one per prohibition), validated
    /// against the schema in strict mode and sliced per principal and collection.
    ///
    /// Only active grants produce a policy. A grant whose child or member grantee is not in the
    /// family, or that names no doctype or no action, produces none: it permits nothing.
    pub fn compile(&self, snapshot: &FamilySnapshot) -> Result<CompiledFamily, PolicyError> {
        let family = snapshot.family;
        let n = &self.names;
        let family_uid = uid(&n.family, &family.to_string());
        let register_uid = uid(&n.register, &family.to_string());
        let register = Entity::new_no_attrs(register_uid.clone(), HashSet::from([family_uid.clone()]));
        let register_store = store([register.clone()])?;

        // Members, their entities and their children's collections.
        let mut members = HashMap::with_capacity(snapshot.members.len());
        let mut majorities = HashMap::new();
        for m in &snapshot.members {
            if m.family != family {
                return Err(PolicyError::ForeignMember {
                    member: m.id,
                    found: m.family,
                    expected: family,
                });
            }
            if members.contains_key(&m.id) {
                return Err(PolicyError::DuplicateMember(m.id));
            }
            let member = match m.role {
                Role::Guardian => self.guardian(m.id, &family_uid, &register)?,
                Role::Child => {
                    let birth = m.birth_date.ok_or(PolicyError::MissingBirthDate(m.id))?;
                    let at = |years| {
                        birthday_at(birth, years).ok_or_else(|| PolicyError::DateOutOfRange(format!("child {}", m.id)))
                    };
                    let (consent, majority) = (at(self.rules.digital_consent_age)?, at(self.rules.majority_age)?);
                    majorities.insert(m.id, majority);
                    self.child(m.id, &family_uid, &register, consent, majority)?
                }
            };
            members.insert(m.id, member);
        }

        // Prohibitions, once per doctype and scope, in a stable order.
        let mut generated = Vec::new();
        let mut forbidden = BTreeSet::new();
        for f in &snapshot.forbids {
            if f.family != family {
                return Err(PolicyError::ForeignForbid {
                    found: f.family,
                    expected: family,
                });
            }
            forbidden.insert((f.doctype, f.scope));
        }
        let mut forbids: HashMap<Doctype, Vec<Policy>> = HashMap::new();
        for (doctype, scope) in forbidden {
            let id = forbid_id(doctype, scope);
            let policy = from_json(&id, policies::forbid(&id, family, doctype, scope))?;
            forbids.entry(doctype).or_default().push(policy.clone());
            generated.push(policy);
        }

        // One policy per active grant, filed under each collection it names.
        let mut grants_on: HashMap<(Grantee, MemberId, Doctype), Vec<Policy>> = HashMap::new();
        let mut seen = HashSet::new();
        for g in &snapshot.grants {
            if g.family != family {
                return Err(PolicyError::ForeignGrant {
                    grant: g.id,
                    found: g.family,
                    expected: family,
                });
            }
            if !seen.insert(g.id) {
                return Err(PolicyError::DuplicateGrant(g.id));
            }
            let Some(spec) = self.grant_policy(g, &members, &majorities)? else {
                continue;
            };
            let id = grant_id(g.id);
            let policy = from_json(&id, policies::grant(&id, &spec))?;
            for doctype in BTreeSet::from_iter(g.doctypes.iter().copied()) {
                grants_on
                    .entry((g.grantee, g.child, doctype))
                    .or_default()
                    .push(policy.clone());
            }
            generated.push(policy);
        }

        // Strict validation of what we generated; the base policies were validated in `new`.
        let mut all = PolicySet::new();
        for p in &generated {
            add(&mut all, p.clone())?;
        }
        let result = self.validator.validate(&all, ValidationMode::Strict);
        if !result.validation_passed() {
            let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
            return Err(PolicyError::Validation(errors.join("; ")));
        }

        // The slices.
        let slice = |kind: Kind, doctype: Doctype, grants: &[Policy]| -> Result<PolicySet, PolicyError> {
            let mut set = self.base_set(kind).clone();
            for p in forbids.get(&doctype).into_iter().flatten().chain(grants) {
                add(&mut set, p.clone())?;
            }
            Ok(set)
        };
        let mut grant_slices = HashMap::with_capacity(grants_on.len());
        for ((grantee, child, doctype), grants) in &grants_on {
            let kind = match grantee {
                Grantee::Service(_) => Kind::Service,
                // INVARIANT: `grant_policy` only keeps member grantees that are in `members`.
                Grantee::Member(m) => members.get(m).map_or(Kind::Guardian, |m| m.kind),
            };
            grant_slices.insert((*grantee, *child, *doctype), slice(kind, *doctype, grants)?);
        }
        let mut forbid_slices = HashMap::new();
        for doctype in forbids.keys() {
            // DPOs and the operator are not concerned by prohibitions.
            for kind in [Kind::Guardian, Kind::Child, Kind::Service] {
                forbid_slices.insert((kind, *doctype), slice(kind, *doctype, &[])?);
            }
        }

        Ok(CompiledFamily {
            family,
            rules: self.rules,
            family_uid,
            register_uid,
            register_store,
            members,
            grant_slices,
            forbid_slices,
            base: self.base.clone(),
            generated,
        })
    }

    /// Decides at `request.now`. Never panics; an evaluation error denies, with the error among
    /// the reasons.
    pub fn authorize(&self, family: &CompiledFamily, request: &AccessRequest) -> Decision {
        let (allowed, ids) = match self.decide(family, request) {
            Ok(ids) => (true, ids),
            Err(ids) => (false, ids),
        };
        let reasons = ids
            .iter()
            .map(|id| match id.as_str() {
                DEFAULT_DENY => Reason::DefaultDeny,
                OUTSIDE_FAMILY => Reason::ResourceOutsideFamily,
                PRINCIPAL_OUTSIDE_FAMILY => Reason::PrincipalOutsideFamily,
                id if allowed || id.starts_with("base.") || id.starts_with("grant.") || id.starts_with("forbid.") => Reason::from_policy_id(id),
                message => Reason::Error(message.to_owned()),
            })
            .collect();
        Decision { family: family.family, request: *request, allowed, reasons }
    }

    /// Decides an access made with a service's access token bound to `grant`. The token is held to its grant
    /// first: an access outside the grant's child, doctypes or actions is refused without asking Cedar; inside,
    /// Cedar decides, and an allow counts only if the grant's own policy is among those that allowed it, so a token
    /// borrows no rights from another grant, and a revoked grant's token stays dead even when a new grant covers
    /// the same data.
    pub fn authorize_under_grant(&self, family: &CompiledFamily, request: &AccessRequest, grant: &TokenScope) -> Decision {
        let refuse = |rule| Decision { family: family.family, request: *request, allowed: false, reasons: vec![Reason::Token(rule)] };
        if !grant.covers(request.action, request.resource) {
            return refuse(TokenRule::OutsideGrant);
        }
        let decision = self.authorize(family, request);
        if decision.allowed && !decision.reasons.contains(&Reason::Grant(grant.grant)) {
            return refuse(TokenRule::GrantNotInForce);
        }
        decision
    }

    /// `Ok(permitting policies)` or `Err(reasons to deny)`.
    fn decide(&self, family: &CompiledFamily, request: &AccessRequest) -> Result<Vec<String>, Vec<String>> {
        let deny = |reason: &str| Err(vec![reason.to_owned()]);
        if family.rules != self.rules {
            return deny("the family was compiled under other age rules");
        }
        let n = &self.names;

        let (principal, grantee, kind, member) = match request.principal {
            Principal::Member(id) => {
                let Some(member) = family.members.get(&id) else {
                    return deny(PRINCIPAL_OUTSIDE_FAMILY);
                };
                (
                    member.uid.clone(),
                    Some(Grantee::Member(id)),
                    member.kind,
                    Some((id, member)),
                )
            }
            Principal::Service(id) => (
                uid(&n.service, &id.to_string()),
                Some(Grantee::Service(id)),
                Kind::Service,
                None,
            ),
            Principal::Dpo(id) => (uid(&n.dpo, &id.to_string()), None, Kind::Dpo, None),
            Principal::Operator => (uid(&n.operator, OPERATOR_ID), None, Kind::Operator, None),
        };

        // The resource, the entities the policies may look at, and the policies that may apply.
        let borrowed;
        let owned;
        let (resource, entities, policies): (EntityUid, &Entities, &PolicySet) = match request.resource {
            Resource::Record { child, doctype, .. } | Resource::Collection { child, doctype } => {
                let Some((_, collection)) = family.collection(child, doctype) else {
                    return deny(OUTSIDE_FAMILY);
                };
                let policies = grantee
                    .and_then(|g| family.grant_slices.get(&(g, child, doctype)))
                    .or_else(|| family.forbid_slices.get(&(kind, doctype)))
                    .unwrap_or_else(|| self.base_set(kind));
                // The principal, when a member other than the child, joins the child's entities.
                let extra_principal = member.filter(|(id, _)| *id != child).map(|(_, m)| m.entity.clone());
                // INVARIANT: no policy tells a record from its collection (base policies treat both alike,
                // grants and prohibitions name collections), so a record is decided as its collection: the
                // collection's entities are prepared at compile time and nothing is copied per request.
                let store = match extra_principal {
                    Some(p) => {
                        owned = add_to(&collection.store, [p])?;
                        &owned
                    }
                    None => &collection.store,
                };
                (collection.uid.clone(), store, policies)
            }
            Resource::Register | Resource::Family => {
                borrowed = member.map_or(&family.register_store, |(_, m)| &m.own_store);
                let resource = match request.resource {
                    Resource::Register => family.register_uid.clone(),
                    _ => family.family_uid.clone(),
                };
                (resource, borrowed, self.base_set(kind))
            }
        };

        let context = now_context(request.now)?;
        let cedar_request = Request::new(principal, n.action(request.action).clone(), resource, context, None)
            .map_err(|e| vec![format!("cannot build the request: {e}")])?;

        let response = self.cedar.is_authorized(&cedar_request, policies, entities);
        let diagnostics = response.diagnostics();
        let errors: Vec<String> = diagnostics.errors().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            // Fail closed: an error could have hidden a `forbid`.
            return Err(errors);
        }
        let mut reasons: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
        reasons.sort_unstable();
        match response.decision() {
            CedarDecision::Allow => Ok(reasons),
            CedarDecision::Deny if reasons.is_empty() => deny(DEFAULT_DENY),
            CedarDecision::Deny => Err(reasons),
        }
    }

    fn base_set(&self, kind: Kind) -> &PolicySet {
        match kind {
            Kind::Guardian => &self.base_guardian,
            Kind::Child => &self.base_child,
            Kind::Service => &self.base_service,
            Kind::Dpo => &self.base_dpo,
            Kind::Operator => &self.base_operator,
        }
    }

    fn guardian(&self, id: MemberId, family: &EntityUid, register: &Entity) -> Result<CompiledMember, PolicyError> {
        let uid = uid(&self.names.guardian, &id.to_string());
        let attrs = HashMap::from([(
            "family".to_owned(),
            RestrictedExpression::new_entity_uid(family.clone()),
        )]);
        let entity = Entity::new(uid.clone(), attrs, HashSet::from([family.clone()]))
            .map_err(|e| build_error(format!("guardian {id}"), e))?;
        let own_store = store([entity.clone(), register.clone()])?;
        Ok(CompiledMember {
            kind: Kind::Guardian,
            uid,
            entity,
            own_store,
            collections: Vec::new(),
        })
    }

    fn child(
        &self,
        id: MemberId,
        family: &EntityUid,
        register: &Entity,
        consent_age_at: OffsetDateTime,
        majority_at: OffsetDateTime,
    ) -> Result<CompiledMember, PolicyError> {
        let n = &self.names;
        let child_uid = uid(&n.child, &id.to_string());
        let datetime = |at| {
            cedar_datetime(at)
                .map(RestrictedExpression::new_datetime)
                .ok_or_else(|| PolicyError::DateOutOfRange(format!("child {id}")))
        };
        let attrs = HashMap::from([
            (
                "family".to_owned(),
                RestrictedExpression::new_entity_uid(family.clone()),
            ),
            ("consent_age_at".to_owned(), datetime(consent_age_at)?),
            ("majority_at".to_owned(), datetime(majority_at)?),
        ]);
        let entity = Entity::new(child_uid.clone(), attrs, HashSet::from([family.clone()]))
            .map_err(|e| build_error(format!("child {id}"), e))?;
        let mut collections = Vec::with_capacity(Doctype::ALL.len());
        for doctype in Doctype::ALL {
            let c_uid = uid(&n.collection, &collection_id(id, doctype));
            let attrs = HashMap::from([
                (
                    "family".to_owned(),
                    RestrictedExpression::new_entity_uid(family.clone()),
                ),
                (
                    "child".to_owned(),
                    RestrictedExpression::new_entity_uid(child_uid.clone()),
                ),
                (
                    "doctype".to_owned(),
                    RestrictedExpression::new_string(doctype.as_str().to_owned()),
                ),
            ]);
            let parents = HashSet::from([child_uid.clone(), family.clone()]);
            let c = Entity::new(c_uid.clone(), attrs, parents)
                .map_err(|e| build_error(format!("collection {}", collection_id(id, doctype)), e))?;
            collections.push(CompiledCollection {
                doctype,
                uid: c_uid,
                store: store([entity.clone(), c])?,
            });
        }
        let own_store = store([entity.clone(), register.clone()])?;
        Ok(CompiledMember {
            kind: Kind::Child,
            uid: child_uid,
            entity,
            own_store,
            collections,
        })
    }

    /// What the policy of grant `g` says, or `None` when it permits nothing.
    fn grant_policy<'g>(
        &self,
        g: &'g Grant,
        members: &HashMap<MemberId, CompiledMember>,
        majorities: &HashMap<MemberId, OffsetDateTime>,
    ) -> Result<Option<GrantPolicy<'g>>, PolicyError> {
        if g.state != GrantState::Active || g.doctypes.is_empty() || g.actions.is_empty() {
            return Ok(None);
        }
        // INVARIANT: an active grant has an expiry; without one it permits nothing.
        let Some(expires_at) = g.expires_at else {
            return Ok(None);
        };
        let Some(majority) = majorities.get(&g.child) else {
            return Ok(None);
        };
        let grantee = match g.grantee {
            Grantee::Service(s) => GranteeEntity::Service(s.to_string()),
            Grantee::Member(m) => match members.get(&m).map(|m| m.kind) {
                Some(Kind::Child) => GranteeEntity::Child(m),
                Some(_) => GranteeEntity::Guardian(m),
                None => return Ok(None),
            },
        };
        let out_of_range = || PolicyError::DateOutOfRange(format!("grant {}", g.id));
        // A guardian's approval alone holds only while the child is a minor; the bound is written
        // only when it comes before the expiry.
        let child_approved = g.approvals.iter().any(|a| a.member == g.child);
        let until_majority = match (!child_approved && *majority < expires_at).then_some(*majority) {
            Some(at) => Some(cedar_datetime(at).ok_or_else(out_of_range)?),
            None => None,
        };
        Ok(Some(GrantPolicy {
            grantee,
            child: g.child,
            doctypes: &g.doctypes,
            actions: &g.actions,
            expires_at: cedar_datetime(expires_at).ok_or_else(out_of_range)?,
            until_majority,
        }))
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl CompiledFamily {
    pub fn family(&self) -> FamilyId {
        self.family
    }

    /// The Cedar text in force: base policies, prohibitions, then grants, each with its `@id`.
    pub fn policy_text(&self) -> String {
        self.text_of(|_| true)
    }

    /// The Cedar text a viewer who sees only some of the family is shown: the base policies, then the policies of
    /// the prohibitions in `forbids` and of the grants in `grants` (those the viewer may see).
    pub fn policy_text_shown(&self, forbids: &[Forbid], grants: &[crate::GrantId]) -> String {
        let shown: HashSet<String> = forbids
            .iter()
            .map(|f| forbid_id(f.doctype, f.scope))
            .chain(grants.iter().map(|&g| grant_id(g)))
            .collect();
        self.text_of(|id| shown.contains(id))
    }

    /// The base policies, then the generated ones whose id `keep` admits.
    fn text_of(&self, keep: impl Fn(&str) -> bool) -> String {
        let mut text = String::new();
        for p in self.base.iter().chain(self.generated.iter().filter(|p| keep(p.id().as_ref()))) {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            match p.to_cedar() {
                Some(cedar) => text.push_str(cedar.trim()),
                // Only linked templates lack a text form, and we generate none.
                None => text.push_str(&format!("// policy `{}` has no text form", p.id())),
            }
        }
        text.push('\n');
        text
    }

    /// The child and one of their collections; `None` if `child` is not a child of this family.
    fn collection(&self, child: MemberId, doctype: Doctype) -> Option<(&CompiledMember, &CompiledCollection)> {
        let member = self.members.get(&child)?;
        let collection = member.collections.iter().find(|c| c.doctype == doctype)?;
        Some((member, collection))
    }
}

impl fmt::Debug for CompiledFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledFamily")
            .field("family", &self.family)
            .field("members", &self.members.len())
            .field("slices", &self.grant_slices.len())
            .field("generated_policies", &self.generated.len())
            .finish_non_exhaustive()
    }
}

/// Parses the base policies, naming each by its `@id`, and validates them strictly.
fn parse_base_policies(validator: &Validator) -> Result<Vec<Policy>, String> {
    let parsed: PolicySet = BASE_POLICIES.parse().map_err(|e| format!("{e}"))?;
    // `PolicySet::from_str` ignores `@id`: rename each policy, keeping the file's order.
    let mut base = Vec::new();
    for p in parsed.policies() {
        let id = p
            .annotation("id")
            .ok_or_else(|| format!("policy `{}` has no `@id`", p.id()))?;
        base.push(p.new_id(PolicyId::new(id)));
    }
    base.sort_by_key(|p| BASE_POLICIES.find(&format!("@id(\"{}\")", p.id())));
    let mut set = PolicySet::new();
    for p in &base {
        set.add(p.clone()).map_err(|e| e.to_string())?;
    }
    let result = validator.validate(&set, ValidationMode::Strict);
    if !result.validation_passed_without_warnings() {
        let problems: Vec<String> = result
            .validation_errors()
            .map(|e| e.to_string())
            .chain(result.validation_warnings().map(|w| w.to_string()))
            .collect();
        return Err(problems.join("; "));
    }
    Ok(base)
}

thread_local! {
    /// The last request context built on this thread, by its `now`.
    ///
    /// Building one costs a few µs, mostly because `RestrictedExpression::new_datetime` parses the
    /// name `datetime` with Cedar's grammar on every call; a busy server asks many times within the
    /// same millisecond.
    /// INVARIANT: a pure function of the instant; it holds no family data and no decision.
    static LAST_CONTEXT: RefCell<Option<(String, Context)>> = const { RefCell::new(None) };
}

/// The request context: `{ now: datetime(..) }`.
fn now_context(now: OffsetDateTime) -> Result<Context, Vec<String>> {
    let Some(now) = cedar_datetime(now) else {
        return Err(vec!["the request time is outside the range Cedar supports".to_owned()]);
    };
    LAST_CONTEXT.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((at, context)) = last.as_ref()
            && *at == now
        {
            return Ok(context.clone());
        }
        let context = Context::from_pairs([("now".to_owned(), RestrictedExpression::new_datetime(&now))])
            .map_err(|e| vec![format!("cannot build the request context: {e}")])?;
        *last = Some((now, context.clone()));
        Ok(context)
    })
}

/// An entity store whose entities already list all their ancestors.
fn store(entities: impl IntoIterator<Item = Entity>) -> Result<Entities, PolicyError> {
    Entities::from_entities(entities, None).map_err(|e| build_error("entities".to_owned(), e))
}

/// A copy of `store` with the request's own entities added.
fn add_to(store: &Entities, entities: impl IntoIterator<Item = Entity>) -> Result<Entities, Vec<String>> {
    store
        .clone()
        .add_entities(entities, None)
        .map_err(|e| vec![format!("cannot build the entities: {e}")])
}

fn from_json(id: &str, json: serde_json::Value) -> Result<Policy, PolicyError> {
    Policy::from_json(Some(PolicyId::new(id)), json).map_err(|e| build_error(id.to_owned(), e))
}

fn add(set: &mut PolicySet, policy: Policy) -> Result<(), PolicyError> {
    let id = policy.id().to_string();
    set.add(policy).map_err(|e| build_error(id, e))
}

fn build_error(id: String, e: impl fmt::Display) -> PolicyError {
    PolicyError::Build {
        id,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_and_base_policies_are_valid() {
        let (_, warnings) = Schema::from_cedarschema_str(SCHEMA).unwrap();
        assert_eq!(warnings.count(), 0);
        let a = Authorizer::new(AgeRules::FRANCE);
        let ids: Vec<String> = a.base.iter().map(|p| p.id().to_string()).collect();
        assert_eq!(
            ids,
            [
                "base.guardian-minor",
                "base.guardian-family",
                "base.child-own",
                "base.child-manage",
                "base.child-register",
                "base.child-family",
                "base.adult-owner",
                "base.dpo-register",
                "base.operator"
            ]
        );
        assert_eq!(a.base_guardian.num_of_policies(), 2);
        assert_eq!(a.base_child.num_of_policies(), 5);
    }


    #[test]
    fn compiled_entities_conform_to_the_schema() {
        let a = Authorizer::new(AgeRules::FRANCE);
        let family = FamilyId::new();
        let child = Member {
            id: MemberId::new(),
            family,
            role: Role::Child,
            birth_date: Some(time::macros::date!(2010 - 01 - 01)),
        };
        let guardian = Member {
            id: MemberId::new(),
            family,
            role: Role::Guardian,
            birth_date: None,
        };
        let snapshot = FamilySnapshot {
            family,
            members: vec![child.clone(), guardian],
            grants: vec![],
            forbids: vec![],
        };
        let compiled = a.compile(&snapshot).unwrap();
        let schema = Schema::from_cedarschema_str(SCHEMA).unwrap().0;
        let mut known: HashMap<EntityUid, Entity> = HashMap::new();
        let mut collect = |store: &Entities| known.extend(store.iter().map(|e| (e.uid(), e.clone())));
        collect(&compiled.register_store);
        for m in compiled.members.values() {
            collect(&m.own_store);
            m.collections.iter().for_each(|c| collect(&c.store));
        }
        // Families have no attributes; the schema wants the entity present for the check.
        known.insert(
            compiled.family_uid.clone(),
            Entity::new_no_attrs(compiled.family_uid.clone(), HashSet::new()),
        );
        Entities::from_entities(known.into_values(), Some(&schema)).unwrap();
    }

    #[test]
    fn compiled_family_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<CompiledFamily>();
        check::<Authorizer>();
    }
}
