//! Cartable's consent rules, with no I/O.
//!
//! - [`Doctype`], [`Action`], ids and the typed [`Grant`]: the vocabulary the vault stores.
//! - The authorizer turns grants into Cedar policies and decides every access; a positive decision is the
//!   only way to obtain a [`Permit`], which the vault demands before it reads a family's data.
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
    PRINCIPAL_OUTSIDE_FAMILY, Permit, PolicyError,
};
// --- end authorization ---

// --- ledger (ledger/) ---
pub mod ledger;
// --- end ledger ---
