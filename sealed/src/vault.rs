//! The vault's side of one grant's group: the only member that commits and the only one that seals.

use std::collections::BTreeSet;
use std::fmt;

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_libcrux_crypto::Provider;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::error::{CommitError, CreateError, SealError, StateError, mls};
use crate::mls::{self as m, CIPHERSUITE, MAX_SEALS_PER_EPOCH};

const SNAPSHOT_MAGIC: &[u8; 4] = b"CSV1";

/// A commit to deliver to the group's members, through the mailbox of its group id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The commit, for the members already in the group (including those it removes).
    pub commit: Vec<u8>,
    /// The Welcome, for the members it adds (`Some` only when it adds some).
    pub welcome: Option<Vec<u8>>,
    /// The epoch the group is in once the commit is applied.
    pub epoch: u64,
}

/// A member of a group, as the vault sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Its leaf in the group's tree.
    pub leaf: u32,
    /// The identity of its basic credential.
    pub identity: Vec<u8>,
    /// Whether it is the vault itself (otherwise it is a service instance).
    pub is_vault: bool,
}

/// The vault's side of one grant's MLS group.
///
/// Every change is a commit that the vault makes and merges at once; the returned [`Commit`] is
/// what the members must process. Before any message is sealed after a change, the group must be
/// snapshotted ([`VaultGroup::snapshot`]) and that snapshot persisted together with the commit:
/// see the crate's invariants.
pub struct VaultGroup {
    provider: Provider,
    signer: SignatureKeyPair,
    group: MlsGroup,
    /// Messages sealed in the current epoch (it restarts at every commit).
    sealed_in_epoch: u32,
    /// The group changed since the last snapshot: sealing waits for one.
    unsaved: bool,
}

impl fmt::Debug for VaultGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultGroup")
            .field("group_id", &self.group.group_id().as_slice())
            .field("epoch", &self.epoch())
            .field("members", &self.group.members().count())
            .finish_non_exhaustive()
    }
}

impl VaultGroup {
    /// Creates the group `group_id` (a grant's id) with the vault, named `vault_identity`, as its
    /// only member, at epoch 0. It needs a snapshot before it seals.
    pub fn create(group_id: &[u8], vault_identity: &[u8]) -> Result<Self, CreateError> {
        if group_id.is_empty() {
            return Err(CreateError::EmptyGroupId);
        }
        if vault_identity.is_empty() {
            return Err(CreateError::EmptyIdentity);
        }
        let provider = m::new_provider().map_err(CreateError::Mls)?;
        let signer = m::new_signer().map_err(CreateError::Mls)?;
        signer
            .store(provider.storage())
            .map_err(|e| CreateError::Mls(mls(e)))?;
        let group = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(group_id))
            .ciphersuite(CIPHERSUITE)
            .with_wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .padding_size(m::PADDING)
            .sender_ratchet_configuration(m::ratchet_configuration())
            // The vault never decrypts: it keeps no past epoch's keys.
            .max_past_epochs(0)
            .build(
                &provider,
                &signer,
                m::credential_with_key(vault_identity, &signer),
            )
            .map_err(|e| CreateError::Mls(mls(e)))?;
        Ok(Self {
            provider,
            signer,
            group,
            sealed_in_epoch: 0,
            unsaved: true,
        })
    }

    /// The vault's signature public key in this group: what a member pins when it joins
    /// ([`crate::ServiceMember::join`]). It stays the same for the group's life (a self-update
    /// renews the leaf's encryption key, not its signature key).
    pub fn signature_key(&self) -> &[u8] {
        self.signer.public()
    }

    /// The vault's signature key in the group a snapshot holds, read without restoring it (which would rekey).
    pub fn signature_key_of(snapshot: &[u8]) -> Result<Vec<u8>, StateError> {
        let mut reader = Reader::new(snapshot, SNAPSHOT_MAGIC).map_err(|_| StateError::Malformed)?;
        let _group_id = reader.bytes().map_err(|_| StateError::Malformed)?;
        Ok(reader.bytes().map_err(|_| StateError::Malformed)?.to_vec())
    }

    /// The group's id (the grant's id it was created with).
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id().as_slice()
    }

    /// The current epoch: 0 at creation, one more at every commit.
    pub fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    /// The vault and the service instances in the group, by leaf.
    pub fn members(&self) -> Vec<GroupMember> {
        let own = self.group.own_leaf_index();
        self.group
            .members()
            .map(|member| GroupMember {
                leaf: member.index.u32(),
                identity: m::identity(&member.credential).unwrap_or_default(),
                is_vault: member.index == own,
            })
            .collect()
    }

    /// Adds the service instances whose KeyPackages (as they published them) are given.
    ///
    /// Every KeyPackage is parsed and verified first (encoding, signatures, lifetime, ciphersuite,
    /// a basic credential, an identity not already in the group): if one is refused, nothing is
    /// added and the group is unchanged.
    pub fn add(&mut self, key_packages: &[Vec<u8>]) -> Result<Commit, CommitError> {
        if key_packages.is_empty() {
            return Err(CommitError::Empty);
        }
        let mut seen: BTreeSet<Vec<u8>> = self
            .members()
            .into_iter()
            .map(|member| member.identity)
            .collect();
        let mut parsed = Vec::with_capacity(key_packages.len());
        for (index, bytes) in key_packages.iter().enumerate() {
            let (key_package, identity) = m::parse_key_package(&self.provider, bytes)
                .map_err(|reason| CommitError::KeyPackage { index, reason })?;
            if !seen.insert(identity.clone()) {
                return Err(CommitError::DuplicateMember(identity));
            }
            parsed.push(key_package);
        }
        let (commit, welcome, _group_info) = self
            .group
            .add_members(&self.provider, &self.signer, &parsed)
            .map_err(|e| CommitError::Mls(mls(e)))?;
        self.merge(commit, Some(welcome))
    }

    /// Removes the service instances with these identities (retiring them). Every identity must be
    /// a service member of the group, or nothing is removed.
    pub fn remove(&mut self, identities: &[&[u8]]) -> Result<Commit, CommitError> {
        if identities.is_empty() {
            return Err(CommitError::Empty);
        }
        let members = self.members();
        let mut leaves = BTreeSet::new();
        for identity in identities {
            let member = members
                .iter()
                .find(|member| member.identity == *identity)
                .ok_or_else(|| CommitError::UnknownMember(identity.to_vec()))?;
            if member.is_vault {
                return Err(CommitError::CannotRemoveVault);
            }
            if !leaves.insert(member.leaf) {
                return Err(CommitError::DuplicateMember(identity.to_vec()));
            }
        }
        self.remove_leaves(leaves)
    }

    /// Removes every service instance (revoking the grant). `None` when there was none.
    pub fn remove_all_services(&mut self) -> Result<Option<Commit>, CommitError> {
        let leaves: BTreeSet<u32> = self
            .members()
            .into_iter()
            .filter(|member| !member.is_vault)
            .map(|member| member.leaf)
            .collect();
        if leaves.is_empty() {
            return Ok(None);
        }
        self.remove_leaves(leaves).map(Some)
    }

    /// Renews the vault's own leaf (fresh HPKE key, fresh epoch secrets): periodically, when an
    /// epoch has sealed [`MAX_SEALS_PER_EPOCH`] messages, and after every restore.
    pub fn self_update(&mut self) -> Result<Commit, CommitError> {
        let bundle = self
            .group
            .self_update(&self.provider, &self.signer, LeafNodeParameters::default())
            .map_err(|e| CommitError::Mls(mls(e)))?;
        let (commit, welcome, _group_info) = bundle.into_messages();
        self.merge(commit, welcome)
    }

    /// Seals `plaintext` as an MLS application message for every member of the group.
    ///
    /// Refused until the latest change has been snapshotted, and once the epoch has sealed
    /// [`MAX_SEALS_PER_EPOCH`] messages.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        if self.unsaved {
            return Err(SealError::SnapshotRequired);
        }
        if self.sealed_in_epoch >= MAX_SEALS_PER_EPOCH {
            return Err(SealError::EpochExhausted(MAX_SEALS_PER_EPOCH));
        }
        let message = self
            .group
            .create_message(&self.provider, &self.signer, plaintext)
            .map_err(|e| SealError::Mls(mls(e)))?;
        self.sealed_in_epoch += 1;
        message.to_bytes().map_err(|e| SealError::Mls(mls(e)))
    }

    /// The group's whole state, in plaintext: the vault's signature key, the epoch secrets, the
    /// tree. It is secret: encrypt it (with the family's key) before it leaves memory.
    ///
    /// Taking it allows sealing again after a change; persist it with the change's commit before
    /// delivering the commit, so that the stored state never lags behind what members saw.
    pub fn snapshot(&mut self) -> Result<Zeroizing<Vec<u8>>, StateError> {
        let mut storage = m::dump_storage(&self.provider).map_err(StateError::Mls)?;
        let mut writer = Writer::new(SNAPSHOT_MAGIC);
        writer.bytes(self.group.group_id().as_slice());
        writer.bytes(self.signer.public());
        writer.map(&storage);
        // The values were copied into the writer's self-wiping buffer; wipe the copies too.
        m::wipe(&mut storage);
        self.unsaved = false;
        Ok(writer.finish())
    }

    /// Restores a group from [`VaultGroup::snapshot`] bytes and rekeys it at once.
    ///
    /// The snapshot may predate messages sealed before a crash: sealing again from its sender
    /// ratchet would reuse their keys and nonces. So the restored group makes a `self_update`
    /// commit, returned here, and seals only in the new epoch. Snapshot the group and persist that
    /// snapshot with the commit before delivering the commit (sealing refuses until then).
    pub fn from_snapshot(bytes: &[u8]) -> Result<(Self, Commit), StateError> {
        let mut reader = Reader::new(bytes, SNAPSHOT_MAGIC).map_err(|_| StateError::Malformed)?;
        let group_id = reader.bytes().map_err(|_| StateError::Malformed)?.to_vec();
        let public_key = reader.bytes().map_err(|_| StateError::Malformed)?.to_vec();
        let storage = reader.map().map_err(|_| StateError::Malformed)?;
        reader.end().map_err(|_| StateError::Malformed)?;

        let provider = m::provider_with(storage).map_err(StateError::Mls)?;
        let signer = m::read_signer(&provider, &public_key)
            .ok_or(StateError::Incomplete("signature key"))?;
        let group = MlsGroup::load(provider.storage(), &GroupId::from_slice(&group_id))
            .map_err(|e| StateError::Mls(mls(e)))?
            .ok_or(StateError::Incomplete("group"))?;
        if !group.is_active() || group.pending_commit().is_some() {
            return Err(StateError::Incomplete("an active group"));
        }
        let mut restored = Self {
            provider,
            signer,
            group,
            sealed_in_epoch: 0,
            unsaved: true,
        };
        let commit = restored
            .self_update()
            .map_err(|e| StateError::Mls(e.to_string()))?;
        Ok((restored, commit))
    }

    fn remove_leaves(&mut self, leaves: BTreeSet<u32>) -> Result<Commit, CommitError> {
        let leaves: Vec<LeafNodeIndex> = leaves.into_iter().map(LeafNodeIndex::new).collect();
        let (commit, welcome, _group_info) = self
            .group
            .remove_members(&self.provider, &self.signer, &leaves)
            .map_err(|e| CommitError::Mls(mls(e)))?;
        self.merge(commit, welcome)
    }

    /// Merges the commit just staged and returns what to deliver.
    fn merge(
        &mut self,
        commit: MlsMessageOut,
        welcome: Option<MlsMessageOut>,
    ) -> Result<Commit, CommitError> {
        let commit = commit.to_bytes().map_err(|e| CommitError::Mls(mls(e)));
        let welcome = welcome
            .map(|w| w.to_bytes())
            .transpose()
            .map_err(|e| CommitError::Mls(mls(e)));
        let (commit, welcome) = match (commit, welcome) {
            (Ok(commit), Ok(welcome)) => (commit, welcome),
            (Err(e), _) | (_, Err(e)) => {
                // Leave the group as it was: drop the staged commit.
                let _ = self.group.clear_pending_commit(self.provider.storage());
                return Err(e);
            }
        };
        self.group
            .merge_pending_commit(&self.provider)
            .map_err(|e| CommitError::Mls(mls(e)))?;
        self.sealed_in_epoch = 0;
        self.unsaved = true;
        Ok(Commit {
            commit,
            welcome,
            epoch: self.epoch(),
        })
    }
}
