-- Support tickets (a thread of messages, attachments stored as files), the audit record of
-- each account closure (what was erased and when, no personal data), and the mails whose
-- recipient and body are erased once delivered (the last mail to a closed account).
-- Kept in lock-step with migrations/postgres. Times are UTC milliseconds; booleans 0/1.

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    category TEXT NOT NULL,
    subject TEXT NOT NULL,
    service_id TEXT REFERENCES services(id),
    state TEXT NOT NULL,
    assignee TEXT,
    awaiting_since INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX tickets_account ON tickets (account_id, updated_at);
CREATE INDEX tickets_state ON tickets (state, updated_at);

CREATE TABLE ticket_messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    author TEXT NOT NULL,
    operator_name TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);

CREATE TABLE ticket_attachments (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    message_id TEXT NOT NULL REFERENCES ticket_messages(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id);

CREATE TABLE erasures (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),
    customer_code TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    erased_at INTEGER NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX erasures_erased ON erasures (erased_at);

ALTER TABLE emails ADD COLUMN erase_after_send INTEGER NOT NULL DEFAULT 0;
