//! Identifiers are newtypes over UUIDs so that a family id can never be passed where a record id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error for a string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind} id")]
pub struct ParseIdError {
    pub kind: &'static str,
    pub input: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id; time-ordered (UUIDv7) so that ids sort by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ParseIdError { kind: $kind, input: s.chars().take(64).collect() })
            }
        }
    };
}

id_type!(/// A family: the owner of one vault and one ledger.
    FamilyId, "family");
id_type!(/// A member of a family: a guardian or a child.
    MemberId, "member");
id_type!(/// A registered service (school app, tutoring app, platform).
    ServiceId, "service");
id_type!(/// An access request; once approved, the same id names the grant.
    GrantId, "grant");
id_type!(/// A record or a file in a family's vault.
    RecordId, "record");
id_type!(/// A data protection officer appointed on this server.
    DpoId, "dpo");
