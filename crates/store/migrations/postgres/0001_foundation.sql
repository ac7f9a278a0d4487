-- Foundation: accounts, sessions, tokens, the mail outbox and log, SMS, operators, audit.
-- Kept in lock-step with migrations/sqlite/0001_foundation.sql (see tests/lockstep.rs).
-- Times are UTC milliseconds since the Unix epoch; booleans are 0/1 integers.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    customer_code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    email_verified_at BIGINT,
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    organisation TEXT,
    vat_number TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    postal_code TEXT,
    city TEXT,
    region TEXT,
    country TEXT NOT NULL,
    language TEXT NOT NULL,
    currency TEXT NOT NULL,
    backup_email TEXT,
    backup_email_verified_at BIGINT,
    phone TEXT,
    phone_verified_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    token_hash TEXT NOT NULL UNIQUE,
    ip TEXT,
    user_agent TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_account ON sessions (account_id, created_at);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at);

CREATE TABLE action_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    payload TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX action_tokens_account ON action_tokens (account_id, purpose);

CREATE TABLE emails (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    to_addr TEXT NOT NULL,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX emails_due ON emails (status, next_attempt_at);
CREATE INDEX emails_account ON emails (account_id, created_at);

CREATE TABLE sms_messages (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    to_phone TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX sms_due ON sms_messages (status, next_attempt_at);

CREATE TABLE security_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    details TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX security_events_account ON security_events (account_id, created_at);

CREATE TABLE operator_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    details TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
