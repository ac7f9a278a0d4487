-- The planner and the job queue read a batch at a time in (day, id) and (run_at, id) order:
-- an index in that very order lets each batch stop after its rows instead of sorting every
-- due row again (100,000 services due the same day made each batch of 500 a scan and a sort
-- of them all). Kept in lock-step with the other backend.

DROP INDEX services_next_step;
CREATE INDEX services_next_step ON services (next_step_on, id);

DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (state, run_at, id);
