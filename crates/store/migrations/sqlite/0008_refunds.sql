-- Refunds of credit notes through the gateway (written pending with the credit note, sent
-- after, settled once), and the sandbox gateway's own record of the refunds it made.

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    credit_note_id TEXT NOT NULL UNIQUE REFERENCES invoices(id),
    payment_id TEXT NOT NULL REFERENCES payments(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    state TEXT NOT NULL,
    gateway TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    gateway_ref TEXT,
    failure_code TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX refunds_state ON refunds (state, updated_at);

CREATE TABLE sandbox_refunds (
    idempotency_key TEXT PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    charge_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sandbox_refunds_charge ON sandbox_refunds (charge_id);
