//! Cartable's vault: every byte Cartable keeps goes through here.
//!
//! - A database (SQLite in WAL mode by default, PostgreSQL for scale) through one sqlx pool and the same
//!   runtime SQL on both; migrations per backend in `migrations/`.
//! - A blob store (a local folder, or an S3-compatible store) for file contents and large bodies, streamed both ways
//!   and never held whole in memory.
//! - Keys: a master age identity in a key file; each family its own X25519 identity wrapped to it, and a data key
//!   wrapped to that identity. Record bodies, file names and metadata, member names and birth dates, family names are
//!   sealed with XChaCha20-Poly1305 under the data key, each bound to its place (family, row, collection, version…);
//!   file contents and large bodies are age streams to the family identity, bound to their row by their header.
//! - Every function that reads or changes a family's data takes a [`Permit`], which only the vault makes, from an
//!   allowed decision already appended to the family's consent ledger.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cartable_vault::Error> {
//! use cartable_consent::{Action, AgeRules, Doctype, Principal, Resource, Role};
//! use cartable_vault::{NewRecord, Vault, VaultConfig};
//!
//! let vault = Vault::open(VaultConfig::embedded("./cartable-data".into())).await?;
//! let family = vault.create_family("Martin").await?;
//! // The operator's decisions too are made by the family's rules and logged before a permit exists.
//! let manage = vault.as_operator(family, Action::Manage, Resource::Family).await?;
//! let child = vault.add_member(&manage, Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await?;
//! let resource = Resource::Collection { child, doctype: Doctype::Grades };
//! // A member's or a service's: decided, logged, then a permit (or the reasons of a refusal).
//! let permit = vault.authorize(family, Principal::Operator, Action::Write, resource).await?.into_permit()?;
//! let body = serde_json::json!({"subject": "maths", "grade": 15.5});
//! let id = vault.put_record(&permit, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body }).await?;
//! # let _ = id; Ok(()) }
//! ```

#[cfg(test)]
mod age_conformance;
mod access;
mod blobs;
mod db;
mod dpos;
mod envelope;
mod error;
mod grants;
mod identities;
mod import;
mod invitations;
mod keys;
mod ledger;
mod legacy;
mod notifications;
mod private_files;
mod permit;
mod record_import;
mod records;
mod rows;
mod sealed;
mod search;
mod text;
mod vault;
mod watch;
mod write_turn;

pub use blobs::{BlobStoreConfig, S3Config, S3Credentials};
pub use access::{ApiStore, Attempt, CollectionInfo, ContinuationRecord, DpoSessionRecord, GrantDecision, LoginLimits, SealedRecord, SessionRecord, TokenRecord};
pub use db::Backend;
pub use dpos::{Dpo, LogState};
pub use envelope::SEALED_OVERHEAD;
pub use error::{Error, OpenError, Result};
pub use grants::{ApprovalResult, GrantOutline, NewRequest, SERVICE_DESCRIPTION_LIMIT, ServiceProfile};
pub use import::{ArchivedFile, ArchivedMember, ArchivedRow, ArchivedService, FamilyArchive, Import, ImportBatch, ImportReport};
pub use identities::{LinkedIdentity, PendingSignIn};
pub use notifications::{Notification, NotificationKind, NotificationSettings, OutboxStatus, OutgoingEmail};
pub use invitations::{Acceptance, Accepted, Invitation, InvitationKind, PendingInvitation};
pub use keys::MasterKey;
pub use ledger::{LedgerEntry, LedgerFilter, VerifyError, VerifyReport};
pub use permit::{Decision, Permit};
pub use record_import::{IMPORT_BATCH, ImportItem, ImportedCollection, RecordImport, RecordImportReport};
pub use records::{FileInfo, NewRecord, RecordDocument, RecordFilter, RecordSummary};
pub use sealed::{LEAF_RENEWAL, Mailbox, MailboxKind, MailboxMessage, Published, SealedResponse, Sealer, check_instance_name, instance_identity};
pub use search::{MAX_SEARCH_OFFSET, MAX_SEARCH_PAGE, SearchHit, SearchOutcome, SearchQuery, TextExtractor};
pub use vault::{MemberInfo, Vault, VaultConfig};
