-- The lifecycle engine: a job queue on the database (typed jobs, unique keys so a step is
-- done once, retries with backoff, leases), the date of each service's next lifecycle step,
-- renewal orders keyed by (service, expiration), and the period an order line pays for.
-- Kept in lock-step with migrations/postgres. Times are UTC milliseconds.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unique_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    locked_until BIGINT,
    locked_by TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_due ON jobs (state, run_at);

ALTER TABLE services ADD COLUMN next_step_on TEXT;
ALTER TABLE services ADD COLUMN suspended_at BIGINT;
CREATE INDEX services_next_step ON services (next_step_on);

ALTER TABLE orders ADD COLUMN renewal_key TEXT;
CREATE UNIQUE INDEX orders_renewal ON orders (renewal_key);

ALTER TABLE order_lines ADD COLUMN period_start TEXT;
ALTER TABLE order_lines ADD COLUMN period_end TEXT;

-- Services delivered before the engine: looked at on its first pass.
UPDATE services SET next_step_on = '1970-01-01' WHERE state <> 'deleted';
