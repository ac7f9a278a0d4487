//! Multi-row statements: one `INSERT … VALUES (…), (…), …` for many rows, cut into
//! statements under both backends' bind-parameter limits. Each table's single-row insert is
//! the same text with one row, so a table has one column list, whichever path writes it.

use crate::Result;
use sqlx::AnyConnection;

/// One bound value of a row.
#[derive(Debug, Clone)]
pub enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        Val::OptText(v.clone())
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::OptInt(v)
    }
}

/// Bind parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;
/// Rows per statement at most, whatever their width.
const MAX_ROWS: usize = 500;

/// `($1, $2, …), ($n, …)` for `rows` rows of `width` values.
fn placeholders(rows: usize, width: usize) -> String {
    let mut s = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * width + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

fn bind_val<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    v: &Val,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    match v {
        Val::Text(s) => q.bind(s.clone()),
        Val::OptText(s) => q.bind(s.clone()),
        Val::Int(i) => q.bind(*i),
        Val::OptInt(i) => q.bind(*i),
    }
}

fn bind_plain<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    v: &Val,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        Val::Text(s) => q.bind(s.clone()),
        Val::OptText(s) => q.bind(s.clone()),
        Val::Int(i) => q.bind(*i),
        Val::OptInt(i) => q.bind(*i),
    }
}

/// `sql` with `$k` placeholders and its values, as the connection's backend takes them best.
/// SQLite looks named parameters up one by one in a list (quadratic in a statement of
/// thousands), so for it every `$k` becomes a plain `?` and the values are laid out in the
/// order the placeholders appear (a `$k` used twice is bound twice).
fn is_sqlite(c: &AnyConnection) -> bool {
    c.backend_name().eq_ignore_ascii_case("sqlite")
}

fn for_backend<'a>(c: &AnyConnection, sql: String, vals: Vec<&'a Val>) -> (String, Vec<&'a Val>) {
    if !is_sqlite(c) {
        return (sql, vals);
    }
    let (text, order) = positional(&sql);
    // A placeholder past the values binds NULL, as with numbered parameters.
    static NULL: Val = Val::OptInt(None);
    let vals = order
        .into_iter()
        .map(|k| vals.get(k.wrapping_sub(1)).copied().unwrap_or(&NULL))
        .collect();
    (text, vals)
}

/// `$k` placeholders (outside quotes) → `?`, with the `k` of each in the order they appear.
fn positional(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(ch) = chars.next() {
        if ch == '\'' {
            quoted = !quoted;
        }
        if ch == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut k = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                k = k * 10 + d as usize;
                chars.next();
            }
            out.push('?');
            order.push(k);
        } else {
            out.push(ch);
        }
    }
    (out, order)
}

async fn exec(c: &mut AnyConnection, sql: String, vals: Vec<&Val>) -> Result<u64> {
    let (sql, vals) = for_backend(c, sql, vals);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in vals {
        q = bind_plain(q, v);
    }
    Ok(q.execute(&mut *c).await?.rows_affected())
}

async fn fetch<T>(c: &mut AnyConnection, sql: String, vals: Vec<&Val>) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let (sql, vals) = for_backend(c, sql, vals);
    let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
    for v in vals {
        q = bind_val(q, v);
    }
    Ok(q.fetch_all(&mut *c).await?)
}

/// Insert `rows` into `table (columns)`, `suffix` appended to each statement (for example
/// `ON CONFLICT DO NOTHING`). Returns the rows inserted.
pub async fn insert(
    c: &mut AnyConnection,
    table: &str,
    columns: &str,
    rows: &[Vec<Val>],
    suffix: &str,
) -> Result<u64> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    debug_assert!(rows.iter().all(|r| r.len() == width));
    let per = (MAX_PARAMS / width.max(1)).clamp(1, MAX_ROWS);
    let mut n = 0;
    for chunk in rows.chunks(per) {
        let sql = format!(
            "INSERT INTO {table} ({columns}) VALUES {}{}{suffix}",
            placeholders(chunk.len(), width),
            if suffix.is_empty() { "" } else { " " }
        );
        n += exec(c, sql, chunk.iter().flatten().collect()).await?;
    }
    Ok(n)
}

/// Run `sql` once per chunk of `rows`, where `{values}` in `sql` stands for the chunk's
/// `VALUES` list and `$1 … $fixed.len()` are `fixed` (for example
/// `UPDATE t SET … FROM (VALUES {values}) AS v WHERE t.id = v.column1`). Returns the rows
/// affected.
pub async fn with_values(
    c: &mut AnyConnection,
    sql: &str,
    fixed: &[Val],
    rows: &[Vec<Val>],
) -> Result<u64> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    let per = ((MAX_PARAMS - fixed.len()) / width.max(1)).clamp(1, MAX_ROWS);
    let mut n = 0;
    for chunk in rows.chunks(per) {
        let list = shift(&placeholders(chunk.len(), width), fixed.len());
        let text = sql.replace("{values}", &list);
        let vals = fixed.iter().chain(chunk.iter().flatten()).collect();
        n += exec(c, text, vals).await?;
    }
    Ok(n)
}

/// `$k` → `$(k + by)` in a placeholder list.
fn shift(list: &str, by: usize) -> String {
    if by == 0 {
        return list.to_owned();
    }
    let mut out = String::with_capacity(list.len() + list.len() / 4);
    let mut chars = list.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '$' {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            let k: usize = digits.parse().unwrap_or(0);
            out.push('$');
            out.push_str(&(k + by).to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Rows of `sql` whose `{in}` stands for an `IN (…)` list of `keys` (chunked), after the
/// `fixed` parameters `$1 … $fixed.len()`.
pub async fn select_in<T>(
    c: &mut AnyConnection,
    sql: &str,
    fixed: &[Val],
    keys: &[String],
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_ROWS) {
        let text = sql.replace("{in}", &in_list(fixed.len() + 1, chunk.len()));
        let keys: Vec<Val> = chunk.iter().map(Val::from).collect();
        out.extend(fetch(c, text, fixed.iter().chain(keys.iter()).collect()).await?);
    }
    Ok(out)
}

/// PostgreSQL: lock the rows of `table` with these ids, in id order, before a multi-row
/// update of them. An `UPDATE … FROM (VALUES …)` visits rows in whatever order its plan
/// picks, so two transactions updating overlapping sets (two nodes planning the same day, a
/// planner and a settling batch) could each hold a row the other waits for, and one is
/// aborted as a deadlock; locked in one global order first, they queue instead. SQLite has
/// one writer at a time: nothing to do.
pub async fn lock_in_order(c: &mut AnyConnection, table: &'static str, ids: &[&str]) -> Result<()> {
    if is_sqlite(c) {
        return Ok(());
    }
    let mut ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!("SELECT id FROM {table} WHERE id IN ({{in}}) ORDER BY id FOR UPDATE");
    let _: Vec<(String,)> = select_in(c, &sql, &[], &ids).await?;
    Ok(())
}

/// Run `sql` (an `UPDATE … WHERE … IN ({in})`) over `keys` in chunks, after the `fixed`
/// parameters; returns the rows affected.
pub async fn execute_in(
    c: &mut AnyConnection,
    sql: &str,
    fixed: &[Val],
    keys: &[String],
) -> Result<u64> {
    let mut n = 0;
    for chunk in keys.chunks(MAX_ROWS) {
        let text = sql.replace("{in}", &in_list(fixed.len() + 1, chunk.len()));
        let keys: Vec<Val> = chunk.iter().map(Val::from).collect();
        n += exec(c, text, fixed.iter().chain(keys.iter()).collect()).await?;
    }
    Ok(n)
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(shift("($1, $2), ($3, $4)", 2), "($3, $4), ($5, $6)");
        assert_eq!(in_list(3, 3), "$3, $4, $5");
    }

    #[test]
    fn sqlite_gets_plain_placeholders_in_appearance_order() {
        let (sql, order) =
            positional("UPDATE t SET a = $2, b = '$9', c = $1 WHERE d = $2 AND e IN ($3)");
        assert_eq!(
            sql,
            "UPDATE t SET a = ?, b = '$9', c = ? WHERE d = ? AND e IN (?)"
        );
        assert_eq!(order, vec![2, 1, 2, 3]);
    }
}
