//! Multi-row statements give the same answers on both backends: on SQLite their rows go
//! through the `guichet_rows` function (`store::sqlite_rows`), on PostgreSQL they are bound
//! as parameters. Inserts with and without a conflict clause, updates from a list of rows,
//! reads and updates over a list of keys, with texts SQL could mangle (quotes, control
//! characters, non-ASCII, placeholders, empty), NULLs, integers at their limits, and more
//! rows than one statement of bound parameters holds.

mod common;

use guichet_store::bulk::{self, Val};
use guichet_store::{Db, DbOptions};
use sqlx::Executor;

async fn sqlite() -> Db {
    let dir = std::env::temp_dir().join(format!("guichet-bulk-rows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    Db::connect(
        &format!("sqlite://{}", dir.join("b.db").display()),
        &DbOptions::default(),
    )
    .await
    .expect("sqlite")
}

/// Texts that a copy, an escape or a C string could get wrong.
fn awkward(i: usize) -> String {
    match i % 6 {
        0 => format!("plain-{i}"),
        1 => format!("it's \"quoted\" -- {i}; DROP TABLE t"),
        2 => format!("tab\tnew\nline\r-{i}\\"),
        3 => format!("Ünïcødé € 日本 {i}"),
        4 => format!("{}{i}", "x".repeat(3000)),
        _ => format!("${i} ? ?1 :a @b"),
    }
}

/// A row of `bulk_t` as read back: id, label, n, note, k.
type Row = (String, Option<String>, i64, Option<String>, Option<i64>);

async fn exercise(db: &Db) {
    let mut c = db.conn().await.expect("conn");
    c.execute(
        "CREATE TABLE bulk_t (id TEXT PRIMARY KEY, label TEXT, n BIGINT NOT NULL, \
         note TEXT, k BIGINT)",
    )
    .await
    .expect("table");
    drop(c);

    // More rows than one statement of bound parameters takes (30,000 / 5 = 6,000).
    let total = 7_001;
    let rows: Vec<Vec<Val>> = (0..total)
        .map(|i| {
            vec![
                Val::Text(format!("id-{i:05}")),
                Val::Text(awkward(i)),
                Val::Int(match i % 3 {
                    0 => i64::MAX - i as i64,
                    1 => i64::MIN + i as i64,
                    _ => i as i64,
                }),
                Val::OptText((i % 2 == 0).then(String::new)),
                Val::OptInt((i % 4 == 0).then_some(-(i as i64))),
            ]
        })
        .collect();
    let mut tx = db.begin().await.expect("begin");
    let n = bulk::insert(tx.conn(), "bulk_t", "id, label, n, note, k", rows, "")
        .await
        .expect("insert");
    assert_eq!(n, total as u64);
    tx.commit().await.expect("commit");

    // Every value came back as it went in, in every row.
    let mut c = db.conn().await.expect("conn");
    let back: Vec<Row> = sqlx::query_as("SELECT id, label, n, note, k FROM bulk_t ORDER BY id")
        .fetch_all(&mut *c)
        .await
        .expect("read");
    assert_eq!(back.len(), total);
    for (i, (id, label, n, note, k)) in back.into_iter().enumerate() {
        assert_eq!(id, format!("id-{i:05}"));
        assert_eq!(label.as_deref(), Some(awkward(i).as_str()), "row {i}");
        let want = match i % 3 {
            0 => i64::MAX - i as i64,
            1 => i64::MIN + i as i64,
            _ => i as i64,
        };
        assert_eq!(n, want);
        assert_eq!(note, (i % 2 == 0).then(String::new));
        assert_eq!(k, (i % 4 == 0).then_some(-(i as i64)));
    }

    // A conflict clause: the rows already there are left alone, the new ones go in.
    let again: Vec<Vec<Val>> = (total - 2..total + 3)
        .map(|i| {
            vec![
                Val::Text(format!("id-{i:05}")),
                Val::Text("new".into()),
                Val::Int(1),
                Val::OptText(None),
                Val::OptInt(None),
            ]
        })
        .collect();
    let n = bulk::insert(
        &mut c,
        "bulk_t",
        "id, label, n, note, k",
        again,
        "ON CONFLICT (id) DO NOTHING",
    )
    .await
    .expect("insert again");
    assert_eq!(n, 3);
    let (old,): (String,) = sqlx::query_as("SELECT label FROM bulk_t WHERE id = 'id-06999'")
        .fetch_one(&mut *c)
        .await
        .expect("old");
    assert_eq!(old, awkward(6_999));

    // An update from rows, with a fixed parameter used twice before them.
    let updates: Vec<Vec<Val>> = (0..total)
        .step_by(7)
        .map(|i| vec![Val::Text(format!("id-{i:05}")), Val::Text(awkward(i + 1))])
        .collect();
    let expected = updates.len() as u64;
    let n = bulk::with_values(
        &mut c,
        "UPDATE bulk_t SET note = v.column2, k = $1, n = $1 FROM (VALUES {values}) AS v \
         WHERE bulk_t.id = v.column1",
        &[Val::Int(42)],
        updates,
    )
    .await
    .expect("update");
    assert_eq!(n, expected);
    let (note, k, n): (Option<String>, Option<i64>, i64) =
        sqlx::query_as("SELECT note, k, n FROM bulk_t WHERE id = 'id-00014'")
            .fetch_one(&mut *c)
            .await
            .expect("updated");
    assert_eq!(
        (note.as_deref(), k, n),
        (Some(awkward(15).as_str()), Some(42), 42)
    );

    // Reads and updates over keys (more than one statement's worth), some missing.
    let keys: Vec<String> = (0..total + 50)
        .step_by(3)
        .map(|i| format!("id-{i:05}"))
        .collect();
    let found: Vec<(String,)> = bulk::select_in(
        &mut c,
        "SELECT id FROM bulk_t WHERE n <> $1 AND id IN ({in}) ORDER BY id",
        &[Val::Int(-1)],
        &keys,
    )
    .await
    .expect("select");
    let want = (0..total + 3).step_by(3).count();
    assert_eq!(found.len(), want);
    assert_eq!(found[1].0, "id-00003");
    let n = bulk::execute_in(
        &mut c,
        "UPDATE bulk_t SET label = $1 WHERE id IN ({in})",
        &[Val::Text("seen".into())],
        &keys,
    )
    .await
    .expect("execute");
    assert_eq!(n, want as u64);
    let none: Vec<(String,)> =
        bulk::select_in(&mut c, "SELECT id FROM bulk_t WHERE id IN ({in})", &[], &[])
            .await
            .expect("empty");
    assert!(none.is_empty());
}

#[tokio::test]
async fn multi_row_statements_on_sqlite() {
    let db = sqlite().await;
    exercise(&db).await;
    // The rows went through SQLite's row function (there on every connection; a ticket
    // nothing was parked under has no rows).
    let mut c = db.conn().await.expect("conn");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM guichet_rows($1)")
        .bind(-1i64)
        .fetch_one(&mut *c)
        .await
        .expect("the row function");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn multi_row_statements_on_postgres() {
    let pg = common::FreshPostgres::new("guichet_bulk_rows").await;
    exercise(&pg.db).await;
    pg.drop_database().await;
}
