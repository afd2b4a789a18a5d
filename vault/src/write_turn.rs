//! Turns at SQLite's write lock between processes, taken in order.
//!
//! SQLite has one write lock per database and no queue: a writer that finds it held sleeps in its busy handler,
//! 1 ms, then 2, 5, 10 … up to 100 ms between tries, while the holder commits again and again. Two servers on one
//! SQLite vault, each with a ledger appender committing a batch every millisecond or so, starve each other that way:
//! reads through either waited over a second at p99 in `benches/api_load.rs`.
//!
//! So before it begins a transaction, each process's appender takes a turn with two file locks (`flock`, which the
//! kernel drops with the process, however it ends), always in this order: the queue file, then the turn file, then
//! it lets the queue file go. A writer that finds the turn held keeps the queue while it waits; the holder, done,
//! must then wait in the queue behind it. Under contention the turns alternate and a writer waits for at most one
//! transaction of each other writer. The locks only order writers: correctness stays with SQLite's own lock.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for its turn before it goes ahead and leaves the waiting to SQLite's busy timeout.
const PATIENCE: Duration = Duration::from_secs(30);

/// The two lock files of one SQLite database file.
#[derive(Clone)]
pub(crate) struct WriteTurns {
    queue: PathBuf,
    turn: PathBuf,
}

/// A writer's turn: held until dropped (closing the file lets the lock go).
pub(crate) struct Turn {
    _locked: File,
}

impl WriteTurns {
    /// The turns of the SQLite database file `database` (lock files beside it, created when first taken).
    pub(crate) fn for_database(database: &Path) -> WriteTurns {
        let with = |suffix: &str| {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        WriteTurns { queue: with("-writer-queue"), turn: with("-writer-turn") }
    }

    /// Waits for this writer's turn. `None` when the lock files cannot be used, or after [`PATIENCE`]: the writer
    /// then goes ahead, as it would without turns.
    pub(crate) async fn take(&self) -> Option<Turn> {
        let (queue, turn) = match (open(&self.queue), open(&self.turn)) {
            (Ok(q), Ok(t)) => (q, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "the writer lock files cannot be opened; writing without turns");
                return None;
            }
        };
        // Nobody waiting and nobody writing (one process alone): no thread to wake.
        match queue.try_lock() {
            Ok(()) => match turn.try_lock() {
                Ok(()) => return Some(Turn { _locked: turn }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return unusable(e),
            },
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return unusable(e),
        }
        // Someone is writing or waiting: wait in line, on a thread that may block. If the wait is given up, the thread
        // still ends with its turn, and the turn (dropped with the unawaited result) goes to the next writer.
        let wait = tokio::task::spawn_blocking(move || -> std::io::Result<Turn> {
            queue.lock()?;
            turn.lock()?;
            drop(queue);
            Ok(Turn { _locked: turn })
        });
        match tokio::time::timeout(PATIENCE, wait).await {
            Ok(Ok(Ok(turn))) => Some(turn),
            Ok(Ok(Err(e))) => unusable(e),
            Ok(Err(_)) => None,
            Err(_) => {
                tracing::warn!("a writer waited {PATIENCE:?} for its turn at the database; going ahead");
                None
            }
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    crate::private_files::private_file_options().read(true).write(true).create(true).truncate(false).open(path)
}

fn unusable(e: std::io::Error) -> Option<Turn> {
    tracing::debug!(error = %e, "the writer lock files cannot be locked; writing without turns");
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_writer_at_a_time_and_a_waiting_writer_goes_before_the_holder_again() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("cartable.db");
        // Two sets of handles on the same files: what two processes have.
        let (a, b) = (Arc::new(WriteTurns::for_database(&database)), Arc::new(WriteTurns::for_database(&database)));
        let first = a.take().await.expect("a free turn");
        let inside = Arc::new(AtomicUsize::new(0));
        let waiting = {
            let (b, inside) = (b.clone(), inside.clone());
            tokio::spawn(async move {
                let turn = b.take().await.expect("b's turn");
                inside.fetch_add(1, Ordering::SeqCst);
                turn
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(inside.load(Ordering::SeqCst), 0, "b got a turn while a held it");
        drop(first);
        // a asks again at once: b, who was waiting, goes first.
        let again = {
            let a = a.clone();
            tokio::spawn(async move { a.take().await.expect("a's next turn") })
        };
        let b_turn = waiting.await.unwrap();
        assert_eq!(inside.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!again.is_finished(), "a took a turn while b held it");
        drop(b_turn);
        drop(again.await.unwrap());
        // Both files are the owner's only.
        use std::os::unix::fs::PermissionsExt;
        for file in ["cartable.db-writer-queue", "cartable.db-writer-turn"] {
            assert_eq!(std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
