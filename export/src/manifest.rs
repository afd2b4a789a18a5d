//! `manifest.json`: what the archive is, and the SHA-256 and size of every other entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value of the manifest's `format`.
pub const ARCHIVE_FORMAT: &str = "cartable.family-archive";
/// The format's version: a reader refuses a higher one (a change that an older reader could misread raises it;
/// new optional fields and new entries under new paths do not).
pub const ARCHIVE_VERSION: u32 = 1;
/// The manifest's path: the archive's last entry.
pub const MANIFEST_PATH: &str = "manifest.json";

/// One entry as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryHash {
    pub path: String,
    pub size: u64,
    /// SHA-256 of the entry's bytes, lower-case hex.
    pub sha256: String,
}

/// What the writer's caller says of the archive; the entries are the writer's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestHead {
    pub cartable_version: String,
    pub family_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// How many of each thing the archive holds (`records`, `files`, `members`, `grants`, `ledger_entries`…).
    pub counts: BTreeMap<String, u64>,
    /// Whose view of the family it is: [`Scope::Family`] (everything), [`Scope::Member`] or [`Scope::Service`].
    pub scope: Scope,
}

/// What part of a family an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The whole family, as the operator exports it: the only kind an import takes.
    #[default]
    Family,
    /// What one member may see: the collections and the entries of the register the family's rules show them, each
    /// entry with its inclusion proof when some are left out.
    Member,
    /// A service's: the collections its `export` grant covers, and nothing of the family's members or register.
    Service,
}

/// The manifest as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub cartable_version: String,
    pub family_id: String,
    pub created_at: String,
    pub counts: BTreeMap<String, u64>,
    /// Absent in archives written before it: they were all the family's.
    #[serde(default)]
    pub scope: Scope,
    /// Every entry but the manifest, in the order written.
    pub entries: Vec<EntryHash>,
}

impl Manifest {
    pub(crate) fn new(head: ManifestHead, entries: Vec<EntryHash>) -> Manifest {
        Manifest {
            format: ARCHIVE_FORMAT.to_owned(),
            format_version: ARCHIVE_VERSION,
            cartable_version: head.cartable_version,
            family_id: head.family_id,
            created_at: head.created_at,
            counts: head.counts,
            scope: head.scope,
            entries,
        }
    }
}
