//! What both sides share: the ciphersuite, the ratchet settings, the provider and its storage.

use std::collections::HashMap;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_libcrux_crypto::Provider;

use crate::error::{KeyPackageError, mls};

/// The ciphersuite of every sealed-delivery group: X25519, ChaCha20-Poly1305, SHA-256, Ed25519.
///
/// ChaCha20-Poly1305 rather than AES-128-GCM: it is constant-time in software on any CPU, and it
/// is the AEAD the rest of Cartable already uses.
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many application messages the vault seals in one epoch before it must `self_update`.
///
/// It is also how far ahead of its last opened message an instance can open one: every member
/// decrypts with the vault's one sender ratchet, and an instance only sees the responses meant for
/// it, so the gap it must skip is bounded by the messages sealed in the epoch, not by its own.
pub const MAX_SEALS_PER_EPOCH: u32 = 10_000;

/// Every sealed message's content is padded to a multiple of this many bytes, so its length says
/// only roughly how large a response is.
pub(crate) const PADDING: usize = 256;

/// How many generations behind the newest one it opened an instance can still open a message:
/// responses overtaking each other in a queue.
pub(crate) const OUT_OF_ORDER_TOLERANCE: u32 = 256;

/// How many past epochs an instance keeps the message keys of: responses sealed just before a
/// commit and read after it.
pub(crate) const MAX_PAST_EPOCHS: usize = 3;

pub(crate) fn ratchet_configuration() -> SenderRatchetConfiguration {
    SenderRatchetConfiguration::new(OUT_OF_ORDER_TOLERANCE, MAX_SEALS_PER_EPOCH)
}

/// The configuration of an instance's side of a group.
pub(crate) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .sender_ratchet_configuration(ratchet_configuration())
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

pub(crate) fn new_provider() -> Result<Provider, String> {
    Provider::new().map_err(mls)
}

pub(crate) fn new_signer() -> Result<SignatureKeyPair, String> {
    SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(mls)
}

pub(crate) fn credential_with_key(identity: &[u8], signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(identity.to_vec()).into(),
        signature_key: signer.public().into(),
    }
}

/// A basic credential's identity.
pub(crate) fn identity(credential: &Credential) -> Option<Vec<u8>> {
    BasicCredential::try_from(credential.clone())
        .ok()
        .map(|basic| basic.identity().to_vec())
}

/// A copy of everything the provider's storage holds (group state, key material).
pub(crate) fn dump_storage(provider: &Provider) -> Result<HashMap<Vec<u8>, Vec<u8>>, String> {
    let values = provider
        .storage()
        .values
        .read()
        .map_err(|_| "the storage lock is poisoned".to_string())?;
    Ok(values.clone())
}

/// A provider whose storage holds `values`.
pub(crate) fn provider_with(values: HashMap<Vec<u8>, Vec<u8>>) -> Result<Provider, String> {
    let provider = new_provider()?;
    let mut map = provider
        .storage()
        .values
        .write()
        .map_err(|_| "the storage lock is poisoned".to_string())?;
    *map = values;
    drop(map);
    Ok(provider)
}

/// Reads the signature key pair `public_key` back from the storage.
pub(crate) fn read_signer(provider: &Provider, public_key: &[u8]) -> Option<SignatureKeyPair> {
    SignatureKeyPair::read(
        provider.storage(),
        public_key,
        CIPHERSUITE.signature_algorithm(),
    )
}

/// Parses and verifies a published KeyPackage (an MLSMessage of type `mls_key_package`).
pub(crate) fn parse_key_package(
    provider: &Provider,
    bytes: &[u8],
) -> Result<(KeyPackage, Vec<u8>), KeyPackageError> {
    let message =
        MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| KeyPackageError::Malformed)?;
    let MlsMessageBodyIn::KeyPackage(key_package) = message.extract() else {
        return Err(KeyPackageError::NotAKeyPackage);
    };
    let key_package = key_package
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| KeyPackageError::Invalid(e.to_string()))?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(KeyPackageError::WrongCiphersuite(
            format!("{:?}", key_package.ciphersuite()),
            format!("{CIPHERSUITE:?}"),
        ));
    }
    let identity = identity(key_package.leaf_node().credential())
        .ok_or(KeyPackageError::UnsupportedCredential)?;
    Ok((key_package, identity))
}

/// The identity of a published KeyPackage's credential, once the KeyPackage is verified.
pub fn key_package_identity(bytes: &[u8]) -> Result<Vec<u8>, KeyPackageError> {
    let provider = new_provider().map_err(KeyPackageError::Invalid)?;
    parse_key_package(&provider, bytes).map(|(_, identity)| identity)
}

/// Wipes the values of a copy of the storage (the keys are not secret).
pub(crate) fn wipe(map: &mut HashMap<Vec<u8>, Vec<u8>>) {
    for value in map.values_mut() {
        zeroize::Zeroize::zeroize(value);
    }
}
