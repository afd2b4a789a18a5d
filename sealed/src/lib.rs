//! Sealed delivery: the MLS groups (RFC 9420) through which a family's vault delivers a grant's
//! data to a service's instances, so that mailboxes, proxies, queues and logs in between never
//! see plaintext, and a stolen token alone reads nothing.
//!
//! This crate owns the MLS state machine and nothing else: no I/O, no mailbox, no key storage.
//! The vault persists [`VaultGroup::snapshot`] under its own envelope, the SDK persists
//! [`ServiceMember::save`], and both move the bytes this crate returns through a mailbox keyed by
//! the group id.
//!
//! # The parts
//!
//! - [`VaultGroup`], on the vault's side: one per grant, created by the vault, which is the
//!   group's first member. It adds service instances from their KeyPackages, removes one
//!   (retiring an instance) or all of them (revoking the grant), renews its own leaf, and seals
//!   application messages.
//! - [`ServiceMember`], on the service's side: one per service instance, with its own identity.
//!   It publishes KeyPackages, joins groups from Welcomes, applies commits and opens messages.
//!
//! Every group uses [`CIPHERSUITE`] (X25519, ChaCha20-Poly1305, SHA-256, Ed25519), and every
//! message is a `PrivateMessage`, commits included.
//!
//! # Example
//!
//! ```
//! use cartable_sealed::{Processed, ServiceMember, VaultGroup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut vault = VaultGroup::create(b"grant-42", b"vault:family-7")?;
//! let mut instance = ServiceMember::new(b"school-app:instance-1")?;
//!
//! let added = vault.add(&instance.key_packages(1)?)?;
//! let _state = vault.snapshot()?; // persisted, with `added`, before delivering it
//! // The vault's key reaches the instance over an authenticated channel; a Welcome by any other is refused.
//! let vault_key = vault.signature_key().to_vec();
//! instance.join(added.welcome.as_deref().expect("a welcome for the new member"), &vault_key)?;
//!
//! let sealed = vault.seal(b"grades of term 2")?;
//! assert_eq!(instance.open(b"grant-42", &sealed)?, b"grades of term 2");
//!
//! let revoked = vault.remove_all_services()?.expect("one service member");
//! assert_eq!(instance.process(&revoked.commit)?, Processed::Removed);
//! assert!(!instance.is_member(b"grant-42"));
//! # Ok(())
//! # }
//! ```
//!
//! # Invariants
//!
//! - **Only the vault sends and commits.** A [`ServiceMember`] remembers which leaf welcomed it
//!   (the vault's) and refuses commits and application messages from any other sender, even
//!   another member of the group. [`ServiceMember`] has no way to commit or seal.
//! - **Persist before delivering, rekey after restoring.** The vault persists its state after
//!   every membership change, not after every sealed message. A restored snapshot may therefore
//!   sit behind messages already sealed, and sealing from it again would reuse their keys and
//!   nonces. So [`VaultGroup::from_snapshot`] always makes a `self_update` commit, and the group
//!   seals only in that new epoch. And after every commit (including that one), [`VaultGroup::seal`]
//!   refuses until [`VaultGroup::snapshot`] has been taken: the snapshot must be persisted
//!   together with the commit before the commit is delivered, so the stored state is never behind
//!   what the members saw (which would fork the group and reuse the handshake keys).
//! - **Epochs are bounded.** An epoch seals at most [`MAX_SEALS_PER_EPOCH`] messages; then
//!   `self_update`. This bounds how far an instance's ratchet must skip: an instance sees only
//!   the responses meant for it, but all of them come from the vault's one sender ratchet.
//! - **State snapshots hold secrets.** [`VaultGroup::snapshot`] is plaintext (the vault's signing
//!   key and the epoch secrets) in a self-wiping buffer: encrypt it before it leaves memory.
//!   [`ServiceMember::save`] is encrypted under the key the service supplies; a wrong key or a
//!   changed byte is refused.
//! - **Every member reads every message of its group.** MLS encrypts to the group, not to one
//!   instance: a response sealed for one instance opens for every instance of the grant.
//! - **Removed members stay out.** A member removed by a commit has no secret of the epochs after
//!   it, even with its whole saved state from before the commit.
//!
//! Deliberately absent: proposals from members, external joins, PSKs, group info publication,
//! other ciphersuites or credential types.

mod codec;
mod error;
mod mls;
mod service;
mod vault;

pub use error::{
    CommitError, CreateError, JoinError, KeyPackageError, OpenError, ProcessError, SealError,
    StateError,
};
pub use mls::{CIPHERSUITE, MAX_SEALS_PER_EPOCH, key_package_identity};
pub use openmls::prelude::Ciphersuite;
pub use service::{Processed, ServiceMember};
pub use vault::{Commit, GroupMember, VaultGroup};
