//! Where an index keeps its files: a trait the vault implements by sealing each file to the family's key.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

/// The files of one family's index. An implementation stores each file whole and durably before `write` returns,
/// encrypts it (the vault's seals it to the family's data key, bound to the file's name), and never keeps a clear
/// byte of it anywhere but memory.
///
/// Calls come from tantivy's threads, never from an async task: an implementation may block.
pub trait IndexStore: Send + Sync + 'static {
    /// The names of the files stored.
    fn names(&self) -> io::Result<Vec<String>>;
    /// One file's clear bytes, or `None` when there is none of that name.
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Stores a file whole, replacing one of the same name.
    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Removes a file; removing a file that is not there is no error.
    fn delete(&self, name: &str) -> io::Result<()>;
}

/// An index store in memory: for tests and benchmarks of this crate.
#[derive(Debug, Default)]
pub struct MemoryStore {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Every byte stored, for tests that look for clear text where it must not be.
    pub fn all_bytes(&self) -> Vec<u8> {
        self.files.lock().expect("memory store lock").values().flatten().copied().collect()
    }

    /// Changes one byte of a stored file, for tests of a damaged index.
    pub fn damage(&self, name: &str, at: usize) -> bool {
        match self.files.lock().expect("memory store lock").get_mut(name) {
            Some(bytes) if at < bytes.len() => {
                bytes[at] ^= 0xff;
                true
            }
            _ => false,
        }
    }
}

impl IndexStore for MemoryStore {
    fn names(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().expect("memory store lock").keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.lock().expect("memory store lock").get(name).cloned())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().expect("memory store lock").insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        self.files.lock().expect("memory store lock").remove(name);
        Ok(())
    }
}
