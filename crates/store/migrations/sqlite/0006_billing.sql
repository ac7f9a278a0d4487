-- Legal invoices and credit notes with gapless numbers per issuer and year, the stored answers
-- of requests sent with an Idempotency-Key, and saved payment methods.
-- Kept in lock-step with migrations/postgres. Times are UTC milliseconds; booleans 0/1.

CREATE TABLE invoice_sequences (
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_value INTEGER NOT NULL,
    PRIMARY KEY (series, year)
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    order_id TEXT UNIQUE REFERENCES orders(id),
    credited_invoice_id TEXT REFERENCES invoices(id),
    issued_at INTEGER NOT NULL,
    issue_date TEXT NOT NULL,
    currency TEXT NOT NULL,
    net_minor INTEGER NOT NULL,
    vat_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    tax_treatment TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (series, year, seq)
);
CREATE INDEX invoices_account ON invoices (account_id, issue_date);
CREATE INDEX invoices_credited ON invoices (credited_invoice_id);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE payment_methods (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    gateway TEXT NOT NULL,
    token TEXT,
    label TEXT NOT NULL,
    brand TEXT,
    last4 TEXT,
    exp_month INTEGER,
    exp_year INTEGER,
    iban_masked TEXT,
    mandate_reference TEXT,
    mandate_signed_at INTEGER,
    failed_at INTEGER,
    validated_at INTEGER,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX payment_methods_account ON payment_methods (account_id, created_at);
