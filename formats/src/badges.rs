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
//! A CLR gives a body for itself (`format: "clr2"`, with the titles of what it includes in `achievements`) and one
//! for each credential it includes (`format: "ob3"`, with `part_of`: the CLR's dedupe key), so that a badge
//! imported alone and again inside a CLR is one record. Achievements a CLR lists without a credential give none.
//! A credential that breaks a rule (an expired one too) gives no body, as xAPI's refused statements.
//!
//! ```
//! use cartable_formats::badges::{self, Format, ReadLimits, VerificationStatus};
//! use time::macros::datetime;
//!
//! let assertion = r#"{"@context": "https://w3id.org/openbadges/v2", "type": "Assertion", "id": "https://school.example/a/1",
//!   "recipient": {"type": "email", "hashed": false, "identity": "leo@example.org"}, "issuedOn": "2026-06-20T09:00:00+02:00",
//!   "verification": {"type": "hosted"},
//!   "badge": {"type": "BadgeClass", "id": "https://school.example/b/pix", "name": "PIX", "description": "Compétences numériques",
//!             "criteria": {"narrative": "Réussir le parcours"}, "issuer": {"type": "Issuer", "id": "https://school.example", "name": "Collège"}}}"#;
//! let credentials = badges::read(assertion.as_bytes(), ReadLimits::STANDARD, datetime!(2026-07-01 0:00 UTC)).unwrap();
//! assert_eq!(credentials[0].format(), Format::Ob2);
//! assert_eq!(credentials[0].verification().status, VerificationStatus::NotVerified);
//! let record = &credentials[0].records()[0];
//! assert_eq!((record.doctype, record.dedupe_key.as_str()), ("edu.certificates", "https://school.example/a/1"));
//! assert_eq!((&record.body["title"], &record.body["issuer"], &record.body["date"]), (&"PIX".into(), &"Collège".into(), &"2026-06-20".into()));
//! assert_eq!(record.body["verification"]["reason"], "hosted verification fetches the assertion from https://school.example/a/1, which needs the network");
//! ```
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
