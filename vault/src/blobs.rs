//! The blob store: file contents and large record bodies, age-encrypted, in a local folder.
//!
//! Blobs are named by ids only (`<family>/<record>`, or `<family>/<record>.v<version>-<64 random bits>` for a body
//! rewritten by an update); a blob is written to a temporary file, synced and renamed into place before its database row commits,
//! so a crash leaves at worst an orphan, never a row without data.
//!
//! A blob is bound to its row by the SHA-256 of its age header and payload nonce (its *head*), kept in the row's
//! sealed value: the header holds the file key wrapped to the family and a MAC under that key, and the nonce
//! derives the payload key, so a blob with the same head is the same age stream, whose every chunk and end age
//! authenticates. A blob swapped for another, or replaced, is refused before a byte of it is served.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use cartable_consent::{FamilyId, RecordId};

use crate::envelope::integrity;
use crate::error::{Error, Result};
use crate::keys::FamilyKey;

/// The SHA-256 of a blob's age header and payload nonce.
pub(crate) type BlobHead = [u8; 32];
/// An age header for one X25519 recipient is about 200 bytes; anything past this is not a blob of ours.
const MAX_HEADER: usize = 16 * 1024;
/// age's payload nonce, right after the header.
const PAYLOAD_NONCE: usize = 16;

/// A blob's name in its family's folder: the record id for a new record; for a body rewritten by an update, the id,
/// the version and 64 random bits (two updates racing for the same version never write the same file).
pub(crate) fn blob_name(record: RecordId, version: i64) -> String {
    if version <= 1 { record.to_string() } else { format!("{record}.v{version}-{:016x}", rand::random::<u64>()) }
}

/// Checks a blob name read from the database: it must name a blob of this very record (never a path elsewhere).
pub(crate) fn check_blob_name(record: RecordId, name: &str) -> bool {
    let id = record.to_string();
    match name.strip_prefix(id.as_str()) {
        Some("") => true,
        Some(rest) => rest.strip_prefix(".v").and_then(|r| r.split_once('-')).is_some_and(|(version, salt)| {
            !version.is_empty()
                && version.len() < 20
                && version.bytes().all(|b| b.is_ascii_digit())
                && salt.len() == 16
                && salt.bytes().all(|b| b.is_ascii_hexdigit())
        }),
        None => false,
    }
}

/// Reads an age file's header and payload nonce from the start of `input` and hashes them.
pub(crate) fn read_head(input: &mut dyn Read) -> Result<BlobHead> {
    use sha2::Digest as _;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    loop {
        // The header ends with the MAC line, the first line starting with `---` (stanza lines start with `->`
        // and their bodies are base64).
        if let Some(end) = find_header_end(&head)
            && head.len() >= end + PAYLOAD_NONCE
        {
            return Ok(sha2::Sha256::digest(&head[..end + PAYLOAD_NONCE]).into());
        }
        if head.len() > MAX_HEADER {
            return Err(Error::BlobCorrupt);
        }
        let n = input.read(&mut buf).map_err(|_| Error::BlobCorrupt)?;
        if n == 0 {
            return Err(Error::BlobCorrupt);
        }
        head.extend_from_slice(&buf[..n]);
    }
}

fn find_header_end(head: &[u8]) -> Option<usize> {
    let mac = head.windows(4).position(|w| w == b"\n---")? + 1;
    let newline = head[mac..].iter().position(|&b| b == b'\n')?;
    Some(mac + newline + 1)
}

#[derive(Debug, Clone)]
pub(crate) struct Blobs {
    root: PathBuf,
}

/// Counts the bytes that pass through a reader.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl Blobs {
    pub(crate) fn open(root: PathBuf) -> Result<Self> {
        // Folders 0700, blob files 0600 (see `private_files.rs`); existing folders are tightened.
        crate::private_files::private_dir(&root)?;
        crate::private_files::private_dir(&root.join("tmp"))?;
        for entry in fs::read_dir(&root)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                crate::private_files::private_dir(&entry.path())?;
            }
        }
        Ok(Blobs { root })
    }

    fn path(&self, family: FamilyId, name: &str) -> PathBuf {
        self.root.join(family.to_string()).join(name)
    }

    /// Encrypts `source` to the family key into a new blob named `name`; returns the plaintext size and SHA-256,
    /// and the blob's head.
    pub(crate) fn put(
        &self,
        key: &FamilyKey,
        family: FamilyId,
        name: &str,
        source: &mut dyn Read,
    ) -> Result<(u64, [u8; 32], BlobHead)> {
        use sha2::Digest as _;
        let tmp = self.root.join("tmp").join(name);
        let result = (|| -> Result<(u64, [u8; 32], BlobHead)> {
            // Read and write: the head is read back from the file once it is complete.
            let file = crate::private_files::private_file_options().read(true).write(true).create(true).truncate(true).open(&tmp)?;
            let recipient = key.recipient();
            let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|_| Error::Key("encryption failed".to_owned()))?;
            let mut writer = encryptor.wrap_output(BufWriter::with_capacity(64 * 1024, file))?;
            let mut counting = Counting { inner: source, count: 0 };
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = counting.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                writer.write_all(&buf[..n])?;
            }
            zeroize::Zeroize::zeroize(&mut buf);
            // `finish` writes the last chunk; without it the blob would be silently truncated.
            let mut file = writer.finish()?.into_inner().map_err(|e| Error::from(e.into_error()))?;
            file.sync_all()?;
            file.rewind()?;
            let head = read_head(&mut file)?;
            Ok((counting.count, hasher.finalize().into(), head))
        })();
        match result {
            Ok(done) => {
                let dest = self.path(family, name);
                crate::private_files::create_private_dirs(dest.parent().expect("blob paths have a family folder"))?;
                fs::rename(&tmp, &dest)?;
                sync_dir(dest.parent().expect("blob paths have a family folder"));
                Ok(done)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// A reader of the plaintext of blob `name` of `record`; fails with `BlobCorrupt` if the blob is missing, with
    /// an integrity error if it is not the blob whose head the row holds (swapped or replaced), and its reads fail
    /// if the blob was truncated or altered (age authenticates every 64 KiB chunk and the end of the stream).
    pub(crate) fn open_reader(
        &self,
        key: &FamilyKey,
        family: FamilyId,
        record: RecordId,
        name: &str,
        head: &BlobHead,
    ) -> Result<Box<dyn Read + Send>> {
        let mut file = File::open(self.path(family, name)).map_err(|_| Error::BlobCorrupt)?;
        if read_head(&mut file).ok().as_ref() != Some(head) {
            return Err(integrity(family, format!("blob of record `{record}`")));
        }
        file.rewind()?;
        key.decrypt_reader(BufReader::with_capacity(64 * 1024, file))
    }

    /// The head of a stored blob (the one-time upgrade binds existing blobs with it).
    pub(crate) fn head(&self, family: FamilyId, name: &str) -> Result<BlobHead> {
        let mut file = File::open(self.path(family, name)).map_err(|_| Error::BlobCorrupt)?;
        read_head(&mut file)
    }

    pub(crate) fn delete(&self, family: FamilyId, name: &str) {
        let _ = fs::remove_file(self.path(family, name));
    }

    pub(crate) fn delete_family(&self, family: FamilyId) -> Result<()> {
        match fs::remove_dir_all(self.root.join(family.to_string())) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_read_from_the_database_name_only_that_record() {
        let id = RecordId::new();
        assert!(check_blob_name(id, &blob_name(id, 1)));
        assert!(check_blob_name(id, &blob_name(id, 7)));
        assert!(blob_name(id, 7).starts_with(&format!("{id}.v7-")));
        assert_ne!(blob_name(id, 7), blob_name(id, 7));
        for bad in [
            format!("{}", RecordId::new()),
            format!("{id}/../x"),
            format!("{id}.v"),
            format!("{id}.v7"),
            format!("{id}.v7-0123"),
            format!("{id}.v7-0123456789abcdef/../x"),
            "../../keys/master.key".to_owned(),
        ] {
            assert!(!check_blob_name(id, &bad), "{bad}");
        }
    }

    #[test]
    fn the_head_covers_the_header_and_payload_nonce() {
        let recipient = age::x25519::Identity::generate().to_public();
        let a = age::encrypt(&recipient, b"same plaintext").unwrap();
        let b = age::encrypt(&recipient, b"same plaintext").unwrap();
        let head_a = read_head(&mut a.as_slice()).unwrap();
        assert_ne!(head_a, read_head(&mut b.as_slice()).unwrap(), "each blob has its own file key and nonce");
        // The payload may change (age authenticates it); the head is only the header and nonce.
        let mut tail = a.clone();
        *tail.last_mut().unwrap() ^= 1;
        assert_eq!(head_a, read_head(&mut tail.as_slice()).unwrap());
        assert!(read_head(&mut &a[..40]).is_err());
    }
}
