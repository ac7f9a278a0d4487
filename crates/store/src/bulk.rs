//! Multi-row statements: one statement for many rows. On PostgreSQL the rows are bound as
//! parameters (`INSERT … VALUES (…), (…), …`, cut into statements under the bind-parameter
//! limit); on SQLite the statement reads them through `guichet_rows(ticket)`
//! ([`crate::sqlite_rows`]) and binds only the ticket. Each table's single-row insert goes the
//! same way, so a table has one column list, whichever path writes it.

use crate::Result;
use crate::sqlite_rows::{self, Handed};
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

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
const MAX_ROWS: usize = 2_000;

/// `($1, $2, …), ($n, …)` for `rows` rows of `width` values.
fn placeholders(rows: usize, width: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(rows * width * 7);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "${}", r * width + c + 1);
        }
        s.push(')');
    }
    s
}

/// A statement's text as its backend takes it. SQLite looks named parameters up one by one in
/// a list (quadratic in a statement of thousands), so for it every `$k` becomes a plain `?`,
/// with the `k` of each in order, and the values are laid out in that order (a `$k` used
/// twice is bound twice).
struct Text {
    sql: String,
    order: Option<Vec<usize>>,
}

/// The text of a multi-row statement, laid out once per shape (template, rows, backend) and
/// kept: a billing run sends the same 500-row statements thousands of times, and laying out
/// tens of thousands of placeholders each time held SQLite's writer while this process
/// worked. The cache is emptied when it holds [`TEXTS`] shapes.
fn text(
    c: &AnyConnection,
    key: std::fmt::Arguments<'_>,
    build: impl FnOnce() -> String,
) -> Arc<Text> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Text>>>> = OnceLock::new();
    let sqlite = is_sqlite(c);
    let key = format!("{sqlite}\u{1}{key}");
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(t) = cache.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return t;
    }
    let sql = build();
    let t = Arc::new(if sqlite {
        let (sql, order) = positional(&sql);
        Text {
            sql,
            order: Some(order),
        }
    } else {
        Text { sql, order: None }
    });
    if let Ok(mut m) = cache.lock() {
        if m.len() >= TEXTS {
            m.clear();
        }
        m.insert(key, t.clone());
    }
    t
}

/// Statement shapes kept at most.
const TEXTS: usize = 256;

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

fn is_sqlite(c: &AnyConnection) -> bool {
    c.backend_name().eq_ignore_ascii_case("sqlite")
}

/// Whether rows of `width` values are read by the statement through `guichet_rows(ticket)`
/// (SQLite, with the function registered: see [`sqlite_rows`]) rather than bound as
/// parameters.
fn on_sqlite(c: &AnyConnection, width: usize) -> bool {
    is_sqlite(c) && width <= sqlite_rows::COLUMNS && sqlite_rows::available()
}

/// Run `t` with `fixed` values, then the ticket under which `rows` are parked for it.
async fn exec_parked(
    c: &mut AnyConnection,
    t: &Text,
    fixed: &[Val],
    rows: Vec<Vec<Val>>,
) -> Result<u64> {
    let handed = Handed::new(rows);
    let ticket = Val::Int(handed.ticket());
    exec(c, t, fixed.iter().chain([&ticket]).collect()).await
}

/// `keys` as one-value rows for `guichet_rows`.
fn key_rows(keys: &[String]) -> Vec<Vec<Val>> {
    keys.iter().map(|k| vec![Val::from(k)]).collect()
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

/// The values in the order `t`'s placeholders take them.
fn in_order<'a>(t: &Text, vals: Vec<&'a Val>) -> Vec<&'a Val> {
    let Some(order) = &t.order else {
        return vals;
    };
    // A placeholder past the values binds NULL, as with numbered parameters.
    static NULL: Val = Val::OptInt(None);
    order
        .iter()
        .map(|k| vals.get(k.wrapping_sub(1)).copied().unwrap_or(&NULL))
        .collect()
}

async fn exec(c: &mut AnyConnection, t: &Text, vals: Vec<&Val>) -> Result<u64> {
    let vals = in_order(t, vals);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(t.sql.clone()));
    for v in vals {
        q = bind_plain(q, v);
    }
    Ok(q.execute(&mut *c).await?.rows_affected())
}

async fn fetch<T>(c: &mut AnyConnection, t: &Text, vals: Vec<&Val>) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let vals = in_order(t, vals);
    let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(t.sql.clone()));
    for v in vals {
        q = bind_val(q, v);
    }
    Ok(q.fetch_all(&mut *c).await?)
}

/// Insert `rows` into `table (columns)`, `suffix` appended to each statement (for example
/// `ON CONFLICT DO NOTHING`). Returns the rows inserted. The values are moved into the
/// statements, not copied.
pub async fn insert(
    c: &mut AnyConnection,
    table: &str,
    columns: &str,
    rows: Vec<Vec<Val>>,
    suffix: &str,
) -> Result<u64> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    debug_assert!(rows.iter().all(|r| r.len() == width));
    if on_sqlite(c, width) {
        let t = text(
            c,
            format_args!("rows\u{1}{table}\u{1}{columns}\u{1}{suffix}\u{1}{width}"),
            || {
                // `WHERE true`: without it, SQLite would read an `ON CONFLICT` suffix as the
                // join constraint of the `FROM`.
                format!(
                    "INSERT INTO {table} ({columns}) SELECT {} FROM guichet_rows($1) \
                     WHERE true{}{suffix}",
                    sqlite_rows::select_list(width, false),
                    if suffix.is_empty() { "" } else { " " }
                )
            },
        );
        return exec_parked(c, &t, &[], rows).await;
    }
    let per = (MAX_PARAMS / width.max(1)).clamp(1, MAX_ROWS);
    let mut n = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per).collect();
        let t = text(
            c,
            format_args!(
                "insert\u{1}{table}\u{1}{columns}\u{1}{suffix}\u{1}{}\u{1}{width}",
                chunk.len()
            ),
            || {
                format!(
                    "INSERT INTO {table} ({columns}) VALUES {}{}{suffix}",
                    placeholders(chunk.len(), width),
                    if suffix.is_empty() { "" } else { " " }
                )
            },
        );
        // An insert's placeholders are numbered in the order they appear: no reordering.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(t.sql.clone()));
        for v in chunk.into_iter().flatten() {
            q = bind_owned(q, v);
        }
        n += q.execute(&mut *c).await?.rows_affected();
    }
    Ok(n)
}

/// Run `sql` once per chunk of `rows`, where `{values}` in `sql` stands for the chunk's
/// `VALUES` list and `$1 … $fixed.len()` are `fixed` (for example
/// `UPDATE t SET … FROM (VALUES {values}) AS v WHERE t.id = v.column1`). Returns the rows
/// affected. The rows' values are moved into the statements, not copied.
pub async fn with_values(
    c: &mut AnyConnection,
    sql: &str,
    fixed: &[Val],
    rows: Vec<Vec<Val>>,
) -> Result<u64> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    if on_sqlite(c, width) && sql.contains("VALUES {values}") {
        let t = text(
            c,
            format_args!("rows-values\u{1}{sql}\u{1}{width}\u{1}{}", fixed.len()),
            || {
                let select = format!(
                    "SELECT {} FROM guichet_rows(${})",
                    sqlite_rows::select_list(width, true),
                    fixed.len() + 1
                );
                sql.replace("VALUES {values}", &select)
            },
        );
        return exec_parked(c, &t, fixed, rows).await;
    }
    let per = ((MAX_PARAMS - fixed.len()) / width.max(1)).clamp(1, MAX_ROWS);
    let mut n = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per).collect();
        let t = text(
            c,
            format_args!(
                "values\u{1}{sql}\u{1}{}\u{1}{width}\u{1}{}",
                chunk.len(),
                fixed.len()
            ),
            || {
                let list = shift(&placeholders(chunk.len(), width), fixed.len());
                sql.replace("{values}", &list)
            },
        );
        n += exec_moving(c, &t, fixed, chunk.into_iter().flatten().collect()).await?;
    }
    Ok(n)
}

/// Like [`exec`] for `fixed` values then `moved` ones: each of `moved` is moved into the
/// statement when its placeholder is used once (as in a `VALUES` list), else copied.
async fn exec_moving(
    c: &mut AnyConnection,
    t: &Text,
    fixed: &[Val],
    moved: Vec<Val>,
) -> Result<u64> {
    let once = match &t.order {
        None => true,
        Some(order) => {
            let mut seen = vec![false; moved.len()];
            order.iter().all(|&k| match k.checked_sub(fixed.len() + 1) {
                Some(i) if i < seen.len() => !std::mem::replace(&mut seen[i], true),
                _ => true,
            })
        }
    };
    if !once {
        let vals = fixed.iter().chain(moved.iter()).collect();
        return exec(c, t, vals).await;
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(t.sql.clone()));
    match &t.order {
        None => {
            for v in fixed {
                q = bind_plain(q, v);
            }
            for v in moved {
                q = bind_owned(q, v);
            }
        }
        Some(order) => {
            let mut moved: Vec<Option<Val>> = moved.into_iter().map(Some).collect();
            // A placeholder past the values binds NULL, as with numbered parameters.
            for &k in order {
                q = match k.checked_sub(1) {
                    Some(i) if i < fixed.len() => bind_plain(q, &fixed[i]),
                    Some(i) => match moved.get_mut(i - fixed.len()).and_then(Option::take) {
                        Some(v) => bind_owned(q, v),
                        None => bind_owned(q, Val::OptInt(None)),
                    },
                    None => bind_owned(q, Val::OptInt(None)),
                };
            }
        }
    }
    Ok(q.execute(&mut *c).await?.rows_affected())
}

fn bind_owned<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    v: Val,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        Val::Text(s) => q.bind(s),
        Val::OptText(s) => q.bind(s),
        Val::Int(i) => q.bind(i),
        Val::OptInt(i) => q.bind(i),
    }
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
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if on_sqlite(c, 1) {
        let t = rows_in_text(c, sql, fixed.len());
        let handed = Handed::new(key_rows(keys));
        let ticket = Val::Int(handed.ticket());
        return fetch(c, &t, fixed.iter().chain([&ticket]).collect()).await;
    }
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_ROWS) {
        let t = in_text(c, sql, fixed.len(), chunk.len());
        let keys: Vec<Val> = chunk.iter().map(Val::from).collect();
        out.extend(fetch(c, &t, fixed.iter().chain(keys.iter()).collect()).await?);
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
    if keys.is_empty() {
        return Ok(0);
    }
    if on_sqlite(c, 1) {
        let t = rows_in_text(c, sql, fixed.len());
        return exec_parked(c, &t, fixed, key_rows(keys)).await;
    }
    let mut n = 0;
    for chunk in keys.chunks(MAX_ROWS) {
        let t = in_text(c, sql, fixed.len(), chunk.len());
        let keys: Vec<Val> = chunk.iter().map(Val::from).collect();
        n += exec(c, &t, fixed.iter().chain(keys.iter()).collect()).await?;
    }
    Ok(n)
}

/// The text of `sql` whose `{in}` is a list of `n` values after `fixed` ones.
fn in_text(c: &AnyConnection, sql: &str, fixed: usize, n: usize) -> Arc<Text> {
    text(c, format_args!("in\u{1}{sql}\u{1}{fixed}\u{1}{n}"), || {
        sql.replace("{in}", &in_list(fixed + 1, n))
    })
}

/// The text of `sql` whose `{in}` reads the keys parked under the ticket bound after `fixed`
/// values (SQLite).
fn rows_in_text(c: &AnyConnection, sql: &str, fixed: usize) -> Arc<Text> {
    text(c, format_args!("rows-in\u{1}{sql}\u{1}{fixed}"), || {
        sql.replace(
            "{in}",
            &format!("SELECT c0 FROM guichet_rows(${})", fixed + 1),
        )
    })
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
