//! Open Badges 2.0 assertions, Open Badges 3.0 credentials and CLR 2.0 learner records: read from JSON, a compact
//! JWS (VC-JWT) or a baked PNG or SVG, checked against their specifications, and turned into `edu.certificates`
//! record bodies that say whether the signature was verified.
//!
//! [`read`] takes the bytes, the [`ReadLimits`] and `now`, and gives one [`Credential`] (a CLR gives itself, then
//! each credential it includes). Each has its [`Violation`]s, its [`Verification`] and, when it breaks no rule, its
//! record body ([`Credential::records`]).
//!
//! Verification is reported, never implied: `verified` only when the signature was checked here, offline, against
//! a key the JWS carries (`jwk`) or names as a `did:key`; `failed` when that key was at hand and the signature does
//! not match (or the key is another DID than the issuer's); `not_verified`, with the reason, otherwise: a key at an
//! `https` URL or a `did:web`, OB 2.0 hosted verification, no proof, and Data Integrity proofs (`eddsa-rdfc-2022`,
//! `Ed25519Signature2020`), which need JSON-LD canonicalisation with the credentials' contexts and are not checked
//! offline yet.
//!
//! Not checked: JSON-LD expansion (undefined terms), the specifications' JSON schemas beyond the properties named in
//! [`Rule`], revocation and status lists, refresh services, and anything else behind the network.

mod credential;
mod input;
mod jws;
mod read;
mod validate;
mod verification;

pub use credential::{CERTIFICATES_DOCTYPE, Credential, Format};
pub use input::{BadgeError, ReadLimits};
pub use read::read;
pub use validate::{Rule, Violation};
pub use verification::{Verification, VerificationStatus};
