//! The SQLite and PostgreSQL migrations stay in lock-step: applied to fresh databases, they
//! produce the same tables with the same columns, the same nullability and the same indexes.

mod common;

use guichet_store::{Db, DbOptions};
use sqlx::Row;
use std::collections::BTreeMap;

type Schema = BTreeMap<String, Vec<(String, bool)>>;

async fn sqlite_schema(dir: &std::path::Path) -> (Schema, Vec<String>) {
    let url = format!("sqlite://{}", dir.join("lockstep.db").display());
    let db = Db::connect(&url, &DbOptions::default())
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate sqlite");
    let mut c = db.conn().await.expect("conn");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&mut *c)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for t in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, \"notnull\", pk FROM pragma_table_info('{t}') ORDER BY cid"
        )))
        .fetch_all(&mut *c)
        .await
        .expect("columns");
        let cols = rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let notnull: i64 = r.get(1);
                let pk: i64 = r.get(2);
                (name, notnull == 1 || pk > 0)
            })
            .collect();
        schema.insert(t, cols);
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut *c)
    .await
    .expect("indexes");
    (schema, indexes)
}

async fn pg_schema() -> (Schema, Vec<String>) {
    let pg = common::FreshPostgres::new("guichet_lockstep").await;
    let db = &pg.db;
    db.migrate().await.expect("migrate pg");
    let mut p = db.conn().await.expect("conn");
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *p)
    .await
    .expect("columns");
    let mut schema = Schema::new();
    for r in rows {
        let t: String = r.get(0);
        let col: String = r.get(1);
        let nullable: String = r.get(2);
        schema.entry(t).or_default().push((col, nullable == "NO"));
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' \
         AND indexname NOT LIKE '%_key' ORDER BY indexname",
    )
    .fetch_all(&mut *p)
    .await
    .expect("indexes");
    drop(p);
    pg.drop_database().await;
    (schema, indexes)
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let dir = std::env::temp_dir().join(format!("guichet-lockstep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (lite, lite_idx) = sqlite_schema(&dir).await;
    let (pg, pg_idx) = pg_schema().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        lite.contains_key("accounts") && lite.contains_key("emails"),
        "{lite:?}"
    );
    assert_eq!(
        lite, pg,
        "tables, columns or nullability differ between the backends"
    );
    assert_eq!(lite_idx, pg_idx, "indexes differ between the backends");
}

#[test]
fn migration_files_pair_up() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let list = |b: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(b))
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        list("sqlite"),
        list("postgres"),
        "every migration exists for both backends, with the same name"
    );
}
