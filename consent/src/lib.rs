//! Cartable's consent rules, with no I/O.
//!
//! - [`Doctype`], [`Action`], ids and the typed [`Grant`]: the vocabulary the vault stores.
//! - The authorizer turns grants into Cedar policies and decides every access; a [`Decision`] says why, with typed
//!   [`Reason`]s. It is an explanation, not a right: the vault alone turns an allowed decision into the permit it
//!   demands before it reads or changes a family's data, once the decision is in the family's ledger.
//! - [`lifecycle`]: who must approve a request, given the child's age, and how a grant moves between states.
//! - [`ledger`]: the RFC 6962 Merkle arithmetic, consent receipts, signed checkpoints and proofs.

mod doctype;
mod ids;
mod model;

pub use doctype::{Doctype, UnknownDoctype};
pub use ids::{DpoId, FamilyId, GrantId, MemberId, ParseIdError, RecordId, ServiceId};
pub use model::{
    Action, AgeRules, Approval, Forbid, ForbidScope, Grant, GrantState, Grantee, LegalBasis, Member, Principal, Resource, Role,
    UnknownAction, UnknownLegalBasis, UnknownRole,
};

// --- authorization (authz.rs, lifecycle.rs) ---
mod authz;
pub mod lifecycle;

pub use authz::{
    AccessRequest, Authorizer, CompiledFamily, DEFAULT_DENY, Decision, Denied, FamilySnapshot, OUTSIDE_FAMILY,
    PRINCIPAL_OUTSIDE_FAMILY, PolicyError, Reason, TokenRule, TokenScope,
};
// --- end authorization ---

// --- ledger (ledger/) ---
pub mod ledger;
// --- end ledger ---
