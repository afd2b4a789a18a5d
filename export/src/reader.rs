//! Reading an archive, refusing a hostile or damaged one whole at open: every entry's name, kind, method, size and
//! place is checked from the central directory (and each local header's position) before a byte is inflated, then
//! the manifest is compared with the entries. Contents are read through their size and checked against their hash.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zip::{CompressionMethod, ZipArchive};

use crate::manifest::{ARCHIVE_FORMAT, ARCHIVE_VERSION, EntryHash, MANIFEST_PATH, Manifest};
use crate::names::check_path;

/// What an archive may hold at most.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_entries: usize,
    /// The sum of the entries' sizes.
    pub max_total_bytes: u64,
    pub max_entry_bytes: u64,
    /// An entry of more than 1 MiB may inflate to at most this many times its compressed size.
    pub max_ratio: u64,
    pub max_manifest_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_entries: 1_000_000, max_total_bytes: 256 << 30, max_entry_bytes: 64 << 30, max_ratio: 200, max_manifest_bytes: 256 << 20 }
    }
}

/// What is wrong with an archive; each names the entry at fault (a path inside the archive).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("this is not a readable zip archive: {0}")]
    NotAZip(String),
    #[error("the archive holds {found} entries, more than the {limit} allowed")]
    TooManyEntries { found: usize, limit: usize },
    #[error("entry {index}: its name is not UTF-8")]
    NameNotUtf8 { index: usize },
    #[error("entry `{path}`: {problem}")]
    UnsafePath { path: String, problem: &'static str },
    #[error("entry `{0}` appears twice (names compared after Unicode normalisation)")]
    Duplicate(String),
    #[error("entry `{0}` is a symbolic link")]
    Symlink(String),
    #[error("entry `{0}` is a directory; this format has none")]
    Directory(String),
    #[error("entry `{0}` is encrypted; this format encrypts the whole archive, never an entry")]
    Encrypted(String),
    #[error("entry `{path}` is compressed with {method}; only stored and deflated entries are read")]
    Method { path: String, method: String },
    #[error("entry `{path}` is {size} bytes, over the limit of {limit}")]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("the entries total more than {limit} bytes")]
    TotalTooLarge { limit: u64 },
    #[error("entry `{path}` inflates {ratio} times its compressed size, over the limit of {limit}")]
    Ratio { path: String, ratio: u64, limit: u64 },
    #[error("entries `{first}` and `{second}` overlap in the file")]
    Overlap { first: String, second: String },
    #[error("the archive has no manifest.json")]
    NoManifest,
    #[error("manifest.json is not valid: {0}")]
    Manifest(String),
    #[error("the archive's format is `{0}`, not a Cartable family archive")]
    Format(String),
    #[error("the archive's format version is {0}; this Cartable reads up to {ARCHIVE_VERSION}")]
    Version(u32),
    #[error("entry `{0}` is in the archive but not in its manifest")]
    Unlisted(String),
    #[error("entry `{0}` is in the manifest but not in the archive")]
    Missing(String),
    #[error("entry `{path}`: the manifest says {listed} bytes, the archive holds {found}")]
    SizeMismatch { path: String, listed: u64, found: u64 },
    #[error("entry `{0}`: its SHA-256 is not the manifest's")]
    HashMismatch(String),
    #[error("entry `{path}` could not be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("entry `{path}` is larger than the {limit} bytes expected of it")]
    Unexpected { path: String, limit: u64 },
}

/// An archive opened and checked, with its manifest.
pub struct ArchiveReader<R: Read + Seek> {
    zip: ZipArchive<R>,
    manifest: Manifest,
    /// Path → (index in the zip, the manifest's entry).
    entries: HashMap<String, (usize, EntryHash)>,
}

impl<R: Read + Seek> std::fmt::Debug for ArchiveReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader").field("entries", &self.entries.len()).finish_non_exhaustive()
    }
}

struct Placed {
    path: String,
    start: u64,
    end: u64,
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Opens an archive and checks everything but the contents' hashes (see [`ArchiveReader::verify_all`]).
    pub fn open(reader: R, limits: &Limits) -> Result<ArchiveReader<R>, ArchiveError> {
        let mut zip = ZipArchive::new(reader).map_err(|e| ArchiveError::NotAZip(e.to_string()))?;
        // The zip crate keeps one of entries of the same name; that two were there is a refusal of its own.
        if zip.has_duplicate_names() {
            return Err(ArchiveError::Duplicate("(a name of the central directory)".to_owned()));
        }
        if zip.len() > limits.max_entries {
            return Err(ArchiveError::TooManyEntries { found: zip.len(), limit: limits.max_entries });
        }
        let (mut seen, mut placed, mut sizes, mut total) = (HashSet::new(), Vec::with_capacity(zip.len()), HashMap::new(), 0u64);
        for index in 0..zip.len() {
            // Raw: nothing is inflated; the local header is read for its position.
            let entry = zip.by_index_raw(index).map_err(|e| ArchiveError::NotAZip(e.to_string()))?;
            let path = std::str::from_utf8(entry.name_raw()).map_err(|_| ArchiveError::NameNotUtf8 { index })?.to_owned();
            if entry.is_dir() {
                return Err(ArchiveError::Directory(path));
            }
            check_path(&path).map_err(|problem| ArchiveError::UnsafePath { path: path.clone(), problem })?;
            if !seen.insert(path.nfc().collect::<String>()) {
                return Err(ArchiveError::Duplicate(path));
            }
            let symlink = entry.is_symlink() || entry.unix_mode().is_some_and(|mode| mode & 0o170000 == 0o120000);
            if symlink {
                return Err(ArchiveError::Symlink(path));
            }
            if entry.encrypted() {
                return Err(ArchiveError::Encrypted(path));
            }
            if !matches!(entry.compression(), CompressionMethod::Stored | CompressionMethod::Deflated) {
                return Err(ArchiveError::Method { path, method: format!("{:?}", entry.compression()) });
            }
            let (size, compressed) = (entry.size(), entry.compressed_size());
            if size > limits.max_entry_bytes {
                return Err(ArchiveError::EntryTooLarge { path, size, limit: limits.max_entry_bytes });
            }
            total = total.saturating_add(size);
            if total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { limit: limits.max_total_bytes });
            }
            if size > 1 << 20 && size / compressed.max(1) > limits.max_ratio {
                return Err(ArchiveError::Ratio { path, ratio: size / compressed.max(1), limit: limits.max_ratio });
            }
            let start = entry.header_start();
            let data = entry.data_start().ok_or_else(|| ArchiveError::NotAZip(format!("entry `{path}` has no data offset")))?;
            if data < start {
                return Err(ArchiveError::NotAZip(format!("entry `{path}`: its data starts before its header")));
            }
            placed.push(Placed { path: path.clone(), start, end: data.saturating_add(compressed) });
            sizes.insert(path, (index, size));
        }
        // Overlapping entries (one file's bytes counted as several, the trick of some bombs) are refused.
        placed.sort_by_key(|p| p.start);
        for pair in placed.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(ArchiveError::Overlap { first: pair[0].path.clone(), second: pair[1].path.clone() });
            }
        }
        let Some(&(manifest_index, manifest_size)) = sizes.get(MANIFEST_PATH) else { return Err(ArchiveError::NoManifest) };
        if manifest_size > limits.max_manifest_bytes {
            return Err(ArchiveError::Unexpected { path: MANIFEST_PATH.to_owned(), limit: limits.max_manifest_bytes });
        }
        let bytes = read_limited(&mut zip, manifest_index, MANIFEST_PATH, limits.max_manifest_bytes)?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Manifest(e.to_string()))?;
        if manifest.format != ARCHIVE_FORMAT {
            return Err(ArchiveError::Format(manifest.format));
        }
        if manifest.format_version > ARCHIVE_VERSION || manifest.format_version == 0 {
            return Err(ArchiveError::Version(manifest.format_version));
        }
        let mut entries = HashMap::with_capacity(manifest.entries.len());
        for listed in &manifest.entries {
            let Some(&(index, found)) = sizes.get(&listed.path) else { return Err(ArchiveError::Missing(listed.path.clone())) };
            if listed.path == MANIFEST_PATH || entries.contains_key(&listed.path) {
                return Err(ArchiveError::Manifest(format!("`{}` is listed twice or lists the manifest", listed.path)));
            }
            if found != listed.size {
                return Err(ArchiveError::SizeMismatch { path: listed.path.clone(), listed: listed.size, found });
            }
            if listed.sha256.len() != 64 || !listed.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ArchiveError::Manifest(format!("`{}` has no SHA-256", listed.path)));
            }
            entries.insert(listed.path.clone(), (index, listed.clone()));
        }
        if let Some(unlisted) = sizes.keys().find(|path| *path != MANIFEST_PATH && !entries.contains_key(*path)) {
            return Err(ArchiveError::Unlisted(unlisted.clone()));
        }
        Ok(ArchiveReader { zip, manifest, entries })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The entries' paths, in the manifest's order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.manifest.entries.iter().map(|e| e.path.as_str())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Inflates every entry and checks its size and SHA-256 against the manifest; `progress` is told
    /// (entries done, bytes done) after each.
    pub fn verify_all(&mut self, progress: &mut dyn FnMut(usize, u64)) -> Result<(), ArchiveError> {
        let paths: Vec<String> = self.manifest.entries.iter().map(|e| e.path.clone()).collect();
        let mut bytes = 0;
        for (done, path) in paths.iter().enumerate() {
            bytes += self.copy_verified(path, &mut io::sink())?;
            progress(done + 1, bytes);
        }
        Ok(())
    }

    /// Streams an entry into `out`, checking its size and SHA-256 as it goes; a mismatch is an error once the
    /// entry ends (what was written before it is the caller's to discard). Returns its size.
    pub fn copy_verified(&mut self, path: &str, out: &mut dyn Write) -> Result<u64, ArchiveError> {
        let (index, listed) = self.entries.get(path).cloned().ok_or_else(|| ArchiveError::Missing(path.to_owned()))?;
        let unreadable = |e: &dyn std::fmt::Display| ArchiveError::Unreadable { path: path.to_owned(), reason: e.to_string() };
        let entry = self.zip.by_index(index).map_err(|e| unreadable(&e))?;
        // Never more than the size the manifest and the central directory agree on, plus one byte to notice more.
        let mut limited = entry.take(listed.size + 1);
        let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 64 * 1024]);
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(unreadable(&e)),
            };
            size += n as u64;
            if size > listed.size {
                return Err(ArchiveError::SizeMismatch { path: path.to_owned(), listed: listed.size, found: size });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| unreadable(&e))?;
        }
        if size != listed.size {
            return Err(ArchiveError::SizeMismatch { path: path.to_owned(), listed: listed.size, found: size });
        }
        if hex::encode(hasher.finalize()) != listed.sha256.to_ascii_lowercase() {
            return Err(ArchiveError::HashMismatch(path.to_owned()));
        }
        Ok(size)
    }

    /// A small entry (a JSON document) whole, checked; refused if over `limit` bytes.
    pub fn read_small(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let size = self.entries.get(path).map(|(_, e)| e.size).ok_or_else(|| ArchiveError::Missing(path.to_owned()))?;
        if size > limit {
            return Err(ArchiveError::Unexpected { path: path.to_owned(), limit });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.copy_verified(path, &mut out)?;
        Ok(out)
    }
}

fn read_limited<R: Read + Seek>(zip: &mut ZipArchive<R>, index: usize, path: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let unreadable = |e: &dyn std::fmt::Display| ArchiveError::Unreadable { path: path.to_owned(), reason: e.to_string() };
    let entry = zip.by_index(index).map_err(|e| unreadable(&e))?;
    let mut out = Vec::new();
    entry.take(limit + 1).read_to_end(&mut out).map_err(|e| unreadable(&e))?;
    if out.len() as u64 > limit {
        return Err(ArchiveError::Unexpected { path: path.to_owned(), limit });
    }
    Ok(out)
}
