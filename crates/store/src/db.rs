//! The connection pool over either backend, and write transactions that behave the same on
//! both: on SQLite writers are serialised in-process and take the write lock at BEGIN
//! (`BEGIN IMMEDIATE`), so no transaction fails half-way with SQLITE_BUSY.

use crate::checkpoint::Checkpointer;
use crate::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Bytes free for an unprivileged writer on the file system holding `file`.
fn free_bytes(file: &str) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::path::Path::new(file).parent()?;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` only writes into the zeroed struct it is given, and `path` is a valid
    // NUL-terminated string for the duration of the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail.saturating_mul(st.f_frsize))
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    writer: Option<Arc<Mutex<()>>>,
    checkpoint: Option<Checkpointer>,
}

/// A write transaction. Dropped without `commit`, it rolls back.
pub struct Tx {
    tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    checkpoint: Option<Checkpointer>,
}

impl Tx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(StoreError::from)?;
        if let Some(c) = &self.checkpoint {
            c.committed();
        }
        Ok(())
    }
}

impl Db {
    /// Connect to `url` (`sqlite://…` or `postgres://…`). A SQLite file is created if missing,
    /// in WAL mode with foreign keys on.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        // Before the first SQLite connection opens: multi-row statements read their rows
        // through it (`bulk`).
        crate::sqlite_rows::available();
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unsupported database URL scheme (expected sqlite:// or postgres://): {}",
                redact_url(url)
            ))
        })?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(StoreError::Unavailable)?
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Warn, Duration::from_millis(500));
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            // A COMMIT refused by a full disk (SQLite rolls the transaction back itself) or cut
            // by a database restart leaves the driver counting an open transaction that no
            // ROLLBACK can close, and such a connection refuses every later BEGIN: it is closed
            // instead of going back to the pool. A connection that looks inside a transaction
            // is pinged first, which lets a rollback queued by a dropped transaction finish;
            // the others (nearly all) go back without a round trip.
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            });
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // 16 KiB pages for a new database (an existing one keeps its own: a WAL
                    // database's page size cannot change): fewer pages, B-tree splits and log
                    // frames per row; the billing run was about 9 % faster than with 4 KiB.
                    conn.execute("PRAGMA page_size = 16384").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // Readers map the file instead of copying pages after each write.
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    // A billing run's transaction writes a few MiB: a 16 MiB page cache holds
                    // it without spilling, and a WAL checkpointed every 80 MiB (instead of
                    // every 1,000 pages) copies each hot page (indexes, the job queue) into
                    // the database once per checkpoint rather than after nearly every commit.
                    // On a disk with little room, at most an eighth of the free space: a WAL
                    // allowed to grow past the free space fills the disk, and then no
                    // checkpoint can copy it back (the database file cannot grow), so writes
                    // would fail even after space is freed (`scripts/faults`, disk full).
                    conn.execute("PRAGMA cache_size = -16384").await?;
                    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                        .fetch_one(&mut *conn)
                        .await?;
                    let file: Option<String> = sqlx::query_scalar(
                        "SELECT file FROM pragma_database_list WHERE name = 'main'",
                    )
                    .fetch_optional(&mut *conn)
                    .await?;
                    let room = file.as_deref().and_then(free_bytes).unwrap_or(u64::MAX) / 8;
                    let bytes = i64::try_from(room).unwrap_or(i64::MAX).min(80 << 20);
                    let pages = (bytes / page.max(512)).max(16);
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "PRAGMA wal_autocheckpoint = {pages}"
                    )))
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(connect).await?;
        let checkpoint = match backend {
            Backend::Sqlite => {
                let file: Option<String> =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_optional(&pool)
                        .await?;
                Checkpointer::start(pool.clone(), file.as_deref().unwrap_or_default())
            }
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            writer: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            checkpoint,
        })
    }

    /// SQLite: pages written to the write-ahead log and not yet copied back into the
    /// database file (a background task copies them past a threshold; see `checkpoint`).
    /// `None` on PostgreSQL, for an in-memory database, or before the log exists.
    pub fn wal_backlog(&self) -> Option<u32> {
        self.checkpoint.as_ref().and_then(Checkpointer::backlog)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A pooled connection for reads (and single-statement writes).
    pub async fn conn(&self) -> Result<PoolConnection<Any>> {
        self.pool.acquire().await.map_err(StoreError::from)
    }

    /// Begin a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        match &self.writer {
            Some(lock) => {
                let guard = lock.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx {
                    tx,
                    _writer: Some(guard),
                    checkpoint: self.checkpoint.clone(),
                })
            }
            None => Ok(Tx {
                tx: self.pool.begin().await?,
                _writer: None,
                checkpoint: None,
            }),
        }
    }

    /// Apply the migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// `SELECT 1`, for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.conn().await?;
        c.ping().await.map_err(StoreError::from)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL with any password replaced by `***`, for logs and `check-config`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
