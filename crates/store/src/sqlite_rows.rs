//! SQLite: the rows of a multi-row statement handed to SQLite as they are, through a
//! table-valued function `guichet_rows(ticket)` registered on every connection, instead of
//! as thousands of bound parameters. A billing-run batch inserts tens of thousands of values
//! per statement; bound one by one, each text was copied three times (into sqlx's argument
//! list, again by its SQLite driver, again by SQLite under `SQLITE_TRANSIENT`) and freed as
//! many, on the path that holds SQLite's single writer. Here the rows stay where this process
//! built them: the statement (`INSERT … SELECT c0, c1, … FROM guichet_rows($1)`) binds one
//! integer, the ticket under which [`Handed`] parked the rows, and SQLite reads each value in
//! place while it builds the new records. PostgreSQL keeps the bound parameters.

use crate::bulk::Val;
use libsqlite3_sys as ffi;
use std::collections::BTreeMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Values per row at most (the function's columns `c0` … `c63`).
pub(crate) const COLUMNS: usize = 64;

type Rows = Arc<Vec<Vec<Val>>>;

/// Rows parked for a statement, by ticket.
static PARKED: Mutex<BTreeMap<i64, Rows>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicI64 = AtomicI64::new(1);

/// Rows parked under a ticket for as long as this lives (the statement that reads them runs
/// meanwhile).
pub(crate) struct Handed(i64);

impl Handed {
    pub(crate) fn new(rows: Vec<Vec<Val>>) -> Self {
        let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
        parked_rows().insert(ticket, Arc::new(rows));
        Self(ticket)
    }

    pub(crate) fn ticket(&self) -> i64 {
        self.0
    }
}

impl Drop for Handed {
    fn drop(&mut self) {
        parked_rows().remove(&self.0);
    }
}

/// The map of parked rows. Nothing panics while holding it; were it poisoned all the same,
/// it is used as it is (losing a statement's rows would insert nothing, silently).
fn parked_rows() -> std::sync::MutexGuard<'static, BTreeMap<i64, Rows>> {
    PARKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parked(ticket: i64) -> Option<Rows> {
    parked_rows().get(&ticket).cloned()
}

/// `c0 AS column1, c1 AS column2, …` for `width` values (`as_values`: named like a
/// `VALUES` list's columns), or `c0, c1, …`.
pub(crate) fn select_list(width: usize, as_values: bool) -> String {
    (0..width)
        .map(|i| {
            if as_values {
                format!("c{i} AS column{}", i + 1)
            } else {
                format!("c{i}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the function is there: registered (the first call, which must come before the
/// first SQLite connection opens) on every SQLite connection this process opens. False if
/// SQLite refused, and then nothing uses it.
pub(crate) fn available() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    // SAFETY: `init` has the signature SQLite calls an automatic extension with.
    *DONE.get_or_init(|| unsafe { ffi::sqlite3_auto_extension(Some(init)) == ffi::SQLITE_OK })
}

/// The hidden column the ticket constrains (`guichet_rows(ticket)`).
const TICKET: c_int = COLUMNS as c_int;

fn module() -> &'static ffi::sqlite3_module {
    static MODULE: OnceLock<ffi::sqlite3_module> = OnceLock::new();
    MODULE.get_or_init(|| {
        // SAFETY: a module is plain data (a version and optional function pointers); all
        // zeroes is every callback absent.
        let mut m: ffi::sqlite3_module = unsafe { std::mem::zeroed() };
        m.iVersion = 1;
        // No xCreate: eponymous only, used as `guichet_rows(?)`, never created as a table.
        m.xConnect = Some(connect);
        m.xBestIndex = Some(best_index);
        m.xDisconnect = Some(disconnect);
        m.xOpen = Some(open);
        m.xClose = Some(close);
        m.xFilter = Some(filter);
        m.xNext = Some(next);
        m.xEof = Some(eof);
        m.xColumn = Some(column);
        m.xRowid = Some(rowid);
        m
    })
}

unsafe extern "C" fn init(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened; the module is static.
    unsafe {
        ffi::sqlite3_create_module_v2(
            db,
            c"guichet_rows".as_ptr(),
            module(),
            std::ptr::null_mut(),
            None,
        )
    }
}

fn schema() -> &'static CString {
    static SCHEMA: OnceLock<CString> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let cols: Vec<String> = (0..COLUMNS).map(|i| format!("c{i}")).collect();
        CString::new(format!(
            "CREATE TABLE x({}, ticket HIDDEN)",
            cols.join(", ")
        ))
        .unwrap_or_default()
    })
}

unsafe extern "C" fn connect(
    db: *mut ffi::sqlite3,
    _aux: *mut c_void,
    _argc: c_int,
    _argv: *const *const c_char,
    vtab: *mut *mut ffi::sqlite3_vtab,
    _err: *mut *mut c_char,
) -> c_int {
    // SAFETY: SQLite passes its connection and where to put the table.
    unsafe {
        let rc = ffi::sqlite3_declare_vtab(db, schema().as_ptr());
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        *vtab = Box::into_raw(Box::new(std::mem::zeroed::<ffi::sqlite3_vtab>()));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn disconnect(vtab: *mut ffi::sqlite3_vtab) -> c_int {
    // SAFETY: made by `connect` with `Box::into_raw`, released once by SQLite.
    drop(unsafe { Box::from_raw(vtab) });
    ffi::SQLITE_OK
}

/// The only plan: the ticket given, rows read in their order.
unsafe extern "C" fn best_index(
    _vtab: *mut ffi::sqlite3_vtab,
    info: *mut ffi::sqlite3_index_info,
) -> c_int {
    // SAFETY: SQLite passes `nConstraint` constraints and as many usages.
    let info = unsafe { &mut *info };
    let n = usize::try_from(info.nConstraint).unwrap_or(0);
    let mut given = false;
    if n > 0 && !info.aConstraint.is_null() && !info.aConstraintUsage.is_null() {
        // SAFETY: as above.
        let (cons, usage) = unsafe {
            (
                std::slice::from_raw_parts(info.aConstraint, n),
                std::slice::from_raw_parts_mut(info.aConstraintUsage, n),
            )
        };
        for (c, u) in cons.iter().zip(usage.iter_mut()) {
            if c.iColumn == TICKET
                && i32::from(c.op) == ffi::SQLITE_INDEX_CONSTRAINT_EQ
                && c.usable != 0
            {
                u.argvIndex = 1;
                u.omit = 1;
                given = true;
                break;
            }
        }
    }
    if !given {
        // Without its ticket the function has no rows to give: not a plan.
        return ffi::SQLITE_CONSTRAINT;
    }
    info.estimatedCost = 1000.0;
    info.estimatedRows = 1000;
    ffi::SQLITE_OK
}

/// A cursor over the rows parked under one ticket.
#[repr(C)]
struct Cursor {
    base: ffi::sqlite3_vtab_cursor,
    rows: Option<Rows>,
    at: usize,
    ticket: i64,
}

impl Cursor {
    fn value(&self, col: usize) -> Option<&Val> {
        self.rows.as_ref()?.get(self.at)?.get(col)
    }
}

unsafe extern "C" fn open(
    _vtab: *mut ffi::sqlite3_vtab,
    cursor: *mut *mut ffi::sqlite3_vtab_cursor,
) -> c_int {
    let c = Box::new(Cursor {
        // SAFETY: plain data, set by SQLite after this returns.
        base: unsafe { std::mem::zeroed() },
        rows: None,
        at: 0,
        ticket: 0,
    });
    // SAFETY: `Cursor` starts with the base SQLite expects.
    unsafe { *cursor = Box::into_raw(c).cast() };
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: made by `open`, released once by SQLite.
    drop(unsafe { Box::from_raw(cursor.cast::<Cursor>()) });
    ffi::SQLITE_OK
}

unsafe extern "C" fn filter(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    _idx_num: c_int,
    _idx_str: *const c_char,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> c_int {
    // SAFETY: a cursor made by `open`; `argv` holds `argc` values.
    let c = unsafe { &mut *cursor.cast::<Cursor>() };
    c.ticket = if argc >= 1 && !argv.is_null() {
        unsafe { ffi::sqlite3_value_int64(*argv) }
    } else {
        0
    };
    // Shared, not taken: a plan may run the function more than once for one statement.
    c.rows = parked(c.ticket);
    c.at = 0;
    ffi::SQLITE_OK
}

unsafe extern "C" fn next(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: a cursor made by `open`.
    let c = unsafe { &mut *cursor.cast::<Cursor>() };
    c.at += 1;
    ffi::SQLITE_OK
}

unsafe extern "C" fn eof(cursor: *mut ffi::sqlite3_vtab_cursor) -> c_int {
    // SAFETY: a cursor made by `open`.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    c_int::from(c.rows.as_ref().is_none_or(|r| c.at >= r.len()))
}

unsafe extern "C" fn column(
    cursor: *mut ffi::sqlite3_vtab_cursor,
    ctx: *mut ffi::sqlite3_context,
    col: c_int,
) -> c_int {
    // SAFETY: a cursor made by `open`; `ctx` is this call's result.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    if col == TICKET {
        unsafe { ffi::sqlite3_result_int64(ctx, c.ticket) };
        return ffi::SQLITE_OK;
    }
    let text = |s: &String| {
        // SAFETY: the text lives in the parked rows, which the cursor holds until SQLite
        // closes it, after the statement has copied the value where it goes.
        unsafe {
            ffi::sqlite3_result_text64(
                ctx,
                s.as_ptr().cast(),
                s.len() as u64,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as u8,
            )
        }
    };
    match usize::try_from(col).ok().and_then(|k| c.value(k)) {
        Some(Val::Text(s) | Val::OptText(Some(s))) => text(s),
        Some(Val::Int(i) | Val::OptInt(Some(i))) => unsafe { ffi::sqlite3_result_int64(ctx, *i) },
        _ => unsafe { ffi::sqlite3_result_null(ctx) },
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn rowid(cursor: *mut ffi::sqlite3_vtab_cursor, out: *mut i64) -> c_int {
    // SAFETY: a cursor made by `open`; `out` is where SQLite wants the row id.
    let c = unsafe { &*cursor.cast::<Cursor>() };
    unsafe { *out = c.at as i64 };
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[tokio::test]
    async fn rows_are_read_where_they_are_parked_as_often_as_a_plan_asks() {
        assert!(available());
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        let rows: Vec<Vec<Val>> = (0..300)
            .map(|i| {
                vec![
                    Val::Text(format!("k{i}")),
                    Val::OptText((i % 2 == 0).then(|| "é".repeat(i))),
                    Val::Int(i as i64),
                    Val::OptInt(None),
                ]
            })
            .collect();
        let handed = Handed::new(rows);
        // A self-join runs the function once per outer row: each run sees every row.
        let (pairs, texts, sum, nulls): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), SUM(length(a.c1)), SUM(a.c2), SUM(a.c3 IS NULL) \
             FROM guichet_rows(?1) a JOIN guichet_rows(?1) b ON a.c0 = b.c0",
        )
        .bind(handed.ticket())
        .fetch_one(&mut c)
        .await
        .expect("join");
        assert_eq!(pairs, 300);
        assert_eq!(texts, (0..300).filter(|i| i % 2 == 0).sum::<i64>());
        assert_eq!(sum, (0..300).sum::<i64>());
        assert_eq!(nulls, 300);
        // Gone with its ticket; without a ticket there is no plan.
        let ticket = handed.ticket();
        drop(handed);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM guichet_rows(?1)")
            .bind(ticket)
            .fetch_one(&mut c)
            .await
            .expect("count");
        assert_eq!(n, 0);
        assert!(
            sqlx::query("SELECT COUNT(*) FROM guichet_rows")
                .fetch_one(&mut c)
                .await
                .is_err()
        );
    }
}
