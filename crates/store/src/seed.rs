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
