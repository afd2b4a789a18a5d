//! The database: one pool on SQLite (WAL) or PostgreSQL, the same runtime SQL for both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use time::OffsetDateTime;

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The default database: a SQLite file inside the data folder.
pub fn default_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("cartable.db").display())
}

pub async fn connect(url: &str) -> Result<(AnyPool, Backend)> {
    install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(Error::InvalidInput(
            "the database url must start with sqlite: or postgres:".to_owned(),
        ));
    };
    if backend == Backend::Sqlite {
        prepare_sqlite_file(url)?;
    }
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
    let pool = match backend {
        Backend::Sqlite => {
            options
                .max_connections(8)
                // An in-process SQLite connection cannot have gone away: no ping (a round trip to its thread) on
                // every acquire.
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; FULL syncs every commit so an acknowledged write
                        // survives a power cut; the busy timeout makes writers from
                        // other tasks and processes wait their turn instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await?
        }
        Backend::Postgres => options.max_connections(16).connect(url).await?,
    };
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.run(&pool).await.map_err(|e| {
        tracing::error!(error = %e, "migration failed");
        Error::Database("the database migrations failed".to_owned())
    })?;
    Ok((pool, backend))
}

/// Creates the SQLite database file with mode 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the database file's mode), and tightens existing database files to 0600.
fn prepare_sqlite_file(url: &str) -> Result<()> {
    let Some(path) = sqlite_file(url) else { return Ok(()) };
    let path = path.as_path();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|p| p == "mode=rwc") {
        // Create only: an existing database is left as it is, apart from its mode. A missing folder is for
        // SQLite to report.
        match crate::private_files::private_file_options().write(true).create_new(true).open(path) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        crate::private_files::tighten_file(Path::new(&file))?;
    }
    Ok(())
}

/// The file of a SQLite database url; `None` for an in-memory database (or a url that is not SQLite's).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Timestamps are stored as unix milliseconds, which both backends compare natively.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A write transaction: on SQLite the write lock is taken at once (`BEGIN IMMEDIATE`), so a transaction that reads
/// before it writes cannot fail to upgrade its lock halfway.
pub(crate) async fn begin_write(pool: &AnyPool, backend: Backend) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    Ok(match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}
