//! Storage errors. A unique violation and a missing row are told apart from every other
//! failure, because callers turn them into 4xx answers; an unreachable database becomes 503.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A UNIQUE constraint refused the write; the string names the constraint or columns.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("row not found")]
    NotFound,
    /// The database could not be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The disk under the database is full (SQLite SQLITE_FULL, PostgreSQL 53100): nothing
    /// was written; the client may retry once space is freed.
    #[error("database storage full: {0}")]
    Full(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the unique violation mentions `needle` (a column or constraint name).
    pub fn is_unique_on(&self, needle: &str) -> bool {
        matches!(self, StoreError::Unique(s) if s.contains(needle))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                let mut what = db.message().to_owned();
                if let Some(c) = db.constraint() {
                    what.push(' ');
                    what.push_str(c);
                }
                StoreError::Unique(what)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    // PostgreSQL: admin shutdown, cannot connect now, too many connections.
                    c.starts_with("57P") || c == "53300" || c.starts_with("08")
                }) =>
            {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    // SQLite: SQLITE_FULL (it has no extended codes); PostgreSQL: disk_full.
                    c == "13" || c == "53100"
                }) =>
            {
                StoreError::Full(e)
            }
            _ => StoreError::Database(e),
        }
    }
}
