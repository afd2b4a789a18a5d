//! Keys: the master identity (a key file), family identities wrapped to it, and the ledger's signing key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519;

use cartable_consent::FamilyId;

use crate::envelope::{DataKey, Place, integrity};
use crate::error::{Error, Result};

/// The server's master age identity. Family keys are wrapped to its recipient.
pub struct MasterKey {
    identity: x25519::Identity,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("recipient", &self.recipient_string()).finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        MasterKey { identity: x25519::Identity::generate() }
    }

    pub fn recipient_string(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// Reads a key file in age-keygen's format (comments allowed, one identity).
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Key("the master key file is missing (check `master_key_file`, or restore the key from where it is kept)".to_owned()),
            _ => Error::Key("cannot read the master key file (check `master_key_file` and its permissions)".to_owned()),
        })?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| Error::Key("the master key file holds no key".to_owned()))?;
        let identity = x25519::Identity::from_str(line)
            .map_err(|_| Error::Key("the master key file is corrupted".to_owned()))?;
        Ok(MasterKey { identity })
    }

    /// Writes the key file with mode 0600, atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = format!(
            "# Cartable master key: it unlocks every family's data. Keep it apart from backups.\n# public key: {}\n{}\n",
            self.recipient_string(),
            self.identity.to_string().expose_secret()
        );
        write_secret_file(path, text.as_bytes())
    }

    pub(crate) fn wrap(&self, family: &FamilyIdentity) -> Result<Vec<u8>> {
        let secret = family.identity.to_string();
        age::encrypt(&self.identity.to_public(), secret.expose_secret().as_bytes())
            .map_err(|_| Error::Key("cannot wrap a family key".to_owned()))
    }

    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Result<FamilyIdentity> {
        let plain = zeroize::Zeroizing::new(age::decrypt(&self.identity, wrapped).map_err(|_| {
            Error::Key("a family key cannot be unwrapped with this master key".to_owned())
        })?);
        let text = std::str::from_utf8(&plain).map_err(|_| Error::Key("a wrapped family key is corrupted".to_owned()))?;
        let identity =
            x25519::Identity::from_str(text).map_err(|_| Error::Key("a wrapped family key is corrupted".to_owned()))?;
        Ok(FamilyIdentity { identity })
    }
}

/// One family's age identity, unwrapped; it wipes itself on drop (age's identity zeroizes its secret). It is what
/// the master key wraps; it wraps the family's data key and decrypts the family's blobs.
pub(crate) struct FamilyIdentity {
    identity: x25519::Identity,
}

impl std::fmt::Debug for FamilyIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FamilyIdentity(..)")
    }
}

/// What a wrapped data key holds before its 32 bytes: the format and the family it belongs to.
const DATA_KEY_LABEL: &str = "cartable.data-key/1";

impl FamilyIdentity {
    pub(crate) fn generate() -> Self {
        FamilyIdentity { identity: x25519::Identity::generate() }
    }

    /// Wraps a data key with age to this identity, bound to its family.
    pub(crate) fn wrap_data_key(&self, family: FamilyId, key: &[u8; 32]) -> Result<Vec<u8>> {
        let mut plain = zeroize::Zeroizing::new(format!("{DATA_KEY_LABEL}\n{family}\n").into_bytes());
        plain.extend_from_slice(key);
        age::encrypt(&self.identity.to_public(), &plain).map_err(|_| Error::Key("cannot wrap a data key".to_owned()))
    }

    /// Unwraps the data key of `family`; a data key of another family, or anything else, is an integrity error.
    pub(crate) fn unwrap_data_key(&self, family: FamilyId, wrapped: &[u8]) -> Result<DataKey> {
        let what = || integrity(family, format!("data key of family `{family}`"));
        let plain = zeroize::Zeroizing::new(age::decrypt(&self.identity, wrapped).map_err(|_| what())?);
        let prefix = format!("{DATA_KEY_LABEL}\n{family}\n");
        let rest = plain.strip_prefix(prefix.as_bytes()).ok_or_else(what)?;
        let bytes: &[u8; 32] = rest.try_into().map_err(|_| what())?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// Decrypts a value in the format before sealed values (a whole age file): only the one-time upgrade reads it.
    pub(crate) fn decrypt_legacy(&self, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        age::decrypt(&self.identity, ciphertext).map(zeroize::Zeroizing::new).map_err(|_| Error::Decrypt)
    }
}

/// One family's keys, unwrapped: the age identity (blobs) and the data key (every small value). Both wipe
/// themselves on drop.
pub(crate) struct FamilyKey {
    identity: FamilyIdentity,
    data: DataKey,
}

impl std::fmt::Debug for FamilyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FamilyKey(..)")
    }
}

impl FamilyKey {
    pub(crate) fn new(identity: FamilyIdentity, data: DataKey) -> Self {
        FamilyKey { identity, data }
    }

    pub(crate) fn identity(&self) -> &FamilyIdentity {
        &self.identity
    }

    pub(crate) fn recipient(&self) -> x25519::Recipient {
        self.identity.identity.to_public()
    }

    pub(crate) fn seal(&self, place: &Place<'_>, plain: &[u8]) -> Result<Vec<u8>> {
        self.data.seal(place, plain)
    }

    pub(crate) fn open(&self, place: &Place<'_>, sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        self.data.open(place, sealed)
    }

    pub(crate) fn record_key_mac(&self, collection: &str, key: &str) -> [u8; 32] {
        self.data.record_key_mac(collection, key)
    }

    /// The streaming decryption path every blob read goes through: age authenticates each 64 KiB chunk and the
    /// end of the stream, so a truncated or altered blob fails on read.
    pub(crate) fn decrypt_reader<R: std::io::BufRead + Send + 'static>(&self, input: R) -> Result<Box<dyn std::io::Read + Send>> {
        let decryptor = age::Decryptor::new_buffered(input).map_err(|_| Error::BlobCorrupt)?;
        let reader = decryptor
            .decrypt(std::iter::once(&self.identity.identity as &dyn age::Identity))
            .map_err(|_| Error::Decrypt)?;
        Ok(Box::new(reader))
    }

    #[cfg(test)]
    pub(crate) fn from_identity_text(text: &str) -> Option<Self> {
        x25519::Identity::from_str(text)
            .ok()
            .map(|identity| FamilyKey { identity: FamilyIdentity { identity }, data: DataKey::generate().0 })
    }
}

/// The Ed25519 seed that signs ledger checkpoints; the key file is created on first start with mode 0600.
pub(crate) fn load_or_create_ledger_seed(path: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    match fs::read_to_string(path) {
        Ok(text) => {
            let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
            let bytes = zeroize::Zeroizing::new(
                engine
                    .decode(line)
                    .map_err(|_| Error::Key("the ledger key file is corrupted".to_owned()))?,
            );
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::Key("the ledger key file is corrupted".to_owned()))?;
            Ok(zeroize::Zeroizing::new(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed[..]);
            let text = zeroize::Zeroizing::new(format!(
                "# Cartable ledger signing key (Ed25519 seed): it signs every family's ledger checkpoints.\n{}\n",
                engine.encode(&seed[..])
            ));
            write_secret_file(path, text.as_bytes())?;
            Ok(seed)
        }
        Err(_) => Err(Error::Key("cannot read the ledger key file (check `ledger_key_file` and its permissions)".to_owned())),
    }
}

/// Writes a secret file readable by its owner only, never leaving a partial file behind.
pub(crate) fn write_secret_file(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::private_files::create_private_dirs(dir)?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key")
    ));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        // A leftover temporary file keeps its old mode when reopened: tighten it before writing the secret.
        crate::private_files::tighten_file(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
