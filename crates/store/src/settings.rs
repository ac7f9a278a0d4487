//! Small key/value settings shared by every node (for example the sandbox clock offset).

use crate::Result;
use sqlx::AnyConnection;

pub async fn get(c: &mut AnyConnection, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(c)
            .await?,
    )
}

pub async fn put(c: &mut AnyConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(c)
    .await?;
    Ok(())
}
