-- Recovery of a lost second factor: proved with the backup e-mail and the phone, it takes
-- effect after a delay unless the owner cancels it. Kept in lock-step with migrations/postgres.

CREATE TABLE factor_recoveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    state TEXT NOT NULL,
    cancel_token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX factor_recoveries_account ON factor_recoveries (account_id, state);
