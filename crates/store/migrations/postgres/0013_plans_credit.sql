-- Plan changes (upgrades paid for the days left, downgrades now or pending until the next
-- renewal), the account credit balance per currency with its movements (a guarded balance
-- row that never goes negative), and vouchers with their redemptions.
-- Kept in lock-step with migrations/postgres. Times are UTC milliseconds; booleans 0/1 BIGINT.

ALTER TABLE products ADD COLUMN immediate_downgrade BIGINT NOT NULL DEFAULT 0;

CREATE TABLE plan_changes (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    service_id TEXT NOT NULL REFERENCES services(id),
    from_plan TEXT NOT NULL,
    to_plan TEXT NOT NULL,
    direction TEXT NOT NULL,
    timing TEXT NOT NULL,
    state TEXT NOT NULL,
    order_id TEXT REFERENCES orders(id),
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    vat_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One change in progress per service.
CREATE UNIQUE INDEX plan_changes_one_pending ON plan_changes (service_id) WHERE state = 'pending';
CREATE INDEX plan_changes_order ON plan_changes (order_id);
CREATE INDEX plan_changes_account ON plan_changes (account_id, created_at);

CREATE TABLE credit_balances (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    currency TEXT NOT NULL,
    balance_minor BIGINT NOT NULL CHECK (balance_minor >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, currency)
);

CREATE TABLE credit_movements (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT,
    order_id TEXT REFERENCES orders(id),
    invoice_id TEXT REFERENCES invoices(id),
    plan_change_id TEXT REFERENCES plan_changes(id),
    voucher_code TEXT,
    operator_id TEXT,
    balance_after_minor BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_movements_account ON credit_movements (account_id, created_at);
-- Credit is applied to an order once, and given back once.
CREATE UNIQUE INDEX credit_movements_applied ON credit_movements (order_id) WHERE kind = 'applied';
CREATE UNIQUE INDEX credit_movements_released ON credit_movements (order_id) WHERE kind = 'released';
CREATE UNIQUE INDEX credit_movements_credit_note ON credit_movements (invoice_id) WHERE kind = 'credit_note';
CREATE UNIQUE INDEX credit_movements_downgrade ON credit_movements (plan_change_id) WHERE kind = 'downgrade';

CREATE TABLE vouchers (
    code TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    percent_bp BIGINT NOT NULL,
    currency TEXT NOT NULL,
    valid_from TEXT,
    valid_until TEXT,
    max_uses BIGINT,
    max_uses_per_customer BIGINT,
    eligible_plans TEXT NOT NULL,
    first_order_only BIGINT NOT NULL,
    uses BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE voucher_redemptions (
    id TEXT PRIMARY KEY,
    voucher_code TEXT NOT NULL REFERENCES vouchers(code),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    order_id TEXT REFERENCES orders(id),
    net_minor BIGINT NOT NULL,
    vat_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX voucher_redemptions_account ON voucher_redemptions (account_id, voucher_code);
-- One voucher per order.
CREATE UNIQUE INDEX voucher_redemptions_order ON voucher_redemptions (order_id) WHERE state = 'active';
