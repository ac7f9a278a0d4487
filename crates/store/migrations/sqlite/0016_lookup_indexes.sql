-- Lookups the request paths make by a foreign key, each served by an index instead of a scan
-- of the whole table (found with the load run: paying an order read every payment row).
-- Kept in lock-step with the other backend.

-- A customer's invoices (or credit notes), newest first, one page after a keyset cursor.
CREATE INDEX invoices_account_kind_issued ON invoices (account_id, kind, issued_at, id);
-- An order's payments (the partial `payments_one_live` serves only the live ones).
CREATE INDEX payments_order ON payments (order_id, created_at);
-- The services an order delivered.
CREATE INDEX services_order ON services (order_id, line_no, unit_no);
-- The order line a service came from.
CREATE INDEX order_lines_service ON order_lines (service_id);
-- An order's credit movements of any kind (the partial unique indexes serve one kind each).
CREATE INDEX credit_movements_order ON credit_movements (order_id);
-- A service's plan changes, newest first.
CREATE INDEX plan_changes_service ON plan_changes (service_id, created_at);
-- A payment's refunds (what is left to refund).
CREATE INDEX refunds_payment ON refunds (payment_id);
