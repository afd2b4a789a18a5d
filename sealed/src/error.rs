//! One error type per kind of operation; messages are lowercase, without a trailing period.
//!
//! Errors from openmls are kept as text (`Mls`): their types are generic over the storage
//! provider and change between openmls versions, so they are not part of this crate's API.

use thiserror::Error;

/// Why a vault group or a service member could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CreateError {
    /// An identity must not be empty.
    #[error("the identity is empty")]
    EmptyIdentity,
    /// A group id must not be empty.
    #[error("the group id is empty")]
    EmptyGroupId,
    /// The crypto provider or openmls failed.
    #[error("mls: {0}")]
    Mls(String),
}

/// Why a KeyPackage was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPackageError {
    /// The bytes are not a TLS-encoded MLS message.
    #[error("not an mls message")]
    Malformed,
    /// The bytes are an MLS message, but not a KeyPackage.
    #[error("not a key package")]
    NotAKeyPackage,
    /// Its signatures, lifetime or keys did not verify.
    #[error("invalid key package: {0}")]
    Invalid(String),
    /// It is for another ciphersuite than the group's.
    #[error("key package for ciphersuite `{0}`, the group uses `{1}`")]
    WrongCiphersuite(String, String),
    /// Its credential is not a basic credential.
    #[error("the credential is not a basic credential")]
    UnsupportedCredential,
}

/// Why a commit (add, remove, self-update) was not made. The group is unchanged.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommitError {
    /// No KeyPackage or identity was given.
    #[error("nothing to add or remove")]
    Empty,
    /// The KeyPackage at this position of the input was refused.
    #[error("key package {index}: {reason}")]
    KeyPackage {
        /// Its position in the input.
        index: usize,
        /// Why it was refused.
        reason: KeyPackageError,
    },
    /// This identity is already a member, or appears twice in the input.
    #[error("`{}` is already a member or given twice", String::from_utf8_lossy(.0))]
    DuplicateMember(Vec<u8>),
    /// No service member has this identity.
    #[error("no service member is `{}`", String::from_utf8_lossy(.0))]
    UnknownMember(Vec<u8>),
    /// The vault cannot remove itself from its own group.
    #[error("the vault cannot remove itself")]
    CannotRemoveVault,
    /// openmls failed.
    #[error("mls: {0}")]
    Mls(String),
}

/// Why a message was not sealed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The last commit (or the rekey of a restore) has not been snapshotted yet.
    #[error(
        "the group changed since its last snapshot: snapshot and persist it (with the commit) first"
    )]
    SnapshotRequired,
    /// The epoch has carried its maximum number of messages: `self_update` first.
    #[error("this epoch has sealed its {0} messages: self-update first")]
    EpochExhausted(u32),
    /// openmls failed.
    #[error("mls: {0}")]
    Mls(String),
}

/// Why state could not be saved or restored.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StateError {
    /// The key is wrong or the bytes were changed.
    #[error("wrong key or tampered state")]
    WrongKeyOrTampered,
    /// The bytes are not state written by this crate.
    #[error("malformed state")]
    Malformed,
    /// The state is well formed but lacks a part (a group, the signature key).
    #[error("incomplete state: {0}")]
    Incomplete(&'static str),
    /// The storage or openmls failed.
    #[error("mls: {0}")]
    Mls(String),
}

/// Why a Welcome was not joined.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The bytes are not a TLS-encoded MLS message.
    #[error("not an mls message")]
    Malformed,
    /// The bytes are an MLS message, but not a Welcome.
    #[error("not a welcome")]
    NotAWelcome,
    /// This member already belongs to the group.
    #[error("already a member of this group")]
    AlreadyMember,
    /// The Welcome is signed by another key than the vault's.
    #[error("the welcome is not from the vault")]
    NotTheVault,
    /// No KeyPackage of this member opens it, or it does not verify.
    #[error("cannot join: {0}")]
    Refused(String),
}

/// Why a commit message was not applied. The member's group is unchanged.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The bytes are not a TLS-encoded MLS protocol message.
    #[error("not an mls protocol message")]
    Malformed,
    /// The message is not a commit (application messages go to `open`).
    #[error("not a commit")]
    NotACommit,
    /// This member is not in the message's group.
    #[error("not a member of this group")]
    UnknownGroup,
    /// The commit is for another epoch than the member's: `message < group` is a commit already
    /// applied (a redelivery), `message > group` means earlier commits are missing.
    #[error("commit for epoch {message}, the group is at epoch {group}")]
    WrongEpoch {
        /// The commit's epoch.
        message: u64,
        /// The member's epoch.
        group: u64,
    },
    /// The commit was not sent by the group's vault.
    #[error("the commit is not from the vault")]
    NotFromVault,
    /// The commit did not decrypt or verify.
    #[error("invalid commit: {0}")]
    Invalid(String),
}

/// Why an application message was not opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The bytes are not a TLS-encoded MLS protocol message.
    #[error("not an mls protocol message")]
    Malformed,
    /// The message is not an application message (commits go to `process`).
    #[error("not an application message")]
    NotAnApplicationMessage,
    /// The message belongs to another group than the one asked for.
    #[error("the message is for another group")]
    WrongGroup,
    /// This member is not in the group.
    #[error("not a member of this group")]
    UnknownGroup,
    /// The message was not sent by the group's vault.
    #[error("the message is not from the vault")]
    NotFromVault,
    /// The message did not decrypt: tampered, from an epoch whose keys this member does not have
    /// (after its removal, or too old), or already opened.
    #[error("cannot open: {0}")]
    CannotOpen(String),
}

/// openmls's errors as text, for the `Mls` variants.
pub(crate) fn mls(error: impl std::fmt::Debug) -> String {
    format!("{error:?}")
}
