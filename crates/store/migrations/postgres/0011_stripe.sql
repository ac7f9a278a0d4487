-- The customer record each account has at an external gateway (Stripe: `cus_…`), created once
-- per account and gateway, so every saved card and every charge of an account names the same
-- gateway customer.

CREATE TABLE gateway_customers (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    gateway TEXT NOT NULL,
    customer_ref TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, gateway)
);
CREATE UNIQUE INDEX gateway_customers_ref ON gateway_customers (gateway, customer_ref);
