-- Payments remember the saved method they charged (its failure or success marks it).

ALTER TABLE payments ADD COLUMN payment_method_id TEXT;
