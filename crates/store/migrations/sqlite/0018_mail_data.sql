-- A mail is stored as what it says (its kind and data, as JSON) and laid out in text and
-- HTML when it is sent or read: `data` holds that, and the bodies of new rows stay empty.
-- Rows written before keep their bodies and no data. Kept in lock-step with the other backend.

ALTER TABLE emails ADD COLUMN data TEXT;
