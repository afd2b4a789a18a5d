//! The family archive's format: one zip, written as a stream (no `Seek`, no temporary file), whose last entry,
//! `manifest.json`, gives the SHA-256 and size of every other entry; and its reader, which refuses a hostile or
//! damaged archive whole (unsafe or duplicate names, symlinks, encrypted entries, overlapping entries, sizes and
//! ratios over limits, a manifest that disagrees with the entries) before anything is taken from it.
//!
//! This crate knows zips, paths and hashes, not families: the vault and the command line fill the entries (see
//! `docs/archive-format.md` for every path and field).
//!
//! ```
//! use cartable_export::{ArchiveReader, ArchiveWriter, Limits, ManifestHead};
//!
//! let mut writer = ArchiveWriter::new(Vec::new());
//! writer.add_bytes("family.json", br#"{"name": "Martin"}"#).unwrap();
//! let head = ManifestHead { cartable_version: "0.1.0".into(), family_id: "f".into(), created_at: "2026-12-02T10:00:00Z".into(), counts: Default::default(), scope: Default::default() };
//! let zip = writer.finish(head).unwrap();
//! let mut reader = ArchiveReader::open(std::io::Cursor::new(zip), &Limits::default()).unwrap();
//! reader.verify_all(&mut |_, _| {}).unwrap();
//! assert_eq!(reader.read_small("family.json", 1024).unwrap(), br#"{"name": "Martin"}"#);
//! ```

mod manifest;
mod names;
mod reader;
mod writer;

pub use manifest::{ARCHIVE_FORMAT, ARCHIVE_VERSION, EntryHash, MANIFEST_PATH, Manifest, ManifestHead, Scope};
pub use names::{check_path, file_component};
pub use reader::{ArchiveError, ArchiveReader, Limits};
pub use writer::{ArchiveWriter, WriteError};
