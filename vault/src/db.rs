//! The database: one pool on SQLite (WAL) or PostgreSQL, the same runtime SQL for both.

use std::path::Path;
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

/// Timestamps are stored as unix milliseconds, which both backends compare natively.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
