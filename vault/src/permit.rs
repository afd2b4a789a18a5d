//! Permits: what every vault function that reads or changes a family's data demands.
//!
//! INVARIANT: a [`Permit`] is made only in this crate, only from an allowed decision, and only once that decision's
//! entry is in the family's ledger (`Vault::authorize`, `ApiStore::authorize_under_grant`). It has no public
//! constructor, no `Default`, no `Clone` and no `Deserialize`, so no other crate can make, copy or forge one:
//!
//! ```compile_fail
//! // A permit cannot be built outside the vault…
//! let permit = cartable_vault::Permit { family: cartable_consent::FamilyId::new() };
//! ```
//!
//! ```compile_fail
//! // …nor made of an explanation, which decides without logging…
//! # async fn f(vault: cartable_vault::Vault, family: cartable_consent::FamilyId, request: cartable_consent::AccessRequest) {
//! let explained = vault.explain(family, &request).await.unwrap();
//! let permit = explained.into_permit();
//! # }
//! ```
//!
//! ```compile_fail
//! // …and a family's data is not reached without one.
//! # async fn f(vault: cartable_vault::Vault, family: cartable_consent::FamilyId) {
//! let members = vault.list_members(family).await;
//! # }
//! ```

use cartable_consent::{Action, Denied, FamilyId, Principal, Reason, Resource};
use time::OffsetDateTime;

/// Proof that one access was allowed and logged; the vault checks its family, action and resource against what it
/// reads or changes.
#[derive(Debug)]
pub struct Permit {
    family: FamilyId,
    principal: Principal,
    action: Action,
    resource: Resource,
    decided_at: OffsetDateTime,
}

impl Permit {
    /// INVARIANT: called only with a decision that was allowed and whose ledger entry has committed.
    pub(crate) fn logged(decision: &cartable_consent::Decision) -> Permit {
        let request = decision.request();
        Permit {
            family: decision.family(),
            principal: request.principal,
            action: request.action,
            resource: request.resource,
            decided_at: request.now,
        }
    }

    /// The permit to read one record of the collection this permit reads.
    /// INVARIANT: called only on a permit to read `Resource::Collection { child, doctype }`, for a record of that very
    /// collection ([`crate::Vault::read_records`]): the collection's logged decision covers each of its records.
    pub(crate) fn for_record_of_collection(&self, id: cartable_consent::RecordId) -> Option<Permit> {
        match (self.action, self.resource) {
            // Exporting a collection reads each of its records.
            (Action::Read | Action::Export, Resource::Collection { child, doctype }) => Some(Permit {
                family: self.family,
                principal: self.principal,
                action: Action::Read,
                resource: Resource::Record { id, child, doctype },
                decided_at: self.decided_at,
            }),
            _ => None,
        }
    }

    /// INVARIANT: only for reading the register of a family that was erased ([`crate::Vault::operator_register`]).
    pub(crate) fn unlogged_register_of_erased(family: FamilyId) -> Permit {
        Permit { family, principal: Principal::Operator, action: Action::List, resource: Resource::Register, decided_at: OffsetDateTime::now_utc() }
    }

    pub fn family(&self) -> FamilyId {
        self.family
    }

    pub fn principal(&self) -> Principal {
        self.principal
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn resource(&self) -> Resource {
        self.resource
    }

    pub fn decided_at(&self) -> OffsetDateTime {
        self.decided_at
    }

    /// That this permit is for `action` on a resource `fits` accepts; `what` names the resource in the error.
    pub(crate) fn require(&self, actions: &[Action], what: &'static str, fits: impl Fn(Resource) -> bool) -> crate::Result<()> {
        if !actions.contains(&self.action) {
            return Err(crate::Error::PermitMismatch("action"));
        }
        if !fits(self.resource) {
            return Err(crate::Error::PermitMismatch(what));
        }
        Ok(())
    }

    /// For reading the family's register (its grants, prohibitions, ledger and policies).
    pub(crate) fn require_register(&self) -> crate::Result<()> {
        self.require(&[Action::Read, Action::List], "register", |r| matches!(r, Resource::Register))
    }

    /// For managing the family as a whole (members, the family's prohibitions, erasure).
    pub(crate) fn require_family_management(&self) -> crate::Result<()> {
        self.require(&[Action::Manage], "family", |r| matches!(r, Resource::Family))
    }
}

/// A decision the vault made and logged: allowed with its permit, or refused with its reasons.
#[derive(Debug)]
pub struct Decision {
    reasons: Vec<Reason>,
    permit: Option<Permit>,
}

impl Decision {
    /// INVARIANT: called only once the decision's ledger entry has committed.
    pub(crate) fn logged(decision: cartable_consent::Decision) -> Decision {
        let permit = decision.is_allowed().then(|| Permit::logged(&decision));
        Decision { reasons: decision.reasons().to_vec(), permit }
    }

    pub fn is_allowed(&self) -> bool {
        self.permit.is_some()
    }

    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The permit of an allowed decision; a refusal with its reasons otherwise.
    pub fn into_permit(self) -> Result<Permit, Denied> {
        match self.permit {
            Some(permit) => Ok(permit),
            None => Err(Denied::new(self.reasons)),
        }
    }
}
