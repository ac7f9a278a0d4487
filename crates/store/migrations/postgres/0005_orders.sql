-- Orders and their follow-up, customer documents, payments (with the sandbox gateway's own
-- tables), services, and the provisioning webhook outbox with its delivery log.
-- Kept in lock-step with migrations/postgres. Times are UTC milliseconds; booleans 0/1.

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    number TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    vat_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    tax_treatment TEXT NOT NULL,
    tax_country TEXT,
    action_required TEXT,
    action_due_at BIGINT,
    delivery_error TEXT,
    expires_at BIGINT NOT NULL,
    paid_at BIGINT,
    delivered_at BIGINT,
    cancelled_at BIGINT,
    cancel_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_account ON orders (account_id, created_at);
CREATE INDEX orders_status_expiry ON orders (status, expires_at);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_no BIGINT NOT NULL,
    product_code TEXT NOT NULL,
    product_name TEXT NOT NULL,
    plan_code TEXT NOT NULL,
    plan_name TEXT NOT NULL,
    period TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    setup_fee_minor BIGINT NOT NULL,
    vat_rate_bp BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    vat_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    domain TEXT,
    service_id TEXT,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_events (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    label TEXT NOT NULL,
    message TEXT NOT NULL,
    actor TEXT NOT NULL,
    action_required TEXT,
    action_due_at BIGINT
);
CREATE UNIQUE INDEX order_events_order ON order_events (order_id, seq);

CREATE TABLE order_documents (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX order_documents_order ON order_documents (order_id);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    order_id TEXT NOT NULL REFERENCES orders(id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    state TEXT NOT NULL,
    gateway TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    method_label TEXT,
    gateway_ref TEXT,
    failure_code TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    settled_at BIGINT
);
-- At most one payment of an order in flight or succeeded: concurrent pays charge once.
CREATE UNIQUE INDEX payments_one_live ON payments (order_id) WHERE state IN ('pending', 'unknown', 'succeeded');
CREATE INDEX payments_unsettled ON payments (state, updated_at);

CREATE TABLE sandbox_cards (
    token TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    behaviour TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sandbox_charges (
    idempotency_key TEXT PRIMARY KEY,
    charge_id TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_no BIGINT NOT NULL,
    unit_no BIGINT NOT NULL,
    product_code TEXT NOT NULL,
    plan_code TEXT NOT NULL,
    display_name TEXT NOT NULL,
    details TEXT NOT NULL,
    state TEXT NOT NULL,
    period TEXT NOT NULL,
    currency TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    renewal_mode TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    UNIQUE (order_id, line_no, unit_no)
);
CREATE INDEX services_account ON services (account_id, created_at);

CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES webhook_events(id),
    at BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, at);
