//! Bulk rows for the renewal benchmark and the crash harness: customers with a default
//! sandbox card and active monthly services all expiring on one day, written straight into
//! the tables in large transactions (the API would take minutes for 100,000 services). Also
//! the bare batched-insert ceiling the benchmark compares the engine with.

use crate::{Db, Result};

/// What to seed.
pub struct RenewalSeed<'a> {
    pub services: usize,
    pub per_account: usize,
    /// `YYYY-MM-DD`: every service expires that day.
    pub expires_on: &'a str,
    /// The engine looks at them from this day (`YYYY-MM-DD`).
    pub next_step_on: &'a str,
    /// When the services were created (milliseconds; their renewal anchor).
    pub created_at: i64,
    pub price_minor: i64,
    pub currency: &'a str,
    /// Sandbox card number behaviour of every default card (`success`, `decline`…).
    pub card_behaviour: &'a str,
}

const CHUNK: usize = 2_000;

fn id(kind: u8, n: usize) -> String {
    // A UUID-shaped id (version 7 layout) that sorts by `n`.
    format!("01900000-{kind:02x}00-7000-8000-{n:012x}")
}

/// Seed the catalog (`bench` product, `bench-monthly` plan), the accounts, their cards,
/// their first orders and the services.
pub async fn renewals(db: &Db, s: &RenewalSeed<'_>) -> Result<()> {
    let now = s.created_at;
    let mut tx = db.begin().await?;
    let c = tx.conn();
    sqlx::query(
        "INSERT INTO products (code, name, category, description, instant, active, created_at, \
         updated_at) VALUES ('bench', 'Bench VPS', 'vps', NULL, 1, 1, $1, $1) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO plans (code, product_code, name, period, tax_category, \
         manual_renewal_allowed, active, created_at, updated_at) VALUES ('bench-monthly', \
         'bench', 'Bench VPS monthly', 'P1M', 'standard', 1, 1, $1, $1) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO plan_prices (plan_code, currency, price_minor, setup_fee_minor) \
         VALUES ('bench-monthly', $1, $2, 0) ON CONFLICT (plan_code, currency) DO NOTHING",
    )
    .bind(s.currency)
    .bind(s.price_minor)
    .execute(&mut *c)
    .await?;
    tx.commit().await?;

    let per = s.per_account.max(1);
    let accounts = s.services.div_ceil(per);
    for start in (0..accounts).step_by(CHUNK / per.min(CHUNK)) {
        let end = (start + (CHUNK / per.min(CHUNK)).max(1)).min(accounts);
        let mut tx = db.begin().await?;
        let c = tx.conn();
        for a in start..end {
            let account = id(1, a);
            let order = id(2, a);
            let token = format!("tok_sandbox_bench_{a}");
            sqlx::query(
                "INSERT INTO accounts (id, customer_code, kind, state, email, email_verified_at, \
                 password_hash, password_changed_at, first_name, last_name, country, language, \
                 currency, created_at, updated_at) VALUES ($1, $2, 'individual', 'active', $3, \
                 $4, 'x', $4, 'Bench', 'Customer', 'FR', 'fr', $5, $4, $4)",
            )
            .bind(&account)
            .bind(format!("gb-{a}"))
            .bind(format!("bench-{a}@bench.invalid"))
            .bind(now)
            .bind(s.currency)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO sandbox_cards (token, brand, last4, exp_month, exp_year, behaviour, \
                 created_at) VALUES ($1, 'visa', '4242', 12, 2099, $2, $3)",
            )
            .bind(&token)
            .bind(s.card_behaviour)
            .bind(now)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO payment_methods (id, account_id, kind, gateway, token, label, brand, \
                 last4, exp_month, exp_year, iban_masked, mandate_reference, mandate_signed_at, \
                 failed_at, validated_at, is_default, created_at, deleted_at) VALUES ($1, $2, \
                 'card', 'sandbox', $3, 'Visa •••• 4242', 'visa', '4242', 12, 2099, NULL, NULL, \
                 NULL, NULL, $4, 1, $4, NULL)",
            )
            .bind(id(3, a))
            .bind(&account)
            .bind(&token)
            .bind(now)
            .execute(&mut *c)
            .await?;
            let units = per.min(s.services - a * per);
            sqlx::query(
                "INSERT INTO orders (id, account_id, number, kind, status, currency, net_minor, \
                 vat_minor, total_minor, tax_treatment, tax_country, action_required, \
                 action_due_at, delivery_error, expires_at, paid_at, delivered_at, cancelled_at, \
                 cancel_reason, created_at, updated_at, renewal_key) VALUES ($1, $2, $3, 'new', \
                 'delivered', $4, 0, 0, 0, 'domestic', 'FR', NULL, NULL, NULL, $5, $5, $5, NULL, \
                 NULL, $5, $5, NULL)",
            )
            .bind(&order)
            .bind(&account)
            .bind(format!("B{a:012}"))
            .bind(s.currency)
            .bind(now)
            .execute(&mut *c)
            .await?;
            for u in 0..units {
                sqlx::query(
                    "INSERT INTO services (id, account_id, order_id, line_no, unit_no, \
                     product_code, plan_code, display_name, details, state, period, currency, \
                     expires_on, renewal_mode, created_at, updated_at, deleted_at, \
                     renewal_period, termination_reason, termination_comment, \
                     termination_requested_at, next_step_on, suspended_at) VALUES ($1, $2, $3, 1, \
                     $4, 'bench', 'bench-monthly', $5, '{}', 'active', 'P1M', $6, $7, \
                     'automatic', $8, $8, NULL, NULL, NULL, NULL, NULL, $9, NULL)",
                )
                .bind(id(4, a * per + u))
                .bind(&account)
                .bind(&order)
                .bind(i64::try_from(u + 1).unwrap_or(1))
                .bind(format!("vps-{}", a * per + u))
                .bind(s.currency)
                .bind(s.expires_on)
                .bind(now)
                .bind(s.next_step_on)
                .execute(&mut *c)
                .await?;
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The bare ceiling: `rows` rows of an order's shape inserted in transactions of 1,000, 100
/// rows a statement, into a scratch table dropped afterwards. Returns nothing; time it.
pub async fn insert_ceiling(db: &Db, rows: usize) -> Result<()> {
    let mut c = db.conn().await?;
    sqlx::query("DROP TABLE IF EXISTS bench_ceiling")
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "CREATE TABLE bench_ceiling (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
         amount BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    )
    .execute(&mut *c)
    .await?;
    drop(c);
    let per_stmt = 100;
    let values: Vec<String> = (0..per_stmt)
        .map(|i| {
            format!(
                "(${}, ${}, ${}, ${})",
                4 * i + 1,
                4 * i + 2,
                4 * i + 3,
                4 * i + 4
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO bench_ceiling (id, account_id, amount, created_at) VALUES {}",
        values.join(", ")
    );
    let mut n = 0;
    while n < rows {
        let mut tx = db.begin().await?;
        for _ in 0..10 {
            if n >= rows {
                break;
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for i in 0..per_stmt {
                q = q
                    .bind(id(9, n + i))
                    .bind(id(1, (n + i) / 10))
                    .bind(1200i64)
                    .bind(i64::try_from(n + i).unwrap_or(0));
            }
            q.execute(tx.conn()).await?;
            n += per_stmt;
        }
        tx.commit().await?;
    }
    let mut c = db.conn().await?;
    sqlx::query("DROP TABLE bench_ceiling")
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The average sizes of the wide text columns a renewal writes, read off a finished run so
/// that the renewal-shaped ceiling writes rows as large as the real ones.
#[derive(Debug, Clone, Copy)]
pub struct RowSizes {
    pub invoice_document: usize,
    pub mail_text: usize,
    pub mail_html: usize,
    pub mail_data: usize,
    pub webhook_payload: usize,
    pub event_message: usize,
}

async fn avg_len(c: &mut sqlx::AnyConnection, table: &str, column: &str) -> Result<usize> {
    let v: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(AVG(LENGTH({column})) AS BIGINT) FROM {table}"
    )))
    .fetch_one(&mut *c)
    .await?;
    Ok(usize::try_from(v.unwrap_or(0)).unwrap_or(0))
}

pub async fn row_sizes(db: &Db) -> Result<RowSizes> {
    let mut c = db.conn().await?;
    Ok(RowSizes {
        invoice_document: avg_len(&mut c, "invoices", "document").await?,
        mail_text: avg_len(&mut c, "emails", "body_text").await?,
        mail_html: avg_len(&mut c, "emails", "body_html").await?,
        mail_data: avg_len(&mut c, "emails", "data").await?,
        webhook_payload: avg_len(&mut c, "webhook_events", "payload").await?,
        event_message: avg_len(&mut c, "order_events", "message").await?,
    })
}

/// A column of a scratch table: an integer, or a text of this many characters.
#[derive(Clone, Copy)]
enum Col {
    Int,
    Text(usize),
}

/// The rows one renewal writes, by table shape: (rows per renewal, columns).
fn renewal_shape(z: &RowSizes) -> Vec<(&'static str, usize, Vec<Col>)> {
    use Col::{Int, Text};
    let id = Text(36);
    vec![
        // order: ids, number, kind, status, currency, 3 amounts, treatment, country, action,
        // due, error, expiry, 3 dates, reason, 2 stamps, renewal key
        (
            "orders",
            1,
            vec![
                id,
                id,
                Text(13),
                Text(7),
                Text(9),
                Text(3),
                Int,
                Int,
                Int,
                Text(8),
                Text(2),
                Text(3),
                Int,
                Text(0),
                Int,
                Int,
                Int,
                Int,
                Text(0),
                Int,
                Int,
                Text(47),
            ],
        ),
        (
            "order_lines",
            1,
            vec![
                id,
                Int,
                Text(5),
                Text(10),
                Text(13),
                Text(18),
                Text(3),
                Int,
                Int,
                Int,
                Int,
                Int,
                Int,
                Int,
                Text(0),
                id,
                Text(10),
                Text(10),
            ],
        ),
        (
            "order_events",
            3,
            vec![
                id,
                id,
                Int,
                Int,
                Text(16),
                Text(z.event_message),
                Text(6),
                Text(3),
                Int,
            ],
        ),
        (
            "payments",
            1,
            vec![
                id,
                id,
                id,
                Int,
                Text(3),
                Text(9),
                Text(7),
                Text(47),
                Text(30),
                Text(14),
                Text(23),
                Text(0),
                Int,
                Int,
                Int,
                id,
            ],
        ),
        (
            "invoices",
            1,
            vec![
                id,
                id,
                Text(7),
                Text(13),
                Text(7),
                Int,
                Int,
                id,
                Text(0),
                Int,
                Text(10),
                Text(3),
                Int,
                Int,
                Int,
                Text(8),
                Text(z.invoice_document),
                Int,
            ],
        ),
        (
            "emails",
            2,
            vec![
                id,
                id,
                Text(30),
                Text(20),
                Text(2),
                Text(60),
                Text(z.mail_text),
                Text(z.mail_html),
                Text(z.mail_data),
                Text(12),
                Text(50),
                Text(6),
                Int,
                Int,
                Int,
            ],
        ),
        (
            "webhook_events",
            1,
            vec![
                id,
                Text(15),
                id,
                Text(z.webhook_payload),
                Text(7),
                Int,
                Int,
                Int,
            ],
        ),
        (
            "sandbox_charges",
            1,
            vec![Text(47), Text(35), Text(30), Int, Text(3), Text(9), Int],
        ),
    ]
}

/// The renewal-shaped ceiling: for `renewals` renewals, the same number of rows of the same
/// tables' widths and text sizes as the billing run writes (orders, lines, events, payments,
/// invoices, mails, webhooks, gateway records), inserted bare (scratch tables without
/// indexes or constraints) in multi-row statements, one transaction
/// per 500 renewals (the billing run's batch). Time it: renewals / seconds is the ceiling.
pub async fn renewal_ceiling(db: &Db, renewals: usize, z: &RowSizes) -> Result<()> {
    use crate::bulk::{self, Val};
    let shape = renewal_shape(z);
    let mut c = db.conn().await?;
    for (table, _, cols) in &shape {
        let defs: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, col)| match col {
                Col::Int => format!("c{i} BIGINT"),
                Col::Text(_) => format!("c{i} TEXT"),
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS bench_{table}"
        )))
        .execute(&mut *c)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE bench_{table} ({})",
            defs.join(", ")
        )))
        .execute(&mut *c)
        .await?;
    }
    drop(c);
    let batch = 500;
    let mut n = 0;
    let mut serial = 0i64;
    while n < renewals {
        let k = batch.min(renewals - n);
        let mut tx = db.begin().await?;
        for (table, per, cols) in &shape {
            let columns: Vec<String> = (0..cols.len()).map(|i| format!("c{i}")).collect();
            let rows: Vec<Vec<Val>> = (0..k * per)
                .map(|_| {
                    serial += 1;
                    cols.iter()
                        .map(|col| match col {
                            Col::Int => Val::Int(serial),
                            Col::Text(len) => {
                                let mut t = format!("{serial:012}");
                                t.extend(std::iter::repeat_n('x', len.saturating_sub(12)));
                                Val::Text(t)
                            }
                        })
                        .collect()
                })
                .collect();
            bulk::insert(
                tx.conn(),
                &format!("bench_{table}"),
                &columns.join(", "),
                rows,
                "",
            )
            .await?;
        }
        tx.commit().await?;
        n += k;
    }
    let mut c = db.conn().await?;
    for (table, _, _) in &shape {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE bench_{table}")))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// The ids of up to `limit` active accounts, oldest first (for the load benchmark, which
/// opens a session for each).
pub async fn active_account_ids(db: &Db, limit: i64) -> Result<Vec<String>> {
    let mut c = db.conn().await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM accounts WHERE state = 'active' ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *c)
            .await?,
    )
}
