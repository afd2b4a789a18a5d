//! The blob store: file contents and large record bodies, age-encrypted, in a local folder.
//!
//! Blobs are named by ids only (`<family>/<record>`); a blob is written to a temporary file, synced and renamed
//! into place before its database row commits, so a crash leaves at worst an orphan, never a row without data.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use cartable_consent::{FamilyId, RecordId};

use crate::error::{Error, Result};
use crate::keys::FamilyKey;

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

    fn path(&self, family: FamilyId, record: RecordId) -> PathBuf {
        self.root.join(family.to_string()).join(record.to_string())
    }

    /// Encrypts `source` to the family key into a new blob; returns the plaintext size and SHA-256.
    pub(crate) fn put(
        &self,
        key: &FamilyKey,
        family: FamilyId,
        record: RecordId,
        source: &mut dyn Read,
    ) -> Result<(u64, [u8; 32])> {
        use sha2::Digest as _;
        let tmp = self.root.join("tmp").join(record.to_string());
        let result = (|| -> Result<(u64, [u8; 32])> {
            let file = crate::private_files::private_file_options().write(true).create(true).truncate(true).open(&tmp)?;
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
            let file = writer.finish()?.into_inner().map_err(|e| Error::from(e.into_error()))?;
            file.sync_all()?;
            Ok((counting.count, hasher.finalize().into()))
        })();
        match result {
            Ok(done) => {
                let dest = self.path(family, record);
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

    /// A reader of the blob's plaintext; fails with `BlobCorrupt` if the blob is missing, and its reads fail if
    /// the blob was truncated or altered (age authenticates every 64 KiB chunk and the end of the stream).
    pub(crate) fn open_reader(&self, key: &FamilyKey, family: FamilyId, record: RecordId) -> Result<Box<dyn Read + Send>> {
        let file = File::open(self.path(family, record)).map_err(|_| Error::BlobCorrupt)?;
        key.decrypt_reader(BufReader::new(file))
    }

    pub(crate) fn delete(&self, family: FamilyId, record: RecordId) {
        let _ = fs::remove_file(self.path(family, record));
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
