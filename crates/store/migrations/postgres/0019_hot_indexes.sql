-- Fewer scattered index entries per renewal (a write-ahead-log profile of the 100,000-service
-- billing run: 45 % of the pages written were leaves of three indexes on random keys, each
-- batch touching most of each index). Kept in lock-step with the other backend.
--
-- A mail's verification reference is looked up within its account only: unique per account
-- instead of across the whole table. Its Message-ID is made of its id (`<id@domain>`) and is
-- looked up through it, so it needs no index of its own.

ALTER TABLE emails DROP CONSTRAINT emails_reference_key;
ALTER TABLE emails DROP CONSTRAINT emails_message_id_key;
CREATE UNIQUE INDEX emails_account_reference ON emails (account_id, reference);

-- Order numbers come from a counter per year, a block of numbers at a time, instead of nine
-- random digits: consecutive orders land side by side in `orders.number`'s index, and a
-- million orders a year no longer draw taken numbers. Gaps are allowed (a reservation lost
-- to a crash), reuse is not.
CREATE TABLE order_numbers (
    year BIGINT PRIMARY KEY,
    last_number BIGINT NOT NULL
);
