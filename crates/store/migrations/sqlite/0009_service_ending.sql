-- A service's renewal period (when it differs from its current one) and its termination at
-- expiration (the "Résilier" button): reason, comment, when it was asked.

ALTER TABLE services ADD COLUMN renewal_period TEXT;
ALTER TABLE services ADD COLUMN termination_reason TEXT;
ALTER TABLE services ADD COLUMN termination_comment TEXT;
ALTER TABLE services ADD COLUMN termination_requested_at INTEGER;
CREATE INDEX services_state_expiry ON services (state, expires_on);
