-- When the holder last read the security events in the panel: newer events are "unread" on
-- the account-health checklist. Kept in lock-step with the other backend. UTC milliseconds.
ALTER TABLE accounts ADD COLUMN security_events_seen_at BIGINT;
