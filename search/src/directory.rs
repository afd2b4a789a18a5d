//! A tantivy `Directory` over an [`IndexStore`]: files live decrypted in memory only, and reach the store whole when
//! tantivy finishes writing them. Lock files never reach it: the locks are in memory, since one process serves a
//! family's index at a time (see `ARCHITECTURE.md`).

use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, TerminatingWrite, WatchCallback, WatchHandle,
    WritePtr,
};

use crate::store::IndexStore;

#[derive(Clone)]
pub(crate) struct SealedDirectory {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn IndexStore>,
    /// Files read or written so far, decrypted.
    cache: RwLock<HashMap<PathBuf, OwnedBytes>>,
    /// The names the store holds (listed once, then kept up to date).
    names: RwLock<HashSet<PathBuf>>,
    locks: Mutex<HashSet<PathBuf>>,
}

impl std::fmt::Debug for SealedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedDirectory")
    }
}

impl SealedDirectory {
    pub(crate) fn open(store: Arc<dyn IndexStore>) -> io::Result<SealedDirectory> {
        let names = store.names()?.into_iter().map(PathBuf::from).collect();
        Ok(SealedDirectory {
            shared: Arc::new(Shared {
                store,
                cache: RwLock::new(HashMap::new()),
                names: RwLock::new(names),
                locks: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// Removes every file of the store (a rebuild starts from nothing).
    pub(crate) fn clear(store: &dyn IndexStore) -> io::Result<()> {
        for name in store.names()? {
            store.delete(&name)?;
        }
        Ok(())
    }

    fn name(path: &Path) -> io::Result<&str> {
        path.to_str().filter(|name| !name.is_empty()).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "index file name is not text"))
    }

    fn load(&self, path: &Path) -> io::Result<Option<OwnedBytes>> {
        if let Some(bytes) = self.shared.cache.read().expect("index cache lock").get(path) {
            return Ok(Some(bytes.clone()));
        }
        if !self.shared.names.read().expect("index names lock").contains(path) {
            return Ok(None);
        }
        let Some(bytes) = self.shared.store.read(Self::name(path)?)? else { return Ok(None) };
        let bytes = OwnedBytes::new(bytes);
        self.shared.cache.write().expect("index cache lock").insert(path.to_owned(), bytes.clone());
        Ok(Some(bytes))
    }

    fn store(&self, path: &Path, bytes: Vec<u8>) -> io::Result<()> {
        self.shared.store.write(Self::name(path)?, &bytes)?;
        self.shared.names.write().expect("index names lock").insert(path.to_owned());
        self.shared.cache.write().expect("index cache lock").insert(path.to_owned(), OwnedBytes::new(bytes));
        Ok(())
    }
}

fn read_error(path: &Path, error: io::Error) -> OpenReadError {
    OpenReadError::IoError { io_error: Arc::new(error), filepath: path.to_owned() }
}

impl Directory for SealedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        match self.load(path) {
            Ok(Some(bytes)) => Ok(Arc::new(bytes)),
            Ok(None) => Err(OpenReadError::FileDoesNotExist(path.to_owned())),
            Err(e) => Err(read_error(path, e)),
        }
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        let was = self.shared.names.write().expect("index names lock").remove(path);
        self.shared.cache.write().expect("index cache lock").remove(path);
        if !was {
            return Err(DeleteError::FileDoesNotExist(path.to_owned()));
        }
        let name = Self::name(path).map_err(|e| DeleteError::IoError { io_error: Arc::new(e), filepath: path.to_owned() })?;
        self.shared.store.delete(name).map_err(|e| DeleteError::IoError { io_error: Arc::new(e), filepath: path.to_owned() })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        Ok(self.shared.cache.read().expect("index cache lock").contains_key(path)
            || self.shared.names.read().expect("index names lock").contains(path))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        // Locking and tantivy's own bookkeeping rely on this answer for a file that exists.
        if self.exists(path).unwrap_or(true) {
            return Err(OpenWriteError::FileAlreadyExists(path.to_owned()));
        }
        let writer = SealedWriter { directory: self.clone(), path: path.to_owned(), bytes: Vec::new(), done: false };
        Ok(BufWriter::new(Box::new(writer)))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        match self.load(path) {
            Ok(Some(bytes)) => Ok(bytes.as_slice().to_vec()),
            Ok(None) => Err(OpenReadError::FileDoesNotExist(path.to_owned())),
            Err(e) => Err(read_error(path, e)),
        }
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.store(path, data.to_vec())
    }

    fn sync_directory(&self) -> io::Result<()> {
        // Every `write` of the store is durable when it returns.
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        let mut locks = self.shared.locks.lock().expect("index locks lock");
        if !locks.insert(lock.filepath.clone()) {
            return Err(LockError::LockBusy);
        }
        Ok(DirectoryLock::from(Box::new(HeldLock { shared: self.shared.clone(), path: lock.filepath.clone() })))
    }

    fn watch(&self, _: WatchCallback) -> tantivy::Result<WatchHandle> {
        // Readers are reloaded by hand after each commit (`ReloadPolicy::Manual`).
        Ok(WatchHandle::empty())
    }
}

struct HeldLock {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.shared.locks.lock().expect("index locks lock").remove(&self.path);
    }
}

/// A file being written: kept in memory, stored whole when tantivy terminates it.
struct SealedWriter {
    directory: SealedDirectory,
    path: PathBuf,
    bytes: Vec<u8>,
    done: bool,
}

impl Write for SealedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for SealedWriter {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let bytes = std::mem::take(&mut self.bytes);
        self.directory.store(&self.path, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn files_reach_the_store_only_when_terminated_and_locks_never() {
        let store = Arc::new(MemoryStore::new());
        let directory = SealedDirectory::open(store.clone()).unwrap();
        let mut writer = directory.open_write(Path::new("a.idx")).unwrap();
        writer.write_all(b"contents").unwrap();
        writer.flush().unwrap();
        assert_eq!(store.read("a.idx").unwrap(), None, "not before it is terminated");
        writer.into_inner().map_err(|e| e.into_error()).unwrap().terminate().unwrap();
        assert_eq!(store.read("a.idx").unwrap().as_deref(), Some(&b"contents"[..]));
        assert!(matches!(directory.open_write(Path::new("a.idx")), Err(OpenWriteError::FileAlreadyExists(_))));

        let lock = Lock { filepath: PathBuf::from(".tantivy-writer.lock"), is_blocking: false };
        let held = directory.acquire_lock(&lock).unwrap();
        assert!(matches!(directory.acquire_lock(&lock), Err(LockError::LockBusy)));
        assert_eq!(store.names().unwrap(), vec!["a.idx".to_owned()], "a lock is not a file");
        drop(held);
        directory.acquire_lock(&lock).unwrap();

        // A second directory on the same store reads what the first wrote.
        let other = SealedDirectory::open(store.clone()).unwrap();
        assert_eq!(other.atomic_read(Path::new("a.idx")).unwrap(), b"contents");
        other.delete(Path::new("a.idx")).unwrap();
        assert!(store.names().unwrap().is_empty());
        assert!(matches!(other.atomic_read(Path::new("a.idx")), Err(OpenReadError::FileDoesNotExist(_))));
    }
}
