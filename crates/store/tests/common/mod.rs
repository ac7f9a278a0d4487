//! What the store's integration tests share: a fresh PostgreSQL database of their own,
//! dropped when the test is done with it.

use guichet_store::{Db, DbOptions};
use sqlx::{Connection, Executor};

fn admin_url() -> String {
    std::env::var("GUICHET_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn admin() -> sqlx::PgConnection {
    let url = admin_url();
    sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required at {url}: {e}"))
}

/// A new, empty database `{prefix}_{pid}` on the server at `GUICHET_TEST_PG_URL` (one a
/// crashed run left is dropped first).
pub struct FreshPostgres {
    pub db: Db,
    name: String,
}

impl FreshPostgres {
    pub async fn new(prefix: &str) -> Self {
        let name = format!("{prefix}_{}", std::process::id());
        let mut c = admin().await;
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .expect("drop");
        c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create");
        let url = admin_url();
        let base = url
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .expect("url");
        let db = Db::connect(&format!("{base}/{name}"), &DbOptions::default())
            .await
            .expect("pg");
        Self { db, name }
    }

    /// Close the pool and drop the database.
    pub async fn drop_database(self) {
        self.db.close().await;
        admin()
            .await
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .expect("drop");
    }
}
