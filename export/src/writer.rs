//! Writing an archive as a stream: each entry deflated (level 1: the archive is mostly files already compressed)
//! and hashed as it goes, the manifest last. Nothing is held whole but one chunk; the output needs no `Seek` (a
//! file, a pipe, an age writer).

use std::collections::HashSet;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use crate::manifest::{EntryHash, MANIFEST_PATH, Manifest, ManifestHead};
use crate::names::check_path;

const CHUNK: usize = 64 * 1024;
/// An entry whose size is not known to stay under this is written with ZIP64 sizes.
const ZIP64_FROM: u64 = 0xFFFF_0000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A path the reader would refuse (the writer never writes one).
    #[error("entry `{path}`: {problem}")]
    Path { path: String, problem: &'static str },
    #[error("entry `{0}` is written twice")]
    Duplicate(String),
    #[error("the archive could not be written: {0}")]
    Io(#[from] io::Error),
    #[error("the archive could not be written: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// An archive being written to `W`.
pub struct ArchiveWriter<W: Write> {
    zip: ZipWriter<StreamWriter<W>>,
    entries: Vec<EntryHash>,
    /// Paths written, after NFC normalisation.
    names: HashSet<String>,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: W) -> ArchiveWriter<W> {
        ArchiveWriter { zip: ZipWriter::new_stream(out), entries: Vec::new(), names: HashSet::new() }
    }

    /// Adds an entry from a reader, streaming; `size_hint` (when known) spares ZIP64 headers for small entries.
    pub fn add(&mut self, path: &str, size_hint: Option<u64>, content: &mut dyn Read) -> Result<&EntryHash, WriteError> {
        self.start(path, size_hint)?;
        let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; CHUNK]);
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            hasher.update(&buf[..n]);
            self.zip.write_all(&buf[..n])?;
            size += n as u64;
        }
        self.entries.push(EntryHash { path: path.to_owned(), size, sha256: hex::encode(hasher.finalize()) });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Adds an entry that `write` produces into the writer it is given (a page rendered as it goes), streaming.
    pub fn add_written(&mut self, path: &str, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<&EntryHash, WriteError> {
        self.start(path, None)?;
        let mut hashing = Hashing { inner: &mut self.zip, hasher: Sha256::new(), size: 0 };
        write(&mut hashing)?;
        let (size, sha256) = (hashing.size, hex::encode(hashing.hasher.finalize()));
        self.entries.push(EntryHash { path: path.to_owned(), size, sha256 });
        Ok(self.entries.last().expect("just pushed"))
    }

    fn start(&mut self, path: &str, size_hint: Option<u64>) -> Result<(), WriteError> {
        check_path(path).map_err(|problem| WriteError::Path { path: path.to_owned(), problem })?;
        if path == MANIFEST_PATH || !self.names.insert(path.nfc().collect()) {
            return Err(WriteError::Duplicate(path.to_owned()));
        }
        let method = if already_compressed(path) { CompressionMethod::Stored } else { CompressionMethod::Deflated };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(if method == CompressionMethod::Deflated { Some(1) } else { None })
            .large_file(size_hint.is_none_or(|size| size >= ZIP64_FROM))
            .unix_permissions(0o600);
        self.zip.start_file(path, options)?;
        Ok(())
    }

    pub fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<&EntryHash, WriteError> {
        self.add(path, Some(bytes.len() as u64), &mut io::Cursor::new(bytes))
    }

    /// Adds a JSON document (pretty, so that a person can read it).
    pub fn add_json<T: serde::Serialize>(&mut self, path: &str, value: &T) -> Result<&EntryHash, WriteError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        self.add_bytes(path, &bytes)
    }

    /// How many entries, and how many bytes of them, so far.
    pub fn written(&self) -> (usize, u64) {
        (self.entries.len(), self.entries.iter().map(|e| e.size).sum())
    }

    /// Writes the manifest (every entry's size and SHA-256) as the last entry and ends the zip; returns the output.
    pub fn finish(mut self, head: ManifestHead) -> Result<W, WriteError> {
        let manifest = Manifest::new(head, std::mem::take(&mut self.entries));
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).compression_level(Some(1)).unix_permissions(0o600);
        self.zip.start_file(MANIFEST_PATH, options)?;
        self.zip.write_all(&bytes)?;
        let mut out = self.zip.finish()?.into_inner();
        out.flush()?;
        Ok(out)
    }
}

/// Kinds of file whose content is compressed already (images, sound, video, archives, office documents): deflating
/// them again costs time and saves nothing, so they are stored.
fn already_compressed(path: &str) -> bool {
    const KINDS: [&str; 20] =
        ["jpg", "jpeg", "png", "gif", "webp", "heic", "avif", "mp3", "m4a", "ogg", "mp4", "mov", "webm", "zip", "gz", "7z", "docx", "xlsx", "pptx", "odt"];
    path.rsplit_once('.').is_some_and(|(_, ext)| KINDS.iter().any(|k| ext.eq_ignore_ascii_case(k)))
}

/// Counts and hashes what passes through to the zip.
struct Hashing<'a, W: Write> {
    inner: &'a mut ZipWriter<StreamWriter<W>>,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
