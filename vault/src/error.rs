//! The vault's errors. Messages never carry a family's plaintext, a key, a path under the data folder or SQL.

use cartable_consent::{Doctype, FamilyId, GrantId, MemberId, RecordId};

/// Everything that can go wrong in the vault, as the layers above need to tell apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("family `{0}` does not exist")]
    FamilyNotFound(FamilyId),
    #[error("member `{0}` is not in this family")]
    MemberNotFound(MemberId),
    #[error("record `{0}` is not in this family")]
    RecordNotFound(RecordId),
    #[error("grant `{0}` is not in this family")]
    GrantNotFound(GrantId),
    #[error("service `{0}` is not registered")]
    ServiceNotFound(String),
    #[error("service `{0}` awaits the operator's approval")]
    ServiceNotApproved(cartable_consent::ServiceId),
    /// A service asking a family again while its earlier requests there still wait for an answer.
    #[error("this service already has {0} requests waiting for this family's answer")]
    TooManyPending(usize),
    #[error("DPO `{0}` is not appointed on this server")]
    DpoNotFound(cartable_consent::DpoId),
    #[error("member `{0}` is not a child of this family")]
    NotAChild(MemberId),
    #[error("{0}")]
    InvalidInput(String),
    /// An invitation that does not exist, was used already or has expired (which of them is not said).
    #[error("this invitation is not valid (unknown, used or expired)")]
    InvitationInvalid,
    #[error("this sign-in name is taken")]
    LoginTaken,
    /// A provider's identity already linked to another member.
    #[error("this identity is linked to another account")]
    IdentityTaken,
    #[error("{0}")]
    Lifecycle(#[from] cartable_consent::lifecycle::LifecycleError),
    #[error("access denied: {0}")]
    Denied(String),
    #[error("the permit does not cover this {0}")]
    PermitMismatch(&'static str),
    #[error("no grant may share `{0}` in this family")]
    Forbidden(Doctype),
    #[error("key error: {0}")]
    Key(String),
    #[error("the encrypted data of this family could not be decrypted (wrong key or corrupted data)")]
    Decrypt,
    #[error("a stored blob is missing or truncated")]
    BlobCorrupt,
    /// A stored value is not where it was sealed (moved, copied, swapped or rolled back) or was altered: it is never
    /// served. The message names the place by ids only, e.g. ``record `…` ``.
    #[error("integrity check failed for the stored {0}: it was moved, swapped, rolled back or altered")]
    Integrity(String),
    #[error("the ledger of family `{family}` is broken at entry {index}: {reason}")]
    LedgerBroken { family: FamilyId, index: u64, reason: String },
    #[error("database error: {0}")]
    Database(String),
    /// A stored value that does not parse (an id, a role, a grant row): what, never the value.
    #[error("stored data is malformed: {0}")]
    Corrupt(&'static str),
    /// Concurrent changes kept invalidating the work; the caller may try again.
    #[error("{0}; try again")]
    Contended(&'static str),
    /// A task of the vault's own ended before it answered (its runtime is shutting down).
    #[error("{0} stopped before answering")]
    Stopped(&'static str),
    #[error("storage error: {0}")]
    Io(String),
    /// A family's search index could not be opened, kept or searched (what failed, never a word of it).
    #[error("the search index failed: {0}")]
    SearchIndex(&'static str),
    /// Sealed delivery's MLS work failed (what, never a key or a message).
    #[error("sealed delivery failed: {0}")]
    Sealed(&'static str),
}

/// Why [`crate::Vault::open`] failed: each kind is something else for the operator to check, and none names a path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data folder cannot be created, or made the owner's only.
    #[error("the data folder cannot be used: {0}")]
    DataFolder(Error),
    /// The database cannot be reached, or its migrations failed.
    #[error("the database cannot be opened: {0}")]
    Database(Error),
    /// The master key or the ledger's signing key is missing, unreadable, corrupted, or not this vault's.
    #[error("{0}")]
    Keys(Error),
    /// The blob store cannot be used (its configuration, or listing it at start).
    #[error("the blob store cannot be used: {0}")]
    BlobStore(Error),
    /// A one-time upgrade of stored data at start failed; the next start resumes it.
    #[error("the upgrade of stored data at start failed (the next start resumes it): {0}")]
    Upgrade(Error),
}

/// For callers that handle every vault error alike.
impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::DataFolder(e) | OpenError::Database(e) | OpenError::Keys(e) | OpenError::BlobStore(e) | OpenError::Upgrade(e) => e,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // Only the kind of failure: sqlx messages can echo bound values.
        let kind = match &e {
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => "a unique constraint was violated",
                sqlx::error::ErrorKind::ForeignKeyViolation => "a reference points to nothing",
                _ => "the database refused the statement",
            },
            sqlx::Error::PoolTimedOut => "timed out waiting for a database connection",
            sqlx::Error::Io(_) => "cannot reach the database",
            sqlx::Error::Configuration(_) => "invalid database configuration",
            sqlx::Error::Migrate(_) => "the database migrations failed",
            sqlx::Error::RowNotFound => "an expected row is missing",
            _ => "the database failed",
        };
        tracing::debug!(error = %e, "database error");
        Error::Database(kind.to_owned())
    }
}

impl From<cartable_consent::Denied> for Error {
    fn from(denied: cartable_consent::Denied) -> Self {
        Error::Denied(denied.reasons().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.kind().to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
