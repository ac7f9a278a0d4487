//! Copying a whole installation from one database to another (`guichet migrate-data`): the
//! tables read from the source's catalog, parents before children, every row as it is, in one
//! transaction on the target. The catalog queries are the only backend-specific SQL here
//! (each backend describes its own tables); the copy itself is one text for both.

use crate::{Backend, Db, Result, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor, Row};
use std::collections::{BTreeMap, BTreeSet};

/// A table of the installation: its columns (name, integer or not) and the tables its
/// foreign keys point at (`self_parent` names the column pointing at the table itself).
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, bool)>,
    pub parents: BTreeSet<String>,
    pub self_parent: Option<(String, String)>,
}

/// One stored value; the schema holds only 64-bit integers and text.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(Option<i64>),
    Text(Option<String>),
}

const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

fn text(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The versions of the migrations applied to `db`, in order.
pub async fn applied_migrations(db: &Db) -> Result<Vec<i64>> {
    let mut c = db.conn().await?;
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *c)
            .await?,
    )
}

/// The installation's tables, parents before children.
pub async fn tables(db: &Db) -> Result<Vec<Table>> {
    let mut c = db.conn().await?;
    let names: Vec<String> = match db.backend() {
        Backend::Sqlite => {
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> $1 ORDER BY name",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_all(&mut *c)
            .await?
        }
        Backend::Postgres => {
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name::text <> $1 ORDER BY table_name",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_all(&mut *c)
            .await?
        }
    };
    let mut found = Vec::new();
    for name in names {
        let (columns, fks) = describe(&mut c, db.backend(), &name).await?;
        let mut parents = BTreeSet::new();
        let mut self_parent = None;
        for (column, parent, parent_column) in fks {
            if parent == name {
                self_parent = Some((column, parent_column));
            } else {
                parents.insert(parent);
            }
        }
        found.push(Table {
            name,
            columns,
            parents,
            self_parent,
        });
    }
    order(found)
}

/// Columns (name, is an integer) and foreign keys (column, parent table, parent column).
type Description = (Vec<(String, bool)>, Vec<(String, String, String)>);

async fn describe(c: &mut AnyConnection, backend: Backend, table: &str) -> Result<Description> {
    match backend {
        Backend::Sqlite => {
            let cols = sqlx::query("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(&mut *c)
                .await?;
            let columns = cols
                .iter()
                .map(|r| {
                    let name: String = r.try_get(0)?;
                    let ty: String = r.try_get(1)?;
                    Ok((name, ty.to_ascii_uppercase().contains("INT")))
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            let fks = sqlx::query(
                "SELECT \"from\", \"table\", COALESCE(\"to\", '') FROM pragma_foreign_key_list($1)",
            )
            .bind(table)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            Ok((columns, fks))
        }
        Backend::Postgres => {
            let cols = sqlx::query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name::text = $1 \
                 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(&mut *c)
            .await?;
            let columns = cols
                .iter()
                .map(|r| {
                    let name: String = r.try_get(0)?;
                    let ty: String = r.try_get(1)?;
                    Ok((name, ty.contains("int")))
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            let fks = sqlx::query(
                "SELECT a.attname::text, p.relname::text, pa.attname::text \
                 FROM pg_constraint k \
                 JOIN pg_class t ON t.oid = k.conrelid \
                 JOIN pg_class p ON p.oid = k.confrelid \
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
                 JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1] \
                 WHERE k.contype = 'f' AND t.relname::text = $1 \
                 AND t.relnamespace = current_schema()::regnamespace",
            )
            .bind(table)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            Ok((columns, fks))
        }
    }
}

/// Parents before children (a cycle between tables is refused).
fn order(tables: Vec<Table>) -> Result<Vec<Table>> {
    let mut left: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| done.contains(p) || !left.contains_key(p))
            })
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            return Err(text(format!(
                "the foreign keys between {:?} form a cycle",
                left.keys().collect::<Vec<_>>()
            )));
        }
        for name in ready {
            if let Some(t) = left.remove(&name) {
                done.insert(name);
                out.push(t);
            }
        }
    }
    Ok(out)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A connection holding one read transaction on `db`: a consistent picture of every table
/// whatever else writes meanwhile. End it with [`end_snapshot`].
pub async fn snapshot(db: &Db) -> Result<PoolConnection<Any>> {
    let mut c = db.conn().await?;
    let begin = match db.backend() {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    c.execute(begin).await?;
    Ok(c)
}

pub async fn end_snapshot(mut c: PoolConnection<Any>) -> Result<()> {
    c.execute("ROLLBACK").await?;
    Ok(())
}

/// The number of rows of `table`.
pub async fn count(c: &mut AnyConnection, table: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}",
        quoted(table)
    )))
    .fetch_one(c)
    .await?)
}

async fn read_all(c: &mut AnyConnection, t: &Table) -> Result<Vec<Vec<Val>>> {
    let cols: Vec<String> = t.columns.iter().map(|(n, _)| quoted(n)).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY 1",
        cols.join(", "),
        quoted(&t.name)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(c).await?;
    rows.iter()
        .map(|r| {
            t.columns
                .iter()
                .enumerate()
                .map(|(i, (name, int))| {
                    let v = if *int {
                        r.try_get::<Option<i64>, _>(i).map(Val::Int)
                    } else {
                        r.try_get::<Option<String>, _>(i).map(Val::Text)
                    };
                    v.map_err(|e| text(format!("{}.{name}: {e}", t.name)))
                })
                .collect()
        })
        .collect()
}

/// Rows whose self-reference points at a row not yet listed come after it.
fn parents_first(t: &Table, rows: Vec<Vec<Val>>) -> Result<Vec<Vec<Val>>> {
    let Some((col, parent_col)) = &t.self_parent else {
        return Ok(rows);
    };
    let at = |c: &str| t.columns.iter().position(|(n, _)| n == c);
    let (Some(ci), Some(pi)) = (at(col), at(parent_col)) else {
        return Err(text(format!("{}: self-reference {col} unknown", t.name)));
    };
    let key = |v: &Val| match v {
        Val::Int(Some(i)) => Some(i.to_string()),
        Val::Text(Some(s)) => Some(s.clone()),
        _ => None,
    };
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(rows.len());
    let mut left = rows;
    while !left.is_empty() {
        let before = left.len();
        let (ready, rest): (Vec<_>, Vec<_>) = left
            .into_iter()
            .partition(|r| key(&r[ci]).is_none_or(|p| placed.contains(&p)));
        for r in ready {
            if let Some(k) = key(&r[pi]) {
                placed.insert(k);
            }
            out.push(r);
        }
        if rest.len() == before {
            return Err(text(format!(
                "{}: {} rows point at rows that are not there",
                t.name,
                rest.len()
            )));
        }
        left = rest;
    }
    Ok(out)
}

/// Copy every row of `t` from `src` into the target transaction; returns the number copied.
pub async fn copy_table(
    src: &mut AnyConnection,
    dst: &mut AnyConnection,
    t: &Table,
) -> Result<u64> {
    let rows = parents_first(t, read_all(src, t).await?)?;
    let ncols = t.columns.len().max(1);
    // Under both backends' limits on bound parameters per statement.
    let per = (30_000 / ncols).clamp(1, 500);
    let cols: Vec<String> = t.columns.iter().map(|(n, _)| quoted(n)).collect();
    let head = format!(
        "INSERT INTO {} ({}) VALUES ",
        quoted(&t.name),
        cols.join(", ")
    );
    let mut copied = 0u64;
    for chunk in rows.chunks(per) {
        let mut sql = head.clone();
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..ncols {
                if j > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Val::Int(i) => q.bind(*i),
                    Val::Text(s) => q.bind(s.clone()),
                };
            }
        }
        copied += q.execute(&mut *dst).await?.rows_affected();
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, parents: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: vec![("id".into(), false)],
            parents: parents.iter().map(|p| p.to_string()).collect(),
            self_parent: None,
        }
    }

    #[test]
    fn parents_come_first() {
        let got = order(vec![
            t("payments", &["orders", "accounts"]),
            t("orders", &["accounts"]),
            t("accounts", &[]),
        ])
        .unwrap();
        let names: Vec<&str> = got.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["accounts", "orders", "payments"]);
        assert!(order(vec![t("a", &["b"]), t("b", &["a"])]).is_err());
    }

    #[test]
    fn self_references_are_placed_after_their_parent() {
        let mut inv = t("invoices", &[]);
        inv.columns.push(("credited".into(), false));
        inv.self_parent = Some(("credited".into(), "id".into()));
        let row = |id: &str, p: Option<&str>| {
            vec![Val::Text(Some(id.into())), Val::Text(p.map(str::to_owned))]
        };
        let got = parents_first(
            &inv,
            vec![
                row("c2", Some("c1")),
                row("c1", Some("i1")),
                row("i1", None),
            ],
        )
        .unwrap();
        let ids: Vec<Val> = got.iter().map(|r| r[0].clone()).collect();
        assert_eq!(
            ids,
            ["i1", "c1", "c2"]
                .map(|s| Val::Text(Some(s.into())))
                .to_vec()
        );
        assert!(parents_first(&inv, vec![row("x", Some("missing"))]).is_err());
    }
}
