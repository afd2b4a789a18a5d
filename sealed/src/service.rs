//! A service instance's side: its MLS identity, its KeyPackages, the groups it was welcomed into.

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_libcrux_crypto::Provider;

use crate::codec::{Reader, Writer};
use crate::error::{CreateError, JoinError, OpenError, ProcessError, StateError, mls};
use crate::mls::{self as m, CIPHERSUITE};

/// Opens the encrypted saved state, and is its associated data.
const SAVED_MAGIC: &[u8; 4] = b"CSS1";
/// Opens the plaintext inside.
const STATE_MAGIC: &[u8; 4] = b"CSSP";
const NONCE_LEN: usize = 12;

/// What applying a commit did to this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// The group moved to this epoch; this member is still in it.
    Epoch(u64),
    /// The commit removed this member: the group is gone from its state.
    Removed,
}

/// One group this member belongs to.
struct Joined {
    group: MlsGroup,
    /// The vault's leaf: the only sender this member accepts.
    vault: LeafNodeIndex,
}

/// One service instance: an MLS identity (a basic credential and an Ed25519 signature key) and the
/// groups, one per grant, it was welcomed into.
///
/// Its whole state (the signature key, unused KeyPackages' private keys, every group's secrets)
/// persists through [`ServiceMember::save`], encrypted under a key the service supplies.
pub struct ServiceMember {
    provider: Provider,
    signer: SignatureKeyPair,
    identity: Vec<u8>,
    groups: BTreeMap<Vec<u8>, Joined>,
}

impl fmt::Debug for ServiceMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceMember")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl ServiceMember {
    /// A new instance named `identity` (unique among the service's instances), with a fresh
    /// signature key.
    pub fn new(identity: &[u8]) -> Result<Self, CreateError> {
        if identity.is_empty() {
            return Err(CreateError::EmptyIdentity);
        }
        let provider = m::new_provider().map_err(CreateError::Mls)?;
        let signer = m::new_signer().map_err(CreateError::Mls)?;
        signer
            .store(provider.storage())
            .map_err(|e| CreateError::Mls(mls(e)))?;
        Ok(Self {
            provider,
            signer,
            identity: identity.to_vec(),
            groups: BTreeMap::new(),
        })
    }

    /// This instance's identity.
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    /// `n` fresh KeyPackages to publish, each an MLSMessage (RFC 9420 §6) in TLS encoding.
    ///
    /// Their private keys stay in this member's state until a Welcome uses them: save the state
    /// before publishing them.
    pub fn key_packages(&mut self, n: usize) -> Result<Vec<Vec<u8>>, CreateError> {
        let credential = m::credential_with_key(&self.identity, &self.signer);
        (0..n)
            .map(|_| {
                let bundle = KeyPackage::builder()
                    .build(
                        CIPHERSUITE,
                        &self.provider,
                        &self.signer,
                        credential.clone(),
                    )
                    .map_err(|e| CreateError::Mls(mls(e)))?;
                MlsMessageOut::from(bundle.key_package().clone())
                    .to_bytes()
                    .map_err(|e| CreateError::Mls(mls(e)))
            })
            .collect()
    }

    /// Joins the group a Welcome (from the vault's `add`) invites this member to; returns its id.
    /// `vault_key` is the vault's signature key for this grant ([`crate::VaultGroup::signature_key`]),
    /// learnt from the vault over an authenticated channel: a Welcome sent by any other key (someone
    /// who could write into the mailbox, with this member's published KeyPackage) is refused, so the
    /// member never seals its reads into a group the vault did not make.
    pub fn join(&mut self, welcome: &[u8], vault_key: &[u8]) -> Result<Vec<u8>, JoinError> {
        let message =
            MlsMessageIn::tls_deserialize_exact(welcome).map_err(|_| JoinError::Malformed)?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(JoinError::NotAWelcome);
        };
        let staged =
            StagedWelcome::new_from_welcome(&self.provider, &m::join_config(), welcome, None)
                .map_err(|e| JoinError::Refused(mls(e)))?;
        if staged.group_context().ciphersuite() != CIPHERSUITE {
            return Err(JoinError::Refused(format!(
                "ciphersuite {:?}",
                staged.group_context().ciphersuite()
            )));
        }
        let group_id = staged.group_context().group_id().to_vec();
        if self.groups.contains_key(&group_id) {
            return Err(JoinError::AlreadyMember);
        }
        // The vault made the group and is the only member that commits: the Welcome must be its.
        let sender = staged
            .welcome_sender()
            .map_err(|e| JoinError::Refused(mls(e)))?;
        if sender.signature_key().as_slice() != vault_key {
            return Err(JoinError::NotTheVault);
        }
        let vault = staged.welcome_sender_index();
        let group = staged
            .into_group(&self.provider)
            .map_err(|e| JoinError::Refused(mls(e)))?;
        self.groups
            .insert(group_id.clone(), Joined { group, vault });
        Ok(group_id)
    }

    /// Applies a commit from the vault (fetched from its group's mailbox, in order).
    pub fn process(&mut self, message: &[u8]) -> Result<Processed, ProcessError> {
        let message = parse_protocol(message).ok_or(ProcessError::Malformed)?;
        if message.content_type() != ContentType::Commit {
            return Err(ProcessError::NotACommit);
        }
        let group_id = message.group_id().to_vec();
        let joined = self
            .groups
            .get_mut(&group_id)
            .ok_or(ProcessError::UnknownGroup)?;
        let (message_epoch, group_epoch) =
            (message.epoch().as_u64(), joined.group.epoch().as_u64());
        if message_epoch != group_epoch {
            return Err(ProcessError::WrongEpoch {
                message: message_epoch,
                group: group_epoch,
            });
        }
        let processed = joined
            .group
            .process_message(&self.provider, message)
            .map_err(|e| ProcessError::Invalid(mls(e)))?;
        if *processed.sender() != Sender::Member(joined.vault) {
            return Err(ProcessError::NotFromVault);
        }
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(ProcessError::NotACommit);
        };
        let removed = staged.self_removed();
        joined
            .group
            .merge_staged_commit(&self.provider, *staged)
            .map_err(|e| ProcessError::Invalid(mls(e)))?;
        if removed {
            if let Some(mut joined) = self.groups.remove(&group_id) {
                // Its keys are of no more use; forget them (a failure leaves only dead state).
                let _ = joined.group.delete(self.provider.storage());
            }
            return Ok(Processed::Removed);
        }
        Ok(Processed::Epoch(joined.group.epoch().as_u64()))
    }

    /// Opens an application message sealed by the vault of group `group_id`.
    ///
    /// Messages of one epoch may come in any order (up to 256 generations late); messages of the
    /// three epochs before the current one still open.
    pub fn open(&mut self, group_id: &[u8], message: &[u8]) -> Result<Vec<u8>, OpenError> {
        let message = parse_protocol(message).ok_or(OpenError::Malformed)?;
        // Checked before decrypting, so that a misrouted commit does not use up a generation.
        if message.content_type() != ContentType::Application {
            return Err(OpenError::NotAnApplicationMessage);
        }
        if message.group_id().as_slice() != group_id {
            return Err(OpenError::WrongGroup);
        }
        let joined = self
            .groups
            .get_mut(group_id)
            .ok_or(OpenError::UnknownGroup)?;
        let processed = joined
            .group
            .process_message(&self.provider, message)
            .map_err(|e| OpenError::CannotOpen(mls(e)))?;
        if *processed.sender() != Sender::Member(joined.vault) {
            return Err(OpenError::NotFromVault);
        }
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(plaintext) => Ok(plaintext.into_bytes()),
            _ => Err(OpenError::NotAnApplicationMessage),
        }
    }

    /// Whether this member is in group `group_id` (welcomed and not removed by a commit it
    /// processed).
    pub fn is_member(&self, group_id: &[u8]) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|joined| joined.group.is_active())
    }

    /// The epoch this member's side of group `group_id` is in.
    pub fn epoch(&self, group_id: &[u8]) -> Option<u64> {
        self.groups
            .get(group_id)
            .map(|joined| joined.group.epoch().as_u64())
    }

    /// The ids of the groups this member is in.
    pub fn groups(&self) -> Vec<Vec<u8>> {
        self.groups.keys().cloned().collect()
    }

    /// This member's whole state, encrypted with ChaCha20-Poly1305 under `key` (a random nonce
    /// in front). Save after every `key_packages`, `join`, `process` and, to keep the ratchets'
    /// deletions, `open`.
    pub fn save(&self, key: &[u8; 32]) -> Result<Vec<u8>, StateError> {
        let mut storage = m::dump_storage(&self.provider).map_err(StateError::Mls)?;
        let mut writer = Writer::new(STATE_MAGIC);
        writer.bytes(&self.identity);
        writer.bytes(self.signer.public());
        writer.u32(u32::try_from(self.groups.len()).map_err(|_| StateError::Malformed)?);
        for (group_id, joined) in &self.groups {
            writer.bytes(group_id);
            writer.u32(joined.vault.u32());
        }
        writer.map(&storage);
        m::wipe(&mut storage);
        let plaintext = writer.finish();

        let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: SAVED_MAGIC,
                },
            )
            .map_err(|_| StateError::Mls("encryption failed".into()))?;
        let mut saved = Vec::with_capacity(SAVED_MAGIC.len() + NONCE_LEN + ciphertext.len());
        saved.extend_from_slice(SAVED_MAGIC);
        saved.extend_from_slice(&nonce);
        saved.extend_from_slice(&ciphertext);
        Ok(saved)
    }

    /// Restores a member from [`ServiceMember::save`] bytes and the key they were saved under.
    pub fn restore(saved: &[u8], key: &[u8; 32]) -> Result<Self, StateError> {
        let rest = saved
            .strip_prefix(SAVED_MAGIC.as_slice())
            .ok_or(StateError::Malformed)?;
        if rest.len() < NONCE_LEN {
            return Err(StateError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
        let plaintext = zeroize::Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: SAVED_MAGIC,
                    },
                )
                .map_err(|_| StateError::WrongKeyOrTampered)?,
        );

        let mut reader = Reader::new(&plaintext, STATE_MAGIC).map_err(|_| StateError::Malformed)?;
        let identity = reader.bytes().map_err(|_| StateError::Malformed)?.to_vec();
        let public_key = reader.bytes().map_err(|_| StateError::Malformed)?.to_vec();
        let count = reader.u32().map_err(|_| StateError::Malformed)?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let group_id = reader.bytes().map_err(|_| StateError::Malformed)?.to_vec();
            let vault = reader.u32().map_err(|_| StateError::Malformed)?;
            entries.push((group_id, LeafNodeIndex::new(vault)));
        }
        let storage = reader.map().map_err(|_| StateError::Malformed)?;
        reader.end().map_err(|_| StateError::Malformed)?;

        let provider = m::provider_with(storage).map_err(StateError::Mls)?;
        let signer = m::read_signer(&provider, &public_key)
            .ok_or(StateError::Incomplete("signature key"))?;
        let mut groups = BTreeMap::new();
        for (group_id, vault) in entries {
            let group = MlsGroup::load(provider.storage(), &GroupId::from_slice(&group_id))
                .map_err(|e| StateError::Mls(mls(e)))?
                .ok_or(StateError::Incomplete("group"))?;
            groups.insert(group_id, Joined { group, vault });
        }
        Ok(Self {
            provider,
            signer,
            identity,
            groups,
        })
    }
}

fn parse_protocol(bytes: &[u8]) -> Option<ProtocolMessage> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .ok()?
        .try_into_protocol_message()
        .ok()
}
