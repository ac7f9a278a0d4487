-- The catalog: products, their plans, and each plan's price and setup fee per currency.
-- Kept in lock-step with migrations/postgres. Booleans are 0/1 integers.

CREATE TABLE products (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT,
    instant INTEGER NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE plans (
    code TEXT PRIMARY KEY,
    product_code TEXT NOT NULL REFERENCES products(code),
    name TEXT NOT NULL,
    period TEXT NOT NULL,
    tax_category TEXT NOT NULL,
    manual_renewal_allowed INTEGER NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX plans_product ON plans (product_code);

CREATE TABLE plan_prices (
    plan_code TEXT NOT NULL REFERENCES plans(code),
    currency TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    setup_fee_minor INTEGER NOT NULL,
    PRIMARY KEY (plan_code, currency)
);
