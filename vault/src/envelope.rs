//! The format of every small encrypted value the vault stores, and the place each one is bound to.
//!
//! A sealed value is `0x01 ‖ nonce (24 bytes) ‖ XChaCha20-Poly1305 ciphertext ‖ tag (16 bytes)`, under the family's
//! data key: 41 bytes more than the plaintext. The associated data is the value's [`Place`]: a fixed, length-prefixed
//! encoding of the family, the table and column, the row's id and every clear column of the row that says where the
//! value belongs (for a record: collection, child, doctype, kind, source, version, blob name, size, timestamps).
//! A value copied, moved or swapped to any other place, or a row whose clear columns were edited, fails to open.
//!
//! The first byte names the format, so a later format can be read beside this one. Values written before this
//! format are age files (they start with `age-encryption.org/v1`); they are recognised only by the one-time upgrade
//! in `legacy.rs`, never by the read path, so an old unbound ciphertext cannot be slipped back in.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use cartable_consent::FamilyId;

use crate::error::{Error, Result};

/// The format tag of a value sealed with XChaCha20-Poly1305 under the family's data key, bound to its place.
pub(crate) const FORMAT_AEAD_V1: u8 = 0x01;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext: format tag, nonce and tag.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// What every age file (the format before this one) starts with.
pub(crate) const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
/// The first field of every associated data, so that it can never be mistaken for another protocol's.
const AAD_DOMAIN: &[u8] = b"cartable.place/1";

/// The HKDF label of the record-key MAC key: a new label is a new key, so it never changes.
const RECORD_KEY_MAC_INFO: &[u8] = b"cartable record_keys mac v1";

/// A family's data key: 256 random bits, stored wrapped with age to the family's identity. The cipher wipes the
/// key on drop.
pub(crate) struct DataKey {
    cipher: XChaCha20Poly1305,
    /// Derived from the data key (HKDF-SHA256): the HMAC key of imported records' keys (`record_keys`).
    record_key_mac: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub(crate) fn generate() -> (Self, zeroize::Zeroizing<[u8; 32]>) {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes[..]);
        (DataKey::from_bytes(&bytes), bytes)
    }

    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut record_key_mac = zeroize::Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, bytes)
            .expand(RECORD_KEY_MAC_INFO, &mut record_key_mac[..])
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        DataKey { cipher: XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(bytes)), record_key_mac }
    }

    /// The MAC an imported record's key is kept as, bound to its collection (length-prefixed, so no two pairs
    /// give the same input): equal for the same key in the same collection, and says nothing of the key.
    pub(crate) fn record_key_mac(&self, collection: &str, key: &str) -> [u8; 32] {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.record_key_mac[..]).expect("HMAC takes a key of any length");
        for part in [collection.as_bytes(), key.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Seals `plain` for `place`.
    pub(crate) fn seal(&self, place: &Place<'_>, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        // A 192-bit random nonce per value, from the thread-local CSPRNG (ChaCha, reseeded from the OS).
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
        let aad = place.associated_data();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .map_err(|_| Error::Key("encryption failed".to_owned()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_AEAD_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed for `place`; anything else (another place, an altered byte, an old age file, an unknown
    /// format) is an integrity error naming the place, logged at warn.
    pub(crate) fn open(&self, place: &Place<'_>, sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if sealed.len() < SEALED_OVERHEAD || sealed[0] != FORMAT_AEAD_V1 {
            return Err(integrity(place.family, place.describe()));
        }
        let aad = place.associated_data();
        self.cipher
            .decrypt(XNonce::from_slice(&sealed[1..1 + NONCE_LEN]), Payload { msg: &sealed[1 + NONCE_LEN..], aad: &aad })
            .map(zeroize::Zeroizing::new)
            .map_err(|_| integrity(place.family, place.describe()))
    }
}

/// The integrity error for a stored value of `family` that is not where it was sealed, or was altered. `what` names
/// the place by ids only; the event is logged at warn.
pub(crate) fn integrity(family: FamilyId, what: String) -> Error {
    tracing::warn!(%family, place = %what, "integrity check failed: a stored value was moved, swapped, rolled back or altered");
    Error::Integrity(what)
}

/// Where a sealed value belongs. Record fields are the row's clear columns as stored (text and integers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub(crate) family: FamilyId,
    pub(crate) field: Field<'a>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    FamilyName,
    /// A member's name or birth date, bound to the member's id and role.
    MemberName { member: &'a str, role: &'a str },
    MemberBirthDate { member: &'a str, role: &'a str },
    /// A grant's purpose (free text the service wrote, which may name the child) with its salt, bound to the grant.
    GrantPurpose { grant: &'a str },
    /// A record's `body_enc`: the body itself (inline), the digest of its blob's age header (a large body), or a
    /// file's metadata.
    Record(&'a RecordPlace<'a>),
    /// The head of a search index file's blob, bound to the file's name, its blob and its size.
    SearchFile { name: &'a str, blob: &'a str, size: i64 },
    /// The vault's MLS state of a grant's sealed-delivery group, bound to the grant.
    SealedGroup { grant: &'a str },
    /// The address a member gets notifications at, bound to the member.
    MemberEmail { member: &'a str },
}

/// The clear columns of a record row, all of them bound into the associated data of its `body_enc`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordPlace<'a> {
    pub(crate) id: &'a str,
    pub(crate) collection: &'a str,
    pub(crate) child: &'a str,
    pub(crate) doctype: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) source: &'a str,
    pub(crate) version: i64,
    pub(crate) blob_key: Option<&'a str>,
    pub(crate) size: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl Place<'_> {
    pub(crate) fn family_name(family: FamilyId) -> Place<'static> {
        Place { family, field: Field::FamilyName }
    }

    /// The place named by ids only, for errors and logs.
    pub(crate) fn describe(&self) -> String {
        match self.field {
            Field::FamilyName => format!("name of family `{}`", self.family),
            Field::MemberName { member, .. } => format!("name of member `{member}`"),
            Field::MemberBirthDate { member, .. } => format!("birth date of member `{member}`"),
            Field::GrantPurpose { grant } => format!("purpose of grant `{grant}`"),
            Field::Record(r) => format!("record `{}`", r.id),
            Field::SearchFile { name, .. } => format!("search index file `{name}`"),
            Field::SealedGroup { grant } => format!("sealed group of grant `{grant}`"),
            Field::MemberEmail { member } => format!("e-mail address of member `{member}`"),
        }
    }

    /// The associated data: the domain, then the table and column, the family, then the row's fields; each as a
    /// 4-byte big-endian length and its bytes, so that no two places encode alike.
    pub(crate) fn associated_data(&self) -> Vec<u8> {
        let mut aad = Aad(Vec::with_capacity(320));
        aad.bytes(AAD_DOMAIN);
        let family = self.family.to_string();
        match self.field {
            Field::FamilyName => {
                aad.str("families").str("name_enc").str(&family);
            }
            Field::MemberName { member, role } => {
                aad.str("members").str("name_enc").str(&family).str(member).str(role);
            }
            Field::MemberBirthDate { member, role } => {
                aad.str("members").str("birth_date_enc").str(&family).str(member).str(role);
            }
            Field::GrantPurpose { grant } => {
                aad.str("grants").str("purpose_enc").str(&family).str(grant);
            }
            Field::Record(r) => {
                aad.str("records").str("body_enc").str(&family).str(r.id).str(r.collection).str(r.child).str(r.doctype);
                aad.str(r.kind).str(r.source).int(r.version);
                match r.blob_key {
                    None => aad.str("inline"),
                    Some(key) => aad.str("blob").str(key),
                };
                aad.int(r.size).int(r.created_at).int(r.updated_at);
            }
            Field::SearchFile { name, blob, size } => {
                aad.str("search_files").str("head_enc").str(&family).str(name).str(blob).int(size);
            }
            Field::SealedGroup { grant } => {
                aad.str("sealed_groups").str("state_enc").str(&family).str(grant);
            }
            Field::MemberEmail { member } => {
                aad.str("notification_settings").str("email_enc").str(&family).str(member);
            }
        }
        aad.0
    }
}

struct Aad(Vec<u8>);

impl Aad {
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    fn int(&mut self, i: i64) -> &mut Self {
        self.bytes(&i.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(id: &'a str, version: i64) -> RecordPlace<'a> {
        RecordPlace {
            id,
            collection: "c",
            child: "k",
            doctype: "edu.grades",
            kind: "record",
            source: "operator",
            version,
            blob_key: None,
            size: 10,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn a_sealed_value_opens_only_at_its_place() {
        let (key, _) = DataKey::generate();
        let family = FamilyId::new();
        let (r1, r2, r1v2) = (record("r1", 1), record("r2", 1), record("r1", 2));
        let here = Place { family, field: Field::Record(&r1) };
        let sealed = key.seal(&here, b"{\"grade\":4}").unwrap();
        assert_eq!(sealed.len(), 11 + SEALED_OVERHEAD);
        assert_eq!(sealed[0], FORMAT_AEAD_V1);
        assert_eq!(&key.open(&here, &sealed).unwrap()[..], b"{\"grade\":4}");
        for elsewhere in [
            Place { family, field: Field::Record(&r2) },
            Place { family, field: Field::Record(&r1v2) },
            Place { family: FamilyId::new(), field: Field::Record(&r1) },
            Place::family_name(family),
        ] {
            assert!(matches!(key.open(&elsewhere, &sealed), Err(Error::Integrity(_))));
        }
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open(&here, &altered), Err(Error::Integrity(_))));
        let (other, _) = DataKey::generate();
        assert!(matches!(other.open(&here, &sealed), Err(Error::Integrity(_))));
        let mut legacy = AGE_MAGIC.to_vec();
        legacy.extend_from_slice(&[0u8; 64]);
        assert!(matches!(key.open(&here, &legacy), Err(Error::Integrity(_))));
    }

    #[test]
    fn fields_are_length_prefixed_so_no_two_places_encode_alike() {
        let family = FamilyId::new();
        let a = Place { family, field: Field::MemberName { member: "ab", role: "c" } };
        let b = Place { family, field: Field::MemberName { member: "a", role: "bc" } };
        assert_ne!(a.associated_data(), b.associated_data());
        let mut blob = record("r", 1);
        blob.blob_key = Some("r");
        assert_ne!(Place { family, field: Field::Record(&record("r", 1)) }.associated_data(), Place { family, field: Field::Record(&blob) }.associated_data());
    }

    #[test]
    fn the_description_names_ids_only() {
        let family = FamilyId::new();
        let r = record("0193-record", 1);
        assert_eq!(Place { family, field: Field::Record(&r) }.describe(), "record `0193-record`");
    }
}
