//! A full disk under SQLite (here the database's page limit, which fails the same way):
//! the write is refused as `StoreError::Full`, nothing of it is kept, and the pool's
//! connection is not left stuck in a transaction that refuses every later BEGIN.

use guichet_store::{Db, DbOptions, StoreError};
use sqlx::Executor;

#[tokio::test]
async fn a_full_disk_is_reported_and_the_pool_recovers() {
    let dir = std::env::temp_dir().join(format!("guichet-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}", dir.join("full.db").display());
    // One connection, so that a stuck one would be the one handed out again.
    let opts = DbOptions {
        max_connections: 1,
        ..Default::default()
    };
    let db = Db::connect(&url, &opts).await.expect("sqlite");
    {
        let mut c = db.conn().await.expect("conn");
        c.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
            .await
            .expect("table");
        c.execute("INSERT INTO filler (data) VALUES ('kept')")
            .await
            .expect("first row");
        // The database may not grow past its current size.
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *c)
            .await
            .expect("page count");
        c.execute(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .await
        .expect("limit");
    }

    let mut tx = db.begin().await.expect("begin while full");
    let big = "x".repeat(64 * 1024);
    let r = sqlx::query("INSERT INTO filler (data) VALUES ($1)")
        .bind(&big)
        .execute(tx.conn())
        .await;
    let r = match r {
        Ok(_) => tx.commit().await,
        Err(e) => {
            drop(tx);
            Err(StoreError::from(e))
        }
    };
    assert!(
        matches!(r, Err(StoreError::Full(_))),
        "expected StoreError::Full, got {r:?}"
    );

    // Space again: the same pool writes.
    {
        let mut c = db.conn().await.expect("conn after");
        c.execute("PRAGMA max_page_count = 1073741823")
            .await
            .expect("unlimit");
    }
    let mut tx = db.begin().await.expect("begin after the disk is freed");
    sqlx::query("INSERT INTO filler (data) VALUES ('after')")
        .execute(tx.conn())
        .await
        .expect("insert after");
    tx.commit().await.expect("commit after");
    let mut c = db.conn().await.expect("conn");
    let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM filler ORDER BY id")
        .fetch_all(&mut *c)
        .await
        .expect("rows");
    assert_eq!(rows, ["kept", "after"]);
    drop(c);
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
