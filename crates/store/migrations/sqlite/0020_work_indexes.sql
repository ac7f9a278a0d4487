-- The queue's indexes hold the work still to do, not the whole history: a job enters
-- `jobs_due` when queued and leaves it when done (or given up), and a payment enters
-- `payments_unsettled` while its outcome is unknown and leaves it once settled. Before, each
-- finished job and each settled payment moved its entry within an index that grew with every
-- renewal ever made (the billing run rewrote their pages batch after batch). The queries that
-- use them say the same condition in the same words, so both backends pick them. Kept in
-- lock-step with the other backend.

DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';

DROP INDEX payments_unsettled;
CREATE INDEX payments_unsettled ON payments (updated_at, id) WHERE state IN ('unknown', 'pending');
