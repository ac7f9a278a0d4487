//! SQLite's write-ahead log is copied back into the database by a task beside the writers,
//! not by the commit that fills it: after enough writes, the database file grows while the
//! writers' own autocheckpoint (80 MiB) has not been reached. The backlog this process reads
//! from the log's index agrees with what SQLite itself reports.

use guichet_store::{Db, DbOptions};
use sqlx::Executor;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_log_is_copied_back_beside_the_writers() {
    let dir = std::env::temp_dir().join(format!("guichet-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("ckpt.db");
    let db = Db::connect(
        &format!("sqlite://{}", file.display()),
        &DbOptions::default(),
    )
    .await
    .expect("sqlite");
    {
        let mut c = db.conn().await.expect("conn");
        c.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
            .await
            .expect("table");
        // Start from an empty log, every page in the database file.
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .expect("truncate");
    }
    assert_eq!(db.wal_backlog(), Some(0));

    // A little: the backlog counts the frames SQLite says its log holds, and a checkpoint
    // empties it.
    let mut tx = db.begin().await.expect("begin");
    sqlx::query("INSERT INTO filler (data) VALUES ($1)")
        .bind("x".repeat(100_000))
        .execute(tx.conn())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let backlog = db.wal_backlog().expect("backlog");
    assert!(backlog > 0 && backlog < 1024, "{backlog} frames");
    let (_, log, copied): (i64, i64, i64) = {
        let mut c = db.conn().await.expect("conn");
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *c)
            .await
            .expect("checkpoint")
    };
    assert_eq!((log, copied), (i64::from(backlog), i64::from(backlog)));
    assert_eq!(db.wal_backlog(), Some(0));
    let before = std::fs::metadata(&file).expect("size").len();

    // 24 MiB in a few write transactions: past the task's threshold (16 MiB of log), well
    // under the writers' own autocheckpoint. Only the task copies it into the database file.
    for _ in 0..6 {
        let mut tx = db.begin().await.expect("begin");
        for _ in 0..4 {
            sqlx::query("INSERT INTO filler (data) VALUES ($1)")
                .bind("y".repeat(1 << 20))
                .execute(tx.conn())
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let grown = loop {
        let size = std::fs::metadata(&file).expect("size").len();
        if size >= before + (16 << 20) || Instant::now() > deadline {
            break size;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        grown >= before + (16 << 20),
        "the database file did not grow: {before} → {grown} bytes"
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
